#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/dl_curl.h"
#include "core/jsonio.h"
#include "core/util.h"
#include "store/s3.h"

#define S3_MAX_ERROR_BODY (64u << 10)

static int parse_url(struct s3 *s, const char *url, struct err *e)
{
	if (strncmp(url, "s3://", 5))
		return err_set(e, -EINVAL, EXIT_INVALID,
			       "store url '%s' does not start with s3:// (expected "
			       "\"s3://bucket/prefix\")",
			       url);
	const char *b = url + 5;
	const char *slash = strchr(b, '/');
	size_t blen = slash ? (size_t)(slash - b) : strlen(b);
	if (!blen)
		return err_set(e, -EINVAL, EXIT_INVALID, "store url '%s' names no bucket", url);
	if (blen < 3 || blen > 63)
		return err_set(e, -EINVAL, EXIT_INVALID,
			       "store url '%s': a bucket name is 3-63 of [a-z0-9.-]", url);
	for (size_t i = 0; i < blen; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789.-", b[i]))
			return err_set(e, -EINVAL, EXIT_INVALID,
				       "store url '%s': a bucket name is 3-63 of [a-z0-9.-]", url);
	s->bucket = xstrndup(b, blen);
	struct strbuf p = STRBUF_INIT;
	if (slash) {
		const char *q = slash;
		while (*q == '/')
			q++;
		strbuf_addstr(&p, q);
		while (p.len && p.buf[p.len - 1] == '/')
			strbuf_setlen(&p, p.len - 1);
		if (p.len)
			strbuf_addch(&p, '/');
	}
	s->prefix = strbuf_detach(&p, NULL);
	return 0;
}

int s3_open(struct s3 *s, const struct config *c, struct err *e)
{
	*s = (struct s3)S3_INIT;
	if (!c->store_url) {
		err_set(e, -EINVAL, EXIT_INVALID, "no store is configured");
		err_hint(e, "add [store] url = \"s3://bucket/prefix\" to %s, or set MVM_STORE_URL",
			 c->path ? c->path : "$MVM_HOME/config.toml");
		return -EINVAL;
	}
	s->url = xstrdup(c->store_url);
	int r = parse_url(s, c->store_url, e);
	if (r < 0)
		return r;
	if (c->store_endpoint) {
		const char *ep = c->store_endpoint;
		if (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8))
			return err_set(e, -EINVAL, EXIT_INVALID,
				       "store endpoint '%s' is not an http:// or https:// URL", ep);
		struct strbuf b = STRBUF_INIT;
		strbuf_addstr(&b, ep);
		while (b.len && b.buf[b.len - 1] == '/')
			strbuf_setlen(&b, b.len - 1);
		s->endpoint = strbuf_detach(&b, NULL);
	}
	s->region = xstrdup(c->store_region);
	s->rate_limit = c->store_rate_limit;
	s->part_size = (uint64_t)c->store_part_size;
	s->multipart_threshold = (uint64_t)c->store_multipart_threshold;
	const char *id = getenv("AWS_ACCESS_KEY_ID");
	const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
	if (!id || !*id || !secret || !*secret) {
		err_set(e, -EINVAL, EXIT_INVALID,
			"no credentials for the store %s: AWS_ACCESS_KEY_ID and "
			"AWS_SECRET_ACCESS_KEY must both be set",
			s->url);
		err_hint(e, "export AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… (and "
			    "AWS_SESSION_TOKEN for temporary credentials)");
		return -EINVAL;
	}
	s->access_key = xstrdup(id);
	s->secret_key = xstrdup(secret);
	const char *tok = getenv("AWS_SESSION_TOKEN");
	if (tok && *tok)
		s->session_token = xstrdup(tok);
	return dl_curl_load(e);
}

static void wipe_free(char *p)
{
	if (p) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
}

void s3_release(struct s3 *s)
{
	free(s->url);
	free(s->endpoint);
	free(s->bucket);
	free(s->prefix);
	free(s->region);
	free(s->access_key);
	wipe_free(s->secret_key);
	wipe_free(s->session_token);
	*s = (struct s3)S3_INIT;
}

static void add_encoded(struct strbuf *sb, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~/", *p))
			strbuf_addch(sb, (char)*p);
		else
			strbuf_addf(sb, "%%%02X", *p);
	}
}

