#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"
#include "jsonio.h"
#include "paths.h"
#include "rstore.h"
#include "strbuf.h"
#include "util.h"

#define CHECKSUMS_SCHEMA_VERSION 1
#define MAX_TREE_DEPTH		 16

void rstore_init(struct rstore *s, const char *root, const char *revisions_rel)
{
	s->root = xstrdup(root);
	s->revisions_rel = xstrdup(revisions_rel);
	s->revisions = fs_join(root, revisions_rel);
	s->current = fs_join(root, "current");
}

void rstore_release(struct rstore *s)
{
	free(s->root);
	free(s->revisions_rel);
	free(s->revisions);
	free(s->current);
	*s = (struct rstore)RSTORE_INIT;
}

char *rstore_revision_dir(const struct rstore *s, const char *hash)
{
	return fs_join(s->revisions, hash);
}

bool rstore_has_revision(const struct rstore *s, const char *hash)
{
	_cleanup_free_ char *dir = rstore_revision_dir(s, hash);
	struct stat st;
	return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

int rstore_current(const struct rstore *s, char **hash, struct err *e)
{
	struct strbuf target = STRBUF_INIT;
	strbuf_grow(&target, 256);
	ssize_t n = readlink(s->current, target.buf, target.alloc - 1);
	if (n < 0) {
		int r = -errno;
		strbuf_release(&target);
		if (r == -ENOENT)
			return 0;
		if (r == -EINVAL)
			return err_set(e, r, EXIT_FAILED, "'%s' is not a symlink", s->current);
		return err_sys(e, r, EXIT_FAILED, "reading link '%s'", s->current);
	}
	target.len = (size_t)n;
	target.buf[n] = '\0';
	size_t rl = strlen(s->revisions_rel);
	const char *t = target.buf;
	int r = 0;
	if (strncmp(t, s->revisions_rel, rl) != 0 || t[rl] != '/' ||
	    !hash_is_sha256_hex(t + rl + 1)) {
		r = err_set(e, -EINVAL, EXIT_FAILED,
			    "'%s' points at '%s', which is not a revision of this store",
			    s->current, t);
	} else if (!rstore_has_revision(s, t + rl + 1)) {
		r = err_set(e, -ENOENT, EXIT_FAILED, "'%s' points at missing revision '%s'",
			    s->current, t);
	} else {
		*hash = xstrdup(t + rl + 1);
		r = 1;
	}
	strbuf_release(&target);
	return r;
}

int rstore_set_current(const struct rstore *s, const char *hash, struct err *e)
{
	if (!hash_is_sha256_hex(hash))
		return err_set(e, -EINVAL, EXIT_FAILED, "'%s' is not a revision hash", hash);
	if (!rstore_has_revision(s, hash))
		return err_set(e, -ENOENT, EXIT_NOTFOUND, "no revision %s in '%s'", hash,
			       s->revisions);
	_cleanup_free_ char *target = fs_join(s->revisions_rel, hash);
	return fs_symlink_atomic(target, s->current, e);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int rstore_list(const struct rstore *s, struct strvec *hashes, struct err *e)
{
	DIR *d = opendir(s->revisions);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return err_sys(e, -errno, EXIT_FAILED, "reading '%s'", s->revisions);
	}
	size_t first = hashes->n;
	struct dirent *de;
	while ((de = readdir(d)))
		if (hash_is_sha256_hex(de->d_name))
			strvec_push(hashes, de->d_name);
	closedir(d);
	if (hashes->n > first)
		qsort(hashes->v + first, hashes->n - first, sizeof(char *), cmp_str);
	return 0;
}

/* ---- temporary directories ---------------------------------------------- */

char *rstore_tmp_dir(void)
{
	return fs_join(paths_home(), "tmp");
}

static bool valid_tag(const char *tag)
{
	if (!*tag || strlen(tag) > 128)
		return false;
	for (const char *p = tag; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-'))
			return false;
	return true;
}

/* "<pid>-<n>-<kind>-<tag>" in $MVM_HOME/tmp, created 0700. */
static int make_tmp_name(const char *kind, const char *tag, char **out, struct err *e)
{
	static unsigned counter;
	_cleanup_free_ char *tmp = rstore_tmp_dir();
	int r = paths_ensure_home(e);
	if (r < 0)
		return r;
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return err_sys(e, -errno, EXIT_FAILED, "creating directory '%s'", tmp);
	*out = xasprintf("%s/%d-%u-%s-%s", tmp, (int)getpid(), counter++, kind, tag);
	return 0;
}

/* The pid a temporary entry name starts with, or 0. */
static pid_t entry_pid(const char *name)
{
	long long pid = 0;
	const char *dash = strchr(name, '-');
	if (!dash)
		return 0;
	_cleanup_free_ char *num = xstrndup(name, (size_t)(dash - name));
	if (parse_int64(num, 1, 1 << 30, &pid) < 0)
		return 0;
	return (pid_t)pid;
}

static bool pid_alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

static uint64_t usage_at(int at, const char *name, int depth)
{
	struct stat st;
	if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	uint64_t total = (uint64_t)st.st_blocks * 512;
	if (!S_ISDIR(st.st_mode) || depth > MAX_TREE_DEPTH)
		return total;
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return total;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return total;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			total += usage_at(dirfd(d), de->d_name, depth + 1);
	closedir(d);
	return total;
}

uint64_t rstore_disk_usage(const char *path)
{
	return usage_at(AT_FDCWD, path, 0);
}

/* Removes entries of tmp/ that match: of a dead process, or (tag given) the
 * stage/old entries of that tag from any other process. */
static int sweep(const char *tag, bool dry_run, struct strvec *removed, uint64_t *bytes,
		 struct err *e)
{
	_cleanup_free_ char *tmp = rstore_tmp_dir();
	DIR *d = opendir(tmp);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return err_sys(e, -errno, EXIT_FAILED, "reading '%s'", tmp);
	}
	_cleanup_free_ char *stage_suffix = tag ? xasprintf("-stage-%s", tag) : NULL;
	_cleanup_free_ char *old_suffix = tag ? xasprintf("-old-%s", tag) : NULL;
	pid_t self = getpid();
	struct strvec victims = STRVEC_INIT;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		if (name[0] == '.')
			continue;
		pid_t pid = entry_pid(name);
		if (!pid || pid == self)
			continue;
		bool stale = !pid_alive(pid);
		if (!stale && tag) {
			size_t nl = strlen(name);
			for (const char *suf = stage_suffix; suf;
			     suf = suf == stage_suffix ? old_suffix : NULL) {
				size_t sl = strlen(suf);
				if (nl > sl && !strcmp(name + nl - sl, suf))
					stale = true;
			}
		}
		if (stale)
			strvec_push(&victims, name);
	}
	closedir(d);
	int r = 0;
	for (size_t i = 0; i < victims.n && r >= 0; i++) {
		_cleanup_free_ char *path = fs_join(tmp, victims.v[i]);
		if (bytes)
			*bytes += rstore_disk_usage(path);
		if (!dry_run)
			r = fs_rm_rf(path, e);
		if (r >= 0 && removed)
			strvec_push(removed, path);
	}
	strvec_clear(&victims);
	return r;
}

