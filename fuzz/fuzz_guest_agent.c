/* libFuzzer harness for mvm-init's side of the agent protocol
 * (src/guest/agent.c, included for its static state and functions, with
 * src/guest/vmenv.c compiled in): the input is what the host sends on the
 * virtio-serial port, written in chunks (sizes from the first byte, which
 * also says whether the guest is parked) into a socketpair that stands for
 * the port, and read by the guest's own port_read, which decodes and
 * dispatches every frame: HELLO, IDENTITY, WAKE, ENV, PING, EXEC, STDIN,
 * WINDOW, RESIZE, SIGNAL, malformed ones. What the guest answers is read
 * and dropped.
 *
 * No process is started and no signal sent: fork() returns a made-up pid
 * (every third call fails), kill() does nothing, and the calls into the rest
 * of mvm-init (identity, services, the event loop) are stubs. An exec
 * session thus gets real pipes (its stdin's reader gone: EPIPE), and one
 * session on stream 7 is made up front with a stdin pipe the harness reads,
 * so that STDIN frames reach write_stdin. Nothing may crash or leak; the
 * output queue stays within its bounds.
 *
 *   make fuzz && build/fuzz/fuzz_guest_agent fuzz/corpus/guest_agent
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

static pid_t fake_fork(void);
static int fake_kill(pid_t pid, int sig);
#define fork fake_fork
#define kill fake_kill
#include "../src/guest/agent.c"
#undef fork
#undef kill

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned forks;
static uint64_t clock_ms;

static pid_t fake_fork(void)
{
	if (++forks % 3 == 0) {
		errno = EAGAIN;
		return -1;
	}
	return (pid_t)(4000000 + forks);
}

static int fake_kill(pid_t pid, int sig)
{
	(void)pid;
	(void)sig;
	return 0;
}

/* --- the rest of mvm-init, as stubs ------------------------------------------ */

void log_msg(const char *fmt, ...)
{
	(void)fmt;
}

void fatal(const char *fmt, ...)
{
	(void)fmt;
	abort();
}

int loop_add(struct watch *w, uint32_t events)
{
	(void)w;
	(void)events;
	return 0;
}

int loop_mod(struct watch *w, uint32_t events)
{
	(void)w;
	(void)events;
	return 0;
}

void loop_del(struct watch *w)
{
	(void)w;
}

void timer_want(uint64_t at_ms)
{
	(void)at_ms;
}

uint64_t now_ms(void)
{
	return clock_ms += 1000;
}

void identity_apply(const struct proto_identity *id)
{
	(void)id;
}

void wake_apply(const struct proto_identity *id)
{
	(void)id;
}

void identity_ready(void)
{
}

bool services_ready(void)
{
	return true;
}

void shutdown_request(const char *why)
{
	(void)why;
}

char *guest_which(const char *prog, char *const *env)
{
	(void)env;
	return prog && prog[0] == '/' ? strdup(prog) : NULL;
}

/* --- the harness ------------------------------------------------------------- */

static void drain(int fd)
{
	static uint8_t sink[1 << 16];
	while (read(fd, sink, sizeof(sink)) > 0)
		;
}

/* A session on stream 7 whose stdin pipe the harness reads (its read end in *rd). */
static void add_session(int *rd)
{
	int p[2];
	*rd = -1;
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return;
	struct session *s = calloc(1, sizeof(*s));
	s->id = 7;
	s->in.fd = p[1];
	s->in.fn = on_in;
	s->in.data = s;
	s->out.fd = s->err.fd = -1;
	s->out_eof = s->err_eof = true;
	s->in_granted = PROTO_INITIAL_WINDOW;
	ag.sessions[0] = s;
	*rd = p[0];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	if (!init) {
		signal(SIGPIPE, SIG_IGN);
		init = true;
	}
	if (!size)
		return 0;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	forks = 0;
	ag.parked = data[0] & 1;
	ag.identified = ag.hello = ag.garbage = false;
	ag.hello_fresh = false;
	ag.decbuf = decbuf;
	ag.outq = outq;
	ag.out_off = ag.out_len = 0;
	proto_decoder_init(&ag.dec, decbuf, sizeof(decbuf));
	ag.port.fd = sv[0];
	int in_rd;
	add_session(&in_rd);

	size_t off = 0, chunk = (size_t)(data[0] >> 1) * 37 + 1;
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		ssize_t w = send(sv[1], data + off, n, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
		port_read();
		if (ag.out_len > OUTQ_CAP || ag.out_off > ag.out_len)
			abort();
		drain(sv[1]);
		if (in_rd >= 0 && (data[off - 1] & 1))
			drain(in_rd);
		agent_after_round();
		drain(sv[1]);
	}
	/* the processes end: what a session still has is flushed, then EXIT */
	for (int i = 0; i < MAX_SESSIONS; i++)
		if (ag.sessions[i] && ag.sessions[i]->pid > 0)
			agent_reap(ag.sessions[i]->pid, 0);
	agent_timer();
	drain(sv[1]);
	agent_timer();
	kill_all_sessions();
	agent_after_round();
	ag.port.fd = -1;
	close(sv[0]);
	close(sv[1]);
	if (in_rd >= 0)
		close(in_rd);
	vm_env_set(0, NULL);
	return 0;
}
