/*
 * wal.h - the write-ahead log of durable records: segmented, append-only files
 * in the data directory, every entry length-prefixed and CRC32C-checked.
 *
 * A durable record is appended (wal_append) and made durable by wal_sync
 * (write + fdatasync) before its packet is acknowledged to the agent. When the
 * record has been delivered or dead-lettered, wal_ack appends an ACK entry
 * (no fsync needed: a lost ACK only causes a duplicate after a crash). A
 * segment is deleted when it and every older segment hold no unacknowledged
 * record. At start, wal_open scans every segment, cuts a torn or corrupt tail
 * at the last good entry (and logs how much it cut), and wal_replay hands back
 * every record that was appended and never acknowledged, oldest first.
 *
 * On-disk format (little-endian), see docs/DURABILITY.md:
 *   segment file  wal-<16 hex segment number>.log
 *   header        "LDWAL02\n" u64 segment_number u64 next_seq         (24 bytes)
 *   entry         u32 len | u32 crc32c(type..payload) | u8 type | payload[len]
 *   RECORD (1)    u64 seq | record bytes
 *   ACK (2)       repeated { u64 first_seq | u32 count }
 *
 * Write and fsync failures (the fsync-gate):
 *   - A round is everything appended since the previous wal_flush/wal_sync.
 *     If any write of the round fails (or starting a new segment does), the
 *     whole round fails: every later append of the round returns the same
 *     error without touching the disk, wal_flush/wal_sync return it, and every
 *     record of the round is refused - acknowledged in the log (written with
 *     the next good write), so it is never replayed. The caller answers 503 for
 *     every packet of the round: none of them gets a 202 with bytes missing.
 *   - A failed write is cut off the segment (ftruncate to the last good
 *     write), and the segment stays in use. If the cut fails, the segment is
 *     abandoned like after an fsync failure.
 *   - After an fdatasync failure a file is never trusted again: the active
 *     segment is abandoned (closed, never written again; what it held from
 *     earlier, successfully synced rounds stays and is replayed) and the next
 *     write starts a new segment. wal_sync does this itself; a caller that
 *     syncs on another thread (wal_take_sync) calls wal_abandon.
 *   - While the disk keeps failing, every round fails at its first write or
 *     roll (one attempt per round, no retry loop); the first round after the
 *     fault clears succeeds. Nothing is latched across rounds.
 *   - The error is the syscall's: -ENOSPC (disk full) or another errno such
 *     as -EIO (disk error); ingest maps -ENOSPC to disk_full, the rest to
 *     disk_error.
 *   - A lost ACK (a failed or unsynced write of ACK entries) is only ever a
 *     duplicate after a crash, never a loss.
 *
 * Hostile disk content: a roll after segment 2^64-1 fails (-EOVERFLOW) instead
 * of wrapping to 0; record seqs are in [1, 2^62); one segment's records span
 * at most 2^24 seqs (the writer rolls before); an ACK run must be non-empty
 * and end below 2^62. An entry that breaks these is treated like a CRC failure
 * (the segment is cut before it, and logged), so opening costs bounded memory
 * and time per entry whatever the files hold. A record below the running
 * next_seq (above every seq accepted before it, older segments included, and
 * at least every header's next_seq up to its own) is ignored. So that what a
 * start accepts never depends on what a roll deleted, older segments are
 * deleted only up to one whose header next_seq is at least all that came
 * before it (always so for segments this writer made; a header below that is
 * logged at open).
 *
 * Not thread-safe: one thread (the durability writer, store/durable.c) owns it;
 * only wal_fdatasync_fd may be called from another thread.
 */
#ifndef LOGDIST_WAL_H
#define LOGDIST_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct wal wal_t;

/* The system calls of the write path, so tests can inject faults (ENOSPC, EIO,
 * short writes). Each behaves like the syscall of that name: -1 and errno on
 * failure. The table and ctx must outlive the log; the functions may be called
 * from any thread that holds a descriptor from wal_take_sync(). */
typedef struct {
    ssize_t (*write)(void *ctx, int fd, const void *buf, size_t len);
    int (*fdatasync)(void *ctx, int fd);
    int (*ftruncate)(void *ctx, int fd, off_t len);
    void *ctx;
} wal_io_t;

