/*
 * test_histogram.c - cmocka tests for src/core/histogram.c and
 * src/core/window.c (pure): bucket placement at and around every bound,
 * cumulative snapshots, sum and count, bad bounds refused, quantiles by
 * interpolation (exact values), concurrent observers lose nothing, and the
 * 10-second window (slots reused, old seconds dropped).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/histogram.h"
#include "core/window.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_buckets(void **state)
{
    (void)state;
    static const uint64_t bounds[] = {10, 20, 50};
    static const struct {
        uint64_t v;
        size_t bucket; /* 3 = +Inf */
    } cases[] = {
        {0, 0}, {1, 0}, {10, 0}, {11, 1}, {20, 1}, {21, 2}, {50, 2}, {51, 3}, {UINT64_MAX / 4, 3}};
    for (size_t i = 0; i < N(cases); i++) {
        hist_t h;
        assert_int_equal(hist_init(&h, bounds, N(bounds), 1), 0);
        hist_observe(&h, cases[i].v);
        hist_snap_t s;
        hist_snapshot(&h, &s);
        assert_int_equal(s.count, 1);
        assert_int_equal(s.sum, cases[i].v);
        for (size_t b = 0; b <= N(bounds); b++)
            if (s.cumulative[b] != (b >= cases[i].bucket))
                fail_msg("case %zu (v=%llu): cumulative[%zu] = %llu", i,
                         (unsigned long long)cases[i].v, b, (unsigned long long)s.cumulative[b]);
    }
}

static void test_snapshot_cumulative(void **state)
{
    (void)state;
    static const uint64_t bounds[] = {1, 5, 10};
    hist_t h;
    assert_int_equal(hist_init(&h, bounds, N(bounds), 1000), 0);
    static const uint64_t vals[] = {0, 1, 2, 5, 6, 7, 10, 11, 1000};
    for (size_t i = 0; i < N(vals); i++)
        hist_observe(&h, vals[i]);
    hist_snap_t s;
    hist_snapshot(&h, &s);
    static const uint64_t want[] = {2, 4, 7, 9};
    for (size_t i = 0; i < N(want); i++)
        assert_int_equal(s.cumulative[i], want[i]);
    assert_int_equal(s.count, 9);
    assert_int_equal(s.sum, 1042);
    assert_int_equal(s.nbounds, 3);
    assert_true(s.scale == 1000);
    assert_int_equal(s.bounds[2], 10);
}

static void test_bad_bounds(void **state)
{
    (void)state;
    static const uint64_t dup[] = {1, 1}, down[] = {5, 2};
    uint64_t many[HIST_MAX_BOUNDS + 1];
    for (size_t i = 0; i < N(many); i++)
        many[i] = i + 1;
    hist_t h;
    assert_int_equal(hist_init(&h, dup, 2, 1), -EINVAL);
    assert_int_equal(h.nbounds, 0);
    assert_int_equal(hist_init(&h, down, 2, 1), -EINVAL);
    assert_int_equal(hist_init(&h, many, N(many), 1), -EINVAL);
    assert_int_equal(hist_init(&h, many, HIST_MAX_BOUNDS, 1), 0);
    assert_int_equal(hist_init(&h, many, 2, 0), -EINVAL);
    assert_int_equal(hist_init(&h, many, 0, 1), 0); /* only +Inf */
    hist_observe(&h, 7);
    hist_snap_t s;
    hist_snapshot(&h, &s);
    assert_int_equal(s.cumulative[0], 1);
    assert_int_equal(s.count, 1);
}

