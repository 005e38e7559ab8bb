/* The client side of `exec`: one session on a running VM, through its shim's
 * control socket (the relay, relay.h), streaming stdin, stdout and stderr
 * both ways under the protocol's flow control, forwarding signals and the
 * terminal's size. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <termios.h>

#include "core/clock.h"
#include "core/jsonio.h"
#include "core/strvec.h"
#include "core/util.h"
#include "proto/agent.h"
#include "shim/ctl.h"
#include "shim/vmdir.h"
#include "vm/vm.h"

#define EXEC_STREAM	  1
#define EXEC_KILL_WAIT_MS 5000 /* after the timeout's SIGKILL, for the EXIT */

struct session {
	int sock;
	struct proto_decoder dec;
	uint8_t *decbuf;
	const struct vm_exec *x;
	uint32_t in_credit;
	bool in_open, out_broken, exited;
	int status;
	struct strbuf guest_error; /* the ERROR that explains a NOEXEC */
};

/* Writes all of buf (send() on the socket: no SIGPIPE when the shim is gone). */
static int write_all(int fd, const void *buf, size_t len, bool sock)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t w = sock ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int send_frame(struct session *s, uint8_t type, const void *payload, size_t len)
{
	static uint8_t f[PROTO_MAX_FRAME];
	int n = proto_encode(f, sizeof(f), type, EXEC_STREAM, payload, len);
	if (n < 0)
		return -EMSGSIZE;
	return write_all(s->sock, f, (size_t)n, true);
}

static int send_u32(struct session *s, uint8_t type, uint32_t v)
{
	uint8_t p[4];
	proto_u32_encode(v, p, sizeof(p));
	return send_frame(s, type, p, sizeof(p));
}

static void window_size(int fd, uint16_t *rows, uint16_t *cols)
{
	struct winsize ws;
	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
}

static int send_exec(struct session *s, bool tty)
{
	const struct vm_exec *x = s->x;
	struct strvec env = STRVEC_INIT;
	const char *term = getenv("TERM");
	if (tty && term && *term)
		strvec_pushf(&env, "TERM=%s", term);
	for (size_t i = 0; x->env && x->env[i]; i++)
		strvec_push(&env, x->env[i]);
	struct proto_exec_spec spec = {
	    .flags = (x->input ? PROTO_EXEC_STDIN : 0u) | (tty ? PROTO_EXEC_TTY : 0u),
	    .argv = x->argv,
	    .env = (const char *const *)env.v,
	    .cwd = x->cwd,
	};
	if (tty)
		window_size(x->in_fd, &spec.rows, &spec.cols);
	static uint8_t p[PROTO_MAX_PAYLOAD];
	int n = proto_exec_encode(&spec, p, sizeof(p));
	strvec_clear(&env);
	if (n < 0)
		return -E2BIG;
	return send_frame(s, PROTO_EXEC, p, (size_t)n);
}

/* One frame from the shim. */
static void on_frame(struct session *s, const struct proto_frame *f)
{
	if (f->stream != EXEC_STREAM && f->type != PROTO_ERROR)
		return;
	switch (f->type) {
	case PROTO_STDOUT:
	case PROTO_STDERR: {
		if (!f->len)
			break;
		int fd = f->type == PROTO_STDOUT ? s->x->out_fd : s->x->err_fd;
		if (!s->out_broken && write_all(fd, f->payload, f->len, false) == -EPIPE) {
			/* our reader left (`| head`): the guest's writer learns it the same way */
			s->out_broken = true;
			send_u32(s, PROTO_SIGNAL, SIGPIPE);
		}
		struct proto_window w = {.channel = f->type == PROTO_STDOUT ? PROTO_CH_STDOUT
									    : PROTO_CH_STDERR,
					 .bytes = f->len};
		uint8_t p[8];
		int n = proto_window_encode(&w, p, sizeof(p));
		send_frame(s, PROTO_WINDOW, p, (size_t)n);
		break;
	}
	case PROTO_WINDOW: {
		struct proto_window w;
		if (proto_window_decode(f->payload, f->len, &w) == 0 &&
		    w.channel == PROTO_CH_STDIN && s->in_credit <= UINT32_MAX - w.bytes)
			s->in_credit += w.bytes;
		break;
	}
	case PROTO_ERROR: {
		struct proto_error pe;
		if (proto_error_decode(f->payload, f->len, &pe) < 0)
			break;
		strbuf_reset(&s->guest_error);
		strbuf_add_printable(&s->guest_error, pe.msg, pe.msg_len); /* for a terminal */
		break;
	}
	case PROTO_EXIT: {
		struct proto_exit x;
		if (proto_exit_decode(f->payload, f->len, &x) < 0)
			break;
		s->exited = true;
		s->status = proto_exit_status(&x);
		if (x.kind != PROTO_EXIT_NOEXEC)
			strbuf_reset(&s->guest_error);
		break;
	}
	default:
		break;
	}
}

