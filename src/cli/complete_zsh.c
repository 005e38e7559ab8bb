/* The zsh completion script (_mvmctl, for vendor-completions or any $fpath
 * directory): lookup functions written from the command table, with the
 * summaries and option help as descriptions, and one fixed function that
 * walks $words with them. */
#include <string.h>

#include "completion.h"

struct zsh {
	struct strbuf subs, opts, optargs, args;
	const char *path;
};

/* "name:description" for _describe (a colon in the name escaped) */
static void described(struct strbuf *sb, const char *name, const char *desc)
{
	struct strbuf item = STRBUF_INIT;
	for (const char *p = name; *p; p++) {
		if (*p == ':')
			strbuf_addch(&item, '\\');
		strbuf_addch(&item, *p);
	}
	strbuf_addch(&item, ':');
	size_t n = desc ? strlen(desc) : 0;
	if (n && desc[n - 1] == '.')
		n--;
	strbuf_add(&item, desc ? desc : "", n);
	strbuf_addch(sb, ' ');
	comp_sq(sb, item.buf);
	strbuf_release(&item);
}

static void add_opt(const struct opt *o, void *ctx)
{
	struct zsh *z = ctx;
	const char *word = comp_opt_word(o);
	for (int i = 0; i < 3; i++) {
		struct strbuf name = STRBUF_INIT;
		if (i == 0)
			strbuf_addf(&name, "--%s", o->long_name);
		else if (i == 1 && o->alias)
			strbuf_addf(&name, "--%s", o->alias);
		else if (i == 2 && o->short_name)
			strbuf_addf(&name, "-%c", o->short_name);
		if (!name.len)
			continue;
		if (i != 1)
			described(&z->opts, name.buf, o->help);
		if (*word) {
			struct strbuf key = STRBUF_INIT, val = STRBUF_INIT;
			strbuf_addf(&key, "%s%s%s", z->path, *z->path ? " " : "", name.buf);
			strbuf_addstr(&val, word);
			if (o->choices)
				strbuf_addf(&val, ":%s", o->choices);
			strbuf_addstr(&z->optargs, "\t(");
			comp_sq(&z->optargs, key.buf);
			strbuf_addstr(&z->optargs, ") REPLY=");
			comp_sq(&z->optargs, val.buf);
			strbuf_addstr(&z->optargs, " ;;\n");
			strbuf_release(&key);
			strbuf_release(&val);
		}
		strbuf_release(&name);
	}
}

static void add_path(struct zsh *z, const struct command *cmd, const char *path,
		     const struct command *const *subs)
{
	z->path = path;
	if (subs) {
		strbuf_addstr(&z->subs, "\t(");
		comp_sq(&z->subs, path);
		strbuf_addstr(&z->subs, ") reply=(");
		for (const struct command *const *c = subs; *c; c++)
			if (!(*c)->hidden)
				described(&z->subs, (*c)->name, (*c)->summary);
		strbuf_addstr(&z->subs, " ) ;;\n");
	}
	strbuf_addstr(&z->opts, "\t(");
	comp_sq(&z->opts, path);
	strbuf_addstr(&z->opts, ") reply=(");
	comp_each_opt(cmd, add_opt, z);
	strbuf_addstr(&z->opts, " ) ;;\n");
	if (cmd) {
		struct strbuf w = STRBUF_INIT;
		comp_args_words(&w, cmd);
		if (w.len) {
			strbuf_addstr(&z->args, "\t(");
			comp_sq(&z->args, path);
			strbuf_addstr(&z->args, ") REPLY=");
			comp_sq(&z->args, w.buf);
			strbuf_addstr(&z->args, " ;;\n");
		}
		strbuf_release(&w);
	}
}

static void visit(const struct command *cmd, const char *path, int depth, void *ctx)
{
	(void)depth;
	add_path(ctx, cmd, path, cmd->subcommands);
}

