/*
 * ingest_loops.h - the extra ingest loops of --ingest-threads N.
 *
 * Loop 0 is the main loop (logdistd.c: app.base, with the signals, the
 * resource monitor and the admin listener). Loops 1..N-1 are made here: each
 * is a thread running its own event_base with
 *   - its own listener on the ingest port (SO_REUSEPORT: the kernel spreads
 *     new connections over the loops by a hash of the addresses) and its own
 *     HTTP server (app/server.h), so accept, TLS, HTTP parsing, gunzip and
 *     scanning of a connection all run on the loop that accepted it;
 *   - its own ingest worker (ingest/ingest.h: scanner scratch, parked FIFO,
 *     durable completions);
 *   - a mailbox (common/mailbox.h), the only way other threads reach it: load
 *     shedding, drain and stop are posted there, never done to another loop's
 *     listener directly. The mailbox also carries the loop's durable
 *     completions, so a barrier posted after them (ingest_loops_sync) sees
 *     them run.
 * Packets go to the one packet queue (store/queue.h, one lock per packet), so
 * routing stays on the delivery thread and SWRR stays exact per record.
 *
 * Every function here is called from the main thread. With N = 1 nothing is
 * created (logdistd does not call ingest_loops_new).
 */
#ifndef LOGDIST_INGEST_LOOPS_H
#define LOGDIST_INGEST_LOOPS_H

#include <stdbool.h>
#include <stdint.h>

#include "app/server.h"
#include "store/queue.h"

typedef struct ingest_loops ingest_loops_t;

/* Build `count` loops (not running yet): each binds host:port with
 * SO_REUSEPORT (the main loop's listener must have been bound with it too,
 * and `port` is the port it got). `queue` (may be NULL) gets one deferred
 * wake per loop turn on each loop (queue_defer_wakes). NULL on failure
 * (logged). */
ingest_loops_t *ingest_loops_new(unsigned count, const config_t *cfg, const char *host,
                                 uint16_t port, server_role_t role, tls_server_t *tls,
                                 ingest_t *ing, admin_t *adm, pkt_queue_t *queue);

/* Start the threads. 0 or -1 (those started are stopped by ingest_loops_stop). */
int ingest_loops_start(ingest_loops_t *l);

/* Load shedding: pause or resume accepting on every loop. Posted (returns at
 * once, never allocates); the latest value wins. NULL is fine. */
void ingest_loops_pause_accepting(ingest_loops_t *l, bool paused);

/* Drain (after ingest_set_draining): on every loop stop accepting for good and
 * answer its parked requests 503; returns once every loop has done it. */
void ingest_loops_drain(ingest_loops_t *l);

/* Returns once every message posted to the loops so far has run (after
 * durable_wait_idle: their durable completions). NULL is fine. */
void ingest_loops_sync(ingest_loops_t *l);

/* Stop every loop and join its thread. NULL is fine. */
void ingest_loops_stop(ingest_loops_t *l);

/* After ingest_loops_stop and then durable_wait_idle (no completion can be
 * posted to a loop any more): run what is left in each mailbox, close every
 * connection, free the servers, workers and bases. NULL is fine. */
void ingest_loops_free(ingest_loops_t *l);

#endif
