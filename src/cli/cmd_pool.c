/* mvm pool …: a tenant's pools (seed 003) — create, ls, info, build,
 * rollback, rm. scale and reconcile live in cmd_pool_scale.c. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "build/build.h"
#include "build/nixopts.h"
#include "cli.h"
#include "cluster/client.h"
#include "cluster/travel.h"
#include "cluster/view.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/fs.h"
#include "core/jsonio.h"
#include "core/rstore.h"
#include "core/size.h"
#include "core/util.h"
#include "fleet/fleet.h"
#include "fleet/pool.h"
#include "fleet/tenant.h"
#include "registry_cli.h"
#include "vmm/snapshot.h"

#define LABEL "%-15s "

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *counts_json(const struct pool_counts *c)
{
	return json_pack("{s:I, s:I, s:I}", "running", (json_int_t)c->running, "warm",
			 (json_int_t)c->warm, "sleeping", (json_int_t)c->sleeping);
}

/* The pool as every verb reports it (ls, info, create). */
static json_t *pool_json(const struct pool *p, const char *current)
{
	json_t *o =
	    json_pack("{s:s++, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:o}", "pool", p->tenant,
		      "/", p->id, "tenant", p->tenant, "id", p->id, "flake", p->flake, "profile",
		      p->profile, "vcpus", (json_int_t)p->vcpus, "mem_mib", (json_int_t)p->mem_mib,
		      "data_disk_mib", (json_int_t)p->data_disk_mib, "desired",
		      counts_json(&p->desired), "current_revision", str_or_null(current));
	json_object_set_new(o, "builder", json_string(p->builder));
	json_object_set_new(o, "created_at", str_or_null(json_get_str(p->record, "created_at")));
	json_object_set_new(o, "updated_at", str_or_null(json_get_str(p->record, "updated_at")));
	return o;
}

/* The current revision, or NULL (never built, or a broken link: *problem). */
static char *current_of(const struct pool *p, char **problem)
{
	char *cur = NULL;
	struct err e = ERR_INIT;
	if (pool_current(p, &cur, &e) < 0 && problem)
		*problem = xstrdup(e.msg ? e.msg : "current is broken");
	err_release(&e);
	return cur;
}

/* ---- create --------------------------------------------------------------- */

static struct {
	const char *flake, *profile, *builder;
	long long vcpus;
	uint64_t mem, data_disk;
} co = {.vcpus = 2, .mem = 1024};

#define BUILDER_HELP_CREATE                                                                        \
	"where its builds run: vm, an ephemeral builder microVM (the default), or host, nix "      \
	"on the host for trusted flakes (env MVM_BUILDER)"

static const struct opt create_opts[] = {
    {.type = OPT_STRING,
     .long_name = "flake",
     .value = &co.flake,
     .argh = "REF",
     .help = "the flake: a directory (made absolute now) or a flake reference",
     .kind = OPT_ARG_DIR},
    OPT_STRING_(0, "profile", &co.profile, "NAME", "the flake's packages.<system>.NAME to run"),
    {.type = OPT_INT,
     .long_name = "vcpus",
     .alias = "cpus",
     .value = &co.vcpus,
     .argh = "N",
     .help = "vCPUs of each instance (1-255; default 2)",
     .min = 1,
     .max = 255},
    {.type = OPT_SIZE,
     .long_name = "mem",
     .value = &co.mem,
     .argh = "SIZE",
     .help = "memory of each instance (1024, 512M, 2G; a bare number is MiB; default 1024M)"},
    {.type = OPT_SIZE,
     .long_name = "data-disk",
     .value = &co.data_disk,
     .argh = "SIZE",
     .help = "an ext4 data disk of this size for each instance, at /data (default none)"},
    {.type = OPT_STRING,
     .long_name = "builder",
     .value = &co.builder,
     .argh = "vm|host",
     .help = BUILDER_HELP_CREATE,
     .kind = OPT_ARG_CHOICE,
     .choices = "vm host"},
    OPT_END_(),
};

/* --builder, else MVM_BUILDER, else NULL (the pool's, or vm). */
static const char *builder_choice(const char *flag)
{
	const char *env = getenv("MVM_BUILDER");
	return flag ? flag : env && *env ? env : NULL;
}

