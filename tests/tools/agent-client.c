/* Test helper and reference host side of the agent protocol: talks to
 * mvm-init through QEMU's Unix-socket chardev of the org.mvm.agent port.
 *
 *   agent-client SOCK hello                 prints "agent=<name>" (+ "ready" if already ready)
 *   agent-client SOCK wait-ready            waits for READY (exit 0) — bounded by --timeout
 *   agent-client SOCK ping                  prints "pong"
 *   agent-client SOCK garbage               sends malformed bytes, then a ping: prints the
 *                                           ERROR frames and "pong" (the agent still serves)
 *   agent-client SOCK shutdown
 *   agent-client SOCK exec [-i] [-t] [-e K=V]… [-w DIR] -- ARGV…
 *                                           runs ARGV; stdout/stderr stream to ours; exits
 *                                           with the guest's status (128+N for a signal);
 *                                           -t: on a guest pty of 30 rows x 100 columns
 *   --timeout S (before the verb, default 30): give up with status 124.
 *   --signal-after MS SIG (exec): forward SIG after MS milliseconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto/agent.h"

static int sock = -1;
static uint8_t rbuf[2 * PROTO_MAX_FRAME];
static struct proto_decoder dec;
static long long deadline_ms;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *msg)
{
	fprintf(stderr, "agent-client: %s\n", msg);
	exit(125);
}

static void send_all(const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = write(sock, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("write to agent socket failed");
		}
		b += w;
		n -= (size_t)w;
	}
}

static void send_frame(uint8_t type, uint32_t stream, const void *payload, size_t len)
{
	static uint8_t f[PROTO_MAX_FRAME];
	int n = proto_encode(f, sizeof(f), type, stream, payload, len);
	if (n < 0)
		die("frame too large");
	send_all(f, (size_t)n);
}

/* Waits for the next frame (bounded by the deadline); polls extra fd too when >= 0.
 * Returns 1 with a frame, 2 when extra is readable, 0 when wake_ms (if > 0)
 * passed; exits 124 on timeout. */
static int next_frame_until(struct proto_frame *f, int extra, long long wake_ms)
{
	for (;;) {
		int r = proto_decoder_next(&dec, f);
		if (r > 0)
			return 1;
		if (r < 0) {
			fprintf(stderr, "agent-client: malformed frame from the guest (%d)\n", -r);
			continue;
		}
		long long left = deadline_ms - now_ms();
		if (left <= 0) {
			fprintf(stderr, "agent-client: timed out\n");
			exit(124);
		}
		if (wake_ms > 0) {
			if (now_ms() >= wake_ms)
				return 0;
			if (wake_ms - now_ms() < left)
				left = wake_ms - now_ms();
		}
		struct pollfd p[2] = {{.fd = sock, .events = POLLIN}, {.fd = extra, .events = POLLIN}};
		int n = poll(p, extra >= 0 ? 2 : 1, (int)(left > 1000 ? 1000 : left));
		if (n < 0 && errno != EINTR)
			die("poll failed");
		if (n <= 0)
			continue;
		if (extra >= 0 && (p[1].revents & (POLLIN | POLLHUP)))
			return 2;
		if (p[0].revents & (POLLIN | POLLHUP)) {
			size_t room;
			uint8_t *sp = proto_decoder_space(&dec, &room);
			ssize_t got = read(sock, sp, room);
			if (got <= 0)
				die("the agent closed the connection");
			proto_decoder_commit(&dec, (size_t)got);
		}
	}
}

static int next_frame(struct proto_frame *f, int extra)
{
	return next_frame_until(f, extra, 0);
}

static void print_error(const struct proto_frame *f)
{
	struct proto_error e;
	if (proto_error_decode(f->payload, f->len, &e) == 0)
		printf("error stream=%u code=%u: %.*s\n", f->stream, e.code, (int)e.msg_len, e.msg);
}

static bool ready_seen;
static bool show_agent = true;

