/*
 * deadletter.h - batches whose delivery attempts ran out, kept with the reason
 * and the last analyzer tried, so an operator can inspect them.
 *
 * In memory and bounded (max_bytes): when full, the oldest entries are evicted
 * and counted in metrics (records_deadletter_evicted). Owned by the delivery
 * thread. The durability issue replaces this with an on-disk log behind the
 * same interface.
 */
#ifndef LOGDIST_DEADLETTER_H
#define LOGDIST_DEADLETTER_H

#include <jansson.h>
#include <stdint.h>

#include "deliver/batch.h"

typedef struct deadletter deadletter_t;

deadletter_t *deadletter_new(uint64_t max_bytes);
void deadletter_free(deadletter_t *d);

/* Take ownership of a batch that could not be delivered. `reason` and the
 * batch's last_analyzer are recorded with it. */
void deadletter_add(deadletter_t *d, batch_t *b, const char *reason);

/* {"count_records","count_batches","bytes","oldest_ms","evicted_records","sample":[...]} with
 * up to `sample` most recent entries (batch id, records, reason, analyzer, time). */
json_t *deadletter_to_json(const deadletter_t *d, size_t sample);

/* Drop everything. Returns the number of records purged. */
uint64_t deadletter_purge(deadletter_t *d);

#endif
