/* mvmctl build: manifest → slot → (cache check) → nix build → rootfs → registry. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "build/build.h"
#include "build/fingerprint.h"
#include "build/nixopts.h"
#include "build/snapdeps.h"
#include "build/snapshot.h"
#include "build/update_hash.h"
#include "builder/builder.h"
#include "cli.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/fs.h"
#include "core/jsonio.h"
#include "core/paths.h"
#include "core/registry.h"
#include "core/size.h"
#include "core/util.h"
#include "project.h"

static struct {
	bool force, update_hash, snapshot;
	long long vcpus;
	uint64_t mem, data_disk;
	bool vcpus_set, mem_set, data_disk_set;
	struct strvec overrides;
	const char *builder;
} o;

static const struct opt build_opts[] = {
    OPT_BOOL_(0, "force", &o.force, "rebuild even on a cache hit; overwrite a drifted slot"),
    OPT_BOOL_(0, "update-hash", &o.update_hash,
	      "recompute the fixed-output hash in flake.nix, then build"),
    {.type = OPT_INT,
     .long_name = "vcpus",
     .alias = "cpus",
     .value = &o.vcpus,
     .argh = "N",
     .help = "vCPUs recorded for the slot (1-255)",
     .min = 1,
     .max = 255,
     .given = &o.vcpus_set},
    {.type = OPT_SIZE,
     .long_name = "mem",
     .value = &o.mem,
     .argh = "SIZE",
     .help = "memory recorded for the slot (512M, 2G; a bare number is MiB)",
     .given = &o.mem_set},
    {.type = OPT_SIZE,
     .long_name = "data-disk",
     .value = &o.data_disk,
     .argh = "SIZE",
     .help = "data disk size recorded for the slot (0 = none)",
     .given = &o.data_disk_set},
    {.type = OPT_PAIR_LIST,
     .long_name = "override-input",
     .value = &o.overrides,
     .argh = "NAME REF",
     .help = "use REF for the flake input NAME (repeatable)"},
    OPT_BOOL_(0, "snapshot", &o.snapshot,
	      "also boot the revision once and save a snapshot that up restores"),
    {.type = OPT_STRING,
     .long_name = "builder",
     .value = &o.builder,
     .argh = "host|vm",
     .help = "where nix runs: host (the default) or vm, an ephemeral builder microVM with "
	     "its own store in $MVM_HOME/builder/ (config [builder] sizes it)",
     .kind = OPT_ARG_CHOICE,
     .choices = "host vm"},
    OPT_END_(),
};

static json_t *fingerprint_key(const struct build_request *req, const struct strvec *ov)
{
	json_t *inputs = json_array();
	for (size_t i = 0; i < ov->n; i++)
		json_array_append_new(inputs, json_string(ov->v[i]));
	/* the guest side mvm injects (mvm-init, the kernel) is part of every
	 * revision: a new one must not be a cache hit */
	_cleanup_free_ char *init = paths_libexec("mvm-init");
	struct stat st;
	_cleanup_free_ char *guest =
	    init && stat(init, &st) == 0
		? xasprintf("%lld:%lld.%09ld", (long long)st.st_size, (long long)st.st_mtim.tv_sec,
			    st.st_mtim.tv_nsec)
		: xstrdup("");
	const char *kernel = getenv("MVM_KERNEL");
	return json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s}", "flake", req->flake, "profile",
			 req->profile, "system", nix_system(), "override_inputs", inputs, "mvmctl",
			 MVM_VERSION, "mvm_init", guest, "kernel", kernel ? kernel : "");
}

struct run {
	struct cli *cli;
	struct manifest m;
	struct config cfg;
	struct strvec ov;
	struct nix_opts nix;
	struct build_request req;
	struct slot slot;
	char *fp_path;
	json_t *fp_prev, *fp_new;
	struct build_resolved rs;
	struct builder *vm; /* --builder vm: from evaluation to the build */
	struct build_result res;
	bool built;
	char *revision;
	struct snapshot_result snap;
};

/* A cache hit writes nothing when the slot record already says it all. */
static bool record_matches(const json_t *rec, const struct slot_record *r)
{
	if (!rec)
		return false;
	const char *name = json_get_str(rec, "name");
	const json_t *last = json_object_get(rec, "last_build");
	const char *rev = last ? json_get_str(last, "revision") : NULL;
	return !strcmp(json_get_str(rec, "flake") ?: "", r->flake) &&
	       !strcmp(json_get_str(rec, "profile") ?: "", r->profile) &&
	       json_get_int(rec, "vcpus", -1) == r->vcpus &&
	       json_get_int(rec, "mem_mib", -1) == (long long)r->mem_mib &&
	       json_get_int(rec, "data_disk_mib", -1) == (long long)r->data_disk_mib &&
	       (name ? r->name && !strcmp(name, r->name) : !r->name) &&
	       !strcmp(json_get_str(rec, "backend") ?: "", r->backend ? r->backend : "") && rev &&
	       r->revision && !strcmp(rev, r->revision);
}

