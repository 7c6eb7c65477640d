/*
 * otlp.c - POST /v1/logs (OTLP/HTTP logs): see otlp.h. The I/O half: HTTP
 * checks before the body, gunzip, the pure decoder (otlp_decode.h), one
 * ingest_submit per request, and the answer in the request's encoding.
 *
 * Before the body, in this order: method (405), auth (401/403, role ingest),
 * overload (ingest_room: 503 + Retry-After, and the connection closes),
 * Content-Type (415 unless application/x-protobuf or application/json),
 * Content-Encoding (415 unless gzip or identity), Content-Length over
 * --max-body-bytes (413). After it: gunzip under --max-decoded-bytes (413),
 * decode (400 with a google.rpc.Status naming what and where; 413 for more
 * LogRecords than --max-records-per-packet), then the records that fit
 * --max-record-bytes / --max-depth are submitted together and the rest are
 * counted in partial_success. The verdict (now, or after the WAL's fsync when
 * a record is durable) gives 200 + ExportLogsServiceResponse, or 429/503 with
 * Retry-After (retryable per the OTLP specification).
 *
 * State between the phases: the request's user slot holds the agent the token
 * is bound to (a string of the auth object) or NULL.
 */
#include "proto/otlp.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/auth.h"
#include "core/metrics.h"
#include "ingest/gunzip.h"
#include "ingress/auth_http.h"
#include "ingress/http_reply.h"
#include "otlp/google/rpc/status.pb-c.h"
#include "otlp/opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "proto/otlp_decode.h"

/* google.rpc.Code values the answers carry */
#define RPC_INVALID_ARGUMENT 3
#define RPC_FAILED_PRECONDITION 9
#define RPC_RESOURCE_EXHAUSTED 8
#define RPC_INTERNAL 13
#define RPC_UNAVAILABLE 14

#define CT_PROTOBUF "application/x-protobuf"
#define CT_JSON "application/json"

typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceResponse pb_resp_t;
typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsPartialSuccess pb_partial_t;

/* The request's encoding: 0 protobuf, 1 JSON, -1 neither. */
static int encoding_of(const http_req_t *r)
{
    const char *ct = http_req_header(r, "Content-Type");
    if (!ct) return -1;
    if (http_media_is(ct, CT_PROTOBUF)) return OTLP_ENC_PROTOBUF;
    if (http_media_is(ct, CT_JSON)) return OTLP_ENC_JSON;
    return -1;
}

static int rpc_code_of(int http_status)
{
    switch (http_status) {
    case 429:
        return RPC_RESOURCE_EXHAUSTED;
    case 503:
        return RPC_UNAVAILABLE;
    case 409:
        return RPC_FAILED_PRECONDITION;
    case 500:
        return RPC_INTERNAL;
    default:
        return RPC_INVALID_ARGUMENT;
    }
}

/* Answer an error as a google.rpc.Status in the request's encoding (JSON when
 * it has none we know), with Retry-After when retry_after > 0. 503s close the
 * connection (as ingest sheds: the client comes back after Retry-After). */
static void reply_status(http_req_t *r, int enc, int http_status, const char *msg, int retry_after)
{
    if (retry_after > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", retry_after);
        http_req_add_header(r, "Retry-After", v);
    }
    if (http_status == 503) http_req_close_after(r);
    int code = rpc_code_of(http_status);
    if (enc == OTLP_ENC_PROTOBUF) {
        Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
        st.code = code;
        st.message = (char *)msg;
        size_t n = google__rpc__status__get_packed_size(&st);
        uint8_t *buf = malloc(n ? n : 1);
        if (buf) {
            google__rpc__status__pack(&st, buf);
            http_req_reply(r, http_status, CT_PROTOBUF, (const char *)buf, n);
            free(buf);
            return;
        }
        http_req_reply(r, http_status, CT_PROTOBUF, "", 0); /* out of memory: an empty Status */
        return;
    }
    json_t *o = json_pack("{s:i,s:s}", "code", code, "message", msg);
    http_reply_json(r, http_status, o); /* NULL (ENOMEM): its static JSON error */
}

/* 200 with an ExportLogsServiceResponse: partial_success empty, or with the
 * count of LogRecords left out and why. */
