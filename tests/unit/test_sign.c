/* store/sign: Ed25519 keys, DSSE envelopes, and what a verifier refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/jsonio.h"
#include "core/util.h"
#include "store/channel.h"
#include "store/sign.h"

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/mvm-test-sign.XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static void test_generate_sign_verify(void **state)
{
	(void)state;
	_cleanup_free_ char *dir = tmpdir();
	_cleanup_free_ char *key = xasprintf("%s/keys/signing.key", dir);
	struct err e = ERR_INIT;
	_cleanup_free_ char *pub = NULL;
	assert_int_equal(sign_generate(key, false, &pub, &e), 0);
	assert_int_equal(strncmp(pub, "ed25519:", 8), 0);
	assert_int_equal(strlen(pub), 8 + 44);
	struct stat st;
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	_cleanup_free_ char *id = sign_keyid(pub);
	assert_non_null(id);
	assert_int_equal(strlen(id), 16);
	/* a second generate is refused */
	_cleanup_free_ char *pub2 = NULL;
	assert_true(sign_generate(key, false, &pub2, &e) < 0);
	assert_int_equal(e.exit, EXIT_REFUSED);
	err_release(&e);

	static const char doc[] = "{\"revision\":\"abc\"}";
	json_t *env = NULL;
	assert_int_equal(sign_envelope(key, SIGN_PAYLOAD_TYPE, doc, strlen(doc), &env, &e), 0);
	struct strvec trusted = STRVEC_INIT;
	strvec_push(&trusted, pub);
	struct strbuf payload = STRBUF_INIT;
	struct sign_check chk;
	assert_int_equal(
	    sign_open(env, SIGN_PAYLOAD_TYPE, &trusted, false, "doc", &payload, &chk, &e), 0);
	assert_string_equal(payload.buf, doc);
	assert_string_equal(chk.keyid, id);
	sign_check_release(&chk);
	strbuf_release(&payload);

	/* another key: refused */
	struct strvec other = STRVEC_INIT;
	strvec_push(&other, "ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
	assert_true(sign_open(env, SIGN_PAYLOAD_TYPE, &other, false, "doc", &payload, &chk, &e) <
		    0);
	assert_int_equal(e.exit, EXIT_REFUSED);
	assert_string_equal(e.msg, "doc is not signed by any trusted key (signature check failed)");
	err_release(&e);
	sign_check_release(&chk);
	strbuf_release(&payload);
	/* skip: accepted, and says no key verified it */
	assert_int_equal(sign_open(env, SIGN_PAYLOAD_TYPE, &other, true, "doc", &payload, &chk, &e),
			 0);
	assert_null(chk.keyid);
	assert_true(chk.signed_at_all);
	sign_check_release(&chk);
	strbuf_release(&payload);

	/* a changed payload no longer verifies */
	json_object_set_new(env, "payload", json_string("eyJyZXZpc2lvbiI6ImFiZCJ9"));
	assert_true(sign_open(env, SIGN_PAYLOAD_TYPE, &trusted, false, "doc", &payload, &chk, &e) <
		    0);
	assert_int_equal(e.exit, EXIT_REFUSED);
	err_release(&e);
	sign_check_release(&chk);
	strbuf_release(&payload);
	/* no signatures at all */
	json_object_set_new(env, "signatures", json_array());
	assert_true(sign_open(env, SIGN_PAYLOAD_TYPE, &trusted, false, "doc", &payload, &chk, &e) <
		    0);
	assert_string_equal(e.msg, "doc is not signed");
	err_release(&e);
	sign_check_release(&chk);
	strbuf_release(&payload);
	/* not an envelope of ours */
	json_object_set_new(env, "payloadType", json_string("text/plain"));
	assert_true(sign_open(env, SIGN_PAYLOAD_TYPE, &trusted, true, "doc", &payload, &chk, &e) <
		    0);
	assert_int_equal(e.exit, EXIT_FAILED);
	err_release(&e);
	sign_check_release(&chk);
	strbuf_release(&payload);

	json_decref(env);
	strvec_clear(&trusted);
	strvec_clear(&other);
	fs_rm_rf(dir, &e);
}

