/*
 * scan.h - one-pass validating JSON scanner that splits a log packet into records.
 *
 * This is the hot path of ingest: every byte an agent sends goes through
 * scan_body() exactly once. It validates the whole body against RFC 8259
 * (strict: UTF-8 checked, no NaN/Infinity, no comments, no trailing commas,
 * no control bytes in strings) and returns, for every record, its byte offset
 * and length in the body so the record can be forwarded verbatim, plus raw
 * slices of the top-level fields routing and durability need (id, level,
 * source, type, critical). Nothing is allocated except the record table,
 * which the caller owns and reuses.
 *
 * Accepted shapes:
 *   SCAN_FORMAT_JSON   - a packet {"packet_id":..,"agent_id":..,"messages":[rec,...]}
 *                        (any other top-level keys are validated and ignored), or a
 *                        bare array [rec, ...]; chosen by the first non-blank byte.
 *   SCAN_FORMAT_NDJSON - one record per line; blank lines (only JSON whitespace) skipped.
 * A record must be a JSON object. An empty packet (zero records) is valid.
 */
#ifndef LOGDIST_SCAN_H
#define LOGDIST_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { SCAN_FORMAT_JSON = 0, SCAN_FORMAT_NDJSON = 1 } scan_format_t;

/* Error codes (negative, so that "n >= 0" means success elsewhere). */
typedef enum {
    SCAN_OK = 0,
    SCAN_ERR_SYNTAX = -1,      /* malformed JSON (includes truncation, trailing garbage) */
    SCAN_ERR_UTF8 = -2,        /* invalid UTF-8 in a string or elsewhere */
    SCAN_ERR_SHAPE = -3,       /* valid JSON of the wrong shape: messages missing / not an
                                  array, top level not object/array, a record not an object */
    SCAN_ERR_DEPTH = -4,       /* nesting deeper than limits.max_depth */
    SCAN_ERR_TOO_MANY = -5,    /* more than limits.max_records records */
    SCAN_ERR_RECORD_SIZE = -6, /* one record longer than limits.max_record_bytes */
    SCAN_ERR_NOMEM = -7,       /* record table could not grow */
} scan_status_t;

/* A slice of the body: offset and length in bytes. len == 0 with off == 0 means absent. */
typedef struct {
    uint32_t off;
    uint32_t len;
} scan_slice_t;

/* Flags per record. */
enum {
    SCAN_REC_CRITICAL = 1u << 0,       /* "critical": true at the record's top level */
    SCAN_REC_LEVEL_ESCAPED = 1u << 1,  /* level slice contains backslash escapes */
    SCAN_REC_SOURCE_ESCAPED = 1u << 2, /* source slice contains backslash escapes */
    SCAN_REC_TYPE_ESCAPED = 1u << 3,   /* type slice contains backslash escapes */
    SCAN_REC_ID_ESCAPED = 1u << 4,     /* id slice contains backslash escapes */
};

/*
 * One record. `rec` covers the object from '{' to '}' inclusive. The string
 * fields are the *contents* of the JSON string (between the quotes, escapes
 * left raw, see the flags); they are looked up by key at the record's top
 * level only, keys compared after unescaping ("lev\u0065l" is "level"); when
 * a key repeats, the last value wins. A field whose value is not a string is
 * reported absent. `id` is also taken when it is a number (its raw text).
 */
typedef struct {
    scan_slice_t rec;
    scan_slice_t id;
    scan_slice_t level;
    scan_slice_t source;
    scan_slice_t type;
    uint32_t flags;
} scan_record_t;

typedef struct {
    uint32_t max_depth;        /* max nesting of arrays/objects, whole body; 0 = 64 */
    uint32_t max_records;      /* max records per body; 0 = 100000 */
    uint32_t max_record_bytes; /* max bytes of one record; 0 = 1 MiB */
} scan_limits_t;

/* Result of a scan. The caller zero-initialises it once and may reuse it for
 * many bodies (the record table is kept and grown as needed). */
typedef struct {
    scan_record_t *records; /* records[0..count) */
    size_t count;
    size_t capacity;
    scan_slice_t packet_id; /* string contents of "packet_id" (packet form only) */
    scan_slice_t agent_id;  /* string contents of "agent_id"  (packet form only) */
    /* On error: */
    scan_status_t status;
    size_t err_offset;   /* byte offset in the body where the problem was found */
    const char *err_msg; /* static, human readable, e.g. "expected ',' or ']'" */
} scan_result_t;

/*
 * Scan `len` bytes at `body` in the given format into `out`.
 * Returns SCAN_OK (0) and fills out->records/count/packet_id/agent_id, or a
 * negative scan_status_t with out->status, out->err_offset and out->err_msg set
 * (out->count is then 0). Never reads outside body[0..len). Bodies longer than
 * UINT32_MAX bytes are rejected with SCAN_ERR_RECORD_SIZE.
 */
int scan_body(const char *body, size_t len, scan_format_t format, const scan_limits_t *limits,
              scan_result_t *out);

/* Free the record table of a result. Safe on a zeroed result. */
void scan_result_free(scan_result_t *out);

/* Short stable name of a status for JSON errors and metrics: "syntax", "utf8", "shape",
 * "depth", "too_many_records", "record_too_large", "nomem", "ok". */
const char *scan_status_name(int status);

#endif
