/*
 * test_deliver.c - cmocka tests of the delivery layer in process: a real
 * deliver_t (router, batches, health, breakers, retries, dead letters, queue
 * budget) driven on the test's thread (no deliver_start: the test runs the
 * loop) over the fake sender of fake_sender.h. Covered: every record
 * delivered once and the budget back to zero; a routing ENOMEM in the middle
 * of a packet (issue 9 finding 5: the packet is kept and resumed, nothing lost
 * nor duplicated); retries redistributed to another analyzer; dead-lettering
 * after max_attempts; drain that finishes and drain past its timeout
 * (records_lost_at_shutdown); breaker open -> half-open -> closed timing;
 * attempts sent before a trip are not probes (a late result neither closes
 * nor re-opens the half-open breaker); in panic mode an open breaker's batches
 * go to the others instead of waiting out the cool-down; a health check
 * failing marks an analyzer down and its share moves; a drained analyzer keeps
 * its weight, gets no new record but delivers what it had, and undrained gets
 * its share back; deliver_set_options (batch size, max_inflight, max_attempts)
 * applies to the next batches.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <time.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/util.h"
#include "core/metrics.h"
#include "deliver/deliver.h"
#include "fake_sender.h"
#include "route/batch.h"

#define MAXREC 20000

typedef struct {
    config_t cfg;
    analyzer_spec_t specs[4];
    fake_t fake;
    deliver_t *d;
    unsigned char seen[MAXREC]; /* deliveries per record index */
} fx_t;

/* ---- set-up -------------------------------------------------------------------------- */

static void fx_init(fx_t *x, size_t nan, const double *weights)
{
    memset(x, 0, sizeof *x);
    config_defaults(&x->cfg);
    x->cfg.batch_max_records = 50;
    x->cfg.batch_linger_ms = 1;
    x->cfg.retry_base_ms = 1;
    x->cfg.retry_max_ms = 4;
    x->cfg.health_interval_ms = 20;
    x->cfg.health_rise = 1;
    x->cfg.health_fall = 1;
    x->cfg.passive_fall = 1000;
    x->cfg.breaker_failures = 0;
    x->cfg.breaker_error_pct = 0;
    x->cfg.drain_timeout_ms = 5000;
    x->cfg.data_dir[0] = 0; /* dead letters in memory */
    for (size_t i = 0; i < nan; i++) {
        analyzer_spec_t *s = &x->specs[i];
        snprintf(s->id, sizeof s->id, "a%zu", i + 1);
        snprintf(s->url, sizeof s->url, "http://127.0.0.1:1/a%zu/ingest", i + 1);
        snprintf(s->health_url, sizeof s->health_url, "http://127.0.0.1:1/a%zu/health", i + 1);
        s->weight = weights[i];
    }
    x->cfg.analyzers = x->specs;
    x->cfg.analyzer_count = nan;
}

static void fx_start(fx_t *x)
{
    x->d = deliver_new_with_sender(&x->cfg, fake_sender_new, &x->fake);
    assert_non_null(x->d);
}

static void fx_free(fx_t *x)
{
    deliver_free(x->d);
    batch_fail_allocs_after(-1);
}

/* Run the loop for about `ms` milliseconds. */
static void run_for(fx_t *x, int ms)
{
    uint64_t end = now_ms() + (uint64_t)ms;
    do {
        event_base_loop(deliver_event_base(x->d), EVLOOP_NONBLOCK);
        usleep(200);
    } while (now_ms() < end);
}

/* Run the loop until `cond` holds (at most 10 s); evaluates to cond. */
#define WAIT(x, cond)                                                                   \
    ({                                                                                  \
        uint64_t end_ = now_ms() + 10000;                                               \
        while (!(cond) && now_ms() < end_) {                                            \
            event_base_loop(deliver_event_base((x)->d), EVLOOP_NONBLOCK);               \
            usleep(200);                                                                \
        }                                                                               \
        (cond);                                                                         \
    })

/* Run the loop (answering POSTs as the fake is set to) until pred holds; at most 10 s. */
static bool run_until(fx_t *x, bool (*pred)(fx_t *))
{
    uint64_t end = now_ms() + 10000;
    while (!pred(x) && now_ms() < end) {
        event_base_loop(deliver_event_base(x->d), EVLOOP_NONBLOCK);
        usleep(200);
    }
    return pred(x);
}

/* Queue a packet of records {"i":first..first+n-1} (after `pad` bytes of
 * padding in the body) as ingest does: charge its held bytes and records,
 * then push. */
