/* mvm instance …: the instances of pools (fleet/instance.h) one at a time. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cluster/client.h"
#include "core/config.h"
#include "core/jsonio.h"
#include "core/size.h"
#include "core/util.h"
#include "fleet/fleet.h"
#include "fleet/instance.h"
#include "fleet/tenant.h"
#include "vm/vm.h"
#include "vm_cli.h"

/* --- ls ------------------------------------------------------------------------- */

static json_t *instance_json(const struct instance *in)
{
	json_t *j = json_deep_copy(in->record);
	json_object_set_new(j, "address", json_string(in->ref));
	json_object_set_new(j, "state", json_string(inst_state_name(in->state)));
	if (in->problem)
		json_object_set_new(j, "problem", json_string(in->problem));
	return j;
}

static void print_row(const struct instance *in)
{
	const char *rev = json_get_str(in->record, "revision");
	const char *from = json_get_str(in->record, "started_from");
	_cleanup_free_ char *mem =
	    size_format_mib((uint64_t)json_get_int(in->record, "mem_mib", 0));
	const char *problem = in->problem ? in->problem : json_get_str(in->record, "problem");
	printf("%-40s %-9s %-12.12s %-9s %5lld %6s  %s\n", in->ref, inst_state_name(in->state),
	       rev ? rev : "-",
	       in->state == INST_STOPPED ? "-"
	       : from			 ? from
					 : "-",
	       json_get_int(in->record, "vcpus", 0), mem, problem ? problem : "");
}

/* The pools in scope: one pool, a tenant's, or every tenant's ("<t>/<p>"). */
static int scope_pools(struct cli *cli, const char *arg, struct strvec *pools)
{
	struct fleet_addr a;
	int r = 0;
	if (!arg)
		return pool_list(NULL, pools, &cli->err);
	if ((r = fleet_parse_scope(arg, &a, &cli->err)) < 0)
		return r;
	if (a.pool[0]) {
		struct pool p = POOL_INIT;
		r = pool_load(a.tenant, a.pool, &p, &cli->err);
		pool_release(&p);
		if (r == 0)
			strvec_pushf(pools, "%s/%s", a.tenant, a.pool);
		return r;
	}
	struct tenant t = TENANT_INIT;
	r = tenant_load(a.tenant, &t, &cli->err);
	tenant_release(&t);
	struct strvec ids = STRVEC_INIT;
	if (r == 0)
		r = pool_list(a.tenant, &ids, &cli->err);
	for (size_t i = 0; r == 0 && i < ids.n; i++)
		strvec_pushf(pools, "%s/%s", a.tenant, ids.v[i]);
	strvec_clear(&ids);
	return r;
}

/* instance ls with [cluster] etcd set: every host's instances, from etcd. */
static int ls_cluster(struct cli *cli, struct etcd *c, const char *scope)
{
	struct fleet_addr a;
	int r = scope ? fleet_parse_scope(scope, &a, &cli->err) : 0;
	json_t *all = NULL;
	if (r == 0)
		r = cluster_instances(c, scope, &all, &cli->err);
	if (r < 0)
		return r;
	if (cli->json) {
		cli_json(cli, json_pack("{s:o}", "instances", all));
		return 0;
	}
	printf("%-40s %-9s %-9s %-20s  %s\n", "INSTANCE", "STATE", "WANT", "HOST", "HOW");
	size_t i;
	json_t *in;
	json_array_foreach(all, i, in)
	{
		const char *host = json_get_str(in, "host"), *how = json_get_str(in, "how");
		printf("%-40s %-9s %-9s %-20s  %s\n", json_get_str(in, "address"),
		       json_get_str(in, "state"), json_get_str(in, "want"), host ? host : "-",
		       how ? how : "");
	}
	json_decref(all);
	return 0;
}

