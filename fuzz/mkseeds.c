/* Writes the seed inputs of the frame harnesses (fuzz_shim, fuzz_exec,
 * fuzz_guest_agent) into fuzz/corpus/, encoded with the protocol's own
 * encoders: real conversations, a handful each.
 *
 *   make fuzz-seeds
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/agent.h"

struct out {
	uint8_t buf[1 << 16];
	size_t len;
};

static void frame(struct out *o, uint8_t type, uint32_t stream, const void *p, int n)
{
	int r = proto_encode(o->buf + o->len, sizeof(o->buf) - o->len, type, stream, p,
			     n > 0 ? (size_t)n : 0);
	if (r < 0)
		abort();
	o->len += (size_t)r;
}

static void save(struct out *o, const char *dir, const char *name, uint8_t first)
{
	char path[256];
	snprintf(path, sizeof(path), "fuzz/corpus/%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f) {
		perror(path);
		exit(1);
	}
	/* the first byte picks the chunk sizes of the harness: a frame header */
	fwrite(&first, 1, 1, f);
	fwrite(o->buf, 1, o->len, f);
	fclose(f);
	o->len = 0;
}

/* The nonce of the host's HELLO that fuzz_shim plays (fuzz/fuzz_shim.c), and
 * another host's. */
static const uint8_t OURS[PROTO_NONCE_SIZE] = "mvm-fuzz";
static const uint8_t EARLIER[PROTO_NONCE_SIZE] = {0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3};

static void hello(struct out *o, const char *name, const uint8_t *nonce)
{
	uint8_t p[PROTO_HELLO_MAX];
	struct proto_hello h = {.min_version = PROTO_VERSION,
				.max_version = PROTO_VERSION,
				.max_payload = PROTO_MAX_PAYLOAD,
				.agent = name,
				.agent_len = strlen(name)};
	memcpy(h.nonce, nonce, PROTO_NONCE_SIZE);
	frame(o, PROTO_HELLO, 0, p, proto_hello_encode(&h, p, sizeof(p)));
}

static void u32(struct out *o, uint8_t type, uint32_t stream, uint32_t v)
{
	uint8_t p[4];
	frame(o, type, stream, p, proto_u32_encode(v, p, sizeof(p)));
}

static void window(struct out *o, uint32_t stream, uint8_t ch, uint32_t bytes)
{
	uint8_t p[8];
	struct proto_window w = {.channel = ch, .bytes = bytes};
	frame(o, PROTO_WINDOW, stream, p, proto_window_encode(&w, p, sizeof(p)));
}

static void error(struct out *o, uint32_t stream, uint32_t code, const char *msg)
{
	uint8_t p[300];
	frame(o, PROTO_ERROR, stream, p, proto_error_encode(code, msg, p, sizeof(p)));
}

static void exit_frame(struct out *o, uint32_t stream, uint32_t kind, uint32_t code)
{
	uint8_t p[8];
	struct proto_exit x = {.kind = kind, .code = code};
	frame(o, PROTO_EXIT, stream, p, proto_exit_encode(&x, p, sizeof(p)));
}

static void exec(struct out *o, uint32_t stream, uint32_t flags, const char *cwd)
{
	static const char *const argv[] = {"/bin/sh", "-c", "echo $X; cat", NULL};
	static const char *const env[] = {"X=1", "PATH=/bin", NULL};
	struct proto_exec_spec s = {
	    .flags = flags, .rows = 24, .cols = 80, .argv = argv, .env = env, .cwd = cwd};
	uint8_t p[512];
	frame(o, PROTO_EXEC, stream, p, proto_exec_encode(&s, p, sizeof(p)));
}

