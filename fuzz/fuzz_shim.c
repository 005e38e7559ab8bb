/* libFuzzer harness for the shim's handling of the guest's connection-level
 * frames (src/shim/shim.c): the input is a byte stream from the guest, cut
 * into frames by the stream decoder; every HELLO goes through
 * shim_hello_record into a VM record. The record must stay what vm.json
 * needs: the agent name printable text of at most 64 bytes, and the whole
 * record serialised and read back (json_parse_buf's rules) to the same
 * name: a NUL in a HELLO's agent name once made vm.json unreadable. The
 * host's nonce is FUZZ_NONCE (fuzz/mkseeds.c writes HELLOs bearing it and
 * others): a HELLO bearing another is an earlier host's answer and must
 * leave the record alone.
 *
 *   make fuzz && build/fuzz/fuzz_shim fuzz/corpus/shim
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonio.h"
#include "proto/agent.h"
#include "shim/shim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t buf[2 * PROTO_MAX_FRAME];
/* the nonce of the shim's HELLO; the same in fuzz/mkseeds.c */
static const uint8_t FUZZ_NONCE[PROTO_NONCE_SIZE] = "mvm-fuzz";

static void check_record(json_t *rec)
{
	const char *agent = json_get_str(rec, "agent");
	if (!agent)
		abort();
	size_t n = strlen(agent);
	if (n > 64)
		abort();
	for (size_t i = 0; i < n; i++)
		if (agent[i] < 0x20 || agent[i] > 0x7e)
			abort();
	char *text = json_dumps(rec, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_t *back = NULL;
	struct err e = ERR_INIT;
	if (!text || json_parse_buf(text, strlen(text), "vm.json", &back, &e) < 0)
		abort();
	const char *again = json_get_str(back, "agent");
	if (!again || strcmp(again, agent))
		abort();
	json_decref(back);
	err_release(&e);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *rec = json_pack("{s:s, s:s}", "name", "web", "state", "starting");
	struct proto_decoder d;
	proto_decoder_init(&d, buf, sizeof(buf));
	size_t off = 0, chunk = size ? (size_t)data[0] * 13 + 1 : 1;
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		off += proto_decoder_feed(&d, data + off, n);
		struct proto_frame f;
		int r;
		while ((r = proto_decoder_next(&d, &f)) != 0) {
			if (r < 0 || f.type != PROTO_HELLO)
				continue;
			const char *was = json_get_str(rec, "agent");
			char *before = was ? strdup(was) : NULL;
			int changed = shim_hello_record(rec, FUZZ_NONCE, f.payload, f.len);
			bool valid = proto_validate(&f) == 0;
			bool ours = valid && !memcmp(f.payload + 8, FUZZ_NONCE, PROTO_NONCE_SIZE);
			if (changed >= 0) {
				if (!ours)
					abort(); /* taken: a valid HELLO bearing our nonce */
				check_record(rec);
				/* "changed" is what makes the shim rewrite vm.json */
				bool same = before && !strcmp(before, json_get_str(rec, "agent"));
				if (changed == same)
					abort();
			} else if (changed == -ESTALE) {
				/* another host's answer: valid, its nonce not ours, the
				 * record as it was */
				const char *now = json_get_str(rec, "agent");
				if (!valid || ours || (!before) != (!now) ||
				    (before && strcmp(before, now)))
					abort();
			} else if (changed != -EINVAL || valid) {
				abort(); /* a HELLO the protocol accepts is one the shim takes */
			}
			free(before);
		}
	}
	json_decref(rec);
	return 0;
}
