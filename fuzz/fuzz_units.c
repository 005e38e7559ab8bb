/* libFuzzer harness for mvm-init's unit-file parser (src/guest/units.c,
 * compiled in from the guest's sources): the input is a .service file,
 * parsed as services.c parses one; every ExecStart= it yields is prepared
 * to run (unit_exec_prepare) and split with the unit's environment
 * expanded; the same text is read as an EnvironmentFile= and its first line
 * as a time span (RestartSec=). A refusal names its line; an accepted unit
 * has its lists NULL-terminated and its environment in K=V form. Nothing
 * may crash or leak.
 *
 *   make fuzz && build/fuzz/fuzz_units fuzz/corpus/units
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guest/units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_list(const struct unit_list *l, bool kv)
{
	if (!l->v) {
		if (l->n)
			abort();
		return;
	}
	for (size_t i = 0; i < l->n; i++)
		if (!l->v[i] || (kv && !strchr(l->v[i], '=')))
			abort();
	if (l->v[l->n])
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	const char *text = (const char *)data;
	struct unit u;
	memset(&u, 0, sizeof(u));
	char err[256] = "";
	if (unit_parse(&u, "web@blue.service", text, size, err, sizeof(err)) == 0) {
		check_list(&u.exec, false);
		check_list(&u.env, true);
		check_list(&u.env_files, false);
		check_list(&u.after, false);
		check_list(&u.before, false);
		check_list(&u.wanted_by, false);
		const char *const *env = (const char *const *)u.env.v;
		for (size_t i = 0; i < u.exec.n; i++) {
			struct unit_exec x;
			memset(&x, 0, sizeof(x));
			if (unit_exec_prepare(u.exec.v[i], env, &x) == 0 && (!x.path || !x.argv))
				abort();
			unit_exec_free(&x);
			char **argv = NULL;
			int n = unit_split(u.exec.v[i], env, true, &argv);
			if (n >= 0)
				for (int j = 0; j < n; j++)
					if (!argv[j])
						abort();
			unit_argv_free(argv);
		}
	} else if (!err[0] || strlen(err) >= sizeof(err)) {
		abort();
	}
	unit_free(&u);

	struct unit_list l;
	memset(&l, 0, sizeof(l));
	unit_env_file(&l, text, size);
	check_list(&l, true);
	unit_list_free(&l);

	char *line = strndup(text, size);
	line[strcspn(line, "\n")] = '\0';
	long long ms = unit_parse_timespan_ms(line);
	if (ms < -1)
		abort();
	free(line);
	return 0;
}
