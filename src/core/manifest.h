/* mvm.toml / Mvmfile.toml: the schema of seed 000, its defaults and its rules.
 *
 *   schema_version  integer  1          greater than MANIFEST_SCHEMA_VERSION is an error
 *   flake           string   "."        no shell metacharacters; relative refs resolve
 *                                       against the manifest's directory
 *   profile         string   "default"  [A-Za-z0-9_.-]+
 *   vcpus           integer  2          1..255
 *   mem             size     "1024M"    at least 64 MiB
 *   data_disk       size     "0"        0 = none
 *   name            string   (absent)   1-63 of [a-z0-9_-], not starting with - or _
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "strvec.h"

#define MANIFEST_SCHEMA_VERSION 1
#define MANIFEST_MIN_MEM_MIB	64
#define MANIFEST_MAX_VCPUS	255

struct manifest {
	char *path; /* canonical absolute path of the file */
	char *dir;  /* the project directory holding it */
	long long schema_version;
	char *flake;	      /* as written */
	char *flake_resolved; /* what nix receives: absolute path, or the ref as written */
	char *profile;
	int vcpus;
	uint64_t mem_mib;
	uint64_t data_disk_mib;
	bool vcpus_set, mem_set, data_disk_set; /* written in the file (else the default) */
	char *name;				/* NULL when unset */
	struct strvec warnings;			/* e.g. unknown keys, for the CLI to print */
};

/* Parses and validates the manifest at path (which must exist). Invalid
 * content fails with EXIT_INVALID and a message naming file, line and key;
 * after a failure m owns nothing (manifest_release is then a no-op). */
int manifest_load(const char *path, struct manifest *m, struct err *e);
void manifest_release(struct manifest *m);

/* The validators, shared with flags and other records (pool create, init). */
bool manifest_valid_profile(const char *s);
bool manifest_valid_name(const char *s);
/* NULL when acceptable, else a description of what is wrong with the ref. */
const char *manifest_flake_problem(const char *s);
/* Resolves a flake ref as the manifest rules say (malloc'd). */
char *manifest_resolve_flake(const char *flake, const char *dir);
