/* Small language helpers shared by every host module: cleanup attributes,
 * ownership transfer, and the functions this codebase never calls. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define _cleanup_(f)	__attribute__((cleanup(f)))
#define _cleanup_free_	_cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

/* Moves ownership out of a cleanup-managed local. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _tp = (p);                                                           \
		(p) = NULL;                                                                        \
		_tp;                                                                               \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _tf = (fd);                                                                    \
		(fd) = -1;                                                                         \
		_tf;                                                                               \
	})

/* Allocation failure is not a recoverable condition for a CLI: abort loudly. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses a whole decimal integer in [min, max]; -EINVAL / -ERANGE otherwise. */
/* nhex random lowercase hex digits and a NUL into out (nhex <= 64). */
void random_hex(char *out, size_t nhex);
int parse_int64(const char *s, long long min, long long max, long long *out);

/* The declarations above come from headers included first, so a later
 * #include of them is a no-op and only calls are caught. */
#ifndef MVM_ALLOW_BANNED
#pragma GCC poison strcpy strcat sprintf vsprintf strtok atoi atol gets system popen
#endif
