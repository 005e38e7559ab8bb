/* The per-VM supervisor (`mvmctl shim NAME`): detached into its own session,
 * it starts the VMM, owns its control channel, the agent channel and the
 * console log, serves the control socket, records the VM's state, and
 * notices the VMM's death (pidfd). One thread, one poll loop over a
 * signalfd, the pidfd, the console, the agent, the VMM's events and the
 * control socket and its clients. */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/jsonio.h"
#include "core/spawn.h"
#include "core/util.h"
#include "proto/agent.h"
#include "shim/ctl.h"
#include "shim/fence.h"
#include "shim/relay.h"
#include "shim/shim.h"
#include "shim/vmdir.h"
#include "vmm/vmm.h"

#define SHIM_MAX_CLIENTS   64	       /* control connections, exec sessions included */
#define SHIM_CONSOLE_MAX   (16u << 20) /* console.log is started anew past this */
#define SHIM_REPLAY	   (64u << 10) /* console bytes replayed to a new attach */
#define SHIM_STOP_GRACE_MS 1000	       /* power button, before quit */
#define SHIM_LINE_MAX	   512	       /* console bytes kept to find the ready line */
#define SHIM_AGENT_STOP_MS 10000       /* the guest's own orderly power-off, asked over the agent */

enum client_kind { CLIENT_FREE = 0, CLIENT_REQUEST, CLIENT_ATTACH, CLIENT_STOP_WAIT, CLIENT_EXEC };

struct client {
	enum client_kind kind;
	int fd;
	struct strbuf in;
	struct relay_peer *peer; /* CLIENT_EXEC: owns fd */
};

struct shim {
	char *name;
	json_t *rec;
	json_t *spec;
	const struct vmm_backend *b;
	struct vmm_vm vm;
	int notify_fd, lock_fd, sig_fd, ctl_fd, log_fd;
	char *log_path;
	char *ctl_path;
	off_t log_size;
	long long t0, deadline;
	bool ready, stop_requested, done;
	bool console_ready; /* the ready line was seen (the agent may not have answered yet) */
	/* an ephemeral VM (`run`, `exec PATH`) lives as long as its owner holds
	 * the read end of notify_fd, and leaves nothing behind */
	bool ephemeral;
	bool restored, identity_sent; /* started from a snapshot; its identity went out */
	bool parked_boot; /* a cold boot that waits for its identity (spec.json "parked_boot") */
	struct vmm_allow *allow; /* spec.json "allow" */
	char *exe;		 /* ours, for QEMU to run as the relay of allowed connections */
	bool wake; /* the snapshot was this VM's own sleep: WAKE instead of IDENTITY */
	/* A woken guest's services ran before it slept, so it answers HELLO with
	 * READY before it has seen the WAKE. The WAKE is followed by a PING: its
	 * PONG says the WAKE has been applied (frames are handled in order), and
	 * only then is the VM ready. */
	bool wake_applied, agent_ready;
	struct strbuf line; /* the console line being assembled, until ready */
	struct client clients[SHIM_MAX_CLIENTS];
	const char *ready_line;
	/* the agent channel (src/proto): HELLO both ways, then READY from the guest;
	 * exec sessions are relayed onto it (relay.h). agent_hello: the guest's
	 * HELLO bearing our nonce came; every frame before it was queued for an
	 * earlier host (a HELLO answer and READY too) and is ignored. */
	bool agent_hello;
	uint8_t nonce[PROTO_NONCE_SIZE];
	struct relay relay;
	/* spec.json "fence" (fence.h): the cluster agent's fence file, and what
	 * the fence did to the VM */
	const char *fence;
	struct fence_state fst;
	long long fence_next; /* mono_ms() of the next look at the file */
};

static void notify(struct shim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notify(struct shim *s, const char *fmt, ...)
{
	if (s->notify_fd < 0)
		return;
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	strbuf_addch(&sb, '\n');
	ssize_t w = write(s->notify_fd, sb.buf, sb.len);
	(void)w;
	strbuf_release(&sb);
}

static void notify_close(struct shim *s)
{
	closep(&s->notify_fd);
	s->notify_fd = -1;
}

static void record(struct shim *s)
{
	struct err e = ERR_INIT;
	vm_record_write(s->name, s->rec, &e); /* nobody to tell but the next reader */
	err_release(&e);
}

static void set_state(struct shim *s, const char *state)
{
	json_object_set_new(s->rec, "state", json_string(state));
	record(s);
}

/* --- clients ------------------------------------------------------------------ */

static void client_close(struct shim *s, struct client *c)
{
	if (c->peer) {
		relay_peer_close(&s->relay, c->peer); /* closes the fd */
		c->fd = -1;
	}
	closep(&c->fd);
	strbuf_release(&c->in);
	*c = (struct client){.fd = -1};
}

static void client_send(struct client *c, const void *buf, size_t len)
{
	while (len && c->fd >= 0) {
		ssize_t w = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			/* a reader that cannot keep up is dropped: the shim never blocks
			 * (the poll loop frees the slot once it sees the fd gone) */
			closep(&c->fd);
			c->fd = -1;
			return;
		}
		buf = (const char *)buf + w;
		len -= (size_t)w;
	}
}

static void client_reply(struct client *c, json_t *obj)
{
	char *txt = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!txt)
		return;
	client_send(c, txt, strlen(txt));
	client_send(c, "\n", 1);
	free(txt);
}

static void reply_error(struct client *c, const char *msg)
{
	client_reply(c, json_pack("{s:b, s:s}", "ok", false, "error", msg));
}

