/* The manifest registry of seed 000: one slot per manifest file.
 *
 *   $MVM_HOME/templates/<slot>/           slot = sha256 hex of the manifest's
 *                                         canonical absolute path (the same as
 *                                         printf %s "$(realpath mvm.toml)" | sha256sum)
 *       manifest.json                     the slot record (below)
 *       build.lock                        flock'd by a build; holds its pid
 *       artifacts/revisions/<revision>/   rootfs.ext4 vmlinux initrd.img
 *                                         revision.json provenance.json checksums.json
 *       current -> artifacts/revisions/<revision>   relative symlink
 *
 * The revisions are an rstore (rstore.h): staging, commit, completeness and
 * verification live there. Directories are 0700, files 0600.
 *
 * manifest.json (written atomically by slot_write_record):
 *   schema_version  1
 *   manifest_path   canonical absolute path of the manifest file
 *   manifest_hash   the slot id (upstream mvm's name for it)
 *   manifest_sha256 sha256 hex of the manifest file's content (records written
 *                   before it existed had that in manifest_hash: slot_manifest_sha256)
 *   flake, flake_ref  the resolved flake ref nix was given (flake_ref: upstream's name)
 *   profile
 *   vcpus, mem_mib, data_disk_mib   effective sizing (flag overrides applied)
 *   name            absent when unset
 *   backend         "qemu"
 *   provenance      object given by the builder
 *   created_at      RFC 3339 UTC; kept across rebuilds
 *   updated_at      RFC 3339 UTC
 *   last_build      {"revision": "<64 hex>", "built_at": "…"} once a build committed
 *
 * A build does, holding the slot lock throughout:
 *   slot_open → slot_lock → slot_check_drift → (cache: slot_revision_complete)
 *   → slot_stage → write the artifacts into st.dir → slot_commit → slot_write_record
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "fs.h"
#include "hash.h"
#include "manifest.h"
#include "rstore.h"

#define SLOT_RECORD_SCHEMA_VERSION 1
#define SLOT_REVISIONS_REL	   "artifacts/revisions"
#define SLOT_BACKEND_DEFAULT	   "qemu"

/* The manifest content hash a slot record holds: manifest_sha256, or in a
 * record of the older layout manifest_hash (which now names the slot). */
const char *slot_manifest_sha256(const json_t *record);

/* The artifacts every slot revision must hold, non-empty (NULL-terminated). */
extern const char *const slot_required_artifacts[];

/* $MVM_HOME/templates (malloc'd). */
char *registry_templates_dir(void);
/* The slot id of a manifest path: sha256 hex of the path's bytes. The path
 * must already be canonical (discover_manifest returns it so). */
void registry_slot_id(const char *manifest_path, struct sha256_hex *id);

struct slot {
	struct sha256_hex id;
	char *manifest_path; /* as opened; from the record with slot_open_id (NULL if unreadable) */
	char *dir;	     /* $MVM_HOME/templates/<id> */
	char *record_path;   /* <dir>/manifest.json */
	char *lock_path;     /* <dir>/build.lock */
	struct rstore store; /* root <dir>, revisions artifacts/revisions */
	json_t *record;	     /* parsed manifest.json; NULL when there is none */
	char *record_problem; /* SLOT_OPEN_ANY: why manifest.json could not be used */
	struct fs_lock lock;  /* held after slot_lock */
};

#define SLOT_INIT                                                                                  \
	{                                                                                          \
		.lock = FS_LOCK_INIT, .store = RSTORE_INIT                                         \
	}

enum slot_open_flags {
	/* A manifest.json that cannot be read or parsed is not an error:
	 * record stays NULL and record_problem says why (for rm, prune, --force). */
	SLOT_OPEN_ANY = 1 << 0,
};

/* Opens the slot of a canonical manifest path. Creates nothing. record is
 * NULL when the slot has no manifest.json (or no directory). A manifest.json
 * that is unreadable or corrupt fails (EXIT_FAILED, naming it, with a hint)
 * unless SLOT_OPEN_ANY. After a failure s is still safe to slot_release. */
int slot_open(struct slot *s, const char *manifest_path, unsigned flags, struct err *e);
/* Opens an existing slot by its 64-hex id (its directory must exist:
 * EXIT_NOTFOUND otherwise); manifest_path comes from the record. */
int slot_open_id(struct slot *s, const char *id, unsigned flags, struct err *e);
void slot_release(struct slot *s);
/* The slot directory exists. */
bool slot_exists(const struct slot *s);

/* Takes <dir>/build.lock (creating the slot directory). Not waiting, a held
 * lock fails with EXIT_FAILED and exactly
 *   another build is in progress for <manifest path> (pid N)
 * Waiting blocks until the holder is done. Released by slot_unlock or
 * slot_release. */
int slot_lock(struct slot *s, bool wait, struct err *e);
void slot_unlock(struct slot *s);
/* True when another process holds the slot's lock right now. Creates nothing. */
bool slot_busy(const struct slot *s);

/* Drift (seed 000): when the record's flake or profile differs from the
 * given (resolved) ones, fails with EXIT_REFUSED and exactly
 *   Manifest at <path> declares flake=X, profile=Y. The slot at <sha256> was
 *   last built with flake=X', profile=Y'. Pass --force to overwrite, or pick
 *   a different manifest directory.
 * No record (never built) is no drift. Sizing never drifts. */
int slot_check_drift(const struct slot *s, const char *flake, const char *profile, struct err *e);

