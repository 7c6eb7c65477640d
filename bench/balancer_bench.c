/*
 * balancer_bench.c - micro-benchmark of balancer_pick(): ns/pick, 4 slots {4,3,2,1},
 * both strategies. Not a test. Build from the repository root:
 *   gcc -std=gnu11 -O2 -Isrc src/route/balancer.c bench/balancer_bench.c -o /tmp/bb -lm
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "route/balancer.h"

#define PICKS 100000000L

/* Monotonic time in nanoseconds. */
static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Time PICKS picks with `strategy`; print ns/pick and a checksum (keeps the loop alive). */
static void bench(balancer_strategy_t strategy, const char *name)
{
    static const double w[] = {4, 3, 2, 1};
    balancer_t *b = balancer_new(strategy, 1);
    if (!b) {
        fprintf(stderr, "balancer_new failed\n");
        exit(1);
    }
    for (int i = 0; i < 4; i++)
        balancer_add(b, w[i]);
    long sum = 0;
    double t0 = now_ns();
    for (long p = 0; p < PICKS; p++)
        sum += balancer_pick(b);
    double t1 = now_ns();
    printf("%-6s 4 slots: %.2f ns/pick (checksum %ld)\n", name, (t1 - t0) / PICKS, sum);
    balancer_free(b);
}

int main(void)
{
    bench(BALANCER_SWRR, "swrr");
    bench(BALANCER_RANDOM, "random");
    return 0;
}