int rstore_sweep_tmp(bool dry_run, struct strvec *removed, uint64_t *bytes, struct err *e)
{
	return sweep(NULL, dry_run, removed, bytes, e);
}

int rstore_stage_begin(struct rstore_stage *st, const char *tag, struct err *e)
{
	if (!valid_tag(tag))
		return err_set(e, -EINVAL, EXIT_FAILED, "invalid store tag '%s'", tag);
	_cleanup_free_ char *dir = NULL;
	int r = make_tmp_name("stage", tag, &dir, e);
	if (r < 0)
		return r;
	r = sweep(tag, false, NULL, NULL, e);
	if (r < 0)
		return err_prefix(e, r, "cleaning up earlier staging directories");
	if (mkdir(dir, 0700) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "creating staging directory '%s'", dir);
	st->dir = TAKE_PTR(dir);
	return 0;
}

void rstore_stage_release(struct rstore_stage *st)
{
	if (st->dir) {
		struct err ignored = ERR_INIT;
		fs_rm_rf(st->dir, &ignored);
		err_release(&ignored);
	}
	free(st->dir);
	st->dir = NULL;
}

int rstore_remove_tree(const char *dir, const char *tag, struct err *e)
{
	struct stat st;
	if (lstat(dir, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_sys(e, -errno, EXIT_FAILED, "removing '%s'", dir);
	}
	if (!valid_tag(tag))
		return err_set(e, -EINVAL, EXIT_FAILED, "invalid store tag '%s'", tag);
	_cleanup_free_ char *aside = NULL;
	int r = make_tmp_name("rm", tag, &aside, e);
	if (r < 0)
		return r;
	if (rename(dir, aside) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_sys(e, -errno, EXIT_FAILED, "moving '%s' out of the way", dir);
	}
	_cleanup_free_ char *parent = fs_dirname(dir);
	fs_fsync_dir(parent);
	r = fs_rm_rf(aside, e);
	if (r < 0)
		return err_prefix(e, r,
				  "'%s' was moved to '%s' but not fully removed (rerun "
				  "'mvmctl cache prune')",
				  dir, aside);
	return 0;
}

/* ---- checksums ----------------------------------------------------------- */

static bool safe_rel_name(const char *name)
{
	if (!*name || name[0] == '/')
		return false;
	const char *p = name;
	while (*p) {
		const char *slash = strchrnul(p, '/');
		size_t len = (size_t)(slash - p);
		if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && !strncmp(p, "..", 2)))
			return false;
		p = *slash ? slash + 1 : slash;
		if (*slash && !*p)
			return false; /* trailing slash */
	}
	return true;
}

