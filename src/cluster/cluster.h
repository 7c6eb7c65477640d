/*
 * cluster.h - a node of a logdistd cluster coordinated through etcd
 * (docs/CLUSTER.md). Off unless --cluster-etcd is given.
 *
 * What it does, on its own thread with its own event_base (etcd.h runs there):
 *   - membership: a lease (TTL CLUSTER_LEASE_TTL_S) kept alive every
 *     CLUSTER_REFRESH_MS, holding <prefix>/nodes/<id>: advertise URL, version,
 *     start time, etcd connectivity, records/s, queue and per-analyzer counters,
 *     refreshed at each keep-alive;
 *   - shared state: <prefix>/analyzers/<id> (cluster_json.h) and <prefix>/routes
 *     (the user's route table, JSON) are read whole at start and after a
 *     compaction, then watched from the next revision; every change is applied
 *     to the delivery thread (deliver_analyzer_add/update/remove,
 *     deliver_set_routes: in place, queued records are kept or moved, never
 *     dropped) and written to the local config store, the node's cache;
 *   - while etcd is unreachable the node keeps running on the last
 *     configuration it applied (or, at start, the cached one) and says so
 *     (log events cluster_etcd_disconnected/connected, cluster_status_json,
 *     cluster_connected).
 *
 * Writes (the admin API) run on the caller's thread and wait for the cluster
 * thread (bounded: CLUSTER_WRITE_WAIT_MS): a txn compare-and-set on the key's
 * mod_revision; a lost compare is read again and retried (modify, delete) or
 * answered -EEXIST/-EAGAIN, never dropped. A successful write returns once
 * this node has applied it from the watch (or after CLUSTER_APPLY_WAIT_MS).
 *
 * Returns of the write functions: 0; -EHOSTUNREACH (etcd unreachable: 503);
 * -EEXIST (create: the id exists); -ENOENT (no such key); -EAGAIN (lost the
 * compare-and-set CLUSTER_CAS_TRIES times, or the route table changed since it
 * was read: 409); -EINVAL (refused, err says why); -ENOMEM.
 */
#ifndef LOGDIST_CLUSTER_H
#define LOGDIST_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "deliver/deliver.h"
#include "store/config_store.h"

#define CLUSTER_LEASE_TTL_S 10
#define CLUSTER_REFRESH_MS 3000 /* lease keep-alive and node value refresh */
#define CLUSTER_TICK_MS 200     /* the state machine's clock */
#define CLUSTER_BACKOFF_MAX_MS 2000
#define CLUSTER_WATCH_STALE_MS 5000 /* the watch must deliver this node's own put by then */
#define CLUSTER_WRITE_WAIT_MS 8000 /* one admin write, etcd round trips included */
#define CLUSTER_APPLY_WAIT_MS 2000 /* then waiting for this node to apply it */
#define CLUSTER_CAS_TRIES 5

typedef struct cluster cluster_t;

/* listen_port: the bound ingest port, for the default advertise URL. cfg, d and
 * store (NULL = no cache) must outlive the cluster. NULL with err on bad
 * options (node id, endpoints) or ENOMEM. */
cluster_t *cluster_new(const config_t *cfg, deliver_t *d, config_store_t *store,
                       uint16_t listen_port, char *err, size_t errlen);

/* Membership hook: fn(ctx, live) is called on the cluster thread (at most every
 * CLUSTER_TICK_MS) whenever the number of nodes in nodes/ this node knows of
 * changes, and once at start (live >= 1: this node counts even before its key is
 * seen). While etcd is unreachable the last count stays. Set before
 * cluster_start; fn must not block long. NULL fn = none. */
typedef void (*cluster_members_fn)(void *ctx, unsigned live);
void cluster_on_members(cluster_t *c, cluster_members_fn fn, void *ctx);

/* The last count handed to the hook (0 before the first). Any thread. */
unsigned cluster_live_nodes(const cluster_t *c);

/* Start the thread (registers, reads, watches). 0 or -1. */
int cluster_start(cluster_t *c);

/* Revoke the lease (this node leaves nodes/ at once; bounded wait) and stop the
 * thread. Then cluster_free. NULL is fine for both. */
void cluster_stop(cluster_t *c);
void cluster_free(cluster_t *c);

/* Whether the last exchange with etcd succeeded (an atomic; any thread). */
bool cluster_connected(const cluster_t *c);

int cluster_analyzer_create(cluster_t *c, const analyzer_spec_t *spec, char *err, size_t errlen);

/* Read the spec from etcd, let fn change it (fn's non-zero return is returned
 * as is), write it back if unchanged meanwhile; retried on a lost compare. */
typedef int (*cluster_modify_fn)(void *ctx, analyzer_spec_t *spec, char *err, size_t errlen);
int cluster_analyzer_modify(cluster_t *c, const char *id, cluster_modify_fn fn, void *ctx,
                            char *err, size_t errlen);

int cluster_analyzer_delete(cluster_t *c, const char *id, char *err, size_t errlen);

/* Replace the route table (text: the user's table, a JSON array) if the
 * routes key has not changed since this node applied it: -EAGAIN otherwise. */
int cluster_routes_put(cluster_t *c, const char *text, char *err, size_t errlen);

/* GET /api/v1/cluster: {"node_id", "etcd_connected", "etcd_endpoint", "config":
 * "synced"|"cached", "revision", "lease_ttl_s", "last_error", "nodes": [...]}. */
json_t *cluster_status_json(cluster_t *c);

/* GET /api/v1/cluster/analyzers from the local analyzers array (id, weight,
 * target_share) and the nodes' published counters (cluster_json.h). */
json_t *cluster_analyzers_json(cluster_t *c, const json_t *local_analyzers);

#endif
