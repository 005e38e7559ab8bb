/* mvmctl init: scaffold mvm.toml + flake.nix from a preset, or from a plan
 * made out of a prompt (src/planner/). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/util.h"
#include "planner/preset.h"
#include "planner/provider.h"
#include "planner/scaffold.h"

static const char *opt_preset;
static const char *opt_prompt;
static bool opt_force;

static const struct opt init_opts[] = {
    OPT_CHOICE_(0, "preset", &opt_preset, "NAME", "minimal http python postgres worker",
		"minimal (default), http, postgres, worker or python"),
    OPT_STRING_(0, "prompt", &opt_prompt, "TEXT",
		"describe the service; a planner picks the preset and its parameters"),
    OPT_BOOL_(0, "force", &opt_force, "overwrite files that already exist"),
    OPT_END_(),
};

static json_t *strings_json(const struct strvec *sv)
{
	json_t *a = json_array();
	for (size_t i = 0; i < sv->n; i++)
		json_array_append_new(a, json_string(sv->v[i]));
	return a;
}

/* The plan, summarised on stderr. */
static void print_plan(struct cli *cli, const struct plan *p, const struct planner_outcome *o)
{
	if (o->endpoint)
		cli_note(cli, "plan (%s, model %s at %s): %s", o->provider, o->model, o->endpoint,
			 p->summary);
	else
		cli_note(cli, "plan (heuristic): %s", p->summary);
	struct strbuf features = STRBUF_INIT;
	for (size_t i = 0; i < p->features.n; i++)
		strbuf_addf(&features, "%s%s", i ? ", " : "", p->features.v[i]);
	cli_note(cli, "  preset %s; features: %s", p->primary->name,
		 features.len ? features.buf : "none");
	if (p->primary->params & PRESET_PARAM_HTTP_PORT)
		cli_note(cli, "  http_port %lld, health_path %s", p->http_port, p->health_path);
	if (p->primary->params & PRESET_PARAM_PYTHON_ENTRYPOINT)
		cli_note(cli, "  python_entrypoint %s", p->python_entrypoint);
	if (p->primary->params & PRESET_PARAM_WORKER_INTERVAL)
		cli_note(cli, "  worker_interval_secs %lld", p->worker_interval_secs);
	cli_note(cli, "  vcpus %lld, mem %llu MiB, data_disk %llu MiB", p->vcpus,
		 (unsigned long long)p->mem_mib, (unsigned long long)p->data_disk_mib);
	for (size_t i = 0; i < p->notes.n; i++)
		cli_note(cli, "  note: %s", p->notes.v[i]);
	strbuf_release(&features);
}

static int make_plan(struct cli *cli, const struct preset *forced, struct plan *p,
		     struct planner_outcome *o)
{
	*o = (struct planner_outcome){.provider = "heuristic", .warnings = STRVEC_INIT};
	if (!opt_prompt) {
		plan_init_defaults(p, forced ? forced : preset_find(PRESET_DEFAULT));
		return 0;
	}
	struct planner_config cfg;
	int r = planner_config_from_env(&cfg, &cli->err);
	if (r < 0)
		return r;
	r = planner_run(&cfg, opt_prompt, forced, p, o, &cli->err);
	planner_config_release(&cfg);
	if (r < 0)
		return err_prefix(&cli->err, r, "planning from --prompt");
	for (size_t i = 0; i < o->warnings.n; i++)
		cli_warn(cli, "%s", o->warnings.v[i]);
	if (!cli->json)
		print_plan(cli, p, o);
	return 0;
}

static void report(struct cli *cli, const struct scaffold_result *res, const struct plan *p,
		   const struct planner_outcome *o)
{
	if (cli->json) {
		json_t *doc = json_pack("{s:s, s:s, s:o, s:o}", "dir", res->dir, "preset",
					p->primary->name, "files", strings_json(&res->files),
					"notes", strings_json(&res->notes));
		if (res->name)
			json_object_set_new(doc, "name", json_string(res->name));
		if (opt_prompt) {
			json_object_set_new(doc, "provider", json_string(o->provider));
			if (o->model)
				json_object_set_new(doc, "model", json_string(o->model));
			json_object_set_new(doc, "warnings", strings_json(&o->warnings));
			json_object_set_new(doc, "plan", plan_to_json(p));
		}
		cli_json(cli, doc);
		return;
	}
	for (size_t i = 0; i < res->notes.n; i++)
		cli_note(cli, "note: %s", res->notes.v[i]);
	struct strbuf files = STRBUF_INIT;
	for (size_t i = 0; i < res->files.n; i++)
		strbuf_addf(&files, "%s%s", i ? ", " : "", res->files.v[i]);
	cli_note(cli, "Created %s project in %s: %s", p->primary->name, res->dir, files.buf);
	cli_note(cli, "next: cd %s && mvmctl build && mvmctl up", res->dir);
	strbuf_release(&files);
}

