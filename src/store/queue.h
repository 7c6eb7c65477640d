/*
 * queue.h - the hand-off between ingest and routing, and the budget that bounds it.
 *
 * The ingest thread pushes accepted packets; the delivery thread takes them
 * all at once. One mutex, taken once per packet on each side (never per record).
 *
 * The budget (max_queue_bytes) counts the MEMORY held for accepted records,
 * from acknowledgement until they are delivered, dead-lettered or counted
 * lost: a packet is charged packet_held_bytes() (its body allocation, record
 * table and sequence table, so padding or a big gzip expansion is paid for)
 * from queue_reserve() before the 202 until the router has copied its records
 * out and freed it; each sealed batch is then charged its batch_cost() until
 * it is settled. The queue object is the only writer of the budget; metrics
 * and admin read it through queue_bytes()/queue_records().
 *
 * The persistent queue plugs in here: a WAL append sits between
 * queue_reserve() and queue_push(). The consumer is woken by one callback
 * (an event_active on its loop) when a push finds the queue empty.
 */
#ifndef LOGDIST_QUEUE_H
#define LOGDIST_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "record/packet.h"

typedef struct pkt_queue pkt_queue_t;

/* `wake` is called (from the pushing thread) when a packet is pushed into an
 * empty queue; it must be thread-safe (e.g. event_active on the consumer's base). */
pkt_queue_t *queue_new(uint64_t max_bytes, void (*wake)(void *arg), void *wake_arg);
void queue_free(pkt_queue_t *q); /* frees packets still queued */

/* Reserve `bytes` (and `records`) of budget. Returns true when it fits; false
 * when the budget is exhausted (nothing reserved: answer 503). Once full, it
 * refuses until the queue is back under 80 % of the budget (hysteresis, so
 * agents are not let in one packet at a time at the edge). */
bool queue_reserve(pkt_queue_t *q, uint64_t bytes, uint64_t records);

/* Reserve without checking the budget: records recovered at start-up (they
 * were acknowledged before the crash and must not be refused now), and the
 * delivery thread charging a sealed batch (records = 0). */
void queue_reserve_force(pkt_queue_t *q, uint64_t bytes, uint64_t records);

/* Give back budget (bytes and/or records) reserved earlier. */
void queue_release(pkt_queue_t *q, uint64_t bytes, uint64_t records);

/* The budget in use right now (any thread; relaxed reads). */
uint64_t queue_bytes(const pkt_queue_t *q);
uint64_t queue_records(const pkt_queue_t *q);
uint64_t queue_max_bytes(const pkt_queue_t *q);

/* On the calling thread, wake the consumer once per turn of `base` (the
 * thread's own loop) instead of at every push into an empty queue: under
 * load one loop turn accepts tens of packets, and each cross-thread wake
 * costs the two threads several system calls and an inter-processor
 * interrupt. The wake runs after the turn's other events. 0 or -ENOMEM. */
struct event_base;
int queue_defer_wakes(pkt_queue_t *q, struct event_base *base);
/* Undo queue_defer_wakes on this thread (a pending wake is delivered now). */
void queue_defer_wakes_end(pkt_queue_t *q);

/* Append a packet (its budget already reserved). */
void queue_push(pkt_queue_t *q, packet_t *p);

/* Take every queued packet, oldest first, as a linked list (NULL if none). */
packet_t *queue_take_all(pkt_queue_t *q);

#endif
