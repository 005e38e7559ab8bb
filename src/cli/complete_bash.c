/* The bash completion script: four lookup functions written from the command
 * table (commands of a group, options of a command, what an option's value
 * is, what a command's arguments are), and one fixed function that walks
 * COMP_WORDS with them. Registered for mvmctl and mvm. */
#include <string.h>

#include "completion.h"

struct bash {
	struct strbuf subs, opts, optargs, args;
	const char *path;
};

static void add_opt(const struct opt *o, void *ctx)
{
	struct bash *b = ctx;
	const char *word = comp_opt_word(o);
	const char *names[3] = {o->long_name, o->alias, NULL};
	for (int i = 0; i < 3; i++) {
		struct strbuf name = STRBUF_INIT;
		if (i < 2 && names[i])
			strbuf_addf(&name, "--%s", names[i]);
		else if (i == 2 && o->short_name)
			strbuf_addf(&name, "-%c", o->short_name);
		if (!name.len)
			continue;
		if (i != 1) /* the alias is accepted, not offered */
			strbuf_addf(&b->opts, "%s%s",
				    b->opts.buf[b->opts.len - 1] == '\'' ? "" : " ", name.buf);
		if (*word) {
			struct strbuf key = STRBUF_INIT, val = STRBUF_INIT;
			strbuf_addf(&key, "%s%s%s", b->path, *b->path ? " " : "", name.buf);
			strbuf_addstr(&val, word);
			if (o->choices)
				strbuf_addf(&val, ":%s", o->choices);
			strbuf_addstr(&b->optargs, "\t");
			comp_sq(&b->optargs, key.buf);
			strbuf_addstr(&b->optargs, ") REPLY=");
			comp_sq(&b->optargs, val.buf);
			strbuf_addstr(&b->optargs, " ;;\n");
			strbuf_release(&key);
			strbuf_release(&val);
		}
		strbuf_release(&name);
	}
}

static void add_path(struct bash *b, const struct command *cmd, const char *path,
		     const struct command *const *subs)
{
	b->path = path;
	if (subs) {
		strbuf_addstr(&b->subs, "\t");
		comp_sq(&b->subs, path);
		strbuf_addstr(&b->subs, ") REPLY='");
		bool first = true;
		for (const struct command *const *c = subs; *c; c++) {
			if ((*c)->hidden)
				continue;
			strbuf_addf(&b->subs, "%s%s", first ? "" : " ", (*c)->name);
			first = false;
		}
		strbuf_addstr(&b->subs, "' ;;\n");
	}
	strbuf_addstr(&b->opts, "\t");
	comp_sq(&b->opts, path);
	strbuf_addstr(&b->opts, ") REPLY='");
	comp_each_opt(cmd, add_opt, b);
	strbuf_addstr(&b->opts, "' ;;\n");
	if (cmd) {
		struct strbuf w = STRBUF_INIT;
		comp_args_words(&w, cmd);
		if (w.len) {
			strbuf_addstr(&b->args, "\t");
			comp_sq(&b->args, path);
			strbuf_addstr(&b->args, ") REPLY=");
			comp_sq(&b->args, w.buf);
			strbuf_addstr(&b->args, " ;;\n");
		}
		strbuf_release(&w);
	}
}

static void visit(const struct command *cmd, const char *path, int depth, void *ctx)
{
	(void)depth;
	add_path(ctx, cmd, path, cmd->subcommands);
}