static void replay_console(struct shim *s, struct client *c)
{
	int fd = open(s->log_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	off_t from = 0;
	if (fstat(fd, &st) == 0 && st.st_size > (off_t)SHIM_REPLAY)
		from = st.st_size - SHIM_REPLAY;
	char buf[16384];
	ssize_t n;
	while (c->fd >= 0 && (n = pread(fd, buf, sizeof(buf), from)) > 0) {
		client_send(c, buf, (size_t)n);
		from += n;
	}
	close(fd);
}

static void begin_stop(struct shim *s, const char *why);
static int agent_send(struct shim *s, uint8_t type, const void *payload, size_t len);

/* {"op":"exec"}: from the reply on, the connection carries agent frames of
 * one session (relay.h). Bytes the client sent after its request line are
 * the first frames. */
static void start_exec(struct shim *s, struct client *c, const char *rest, size_t rest_len)
{
	if (!s->agent_hello || s->relay.agent_fd < 0 || s->stop_requested) {
		reply_error(
		    c, s->stop_requested ? "the VM is stopping"
		       : s->relay.agent_fd < 0
			   ? "the guest agent's channel is closed"
			   : "the guest agent has not answered yet (is the VM still booting?)");
		return;
	}
	client_reply(c, json_pack("{s:b}", "ok", true));
	if (c->fd < 0)
		return;
	c->peer = relay_peer_new(&s->relay, c->fd, rest, rest_len);
	c->kind = CLIENT_EXEC;
}

static void finish(struct shim *s, const char *reason);

/* {"op":"sleep"}: device state into <vm dir>/sleep/, RAM synced in its file,
 * the VMM gone without the guest shutting down (vm.h, vm_sleep). */
static void put_to_sleep(struct shim *s, struct client *c)
{
	const char *mem = json_get_str(s->spec, "mem_file");
	if (!s->ready || s->stop_requested || s->vm.exited) {
		reply_error(c, "the VM is not running");
		return;
	}
	if (!mem || !s->b->snapshot) {
		reply_error(c, "this VM cannot sleep: its RAM is not in a file");
		return;
	}
	_cleanup_free_ char *dir = vm_file(s->name, VM_SLEEP_DIR);
	_cleanup_free_ char *tmp = vm_file(s->name, VM_SLEEP_DIR ".new");
	_cleanup_free_ char *vmdir = vm_dir(s->name);
	struct err e = ERR_INIT;
	fs_rm_rf(tmp, &e);
	err_release(&e);
	if (mkdir(tmp, 0700) < 0) {
		reply_error(c, "cannot create the sleep directory");
		return;
	}
	long long t0 = mono_ms();
	if (s->b->snapshot(&s->vm, tmp, &e) < 0) {
		struct err re = ERR_INIT;
		fs_rm_rf(tmp, &re);
		if (!json_is_true(json_object_get(s->rec, "paused")))
			s->b->resume(&s->vm, &re); /* it runs on as it was */
		err_release(&re);
		reply_error(c, e.msg ? e.msg : "saving the VM failed");
		err_release(&e);
		return;
	}
	long long saved = mono_ms() - t0;
	/* the state is safe: the VMM goes without telling the guest */
	s->stop_requested = true;
	s->b->stop(&s->vm, 0, &e);
	err_release(&e);
	int fd = open(mem, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	int r = fd < 0 || fsync(fd) < 0 ? -errno : 0;
	if (fd >= 0) { /* memory freed: nothing of the guest stays resident */
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
	long long total = mono_ms() - t0;
	if (r == 0) {
		fs_rm_rf(dir, &e);
		err_release(&e);
		r = rename(tmp, dir) < 0 ? -errno : 0;
		fs_fsync_dir(vmdir);
	}
	if (r < 0) {
		reply_error(c, "the VM's memory could not be saved; it stopped");
		finish(s, "stopped: its memory could not be saved for sleep");
		return;
	}
	json_object_set_new(s->rec, "save_ms", json_integer(saved));
	json_object_set_new(s->rec, "sleep_ms", json_integer(total));
	client_reply(c, json_pack("{s:b, s:I, s:I}", "ok", true, "save_ms", (json_int_t)saved,
				  "sleep_ms", (json_int_t)total));
	finish(s, VM_ASLEEP_REASON);
}

/* --- the cluster's fence (fence.h) ----------------------------------------------------- */

static bool fenced_now(struct shim *s)
{
	struct fence f;
	return s->fence && fence_passed(fence_read(s->fence, &f) == 0 ? &f : NULL, boot_ms());
}

/* Pauses the VM when the fence's deadline has passed; resumes what it paused
 * when the same lease is renewed. Only a VM that is up and ready: a boot or
 * a restore in progress runs to its end first. */
static void fence_tick(struct shim *s)
{
	if (!s->fence || !s->ready || s->stop_requested || s->vm.exited ||
	    mono_ms() < s->fence_next)
		return;
	s->fence_next = mono_ms() + FENCE_CHECK_MS;
	struct fence f;
	bool readable = fence_read(s->fence, &f) == 0;
	bool paused = json_is_true(json_object_get(s->rec, "paused"));
	enum fence_action act = fence_decide(readable ? &f : NULL, boot_ms(), paused, &s->fst);
	if (act == FENCE_NONE)
		return;
	struct err e = ERR_INIT;
	bool pause = act == FENCE_PAUSE;
	if ((pause ? s->b->pause(&s->vm, &e) : s->b->resume(&s->vm, &e)) < 0) {
		s->fst.fenced = !pause; /* as it was: tried again at the next tick */
		err_release(&e);
		return;
	}
	json_object_set_new(s->rec, "paused", json_boolean(pause));
	if (pause) {
		_cleanup_free_ char *now = json_now_rfc3339();
		json_object_set_new(s->rec, "fenced", json_string(now));
	} else {
		json_object_del(s->rec, "fenced");
	}
	record(s);
}

static void handle_request(struct shim *s, struct client *c, const char *line, size_t len,
			   const char *rest, size_t rest_len)
{
	json_t *req = NULL;
	struct err e = ERR_INIT;
	if (json_parse_buf(line, len, "control request", &req, &e) < 0) {
		reply_error(c, e.msg);
		err_release(&e);
		client_close(s, c);
		return;
	}
	const char *op = json_get_str(req, "op");
	op = op ? op : "";
	if (!strcmp(op, "status")) {
		json_t *r = json_pack("{s:b, s:O}", "ok", true, "vm", s->rec);
		enum vmm_state st;
		if (s->b->status && s->b->status(&s->vm, &st, &e) == 0)
			json_object_set_new(r, "vmm_state", json_string(vmm_state_name(st)));
		client_reply(c, r);
	} else if (!strcmp(op, "exec")) {
		start_exec(s, c, rest, rest_len);
	} else if (!strcmp(op, "attach")) {
		client_reply(c, json_pack("{s:b}", "ok", true));
		replay_console(s, c);
		if (c->fd >= 0)
			c->kind = CLIENT_ATTACH;
	} else if (!strcmp(op, "stop")) {
		c->kind = CLIENT_STOP_WAIT; /* answered once the VM is down */
		begin_stop(s, "stopped on request (mvmctl down, or Ctrl-C of mvmctl up)");
	} else if (!strcmp(op, "sleep")) {
		put_to_sleep(s, c);
	} else if (!strcmp(op, "pause") || !strcmp(op, "resume")) {
		bool pause = !strcmp(op, "pause");
		int r = !pause && fenced_now(s) ? -EPERM
			: pause			? s->b->pause(&s->vm, &e)
						: s->b->resume(&s->vm, &e);
		if (r == -EPERM) {
			reply_error(
			    c, "the VM is fenced: this host's cluster lease was not renewed in "
			       "time (is `mvm host serve` running, and can it reach etcd?)");
		} else if (r < 0) {
			reply_error(c, e.msg ? e.msg : "failed");
		} else {
			json_object_set_new(s->rec, "paused", json_boolean(pause));
			/* a pause asked for is the asker's, no longer the fence's */
			s->fst.fenced = false;
			json_object_del(s->rec, "fenced");
			record(s);
			client_reply(c, json_pack("{s:b}", "ok", true));
		}
	} else {
		struct strbuf m = STRBUF_INIT;
		strbuf_addf(&m, "unknown request '%s'", op);
		reply_error(c, m.buf);
		strbuf_release(&m);
	}
	json_decref(req);
	err_release(&e);
}

static void client_readable(struct shim *s, struct client *c)
{
	if (c->kind == CLIENT_EXEC) {
		relay_peer_readable(&s->relay, c->peer);
		return;
	}
	char buf[1024];
	ssize_t n = read(c->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		client_close(s, c);
		return;
	}
	if (c->kind != CLIENT_REQUEST)
		return; /* attached clients only listen */
	strbuf_add(&c->in, buf, (size_t)n);
	char *nl = memchr(c->in.buf, '\n', c->in.len);
	if (!nl) {
		if (c->in.len > SHIM_MAX_REQUEST) {
			reply_error(c, "request too long");
			client_close(s, c);
		}
		return;
	}
	size_t used = (size_t)(nl - c->in.buf) + 1;
	handle_request(s, c, c->in.buf, used - 1, c->in.buf + used, c->in.len - used);
	if (c->fd >= 0)
		strbuf_reset(&c->in);
	if (c->fd >= 0 && c->kind == CLIENT_REQUEST)
		client_close(s, c); /* one request per connection */
}

static void accept_client(struct shim *s)
{
	int fd = accept4(s->ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (size_t i = 0; i < SHIM_MAX_CLIENTS; i++) {
		if (s->clients[i].kind == CLIENT_FREE) {
			s->clients[i] =
			    (struct client){.kind = CLIENT_REQUEST, .fd = fd, .in = STRBUF_INIT};
			return;
		}
	}
	const char *busy = "{\"ok\":false,\"error\":\"too many clients\"}\n";
	ssize_t w = send(fd, busy, strlen(busy), MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)w;
	close(fd);
}

/* --- console --------------------------------------------------------------------- */

static void became_ready(struct shim *s)
{
	s->ready = true;
	long long ms = mono_ms() - s->t0;
	json_object_set_new(s->rec, "boot_ms", json_integer(ms));
	_cleanup_free_ char *now = json_now_rfc3339();
	json_object_set_new(s->rec, "ready_at", json_string(now));
	set_state(s, "running");
	notify(s, "ready %lld", ms);
	if (!s->ephemeral)
		notify_close(s);
	strbuf_release(&s->line);
}

static void scan_ready(struct shim *s, const char *buf, size_t n)
{
	for (size_t i = 0; i < n && !s->ready; i++) {
		char ch = buf[i];
		if (ch == '\n') {
			if (strstr(s->line.buf, s->ready_line)) {
				/* Anything in the guest can print this line: with an
				 * agent channel, only the agent's READY counts (ready
				 * means `exec` works and the services have started). */
				s->console_ready = true;
				if (s->relay.agent_fd < 0)
					became_ready(s);
			}
			strbuf_reset(&s->line);
		} else if (ch != '\r' && s->line.len < SHIM_LINE_MAX) {
			strbuf_addch(&s->line, ch);
		}
	}
}

static void log_console(struct shim *s, const char *buf, size_t n)
{
	if (s->log_fd < 0)
		return;
	if (s->log_size + (off_t)n > (off_t)SHIM_CONSOLE_MAX) {
		/* keep one previous generation */
		_cleanup_free_ char *old = xasprintf("%s.1", s->log_path);
		rename(s->log_path, old);
		close(s->log_fd);
		s->log_fd =
		    open(s->log_path,
			 O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
		s->log_size = 0;
		if (s->log_fd < 0)
			return;
	}
	for (size_t off = 0; off < n;) {
		ssize_t w = write(s->log_fd, buf + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	s->log_size += (off_t)n;
}

/* 0: more may come; -1: the console closed. */
static int console_readable(struct shim *s)
{
	char buf[65536];
	ssize_t n = read(s->vm.console_fd, buf, sizeof(buf));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -1;
	if (n == 0)
		return -1;
	log_console(s, buf, (size_t)n);
	for (size_t i = 0; i < SHIM_MAX_CLIENTS; i++)
		if (s->clients[i].kind == CLIENT_ATTACH)
			client_send(&s->clients[i], buf, (size_t)n);
	if (!s->ready)
		scan_ready(s, buf, (size_t)n);
	return 0;
}

static void drain_console(struct shim *s)
{
	if (s->vm.console_fd < 0)
		return;
	int fl = fcntl(s->vm.console_fd, F_GETFL);
	fcntl(s->vm.console_fd, F_SETFL, fl | O_NONBLOCK);
	while (console_readable(s) == 0) {
		struct pollfd p = {.fd = s->vm.console_fd, .events = POLLIN};
		if (poll(&p, 1, 0) <= 0)
			break;
	}
}

/* --- lifecycle --------------------------------------------------------------------- */

static void finish(struct shim *s, const char *reason)
{
	drain_console(s);
	_cleanup_free_ char *now = json_now_rfc3339();
	json_object_set_new(s->rec, "exit_reason", json_string(reason));
	json_object_set_new(s->rec, "exited_at", json_string(now));
	if (s->vm.exited)
		json_object_set_new(s->rec, "vmm_exit_status", json_integer(s->vm.exit_status));
	set_state(s, "exited");
	if (!s->ready)
		notify(s, "error %s", reason);
	notify_close(s);
	for (size_t i = 0; i < SHIM_MAX_CLIENTS; i++) {
		struct client *c = &s->clients[i];
		if (c->kind == CLIENT_STOP_WAIT)
			client_reply(c, json_pack("{s:b, s:s}", "ok", true, "exit_reason", reason));
		if (c->kind != CLIENT_FREE)
			client_close(s, c);
	}
	s->done = true;
}

static void begin_stop(struct shim *s, const char *why)
{
	if (s->stop_requested)
		return;
	s->stop_requested = true;
	set_state(s, "stopping");
	/* graceful: the agent's orderly power-off (services stopped, disks synced),
	 * else the power button; then the VMM's quit; then SIGKILL */
	int grace = SHIM_STOP_GRACE_MS;
	if (json_is_true(json_object_get(s->rec, "paused"))) {
		/* a paused guest cannot shut down: let it run for its power-off */
		struct err re = ERR_INIT;
		if (s->b->resume(&s->vm, &re) == 0)
			json_object_set_new(s->rec, "paused", json_false());
		err_release(&re);
	}
	if (s->agent_hello && agent_send(s, PROTO_SHUTDOWN, NULL, 0) == 0) {
		long long deadline = mono_ms() + SHIM_AGENT_STOP_MS;
		while (!vmm_reap(&s->vm, false) && mono_ms() < deadline) {
			struct pollfd p[2] = {
			    {.fd = s->vm.pidfd, .events = POLLIN},
			    {.fd = s->relay.agent_fd,
			     .events = frameq_pending(&s->relay.to_agent) ? POLLOUT : 0}};
			poll(p, 2, (int)(deadline - mono_ms()));
			relay_agent_flush(&s->relay);
			drain_console(s);
		}
		grace = 0;
	}
	struct err e = ERR_INIT;
	s->b->stop(&s->vm, grace, &e);
	err_release(&e);
	finish(s, why);
}

/* Appends ": <last line of vmm.log>" when the VMM said something. */
static void vmm_log_tail(const char *name, struct strbuf *out)
{
	_cleanup_free_ char *path = vm_file(name, "vmm.log");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) == 0 && st.st_size > 1024)
		lseek(fd, st.st_size - 1024, SEEK_SET);
	struct strbuf sb = STRBUF_INIT;
	strbuf_read_fd(&sb, fd, 1024);
	close(fd);
	strbuf_rtrim(&sb);
	const char *line = strrchr(sb.buf, '\n');
	line = line ? line + 1 : sb.buf;
	if (*line)
		strbuf_addf(out, ": %s", line);
	strbuf_release(&sb);
}

static void vmm_died(struct shim *s)
{
	vmm_reap(&s->vm, true);
	struct err e = ERR_INIT;
	if (s->vm.event_fd >= 0 && s->b->handle_events)
		s->b->handle_events(&s->vm, &e);
	err_release(&e);
	struct strbuf why = STRBUF_INIT;
	int st = s->vm.exit_status;
	if (s->vm.exit_reason)
		strbuf_addstr(&why, s->vm.exit_reason);
	else if (st > 128)
		strbuf_addf(&why, "the VMM (pid %d) was killed by signal %d (%s)", (int)s->vm.pid,
			    st - 128, strsignal(st - 128));
	else
		strbuf_addf(&why, "the VMM (pid %d) exited with status %d", (int)s->vm.pid, st);
	if (!s->ready) {
		strbuf_addstr(&why, ", before the guest was ready");
		vmm_log_tail(s->name, &why);
	}
	finish(s, why.buf);
	strbuf_release(&why);
}

static void boot_timed_out(struct shim *s)
{
	struct strbuf why = STRBUF_INIT;
	strbuf_addf(&why, "the guest did not report ready ('%s' on the console) within %lld s",
		    s->ready_line, (s->deadline - s->t0) / 1000);
	s->stop_requested = true;
	struct err e = ERR_INIT;
	s->b->stop(&s->vm, 0, &e);
	err_release(&e);
	finish(s, why.buf);
	strbuf_release(&why);
}

static void agent_close(struct shim *s)
{
	relay_agent_lost(&s->relay, "the guest agent's channel closed (the VM stopped?)");
	closep(&s->vm.agent_fd);
	s->vm.agent_fd = -1;
	if (s->console_ready && !s->ready)
		became_ready(s);
}

/* A connection-level frame (stream 0) to the guest, queued behind session traffic. */
static int agent_send(struct shim *s, uint8_t type, const void *payload, size_t len)
{
	return relay_agent_send(&s->relay, type, 0, payload, len);
}

static void agent_hello(struct shim *s)
{
	relay_init(&s->relay, s->vm.agent_fd);
	if (s->vm.agent_fd < 0)
		return;
	fcntl(s->vm.agent_fd, F_SETFL, fcntl(s->vm.agent_fd, F_GETFL) | O_NONBLOCK);
	uint8_t p[PROTO_HELLO_MAX];
	int n = proto_nonce_new(s->nonce) < 0
		    ? -1
		    : proto_hello_ours("mvmctl-shim " MVM_VERSION, s->nonce, p, sizeof(p));
	if (n < 0 || agent_send(s, PROTO_HELLO, p, (size_t)n) < 0)
		agent_close(s);
}

/* After a restore the guest is parked (snapshot mode): it becomes this VM
 * when it gets its identity. A fresh seed each time: no two VMs restored
 * from one snapshot share their randomness. */
#define WAKE_PING "wake"

/* The VM's environment (spec.json "env"), before its identity: the guest
 * starts its services once the identity is applied. */
static int send_env(struct shim *s)
{
	json_t *env = json_object_get(s->spec, "env");
	size_t n = json_array_size(env);
	if (!n)
		return 0;
	const char **v = xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = json_string_value(json_array_get(env, i));
	uint8_t *p = xmalloc(PROTO_MAX_PAYLOAD);
	int len = proto_env_encode(v, p, PROTO_MAX_PAYLOAD);
	int r = len < 0 ? -EINVAL : agent_send(s, PROTO_ENV, p, (size_t)len);
	explicit_bzero(p, PROTO_MAX_PAYLOAD);
	free(p);
	free(v);
	return r;
}

static void send_identity(struct shim *s)
{
	if (!s->wake && send_env(s) < 0)
		return; /* no identity without its environment: the boot times out, truthfully */
	uint8_t seed[64];
	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		return; /* no identity without a seed: the boot times out, truthfully */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct proto_identity id = {
	    .realtime_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec,
	    .seed = seed,
	    .seed_len = sizeof(seed),
	    .hostname = vm_hostname(s->name),
	};
	uint8_t p[512];
	int n = proto_identity_encode(&id, p, sizeof(p));
	explicit_bzero(seed, sizeof(seed));
	if (n > 0 && agent_send(s, s->wake ? PROTO_WAKE : PROTO_IDENTITY, p, (size_t)n) == 0 &&
	    (!s->wake || agent_send(s, PROTO_PING, WAKE_PING, strlen(WAKE_PING)) == 0))
		s->identity_sent = true;
	explicit_bzero(p, sizeof(p));
}

static void agent_became_ready(struct shim *s)
{
	if (s->ready)
		return;
	json_object_set_new(s->rec, "ready_source", json_string("agent"));
	became_ready(s);
}

int shim_hello_record(json_t *rec, const uint8_t nonce[PROTO_NONCE_SIZE], const uint8_t *payload,
		      size_t len)
{
	struct proto_hello h;
	int ours = proto_hello_answers(payload, len, nonce, &h);
	if (ours < 0)
		return -EINVAL;
	if (!ours)
		return -ESTALE;
	/* the guest's words: printable text only (a NUL would make the record
	 * unreadable), and written only when it changes (a guest repeating
	 * HELLO must not drive fsyncs) */
	struct strbuf name = STRBUF_INIT;
	strbuf_add_printable(&name, h.agent, h.agent_len > 64 ? 64 : h.agent_len);
	const char *was = json_get_str(rec, "agent");
	bool changed = !was || strcmp(was, name.buf);
	if (changed)
		json_object_set_new(rec, "agent", json_string(name.buf));
	strbuf_release(&name);
	return changed;
}

/* A connection-level frame from the guest (sessions are the relay's). */
static void agent_frame(void *ctx, const struct proto_frame *f)
{
	struct shim *s = ctx;
	if (f->type == PROTO_HELLO) {
		/* One HELLO a connection: the guest answers ours once, with our
		 * nonce. One with another nonce answered an earlier host (left in
		 * the guest's queue, or in a snapshot's memory); more are a
		 * guest's noise, and must cost no record write each. */
		int changed =
		    s->agent_hello ? -1 : shim_hello_record(s->rec, s->nonce, f->payload, f->len);
		if (changed >= 0) {
			s->agent_hello = true;
			if (s->ready && changed)
				record(s);
			if ((s->restored || s->parked_boot) && !s->identity_sent)
				send_identity(s);
		}
	} else if (!s->agent_hello) {
		/* before the guest's HELLO with our nonce: queued for an
		 * earlier host (a READY among them says nothing of this one) */
	} else if (f->type == PROTO_READY) {
		s->agent_ready = true;
		if (!s->wake || s->wake_applied)
			agent_became_ready(s);
	} else if (f->type == PROTO_PONG && s->wake && f->len == strlen(WAKE_PING) &&
		   !memcmp(f->payload, WAKE_PING, f->len)) {
		s->wake_applied = true;
		if (s->agent_ready)
			agent_became_ready(s);
	}
}

static void agent_readable(struct shim *s)
{
	if (relay_agent_readable(&s->relay, agent_frame, s) < 0)
		agent_close(s);
}

static void signal_readable(struct shim *s)
{
	struct signalfd_siginfo si;
	while (read(s->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT || si.ssi_signo == SIGHUP) {
			struct strbuf why = STRBUF_INIT;
			strbuf_addf(&why, "the supervisor got %s", strsignal((int)si.ssi_signo));
			begin_stop(s, why.buf);
			strbuf_release(&why);
		}
	}
}

static int ctl_listen(struct shim *s, const char *run_dir, struct err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", run_dir, SHIM_CTL_NAME);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return err_set(e, -ENAMETOOLONG, EXIT_FAILED, "control socket path too long");
	s->ctl_path = xstrdup(sa.sun_path);
	unlink(sa.sun_path);
	s->ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->ctl_fd < 0)
		return err_sys(e, -errno, EXIT_FAILED, "socket");
	mode_t old = umask(077);
	int r = bind(s->ctl_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(s->ctl_fd, 16) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "listening on '%s'", sa.sun_path);
	return 0;
}

/* Builds the VMM configuration from spec.json. Strings point into s->spec. */
static int load_config(struct shim *s, struct vmm_config *cfg, struct vmm_port **ports,
		       struct vmm_drive **drives, struct err *e)
{
	json_t *sp = s->spec;
	*cfg = (struct vmm_config){.name = s->name};
	cfg->kernel = json_get_str(sp, "kernel");
	cfg->initrd = json_get_str(sp, "initrd");
	cfg->rootfs = json_get_str(sp, "rootfs");
	cfg->cmdline = json_get_str(sp, "cmdline");
	cfg->vcpus = (unsigned)json_get_int(sp, "vcpus", VM_DEFAULT_VCPUS);
	cfg->mem_mib = (uint64_t)json_get_int(sp, "mem_mib", VM_DEFAULT_MEM_MIB);
	cfg->agent = json_is_true(json_object_get(sp, "agent"));
	cfg->mem_file = json_get_str(sp, "mem_file"); /* shared: the VM can sleep */
	cfg->die_with_parent = true;
	const char *accel = json_get_str(sp, "accel");
	if (!accel || vmm_accel_parse(accel, &cfg->accel) < 0 || cfg->accel == VMM_ACCEL_AUTO)
		return err_set(e, -EINVAL, EXIT_FAILED, "spec.json: accel must be kvm or tcg");
	json_t *pa = json_object_get(sp, "ports");
	size_t np = json_array_size(pa);
	*ports = xcalloc(np + 1, sizeof(**ports));
	for (size_t i = 0; i < np; i++) {
		const char *p = json_string_value(json_array_get(pa, i));
		int r = vmm_port_parse(p ? p : "", &(*ports)[i], e);
		if (r < 0)
			return err_prefix(e, r, "spec.json");
	}
	cfg->ports = *ports;
	cfg->n_ports = np;
	json_t *da = json_object_get(sp, "drives");
	size_t nd = json_array_size(da);
	*drives = xcalloc(nd + 1, sizeof(**drives));
	for (size_t i = 0; i < nd; i++) {
		json_t *d = json_array_get(da, i);
		(*drives)[i].path = json_get_str(d, "path");
		(*drives)[i].read_only = json_is_true(json_object_get(d, "read_only"));
		if (!(*drives)[i].path)
			return err_set(e, -EINVAL, EXIT_FAILED, "spec.json: a drive has no path");
	}
	cfg->drives = *drives;
	cfg->n_drives = nd;
	const char *net = json_get_str(sp, "network");
	if (net && vmm_net_parse(net, &cfg->net) < 0)
		return err_set(e, -EINVAL, EXIT_FAILED, "spec.json: unknown network '%s'", net);
	json_t *al = json_object_get(sp, "allow");
	size_t na = json_array_size(al);
	s->allow = xcalloc(na + 1, sizeof(*s->allow));
	for (size_t i = 0; i < na; i++) {
		const char *a = json_string_value(json_array_get(al, i));
		int r = vmm_allow_parse(a ? a : "", &s->allow[i], e);
		if (r < 0)
			return err_prefix(e, r, "spec.json");
	}
	cfg->allow = s->allow;
	cfg->n_allow = na;
	if (na) { /* QEMU runs us as the relay of each allowed connection */
		char buf[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
		if (n <= 0)
			return err_sys(e, -errno, EXIT_FAILED, "finding the mvmctl executable");
		buf[n] = '\0';
		s->exe = xstrdup(buf);
		cfg->proxy_exe = s->exe;
	}
	if (!cfg->kernel || !cfg->rootfs)
		return err_set(e, -EINVAL, EXIT_FAILED, "spec.json: kernel and rootfs are needed");
	return 0;
}

/* Restores the revision's snapshot when spec.json asks for it, else (or
 * when that fails: a warning, then) boots cold. */
static int start_vmm(struct shim *s, struct vmm_config *cfg, struct err *e)
{
	json_t *rs = json_object_get(s->spec, "restore");
	const char *dir = json_get_str(rs, "dir");
	if (dir && s->b->restore) {
		struct vmm_config rc = *cfg;
		rc.mem_file = json_get_str(rs, "mem_file");
		rc.mem_private = !json_is_true(json_object_get(rs, "shared"));
		s->wake = json_is_true(json_object_get(rs, "wake"));
		struct err re = ERR_INIT;
		int r = s->b->restore(&s->vm, &rc, dir, &re);
		if (r == 0 && (r = s->b->resume(&s->vm, &re)) < 0)
			vmm_release(&s->vm);
		if (r == 0) {
			s->restored = true;
			json_object_set_new(s->rec, "started_from", json_string("snapshot"));
			notify(s, "restored");
			err_release(&re);
			return 0;
		}
		notify(s, "warning restoring the snapshot failed (%s): cold boot", re.msg);
		json_object_set_new(s->rec, "restore_error", json_string(re.msg ? re.msg : "?"));
		err_release(&re);
		s->vm = (struct vmm_vm)VMM_VM_INIT;
	}
	json_object_set_new(s->rec, "started_from", json_string("cold"));
	return s->b->start(&s->vm, cfg, e);
}

static void shim_release(struct shim *s)
{
	for (size_t i = 0; i < SHIM_MAX_CLIENTS; i++)
		if (s->clients[i].kind != CLIENT_FREE)
			client_close(s, &s->clients[i]);
	vmm_release(&s->vm);
	if (s->ctl_path)
		unlink(s->ctl_path);
	const char *run = s->spec ? json_get_str(s->spec, "run_dir") : NULL;
	if (run)
		rmdir(run);
	closep(&s->ctl_fd);
	closep(&s->sig_fd);
	closep(&s->log_fd);
	json_t *rm = s->spec ? json_object_get(s->spec, "remove_on_exit") : NULL;
	for (size_t i = 0; s->done && i < json_array_size(rm); i++) {
		const char *f = json_string_value(json_array_get(rm, i));
		if (f)
			unlink(f);
	}
	if (s->ephemeral && s->done) {
		/* nothing of it stays: the directory goes while the lock is held */
		struct err e = ERR_INIT;
		vm_dir_discard(s->name, &e);
		err_release(&e);
	}
	notify_close(s);
	json_decref(s->rec);
	json_decref(s->spec);
	free(s->allow);
	free(s->exe);
	strbuf_release(&s->line);
	relay_release(&s->relay);
	free(s->log_path);
	free(s->ctl_path);
	free(s->name);
	/* the lock goes last: whoever takes it next finds the final record */
	closep(&s->lock_fd);
}

static void loop(struct shim *s)
{
	while (!s->done) {
		struct pollfd p[7 + SHIM_MAX_CLIENTS];
		enum { P_SIG, P_PID, P_CON, P_EV, P_AGENT, P_CTL, P_OWNER, P_CLIENTS };
		p[P_SIG] = (struct pollfd){.fd = s->sig_fd, .events = POLLIN};
		p[P_PID] = (struct pollfd){.fd = s->vm.pidfd, .events = POLLIN};
		p[P_CON] = (struct pollfd){.fd = s->vm.console_fd, .events = POLLIN};
		p[P_EV] = (struct pollfd){.fd = s->vm.event_fd, .events = POLLIN};
		p[P_AGENT] = (struct pollfd){
		    .fd = s->vm.agent_fd,
		    .events = POLLIN | (frameq_pending(&s->relay.to_agent) ? POLLOUT : 0)};
		p[P_CTL] = (struct pollfd){.fd = s->ctl_fd, .events = POLLIN};
		/* the write end of a pipe reports POLLERR once its reader is gone */
		p[P_OWNER] = (struct pollfd){.fd = s->ephemeral ? s->notify_fd : -1, .events = 0};
		bool accepting = relay_accepting(&s->relay);
		for (size_t i = 0; i < SHIM_MAX_CLIENTS; i++) {
			struct client *c = &s->clients[i];
			short ev = POLLIN;
			if (c->kind == CLIENT_EXEC) /* backpressure: the guest's queue first */
				ev = (accepting ? POLLIN : 0) |
				     (frameq_pending(&c->peer->out) ? POLLOUT : 0);
			p[P_CLIENTS + i] = (struct pollfd){
			    .fd = c->kind == CLIENT_FREE ? -1 : c->fd, .events = ev};
		}
		int timeout = -1;
		if (!s->ready) {
			long long left = s->deadline - mono_ms();
			timeout = left > 0 ? (int)left : 0;
		} else if (s->fence) {
			long long left = s->fence_next - mono_ms();
			timeout = left > 0 ? (int)left : 0;
		}
		int n = poll(p, ARRAY_SIZE(p), timeout);
		if (n < 0 && errno != EINTR)
			break;
		if (n == 0 && !s->ready) {
			boot_timed_out(s);
			break;
		}
		fence_tick(s);
		if (n <= 0)
			continue;
		if (p[P_SIG].revents)
			signal_readable(s);
		if (!s->done && p[P_CON].revents && console_readable(s) < 0) {
			closep(&s->vm.console_fd);
			s->vm.console_fd = -1;
		}
		if (!s->done && p[P_EV].revents && s->b->handle_events) {
			struct err e = ERR_INIT;
			s->b->handle_events(&s->vm, &e);
			err_release(&e);
		}
		if (!s->done && (p[P_AGENT].revents & POLLOUT))
			relay_agent_flush(&s->relay);
		if (!s->done && (p[P_AGENT].revents & ~POLLOUT))
			agent_readable(s);
		if (!s->done && p[P_CTL].revents)
			accept_client(s);
		if (!s->done && p[P_OWNER].revents) {
			notify_close(s);
			begin_stop(s, "the ephemeral VM's owner (mvmctl run or exec) went away");
		}
		for (size_t i = 0; i < SHIM_MAX_CLIENTS && !s->done; i++) {
			struct client *c = &s->clients[i];
			short rev = p[P_CLIENTS + i].revents;
			if (!rev || c->kind == CLIENT_FREE || c->fd != p[P_CLIENTS + i].fd)
				continue;
			if (c->kind == CLIENT_EXEC && (rev & POLLOUT))
				relay_peer_flush(c->peer);
			if (rev & ~POLLOUT)
				client_readable(s, c);
		}
		/* free the slots of clients that are gone or finished */
		for (size_t i = 0; i < SHIM_MAX_CLIENTS && !s->done; i++) {
			struct client *c = &s->clients[i];
			if (c->kind != CLIENT_FREE &&
			    (c->fd < 0 || (c->peer && relay_peer_finished(c->peer))))
				client_close(s, c);
		}
		if (!s->done && p[P_PID].revents)
			vmm_died(s);
	}
}

int shim_main(const char *name, int notify_fd, int lock_fd, struct err *e)
{
	/* detach: the first process returns (its parent, `up`, reaps it); the second
	 * is no session leader, so it can never acquire a controlling terminal */
	pid_t pid = fork();
	if (pid < 0)
		return err_sys(e, -errno, EXIT_FAILED, "fork");
	if (pid > 0) {
		close(notify_fd);
		close(lock_fd);
		return 0;
	}
	umask(077);
	if (chdir("/") < 0) {
		/* nothing depends on the working directory */
	}
	struct shim s = {.notify_fd = notify_fd,
			 .lock_fd = lock_fd,
			 .sig_fd = -1,
			 .ctl_fd = -1,
			 .log_fd = -1,
			 .vm = VMM_VM_INIT,
			 .relay = {.agent_fd = -1},
			 .line = STRBUF_INIT,
			 .ready_line = VM_READY_LINE};
	for (size_t i = 0; i < SHIM_MAX_CLIENTS; i++)
		s.clients[i].fd = -1;
	s.name = xstrdup(name);
	fcntl(notify_fd, F_SETFD, FD_CLOEXEC);
	fcntl(lock_fd, F_SETFD, FD_CLOEXEC);
	char pidline[32];
	int pl = snprintf(pidline, sizeof(pidline), "%d\n", (int)getpid());
	if (ftruncate(lock_fd, 0) == 0 && pwrite(lock_fd, pidline, (size_t)pl, 0) < 0) {
		/* informational only */
	}

	struct vmm_port *ports = NULL;
	struct vmm_drive *drives = NULL;
	struct vmm_config cfg;
	struct err se = ERR_INIT;
	int r;
	_cleanup_free_ char *spec_path = vm_file(name, "spec.json");
	_cleanup_free_ char *rec_path = vm_file(name, "vm.json");
	_cleanup_free_ char *vmm_log = NULL;
	if ((r = json_read_file(spec_path, &s.spec, &se)) < 0 ||
	    (r = json_read_file(rec_path, &s.rec, &se)) < 0)
		goto fail_early;
	json_object_set_new(s.rec, "shim_pid", json_integer(getpid()));
	json_object_set_new(s.rec, "shim_start",
			    json_integer((json_int_t)proc_starttime(getpid())));
	const char *bname = json_get_str(s.spec, "backend");
	s.b = bname ? vmm_backend_find(bname) : NULL;
	if (!s.b) {
		r = err_set(&se, -ENOENT, EXIT_FAILED, "unknown backend '%s'", bname ? bname : "");
		goto fail;
	}
	if ((r = load_config(&s, &cfg, &ports, &drives, &se)) < 0)
		goto fail;
	s.ephemeral = json_is_true(json_object_get(s.spec, "ephemeral"));
	s.parked_boot = json_is_true(json_object_get(s.spec, "parked_boot"));
	s.fence = json_get_str(s.spec, "fence");
	s.log_path = vm_file(name, "console.log");
	s.log_fd = open(s.log_path,
			O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (s.log_fd < 0) {
		r = err_sys(&se, -errno, EXIT_FAILED, "opening '%s'", s.log_path);
		goto fail;
	}
	vmm_log = vm_file(name, "vmm.log");
	cfg.vmm_log = vmm_log;

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	s.sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s.sig_fd < 0) {
		r = err_sys(&se, -errno, EXIT_FAILED, "signalfd");
		goto fail;
	}
	const char *run_dir = json_get_str(s.spec, "run_dir");
	if (!run_dir) {
		r = err_set(&se, -EINVAL, EXIT_FAILED, "spec.json has no run_dir");
		goto fail;
	}
	if ((r = ctl_listen(&s, run_dir, &se)) < 0)
		goto fail;

	record(&s);
	s.t0 = mono_ms();
	s.deadline = s.t0 + json_get_int(s.spec, "boot_timeout_ms", VM_BOOT_TIMEOUT_MS);
	if ((r = start_vmm(&s, &cfg, &se)) < 0)
		goto fail;
	json_object_set_new(s.rec, "vmm_pid", json_integer(s.vm.pid));
	json_object_set_new(s.rec, "vmm_start", json_integer((json_int_t)proc_starttime(s.vm.pid)));
	record(&s);
	agent_hello(&s);
	notify(&s, "started %d", (int)getpid());
	loop(&s);
	goto out;

fail:
	finish(&s, se.msg ? se.msg : "the start failed");
	goto out;
fail_early:
	/* no record to write: tell `up` and go */
	notify(&s, "error %s", se.msg ? se.msg : "cannot read the VM's spec");
out:
	err_release(&se);
	free(ports);
	free(drives);
	shim_release(&s);
	return 0;
}
