/* What a snapshot taken on this host depends on, for `build --snapshot` and
 * `pool build` alike: the default VMM backend, its version, the accelerator
 * it resolves to for the revision's kernel, and that kernel's sha256. The
 * caller adds the sizing and the device layout. */
#pragma once

#include "core/err.h"
#include "vmm/snapshot.h"

struct snapshot_host_deps {
	struct snapshot_deps deps; /* borrows the strings below */
	char *vmm_version, *kernel_sha256;
};

#define SNAPSHOT_HOST_DEPS_INIT                                                                    \
	{                                                                                          \
		.vmm_version = NULL, .kernel_sha256 = NULL                                         \
	}

/* Fills h->deps for the revision in rev_dir (sizing zero, no secrets disk).
 * No such backend: EXIT_NOTREADY; an accelerator that cannot be resolved
 * fails as vmm_accel_resolve does. */
int snapshot_host_deps(const char *rev_dir, struct snapshot_host_deps *h, struct err *e);
void snapshot_host_deps_release(struct snapshot_host_deps *h);
