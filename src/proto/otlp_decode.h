/*
 * otlp_decode.h - OTLP logs request bytes -> logdist records (pure: no I/O, no
 * globals, no metrics). The body of POST /v1/logs, an ExportLogsServiceRequest
 * in application/x-protobuf (protoc-c code generated from src/proto/otlp/) or
 * application/json (OTLP/JSON, parsed with jansson), becomes NDJSON: one record
 * per LogRecord, written with record/jsonw.h. The field mapping is in
 * docs/PROTOCOLS.md (and tested row by row in tests/unit/test_otlp_decode.c).
 *
 * Contract:
 *   - the whole request is checked before any record is written: wire format
 *     (protobuf) or syntax (JSON), the shape and types of every field, trace and
 *     span ids (hex in JSON; 16 and 8 bytes or empty), AnyValue nesting (at most
 *     OTLP_MAX_VALUE_DEPTH), the number of decoded values (OTLP_MAX_NODES) and of
 *     LogRecords (limits->max_records). A bad request is refused whole
 *     (-EINVAL, or -E2BIG for too many LogRecords/values) with a message naming
 *     what and where (e.g. "resourceLogs[0].scopeLogs[1].logRecords[2].traceId:
 *     not 32 hex digits"); nothing is returned then.
 *   - one LogRecord whose record would be larger than limits->max_record_bytes
 *     or nest deeper than limits->max_depth (the ingest scanner's limits) is
 *     left out alone: counted in `rejected`, the first reason in `error`. The
 *     others are in `ndjson`. Nothing is ever truncated.
 *   - the protobuf input is walked once by a bounded wire-format check (depth,
 *     counts, lengths) before protobuf-c unpacks it: protobuf-c itself recurses
 *     without a bound.
 *
 * Ownership: the caller owns `body`; on success out->ndjson is malloc'd (or NULL
 * when no record was produced) and belongs to the caller (otlp_result_free or
 * take it). Error convention: 0 or negative errno (-EINVAL, -E2BIG, -ENOMEM).
 */
#ifndef LOGDIST_PROTO_OTLP_DECODE_H
#define LOGDIST_PROTO_OTLP_DECODE_H

#include <stddef.h>
#include <stdint.h>

#define OTLP_MAX_VALUE_DEPTH 32 /* AnyValue inside AnyValue (arrays, kvlists) */
#define OTLP_MAX_NODES 262144   /* decoded messages (protobuf) / 4x JSON values */
#define OTLP_ERROR_MAX 256

typedef enum { OTLP_ENC_PROTOBUF = 0, OTLP_ENC_JSON = 1 } otlp_encoding_t;

typedef struct otlp_limits {
    size_t max_records;      /* LogRecords in one request (more: -E2BIG) */
    size_t max_record_bytes; /* one record's JSON (more: that record rejected) */
    unsigned max_depth;      /* one record's JSON nesting, as record/scan.h counts it */
} otlp_limits_t;

typedef struct otlp_result {
    char *ndjson; /* accepted records, one per line (malloc'd; NULL if none) */
    size_t len;
    size_t records;             /* records in ndjson */
    size_t rejected;            /* LogRecords left out individually */
    char error[OTLP_ERROR_MAX]; /* why the request (or the first rejected record) was refused */
} otlp_result_t;

/* Decode body[0..len) in `enc` under `lim`. On 0, *out holds the records and
 * the rejected count; on a negative errno out->error says why (out->ndjson is
 * NULL). `out` is always initialised. */
int otlp_decode(const void *body, size_t len, otlp_encoding_t enc, const otlp_limits_t *lim,
                otlp_result_t *out);
/* Free out->ndjson (NULL is fine). */
void otlp_result_free(otlp_result_t *out);

#endif
