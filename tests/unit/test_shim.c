/* The supervisor's reading of the guest's HELLO (src/shim/shim.c,
 * shim_hello_record): only the answer bearing the nonce of the shim's own
 * HELLO is taken; one bearing another nonce was queued for an earlier host
 * (or saved in a snapshot) and leaves the record alone. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/jsonio.h"
#include "proto/agent.h"
#include "shim/shim.h"

static const uint8_t OURS[PROTO_NONCE_SIZE] = {1, 2, 3, 4, 5, 6, 7, 8};
static const uint8_t EARLIER[PROTO_NONCE_SIZE] = {1, 2, 3, 4, 5, 6, 7, 9};

static int hello(const char *name, const uint8_t *nonce, uint8_t *p)
{
	int n = proto_hello_ours(name, nonce, p, PROTO_HELLO_MAX);
	assert_true(n > 0);
	return n;
}

static void test_hello_nonce(void **state)
{
	(void)state;
	json_t *rec = json_pack("{s:s}", "name", "web");
	uint8_t p[PROTO_HELLO_MAX];

	/* an earlier host's answer first: not ours, nothing recorded */
	int n = hello("mvm-init old", EARLIER, p);
	assert_int_equal(shim_hello_record(rec, OURS, p, (size_t)n), -ESTALE);
	assert_null(json_object_get(rec, "agent"));

	/* ours */
	n = hello("mvm-init 1", OURS, p);
	assert_int_equal(shim_hello_record(rec, OURS, p, (size_t)n), 1);
	assert_string_equal(json_get_str(rec, "agent"), "mvm-init 1");
	assert_int_equal(shim_hello_record(rec, OURS, p, (size_t)n), 0);

	/* another stale one after: the record keeps our guest's name */
	n = hello("mvm-init 2", EARLIER, p);
	assert_int_equal(shim_hello_record(rec, OURS, p, (size_t)n), -ESTALE);
	assert_string_equal(json_get_str(rec, "agent"), "mvm-init 1");

	/* a HELLO without a nonce (the layout before it) is no HELLO */
	n = hello("mvm-init 1", OURS, p);
	memmove(p + 8, p + 8 + PROTO_NONCE_SIZE, (size_t)n - 8 - PROTO_NONCE_SIZE);
	assert_int_equal(shim_hello_record(rec, OURS, p, 8 + 2), -EINVAL);
	assert_int_equal(shim_hello_record(rec, OURS, p, 7), -EINVAL);
	assert_string_equal(json_get_str(rec, "agent"), "mvm-init 1");
	json_decref(rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hello_nonce),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
