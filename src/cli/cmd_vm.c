/* Running VMs: up, ls, down, logs, info, and the hidden shim. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "build/kernel.h"
#include "cli.h"
#include "core/discover.h"
#include "core/fs.h"
#include "core/jsonio.h"
#include "core/registry.h"
#include "core/size.h"
#include "core/util.h"
#include "shim/netproxy.h"
#include "shim/shim.h"
#include "vm/vm.h"
#include "vm_artifacts.h"
#include "vm_cli.h"

static volatile int interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

/* SIGINT/SIGTERM/SIGHUP set `interrupted` and interrupt blocking calls. */
static void catch_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* --- up ------------------------------------------------------------------------ */

static const char *up_name;
static bool up_detach;
static struct strvec up_ports = STRVEC_INIT;
static long long up_vcpus;
static bool up_vcpus_given, up_mem_given;
static uint64_t up_mem;
static struct strvec up_env = STRVEC_INIT, up_env_files = STRVEC_INIT;
static struct strvec up_secrets = STRVEC_INIT, up_secret_envs = STRVEC_INIT;
static const char *up_network;
static struct strvec up_allow = STRVEC_INIT;

static const struct opt up_opts[] = {
    OPT_STRING_(0, "name", &up_name, "NAME", "name of the VM (default: generated)"),
    OPT_BOOL_('d', "detach", &up_detach,
	      "return once the guest is ready; print name and boot time"),
    {.type = OPT_STRING_LIST,
     .short_name = 'p',
     .long_name = "publish",
     .value = &up_ports,
     .argh = "[IP:]H:G[/tcp|udp]",
     .help = "forward host port H to guest port G (repeatable)"},
    {.type = OPT_INT,
     .long_name = "vcpus",
     .alias = "cpus",
     .value = &up_vcpus,
     .argh = "N",
     .help = "virtual CPUs (default: the manifest's, else the last build's)",
     .min = 1,
     .max = 64,
     .given = &up_vcpus_given},
    {.type = OPT_SIZE,
     .long_name = "mem",
     .value = &up_mem,
     .argh = "SIZE",
     .help = "guest memory, e.g. 512M or 1G (default: the manifest's, else the last build's)",
     .given = &up_mem_given},
    {.type = OPT_STRING_LIST,
     .short_name = 'e',
     .long_name = "env",
     .value = &up_env,
     .argh = "K=V|K",
     .help = "a variable for every service and exec in the VM; K alone takes the host's value "
	     "(repeatable)"},
    {.type = OPT_STRING_LIST,
     .long_name = "env-file",
     .value = &up_env_files,
     .argh = "FILE",
     .help = "read K=V lines from FILE ('#' comments, no expansion; repeatable)"},
    {.type = OPT_STRING_LIST,
     .long_name = "secret",
     .value = &up_secrets,
     .argh = "NAME=FILE",
     .help = "/run/secrets/NAME in the guest (0400, root's, read-only), from FILE (repeatable)"},
    {.type = OPT_STRING_LIST,
     .long_name = "secret-env",
     .value = &up_secret_envs,
     .argh = "NAME",
     .help = "/run/secrets/NAME in the guest, from the host's variable NAME (repeatable)"},
    OPT_CHOICE_(0, "network", &up_network, "MODE", "nat isolated none",
		"egress: nat (default), isolated (published ports only) or none (no device)"),
    {.type = OPT_STRING_LIST,
     .long_name = "allow",
     .value = &up_allow,
     .argh = "HOST:PORT",
     .help = "an isolated VM may reach this destination, at 10.0.2.100+i:PORT (repeatable)"},
    OPT_END_(),
};

