/* The VM's own environment: the variables `mvmctl up -e/--env-file` gave it,
 * sent by the host in an ENV frame before the identity. Every service and
 * every exec session gets them on top of its base environment; a unit's own
 * Environment= is overridden by them, an exec's -e overrides them. */
#include <stdlib.h>
#include <string.h>

#include "init.h"
#include "proto/agent.h"

static char **vars;
static size_t nvars;

static void clear(void)
{
	for (size_t i = 0; i < nvars; i++) {
		explicit_bzero(vars[i], strlen(vars[i]));
		free(vars[i]);
	}
	free(vars);
	vars = NULL;
	nvars = 0;
}

void vm_env_set(uint32_t count, const uint8_t *first)
{
	clear();
	vars = calloc(count + 1, sizeof(*vars));
	if (!vars && count)
		fatal("out of memory");
	const uint8_t *cur = first;
	for (uint32_t i = 0; i < count; i++) {
		vars[i] = strdup(proto_strings_next(&cur));
		if (!vars[i])
			fatal("out of memory");
	}
	nvars = count;
	/* the values may be credentials: their number only */
	log_msg("environment: %u variable%s for services and exec", count, count == 1 ? "" : "s");
}

size_t vm_env_count(void)
{
	return nvars;
}

const char *vm_env_at(size_t i)
{
	return i < nvars ? vars[i] : NULL;
}
