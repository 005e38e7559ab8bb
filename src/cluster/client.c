/* The commands' side of the cluster (client.h). */
#include "cluster/client.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cluster/place.h"
#include "cluster/view.h"
#include "core/clock.h"
#include "core/jsonio.h"
#include "core/util.h"
#include "fleet/instance.h"
#include "fleet/tenant.h"

#define SCALE_TRIES 16

int cluster_open(const struct config *cfg, struct etcd **c, struct err *e)
{
	*c = NULL;
	if (!cfg->etcd.n)
		return 0;
	return etcd_open(c, &cfg->etcd, 2000, e);
}

static json_t *inst_json(const struct c_inst *ci)
{
	json_t *j = json_pack("{s:s, s:s, s:s}", "address", ci->addr, "want",
			      ci->spec ? inst_state_name(ci->want) : "removed", "state",
			      ci->owner ? inst_state_name(ci->state) : "unplaced");
	json_object_set_new(j, "host", ci->owner ? json_string(ci->owner) : json_null());
	json_object_set_new(j, "how", ci->how && *ci->how ? json_string(ci->how) : json_null());
	return j;
}

static bool in_pool(const struct c_inst *ci, const char *t, const char *p)
{
	return !strcmp(ci->tenant, t) && (!p || !strcmp(ci->pool, p));
}

static json_t *pool_insts(const struct cluster_view *v, const char *t, const char *p)
{
	json_t *a = json_array();
	for (size_t i = 0; i < v->ninsts; i++)
		if (in_pool(&v->insts[i], t, p))
			json_array_append_new(a, inst_json(&v->insts[i]));
	return a;
}

/* The revision, size and counts the scale starts from: the cluster's
 * revision once the pool is in the cluster (a scale changes counts, never
 * the revision: `pool build` and `pool rollback` move it), else the local
 * pool's current one; the size from the local pool, else the cluster's. */
static int pool_source(const struct c_pool *cp, const struct cluster_scale *o, char **rev,
		       unsigned *vcpus, uint64_t *mem, struct pool_counts *desired, struct err *e)
{
	struct pool p = POOL_INIT;
	struct err le = ERR_INIT;
	int r = pool_load(o->tenant, o->pool, &p, &le);
	if (r == 0) {
		if (cp && cp->revision)
			*rev = xstrdup(cp->revision), r = 1;
		else if ((r = pool_current(&p, rev, e)) == 0) {
			r = err_set(e, -ENOENT, EXIT_NOTFOUND, "Pool '%s/%s' has no built revision",
				    o->tenant, o->pool);
			err_hint(e, "'mvmctl pool build %s/%s' builds one", o->tenant, o->pool);
		}
		*vcpus = p.vcpus;
		*mem = p.mem_mib;
		*desired = cp ? cp->desired : p.desired;
		pool_release(&p);
		err_release(&le);
		return r < 0 ? r : 0;
	}
	if (!cp || !cp->revision) {
		err_release(e);
		*e = le;
		err_hint(e,
			 "a pool joins the cluster from a host that has it built: run 'mvmctl pool "
			 "scale' there");
		return r;
	}
	err_release(&le);
	*rev = xstrdup(cp->revision);
	*vcpus = cp->vcpus;
	*mem = cp->mem_mib;
	*desired = cp->desired;
	return 0;
}