static void test_quantile(void **state)
{
    (void)state;
    static const uint64_t bounds[] = {100, 200, 400};
    /* per bucket counts -> (q, expected value in base units, scale 100) */
    static const struct {
        uint64_t in[4]; /* values 50, 150, 300, 1000 observed in[i] times */
        double q, want;
    } cases[] = {
        {{0, 0, 0, 0}, 0.5, 0},
        {{10, 0, 0, 0}, 0.5, 0.5}, /* 0 + 100 * 5/10 = 50 units */
        {{10, 0, 0, 0}, 1.0, 1.0},
        {{10, 10, 0, 0}, 0.5, 1.0},  /* rank 10: the top of the first bucket */
        {{10, 10, 0, 0}, 0.75, 1.5}, /* rank 15: 100 + 100 * 5/10 */
        {{0, 0, 4, 0}, 0.25, 2.5},   /* rank 1 of 4 in (200,400]: 250 */
        {{1, 0, 0, 3}, 0.9, 4.0},    /* in +Inf: the last bound */
        {{4, 0, 0, 0}, 0.0, 0.0},
    };
    static const uint64_t vals[] = {50, 150, 300, 1000};
    for (size_t i = 0; i < N(cases); i++) {
        hist_t h;
        assert_int_equal(hist_init(&h, bounds, N(bounds), 100), 0);
        for (size_t b = 0; b < 4; b++)
            for (uint64_t k = 0; k < cases[i].in[b]; k++)
                hist_observe(&h, vals[b]);
        hist_snap_t s;
        hist_snapshot(&h, &s);
        double got = hist_quantile(&s, cases[i].q);
        if (got != cases[i].want)
            fail_msg("case %zu: q=%g got %.17g want %.17g", i, cases[i].q, got, cases[i].want);
    }
}

#define THREADS 4
#define PER_THREAD 100000

static void *observer(void *arg)
{
    hist_t *h = arg;
    for (uint64_t i = 0; i < PER_THREAD; i++)
        hist_observe(h, i % 30);
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    static const uint64_t bounds[] = {9, 19};
    static hist_t h;
    assert_int_equal(hist_init(&h, bounds, N(bounds), 1), 0);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, observer, &h), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    hist_snap_t s;
    hist_snapshot(&h, &s);
    assert_int_equal(s.count, (uint64_t)THREADS * PER_THREAD);
    /* i % 30 over 100000 values: 0..9 -> 33340, 10..19 -> 33330, 20..29 -> 33330 per thread */
    assert_int_equal(s.cumulative[0], (uint64_t)THREADS * 33340);
    assert_int_equal(s.cumulative[1], (uint64_t)THREADS * 66670);
    /* sum of i % 30: 3333 full cycles of 435 + 0..9 (45) */
    assert_int_equal(s.sum, (uint64_t)THREADS * (3333 * 435 + 45));
}

static void test_default_bounds(void **state)
{
    (void)state;
    hist_t h;
    assert_int_equal(hist_init(&h, hist_duration_us_bounds, HIST_DURATION_N, 1e6), 0);
    assert_int_equal(hist_init(&h, hist_records_bounds, HIST_RECORDS_N, 1), 0);
}

static void test_window(void **state)
{
    (void)state;
    window_t w = {0};
    assert_int_equal(window_sum(&w, 0), 0);
    assert_int_equal(window_sum(&w, 1000), 0);
    window_add(&w, 100, 5);
    window_add(&w, 100, 2);
    window_add(&w, 105, 10);
    static const struct {
        uint64_t now, want;
    } cases[] = {{99, 0},   {100, 7},  {104, 7}, {105, 17}, {109, 17},
                 {110, 10}, {114, 10}, {115, 0}, {1000, 0}};
    for (size_t i = 0; i < N(cases); i++)
        if (window_sum(&w, cases[i].now) != cases[i].want)
            fail_msg("case %zu: now %llu sum %llu want %llu", i, (unsigned long long)cases[i].now,
                     (unsigned long long)window_sum(&w, cases[i].now),
                     (unsigned long long)cases[i].want);
    window_add(&w, 110, 1); /* reuses the slot of second 100: its 7 are gone */
    assert_int_equal(window_sum(&w, 110), 11);
    assert_int_equal(window_sum(&w, 105), 10);
    window_add(&w, 0, 3); /* second 0 is a real second (stamps are +1) */
    assert_int_equal(window_sum(&w, 0), 3);
    assert_int_equal(window_sum(&w, 9), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),    cmocka_unit_test(test_snapshot_cumulative),
        cmocka_unit_test(test_bad_bounds), cmocka_unit_test(test_quantile),
        cmocka_unit_test(test_concurrent), cmocka_unit_test(test_default_bounds),
        cmocka_unit_test(test_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
