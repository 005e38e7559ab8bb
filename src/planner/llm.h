/* The OpenAI-compatible HTTP client of the planner (OpenAI itself, Ollama,
 * llama.cpp and others): libcurl, bounded timeouts, replies capped in size,
 * structured output through a JSON Schema, temperature 0.
 *
 * The API key travels only in the Authorization header; it never appears in
 * a URL, a message or a log: any server text quoted in an error has it
 * replaced by [redacted].
 */
#pragma once

#include "core/err.h"
#include "plan.h"

#define LLM_MAX_REPLY (1024 * 1024)

struct llm_endpoint {
	const char *label;    /* "openai" or "local", for messages */
	const char *base_url; /* the API root, e.g. https://api.openai.com/v1 */
	const char *api_key;  /* NULL: no Authorization header */
	const char *model;
	long timeout_ms; /* the whole request */
};

/* GET <base_url>/models within timeout_ms. 0 when it answers 200 with a JSON
 * model list; *first_model is then the first id listed (malloc'd; NULL if the
 * list is empty). */
int llm_probe(const char *base_url, long timeout_ms, char **first_model, struct err *e);

/* POST <base_url>/chat/completions asking for a plan for prompt, with start
 * (the heuristic plan) as a suggestion and forced (may be NULL) as the preset
 * the user chose. The reply is validated like any plan. */
int llm_plan(const struct llm_endpoint *ep, const char *prompt, const struct plan *start,
	     const struct preset *forced, struct plan *out, struct err *e);

/* The request body llm_plan sends (for tests and --verbose). */
json_t *llm_request_body(const char *model, const char *prompt, const struct plan *start,
			 const struct preset *forced);
