/* The guest side of the agent protocol (src/proto/agent.h) on the
 * virtio-serial port named org.mvm.agent.
 *
 * The port is watched edge-triggered: while the host side is closed a read
 * returns 0 and poll keeps reporting HUP, so level-triggered polling would
 * spin; the driver wakes us when the host opens the port or sends data.
 *
 * Memory is bounded: one decoder buffer, one output queue (OUTQ_CAP), and per
 * session at most the stdin window granted to the host. A session's output is
 * read from its pipes only while the host has granted credit for it and the
 * output queue has room for a whole frame, so a fast producer blocks on its
 * pipe instead of growing anything.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "init.h"
#include "proto/agent.h"

/* musl-gcc ships no kernel headers: the two netlink definitions used here. */
#define NETLINK_KOBJECT_UEVENT 15
struct uevent_addr {
	sa_family_t nl_family;
	unsigned short nl_pad;
	uint32_t nl_pid;
	uint32_t nl_groups;
};

#define OUTQ_CAP      (512u * 1024)
#define MAX_SESSIONS  64
#define READ_CHUNK    16384u
#define GRANT_MIN     (32u * 1024)
#define EXIT_GRACE_MS 2000u
/* The most virtio_console takes in one write (drivers/char/virtio_console.c,
 * port_fops_write): a longer write goes out cut at this size. */
#define PORT_WRITE_MAX (32u * 1024)
#define AGENT_NAME     "mvm-init " MVM_INIT_VERSION
#ifndef MVM_INIT_VERSION
#define MVM_INIT_VERSION "1"
#endif

struct session {
	uint32_t id;
	pid_t pid;
	bool tty;
	struct watch in;  /* stdin pipe write end, or a dup of the pty master */
	struct watch out; /* stdout pipe read end, or the pty master */
	struct watch err; /* stderr pipe read end (not with a tty) */
	uint32_t out_credit, err_credit;
	bool out_eof, err_eof;
	/* stdin: bytes received but not yet written, bounded by the window granted */
	uint8_t *inbuf;
	size_t in_len;
	uint32_t in_granted; /* credit outstanding: what the host may still send */
	uint32_t in_to_grant;
	bool in_eof; /* the host ended stdin: close once inbuf is written */
	bool exited;
	int status;
	uint64_t exit_at;
	uint32_t in_events, out_events, err_events;
	bool dead; /* freed after the loop round: epoll may still hold its watches */
	struct session *next_dead;
};

static struct {
	struct watch port;
	struct watch uevent;
	char path[64];
	/* A host has said HELLO on the port (READY may go out). What a host
	 * connection is, only its HELLO says: see port_read. */
	bool hello;
	/* a HELLO was read and the kernel has not shown a host on the port
	 * since (a read that would block): it may be a newer host's than the
	 * close the kernel shows next. Only a frame the host began and did not
	 * finish is dropped on a close, and only when this is false. */
	bool hello_fresh;
	bool parked;	 /* snapshot mode: waiting for IDENTITY */
	bool identified; /* snapshot mode: IDENTITY applied */
	bool garbage;	 /* inside a malformed region: one ERROR per region */
	struct proto_decoder dec;
	uint8_t *decbuf, *outq; /* the two buffers below (kept out of .data) */
	size_t out_off, out_len;
	struct session *sessions[MAX_SESSIONS];
	struct session *graveyard;
} ag = {.port = {.fd = -1}, .uevent = {.fd = -1}};
static uint8_t decbuf[2 * PROTO_MAX_FRAME];
static uint8_t outq[OUTQ_CAP];

static void pump(void);
static void port_flush(void);

/* --- output queue --------------------------------------------------- */

static size_t outq_room(void)
{
	return OUTQ_CAP - ag.out_len;
}

static int send_frame(uint8_t type, uint32_t stream, const void *payload, size_t len)
{
	if (ag.out_off && outq_room() < PROTO_HEADER_SIZE + len) {
		memmove(ag.outq, ag.outq + ag.out_off, ag.out_len - ag.out_off);
		ag.out_len -= ag.out_off;
		ag.out_off = 0;
	}
	int n = proto_encode(ag.outq + ag.out_len, outq_room(), type, stream, payload, len);
	if (n < 0)
		return -1;
	ag.out_len += (size_t)n;
	return 0;
}

