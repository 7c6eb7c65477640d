/*
 * test_queue_share.c - cmocka tests for src/route/queue_share.c: a table of
 * budgets, weights and queue sizes with the bases and allowances expected
 * (own share, borrowing idle shares, giving them back, the floor, the budget
 * cap, analyzers that take no records), and invariants over random inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "route/queue_share.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MAXA 4

typedef struct {
    const char *name;
    uint64_t budget, floor;
    size_t n;
    double weight[MAXA];
    uint64_t queued[MAXA];
    uint64_t base[MAXA];
    uint64_t allowance[MAXA];
    bool full[MAXA];
} share_case_t;

static const share_case_t cases[] = {
    {"all idle: everyone may borrow the whole budget", 1000, 0, 4, {4, 3, 2, 1}, {0, 0, 0, 0},
     {400, 300, 200, 100}, {1000, 1000, 1000, 1000}, {0}},
    {"each at its own share: nothing to borrow", 1000, 0, 4, {4, 3, 2, 1}, {400, 300, 200, 100},
     {400, 300, 200, 100}, {400, 300, 200, 100}, {true, true, true, true}},
    {"slow small analyzer borrows the idle shares", 1000, 0, 4, {4, 3, 2, 1}, {0, 0, 0, 700},
     {400, 300, 200, 100}, {900, 900, 900, 1000}, {0}},
    {"others get busy: the borrower's allowance shrinks", 1000, 0, 4, {4, 3, 2, 1},
     {350, 300, 200, 700},
     {400, 300, 200, 100}, {400, 350, 250, 150}, {false, false, false, true}},
    {"over its share, a busy one keeps only its own", 1000, 0, 2, {1, 1}, {900, 0},
     {500, 500}, {1000, 500}, {false, false}},
    {"floor keeps a tiny share's pipeline full", 1000, 150, 4, {97, 1, 1, 1}, {970, 10, 10, 10},
     {970, 10, 10, 10}, {970, 150, 150, 150}, {true, false, false, false}},
    {"floor larger than the budget is the budget", 100, 500, 2, {1, 1}, {0, 0},
     {50, 50}, {100, 100}, {0}},
    {"no weight: no share, never full", 1000, 100, 3, {0, 1, 1}, {900, 0, 0},
     {0, 500, 500}, {0, 1000, 1000}, {false, false, false}},
    {"nobody routable", 1000, 100, 2, {0, 0}, {10, 10}, {0, 0}, {0, 0}, {0}},
    {"fractional weights", 1000, 0, 3, {0.5, 0.25, 0.25}, {0, 250, 0},
     {500, 250, 250}, {750, 1000, 750}, {false, false, false}},
    {"rounding: the shares add up to the budget", 1000, 0, 3, {1, 1, 1}, {0, 0, 0},
     {334, 333, 333}, {1000, 1000, 1000}, {0}},
    {"zero budget: everything full", 0, 0, 2, {1, 1}, {0, 0}, {0, 0}, {0, 0}, {true, true}},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t c = 0; c < N(cases); c++) {
        const share_case_t *t = &cases[c];
        queue_share_t s[MAXA];
        for (size_t i = 0; i < t->n; i++) s[i] = (queue_share_t){.weight = t->weight[i], .queued = t->queued[i]};
        queue_share_compute(s, t->n, t->budget, t->floor);
        for (size_t i = 0; i < t->n; i++) {
            if (s[i].base != t->base[i] || s[i].allowance != t->allowance[i] ||
                queue_share_full(&s[i]) != t->full[i])
                fail_msg("%s: analyzer %zu: base %llu allowance %llu full %d, expected %llu %llu %d",
                         t->name, i, (unsigned long long)s[i].base, (unsigned long long)s[i].allowance,
                         queue_share_full(&s[i]), (unsigned long long)t->base[i],
                         (unsigned long long)t->allowance[i], t->full[i]);
        }
    }
}

/* Over random inputs: the bases add up to the budget exactly (0 when nobody
 * takes records) and every allowance lies in [max(base, floor), budget]. */
static void test_invariants(void **state)
{
    (void)state;
    srand(12345);
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = 1 + (size_t)rand() % MAXA;
        uint64_t budget = (uint64_t)rand() % 100000;
        uint64_t floor = (uint64_t)rand() % 20000;
        queue_share_t s[MAXA];
        double wsum = 0;
        for (size_t i = 0; i < n; i++) {
            s[i].weight = rand() % 4 == 0 ? 0 : (double)(1 + rand() % 1000) / 1000.0;
            s[i].queued = (uint64_t)rand() % 150000;
            wsum += s[i].weight;
        }
        queue_share_compute(s, n, budget, floor);
        uint64_t bsum = 0, own_floor = floor < budget ? floor : budget;
        for (size_t i = 0; i < n; i++) {
            bsum += s[i].base;
            if (s[i].weight <= 0) {
                assert_int_equal(s[i].base, 0);
                assert_int_equal(s[i].allowance, 0);
                assert_false(queue_share_full(&s[i]));
                continue;
            }
            assert_true(s[i].allowance >= s[i].base);
            assert_true(s[i].allowance >= own_floor);
            assert_true(s[i].allowance <= budget);
            assert_int_equal(queue_share_full(&s[i]), s[i].queued >= s[i].allowance);
        }
        assert_int_equal(bsum, wsum > 0 ? budget : 0);
    }
}

/* An analyzer that is idle gives its whole share away; one that uses all of it gives none. */
static void test_borrow_is_exactly_idle_part(void **state)
{
    (void)state;
    for (uint64_t q = 0; q <= 600; q += 50) {
        queue_share_t s[2] = {{.weight = 1, .queued = 0}, {.weight = 1, .queued = q}};
        queue_share_compute(s, 2, 1000, 0);
        uint64_t idle1 = q < 500 ? 500 - q : 0;
        assert_int_equal(s[0].allowance, 500 + idle1);
        assert_int_equal(s[1].allowance, 1000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_invariants),
        cmocka_unit_test(test_borrow_is_exactly_idle_part),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