typedef struct {
    const char *dir;         /* created if missing */
    uint64_t segment_bytes;  /* roll to a new segment beyond this size (default 64 MiB) */
    uint64_t max_disk_bytes; /* budget for all segments; 0 = unlimited */
    const wal_io_t *io;      /* NULL = the real system calls */
} wal_options_t;

typedef struct {
    uint64_t segments;     /* segment files found */
    uint64_t records;      /* RECORD entries read */
    uint64_t acked;        /* of which acknowledged */
    uint64_t bytes_cut;    /* bytes removed from torn/corrupt tails */
    uint64_t segments_cut; /* segments that had a bad tail */
} wal_open_stats_t;

/* Open (or create) the log in o->dir and validate every segment, cutting bad
 * tails. Returns 0 and *out, or a negative errno. `stats` may be NULL. */
int wal_open(const wal_options_t *o, wal_t **out, wal_open_stats_t *stats);

/* Flush and close. NULL is fine. */
void wal_close(wal_t *w);

/* Call fn for every record that was appended and never acknowledged, in
 * append order. Call once, after wal_open and before the first append. If fn
 * returns non-zero, replay stops and that value is returned. */
typedef int (*wal_replay_fn)(void *ctx, uint64_t seq, const char *rec, size_t len);
int wal_replay(wal_t *w, wal_replay_fn fn, void *ctx);

/* True when `bytes` of record data in `records` records fit in the disk budget. */
bool wal_has_room(const wal_t *w, uint64_t bytes, uint64_t records);

/* Append a record to the write buffer and assign its sequence number (> 0).
 * Not durable until wal_sync(). Returns 0 or a negative errno (the log is then
 * unchanged on disk as far as it matters: a failed write is cut off). */
int wal_append(wal_t *w, const char *rec, size_t len, uint64_t *seq);

/* Write everything buffered and fdatasync every segment written since the
 * last wal_sync/wal_take_sync. Returns 0 or a negative errno (-EIO, -ENOSPC,
 * ...). On failure every record appended since the last wal_sync/wal_take_sync
 * is refused (see above; the caller refuses their packets) and, after an
 * fdatasync failure, the active segment is abandoned. Ends the round. */
int wal_sync(wal_t *w);

/* Acknowledge records (delivered or dead-lettered). Buffered; written with the
 * next wal_sync()/wal_flush(). Unknown or already acknowledged seqs are ignored. */
int wal_ack(wal_t *w, const uint64_t *seqs, size_t n);

/* Write buffered entries without fsync, then delete segments no longer needed.
 * Returns 0 when every byte appended in the round reached the file, else the
 * round's error (its records are refused). Ends the round. */
int wal_flush(wal_t *w);

/* Descriptors another thread must fdatasync (wal_fdatasync_fd) so that all
 * wal_flush() wrote so far is durable: a dup of the active segment's and those
 * of segments rolled away from since the last call (a roll does not sync; the
 * one syncing thread sees every error). *fds is malloc'ed; the caller closes
 * each fd and frees the array; *n may be 0. 0 or -ENOMEM/-EMFILE (then
 * nothing changed). When one of them fails to sync, the caller refuses the
 * packets that waited on it (wal_ack of their seqs) and calls wal_abandon. */
typedef struct {
    int fd;
    uint64_t segment; /* number: descriptors of one segment need one fdatasync */
} wal_sync_fd_t;
int wal_take_sync(wal_t *w, wal_sync_fd_t **fds, size_t *n);

/* An fdatasync of the active segment failed elsewhere: never write to it again;
 * the next write starts a new segment. */
void wal_abandon(wal_t *w);

/* Save a record that can never be delivered (it does not parse under the
 * current limits) as <dir>/quarantine-<16 hex seq>.rec, its bytes exactly as
 * received, fdatasync'ed. The caller then acknowledges seq (not during
 * wal_replay: after it returns). 0 or a negative errno. */
int wal_quarantine(const wal_t *w, uint64_t seq, const char *rec, size_t len);

/* fdatasync(fd) through the log's io table: 0 or a negative errno. Thread-safe
 * (the table is never changed after wal_open). */
int wal_fdatasync_fd(const wal_t *w, int fd);

/* Bytes of all segment files, and records not yet acknowledged. */
uint64_t wal_disk_bytes(const wal_t *w);
uint64_t wal_live_records(const wal_t *w);
uint64_t wal_segment_count(const wal_t *w);

#endif