static void send_error(uint32_t stream, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void send_error(uint32_t stream, uint32_t code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	uint8_t p[300];
	int n = proto_error_encode(code, msg, p, sizeof(p));
	if (n >= 0)
		send_frame(PROTO_ERROR, stream, p, (size_t)n);
}

/* --- sessions -------------------------------------------------------- */

static struct session *find_session(uint32_t id)
{
	for (int i = 0; i < MAX_SESSIONS; i++)
		if (ag.sessions[i] && ag.sessions[i]->id == id)
			return ag.sessions[i];
	return NULL;
}

static void close_watch(struct watch *w)
{
	if (w->fd < 0)
		return;
	loop_del(w);
	close(w->fd);
	w->fd = -1;
}

static void session_free(struct session *s)
{
	for (int i = 0; i < MAX_SESSIONS; i++)
		if (ag.sessions[i] == s)
			ag.sessions[i] = NULL;
	close_watch(&s->in);
	close_watch(&s->out);
	close_watch(&s->err);
	free(s->inbuf);
	s->inbuf = NULL;
	if (!s->dead) {
		s->dead = true;
		s->next_dead = ag.graveyard;
		ag.graveyard = s;
	}
}

/* Sends EXIT once the process ended and both outputs reached their end. */
static void session_maybe_finish(struct session *s)
{
	if (s->dead || !s->exited || !s->out_eof || !s->err_eof)
		return;
	/* frames for this stream must fit, else wait for the queue to drain */
	if (outq_room() < 2 * (PROTO_HEADER_SIZE + 8))
		return;
	struct proto_exit x;
	if (WIFSIGNALED(s->status)) {
		x.kind = PROTO_EXIT_SIGNAL;
		x.code = (uint32_t)WTERMSIG(s->status);
	} else {
		x.kind = PROTO_EXIT_CODE;
		x.code = (uint32_t)WEXITSTATUS(s->status);
	}
	uint8_t p[8];
	int n = proto_exit_encode(&x, p, sizeof(p));
	send_frame(PROTO_EXIT, s->id, p, (size_t)n);
	session_free(s);
}

static void channel_eof(struct session *s, struct watch *w, bool *eof, uint8_t type)
{
	close_watch(w);
	if (s->tty && w == &s->out)
		close_watch(&s->in); /* the dup of the master */
	*eof = true;
	send_frame(type, s->id, NULL, 0);
}

/* Reads one chunk from an output channel within its credit and the queue's
 * room. Returns 1 when data was sent, 0 at the end (EOF sent), -1 when
 * nothing could be read now. */
static int read_channel(struct session *s, struct watch *w, uint32_t *credit, bool *eof,
			uint8_t type)
{
	if (w->fd < 0 || !*credit || outq_room() < PROTO_MAX_FRAME)
		return -1;
	size_t want = *credit < READ_CHUNK ? *credit : READ_CHUNK;
	uint8_t buf[READ_CHUNK];
	ssize_t n = read(w->fd, buf, want);
	if (n > 0) {
		send_frame(type, s->id, buf, (size_t)n);
		*credit -= (uint32_t)n;
		return 1;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -1;
	/* EOF, or EIO on a pty master: every slave fd is closed */
	channel_eof(s, w, eof, type);
	return 0;
}

static void on_out(struct watch *w, uint32_t events)
{
	(void)events;
	struct session *s = w->data;
	if (s->dead || w->fd < 0)
		return;
	read_channel(s, w, &s->out_credit, &s->out_eof, PROTO_STDOUT);
	session_maybe_finish(s);
}

static void on_err(struct watch *w, uint32_t events)
{
	(void)events;
	struct session *s = w->data;
	if (s->dead || w->fd < 0)
		return;
	read_channel(s, w, &s->err_credit, &s->err_eof, PROTO_STDERR);
	session_maybe_finish(s);
}

static void grant_stdin(struct session *s, bool force)
{
	if (!s->in_to_grant || (!force && s->in_to_grant < GRANT_MIN))
		return;
	struct proto_window win = {.channel = PROTO_CH_STDIN, .bytes = s->in_to_grant};
	uint8_t p[8];
	int n = proto_window_encode(&win, p, sizeof(p));
	if (send_frame(PROTO_WINDOW, s->id, p, (size_t)n) == 0) {
		s->in_granted += s->in_to_grant;
		s->in_to_grant = 0;
	}
}

static void write_stdin(struct session *s)
{
	while (s->in_len && s->in.fd >= 0) {
		ssize_t n = write(s->in.fd, s->inbuf, s->in_len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			/* the process closed its stdin: drop what is left */
			s->in_to_grant += (uint32_t)s->in_len;
			s->in_len = 0;
			if (!s->tty)
				close_watch(&s->in);
			break;
		}
		memmove(s->inbuf, s->inbuf + n, s->in_len - (size_t)n);
		s->in_len -= (size_t)n;
		s->in_to_grant += (uint32_t)n;
	}
	if (!s->in_len && s->in_eof && !s->tty)
		close_watch(&s->in);
	grant_stdin(s, !s->in_len);
}

static void on_in(struct watch *w, uint32_t events)
{
	(void)events;
	struct session *s = w->data;
	if (s->dead || w->fd < 0)
		return;
	write_stdin(s);
}

static void set_events(struct watch *w, uint32_t *cur, uint32_t want)
{
	if (w->fd < 0 || *cur == want)
		return;
	if (loop_mod(w, want) == 0)
		*cur = want;
}

/* Re-evaluates what every session may read or write now. */
static void pump(void)
{
	bool room = outq_room() >= PROTO_MAX_FRAME;
	for (int i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = ag.sessions[i];
		if (!s)
			continue;
		set_events(&s->out, &s->out_events, room && s->out_credit ? EPOLLIN : 0);
		set_events(&s->err, &s->err_events, room && s->err_credit ? EPOLLIN : 0);
		set_events(&s->in, &s->in_events, s->in_len ? EPOLLOUT : 0);
	}
	for (int i = 0; i < MAX_SESSIONS; i++)
		if (ag.sessions[i])
			session_maybe_finish(ag.sessions[i]);
}

static void kill_all_sessions(void)
{
	for (int i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = ag.sessions[i];
		if (!s)
			continue;
		if (!s->exited && s->pid > 0) {
			kill(-s->pid, SIGKILL);
			kill(s->pid, SIGKILL);
		}
		session_free(s);
	}
}

bool agent_reap(pid_t pid, int status)
{
	for (int i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = ag.sessions[i];
		if (!s || s->pid != pid || s->exited)
			continue;
		s->exited = true;
		s->status = status;
		s->exit_at = now_ms() + EXIT_GRACE_MS;
		timer_want(s->exit_at);
		/* what is in the pipes now is all the process wrote */
		pump();
		session_maybe_finish(s);
		port_flush();
		return true;
	}
	return false;
}

/* After the process exited, outputs that stay open without data (a daemon
 * kept the pipe) are ended after EXIT_GRACE_MS. */
void agent_timer(void)
{
	uint64_t now = now_ms();
	for (int i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = ag.sessions[i];
		if (!s || !s->exited)
			continue;
		if (now < s->exit_at) {
			timer_want(s->exit_at);
			continue;
		}
		bool waiting = false;
		struct watch *ws[2] = {&s->out, &s->err};
		uint32_t *credits[2] = {&s->out_credit, &s->err_credit};
		bool *eofs[2] = {&s->out_eof, &s->err_eof};
		uint8_t types[2] = {PROTO_STDOUT, PROTO_STDERR};
		for (int c = 0; c < 2; c++) {
			if (*eofs[c])
				continue;
			if (!*credits[c] || outq_room() < PROTO_MAX_FRAME) {
				waiting = true; /* the host is slow: not our call to cut it */
				continue;
			}
			int r = read_channel(s, ws[c], credits[c], eofs[c], types[c]);
			if (r > 0)
				waiting = true; /* still producing (a daemon child?): look again */
			else if (r < 0)
				channel_eof(s, ws[c], eofs[c], types[c]);
		}
		if (waiting) {
			s->exit_at = now + 500;
			timer_want(s->exit_at);
		}
		session_maybe_finish(s);
	}
	port_flush();
}

/* --- exec ------------------------------------------------------------ */

static void set_env(char **env, size_t *n, const char *kv)
{
	size_t kl = strcspn(kv, "=");
	for (size_t i = 0; i < *n; i++) {
		if (!strncmp(env[i], kv, kl) && env[i][kl] == '=') {
			env[i] = (char *)kv;
			return;
		}
	}
	env[(*n)++] = (char *)kv;
	env[*n] = NULL;
}

static void start_exec(uint32_t id, const struct proto_frame *f)
{
	struct proto_exec x;
	if (id == 0 || find_session(id)) {
		send_error(id, PROTO_ESTREAM, "stream %u is %s", id, id ? "in use" : "reserved");
		return;
	}
	if (proto_exec_decode(f->payload, f->len, &x) < 0) {
		send_error(id, PROTO_EPAYLOAD, "malformed exec request");
		return;
	}
	int slot = -1;
	for (int i = 0; i < MAX_SESSIONS && slot < 0; i++)
		if (!ag.sessions[i])
			slot = i;
	if (slot < 0) {
		send_error(id, PROTO_ELIMIT, "too many sessions (%d)", MAX_SESSIONS);
		return;
	}
	char **argv = calloc(x.argc + 1, sizeof(*argv));
	char **env = calloc(x.envc + vm_env_count() + 8, sizeof(*env));
	struct session *s = calloc(1, sizeof(*s));
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, rep[2] = {-1, -1};
	int master = -1, slave = -1;
	char *path = NULL;
	if (!argv || !env || !s)
		goto fail_nomem;
	const uint8_t *cur = x.argv_p;
	for (uint32_t i = 0; i < x.argc; i++)
		argv[i] = (char *)proto_strings_next(&cur);
	size_t nenv = 0;
	set_env(env, &nenv, "PATH=" BASE_PATH);
	set_env(env, &nenv, "HOME=/root");
	set_env(env, &nenv, "LANG=C.UTF-8");
	if (x.flags & PROTO_EXEC_TTY)
		set_env(env, &nenv, "TERM=xterm-256color");
	for (size_t i = 0; i < vm_env_count(); i++)
		set_env(env, &nenv, vm_env_at(i));
	cur = x.env_p;
	for (uint32_t i = 0; i < x.envc; i++)
		set_env(env, &nenv, proto_strings_next(&cur));

	s->id = id;
	s->tty = x.flags & PROTO_EXEC_TTY;
	s->in.fd = s->out.fd = s->err.fd = -1;
	s->out_credit = s->err_credit = PROTO_INITIAL_WINDOW;
	s->in_granted = (x.flags & PROTO_EXEC_STDIN) ? PROTO_INITIAL_WINDOW : 0;
	if (s->tty) {
		struct winsize ws = {.ws_row = x.rows ? x.rows : 24,
				     .ws_col = x.cols ? x.cols : 80};
		if (openpty(&master, &slave, NULL, NULL, &ws) < 0)
			goto fail_errno;
		fcntl(master, F_SETFD, FD_CLOEXEC);
		fcntl(slave, F_SETFD, FD_CLOEXEC);
	} else {
		if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
			goto fail_errno;
		if ((x.flags & PROTO_EXEC_STDIN) && pipe2(in, O_CLOEXEC) < 0)
			goto fail_errno;
	}
	if (pipe2(rep, O_CLOEXEC) < 0)
		goto fail_errno;
	path = guest_which(argv[0], env);

	pid_t pid = fork();
	if (pid < 0)
		goto fail_errno;
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		setsid();
		if (s->tty) {
			ioctl(slave, TIOCSCTTY, 0);
			dup2(slave, 0);
			dup2(slave, 1);
			dup2(slave, 2);
		} else {
			int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
			dup2(in[0] >= 0 ? in[0] : devnull, 0);
			dup2(out[1], 1);
			dup2(err[1], 2);
		}
		int e = ENOENT;
		if (x.cwd && chdir(x.cwd) < 0)
			e = errno;
		else if (!x.cwd && chdir("/") < 0)
			e = errno;
		else if (path) {
			execve(path, argv, env);
			e = errno;
		}
		ssize_t w = write(rep[1], &e, sizeof(e));
		(void)w;
		_exit(127);
	}
	close(rep[1]);
	rep[1] = -1;
	int childerr = 0;
	ssize_t r;
	do
		r = read(rep[0], &childerr, sizeof(childerr));
	while (r < 0 && errno == EINTR);
	close(rep[0]);
	rep[0] = -1;
	if (r == (ssize_t)sizeof(childerr)) {
		/* exec failed: the child exits 127; it is reaped as an orphan */
		struct proto_exit ex = {.kind = PROTO_EXIT_NOEXEC, .code = (uint32_t)childerr};
		uint8_t p[8];
		int n = proto_exit_encode(&ex, p, sizeof(p));
		send_error(id, (uint32_t)childerr, "%s: %s", argv[0], strerror(childerr));
		send_frame(PROTO_EXIT, id, p, (size_t)n);
		waitpid(pid, NULL, 0);
		goto cleanup;
	}
	s->pid = pid;
	if (s->tty) {
		close(slave);
		slave = -1;
		fcntl(master, F_SETFL, O_NONBLOCK);
		s->out.fd = master;
		s->in.fd = dup(master);
		if (s->in.fd >= 0)
			fcntl(s->in.fd, F_SETFD, FD_CLOEXEC);
		master = -1;
		s->err_eof = true;
	} else {
		close(out[1]);
		close(err[1]);
		out[1] = err[1] = -1;
		s->out.fd = out[0];
		s->err.fd = err[0];
		out[0] = err[0] = -1;
		fcntl(s->out.fd, F_SETFL, O_NONBLOCK);
		fcntl(s->err.fd, F_SETFL, O_NONBLOCK);
		if (in[1] >= 0) {
			close(in[0]);
			in[0] = -1;
			s->in.fd = in[1];
			in[1] = -1;
			fcntl(s->in.fd, F_SETFL, O_NONBLOCK);
		}
	}
	struct watch *ws[] = {&s->in, &s->out, &s->err};
	watch_fn fns[] = {on_in, on_out, on_err};
	for (int i = 0; i < 3; i++) {
		ws[i]->fn = fns[i];
		ws[i]->data = s;
		if (ws[i]->fd >= 0)
			loop_add(ws[i], 0);
	}
	ag.sessions[slot] = s;
	s = NULL;
	uint8_t p[4];
	proto_u32_encode((uint32_t)pid, p, sizeof(p));
	send_frame(PROTO_STARTED, id, p, sizeof(p));
	goto cleanup;

fail_errno:
	send_error(id, (uint32_t)errno, "starting %s: %s", argv[0], strerror(errno));
	goto cleanup;
fail_nomem:
	send_error(id, ENOMEM, "out of memory");
cleanup:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
		if (rep[i] >= 0)
			close(rep[i]);
	}
	if (master >= 0)
		close(master);
	if (slave >= 0)
		close(slave);
	free(path);
	free(argv);
	free(env);
	free(s);
}

