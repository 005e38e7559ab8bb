/* build/nixlog: nix's internal-json stream (real captures of nix 2.8 in
 * tests/unit/data/nixlog/), rendered into a memfd and read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "build/nix.h"
#include "build/nixlog.h"
#include "core/strbuf.h"
#include "core/util.h"

#define DEP_DRV "/nix/store/v02r7f1cx4x5v63rv4xiqblc03k8mvm6-mvm-dep-1796672780475205437.drv"
#define DEP	"mvm-dep-1796672780475205437"
#define BROKEN	"mvm-broken-1796672780475205437"

static char *capture(const char *name)
{
	const char *src = getenv("MVM_SRC");
	_cleanup_free_ char *path =
	    xasprintf("%s/tests/unit/data/nixlog/%s", src ? src : ".", name);
	struct strbuf sb = STRBUF_INIT;
	assert_true(strbuf_read_file(&sb, path, 1u << 20) >= 0);
	return strbuf_detach(&sb, NULL);
}

/* What a nixlog on a memfd wrote; *tail (when tail) is its nixlog_tail(). chunk 0: all at once. */
static char *render(const char *in, size_t n, bool tty, size_t chunk, char **tail)
{
	int fd = memfd_create("nixlog-test", MFD_CLOEXEC);
	assert_true(fd >= 0);
	struct nixlog *l = nixlog_new(fd, tty);
	for (size_t off = 0; off < n;) {
		size_t k = chunk && n - off > chunk ? chunk : n - off;
		nixlog_feed(l, in + off, k);
		off += k;
	}
	nixlog_finish(l);
	if (tail)
		*tail = xstrdup(nixlog_tail(l));
	nixlog_free(l);
	struct strbuf sb = STRBUF_INIT;
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_true(strbuf_read_fd(&sb, fd, 64u << 20) >= 0);
	close(fd);
	return strbuf_detach(&sb, NULL);
}

static char *render_str(const char *in, bool tty, char **tail)
{
	return render(in, strlen(in), tty, 0, tail);
}

/* No escape, no control byte but the newline: what plain output may hold. */
static void assert_plain(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\n') || c == 0x7f)
			fail_msg("byte 0x%02x at %zu in \"%.80s\"", c, i,
				 s + (i > 40 ? i - 40 : 0));
	}
}

static void test_captures_plain(void **state)
{
	(void)state;
	static const char *const names[] = {"build-ok.log", "build-fail.log", "hello-ok.log",
					    "hello-broken.log"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		_cleanup_free_ char *in = capture(names[i]);
		_cleanup_free_ char *tail = NULL;
		_cleanup_free_ char *whole = render(in, strlen(in), false, 0, &tail);
		_cleanup_free_ char *bytes = render(in, strlen(in), false, 1, NULL);
		_cleanup_free_ char *odd = render(in, strlen(in), false, 7, NULL);
		assert_string_equal(whole, bytes);
		assert_string_equal(whole, odd);
		assert_string_equal(whole, tail); /* all of it, under NIXLOG_TAIL_MAX */
		assert_plain(whole, strlen(whole));
		assert_null(strstr(whole, "@nix"));
		assert_null(strstr(whole, "evaluating file")); /* level 4: -v's noise */
		assert_non_null(strstr(whole, "warning: not writing modified lock file"));
	}
}

static void test_build_lines(void **state)
{
	(void)state;
	_cleanup_free_ char *in = capture("build-ok.log");
	_cleanup_free_ char *out = render_str(in, false, NULL);
	assert_non_null(strstr(out, "\nbuilding '" DEP_DRV "'...\n"));
	assert_non_null(strstr(out, "-" DEP ".drv'"));
	assert_non_null(strstr(out, "\n" DEP "> dep: compiling\n"));
	/* UTF-8 kept, the builder's raw colour codes gone */
	assert_non_null(strstr(out, "\n" DEP "> dep: caf\xc3\xa9 red done\n"));
	assert_non_null(strstr(out, "\n" DEP "> no newline at end\n"));
	assert_non_null(strstr(out, "> top: using /nix/store/"));
	/* the plain logger's own order */
	assert_true(strstr(out, "building '" DEP_DRV) < strstr(out, DEP "> dep: compiling"));
}

