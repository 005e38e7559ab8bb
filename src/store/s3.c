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

struct req {
	struct s3 *s;
	CURL *c;
	const char *method;
	const char *key;
	FILE *upload;
	const char *buf;
	size_t buflen, bufpos;
	uint64_t upload_size;
	uint64_t upload_left; /* bytes still to read from upload */
	const char *query;    /* "uploads", "partNumber=1&uploadId=…" or NULL */
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
};

static size_t on_read(char *dst, size_t size, size_t n, void *ctx)
{
	struct req *q = ctx;
	size_t want = size * n;
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
	if (q->upload)
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

static int perform(struct req *q, struct err *e)
{
	struct s3 *s = q->s;
	_cleanup_free_ char *url = object_url(s, q->key);
	if (q->query) {
		char *full = xasprintf("%s?%s", url, q->query);
		free(url);
		url = full;
	}
	CURL *c = sym_curl_easy_init();
	if (!c)
		return err_set(e, -ENOMEM, EXIT_FAILED, "cannot initialise libcurl");
	q->c = c;
	q->errbody = (struct strbuf)STRBUF_INIT;
	char errbuf[CURL_ERROR_SIZE] = "";
	_cleanup_free_ char *sigv4 = xasprintf("aws:amz:%s:s3", s->region);
	struct curl_slist *h = NULL;
	h = sym_curl_slist_append(h, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
	_cleanup_free_ char *tok =
	    s->session_token ? xasprintf("x-amz-security-token: %s", s->session_token) : NULL;
	if (tok)
		h = sym_curl_slist_append(h, tok);
	_cleanup_free_ char *range = NULL;
	if (q->offset) {
		range = xasprintf("%llu-", (unsigned long long)q->offset);
		sym_curl_easy_setopt(c, CURLOPT_RANGE, range);
	}
	sym_curl_easy_setopt(c, CURLOPT_URL, url);
	sym_curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	sym_curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4);
	sym_curl_easy_setopt(c, CURLOPT_USERNAME, s->access_key);
	sym_curl_easy_setopt(c, CURLOPT_PASSWORD, s->secret_key);
	sym_curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	sym_curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	sym_curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	sym_curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	/* a stalled transfer (under 1 byte/s for 60 s) fails instead of hanging */
	sym_curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	sym_curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	if (s->rate_limit > 0) {
		sym_curl_easy_setopt(c, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)s->rate_limit);
		sym_curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)s->rate_limit);
	}
	sym_curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
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
	CURLcode rc = sym_curl_easy_perform(c);
	sym_curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &q->status);
	sym_curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &q->length);
	sym_curl_slist_free_all(h);
	sym_curl_easy_cleanup(c);
	q->c = NULL;
	if (tok)
		explicit_bzero(tok, strlen(tok));
	s->stats.requests++;
	if (!strcmp(q->method, "PUT") && rc == CURLE_OK && q->status < 300) {
		s->stats.puts++;
		s->stats.put_bytes += q->upload_size;
	}
	s->stats.get_bytes += q->got;
	int r = 0;
	if (q->sink_err) {
		r = q->sink_err;
		if (!err_isset(e))
			err_sys(e, r, EXIT_FAILED, "%s %s", q->method, url);
	} else if (rc != CURLE_OK) {
		r = err_set(e, -EIO, EXIT_FAILED, "store %s: %s %s failed: %s", s->url, q->method,
			    url, errbuf[0] ? errbuf : sym_curl_easy_strerror(rc));
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
	strbuf_release(&q->errbody);
	return r;
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
			.query = "uploads",
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
	for (uint64_t n = first; r >= 0 && n <= parts; n++) {
		uint64_t off = (n - 1) * s->part_size;
		uint64_t len = size - off < s->part_size ? size - off : s->part_size;
		if (fseeko(f, (off_t)off, SEEK_SET) < 0) {
			r = err_sys(e, -errno, EXIT_FAILED, "seeking in the file of '%s'", key);
			break;
		}
		_cleanup_free_ char *query =
		    xasprintf("partNumber=%llu&uploadId=%s", (unsigned long long)n, id);
		struct req p = {.s = s,
				.method = "PUT",
				.key = key,
				.query = query,
				.upload = f,
				.upload_size = len,
				.upload_left = len,
				.want_etag = true};
		r = perform(&p, e);
		if (r >= 0 && !p.etag)
			r = err_set(e, -EIO, EXIT_FAILED,
				    "store %s: part %llu of '%s%s' was answered without an ETag",
				    s->url, (unsigned long long)n, s->prefix, key);
		if (r >= 0) {
			json_array_append_new(etags, json_string(p.etag));
			if (state_path)
				r = json_write_file(state_path, st, e);
		}
		free(p.etag);
	}
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
	if (s->part_size && size > s->part_size) {
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