/* --- frames from the host --------------------------------------------- */

static void on_stdin(struct session *s, const struct proto_frame *f)
{
	if (!f->len) {
		s->in_eof = true;
		write_stdin(s);
		return;
	}
	if (f->len > s->in_granted) {
		send_error(s->id, PROTO_EWINDOW, "stdin beyond the granted window (%u > %u)",
			   f->len, s->in_granted);
		return;
	}
	s->in_granted -= f->len;
	if (s->in.fd < 0 || s->in_eof) {
		s->in_to_grant += f->len; /* nobody reads it: drop, but keep the credit flowing */
		grant_stdin(s, true);
		return;
	}
	uint8_t *nb = realloc(s->inbuf, s->in_len + f->len);
	if (!nb) {
		send_error(s->id, ENOMEM, "out of memory");
		return;
	}
	s->inbuf = nb;
	memcpy(s->inbuf + s->in_len, f->payload, f->len);
	s->in_len += f->len;
	write_stdin(s);
}

static void on_identity(const struct proto_frame *f)
{
	if (f->stream != 0) {
		send_error(f->stream, PROTO_ESTREAM, "identity belongs on stream 0");
		return;
	}
	if (!ag.parked) {
		send_error(0, PROTO_ETYPE, "unexpected identity frame: %s",
			   ag.identified ? "an identity was already applied"
					 : "not in snapshot mode");
		return;
	}
	struct proto_identity id;
	proto_identity_decode(f->payload, f->len, &id); /* validated by dispatch */
	ag.parked = false;
	ag.identified = true;
	identity_apply(&id);
	/* the seed is in the decoder's buffer: it has served its purpose */
	explicit_bzero((void *)id.seed, id.seed_len);
}

