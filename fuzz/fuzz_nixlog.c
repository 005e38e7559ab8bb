/* libFuzzer harness for nix's internal-json log renderer (src/build/nixlog.c):
 * the input is what nix in the builder VM writes to stderr. It is rendered
 * twice off a TTY (all at once, and in pieces whose sizes the input's first
 * byte picks) and once for a TTY, each into a memfd. The two plain renderings
 * are the same; they hold no byte below 0x20 but the newline, no DEL and no
 * ESC; the TTY rendering holds no control byte but in "\r" ESC "[K" and "\n";
 * the tail is at most NIXLOG_TAIL_MAX bytes, with no control byte but "\n".
 *
 *   make fuzz && build/fuzz/fuzz_nixlog fuzz/corpus/nixlog
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "build/nixlog.h"
#include "core/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_plain(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\n') || c == 0x7f)
			abort();
	}
}

static void check_tty(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r' && n - i >= 4 && !memcmp(s + i, "\r\033[K", 4))
			i += 3;
		else if ((c < 0x20 && c != '\n') || c == 0x7f)
			abort();
	}
}

/* Renders data into a fresh memfd, chunk bytes a feed (0: all at once). */
static void render(const char *data, size_t size, bool tty, size_t chunk, struct strbuf *out)
{
	int fd = memfd_create("fuzz-nixlog", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	struct nixlog *l = nixlog_new(fd, tty);
	for (size_t off = 0; off < size;) {
		size_t k = chunk && size - off > chunk ? chunk : size - off;
		nixlog_feed(l, data + off, k);
		off += k;
	}
	nixlog_finish(l);
	const char *tail = nixlog_tail(l);
	size_t tl = strlen(tail);
	if (tl > NIXLOG_TAIL_MAX)
		abort();
	check_plain(tail, tl);
	nixlog_free(l);
	if (lseek(fd, 0, SEEK_SET) != 0 || strbuf_read_fd(out, fd, 64u << 20) < 0)
		abort();
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t chunk = size ? (size_t)data[0] % 17 + 1 : 1;
	const char *in = (const char *)data;
	struct strbuf whole = STRBUF_INIT, pieces = STRBUF_INIT, tty = STRBUF_INIT;
	render(in, size, false, 0, &whole);
	render(in, size, false, chunk, &pieces);
	render(in, size, true, chunk, &tty);
	if (whole.len != pieces.len || memcmp(whole.buf, pieces.buf, whole.len))
		abort();
	check_plain(whole.buf, whole.len);
	check_tty(tty.buf, tty.len);
	strbuf_release(&whole);
	strbuf_release(&pieces);
	strbuf_release(&tty);
	return 0;
}
