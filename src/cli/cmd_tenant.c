/* mvmctl tenant create|ls|info|rm and tenant secrets set (seed 003): the
 * tenants of the fleet, their quotas and their secrets. Secrets are never
 * printed: info and ls say only when they were set and how many keys they
 * have. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cluster/client.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/jsonio.h"
#include "core/size.h"
#include "core/util.h"
#include "fleet/fleet.h"
#include "fleet/pool.h"
#include "fleet/quota.h"
#include "fleet/tenant.h"

#define STR_(x)	  #x
#define STR(x)	  STR_(x)
#define QUOTA_MAX 1000000 /* far beyond any host: a larger number is a typo */

/* The cluster when [cluster] etcd / MVM_ETCD is set (*c NULL when not). */
static int open_cluster(struct cli *cli, struct etcd **c)
{
	struct config cfg;
	int r = config_load(&cfg, &cli->err);
	if (r < 0)
		return r;
	r = cluster_open(&cfg, c, &cli->err);
	config_release(&cfg);
	return r;
}

/* "acme" as a tenant id, or a usage error in cli->err. */
static int parse_id(struct cli *cli, const char *arg, struct fleet_addr *a)
{
	return fleet_parse_tenant(arg, a, &cli->err);
}

static json_t *secrets_json(const struct tenant *t)
{
	const json_t *s = t->secrets;
	if (!json_is_object(s))
		return json_null();
	const json_t *keys = json_object_get(s, "keys");
	const char *at = json_get_str(s, "set_at");
	return json_pack("{s:o, s:o}", "set_at", at ? json_string(at) : json_null(), "keys",
			 json_is_integer(keys) ? json_copy((json_t *)keys) : json_null());
}

static json_t *quotas_json(const struct tenant_quotas *q)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "max_vcpus", (json_int_t)q->max_vcpus,
			 "max_mem_mib", (json_int_t)q->max_mem_mib, "max_running",
			 (json_int_t)q->max_running, "max_warm", (json_int_t)q->max_warm,
			 "max_pools", (json_int_t)q->max_pools, "max_instances_per_pool",
			 (json_int_t)q->max_instances_per_pool);
}

static json_t *strvec_json(const struct strvec *sv)
{
	json_t *a = json_array();
	for (size_t i = 0; i < sv->n; i++)
		json_array_append_new(a, json_string(sv->v[i]));
	return a;
}

/* What info and ls --json show of one tenant (never its secrets). */
static json_t *tenant_json(const struct tenant *t, const struct strvec *pools)
{
	const char *created = json_get_str(t->record, "created_at");
	return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "id", t->id, "dir", t->dir, "created_at",
			 created ? json_string(created) : json_null(), "quotas", quotas_json(&t->q),
			 "secrets", secrets_json(t), "pools", strvec_json(pools));
}

/* ---- tenant create ----------------------------------------------------------- */

static struct {
	long long max_vcpus, max_running, max_warm, max_pools, max_instances_per_pool;
	uint64_t max_mem;
	bool max_vcpus_set, max_mem_set, max_running_set, max_warm_set, max_pools_set,
	    max_instances_per_pool_set;
} co;

static const struct opt create_opts[] = {
    {.type = OPT_INT,
     .long_name = "max-vcpus",
     .value = &co.max_vcpus,
     .argh = "N",
     .help =
	 "vCPUs of running and warm instances together (default " STR(TENANT_DEFAULT_MAX_VCPUS) ")",
     .min = 1,
     .max = QUOTA_MAX,
     .given = &co.max_vcpus_set},
    {.type = OPT_SIZE,
     .long_name = "max-mem",
     .value = &co.max_mem,
     .argh = "SIZE",
     .help = "memory of running and warm instances together; 64G, a bare number is MiB "
	     "(default " STR(TENANT_DEFAULT_MAX_MEM_MIB) "M)",
     .given = &co.max_mem_set},
    {.type = OPT_INT,
     .long_name = "max-running",
     .value = &co.max_running,
     .argh = "N",
     .help = "running instances (default " STR(TENANT_DEFAULT_MAX_RUNNING) ")",
     .min = 1,
     .max = QUOTA_MAX,
     .given = &co.max_running_set},
    {.type = OPT_INT,
     .long_name = "max-warm",
     .value = &co.max_warm,
     .argh = "N",
     .help = "warm (paused) instances; 0 allows none (default " STR(TENANT_DEFAULT_MAX_WARM) ")",
     .min = 0,
     .max = QUOTA_MAX,
     .given = &co.max_warm_set},
    {.type = OPT_INT,
     .long_name = "max-pools",
     .value = &co.max_pools,
     .argh = "N",
     .help = "pools (default " STR(TENANT_DEFAULT_MAX_POOLS) ")",
     .min = 1,
     .max = QUOTA_MAX,
     .given = &co.max_pools_set},
    {.type = OPT_INT,
     .long_name = "max-instances-per-pool",
     .value = &co.max_instances_per_pool,
     .argh = "N",
     .help = "instances of any one pool (default " STR(TENANT_DEFAULT_MAX_INSTANCES_PER_POOL) ")",
     .min = 1,
     .max = QUOTA_MAX,
     .given = &co.max_instances_per_pool_set},
    OPT_END_(),
};

