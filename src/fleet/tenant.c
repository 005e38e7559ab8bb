/* Tenants: tenant.json (quotas, when secrets were set), the tenant's
 * secrets and the small ext4 image every instance gets a copy of.
 *
 * Secrets never leave secrets.json and secrets.img: no message of this file
 * quotes them (a JSON parse error loses jansson's "near '<token>'" part,
 * which would), and tenant.json records only when they were set and how
 * many top-level keys they have.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fs.h"
#include "core/jsonio.h"
#include "core/paths.h"
#include "core/rstore.h"
#include "core/secrets_img.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "fleet/fleet.h"
#include "fleet/tenant.h"

#define TENANT_SCHEMA_VERSION 1
#define TENANT_JSON	      "tenant.json"
#define TENANT_LOCK	      "tenant.lock"
#define SECRETS_DIR	      "secrets"
#define SECRETS_JSON	      "secrets.json"
#define SECRETS_IMG	      "secrets.img"
#define SECRETS_META	      "meta.json"
/* A secrets file is configuration, not data: anything larger is a mistake. */
#define SECRETS_MAX_BYTES (1u << 20)

static const struct quota_field {
	const char *key;
	size_t off;
	long long min;
	long long def;
} quota_fields[] = {
    {"max_vcpus", offsetof(struct tenant_quotas, max_vcpus), 1, TENANT_DEFAULT_MAX_VCPUS},
    {"max_mem_mib", offsetof(struct tenant_quotas, max_mem_mib), 1, TENANT_DEFAULT_MAX_MEM_MIB},
    {"max_running", offsetof(struct tenant_quotas, max_running), 1, TENANT_DEFAULT_MAX_RUNNING},
    {"max_warm", offsetof(struct tenant_quotas, max_warm), 0, TENANT_DEFAULT_MAX_WARM},
    {"max_pools", offsetof(struct tenant_quotas, max_pools), 1, TENANT_DEFAULT_MAX_POOLS},
    {"max_instances_per_pool", offsetof(struct tenant_quotas, max_instances_per_pool), 1,
     TENANT_DEFAULT_MAX_INSTANCES_PER_POOL},
};

static long long *quota_ptr(struct tenant_quotas *q, const struct quota_field *f)
{
	return (long long *)((char *)q + f->off);
}

static long long quota_get(const struct tenant_quotas *q, const struct quota_field *f)
{
	return *(const long long *)((const char *)q + f->off);
}

static void lock_releasep(struct fs_lock *l)
{
	fs_lock_release(l);
}

void tenant_quotas_default(struct tenant_quotas *q)
{
	for (size_t i = 0; i < ARRAY_SIZE(quota_fields); i++)
		*quota_ptr(q, &quota_fields[i]) = quota_fields[i].def;
}

static int check_id(const char *id, struct err *e)
{
	struct fleet_addr a;
	return fleet_parse_tenant(id ? id : "", &a, e);
}

static int not_found(const char *id, struct err *e)
{
	int r = err_set(e, -ENOENT, EXIT_NOTFOUND, "Tenant '%s' does not exist", id);
	err_hint(e, "create it with 'mvmctl tenant create %s'", id);
	return r;
}

static int check_quotas(const struct tenant_quotas *q, struct err *e)
{
	for (size_t i = 0; i < ARRAY_SIZE(quota_fields); i++) {
		const struct quota_field *f = &quota_fields[i];
		long long v = quota_get(q, f);
		if (v < f->min)
			return err_set(e, -EINVAL, EXIT_USAGE,
				       "quota %s must be at least %lld, got %lld", f->key, f->min,
				       v);
	}
	return 0;
}

static json_t *quotas_json(const struct tenant_quotas *q)
{
	json_t *o = json_object();
	for (size_t i = 0; i < ARRAY_SIZE(quota_fields); i++)
		json_object_set_new(o, quota_fields[i].key,
				    json_integer((json_int_t)quota_get(q, &quota_fields[i])));
	return o;
}

/* ---- create, load, list, remove ------------------------------------------ */

/* A fresh directory under $MVM_HOME/tmp named "<pid>-<n>-new-tenant-<id>"
 * (the naming rstore_sweep_tmp understands: a killed run's leftover goes
 * with the next sweep). */
