/* Placement and scale plans: the two decisions the cluster makes, pure
 * functions of a view (view.h) so every host computes the same answer.
 *
 * Placement (docs/cluster.md): an unowned instance goes to a live host
 * that has the pool's revision (built or pulled; not only as current); of those, the one with the
 * fewest instances of that pool (spread per pool), then the most memory
 * left (its mem_mib less the pool memory of the instances it owns: fit by
 * memory), then the smallest name. A host with less memory left than the
 * pool's mem_mib takes none.
 */
#pragma once

#include "cluster/view.h"

/* The name of the host that should own in, or NULL when none can. */
const char *cluster_place(const struct cluster_view *v, const struct c_inst *in);

/* Memory (MiB) host h has left by the view. */
uint64_t cluster_host_free_mib(const struct cluster_view *v, const struct c_host *h);

/* A scale plan for one pool: cur[i] is what instance i is meant to be now
 * (in id order); next[i] what it is meant to be after (INST_STOPPED: it
 * goes), add how many new ones of each state. The same preferences as the
 * single host's converge (fleet/converge.c): what is over its count moves
 * where another count is short (running to warm before sleeping; warm to
 * running before sleeping; sleeping to running before warm), the newest
 * first, else goes; what is still short is added. */
void cluster_plan_scale(const enum inst_state *cur, size_t n, const struct pool_counts *want,
			enum inst_state *next, struct pool_counts *add);