static void run_release(struct run *r)
{
	manifest_release(&r->m);
	config_release(&r->cfg);
	strvec_clear(&r->ov);
	slot_release(&r->slot);
	free(r->fp_path);
	json_decref(r->fp_prev);
	json_decref(r->fp_new);
	builder_stop(r->vm);
	build_resolved_release(&r->rs);
	snapshot_result_release(&r->snap);
	build_result_release(&r->res);
	free(r->revision);
}

/* The fingerprint says nothing nix reads has changed since the last build of
 * a still-complete revision: up to date without running nix at all. */
static bool fingerprint_hit(struct run *r)
{
	if (r->req.flake[0] != '/' || !fs_is_dir(r->req.flake))
		return false;
	struct err ignore = ERR_INIT;
	if (fs_exists(r->fp_path) && json_read_file(r->fp_path, &r->fp_prev, &ignore) < 0)
		r->fp_prev = NULL;
	if (fingerprint_scan(r->req.flake, fingerprint_key(&r->req, &r->ov), r->fp_prev, &r->fp_new,
			     &ignore) < 0)
		r->fp_new = NULL;
	/* a local override input (path:/abs) is read by nix as much as the flake */
	struct strvec dirs = STRVEC_INIT;
	for (size_t i = 0; i + 1 < r->ov.n; i += 2) {
		_cleanup_free_ char *dir = nix_path_ref_dir(r->ov.v[i + 1]);
		if (dir)
			strvec_push(&dirs, dir);
	}
	if (r->fp_new && fingerprint_scan_inputs(r->fp_new, &dirs, r->fp_prev, &ignore) < 0) {
		json_decref(r->fp_new);
		r->fp_new = NULL;
	}
	strvec_clear(&dirs);
	err_release(&ignore);
	if (o.force || !r->fp_prev || !r->fp_new || !fingerprint_same(r->fp_prev, r->fp_new))
		return false;
	const char *rev = json_get_str(r->fp_prev, "revision");
	_cleanup_free_ char *cur = NULL;
	if (!rev || slot_current(&r->slot, &cur, NULL) <= 0 || strcmp(cur, rev) ||
	    slot_revision_complete(&r->slot, rev, NULL) != 1)
		return false;
	r->revision = xstrdup(rev);
	return true;
}

/* --snapshot: boots the revision once and saves it (src/build/snapshot.c). */
static int take_snapshot(struct run *r, const char *revdir, const struct slot_record *rec)
{
	struct cli *cli = r->cli;
	struct snapshot_host_deps h;
	int ret = snapshot_host_deps(revdir, &h, &cli->err);
	if (ret < 0)
		return ret;
	h.deps.vcpus = (unsigned)rec->vcpus;
	h.deps.mem_mib = rec->mem_mib;
	h.deps.data_disk_mib = rec->data_disk_mib;
	/* a slot for `up --secret`'s disk: one snapshot serves VMs with secrets
	 * and without (those get a blank placeholder there) */
	h.deps.secrets_disk = true;
	double t = mono_s();
	ret = snapshot_create(revdir, &h.deps, o.force, &r->snap, &cli->err);
	snapshot_host_deps_release(&h);
	if (ret < 0)
		return err_prefix(&cli->err, ret, "snapshot");
	cli_progress(cli, "snapshot", mono_s() - t);
	if (!r->snap.created)
		cli_warn(cli, "no snapshot: %s", r->snap.reason);
	else if (!cli->json)
		cli_note(cli, "snapshot %s: %.1f MiB, saved in %.1f ms",
			 r->snap.reused ? "up to date" : "created",
			 (double)r->snap.size_bytes / (1 << 20), (double)r->snap.save_us / 1000.0);
	return 0;
}

/* --builder vm: the developer's own builder store, $MVM_HOME/builder/store/.
 * The VM evaluates the flake too, and runs on into realise_in_vm (or until
 * run_release when the revision is already built). */
static int resolve_in_vm(struct run *r, struct err *e)
{
	struct builder_opts bo;
	int ret = builder_opts_from_config(&r->cfg, &bo, e);
	if (ret < 0)
		return ret;
	_cleanup_free_ char *store = fs_join(paths_home(), "builder/store");
	bo.store_dir = store;
	bo.progress = cli_color(STDERR_FILENO);
	double t = mono_s();
	if ((ret = builder_start(&r->req, &bo, &r->vm, e)) < 0)
		return ret;
	cli_progress(r->cli, "boot", mono_s() - t);
	t = mono_s();
	if ((ret = builder_resolve(r->vm, &r->req, &r->rs, e)) < 0)
		return ret;
	cli_progress(r->cli, "evaluate", mono_s() - t);
	return 0;
}