static void quotas_line(struct strbuf *sb, const struct tenant_quotas *q)
{
	_cleanup_free_ char *mem = size_format_mib((uint64_t)q->max_mem_mib);
	strbuf_addf(sb, "vcpus %lld, mem %s, running %lld, warm %lld, pools %lld, per pool %lld",
		    q->max_vcpus, mem, q->max_running, q->max_warm, q->max_pools,
		    q->max_instances_per_pool);
}

static int run_create(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	struct fleet_addr a;
	int r = parse_id(cli, argv[0], &a);
	if (r < 0)
		return r;
	struct tenant_quotas q;
	tenant_quotas_default(&q);
	if (co.max_vcpus_set)
		q.max_vcpus = co.max_vcpus;
	if (co.max_mem_set) {
		if (co.max_mem < 1)
			return cli_usage_error(cli, "--max-mem must be at least 1M, got 0");
		q.max_mem_mib = (long long)co.max_mem;
	}
	if (co.max_running_set)
		q.max_running = co.max_running;
	if (co.max_warm_set)
		q.max_warm = co.max_warm;
	if (co.max_pools_set)
		q.max_pools = co.max_pools;
	if (co.max_instances_per_pool_set)
		q.max_instances_per_pool = co.max_instances_per_pool;
	/* with a cluster, its copy of the quotas first: one set for every host */
	struct etcd *c = NULL;
	bool in_cluster = false;
	if ((r = open_cluster(cli, &c)) < 0)
		return r;
	if (c) {
		r = cluster_tenant_register(c, a.tenant, &q, &in_cluster, &cli->err);
		etcd_close(c);
		if (r < 0)
			return r;
	}
	if ((r = tenant_create(a.tenant, &q, &cli->err)) < 0) {
		if (cli->err.exit == EXIT_REFUSED)
			err_hint(&cli->err, "'mvmctl tenant info %s' shows it", a.tenant);
		return r;
	}
	struct tenant t;
	if ((r = tenant_load(a.tenant, &t, &cli->err)) < 0)
		return r;
	if (cli->json) {
		struct strvec none = STRVEC_INIT;
		cli_json(cli, tenant_json(&t, &none));
	} else {
		struct strbuf sb = STRBUF_INIT;
		quotas_line(&sb, &t.q);
		cli_note(cli, "created tenant '%s' (quotas: %s)", t.id, sb.buf);
		strbuf_release(&sb);
		if (c && in_cluster)
			cli_note(cli, "the cluster holds '%s' and its quotas now, for every host",
				 t.id);
		else if (c)
			cli_note(cli, "the cluster had '%s' already, with these quotas", t.id);
	}
	tenant_release(&t);
	return 0;
}

