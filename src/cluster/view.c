/* The cluster's state read at one revision (view.h). */
#include "cluster/view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonio.h"
#include "core/util.h"
#include "fleet/fleet.h"

char *cluster_key_host(const char *host)
{
	return xasprintf(CLUSTER_PREFIX "hosts/%s", host);
}

char *cluster_key_pool(const char *t, const char *p)
{
	return xasprintf(CLUSTER_PREFIX "pools/%s/%s", t, p);
}

char *cluster_key_inst(const char *t, const char *p, const char *id)
{
	return xasprintf(CLUSTER_PREFIX "instances/%s/%s/%s", t, p, id);
}

char *cluster_key_owner(const char *t, const char *p, const char *id)
{
	return xasprintf(CLUSTER_PREFIX "owners/%s/%s/%s", t, p, id);
}

int cluster_state_parse(const char *s)
{
	if (!s)
		return -1;
	static const enum inst_state all[] = {INST_STOPPED, INST_RUNNING, INST_WARM, INST_SLEEPING};
	for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++)
		if (!strcmp(s, inst_state_name(all[i])))
			return (int)all[i];
	return -1;
}

/* Splits "a/b[/c]" (after the key's kind) into ids; false when it is not that shape. */
static bool split_ids(const char *rest, size_t want, char ids[][64])
{
	for (size_t i = 0; i < want; i++) {
		const char *end = strchr(rest, '/');
		size_t len = end ? (size_t)(end - rest) : strlen(rest);
		if ((i + 1 < want) != (end != NULL) || len == 0 || len > FLEET_ID_MAX)
			return false;
		memcpy(ids[i], rest, len);
		ids[i][len] = '\0';
		if (!fleet_id_valid(ids[i]))
			return false;
		rest = end ? end + 1 : rest + len;
	}
	return true;
}

