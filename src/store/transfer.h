/* manifest push / pull: a slot's revisions through an S3-compatible store
 * (s3.h), content-addressed and signed (sign.h). docs/store.md has the
 * layout; in short, under the store's prefix:
 *
 *   blobs/sha256/<hex>        every artifact file, once, named by its sha256
 *   revisions/<revision>.json the revision document in a signed DSSE envelope
 *   channels/<name>           a signed channel document (channel.h): the
 *                             channel's name, revision and sequence
 *
 * The revision document (the envelope's payload; compact JSON, sorted keys):
 *   schema_version 1, kind "mvm-revision", revision, name (or null),
 *   manifest_file "mvm.toml", manifest (the mvm.toml text), record {flake,
 *   profile, vcpus, mem_mib, data_disk_mib, backend}, provenance (the
 *   build's), files [{name, size, sha256, mode}] (every file of the
 *   revision's checksums.json: artifacts, records, snapshot/ when built with
 *   one), pushed_at, pushed_by.
 *
 * A pull keeps what it has downloaded of each file under
 * $MVM_HOME/tmp/pull-partial/<sha256> until the revision is registered, so a
 * killed pull continues each file where it stopped (a ranged GET).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/registry.h"
#include "core/strvec.h"
#include "store/s3.h"

#define STORE_DOC_SCHEMA_VERSION 1
#define STORE_MAX_DOC		 (4u << 20)

/* The local copy of a revision's signed envelope: <slot dir>/signatures/<revision>.json. */
char *store_local_envelope_path(const struct slot *s, const char *revision);
/* A local copy exists (push or pull wrote one). */
bool store_has_local_envelope(const struct slot *s, const char *revision);

struct store_push_opts {
	const char *revision; /* full hash or unique prefix; NULL: current */
	const char *channel;  /* NULL: the slot's name, none when it has none */
	const char *key_path; /* the Ed25519 private key */
};

struct store_push_result {
	char *revision;
	char *channel; /* moved, or NULL */
	long long channel_sequence;
	char *keyid;
	size_t files, uploaded;
	uint64_t total_bytes, uploaded_bytes;
};

/* Pushes a revision of an opened, built slot: every blob the store lacks
 * (a HEAD first), then the signed document, then the channel. */
int store_push(struct s3 *s3, struct slot *slot, const struct store_push_opts *o,
	       struct store_push_result *out, struct err *e);
void store_push_result_release(struct store_push_result *r);

struct store_pull_opts {
	const char *ref; /* a channel name or a 64-hex revision */
	const char *dir; /* where mvm.toml is written */
	const struct strvec *trusted;
	bool insecure_skip_signature;
	bool force; /* overwrite a different mvm.toml in dir */
	/* called once per file about to be fetched, with the offset it resumes at */
	void (*on_file)(void *ctx, const char *name, uint64_t size, uint64_t resume_at);
	void *ctx;
};

struct store_pull_result {
	char *revision;
	char *manifest_path;
	char *keyid;  /* the trusted key that signed it; NULL with --insecure-skip-signature */
	bool already; /* the slot held the revision: nothing downloaded */
	bool channel; /* ref was a channel: */
	long long channel_sequence; /* its sequence (0: a legacy, unsigned pointer) */
	char *channel_keyid;	    /* the trusted key that signed it, or NULL */
	size_t files, downloaded, resumed;
	size_t reused; /* copied from another revision of the slot, not downloaded */
	uint64_t total_bytes, downloaded_bytes;
};

/* Pulls a revision into the slot of <dir>/mvm.toml: for a channel, its
 * signed document (signature, name, and no sequence below the one seen
 * here; channel.h); the revision's document (its
 * signature checked against trusted unless insecure_skip_signature), every
 * file, each checked against its sha256 before anything is registered; then
 * mvm.toml, the revision, `current` and the slot's record. */
int store_pull(struct s3 *s3, const struct store_pull_opts *o, struct store_pull_result *out,
	       struct err *e);
void store_pull_result_release(struct store_pull_result *r);

/* For `manifest verify --check-signature`: checks the revision's envelope
 * (the local copy, else the store's when s3 is not NULL) against trusted
 * and that the document lists exactly the files of its checksums.json.
 * *keyid (malloc'd) names the key that signed it. */
int store_check_signature(struct s3 *s3, const struct slot *slot, const char *revision,
			  const struct strvec *trusted, char **keyid, struct err *e);

/* --- the pieces, for revisions that are not a slot's (a pool's: cluster/travel.h) --- */

/* Uploads every file of the revision directory dir (as its checksums.json
 * lists them) that the store lacks, a HEAD first; *files is the document's
 * "files" array. Counts go to out (files, uploaded, bytes). */
int store_upload_dir(struct s3 *s3, const char *dir, json_t **files, struct store_push_result *out,
		     struct err *e);

/* Signs doc (compact JSON, sorted keys) with the key at key_path under
 * payload_type and puts the envelope at key. *keyid (malloc'd): the key's id. */
int store_put_signed(struct s3 *s3, const char *key, const char *payload_type, const json_t *doc,
		     const char *key_path, char **keyid, struct err *e);

/* Gets the envelope at key, checks it against trusted under payload_type
 * (unless skip) and decodes its payload into *doc. EXIT_NOTFOUND when the
 * store has no such key; what names it in messages. */
int store_get_signed(struct s3 *s3, const char *key, const char *payload_type,
		     const struct strvec *trusted, bool skip, const char *what, json_t **doc,
		     char **keyid, struct err *e);

/* Downloads every file doc's "files" lists into stage (made by the caller),
 * each checked against its sha256 before it is linked there; partial
 * downloads are kept under $MVM_HOME/tmp/pull-partial/ and continued by the
 * next call, and dropped once every file is in. */
int store_fetch_files(struct s3 *s3, const json_t *doc, const char *what, const char *stage,
		      struct store_pull_result *out, struct err *e);