static void test_failure(void **state)
{
	(void)state;
	_cleanup_free_ char *in = capture("build-fail.log");
	_cleanup_free_ char *tail = NULL;
	_cleanup_free_ char *out = render_str(in, false, &tail);
	static const char err_line[] =
	    "error: builder for '/nix/store/"
	    "cjfa5i75c0agmyb56m6wannzyllgqi8z-" BROKEN ".drv' failed with exit code 3\n";
	assert_non_null(strstr(out, err_line));
	assert_non_null(strstr(out, "\n" BROKEN "> this build fails on purpose\n"));
	/* what the error message of a failed build takes */
	struct strbuf last = STRBUF_INIT;
	nix_tail_lines(&last, tail, 3);
	assert_string_equal(last.buf, BROKEN "> /nix/store/z1bxadv86qvi0fyy88m2zz0gdazhz4vx-" DEP
					     "\n" BROKEN "> this build fails on purpose\n"
					     "error: builder for '/nix/store/"
					     "cjfa5i75c0agmyb56m6wannzyllgqi8z-" BROKEN
					     ".drv' failed with exit code 3");
	strbuf_release(&last);

	_cleanup_free_ char *hello = capture("hello-broken.log");
	_cleanup_free_ char *hout = render_str(hello, false, NULL);
	assert_non_null(strstr(hout, "\nbroken> this build fails on purpose"));
	assert_non_null(strstr(hout, "-broken.drv' failed with exit code 3\n"));
}

static void test_tty(void **state)
{
	(void)state;
	_cleanup_free_ char *in = capture("build-ok.log");
	_cleanup_free_ char *out = render(in, strlen(in), true, 64, NULL);
	assert_non_null(strstr(out, "[0/2 built, 1 running] building " DEP " (buildPhase) 0s"));
	assert_non_null(strstr(out, "\r\033[K" DEP "> dep: stderr line\n"));
	assert_non_null(strstr(out, DEP "> dep: caf\xc3\xa9 red done\n"));
	assert_non_null(strstr(out, "building '" DEP_DRV "'...\n"));

	/* a build still running at the end: its status line is cleared */
	static const char running[] =
	    "@nix {\"action\":\"start\",\"id\":7,\"level\":0,\"text\":\"\",\"type\":104}\n"
	    "@nix {\"action\":\"start\",\"fields\":[\"/nix/store/"
	    "pxlfvadb6caj8a5j49qrf4bkxd2c1l5n-mvm-hello.drv\",\"\",1,1],\"id\":8,\"level\":3,"
	    "\"text\":\"building '/nix/store/pxlfvadb6caj8a5j49qrf4bkxd2c1l5n-mvm-hello.drv'\","
	    "\"type\":105}\n"
	    "@nix {\"action\":\"result\",\"fields\":[1,5,1,0],\"id\":7,\"type\":105}\n";
	_cleanup_free_ char *r = render_str(running, true, NULL);
	assert_non_null(strstr(r, "[1/5 built, 1 running] building mvm-hello 0s"));
	size_t len = strlen(r);
	assert_true(len > 4);
	assert_memory_equal(r + len - 4, "\r\033[K", 4);
}

static void test_tty_throttled(void **state)
{
	(void)state;
	int fd = memfd_create("nixlog-test", MFD_CLOEXEC);
	struct nixlog *l = nixlog_new(fd, true);
	static const char start[] =
	    "@nix {\"action\":\"start\",\"id\":7,\"level\":0,\"text\":\"\",\"type\":104}\n";
	nixlog_feed(l, start, strlen(start));
	for (int i = 0; i < 1000; i++) {
		_cleanup_free_ char *ev = xasprintf(
		    "@nix {\"action\":\"result\",\"fields\":[%d,1000,1,0],\"id\":7,\"type\":105}\n",
		    i);
		nixlog_feed(l, ev, strlen(ev));
	}
	nixlog_finish(l);
	nixlog_free(l);
	struct strbuf sb = STRBUF_INIT;
	lseek(fd, 0, SEEK_SET);
	strbuf_read_fd(&sb, fd, 1u << 20);
	close(fd);
	int draws = 0;
	for (const char *p = sb.buf; (p = strchr(p, '[')); p++)
		draws += p[1] >= '0' && p[1] <= '9';
	assert_true(draws >= 1 && draws <= 3); /* 1000 updates in far less than 100 ms */
	strbuf_release(&sb);
}

