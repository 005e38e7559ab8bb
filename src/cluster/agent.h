/* `mvm host serve`: the agent of one host in a cluster (docs/cluster.md).
 *
 * It holds a lease (its TTL from [cluster] lease_ttl), kept alive by a
 * thread of its own, and registers the host under it (hosts/<name>: its
 * capacity and the pools it can serve, i.e. the local pools at their
 * current revision). Its loop reads the cluster's state, claims the
 * unowned instances placement gives it (place.h), converges the ones it
 * owns with the single-host moves (fleet/instance.h: resume, wake,
 * restore, cold boot; pause, sleep, stop), and stops and removes every
 * local copy of an instance it does not own. It then waits for the next
 * change (a watch) or a second.
 *
 * Fencing: when the lease has not been renewed for TTL minus a margin (by
 * this process's monotonic clock) the agent pauses its running
 * instances and touches nothing else until a renewal succeeds; then the
 * instances it still owns converge again and the others are stopped. A
 * new owner of an instance that had one waits a grace period before it
 * starts it. The lease id is kept in $MVM_HOME/cluster/lease.json, so an
 * agent restarted within the TTL carries on with its instances.
 */
#pragma once

#include <stdint.h>

#include "core/config.h"
#include "core/err.h"

struct agent_opts {
	const char *name; /* the host's name in the cluster */
	unsigned vcpus;	  /* capacity offered; 0: the machine's */
	uint64_t mem_mib; /* 0: the machine's */
	int ttl_s;
};

/* Runs until SIGINT or SIGTERM; 0 then. Fails only when it cannot start
 * (etcd unreachable at start, a bad name). Logs one line per action to
 * stdout. */
int agent_serve(const struct config *cfg, const struct agent_opts *o, struct err *e);
