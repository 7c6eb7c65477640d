/*
 * queue.c - see queue.h. The budget lives here (two atomics, written only by
 * these functions), so what /api/v1/metrics shows is exactly what admission
 * control uses.
 */
#include "store/queue.h"

#include <event2/event.h>
#include <pthread.h>
#include <errno.h>
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

/* The pushing thread's deferred wake (queue_defer_wakes): one event on its
 * own loop, made active by the first push into an empty queue and run after
 * the other events of that loop turn, so one wake covers every packet the
 * turn accepted. */
static _Thread_local struct event *tl_wake_ev;
static _Thread_local pkt_queue_t *tl_wake_q;

static void on_deferred_wake(evutil_socket_t fd, short what, void *arg)
{
    pkt_queue_t *q = arg;
    if (q->wake) q->wake(q->wake_arg);
}

int queue_defer_wakes(pkt_queue_t *q, struct event_base *base)
{
    LD_ASSERT(!tl_wake_ev);
    tl_wake_ev = event_new(base, -1, 0, on_deferred_wake, q);
    if (!tl_wake_ev) return -ENOMEM;
    tl_wake_q = q;
    return 0;
}

void queue_defer_wakes_end(pkt_queue_t *q)
{
    if (!tl_wake_ev || tl_wake_q != q) return;
    on_deferred_wake(-1, 0, q); /* one may still be owed; a spare wake is harmless */
    event_free(tl_wake_ev);
    tl_wake_ev = NULL;
    tl_wake_q = NULL;
}

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
    if (!was_empty || !q->wake) return;
    if (tl_wake_ev && tl_wake_q == q)
        event_active(tl_wake_ev, 0, 0); /* own loop: no cross-thread notify */
    else
        q->wake(q->wake_arg);
}

packet_t *queue_take_all(pkt_queue_t *q)
{
    pthread_mutex_lock(&q->mu);
    packet_t *h = q->head;
    q->head = q->tail = NULL;
    pthread_mutex_unlock(&q->mu);
    return h;
}
