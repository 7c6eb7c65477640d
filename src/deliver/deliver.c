/*
 * deliver.c - see deliver.h. The pipeline on the delivery thread: queue
 * intake and routing, batch life cycle, retries, breakers, drain. Admin calls
 * and snapshots are in deliver_admin.c; the retry policy in retry.c.
 *
 * Batch life cycle (all on the delivery thread):
 *   router appends records -> a->open --seal (size/count/linger)--> t->ready
 *   --pump (< max_inflight)--> in flight --2xx--> delivered, budget released
 *                                        --fail--> backoff timer --> place_batch():
 *        another eligible analyzer (weighted), or `parked` when none is eligible;
 *        after max_attempts: dead-letter store, budget released.
 * An analyzer marked down or removed has its ready batches placed elsewhere.
 *
 * Budget (store/queue.h): a packet's held bytes are released when its last
 * record is routed and it is freed; each sealed batch is charged its cost
 * then, and released (with its records) when it is settled.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/log.h"
#include "common/util.h"
#include "core/metrics.h"
#include "deliver/deliver_int.h"
#include "store/durable.h"

#define MAX_PACKETS_PER_WAKE 64 /* routing work per loop turn before I/O runs again */
#define ROUTE_RETRY_MS 100      /* after a routing ENOMEM */

typedef struct {
    deliver_t *d;
    target_t *t;
    batch_t *b;
    breaker_ticket_t tk; /* from breaker_allow(): generation, probe or not */
} attempt_t;

static void pump(deliver_t *d, target_t *t);
static void place_batch(deliver_t *d, batch_t *b, analyzer_t *exclude);
static void process_pending(deliver_t *d);
static void evacuate(deliver_t *d, target_t *t);
static void unpark(deliver_t *d);
static void breaker_result(deliver_t *d, target_t *t, const breaker_ticket_t *tk, bool ok);
static void maybe_finish_drain(deliver_t *d);

/* ------------------------------------------------------------------ batches */

/* The WAL sequence numbers of b's durable records that no other copy holds
 * any more (ackref.h), at the front of b->seqs; how many. */
static size_t last_copies(deliver_t *d, batch_t *b)
{
    return b->nseqs ? ackref_filter(d->acks, b->seqs, b->nseqs) : 0;
}

/* The batch's records are settled (delivered or dead-lettered): release
 * their budget and acknowledge their durable records in the WAL. */
static void settle(deliver_t *d, batch_t *b)
{
    queue_release(d->queue, b->cost, b->records);
    size_t n = last_copies(d, b);
    if (d->durable && n) durable_ack(d->durable, b->seqs, n);
}

static void maybe_release(deliver_t *d, target_t *t)
{
    analyzer_t *a = t->a;
    if (!a->removed || t->inflight || t->health_busy || t->ready.head || a->nopen) return;
    if (t->linger_ev) event_free(t->linger_ev);
    if (t->breaker_ev) event_free(t->breaker_ev);
    router_release(d->router, a);
    free(t);
}

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
    retry_wait_t *w = arg;
    deliver_t *d = w->d;
    batch_t *b = w->b;
    if (w->prev)
        w->prev->next = w->next;
    else
        d->retries = w->next;
    if (w->next) w->next->prev = w->prev;
    event_free(w->ev);
    free(w);
    d->retry_waiting--;
    METRIC_ADD(batches_retried, 1);
    METRIC_ADD(records_retried, b->records);
    place_batch(d, b, router_find(d->router, b->last_analyzer));
}


/* Out of attempts: to the dead-letter store. On disk (fdatasync'ed) first,
 * then acknowledged in the WAL: a crash in between leaves a duplicate, never
 * a loss. Refused (store full of durable entries, write error): durable
 * records stay unacknowledged in the WAL (replayed at the next start), the
 * others are counted as evicted. */
