/*
 * deliver.h - the delivery thread: takes accepted packets from the packet
 * queue, routes their records into per-analyzer batches (route/router.h),
 * sends batches over keep-alive HTTP (deliver/sender.h), retries failures with
 * exponential backoff and jitter on another healthy analyzer, dead-letters
 * batches that run out of attempts, and runs health checks.
 *
 * Everything here runs on one thread with its own libevent base. Other
 * threads talk to it only through the packet queue and through the admin
 * functions below, which run their work on the delivery thread and wait for it
 * (deliver_call), so analyzer state is never shared between threads.
 */
#ifndef LOGDIST_DELIVER_H
#define LOGDIST_DELIVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "store/queue.h"

typedef struct deliver deliver_t;

/* Create the delivery layer and register cfg's analyzers. cfg must outlive it.
 * Returns NULL on failure (logged). */
deliver_t *deliver_new(const config_t *cfg);

/* The queue ingest pushes accepted packets into. */
pkt_queue_t *deliver_queue(deliver_t *d);

/* Acknowledge delivered and dead-lettered durable records to this writer
 * (call before deliver_start; NULL = nothing is durable). */
struct durable;
void deliver_set_durable(deliver_t *d, struct durable *durable);

/* Start the delivery thread. Returns 0 or -1. */
int deliver_start(deliver_t *d);

/* Deliver everything queued (new packets must no longer be pushed), waiting at
 * most cfg->drain_timeout_ms; records still undelivered then are counted in
 * records_lost_at_shutdown. Joins the thread. Returns the number lost. */
uint64_t deliver_drain_and_stop(deliver_t *d);

void deliver_free(deliver_t *d);

/* ---- admin operations (thread-safe; run on the delivery thread) ---- */

/* Register. Returns 0, -EEXIST, -EINVAL or -ENOMEM. Fills health_url. */
int deliver_analyzer_add(deliver_t *d, analyzer_spec_t *spec);

/* Update weight and/or URLs of analyzer `id` (fields set in `upd`: weight when
 * has_weight, url/health_url when non-empty). Returns 0, -ENOENT or -EINVAL. */
int deliver_analyzer_update(deliver_t *d, const char *id, bool has_weight, double weight,
                            const char *url, const char *health_url);

/* Copy the current spec of analyzer `id`. 0 or -ENOENT. */
int deliver_analyzer_spec(deliver_t *d, const char *id, analyzer_spec_t *out);

/* Remove; its queued records move to the other analyzers. 0 or -ENOENT. */
int deliver_analyzer_remove(deliver_t *d, const char *id);

/* JSON of one analyzer (id != NULL; NULL result when unknown) or of all:
 * {"strategy":..,"analyzers":[...]}. Caller owns the reference. */
json_t *deliver_analyzers_json(deliver_t *d, const char *id);

/* Global metrics plus per-analyzer counters. */
json_t *deliver_metrics_json(deliver_t *d);

/* Dead-letter summary / purge (returns records purged). */
json_t *deliver_deadletter_json(deliver_t *d);
uint64_t deliver_deadletter_purge(deliver_t *d);

/* Copies of the bodies of every dead-lettered batch, oldest first (see
 * deadletter_read_all). Returns the count or a negative errno. */
long deliver_deadletter_read(deliver_t *d, char ***bodies, size_t **lens);

/* Remove the k oldest dead-letter entries (after a successful replay). 0 or -errno. */
int deliver_deadletter_remove_first(deliver_t *d, uint64_t k);

/* Number of analyzers currently able to take records (for GET /health). */
int deliver_healthy_count(deliver_t *d);

#endif
