/*
 * packet.h - one accepted log packet on its way from ingest to routing.
 *
 * Ingest fills it (body + the scanner's record table) and hands it to the
 * packet queue; the router copies each record into its analyzer's batch and
 * frees the packet. The body is never re-serialised: records are forwarded as
 * the byte ranges the scanner found.
 */
#ifndef LOGDIST_PACKET_H
#define LOGDIST_PACKET_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/scan.h"

struct evbuffer;

typedef struct packet {
    struct packet *next;
    struct evbuffer *raw;   /* owns the body when it arrived uncompressed */
    char *decoded;          /* owns the body when it was gunzipped */
    const char *data;       /* the body: data[0..len) */
    size_t len;
    scan_record_t *records; /* records[0..count), offsets into data */
    size_t count;
    uint64_t *seqs;         /* NULL, or per record: WAL sequence number of a durable record, 0 if not durable */
    uint64_t record_bytes;  /* sum of records[i].rec.len: what the queue budget counts */
    uint64_t accepted_us;   /* now_us() when it was acknowledged */
} packet_t;

/* Free the packet, its body and its record table. NULL is fine. */
void packet_free(packet_t *p);

#endif
