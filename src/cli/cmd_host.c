/* mvm host serve | ls: this host in a cluster of hosts on etcd
 * (cluster/agent.h, docs/cluster.md). */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cluster/agent.h"
#include "cluster/client.h"
#include "core/config.h"
#include "core/jsonio.h"
#include "core/size.h"
#include "core/strbuf.h"
#include "core/util.h"

static const char *serve_name;
static long long serve_vcpus;
static uint64_t serve_mem;
static bool serve_mem_set;

static const struct opt serve_opts[] = {
    {.type = OPT_STRING,
     .long_name = "name",
     .value = &serve_name,
     .argh = "NAME",
     .help = "this host's name in the cluster (default: [cluster] host, MVM_HOST_NAME, the "
	     "hostname)"},
    {.type = OPT_INT,
     .long_name = "vcpus",
     .value = &serve_vcpus,
     .argh = "N",
     .help = "vCPUs offered (default: the machine's)",
     .min = 1,
     .max = 4096},
    {.type = OPT_SIZE,
     .long_name = "mem",
     .value = &serve_mem,
     .given = &serve_mem_set,
     .help = "memory offered to instances (default: the machine's)"},
    OPT_END_(),
};

static int run_serve(struct cli *cli, int argc, char **argv)
{
	(void)argc, (void)argv;
	struct config cfg;
	int r = config_load(&cfg, &cli->err);
	if (r < 0)
		return r;
	char host[HOST_NAME_MAX + 1] = "";
	if (gethostname(host, sizeof(host)) < 0)
		host[0] = '\0';
	struct agent_opts o = {
	    .name = serve_name	    ? serve_name
		    : cfg.host_name ? cfg.host_name
				    : host,
	    .vcpus = (unsigned)serve_vcpus,
	    .mem_mib = serve_mem_set ? serve_mem : 0,
	    .ttl_s = cfg.lease_ttl_s,
	};
	r = agent_serve(&cfg, &o, &cli->err);
	config_release(&cfg);
	return r;
}

const struct command cmd_host_serve = {
    .name = "serve",
    .run = run_serve,
    .summary = "Serve this host's share of the cluster's pools until stopped.",
    .usage = "[--name NAME] [--vcpus N] [--mem SIZE]",
    .description =
	"Registers the host under a lease, claims the instances placement gives it and\n"
	"converges them with the single-host moves (resume, wake, restore, cold boot; pause,\n"
	"sleep, stop). A host serves the pools it has built at the revision the cluster runs.\n"
	"When its lease cannot be renewed it pauses its running instances; copies of\n"
	"instances another host owns are stopped and removed. Logs one line per action.\n"
	"SIGINT or SIGTERM stops it and leaves the VMs running: started again within the\n"
	"lease's TTL it carries on with them, later they are claimed elsewhere.",
    .examples = "mvm host serve --name node-a\nMVM_ETCD=http://10.0.0.1:2379 mvm host serve",
    .environment = "MVM_ETCD, MVM_HOST_NAME: as [cluster] etcd and host in config.toml.",
    .opts = serve_opts,
    .min_args = 0,
    .max_args = 0,
};

static int open_cluster(struct cli *cli, struct etcd **c)
{
	struct config cfg;
	int r = config_load(&cfg, &cli->err);
	if (r < 0)
		return r;
	if ((r = cluster_open(&cfg, c, &cli->err)) == 0 && !*c)
		r = err_set(&cli->err, -EINVAL, EXIT_USAGE,
			    "no cluster is configured: set [cluster] etcd in config.toml or "
			    "MVM_ETCD");
	config_release(&cfg);
	return r;
}

static int run_ls(struct cli *cli, int argc, char **argv)
{
	(void)argc, (void)argv;
	struct etcd *c = NULL;
	json_t *hosts = NULL;
	int r = open_cluster(cli, &c);
	if (r == 0)
		r = cluster_hosts(c, &hosts, &cli->err);
	if (c)
		etcd_close(c);
	if (r < 0)
		return r;
	if (cli->json) {
		cli_json(cli, json_pack("{s:o}", "hosts", hosts));
		return 0;
	}
	printf("%-24s %5s %8s %8s %9s  %s\n", "HOST", "VCPUS", "MEM", "FREE", "INSTANCES", "POOLS");
	size_t i;
	json_t *h;
	json_array_foreach(hosts, i, h)
	{
		_cleanup_free_ char *mem = size_format_mib((uint64_t)json_get_int(h, "mem_mib", 0));
		_cleanup_free_ char *fr = size_format_mib((uint64_t)json_get_int(h, "free_mib", 0));
		struct strbuf pools = STRBUF_INIT;
		const char *k;
		json_t *v;
		json_object_foreach(json_object_get(h, "pools"), k, v)
		{
			strbuf_addf(&pools, "%s%s@%.12s", pools.len ? " " : "", k,
				    json_string_value(v));
		}
		printf("%-24s %5lld %8s %8s %9lld  %s\n", json_get_str(h, "host"),
		       json_get_int(h, "vcpus", 0), mem, fr, json_get_int(h, "instances", 0),
		       pools.len ? pools.buf : "-");
		strbuf_release(&pools);
	}
	json_decref(hosts);
	return 0;
}

const struct command cmd_host_ls = {
    .name = "ls",
    .run = run_ls,
    .summary = "List the cluster's live hosts, their capacity and what they serve.",
    .usage = "[--json]",
    .examples = "mvm host ls\nmvm host ls --json",
    .min_args = 0,
    .max_args = 0,
};

static const struct command *const host_subcommands[] = {&cmd_host_serve, &cmd_host_ls, NULL};

const struct command cmd_host = {
    .name = "host",
    .summary = "This host in a cluster on etcd: serve pools, list hosts.",
    .subcommands = host_subcommands,
};