/* 0: more may come; -EPIPE: the shim closed the connection. */
static int sock_readable(struct session *s)
{
	size_t room;
	uint8_t *at = proto_decoder_space(&s->dec, &room);
	ssize_t n = read(s->sock, at, room);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -EPIPE;
	proto_decoder_commit(&s->dec, (size_t)n);
	struct proto_frame f;
	int r;
	while (!s->exited && (r = proto_decoder_next(&s->dec, &f)) != 0)
		if (r > 0)
			on_frame(s, &f);
	return 0;
}

static void stdin_readable(struct session *s)
{
	static uint8_t buf[PROTO_MAX_PAYLOAD];
	size_t want = s->in_credit < sizeof(buf) ? s->in_credit : sizeof(buf);
	ssize_t n = read(s->x->in_fd, buf, want);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		send_frame(s, PROTO_STDIN, NULL, 0); /* end of input */
		s->in_open = false;
		return;
	}
	send_frame(s, PROTO_STDIN, buf, (size_t)n);
	s->in_credit -= (uint32_t)n;
}

/* SIGINT, SIGTERM, SIGHUP, SIGQUIT go to the guest's process; a second
 * SIGINT kills it. SIGWINCH resizes its terminal. */
static void signal_readable(struct session *s, int sig_fd, bool tty, int *interrupts)
{
	struct signalfd_siginfo si;
	while (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		int sig = (int)si.ssi_signo;
		if (sig == SIGWINCH) {
			if (!tty)
				continue;
			struct proto_resize rz = {0, 0};
			window_size(s->x->in_fd, &rz.rows, &rz.cols);
			uint8_t p[8];
			int n = proto_resize_encode(&rz, p, sizeof(p));
			if (rz.rows && n > 0)
				send_frame(s, PROTO_RESIZE, p, (size_t)n);
			continue;
		}
		if (sig == SIGINT && ++*interrupts > 1)
			sig = SIGKILL;
		send_u32(s, PROTO_SIGNAL, (uint32_t)sig);
	}
}

