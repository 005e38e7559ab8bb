/* `mvmctl build --update-hash` (seed 000): recompute the hash of a
 * fixed-output derivation after a package bump. The value of the one
 * `outputHash = "…"` / `hash = "…"` attribute in flake.nix is blanked, the
 * profile is built, the `got: sha256-…` nix reports is written back, and the
 * caller builds again. If nix reports no hash, flake.nix is restored byte
 * for byte and the failure carries nix's output.
 */
#pragma once

#include "build/build.h"

/* On success *new_hash (malloc'd) is the hash written into flake.nix, or
 * NULL when the blanked build succeeded without one (nothing to update:
 * flake.nix is restored). */
int update_hash(const struct build_request *req, const char *installable, char **new_hash,
		struct err *e);
