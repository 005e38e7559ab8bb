/* One pass of the agent (agent_int.h): the host's record, copies it must
 * stop, claims, and the moves of the instances it owns. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cluster/agent_int.h"
#include "cluster/place.h"
#include "cluster/travel.h"
#include "core/clock.h"
#include "core/jsonio.h"
#include "core/rstore.h"
#include "core/util.h"
#include "fleet/instance.h"
#include "fleet/pool.h"

#define RETRY_MS 5000

static void lease_str(const struct agent *a, char out[24])
{
	snprintf(out, 24, "%llx", (unsigned long long)atomic_load(&a->lease));
}

static bool mine(const struct agent *a, const struct c_inst *ci)
{
	return ci->owner && !strcmp(ci->owner, a->name) &&
	       ci->owner_lease == atomic_load(&a->lease);
}

static struct c_inst *find_inst(struct cluster_view *v, const char *addr)
{
	for (size_t i = 0; i < v->ninsts; i++)
		if (!strcmp(v->insts[i].addr, addr))
			return &v->insts[i];
	return NULL;
}

/* --- the host's record ---------------------------------------------------------------- */

/* The local pools: at their current revision, {"<t>/<p>": "<hash>"}, and
 * every complete revision each has, {"<t>/<p>": ["<hash>", …]}: a host
 * serves a pool at any revision it has (place.h). */
static void local_pools(json_t **current, json_t **revisions)
{
	*current = json_object();
	*revisions = json_object();
	struct strvec ids = STRVEC_INIT;
	struct err e = ERR_INIT;
	if (pool_list(NULL, &ids, &e) == 0)
		for (size_t i = 0; i < ids.n; i++) {
			struct pool p = POOL_INIT;
			char *hash = NULL;
			struct strvec all = STRVEC_INIT;
			if (pool_load_addr(ids.v[i], &p, &e) == 0 &&
			    pool_current(&p, &hash, &e) > 0)
				json_object_set_new(*current, ids.v[i], json_string(hash));
			if (p.tenant && rstore_list(&p.store, &all, &e) == 0) {
				json_t *list = json_array();
				for (size_t k = 0; k < all.n; k++)
					if (pool_revision_complete(&p, all.v[k], NULL) == 1)
						json_array_append_new(list, json_string(all.v[k]));
				json_object_set_new(*revisions, ids.v[i], list);
			}
			strvec_clear(&all);
			free(hash);
			pool_release(&p);
			err_release(&e);
		}
	err_release(&e);
	strvec_clear(&ids);
}

static int publish(struct agent *a, const struct cluster_view *v, json_t *pools, json_t *revisions,
		   struct err *e)
{
	char lease[24];
	lease_str(a, lease);
	json_t *rec =
	    json_pack("{s:s, s:i, s:i, s:I, s:s, s:O, s:O}", "host", a->name, "pid", (int)getpid(),
		      "vcpus", (int)a->vcpus, "mem_mib", (json_int_t)a->mem_mib, "lease", lease,
		      "pools", pools, "revisions", revisions);
	if (a->published && json_equal(rec, a->published) && cluster_host(v, a->name)) {
		json_decref(rec);
		return 0;
	}
	_cleanup_free_ char *key = cluster_key_host(a->name);
	_cleanup_free_ char *val = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	int r = etcd_put(a->c, key, val, atomic_load(&a->lease), NULL, e);
	if (r == 0) {
		json_decref(a->published);
		a->published = json_incref(rec);
	}
	json_decref(rec);
	return r < 0 ? r : 1;
}

/* --- owner keys ----------------------------------------------------------------------- */

static char *owner_value(const struct agent *a, const char *state, const char *how)
{
	char lease[24];
	lease_str(a, lease);
	_cleanup_free_ char *now = json_now_rfc3339();
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "host", a->name, "lease", lease, "state",
			      state, "how", how ? how : "", "at", now);
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return s;
}

/* Rewrites the owner key while it is still ours (its lease ours): *lost when not. */
static int set_owner(struct agent *a, const struct c_inst *ci, const char *state, const char *how,
		     bool *lost, struct err *e)
{
	_cleanup_free_ char *key = cluster_key_owner(ci->tenant, ci->pool, ci->id);
	_cleanup_free_ char *val = owner_value(a, state, how);
	int64_t lease = atomic_load(&a->lease);
	struct etcd_cmp cmp = {
	    .key = key, .target = ETCD_LEASE, .result = ETCD_EQUAL, .num = lease};
	struct etcd_op op = {.type = ETCD_OP_PUT, .key = key, .value = val, .lease = lease};
	bool ok = false;
	int r = etcd_txn(a->c, &cmp, 1, &op, 1, NULL, 0, &ok, NULL, e);
	*lost = r == 0 && !ok;
	return r;
}

