#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>

#include "build.h"
#include "build/kernel.h"
#include "build/rootfs.h"
#include "core/clock.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/jsonio.h"
#include "core/spawn.h"
#include "core/util.h"

static void phase(const struct build_progress *pg, const char *name, double start)
{
	if (pg && pg->phase_done)
		pg->phase_done(pg->ctx, name, mono_s() - start);
}

int build_resolve(const struct build_request *req, struct build_resolved *res, struct err *e)
{
	*res = (struct build_resolved){0};
	_cleanup_free_ char *ref = nix_flake_ref(req->flake);
	json_t *meta = NULL;
	int r = nix_flake_metadata(req->nix, ref, &meta, e);
	if (r < 0)
		return r;
	r = build_resolve_meta(req, meta, res, e);
	json_decref(meta);
	return r;
}

int build_resolve_meta(const struct build_request *req, const json_t *meta,
		       struct build_resolved *res, struct err *e)
{
	*res = (struct build_resolved){0};
	res->ref = nix_flake_ref(req->flake);
	res->installable = xasprintf("%s#packages.%s.%s", res->ref, nix_system(), req->profile);
	const char *nar =
	    json_string_value(json_object_get(json_object_get(meta, "locked"), "narHash"));
	if (!nar)
		return err_set(e, -EINVAL, EXIT_BUILD,
			       "nix flake metadata reported no narHash for %s", res->ref);
	json_t *inputs = json_object();
	json_t *locks = json_object_get(meta, "locks");
	const char *root = json_string_value(json_object_get(locks, "root"));
	const char *name;
	json_t *node;
	json_object_foreach(json_object_get(locks, "nodes"), name, node)
	{
		if (root && !strcmp(name, root))
			continue;
		json_t *locked = json_object_get(node, "locked");
		json_object_set_new(inputs, name, locked ? json_deep_copy(locked) : json_null());
	}
	/* the guest kernel and mvm-init (the kernel id names both) go into every
	 * image: a new one is a new revision */
	struct kernel k = KERNEL_INIT;
	int kr = kernel_ensure(&k, e);
	if (kr < 0) {
		json_decref(inputs);
		return kr;
	}
	res->hash_inputs =
	    json_pack("{s:i, s:s, s:o, s:s, s:s, s:s}", "format", 2, "source", nar, "inputs",
		      inputs, "profile", req->profile, "system", nix_system(), "guest", k.id);
	kernel_release(&k);
	char *canon = json_dumps(res->hash_inputs, JSON_COMPACT | JSON_SORT_KEYS);
	struct sha256_hex h;
	hash_sha256_str(canon, &h);
	free(canon);
	res->revision = xstrdup(h.s);

	if (req->flake[0] == '/') {
		_cleanup_free_ char *lock = fs_join(req->flake, "flake.lock");
		struct sha256_hex lh;
		if (fs_is_file(lock) && hash_sha256_file(lock, &lh, NULL, NULL) == 0)
			res->lock_hash = xstrdup(lh.s);
	}
	return 0;
}

/* Hard-links src to dst (same filesystem), or copies it. */
static int place(const char *src, const char *dst, uint64_t *size, struct err *e)
{
	struct stat st;
	if (stat(src, &st) < 0)
		return err_sys(e, -errno, EXIT_BUILD, "reading '%s'", src);
	if (!S_ISREG(st.st_mode) || st.st_size == 0)
		return err_set(e, -EINVAL, EXIT_BUILD, "'%s' is empty or not a file", src);
	*size = (uint64_t)st.st_size;
	/* a copy, not a hard link: the revision's files are made 0600 and
	 * fsynced in place, which through a link would change the store's own
	 * file (copy_file_range shares extents where the filesystem can) */
	return fs_copy_sparse(src, dst, 0600, false, e);
}

/* The profile may bring its own kernel and/or image. Under a root that is
 * not the host's (a builder's export), a link is no file: it could lead to
 * one of the host's. */
static const char *find_in(const char *root, const char *dir, const char *const *names,
			   char **found)
{
	bool host = !strcmp(root, "/");
	for (size_t i = 0; names[i]; i++) {
		_cleanup_free_ char *g = fs_join(dir, names[i]);
		char *p = fs_join(root, g);
		struct stat sb;
		if (host ? fs_is_file(p) : lstat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
			*found = p;
			return names[i];
		}
		free(p);
	}
	return NULL;
}

static int pack(const char *root, const char *out, const struct strvec *closure,
		const char *stage_dir, struct build_result *res, struct err *e)
{
	static const char *const images[] = {"rootfs.ext4", NULL};
	_cleanup_free_ char *own = NULL;
	_cleanup_free_ char *image = fs_join(stage_dir, "rootfs.ext4");
	if (find_in(root, out, images, &own)) {
		res->profile_rootfs = true;
		return place(own, image, &res->rootfs_bytes, e);
	}
	_cleanup_free_ char *tree = fs_join(stage_dir, ".rootfs");
	struct rootfs_stats st;
	double t = mono_s();
	int r = fs_mkdir_p(tree, 0700, e);
	if (r >= 0)
		r = rootfs_stage(root, out, closure, tree, &st, e);
	res->stage_s = mono_s() - t;
	t = mono_s();
	if (r >= 0)
		r = rootfs_mkfs(tree, image, &st, e);
	res->mkfs_s = mono_s() - t;
	/* The tree links the store's files: it must be gone before the stage
	 * is checksummed (which makes every file in it 0600). */
	if (r >= 0) {
		r = fs_rm_rf(tree, e);
	} else {
		struct err ignore = ERR_INIT;
		fs_rm_rf(tree, &ignore);
		err_release(&ignore);
	}
	if (r < 0)
		return r;
	chmod(image, 0600);
	struct stat sb;
	if (stat(image, &sb) < 0 || sb.st_size == 0)
		return err_set(e, -EIO, EXIT_BUILD, "mkfs.ext4 produced no image");
	res->rootfs_bytes = (uint64_t)sb.st_size;
	return 0;
}

