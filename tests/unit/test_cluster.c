/* The cluster's two decisions (cluster/place.h): placement and scale
 * plans, pure functions of a view, so every host computes the same answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/place.h"
#include "core/util.h"

/* Views built by hand: hosts serving acme/web at a revision, the pool
 * acme/web at "r1" (256 MiB each), instances with or without an owner. */

static void add_host(struct cluster_view *v, const char *name, uint64_t mem, const char *rev)
{
	v->hosts = xrealloc(v->hosts, (v->nhosts + 1) * sizeof(*v->hosts));
	v->hosts[v->nhosts++] = (struct c_host){
	    .name = xstrdup(name),
	    .mem_mib = mem,
	    .pools = json_pack("{s:s}", "acme/web", rev),
	};
}

static void add_pool(struct cluster_view *v)
{
	v->pools = xcalloc(1, sizeof(*v->pools));
	v->npools = 1;
	v->pools[0] = (struct c_pool){.addr = xstrdup("acme/web"),
				      .tenant = "acme",
				      .pool = "web",
				      .revision = xstrdup("r1"),
				      .vcpus = 1,
				      .mem_mib = 256};
}

static void add_inst(struct cluster_view *v, const char *id, const char *owner)
{
	v->insts = xrealloc(v->insts, (v->ninsts + 1) * sizeof(*v->insts));
	struct c_inst *in = &v->insts[v->ninsts++];
	*in = (struct c_inst){.tenant = "acme", .pool = "web", .want = INST_RUNNING};
	snprintf(in->id, sizeof(in->id), "%s", id);
	in->addr = xasprintf("acme/web/%s", id);
	in->owner = owner ? xstrdup(owner) : NULL;
	in->spec = json_object();
}

static void test_place_spreads_then_fits(void **state)
{
	(void)state;
	struct cluster_view v = {0};
	add_pool(&v);
	add_host(&v, "node-b", 1024, "r1");
	add_host(&v, "node-a", 1024, "r1");
	add_inst(&v, "i-00000001", NULL);
	/* a tie: the smallest name */
	assert_string_equal(cluster_place(&v, &v.insts[0]), "node-a");
	/* spread per pool: node-a has one of the pool, node-b none */
	add_inst(&v, "i-00000002", "node-a");
	assert_string_equal(cluster_place(&v, &v.insts[0]), "node-b");
	cluster_view_release(&v);

	/* equal counts: the most memory left wins over the name */
	add_pool(&v);
	add_host(&v, "node-a", 1024, "r1");
	add_host(&v, "node-b", 2048, "r1");
	add_inst(&v, "i-00000001", NULL);
	add_inst(&v, "i-00000002", "node-a");
	add_inst(&v, "i-00000003", "node-b");
	assert_string_equal(cluster_place(&v, &v.insts[0]), "node-b");
	assert_int_equal(cluster_host_free_mib(&v, &v.hosts[0]), 1024 - 256);
	assert_int_equal(cluster_host_free_mib(&v, &v.hosts[1]), 2048 - 256);
	cluster_view_release(&v);
}

static void test_place_needs_revision_and_room(void **state)
{
	(void)state;
	struct cluster_view v = {0};
	add_pool(&v);
	add_host(&v, "old", 4096, "r0");  /* serves another revision */
	add_host(&v, "small", 512, "r1"); /* room for two */
	add_inst(&v, "i-00000001", NULL);
	assert_string_equal(cluster_place(&v, &v.insts[0]), "small");
	add_inst(&v, "i-00000002", "small");
	add_inst(&v, "i-00000003", "small");
	assert_null(cluster_place(&v, &v.insts[0])); /* full: 512 - 2*256 < 256 */
	assert_int_equal(cluster_host_free_mib(&v, &v.hosts[1]), 0);
	cluster_view_release(&v);
}

static void plan(const enum inst_state *cur, size_t n, struct pool_counts want,
		 const enum inst_state *expect, struct pool_counts expect_add)
{
	enum inst_state next[16];
	struct pool_counts add;
	cluster_plan_scale(cur, n, &want, next, &add);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(next[i], expect[i]);
	assert_int_equal(add.running, expect_add.running);
	assert_int_equal(add.warm, expect_add.warm);
	assert_int_equal(add.sleeping, expect_add.sleeping);
}

static void test_plan_prefers_cheap_moves(void **state)
{
	(void)state;
	const enum inst_state R = INST_RUNNING, W = INST_WARM, S = INST_SLEEPING, X = INST_STOPPED;
	/* from nothing: all added */
	plan(NULL, 0, (struct pool_counts){2, 1, 0}, NULL, (struct pool_counts){2, 1, 0});
	/* the same counts: nothing moves */
	plan((enum inst_state[]){R, W}, 2, (struct pool_counts){1, 1, 0}, (enum inst_state[]){R, W},
	     (struct pool_counts){0});
	/* fewer running, more warm: the newest running is paused, nothing added */
	plan((enum inst_state[]){R, R}, 2, (struct pool_counts){1, 1, 0}, (enum inst_state[]){R, W},
	     (struct pool_counts){0});
	/* more running: warm is resumed before sleeping is woken, before one is added */
	plan((enum inst_state[]){S, W}, 2, (struct pool_counts){1, 0, 1}, (enum inst_state[]){S, R},
	     (struct pool_counts){0});
	plan((enum inst_state[]){S, R}, 2, (struct pool_counts){3, 0, 0}, (enum inst_state[]){R, R},
	     (struct pool_counts){1, 0, 0});
	/* running beyond every count goes, the newest first */
	plan((enum inst_state[]){R, R, R}, 3, (struct pool_counts){1, 0, 0},
	     (enum inst_state[]){R, X, X}, (struct pool_counts){0});
	/* running to sleeping when warm is full */
	plan((enum inst_state[]){R, R}, 2, (struct pool_counts){1, 0, 1}, (enum inst_state[]){R, S},
	     (struct pool_counts){0});
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_place_spreads_then_fits),
	    cmocka_unit_test(test_place_needs_revision_and_room),
	    cmocka_unit_test(test_plan_prefers_cheap_moves),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
