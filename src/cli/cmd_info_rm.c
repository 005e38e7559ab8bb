/* The top-level `info [PATH]` and `rm [PATH]`: short forms of
 * `manifest info` and `manifest rm`.
 *
 * `info NAME` / `rm NAME` act on the VM named NAME: names_vm() and
 * target_is_path() are the one place that tells the two apart. A bare word
 * that names an existing VM is the VM, as in `exec` (write ./NAME for a
 * directory of that name); otherwise an existing path, anything with a '/',
 * '.', a slot id, or no argument at all is a manifest target. */
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "core/hash.h"
#include "core/util.h"
#include "registry_cli.h"
#include "vm/vm.h"
#include "vm_cli.h"

/* True when arg names a manifest (file, directory, slot id) rather than
 * something else such as a VM name. */
static bool target_is_path(const char *arg)
{
	struct stat st;
	return !arg || strchr(arg, '/') || !strcmp(arg, ".") || !strcmp(arg, "..") ||
	       hash_is_sha256_hex(arg) || stat(arg, &st) == 0;
}

/* A bare word naming an existing VM. */
static bool names_vm(const char *arg)
{
	return arg && !strchr(arg, '/') && strcmp(arg, ".") && strcmp(arg, "..") && vm_exists(arg);
}

static int no_such_target(struct cli *cli, const char *arg)
{
	err_set(&cli->err, -ENOENT, EXIT_NOTFOUND,
		"'%s' is not a manifest file or project directory", arg);
	err_hint(&cli->err, "pass the path of a manifest or its directory ('mvmctl manifest ls' "
			    "lists the built ones)");
	return -ENOENT;
}

static int run_info(struct cli *cli, int argc, char **argv)
{
	const char *arg = argc ? argv[0] : NULL;
	if (names_vm(arg) || !target_is_path(arg))
		return vm_cli_info(cli, arg);
	return registry_cli_info(cli, arg);
}

const struct command cmd_info = {
    .name = "info",
    .run = run_info,
    .summary = "Show a running VM, or what is built for a manifest ('manifest info').",
    .usage = "[NAME|PATH] [--json]",
    .description = "PATH is a manifest file, a directory holding one (default: walk up from the "
		   "working directory),\nor a slot id from 'mvmctl manifest ls'.",
    .examples = "mvmctl info\nmvmctl info ./api --json",
    .max_args = 1,
    .args = CLI_ARG_VM | CLI_ARG_FILE,
};

static int run_rm(struct cli *cli, int argc, char **argv)
{
	const char *arg = argc ? argv[0] : NULL;
	if (names_vm(arg)) {
		if (registry_rm_opts.manifest_file)
			return cli_usage_error(
			    cli, "--manifest-file is for manifests, and '%s' is a VM", arg);
		return vm_cli_rm(cli, arg, registry_rm_opts.force);
	}
	if (!target_is_path(arg)) {
		if (registry_rm_opts.force) {
			cli_note(cli,
				 "nothing to remove: '%s' is not a manifest file or project "
				 "directory",
				 arg);
			return 0;
		}
		return no_such_target(cli, arg);
	}
	return registry_cli_rm(cli, arg, &registry_rm_opts);
}

const struct command cmd_rm = {
    .name = "rm",
    .run = run_rm,
    .summary = "Remove a VM, or what is built for a manifest (short for 'manifest rm').",
    .usage = "[NAME|PATH] [--force] [--manifest-file] [--json]",
    .description =
	"NAME is a VM (see 'mvmctl ls -a'): its record, logs and data disk are deleted. A "
	"running VM is\nrefused unless --force, which stops it first.\n"
	"PATH is a manifest: removes its slot with all its revisions. --manifest-file also "
	"deletes\nmvm.toml; flake.nix is never touched.",
    .examples = "mvmctl rm web\nmvmctl rm --force web\nmvmctl rm ./api --force\n"
		"mvmctl rm --manifest-file",
    .opts = registry_rm_optv,
    .max_args = 1,
    .args = CLI_ARG_VM | CLI_ARG_FILE,
};
