/* libFuzzer harness for the planner's reading of an LLM's reply
 * (src/planner/llm.c, included for its static read_completion): the input
 * is the body of a chat completion reply, read as llm_plan reads it (the
 * JSON envelope, a refusal, choices[0].message.content) and its content as
 * a plan (plan_parse, plan_validate). A plan that is accepted must be valid
 * and survive plan_to_json/plan_from_json; no message may carry the API
 * key, and server text in a refusal is printable. Nothing may crash or
 * leak.
 *
 *   make fuzz && build/fuzz/fuzz_llm fuzz/corpus/llm
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/planner/llm.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KEY "sk-fuzz-0123456789"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > LLM_MAX_REPLY)
		return 0;
	const struct llm_endpoint ep = {.label = "openai",
					.base_url = "http://127.0.0.1:9/v1",
					.api_key = KEY,
					.model = "m",
					.timeout_ms = 1000};
	struct reply r = {.body = STRBUF_INIT};
	strbuf_add(&r.body, data, size);
	struct plan p;
	memset(&p, 0, sizeof(p));
	struct err e = ERR_INIT;
	if (read_completion(&ep, &r, &p, &e) == 0) {
		struct err v = ERR_INIT;
		if (plan_validate(&p, &v) < 0)
			abort(); /* accepted means valid */
		json_t *j = plan_to_json(&p);
		struct plan again;
		memset(&again, 0, sizeof(again));
		if (plan_from_json(j, &again, &v) < 0)
			abort(); /* what mvm writes, it reads back */
		plan_release(&again);
		json_decref(j);
		err_release(&v);
		plan_release(&p);
	} else {
		if (!e.msg)
			abort();
		if (strstr(e.msg, KEY)) {
			fprintf(stderr, "the key in a message: %s\n", e.msg);
			abort(); /* the key never appears in a message */
		}
	}
	err_release(&e);
	strbuf_release(&r.body);
	return 0;
}
