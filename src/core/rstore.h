/* A revision store: content-addressed directories of artifacts and one
 * `current` link, with commits that a kill at any instant cannot half-make.
 *
 *   <root>/<revisions_rel>/<hash>/   one revision: its artifact files,
 *                                    checksums.json over every one of them
 *   <root>/current -> <revisions_rel>/<hash>   a relative symlink
 *
 * A manifest's slot is one user (root = templates/<slot>, revisions_rel =
 * "artifacts/revisions"); pools are another (root = pools/<t>/<p>,
 * revisions_rel = "revisions").
 *
 * A revision is made in a staging directory under $MVM_HOME/tmp (the same
 * filesystem, outside every store) and committed: checksums.json is written,
 * everything is made 0600/0700 and fsync'd, the directory is renamed into
 * place (an existing revision of the same hash is swapped out atomically with
 * renameat2(RENAME_EXCHANGE) and then removed), and `current` is replaced
 * with a new link + rename. So whatever instant a process dies at, the store
 * holds whole revisions only, `current` points at a whole revision (or does
 * not exist yet), and the leftovers are staging directories under
 * $MVM_HOME/tmp that the next stage or `mvmctl cache prune` removes.
 *
 * Stores do no locking of their own: the owner (slot, pool) serialises
 * writers with its lock, and commits, stages and sweeps assume it is held.
 *
 * checksums.json:
 *   {"schema_version": 1,
 *    "files": {"initrd.img": {"sha256": "<64 hex>", "size": 123}, ...}}
 * Names are paths relative to the revision directory ("snapshot/vmstate"),
 * sorted; checksums.json itself is not listed.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "hash.h"
#include "strvec.h"

#define RSTORE_CHECKSUMS "checksums.json"

struct rstore {
	char *root;	     /* the directory holding `current` */
	char *revisions_rel; /* revisions directory relative to root */
	char *revisions;     /* <root>/<revisions_rel> */
	char *current;	     /* <root>/current */
};

#define RSTORE_INIT                                                                                \
	{                                                                                          \
		.root = NULL                                                                       \
	}

void rstore_init(struct rstore *s, const char *root, const char *revisions_rel);
void rstore_release(struct rstore *s);
/* <revisions>/<hash> (malloc'd). */
char *rstore_revision_dir(const struct rstore *s, const char *hash);
bool rstore_has_revision(const struct rstore *s, const char *hash);

/* The revision `current` points at: 1 with *hash (malloc'd) set, 0 when
 * there is no `current` yet. A link that does not point at
 * <revisions_rel>/<64 hex> or points at a missing revision fails
 * (EXIT_FAILED) naming the link and its target. */
int rstore_current(const struct rstore *s, char **hash, struct err *e);
/* Points `current` at an existing revision (relative link, new link + rename). */
int rstore_set_current(const struct rstore *s, const char *hash, struct err *e);
/* The hashes of every revision present, sorted (names that are not 64 hex
 * are ignored). A store without a revisions directory has none. */
int rstore_list(const struct rstore *s, struct strvec *hashes, struct err *e);

/* A staging directory for one new revision. */
struct rstore_stage {
	char *dir; /* $MVM_HOME/tmp/<pid>-<n>-stage-<tag>: write the artifacts here */
};

#define RSTORE_STAGE_INIT                                                                          \
	{                                                                                          \
		.dir = NULL                                                                        \
	}

/* Creates a fresh, empty staging directory (0700) for the store known by
 * tag (a slot id, "pool-<t>-<p>"; [A-Za-z0-9_.-]). Because the caller holds
 * the owner's lock, every other staging directory of this tag is a leftover
 * of a killed run and is removed first; so are the temporary directories of
 * any process that no longer exists. */
int rstore_stage_begin(struct rstore_stage *st, const char *tag, struct err *e);
/* Removes the staging directory if it is still there (after a failure, or
 * holding the old revision after a replacing commit) and frees it. */
void rstore_stage_release(struct rstore_stage *st);

