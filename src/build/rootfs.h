/* Packing a Nix closure into the guest's rootfs.ext4, without root or loop
 * devices: the closure is staged as a directory tree (hard links into the
 * store where possible, copies otherwise) and `mkfs.ext4 -d` turns it into
 * an image sized to the content plus headroom.
 *
 * Image root layout: /nix/store/… (the whole closure); bin, sbin, lib, share
 * link to the profile's; usr/bin and usr/sbin lead to them too, so units'
 * `ExecStart=/usr/bin/my-app` resolve; /etc is a real directory tree whose
 * files link into the profile's etc/; empty mount points for mvm-init.
 */
#pragma once

#include <stdint.h>

#include "core/err.h"
#include "core/strvec.h"

struct rootfs_stats {
	uint64_t content_bytes; /* file data, rounded up to 4 KiB blocks */
	uint64_t inodes;
	uint64_t image_bytes;
};

/* Stages closure + profile layout into stage_dir (which must exist, empty).
 * The closure's store paths are read under root ("/" or NULL: the host's
 * store; else a tree holding root/nix/store/…, such as a builder VM's
 * export): links in the profile are followed as they would be in the guest,
 * never out of root, and a link that leads out of root/nix/store is left as
 * a link. */
int rootfs_stage(const char *root, const char *profile, const struct strvec *closure,
		 const char *stage_dir, struct rootfs_stats *st, struct err *e);
/* Builds image from stage_dir with mkfs.ext4 -d, sized from st. */
int rootfs_mkfs(const char *stage_dir, const char *image, struct rootfs_stats *st, struct err *e);
