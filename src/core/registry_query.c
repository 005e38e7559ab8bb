#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "discover.h"
#include "fs.h"
#include "hash.h"
#include "jsonio.h"
#include "registry_query.h"
#include "strbuf.h"
#include "strvec.h"
#include "util.h"

/* ---- [PATH] → slot --------------------------------------------------------- */

/* Lexically normalised absolute form of a path that need not exist. */
static char *lexical_abs(const char *arg)
{
	struct strbuf in = STRBUF_INIT;
	if (arg[0] != '/') {
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof(cwd)))
			strbuf_addstr(&in, cwd);
		strbuf_addch(&in, '/');
	}
	strbuf_addstr(&in, arg);
	struct strvec parts = STRVEC_INIT;
	char *save = NULL;
	for (char *tok = strtok_r(in.buf, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (!strcmp(tok, "."))
			continue;
		if (!strcmp(tok, "..")) {
			if (parts.n) {
				free(parts.v[--parts.n]);
				parts.v[parts.n] = NULL;
			}
			continue;
		}
		strvec_push(&parts, tok);
	}
	struct strbuf out = STRBUF_INIT;
	for (size_t i = 0; i < parts.n; i++)
		strbuf_addf(&out, "/%s", parts.v[i]);
	if (!out.len)
		strbuf_addch(&out, '/');
	strvec_clear(&parts);
	strbuf_release(&in);
	return strbuf_detach(&out, NULL);
}

/* The canonical path a manifest that no longer exists had: its parent
 * resolved when that still exists, else the lexical absolute form. */
static char *gone_path_canonical(const char *arg)
{
	_cleanup_free_ char *abs = lexical_abs(arg);
	_cleanup_free_ char *parent = fs_dirname(abs);
	_cleanup_free_ char *base = fs_basename(abs);
	_cleanup_free_ char *real = realpath(parent, NULL);
	if (real)
		return fs_join(real, base);
	return TAKE_PTR(abs);
}

static bool slot_dir_exists_for(const char *manifest_path)
{
	struct sha256_hex id;
	registry_slot_id(manifest_path, &id);
	_cleanup_free_ char *templates = registry_templates_dir();
	_cleanup_free_ char *dir = fs_join(templates, id.s);
	return fs_is_dir(dir);
}

int registry_open_target(struct slot *s, const char *arg, unsigned flags, struct err *e)
{
	*s = (struct slot)SLOT_INIT;
	if (arg && hash_is_sha256_hex(arg)) {
		_cleanup_free_ char *templates = registry_templates_dir();
		_cleanup_free_ char *dir = fs_join(templates, arg);
		if (fs_is_dir(dir))
			return slot_open_id(s, arg, flags, e);
	}
	_cleanup_free_ char *path = NULL;
	int r = discover_manifest(arg, &path, e);
	if (r >= 0)
		return slot_open(s, path, flags, e);
	if (!arg || e->exit != EXIT_NOTFOUND)
		return r;
	/* The manifest is gone (from an existing directory, or with it): its slot
	 * may still be there (an orphan). */
	struct stat st;
	_cleanup_free_ char *gone = NULL;
	if (stat(arg, &st) == 0)
		gone = S_ISDIR(st.st_mode) ? realpath(arg, NULL) : NULL;
	else
		gone = gone_path_canonical(arg);
	if (!gone)
		return r;
	_cleanup_free_ char *c1 = fs_join(gone, "mvm.toml");
	_cleanup_free_ char *c2 = fs_join(gone, "Mvmfile.toml");
	const char *cands[] = {gone, c1, c2};
	for (size_t i = 0; i < ARRAY_SIZE(cands); i++) {
		if (slot_dir_exists_for(cands[i])) {
			err_release(e);
			return slot_open(s, cands[i], flags, e);
		}
	}
	return r;
}

int slot_not_built_error(const struct slot *s, struct err *e)
{
	err_set(e, -ENOENT, EXIT_NOTFOUND, "%s has not been built (no slot at '%s')",
		s->manifest_path ? s->manifest_path : s->id.s, s->dir);
	_cleanup_free_ char *dir = s->manifest_path ? fs_dirname(s->manifest_path) : NULL;
	err_hint(e, "run 'mvmctl build %s'", dir ? dir : "");
	return -ENOENT;
}

/* ---- what a slot holds --------------------------------------------------------- */

static json_t *read_json_quiet(const char *dir, const char *name)
{
	_cleanup_free_ char *path = fs_join(dir, name);
	json_t *j = NULL;
	struct err e = ERR_INIT;
	if (json_read_file(path, &j, &e) < 0)
		j = NULL;
	err_release(&e);
	return j;
}

/* The artifacts of a revision as JSON: recorded ones with their recorded
 * size and whether they are present at that size. */