static void push_padded(fx_t *x, size_t first, size_t n, size_t pad)
{
    packet_t *p = calloc(1, sizeof *p);
    assert_non_null(p);
    char *data = malloc(n * 32 + 1 + pad);
    p->records = calloc(n, sizeof *p->records);
    assert_true(data && p->records);
    memset(data, ' ', pad);
    size_t off = pad;
    for (size_t k = 0; k < n; k++) {
        int len = sprintf(data + off, "{\"i\":%zu}", first + k);
        p->records[k].rec.off = (uint32_t)off;
        p->records[k].rec.len = (uint32_t)len;
        p->record_bytes += (uint64_t)len;
        off += (size_t)len;
        data[off++] = '\n';
    }
    p->decoded = data;
    p->data = data;
    p->len = off;
    p->count = n;
    p->held_bytes = packet_held_bytes(p, n);
    pkt_queue_t *q = deliver_queue(x->d);
    queue_reserve_force(q, p->held_bytes, n);
    queue_push(q, p);
}

static void push(fx_t *x, size_t first, size_t n)
{
    push_padded(x, first, n, 0);
}

/* Count the records of a POST body into x->seen. */
static void count_body(fx_t *x, const char *body, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!root) fail_msg("batch body is not JSON: %s", jerr.text);
    json_t *msgs = json_object_get(root, "messages");
    for (size_t k = 0; k < json_array_size(msgs); k++) {
        json_int_t i = json_integer_value(json_object_get(json_array_get(msgs, k), "i"));
        assert_true(i >= 0 && i < MAXREC);
        x->seen[i]++;
    }
    json_decref(root);
}

/* Answer every open POST whose URL contains match (NULL: all): ok ones are
 * counted as delivered. Returns how many were answered. */
static int answer(fx_t *x, const char *match, bool ok)
{
    int n = 0;
    for (;;) {
        fake_req_t *r = x->fake.posts;
        while (r && match && !strstr(r->url, match)) r = r->next;
        if (!r) return n;
        if (ok) count_body(x, r->body, r->len);
        fake_answer(&x->fake, r->url, ok);
        n++;
    }
}

static void assert_each_once(const fx_t *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (x->seen[i] != 1) fail_msg("record %zu delivered %d times", i, x->seen[i]);
}

static bool budget_empty(fx_t *x)
{
    pkt_queue_t *q = deliver_queue(x->d);
    return queue_bytes(q) == 0 && queue_records(q) == 0;
}

static size_t g_want;
static bool all_delivered(fx_t *x)
{
    answer(x, NULL, true);
    size_t n = 0;
    for (size_t i = 0; i < g_want; i++) n += x->seen[i] != 0;
    return n == g_want && budget_empty(x);
}