/* Hashes, chmods and fsyncs every regular file below dir/rel into files. */
static int walk_stage(const char *root, const char *rel, int depth, json_t *files, struct err *e)
{
	_cleanup_free_ char *dir = rel ? fs_join(root, rel) : xstrdup(root);
	if (depth > MAX_TREE_DEPTH)
		return err_set(e, -ELOOP, EXIT_FAILED, "'%s' is nested too deeply", dir);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return err_sys(e, -errno, EXIT_FAILED, "opening '%s'", dir);
	DIR *d = fdopendir(dfd);
	if (!d) {
		int r = -errno;
		close(dfd);
		return err_sys(e, r, EXIT_FAILED, "reading '%s'", dir);
	}
	struct strvec names = STRVEC_INIT;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			strvec_push(&names, de->d_name);
	if (names.n)
		qsort(names.v, names.n, sizeof(char *), cmp_str);
	int r = 0;
	for (size_t i = 0; i < names.n && r >= 0; i++) {
		const char *name = names.v[i];
		_cleanup_free_ char *relname = rel ? fs_join(rel, name) : xstrdup(name);
		_cleanup_free_ char *path = fs_join(root, relname);
		if (!rel && !strcmp(name, RSTORE_CHECKSUMS)) {
			if (unlinkat(dirfd(d), name, 0) < 0)
				r = err_sys(e, -errno, EXIT_FAILED, "removing '%s'", path);
			continue;
		}
		struct stat st;
		if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = err_sys(e, -errno, EXIT_FAILED, "reading '%s'", path);
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			if (fchmodat(dirfd(d), name, 0700, 0) < 0)
				r = err_sys(e, -errno, EXIT_FAILED, "chmod '%s'", path);
			else
				r = walk_stage(root, relname, depth + 1, files, e);
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			r = err_set(
			    e, -EINVAL, EXIT_FAILED,
			    "'%s' is not a regular file; a revision holds regular files only",
			    path);
			break;
		}
		if (st.st_nlink > 1 && (st.st_mode & 07777) != 0600) {
			/* made 0600 below: through a link that would change a
			 * file outside the registry (the Nix store's own) */
			r = err_set(e, -EMLINK, EXIT_FAILED,
				    "'%s' has other hard links; a revision's files are its own",
				    path);
			break;
		}
		_cleanup_close_ int fd = openat(dirfd(d), name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			r = err_sys(e, -errno, EXIT_FAILED, "opening '%s'", path);
			break;
		}
		struct sha256_hex digest;
		uint64_t size = 0;
		r = hash_sha256_fd(fd, path, &digest, &size, e);
		if (r < 0)
			break;
		if (fchmod(fd, 0600) < 0 || fsync(fd) < 0) {
			r = err_sys(e, -errno, EXIT_FAILED, "syncing '%s'", path);
			break;
		}
		json_object_set_new(
		    files, relname,
		    json_pack("{s:s, s:I}", "sha256", digest.s, "size", (json_int_t)size));
	}
	if (r >= 0 && fsync(dirfd(d)) < 0)
		r = err_sys(e, -errno, EXIT_FAILED, "syncing '%s'", dir);
	closedir(d);
	strvec_clear(&names);
	return r;
}

