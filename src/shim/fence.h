/* The cluster's fence (docs/cluster.md, "Fencing"). The agent of `mvm host
 * serve` rewrites $MVM_HOME/cluster/fence.json each time its lease is granted
 * or renewed: the lease, and the time on the boot clock (boot_ms) until which
 * that lease is surely alive in etcd, TTL minus a margin after the renewal
 * was sent. Each VM the agent starts names the file in its spec; its
 * supervisor reads it four times a second and pauses the VM once that time
 * has passed, so a host whose agent was killed, frozen or cut off stops
 * running its copies before another host may start them (after the lease
 * expires and a grace). The supervisor resumes only a VM it paused itself,
 * and only when the same lease is renewed: under a new lease the old one's
 * instances may be owned elsewhere, and the agent decides. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

#define FENCE_CHECK_MS 250

struct fence {
	int64_t lease;
	long long until_ms; /* boot_ms() */
};

/* Writes the file atomically (0600). */
int fence_write(const char *path, const struct fence *f, struct err *e);
/* 0 and *f; < 0 when the file is missing or not a fence (the caller takes
 * its deadline as passed). */
int fence_read(const char *path, struct fence *f);

enum fence_action { FENCE_NONE, FENCE_PAUSE, FENCE_RESUME };

/* What a supervisor did to its VM: paused it for the fence, under lease. */
struct fence_state {
	bool fenced;
	int64_t lease;
};

/* True when f (NULL: unreadable) no longer vouches for the lease at now. */
bool fence_passed(const struct fence *f, long long now);

/* The step for a VM that is paused or not at now, given the file (NULL:
 * unreadable); updates *st for the step it returns. A VM that was resumed
 * or paused by someone else since is no longer the fence's. */
enum fence_action fence_decide(const struct fence *f, long long now, bool paused,
			       struct fence_state *st);
