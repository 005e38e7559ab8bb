#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/kernel.h"
#include "build/rootfs.h"
#include "builder/image.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/jsonio.h"
#include "core/paths.h"
#include "core/spawn.h"
#include "core/strvec.h"
#include "core/util.h"

#define IMAGE_FORMAT 2
#define BUSYBOX	     "/bin/busybox"

/* What goes into the image: host files copied to the same path (links
 * resolved), and links kept as links (nix's own nix-build -> nix). */
struct inputs {
	struct strvec files;
	struct strvec links;
	struct strvec applets;
};

static void inputs_release(struct inputs *in)
{
	strvec_clear(&in->files);
	strvec_clear(&in->links);
	strvec_clear(&in->applets);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool listed(const struct strvec *v, const char *s)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->v[i], s))
			return true;
	return false;
}

static int run_capture(const char *const *argv, struct strbuf *out, struct err *e)
{
	struct child c = CHILD_INIT;
	c.argv = argv;
	c.capture_out = c.capture_err = true;
	int r = child_run(&c, e);
	if (r == 0 && c.status != 0)
		r = err_set(e, -EIO, EXIT_NOTREADY, "%s exited with status %d: %s", argv[0],
			    c.status, c.err.buf);
	if (r == 0)
		strbuf_add(out, c.out.buf, c.out.len);
	child_release(&c);
	return r;
}

/* Every entry of dir: links whose target is "nix" (or any, with all_links)
 * as links, files as files. */
static void add_dir(struct inputs *in, const char *dir, bool nix_links_only)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct strvec names = STRVEC_INIT;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			strvec_push(&names, de->d_name);
	closedir(d);
	if (names.n)
		qsort(names.v, names.n, sizeof(*names.v), cmp_str);
	for (size_t i = 0; i < names.n; i++) {
		_cleanup_free_ char *p = fs_join(dir, names.v[i]);
		struct stat sb;
		if (lstat(p, &sb) < 0)
			continue;
		if (S_ISLNK(sb.st_mode)) {
			char t[4096];
			ssize_t n = readlink(p, t, sizeof(t) - 1);
			if (n < 0)
				continue;
			t[n] = '\0';
			const char *base = strrchr(t, '/') ? strrchr(t, '/') + 1 : t;
			if (!nix_links_only || !strcmp(base, "nix"))
				strvec_push(&in->links, p);
		} else if (S_ISREG(sb.st_mode) && !nix_links_only) {
			strvec_push(&in->files, p);
		}
	}
	strvec_clear(&names);
}

/* The shared libraries ldd names for prog (absolute paths). */
static int add_libs(struct inputs *in, const char *prog, struct err *e)
{
	const char *argv[] = {"ldd", prog, NULL};
	struct strbuf out = STRBUF_INIT;
	int r = run_capture(argv, &out, e);
	for (char *line = out.buf, *next; r == 0 && line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *arrow = strstr(line, "=> ");
		char *p = arrow ? arrow + 3 : line;
		p += strspn(p, " \t");
		if (*p != '/')
			continue;
		p[strcspn(p, " \t(")] = '\0';
		if (!listed(&in->files, p))
			strvec_push(&in->files, p);
	}
	strbuf_release(&out);
	return r;
}

