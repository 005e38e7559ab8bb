/* Unit tests for src/core/toml.c: what toml-test does not check — error
 * positions and messages, lookups, limits, and the odd corners of the API.
 * (Conformance itself is tests/toml-test.sh.) */
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/strbuf.h"
#include "core/toml.h"
#include "core/util.h"

static void toml_freep(struct toml_value **v)
{
	toml_free(*v);
}

/* Parses a document that must be valid. */
static struct toml_value *parse_ok(const char *doc)
{
	struct toml_error err;
	struct toml_value *root = toml_parse(doc, strlen(doc), &err);
	if (!root)
		fail_msg("rejected %s\n  %d:%d: %s", doc, err.line, err.col, err.msg);
	return root;
}

/* The document (len bytes) must be rejected at line:col with msg in the message. */
static void expect_errorn(const char *doc, size_t len, int line, int col, const char *msg)
{
	struct toml_error err;
	struct toml_value *root = toml_parse(doc, len, &err);

	if (root) {
		toml_free(root);
		fail_msg("accepted %s", doc);
	}
	if (err.line != line || err.col != col || !strstr(err.msg, msg))
		fail_msg("for %s\n  got  %d:%d: %s\n  want %d:%d: …%s…", doc, err.line, err.col,
			 err.msg, line, col, msg);
}

static void expect_error(const char *doc, int line, int col, const char *msg)
{
	expect_errorn(doc, strlen(doc), line, col, msg);
}

/* The value at a dotted path of plain keys (no quoting), or NULL. */
static const struct toml_value *get(const struct toml_value *tab, const char *path)
{
	_cleanup_free_ char *copy = xstrdup(path);
	char *save = copy;

	for (char *part; tab && (part = strsep(&save, "."));) {
		const struct toml_kv *kv = toml_table_find(tab, part);
		tab = kv ? kv->value : NULL;
	}
	return tab;
}

static void test_error_positions(void **state)
{
	(void)state;
	expect_error("a = 1\nb = \n", 2, 5, "expected a value, found a newline");
	expect_error("[a]\nx = 1\n[a]\n", 3, 2, "table 'a' is already defined (line 1)");
	expect_error("a = 1\na = 2\n", 2, 1, "duplicate key 'a' (first defined at line 1)");
	expect_error("s = \"abc\\q\"\n", 1, 9, "invalid escape sequence");
	/* Columns count characters: é is one. */
	expect_error("k = \"é\" x\n", 1, 9, "expected a newline, found 'x'");
	/* A tab is one column too. */
	expect_error("\t\tkey = tru\n", 1, 9, "invalid value tru");
	expect_error("a = 1\r\nb = 2 c\r\n", 2, 7, "expected a newline, found 'c'");
	expect_error("\n\nname = \"unterminated\n", 3, 8,
		     "string not closed before the end of the line");
	expect_error("\n\nname = \"\"\"unterminated\n", 3, 8, "unterminated string");
	expect_error("t = 1979-02-29\n", 1, 5, "1979-02 has no day 29");
	expect_error("a = {b = 1,}\n", 1, 12, "trailing comma");
	expect_error("a = {b = 1,\n c = 2}\n", 1, 12, "expected a key, found a newline");
	expect_error("a = [1, 2\n", 2, 1, "expected ',' or ']' in an array, found end of input");
	expect_error("a = 1 # c\x01\n", 1, 10, "control character U+0001");
	expect_errorn("a = \"a\0b\"\n", 10, 1, 7, "control character U+0000");
	expect_error("[[a]]\n[a]\n", 2, 2, "'a' is already an array of tables (line 1)");
	expect_error("a = {x = 1}\na.y = 2\n", 2, 1,
		     "inline table 'a' (line 1) cannot be extended");
	expect_error("[a.b]\n[a]\nb.c = 1\n", 3, 1, "dotted keys cannot add to table 'b'");
	expect_error("x = 0x\n", 1, 5, "invalid value 0x");
	expect_error("name = web\n", 1, 8, "(strings need quotes)");
	/* After a byte order mark the first character is still column 1. */
	expect_error("\xEF\xBB\xBF= 1\n", 1, 1, "expected a key, found '='");
}