/* ENV: the VM's environment, any time on stream 0; before the identity it
 * reaches every service. */
static void on_env(const struct proto_frame *f)
{
	if (f->stream != 0) {
		send_error(f->stream, PROTO_ESTREAM, "env belongs on stream 0");
		return;
	}
	uint32_t n;
	const uint8_t *first;
	proto_env_decode(f->payload, f->len, &n, &first); /* validated by dispatch */
	vm_env_set(n, first);
}

/* WAKE: this VM slept and was restored; accepted any number of times once the
 * guest is somebody (cold-booted, or identified). Sessions are not touched. */
static void on_wake(const struct proto_frame *f)
{
	if (f->stream != 0) {
		send_error(f->stream, PROTO_ESTREAM, "wake belongs on stream 0");
		return;
	}
	if (ag.parked) {
		send_error(0, PROTO_ETYPE,
			   "unexpected wake frame: parked, waiting for an identity");
		return;
	}
	struct proto_identity id;
	proto_wake_decode(f->payload, f->len, &id); /* validated by dispatch */
	wake_apply(&id);
	explicit_bzero((void *)id.seed, id.seed_len);
	/* services that had started still run: READY now (else when they have) */
	if (services_ready())
		send_frame(PROTO_READY, 0, NULL, 0);
}