static int deadletter_batch(deliver_t *d, batch_t *b, const char *why)
{
    log_event(LOG_WARN, "deliver", "batch_dead_lettered",
              LOG_FIELDS(LF_STR("batch_id", b->id), LF_UINT("records", b->records),
                         LF_UINT("attempts", b->attempts), LF_STR("error", why)),
              "batch %s (%u records) dead-lettered after %u attempts: %s", b->id, b->records,
              b->attempts, why);
    char reason[200];
    snprintf(reason, sizeof reason, "%u attempts failed; last: %s", b->attempts, why);
    queue_release(d->queue, b->cost, b->records);
    deadletter_item_t it = {b->id, b->buf, b->len, b->records, b->attempts,
                            reason, b->last_analyzer, b->nseqs > 0};
    int rc = deadletter_add(d->dl, &it);
    size_t n = rc ? 0 : last_copies(d, b);
    if (!rc && d->durable && n) durable_ack(d->durable, b->seqs, n);
    if (rc) {
        log_error("deliver", "batch %s not dead-lettered (%s): %u durable records kept in "
                  "the WAL, %u others dropped", b->id, strerror(-rc), b->nseqs,
                  b->records - b->nseqs);
        METRIC_ADD(records_deadletter_kept_in_wal, b->nseqs);
        METRIC_ADD(records_deadletter_evicted, b->records - b->nseqs);
    }
    batch_free(b);
    return rc;
}

/* A delivery attempt of t failed: back off and retry elsewhere, or
 * dead-letter (counted on t: records_retried, records_deadlettered). */
static void retry_or_deadletter(deliver_t *d, target_t *t, batch_t *b, const char *why)
{
    uint32_t records = b->records;
    if (retry_give_up(&d->retry, b->attempts)) {
        if (deadletter_batch(d, b, why) == 0) t->records_deadlettered += records;
        maybe_finish_drain(d);
        return;
    }
    t->records_retried += records;
    uint64_t ms = retry_backoff_ms(&d->retry, b->attempts, retry_rand(&d->rng), d->draining);
    retry_wait_t *w = calloc(1, sizeof *w);
    if (w) w->ev = evtimer_new(d->base, on_retry_timer, w);
    if (!w || !w->ev) { /* no timer: place it now */
        free(w);
        place_batch(d, b, NULL);
        return;
    }
    w->d = d;
    w->b = b;
    w->next = d->retries;
    if (w->next) w->next->prev = w;
    d->retries = w;
    struct timeval tv = {(long)(ms / 1000), (long)(ms % 1000) * 1000};
    d->retry_waiting++;
    evtimer_add(w->ev, &tv);
}

static void set_error(target_t *t, const char *what, const char *err)
{
    snprintf(t->last_error, sizeof t->last_error, "%s: %s", what, err);
    t->last_error_ms = now_ms();
}

static void on_attempt_done(void *ctx, const sender_result_t *res)
{
    attempt_t *at = ctx;
    deliver_t *d = at->d;
    target_t *t = at->t;
    analyzer_t *a = t->a;
    batch_t *b = at->b;
    breaker_ticket_t tk = at->tk;
    free(at);
    t->inflight--;
    t->queue_bytes -= b->cost; /* settled, or placed again by place_batch() */
    METRIC_SUB(inflight_batches, 1);
    if (res->cancelled) { /* shutdown after the drain timeout: already counted as lost */
        batch_free(b);
        return;
    }
    if (!a->removed) breaker_result(d, t, &tk, res->ok != 0);
    hist_observe(&t->attempt_seconds, res->seconds > 0 ? (uint64_t)(res->seconds * 1e6) : 0);
    if (!a->removed) {
        deliver_adapt_observe(d, t, res);
        if (res->weight_hint) deliver_adapt_hint(d, t, res->weight_hint);
    }
    if (res->ok) {
        t->records_delivered += b->records;
        window_add(&t->delivered_10s, now_ms() / 1000, b->records);
        t->batches_delivered++;
        double ms = res->seconds * 1000.0;
        t->latency_ewma_ms = t->latency_ewma_ms ? t->latency_ewma_ms * 0.9 + ms * 0.1 : ms;
        METRIC_ADD(records_delivered, b->records);
        METRIC_ADD(batches_delivered, 1);
        if (t->health) health_delivery_result(t->health, true);
        settle(d, b);
        batch_free(b);
    } else {
        t->batches_failed++;
        METRIC_ADD(batches_failed, 1);
        if (res->tls_error) METRIC_ADD(analyzer_tls_failures, 1);
        set_error(t, "delivery", res->error);
        log_debug("deliver", "batch %s to %s failed: %s", b->id, a->spec.id, res->error);
        if (t->health) health_delivery_result(t->health, false);
        retry_or_deadletter(d, t, b, res->error);
    }
    if (a->removed)
        maybe_release(d, t);
    else
        pump(d, t);
    if (d->pending) process_pending(d);
    maybe_finish_drain(d);
}

/* ------------------------------------------------------------------ routing state */