static int run_init(struct cli *cli, int argc, char **argv)
{
	const struct preset *forced = NULL;
	int r;
	if (opt_preset && (r = preset_lookup(opt_preset, &forced, &cli->err)) < 0)
		return r;
	if (opt_prompt && !*opt_prompt)
		return cli_usage_error(cli, "--prompt needs a description of the service");

	struct plan plan = {0};
	struct planner_outcome outcome;
	r = make_plan(cli, forced, &plan, &outcome);
	if (r == 0) {
		struct scaffold s = {.dir = argc ? argv[0] : ".",
				     .plan = &plan,
				     .write_plan = opt_prompt != NULL,
				     .force = opt_force};
		struct scaffold_result res;
		r = scaffold_write(&s, &res, &cli->err);
		if (r == 0)
			report(cli, &res, &plan, &outcome);
		scaffold_result_release(&res);
	}
	if (plan.primary)
		plan_release(&plan);
	planner_outcome_release(&outcome);
	return r;
}

const struct command cmd_init = {
    .name = "init",
    .run = run_init,
    .summary = "Scaffold mvm.toml and flake.nix for a new microVM project.",
    .usage = "[DIR] [--preset NAME] [--prompt TEXT] [--force] [--json]",
    .description =
	"Writes mvm.toml, flake.nix, README.md and .gitignore into DIR (default: the "
	"working directory; created if missing), plus the preset's app files and "
	"mvm-params.json. The flake comes from a fixed corpus of presets: minimal (a shell, "
	"nothing running), http (static files on port 8080), python (app/main.py on $PORT), "
	"postgres (PostgreSQL, data in /data) and worker (a periodic loop).\n"
	"With --prompt a planner turns the description into a plan (preset, features, "
	"port, health path, entrypoint, interval, sizing), written to mvm-plan.json. It "
	"never writes Nix or shell text itself. An explicit --preset wins over the "
	"inferred one.\n"
	"If any file init would write exists, nothing is written (exit 5) unless --force.",
    .examples = "mvmctl init my-vm\n"
		"mvmctl init my-web --preset http\n"
		"mvmctl init my-api --prompt \"FastAPI app with Postgres backend\"\n"
		"MVM_TEMPLATE_PROVIDER=heuristic mvmctl init job --prompt \"nightly cron job\"",
    .environment =
	"MVM_TEMPLATE_PROVIDER       auto (default), openai, local or heuristic\n"
	"OPENAI_API_KEY              lets auto and openai use OpenAI (sent only as a "
	"Bearer token)\n"
	"OPENAI_BASE_URL             OpenAI API root (default https://api.openai.com/v1)\n"
	"MVM_OPENAI_MODEL            default gpt-4o-mini\n"
	"MVM_LOCAL_LLM_ENDPOINTS     local OpenAI-compatible APIs to probe, HOST:PORT or "
	"URL, comma or space separated (default \"127.0.0.1:11434 127.0.0.1:8080\"; "
	"\"none\" disables)\n"
	"MVM_LOCAL_LLM_MODEL         default: the first model the endpoint lists\n"
	"MVM_LOCAL_PROBE_TIMEOUT_MS  probe budget per endpoint (default 200)\n"
	"MVM_TEMPLATE_TIMEOUT        seconds for one plan request (default 60)\n"
	"MVM_DATADIR                 where presets/ is found",
    .exit_status = "0 written; 1 failed (planner, files); 2 usage (unknown preset); 3 bad "
		   "MVM_TEMPLATE_PROVIDER or timeout setting; 5 files exist (use --force)",
    .opts = init_opts,
    .max_args = 1,
    .args = CLI_ARG_DIR,
};
