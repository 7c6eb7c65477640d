/*
 * protocols.h - the listeners of the protocols other than our HTTP dialect
 * (src/proto/): --syslog-listen (each URL), --otlp-listen (an HTTP server of
 * role SERVE_OTLP), --forward-listen, --elasticsearch-listen (an HTTP server
 * of role SERVE_ELASTIC). They run on the main loop and submit through the
 * main loop's ingest worker. /v1/logs on the ingest listeners needs nothing
 * here (app/server.c routes it on every loop).
 *
 * Every function is called from the main thread.
 */
#ifndef LOGDIST_APP_PROTOCOLS_H
#define LOGDIST_APP_PROTOCOLS_H

#include <jansson.h>
#include <stdbool.h>

#include "admin/admin.h"
#include "core/config.h"
#include "core/tls.h"
#include "ingest/ingest.h"

struct event_base;
typedef struct protocols protocols_t;


/* Bind every configured protocol listener. NULL on failure (logged; what was
 * bound is closed). With none configured, an empty set. */
protocols_t *protocols_start(struct event_base *base, const config_t *cfg, tls_server_t *tls,
                             ingest_t *ing, admin_t *adm);

/* Add the bound addresses to the start-up line: "syslog": [URL...], "otlp",
 * "forward", "elasticsearch": "HOST:PORT" (only those configured). */
void protocols_describe(const protocols_t *p, json_t *line);

/* Memory pressure: stop/restart accepting connections. NULL is fine. */
void protocols_pause_accepting(protocols_t *p, bool paused);

/* Drain: stop accepting and reading new input. NULL is fine. */
void protocols_stop(protocols_t *p);

/* Close every connection and free. NULL is fine. */
void protocols_free(protocols_t *p);

#endif