static void publish_health(deliver_t *d)
{
    int n = 0;
    for (analyzer_t *a = router_first(d->router); a; a = a->next)
        if (!a->removed && T(a)->health && health_is_up(T(a)->health) && router_weight(a) > 0) n++;
    atomic_store_explicit(&d->healthy_count, n, memory_order_relaxed);
}

/* Health, breaker or weight changed: tell the router who is eligible;
 * analyzers that lost their routability give their queued batches away; the
 * others get to work. */
static void routing_changed(deliver_t *d)
{
    for (analyzer_t *a = router_first(d->router); a; a = a->next) {
        if (a->removed) continue;
        target_t *t = T(a);
        bool up = t->health && health_is_up(t->health);
        router_set_eligible(d->router, a, up && t->breaker.state != BREAKER_OPEN);
    }
    router_refresh(d->router);
    for (analyzer_t *a = router_first(d->router); a; a = a->next) {
        if (a->removed) continue;
        if (!a->routable && (T(a)->ready.head || a->nopen))
            evacuate(d, T(a));
        else
            pump(d, T(a));
    }
    publish_health(d);
    unpark(d);
    process_pending(d);
}

void deliver_routes_changed(deliver_t *d)
{
    routing_changed(d);
}

static void arm_ms(struct event *ev, uint64_t ms)
{
    struct timeval tv = {(long)(ms / 1000), (long)(ms % 1000) * 1000};
    evtimer_add(ev, &tv);
}

static void on_breaker_timer(evutil_socket_t fd, short what, void *arg)
{
    target_t *t = arg;
    deliver_t *d = t->d;
    uint64_t now = now_ms();
    if (breaker_tick(&t->breaker, &d->breaker, now)) {
        log_event(LOG_INFO, "breaker", "breaker_half_open",
                  LOG_FIELDS(LF_STR("analyzer", t->a->spec.id)),
                  "analyzer %s: breaker half-open, probing", t->a->spec.id);
        routing_changed(d);
    } else if (t->breaker.state == BREAKER_OPEN) {
        /* libevent measures from its cached loop time and may fire a little early */
        uint64_t ms = t->breaker.open_until_ms > now ? t->breaker.open_until_ms - now : 1;
        arm_ms(t->breaker_ev, ms + 1);
    }
}

/* Feed a delivery result to t's breaker and act on its transitions. */
static void breaker_result(deliver_t *d, target_t *t, const breaker_ticket_t *tk, bool ok)
{
    breaker_state_t before = t->breaker.state;
    uint64_t now = now_ms();
    breaker_state_t after = breaker_record(&t->breaker, &d->breaker, tk, ok, now);
    if (after == before) return;
    if (after == BREAKER_OPEN) {
        uint64_t ms = t->breaker.open_until_ms > now ? t->breaker.open_until_ms - now : 0;
        METRIC_ADD(breaker_trips, 1);
        log_event(LOG_WARN, "breaker", "breaker_open",
                  LOG_FIELDS(LF_STR("analyzer", t->a->spec.id), LF_UINT("open_ms", ms),
                             LF_UINT("trips", t->breaker.trips)),
                  "analyzer %s: breaker open for %llu ms (trip %llu)", t->a->spec.id,
                  (unsigned long long)ms, (unsigned long long)t->breaker.trips);
        if (!t->breaker_ev) t->breaker_ev = evtimer_new(d->base, on_breaker_timer, t);
        if (t->breaker_ev) arm_ms(t->breaker_ev, ms);
        routing_changed(d);
    } else if (after == BREAKER_CLOSED) {
        log_event(LOG_INFO, "breaker", "breaker_closed",
                  LOG_FIELDS(LF_STR("analyzer", t->a->spec.id)), "analyzer %s: breaker closed",
                  t->a->spec.id);
        routing_changed(d);
    }
}

/* Panic mode routes to every live analyzer (router.h), those whose breaker is
 * open too, but an open breaker sends nothing until its cool-down ends (up to
 * --breaker-max-cooldown-ms): their batches go instead to a routable analyzer
 * whose breaker is not open, closed ones first, in proportion to weight. NULL
 * when there is none (not in panic: someone is eligible then). */
