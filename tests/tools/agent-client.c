/* Test helper and reference host side of the agent protocol: talks to
 * mvm-init through QEMU's Unix-socket chardev of the org.mvm.agent port.
 *
 *   agent-client SOCK hello                 prints "agent=<name>" (+ "ready" if already ready)
 *   agent-client SOCK wait-ready            waits for READY (exit 0) — bounded by --timeout
 *   agent-client SOCK ping                  prints "pong"
 *   agent-client SOCK garbage               sends malformed bytes, then a ping: prints the
 *                                           ERROR frames and "pong" (the agent still serves)
 *   agent-client SOCK shutdown
 *   agent-client SOCK wait-parked           waits for PARKED (a guest in snapshot mode):
 *                                           prints "parked"
 *   agent-client SOCK identity NAME [SEED_HEX]
 *                                           sends IDENTITY (the host's clock, the seed or 32
 *                                           random bytes, hostname NAME, default network),
 *                                           waits for READY: prints "ready"; an ERROR in
 *                                           answer is printed and exits 1
 *   agent-client SOCK bad-identity          malformed IDENTITY frames, then a ping: prints
 *                                           the ERROR frames and "pong"
 *   agent-client SOCK wake [AHEAD_S [SEED_HEX]]
 *                                           sends WAKE (the host's clock plus AHEAD_S
 *                                           seconds, the seed or 32 random bytes, no
 *                                           hostname), waits for READY: prints "ready"; an
 *                                           ERROR in answer is printed and exits 1
 *   agent-client SOCK bad-wake              the malformed payloads of bad-identity as WAKE
 *                                           frames, then a ping
 *   agent-client SOCK reconnect N [EACH_S]
 *                                           N fresh connections in a row, each a HELLO
 *                                           and its answer within EACH_S seconds (default
 *                                           10), closed before the next: prints "answered
 *                                           N of N"; the first silent one exits 124 naming
 *                                           its number
 *   agent-client SOCK stale N [EACH_S]
 *                                           N rounds of a connection that says HELLO and
 *                                           closes at once, then a fresh one that must take
 *                                           the answer bearing its own nonce: prints
 *                                           "answered N of N" (on stderr how many earlier
 *                                           answers it skipped); a HELLO after the one it
 *                                           took exits 1 naming both nonces
 *   agent-client SOCK cut                   after the HELLO, the first 100 bytes of a
 *                                           1000-byte PING, then closes (a host killed
 *                                           mid-frame)
 *   agent-client SOCK exec [-i] [-t] [-e K=V]… [-w DIR] -- ARGV…
 *                                           runs ARGV; stdout/stderr stream to ours; exits
 *                                           with the guest's status (128+N for a signal);
 *                                           -t: on a guest pty of 30 rows x 100 columns
 *   agent-client --shim CTL.SOCK exec …     the same session through a running VM's
 *                                           supervisor (mvmctl's control socket)
 *   agent-client --shim CTL.SOCK garbage-exec -- ARGV…
 *                                           malformed frames, then exec ARGV: prints the
 *                                           ERROR frames and ARGV's output
 *   --timeout S (before the verb, default 30): give up with status 124.
 *   --any-nonce (before the verb): take the first HELLO as the answer, whatever
 *                                  its nonce (a host before the nonce).
 *   --signal-after MS SIG (exec): forward SIG after MS milliseconds.
 *   --wake-after MS AHEAD_S (exec): send a WAKE (as `wake AHEAD_S`) on the same
 *                                   connection after MS milliseconds, while the
 *                                   session runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto/agent.h"

static int sock = -1;
static const char *sock_path;
static char timeout_what[64]; /* appended to "timed out" */
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

/* Writes all of p. A peer that has closed its end (EPIPE, ECONNRESET) ends the
 * sending only: what it sent before closing (an EXIT after a WINDOW we were
 * still granting) is in our receive buffer and is still read. */
static bool peer_closed;

