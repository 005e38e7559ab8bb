/* Manual pages in roff (man(7) macros), written from the command table like
 * help.c's text: mvmctl(1), mvm(1) for the fleet alias, and one page per
 * command path, mvmctl-<path with '-' for ' '>(1). `make man` runs
 * `mvmctl help --man PATH` for every path `mvmctl __complete paths` lists. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/strbuf.h"

/* Text for roff: backslashes and '-' escaped, a '.' or '\'' starting a line
 * made literal, and every non-ASCII character as a glyph name (groff reads its
 * input as Latin-1, where UTF-8's continuation bytes are invalid): the few the
 * table uses by names every device renders, others by code point (é as
 * \[u00E9]). */
static void roff_escape(struct strbuf *sb, const char *s, size_t n)
{
	bool bol = sb->len == 0 || sb->buf[sb->len - 1] == '\n';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (bol && (c == '.' || c == '\''))
			strbuf_addstr(sb, "\\&");
		bol = false;
		if (c == '\\') {
			strbuf_addstr(sb, "\\e");
		} else if (c == '-') {
			strbuf_addstr(sb, "\\-");
		} else if (c == '\n') {
			strbuf_addch(sb, '\n');
			bol = true;
		} else if (c < 0x80) {
			strbuf_addch(sb, (char)c);
		} else {
			unsigned cp = 0;
			size_t extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
			cp = extra == 3 ? c & 0x07 : extra == 2 ? c & 0x0f : c & 0x1f;
			size_t j = 0;
			for (; j < extra && i + 1 + j < n; j++) {
				unsigned char d = (unsigned char)s[i + 1 + j];
				if ((d & 0xc0) != 0x80)
					break;
				cp = (cp << 6) | (d & 0x3f);
			}
			if (!extra || j < extra) {
				strbuf_addstr(sb, "?"); /* not UTF-8: never in our own table */
				continue;
			}
			i += extra;
			/* glyphs every output device has (-Tascii too, as man -l in the C locale)
			 */
			if (cp == 0x2026)
				strbuf_addstr(sb, "...");
			else if (cp == 0x2014)
				strbuf_addstr(sb, "\\(em");
			else if (cp == 0x2013)
				strbuf_addstr(sb, "\\(en");
			else if (cp == 0x2192)
				strbuf_addstr(sb, "\\(->");
			else
				strbuf_addf(sb, "\\[u%04X]", cp);
		}
	}
}

static void esc(struct strbuf *sb, const char *s)
{
	roff_escape(sb, s, strlen(s));
}

/* "pool scale" -> "mvmctl\-pool\-scale" */
static void page_ref(struct strbuf *sb, const char *path)
{
	strbuf_addstr(sb, "mvmctl");
	const char *p = path;
	while (*p) {
		const char *sp = strchrnul(p, ' ');
		strbuf_addstr(sb, "\\-");
		roff_escape(sb, p, (size_t)(sp - p));
		p = *sp ? sp + 1 : sp;
	}
}

/* ".BR mvmctl\-up (1)" lines, comma-separated as man-pages(7) has them */
static void see_also(struct strbuf *sb, const char *const *refs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		strbuf_addstr(sb, ".BR ");
		strbuf_addstr(sb, refs[i]);
		strbuf_addstr(sb, i + 1 < n ? " (1),\n" : " (1)\n");
	}
}

static void summary_line(struct strbuf *sb, const char *summary)
{
	size_t n = strlen(summary);
	if (n && summary[n - 1] == '.')
		n--;
	roff_escape(sb, summary, n);
}

static void th(struct strbuf *sb, const char *name_upper)
{
	strbuf_addf(sb, ".TH \"%s\" \"1\" \"\" \"mvm %s\" \"mvm manual\"\n", name_upper,
		    MVM_VERSION);
	strbuf_addstr(sb, ".nh\n.ad l\n"); /* command names are not hyphenated */
}

