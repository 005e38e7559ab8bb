/* What a snapshot depends on, and whether it can serve a VM about to start.
 *
 * A revision's snapshot lives in <revision>/snapshot/:
 *   vmstate     the VMM's device state (VMM_SNAPSHOT_STATE)
 *   mem         guest RAM, a sparse file the restored VM maps copy-on-write
 *   meta.json   the record below
 *
 * meta.json: {"schema_version": 1, "backend", "vmm_version", "machine",
 *   "accel", "vcpus", "mem_mib", "data_disk_mib", "kernel_sha256",
 *   "devices": [...], "size_bytes", "boot_ms", "save_ms", "save_us", "created_at"}
 *   (save_us: the save in microseconds; save_ms: the same rounded to whole ms)
 *
 * A restore is only attempted when every dependency matches; otherwise the
 * caller cold-boots with the reason this module words. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/strbuf.h"
#include "vmm/vmm.h"

#define SNAPSHOT_DIR  "snapshot"
#define SNAPSHOT_MEM  "mem"
#define SNAPSHOT_META "meta.json"

/* The VM a snapshot is taken of, or a restore is asked for. */
struct snapshot_deps {
	const char *backend;
	const char *vmm_version;
	enum vmm_accel accel;
	unsigned vcpus;
	uint64_t mem_mib;
	uint64_t data_disk_mib; /* 0: no data disk */
	/* a read-only secrets disk before the data disk (fleet instances) */
	bool secrets_disk;
	bool no_network; /* --network none: no network device */
	const char *kernel_sha256;
};

/* The device list both sides must agree on (names, in attach order). */
json_t *snapshot_devices(const struct snapshot_deps *d);
/* The meta.json object for d (the caller adds sizes and timings). */
json_t *snapshot_meta_new(const struct snapshot_deps *d);

/* Whether the snapshot in rev_dir can restore a VM with want: 1 yes; 0 no,
 * with the reason in why ("snapshot taken at vcpus=2 mem=1024M; starting
 * with vcpus=4"); -ENOENT when the revision has no snapshot. */
int snapshot_usable(const char *rev_dir, const struct snapshot_deps *want, struct strbuf *why);

/* True when the snapshot in rev_dir was taken with a secrets disk
 * (blk:secrets): a VM without secrets restores from it with a blank
 * placeholder there. */
bool snapshot_has_secrets_slot(const char *rev_dir);

/* The kernel's sha256 as recorded in the revision's checksums.json
 * (malloc'd), or NULL. */
char *snapshot_kernel_sha256(const char *rev_dir);
