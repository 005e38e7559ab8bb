/* Quota checks: usage summed over every pool of the tenant. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "core/jsonio.h"
#include "core/strvec.h"
#include "fleet/pool.h"
#include "fleet/quota.h"
#include "fleet/tenant.h"

int quota_usage(const char *tenant, struct quota_usage *u, struct err *e)
{
	*u = (struct quota_usage){0};
	struct strvec pools = STRVEC_INIT;
	int r = pool_list(tenant, &pools, e);
	for (size_t i = 0; r == 0 && i < pools.n; i++) {
		struct instance *v = NULL;
		size_t n = 0;
		if ((r = instance_list(tenant, pools.v[i], &v, &n, e)) < 0)
			break;
		for (size_t k = 0; k < n; k++) {
			bool counted = v[k].state == INST_RUNNING || v[k].state == INST_WARM;
			if (counted) {
				u->vcpus += json_get_int(v[k].record, "vcpus", 0);
				u->mem_mib += json_get_int(v[k].record, "mem_mib", 0);
			}
			u->running += v[k].state == INST_RUNNING;
			u->warm += v[k].state == INST_WARM;
			u->sleeping += v[k].state == INST_SLEEPING;
			u->stopped += v[k].state == INST_STOPPED;
		}
		instance_list_release(v, n);
	}
	strvec_clear(&pools);
	return r;
}

static int exceeded(struct err *e, const char *tenant, const char *quota, long long limit,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int exceeded(struct err *e, const char *tenant, const char *quota, long long limit,
		    const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	int r = err_set(e, -EDQUOT, EXIT_REFUSED, "Quota exceeded for tenant '%s': %s is %lld, %s",
			tenant, quota, limit, sb.buf);
	strbuf_release(&sb);
	err_hint(e, "stop, sleep or remove instances of '%s', or raise the quota", tenant);
	return r;
}

int quota_check_move(const struct instance *in, enum inst_state to, struct err *e)
{
	bool boots =
	    to == INST_RUNNING && (in->state == INST_STOPPED || in->state == INST_SLEEPING);
	bool resumes = to == INST_RUNNING && in->state == INST_WARM;
	bool pauses = to == INST_WARM;
	if (!boots && !resumes && !pauses)
		return 0;
	struct tenant t = TENANT_INIT;
	int r = tenant_load(in->tenant, &t, e);
	if (r < 0)
		return r;
	struct quota_usage u;
	if ((r = quota_usage(in->tenant, &u, e)) < 0)
		goto out;
	long long vcpus = json_get_int(in->record, "vcpus", 0);
	long long mem = json_get_int(in->record, "mem_mib", 0);
	if (boots && u.vcpus + vcpus > t.q.max_vcpus)
		r = exceeded(
		    e, in->tenant, "max_vcpus", t.q.max_vcpus,
		    "%lld in use by running and warm instances, this start needs %lld more",
		    u.vcpus, vcpus);
	else if (boots && u.mem_mib + mem > t.q.max_mem_mib)
		r = exceeded(e, in->tenant, "max_mem_mib", t.q.max_mem_mib,
			     "%lld MiB in use by running and warm instances, this start needs %lld "
			     "MiB more",
			     u.mem_mib, mem);
	else if ((boots || resumes) && u.running + 1 > t.q.max_running)
		r = exceeded(e, in->tenant, "max_running", t.q.max_running, "%lld running",
			     u.running);
	else if (pauses && u.warm + 1 > t.q.max_warm)
		r = exceeded(e, in->tenant, "max_warm", t.q.max_warm, "%lld warm", u.warm);
out:
	tenant_release(&t);
	return r;
}
