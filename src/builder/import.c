#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/import.h"
#include "core/dl_archive.h"
#include "core/fs.h"
#include "core/strbuf.h"
#include "core/util.h"

#define STORE_PREFIX "nix/store/"

/* A directory whose mode is set once everything in it is written (a
 * store directory is 0555: nothing could be created in it). */
struct dir_mode {
	char *path;
	mode_t mode;
};

struct import {
	int root_fd;
	const struct strvec *closure;
	const struct builder_import_limits *lim;
	struct dir_mode *dirs;
	size_t n_dirs, cap_dirs;
	uint64_t bytes, entries;
	struct err *e;
};

static int refuse(struct import *im, const char *path, const char *why)
{
	_cleanup_free_ char *shown = str_shown(path, 200);
	return err_set(im->e, -EINVAL, EXIT_BUILD,
		       "the builder's export is refused: '%s' %s; nothing was registered", shown,
		       why);
}

static bool in_closure(const struct strvec *closure, const char *base, size_t len)
{
	for (size_t i = 0; i < closure->n; i++) {
		const char *b = closure->v[i] + strlen("/nix/store/");
		if (strlen(b) == len && !strncmp(b, base, len))
			return true;
	}
	return false;
}

/* Checks the path's shape; *leaf is its last component. */
static int check_path(struct import *im, const char *path)
{
	if (strncmp(path, STORE_PREFIX, strlen(STORE_PREFIX)))
		return refuse(im, path, "is outside nix/store");
	const char *base = path + strlen(STORE_PREFIX);
	size_t blen = strcspn(base, "/");
	if (!in_closure(im->closure, base, blen))
		return refuse(im, path, "is not in the build's closure");
	for (const char *c = path; *c;) {
		size_t n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return refuse(im, path, "has an empty, '.' or '..' component");
		c += n;
		if (*c == '/' && c[1] == '\0')
			break; /* a directory's trailing slash */
		if (*c == '/')
			c++;
	}
	return 0;
}

/* The directory that holds path's last component, opened through real
 * directories only (O_NOFOLLOW at each step); *leaf points into path. */
static int open_parent(struct import *im, const char *path, const char **leaf)
{
	_cleanup_free_ char *p = xstrdup(path);
	size_t len = strlen(p);
	while (len && p[len - 1] == '/')
		p[--len] = '\0';
	char *slash = strrchr(p, '/');
	*leaf = path + (slash ? (size_t)(slash - p) + 1 : 0);
	int fd = dup(im->root_fd);
	if (fd < 0 || !slash)
		return fd < 0 ? err_sys(im->e, -errno, EXIT_FAILED, "importing") : fd;
	*slash = '\0';
	for (char *c = p, *next; c; c = next) {
		next = strchr(c, '/');
		if (next)
			*next++ = '\0';
		int sub = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0 && errno == ENOENT && mkdirat(fd, c, 0700) == 0)
			sub = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (sub < 0)
			return refuse(im, path, "lies under something that is not a directory");
		fd = sub;
	}
	return fd;
}

