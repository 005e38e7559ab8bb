/* What a VM boots: the files of one revision and what its slot says (sizing,
 * name, backend), or a bare directory of artifacts. Shared by `up`, `run` and
 * the ephemeral `exec`. */
#pragma once

#include <stdint.h>

#include "build/kernel.h"
#include "cli.h"
#include "vm/vm.h"

struct vm_artifacts {
	char *kernel, *initrd, *rootfs;
	char *revision, *slot, *manifest_path, *name_base, *backend;
	char *rev_dir; /* the revision's directory (a slot's), or NULL */
	char *snapshot_dir;
	unsigned vcpus;
	uint64_t mem_mib, data_disk_mib;
	/* where each size came from: "manifest" (the file as it is now), "slot"
	 * (the last build's record) or "default" */
	const char *vcpus_from, *mem_from, *data_disk_from;
	struct kernel k;
};

#define VM_ARTIFACTS_INIT                                                                          \
	{                                                                                          \
		.k = KERNEL_INIT                                                                   \
	}

/* arg: a manifest file or project directory (NULL: walk up from the current
 * directory), whose slot's current revision is used, sized by the manifest
 * as it is on disk now and, where it does not say, by the slot's record (none: EXIT_NOTFOUND
 * with a `mvmctl build` hint); or a directory holding rootfs.ext4 (and
 * vmlinux, initrd.img; else the provisioned kernel). */
int vm_artifacts_resolve(struct cli *cli, const char *arg, struct vm_artifacts *a);
void vm_artifacts_release(struct vm_artifacts *a);

/* Fills spec from a: files, sizing, data disk, provenance, the backend (a
 * warning when the slot was built for another) and the accelerator (its
 * notice printed before the boot). Strings point into a. */
int vm_artifacts_spec(struct cli *cli, const struct vm_artifacts *a, struct vm_spec *spec);

/* Once spec's sizing and secrets are final: when the revision has a snapshot that fits
 * this VM (vmm/snapshot.h), spec restores from it; when it has one that
 * does not, a one-line warning names the mismatch and the VM boots cold. */
void vm_artifacts_pick_snapshot(struct cli *cli, struct vm_artifacts *a, struct vm_spec *spec);
