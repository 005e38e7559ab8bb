/* The etcd v3 JSON gateway client (etcd.h): requests as JSON POSTs with
 * libcurl, answers read with jansson, base64 with libcrypto. */
#include "cluster/etcd.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/dl_curl.h"
#include "core/strbuf.h"
#include "core/util.h"

#define ETCD_MAX_BODY (64u << 20)

struct etcd {
	struct strvec eps;
	size_t first; /* the endpoint tried first: the one that answered last */
	bool answered;
	long timeout_ms;
	CURL *curl;
};

/* --- base64 and numbers --------------------------------------------------------------- */

static char *b64_encode(const void *in, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

/* NUL-terminated; *len the decoded length. NULL when s is not base64. */
static char *b64_decode(const char *s, size_t *len)
{
	size_t n = strlen(s);
	if (n % 4)
		return NULL;
	unsigned char *out = xmalloc(n / 4 * 3 + 1);
	int got = n ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)n) : 0;
	if (got < 0) {
		free(out);
		return NULL;
	}
	size_t pad = 0;
	while (pad < 2 && n > pad && s[n - 1 - pad] == '=')
		pad++;
	*len = (size_t)got - pad;
	out[*len] = '\0';
	return (char *)out;
}

/* The gateway writes 64-bit numbers as strings and leaves zeros out. */
static int64_t num(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	if (json_is_integer(v))
		return json_integer_value(v);
	if (!json_is_string(v))
		return 0;
	char *end = NULL;
	errno = 0;
	long long x = strtoll(json_string_value(v), &end, 10);
	return errno || !end || *end ? 0 : x;
}

static json_t *num_str(int64_t v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_string(buf);
}

static json_t *b64_json(const char *s)
{
	char *b = b64_encode(s, strlen(s));
	json_t *j = json_string(b);
	free(b);
	return j;
}

/* The first key after every key that starts with prefix. */
static char *prefix_end(const char *prefix)
{
	char *end = xstrdup(prefix);
	for (size_t n = strlen(end); n > 0; n--) {
		if ((unsigned char)end[n - 1] < 0xff) {
			end[n - 1]++;
			end[n] = '\0';
			return end;
		}
	}
	free(end);
	return xstrdup("\\0"); /* not reached for our prefixes */
}

/* --- opening -------------------------------------------------------------------------- */

int etcd_open(struct etcd **out, const struct strvec *endpoints, long timeout_ms, struct err *e)
{
	*out = NULL;
	if (!endpoints->n)
		return err_set(e, -EINVAL, EXIT_INVALID, "no etcd endpoint is configured");
	for (size_t i = 0; i < endpoints->n; i++)
		if (strncmp(endpoints->v[i], "http://", 7) &&
		    strncmp(endpoints->v[i], "https://", 8))
			return err_set(e, -EINVAL, EXIT_INVALID,
				       "etcd endpoint '%s' is not an http:// or https:// URL",
				       endpoints->v[i]);
	int r = dl_curl_load(e);
	if (r < 0)
		return r;
	struct etcd *c = xcalloc(1, sizeof(*c));
	c->eps = (struct strvec)STRVEC_INIT;
	for (size_t i = 0; i < endpoints->n; i++) {
		struct strbuf b = STRBUF_INIT;
		strbuf_addstr(&b, endpoints->v[i]);
		while (b.len && b.buf[b.len - 1] == '/')
			strbuf_setlen(&b, b.len - 1);
		strvec_push(&c->eps, b.buf);
		strbuf_release(&b);
	}
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
	if (!(c->curl = sym_curl_easy_init())) {
		etcd_close(c);
		return err_set(e, -ENOMEM, EXIT_FAILED, "cannot start a libcurl handle");
	}
	*out = c;
	return 0;
}

void etcd_close(struct etcd *c)
{
	if (!c)
		return;
	if (c->curl)
		sym_curl_easy_cleanup(c->curl);
	strvec_clear(&c->eps);
	free(c);
}

const char *etcd_endpoint(const struct etcd *c)
{
	return c->answered ? c->eps.v[c->first] : "";
}

