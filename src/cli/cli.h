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

/* What an option's value is, for completion and man pages: OPT_ARG_AUTO takes
 * it from the type and argh (OPT_BOOL none, OPT_SIZE or "SIZE" a size, OPT_INT
 * a number, "FILE" a file, "DIR" a directory, else a string); set kind only
 * where that guess is wrong (-w DIR is a directory in the guest). */
enum opt_arg {
	OPT_ARG_AUTO = 0,
	OPT_ARG_NONE,	/* a flag */
	OPT_ARG_STRING, /* free text: nothing to complete */
	OPT_ARG_NUMBER,
	OPT_ARG_SIZE,
	OPT_ARG_FILE,
	OPT_ARG_DIR,
	OPT_ARG_CHOICE, /* one of .choices */
};

struct opt {
	enum opt_type type;
	char short_name;
	const char *long_name;
	void *value;
	const char *argh; /* "NAME" in help */
	const char *help;
	long long min, max;  /* OPT_INT */
	bool *given;	     /* set true when the option appears (OPT_INT, OPT_SIZE, OPT_STRING) */
	const char *alias;   /* another accepted long name (--cpus for --vcpus) */
	enum opt_arg kind;   /* see cli_opt_arg() */
	const char *choices; /* OPT_ARG_CHOICE: the values, space-separated */
	bool hidden;	     /* not in help, man pages or completion */
};

/* What the positional arguments of a command are, for completion: a set of
 * CLI_ARG_* bits (0: nothing to complete). */
enum {
	CLI_ARG_FILE = 1 << 0,	   /* a file or directory on the host */
	CLI_ARG_DIR = 1 << 1,	   /* a directory on the host */
	CLI_ARG_VM = 1 << 2,	   /* a VM's name (ls -a) */
	CLI_ARG_RUNNING = 1 << 3,  /* a running VM's name (ls) */
	CLI_ARG_SLOT = 1 << 4,	   /* a slot id (manifest ls) */
	CLI_ARG_TENANT = 1 << 5,   /* <tenant> */
	CLI_ARG_POOL = 1 << 6,	   /* <tenant>/<pool> */
	CLI_ARG_INSTANCE = 1 << 7, /* <tenant>/<pool>/<instance> */
	CLI_ARG_COMMAND = 1 << 8,  /* a command path (help) */
	CLI_ARG_SHELL = 1 << 9,	   /* bash, zsh or fish (completion) */
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
/* A string that is one of a few words (--network nat|isolated|none). */
#define OPT_CHOICE_(s, l, v, a, c, h)                                                              \
	{                                                                                          \
		.type = OPT_STRING, .short_name = (s), .long_name = (l), .value = (v),             \
		.argh = (a), .help = (h), .kind = OPT_ARG_CHOICE, .choices = (c)                   \
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
	unsigned args;				  /* CLI_ARG_* of the positionals */
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

/* Calls fn for every command path that is not hidden, groups before their
 * subcommands, in table order: path "up", "pool scale", …; depth 1 at the top. */
void cli_walk(void (*fn)(const struct command *cmd, const char *path, int depth, void *ctx),
	      void *ctx);
/* The command a path names ("pool scale", words separated by single spaces). */
const struct command *cli_find_path(const char *path);
/* The kind of an option's value (OPT_ARG_AUTO resolved). */
enum opt_arg cli_opt_arg(const struct opt *o);
/* "FILE", "SIZE": how help shows the value. */
const char *cli_opt_argh(const struct opt *o);

/* help.c */
void cli_print_help(struct cli *cli, const struct command *cmd, const char *path, FILE *out);
void cli_print_overview(struct cli *cli, FILE *out);
/* The exit status and environment help and man pages show when a command sets none. */
extern const char cli_default_exit_status[], cli_default_environment[];

/* man.c: the roff page of a command path (mvmctl-<path>(1)), or with cmd NULL
 * the overview page of cli->prog (mvmctl(1), or mvm(1) for the alias). */
void cli_write_man(struct cli *cli, const struct command *cmd, const char *path, FILE *out);

/* opts.c: parses argv of one command into its options and positional args. */
/* 0: parsed; EXIT_USAGE: error printed; -2: help was asked for. */
int cli_parse_opts(struct cli *cli, const struct command *cmd, int argc, char **argv,
		   struct strvec *args);
/* --json, -q, -v, -h: accepted by every command. */
const struct opt *cli_global_opts(void);
