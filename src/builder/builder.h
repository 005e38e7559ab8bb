/* Building a flake profile inside an ephemeral builder microVM: the boundary
 * between a tenant's build and the host (seed 003's build process).
 *
 *   1. the builder image (builder/image.h) boots under its own supervisor as
 *      an ephemeral VM: it lives only while this process does;
 *   2. the flake directory and every local override input (path:…) go in on
 *      a read-only ext4 disk (label mvm-build-in), mounted at /in;
 *   3. the tenant's store disk (<store_dir>/store.ext4, ext4 labelled
 *      mvm-data, made on first use, kept) is the guest's /nix, so a second
 *      build reuses what the first built and tenants never share a store;
 *   4. `nix build` runs inside with the host path's options (nix_build_argv),
 *      its log streaming to log_fd as it comes;
 *   5. the closure comes out as a tar on a raw export disk that the host
 *      reads without mounting or trusting it (builder/import.h), then it is
 *      packed as any revision (build_pack).
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
	int log_fd;	       /* nix's log (the user's stderr) */
};

#define BUILDER_DEFAULT_VCPUS	  2
#define BUILDER_DEFAULT_MEM_MIB	  1024
#define BUILDER_DEFAULT_TIMEOUT_S 3600
#define BUILDER_STORE_MIB	  8192
#define BUILDER_EXPORT_MAX_MIB	  8192

/* The sizing [builder] in config.toml gives (core/config.h), log_fd stderr;
 * a mem that is no size: EXIT_INVALID naming the file. Flags go on top. */
int builder_opts_from_config(const struct config *cfg, struct builder_opts *o, struct err *e);

/* build_realise's counterpart: fills stage_dir with the revision's
 * artifacts and records. out->builder (owned) says how: image id, vcpus,
 * mem, seconds of each phase. */
int builder_realise(const struct build_request *req, const struct build_resolved *rs,
		    const struct builder_opts *bo, const char *stage_dir,
		    const struct build_progress *pg, struct build_result *out, json_t **how,
		    struct err *e);
