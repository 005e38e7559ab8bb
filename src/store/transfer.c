#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/hash.h"
#include "core/jsonio.h"
#include "core/manifest.h"
#include "core/rstore.h"
#include "core/util.h"
#include "store/channel.h"
#include "store/sign.h"
#include "store/transfer.h"

#define MANIFEST_FILE "mvm.toml"
#define MAX_MANIFEST  (1u << 20)

char *store_local_envelope_path(const struct slot *s, const char *revision)
{
	return xasprintf("%s/signatures/%s.json", s->dir, revision);
}

bool store_has_local_envelope(const struct slot *s, const char *revision)
{
	_cleanup_free_ char *p = store_local_envelope_path(s, revision);
	return fs_exists(p);
}

static char *blob_key(const char *sha)
{
	return xasprintf("blobs/sha256/%s", sha);
}

/* $MVM_HOME/tmp/push-partial/<sha256>.json: an unfinished multipart upload. */
static char *push_state_path(const char *sha, struct err *e)
{
	_cleanup_free_ char *tmp = rstore_tmp_dir();
	_cleanup_free_ char *dir = fs_join(tmp, "push-partial");
	if (fs_mkdir_p(dir, 0700, e) < 0)
		return NULL;
	return xasprintf("%s/%s.json", dir, sha);
}

static bool valid_channel(const char *s)
{
	return manifest_valid_name(s);
}

/* A revision of the slot: a full hash, a unique prefix (>= 4), or current. */
static int resolve_revision(const struct slot *s, const char *want, char **out, struct err *e)
{
	if (!want) {
		int r = slot_current(s, out, e);
		if (r < 0)
			return r;
		if (r == 0)
			return err_set(e, -ENOENT, EXIT_NOTFOUND,
				       "%s has no current revision to push", s->manifest_path);
		return 0;
	}
	struct strvec all = STRVEC_INIT;
	int r = rstore_list(&s->store, &all, e);
	if (r < 0)
		return r;
	size_t len = strlen(want), hits = 0;
	const char *hit = NULL;
	for (size_t i = 0; i < all.n; i++)
		if (len >= 4 && !strncmp(all.v[i], want, len))
			hits++, hit = all.v[i];
	if (hits == 1)
		*out = xstrdup(hit);
	strvec_clear(&all);
	if (hits == 1)
		return 0;
	if (hits > 1)
		return err_set(e, -EINVAL, EXIT_USAGE, "revision prefix '%s' is ambiguous", want);
	return err_set(e, -ENOENT, EXIT_NOTFOUND, "%s has no revision '%s'", s->manifest_path,
		       want);
}

static json_t *record_subset(const json_t *rec)
{
	json_t *o = json_object();
	static const char *const keys[] = {"flake",   "profile",       "vcpus",
					   "mem_mib", "data_disk_mib", "backend"};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		json_t *v = json_object_get(rec, keys[i]);
		if (v)
			json_object_set(o, keys[i], v);
	}
	return o;
}

