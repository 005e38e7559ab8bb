/* The supervisor's reading of the guest's HELLO (src/shim/shim.c,
 * shim_hello_record): only the answer bearing the nonce of the shim's own
 * HELLO is taken; one bearing another nonce was queued for an earlier host
 * (or saved in a snapshot) and leaves the record alone. And its control
 * socket's line reader (src/shim/ctl.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/jsonio.h"
#include "proto/agent.h"
#include "shim/ctl.h"
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

/* A control line that has arrived is read even when the reader comes to it
 * after its deadline (a starved process): found by fuzz_ctl under load, whose
 * 1 s deadline passed before the first poll. Only a peer that sent nothing
 * by then is taken for silent. */
static void test_read_line_past_deadline(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct strbuf line = STRBUF_INIT;
	long long past = mono_ms() - 5000;
	assert_int_equal(ctl_read_line(sv[0], &line, 64, past), -ETIMEDOUT);
	assert_int_equal(send(sv[1], "{\"op\":\"status\"}\nrest", 21, MSG_NOSIGNAL), 21);
	assert_int_equal(ctl_read_line(sv[0], &line, 64, past), 1);
	assert_string_equal(line.buf, "{\"op\":\"status\"}");
	shutdown(sv[1], SHUT_WR);
	assert_int_equal(ctl_read_line(sv[0], &line, 64, past), 0); /* "rest", then the end */
	strbuf_release(&line);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hello_nonce),
	    cmocka_unit_test(test_read_line_past_deadline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
