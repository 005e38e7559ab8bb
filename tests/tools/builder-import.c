/* Test helper: reads a builder export disk with mvm's own reader
 * (builder/import.h) into ROOT, for the store paths given, and prints the
 * bytes written. For tests that hand it archives a hostile guest could write.
 *
 *   builder-import DISK OFFSET ROOT STORE-PATH...
 *
 * Exit status: 0 ok, else the struct err exit class with the message on stderr. */
#include <stdio.h>
#include <stdlib.h>

#include "builder/import.h"
#include "core/err.h"
#include "core/strvec.h"

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: builder-import DISK OFFSET ROOT STORE-PATH...\n");
		return 2;
	}
	struct strvec closure = STRVEC_INIT;
	for (int i = 4; i < argc; i++)
		strvec_push(&closure, argv[i]);
	struct builder_import_limits lim = {.max_bytes = 1u << 20, .max_entries = 1000};
	struct err e = ERR_INIT;
	uint64_t bytes = 0;
	int r = builder_import(argv[1], (off_t)strtoll(argv[2], NULL, 10), &closure, argv[3], &lim,
			       &bytes, &e);
	if (r == 0)
		printf("%llu\n", (unsigned long long)bytes);
	else
		fprintf(stderr, "builder-import: %s\n", e.msg ? e.msg : "failed");
	strvec_clear(&closure);
	int code = r == 0 ? 0 : e.exit;
	err_release(&e);
	return code;
}
