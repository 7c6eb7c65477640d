/*
 * test_queue.c - cmocka tests for src/store/queue.c: budget accounting of
 * queue_reserve/queue_release against max_bytes (kept in the queue object, read
 * through queue_bytes/queue_records; an empty queue always accepts one reservation), FIFO push/take_all,
 * the wake callback (only on empty -> non-empty), and a producer/consumer thread pair
 * moving 100,000 packets through a small budget in order.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/metrics.h"
#include "store/queue.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static packet_t *new_packet(uint64_t tag)
{
    packet_t *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->accepted_us = tag;
    p->record_bytes = tag;
    return p;
}

/* ---- budget -------------------------------------------------------------------------- */

enum { RES, REL };

/* One step: reserve (expect `ok`) or release; then the gauges must read bytes/records. */
struct step {
    int op;
    uint64_t bytes, records;
    bool ok;
    uint64_t want_bytes, want_records;
};

static void test_budget(void **state)
{
    static const struct {
        uint64_t max;
        struct step steps[16];
        int n;
    } cases[] = {
        {1000,
         {{RES, 400, 4, true, 400, 4},
          {RES, 600, 6, true, 1000, 10}, /* exactly full */
          {RES, 1, 1, false, 1000, 10},
          {RES, 0, 0, false, 1000, 10},  /* once full, refused until under 80 % */
          {REL, 600, 6, 0, 400, 4},
          {RES, 601, 1, false, 400, 4},
          {RES, 600, 2, true, 1000, 6},
          {REL, 1000, 6, 0, 0, 0}},
         8},
        /* empty queue: one reservation of any size is accepted, then nothing more */
        {1000,
         {{RES, 5000, 50, true, 5000, 50},
          {RES, 1, 1, false, 5000, 50},
          {REL, 5000, 50, 0, 0, 0},
          {RES, 1000, 1, true, 1000, 1},
          {RES, 1, 1, false, 1000, 1},
          {REL, 1000, 1, 0, 0, 0}},
         6},
        {0, /* zero budget: still one at a time */
         {{RES, 10, 1, true, 10, 1},
          {RES, 10, 1, false, 10, 1},
          {REL, 10, 1, 0, 0, 0},
          {RES, 1, 1, true, 1, 1},
          {REL, 1, 1, 0, 0, 0}},
         5},
        {UINT64_MAX / 2,
         {{RES, UINT64_MAX / 4, 1, true, UINT64_MAX / 4, 1},
          {RES, UINT64_MAX / 4, 1, true, UINT64_MAX / 4 * 2, 2},
          {RES, 2, 1, false, UINT64_MAX / 4 * 2, 2},
          {REL, UINT64_MAX / 4 * 2, 2, 0, 0, 0}},
         4},
    };
    (void)state;
    for (size_t c = 0; c < N(cases); c++) {
        pkt_queue_t *q = queue_new(cases[c].max, NULL, NULL);
        assert_non_null(q);
        for (int i = 0; i < cases[c].n; i++) {
            const struct step *s = &cases[c].steps[i];
            if (s->op == RES) {
                bool ok = queue_reserve(q, s->bytes, s->records);
                if (ok != s->ok)
                    fail_msg("case %zu step %d: reserve(%llu) = %d, want %d", c, i,
                             (unsigned long long)s->bytes, ok, s->ok);
            } else {
                queue_release(q, s->bytes, s->records);
            }
            if (queue_bytes(q) != s->want_bytes ||
                queue_records(q) != s->want_records)
                fail_msg("case %zu step %d: queued %llu bytes / %llu records, want %llu / %llu",
                         c, i, (unsigned long long)queue_bytes(q),
                         (unsigned long long)queue_records(q),
                         (unsigned long long)s->want_bytes,
                         (unsigned long long)s->want_records);
        }
        queue_free(q);
    }
}

/* ---- FIFO and wake ------------------------------------------------------------------- */

static int g_wakes;
static void *g_wake_arg;

static void count_wake(void *arg)
{
    g_wakes++;
    g_wake_arg = arg;
}

