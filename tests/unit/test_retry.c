/*
 * test_retry.c - cmocka tests for src/deliver/retry.c (pure): when a batch
 * gives up, the backoff sequence (doubling, capped, equal jitter within
 * [d/2, d] for every random value), the drain cap, no overflow at huge attempt
 * counts, and the xorshift generator (never 0, repeatable from a seed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "deliver/retry.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_give_up(void **state)
{
    (void)state;
    static const struct {
        uint32_t max, attempts;
        bool give_up;
    } cases[] = {
        {1, 1, true},  {3, 1, false}, {3, 2, false}, {3, 3, true},
        {3, 4, true},  {8, 7, false}, {8, 8, true},  {UINT32_MAX, UINT32_MAX - 1, false},
    };
    for (size_t i = 0; i < N(cases); i++) {
        retry_policy_t p = {10, 1000, cases[i].max, 50};
        if (retry_give_up(&p, cases[i].attempts) != cases[i].give_up)
            fail_msg("case %zu: max %u attempts %u", i, cases[i].max, cases[i].attempts);
    }
}

static void test_backoff(void **state)
{
    (void)state;
    /* (base, max, attempts) -> the capped delay d; waits must lie in [d/2, d] */
    static const struct {
        uint32_t base, max, attempts;
        uint64_t d;
    } cases[] = {
        {50, 5000, 1, 50},     {50, 5000, 2, 100},   {50, 5000, 3, 200},
        {50, 5000, 7, 3200},   {50, 5000, 8, 5000},  {50, 5000, 100, 5000},
        {50, 5000, UINT32_MAX, 5000}, {1, 4, 1, 1}, {1, 4, 3, 4},
        {0, 100, 5, 0},        {300, 200, 1, 200}, /* base above the cap */
    };
    static const uint64_t rnd[] = {0, 1, 499, 500, 999, 1000, 1001, UINT64_MAX};
    for (size_t i = 0; i < N(cases); i++) {
        retry_policy_t p = {cases[i].base, cases[i].max, 8, 50};
        uint64_t d = cases[i].d, lo = d / 2, seen_lo = UINT64_MAX, seen_hi = 0;
        for (size_t r = 0; r < N(rnd); r++) {
            uint64_t ms = retry_backoff_ms(&p, cases[i].attempts, rnd[r], false);
            if (ms < lo || ms > d)
                fail_msg("case %zu rnd %llu: %llu not in [%llu, %llu]", i,
                         (unsigned long long)rnd[r], (unsigned long long)ms,
                         (unsigned long long)lo, (unsigned long long)d);
            if (ms < seen_lo) seen_lo = ms;
            if (ms > seen_hi) seen_hi = ms;
        }
        assert_int_equal(seen_lo, lo); /* rnd 0 gives the fixed half */
        assert_int_equal(seen_hi, d);  /* rnd 1000 gives all of it */
    }
}

static void test_drain_cap(void **state)
{
    (void)state;
    retry_policy_t p = {50, 5000, 8, 50};
    for (uint32_t a = 1; a < 20; a++)
        for (uint64_t r = 0; r < 2000; r += 97) {
            assert_true(retry_backoff_ms(&p, a, r, true) <= 50);
            assert_true(retry_backoff_ms(&p, a, r, true) == (retry_backoff_ms(&p, a, r, false) < 50
                                                                 ? retry_backoff_ms(&p, a, r, false)
                                                                 : 50));
        }
}

static void test_rand(void **state)
{
    (void)state;
    uint64_t a = 12345, b = 12345;
    for (int i = 0; i < 10000; i++) {
        uint64_t x = retry_rand(&a);
        assert_true(x != 0);
        assert_int_equal(x, retry_rand(&b));
    }
    uint64_t c = 1;
    assert_true(retry_rand(&c) != retry_rand(&c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_give_up),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_drain_cap),
        cmocka_unit_test(test_rand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
