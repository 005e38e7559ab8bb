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
	assert_int_equal(sign_envelope(key, doc, strlen(doc), &env, &e), 0);
	struct strvec trusted = STRVEC_INIT;
	strvec_push(&trusted, pub);
	struct strbuf payload = STRBUF_INIT;
	struct sign_check chk;
	assert_int_equal(sign_open(env, &trusted, false, "doc", &payload, &chk, &e), 0);
	assert_string_equal(payload.buf, doc);
	assert_string_equal(chk.keyid, id);
	sign_check_release(&chk);
	strbuf_release(&payload);

	/* another key: refused */
	struct strvec other = STRVEC_INIT;
	strvec_push(&other, "ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
	assert_true(sign_open(env, &other, false, "doc", &payload, &chk, &e) < 0);
	assert_int_equal(e.exit, EXIT_REFUSED);
	assert_string_equal(e.msg, "doc is not signed by any trusted key (signature check failed)");
	err_release(&e);
	sign_check_release(&chk);
	strbuf_release(&payload);
	/* skip: accepted, and says no key verified it */
	assert_int_equal(sign_open(env, &other, true, "doc", &payload, &chk, &e), 0);
	assert_null(chk.keyid);
	assert_true(chk.signed_at_all);
	sign_check_release(&chk);
	strbuf_release(&payload);

	/* a changed payload no longer verifies */
	json_object_set_new(env, "payload", json_string("eyJyZXZpc2lvbiI6ImFiZCJ9"));
	assert_true(sign_open(env, &trusted, false, "doc", &payload, &chk, &e) < 0);
	assert_int_equal(e.exit, EXIT_REFUSED);
	err_release(&e);
	sign_check_release(&chk);
	strbuf_release(&payload);
	/* no signatures at all */
	json_object_set_new(env, "signatures", json_array());
	assert_true(sign_open(env, &trusted, false, "doc", &payload, &chk, &e) < 0);
	assert_string_equal(e.msg, "doc is not signed");
	err_release(&e);
	sign_check_release(&chk);
	strbuf_release(&payload);
	/* not an envelope of ours */
	json_object_set_new(env, "payloadType", json_string("text/plain"));
	assert_true(sign_open(env, &trusted, true, "doc", &payload, &chk, &e) < 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_generate_sign_verify),
	    cmocka_unit_test(test_keyid_rejects_garbage),
	    cmocka_unit_test(test_not_a_key_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
