/* Instances of a pool (seed 003) and the moves between their states.
 *
 *   stopped  --start-->  running  --pause-->  warm  --resume-->  running
 *   running, warm  --sleep-->  sleeping  --wake-->  running
 *   running, warm, sleeping  --stop-->  stopped  --rm-->  (gone)
 *
 * Any other move is refused: EXIT_REFUSED `Invalid state transition: <from> -> <to>`.
 *
 * pools/<t>/<p>/instances/<id>/ is the instance and its VM (the VM reference
 * "<t>/<p>/<id>", vm/vm.h):
 *   instance.json  {"schema_version": 1, "id", "tenant", "pool", "state",
 *                   "revision" (what it booted; kept until it starts again),
 *                   "vcpus", "mem_mib", "data_disk_mib", "started_from"
 *                   ("cold", "snapshot", "sleep"), "created_at", "updated_at",
 *                   "problem" (why a running VM stopped on its own), "warnings"}
 *   mem            guest RAM, mapped shared: sleep saves device state only
 *   sleep/         the saved device state while sleeping
 *   secrets.img    the tenant's secrets disk, a fresh copy at every start and
 *                  wake, deleted when the VM stops or sleeps
 *   data.ext4      the data disk (pool --data-disk), kept until rm --wipe-volumes
 *
 * State changes hold the tenant's lock (tenant.h): quotas are checked
 * against every instance of the tenant at each start, wake, resume and pause.
 * Running and warm instances count toward max_vcpus and max_mem_mib; sleeping
 * and stopped ones do not.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"
#include "core/strvec.h"
#include "fleet/pool.h"

enum inst_state { INST_STOPPED = 0, INST_RUNNING, INST_WARM, INST_SLEEPING, INST_REMOVED };

const char *inst_state_name(enum inst_state s);

struct instance {
	char tenant[64], pool[64], id[64];
	char *ref; /* "<t>/<p>/<id>": its VM's name */
	char *dir;
	enum inst_state state;	      /* what it is now (a VMM that died makes it stopped) */
	json_t *record;		      /* instance.json */
	char *problem;		      /* set when its VMM died since the last look */
	enum inst_state adopted_from; /* was recorded this (stopped, sleeping) while its VM ran */
	bool adopted;		      /* a start or wake cut short came up: see instance_load */
};

#define INSTANCE_INIT                                                                              \
	{                                                                                          \
		.ref = NULL                                                                        \
	}

/* Loads instance id of pool t/p and checks its VM: a record that says
 * running or warm whose VM has exited is recorded stopped, with problem
 * set. Missing: EXIT_NOTFOUND "Instance 't/p/id' does not exist". */
int instance_load(const char *t, const char *p, const char *id, struct instance *in, struct err *e);
void instance_release(struct instance *in);

/* Says that this process holds tenant t's lock (NULL: none): loads may then
 * repair records of dead VMs, which they otherwise do only when they can
 * take the lock themselves. instance_move and pool_converge call it. */
void instance_hold_tenant(const char *t);

/* Writes instance.json atomically (state and updated_at from in). */
int instance_save(struct instance *in, struct err *e);

/* Every instance of pool t/p, sorted by id (each loaded as above). */
int instance_list(const char *t, const char *p, struct instance **out, size_t *n, struct err *e);
void instance_list_release(struct instance *v, size_t n);
/* The ids of pool t/p's instances (those with a record), sorted, for shell
 * completion: no record is read, no VM checked, nothing locked. */
int instance_ids(const char *t, const char *p, struct strvec *ids, struct err *e);

/* Creates a new, stopped instance of the pool (the tenant's
 * max_instances_per_pool checked). */
int instance_create(const struct pool *p, struct instance *in, struct err *e);
/* The same with the id given (the cluster's: cluster/view.h); NULL: a new
 * random one. An existing id: EXIT_REFUSED. */
int instance_create_id(const struct pool *p, const char *id, struct instance *in, struct err *e);
/* "i-" and 8 lower-case hex digits. */
bool instance_id_valid(const char *id);
/* A new random id ("i-" and 8 hex digits), not checked against any pool. */
void instance_id_new(char out[11]);

/* What one move did, for the user. */
struct inst_move {
	enum inst_state from, to;
	long long ms;
	const char *how;	/* "cold boot", "restored from the pool snapshot", "woke", … */
	struct strvec warnings; /* e.g. a snapshot that could not be used */
};

#define INST_MOVE_INIT                                                                             \
	{                                                                                          \
		.how = "", .warnings = STRVEC_INIT                                                 \
	}

void inst_move_release(struct inst_move *m);

/* Moves in to state `to`, holding the tenant lock unless the caller does
 * (locked). Refuses moves the diagram above does not have, and starts,
 * wakes, resumes or pauses that the tenant's quotas do not allow (EXIT_REFUSED
 * `Quota exceeded for tenant 'acme': max_running is 2, 2 running`). to =
 * INST_REMOVED deletes a stopped instance; one with a data disk only when
 * wipe_volumes. */
int instance_move(struct pool *p, struct instance *in, enum inst_state to, bool wipe_volumes,
		  bool locked, struct inst_move *m, struct err *e);

/* Converges the pool to want (pool.h counts), the cheapest moves first:
 * to run more it resumes a warm instance before it wakes a sleeping one
 * before it starts a stopped one (restored from the pool's snapshot when it
 * fits, else a cold boot) before it creates a new one; to run fewer it
 * pauses, then sleeps, then stops. Instances whose VMM died are repaired
 * (recorded stopped, then moved like the others). One line per move is
 * pushed to did ("acme/workers/i-1a2b3c4d: stopped -> running (restored
 * from the pool snapshot, 212 ms)"). Used by `pool scale` and
 * `pool reconcile`. Holds the tenant lock throughout. */
int pool_converge(struct pool *p, const struct pool_counts *want, struct strvec *did,
		  struct err *e);
