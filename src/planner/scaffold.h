/* Writes an `mvmctl init` project: mvm.toml, the preset's corpus files
 * (flake.nix and its app files), mvm-params.json for presets that take
 * parameters, README.md, .gitignore and, for --prompt, mvm-plan.json.
 *
 * All or nothing: every target is checked first; if any exists (and force is
 * false) nothing is written and the error (EXIT_REFUSED) names them. Files are
 * staged under temporary names beside their targets, fsync'd, then renamed
 * into place; a failure before the renames removes what was staged.
 */
#pragma once

#include <stdbool.h>

#include "core/err.h"
#include "core/strbuf.h"
#include "core/strvec.h"
#include "plan.h"

struct scaffold {
	const char *dir;	 /* created if missing */
	const struct plan *plan; /* preset (plan->primary), sizing and parameters */
	bool write_plan;	 /* also mvm-plan.json */
	bool force;		 /* overwrite existing files */
};

struct scaffold_result {
	char *dir;	     /* absolute */
	char *name;	     /* the name in mvm.toml; NULL when left out */
	struct strvec files; /* written, relative to dir */
	struct strvec notes; /* e.g. why the name was left out */
};

int scaffold_write(const struct scaffold *s, struct scaffold_result *res, struct err *e);
void scaffold_result_release(struct scaffold_result *res);

/* The generated texts (scaffold_text.c). name may be NULL. */
void scaffold_manifest_text(struct strbuf *out, const struct plan *p, const char *name);
void scaffold_readme_text(struct strbuf *out, const struct plan *p, const char *title);
/* mvm-params.json: only the keys the preset's flake reads; empty when none. */
void scaffold_params_text(struct strbuf *out, const struct plan *p);
