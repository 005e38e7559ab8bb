#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "fs.h"
#include "util.h"

int fs_mkdir_p(const char *path, mode_t mode, struct err *e)
{
	_cleanup_free_ char *p = xstrdup(path);
	size_t len = strlen(p);
	while (len > 1 && p[len - 1] == '/')
		p[--len] = '\0';
	for (char *s = p + 1;; s++) {
		bool end = *s == '\0';
		if (*s == '/' || end) {
			char saved = *s;
			*s = '\0';
			if (mkdir(p, mode) < 0 && errno != EEXIST)
				return err_sys(e, -errno, EXIT_FAILED, "creating directory '%s'",
					       p);
			if (end) {
				if (!fs_is_dir(p))
					return err_set(e, -ENOTDIR, EXIT_FAILED,
						       "'%s' exists and is not a directory", p);
				break;
			}
			*s = saved;
		}
	}
	return 0;
}

char *fs_temp_beside(const char *path)
{
	static unsigned counter;
	_cleanup_free_ char *dir = fs_dirname(path);
	_cleanup_free_ char *base = fs_basename(path);
	return xasprintf("%s/.%s.tmp-%d-%u", dir, base, (int)getpid(), counter++);
}

void fs_sweep_temps(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *t = strstr(de->d_name, ".tmp-");
		if (de->d_name[0] != '.' || !t)
			continue;
		long long pid;
		_cleanup_free_ char *num = xstrndup(t + 5, strcspn(t + 5, "-"));
		if (parse_int64(num, 1, 1 << 30, &pid) < 0)
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue; /* its writer lives (or is not ours to know) */
		_cleanup_free_ char *p = fs_join(dir, de->d_name);
		fs_rm_rf(p, NULL);
	}
	closedir(d);
}

int fs_fsync_dir(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fsync(fd) < 0 ? -errno : 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct err *e)
{
	_cleanup_free_ char *tmp = fs_temp_beside(path);
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return err_sys(e, -errno, EXIT_FAILED, "writing '%s'", path);
	const char *p = data;
	size_t left = len;
	while (left) {
		ssize_t w = write(fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			unlink(tmp);
			return err_sys(e, r, EXIT_FAILED, "writing '%s'", path);
		}
		p += w;
		left -= (size_t)w;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		int r = -errno;
		unlink(tmp);
		return err_sys(e, r, EXIT_FAILED, "writing '%s'", path);
	}
	if (rename(tmp, path) < 0) {
		int r = -errno;
		unlink(tmp);
		return err_sys(e, r, EXIT_FAILED, "renaming into '%s'", path);
	}
	_cleanup_free_ char *dir = fs_dirname(path);
	fs_fsync_dir(dir);
	return 0;
}

int fs_read_file(const char *path, size_t max, struct strbuf *out, struct err *e)
{
	int r = strbuf_read_file(out, path, max);
	if (r == -EFBIG)
		return err_set(e, r, EXIT_FAILED, "'%s' is larger than %zu bytes", path, max);
	if (r < 0)
		return err_sys(e, r, r == -ENOENT ? EXIT_NOTFOUND : EXIT_FAILED, "reading '%s'",
			       path);
	return 0;
}

int fs_symlink_atomic(const char *target, const char *linkpath, struct err *e)
{
	_cleanup_free_ char *tmp = fs_temp_beside(linkpath);
	if (symlink(target, tmp) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "creating link '%s'", linkpath);
	if (rename(tmp, linkpath) < 0) {
		int r = -errno;
		unlink(tmp);
		return err_sys(e, r, EXIT_FAILED, "replacing link '%s'", linkpath);
	}
	_cleanup_free_ char *dir = fs_dirname(linkpath);
	fs_fsync_dir(dir);
	return 0;
}

