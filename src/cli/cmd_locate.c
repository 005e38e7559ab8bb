#include <stdio.h>

#include "cli.h"
#include "core/discover.h"
#include "core/fs.h"
#include "core/util.h"

static int run_locate(struct cli *cli, int argc, char **argv)
{
	_cleanup_free_ char *path = NULL;
	int r = discover_manifest(argc ? argv[0] : NULL, &path, &cli->err);
	if (r < 0)
		return r;
	_cleanup_free_ char *dir = fs_dirname(path);
	if (cli->json)
		cli_json(cli, json_pack("{s:s, s:s}", "manifest_path", path, "project_dir", dir));
	else
		printf("%s\n%s\n", path, dir);
	return 0;
}

const struct command cmd_locate_manifest = {
    .name = "locate-manifest",
    .run = run_locate,
    .summary = "Print the manifest that commands would use, and its project directory.",
    .usage = "[PATH] [--json]",
    .description = "Prints two lines: the manifest's absolute path, then its directory.",
    .examples = "mvmctl locate-manifest\nmvmctl locate-manifest --json",
    .environment = "MVM_CEILING_DIRECTORIES  colon-separated directories the walk-up never "
		   "enters",
    .max_args = 1,
    .args = CLI_ARG_FILE,
};