static void test_fifo_wake(void **state)
{
    (void)state;
    int marker;
    g_wakes = 0;
    g_wake_arg = NULL;
    pkt_queue_t *q = queue_new(1 << 20, count_wake, &marker);
    assert_non_null(q);
    assert_null(queue_take_all(q));
    assert_int_equal(g_wakes, 0);

    for (uint64_t i = 0; i < 5; i++) {
        packet_t *p = new_packet(i);
        p->next = (packet_t *)0x1; /* push must reset the link */
        queue_push(q, p);
        assert_int_equal(g_wakes, 1); /* only the first push found it empty */
    }
    assert_ptr_equal(g_wake_arg, &marker);
    packet_t *h = queue_take_all(q);
    uint64_t i = 0;
    for (packet_t *p = h; p;) {
        assert_int_equal(p->accepted_us, i++);
        packet_t *n = p->next;
        packet_free(p);
        p = n;
    }
    assert_int_equal(i, 5);
    assert_null(queue_take_all(q));
    assert_int_equal(g_wakes, 1);

    /* empty again: the next push wakes once more */
    queue_push(q, new_packet(10));
    assert_int_equal(g_wakes, 2);
    queue_push(q, new_packet(11));
    assert_int_equal(g_wakes, 2);
    h = queue_take_all(q);
    assert_non_null(h);
    assert_int_equal(h->accepted_us, 10);
    assert_int_equal(h->next->accepted_us, 11);
    assert_null(h->next->next);
    packet_free(h->next);
    packet_free(h);

    /* queue_free frees what is still queued (ASan: no leak) */
    queue_push(q, new_packet(20));
    queue_push(q, new_packet(21));
    assert_int_equal(g_wakes, 3);
    queue_free(q);
    queue_free(NULL);

    /* no wake callback */
    q = queue_new(1 << 20, NULL, NULL);
    assert_non_null(q);
    queue_push(q, new_packet(1));
    packet_free(queue_take_all(q));
    queue_free(q);
}

/* ---- two threads --------------------------------------------------------------------- */

enum { TOTAL = 100000, PKT_BYTES = 10, BUDGET = 1000 };

struct pc {
    pkt_queue_t *q;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool woken;
    long wakes;
    long refused;
};

static void pc_wake(void *arg)
{
    struct pc *c = arg;
    pthread_mutex_lock(&c->mu);
    c->woken = true;
    c->wakes++;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void *producer(void *arg)
{
    struct pc *c = arg;
    for (uint64_t i = 0; i < TOTAL; i++) {
        while (!queue_reserve(c->q, PKT_BYTES, 1)) { /* backpressure: wait for releases */
            c->refused++;
            sched_yield();
        }
        packet_t *p = calloc(1, sizeof *p);
        if (!p) abort();
        p->accepted_us = i;
        queue_push(c->q, p);
    }
    return NULL;
}

static void test_two_threads(void **state)
{
    (void)state;
    struct pc c = {0};
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    c.q = queue_new(BUDGET, pc_wake, &c);
    assert_non_null(c.q);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, producer, &c), 0);

    uint64_t next = 0;
    long takes = 0;
    bool in_order = true;
    while (next < TOTAL) {
        packet_t *h = queue_take_all(c.q);
        if (!h) {
            pthread_mutex_lock(&c.mu);
            while (!c.woken) pthread_cond_wait(&c.cv, &c.mu);
            c.woken = false;
            pthread_mutex_unlock(&c.mu);
            continue;
        }
        takes++;
        uint64_t n = 0;
        while (h) {
            packet_t *nx = h->next;
            if (h->accepted_us != next) in_order = false;
            next++;
            n++;
            packet_free(h);
            h = nx;
        }
        if (queue_bytes(c.q) > BUDGET) in_order = false;
        queue_release(c.q, n * PKT_BYTES, n);
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(in_order);
    assert_int_equal(next, TOTAL);
    assert_null(queue_take_all(c.q));
    assert_int_equal(queue_bytes(c.q), 0);
    assert_int_equal(queue_records(c.q), 0);
    /* a wake per empty -> non-empty transition: never more than one per batch taken */
    assert_true(c.wakes >= 1 && c.wakes <= takes);
    print_message("    %ld takes, %ld wakes, %ld refused reservations\n", takes, c.wakes,
                  c.refused);
    queue_free(c.q);
    pthread_mutex_destroy(&c.mu);
    pthread_cond_destroy(&c.cv);
}

/* ---- metrics read the queue's budget (the queue is its only writer) ------------------ */

static void read_gauges(const void *ctx, uint64_t *bytes, uint64_t *records)
{
    *bytes = queue_bytes(ctx);
    *records = queue_records(ctx);
}

static void test_metrics_reader(void **state)
{
    (void)state;
    pkt_queue_t *q = queue_new(1000, NULL, NULL);
    assert_non_null(q);
    metrics_set_queue_reader(NULL, NULL);
    assert_int_equal(metrics_queued_bytes(), 0);
    metrics_set_queue_reader(read_gauges, q);
    assert_true(queue_reserve(q, 300, 3));
    assert_int_equal(metrics_queued_bytes(), 300);
    assert_int_equal(metrics_queued_records(), 3);
    json_t *m = metrics_to_json();
    assert_int_equal(json_integer_value(json_object_get(m, "queued_bytes")), 300);
    assert_int_equal(json_integer_value(json_object_get(m, "queued_records")), 3);
    json_decref(m);
    queue_release(q, 300, 3);
    assert_int_equal(metrics_queued_bytes(), 0);
    assert_int_equal(queue_max_bytes(q), 1000);
    metrics_set_queue_reader(NULL, NULL);
    queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_reader),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_fifo_wake),
        cmocka_unit_test(test_two_threads),
    };
    return cmocka_run_group_tests_name("queue", tests, NULL, NULL);
}