static int run_create(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	struct fleet_addr a;
	int r = fleet_parse_pool(argv[0], &a, &cli->err);
	if (r < 0)
		return r;
	if (!co.flake)
		return cli_usage_error(cli, "missing --flake");
	if (!co.profile)
		return cli_usage_error(cli, "missing --profile");
	struct pool_create_args args = {
	    .tenant = a.tenant,
	    .id = a.pool,
	    .flake = co.flake,
	    .profile = co.profile,
	    .vcpus = (unsigned)co.vcpus,
	    .mem_mib = co.mem,
	    .data_disk_mib = co.data_disk,
	    .builder = builder_choice(co.builder),
	};
	if ((r = pool_create(&args, &cli->err)) < 0)
		return r;
	struct pool p = POOL_INIT;
	if ((r = pool_load(a.tenant, a.pool, &p, &cli->err)) < 0)
		return r;
	if (cli->json) {
		cli_json(cli, pool_json(&p, NULL));
	} else {
		_cleanup_free_ char *mem = size_format_mib(p.mem_mib);
		_cleanup_free_ char *disk = size_format_mib(p.data_disk_mib);
		cli_note(
		    cli, "created pool %s/%s: flake %s, profile %s, %u vCPU%s, %s memory, %s%s",
		    p.tenant, p.id, p.flake, p.profile, p.vcpus, p.vcpus == 1 ? "" : "s", mem,
		    p.data_disk_mib ? disk : "no data disk", p.data_disk_mib ? " data disk" : "");
		cli_note(cli, "next: %s pool build %s/%s", cli->prog, p.tenant, p.id);
	}
	pool_release(&p);
	return 0;
}

static const struct command cmd_pool_create = {
    .name = "create",
    .run = run_create,
    .summary = "Create a pool: a flake profile and the sizing of its instances.",
    .usage = "<tenant>/<pool> --flake REF --profile NAME [--cpus N] [--mem SIZE] "
	     "[--data-disk SIZE] [--json]",
    .description =
	"The tenant must exist and stay within its max_pools quota. A local --flake path is\n"
	"made absolute now, so later builds work from any directory. Nothing is built until\n"
	"'pool build'; the desired counts start at 0 running, 0 warm, 0 sleeping.",
    .examples = "mvm pool create acme/workers --flake ./my-flake --profile baseline --cpus 2 "
		"--mem 1024\n"
		"mvm pool create acme/workers --flake . --profile baseline --cpus 2 --mem 1024 "
		"--data-disk 1024\n"
		"mvm pool create acme/py --flake github:acme/images --profile python --mem 2G",
    .opts = create_opts,
    .exit_status =
	"0 created, 2 usage error (a malformed address, sizing out of range), 4 no such\n"
	"tenant or flake directory, 5 the pool exists or the tenant's max_pools is "
	"reached",
    .min_args = 1,
    .max_args = 1,
};

/* ---- ls ------------------------------------------------------------------- */

static int run_ls(struct cli *cli, int argc, char **argv)
{
	struct fleet_addr a;
	const char *tenant = NULL;
	int r;
	if (argc) {
		if ((r = fleet_parse_tenant(argv[0], &a, &cli->err)) < 0)
			return r;
		struct tenant t = TENANT_INIT;
		if ((r = tenant_load(a.tenant, &t, &cli->err)) < 0)
			return r;
		tenant_release(&t);
		tenant = a.tenant;
	}
	struct strvec ids = STRVEC_INIT;
	if ((r = pool_list(tenant, &ids, &cli->err)) < 0) {
		strvec_clear(&ids);
		return r;
	}
	json_t *rows = json_array();
	for (size_t i = 0; i < ids.n; i++) {
		_cleanup_free_ char *addr =
		    tenant ? xasprintf("%s/%s", tenant, ids.v[i]) : xstrdup(ids.v[i]);
		char *slash = strchr(addr, '/');
		*slash = '\0';
		struct pool p = POOL_INIT;
		struct err e = ERR_INIT;
		if (pool_load(addr, slash + 1, &p, &e) < 0) {
			json_array_append_new(rows, json_pack("{s:s++, s:s}", "pool", addr, "/",
							      slash + 1, "problem", e.msg));
		} else {
			_cleanup_free_ char *problem = NULL;
			_cleanup_free_ char *cur = current_of(&p, &problem);
			json_t *o = pool_json(&p, cur);
			if (problem)
				json_object_set_new(o, "problem", json_string(problem));
			json_array_append_new(rows, o);
		}
		err_release(&e);
		pool_release(&p);
	}
	strvec_clear(&ids);
	if (cli->json) {
		cli_json(cli, json_pack("{s:o}", "pools", rows));
		return 0;
	}
	if (!json_array_size(rows)) {
		cli_note(cli,
			 "no pools%s%s; create one with '%s pool create %s/<pool> --flake REF "
			 "--profile NAME'",
			 tenant ? " for tenant " : "", tenant ? tenant : "", cli->prog,
			 tenant ? tenant : "<tenant>");
		json_decref(rows);
		return 0;
	}
	size_t w = strlen("POOL");
	size_t i;
	json_t *o;
	json_array_foreach(rows, i, o)
	{
		size_t l = strlen(json_get_str(o, "pool"));
		w = l > w ? l : w;
	}
	printf("%-*s  %-12s  %5s  %6s  %9s  %-12s  %-11s  %s\n", (int)w, "POOL", "PROFILE", "VCPUS",
	       "MEM", "DATA_DISK", "REVISION", "DESIRED", "FLAKE");
	json_array_foreach(rows, i, o)
	{
		const char *problem = json_get_str(o, "problem");
		if (!json_object_get(o, "flake")) {
			printf("%-*s  (unreadable: %s)\n", (int)w, json_get_str(o, "pool"),
			       problem);
			continue;
		}
		_cleanup_free_ char *mem = size_format_mib((uint64_t)json_get_int(o, "mem_mib", 0));
		long long dd = json_get_int(o, "data_disk_mib", 0);
		_cleanup_free_ char *disk = dd ? size_format_mib((uint64_t)dd) : xstrdup("-");
		const char *cur = json_get_str(o, "current_revision");
		const json_t *d = json_object_get(o, "desired");
		_cleanup_free_ char *desired =
		    xasprintf("%lld/%lld/%lld", json_get_int(d, "running", 0),
			      json_get_int(d, "warm", 0), json_get_int(d, "sleeping", 0));
		printf("%-*s  %-12s  %5lld  %6s  %9s  %-12.12s  %-11s  %s\n", (int)w,
		       json_get_str(o, "pool"), json_get_str(o, "profile"),
		       json_get_int(o, "vcpus", 0), mem, disk,
		       cur ? cur : (problem ? "broken" : "-"), desired, json_get_str(o, "flake"));
	}
	json_decref(rows);
	return 0;
}