static target_t *pick_unblocked(deliver_t *d, const batch_t *b, const analyzer_t *exclude)
{
    double total[2] = {0, 0}; /* [0] closed, [1] half-open */
    for (analyzer_t *a = router_first(d->router); a; a = a->next)
        if (a != exclude && !a->removed && a->routable && router_batch_weight(d->router, b, a) > 0 &&
            T(a)->breaker.state != BREAKER_OPEN)
            total[T(a)->breaker.state == BREAKER_HALF_OPEN] += router_batch_weight(d->router, b, a);
    int k = total[0] > 0 ? 0 : 1;
    if (total[k] <= 0) return NULL;
    double x = (double)(retry_rand(&d->rng) >> 11) / 9007199254740992.0 * total[k];
    analyzer_t *last = NULL;
    for (analyzer_t *a = router_first(d->router); a; a = a->next) {
        double w = router_batch_weight(d->router, b, a);
        if (a == exclude || a->removed || !a->routable || w <= 0 ||
            T(a)->breaker.state == BREAKER_OPEN ||
            (T(a)->breaker.state == BREAKER_HALF_OPEN) != k)
            continue;
        last = a;
        if ((x -= w) < 0) break;
    }
    return last ? T(last) : NULL;
}

static void put_batch(deliver_t *d, target_t *t, batch_t *b);

