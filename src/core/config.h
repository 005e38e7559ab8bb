/* User settings: flag > environment > mvm.toml > config.toml > built-in
 * default (CONVENTIONS.md). This module covers the environment and
 * config.toml layers; commands apply their flags on top.
 *
 * $MVM_CONFIG, else $MVM_HOME/config.toml (absent is fine):
 *
 *   backend = "qemu"              # MVM_BACKEND
 *   accel = "auto"                # MVM_ACCEL: auto | kvm | tcg
 *   kernel = "/path/to/vmlinux"   # MVM_KERNEL: another guest kernel
 *   [network]
 *   default = "nat"               # MVM_NETWORK: nat | isolated | none (up, run, exec)
 *   [nix]
 *   offline = true                # MVM_OFFLINE=1: never ask a binary cache
 *   override_inputs = { nixpkgs = "path:/srv/nixpkgs" }
 *                                 # MVM_OVERRIDE_INPUTS="nixpkgs=path:/srv/nixpkgs other=REF"
 *   [builder]                     # the builder VM of `pool build` (--builder-* flags win)
 *   vcpus = 2
 *   mem = "2G"
 *   timeout = 3600                # seconds
 */
#pragma once

#include <stdbool.h>

#include "err.h"
#include "strvec.h"

struct config {
	char *path; /* the file read, NULL when none */
	char *backend;
	char *accel;
	char *kernel;
	char *network;		  /* "nat" unless set; checked by the commands that boot */
	const char *network_from; /* "MVM_NETWORK", the file's path, or "default" */
	bool offline;
	struct strvec override_inputs; /* NAME, REF pairs */
	unsigned builder_vcpus;	       /* 0: not set */
	char *builder_mem;	       /* NULL: not set (a size, parsed by the command) */
	int builder_timeout_s;	       /* 0: not set */
};

/* Loads config.toml and applies the environment. A malformed file or value
 * fails with EXIT_INVALID naming the file, line and key. */
int config_load(struct config *c, struct err *e);
void config_release(struct config *c);
