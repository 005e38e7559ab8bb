/* The fence's rule (shim/fence.h): when a supervisor pauses its VM for the
 * cluster, and when it may resume it; and the file the agent writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "shim/fence.h"

static void deadline_passed_pauses_once(void **state)
{
	(void)state;
	struct fence f = {.lease = 0x42, .until_ms = 1000};
	struct fence_state st = {0};
	assert_int_equal(fence_decide(&f, 999, false, &st), FENCE_NONE);
	assert_false(st.fenced);
	assert_int_equal(fence_decide(&f, 1000, false, &st), FENCE_PAUSE);
	assert_true(st.fenced);
	assert_int_equal(st.lease, 0x42);
	/* paused now: nothing more to do while the deadline stays passed */
	assert_int_equal(fence_decide(&f, 5000, true, &st), FENCE_NONE);
	assert_true(st.fenced);
}

static void unreadable_file_pauses(void **state)
{
	(void)state;
	struct fence_state st = {0};
	assert_int_equal(fence_decide(NULL, 0, false, &st), FENCE_PAUSE);
	assert_true(st.fenced);
	/* and no file later is the same lease: never resumed by the fence */
	struct fence f = {.lease = 0x42, .until_ms = 9000};
	assert_int_equal(fence_decide(&f, 10, true, &st), FENCE_NONE);
	assert_true(st.fenced);
}

static void same_lease_renewed_resumes(void **state)
{
	(void)state;
	struct fence f = {.lease = 0x42, .until_ms = 1000};
	struct fence_state st = {0};
	assert_int_equal(fence_decide(&f, 1500, false, &st), FENCE_PAUSE);
	f.until_ms = 9000; /* renewed */
	assert_int_equal(fence_decide(&f, 1600, true, &st), FENCE_RESUME);
	assert_false(st.fenced);
	assert_int_equal(fence_decide(&f, 1700, false, &st), FENCE_NONE);
}

static void new_lease_never_resumes(void **state)
{
	(void)state;
	struct fence f = {.lease = 0x42, .until_ms = 1000};
	struct fence_state st = {0};
	assert_int_equal(fence_decide(&f, 1500, false, &st), FENCE_PAUSE);
	/* the old lease expired; the agent has a new one: the instance may be
	 * owned elsewhere by now, so the VM stays paused for the agent to stop */
	f = (struct fence){.lease = 0x43, .until_ms = 9000};
	for (long long now = 1600; now < 2600; now += 250)
		assert_int_equal(fence_decide(&f, now, true, &st), FENCE_NONE);
	assert_true(st.fenced);
}

static void a_pause_of_the_agents_is_not_the_fences(void **state)
{
	(void)state;
	/* paused by the agent (a warm instance) before the deadline passed:
	 * renewals never resume it */
	struct fence f = {.lease = 0x42, .until_ms = 1000};
	struct fence_state st = {0};
	assert_int_equal(fence_decide(&f, 1500, true, &st), FENCE_NONE);
	f.until_ms = 9000;
	assert_int_equal(fence_decide(&f, 1600, true, &st), FENCE_NONE);
	/* fenced, then resumed by someone else: no longer the fence's */
	f.until_ms = 1000;
	assert_int_equal(fence_decide(&f, 1700, false, &st), FENCE_PAUSE);
	f.until_ms = 9000;
	assert_int_equal(fence_decide(&f, 1800, false, &st), FENCE_NONE);
	assert_false(st.fenced);
}

static void file_round_trip_and_refusals(void **state)
{
	(void)state;
	char dir[] = "/tmp/mvm-test-fence.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/fence.json", dir);
	struct fence f = {.lease = 0x694d7a1b2c3d4e5f, .until_ms = 123456789}, g = {0};
	struct err e = ERR_INIT;
	assert_true(fence_read(path, &g) < 0); /* no file yet */
	assert_int_equal(fence_write(path, &f, &e), 0);
	assert_int_equal(fence_read(path, &g), 0);
	assert_int_equal(g.lease, f.lease);
	assert_int_equal(g.until_ms, f.until_ms);
	const char *bad[] = {
	    "{}",
	    "{\"lease\":\"\",\"until_boot_ms\":5}",
	    "{\"lease\":\"0\",\"until_boot_ms\":5}",
	    "{\"lease\":\"xyz\",\"until_boot_ms\":5}",
	    "{\"lease\":\"42\",\"until_boot_ms\":\"5\"}",
	    "{\"lease\":\"ffffffffffffffff\",\"until_boot_ms\":5}",
	    "not json",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *fp = fopen(path, "w");
		assert_non_null(fp);
		fputs(bad[i], fp);
		fclose(fp);
		assert_true(fence_read(path, &g) < 0);
	}
	unlink(path);
	rmdir(dir);
	err_release(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(deadline_passed_pauses_once),
	    cmocka_unit_test(unreadable_file_pauses),
	    cmocka_unit_test(same_lease_renewed_resumes),
	    cmocka_unit_test(new_lease_never_resumes),
	    cmocka_unit_test(a_pause_of_the_agents_is_not_the_fences),
	    cmocka_unit_test(file_round_trip_and_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