static void test_lookup(void **state)
{
	_cleanup_(toml_freep) struct toml_value *root =
	    parse_ok("title = \"mvm\"\n"
		     "[vm]\n"
		     "name = \"web\"\n"
		     "vcpus = 2\n"
		     "ports = [ \"8080:80\", \"8443:443\" ]\n"
		     "enabled = true\n"
		     "ratio = 0.5\n"
		     "built = 1979-05-27 07:32:00z\n"
		     "[[disk]]\n"
		     "path = \"a.img\"\n"
		     "[[disk]]\n"
		     "path = \"b.img\"\n"
		     "[net.nic]\n"
		     "mac = '52:54:00:12:34:56'\n");
	const struct toml_value *v;
	const struct toml_kv *kv;
	(void)state;

	assert_int_equal(root->type, TOML_TABLE);
	assert_int_equal(root->u.table.len, 4);
	assert_string_equal(root->u.table.items[0].key, "title"); /* document order */
	assert_string_equal(root->u.table.items[3].key, "net");

	v = get(root, "vm.name");
	assert_non_null(v);
	assert_int_equal(v->type, TOML_STRING);
	assert_string_equal(v->u.str.ptr, "web");
	assert_int_equal(v->u.str.len, 3);
	assert_int_equal(v->line, 3);
	assert_int_equal(v->col, 8);

	kv = toml_table_find(get(root, "vm"), "vcpus");
	assert_non_null(kv);
	assert_int_equal(kv->line, 4);
	assert_int_equal(kv->col, 1);
	assert_int_equal(kv->keylen, 5);
	assert_int_equal(kv->value->type, TOML_INTEGER);
	assert_int_equal(kv->value->u.integer, 2);

	v = get(root, "vm.ports");
	assert_int_equal(v->type, TOML_ARRAY);
	assert_int_equal(v->u.array.len, 2);
	assert_string_equal(v->u.array.items[1]->u.str.ptr, "8443:443");
	assert_true(get(root, "vm.enabled")->u.boolean);
	assert_true(get(root, "vm.ratio")->u.fp == 0.5);
	v = get(root, "vm.built");
	assert_int_equal(v->type, TOML_DATETIME);
	assert_string_equal(v->u.datetime, "1979-05-27T07:32:00Z");

	v = get(root, "disk");
	assert_int_equal(v->type, TOML_ARRAY);
	assert_int_equal(v->u.array.len, 2);
	assert_string_equal(get(v->u.array.items[1], "path")->u.str.ptr, "b.img");

	/* An implicit table: its key is where it was first mentioned. */
	kv = toml_table_find(root, "net");
	assert_int_equal(kv->line, 13);
	assert_int_equal(kv->col, 2);
	assert_string_equal(get(root, "net.nic.mac")->u.str.ptr, "52:54:00:12:34:56");

	assert_null(toml_table_find(root, "missing"));
	assert_null(toml_table_find(root, "vm.name")); /* no path lookup */
	assert_null(toml_table_find(get(root, "vm.vcpus"), "x"));
	assert_null(toml_table_find(NULL, "x"));
	assert_null(toml_table_find(root, NULL));
}

static void test_type_names(void **state)
{
	(void)state;
	assert_string_equal(toml_type_name(TOML_STRING), "string");
	assert_string_equal(toml_type_name(TOML_BOOL), "boolean");
	assert_string_equal(toml_type_name(TOML_DATETIME_LOCAL), "datetime-local");
	assert_string_equal(toml_type_name(TOML_TABLE), "table");
	assert_string_equal(toml_type_name((enum toml_type)99), "unknown");
}

static void test_integers(void **state)
{
	static const struct {
		const char *doc;
		int64_t want;
	} ok[] = {
	    {"x = 9223372036854775807", INT64_MAX},
	    {"x = -9223372036854775808", INT64_MIN},
	    {"x = +1_000", 1000},
	    {"x = 0x7fff_ffff_ffff_ffff", INT64_MAX},
	    {"x = 0xDEADbeef", 0xdeadbeef},
	    {"x = 0o777", 0777},
	    {"x = 0b1010", 10},
	    {"x = -0", 0},
	};
	static const char *const overflow[] = {
	    "x = 9223372036854775808",
	    "x = -9223372036854775809",
	    "x = 99999999999999999999999999",
	    "x = 0x8000000000000000",
	    "x = 0o1000000000000000000000",
	    "x = 0b1000000000000000000000000000000000000000000000000000000000000000",
	};
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		_cleanup_(toml_freep) struct toml_value *root = parse_ok(ok[i].doc);
		assert_int_equal(get(root, "x")->type, TOML_INTEGER);
		assert_true(get(root, "x")->u.integer == ok[i].want);
	}
	for (size_t i = 0; i < ARRAY_SIZE(overflow); i++)
		expect_error(overflow[i], 1, 5, "does not fit in 64 bits");
}

