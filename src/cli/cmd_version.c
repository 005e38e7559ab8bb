#include <stdio.h>

#include "cli.h"
#include "core/manifest.h"

static int run_version(struct cli *cli, int argc, char **argv)
{
	(void)argc, (void)argv;
	if (cli->json) {
		cli_json(cli, json_pack("{s:s, s:i}", "version", MVM_VERSION,
					"manifest_schema_version", MANIFEST_SCHEMA_VERSION));
		return 0;
	}
	printf("%s %s\nmanifest schema_version %d\n", cli->prog, MVM_VERSION,
	       MANIFEST_SCHEMA_VERSION);
	return 0;
}

const struct command cmd_version = {
    .name = "version",
    .run = run_version,
    .summary = "Print the version of mvmctl and the manifest schema it supports.",
    .usage = "[--json]",
    .examples = "mvmctl version\nmvmctl version --json",
    .max_args = 0,
};