static int save_envelope(const struct slot *s, const char *revision, json_t *env, struct err *e)
{
	_cleanup_free_ char *dir = xasprintf("%s/signatures", s->dir);
	int r = fs_mkdir_p(dir, 0700, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *path = store_local_envelope_path(s, revision);
	return json_write_file(path, env, e);
}

/* Signs and puts channels/<name> with a sequence beyond both the store's
 * (read unverified: it can only raise ours) and the highest seen here, then
 * records it here. */
static int move_channel(struct s3 *s3, const char *name, const char *rev, const char *key_path,
			const char *now, struct store_push_result *out, struct err *e)
{
	_cleanup_free_ char *key = xasprintf("channels/%s", name);
	long long seen = 0, remote = 0;
	int r = channel_seen(s3->url, name, &seen, e);
	if (r < 0)
		return r;
	struct strbuf cur = STRBUF_INIT;
	r = s3_get_buf(s3, key, CHANNEL_MAX_DOC, &cur, e);
	if (r >= 0)
		remote = channel_peek_sequence(cur.buf, cur.len);
	strbuf_release(&cur);
	if (r == -ENOENT || r == -EFBIG) {
		err_release(e);
		r = 0;
	}
	if (r < 0)
		return r;
	long long seq = (remote > seen ? remote : seen) + 1;
	if (seq > CHANNEL_MAX_SEQUENCE)
		return err_set(e, -EOVERFLOW, EXIT_FAILED,
			       "the store's object %s%s claims sequence %lld, the largest there "
			       "is; remove it from the store to start the channel over",
			       s3->prefix, key, remote);
	_cleanup_free_ char *text = NULL;
	r = channel_sign(key_path, name, rev, seq, now, &text, e);
	if (r < 0)
		return r;
	r = s3_put_buf(s3, key, text, strlen(text), e);
	if (r < 0)
		return r;
	struct channel_doc d = {.name = (char *)name, .revision = (char *)rev, .sequence = seq};
	r = channel_check_and_record(s3->url, &d, true, e);
	if (r < 0)
		return r;
	out->channel = xstrdup(name);
	out->channel_sequence = seq;
	return 0;
}

int store_upload_dir(struct s3 *s3, const char *revdir, json_t **files_out,
		     struct store_push_result *out, struct err *e)
{
	*files_out = NULL;
	struct rstore_checksums sums = RSTORE_CHECKSUMS_INIT;
	int r = rstore_read_checksums(revdir, &sums, e);
	if (r < 0)
		return r;
	json_t *files = json_array();
	for (size_t i = 0; r >= 0 && i < sums.n; i++) {
		const struct rstore_file *f = &sums.files[i];
		json_array_append_new(files, json_pack("{s:s, s:I, s:s, s:s}", "name", f->name,
						       "size", (json_int_t)f->size, "sha256",
						       f->sha256.s, "mode", "0600"));
		out->files++;
		out->total_bytes += f->size;
		_cleanup_free_ char *key = blob_key(f->sha256.s);
		uint64_t have = 0;
		r = s3_head(s3, key, &have, e);
		if (r < 0)
			break;
		if (r == 1 && have == f->size)
			continue;
		_cleanup_free_ char *path = fs_join(revdir, f->name);
		_cleanup_free_ char *state = push_state_path(f->sha256.s, e);
		if (!state) {
			r = -EIO;
			break;
		}
		/* two pushes of one file on this host: one uploads, the other then finds it */
		struct fs_lock lock = FS_LOCK_INIT;
		_cleanup_free_ char *lockpath = xasprintf("%s.lock", state);
		r = fs_lock_take(&lock, lockpath, true, e);
		if (r >= 0)
			r = s3_head(s3, key, &have, e);
		/* (the lock file stays: removing it would let a waiter and a newcomer
		 * both hold a lock) */
		if (r == 1 && have == f->size) {
			fs_lock_release(&lock);
			r = 0;
			continue;
		}
		if (r >= 0)
			r = s3_put_file(s3, key, path, state, e);
		fs_lock_release(&lock);
		if (r < 0) {
			err_prefix(e, r, "uploading %s", f->name);
			break;
		}
		out->uploaded++;
		out->uploaded_bytes += f->size;
	}
	rstore_checksums_release(&sums);
	if (r < 0) {
		json_decref(files);
		return r;
	}
	*files_out = files;
	return 0;
}

int store_push(struct s3 *s3, struct slot *slot, const struct store_push_opts *o,
	       struct store_push_result *out, struct err *e)
{
	*out = (struct store_push_result){0};
	const char *channel = o->channel ? o->channel : json_get_str(slot->record, "name");
	if (channel && !valid_channel(channel))
		return err_set(e, -EINVAL, EXIT_USAGE,
			       "channel '%s' is not 1-63 of [a-z0-9_-] (not starting with - or _)",
			       channel);
	/* the key first: a push that cannot sign uploads nothing */
	if (!fs_exists(o->key_path)) {
		err_set(e, -ENOENT, EXIT_NOTFOUND, "no signing key at '%s'", o->key_path);
		err_hint(e, "make one with 'mvmctl key generate' (push signs every revision)");
		return -ENOENT;
	}
	_cleanup_free_ char *rev = NULL;
	int r = resolve_revision(slot, o->revision, &rev, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *why = NULL;
	if (slot_revision_complete(slot, rev, &why) != 1)
		return err_set(e, -EBADMSG, EXIT_FAILED,
			       "revision %s of %s is incomplete (%s); rebuild it first", rev,
			       slot->manifest_path, why ? why : "?");
	_cleanup_free_ char *revdir = rstore_revision_dir(&slot->store, rev);
	json_t *files = NULL;
	r = store_upload_dir(s3, revdir, &files, out, e);
	if (r < 0)
		return r;
	struct strbuf manifest = STRBUF_INIT;
	r = fs_read_file(slot->manifest_path, MAX_MANIFEST, &manifest, e);
	if (r < 0) {
		json_decref(files);
		strbuf_release(&manifest);
		return r;
	}
	const json_t *prov = json_object_get(slot->record, "provenance");
	_cleanup_free_ char *now = json_now_rfc3339();
	const char *name = json_get_str(slot->record, "name");
	json_t *doc = json_pack(
	    "{s:i, s:s, s:s, s:o, s:s, s:s%, s:o, s:o, s:o, s:s, s:s}", "schema_version",
	    STORE_DOC_SCHEMA_VERSION, "kind", "mvm-revision", "revision", rev, "name",
	    name ? json_string(name) : json_null(), "manifest_file", MANIFEST_FILE, "manifest",
	    manifest.buf, manifest.len, "record", record_subset(slot->record), "provenance",
	    json_is_object(prov) ? json_copy((json_t *)prov) : json_object(), "files", files,
	    "pushed_at", now, "pushed_by", "mvmctl/" MVM_VERSION);
	strbuf_release(&manifest);
	if (!doc)
		return err_set(e, -EINVAL, EXIT_FAILED,
			       "the manifest of %s is not UTF-8 text; it cannot be pushed",
			       slot->manifest_path);
	_cleanup_free_ char *payload = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(doc);
	json_t *env = NULL;
	r = sign_envelope(o->key_path, SIGN_PAYLOAD_TYPE, payload, strlen(payload), &env, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *envtext = json_dumps(env, JSON_INDENT(2));
	_cleanup_free_ char *revkey = xasprintf("revisions/%s.json", rev);
	r = s3_put_buf(s3, revkey, envtext, strlen(envtext), e);
	if (r >= 0)
		r = save_envelope(slot, rev, env, e);
	out->keyid =
	    xstrdup(json_get_str(json_array_get(json_object_get(env, "signatures"), 0), "keyid"));
	json_decref(env);
	if (r < 0)
		return r;
	if (channel) {
		r = move_channel(s3, channel, rev, o->key_path, now, out, e);
		if (r < 0)
			return err_prefix(e, r, "moving channel %s", channel);
	}
	out->revision = TAKE_PTR(rev);
	return 0;
}

void store_push_result_release(struct store_push_result *r)
{
	free(r->revision);
	free(r->channel);
	free(r->keyid);
	*r = (struct store_push_result){0};
}

/* ---- pull ----------------------------------------------------------------------- */

struct doc_file {
	const char *name;
	const char *sha256;
	uint64_t size;
};

static bool safe_name(const char *n)
{
	if (!*n || n[0] == '/' || strlen(n) > 255)
		return false;
	for (const char *p = n; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/",
			    *p))
			return false;
	if (!strcmp(n, RSTORE_CHECKSUMS))
		return false;
	/* no "." or ".." component, no empty one */
	for (const char *c = n; c;) {
		const char *slash = strchr(c, '/');
		size_t len = slash ? (size_t)(slash - c) : strlen(c);
		if (!len || (len == 1 && c[0] == '.') || (len == 2 && !strncmp(c, "..", 2)))
			return false;
		c = slash ? slash + 1 : NULL;
	}
	return true;
}

static int read_doc_files(const json_t *doc, const char *what, struct doc_file **out, size_t *n,
			  struct err *e)
{
	const json_t *files = json_object_get(doc, "files");
	if (!json_is_array(files) || !json_array_size(files))
		return err_set(e, -EBADMSG, EXIT_FAILED, "%s lists no files", what);
	struct doc_file *v = xcalloc(json_array_size(files), sizeof(*v));
	size_t i;
	const json_t *f;
	json_array_foreach(files, i, f)
	{
		const char *name = json_get_str(f, "name");
		const char *sha = json_get_str(f, "sha256");
		json_t *size = json_object_get(f, "size");
		if (!name || !safe_name(name) || !sha || !hash_is_sha256_hex(sha) ||
		    !json_is_integer(size) || json_integer_value(size) < 0) {
			free(v);
			return err_set(e, -EBADMSG, EXIT_FAILED,
				       "%s: file %zu has no safe name, sha256 or size", what, i);
		}
		v[i] = (struct doc_file){name, sha, (uint64_t)json_integer_value(size)};
	}
	*out = v;
	*n = json_array_size(files);
	return 0;
}

struct sink {
	int fd;
	struct sha256_ctx h;
	uint64_t at, size;
	const char *name;
	uint64_t *counter;
};

static int sink_write(void *ctx, const void *data, size_t len)
{
	struct sink *k = ctx;
	if (k->at + len > k->size)
		return -EFBIG;
	const char *p = data;
	size_t left = len;
	/* zeros are left as a hole (a snapshot's RAM file is mostly holes); the
	 * file's size is set once it is whole */
	if (len && !p[0] && !memcmp(p, p + 1, len - 1)) {
		if (lseek(k->fd, (off_t)len, SEEK_CUR) < 0)
			return -errno;
		left = 0;
	}
	while (left) {
		ssize_t w = write(k->fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		left -= (size_t)w;
	}
	hash_sha256_update(&k->h, data, len);
	k->at += len;
	*k->counter += len;
	return 0;
}

/* Hashes the first len bytes of fd into h. */
static int hash_prefix(int fd, uint64_t len, struct sha256_ctx *h)
{
	char buf[1 << 16];
	uint64_t off = 0;
	while (off < len) {
		size_t want = len - off < sizeof(buf) ? (size_t)(len - off) : sizeof(buf);
		ssize_t n = pread(fd, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		hash_sha256_update(h, buf, (size_t)n);
		off += (uint64_t)n;
	}
	return 0;
}

/* Makes <partial>/<sha256> the whole, checked file: what is there is kept
 * and continued with a ranged GET. */
static int fetch_blob(struct s3 *s3, const struct store_pull_opts *o, const char *partial,
		      const struct doc_file *f, const char *revision, struct store_pull_result *out,
		      struct err *e)
{
	_cleanup_free_ char *path = fs_join(partial, f->sha256);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_sys(e, -errno, EXIT_FAILED, "opening '%s'", path);
	if (flock(fd, LOCK_EX) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "locking '%s'", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "reading '%s'", path);
	uint64_t have = (uint64_t)st.st_size;
	if (have > f->size) {
		if (ftruncate(fd, 0) < 0)
			return err_sys(e, -errno, EXIT_FAILED, "truncating '%s'", path);
		have = 0;
	}
	struct sink k = {.fd = fd,
			 .h = SHA256_CTX_INIT,
			 .at = have,
			 .size = f->size,
			 .name = f->name,
			 .counter = &out->downloaded_bytes};
	hash_sha256_init(&k.h);
	int r = hash_prefix(fd, have, &k.h);
	if (r < 0) {
		hash_sha256_release(&k.h);
		return err_sys(e, r, EXIT_FAILED, "reading '%s'", path);
	}
	if (have < f->size) {
		if (o->on_file)
			o->on_file(o->ctx, f->name, f->size, have);
		if (lseek(fd, (off_t)have, SEEK_SET) < 0) {
			hash_sha256_release(&k.h);
			return err_sys(e, -errno, EXIT_FAILED, "seeking '%s'", path);
		}
		_cleanup_free_ char *key = blob_key(f->sha256);
		r = s3_get_range(s3, key, have, f->size, sink_write, &k, e);
		if (r < 0) {
			hash_sha256_release(&k.h);
			if (r == -EFBIG)
				return err_set(e, r, EXIT_FAILED,
					       "pulled file '%s' of revision %s is larger than the "
					       "%llu bytes its document records; nothing was "
					       "registered",
					       f->name, revision, (unsigned long long)f->size);
			return err_prefix(e, r, "downloading %s", f->name);
		}
		out->downloaded++;
		if (have)
			out->resumed++;
	}
	struct sha256_hex got;
	hash_sha256_final(&k.h, &got);
	if (k.at != f->size || strcmp(got.s, f->sha256)) {
		/* a corrupt object: start it afresh next time */
		if (ftruncate(fd, 0) < 0) {
			/* the check below still refuses it */
		}
		err_set(e, -EBADMSG, EXIT_FAILED,
			"pulled file '%s' of revision %s does not match its sha256 (expected %s, "
			"got %s, %llu of %llu bytes); nothing was registered",
			f->name, revision, f->sha256, got.s, (unsigned long long)k.at,
			(unsigned long long)f->size);
		err_hint(e,
			 "the store's object blobs/sha256/%s is damaged: push the revision "
			 "again from a host that has it",
			 f->sha256);
		return -EBADMSG;
	}
	if (ftruncate(fd, (off_t)f->size) < 0 || fsync(fd) < 0)
		return err_sys(e, -errno, EXIT_FAILED, "writing '%s'", path);
	return 0;
}

/* Copies a file of sha256 f->sha256 and f->size from another revision of the
 * slot into <partial>/<sha256>, unless that is there already. True when it did. */
static bool reuse_local(const struct slot *s, const char *partial, const struct doc_file *f)
{
	_cleanup_free_ char *dst = fs_join(partial, f->sha256);
	if (fs_exists(dst))
		return false;
	struct strvec revs = STRVEC_INIT;
	struct err ignored = ERR_INIT;
	bool done = false;
	if (rstore_list(&s->store, &revs, &ignored) >= 0) {
		for (size_t i = 0; !done && i < revs.n; i++) {
			_cleanup_free_ char *dir = rstore_revision_dir(&s->store, revs.v[i]);
			struct rstore_checksums sums = RSTORE_CHECKSUMS_INIT;
			if (rstore_read_checksums(dir, &sums, &ignored) < 0) {
				err_release(&ignored);
				continue;
			}
			for (size_t j = 0; !done && j < sums.n; j++) {
				const struct rstore_file *rf = &sums.files[j];
				if (rf->size != f->size || strcmp(rf->sha256.s, f->sha256))
					continue;
				_cleanup_free_ char *src = fs_join(dir, rf->name);
				done = fs_copy_sparse(src, dst, 0600, false, &ignored) >= 0;
				err_release(&ignored);
			}
			rstore_checksums_release(&sums);
		}
	}
	err_release(&ignored);
	strvec_clear(&revs);
	return done;
}

static int link_into(const char *partial, const char *sha, const char *stage, const char *name,
		     struct err *e)
{
	_cleanup_free_ char *src = fs_join(partial, sha);
	_cleanup_free_ char *dst = fs_join(stage, name);
	_cleanup_free_ char *dir = fs_dirname(dst);
	int r = fs_mkdir_p(dir, 0700, e);
	if (r < 0)
		return r;
	/* a file listed twice under two names shares one blob: copy the second */
	if (link(src, dst) < 0) {
		if (errno == EEXIST)
			return err_set(e, -EEXIST, EXIT_FAILED, "file '%s' is listed twice", name);
		return fs_copy_sparse(src, dst, 0600, false, e);
	}
	return 0;
}

/* A revision hash as it is, or the revision a channel names: its signed
 * document checked (signature, name, no rollback below what was seen here). */
static int resolve_ref(struct s3 *s3, const struct store_pull_opts *o, char **rev,
		       struct store_pull_result *out, struct err *e)
{
	const char *ref = o->ref;
	if (hash_is_sha256_hex(ref)) {
		*rev = xstrdup(ref);
		return 0;
	}
	if (!valid_channel(ref))
		return err_set(e, -EINVAL, EXIT_USAGE,
			       "'%s' is neither a channel name (1-63 of [a-z0-9_-]) nor a revision "
			       "(64 hex digits)",
			       ref);
	_cleanup_free_ char *key = xasprintf("channels/%s", ref);
	struct strbuf text = STRBUF_INIT;
	int r = s3_get_buf(s3, key, CHANNEL_MAX_DOC, &text, e);
	if (r == -ENOENT) {
		strbuf_release(&text);
		err_set(e, r, EXIT_NOTFOUND, "store %s has no channel '%s'", s3->url, ref);
		err_hint(e,
			 "a push of a manifest named '%s' (or 'mvmctl manifest push "
			 "--channel %s') makes it",
			 ref, ref);
		return r;
	}
	_cleanup_free_ char *what = xasprintf("channel '%s' in %s", ref, s3->url);
	struct channel_doc d = {0};
	if (r >= 0)
		r = channel_open(text.buf, text.len, ref, o->trusted, o->insecure_skip_signature,
				 what, &d, e);
	strbuf_release(&text);
	/* only a document a trusted key signed moves what is remembered here */
	if (r >= 0)
		r = channel_check_and_record(s3->url, &d, d.keyid != NULL, e);
	if (r >= 0) {
		*rev = TAKE_PTR(d.revision);
		out->channel_sequence = d.sequence;
		out->channel_keyid = TAKE_PTR(d.keyid);
		out->channel = true;
	}
	channel_doc_release(&d);
	return r;
}

/* The payload of a signed envelope, checked against trusted under
 * payload_type (unless skip), decoded into *doc; *keyid: the key that signed. */
static int open_doc(const json_t *env, const char *payload_type, const struct strvec *trusted,
		    bool skip, const char *what, json_t **doc, char **keyid, struct err *e)
{
	struct strbuf payload = STRBUF_INIT;
	struct sign_check chk;
	int r = sign_open(env, payload_type, trusted, skip, what, &payload, &chk, e);
	if (r >= 0)
		r = json_parse_buf(payload.buf, payload.len, what, doc, e);
	strbuf_release(&payload);
	*keyid = TAKE_PTR(chk.keyid);
	sign_check_release(&chk);
	return r;
}

/* The signed document of a revision: envelope and decoded payload. */
static int fetch_doc(struct s3 *s3, const char *rev, const struct strvec *trusted, bool skip,
		     json_t **env, json_t **doc, char **keyid, struct err *e)
{
	_cleanup_free_ char *key = xasprintf("revisions/%s.json", rev);
	struct strbuf text = STRBUF_INIT;
	int r = s3_get_buf(s3, key, STORE_MAX_DOC, &text, e);
	if (r == -ENOENT) {
		strbuf_release(&text);
		return err_set(e, r, EXIT_NOTFOUND, "store %s has no revision %s", s3->url, rev);
	}
	if (r >= 0)
		r = json_parse_buf(text.buf, text.len, key, env, e);
	strbuf_release(&text);
	if (r < 0)
		return r;
	_cleanup_free_ char *what = xasprintf("revision %s in %s", rev, s3->url);
	r = open_doc(*env, SIGN_PAYLOAD_TYPE, trusted, skip, what, doc, keyid, e);
	if (r < 0)
		return r;
	const char *drev = json_get_str(*doc, "revision");
	if (!drev || strcmp(drev, rev))
		return err_set(e, -EBADMSG, EXIT_FAILED,
			       "%s: its document describes revision %s instead", what,
			       drev ? drev : "(none)");
	return 0;
}

int store_pull(struct s3 *s3, const struct store_pull_opts *o, struct store_pull_result *out,
	       struct err *e)
{
	*out = (struct store_pull_result){0};
	_cleanup_free_ char *rev = NULL;
	int r = resolve_ref(s3, o, &rev, out, e);
	if (r < 0)
		return r;
	json_t *env = NULL, *doc = NULL;
	struct doc_file *files = NULL;
	size_t nfiles = 0;
	struct slot s = SLOT_INIT;
	struct rstore_stage st = RSTORE_STAGE_INIT;
	struct manifest m = {0};
	bool m_loaded = false;
	_cleanup_free_ char *partial = NULL, *mpath = NULL, *what = NULL, *real = NULL, *now = NULL,
			    *other = NULL;
	r = fetch_doc(s3, rev, o->trusted, o->insecure_skip_signature, &env, &doc, &out->keyid, e);
	if (r < 0)
		goto out;
	what = xasprintf("revision %s in %s", rev, s3->url);
	r = read_doc_files(doc, what, &files, &nfiles, e);
	if (r < 0)
		goto out;
	const char *text = json_get_str(doc, "manifest");
	if (!text) {
		r = err_set(e, -EBADMSG, EXIT_FAILED, "%s carries no manifest", what);
		goto out;
	}
	/* the project directory and its mvm.toml */
	r = fs_mkdir_p(o->dir, 0755, e);
	if (r < 0)
		goto out;
	real = realpath(o->dir, NULL);
	if (!real) {
		r = err_sys(e, -errno, EXIT_FAILED, "resolving '%s'", o->dir);
		goto out;
	}
	mpath = fs_join(real, MANIFEST_FILE);
	free(other);
	other = fs_join(real, "Mvmfile.toml");
	if (fs_exists(other)) {
		r = err_set(e, -EEXIST, EXIT_REFUSED,
			    "%s holds Mvmfile.toml; pull writes mvm.toml, and a directory may hold "
			    "only one of them",
			    real);
		err_hint(e, "pull into another directory");
		goto out;
	}
	if (fs_exists(mpath)) {
		struct strbuf old = STRBUF_INIT;
		r = fs_read_file(mpath, MAX_MANIFEST, &old, e);
		bool same = r >= 0 && old.len == strlen(text) && !memcmp(old.buf, text, old.len);
		strbuf_release(&old);
		if (r < 0)
			goto out;
		if (!same && !o->force) {
			r = err_set(e, -EEXIST, EXIT_REFUSED,
				    "%s exists and is not the manifest of revision %.12s", mpath,
				    rev);
			err_hint(e, "pull into another directory, or pass --force to overwrite it");
			goto out;
		}
	}
	r = slot_open(&s, mpath, SLOT_OPEN_ANY, e);
	if (r >= 0)
		r = slot_lock(&s, true, e);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < nfiles; i++)
		out->total_bytes += files[i].size;
	out->files = nfiles;
	if (slot_revision_complete(&s, rev, NULL) == 1) {
		out->already = true;
	} else {
		_cleanup_free_ char *tmp = rstore_tmp_dir();
		partial = fs_join(tmp, "pull-partial");
		r = fs_mkdir_p(partial, 0700, e);
		/* a file another revision of the slot already has is copied, not downloaded
		 * (it is hashed like a download all the same) */
		for (size_t i = 0; r >= 0 && i < nfiles; i++)
			if (reuse_local(&s, partial, &files[i]))
				out->reused++;
		/* every file first, each checked: nothing is registered before all are */
		for (size_t i = 0; r >= 0 && i < nfiles; i++)
			r = fetch_blob(s3, o, partial, &files[i], rev, out, e);
		if (r >= 0)
			r = slot_stage(&s, &st, e);
		for (size_t i = 0; r >= 0 && i < nfiles; i++)
			r = link_into(partial, files[i].sha256, st.dir, files[i].name, e);
		if (r < 0)
			goto out;
	}
	r = fs_write_atomic(mpath, text, strlen(text), 0644, e);
	if (r < 0)
		goto out;
	if (out->already)
		r = rstore_set_current(&s.store, rev, e);
	else
		r = slot_commit(&s, &st, rev, e);
	if (r < 0)
		goto out;
	r = manifest_load(mpath, &m, e);
	if (r < 0)
		goto out;
	m_loaded = true;
	struct slot_record rec;
	slot_record_from_manifest(&m, &rec);
	const json_t *drec = json_object_get(doc, "record");
	json_int_t v;
	if ((v = json_integer_value(json_object_get(drec, "vcpus"))) > 0)
		rec.vcpus = (int)v;
	if ((v = json_integer_value(json_object_get(drec, "mem_mib"))) > 0)
		rec.mem_mib = (uint64_t)v;
	if (json_is_integer(json_object_get(drec, "data_disk_mib")))
		rec.data_disk_mib =
		    (uint64_t)json_integer_value(json_object_get(drec, "data_disk_mib"));
	rec.backend = json_get_str(drec, "backend");
	now = json_now_rfc3339();
	json_t *prov = json_object_get(doc, "provenance");
	prov = json_is_object(prov) ? json_copy(prov) : json_object();
	json_object_set_new(prov, "pulled_from", json_string(s3->url));
	json_object_set_new(prov, "pulled_ref", json_string(o->ref));
	json_object_set_new(prov, "pulled_at", json_string(now));
	json_object_set_new(prov, "signed_by", out->keyid ? json_string(out->keyid) : json_null());
	rec.provenance = prov;
	rec.revision = rev;
	r = slot_write_record(&s, &rec, e);
	json_decref(prov);
	if (r >= 0)
		r = save_envelope(&s, rev, env, e);
	if (r < 0)
		goto out;
	/* registered: the partial downloads are no longer needed */
	for (size_t i = 0; partial && i < nfiles; i++) {
		_cleanup_free_ char *p = fs_join(partial, files[i].sha256);
		unlink(p);
	}
	out->revision = TAKE_PTR(rev);
	out->manifest_path = TAKE_PTR(mpath);
out:
	if (m_loaded)
		manifest_release(&m);
	rstore_stage_release(&st);
	slot_release(&s);
	free(files);
	json_decref(doc);
	json_decref(env);
	return r < 0 ? r : 0;
}

void store_pull_result_release(struct store_pull_result *r)
{
	free(r->revision);
	free(r->manifest_path);
	free(r->keyid);
	free(r->channel_keyid);
	*r = (struct store_pull_result){0};
}

int store_check_signature(struct s3 *s3, const struct slot *slot, const char *revision,
			  const struct strvec *trusted, char **keyid, struct err *e)
{
	_cleanup_free_ char *path = store_local_envelope_path(slot, revision);
	json_t *env = NULL, *doc = NULL;
	int r;
	_cleanup_free_ char *what = xasprintf("revision %s", revision);
	_cleanup_free_ char *revdir = rstore_revision_dir(&slot->store, revision);
	if (fs_exists(path) || !s3) {
		r = json_read_file(path, &env, e);
		if (r == -ENOENT || (r < 0 && e && e->exit == EXIT_NOTFOUND)) {
			err_set(e, -ENOENT, EXIT_NOTFOUND,
				"revision %s of %s has no signature (it was neither pushed nor "
				"pulled here, and no store is configured)",
				revision, slot->manifest_path);
			err_hint(e, "'mvmctl manifest push' signs it");
			return -ENOENT;
		}
		if (r < 0)
			return r;
		r = open_doc(env, SIGN_PAYLOAD_TYPE, trusted, false, what, &doc, keyid, e);
	} else {
		r = fetch_doc(s3, revision, trusted, false, &env, &doc, keyid, e);
	}
	if (r < 0)
		goto out;
	struct doc_file *files = NULL;
	size_t n = 0;
	r = read_doc_files(doc, what, &files, &n, e);
	if (r < 0)
		goto out;
	struct rstore_checksums sums = RSTORE_CHECKSUMS_INIT;
	r = rstore_read_checksums(revdir, &sums, e);
	if (r >= 0 && sums.n != n)
		r = err_set(e, -EBADMSG, EXIT_FAILED,
			    "%s: its signed document lists %zu files, checksums.json %zu", what, n,
			    sums.n);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		const struct rstore_file *f = rstore_checksums_find(&sums, files[i].name);
		if (!f || f->size != files[i].size || strcmp(f->sha256.s, files[i].sha256))
			r = err_set(e, -EBADMSG, EXIT_FAILED,
				    "%s: file '%s' is not the one its signed document describes",
				    what, files[i].name);
	}
	rstore_checksums_release(&sums);
	free(files);
out:
	json_decref(doc);
	json_decref(env);
	return r;
}

int store_put_signed(struct s3 *s3, const char *key, const char *payload_type, const json_t *doc,
		     const char *key_path, char **keyid, struct err *e)
{
	*keyid = NULL;
	_cleanup_free_ char *payload = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	if (!payload)
		return err_set(e, -EINVAL, EXIT_FAILED, "cannot encode the document for %s", key);
	json_t *env = NULL;
	int r = sign_envelope(key_path, payload_type, payload, strlen(payload), &env, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *text = json_dumps(env, JSON_INDENT(2));
	r = s3_put_buf(s3, key, text, strlen(text), e);
	const char *id =
	    json_get_str(json_array_get(json_object_get(env, "signatures"), 0), "keyid");
	*keyid = id ? xstrdup(id) : NULL;
	json_decref(env);
	return r < 0 ? r : 0;
}

int store_get_signed(struct s3 *s3, const char *key, const char *payload_type,
		     const struct strvec *trusted, bool skip, const char *what, json_t **doc,
		     char **keyid, struct err *e)
{
	*doc = NULL;
	*keyid = NULL;
	struct strbuf text = STRBUF_INIT;
	int r = s3_get_buf(s3, key, STORE_MAX_DOC, &text, e);
	if (r == -ENOENT) {
		strbuf_release(&text);
		err_release(e);
		return err_set(e, r, EXIT_NOTFOUND, "store %s has no %s", s3->url, what);
	}
	json_t *env = NULL;
	if (r >= 0)
		r = json_parse_buf(text.buf, text.len, key, &env, e);
	strbuf_release(&text);
	if (r < 0)
		return r;
	r = open_doc(env, payload_type, trusted, skip, what, doc, keyid, e);
	json_decref(env);
	return r < 0 ? r : 0;
}

int store_fetch_files(struct s3 *s3, const json_t *doc, const char *what, const char *stage,
		      struct store_pull_result *out, struct err *e)
{
	struct doc_file *files = NULL;
	size_t n = 0;
	int r = read_doc_files(doc, what, &files, &n, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *tmp = rstore_tmp_dir();
	_cleanup_free_ char *partial = fs_join(tmp, "pull-partial");
	const struct store_pull_opts none = {0};
	r = fs_mkdir_p(partial, 0700, e);
	for (size_t i = 0; i < n; i++)
		out->total_bytes += files[i].size;
	out->files = n;
	/* every file first, each checked: nothing is linked before all are */
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = fetch_blob(s3, &none, partial, &files[i], what, out, e);
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = link_into(partial, files[i].sha256, stage, files[i].name, e);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		_cleanup_free_ char *p = fs_join(partial, files[i].sha256);
		unlink(p);
	}
	free(files);
	return r;
}
