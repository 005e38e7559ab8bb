/* libFuzzer harness for mvm-init's reading of the kernel command line
 * (src/guest/cmdline.c, compiled in from the guest's sources): the input is
 * /proc/cmdline's text (at most what cmdline_get reads), searched for every
 * key mvm-init asks for. A value found is a word of the text after
 * "key=", never holding a separator. Nothing may crash or leak.
 *
 *   make fuzz && build/fuzz/fuzz_cmdline fuzz/corpus/cmdline
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/init.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4095)
		return 0;
	char *buf = strndup((const char *)data, size);
	static const char *const keys[] = {
	    "mvm.snapshot", "mvm.hostname", "mvm.ip", "mvm.gw", "mvm.dns", "m", ""};
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		char *v = cmdline_find(buf, keys[i]);
		if (!v)
			continue;
		if (strpbrk(v, " \t\n"))
			abort();
		char *want = NULL;
		if (asprintf(&want, "%s=%s", keys[i], v) < 0)
			abort();
		if (!strstr(buf, want))
			abort();
		free(want);
		free(v);
	}
	free(buf);
	return 0;
}
