/*
 * deliver.c - see deliver.h.
 *
 * Batch life cycle (all on the delivery thread):
 *   router appends records -> a->open --seal (size/count/linger)--> a->ready
 *   --pump (< max_inflight)--> in flight --2xx--> delivered, budget released
 *                                        --fail--> backoff timer --> place_batch():
 *        another eligible analyzer (weighted), or `parked` when none is eligible;
 *        after max_attempts: dead-letter store, budget released.
 * An analyzer marked down or removed has its ready batches placed elsewhere.
 */
#include "deliver/deliver.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "core/metrics.h"
#include "deliver/batch.h"
#include "deliver/health.h"
#include "deliver/sender.h"
#include "route/queue_share.h"
#include "route/router.h"
#include "store/deadletter.h"
#include "store/durable.h"

#define MAX_PACKETS_PER_WAKE 64 /* routing work per loop turn before I/O runs again */

typedef struct call {
    struct call *next;
    void (*fn)(deliver_t *d, void *arg);
    void *arg;
    bool done;
} call_t;

struct deliver {
    const config_t *cfg;
    struct event_base *base;
    pthread_t thread;
    bool running;

    pkt_queue_t *queue;
    struct event *wake_ev;
    struct event *resume_ev; /* zero-timeout timer: continue routing after I/O ran */
    packet_t *pending, *pending_tail; /* taken from the queue, waiting for an analyzer */

    router_t *router;
    sender_t *sender;
    health_t *health;
    deadletter_t *dl;
    durable_t *durable;      /* NULL when nothing is durable */
    batch_list_t parked;     /* batches with no eligible analyzer */
    queue_share_t *shares;   /* scratch for queue_shares() */
    size_t shares_cap;
    bool routing_held;       /* an analyzer's queue is at its allowance */
    uint64_t retry_waiting;  /* batches sleeping on a backoff timer */
    uint64_t rng;

    pthread_mutex_t call_mu;
    pthread_cond_t call_cv;
    call_t *calls;
    struct event *call_ev;

    breaker_config_t breaker;

    bool draining;
    struct event *drain_ev;
    struct event *drain_check_ev;
};

typedef struct {
    deliver_t *d;
    analyzer_t *a;
    batch_t *b;
} attempt_t;

static void pump(deliver_t *d, analyzer_t *a);
static void place_batch(deliver_t *d, batch_t *b, analyzer_t *exclude);
static void process_pending(deliver_t *d);
static void evacuate(deliver_t *d, analyzer_t *a);
static void unpark(deliver_t *d);
static void breaker_result(deliver_t *d, analyzer_t *a, bool ok);
static void maybe_finish_drain(deliver_t *d);

static uint64_t next_rand(deliver_t *d)
{
    uint64_t x = d->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return d->rng = x;
}

/* ------------------------------------------------------------------ batches */

/* The batch's records are settled (delivered or dead-lettered): release
 * their budget and acknowledge their durable records in the WAL. */
static void settle(deliver_t *d, batch_t *b)
{
    queue_release(d->queue, b->record_bytes, b->records);
    if (d->durable && b->nseqs) durable_ack(d->durable, b->seqs, b->nseqs);
}

static void finish_batch(deliver_t *d, batch_t *b)
{
    settle(d, b);
    batch_free(b);
}

static void maybe_release(deliver_t *d, analyzer_t *a)
{
    if (a->removed && a->inflight == 0 && !a->hc_inflight && !a->ready.head && !a->open) {
        if (a->linger_ev) event_free(a->linger_ev);
        a->linger_ev = NULL;
        if (a->breaker_ev) event_free(a->breaker_ev);
        a->breaker_ev = NULL;
        router_release(d->router, a);
    }
}

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
    batch_t *b = arg;
    deliver_t *d = b->owner;
    event_free(b->retry_ev);
    b->retry_ev = NULL;
    d->retry_waiting--;
    analyzer_t *from = router_find(d->router, b->last_analyzer);
    METRIC_ADD(batches_retried, 1);
    METRIC_ADD(records_retried, b->records);
    place_batch(d, b, from);
}

