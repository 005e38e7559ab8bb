#include <jansson.h>
#include <string.h>

#include "core/dl_curl.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "llm.h"

struct reply {
	struct strbuf body;
	bool too_big;
};

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t len = size * n;
	if (r->body.len + len > LLM_MAX_REPLY) {
		r->too_big = true;
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	}
	strbuf_add(&r->body, data, len);
	return len;
}

/* Server text fit for a message: at most 200 bytes, no control characters,
 * the key (if any) replaced. */
static char *server_text(const char *s, size_t len, const char *key)
{
	struct strbuf sb = STRBUF_INIT;
	size_t klen = key ? strlen(key) : 0;
	for (size_t i = 0; i < len && sb.len < 200; i++) {
		if (klen && len - i >= klen && !memcmp(s + i, key, klen)) {
			strbuf_addstr(&sb, "[redacted]");
			i += klen - 1;
		} else {
			unsigned char c = (unsigned char)s[i];
			strbuf_addch(&sb, c < 0x20 || c == 0x7f ? ' ' : (char)c);
		}
	}
	strbuf_rtrim(&sb);
	return strbuf_detach(&sb, NULL);
}

/* One request; body NULL means GET. Fills *status and r->body. */
static int request(const char *label, const char *url, const char *body, const char *key,
		   long timeout_ms, long *status, struct reply *r, struct err *e)
{
	int ret = dl_curl_load(e);
	if (ret < 0)
		return err_prefix(e, ret, "%s", label);
	CURL *c = sym_curl_easy_init();
	if (!c)
		return err_set(e, -ENOMEM, EXIT_FAILED, "%s: cannot initialise libcurl", label);
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = NULL;
	_cleanup_free_ char *auth = key ? xasprintf("Authorization: Bearer %s", key) : NULL;
	if (auth)
		headers = sym_curl_slist_append(headers, auth);
	if (body) {
		headers = sym_curl_slist_append(headers, "Content-Type: application/json");
		sym_curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	headers = sym_curl_slist_append(headers, "Accept: application/json");
	sym_curl_easy_setopt(c, CURLOPT_URL, url);
	sym_curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	sym_curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	sym_curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	sym_curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	sym_curl_easy_setopt(c, CURLOPT_NOPROXY, "127.0.0.1,localhost,::1");
	sym_curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	sym_curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000);
	sym_curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)LLM_MAX_REPLY);
	sym_curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	sym_curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	sym_curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	sym_curl_easy_setopt(c, CURLOPT_USERAGENT, "mvmctl/" MVM_VERSION);

	CURLcode rc = sym_curl_easy_perform(c);
	sym_curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	sym_curl_slist_free_all(headers);
	sym_curl_easy_cleanup(c);
	if (auth)
		explicit_bzero(auth, strlen(auth));

	if (rc == CURLE_OK)
		return 0;
	if (r->too_big || rc == CURLE_FILESIZE_EXCEEDED)
		return err_set(e, -EFBIG, EXIT_FAILED, "%s: reply from %s is larger than %d bytes",
			       label, url, LLM_MAX_REPLY);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return err_set(e, -ETIMEDOUT, EXIT_FAILED, "%s: no reply from %s within %ld ms",
			       label, url, timeout_ms);
	_cleanup_free_ char *why =
	    server_text(errbuf[0] ? errbuf : sym_curl_easy_strerror(rc),
			strlen(errbuf[0] ? errbuf : sym_curl_easy_strerror(rc)), key);
	return err_set(e, -EIO, EXIT_FAILED, "%s: request to %s failed: %s", label, url, why);
}

int llm_probe(const char *base_url, long timeout_ms, char **first_model, struct err *e)
{
	*first_model = NULL;
	_cleanup_free_ char *url = xasprintf("%s/models", base_url);
	struct reply r = {.body = STRBUF_INIT};
	long status = 0;
	int ret = request("local", url, NULL, NULL, timeout_ms, &status, &r, e);
	if (ret == 0 && status != 200)
		ret = err_set(e, -EIO, EXIT_FAILED, "local: GET %s answered HTTP %ld", url, status);
	json_t *j = NULL;
	if (ret == 0) {
		json_error_t je;
		j = json_loadb(r.body.buf, r.body.len, 0, &je);
		json_t *data = json_object_get(j, "data");
		if (!json_is_array(data))
			ret = err_set(e, -EPROTO, EXIT_FAILED,
				      "local: GET %s is not an OpenAI-style model list", url);
		else {
			const char *id =
			    json_string_value(json_object_get(json_array_get(data, 0), "id"));
			if (id && *id)
				*first_model = xstrdup(id);
		}
	}
	json_decref(j);
	strbuf_release(&r.body);
	return ret;
}