static void test_keyid_rejects_garbage(void **state)
{
	(void)state;
	assert_null(sign_keyid("rsa:AAAA"));
	assert_null(sign_keyid("ed25519:short="));
	assert_null(sign_keyid("ed25519:!!!!AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
}

static void test_not_a_key_file(void **state)
{
	(void)state;
	_cleanup_free_ char *dir = tmpdir();
	_cleanup_free_ char *path = xasprintf("%s/k", dir);
	struct err e = ERR_INIT;
	assert_int_equal(fs_write_atomic(path, "nope\n", 5, 0600, &e), 0);
	_cleanup_free_ char *pub = NULL;
	assert_true(sign_public_of(path, &pub, &e) < 0);
	assert_int_equal(e.exit, EXIT_INVALID);
	err_release(&e);
	_cleanup_free_ char *missing = xasprintf("%s/none", dir);
	assert_true(sign_public_of(missing, &pub, &e) < 0);
	assert_int_equal(e.exit, EXIT_NOTFOUND);
	assert_string_equal(e.hint, "make one with 'mvmctl key generate'");
	err_release(&e);
	fs_rm_rf(dir, &e);
}

#define REV "ad8aae14f1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f708192a3b4c5d6"

/* store/channel: a signed channel document round trip, the name check, and
 * the per-channel record of the highest sequence seen (under MVM_HOME). */
static void test_channel(void **state)
{
	(void)state;
	_cleanup_free_ char *dir = tmpdir();
	setenv("MVM_HOME", dir, 1);
	_cleanup_free_ char *key = xasprintf("%s/keys/signing.key", dir);
	struct err e = ERR_INIT;
	_cleanup_free_ char *pub = NULL;
	assert_int_equal(sign_generate(key, false, &pub, &e), 0);
	struct strvec trusted = STRVEC_INIT;
	strvec_push(&trusted, pub);
	_cleanup_free_ char *id = sign_keyid(pub);

	_cleanup_free_ char *text = NULL;
	assert_int_equal(channel_sign(key, "hello", REV, 5, "2026-12-08T10:00:00Z", &text, &e), 0);
	assert_int_equal(channel_peek_sequence(text, strlen(text)), 5);
	struct channel_doc d;
	assert_int_equal(channel_open(text, strlen(text), "hello", &trusted, false, "ch", &d, &e),
			 0);
	assert_string_equal(d.name, "hello");
	assert_string_equal(d.revision, REV);
	assert_int_equal(d.sequence, 5);
	assert_string_equal(d.keyid, id);
	assert_false(d.legacy);

	/* the highest sequence seen is kept, 0600, and a lower one refused */
	assert_int_equal(channel_check_and_record("s3://b/p", &d, true, &e), 0);
	_cleanup_free_ char *path = channel_state_path("s3://b/p", "hello");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	long long seen = 0;
	assert_int_equal(channel_seen("s3://b/p", "hello", &seen, &e), 0);
	assert_int_equal(seen, 5);
	d.sequence = 4;
	assert_true(channel_check_and_record("s3://b/p", &d, true, &e) < 0);
	assert_int_equal(e.exit, EXIT_REFUSED);
	assert_string_equal(e.msg, "channel 'hello' in s3://b/p is at sequence 4, below sequence 5 "
				   "seen here before: refused as a rollback");
	err_release(&e);
	/* the same sequence again is not a rollback; another store is another record */
	d.sequence = 5;
	assert_int_equal(channel_check_and_record("s3://b/p", &d, true, &e), 0);
	d.sequence = 1;
	assert_int_equal(channel_check_and_record("s3://b/q", &d, true, &e), 0);
	/* not recording: checked, not kept */
	d.sequence = 9;
	assert_int_equal(channel_check_and_record("s3://b/p", &d, false, &e), 0);
	assert_int_equal(channel_seen("s3://b/p", "hello", &seen, &e), 0);
	assert_int_equal(seen, 5);
	channel_doc_release(&d);

	/* asked for another channel: refused, naming both */
	assert_true(channel_open(text, strlen(text), "stable", &trusted, true, "ch", &d, &e) < 0);
	assert_int_equal(e.exit, EXIT_REFUSED);
	assert_string_equal(e.msg, "ch holds the signed document of channel 'hello' (sequence 5); "
				   "refused");
	err_release(&e);
	channel_doc_release(&d);
	/* a legacy pointer: only with skip, sequence 0 */
	static const char legacy[] = "{\"schema_version\":1,\"revision\":\"" REV "\"}";
	assert_true(channel_open(legacy, strlen(legacy), "hello", &trusted, false, "ch", &d, &e) <
		    0);
	assert_int_equal(e.exit, EXIT_REFUSED);
	err_release(&e);
	channel_doc_release(&d);
	assert_int_equal(
	    channel_open(legacy, strlen(legacy), "hello", &trusted, true, "ch", &d, &e), 0);
	assert_true(d.legacy);
	assert_int_equal(d.sequence, 0);
	assert_null(d.keyid);
	channel_doc_release(&d);
	assert_int_equal(channel_peek_sequence(legacy, strlen(legacy)), 0);
	assert_int_equal(channel_peek_sequence("{", 1), 0);

	strvec_clear(&trusted);
	fs_rm_rf(dir, &e);
	unsetenv("MVM_HOME");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_generate_sign_verify),
	    cmocka_unit_test(test_channel),
	    cmocka_unit_test(test_keyid_rejects_garbage),
	    cmocka_unit_test(test_not_a_key_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
