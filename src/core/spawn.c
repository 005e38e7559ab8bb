#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "spawn.h"
#include "util.h"

extern char **environ;

static int pidfd_open_sys(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Whether environ entry kv is named in names ("K" or "K=…" entries). */
static bool named(const char *kv, const char *const *names)
{
	for (size_t j = 0; names && names[j]; j++) {
		size_t kl = strcspn(names[j], "=");
		if (!strncmp(kv, names[j], kl) && kv[kl] == '=')
			return true;
	}
	return false;
}

static char **build_env(const char *const *add, const char *const *unset)
{
	size_t n = 0, nadd = 0;
	while (environ[n])
		n++;
	while (add && add[nadd])
		nadd++;
	char **env = xcalloc(n + nadd + 1, sizeof(*env));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!named(environ[i], add) && !named(environ[i], unset))
			env[k++] = environ[i];
	for (size_t j = 0; j < nadd; j++)
		env[k++] = (char *)add[j];
	env[k] = NULL;
	return env;
}

char *which(const char *prog)
{
	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0 ? xstrdup(prog) : NULL;
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
	while (*path) {
		const char *colon = strchrnul(path, ':');
		size_t len = (size_t)(colon - path);
		char *cand = xasprintf("%.*s/%s", (int)len, len ? path : ".", prog);
		struct stat st;
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
			return cand;
		free(cand);
		path = *colon ? colon + 1 : colon;
	}
	return NULL;
}

/* In the child after fork: only async-signal-safe calls. */
static void __attribute__((noreturn))
child_exec(struct child *c, const char *prog, char **env, int in, int out, int errfd, int report)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (c->new_session)
		setsid();
	if (c->pdeathsig)
		prctl(PR_SET_PDEATHSIG, c->pdeathsig);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
		goto fail;
	if (c->cwd && chdir(c->cwd) < 0)
		goto fail;
	execve(prog, (char *const *)c->argv, env);
fail:;
	int e = errno;
	ssize_t r = write(report, &e, sizeof(e));
	(void)r;
	_exit(127);
}

int child_start(struct child *c, struct err *e)
{
	_cleanup_free_ char *prog = which(c->argv[0]);
	if (!prog)
		return err_set(e, -ENOENT, EXIT_NOTREADY, "%s: command not found", c->argv[0]);

	_cleanup_close_ int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	int outp[2] = {-1, -1}, errp[2] = {-1, -1}, rep[2] = {-1, -1};
	_cleanup_free_ char **env = NULL;
	int ret = 0;
	if (devnull < 0)
		return err_sys(e, -errno, EXIT_FAILED, "open /dev/null");
	if (pipe2(rep, O_CLOEXEC) < 0 || (c->capture_out && pipe2(outp, O_CLOEXEC) < 0) ||
	    (c->capture_err && !c->merge_err && pipe2(errp, O_CLOEXEC) < 0)) {
		ret = err_sys(e, -errno, EXIT_FAILED, "pipe");
		goto out;
	}
	int in = c->in_fd >= 0 ? c->in_fd : devnull;
	int out = c->capture_out ? outp[1] : c->out_fd >= 0 ? c->out_fd : 1;
	int errfd = c->merge_err ? out : c->capture_err ? errp[1] : c->err_fd >= 0 ? c->err_fd : 2;
	env = build_env(c->env_add, c->env_unset);

	pid_t pid = fork();
	if (pid < 0) {
		ret = err_sys(e, -errno, EXIT_FAILED, "fork");
		goto out;
	}
	if (pid == 0)
		child_exec(c, prog, env, in, out, errfd, rep[1]);

	close(rep[1]);
	rep[1] = -1;
	int childerr = 0;
	ssize_t r;
	do
		r = read(rep[0], &childerr, sizeof(childerr));
	while (r < 0 && errno == EINTR);
	c->pid = pid;
	c->pidfd = pidfd_open_sys(pid);
	if (r == sizeof(childerr)) {
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		c->pid = -1;
		ret = err_set(e, -childerr, childerr == ENOENT ? EXIT_NOTREADY : EXIT_FAILED,
			      "cannot run %s: %s", c->argv[0], strerror(childerr));
		goto out;
	}
	if (c->capture_out) {
		close(outp[1]);
		outp[1] = -1;
	}
	if (c->capture_err && !c->merge_err) {
		close(errp[1]);
		errp[1] = -1;
	}
	/* Keep the read ends; child_finish drains them. */
	c->out_fd = c->capture_out ? TAKE_FD(outp[0]) : c->out_fd;
	c->err_fd = (c->capture_err && !c->merge_err) ? TAKE_FD(errp[0]) : c->err_fd;
out:
	for (int i = 0; i < 2; i++) {
		closep(&outp[i]);
		closep(&errp[i]);
		closep(&rep[i]);
	}
	return ret;
}

