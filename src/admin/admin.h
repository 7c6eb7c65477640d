/*
 * admin.h - the control and observability API on the ingest thread's HTTP
 * server: analyzer registry (/api/v1/analyzers), metrics (/api/v1/metrics),
 * dead letters (/api/v1/deadletter, replay) and liveness (/health). State lives on
 * the delivery thread; handlers reach it through deliver.h's admin functions.
 */
#ifndef LOGDIST_ADMIN_H
#define LOGDIST_ADMIN_H

#include <stdbool.h>

#include "deliver/deliver.h"
#include "ingest/ingest.h"
#include "store/config_store.h"

struct evhttp_request;
typedef struct admin admin_t;

/* `store` (may be NULL) receives every registry change made through the API;
 * `ing` re-ingests dead letters on replay; `auth` (may be NULL) guards every
 * endpoint but /health: GETs need the read or admin role, changes need admin. */
struct auth;
admin_t *admin_new(const config_t *cfg, deliver_t *d, ingest_t *ing, config_store_t *store,
                   const struct auth *auth);
void admin_free(admin_t *a);

/* Handle any request that is not /api/v1/logs; unknown paths get 404. */
void admin_handle(admin_t *a, struct evhttp_request *req);

/* While draining, /health answers 503 {"status":"draining"}. */
void admin_set_draining(admin_t *a, bool draining);

#endif
