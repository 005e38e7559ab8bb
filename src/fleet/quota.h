/* A tenant's quotas (tenant.h) against what its instances use now. */
#pragma once

#include "core/err.h"
#include "fleet/instance.h"

struct quota_usage {
	long long vcpus, mem_mib; /* of running and warm instances */
	long long running, warm, sleeping, stopped;
};

/* What every instance of the tenant uses now (each VM's liveness checked). */
int quota_usage(const char *tenant, struct quota_usage *u, struct err *e);

/* Whether moving in to `to` stays within its tenant's quotas: starts and
 * wakes add its vcpus and memory and one running instance, resume trades a
 * warm one for a running one, pause the reverse. Else EXIT_REFUSED naming
 * the quota and the numbers. Call with the tenant lock held. */
int quota_check_move(const struct instance *in, enum inst_state to, struct err *e);
