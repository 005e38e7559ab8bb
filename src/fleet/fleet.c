/* Fleet addresses and where they live on disk. */
#include <stdio.h>
#include <string.h>

#include "core/paths.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "fleet/fleet.h"

bool fleet_id_valid(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > FLEET_ID_MAX || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* Splits s on '/' into exactly n valid ids (min..n parts when min < n). */
static bool split(const char *s, size_t min, size_t n, struct fleet_addr *a)
{
	char *parts[3] = {a->tenant, a->pool, a->instance};
	*a = (struct fleet_addr){0};
	size_t k = 0;
	const char *p = s;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (k == n || len > FLEET_ID_MAX)
			return false;
		memcpy(parts[k], p, len);
		parts[k][len] = '\0';
		if (!fleet_id_valid(parts[k]))
			return false;
		k++;
		if (!slash)
			break;
		p = slash + 1;
	}
	return k >= min;
}

static int parse(const char *s, size_t min, size_t n, const char *what, struct fleet_addr *a,
		 struct err *e)
{
	if (split(s, min, n, a))
		return 0;
	*a = (struct fleet_addr){0};
	_cleanup_free_ char *shown = str_shown(s, 64);
	int r = err_set(e, -EINVAL, EXIT_USAGE, "Expected %s, got \"%s\"", what, shown);
	err_hint(e, "IDs are 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'");
	return r;
}

int fleet_parse_tenant(const char *s, struct fleet_addr *a, struct err *e)
{
	return parse(s, 1, 1, "<tenant>", a, e);
}

int fleet_parse_pool(const char *s, struct fleet_addr *a, struct err *e)
{
	return parse(s, 2, 2, "<tenant>/<pool>", a, e);
}

int fleet_parse_instance(const char *s, struct fleet_addr *a, struct err *e)
{
	return parse(s, 3, 3, "<tenant>/<pool>/<instance>", a, e);
}

int fleet_parse_scope(const char *s, struct fleet_addr *a, struct err *e)
{
	return parse(s, 1, 2, "<tenant>[/<pool>]", a, e);
}

char *fleet_tenants_dir(void)
{
	return xasprintf("%s/tenants", paths_home());
}

char *fleet_tenant_dir(const char *t)
{
	return xasprintf("%s/tenants/%s", paths_home(), t);
}

char *fleet_pools_dir(const char *t)
{
	return xasprintf("%s/pools/%s", paths_home(), t);
}

char *fleet_pool_dir(const char *t, const char *p)
{
	return xasprintf("%s/pools/%s/%s", paths_home(), t, p);
}

char *fleet_instances_dir(const char *t, const char *p)
{
	return xasprintf("%s/pools/%s/%s/instances", paths_home(), t, p);
}

char *fleet_instance_dir(const char *t, const char *p, const char *id)
{
	return xasprintf("%s/pools/%s/%s/instances/%s", paths_home(), t, p, id);
}