static const struct command cmd_pool_ls = {
    .name = "ls",
    .run = run_ls,
    .summary = "List pools: every tenant's, or one tenant's.",
    .usage = "[<tenant>] [--json]",
    .description = "DESIRED is running/warm/sleeping as the last 'pool scale' set it; REVISION\n"
		   "is the one new instances start from ('-' until the first 'pool build').",
    .examples = "mvm pool ls\nmvm pool ls acme\nmvm pool ls acme --json | jq -r '.pools[].pool'",
    .exit_status = "0 success, 2 a malformed tenant id, 4 no such tenant",
    .max_args = 1,
    .args = CLI_ARG_TENANT,
};

/* ---- info ----------------------------------------------------------------- */

/* The revisions kept, each with whether it is complete, current, snapshotted. */
static json_t *revisions_json(const struct pool *p, const char *current)
{
	json_t *arr = json_array();
	struct strvec hashes = STRVEC_INIT;
	struct err e = ERR_INIT;
	if (rstore_list(&p->store, &hashes, &e) == 0) {
		for (size_t i = 0; i < hashes.n; i++) {
			const char *h = hashes.v[i];
			_cleanup_free_ char *dir = rstore_revision_dir(&p->store, h);
			_cleanup_free_ char *meta =
			    xasprintf("%s/" SNAPSHOT_DIR "/" SNAPSHOT_META, dir);
			bool complete = pool_revision_complete(p, h, NULL) == 1;
			json_array_append_new(
			    arr, json_pack("{s:s, s:b, s:b, s:b}", "revision", h, "current",
					   current && !strcmp(current, h), "complete", complete,
					   "snapshot", fs_is_file(meta)));
		}
	}
	err_release(&e);
	strvec_clear(&hashes);
	return arr;
}

static json_t *history_newest_first(const struct pool *p)
{
	json_t *out = json_array();
	const json_t *builds = json_object_get(p->record, "builds");
	for (size_t i = json_array_size(builds); i-- > 0;)
		json_array_append(out, json_array_get(builds, i));
	return out;
}

static void print_history(const json_t *hist)
{
	if (!json_array_size(hist)) {
		printf(LABEL "none yet\n", "builds");
		return;
	}
	printf("builds (newest first)\n");
	size_t i;
	json_t *h;
	json_array_foreach(hist, i, h)
	{
		const char *rev = json_get_str(h, "revision");
		const char *rolled = json_get_str(h, "rolled_back_at");
		if (rolled) {
			const char *from = json_get_str(h, "from");
			printf("  %-20s  rollback   %.12s  from %.12s\n", rolled, rev ? rev : "?",
			       from ? from : "-");
			continue;
		}
		const char *at = json_get_str(h, "built_at");
		json_t *secs = json_object_get(h, "seconds");
		bool built = json_is_true(json_object_get(h, "built"));
		bool snap = json_is_true(json_object_get(h, "snapshot"));
		printf("  %-20s  %-9s  %.12s  %6.1f s  %s\n", at ? at : "-",
		       built ? "built" : "cache hit", rev ? rev : "?",
		       json_is_number(secs) ? json_number_value(secs) : 0.0,
		       snap ? "snapshot" : "no snapshot");
	}
}