static void test_floats(void **state)
{
	_cleanup_(toml_freep) struct toml_value *root =
	    parse_ok("a = nan\nb = -inf\nc = -0.0\nd = 1_000.5e-3\ne = 1e-400\nf = 6.02E23\n");
	(void)state;

	assert_true(isnan(get(root, "a")->u.fp));
	assert_true(isinf(get(root, "b")->u.fp) && get(root, "b")->u.fp < 0);
	assert_true(get(root, "c")->u.fp == 0 && signbit(get(root, "c")->u.fp));
	assert_true(get(root, "d")->u.fp == 1.0005);
	assert_true(get(root, "e")->u.fp == 0); /* underflow is fine */
	assert_true(get(root, "f")->u.fp == 6.02e23);
	expect_error("x = 1e400", 1, 5, "out of range");
	expect_error("x = 01.5", 1, 5, "leading zeros");
}

/* The decimal point stays '.' whatever LC_NUMERIC the process runs with. */
static void test_float_locale(void **state)
{
	static const char *const locales[] = {"de_DE.UTF-8", "fr_FR.UTF-8", "ru_RU.UTF-8"};
	const char *set = NULL;
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(locales) && !set; i++)
		set = setlocale(LC_NUMERIC, locales[i]);
	if (!set)
		print_message("# no locale with a decimal comma installed: checked C only\n");
	_cleanup_(toml_freep) struct toml_value *root = parse_ok("x = 3.25\n");
	setlocale(LC_NUMERIC, "C");
	assert_true(get(root, "x")->u.fp == 3.25);
}

static void test_strings(void **state)
{
	_cleanup_(toml_freep) struct toml_value *root =
	    parse_ok("a = \"tab\\there \\u00e9 \\U0001F600 \\\"q\\\"\"\n"
		     "b = \"\"\"\r\nline one\r\nline two \\\r\n   joined\"\"\"\n"
		     "c = '''\nC:\\path\\''' \n"
		     "e = \"\"\"\"quoted\"\"\"\"\n");
	(void)state;

	assert_string_equal(get(root, "a")->u.str.ptr, "tab\there é 😀 \"q\"");
	/* CRLF inside a multi-line string reads as LF. */
	assert_string_equal(get(root, "b")->u.str.ptr, "line one\nline two joined");
	assert_string_equal(get(root, "c")->u.str.ptr, "C:\\path\\");
	assert_string_equal(get(root, "e")->u.str.ptr, "\"quoted\"");
	expect_error("d = 'it''s'\n", 1, 9, "expected a newline, found '''");
	expect_error("s = \"\\uD800\"", 1, 6, "not a Unicode scalar value");
	expect_error("s = \"\\U00110000\"", 1, 6, "not a Unicode scalar value");
	expect_error("s = \"\"\"a\\ b\"\"\"", 1, 9, "backslash followed by ' '");
	expect_error("s = '''a\rb'''", 1, 9, "control character U+000D");
}

static void test_datetimes(void **state)
{
	_cleanup_(toml_freep) struct toml_value *root = parse_ok("a = 1979-05-27t07:32:00.5-07:00\n"
								 "b = 1979-05-27 07:32:00\n"
								 "c = 2000-02-29 # leap year\n"
								 "d = 23:59:59.999999\n");
	(void)state;

	assert_int_equal(get(root, "a")->type, TOML_DATETIME);
	assert_string_equal(get(root, "a")->u.datetime, "1979-05-27T07:32:00.5-07:00");
	assert_int_equal(get(root, "b")->type, TOML_DATETIME_LOCAL);
	assert_string_equal(get(root, "b")->u.datetime, "1979-05-27T07:32:00");
	assert_int_equal(get(root, "c")->type, TOML_DATE_LOCAL);
	assert_string_equal(get(root, "c")->u.datetime, "2000-02-29");
	assert_int_equal(get(root, "d")->type, TOML_TIME_LOCAL);
	assert_string_equal(get(root, "d")->u.datetime, "23:59:59.999999");
	expect_error("x = 1979-05-27T25:00:00", 1, 5, "invalid time 25:00:00");
	expect_error("x = 07:32", 1, 5, "expected HH:MM:SS");
	/* Found by the fuzzer: a time's "HH:" once let "-MM-DD" at offset 4 pass for a date. */
	expect_errorn("t=19:\0-07-05T00:00:00", 21, 1, 3, "expected HH:MM:SS");
	expect_error("t=19:a-07-05", 1, 3, "expected HH:MM:SS");
}

