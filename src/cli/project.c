#include "project.h"
#include "core/discover.h"
#include "core/util.h"

int cli_load_manifest(struct cli *cli, const char *arg, struct manifest *m)
{
	_cleanup_free_ char *path = NULL;
	int r = discover_manifest(arg, &path, &cli->err);
	if (r < 0)
		return r;
	r = manifest_load(path, m, &cli->err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < m->warnings.n; i++)
		cli_warn(cli, "%s", m->warnings.v[i]);
	return 0;
}

json_t *cli_manifest_json(const struct manifest *m)
{
	json_t *o =
	    json_pack("{s:I, s:s, s:s, s:s, s:i, s:I, s:I}", "schema_version",
		      (json_int_t)m->schema_version, "flake", m->flake, "flake_resolved",
		      m->flake_resolved, "profile", m->profile, "vcpus", m->vcpus, "mem_mib",
		      (json_int_t)m->mem_mib, "data_disk_mib", (json_int_t)m->data_disk_mib);
	if (m->name)
		json_object_set_new(o, "name", json_string(m->name));
	return o;
}