static char *object_url(const struct s3 *s, const char *key)
{
	struct strbuf u = STRBUF_INIT;
	if (s->endpoint)
		strbuf_addf(&u, "%s/%s/", s->endpoint, s->bucket);
	else
		strbuf_addf(&u, "https://%s.s3.%s.amazonaws.com/", s->bucket, s->region);
	add_encoded(&u, s->prefix);
	add_encoded(&u, key);
	return strbuf_detach(&u, NULL);
}

struct mp_progress;

struct req {
	struct s3 *s;
	CURL *c;
	const char *method;
	const char *key;
	FILE *upload;
	int upload_fd; /* with upload_pread: read the body from here at upload_off */
	bool upload_pread;
	uint64_t upload_off;
	struct mp_progress *mp; /* a part of a multipart upload: progress is the file's */
	uint64_t sent;		/* bytes of the body sent so far (progress) */
	long long rate_limit;	/* this request's own limit (0: the store's) */
	const char *buf;
	size_t buflen, bufpos;
	uint64_t upload_size;
	uint64_t upload_left; /* bytes still to read from upload */
	const char *query;    /* "uploads=", "partNumber=1&uploadId=…" or NULL */
	bool want_etag;
	char *etag;	 /* the answer's ETag header (malloc'd), with want_etag */
	uint64_t offset; /* ranged GET from here */
	uint64_t total;	 /* for progress */
	s3_sink_fn sink;
	void *sink_ctx;
	struct strbuf *out;
	size_t max;
	struct strbuf errbody;
	int sink_err;
	long status;
	uint64_t got;
	curl_off_t length; /* Content-Length of the answer, -1 unknown */
	/* what the easy handle points at until it is cleaned up */
	char *url, *sigv4, *tok, *range;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
};

/* The parts of one multipart upload in flight at once, and what they have sent. */
#define S3_PART_CONNECTIONS 4
struct mp_progress {
	uint64_t finished; /* bytes of the parts done */
	uint64_t total;
	struct req *active[S3_PART_CONNECTIONS];
};

static size_t on_read(char *dst, size_t size, size_t n, void *ctx)
{
	struct req *q = ctx;
	size_t want = size * n;
	if (q->upload_pread) {
		if (want > q->upload_left)
			want = (size_t)q->upload_left;
		ssize_t got;
		do
			got = pread(q->upload_fd, dst, want, (off_t)q->upload_off);
		while (got < 0 && errno == EINTR);
		if (got < 0)
			return CURL_READFUNC_ABORT;
		q->upload_off += (uint64_t)got;
		q->upload_left -= (uint64_t)got;
		return (size_t)got;
	}
	if (q->upload) {
		if (want > q->upload_left)
			want = (size_t)q->upload_left;
		size_t got = fread(dst, 1, want, q->upload);
		q->upload_left -= got;
		return got;
	}
	size_t left = q->buflen - q->bufpos;
	if (want > left)
		want = left;
	memcpy(dst, q->buf + q->bufpos, want);
	q->bufpos += want;
	return want;
}

static size_t on_write(char *data, size_t size, size_t n, void *ctx)
{
	struct req *q = ctx;
	size_t len = size * n;
	long status = 0;
	sym_curl_easy_getinfo(q->c, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 300) {
		if (q->errbody.len + len <= S3_MAX_ERROR_BODY)
			strbuf_add(&q->errbody, data, len);
		return len;
	}
	q->got += len;
	if (q->sink) {
		int r = q->sink(q->sink_ctx, data, len);
		if (r < 0) {
			q->sink_err = r;
			return 0;
		}
		return len;
	}
	if (q->out) {
		if (q->out->len + len > q->max) {
			q->sink_err = -EFBIG;
			return 0;
		}
		strbuf_add(q->out, data, len);
	}
	return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct req *q = ctx;
	size_t len = size * n;
	if (q->want_etag && len > 5 && !strncasecmp(data, "ETag:", 5)) {
		const char *v = data + 5;
		size_t vl = len - 5;
		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		free(q->etag);
		struct strbuf t = STRBUF_INIT;
		strbuf_add_printable(&t, v, vl > 200 ? 200 : vl);
		q->etag = strbuf_detach(&t, NULL);
	}
	return len;
}

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct req *q = ctx;
	if (!q->s->progress)
		return 0;
	if (q->mp) {
		q->sent = (uint64_t)ulnow;
		uint64_t done = q->mp->finished;
		for (size_t i = 0; i < S3_PART_CONNECTIONS; i++)
			if (q->mp->active[i])
				done += q->mp->active[i]->sent;
		q->s->progress(q->s->progress_ctx, done, q->mp->total);
	} else if (q->upload)
		q->s->progress(q->s->progress_ctx, (uint64_t)ulnow,
			       (uint64_t)(ultotal ? ultotal : (curl_off_t)q->upload_size));
	else
		q->s->progress(q->s->progress_ctx, q->offset + (uint64_t)dlnow,
			       q->total ? q->total : q->offset + (uint64_t)dltotal);
	return 0;
}