/* The revision `current` points at (see rstore_current). */
int slot_current(const struct slot *s, char **revision, struct err *e);
/* rstore_revision_complete with slot_required_artifacts. */
int slot_revision_complete(const struct slot *s, const char *revision, char **why);
/* Staging directory for a new revision; the lock must be held. */
int slot_stage(struct slot *s, struct rstore_stage *st, struct err *e);
/* Commits the stage as revision (rstore_commit with slot_required_artifacts)
 * and points current at it. The lock must be held. */
int slot_commit(struct slot *s, struct rstore_stage *st, const char *revision, struct err *e);

/* What a build records about the slot. */
struct slot_record {
	const char *flake; /* resolved */
	const char *profile;
	int vcpus;
	uint64_t mem_mib;
	uint64_t data_disk_mib;
	const char *name;     /* NULL: absent */
	const char *backend;  /* NULL: SLOT_BACKEND_DEFAULT */
	json_t *provenance;   /* borrowed; NULL: {} */
	const char *revision; /* the revision just committed; NULL: keep the last one */
};

/* Fills flake (resolved), profile, sizing and name from a loaded manifest;
 * the caller then applies flag overrides and sets the rest. Borrows m's strings. */
void slot_record_from_manifest(const struct manifest *m, struct slot_record *r);
/* Writes manifest.json atomically (0600), hashing the manifest file for
 * manifest_sha256, keeping created_at from the previous record, and replaces
 * s->record with what was written. The slot directory is created if needed. */
int slot_write_record(struct slot *s, const struct slot_record *r, struct err *e);

/* Removes the whole slot: renamed out of templates/ in one step, then
 * deleted. Takes the lock unless already held (a build in progress fails as
 * slot_lock does). An absent slot is success. */
int slot_remove(struct slot *s, struct err *e);

/* What registry_remove_slot did. */
struct slot_removal {
	bool removed;		    /* the slot existed and is gone */
	uint64_t freed_bytes;	    /* its disk usage (rstore_disk_usage) before */
	bool manifest_file_removed; /* the manifest file was deleted */
};

/* slot_remove, measuring what it frees; with manifest_file also deletes the
 * manifest file s records, when it records one: only a regular file, and
 * never flake.nix or flake.lock (EXIT_REFUSED). A manifest file already gone
 * is no error. */
int registry_remove_slot(struct slot *s, bool manifest_file, struct slot_removal *out,
			 struct err *e);

/* Listing. */
enum slot_status {
	SLOT_OK,	 /* record readable, manifest file present */
	SLOT_ORPHAN,	 /* the recorded manifest file no longer exists */
	SLOT_UNREADABLE, /* manifest.json missing, unreadable, corrupt or inconsistent */
	SLOT_BUILDING,	 /* no record yet, a build holds the lock */
};

struct slot_entry {
	struct slot slot; /* opened with SLOT_OPEN_ANY */
	enum slot_status status;
	char *current;	       /* current revision, NULL when none or broken */
	char *current_problem; /* why current is broken (dangling link), or NULL */
};

struct legacy_entry {
	char *name; /* the directory name under templates/ */
	char *path;
};

struct registry_list {
	struct slot_entry *slots; /* sorted by manifest path, unreadable ones last by id */
	size_t nslots;
	struct legacy_entry *legacy; /* sorted by name */
	size_t nlegacy;
};

#define REGISTRY_LIST_INIT                                                                         \
	{                                                                                          \
		.slots = NULL                                                                      \
	}

/* Reads templates/: 64-hex directories are slots, other directories are
 * legacy; files and dot-entries are ignored. No templates/ means empty lists. */
int registry_list(struct registry_list *l, struct err *e);
void registry_list_release(struct registry_list *l);
const char *slot_status_name(enum slot_status st); /* "ok", "orphan", "unreadable", "building" */
/* Prunable by `manifest prune --orphans`: orphan or unreadable. */
bool slot_status_prunable(enum slot_status st);
/* Opens and classifies one slot by id (SLOT_OPEN_ANY); the entry is then
 * released with slot_entry_release. */
int slot_entry_open(struct slot_entry *en, const char *id, struct err *e);
void slot_entry_release(struct slot_entry *en);
/* Removes slot id if it is still prunable once its lock is held, so a build
 * that repaired it meanwhile is never undone. Returns 1 removed, 0 no longer
 * prunable (*now says what it is), <0 error (a build holding the lock fails
 * as slot_lock does). With dry_run nothing is removed (1: would be). */
int registry_prune_slot(const char *id, bool dry_run, enum slot_status *now, struct err *e);

/* One slot registry_prune_orphans removed (would remove, with dry_run) or skipped. */
struct slot_pruned {
	const struct slot_entry *entry; /* as listed before pruning, in the registry_prune's list */
	enum slot_status now;		/* its status when it was removed */
	uint64_t disk_bytes;		/* its disk usage before */
	char *skipped; /* not removed: why (a build holds its lock, …); else NULL */
};

struct registry_prune {
	struct registry_list list;
	struct slot_pruned *v; /* in list order; slots repaired meanwhile are left out */
	size_t n;
	size_t removed; /* entries of v not skipped */
	uint64_t bytes; /* their disk_bytes */
};

#define REGISTRY_PRUNE_INIT                                                                        \
	{                                                                                          \
		.list = REGISTRY_LIST_INIT                                                         \
	}

/* registry_prune_slot on every prunable slot of registry_list. A slot that
 * cannot be removed is skipped (an entry with skipped set), not a failure;
 * only listing the registry fails. p is safe to release after a failure. */
int registry_prune_orphans(struct registry_prune *p, bool dry_run, struct err *e);
void registry_prune_release(struct registry_prune *p);
