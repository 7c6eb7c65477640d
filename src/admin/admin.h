/*
 * admin.h - the control and observability API, served by app/server.c on
 * the connection layer (ingress/http.h): analyzer registry
 * (/api/v1/analyzers), metrics (/api/v1/metrics; /metrics in the Prometheus
 * text format, admin/prom.h), dead letters (/api/v1/deadletter, replay), the
 * counters' history of the last minutes (/api/v1/history), reload
 * (/api/v1/reload), liveness (/health) and the dashboard's files
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

/* POST /api/v1/reload (admin role) calls fn(ctx, &result, err, errlen) on the
 * loop the request arrived on, WITHOUT the admin mutex (fn takes its own lock,
 * then the admin mutex through admin_apply_analyzers: one lock order): 0 -> 200
 * with *result (taken), -EINVAL -> 400 invalid_config with err, another errno ->
 * 500 reload_failed. Set once before serving; ctx is the caller's and must
 * outlive every server. */
typedef int (*admin_reload_fn)(void *ctx, json_t **result, char *err, size_t errlen);
void admin_set_reload(admin_t *a, admin_reload_fn fn, void *ctx);

/* A reload's analyzer changes: `old` is what the config named before, `now`
 * what it names now. Analyzers gone from it are removed (their queued records
 * move to the others), new ones added, changed ones updated in place (weight
 * and URLs; another client certificate means remove and add); each change is
 * persisted to the config store. Analyzers registered only through the API
 * are left alone; an id the config now names wins over an API registration.
 * Fills report's "added", "removed", "updated" id arrays. 0, or the first
 * negative errno (the other changes are still made). Any thread that does not
 * hold the admin mutex (it takes it). */
/* Config reload: set the route table (not strict: analyzers the new config
 * adds join their routes when added) under the admin mutex, so a change
 * through the routes API is never lost in between. 0 or negative errno. */
int admin_apply_routes(admin_t *a, routes_t *t, char *err, size_t errlen);

int admin_apply_analyzers(admin_t *a, const analyzer_spec_t *old, size_t nold,
                          const analyzer_spec_t *now, size_t nnow, json_t *report);

/* Sample the global counters once a second on `base` (the main loop: the
 * one writer) for GET /api/v1/history, the first sample now. The timer is
 * freed by admin_free(), which must run before event_base_free(base).
 * 0, -EALREADY, or -ENOMEM. */
struct event_base;
int admin_start_history(admin_t *a, struct event_base *base);

/* Clustered (--cluster-etcd): analyzer and route writes go through etcd
 * (cluster/cluster.h: 503 etcd_unavailable while it is unreachable, 409 on a
 * lost compare-and-set), GET /api/v1/cluster and /api/v1/cluster/analyzers
 * answer, /health and /metrics show etcd connectivity. Set once before
 * serving; c outlives every server. */
struct cluster;
void admin_set_cluster(admin_t *a, struct cluster *c);

/* While draining, /health answers 503 {"status":"draining"}. */
void admin_set_draining(admin_t *a, bool draining);

#endif
