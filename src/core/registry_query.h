/* Questions about the registry (registry.h) that the manifest verbs ask:
 * which slot a user's [PATH] names, what a slot holds, and whether one of
 * its revisions still matches its checksums.json. Reads only; removing and
 * pruning slots are in registry.h. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "err.h"
#include "registry.h"
#include "rstore.h"

/* Opens the slot a [PATH] names: a manifest file or its directory (walked up
 * to when arg is NULL), a slot id, or the path of a manifest that is gone but
 * whose slot remains. Returns 0 with s opened (the slot may not exist: see
 * slot_exists), <0 when no manifest could be identified. s is always safe to
 * slot_release. */
int registry_open_target(struct slot *s, const char *arg, unsigned flags, struct err *e);
/* Fails with EXIT_NOTFOUND: "<manifest> has not been built (no slot at
 * '<dir>')", hinting at the build command. Returns -ENOENT. */
int slot_not_built_error(const struct slot *s, struct err *e);

/* What a built slot holds, beyond its record. */
struct slot_info {
	bool manifest_exists;	 /* the recorded manifest file is still there */
	bool manifest_changed;	 /* its content is not what manifest_hash recorded */
	char *current;		 /* the current revision; NULL when none */
	char *revision_dir;	 /* its directory; NULL when none */
	json_t *revisions;	 /* the hashes of every revision kept, sorted */
	json_t *artifacts;	 /* current's recorded files, [{name, size_bytes, sha256,
				  * present}] (present: a regular file of that size);
				  * NULL when there is no current revision */
	char *artifacts_problem; /* why checksums.json could not be read, or NULL */
	bool complete;		 /* slot_revision_complete of current */
	char *incomplete_why;	 /* why it is not, or NULL */
	json_t *revision_record; /* current's revision.json; NULL when absent or unreadable */
	json_t *provenance;	 /* current's provenance.json; likewise */
};

#define SLOT_INFO_INIT                                                                             \
	{                                                                                          \
		.current = NULL                                                                    \
	}

/* Reads it for a slot opened with its record. Fails only when `current` is
 * broken (see rstore_current); in is then safe to slot_info_release. */
int slot_info_read(const struct slot *s, struct slot_info *in, struct err *e);
void slot_info_release(struct slot_info *in);

/* Verifies a revision of the slot (rstore_verify with slot_required_artifacts):
 * want is a full hash or a unique prefix of at least 4 digits, NULL for the
 * current revision. *revision (malloc'd) is the one verified. No such
 * revision: EXIT_NOTFOUND; an ambiguous prefix: EXIT_USAGE. */
int slot_verify_revision(const struct slot *s, const char *want, char **revision,
			 struct rstore_verify *v, struct err *e);