static int write_file(struct import *im, struct archive *a, int dir, const char *leaf,
		      const char *path, mode_t perm, int64_t size)
{
	if (size < 0 || (uint64_t)size > im->lim->max_bytes - im->bytes)
		return refuse(im, path, "goes past the export's size limit");
	_cleanup_close_ int fd =
	    openat(dir, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST ? refuse(im, path, "appears twice")
				       : err_sys(im->e, -errno, EXIT_FAILED, "writing '%s'", path);
	char buf[1 << 16];
	int64_t left = size;
	while (left > 0) {
		la_ssize_t n = sym_archive_read_data(a, buf, sizeof(buf));
		if (n <= 0)
			return refuse(im, path, "is cut short");
		for (la_ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return err_sys(im->e, w < 0 ? -errno : -EIO, EXIT_FAILED,
					       "writing '%s'", path);
			off += w;
		}
		left -= n;
	}
	im->bytes += (uint64_t)size;
	if (fchmod(fd, perm & 0555) < 0)
		return err_sys(im->e, -errno, EXIT_FAILED, "writing '%s'", path);
	return 0;
}

static int one_entry(struct import *im, struct archive *a, struct archive_entry *ent)
{
	const char *path = sym_archive_entry_pathname(ent);
	if (!path)
		return refuse(im, "?", "has no name");
	if (!strncmp(path, "./", 2))
		path += 2;
	int r = check_path(im, path);
	if (r < 0)
		return r;
	if (++im->entries > im->lim->max_entries)
		return refuse(im, path, "goes past the export's entry limit");
	mode_t perm = (mode_t)sym_archive_entry_perm(ent);
	if (perm & (S_ISUID | S_ISGID))
		return refuse(im, path, "is setuid or setgid");
	if (sym_archive_entry_hardlink(ent))
		return refuse(im, path, "is a hard link");
	const char *leaf;
	_cleanup_close_ int dir = open_parent(im, path, &leaf);
	if (dir < 0)
		return dir;
	_cleanup_free_ char *name = xstrndup(leaf, strcspn(leaf, "/"));
	switch (sym_archive_entry_filetype(ent)) {
	case AE_IFDIR:
		if (mkdirat(dir, name, 0700) < 0 && errno != EEXIST)
			return err_sys(im->e, -errno, EXIT_FAILED, "creating '%s'", path);
		struct stat sb;
		if (fstatat(dir, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(sb.st_mode))
			return refuse(im, path, "is a directory and something else");
		if (im->n_dirs == im->cap_dirs) {
			im->cap_dirs = im->cap_dirs ? im->cap_dirs * 2 : 64;
			im->dirs = xrealloc(im->dirs, im->cap_dirs * sizeof(*im->dirs));
		}
		im->dirs[im->n_dirs++] = (struct dir_mode){xstrdup(path), perm & 0755};
		return 0;
	case AE_IFREG:
		return write_file(im, a, dir, name, path, perm, sym_archive_entry_size(ent));
	case AE_IFLNK: {
		const char *target = sym_archive_entry_symlink(ent);
		if (!target || !*target)
			return refuse(im, path, "is a link to nothing");
		if (symlinkat(target, dir, name) < 0)
			return errno == EEXIST
				   ? refuse(im, path, "appears twice")
				   : err_sys(im->e, -errno, EXIT_FAILED, "creating '%s'", path);
		return 0;
	}
	default:
		return refuse(im, path, "is a device, fifo or socket");
	}
}

/* Directories get their modes last, deepest first (they are in tar order). */
static void set_dir_modes(struct import *im)
{
	for (size_t i = im->n_dirs; i-- > 0;) {
		_cleanup_free_ char *p = xstrdup(im->dirs[i].path);
		size_t len = strlen(p);
		while (len && p[len - 1] == '/')
			p[--len] = '\0';
		fchmodat(im->root_fd, p, im->dirs[i].mode, AT_SYMLINK_NOFOLLOW);
	}
}

int builder_import(const char *disk, off_t offset, const struct strvec *closure, const char *root,
		   const struct builder_import_limits *lim, uint64_t *bytes, struct err *e)
{
	*bytes = 0;
	int r = dl_archive_load(e);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = open(disk, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_sys(e, -errno, EXIT_FAILED, "opening the export disk '%s'", disk);
	if (lseek(fd, offset, SEEK_SET) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "reading the export disk '%s'", disk);
	struct import im = {.closure = closure, .lim = lim, .e = e};
	im.root_fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (im.root_fd < 0)
		return err_sys(e, -errno, EXIT_FAILED, "opening '%s'", root);
	struct archive *a = sym_archive_read_new();
	sym_archive_read_support_format_tar(a);
	sym_archive_read_support_filter_none(a);
	if (sym_archive_read_open_fd(a, fd, 1 << 16) != ARCHIVE_OK) {
		r = err_set(e, -EIO, EXIT_BUILD, "the builder's export is not a tar archive: %s",
			    sym_archive_error_string(a));
		goto out;
	}
	struct archive_entry *ent;
	int st;
	while ((st = sym_archive_read_next_header(a, &ent)) == ARCHIVE_OK)
		if ((r = one_entry(&im, a, ent)) < 0)
			goto out;
	if (st != ARCHIVE_EOF) {
		r = err_set(e, -EIO, EXIT_BUILD, "the builder's export is damaged: %s",
			    sym_archive_error_string(a));
		goto out;
	}
	for (size_t i = 0; i < closure->n; i++) {
		struct stat sb;
		if (fstatat(im.root_fd, closure->v[i] + 1, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			r = refuse(&im, closure->v[i] + 1, "is missing");
			goto out;
		}
	}
	set_dir_modes(&im);
	*bytes = im.bytes;
out:
	sym_archive_read_free(a);
	for (size_t i = 0; i < im.n_dirs; i++)
		free(im.dirs[i].path);
	free(im.dirs);
	close(im.root_fd);
	return r;
}