static void option(struct strbuf *sb, const struct opt *o)
{
	strbuf_addstr(sb, ".TP\n");
	if (o->short_name)
		strbuf_addf(sb, "\\fB\\-%c\\fR, ", o->short_name);
	strbuf_addstr(sb, "\\fB\\-\\-");
	esc(sb, o->long_name);
	strbuf_addstr(sb, "\\fR");
	if (cli_opt_argh(o)) {
		strbuf_addstr(sb, " \\fI");
		esc(sb, cli_opt_argh(o));
		strbuf_addstr(sb, "\\fR");
	}
	strbuf_addch(sb, '\n');
	esc(sb, o->help ? o->help : "");
	if (o->alias) {
		strbuf_addstr(sb, " (also \\fB\\-\\-");
		esc(sb, o->alias);
		strbuf_addstr(sb, "\\fR)");
	}
	strbuf_addch(sb, '\n');
}

static void options(struct strbuf *sb, const struct opt *opts, bool version)
{
	strbuf_addstr(sb, ".SH OPTIONS\n");
	for (const struct opt *o = opts; o && o->type != OPT_END; o++)
		if (!o->hidden)
			option(sb, o);
	if (version)
		strbuf_addstr(sb, ".TP\n\\fB\\-\\-version\\fR\nprint the version and exit\n");
	for (const struct opt *o = cli_global_opts(); o->type != OPT_END; o++)
		option(sb, o);
}

/* Lines as they are, indented ("mvmctl up \-d"). */
static void verbatim(struct strbuf *sb, const char *text, const char *prog)
{
	strbuf_addstr(sb, ".PP\n.RS 4\n.nf\n");
	const char *p = text;
	while (*p) {
		const char *nl = strchrnul(p, '\n');
		if (prog && !strncmp(p, "mvmctl ", 7)) { /* mvm(1) shows its own name */
			esc(sb, prog);
			p += 6;
		}
		roff_escape(sb, p, (size_t)(nl - p));
		strbuf_addch(sb, '\n');
		p = *nl ? nl + 1 : nl;
	}
	strbuf_addstr(sb, ".fi\n.RE\n");
}

/* "NAME   what it does" lines (continuations indented) as a tagged list. */
static void environment(struct strbuf *sb, const char *text)
{
	strbuf_addstr(sb, ".SH ENVIRONMENT\n");
	const char *p = text;
	while (*p) {
		const char *nl = strchrnul(p, '\n');
		const char *sp = p;
		while (sp < nl && *sp != ' ' && *sp != '\t')
			sp++;
		const char *rest = sp;
		while (rest < nl && (*rest == ' ' || *rest == '\t'))
			rest++;
		if (p[0] == ' ' || p[0] == '\t') { /* continues the one before */
			roff_escape(sb, rest, (size_t)(nl - rest));
			strbuf_addch(sb, '\n');
		} else {
			strbuf_addstr(sb, ".TP\n.B ");
			roff_escape(sb, p, (size_t)(sp - p));
			strbuf_addch(sb, '\n');
			roff_escape(sb, rest, (size_t)(nl - rest));
			strbuf_addch(sb, '\n');
		}
		p = *nl ? nl + 1 : nl;
	}
}

/* Filled text; lines of the table's strings are joined (they wrap prose). */
static void paragraph(struct strbuf *sb, const char *text)
{
	strbuf_addstr(sb, ".PP\n");
	esc(sb, text);
	strbuf_addch(sb, '\n');
}

struct refs {
	struct strbuf names[64];
	size_t n;
};

static void refs_add(struct refs *r, const char *path)
{
	if (r->n >= sizeof(r->names) / sizeof(r->names[0]))
		return;
	r->names[r->n] = (struct strbuf)STRBUF_INIT;
	if (path)
		page_ref(&r->names[r->n], path);
	else
		strbuf_addstr(&r->names[r->n], "mvmctl");
	r->n++;
}

