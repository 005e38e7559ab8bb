/* A tenant in the cluster (client.h): its quotas at mvm/tenants/<t>, one
 * copy for every host, and what its pools ask of them. */
#include <stdio.h>
#include <string.h>

#include "cluster/client.h"
#include "cluster/view.h"
#include "core/jsonio.h"
#include "core/size.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "fleet/instance.h"

char *cluster_quotas_value(const struct tenant_quotas *q)
{
	json_t *j = json_pack("{s:I, s:I, s:I, s:I, s:I}", "max_vcpus", q->max_vcpus, "max_mem_mib",
			      q->max_mem_mib, "max_running", q->max_running, "max_warm",
			      q->max_warm, "max_instances_per_pool", q->max_instances_per_pool);
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return s;
}

void cluster_quotas_parse(const json_t *j, struct tenant_quotas *q)
{
	*q = (struct tenant_quotas){
	    .max_vcpus = json_get_int(j, "max_vcpus", 0),
	    .max_mem_mib = json_get_int(j, "max_mem_mib", 0),
	    .max_running = json_get_int(j, "max_running", 0),
	    .max_warm = json_get_int(j, "max_warm", 0),
	    .max_instances_per_pool = json_get_int(j, "max_instances_per_pool", 0),
	};
}

static bool same_quotas(const struct tenant_quotas *a, const struct tenant_quotas *b)
{
	return a->max_vcpus == b->max_vcpus && a->max_mem_mib == b->max_mem_mib &&
	       a->max_running == b->max_running && a->max_warm == b->max_warm &&
	       a->max_instances_per_pool == b->max_instances_per_pool;
}

static char *tenant_key(const char *t)
{
	return xasprintf(CLUSTER_PREFIX "tenants/%s", t);
}

int cluster_tenant_register(struct etcd *c, const char *t, const struct tenant_quotas *q,
			    bool *created, struct err *e)
{
	*created = false;
	_cleanup_free_ char *key = tenant_key(t);
	_cleanup_free_ char *val = cluster_quotas_value(q);
	for (int tries = 0; tries < 8; tries++) {
		struct etcd_cmp cmp = {
		    .key = key, .target = ETCD_CREATE, .result = ETCD_EQUAL, .num = 0};
		struct etcd_op op = {.type = ETCD_OP_PUT, .key = key, .value = val};
		bool ok = false;
		int r = etcd_txn(c, &cmp, 1, &op, 1, NULL, 0, &ok, NULL, e);
		if (r < 0)
			return r;
		if (ok) {
			*created = true;
			return 0;
		}
		struct etcd_kv kv;
		bool found = false;
		if ((r = etcd_get(c, key, &kv, &found, NULL, e)) < 0)
			return r;
		if (!found)
			continue; /* removed meanwhile: create it */
		json_t *j = json_loadb(kv.value, kv.value_len, 0, NULL);
		etcd_kv_release(&kv);
		struct tenant_quotas have;
		cluster_quotas_parse(j, &have);
		json_decref(j);
		if (same_quotas(&have, q))
			return 0;
		_cleanup_free_ char *mem = size_format_mib((uint64_t)have.max_mem_mib);
		err_set(e, -EEXIST, EXIT_REFUSED,
			"tenant '%s' exists in the cluster with other quotas (vcpus %lld, mem %s, "
			"running %lld, warm %lld, per pool %lld)",
			t, have.max_vcpus, mem, have.max_running, have.max_warm,
			have.max_instances_per_pool);
		err_hint(e,
			 "the cluster's quotas hold on every host: create it here with them "
			 "(--max-vcpus %lld --max-mem %s --max-running %lld --max-warm %lld "
			 "--max-instances-per-pool %lld)",
			 have.max_vcpus, mem, have.max_running, have.max_warm,
			 have.max_instances_per_pool);
		return -EEXIST;
	}
	return err_set(e, -EAGAIN, EXIT_FAILED,
		       "tenant '%s' kept changing in the cluster; try again", t);
}

