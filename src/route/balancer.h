/*
 * balancer.h - weighted choice of an analyzer slot, record by record.
 *
 * Pure algorithm, no I/O, no locks: the router owns one balancer and calls
 * balancer_pick() once per record. Slots are small integers handed out by
 * balancer_add(); the router maps them to analyzers.
 *
 * Strategies:
 *   BALANCER_SWRR   - smooth weighted round robin (nginx's algorithm), deterministic.
 *                     Over any prefix of the stream, the number of picks of slot i
 *                     differs from weight_i/total * picks by less than the number of
 *                     eligible slots (in practice by at most 1-2). This also holds
 *                     for prefixes counted from the last configuration change.
 *   BALANCER_RANDOM - weighted random choice (xorshift PRNG seeded at creation).
 *
 * A slot is eligible when it is up and its weight is > 0. Weights are finite
 * doubles >= 0 and are normalised internally (only ratios matter; they are
 * scaled to integers so SWRR arithmetic is exact). When a slot's eligibility
 * or weight changes, SWRR keeps the running state of the other slots and
 * resets the changed slot's, so the stream stays smooth (what exactly is kept,
 * and why, is described at the top of balancer.c).
 */
#ifndef LOGDIST_BALANCER_H
#define LOGDIST_BALANCER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h" /* balancer_strategy_t */

typedef struct balancer balancer_t;

#define BALANCER_NONE (-1) /* balancer_pick(): no eligible slot */
#define BALANCER_MAX_SLOTS 1024

/* Create an empty balancer. `seed` drives BALANCER_RANDOM (ignored by SWRR); equal
 * seeds give equal streams. Returns NULL on allocation failure or unknown strategy.
 * All memory (~42 KiB, room for BALANCER_MAX_SLOTS) is allocated here, never later. */
balancer_t *balancer_new(balancer_strategy_t strategy, uint64_t seed);
/* Free a balancer; NULL is accepted. */
void balancer_free(balancer_t *b);

/* Add a slot with `weight` (up by default). Returns the slot index (>= 0; freed
 * indexes are reused) or -EINVAL (weight not finite or < 0) / -ENOSPC. */
int balancer_add(balancer_t *b, double weight);

/* Remove a slot. Returns 0 or -ENOENT. */
int balancer_remove(balancer_t *b, int slot);

/* Change a slot's weight. Returns 0, -ENOENT or -EINVAL. Setting the weight it already
 * has is a no-op (the stream is not disturbed). */
int balancer_set_weight(balancer_t *b, int slot, double weight);

/* Mark a slot up (eligible if weight > 0) or down. Returns 0 or -ENOENT. Repeating the
 * current state is a no-op, so health checks may call it on every probe. */
int balancer_set_up(balancer_t *b, int slot, bool up);

/* Choose the slot for the next record. Returns a slot or BALANCER_NONE. Not
 * thread-safe; no allocation, O(eligible) for SWRR. */
int balancer_pick(balancer_t *b);

/* Like balancer_pick() but never returns `exclude` (used to redistribute a
 * failed batch away from the analyzer that failed). Falls back to BALANCER_NONE
 * when no other slot is eligible. Advances the same state as balancer_pick().
 * An `exclude` that is not an eligible slot excludes nothing. SWRR: as in nginx,
 * the excluded slot's state is left untouched; the prefix bound above is proven
 * only for streams of plain picks (in tests it still held after exclusion runs). */
int balancer_pick_excluding(balancer_t *b, int exclude);

/* Share of a slot among the eligible slots right now (0 when not eligible), from
 * the configured double weights. */
double balancer_share(const balancer_t *b, int slot);

/* Number of eligible slots. */
int balancer_eligible_count(const balancer_t *b);

#endif
