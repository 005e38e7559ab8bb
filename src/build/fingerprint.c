#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/fs.h"
#include "core/hash.h"
#include "core/util.h"
#include "fingerprint.h"

#define MAX_FILES 100000

static long long ns(struct timespec t)
{
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

struct scan {
	const char *root;
	const json_t *prev_files;
	long long prev_recorded;
	json_t *files;
	size_t count;
	struct err *e;
};

static int entry(struct scan *s, const char *rel, const char *abs, const struct stat *sb)
{
	if (++s->count > MAX_FILES)
		return err_set(s->e, -E2BIG, EXIT_FAILED,
			       "the flake directory '%s' holds more than %d files", s->root,
			       MAX_FILES);
	json_t *f =
	    json_pack("{s:I, s:I, s:I, s:I, s:i}", "size", (json_int_t)sb->st_size, "mtime_ns",
		      (json_int_t)ns(sb->st_mtim), "ctime_ns", (json_int_t)ns(sb->st_ctim), "ino",
		      (json_int_t)sb->st_ino, "mode", (int)sb->st_mode);
	if (S_ISLNK(sb->st_mode)) {
		char target[4096];
		ssize_t n = readlink(abs, target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = '\0';
		json_object_set_new(f, "target", json_string(target));
	} else if (S_ISREG(sb->st_mode)) {
		const json_t *old = json_object_get(s->prev_files, rel);
		bool same_stat =
		    old && json_equal(json_object_get(old, "size"), json_object_get(f, "size")) &&
		    json_equal(json_object_get(old, "mtime_ns"), json_object_get(f, "mtime_ns")) &&
		    json_equal(json_object_get(old, "ctime_ns"), json_object_get(f, "ctime_ns")) &&
		    json_equal(json_object_get(old, "ino"), json_object_get(f, "ino"));
		/* A file changed in the same instant the fingerprint was taken may
		 * look unchanged: confirm such files by content (git's racy-clean). */
		bool racy =
		    ns(sb->st_mtim) >= s->prev_recorded || ns(sb->st_ctim) >= s->prev_recorded;
		const char *sha = json_string_value(json_object_get(old, "sha256"));
		if (same_stat && !racy && sha) {
			json_object_set_new(f, "sha256", json_string(sha));
		} else {
			struct sha256_hex hex;
			int r = hash_sha256_file(abs, &hex, NULL, s->e);
			if (r < 0) {
				json_decref(f);
				return r;
			}
			json_object_set_new(f, "sha256", json_string(hex.s));
		}
	}
	json_object_set_new(s->files, rel, f);
	return 0;
}

static int walk(struct scan *s, const char *rel)
{
	_cleanup_free_ char *abs = rel[0] ? fs_join(s->root, rel) : xstrdup(s->root);
	DIR *d = opendir(abs);
	if (!d)
		return err_sys(s->e, -errno, EXIT_FAILED, "reading '%s'", abs);
	int r = 0;
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		const char *n = de->d_name;
		if (!strcmp(n, ".") || !strcmp(n, ".."))
			continue;
		if (!rel[0] && !strcmp(n, ".git"))
			continue;
		_cleanup_free_ char *crel = rel[0] ? xasprintf("%s/%s", rel, n) : xstrdup(n);
		_cleanup_free_ char *cabs = fs_join(abs, n);
		struct stat sb;
		if (lstat(cabs, &sb) < 0)
			continue; /* vanished while scanning */
		if (S_ISLNK(sb.st_mode) && !strncmp(n, "result", 6))
			continue; /* nix build's out-links */
		r = entry(s, crel, cabs, &sb);
		if (r == 0 && S_ISDIR(sb.st_mode))
			r = walk(s, crel);
	}
	closedir(d);
	return r;
}

/* The files below dir, as {"recorded_ns": N, "files": {...}}; prev (an
 * object of the same shape, may be NULL) lends its hashes. */
static int scan_dir(const char *dir, const json_t *prev, json_t **out, struct err *e)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct scan s = {
	    .root = dir,
	    .prev_files = prev ? json_object_get(prev, "files") : NULL,
	    .prev_recorded =
		prev ? (long long)json_integer_value(json_object_get(prev, "recorded_ns")) : 0,
	    .files = json_object(),
	    .e = e,
	};
	int r = walk(&s, "");
	if (r < 0) {
		json_decref(s.files);
		return r;
	}
	*out = json_pack("{s:I, s:o}", "recorded_ns", (json_int_t)ns(now), "files", s.files);
	return 0;
}

int fingerprint_scan(const char *dir, json_t *key, const json_t *prev, json_t **out, struct err *e)
{
	int r = scan_dir(dir, prev, out, e);
	if (r < 0) {
		json_decref(key);
		return r;
	}
	json_object_set_new(*out, "key", key);
	return 0;
}

int fingerprint_scan_inputs(json_t *fp, const struct strvec *dirs, const json_t *prev,
			    struct err *e)
{
	json_t *inputs = json_object();
	const json_t *was = prev ? json_object_get(prev, "inputs") : NULL;
	for (size_t i = 0; i < dirs->n; i++) {
		json_t *one = NULL;
		int r = scan_dir(dirs->v[i], json_object_get(was, dirs->v[i]), &one, e);
		if (r < 0) {
			json_decref(inputs);
			return r;
		}
		json_object_set_new(inputs, dirs->v[i], one);
	}
	json_object_set_new(fp, "inputs", inputs);
	return 0;
}

static bool same_content(const json_t *a, const json_t *b)
{
	if (json_object_size(a) != json_object_size(b))
		return false;
	const char *k;
	json_t *fa;
	json_object_foreach((json_t *)a, k, fa)
	{
		const json_t *fb = json_object_get(b, k);
		if (!fb)
			return false;
		static const char *const fields[] = {"sha256", "target", "mode"};
		for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
			const json_t *x = json_object_get(fa, fields[i]);
			const json_t *y = json_object_get(fb, fields[i]);
			if ((x || y) && !(x && y && json_equal(x, y)))
				return false;
		}
	}
	return true;
}

static bool same_inputs(const json_t *a, const json_t *b)
{
	if (json_object_size(a) != json_object_size(b))
		return false;
	const char *dir;
	json_t *ia;
	json_object_foreach((json_t *)a, dir, ia)
	{
		const json_t *ib = json_object_get(b, dir);
		if (!ib ||
		    !same_content(json_object_get(ia, "files"), json_object_get(ib, "files")))
			return false;
	}
	return true;
}

bool fingerprint_same(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return false;
	return json_equal(json_object_get(a, "key"), json_object_get(b, "key")) &&
	       same_content(json_object_get(a, "files"), json_object_get(b, "files")) &&
	       same_inputs(json_object_get(a, "inputs"), json_object_get(b, "inputs"));
}