static int run_info(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	struct pool p;
	int r = pool_load_addr(argv[0], &p, &cli->err);
	if (r < 0)
		return r;
	_cleanup_free_ char *problem = NULL;
	_cleanup_free_ char *cur = current_of(&p, &problem);
	json_t *revs = revisions_json(&p, cur);
	json_t *hist = history_newest_first(&p);
	if (cli->json) {
		json_t *o = pool_json(&p, cur);
		json_object_set_new(o, "pool_dir", json_string(p.dir));
		if (problem)
			json_object_set_new(o, "problem", json_string(problem));
		json_object_set_new(o, "revisions", revs);
		json_object_set_new(o, "builds", hist);
		cli_json(cli, o);
		pool_release(&p);
		return 0;
	}
	_cleanup_free_ char *mem = size_format_mib(p.mem_mib);
	_cleanup_free_ char *disk = size_format_mib(p.data_disk_mib);
	printf(LABEL "%s/%s\n", "pool", p.tenant, p.id);
	printf(LABEL "%s\n", "pool_dir", p.dir);
	printf(LABEL "%s\n", "flake", p.flake);
	printf(LABEL "%s\n", "profile", p.profile);
	printf(LABEL "%s\n", "builder",
	       strcmp(p.builder, "vm") ? "host (nix on the host)" : "vm (a builder microVM)");
	printf(LABEL "%u\n", "vcpus", p.vcpus);
	printf(LABEL "%s (%llu MiB)\n", "mem", mem, (unsigned long long)p.mem_mib);
	if (p.data_disk_mib)
		printf(LABEL "%s (%llu MiB)\n", "data_disk", disk,
		       (unsigned long long)p.data_disk_mib);
	else
		printf(LABEL "none\n", "data_disk");
	printf(LABEL "%u running, %u warm, %u sleeping\n", "desired", p.desired.running,
	       p.desired.warm, p.desired.sleeping);
	if (cur)
		printf(LABEL "%s\n", "revision", cur);
	else if (problem)
		printf(LABEL "broken: %s\n", "revision", problem);
	else
		printf(LABEL "none (run '%s pool build %s/%s')\n", "revision", cli->prog, p.tenant,
		       p.id);
	if (json_array_size(revs)) {
		printf(LABEL "%zu kept:", "revisions", json_array_size(revs));
		size_t i;
		json_t *v;
		json_array_foreach(revs, i, v)
		{
			bool c = json_is_true(json_object_get(v, "current"));
			bool ok = json_is_true(json_object_get(v, "complete"));
			printf(" %.12s%s%s", json_get_str(v, "revision"), c ? " (current)" : "",
			       ok ? "" : " (incomplete)");
		}
		putchar('\n');
	}
	const char *created = json_get_str(p.record, "created_at");
	const char *updated = json_get_str(p.record, "updated_at");
	printf(LABEL "%s\n", "created_at", created ? created : "-");
	printf(LABEL "%s\n", "updated_at", updated ? updated : "-");
	print_history(hist);
	json_decref(revs);
	json_decref(hist);
	pool_release(&p);
	return 0;
}

static const struct command cmd_pool_info = {
    .name = "info",
    .run = run_info,
    .summary = "Show a pool: sizing, flake and profile, current revision, counts, builds.",
    .usage = "<tenant>/<pool> [--json]",
    .description = "The build history lists builds, cache hits and rollbacks, newest first.",
    .examples = "mvm pool info acme/workers\nmvm pool info acme/workers --json | jq "
		".current_revision",
    .exit_status = "0 success, 2 a malformed address, 4 no such pool",
    .min_args = 1,
    .max_args = 1,
    .args = CLI_ARG_POOL,
};

/* ---- build ---------------------------------------------------------------- */

static struct strvec build_overrides;
static struct {
	const char *builder;
	long long vcpus, timeout;
	uint64_t mem;
} bo;

