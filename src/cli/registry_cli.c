/* mvmctl manifest ls|info|rm|verify|prune: the slots of the registry
 * (core/registry.h, core/registry_query.h) as a user sees them. Arguments
 * and output only: every file under $MVM_HOME is read or removed by core/. */
#include <stdio.h>
#include <string.h>

#include "core/fs.h"
#include "core/jsonio.h"
#include "core/registry.h"
#include "core/registry_query.h"
#include "core/size.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "registry_cli.h"

#define LABEL "%-15s "

char *registry_cli_bytes(uint64_t bytes)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
	if (bytes < 1024)
		return xasprintf("%llu B", (unsigned long long)bytes);
	double v = (double)bytes / 1024;
	size_t u = 0;
	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	if (v < 10)
		return xasprintf("%.1f %s", v, units[u]);
	return xasprintf("%.0f %s", v, units[u]);
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* A new reference to j, or null. */
static json_t *json_or_null(json_t *j)
{
	return j ? json_incref(j) : json_null();
}

/* ---- manifest ls ------------------------------------------------------------- */

static struct {
	bool orphans, legacy;
} ls_opts;

static const struct opt ls_optv[] = {
    OPT_BOOL_(0, "orphans", &ls_opts.orphans,
	      "only slots whose manifest file is gone (or whose manifest.json is unreadable)"),
    OPT_BOOL_(0, "legacy", &ls_opts.legacy,
	      "only legacy directories under templates/ (not a 64-hex slot)"),
    OPT_END_(),
};

static const char *record_built_at(const json_t *rec)
{
	const json_t *last = json_object_get(rec, "last_build");
	const char *at = json_get_str(last, "built_at");
	return at ? at : json_get_str(rec, "updated_at");
}

static json_t *entry_json(const struct slot_entry *en)
{
	const struct slot *s = &en->slot;
	json_t *o =
	    json_pack("{s:s, s:s, s:s, s:o}", "slot", s->id.s, "slot_dir", s->dir, "status",
		      slot_status_name(en->status), "manifest_path", str_or_null(s->manifest_path));
	if (s->record) {
		const json_t *rec = s->record;
		if (json_get_str(rec, "name"))
			json_object_set_new(o, "name", json_string(json_get_str(rec, "name")));
		json_object_set_new(o, "flake", str_or_null(json_get_str(rec, "flake")));
		json_object_set_new(o, "profile", str_or_null(json_get_str(rec, "profile")));
		static const char *const ints[] = {"vcpus", "mem_mib", "data_disk_mib"};
		for (size_t i = 0; i < ARRAY_SIZE(ints); i++) {
			json_t *v = json_object_get(rec, ints[i]);
			json_object_set_new(o, ints[i],
					    json_is_integer(v) ? json_copy(v) : json_null());
		}
		json_object_set_new(o, "last_built_at", str_or_null(record_built_at(rec)));
	}
	json_object_set_new(o, "current_revision", str_or_null(en->current));
	if (s->record_problem)
		json_object_set_new(o, "problem", json_string(s->record_problem));
	else if (en->current_problem)
		json_object_set_new(o, "problem", json_string(en->current_problem));
	return o;
}