static int gather(struct inputs *in, struct err *e)
{
	_cleanup_free_ char *found = which("nix");
	_cleanup_free_ char *nix = found ? realpath(found, NULL) : NULL;
	if (!nix) {
		int r = err_set(e, -ENOENT, EXIT_NOTREADY,
				"the builder VM needs the host's nix to copy into it");
		err_hint(e, "install nix-bin (apt-get install nix-bin), or build with --builder "
			    "host");
		return r;
	}
	if (access(BUSYBOX, X_OK) < 0) {
		int r = err_set(e, -ENOENT, EXIT_NOTREADY,
				"the builder VM needs a static busybox at %s", BUSYBOX);
		err_hint(e, "install busybox-static (apt-get install busybox-static)");
		return r;
	}
	_cleanup_free_ char *bin = fs_dirname(nix);
	_cleanup_free_ char *prefix = fs_dirname(bin);
	_cleanup_free_ char *lib = fs_join(prefix, "lib/nix");
	_cleanup_free_ char *libexec = fs_join(prefix, "libexec/nix");
	strvec_push(&in->files, nix);
	add_dir(in, bin, true);
	add_dir(in, lib, false);
	add_dir(in, libexec, false);
	strvec_push(&in->files, BUSYBOX);
	int r = add_libs(in, nix, e);
	if (r < 0)
		return r;
	const char *argv[] = {BUSYBOX, "--list", NULL};
	struct strbuf out = STRBUF_INIT;
	if ((r = run_capture(argv, &out, e)) == 0)
		for (char *line = out.buf, *next; line && *line; line = next) {
			next = strchr(line, '\n');
			if (next)
				*next++ = '\0';
			if (*line)
				strvec_push(&in->applets, line);
		}
	strbuf_release(&out);
	return r;
}

static void identity(const struct inputs *in, const char *kernel_id, struct sha256_hex *id)
{
	struct strbuf s = STRBUF_INIT;
	strbuf_addf(&s, "format %d\nkernel %s\n", IMAGE_FORMAT, kernel_id);
	const struct strvec *lists[] = {&in->files, &in->links};
	for (size_t l = 0; l < ARRAY_SIZE(lists); l++)
		for (size_t i = 0; i < lists[l]->n; i++) {
			struct stat sb;
			const char *p = lists[l]->v[i];
			if ((l == 0 ? stat(p, &sb) : lstat(p, &sb)) < 0)
				sb = (struct stat){0};
			strbuf_addf(&s, "%s %s %lld %lld.%09ld\n", l == 0 ? "file" : "link", p,
				    (long long)sb.st_size, (long long)sb.st_mtim.tv_sec,
				    sb.st_mtim.tv_nsec);
		}
	for (size_t i = 0; i < in->applets.n; i++)
		strbuf_addf(&s, "applet %s\n", in->applets.v[i]);
	hash_sha256_str(s.buf, id);
	strbuf_release(&s);
}

static int put_file(const char *tree, const char *src, struct rootfs_stats *st, struct err *e)
{
	_cleanup_free_ char *dst = fs_join(tree, src);
	_cleanup_free_ char *dir = fs_dirname(dst);
	struct stat sb;
	if (stat(src, &sb) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "reading '%s'", src);
	_cleanup_free_ char *real = realpath(src, NULL); /* a library's soname link */
	int r = fs_mkdir_p(dir, 0755, e);
	if (r >= 0)
		r = fs_copy_sparse(real ? real : src, dst, sb.st_mode & 0755, false, e);
	st->content_bytes += ((uint64_t)sb.st_size + 4095) / 4096 * 4096;
	st->inodes++;
	return r;
}

static int put_link(const char *tree, const char *src, const char *target, struct rootfs_stats *st,
		    struct err *e)
{
	_cleanup_free_ char *dst = fs_join(tree, src);
	_cleanup_free_ char *dir = fs_dirname(dst);
	int r = fs_mkdir_p(dir, 0755, e);
	if (r < 0)
		return r;
	st->inodes++;
	if (symlink(target, dst) < 0 && errno != EEXIST)
		return err_sys(e, -errno, EXIT_FAILED, "creating link '%s'", dst);
	return 0;
}

static int put_text(const char *tree, const char *path, const char *text, struct err *e)
{
	_cleanup_free_ char *dst = fs_join(tree, path);
	_cleanup_free_ char *dir = fs_dirname(dst);
	int r = fs_mkdir_p(dir, 0755, e);
	return r < 0 ? r : fs_write_atomic(dst, text, strlen(text), 0644, e);
}

