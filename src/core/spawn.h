/* Running other programs with an argv array — never through a shell.
 *
 * struct child is filled before the fork; exec failure is reported back
 * through a CLOEXEC pipe (as git's run-command does), so "nix: not found"
 * is an error from child_start, not an exit status 127 to guess about.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"
#include "strbuf.h"

struct child {
	/* inputs */
	const char *const *argv;      /* argv[0] is looked up in PATH */
	const char *const *env_add;   /* "K=V" entries added to (or replacing in) the environment */
	const char *const *env_unset; /* names taken out of the environment (NULL-terminated) */
	const char *cwd;
	int in_fd;  /* -1: /dev/null */
	int out_fd; /* -1: inherit stdout unless capture_out */
	int err_fd; /* -1: inherit stderr unless capture_err */
	bool capture_out;
	bool capture_err; /* with capture_out and merge_err, both go to out */
	bool merge_err;
	bool new_session;   /* setsid() in the child */
	int pdeathsig;	    /* signal the child gets when its parent dies (0: none) */
	size_t max_capture; /* bytes kept per captured stream; 0 = 16 MiB */
	/* outputs */
	pid_t pid;
	int pidfd;
	struct strbuf out;
	struct strbuf err;
	int status;	/* exit status, or 128+signal */
	bool truncated; /* captured output went past max_capture (the rest was drained) */
};

#define CHILD_INIT                                                                                 \
	{                                                                                          \
		.in_fd = -1, .out_fd = -1, .err_fd = -1, .pid = -1, .pidfd = -1,                   \
		.out = STRBUF_INIT, .err = STRBUF_INIT, .status = -1                               \
	}

/* Starts the child. With capture_* the caller must call child_finish. */
int child_start(struct child *c, struct err *e);
/* Reads captured output to EOF and waits; sets c->status. */
int child_finish(struct child *c, struct err *e);
/* child_start + child_finish. Returns 0 when the program ran (whatever its
 * status); the caller checks c->status. */
int child_run(struct child *c, struct err *e);
/* Sends a signal through the pidfd (no PID-reuse race). */
int child_kill(struct child *c, int sig);
void child_release(struct child *c);

/* Looks a program up in PATH; returns a malloc'd absolute path or NULL. */
char *which(const char *prog);

/* The start time of a process (field 22 of /proc/<pid>/stat, in clock
 * ticks since boot), 0 when it does not exist or has exited (a zombie):
 * with the pid, it names one process across PID reuse. */
unsigned long long proc_starttime(pid_t pid);