static void print_slot_table(struct registry_list *l, bool orphans_only)
{
	const char *hdr[] = {"MANIFEST", "NAME", "REVISION", "LAST BUILT", "STATUS"};
	size_t w[5] = {strlen(hdr[0]), strlen(hdr[1]), 12, 20, strlen(hdr[4])};
	for (size_t i = 0; i < l->nslots; i++) {
		const struct slot_entry *en = &l->slots[i];
		if (orphans_only && !slot_status_prunable(en->status))
			continue;
		const char *mp = en->slot.manifest_path ? en->slot.manifest_path : en->slot.dir;
		const char *name = en->slot.record ? json_get_str(en->slot.record, "name") : NULL;
		if (strlen(mp) > w[0])
			w[0] = strlen(mp);
		if (name && strlen(name) > w[1])
			w[1] = strlen(name);
	}
	printf("%-*s  %-*s  %-*s  %-*s  %s\n", (int)w[0], hdr[0], (int)w[1], hdr[1], (int)w[2],
	       hdr[2], (int)w[3], hdr[3], hdr[4]);
	for (size_t i = 0; i < l->nslots; i++) {
		const struct slot_entry *en = &l->slots[i];
		if (orphans_only && !slot_status_prunable(en->status))
			continue;
		const json_t *rec = en->slot.record;
		const char *mp = en->slot.manifest_path ? en->slot.manifest_path : en->slot.dir;
		const char *name = rec ? json_get_str(rec, "name") : NULL;
		const char *built = rec ? record_built_at(rec) : NULL;
		_cleanup_free_ char *rev = en->current
					       ? xstrndup(en->current, 12)
					       : xstrdup(en->current_problem ? "broken" : "-");
		printf("%-*s  %-*s  %-*s  %-*s  %s\n", (int)w[0], mp, (int)w[1], name ? name : "-",
		       (int)w[2], rev, (int)w[3], built ? built : "-",
		       slot_status_name(en->status));
	}
}

static int run_ls(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct registry_list l;
	int r = registry_list(&l, &cli->err);
	if (r < 0)
		return r;
	bool slots = !ls_opts.legacy || ls_opts.orphans;
	size_t shown = 0;
	for (size_t i = 0; i < l.nslots; i++)
		if (!ls_opts.orphans || slot_status_prunable(l.slots[i].status))
			shown++;
	if (cli->json) {
		json_t *doc = json_object();
		if (slots) {
			json_t *arr = json_array();
			for (size_t i = 0; i < l.nslots; i++)
				if (!ls_opts.orphans || slot_status_prunable(l.slots[i].status))
					json_array_append_new(arr, entry_json(&l.slots[i]));
			json_object_set_new(doc, "slots", arr);
		}
		if (ls_opts.legacy) {
			json_t *arr = json_array();
			for (size_t i = 0; i < l.nlegacy; i++)
				json_array_append_new(arr, json_pack("{s:s, s:s}", "name",
								     l.legacy[i].name, "path",
								     l.legacy[i].path));
			json_object_set_new(doc, "legacy", arr);
		}
		cli_json(cli, doc);
		registry_list_release(&l);
		return 0;
	}
	if (slots) {
		if (shown)
			print_slot_table(&l, ls_opts.orphans);
		else if (ls_opts.orphans)
			cli_note(cli, "no orphaned slots: every built manifest still exists (list "
				      "them with 'mvmctl manifest ls')");
		else
			cli_note(cli, "no built manifests; run 'mvmctl build' in a project");
	}
	if (ls_opts.legacy) {
		if (l.nlegacy) {
			if (slots && shown)
				putchar('\n');
			printf("LEGACY\n");
			for (size_t i = 0; i < l.nlegacy; i++)
				printf("%s\n", l.legacy[i].path);
		} else {
			_cleanup_free_ char *templates = registry_templates_dir();
			cli_note(cli,
				 "no legacy slots under %s; nothing to migrate (built manifests: "
				 "'mvmctl manifest ls')",
				 templates);
		}
	}
	registry_list_release(&l);
	return 0;
}

const struct command cmd_manifest_ls = {
    .name = "ls",
    .run = run_ls,
    .summary = "List the built manifests (slots) in the registry.",
    .usage = "[--orphans] [--legacy] [--json]",
    .description = "One line per slot: manifest path, name, current revision, when it was last "
		   "built and its status\n(ok, orphan: the manifest file is gone, unreadable: "
		   "manifest.json is missing or corrupt,\nbuilding: a first build is under way). "
		   "--orphans shows what 'mvmctl manifest prune --orphans'\nwould remove; --legacy "
		   "shows directories under templates/ that are not slots.",
    .examples = "mvmctl manifest ls\nmvmctl manifest ls --json | jq -r '.slots[].manifest_path'\n"
		"mvmctl manifest ls --orphans\nmvmctl manifest ls --legacy",
    .opts = ls_optv,
    .max_args = 0,
};