static int stage(const char *tree, const struct inputs *in, struct rootfs_stats *st, struct err *e)
{
	*st = (struct rootfs_stats){0};
	int r = fs_mkdir_p(tree, 0755, e);
	for (size_t i = 0; r >= 0 && i < in->files.n; i++)
		r = put_file(tree, in->files.v[i], st, e);
	for (size_t i = 0; r >= 0 && i < in->links.n; i++) {
		char t[4096];
		ssize_t n = readlink(in->links.v[i], t, sizeof(t) - 1);
		if (n < 0)
			return err_sys(e, -errno, EXIT_FAILED, "reading link '%s'", in->links.v[i]);
		t[n] = '\0';
		r = put_link(tree, in->links.v[i], t, st, e);
	}
	for (size_t i = 0; r >= 0 && i < in->applets.n; i++) {
		if (!strcmp(in->applets.v[i], "busybox") || strchr(in->applets.v[i], '/'))
			continue;
		_cleanup_free_ char *p = xasprintf("/bin/%s", in->applets.v[i]);
		r = put_link(tree, p, "busybox", st, e);
	}
	if (r >= 0)
		r = put_text(tree, "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", e);
	if (r >= 0)
		r = put_text(tree, "/etc/group", "root:x:0:\n", e);
	if (r >= 0)
		r = put_text(tree, "/etc/nix/nix.conf", "", e);
	if (r >= 0) /* no DNS inside: nix's lookups stay in /etc/hosts */
		r = put_text(tree, "/etc/nsswitch.conf",
			     "passwd: files\ngroup: files\nhosts: files\n", e);
	if (r >= 0)
		r = put_text(tree, "/etc/hosts", "127.0.0.1 localhost\n", e);
	static const struct {
		const char *name;
		mode_t mode;
	} dirs[] = {{"dev", 0755},  {"proc", 0555}, {"sys", 0555},  {"run", 0755},
		    {"tmp", 01777}, {"data", 0755}, {"root", 0700}, {"var", 0755},
		    {"mnt", 0755},  {"nix", 0755},  {"in", 0755}};
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(dirs); i++) {
		_cleanup_free_ char *p = fs_join(tree, dirs[i].name);
		if ((mkdir(p, dirs[i].mode) < 0 && errno != EEXIST) || chmod(p, dirs[i].mode) < 0)
			r = err_sys(e, -errno, EXIT_FAILED, "creating '%s'", p);
		st->inodes++;
	}
	st->inodes += 8;
	return r;
}

static int make(const char *dir, const struct inputs *in, const char *kernel_id, struct err *e)
{
	_cleanup_free_ char *tmp = fs_temp_beside(dir);
	_cleanup_free_ char *tree = fs_join(tmp, "tree");
	_cleanup_free_ char *image = fs_join(tmp, "rootfs.ext4");
	struct rootfs_stats st;
	int r = fs_mkdir_p(tmp, 0700, e);
	if (r >= 0)
		r = stage(tree, in, &st, e);
	if (r >= 0)
		r = rootfs_mkfs(tree, image, &st, e);
	if (r >= 0)
		r = fs_rm_rf(tree, e);
	if (r >= 0) {
		chmod(image, 0600);
		_cleanup_free_ char *now = json_now_rfc3339();
		json_t *files = json_array();
		for (size_t i = 0; i < in->files.n; i++)
			json_array_append_new(files, json_string(in->files.v[i]));
		json_t *meta = json_pack("{s:i, s:s, s:s, s:o, s:I}", "format", IMAGE_FORMAT,
					 "kernel_id", kernel_id, "made_at", now, "files", files,
					 "image_bytes", (json_int_t)st.image_bytes);
		_cleanup_free_ char *mp = fs_join(tmp, "meta.json");
		r = json_write_file(mp, meta, e);
		json_decref(meta);
	}
	if (r >= 0) {
		struct err ig = ERR_INIT;
		fs_rm_rf(dir, &ig); /* an incomplete one (no meta.json) */
		err_release(&ig);
		if (rename(tmp, dir) < 0)
			r = err_sys(e, -errno, EXIT_FAILED, "installing the builder image '%s'",
				    dir);
	}
	if (r < 0) {
		struct err ig = ERR_INIT;
		fs_rm_rf(tmp, &ig);
		err_release(&ig);
		return err_prefix(e, r, "making the builder image");
	}
	_cleanup_free_ char *parent = fs_dirname(dir);
	fs_fsync_dir(parent);
	return 0;
}

