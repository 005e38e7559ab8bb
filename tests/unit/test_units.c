/* mvm-init's unit-file parser (src/guest/units.c). The guest sources are not
 * in the host library, and the parser is libc-only, so it is compiled in here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "guest/units.c"

static void expect_words(const char *line, const char *const *env, const char *const *want)
{
	char **argv = NULL;
	int n = unit_split(line, env, true, &argv);
	size_t nwant = 0;
	while (want[nwant])
		nwant++;
	assert_int_equal(n, (int)nwant);
	for (size_t i = 0; i < nwant; i++)
		assert_string_equal(argv[i], want[i]);
	assert_null(argv[nwant]);
	unit_argv_free(argv);
}

static void test_split_quoting(void **state)
{
	(void)state;
	expect_words("/bin/echo a  b", NULL, (const char *[]){"/bin/echo", "a", "b", NULL});
	expect_words("sh -c 'echo \"$X\" done'", NULL,
		     (const char *[]){"sh", "-c", "echo \"$X\" done", NULL});
	expect_words("a\"b c\"d 'e'", NULL, (const char *[]){"ab cd", "e", NULL});
	expect_words("--opt=\"x y\"", NULL, (const char *[]){"--opt=x y", NULL});
	expect_words("tab\\tx \\x41 \\\\ \\\"q", NULL,
		     (const char *[]){"tab\tx", "A", "\\", "\"q", NULL});
	expect_words("   ", NULL, (const char *[]){NULL});
	expect_words("\"\"", NULL, (const char *[]){"", NULL});
	char **argv = NULL;
	assert_int_equal(unit_split("echo 'unterminated", NULL, true, &argv), -1);
	assert_int_equal(unit_split("echo \"unterminated", NULL, true, &argv), -1);
}

static void test_split_variables(void **state)
{
	(void)state;
	const char *env[] = {"A=one two", "B=x", "EMPTY=", NULL};
	/* $A alone splits at whitespace; ${A} is one word; $$ is a dollar */
	expect_words("p $A", env, (const char *[]){"p", "one", "two", NULL});
	expect_words("p ${A}", env, (const char *[]){"p", "one two", NULL});
	expect_words("p pre${B}post", env, (const char *[]){"p", "prexpost", NULL});
	expect_words("p $$B", env, (const char *[]){"p", "$B", NULL});
	expect_words("p $UNSET ${UNSET}", env, (const char *[]){"p", "", NULL});
	expect_words("p $EMPTY end", env, (const char *[]){"p", "end", NULL});
	/* as systemd: variables are replaced after unquoting */
	expect_words("p \"$A\"", env, (const char *[]){"p", "one", "two", NULL});
	expect_words("sh -c 'echo \"$A\" ${B}'", env,
		     (const char *[]){"sh", "-c", "echo \"$A\" x", NULL});
}

static struct unit parse_ok(const char *text)
{
	struct unit u;
	char err[256] = "";
	int r = unit_parse(&u, "web.service", text, strlen(text), err, sizeof(err));
	if (r < 0)
		fail_msg("parse failed: %s", err);
	return u;
}