/* The <Code> and <Message> of an S3 error body, as one printable line. */
static char *error_text(const struct strbuf *body)
{
	struct strbuf t = STRBUF_INIT;
	static const char *const tags[] = {"Code", "Message"};
	for (size_t i = 0; i < ARRAY_SIZE(tags); i++) {
		_cleanup_free_ char *open = xasprintf("<%s>", tags[i]);
		_cleanup_free_ char *close = xasprintf("</%s>", tags[i]);
		const char *a = strstr(body->buf, open);
		const char *b = a ? strstr(a, close) : NULL;
		if (!a || !b)
			continue;
		a += strlen(open);
		if (t.len)
			strbuf_addstr(&t, ": ");
		strbuf_add_printable(&t, a, (size_t)(b - a) > 300 ? 300 : (size_t)(b - a));
	}
	return strbuf_detach(&t, NULL);
}

/* Makes q's easy handle, every option set; req_finish or req_release ends it. */
static int req_setup(struct req *q, struct err *e)
{
	struct s3 *s = q->s;
	q->errbody = (struct strbuf)STRBUF_INIT;
	q->url = object_url(s, q->key);
	if (q->query) {
		char *full = xasprintf("%s?%s", q->url, q->query);
		free(q->url);
		q->url = full;
	}
	CURL *c = sym_curl_easy_init();
	if (!c)
		return err_set(e, -ENOMEM, EXIT_FAILED, "cannot initialise libcurl");
	q->c = c;
	q->errbody = (struct strbuf)STRBUF_INIT;
	q->errbuf[0] = 0;
	q->sigv4 = xasprintf("aws:amz:%s:s3", s->region);
	q->headers = sym_curl_slist_append(NULL, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
	q->tok = s->session_token ? xasprintf("x-amz-security-token: %s", s->session_token) : NULL;
	if (q->tok)
		q->headers = sym_curl_slist_append(q->headers, q->tok);
	if (q->offset) {
		q->range = xasprintf("%llu-", (unsigned long long)q->offset);
		sym_curl_easy_setopt(c, CURLOPT_RANGE, q->range);
	}
	sym_curl_easy_setopt(c, CURLOPT_URL, q->url);
	sym_curl_easy_setopt(c, CURLOPT_HTTPHEADER, q->headers);
	sym_curl_easy_setopt(c, CURLOPT_AWS_SIGV4, q->sigv4);
	sym_curl_easy_setopt(c, CURLOPT_USERNAME, s->access_key);
	sym_curl_easy_setopt(c, CURLOPT_PASSWORD, s->secret_key);
	sym_curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	sym_curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	sym_curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	sym_curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	/* a stalled transfer (under 1 byte/s for 60 s) fails instead of hanging */
	sym_curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	sym_curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	long long limit = q->rate_limit ? q->rate_limit : s->rate_limit;
	if (limit > 0) {
		sym_curl_easy_setopt(c, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)limit);
		sym_curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)limit);
	}
	sym_curl_easy_setopt(c, CURLOPT_ERRORBUFFER, q->errbuf);
	sym_curl_easy_setopt(c, CURLOPT_USERAGENT, "mvmctl/" MVM_VERSION);
	sym_curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	sym_curl_easy_setopt(c, CURLOPT_WRITEDATA, q);
	sym_curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	sym_curl_easy_setopt(c, CURLOPT_XFERINFODATA, q);
	sym_curl_easy_setopt(c, CURLOPT_NOPROGRESS, s->progress ? 0L : 1L);
	sym_curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	sym_curl_easy_setopt(c, CURLOPT_HEADERDATA, q);
	if (!strcmp(q->method, "HEAD")) {
		sym_curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(q->method, "POST")) {
		sym_curl_easy_setopt(c, CURLOPT_POST, 1L);
		sym_curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->buf ? q->buf : "");
		sym_curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->buflen);
	} else if (!strcmp(q->method, "DELETE")) {
		sym_curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
	} else if (!strcmp(q->method, "PUT")) {
		sym_curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		sym_curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		sym_curl_easy_setopt(c, CURLOPT_READDATA, q);
		sym_curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->upload_size);
	}
	return 0;
}