/* Reads once from fd into sb, keeping at most max bytes (the rest is read
 * and dropped so the child never blocks). Returns read(2)'s result. */
static ssize_t drain(int fd, struct strbuf *sb, size_t max, bool *truncated)
{
	char buf[16384];
	ssize_t r = read(fd, buf, sizeof(buf));
	if (r <= 0)
		return r < 0 && errno == EINTR ? 1 : r;
	size_t room = sb->len < max ? max - sb->len : 0;
	size_t take = (size_t)r < room ? (size_t)r : room;
	if (take)
		strbuf_add(sb, buf, take);
	if ((size_t)r > take)
		*truncated = true;
	return r;
}

int child_finish(struct child *c, struct err *e)
{
	size_t max = c->max_capture ? c->max_capture : 16u << 20;
	int fds[2] = {c->capture_out ? c->out_fd : -1,
		      (c->capture_err && !c->merge_err) ? c->err_fd : -1};
	struct strbuf *bufs[2] = {&c->out, &c->err};
	while (fds[0] >= 0 || fds[1] >= 0) {
		struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN},
				      {.fd = fds[1], .events = POLLIN}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(e, -errno, EXIT_FAILED, "poll");
		}
		for (int i = 0; i < 2; i++) {
			if (fds[i] < 0 || !p[i].revents)
				continue;
			if (drain(fds[i], bufs[i], max, &c->truncated) <= 0)
				closep(&fds[i]), fds[i] = -1;
		}
	}
	if (c->capture_out)
		c->out_fd = -1;
	if (c->capture_err && !c->merge_err)
		c->err_fd = -1;
	if (c->pid > 0) {
		int st;
		while (waitpid(c->pid, &st, 0) < 0) {
			if (errno != EINTR)
				return err_sys(e, -errno, EXIT_FAILED, "waitpid %d", (int)c->pid);
		}
		c->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		c->pid = -1;
	}
	closep(&c->pidfd);
	c->pidfd = -1;
	return 0;
}

int child_run(struct child *c, struct err *e)
{
	int r = child_start(c, e);
	if (r < 0)
		return r;
	return child_finish(c, e);
}

int child_kill(struct child *c, int sig)
{
	if (c->pidfd >= 0)
		return syscall(SYS_pidfd_send_signal, c->pidfd, sig, NULL, 0) < 0 ? -errno : 0;
	if (c->pid > 0)
		return kill(c->pid, sig) < 0 ? -errno : 0;
	return -ESRCH;
}

void child_release(struct child *c)
{
	strbuf_release(&c->out);
	strbuf_release(&c->err);
	closep(&c->pidfd);
	c->pidfd = -1;
}

unsigned long long proc_starttime(pid_t pid)
{
	if (pid <= 0)
		return 0;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	struct strbuf sb = STRBUF_INIT;
	unsigned long long st = 0;
	if (strbuf_read_file(&sb, path, 4096) >= 0) {
		/* the command name may hold spaces and parentheses: fields follow the last ')' */
		char *p = strrchr(sb.buf, ')');
		if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
			p = NULL; /* a zombie has exited */
		for (int field = 2; p && field < 22; field++)
			p = strchr(p + 1, ' ');
		if (p)
			st = strtoull(p + 1, NULL, 10);
	}
	strbuf_release(&sb);
	return st;
}
