/* The command-line frame: the command table, option parsing, help, and the
 * one place that prints errors and JSON. Every verb plugs in with a
 * `const struct command` and a run function; options live in a static table
 * next to it so help (and completion) come from the same data as parsing. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/strvec.h"

enum opt_type {
	OPT_END = 0,
	OPT_BOOL,	 /* bool *                               */
	OPT_STRING,	 /* const char ** (last one wins)         */
	OPT_INT,	 /* long long *, within [min, max]        */
	OPT_SIZE,	 /* uint64_t * MiB; bare integers are MiB; *set_flag marks it given */
	OPT_STRING_LIST, /* struct strvec *, repeatable            */
	OPT_PAIR_LIST,	 /* struct strvec *, "--x NAME VALUE" pushes NAME then VALUE */
};

struct opt {
	enum opt_type type;
	char short_name;
	const char *long_name;
	void *value;
	const char *argh; /* "NAME" in help */
	const char *help;
	long long min, max; /* OPT_INT */
	bool *given;	    /* set true when the option appears (OPT_INT, OPT_SIZE, OPT_STRING) */
	const char *alias;  /* another accepted long name (--cpus for --vcpus) */
};

#define OPT_BOOL_(s, l, v, h)                                                                      \
	{                                                                                          \
		.type = OPT_BOOL, .short_name = (s), .long_name = (l), .value = (v), .help = (h)   \
	}
#define OPT_STRING_(s, l, v, a, h)                                                                 \
	{                                                                                          \
		.type = OPT_STRING, .short_name = (s), .long_name = (l), .value = (v),             \
		.argh = (a), .help = (h)                                                           \
	}
#define OPT_END_()                                                                                 \
	{                                                                                          \
		.type = OPT_END                                                                    \
	}

struct cli;

struct command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv); /* positional args only */
	const char *summary;				    /* one sentence */
	const char *usage;				    /* after "mvmctl <name> " */
	const char *description;			    /* optional paragraph */
	const char *examples;				    /* lines, "\n"-separated */
	const char *environment;			    /* optional */
	const char *exit_status;			    /* optional; default table otherwise */
	const struct opt *opts;
	int min_args, max_args; /* positional counts; max -1 = unlimited */
	bool accepts_dashdash;	/* `--` starts the guest argv (cli->rest) */
	bool hidden;
	const struct command *const *subcommands; /* noun groups: NULL-terminated */
};

struct cli {
	const char *prog; /* "mvmctl" or "mvm", as invoked */
	const char *exe;  /* argv[0] */
	bool json, quiet, verbose;
	const struct command *cmd;
	const char *path;   /* "manifest check", for messages */
	struct strvec rest; /* after `--` */
	bool dashdash;
	struct err err;
	json_t *phases; /* build phase -> seconds, as cli_progress saw them (for --json) */
};

/* Entry point from main(). */
int cli_main(int argc, char **argv);

/* Output: stdout carries data only. */
void cli_json(struct cli *cli, json_t *obj); /* adds schema_version, prints, steals obj */
void cli_warn(struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_note(struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_print_error(struct cli *cli, const struct err *e);
/* A build's progress callback (build_progress.phase_done, ctx the struct cli):
 * notes "<phase> <seconds> s" and keeps the seconds in cli->phases. */
void cli_progress(void *cli, const char *phase, double seconds);
bool cli_color(int fd);

/* Usage error: message + short usage on stderr; returns EXIT_USAGE. */
int cli_usage_error(struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The table (commands.c). */
extern const struct command *const cli_commands[];
const struct command *cli_find(const struct command *const *table, const char *name);

/* help.c */
void cli_print_help(struct cli *cli, const struct command *cmd, const char *path, FILE *out);
void cli_print_overview(struct cli *cli, FILE *out);

/* opts.c: parses argv of one command into its options and positional args. */
/* 0: parsed; EXIT_USAGE: error printed; -2: help was asked for. */
int cli_parse_opts(struct cli *cli, const struct command *cmd, int argc, char **argv,
		   struct strvec *args);
/* --json, -q, -v, -h: accepted by every command. */
const struct opt *cli_global_opts(void);