/* A delivery attempt failed: back off and retry elsewhere, or dead-letter. */
static void retry_or_deadletter(deliver_t *d, batch_t *b, const char *why)
{
    strlcpy_ld(b->last_error, why, sizeof b->last_error);
    if (b->attempts >= d->cfg->max_attempts) {
        log_warn("deliver", "batch %s (%u records) dead-lettered after %u attempts: %s", b->id,
                 b->records, b->attempts, why);
        char reason[200];
        snprintf(reason, sizeof reason, "%u attempts failed; last: %s", b->attempts, why);
        /* on disk first, then acknowledged in the WAL: a crash in between
         * leaves a duplicate, never a loss */
        queue_release(d->queue, b->record_bytes, b->records);
        uint64_t *seqs = b->seqs;
        uint32_t nseqs = b->nseqs;
        b->seqs = NULL;
        b->nseqs = b->seqs_cap = 0;
        deadletter_add(d->dl, b, reason);
        if (d->durable && nseqs) durable_ack(d->durable, seqs, nseqs);
        free(seqs);
        maybe_finish_drain(d);
        return;
    }
    /* exponential backoff with "equal jitter": half fixed, half random */
    double ms = d->cfg->retry_base_ms * pow(2.0, (double)(b->attempts - 1));
    if (ms > d->cfg->retry_max_ms) ms = d->cfg->retry_max_ms;
    ms = ms / 2 + (double)(next_rand(d) % 1000) / 1000.0 * ms / 2;
    if (d->draining) ms = ms < 50 ? ms : 50;
    b->owner = d;
    b->retry_ev = evtimer_new(d->base, on_retry_timer, b);
    if (!b->retry_ev) {
        place_batch(d, b, NULL);
        return;
    }
    struct timeval tv = {(long)ms / 1000, ((long)ms % 1000) * 1000};
    d->retry_waiting++;
    evtimer_add(b->retry_ev, &tv);
}

static void on_attempt_done(void *ctx, const sender_result_t *res)
{
    attempt_t *at = ctx;
    deliver_t *d = at->d;
    analyzer_t *a = at->a;
    batch_t *b = at->b;
    free(at);
    a->inflight--;
    a->queue_bytes -= b->cost; /* settled, or placed again by place_batch() */
    METRIC_SUB(inflight_batches, 1);
    if (res->cancelled) { /* shutdown after the drain timeout: already counted as lost */
        batch_free(b);
        return;
    }
    if (!a->removed) breaker_result(d, a, res->ok != 0);
    if (res->ok) {
        a->records_delivered += b->records;
        a->batches_delivered++;
        double ms = res->seconds * 1000.0;
        a->latency_ewma_ms = a->latency_ewma_ms ? a->latency_ewma_ms * 0.9 + ms * 0.1 : ms;
        METRIC_ADD(records_delivered, b->records);
        METRIC_ADD(batches_delivered, 1);
        health_delivery_result(d->health, a, true);
        finish_batch(d, b);
    } else {
        a->batches_failed++;
        METRIC_ADD(batches_failed, 1);
        if (res->tls_error) METRIC_ADD(analyzer_tls_failures, 1);
        snprintf(a->last_error, sizeof a->last_error, "delivery: %s", res->error);
        log_debug("deliver", "batch %s to %s failed: %s", b->id, a->spec.id, res->error);
        health_delivery_result(d->health, a, false);
        retry_or_deadletter(d, b, res->error);
    }
    if (a->removed)
        maybe_release(d, a);
    else
        pump(d, a);
    if (d->pending) process_pending(d);
    maybe_finish_drain(d);
}

/* Routing changed (health, breaker, weight): analyzers that lost their
 * routability give their queued batches away; the others get to work. */
static void routing_changed(deliver_t *d)
{
    router_refresh(d->router);
    for (analyzer_t *a = router_first(d->router); a; a = a->next) {
        if (a->removed) continue;
        if (!a->routable && (a->ready.head || a->open))
            evacuate(d, a);
        else
            pump(d, a);
    }
    unpark(d);
    process_pending(d);
}

static void on_breaker_timer(evutil_socket_t fd, short what, void *arg)
{
    analyzer_t *a = arg;
    deliver_t *d = a->owner_ctx;
    uint64_t now = now_ms();
    if (breaker_tick(&a->breaker, &d->breaker, now)) {
        log_info("breaker", "analyzer %s: breaker half-open, probing", a->spec.id);
        routing_changed(d);
    } else if (a->breaker.state == BREAKER_OPEN) {
        /* libevent measures from its cached loop time and may fire a little early */
        uint64_t ms = a->breaker.open_until_ms > now ? a->breaker.open_until_ms - now : 1;
        struct timeval tv = {(long)(ms / 1000), (long)(ms % 1000) * 1000 + 1000};
        evtimer_add(a->breaker_ev, &tv);
    }
}