static const struct opt build_opts[] = {
    {.type = OPT_PAIR_LIST,
     .long_name = "override-input",
     .value = &build_overrides,
     .argh = "NAME REF",
     .help = "use REF for the flake input NAME (repeatable)"},
    {.type = OPT_STRING,
     .long_name = "builder",
     .value = &bo.builder,
     .argh = "vm|host",
     .help = "build in a builder microVM or on the host this once (default: the pool's)",
     .kind = OPT_ARG_CHOICE,
     .choices = "vm host"},
    {.type = OPT_INT,
     .long_name = "builder-vcpus",
     .value = &bo.vcpus,
     .argh = "N",
     .help = "vCPUs of the builder VM (1-255; default 2, config [builder] vcpus)",
     .min = 1,
     .max = 255},
    {.type = OPT_SIZE,
     .long_name = "builder-mem",
     .value = &bo.mem,
     .argh = "SIZE",
     .help = "memory of the builder VM (default 1024M, config [builder] mem)"},
    {.type = OPT_INT,
     .long_name = "timeout",
     .value = &bo.timeout,
     .argh = "SECONDS",
     .help = "stop a builder VM build that runs longer (default 3600, config [builder] "
	     "timeout)",
     .min = 1,
     .max = 604800},
    OPT_END_(),
};

/* The builder VM's sizing: flags, then config.toml, then the defaults. 0,
 * < 0 (an error in cli->err) or EXIT_USAGE (printed). */
static int builder_sizing(struct cli *cli, const struct config *cfg, struct builder_opts *o)
{
	int r = builder_opts_from_config(cfg, o, &cli->err);
	if (r < 0)
		return r;
	if (bo.vcpus)
		o->vcpus = (unsigned)bo.vcpus;
	if (bo.timeout)
		o->timeout_s = (int)bo.timeout;
	if (bo.mem)
		o->mem_mib = bo.mem;
	if (o->mem_mib && o->mem_mib < 256)
		return cli_usage_error(cli, "--builder-mem must be at least 256M");
	o->progress = cli_color(STDERR_FILENO);
	return 0;
}

/* With a cluster ([cluster] etcd): the revision the cluster runs follows
 * this host's build or rollback, when the pool is in the cluster; with a
 * store ([store] url) it goes there first, for the other hosts to pull. */
static int tell_cluster(struct cli *cli, const struct config *cfg, struct pool *p, const char *rev)
{
	struct etcd *c = NULL;
	int r = cluster_open(cfg, &c, &cli->err);
	if (r < 0 || !c)
		return r;
	_cleanup_free_ char *pkey = cluster_key_pool(p->tenant, p->id);
	struct etcd_kv kv;
	bool in_cluster = false;
	if ((r = etcd_get(c, pkey, &kv, &in_cluster, NULL, &cli->err)) < 0) {
		etcd_close(c);
		return r;
	}
	if (in_cluster)
		etcd_kv_release(&kv);
	if (in_cluster && cfg->store_url) {
		struct travel_result tr;
		struct err pe = ERR_INIT;
		if (travel_push(cfg, p, rev, &tr, &pe) == 0)
			cli_note(
			    cli,
			    "pushed revision %.12s of %s/%s to %s (%zu of %zu files uploaded): "
			    "the cluster's other hosts pull it from there",
			    rev, p->tenant, p->id, cfg->store_url, tr.moved, tr.files);
		else
			cli_warn(cli,
				 "%s; only hosts that build revision %.12s themselves can run it "
				 "until 'mvmctl pool push %s/%s' succeeds",
				 pe.msg ? pe.msg : "the push failed", rev, p->tenant, p->id);
		travel_result_release(&tr);
		err_release(&pe);
	}
	_cleanup_free_ char *prev = NULL;
	r = cluster_pool_set_revision(c, p->tenant, p->id, rev, &prev, &cli->err);
	etcd_close(c);
	if (r < 0)
		err_hint(&cli->err,
			 "revision %.12s is current on this host, but the cluster still runs "
			 "the one before; run this again when etcd answers",
			 rev);
	else if (r > 0 && (!prev || strcmp(prev, rev)))
		cli_note(cli,
			 "the cluster runs revision %.12s of %s/%s now (was %.12s): new instances "
			 "start from it on the hosts that have it",
			 rev, p->tenant, p->id, prev ? prev : "none");
	return r < 0 ? r : 0;
}