/* Holds a shared lock on dir's meta.json while the image is in use; false
 * when the image is not (or no longer) there. */
static bool hold(const char *meta, struct builder_image *img)
{
	int fd = open(meta, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	while (flock(fd, LOCK_SH) < 0 && errno == EINTR)
		;
	if (!fs_is_file(meta)) { /* pruned while we waited */
		close(fd);
		return false;
	}
	img->use_fd = fd;
	return true;
}

/* Removes every other image no build holds: an image is only ever replaced
 * (new nix-bin, new mvm-init), so the others are garbage. One in use stays
 * until a later build finds it free. */
static void prune(const char *images, const char *keep)
{
	DIR *d = opendir(images);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, keep))
			continue;
		_cleanup_free_ char *dir = fs_join(images, de->d_name);
		_cleanup_free_ char *meta = fs_join(dir, "meta.json");
		int fd = open(meta, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
			close(fd); /* a build runs from it */
			continue;
		}
		/* out of the way first, so nobody finds a half-removed image */
		_cleanup_free_ char *gone = fs_temp_beside(dir);
		struct err ig = ERR_INIT;
		if (rename(dir, gone) == 0)
			fs_rm_rf(gone, &ig);
		err_release(&ig);
		if (fd >= 0)
			close(fd);
	}
	closedir(d);
}

int builder_image_ensure(struct builder_image *img, struct err *e)
{
	*img = (struct builder_image)BUILDER_IMAGE_INIT;
	struct kernel k = KERNEL_INIT;
	struct inputs in = {STRVEC_INIT, STRVEC_INIT, STRVEC_INIT};
	_cleanup_free_ char *images = NULL, *dir = NULL, *meta = NULL;
	int r = kernel_ensure(&k, e);
	if (r >= 0)
		r = gather(&in, e);
	if (r < 0)
		goto out;
	struct sha256_hex id;
	identity(&in, k.id, &id);
	images = fs_join(paths_home(), "builder/images");
	dir = fs_join(images, id.s);
	meta = fs_join(dir, "meta.json");
	if ((r = fs_mkdir_p(images, 0700, e)) < 0)
		goto out;
	fs_sweep_temps(images);
	for (int tries = 0; !hold(meta, img); tries++) {
		/* one maker at a time: a second finds the first's image done */
		_cleanup_free_ char *mk = fs_join(images, ".make.lock");
		struct fs_lock lk = FS_LOCK_INIT;
		if (tries == 3) {
			r = err_set(e, -EIO, EXIT_FAILED,
				    "the builder image '%s' vanished three times as it was made: "
				    "is another mvm pruning it?",
				    dir);
			goto out;
		}
		if ((r = fs_lock_take(&lk, mk, true, e)) < 0)
			goto out;
		if (!fs_is_file(meta)) {
			r = make(dir, &in, k.id, e);
			img->made = r >= 0;
		}
		fs_lock_release(&lk);
		if (r < 0)
			goto out;
	}
	prune(images, id.s);
	img->id = xstrdup(id.s);
	img->rootfs = fs_join(dir, "rootfs.ext4");
	img->kernel_id = xstrdup(k.id);
	img->vmlinux = xstrdup(k.vmlinux);
	img->initrd = xstrdup(k.initrd);
out:
	inputs_release(&in);
	kernel_release(&k);
	return r;
}

void builder_image_release(struct builder_image *img)
{
	if (img->use_fd >= 0)
		close(img->use_fd);
	free(img->id);
	free(img->rootfs);
	free(img->kernel_id);
	free(img->vmlinux);
	free(img->initrd);
	*img = (struct builder_image)BUILDER_IMAGE_INIT;
}
