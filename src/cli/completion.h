/* Shell completion scripts written from the command table (complete_bash.c,
 * complete_zsh.c, complete_fish.c), and what they share: the words for the
 * kinds of values, and quoting. The scripts ask `mvmctl __complete KIND` for
 * the names that live in $MVM_HOME (completion.c). */
#pragma once

#include "cli.h"
#include "core/strbuf.h"

/* What `__complete` lists, one per line: KIND is one of these words (and
 * `__complete options [PATH...]` lists a command's options, for tests). */
#define COMP_VALUE_KINDS "vms running slots tenants pools instances paths"

/* Sizes offered for a SIZE value (a bare number is MiB). */
#define COMP_SIZES "256M 512M 1G 2G 4G 8G"

/* The word for an option's value in the scripts: "" (none), "string", "number",
 * "size", "file", "dir", "choice", or "pair" (two words, OPT_PAIR_LIST). */
const char *comp_opt_word(const struct opt *o);
/* The positionals of cmd as words: "file dir vms running slots tenants pools
 * instances commands shells" (those set), plus "dashdash" when `--` starts a
 * guest command line. */
void comp_args_words(struct strbuf *sb, const struct command *cmd);

/* s in single quotes for bash and zsh ('it'\''s'). */
void comp_sq(struct strbuf *sb, const char *s);
/* s in single quotes for fish ('it\'s', backslash doubled). */
void comp_fish_sq(struct strbuf *sb, const char *s);

/* Every option a command path accepts, its own then the global ones; fn
 * returns nothing. For the top ("" path, cmd NULL) also --version. */
void comp_each_opt(const struct command *cmd, void (*fn)(const struct opt *o, void *ctx),
		   void *ctx);

void comp_write_bash(struct strbuf *out);
void comp_write_zsh(struct strbuf *out);
void comp_write_fish(struct strbuf *out);
