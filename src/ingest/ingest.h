/*
 * ingest.h - POST /api/v1/logs: decode, validate and split a packet, reserve
 * queue budget, hand it to routing and answer 202 - or refuse it whole.
 *
 * Runs on the ingest thread (the HTTP event loop). A packet is accepted whole
 * or rejected whole: nothing is queued until every byte has been validated
 * and the budget reserved. Authentication and rate limits (later issues) are
 * checks at the top of ingest_handle().
 */
#ifndef LOGDIST_INGEST_H
#define LOGDIST_INGEST_H

#include <stdbool.h>

#include "core/config.h"
#include "store/durable.h"
#include "store/queue.h"

struct evhttp_request;
typedef struct ingest ingest_t;

/* `durable` may be NULL (durability none): then nothing waits for the disk.
 * `auth` may be NULL or empty (no authentication). */
struct auth;
ingest_t *ingest_new(const config_t *cfg, pkt_queue_t *queue, durable_t *durable,
                     const struct auth *auth);
void ingest_free(ingest_t *ing);

/* Handle one request to /api/v1/logs (any method). */
void ingest_handle(ingest_t *ing, struct evhttp_request *req);

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

/* While draining, new packets get 503 + Retry-After. */
void ingest_set_draining(ingest_t *ing, bool draining);

#endif
