/* `exec` and `run`: a command in a guest. `exec NAME` runs it in a running
 * VM; `exec [PATH]` and `run [PATH]` boot an ephemeral VM of the manifest's
 * current revision, run the command (or, for `run` without one, the
 * services until Ctrl-C), and remove every trace of the VM. The guest
 * command's status is ours; our own failures are 125 (CONVENTIONS.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/fs.h"
#include "core/jsonio.h"
#include "core/util.h"
#include "vm/vm.h"
#include "vm_cli.h"

#define EXIT_CANNOT_RUN 125

static bool exec_input, exec_tty;
static struct strvec exec_env = STRVEC_INIT, exec_env_files = STRVEC_INIT;
static struct strvec env_resolved = STRVEC_INIT; /* both, by Docker's rules */
static struct strvec exec_secrets = STRVEC_INIT, exec_secret_envs = STRVEC_INIT;
static const char *exec_network;
static struct strvec exec_allow = STRVEC_INIT;
static long long exec_vcpus;
static uint64_t exec_mem;
static bool exec_vcpus_given, exec_mem_given;
static const char *exec_cwd;
static long long exec_timeout;

const struct opt vm_cli_exec_opts[] = {
    OPT_BOOL_('i', "interactive", &exec_input, "forward stdin to the command"),
    OPT_BOOL_('t', "tty", &exec_tty, "a terminal in the guest (when stdin is one)"),
    {.type = OPT_STRING_LIST,
     .short_name = 'e',
     .long_name = "env",
     .value = &exec_env,
     .argh = "K=V|K",
     .help = "set an environment variable; K alone takes the host's value (repeatable)"},
    {.type = OPT_STRING_LIST,
     .long_name = "env-file",
     .value = &exec_env_files,
     .argh = "FILE",
     .help = "read K=V lines from FILE ('#' comments, no expansion; repeatable)"},
    {.type = OPT_STRING_LIST,
     .long_name = "secret",
     .value = &exec_secrets,
     .argh = "NAME=FILE",
     .help = "an ephemeral VM's /run/secrets/NAME, from FILE (repeatable)"},
    {.type = OPT_STRING_LIST,
     .long_name = "secret-env",
     .value = &exec_secret_envs,
     .argh = "NAME",
     .help = "an ephemeral VM's /run/secrets/NAME, from the host's variable NAME (repeatable)"},
    OPT_CHOICE_(0, "network", &exec_network, "MODE", "nat isolated none",
		"an ephemeral VM's egress: nat (default), isolated or none"),
    {.type = OPT_STRING_LIST,
     .long_name = "allow",
     .value = &exec_allow,
     .argh = "HOST:PORT",
     .help = "an isolated ephemeral VM may reach this destination (repeatable)"},
    {.type = OPT_INT,
     .long_name = "vcpus",
     .alias = "cpus",
     .value = &exec_vcpus,
     .argh = "N",
     .help = "an ephemeral VM's virtual CPUs (default: the manifest's, else the last build's)",
     .min = 1,
     .max = 64,
     .given = &exec_vcpus_given},
    {.type = OPT_SIZE,
     .long_name = "mem",
     .value = &exec_mem,
     .argh = "SIZE",
     .help = "an ephemeral VM's memory (default: the manifest's, else the last build's)",
     .given = &exec_mem_given},
    {.type = OPT_STRING,
     .short_name = 'w',
     .long_name = "workdir",
     .value = &exec_cwd,
     .argh = "DIR",
     .help = "working directory in the guest",
     .kind = OPT_ARG_STRING}, /* the guest's, not the host's */
    {.type = OPT_INT,
     .long_name = "timeout",
     .value = &exec_timeout,
     .argh = "S",
     .help = "kill the command after S seconds (exit 124)",
     .min = 1,
     .max = 86400 * 365},
    OPT_END_(),
};

static const char exec_exit_status[] =
    "the command's own status (0-255; 128+N when signal N ended it);\n"
    "2 usage error, 124 --timeout expired, 125 the guest could not be started or reached,\n"
    "126 the command cannot be executed, 127 the command was not found,\n"
    "130 interrupted (an ephemeral VM is torn down)";

/* Our failures: the guest's reasons pass through, the rest is 125. */
static int exit_code_of(const struct err *e)
{
	switch (e->exit) {
	case EXIT_USAGE:
	case 124:
	case 126:
	case 127:
	case 130:
		return e->exit;
	default:
		return EXIT_CANNOT_RUN;
	}
}

static int check_env(struct cli *cli)
{
	return vm_cli_env_resolve(cli, &exec_env_files, &exec_env, &env_resolved);
}

/* Runs the command in the VM called name; returns the exit status. */
int vm_cli_exec(struct cli *cli, const char *name, struct strvec *cmd)
{
	struct vm_exec x = {
	    .argv = strvec_argv(cmd),
	    .env = strvec_argv(&env_resolved),
	    .cwd = exec_cwd,
	    .input = exec_input,
	    .tty = exec_tty,
	    .timeout_s = (int)exec_timeout,
	    .in_fd = 0,
	    .out_fd = 1,
	    .err_fd = 2,
	};
	if (exec_tty && !isatty(0))
		cli_warn(cli, "stdin is not a terminal: -t ignored");
	fflush(stdout);
	int status = 0;
	int r = vm_exec(name, &x, &status, &cli->err);
	if (r < 0) {
		cli->err.exit = exit_code_of(&cli->err);
		return r;
	}
	return status;
}

