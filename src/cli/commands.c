/* The command table: one line per verb or noun group, and the walks over it
 * that help, man pages and completion share. */
#include <string.h>

#include "cli.h"
#include "core/strbuf.h"

extern const struct command cmd_help, cmd_version, cmd_manifest, cmd_locate_manifest;
extern const struct command cmd_init;
extern const struct command cmd_info, cmd_rm, cmd_cache;
extern const struct command cmd_build, cmd_doctor;
extern const struct command cmd_tenant;
extern const struct command cmd_pool;
extern const struct command cmd_instance;
extern const struct command cmd_host;
extern const struct command cmd_up, cmd_ls, cmd_down, cmd_logs, cmd_shim, cmd_netproxy, cmd_exec,
    cmd_run;
extern const struct command cmd_completion, cmd_complete_values;
extern const struct command cmd_key;

const struct command *const cli_commands[] = {
    &cmd_init,
    &cmd_build,
    &cmd_up,
    &cmd_run,
    &cmd_exec,
    &cmd_ls,
    &cmd_down,
    &cmd_logs,
    &cmd_info,
    &cmd_rm,
    &cmd_manifest,
    &cmd_cache,
    &cmd_key,
    &cmd_locate_manifest,
    &cmd_version,
    &cmd_doctor,
    &cmd_tenant,
    &cmd_pool,
    &cmd_instance,
    &cmd_host,
    &cmd_help,
    &cmd_completion,
    &cmd_complete_values,
    &cmd_shim,
    &cmd_netproxy,
    NULL,
};

static void walk(const struct command *const *table, struct strbuf *path, int depth,
		 void (*fn)(const struct command *, const char *, int, void *), void *ctx)
{
	for (const struct command *const *c = table; *c; c++) {
		if ((*c)->hidden)
			continue;
		size_t len = path->len;
		if (len)
			strbuf_addch(path, ' ');
		strbuf_addstr(path, (*c)->name);
		fn(*c, path->buf, depth, ctx);
		if ((*c)->subcommands)
			walk((*c)->subcommands, path, depth + 1, fn, ctx);
		strbuf_setlen(path, len);
	}
}

void cli_walk(void (*fn)(const struct command *cmd, const char *path, int depth, void *ctx),
	      void *ctx)
{
	struct strbuf path = STRBUF_INIT;
	walk(cli_commands, &path, 1, fn, ctx);
	strbuf_release(&path);
}

const struct command *cli_find_path(const char *path)
{
	const struct command *const *table = cli_commands;
	const struct command *cmd = NULL;
	const char *p = path;
	while (*p) {
		const char *sp = strchrnul(p, ' ');
		cmd = NULL;
		for (const struct command *const *c = table; c && *c; c++)
			if (strlen((*c)->name) == (size_t)(sp - p) &&
			    !strncmp((*c)->name, p, (size_t)(sp - p)))
				cmd = *c;
		if (!cmd)
			return NULL;
		table = cmd->subcommands;
		p = *sp ? sp + 1 : sp;
	}
	return cmd;
}

enum opt_arg cli_opt_arg(const struct opt *o)
{
	if (o->kind != OPT_ARG_AUTO)
		return o->kind;
	if (o->type == OPT_BOOL)
		return OPT_ARG_NONE;
	if (o->type == OPT_SIZE || (o->argh && !strcmp(o->argh, "SIZE")))
		return OPT_ARG_SIZE;
	if (o->type == OPT_INT)
		return OPT_ARG_NUMBER;
	if (o->argh && !strcmp(o->argh, "FILE"))
		return OPT_ARG_FILE;
	if (o->argh && !strcmp(o->argh, "DIR"))
		return OPT_ARG_DIR;
	return OPT_ARG_STRING;
}

const char *cli_opt_argh(const struct opt *o)
{
	if (o->type == OPT_BOOL)
		return NULL;
	if (o->argh)
		return o->argh;
	return o->type == OPT_PAIR_LIST ? "NAME VALUE" : "VALUE";
}