/* Feed a delivery result to a's breaker and act on its transitions. */
static void breaker_result(deliver_t *d, analyzer_t *a, bool ok)
{
    breaker_state_t before = a->breaker.state;
    breaker_state_t after = breaker_record(&a->breaker, &d->breaker, ok, now_ms());
    if (after == before) return;
    if (after == BREAKER_OPEN) {
        uint64_t ms = a->breaker.open_until_ms - now_ms();
        METRIC_ADD(breaker_trips, 1);
        log_warn("breaker", "analyzer %s: breaker open for %llu ms (trip %llu)", a->spec.id,
                 (unsigned long long)ms, (unsigned long long)a->breaker.trips);
        if (!a->breaker_ev) a->breaker_ev = evtimer_new(d->base, on_breaker_timer, a);
        if (a->breaker_ev) {
            struct timeval tv = {(long)(ms / 1000), (long)(ms % 1000) * 1000};
            evtimer_add(a->breaker_ev, &tv);
        }
        routing_changed(d);
    } else if (after == BREAKER_CLOSED) {
        log_info("breaker", "analyzer %s: breaker closed", a->spec.id);
        routing_changed(d);
    }
}

/* Start sending ready batches of `a` while it has free in-flight slots. */
static void pump(deliver_t *d, analyzer_t *a)
{
    if (a->removed || !a->routable) return;
    uint64_t now = now_ms();
    while (a->inflight < d->cfg->max_inflight && a->ready.head &&
           breaker_allow(&a->breaker, &d->breaker, now)) {
        batch_t *b = batch_list_pop(&a->ready);
        attempt_t *at = malloc(sizeof *at);
        if (!at) {
            batch_list_push_front(&a->ready, b);
            return;
        }
        at->d = d;
        at->a = a;
        at->b = b;
        b->attempts++;
        strlcpy_ld(b->last_analyzer, a->spec.id, sizeof b->last_analyzer);
        a->inflight++;
        METRIC_ADD(inflight_batches, 1);
        METRIC_ADD(batches_sent, 1);
        sender_peer_t peer = {a->spec.client_cert, a->spec.client_key};
        if (sender_post(d->sender, a->spec.url, &peer, b->buf, b->len, b->id,
                        d->cfg->request_timeout_ms, on_attempt_done, at)) {
            sender_result_t res = {.ok = 0, .error = "could not start the request"};
            on_attempt_done(at, &res);
            return;
        }
    }
}

/* Put a batch on an eligible analyzer other than `exclude` (or park it). */
static void place_batch(deliver_t *d, batch_t *b, analyzer_t *exclude)
{
    analyzer_t *t = router_pick_other(d->router, exclude);
    if (!t) {
        batch_list_push(&d->parked, b);
        return;
    }
    if (b->attempts > 0 && strcmp(t->spec.id, b->last_analyzer)) {
        METRIC_ADD(records_redistributed, b->records);
        t->records_received_redistributed += b->records;
    }
    batch_list_push_front(&t->ready, b);
    t->queue_bytes += b->cost;
    pump(d, t);
}

/* Move every queued batch of `a` (down or removed) to the other analyzers. */
static void evacuate(deliver_t *d, analyzer_t *a)
{
    router_seal(d->router, a);
    batch_list_t moving = a->ready;
    memset(&a->ready, 0, sizeof a->ready);
    batch_t *b;
    while ((b = batch_list_pop(&moving))) {
        a->queue_bytes -= b->cost;
        place_batch(d, b, a);
    }
}

static void unpark(deliver_t *d)
{
    batch_list_t moving = d->parked;
    memset(&d->parked, 0, sizeof d->parked);
    batch_t *b;
    while ((b = batch_list_pop(&moving))) place_batch(d, b, NULL);
}

/* ------------------------------------------------------------------ router hooks */

static void on_linger(evutil_socket_t fd, short what, void *arg)
{
    analyzer_t *a = arg;
    deliver_t *d = a->owner_ctx;
    router_seal(d->router, a);
}

static void hook_batch_opened(void *ctx, analyzer_t *a)
{
    deliver_t *d = ctx;
    if (!a->linger_ev) {
        a->owner_ctx = d;
        a->linger_ev = evtimer_new(d->base, on_linger, a);
        if (!a->linger_ev) return;
    }
    uint32_t ms = d->draining ? 0 : d->cfg->batch_linger_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(a->linger_ev, &tv);
}

