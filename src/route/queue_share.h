/*
 * queue_share.h - dynamic per-analyzer shares of the queue budget.
 *
 * The queue budget (max_queue_bytes, by default an eighth of --memory-limit)
 * bounds every record byte logdistd holds between the 202 and delivery. The
 * memory of one analyzer's sealed batches, waiting and in flight, is that
 * analyzer's queue. No queue has a fixed length; each may grow up to an
 * allowance that follows the load:
 *
 *   base(i)      = budget * weight(i) / (sum of the weights)   its own share
 *   idle(j)      = max(0, base(j) - queued(j))                  unused part of a share
 *   allowance(i) = max(floor, base(i) + sum over j != i of idle(j)), at most budget
 *
 * An analyzer that falls behind in a burst borrows the idle part of the
 * others' shares; as the others get busy their shares come back to them and
 * the borrower's allowance shrinks towards its own share. `floor` keeps a
 * small-weight analyzer's pipeline full (its in-flight slots and a sealed
 * batch waiting) however small its share; no allowance is below
 * min(floor, budget).
 *
 * Pure arithmetic, no state: the delivery thread calls it with its analyzers.
 */
#ifndef LOGDIST_QUEUE_SHARE_H
#define LOGDIST_QUEUE_SHARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    double weight;      /* in: routing weight; <= 0 means it gets no new records */
    uint64_t queued;    /* in: bytes held for it (its queue) */
    uint64_t base;      /* out: its own share of the budget (0 when weight <= 0) */
    uint64_t allowance; /* out: how far its queue may grow now (0 when weight <= 0) */
} queue_share_t;

/* Fill base and allowance of the n entries for this budget and floor. */
void queue_share_compute(queue_share_t *s, size_t n, uint64_t budget, uint64_t floor);

/* True when the entry takes records and its queue has reached its allowance. */
bool queue_share_full(const queue_share_t *s);

#endif