/* ---- manifest info ----------------------------------------------------------- */

static void print_object_lines(const json_t *obj)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)obj, k, v)
	{
		if (json_is_string(v)) {
			printf("  %-22s %s\n", k, json_string_value(v));
		} else {
			char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			printf("  %-22s %s\n", k, s ? s : "");
			free(s);
		}
	}
}

static void print_info(const struct slot *s, const struct slot_info *in)
{
	const json_t *rec = s->record;
	printf(LABEL "%s%s\n", "manifest", s->manifest_path,
	       !in->manifest_exists   ? " (gone: this slot is an orphan)"
	       : in->manifest_changed ? " (changed since the last build)"
				      : "");
	printf(LABEL "%s\n", "slot", s->id.s);
	printf(LABEL "%s\n", "slot_dir", s->dir);
	const char *name = json_get_str(rec, "name");
	printf(LABEL "%s\n", "name", name ? name : "(unset)");
	printf(LABEL "%s\n", "flake", json_get_str(rec, "flake"));
	printf(LABEL "%s\n", "profile", json_get_str(rec, "profile"));
	printf(LABEL "%lld\n", "vcpus", json_get_int(rec, "vcpus", 0));
	long long mem = json_get_int(rec, "mem_mib", 0);
	long long disk = json_get_int(rec, "data_disk_mib", 0);
	_cleanup_free_ char *mems = size_format_mib((uint64_t)(mem > 0 ? mem : 0));
	_cleanup_free_ char *disks = size_format_mib((uint64_t)(disk > 0 ? disk : 0));
	printf(LABEL "%s (%lld MiB)\n", "mem", mems, mem);
	if (disk > 0)
		printf(LABEL "%s (%lld MiB)\n", "data_disk", disks, disk);
	else
		printf(LABEL "none\n", "data_disk");
	const char *backend = json_get_str(rec, "backend");
	printf(LABEL "%s\n", "backend", backend ? backend : "-");
	const char *created = json_get_str(rec, "created_at");
	const char *updated = json_get_str(rec, "updated_at");
	printf(LABEL "%s\n", "created_at", created ? created : "-");
	printf(LABEL "%s\n", "updated_at", updated ? updated : "-");
	if (in->current) {
		const char *built = record_built_at(rec);
		printf(LABEL "%s\n", "revision", in->current);
		if (built)
			printf(LABEL "%s\n", "built_at", built);
		printf("artifacts\n");
		size_t i;
		json_t *a;
		json_array_foreach(in->artifacts, i, a)
		{
			json_int_t size = json_integer_value(json_object_get(a, "size_bytes"));
			_cleanup_free_ char *human = registry_cli_bytes((uint64_t)size);
			bool present = json_is_true(json_object_get(a, "present"));
			printf("  %-22s %s (%lld bytes)%s\n",
			       json_string_value(json_object_get(a, "name")), human,
			       (long long)size, present ? "" : "  MISSING OR CHANGED SIZE");
		}
		if (in->artifacts_problem)
			printf("  (%s)\n", in->artifacts_problem);
	} else {
		printf(LABEL "none\n", "revision");
	}
	size_t nrev = json_array_size(in->revisions);
	if (nrev > 1) {
		printf(LABEL "%zu kept:", "revisions", nrev);
		size_t i;
		json_t *h;
		json_array_foreach(in->revisions, i, h) printf(" %.12s", json_string_value(h));
		putchar('\n');
	}
	const json_t *prov = json_object_get(rec, "provenance");
	if (json_is_object(prov) && json_object_size(prov)) {
		printf("provenance\n");
		print_object_lines(prov);
	} else {
		printf(LABEL "none recorded\n", "provenance");
	}
	printf(LABEL "none\n", "snapshot");
}

