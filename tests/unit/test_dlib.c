/* Libraries loaded on first use (core/dlib.h): the real libcurl and
 * libarchive load and work through their pointers; a missing library or
 * symbol gives a message naming it and a hint naming the package. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/dl_archive.h"
#include "core/dl_curl.h"
#include "core/dlib.h"
#include "core/err.h"

static void test_curl(void **state)
{
	(void)state;
	struct err e = ERR_INIT;
	assert_int_equal(dl_curl_load(&e), 0);
	assert_false(err_isset(&e));
	assert_int_equal(dl_curl_load(&e), 0); /* once loaded, at once */
	assert_string_equal(sym_curl_easy_strerror(CURLE_OK), "No error");
	CURL *c = sym_curl_easy_init();
	assert_non_null(c);
	sym_curl_easy_cleanup(c);
}

/* A gzip stream of "mvm\n", read back through the raw format. */
static void test_archive(void **state)
{
	(void)state;
	static const unsigned char gz[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00,
					   0x00, 0x03, 0xcb, 0x2d, 0xcb, 0xe5, 0x02, 0x00,
					   0xd4, 0x18, 0xf2, 0x88, 0x04, 0x00, 0x00, 0x00};
	struct err e = ERR_INIT;
	assert_int_equal(dl_archive_load(&e), 0);
	struct archive *a = sym_archive_read_new();
	assert_non_null(a);
	sym_archive_read_support_filter_all(a);
	sym_archive_read_support_format_raw(a);
	struct archive_entry *ent;
	assert_int_equal(sym_archive_read_open_memory(a, gz, sizeof(gz)), ARCHIVE_OK);
	assert_int_equal(sym_archive_read_next_header(a, &ent), ARCHIVE_OK);
	char buf[16];
	assert_int_equal(sym_archive_read_data(a, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "mvm\n", 4);
	sym_archive_read_free(a);
}

static void test_missing_library(void **state)
{
	(void)state;
	void *fn = (void *)1;
	const struct dlib_sym syms[] = {{&fn, "mvm_fn"}, {NULL, NULL}};
	struct dlib lib = {
	    .soname = "libmvm-absent.so.0", .package = "libmvm-absent0", .syms = syms};
	struct err e = ERR_INIT;
	assert_int_equal(dlib_load(&lib, &e), -ENOENT);
	assert_int_equal(e.exit, EXIT_NOTREADY);
	assert_string_equal(e.msg, "libmvm-absent.so.0 could not be loaded: cannot open shared "
				   "object file: No such file or directory");
	assert_string_equal(e.hint, "install it with 'apt-get install libmvm-absent0'");
	assert_null(lib.handle);
	err_release(&e);
}

static void test_missing_symbol(void **state)
{
	(void)state;
	void *init = NULL, *absent = (void *)1;
	const struct dlib_sym syms[] = {
	    {&init, "curl_easy_init"}, {&absent, "curl_mvm_absent"}, {NULL, NULL}};
	struct dlib lib = {.soname = DL_CURL_SONAME, .package = DL_CURL_PACKAGE, .syms = syms};
	struct err e = ERR_INIT;
	assert_int_equal(dlib_load(&lib, &e), -ENOSYS);
	assert_int_equal(e.exit, EXIT_NOTREADY);
	assert_string_equal(e.msg,
			    "libcurl.so.4 has no function curl_mvm_absent: too old a version");
	assert_string_equal(e.hint, "upgrade it with 'apt-get install libcurl4'");
	assert_null(init); /* all or nothing */
	assert_null(absent);
	assert_null(lib.handle);
	err_release(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_curl),
	    cmocka_unit_test(test_archive),
	    cmocka_unit_test(test_missing_library),
	    cmocka_unit_test(test_missing_symbol),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