static void reply_success(http_req_t *r, int enc, size_t rejected, const char *why)
{
    if (enc == OTLP_ENC_PROTOBUF) {
        pb_resp_t resp =
            OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_SERVICE_RESPONSE__INIT;
        pb_partial_t ps =
            OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_PARTIAL_SUCCESS__INIT;
        if (rejected) {
            ps.rejected_log_records = (int64_t)rejected;
            ps.error_message = (char *)why;
        }
        resp.partial_success = &ps;
        uint8_t buf[OTLP_ERROR_MAX + 64];
        size_t n = opentelemetry__proto__collector__logs__v1__export_logs_service_response__pack(
            &resp, buf);
        http_req_reply(r, 200, CT_PROTOBUF, (const char *)buf, n);
        return;
    }
    json_t *ps = json_object();
    if (rejected && ps) {
        char count[32];
        snprintf(count, sizeof count, "%zu", rejected); /* int64 as a string, as protojson */
        json_object_set_new(ps, "rejectedLogRecords", json_string(count));
        json_object_set_new(ps, "errorMessage", json_string(why));
    }
    http_reply_json(r, 200, json_pack("{s:o}", "partialSuccess", ps));
}

/* A request waiting for its verdict. */
typedef struct otlp_call {
    http_req_t *r;
    int enc;
    size_t rejected, records;
    char why[OTLP_ERROR_MAX];
} otlp_call_t;

static void on_verdict(void *ctx, const ingest_verdict_t *v)
{
    otlp_call_t *c = ctx;
    if (v->status == 0) {
        PROTO_ADD(PROTO_OTLP, records_accepted, v->records);
        reply_success(c->r, c->enc, c->rejected, c->why);
    } else {
        PROTO_ADD(PROTO_OTLP, records_refused, c->records);
        int status = v->http_status ? v->http_status : 503;
        int retry = v->retry_after;
        if ((status == 429 || status == 503) && retry <= 0) retry = 1;
        reply_status(c->r, c->enc, status, v->message ? v->message : "refused", retry);
    }
    free(c);
}

void otlp_on_head(ingest_worker_t *w, http_req_t *r)
{
    ingest_t *ing = ingest_worker_owner(w);
    const ingest_limits_t *L = ingest_limits(ing); /* live: ingest_set_limits */
    int enc = encoding_of(r);
    if (http_req_method(r) != HTTP_M_POST) {
        metrics_reject(REJECT_METHOD);
        http_req_add_header(r, "Allow", "POST");
        reply_status(r, enc, 405, "use POST to export logs", 0);
        return;
    }
    const char *agent = NULL;
    if (!auth_http_require(ingest_auth(ing), r, ROLE_INGEST, &agent)) {
        PROTO_ADD(PROTO_OTLP, auth_failures, 1);
        return;
    }
    switch (ingest_room(ing)) {
    case -ESHUTDOWN:
        metrics_reject(REJECT_DRAINING);
        reply_status(r, enc, 503, "logdistd is shutting down", 5);
        return;
    case -ENOBUFS:
        metrics_reject(REJECT_MEMORY);
        reply_status(r, enc, 503, "memory pressure (memory-limit); retry later", 2);
        return;
    case -EAGAIN:
        metrics_reject(REJECT_QUEUE_FULL);
        reply_status(r, enc, 503, "queue is full (max-queue-bytes); retry later", 1);
        return;
    default:
        break;
    }
    if (enc < 0) {
        metrics_reject(REJECT_MEDIA_TYPE);
        reply_status(r, enc, 415, "Content-Type must be application/x-protobuf or application/json",
                     0);
        return;
    }
    if (http_req_gzip(r) < 0) {
        metrics_reject(REJECT_ENCODING);
        reply_status(r, enc, 415, "Content-Encoding must be gzip or identity", 0);
        return;
    }
    long long cl = http_req_content_length(r);
    if (cl > 0 && (uint64_t)cl > L->max_body_bytes) {
        metrics_reject(REJECT_BODY_TOO_LARGE);
        PROTO_ADD(PROTO_OTLP, oversize, 1);
        reply_status(r, enc, 413, "request body is larger than max-body-bytes", 0);
        return;
    }
    http_req_set_user(r, (void *)agent);
    int rc = http_req_read_body(r, L->max_body_bytes);
    if (rc) { /* answered by the framer: 413 (chunked, over the limit) or 503 */
        metrics_reject(rc == -ENOMEM ? REJECT_NOMEM : REJECT_BODY_TOO_LARGE);
        if (rc != -ENOMEM) PROTO_ADD(PROTO_OTLP, oversize, 1);
    }
}

/* The body, gunzipped if need be: *data[0..*out_len), inside *block (malloc'd,
 * the caller frees it). 0, or the request was answered. */
