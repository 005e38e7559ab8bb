/* The fish completion script (vendor_completions.d/mvmctl.fish): one
 * `complete` line per command, option and argument kind, written from the
 * command table, conditioned on the command path a fixed function reads
 * from the command line. mvm wraps mvmctl. */
#include <string.h>

#include "completion.h"

struct fish {
	struct strbuf lines, optargs, subs;
	const char *path;
};

static void cond(struct strbuf *sb, const char *path)
{
	struct strbuf c = STRBUF_INIT;
	strbuf_addstr(&c, "__mvmctl_at ");
	comp_fish_sq(&c, path);
	strbuf_addstr(sb, "complete -c mvmctl -n ");
	comp_fish_sq(sb, c.buf);
	strbuf_release(&c);
}

static void add_opt(const struct opt *o, void *ctx)
{
	struct fish *f = ctx;
	const char *word = comp_opt_word(o);
	cond(&f->lines, f->path);
	if (o->short_name)
		strbuf_addf(&f->lines, " -s %c", o->short_name);
	strbuf_addf(&f->lines, " -l %s", o->long_name);
	if (!strcmp(word, "file"))
		strbuf_addstr(&f->lines, " -r -F");
	else if (!strcmp(word, "dir"))
		strbuf_addstr(&f->lines, " -x -a '(__fish_complete_directories)'");
	else if (!strcmp(word, "size"))
		strbuf_addstr(&f->lines, " -x -a '" COMP_SIZES "'");
	else if (!strcmp(word, "choice")) {
		strbuf_addstr(&f->lines, " -x -a ");
		comp_fish_sq(&f->lines, o->choices ? o->choices : "");
	} else if (*word)
		strbuf_addstr(&f->lines, " -x");
	if (o->help) {
		strbuf_addstr(&f->lines, " -d ");
		comp_fish_sq(&f->lines, o->help);
	}
	strbuf_addch(&f->lines, '\n');
	const char *names[2] = {o->long_name, o->alias};
	for (int i = 0; i < 2 && *word; i++) {
		if (!names[i])
			continue;
		strbuf_addf(&f->optargs, "\tcase '%s%s--%s'\n\t\techo %s\n", f->path,
			    *f->path ? " " : "", names[i], word);
	}
	if (*word && o->short_name)
		strbuf_addf(&f->optargs, "\tcase '%s%s-%c'\n\t\techo %s\n", f->path,
			    *f->path ? " " : "", o->short_name, word);
}

static void add_path(struct fish *f, const struct command *cmd, const char *path,
		     const struct command *const *subs)
{
	f->path = path;
	if (subs) {
		strbuf_addf(&f->subs, "\tcase '%s'\n\t\tprintf '%%s\\n'", path);
		for (const struct command *const *c = subs; *c; c++) {
			if ((*c)->hidden)
				continue;
			strbuf_addf(&f->subs, " %s", (*c)->name);
			cond(&f->lines, path);
			strbuf_addf(&f->lines, " -a %s -d ", (*c)->name);
			comp_fish_sq(&f->lines, (*c)->summary);
			strbuf_addch(&f->lines, '\n');
		}
		strbuf_addch(&f->subs, '\n');
	}
	comp_each_opt(cmd, add_opt, f);
	if (!cmd)
		return;
	if (cmd->args & (CLI_ARG_FILE | CLI_ARG_DIR)) {
		cond(&f->lines, path);
		strbuf_addstr(&f->lines, cmd->args & CLI_ARG_FILE
					     ? " -F\n"
					     : " -a '(__fish_complete_directories)'\n");
	}
	static const struct {
		unsigned bit;
		const char *kind;
	} dyn[] = {
	    {CLI_ARG_VM, "vms"},     {CLI_ARG_RUNNING, "running"},
	    {CLI_ARG_SLOT, "slots"}, {CLI_ARG_TENANT, "tenants"},
	    {CLI_ARG_POOL, "pools"}, {CLI_ARG_INSTANCE, "instances"},
	};
	for (size_t i = 0; i < sizeof(dyn) / sizeof(dyn[0]); i++) {
		if (!(cmd->args & dyn[i].bit))
			continue;
		cond(&f->lines, path);
		strbuf_addf(&f->lines, " -a '(__mvmctl_values %s)'\n", dyn[i].kind);
	}
	if (cmd->args & CLI_ARG_SHELL) {
		cond(&f->lines, path);
		strbuf_addstr(&f->lines, " -a 'bash zsh fish'\n");
	}
	if (cmd->args & CLI_ARG_COMMAND) {
		cond(&f->lines, path);
		strbuf_addstr(&f->lines, " -a '(__mvmctl_subcommands (__mvmctl_args))'\n");
	}
}

