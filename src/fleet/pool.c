/* Pools (pool.h): records, the pool's revision store, builds and rollbacks. */
#include "fleet/pool.h"

#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "build/snapdeps.h"
#include "build/snapshot.h"
#include "core/clock.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/jsonio.h"
#include "core/manifest.h"
#include "core/paths.h"
#include "core/registry.h"
#include "core/util.h"
#include "fleet/fleet.h"
#include "fleet/tenant.h"

#define POOL_SCHEMA_VERSION 1
#define POOL_RECORD	    "pool.json"
#define POOL_LOCK	    "pool.lock"
#define POOL_BUILD_LOCK	    "build.lock"
#define POOL_REVISIONS	    "revisions"
#define STORE_TAG_MAX	    128 /* rstore's limit for a tag */
#define REVISION_MIN_PREFIX 8

/* A pool revision holds what a slot revision holds. */
#define pool_required_artifacts slot_required_artifacts

static void phase(const struct build_progress *pg, const char *name, double since)
{
	if (pg && pg->phase_done)
		pg->phase_done(pg->ctx, name, mono_s() - since);
}

/* "pool_<t>.<p>": ids never hold '_' or '.', so no other pool's tag ends the
 * same way (rstore matches leftovers by suffix); past rstore's length limit,
 * "pool_<sha256 of t/p>". */
static char *store_tag(const char *t, const char *p)
{
	char *tag = xasprintf("pool_%s.%s", t, p);
	if (strlen(tag) <= STORE_TAG_MAX)
		return tag;
	free(tag);
	_cleanup_free_ char *addr = xasprintf("%s/%s", t, p);
	struct sha256_hex h;
	hash_sha256_str(addr, &h);
	return xasprintf("pool_%s", h.s);
}

static int check_addr(const char *t, const char *p, struct err *e)
{
	_cleanup_free_ char *s = xasprintf("%s/%s", t ? t : "", p ? p : "");
	struct fleet_addr a;
	return fleet_parse_pool(s, &a, e);
}

static int pool_not_found(struct err *e, const char *t, const char *p)
{
	int r = err_set(e, -ENOENT, EXIT_NOTFOUND, "Pool '%s/%s' does not exist", t, p);
	err_hint(e,
		 "'mvmctl pool ls %s' lists the tenant's pools; 'mvmctl pool create %s/%s "
		 "--flake REF --profile NAME' makes one",
		 t, t, p);
	return r;
}

/* Takes build.lock without waiting: a build or rollback in progress fails. */
static int take_build_lock(const char *dir, const char *t, const char *p, struct fs_lock *lk,
			   struct err *e)
{
	_cleanup_free_ char *path = fs_join(dir, POOL_BUILD_LOCK);
	int r = fs_lock_take(lk, path, false, e);
	if (r == -EWOULDBLOCK) {
		pid_t pid = fs_lock_holder(path);
		r = err_set(e, r, EXIT_FAILED,
			    "another build or rollback of pool '%s/%s' is in "
			    "progress (pid %d)",
			    t, p, (int)pid);
		err_hint(e, "wait for it to finish, then run the command again");
	}
	return r;
}

/* ---- the record ----------------------------------------------------------- */

static int malformed(struct err *e, const char *path, const char *why)
{
	int r = err_set(e, -EINVAL, EXIT_FAILED, "'%s' is malformed: %s", path, why);
	err_hint(e, "restore the file, or remove the pool with 'mvmctl pool rm' and create it "
		    "again");
	return r;
}

