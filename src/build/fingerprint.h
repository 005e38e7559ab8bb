/* Proving that a local flake has not changed since its last build without
 * running nix, the way git's index proves a work tree clean: stat data per
 * file (size, mtime, ctime, inode, mode), and where stat data changed, the
 * content's SHA-256. `.git` and `result*` links are left out: they are not
 * what the flake builds from.
 *
 * The fingerprint is a JSON object: {"key": {...}, "recorded_ns": N,
 * "files": {"rel/path": {"size", "mtime_ns", "ctime_ns", "ino", "mode", "sha256"}},
 * "inputs": {"/abs/dir": {"recorded_ns": N, "files": {...}}, ...}}: the local
 * inputs (path: overrides) are read by nix as much as the flake is.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"
#include "core/strvec.h"

/* Scans dir. With a previous fingerprint, files whose stat data is unchanged
 * (and not racily recent) reuse its hashes; the others are hashed.
 * *out is the new fingerprint (key stored as given; reference taken). */
int fingerprint_scan(const char *dir, json_t *key, const json_t *prev, json_t **out, struct err *e);
/* Scans each directory of dirs (absolute) into fp's "inputs", as the flake's
 * own files are scanned, prev's "inputs" lending their hashes. */
int fingerprint_scan_inputs(json_t *fp, const struct strvec *dirs, const json_t *prev,
			    struct err *e);
/* True when both describe the same key and the same files with the same
 * content, in the flake and in each input directory. */
bool fingerprint_same(const json_t *a, const json_t *b);