static void refs_print(struct strbuf *sb, struct refs *r)
{
	const char *v[64];
	for (size_t i = 0; i < r->n; i++)
		v[i] = r->names[i].buf;
	strbuf_addstr(sb, ".SH SEE ALSO\n");
	see_also(sb, v, r->n);
	for (size_t i = 0; i < r->n; i++)
		strbuf_release(&r->names[i]);
	r->n = 0;
}

static void command_page(struct cli *cli, const struct command *cmd, const char *path,
			 struct strbuf *sb)
{
	(void)cli;
	struct strbuf upper = STRBUF_INIT;
	strbuf_addstr(&upper, "MVMCTL");
	for (const char *p = path; *p; p++) {
		if (*p == ' ' || p == path)
			strbuf_addstr(&upper, "\\-");
		if (*p == '-')
			strbuf_addstr(&upper, "\\-");
		else if (*p != ' ')
			strbuf_addch(&upper, (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p));
	}
	th(sb, upper.buf);
	strbuf_release(&upper);

	strbuf_addstr(sb, ".SH NAME\n");
	page_ref(sb, path);
	strbuf_addstr(sb, " \\- ");
	summary_line(sb, cmd->summary);
	strbuf_addstr(sb, "\n.SH SYNOPSIS\n\\fBmvmctl ");
	esc(sb, path);
	strbuf_addstr(sb, "\\fR ");
	if (cmd->subcommands)
		strbuf_addstr(sb, "\\fICOMMAND\\fR [\\fIOPTIONS\\fR]");
	else
		esc(sb, cmd->usage ? cmd->usage : "");
	strbuf_addstr(sb, "\n.SH DESCRIPTION\n");
	esc(sb, cmd->summary);
	strbuf_addch(sb, '\n');
	if (cmd->description)
		paragraph(sb, cmd->description);
	if (cmd->subcommands) {
		strbuf_addstr(sb, ".SH COMMANDS\n");
		for (const struct command *const *c = cmd->subcommands; *c; c++) {
			if ((*c)->hidden)
				continue;
			struct strbuf sub = STRBUF_INIT;
			strbuf_addf(&sub, "%s %s", path, (*c)->name);
			strbuf_addstr(sb, ".TP\n.B ");
			esc(sb, (*c)->name);
			strbuf_addch(sb, '\n');
			esc(sb, (*c)->summary);
			strbuf_addstr(sb, " See\n.BR ");
			page_ref(sb, sub.buf);
			strbuf_addstr(sb, " (1).\n");
			strbuf_release(&sub);
		}
	}
	options(sb, cmd->opts, false);

	strbuf_addstr(sb, ".SH EXAMPLES\n");
	if (cmd->examples) {
		verbatim(sb, cmd->examples, NULL);
	} else { /* a group: the first example of each of its commands */
		struct strbuf ex = STRBUF_INIT;
		for (const struct command *const *c = cmd->subcommands; c && *c; c++) {
			if ((*c)->hidden || !(*c)->examples)
				continue;
			const char *nl = strchrnul((*c)->examples, '\n');
			strbuf_add(&ex, (*c)->examples, (size_t)(nl - (*c)->examples));
			strbuf_addch(&ex, '\n');
		}
		strbuf_rtrim(&ex);
		if (ex.len)
			verbatim(sb, ex.buf, NULL);
		else
			paragraph(sb, "None.");
		strbuf_release(&ex);
	}
	environment(sb, cmd->environment ? cmd->environment : cli_default_environment);
	strbuf_addstr(sb, ".SH EXIT STATUS\n");
	esc(sb, cmd->exit_status ? cmd->exit_status : cli_default_exit_status);
	strbuf_addch(sb, '\n');