static int drop_owner(struct agent *a, const struct c_inst *ci, struct err *e)
{
	_cleanup_free_ char *key = cluster_key_owner(ci->tenant, ci->pool, ci->id);
	struct etcd_cmp cmp = {
	    .key = key, .target = ETCD_LEASE, .result = ETCD_EQUAL, .num = atomic_load(&a->lease)};
	struct etcd_op op = {.type = ETCD_OP_DELETE, .key = key};
	bool ok = false;
	return etcd_txn(a->c, &cmp, 1, &op, 1, NULL, 0, &ok, NULL, e);
}

/* The claim: the owner key is created only if no host has it, and only if
 * the instance's desired state is still the one placement saw. */
static int claim(struct agent *a, struct c_inst *ci, bool *won, struct err *e)
{
	_cleanup_free_ char *okey = cluster_key_owner(ci->tenant, ci->pool, ci->id);
	_cleanup_free_ char *skey = cluster_key_inst(ci->tenant, ci->pool, ci->id);
	_cleanup_free_ char *oval = owner_value(a, "stopped", "claimed");
	json_t *spec = json_deep_copy(ci->spec);
	json_object_set_new(spec, "owned_once", json_true());
	json_object_set_new(spec, "last_host", json_string(a->name));
	_cleanup_free_ char *sval = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(spec);
	int64_t lease = atomic_load(&a->lease);
	struct etcd_cmp cmp[] = {
	    {.key = okey, .target = ETCD_CREATE, .result = ETCD_EQUAL, .num = 0},
	    {.key = skey, .target = ETCD_MOD, .result = ETCD_EQUAL, .num = ci->spec_mod},
	};
	struct etcd_op ops[] = {
	    {.type = ETCD_OP_PUT, .key = okey, .value = oval, .lease = lease},
	    {.type = ETCD_OP_PUT, .key = skey, .value = sval},
	};
	int64_t rev = 0;
	int r = etcd_txn(a->c, cmp, 2, ops, 2, NULL, 0, won, &rev, e);
	if (r == 0 && *won) {
		free(ci->owner);
		ci->owner = xstrdup(a->name);
		ci->owner_lease = lease;
		ci->owner_create = rev;
		ci->state = INST_STOPPED;
		ci->spec_mod = rev;
	}
	return r;
}

/* --- local moves ---------------------------------------------------------------------- */

/* The next single-host move from have toward want (instance.h's diagram). */
static enum inst_state step(enum inst_state have, enum inst_state want)
{
	if (have == want || want == INST_RUNNING)
		return want;
	if (want == INST_WARM)
		return have == INST_RUNNING ? INST_WARM : INST_RUNNING;
	/* sleeping: from running or warm; else start first */
	return have == INST_RUNNING || have == INST_WARM ? INST_SLEEPING : INST_RUNNING;
}

static int move(struct agent *a, struct pool *p, struct instance *in, enum inst_state to, bool wipe,
		char **how, struct err *e)
{
	struct inst_move m = INST_MOVE_INIT;
	int r = instance_move(p, in, to, wipe, false, &m, e);
	if (r == 0 && to != INST_REMOVED) {
		agent_log(a, "%s: %s -> %s (%s, %lld ms)", in->ref, inst_state_name(m.from),
			  inst_state_name(m.to), m.how, m.ms);
		for (size_t i = 0; i < m.warnings.n; i++)
			agent_log(a, "%s: warning: %s", in->ref, m.warnings.v[i]);
		if (how) {
			free(*how);
			*how = xstrdup(m.how);
		}
	}
	inst_move_release(&m);
	return r;
}

/* Stops and removes the local copy of an instance this host does not own. */
static void stop_copy(struct agent *a, struct pool *p, struct instance *in, const char *why)
{
	struct err e = ERR_INIT;
	int r = in->state == INST_STOPPED ? 0 : move(a, p, in, INST_STOPPED, false, NULL, &e);
	if (r == 0)
		r = move(a, p, in, INST_REMOVED, true, NULL, &e);
	if (r == 0)
		agent_log(a, "%s: %s: stopped and removed the copy here", in->ref, why);
	else
		agent_log(a, "%s: %s, but stopping the copy here failed: %s", in->ref, why,
			  e.msg ? e.msg : "?");
	err_release(&e);
}

static bool retry_later(struct agent *a, const char *addr)
{
	json_t *t = json_object_get(a->retry_at, addr);
	return t && mono_ms() < json_integer_value(t);
}

