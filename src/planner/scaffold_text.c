#include <jansson.h>
#include <string.h>

#include "core/util.h"
#include "scaffold.h"

void scaffold_manifest_text(struct strbuf *out, const struct plan *p, const char *name)
{
	/* sizes as whole MiB, the way seed 000 writes them: "1024M", "0" */
	_cleanup_free_ char *mem = xasprintf("%lluM", (unsigned long long)p->mem_mib);
	_cleanup_free_ char *disk = p->data_disk_mib
					? xasprintf("%lluM", (unsigned long long)p->data_disk_mib)
					: xstrdup("0");
	strbuf_addf(
	    out,
	    "# How mvm builds and sizes this microVM; flake.nix says what is inside it.\n"
	    "# Written by `mvmctl init` (preset %s). Check it with `mvmctl manifest check`.\n"
	    "flake = \".\"\n"
	    "profile = \"default\"\n"
	    "vcpus = %lld\n"
	    "mem = \"%s\"\n"
	    "data_disk = \"%s\"\n",
	    p->primary->name, p->vcpus, mem, disk);
	if (name)
		strbuf_addf(out, "name = \"%s\"\n", name);
}

static void add_json(struct strbuf *out, json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	strbuf_addstr(out, s ? s : "{}");
	strbuf_addch(out, '\n');
	free(s);
	json_decref(j);
}

void scaffold_params_text(struct strbuf *out, const struct plan *p)
{
	unsigned params = p->primary->params;
	if (!params)
		return;
	json_t *j = json_pack("{s:i}", "schema_version", 1);
	if (params & PRESET_PARAM_HTTP_PORT)
		json_object_set_new(j, "http_port", json_integer(p->http_port));
	if (params & PRESET_PARAM_HEALTH_PATH)
		json_object_set_new(j, "health_path", json_string(p->health_path));
	if (params & PRESET_PARAM_PYTHON_ENTRYPOINT)
		json_object_set_new(j, "python_entrypoint", json_string(p->python_entrypoint));
	if (params & PRESET_PARAM_WORKER_INTERVAL)
		json_object_set_new(j, "worker_interval_secs",
				    json_integer(p->worker_interval_secs));
	add_json(out, j);
}

/* The commands that show the VM doing its job. */
static void try_it(struct strbuf *out, const struct plan *p)
{
	const char *name = p->primary->name;
	if (!strcmp(name, "http") || !strcmp(name, "python"))
		strbuf_addf(out,
			    "    mvmctl up -d -p %lld:%lld    # boot it, forward the port\n"
			    "    curl http://127.0.0.1:%lld/\n"
			    "    curl http://127.0.0.1:%lld%s\n",
			    p->http_port, p->http_port, p->http_port, p->http_port, p->health_path);
	else if (!strcmp(name, "worker"))
		strbuf_addf(
		    out, "    mvmctl up               # boot it; a tick is logged every %lld s\n",
		    p->worker_interval_secs);
	else if (!strcmp(name, "postgres"))
		strbuf_addstr(out, "    mvmctl up -d -p 5432:5432\n"
				   "    mvmctl exec -- psql -U postgres -h /run/postgresql\n");
	else
		strbuf_addstr(out,
			      "    mvmctl run -- uname -a  # boot, run one command, tear down\n");
}

void scaffold_readme_text(struct strbuf *out, const struct plan *p, const char *title)
{
	strbuf_addf(out, "# %s\n\nAn mvm microVM project, preset `%s`: %s.\n\n", title,
		    p->primary->name, p->primary->summary);
	strbuf_addstr(
	    out, "    mvmctl build            # nix build of flake.nix into a bootable image\n");
	try_it(out, p);
	strbuf_addstr(out,
		      "\n- `mvm.toml`: how mvm builds and sizes the VM (vcpus, mem, data_disk).\n"
		      "- `flake.nix`: what is inside it: `packages.<system>.default` is a "
		      "`buildEnv` of\n  the packages plus the services as "
		      "`etc/systemd/system/*.service` units.\n");
	if (p->primary->params)
		strbuf_addstr(out, "- `mvm-params.json`: the values the flake reads (checked "
				   "again when it evaluates).\n");
	if (!strcmp(p->primary->name, "python"))
		strbuf_addf(out, "- `%s`: the service; it listens on `$PORT`.\n",
			    p->python_entrypoint);
	if (!strcmp(p->primary->name, "http"))
		strbuf_addstr(out, "- `public/`: the files served.\n");
	if (!strcmp(p->primary->name, "worker"))
		strbuf_addstr(out, "- `work.sh`: the job run on every tick.\n");
	strbuf_addstr(out,
		      "\nThe flake's only input is `nixpkgs` (`github:NixOS/nixpkgs/nixos-24.05`). "
		      "The first\nbuild with network access writes `flake.lock`; commit it.\n");
}