static const struct command cmd_tenant_create = {
    .name = "create",
    .run = run_create,
    .summary = "Create a tenant with its quotas.",
    .usage = "<tenant> [--max-vcpus N] [--max-mem SIZE] [--max-running N] [--max-warm N] "
	     "[--max-pools N] [--max-instances-per-pool N] [--json]",
    .description =
	"A tenant id is 1-63 characters of a-z, 0-9 and '-', not starting or ending with "
	"'-'.\nQuotas bound what the tenant's pools may use at once; a quota not given "
	"takes its default:\n"
	"  max_vcpus               " STR(
	    TENANT_DEFAULT_MAX_VCPUS) "\n"
				      "  max_mem_mib             " STR(
					  TENANT_DEFAULT_MAX_MEM_MIB) " (16G)\n"
								      "  max_running            "
								      " " STR(
									  TENANT_DEFAULT_MAX_RUNNING) "\n"
												      "  max_warm                " STR(
													  TENANT_DEFAULT_MAX_WARM) "\n"
																   "  max_pools               " STR(
																       TENANT_DEFAULT_MAX_POOLS) "\n"
																				 "  max_instances_per_pool  " STR(
																				     TENANT_DEFAULT_MAX_INSTANCES_PER_POOL) "\n"
																									    "vCPUs and memory count running and warm instances. Every quota is at least 1, "
																									    "except\nmax_warm, which may be 0. The tenant starts with no secrets (an empty "
																									    "secrets disk).\nWith a cluster ([cluster] etcd or MVM_ETCD), the quotas are registered there first, one\nset for every host: a tenant the cluster has with other quotas is refused (docs/cluster.md).",
    .examples = "mvmctl tenant create acme\n"
		"mvmctl tenant create acme --max-vcpus 32 --max-mem 64G --max-pools 4\n"
		"mvmctl tenant create batch --max-warm 0 --json",
    .exit_status = "0 created, 2 usage error (a malformed id, a quota below its minimum),\n"
		   "5 the tenant already exists (or the cluster has it with other quotas),\n"
		   "6 the cluster's etcd is unreachable",
    .opts = create_opts,
    .min_args = 1,
    .max_args = 1,
};

/* ---- tenant ls ------------------------------------------------------------------ */

static int run_ls(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct strvec ids = STRVEC_INIT;
	int r = tenant_list(&ids, &cli->err);
	if (r < 0) {
		strvec_clear(&ids);
		return r;
	}
	json_t *arr = cli->json ? json_array() : NULL;
	struct strvec rows = STRVEC_INIT; /* id, pools, secrets, quotas: 4 per tenant */
	for (size_t i = 0; i < ids.n; i++) {
		struct tenant t;
		struct strvec pools = STRVEC_INIT;
		struct err e = ERR_INIT;
		if (tenant_load(ids.v[i], &t, &e) < 0 || pool_list(ids.v[i], &pools, &e) < 0) {
			/* a tenant whose record is unreadable is still listed */
			if (arr)
				json_array_append_new(
				    arr, json_pack("{s:s, s:s}", "id", ids.v[i], "problem", e.msg));
			strvec_push(&rows, ids.v[i]);
			strvec_push(&rows, "-");
			strvec_push(&rows, "-");
			strvec_pushf(&rows, "(%s)", e.msg);
		} else if (arr) {
			json_array_append_new(arr, tenant_json(&t, &pools));
		} else {
			struct strbuf sb = STRBUF_INIT;
			quotas_line(&sb, &t.q);
			strvec_push(&rows, t.id);
			strvec_pushf(&rows, "%zu", pools.n);
			strvec_push(&rows, t.secrets ? "yes" : "no");
			strvec_push(&rows, sb.buf);
			strbuf_release(&sb);
		}
		err_release(&e);
		strvec_clear(&pools);
		tenant_release(&t);
	}
	if (arr) {
		cli_json(cli, json_pack("{s:o}", "tenants", arr));
	} else if (!ids.n) {
		cli_note(cli, "no tenants; create one with 'mvmctl tenant create NAME'");
	} else {
		const char *hdr[] = {"ID", "POOLS", "SECRETS", "QUOTAS"};
		size_t w[3] = {strlen(hdr[0]), strlen(hdr[1]), strlen(hdr[2])};
		for (size_t i = 0; i < rows.n; i += 4)
			for (size_t c = 0; c < 3; c++)
				if (strlen(rows.v[i + c]) > w[c])
					w[c] = strlen(rows.v[i + c]);
		printf("%-*s  %-*s  %-*s  %s\n", (int)w[0], hdr[0], (int)w[1], hdr[1], (int)w[2],
		       hdr[2], hdr[3]);
		for (size_t i = 0; i < rows.n; i += 4)
			printf("%-*s  %-*s  %-*s  %s\n", (int)w[0], rows.v[i], (int)w[1],
			       rows.v[i + 1], (int)w[2], rows.v[i + 2], rows.v[i + 3]);
	}
	strvec_clear(&rows);
	strvec_clear(&ids);
	return 0;
}