/* Start sending ready batches of t while it has free in-flight slots. */
static void pump(deliver_t *d, target_t *t)
{
    analyzer_t *a = t->a;
    if (a->removed || !a->routable) return;
    if (t->breaker.state == BREAKER_OPEN && t->ready.head) {
        /* routable although open: panic mode. Its batches go elsewhere. */
        if (!pick_unblocked(d, t->ready.head, a)) return; /* wait for the cool-down */
        batch_list_t moving = t->ready;
        memset(&t->ready, 0, sizeof t->ready);
        batch_t *b;
        while ((b = batch_list_pop(&moving))) {
            target_t *to = pick_unblocked(d, b, a);
            t->queue_bytes -= b->cost;
            put_batch(d, to ? to : t, b);
        }
        return;
    }
    uint64_t now = now_ms();
    while (t->inflight < d->cfg->max_inflight && t->ready.head) {
        attempt_t *at = malloc(sizeof *at); /* before a probe slot is taken */
        if (!at) return;
        if (!breaker_allow(&t->breaker, &d->breaker, now, &at->tk)) {
            free(at);
            return;
        }
        batch_t *b = batch_list_pop(&t->ready);
        at->d = d;
        at->t = t;
        at->b = b;
        b->attempts++;
        strlcpy_ld(b->last_analyzer, a->spec.id, sizeof b->last_analyzer);
        t->inflight++;
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
    analyzer_t *a = router_pick_other(d->router, b, exclude);
    if (!a) {
        batch_list_push(&d->parked, b);
        return;
    }
    put_batch(d, T(a), b);
}

/* Queue b first on t and pump t. */
static void put_batch(deliver_t *d, target_t *t, batch_t *b)
{
    if (b->attempts > 0 && strcmp(t->a->spec.id, b->last_analyzer)) {
        METRIC_ADD(records_redistributed, b->records);
        t->records_redistributed_in += b->records;
    }
    batch_list_push_front(&t->ready, b);
    t->queue_bytes += b->cost;
    pump(d, t);
}

/* Move every queued batch of t (down or removed) to the other analyzers. */
static void evacuate(deliver_t *d, target_t *t)
{
    router_seal(d->router, t->a);
    batch_list_t moving = t->ready;
    memset(&t->ready, 0, sizeof t->ready);
    batch_t *b;
    while ((b = batch_list_pop(&moving))) {
        t->queue_bytes -= b->cost;
        place_batch(d, b, t->a);
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
    target_t *t = arg;
    router_seal(t->d->router, t->a);
}

static void hook_batch_opened(void *ctx, analyzer_t *a)
{
    deliver_t *d = ctx;
    target_t *t = T(a);
    if (!t->linger_ev && !(t->linger_ev = evtimer_new(d->base, on_linger, t))) return;
    arm_ms(t->linger_ev, d->draining ? 0 : d->cfg->batch_linger_ms);
}

/* A sealed batch is ours: charge its memory to the budget and send it. */
static void hook_batch_sealed(void *ctx, analyzer_t *a, batch_t *b)
{
    deliver_t *d = ctx;
    queue_reserve_force(d->queue, b->cost, b->copies); /* a copy is a record more to settle */
    if (!a) { /* held (its route has nobody routable) or taken by no route */
        if (b->no_route)
            deadletter_batch(d, b, "no route takes these records (the default route has no "
                             "analyzers)");
        else
            batch_list_push(&d->parked, b);
        return;
    }
    target_t *t = T(a);
    hist_observe(&g_metrics.batch_records, b->records);
    t->queue_bytes += b->cost;
    batch_list_push(&t->ready, b);
    if (t->linger_ev && !a->nopen) evtimer_del(t->linger_ev);
    pump(d, t);
}

static void hook_fanout(void *ctx, uint64_t seq, uint32_t copies)
{
    deliver_t *d = ctx;
    if (ackref_add(d->acks, seq, copies)) {
        METRIC_ADD(routing_failures, 1);
        log_error("deliver", "out of memory tracking the %u copies of durable record %llu: "
                  "its first delivered copy acknowledges it", copies, (unsigned long long)seq);
    }
}

static void hook_health_changed(void *ctx, analyzer_t *a, bool up)
{
    deliver_t *d = ctx;
    if (up && d->started) deliver_adapt_restart(d, T(a)); /* back up: slow start */
    routing_changed(d);
}

static void hook_health_hint(void *ctx, analyzer_t *a, const char *value)
{
    deliver_adapt_hint(ctx, T(a), value);
}

static void on_adapt_timer(evutil_socket_t fd, short what, void *arg)
{
    deliver_adapt_tick(arg);
}

static void hook_health_released(void *ctx, analyzer_t *a)
{
    target_t *t = T(a);
    t->health_busy = false;
    maybe_release(ctx, t);
}

/* ------------------------------------------------------------------ input */

/* The smallest allowance of any analyzer (queue_share.h): every in-flight
 * slot and a sealed batch waiting, with room for a buffer's doubling slack. */
static uint64_t queue_floor(const deliver_t *d)
{
    uint64_t floor = ((uint64_t)d->cfg->max_inflight + 2) * d->cfg->batch_max_bytes;
    return floor < d->cfg->max_queue_bytes ? floor : d->cfg->max_queue_bytes;
}

size_t deliver_queue_shares(deliver_t *d)
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
        s[n].weight = !a->removed && a->routable ? router_weight(a) : 0;
        s[n].queued = T(a)->queue_bytes;
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
    while (a && T(a)->queue_bytes < floor) a = a->next;
    if (!a) return false;
    size_t n = deliver_queue_shares(d);
    for (size_t i = 0; i < n; i++)
        if (queue_share_full(&d->shares[i])) return true;
    return false;
}

/* Route the head packet. False when routing must stop for now: the packet
 * stays at the head and is resumed from its next unrouted record. */
static bool route_head(deliver_t *d)
{
    packet_t *p = d->pending;
    int rc = router_route_packet(d->router, p);
    if (rc == -ENOMEM) {
        METRIC_ADD(routing_failures, 1);
        log_error("deliver", "out of memory routing a packet (%zu of %zu records routed); "
                  "retrying in %d ms", p->routed, p->count, ROUTE_RETRY_MS);
        arm_ms(d->resume_ev, ROUTE_RETRY_MS);
        return false;
    }
    if (rc) return false; /* -EAGAIN: nobody routable; routing_changed() resumes */
    d->pending = p->next;
    if (!d->pending) d->pending_tail = NULL;
    queue_release(d->queue, p->held_bytes, 0); /* its records now live in batches */
    packet_free(p);
    return true;
}

static void process_pending(deliver_t *d)
{
    int n = 0;
    if (evtimer_pending(d->resume_ev, NULL)) return; /* a retry or a turn is scheduled */
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
            arm_ms(d->resume_ev, 0);
            return;
        }
        if (!route_head(d)) return;
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
    deliver_t *d = arg;
    process_pending(d);
    maybe_finish_drain(d);
}

static void wake_from_ingest(void *arg)
{
    deliver_t *d = arg;
    event_active(d->wake_ev, EV_READ, 0);
}

/* ------------------------------------------------------------------ analyzers */

