#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/fs.h"
#include "core/paths.h"
#include "core/rstore.h"
#include "core/util.h"

bool cli_color(int fd)
{
	const char *nc = getenv("NO_COLOR"), *cc = getenv("CLICOLOR"), *term = getenv("TERM");
	if ((nc && *nc) || (cc && !strcmp(cc, "0")) || (term && !strcmp(term, "dumb")))
		return false;
	return isatty(fd);
}

void cli_json(struct cli *cli, json_t *obj)
{
	(void)cli;
	json_t *out = json_object();
	json_object_set_new(out, "schema_version", json_integer(1));
	json_object_update(out, obj);
	json_decref(obj);
	char *s = json_dumps(out, JSON_PRESERVE_ORDER | JSON_COMPACT);
	if (s) {
		fputs(s, stdout);
		fputc('\n', stdout);
		free(s);
	}
	fflush(stdout);
	json_decref(out);
}

static void vmsg(struct cli *cli, const char *kind, const char *fmt, va_list ap)
{
	struct strbuf sb = STRBUF_INIT;
	if (kind)
		strbuf_addf(&sb, "%s: %s: ", cli->prog, kind);
	strbuf_vaddf(&sb, fmt, ap);
	strbuf_addch(&sb, '\n');
	fwrite(sb.buf, 1, sb.len, stderr);
	strbuf_release(&sb);
}

void cli_warn(struct cli *cli, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(cli, "warning", fmt, ap);
	va_end(ap);
}