/* Frees what req_setup made (the easy handle too); the answer stays in q. */
static void req_release(struct req *q)
{
	if (q->c)
		sym_curl_easy_cleanup(q->c);
	q->c = NULL;
	sym_curl_slist_free_all(q->headers);
	q->headers = NULL;
	if (q->tok)
		explicit_bzero(q->tok, strlen(q->tok));
	free(q->tok);
	free(q->sigv4);
	free(q->range);
	free(q->url);
	q->tok = q->sigv4 = q->range = q->url = NULL;
	strbuf_release(&q->errbody);
}

/* The outcome of q's transfer (rc): counted, its error set in e. Releases q. */
static int req_finish(struct req *q, CURLcode rc, struct err *e)
{
	struct s3 *s = q->s;
	sym_curl_easy_getinfo(q->c, CURLINFO_RESPONSE_CODE, &q->status);
	sym_curl_easy_getinfo(q->c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &q->length);
	s->stats.requests++;
	if (!strcmp(q->method, "PUT") && rc == CURLE_OK && q->status < 300) {
		s->stats.puts++;
		s->stats.put_bytes += q->upload_size;
	}
	s->stats.get_bytes += q->got;
	const char *url = q->url;
	int r = 0;
	if (q->sink_err) {
		r = q->sink_err;
		if (!err_isset(e))
			err_sys(e, r, EXIT_FAILED, "%s %s", q->method, url);
	} else if (rc != CURLE_OK) {
		r = err_set(e, -EIO, EXIT_FAILED, "store %s: %s %s failed: %s", s->url, q->method,
			    url, q->errbuf[0] ? q->errbuf : sym_curl_easy_strerror(rc));
		err_hint(e, "is the store's endpoint (%s) up and reachable?",
			 s->endpoint ? s->endpoint : "AWS S3");
	} else if (q->status == 404 && strcmp(q->method, "PUT")) {
		r = err_set(e, -ENOENT, EXIT_NOTFOUND, "store %s has no object '%s%s'", s->url,
			    s->prefix, q->key);
	} else if (q->status >= 300 || q->status < 200) {
		_cleanup_free_ char *why = error_text(&q->errbody);
		if (q->status == 403 || q->status == 401) {
			r = err_set(e, -EACCES, EXIT_FAILED,
				    "store %s refused the credentials of AWS_ACCESS_KEY_ID '%s' "
				    "(HTTP %ld%s%s)",
				    s->url, s->access_key, q->status, *why ? " " : "", why);
			err_hint(e, "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and "
				    "AWS_SESSION_TOKEN for this store");
		} else {
			r = err_set(e, -EIO, EXIT_FAILED, "store %s: %s %s: HTTP %ld%s%s", s->url,
				    q->method, url, q->status, *why ? " " : "", why);
		}
	}
	req_release(q);
	return r;
}

static int perform(struct req *q, struct err *e)
{
	int r = req_setup(q, e);
	if (r < 0) {
		req_release(q);
		return r;
	}
	CURLcode rc = sym_curl_easy_perform(q->c);
	return req_finish(q, rc, e);
}

int s3_head(struct s3 *s, const char *key, uint64_t *size, struct err *e)
{
	struct req q = {.s = s, .method = "HEAD", .key = key};
	struct err sub = ERR_INIT;
	int r = perform(&q, &sub);
	if (r == -ENOENT) {
		err_release(&sub);
		return 0;
	}
	if (r < 0) {
		*e = sub;
		return r;
	}
	err_release(&sub);
	if (size)
		*size = q.length >= 0 ? (uint64_t)q.length : 0;
	return 1;
}

/* The text of <tag> in an XML answer (malloc'd), NULL when absent. */
static char *xml_text(const struct strbuf *body, const char *tag)
{
	_cleanup_free_ char *open = xasprintf("<%s>", tag);
	_cleanup_free_ char *close = xasprintf("</%s>", tag);
	const char *a = strstr(body->buf, open);
	const char *b = a ? strstr(a, close) : NULL;
	if (!a || !b)
		return NULL;
	a += strlen(open);
	return xstrndup(a, (size_t)(b - a));
}

