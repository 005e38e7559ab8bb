/* A client of etcd 3.4's v3 JSON gateway (grpc-gateway over HTTP/1.1), with
 * libcurl (core/dl_curl.h) and jansson:
 *
 *   POST /v3/kv/range  /v3/kv/put  /v3/kv/deleterange  /v3/kv/txn  /v3/kv/compaction
 *   POST /v3/lease/grant  /v3/lease/keepalive  /v3/lease/revoke
 *   POST /v3/watch  (a stream of newline-delimited JSON results)
 *
 * The gateway's traps, handled here so no caller sees them: keys and values
 * are base64; 64-bit numbers (revisions, lease ids, TTLs) are JSON strings;
 * zero-valued fields are left out (no "succeeded" means false, no "kvs"
 * means none, no "count" means 0, a PUT event has no "type", a lease
 * keepalive of an expired lease has no "TTL"); a watch is cancelled after a
 * compaction ("canceled": true with "compact_revision").
 *
 * Endpoints are tried in order; one that cannot be reached (connect refused
 * or timed out, or an HTTP 5xx / "etcdserver: request timed out", which a
 * member cut off from its quorum answers) is left for the next, and the one
 * that answered is tried first next time. Every request has a deadline
 * (etcd_open's timeout_ms per endpoint tried), so no call blocks for long.
 *
 * Errors: an unreachable cluster is EXIT_NOTREADY, "etcd is unreachable at
 * <endpoints>: <the last endpoint's reason>", with a hint naming
 * [cluster] etcd / MVM_ETCD; a refusal by etcd (bad request, lease not
 * found, ...) EXIT_FAILED with etcd's own message. Not thread-safe: one
 * struct etcd per thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/strvec.h"

struct etcd;

/* endpoints: "http://127.0.0.1:2379", ...; at least one. timeout_ms: each
 * request's deadline at one endpoint (0: 2000). Nothing is sent yet. */
int etcd_open(struct etcd **out, const struct strvec *endpoints, long timeout_ms, struct err *e);
void etcd_close(struct etcd *c);
/* The endpoint that answered last ("" before any answer). */
const char *etcd_endpoint(const struct etcd *c);

struct etcd_kv {
	char *key;
	char *value; /* NUL-terminated; value_len bytes before the NUL */
	size_t value_len;
	int64_t create_revision, mod_revision, version, lease;
};

struct etcd_kvs {
	struct etcd_kv *v;
	size_t n;
	int64_t revision; /* the store's revision the answer is of (header.revision) */
};

void etcd_kv_release(struct etcd_kv *kv);
void etcd_kvs_release(struct etcd_kvs *kvs);

/* One key. *found false (and kv zeroed) when absent. rev: header revision (may be NULL). */
int etcd_get(struct etcd *c, const char *key, struct etcd_kv *kv, bool *found, int64_t *rev,
	     struct err *e);
/* Every key starting with prefix, in key order. */
int etcd_get_prefix(struct etcd *c, const char *prefix, struct etcd_kvs *out, struct err *e);
/* lease 0: none. rev: the revision of the write (may be NULL). */
int etcd_put(struct etcd *c, const char *key, const char *value, int64_t lease, int64_t *rev,
	     struct err *e);
/* prefix false: the key; true: every key starting with key. deleted may be NULL. */
int etcd_delete(struct etcd *c, const char *key, bool prefix, int64_t *deleted, struct err *e);

/* A transaction: if every compare holds, the success ops run, else the
 * failure ops, atomically. */
enum etcd_target { ETCD_CREATE, ETCD_MOD, ETCD_VERSION, ETCD_VALUE, ETCD_LEASE };
enum etcd_result { ETCD_EQUAL, ETCD_NOT_EQUAL, ETCD_GREATER, ETCD_LESS };
struct etcd_cmp {
	const char *key;
	enum etcd_target target;
	enum etcd_result result;
	int64_t num;	   /* for CREATE, MOD, VERSION, LEASE */
	const char *value; /* for VALUE */
};
enum etcd_op_type { ETCD_OP_PUT, ETCD_OP_DELETE };
struct etcd_op {
	enum etcd_op_type type;
	const char *key;
	const char *value; /* PUT */
	int64_t lease;	   /* PUT; 0: none */
};
/* *succeeded: the compares held. rev: the revision after it (may be NULL). */
int etcd_txn(struct etcd *c, const struct etcd_cmp *cmp, size_t ncmp, const struct etcd_op *ok,
	     size_t nok, const struct etcd_op *fail, size_t nfail, bool *succeeded, int64_t *rev,
	     struct err *e);

/* Leases. grant: *id and the TTL etcd granted. keepalive: *ttl the TTL left
 * after the renewal, 0 when the lease has expired (or never was). */
int etcd_lease_grant(struct etcd *c, int64_t ttl_s, int64_t *id, int64_t *granted_ttl,
		     struct err *e);
int etcd_lease_keepalive(struct etcd *c, int64_t id, int64_t *ttl, struct err *e);
int etcd_lease_revoke(struct etcd *c, int64_t id, struct err *e);

/* Compacts the store up to rev (tests: a watch from an older revision is then cancelled). */
int etcd_compact(struct etcd *c, int64_t rev, struct err *e);

/* Watches every key under prefix from revision from (inclusive) and waits up
 * to wait_ms for the first events: returns 0 with the events of the first
 * batch (possibly none when the wait ended), *next the revision to watch
 * from next time. A watch cancelled because from was compacted returns
 * -ESTALE (err set, *next the compact revision + 1): list again. */
struct etcd_event {
	bool deleted; /* false: a PUT */
	struct etcd_kv kv;
};
struct etcd_events {
	struct etcd_event *v;
	size_t n;
};
void etcd_events_release(struct etcd_events *ev);
int etcd_watch_wait(struct etcd *c, const char *prefix, int64_t from, long wait_ms,
		    struct etcd_events *out, int64_t *next, struct err *e);