static void dispatch(const struct proto_frame *f)
{
	int v = proto_validate(f);
	if (v < 0) {
		send_error(f->stream, (uint32_t)-v, "malformed %s frame (%u bytes)",
			   proto_type_name(f->type), f->len);
		return;
	}
	if (f->type == PROTO_HELLO) {
		struct proto_hello h;
		proto_hello_decode(f->payload, f->len, &h);
		/* A HELLO starts a connection: whatever an earlier host started is
		 * orphaned, and what was queued for it is not this host's. */
		kill_all_sessions();
		ag.out_off = ag.out_len = 0;
		ag.garbage = false;
		ag.hello_fresh = true;
		if (h.min_version > PROTO_VERSION || h.max_version < PROTO_VERSION) {
			send_error(0, PROTO_EVERSION, "agent speaks version %d", PROTO_VERSION);
			return;
		}
		/* the host's nonce, echoed: what it takes as the answer to this
		 * HELLO, and not an earlier host's still queued or in flight */
		struct proto_hello mine = {.min_version = PROTO_VERSION,
					   .max_version = PROTO_VERSION,
					   .max_payload = PROTO_MAX_PAYLOAD,
					   .agent = AGENT_NAME,
					   .agent_len = strlen(AGENT_NAME)};
		memcpy(mine.nonce, h.nonce, sizeof(mine.nonce));
		uint8_t p[PROTO_HELLO_MAX];
		int n = proto_hello_encode(&mine, p, sizeof(p));
		send_frame(PROTO_HELLO, 0, p, (size_t)n);
		ag.hello = true;
		if (ag.parked)
			send_frame(PROTO_PARKED, 0, NULL, 0);
		else if (services_ready())
			send_frame(PROTO_READY, 0, NULL, 0);
		return;
	}
	if (f->type == PROTO_IDENTITY) {
		on_identity(f);
		return;
	}
	if (f->type == PROTO_WAKE) {
		on_wake(f);
		return;
	}
	if (f->type == PROTO_ENV) {
		on_env(f);
		return;
	}
	if (f->type == PROTO_PING) {
		send_frame(PROTO_PONG, f->stream, f->payload, f->len);
		return;
	}
	if (f->type == PROTO_SHUTDOWN) {
		shutdown_request("agent");
		return;
	}
	if (f->type == PROTO_EXEC) {
		start_exec(f->stream, f);
		return;
	}
	if (f->type == PROTO_ERROR)
		return; /* the host complains about something we sent: nothing to do */
	struct session *s = find_session(f->stream);
	if (f->type != PROTO_STDIN && f->type != PROTO_WINDOW && f->type != PROTO_RESIZE &&
	    f->type != PROTO_SIGNAL) {
		send_error(f->stream, PROTO_ETYPE, "unexpected %s frame", proto_type_name(f->type));
		return;
	}
	if (!s) {
		send_error(f->stream, PROTO_ESTREAM, "no session %u", f->stream);
		return;
	}
	switch (f->type) {
	case PROTO_STDIN:
		on_stdin(s, f);
		break;
	case PROTO_WINDOW: {
		struct proto_window w;
		proto_window_decode(f->payload, f->len, &w);
		uint32_t *c = w.channel == PROTO_CH_STDOUT   ? &s->out_credit
			      : w.channel == PROTO_CH_STDERR ? &s->err_credit
							     : NULL;
		if (!c) {
			send_error(f->stream, PROTO_EPAYLOAD, "window for stdin is the guest's");
			break;
		}
		*c = *c + w.bytes > (1u << 30) ? (1u << 30) : *c + w.bytes;
		break;
	}
	case PROTO_RESIZE: {
		struct proto_resize r;
		proto_resize_decode(f->payload, f->len, &r);
		struct winsize ws = {.ws_row = r.rows, .ws_col = r.cols};
		if (s->tty && s->out.fd >= 0)
			ioctl(s->out.fd, TIOCSWINSZ, &ws);
		break;
	}
	case PROTO_SIGNAL: {
		uint32_t sig;
		proto_u32_decode(f->payload, f->len, &sig);
		/* to the session's process group (it is a session leader), as a
		 * terminal's Ctrl-C reaches the whole job, not just the shell */
		if (!s->exited && s->pid > 0 && kill(-s->pid, (int)sig) < 0 &&
		    kill(s->pid, (int)sig) < 0)
			send_error(f->stream, (uint32_t)errno, "signal %u: %s", sig,
				   strerror(errno));
		break;
	}
	default:
		break;
	}
}