static int run_ls(struct cli *cli, int argc, char **argv)
{
	struct config cfg;
	int r0 = config_load(&cfg, &cli->err);
	if (r0 < 0)
		return r0;
	struct etcd *c = NULL;
	r0 = cluster_open(&cfg, &c, &cli->err);
	config_release(&cfg);
	if (r0 < 0)
		return r0;
	if (c) {
		r0 = ls_cluster(cli, c, argc ? argv[0] : NULL);
		etcd_close(c);
		return r0;
	}
	struct strvec pools = STRVEC_INIT;
	int r = scope_pools(cli, argc ? argv[0] : NULL, &pools);
	json_t *all = json_array();
	if (r == 0 && !cli->json)
		printf("%-40s %-9s %-12s %-9s %5s %6s  %s\n", "INSTANCE", "STATE", "REVISION",
		       "FROM", "VCPUS", "MEM", "PROBLEM");
	for (size_t i = 0; r == 0 && i < pools.n; i++) {
		char *slash = strchr(pools.v[i], '/');
		*slash = '\0';
		struct instance *v = NULL;
		size_t n = 0;
		r = instance_list(pools.v[i], slash + 1, &v, &n, &cli->err);
		for (size_t k = 0; r == 0 && k < n; k++) {
			if (cli->json)
				json_array_append_new(all, instance_json(&v[k]));
			else
				print_row(&v[k]);
		}
		instance_list_release(v, n);
	}
	if (r == 0 && cli->json)
		cli_json(cli, json_pack("{s:o}", "instances", all));
	else
		json_decref(all);
	strvec_clear(&pools);
	return r;
}

/* --- one instance: load it with its pool ---------------------------------------------- */

struct target {
	struct fleet_addr a;
	struct pool p;
	struct instance in;
};

static int target_load(struct cli *cli, const char *arg, struct target *t)
{
	t->p = (struct pool)POOL_INIT;
	t->in = (struct instance)INSTANCE_INIT;
	int r = fleet_parse_instance(arg, &t->a, &cli->err);
	if (r == 0)
		r = pool_load(t->a.tenant, t->a.pool, &t->p, &cli->err);
	if (r == 0)
		r = instance_load(t->a.tenant, t->a.pool, t->a.instance, &t->in, &cli->err);
	return r;
}

static void target_release(struct target *t)
{
	pool_release(&t->p);
	instance_release(&t->in);
}

static bool wipe_volumes;

static int move_to(struct cli *cli, const char *arg, enum inst_state to)
{
	struct target t;
	int r = target_load(cli, arg, &t);
	struct inst_move m = INST_MOVE_INIT;
	if (r == 0)
		r = instance_move(&t.p, &t.in, to, wipe_volumes, false, &m, &cli->err);
	if (r == 0) {
		for (size_t i = 0; i < m.warnings.n; i++)
			cli_warn(cli, "%s", m.warnings.v[i]);
		if (cli->json) {
			json_t *j = to == INST_REMOVED ? json_pack("{s:s, s:s}", "address",
								   t.in.ref, "state", "removed")
						       : instance_json(&t.in);
			json_object_set_new(j, "from", json_string(inst_state_name(m.from)));
			json_object_set_new(j, "how", json_string(m.how));
			json_object_set_new(j, "ms", json_integer(m.ms));
			cli_json(cli, j);
		} else {
			printf("%s: %s -> %s (%s, %lld ms)\n", t.in.ref, inst_state_name(m.from),
			       inst_state_name(m.to), m.how, m.ms);
		}
	}
	inst_move_release(&m);
	target_release(&t);
	return r;
}

