/*
 * otlp.h - OTLP/HTTP logs (POST /v1/logs): ExportLogsServiceRequest in
 * application/json or application/x-protobuf (protoc-c code from
 * src/proto/otlp/), optionally gzip; one record per LogRecord; answers as the
 * OTLP specification says (partial_success, 400, 413, 429/503 + Retry-After,
 * in the request's content type). Served on the ingest listeners and on
 * --otlp-listen, by the HTTP server of app/server.c.
 */
#ifndef LOGDIST_PROTO_OTLP_H
#define LOGDIST_PROTO_OTLP_H

#include "ingest/ingest.h"
#include "ingress/http.h"

/* A request for /v1/logs has its head: answer it or read its body. On w's loop. */
void otlp_on_head(ingest_worker_t *w, http_req_t *r);
/* Its body is in: decode, submit, answer (now or after the WAL's fsync). */
void otlp_on_request(ingest_worker_t *w, http_req_t *r);

#endif
