/*
 * queue.c - see queue.h. The budget lives here (two atomics, written only by
 * these functions), so what /api/v1/metrics shows is exactly what admission
 * control uses.
 */
#include "store/queue.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/check.h"

struct pkt_queue {
    _Atomic bool full; /* over the budget: refuse until under 80 % of it */
    _Atomic uint64_t bytes;   /* memory held for accepted, unsettled records */
    _Atomic uint64_t records; /* accepted records not yet settled */
    pthread_mutex_t mu;
    packet_t *head, *tail;
    uint64_t max_bytes;
    void (*wake)(void *);
    void *wake_arg;
};

pkt_queue_t *queue_new(uint64_t max_bytes, void (*wake)(void *arg), void *wake_arg)
{
    pkt_queue_t *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    pthread_mutex_init(&q->mu, NULL);
    q->max_bytes = max_bytes;
    q->wake = wake;
    q->wake_arg = wake_arg;
    return q;
}

void queue_free(pkt_queue_t *q)
{
    if (!q) return;
    packet_t *p = q->head;
    while (p) {
        packet_t *n = p->next;
        packet_free(p);
        p = n;
    }
    pthread_mutex_destroy(&q->mu);
    free(q);
}

bool queue_reserve(pkt_queue_t *q, uint64_t bytes, uint64_t records)
{
    uint64_t cur = atomic_load_explicit(&q->bytes, memory_order_relaxed);
    if (atomic_load_explicit(&q->full, memory_order_relaxed)) {
        if (cur > q->max_bytes / 10 * 8) return false; /* hysteresis: drain to 80 % first */
        atomic_store_explicit(&q->full, false, memory_order_relaxed);
    }
    do {
        /* an empty queue always takes one packet, so a packet larger than the
         * budget (but within the body limit) is not refused forever */
        if (cur > 0 && (bytes > q->max_bytes || cur > q->max_bytes - bytes)) {
            atomic_store_explicit(&q->full, true, memory_order_relaxed);
            return false;
        }
    } while (!atomic_compare_exchange_weak_explicit(&q->bytes, &cur, cur + bytes,
                                                    memory_order_relaxed, memory_order_relaxed));
    atomic_fetch_add_explicit(&q->records, records, memory_order_relaxed);
    return true;
}

void queue_reserve_force(pkt_queue_t *q, uint64_t bytes, uint64_t records)
{
    atomic_fetch_add_explicit(&q->bytes, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&q->records, records, memory_order_relaxed);
}

void queue_release(pkt_queue_t *q, uint64_t bytes, uint64_t records)
{
    uint64_t b = atomic_fetch_sub_explicit(&q->bytes, bytes, memory_order_relaxed);
    uint64_t r = atomic_fetch_sub_explicit(&q->records, records, memory_order_relaxed);
    LD_ASSERT(b >= bytes && r >= records); /* released more than was reserved */
}

uint64_t queue_bytes(const pkt_queue_t *q)
{
    return atomic_load_explicit(&q->bytes, memory_order_relaxed);
}

uint64_t queue_records(const pkt_queue_t *q)
{
    return atomic_load_explicit(&q->records, memory_order_relaxed);
}

uint64_t queue_max_bytes(const pkt_queue_t *q)
{
    return q->max_bytes;
}

void queue_push(pkt_queue_t *q, packet_t *p)
{
    p->next = NULL;
    pthread_mutex_lock(&q->mu);
    bool was_empty = q->head == NULL;
    if (q->tail)
        q->tail->next = p;
    else
        q->head = p;
    q->tail = p;
    pthread_mutex_unlock(&q->mu);
    if (was_empty && q->wake) q->wake(q->wake_arg);
}

packet_t *queue_take_all(pkt_queue_t *q)
{
    pthread_mutex_lock(&q->mu);
    packet_t *h = q->head;
    q->head = q->tail = NULL;
    pthread_mutex_unlock(&q->mu);
    return h;
}
