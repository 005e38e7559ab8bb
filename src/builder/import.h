/* The host's side of a builder VM's export disk: the guest writes a tar of
 * the output closure (paths "nix/store/<base>/…") into a raw disk after a
 * header block; the host reads it with libarchive, never mounting it and
 * trusting nothing in it:
 *
 *   - only directories, regular files and symbolic links; no hard links,
 *     devices, fifos or sockets;
 *   - no setuid or setgid bits;
 *   - every path is nix/store/<base>/… with <base> one of the closure's, no
 *     "", "." or ".." component, and nothing is written twice;
 *   - nothing is created through a link (each directory on the way is
 *     opened with O_NOFOLLOW);
 *   - at most max_bytes of file data and max_entries entries;
 *   - every path of the closure is there at the end.
 *
 * A refusal is EXIT_BUILD naming the entry and the rule.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "core/err.h"
#include "core/strvec.h"

struct builder_import_limits {
	uint64_t max_bytes;
	uint64_t max_entries;
};

/* Extracts the tar at offset of disk into root (an empty directory), as
 * root/nix/store/…, for the closure (absolute store paths, checked with
 * nix_store_path_valid by the caller). *bytes is the file data written. */
int builder_import(const char *disk, off_t offset, const struct strvec *closure, const char *root,
		   const struct builder_import_limits *lim, uint64_t *bytes, struct err *e);
