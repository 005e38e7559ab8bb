#include <errno.h>
#include <string.h>

#include "core/fs.h"
#include "core/hash.h"
#include "core/jsonio.h"
#include "core/manifest.h"
#include "core/paths.h"
#include "core/util.h"
#include "store/channel.h"
#include "store/sign.h"

#define CHANNEL_KIND	       "mvm-channel"
#define CHANNEL_SCHEMA_VERSION 1

int channel_sign(const char *key_path, const char *name, const char *revision, long long sequence,
		 const char *moved_at, char **text, struct err *e)
{
	json_t *doc =
	    json_pack("{s:s, s:s, s:s, s:s, s:i, s:I}", "channel", name, "kind", CHANNEL_KIND,
		      "moved_at", moved_at, "revision", revision, "schema_version",
		      CHANNEL_SCHEMA_VERSION, "sequence", (json_int_t)sequence);
	_cleanup_free_ char *payload = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(doc);
	json_t *env = NULL;
	int r =
	    sign_envelope(key_path, SIGN_CHANNEL_PAYLOAD_TYPE, payload, strlen(payload), &env, e);
	if (r < 0)
		return r;
	*text = json_dumps(env, JSON_INDENT(2));
	json_decref(env);
	return 0;
}

/* A channel object from before channels were signed: {"revision": "…", …}. */
static bool is_legacy(const json_t *j)
{
	return !json_object_get(j, "payloadType") && json_is_string(json_object_get(j, "revision"));
}

static long long sequence_of(const json_t *doc)
{
	const json_t *v = json_object_get(doc, "sequence");
	if (!json_is_integer(v))
		return -1;
	json_int_t n = json_integer_value(v);
	return n >= 1 && n <= CHANNEL_MAX_SEQUENCE ? (long long)n : -1;
}

int channel_open(const char *text, size_t len, const char *want, const struct strvec *trusted,
		 bool skip, const char *what, struct channel_doc *out, struct err *e)
{
	*out = (struct channel_doc){0};
	json_t *env = NULL, *doc = NULL;
	int r = json_parse_buf(text, len, what, &env, e);
	if (r < 0)
		return r;
	if (is_legacy(env)) {
		if (!skip) {
			json_decref(env);
			err_set(
			    e, -EPERM, EXIT_REFUSED,
			    "%s is not signed (a plain pointer, as written before channels were "
			    "signed)",
			    what);
			err_hint(e,
				 "push the channel again with this mvmctl (it signs channels), or "
				 "pass --insecure-skip-signature");
			return -EPERM;
		}
		doc = env;
		env = NULL;
		out->legacy = true;
	} else {
		struct strbuf payload = STRBUF_INIT;
		struct sign_check chk;
		r = sign_open(env, SIGN_CHANNEL_PAYLOAD_TYPE, trusted, skip, what, &payload, &chk,
			      e);
		if (r >= 0)
			r = json_parse_buf(payload.buf, payload.len, what, &doc, e);
		strbuf_release(&payload);
		out->keyid = TAKE_PTR(chk.keyid);
		sign_check_release(&chk);
		json_decref(env);
		if (r < 0)
			goto fail;
	}
	const char *rev = json_get_str(doc, "revision");
	if (!rev || !hash_is_sha256_hex(rev)) {
		r = err_set(e, -EBADMSG, EXIT_FAILED, "%s names no revision", what);
		goto fail;
	}
	out->revision = xstrdup(rev);
	if (out->legacy) {
		out->name = xstrdup(want);
		json_decref(doc);
		return 0;
	}
	const char *kind = json_get_str(doc, "kind");
	const char *name = json_get_str(doc, "channel");
	out->sequence = sequence_of(doc);
	if (!kind || strcmp(kind, CHANNEL_KIND) ||
	    json_get_int(doc, "schema_version", 0) != CHANNEL_SCHEMA_VERSION) {
		r = err_set(e, -EBADMSG, EXIT_FAILED,
			    "%s is not a channel document of kind %s, schema_version %d", what,
			    CHANNEL_KIND, CHANNEL_SCHEMA_VERSION);
		goto fail;
	}
	if (out->sequence < 1) {
		r = err_set(e, -EBADMSG, EXIT_FAILED, "%s has no sequence from 1 to %lld", what,
			    CHANNEL_MAX_SEQUENCE);
		goto fail;
	}
	if (!name || !manifest_valid_name(name)) {
		r = err_set(e, -EBADMSG, EXIT_FAILED, "%s names no valid channel", what);
		goto fail;
	}
	if (strcmp(name, want)) {
		r = err_set(e, -EPERM, EXIT_REFUSED,
			    "%s holds the signed document of channel '%s' (sequence %lld); refused",
			    what, name, out->sequence);
		err_hint(e,
			 "the object of channel '%s' was copied over it: the publisher moves it "
			 "back with 'mvmctl manifest push --channel %s'",
			 name, want);
		goto fail;
	}
	out->name = xstrdup(name);
	json_decref(doc);
	return 0;
fail:
	json_decref(doc);
	channel_doc_release(out);
	return r;
}

