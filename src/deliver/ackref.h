/*
 * ackref.h - how many batches still hold a durable record that copy routes
 * fanned out to several analyzers.
 *
 * A durable record's WAL entry may be acknowledged only when every copy of it
 * is settled (delivered or dead-lettered); otherwise a crash after the first
 * copy's 2xx would lose the others. The router reports a fanned-out record
 * (ackref_add(seq, copies)) before any of its batches is sealed; the delivery
 * layer passes each settled batch's sequence numbers through ackref_filter(),
 * which keeps only those whose last copy this was. Records that were not
 * fanned out are not in the table and pass straight through, so without copy
 * routes the table stays empty and costs one branch per batch.
 *
 * Pure, single-threaded (the delivery thread): an open-addressing hash map
 * seq -> remaining copies, grown by doubling, shrunk never (bounded by the
 * records in flight, which the queue budget bounds).
 */
#ifndef LOGDIST_ACKREF_H
#define LOGDIST_ACKREF_H

#include <stddef.h>
#include <stdint.h>

typedef struct ackref ackref_t;

ackref_t *ackref_new(void);
void ackref_free(ackref_t *t);

/* Record seq (!= 0) as held by `copies` (>= 2) batches. 0 or -ENOMEM (then the
 * record's first settled copy acknowledges it: a crash may lose its other
 * copies; the caller counts it). */
int ackref_add(ackref_t *t, uint64_t seq, uint32_t copies);

/* One batch holding seqs[0..n) is settled: drop from seqs (in place) every seq
 * some other batch still holds, and return how many are left at the front. */
size_t ackref_filter(ackref_t *t, uint64_t *seqs, size_t n);

/* Records in the table (for tests and metrics). */
size_t ackref_count(const ackref_t *t);

#endif