int deliver_add_analyzer(deliver_t *d, analyzer_spec_t *spec)
{
    target_t *t = calloc(1, sizeof *t);
    if (!t) return -ENOMEM;
    analyzer_t *a;
    int rc = router_add(d->router, spec, &a);
    if (rc) {
        free(t);
        return rc;
    }
    t->a = a;
    t->d = d;
    hist_init(&t->attempt_seconds, hist_duration_us_bounds, HIST_DURATION_N, 1e6);
    breaker_init(&t->breaker, now_ms());
    deliver_adapt_target_init(t);
    router_set_user(a, t);
    t->health = health_watch(d->health, a);
    if (!t->health) {
        router_remove(d->router, a);
        maybe_release(d, t);
        return -ENOMEM;
    }
    log_info("deliver", "analyzer %s added: %s weight %g", spec->id, spec->url, spec->weight);
    if (d->started) deliver_adapt_restart(d, t); /* added at run time: slow start */
    routing_changed(d);
    return 0;
}

void deliver_update_analyzer(deliver_t *d, analyzer_t *a, const analyzer_spec_t *spec, int *rc)
{
    *rc = router_update(d->router, a, spec);
    if (*rc) return;
    log_info("deliver", "analyzer %s updated: %s weight %g%s", spec->id, spec->url, spec->weight,
             spec->drained ? " (drained)" : "");
    routing_changed(d);
}

void deliver_remove_analyzer(deliver_t *d, analyzer_t *a)
{
    target_t *t = T(a);
    t->health_busy = health_unwatch(t->health);
    t->health = NULL;
    router_remove(d->router, a);
    if (t->linger_ev) evtimer_del(t->linger_ev);
    evacuate(d, t);
    log_info("deliver", "analyzer %s removed (%u batches still in flight)", a->spec.id,
             t->inflight);
    if (t->breaker_ev) evtimer_del(t->breaker_ev);
    maybe_release(d, t);
    routing_changed(d);
}

/* ------------------------------------------------------------------ life cycle */

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static void init_evthread(void)
{
    evthread_use_pthreads();
}

static sender_t *curl_sender(struct event_base *base, void *arg)
{
    const config_t *cfg = arg;
    return sender_new(base, cfg->connect_timeout_ms, cfg->analyzer_ca);
}

deliver_t *deliver_new(const config_t *cfg)
{
    return deliver_new_with_sender(cfg, curl_sender, (void *)cfg);
}

static int open_parts(deliver_t *d, deliver_sender_fn make_sender, void *arg)
{
    const config_t *cfg = d->cfg;
    struct event_config *ec = event_config_new();
    if (ec) event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    d->base = ec ? event_base_new_with_config(ec) : NULL;
    if (ec) event_config_free(ec);
    if (!d->base) return -ENOMEM;
    d->mbox = mailbox_new(d->base);
    d->queue = queue_new(cfg->max_queue_bytes, wake_from_ingest, d);
    d->wake_ev = event_new(d->base, -1, 0, on_wake, d);
    d->resume_ev = evtimer_new(d->base, on_resume, d);
    router_hooks_t rh = {hook_batch_opened, hook_batch_sealed, hook_fanout, d};
    d->router = router_new(cfg, &rh);
    d->acks = ackref_new();
    d->sender = make_sender(d->base, arg);
    char err[512] = "out of memory";
    d->dl = cfg->data_dir[0] ? deadletter_open(cfg->data_dir, cfg->deadletter_max_bytes, err,
                                               sizeof err)
                             : deadletter_new(cfg->deadletter_max_bytes);
    if (!d->dl) log_error("deliver", "dead-letter store: %s", err);
    if (!d->mbox || !d->queue || !d->wake_ev || !d->resume_ev || !d->router || !d->acks ||
        !d->sender || !d->dl)
        return -ENOMEM;
    health_hooks_t hh = {hook_health_changed, hook_health_released, d, hook_health_hint};
    d->adapt_ev = evtimer_new(d->base, on_adapt_timer, d);
    if (!d->adapt_ev) return -ENOMEM;
    d->health = health_new(d->base, d->sender, cfg, &hh);
    return d->health ? 0 : -ENOMEM;
}

/* d->breaker and d->retry from d->opts. */
static void derive_policies(deliver_t *d)
{
    const config_t *c = &d->opts;
    d->breaker = (breaker_config_t){c->breaker_failures,    c->breaker_error_pct / 100.0,
                                    c->breaker_window_ms,   c->breaker_min_requests,
                                    c->breaker_cooldown_ms, c->breaker_max_cooldown_ms,
                                    c->breaker_probes};
    d->retry = (retry_policy_t){c->retry_base_ms, c->retry_max_ms, c->max_attempts, 50};
    adaptive_config_default(&d->adapt);
    d->adapt.decay_ms = c->adaptive_decay_ms;
    d->adapt.latency_tolerance = c->adaptive_latency_tolerance_pct / 100.0;
    d->adapt.latency_slack_ms = c->adaptive_latency_slack_ms;
    d->adapt.error_tolerance = c->adaptive_error_tolerance_pct / 100.0;
    d->adapt.min_factor = c->adaptive_min_weight_pct / 100.0;
}