static int run_up(struct cli *cli, int argc, char **argv)
{
	struct vm_artifacts a = VM_ARTIFACTS_INIT;
	struct vmm_port *ports = NULL;
	struct vm_started st = VM_STARTED_INIT;
	struct vm_spec spec = {.name = up_name};
	struct strvec env = STRVEC_INIT;
	struct vm_secret *secrets = NULL;
	size_t n_secrets = 0;
	struct vmm_allow *allow = NULL;
	int r = 0;
	if (spec.name && !vm_name_valid(spec.name)) {
		struct err ne = ERR_INIT;
		vm_name_refuse(spec.name, &ne);
		r = cli_usage_error(cli, "%s", ne.msg);
		err_release(&ne);
		goto out;
	}
	r = vm_cli_env_resolve(cli, &up_env_files, &up_env, &env);
	if (r == 0)
		r = vm_cli_secrets_resolve(cli, &up_secrets, &up_secret_envs, &secrets, &n_secrets);
	if (r != 0) /* < 0 with cli->err, or a usage error already printed */
		goto out;
	if ((r = vm_artifacts_resolve(cli, argc ? argv[0] : NULL, &a)) < 0)
		goto out;
	ports = xcalloc(up_ports.n + 1, sizeof(*ports));
	for (size_t i = 0; i < up_ports.n; i++)
		if ((r = vmm_port_parse(up_ports.v[i], &ports[i], &cli->err)) < 0)
			goto out;
	if ((r = vm_cli_network_resolve(cli, up_network, &up_allow, up_ports.n, &spec, &allow)) < 0)
		goto out;
	if ((r = vm_artifacts_spec(cli, &a, &spec)) < 0)
		goto out;
	spec.ports = ports;
	spec.n_ports = up_ports.n;
	if (up_vcpus_given) {
		spec.vcpus = (unsigned)up_vcpus;
		spec.vcpus_source = "flag";
	}
	if (up_mem_given) {
		spec.mem_mib = up_mem;
		spec.mem_source = "flag";
	}
	spec.env = env.n ? strvec_argv(&env) : NULL;
	spec.secrets = secrets;
	spec.n_secrets = n_secrets;
	vm_artifacts_pick_snapshot(cli, &a, &spec);

	catch_signals();
	r = vm_start(&spec, up_detach ? VM_WAIT_READY : VM_WAIT_STARTED, &st, &cli->err);
	for (size_t i = 0; i < st.warnings.n; i++)
		cli_warn(cli, "%s", st.warnings.v[i]);
	if (r < 0)
		goto out;
	if (up_detach) {
		if (cli->json)
			cli_json(cli,
				 json_pack("{s:s, s:I, s:s, s:s*, s:s}", "name", st.name, "boot_ms",
					   (json_int_t)st.boot_ms, "accel",
					   vmm_accel_name(st.accel.accel), "revision", a.revision,
					   "started_from", st.restored ? "snapshot" : "cold"));
		else
			printf("%s\n", st.name);
		cli_note(cli, "VM '%s' ready in %.2f s%s", st.name, (double)st.boot_ms / 1000.0,
			 st.restored ? " (restored from the snapshot)" : "");
		r = 0;
		goto out;
	}
	cli_note(cli, "VM '%s' booting; Ctrl-C stops it", st.name);
	fflush(stdout);
	r = vm_attach(st.name, 1, &interrupted, &cli->err);
	if (r < 0)
		goto out;
	json_t *rec = NULL;
	struct err ge = ERR_INIT;
	if (vm_get(st.name, &rec, &ge) == 0) {
		const char *why = json_get_str(rec, "exit_reason");
		cli_note(cli, "VM '%s' exited: %s", st.name, why ? why : "unknown reason");
	}
	json_decref(rec);
	err_release(&ge);
	r = r == 1 ? 130 : 0;
out:
	free(ports);
	for (size_t i = 0; i < env.n; i++) /* values may be credentials */
		explicit_bzero(env.v[i], strlen(env.v[i]));
	strvec_clear(&env);
	free(secrets);
	free(allow);
	vm_artifacts_release(&a);
	vm_started_release(&st);
	return r;
}