static json_t *parse_obj(const struct etcd_kv *kv)
{
	json_t *j = json_loadb(kv->value, kv->value_len, JSON_REJECT_DUPLICATES, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

bool cluster_host_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63 || s[0] == '.' || s[0] == '-')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static void add_host(struct cluster_view *v, const struct etcd_kv *kv, const char *name)
{
	if (!cluster_host_name_valid(name))
		return;
	json_t *j = parse_obj(kv);
	if (!j)
		return;
	v->hosts = xrealloc(v->hosts, (v->nhosts + 1) * sizeof(*v->hosts));
	struct c_host *h = &v->hosts[v->nhosts++];
	*h = (struct c_host){.name = xstrdup(name), .lease = kv->lease};
	h->vcpus = (unsigned)json_get_int(j, "vcpus", 0);
	h->mem_mib = (uint64_t)json_get_int(j, "mem_mib", 0);
	json_t *pools = json_object_get(j, "pools");
	h->pools = json_is_object(pools) ? json_incref(pools) : json_object();
	json_t *revs = json_object_get(j, "revisions");
	h->revisions = json_is_object(revs) ? json_incref(revs) : json_object();
	json_decref(j);
}

static void add_pool(struct cluster_view *v, const struct etcd_kv *kv, const char *rest)
{
	char ids[2][64];
	if (!split_ids(rest, 2, ids))
		return;
	json_t *j = parse_obj(kv);
	if (!j)
		return;
	v->pools = xrealloc(v->pools, (v->npools + 1) * sizeof(*v->pools));
	struct c_pool *p = &v->pools[v->npools++];
	*p = (struct c_pool){.mod_revision = kv->mod_revision};
	memcpy(p->tenant, ids[0], sizeof(p->tenant));
	memcpy(p->pool, ids[1], sizeof(p->pool));
	p->addr = xasprintf("%s/%s", ids[0], ids[1]);
	const char *rev = json_get_str(j, "revision");
	p->revision = rev ? xstrdup(rev) : NULL;
	json_t *d = json_object_get(j, "desired");
	p->desired.running = (unsigned)json_get_int(d, "running", 0);
	p->desired.warm = (unsigned)json_get_int(d, "warm", 0);
	p->desired.sleeping = (unsigned)json_get_int(d, "sleeping", 0);
	p->vcpus = (unsigned)json_get_int(j, "vcpus", 1);
	p->mem_mib = (uint64_t)json_get_int(j, "mem_mib", 0);
	json_decref(j);
}

static struct c_inst *find_or_add(struct cluster_view *v, char ids[][64])
{
	_cleanup_free_ char *addr = xasprintf("%s/%s/%s", ids[0], ids[1], ids[2]);
	for (size_t i = 0; i < v->ninsts; i++)
		if (!strcmp(v->insts[i].addr, addr))
			return &v->insts[i];
	v->insts = xrealloc(v->insts, (v->ninsts + 1) * sizeof(*v->insts));
	struct c_inst *in = &v->insts[v->ninsts++];
	*in = (struct c_inst){.addr = xstrdup(addr), .want = INST_STOPPED, .state = INST_STOPPED};
	memcpy(in->tenant, ids[0], sizeof(in->tenant));
	memcpy(in->pool, ids[1], sizeof(in->pool));
	memcpy(in->id, ids[2], sizeof(in->id));
	in->spec_mod = -1; /* no instances/ key (an owner left over from a scale-down) */
	return in;
}

static void add_inst(struct cluster_view *v, const struct etcd_kv *kv, const char *rest, bool owner)
{
	char ids[3][64];
	if (!split_ids(rest, 3, ids))
		return;
	json_t *j = parse_obj(kv);
	if (!j)
		return;
	struct c_inst *in = find_or_add(v, ids);
	if (owner) {
		const char *host = json_get_str(j, "host");
		int st = cluster_state_parse(json_get_str(j, "state"));
		const char *how = json_get_str(j, "how");
		free(in->owner);
		free(in->how);
		in->owner = xstrdup(host ? host : "?");
		in->owner_lease = kv->lease;
		in->owner_create = kv->create_revision;
		in->state = st < 0 ? INST_STOPPED : (enum inst_state)st;
		in->how = how ? xstrdup(how) : NULL;
	} else {
		int st = cluster_state_parse(json_get_str(j, "want"));
		in->want = st <= 0 ? INST_RUNNING : (enum inst_state)st;
		in->owned_once = json_is_true(json_object_get(j, "owned_once"));
		in->spec_mod = kv->mod_revision;
		json_decref(in->spec);
		in->spec = json_incref(j);
	}
	json_decref(j);
}

static int cmp_inst(const void *a, const void *b)
{
	return strcmp(((const struct c_inst *)a)->addr, ((const struct c_inst *)b)->addr);
}

int cluster_view_load(struct etcd *c, struct cluster_view *v, struct err *e)
{
	*v = (struct cluster_view){0};
	struct etcd_kvs kvs = {0};
	int r = etcd_get_prefix(c, CLUSTER_PREFIX, &kvs, e);
	if (r < 0)
		return r;
	v->revision = kvs.revision;
	v->tenants = json_object();
	const size_t plen = strlen(CLUSTER_PREFIX);
	for (size_t i = 0; i < kvs.n; i++) {
		const struct etcd_kv *kv = &kvs.v[i];
		const char *k = kv->key + plen;
		if (!strncmp(k, "hosts/", 6))
			add_host(v, kv, k + 6);
		else if (!strncmp(k, "pools/", 6))
			add_pool(v, kv, k + 6);
		else if (!strncmp(k, "tenants/", 8) && fleet_id_valid(k + 8)) {
			json_t *j = parse_obj(kv);
			if (j)
				json_object_set_new(v->tenants, k + 8, j);
		} else if (!strncmp(k, "instances/", 10))
			add_inst(v, kv, k + 10, false);
		else if (!strncmp(k, "owners/", 7))
			add_inst(v, kv, k + 7, true);
	}
	etcd_kvs_release(&kvs);
	if (v->ninsts)
		qsort(v->insts, v->ninsts, sizeof(*v->insts), cmp_inst);
	return 0;
}

void cluster_view_release(struct cluster_view *v)
{
	for (size_t i = 0; i < v->nhosts; i++) {
		free(v->hosts[i].name);
		json_decref(v->hosts[i].pools);
		json_decref(v->hosts[i].revisions);
	}
	for (size_t i = 0; i < v->npools; i++) {
		free(v->pools[i].addr);
		free(v->pools[i].revision);
	}
	for (size_t i = 0; i < v->ninsts; i++) {
		free(v->insts[i].addr);
		free(v->insts[i].owner);
		free(v->insts[i].how);
		json_decref(v->insts[i].spec);
	}
	free(v->hosts);
	free(v->pools);
	free(v->insts);
	json_decref(v->tenants);
	*v = (struct cluster_view){0};
}

const struct c_host *cluster_host(const struct cluster_view *v, const char *name)
{
	for (size_t i = 0; i < v->nhosts; i++)
		if (!strcmp(v->hosts[i].name, name))
			return &v->hosts[i];
	return NULL;
}

const struct c_pool *cluster_pool(const struct cluster_view *v, const char *t, const char *p)
{
	for (size_t i = 0; i < v->npools; i++)
		if (!strcmp(v->pools[i].tenant, t) && !strcmp(v->pools[i].pool, p))
			return &v->pools[i];
	return NULL;
}
