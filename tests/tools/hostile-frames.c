/* Writes what tests/e2e/hostile.bats makes a guest send on the agent channel
 * (through mvm-init's test mode, src/guest/inject.c), one file a scenario:
 *
 *   hostile-frames DIR
 *     oversize.bin   headers claiming 16 MiB and 64 KiB + 1 payloads, then 1 MiB of
 *                    bytes, then a PONG: the decoder must resynchronise
 *     unknown.bin    frames of unknown types (0, 11, 99, 255) and a version-9 header
 *     ghost.bin      STDOUT, STDERR, STARTED, WINDOW and EXIT for streams no one
 *                    opened, and STDOUT on stream 0
 *     nocredit.bin   64 KiB STDOUT frames for streams 1-16, 1 MiB each: four times
 *                    the window a session starts with
 *     hello.bin      100,000 HELLOs, with a changing agent name
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/agent.h"

static FILE *out;
static uint8_t frame[PROTO_MAX_FRAME];
static uint8_t payload[PROTO_MAX_PAYLOAD];

static void open_out(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (out)
		fclose(out);
	out = fopen(path, "wb");
	if (!out) {
		perror(path);
		exit(1);
	}
}

static void put(uint8_t type, uint32_t stream, const void *p, size_t n)
{
	int len = proto_encode(frame, sizeof(frame), type, stream, p, n);
	if (len < 0) {
		fprintf(stderr, "hostile-frames: cannot encode type %u\n", type);
		exit(1);
	}
	fwrite(frame, 1, (size_t)len, out);
}

/* A header as the wire has it, whatever it claims. */
static void put_header(uint8_t version, uint8_t type, uint32_t stream, uint32_t len)
{
	uint8_t h[PROTO_HEADER_SIZE] = {'M',
					'V',
					version,
					type,
					(uint8_t)(stream >> 24),
					(uint8_t)(stream >> 16),
					(uint8_t)(stream >> 8),
					(uint8_t)stream,
					(uint8_t)(len >> 24),
					(uint8_t)(len >> 16),
					(uint8_t)(len >> 8),
					(uint8_t)len};
	fwrite(h, 1, sizeof(h), out);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: hostile-frames DIR\n");
		return 2;
	}
	const char *dir = argv[1];
	memset(payload, 'x', sizeof(payload));

	open_out(dir, "oversize.bin");
	put_header(1, PROTO_STDOUT, 1, 16u << 20);
	put_header(1, PROTO_PONG, 0, PROTO_MAX_PAYLOAD + 1);
	for (int i = 0; i < 16; i++)
		fwrite(payload, 1, sizeof(payload), out);
	put(PROTO_PONG, 0, "after", 5);

	open_out(dir, "unknown.bin");
	const uint8_t types[] = {0, 11, 99, 255};
	for (size_t i = 0; i < sizeof(types); i++)
		put(types[i], 0, "?", 1);
	put_header(9, PROTO_HELLO, 0, 0);

	open_out(dir, "ghost.bin");
	for (uint32_t st = 1000; st < 1100; st++) {
		put(PROTO_STDOUT, st, "ghost", 5);
		put(PROTO_STDERR, st, "ghost", 5);
		put(PROTO_STARTED, st, "\0\0\0\1", 4);
		put(PROTO_WINDOW, st, "\1\0\1\0\0", 5);
		struct proto_exit x = {.kind = 0, .code = 3};
		uint8_t p[16];
		int n = proto_exit_encode(&x, p, sizeof(p));
		put(PROTO_EXIT, st, p, (size_t)n);
	}
	put(PROTO_STDOUT, 0, "on stream 0", 11);

	open_out(dir, "nocredit.bin");
	for (uint32_t st = 1; st <= 16; st++)
		for (int i = 0; i < 16; i++)
			put(PROTO_STDOUT, st, payload, sizeof(payload));

	open_out(dir, "hello.bin");
	for (int i = 0; i < 100000; i++) {
		char name[32];
		int n = snprintf(name, sizeof(name), "hostile-%d", i);
		struct proto_hello h = {.min_version = 1,
					.max_version = 1,
					.max_payload = PROTO_MAX_PAYLOAD,
					.agent = name,
					.agent_len = (size_t)n};
		uint8_t p[64];
		int len = proto_hello_encode(&h, p, sizeof(p));
		put(PROTO_HELLO, 0, p, (size_t)len);
	}
	fclose(out);
	return 0;
}