static const struct command cmd_tenant_ls = {
    .name = "ls",
    .run = run_ls,
    .summary = "List the tenants with their pools, secrets and quotas.",
    .usage = "[--json]",
    .description = "One line per tenant: its id, how many pools it has, whether secrets are "
		   "set, and its quotas.\nWith --json, {\"tenants\": [...]} holds what "
		   "'tenant info --json' shows of each.",
    .examples = "mvmctl tenant ls\nmvmctl tenant ls --json | jq -r '.tenants[].id'",
    .max_args = 0,
};

/* ---- tenant info ----------------------------------------------------------------- */

#define LABEL "%-15s "

static json_t *usage_json(const struct quota_usage *u)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "vcpus", (json_int_t)u->vcpus, "mem_mib",
			 (json_int_t)u->mem_mib, "running", (json_int_t)u->running, "warm",
			 (json_int_t)u->warm, "sleeping", (json_int_t)u->sleeping, "stopped",
			 (json_int_t)u->stopped);
}

static void print_info(const struct tenant *t, const struct strvec *pools,
		       const struct quota_usage *u)
{
	const char *created = json_get_str(t->record, "created_at");
	printf(LABEL "%s\n", "tenant", t->id);
	printf(LABEL "%s\n", "dir", t->dir);
	printf(LABEL "%s\n", "created_at", created ? created : "-");
	printf("quotas (in use / max)\n");
	_cleanup_free_ char *mem = size_format_mib((uint64_t)t->q.max_mem_mib);
	printf("  %-24s %lld / %lld\n", "vcpus", u->vcpus, t->q.max_vcpus);
	printf("  %-24s %lld / %lld (%s)\n", "mem_mib", u->mem_mib, t->q.max_mem_mib, mem);
	printf("  %-24s %lld / %lld\n", "running", u->running, t->q.max_running);
	printf("  %-24s %lld / %lld\n", "warm", u->warm, t->q.max_warm);
	printf("  %-24s %zu / %lld\n", "pools", pools->n, t->q.max_pools);
	printf("  %-24s %lld\n", "max_instances_per_pool", t->q.max_instances_per_pool);
	printf(LABEL "%lld sleeping, %lld stopped\n", "not counted", u->sleeping, u->stopped);
	const json_t *s = t->secrets;
	const char *at = json_get_str(s, "set_at");
	const json_t *keys = json_object_get(s, "keys");
	if (!json_is_object(s))
		printf(LABEL "none\n", "secrets");
	else if (json_is_integer(keys))
		printf(LABEL "set %s (%lld key%s)\n", "secrets", at ? at : "-",
		       (long long)json_integer_value(keys),
		       json_integer_value(keys) == 1 ? "" : "s");
	else
		printf(LABEL "set %s (not a JSON object)\n", "secrets", at ? at : "-");
	if (!pools->n) {
		printf(LABEL "none\n", "pools");
		return;
	}
	printf(LABEL, "pools");
	for (size_t i = 0; i < pools->n; i++)
		printf("%s%s/%s", i ? ", " : "", t->id, pools->v[i]);
	putchar('\n');
}

/* With a cluster: what the tenant's pools ask of the cluster's quotas, over every host. */
static void print_cluster(const json_t *cu)
{
	const json_t *q = json_object_get(cu, "quotas");
	const json_t *d = json_object_get(cu, "desired");
	const json_t *in = json_object_get(cu, "instances");
	printf("cluster (desired / max, over every host)\n");
	if (!json_is_object(q)) {
		printf(
		    "  %-24s none yet (a 'pool scale' or 'tenant create' with the cluster writes "
		    "them)\n",
		    "quotas");
	} else {
		static const char *const rows[][2] = {{"vcpus", "max_vcpus"},
						      {"mem_mib", "max_mem_mib"},
						      {"running", "max_running"},
						      {"warm", "max_warm"}};
		for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
			printf("  %-24s %lld / %lld\n", rows[i][0], json_get_int(d, rows[i][0], 0),
			       json_get_int(q, rows[i][1], 0));
	}
	printf("  %-24s %lld running, %lld warm, %lld sleeping, %lld unplaced\n", "instances",
	       json_get_int(in, "running", 0), json_get_int(in, "warm", 0),
	       json_get_int(in, "sleeping", 0), json_get_int(in, "unplaced", 0));
	const char *h;
	const json_t *n;
	printf("  %-24s", "hosts");
	if (!json_object_size(json_object_get(cu, "hosts")))
		printf(" none");
	json_object_foreach((json_t *)json_object_get(cu, "hosts"), h, n)
	    printf(" %s (%lld)", h, (long long)json_integer_value(n));
	putchar('\n');
}

