/* `build --snapshot`: boots a revision once in snapshot mode (mvm-init does
 * the generic setup and parks: no hostname, network, data disk or service
 * yet), saves it into <revision>/snapshot/ and records it in revision.json
 * and checksums.json. The layout and what it depends on: vmm/snapshot.h. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "vmm/snapshot.h"

struct snapshot_result {
	bool created;	     /* a snapshot is in place (new or reused) */
	bool reused;	     /* it was already there for these dependencies */
	char *reason;	     /* why none was created (malloc'd), or NULL */
	uint64_t size_bytes; /* state + RAM actually allocated on disk */
	long long boot_ms, save_ms;
	long long save_us; /* the save in microseconds (monotonic clock): it takes a few ms */
};

/* Creates (or keeps, when one with the same dependencies exists and force is
 * false) the snapshot of the revision in rev_dir. A backend that cannot
 * snapshot is no error: created stays false and reason says why. The
 * caller holds the slot's lock. */
int snapshot_create(const char *rev_dir, const struct snapshot_deps *deps, bool force,
		    struct snapshot_result *out, struct err *e);
void snapshot_result_release(struct snapshot_result *r);