static int make_tmp_dir(const char *id, char **out, struct err *e)
{
	static unsigned counter;
	int r = paths_ensure_home(e);
	if (r < 0)
		return r;
	_cleanup_free_ char *tmp = rstore_tmp_dir();
	r = fs_mkdir_p(tmp, 0700, e);
	if (r < 0)
		return r;
	for (int i = 0; i < 1000; i++) {
		_cleanup_free_ char *dir =
		    xasprintf("%s/%d-%u-new-tenant-%s", tmp, (int)getpid(), counter++, id);
		if (mkdir(dir, 0700) == 0) {
			*out = TAKE_PTR(dir);
			return 0;
		}
		if (errno != EEXIST)
			return err_sys(e, -errno, EXIT_FAILED, "creating directory '%s'", dir);
	}
	return err_set(e, -EEXIST, EXIT_FAILED, "no free temporary directory name in '%s'", tmp);
}

int tenant_create(const char *id, const struct tenant_quotas *q, struct err *e)
{
	int r = check_id(id, e);
	if (r < 0)
		return r;
	if ((r = check_quotas(q, e)) < 0)
		return r;
	_cleanup_free_ char *tenants = fleet_tenants_dir();
	_cleanup_free_ char *dir = fleet_tenant_dir(id);
	if (fs_exists(dir))
		return err_set(e, -EEXIST, EXIT_REFUSED, "Tenant '%s' already exists", id);
	if ((r = paths_ensure_home(e)) < 0 || (r = fs_mkdir_p(tenants, 0700, e)) < 0)
		return r;

	/* made whole in $MVM_HOME/tmp, then renamed into place: tenants/<id>
	 * either does not exist or has its tenant.json and secrets/ */
	_cleanup_free_ char *stage = NULL;
	if ((r = make_tmp_dir(id, &stage, e)) < 0)
		return r;
	_cleanup_free_ char *now = json_now_rfc3339();
	json_t *rec = json_pack("{s:i, s:s, s:s, s:o}", "schema_version", TENANT_SCHEMA_VERSION,
				"id", id, "created_at", now, "quotas", quotas_json(q));
	_cleanup_free_ char *rec_path = fs_join(stage, TENANT_JSON);
	_cleanup_free_ char *sdir = fs_join(stage, SECRETS_DIR);
	_cleanup_free_ char *img = fs_join(sdir, SECRETS_IMG);
	r = json_write_file(rec_path, rec, e);
	json_decref(rec);
	if (r >= 0 && mkdir(sdir, 0700) < 0)
		r = err_sys(e, -errno, EXIT_FAILED, "creating directory '%s'", sdir);
	if (r >= 0)
		r = secrets_image_make(img, NULL, NULL, 0, stage, e);
	if (r >= 0 && (r = fs_fsync_dir(sdir)) < 0)
		err_sys(e, r, EXIT_FAILED, "syncing '%s'", sdir);
	if (r >= 0 && (r = fs_fsync_dir(stage)) < 0)
		err_sys(e, r, EXIT_FAILED, "syncing '%s'", stage);
	if (r >= 0 && renameat2(AT_FDCWD, stage, AT_FDCWD, dir, RENAME_NOREPLACE) < 0) {
		r = -errno;
		if (r == -EEXIST || r == -ENOTEMPTY)
			err_set(e, -EEXIST, EXIT_REFUSED, "Tenant '%s' already exists", id);
		else
			err_sys(e, r, EXIT_FAILED, "renaming '%s' to '%s'", stage, dir);
	}
	if (r < 0) {
		struct err ignored = ERR_INIT;
		fs_rm_rf(stage, &ignored);
		err_release(&ignored);
		return r;
	}
	fs_fsync_dir(tenants);
	return 0;
}

/* t->secrets from secrets/meta.json, absent until the first `secrets set`.
 * A tenant made before secrets/ existed keeps its files at the top and the
 * meta in tenant.json's "secrets" until its next `secrets set`. */
static int load_secrets_meta(struct tenant *t, struct err *e)
{
	_cleanup_free_ char *sdir = fs_join(t->dir, SECRETS_DIR);
	if (!fs_is_dir(sdir)) {
		json_t *legacy = json_object_get(t->record, "secrets");
		t->secrets = json_is_object(legacy) ? json_incref(legacy) : NULL;
		return 0;
	}
	_cleanup_free_ char *meta = fs_join(sdir, SECRETS_META);
	if (!fs_exists(meta))
		return 0;
	int r = json_read_file(meta, &t->secrets, e);
	if (r < 0) {
		err_prefix(e, r, "tenant '%s'", t->id);
		tenant_release(t);
	}
	return r;
}