static json_t *artifacts_json(const char *revdir, char **problem)
{
	json_t *arr = json_array();
	struct rstore_checksums c = RSTORE_CHECKSUMS_INIT;
	struct err e = ERR_INIT;
	if (rstore_read_checksums(revdir, &c, &e) < 0) {
		*problem = xstrdup(e.msg);
		err_release(&e);
		return arr;
	}
	for (size_t i = 0; i < c.n; i++) {
		_cleanup_free_ char *path = fs_join(revdir, c.files[i].name);
		struct stat st;
		bool present = lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
			       (uint64_t)st.st_size == c.files[i].size;
		json_array_append_new(arr,
				      json_pack("{s:s, s:I, s:s, s:b}", "name", c.files[i].name,
						"size_bytes", (json_int_t)c.files[i].size, "sha256",
						c.files[i].sha256.s, "present", present));
	}
	rstore_checksums_release(&c);
	return arr;
}

int slot_info_read(const struct slot *s, struct slot_info *in, struct err *e)
{
	*in = (struct slot_info)SLOT_INFO_INIT;
	int r = slot_current(s, &in->current, e);
	if (r < 0)
		return r;
	struct stat st;
	in->manifest_exists = s->manifest_path && stat(s->manifest_path, &st) == 0;
	const char *recorded_hash = slot_manifest_sha256(s->record);
	if (in->manifest_exists && recorded_hash) {
		struct sha256_hex h;
		if (hash_sha256_file(s->manifest_path, &h, NULL, NULL) == 0)
			in->manifest_changed = strcmp(h.s, recorded_hash) != 0;
	}
	struct strvec hashes = STRVEC_INIT;
	rstore_list(&s->store, &hashes, NULL);
	in->revisions = json_array();
	for (size_t i = 0; i < hashes.n; i++)
		json_array_append_new(in->revisions, json_string(hashes.v[i]));
	strvec_clear(&hashes);
	if (!in->current)
		return 0;
	in->revision_dir = rstore_revision_dir(&s->store, in->current);
	in->artifacts = artifacts_json(in->revision_dir, &in->artifacts_problem);
	in->complete = slot_revision_complete(s, in->current, &in->incomplete_why) == 1;
	in->revision_record = read_json_quiet(in->revision_dir, "revision.json");
	in->provenance = read_json_quiet(in->revision_dir, "provenance.json");
	return 0;
}

void slot_info_release(struct slot_info *in)
{
	free(in->current);
	free(in->revision_dir);
	json_decref(in->revisions);
	json_decref(in->artifacts);
	free(in->artifacts_problem);
	free(in->incomplete_why);
	json_decref(in->revision_record);
	json_decref(in->provenance);
	*in = (struct slot_info)SLOT_INFO_INIT;
}

/* ---- verifying a revision ------------------------------------------------------- */

/* Resolves a full hash or unique prefix among the slot's revisions. */
static int resolve_revision(const struct slot *s, const char *want, char **out, struct err *e)
{
	struct strvec hashes = STRVEC_INIT;
	int r = rstore_list(&s->store, &hashes, e);
	if (r < 0)
		return r;
	size_t len = strlen(want), hits = 0;
	const char *hit = NULL;
	for (size_t i = 0; i < hashes.n; i++)
		if (len >= 4 && !strncmp(hashes.v[i], want, len)) {
			hits++;
			hit = hashes.v[i];
		}
	if (hits == 1)
		*out = xstrdup(hit);
	strvec_clear(&hashes);
	if (hits == 1)
		return 0;
	if (hits > 1)
		return err_set(e, -EINVAL, EXIT_USAGE,
			       "revision prefix '%s' is ambiguous in '%s'; give more digits", want,
			       s->store.revisions);
	err_set(e, -ENOENT, EXIT_NOTFOUND, "no revision '%s' in '%s'", want, s->store.revisions);
	err_hint(e, "'mvmctl manifest info%s%s --json' lists the revisions kept",
		 s->manifest_path ? " " : "", s->manifest_path ? s->manifest_path : "");
	return -ENOENT;
}

int slot_verify_revision(const struct slot *s, const char *want, char **revision,
			 struct rstore_verify *v, struct err *e)
{
	*revision = NULL;
	_cleanup_free_ char *rev = NULL;
	int r;
	if (want) {
		r = resolve_revision(s, want, &rev, e);
	} else {
		r = slot_current(s, &rev, e);
		if (r == 0) {
			r = err_set(e, -ENOENT, EXIT_NOTFOUND, "%s has no current revision",
				    s->manifest_path ? s->manifest_path : s->dir);
			err_hint(e, "run 'mvmctl build' first");
		}
	}
	if (r < 0)
		return r;
	r = rstore_verify(&s->store, rev, slot_required_artifacts, v, e);
	if (r < 0)
		return r;
	*revision = TAKE_PTR(rev);
	return 0;
}