static int run_build(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	struct pool p;
	struct config cfg;
	int r = pool_load_addr(argv[0], &p, &cli->err);
	if (r < 0)
		return r;
	if ((r = config_load(&cfg, &cli->err)) < 0) {
		pool_release(&p);
		return r;
	}
	struct strvec ov = STRVEC_INIT;
	nix_overrides_merge(&ov, &cfg.override_inputs, &build_overrides);
	struct nix_opts nix = {.offline = cfg.offline, .overrides = &ov, .verbose = cli->verbose};
	struct build_progress pg = {.phase_done = cli_progress, .ctx = cli};
	struct pool_build_result res = {0};
	struct pool_build_opts o = {.builder = builder_choice(bo.builder)};
	if (o.builder && strcmp(o.builder, "vm") && strcmp(o.builder, "host"))
		r = cli_usage_error(cli, "invalid builder '%s': expected vm or host", o.builder);
	else
		r = builder_sizing(cli, &cfg, &o.vm);
	if (r != 0) { /* a usage error is EXIT_USAGE, the others < 0 */
		strvec_clear(&ov);
		config_release(&cfg);
		pool_release(&p);
		return r;
	}
	const char *where = o.builder ? o.builder : p.builder;
	bool vm = !strcmp(where, "vm");
	cli_note(cli, "building %s/%s (%s#%s) %s", p.tenant, p.id, p.flake, p.profile,
		 vm ? "in a builder VM" : "on the host (--builder host: for trusted flakes)");
	r = pool_build_with_progress(&p, &nix, &o, &pg, &res, &cli->err);
	const char *in = vm ? "in a builder VM" : "on the host";
	if (r >= 0) {
		_cleanup_free_ char *revdir = rstore_revision_dir(&p.store, res.revision);
		if (!res.snapshot)
			cli_warn(cli, "no snapshot: %s; instances will boot cold",
				 res.snapshot_reason);
		if (cli->json) {
			json_t *snap = json_pack("{s:b, s:b, s:I, s:o}", "created", res.snapshot,
						 "reused", res.snapshot_reused, "size_bytes",
						 (json_int_t)res.snapshot_bytes, "reason",
						 str_or_null(res.snapshot_reason));
			json_t *j = json_pack(
			    "{s:s++, s:s, s:b, s:s, s:f, s:s, s:o}", "pool", p.tenant, "/", p.id,
			    "revision", res.revision, "built", res.built, "builder", where,
			    "seconds", res.seconds, "revision_dir", revdir, "snapshot", snap);
			if (res.how)
				json_object_set(j, "builder_vm", res.how);
			json_object_set_new(j, "phases_s",
					    cli->phases ? cli->phases : json_object());
			cli->phases = NULL;
			cli_json(cli, j);
		} else {
			if (res.snapshot) {
				_cleanup_free_ char *human = registry_cli_bytes(res.snapshot_bytes);
				cli_note(cli, "snapshot %s (%s)",
					 res.snapshot_reused ? "up to date" : "created", human);
			}
			if (res.built)
				cli_note(cli, "built revision %.12s of %s/%s %s in %.2f s",
					 res.revision, p.tenant, p.id, in, res.seconds);
			else
				cli_note(cli,
					 "up to date: revision %.12s of %s/%s, nothing rebuilt "
					 "(built earlier) (%.2f s)",
					 res.revision, p.tenant, p.id, res.seconds);
		}
	}
	if (r >= 0)
		r = tell_cluster(cli, &cfg, &p, res.revision);
	pool_build_result_release(&res);
	strvec_clear(&ov);
	config_release(&cfg);
	pool_release(&p);
	return r < 0 ? r : 0;
}

static const struct command cmd_pool_build = {
    .name = "build",
    .run = run_build,
    .summary = "Build the pool's flake profile into a new revision and make it current.",
    .usage = "<tenant>/<pool> [--override-input NAME REF]... [--builder vm|host] "
	     "[--builder-vcpus N] [--builder-mem SIZE] [--timeout SECONDS] [--json]",
    .description =
	"Builds where the pool says (pool create --builder; --builder here for this once). In\n"
	"a builder VM (vm, the default): an ephemeral microVM made from the host's own nix\n"
	"boots, gets the flake and its local inputs on a read-only disk, evaluates the flake\n"
	"and runs nix build there with the tenant's own persistent store "
	"($MVM_HOME/tenants/<tenant>/builder/) and hands the\n"
	"closure back on a disk the host checks before it registers anything; nix's log\n"
	"streams to stderr. On the host (host): nix runs as 'mvmctl build' does. Either way\n"
	"the closure is packed into rootfs.ext4 with the guest kernel, committed under\n"
	"$MVM_HOME/pools/<tenant>/<pool>/revisions/<hash>/ and points 'current' at it in one\n"
	"rename. It then boots the revision once at the pool's sizing and saves a snapshot\n"
	"that instances restore from; a snapshot that cannot be taken is a warning. An\n"
	"unchanged flake is a cache hit: nothing is rebuilt. New instances use the new\n"
	"revision; running ones keep theirs until restarted. With a cluster ([cluster] etcd)\n"
	"and the pool in it, the cluster runs the new revision too, on the hosts that have it.",
    .examples = "mvm pool build acme/workers\n"
		"mvm pool build acme/workers --override-input nixpkgs path:/srv/nixpkgs\n"
		"mvm pool build acme/workers --json | jq -r .revision",
    .environment = "MVM_OFFLINE=1        never ask a binary cache (config: [nix] offline)\n"
		   "MVM_OVERRIDE_INPUTS  \"NAME=REF …\" input overrides (config: [nix] "
		   "override_inputs)\n"
		   "MVM_ACCEL            kvm | tcg | auto, for the snapshot boot",
    .opts = build_opts,
    .exit_status =
	"0 built or up to date (with or without a snapshot), 1 failure (another build\n"
	"of the pool running), 4 no such pool, 6 host not ready, 7 nix or packing failed",
    .min_args = 1,
    .max_args = 1,
    .args = CLI_ARG_POOL,
};