void cli_note(struct cli *cli, const char *fmt, ...)
{
	if (cli->quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	vmsg(cli, NULL, fmt, ap);
	va_end(ap);
}

void cli_progress(void *ctx, const char *phase, double seconds)
{
	struct cli *cli = ctx;
	if (!cli->phases)
		cli->phases = json_object();
	json_object_set_new(cli->phases, phase, json_real(seconds));
	cli_note(cli, "%-9s %.2f s", phase, seconds);
}

void cli_print_error(struct cli *cli, const struct err *e)
{
	const char *msg = e->msg ? e->msg : "failed";
	if (cli->json) {
		json_t *err = json_pack("{s:s, s:s}", "code", err_code_name(e), "message", msg);
		if (e->hint)
			json_object_set_new(err, "hint", json_string(e->hint));
		json_t *doc = json_pack("{s:i, s:o}", "schema_version", 1, "error", err);
		char *s = json_dumps(doc, JSON_PRESERVE_ORDER | JSON_COMPACT);
		fprintf(stderr, "%s\n", s ? s : "");
		free(s);
		json_decref(doc);
		return;
	}
	fprintf(stderr, "%s: error: %s\n", cli->prog, msg);
	if (e->hint)
		fprintf(stderr, "hint: %s\n", e->hint);
}

int cli_usage_error(struct cli *cli, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	const char *path = cli->path ? cli->path : "";
	if (cli->json) {
		struct err e = ERR_INIT;
		err_set(&e, -EINVAL, EXIT_USAGE, "%s", sb.buf);
		if (cli->cmd)
			err_hint(&e, "run '%s %s --help'", cli->prog, path);
		else
			err_hint(&e, "run '%s help'", cli->prog);
		cli_print_error(cli, &e);
		err_release(&e);
	} else {
		fprintf(stderr, "%s: error: %s\n", cli->prog, sb.buf);
		if (cli->cmd && cli->cmd->usage)
			fprintf(stderr, "usage: %s %s %s\n", cli->prog, path, cli->cmd->usage);
		if (cli->cmd)
			fprintf(stderr, "Run '%s %s --help' for more.\n", cli->prog, path);
		else
			fprintf(stderr, "Run '%s help' for the list of commands.\n", cli->prog);
	}
	strbuf_release(&sb);
	return EXIT_USAGE;
}

const struct command *cli_find(const struct command *const *table, const char *name)
{
	for (; *table; table++)
		if (!strcmp((*table)->name, name))
			return *table;
	return NULL;
}

/* Runs one command (or descends into a noun group). */
/* Before a command reads or writes state: $MVM_HOME is the user's own and
 * private, and what a killed command left in its tmp/ (a secrets file being
 * set, a staging tree) goes now, not at some later build. help and version
 * touch no state; `cache` commands report and remove leftovers themselves
 * (`cache prune --dry-run` shows them). */
static int home_check(struct cli *cli, const struct command *cmd)
{
	if (!strcmp(cmd->name, "help") || !strcmp(cmd->name, "version"))
		return 0;
	int r = paths_check_home(&cli->err);
	if (r < 0 || !strncmp(cli->path, "cache ", 6))
		return r;
	struct err e = ERR_INIT;
	rstore_sweep_tmp(false, NULL, NULL, &e); /* best effort: the next command tries again */
	err_release(&e);
	return 0;
}

static int dispatch(struct cli *cli, const struct command *const *table, const char *prefix,
		    int argc, char **argv)
{
	const struct command *cmd = cli_find(table, argv[0]);
	_cleanup_free_ char *path = prefix ? xasprintf("%s %s", prefix, argv[0]) : xstrdup(argv[0]);
	if (!cmd) {
		if (prefix)
			return cli_usage_error(cli, "unknown command '%s %s'", prefix, argv[0]);
		return cli_usage_error(cli, "unknown command '%s'", argv[0]);
	}
	cli->cmd = cmd;
	cli->path = path;
	if (cmd->subcommands) {
		/* group-level flags (-h, --json) may come before the subcommand */
		int i = 1;
		for (; i < argc && argv[i][0] == '-'; i++) {
			if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
				cli_print_help(cli, cmd, path, stdout);
				return 0;
			}
			if (!strcmp(argv[i], "--json"))
				cli->json = true;
			else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
				cli->quiet = true;
			else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
				cli->verbose = true;
			else
				return cli_usage_error(cli, "unknown option '%s'", argv[i]);
		}
		if (i >= argc)
			return cli_usage_error(cli, "'%s' needs a subcommand", path);
		int r = dispatch(cli, cmd->subcommands, path, argc - i, argv + i);
		cli->path = NULL; /* path is freed on return */
		return r;
	}
	struct strvec args = STRVEC_INIT;
	int r = cli_parse_opts(cli, cmd, argc - 1, argv + 1, &args);
	if (r == -2) {
		cli_print_help(cli, cmd, path, stdout);
		r = 0;
		goto out;
	}
	if (r)
		goto out;
	if ((int)args.n < cmd->min_args) {
		r = cli_usage_error(cli, "missing argument");
		goto out;
	}
	if (cmd->max_args >= 0 && (int)args.n > cmd->max_args) {
		r = cli_usage_error(cli, "unexpected argument '%s'", args.v[cmd->max_args]);
		goto out;
	}
	r = home_check(cli, cmd);
	if (r == 0)
		r = cmd->run(cli, (int)args.n, args.v ? args.v : (char *[]){NULL});
	if (r < 0) {
		if (!err_isset(&cli->err))
			err_set(&cli->err, r, EXIT_FAILED, "%s failed", path);
		cli_print_error(cli, &cli->err);
		r = cli->err.exit ? cli->err.exit : EXIT_FAILED;
	}
out:
	strvec_clear(&args);
	cli->path = NULL;
	return r;
}

int cli_main(int argc, char **argv)
{
	struct cli cli = {.exe = argv[0], .err = ERR_INIT};
	_cleanup_free_ char *base = fs_basename(argv[0] ? argv[0] : "mvmctl");
	cli.prog = !strcmp(base, "mvm") ? "mvm" : "mvmctl";

	int i = 1;
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--version")) {
			printf("%s %s\n", cli.prog, MVM_VERSION);
			return 0;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			cli_print_overview(&cli, stdout);
			return 0;
		} else if (!strcmp(a, "--json")) {
			cli.json = true;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			cli.quiet = true;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			cli.verbose = true;
		} else {
			return cli_usage_error(&cli, "unknown option '%s'", a);
		}
	}
	if (i >= argc) {
		cli_print_overview(&cli, stderr);
		return EXIT_USAGE;
	}
	int r = dispatch(&cli, cli_commands, NULL, argc - i, argv + i);
	fflush(stdout);
	strvec_clear(&cli.rest);
	err_release(&cli.err);
	json_decref(cli.phases);
	return r;
}
