/* A small client of an S3-compatible object store: HEAD, PUT (a file or a
 * buffer), GET (to a buffer, or to a file from an offset with a ranged GET).
 *
 * Requests are signed by libcurl itself (CURLOPT_AWS_SIGV4, provider
 * "aws:amz:<region>:s3") with the credentials of the environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, optional AWS_SESSION_TOKEN);
 * the payload is sent as `x-amz-content-sha256: UNSIGNED-PAYLOAD`. A custom
 * endpoint (config `[store] endpoint`, AWS_ENDPOINT_URL) is addressed
 * path-style (<endpoint>/<bucket>/<key>); AWS itself virtual-hosted
 * (https://<bucket>.s3.<region>.amazonaws.com/<key>).
 *
 * The secret key lives only in this object's memory (wiped on release): it
 * is never in argv, a log, a record or an error message.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"
#include "core/strbuf.h"

/* What one client did, for tests and --json: requests sent and payload bytes. */
struct s3_stats {
	uint64_t requests;
	uint64_t puts;
	uint64_t put_bytes;
	uint64_t get_bytes;
	uint64_t resumed_parts; /* multipart parts an earlier push had uploaded */
};

/* Called during a transfer with bytes done and the total (0 when unknown). */
typedef void (*s3_progress_fn)(void *ctx, uint64_t done, uint64_t total);

struct s3 {
	char *url;	/* "s3://bucket/prefix", as configured (for messages) */
	char *endpoint; /* "http://127.0.0.1:9000" without a trailing slash; NULL: AWS */
	char *bucket;
	char *prefix; /* "" or "a/b/" */
	char *region;
	char *access_key;
	char *secret_key; /* wiped on release */
	char *session_token;
	long long rate_limit;	      /* bytes/s each way, 0 unlimited */
	uint64_t part_size;	      /* the parts of a multipart upload */
	uint64_t multipart_threshold; /* files larger than this go up in parts; 0 never */
	struct s3_stats stats;
	s3_progress_fn progress;
	void *progress_ctx;
	/* called when a multipart upload continues after `done` of `parts` parts */
	void (*on_resume)(void *ctx, const char *key, uint64_t done, uint64_t parts);
};

#define S3_INIT                                                                                    \
	{                                                                                          \
		.url = NULL                                                                        \
	}

/* Opens the store the config names. No [store] url: EXIT_INVALID with a
 * hint; no credentials: EXIT_INVALID naming the variables. Loads libcurl. */
int s3_open(struct s3 *s, const struct config *c, struct err *e);
void s3_release(struct s3 *s);

/* 1 with *size set when the object exists, 0 when it does not. */
int s3_head(struct s3 *s, const char *key, uint64_t *size, struct err *e);
/* Uploads a whole file as the object key: one PUT, or above
 * multipart_threshold a multipart upload of part_size parts, up to 4 sent at
 * once, whose progress is kept in state_path (may be NULL), so that a push
 * killed midway continues after the last unbroken run of parts it finished. */
int s3_put_file(struct s3 *s, const char *key, const char *path, const char *state_path,
		struct err *e);
int s3_put_buf(struct s3 *s, const char *key, const void *data, size_t len, struct err *e);
/* Downloads an object of at most max bytes. Absent: -ENOENT, EXIT_NOTFOUND. */
int s3_get_buf(struct s3 *s, const char *key, size_t max, struct strbuf *out, struct err *e);

/* Receives the bytes of s3_get_fd. Returns 0, or <0 to stop the transfer. */
typedef int (*s3_sink_fn)(void *ctx, const void *data, size_t len);
/* Downloads the object from byte offset on (a ranged GET when offset > 0)
 * into sink. Absent: -ENOENT, EXIT_NOTFOUND. */
int s3_get_range(struct s3 *s, const char *key, uint64_t offset, uint64_t total, s3_sink_fn sink,
		 void *ctx, struct err *e);