int registry_cli_info(struct cli *cli, const char *arg)
{
	struct slot s;
	int r = registry_open_target(&s, arg, 0, &cli->err);
	if (r < 0) {
		slot_release(&s);
		return r;
	}
	if (!slot_exists(&s) || !s.record) {
		r = slot_not_built_error(&s, &cli->err);
		slot_release(&s);
		return r;
	}
	struct slot_info in;
	r = slot_info_read(&s, &in, &cli->err);
	if (r < 0) {
		err_hint(&cli->err, "rebuild with 'mvmctl build --force'");
		slot_info_release(&in);
		slot_release(&s);
		return r;
	}
	if (cli->json) {
		json_t *rev = json_null();
		if (in.current) {
			rev = json_pack("{s:s, s:s, s:b, s:O, s:o, s:o}", "hash", in.current, "dir",
					in.revision_dir, "complete", in.complete, "artifacts",
					in.artifacts, "revision", json_or_null(in.revision_record),
					"provenance", json_or_null(in.provenance));
			if (in.incomplete_why)
				json_object_set_new(rev, "problem", json_string(in.incomplete_why));
		}
		json_t *prov = json_object_get(s.record, "provenance");
		cli_json(cli, json_pack("{s:s, s:s, s:s, s:b, s:b, s:O, s:o, s:o, s:O, s:O, s:n}",
					"slot", s.id.s, "slot_dir", s.dir, "manifest_path",
					s.manifest_path, "manifest_exists", in.manifest_exists,
					"manifest_changed", in.manifest_changed, "record", s.record,
					"current_revision", str_or_null(in.current), "revision",
					rev, "revisions", in.revisions, "provenance",
					prov ? prov : json_null(), "snapshot"));
	} else {
		print_info(&s, &in);
	}
	slot_info_release(&in);
	slot_release(&s);
	return 0;
}

static int run_info(struct cli *cli, int argc, char **argv)
{
	return registry_cli_info(cli, argc ? argv[0] : NULL);
}

const struct command cmd_manifest_info = {
    .name = "info",
    .run = run_info,
    .summary = "Show a manifest's slot: its record, current revision, artifacts and provenance.",
    .usage = "[PATH] [--json]",
    .description = "PATH is a manifest file, a directory holding one (default: walk up from the "
		   "working directory),\nor a slot id from 'mvmctl manifest ls'. The path of a "
		   "manifest that was deleted still finds\nits slot.",
    .examples = "mvmctl manifest info\nmvmctl manifest info ./api\n"
		"mvmctl manifest info --json | jq .current_revision",
    .max_args = 1,
    .args = CLI_ARG_FILE | CLI_ARG_SLOT,
};

/* ---- manifest rm ----------------------------------------------------------------- */

struct registry_rm_opts registry_rm_opts;

const struct opt registry_rm_optv[] = {
    OPT_BOOL_('f', "force", &registry_rm_opts.force,
	      "succeed when there is nothing to remove; stop a running VM first"),
    OPT_BOOL_(0, "manifest-file", &registry_rm_opts.manifest_file,
	      "also delete the manifest file (never flake.nix)"),
    OPT_END_(),
};

