/*
 * deliver_int.h - private to deliver.c and deliver_admin.c: the delivery
 * layer's state. Everything here is touched on the delivery thread only,
 * except `healthy_count` (published atomic) and the mailbox (thread-safe).
 *
 * Ownership: the router owns analyzer_t; this layer keeps its own record of
 * each analyzer (target_t, behind analyzer_t.user): the queue of sealed
 * batches, in-flight count, queue bytes, timers, breaker and delivery
 * counters. Health state is health.c's (health_target_t).
 */
#ifndef LOGDIST_DELIVER_INT_H
#define LOGDIST_DELIVER_INT_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

#include "common/mailbox.h"
#include "deliver/adaptive.h"
#include "core/histogram.h"
#include "core/window.h"
#include "deliver/ackref.h"
#include "deliver/breaker.h"
#include "deliver/deliver.h"
#include "deliver/health.h"
#include "deliver/retry.h"
#include "route/queue_share.h"
#include "route/router.h"

typedef struct target {
    analyzer_t *a;
    struct deliver *d;
    health_target_t *health; /* NULL once unwatched */
    bool health_busy;        /* unwatched with a check in flight */
    batch_list_t ready;      /* sealed, waiting for an in-flight slot */
    uint32_t inflight;       /* batches being sent */
    uint64_t queue_bytes;    /* sum of `cost` of its batches, ready and in flight */
    struct event *linger_ev; /* seals the open batch after batch_linger_ms */
    struct event *breaker_ev;/* end of the open period */
    breaker_t breaker;
    uint64_t records_delivered, records_redistributed_in;
    uint64_t batches_delivered, batches_failed;
    uint64_t records_retried;      /* of its failed attempts, sent again (after backoff) */
    uint64_t records_deadlettered; /* of its failed attempts, out of attempts: stored */
    window_t delivered_10s;        /* records delivered per second, last 10 s */
    hist_t attempt_seconds;        /* duration of every attempt (us), ok or failed */
    double latency_ewma_ms;
    /* adaptive weights (deliver_adapt.c): the factor router_set_factor() got is
     * f_latency_errors x f_slow_start x f_hint, clamped */
    adaptive_stats_t adapt;      /* peak-EWMA latency, error rate, published factor */
    uint64_t slow_start_from_ms; /* now_ms() the ramp began; 0: none running */
    double hint;                 /* last accepted X-Logdist-Weight factor */
    uint64_t hint_until_ms;      /* it holds until then (0: no hint) */
    uint64_t hints_accepted, hints_refused;
    double f_latency_errors, f_slow_start, f_hint, ref_ms; /* parts at the last tick */
    char last_error[160];
    uint64_t last_error_ms;
} target_t;

/* The target of a registered analyzer (router_set_user). */
static inline target_t *T(const analyzer_t *a)
{
    return a->user;
}

/* A batch sleeping on its backoff timer. */
typedef struct retry_wait {
    struct retry_wait *prev, *next;
    struct deliver *d;
    batch_t *b;
    struct event *ev;
} retry_wait_t;

struct deliver {
    const config_t *cfg;      /* = &opts: every option delivery reads */
    config_t opts;            /* deliver's own copy of the config's scalar options, written
                                 only on the delivery thread (deliver_set_options); its
                                 pointers (tokens, analyzers) and secrets are cleared */
    struct event_base *base;
    pthread_t thread;
    bool running;
    sem_t bound;              /* the thread has bound the mailbox */
    mailbox_t *mbox;          /* admin calls (call_sync) */
    _Atomic int healthy_count;/* published for GET /health */

    pkt_queue_t *queue;
    struct event *wake_ev;    /* the queue's wake: one event_active per empty -> non-empty */
    struct event *resume_ev;  /* continue routing later (after I/O ran, or after ENOMEM) */
    packet_t *pending, *pending_tail; /* taken from the queue, not fully routed */

    router_t *router;
    ackref_t *acks;           /* durable records fanned out to several batches */
    /* the route table for other threads (deliver_routes_get): written by
     * deliver_set_routes on the delivery thread, under routes_mu */
    pthread_mutex_t routes_mu;
    routes_t *routes_pub;
    atomic_bool routes_may_refuse;
    sender_t *sender;
    health_t *health;
    deadletter_t *dl;
    struct durable *durable;  /* NULL when nothing is durable */
    batch_list_t parked;      /* batches with no eligible analyzer */
    retry_wait_t *retries;    /* batches on a backoff timer */
    uint64_t retry_waiting;
    queue_share_t *shares;    /* scratch for queue_shares() */
    size_t shares_cap;
    bool routing_held;        /* an analyzer's queue is at its allowance */
    uint64_t rng;

    breaker_config_t breaker;
    retry_policy_t retry;

    bool draining;
    struct event *drain_ev;

    adaptive_config_t adapt; /* from opts (derive_policies) */
    struct event *adapt_ev;  /* factor recomputation, armed while needed */
    bool started;            /* the start-up analyzers are in (slow start applies after) */
};

/* deliver.c, for deliver_admin.c */
int deliver_add_analyzer(deliver_t *d, analyzer_spec_t *spec);
void deliver_update_analyzer(deliver_t *d, analyzer_t *a, const analyzer_spec_t *spec, int *rc);
void deliver_remove_analyzer(deliver_t *d, analyzer_t *a);
void deliver_start_drain(deliver_t *d);
void deliver_routes_changed(deliver_t *d); /* a new table: place parked batches, route on */
size_t deliver_queue_shares(deliver_t *d); /* fills d->shares in router order */

/* deliver_adapt.c: adaptive weights, slow start, weight hints. */
#define DELIVER_ADAPT_TICK_MS 250
void deliver_adapt_observe(deliver_t *d, target_t *t, const sender_result_t *res);
void deliver_adapt_hint(deliver_t *d, target_t *t, const char *value);
/* t was added after start or came back up: reset its statistics, begin its ramp. */
void deliver_adapt_restart(deliver_t *d, target_t *t);
/* Recompute every factor now and keep the timer armed while anything can change. */
void deliver_adapt_tick(deliver_t *d);
void deliver_adapt_target_init(target_t *t);
/* Why t's effective weight differs from its configured one ("" when it does not). */
void deliver_adapt_reason(const target_t *t, char *out, size_t outlen);

/* On the delivery thread (deliver_set_options): copy the reloadable options
 * listed in deliver.h from n into d->opts and hand them to the router
 * (batch limits), the sender (connect timeout), breaker and retry policies;
 * health reads d->opts at each check. */
void deliver_apply_options(deliver_t *d, const config_t *n);

#endif
