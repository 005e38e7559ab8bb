#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/size.h"
#include "core/util.h"

/* Options every command accepts. */
static bool opt_help;

static const struct opt global_opts[] = {
    {.type = OPT_BOOL, .long_name = "json", .help = "print JSON on stdout"},
    {.type = OPT_BOOL, .short_name = 'q', .long_name = "quiet", .help = "only errors on stderr"},
    {.type = OPT_BOOL, .short_name = 'v', .long_name = "verbose", .help = "more detail on stderr"},
    {.type = OPT_BOOL,
     .short_name = 'h',
     .long_name = "help",
     .value = &opt_help,
     .help = "show this help"},
    OPT_END_(),
};

static bool *global_target(struct cli *cli, const struct opt *o)
{
	if (!strcmp(o->long_name, "json"))
		return &cli->json;
	if (!strcmp(o->long_name, "quiet"))
		return &cli->quiet;
	if (!strcmp(o->long_name, "verbose"))
		return &cli->verbose;
	return &opt_help;
}

static const struct opt *find_long(const struct opt *opts, const char *name, size_t len)
{
	for (const struct opt *o = opts; o && o->type != OPT_END; o++) {
		if (strlen(o->long_name) == len && !strncmp(o->long_name, name, len))
			return o;
		if (o->alias && strlen(o->alias) == len && !strncmp(o->alias, name, len))
			return o;
	}
	return NULL;
}

static const struct opt *find_short(const struct opt *opts, char c)
{
	for (const struct opt *o = opts; o && o->type != OPT_END; o++)
		if (o->short_name && o->short_name == c)
			return o;
	return NULL;
}

static int take_value(struct cli *cli, const struct opt *o, const char *shown, const char *val)
{
	switch (o->type) {
	case OPT_STRING:
		*(const char **)o->value = val;
		break;
	case OPT_STRING_LIST:
		strvec_push(o->value, val);
		break;
	case OPT_INT: {
		long long v;
		int r = parse_int64(val, o->min, o->max, &v);
		if (r < 0)
			return cli_usage_error(cli,
					       "%s expects an integer from %lld to %lld, got '%s'",
					       shown, o->min, o->max, val);
		*(long long *)o->value = v;
		break;
	}
	case OPT_SIZE: {
		uint64_t mib;
		if (size_parse_mib(val, &mib) < 0)
			return cli_usage_error(
			    cli,
			    "%s expects a size such as 512M or 2G (a bare number "
			    "is MiB), got '%s'",
			    shown, val);
		*(uint64_t *)o->value = mib;
		break;
	}
	default:
		break;
	}
	if (o->given)
		*o->given = true;
	return 0;
}

int cli_parse_opts(struct cli *cli, const struct command *cmd, int argc, char **argv,
		   struct strvec *args)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			if (!cmd->accepts_dashdash) {
				for (i++; i < argc; i++)
					strvec_push(args, argv[i]);
				break;
			}
			cli->dashdash = true;
			for (i++; i < argc; i++)
				strvec_push(&cli->rest, argv[i]);
			break;
		}
		if (a[0] != '-' || a[1] == '\0') {
			strvec_push(args, a);
			continue;
		}
		const struct opt *o = NULL;
		const char *inline_val = NULL;
		_cleanup_free_ char *shown = NULL;
		if (a[1] == '-') {
			const char *name = a + 2;
			const char *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			o = find_long(cmd->opts, name, len);
			if (!o)
				o = find_long(global_opts, name, len);
			inline_val = eq ? eq + 1 : NULL;
			shown = xasprintf("--%.*s", (int)len, name);
		} else {
			o = find_short(cmd->opts, a[1]);
			if (!o)
				o = find_short(global_opts, a[1]);
			if (a[2] != '\0') {
				if (o && o->type == OPT_BOOL) {
					/* -it: a cluster of flags */
					for (const char *c = a + 1; *c; c++) {
						const struct opt *f = find_short(cmd->opts, *c);
						if (!f)
							f = find_short(global_opts, *c);
						if (!f || f->type != OPT_BOOL)
							return cli_usage_error(
							    cli, "unknown option '-%c'", *c);
						bool *t =
						    f->value ? f->value : global_target(cli, f);
						*t = true;
					}
					continue;
				}
				inline_val = a + 2;
			}
			shown = xasprintf("-%c", a[1]);
		}
		if (!o)
			return cli_usage_error(cli, "unknown option '%s'", shown);
		if (o->type == OPT_BOOL) {
			if (inline_val)
				return cli_usage_error(cli, "%s takes no value", shown);
			bool *t = o->value ? o->value : global_target(cli, o);
			*t = true;
			continue;
		}
		if (o->type == OPT_PAIR_LIST) {
			if (inline_val || i + 2 >= argc)
				return cli_usage_error(cli, "%s expects two arguments: %s", shown,
						       o->argh ? o->argh : "NAME VALUE");
			strvec_push(o->value, argv[i + 1]);
			strvec_push(o->value, argv[i + 2]);
			i += 2;
			continue;
		}
		const char *val = inline_val;
		if (!val) {
			if (i + 1 >= argc)
				return cli_usage_error(cli, "%s expects a value (%s)", shown,
						       o->argh ? o->argh : "VALUE");
			val = argv[++i];
		}
		int r = take_value(cli, o, shown, val);
		if (r)
			return r;
	}
	if (opt_help)
		return -2; /* the dispatcher prints help */
	return 0;
}

const struct opt *cli_global_opts(void)
{
	return global_opts;
}