void deliver_apply_options(deliver_t *d, const config_t *n)
{
    config_t *o = &d->opts;
    o->batch_max_records = n->batch_max_records;
    o->batch_max_bytes = n->batch_max_bytes;
    o->batch_linger_ms = n->batch_linger_ms;
    o->max_inflight = n->max_inflight;
    o->connect_timeout_ms = n->connect_timeout_ms;
    o->request_timeout_ms = n->request_timeout_ms;
    o->max_attempts = n->max_attempts;
    o->retry_base_ms = n->retry_base_ms;
    o->retry_max_ms = n->retry_max_ms;
    o->health_interval_ms = n->health_interval_ms;
    o->health_timeout_ms = n->health_timeout_ms;
    o->health_rise = n->health_rise;
    o->health_fall = n->health_fall;
    o->passive_fall = n->passive_fall;
    o->breaker_failures = n->breaker_failures;
    o->breaker_error_pct = n->breaker_error_pct;
    o->breaker_window_ms = n->breaker_window_ms;
    o->breaker_min_requests = n->breaker_min_requests;
    o->breaker_cooldown_ms = n->breaker_cooldown_ms;
    o->breaker_max_cooldown_ms = n->breaker_max_cooldown_ms;
    o->breaker_probes = n->breaker_probes;
    o->adaptive_weights = n->adaptive_weights;
    o->adaptive_decay_ms = n->adaptive_decay_ms;
    o->adaptive_latency_tolerance_pct = n->adaptive_latency_tolerance_pct;
    o->adaptive_latency_slack_ms = n->adaptive_latency_slack_ms;
    o->adaptive_error_tolerance_pct = n->adaptive_error_tolerance_pct;
    o->adaptive_min_weight_pct = n->adaptive_min_weight_pct;
    o->slow_start_ms = n->slow_start_ms;
    o->weight_hints = n->weight_hints;
    o->weight_hint_max_pct = n->weight_hint_max_pct;
    o->weight_hint_ttl_ms = n->weight_hint_ttl_ms;
    derive_policies(d);
    deliver_adapt_tick(d); /* the new tolerances, or back to 1 when turned off */
    router_set_batch_limits(d->router, o->batch_max_records, o->batch_max_bytes);
    sender_set_connect_timeout(d->sender, o->connect_timeout_ms);
    log_event(LOG_INFO, "deliver", "delivery_options_applied",
              LOG_FIELDS(LF_UINT("batch_max_records", o->batch_max_records),
                         LF_UINT("max_inflight", o->max_inflight),
                         LF_UINT("max_attempts", o->max_attempts)),
              "delivery options applied");
}

deliver_t *deliver_new_with_sender(const config_t *cfg, deliver_sender_fn make_sender, void *arg)
{
    pthread_once(&evthread_once, init_evthread);
    deliver_t *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->opts = *cfg;
    d->opts.tokens = NULL;
    d->opts.token_count = 0;
    d->opts.analyzers = NULL;
    d->opts.analyzer_count = 0;
    d->opts.routes = NULL;
    pthread_mutex_init(&d->routes_mu, NULL);
    memset(d->opts.forward_shared_key, 0, sizeof d->opts.forward_shared_key);
    d->cfg = &d->opts;
    d->rng = now_us() | 1;
    sem_init(&d->bound, 0, 0);
    derive_policies(d);
    if (open_parts(d, make_sender, arg)) goto fail;
    for (size_t i = 0; i < cfg->analyzer_count; i++) {
        analyzer_spec_t spec = cfg->analyzers[i];
        if (deliver_add_analyzer(d, &spec)) {
            log_error("deliver", "cannot add analyzer %s", spec.id);
            goto fail;
        }
    }
    d->started = true; /* analyzers added from now on slow-start */
    deliver_adapt_tick(d);
    return d;
fail:
    log_error("deliver", "initialisation failed");
    deliver_free(d);
    return NULL;
}

struct event_base *deliver_event_base(deliver_t *d)
{
    return d->base;
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
    mailbox_bind(d->mbox);
    sem_post(&d->bound);
    event_base_loop(d->base, EVLOOP_NO_EXIT_ON_EMPTY);
    mailbox_unbind(d->mbox);
    return NULL;
}