static void identity(struct out *o, uint8_t type)
{
	static const uint8_t seed[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	struct proto_identity id = {.realtime_ns = 1764700000000000000ull,
				    .seed = seed,
				    .seed_len = sizeof(seed),
				    .hostname = "web",
				    .ip = "10.0.2.15/24",
				    .gateway = "10.0.2.2",
				    .dns = "10.0.2.3"};
	uint8_t p[512];
	int n = type == PROTO_WAKE ? proto_wake_encode(&id, p, sizeof(p))
				   : proto_identity_encode(&id, p, sizeof(p));
	frame(o, type, 0, p, n);
}

static void env(struct out *o)
{
	static const char *const v[] = {"LOG_LEVEL=debug", "TOKEN=abc", NULL};
	uint8_t p[256];
	frame(o, PROTO_ENV, 0, p, proto_env_encode(v, p, sizeof(p)));
}

int main(void)
{
	static struct out o;
	/* shim: what the guest says on stream 0 */
	hello(&o, "mvm-init 1", OURS);
	frame(&o, PROTO_READY, 0, NULL, 0);
	save(&o, "shim", "hello-ready", 0);
	hello(&o, "mvm-init 1", OURS);
	hello(&o, "mvm-init 2", OURS);
	hello(&o, "mvm-init 2", OURS);
	save(&o, "shim", "hello-repeated", 3);
	hello(&o, "evil\0name\n\x7f\xff", OURS);
	save(&o, "shim", "hello-nul-in-name", 0);
	/* an earlier host's answer and READY, left in the guest's queue */
	hello(&o, "mvm-init 0", EARLIER);
	frame(&o, PROTO_READY, 0, NULL, 0);
	hello(&o, "mvm-init 1", OURS);
	frame(&o, PROTO_PARKED, 0, NULL, 0);
	save(&o, "shim", "stale-hello-ready", 0);
	hello(&o, "mvm-init 1", OURS);
	frame(&o, PROTO_PARKED, 0, NULL, 0);
	frame(&o, PROTO_PONG, 0, "wake", 4);
	frame(&o, PROTO_READY, 0, NULL, 0);
	save(&o, "shim", "parked-pong-ready", 255);

	/* exec: what the shim relays from the guest to an exec client (stream 1) */
	u32(&o, PROTO_STARTED, 1, 42);
	frame(&o, PROTO_STDOUT, 1, "hello\n", 6);
	frame(&o, PROTO_STDERR, 1, "oops\n", 5);
	frame(&o, PROTO_STDOUT, 1, NULL, 0);
	frame(&o, PROTO_STDERR, 1, NULL, 0);
	exit_frame(&o, 1, PROTO_EXIT_CODE, 3);
	save(&o, "exec", "output-exit", 0);
	u32(&o, PROTO_STARTED, 1, 42);
	window(&o, 1, PROTO_CH_STDIN, 65536);
	window(&o, 1, PROTO_CH_STDIN, 0xffffffffu);
	exit_frame(&o, 1, PROTO_EXIT_SIGNAL, 9);
	save(&o, "exec", "stdin-window-signal", 1);
	error(&o, 1, 2, "nosuch: No such file or directory");
	exit_frame(&o, 1, PROTO_EXIT_NOEXEC, 2);
	save(&o, "exec", "noexec", 0);
	error(&o, 0, PROTO_ESTREAM, "no session 1\x1b[31m");
	frame(&o, PROTO_STDOUT, 2, "other stream", 12);
	exit_frame(&o, 1, PROTO_EXIT_CODE, 0);
	save(&o, "exec", "error-other-stream", 7);

	/* guest agent: what the host sends on the port */
	hello(&o, "mvmctl-shim 0.1.0", OURS);
	frame(&o, PROTO_PING, 0, "ping", 4);
	env(&o);
	exec(&o, 1, PROTO_EXEC_STDIN, NULL);
	frame(&o, PROTO_STDIN, 1, "input\n", 6);
	frame(&o, PROTO_STDIN, 1, NULL, 0);
	window(&o, 1, PROTO_CH_STDOUT, 4096);
	u32(&o, PROTO_SIGNAL, 1, 2);
	save(&o, "guest_agent", "hello-exec-stdin", 0);
	identity(&o, PROTO_IDENTITY);
	hello(&o, "mvmctl-shim 0.1.0", EARLIER);
	identity(&o, PROTO_WAKE);
	frame(&o, PROTO_SHUTDOWN, 0, NULL, 0);
	save(&o, "guest_agent", "parked-identity-wake", 1);
	frame(&o, PROTO_STDIN, 7, "to the made-up session", 22);
	window(&o, 7, PROTO_CH_STDERR, 100);
	window(&o, 7, PROTO_CH_STDIN, 100);
	frame(&o, PROTO_STDIN, 7, NULL, 0);
	frame(&o, PROTO_STDIN, 9, "no session", 10);
	save(&o, "guest_agent", "stdin-session-7", 4);
	exec(&o, 3, PROTO_EXEC_TTY | PROTO_EXEC_STDIN, "/tmp");
	{
		uint8_t p[8];
		struct proto_resize r = {.rows = 50, .cols = 132};
		frame(&o, PROTO_RESIZE, 3, p, proto_resize_encode(&r, p, sizeof(p)));
	}
	frame(&o, PROTO_STDIN, 3, "ls\n", 3);
	exec(&o, 3, 0, NULL);
	exec(&o, 0, 0, NULL);
	o.buf[o.len++] = 'x'; /* garbage between frames */
	frame(&o, 99, 0, NULL, 0);
	save(&o, "guest_agent", "tty-resize-garbage", 10);
	return 0;
}
