/* libFuzzer harness for the TOML parser: parse, check what the API promises
 * about the result, free. ASan/UBSan catch memory errors and leaks; the
 * checks below abort on a broken promise.
 *
 *   make fuzz-run FUZZ_TARGETS=fuzz_toml
 *
 * Seeded from toml-test's .toml files (fuzz/corpus/toml/); minimised
 * crashers go to fuzz/regressions/toml/ (tests/toml-test.sh parses each of
 * them, tests/fuzz-replay.sh replays them through this harness).
 *
 * Log: 2026-11 — 45 min on 2 cores, ~161M execs (max_len 4096, then 64 KiB
 * for 5 min with -report_slow_units=1). Found one heap overflow in
 * parse_datetime: "19:\0-07-05T00:00:00" passed for a date-time because only
 * offset 4 was checked, the copy stopped at the NUL, and writing the 'T' ran
 * past it (regressions/toml/datetime-time-then-dash, minimised by hand).
 * No leaks, timeouts or slow units. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void check_value(const struct toml_value *v, int depth)
{
	check(depth <= TOML_MAX_DEPTH + 1);
	check(v->line >= 1 && v->col >= 1);
	switch (v->type) {
	case TOML_STRING:
		check(v->u.str.ptr && v->u.str.ptr[v->u.str.len] == '\0');
		break;
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL:
	case TOML_DATE_LOCAL:
	case TOML_TIME_LOCAL:
		check(v->u.datetime && strlen(v->u.datetime) >= 8);
		break;
	case TOML_ARRAY:
		for (size_t i = 0; i < v->u.array.len; i++)
			check_value(v->u.array.items[i], depth + 1);
		break;
	case TOML_TABLE:
		for (size_t i = 0; i < v->u.table.len; i++) {
			const struct toml_kv *kv = &v->u.table.items[i];
			check(kv->key[kv->keylen] == '\0' && kv->line >= 1 && kv->col >= 1);
			/* Keys are unique, and lookups find the first key of a name. */
			if (!memchr(kv->key, '\0', kv->keylen))
				check(toml_table_find(v, kv->key) == kv);
			check_value(kv->value, depth + 1);
		}
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct toml_error err;
	struct toml_value *root = toml_parse((const char *)data, size, &err);

	if (root) {
		check(root->type == TOML_TABLE);
		check_value(root, 0);
	} else {
		check(err.msg[0] && strlen(err.msg) < sizeof(err.msg));
		check(err.line >= 1 && err.col >= 1);
	}
	toml_free(root);
	return 0;
}
