/*
 * ingest.h - POST /api/v1/logs: decide on a request from its head, then
 * decode, validate and split its body, reserve queue budget, hand the packet
 * to routing and answer 202 - or refuse it whole.
 *
 * Runs on the loop of the HTTP server (core/server.c) that received the
 * request, in two phases (ingress/http.h):
 *   - ingest_on_head(): everything that can be decided before the body, in
 *     this order: method (405), auth (401/403), shutting down (503), memory
 *     pressure (503), Content-Type (415), Content-Encoding (415),
 *     X-Logdist-Durability: critical without a WAL (409), Content-Length over
 *     --max-body-bytes (413), queue full (503). A refusal never reads the body.
 *     Under --overload-action pause, memory pressure and a full queue park the
 *     request unread instead (TCP backpressure) until there is room, for at
 *     most --idle-timeout-s. Otherwise the body is read (its bytes reserved
 *     from the global body budget by the connection layer).
 *   - ingest_on_request(): the body is taken over without a copy (it becomes
 *     the packet's block), gunzipped if need be, scanned and admitted.
 * A packet is accepted whole or rejected whole: nothing is queued until every
 * byte has been validated and the budget reserved. A durable packet's request
 * is answered from the WAL's completion, after the fsync.
 */
#ifndef LOGDIST_INGEST_H
#define LOGDIST_INGEST_H

#include <stdbool.h>

#include "core/config.h"
#include "ingress/http.h"
#include "store/durable.h"
#include "store/queue.h"

struct event_base;
typedef struct ingest ingest_t;

/* `durable` may be NULL (durability none): then nothing waits for the disk.
 * `auth` may be NULL or empty (no authentication). */
struct auth;
ingest_t *ingest_new(const config_t *cfg, pkt_queue_t *queue, durable_t *durable,
                     const struct auth *auth);
/* Answers every request still parked (503) and frees. */
void ingest_free(ingest_t *ing);

/* The loop that serves ingest requests: needed for --overload-action pause
 * (a 10 ms timer polls the parked requests); without it, pause acts as reject.
 * 0 or -ENOMEM. */
int ingest_set_loop(ingest_t *ing, struct event_base *base);

/* A request to /api/v1/logs (any method) has its head: answer it, park it,
 * or read its body (ingest_on_request follows). */
void ingest_on_head(ingest_t *ing, http_req_t *r);

/* Its body is in: admit the packet (answered now, or after the WAL's fsync). */
void ingest_on_request(ingest_t *ing, http_req_t *r);

/* Called on the ingest thread when an injected body is queued (status 0) or
 * refused (negative errno), with its record count. */
typedef void (*ingest_inject_fn)(void *ctx, int status, size_t records);

/* Put a JSON body that did not come from an agent (a dead-lettered batch being
 * replayed) through the same validation, durability and queueing as a POST.
 * Durable when the policy is not none. `done` is always called, exactly once. */
void ingest_inject(ingest_t *ing, const char *body, size_t len, ingest_inject_fn done, void *ctx);

/* Load shedding on memory pressure (may stay unset). */
struct resource;
void ingest_set_resource(ingest_t *ing, const struct resource *res);

/* While draining, new packets get 503 + Retry-After; parked ones too, at once. */
void ingest_set_draining(ingest_t *ing, bool draining);

/* Requests parked right now (--overload-action pause). */
size_t ingest_parked(const ingest_t *ing);

#endif