const struct command cmd_up = {
    .name = "up",
    .run = run_up,
    .summary = "Boot the built microVM of a manifest (or a directory of artifacts).",
    .usage = "[PATH] [--name NAME] [-d] [-p [IP:]H:G]... [--vcpus N] [--mem SIZE] [-e K=V]... "
	     "[--env-file FILE]... [--secret NAME=FILE]... [--secret-env NAME]... "
	     "[--network nat|isolated|none] [--allow HOST:PORT]... [--json]",
    .description =
	"Boots the current revision of the manifest's slot under a per-VM supervisor. "
	"Without -d it stays attached to the console and Ctrl-C stops the VM; with -d it "
	"returns once the guest reports ready and prints the VM's name. PATH may also be "
	"a directory holding rootfs.ext4 (and vmlinux, initrd.img; else the provisioned "
	"kernel is used). When the manifest sets data_disk, the VM's first start makes its "
	"data disk (ext4, mounted at /data in the guest); later starts of the same name "
	"reuse it as it is, until 'mvmctl rm NAME'. Sizing, first to last: --vcpus/--mem; "
	"the manifest as it is on disk now (an edit takes effect without a rebuild); the "
	"last build's record (with its build --vcpus/--mem) where the manifest does not say. "
	"A snapshot taken at another size is not used: a warning, then a cold boot. "
	"'info --json' says where each size came from (sizing_source). Variables from -e and "
	"--env-file reach every service and every exec in the VM (an exec's own -e wins); "
	"they travel over the agent channel, never on a command line, and 'info' lists "
	"their names only. Each --secret/--secret-env is /run/secrets/NAME in the guest "
	"(0400, root's) on a read-only disk made fresh for this start in the VM's own "
	"directory (0600) and deleted when the VM stops; a VM without secrets has no "
	"secrets disk. Neither is part of what a snapshot depends on: a restored VM "
	"gets its own values. --network sets what the guest may reach: nat (the internet "
	"and the host, at 10.0.2.2), isolated (nothing; published ports still reach it) or "
	"none (no network device: a cold boot, -p refused); the default is MVM_NETWORK, "
	"then [network] default in config.toml, then nat. Each --allow HOST:PORT makes the "
	"VM isolated but for that destination, which the guest reaches at 10.0.2.100:PORT "
	"(the next at .101, …; 'info' lists them) through a relay mvmctl runs per "
	"connection.",
    .examples = "mvmctl up -d\nmvmctl up ./web --name web -p 8080:80 -d\n"
		"mvmctl up --vcpus 2 --mem 1G\nmvmctl up -d -e LOG_LEVEL=debug --env-file .env",
    .environment = "MVM_ACCEL       auto (default), kvm or tcg\nMVM_NETWORK     nat (default), "
		   "isolated or none\nMVM_HOME        state directory\nMVM_HOST_CACHE  where "
		   "auto keeps its KVM verdict for this host",
    .opts = up_opts,
    .max_args = 1,
    .args = CLI_ARG_FILE,
};

/* --- ls ------------------------------------------------------------------------ */

static bool ls_all, ls_quiet;

static const struct opt ls_opts[] = {
    OPT_BOOL_('a', "all", &ls_all, "also list VMs that have exited"),
    OPT_BOOL_('q', "quiet", &ls_quiet, "print names only"),
    OPT_END_(),
};

static long long since(const char *rfc3339)
{
	if (!rfc3339)
		return -1;
	struct tm tm = {0};
	const char *end = strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end)
		return -1;
	long long d = (long long)(time(NULL) - timegm(&tm));
	return d < 0 ? 0 : d;
}

