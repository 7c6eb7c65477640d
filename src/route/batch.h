/*
 * batch.h - a batch of records bound for one analyzer, already framed as the
 * HTTP body that is POSTed:
 *
 *   {"packet_id":"<batch id>","agent_id":"logdistd","messages":[rec,rec,...]}
 *
 * Records are appended byte for byte (the one copy a record ever gets). The
 * frame prefix has a fixed length, so the body is final the moment the batch
 * is sealed and can be re-sent unchanged (same batch id) on a retry, to the
 * same or another analyzer: analyzers may de-duplicate by batch id.
 */
/*
 * Ownership: route creates, fills and seals batches; the delivery layer then
 * owns sealed batches (sends, retries, settles and frees them). Delivery's
 * timers and bookkeeping are not here: it keeps them in its own records.
 */
#ifndef LOGDIST_BATCH_H
#define LOGDIST_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>


#define BATCH_ID_LEN 21 /* "b" + 8 hex (random per process life) + "-" + 11 hex (sequence) */

typedef struct batch {
    struct batch *next;      /* link in a batch_list_t */
    char id[BATCH_ID_LEN + 1];
    char *buf;               /* the body: buf[0..len) */
    size_t len, cap;
    uint32_t records;        /* number of records */
    uint64_t record_bytes;   /* sum of record lengths */
    bool sealed;
    uint64_t created_us;
    char route[65];          /* the route its records were routed by (route/routes.h); set by
                                the router, read on a retry to stay inside that route */
    bool no_route;           /* records no route takes (the default route is empty): dead-lettered */
    uint32_t copies;         /* of its records, extra copies made by copy routes: the queue
                                budget counted each record once, so these are charged at sealing */
    /* written by the delivery layer only (they travel with the batch, e.g. to
     * the dead-letter store): */
    uint32_t attempts;       /* delivery attempts made so far */
    char last_analyzer[65];  /* id of the analyzer of the last attempt */
    uint64_t *seqs;          /* WAL sequence numbers of the durable records in it */
    uint32_t nseqs, seqs_cap;
    size_t cost;             /* batch_cost() at sealing: what it is charged in the queue budget */
} batch_t;

/* A FIFO of batches. Zero-initialise to make an empty one. */
typedef struct {
    batch_t *head, *tail;
    size_t count;
} batch_list_t;

/* Set the per-life prefix of batch ids (call once at start; 0 = random). */
void batch_id_init(uint32_t boot);

/* New empty batch with room for about `cap_hint` bytes of records. NULL on ENOMEM. */
batch_t *batch_new(size_t cap_hint);
void batch_free(batch_t *b);

/* Free the recycled body buffers (at exit; batches return theirs to a small pool). */
void batch_pool_drain(void);

/* Append one record (the bytes of a JSON object). Returns 0 or -1 on ENOMEM. */
int batch_append(batch_t *b, const char *rec, size_t len);

/* Remember the WAL sequence number of a durable record just appended.
 * Returns 0 or -1 on ENOMEM. */
int batch_add_seq(batch_t *b, uint64_t seq);

/* Append one record and, when seq != 0, its WAL sequence number, all or
 * nothing: on -1 (ENOMEM) the batch is unchanged. */
int batch_append_rec(batch_t *b, const char *rec, size_t len, uint64_t seq);

/* Test hook (fault injection): let the next `n` batch allocations succeed
 * and fail every one after them (ENOMEM); n < 0 turns it off (the default).
 * Allocations are batch_new, body growth and sequence-table growth. */
void batch_fail_allocs_after(long n);

/* Close the frame (and give back most of a buffer it fills less than a quarter
 * of). Idempotent. Returns 0 or -1 on ENOMEM. */
int batch_seal(batch_t *b);

/* Memory the batch holds: its struct, body buffer and sequence numbers. */
size_t batch_cost(const batch_t *b);

/* Bytes of the body if `len` more record bytes were appended (to decide sealing). */
size_t batch_size_with(const batch_t *b, size_t len);

void batch_list_push(batch_list_t *l, batch_t *b);       /* append at the tail */
void batch_list_push_front(batch_list_t *l, batch_t *b); /* retries go first */
batch_t *batch_list_pop(batch_list_t *l);                /* NULL when empty */

#endif
