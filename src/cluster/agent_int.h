/* What agent.c (the lease, the loop, fencing) and reconcile.c (one pass
 * over the cluster's state) share. Not for other layers. */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster/etcd.h"
#include "core/config.h"
#include "cluster/view.h"

struct agent {
	const char *name;
	const struct config *cfg; /* [store] for the revisions it lacks (travel.h) */
	struct etcd *c;		  /* the loop's; the keepalive thread has its own */
	int ttl_s;
	long long margin_ms; /* fence at TTL minus this after the last renewal */
	long long grace_ms;  /* a new owner waits this before it starts a lost instance */
	_Atomic int64_t lease;
	_Atomic long long last_renew_ms; /* mono_ms() when the last successful renewal was sent */
	_Atomic bool lease_lost;
	unsigned vcpus;
	uint64_t mem_mib;
	json_t *published;     /* the hosts/ record last written */
	json_t *unowned_since; /* "<t>/<p>/<id>" → mono ms first seen without an owner */
	json_t *retry_at; /* "<t>/<p>/<id>" → mono ms before which a failed move is not retried */
	json_t *failover; /* "<t>/<p>/<id>" → the host it was on before this one claimed it */
	long long due_ms; /* mono ms of the next grace that ends (0: none): the loop wakes then */
	bool fenced;
	int64_t seen_rev; /* the revision of the last view read */
	/* $MVM_HOME/cluster/fence.json (shim/fence.h): every VM the agent starts
	 * is paused by its supervisor once the deadline in it passes */
	char *fence_path;
	pthread_mutex_t fence_lock; /* the loop and the keepalive thread both write it */
};

/* A line of the agent's log: "HH:MM:SS <host>: <message>". */
void agent_log(const struct agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True when the lease may have expired by now (no renewal for TTL - margin). */
bool agent_lease_doubtful(const struct agent *a);

/* One pass: publishes the host's record, stops copies it does not own,
 * claims what placement gives it, converges what it owns. Returns 1 when
 * it changed something (the loop looks again at once), 0 when all is as
 * it should be, < 0 when etcd could not be read (err set). */
int agent_reconcile(struct agent *a, struct err *e);

/* Pauses every running instance of the local pools the cluster has. */
void agent_fence(struct agent *a);