int cluster_tenant_usage(struct etcd *c, const char *t, json_t **out, struct err *e)
{
	*out = NULL;
	struct cluster_view v;
	int r = cluster_view_load(c, &v, e);
	if (r < 0)
		return r;
	const json_t *qj = json_object_get(v.tenants, t);
	long long running = 0, warm = 0, sleeping = 0, cpu = 0, mib = 0;
	json_t *pools = json_array();
	for (size_t i = 0; i < v.npools; i++) {
		const struct c_pool *p = &v.pools[i];
		if (strcmp(p->tenant, t))
			continue;
		running += p->desired.running;
		warm += p->desired.warm;
		sleeping += p->desired.sleeping;
		cpu += (long long)(p->desired.running + p->desired.warm) * p->vcpus;
		mib += (long long)(p->desired.running + p->desired.warm) * (long long)p->mem_mib;
		json_array_append_new(pools, json_string(p->addr));
	}
	json_t *states = json_pack("{s:i, s:i, s:i, s:i}", "running", 0, "warm", 0, "sleeping", 0,
				   "unplaced", 0);
	json_t *hosts = json_object();
	for (size_t i = 0; i < v.ninsts; i++) {
		const struct c_inst *ci = &v.insts[i];
		if (strcmp(ci->tenant, t) || !ci->spec)
			continue;
		const char *s = ci->owner ? inst_state_name(ci->state) : "unplaced";
		json_object_set_new(
		    states, s, json_integer(json_integer_value(json_object_get(states, s)) + 1));
		if (ci->owner)
			json_object_set_new(
			    hosts, ci->owner,
			    json_integer(json_integer_value(json_object_get(hosts, ci->owner)) +
					 1));
	}
	*out =
	    json_pack("{s:O?, s:o, s:{s:I, s:I, s:I, s:I, s:I}, s:o, s:o}", "quotas", qj, "pools",
		      pools, "desired", "running", (json_int_t)running, "warm", (json_int_t)warm,
		      "sleeping", (json_int_t)sleeping, "vcpus", (json_int_t)cpu, "mem_mib",
		      (json_int_t)mib, "instances", states, "hosts", hosts);
	cluster_view_release(&v);
	return 0;
}

int cluster_tenant_remove(struct etcd *c, const char *t, bool *removed, struct err *e)
{
	*removed = false;
	struct cluster_view v;
	int r = cluster_view_load(c, &v, e);
	if (r < 0)
		return r;
	/* refused while any pool of the tenant wants an instance, or has one */
	struct strbuf busy = STRBUF_INIT;
	size_t np = 0;
	for (size_t i = 0; i < v.npools; i++) {
		const struct c_pool *p = &v.pools[i];
		if (strcmp(p->tenant, t))
			continue;
		np++;
		bool has = p->desired.running || p->desired.warm || p->desired.sleeping;
		for (size_t k = 0; !has && k < v.ninsts; k++)
			has = !strcmp(v.insts[k].tenant, t) && !strcmp(v.insts[k].pool, p->pool) &&
			      (v.insts[k].spec || v.insts[k].owner);
		if (has)
			strbuf_addf(&busy, "%s%s", busy.len ? ", " : "", p->addr);
	}
	if (busy.len) {
		r = err_set(e, -EBUSY, EXIT_REFUSED,
			    "tenant '%s' has pools with instances in the cluster: %s", t, busy.buf);
		err_hint(e,
			 "'mvmctl pool scale <pool> --running 0 --warm 0 --sleeping 0' each first");
		strbuf_release(&busy);
		cluster_view_release(&v);
		return r;
	}
	strbuf_release(&busy);
	/* the tenant's key and its empty pools' keys, if none of them moved */
	struct etcd_cmp *cmp = xcalloc(np + 1, sizeof(*cmp));
	struct etcd_op *ops = xcalloc(np + 1, sizeof(*ops));
	struct strvec keep = STRVEC_INIT;
	size_t n = 0;
	for (size_t i = 0; i < v.npools; i++) {
		const struct c_pool *p = &v.pools[i];
		if (strcmp(p->tenant, t))
			continue;
		char *pk = cluster_key_pool(p->tenant, p->pool);
		strvec_push(&keep, pk);
		free(pk);
		const char *k = keep.v[keep.n - 1];
		cmp[n] = (struct etcd_cmp){
		    .key = k, .target = ETCD_MOD, .result = ETCD_EQUAL, .num = p->mod_revision};
		ops[n++] = (struct etcd_op){.type = ETCD_OP_DELETE, .key = k};
	}
	bool in_cluster = json_object_get(v.tenants, t) != NULL;
	_cleanup_free_ char *key = tenant_key(t);
	ops[n] = (struct etcd_op){.type = ETCD_OP_DELETE, .key = key};
	bool ok = false;
	r = etcd_txn(c, cmp, n, ops, n + 1, NULL, 0, &ok, NULL, e);
	if (r == 0 && !ok)
		r = err_set(e, -EAGAIN, EXIT_FAILED,
			    "the pools of tenant '%s' changed in the cluster meanwhile; try again",
			    t);
	if (r == 0)
		*removed = in_cluster || np;
	strvec_clear(&keep);
	free(cmp);
	free(ops);
	cluster_view_release(&v);
	return r;
}
