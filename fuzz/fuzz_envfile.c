/* libFuzzer harness for the env-file parser (src/core/envfile.c): the input
 * is an --env-file (a file in the harness's private directory), and its
 * first line is also given as one -e argument. Whatever is accepted is a
 * list of valid K=V entries, one per name; a refusal names the file or the
 * argument. Nothing may crash or leak.
 *
 *   make fuzz && build/fuzz/fuzz_envfile fuzz/corpus/envfile
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/envfile.h"
#include "fuzz_util.h"
#include "proto/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *path;

static void check(const struct strvec *env)
{
	for (size_t i = 0; i < env->n; i++) {
		const char *kv = env->v[i];
		if (!proto_env_entry_valid(kv))
			abort();
		size_t kl = strcspn(kv, "=");
		for (size_t j = 0; j < i; j++)
			if (!strncmp(env->v[j], kv, kl) && env->v[j][kl] == '=')
				abort(); /* one entry per name */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!path) {
		path = xasprintf("%s/env", fuzz_dir());
		/* "-e K" takes the host's value: a fixed environment */
		clearenv();
		setenv("HOSTVAR", "from the host", 1);
	}
	fuzz_put(path, data, size);
	struct strvec env = STRVEC_INIT;
	struct err e = ERR_INIT;
	if (env_add_file(&env, path, &e) < 0 && (!e.msg || !strstr(e.msg, path)))
		abort();
	err_release(&e);
	check(&env);

	char *line = strndup((const char *)data, size);
	line[strcspn(line, "\n")] = '\0';
	if (env_add_arg(&env, line, &e) < 0 && (!e.msg || !strstr(e.msg, "-e '")))
		abort();
	err_release(&e);
	check(&env);
	free(line);
	strvec_clear(&env);
	return 0;
}
