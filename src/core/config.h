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
 *   gc_at = 80                    # collect the tenant's builder store after a build
 *                                 # when its disk is this full (percent)
 *   [store]                       # manifest push / pull (docs/store.md)
 *   url = "s3://bucket/prefix"    # MVM_STORE_URL
 *   endpoint = "http://127.0.0.1:9000"   # AWS_ENDPOINT_URL: an S3-compatible server
 *                                 # (path-style URLs); absent: AWS, virtual-hosted
 *   region = "us-east-1"          # AWS_REGION (then AWS_DEFAULT_REGION); default us-east-1
 *   signing_key = "/path/key.pem" # MVM_SIGNING_KEY; default $MVM_HOME/keys/signing.key
 *   trusted_keys = ["ed25519:BASE64", …]   # MVM_TRUSTED_KEYS (space-separated): the
 *                                 # public keys whose signatures pull accepts
 *   rate_limit = 10485760         # MVM_STORE_RATE_LIMIT: bytes per second each way
 *                                 # (0, the default: unlimited)
 *   multipart_threshold = 536870912  # MVM_STORE_MULTIPART_THRESHOLD: bytes; a larger
 *                                 # file goes up as a multipart upload (resumable), a
 *                                 # smaller one in one PUT (5 MiB to 5 GiB; default 512 MiB)
 *   part_size = 67108864          # MVM_STORE_PART_SIZE: bytes, the parts of a multipart
 *                                 # upload (at least 5 MiB, S3's minimum; default 64 MiB)
 *   [cluster]                     # pools across hosts on etcd (docs/cluster.md)
 *   etcd = ["http://10.0.0.1:2379", …]   # MVM_ETCD (comma-separated): set, the
 *                                 # tenant, pool and instance commands use the cluster
 *   host = "node-a"               # MVM_HOST_NAME; this host's name in the cluster
 *                                 # (default: the machine's hostname)
 *   lease_ttl = 15                # seconds a host's lease lives without renewal
 * Credentials come only from the environment (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), never from this file.
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
	struct strvec override_inputs;	     /* NAME, REF pairs */
	unsigned builder_vcpus;		     /* 0: not set */
	char *builder_mem;		     /* NULL: not set (a size, parsed by the command) */
	int builder_timeout_s;		     /* 0: not set */
	int builder_gc_at;		     /* 0: not set */
	char *store_url;		     /* "s3://bucket/prefix" or NULL */
	char *store_endpoint;		     /* NULL: AWS */
	char *store_region;		     /* never NULL after config_load */
	char *signing_key;		     /* never NULL after config_load */
	struct strvec trusted_keys;	     /* "ed25519:BASE64" */
	long long store_rate_limit;	     /* bytes/s, 0 unlimited */
	long long store_part_size;	     /* bytes, >= 5 MiB */
	long long store_multipart_threshold; /* bytes: larger files go up in parts */
	struct strvec etcd;		     /* endpoints; empty: no cluster */
	char *host_name;		     /* NULL: the machine's hostname */
	int lease_ttl_s;		     /* never 0 after config_load */
};

/* Loads config.toml and applies the environment; on failure nothing is held
 * (no config_release needed). A malformed file or value
 * fails with EXIT_INVALID naming the file, line and key. */
int config_load(struct config *c, struct err *e);
void config_release(struct config *c);