void channel_doc_release(struct channel_doc *d)
{
	free(d->name);
	free(d->revision);
	free(d->keyid);
	*d = (struct channel_doc){0};
}

long long channel_peek_sequence(const char *text, size_t len)
{
	json_t *env = NULL, *doc = NULL;
	struct err ignored = ERR_INIT;
	long long seq = 0;
	if (json_parse_buf(text, len, "channel", &env, &ignored) >= 0 && !is_legacy(env)) {
		struct strbuf payload = STRBUF_INIT;
		struct sign_check chk;
		if (sign_open(env, SIGN_CHANNEL_PAYLOAD_TYPE, NULL, true, "channel", &payload, &chk,
			      &ignored) >= 0 &&
		    json_parse_buf(payload.buf, payload.len, "channel", &doc, &ignored) >= 0)
			seq = sequence_of(doc);
		strbuf_release(&payload);
		sign_check_release(&chk);
	}
	err_release(&ignored);
	json_decref(doc);
	json_decref(env);
	return seq > 0 ? seq : 0;
}

static char *state_dir(const char *store_url)
{
	struct sha256_hex h;
	hash_sha256_str(store_url, &h);
	return xasprintf("%s/channels/%.16s", paths_home(), h.s);
}

char *channel_state_path(const char *store_url, const char *name)
{
	_cleanup_free_ char *dir = state_dir(store_url);
	return xasprintf("%s/%s.json", dir, name);
}

static int read_seen(const char *path, long long *seq, struct err *e)
{
	*seq = 0;
	if (!fs_exists(path))
		return 0;
	json_t *st = NULL;
	int r = json_read_file(path, &st, e);
	if (r < 0)
		return r;
	long long n = sequence_of(st);
	json_decref(st);
	if (n < 1)
		return err_set(e, -EBADMSG, EXIT_FAILED,
			       "'%s' records no channel sequence; remove it to start afresh", path);
	*seq = n;
	return 0;
}

int channel_seen(const char *store_url, const char *name, long long *seq, struct err *e)
{
	_cleanup_free_ char *path = channel_state_path(store_url, name);
	return read_seen(path, seq, e);
}

int channel_check_and_record(const char *store_url, const struct channel_doc *d, bool record,
			     struct err *e)
{
	_cleanup_free_ char *dir = state_dir(store_url);
	int r = fs_mkdir_p(dir, 0700, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *path = channel_state_path(store_url, d->name);
	_cleanup_free_ char *lockpath = xasprintf("%s/%s.lock", dir, d->name);
	struct fs_lock lock = FS_LOCK_INIT;
	r = fs_lock_take(&lock, lockpath, true, e);
	if (r < 0)
		return r;
	long long seen = 0;
	r = read_seen(path, &seen, e);
	if (r >= 0 && d->sequence < seen) {
		r = err_set(e, -EPERM, EXIT_REFUSED,
			    "channel '%s' in %s is at sequence %lld, below sequence %lld seen here "
			    "before: refused as a rollback",
			    d->name, store_url, d->sequence, seen);
		err_hint(e,
			 "an older signed document of the channel was put back in the store; pull "
			 "by revision hash meanwhile. If the publisher really started the channel "
			 "over, remove %s",
			 path);
	} else if (r >= 0 && record && d->sequence > seen) {
		_cleanup_free_ char *now = json_now_rfc3339();
		json_t *st =
		    json_pack("{s:i, s:s, s:s, s:I, s:s, s:o, s:s}", "schema_version", 1, "store",
			      store_url, "channel", d->name, "sequence", (json_int_t)d->sequence,
			      "revision", d->revision, "signed_by",
			      d->keyid ? json_string(d->keyid) : json_null(), "seen_at", now);
		r = json_write_file(path, st, e);
		json_decref(st);
	}
	fs_lock_release(&lock);
	return r;
}
