#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fs.h"
#include "core/manifest.h"
#include "core/util.h"
#include "scaffold.h"

#define CORPUS_MAX_FILE	 (1024 * 1024)
#define CORPUS_MAX_FILES 64

struct file {
	char *rel;
	struct strbuf data;
	mode_t mode;
	char *staged; /* temporary name while writing */
};

struct files {
	struct file v[CORPUS_MAX_FILES + 8];
	size_t n;
};

static struct file *add_file(struct files *fs, const char *rel, mode_t mode)
{
	struct file *f = &fs->v[fs->n++];
	*f = (struct file){.rel = xstrdup(rel), .data = STRBUF_INIT, .mode = mode};
	return f;
}

static void files_release(struct files *fs)
{
	for (size_t i = 0; i < fs->n; i++) {
		free(fs->v[i].rel);
		strbuf_release(&fs->v[i].data);
		free(fs->v[i].staged);
	}
	fs->n = 0;
}

/* Reads the corpus directory (recursively, in name order) into fs. */
static int read_corpus(const char *root, const char *rel, const struct plan *p, struct files *fs,
		       struct err *e)
{
	_cleanup_free_ char *dir = *rel ? fs_join(root, rel) : xstrdup(root);
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	if (n < 0)
		return err_sys(e, -errno, EXIT_FAILED, "reading the preset corpus '%s'", dir);
	int r = 0;
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		if (r == 0 && strcmp(name, ".") && strcmp(name, "..")) {
			_cleanup_free_ char *sub = *rel ? fs_join(rel, name) : xstrdup(name);
			_cleanup_free_ char *path = fs_join(root, sub);
			struct stat st;
			if (lstat(path, &st) < 0)
				r = err_sys(e, -errno, EXIT_FAILED, "reading '%s'", path);
			else if (S_ISDIR(st.st_mode))
				r = read_corpus(root, sub, p, fs, e);
			else if (!S_ISREG(st.st_mode))
				r = err_set(e, -EINVAL, EXIT_FAILED,
					    "preset corpus file '%s' is not a regular file", path);
			else if (fs->n >= CORPUS_MAX_FILES)
				r = err_set(e, -E2BIG, EXIT_FAILED,
					    "preset corpus '%s' has more than %d files", root,
					    CORPUS_MAX_FILES);
			else {
				/* the python app lives where the plan's entrypoint says */
				bool app = (p->primary->params & PRESET_PARAM_PYTHON_ENTRYPOINT) &&
					   !strcmp(sub, PLAN_DEFAULT_PYTHON_ENTRYPOINT);
				struct file *f = add_file(fs, app ? p->python_entrypoint : sub,
							  st.st_mode & 0111 ? 0755 : 0644);
				r = fs_read_file(path, CORPUS_MAX_FILE, &f->data, e);
			}
		}
		free(names[i]);
	}
	free(names);
	return r;
}

/* Absolute form of dir for messages and the name: realpath when it exists. */
static char *absolute_dir(const char *dir)
{
	char *real = realpath(dir, NULL);
	if (real)
		return real;
	if (dir[0] == '/')
		return xstrdup(dir);
	char cwd[PATH_MAX];
	return xasprintf("%s/%s", getcwd(cwd, sizeof(cwd)) ? cwd : ".", dir);
}

static char *project_name(const char *abs, struct strvec *notes)
{
	_cleanup_free_ char *trimmed = xstrdup(abs);
	size_t len = strlen(trimmed);
	while (len > 1 && trimmed[len - 1] == '/')
		trimmed[--len] = '\0';
	char *base = fs_basename(trimmed);
	if (manifest_valid_name(base))
		return base;
	strvec_pushf(notes,
		     "name left out of mvm.toml: \"%s\" is not a valid name (1-63 of a-z 0-9 _ -, "
		     "not starting with - or _); add name = \"...\" to set one",
		     base);
	free(base);
	return NULL;
}

/* Files that would be replaced, or parents that are not directories. */
static void find_conflicts(const char *dir, const struct files *fs, bool force,
			   struct strvec *conflicts, struct strvec *blockers)
{
	for (size_t i = 0; i < fs->n; i++) {
		_cleanup_free_ char *path = fs_join(dir, fs->v[i].rel);
		struct stat st;
		if (lstat(path, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				strvec_pushf(blockers, "%s (a directory)", fs->v[i].rel);
			else if (!force)
				strvec_push(conflicts, fs->v[i].rel);
			continue;
		}
		/* a parent inside the project that exists but is no directory */
		_cleanup_free_ char *rel = xstrdup(fs->v[i].rel);
		for (char *slash = strchr(rel, '/'); slash; slash = strchr(slash + 1, '/')) {
			*slash = '\0';
			_cleanup_free_ char *parent = fs_join(dir, rel);
			if (lstat(parent, &st) == 0 && !S_ISDIR(st.st_mode)) {
				strvec_pushf(blockers, "%s (not a directory)", rel);
				break;
			}
			*slash = '/';
		}
	}
}

static int list_error(struct err *e, int exit, const char *what, const char *dir,
		      const struct strvec *names)
{
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < names->n; i++)
		strbuf_addf(&sb, "%s%s", i ? ", " : "", names->v[i]);
	err_set(e, -EEXIST, exit, "%s in %s: %s", what, dir, sb.buf);
	strbuf_release(&sb);
	return -EEXIST;
}