static int realise_in_vm(struct run *r, const char *stage, const struct build_progress *pg,
			 struct err *e)
{
	json_t *how = NULL;
	int ret = builder_realise(r->vm, &r->req, &r->rs, stage, pg, &r->res, &how, e);
	json_decref(how); /* revision.json has it */
	builder_stop(r->vm);
	r->vm = NULL;
	return ret;
}

static int do_build(struct run *r)
{
	struct cli *cli = r->cli;
	struct err *e = &cli->err;
	double t0 = mono_s();
	int ret = slot_open(&r->slot, r->m.path, o.force ? SLOT_OPEN_ANY : 0, e);
	if (ret < 0)
		return ret;
	/* Drift is refused before the lock is taken, so a refusal touches nothing. */
	if (!o.force && (ret = slot_check_drift(&r->slot, r->req.flake, r->req.profile, e)) < 0)
		return ret;
	if ((ret = slot_lock(&r->slot, false, e)) < 0)
		return ret;
	r->fp_path = fs_join(r->slot.dir, "fingerprint.json");

	if (o.update_hash) {
		_cleanup_free_ char *ref = nix_flake_ref(r->req.flake);
		_cleanup_free_ char *inst =
		    xasprintf("%s#packages.%s.%s", ref, nix_system(), r->req.profile);
		_cleanup_free_ char *h = NULL;
		if ((ret = update_hash(&r->req, inst, &h, e)) < 0)
			return ret;
		if (h)
			cli_note(cli, "update-hash: flake.nix now has %s", h);
		else
			cli_note(cli, "update-hash: nix needed no new hash; flake.nix unchanged");
	}

	if (!fingerprint_hit(r)) {
		double t = mono_s();
		if (o.builder && !strcmp(o.builder, "vm"))
			ret = resolve_in_vm(r, e);
		else if ((ret = build_resolve(&r->req, &r->rs, e)) >= 0)
			cli_progress(cli, "evaluate", mono_s() - t);
		if (ret < 0)
			return ret;
		r->revision = xstrdup(r->rs.revision);
		_cleanup_free_ char *cur = NULL;
		bool complete = slot_revision_complete(&r->slot, r->revision, NULL) == 1;
		if (complete && !o.force) { /* nothing to build: the builder VM goes now */
			builder_stop(r->vm);
			r->vm = NULL;
		}
		if (o.force || !complete) {
			struct rstore_stage st = RSTORE_STAGE_INIT;
			struct build_progress pg = {.phase_done = cli_progress, .ctx = cli};
			ret = slot_stage(&r->slot, &st, e);
			if (ret >= 0 && r->vm)
				ret = realise_in_vm(r, st.dir, &pg, e);
			else if (ret >= 0)
				ret = build_realise(&r->req, &r->rs, st.dir, &pg, &r->res, e);
			if (ret >= 0 && cli->phases) {
				json_object_set_new(cli->phases, "pack_stage",
						    json_real(r->res.stage_s));
				json_object_set_new(cli->phases, "pack_mkfs",
						    json_real(r->res.mkfs_s));
			}
			t = mono_s();
			if (ret >= 0)
				ret = slot_commit(&r->slot, &st, r->revision, e);
			rstore_stage_release(&st);
			if (ret < 0)
				return ret;
			r->built = true;
		} else if (slot_current(&r->slot, &cur, NULL) <= 0 || strcmp(cur, r->revision)) {
			if ((ret = rstore_set_current(&r->slot.store, r->revision, e)) < 0)
				return ret;
		}
	}

	/* Record the slot: identity, sizing (flags over the manifest), provenance. */
	double t = mono_s();
	struct slot_record rec;
	slot_record_from_manifest(&r->m, &rec);
	if (o.vcpus_set)
		rec.vcpus = (int)o.vcpus;
	if (o.mem_set)
		rec.mem_mib = o.mem;
	if (o.data_disk_set)
		rec.data_disk_mib = o.data_disk;
	rec.backend = r->cfg.backend;
	rec.revision = r->revision;
	_cleanup_free_ char *revdir = rstore_revision_dir(&r->slot.store, r->revision);
	_cleanup_free_ char *provp = fs_join(revdir, "provenance.json");
	json_t *prov = NULL;
	if (json_read_file(provp, &prov, NULL) < 0)
		prov = NULL;
	rec.provenance = prov;
	if (r->built || !record_matches(r->slot.record, &rec))
		ret = slot_write_record(&r->slot, &rec, e);
	json_decref(prov);
	if (ret < 0)
		return ret;
	bool fp_changed =
	    r->fp_new &&
	    (!r->fp_prev ||
	     !json_equal(json_object_get(r->fp_prev, "files"),
			 json_object_get(r->fp_new, "files")) ||
	     !json_equal(json_object_get(r->fp_prev, "key"), json_object_get(r->fp_new, "key")) ||
	     !json_equal(json_object_get(r->fp_prev, "inputs"),
			 json_object_get(r->fp_new, "inputs")) ||
	     strcmp(json_get_str(r->fp_prev, "revision") ?: "", r->revision));
	if (fp_changed) {
		json_object_set_new(r->fp_new, "revision", json_string(r->revision));
		struct err ignore = ERR_INIT;
		json_write_file(r->fp_path, r->fp_new, &ignore); /* a cache, best effort */
		err_release(&ignore);
	}
	if (r->built)
		cli_progress(cli, "register", mono_s() - t);
	if (o.snapshot && (ret = take_snapshot(r, revdir, &rec)) < 0)
		return ret;
	double total = mono_s() - t0;

	if (cli->json) {
		json_t *snap = json_pack("{s:b, s:b, s:s?}", "requested", o.snapshot, "created",
					 r->snap.created, "reason", r->snap.reason);
		if (r->snap.created)
			json_object_update_new(
			    snap, json_pack("{s:b, s:I, s:I, s:I, s:I}", "reused", r->snap.reused,
					    "size_bytes", (json_int_t)r->snap.size_bytes, "boot_ms",
					    (json_int_t)r->snap.boot_ms, "save_ms",
					    (json_int_t)r->snap.save_ms, "save_us",
					    (json_int_t)r->snap.save_us));
		json_t *j = json_pack("{s:s, s:s, s:s, s:b, s:f, s:o}", "manifest_path", r->m.path,
				      "slot", r->slot.id.s, "revision", r->revision, "built",
				      r->built, "seconds", total, "snapshot", snap);
		json_object_set_new(j, "revision_dir", json_string(revdir));
		json_object_set_new(j, "phases_s", cli->phases ? cli->phases : json_object());
		cli->phases = NULL;
		cli_json(cli, j);
	} else if (r->built) {
		cli_note(cli, "built revision %.12s in %.2f s", r->revision, total);
	} else {
		cli_note(cli, "up to date: revision %.12s (%.2f s)", r->revision, total);
	}
	return 0;
}

