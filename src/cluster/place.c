/* Placement and scale plans (place.h). */
#include "cluster/place.h"

#include <string.h>

/* The host has the pool's revision (any it has built or pulled, not only
 * its current one). */
static bool serves(const struct c_host *h, const struct c_pool *p)
{
	if (!p->revision)
		return false;
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(h->revisions, p->addr), i, r)
	{
		if (json_is_string(r) && !strcmp(json_string_value(r), p->revision))
			return true;
	}
	const char *cur = json_string_value(json_object_get(h->pools, p->addr));
	return cur && !strcmp(cur, p->revision);
}

static size_t owned_of_pool(const struct cluster_view *v, const struct c_host *h,
			    const struct c_pool *p)
{
	size_t n = 0;
	for (size_t i = 0; i < v->ninsts; i++) {
		const struct c_inst *in = &v->insts[i];
		n += in->owner && !strcmp(in->owner, h->name) && !strcmp(in->tenant, p->tenant) &&
		     !strcmp(in->pool, p->pool);
	}
	return n;
}

uint64_t cluster_host_free_mib(const struct cluster_view *v, const struct c_host *h)
{
	uint64_t used = 0;
	for (size_t i = 0; i < v->ninsts; i++) {
		const struct c_inst *in = &v->insts[i];
		if (!in->owner || strcmp(in->owner, h->name))
			continue;
		const struct c_pool *p = cluster_pool(v, in->tenant, in->pool);
		used += p ? p->mem_mib : 0;
	}
	return used >= h->mem_mib ? 0 : h->mem_mib - used;
}

const char *cluster_place(const struct cluster_view *v, const struct c_inst *in)
{
	const struct c_pool *p = cluster_pool(v, in->tenant, in->pool);
	if (!p)
		return NULL;
	const struct c_host *best = NULL;
	size_t best_n = 0;
	uint64_t best_free = 0;
	for (size_t i = 0; i < v->nhosts; i++) {
		const struct c_host *h = &v->hosts[i];
		uint64_t free_mib = cluster_host_free_mib(v, h);
		if (!serves(h, p) || free_mib < p->mem_mib)
			continue;
		size_t n = owned_of_pool(v, h, p);
		if (!best || n < best_n || (n == best_n && free_mib > best_free) ||
		    (n == best_n && free_mib == best_free && strcmp(h->name, best->name) < 0)) {
			best = h;
			best_n = n;
			best_free = free_mib;
		}
	}
	return best ? best->name : NULL;
}

static size_t count(const enum inst_state *s, size_t n, enum inst_state st)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += s[i] == st;
	return c;
}

static unsigned wanted(const struct pool_counts *w, enum inst_state s)
{
	return s == INST_RUNNING ? w->running : s == INST_WARM ? w->warm : w->sleeping;
}

void cluster_plan_scale(const enum inst_state *cur, size_t n, const struct pool_counts *want,
			enum inst_state *next, struct pool_counts *add)
{
	if (n)
		memcpy(next, cur, n * sizeof(*next));
	static const struct {
		enum inst_state from, to[2];
	} pref[] = {
	    {INST_RUNNING, {INST_WARM, INST_SLEEPING}},
	    {INST_WARM, {INST_RUNNING, INST_SLEEPING}},
	    {INST_SLEEPING, {INST_RUNNING, INST_WARM}},
	};
	for (size_t k = 0; k < sizeof(pref) / sizeof(*pref); k++) {
		enum inst_state s = pref[k].from;
		for (size_t i = n; i-- > 0 && count(next, n, s) > wanted(want, s);) {
			if (next[i] != s)
				continue;
			next[i] = INST_STOPPED;
			for (size_t t = 0; t < 2; t++)
				if (count(next, n, pref[k].to[t]) < wanted(want, pref[k].to[t])) {
					next[i] = pref[k].to[t];
					break;
				}
		}
	}
	size_t r = count(next, n, INST_RUNNING), w = count(next, n, INST_WARM),
	       sl = count(next, n, INST_SLEEPING);
	add->running = want->running > r ? want->running - (unsigned)r : 0;
	add->warm = want->warm > w ? want->warm - (unsigned)w : 0;
	add->sleeping = want->sleeping > sl ? want->sleeping - (unsigned)sl : 0;
}
