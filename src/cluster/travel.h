/* A pool's revisions between hosts, through the store of `manifest push` and
 * `pull` (store/transfer.h, docs/store.md): a host pulls the revision the
 * cluster runs when it lacks it, before it can take an instance of it.
 *
 *   pools/<t>/<p>/<revision>.json   the signed document (a DSSE envelope,
 *                                    SIGN_POOL_PAYLOAD_TYPE): schema_version 1,
 *                                    kind "mvm-pool-revision", tenant, pool,
 *                                    revision, record {flake, profile, vcpus,
 *                                    mem_mib, data_disk_mib}, files [{name,
 *                                    size, sha256, mode}], pushed_at, pushed_by
 *   blobs/sha256/<hex>              its files, shared with slots' revisions
 *
 * The payload type is the pool's own, so no slot revision's envelope can pass
 * for a pool's, and the document must name the pool and revision asked for. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"
#include "fleet/pool.h"

struct travel_result {
	char *revision;
	char *keyid;	     /* the key that signed it (pull: NULL when not checked) */
	bool already;	     /* pull: the pool had it, nothing was fetched */
	size_t files, moved; /* uploaded or downloaded */
	uint64_t total_bytes, moved_bytes;
};
void travel_result_release(struct travel_result *r);

/* Pushes revision rev (NULL: current) of pool p: every file the store lacks,
 * then the signed document. Needs [store] and the signing key. */
int travel_push(const struct config *cfg, struct pool *p, const char *rev,
		struct travel_result *out, struct err *e);

/* Pulls revision rev of pool p from the store when the pool lacks it: the
 * document checked against [store] trusted_keys (the pool's name and the
 * revision included), every file checked against its sha256, then the
 * revision registered whole (rstore_commit) under the pool's build lock.
 * The host's `current` is left alone. */
int travel_pull(const struct config *cfg, struct pool *p, const char *rev,
		struct travel_result *out, struct err *e);