static void test_tty_width(void **state)
{
	(void)state;
	int fd = memfd_create("nixlog-test", MFD_CLOEXEC); /* no window size: 80 columns */
	struct nixlog *l = nixlog_new(fd, true);
	struct strbuf in = STRBUF_INIT;
	strbuf_addstr(&in, "@nix {\"action\":\"start\",\"fields\":[\"/nix/store/"
			   "pxlfvadb6caj8a5j49qrf4bkxd2c1l5n-");
	for (int i = 0; i < 150; i++)
		strbuf_addch(&in, 'n');
	strbuf_addstr(&in, ".drv\"],\"id\":8,\"level\":3,\"text\":\"building it\",\"type\":105}\n");
	nixlog_feed(l, in.buf, in.len);
	struct strbuf sb = STRBUF_INIT;
	lseek(fd, 0, SEEK_SET);
	strbuf_read_fd(&sb, fd, 1u << 20);
	assert_memory_equal(sb.buf, "building it...\nbuilding nnnn", 28);
	assert_int_equal(strlen(strrchr(sb.buf, '\n') + 1), 79);
	nixlog_free(l);
	close(fd);
	strbuf_release(&sb);
	strbuf_release(&in);
}

static void test_levels(void **state)
{
	(void)state;
	static const char in[] =
	    "@nix {\"action\":\"msg\",\"level\":4,\"msg\":\"evaluating file 'x'\"}\n"
	    "@nix {\"action\":\"msg\",\"level\":3,\"msg\":\"info text\"}\n"
	    "@nix {\"action\":\"start\",\"id\":1,\"level\":4,\"text\":\"copying '/tmp/x'\","
	    "\"type\":0}\n"
	    "@nix {\"action\":\"start\",\"id\":2,\"level\":3,\"text\":\"copying path "
	    "'/nix/store/a' "
	    "from 'https://cache'\",\"type\":100}\n"
	    "@nix {\"action\":\"start\",\"id\":3,\"level\":0,\"text\":\"\",\"type\":102}\n"
	    "@nix {\"action\":\"stop\",\"id\":2}\n"
	    "@nix {\"action\":\"whatever\",\"id\":2}\n"
	    "plain line from the VM\n";
	_cleanup_free_ char *out = render_str(in, false, NULL);
	assert_string_equal(out, "info text\n"
				 "copying path '/nix/store/a' from 'https://cache'...\n"
				 "plain line from the VM\n");
}

static void test_hostile(void **state)
{
	(void)state;
	static const char in[] =
	    "a\033[2Jb\033]0;pwned\ac\033Pdcs\033\\d\033(Be\n"
	    "nul\0byte \xc2\x9b"
	    "31m c1 \xff\xfe bad \xed\xa0\x80 surrogate\ttab\x7f\n"
	    "progress 10%\rprogress 100%\r\n"
	    "@nix "
	    "{\"action\":\"msg\",\"level\":0,\"msg\":\"\\u001b[2Jcleared\\u0007\\r\\nsecond\"}\n"
	    "@nix {\"action\":\"msg\",\"level\":0,\"msg\n"
	    "@nix [1,2]\n"
	    "@nix {\"action\":\"result\",\"fields\":[\"orphan \\u001b]0;t\\u0007line\"],\"id\":99,"
	    "\"type\":101}\n"
	    "@nix {\"action\":\"result\",\"fields\":[],\"id\":99,\"type\":101}\n"
	    "@nix {\"action\":\"result\",\"fields\":[1],\"id\":99,\"type\":104}\n"
	    "@nix {\"action\":\"stop\",\"id\":12345678901234567890}\n"
	    "@nix {\"action\":\"start\",\"fields\":[7],\"id\":5,\"type\":105,\"text\":\"b\"}\n"
	    "@nix {\"action\":\"result\",\"fields\":[\"x\"],\"id\":5,\"type\":101}\n"
	    "@nix {\"action\":\"start\",\"fields\":[\"/a\\u001b[31m.drv\"],\"id\":6,\"type\":105}\n"
	    "@nix {\"action\":\"result\",\"fields\":[\"y\"],\"id\":6,\"type\":107}\n";
	_cleanup_free_ char *tail = NULL;
	_cleanup_free_ char *out = render(in, sizeof(in) - 1, false, 0, &tail);
	assert_plain(out, strlen(out));
	assert_string_equal(out, "abcde\n"
				 "nul?byte ??31m c1 ?? bad ??? surrogate tab?\n"
				 "progress 100%\n"
				 "cleared?\n"
				 "second\n"
				 "@nix {\"action\":\"msg\",\"level\":0,\"msg\n"
				 "@nix [1,2]\n"
				 "unnamed> orphan line\n"
				 "@nix {\"action\":\"stop\",\"id\":12345678901234567890}\n"
				 "b...\n"
				 "unnamed> x\n" /* fields[0] not a path: no name */
				 "a?[31m (post)> y\n");
	assert_string_equal(out, tail);
}

