/*
 * test_cluster_limits.c - cmocka table test of cluster_limit_share
 * (src/app/cluster_limits.c): one node's share of a global rate limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "app/cluster_limits.h"

static void test_share(void **state)
{
    (void)state;
    static const struct {
        uint64_t global;
        unsigned live;
        uint64_t want;
    } cases[] = {
        {0, 3, 0},       /* off stays off */
        {3000, 0, 3000}, /* no count yet: the whole limit */
        {3000, 1, 3000},
        {3000, 2, 1500},
        {3000, 3, 1000},
        {1000, 3, 334}, /* rounded up: the sum never falls below the limit */
        {1, 20, 1},     /* never 0 (0 would mean off) */
        {1ull << 40, 200, 5497558139},
        {UINT64_MAX, 2, (UINT64_MAX / 2) + 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(cluster_limit_share(cases[i].global, cases[i].live), cases[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_share)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
