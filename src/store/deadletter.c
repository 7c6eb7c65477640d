/*
 * deadletter.c - see deadletter.h. A FIFO of entries; the batch body is kept
 * as it was framed, so each record is still byte for byte what the agent sent.
 */
#include "store/deadletter.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "core/metrics.h"

typedef struct entry {
    struct entry *next;
    batch_t *batch;
    char reason[128];
    uint64_t at_ms; /* wall clock */
} entry_t;

struct deadletter {
    entry_t *head, *tail;
    uint64_t bytes, records, batches, max_bytes;
};

deadletter_t *deadletter_new(uint64_t max_bytes)
{
    deadletter_t *d = calloc(1, sizeof *d);
    if (d) d->max_bytes = max_bytes;
    return d;
}

static void drop_oldest(deadletter_t *d)
{
    entry_t *e = d->head;
    d->head = e->next;
    if (!d->head) d->tail = NULL;
    d->bytes -= e->batch->len;
    d->records -= e->batch->records;
    d->batches--;
    batch_free(e->batch);
    free(e);
}

void deadletter_free(deadletter_t *d)
{
    if (!d) return;
    while (d->head) drop_oldest(d);
    free(d);
}

void deadletter_add(deadletter_t *d, batch_t *b, const char *reason)
{
    METRIC_ADD(records_deadlettered, b->records);
    entry_t *e = calloc(1, sizeof *e);
    if (!e || b->len > d->max_bytes) {
        METRIC_ADD(records_deadletter_evicted, b->records);
        free(e);
        batch_free(b);
        return;
    }
    e->batch = b;
    strlcpy_ld(e->reason, reason, sizeof e->reason);
    e->at_ms = wall_ms();
    while (d->head && d->bytes + b->len > d->max_bytes) {
        METRIC_ADD(records_deadletter_evicted, d->head->batch->records);
        drop_oldest(d);
    }
    if (d->tail)
        d->tail->next = e;
    else
        d->head = e;
    d->tail = e;
    d->bytes += b->len;
    d->records += b->records;
    d->batches++;
}

json_t *deadletter_to_json(const deadletter_t *d, size_t sample)
{
    json_t *o = json_object();
    json_object_set_new(o, "records", json_integer((json_int_t)d->records));
    json_object_set_new(o, "batches", json_integer((json_int_t)d->batches));
    json_object_set_new(o, "bytes", json_integer((json_int_t)d->bytes));
    json_object_set_new(o, "max_bytes", json_integer((json_int_t)d->max_bytes));
    json_object_set_new(o, "oldest_ms", d->head ? json_integer((json_int_t)d->head->at_ms)
                                                : json_null());
    json_object_set_new(o, "evicted_records",
                        json_integer((json_int_t)METRIC_GET(records_deadletter_evicted)));
    json_t *arr = json_array();
    size_t skip = d->batches > sample ? d->batches - sample : 0, i = 0;
    for (entry_t *e = d->head; e; e = e->next, i++) {
        if (i < skip) continue;
        json_t *s = json_object();
        json_object_set_new(s, "batch_id", json_string(e->batch->id));
        json_object_set_new(s, "records", json_integer(e->batch->records));
        json_object_set_new(s, "attempts", json_integer(e->batch->attempts));
        json_object_set_new(s, "reason", json_string(e->reason));
        json_object_set_new(s, "last_analyzer", json_string(e->batch->last_analyzer));
        json_object_set_new(s, "at_ms", json_integer((json_int_t)e->at_ms));
        json_array_append_new(arr, s);
    }
    json_object_set_new(o, "sample", arr);
    return o;
}

uint64_t deadletter_purge(deadletter_t *d)
{
    uint64_t n = d->records;
    while (d->head) drop_oldest(d);
    return n;
}