static void test_long_line(void **state)
{
	(void)state;
	size_t n = 1u << 20;
	char *in = xmalloc(n + 64);
	memcpy(in, "@nix ", 5);
	memset(in + 5, 'x', n - 5);
	memcpy(in + n, "\nafter\n", 8);
	for (size_t chunk = 0; chunk <= 4096; chunk += 4096) {
		_cleanup_free_ char *tail = NULL;
		_cleanup_free_ char *out = render(in, n + 7, false, chunk, &tail);
		size_t first = strcspn(out, "\n");
		assert_int_equal(first, NIXLOG_LINE_MAX + strlen(" [... line cut]"));
		assert_memory_equal(out + first - 15, " [... line cut]", 15);
		assert_string_equal(out + first, "\nafter\n");
		assert_true(strlen(tail) <= NIXLOG_TAIL_MAX);
		assert_string_equal(tail + strlen(tail) - 7, "\nafter\n");
	}
	/* an unfinished line at the end is cut the same way */
	in[n] = '\0';
	_cleanup_free_ char *out = render(in, n, false, 1000, NULL);
	assert_int_equal(strlen(out), NIXLOG_LINE_MAX + strlen(" [... line cut]") + 1);
	free(in);
}

static void test_tail(void **state)
{
	(void)state;
	struct strbuf in = STRBUF_INIT;
	for (int i = 0; i < 10000; i++)
		strbuf_addf(&in, "line %d\n", i);
	_cleanup_free_ char *tail = NULL;
	_cleanup_free_ char *out = render(in.buf, in.len, false, 333, &tail);
	assert_string_equal(out, in.buf);
	size_t len = strlen(tail);
	assert_true(len <= NIXLOG_TAIL_MAX && len > NIXLOG_TAIL_MAX / 2);
	assert_memory_equal(tail, "line ", 5); /* cut at a line start */
	struct strbuf last = STRBUF_INIT;
	nix_tail_lines(&last, tail, 2);
	assert_string_equal(last.buf, "line 9998\nline 9999");
	strbuf_release(&last);
	strbuf_release(&in);
}

static void test_broken_pipe(void **state)
{
	(void)state;
	void (*old)(int) = signal(SIGPIPE, SIG_DFL); /* would kill us if raised */
	int p[2];
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	for (int tty = 0; tty < 2; tty++) {
		struct nixlog *l = nixlog_new(p[1], tty);
		nixlog_feed(l, "one\n", 4);
		nixlog_feed(l, "two\n", 4);
		nixlog_finish(l);
		assert_string_equal(nixlog_tail(l), "one\ntwo\n");
		nixlog_free(l);
	}
	close(p[1]);
	sigset_t pending;
	sigpending(&pending);
	assert_false(sigismember(&pending, SIGPIPE));
	signal(SIGPIPE, old);
	nixlog_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_captures_plain), cmocka_unit_test(test_build_lines),
	    cmocka_unit_test(test_failure),	   cmocka_unit_test(test_tty),
	    cmocka_unit_test(test_tty_throttled),  cmocka_unit_test(test_tty_width),
	    cmocka_unit_test(test_levels),	   cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_long_line),	   cmocka_unit_test(test_tail),
	    cmocka_unit_test(test_broken_pipe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
