/*
 * retry.h - the retry policy of failed deliveries, as pure functions (no
 * clock, no I/O, no global state): whether a batch has run out of attempts,
 * and how long it waits before the next one.
 *
 * Backoff after the n-th failed attempt (n >= 1): base_ms * 2^(n-1), capped
 * at max_ms, with "equal jitter" (half fixed, half drawn from `rnd`), so the
 * wait lies in [d/2, d] for that capped d. While draining at shutdown the
 * wait is at most drain_cap_ms, so the drain timeout is spent sending.
 */
#ifndef LOGDIST_RETRY_H
#define LOGDIST_RETRY_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint32_t base_ms;      /* first backoff (before jitter) */
    uint32_t max_ms;       /* cap of the doubling */
    uint32_t max_attempts; /* attempts before a batch is dead-lettered (>= 1) */
    uint32_t drain_cap_ms; /* cap while draining */
} retry_policy_t;

/* After `attempts` failed attempts, does the batch go to the dead letters? */
bool retry_give_up(const retry_policy_t *p, uint32_t attempts);

/* Wait in ms before the next attempt, after `attempts` (>= 1) failed ones;
 * rnd is any random 64-bit value (retry_rand). */
uint64_t retry_backoff_ms(const retry_policy_t *p, uint32_t attempts, uint64_t rnd,
                          bool draining);

/* xorshift64: next pseudo-random value of *state (state must not be 0). */
uint64_t retry_rand(uint64_t *state);

#endif
