/* Building a flake profile inside an ephemeral builder microVM: the boundary
 * between a tenant's build and the host (seed 003's build process).
 *
 *   1. the builder image (builder/image.h) boots under its own supervisor as
 *      an ephemeral VM: it lives only while this process does;
 *   2. the flake directory and every local override input (path:…) go in on
 *      a read-only ext4 disk (label mvm-build-in), mounted at /in;
 *   3. the tenant's store disk (<store_dir>/store.ext4, ext4 labelled
 *      mvm-data, made on first use, kept) is the guest's /nix, so a second
 *      build reuses what the first built and tenants never share a store
 *      (mvm-init mounts both as it boots, asked by mvm.builder=1);
 *   4. `nix flake metadata` runs inside for the revision hash (the host's nix
 *      never evaluates the flake nor copies it into the host's store); when
 *      the revision is new, `nix build` runs inside with the host path's
 *      options (nix_build_argv), its log streaming to log_fd as it comes;
 *   5. the closure (nix path-info -r) comes out as a tar on a raw export
 *      disk that the host reads without mounting or trusting it
 *      (builder/import.h), then it is packed as any revision (build_pack).
 *
 * After the export, a store disk at least gc_at percent full is collected in
 * the same VM, keeping the output and what it was built from (the next build
 * of a similar flake still reuses it) and deleting the rest.
 *
 * A build over timeout_s is stopped (EXIT_BUILD, saying so); a failed build
 * is EXIT_BUILD with nix's last lines and, when the builder ran out of
 * memory, a hint to give it more. Everything but the store disk lives in a
 * staging directory under $MVM_HOME/tmp that goes with the VM.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "build/build.h"
#include "core/config.h"
#include "core/err.h"

struct builder_opts {
	const char *store_dir; /* the tenant's builder directory (made 0700 if missing) */
	unsigned vcpus;	       /* 0: BUILDER_DEFAULT_VCPUS */
	uint64_t mem_mib;      /* 0: BUILDER_DEFAULT_MEM_MIB */
	int timeout_s;	       /* 0: BUILDER_DEFAULT_TIMEOUT_S */
	int gc_at;	       /* percent full; 0: BUILDER_DEFAULT_GC_AT */
	int log_fd;	       /* nix's log (the user's stderr; -1: none) */
	bool progress;	       /* and a status line on it (a colour TTY: cli_color) */
};

#define BUILDER_DEFAULT_VCPUS	  2
#define BUILDER_DEFAULT_MEM_MIB	  1024
#define BUILDER_DEFAULT_TIMEOUT_S 3600
#define BUILDER_DEFAULT_GC_AT	  80
#define BUILDER_STORE_MIB	  8192
#define BUILDER_EXPORT_MAX_MIB	  8192

/* The sizing [builder] in config.toml gives (core/config.h), log_fd stderr;
 * a mem that is no size: EXIT_INVALID naming the file. Flags go on top. */
int builder_opts_from_config(const struct config *cfg, struct builder_opts *o, struct err *e);

/* A builder VM for one build: its disks, the tenant's store lock and the
 * running VM. The steps in order: start, resolve, then realise when the
 * revision is new; stop in every case (the VM also dies with this process). */
struct builder;

/* Copies the flake and its local inputs in, takes the tenant's store (one
 * build at a time waits for the one before) and boots the VM. The time limit
 * (bo->timeout_s) runs from here. */
int builder_start(const struct build_request *req, const struct builder_opts *bo,
		  struct builder **out, struct err *e);
/* `nix flake metadata` inside the VM: the flake's source is hashed and its
 * inputs locked there, never by the host's nix, and the revision hash is
 * computed from that (build_resolve_meta) with the inputs' paths put back
 * to the host's. */
int builder_resolve(struct builder *b, const struct build_request *req, struct build_resolved *rs,
		    struct err *e);
/* build_realise's counterpart: builds in the VM, stops it, imports the
 * closure and fills stage_dir with the revision's artifacts and records.
 * *how (owned) says how: image id, vcpus, mem, seconds of each phase. */
int builder_realise(struct builder *b, const struct build_request *req,
		    const struct build_resolved *rs, const char *stage_dir,
		    const struct build_progress *pg, struct build_result *out, json_t **how,
		    struct err *e);
/* Stops the VM if it still runs and frees b and its staging (NULL is fine). */
void builder_stop(struct builder *b);
