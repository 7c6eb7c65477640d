/*
 * history.c - see history.h. A fixed array used as a ring: `head` is where
 * the next sample goes, `count` how many are held (at most `cap`).
 */
#include "admin/history.h"

#include <stdlib.h>

struct history {
    size_t cap, head, count;
    history_sample_t s[]; /* cap entries */
};

history_t *history_new(size_t cap)
{
    if (!cap) cap = HISTORY_CAP;
    if (cap > HISTORY_CAP) return NULL;
    history_t *h = calloc(1, sizeof *h + cap * sizeof h->s[0]);
    if (!h) return NULL;
    h->cap = cap;
    return h;
}

void history_free(history_t *h)
{
    free(h);
}

void history_push(history_t *h, const history_sample_t *s)
{
    h->s[h->head] = *s;
    h->head = (h->head + 1) % h->cap;
    if (h->count < h->cap) h->count++;
}

size_t history_count(const history_t *h)
{
    return h->count;
}

const history_sample_t *history_at(const history_t *h, size_t i)
{
    if (i >= h->count) return NULL;
    size_t oldest = (h->head + h->cap - h->count) % h->cap;
    return &h->s[(oldest + i) % h->cap];
}

static int put_u64(json_t *o, const char *key, uint64_t v)
{
    return json_object_set_new(o, key, json_integer((json_int_t)v));
}

json_t *history_to_json(const history_t *h, unsigned interval_ms, uint64_t since_ms)
{
    json_t *out = json_object(), *arr = json_array();
    if (!out || !arr) goto err;
    for (size_t i = 0; i < h->count; i++) {
        const history_sample_t *s = history_at(h, i);
        if (s->t_ms <= since_ms) continue;
        json_t *o = json_object();
        if (!o || json_array_append_new(arr, o)) goto err;
        if (put_u64(o, "t_ms", s->t_ms) || put_u64(o, "records_accepted", s->records_accepted) ||
            put_u64(o, "records_delivered", s->records_delivered) ||
            put_u64(o, "packets_rejected", s->packets_rejected) ||
            put_u64(o, "records_deadlettered", s->records_deadlettered) ||
            put_u64(o, "queue_bytes", s->queue_bytes))
            goto err;
    }
    if (json_object_set_new(out, "interval_ms", json_integer(interval_ms))) goto err;
    if (json_object_set_new(out, "samples", arr)) {
        arr = NULL; /* stolen even on failure */
        goto err;
    }
    return out;
err:
    json_decref(arr);
    json_decref(out);
    return NULL;
}