	/* the page above, then: a group's commands; a grouped command's siblings; a
	 * top-level verb's fellow verbs */
	struct refs r = {.n = 0};
	const char *sp = strrchr(path, ' ');
	struct strbuf parent = STRBUF_INIT;
	if (sp)
		strbuf_add(&parent, path, (size_t)(sp - path));
	refs_add(&r, sp ? parent.buf : NULL);
	const struct command *up = sp ? cli_find_path(parent.buf) : NULL;
	const struct command *const *list = cmd->subcommands ? cmd->subcommands
					    : up	     ? up->subcommands
							     : NULL;
	const char *base = cmd->subcommands ? path : sp ? parent.buf : NULL;
	for (const struct command *const *c = list; c && *c; c++) {
		if ((*c)->hidden || *c == cmd)
			continue;
		struct strbuf p = STRBUF_INIT;
		strbuf_addf(&p, "%s %s", base, (*c)->name);
		refs_add(&r, p.buf);
		strbuf_release(&p);
	}
	for (const struct command *const *c = list ? NULL : cli_commands; c && *c; c++)
		if (!(*c)->hidden && !(*c)->subcommands && *c != cmd)
			refs_add(&r, (*c)->name);
	refs_print(sb, &r);
	strbuf_release(&parent);
}

struct env_names {
	struct strbuf text;
	struct strbuf seen; /* " NAME " for each */
};

static void collect_env(const struct command *cmd, const char *path, int depth, void *ctx)
{
	(void)path, (void)depth;
	struct env_names *en = ctx;
	const char *p = cmd->environment ? cmd->environment : "";
	while (*p) {
		const char *nl = strchrnul(p, '\n');
		const char *sp = p;
		while (sp < nl && *sp != ' ' && *sp != '=')
			sp++;
		struct strbuf key = STRBUF_INIT;
		strbuf_addch(&key, ' ');
		strbuf_add(&key, p, (size_t)(sp - p));
		strbuf_addch(&key, ' ');
		bool first_line = p[0] != ' ' && p[0] != '\t';
		if (first_line && sp > p && !strstr(en->seen.buf, key.buf)) {
			strbuf_addstr(&en->seen, key.buf + 1);
			/* the name and what it is, as the command's help says it */
			const char *e = sp;
			while (e < nl && *e != ' ')
				e++;
			strbuf_add(&en->text, p, (size_t)(e - p));
			strbuf_addstr(&en->text, "  ");
			while (e < nl && *e == ' ')
				e++;
			strbuf_add(&en->text, e, (size_t)(nl - e));
			strbuf_addch(&en->text, '\n');
		}
		strbuf_release(&key);
		p = *nl ? nl + 1 : nl;
	}
}