int cluster_pool_set_revision(struct etcd *c, const char *t, const char *p, const char *rev,
			      char **previous, struct err *e)
{
	*previous = NULL;
	_cleanup_free_ char *key = cluster_key_pool(t, p);
	for (int tries = 0; tries < SCALE_TRIES; tries++) {
		struct etcd_kv kv;
		bool found = false;
		int r = etcd_get(c, key, &kv, &found, NULL, e);
		if (r < 0 || !found)
			return r < 0 ? r : 0;
		json_t *j = json_loadb(kv.value, kv.value_len, 0, NULL);
		if (!json_is_object(j)) {
			json_decref(j);
			j = json_object();
		}
		free(*previous);
		const char *was = json_get_str(j, "revision");
		*previous = was ? xstrdup(was) : NULL;
		_cleanup_free_ char *now = json_now_rfc3339();
		json_object_set_new(j, "revision", json_string(rev));
		json_object_set_new(j, "updated_at", json_string(now));
		_cleanup_free_ char *val = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(j);
		struct etcd_cmp cmp = {
		    .key = key, .target = ETCD_MOD, .result = ETCD_EQUAL, .num = kv.mod_revision};
		struct etcd_op op = {.type = ETCD_OP_PUT, .key = key, .value = val};
		etcd_kv_release(&kv);
		bool ok = false;
		if ((r = etcd_txn(c, &cmp, 1, &op, 1, NULL, 0, &ok, NULL, e)) < 0)
			return r;
		if (ok)
			return 1;
	}
	return err_set(e, -EAGAIN, EXIT_FAILED,
		       "%s/%s changed under this update %d times in a row; try again", t, p,
		       SCALE_TRIES);
}

static char *spec_value(json_t *base, enum inst_state want)
{
	json_t *j = base ? json_deep_copy(base) : json_object();
	json_object_set_new(j, "want", json_string(inst_state_name(want)));
	if (!json_object_get(j, "created_at")) {
		_cleanup_free_ char *now = json_now_rfc3339();
		json_object_set_new(j, "created_at", json_string(now));
	}
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return s;
}

/* Keeps s (malloc'd) in keep and returns keep's copy, which stays put. */
static const char *kept(struct strvec *keep, char *s)
{
	strvec_push(keep, s);
	free(s);
	return keep->v[keep->n - 1];
}

/* The tenant's quotas: the cluster's copy (`tenant create` with a cluster
 * wrote it), else the local tenant's (then *put is its value, for the
 * cluster's copy: a tenant made before the host joined). */
static int tenant_quotas(const struct cluster_view *v, const char *t, struct tenant_quotas *q,
			 char **put, struct err *e)
{
	*put = NULL;
	const json_t *j = json_object_get(v->tenants, t);
	if (j) {
		cluster_quotas_parse(j, q);
		return 0;
	}
	struct tenant ten = TENANT_INIT;
	int r = tenant_load(t, &ten, e);
	if (r < 0) {
		err_hint(e,
			 "'mvmctl tenant create %s' with the cluster configured registers it there",
			 t);
		return r;
	}
	*q = ten.q;
	*put = cluster_quotas_value(q);
	tenant_release(&ten);
	return 0;
}

/* Admission: the tenant's pools with this one at want stay within q,
 * counted over the desired counts of every pool of the tenant the cluster
 * has (what the hosts will run, wherever). */
static int quota_admit(const struct cluster_view *v, const struct cluster_scale *o,
		       const struct tenant_quotas *q, const struct pool_counts *want,
		       unsigned vcpus, uint64_t mem, struct err *e)
{
	long long running = want->running, warm = want->warm;
	long long cpu = (long long)(want->running + want->warm) * vcpus;
	long long mib = (long long)(want->running + want->warm) * (long long)mem;
	for (size_t i = 0; i < v->npools; i++) {
		const struct c_pool *p = &v->pools[i];
		if (strcmp(p->tenant, o->tenant) || !strcmp(p->pool, o->pool))
			continue;
		running += p->desired.running;
		warm += p->desired.warm;
		cpu += (long long)(p->desired.running + p->desired.warm) * p->vcpus;
		mib += (long long)(p->desired.running + p->desired.warm) * (long long)p->mem_mib;
	}
	const char *quota = NULL;
	long long limit = 0, would = 0;
	if (running > q->max_running)
		quota = "max_running", limit = q->max_running, would = running;
	else if (warm > q->max_warm)
		quota = "max_warm", limit = q->max_warm, would = warm;
	else if (cpu > q->max_vcpus)
		quota = "max_vcpus", limit = q->max_vcpus, would = cpu;
	else if (mib > q->max_mem_mib)
		quota = "max_mem_mib", limit = q->max_mem_mib, would = mib;
	else if (want->running + want->warm + want->sleeping > q->max_instances_per_pool)
		quota = "max_instances_per_pool", limit = q->max_instances_per_pool,
		would = want->running + want->warm + want->sleeping;
	if (!quota)
		return 0;
	err_set(e, -EDQUOT, EXIT_REFUSED,
		"Quota exceeded for tenant '%s': %s is %lld, the cluster's pools of '%s' would "
		"need %lld",
		o->tenant, quota, limit, o->tenant, would);
	err_hint(e, "scale down other pools of '%s', or raise the quota", o->tenant);
	return -EDQUOT;
}