static int run_info(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	struct fleet_addr a;
	int r = parse_id(cli, argv[0], &a);
	if (r < 0)
		return r;
	struct tenant t;
	if ((r = tenant_load(a.tenant, &t, &cli->err)) < 0)
		return r;
	struct strvec pools = STRVEC_INIT;
	struct quota_usage u;
	struct etcd *c = NULL;
	json_t *cu = NULL;
	if ((r = open_cluster(cli, &c)) == 0 && c) {
		r = cluster_tenant_usage(c, t.id, &cu, &cli->err);
		etcd_close(c);
	}
	if (r >= 0 && (r = pool_list(t.id, &pools, &cli->err)) >= 0 &&
	    (r = quota_usage(t.id, &u, &cli->err)) >= 0) {
		if (cli->json) {
			json_t *j = tenant_json(&t, &pools);
			json_object_set_new(j, "usage", usage_json(&u));
			if (cu)
				json_object_set(j, "cluster", cu);
			cli_json(cli, j);
		} else {
			print_info(&t, &pools, &u);
			if (cu)
				print_cluster(cu);
		}
	}
	json_decref(cu);
	strvec_clear(&pools);
	tenant_release(&t);
	return r < 0 ? r : 0;
}

static const struct command cmd_tenant_info = {
    .name = "info",
    .run = run_info,
    .summary = "Show a tenant's quotas and what it uses of them, secrets status and pools.",
    .usage = "<tenant> [--json]",
    .description = "Usage counts running and warm instances against the vCPU, memory, running "
		   "and warm quotas (sleeping and stopped ones hold no VM). Secrets are never "
		   "shown: only when they were set and how many top-level keys they have.",
    .examples = "mvmctl tenant info acme\nmvmctl tenant info acme --json | jq .quotas",
    .min_args = 1,
    .max_args = 1,
    .args = CLI_ARG_TENANT,
};

/* ---- tenant rm -------------------------------------------------------------------- */

static struct {
	bool force;
} rmo;

static const struct opt rm_opts[] = {
    OPT_BOOL_('f', "force", &rmo.force, "a tenant that does not exist is not an error"),
    OPT_END_(),
};

static int run_rm(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	struct fleet_addr a;
	int r = parse_id(cli, argv[0], &a);
	if (r < 0)
		return r;
	bool removed = true, from_cluster = false;
	struct etcd *c = NULL;
	if ((r = open_cluster(cli, &c)) < 0)
		return r;
	if (c) { /* the cluster's copy first: refused while its pools have instances */
		r = cluster_tenant_remove(c, a.tenant, &from_cluster, &cli->err);
		etcd_close(c);
		if (r < 0)
			return r;
		if (from_cluster)
			cli_note(cli, "removed tenant '%s' and its pools from the cluster",
				 a.tenant);
	}
	if ((r = tenant_remove(a.tenant, &cli->err)) < 0) {
		/* a tenant of the cluster that this host never had: removed there */
		if ((!rmo.force && !from_cluster) || cli->err.exit != EXIT_NOTFOUND)
			return r;
		if (!from_cluster)
			cli_note(cli, "nothing to remove: %s", cli->err.msg);
		err_release(&cli->err);
		removed = from_cluster;
	}
	if (cli->json)
		cli_json(cli, json_pack("{s:s, s:b, s:b}", "id", a.tenant, "removed", removed,
					"removed_from_cluster", from_cluster));
	else if (removed)
		printf("removed tenant %s\n", a.tenant);
	return 0;
}

