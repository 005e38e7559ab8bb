#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/spawn.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "rootfs.h"

#define BLOCK 4096u

static void account(struct rootfs_stats *st, const struct stat *sb)
{
	st->inodes++;
	if (S_ISREG(sb->st_mode))
		st->content_bytes += ((uint64_t)sb->st_size + BLOCK - 1) / BLOCK * BLOCK;
	else
		st->content_bytes += S_ISDIR(sb->st_mode) ? BLOCK : 0;
}

static int copy_file(const char *src, const char *dst, mode_t mode, struct err *e)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return err_sys(e, -errno, EXIT_BUILD, "reading '%s'", src);
	_cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
	if (out < 0)
		return err_sys(e, -errno, EXIT_BUILD, "writing '%s'", dst);
	for (;;) {
		ssize_t n = sendfile(out, in, NULL, 1 << 30);
		if (n < 0)
			return err_sys(e, -errno, EXIT_BUILD, "copying '%s'", src);
		if (n == 0)
			break;
	}
	return 0;
}

/* Calls fn(src/name, dst/name) for every entry of the directory src. */
static int each_entry(const char *src, const char *dst,
		      int (*fn)(const char *s, const char *d, struct rootfs_stats *st,
				struct err *e),
		      struct rootfs_stats *st, struct err *e)
{
	DIR *d = opendir(src);
	if (!d)
		return err_sys(e, -errno, EXIT_BUILD, "reading '%s'", src);
	int r = 0;
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		_cleanup_free_ char *s = fs_join(src, de->d_name);
		_cleanup_free_ char *t = fs_join(dst, de->d_name);
		r = fn(s, t, st, e);
	}
	closedir(d);
	return r;
}

/* Mirrors src (a store path, not followed if a symlink) at dst. */
static int mirror(const char *src, const char *dst, struct rootfs_stats *st, struct err *e)
{
	struct stat sb;
	if (lstat(src, &sb) < 0)
		return err_sys(e, -errno, EXIT_BUILD, "reading '%s'", src);
	account(st, &sb);
	if (S_ISLNK(sb.st_mode)) {
		char target[4096];
		ssize_t n = readlink(src, target, sizeof(target) - 1);
		if (n < 0)
			return err_sys(e, -errno, EXIT_BUILD, "reading link '%s'", src);
		target[n] = '\0';
		if (symlink(target, dst) < 0)
			return err_sys(e, -errno, EXIT_BUILD, "creating link '%s'", dst);
		return 0;
	}
	if (S_ISREG(sb.st_mode)) {
		if (link(src, dst) == 0)
			return 0;
		if (errno != EXDEV && errno != EPERM && errno != EMLINK)
			return err_sys(e, -errno, EXIT_BUILD, "linking '%s'", src);
		return copy_file(src, dst, sb.st_mode, e);
	}
	if (!S_ISDIR(sb.st_mode))
		return 0; /* the store holds no devices or fifos */
	if (mkdir(dst, 0700) < 0)
		return err_sys(e, -errno, EXIT_BUILD, "creating '%s'", dst);
	int r = each_entry(src, dst, mirror, st, e);
	if (r == 0 && chmod(dst, sb.st_mode & 07777) < 0)
		r = err_sys(e, -errno, EXIT_BUILD, "setting mode of '%s'", dst);
	return r;
}

/* Where guest path g (absolute) is under root, every link on the way
 * followed as the guest would (openat2 RESOLVE_IN_ROOT): NULL when it does
 * not exist or leads out of root's store (malloc'd). */
