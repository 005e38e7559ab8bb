/* The caller-owned error that travels up from library code to the CLI.
 *
 * Library functions return int (>= 0 success, -errno failure) and take a
 * struct err * last. The innermost failure sets the message and the exit
 * class; callers on the way up prepend context. The CLI prints it once
 * (`mvmctl: error: …` / `hint: …`, or JSON) and exits with err->exit.
 */
#pragma once

#include <stdbool.h>

/* Exit statuses of CONVENTIONS.md. */
enum exit_code {
	EXIT_OK = 0,
	EXIT_FAILED = 1,
	EXIT_USAGE = 2,
	EXIT_INVALID = 3,  /* invalid manifest or config */
	EXIT_NOTFOUND = 4, /* no manifest, slot, revision, VM, tenant, pool */
	EXIT_REFUSED = 5,  /* drift, would overwrite; rerun with --force */
	EXIT_NOTREADY = 6, /* host not ready: run mvmctl doctor */
	EXIT_BUILD = 7,	   /* build failed */
};

struct err {
	int exit;   /* enum exit_code, or a pass-through status for exec/run */
	char *msg;  /* NULL when no error is set */
	char *hint; /* optional */
	char *code; /* optional machine code for JSON; derived from exit when NULL */
};

#define ERR_INIT                                                                                   \
	{                                                                                          \
		.exit = 0, .msg = NULL, .hint = NULL, .code = NULL                                 \
	}

/* Sets the error (replacing any earlier one) and returns ret, so that
 * `return err_set(e, -ENOENT, EXIT_NOTFOUND, "…")` reads naturally.
 * e may be NULL. ret is returned unchanged; pass a negative errno. */
int err_set(struct err *e, int ret, int exit, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Like err_set, appending ": strerror(-ret)". */
int err_sys(struct err *e, int ret, int exit, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prepends "context: " to the message. Returns ret. */
int err_prefix(struct err *e, int ret, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Sets the hint line (the command that fixes it). */
void err_hint(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void err_code(struct err *e, const char *code);
bool err_isset(const struct err *e);
void err_release(struct err *e);

/* "failed", "usage", "invalid", "not_found", "refused", "host_not_ready", "build_failed". */
const char *err_code_name(const struct err *e);