/* --- the port -------------------------------------------------------- */

/* The port failed (not a host closing it: see port_read): start over. */
static void port_reset(void)
{
	ag.hello = false;
	kill_all_sessions();
	proto_decoder_init(&ag.dec, decbuf, sizeof(decbuf));
	ag.out_off = ag.out_len = 0;
}

/* How much of the queue one write may take: whole frames (and whole runs of
 * injected bytes a host's decoder drops) up to PORT_WRITE_MAX, cut where a
 * host's decoder is between frames. One frame longer than that is cut. */
static size_t port_write_len(void)
{
	size_t len = ag.out_len - ag.out_off;
	if (len <= PORT_WRITE_MAX)
		return len;
	struct proto_decoder d = {.buf = ag.outq + ag.out_off, .cap = len, .len = PORT_WRITE_MAX};
	struct proto_frame f;
	while (proto_decoder_next(&d, &f) != 0)
		;
	return d.consumed ? d.consumed : PORT_WRITE_MAX;
}

/* Writes what is queued. While no host has the port open the kernel says
 * EAGAIN, and the queue waits for the next one to open it (the port becomes
 * writable).
 *
 * Each write ends between two frames: the kernel takes a write whole or not
 * at all, so the queue never starts inside a frame. What is left in it when a
 * host goes is whole frames, and the next host can be given them: it ignores
 * every frame before the answer to its HELLO (docs/agent-protocol.md). */
