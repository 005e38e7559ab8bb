/* mvmctl manifest …: the manifest and its slot in the registry. */
#include <stdio.h>

#include "cli.h"
#include "core/size.h"
#include "core/strvec.h"
#include "core/util.h"
#include "project.h"
#include "registry_cli.h"

static int run_check(struct cli *cli, int argc, char **argv)
{
	struct manifest m;
	int r = cli_load_manifest(cli, argc ? argv[0] : NULL, &m);
	if (r < 0)
		return r;
	if (cli->json) {
		json_t *warn = json_array();
		for (size_t i = 0; i < m.warnings.n; i++)
			json_array_append_new(warn, json_string(m.warnings.v[i]));
		cli_json(cli,
			 json_pack("{s:s, s:s, s:o, s:o}", "manifest_path", m.path, "project_dir",
				   m.dir, "manifest", cli_manifest_json(&m), "warnings", warn));
	} else {
		_cleanup_free_ char *mem = size_format_mib(m.mem_mib);
		_cleanup_free_ char *disk = size_format_mib(m.data_disk_mib);
		printf("manifest        %s\n", m.path);
		printf("schema_version  %lld\n", m.schema_version);
		printf("flake           %s\n", m.flake_resolved);
		printf("profile         %s\n", m.profile);
		printf("vcpus           %d\n", m.vcpus);
		printf("mem             %s (%llu MiB)\n", mem, (unsigned long long)m.mem_mib);
		if (m.data_disk_mib)
			printf("data_disk       %s (%llu MiB)\n", disk,
			       (unsigned long long)m.data_disk_mib);
		else
			printf("data_disk       none\n");
		printf("name            %s\n", m.name ? m.name : "(unset)");
	}
	manifest_release(&m);
	return 0;
}

static const struct command cmd_manifest_check = {
    .name = "check",
    .run = run_check,
    .summary = "Validate a manifest and print its effective values.",
    .usage = "[PATH] [--json]",
    .description = "PATH is a manifest file or a directory holding mvm.toml or Mvmfile.toml.\n"
		   "Without PATH the manifest is found by walking up from the working directory.",
    .examples = "mvmctl manifest check\nmvmctl manifest check ./api\n"
		"mvmctl manifest check ./api/mvm.toml --json",
    .environment = "MVM_CEILING_DIRECTORIES  colon-separated directories the walk-up never "
		   "enters",
    .max_args = 1,
    .args = CLI_ARG_FILE,
};

static const struct command *const manifest_subcommands[] = {
    &cmd_manifest_check, &cmd_manifest_ls,     &cmd_manifest_info,
    &cmd_manifest_rm,	 &cmd_manifest_verify, &cmd_manifest_prune,
    &cmd_manifest_push,	 &cmd_manifest_pull,   NULL,
};

const struct command cmd_manifest = {
    .name = "manifest",
    .summary = "Check manifests and manage their built slots.",
    .subcommands = manifest_subcommands,
};