int rstore_write_checksums(const char *dir, struct err *e)
{
	json_t *files = json_object();
	if (chmod(dir, 0700) < 0) {
		json_decref(files);
		return err_sys(e, -errno, EXIT_FAILED, "chmod '%s'", dir);
	}
	int r = walk_stage(dir, NULL, 0, files, e);
	if (r < 0) {
		json_decref(files);
		return r;
	}
	json_t *doc =
	    json_pack("{s:i, s:o}", "schema_version", CHECKSUMS_SCHEMA_VERSION, "files", files);
	_cleanup_free_ char *path = fs_join(dir, RSTORE_CHECKSUMS);
	r = json_write_file(path, doc, e);
	json_decref(doc);
	return r;
}

void rstore_checksums_release(struct rstore_checksums *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->files[i].name);
	free(c->files);
	c->files = NULL;
	c->n = 0;
}

int rstore_read_checksums(const char *dir, struct rstore_checksums *c, struct err *e)
{
	_cleanup_free_ char *path = fs_join(dir, RSTORE_CHECKSUMS);
	json_t *doc = NULL;
	int r = json_read_file(path, &doc, e);
	if (r < 0)
		return r;
	json_t *files = json_object_get(doc, "files");
	if (!json_is_object(files)) {
		json_decref(doc);
		return err_set(e, -EINVAL, EXIT_FAILED, "%s: \"files\" must be an object", path);
	}
	c->files = xcalloc(json_object_size(files) + 1, sizeof(*c->files));
	c->n = 0;
	const char *name;
	json_t *v;
	json_object_foreach(files, name, v)
	{
		const char *sha = json_get_str(v, "sha256");
		long long size = json_get_int(v, "size", -1);
		if (!safe_rel_name(name)) {
			r = err_set(e, -EINVAL, EXIT_FAILED,
				    "%s: '%s' is not a file name inside the revision", path, name);
			break;
		}
		if (!hash_is_sha256_hex(sha) || size < 0) {
			r = err_set(e, -EINVAL, EXIT_FAILED,
				    "%s: entry '%s' needs \"sha256\" (64 lowercase hex digits) and "
				    "\"size\" (bytes)",
				    path, name);
			break;
		}
		struct rstore_file *f = &c->files[c->n++];
		f->name = xstrdup(name);
		f->size = (uint64_t)size;
		memcpy(f->sha256.s, sha, sizeof(f->sha256.s));
	}
	json_decref(doc);
	if (r < 0) {
		rstore_checksums_release(c);
		err_hint(e, "the revision is damaged: rebuild it with 'mvmctl build --force'");
	}
	return r;
}

const struct rstore_file *rstore_checksums_find(const struct rstore_checksums *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->files[i].name, name))
			return &c->files[i];
	return NULL;
}

