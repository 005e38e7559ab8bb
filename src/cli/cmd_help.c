#include <stdio.h>

#include "cli.h"
#include "core/strbuf.h"

static bool help_man;

static const struct opt help_opts[] = {
    /* `make man`: the roff page instead of the text (no PATH: mvmctl(1), or mvm(1)) */
    {.type = OPT_BOOL, .long_name = "man", .value = &help_man, .hidden = true},
    OPT_END_(),
};

static int run_help(struct cli *cli, int argc, char **argv)
{
	if (argc == 0) {
		if (help_man)
			cli_write_man(cli, NULL, NULL, stdout);
		else
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
	if (help_man)
		cli_write_man(cli, cmd, path.buf, stdout);
	else
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
    .opts = help_opts,
    .min_args = 0,
    .max_args = -1, /* commands nest (tenant secrets set) */
    .args = CLI_ARG_COMMAND,
};
