/* mvm pool scale | reconcile: desired counts, and converging to them
 * (fleet/instance.h, pool_converge). */
#include <stdio.h>

#include "cli.h"
#include "cluster/client.h"
#include "core/config.h"
#include "core/jsonio.h"
#include "core/util.h"
#include "fleet/fleet.h"
#include "fleet/instance.h"

static long long want_running, want_warm, want_sleeping;
static bool set_running, set_warm, set_sleeping;
static bool no_wait;
static long long timeout_s = 600;

static const struct opt scale_opts[] = {
    {.type = OPT_INT,
     .long_name = "running",
     .value = &want_running,
     .argh = "N",
     .help = "instances running",
     .min = 0,
     .max = 4096,
     .given = &set_running},
    {.type = OPT_INT,
     .long_name = "warm",
     .value = &want_warm,
     .argh = "N",
     .help = "instances warm (vCPUs paused, memory kept)",
     .min = 0,
     .max = 4096,
     .given = &set_warm},
    {.type = OPT_INT,
     .long_name = "sleeping",
     .value = &want_sleeping,
     .argh = "N",
     .help = "instances sleeping (saved to disk, no VMM)",
     .min = 0,
     .max = 4096,
     .given = &set_sleeping},
    OPT_BOOL_(0, "no-wait", &no_wait,
	      "in a cluster: return once the counts are written, not when the hosts have them"),
    {.type = OPT_INT,
     .long_name = "timeout",
     .value = &timeout_s,
     .argh = "SECONDS",
     .help = "in a cluster: how long to wait for the hosts to converge (default 600)",
     .min = 1,
     .max = 86400},
    OPT_END_(),
};

static json_t *counts_json(const struct pool_counts *c)
{
	return json_pack("{s:i, s:i, s:i}", "running", (int)c->running, "warm", (int)c->warm,
			 "sleeping", (int)c->sleeping);
}

/* Converges p to its desired counts and reports the moves. */
static int converge_and_report(struct cli *cli, struct pool *p)
{
	struct strvec did = STRVEC_INIT;
	int r = pool_converge(p, &p->desired, &did, &cli->err);
	if (cli->json) {
		json_t *moves = json_array();
		for (size_t i = 0; i < did.n; i++)
			json_array_append_new(moves, json_string(did.v[i]));
		if (r == 0)
			cli_json(cli,
				 json_pack("{s:s++, s:o, s:o}", "pool", p->tenant, "/", p->id,
					   "desired", counts_json(&p->desired), "moves", moves));
		else
			json_decref(moves);
	} else {
		for (size_t i = 0; i < did.n; i++)
			printf("%s\n", did.v[i]);
		if (r == 0)
			printf("%s/%s: %u running, %u warm, %u sleeping%s\n", p->tenant, p->id,
			       p->desired.running, p->desired.warm, p->desired.sleeping,
			       did.n ? "" : " (nothing to do)");
	}
	strvec_clear(&did);
	return r;
}

/* The cluster's answer: one line per instance, then the counts. */
static void print_cluster(const json_t *res)
{
	size_t i;
	json_t *in;
	unsigned hosts = 0;
	json_t *seen = json_object();
	json_array_foreach(json_object_get(res, "instances"), i, in)
	{
		const char *host = json_get_str(in, "host");
		const char *how = json_get_str(in, "how");
		printf("%s: %s on %s%s%s%s\n", json_get_str(in, "address"),
		       json_get_str(in, "state"), host ? host : "no host", how ? " (" : "",
		       how ? how : "", how ? ")" : "");
		if (host && !json_object_get(seen, host)) {
			json_object_set_new(seen, host, json_true());
			hosts++;
		}
	}
	json_decref(seen);
	json_t *d = json_object_get(res, "desired");
	printf("%s: %lld running, %lld warm, %lld sleeping (on %u host%s)\n",
	       json_get_str(res, "pool"), json_get_int(d, "running", 0), json_get_int(d, "warm", 0),
	       json_get_int(d, "sleeping", 0), hosts, hosts == 1 ? "" : "s");
}