static const char zsh_main[] =
    "# _mvmctl_names: the words of _mvmctl_subcommands PATH, without descriptions\n"
    "_mvmctl_names() {\n"
    "\t_mvmctl_subcommands \"$1\"\n"
    "\tREPLY=\"${(j: :)${(@)reply%%:*}}\"\n"
    "}\n"
    "\n"
    "# _mvmctl_value KIND: completes an option's value or an argument\n"
    "_mvmctl_value() {\n"
    "\tlocal kind=$1\n"
    "\tlocal -a vals\n"
    "\tcase $kind in\n"
    "\tfile) _files ;;\n"
    "\tdir) _files -/ ;;\n"
    "\tsize) vals=(" COMP_SIZES ")\n"
    "\t\t_describe -t sizes 'size (K, M or G; a bare number is MiB)' vals ;;\n"
    "\tnumber) _message 'a number' ;;\n"
    "\tchoice:*) vals=(${=kind#choice:})\n"
    "\t\t_describe -t values 'value' vals ;;\n"
    "\tvms | running | slots | tenants | pools | instances)\n"
    "\t\tvals=(${(f)\"$(_call_program $kind ${(q)words[1]} __complete $kind 2>/dev/null)\"})\n"
    "\t\t_describe -t $kind $kind vals ;;\n"
    "\tshells) vals=(bash zsh fish)\n"
    "\t\t_describe -t shells shell vals ;;\n"
    "\t*) _message 'a value' ;;\n"
    "\tesac\n"
    "}\n"
    "\n"
    "# (cmdpath, not path: zsh ties path to PATH)\n"
    "_mvmctl() {\n"
    "\tlocal cur=${words[CURRENT]} cmdpath='' i=2 w j k REPLY\n"
    "\tlocal -a pos reply\n"
    "\twhile ((i < CURRENT)); do\n"
    "\t\tw=${words[i]}\n"
    "\t\tif [[ $w == -- ]]; then\n"
    "\t\t\t_mvmctl_args \"$cmdpath\"\n"
    "\t\t\tif [[ \" $REPLY \" == *' dashdash '* ]]; then\n"
    "\t\t\t\tshift $i words\n"
    "\t\t\t\t((CURRENT -= i))\n"
    "\t\t\t\t_normal # the guest's command line\n"
    "\t\t\t\treturn\n"
    "\t\t\tfi\n"
    "\t\telif [[ $w == -?* && $w != *=* ]]; then\n"
    "\t\t\t_mvmctl_optarg \"$cmdpath\" \"$w\"\n"
    "\t\t\tif [[ -n $REPLY ]]; then\n"
    "\t\t\t\tk=$REPLY j=$((i + 1))\n"
    "\t\t\t\tif ((j == CURRENT)); then\n"
    "\t\t\t\t\t[[ $k == pair ]] || _mvmctl_value \"$k\"\n"
    "\t\t\t\t\treturn\n"
    "\t\t\t\tfi\n"
    "\t\t\t\t[[ $k == pair ]] && ((j++))\n"
    "\t\t\t\ti=$j\n"
    "\t\t\tfi\n"
    "\t\telse\n"
    "\t\t\t_mvmctl_names \"$cmdpath\"\n"
    "\t\t\tif ((${#pos} == 0)) && [[ -n $REPLY && \" $REPLY \" == *\" $w \"* ]]; then\n"
    "\t\t\t\tcmdpath=${cmdpath:+$cmdpath }$w\n"
    "\t\t\telse\n"
    "\t\t\t\tpos+=(\"$w\")\n"
    "\t\t\tfi\n"
    "\t\tfi\n"
    "\t\t((i++))\n"
    "\tdone\n"
    "\tif [[ $cur == --*=* ]]; then\n"
    "\t\t_mvmctl_optarg \"$cmdpath\" \"${cur%%=*}\"\n"
    "\t\tcompset -P '*='\n"
    "\t\t[[ -n $REPLY && $REPLY != pair ]] && _mvmctl_value \"$REPLY\"\n"
    "\t\treturn\n"
    "\tfi\n"
    "\tif [[ $cur == -* ]]; then\n"
    "\t\t_mvmctl_options \"$cmdpath\"\n"
    "\t\t_describe -t options option reply\n"
    "\t\treturn\n"
    "\tfi\n"
    "\t_mvmctl_subcommands \"$cmdpath\"\n"
    "\tif ((${#reply})); then\n"
    "\t\t_describe -t commands command reply\n"
    "\t\treturn\n"
    "\tfi\n"
    "\t_mvmctl_args \"$cmdpath\"\n"
    "\tfor k in ${=REPLY}; do\n"
    "\t\tcase $k in\n"
    "\t\tdashdash) ;;\n"
    "\t\tcommands) _mvmctl_subcommands \"${(j: :)pos}\"\n"
    "\t\t\t((${#reply})) && _describe -t commands command reply ;;\n"
    "\t\t*) _mvmctl_value $k ;;\n"
    "\t\tesac\n"
    "\tdone\n"
    "}\n"
    "\n"
    "if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then\n"
    "\t_mvmctl \"$@\"\n"
    "elif (($+functions[compdef])); then\n"
    "\tcompdef _mvmctl mvmctl mvm\n"
    "fi\n";

void comp_write_zsh(struct strbuf *out)
{
	struct zsh z = {STRBUF_INIT, STRBUF_INIT, STRBUF_INIT, STRBUF_INIT, ""};
	add_path(&z, NULL, "", cli_commands);
	cli_walk(visit, &z);
	strbuf_addf(out,
		    "#compdef mvmctl mvm\n# zsh completion for mvmctl and mvm (mvm %s), written "
		    "by 'mvmctl completion zsh'\n# from mvmctl's command table: regenerate it, do "
		    "not edit it.\n\n",
		    MVM_VERSION);
	strbuf_addstr(out, "# _mvmctl_subcommands PATH: reply=(name:summary ...) of a group\n"
			   "_mvmctl_subcommands() {\n\tcase $1 in\n");
	strbuf_addstr(out, z.subs.buf);
	strbuf_addstr(out, "\t(*) reply=() ;;\n\tesac\n}\n\n"
			   "# _mvmctl_options PATH: reply=(option:help ...) of a command\n"
			   "_mvmctl_options() {\n\tcase $1 in\n");
	strbuf_addstr(out, z.opts.buf);
	strbuf_addstr(out, "\t(*) reply=() ;;\n\tesac\n}\n\n"
			   "# _mvmctl_optarg PATH OPTION: what the option's value is ('' when it "
			   "takes none)\n"
			   "_mvmctl_optarg() {\n\tcase \"${1:+$1 }$2\" in\n");
	strbuf_addstr(out, z.optargs.buf);
	strbuf_addstr(out, "\t(*) REPLY='' ;;\n\tesac\n}\n\n"
			   "# _mvmctl_args PATH: what a command's arguments are\n"
			   "_mvmctl_args() {\n\tcase $1 in\n");
	strbuf_addstr(out, z.args.buf);
	strbuf_addstr(out, "\t(*) REPLY='' ;;\n\tesac\n}\n\n");
	strbuf_addstr(out, zsh_main);
	strbuf_release(&z.subs);
	strbuf_release(&z.opts);
	strbuf_release(&z.optargs);
	strbuf_release(&z.args);
}
