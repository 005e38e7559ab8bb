/* libFuzzer harness for the DSSE envelope a pull reads from the store
 * (src/store/sign.c sign_open): the input is the envelope's JSON. With a
 * trusted key, an accepted envelope names the key that verified it; with the
 * check skipped, a payload is decoded or the envelope refused. Nothing may
 * crash or leak.
 *
 *   make fuzz && build/fuzz/fuzz_envelope fuzz/corpus/envelope
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonio.h"
#include "store/sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *env = NULL;
	struct err e = ERR_INIT;
	if (json_parse_buf((const char *)data, size, "envelope", &env, &e) < 0) {
		err_release(&e);
		return 0;
	}
	struct strvec trusted = STRVEC_INIT;
	strvec_push(&trusted, "ed25519:RZVWfuJy94NdFrvYoXcPnxk32vmWxTcCN6Url54JBfQ=");
	for (int skip = 0; skip < 2; skip++) {
		struct strbuf payload = STRBUF_INIT;
		struct sign_check chk;
		int r = sign_open(env, SIGN_PAYLOAD_TYPE, &trusted, skip, "envelope", &payload,
				  &chk, &e);
		if (r == 0 && !skip && !chk.keyid)
			abort(); /* accepted without a trusted signature */
		if (r < 0 && !err_isset(&e))
			abort(); /* a refusal always says why */
		err_release(&e);
		sign_check_release(&chk);
		strbuf_release(&payload);
	}
	strvec_clear(&trusted);
	json_decref(env);
	return 0;
}
