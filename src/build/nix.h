/* Running Debian's nix (2.8) for mvm: flake metadata, builds and closures.
 *
 * Every call carries `--extra-experimental-features 'nix-command flakes'`
 * and `--option build-users-group ''` (root without nixbld users, or a
 * single-user install), and when offline `--option substituters ''` so nix
 * never spends seconds retrying a binary cache. Local flakes are handed to
 * nix as `path:/abs/dir`: nix sees the directory as it is, tracked by git or
 * not. See docs/nix-offline.md for what was measured.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"
#include "core/strbuf.h"
#include "core/strvec.h"

struct nix_opts {
	bool offline;
	const struct strvec *overrides; /* NAME, REF pairs for --override-input */
	bool verbose;			/* stream nix's log to stderr as it runs */
};

/* "path:/abs" for a local directory, the ref unchanged otherwise (malloc'd). */
char *nix_flake_ref(const char *resolved_flake);
/* The directory of a local ref "path:/abs[?query]" (malloc'd), NULL for any
 * other ref. */
char *nix_path_ref_dir(const char *ref);
/* "x86_64-linux" etc. for this host. */
const char *nix_system(void);
/* `nix flake metadata --json REF`: the locked source and inputs. */
int nix_flake_metadata(const struct nix_opts *o, const char *ref, json_t **meta, struct err *e);
/* `nix build --no-link --json INSTALLABLE`: *out is the output path. On
 * failure, EXIT_BUILD with the tail of nix's own error. log receives nix's
 * stderr (may be NULL). */
int nix_build(const struct nix_opts *o, const char *installable, char **out, struct strbuf *log,
	      struct err *e);
/* `nix path-info -r PATH`: the closure, one store path each. */
int nix_closure(const struct nix_opts *o, const char *path, struct strvec *paths, struct err *e);
/* The argv of nix_build / nix_closure (argv[0] "nix"), for running them
 * elsewhere (a builder VM) with the same options. */
void nix_build_argv(const struct nix_opts *o, const char *installable, struct strvec *argv);
void nix_closure_argv(const struct nix_opts *o, const char *path, struct strvec *argv);
void nix_metadata_argv(const struct nix_opts *o, const char *ref, struct strvec *argv);
/* The output path in `nix build --json` output (EXIT_BUILD when there is none). */
int nix_parse_build_json(const char *buf, size_t len, const char *installable, char **out,
			 struct err *e);
/* /nix/store/<32 nixbase32>-<name>, name of nix's characters: nothing to
 * climb out of the store with. */
bool nix_store_path_valid(const char *p);
/* Appends the last max_lines lines of nix's stderr text (what says what went
 * wrong) to out, without trailing blanks. */
void nix_tail_lines(struct strbuf *out, const char *text, int max_lines);
/* "2.8.0", or NULL when nix is not installed (malloc'd). */
char *nix_version(void);