int registry_cli_rm(struct cli *cli, const char *arg, const struct registry_rm_opts *o)
{
	struct slot s;
	int r = registry_open_target(&s, arg, SLOT_OPEN_ANY, &cli->err);
	if (r < 0) {
		slot_release(&s);
		/* --force: an explicit path with nothing behind it is already gone */
		if (o->force && arg && cli->err.exit == EXIT_NOTFOUND) {
			cli_note(cli, "nothing to remove: %s", cli->err.msg);
			err_release(&cli->err);
			if (cli->json)
				cli_json(cli, json_pack("{s:b, s:b}", "removed", 0,
							"manifest_file_removed", 0));
			return 0;
		}
		return r;
	}
	if (!slot_exists(&s) && !o->force) {
		r = slot_not_built_error(&s, &cli->err);
		err_hint(&cli->err, "'mvmctl manifest ls' lists the built manifests; --force makes "
				    "an absent slot a success");
		slot_release(&s);
		return r;
	}
	struct slot_removal rm;
	r = registry_remove_slot(&s, o->manifest_file, &rm, &cli->err);
	if (r < 0) {
		slot_release(&s);
		return r;
	}
	if (o->manifest_file && !s.manifest_path)
		cli_warn(cli, "slot %s records no readable manifest path; no manifest file deleted",
			 s.id.s);
	if (cli->json) {
		cli_json(cli,
			 json_pack("{s:s, s:s, s:o, s:b, s:I, s:b}", "slot", s.id.s, "slot_dir",
				   s.dir, "manifest_path", str_or_null(s.manifest_path), "removed",
				   rm.removed, "freed_bytes", (json_int_t)rm.freed_bytes,
				   "manifest_file_removed", rm.manifest_file_removed));
	} else {
		if (rm.removed) {
			_cleanup_free_ char *human = registry_cli_bytes(rm.freed_bytes);
			printf("removed %s (%s)\n", s.dir, human);
		} else {
			cli_note(cli, "nothing to remove: %s has no slot",
				 s.manifest_path ? s.manifest_path : s.id.s);
		}
		if (rm.manifest_file_removed)
			printf("removed %s\n", s.manifest_path);
	}
	slot_release(&s);
	return 0;
}

static int run_rm(struct cli *cli, int argc, char **argv)
{
	return registry_cli_rm(cli, argc ? argv[0] : NULL, &registry_rm_opts);
}

const struct command cmd_manifest_rm = {
    .name = "rm",
    .run = run_rm,
    .summary = "Remove a manifest's slot (all its revisions) from the registry.",
    .usage = "[PATH] [--force] [--manifest-file] [--json]",
    .description =
	"PATH is a manifest file, its directory (default: walk up), a slot id, or the path "
	"of a\nmanifest that was deleted. The slot disappears in one step (a rename) and is "
	"then deleted.\n--manifest-file also deletes mvm.toml / Mvmfile.toml; flake.nix is "
	"never touched.",
    .examples = "mvmctl manifest rm\nmvmctl manifest rm ./api --force\n"
		"mvmctl manifest rm --manifest-file",
    .opts = registry_rm_optv,
    .max_args = 1,
    .args = CLI_ARG_FILE | CLI_ARG_SLOT,
};

/* ---- manifest verify -------------------------------------------------------------- */

static const char *verify_revision;
static bool verify_signature, verify_skip_signature;

static const struct opt verify_optv[] = {
    OPT_STRING_(0, "revision", &verify_revision, "HASH",
		"verify this revision (a unique prefix is enough) instead of the current one"),
    OPT_BOOL_(0, "check-signature", &verify_signature,
	      "also check the revision's signed document (from push or pull, else the store) "
	      "against the trusted keys"),
    OPT_BOOL_(0, "insecure-skip-signature", &verify_skip_signature,
	      "with --check-signature: an unsigned or untrusted revision is only a warning"),
    OPT_END_(),
};