static const struct command cmd_tenant_rm = {
    .name = "rm",
    .run = run_rm,
    .summary = "Remove a tenant that has no pools, with its secrets.",
    .usage = "<tenant> [--force] [--json]",
    .description = "Refused while the tenant has pools ('mvmctl pool rm' them first). The "
		   "tenant's directory\ndisappears in one step (a rename) and is then deleted. "
		   "With a cluster, refused while a pool\nof the tenant has instances there; "
		   "else its keys go from the cluster first.",
    .examples = "mvmctl tenant rm acme\nmvmctl tenant rm --force acme",
    .exit_status = "0 removed (or, with --force, already gone), 2 usage error,\n"
		   "4 no such tenant, 5 refused: the tenant still has pools (here, or with "
		   "instances\nin the cluster), 6 the cluster's etcd is unreachable",
    .opts = rm_opts,
    .min_args = 1,
    .max_args = 1,
    .args = CLI_ARG_TENANT,
};

/* ---- tenant secrets set --------------------------------------------------------------- */

static struct {
	const char *from_file;
} so;

static const struct opt secrets_set_opts[] = {
    OPT_STRING_(0, "from-file", &so.from_file, "FILE",
		"the secrets: a JSON document of at most 1 MiB (required)"),
    OPT_END_(),
};

static int run_secrets_set(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	struct fleet_addr a;
	int r = parse_id(cli, argv[0], &a);
	if (r < 0)
		return r;
	if (!so.from_file)
		return cli_usage_error(cli, "--from-file FILE is required");
	double start = mono_s();
	if ((r = tenant_secrets_set(a.tenant, so.from_file, &cli->err)) < 0)
		return r;
	double seconds = mono_s() - start;
	struct tenant t;
	if ((r = tenant_load(a.tenant, &t, &cli->err)) < 0)
		return r;
	if (cli->json) {
		cli_json(cli, json_pack("{s:s, s:o, s:f}", "id", t.id, "secrets", secrets_json(&t),
					"seconds", seconds));
	} else {
		const json_t *keys = json_object_get(t.secrets, "keys");
		if (json_is_integer(keys))
			cli_note(cli, "set the secrets of tenant '%s' (%lld key%s) in %.2f s", t.id,
				 (long long)json_integer_value(keys),
				 json_integer_value(keys) == 1 ? "" : "s", seconds);
		else
			cli_note(cli, "set the secrets of tenant '%s' in %.2f s", t.id, seconds);
	}
	tenant_release(&t);
	return 0;
}

static const struct command cmd_tenant_secrets_set = {
    .name = "set",
    .run = run_secrets_set,
    .summary = "Replace a tenant's secrets with the contents of a JSON file.",
    .usage = "<tenant> --from-file FILE [--json]",
    .description =
	"FILE must be valid JSON (at most 1 MiB); if it is not, nothing changes. The "
	"secrets are\nkept in $MVM_HOME/tenants/<tenant>/ (0600) and packed into a "
	"read-only disk that every\ninstance of the tenant gets afresh at each start and "
	"wake, mounted at /run/secrets/\n(the file is /run/secrets/secrets.json). Running "
	"instances see new secrets from their\nnext start or wake. The values are never "
	"printed; 'tenant info' shows when they were\nset and how many top-level keys "
	"they have.",
    .examples = "mvmctl tenant secrets set acme --from-file secrets.json\n"
		"mvmctl tenant secrets set acme --from-file /dev/stdin < secrets.json",
    .exit_status = "0 set, 2 usage error, 3 FILE is not valid JSON or is too large,\n"
		   "4 no such tenant (or no FILE)",
    .opts = secrets_set_opts,
    .min_args = 1,
    .max_args = 1,
    .args = CLI_ARG_TENANT,
};

static const struct command *const secrets_subcommands[] = {
    &cmd_tenant_secrets_set,
    NULL,
};

static const struct command cmd_tenant_secrets = {
    .name = "secrets",
    .summary = "Set a tenant's secrets (a JSON file every instance sees read-only).",
    .subcommands = secrets_subcommands,
};

static const struct command *const tenant_subcommands[] = {
    &cmd_tenant_create, &cmd_tenant_ls, &cmd_tenant_info, &cmd_tenant_rm, &cmd_tenant_secrets, NULL,
};

const struct command cmd_tenant = {
    .name = "tenant",
    .summary = "Create and remove tenants; set their quotas and secrets.",
    .subcommands = tenant_subcommands,
};