static int rm_at(int at, const char *name, const char *shown, struct err *e)
{
	if (unlinkat(at, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return err_sys(e, -errno, EXIT_FAILED, "removing '%s'", shown);
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == EACCES) {
		/* a directory of ours we may not read (0000, 0111): make it so */
		struct stat st;
		if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
		    fchmodat(at, name, 0700, 0) == 0)
			fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return err_sys(e, -errno, EXIT_FAILED, "removing '%s'", shown);
	/* A tree mirrored from the Nix store has its 0555 directories: without
	 * write permission nothing in one can be removed (unless root). */
	struct stat dst;
	if (fstat(fd, &dst) == 0 && (dst.st_mode & 0700) != 0700 && dst.st_uid == geteuid())
		fchmod(fd, (dst.st_mode & 07777) | 0700);
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return err_sys(e, -errno, EXIT_FAILED, "removing '%s'", shown);
	}
	int r = 0;
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r = rm_at(dirfd(d), de->d_name, shown, e);
	}
	closedir(d);
	if (r < 0)
		return r;
	if (unlinkat(at, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return err_sys(e, -errno, EXIT_FAILED, "removing '%s'", shown);
	return 0;
}

int fs_rm_rf(const char *path, struct err *e)
{
	return rm_at(AT_FDCWD, path, path, e);
}

bool fs_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

bool fs_is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool fs_is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *fs_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return xstrdup(".");
	while (slash > path && slash[-1] == '/')
		slash--;
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

char *fs_basename(const char *path)
{
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	const char *start = path + len;
	while (start > path && start[-1] != '/')
		start--;
	return xstrndup(start, (size_t)(path + len - start));
}

char *fs_join(const char *a, const char *b)
{
	size_t la = strlen(a);
	while (la > 1 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	return xasprintf("%.*s/%s", (int)la, a, b);
}

int fs_lock_take(struct fs_lock *l, const char *path, bool wait, struct err *e)
{
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(e, -errno, EXIT_FAILED, "opening lock '%s'", path);
	while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
		if (errno == EINTR)
			continue;
		int r = -errno;
		close(fd);
		if (r == -EWOULDBLOCK)
			return r; /* the caller words this one */
		return err_sys(e, r, EXIT_FAILED, "locking '%s'", path);
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) < 0) {
		/* the pid is informational only */
	}
	l->fd = fd;
	l->path = xstrdup(path);
	return 0;
}

pid_t fs_lock_holder(const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	long long pid = 0;
	if (strbuf_read_file(&sb, path, 64) == 0) {
		strbuf_rtrim(&sb);
		if (parse_int64(sb.buf, 1, 1 << 30, &pid) < 0)
			pid = 0;
	}
	strbuf_release(&sb);
	return (pid_t)pid;
}

void fs_lock_release(struct fs_lock *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	free(l->path);
	l->path = NULL;
}

int fs_copy_sparse(const char *src, const char *dst, mode_t mode, bool durable, struct err *e)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return err_sys(e, -errno, EXIT_FAILED, "opening '%s'", src);
	struct stat st;
	if (fstat(in, &st) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "reading '%s'", src);
	_cleanup_free_ char *tmp = fs_temp_beside(dst);
	_cleanup_close_ int out =
	    open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (out < 0)
		return err_sys(e, -errno, EXIT_FAILED, "creating '%s'", tmp);
	int r = ftruncate(out, st.st_size) < 0 ? -errno : 0;
	off_t pos = 0;
	while (r == 0 && pos < st.st_size) {
		off_t data = lseek(in, pos, SEEK_DATA);
		if (data < 0) {
			r = errno == ENXIO ? 0 : -errno; /* only a hole is left */
			break;
		}
		off_t hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0) {
			r = -errno;
			break;
		}
		loff_t io = data, oo = data;
		while (r == 0 && io < hole) {
			ssize_t n = copy_file_range(in, &io, out, &oo, (size_t)(hole - io), 0);
			if (n < 0 && errno != EINTR)
				r = -errno;
			else if (n == 0)
				r = -EIO; /* src shrank under us */
		}
		pos = hole;
	}
	if (r == 0 && durable && fsync(out) < 0)
		r = -errno;
	if (r == 0 && rename(tmp, dst) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return err_sys(e, r, EXIT_FAILED, "copying '%s' to '%s'", src, dst);
	}
	if (durable) {
		_cleanup_free_ char *dir = fs_dirname(dst);
		fs_fsync_dir(dir);
	}
	return 0;
}