static int run_verify(struct cli *cli, int argc, char **argv)
{
	struct slot s;
	/* before the first goto: a cleanup variable must never be jumped over */
	_cleanup_free_ char *rev = NULL, *keyid = NULL;
	int r = registry_open_target(&s, argc ? argv[0] : NULL, SLOT_OPEN_ANY, &cli->err);
	if (r < 0)
		goto out;
	if (!slot_exists(&s)) {
		r = slot_not_built_error(&s, &cli->err);
		goto out;
	}
	struct rstore_verify v = RSTORE_VERIFY_INIT;
	r = slot_verify_revision(&s, verify_revision, &rev, &v, &cli->err);
	if (r < 0)
		goto out;
	struct strbuf problems = STRBUF_INIT;
	if (s.record_problem)
		strbuf_addf(&problems, "%s", s.record_problem);
	for (size_t i = 0; i < v.n; i++) {
		const struct rstore_verified *f = &v.files[i];
		if (f->status == RSTORE_FILE_OK)
			continue;
		strbuf_addf(&problems, "%s%s %s", problems.len ? ", " : "", f->name,
			    rstore_file_status_name(f->status));
	}
	if (!problems.len && verify_signature) {
		r = store_cli_check_signature(cli, &s, rev, verify_skip_signature, &keyid);
		if (r < 0) {
			rstore_verify_release(&v);
			strbuf_release(&problems);
			goto out;
		}
		if (keyid)
			cli_note(cli, "revision %s: signed by trusted key %s", rev, keyid);
	}
	if (cli->json) {
		json_t *files = json_array();
		for (size_t i = 0; i < v.n; i++) {
			const struct rstore_verified *f = &v.files[i];
			json_t *o = json_pack("{s:s, s:s, s:I}", "name", f->name, "status",
					      rstore_file_status_name(f->status),
					      "expected_size_bytes", (json_int_t)f->expected_size);
			if (f->expected.s[0])
				json_object_set_new(o, "expected_sha256",
						    json_string(f->expected.s));
			if (f->actual.s[0]) {
				json_object_set_new(o, "actual_size_bytes",
						    json_integer((json_int_t)f->actual_size));
				json_object_set_new(o, "actual_sha256", json_string(f->actual.s));
			}
			json_array_append_new(files, o);
		}
		json_t *doc = json_pack("{s:s, s:o, s:s, s:b, s:o}", "slot", s.id.s,
					"manifest_path", str_or_null(s.manifest_path), "revision",
					rev, "ok", problems.len == 0, "files", files);
		if (s.record_problem)
			json_object_set_new(doc, "record_problem", json_string(s.record_problem));
		if (verify_signature)
			json_object_set_new(doc, "signed_by",
					    keyid ? json_string(keyid) : json_null());
		cli_json(cli, doc);
	} else {
		for (size_t i = 0; i < v.n; i++) {
			const struct rstore_verified *f = &v.files[i];
			switch (f->status) {
			case RSTORE_FILE_OK:
				printf("ok       %s\n", f->name);
				break;
			case RSTORE_FILE_MISSING:
				printf("MISSING  %s\n", f->name);
				break;
			case RSTORE_FILE_CHANGED:
				printf(
				    "CHANGED  %s (sha256 %.16s…, %llu bytes; recorded %.16s…, %llu "
				    "bytes)\n",
				    f->name, f->actual.s, (unsigned long long)f->actual_size,
				    f->expected.s, (unsigned long long)f->expected_size);
				break;
			}
		}
	}
	size_t nfiles = v.n;
	rstore_verify_release(&v);
	if (problems.len) {
		_cleanup_free_ char *dir = s.manifest_path ? fs_dirname(s.manifest_path) : NULL;
		r = err_set(&cli->err, -EBADMSG, EXIT_FAILED,
			    "revision %s of %s failed verification: %s", rev,
			    s.manifest_path ? s.manifest_path : s.dir, problems.buf);
		err_hint(&cli->err, "rebuild it with 'mvmctl build --force%s%s'", dir ? " " : "",
			 dir ? dir : "");
	} else {
		cli_note(cli, "revision %s: %zu files match %s", rev, nfiles, RSTORE_CHECKSUMS);
	}
	strbuf_release(&problems);
out:
	slot_release(&s);
	return r < 0 ? r : 0;
}

const struct command cmd_manifest_verify = {
    .name = "verify",
    .run = run_verify,
    .summary = "Check a revision's artifacts against the SHA-256 sums recorded at build time.",
    .usage = "[PATH] [--revision HASH] [--json]",
    .description = "Hashes every file recorded in the revision's checksums.json and names each "
		   "one that is missing\nor changed. Exits 1 if any is.",
    .examples = "mvmctl manifest verify\nmvmctl manifest verify ./api --revision 3f2a9c\n"
		"mvmctl manifest verify --json | jq '.files[] | select(.status != \"ok\")'",
    .exit_status = "0 every file matches, 1 a file is missing or changed (or the record is "
		   "unreadable),\n2 usage error, 4 no such manifest, slot or revision",
    .opts = verify_optv,
    .max_args = 1,
    .args = CLI_ARG_FILE | CLI_ARG_SLOT,
};