static int parse_record(struct pool *p, const char *path, json_t *rec, struct err *e)
{
	json_error_t je;
	const char *tenant, *id, *flake, *profile;
	json_int_t vcpus, mem, disk, running = 0, warm = 0, sleeping = 0;
	json_t *builds = NULL;
	if (json_unpack_ex(rec, &je, 0,
			   "{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s?{s?I, s?I, s?I}, s?o}", "tenant",
			   &tenant, "id", &id, "flake", &flake, "profile", &profile, "vcpus",
			   &vcpus, "mem_mib", &mem, "data_disk_mib", &disk, "desired", "running",
			   &running, "warm", &warm, "sleeping", &sleeping, "builds", &builds) < 0)
		return malformed(e, path, je.text);
	if (strcmp(tenant, p->tenant) || strcmp(id, p->id)) {
		_cleanup_free_ char *why =
		    xasprintf("it records pool '%s/%s', not '%s/%s'", tenant, id, p->tenant, p->id);
		return malformed(e, path, why);
	}
	if (vcpus < 1 || vcpus > MANIFEST_MAX_VCPUS || mem < MANIFEST_MIN_MEM_MIB || disk < 0 ||
	    running < 0 || running > UINT_MAX || warm < 0 || warm > UINT_MAX || sleeping < 0 ||
	    sleeping > UINT_MAX)
		return malformed(e, path, "a size or count is out of range");
	if (builds && !json_is_array(builds))
		return malformed(e, path, "\"builds\" is not an array");
	const char *builder = json_string_value(json_object_get(rec, "builder"));
	if (builder && strcmp(builder, "vm") && strcmp(builder, "host"))
		return malformed(e, path, "\"builder\" is neither \"vm\" nor \"host\"");
	p->builder = xstrdup(builder ? builder : "vm");
	p->flake = xstrdup(flake);
	p->profile = xstrdup(profile);
	p->vcpus = (unsigned)vcpus;
	p->mem_mib = (uint64_t)mem;
	p->data_disk_mib = (uint64_t)disk;
	p->desired = (struct pool_counts){(unsigned)running, (unsigned)warm, (unsigned)sleeping};
	return 0;
}

int pool_load(const char *tenant, const char *id, struct pool *p, struct err *e)
{
	*p = (struct pool)POOL_INIT;
	int r = check_addr(tenant, id, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *dir = fleet_pool_dir(tenant, id);
	if (!fs_is_dir(dir))
		return pool_not_found(e, tenant, id);
	_cleanup_free_ char *path = fs_join(dir, POOL_RECORD);
	json_t *rec = NULL;
	if ((r = json_read_file(path, &rec, e)) < 0) {
		if (e && e->exit == EXIT_NOTFOUND)
			e->exit = EXIT_FAILED; /* the pool is there, its record is not */
		return err_prefix(e, r, "pool '%s/%s'", tenant, id);
	}
	p->tenant = xstrdup(tenant);
	p->id = xstrdup(id);
	if ((r = parse_record(p, path, rec, e)) < 0) {
		json_decref(rec);
		pool_release(p);
		return r;
	}
	p->record = rec;
	p->dir = TAKE_PTR(dir);
	rstore_init(&p->store, p->dir, POOL_REVISIONS);
	return 0;
}

int pool_load_addr(const char *addr, struct pool *p, struct err *e)
{
	*p = (struct pool)POOL_INIT;
	struct fleet_addr a;
	int r = fleet_parse_pool(addr, &a, e);
	return r < 0 ? r : pool_load(a.tenant, a.pool, p, e);
}

void pool_release(struct pool *p)
{
	free(p->tenant);
	free(p->id);
	free(p->dir);
	free(p->flake);
	free(p->profile);
	free(p->builder);
	rstore_release(&p->store);
	json_decref(p->record);
	*p = (struct pool)POOL_INIT;
}

static void set_fields(json_t *rec, const struct pool *p)
{
	json_object_set_new(rec, "flake", json_string(p->flake));
	json_object_set_new(rec, "profile", json_string(p->profile));
	json_object_set_new(rec, "builder", json_string(p->builder ? p->builder : "vm"));
	json_object_set_new(rec, "vcpus", json_integer(p->vcpus));
	json_object_set_new(rec, "mem_mib", json_integer((json_int_t)p->mem_mib));
	json_object_set_new(rec, "data_disk_mib", json_integer((json_int_t)p->data_disk_mib));
	json_object_set_new(rec, "desired",
			    json_pack("{s:I, s:I, s:I}", "running", (json_int_t)p->desired.running,
				      "warm", (json_int_t)p->desired.warm, "sleeping",
				      (json_int_t)p->desired.sleeping));
}

/* Read-modify-write of pool.json under pool.lock: what is on disk now (not
 * what p read earlier) is changed by fn, stamped and written back, and then
 * becomes p->record. */
static int record_update(struct pool *p, void (*fn)(json_t *rec, const void *ctx), const void *ctx,
			 struct err *e)
{
	_cleanup_free_ char *lockp = fs_join(p->dir, POOL_LOCK);
	_cleanup_free_ char *path = fs_join(p->dir, POOL_RECORD);
	struct fs_lock lk = FS_LOCK_INIT;
	int r = fs_lock_take(&lk, lockp, true, e);
	if (r < 0)
		return r;
	json_t *rec = NULL;
	if ((r = json_read_file(path, &rec, e)) >= 0) {
		fn(rec, ctx);
		_cleanup_free_ char *now = json_now_rfc3339();
		json_object_set_new(rec, "updated_at", json_string(now));
		r = json_write_file(path, rec, e);
	}
	fs_lock_release(&lk);
	if (r < 0) {
		json_decref(rec);
		return err_prefix(e, r, "pool '%s/%s'", p->tenant, p->id);
	}
	json_decref(p->record);
	p->record = rec;
	return 0;
}

static void save_fields(json_t *rec, const void *ctx)
{
	set_fields(rec, ctx);
}

int pool_save(struct pool *p, struct err *e)
{
	return record_update(p, save_fields, p, e);
}

/* Appends one history entry (ctx, a json_t *), keeping the last POOL_HISTORY_MAX. */
static void append_history(json_t *rec, const void *ctx)
{
	json_t *builds = json_object_get(rec, "builds");
	if (!json_is_array(builds)) {
		builds = json_array();
		json_object_set_new(rec, "builds", builds);
	}
	json_array_append(builds, (json_t *)ctx);
	while (json_array_size(builds) > POOL_HISTORY_MAX)
		json_array_remove(builds, 0);
}

static int record_history(struct pool *p, json_t *entry, struct err *e)
{
	int r = record_update(p, append_history, entry, e);
	json_decref(entry);
	return r;
}

/* ---- create, list, remove ------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The directories of dir named by a valid id, sorted; no dir is none. */
static int list_ids(const char *dir, struct strvec *out, struct err *e)
{
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return err_sys(e, -errno, EXIT_FAILED, "reading '%s'", dir);
	}
	struct strvec found = STRVEC_INIT;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!fleet_id_valid(de->d_name))
			continue;
		_cleanup_free_ char *path = fs_join(dir, de->d_name);
		if (fs_is_dir(path))
			strvec_push(&found, de->d_name);
	}
	closedir(d);
	if (found.n)
		qsort(found.v, found.n, sizeof(*found.v), cmp_str);
	for (size_t i = 0; i < found.n; i++)
		strvec_push(out, found.v[i]);
	strvec_clear(&found);
	return 0;
}

