/*
 * replay_wal.h - `logdistd --replay-wal DIR --to URL`: the takeover of an
 * abandoned node's write-ahead log (docs/CLUSTER.md).
 *
 * Opens the WAL in DIR (a node's --data-dir; that node must be stopped: nothing
 * else may have the WAL open), reads every record that was never acknowledged
 * (wal_replay, oldest first), POSTs them as JSON arrays of bounded size to a live
 * node's /api/v1/logs with X-Logdist-Durability: critical, and acknowledges in the
 * WAL exactly the records of the batches answered 202 (so a second run sends only
 * what failed). The first batch that fails (transport error or any non-202) stops
 * the sending: its records and all later ones stay unacknowledged. Prints one JSON
 * summary line on stdout: {"replay_wal":DIR,"records_sent":N,"records_failed":M,
 * "records_rejected":R,"batches":B}; exit 0 when nothing failed, 1 otherwise, 2 on
 * invalid use.
 *
 * The bearer token for the target comes from --token-file FILE (first line) or the
 * environment variable LOGDIST_TOKEN, never from the command line.
 */
#ifndef LOGDIST_REPLAY_WAL_H
#define LOGDIST_REPLAY_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when argv holds --replay-wal (then main hands over to replay_wal_main). */
bool replay_wal_requested(int argc, char **argv);

/* Run the takeover described above; returns the process exit status. */
int replay_wal_main(int argc, char **argv);

/* ---- pure parts, exposed for tests/unit/test_replay_wal.c ---- */

/* A batch under construction: "[r1,r2,...]" with the WAL seq of every record. */
typedef struct {
    char *buf; /* owned; NUL-terminated JSON array once closed */
    size_t len, cap;
    uint64_t *seqs; /* owned */
    size_t n;
    size_t max_records; /* bounds: a batch holds at most this many records */
    size_t max_bytes;   /* and at most this many body bytes, unless one record alone is larger */
} replay_batch_t;

/* Set up an empty batch with the given bounds (both > 0). 0 or -ENOMEM. */
int replay_batch_init(replay_batch_t *b, size_t max_records, size_t max_bytes);

/* Free the batch's memory. */
void replay_batch_free(replay_batch_t *b);

/* True when adding a record of `len` bytes would break a bound (the batch is then
 * to be sent first); never true for an empty batch. */
bool replay_batch_full_for(const replay_batch_t *b, size_t len);

/* Append one record (its JSON bytes as the WAL holds them). 0 or -ENOMEM. */
int replay_batch_add(replay_batch_t *b, uint64_t seq, const char *rec, size_t len);

/* Close the array ("]") so buf[0..len) is the body; the batch is non-empty. */
void replay_batch_close(replay_batch_t *b);

/* Empty the batch for reuse (keeps its memory). */
void replay_batch_reset(replay_batch_t *b);

/* The "accepted" count of a 202 answer body of n records: the number, capped at
 * n, or n when the body has none (an answer without a count took the packet). */
size_t replay_parse_accepted(const char *body, size_t len, size_t n);

/* The ingest URL for --to: URL itself when its path ends in /api/v1/logs, else
 * URL (without a trailing '/') + "/api/v1/logs". Writes into out; 0, or -EINVAL
 * when URL is not http(s):// or does not fit. */
int replay_logs_url(const char *url, char *out, size_t outsz);

#endif