/* ---- manifest prune ------------------------------------------------------------------ */

int registry_cli_prune_slots(struct cli *cli, bool dry_run, json_t *json, size_t *count,
			     uint64_t *bytes)
{
	struct registry_prune p;
	int r = registry_prune_orphans(&p, dry_run, &cli->err);
	if (r < 0) {
		registry_prune_release(&p);
		return r;
	}
	for (size_t i = 0; i < p.n; i++) {
		const struct slot_pruned *pr = &p.v[i];
		const struct slot *s = &pr->entry->slot;
		if (pr->skipped) {
			cli_warn(cli, "skipping %s: %s", s->dir, pr->skipped);
			continue;
		}
		const char *what = s->manifest_path ? s->manifest_path : s->record_problem;
		if (json) {
			json_t *o =
			    json_pack("{s:s, s:s, s:s, s:o, s:I}", "slot", s->id.s, "slot_dir",
				      s->dir, "status", slot_status_name(pr->now), "manifest_path",
				      str_or_null(s->manifest_path), "disk_bytes",
				      (json_int_t)pr->disk_bytes);
			if (s->record_problem)
				json_object_set_new(o, "problem", json_string(s->record_problem));
			json_array_append_new(json, o);
		} else {
			printf("%s %s (%s: %s)\n", dry_run ? "would remove" : "removed", s->dir,
			       slot_status_name(pr->now), what ? what : "?");
		}
	}
	*count += p.removed;
	*bytes += p.bytes;
	registry_prune_release(&p);
	return 0;
}

static struct {
	bool orphans, dry_run;
} prune_opts;

static const struct opt prune_optv[] = {
    OPT_BOOL_(0, "orphans", &prune_opts.orphans,
	      "remove slots whose manifest file is gone or whose manifest.json is unreadable"),
    OPT_BOOL_('n', "dry-run", &prune_opts.dry_run, "only say what would be removed"),
    OPT_END_(),
};

static int run_prune(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (!prune_opts.orphans)
		return cli_usage_error(cli, "say what to prune: --orphans (slots whose manifest "
					    "file is gone or whose manifest.json is unreadable)");
	json_t *arr = cli->json ? json_array() : NULL;
	size_t count = 0;
	uint64_t bytes = 0;
	int r = registry_cli_prune_slots(cli, prune_opts.dry_run, arr, &count, &bytes);
	if (r < 0) {
		json_decref(arr);
		return r;
	}
	if (cli->json) {
		cli_json(cli,
			 json_pack("{s:b, s:o, s:I}", "dry_run", prune_opts.dry_run, "slots", arr,
				   "freed_bytes", (json_int_t)(prune_opts.dry_run ? 0 : bytes)));
		return 0;
	}
	_cleanup_free_ char *human = registry_cli_bytes(bytes);
	if (!count)
		cli_note(cli, "nothing to prune: no orphaned or unreadable slots ('mvmctl manifest "
			      "ls' lists them all)");
	else if (prune_opts.dry_run)
		cli_note(cli, "would remove %zu slot%s (%s); run without --dry-run to remove them",
			 count, count == 1 ? "" : "s", human);
	else
		cli_note(cli, "removed %zu slot%s, freed %s", count, count == 1 ? "" : "s", human);
	return 0;
}

const struct command cmd_manifest_prune = {
    .name = "prune",
    .run = run_prune,
    .summary = "Remove slots whose manifest is gone or whose record is unreadable.",
    .usage = "--orphans [--dry-run] [--json]",
    .description = "Removes every slot 'mvmctl manifest ls --orphans' shows. Slots with a build "
		   "in progress are\nskipped; legacy directories under templates/ are never "
		   "touched.",
    .examples = "mvmctl manifest prune --orphans --dry-run\nmvmctl manifest prune --orphans\n"
		"mvmctl manifest prune --orphans --json | jq '.freed_bytes'",
    .opts = prune_optv,
    .max_args = 0,
};
