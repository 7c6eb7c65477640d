/*
 * deliver.h - the delivery thread: takes accepted packets from the packet
 * queue, routes their records into per-analyzer batches (route/router.h),
 * sends batches (deliver/sender.h), retries failures with exponential backoff
 * and jitter on another healthy analyzer (deliver/retry.h), dead-letters
 * batches that run out of attempts, runs health checks and circuit breakers.
 *
 * Everything here runs on one thread with its own libevent base. Other
 * threads talk to it only through the packet queue and through the admin
 * functions below, which run their work on the delivery thread through its
 * mailbox (common/mailbox.h, call_sync), so analyzer state is never shared
 * between threads. The one exception is deliver_healthy_count(), a relaxed
 * atomic the delivery thread publishes (GET /health never waits on it).
 *
 * Every record taken from the queue ends as exactly one of: delivered
 * (records_delivered), dead-lettered (records_deadlettered), evicted by the
 * dead-letter policy (records_deadletter_evicted; durable ones stay in the WAL,
 * records_deadletter_kept_in_wal) or lost at shutdown past the drain timeout
 * (records_lost_at_shutdown). A routing failure (ENOMEM) keeps the packet and
 * retries it from the record where it stopped (routing_failures).
 */
#ifndef LOGDIST_DELIVER_H
#define LOGDIST_DELIVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/histogram.h"
#include "deliver/sender.h"
#include "route/router.h"
#include "store/deadletter.h"
#include "store/queue.h"

struct event_base;
typedef struct deliver deliver_t;

/* Create the delivery layer and register cfg's analyzers. cfg must outlive it.
 * Returns NULL on failure (logged). */
deliver_t *deliver_new(const config_t *cfg);

/* Same, with another transport: make_sender(base, arg) returns the sender the
 * delivery layer owns and frees (tests pass a fake; NULL = failure). */
typedef sender_t *(*deliver_sender_fn)(struct event_base *base, void *arg);
deliver_t *deliver_new_with_sender(const config_t *cfg, deliver_sender_fn make_sender, void *arg);

/* The delivery loop's base, for in-process tests that run the loop
 * themselves (event_base_loop) instead of calling deliver_start(). */
struct event_base *deliver_event_base(deliver_t *d);

/* The queue ingest pushes accepted packets into (owned by d). */
pkt_queue_t *deliver_queue(deliver_t *d);

/* Acknowledge delivered and dead-lettered durable records to this writer
 * (call before deliver_start; NULL = nothing is durable). */
struct durable;
void deliver_set_durable(deliver_t *d, struct durable *durable);

/* Config reload: take these options from newcfg, and nothing else:
 *   adaptive_weights, adaptive_* tolerances, slow_start_ms, weight_hints,
 *   weight_hint_max_pct, weight_hint_ttl_ms (the factors are recomputed at once),
 *   batch_max_records, batch_max_bytes, batch_linger_ms (batches opened from
 *   now on; an open batch seals at the new limits too, a running linger
 *   timer keeps its time), max_inflight (the next send decision),
 *   connect_timeout_ms, request_timeout_ms (requests started from now on),
 *   max_attempts, retry_base_ms, retry_max_ms (the next failed attempt),
 *   health_interval_ms (from each analyzer's next check), health_timeout_ms,
 *   health_rise, health_fall, passive_fall (the next result), breaker_failures,
 *   breaker_error_pct, breaker_window_ms, breaker_min_requests,
 *   breaker_cooldown_ms, breaker_max_cooldown_ms, breaker_probes (the next
 *   result or cooldown; a breaker's current state and window are kept).
 * Runs on the delivery thread, the one writer of those options, through its
 * mailbox (mailbox_call_sync): when it returns they are in effect. newcfg is
 * read during the call only. Not from the delivery thread's own callbacks
 * (it would run inline, which is also safe). */
void deliver_set_options(deliver_t *d, const config_t *newcfg);

/* Start the delivery thread. Returns 0 or -1. */
int deliver_start(deliver_t *d);

/* Deliver everything queued (new packets must no longer be pushed), waiting at
 * most cfg->drain_timeout_ms; records still undelivered then are counted in
 * records_lost_at_shutdown. Joins the thread. Returns the number lost. Without
 * a thread (tests) it runs the loop on the caller's thread. */
uint64_t deliver_drain_and_stop(deliver_t *d);

void deliver_free(deliver_t *d);

/* ---- admin operations (thread-safe; run on the delivery thread) ---- */

/* Register. Returns 0, -EEXIST, -EINVAL or -ENOMEM. */
int deliver_analyzer_add(deliver_t *d, analyzer_spec_t *spec);

/* Update weight, drained flag and/or URLs of analyzer `id` (weight when
 * has_weight, drained when >= 0 (0 or 1; -1 = unchanged), url/health_url when
 * non-empty). Drained keeps the configured weight but routes no new record to
 * it (router_weight() is 0); its queued and in-flight batches are still
 * delivered. Returns 0, -ENOENT or -EINVAL. */
int deliver_analyzer_update(deliver_t *d, const char *id, bool has_weight, double weight,
                            int drained, const char *url, const char *health_url);

/* Set analyzer `id`'s own slow-start window (has = false: --slow-start-ms
 * applies). Takes effect the next time it is added or comes back up.
 * 0 or -ENOENT. */
int deliver_analyzer_set_slow_start(deliver_t *d, const char *id, bool has, uint32_t ms);

/* Copy the current spec of analyzer `id`. 0 or -ENOENT. */
int deliver_analyzer_spec(deliver_t *d, const char *id, analyzer_spec_t *out);

