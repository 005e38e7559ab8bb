/* `mvmctl completion bash|zsh|fish` prints a completion script written from
 * the command table; the hidden `mvmctl __complete KIND` lists what the
 * scripts complete from the state: names only, read from $MVM_HOME without
 * starting anything, taking a lock or repairing a record. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "completion.h"
#include "core/registry.h"
#include "core/util.h"
#include "fleet/instance.h"
#include "fleet/pool.h"
#include "fleet/tenant.h"
#include "vm/vm.h"

/* --- what the scripts share -------------------------------------------------- */

const char *comp_opt_word(const struct opt *o)
{
	if (o->type == OPT_PAIR_LIST)
		return "pair";
	switch (cli_opt_arg(o)) {
	case OPT_ARG_NONE:
		return "";
	case OPT_ARG_NUMBER:
		return "number";
	case OPT_ARG_SIZE:
		return "size";
	case OPT_ARG_FILE:
		return "file";
	case OPT_ARG_DIR:
		return "dir";
	case OPT_ARG_CHOICE:
		return "choice";
	default:
		return "string";
	}
}

void comp_args_words(struct strbuf *sb, const struct command *cmd)
{
	static const struct {
		unsigned bit;
		const char *word;
	} words[] = {
	    {CLI_ARG_FILE, "file"},	   {CLI_ARG_DIR, "dir"},
	    {CLI_ARG_VM, "vms"},	   {CLI_ARG_RUNNING, "running"},
	    {CLI_ARG_SLOT, "slots"},	   {CLI_ARG_TENANT, "tenants"},
	    {CLI_ARG_POOL, "pools"},	   {CLI_ARG_INSTANCE, "instances"},
	    {CLI_ARG_COMMAND, "commands"}, {CLI_ARG_SHELL, "shells"},
	};
	size_t start = sb->len;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (!(cmd->args & words[i].bit))
			continue;
		if (sb->len > start)
			strbuf_addch(sb, ' ');
		strbuf_addstr(sb, words[i].word);
	}
	if (cmd->accepts_dashdash) {
		if (sb->len > start)
			strbuf_addch(sb, ' ');
		strbuf_addstr(sb, "dashdash");
	}
}

void comp_sq(struct strbuf *sb, const char *s)
{
	strbuf_addch(sb, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			strbuf_addstr(sb, "'\\''");
		else
			strbuf_addch(sb, *s);
	}
	strbuf_addch(sb, '\'');
}

void comp_fish_sq(struct strbuf *sb, const char *s)
{
	strbuf_addch(sb, '\'');
	for (; *s; s++) {
		if (*s == '\'' || *s == '\\')
			strbuf_addch(sb, '\\');
		strbuf_addch(sb, *s);
	}
	strbuf_addch(sb, '\'');
}

static const struct opt version_opt = {
    .type = OPT_BOOL, .long_name = "version", .help = "print the version and exit"};

void comp_each_opt(const struct command *cmd, void (*fn)(const struct opt *o, void *ctx), void *ctx)
{
	if (!cmd)
		fn(&version_opt, ctx);
	for (const struct opt *o = cmd ? cmd->opts : NULL; o && o->type != OPT_END; o++)
		if (!o->hidden)
			fn(o, ctx);
	for (const struct opt *o = cli_global_opts(); o->type != OPT_END; o++)
		fn(o, ctx);
}

/* --- completion ---------------------------------------------------------------- */

static int run_completion(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	struct strbuf out = STRBUF_INIT;
	if (!strcmp(argv[0], "bash"))
		comp_write_bash(&out);
	else if (!strcmp(argv[0], "zsh"))
		comp_write_zsh(&out);
	else if (!strcmp(argv[0], "fish"))
		comp_write_fish(&out);
	else
		return cli_usage_error(cli, "unknown shell '%s' (bash, zsh or fish)", argv[0]);
	fwrite(out.buf, 1, out.len, stdout);
	strbuf_release(&out);
	return 0;
}