int tenant_load(const char *id, struct tenant *t, struct err *e)
{
	*t = (struct tenant)TENANT_INIT;
	int r = check_id(id, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *dir = fleet_tenant_dir(id);
	_cleanup_free_ char *path = fs_join(dir, TENANT_JSON);
	json_t *rec = NULL;
	r = json_read_file(path, &rec, e);
	if (r == -ENOENT && !fs_is_dir(dir))
		return not_found(id, e);
	if (r < 0)
		return err_prefix(e, r, "tenant '%s'", id);
	struct tenant_quotas q;
	const json_t *quotas = json_object_get(rec, "quotas");
	const char *rid = json_get_str(rec, "id");
	if (!rid || strcmp(rid, id)) {
		/* the message quotes rid, which lives in rec: free it after */
		r = err_set(e, -EINVAL, EXIT_FAILED, "'%s' records id '%s', not '%s'", path,
			    rid ? rid : "(none)", id);
		json_decref(rec);
		return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(quota_fields); i++) {
		const struct quota_field *f = &quota_fields[i];
		const json_t *v = json_object_get(quotas, f->key);
		if (!json_is_integer(v) || json_integer_value(v) < f->min) {
			json_decref(rec);
			return err_set(e, -EINVAL, EXIT_FAILED,
				       "'%s': quotas.%s is missing or not an integer >= %lld", path,
				       f->key, f->min);
		}
		*quota_ptr(&q, f) = (long long)json_integer_value(v);
	}
	t->id = xstrdup(id);
	t->dir = TAKE_PTR(dir);
	t->q = q;
	t->record = rec;
	return load_secrets_meta(t, e);
}

void tenant_release(struct tenant *t)
{
	if (!t)
		return;
	free(t->id);
	free(t->dir);
	json_decref(t->record);
	json_decref(t->secrets);
	*t = (struct tenant)TENANT_INIT;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The subdirectories of dir whose names are valid ids, sorted; a missing dir has none. */
static int list_id_dirs(const char *dir, struct strvec *out, struct err *e)
{
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return err_sys(e, -errno, EXIT_FAILED, "reading '%s'", dir);
	}
	size_t first = out->n;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!fleet_id_valid(de->d_name))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode))
			strvec_push(out, de->d_name);
	}
	closedir(d);
	if (out->n > first)
		qsort(out->v + first, out->n - first, sizeof(char *), cmp_str);
	return 0;
}

int tenant_list(struct strvec *ids, struct err *e)
{
	_cleanup_free_ char *dir = fleet_tenants_dir();
	return list_id_dirs(dir, ids, e);
}

