#include <stdarg.h>

#include "strbuf.h"
#include "strvec.h"
#include "util.h"

static void grow(struct strvec *sv)
{
	if (sv->n + 2 <= sv->alloc)
		return;
	sv->alloc = sv->alloc ? sv->alloc * 2 : 8;
	sv->v = xrealloc(sv->v, sv->alloc * sizeof(*sv->v));
}

void strvec_push(struct strvec *sv, const char *s)
{
	grow(sv);
	sv->v[sv->n++] = xstrdup(s);
	sv->v[sv->n] = NULL;
}

void strvec_pushf(struct strvec *sv, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	grow(sv);
	sv->v[sv->n++] = strbuf_detach(&sb, NULL);
	sv->v[sv->n] = NULL;
}

void strvec_pushv(struct strvec *sv, const char *const *v)
{
	for (; v && *v; v++)
		strvec_push(sv, *v);
}

const char *const *strvec_argv(struct strvec *sv)
{
	grow(sv);
	sv->v[sv->n] = NULL;
	return (const char *const *)sv->v;
}

void strvec_clear(struct strvec *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->alloc = 0;
}
