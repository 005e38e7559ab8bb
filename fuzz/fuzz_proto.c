/* libFuzzer harness for the agent wire format (src/proto/agent.c): arbitrary
 * bytes go through the stream decoder in chunks whose sizes come from the
 * input itself, and every frame it returns goes through proto_validate and
 * the payload decoder of its type. Nothing may crash, hang or read out of
 * bounds; a validated EXEC must walk its strings inside the payload, and a
 * validated IDENTITY must re-encode to the same bytes.
 *
 *   make fuzz && build/fuzz/fuzz_proto fuzz/corpus/proto
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t buf[2 * PROTO_MAX_FRAME];

static void check_frame(const struct proto_frame *f)
{
	if (f->len > PROTO_MAX_PAYLOAD)
		__builtin_trap();
	if (proto_validate(f) < 0)
		return;
	if (f->type == PROTO_EXEC) {
		struct proto_exec x;
		if (proto_exec_decode(f->payload, f->len, &x) < 0)
			__builtin_trap(); /* validate and decode must agree */
		const uint8_t *c = x.argv_p, *end = f->payload + f->len;
		for (uint32_t i = 0; i < x.argc; i++) {
			const char *s = proto_strings_next(&c);
			if (c > end || strlen(s) >= (size_t)(end - (const uint8_t *)s))
				__builtin_trap();
		}
		c = x.env_p;
		for (uint32_t i = 0; i < x.envc; i++) {
			const char *s = proto_strings_next(&c);
			if (c > end || !strchr(s, '='))
				__builtin_trap();
		}
	} else if (f->type == PROTO_IDENTITY) {
		struct proto_identity id;
		if (proto_identity_decode(f->payload, f->len, &id) < 0)
			__builtin_trap();
		const uint8_t *end = f->payload + f->len;
		const char *strs[4] = {id.hostname, id.ip, id.gateway, id.dns};
		if (id.seed < f->payload || id.seed + id.seed_len > end ||
		    id.seed_len < PROTO_SEED_MIN || id.seed_len > PROTO_SEED_MAX ||
		    !proto_hostname_valid(id.hostname))
			__builtin_trap();
		for (int i = 0; i < 4; i++)
			if ((const uint8_t *)strs[i] < f->payload ||
			    strlen(strs[i]) >= (size_t)(end - (const uint8_t *)strs[i]))
				__builtin_trap();
		/* what decodes re-encodes to the same bytes */
		static uint8_t again[PROTO_MAX_PAYLOAD];
		int n = proto_identity_encode(&id, again, sizeof(again));
		if (n != (int)f->len || memcmp(again, f->payload, f->len))
			__builtin_trap();
	} else if (f->type == PROTO_EXIT) {
		struct proto_exit x;
		proto_exit_decode(f->payload, f->len, &x);
		int st = proto_exit_status(&x);
		if (st < 0 || st > 255)
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_decoder d;
	proto_decoder_init(&d, buf, sizeof(buf));
	size_t off = 0;
	/* The first byte picks the chunk size, so the fuzzer explores splits. */
	size_t chunk = size ? (size_t)data[0] * 7 + 1 : 1;
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		size_t took = proto_decoder_feed(&d, data + off, n);
		off += took;
		struct proto_frame f;
		int r, guard = 0;
		while ((r = proto_decoder_next(&d, &f)) != 0) {
			if (r > 0)
				check_frame(&f);
			if (++guard > 1 << 20)
				__builtin_trap(); /* the decoder must always make progress */
		}
		if (!took) {
			/* full buffer with no frame: impossible, a frame always fits */
			__builtin_trap();
		}
	}
	return 0;
}
