/* The registry verbs: `manifest ls|info|rm|verify|prune`, `cache prune`, and
 * the top-level `info`/`rm` short forms, which share these implementations. */
#pragma once

#include <stdbool.h>

#include "cli.h"

extern const struct command cmd_manifest_ls, cmd_manifest_info, cmd_manifest_rm,
    cmd_manifest_verify, cmd_manifest_prune, cmd_manifest_push, cmd_manifest_pull;

struct slot;
/* `manifest verify --check-signature` (cmd_store.c): the revision's signed
 * document against the trusted keys and its checksums.json; with skip, an
 * unsigned or untrusted one is a warning. *keyid: the key that signed it. */
int store_cli_check_signature(struct cli *cli, const struct slot *s, const char *revision,
			      bool skip, char **keyid);

/* `manifest info [PATH]`: PATH is a manifest, its directory, or a slot id
 * (NULL: walk up). */
int registry_cli_info(struct cli *cli, const char *arg);

struct registry_rm_opts {
	bool force;	    /* an absent slot is a success */
	bool manifest_file; /* also delete the manifest file (never flake.nix) */
};

/* `manifest rm [PATH]`. */
int registry_cli_rm(struct cli *cli, const char *arg, const struct registry_rm_opts *o);
/* The options of `manifest rm` and its short form `rm`, parsed into registry_rm_opts. */
extern struct registry_rm_opts registry_rm_opts;
extern const struct opt registry_rm_optv[];

/* Removes orphaned and unreadable slots (dry_run: only says which) and
 * reports each on stdout, or adds them to json (an array) when not NULL.
 * *count and *bytes accumulate what was (or would be) removed. */
int registry_cli_prune_slots(struct cli *cli, bool dry_run, json_t *json, size_t *count,
			     uint64_t *bytes);

/* "12.0 MiB", "812 KiB", "96 B" (malloc'd). */
char *registry_cli_bytes(uint64_t bytes);
