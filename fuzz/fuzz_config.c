/* libFuzzer harness for the config reader (src/core/config.c): the input is
 * $MVM_CONFIG, a file in the harness's private directory (the MVM_*
 * variables config_load reads are unset). What config_load accepts must be
 * coherent: a known accel and network mode, NAME/REF pairs of overrides;
 * a refusal has a message. Nothing may crash or leak.
 *
 *   make fuzz && build/fuzz/fuzz_config fuzz/corpus/config
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *path;

static bool one_of(const char *s, const char *a, const char *b, const char *c)
{
	return s && (!strcmp(s, a) || !strcmp(s, b) || !strcmp(s, c));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!path) {
		path = xasprintf("%s/config.toml", fuzz_dir());
		setenv("MVM_CONFIG", path, 1);
		const char *vars[] = {"MVM_BACKEND", "MVM_ACCEL",	    "MVM_KERNEL",
				      "MVM_OFFLINE", "MVM_OVERRIDE_INPUTS", "MVM_NETWORK"};
		for (size_t i = 0; i < sizeof(vars) / sizeof(*vars); i++)
			unsetenv(vars[i]);
	}
	fuzz_put(path, data, size);
	struct config c;
	struct err e = ERR_INIT;
	if (config_load(&c, &e) == 0) {
		if (!one_of(c.accel, "auto", "kvm", "tcg") ||
		    !one_of(c.network, "nat", "isolated", "none") || !c.backend ||
		    c.override_inputs.n % 2 || !c.network_from)
			abort();
		for (size_t i = 0; i < c.override_inputs.n; i++)
			if (!c.override_inputs.v[i])
				abort();
	} else if (!e.msg) {
		abort();
	}
	config_release(&c);
	err_release(&e);
	return 0;
}