#define MOVE_CMD(fn, verb, state, sum, ex)                                                         \
	static int run_##fn(struct cli *cli, int argc, char **argv)                                \
	{                                                                                          \
		(void)argc;                                                                        \
		return move_to(cli, argv[0], state);                                               \
	}                                                                                          \
	static const struct command cmd_instance_##fn = {                                          \
	    .name = verb,                                                                          \
	    .run = run_##fn,                                                                       \
	    .summary = sum,                                                                        \
	    .usage = "<tenant>/<pool>/<instance> [--json]",                                        \
	    .examples = ex,                                                                        \
	    .min_args = 1,                                                                         \
	    .max_args = 1,                                                                         \
	    .args = CLI_ARG_INSTANCE,                                                              \
	}

MOVE_CMD(start, "start", INST_RUNNING,
	 "Boot a stopped instance (from the pool's snapshot when it fits).",
	 "mvm instance start acme/workers/i-1a2b3c4d\n"
	 "mvm instance start acme/workers/i-1a2b3c4d --json");
MOVE_CMD(stop, "stop", INST_STOPPED,
	 "Stop an instance (a sleeping one's saved state is discarded).",
	 "mvm instance stop acme/workers/i-1a2b3c4d\n"
	 "mvm instance stop acme/workers/i-1a2b3c4d --json");
MOVE_CMD(pause, "pause", INST_WARM, "Pause a running instance's vCPUs: it becomes warm.",
	 "mvm instance pause acme/workers/i-1a2b3c4d\n"
	 "mvm instance pause acme/workers/i-1a2b3c4d --json");
MOVE_CMD(resume, "resume", INST_RUNNING, "Resume a warm instance.",
	 "mvm instance resume acme/workers/i-1a2b3c4d\n"
	 "mvm instance resume acme/workers/i-1a2b3c4d --json");
MOVE_CMD(sleep, "sleep", INST_SLEEPING,
	 "Save a running or warm instance to disk and end its VMM: it becomes sleeping.",
	 "mvm instance sleep acme/workers/i-1a2b3c4d\n"
	 "mvm instance sleep acme/workers/i-1a2b3c4d --json");
MOVE_CMD(wake, "wake", INST_RUNNING, "Restore a sleeping instance: it runs again.",
	 "mvm instance wake acme/workers/i-1a2b3c4d\n"
	 "mvm instance wake acme/workers/i-1a2b3c4d --json");

static const struct opt rm_opts[] = {
    OPT_BOOL_(0, "wipe-volumes", &wipe_volumes, "also delete the instance's data disk"),
    OPT_END_(),
};

static int run_rm(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	return move_to(cli, argv[0], INST_REMOVED);
}

static const struct command cmd_instance_rm = {
    .name = "rm",
    .run = run_rm,
    .summary = "Remove a stopped instance.",
    .usage = "<tenant>/<pool>/<instance> [--wipe-volumes] [--json]",
    .description = "An instance with a data disk is only removed with --wipe-volumes, which\n"
		   "deletes the disk too.",
    .examples = "mvm instance rm acme/workers/i-1a2b3c4d\n"
		"mvm instance rm acme/workers/i-1a2b3c4d --wipe-volumes",
    .opts = rm_opts,
    .min_args = 1,
    .max_args = 1,
    .args = CLI_ARG_INSTANCE,
};

/* --- exec, logs ------------------------------------------------------------------------ */

static int running_ref(struct cli *cli, const char *arg, char **ref)
{
	struct target t;
	int r = target_load(cli, arg, &t);
	if (r == 0 && t.in.state != INST_RUNNING) {
		r = err_set(&cli->err, -ESRCH, 125, "Instance '%s' is %s, not running", t.in.ref,
			    inst_state_name(t.in.state));
		err_hint(&cli->err, "instance %s %s",
			 t.in.state == INST_WARM       ? "resume"
			 : t.in.state == INST_SLEEPING ? "wake"
						       : "start",
			 t.in.ref);
	}
	if (r == 0)
		*ref = xstrdup(t.in.ref);
	target_release(&t);
	return r;
}

