/*
 * deadletter.h - batches whose delivery attempts ran out, kept with the reason
 * and the last analyzer tried, so an operator can inspect, replay or purge them.
 *
 * Two modes behind one interface:
 *   deadletter_open(dir, ...)  - on disk: an append-only log <dir>/deadletter.log
 *       (entries framed like the WAL: u32 len | u32 crc32c | JSON meta "\n" batch body),
 *       fdatasync'ed per entry, survives restarts; only metadata stays in memory.
 *   deadletter_new(max_bytes)  - in memory only.
 * Bounded by max_bytes: a batch that does not fit is dropped and counted in
 * metrics (records_deadletter_evicted). Owned by the delivery thread.
 */
#ifndef LOGDIST_DEADLETTER_H
#define LOGDIST_DEADLETTER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "deliver/batch.h"

typedef struct deadletter deadletter_t;

deadletter_t *deadletter_new(uint64_t max_bytes);

/* Open (or create) the on-disk store in dir, loading the metadata of what is
 * there (a torn tail is cut). NULL on failure with a message in err. */
deadletter_t *deadletter_open(const char *dir, uint64_t max_bytes, char *err, size_t errlen);

void deadletter_free(deadletter_t *d);

/* Take ownership of a batch that could not be delivered. `reason` and the
 * batch's last_analyzer are recorded with it. Returns 0, or -1 when it was
 * dropped (store full or disk error; counted). */
int deadletter_add(deadletter_t *d, batch_t *b, const char *reason);

/* {"records","batches","bytes","max_bytes","oldest_ms","evicted_records","sample":[...]} with
 * up to `sample` most recent entries (batch id, records, attempts, reason, analyzer, time). */
json_t *deadletter_to_json(const deadletter_t *d, size_t sample);

/* Bodies of every stored batch, oldest first (for replay): *bodies is a
 * malloc'd array of malloc'd strings, *lens their lengths; caller frees all.
 * Returns the count, or a negative errno. */
long deadletter_read_all(deadletter_t *d, char ***bodies, size_t **lens);

/* Remove the k oldest entries (what a replay took). Returns 0 or a negative errno. */
int deadletter_remove_first(deadletter_t *d, uint64_t k);

/* Drop everything. Returns the number of records purged. */
uint64_t deadletter_purge(deadletter_t *d);

/* Record count (for metrics). */
uint64_t deadletter_records(const deadletter_t *d);

#endif
