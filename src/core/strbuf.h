/* A growable string whose buffer is never NULL (after git's strbuf). */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len;
	size_t alloc;
};

extern char strbuf_empty[];
#define STRBUF_INIT                                                                                \
	{                                                                                          \
		.buf = strbuf_empty, .len = 0, .alloc = 0                                          \
	}

void strbuf_init(struct strbuf *sb);
void strbuf_release(struct strbuf *sb);
/* Appends n bytes from a peer we do not trust (a guest) as printable ASCII:
 * every byte outside 0x20..0x7e (NUL, escape sequences, newlines, UTF-8)
 * becomes '?', so it can be stored in a record or shown on a terminal. */
void strbuf_add_printable(struct strbuf *sb, const char *s, size_t n);
/* A string the user gave, as an error message shows it: C escapes for
 * control bytes and '\\' (a newline cannot start a forged line), cut
 * after max bytes with "..." (a 300-byte name does not fill the screen).
 * Malloc'd. */
char *str_shown(const char *s, size_t max);
/* Zeroes the whole buffer (a secret was in it), then releases it. */
void strbuf_wipe(struct strbuf *sb);
char *strbuf_detach(struct strbuf *sb, size_t *len);
void strbuf_grow(struct strbuf *sb, size_t extra);
void strbuf_reset(struct strbuf *sb);
/* Truncates to len bytes (len <= sb->len). */
void strbuf_setlen(struct strbuf *sb, size_t len);
void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_addstr(struct strbuf *sb, const char *s);
void strbuf_addch(struct strbuf *sb, char c);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap);
void strbuf_rtrim(struct strbuf *sb);

/* Appends everything readable from fd, failing with -EFBIG past max bytes. */
int strbuf_read_fd(struct strbuf *sb, int fd, size_t max);
/* Appends a whole file; -errno on failure, -EFBIG past max bytes. */
int strbuf_read_file(struct strbuf *sb, const char *path, size_t max);
