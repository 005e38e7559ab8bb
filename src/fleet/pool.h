/* Pools: a tenant's flake/profile with sizing, its revisions, and the
 * counts of instances it should have (seed 003).
 *
 * pools/<t>/<p>/pool.json (0600, written atomically):
 *   {"schema_version": 1, "tenant": "acme", "id": "workers",
 *    "flake": "<resolved ref>", "profile": "baseline",
 *    "vcpus": 2, "mem_mib": 1024, "data_disk_mib": 0,
 *    "desired": {"running": 0, "warm": 0, "sleeping": 0},
 *    "builds": [{"revision": "<64 hex>", "built_at": "…", "built": true,
 *                "snapshot": true|false, "seconds": 1.2}, …],   oldest first
 *    "created_at": "…", "updated_at": "…"}
 * pools/<t>/<p>/revisions/<hash>/ and current: an rstore (core/rstore.h),
 * filled by the same build code as `mvmctl build` (build/build.h).
 * pools/<t>/<p>/build.lock: flock'd by pool build / rollback.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "build/nix.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/rstore.h"

struct pool_counts {
	unsigned running, warm, sleeping;
};

struct pool {
	char *tenant, *id;
	char *dir; /* pools/<t>/<p> */
	char *flake, *profile;
	unsigned vcpus;
	uint64_t mem_mib, data_disk_mib;
	struct pool_counts desired;
	struct rstore store; /* root dir, revisions "revisions" */
	json_t *record;	     /* pool.json as read (updated by pool_save) */
};

#define POOL_INIT                                                                                  \
	{                                                                                          \
		.tenant = NULL, .store = RSTORE_INIT                                               \
	}

struct pool_create_args {
	const char *tenant, *id;
	const char *flake; /* as given: a path is made absolute ("./my-flake" works from any cwd) */
	const char *profile;
	unsigned vcpus;
	uint64_t mem_mib, data_disk_mib;
};

/* Tenant missing: EXIT_NOTFOUND "Tenant 'x' does not exist". Pool exists:
 * EXIT_REFUSED "Pool 'acme/workers' already exists". The tenant's max_pools
 * exceeded: EXIT_REFUSED naming the quota and the numbers. */
int pool_create(const struct pool_create_args *a, struct err *e);
/* Missing: EXIT_NOTFOUND "Pool 'acme/workers' does not exist". */
int pool_load(const char *tenant, const char *id, struct pool *p, struct err *e);
void pool_release(struct pool *p);
/* Writes p's fields (desired counts, …) back into pool.json atomically. */
int pool_save(struct pool *p, struct err *e);
/* The pool ids of a tenant, sorted (tenant NULL: every "<t>/<p>"). */
int pool_list(const char *tenant, struct strvec *ids, struct err *e);
/* Deletes the pool and its revisions. Refused (EXIT_REFUSED) while it has
 * instances that are not stopped, unless force (the caller stops them). */
int pool_remove(const char *tenant, const char *id, struct err *e);

/* The revision `current` names: 1 with *hash, 0 when the pool was never built. */
int pool_current(const struct pool *p, char **hash, struct err *e);

struct pool_build_result {
	char *revision;
	bool built;	   /* false: the revision existed and was complete (cache hit) */
	bool snapshot;	   /* a snapshot of the revision is in place */
	char *snapshot_reason; /* why not, or NULL */
	double seconds;
};

/* Builds the pool's flake/profile on the host with build_resolve +
 * build_realise (the code `mvmctl build` uses), commits it into the pool's
 * store, takes a snapshot of it for restores (the pool's sizing, a secrets
 * disk and, with data_disk_mib, a data disk: the device layout of every
 * instance), appends to "builds" and points current at it. Holds build.lock. */
int pool_build(struct pool *p, const struct nix_opts *nix, struct pool_build_result *out,
	       struct err *e);
void pool_build_result_release(struct pool_build_result *r);
/* Repoints current at an existing, complete revision without building:
 * else EXIT_NOTFOUND "Revision <hash> not found" (a unique prefix of at
 * least 8 hex digits is accepted). Holds build.lock. */
int pool_rollback(struct pool *p, const char *revision, char **full, struct err *e);
