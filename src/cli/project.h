/* Shared by every verb that takes [PATH]: find the manifest, load it, and
 * print its warnings once. */
#pragma once

#include "cli.h"
#include "core/manifest.h"

/* Discovers (arg may be NULL: walk up) and loads the manifest. On failure
 * cli->err is set and a negative value returned. */
int cli_load_manifest(struct cli *cli, const char *arg, struct manifest *m);
/* The effective values as JSON (name omitted when unset). */
json_t *cli_manifest_json(const struct manifest *m);
