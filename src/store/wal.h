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
 * Not thread-safe: one thread (the durability writer, store/durable.c) owns it.
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
    uint64_t segments;       /* segment files found */
    uint64_t records;        /* RECORD entries read */
    uint64_t acked;          /* of which acknowledged */
    uint64_t bytes_cut;      /* bytes removed from torn/corrupt tails */
    uint64_t segments_cut;   /* segments that had a bad tail */
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

/* Write everything buffered and fdatasync. Returns 0 or a negative errno
 * (-EIO, -ENOSPC, ...). On a failed write the partial data is cut off the
 * segment and the buffered records are forgotten (the caller refuses their
 * packets); if even the cut fails, every later append fails with -EIO. */
int wal_sync(wal_t *w);

/* Acknowledge records (delivered or dead-lettered). Buffered; written with the
 * next wal_sync()/wal_flush(). Unknown or already acknowledged seqs are ignored. */
int wal_ack(wal_t *w, const uint64_t *seqs, size_t n);

/* Write buffered entries without fsync, then delete segments no longer needed. */
int wal_flush(wal_t *w);

/* A duplicate of the active segment's descriptor (caller closes it), so another
 * thread can fdatasync what wal_flush() wrote while appends go on. Segments
 * closed by a roll were fdatasync'ed at the roll. -1 if none is open. */
int wal_dup_fd(const wal_t *w);

/* fdatasync(fd) through the log's io table: 0 or a negative errno. Thread-safe
 * (the table is never changed after wal_open). */
int wal_fdatasync_fd(const wal_t *w, int fd);

/* Bytes of all segment files, and records not yet acknowledged. */
uint64_t wal_disk_bytes(const wal_t *w);
uint64_t wal_live_records(const wal_t *w);
uint64_t wal_segment_count(const wal_t *w);

#endif