static void overview_page(struct cli *cli, struct strbuf *sb)
{
	bool alias = !strcmp(cli->prog, "mvm");
	th(sb, alias ? "MVM" : "MVMCTL");
	strbuf_addstr(sb, ".SH NAME\n");
	if (alias)
		strbuf_addstr(sb, "mvm \\- mvmctl under the name of the fleet commands\n");
	else
		strbuf_addstr(sb, "mvmctl \\- build and run microVMs from a Nix flake and a small "
				  "manifest\n");
	strbuf_addstr(sb, ".SH SYNOPSIS\n\\fB");
	esc(sb, cli->prog);
	strbuf_addstr(sb, "\\fR [\\fB\\-\\-version\\fR] [\\fB\\-\\-json\\fR] [\\fB\\-q\\fR] "
			  "[\\fB\\-v\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]\n");
	strbuf_addstr(sb, ".SH DESCRIPTION\n");
	if (alias)
		strbuf_addstr(
		    sb, "\\fBmvm\\fR is \\fBmvmctl\\fR installed under a second name (a link): it "
			"behaves the same and names itself mvm in its messages. It serves the "
			"fleet commands: tenants with quotas and secrets, their pools of "
			"instances built from one flake, and the instances themselves, which "
			"run, sit warm (vCPUs paused), sleep (saved to disk) or stop.\n");
	else
		strbuf_addstr(
		    sb, "\\fBmvmctl\\fR turns a Nix flake plus a small manifest (mvm.toml) into a "
			"microVM and runs it under QEMU: one VM per project for developers, "
			"and fleets of VMs kept running, warm or sleeping for operators. It is "
			"also installed as \\fBmvm\\fR.\n");
	strbuf_addstr(sb, ".PP\nEach command has its own page, named after its path: \\fB");
	strbuf_addstr(sb, "mvmctl\\-up\\fR(1), \\fBmvmctl\\-pool\\-scale\\fR(1). The same text "
			  "is printed by \\fB");
	esc(sb, cli->prog);
	strbuf_addstr(sb, " help\\fR \\fICOMMAND\\fR.\n.SH COMMANDS\n");
	for (const struct command *const *c = cli_commands; *c; c++) {
		if ((*c)->hidden)
			continue;
		strbuf_addstr(sb, ".TP\n.BR ");
		page_ref(sb, (*c)->name);
		strbuf_addstr(sb, " (1)\n");
		esc(sb, (*c)->summary);
		strbuf_addch(sb, '\n');
	}
	options(sb, NULL, true);

	strbuf_addstr(sb, ".SH EXAMPLES\n");
	struct strbuf ex = STRBUF_INIT;
	static const char *const daily[] = {"init", "build", "up", "exec", "down", NULL};
	static const char *const fleet[] = {"tenant create", "pool create", "pool build",
					    "pool scale",    "instance ls", NULL};
	for (const char *const *n = alias ? fleet : daily; *n; n++) {
		const struct command *c = cli_find_path(*n);
		if (!c || !c->examples)
			continue;
		const char *nl = strchrnul(c->examples, '\n');
		strbuf_add(&ex, c->examples, (size_t)(nl - c->examples));
		strbuf_addch(&ex, '\n');
	}
	strbuf_rtrim(&ex);
	verbatim(sb, ex.buf, alias ? "mvm" : NULL);
	strbuf_release(&ex);

	struct env_names en = {.text = STRBUF_INIT, .seen = STRBUF_INIT};
	strbuf_addstr(&en.text, cli_default_environment);
	strbuf_addstr(&en.text,
		      "\nMVM_CONFIG   another config.toml (default $MVM_HOME/config.toml)\n");
	strbuf_addstr(&en.seen, " MVM_HOME NO_COLOR MVM_CONFIG ");
	cli_walk(collect_env, &en);
	strbuf_rtrim(&en.text);
	environment(sb, en.text.buf);
	strbuf_release(&en.text);
	strbuf_release(&en.seen);
	strbuf_addstr(sb, ".SH EXIT STATUS\n");
	esc(sb, cli_default_exit_status);
	strbuf_addstr(sb, "\n.PP\n\\fBexec\\fR and \\fBrun\\fR pass the guest command's status "
			  "through; see \\fBmvmctl\\-exec\\fR(1).\n");

	struct refs r = {.n = 0};
	if (alias)
		refs_add(&r, NULL);
	for (const struct command *const *c = cli_commands; *c; c++) {
		bool fleet_cmd = !strcmp((*c)->name, "tenant") || !strcmp((*c)->name, "pool") ||
				 !strcmp((*c)->name, "instance") || !strcmp((*c)->name, "host");
		if (!(*c)->hidden && (!alias || fleet_cmd))
			refs_add(&r, (*c)->name);
	}
	refs_print(sb, &r);
	if (!alias)
		strbuf_addstr(sb, ".PP\n.BR mvm (1)\n");
}

void cli_write_man(struct cli *cli, const struct command *cmd, const char *path, FILE *out)
{
	struct strbuf sb = STRBUF_INIT;
	if (cmd)
		command_page(cli, cmd, path, &sb);
	else
		overview_page(cli, &sb);
	fwrite(sb.buf, 1, sb.len, out);
	strbuf_release(&sb);
}