static void test_invalid_utf8(void **state)
{
	static const struct {
		const char *doc;
		int col;
	} bad[] = {
	    {"s = \"\xC0\xAF\"", 6},	     /* overlong '/' */
	    {"s = \"\xE0\x80\xAF\"", 6},     /* overlong, 3 bytes */
	    {"s = \"\xED\xA0\x80\"", 6},     /* surrogate U+D800 */
	    {"s = \"\xF4\x90\x80\x80\"", 6}, /* beyond U+10FFFF */
	    {"s = \"\xF5\x80\x80\x80\"", 6}, /* invalid lead byte */
	    {"s = \"\x80\"", 6},	     /* lone continuation byte */
	    {"s = \"é\xE2\x82", 7},	     /* truncated at the end */
	    {"# comment \xFF\n", 11},
	    {"k\xC3 = 1", 2},
	};
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		expect_error(bad[i].doc, 1, bad[i].col, "invalid UTF-8");
	expect_error("a = 1\nb = 2 # \xFE\n", 2, 9, "invalid UTF-8 (byte 0xFE)");

	_cleanup_(toml_freep) struct toml_value *root =
	    parse_ok("s = \"\xF0\x9F\x98\x80\xEF\xBF\xBF\"");
	assert_int_equal(get(root, "s")->u.str.len, 7);
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addstr(&sb, head);
	for (size_t i = 0; i < n; i++)
		strbuf_addstr(&sb, unit);
	strbuf_addstr(&sb, tail);
	return strbuf_detach(&sb, NULL);
}

static void expect_depth(const char *head, const char *open, const char *close, size_t n, bool ok)
{
	_cleanup_free_ char *opens = repeat(head, open, n, "1");
	_cleanup_free_ char *doc = repeat(opens, close, n, "\n");
	struct toml_error err;
	struct toml_value *root = toml_parse(doc, strlen(doc), &err);

	if (ok && !root)
		fail_msg("%zu levels of %s rejected: %s", n, open, err.msg);
	if (!ok && (root || !strstr(err.msg, "deeper than 128") || err.line != 1))
		fail_msg("%zu levels of %s: %s", n, open, root ? "accepted" : err.msg);
	toml_free(root);
}

static void test_nesting_limit(void **state)
{
	(void)state;
	/* The root is depth 0; containers may nest 128 deep below it. */
	expect_depth("a = ", "[", "]", 128, true);
	expect_depth("a = ", "[", "]", 129, false);
	expect_depth("a = ", "{b = ", "}", 128, true);
	expect_depth("a = ", "{b = ", "}", 129, false);
	expect_depth("a = ", "[{b = ", "}]", 64, true);
	expect_depth("a = ", "[{b = ", "}]", 65, false);
	/* Tables from headers and dotted keys count too: x.….x = 1 with 128
	 * parts makes 127 tables. */
	_cleanup_free_ char *keys = repeat("x", ".x", 127, " = 1\n");
	toml_free(parse_ok(keys));

	_cleanup_free_ char *header = repeat("[x", ".x", 127, "]\n"); /* 128 tables */
	_cleanup_free_ char *full = repeat(header, "", 0, "y = 1\n");
	_cleanup_free_ char *over = repeat(header, "", 0, "y = [1]\n");
	_cleanup_free_ char *dotted = repeat(header, "", 0, "y.z = 1\n");
	toml_free(parse_ok(full));
	expect_error(over, 2, 5, "deeper than 128 levels");
	expect_error(dotted, 2, 1, "deeper than 128 levels");

	/* A header with very many parts stops at the limit, not at the stack's end. */
	_cleanup_free_ char *huge = repeat("[a", ".a", 100000, "]\n");
	expect_error(huge, 1, 258, "more than 128 parts");
	_cleanup_free_ char *brackets = repeat("a = ", "[", 1000000, "");
	expect_error(brackets, 1, 133, "deeper than 128 levels");
}