/* pool scale with [cluster] etcd set: desired state into etcd (cluster/client.h). */
static int scale_cluster(struct cli *cli, struct etcd *c, const struct fleet_addr *a)
{
	struct cluster_scale o = {
	    .tenant = a->tenant,
	    .pool = a->pool,
	    .want = {(unsigned)want_running, (unsigned)want_warm, (unsigned)want_sleeping},
	    .set_running = set_running,
	    .set_warm = set_warm,
	    .set_sleeping = set_sleeping,
	    .wait = !no_wait,
	    .timeout_s = (int)timeout_s,
	};
	json_t *res = NULL;
	int r = cluster_pool_scale(c, &o, &res, &cli->err);
	if (r == 0 && cli->json)
		cli_json(cli, res);
	else if (r == 0) {
		print_cluster(res);
		json_decref(res);
	}
	return r;
}

static int run_scale(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	struct fleet_addr a;
	int r = fleet_parse_pool(argv[0], &a, &cli->err);
	if (r < 0)
		return r;
	if (!set_running && !set_warm && !set_sleeping)
		return cli_usage_error(cli, "give at least one of --running, --warm, --sleeping");
	struct config cfg;
	if ((r = config_load(&cfg, &cli->err)) < 0)
		return r;
	struct etcd *c = NULL;
	r = cluster_open(&cfg, &c, &cli->err);
	config_release(&cfg);
	if (r < 0 || c) {
		if (c) {
			r = scale_cluster(cli, c, &a);
			etcd_close(c);
		}
		return r;
	}
	struct pool p = POOL_INIT;
	if ((r = pool_load(a.tenant, a.pool, &p, &cli->err)) == 0) {
		if (set_running)
			p.desired.running = (unsigned)want_running;
		if (set_warm)
			p.desired.warm = (unsigned)want_warm;
		if (set_sleeping)
			p.desired.sleeping = (unsigned)want_sleeping;
		/* recorded first: a reconcile after an interrupted scale finishes it */
		if ((r = pool_save(&p, &cli->err)) == 0)
			r = converge_and_report(cli, &p);
	}
	pool_release(&p);
	return r;
}

const struct command cmd_pool_scale = {
    .name = "scale",
    .run = run_scale,
    .summary = "Set how many instances run, stay warm and sleep, and converge to it.",
    .usage = "<tenant>/<pool> [--running N] [--warm N] [--sleeping N] [--no-wait] "
	     "[--timeout SECONDS] [--json]",
    .description =
	"Counts not given keep their value. The cheapest moves come first: to run more, a\n"
	"warm instance is resumed before a sleeping one is woken, before a stopped one is\n"
	"started (restored from the pool's snapshot when it fits, else booted cold), before a\n"
	"new one is created; to run fewer, instances are paused, then put to sleep, then\n"
	"stopped. Prints one line per move; a scale to the counts the pool has changes\n"
	"nothing. Instances of other pools are never touched.\n"
	"\n"
	"With a cluster ([cluster] etcd in config.toml, or MVM_ETCD) the counts and each\n"
	"instance's desired state go to etcd in one transaction, the hosts running\n"
	"`mvm host serve` place and converge them, and scale waits until they have (one\n"
	"line per instance: its state and host), or returns at once with --no-wait.",
    .examples = "mvm pool scale acme/workers --running 4 --warm 2 --sleeping 2\n"
		"mvm pool scale acme/workers --running 0",
    .opts = scale_opts,
    .min_args = 1,
    .max_args = 1,
    .args = CLI_ARG_POOL,
};

static int run_reconcile(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	struct pool p;
	int r = pool_load_addr(argv[0], &p, &cli->err);
	if (r == 0)
		r = converge_and_report(cli, &p);
	pool_release(&p);
	return r;
}

const struct command cmd_pool_reconcile = {
    .name = "reconcile",
    .run = run_reconcile,
    .summary = "Repair a pool's instances and converge to its recorded counts.",
    .usage = "<tenant>/<pool> [--json]",
    .description = "Instances whose VMM died are recorded stopped, then the pool is brought\n"
		   "back to the counts of its last `pool scale`, as scale does.",
    .examples = "mvm pool reconcile acme/workers\nmvm pool reconcile acme/workers --json",
    .min_args = 1,
    .max_args = 1,
    .args = CLI_ARG_POOL,
};
