/* The fence file and the supervisor's rule (fence.h). */
#include "shim/fence.h"

#include <errno.h>
#include <string.h>

#include "core/jsonio.h"
#include "core/util.h"

int fence_write(const char *path, const struct fence *f, struct err *e)
{
	char lease[24];
	snprintf(lease, sizeof(lease), "%llx", (unsigned long long)f->lease);
	json_t *j = json_pack("{s:i, s:s, s:I}", "schema_version", 1, "lease", lease,
			      "until_boot_ms", (json_int_t)f->until_ms);
	int r = json_write_file(path, j, e);
	json_decref(j);
	return r;
}

int fence_read(const char *path, struct fence *f)
{
	json_t *j = NULL;
	struct err e = ERR_INIT;
	int r = json_read_file(path, &j, &e);
	err_release(&e);
	if (r < 0)
		return r;
	const char *lease = json_get_str(j, "lease");
	json_t *until = json_object_get(j, "until_boot_ms");
	char *end = NULL;
	errno = 0;
	unsigned long long id = lease ? strtoull(lease, &end, 16) : 0;
	r = -EINVAL;
	if (lease && *lease && !*end && !errno && id && id <= INT64_MAX && json_is_integer(until)) {
		f->lease = (int64_t)id;
		f->until_ms = json_integer_value(until);
		r = 0;
	}
	json_decref(j);
	return r;
}

bool fence_passed(const struct fence *f, long long now)
{
	return !f || now >= f->until_ms;
}

enum fence_action fence_decide(const struct fence *f, long long now, bool paused,
			       struct fence_state *st)
{
	if (st->fenced && !paused)
		st->fenced = false; /* resumed by someone who could (the agent, renewed) */
	if (fence_passed(f, now)) {
		if (paused)
			return FENCE_NONE;
		st->fenced = true;
		st->lease = f ? f->lease : 0;
		return FENCE_PAUSE;
	}
	if (st->fenced && st->lease && f->lease == st->lease) {
		st->fenced = false;
		return FENCE_RESUME;
	}
	return FENCE_NONE;
}
