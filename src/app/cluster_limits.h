/*
 * cluster_limits.h - cluster-wide rate limits (docs/CLUSTER.md): on a cluster
 * node, --global-records-per-s and --global-bytes-per-s are the limits of the
 * whole cluster; each node enforces its share, global / live nodes (rounded up),
 * through ingest_set_limits, and re-splits when the membership count changes
 * (cluster_on_members) or a reload changes the limits. Per-agent limits stay per
 * node. A node alone (or that never saw the others) enforces the whole limit.
 *
 * Thread-safety: every function may be called from any thread; the calls are
 * serialised by a mutex (the membership hook runs on the cluster thread, reloads
 * on the main loop).
 */
#ifndef LOGDIST_CLUSTER_LIMITS_H
#define LOGDIST_CLUSTER_LIMITS_H

#include <stdint.h>

#include "core/config.h"
#include "ingest/ingest.h"

typedef struct cluster_limits cluster_limits_t;

/* ing must outlive the object. cfg is copied (only its scalar ingest rows are
 * used later). NULL on no memory. */
cluster_limits_t *cluster_limits_new(ingest_t *ing, const config_t *cfg);

/* NULL is fine. */
void cluster_limits_free(cluster_limits_t *l);

/* cluster_members_fn: `live` nodes now share the global limits (ctx: the
 * cluster_limits_t). Applies the new split at once; logs it. */
void cluster_limits_on_members(void *ctx, unsigned live);

/* Reload: take cfg's ingest rows, with the global limits split among the nodes
 * last counted. 0 or a negative errno (ingest_set_limits'). */
int cluster_limits_set_config(cluster_limits_t *l, const config_t *cfg);

/* Pure: one node's share of a global limit among `live` nodes: 0 (off) stays 0,
 * live 0 counts as 1, else ceil(global / live). */
uint64_t cluster_limit_share(uint64_t global, unsigned live);

#endif