const struct command cmd_completion = {
    .name = "completion",
    .run = run_completion,
    .summary = "Print the shell completion script for bash, zsh or fish.",
    .usage = "bash|zsh|fish",
    .description =
	"The script completes command paths, options (files, directories and sizes where an "
	"option takes one) and, from the state under MVM_HOME, the names of VMs (running "
	"ones for exec and down), slots, tenants, <tenant>/<pool> and instance addresses. "
	"It is written from the same command table as --help and the man pages. "
	"'make install' puts it where bash-completion, zsh (vendor-completions, or "
	"site-functions outside /usr) and fish look; to try it in the current shell, source it "
	"as the examples show.",
    .examples = "source <(mvmctl completion bash)\n"
		"mvmctl completion zsh > ~/.zfunc/_mvmctl\n"
		"mvmctl completion fish | source\n"
		"mvmctl completion bash > /etc/bash_completion.d/mvmctl",
    .environment = "MVM_HOME     the state the script lists names from (default ~/.mvm)",
    .exit_status = "0 the script was printed, 2 usage error (no such shell)",
    .min_args = 1,
    .max_args = 1,
    .args = CLI_ARG_SHELL,
};

/* --- __complete KIND ------------------------------------------------------------ */

static void print_path(const struct command *cmd, const char *path, int depth, void *ctx)
{
	(void)cmd, (void)depth, (void)ctx;
	printf("%s\n", path);
}

static int list_instances(struct strvec *out, struct err *e)
{
	struct strvec pools = STRVEC_INIT;
	int r = pool_list(NULL, &pools, e);
	for (size_t i = 0; r == 0 && i < pools.n; i++) {
		char *slash = strchr(pools.v[i], '/');
		*slash = '\0';
		struct strvec ids = STRVEC_INIT;
		r = instance_ids(pools.v[i], slash + 1, &ids, e);
		for (size_t j = 0; j < ids.n; j++)
			strvec_pushf(out, "%s/%s/%s", pools.v[i], slash + 1, ids.v[j]);
		strvec_clear(&ids);
	}
	strvec_clear(&pools);
	return r;
}

static int list_slots(struct strvec *out, struct err *e)
{
	struct registry_list l = REGISTRY_LIST_INIT;
	int r = registry_list(&l, e);
	for (size_t i = 0; r == 0 && i < l.nslots; i++)
		strvec_push(out, l.slots[i].slot.id.s);
	registry_list_release(&l);
	return r;
}

/* "--long|-s|kind" per option (for the tests that hold the pages and
 * scripts to the table) */
static void print_opt(const struct opt *o, void *ctx)
{
	(void)ctx;
	printf("--%s|", o->long_name);
	if (o->short_name)
		printf("-%c", o->short_name);
	printf("|%s\n", comp_opt_word(o));
}

static int list_options(struct cli *cli, int argc, char **argv)
{
	struct strbuf path = STRBUF_INIT;
	for (int i = 0; i < argc; i++)
		strbuf_addf(&path, "%s%s", i ? " " : "", argv[i]);
	const struct command *cmd = argc ? cli_find_path(path.buf) : NULL;
	if (argc && (!cmd || cmd->hidden)) {
		int r = cli_usage_error(cli, "no such command '%s'", path.buf);
		strbuf_release(&path);
		return r;
	}
	strbuf_release(&path);
	comp_each_opt(cmd, print_opt, NULL);
	return 0;
}

static int run_complete_values(struct cli *cli, int argc, char **argv)
{
	const char *kind = argv[0];
	if (!strcmp(kind, "options"))
		return list_options(cli, argc - 1, argv + 1);
	if (argc > 1)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[1]);
	struct strvec v = STRVEC_INIT;
	int r = 0;
	if (!strcmp(kind, "vms") || !strcmp(kind, "running"))
		r = vm_names(&v, !strcmp(kind, "running"), &cli->err);
	else if (!strcmp(kind, "tenants"))
		r = tenant_list(&v, &cli->err);
	else if (!strcmp(kind, "pools"))
		r = pool_list(NULL, &v, &cli->err);
	else if (!strcmp(kind, "instances"))
		r = list_instances(&v, &cli->err);
	else if (!strcmp(kind, "slots"))
		r = list_slots(&v, &cli->err);
	else if (!strcmp(kind, "paths"))
		cli_walk(print_path, NULL);
	else
		return cli_usage_error(cli, "unknown kind '%s' (%s)", kind, COMP_VALUE_KINDS);
	for (size_t i = 0; i < v.n; i++)
		printf("%s\n", v.v[i]);
	strvec_clear(&v);
	return r;
}

const struct command cmd_complete_values = {
    .name = "__complete",
    .run = run_complete_values,
    .summary = "List names for the completion scripts.",
    .usage = "vms|running|slots|tenants|pools|instances|paths | options [PATH...]",
    .min_args = 1,
    .max_args = -1,
    .hidden = true,
};
