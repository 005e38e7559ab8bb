/* The agent wire format (src/proto/agent.c): framing, resynchronisation after
 * malformed input, and every payload's encode/decode pair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/agent.h"

static uint8_t dbuf[2 * PROTO_MAX_FRAME];

static void test_frame_roundtrip_in_pieces(void **state)
{
	(void)state;
	struct proto_decoder d;
	assert_int_equal(proto_decoder_init(&d, dbuf, sizeof(dbuf)), 0);
	uint8_t f[64];
	int n = proto_encode(f, sizeof(f), PROTO_STDOUT, 0x01020304, "hello", 5);
	assert_int_equal(n, PROTO_HEADER_SIZE + 5);
	assert_memory_equal(f, "MV\x01\x13\x01\x02\x03\x04\x00\x00\x00\x05hello", 17);
	struct proto_frame fr;
	/* byte by byte: no frame until the last byte */
	for (int i = 0; i < n - 1; i++) {
		assert_int_equal(proto_decoder_feed(&d, f + i, 1), 1);
		assert_int_equal(proto_decoder_next(&d, &fr), 0);
	}
	proto_decoder_feed(&d, f + n - 1, 1);
	assert_int_equal(proto_decoder_next(&d, &fr), 1);
	assert_int_equal(fr.type, PROTO_STDOUT);
	assert_int_equal(fr.stream, 0x01020304);
	assert_int_equal(fr.len, 5);
	assert_memory_equal(fr.payload, "hello", 5);
	assert_int_equal(proto_decoder_next(&d, &fr), 0);
	/* two frames in one read */
	uint8_t two[64];
	int a = proto_encode(two, sizeof(two), PROTO_PING, 0, "x", 1);
	int b = proto_encode(two + a, sizeof(two) - (size_t)a, PROTO_READY, 0, NULL, 0);
	proto_decoder_feed(&d, two, (size_t)(a + b));
	assert_int_equal(proto_decoder_next(&d, &fr), 1);
	assert_int_equal(fr.type, PROTO_PING);
	assert_int_equal(proto_decoder_next(&d, &fr), 1);
	assert_int_equal(fr.type, PROTO_READY);
	assert_int_equal(fr.len, 0);
}

static void test_limits(void **state)
{
	(void)state;
	static uint8_t big[PROTO_MAX_FRAME + 16];
	assert_int_equal(proto_encode(big, sizeof(big), PROTO_STDOUT, 1, big, PROTO_MAX_PAYLOAD),
			 (int)PROTO_MAX_FRAME);
	assert_int_equal(
	    proto_encode(big, sizeof(big), PROTO_STDOUT, 1, big, PROTO_MAX_PAYLOAD + 1), -1);
	assert_int_equal(proto_encode(big, 11, PROTO_READY, 0, NULL, 0), -1);
	struct proto_decoder d;
	assert_int_equal(proto_decoder_init(&d, dbuf, PROTO_MAX_FRAME - 1), -1);
}

