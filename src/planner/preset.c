#include <string.h>

#include "core/paths.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "preset.h"

const struct preset presets[] = {
    {"minimal", "a shell userland, nothing running", 1, 256, 0, 0},
    {"http", "serves static files over HTTP on port 8080", 2, 1024, 1024,
     PRESET_PARAM_HTTP_PORT | PRESET_PARAM_HEALTH_PATH},
    {"postgres", "PostgreSQL, data under /data, initialised on first boot", 2, 2048, 4096, 0},
    {"worker", "a background loop doing periodic work, logging each tick", 1, 512, 512,
     PRESET_PARAM_WORKER_INTERVAL},
    {"python", "a Python HTTP service (app/main.py, port from PORT, default 8080)", 2, 1024, 1024,
     PRESET_PARAM_HTTP_PORT | PRESET_PARAM_HEALTH_PATH | PRESET_PARAM_PYTHON_ENTRYPOINT},
};
const size_t presets_count = ARRAY_SIZE(presets);

const struct preset *preset_find(const char *name)
{
	for (size_t i = 0; i < presets_count; i++)
		if (!strcmp(presets[i].name, name))
			return &presets[i];
	return NULL;
}

int preset_lookup(const char *name, const struct preset **out, struct err *e)
{
	*out = preset_find(name);
	if (*out)
		return 0;
	struct strbuf valid = STRBUF_INIT;
	for (size_t i = 0; i < presets_count; i++)
		strbuf_addf(&valid, "%s%s", i ? ", " : "", presets[i].name);
	err_set(e, -EINVAL, EXIT_USAGE, "Unknown preset \"%s\". Valid presets: %s", name,
		valid.buf);
	strbuf_release(&valid);
	return -EINVAL;
}

char *preset_dir(const struct preset *p)
{
	return xasprintf("%s/presets/%s", paths_datadir(), p->name);
}