static void hello(void)
{
	struct proto_hello h = {.min_version = 1, .max_version = 1,
				.max_payload = PROTO_MAX_PAYLOAD, .agent = "agent-client",
				.agent_len = 12};
	uint8_t p[64];
	int n = proto_hello_encode(&h, p, sizeof(p));
	send_frame(PROTO_HELLO, 0, p, (size_t)n);
	struct proto_frame f;
	for (;;) {
		next_frame(&f, -1);
		if (f.type == PROTO_HELLO) {
			struct proto_hello g;
			if (proto_hello_decode(f.payload, f.len, &g) < 0)
				die("malformed hello from the guest");
			if (show_agent)
				printf("agent=%.*s\n", (int)g.agent_len, g.agent);
			return;
		}
		if (f.type == PROTO_READY)
			ready_seen = true;
		else if (f.type == PROTO_ERROR)
			print_error(&f);
	}
}

static void ping(void)
{
	send_frame(PROTO_PING, 0, "mvm", 3);
	struct proto_frame f;
	for (;;) {
		next_frame(&f, -1);
		if (f.type == PROTO_PONG && f.len == 3 && !memcmp(f.payload, "mvm", 3)) {
			printf("pong\n");
			return;
		}
		if (f.type == PROTO_ERROR)
			print_error(&f);
		if (f.type == PROTO_READY)
			ready_seen = true;
	}
}

static void grant(uint32_t stream, uint8_t ch, uint32_t n)
{
	struct proto_window w = {.channel = ch, .bytes = n};
	uint8_t p[8];
	int len = proto_window_encode(&w, p, sizeof(p));
	send_frame(PROTO_WINDOW, stream, p, (size_t)len);
}

static int do_exec(int argc, char **argv)
{
	const char *env[64];
	size_t nenv = 0;
	const char *cwd = NULL;
	bool in = false, tty = false;
	long long sig_after = -1;
	int sig = 0;
	int i = 0;
	for (; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "-i"))
			in = true;
		else if (!strcmp(argv[i], "-t"))
			tty = true;
		else if (!strcmp(argv[i], "-e") && i + 1 < argc && nenv < 63)
			env[nenv++] = argv[++i];
		else if (!strcmp(argv[i], "-w") && i + 1 < argc)
			cwd = argv[++i];
		else if (!strcmp(argv[i], "--signal-after") && i + 2 < argc) {
			sig_after = atoll(argv[++i]);
			sig = atoi(argv[++i]);
		} else
			die("exec: unknown option");
	}
	if (i + 1 >= argc)
		die("exec: nothing to run after --");
	env[nenv] = NULL;
	struct proto_exec_spec spec = {.flags = (in ? PROTO_EXEC_STDIN : 0u) |
						 (tty ? PROTO_EXEC_TTY : 0u),
				       .rows = tty ? 30 : 0,
				       .cols = tty ? 100 : 0,
				       .argv = (const char *const *)argv + i + 1,
				       .env = env,
				       .cwd = cwd};
	static uint8_t p[PROTO_MAX_PAYLOAD];
	int n = proto_exec_encode(&spec, p, sizeof(p));
	if (n < 0)
		die("exec: request too large");
	const uint32_t id = 7;
	send_frame(PROTO_EXEC, id, p, (size_t)n);
	uint32_t in_credit = in ? PROTO_INITIAL_WINDOW : 0;
	bool in_open = in;
	long long sig_at = sig_after >= 0 ? now_ms() + sig_after : -1;
	static uint8_t buf[PROTO_MAX_PAYLOAD];
	struct proto_frame f;
	for (;;) {
		if (sig_at >= 0 && now_ms() >= sig_at) {
			uint8_t sp[4];
			proto_u32_encode((uint32_t)sig, sp, sizeof(sp));
			send_frame(PROTO_SIGNAL, id, sp, 4);
			sig_at = -1;
		}
		int r = next_frame_until(&f, in_open && in_credit ? 0 : -1, sig_at);
		if (r == 0)
			continue;
		if (r == 2) {
			size_t want = in_credit < sizeof(buf) ? in_credit : sizeof(buf);
			ssize_t got = read(0, buf, want);
			if (got <= 0) {
				send_frame(PROTO_STDIN, id, NULL, 0);
				in_open = false;
			} else {
				send_frame(PROTO_STDIN, id, buf, (size_t)got);
				in_credit -= (uint32_t)got;
			}
			continue;
		}
		if (f.stream != id && f.type != PROTO_READY && f.type != PROTO_ERROR)
			continue;
		switch (f.type) {
		case PROTO_STDOUT:
		case PROTO_STDERR:
			if (f.len) {
				int fd = f.type == PROTO_STDOUT ? 1 : 2;
				size_t off = 0;
				while (off < f.len) {
					ssize_t w = write(fd, f.payload + off, f.len - off);
					if (w <= 0)
						die("writing output failed");
					off += (size_t)w;
				}
				grant(id, f.type == PROTO_STDOUT ? PROTO_CH_STDOUT : PROTO_CH_STDERR,
				      f.len);
			}
			break;
		case PROTO_WINDOW: {
			struct proto_window w;
			if (proto_window_decode(f.payload, f.len, &w) == 0 &&
			    w.channel == PROTO_CH_STDIN)
				in_credit += w.bytes;
			break;
		}
		case PROTO_ERROR:
			print_error(&f);
			fflush(stdout);
			break;
		case PROTO_EXIT: {
			struct proto_exit x;
			if (proto_exit_decode(f.payload, f.len, &x) < 0)
				die("malformed exit");
			return proto_exit_status(&x);
		}
		default:
			break;
		}
	}
}

