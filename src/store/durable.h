/*
 * durable.h - the durability writer: a thread that owns the write-ahead log
 * (store/wal.h) and makes packets durable with group commit.
 *
 * Ingest submits a packet whose durable records must be on disk before the
 * agent gets its 202. The writer appends every submitted packet's durable
 * records, then one fdatasync covers all of them (concurrent packets share the
 * fsync), then hands each packet back to the submitting ingest loop with
 * a status: 0 (durable: push it and answer 202), -ENOSPC (disk budget full:
 * 503 + Retry-After) or another negative errno (disk error: 503). The delivery
 * thread reports delivered or dead-lettered durable records with durable_ack().
 */
#ifndef LOGDIST_DURABLE_H
#define LOGDIST_DURABLE_H

#include <stddef.h>
#include <stdint.h>

#include "record/packet.h"
#include "store/wal.h"

struct event_base;
typedef struct durable durable_t;

/* Called on the submitting ingest loop (completion_base, or the mailbox given
 * to durable_submit_to) when a submitted packet is done. */
typedef void (*durable_done_fn)(void *ctx, packet_t *p, int status);

/* Take ownership of an open WAL. Completions run on completion_base. */
durable_t *durable_new(wal_t *wal, struct event_base *completion_base);

/* Before durable_start(): push every record of the WAL that was never
 * acknowledged into `queue` (as packets of up to 1000 records, keeping their
 * sequence numbers, so their delivery acknowledges them). `ingest` is the
 * scanner limits ingest accepts with (max_depth, max_record_bytes; NULL or 0 =
 * the scanner's defaults); replay adds the one nesting level of its own
 * framing. A record that does not parse on its own (e.g. accepted under a
 * larger --max-depth than now) never holds back its neighbours: it is counted
 * in records_replay_failed, logged, copied to quarantine-<seq>.rec in the data
 * directory and acknowledged (left in the WAL if it cannot be copied).
 * Returns the number of records recovered, or a negative errno. */
struct pkt_queue;
long durable_replay(durable_t *d, struct pkt_queue *queue, const scan_limits_t *ingest);

/* Start the writer thread. Returns 0 or -1. */
int durable_start(durable_t *d);

/* Wait until every job submitted so far has been written (their completions
 * are then pending on the completion base, or posted to the mailbox each was
 * submitted with). NULL is fine. */
void durable_wait_idle(durable_t *d);

/* Flush, stop the thread, close the WAL. NULL is fine. */
void durable_free(durable_t *d);

/* Queue a packet: p->seqs[i] != 0 marks record i durable (the writer replaces
 * the mark with its sequence number). Thread-safe. The completion runs on
 * completion_base. */
void durable_submit(durable_t *d, packet_t *p, durable_done_fn done, void *ctx);

/* The same, with the completion posted to `done_mb` (a loop mailbox, see
 * common/mailbox.h: the submitting ingest loop's own, so a request is answered
 * on the loop it arrived on); NULL = completion_base. done_mb must outlive
 * every job submitted with it: after the last submit, durable_wait_idle()
 * then run or free the mailbox (mailbox_free runs what is queued). */
struct mailbox;
void durable_submit_to(durable_t *d, struct mailbox *done_mb, packet_t *p, durable_done_fn done,
                       void *ctx);

/* Acknowledge durable records (seq != 0 entries of seqs). Thread-safe; copies seqs. */
void durable_ack(durable_t *d, const uint64_t *seqs, size_t n);

/* Gauges (WAL bytes, live records, fsyncs) are published in g_metrics
 * (wal_bytes, wal_live_records, wal_fsyncs). */

#endif