static char *in_root(const char *root, const char *g)
{
	_cleanup_close_ int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return NULL;
	struct open_how how = {.flags = O_PATH | O_CLOEXEC,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	_cleanup_close_ int fd = (int)syscall(SYS_openat2, rfd, g, &how, sizeof(how));
	if (fd < 0)
		return NULL;
	char proc[64], real[PATH_MAX];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(proc, real, sizeof(real) - 1);
	if (n < 0)
		return NULL;
	real[n] = '\0';
	size_t rl = strlen(root);
	while (rl > 1 && root[rl - 1] == '/')
		rl--;
	const char *rel = rl == 1 ? real : real + rl;
	if (rl > 1 && (strncmp(real, root, rl) || (real[rl] != '/' && real[rl] != '\0')))
		return NULL;
	if (strncmp(rel, "/nix/store/", 11))
		return NULL;
	return xstrdup(real);
}

struct tree {
	const char *root;
	struct rootfs_stats *st;
};

/* /etc: real directories, files linked to where they live in the profile
 * (g, a guest path). */
static int link_tree(const struct tree *t, const char *g, const char *dst, struct err *e)
{
	_cleanup_free_ char *real = in_root(t->root, g);
	struct stat sb;
	if (real && stat(real, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		if (mkdir(dst, 0755) < 0 && errno != EEXIST)
			return err_sys(e, -errno, EXIT_BUILD, "creating '%s'", dst);
		t->st->inodes++;
		DIR *d = opendir(real);
		if (!d)
			return err_sys(e, -errno, EXIT_BUILD, "reading '%s'", g);
		int r = 0;
		struct dirent *de;
		while (r == 0 && (de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			_cleanup_free_ char *sg = fs_join(g, de->d_name);
			_cleanup_free_ char *sd = fs_join(dst, de->d_name);
			r = link_tree(t, sg, sd, e);
		}
		closedir(d);
		return r;
	}
	t->st->inodes++;
	if (symlink(g, dst) < 0)
		return err_sys(e, -errno, EXIT_BUILD, "creating link '%s'", dst);
	return 0;
}

/* True when the guest path g is a directory (links followed inside root). */
static bool root_is_dir(const char *root, const char *g)
{
	_cleanup_free_ char *real = in_root(root, g);
	return real && fs_is_dir(real);
}

static int mklink(const char *target, const char *root, const char *name, struct err *e)
{
	_cleanup_free_ char *p = fs_join(root, name);
	if (symlink(target, p) < 0)
		return err_sys(e, -errno, EXIT_BUILD, "creating link '%s'", p);
	return 0;
}

int rootfs_stage(const char *root, const char *profile, const struct strvec *closure,
		 const char *stage_dir, struct rootfs_stats *st, struct err *e)
{
	*st = (struct rootfs_stats){0};
	if (!root)
		root = "/";
	_cleanup_free_ char *store = fs_join(stage_dir, "nix/store");
	int r = fs_mkdir_p(store, 0755, e);
	if (r < 0)
		return r;
	for (size_t i = 0; i < closure->n; i++) {
		_cleanup_free_ char *base = fs_basename(closure->v[i]);
		_cleanup_free_ char *dst = fs_join(store, base);
		_cleanup_free_ char *src = fs_join(root, closure->v[i]);
		if ((r = mirror(src, dst, st, e)) < 0)
			return r;
	}

	/* The profile at the root. */
	static const char *const linked[] = {"bin", "sbin", "lib", "share"};
	for (size_t i = 0; i < ARRAY_SIZE(linked); i++) {
		_cleanup_free_ char *p = fs_join(profile, linked[i]);
		if (root_is_dir(root, p) && (r = mklink(p, stage_dir, linked[i], e)) < 0)
			return r;
	}
	_cleanup_free_ char *usr = fs_join(stage_dir, "usr");
	if (mkdir(usr, 0755) < 0)
		return err_sys(e, -errno, EXIT_BUILD, "creating '%s'", usr);
	_cleanup_free_ char *pbin = fs_join(profile, "bin");
	_cleanup_free_ char *psbin = fs_join(profile, "sbin");
	if (root_is_dir(root, pbin) && (r = mklink("../bin", usr, "bin", e)) < 0)
		return r;
	if (root_is_dir(root, psbin) && (r = mklink("../sbin", usr, "sbin", e)) < 0)
		return r;
	_cleanup_free_ char *petc = fs_join(profile, "etc");
	_cleanup_free_ char *etc = fs_join(stage_dir, "etc");
	struct tree t = {.root = root, .st = st};
	if (root_is_dir(root, petc)) {
		if ((r = link_tree(&t, petc, etc, e)) < 0)
			return r;
	} else if (mkdir(etc, 0755) < 0) {
		return err_sys(e, -errno, EXIT_BUILD, "creating '%s'", etc);
	}

	/* Mount points mvm-init uses. */
	static const struct {
		const char *name;
		mode_t mode;
	} dirs[] = {{"dev", 0755},  {"proc", 0555}, {"sys", 0555}, {"run", 0755}, {"tmp", 01777},
		    {"data", 0755}, {"root", 0700}, {"var", 0755}, {"mnt", 0755}};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		_cleanup_free_ char *p = fs_join(stage_dir, dirs[i].name);
		if (mkdir(p, dirs[i].mode) < 0 || chmod(p, dirs[i].mode) < 0)
			return err_sys(e, -errno, EXIT_BUILD, "creating '%s'", p);
		st->inodes++;
	}
	return 0;
}

int rootfs_mkfs(const char *stage_dir, const char *image, struct rootfs_stats *st, struct err *e)
{
	/* Headroom: ext4 metadata and the slack of a read-only image. */
	uint64_t bytes = st->content_bytes + st->content_bytes / 8 + (16u << 20);
	bytes = (bytes + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
	uint64_t inodes = st->inodes + st->inodes / 4 + 256;
	for (int attempt = 0; attempt < 2; attempt++) {
		_cleanup_free_ char *size = xasprintf("%lluk", (unsigned long long)(bytes >> 10));
		_cleanup_free_ char *nin = xasprintf("%llu", (unsigned long long)inodes);
		const char *argv[] = {
		    "mkfs.ext4", "-q",	"-F", "-L", "mvm-root",	    "-b", "4096",	    "-m",
		    "0",	 "-N",	nin,  "-O", "^has_journal", "-E", "root_owner=0:0", "-d",
		    stage_dir,	 image, size, NULL};
		struct child c = CHILD_INIT;
		c.argv = argv;
		c.capture_out = c.capture_err = c.merge_err = true;
		int r = child_run(&c, e);
		if (r < 0) {
			if (r == -ENOENT)
				err_hint(e, "install e2fsprogs (apt-get install e2fsprogs)");
			child_release(&c);
			return r;
		}
		int status = c.status;
		bool full =
		    strstr(c.out.buf, "Could not allocate") || strstr(c.out.buf, "No space");
		if (status == 0) {
			child_release(&c);
			st->image_bytes = bytes;
			return 0;
		}
		if (!full || attempt == 1) {
			strbuf_rtrim(&c.out);
			r = err_set(e, -EIO, EXIT_BUILD, "mkfs.ext4 -d failed (status %d): %s",
				    status, c.out.buf);
			child_release(&c);
			return r;
		}
		child_release(&c);
		unlink(image);
		bytes *= 2;
	}
	return -EIO;
}