int deliver_start(deliver_t *d)
{
    d->running = true;
    if (pthread_create(&d->thread, NULL, thread_main, d)) {
        d->running = false;
        return -1;
    }
    while (sem_wait(&d->bound) && errno == EINTR) {
    }
    return 0;
}

static bool everything_delivered(deliver_t *d)
{
    if (d->pending || d->parked.head || d->retry_waiting) return false;
    for (analyzer_t *a = router_first(d->router); a; a = a->next)
        if (a->nopen || T(a)->ready.head || T(a)->inflight) return false;
    return true;
}

static void maybe_finish_drain(deliver_t *d)
{
    if (d->draining && everything_delivered(d)) event_base_loopbreak(d->base);
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    deliver_t *d = arg;
    uint64_t lost = queue_records(d->queue);
    if (lost) {
        METRIC_ADD(records_lost_at_shutdown, lost);
        log_event(LOG_ERROR, "deliver", "drain_timeout", LOG_FIELDS(LF_UINT("records_lost", lost)),
                  "drain timeout: %llu records not delivered at shutdown",
                  (unsigned long long)lost);
    }
    event_base_loopbreak(d->base);
}

void deliver_start_drain(deliver_t *d)
{
    d->draining = true;
    on_wake(-1, 0, d); /* take what ingest pushed last */
    router_seal_all(d->router);
    d->drain_ev = evtimer_new(d->base, on_drain_timeout, d);
    if (d->drain_ev) arm_ms(d->drain_ev, d->cfg->drain_timeout_ms);
    maybe_finish_drain(d);
}

static void start_drain_msg(void *arg)
{
    deliver_start_drain(arg);
}

uint64_t deliver_drain_and_stop(deliver_t *d)
{
    uint64_t before = METRIC_GET(records_lost_at_shutdown);
    if (d->running) {
        mailbox_call_sync(d->mbox, start_drain_msg, d);
        pthread_join(d->thread, NULL);
        d->running = false;
    } else if (!d->draining) { /* no thread (tests): drain on the caller's thread */
        deliver_start_drain(d);
        if (!everything_delivered(d)) event_base_loop(d->base, EVLOOP_NO_EXIT_ON_EMPTY);
    }
    return METRIC_GET(records_lost_at_shutdown) - before;
}

static void free_targets(deliver_t *d)
{
    for (analyzer_t *a = d->router ? router_first(d->router) : NULL; a; a = a->next) {
        target_t *t = T(a);
        if (!t) continue;
        health_unwatch(t->health); /* a check in flight is freed by sender_free below */
        t->health = NULL;
        if (t->linger_ev) event_free(t->linger_ev);
        if (t->breaker_ev) event_free(t->breaker_ev);
        t->linger_ev = t->breaker_ev = NULL;
        batch_t *b;
        while ((b = batch_list_pop(&t->ready))) batch_free(b);
    }
}

void deliver_free(deliver_t *d)
{
    if (!d) return;
    if (d->running) deliver_drain_and_stop(d);
    free_targets(d);
    sender_free(d->sender); /* in-flight attempts are cancelled: their batches are freed */
    for (analyzer_t *a = d->router ? router_first(d->router) : NULL; a; a = a->next)
        free(T(a));
    batch_t *b;
    while ((b = batch_list_pop(&d->parked))) batch_free(b);
    while (d->retries) {
        retry_wait_t *w = d->retries;
        d->retries = w->next;
        event_free(w->ev);
        batch_free(w->b);
        free(w);
    }
    packet_t *p = d->pending;
    while (p) {
        packet_t *n = p->next;
        packet_free(p);
        p = n;
    }
    health_free(d->health);
    router_free(d->router);
    ackref_free(d->acks);
    deadletter_free(d->dl);
    queue_free(d->queue);
    mailbox_free(d->mbox);
    routes_unref(d->routes_pub);
    pthread_mutex_destroy(&d->routes_mu);
    if (d->wake_ev) event_free(d->wake_ev);
    if (d->resume_ev) event_free(d->resume_ev);
    if (d->drain_ev) event_free(d->drain_ev);
    if (d->adapt_ev) event_free(d->adapt_ev);
    if (d->base) event_base_free(d->base);
    sem_destroy(&d->bound);
    free(d->shares);
    free(d);
    batch_pool_drain();
}