/* CreateMultipartUpload; returns the upload id (malloc'd). */
static int start_multipart(struct s3 *s, const char *key, char **id, struct err *e)
{
	struct strbuf body = STRBUF_INIT;
	struct req q = {.s = s,
			.method = "POST",
			.key = key,
			/* "uploads=", not "uploads": libcurl's SigV4 (7.88) signs a
			 * parameter without a value as "uploads", the server as "uploads="
			 * (curl issues 8107, 10129), and a server that checks the
			 * signature refuses it (store_sigv4.bats) */
			.query = "uploads=",
			.out = &body,
			.max = S3_MAX_ERROR_BODY};
	int r = perform(&q, e);
	free(q.etag);
	char *got = r >= 0 ? xml_text(&body, "UploadId") : NULL;
	strbuf_release(&body);
	if (r < 0)
		return r;
	if (!got || !*got || strpbrk(got, "&#? <>\"")) {
		free(got);
		return err_set(
		    e, -EIO, EXIT_FAILED,
		    "store %s: starting a multipart upload of '%s%s' returned no upload id", s->url,
		    s->prefix, key);
	}
	*id = got;
	return 0;
}

/* The state of an unfinished multipart upload, kept in state_path so a
 * killed push continues it: {"key", "size", "part_size", "upload_id",
 * "etags": [part 1's, part 2's, …]} (the parts done, in order). */
static json_t *load_state(const char *state_path, const struct s3 *s, const char *key,
			  uint64_t size)
{
	json_t *st = NULL;
	struct err ignored = ERR_INIT;
	if (!state_path || json_read_file(state_path, &st, &ignored) < 0) {
		err_release(&ignored);
		return NULL;
	}
	const char *k = json_get_str(st, "key");
	const char *id = json_get_str(st, "upload_id");
	json_t *etags = json_object_get(st, "etags");
	bool ok = k && !strcmp(k, key) && id && *id && !strpbrk(id, "&#? <>\"") &&
		  json_get_int(st, "size", -1) == (long long)size &&
		  json_get_int(st, "part_size", -1) == (long long)s->part_size &&
		  json_is_array(etags);
	for (size_t i = 0; ok && i < json_array_size(etags); i++)
		ok = json_is_string(json_array_get(etags, i));
	if (!ok) {
		json_decref(st);
		return NULL;
	}
	return st;
}

/* Sends parts first…parts of an upload, up to S3_PART_CONNECTIONS at once
 * (curl multi, one connection each, as the AWS CLI does with its
 * max_concurrent_requests), each reading its own range of fd. The ETags are
 * appended to the state's "etags" in part order, and the state file is
 * rewritten whenever that unbroken run grows, so a killed push continues
 * after it (a part that finished past a gap is sent again). */