static void hook_batch_ready(void *ctx, analyzer_t *a)
{
    deliver_t *d = ctx;
    if (a->linger_ev && !a->open) evtimer_del(a->linger_ev);
    pump(d, a);
}

static void hook_health_changed(void *ctx, analyzer_t *a, bool up)
{
    routing_changed(ctx);
}

static void hook_check_done(void *ctx, analyzer_t *a)
{
    deliver_t *d = ctx;
    if (a->removed) maybe_release(d, a);
}

/* ------------------------------------------------------------------ input */

/* The smallest allowance of any analyzer (queue_share.h): every in-flight
 * slot and a sealed batch waiting, with room for a buffer's doubling slack. */
static uint64_t queue_floor(const deliver_t *d)
{
    uint64_t floor = ((uint64_t)d->cfg->max_inflight + 2) * d->cfg->batch_max_bytes;
    return floor < d->cfg->max_queue_bytes ? floor : d->cfg->max_queue_bytes;
}

/* Each analyzer's share of the queue budget right now (queue_share.h), in
 * router list order, in d->shares; returns how many (0 on ENOMEM). */
static size_t queue_shares(deliver_t *d)
{
    size_t n = 0;
    for (analyzer_t *a = router_first(d->router); a; a = a->next) n++;
    if (n > d->shares_cap) {
        queue_share_t *s = realloc(d->shares, n * 2 * sizeof *s);
        if (!s) return 0;
        d->shares = s;
        d->shares_cap = n * 2;
    }
    queue_share_t *s = d->shares;
    n = 0;
    for (analyzer_t *a = router_first(d->router); a; a = a->next, n++) {
        s[n].weight = !a->removed && a->routable ? a->spec.weight : 0;
        s[n].queued = a->queue_bytes;
    }
    queue_share_compute(s, n, d->cfg->max_queue_bytes, queue_floor(d));
    return n;
}

/* Has some routable analyzer's queue reached its allowance? Records are
 * spread per record, so routing more would only grow that queue: packets wait
 * in `pending` (bounded by the same budget, so ingest answers 503 when it is
 * spent) until deliveries complete. */
static bool delivery_backlogged(deliver_t *d)
{
    /* called for every packet routed: while every queue is under the floor,
     * which no allowance is below, nobody can be full */
    uint64_t floor = queue_floor(d);
    analyzer_t *a = router_first(d->router);
    while (a && a->queue_bytes < floor) a = a->next;
    if (!a) return false;
    size_t n = queue_shares(d);
    for (size_t i = 0; i < n; i++)
        if (queue_share_full(&d->shares[i])) return true;
    return false;
}

