/* Help text, generated from the command table so it can never disagree with
 * what the parser accepts. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/strbuf.h"

const char cli_default_environment[] = "MVM_HOME     where mvm keeps its state (default ~/.mvm)\n"
				       "NO_COLOR     disable colour";

const char cli_default_exit_status[] =
    "0 success, 1 failure, 2 usage error, 3 invalid manifest or config, 4 not found,\n"
    "5 refused (rerun with --force), 6 host not ready (run 'mvmctl doctor'), 7 build failed";

static void opt_line(FILE *out, const struct opt *o)
{
	struct strbuf sb = STRBUF_INIT;
	if (o->short_name)
		strbuf_addf(&sb, "-%c, ", o->short_name);
	else
		strbuf_addstr(&sb, "    ");
	strbuf_addf(&sb, "--%s", o->long_name);
	if (cli_opt_argh(o))
		strbuf_addf(&sb, " %s", cli_opt_argh(o));
	fprintf(out, "  %-28s %s", sb.buf, o->help ? o->help : "");
	if (o->alias)
		fprintf(out, " (also --%s)", o->alias);
	fputc('\n', out);
	strbuf_release(&sb);
}

static void indented(FILE *out, const char *text)
{
	const char *p = text;
	while (*p) {
		const char *nl = strchrnul(p, '\n');
		fprintf(out, "  %.*s\n", (int)(nl - p), p);
		p = *nl ? nl + 1 : nl;
	}
}

void cli_print_help(struct cli *cli, const struct command *cmd, const char *path, FILE *out)
{
	if (cmd->subcommands) {
		fprintf(out, "usage: %s %s <command> [options]\n\n%s\n\nCommands:\n", cli->prog,
			path, cmd->summary);
		for (const struct command *const *c = cmd->subcommands; *c; c++)
			if (!(*c)->hidden)
				fprintf(out, "  %-14s %s\n", (*c)->name, (*c)->summary);
		fprintf(out, "\nRun '%s %s <command> --help' for more.\n", cli->prog, path);
		return;
	}
	fprintf(out, "usage: %s %s %s\n\n%s\n", cli->prog, path, cmd->usage ? cmd->usage : "",
		cmd->summary);
	if (cmd->description)
		fprintf(out, "\n%s\n", cmd->description);
	if (cmd->examples) {
		fputs("\nExamples:\n", out);
		indented(out, cmd->examples);
	}
	fputs("\nOptions:\n", out);
	for (const struct opt *o = cmd->opts; o && o->type != OPT_END; o++)
		if (!o->hidden)
			opt_line(out, o);
	for (const struct opt *o = cli_global_opts(); o->type != OPT_END; o++)
		opt_line(out, o);
	fputs("\nEnvironment:\n", out);
	indented(out, cmd->environment ? cmd->environment : cli_default_environment);
	fputs("\nExit status:\n", out);
	indented(out, cmd->exit_status ? cmd->exit_status : cli_default_exit_status);
}

void cli_print_overview(struct cli *cli, FILE *out)
{
	fprintf(out,
		"%s builds and runs microVMs from a Nix flake and a small manifest (mvm.toml).\n\n"
		"usage: %s [--version] [--json] [-q] [-v] <command> [args]\n\nCommands:\n",
		cli->prog, cli->prog);
	for (const struct command *const *c = cli_commands; *c; c++)
		if (!(*c)->hidden)
			fprintf(out, "  %-16s %s\n", (*c)->name, (*c)->summary);
	fprintf(out, "\nRun '%s help <command>' or '%s <command> --help' for more.\n", cli->prog,
		cli->prog);
}