static void test_nul_in_keys(void **state)
{
	_cleanup_(toml_freep) struct toml_value *root =
	    parse_ok("\"a\\u0000b\" = 1\n'a' = 2\n\"\" = 3\ns = \"x\\u0000y\"\n");
	const struct toml_kv *kv = &root->u.table.items[0];
	(void)state;

	assert_int_equal(root->u.table.len, 4);
	assert_int_equal(kv->keylen, 3);
	assert_memory_equal(kv->key, "a\0b", 4); /* NUL-terminated after keylen */
	/* toml_table_find compares the whole key, so "a" is the second one. */
	assert_ptr_equal(toml_table_find(root, "a"), &root->u.table.items[1]);
	assert_ptr_equal(toml_table_find(root, ""), &root->u.table.items[2]);
	assert_int_equal(get(root, "s")->u.str.len, 3);
	assert_memory_equal(get(root, "s")->u.str.ptr, "x\0y", 4);
	expect_error("\"a\\u0000b\" = 1\n\"a\\u0000b\" = 2\n", 2, 1, "duplicate key 'a?b'");
}

static void test_table_rules(void **state)
{
	(void)state;
	/* Legal: define a parent after its child, extend dotted tables, sub-tables of them. */
	toml_free(parse_ok("[a.b.c]\nx = 1\n[a]\ny = 2\n"));
	toml_free(parse_ok("[fruit]\napple.color = 'red'\napple.taste.sweet = true\n"
			   "[fruit.apple.texture]\nsmooth = true\n"));
	toml_free(parse_ok("[[a]]\n[a.b]\n[[a]]\n[a.b]\n"));
	toml_free(parse_ok("a = {b.c = 1, b.d = 2}\n"));
	/* Illegal. */
	expect_error("[fruit]\napple.color = 'red'\n[fruit.apple]\n", 3, 8, "already defined");
	expect_error("a = [1]\n[[a]]\n", 2, 3, "inline array 'a' (line 1) cannot be extended");
	expect_error("a = {}\n[a.b]\n", 2, 2, "inline table 'a' (line 1) cannot be extended");
	expect_error("a = {b = {c = 1}, b.d = 2}\n", 1, 19, "inline table 'b'");
	expect_error("a.b = 1\n[a]\n", 2, 2, "already defined");
}

/* Many keys in one table: a linear lookup per insert would take minutes. */
static void test_large_table(void **state)
{
	struct strbuf doc = STRBUF_INIT;
	enum { N = 200000 };
	(void)state;

	for (int i = 0; i < N; i++)
		strbuf_addf(&doc, "k%d = %d\n", i, i);
	_cleanup_(toml_freep) struct toml_value *root = parse_ok(doc.buf);
	assert_int_equal(root->u.table.len, N);
	assert_int_equal(get(root, "k123456")->u.integer, 123456);
	strbuf_addstr(&doc, "k4711 = 0\n");
	expect_error(doc.buf, N + 1, 1, "duplicate key 'k4711'");
	strbuf_release(&doc);
}

static void test_edges(void **state)
{
	struct toml_value *root;
	(void)state;

	toml_free(NULL);
	root = toml_parse(NULL, 0, NULL);
	assert_non_null(root);
	assert_int_equal(root->type, TOML_TABLE);
	assert_int_equal(root->u.table.len, 0);
	toml_free(root);
	assert_null(toml_parse("a =", 3, NULL)); /* no error object: still no crash */
	/* Input need not be NUL-terminated: only len bytes are read. */
	root = toml_parse("a = 12345", 6, NULL);
	assert_int_equal(get(root, "a")->u.integer, 12);
	toml_free(root);
	toml_free(parse_ok("\xEF\xBB\xBF# only a comment and a BOM"));
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_error_positions), cmocka_unit_test(test_lookup),
	    cmocka_unit_test(test_type_names),	    cmocka_unit_test(test_integers),
	    cmocka_unit_test(test_floats),	    cmocka_unit_test(test_float_locale),
	    cmocka_unit_test(test_strings),	    cmocka_unit_test(test_datetimes),
	    cmocka_unit_test(test_invalid_utf8),    cmocka_unit_test(test_nesting_limit),
	    cmocka_unit_test(test_nul_in_keys),	    cmocka_unit_test(test_table_rules),
	    cmocka_unit_test(test_large_table),	    cmocka_unit_test(test_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