/* --- one request ---------------------------------------------------------------------- */

struct answer {
	struct strbuf body;
	bool too_big;
	/* a watch: called for each complete line; returns false to end the transfer */
	bool (*on_line)(void *ctx, const char *line, size_t len);
	void *ctx;
	size_t done; /* bytes of body already handed to on_line */
	bool stopped;
};

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;
	size_t len = size * n;
	if (a->body.len + len > ETCD_MAX_BODY) {
		a->too_big = true;
		return 0;
	}
	strbuf_add(&a->body, data, len);
	if (!a->on_line)
		return len;
	for (;;) {
		char *start = a->body.buf + a->done;
		char *nl = memchr(start, '\n', a->body.len - a->done);
		if (!nl)
			break;
		size_t l = (size_t)(nl - start);
		a->done += l + 1;
		if (l && !a->on_line(a->ctx, start, l)) {
			a->stopped = true;
			return 0; /* ends the transfer: CURLE_WRITE_ERROR */
		}
	}
	return len;
}

/* UNREACHABLE: nothing listens there (connection refused: no member to wait
 * for); UNAVAILABLE: no answer in time, or a member that cannot answer now. */
enum outcome { SENT, UNREACHABLE, UNAVAILABLE };

/* Sends body to one endpoint. UNREACHABLE with why set when the endpoint
 * could not answer (the next is tried); SENT with *status otherwise. */
static enum outcome send_one(struct etcd *c, const char *ep, const char *path, const char *body,
			     long timeout_ms, struct answer *a, long *status, char *why,
			     size_t whylen)
{
	_cleanup_free_ char *url = xasprintf("%s%s", ep, path);
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *h = c->curl;
	sym_curl_easy_reset(h);
	struct curl_slist *hdr = sym_curl_slist_append(NULL, "Content-Type: application/json");
	sym_curl_easy_setopt(h, CURLOPT_URL, url);
	sym_curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	sym_curl_easy_setopt(h, CURLOPT_POST, 1L);
	sym_curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	sym_curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	sym_curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	sym_curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	sym_curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* a member cut off answers no SYN: a connect takes well under a second
	 * where one answers, so give up on it after one and try the next */
	sym_curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			     c->timeout_ms < 1000 ? c->timeout_ms : 1000L);
	sym_curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	sym_curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	sym_curl_easy_setopt(h, CURLOPT_USERAGENT, "mvmctl/" MVM_VERSION);
	sym_curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	sym_curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
	CURLcode rc = sym_curl_easy_perform(h);
	sym_curl_slist_free_all(hdr);
	*status = 0;
	sym_curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	if (rc == CURLE_WRITE_ERROR && a->stopped)
		return SENT;
	if (rc == CURLE_OPERATION_TIMEDOUT && a->on_line && *status == 200)
		return SENT; /* a watch that saw no event in its time */
	if (rc != CURLE_OK) {
		snprintf(why, whylen, "%s", errbuf[0] ? errbuf : sym_curl_easy_strerror(rc));
		return rc == CURLE_COULDNT_CONNECT ? UNREACHABLE : UNAVAILABLE;
	}
	if (a->too_big) {
		snprintf(why, whylen, "an answer over %u MiB", ETCD_MAX_BODY >> 20);
		return UNAVAILABLE;
	}
	/* A member without quorum or leader answers 5xx (gRPC Unavailable,
	 * "etcdserver: request timed out", "no leader"): another may do. */
	if (*status >= 500) {
		json_t *j = json_loadb(a->body.buf ? a->body.buf : "", a->body.len, 0, NULL);
		const char *m = json_string_value(json_object_get(j, "message"));
		if (!m)
			m = json_string_value(json_object_get(j, "error"));
		snprintf(why, whylen, "HTTP %ld%s%s", *status, m ? ": " : "", m ? m : "");
		json_decref(j);
		return UNAVAILABLE;
	}
	return SENT;
}