static void expect_error(const char *text, const char *needle)
{
	struct unit u;
	char err[256] = "";
	assert_int_equal(unit_parse(&u, "web.service", text, strlen(text), err, sizeof(err)), -1);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void test_parse_full(void **state)
{
	(void)state;
	struct unit u = parse_ok("# comment\n"
				 "[Unit]\n"
				 "Description=The web app\n"
				 "After=network.target db.service\n"
				 "After=cache.service\n"
				 "Before=late.service\n"
				 "\n"
				 "[Service]\n"
				 "Type=simple\n"
				 "Environment=\"A=1 2\" B=3\n"
				 "Environment=B=4\n"
				 "; another comment\n"
				 "WorkingDirectory=-/srv/%N\n"
				 "ExecStart=/usr/bin/web \\\n"
				 "   --port 8080\n"
				 "Restart=on-failure\n"
				 "RestartSec=2s 500ms\n"
				 "User=nobody\n"
				 "Unknown=ignored\n"
				 "[Install]\n"
				 "WantedBy=multi-user.target\n");
	assert_string_equal(u.name, "web.service");
	assert_string_equal(u.label, "web");
	assert_string_equal(u.description, "The web app");
	assert_int_equal(u.after.n, 3);
	assert_string_equal(u.after.v[0], "network.target");
	assert_string_equal(u.after.v[1], "db.service");
	assert_string_equal(u.after.v[2], "cache.service");
	assert_string_equal(u.before.v[0], "late.service");
	assert_int_equal(u.env.n, 2);
	assert_string_equal(u.env.v[0], "A=1 2");
	assert_string_equal(u.env.v[1], "B=4");
	assert_string_equal(u.workdir, "/srv/web");
	assert_true(u.workdir_optional);
	assert_int_equal(u.exec.n, 1);
	assert_string_equal(u.exec.v[0], "/usr/bin/web     --port 8080");
	assert_int_equal(u.restart, RESTART_ON_FAILURE);
	assert_int_equal(u.restart_ms, 2500);
	assert_string_equal(u.user, "nobody");
	assert_int_equal(u.type, UNIT_SIMPLE);
	assert_string_equal(u.wanted_by.v[0], "multi-user.target");
	unit_free(&u);
}

static void test_parse_oneshot_and_reset(void **state)
{
	(void)state;
	struct unit u = parse_ok("[Service]\nType=oneshot\nExecStart=/bin/a\nExecStart=\n"
				 "ExecStart=/bin/b\nExecStart=-/bin/c x\n");
	assert_int_equal(u.type, UNIT_ONESHOT);
	assert_int_equal(u.exec.n, 2);
	assert_string_equal(u.exec.v[0], "/bin/b");
	assert_int_equal(u.restart, RESTART_NO);
	assert_int_equal(u.restart_ms, 100);
	unit_free(&u);
}

static void test_parse_errors(void **state)
{
	(void)state;
	expect_error("[Service]\nType=simple\n", "no ExecStart");
	expect_error("ExecStart=/bin/a\n", "outside of a section");
	expect_error("[Service]\nExecStart=/bin/a\nthis is not an assignment\n", ":3:");
	expect_error("[Service\nExecStart=/bin/a\n", "bad section header");
	expect_error("[Service]\nExecStart=/bin/a\nRestart=sometimes\n", "Restart=sometimes");
	expect_error("[Service]\nExecStart=/bin/a\nRestartSec=soon\n", "RestartSec");
	expect_error("[Service]\nExecStart=/bin/a\nExecStart=/bin/b\n", "oneshot");
	expect_error("[Service]\nExecStart=/bin/a\nEnvironment=\"A=1\n", "quotes");
	const char nul[] = "[Service]\nExecStart=/bin/a\0\n";
	struct unit u;
	char err[128];
	assert_int_equal(unit_parse(&u, "x.service", nul, sizeof(nul) - 1, err, sizeof(err)), -1);
}

static void test_exec_prepare(void **state)
{
	(void)state;
	const char *env[] = {"PORT=8080", NULL};
	struct unit_exec x;
	assert_int_equal(unit_exec_prepare("-/bin/web --port ${PORT}", env, &x), 0);
	assert_true(x.ignore_failure);
	assert_string_equal(x.path, "/bin/web");
	assert_string_equal(x.argv[0], "/bin/web");
	assert_string_equal(x.argv[2], "8080");
	assert_null(x.argv[3]);
	unit_exec_free(&x);
	assert_int_equal(unit_exec_prepare("@/bin/busybox sh -c true", env, &x), 0);
	assert_false(x.ignore_failure);
	assert_string_equal(x.path, "/bin/busybox");
	assert_string_equal(x.argv[0], "sh");
	assert_string_equal(x.argv[1], "-c");
	unit_exec_free(&x);
	assert_int_equal(unit_exec_prepare("   ", env, &x), -1);
	assert_int_equal(unit_exec_prepare("@/bin/only", env, &x), -1);
}

static void test_timespan(void **state)
{
	(void)state;
	assert_int_equal(unit_parse_timespan_ms("5"), 5000);
	assert_int_equal(unit_parse_timespan_ms("100ms"), 100);
	assert_int_equal(unit_parse_timespan_ms("1min 30s"), 90000);
	assert_int_equal(unit_parse_timespan_ms("0.5s"), 500);
	assert_int_equal(unit_parse_timespan_ms("2 h"), 7200000);
	assert_int_equal(unit_parse_timespan_ms(""), -1);
	assert_int_equal(unit_parse_timespan_ms("fast"), -1);
	assert_int_equal(unit_parse_timespan_ms("5 parsecs"), -1);
}

static void test_env_file(void **state)
{
	(void)state;
	struct unit_list l = {0};
	const char text[] = "# comment\nA=1\nexport B = two words \nC=\"quoted \\\"x\\\"\"\n"
			    "D='single'\nnot a pair\nA=override\n";
	unit_env_file(&l, text, sizeof(text) - 1);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.v[0], "A=override");
	assert_string_equal(l.v[1], "B=two words");
	assert_string_equal(l.v[2], "C=quoted \"x\"");
	assert_string_equal(l.v[3], "D=single");
	unit_list_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split_quoting), cmocka_unit_test(test_split_variables),
	    cmocka_unit_test(test_parse_full),	  cmocka_unit_test(test_parse_oneshot_and_reset),
	    cmocka_unit_test(test_parse_errors),  cmocka_unit_test(test_exec_prepare),
	    cmocka_unit_test(test_timespan),	  cmocka_unit_test(test_env_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