static void snap_of(fx_t *x, const char *id, deliver_analyzer_snap_t *out)
{
    deliver_snapshot_t s;
    assert_int_equal(deliver_snapshot(x->d, id, &s), 0);
    assert_int_equal(s.count, 1);
    *out = s.analyzers[0];
    deliver_snapshot_free(&s);
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_delivers_all_budget_zero(void **state)
{
    (void)state;
    static fx_t x;
    fx_init(&x, 2, (const double[]){3, 1});
    fx_start(&x);
    uint64_t before = METRIC_GET(records_delivered);
    for (size_t k = 0; k < 10; k++) push(&x, k * 100, 100);
    g_want = 1000;
    assert_true(run_until(&x, all_delivered));
    assert_each_once(&x, 1000);
    assert_int_equal(METRIC_GET(records_delivered) - before, 1000);
    deliver_analyzer_snap_t a1, a2;
    snap_of(&x, "a1", &a1);
    snap_of(&x, "a2", &a2);
    assert_int_equal(a1.records_delivered, 750); /* SWRR 3:1, exact */
    assert_int_equal(a2.records_delivered, 250);
    assert_int_equal(a1.queue_bytes + a2.queue_bytes, 0);
    assert_int_equal(deliver_healthy_count(x.d), 2);
    fx_free(&x);
}

/* Finding 5: an allocation fails in the middle of a packet. The packet must be
 * kept (its records neither lost nor routed twice) and routed on from the
 * record where it stopped once memory is back; the budget comes back to 0. */
static void test_routing_enomem_resumes(void **state)
{
    (void)state;
    static fx_t x;
    fx_init(&x, 2, (const double[]){1, 1});
    fx_start(&x);
    uint64_t fails = METRIC_GET(routing_failures);
    run_for(&x, 5); /* health checks settle */
    batch_fail_allocs_after(3); /* 3 batches of 50 records, then ENOMEM */
    push(&x, 0, 500);
    assert_true(WAIT(&x, METRIC_GET(routing_failures) > fails));
    run_for(&x, 10); /* what was routed is sealed (linger) and sent */
    answer(&x, NULL, true);
    size_t got = 0;
    for (size_t i = 0; i < 500; i++) got += x.seen[i];
    assert_true(got > 0 && got < 500);                           /* what fitted went out */
    assert_int_equal(queue_records(deliver_queue(x.d)), 500 - got); /* the rest is kept */
    batch_fail_allocs_after(-1);
    g_want = 500;
    assert_true(run_until(&x, all_delivered));
    assert_each_once(&x, 500);
    fx_free(&x);
}

/* Finding 4: the budget charges memory held. A 4 MiB body with one tiny
 * record is charged at least 4 MiB while it waits (analyzer down); once it is
 * routed, only its sealed batch's cost; after delivery nothing. */
static void test_budget_charges_held_memory(void **state)
{
    (void)state;
    static fx_t x;
    fx_init(&x, 1, (const double[]){1});
    x.fake.get_fail[0] = "/a1/";
    fx_start(&x);
    assert_true(WAIT(&x, deliver_healthy_count(x.d) == 0));
    pkt_queue_t *q = deliver_queue(x.d);
    push_padded(&x, 0, 1, 4u << 20);
    run_for(&x, 10);
    assert_true(queue_bytes(q) >= (4u << 20));
    assert_int_equal(queue_records(q), 1);
    x.fake.get_fail[0] = NULL; /* up again: routed, sealed, sent */
    assert_true(WAIT(&x, x.fake.posts != NULL));
    assert_true(queue_bytes(q) > 0 && queue_bytes(q) < (1u << 20)); /* the batch, not the body */
    g_want = 1;
    assert_true(run_until(&x, all_delivered));
    fx_free(&x);
}

/* Failed POSTs to a1 are retried on a2; every record arrives once. */
static void test_retry_redistributes(void **state)
{
    (void)state;
    static fx_t x;
    fx_init(&x, 2, (const double[]){1, 1});
    fx_start(&x);
    uint64_t redis = METRIC_GET(records_redistributed);
    push(&x, 0, 400);
    uint64_t end = now_ms() + 10000;
    size_t n = 0;
    while (n < 400 && now_ms() < end) {
        event_base_loop(deliver_event_base(x.d), EVLOOP_NONBLOCK);
        answer(&x, "/a1/", false);
        answer(&x, "/a2/", true);
        n = 0;
        for (size_t i = 0; i < 400; i++) n += x.seen[i] != 0;
        usleep(200);
    }
    assert_int_equal(n, 400);
    assert_each_once(&x, 400);
    deliver_analyzer_snap_t a1, a2;
    snap_of(&x, "a1", &a1);
    snap_of(&x, "a2", &a2);
    assert_int_equal(a1.records_delivered, 0);
    assert_int_equal(a2.records_delivered, 400);
    assert_int_equal(a2.records_redistributed_in, 200);
    assert_int_equal(METRIC_GET(records_redistributed) - redis, 200);
    assert_true(a1.batches_failed >= 4);
    assert_true(budget_empty(&x));
    fx_free(&x);
}

/* One analyzer that always fails: each batch is tried max_attempts times,
 * then dead-lettered; its budget is released and it is counted. */
static void test_deadletter_after_max_attempts(void **state)
{
    (void)state;
    static fx_t x;
    fx_init(&x, 1, (const double[]){1});
    x.cfg.max_attempts = 3;
    fx_start(&x);
    uint64_t dead = METRIC_GET(records_deadlettered);
    push(&x, 0, 100); /* 2 batches of 50 */
    uint64_t end = now_ms() + 10000;
    while (METRIC_GET(records_deadlettered) - dead < 100 && now_ms() < end) {
        event_base_loop(deliver_event_base(x.d), EVLOOP_NONBLOCK);
        answer(&x, NULL, false);
        usleep(200);
    }
    assert_int_equal(METRIC_GET(records_deadlettered) - dead, 100);
    assert_int_equal(x.fake.nposts, 2 * 3);
    assert_true(budget_empty(&x));
    json_t *j = deliver_deadletter_json(x.d);
    assert_int_equal(json_integer_value(json_object_get(j, "records")), 100);
    assert_int_equal(json_integer_value(json_object_get(j, "batches")), 2);
    json_decref(j);
    fx_free(&x);
}

/* deliver_set_options: batch size and max_attempts from the new config take
 * effect for the next batches; deliver keeps its own copy (the caller's
 * config is neither kept nor written). */
static size_t body_records(const fake_req_t *r)
{
    json_error_t jerr;
    json_t *root = json_loadb(r->body, r->len, 0, &jerr);
    assert_non_null(root);
    size_t n = json_array_size(json_object_get(root, "messages"));
    json_decref(root);
    return n;
}

static void test_set_options(void **state)
{
    (void)state;
    static fx_t x;
    fx_init(&x, 1, (const double[]){1});
    x.cfg.max_attempts = 3;
    fx_start(&x);
    push(&x, 0, 100);
    assert_true(WAIT(&x, x.fake.nposts == 2));
    for (fake_req_t *r = x.fake.posts; r; r = r->next) assert_int_equal(body_records(r), 50);
    answer(&x, NULL, true);
    assert_true(WAIT(&x, budget_empty(&x)));
    config_t n = x.cfg;
    n.batch_max_records = 10;
    n.max_attempts = 2;
    n.max_inflight = x.cfg.max_inflight + 10; /* all ten batches at once */
    deliver_set_options(x.d, &n);
    memset(&n, 0, sizeof n); /* not kept */
    x.cfg.batch_max_records = 1000; /* nor is the config deliver was made from */
    uint64_t dead = METRIC_GET(records_deadlettered);
    push(&x, 100, 100);
    assert_true(WAIT(&x, x.fake.nposts == 2 + 10));
    for (fake_req_t *r = x.fake.posts; r; r = r->next) assert_int_equal(body_records(r), 10);
    uint64_t end = now_ms() + 10000;
    while (METRIC_GET(records_deadlettered) - dead < 100 && now_ms() < end) {
        event_base_loop(deliver_event_base(x.d), EVLOOP_NONBLOCK);
        answer(&x, NULL, false);
        usleep(200);
    }
    assert_int_equal(METRIC_GET(records_deadlettered) - dead, 100);
    assert_int_equal(x.fake.nposts, 2 + 10 * 2); /* two attempts each, not three */
    assert_true(budget_empty(&x));
    fx_free(&x);
}

/* Drain with analyzers answering: everything is delivered, nothing lost. */
static void test_drain_finishes(void **state)
{
    (void)state;
    static fx_t x;
    fx_init(&x, 2, (const double[]){1, 1});
    x.fake.auto_answer = x.fake.auto_ok = true;
    fx_start(&x);
    uint64_t delivered = METRIC_GET(records_delivered);
    push(&x, 0, 333);
    assert_int_equal(deliver_drain_and_stop(x.d), 0);
    assert_int_equal(METRIC_GET(records_delivered) - delivered, 333);
    assert_true(budget_empty(&x));
    fx_free(&x);
}

/* Drain past its timeout: what is not delivered is counted as lost, exactly. */
static void test_drain_timeout_counts_lost(void **state)
{
    (void)state;
    static fx_t x;
    fx_init(&x, 1, (const double[]){1});
    x.cfg.drain_timeout_ms = 100;
    x.fake.auto_answer = x.fake.auto_hang = true; /* analyzers never answer */
    fx_start(&x);
    uint64_t lost = METRIC_GET(records_lost_at_shutdown);
    push(&x, 0, 120);
    assert_int_equal(deliver_drain_and_stop(x.d), 120);
    assert_int_equal(METRIC_GET(records_lost_at_shutdown) - lost, 120);
    fx_free(&x); /* the open POSTs are cancelled: no leak (ASan) */
}

/* Breaker: 3 failures open it; no POST goes out before the cool-down ends;
 * then a probe is sent (half-open) and its success closes it. */
static void test_breaker_timing(void **state)
{
    (void)state;
    static fx_t x;
    fx_init(&x, 1, (const double[]){1});
    x.cfg.breaker_failures = 3;
    x.cfg.breaker_cooldown_ms = 150;
    x.cfg.breaker_max_cooldown_ms = 150;
    x.cfg.breaker_probes = 1;
    x.cfg.max_attempts = 100;
    x.cfg.max_inflight = 1;
    fx_start(&x);
    uint64_t trips = METRIC_GET(breaker_trips);
    push(&x, 0, 200); /* 4 batches */
    int failed = 0;
    uint64_t end = now_ms() + 10000, opened_ms = 0;
    while (failed < 3 && now_ms() < end) {
        event_base_loop(deliver_event_base(x.d), EVLOOP_NONBLOCK);
        if (x.fake.posts) {
            opened_ms = now_ms(); /* the answer that trips it is the last one */
            failed += answer(&x, NULL, false);
        }
        usleep(200);
    }
    assert_int_equal(failed, 3);
    assert_int_equal(METRIC_GET(breaker_trips) - trips, 1);
    deliver_analyzer_snap_t s;
    snap_of(&x, "a1", &s);
    assert_string_equal(s.breaker, "open");
    assert_string_equal(s.state, "open");
    long posts = x.fake.nposts;
    while (x.fake.nposts == posts && now_ms() < end) {
        event_base_loop(deliver_event_base(x.d), EVLOOP_NONBLOCK);
        usleep(200);
    }
    assert_int_equal(x.fake.nposts, posts + 1);           /* one probe */
    assert_true(now_ms() - opened_ms >= 150);             /* not before the cool-down */
    snap_of(&x, "a1", &s);
    assert_string_equal(s.breaker, "half_open");
    run_for(&x, 5);
    assert_int_equal(x.fake.posts_open, 1);               /* probes: 1 in flight at most */
    answer(&x, NULL, true);
    run_for(&x, 2);
    snap_of(&x, "a1", &s);
    assert_string_equal(s.breaker, "closed");
    g_want = 200;
    assert_true(run_until(&x, all_delivered));
    fx_free(&x);
}

/* Answer the oldest open POST (it must not be `not`): ok ones are counted. */
static void answer_oldest(fx_t *x, const fake_req_t *not, bool ok)
{
    fake_req_t *r = x->fake.posts;
    assert_non_null(r);
    assert_ptr_not_equal(r, not);
    if (ok) count_body(x, r->body, r->len);
    assert_true(fake_answer(&x->fake, NULL, ok));
}

/* Review finding: attempts sent before the trip, still in flight when the
 * breaker went half-open, were counted as probes: a late success closed the
 * breaker while the real probe was still out (a late failure re-opened it).
 * Only the probe's own result may decide. */
static void test_breaker_pre_trip_attempt_is_not_a_probe(void **state)
{
    (void)state;
    static fx_t x;
    fx_init(&x, 1, (const double[]){1});
    x.cfg.breaker_failures = 2;
    x.cfg.breaker_cooldown_ms = 100;
    x.cfg.breaker_max_cooldown_ms = 100;
    x.cfg.breaker_probes = 1;
    x.cfg.max_attempts = 100;
    x.cfg.max_inflight = 4;
    fx_start(&x);
    uint64_t trips = METRIC_GET(breaker_trips);
    push(&x, 0, 200); /* 4 batches, all in flight */
    assert_true(WAIT(&x, x.fake.posts_open == 4));
    answer_oldest(&x, NULL, false);
    answer_oldest(&x, NULL, false); /* 2 failures: open */
    assert_int_equal(METRIC_GET(breaker_trips) - trips, 1);
    deliver_analyzer_snap_t s;
    snap_of(&x, "a1", &s);
    assert_string_equal(s.breaker, "open");
    assert_int_equal(x.fake.posts_open, 2); /* sent before the trip, still out */
    long posts = x.fake.nposts;
    assert_true(WAIT(&x, x.fake.nposts == posts + 1)); /* the probe, after the cool-down */
    snap_of(&x, "a1", &s);
    assert_string_equal(s.breaker, "half_open");
    fake_req_t *probe = x.fake.posts;
    while (probe->next) probe = probe->next; /* the newest */
    answer_oldest(&x, probe, true); /* a pre-trip attempt succeeds late */
    run_for(&x, 5);
    snap_of(&x, "a1", &s);
    assert_string_equal(s.breaker, "half_open"); /* not closed by it */
    assert_int_equal(x.fake.nposts, posts + 1);  /* and no second probe went out */
    answer_oldest(&x, probe, false); /* the other one fails late */
    run_for(&x, 5);
    snap_of(&x, "a1", &s);
    assert_string_equal(s.breaker, "half_open"); /* not re-opened by it */
    assert_int_equal(METRIC_GET(breaker_trips) - trips, 1);
    assert_int_equal(x.fake.posts_open, 1);
    assert_ptr_equal(x.fake.posts, probe);
    answer(&x, NULL, true); /* the probe succeeds: closed */
    run_for(&x, 2);
    snap_of(&x, "a1", &s);
    assert_string_equal(s.breaker, "closed");
    g_want = 200;
    assert_true(run_until(&x, all_delivered));
    assert_each_once(&x, 200);
    fx_free(&x);
}

/* Review finding: in panic mode an analyzer whose breaker is open was
 * routable, so the records routed to it waited out its cool-down. In panic
 * an open breaker's batches go to an analyzer whose breaker is not open. */
static void test_panic_open_breaker_does_not_hold_batches(void **state)
{
    (void)state;
    static fx_t x;
    fx_init(&x, 2, (const double[]){1, 1});
    x.cfg.panic_threshold_pct = 60; /* 1 of 2 eligible: panic */
    x.cfg.breaker_failures = 2;
    x.cfg.breaker_cooldown_ms = 20000;
    x.cfg.breaker_max_cooldown_ms = 20000;
    x.cfg.max_attempts = 100;
    fx_start(&x);
    uint64_t trips = METRIC_GET(breaker_trips);
    push(&x, 0, 400);
    uint64_t end = now_ms() + 10000;
    while (METRIC_GET(breaker_trips) == trips && now_ms() < end) {
        event_base_loop(deliver_event_base(x.d), EVLOOP_NONBLOCK);
        answer(&x, "/a1/", false);
        answer(&x, "/a2/", true);
        usleep(200);
    }
    assert_int_equal(METRIC_GET(breaker_trips) - trips, 1);
    deliver_snapshot_t snap;
    assert_int_equal(deliver_snapshot(x.d, NULL, &snap), 0);
    assert_true(snap.panic);
    assert_string_equal(snap.analyzers[0].breaker, "open");
    deliver_snapshot_free(&snap);
    push(&x, 400, 400);
    /* everything arrives (on a2) long before a1's cool-down ends */
    end = now_ms() + 3000;
    size_t n = 0;
    while (n < 800 && now_ms() < end) {
        event_base_loop(deliver_event_base(x.d), EVLOOP_NONBLOCK);
        answer(&x, "/a1/", false); /* pre-trip stragglers */
        answer(&x, "/a2/", true);
        n = 0;
        for (size_t i = 0; i < 800; i++) n += x.seen[i] != 0;
        usleep(200);
    }
    assert_int_equal(n, 800);
    assert_each_once(&x, 800);
    deliver_analyzer_snap_t s;
    snap_of(&x, "a1", &s);
    assert_string_equal(s.breaker, "open");
    assert_int_equal(s.queued_records, 0);
    assert_true(WAIT(&x, budget_empty(&x)));
    fx_free(&x);
}

/* A failing health check marks a2 down: its records go to a1; /health counts 1. */
static void test_health_down_moves_share(void **state)
{
    (void)state;
    static fx_t x;
    fx_init(&x, 2, (const double[]){1, 1});
    x.fake.get_fail[0] = "/a2/";
    fx_start(&x);
    assert_true(WAIT(&x, deliver_healthy_count(x.d) == 1));
    deliver_analyzer_snap_t s;
    snap_of(&x, "a2", &s);
    assert_false(s.healthy);
    assert_string_equal(s.state, "down");
    assert_true(strstr(s.last_error, "health check") != NULL);
    push(&x, 0, 300);
    g_want = 300;
    assert_true(run_until(&x, all_delivered));
    snap_of(&x, "a1", &s);
    assert_int_equal(s.records_delivered, 300);
    x.fake.get_fail[0] = NULL; /* comes back */
    assert_true(WAIT(&x, deliver_healthy_count(x.d) == 2));
    fx_free(&x);
}

/* Slow start: the start-up analyzers do not ramp; one that comes back up
 * ramps from the floor to 1 over --slow-start-ms, never going down. */
static void test_slow_start_after_down(void **state)
{
    (void)state;
    static fx_t x;
    fx_init(&x, 2, (const double[]){1, 1});
    x.cfg.slow_start_ms = 1500; /* about 6 ticks of 250 ms */
    x.fake.get_fail[0] = "/a2/";
    fx_start(&x);
    deliver_analyzer_snap_t s;
    snap_of(&x, "a1", &s);
    assert_true(s.factor == 1 && s.factor_slow_start == 1 && s.effective_weight == 1);
    assert_true(WAIT(&x, deliver_healthy_count(x.d) == 1));
    x.fake.get_fail[0] = NULL; /* comes back */
    assert_true(WAIT(&x, deliver_healthy_count(x.d) == 2));
    snap_of(&x, "a2", &s);
    assert_true(s.factor_slow_start < 0.5);
    assert_true(s.effective_weight >= 0.1 && s.effective_weight < 0.5);
    assert_non_null(strstr(s.weight_reason, "slow start"));
    double last = s.effective_weight;
    int steps = 0;
    uint64_t end = now_ms() + 10000;
    while (last < 1 && now_ms() < end) {
        run_for(&x, 20);
        snap_of(&x, "a2", &s);
        assert_true(s.effective_weight >= last); /* a ramp: never down */
        steps += s.effective_weight > last;
        last = s.effective_weight;
    }
    assert_true(last == 1);
    assert_true(steps >= 3);
    assert_string_equal(s.weight_reason, "");
    fx_free(&x);
}

/* Weight hints on health-check answers: 50% halves the weight; a bad one is
 * counted and ignored; the TTL brings the configured weight back; off ignores. */
static void test_weight_hints(void **state)
{
    (void)state;
    static fx_t x;
    fx_init(&x, 2, (const double[]){1, 2});
    x.cfg.weight_hint_ttl_ms = 200;
    x.fake.hint_match = "/a2/";
    x.fake.hint = "50%";
    fx_start(&x);
    deliver_analyzer_snap_t s;
    assert_true(WAIT(&x, (snap_of(&x, "a2", &s), s.effective_weight == 1)));
    assert_true(s.factor_hint == 0.5 && s.weight_hints_accepted > 0);
    assert_non_null(strstr(s.weight_reason, "hint 50%"));
    x.fake.hint = "0.5"; /* absolute: a quarter of its weight 2 */
    assert_true(WAIT(&x, (snap_of(&x, "a2", &s), s.effective_weight == 0.5)));
    uint64_t refused = METRIC_GET(weight_hints_refused);
    x.fake.hint = "1e3";
    assert_true(WAIT(&x, (snap_of(&x, "a2", &s), s.weight_hints_refused > 0)));
    assert_true(METRIC_GET(weight_hints_refused) > refused);
    /* ignored, and no valid hint any more: the last one expires */
    assert_true(WAIT(&x, (snap_of(&x, "a2", &s), s.effective_weight == 2)));
    assert_true(s.factor == 1 && s.factor_hint == 1);
    config_t n = x.cfg;
    n.weight_hints = 0; /* off */
    deliver_set_options(x.d, &n);
    x.fake.hint = "50%";
    uint64_t ignored = METRIC_GET(weight_hints_ignored);
    assert_true(WAIT(&x, METRIC_GET(weight_hints_ignored) > ignored + 2));
    snap_of(&x, "a2", &s);
    assert_true(s.effective_weight == 2);
    fx_free(&x);
}

/* Admin calls without a thread run inline: add, update, remove. */
static void test_admin_calls(void **state)
{
    (void)state;
    static fx_t x;
    fx_init(&x, 1, (const double[]){1});
    fx_start(&x);
    analyzer_spec_t s = x.specs[0];
    assert_int_equal(deliver_analyzer_add(x.d, &s), -EEXIST);
    snprintf(s.id, sizeof s.id, "b1");
    snprintf(s.url, sizeof s.url, "http://127.0.0.1:1/b1/ingest");
    s.health_url[0] = 0;
    assert_int_equal(deliver_analyzer_add(x.d, &s), 0);
    assert_int_equal(deliver_analyzer_update(x.d, "b1", true, 3, -1, NULL, NULL), 0);
    assert_int_equal(deliver_analyzer_update(x.d, "zz", true, 3, -1, NULL, NULL), -ENOENT);
    analyzer_spec_t out;
    assert_int_equal(deliver_analyzer_spec(x.d, "b1", &out), 0);
    assert_true(out.weight == 3);
    push(&x, 0, 200);
    run_for(&x, 10);
    assert_int_equal(deliver_analyzer_remove(x.d, "b1", NULL, 0), 0); /* its batches move to a1 */
    assert_int_equal(deliver_analyzer_remove(x.d, "b1", NULL, 0), -ENOENT);
    g_want = 200;
    assert_true(run_until(&x, all_delivered));
    deliver_snapshot_t snap;
    assert_int_equal(deliver_snapshot(x.d, NULL, &snap), 0);
    assert_int_equal(snap.count, 1);
    deliver_snapshot_free(&snap);
    assert_int_equal(deliver_snapshot(x.d, "b1", &snap), -ENOENT);
    fx_free(&x);
}

/* Drained (issue 12): the weight is kept, no new record goes to the analyzer
 * (target share 0, state "drained", not counted healthy), but the batches it
 * already had are still delivered by it; undrain gives it its configured
 * share again from the next record. */
static void test_drain_keeps_weight(void **state)
{
    (void)state;
    static fx_t x;
    fx_init(&x, 2, (const double[]){2, 1});
    fx_start(&x);
    push(&x, 0, 300);
    run_for(&x, 20); /* a2's batches are in flight, not answered */
    deliver_analyzer_snap_t s;
    snap_of(&x, "a2", &s);
    uint64_t routed = s.records_routed;
    assert_int_equal(routed, 100); /* SWRR 2:1, exact */
    assert_int_equal(deliver_analyzer_update(x.d, "a2", false, 0, 1, NULL, NULL), 0);
    snap_of(&x, "a2", &s);
    assert_string_equal(s.state, "drained");
    assert_true(s.spec.drained);
    assert_true(s.spec.weight == 1);
    assert_true(s.target_share == 0);
    assert_true(s.effective_share == 0);
    assert_int_equal(deliver_healthy_count(x.d), 1);
    push(&x, 300, 300);
    g_want = 600;
    assert_true(run_until(&x, all_delivered));
    assert_each_once(&x, 600);
    snap_of(&x, "a2", &s);
    assert_int_equal(s.records_routed, routed);    /* nothing new */
    assert_int_equal(s.records_delivered, routed); /* what it had was delivered by it */
    /* a weight change while drained keeps it drained */
    assert_int_equal(deliver_analyzer_update(x.d, "a2", true, 2, -1, NULL, NULL), 0);
    snap_of(&x, "a2", &s);
    assert_string_equal(s.state, "drained");
    assert_true(s.spec.weight == 2);
    /* undrain: back at its configured weight (2 of 4) */
    assert_int_equal(deliver_analyzer_update(x.d, "a2", false, 0, 0, NULL, NULL), 0);
    snap_of(&x, "a2", &s);
    assert_string_equal(s.state, "up");
    assert_false(s.spec.drained);
    assert_true(s.target_share == 0.5);
    assert_int_equal(deliver_healthy_count(x.d), 2);
    push(&x, 600, 400);
    g_want = 1000;
    assert_true(run_until(&x, all_delivered));
    assert_each_once(&x, 1000);
    snap_of(&x, "a2", &s);
    uint64_t got = s.records_routed - routed;
    if (got < 198 || got > 202) fail_msg("a2 got %llu of 400 after undrain, want 200 +- 2",
                                         (unsigned long long)got);
    fx_free(&x);
}

static int reset_hook(void **state)
{
    (void)state;
    batch_fail_allocs_after(-1); /* a failed test must not leave allocations failing */
    return 0;
}

/* Item 7: GET /health must not wait on the delivery thread. The delivery
 * thread is held inside a health check (the fake blocks it); the healthy count
 * is still answered at once from the published atomic. */
static sem_t g_blocked, g_release, g_done;
static atomic_bool g_block;
static atomic_int g_count = -1;

static void block_loop(void *arg)
{
    (void)arg;
    if (!atomic_exchange(&g_block, false)) return;
    sem_post(&g_blocked);
    sem_wait(&g_release); /* the delivery thread stops here */
}

static void *ask_health(void *arg)
{
    atomic_store(&g_count, deliver_healthy_count(arg));
    sem_post(&g_done);
    return NULL;
}

static bool sem_wait_s(sem_t *s, int secs)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += secs;
    while (sem_timedwait(s, &ts))
        if (errno != EINTR) return false;
    return true;
}

