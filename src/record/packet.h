/*
 * packet.h - one accepted log packet on its way from ingest to routing.
 *
 * Ingest fills it (body + the scanner's record table) and hands it to the
 * packet queue; the router copies each record into its analyzer's batch and
 * the delivery thread frees the packet once every record is in a batch. The
 * body is never re-serialised: records are forwarded as the byte ranges the
 * scanner found.
 *
 * Budget: whoever reserves queue budget for a packet charges
 * packet_held_bytes(p, count) and stores it in held_bytes; the delivery thread
 * releases exactly held_bytes when it frees the routed packet.
 */
#ifndef LOGDIST_PACKET_H
#define LOGDIST_PACKET_H

#include <stddef.h>
#include <stdint.h>

#include "record/scan.h"

typedef struct packet {
    struct packet *next;
    char *decoded;          /* owns the body: a malloc'd block that holds data[0..len) -
                               the request's input buffer taken over (http_req_take_body,
                               zero copy, data may start inside it), the gunzipped body, or
                               a copy (replay); NULL when data is static or borrowed */
    const char *data;       /* the body: data[0..len) */
    size_t len;
    scan_record_t *records; /* records[0..count), offsets into data */
    size_t count;
    uint64_t *seqs;         /* NULL, or per record: WAL sequence number of a durable record, 0 if not durable */
    uint64_t record_bytes;  /* sum of records[i].rec.len (WAL disk budget) */
    uint64_t held_bytes;    /* charged to the queue budget (packet_held_bytes), set by its creator */
    size_t routed;          /* records[0..routed) are in batches (delivery thread only) */
    uint64_t accepted_us;   /* now_us() when it was acknowledged */
} packet_t;

/* Memory p holds with a record table of `count` records: the packet struct,
 * the body's allocation (the usable size of its block, which may be larger
 * than the body: a taken input buffer also held the request head), the record
 * table and a sequence table. Depends only on the body and count, so it reads
 * the same at reservation and at release. */
uint64_t packet_held_bytes(const packet_t *p, size_t count);

/* Free the packet, its body and its record table. NULL is fine. */
void packet_free(packet_t *p);

#endif