static int run_session(struct session *s, bool tty, const char *name, struct err *e)
{
	const struct vm_exec *x = s->x;
	sigset_t mask, old;
	sigemptyset(&mask);
	int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH};
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaddset(&mask, sigs[i]);
	sigprocmask(SIG_BLOCK, &mask, &old);
	int sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	int interrupts = 0, r = 0;
	long long deadline = x->timeout_s > 0 ? mono_ms() + x->timeout_s * 1000LL : -1;
	bool killed = false;
	while (!s->exited) {
		struct pollfd p[3] = {
		    {.fd = s->sock, .events = POLLIN},
		    {.fd = s->in_open && s->in_credit ? x->in_fd : -1, .events = POLLIN},
		    {.fd = sig_fd, .events = POLLIN},
		};
		int timeout = -1;
		if (deadline >= 0) {
			long long left = deadline - mono_ms();
			timeout = left > 0 ? (int)left : 0;
		}
		int n = poll(p, 3, timeout);
		if (n < 0 && errno != EINTR) {
			r = err_sys(e, -errno, EXIT_FAILED, "poll");
			break;
		}
		if (n == 0 && deadline >= 0) {
			if (killed) {
				r = err_set(e, -ETIMEDOUT, 124,
					    "the command did not finish within %d s and did not "
					    "end when killed",
					    x->timeout_s);
				break;
			}
			killed = true;
			send_u32(s, PROTO_SIGNAL, SIGKILL);
			deadline = mono_ms() + EXEC_KILL_WAIT_MS;
			continue;
		}
		if (n <= 0)
			continue;
		if (p[2].revents)
			signal_readable(s, sig_fd, tty, &interrupts);
		if (p[1].revents)
			stdin_readable(s);
		if (p[0].revents && sock_readable(s) < 0) {
			r = err_set(e, -EPIPE, EXIT_FAILED,
				    "lost the connection to VM '%s' before the command ended",
				    name);
			json_t *rec = NULL;
			struct err ig = ERR_INIT;
			if (vm_get(name, &rec, &ig) == 0 && json_get_str(rec, "exit_reason"))
				err_hint(e, "the VM exited: %s", json_get_str(rec, "exit_reason"));
			json_decref(rec);
			err_release(&ig);
			break;
		}
	}
	if (sig_fd >= 0)
		close(sig_fd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		return r;
	if (killed)
		return err_set(e, -ETIMEDOUT, 124, "the command did not finish within %d s; killed",
			       x->timeout_s);
	return 0;
}

int vm_exec(const char *name, const struct vm_exec *x, int *status, struct err *e)
{
	*status = -1;
	json_t *rec = NULL;
	int r = vm_get(name, &rec, e);
	if (r < 0)
		return r;
	const char *run = json_get_str(rec, "run_dir");
	if (!vm_record_alive(rec) || !run) {
		const char *why = json_get_str(rec, "exit_reason");
		r = err_set(e, -ESRCH, EXIT_FAILED, "VM '%s' is not running%s%s", name,
			    why ? ": " : "", why ? why : "");
		err_hint(e, "mvmctl up --name %s -d", name);
		json_decref(rec);
		return r;
	}
	int sock = -1;
	r = ctl_connect(run, &sock, e);
	json_decref(rec);
	if (r < 0)
		return r;
	if ((r = ctl_request(sock, "exec", 10000, NULL, e)) < 0) {
		close(sock);
		return err_prefix(e, r, "VM '%s'", name);
	}
	/* a reader of our output that goes away is the guest command's business:
	 * EPIPE here, SIGPIPE to it (on_frame) */
	signal(SIGPIPE, SIG_IGN);
	bool tty = x->tty && isatty(x->in_fd);
	struct termios saved;
	bool raw = tty && tcgetattr(x->in_fd, &saved) == 0;
	struct session s = {.sock = sock, .x = x, .guest_error = STRBUF_INIT};
	s.decbuf = xmalloc(2 * PROTO_MAX_FRAME);
	proto_decoder_init(&s.dec, s.decbuf, 2 * PROTO_MAX_FRAME);
	s.in_open = x->input;
	s.in_credit = x->input ? PROTO_INITIAL_WINDOW : 0;
	if ((r = send_exec(&s, tty)) < 0) {
		r = r == -E2BIG
			? err_set(e, r, EXIT_USAGE,
				  "the command and its environment are over %u KiB",
				  PROTO_MAX_PAYLOAD >> 10)
			: err_sys(e, r, EXIT_FAILED, "sending the command to VM '%s'", name);
		goto out;
	}
	if (raw) {
		struct termios t = saved;
		cfmakeraw(&t);
		tcsetattr(x->in_fd, TCSADRAIN, &t);
	}
	r = run_session(&s, tty, name, e);
	if (raw)
		tcsetattr(x->in_fd, TCSADRAIN, &saved);
	if (r == 0) {
		*status = s.status;
		if (s.guest_error.len) /* never started: 126 or 127, with the guest's words */
			r = err_set(e, -ENOEXEC, s.status, "cannot run the command in VM '%s': %s",
				    name, s.guest_error.buf);
	}
out:
	close(sock);
	free(s.decbuf);
	strbuf_release(&s.guest_error);
	return r;
}
