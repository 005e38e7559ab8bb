/* A pool's revisions through the store (travel.h). */
#include "cluster/travel.h"

#include <string.h>

#include "core/hash.h"
#include "core/jsonio.h"
#include "core/rstore.h"
#include "core/util.h"
#include "store/s3.h"
#include "store/sign.h"
#include "store/transfer.h"

#define TRAVEL_KIND "mvm-pool-revision"

void travel_result_release(struct travel_result *r)
{
	free(r->revision);
	free(r->keyid);
	*r = (struct travel_result){0};
}

static char *doc_key(const struct pool *p, const char *rev)
{
	return xasprintf("pools/%s/%s/%s.json", p->tenant, p->id, rev);
}

static int open_store(const struct config *cfg, struct s3 *s3, struct err *e)
{
	if (!cfg->store_url) {
		err_set(e, -EINVAL, EXIT_USAGE, "no store is configured");
		err_hint(e, "set [store] url in config.toml (or MVM_STORE_URL): docs/store.md");
		return -EINVAL;
	}
	return s3_open(s3, cfg, e);
}

int travel_push(const struct config *cfg, struct pool *p, const char *rev,
		struct travel_result *out, struct err *e)
{
	*out = (struct travel_result){0};
	_cleanup_free_ char *cur = NULL;
	if (!rev) {
		int r = pool_current(p, &cur, e);
		if (r <= 0)
			return r < 0 ? r
				     : err_set(e, -ENOENT, EXIT_NOTFOUND,
					       "Pool '%s/%s' has no built revision", p->tenant,
					       p->id);
		rev = cur;
	}
	_cleanup_free_ char *why = NULL;
	if (pool_revision_complete(p, rev, &why) != 1)
		return err_set(e, -ENOENT, EXIT_NOTFOUND,
			       "revision %.12s of pool '%s/%s' is not here whole (%s)", rev,
			       p->tenant, p->id, why ? why : "missing");
	if (!fs_exists(cfg->signing_key)) {
		err_set(e, -ENOENT, EXIT_NOTFOUND, "no signing key at '%s'", cfg->signing_key);
		err_hint(e, "make one with 'mvmctl key generate' (a push signs every revision)");
		return -ENOENT;
	}
	struct s3 s3;
	int r = open_store(cfg, &s3, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *dir = rstore_revision_dir(&p->store, rev);
	json_t *files = NULL;
	struct store_push_result pr = {0};
	r = store_upload_dir(&s3, dir, &files, &pr, e);
	if (r >= 0) {
		_cleanup_free_ char *now = json_now_rfc3339();
		json_t *doc = json_pack(
		    "{s:i, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:i, s:I, s:I}, s:o, s:s, s:s}",
		    "schema_version", 1, "kind", TRAVEL_KIND, "tenant", p->tenant, "pool", p->id,
		    "revision", rev, "record", "flake", p->flake, "profile", p->profile, "vcpus",
		    (int)p->vcpus, "mem_mib", (json_int_t)p->mem_mib, "data_disk_mib",
		    (json_int_t)p->data_disk_mib, "files", files, "pushed_at", now, "pushed_by",
		    "mvmctl/" MVM_VERSION);
		files = NULL;
		_cleanup_free_ char *key = doc_key(p, rev);
		r = store_put_signed(&s3, key, SIGN_POOL_PAYLOAD_TYPE, doc, cfg->signing_key,
				     &out->keyid, e);
		json_decref(doc);
	}
	json_decref(files);
	s3_release(&s3);
	if (r < 0)
		return err_prefix(e, r, "pushing revision %.12s of %s/%s", rev, p->tenant, p->id);
	out->revision = xstrdup(rev);
	out->files = pr.files;
	out->moved = pr.uploaded;
	out->total_bytes = pr.total_bytes;
	out->moved_bytes = pr.uploaded_bytes;
	return 0;
}

struct fill {
	struct s3 *s3;
	const json_t *doc;
	const char *what;
	struct store_pull_result *pr;
};

static int fill_stage(void *ctx, const char *dir, struct err *e)
{
	struct fill *f = ctx;
	return store_fetch_files(f->s3, f->doc, f->what, dir, f->pr, e);
}

int travel_pull(const struct config *cfg, struct pool *p, const char *rev,
		struct travel_result *out, struct err *e)
{
	*out = (struct travel_result){0};
	if (!hash_is_sha256_hex(rev))
		return err_set(e, -EINVAL, EXIT_USAGE, "'%s' is not a revision (64 hex digits)",
			       rev);
	if (pool_revision_complete(p, rev, NULL) == 1) {
		out->already = true;
		out->revision = xstrdup(rev);
		return 0;
	}
	struct s3 s3;
	int r = open_store(cfg, &s3, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *key = doc_key(p, rev);
	_cleanup_free_ char *what =
	    xasprintf("revision %.12s of pool %s/%s in %s", rev, p->tenant, p->id, s3.url);
	json_t *doc = NULL;
	r = store_get_signed(&s3, key, SIGN_POOL_PAYLOAD_TYPE, &cfg->trusted_keys, false, what,
			     &doc, &out->keyid, e);
	if (r >= 0) {
		const char *kind = json_get_str(doc, "kind"), *t = json_get_str(doc, "tenant"),
			   *pl = json_get_str(doc, "pool"), *dr = json_get_str(doc, "revision");
		if (!kind || strcmp(kind, TRAVEL_KIND) || !t || strcmp(t, p->tenant) || !pl ||
		    strcmp(pl, p->id) || !dr || strcmp(dr, rev))
			r = err_set(e, -EBADMSG, EXIT_FAILED,
				    "%s: its signed document describes %s %s/%s revision %.12s "
				    "instead; nothing was registered",
				    what, kind ? kind : "(no kind)", t ? t : "?", pl ? pl : "?",
				    dr ? dr : "?");
	}
	struct store_pull_result pr = {0};
	if (r >= 0) {
		struct fill f = {.s3 = &s3, .doc = doc, .what = what, .pr = &pr};
		r = pool_register_revision(p, rev, fill_stage, &f, e);
		if (r == 1)
			out->already = true;
	}
	json_decref(doc);
	s3_release(&s3);
	if (r < 0)
		return r;
	out->revision = xstrdup(rev);
	out->files = pr.files;
	out->moved = pr.downloaded;
	out->total_bytes = pr.total_bytes;
	out->moved_bytes = pr.downloaded_bytes;
	return 0;
}
