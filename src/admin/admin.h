/*
 * admin.h - the control and observability API, served by app/server.c on
 * the connection layer (ingress/http.h): analyzer registry
 * (/api/v1/analyzers), metrics (/api/v1/metrics), dead letters
 * (/api/v1/deadletter, replay), the counters' history of the last minutes
 * (/api/v1/history), liveness (/health) and the dashboard's files
 * (GET /, /dashboard.js, /dashboard.css, /favicon.svg: embedded, no token). State lives on the
 * delivery thread; handlers reach it through deliver.h's admin functions.
 *
 * Decide before the body: the token is checked from the head (every path but
 * /health and GET/HEAD of the dashboard's files: GET/HEAD need the read or
 * admin role, changes need admin), and a body (at most ADMIN_BODY_MAX bytes)
 * is read only for a request an endpoint acts on (POST/PUT/DELETE of a known
 * path). Every answer is JSON but the dashboard's files.
 */
#ifndef LOGDIST_ADMIN_H
#define LOGDIST_ADMIN_H

#include <stdbool.h>

#include "deliver/deliver.h"
#include "ingest/ingest.h"
#include "ingress/http.h"
#include "store/config_store.h"

typedef struct admin admin_t;

/* `store` (may be NULL) receives every registry change made through the API;
 * `ing` re-ingests dead letters on replay; `auth` (may be NULL) guards every
 * endpoint but /health: GETs need the read or admin role, changes need admin. */
struct auth;
admin_t *admin_new(const config_t *cfg, deliver_t *d, ingest_t *ing, config_store_t *store,
                   const struct auth *auth);
void admin_free(admin_t *a);

/* Any request that is not /api/v1/logs has its head: answer it (401/403,
 * 404, 405, GETs, /health), or read its body (admin_on_request follows). */
void admin_on_head(admin_t *a, http_req_t *req);

/* Its body is in: route it (a dead-letter replay answers once every batch is
 * re-queued). */
void admin_on_request(admin_t *a, http_req_t *req);

/* Sample the global counters once a second on `base` (the main loop: the
 * one writer) for GET /api/v1/history, the first sample now. The timer is
 * freed by admin_free(), which must run before event_base_free(base).
 * 0, -EALREADY, or -ENOMEM. */
struct event_base;
int admin_start_history(admin_t *a, struct event_base *base);

/* While draining, /health answers 503 {"status":"draining"}. */
void admin_set_draining(admin_t *a, bool draining);

#endif