int tenant_lock(const char *id, struct fs_lock *lk, struct err *e)
{
	int r = check_id(id, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *dir = fleet_tenant_dir(id);
	_cleanup_free_ char *path = fs_join(dir, TENANT_LOCK);
	_cleanup_free_ char *rec = fs_join(dir, TENANT_JSON);
	/* The lock file lives in the tenant's directory, which `tenant rm`
	 * moves away while holding it: a lock taken on a file that is no
	 * longer (or no longer the same) tenants/<id>/tenant.lock is retried. */
	for (int attempt = 0; attempt < 100; attempt++) {
		if (!fs_is_file(rec))
			return not_found(id, e);
		struct fs_lock l = FS_LOCK_INIT;
		r = fs_lock_take(&l, path, true, e);
		if (r == -ENOENT)
			return not_found(id, e);
		if (r < 0)
			return err_prefix(e, r, "tenant '%s'", id);
		struct stat held, now;
		if (fstat(l.fd, &held) == 0 && stat(path, &now) == 0 && held.st_dev == now.st_dev &&
		    held.st_ino == now.st_ino) {
			*lk = l;
			return 0;
		}
		fs_lock_release(&l);
	}
	return err_set(e, -EAGAIN, EXIT_FAILED, "locking '%s': it keeps being replaced", path);
}

int tenant_remove(const char *id, struct err *e)
{
	_cleanup_(lock_releasep) struct fs_lock lk = FS_LOCK_INIT;
	int r = tenant_lock(id, &lk, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *pools_dir = fleet_pools_dir(id);
	struct strvec pools = STRVEC_INIT;
	r = list_id_dirs(pools_dir, &pools, e);
	if (r < 0) {
		strvec_clear(&pools);
		return r;
	}
	if (pools.n) {
		struct strbuf names = STRBUF_INIT;
		for (size_t i = 0; i < pools.n; i++)
			strbuf_addf(&names, "%s%s/%s", i ? ", " : "", id, pools.v[i]);
		r = err_set(e, -ENOTEMPTY, EXIT_REFUSED, "Tenant '%s' still has %zu pool%s: %s", id,
			    pools.n, pools.n == 1 ? "" : "s", names.buf);
		err_hint(e, "remove %s first with 'mvmctl pool rm %s/%s'%s",
			 pools.n == 1 ? "it" : "them", id, pools.v[0],
			 pools.n == 1 ? "" : " and the others");
		strbuf_release(&names);
		strvec_clear(&pools);
		return r;
	}
	strvec_clear(&pools);
	_cleanup_free_ char *tag = xasprintf("tenant-%s", id);
	_cleanup_free_ char *dir = fleet_tenant_dir(id);
	/* pools/<id> first (no pool in it, only what is left of them): a kill
	 * in between leaves the tenant whole */
	if ((r = rstore_remove_tree(pools_dir, tag, e)) < 0)
		return r;
	return rstore_remove_tree(dir, tag, e);
}

/* ---- secrets ----------------------------------------------------------------- */

/* jansson's message without its "near '<token>'" part, which quotes the input. */
/* jansson's words for what is wrong, without the bytes it quotes: the token
 * (" near '…'"), a byte or a control character (" 0xff"), an escape
 * (" '\\uD800'"). Only the position says where. */
static char *parse_error_text(const json_error_t *je)
{
	size_t len = strlen(je->text);
	static const char *const quoting[] = {" near '", " 0x", " '"};
	for (size_t i = 0; i < ARRAY_SIZE(quoting); i++) {
		const char *q = strstr(je->text, quoting[i]);
		if (q && (size_t)(q - je->text) < len)
			len = (size_t)(q - je->text);
	}
	return xstrndup(je->text, len);
}

static int read_secrets(const char *file, struct strbuf *sb, long long *keys, struct err *e)
{
	int r = strbuf_read_file(sb, file, SECRETS_MAX_BYTES);
	if (r == -EFBIG)
		return err_set(e, r, EXIT_INVALID,
			       "secrets file '%s' is larger than the limit of 1 MiB (%u bytes)",
			       file, SECRETS_MAX_BYTES);
	if (r < 0)
		return err_sys(e, r, r == -ENOENT ? EXIT_NOTFOUND : EXIT_FAILED,
			       "reading secrets file '%s'", file);
	json_error_t je;
	json_t *j = json_loadb(sb->buf, sb->len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		_cleanup_free_ char *text = parse_error_text(&je);
		return err_set(e, -EINVAL, EXIT_INVALID,
			       "secrets file '%s' is not valid JSON: %s at line %d column %d", file,
			       text, je.line, je.column);
	}
	*keys = json_is_object(j) ? (long long)json_object_size(j) : -1;
	json_decref(j);
	return 0;
}

/* A tenant made before secrets/ existed, once secrets/ has replaced them:
 * its top-level secrets.json and secrets.img go, and tenant.json loses
 * "secrets" (nothing reads them any more; killed half-way, they are ignored). */
static void drop_legacy_secrets(struct tenant *t)
{
	const char *const files[] = {SECRETS_JSON, SECRETS_IMG};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *p = fs_join(t->dir, files[i]);
		unlink(p);
	}
	if (json_object_del(t->record, "secrets") == 0) {
		struct err ignored = ERR_INIT;
		_cleanup_free_ char *rec = fs_join(t->dir, TENANT_JSON);
		json_write_file(rec, t->record, &ignored);
		err_release(&ignored);
	}
}

int tenant_secrets_set(const char *id, const char *file, struct err *e)
{
	_cleanup_(lock_releasep) struct fs_lock lk = FS_LOCK_INIT;
	int r = tenant_lock(id, &lk, e);
	if (r < 0)
		return r;
	struct tenant t;
	if ((r = tenant_load(id, &t, e)) < 0)
		return r;

	/* 1. the new content, validated: nothing changes if it is not JSON */
	struct strbuf sb = STRBUF_INIT;
	long long keys = -1;
	r = read_secrets(file, &sb, &keys, e);
	if (r < 0) {
		strbuf_wipe(&sb);
		tenant_release(&t);
		return r;
	}

	/* 2. the new secrets/ made whole outside the tenant's directory */
	struct rstore_stage st = RSTORE_STAGE_INIT;
	_cleanup_free_ char *tag = xasprintf("secrets-%s", id);
	_cleanup_free_ char *content = NULL, *sdir_new = NULL;
	r = rstore_stage_begin(&st, tag, e);
	if (r >= 0) {
		content = fs_join(st.dir, "content");
		sdir_new = fs_join(st.dir, SECRETS_DIR);
		if (mkdir(content, 0700) < 0 || mkdir(sdir_new, 0700) < 0)
			r = err_sys(e, -errno, EXIT_FAILED, "creating a directory in '%s'", st.dir);
	}
	if (r >= 0) {
		_cleanup_free_ char *inside = fs_join(content, SECRETS_JSON);
		r = fs_write_atomic(inside, sb.buf, sb.len, 0400, e);
	}
	if (r >= 0) {
		_cleanup_free_ char *img = fs_join(sdir_new, SECRETS_IMG);
		r = secrets_image_make(img, content, (const char *const[]){SECRETS_JSON, NULL},
				       sb.len, st.dir, e);
	}
	if (r >= 0) {
		_cleanup_free_ char *json = fs_join(sdir_new, SECRETS_JSON);
		r = fs_write_atomic(json, sb.buf, sb.len, 0600, e);
	}
	strbuf_wipe(&sb);
	if (r >= 0) {
		_cleanup_free_ char *now = json_now_rfc3339();
		json_t *meta = json_pack("{s:s, s:o}", "set_at", now, "keys",
					 keys >= 0 ? json_integer((json_int_t)keys) : json_null());
		_cleanup_free_ char *path = fs_join(sdir_new, SECRETS_META);
		r = json_write_file(path, meta, e);
		json_decref(meta);
	}
	if (r >= 0 && (r = fs_fsync_dir(sdir_new)) < 0)
		err_sys(e, r, EXIT_FAILED, "syncing '%s'", sdir_new);

	/* 3. swapped in, in one step: whoever reads secrets/ (an instance
	 * starting, tenant info) sees the old three files or the new three.
	 * The old directory is left in the stage, which goes next. */
	_cleanup_free_ char *sdir = fs_join(t.dir, SECRETS_DIR);
	if (r >= 0) {
		bool legacy = !fs_is_dir(sdir);
		if (renameat2(AT_FDCWD, sdir_new, AT_FDCWD, sdir,
			      legacy ? RENAME_NOREPLACE : RENAME_EXCHANGE) < 0)
			r = err_sys(e, -errno, EXIT_FAILED, "replacing '%s'", sdir);
		else if (legacy)
			drop_legacy_secrets(&t);
		fs_fsync_dir(t.dir);
	}
	rstore_stage_release(&st);
	tenant_release(&t);
	return r < 0 ? err_prefix(e, r, "tenant '%s': setting secrets", id) : 0;
}

int tenant_secrets_disk(const char *id, const char *dst, struct err *e)
{
	int r = check_id(id, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *dir = fleet_tenant_dir(id);
	if (!fs_is_dir(dir))
		return not_found(id, e);
	_cleanup_free_ char *sdir = fs_join(dir, SECRETS_DIR);
	/* secrets/, or the top of a tenant made before it existed */
	_cleanup_free_ char *src = fs_join(fs_is_dir(sdir) ? sdir : dir, SECRETS_IMG);
	/* secrets set swaps a new secrets/ in: the copy reads a whole old image
	 * or a whole new one, without the tenant's lock (an open file outlives
	 * the swap). Not fsync'd: the copy lives only as long as the VM that
	 * reads it. */
	if ((r = fs_copy_sparse(src, dst, 0600, false, e)) < 0) {
		err_prefix(e, r, "tenant '%s': the secrets disk", id);
		err_hint(e, "rebuild it with 'mvmctl tenant secrets set %s --from-file FILE'", id);
	}
	return r;
}
