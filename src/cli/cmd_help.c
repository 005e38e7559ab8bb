#include <stdio.h>

#include "cli.h"
#include "core/strbuf.h"

static int run_help(struct cli *cli, int argc, char **argv)
{
	if (argc == 0) {
		cli_print_overview(cli, stdout);
		return 0;
	}
	const struct command *const *table = cli_commands;
	const struct command *cmd = NULL;
	struct strbuf path = STRBUF_INIT;
	for (int i = 0; i < argc; i++) {
		cmd = table ? cli_find(table, argv[i]) : NULL;
		if (!cmd) {
			strbuf_release(&path);
			return cli_usage_error(cli, "no such command '%s'", argv[i]);
		}
		if (path.len)
			strbuf_addch(&path, ' ');
		strbuf_addstr(&path, argv[i]);
		table = cmd->subcommands;
	}
	cli_print_help(cli, cmd, path.buf, stdout);
	strbuf_release(&path);
	return 0;
}

const struct command cmd_help = {
    .name = "help",
    .run = run_help,
    .summary = "Show help for a command.",
    .usage = "[COMMAND [SUBCOMMAND...]]",
    .examples = "mvmctl help\nmvmctl help build\nmvmctl help manifest check\n"
		"mvmctl help tenant secrets set",
    .min_args = 0,
    .max_args = -1, /* commands nest (tenant secrets set) */
};