/* Stages every file under a temporary name, then renames them all. */
static int write_all(const char *dir, struct files *fs, struct err *e)
{
	int r = 0;
	size_t i;
	for (i = 0; i < fs->n && r == 0; i++) {
		struct file *f = &fs->v[i];
		_cleanup_free_ char *path = fs_join(dir, f->rel);
		_cleanup_free_ char *parent = fs_dirname(path);
		r = fs_mkdir_p(parent, 0755, e);
		if (r == 0) {
			f->staged = fs_temp_beside(path);
			r = fs_write_atomic(f->staged, f->data.buf, f->data.len, f->mode, e);
			if (r < 0) {
				free(f->staged); /* fs_write_atomic removed its own temp */
				f->staged = NULL;
			}
		}
	}
	for (i = 0; i < fs->n; i++) {
		struct file *f = &fs->v[i];
		if (!f->staged)
			continue;
		_cleanup_free_ char *path = fs_join(dir, f->rel);
		if (r == 0 && rename(f->staged, path) < 0)
			r = err_sys(e, -errno, EXIT_FAILED, "renaming into '%s'", path);
		if (r < 0)
			unlink(f->staged);
	}
	for (i = 0; i < fs->n && r == 0; i++) {
		_cleanup_free_ char *path = fs_join(dir, fs->v[i].rel);
		_cleanup_free_ char *parent = fs_dirname(path);
		fs_fsync_dir(parent);
	}
	return r;
}

/* Everything the project consists of, in memory. */
static int collect(const struct scaffold *s, const char *title, const char *name, struct files *fs,
		   struct err *e)
{
	const struct plan *p = s->plan;
	_cleanup_free_ char *corpus = preset_dir(p->primary);
	int r = read_corpus(corpus, "", p, fs, e);
	if (r < 0) {
		err_hint(e, "the presets are looked up in $MVM_DATADIR/presets (or the installed "
			    "share/mvm); is mvm installed completely?");
		return r;
	}
	scaffold_manifest_text(&add_file(fs, "mvm.toml", 0644)->data, p, name);
	if (p->primary->params)
		scaffold_params_text(&add_file(fs, "mvm-params.json", 0644)->data, p);
	scaffold_readme_text(&add_file(fs, "README.md", 0644)->data, p, title);
	strbuf_addstr(&add_file(fs, ".gitignore", 0644)->data, "result*\n");
	if (s->write_plan) {
		json_t *j = plan_to_json(p);
		char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		struct file *f = add_file(fs, "mvm-plan.json", 0644);
		strbuf_addstr(&f->data, text ? text : "{}");
		strbuf_addch(&f->data, '\n');
		free(text);
		json_decref(j);
	}
	for (size_t i = 0; i < fs->n; i++)
		for (size_t k = 0; k < i; k++)
			if (!strcmp(fs->v[i].rel, fs->v[k].rel))
				return err_set(e, -EINVAL, EXIT_FAILED,
					       "preset %s would write %s twice", p->primary->name,
					       fs->v[i].rel);
	return 0;
}

int scaffold_write(const struct scaffold *s, struct scaffold_result *res, struct err *e)
{
	*res = (struct scaffold_result){.files = STRVEC_INIT, .notes = STRVEC_INIT};
	int r = plan_validate(s->plan, e);
	if (r < 0)
		return r;
	res->dir = absolute_dir(s->dir);
	res->name = project_name(res->dir, &res->notes);
	_cleanup_free_ char *title = fs_basename(res->dir);

	struct files fs = {.n = 0};
	struct strvec conflicts = STRVEC_INIT, blockers = STRVEC_INIT;
	r = collect(s, title, res->name, &fs, e);
	if (r == 0) {
		find_conflicts(res->dir, &fs, s->force, &conflicts, &blockers);
		if (blockers.n) {
			r = list_error(e, EXIT_FAILED, "cannot write the project", res->dir,
				       &blockers);
		} else if (conflicts.n) {
			r = list_error(e, EXIT_REFUSED, "refusing to overwrite existing files",
				       res->dir, &conflicts);
			err_hint(e, "pass --force to overwrite them, or choose another directory");
		}
	}
	if (r == 0)
		r = fs_mkdir_p(res->dir, 0755, e);
	if (r == 0)
		r = write_all(res->dir, &fs, e);
	if (r == 0)
		for (size_t i = 0; i < fs.n; i++)
			strvec_push(&res->files, fs.v[i].rel);
	strvec_clear(&conflicts);
	strvec_clear(&blockers);
	files_release(&fs);
	return r;
}

void scaffold_result_release(struct scaffold_result *res)
{
	free(res->dir);
	free(res->name);
	strvec_clear(&res->files);
	strvec_clear(&res->notes);
	*res = (struct scaffold_result){0};
}
