#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "strbuf.h"
#include "util.h"

static void set_msg(struct err *e, char *msg)
{
	free(e->msg);
	e->msg = msg;
}

int err_set(struct err *e, int ret, int exit, const char *fmt, ...)
{
	if (!e)
		return ret;
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	set_msg(e, strbuf_detach(&sb, NULL));
	free(e->hint);
	e->hint = NULL;
	free(e->code);
	e->code = NULL;
	e->exit = exit;
	return ret;
}

int err_sys(struct err *e, int ret, int exit, const char *fmt, ...)
{
	if (!e)
		return ret;
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	strbuf_addf(&sb, ": %s", strerror(ret < 0 ? -ret : ret));
	set_msg(e, strbuf_detach(&sb, NULL));
	free(e->hint);
	e->hint = NULL;
	free(e->code);
	e->code = NULL;
	e->exit = exit;
	return ret;
}

int err_prefix(struct err *e, int ret, const char *fmt, ...)
{
	if (!e)
		return ret;
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	if (e->msg)
		strbuf_addf(&sb, ": %s", e->msg);
	else if (!e->exit)
		e->exit = EXIT_FAILED;
	set_msg(e, strbuf_detach(&sb, NULL));
	return ret;
}

void err_hint(struct err *e, const char *fmt, ...)
{
	if (!e)
		return;
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	free(e->hint);
	e->hint = strbuf_detach(&sb, NULL);
}

void err_code(struct err *e, const char *code)
{
	if (!e)
		return;
	free(e->code);
	e->code = xstrdup(code);
}

bool err_isset(const struct err *e)
{
	return e && e->msg;
}

void err_release(struct err *e)
{
	free(e->msg);
	free(e->hint);
	free(e->code);
	e->msg = e->hint = e->code = NULL;
	e->exit = 0;
}

const char *err_code_name(const struct err *e)
{
	if (e->code)
		return e->code;
	switch (e->exit) {
	case EXIT_USAGE:
		return "usage";
	case EXIT_INVALID:
		return "invalid";
	case EXIT_NOTFOUND:
		return "not_found";
	case EXIT_REFUSED:
		return "refused";
	case EXIT_NOTREADY:
		return "host_not_ready";
	case EXIT_BUILD:
		return "build_failed";
	default:
		return "failed";
	}
}