int pool_list(const char *tenant, struct strvec *ids, struct err *e)
{
	if (tenant) {
		_cleanup_free_ char *dir = fleet_pools_dir(tenant);
		return list_ids(dir, ids, e);
	}
	_cleanup_free_ char *root = xasprintf("%s/pools", paths_home());
	struct strvec tenants = STRVEC_INIT;
	int r = list_ids(root, &tenants, e);
	for (size_t i = 0; r >= 0 && i < tenants.n; i++) {
		struct strvec pools = STRVEC_INIT;
		_cleanup_free_ char *dir = fleet_pools_dir(tenants.v[i]);
		r = list_ids(dir, &pools, e);
		for (size_t j = 0; r >= 0 && j < pools.n; j++)
			strvec_pushf(ids, "%s/%s", tenants.v[i], pools.v[j]);
		strvec_clear(&pools);
	}
	strvec_clear(&tenants);
	return r;
}

/* Writes pools/<t>/<p>/ with its pool.json under a temporary name beside it
 * and renames it into place. */
static int write_new_pool(const char *dir, json_t *rec, struct err *e)
{
	_cleanup_free_ char *parent = fs_dirname(dir);
	int r = fs_mkdir_p(parent, 0700, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *tmp = fs_temp_beside(dir);
	if (mkdir(tmp, 0700) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "creating '%s'", tmp);
	_cleanup_free_ char *path = fs_join(tmp, POOL_RECORD);
	r = json_write_file(path, rec, e);
	if (r >= 0 && rename(tmp, dir) < 0)
		r = err_sys(e, -errno, EXIT_FAILED, "renaming '%s' to '%s'", tmp, dir);
	if (r < 0) {
		struct err ig = ERR_INIT;
		fs_rm_rf(tmp, &ig);
		err_release(&ig);
		return r;
	}
	fs_fsync_dir(parent);
	return 0;
}

int pool_create(const struct pool_create_args *a, struct err *e)
{
	int r = check_addr(a->tenant, a->id, e);
	if (r < 0)
		return r;
	if (!a->profile || !manifest_valid_profile(a->profile))
		return err_set(e, -EINVAL, EXIT_USAGE,
			       "invalid profile '%s': expected letters, digits, '_', '.' or '-'",
			       a->profile ? a->profile : "");
	if (a->builder && strcmp(a->builder, "vm") && strcmp(a->builder, "host"))
		return err_set(e, -EINVAL, EXIT_USAGE, "invalid builder '%s': expected vm or host",
			       a->builder);
	if (a->vcpus < 1 || a->vcpus > MANIFEST_MAX_VCPUS)
		return err_set(e, -EINVAL, EXIT_USAGE, "vcpus must be from 1 to %d, got %u",
			       MANIFEST_MAX_VCPUS, a->vcpus);
	if (a->mem_mib < MANIFEST_MIN_MEM_MIB)
		return err_set(e, -EINVAL, EXIT_USAGE, "mem must be at least %dM, got %lluM",
			       MANIFEST_MIN_MEM_MIB, (unsigned long long)a->mem_mib);
	const char *why = a->flake ? manifest_flake_problem(a->flake) : "it is missing";
	if (why)
		return err_set(e, -EINVAL, EXIT_USAGE, "invalid flake reference '%s': %s",
			       a->flake ? a->flake : "", why);
	_cleanup_free_ char *cwd = getcwd(NULL, 0);
	if (!cwd)
		return err_sys(e, -errno, EXIT_FAILED, "reading the working directory");
	_cleanup_free_ char *flake = manifest_resolve_flake(a->flake, cwd);

	struct tenant t = TENANT_INIT;
	if ((r = tenant_load(a->tenant, &t, e)) < 0)
		return r;
	if (flake[0] == '/' && !fs_is_dir(flake)) {
		tenant_release(&t);
		r = err_set(e, -ENOENT, EXIT_NOTFOUND, "flake directory '%s' does not exist",
			    flake);
		err_hint(e, "give --flake the directory holding flake.nix, or a flake reference "
			    "such as github:owner/repo");
		return r;
	}
	struct fs_lock lk = FS_LOCK_INIT;
	if ((r = tenant_lock(a->tenant, &lk, e)) < 0) {
		tenant_release(&t);
		return r;
	}
	_cleanup_free_ char *dir = fleet_pool_dir(a->tenant, a->id);
	_cleanup_free_ char *pools = fleet_pools_dir(a->tenant);
	struct strvec existing = STRVEC_INIT;
	struct stat st;
	if (lstat(dir, &st) == 0) {
		r = err_set(e, -EEXIST, EXIT_REFUSED, "Pool '%s/%s' already exists", a->tenant,
			    a->id);
		err_hint(e, "'mvmctl pool info %s/%s' shows it; 'mvmctl pool rm %s/%s' removes it",
			 a->tenant, a->id, a->tenant, a->id);
	} else if ((r = list_ids(pools, &existing, e)) >= 0 &&
		   (long long)existing.n >= t.q.max_pools) {
		r = err_set(e, -EDQUOT, EXIT_REFUSED,
			    "Quota exceeded for tenant '%s': max_pools is %lld, the tenant has %zu",
			    a->tenant, t.q.max_pools, existing.n);
		err_hint(e, "remove a pool first ('mvmctl pool ls %s' lists them)", a->tenant);
	}
	if (r >= 0) {
		_cleanup_free_ char *now = json_now_rfc3339();
		json_t *rec = json_pack("{s:i, s:s, s:s}", "schema_version", POOL_SCHEMA_VERSION,
					"tenant", a->tenant, "id", a->id);
		struct pool p = {.flake = flake,
				 .profile = (char *)a->profile,
				 .builder = (char *)(a->builder ? a->builder : "vm"),
				 .vcpus = a->vcpus,
				 .mem_mib = a->mem_mib,
				 .data_disk_mib = a->data_disk_mib};
		set_fields(rec, &p);
		json_object_set_new(rec, "builds", json_array());
		json_object_set_new(rec, "created_at", json_string(now));
		json_object_set_new(rec, "updated_at", json_string(now));
		r = write_new_pool(dir, rec, e);
		json_decref(rec);
	}
	strvec_clear(&existing);
	fs_lock_release(&lk);
	tenant_release(&t);
	return r;
}

/* Entries of instances/ (dot-names are temporaries, not instances). */
static int count_instances(const char *t, const char *p, size_t *n, struct err *e)
{
	*n = 0;
	_cleanup_free_ char *dir = fleet_instances_dir(t, p);
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return err_sys(e, -errno, EXIT_FAILED, "reading '%s'", dir);
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			(*n)++;
	closedir(d);
	return 0;
}

int pool_remove(const char *tenant, const char *id, struct err *e)
{
	int r = check_addr(tenant, id, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *dir = fleet_pool_dir(tenant, id);
	if (!fs_is_dir(dir))
		return pool_not_found(e, tenant, id);
	struct fs_lock tlk = FS_LOCK_INIT, blk = FS_LOCK_INIT;
	if ((r = tenant_lock(tenant, &tlk, e)) < 0)
		return r;
	size_t n = 0;
	if (!fs_is_dir(dir)) {
		r = pool_not_found(e, tenant, id); /* removed while we waited */
	} else if ((r = take_build_lock(dir, tenant, id, &blk, e)) >= 0 &&
		   (r = count_instances(tenant, id, &n, e)) >= 0 && n) {
		r = err_set(e, -ENOTEMPTY, EXIT_REFUSED, "Pool '%s/%s' has %zu instance%s", tenant,
			    id, n, n == 1 ? "" : "s");
		err_hint(e, "remove its instances first ('mvmctl instance ls %s/%s' lists them)",
			 tenant, id);
	}
	if (r >= 0) {
		_cleanup_free_ char *tag = store_tag(tenant, id);
		r = rstore_remove_tree(dir, tag, e);
	}
	fs_lock_release(&blk);
	fs_lock_release(&tlk);
	return r;
}

int pool_current(const struct pool *p, char **hash, struct err *e)
{
	return rstore_current(&p->store, hash, e);
}

int pool_revision_complete(const struct pool *p, const char *hash, char **why)
{
	return rstore_revision_complete(&p->store, hash, pool_required_artifacts, why);
}

int pool_register_revision(struct pool *p, const char *hash,
			   int (*fill)(void *ctx, const char *dir, struct err *e), void *ctx,
			   struct err *e)
{
	struct fs_lock lk = FS_LOCK_INIT;
	int r = take_build_lock(p->dir, p->tenant, p->id, &lk, e);
	if (r < 0)
		return r;
	if (pool_revision_complete(p, hash, NULL) == 1) {
		fs_lock_release(&lk);
		return 1;
	}
	_cleanup_free_ char *cur = NULL, *tag = store_tag(p->tenant, p->id);
	bool had = rstore_current(&p->store, &cur, NULL) > 0;
	struct rstore_stage st = RSTORE_STAGE_INIT;
	r = rstore_stage_begin(&st, tag, e);
	if (r >= 0)
		r = fill(ctx, st.dir, e);
	if (r >= 0)
		r = rstore_commit(&p->store, &st, hash, pool_required_artifacts, e);
	rstore_stage_release(&st);
	/* the commit pointed current at it: back to the host's own */
	if (r >= 0 && had && strcmp(cur, hash))
		r = rstore_set_current(&p->store, cur, e);
	fs_lock_release(&lk);
	return r < 0 ? r : 0;
}

/* ---- build and rollback --------------------------------------------------- */

void pool_build_result_release(struct pool_build_result *r)
{
	free(r->revision);
	free(r->snapshot_reason);
	free(r->builder);
	json_decref(r->how);
	*r = (struct pool_build_result){0};
}

/* The snapshot every instance restores from: the pool's sizing, a secrets
 * disk, and its data disk. Failing to take one is a downgrade, not an error. */
static void take_snapshot(const struct pool *p, const char *revdir, struct pool_build_result *out)
{
	struct err se = ERR_INIT;
	struct snapshot_host_deps h;
	struct snapshot_result snap = {0};
	int r = snapshot_host_deps(revdir, &h, &se);
	if (r >= 0) {
		h.deps.vcpus = p->vcpus;
		h.deps.mem_mib = p->mem_mib;
		h.deps.data_disk_mib = p->data_disk_mib;
		h.deps.secrets_disk = true;
		r = snapshot_create(revdir, &h.deps, false, &snap, &se);
		snapshot_host_deps_release(&h);
	}
	if (r < 0) {
		out->snapshot_reason = xstrdup(se.msg ? se.msg : "the snapshot failed");
	} else {
		out->snapshot = snap.created;
		out->snapshot_reused = snap.reused;
		out->snapshot_bytes = snap.size_bytes;
		if (!snap.created)
			out->snapshot_reason = xstrdup(snap.reason ? snap.reason : "none was made");
	}
	snapshot_result_release(&snap);
	err_release(&se);
}

int pool_build_with_progress(struct pool *p, const struct nix_opts *nix,
			     const struct pool_build_opts *bo, const struct build_progress *pg,
			     struct pool_build_result *out, struct err *e)
{
	*out = (struct pool_build_result){0};
	const char *builder = bo && bo->builder ? bo->builder : p->builder;
	if (strcmp(builder, "vm") && strcmp(builder, "host"))
		return err_set(e, -EINVAL, EXIT_USAGE, "invalid builder '%s': expected vm or host",
			       builder);
	out->builder = xstrdup(builder);
	double t0 = mono_s();
	struct fs_lock lk = FS_LOCK_INIT;
	int r = take_build_lock(p->dir, p->tenant, p->id, &lk, e);
	if (r < 0)
		return r;
	struct build_request req = {.flake = p->flake, .profile = p->profile, .nix = nix};
	struct build_resolved rs = {0};
	struct build_result res = {0};
	struct builder *vm = NULL;
	_cleanup_free_ char *revdir = NULL, *cur = NULL, *now = NULL;
	double t = mono_s();
	if (!strcmp(builder, "vm")) {
		/* the flake is evaluated in the VM too: the host's nix never reads it */
		_cleanup_free_ char *tdir = fleet_tenant_dir(p->tenant);
		_cleanup_free_ char *bdir = fs_join(tdir, "builder");
		struct builder_opts o = bo ? bo->vm : (struct builder_opts){.log_fd = 2};
		o.store_dir = bdir;
		if ((r = builder_start(&req, &o, &vm, e)) < 0)
			goto out;
		phase(pg, "boot", t);
		t = mono_s();
		r = builder_resolve(vm, &req, &rs, e);
	} else {
		r = build_resolve(&req, &rs, e);
	}
	if (r < 0)
		goto out;
	phase(pg, "evaluate", t);
	out->revision = xstrdup(rs.revision);
	bool have = pool_revision_complete(p, rs.revision, NULL) == 1;
	if (have) { /* nothing to build: the builder VM goes now */
		builder_stop(vm);
		vm = NULL;
	}
	if (!have) {
		_cleanup_free_ char *tag = store_tag(p->tenant, p->id);
		struct rstore_stage st = RSTORE_STAGE_INIT;
		r = rstore_stage_begin(&st, tag, e);
		if (r >= 0 && vm)
			r = builder_realise(vm, &req, &rs, st.dir, pg, &res, &out->how, e);
		else if (r >= 0)
			r = build_realise(&req, &rs, st.dir, pg, &res, e);
		t = mono_s();
		if (r >= 0)
			r = rstore_commit(&p->store, &st, rs.revision, pool_required_artifacts, e);
		rstore_stage_release(&st);
		if (r < 0)
			goto out;
		phase(pg, "register", t);
		out->built = true;
	} else if (rstore_current(&p->store, &cur, NULL) <= 0 || strcmp(cur, rs.revision)) {
		if ((r = rstore_set_current(&p->store, rs.revision, e)) < 0)
			goto out;
	}
	revdir = rstore_revision_dir(&p->store, rs.revision);
	t = mono_s();
	take_snapshot(p, revdir, out);
	phase(pg, "snapshot", t);
	out->seconds = mono_s() - t0;
	now = json_now_rfc3339();
	json_t *entry =
	    json_pack("{s:s, s:s, s:b, s:b, s:f}", "revision", rs.revision, "built_at", now,
		      "built", out->built, "snapshot", out->snapshot, "seconds", out->seconds);
	if (out->snapshot_reason)
		json_object_set_new(entry, "snapshot_reason", json_string(out->snapshot_reason));
	if (out->built)
		json_object_set_new(entry, "builder",
				    out->how ? json_deep_copy(out->how)
					     : json_pack("{s:s}", "where", "host"));
	r = record_history(p, entry, e);
out:
	builder_stop(vm);
	build_resolved_release(&rs);
	build_result_release(&res);
	fs_lock_release(&lk);
	if (r < 0)
		return err_prefix(e, r, "building pool '%s/%s'", p->tenant, p->id);
	return 0;
}

int pool_build(struct pool *p, const struct nix_opts *nix, struct pool_build_result *out,
	       struct err *e)
{
	return pool_build_with_progress(p, nix, NULL, NULL, out, e);
}

static int revision_not_found(struct err *e, const struct pool *p, const char *given,
			      const char *why)
{
	int r = err_set(e, -ENOENT, EXIT_NOTFOUND, "Revision %s not found", given);
	err_hint(e, "%s%s'mvmctl pool info %s/%s' lists the pool's builds", why ? why : "",
		 why ? "; " : "", p->tenant, p->id);
	return r;
}

int pool_rollback(struct pool *p, const char *revision, char **full, struct err *e)
{
	*full = NULL;
	size_t len = strlen(revision);
	_cleanup_free_ char *want = xstrdup(revision);
	bool hex = len >= REVISION_MIN_PREFIX && len <= SHA256_HEX_LEN;
	for (size_t i = 0; i < len; i++) {
		hex &= isxdigit((unsigned char)want[i]) != 0;
		want[i] = (char)tolower((unsigned char)want[i]);
	}
	if (!hex)
		return revision_not_found(e, p, revision,
					  len < REVISION_MIN_PREFIX
					      ? "give at least 8 hex digits of a revision"
					      : "a revision is 8 to 64 hex digits");
	struct fs_lock lk = FS_LOCK_INIT;
	int r = take_build_lock(p->dir, p->tenant, p->id, &lk, e);
	if (r < 0)
		return r;
	struct strvec hashes = STRVEC_INIT;
	_cleanup_free_ char *cur = NULL, *why = NULL, *match = NULL, *now = NULL;
	size_t n = 0;
	if ((r = rstore_list(&p->store, &hashes, e)) < 0)
		goto out;
	for (size_t i = 0; i < hashes.n; i++)
		if (!strncmp(hashes.v[i], want, len) && !n++)
			match = xstrdup(hashes.v[i]);
	if (n != 1) {
		_cleanup_free_ char *amb =
		    n ? xasprintf("%zu revisions start with %s: give more digits", n, want) : NULL;
		r = revision_not_found(e, p, revision, amb);
		goto out;
	}
	if (pool_revision_complete(p, match, &why) != 1) {
		_cleanup_free_ char *inc =
		    xasprintf("revision %.12s is incomplete (%s): rebuild it with 'mvmctl pool "
			      "build'",
			      match, why ? why : "unknown");
		r = revision_not_found(e, p, revision, inc);
		goto out;
	}
	if (rstore_current(&p->store, &cur, NULL) > 0 && !strcmp(cur, match)) {
		*full = TAKE_PTR(match);
		r = 1;
		goto out;
	}
	if ((r = rstore_set_current(&p->store, match, e)) < 0)
		goto out;
	now = json_now_rfc3339();
	json_t *entry = json_pack("{s:s, s:s, s:o}", "revision", match, "rolled_back_at", now,
				  "from", cur ? json_string(cur) : json_null());
	if ((r = record_history(p, entry, e)) < 0)
		goto out;
	*full = TAKE_PTR(match);
out:
	strvec_clear(&hashes);
	fs_lock_release(&lk);
	return r;
}
