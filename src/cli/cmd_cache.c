/* mvmctl cache …: cleaning up what builds leave behind. */
#include <stdio.h>

#include "cli.h"
#include "core/rstore.h"
#include "core/util.h"
#include "registry_cli.h"

static struct {
	bool orphan_builds, dry_run;
} cache_prune_opts;

static const struct opt cache_prune_optv[] = {
    OPT_BOOL_(0, "orphan-builds", &cache_prune_opts.orphan_builds,
	      "also remove orphaned and unreadable slots (as 'manifest prune --orphans')"),
    OPT_BOOL_('n', "dry-run", &cache_prune_opts.dry_run, "only say what would be removed"),
    OPT_END_(),
};

static int run_cache_prune(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	bool dry = cache_prune_opts.dry_run;
	struct strvec tmp = STRVEC_INIT;
	uint64_t tmp_bytes = 0;
	int r = rstore_sweep_tmp(dry, &tmp, &tmp_bytes, &cli->err);
	if (r < 0) {
		strvec_clear(&tmp);
		return err_prefix(&cli->err, r, "cleaning up temporary build directories");
	}
	json_t *slots = cli->json && cache_prune_opts.orphan_builds ? json_array() : NULL;
	size_t nslots = 0;
	uint64_t slot_bytes = 0;
	if (!cli->json)
		for (size_t i = 0; i < tmp.n; i++)
			printf("%s %s (left by a build that no longer runs)\n",
			       dry ? "would remove" : "removed", tmp.v[i]);
	if (cache_prune_opts.orphan_builds) {
		r = registry_cli_prune_slots(cli, dry, slots, &nslots, &slot_bytes);
		if (r < 0) {
			json_decref(slots);
			strvec_clear(&tmp);
			return r;
		}
	}
	uint64_t total = tmp_bytes + slot_bytes;
	if (cli->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < tmp.n; i++)
			json_array_append_new(arr, json_string(tmp.v[i]));
		json_t *doc = json_pack("{s:b, s:o}", "dry_run", dry, "temporary", arr);
		if (cache_prune_opts.orphan_builds)
			json_object_set_new(doc, "slots", slots);
		json_object_set_new(doc, "freed_bytes", json_integer(dry ? 0 : (json_int_t)total));
		cli_json(cli, doc);
	} else {
		_cleanup_free_ char *human = registry_cli_bytes(total);
		size_t n = tmp.n + nslots;
		if (!n)
			cli_note(
			    cli, "nothing to prune: no leftovers of killed builds%s",
			    cache_prune_opts.orphan_builds
				? " and no orphaned slots"
				: " (--orphan-builds also removes slots whose manifest is gone)");
		else if (dry)
			cli_note(cli,
				 "would remove %zu item%s (%s); run without --dry-run to remove "
				 "them",
				 n, n == 1 ? "" : "s", human);
		else
			cli_note(cli, "removed %zu item%s, freed %s", n, n == 1 ? "" : "s", human);
	}
	strvec_clear(&tmp);
	return 0;
}

static const struct command cmd_cache_prune = {
    .name = "prune",
    .run = run_cache_prune,
    .summary = "Remove what killed builds left behind, and optionally orphaned slots.",
    .usage = "[--orphan-builds] [--dry-run] [--json]",
    .description = "Always removes the staging directories under $MVM_HOME/tmp of builds that "
		   "no longer run.\n--orphan-builds also does 'mvmctl manifest prune --orphans'.",
    .examples = "mvmctl cache prune --dry-run\nmvmctl cache prune --orphan-builds\n"
		"mvmctl cache prune --orphan-builds --json | jq .freed_bytes",
    .opts = cache_prune_optv,
    .max_args = 0,
};

static const struct command *const cache_subcommands[] = {
    &cmd_cache_prune,
    NULL,
};

const struct command cmd_cache = {
    .name = "cache",
    .summary = "Clean up build leftovers and orphaned slots.",
    .subcommands = cache_subcommands,
};
