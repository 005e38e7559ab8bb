/* libFuzzer harness for the channel document a pull reads from the store
 * (src/store/channel.c channel_open, channel_peek_sequence): the input is the
 * object's bytes. With the trusted key, an accepted document names that key,
 * the channel asked for, a revision and a sequence in range; with the check
 * skipped, the same checks but the key. Nothing may crash or leak.
 *
 *   make fuzz && build/fuzz/fuzz_channel fuzz/corpus/channel
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "store/channel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strvec trusted = STRVEC_INIT;
	strvec_push(&trusted, "ed25519:vsCOcDcSrPdsHLIzhk2f1rfVryFR7js4iuM4V3gUkQM=");
	struct err e = ERR_INIT;
	for (int skip = 0; skip < 2; skip++) {
		struct channel_doc d;
		int r = channel_open((const char *)data, size, "hello", &trusted, skip,
				     "channel 'hello'", &d, &e);
		if (r == 0) {
			if (!skip && !d.keyid)
				abort(); /* accepted without a trusted signature */
			if (!d.name || strcmp(d.name, "hello") || !hash_is_sha256_hex(d.revision))
				abort();
			if (d.sequence < 0 || d.sequence > CHANNEL_MAX_SEQUENCE ||
			    (!d.legacy && d.sequence < 1))
				abort();
		} else if (!err_isset(&e)) {
			abort(); /* a refusal always says why */
		}
		err_release(&e);
		channel_doc_release(&d);
	}
	long long seq = channel_peek_sequence((const char *)data, size);
	if (seq < 0 || seq > CHANNEL_MAX_SEQUENCE)
		abort();
	strvec_clear(&trusted);
	return 0;
}