static void process_pending(deliver_t *d)
{
    int n = 0;
    while (d->pending && router_can_route(d->router)) {
        if (delivery_backlogged(d)) { /* on_attempt_done() calls us again */
            if (!d->routing_held) METRIC_ADD(routing_holds, 1);
            d->routing_held = true;
            return;
        }
        d->routing_held = false;
        if (n++ == MAX_PACKETS_PER_WAKE) {
            /* a timer, not event_active(): an event activated from a callback
             * runs in the same loop pass, before any socket is looked at */
            static const struct timeval zero = {0, 0};
            evtimer_add(d->resume_ev, &zero);
            return;
        }
        packet_t *p = d->pending;
        d->pending = p->next;
        if (!d->pending) d->pending_tail = NULL;
        if (router_route_packet(d->router, p)) {
            log_error("deliver", "out of memory routing a packet of %zu records", p->count);
        }
        packet_free(p);
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    deliver_t *d = arg;
    packet_t *list = queue_take_all(d->queue);
    if (list) {
        if (d->pending_tail)
            d->pending_tail->next = list;
        else
            d->pending = list;
        packet_t *t = list;
        while (t->next) t = t->next;
        d->pending_tail = t;
    }
    process_pending(d);
    maybe_finish_drain(d);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    process_pending(arg);
}

static void wake_from_ingest(void *arg)
{
    deliver_t *d = arg;
    event_active(d->wake_ev, EV_READ, 0);
}

/* ------------------------------------------------------------------ calls */

static void on_call(evutil_socket_t fd, short what, void *arg)
{
    deliver_t *d = arg;
    pthread_mutex_lock(&d->call_mu);
    call_t *list = d->calls;
    d->calls = NULL;
    pthread_mutex_unlock(&d->call_mu);
    for (call_t *c = list; c;) {
        call_t *next = c->next; /* c lives on the caller's stack */
        c->fn(d, c->arg);
        pthread_mutex_lock(&d->call_mu);
        c->done = true;
        pthread_cond_broadcast(&d->call_cv);
        pthread_mutex_unlock(&d->call_mu);
        c = next;
    }
}

/* Run fn(d, arg) on the delivery thread and wait for it. */
static void deliver_call(deliver_t *d, void (*fn)(deliver_t *, void *), void *arg)
{
    if (!d->running) {
        fn(d, arg);
        return;
    }
    call_t c = {.fn = fn, .arg = arg};
    pthread_mutex_lock(&d->call_mu);
    c.next = d->calls;
    // cppcheck-suppress autoVariables ; c outlives its use: we wait until it is done
    d->calls = &c;
    pthread_mutex_unlock(&d->call_mu);
    event_active(d->call_ev, EV_READ, 0);
    pthread_mutex_lock(&d->call_mu);
    while (!c.done) pthread_cond_wait(&d->call_cv, &d->call_mu);
    pthread_mutex_unlock(&d->call_mu);
}

/* ------------------------------------------------------------------ life cycle */

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static void init_evthread(void)
{
    evthread_use_pthreads();
}

static int add_analyzer(deliver_t *d, analyzer_spec_t *spec)
{
    analyzer_t *a;
    int rc = router_add(d->router, spec, &a);
    if (rc) return rc;
    a->owner_ctx = d;
    a->health_changed_ms = wall_ms();
    breaker_init(&a->breaker, now_ms());
    router_refresh(d->router);
    health_watch(d->health, a);
    log_info("deliver", "analyzer %s added: %s weight %g", spec->id, spec->url, spec->weight);
    unpark(d);
    process_pending(d);
    return 0;
}

deliver_t *deliver_new(const config_t *cfg)
{
    pthread_once(&evthread_once, init_evthread);
    deliver_t *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->cfg = cfg;
    d->rng = now_us() | 1;
    d->breaker = (breaker_config_t){cfg->breaker_failures, cfg->breaker_error_pct / 100.0,
                                    cfg->breaker_window_ms, cfg->breaker_min_requests,
                                    cfg->breaker_cooldown_ms, cfg->breaker_max_cooldown_ms,
                                    cfg->breaker_probes};
    pthread_mutex_init(&d->call_mu, NULL);
    pthread_cond_init(&d->call_cv, NULL);
    struct event_config *ec = event_config_new();
    if (ec) event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    d->base = ec ? event_base_new_with_config(ec) : NULL;
    if (ec) event_config_free(ec);
    if (!d->base) goto fail;
    d->queue = queue_new(cfg->max_queue_bytes, wake_from_ingest, d);
    d->wake_ev = event_new(d->base, -1, 0, on_wake, d);
    d->call_ev = event_new(d->base, -1, 0, on_call, d);
    d->resume_ev = evtimer_new(d->base, on_resume, d);
    router_hooks_t rh = {hook_batch_opened, hook_batch_ready, d};
    d->router = router_new(cfg, &rh);
    d->sender = sender_new(d->base, cfg->connect_timeout_ms, cfg->analyzer_ca);
    char err[512];
    d->dl = cfg->data_dir[0] ? deadletter_open(cfg->data_dir, cfg->deadletter_max_bytes, err,
                                               sizeof err)
                             : deadletter_new(cfg->deadletter_max_bytes);
    if (!d->dl) log_error("deliver", "dead-letter store: %s", err);
    if (!d->queue || !d->wake_ev || !d->call_ev || !d->resume_ev || !d->router || !d->sender || !d->dl) goto fail;
    health_hooks_t hh = {hook_health_changed, hook_check_done, d};
    d->health = health_new(d->base, d->sender, d->router, cfg, &hh);
    if (!d->health) goto fail;
    for (size_t i = 0; i < cfg->analyzer_count; i++) {
        analyzer_spec_t spec = cfg->analyzers[i];
        if (add_analyzer(d, &spec)) {
            log_error("deliver", "cannot add analyzer %s", spec.id);
            goto fail;
        }
    }
    return d;
fail:
    log_error("deliver", "initialisation failed");
    deliver_free(d);
    return NULL;
}

pkt_queue_t *deliver_queue(deliver_t *d)
{
    return d->queue;
}

void deliver_set_durable(deliver_t *d, durable_t *durable)
{
    d->durable = durable;
}

static void *thread_main(void *arg)
{
    deliver_t *d = arg;
    event_base_loop(d->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

int deliver_start(deliver_t *d)
{
    d->running = true;
    if (pthread_create(&d->thread, NULL, thread_main, d)) {
        d->running = false;
        return -1;
    }
    return 0;
}

static bool everything_delivered(deliver_t *d)
{
    if (d->pending || d->parked.head || d->retry_waiting) return false;
    for (analyzer_t *a = router_first(d->router); a; a = a->next)
        if (a->open || a->ready.head || a->inflight) return false;
    return true;
}

static void maybe_finish_drain(deliver_t *d)
{
    if (d->draining && everything_delivered(d)) event_base_loopbreak(d->base);
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    deliver_t *d = arg;
    uint64_t lost = METRIC_GET(queued_records);
    if (lost) {
        METRIC_ADD(records_lost_at_shutdown, lost);
        log_error("deliver", "drain timeout: %llu records not delivered at shutdown",
                  (unsigned long long)lost);
    }
    event_base_loopbreak(d->base);
}

static void start_drain(deliver_t *d, void *arg)
{
    d->draining = true;
    on_wake(-1, 0, d); /* take what ingest pushed last */
    for (analyzer_t *a = router_first(d->router); a; a = a->next) router_seal(d->router, a);
    uint32_t ms = d->cfg->drain_timeout_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    d->drain_ev = evtimer_new(d->base, on_drain_timeout, d);
    evtimer_add(d->drain_ev, &tv);
    maybe_finish_drain(d);
}

uint64_t deliver_drain_and_stop(deliver_t *d)
{
    uint64_t before = METRIC_GET(records_lost_at_shutdown);
    if (d->running) {
        deliver_call(d, start_drain, NULL);
        pthread_join(d->thread, NULL);
        d->running = false;
    }
    return METRIC_GET(records_lost_at_shutdown) - before;
}

void deliver_free(deliver_t *d)
{
    if (!d) return;
    if (d->running) deliver_drain_and_stop(d);
    for (analyzer_t *a = d->router ? router_first(d->router) : NULL; a; a = a->next) {
        if (d->health) health_unwatch(d->health, a);
        if (a->linger_ev) event_free(a->linger_ev);
        a->linger_ev = NULL;
        if (a->breaker_ev) event_free(a->breaker_ev);
        a->breaker_ev = NULL;
    }
    sender_free(d->sender); /* in-flight attempts are abandoned without callbacks */
    batch_t *b;
    while ((b = batch_list_pop(&d->parked))) batch_free(b);
    packet_t *p = d->pending;
    while (p) {
        packet_t *n = p->next;
        packet_free(p);
        p = n;
    }
    health_free(d->health);
    router_free(d->router);
    deadletter_free(d->dl);
    queue_free(d->queue);
    if (d->wake_ev) event_free(d->wake_ev);
    if (d->call_ev) event_free(d->call_ev);
    if (d->resume_ev) event_free(d->resume_ev);
    if (d->drain_ev) event_free(d->drain_ev);
    if (d->base) event_base_free(d->base);
    pthread_mutex_destroy(&d->call_mu);
    pthread_cond_destroy(&d->call_cv);
    free(d->shares);
    free(d);
    batch_pool_drain();
}

/* ------------------------------------------------------------------ admin */

typedef struct {
    analyzer_spec_t *spec;
    const char *id;
    bool has_weight;
    double weight;
    const char *url, *health_url;
    int rc;
    json_t *json;
    uint64_t n;
} admin_arg_t;

static void do_add(deliver_t *d, void *arg)
{
    admin_arg_t *x = arg;
    x->rc = add_analyzer(d, x->spec);
}

int deliver_analyzer_add(deliver_t *d, analyzer_spec_t *spec)
{
    char err[256];
    if (config_check_analyzer(spec, err, sizeof err)) return -EINVAL;
    admin_arg_t x = {.spec = spec};
    deliver_call(d, do_add, &x);
    return x.rc;
}

static void do_update(deliver_t *d, void *arg)
{
    admin_arg_t *x = arg;
    analyzer_t *a = router_find(d->router, x->id);
    if (!a) {
        x->rc = -ENOENT;
        return;
    }
    analyzer_spec_t spec = a->spec;
    if (x->url && x->url[0]) {
        strlcpy_ld(spec.url, x->url, sizeof spec.url);
        if (!(x->health_url && x->health_url[0])) spec.health_url[0] = 0;
    }
    if (x->health_url && x->health_url[0])
        strlcpy_ld(spec.health_url, x->health_url, sizeof spec.health_url);
    if (x->has_weight) spec.weight = x->weight;
    char err[256];
    if (config_check_analyzer(&spec, err, sizeof err)) {
        x->rc = -EINVAL;
        return;
    }
    x->rc = router_set_weight(d->router, a, spec.weight);
    if (x->rc) return;
    a->spec = spec;
    log_info("deliver", "analyzer %s updated: %s weight %g", spec.id, spec.url, spec.weight);
    routing_changed(d);
}

int deliver_analyzer_update(deliver_t *d, const char *id, bool has_weight, double weight,
                            const char *url, const char *health_url)
{
    admin_arg_t x = {.id = id, .has_weight = has_weight, .weight = weight, .url = url,
                     .health_url = health_url};
    deliver_call(d, do_update, &x);
    return x.rc;
}

static void do_remove(deliver_t *d, void *arg)
{
    admin_arg_t *x = arg;
    analyzer_t *a = router_find(d->router, x->id);
    if (!a) {
        x->rc = -ENOENT;
        return;
    }
    health_unwatch(d->health, a);
    router_remove(d->router, a);
    if (a->linger_ev) evtimer_del(a->linger_ev);
    evacuate(d, a);
    log_info("deliver", "analyzer %s removed (%u batches still in flight)", a->spec.id,
             a->inflight);
    if (a->breaker_ev) evtimer_del(a->breaker_ev);
    maybe_release(d, a);
    routing_changed(d);
    x->rc = 0;
}

int deliver_analyzer_remove(deliver_t *d, const char *id)
{
    admin_arg_t x = {.id = id};
    deliver_call(d, do_remove, &x);
    return x.rc;
}

static json_t *analyzer_json(deliver_t *d, analyzer_t *a, uint64_t total_delivered,
                             const queue_share_t *qs)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(a->spec.id));
    json_object_set_new(o, "url", json_string(a->spec.url));
    json_object_set_new(o, "health_url", json_string(a->spec.health_url));
    json_object_set_new(o, "weight", json_real(a->spec.weight));
    json_object_set_new(o, "target_share", json_real(router_target_share(d->router, a)));
    json_object_set_new(o, "effective_share", json_real(router_effective_share(d->router, a)));
    json_object_set_new(o, "actual_share",
                        json_real(total_delivered ? (double)a->records_delivered /
                                                        (double)total_delivered
                                                  : 0.0));
    json_object_set_new(o, "healthy", json_boolean(a->healthy));
    json_object_set_new(o, "routable", json_boolean(a->routable));
    json_object_set_new(o, "state",
                        json_string(a->removed                           ? "removing"
                                    : !a->healthy                        ? "down"
                                    : a->breaker.state == BREAKER_OPEN   ? "open"
                                    : a->spec.weight == 0                ? "drained"
                                                                         : "up"));
    json_object_set_new(o, "breaker", json_string(breaker_state_name(a->breaker.state)));
    json_object_set_new(o, "breaker_trips", json_integer((json_int_t)a->breaker.trips));
    json_object_set_new(o, "health_changed_ms", json_integer((json_int_t)a->health_changed_ms));
    json_object_set_new(o, "records_routed", json_integer((json_int_t)a->records_routed));
    json_object_set_new(o, "records_delivered", json_integer((json_int_t)a->records_delivered));
    json_object_set_new(o, "records_redistributed_in",
                        json_integer((json_int_t)a->records_received_redistributed));
    json_object_set_new(o, "batches_delivered", json_integer((json_int_t)a->batches_delivered));
    json_object_set_new(o, "batches_failed", json_integer((json_int_t)a->batches_failed));
    json_object_set_new(o, "times_marked_down", json_integer((json_int_t)a->times_marked_down));
    json_object_set_new(o, "inflight_batches", json_integer(a->inflight));
    uint64_t queued = a->open ? a->open->records : 0;
    for (batch_t *b = a->ready.head; b; b = b->next) queued += b->records;
    json_object_set_new(o, "queued_records", json_integer((json_int_t)queued));
    json_object_set_new(o, "queue_bytes", json_integer((json_int_t)a->queue_bytes));
    json_object_set_new(o, "queue_share_bytes", json_integer(qs ? (json_int_t)qs->base : 0));
    json_object_set_new(o, "queue_allowance_bytes",
                        json_integer(qs ? (json_int_t)qs->allowance : 0));
    json_object_set_new(o, "latency_ms", json_real(a->latency_ewma_ms));
    json_object_set_new(o, "last_error", json_string(a->last_error));
    return o;
}

static void do_analyzers_json(deliver_t *d, void *arg)
{
    admin_arg_t *x = arg;
    uint64_t total = 0;
    for (analyzer_t *a = router_first(d->router); a; a = a->next)
        if (!a->removed) total += a->records_delivered;
    size_t nshares = queue_shares(d), i = 0;
    json_t *arr = json_array();
    for (analyzer_t *a = router_first(d->router); a; a = a->next, i++) {
        if (a->removed || (x->id && strcmp(a->spec.id, x->id))) continue;
        json_t *one = analyzer_json(d, a, total, i < nshares ? &d->shares[i] : NULL);
        if (x->id) {
            json_decref(arr);
            x->json = one;
            return;
        }
        json_array_append_new(arr, one);
    }
    if (x->id) {
        json_decref(arr);
        x->json = NULL;
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "strategy",
                        json_string(d->cfg->strategy == BALANCER_SWRR ? "swrr" : "random"));
    json_object_set_new(o, "panic", json_boolean(router_in_panic(d->router)));
    json_object_set_new(o, "analyzers", arr);
    x->json = o;
}

json_t *deliver_analyzers_json(deliver_t *d, const char *id)
{
    admin_arg_t x = {.id = id};
    deliver_call(d, do_analyzers_json, &x);
    return x.json;
}

json_t *deliver_metrics_json(deliver_t *d)
{
    json_t *m = metrics_to_json();
    json_t *all = deliver_analyzers_json(d, NULL);
    json_object_set(m, "analyzers", json_object_get(all, "analyzers"));
    json_decref(all);
    return m;
}

static void do_deadletter_json(deliver_t *d, void *arg)
{
    admin_arg_t *x = arg;
    x->json = deadletter_to_json(d->dl, 20);
}

json_t *deliver_deadletter_json(deliver_t *d)
{
    admin_arg_t x = {0};
    deliver_call(d, do_deadletter_json, &x);
    return x.json;
}

static void do_deadletter_purge(deliver_t *d, void *arg)
{
    admin_arg_t *x = arg;
    x->n = deadletter_purge(d->dl);
}

uint64_t deliver_deadletter_purge(deliver_t *d)
{
    admin_arg_t x = {0};
    deliver_call(d, do_deadletter_purge, &x);
    return x.n;
}

typedef struct {
    char **bodies;
    size_t *lens;
    long n;
    uint64_t k;
} dl_take_t;

static void do_deadletter_read(deliver_t *d, void *arg)
{
    dl_take_t *x = arg;
    x->n = deadletter_read_all(d->dl, &x->bodies, &x->lens);
}

long deliver_deadletter_read(deliver_t *d, char ***bodies, size_t **lens)
{
    dl_take_t x = {0};
    deliver_call(d, do_deadletter_read, &x);
    *bodies = x.bodies;
    *lens = x.lens;
    return x.n;
}

static void do_deadletter_remove_first(deliver_t *d, void *arg)
{
    dl_take_t *x = arg;
    x->n = deadletter_remove_first(d->dl, x->k);
}

int deliver_deadletter_remove_first(deliver_t *d, uint64_t k)
{
    dl_take_t x = {.k = k};
    deliver_call(d, do_deadletter_remove_first, &x);
    return (int)x.n;
}

static void do_spec(deliver_t *d, void *arg)
{
    admin_arg_t *x = arg;
    analyzer_t *a = router_find(d->router, x->id);
    x->rc = a ? 0 : -ENOENT;
    if (a) *x->spec = a->spec;
}

int deliver_analyzer_spec(deliver_t *d, const char *id, analyzer_spec_t *out)
{
    admin_arg_t x = {.id = id, .spec = out};
    deliver_call(d, do_spec, &x);
    return x.rc;
}

static void do_healthy_count(deliver_t *d, void *arg)
{
    admin_arg_t *x = arg;
    x->rc = 0;
    for (analyzer_t *a = router_first(d->router); a; a = a->next)
        if (!a->removed && a->healthy && a->spec.weight > 0) x->rc++;
}

int deliver_healthy_count(deliver_t *d)
{
    admin_arg_t x = {0};
    deliver_call(d, do_healthy_count, &x);
    return x.rc;
}