static void format_duration(long long s, char *buf, size_t n)
{
	if (s < 0)
		snprintf(buf, n, "-");
	else if (s < 60)
		snprintf(buf, n, "%llds", s);
	else if (s < 3600)
		snprintf(buf, n, "%lldm%llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, n, "%lldh%lldm", s / 3600, (s % 3600) / 60);
	else
		snprintf(buf, n, "%lldd%lldh", s / 86400, (s % 86400) / 3600);
}

static void join_ports(const json_t *rec, struct strbuf *sb)
{
	json_t *ports = json_object_get(rec, "ports");
	size_t i;
	json_t *p;
	json_array_foreach(ports, i, p)
	{
		if (i)
			strbuf_addch(sb, ',');
		strbuf_addstr(sb, json_string_value(p) ? json_string_value(p) : "?");
	}
	if (!sb->len)
		strbuf_addch(sb, '-');
}

static int run_ls(struct cli *cli, int argc, char **argv)
{
	(void)argc, (void)argv;
	json_t *all = NULL;
	int r = vm_list(&all, &cli->err);
	if (r < 0) {
		json_decref(all);
		return r;
	}
	json_t *shown = json_array();
	size_t i;
	json_t *rec;
	json_array_foreach(all, i, rec)
	{
		if (ls_all || vm_record_alive(rec))
			json_array_append(shown, rec);
	}
	json_decref(all);
	if (cli->json) {
		json_array_foreach(shown, i, rec)
		{
			long long up =
			    vm_record_alive(rec) ? since(json_get_str(rec, "started_at")) : -1;
			if (up >= 0)
				json_object_set_new(rec, "uptime_s", json_integer(up));
		}
		cli_json(cli, json_pack("{s:o}", "vms", shown));
		return 0;
	}
	if (ls_quiet) {
		json_array_foreach(shown, i, rec) printf("%s\n", json_get_str(rec, "name"));
		json_decref(shown);
		return 0;
	}
	printf("%-20s %-9s %-8s %-5s %-7s %-24s %-12s %s\n", "NAME", "STATE", "BACKEND", "VCPUS",
	       "MEMORY", "PORTS", "REVISION", "UPTIME");
	json_array_foreach(shown, i, rec)
	{
		struct strbuf ports = STRBUF_INIT;
		join_ports(rec, &ports);
		_cleanup_free_ char *mem =
		    size_format_mib((uint64_t)json_get_int(rec, "mem_mib", 0));
		const char *rev = json_get_str(rec, "revision");
		char up[32];
		format_duration(vm_record_alive(rec) ? since(json_get_str(rec, "started_at")) : -1,
				up, sizeof(up));
		printf("%-20s %-9s %-8s %-5lld %-7s %-24s %-12.12s %s\n", json_get_str(rec, "name"),
		       json_get_str(rec, "state"), json_get_str(rec, "backend"),
		       json_get_int(rec, "vcpus", 0), mem, ports.buf, rev ? rev : "-", up);
		strbuf_release(&ports);
	}
	json_decref(shown);
	return 0;
}

const struct command cmd_ls = {
    .name = "ls",
    .run = run_ls,
    .summary = "List running VMs.",
    .usage = "[-a] [-q] [--json]",
    .description = "A VM whose supervisor is gone is never listed as running: it shows as "
		   "exited (with -a), with the reason.",
    .examples = "mvmctl ls\nmvmctl ls -a --json\nmvmctl ls -q",
    .opts = ls_opts,
    .max_args = 0,
};

/* --- down ---------------------------------------------------------------------- */

static bool down_all, down_force;

static const struct opt down_opts[] = {
    OPT_BOOL_(0, "all", &down_all, "stop every running VM"),
    OPT_BOOL_('f', "force", &down_force, "a VM that does not exist is no error"),
    OPT_END_(),
};

static int run_down(struct cli *cli, int argc, char **argv)
{
	struct strvec names = STRVEC_INIT;
	if (down_all) {
		if (argc)
			return cli_usage_error(cli, "give names or --all, not both");
		json_t *all = NULL;
		int r = vm_list(&all, &cli->err);
		if (r < 0) {
			json_decref(all);
			return r;
		}
		size_t i;
		json_t *rec;
		json_array_foreach(all, i, rec) if (vm_record_alive(rec))
		    strvec_push(&names, json_get_str(rec, "name"));
		json_decref(all);
	} else {
		if (!argc)
			return cli_usage_error(cli, "name a VM, or pass --all");
		for (int i = 0; i < argc; i++)
			strvec_push(&names, argv[i]);
	}
	int ret = 0;
	json_t *stopped = json_array();
	for (size_t i = 0; i < names.n; i++) {
		bool was = false;
		struct err e = ERR_INIT;
		int r = vm_stop(names.v[i], &was, &e);
		if (r < 0 && e.exit == EXIT_NOTFOUND && down_force)
			r = 0;
		if (r < 0) {
			cli_print_error(cli, &e);
			if (!ret || e.exit == EXIT_FAILED)
				ret = e.exit ? e.exit : EXIT_FAILED;
		} else {
			json_array_append_new(stopped, json_pack("{s:s, s:b}", "name", names.v[i],
								 "was_running", was));
			if (!cli->json)
				printf("%s\n", names.v[i]);
		}
		err_release(&e);
	}
	if (cli->json)
		cli_json(cli, json_pack("{s:o}", "stopped", stopped));
	else
		json_decref(stopped);
	strvec_clear(&names);
	return ret;
}

const struct command cmd_down = {
    .name = "down",
    .run = run_down,
    .summary = "Stop VMs (graceful, then forced; bounded in time).",
    .usage = "[NAME...|--all] [--force] [--json]",
    .description = "A stopped VM is kept, exited: 'mvmctl ls -a' shows it, 'mvmctl up --name "
		   "NAME' starts it\nagain with the same data disk, and 'mvmctl rm NAME' deletes "
		   "it.",
    .examples = "mvmctl down web\nmvmctl down --all",
    .opts = down_opts,
    .max_args = -1,
    .args = CLI_ARG_RUNNING,
};

/* --- logs ------------------------------------------------------------------------ */

static bool logs_follow;
static long long logs_lines = -1;

static const struct opt logs_opts[] = {
    OPT_BOOL_('f', "follow", &logs_follow, "keep printing until the VM exits"),
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
	catch_signals();
	fflush(stdout);
	return vm_logs(argv[0], logs_lines, logs_follow, 1, &interrupted, &cli->err);
}

const struct command cmd_logs = {
    .name = "logs",
    .run = run_logs,
    .summary = "Print a VM's console log.",
    .usage = "NAME [-f] [-n N]",
    .examples = "mvmctl logs web\nmvmctl logs -f web\nmvmctl logs -n 20 web",
    .opts = logs_opts,
    .min_args = 1,
    .max_args = 1,
    .args = CLI_ARG_VM,
};

/* --- info NAME -------------------------------------------------------------------- */

/* `info NAME` for a VM: the top-level `info` (cmd_info_rm.c) hands over any
 * argument that is not a manifest target. */
int vm_cli_info(struct cli *cli, const char *name)
{
	json_t *rec = NULL;
	int r = vm_get(name, &rec, &cli->err);
	if (r < 0)
		return r;
	if (cli->json) {
		cli_json(cli, json_pack("{s:o}", "vm", rec));
		return 0;
	}
	const char *key;
	json_t *v;
	json_object_foreach(rec, key, v)
	{
		if (!strcmp(key, "schema_version"))
			continue;
		if (json_is_string(v)) {
			printf("%-16s %s\n", key, json_string_value(v));
		} else {
			char *txt = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			printf("%-16s %s\n", key, txt ? txt : "");
			free(txt);
		}
	}
	json_decref(rec);
	return 0;
}

/* --- rm NAME -------------------------------------------------------------------------- */

/* `rm NAME` for a VM: the top-level `rm` (cmd_info_rm.c) hands over a name
 * that is a VM. */
int vm_cli_rm(struct cli *cli, const char *name, bool force)
{
	bool was_running = false;
	int r = vm_remove(name, force, &was_running, &cli->err);
	bool removed = r == 0;
	if (r < 0 && force && cli->err.exit == EXIT_NOTFOUND) {
		/* --force: already gone is a success */
		cli_note(cli, "nothing to remove: %s", cli->err.msg);
		err_release(&cli->err);
		r = 0;
	}
	if (r < 0)
		return r;
	if (was_running)
		cli_note(cli, "stopped VM '%s'", name);
	if (cli->json)
		cli_json(cli, json_pack("{s:s, s:b, s:b}", "vm", name, "removed", removed,
					"was_running", was_running));
	else if (removed)
		printf("%s\n", name);
	return 0;
}

/* --- shim (hidden) ---------------------------------------------------------------- */

static long long shim_notify_fd = -1, shim_lock_fd = -1;

static const struct opt shim_opts[] = {
    {.type = OPT_INT,
     .long_name = "notify-fd",
     .value = &shim_notify_fd,
     .argh = "FD",
     .help = "where to report started/ready/error",
     .min = 3,
     .max = INT_MAX},
    {.type = OPT_INT,
     .long_name = "lock-fd",
     .value = &shim_lock_fd,
     .argh = "FD",
     .help = "the VM's shim.lock, locked",
     .min = 3,
     .max = INT_MAX},
    OPT_END_(),
};

static int run_shim(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	if (shim_notify_fd < 0 || shim_lock_fd < 0)
		return cli_usage_error(cli, "--notify-fd and --lock-fd are required");
	return shim_main(argv[0], (int)shim_notify_fd, (int)shim_lock_fd, &cli->err);
}

const struct command cmd_shim = {
    .name = "shim",
    .run = run_shim,
    .summary = "The per-VM supervisor (started by up; not for direct use).",
    .usage = "NAME --notify-fd FD --lock-fd FD",
    .opts = shim_opts,
    .min_args = 1,
    .max_args = 1,
    .hidden = true,
};

/* QEMU runs it for each guest connection to an allowed destination; fds 0-2
 * are that connection, so nothing is printed, whatever happens. */
static int run_netproxy(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	return netproxy_main(argv[0], argv[1], &cli->err) < 0 ? 1 : 0;
}

const struct command cmd_netproxy = {
    .name = "netproxy",
    .run = run_netproxy,
    .summary = "Relays one guest connection to an allowed destination (not for direct use).",
    .usage = "HOST PORT",
    .min_args = 2,
    .max_args = 2,
    .hidden = true,
};