/* Remove; its queued records move to the other analyzers. 0, -ENOENT or
 * -EBUSY: a route names it (that route's name is copied to route). */
int deliver_analyzer_remove(deliver_t *d, const char *id, char *route, size_t routelen);

/* Replace analyzer spec->id by spec in one step on the delivery thread (a
 * new TLS identity): its queued batches move to the others, the new one joins
 * the same routes (a route naming it never sees it missing). 0, -ENOENT,
 * -EINVAL or -ENOMEM. */
int deliver_analyzer_replace(deliver_t *d, analyzer_spec_t *spec);

/* What deliver_analyzer_apply did. */
typedef enum { DELIVER_APPLY_SAME, DELIVER_APPLY_ADDED, DELIVER_APPLY_UPDATED } deliver_apply_t;

/* Make analyzer spec->id equal to spec (a reload, a change from etcd): add it
 * if it is not registered; else update it in place (weight, URLs, slow start,
 * and drained unless keep_drained: the operator's flag), or replace it in one
 * step when its TLS identity changed. Nothing when it is equal already.
 * *what (may be NULL) says which. 0 or the negative errno of the call that
 * failed. spec is the caller's. */
int deliver_analyzer_apply(deliver_t *d, const analyzer_spec_t *spec, bool keep_drained,
                           deliver_apply_t *what);

/* Replace the route table (the router takes its own reference). strict: every
 * analyzer a route names must be registered (else -ENOENT, err says which).
 * Open and held batches are sealed; parked batches are placed again.
 * 0, -ENOENT or -ENOMEM (the old table stays). */
int deliver_set_routes(deliver_t *d, routes_t *t, bool strict, char *err, size_t errlen);

/* The table in use, from any thread (a new reference; NULL before the first
 * deliver_set_routes). */
routes_t *deliver_routes_get(deliver_t *d);

/* ingest_route_check_fn over the table in use (ctx = d): the first record no
 * route takes, or -1; free when the default route has analyzers. */
long deliver_route_check(void *ctx, const char *data, const scan_record_t *recs, size_t count);

/* The table in use (a new reference: routes_unref it) and per-route figures
 * (router_route_stats_free). 0 or -ENOMEM. */
int deliver_route_stats(deliver_t *d, routes_t **table, router_route_stat_t **stats, size_t *n);

/* One analyzer as the delivery thread saw it (plain data, no pointers in). */
typedef struct {
    analyzer_spec_t spec;
    double target_share, effective_share;
    double effective_weight; /* the weight the balancer uses now: configured x factor, 0
                                while drained (router_effective_weight) */
    double factor;           /* that factor (1: configured weight) */
    double factor_latency, factor_errors; /* raw adaptive parts (1 while off or unmeasured) */
    double factor_slow_start, factor_hint;
    double latency_peak_ewma_ms, error_rate, latency_reference_ms;
    uint64_t weight_hints_accepted, weight_hints_refused;
    char weight_reason[160];  /* why effective != configured ("" when equal) */
    double actual_share;      /* records_delivered / all live analyzers' (0 when none) */
    double actual_share_10s;  /* the same over the last 10 s (records_delivered_10s) */
    bool healthy, routable;
    const char *state;      /* "up" | "down" | "open" | "drained" (spec.drained or weight 0;
                               static string) */
    const char *breaker;    /* breaker_state_name() (static string) */
    uint64_t breaker_trips, health_changed_ms, times_marked_down;
    uint64_t records_routed, records_delivered, records_redistributed_in;
    uint64_t batches_delivered, batches_failed;
    uint64_t records_retried;      /* records of its failed attempts that were sent again */
    uint64_t records_deadlettered; /* records of its failed attempts that were dead-lettered */
    uint64_t records_delivered_10s;
    hist_snap_t attempt_seconds;   /* duration of each delivery attempt, ok or failed */
    uint32_t inflight_batches;
    uint64_t queued_records, queue_bytes, queue_share_bytes, queue_allowance_bytes;
    double latency_ms;
    char last_error[160];
} deliver_analyzer_snap_t;

typedef struct {
    bool random_strategy;   /* false: swrr */
    bool panic;
    size_t count;
    deliver_analyzer_snap_t *analyzers; /* [count], live analyzers in registration order */
} deliver_snapshot_t;

/* Take a snapshot (of the one analyzer `id`, or of all when id is NULL; the
 * actual shares are among the analyzers in the snapshot, so ask for all).
 * 0, -ENOENT (id unknown) or -ENOMEM. Free with deliver_snapshot_free. */
int deliver_snapshot(deliver_t *d, const char *id, deliver_snapshot_t *out);
void deliver_snapshot_free(deliver_snapshot_t *s);

/* Dead-letter summary (caller owns it). */
json_t *deliver_deadletter_json(deliver_t *d);

/* Remove the dead letters named by batch id (ids == NULL: every one stored
 * now); *records gets the number of records removed. 0 or -EIO (nothing removed). */
int deliver_deadletter_purge(deliver_t *d, const char *const *ids, size_t n, uint64_t *records);

/* Copies of every dead-lettered body with its batch id, oldest first (see
 * deadletter_read_all; free with deadletter_bodies_free). Count or a negative errno. */
long deliver_deadletter_read(deliver_t *d, deadletter_body_t **out);

/* Remove one dead letter by batch id (its replay was queued). 0, -ENOENT or -EIO. */
int deliver_deadletter_remove(deliver_t *d, const char *batch_id);

/* Number of live analyzers that are healthy with a weight > 0 (GET /health):
 * an atomic the delivery thread publishes; never waits. */
int deliver_healthy_count(const deliver_t *d);

#endif