int rstore_revision_complete(const struct rstore *s, const char *hash, const char *const *required,
			     char **why)
{
	if (!hash_is_sha256_hex(hash) || !rstore_has_revision(s, hash)) {
		if (why)
			*why = xasprintf("revision %s does not exist", hash);
		return 0;
	}
	_cleanup_free_ char *dir = rstore_revision_dir(s, hash);
	struct rstore_checksums c = RSTORE_CHECKSUMS_INIT;
	struct err e = ERR_INIT;
	if (rstore_read_checksums(dir, &c, &e) < 0) {
		if (why)
			*why = xstrdup(e.msg);
		err_release(&e);
		return 0;
	}
	int r = 1;
	for (size_t i = 0; required && required[i] && r; i++)
		if (!rstore_checksums_find(&c, required[i])) {
			if (why)
				*why = xasprintf("%s does not record %s", RSTORE_CHECKSUMS,
						 required[i]);
			r = 0;
		}
	for (size_t i = 0; i < c.n && r; i++) {
		_cleanup_free_ char *path = fs_join(dir, c.files[i].name);
		struct stat st;
		if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
			if (why)
				*why = xasprintf("'%s' is missing", path);
			r = 0;
		} else if ((uint64_t)st.st_size != c.files[i].size) {
			if (why)
				*why = xasprintf("'%s' is %llu bytes, %llu recorded", path,
						 (unsigned long long)st.st_size,
						 (unsigned long long)c.files[i].size);
			r = 0;
		}
	}
	rstore_checksums_release(&c);
	return r;
}

/* ---- commit --------------------------------------------------------------- */

static int check_required(const char *dir, const char *const *required, struct err *e)
{
	for (size_t i = 0; required && required[i]; i++) {
		_cleanup_free_ char *path = fs_join(dir, required[i]);
		struct stat st;
		if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
			return err_set(e, -ENOENT, EXIT_BUILD,
				       "the build produced no %s (expected '%s')", required[i],
				       path);
		if (st.st_size == 0)
			return err_set(e, -EINVAL, EXIT_BUILD,
				       "the build produced an empty %s ('%s')", required[i], path);
	}
	return 0;
}

static int rename_exchange(const char *a, const char *b)
{
	return renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) < 0 ? -errno : 0;
}

int rstore_commit(const struct rstore *s, struct rstore_stage *st, const char *hash,
		  const char *const *required, struct err *e)
{
	if (!hash_is_sha256_hex(hash))
		return err_set(e, -EINVAL, EXIT_FAILED,
			       "'%s' is not a revision hash (64 lowercase hex digits)", hash);
	if (!st->dir || !fs_is_dir(st->dir))
		return err_set(e, -ENOENT, EXIT_FAILED, "no staging directory to commit");
	int r = check_required(st->dir, required, e);
	if (r < 0)
		return r;
	r = rstore_write_checksums(st->dir, e);
	if (r < 0)
		return err_prefix(e, r, "recording checksums");
	r = fs_mkdir_p(s->revisions, 0700, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *dest = rstore_revision_dir(s, hash);
	if (rename(st->dir, dest) < 0) {
		r = -errno;
		if (r == -EEXIST || r == -ENOTEMPTY) {
			/* Replace: swap the new tree in, the old one now sits at st->dir. */
			r = rename_exchange(st->dir, dest);
			if (r == -EINVAL || r == -ENOSYS) {
				/* No RENAME_EXCHANGE on this filesystem: move the old one aside
				 * first (current dangles until the next rename). */
				_cleanup_free_ char *aside = NULL;
				r = make_tmp_name("old", "revision", &aside, e);
				if (r < 0)
					return r;
				if (rename(dest, aside) < 0)
					return err_sys(e, -errno, EXIT_FAILED,
						       "moving the old '%s' aside", dest);
				if (rename(st->dir, dest) < 0) {
					r = -errno;
					if (rename(aside, dest) < 0) {
						/* leave it in tmp/ for cache prune */
					}
					return err_sys(e, r, EXIT_FAILED, "renaming '%s' to '%s'",
						       st->dir, dest);
				}
				struct err ignored = ERR_INIT;
				fs_rm_rf(aside, &ignored);
				err_release(&ignored);
			} else if (r < 0) {
				return err_sys(e, r, EXIT_FAILED, "replacing '%s'", dest);
			}
		} else {
			if (r == -EXDEV)
				return err_set(e, r, EXIT_FAILED,
					       "'%s' and '%s' are on different filesystems; keep "
					       "$MVM_HOME on one filesystem",
					       st->dir, s->revisions);
			return err_sys(e, r, EXIT_FAILED, "renaming '%s' to '%s'", st->dir, dest);
		}
	}
	fs_fsync_dir(s->revisions);
	/* st->dir is gone, or holds the replaced revision: remove it either way. */
	struct err ignored = ERR_INIT;
	fs_rm_rf(st->dir, &ignored);
	err_release(&ignored);
	_cleanup_free_ char *tmp_parent = fs_dirname(st->dir);
	fs_fsync_dir(tmp_parent);
	free(st->dir);
	st->dir = NULL;
	return rstore_set_current(s, hash, e);
}

/* ---- verify ---------------------------------------------------------------- */

const char *rstore_file_status_name(enum rstore_file_status st)
{
	switch (st) {
	case RSTORE_FILE_OK:
		return "ok";
	case RSTORE_FILE_MISSING:
		return "missing";
	case RSTORE_FILE_CHANGED:
		return "changed";
	}
	return "unknown";
}

void rstore_verify_release(struct rstore_verify *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->files[i].name);
	free(v->files);
	*v = (struct rstore_verify)RSTORE_VERIFY_INIT;
}