/* Commits the staged directory as revision hash and points `current` at it.
 * required: NULL-terminated artifact names that must be non-empty regular
 * files (e.g. rootfs.ext4, vmlinux); if one is missing or empty nothing
 * moves and the error names it (EXIT_BUILD). Any checksums.json in the stage
 * is replaced. Symlinks and special files in the stage are refused. An
 * existing revision of the same hash is replaced (swapped atomically, then
 * removed). On success st->dir no longer exists. */
int rstore_commit(const struct rstore *s, struct rstore_stage *st, const char *hash,
		  const char *const *required, struct err *e);

/* Writes checksums.json in dir over every regular file below it (except
 * checksums.json), making files 0600 and directories 0700, and fsyncs each
 * file and directory. rstore_commit calls it; exposed for tests and tools. */
int rstore_write_checksums(const char *dir, struct err *e);

/* One recorded file of checksums.json. */
struct rstore_file {
	char *name;
	uint64_t size;
	struct sha256_hex sha256;
};

struct rstore_checksums {
	struct rstore_file *files;
	size_t n;
};

#define RSTORE_CHECKSUMS_INIT                                                                      \
	{                                                                                          \
		.files = NULL, .n = 0                                                              \
	}

/* Reads <dir>/checksums.json. Missing: EXIT_NOTFOUND; malformed (bad JSON,
 * a name escaping the directory, a digest that is not 64 hex, a negative
 * size): EXIT_FAILED naming the file. */
int rstore_read_checksums(const char *dir, struct rstore_checksums *c, struct err *e);
void rstore_checksums_release(struct rstore_checksums *c);
const struct rstore_file *rstore_checksums_find(const struct rstore_checksums *c, const char *name);

/* Cheap completeness check, no hashing: the revision exists, its
 * checksums.json is readable, every required name is recorded, and every
 * recorded file is present as a regular file of its recorded size.
 * Returns 1 complete, 0 not (with *why, malloc'd, saying what is wrong when
 * why is not NULL). Never fails otherwise. */
int rstore_revision_complete(const struct rstore *s, const char *hash, const char *const *required,
			     char **why);

enum rstore_file_status {
	RSTORE_FILE_OK,
	RSTORE_FILE_MISSING, /* recorded, absent (or not a regular file) */
	RSTORE_FILE_CHANGED, /* present, different size or digest */
};

struct rstore_verified {
	char *name;
	enum rstore_file_status status;
	uint64_t expected_size, actual_size;
	struct sha256_hex expected, actual; /* actual is empty unless hashed */
};

struct rstore_verify {
	struct rstore_verified *files; /* in checksums.json order */
	size_t n;
	size_t problems; /* files not OK */
};

#define RSTORE_VERIFY_INIT                                                                         \
	{                                                                                          \
		.files = NULL, .n = 0, .problems = 0                                               \
	}

/* Hashes every recorded file of the revision and compares it with
 * checksums.json; a required name (NULL-terminated list, may be NULL) that
 * checksums.json does not record counts as missing. Returns 0 when the comparison could be made
 * (look at v->problems), <0 when it could not (no such revision: EXIT_NOTFOUND; checksums.json
 * missing or malformed; an unreadable file). */
int rstore_verify(const struct rstore *s, const char *hash, const char *const *required,
		  struct rstore_verify *v, struct err *e);
void rstore_verify_release(struct rstore_verify *v);
const char *rstore_file_status_name(enum rstore_file_status st); /* "ok", "missing", "changed" */

/* $MVM_HOME/tmp (malloc'd). */
char *rstore_tmp_dir(void);
/* Moves dir out of sight atomically (a rename into $MVM_HOME/tmp, tagged
 * "rm-<tag>") and then deletes it, so a kill midway never leaves it half
 * removed where it was. An absent dir is success. */
int rstore_remove_tree(const char *dir, const char *tag, struct err *e);
/* Removes the entries of $MVM_HOME/tmp left by processes that no longer
 * exist. With dry_run nothing is removed. Each entry (path) that is (or
 * would be) removed is pushed to removed (may be NULL), its disk usage added
 * to *bytes (may be NULL). */
int rstore_sweep_tmp(bool dry_run, struct strvec *removed, uint64_t *bytes, struct err *e);
/* Disk usage of a file or tree in bytes (allocated blocks); 0 when absent. */
uint64_t rstore_disk_usage(const char *path);
