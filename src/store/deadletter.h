/*
 * deadletter.h - batches whose delivery attempts ran out, kept with the reason
 * and the last analyzer tried, so an operator can inspect, replay or purge them.
 * The store knows bytes and ids only (no batch_t: store never includes deliver).
 *
 * Two modes behind one interface:
 *   deadletter_open(dir, ...)  - on disk: an append-only log <dir>/deadletter.log,
 *       "LDDLQ01\n" then entries framed like the WAL:
 *           u32 len | u32 crc32c(payload) | payload = JSON meta "\n" body
 *       An entry's meta is {"batch_id","analyzer","reason","records","attempts","at_ms",
 *       "durable"}; a removal is a tombstone entry {"removed":"<batch id>","off":<offset
 *       of the entry removed>} with an empty body (the log is compacted when most of it
 *       is dead). Entries are indexed by id (hash): removals cost O(1) each. Every append is
 *       fdatasync'ed before the call returns 0; only metadata stays in memory.
 *   deadletter_new(max_bytes)  - in memory only (bodies are copied).
 *
 * Contract:
 *   - Bounded by max_bytes (sum of stored bodies). A durable entry (one holding
 *     records the WAL keeps until they are dead-lettered) is never evicted: when
 *     it does not fit, deadletter_add refuses (-ENOSPC) and the caller keeps its
 *     durable records in the WAL. To make room the store evicts non-durable
 *     entries, oldest first, and counts their records in
 *     g_metrics.records_deadletter_evicted. A refused add changes nothing.
 *   - Entries are removed by batch id (replay success, purge, eviction); the
 *     oldest matching entry goes.
 *   - Hostile files: deadletter_open bounds every length (no allocation bigger
 *     than DEADLETTER_META_MAX per entry while loading), cuts a torn or corrupt
 *     tail and logs it, and refuses a file that is not a dead-letter log.
 *   - Owned by one thread (the delivery thread); no locking inside.
 */
#ifndef LOGDIST_DEADLETTER_H
#define LOGDIST_DEADLETTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEADLETTER_ID_MAX 63      /* longest batch id */
#define DEADLETTER_META_MAX 4096  /* longest metadata line on disk */

typedef struct deadletter deadletter_t;

/* What to store: the store copies everything it keeps; the caller keeps ownership. */
typedef struct {
    const char *batch_id;      /* 1..DEADLETTER_ID_MAX bytes */
    const char *body;          /* the framed batch body, body[0..len) */
    size_t len;
    uint32_t records, attempts;
    const char *reason;        /* cut to 159 bytes (never inside a UTF-8 sequence) */
    const char *last_analyzer; /* cut to 64 bytes; may be NULL */
    bool durable;              /* holds records the WAL keeps until this add succeeds */
} deadletter_item_t;

/* One stored body for a replay (deadletter_read_all). */
typedef struct {
    char batch_id[DEADLETTER_ID_MAX + 1];
    char *body; /* malloc'd, NUL-terminated; len bytes */
    size_t len;
    uint32_t records;
} deadletter_body_t;

/* In-memory store. NULL on ENOMEM. */
deadletter_t *deadletter_new(uint64_t max_bytes);

/* Open (or create) the on-disk store in dir, loading the metadata of what is
 * there (a torn or corrupt tail is cut and logged). NULL on failure with a
 * message in err (a file that is not a dead-letter log is an error, not reset). */
deadletter_t *deadletter_open(const char *dir, uint64_t max_bytes, char *err, size_t errlen);

void deadletter_free(deadletter_t *d);

/* Store a copy of `it` (on disk: written and fdatasync'ed before returning 0),
 * evicting non-durable entries, oldest first, if that makes it fit. Returns 0,
 * -ENOSPC (does not fit without evicting a durable entry; nothing evicted),
 * -EIO (write/fsync failed; the log is as before), -EINVAL (bad id) or -ENOMEM.
 * Counts records_deadlettered on success; a refused item is the caller's to count. */
int deadletter_add(deadletter_t *d, const deadletter_item_t *it);

/* {"records","batches","bytes","max_bytes","persistent","oldest_ms","evicted_records",
 * "durable_records","sample":[...]} with up to `sample` most recent entries (batch id,
 * records, attempts, reason, analyzer, time, durable). Caller owns the reference. */
json_t *deadletter_to_json(const deadletter_t *d, size_t sample);

/* Copies of every stored body with its batch id, oldest first (for replay):
 * *out is a malloc'd array; free it with deadletter_bodies_free. Returns the
 * count, or a negative errno (-EIO when a stored entry no longer checks out). */
long deadletter_read_all(deadletter_t *d, deadletter_body_t **out);
void deadletter_bodies_free(deadletter_body_t *b, size_t n);

/* Remove the entry with this batch id (a replay re-queued it). 0, -ENOENT, -EIO. */
int deadletter_remove(deadletter_t *d, const char *batch_id);

/* Remove the entries named (unknown ids are skipped); *records gets the number
 * of records removed. ids == NULL: every entry stored now. 0 or -EIO (then
 * nothing was removed). */
int deadletter_purge(deadletter_t *d, const char *const *ids, size_t n, uint64_t *records);

/* Record count (for metrics). */
uint64_t deadletter_records(const deadletter_t *d);

#endif
