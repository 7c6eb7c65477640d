/*
 * router.h - the analyzer table and per-record routing into batches.
 *
 * Owned by the delivery thread, so routing reads analyzers, weights and health
 * without any lock. router_route_packet() picks an analyzer for every record
 * with the balancer (SWRR or weighted random) and appends the record to that
 * analyzer's open batch; a batch that reaches batch_max_records or
 * batch_max_bytes is sealed and moved to the analyzer's ready list. The
 * delivery layer is told through hooks (to arm linger timers and to send).
 *
 * An analyzer that is removed stays allocated (flag `removed`) until its last
 * in-flight batch completes; it is no longer found by id nor picked.
 */
#ifndef LOGDIST_ROUTER_H
#define LOGDIST_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/packet.h"
#include "deliver/batch.h"
#include "deliver/breaker.h"
#include "route/balancer.h"

struct event;

typedef struct analyzer {
    struct analyzer *next;  /* router's list, in registration order */
    analyzer_spec_t spec;   /* id, url, health_url, weight */
    int slot;               /* balancer slot */
    bool healthy;           /* health checks (active and passive) */
    bool routable;          /* gets records and may send: healthy and breaker not open, or panic */
    bool removed;
    breaker_t breaker;
    struct event *breaker_ev; /* end of the open period */

    batch_t *open;          /* batch being filled */
    batch_list_t ready;     /* sealed, waiting for an in-flight slot */
    uint32_t inflight;      /* batches being sent */
    uint64_t queue_bytes;   /* memory of its sealed batches, ready and in flight (the
                               sum of their `cost`), held within its queue share */

    /* health bookkeeping (deliver/health.c) */
    uint32_t hc_ok_streak, hc_fail_streak, passive_fail_streak;
    bool hc_inflight;
    struct event *health_ev;
    struct event *linger_ev;
    uint64_t health_changed_ms; /* wall clock of the last up/down transition */
    char last_error[128];
    void *owner_ctx;        /* the delivery layer (for timer callbacks) */
    void *health_ctx;       /* the health checker watching it */

    /* counters (delivery thread only) */
    uint64_t records_routed;       /* assigned by the balancer */
    uint64_t records_delivered;
    uint64_t records_received_redistributed; /* arrived here from another analyzer */
    uint64_t batches_delivered;
    uint64_t batches_failed;
    uint64_t times_marked_down;
    double latency_ewma_ms;        /* delivery latency, exponentially averaged */
} analyzer_t;

typedef struct {
    void (*batch_opened)(void *ctx, analyzer_t *a); /* a->open became non-empty */
    void (*batch_ready)(void *ctx, analyzer_t *a);  /* a batch was added to a->ready */
    void *ctx;
} router_hooks_t;

typedef struct router router_t;

router_t *router_new(const config_t *cfg, const router_hooks_t *hooks);
/* Free the router, its analyzers and their batches (call only at shutdown). */
void router_free(router_t *r);

/* First analyzer in registration order (including removed ones still draining). */
analyzer_t *router_first(router_t *r);

/* The live (not removed) analyzer with this id, or NULL. */
analyzer_t *router_find(router_t *r, const char *id);

/* Register an analyzer (healthy until checks say otherwise). Returns 0,
 * -EEXIST (id taken), -EINVAL (bad spec) or -ENOMEM. */
int router_add(router_t *r, const analyzer_spec_t *spec, analyzer_t **out);

/* Change weight (0 drains: no new records, queued ones still delivered). */
int router_set_weight(router_t *r, analyzer_t *a, double weight);

/* Take an analyzer out of rotation; its open batch is sealed. The caller moves
 * its ready batches elsewhere and frees it (router_release) once idle. */
void router_remove(router_t *r, analyzer_t *a);

/* Unlink and free a removed analyzer with no batches left. */
void router_release(router_t *r, analyzer_t *a);

/* Mark up or down. Down: the analyzer gets no new records. */
void router_set_health(router_t *r, analyzer_t *a, bool up);

/* Recompute which analyzers are routable (healthy and breaker not open), and
 * the panic mode: when fewer than panic_pct % of the live analyzers are
 * routable (but at least one is), every live analyzer is routed to, as in
 * Envoy, rather than crushing the last healthy ones. */
void router_refresh(router_t *r);

/* True while in panic mode. */
bool router_in_panic(const router_t *r);

/* True when at least one analyzer can take records. */
bool router_can_route(const router_t *r);

/* Route every record of the packet. Requires router_can_route(). Returns 0
 * or -1 on ENOMEM (records already routed stay routed; the rest are lost and
 * counted by the caller). */
int router_route_packet(router_t *r, const packet_t *p);

/* Seal a's open batch (if any) and move it to a->ready. */
void router_seal(router_t *r, analyzer_t *a);

/* Choose an analyzer for a batch that must leave `exclude` (retry or removal),
 * in proportion to the remaining weights. Falls back to `exclude` itself when
 * it is the only eligible one; NULL when none is eligible. */
analyzer_t *router_pick_other(router_t *r, const analyzer_t *exclude);

/* Target share of an analyzer: weight / sum of weights of live analyzers. */
double router_target_share(const router_t *r, const analyzer_t *a);

/* Share the balancer gives it right now (0 when down or drained). */
double router_effective_share(const router_t *r, const analyzer_t *a);

#endif
