/* Finding the manifest: an explicit [PATH], or Cargo-style walk-up.
 *
 * Explicit PATH: a manifest file, or a directory holding mvm.toml or
 * Mvmfile.toml (a directory does not walk up).
 * Walk-up from the working directory: in each directory look for mvm.toml,
 * then Mvmfile.toml (regular files only); stop at the first match, after the
 * directory that holds .git, at /, and never enter a directory listed in
 * MVM_CEILING_DIRECTORIES (colon-separated, as git's GIT_CEILING_DIRECTORIES).
 */
#pragma once

#include "err.h"

/* On success *manifest_path is the canonical absolute path (malloc'd). */
int discover_manifest(const char *arg, char **manifest_path, struct err *e);
/* Looks in one directory only: 1 found, 0 none, <0 error (both files present). */
int discover_in_dir(const char *dir, char **manifest_path, struct err *e);