static const char system_prompt[] =
    "You plan a microVM project for mvm. Reply with one JSON object matching the schema; "
    "it selects files from a fixed corpus of presets and fills a few parameters, it is "
    "never code. Presets: minimal (a shell userland, nothing running), http (static files "
    "over HTTP), python (a Python HTTP service), postgres (PostgreSQL with data under "
    "/data), worker (a periodic background loop). primary_preset is the one that fits "
    "best; features lists every preset the request involves. http_port is 1-65535 "
    "(default 8080). health_path is an absolute URL path such as /healthz. "
    "worker_interval_secs is 1-86400. python_entrypoint is a relative path to a .py file "
    "(default app/main.py). resources: vcpus 1-255, mem_mib at least 64, data_disk_mib 0 "
    "for none. summary is one sentence; notes are short remarks for the user. Start from "
    "the suggested plan and change only what the request calls for.";

json_t *llm_request_body(const char *model, const char *prompt, const struct plan *start,
			 const struct preset *forced)
{
	json_t *suggested = plan_to_json(start);
	char *s = json_dumps(suggested, JSON_PRESERVE_ORDER | JSON_COMPACT);
	json_decref(suggested);
	struct strbuf user = STRBUF_INIT;
	strbuf_addf(&user, "Request: %s\n\nSuggested plan: %s\n", prompt, s ? s : "{}");
	free(s);
	if (forced)
		strbuf_addf(&user, "The user chose the preset %s: primary_preset must be %s.\n",
			    forced->name, forced->name);
	json_t *body = json_pack(
	    "{s:s, s:i, s:[{s:s, s:s}, {s:s, s:s}], s:{s:s, s:{s:s, s:b, s:o}}}", "model", model,
	    "temperature", 0, "messages", "role", "system", "content", system_prompt, "role",
	    "user", "content", user.buf, "response_format", "type", "json_schema", "json_schema",
	    "name", "mvm_plan", "strict", 1, "schema", plan_json_schema());
	strbuf_release(&user);
	return body;
}

/* A message that quotes the server's words (a field name of its plan) with
 * the key, if any, replaced. */
static void redact(struct err *e, const char *key)
{
	if (!e || !e->msg || !key || !*key || !strstr(e->msg, key))
		return;
	struct strbuf sb = STRBUF_INIT;
	size_t klen = strlen(key);
	const char *p = e->msg;
	for (const char *k; (k = strstr(p, key)); p = k + klen) {
		strbuf_add(&sb, p, (size_t)(k - p));
		strbuf_addstr(&sb, "[redacted]");
	}
	strbuf_addstr(&sb, p);
	free(e->msg);
	e->msg = strbuf_detach(&sb, NULL);
}

/* The plan inside a chat completion reply. */
static int read_completion(const struct llm_endpoint *ep, const struct reply *r, struct plan *out,
			   struct err *e)
{
	json_error_t je;
	json_t *j = json_loadb(r->body.buf, r->body.len, JSON_REJECT_DUPLICATES, &je);
	json_t *msg = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message");
	const char *refusal = json_string_value(json_object_get(msg, "refusal"));
	const char *content = json_string_value(json_object_get(msg, "content"));
	int ret = 0;
	if (!j) {
		/* jansson's text quotes the reply near the error */
		_cleanup_free_ char *t = server_text(je.text, strlen(je.text), ep->api_key);
		ret = err_set(e, -EPROTO, EXIT_FAILED, "%s: reply is not JSON: %s", ep->label, t);
	} else if (refusal) {
		_cleanup_free_ char *t = server_text(refusal, strlen(refusal), ep->api_key);
		ret = err_set(e, -EPROTO, EXIT_FAILED, "%s: the model refused: %s", ep->label, t);
	} else if (!content) {
		ret = err_set(e, -EPROTO, EXIT_FAILED,
			      "%s: reply has no choices[0].message.content", ep->label);
	} else {
		ret = plan_parse(content, json_string_length(json_object_get(msg, "content")), out,
				 e);
		if (ret < 0) {
			redact(e, ep->api_key);
			err_prefix(e, ret, "%s: the model's plan is unusable", ep->label);
		}
	}
	json_decref(j);
	return ret;
}

int llm_plan(const struct llm_endpoint *ep, const char *prompt, const struct plan *start,
	     const struct preset *forced, struct plan *out, struct err *e)
{
	json_t *body = llm_request_body(ep->model, prompt, start, forced);
	_cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	_cleanup_free_ char *url = xasprintf("%s/chat/completions", ep->base_url);
	struct reply r = {.body = STRBUF_INIT};
	long status = 0;
	int ret = request(ep->label, url, text, ep->api_key, ep->timeout_ms, &status, &r, e);
	if (ret == 0 && status != 200) {
		json_t *j = json_loadb(r.body.buf, r.body.len, 0, NULL);
		const char *m =
		    json_string_value(json_object_get(json_object_get(j, "error"), "message"));
		_cleanup_free_ char *t = m ? server_text(m, strlen(m), ep->api_key)
					   : server_text(r.body.buf, r.body.len, ep->api_key);
		ret = err_set(e, -EIO, EXIT_FAILED, "%s: POST %s answered HTTP %ld%s%s", ep->label,
			      url, status, *t ? ": " : "", t);
		json_decref(j);
	}
	if (ret == 0)
		ret = read_completion(ep, &r, out, e);
	strbuf_release(&r.body);
	return ret;
}