static void port_flush(void)
{
	while (ag.out_off < ag.out_len) {
		ssize_t n = write(ag.port.fd, ag.outq + ag.out_off, port_write_len());
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				log_msg("agent: writing %s: %s", ag.path, strerror(errno));
				port_reset();
			}
			break;
		}
		ag.out_off += (size_t)n;
	}
	if (ag.out_off == ag.out_len)
		ag.out_off = ag.out_len = 0;
}

/* Reads and dispatches what the host sent.
 *
 * A host closing the port is not acted on. The kernel learns that a host
 * opened or closed the port from control messages on another virtqueue,
 * handled later than the data: a new host's HELLO can be read while the
 * kernel still shows the previous host connected, or closed, and the
 * previous host's close can arrive after it. So a read of 0 (no data, no
 * host now) cannot say which connection ended, and throwing state away there
 * lost the new host's HELLO and its answer (about one reconnect in a few
 * hundred on two vCPUs). A connection is what its HELLO starts: the HELLO
 * ends what the host before it left running and clears what was queued for
 * it. Until then a session of a vanished host runs on, held back by its
 * window and the queue's room. What the guest still sends for an earlier
 * host reaches the next one ahead of the answer to its HELLO, and a host
 * ignores everything before that answer (docs/agent-protocol.md).
 *
 * Nor does a read that would block say whose connection the kernel shows:
 * the previous host's can still look open after the new host's HELLO was
 * read, and its close come after that. So a close never drops the queue,
 * which may hold the answer to that HELLO (dropping it there left one fresh
 * connection in 700 to 15,000 unanswered); see port_flush. */
