#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "nixlog.h"

/* nix 2.8, libutil/logging.hh */
#define ACT_COPY_PATHS	 103
#define ACT_BUILDS	 104
#define ACT_BUILD	 105
#define RES_BUILD_LOG	 101
#define RES_SET_PHASE	 104
#define RES_PROGRESS	 105
#define RES_SET_EXPECTED 106
#define RES_POST_BUILD	 107
#define LVL_INFO	 3
#define NAME_MAX_SHOWN	 200 /* a derivation name is at most 211 bytes */
#define REDRAW_MS	 100
#define WRITE_WAIT_MS	 1000 /* a full non-blocking fd: how long a write waits */
#define CUT_MARK	 " [... line cut]"

struct act {
	long long id;
	int type;
	char *name;  /* derivation name, sanitized (builds only) */
	char *phase; /* sanitized, printable ASCII */
	long long t0_ms;
	unsigned long long seq;
};

struct progress {
	long long done, expected, running, failed, expected_hint;
};

struct nixlog {
	int fd;
	bool tty, dead;
	struct strbuf line; /* the input line being gathered */
	bool cutting;	    /* the input line passed NIXLOG_LINE_MAX: dropping to its end */
	struct strbuf out;  /* lines to write at the end of this feed */
	struct strbuf tail;
	struct act *acts;
	size_t n_acts;
	unsigned long long seq;
	struct progress builds, copies;
	struct strbuf status; /* the status line on screen ("" when none) */
	long long drawn_ms;
};

/* --- text from the guest ---------------------------------------------------- */

/* The length of the escape sequence at s[0] == ESC (CSI, OSC/DCS-like
 * strings ended by BEL or ST, or ESC + intermediates + final byte). */
static size_t escape_len(const char *s, size_t n)
{
	size_t i = 1;
	if (i < n && s[i] == '[') {
		for (i++; i < n && (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] <= 0x3f; i++)
			;
		return i < n && (unsigned char)s[i] >= 0x40 && (unsigned char)s[i] <= 0x7e ? i + 1
											   : i;
	}
	if (i < n && s[i] && strchr("]PX^_", s[i])) {
		for (i++; i < n; i++) {
			if (s[i] == '\a')
				return i + 1;
			if (s[i] == 0x1b && i + 1 < n && s[i + 1] == '\\')
				return i + 2;
		}
		return n;
	}
	for (; i < n && (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] <= 0x2f; i++)
		;
	return i < n && (unsigned char)s[i] >= 0x30 && (unsigned char)s[i] <= 0x7e ? i + 1 : i;
}

/* The length of the valid UTF-8 sequence at s (not a C1 control), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
	if (s[0] < 0xc2 || s[0] > 0xf4 || len > n)
		return 0;
	uint32_t cp = s[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	static const uint32_t min[] = {0, 0, 0xa0, 0x800, 0x10000};
	if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void nixlog_add_shown(struct strbuf *sb, const char *s, size_t n)
{
	while (n && s[n - 1] == '\r')
		n--;
	const char *cr = memrchr(s, '\r', n);
	if (cr) {
		n -= (size_t)(cr + 1 - s);
		s = cr + 1;
	}
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t u;
		if (c == 0x1b) {
			i += escape_len(s + i, n - i);
		} else if (c >= 0x20 && c < 0x7f) {
			strbuf_addch(sb, (char)c);
			i++;
		} else if (c >= 0x80 && (u = utf8_len((const unsigned char *)s + i, n - i))) {
			strbuf_add(sb, s + i, u);
			i += u;
		} else {
			strbuf_addch(sb, c == '\t' ? ' ' : '?');
			i++;
		}
	}
}

/* --- writing ---------------------------------------------------------------- */

/* Writes all of buf, or gives up for good on an error: with SIGPIPE blocked
 * in this thread, and one that this write raised taken back. */