/* An ephemeral VM with the environment and secrets of the options. */
static int ephemeral(struct cli *cli, const char *path, struct strvec *cmd)
{
	struct vm_secret *secrets = NULL;
	struct vmm_allow *allow = NULL;
	struct vm_spec over = {0};
	size_t n = 0;
	int r = vm_cli_secrets_resolve(cli, &exec_secrets, &exec_secret_envs, &secrets, &n);
	if (r == 0)
		r = vm_cli_network_resolve(cli, exec_network, &exec_allow, 0, &over, &allow);
	if (exec_vcpus_given) { /* the flags win over the manifest and the slot */
		over.vcpus = (unsigned)exec_vcpus;
		over.vcpus_source = "flag";
	}
	if (exec_mem_given) {
		over.mem_mib = exec_mem;
		over.mem_source = "flag";
	}
	if (r == 0)
		r = vm_cli_ephemeral(cli, path, cmd, &env_resolved, secrets, n, &over);
	free(secrets);
	free(allow);
	return r;
}

static int run_exec(struct cli *cli, int argc, char **argv)
{
	if (!cli->rest.n)
		return cli_usage_error(cli,
				       "give the command after '--', e.g. mvmctl exec web -- ls /");
	int r = check_env(cli);
	if (r)
		return r;
	const char *target = argc ? argv[0] : NULL;
	if (target && vm_exists(target)) {
		if (exec_secrets.n || exec_secret_envs.n || exec_network || exec_allow.n ||
		    exec_vcpus_given || exec_mem_given)
			return cli_usage_error(
			    cli,
			    "--secret, --secret-env, --network, --allow, --vcpus "
			    "and --mem are for a VM being started; '%s' is running "
			    "already",
			    target);
		return vm_cli_exec(cli, target, &cli->rest);
	}
	if (target && !fs_exists(target)) {
		r = err_set(&cli->err, -ENOENT, EXIT_CANNOT_RUN,
			    "no VM named '%s', and no manifest or directory '%s'", target, target);
		err_hint(&cli->err, "mvmctl ls -a");
		return r;
	}
	r = ephemeral(cli, target, &cli->rest);
	if (r < 0)
		cli->err.exit = exit_code_of(&cli->err);
	return r;
}

const struct command cmd_exec = {
    .name = "exec",
    .run = run_exec,
    .summary = "Run a command in a running VM, or in an ephemeral one.",
    .usage =
	"[NAME|PATH] [-i] [-t] [-e K=V]... [--env-file FILE]... [--secret NAME=FILE]... [-w DIR] "
	"[--timeout S] -- CMD...",
    .description =
	"With the name of a running VM, runs CMD in it. With a manifest path (or none: "
	"the manifest found walking up from the current directory) boots an ephemeral VM "
	"of its current revision, runs CMD, and removes the VM. stdin (with -i), stdout "
	"and stderr stream both ways; Ctrl-C is passed to the command. The command's exit "
	"status is mvmctl's.",
    .examples = "mvmctl exec web -- uname -a\n"
		"echo hello | mvmctl exec -i web -- cat\n"
		"mvmctl exec -it web -- sh\n"
		"mvmctl exec ./project -- make test",
    .exit_status = exec_exit_status,
    .opts = vm_cli_exec_opts,
    .max_args = 1,
    .accepts_dashdash = true,
    .args = CLI_ARG_RUNNING | CLI_ARG_FILE,
};

static int run_run(struct cli *cli, int argc, char **argv)
{
	int r = check_env(cli);
	if (r)
		return r;
	r = ephemeral(cli, argc ? argv[0] : NULL, cli->rest.n ? &cli->rest : NULL);
	if (r < 0)
		cli->err.exit = exit_code_of(&cli->err);
	return r;
}

const struct command cmd_run = {
    .name = "run",
    .run = run_run,
    .summary = "Boot an ephemeral VM, run a command (or its services), remove it.",
    .usage = "[PATH] [-i] [-t] [-e K=V]... [--env-file FILE]... [--secret NAME=FILE]... [-w DIR] "
	     "[--timeout S] [-- CMD...]",
    .description = "Boots the manifest's current revision as a VM that leaves no trace: with CMD, "
		   "runs it and exits with its status; without, shows the console until Ctrl-C. "
		   "Either way the VM, its record and its disks are removed when it ends, and also "
		   "when mvmctl itself is killed.",
    .examples = "mvmctl run\nmvmctl run -- uname -a\nmvmctl run ./web -- curl -s localhost",
    .exit_status = exec_exit_status,
    .opts = vm_cli_exec_opts,
    .max_args = 1,
    .accepts_dashdash = true,
    .args = CLI_ARG_FILE,
};