static int run_exec(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	if (!cli->rest.n)
		return cli_usage_error(cli, "give the command after '--', e.g. instance exec "
					    "acme/workers/i-1a2b3c4d -- ls /");
	_cleanup_free_ char *ref = NULL;
	int r = running_ref(cli, argv[0], &ref);
	if (r < 0) {
		if (cli->err.exit != EXIT_USAGE)
			cli->err.exit = 125;
		return r;
	}
	return vm_cli_exec(cli, ref, &cli->rest);
}

static const struct command cmd_instance_exec = {
    .name = "exec",
    .run = run_exec,
    .summary = "Run a command in a running instance.",
    .usage = "<tenant>/<pool>/<instance> [-i] [-t] [-e K=V]... [-w DIR] [--timeout S] -- CMD...",
    .examples = "mvm instance exec acme/workers/i-1a2b3c4d -- uname -a\n"
		"mvm instance exec -it acme/workers/i-1a2b3c4d -- sh",
    .exit_status = "the command's own status; 2 usage error, 124 --timeout expired,\n"
		   "125 the instance is not running or cannot be reached, 126/127 the command\n"
		   "cannot be executed / was not found",
    .opts = vm_cli_exec_opts,
    .min_args = 1,
    .max_args = 1,
    .accepts_dashdash = true,
    .args = CLI_ARG_INSTANCE,
};

static long long logs_lines = -1;
static const struct opt logs_opts[] = {
    {.type = OPT_INT,
     .short_name = 'n',
     .long_name = "lines",
     .value = &logs_lines,
     .argh = "N",
     .help = "only the last N lines",
     .min = 0,
     .max = LLONG_MAX},
    OPT_END_(),
};

static int run_logs(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	struct target t;
	int r = target_load(cli, argv[0], &t);
	if (r == 0) {
		fflush(stdout);
		r = vm_logs(t.in.ref, logs_lines, false, 1, NULL, &cli->err);
		if (r < 0 && cli->err.exit == EXIT_NOTFOUND) {
			err_release(&cli->err); /* never booted: no console yet */
			r = 0;
		}
	}
	target_release(&t);
	return r;
}

static const struct command cmd_instance_logs = {
    .name = "logs",
    .run = run_logs,
    .summary = "Print an instance's console log (of its last boot).",
    .usage = "<tenant>/<pool>/<instance> [-n N]",
    .examples = "mvm instance logs acme/workers/i-1a2b3c4d\n"
		"mvm instance logs -n 20 acme/workers/i-1a2b3c4d",
    .opts = logs_opts,
    .min_args = 1,
    .max_args = 1,
    .args = CLI_ARG_INSTANCE,
};

static const struct command cmd_instance_ls = {
    .name = "ls",
    .run = run_ls,
    .summary = "List instances with their state and revision.",
    .usage = "[<tenant>[/<pool>]] [--json]",
    .examples = "mvm instance ls\nmvm instance ls acme\nmvm instance ls acme/workers --json",
    .max_args = 1,
    .args = CLI_ARG_TENANT | CLI_ARG_POOL,
};

static const struct command *const instance_subcommands[] = {
    &cmd_instance_ls,
    &cmd_instance_start,
    &cmd_instance_stop,
    &cmd_instance_pause,
    &cmd_instance_resume,
    &cmd_instance_sleep,
    &cmd_instance_wake,
    &cmd_instance_rm,
    &cmd_instance_exec,
    &cmd_instance_logs,
    NULL,
};

const struct command cmd_instance = {
    .name = "instance",
    .summary = "Start, stop, pause, resume, sleep, wake and inspect pool instances.",
    .description =
	"States: running, warm (vCPUs paused, memory kept), sleeping (saved to disk, no VMM\n"
	"process), stopped. Moves: start (stopped -> running), pause (running -> warm),\n"
	"resume (warm -> running), sleep (running|warm -> sleeping), wake (sleeping ->\n"
	"running), stop (any -> stopped), rm (stopped -> removed). Others are refused.",
    .subcommands = instance_subcommands,
};