static void test_resync_after_garbage(void **state)
{
	(void)state;
	struct proto_decoder d;
	proto_decoder_init(&d, dbuf, sizeof(dbuf));
	uint8_t in[256];
	size_t len = 0;
	memcpy(in, "garbage!", 8);
	len = 8;
	/* bad version */
	const uint8_t badver[12] = {'M', 'V', 9, 2, 0, 0, 0, 0, 0, 0, 0, 0};
	memcpy(in + len, badver, 12);
	len += 12;
	/* oversize length */
	const uint8_t big[12] = {'M', 'V', 1, 2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
	memcpy(in + len, big, 12);
	len += 12;
	len += (size_t)proto_encode(in + len, sizeof(in) - len, PROTO_PING, 0, "ok", 2);
	proto_decoder_feed(&d, in, len);
	struct proto_frame fr;
	int errors = 0, r;
	while ((r = proto_decoder_next(&d, &fr)) < 0) {
		assert_true(r == -PROTO_EMAGIC || r == -PROTO_EVERSION || r == -PROTO_ETOOBIG);
		errors++;
		assert_true(errors < 50);
	}
	assert_int_equal(r, 1);
	assert_int_equal(fr.type, PROTO_PING);
	assert_memory_equal(fr.payload, "ok", 2);
	assert_true(errors >= 3);
	assert_true(d.dropped >= 32);
}

/* The host takes as the answer to its HELLO only the guest's HELLO bearing
 * its nonce: one left from an earlier host's connection is not it. */
static void test_hello_nonce(void **state)
{
	(void)state;
	uint8_t mine[PROTO_NONCE_SIZE], theirs[PROTO_NONCE_SIZE];
	assert_int_equal(proto_nonce_new(mine), 0);
	assert_int_equal(proto_nonce_new(theirs), 0);
	assert_memory_not_equal(mine, theirs, PROTO_NONCE_SIZE);

	uint8_t p[PROTO_HELLO_MAX];
	struct proto_hello g;
	int n = proto_hello_ours("mvm-init 1", mine, p, sizeof(p));
	assert_int_equal(n, 8 + PROTO_NONCE_SIZE + 10);
	assert_int_equal(proto_hello_answers(p, (size_t)n, mine, &g), 1);
	assert_memory_equal(g.agent, "mvm-init 1", 10);
	assert_int_equal(proto_hello_answers(p, (size_t)n, theirs, &g), 0);
	p[8 + PROTO_NONCE_SIZE - 1] ^= 1; /* one bit of the nonce */
	assert_int_equal(proto_hello_answers(p, (size_t)n, mine, &g), 0);
	p[0] = 0, p[1] = 0; /* min version 0: not a HELLO, whatever its nonce */
	assert_int_equal(proto_hello_answers(p, (size_t)n, mine, &g), -PROTO_EPAYLOAD);

	/* the name is bounded on both ends */
	char name[PROTO_MAX_AGENT + 1];
	memset(name, 'a', sizeof(name) - 1);
	name[PROTO_MAX_AGENT] = '\0';
	n = proto_hello_ours(name, mine, p, sizeof(p));
	assert_int_equal(n, PROTO_HELLO_MAX);
	assert_int_equal(proto_hello_answers(p, (size_t)n, mine, &g), 1);
	assert_int_equal(g.agent_len, PROTO_MAX_AGENT);
	assert_int_equal(proto_hello_ours(name, mine, p, sizeof(p) - 1), -1);
	struct proto_hello big = {.min_version = 1,
				  .max_version = 1,
				  .max_payload = PROTO_MAX_PAYLOAD,
				  .agent = name,
				  .agent_len = PROTO_MAX_AGENT + 1};
	uint8_t q[PROTO_HELLO_MAX + 8];
	assert_int_equal(proto_hello_encode(&big, q, sizeof(q)), -1);
	struct proto_frame f = {.type = PROTO_HELLO, .payload = q, .len = PROTO_HELLO_MAX + 1};
	memcpy(q, p, PROTO_HELLO_MAX);
	q[PROTO_HELLO_MAX] = 'a';
	assert_int_equal(proto_validate(&f), -PROTO_EPAYLOAD);
	f.len = PROTO_HELLO_MAX;
	assert_int_equal(proto_validate(&f), 0);
}

static void test_hello_error_window_exit(void **state)
{
	(void)state;
	uint8_t p[128];
	struct proto_hello h = {.min_version = 1,
				.max_version = 1,
				.max_payload = PROTO_MAX_PAYLOAD,
				.nonce = "\x01\x02\x03\x04\x05\x06\x07\x08",
				.agent = "mvm-init 1",
				.agent_len = 10},
			   g;
	int n = proto_hello_encode(&h, p, sizeof(p));
	assert_int_equal(n, 8 + PROTO_NONCE_SIZE + 10);
	assert_memory_equal(p, "\x00\x01\x00\x01\x00\x01\x00\x00\x01\x02\x03\x04\x05\x06\x07\x08",
			    16);
	assert_int_equal(proto_hello_decode(p, (size_t)n, &g), 0);
	assert_int_equal(g.max_payload, PROTO_MAX_PAYLOAD);
	assert_memory_equal(g.nonce, h.nonce, PROTO_NONCE_SIZE);
	assert_int_equal(g.agent_len, 10);
	assert_memory_equal(g.agent, "mvm-init 1", 10);
	assert_int_equal(proto_hello_decode(p, 7, &g), -PROTO_EPAYLOAD);
	/* the nonce is not optional: a HELLO of the fields before it, or cut
	 * inside it, does not decode; one without a name does */
	assert_int_equal(proto_hello_decode(p, 8, &g), -PROTO_EPAYLOAD);
	assert_int_equal(proto_hello_decode(p, 15, &g), -PROTO_EPAYLOAD);
	assert_int_equal(proto_hello_decode(p, 16, &g), 0);
	assert_int_equal(g.agent_len, 0);
	h.min_version = 2; /* min > max */
	n = proto_hello_encode(&h, p, sizeof(p));
	assert_int_equal(proto_hello_decode(p, (size_t)n, &g), -PROTO_EPAYLOAD);

	struct proto_error e;
	n = proto_error_encode(PROTO_ESTREAM, "no session 9", p, sizeof(p));
	assert_int_equal(proto_error_decode(p, (size_t)n, &e), 0);
	assert_int_equal(e.code, PROTO_ESTREAM);
	assert_int_equal(e.msg_len, 12);

	struct proto_window w = {PROTO_CH_STDERR, 4096}, w2;
	n = proto_window_encode(&w, p, sizeof(p));
	assert_int_equal(proto_window_decode(p, (size_t)n, &w2), 0);
	assert_int_equal(w2.channel, PROTO_CH_STDERR);
	assert_int_equal(w2.bytes, 4096);
	p[0] = 3;
	assert_int_equal(proto_window_decode(p, (size_t)n, &w2), -PROTO_EPAYLOAD);
	w.bytes = 0;
	n = proto_window_encode(&w, p, sizeof(p));
	assert_int_equal(proto_window_decode(p, (size_t)n, &w2), -PROTO_EPAYLOAD);

	struct proto_exit x = {PROTO_EXIT_SIGNAL, 9}, y;
	n = proto_exit_encode(&x, p, sizeof(p));
	assert_int_equal(proto_exit_decode(p, (size_t)n, &y), 0);
	assert_int_equal(proto_exit_status(&y), 137);
	x = (struct proto_exit){PROTO_EXIT_CODE, 7};
	n = proto_exit_encode(&x, p, sizeof(p));
	proto_exit_decode(p, (size_t)n, &y);
	assert_int_equal(proto_exit_status(&y), 7);
	x = (struct proto_exit){PROTO_EXIT_NOEXEC, 2 /* ENOENT */};
	proto_exit_encode(&x, p, sizeof(p));
	proto_exit_decode(p, 5, &y);
	assert_int_equal(proto_exit_status(&y), 127);
	x = (struct proto_exit){PROTO_EXIT_CODE, 256};
	proto_exit_encode(&x, p, sizeof(p));
	assert_int_equal(proto_exit_decode(p, 5, &y), -PROTO_EPAYLOAD);
}

static void test_exec_roundtrip(void **state)
{
	(void)state;
	static uint8_t p[PROTO_MAX_PAYLOAD];
	const char *argv[] = {"/bin/sh", "-c", "echo hi", NULL};
	const char *env[] = {"A=1", "B=two words", NULL};
	struct proto_exec_spec s = {PROTO_EXEC_TTY | PROTO_EXEC_STDIN, 24, 80, argv, env, "/srv"};
	int n = proto_exec_encode(&s, p, sizeof(p));
	assert_true(n > 0);
	struct proto_exec x;
	assert_int_equal(proto_exec_decode(p, (size_t)n, &x), 0);
	assert_int_equal(x.flags, PROTO_EXEC_TTY | PROTO_EXEC_STDIN);
	assert_int_equal(x.rows, 24);
	assert_int_equal(x.cols, 80);
	assert_int_equal(x.argc, 3);
	assert_int_equal(x.envc, 2);
	const uint8_t *c = x.argv_p;
	assert_string_equal(proto_strings_next(&c), "/bin/sh");
	assert_string_equal(proto_strings_next(&c), "-c");
	assert_string_equal(proto_strings_next(&c), "echo hi");
	c = x.env_p;
	assert_string_equal(proto_strings_next(&c), "A=1");
	assert_string_equal(proto_strings_next(&c), "B=two words");
	assert_string_equal(x.cwd, "/srv");
	/* every truncation is rejected */
	for (int i = 0; i < n; i++)
		assert_int_equal(proto_exec_decode(p, (size_t)i, &x), -PROTO_EPAYLOAD);
	/* trailing bytes, an embedded NUL, an env entry without '=' */
	assert_int_equal(proto_exec_decode(p, (size_t)n + 1, &x), -PROTO_EPAYLOAD);
	p[16] = '\0';
	assert_int_equal(proto_exec_decode(p, (size_t)n, &x), -PROTO_EPAYLOAD);
	const char *badenv[] = {"NOEQUALS", NULL};
	s.env = badenv;
	assert_int_equal(proto_exec_encode(&s, p, sizeof(p)), -1);
	/* no cwd, no env */
	struct proto_exec_spec t = {0, 0, 0, argv, NULL, NULL};
	n = proto_exec_encode(&t, p, sizeof(p));
	assert_int_equal(proto_exec_decode(p, (size_t)n, &x), 0);
	assert_null(x.cwd);
	assert_int_equal(x.envc, 0);
	/* an argv that does not fit a frame */
	static char huge[PROTO_MAX_PAYLOAD];
	memset(huge, 'a', sizeof(huge) - 1);
	const char *hv[] = {huge, NULL};
	t.argv = hv;
	assert_int_equal(proto_exec_encode(&t, p, sizeof(p)), -1);
	/* argc of 0 or absurd counts */
	uint8_t q[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
	assert_int_equal(proto_exec_decode(q, 12, &x), -PROTO_EPAYLOAD);
}

static const uint8_t seed32[32] = "0123456789abcdef0123456789abcdef";

static void test_identity_roundtrip(void **state)
{
	(void)state;
	static uint8_t p[PROTO_MAX_PAYLOAD];
	struct proto_identity id = {.realtime_ns = 0x0102030405060708ull,
				    .seed = seed32,
				    .seed_len = 32,
				    .hostname = "web-1.example",
				    .ip = "10.0.2.15/24",
				    .gateway = "10.0.2.2",
				    .dns = NULL},
			      got;
	int n = proto_identity_encode(&id, p, sizeof(p));
	/* 8 + 4 + 32 + (4 + 14) + (4 + 13) + (4 + 9) + (4 + 1) */
	assert_int_equal(n, 8 + 4 + 32 + 18 + 17 + 13 + 5);
	assert_memory_equal(p, "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00\x00\x20", 12);
	assert_memory_equal(p + 44, "\x00\x00\x00\x0eweb-1.example\0", 18);
	assert_int_equal(proto_identity_decode(p, (size_t)n, &got), 0);
	assert_true(got.realtime_ns == 0x0102030405060708ull);
	assert_int_equal(got.seed_len, 32);
	assert_memory_equal(got.seed, seed32, 32);
	assert_string_equal(got.hostname, "web-1.example");
	assert_string_equal(got.ip, "10.0.2.15/24");
	assert_string_equal(got.gateway, "10.0.2.2");
	assert_string_equal(got.dns, "");
	struct proto_frame f = {PROTO_VERSION, PROTO_IDENTITY, 0, (uint32_t)n, p};
	assert_int_equal(proto_validate(&f), 0);
	/* every truncation, and trailing bytes, are rejected */
	for (int i = 0; i < n; i++)
		assert_int_equal(proto_identity_decode(p, (size_t)i, &got), -PROTO_EPAYLOAD);
	assert_int_equal(proto_identity_decode(p, (size_t)n + 1, &got), -PROTO_EPAYLOAD);
	/* the largest seed; all network strings empty */
	static uint8_t big[PROTO_SEED_MAX];
	id = (struct proto_identity){.seed = big, .seed_len = PROTO_SEED_MAX, .hostname = "a"};
	n = proto_identity_encode(&id, p, sizeof(p));
	assert_int_equal(n, 12 + PROTO_SEED_MAX + 6 + 5 * 3);
	assert_int_equal(proto_identity_decode(p, (size_t)n, &got), 0);
	assert_string_equal(got.ip, "");
	/* a buffer too small */
	assert_int_equal(proto_identity_encode(&id, p, 100), -1);
}

static void test_env(void **state)
{
	(void)state;
	uint8_t p[256];
	const char *env[] = {"A=1", "_B2=two words", "EMPTY=", "EQ=a=b", NULL};
	int n = proto_env_encode(env, p, sizeof(p));
	assert_true(n > 0);
	uint32_t count = 0;
	const uint8_t *cur = NULL;
	assert_int_equal(proto_env_decode(p, (size_t)n, &count, &cur), 0);
	assert_int_equal(count, 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(proto_strings_next(&cur), env[i]);
	struct proto_frame f = {.type = PROTO_ENV, .payload = p, .len = (uint32_t)n};
	assert_int_equal(proto_validate(&f), 0);
	assert_string_equal(proto_type_name(PROTO_ENV), "env");
	/* every truncation and one byte more are refused */
	for (int i = 0; i < n; i++)
		assert_int_equal(proto_env_decode(p, (size_t)i, &count, &cur), -PROTO_EPAYLOAD);
	assert_int_equal(proto_env_decode(p, (size_t)n + 1, &count, &cur), -PROTO_EPAYLOAD);
	/* no entries is an empty environment */
	assert_int_equal(proto_env_encode(NULL, p, sizeof(p)), 4);
	assert_int_equal(proto_env_decode(p, 4, &count, &cur), 0);
	assert_int_equal(count, 0);
	/* names are shell names; the encoder refuses what the decoder would */
	const char *bad[] = {"NOEQ", "=v", "1A=x", "A-B=x", "A B=x", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *one[] = {bad[i], NULL};
		assert_int_equal(proto_env_encode(one, p, sizeof(p)), -1);
		assert_false(proto_env_entry_valid(bad[i]));
	}
	/* a bad name put on the wire by hand */
	const char *good[] = {"AB=1", NULL};
	n = proto_env_encode(good, p, sizeof(p));
	p[8] = '-';
	assert_int_equal(proto_env_decode(p, (size_t)n, &count, &cur), -PROTO_EPAYLOAD);
	/* too small a buffer */
	assert_int_equal(proto_env_encode(env, p, 10), -1);
}

static void test_identity_rejects(void **state)
{
	(void)state;
	static uint8_t p[PROTO_MAX_PAYLOAD];
	struct proto_identity ok = {.seed = seed32, .seed_len = 16, .hostname = "h"}, id, got;
	/* the encoder refuses what the decoder would */
	id = ok;
	id.seed_len = PROTO_SEED_MIN - 1;
	assert_int_equal(proto_identity_encode(&id, p, sizeof(p)), -1);
	id.seed_len = PROTO_SEED_MAX + 1;
	assert_int_equal(proto_identity_encode(&id, p, sizeof(p)), -1);
	const char *badhosts[] = {
	    "",
	    "-web",
	    ".web",
	    "we_b",
	    "we b",
	    "wéb",
	    "a234567890123456789012345678901234567890123456789012345678901234"};
	for (size_t i = 0; i < sizeof(badhosts) / sizeof(badhosts[0]); i++) {
		id = ok;
		id.hostname = badhosts[i];
		assert_int_equal(proto_identity_encode(&id, p, sizeof(p)), -1);
	}
	id = ok;
	id.hostname = "a23456789012345678901234567890123456789012345678901234567890123"; /* 63 */
	assert_true(proto_identity_encode(&id, p, sizeof(p)) > 0);
	id = ok;
	id.ip = "10.0.2.256/24";
	assert_int_equal(proto_identity_encode(&id, p, sizeof(p)), -1);
	id.ip = "10.0.2.15/33";
	assert_int_equal(proto_identity_encode(&id, p, sizeof(p)), -1);
	id = ok;
	id.gateway = "10.0.2.2/24"; /* no prefix on a gateway */
	assert_int_equal(proto_identity_encode(&id, p, sizeof(p)), -1);
	id = ok;
	id.dns = "dns.example";
	assert_int_equal(proto_identity_encode(&id, p, sizeof(p)), -1);

	/* hand-made payloads: the decoder checks them all the same */
	int n = proto_identity_encode(&ok, p, sizeof(p));
	assert_true(n > 0);
	assert_int_equal(proto_identity_decode(p, (size_t)n, &got), 0);
	p[11] = 15; /* seed too small (and the strings misplaced) */
	assert_int_equal(proto_identity_decode(p, (size_t)n, &got), -PROTO_EPAYLOAD);
	p[10] = 2, p[11] = 1; /* 513 */
	assert_int_equal(proto_identity_decode(p, (size_t)n, &got), -PROTO_EPAYLOAD);
	p[8] = 0xff, p[10] = 0, p[11] = 16; /* absurd length */
	assert_int_equal(proto_identity_decode(p, (size_t)n, &got), -PROTO_EPAYLOAD);
	p[8] = 0;
	assert_int_equal(proto_identity_decode(p, (size_t)n, &got), 0);
	/* hostname record at 28: length 2, "h", NUL */
	assert_memory_equal(p + 28, "\0\0\0\x02h\0", 6);
	p[32] = '-'; /* starts with '-' */
	assert_int_equal(proto_identity_decode(p, (size_t)n, &got), -PROTO_EPAYLOAD);
	p[32] = 'h';
	p[33] = 'x'; /* not NUL-terminated */
	assert_int_equal(proto_identity_decode(p, (size_t)n, &got), -PROTO_EPAYLOAD);
	p[33] = '\0';
	/* a NUL inside a string: "a\0b" as a 4-byte record where the hostname was */
	uint8_t q[64];
	memcpy(q, p, 28);
	memcpy(q + 28, "\0\0\0\x04a\0b\0", 8);
	memcpy(q + 36, p + 34, (size_t)n - 34);
	assert_int_equal(proto_identity_decode(q, (size_t)n + 2, &got), -PROTO_EPAYLOAD);
	/* an empty string record (length 0) is not a string */
	memcpy(q + 28, "\0\0\0\0", 4);
	memcpy(q + 32, p + 34, (size_t)n - 34);
	assert_int_equal(proto_identity_decode(q, (size_t)n - 2, &got), -PROTO_EPAYLOAD);
	/* only the header */
	assert_int_equal(proto_identity_decode(p, 12, &got), -PROTO_EPAYLOAD);
	struct proto_frame f = {PROTO_VERSION, PROTO_IDENTITY, 0, 3, p};
	assert_int_equal(proto_validate(&f), -PROTO_EPAYLOAD);
	f.type = PROTO_PARKED;
	assert_int_equal(proto_validate(&f), -PROTO_EPAYLOAD);
	f.len = 0;
	assert_int_equal(proto_validate(&f), 0);
	assert_string_equal(proto_type_name(PROTO_IDENTITY), "identity");
	assert_string_equal(proto_type_name(PROTO_PARKED), "parked");
}

/* WAKE carries IDENTITY's payload; only its hostname may also be empty. */
static void test_wake(void **state)
{
	(void)state;
	static uint8_t p[PROTO_MAX_PAYLOAD];
	struct proto_identity id = {.realtime_ns = 0x0102030405060708ull,
				    .seed = seed32,
				    .seed_len = 32,
				    .hostname = NULL},
			      got;
	/* no hostname: "" on the wire; IDENTITY refuses what WAKE accepts */
	int n = proto_wake_encode(&id, p, sizeof(p));
	assert_int_equal(n, 8 + 4 + 32 + 4 * 5);
	assert_memory_equal(p, "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00\x00\x20", 12);
	assert_memory_equal(p + 44, "\0\0\0\x01\0", 5);
	assert_int_equal(proto_identity_encode(&id, p + n, sizeof(p) - (size_t)n), -1);
	assert_int_equal(proto_wake_decode(p, (size_t)n, &got), 0);
	assert_true(got.realtime_ns == 0x0102030405060708ull);
	assert_int_equal(got.seed_len, 32);
	assert_memory_equal(got.seed, seed32, 32);
	assert_string_equal(got.hostname, "");
	assert_string_equal(got.ip, "");
	assert_int_equal(proto_identity_decode(p, (size_t)n, &got), -PROTO_EPAYLOAD);
	struct proto_frame f = {PROTO_VERSION, PROTO_WAKE, 0, (uint32_t)n, p};
	assert_int_equal(proto_validate(&f), 0);
	f.type = PROTO_IDENTITY;
	assert_int_equal(proto_validate(&f), -PROTO_EPAYLOAD);
	/* every truncation, and trailing bytes, are rejected */
	for (int i = 0; i < n; i++)
		assert_int_equal(proto_wake_decode(p, (size_t)i, &got), -PROTO_EPAYLOAD);
	assert_int_equal(proto_wake_decode(p, (size_t)n + 1, &got), -PROTO_EPAYLOAD);

	/* a whole IDENTITY is a valid WAKE, and encodes to the same bytes */
	id = (struct proto_identity){.realtime_ns = 42,
				     .seed = seed32,
				     .seed_len = 16,
				     .hostname = "web-1",
				     .ip = "10.0.2.15/24",
				     .gateway = "10.0.2.2",
				     .dns = "10.0.2.3"};
	static uint8_t q[PROTO_MAX_PAYLOAD];
	n = proto_identity_encode(&id, p, sizeof(p));
	assert_true(n > 0);
	assert_int_equal(proto_wake_encode(&id, q, sizeof(q)), n);
	assert_memory_equal(p, q, (size_t)n);
	assert_int_equal(proto_wake_decode(p, (size_t)n, &got), 0);
	assert_string_equal(got.hostname, "web-1");
	assert_string_equal(got.dns, "10.0.2.3");
	assert_int_equal(proto_wake_encode(&id, p, 40), -1); /* too small */

	/* everything else is checked as for IDENTITY */
	struct proto_identity bad = id;
	bad.seed_len = PROTO_SEED_MIN - 1;
	assert_int_equal(proto_wake_encode(&bad, p, sizeof(p)), -1);
	bad.seed_len = PROTO_SEED_MAX + 1;
	assert_int_equal(proto_wake_encode(&bad, p, sizeof(p)), -1);
	bad = id;
	bad.seed = NULL;
	assert_int_equal(proto_wake_encode(&bad, p, sizeof(p)), -1);
	bad = id;
	bad.hostname = "-web";
	assert_int_equal(proto_wake_encode(&bad, p, sizeof(p)), -1);
	bad = id;
	bad.ip = "10.0.2.15/33";
	assert_int_equal(proto_wake_encode(&bad, p, sizeof(p)), -1);
	bad = id;
	bad.gateway = "10.0.2.2/24";
	assert_int_equal(proto_wake_encode(&bad, p, sizeof(p)), -1);

	/* hand-made payloads: seed 16 bytes, hostname record at 28 */
	n = proto_wake_encode(&id, p, sizeof(p));
	assert_memory_equal(p + 28, "\0\0\0\x06web-1\0", 10);
	p[32] = '-';
	assert_int_equal(proto_wake_decode(p, (size_t)n, &got), -PROTO_EPAYLOAD);
	p[32] = 'w';
	p[37] = 'x'; /* not NUL-terminated */
	assert_int_equal(proto_wake_decode(p, (size_t)n, &got), -PROTO_EPAYLOAD);
	p[37] = '\0';
	p[34] = '\0'; /* a NUL inside */
	assert_int_equal(proto_wake_decode(p, (size_t)n, &got), -PROTO_EPAYLOAD);
	p[34] = 'b';
	p[11] = 15;
	assert_int_equal(proto_wake_decode(p, (size_t)n, &got), -PROTO_EPAYLOAD);
	p[10] = 2, p[11] = 1; /* 513 */
	assert_int_equal(proto_wake_decode(p, (size_t)n, &got), -PROTO_EPAYLOAD);
	p[8] = 0xff, p[10] = 0, p[11] = 16; /* absurd seed length */
	assert_int_equal(proto_wake_decode(p, (size_t)n, &got), -PROTO_EPAYLOAD);
	p[8] = 0;
	assert_int_equal(proto_wake_decode(p, (size_t)n, &got), 0);
	/* an empty string record (length 0) is still not a string */
	uint8_t r[128];
	memcpy(r, p, 28);
	memcpy(r + 28, "\0\0\0\0", 4);
	memcpy(r + 32, p + 38, (size_t)n - 38);
	assert_int_equal(proto_wake_decode(r, (size_t)n - 6, &got), -PROTO_EPAYLOAD);
	assert_int_equal(proto_wake_decode(p, 12, &got), -PROTO_EPAYLOAD);
	f = (struct proto_frame){PROTO_VERSION, PROTO_WAKE, 0, 3, p};
	assert_int_equal(proto_validate(&f), -PROTO_EPAYLOAD);
	f.len = 0;
	assert_int_equal(proto_validate(&f), -PROTO_EPAYLOAD);
	assert_int_equal(PROTO_WAKE, 9);
	assert_string_equal(proto_type_name(PROTO_WAKE), "wake");
}

static void test_validate(void **state)
{
	(void)state;
	uint8_t p[8] = {0, 0, 0, 15};
	struct proto_frame f = {PROTO_VERSION, PROTO_SIGNAL, 1, 4, p};
	assert_int_equal(proto_validate(&f), 0);
	p[3] = 0;
	assert_int_equal(proto_validate(&f), -PROTO_EPAYLOAD);
	f.type = 200;
	assert_int_equal(proto_validate(&f), -PROTO_ETYPE);
	f.type = PROTO_READY;
	assert_int_equal(proto_validate(&f), -PROTO_EPAYLOAD);
	f.len = 0;
	assert_int_equal(proto_validate(&f), 0);
	assert_string_equal(proto_type_name(PROTO_EXEC), "exec");
	assert_string_equal(proto_type_name(200), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frame_roundtrip_in_pieces),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_resync_after_garbage),
	    cmocka_unit_test(test_hello_error_window_exit),
	    cmocka_unit_test(test_hello_nonce),
	    cmocka_unit_test(test_exec_roundtrip),
	    cmocka_unit_test(test_identity_roundtrip),
	    cmocka_unit_test(test_identity_rejects),
	    cmocka_unit_test(test_env),
	    cmocka_unit_test(test_wake),
	    cmocka_unit_test(test_validate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
