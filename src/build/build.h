/* Building a flake profile into a bootable revision: the work `mvmctl build`
 * and `pool build` share. The caller owns where revisions are stored; this
 * module resolves the revision hash and fills a staging directory with the
 * artifacts of one revision.
 *
 * revision_hash = sha256 of the compact, key-sorted JSON `hash_inputs`:
 *   {"format": 1, "source": <narHash of the flake source>,
 *    "inputs": {<lock node>: <its locked attrs>, …}, "profile": P, "system": S}
 * recorded in revision.json so anyone can recompute it
 * (`jq -cjS .hash_inputs revision.json | sha256sum`). Seed 000 defines the
 * hash over flake.lock and the profile; folding in the source's narHash means
 * an edit of flake.nix (or of app source) without a lock change still gives a
 * new revision, and the locked inputs (with any --override-input) stand for
 * flake.lock.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "build/nix.h"
#include "core/err.h"
#include "core/strvec.h"

struct build_request {
	const char *flake; /* resolved: absolute path or a ref */
	const char *profile;
	const struct nix_opts *nix;
};

struct build_progress {
	void (*phase_done)(void *ctx, const char *phase, double seconds);
	void *ctx;
};

struct build_resolved {
	char *ref;	   /* what nix receives ("path:/abs" for a directory) */
	char *installable; /* ref#packages.<system>.<profile> */
	char *revision;	   /* 64 hex */
	json_t *hash_inputs;
	char *lock_hash; /* sha256 of flake.lock, NULL when the flake has none */
};

struct build_result {
	char *out_path; /* the profile's store path */
	uint64_t rootfs_bytes, vmlinux_bytes, initrd_bytes;
	char *kernel_id;
	bool profile_kernel, profile_rootfs; /* taken from the profile output */
	double stage_s, mkfs_s;		     /* the two halves of packing a closure */
};

/* Evaluates the flake's lock (nix flake metadata, on the host) and computes
 * the revision hash. */
int build_resolve(const struct build_request *req, struct build_resolved *res, struct err *e);
/* The revision hash from `nix flake metadata --json` output run elsewhere
 * (a builder VM, builder/builder.h): meta's input paths must already be the
 * host's, so a revision's id does not depend on where it was evaluated. */
int build_resolve_meta(const struct build_request *req, const json_t *meta,
		       struct build_resolved *res, struct err *e);
/* Builds and packs into stage_dir: rootfs.ext4, vmlinux, initrd.img,
 * revision.json and provenance.json. */
int build_realise(const struct build_request *req, const struct build_resolved *res,
		  const char *stage_dir, const struct build_progress *pg, struct build_result *out,
		  struct err *e);
/* The second half of build_realise, for a closure built elsewhere (a builder
 * VM): packs out->out_path (set by the caller) with its closure, read under
 * root (NULL: the host's store; see rootfs_stage), adds the kernel and writes
 * the records. builder (borrowed, may be NULL: {"where": "host"}) is how it
 * was built, recorded in revision.json; its "where" goes to provenance.json. */
int build_pack(const struct build_request *req, const struct build_resolved *res, const char *root,
	       const struct strvec *closure, const char *stage_dir, json_t *builder,
	       struct build_result *out, struct err *e);
void build_resolved_release(struct build_resolved *r);
void build_result_release(struct build_result *r);