int main(int argc, char **argv)
{
	int timeout = 30;
	int a = 1;
	if (a < argc && !strcmp(argv[a], "--timeout") && a + 1 < argc) {
		timeout = atoi(argv[a + 1]);
		a += 2;
	}
	if (argc - a < 2) {
		fprintf(stderr, "usage: agent-client [--timeout S] SOCK hello|wait-ready|ping|garbage|"
				"shutdown|exec …\n");
		return 2;
	}
	deadline_ms = now_ms() + timeout * 1000LL;
	proto_decoder_init(&dec, rbuf, sizeof(rbuf));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(argv[a]) >= sizeof(sa.sun_path))
		die("socket path too long");
	memcpy(sa.sun_path, argv[a], strlen(argv[a]) + 1);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	while (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (now_ms() > deadline_ms)
			die("cannot connect to the agent socket");
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	const char *verb = argv[a + 1];
	show_agent = strcmp(verb, "exec") != 0;
	hello();
	if (!strcmp(verb, "hello")) {
		/* a READY sent right after the HELLO arrives before the PONG */
		show_agent = false;
		send_frame(PROTO_PING, 0, "mvm", 3);
		struct proto_frame f;
		do {
			next_frame(&f, -1);
			if (f.type == PROTO_READY)
				ready_seen = true;
		} while (f.type != PROTO_PONG);
		if (ready_seen)
			printf("ready\n");
		return 0;
	}
	if (!strcmp(verb, "wait-ready")) {
		struct proto_frame f;
		while (!ready_seen) {
			next_frame(&f, -1);
			if (f.type == PROTO_READY)
				ready_seen = true;
		}
		printf("ready\n");
		return 0;
	}
	if (!strcmp(verb, "ping")) {
		ping();
		return 0;
	}
	if (!strcmp(verb, "garbage")) {
		/* junk, a header with a bad version, one with an oversize length, a
		 * frame of an unknown type and an EXEC that does not decode */
		send_all("this is not a frame", 19);
		static const uint8_t badver[12] = {'M', 'V', 9, 2, 0, 0, 0, 0, 0, 0, 0, 0};
		send_all(badver, sizeof(badver));
		static const uint8_t big[12] = {'M', 'V', 1, 2, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff};
		send_all(big, sizeof(big));
		send_frame(99, 0, NULL, 0);
		send_frame(PROTO_EXEC, 5, "\x00\x00\x00\x00", 4);
		ping();
		return 0;
	}
	if (!strcmp(verb, "shutdown")) {
		send_frame(PROTO_SHUTDOWN, 0, NULL, 0);
		return 0;
	}
	if (!strcmp(verb, "exec"))
		return do_exec(argc - a - 2, argv + a + 2);
	die("unknown verb");
}
