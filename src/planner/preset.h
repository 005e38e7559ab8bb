/* The presets of `mvmctl init`: the fixed corpus under <datadir>/presets/<name>/
 * and the sizing each one writes into mvm.toml. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* The mvm-params.json keys a preset's flake reads. */
enum preset_param {
	PRESET_PARAM_HTTP_PORT = 1 << 0,
	PRESET_PARAM_HEALTH_PATH = 1 << 1,
	PRESET_PARAM_PYTHON_ENTRYPOINT = 1 << 2,
	PRESET_PARAM_WORKER_INTERVAL = 1 << 3,
};

struct preset {
	const char *name;
	const char *summary; /* what the VM does, one line */
	int vcpus;
	uint64_t mem_mib;
	uint64_t data_disk_mib;
	unsigned params; /* enum preset_param bits; 0 = no mvm-params.json */
};

#define PRESET_DEFAULT "minimal"

/* The table, in the order the "Valid presets" message lists them. */
extern const struct preset presets[];
extern const size_t presets_count;

/* NULL when name is not a preset. */
const struct preset *preset_find(const char *name);
/* Like preset_find, failing with the seed's message and EXIT_USAGE:
 * Unknown preset "x". Valid presets: minimal, http, postgres, worker, python */
int preset_lookup(const char *name, const struct preset **out, struct err *e);
/* The preset's corpus directory: <datadir>/presets/<name> (malloc'd). */
char *preset_dir(const struct preset *p);