static void port_read(void)
{
	for (;;) {
		size_t room;
		uint8_t *p = proto_decoder_space(&ag.dec, &room);
		ssize_t n = read(ag.port.fd, p, room);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				ag.hello_fresh = false; /* a host has the port open */
			} else {
				log_msg("agent: reading %s: %s", ag.path, strerror(errno));
				port_reset();
			}
			return;
		}
		if (n == 0) {
			/* No host has the port open now. Unless a HELLO came since
			 * the kernel last showed one, a frame begun and not
			 * finished is a vanished host's: the next one starts with
			 * a HELLO, which must not be read as its remainder. */
			if (!ag.hello_fresh && ag.dec.len > ag.dec.consumed)
				proto_decoder_init(&ag.dec, decbuf, sizeof(decbuf));
			return;
		}
		proto_decoder_commit(&ag.dec, (size_t)n);
		struct proto_frame f;
		int r;
		while ((r = proto_decoder_next(&ag.dec, &f)) != 0) {
			if (r < 0) {
				if (!ag.garbage)
					send_error(0, (uint32_t)-r, "malformed frame header: %s",
						   r == -PROTO_EMAGIC	  ? "bad magic"
						   : r == -PROTO_EVERSION ? "unsupported version"
									  : "frame too large");
				ag.garbage = true;
				continue;
			}
			ag.garbage = false;
			dispatch(&f);
			/* replies wait for room: stop decoding while the queue is full */
			if (outq_room() < PROTO_MAX_FRAME)
				port_flush();
		}
	}
}

static void on_port(struct watch *w, uint32_t events)
{
	(void)w;
	(void)events; /* a read costs nothing when there is no data: always look */
	port_read();
	port_flush();
	pump();
	port_flush();
}

static bool find_port(char *out, size_t len)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	if (!d)
		return false;
	struct dirent *de;
	bool found = false;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char p[300], name[64] = "";
		snprintf(p, sizeof(p), "/sys/class/virtio-ports/%s/name", de->d_name);
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, name, sizeof(name) - 1);
		close(fd);
		if (n <= 0)
			continue;
		name[n] = '\0';
		name[strcspn(name, "\n")] = '\0';
		if (!strcmp(name, PROTO_AGENT_PORT) &&
		    (size_t)snprintf(out, len, "/dev/%s", de->d_name) < len)
			found = true;
	}
	closedir(d);
	return found;
}

static void try_open_port(void)
{
	if (ag.port.fd >= 0 || !find_port(ag.path, sizeof(ag.path)))
		return;
	int fd = open(ag.path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno != ENOENT)
			log_msg("agent: opening %s: %s", ag.path, strerror(errno));
		return;
	}
	ag.port.fd = fd;
	ag.port.fn = on_port;
	if (loop_add(&ag.port, EPOLLIN | EPOLLOUT | EPOLLET) < 0) {
		log_msg("agent: watching %s: %s", ag.path, strerror(errno));
		close(fd);
		ag.port.fd = -1;
		return;
	}
	close_watch(&ag.uevent);
	on_port(&ag.port, EPOLLIN);
}

/* The port appears when the host announces it, possibly after we looked:
 * listen for device events and look again. */
static void on_uevent(struct watch *w, uint32_t events)
{
	(void)events;
	char buf[4096];
	while (recv(w->fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	try_open_port();
}

void agent_start(bool parked)
{
	ag.parked = parked;
	ag.decbuf = decbuf;
	ag.outq = outq;
	proto_decoder_init(&ag.dec, decbuf, sizeof(decbuf));
	int fd =
	    socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
	if (fd >= 0) {
		struct uevent_addr sa = {.nl_family = AF_NETLINK, .nl_groups = 1};
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			ag.uevent.fd = fd;
			ag.uevent.fn = on_uevent;
			loop_add(&ag.uevent, EPOLLIN);
		} else {
			close(fd);
		}
	}
	try_open_port();
}

void agent_services_ready(void)
{
	if (ag.hello) {
		send_frame(PROTO_READY, 0, NULL, 0);
		port_flush();
	}
	identity_ready(); /* after READY is on its way: the log line is not in its path */
}

size_t agent_raw_room(void)
{
	if (ag.port.fd < 0)
		return 0;
	if (ag.out_off) {
		memmove(ag.outq, ag.outq + ag.out_off, ag.out_len - ag.out_off);
		ag.out_len -= ag.out_off;
		ag.out_off = 0;
	}
	return outq_room();
}

void agent_send_raw(const void *p, size_t n)
{
	if (n > agent_raw_room())
		n = agent_raw_room();
	memcpy(ag.outq + ag.out_len, p, n);
	ag.out_len += n;
	port_flush();
}

/* Called by the loop after every round: flush and re-arm. */
void agent_after_round(void)
{
	while (ag.graveyard) {
		struct session *s = ag.graveyard;
		ag.graveyard = s->next_dead;
		free(s);
	}
	if (ag.port.fd < 0)
		return;
	port_flush();
	pump();
	port_flush();
}
