/*
 * retry.c - see retry.h.
 */
#include "deliver/retry.h"

bool retry_give_up(const retry_policy_t *p, uint32_t attempts)
{
    return attempts >= p->max_attempts;
}

uint64_t retry_backoff_ms(const retry_policy_t *p, uint32_t attempts, uint64_t rnd, bool draining)
{
    uint64_t ms = p->base_ms;
    for (uint32_t i = 1; i < attempts && ms < p->max_ms; i++) ms *= 2; /* no overflow: stops at the cap */
    if (ms > p->max_ms) ms = p->max_ms;
    ms = ms / 2 + (ms - ms / 2) * (rnd % 1001) / 1000; /* equal jitter: [ms/2, ms] */
    if (draining && ms > p->drain_cap_ms) ms = p->drain_cap_ms;
    return ms;
}

uint64_t retry_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}
