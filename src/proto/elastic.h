/*
 * elastic.h - the Elasticsearch bulk API (--elasticsearch-listen HOST:PORT):
 * POST /_bulk and /{index}/_bulk (NDJSON action + source lines; index and
 * create accepted, delete and update refused per item), GET / answered like a
 * cluster, Basic and ApiKey credentials mapped onto our tokens. Served by the
 * HTTP server of app/server.c (role SERVE_ELASTIC).
 */
#ifndef LOGDIST_PROTO_ELASTIC_H
#define LOGDIST_PROTO_ELASTIC_H

#include "ingest/ingest.h"
#include "ingress/http.h"

/* Any request on the Elasticsearch listener has its head. On w's loop. */
void elastic_on_head(ingest_worker_t *w, http_req_t *r);
/* Its body is in. */
void elastic_on_request(ingest_worker_t *w, http_req_t *r);

#endif
