/* The commands' side of the cluster: what `pool scale`, `instance ls` and
 * `host ls` do when [cluster] etcd is set (docs/cluster.md). They write
 * desired state and read what the hosts report; they never start a VM.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "cluster/etcd.h"
#include "core/config.h"
#include "core/err.h"
#include "core/strvec.h"
#include "fleet/pool.h"
#include "fleet/tenant.h"

/* The cluster of cfg ([cluster] etcd / MVM_ETCD); *c NULL when none is set. */
int cluster_open(const struct config *cfg, struct etcd **c, struct err *e);

struct cluster_scale {
	const char *tenant, *pool;
	struct pool_counts want;
	bool set_running, set_warm, set_sleeping;
	bool wait;
	int timeout_s;
};

/* Writes the pool's desired counts and its instances' desired states in
 * one transaction (revision and memory from the local pool when there is
 * one, else what the cluster has), then, when o->wait, waits until every
 * instance is owned and in its state (EXIT_FAILED naming what is not after
 * timeout_s). *result: {"pool", "desired", "instances": [{"address", "want",
 * "state", "host", "how"}]}. */
int cluster_pool_scale(struct etcd *c, const struct cluster_scale *o, json_t **result,
		       struct err *e);

/* Moves the revision the cluster runs for pool t/p to rev (`pool build`
 * and `pool rollback` with a cluster): new instances boot it, on the hosts
 * that have it. 1 when it moved (*previous: the one before), 0 when the
 * pool is not in the cluster (nothing written). */
int cluster_pool_set_revision(struct etcd *c, const char *t, const char *p, const char *rev,
			      char **previous, struct err *e);

/* The cluster's instances in scope ("<t>" or "<t>/<p>"; NULL: all), as
 * above's "instances". */
int cluster_instances(struct etcd *c, const char *scope, json_t **out, struct err *e);

/* `tenant create` with a cluster: the tenant's quotas become the cluster's
 * (mvm/tenants/<t>, created if absent; *created then). A tenant the cluster
 * has with other quotas is refused (EXIT_REFUSED, naming them): quotas are
 * one for every host. */
int cluster_tenant_register(struct etcd *c, const char *t, const struct tenant_quotas *q,
			    bool *created, struct err *e);

/* `tenant info` with a cluster: {"quotas": the cluster's (or null), "pools":
 * ["<t>/<p>", …], "desired": {"running", "warm", "sleeping", "vcpus",
 * "mem_mib"} summed over them (what the quotas are checked against),
 * "instances": {"running", "warm", "sleeping", "unplaced"}, "hosts":
 * {"<host>": n}}. */
int cluster_tenant_usage(struct etcd *c, const char *t, json_t **out, struct err *e);

/* `tenant rm` with a cluster: refused (EXIT_REFUSED, naming them) while a
 * pool of the tenant wants or has an instance; else the tenant's key and its
 * pools' keys go in one transaction (*removed when there were any). */
int cluster_tenant_remove(struct etcd *c, const char *t, bool *removed, struct err *e);

/* The cluster's copy of a tenant's quotas (max_pools is per host), as
 * mvm/tenants/<t> holds it. */
char *cluster_quotas_value(const struct tenant_quotas *q);
void cluster_quotas_parse(const json_t *j, struct tenant_quotas *q);

/* The live hosts: [{"host", "vcpus", "mem_mib", "free_mib", "instances", "pools"}]. */
int cluster_hosts(struct etcd *c, json_t **out, struct err *e);