static int body_of(http_req_t *r, const ingest_limits_t *L, int enc, char **out, const char **body,
                   size_t *out_len)
{
    char *block = NULL;
    const char *data = NULL;
    size_t len = 0;
    if (http_req_take_body(r, &block, &data, &len)) {
        metrics_reject(REJECT_NOMEM);
        reply_status(r, enc, 503, "out of memory", 1);
        return -ENOMEM;
    }
    METRIC_ADD(bytes_received, len);
    if (len > L->max_body_bytes) { /* the framer enforces it; never trust one place only */
        free(block);
        metrics_reject(REJECT_BODY_TOO_LARGE);
        PROTO_ADD(PROTO_OTLP, oversize, 1);
        reply_status(r, enc, 413, "request body is larger than max-body-bytes", 0);
        return -E2BIG;
    }
    if (http_req_gzip(r) <= 0) {
        *out = block;
        *body = data && len ? data : "";
        *out_len = len;
        return 0;
    }
    size_t erroff;
    int rc = gunzip_body(data ? data : "", len, L->max_decoded_bytes, out, out_len, &erroff);
    free(block);
    if (rc == GUNZIP_OK) {
        *body = *out;
        return 0;
    }
    if (rc == GUNZIP_ERR_TOO_BIG) {
        metrics_reject(REJECT_BODY_TOO_LARGE);
        PROTO_ADD(PROTO_OTLP, oversize, 1);
        reply_status(r, enc, 413, "decompressed body is larger than max-decoded-bytes", 0);
    } else if (rc == GUNZIP_ERR_NOMEM) {
        metrics_reject(REJECT_NOMEM);
        reply_status(r, enc, 503, "out of memory", 1);
    } else {
        char msg[96];
        snprintf(msg, sizeof msg, "body is not a valid gzip stream (at byte %zu)", erroff);
        metrics_reject(REJECT_BAD_GZIP);
        PROTO_ADD(PROTO_OTLP, decode_errors, 1);
        reply_status(r, enc, 400, msg, 0);
    }
    return -EINVAL;
}

/* A decode refusal: 400, 413 (too many LogRecords or values) or 503. */
static void refuse_decode(http_req_t *r, int enc, int rc, const char *why)
{
    if (rc == -ENOMEM) {
        metrics_reject(REJECT_NOMEM);
        reply_status(r, enc, 503, "out of memory", 1);
    } else if (rc == -E2BIG) {
        metrics_reject(REJECT_TOO_MANY_RECORDS);
        PROTO_ADD(PROTO_OTLP, oversize, 1);
        reply_status(r, enc, 413, why, 0);
    } else {
        metrics_reject(enc == OTLP_ENC_JSON ? REJECT_SYNTAX : REJECT_SHAPE);
        PROTO_ADD(PROTO_OTLP, decode_errors, 1);
        reply_status(r, enc, 400, why, 0);
    }
}

void otlp_on_request(ingest_worker_t *w, http_req_t *r)
{
    ingest_t *ing = ingest_worker_owner(w);
    const ingest_limits_t *L = ingest_limits(ing); /* live: ingest_set_limits */
    int enc = encoding_of(r); /* checked by on_head */
    char *block = NULL;
    const char *body = NULL;
    size_t len = 0;
    if (body_of(r, L, enc, &block, &body, &len)) return;
    otlp_limits_t lim = {L->max_records_per_packet, L->max_record_bytes, L->max_depth};
    otlp_result_t res;
    int rc = otlp_decode(body, len, (otlp_encoding_t)enc, &lim, &res);
    free(block);
    if (rc) {
        refuse_decode(r, enc, rc, res.error);
        return;
    }
    PROTO_ADD(PROTO_OTLP, messages, 1);
    if (res.rejected) {
        PROTO_ADD(PROTO_OTLP, records_refused, res.rejected);
        PROTO_ADD(PROTO_OTLP, oversize, res.rejected);
    }
    if (!res.records) { /* nothing to queue: an empty request, or every record left out */
        reply_success(r, enc, res.rejected, res.error);
        return;
    }
    otlp_call_t *c = malloc(sizeof *c);
    if (!c) {
        otlp_result_free(&res);
        metrics_reject(REJECT_NOMEM);
        reply_status(r, enc, 503, "out of memory", 1);
        return;
    }
    c->r = r;
    c->enc = enc;
    c->rejected = res.rejected;
    c->records = res.records;
    memcpy(c->why, res.error, sizeof c->why);
    ingest_origin_t origin = {.bound_agent = http_req_user(r),
                              .peer_addr = http_req_peer_addr(r),
                              .whole_durable = false};
    ingest_submit(w, &origin, res.ndjson, res.len, on_verdict, c); /* takes the NDJSON */
}