static int send_parts(struct s3 *s, const char *key, int fd, uint64_t size, const char *id,
		      uint64_t first, uint64_t parts, json_t *st, const char *state_path,
		      struct err *e)
{
	json_t *etags = json_object_get(st, "etags");
	char **pending = xcalloc((size_t)(parts - first + 1), sizeof(*pending));
	struct req slots[S3_PART_CONNECTIONS];
	char *queries[S3_PART_CONNECTIONS] = {0};
	uint64_t slot_part[S3_PART_CONNECTIONS] = {0};
	struct mp_progress mp = {.finished = (first - 1) * s->part_size, .total = size};
	/* the store's rate limit is for the whole transfer: shared by the connections */
	long long limit =
	    s->rate_limit > 0 ? (s->rate_limit + S3_PART_CONNECTIONS - 1) / S3_PART_CONNECTIONS : 0;
	CURLM *m = sym_curl_multi_init();
	if (!m) {
		free(pending);
		return err_set(e, -ENOMEM, EXIT_FAILED, "cannot initialise libcurl");
	}
	uint64_t next = first, run = first - 1; /* parts <= run are in etags */
	size_t active = 0;
	int r = 0;
	while (r >= 0 && (next <= parts || active)) {
		for (size_t i = 0; i < S3_PART_CONNECTIONS && next <= parts; i++) {
			if (mp.active[i])
				continue;
			uint64_t off = (next - 1) * s->part_size;
			uint64_t len = size - off < s->part_size ? size - off : s->part_size;
			queries[i] =
			    xasprintf("partNumber=%llu&uploadId=%s", (unsigned long long)next, id);
			slots[i] = (struct req){.s = s,
						.method = "PUT",
						.key = key,
						.query = queries[i],
						.upload_fd = fd,
						.upload_pread = true,
						.upload_off = off,
						.upload_size = len,
						.upload_left = len,
						.want_etag = true,
						.mp = &mp,
						.rate_limit = limit};
			r = req_setup(&slots[i], e);
			if (r < 0) {
				req_release(&slots[i]);
				free(queries[i]);
				queries[i] = NULL;
				break;
			}
			sym_curl_multi_add_handle(m, slots[i].c);
			mp.active[i] = &slots[i];
			slot_part[i] = next++;
			active++;
		}
		if (r < 0)
			break;
		int running = 0;
		CURLMcode mc = sym_curl_multi_perform(m, &running);
		if (mc != CURLM_OK) {
			r = err_set(e, -EIO, EXIT_FAILED,
				    "store %s: libcurl's multi interface failed (%d)", s->url,
				    (int)mc);
			break;
		}
		CURLMsg *msg;
		int left;
		while ((msg = sym_curl_multi_info_read(m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			size_t i = 0;
			while (i < S3_PART_CONNECTIONS &&
			       (!mp.active[i] || mp.active[i]->c != msg->easy_handle))
				i++;
			if (i == S3_PART_CONNECTIONS)
				continue;
			struct req *q = mp.active[i];
			CURLcode rc = msg->data.result;
			sym_curl_multi_remove_handle(m, q->c);
			struct err sub = ERR_INIT;
			int pr = req_finish(q, rc, &sub);
			if (pr >= 0 && !q->etag)
				pr = err_set(
				    &sub, -EIO, EXIT_FAILED,
				    "store %s: part %llu of '%s%s' was answered without an "
				    "ETag",
				    s->url, (unsigned long long)slot_part[i], s->prefix, key);
			if (pr >= 0) {
				pending[slot_part[i] - first] = TAKE_PTR(q->etag);
				mp.finished += q->upload_size;
			} else if (r >= 0) {
				r = pr;
				*e = sub;
			} else {
				err_release(&sub);
			}
			free(q->etag);
			free(queries[i]);
			queries[i] = NULL;
			mp.active[i] = NULL;
			active--;
		}
		bool grew = false;
		while (run < parts && pending[run + 1 - first]) {
			json_array_append_new(etags, json_string(pending[run + 1 - first]));
			run++;
			grew = true;
		}
		if (grew && state_path) {
			int w = json_write_file(state_path, st, r < 0 ? NULL : e);
			if (w < 0 && r >= 0)
				r = w;
		}
		if (r >= 0 && active)
			sym_curl_multi_poll(m, NULL, 0, 1000, NULL);
	}
	/* after a failure the parts still in flight are abandoned */
	for (size_t i = 0; i < S3_PART_CONNECTIONS; i++) {
		if (!mp.active[i])
			continue;
		sym_curl_multi_remove_handle(m, mp.active[i]->c);
		req_release(mp.active[i]);
		free(mp.active[i]->etag);
		free(queries[i]);
	}
	sym_curl_multi_cleanup(m);
	for (uint64_t n = first; n <= parts; n++)
		free(pending[n - first]);
	free(pending);
	return r;
}

/* One UploadPart per part_size bytes (each ETag kept in the state file after
 * its part), then CompleteMultipartUpload. With a state file of an earlier,
 * killed push of the same object, continues after its last part. */
static int put_multipart(struct s3 *s, const char *key, FILE *f, uint64_t size,
			 const char *state_path, struct err *e)
{
	json_t *st = load_state(state_path, s, key, size);
	bool resumed = st != NULL;
	int r = 0;
	if (!st) {
		char *id = NULL;
		r = start_multipart(s, key, &id, e);
		if (r < 0)
			return r;
		st = json_pack("{s:s, s:I, s:I, s:s, s:[]}", "key", key, "size", (json_int_t)size,
			       "part_size", (json_int_t)s->part_size, "upload_id", id, "etags");
		free(id);
	}
	_cleanup_free_ char *id = xstrdup(json_get_str(st, "upload_id"));
	json_t *etags = json_object_get(st, "etags");
	uint64_t parts = (size + s->part_size - 1) / s->part_size;
	uint64_t first = json_array_size(etags) + 1;
	if (resumed) {
		s->stats.resumed_parts += first - 1;
		if (s->on_resume && first > 1)
			s->on_resume(s->progress_ctx, key, first - 1, parts);
	}
	if (first <= parts)
		r = send_parts(s, key, fileno(f), size, id, first, parts, st, state_path, e);
	if (r < 0 && resumed && first == json_array_size(etags) + 1 && state_path) {
		/* the kept upload is gone from the store (aborted, expired): start afresh */
		json_decref(st);
		unlink(state_path);
		err_release(e);
		return put_multipart(s, key, f, size, state_path, e);
	}
	if (r < 0) {
		json_decref(st);
		return r; /* the state stays: the next push continues */
	}
	struct strbuf done = STRBUF_INIT;
	strbuf_addstr(&done, "<CompleteMultipartUpload>");
	for (size_t i = 0; i < json_array_size(etags); i++)
		strbuf_addf(&done, "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>",
			    i + 1, json_string_value(json_array_get(etags, i)));
	strbuf_addstr(&done, "</CompleteMultipartUpload>");
	_cleanup_free_ char *idq = xasprintf("uploadId=%s", id);
	struct strbuf ans = STRBUF_INIT;
	struct req c = {.s = s,
			.method = "POST",
			.key = key,
			.query = idq,
			.buf = done.buf,
			.buflen = done.len,
			.out = &ans,
			.max = S3_MAX_ERROR_BODY};
	r = perform(&c, e);
	free(c.etag);
	/* S3 can answer 200 and still fail the completion in the body */
	if (r >= 0 && strstr(ans.buf, "<Error>")) {
		_cleanup_free_ char *why = error_text(&ans);
		r = err_set(e, -EIO, EXIT_FAILED,
			    "store %s: completing the multipart upload of '%s%s' failed: %s",
			    s->url, s->prefix, key, why);
	}
	strbuf_release(&ans);
	strbuf_release(&done);
	json_decref(st);
	if (state_path)
		unlink(state_path);
	if (r < 0) {
		struct err ignored = ERR_INIT;
		struct req a = {.s = s, .method = "DELETE", .key = key, .query = idq};
		perform(&a, &ignored);
		err_release(&ignored);
	}
	return r;
}

int s3_put_file(struct s3 *s, const char *key, const char *path, const char *state_path,
		struct err *e)
{
	FILE *f = fopen(path, "rbe");
	if (!f)
		return err_sys(e, -errno, EXIT_FAILED, "opening '%s'", path);
	struct stat st;
	if (fstat(fileno(f), &st) < 0) {
		int r = err_sys(e, -errno, EXIT_FAILED, "reading '%s'", path);
		fclose(f);
		return r;
	}
	uint64_t size = (uint64_t)st.st_size;
	int r;
	if (s->part_size && s->multipart_threshold && size > s->multipart_threshold) {
		r = put_multipart(s, key, f, size, state_path, e);
	} else {
		struct req q = {.s = s,
				.method = "PUT",
				.key = key,
				.upload = f,
				.upload_size = size,
				.upload_left = size};
		r = perform(&q, e);
	}
	fclose(f);
	return r;
}

int s3_put_buf(struct s3 *s, const char *key, const void *data, size_t len, struct err *e)
{
	struct req q = {
	    .s = s, .method = "PUT", .key = key, .buf = data, .buflen = len, .upload_size = len};
	int r = perform(&q, e);
	free(q.etag);
	return r;
}

int s3_get_buf(struct s3 *s, const char *key, size_t max, struct strbuf *out, struct err *e)
{
	struct req q = {.s = s, .method = "GET", .key = key, .out = out, .max = max};
	int r = perform(&q, e);
	if (r == -EFBIG)
		return err_set(e, r, EXIT_FAILED,
			       "store %s: object '%s%s' is larger than %zu bytes", s->url,
			       s->prefix, key, max);
	return r;
}

int s3_get_range(struct s3 *s, const char *key, uint64_t offset, uint64_t total, s3_sink_fn sink,
		 void *ctx, struct err *e)
{
	struct req q = {.s = s,
			.method = "GET",
			.key = key,
			.offset = offset,
			.total = total,
			.sink = sink,
			.sink_ctx = ctx};
	int r = perform(&q, e);
	if (r >= 0 && offset && q.status != 206)
		return err_set(e, -EIO, EXIT_FAILED,
			       "store %s: ranged GET of '%s%s' from byte %llu answered HTTP %ld, "
			       "not 206",
			       s->url, s->prefix, key, (unsigned long long)offset, q.status);
	return r;
}