static int add_kernel(const char *root, const char *out, const char *stage_dir,
		      struct build_result *res, struct err *e)
{
	struct kernel k = KERNEL_INIT;
	int r = kernel_ensure(&k, e);
	if (r < 0)
		return r;
	res->kernel_id = xstrdup(k.id);
	_cleanup_free_ char *vml = fs_join(stage_dir, "vmlinux");
	_cleanup_free_ char *ird = fs_join(stage_dir, "initrd.img");
	static const char *const kernels[] = {"vmlinux", "kernel", "bzImage", NULL};
	_cleanup_free_ char *own = NULL;
	if (find_in(root, out, kernels, &own)) {
		res->profile_kernel = true;
		r = place(own, vml, &res->vmlinux_bytes, e);
	} else {
		r = place(k.vmlinux, vml, &res->vmlinux_bytes, e);
	}
	if (r >= 0)
		r = place(k.initrd, ird, &res->initrd_bytes, e);
	kernel_release(&k);
	return r;
}

static int write_records(const struct build_request *req, const struct build_resolved *rs,
			 const char *stage_dir, const struct build_result *res, json_t *builder,
			 struct err *e)
{
	_cleanup_free_ char *now = json_now_rfc3339();
	json_t *rev = json_pack(
	    "{s:s, s:s, s:s, s:o, s:s, s:s, s:{s:I, s:I, s:I}, s:s, s:s, s:s, s:O}", "hash",
	    rs->revision, "flake", req->flake, "flake_ref", rs->ref, "lock_hash",
	    rs->lock_hash ? json_string(rs->lock_hash) : json_null(), "profile", req->profile,
	    "system", nix_system(), "sizes", "rootfs_bytes", (json_int_t)res->rootfs_bytes,
	    "vmlinux_bytes", (json_int_t)res->vmlinux_bytes, "initrd_bytes",
	    (json_int_t)res->initrd_bytes, "built_at", now, "nix_out", res->out_path, "kernel_id",
	    res->kernel_id, "hash_inputs", rs->hash_inputs);
	json_object_set_new(rev, "kernel_from_profile", json_boolean(res->profile_kernel));
	json_object_set_new(rev, "rootfs_from_profile", json_boolean(res->profile_rootfs));
	const char *where = builder ? json_string_value(json_object_get(builder, "where")) : NULL;
	if (!where)
		where = "host";
	json_t *how = builder ? json_deep_copy(builder) : json_pack("{s:s}", "where", where);
	json_object_set_new(rev, "builder", how);
	_cleanup_free_ char *rp = fs_join(stage_dir, "revision.json");
	int r = json_write_file(rp, rev, e);
	json_decref(rev);
	if (r < 0)
		return r;
	struct utsname u;
	uname(&u);
	_cleanup_free_ char *nixv = nix_version();
	json_t *prov = json_pack("{s:s, s:s, s:s, s:s, s:s}", "mvmctl_version", MVM_VERSION,
				 "host_arch", u.machine, "nix_version", nixv ? nixv : "unknown",
				 "builder", where, "built_at", now);
	_cleanup_free_ char *pp = fs_join(stage_dir, "provenance.json");
	r = json_write_file(pp, prov, e);
	json_decref(prov);
	return r;
}

int build_pack(const struct build_request *req, const struct build_resolved *rs, const char *root,
	       const struct strvec *closure, const char *stage_dir, json_t *builder,
	       struct build_result *out, struct err *e)
{
	if (!root)
		root = "/";
	int r = pack(root, out->out_path, closure, stage_dir, out, e);
	if (r < 0)
		return err_prefix(e, r, "packing %s", out->out_path);
	if ((r = add_kernel(root, out->out_path, stage_dir, out, e)) < 0)
		return r;
	return write_records(req, rs, stage_dir, out, builder, e);
}

int build_realise(const struct build_request *req, const struct build_resolved *rs,
		  const char *stage_dir, const struct build_progress *pg, struct build_result *out,
		  struct err *e)
{
	*out = (struct build_result){0};
	double t = mono_s();
	struct strvec closure = STRVEC_INIT;
	int r = nix_build(req->nix, rs->installable, &out->out_path, NULL, e);
	if (r >= 0)
		r = nix_closure(req->nix, out->out_path, &closure, e);
	if (r < 0)
		goto out;
	phase(pg, "build", t);
	t = mono_s();
	if ((r = build_pack(req, rs, NULL, &closure, stage_dir, NULL, out, e)) < 0)
		goto out;
	phase(pg, "pack", t);
out:
	strvec_clear(&closure);
	return r;
}

void build_resolved_release(struct build_resolved *r)
{
	free(r->ref);
	free(r->installable);
	free(r->revision);
	free(r->lock_hash);
	json_decref(r->hash_inputs);
	*r = (struct build_resolved){0};
}

void build_result_release(struct build_result *r)
{
	free(r->out_path);
	free(r->kernel_id);
	*r = (struct build_result){0};
}