static int run_build(struct cli *cli, int argc, char **argv)
{
	struct run r = {.cli = cli};
	if (o.builder && strcmp(o.builder, "vm") && strcmp(o.builder, "host"))
		return cli_usage_error(cli, "invalid builder '%s': expected host or vm", o.builder);
	int ret = cli_load_manifest(cli, argc ? argv[0] : NULL, &r.m);
	if (ret >= 0)
		ret = config_load(&r.cfg, &cli->err);
	if (ret >= 0) {
		nix_overrides_merge(&r.ov, &r.cfg.override_inputs, &o.overrides);
		r.nix = (struct nix_opts){
		    .offline = r.cfg.offline, .overrides = &r.ov, .verbose = cli->verbose};
		r.req = (struct build_request){
		    .flake = r.m.flake_resolved, .profile = r.m.profile, .nix = &r.nix};
		ret = do_build(&r);
	}
	run_release(&r);
	return ret;
}

const struct command cmd_build = {
    .name = "build",
    .run = run_build,
    .summary = "Build the manifest's flake profile into a bootable revision.",
    .usage = "[PATH] [--force] [--update-hash] [--vcpus N] [--mem SIZE] [--data-disk SIZE] "
	     "[--override-input NAME REF]... [--builder host|vm] [--json]",
    .description =
	"Runs nix on <flake>#packages.<system>.<profile>, packs the output's closure into\n"
	"rootfs.ext4 with the guest kernel and initramfs, and registers the revision\n"
	"under $MVM_HOME/templates/<sha256 of the manifest path>/. An unchanged flake is a\n"
	"cache hit that runs no nix at all. Changing flake or profile after a build is\n"
	"refused (drift) unless --force.",
    .examples = "mvmctl build\nmvmctl build ./api --vcpus 4 --mem 2G\n"
		"mvmctl build --override-input nixpkgs path:/srv/nixpkgs\n"
		"mvmctl build --update-hash\nmvmctl build --builder vm",
    .environment = "MVM_HOME             state directory (default ~/.mvm)\n"
		   "MVM_OFFLINE=1        never ask a binary cache (config: [nix] offline)\n"
		   "MVM_OVERRIDE_INPUTS  \"NAME=REF …\" input overrides (config: [nix] "
		   "override_inputs)\n"
		   "MVM_KERNEL           another guest kernel (config: kernel)",
    .opts = build_opts,
    .max_args = 1,
    .args = CLI_ARG_FILE,
};