/* Brings the instance this host owns to what the cluster wants of it. */
static int converge_one(struct agent *a, struct pool *p, struct c_inst *ci, struct instance *in,
			int *changed, struct err *e)
{
	_cleanup_free_ char *how = NULL;
	int r = 0;
	for (int n = 0; n < 3 && in->state != ci->want; n++) {
		if (agent_lease_doubtful(a))
			return 0; /* the loop fences */
		struct err me = ERR_INIT;
		if ((r = move(a, p, in, step(in->state, ci->want), false, &how, &me)) < 0) {
			agent_log(a, "%s: %s (retrying in %d s)", ci->addr, me.msg ? me.msg : "?",
				  RETRY_MS / 1000);
			json_object_set_new(a->retry_at, ci->addr,
					    json_integer(mono_ms() + RETRY_MS));
			free(how);
			how = xasprintf("failed: %s", me.msg ? me.msg : "?");
			err_release(&me);
			break;
		}
		(*changed)++;
	}
	r = 0;
	if (in->state == ci->state && !how)
		return 0;
	const char *from = json_string_value(json_object_get(a->failover, ci->addr));
	_cleanup_free_ char *note =
	    from ? xasprintf("failover from %s: %s", from, how ? how : "") : NULL;
	bool lost = false;
	if ((r = set_owner(a, ci, inst_state_name(in->state), note ? note : how, &lost, e)) < 0)
		return r;
	ci->state = in->state;
	if (from && in->state == ci->want)
		json_object_del(a->failover, ci->addr); /* told once: later moves are plain */
	if (lost)
		stop_copy(a, p, in, "its claim is gone");
	return 0;
}

/* The revision the cluster runs, from the store, when this host lacks it:
 * once it is here the host publishes it and placement may choose the host. */
static void pull_revision(struct agent *a, struct pool *p, const struct c_pool *cp, int *changed)
{
	struct travel_result tr;
	struct err e = ERR_INIT;
	long long t0 = mono_ms();
	if (travel_pull(a->cfg, p, cp->revision, &tr, &e) == 0) {
		if (!tr.already)
			agent_log(a,
				  "%s: pulled revision %.12s from the store (%zu files, %zu "
				  "downloaded, %llu bytes, %lld ms)",
				  cp->addr, cp->revision, tr.files, tr.moved,
				  (unsigned long long)tr.moved_bytes, mono_ms() - t0);
		(*changed)++;
	} else {
		agent_log(a, "%s: cannot pull revision %.12s from the store: %s (retrying in %d s)",
			  cp->addr, cp->revision, e.msg ? e.msg : "?", RETRY_MS / 1000);
		json_object_set_new(a->retry_at, cp->addr, json_integer(mono_ms() + RETRY_MS));
	}
	travel_result_release(&tr);
	err_release(&e);
}

static struct instance *local_of(struct instance *v, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].id, id))
			return &v[i];
	return NULL;
}

static void claims(struct agent *a, struct cluster_view *v, const struct c_pool *cp, int *changed,
		   struct err *e, int *r)
{
	for (size_t i = 0; *r == 0 && i < v->ninsts; i++) {
		struct c_inst *ci = &v->insts[i];
		if (strcmp(ci->tenant, cp->tenant) || strcmp(ci->pool, cp->pool) || !ci->spec)
			continue;
		if (ci->owner) {
			json_object_del(a->unowned_since, ci->addr);
			continue;
		}
		const char *to = cluster_place(v, ci);
		if (!to || strcmp(to, a->name))
			continue;
		if (ci->owned_once) { /* its last owner's copy may still be pausing */
			json_t *t = json_object_get(a->unowned_since, ci->addr);
			long long since = t ? json_integer_value(t) : mono_ms();
			if (!t)
				json_object_set_new(a->unowned_since, ci->addr,
						    json_integer(since));
			if (mono_ms() - since < a->grace_ms) {
				/* the loop looks again when the grace is over, not a tick later */
				if (!a->due_ms || since + a->grace_ms < a->due_ms)
					a->due_ms = since + a->grace_ms;
				continue;
			}
		}
		const char *prev = json_get_str(ci->spec, "last_host");
		_cleanup_free_ char *prevc = prev ? xstrdup(prev) : NULL;
		bool won = false;
		if ((*r = claim(a, ci, &won, e)) < 0 || !won)
			continue;
		json_object_del(a->unowned_since, ci->addr);
		(*changed)++;
		if (ci->owned_once && prevc && strcmp(prevc, a->name)) {
			json_object_set_new(a->failover, ci->addr, json_string(prevc));
			agent_log(
			    a, "%s: claimed; it was %s on %s, which is gone: recreating it here%s",
			    ci->addr, inst_state_name(ci->want), prevc,
			    ci->want == INST_SLEEPING ? " from the pool snapshot (its sleep "
							"state stayed there)"
						      : "");
		} else
			agent_log(a, "%s: claimed (%s)", ci->addr, inst_state_name(ci->want));
	}
}