/* ---- rollback ------------------------------------------------------------- */

static const char *rollback_revision;

static const struct opt rollback_opts[] = {
    OPT_STRING_(0, "revision", &rollback_revision, "HASH",
		"the revision to make current (at least 8 hex digits of it)"),
    OPT_END_(),
};

static int run_rollback(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	struct fleet_addr a;
	int r = fleet_parse_pool(argv[0], &a, &cli->err);
	if (r < 0)
		return r;
	if (!rollback_revision)
		return cli_usage_error(cli, "missing --revision");
	struct pool p = POOL_INIT;
	if ((r = pool_load(a.tenant, a.pool, &p, &cli->err)) < 0)
		return r;
	double t0 = mono_s();
	_cleanup_free_ char *prev = current_of(&p, NULL);
	_cleanup_free_ char *full = NULL;
	r = pool_rollback(&p, rollback_revision, &full, &cli->err);
	struct config cfg;
	if (r >= 0 && (r = config_load(&cfg, &cli->err)) == 0) {
		r = tell_cluster(cli, &cfg, &p, full);
		config_release(&cfg);
		if (r == 0 && !strcmp(prev ? prev : "", full))
			r = 1; /* nothing moved here */
	}
	if (r >= 0) {
		bool changed = r == 0;
		double secs = mono_s() - t0;
		if (cli->json)
			cli_json(cli,
				 json_pack("{s:s++, s:s, s:o, s:b, s:f}", "pool", p.tenant, "/",
					   p.id, "revision", full, "previous", str_or_null(prev),
					   "changed", changed, "seconds", secs));
		else if (changed)
			cli_note(cli,
				 "%s/%s: current is now revision %.12s (was %.12s); nothing "
				 "was rebuilt",
				 p.tenant, p.id, full, prev ? prev : "none");
		else
			cli_note(cli, "%s/%s: revision %.12s is already current", p.tenant, p.id,
				 full);
	}
	pool_release(&p);
	return r < 0 ? r : 0;
}

static const struct command cmd_pool_rollback = {
    .name = "rollback",
    .run = run_rollback,
    .summary = "Point the pool's current revision back at an earlier build, without building.",
    .usage = "<tenant>/<pool> --revision HASH [--json]",
    .description =
	"HASH is a revision the pool has built ('pool info' lists them), whole or a unique\n"
	"prefix of at least 8 hex digits. Only the 'current' link moves (atomically); new\n"
	"instances start from that revision. With a cluster ([cluster] etcd), the revision\n"
	"the cluster runs moves too: hosts that have it start new instances from it.",
    .examples = "mvm pool rollback acme/workers --revision 3f2a9c1e\n"
		"mvm pool info acme/workers --json | jq -r '.revisions[].revision'",
    .opts = rollback_opts,
    .exit_status = "0 current points at the revision, 2 usage error, 4 no such pool, or\n"
		   "Revision <hash> not found (unknown, ambiguous or incomplete)",
    .min_args = 1,
    .max_args = 1,
    .args = CLI_ARG_POOL,
};

/* ---- push ----------------------------------------------------------------- */

static const char *push_revision;

static const struct opt push_opts[] = {
    OPT_STRING_(0, "revision", &push_revision, "HASH",
		"push this revision (64 hex digits) instead of the current one"),
    OPT_END_(),
};