static void test_health_count_never_waits(void **state)
{
    (void)state;
    static fx_t x;
    fx_init(&x, 2, (const double[]){1, 1});
    x.fake.on_get = block_loop;
    sem_init(&g_blocked, 0, 0);
    sem_init(&g_release, 0, 0);
    sem_init(&g_done, 0, 0);
    fx_start(&x);
    assert_int_equal(deliver_start(x.d), 0);
    atomic_store(&g_block, true);
    assert_true(sem_wait_s(&g_blocked, 10)); /* the delivery thread is stuck in a check */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, ask_health, x.d), 0);
    bool answered = sem_wait_s(&g_done, 3);
    sem_post(&g_release); /* let it go in any case, so the test ends */
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(answered);
    assert_int_equal(atomic_load(&g_count), 2);
    deliver_drain_and_stop(x.d);
    fx_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_delivers_all_budget_zero, reset_hook),
        cmocka_unit_test_teardown(test_routing_enomem_resumes, reset_hook),
        cmocka_unit_test_teardown(test_budget_charges_held_memory, reset_hook),
        cmocka_unit_test_teardown(test_retry_redistributes, reset_hook),
        cmocka_unit_test_teardown(test_deadletter_after_max_attempts, reset_hook),
        cmocka_unit_test_teardown(test_set_options, reset_hook),
        cmocka_unit_test_teardown(test_drain_finishes, reset_hook),
        cmocka_unit_test_teardown(test_drain_timeout_counts_lost, reset_hook),
        cmocka_unit_test_teardown(test_breaker_timing, reset_hook),
        cmocka_unit_test_teardown(test_breaker_pre_trip_attempt_is_not_a_probe, reset_hook),
        cmocka_unit_test_teardown(test_panic_open_breaker_does_not_hold_batches, reset_hook),
        cmocka_unit_test_teardown(test_health_down_moves_share, reset_hook),
        cmocka_unit_test_teardown(test_slow_start_after_down, reset_hook),
        cmocka_unit_test_teardown(test_weight_hints, reset_hook),
        cmocka_unit_test_teardown(test_admin_calls, reset_hook),
        cmocka_unit_test_teardown(test_drain_keeps_weight, reset_hook),
        cmocka_unit_test_teardown(test_health_count_never_waits, reset_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