static const char bash_main[] =
    "# _mvmctl_values KIND: names from the state (mvmctl __complete KIND)\n"
    "_mvmctl_values() {\n"
    "\tcommand \"${_mvmctl_prog:-mvmctl}\" __complete \"$1\" 2>/dev/null\n"
    "}\n"
    "\n"
    "# _mvmctl_value KIND: COMPREPLY for an option's value or an argument\n"
    "_mvmctl_value() {\n"
    "\tlocal kind=$1 cur=$2 k\n"
    "\tcase $kind in\n"
    "\tfile) compopt -o filenames 2>/dev/null || true\n"
    "\t\tmapfile -t COMPREPLY < <(compgen -f -- \"$cur\") ;;\n"
    "\tdir) compopt -o filenames 2>/dev/null || true\n"
    "\t\tmapfile -t COMPREPLY < <(compgen -d -- \"$cur\") ;;\n"
    "\tsize) mapfile -t COMPREPLY < <(compgen -W '" COMP_SIZES "' -- \"$cur\") ;;\n"
    "\tchoice:*) mapfile -t COMPREPLY < <(compgen -W \"${kind#choice:}\" -- \"$cur\") ;;\n"
    "\t*) COMPREPLY=() ;;\n"
    "\tesac\n"
    "}\n"
    "\n"
    "_mvmctl() {\n"
    "\tlocal cur=${COMP_WORDS[COMP_CWORD]} path='' i=1 w j REPLY kinds k\n"
    "\tlocal -a pos=() more\n"
    "\tlocal _mvmctl_prog=${COMP_WORDS[0]}\n"
    "\tCOMPREPLY=()\n"
    "\twhile ((i < COMP_CWORD)); do\n"
    "\t\tw=${COMP_WORDS[i]}\n"
    "\t\tif [[ $w == -- ]]; then\n"
    "\t\t\t_mvmctl_args \"$path\"\n"
    "\t\t\tif [[ \" $REPLY \" == *' dashdash '* ]]; then\n"
    "\t\t\t\tcompopt -o default 2>/dev/null || true # the guest's command line\n"
    "\t\t\t\treturn 0\n"
    "\t\t\tfi\n"
    "\t\telif [[ $w == -?* && $w != *=* ]]; then\n"
    "\t\t\t_mvmctl_optarg \"$path\" \"$w\"\n"
    "\t\t\tif [[ -n $REPLY ]]; then\n"
    "\t\t\t\tk=$REPLY j=$((i + 1))\n"
    "\t\t\t\t# bash splits --mem=1G into --mem, =, 1G\n"
    "\t\t\t\t[[ ${COMP_WORDS[j]} == = ]] && ((j++))\n"
    "\t\t\t\tif ((j == COMP_CWORD)) || [[ $j -eq $((COMP_CWORD + 1)) && $cur == = ]]; then\n"
    "\t\t\t\t\t[[ $cur == = ]] && cur=''\n"
    "\t\t\t\t\t[[ $k == pair ]] || _mvmctl_value \"$k\" \"$cur\"\n"
    "\t\t\t\t\treturn 0\n"
    "\t\t\t\tfi\n"
    "\t\t\t\t[[ $k == pair ]] && ((j++))\n"
    "\t\t\t\ti=$j\n"
    "\t\t\tfi\n"
    "\t\telif [[ $w != = ]]; then\n"
    "\t\t\t_mvmctl_subcommands \"$path\"\n"
    "\t\t\tif [[ ${#pos[@]} -eq 0 && -n $REPLY && \" $REPLY \" == *\" $w \"* ]]; then\n"
    "\t\t\t\tpath=${path:+$path }$w\n"
    "\t\t\telse\n"
    "\t\t\t\tpos+=(\"$w\")\n"
    "\t\t\tfi\n"
    "\t\tfi\n"
    "\t\t((i++))\n"
    "\tdone\n"
    "\tif [[ $cur == --*=* ]]; then # COMP_WORDBREAKS without '='\n"
    "\t\t_mvmctl_optarg \"$path\" \"${cur%%=*}\"\n"
    "\t\t[[ -n $REPLY && $REPLY != pair ]] && _mvmctl_value \"$REPLY\" \"${cur#*=}\"\n"
    "\t\tCOMPREPLY=(\"${COMPREPLY[@]/#/${cur%%=*}=}\")\n"
    "\t\treturn 0\n"
    "\tfi\n"
    "\tif [[ $cur == -* ]]; then\n"
    "\t\t_mvmctl_options \"$path\"\n"
    "\t\tmapfile -t COMPREPLY < <(compgen -W \"$REPLY\" -- \"$cur\")\n"
    "\t\treturn 0\n"
    "\tfi\n"
    "\t_mvmctl_subcommands \"$path\"\n"
    "\tif [[ -n $REPLY ]]; then\n"
    "\t\tmapfile -t COMPREPLY < <(compgen -W \"$REPLY\" -- \"$cur\")\n"
    "\t\treturn 0\n"
    "\tfi\n"
    "\t_mvmctl_args \"$path\"\n"
    "\tkinds=$REPLY\n"
    "\tmore=()\n"
    "\tfor k in $kinds; do\n"
    "\t\tcase $k in\n"
    "\t\tfile | dir) _mvmctl_value \"$k\" \"$cur\"\n"
    "\t\t\tmore+=(\"${COMPREPLY[@]}\") ;;\n"
    "\t\tvms | running | slots | tenants | pools | instances)\n"
    "\t\t\tmapfile -t COMPREPLY < <(compgen -W \"$(_mvmctl_values \"$k\")\" -- \"$cur\")\n"
    "\t\t\tmore+=(\"${COMPREPLY[@]}\") ;;\n"
    "\t\tcommands) _mvmctl_subcommands \"${pos[*]}\"\n"
    "\t\t\tmapfile -t COMPREPLY < <(compgen -W \"$REPLY\" -- \"$cur\")\n"
    "\t\t\tmore+=(\"${COMPREPLY[@]}\") ;;\n"
    "\t\tshells) mapfile -t COMPREPLY < <(compgen -W 'bash zsh fish' -- \"$cur\")\n"
    "\t\t\tmore+=(\"${COMPREPLY[@]}\") ;;\n"
    "\t\tesac\n"
    "\tdone\n"
    "\tCOMPREPLY=(\"${more[@]}\")\n"
    "\treturn 0\n"
    "}\n"
    "\n"
    "complete -F _mvmctl mvmctl mvm\n";

