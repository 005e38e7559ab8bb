/* Converging a pool to its desired counts (instance.h, pool_converge): the
 * one function behind `pool scale` and `pool reconcile`. */
#include <string.h>

#include "core/jsonio.h"
#include "core/util.h"
#include "fleet/instance.h"
#include "fleet/tenant.h"

struct fleet_view {
	struct instance *v;
	size_t n;
};

static size_t count(const struct fleet_view *f, enum inst_state s)
{
	size_t c = 0;
	for (size_t i = 0; i < f->n; i++)
		c += f->v[i].state == s;
	return c;
}

/* The last instance (highest id) in state s: the one shrinking moves first,
 * so the oldest stay put. NULL when none. */
static struct instance *pick(struct fleet_view *f, enum inst_state s)
{
	for (size_t i = f->n; i-- > 0;)
		if (f->v[i].state == s)
			return &f->v[i];
	return NULL;
}

static struct instance *pick_first(struct fleet_view *f, enum inst_state s)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->v[i].state == s)
			return &f->v[i];
	return NULL;
}

static int move(struct pool *p, struct instance *in, enum inst_state to, struct strvec *did,
		struct err *e)
{
	struct inst_move m = INST_MOVE_INIT;
	int r = instance_move(p, in, to, false, true, &m, e);
	if (r == 0) {
		strvec_pushf(did, "%s: %s -> %s (%s, %lld ms)", in->ref, inst_state_name(m.from),
			     inst_state_name(m.to), m.how, m.ms);
		for (size_t i = 0; i < m.warnings.n; i++)
			strvec_pushf(did, "%s: warning: %s", in->ref, m.warnings.v[i]);
	}
	inst_move_release(&m);
	return r;
}

/* A stopped instance to boot: an existing one (its data disk kept) before a new one. */
static int stopped_one(struct pool *p, struct fleet_view *f, struct instance **out,
		       struct strvec *did, struct err *e)
{
	*out = pick_first(f, INST_STOPPED);
	if (*out)
		return 0;
	struct instance in;
	int r = instance_create(p, &in, e);
	if (r < 0)
		return r;
	strvec_pushf(did, "%s: created", in.ref);
	f->v = xrealloc(f->v, (f->n + 1) * sizeof(*f->v));
	f->v[f->n] = in;
	*out = &f->v[f->n++];
	return 0;
}

static int converge(struct pool *p, struct fleet_view *f, const struct pool_counts *w,
		    struct strvec *did, struct err *e)
{
	int r = 0;
	struct instance *in;
	/* 1. shrink: what is over its count moves where another count is short,
	 *    the cheapest way, else stops */
	while (r == 0 && count(f, INST_RUNNING) > w->running) {
		in = pick(f, INST_RUNNING);
		r = move(p, in,
			 count(f, INST_WARM) < w->warm		 ? INST_WARM
			 : count(f, INST_SLEEPING) < w->sleeping ? INST_SLEEPING
								 : INST_STOPPED,
			 did, e);
	}
	while (r == 0 && count(f, INST_WARM) > w->warm) {
		in = pick(f, INST_WARM);
		r = move(p, in,
			 count(f, INST_RUNNING) < w->running	 ? INST_RUNNING
			 : count(f, INST_SLEEPING) < w->sleeping ? INST_SLEEPING
								 : INST_STOPPED,
			 did, e);
	}
	while (r == 0 && count(f, INST_SLEEPING) > w->sleeping) {
		in = pick(f, INST_SLEEPING);
		bool wanted = count(f, INST_RUNNING) < w->running || count(f, INST_WARM) < w->warm;
		r = move(p, in, wanted ? INST_RUNNING : INST_STOPPED, did, e);
		if (r == 0 && wanted && count(f, INST_RUNNING) > w->running)
			r = move(p, in, INST_WARM, did, e); /* woken to be warm */
	}
	/* 2. grow: boot stopped (or new) instances, restored from the pool's
	 *    snapshot when it fits; then pause or put to sleep the ones meant
	 *    to be warm or sleeping */
	while (r == 0 && count(f, INST_RUNNING) < w->running) {
		if ((r = stopped_one(p, f, &in, did, e)) == 0)
			r = move(p, in, INST_RUNNING, did, e);
	}
	while (r == 0 && count(f, INST_WARM) < w->warm) {
		if ((r = stopped_one(p, f, &in, did, e)) == 0 &&
		    (r = move(p, in, INST_RUNNING, did, e)) == 0)
			r = move(p, in, INST_WARM, did, e);
	}
	while (r == 0 && count(f, INST_SLEEPING) < w->sleeping) {
		if ((r = stopped_one(p, f, &in, did, e)) == 0 &&
		    (r = move(p, in, INST_RUNNING, did, e)) == 0)
			r = move(p, in, INST_SLEEPING, did, e);
	}
	return r;
}

/* An instance whose VM died (found now, or by an earlier look, which
 * recorded it stopped with its problem) is reported once as repaired. */
static int repair(struct instance *in, struct strvec *did, struct err *e)
{
	const char *problem = json_get_str(in->record, "problem");
	if (in->state != INST_STOPPED || !problem)
		return 0;
	strvec_pushf(did, "%s: repaired: %s; recorded stopped", in->ref, problem);
	json_object_del(in->record, "problem");
	return instance_save(in, e);
}

int pool_converge(struct pool *p, const struct pool_counts *want, struct strvec *did, struct err *e)
{
	struct fs_lock lk = FS_LOCK_INIT;
	int r = tenant_lock(p->tenant, &lk, e);
	if (r < 0)
		return r;
	instance_hold_tenant(p->tenant);
	struct fleet_view f = {0};
	if ((r = instance_list(p->tenant, p->id, &f.v, &f.n, e)) == 0) {
		for (size_t i = 0; r == 0 && i < f.n; i++)
			r = repair(&f.v[i], did, e);
		if (r == 0)
			r = converge(p, &f, want, did, e);
	}
	instance_list_release(f.v, f.n);
	instance_hold_tenant(NULL);
	fs_lock_release(&lk);
	return r;
}