static void visit(const struct command *cmd, const char *path, int depth, void *ctx)
{
	(void)depth;
	add_path(ctx, cmd, path, cmd->subcommands);
}

static const char fish_main[] =
    "# __mvmctl_walk [args]: the command path of the words before the cursor (\"exec --\"\n"
    "# past a --), or with args the positional arguments given so far\n"
    "function __mvmctl_walk\n"
    "\tset -l words (commandline -opc)\n"
    "\tset -e words[1]\n"
    "\tset -l path ''\n"
    "\tset -l args\n"
    "\tset -l skip 0\n"
    "\tfor w in $words\n"
    "\t\tif test $skip -gt 0\n"
    "\t\t\tset skip (math $skip - 1)\n"
    "\t\t\tcontinue\n"
    "\t\tend\n"
    "\t\tif test \"$w\" = --\n"
    "\t\t\tset path \"$path --\"\n"
    "\t\t\tbreak\n"
    "\t\tend\n"
    "\t\tif string match -q -- '-?*' $w\n"
    "\t\t\tstring match -q -- '*=*' $w; and continue\n"
    "\t\t\tset -l k (__mvmctl_optarg \"$path\" $w)\n"
    "\t\t\tswitch \"$k\"\n"
    "\t\t\t\tcase pair\n"
    "\t\t\t\t\tset skip 2\n"
    "\t\t\t\tcase ''\n"
    "\t\t\t\tcase '*'\n"
    "\t\t\t\t\tset skip 1\n"
    "\t\t\tend\n"
    "\t\t\tcontinue\n"
    "\t\tend\n"
    "\t\tif test (count $args) -eq 0; and contains -- $w (__mvmctl_subcommands \"$path\")\n"
    "\t\t\tset path (string trim -- \"$path $w\")\n"
    "\t\telse\n"
    "\t\t\tset -a args $w\n"
    "\t\tend\n"
    "\tend\n"
    "\tif test \"$argv[1]\" = args\n"
    "\t\tstring join ' ' -- $args\n"
    "\telse\n"
    "\t\techo $path\n"
    "\tend\n"
    "end\n"
    "\n"
    "function __mvmctl_args\n"
    "\t__mvmctl_walk args\n"
    "end\n"
    "\n"
    "# __mvmctl_at PATH: true when the command line is at the command PATH\n"
    "function __mvmctl_at\n"
    "\tset -l path (__mvmctl_walk)\n"
    "\ttest \"$path\" = \"$argv[1]\"\n"
    "end\n"
    "\n"
    "# __mvmctl_values KIND: names from the state (mvmctl __complete KIND)\n"
    "function __mvmctl_values\n"
    "\tset -l prog (commandline -opc)[1]\n"
    "\tcommand $prog __complete $argv[1] 2>/dev/null\n"
    "end\n"
    "\n"
    "complete -c mvmctl -f\n"
    "complete -c mvmctl -n 'string match -q -- \"* --\" (__mvmctl_walk)' -F\n"
    "complete -c mvm -w mvmctl\n";

void comp_write_fish(struct strbuf *out)
{
	struct fish f = {STRBUF_INIT, STRBUF_INIT, STRBUF_INIT, ""};
	add_path(&f, NULL, "", cli_commands);
	cli_walk(visit, &f);
	strbuf_addf(out,
		    "# fish completion for mvmctl and mvm (mvm %s), written by 'mvmctl completion "
		    "fish'\n# from mvmctl's command table: regenerate it, do not edit it.\n\n",
		    MVM_VERSION);
	strbuf_addstr(out, "# __mvmctl_subcommands PATH: the commands of a group ('' is the top)\n"
			   "function __mvmctl_subcommands\n\tswitch \"$argv[1]\"\n");
	strbuf_addstr(out, f.subs.buf);
	strbuf_addstr(out, "\tend\nend\n\n"
			   "# __mvmctl_optarg PATH OPTION: what the option's value is (nothing "
			   "when it takes none)\n"
			   "function __mvmctl_optarg\n\tswitch (string trim -- \"$argv[1] "
			   "$argv[2]\")\n");
	strbuf_addstr(out, f.optargs.buf);
	strbuf_addstr(out, "\tend\nend\n\n");
	strbuf_addstr(out, fish_main);
	strbuf_addch(out, '\n');
	strbuf_addstr(out, f.lines.buf);
	strbuf_release(&f.lines);
	strbuf_release(&f.optargs);
	strbuf_release(&f.subs);
}