int rstore_verify(const struct rstore *s, const char *hash, const char *const *required,
		  struct rstore_verify *v, struct err *e)
{
	if (!hash_is_sha256_hex(hash) || !rstore_has_revision(s, hash))
		return err_set(e, -ENOENT, EXIT_NOTFOUND, "no revision %s in '%s'", hash,
			       s->revisions);
	_cleanup_free_ char *dir = rstore_revision_dir(s, hash);
	struct rstore_checksums c = RSTORE_CHECKSUMS_INIT;
	int r = rstore_read_checksums(dir, &c, e);
	if (r < 0) {
		if (e && e->exit == EXIT_NOTFOUND)
			e->exit = EXIT_FAILED; /* the revision exists; its checksums do not */
		return r;
	}
	size_t nreq = 0;
	while (required && required[nreq])
		nreq++;
	v->files = xcalloc(c.n + nreq + 1, sizeof(*v->files));
	v->n = 0;
	v->problems = 0;
	for (size_t i = 0; i < nreq; i++) {
		if (rstore_checksums_find(&c, required[i]))
			continue;
		struct rstore_verified *f = &v->files[v->n++];
		f->name = xstrdup(required[i]);
		f->status = RSTORE_FILE_MISSING;
		v->problems++;
	}
	for (size_t i = 0; i < c.n; i++) {
		struct rstore_verified *f = &v->files[v->n++];
		f->name = xstrdup(c.files[i].name);
		f->expected = c.files[i].sha256;
		f->expected_size = c.files[i].size;
		_cleanup_free_ char *path = fs_join(dir, c.files[i].name);
		struct stat st;
		if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
			f->status = RSTORE_FILE_MISSING;
			v->problems++;
			continue;
		}
		r = hash_sha256_file(path, &f->actual, &f->actual_size, e);
		if (r < 0) {
			if (r == -ENOENT) { /* vanished between lstat and open */
				f->status = RSTORE_FILE_MISSING;
				v->problems++;
				if (e)
					err_release(e);
				r = 0;
				continue;
			}
			break;
		}
		if (f->actual_size != f->expected_size || strcmp(f->actual.s, f->expected.s)) {
			f->status = RSTORE_FILE_CHANGED;
			v->problems++;
		}
	}
	rstore_checksums_release(&c);
	if (r < 0) {
		rstore_verify_release(v);
		return r;
	}
	return 0;
}