void comp_write_bash(struct strbuf *out)
{
	struct bash b = {STRBUF_INIT, STRBUF_INIT, STRBUF_INIT, STRBUF_INIT, ""};
	add_path(&b, NULL, "", cli_commands);
	cli_walk(visit, &b);
	strbuf_addf(out,
		    "# bash completion for mvmctl and mvm (mvm %s), written by 'mvmctl completion "
		    "bash'\n# from mvmctl's command table: regenerate it, do not edit it.\n\n",
		    MVM_VERSION);
	strbuf_addstr(out, "# _mvmctl_subcommands PATH: the commands of a group ('' is the top)\n"
			   "_mvmctl_subcommands() {\n\tcase $1 in\n");
	strbuf_addstr(out, b.subs.buf);
	strbuf_addstr(out, "\t*) REPLY='' ;;\n\tesac\n}\n\n"
			   "# _mvmctl_options PATH: the options of a command\n"
			   "_mvmctl_options() {\n\tcase $1 in\n");
	strbuf_addstr(out, b.opts.buf);
	strbuf_addstr(out, "\t*) REPLY='' ;;\n\tesac\n}\n\n"
			   "# _mvmctl_optarg PATH OPTION: what the option's value is (string, "
			   "number, size, file, dir,\n# choice:WORDS, pair: two words; '' when it "
			   "takes none)\n"
			   "_mvmctl_optarg() {\n\tcase \"${1:+$1 }$2\" in\n");
	strbuf_addstr(out, b.optargs.buf);
	strbuf_addstr(out, "\t*) REPLY='' ;;\n\tesac\n}\n\n"
			   "# _mvmctl_args PATH: what a command's arguments are\n"
			   "_mvmctl_args() {\n\tcase $1 in\n");
	strbuf_addstr(out, b.args.buf);
	strbuf_addstr(out, "\t*) REPLY='' ;;\n\tesac\n}\n\n");
	strbuf_addstr(out, bash_main);
	strbuf_release(&b.subs);
	strbuf_release(&b.opts);
	strbuf_release(&b.optargs);
	strbuf_release(&b.args);
}
