/* Which planner answers `mvmctl init --prompt`, and running it.
 *
 * Environment (read by planner_config_from_env):
 *   MVM_TEMPLATE_PROVIDER        auto (default) | openai | local | heuristic
 *   OPENAI_API_KEY               enables openai (sent only as a Bearer token)
 *   OPENAI_BASE_URL              the OpenAI API root (default https://api.openai.com/v1)
 *   MVM_OPENAI_MODEL             default gpt-4o-mini
 *   MVM_LOCAL_LLM_ENDPOINTS      local OpenAI-compatible endpoints to probe, in order,
 *                                separated by commas or spaces: HOST:PORT (meaning
 *                                http://HOST:PORT/v1) or an API root URL. Default
 *                                "127.0.0.1:11434 127.0.0.1:8080" (Ollama, llama.cpp);
 *                                empty or "none" disables local endpoints.
 *   MVM_LOCAL_LLM_MODEL          default: the first model the endpoint lists
 *   MVM_LOCAL_PROBE_TIMEOUT_MS   per-endpoint GET /models budget (default 200)
 *   MVM_TEMPLATE_TIMEOUT         seconds for one plan request (default 60)
 *
 * auto: the first local endpoint that answers the probe, else openai when a
 * key is set, else the heuristic; an LLM that fails falls back to the
 * heuristic with a warning. An explicitly chosen provider that fails is an
 * error.
 */
#pragma once

#include "core/err.h"
#include "core/strvec.h"
#include "plan.h"

enum provider_kind { PROVIDER_AUTO, PROVIDER_OPENAI, PROVIDER_LOCAL, PROVIDER_HEURISTIC };

struct planner_config {
	enum provider_kind kind;
	char *openai_key; /* NULL: none */
	char *openai_base;
	char *openai_model;
	struct strvec local_endpoints; /* API roots */
	char *local_model;	       /* NULL: the first listed */
	long probe_timeout_ms;
	long timeout_ms;
};

struct planner_outcome {
	const char *provider; /* "heuristic", "openai" or "local" */
	char *endpoint;	      /* API root used; NULL for the heuristic */
	char *model;	      /* NULL for the heuristic */
	struct strvec warnings;
};

/* "auto|openai|local|heuristic"; anything else: EXIT_INVALID listing them. */
int provider_parse(const char *s, enum provider_kind *out, struct err *e);
int planner_config_from_env(struct planner_config *c, struct err *e);
void planner_config_release(struct planner_config *c);

/* Plans prompt with the configured provider. forced (may be NULL) is the
 * preset given with --preset; it wins over any inferred one. */
int planner_run(const struct planner_config *c, const char *prompt, const struct preset *forced,
		struct plan *out, struct planner_outcome *o, struct err *e);
void planner_outcome_release(struct planner_outcome *o);