/* One attempt: the plan against one view, written if nothing moved meanwhile. */
static int scale_once(struct etcd *c, const struct cluster_scale *o, bool *done, struct err *e)
{
	struct cluster_view v;
	int r = cluster_view_load(c, &v, e);
	if (r < 0)
		return r;
	const struct c_pool *cp = cluster_pool(&v, o->tenant, o->pool);
	_cleanup_free_ char *rev = NULL, *tval = NULL;
	unsigned vcpus = 1;
	uint64_t mem = 0;
	struct pool_counts want = {0};
	struct tenant_quotas q = {0};
	if ((r = pool_source(cp, o, &rev, &vcpus, &mem, &want, e)) < 0 ||
	    (r = tenant_quotas(&v, o->tenant, &q, &tval, e)) < 0) {
		cluster_view_release(&v);
		return r;
	}
	if (o->set_running)
		want.running = o->want.running;
	if (o->set_warm)
		want.warm = o->want.warm;
	if (o->set_sleeping)
		want.sleeping = o->want.sleeping;
	if ((r = quota_admit(&v, o, &q, &want, vcpus, mem, e)) < 0) {
		cluster_view_release(&v);
		return r;
	}
	/* the pool's instances that are meant to exist, in id order */
	struct c_inst **ins = xcalloc(v.ninsts + 1, sizeof(*ins));
	enum inst_state *cur = xcalloc(v.ninsts + 1, sizeof(*cur));
	enum inst_state *next = xcalloc(v.ninsts + 1, sizeof(*next));
	size_t n = 0;
	for (size_t i = 0; i < v.ninsts; i++)
		if (in_pool(&v.insts[i], o->tenant, o->pool) && v.insts[i].spec) {
			ins[n] = &v.insts[i];
			cur[n++] = v.insts[i].want;
		}
	struct pool_counts add;
	cluster_plan_scale(cur, n, &want, next, &add);
	/* the transaction */
	size_t cap = 2 + v.npools + n + add.running + add.warm + add.sleeping;
	struct etcd_cmp *cmp = xcalloc(cap, sizeof(*cmp));
	struct etcd_op *ops = xcalloc(cap, sizeof(*ops));
	struct strvec keep = STRVEC_INIT; /* owns the keys and values */
	size_t nc = 0, no = 0;
	_cleanup_free_ char *pkey = cluster_key_pool(o->tenant, o->pool);
	_cleanup_free_ char *now = json_now_rfc3339();
	json_t *pj = json_pack("{s:s, s:{s:i, s:i, s:i}, s:i, s:I, s:s}", "revision", rev,
			       "desired", "running", (int)want.running, "warm", (int)want.warm,
			       "sleeping", (int)want.sleeping, "vcpus", (int)vcpus, "mem_mib",
			       (json_int_t)mem, "updated_at", now);
	char *pval = json_dumps(pj, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(pj);
	const char *pv = kept(&keep, pval);
	cmp[nc++] = (struct etcd_cmp){.key = pkey,
				      .target = cp ? ETCD_MOD : ETCD_CREATE,
				      .result = ETCD_EQUAL,
				      .num = cp ? cp->mod_revision : 0};
	ops[no++] = (struct etcd_op){.type = ETCD_OP_PUT, .key = pkey, .value = pv};
	/* the quota admitted against the tenant's other pools as read: none moved since */
	for (size_t i = 0; i < v.npools; i++) {
		const struct c_pool *op = &v.pools[i];
		if (strcmp(op->tenant, o->tenant) || !strcmp(op->pool, o->pool))
			continue;
		cmp[nc++] =
		    (struct etcd_cmp){.key = kept(&keep, cluster_key_pool(op->tenant, op->pool)),
				      .target = ETCD_MOD,
				      .result = ETCD_EQUAL,
				      .num = op->mod_revision};
	}
	if (tval)
		ops[no++] = (struct etcd_op){
		    .type = ETCD_OP_PUT,
		    .key = kept(&keep, xasprintf(CLUSTER_PREFIX "tenants/%s", o->tenant)),
		    .value = tval};
	for (size_t i = 0; i < n; i++) {
		if (next[i] == cur[i])
			continue;
		const char *k =
		    kept(&keep, cluster_key_inst(ins[i]->tenant, ins[i]->pool, ins[i]->id));
		cmp[nc++] = (struct etcd_cmp){
		    .key = k, .target = ETCD_MOD, .result = ETCD_EQUAL, .num = ins[i]->spec_mod};
		if (next[i] == INST_STOPPED)
			ops[no++] = (struct etcd_op){.type = ETCD_OP_DELETE, .key = k};
		else {
			ops[no++] = (struct etcd_op){
			    .type = ETCD_OP_PUT,
			    .key = k,
			    .value = kept(&keep, spec_value(ins[i]->spec, next[i]))};
		}
	}
	const struct {
		unsigned n;
		enum inst_state s;
	} adds[] = {
	    {add.running, INST_RUNNING}, {add.warm, INST_WARM}, {add.sleeping, INST_SLEEPING}};
	for (size_t k = 0; k < 3; k++)
		for (unsigned j = 0; j < adds[k].n; j++) {
			char id[11];
			instance_id_new(id);
			const char *key = kept(&keep, cluster_key_inst(o->tenant, o->pool, id));
			cmp[nc++] = (struct etcd_cmp){
			    .key = key, .target = ETCD_CREATE, .result = ETCD_EQUAL, .num = 0};
			ops[no++] =
			    (struct etcd_op){.type = ETCD_OP_PUT,
					     .key = key,
					     .value = kept(&keep, spec_value(NULL, adds[k].s))};
		}
	r = etcd_txn(c, cmp, nc, ops, no, NULL, 0, done, NULL, e);
	strvec_clear(&keep);
	free(cmp);
	free(ops);
	free(ins);
	free(cur);
	free(next);
	cluster_view_release(&v);
	return r;
}

/* Converged: every instance meant to exist is owned and in its state, and
 * no owner is left of one that is not. *missing says what is not. */
static bool converged(const struct cluster_view *v, const struct cluster_scale *o, char **missing)
{
	for (size_t i = 0; i < v->ninsts; i++) {
		const struct c_inst *ci = &v->insts[i];
		if (!in_pool(ci, o->tenant, o->pool))
			continue;
		if (ci->spec && !ci->owner) {
			*missing = xasprintf("%s is on no host (no host serves the pool at its "
					     "revision with room for it)",
					     ci->addr);
			return false;
		}
		if (ci->spec && ci->state != ci->want) {
			*missing = xasprintf("%s is %s on %s, meant to be %s%s%s", ci->addr,
					     inst_state_name(ci->state), ci->owner,
					     inst_state_name(ci->want), ci->how ? ": " : "",
					     ci->how ? ci->how : "");
			return false;
		}
		if (!ci->spec && ci->owner) {
			*missing = xasprintf("%s is still on %s", ci->addr, ci->owner);
			return false;
		}
	}
	return true;
}

static int wait_converged(struct etcd *c, const struct cluster_scale *o, json_t **result,
			  struct err *e)
{
	long long deadline = mono_ms() + o->timeout_s * 1000LL;
	for (;;) {
		struct cluster_view v;
		int r = cluster_view_load(c, &v, e);
		if (r < 0)
			return r;
		_cleanup_free_ char *missing = NULL;
		bool ok = converged(&v, o, &missing);
		if (ok || mono_ms() >= deadline || !o->wait) {
			const struct c_pool *cp = cluster_pool(&v, o->tenant, o->pool);
			struct pool_counts d = cp ? cp->desired : (struct pool_counts){0};
			*result =
			    json_pack("{s:s++, s:{s:i, s:i, s:i}, s:o, s:b}", "pool", o->tenant,
				      "/", o->pool, "desired", "running", (int)d.running, "warm",
				      (int)d.warm, "sleeping", (int)d.sleeping, "instances",
				      pool_insts(&v, o->tenant, o->pool), "converged", ok);
			cluster_view_release(&v);
			if (ok || !o->wait)
				return 0;
			return err_set(e, -ETIMEDOUT, EXIT_FAILED,
				       "%s/%s did not converge within %d s: %s", o->tenant, o->pool,
				       o->timeout_s, missing);
		}
		int64_t from = v.revision + 1, nx = 0;
		cluster_view_release(&v);
		struct etcd_events ev = {0};
		etcd_watch_wait(c, CLUSTER_PREFIX, from, 500, &ev, &nx, e);
		etcd_events_release(&ev);
		err_release(e);
	}
}

int cluster_pool_scale(struct etcd *c, const struct cluster_scale *o, json_t **result,
		       struct err *e)
{
	*result = NULL;
	bool done = false;
	int r = 0;
	for (int i = 0; i < SCALE_TRIES && !done; i++)
		if ((r = scale_once(c, o, &done, e)) < 0)
			return r;
	if (!done)
		return err_set(e, -EAGAIN, EXIT_FAILED,
			       "%s/%s changed under this scale %d times in a row; try again",
			       o->tenant, o->pool, SCALE_TRIES);
	return wait_converged(c, o, result, e);
}

int cluster_instances(struct etcd *c, const char *scope, json_t **out, struct err *e)
{
	struct cluster_view v;
	int r = cluster_view_load(c, &v, e);
	if (r < 0)
		return r;
	char t[64] = "", p[64] = "";
	if (scope) {
		const char *slash = strchr(scope, '/');
		snprintf(t, sizeof(t), "%.*s", slash ? (int)(slash - scope) : (int)strlen(scope),
			 scope);
		if (slash)
			snprintf(p, sizeof(p), "%s", slash + 1);
	}
	*out = json_array();
	for (size_t i = 0; i < v.ninsts; i++)
		if (!scope || in_pool(&v.insts[i], t, p[0] ? p : NULL))
			json_array_append_new(*out, inst_json(&v.insts[i]));
	cluster_view_release(&v);
	return 0;
}

int cluster_hosts(struct etcd *c, json_t **out, struct err *e)
{
	struct cluster_view v;
	int r = cluster_view_load(c, &v, e);
	if (r < 0)
		return r;
	*out = json_array();
	for (size_t i = 0; i < v.nhosts; i++) {
		const struct c_host *h = &v.hosts[i];
		int owned = 0;
		for (size_t k = 0; k < v.ninsts; k++)
			owned += v.insts[k].owner && !strcmp(v.insts[k].owner, h->name);
		json_array_append_new(*out, json_pack("{s:s, s:i, s:I, s:I, s:i, s:O}", "host",
						      h->name, "vcpus", (int)h->vcpus, "mem_mib",
						      (json_int_t)h->mem_mib, "free_mib",
						      (json_int_t)cluster_host_free_mib(&v, h),
						      "instances", owned, "pools", h->pools));
	}
	cluster_view_release(&v);
	return 0;
}
