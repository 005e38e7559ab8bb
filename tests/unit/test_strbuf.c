/* core/strbuf: text from a peer we do not trust, and wiping secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/strbuf.h"

static void test_printable(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	static const char raw[] = "mvm-init\0evil\x1b[2Jname\n\xc3\xa9\x7f~";
	strbuf_add_printable(&sb, raw, sizeof(raw) - 1);
	assert_string_equal(sb.buf, "mvm-init?evil?[2Jname????~");
	assert_int_equal(sb.len, strlen(sb.buf)); /* no NUL inside */
	strbuf_release(&sb);
	strbuf_add_printable(&sb, "", 0);
	assert_string_equal(sb.buf, "");
	strbuf_release(&sb);
}

static void test_wipe(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	strbuf_addstr(&sb, "s3cr3t");
	strbuf_wipe(&sb);
	assert_int_equal(sb.len, 0);
	strbuf_wipe(&sb); /* empty: nothing to wipe, still fine */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_printable),
	    cmocka_unit_test(test_wipe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
