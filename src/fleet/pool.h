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
 * "builds" is the pool's history: one entry per `pool build` (as above, plus
 * "snapshot_reason" when no snapshot could be taken) and one per `pool
 * rollback` that moved current: {"revision": "<64 hex>", "rolled_back_at":
 * "…", "from": "<64 hex>"|null}. Only the last POOL_HISTORY_MAX are kept.
 * pools/<t>/<p>/revisions/<hash>/ and current: an rstore (core/rstore.h),
 * filled by the same build code as `mvmctl build` (build/build.h); its
 * staging tag is "pool_<t>.<p>" ("pool_<sha256 of t/p>" when longer than a
 * tag may be), which no other pool's tag can end with.
 * pools/<t>/<p>/build.lock: flock'd by pool build / rollback / rm.
 * pools/<t>/<p>/pool.lock: flock'd for a moment by every read-modify-write
 * of pool.json (pool_save, the history), so that a build and a scale do
 * not lose each other's changes.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "build/build.h"
#include "build/nix.h"
#include "builder/builder.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/rstore.h"

#define POOL_HISTORY_MAX 200

struct pool_counts {
	unsigned running, warm, sleeping;
};

struct pool {
	char *tenant, *id;
	char *dir; /* pools/<t>/<p> */
	char *flake, *profile;
	char *builder; /* "vm" (the builder microVM, builder/builder.h) or "host" */
	unsigned vcpus;
	uint64_t mem_mib, data_disk_mib;
	struct pool_counts desired;
	struct rstore store; /* root dir, revisions "revisions" */
	json_t *record;	     /* pool.json as read (updated by pool_save) */
	/* Set by the cluster's agent (not owned, not saved): a fresh start boots
	 * this revision, the one the cluster runs, instead of current. */
	const char *run_revision;
	/* Set by the cluster's agent: every VM it starts is fenced by this file
	 * (vm_spec.fence). */
	const char *run_fence;
};

#define POOL_INIT                                                                                  \
	{                                                                                          \
		.tenant = NULL, .store = RSTORE_INIT                                               \
	}

struct pool_create_args {
	const char *tenant, *id;
	const char *flake; /* as given: a path is made absolute ("./my-flake" works from any cwd) */
	const char *profile;
	const char *builder; /* "vm" or "host"; NULL: "vm" */
	unsigned vcpus;
	uint64_t mem_mib, data_disk_mib;
};

/* Tenant missing: EXIT_NOTFOUND "Tenant 'x' does not exist". Pool exists:
 * EXIT_REFUSED "Pool 'acme/workers' already exists". The tenant's max_pools
 * exceeded: EXIT_REFUSED "Quota exceeded for tenant 'acme': max_pools is 2,
 * the tenant has 2". vcpus outside 1..255, mem below 64 MiB, an invalid
 * profile or flake ref: EXIT_USAGE; a local flake directory that does not
 * exist: EXIT_NOTFOUND. Holds the tenant's lock while it counts and creates;
 * the pool directory appears in one rename. */
int pool_create(const struct pool_create_args *a, struct err *e);
/* Missing: EXIT_NOTFOUND "Pool 'acme/workers' does not exist". */
int pool_load(const char *tenant, const char *id, struct pool *p, struct err *e);
/* pool_load of an address "<tenant>/<pool>" as the user typed it (malformed:
 * fleet_parse_pool's EXIT_USAGE error). */
int pool_load_addr(const char *addr, struct pool *p, struct err *e);
void pool_release(struct pool *p);
/* Writes p's fields (desired counts, …) back into pool.json atomically. */
int pool_save(struct pool *p, struct err *e);
/* The pool ids of a tenant, sorted (tenant NULL: every "<t>/<p>"). */
int pool_list(const char *tenant, struct strvec *ids, struct err *e);
/* Deletes the pool and its revisions (renamed away in one step, then
 * deleted). Refused (EXIT_REFUSED, with the count) while instances/ holds
 * any instance: the caller removes them first. Missing: EXIT_NOTFOUND as
 * pool_load. Holds the tenant's lock and build.lock (a build in progress:
 * EXIT_FAILED naming its pid). */
int pool_remove(const char *tenant, const char *id, struct err *e);

/* The revision `current` names: 1 with *hash, 0 when the pool was never built. */
int pool_current(const struct pool *p, char **hash, struct err *e);
/* rstore_revision_complete with the artifacts every pool revision holds
 * (those of a slot revision: rootfs.ext4, vmlinux, initrd.img). */
int pool_revision_complete(const struct pool *p, const char *hash, char **why);

/* Registers revision hash of p from what fill(ctx, dir, e) writes into a
 * fresh staging directory (a pull: cluster/travel.h), under the pool's build
 * lock (a build or rollback in progress: EXIT_FAILED saying so). The pool's
 * `current` stays where it was (it is set when the pool had none). 1: the
 * revision was complete already (fill not called); 0: registered. */
int pool_register_revision(struct pool *p, const char *hash,
			   int (*fill)(void *ctx, const char *dir, struct err *e), void *ctx,
			   struct err *e);

struct pool_build_result {
	char *revision;
	bool built;		 /* false: the revision existed and was complete (cache hit) */
	bool snapshot;		 /* a snapshot of the revision is in place */
	bool snapshot_reused;	 /* it was there already for this sizing and host */
	uint64_t snapshot_bytes; /* its state + RAM on disk */
	char *snapshot_reason;	 /* why not, or NULL */
	double seconds;
	char *builder; /* "vm" or "host" */
	json_t *how;   /* a builder VM's account of the build (builder_realise), or NULL */
};

/* How pool_build builds: builder NULL is the pool's own; vm sizes the
 * builder VM (its store_dir is the tenant's, set by pool_build). */
struct pool_build_opts {
	const char *builder;
	struct builder_opts vm;
};

/* Builds the pool's flake/profile on the host with build_resolve +
 * build_realise (the code `mvmctl build` uses), commits it into the pool's
 * store, takes a snapshot of it for restores (the pool's sizing, a secrets
 * disk and, with data_disk_mib, a data disk: the device layout of every
 * instance), appends to "builds" and points current at it. Holds build.lock
 * (another build or rollback of the pool in progress: EXIT_FAILED naming its
 * pid). A snapshot that cannot be taken is no error: snapshot stays false
 * and snapshot_reason says why. */
int pool_build(struct pool *p, const struct nix_opts *nix, struct pool_build_result *out,
	       struct err *e);
/* pool_build reporting each phase to pg as it ends ("evaluate", "build",
 * "pack", "register", "snapshot"); pg may be NULL. */
int pool_build_with_progress(struct pool *p, const struct nix_opts *nix,
			     const struct pool_build_opts *bo, const struct build_progress *pg,
			     struct pool_build_result *out, struct err *e);
void pool_build_result_release(struct pool_build_result *r);
/* Repoints current at an existing, complete revision without building:
 * else EXIT_NOTFOUND "Revision <hash> not found" (a unique prefix of at
 * least 8 hex digits is accepted; an ambiguous prefix or an incomplete
 * revision is not found too, the hint says which). *full is the whole hash.
 * Returns 0 when current moved (recorded in "builds"), 1 when current
 * already was that revision (nothing written). Holds build.lock. */
int pool_rollback(struct pool *p, const char *revision, char **full, struct err *e);