static int unreachable(struct etcd *c, const char *why, struct err *e)
{
	struct strbuf eps = STRBUF_INIT;
	for (size_t i = 0; i < c->eps.n; i++)
		strbuf_addf(&eps, "%s%s", i ? ", " : "", c->eps.v[i]);
	err_set(e, -EHOSTUNREACH, EXIT_NOTREADY, "etcd is unreachable at %s: %s", eps.buf, why);
	err_hint(e, "check that the cluster is up and that [cluster] etcd in config.toml (or "
		    "MVM_ETCD) names its members");
	strbuf_release(&eps);
	return -EHOSTUNREACH;
}

/* Tries each endpoint, the last that answered first. *status and a are of
 * the endpoint that answered. retry: while some member is there but cannot
 * answer (no leader: timeouts, 5xx), go round the endpoints again until
 * ETCD_RETRY_ROUNDS times the request's timeout has passed, so a command
 * sent while the members elect a leader waits for the new one instead of
 * failing; when every endpoint refuses the connection there is nobody to
 * wait for. A watch does not retry (its caller loops). */
#define ETCD_RETRY_ROUNDS 3
static int request(struct etcd *c, const char *path, const char *body, long timeout_ms, bool retry,
		   struct answer *a, long *status, struct err *e)
{
	char why[CURL_ERROR_SIZE + 128] = "";
	long long deadline = mono_ms() + (retry ? ETCD_RETRY_ROUNDS * timeout_ms : 0);
	do {
		bool someone = false;
		for (size_t k = 0; k < c->eps.n; k++) {
			size_t i = (c->first + k) % c->eps.n;
			strbuf_reset(&a->body);
			a->done = 0;
			a->too_big = a->stopped = false;
			enum outcome o = send_one(c, c->eps.v[i], path, body, timeout_ms, a, status,
						  why, sizeof(why));
			if (o == SENT) {
				c->first = i;
				c->answered = true;
				return 0;
			}
			someone |= o == UNAVAILABLE;
		}
		if (!someone)
			break;
		if (retry && mono_ms() < deadline) {
			struct timespec ts = {0, 250 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	} while (mono_ms() < deadline);
	return unreachable(c, why, e);
}

/* An answer that is not 200: etcd's own message. */
static int refused(long status, const json_t *j, const char *what, struct err *e)
{
	const char *m = json_string_value(json_object_get(j, "message"));
	if (!m)
		m = json_string_value(json_object_get(j, "error"));
	return err_set(e, -EPROTO, EXIT_FAILED, "etcd refused %s (HTTP %ld): %s", what, status,
		       m ? m : "no message");
}

/* POSTs req (consumed) to path and parses the answer into *out. */
static int call(struct etcd *c, const char *path, json_t *req, const char *what, json_t **out,
		struct err *e)
{
	*out = NULL;
	_cleanup_free_ char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	struct answer a = {.body = STRBUF_INIT};
	long status = 0;
	int r = request(c, path, body, c->timeout_ms, true, &a, &status, e);
	if (r < 0) {
		strbuf_release(&a.body);
		return r;
	}
	json_error_t je;
	json_t *j = json_loadb(a.body.buf ? a.body.buf : "", a.body.len, 0, &je);
	strbuf_release(&a.body);
	if (status != 200) {
		r = refused(status, j, what, e);
		json_decref(j);
		return r;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		return err_set(e, -EPROTO, EXIT_FAILED, "etcd answered %s with no JSON object: %s",
			       what, je.text);
	}
	/* a streaming call (lease keepalive) wraps its message in "result" */
	json_t *res = json_object_get(j, "result");
	if (json_is_object(res)) {
		json_incref(res);
		json_decref(j);
		j = res;
	}
	if (json_object_get(j, "error")) {
		r = refused(status, j, what, e);
		json_decref(j);
		return r;
	}
	*out = j;
	return 0;
}

static int64_t header_rev(const json_t *j)
{
	return num(json_object_get(j, "header"), "revision");
}

/* --- key-values ----------------------------------------------------------------------- */

void etcd_kv_release(struct etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	*kv = (struct etcd_kv){0};
}

void etcd_kvs_release(struct etcd_kvs *kvs)
{
	for (size_t i = 0; i < kvs->n; i++)
		etcd_kv_release(&kvs->v[i]);
	free(kvs->v);
	*kvs = (struct etcd_kvs){0};
}

static int kv_parse(const json_t *j, struct etcd_kv *kv, struct err *e)
{
	*kv = (struct etcd_kv){0};
	const char *k = json_string_value(json_object_get(j, "key"));
	const char *v = json_string_value(json_object_get(j, "value"));
	size_t klen = 0;
	if (!k || !(kv->key = b64_decode(k, &klen)) || strlen(kv->key) != klen) {
		etcd_kv_release(kv);
		return err_set(e, -EPROTO, EXIT_FAILED,
			       "etcd answered a key that is not base64 text");
	}
	if (!(kv->value = b64_decode(v ? v : "", &kv->value_len))) {
		etcd_kv_release(kv);
		return err_set(e, -EPROTO, EXIT_FAILED, "etcd answered a value that is not base64");
	}
	kv->create_revision = num(j, "create_revision");
	kv->mod_revision = num(j, "mod_revision");
	kv->version = num(j, "version");
	kv->lease = num(j, "lease");
	return 0;
}

static int kvs_parse(const json_t *arr, struct etcd_kvs *out, struct err *e)
{
	size_t n = json_array_size(arr);
	out->v = n ? xcalloc(n, sizeof(*out->v)) : NULL;
	out->n = 0;
	for (size_t i = 0; i < n; i++) {
		int r = kv_parse(json_array_get(arr, i), &out->v[i], e);
		if (r < 0) {
			etcd_kvs_release(out);
			return r;
		}
		out->n++;
	}
	return 0;
}

int etcd_get(struct etcd *c, const char *key, struct etcd_kv *kv, bool *found, int64_t *rev,
	     struct err *e)
{
	*kv = (struct etcd_kv){0};
	*found = false;
	json_t *ans = NULL;
	int r =
	    call(c, "/v3/kv/range", json_pack("{s:o}", "key", b64_json(key)), "a read", &ans, e);
	if (r < 0)
		return r;
	if (rev)
		*rev = header_rev(ans);
	json_t *kvs = json_object_get(ans, "kvs");
	if (json_array_size(kvs)) {
		r = kv_parse(json_array_get(kvs, 0), kv, e);
		*found = r == 0;
	}
	json_decref(ans);
	return r;
}

int etcd_get_prefix(struct etcd *c, const char *prefix, struct etcd_kvs *out, struct err *e)
{
	*out = (struct etcd_kvs){0};
	_cleanup_free_ char *end = prefix_end(prefix);
	json_t *ans = NULL;
	int r = call(c, "/v3/kv/range",
		     json_pack("{s:o, s:o}", "key", b64_json(prefix), "range_end", b64_json(end)),
		     "a read", &ans, e);
	if (r < 0)
		return r;
	r = kvs_parse(json_object_get(ans, "kvs"), out, e);
	out->revision = header_rev(ans);
	json_decref(ans);
	return r;
}

int etcd_put(struct etcd *c, const char *key, const char *value, int64_t lease, int64_t *rev,
	     struct err *e)
{
	json_t *req = json_pack("{s:o, s:o}", "key", b64_json(key), "value", b64_json(value));
	if (lease)
		json_object_set_new(req, "lease", num_str(lease));
	json_t *ans = NULL;
	int r = call(c, "/v3/kv/put", req, "a write", &ans, e);
	if (r == 0 && rev)
		*rev = header_rev(ans);
	json_decref(ans);
	return r;
}

int etcd_delete(struct etcd *c, const char *key, bool prefix, int64_t *deleted, struct err *e)
{
	json_t *req = json_pack("{s:o}", "key", b64_json(key));
	if (prefix) {
		_cleanup_free_ char *end = prefix_end(key);
		json_object_set_new(req, "range_end", b64_json(end));
	}
	json_t *ans = NULL;
	int r = call(c, "/v3/kv/deleterange", req, "a delete", &ans, e);
	if (r == 0 && deleted)
		*deleted = num(ans, "deleted");
	json_decref(ans);
	return r;
}

/* --- transactions --------------------------------------------------------------------- */

static json_t *cmp_json(const struct etcd_cmp *c)
{
	static const char *const targets[] = {"CREATE", "MOD", "VERSION", "VALUE", "LEASE"};
	static const char *const fields[] = {"create_revision", "mod_revision", "version", "value",
					     "lease"};
	static const char *const results[] = {"EQUAL", "NOT_EQUAL", "GREATER", "LESS"};
	json_t *j = json_pack("{s:o, s:s, s:s}", "key", b64_json(c->key), "target",
			      targets[c->target], "result", results[c->result]);
	json_object_set_new(j, fields[c->target],
			    c->target == ETCD_VALUE ? b64_json(c->value ? c->value : "")
						    : num_str(c->num));
	return j;
}

static json_t *op_json(const struct etcd_op *o)
{
	if (o->type == ETCD_OP_DELETE)
		return json_pack("{s:{s:o}}", "request_delete_range", "key", b64_json(o->key));
	json_t *put = json_pack("{s:o, s:o}", "key", b64_json(o->key), "value",
				b64_json(o->value ? o->value : ""));
	if (o->lease)
		json_object_set_new(put, "lease", num_str(o->lease));
	return json_pack("{s:o}", "request_put", put);
}

int etcd_txn(struct etcd *c, const struct etcd_cmp *cmp, size_t ncmp, const struct etcd_op *ok,
	     size_t nok, const struct etcd_op *fail, size_t nfail, bool *succeeded, int64_t *rev,
	     struct err *e)
{
	*succeeded = false;
	json_t *jc = json_array(), *js = json_array(), *jf = json_array();
	for (size_t i = 0; i < ncmp; i++)
		json_array_append_new(jc, cmp_json(&cmp[i]));
	for (size_t i = 0; i < nok; i++)
		json_array_append_new(js, op_json(&ok[i]));
	for (size_t i = 0; i < nfail; i++)
		json_array_append_new(jf, op_json(&fail[i]));
	json_t *ans = NULL;
	int r = call(c, "/v3/kv/txn",
		     json_pack("{s:o, s:o, s:o}", "compare", jc, "success", js, "failure", jf),
		     "a transaction", &ans, e);
	if (r < 0)
		return r;
	*succeeded = json_is_true(json_object_get(ans, "succeeded"));
	if (rev)
		*rev = header_rev(ans);
	json_decref(ans);
	return 0;
}

/* --- leases --------------------------------------------------------------------------- */

int etcd_lease_grant(struct etcd *c, int64_t ttl_s, int64_t *id, int64_t *granted_ttl,
		     struct err *e)
{
	json_t *ans = NULL;
	int r = call(c, "/v3/lease/grant", json_pack("{s:o}", "TTL", num_str(ttl_s)),
		     "a lease grant", &ans, e);
	if (r < 0)
		return r;
	*id = num(ans, "ID");
	*granted_ttl = num(ans, "TTL");
	json_decref(ans);
	if (!*id)
		return err_set(e, -EPROTO, EXIT_FAILED, "etcd granted a lease with no ID");
	return 0;
}

int etcd_lease_keepalive(struct etcd *c, int64_t id, int64_t *ttl, struct err *e)
{
	json_t *ans = NULL;
	*ttl = 0;
	int r = call(c, "/v3/lease/keepalive", json_pack("{s:o}", "ID", num_str(id)),
		     "a lease renewal", &ans, e);
	if (r < 0)
		return r;
	*ttl = num(ans, "TTL"); /* left out (0) when the lease has expired */
	json_decref(ans);
	return 0;
}

int etcd_lease_revoke(struct etcd *c, int64_t id, struct err *e)
{
	json_t *ans = NULL;
	int r = call(c, "/v3/lease/revoke", json_pack("{s:o}", "ID", num_str(id)), "a lease revoke",
		     &ans, e);
	json_decref(ans);
	return r;
}

int etcd_compact(struct etcd *c, int64_t rev, struct err *e)
{
	json_t *ans = NULL;
	int r = call(c, "/v3/kv/compaction",
		     json_pack("{s:o, s:b}", "revision", num_str(rev), "physical", 1),
		     "a compaction", &ans, e);
	json_decref(ans);
	return r;
}

/* --- watches -------------------------------------------------------------------------- */

void etcd_events_release(struct etcd_events *ev)
{
	for (size_t i = 0; i < ev->n; i++)
		etcd_kv_release(&ev->v[i].kv);
	free(ev->v);
	*ev = (struct etcd_events){0};
}

struct watch {
	struct etcd_events *out;
	int64_t next;
	int64_t compacted; /* > 0: the watch was cancelled, from was compacted */
	char *error;	   /* a message etcd sent instead of a result */
};

/* One line of the stream: {"result": {"header", "created", "events",
 * "canceled", "compact_revision"}}. Returns false once there is
 * something to hand back. */
static bool watch_line(void *ctx, const char *line, size_t len)
{
	struct watch *w = ctx;
	json_t *j = json_loadb(line, len, 0, NULL);
	json_t *res = json_object_get(j, "result");
	if (!json_is_object(res)) {
		const char *m = json_string_value(json_object_get(j, "message"));
		if (!m)
			m = json_string_value(
			    json_object_get(json_object_get(j, "error"), "message"));
		w->error = xstrdup(m ? m : "an answer that is not a watch result");
		json_decref(j);
		return false;
	}
	if (json_is_true(json_object_get(res, "canceled"))) {
		w->compacted = num(res, "compact_revision");
		if (!w->compacted) {
			const char *m = json_string_value(json_object_get(res, "cancel_reason"));
			w->error = xstrdup(m ? m : "the watch was cancelled");
		}
		json_decref(j);
		return false;
	}
	json_t *evs = json_object_get(res, "events");
	size_t n = json_array_size(evs);
	if (!n) {
		json_decref(j);
		return true; /* "created", or a progress notice */
	}
	struct etcd_events *out = w->out;
	out->v = xrealloc(out->v, (out->n + n) * sizeof(*out->v));
	for (size_t i = 0; i < n; i++) {
		json_t *ev = json_array_get(evs, i);
		struct etcd_event *dst = &out->v[out->n];
		struct err e = ERR_INIT;
		if (kv_parse(json_object_get(ev, "kv"), &dst->kv, &e) < 0) {
			err_release(&e);
			continue;
		}
		const char *type = json_string_value(json_object_get(ev, "type"));
		dst->deleted = type && !strcmp(type, "DELETE"); /* a PUT has no "type" */
		if (dst->kv.mod_revision >= w->next)
			w->next = dst->kv.mod_revision + 1;
		out->n++;
	}
	json_decref(j);
	return false;
}

int etcd_watch_wait(struct etcd *c, const char *prefix, int64_t from, long wait_ms,
		    struct etcd_events *out, int64_t *next, struct err *e)
{
	*out = (struct etcd_events){0};
	*next = from;
	_cleanup_free_ char *end = prefix_end(prefix);
	json_t *req = json_pack("{s:{s:o, s:o, s:o}}", "create_request", "key", b64_json(prefix),
				"range_end", b64_json(end), "start_revision", num_str(from));
	_cleanup_free_ char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	struct watch w = {.out = out, .next = from};
	struct answer a = {.body = STRBUF_INIT, .on_line = watch_line, .ctx = &w};
	long status = 0;
	int r = request(c, "/v3/watch", body, wait_ms > 0 ? wait_ms : 1, false, &a, &status, e);
	strbuf_release(&a.body);
	if (r < 0) {
		free(w.error);
		return r;
	}
	if (status != 200 && !w.error)
		w.error = xasprintf("HTTP %ld", status);
	if (w.compacted) {
		*next = w.compacted + 1;
		free(w.error);
		return err_set(e, -ESTALE, EXIT_FAILED,
			       "the watch from revision %" PRId64
			       " was cancelled: etcd compacted its history up to %" PRId64,
			       from, w.compacted);
	}
	if (w.error) {
		r = err_set(e, -EPROTO, EXIT_FAILED, "etcd refused a watch: %s", w.error);
		free(w.error);
		etcd_events_release(out);
		return r;
	}
	*next = w.next;
	return 0;
}