static void write_all(struct nixlog *l, const char *buf, size_t n)
{
	sigset_t pipe_set, old, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	bool was_pending = sigismember(&pending, SIGPIPE);
	while (n && !l->dead) {
		ssize_t w = write(l->fd, buf, n);
		if (w > 0) {
			buf += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EAGAIN) {
			struct pollfd p = {.fd = l->fd, .events = POLLOUT};
			if (poll(&p, 1, WRITE_WAIT_MS) <= 0)
				l->dead = true;
		} else if (!(w < 0 && errno == EINTR)) {
			l->dead = true;
		}
	}
	sigpending(&pending);
	if (!was_pending && sigismember(&pending, SIGPIPE)) {
		struct timespec zero = {0};
		sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static int term_width(int fd)
{
	struct winsize ws;
	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 10)
		return ws.ws_col;
	return 80;
}

/* --- activities ------------------------------------------------------------- */

static struct act *act_find(struct nixlog *l, long long id)
{
	for (size_t i = 0; i < l->n_acts; i++)
		if (l->acts[i].id == id)
			return &l->acts[i];
	return NULL;
}

static void act_release(struct act *a)
{
	free(a->name);
	free(a->phase);
}

static void act_stop(struct nixlog *l, long long id)
{
	struct act *a = act_find(l, id);
	if (!a)
		return;
	act_release(a);
	*a = l->acts[--l->n_acts];
}

/* "/nix/store/<hash>-NAME.drv" -> "NAME", printable ASCII, bounded. */
static char *drv_name(const char *drv)
{
	const char *base = strrchr(drv, '/');
	base = base ? base + 1 : drv;
	size_t n = strlen(base);
	if (n > 33 && base[32] == '-') {
		base += 33;
		n -= 33;
	}
	if (n > 4 && !strcmp(base + n - 4, ".drv"))
		n -= 4;
	/* nix's names are ASCII: one byte a column in the status line */
	struct strbuf sb = STRBUF_INIT;
	strbuf_add_printable(&sb, base, n < NAME_MAX_SHOWN ? n : NAME_MAX_SHOWN);
	return strbuf_detach(&sb, NULL);
}

static void act_start(struct nixlog *l, long long id, int type, json_t *fields)
{
	if (act_find(l, id) || l->n_acts >= NIXLOG_ACTS_MAX)
		return;
	if (!l->acts)
		l->acts = xcalloc(NIXLOG_ACTS_MAX, sizeof(*l->acts));
	struct act *a = &l->acts[l->n_acts++];
	*a = (struct act){.id = id, .type = type, .t0_ms = mono_ms(), .seq = ++l->seq};
	const char *drv = json_string_value(json_array_get(fields, 0));
	if (type == ACT_BUILD)
		a->name = drv_name(drv ? drv : "");
}

/* --- lines ------------------------------------------------------------------ */

static void tail_add(struct nixlog *l, const char *s, size_t n)
{
	strbuf_add(&l->tail, s, n);
	strbuf_addch(&l->tail, '\n');
	if (l->tail.len <= NIXLOG_TAIL_MAX)
		return;
	size_t cut = l->tail.len - NIXLOG_TAIL_MAX * 3 / 4;
	const char *nl = memchr(l->tail.buf + cut, '\n', l->tail.len - cut - 1);
	if (nl)
		cut = (size_t)(nl + 1 - l->tail.buf);
	else
		while (cut < l->tail.len && (l->tail.buf[cut] & 0xc0) == 0x80)
			cut++; /* not inside a UTF-8 sequence */
	memmove(l->tail.buf, l->tail.buf + cut, l->tail.len - cut);
	strbuf_setlen(&l->tail, l->tail.len - cut);
}

/* Shows prefix + the sanitized text as one line. */
static void show(struct nixlog *l, const char *prefix, const char *s, size_t n, bool cut)
{
	size_t start = l->out.len;
	strbuf_addstr(&l->out, prefix);
	nixlog_add_shown(&l->out, s, n);
	if (cut)
		strbuf_addstr(&l->out, CUT_MARK);
	tail_add(l, l->out.buf + start, l->out.len - start);
	strbuf_addch(&l->out, '\n');
}

/* Each line of a multi-line text. */
static void show_lines(struct nixlog *l, const char *prefix, const char *s)
{
	for (;;) {
		const char *nl = strchrnul(s, '\n');
		show(l, prefix, s, (size_t)(nl - s), false);
		if (!*nl)
			return;
		s = nl + 1;
	}
}

/* --- @nix events ------------------------------------------------------------ */

static long long get_int(json_t *o, const char *key, long long dflt)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

static void on_start(struct nixlog *l, json_t *o)
{
	int type = (int)get_int(o, "type", 0);
	act_start(l, get_int(o, "id", -1), type, json_object_get(o, "fields"));
	const char *text = json_string_value(json_object_get(o, "text"));
	if (text && *text && (type == ACT_BUILD || get_int(o, "level", 0) <= LVL_INFO)) {
		struct strbuf t = STRBUF_INIT;
		strbuf_addf(&t, "%s...", text);
		show_lines(l, "", t.buf);
		strbuf_release(&t);
	}
}

static void progress_set(struct progress *p, json_t *f)
{
	long long v[4];
	for (size_t i = 0; i < 4; i++) {
		json_t *x = json_array_get(f, i);
		v[i] = json_is_integer(x) ? (long long)json_integer_value(x) : 0;
	}
	p->done = v[0];
	p->expected = v[1];
	p->running = v[2];
	p->failed = v[3];
}

static void on_log_line(struct nixlog *l, struct act *a, json_t *fields, bool post)
{
	const char *text = json_string_value(json_array_get(fields, 0));
	if (!text)
		return;
	struct strbuf prefix = STRBUF_INIT;
	strbuf_addf(&prefix, "%s%s> ", a && a->name && *a->name ? a->name : "unnamed",
		    post ? " (post)" : "");
	show(l, prefix.buf, text, strlen(text), false);
	strbuf_release(&prefix);
}

static void on_result(struct nixlog *l, json_t *o)
{
	struct act *a = act_find(l, get_int(o, "id", -1));
	json_t *f = json_object_get(o, "fields");
	switch (get_int(o, "type", 0)) {
	case RES_BUILD_LOG:
	case RES_POST_BUILD:
		on_log_line(l, a, f, get_int(o, "type", 0) == RES_POST_BUILD);
		break;
	case RES_SET_PHASE:
		if (a && json_is_string(json_array_get(f, 0))) {
			const char *p = json_string_value(json_array_get(f, 0));
			struct strbuf sb = STRBUF_INIT;
			strbuf_add_printable(&sb, p, strnlen(p, NAME_MAX_SHOWN));
			free(a->phase);
			a->phase = strbuf_detach(&sb, NULL);
		}
		break;
	case RES_PROGRESS:
		if (a && a->type == ACT_BUILDS)
			progress_set(&l->builds, f);
		else if (a && a->type == ACT_COPY_PATHS)
			progress_set(&l->copies, f);
		break;
	case RES_SET_EXPECTED: {
		json_t *w = json_array_get(f, 0), *n = json_array_get(f, 1);
		if (json_is_integer(w) && json_integer_value(w) == ACT_BUILD && json_is_integer(n))
			l->builds.expected_hint = (long long)json_integer_value(n);
		break;
	}
	default:
		break;
	}
}

/* false: not an event of nix's (shown as a plain line by the caller). */
static bool on_event(struct nixlog *l, const char *s, size_t n)
{
	json_error_t jerr;
	json_t *o = json_loadb(s, n, JSON_REJECT_DUPLICATES, &jerr);
	const char *action = json_string_value(json_object_get(o, "action"));
	if (!action) {
		json_decref(o);
		return false;
	}
	if (!strcmp(action, "msg")) {
		const char *msg = json_string_value(json_object_get(o, "msg"));
		if (msg && get_int(o, "level", 0) <= LVL_INFO)
			show_lines(l, "", msg);
	} else if (!strcmp(action, "start")) {
		on_start(l, o);
	} else if (!strcmp(action, "stop")) {
		act_stop(l, get_int(o, "id", -1));
	} else if (!strcmp(action, "result")) {
		on_result(l, o);
	}
	json_decref(o);
	return true;
}

static void on_line(struct nixlog *l, const char *s, size_t n, bool cut)
{
	if (!cut && n >= 5 && !memcmp(s, "@nix ", 5) && on_event(l, s + 5, n - 5))
		return;
	show(l, "", s, n, cut);
}

/* --- the status line -------------------------------------------------------- */

static const struct act *current_build(const struct nixlog *l)
{
	const struct act *best = NULL;
	for (size_t i = 0; i < l->n_acts; i++)
		if (l->acts[i].type == ACT_BUILD && (!best || l->acts[i].seq > best->seq))
			best = &l->acts[i];
	return best;
}

static void status_text(const struct nixlog *l, struct strbuf *sb)
{
	const struct progress *b = &l->builds, *c = &l->copies;
	long long expected = b->expected > b->expected_hint ? b->expected : b->expected_hint;
	const struct act *a = current_build(l);
	if (expected) {
		strbuf_addf(sb, "[%lld/%lld built", b->done, expected);
		if (b->running)
			strbuf_addf(sb, ", %lld running", b->running);
		if (b->failed)
			strbuf_addf(sb, ", %lld failed", b->failed);
		if (c->expected)
			strbuf_addf(sb, ", %lld/%lld copied", c->done, c->expected);
		strbuf_addstr(sb, "]");
	}
	if (a) {
		strbuf_addf(sb, "%sbuilding %s", sb->len ? " " : "",
			    *a->name ? a->name : "unnamed");
		if (a->phase)
			strbuf_addf(sb, " (%s)", a->phase);
		strbuf_addf(sb, " %llds", (mono_ms() - a->t0_ms) / 1000);
	}
}

/* Writes the batched lines, then the status line; on a TTY the old status
 * line is cleared first. force: draw even when the last draw was < REDRAW_MS ago. */
static void flush(struct nixlog *l, bool force)
{
	if (!l->tty) {
		if (l->out.len)
			write_all(l, l->out.buf, l->out.len);
		strbuf_reset(&l->out);
		return;
	}
	long long now = mono_ms();
	if (!l->out.len && !force && now - l->drawn_ms < REDRAW_MS)
		return;
	struct strbuf st = STRBUF_INIT, w = STRBUF_INIT;
	status_text(l, &st);
	size_t width = (size_t)term_width(l->fd) - 1; /* the last column would wrap */
	if (st.len > width)
		strbuf_setlen(&st, width);
	if (!l->out.len && !strcmp(st.buf, l->status.buf)) {
		strbuf_release(&st);
		return;
	}
	if (l->status.len)
		strbuf_addstr(&w, "\r\033[K");
	strbuf_add(&w, l->out.buf, l->out.len);
	strbuf_add(&w, st.buf, st.len);
	write_all(l, w.buf, w.len);
	strbuf_release(&w);
	strbuf_release(&l->status);
	l->status = st;
	l->drawn_ms = now;
	strbuf_reset(&l->out);
}

/* --- the API ---------------------------------------------------------------- */

struct nixlog *nixlog_new(int out_fd, bool tty)
{
	struct nixlog *l = xcalloc(1, sizeof(*l));
	l->fd = out_fd;
	l->tty = tty;
	strbuf_init(&l->line);
	strbuf_init(&l->out);
	strbuf_init(&l->tail);
	strbuf_init(&l->status);
	return l;
}

void nixlog_feed(struct nixlog *l, const char *buf, size_t n)
{
	while (n) {
		const char *nl = memchr(buf, '\n', n);
		size_t take = nl ? (size_t)(nl - buf) : n;
		size_t room = NIXLOG_LINE_MAX - l->line.len;
		if (!l->cutting)
			strbuf_add(&l->line, buf, take < room ? take : room);
		if (take > room)
			l->cutting = true;
		if (nl) {
			on_line(l, l->line.buf, l->line.len, l->cutting);
			strbuf_reset(&l->line);
			l->cutting = false;
			take++;
		}
		buf += take;
		n -= take;
	}
	flush(l, false);
}

void nixlog_tick(struct nixlog *l)
{
	flush(l, false);
}

void nixlog_finish(struct nixlog *l)
{
	if (l->line.len || l->cutting)
		on_line(l, l->line.buf, l->line.len, l->cutting);
	strbuf_reset(&l->line);
	l->cutting = false;
	for (size_t i = 0; i < l->n_acts; i++)
		act_release(&l->acts[i]);
	l->n_acts = 0;
	l->builds = l->copies = (struct progress){0};
	flush(l, true); /* no activity, no progress: an empty status line */
}

const char *nixlog_tail(const struct nixlog *l)
{
	return l->tail.buf;
}

void nixlog_free(struct nixlog *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n_acts; i++)
		act_release(&l->acts[i]);
	free(l->acts);
	strbuf_release(&l->line);
	strbuf_release(&l->out);
	strbuf_release(&l->tail);
	strbuf_release(&l->status);
	free(l);
}
