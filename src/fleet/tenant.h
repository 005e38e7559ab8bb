/* Tenants: quotas and secrets (seed 003).
 *
 * tenants/<t>/tenant.json (0600, written atomically):
 *   {"schema_version": 1, "id": "acme", "created_at": "…",
 *    "quotas": {"max_vcpus": 16, "max_mem_mib": 16384, "max_running": 16,
 *               "max_warm": 16, "max_pools": 8, "max_instances_per_pool": 16},
 * tenants/<t>/secrets/      replaced whole by every `secrets set` (one
 *                           renameat2 RENAME_EXCHANGE: the three files
 *                           always belong together):
 *   secrets.json            the tenant's secrets as given (0600); never printed
 *   secrets.img             a small read-only ext4 image labelled
 *                           TENANT_SECRETS_LABEL holding secrets.json (0600);
 *                           instances get a fresh copy of it at each start
 *                           and wake
 *   meta.json               {"set_at": "…", "keys": 3 | null}; absent until
 *                           the first `secrets set`
 * (A tenant made before secrets/ existed has secrets.json and secrets.img at
 * the top and "secrets" in tenant.json, read until its next `secrets set`.)
 * tenants/<t>/tenant.lock   flock'd by whoever changes the tenant or starts,
 *                           wakes or resumes one of its instances (quota checks)
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/fs.h"
#include "core/secrets_img.h"
#include "core/strvec.h"

#define TENANT_SECRETS_LABEL SECRETS_IMG_LABEL

/* Defaults for quotas not given at `tenant create` (documented in help and README). */
#define TENANT_DEFAULT_MAX_VCPUS	      16
#define TENANT_DEFAULT_MAX_MEM_MIB	      16384
#define TENANT_DEFAULT_MAX_RUNNING	      16
#define TENANT_DEFAULT_MAX_WARM		      16
#define TENANT_DEFAULT_MAX_POOLS	      8
#define TENANT_DEFAULT_MAX_INSTANCES_PER_POOL 16

struct tenant_quotas {
	long long max_vcpus, max_mem_mib, max_running, max_warm, max_pools, max_instances_per_pool;
};

struct tenant {
	char *id;
	char *dir; /* tenants/<id> */
	struct tenant_quotas q;
	json_t *record;	 /* tenant.json as read */
	json_t *secrets; /* secrets/meta.json: {set_at, keys}; NULL before any `secrets set` */
};

#define TENANT_INIT                                                                                \
	{                                                                                          \
		.id = NULL                                                                         \
	}

void tenant_quotas_default(struct tenant_quotas *q);

/* Creates tenants/<id>/ with tenant.json and an empty secrets image.
 * Exists already: EXIT_REFUSED "Tenant 'x' already exists". A quota < 1 (or
 * < 0 for max_warm) is EXIT_USAGE naming it. */
int tenant_create(const char *id, const struct tenant_quotas *q, struct err *e);
/* Missing: EXIT_NOTFOUND "Tenant 'x' does not exist" (hint: mvm tenant create x). */
int tenant_load(const char *id, struct tenant *t, struct err *e);
void tenant_release(struct tenant *t);
/* Every tenant id, sorted. */
int tenant_list(struct strvec *ids, struct err *e);
/* Deletes the tenant (tenants/<id>/ and the empty pools/<id>/). Refused
 * (EXIT_REFUSED, naming them) while it has pools. */
int tenant_remove(const char *id, struct err *e);

/* Takes tenants/<id>/tenant.lock (blocking). */
int tenant_lock(const char *id, struct fs_lock *lk, struct err *e);

/* Validates file as JSON (else EXIT_INVALID naming the file and the parse
 * error position, nothing changed), then replaces secrets/ (secrets.json,
 * secrets.img, meta.json with set_at/keys) in one atomic step. */
int tenant_secrets_set(const char *id, const char *file, struct err *e);
/* Copies the tenant's secrets image to dst (0600, atomically): the fresh
 * read-only secrets disk of one instance start or wake. */
int tenant_secrets_disk(const char *id, const char *dst, struct err *e);