static void send_all(const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n && !peer_closed) {
		ssize_t w = send(sock, b, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE || errno == ECONNRESET) {
				peer_closed = true;
				return;
			}
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
			fprintf(stderr, "agent-client: timed out%s\n", timeout_what);
			exit(124);
		}
		if (wake_ms > 0) {
			if (now_ms() >= wake_ms)
				return 0;
			if (wake_ms - now_ms() < left)
				left = wake_ms - now_ms();
		}
		struct pollfd p[2] = {{.fd = sock, .events = POLLIN},
				      {.fd = extra, .events = POLLIN}};
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

static bool ready_seen, parked_seen;
static bool show_agent = true;
/* --any-nonce: take the first HELLO as the answer, whatever its nonce, as a
 * host did before the nonce (to show what the nonce prevents) */
static bool any_nonce;
static uint8_t nonce[PROTO_NONCE_SIZE]; /* this connection's */
static long stale_hellos;		/* HELLOs bearing another nonce, skipped */

static void hex(char *out, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void send_hello(void)
{
	uint8_t p[PROTO_HELLO_MAX];
	if (proto_nonce_new(nonce) < 0)
		die("getrandom failed");
	int n = proto_hello_ours("agent-client", nonce, p, sizeof(p));
	send_frame(PROTO_HELLO, 0, p, (size_t)n);
}

/* Says HELLO with a fresh nonce and waits for the answer bearing it: every
 * frame before it, another HELLO answer too, was queued for an earlier host. */
static void hello(void)
{
	send_hello();
	struct proto_frame f;
	for (;;) {
		next_frame(&f, -1);
		if (f.type != PROTO_HELLO)
			continue;
		struct proto_hello g;
		int ours = proto_hello_answers(f.payload, f.len, nonce, &g);
		if (ours < 0)
			die("malformed hello from the guest");
		if (!ours && !any_nonce) {
			stale_hellos++;
			continue;
		}
		if (show_agent)
			printf("agent=%.*s\n", (int)g.agent_len, g.agent);
		return;
	}
}

/* A fresh connection to the agent's socket (QEMU's chardev, a server that
 * takes one client at a time), retried until the deadline. */
static void connect_agent(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(sock_path) >= sizeof(sa.sun_path))
		die("socket path too long");
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		die("socket failed");
	while (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (now_ms() > deadline_ms)
			die("cannot connect to the agent socket");
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	proto_decoder_init(&dec, rbuf, sizeof(rbuf));
	peer_closed = false;
}

/* n fresh connections, each answered within each_s seconds. */
static int do_reconnect(int n, int each_s)
{
	show_agent = false;
	for (int i = 1; i <= n; i++) {
		deadline_ms = now_ms() + each_s * 1000LL;
		if (i > 1) {
			close(sock);
			connect_agent();
		}
		snprintf(timeout_what, sizeof(timeout_what),
			 ": connection %d of %d got no HELLO within %d s", i, n, each_s);
		hello();
	}
	timeout_what[0] = '\0';
	printf("answered %d of %d\n", n, n);
	return 0;
}

/* n rounds of: a host that says HELLO and goes at once, then a fresh one
 * that must take the answer to its own HELLO: after it, nothing but its
 * own frames (READY, the PONG of a ping) until that PONG; a second HELLO
 * there means it took an earlier host's answer for its own. */
static int do_stale(int n, int each_s)
{
	show_agent = false;
	long skipped_before = 0;
	int hit = 0;
	for (int i = 1; i <= n; i++) {
		deadline_ms = now_ms() + each_s * 1000LL;
		close(sock);
		connect_agent();
		send_hello(); /* and gone: its answer is queued with no host */
		close(sock);
		connect_agent();
		snprintf(timeout_what, sizeof(timeout_what),
			 ": connection %d of %d got no HELLO within %d s", i, n, each_s);
		hello();
		if (stale_hellos > skipped_before)
			hit++;
		skipped_before = stale_hellos;
		send_frame(PROTO_PING, 0, "own", 3);
		struct proto_frame f;
		do {
			next_frame(&f, -1);
			if (f.type == PROTO_HELLO) {
				struct proto_hello g;
				char want[2 * PROTO_NONCE_SIZE + 1], got[2 * PROTO_NONCE_SIZE + 1];
				hex(want, nonce, PROTO_NONCE_SIZE);
				if (proto_hello_decode(f.payload, f.len, &g) < 0)
					die("malformed hello from the guest");
				hex(got, g.nonce, PROTO_NONCE_SIZE);
				printf("connection %d of %d: a HELLO (nonce %s; ours %s) after the "
				       "one taken as the answer\n",
				       i, n, got, want);
				return 1;
			}
		} while (f.type != PROTO_PONG || f.len != 3 || memcmp(f.payload, "own", 3));
	}
	timeout_what[0] = '\0';
	printf("answered %d of %d\n", n, n);
	fprintf(stderr, "agent-client: %ld earlier answers skipped, in %d of %d connections\n",
		stale_hellos, hit, n);
	return 0;
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

static int identity_payload(uint8_t type, const char *name, long long ahead_s, const char *seed_hex,
			    uint8_t *p, size_t cap);

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
	long long sig_after = -1, wake_after = -1, wake_ahead = 0;
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
		} else if (!strcmp(argv[i], "--wake-after") && i + 2 < argc) {
			wake_after = atoll(argv[++i]);
			wake_ahead = atoll(argv[++i]);
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
	long long wake_at = wake_after >= 0 ? now_ms() + wake_after : -1;
	static uint8_t buf[PROTO_MAX_PAYLOAD];
	struct proto_frame f;
	for (;;) {
		if (sig_at >= 0 && now_ms() >= sig_at) {
			uint8_t sp[4];
			proto_u32_encode((uint32_t)sig, sp, sizeof(sp));
			send_frame(PROTO_SIGNAL, id, sp, 4);
			sig_at = -1;
		}
		if (wake_at >= 0 && now_ms() >= wake_at) {
			static uint8_t wp[PROTO_MAX_PAYLOAD];
			int wn = identity_payload(PROTO_WAKE, "", wake_ahead, NULL, wp, sizeof(wp));
			if (wn < 0)
				die("wake: cannot encode");
			send_frame(PROTO_WAKE, 0, wp, (size_t)wn);
			wake_at = -1;
		}
		long long at = sig_at;
		if (wake_at >= 0 && (at < 0 || wake_at < at))
			at = wake_at;
		int r = next_frame_until(&f, in_open && in_credit ? 0 : -1, at);
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
		case PROTO_READY:
			if (wake_after >= 0 && wake_at < 0) {
				fprintf(stderr, "agent-client: ready after wake\n");
				wake_after = -1;
			}
			break;
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
				grant(id,
				      f.type == PROTO_STDOUT ? PROTO_CH_STDOUT : PROTO_CH_STDERR,
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

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Encodes an IDENTITY or WAKE (type) for name with the host's clock plus
 * ahead_s seconds and seed (32 random bytes when seed_hex is NULL). */
static int identity_payload(uint8_t type, const char *name, long long ahead_s, const char *seed_hex,
			    uint8_t *p, size_t cap)
{
	static uint8_t seed[PROTO_SEED_MAX];
	size_t seed_len = 32;
	if (seed_hex) {
		size_t n = strlen(seed_hex);
		if (n % 2 || n / 2 > sizeof(seed))
			die("identity: SEED_HEX must be an even number of hex digits, at most "
			    "1024");
		for (size_t i = 0; i < n / 2; i++) {
			int hi = hexval(seed_hex[2 * i]), lo = hexval(seed_hex[2 * i + 1]);
			if (hi < 0 || lo < 0)
				die("identity: SEED_HEX is not hex");
			seed[i] = (uint8_t)(hi << 4 | lo);
		}
		seed_len = n / 2;
	} else if (getrandom(seed, seed_len, 0) != (ssize_t)seed_len) {
		die("getrandom failed");
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct proto_identity id = {.realtime_ns = (uint64_t)(ts.tv_sec + ahead_s) * 1000000000u +
						   (uint64_t)ts.tv_nsec,
				    .seed = seed,
				    .seed_len = (uint32_t)seed_len,
				    .hostname = name};
	return type == PROTO_WAKE ? proto_wake_encode(&id, p, cap)
				  : proto_identity_encode(&id, p, cap);
}

/* Sends an IDENTITY or a WAKE and waits for the READY that follows. */
static int do_identity(uint8_t type, const char *name, long long ahead_s, const char *seed_hex)
{
	static uint8_t p[PROTO_MAX_PAYLOAD];
	int n = identity_payload(type, name, ahead_s, seed_hex, p, sizeof(p));
	if (n < 0)
		die("identity: bad hostname or seed (16 … 512 bytes)");
	struct proto_frame f;
	/* A running guest answers the HELLO with READY: drain it (it comes
	 * before the PONG of a first ping), so that the READY counted below is
	 * the answer to this frame. */
	send_frame(PROTO_PING, 0, "drn", 3);
	do
		next_frame(&f, -1);
	while (f.type != PROTO_PONG || f.len != 3 || memcmp(f.payload, "drn", 3));
	send_frame(type, 0, p, (size_t)n);
	/* a ping behind it: an ERROR about the frame comes before the PONG */
	send_frame(PROTO_PING, 0, "idn", 3);
	bool refused = false, ponged = false;
	ready_seen = false;
	while (!ponged) {
		next_frame(&f, -1);
		if (f.type == PROTO_ERROR) {
			print_error(&f);
			refused = true;
		} else if (f.type == PROTO_READY) {
			ready_seen = true;
		} else if (f.type == PROTO_PONG && f.len == 3 && !memcmp(f.payload, "idn", 3)) {
			ponged = true;
		}
	}
	if (refused)
		return 1;
	while (!ready_seen) {
		next_frame(&f, -1);
		if (f.type == PROTO_READY)
			ready_seen = true;
		else if (f.type == PROTO_ERROR)
			print_error(&f);
	}
	printf("ready\n");
	return 0;
}

/* IDENTITY (or WAKE) payloads that must each be refused with ERROR code 4. */
static void send_bad_identities(uint8_t type)
{
	static uint8_t p[PROTO_MAX_PAYLOAD];
	send_frame(type, 0, "\x00\x01\x02", 3); /* short */
	static const char seed_hex[] =
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	int n = identity_payload(type, "good", 0, seed_hex, p, sizeof(p));
	if (n < 0)
		die("identity: cannot encode");
	/* trailing bytes */
	p[n] = 0;
	send_frame(type, 0, p, (size_t)n + 1);
	/* the hostname "good" starts at 12 + 32 + 4: make it "-ood" */
	p[48] = '-';
	send_frame(type, 0, p, (size_t)n);
	p[48] = 'g';
	/* a seed of 8 bytes */
	p[11] = 8;
	send_frame(type, 0, p, (size_t)n);
	p[11] = 32;
	/* a NUL inside the hostname */
	p[50] = '\0';
	send_frame(type, 0, p, (size_t)n);
}

/* Through the shim: {"op":"exec"}, its one-line answer, then frames. */
static void shim_handshake(void)
{
	send_all("{\"op\":\"exec\"}\n", 14);
	char line[512];
	size_t n = 0;
	for (;;) {
		char c;
		ssize_t r = read(sock, &c, 1);
		if (r <= 0)
			die("the supervisor closed the connection");
		if (c == '\n')
			break;
		if (n + 1 < sizeof(line))
			line[n++] = c;
	}
	line[n] = '\0';
	if (!strstr(line, "\"ok\":true")) {
		fprintf(stderr, "agent-client: the supervisor refused: %s\n", line);
		exit(125);
	}
}

static void send_garbage(void)
{
	/* junk, a header with a bad version, one with an oversize length, a
	 * frame of an unknown type and an EXEC that does not decode */
	send_all("this is not a frame", 19);
	static const uint8_t badver[12] = {'M', 'V', 9, 2, 0, 0, 0, 0, 0, 0, 0, 0};
	send_all(badver, sizeof(badver));
	static const uint8_t big[12] = {'M', 'V', 1, 2, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff};
	send_all(big, sizeof(big));
	send_frame(99, 0, NULL, 0);
	send_frame(PROTO_EXEC, 5, "\x00\x00\x00\x00", 4);
}

int main(int argc, char **argv)
{
	int timeout = 30;
	int a = 1;
	bool via_shim = false;
	for (;;) {
		if (a + 1 < argc && !strcmp(argv[a], "--timeout")) {
			timeout = atoi(argv[a + 1]);
			a += 2;
		} else if (a < argc && !strcmp(argv[a], "--shim")) {
			via_shim = true;
			a++;
		} else if (a < argc && !strcmp(argv[a], "--any-nonce")) {
			any_nonce = true;
			a++;
		} else {
			break;
		}
	}
	if (argc - a < 2) {
		fprintf(stderr,
			"usage: agent-client [--timeout S] SOCK hello|wait-ready|ping|garbage|"
			"shutdown|wait-parked|identity|bad-identity|wake|bad-wake|exec …\n");
		return 2;
	}
	deadline_ms = now_ms() + timeout * 1000LL;
	proto_decoder_init(&dec, rbuf, sizeof(rbuf));
	sock_path = argv[a];
	connect_agent();
	const char *verb = argv[a + 1];
	if (via_shim) {
		shim_handshake();
		if (!strcmp(verb, "exec"))
			return do_exec(argc - a - 2, argv + a + 2);
		if (!strcmp(verb, "garbage-exec")) {
			send_garbage();
			return do_exec(argc - a - 2, argv + a + 2);
		}
		die("through the supervisor: exec or garbage-exec");
	}
	if (!strcmp(verb, "reconnect")) {
		if (argc - a < 3 || argc - a > 4 || atoi(argv[a + 2]) < 1)
			die("usage: reconnect N [EACH_S]");
		return do_reconnect(atoi(argv[a + 2]), argc - a == 4 ? atoi(argv[a + 3]) : 10);
	}
	if (!strcmp(verb, "stale")) {
		if (argc - a < 3 || argc - a > 4 || atoi(argv[a + 2]) < 1)
			die("usage: stale N [EACH_S]");
		return do_stale(atoi(argv[a + 2]), argc - a == 4 ? atoi(argv[a + 3]) : 10);
	}
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
		send_garbage();
		ping();
		return 0;
	}
	if (!strcmp(verb, "wait-parked")) {
		struct proto_frame f;
		while (!parked_seen) {
			next_frame(&f, -1);
			if (f.type == PROTO_PARKED)
				parked_seen = true;
			else if (f.type == PROTO_ERROR)
				print_error(&f);
		}
		printf("parked\n");
		return 0;
	}
	if (!strcmp(verb, "identity")) {
		if (argc - a < 3 || argc - a > 4)
			die("usage: identity HOSTNAME [SEED_HEX]");
		return do_identity(PROTO_IDENTITY, argv[a + 2], 0,
				   argc - a == 4 ? argv[a + 3] : NULL);
	}
	if (!strcmp(verb, "bad-identity") || !strcmp(verb, "bad-wake")) {
		send_bad_identities(!strcmp(verb, "bad-wake") ? PROTO_WAKE : PROTO_IDENTITY);
		ping();
		return 0;
	}
	if (!strcmp(verb, "wake")) {
		if (argc - a > 4)
			die("usage: wake [AHEAD_S [SEED_HEX]]");
		return do_identity(PROTO_WAKE, "", argc - a >= 3 ? atoll(argv[a + 2]) : 0,
				   argc - a == 4 ? argv[a + 3] : NULL);
	}
	if (!strcmp(verb, "cut")) {
		static uint8_t f[PROTO_HEADER_SIZE + 1000];
		int n = proto_encode(f, sizeof(f), PROTO_PING, 0, f + PROTO_HEADER_SIZE, 1000);
		if (n < 0)
			die("frame too large");
		send_all(f, 100);
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