static int run_push(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	struct pool p;
	int r = pool_load_addr(argv[0], &p, &cli->err);
	if (r < 0)
		return r;
	struct config cfg;
	if ((r = config_load(&cfg, &cli->err)) < 0) {
		pool_release(&p);
		return r;
	}
	struct travel_result tr = {0};
	r = travel_push(&cfg, &p, push_revision, &tr, &cli->err);
	if (r >= 0) {
		if (cli->json)
			cli_json(cli,
				 json_pack("{s:s++, s:s, s:s, s:I, s:I, s:I, s:I, s:s?}", "pool",
					   p.tenant, "/", p.id, "revision", tr.revision, "store",
					   cfg.store_url, "files", (json_int_t)tr.files, "uploaded",
					   (json_int_t)tr.moved, "bytes",
					   (json_int_t)tr.total_bytes, "uploaded_bytes",
					   (json_int_t)tr.moved_bytes, "signed_by", tr.keyid));
		else
			cli_note(cli,
				 "pushed revision %.12s of %s/%s to %s (%zu of %zu files uploaded)",
				 tr.revision, p.tenant, p.id, cfg.store_url, tr.moved, tr.files);
	}
	travel_result_release(&tr);
	config_release(&cfg);
	pool_release(&p);
	return r < 0 ? r : 0;
}

static const struct command cmd_pool_push = {
    .name = "push",
    .run = run_push,
    .summary = "Push a revision of the pool to the store, for the cluster's other hosts.",
    .usage = "<tenant>/<pool> [--revision HASH] [--json]",
    .description =
	"Uploads the revision's files the store ([store] url) lacks and its document,\n"
	"signed with [store] signing_key, at pools/<tenant>/<pool>/<revision>.json. A\n"
	"host serving the pool in a cluster pulls the revision the cluster runs from there\n"
	"when it lacks it, checked against [store] trusted_keys. 'pool build' and 'pool\n"
	"rollback' push by themselves when the pool is in a cluster and a store is set\n"
	"(docs/cluster.md).",
    .examples = "mvm pool push acme/workers\n"
		"mvm pool push acme/workers --revision \"$(mvm pool info acme/workers --json | "
		"jq -r '.revisions[0].revision')\"",
    .opts = push_opts,
    .exit_status = "0 pushed, 1 the store failed, 2 usage error (no store configured),\n"
		   "4 no such pool, revision or signing key",
    .min_args = 1,
    .max_args = 1,
    .args = CLI_ARG_POOL,
};

/* ---- rm ------------------------------------------------------------------- */

static bool rm_force;

static const struct opt rm_opts[] = {
    OPT_BOOL_(0, "force", &rm_force, "a pool that does not exist is a success"),
    OPT_END_(),
};

static int run_rm(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	struct fleet_addr a;
	int r = fleet_parse_pool(argv[0], &a, &cli->err);
	if (r < 0)
		return r;
	_cleanup_free_ char *dir = fleet_pool_dir(a.tenant, a.pool);
	uint64_t bytes = rstore_disk_usage(dir);
	r = pool_remove(a.tenant, a.pool, &cli->err);
	bool removed = r >= 0;
	if (r < 0 && rm_force && cli->err.exit == EXIT_NOTFOUND) {
		cli_note(cli, "nothing to remove: %s", cli->err.msg);
		err_release(&cli->err);
		r = 0;
		bytes = 0;
	}
	if (r < 0)
		return r;
	if (cli->json) {
		cli_json(cli, json_pack("{s:s++, s:b, s:I}", "pool", a.tenant, "/", a.pool,
					"removed", removed, "freed_bytes", (json_int_t)bytes));
	} else if (removed) {
		_cleanup_free_ char *human = registry_cli_bytes(bytes);
		printf("removed pool %s/%s (%s)\n", a.tenant, a.pool, human);
	}
	return 0;
}

static const struct command cmd_pool_rm = {
    .name = "rm",
    .run = run_rm,
    .summary = "Remove a pool and all its revisions.",
    .usage = "<tenant>/<pool> [--force] [--json]",
    .description = "Refused while the pool has instances: remove them first. The pool\n"
		   "disappears in one step (a rename) and is then deleted.",
    .examples = "mvm pool rm acme/workers\nmvm pool rm acme/old --force",
    .opts = rm_opts,
    .exit_status = "0 removed (or absent with --force), 1 a build of the pool is running,\n"
		   "4 no such pool, 5 the pool still has instances",
    .min_args = 1,
    .max_args = 1,
    .args = CLI_ARG_POOL,
};

extern const struct command cmd_pool_scale, cmd_pool_reconcile; /* cmd_pool_scale.c */

static const struct command *const pool_subcommands[] = {
    &cmd_pool_create, &cmd_pool_ls,    &cmd_pool_info,	    &cmd_pool_build, &cmd_pool_rollback,
    &cmd_pool_push,   &cmd_pool_scale, &cmd_pool_reconcile, &cmd_pool_rm,    NULL,
};

const struct command cmd_pool = {
    .name = "pool",
    .summary = "Manage a tenant's pools: flake, sizing, builds and revisions.",
    .subcommands = pool_subcommands,
};
