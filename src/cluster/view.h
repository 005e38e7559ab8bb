/* The cluster's state in etcd (docs/cluster.md has the whole layout), read
 * at one revision into a view. Under the prefix "mvm/":
 *
 *   hosts/<host>              {"host", "pid", "vcpus", "mem_mib", "lease",
 *                              "pools": {"<t>/<p>": "<current revision>", …},
 *                              "revisions": {"<t>/<p>": ["<revision>", …], …}}
 *                             with the host's lease: gone when the host is
 *   tenants/<t>               {"max_vcpus", "max_mem_mib", "max_running", "max_warm",
 *                              "max_instances_per_pool"}: the tenant's quotas, written
 *                             by `pool scale` from a host that has the tenant
 *   pools/<t>/<p>             {"revision", "desired": {"running", "warm", "sleeping"},
 *                              "vcpus", "mem_mib", "updated_at"}: what `pool scale` asked for
 *   instances/<t>/<p>/<id>    {"want": "running"|"warm"|"sleeping", "created_at",
 *                              "owned_once"}: the instance's desired state
 *   owners/<t>/<p>/<id>       {"host", "lease", "state", "how", "at"} with the
 *                             owner's lease: which host has it and what it is there
 *
 * Desired state (pools/, instances/) is written by the commands; a host
 * writes only its hosts/ record and the owners/ keys it holds. An owner key
 * is created by the claim transaction (docs/cluster.md): never two hosts
 * for one instance, and it vanishes with its host's lease.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster/etcd.h"
#include "core/err.h"
#include "fleet/instance.h"
#include "fleet/pool.h"

#define CLUSTER_PREFIX "mvm/"

struct c_host {
	char *name;
	int64_t lease;
	unsigned vcpus;
	uint64_t mem_mib;
	json_t *pools;	   /* {"<t>/<p>": "<current revision>"} */
	json_t *revisions; /* {"<t>/<p>": ["<revision>", …]}: every one it can start */
};

struct c_pool {
	char *addr; /* "<t>/<p>" */
	char tenant[64], pool[64];
	char *revision;
	struct pool_counts desired;
	unsigned vcpus;
	uint64_t mem_mib;
	int64_t mod_revision;
};

struct c_inst {
	char *addr; /* "<t>/<p>/<id>" */
	char tenant[64], pool[64], id[64];
	enum inst_state want;
	bool owned_once;
	json_t *spec;	  /* the instances/ key's value; NULL when there is none */
	int64_t spec_mod; /* its mod revision; -1 when there is none */
	/* its owners/ key; owner NULL when none */
	char *owner;
	int64_t owner_lease, owner_create;
	enum inst_state state; /* what its owner reports */
	char *how;
};

struct cluster_view {
	struct c_host *hosts;
	size_t nhosts;
	struct c_pool *pools;
	size_t npools;
	struct c_inst *insts; /* sorted by address */
	size_t ninsts;
	json_t *tenants; /* "<t>" → its quotas record */
	int64_t revision;
};

/* Reads every key under CLUSTER_PREFIX at one revision. Keys that do not
 * parse are skipped (a later writer fixes them), never fatal. */
int cluster_view_load(struct etcd *c, struct cluster_view *v, struct err *e);
void cluster_view_release(struct cluster_view *v);

const struct c_host *cluster_host(const struct cluster_view *v, const char *name);
const struct c_pool *cluster_pool(const struct cluster_view *v, const char *t, const char *p);

/* Keys (malloc'd). */
char *cluster_key_host(const char *host);
char *cluster_key_pool(const char *t, const char *p);
char *cluster_key_inst(const char *t, const char *p, const char *id);
char *cluster_key_owner(const char *t, const char *p, const char *id);

/* "running", "warm", "sleeping" → state; else -1. */
int cluster_state_parse(const char *s);

/* A host's name: 1-63 characters of [A-Za-z0-9._-], not starting with '.' or '-'. */
bool cluster_host_name_valid(const char *s);
