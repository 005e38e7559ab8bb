#include <jansson.h>
#include <string.h>

#include "core/strbuf.h"
#include "core/util.h"
#include "heuristic.h"
#include "llm.h"
#include "provider.h"

static const char *const kind_names[] = {"auto", "openai", "local", "heuristic"};

int provider_parse(const char *s, enum provider_kind *out, struct err *e)
{
	for (size_t i = 0; i < ARRAY_SIZE(kind_names); i++) {
		if (!strcmp(s, kind_names[i])) {
			*out = (enum provider_kind)i;
			return 0;
		}
	}
	err_set(e, -EINVAL, EXIT_INVALID,
		"MVM_TEMPLATE_PROVIDER=%s is not a provider; valid: auto, openai, local, heuristic",
		s);
	err_hint(e, "unset MVM_TEMPLATE_PROVIDER, or set it to one of the valid values");
	return -EINVAL;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static char *without_trailing_slash(const char *s)
{
	char *r = xstrdup(s);
	size_t n = strlen(r);
	while (n > 1 && r[n - 1] == '/')
		r[--n] = '\0';
	return r;
}

static int env_long(const char *name, long def, long min, long max, long *out, struct err *e)
{
	const char *v = env(name);
	long long n = def;
	if (v && parse_int64(v, min, max, &n) < 0)
		return err_set(e, -EINVAL, EXIT_INVALID,
			       "%s=%s is not a whole number from %ld to %ld", name, v, min, max);
	*out = (long)n;
	return 0;
}

static void parse_endpoints(const char *list, struct strvec *out)
{
	_cleanup_free_ char *copy = xstrdup(list);
	for (char *save = NULL, *tok = strtok_r(copy, ", \t", &save); tok;
	     tok = strtok_r(NULL, ", \t", &save)) {
		if (strstr(tok, "://")) {
			_cleanup_free_ char *root = without_trailing_slash(tok);
			strvec_push(out, root);
		} else {
			strvec_pushf(out, "http://%s/v1", tok);
		}
	}
}

int planner_config_from_env(struct planner_config *c, struct err *e)
{
	*c = (struct planner_config){.local_endpoints = STRVEC_INIT};
	const char *kind = getenv("MVM_TEMPLATE_PROVIDER");
	int r = provider_parse(kind && *kind ? kind : "auto", &c->kind, e);
	if (r < 0)
		return r;
	if (env("OPENAI_API_KEY"))
		c->openai_key = xstrdup(env("OPENAI_API_KEY"));
	c->openai_base = without_trailing_slash(
	    env("OPENAI_BASE_URL") ? env("OPENAI_BASE_URL") : "https://api.openai.com/v1");
	c->openai_model =
	    xstrdup(env("MVM_OPENAI_MODEL") ? env("MVM_OPENAI_MODEL") : "gpt-4o-mini");
	const char *eps = getenv("MVM_LOCAL_LLM_ENDPOINTS");
	if (!eps)
		eps = "127.0.0.1:11434 127.0.0.1:8080";
	if (strcmp(eps, "none"))
		parse_endpoints(eps, &c->local_endpoints);
	if (env("MVM_LOCAL_LLM_MODEL"))
		c->local_model = xstrdup(env("MVM_LOCAL_LLM_MODEL"));
	long secs;
	if ((r = env_long("MVM_LOCAL_PROBE_TIMEOUT_MS", 200, 1, 60000, &c->probe_timeout_ms, e)) <
		0 ||
	    (r = env_long("MVM_TEMPLATE_TIMEOUT", 60, 1, 3600, &secs, e)) < 0) {
		planner_config_release(c);
		return r;
	}
	c->timeout_ms = secs * 1000;
	return 0;
}

void planner_config_release(struct planner_config *c)
{
	if (c->openai_key)
		explicit_bzero(c->openai_key, strlen(c->openai_key));
	free(c->openai_key);
	free(c->openai_base);
	free(c->openai_model);
	strvec_clear(&c->local_endpoints);
	free(c->local_model);
	*c = (struct planner_config){0};
}

void planner_outcome_release(struct planner_outcome *o)
{
	free(o->endpoint);
	free(o->model);
	strvec_clear(&o->warnings);
	*o = (struct planner_outcome){0};
}

/* The first local endpoint that answers; 0 with *root set, or -ENOENT. */
static int find_local(const struct planner_config *c, char **root, char **model, struct err *e)
{
	if (c->local_endpoints.n == 0) {
		err_set(e, -ENOENT, EXIT_FAILED,
			"no local LLM endpoint to try: MVM_LOCAL_LLM_ENDPOINTS disables them");
		err_hint(e, "set MVM_LOCAL_LLM_ENDPOINTS=HOST:PORT, or use "
			    "MVM_TEMPLATE_PROVIDER=heuristic");
		return -ENOENT;
	}
	struct strbuf tried = STRBUF_INIT;
	for (size_t i = 0; i < c->local_endpoints.n; i++) {
		struct err probe = ERR_INIT;
		char *listed = NULL;
		const char *ep = c->local_endpoints.v[i];
		int r = llm_probe(ep, c->probe_timeout_ms, &listed, &probe);
		if (r < 0 && probe.exit == EXIT_NOTREADY) {
			/* this host cannot speak HTTP (libcurl is missing): no endpoint
			 * will answer, and saying none did would send the user looking
			 * for a server */
			strbuf_release(&tried);
			if (e) {
				err_release(e);
				*e = probe;
			} else {
				err_release(&probe);
			}
			return r;
		}
		err_release(&probe);
		if (r == 0) {
			*root = xstrdup(ep);
			*model = c->local_model ? xstrdup(c->local_model) : listed;
			if (c->local_model)
				free(listed);
			strbuf_release(&tried);
			if (!*model)
				return err_set(e, -ENOENT, EXIT_FAILED,
					       "local: %s lists no models; set MVM_LOCAL_LLM_MODEL",
					       ep);
			return 0;
		}
		strbuf_addf(&tried, "%s%s/models", i ? ", " : "", ep);
	}
	err_set(e, -ENOENT, EXIT_FAILED,
		"no local LLM endpoint answered GET within %ld ms (tried %s)", c->probe_timeout_ms,
		tried.buf);
	err_hint(e, "start Ollama or llama.cpp, point MVM_LOCAL_LLM_ENDPOINTS at one, or use "
		    "MVM_TEMPLATE_PROVIDER=heuristic");
	strbuf_release(&tried);
	return -ENOENT;
}

static int ask(const char *label, const char *root, const char *key, const char *model,
	       const struct planner_config *c, const char *prompt, const struct plan *start,
	       const struct preset *forced, struct plan *out, struct planner_outcome *o,
	       struct err *e)
{
	struct llm_endpoint ep = {label, root, key, model, c->timeout_ms};
	int r = llm_plan(&ep, prompt, start, forced, out, e);
	if (r < 0)
		return r;
	o->provider = label;
	o->endpoint = xstrdup(root);
	o->model = xstrdup(model);
	if (forced && out->primary != forced) {
		strvec_pushf(&out->notes, "--preset %s was given; the %s model suggested %s",
			     forced->name, label, out->primary->name);
		out->primary = forced;
	}
	return 0;
}

int planner_run(const struct planner_config *c, const char *prompt, const struct preset *forced,
		struct plan *out, struct planner_outcome *o, struct err *e)
{
	*o = (struct planner_outcome){.provider = "heuristic", .warnings = STRVEC_INIT};
	struct plan start;
	plan_heuristic(prompt, forced, &start);
	_cleanup_free_ char *root = NULL, *model = NULL;
	int r = 0;

	switch (c->kind) {
	case PROVIDER_HEURISTIC:
		break;
	case PROVIDER_OPENAI:
		if (!c->openai_key) {
			err_set(
			    e, -ENOENT, EXIT_FAILED,
			    "MVM_TEMPLATE_PROVIDER=openai needs OPENAI_API_KEY, which is not set");
			err_hint(e,
				 "export OPENAI_API_KEY=…, or use MVM_TEMPLATE_PROVIDER=heuristic");
			r = -ENOENT;
			break;
		}
		r = ask("openai", c->openai_base, c->openai_key, c->openai_model, c, prompt, &start,
			forced, out, o, e);
		break;
	case PROVIDER_LOCAL:
		r = find_local(c, &root, &model, e);
		if (r == 0)
			r = ask("local", root, NULL, model, c, prompt, &start, forced, out, o, e);
		break;
	case PROVIDER_AUTO: {
		struct err why = ERR_INIT;
		int a = -ENOENT;
		if (find_local(c, &root, &model, &why) == 0)
			a = ask("local", root, NULL, model, c, prompt, &start, forced, out, o,
				&why);
		else if (c->openai_key)
			a = ask("openai", c->openai_base, c->openai_key, c->openai_model, c, prompt,
				&start, forced, out, o, &why);
		else if (why.exit != EXIT_NOTREADY)
			err_release(&why); /* nothing to try: the heuristic is the plan */
		if (a < 0 && err_isset(&why) && why.exit == EXIT_NOTREADY && why.hint)
			strvec_pushf(&o->warnings, "%s (%s); using the heuristic plan", why.msg,
				     why.hint);
		else if (a < 0 && err_isset(&why))
			strvec_pushf(&o->warnings, "%s; using the heuristic plan", why.msg);
		err_release(&why);
		if (a == 0) {
			plan_release(&start);
			plan_note_uncovered(out);
			return 0;
		}
		break;
	}
	}
	if (r < 0 || o->endpoint) {
		plan_release(&start);
	} else {
		*out = start;
	}
	if (r == 0)
		plan_note_uncovered(out);
	return r;
}
