/*
 * queue_check.h - the queue invariants the ingest-driving fuzz targets check after each
 * input (fuzz_http_ingest.c, fuzz_deadletter.c): every queued packet is well formed and
 * the queue's budget holds exactly what its packets were charged.
 *
 * queue_check_drain(q) takes every packet out of q, checks it, frees it, and returns
 * NULL, or a static message naming the first broken rule:
 *   - a packet has data and records (a record-less packet is never queued);
 *   - its records satisfy scan_body()'s contract on its body (scan_invariants.h);
 *   - record_bytes = the sum of record lengths; held_bytes = packet_held_bytes();
 *   - afterwards queue_bytes(q) = the sum of held_bytes and queue_records(q) = the sum
 *     of counts (every refused packet gave back what it reserved).
 * Static functions: include from one translation unit.
 */
#ifndef LOGDIST_TESTS_QUEUE_CHECK_H
#define LOGDIST_TESTS_QUEUE_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "record/packet.h"
#include "scan_invariants.h"
#include "store/queue.h"

static const char *queue_check_drain(pkt_queue_t *q)
{
    const char *why = NULL;
    uint64_t bytes = 0, records = 0;
    packet_t *p = queue_take_all(q);
    while (p) {
        packet_t *next = p->next;
        if (!why && (!p->data || !p->count || !p->records))
            why = "queued packet without data or records";
        if (!why) {
            scan_result_t view;
            memset(&view, 0, sizeof view);
            view.records = p->records;
            view.count = view.capacity = p->count;
            why = scan_check(p->data, p->len, SCAN_FORMAT_JSON, NULL, SCAN_OK, &view);
        }
        uint64_t rb = 0;
        for (size_t i = 0; !why && i < p->count; i++) rb += p->records[i].rec.len;
        if (!why && rb != p->record_bytes) why = "packet record_bytes != sum of record lengths";
        if (!why && p->held_bytes != packet_held_bytes(p, p->count))
            why = "packet held_bytes != packet_held_bytes()";
        bytes += p->held_bytes;
        records += p->count;
        packet_free(p);
        p = next;
    }
    if (!why && (queue_bytes(q) != bytes || queue_records(q) != records)) {
        fprintf(stderr, "queue_bytes %llu (packets hold %llu), queue_records %llu (%llu)\n",
                (unsigned long long)queue_bytes(q), (unsigned long long)bytes,
                (unsigned long long)queue_records(q), (unsigned long long)records);
        why = "queue budget does not match the queued packets";
    }
    return why;
}

#endif