static int pool_pass(struct agent *a, struct cluster_view *v, const struct c_pool *cp, int *changed,
		     struct err *e)
{
	struct pool p = POOL_INIT;
	struct err le = ERR_INIT;
	if (pool_load(cp->tenant, cp->pool, &p, &le) < 0) {
		err_release(&le); /* not a pool of this host: it serves none of it */
		return 0;
	}
	p.run_revision = cp->revision; /* new instances boot what the cluster runs */
	p.run_fence = a->fence_path;   /* and are paused when the lease is in doubt */
	if (cp->revision && a->cfg->store_url && !retry_later(a, cp->addr) &&
	    pool_revision_complete(&p, cp->revision, NULL) != 1)
		pull_revision(a, &p, cp, changed);
	struct instance *loc = NULL;
	size_t n = 0;
	int r = instance_list(cp->tenant, cp->pool, &loc, &n, e);
	/* copies this host does not own */
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct c_inst *ci = find_inst(v, loc[i].ref);
		if (ci && mine(a, ci) && ci->spec)
			continue;
		_cleanup_free_ char *why = !ci || !ci->spec
					       ? xstrdup("no longer wanted by the cluster")
					   : ci->owner ? xasprintf("owned by %s", ci->owner)
						       : xstrdup("not claimed by this host");
		stop_copy(a, &p, &loc[i], why);
		loc[i].state = INST_REMOVED;
		(*changed)++;
		if (ci && ci->owner && mine(a, ci) && (r = drop_owner(a, ci, e)) == 0) {
			free(ci->owner);
			ci->owner = NULL;
		}
	}
	if (r == 0)
		claims(a, v, cp, changed, e, &r);
	for (size_t i = 0; r == 0 && i < v->ninsts; i++) {
		struct c_inst *ci = &v->insts[i];
		if (strcmp(ci->tenant, cp->tenant) || strcmp(ci->pool, cp->pool) || !mine(a, ci))
			continue;
		if (!ci->spec) { /* scaled away while nothing of it was here */
			if ((r = drop_owner(a, ci, e)) == 0)
				(*changed)++;
			continue;
		}
		if (retry_later(a, ci->addr))
			continue;
		struct instance *in = local_of(loc, n, ci->id);
		struct instance created = INSTANCE_INIT;
		if (!in || in->state == INST_REMOVED) {
			struct err ce = ERR_INIT;
			if (instance_create_id(&p, ci->id, &created, &ce) < 0) {
				agent_log(a, "%s: %s", ci->addr, ce.msg ? ce.msg : "?");
				json_object_set_new(a->retry_at, ci->addr,
						    json_integer(mono_ms() + RETRY_MS));
				err_release(&ce);
				continue;
			}
			in = &created;
		}
		r = converge_one(a, &p, ci, in, changed, e);
		if (in == &created)
			instance_release(&created);
	}
	instance_list_release(loc, n);
	pool_release(&p);
	return r;
}

int agent_reconcile(struct agent *a, struct err *e)
{
	struct cluster_view v;
	int r = cluster_view_load(a->c, &v, e);
	if (r < 0)
		return r;
	a->seen_rev = v.revision;
	int changed = 0;
	json_t *pools, *revisions;
	local_pools(&pools, &revisions);
	if ((r = publish(a, &v, pools, revisions, e)) > 0) {
		changed++;
		r = 0;
	}
	json_decref(pools);
	json_decref(revisions);
	for (size_t i = 0; r == 0 && i < v.npools; i++)
		r = pool_pass(a, &v, &v.pools[i], &changed, e);
	cluster_view_release(&v);
	return r < 0 ? r : changed > 0;
}

void agent_fence(struct agent *a)
{
	json_t *pools = a->published ? json_object_get(a->published, "pools") : NULL;
	const char *addr;
	json_t *val;
	json_object_foreach(pools, addr, val)
	{
		struct pool p = POOL_INIT;
		struct err e = ERR_INIT;
		struct instance *loc = NULL;
		size_t n = 0;
		if (pool_load_addr(addr, &p, &e) == 0 &&
		    instance_list(p.tenant, p.id, &loc, &n, &e) == 0)
			for (size_t i = 0; i < n; i++)
				if (loc[i].state == INST_RUNNING &&
				    move(a, &p, &loc[i], INST_WARM, false, NULL, &e) < 0) {
					agent_log(a, "%s: pausing failed: %s", loc[i].ref,
						  e.msg ? e.msg : "?");
					err_release(&e);
				}
		instance_list_release(loc, n);
		pool_release(&p);
		err_release(&e);
	}
}
