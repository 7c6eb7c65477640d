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
 *
 * Details of the contract (implemented in scan.c, tested in tests/unit/test_scan.c):
 *   - Duplicate keys: the last one wins ("messages", "packet_id", "agent_id" and the
 *     record fields alike); a later "messages" replaces the records of an earlier one.
 *   - Lone surrogate escapes (\ud800 without a low half) are accepted: the grammar allows
 *     them. Numbers are checked for syntax only: any length or exponent is accepted.
 *   - NDJSON lines end at '\n'; '\r' is JSON whitespace, so CRLF works. A record cannot
 *     span lines, and a line holding more than one value is a syntax error. A last line
 *     without '\n' is fine; a body with no non-blank line has zero records.
 *   - Syntax (and UTF-8) errors stop the scan at once. A shape error is reported only
 *     when the rest of the body is valid JSON, so SCAN_ERR_SHAPE always means "valid JSON
 *     of the wrong shape". Limit errors (depth, too many, record size) stop the scan.
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
    SCAN_ERR_UTF8 = -2,        /* invalid UTF-8 (RFC 3629: no overlongs, no encoded
                                  surrogates, nothing above U+10FFFF) in a string or
                                  elsewhere; valid UTF-8 outside strings is a syntax error */
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

/* Limits; a NULL pointer or a zero field means the default. max_depth counts every array
 * and object, the packet itself included ({"messages":[{}]} has depth 3; an NDJSON record
 * has depth 1); values above 4096 act as 4096. max_records applies to one "messages"
 * array (or bare array / NDJSON body). Record sizes are checked when a record ends. */
typedef struct {
    uint32_t max_depth;        /* max nesting of arrays/objects, whole body; 0 = 64 */
    uint32_t max_records;      /* max records per body; 0 = 100000 */
    uint32_t max_record_bytes; /* max bytes of one record; 0 = 1 MiB */
} scan_limits_t;

/* The limits scan_body applies for `limits` (NULL or zero fields: the
 * defaults; max_depth clamped to 4096). */
scan_limits_t scan_limits_effective(const scan_limits_t *limits);

/* Result of a scan. The caller zero-initialises it once and may reuse it for
 * many bodies (the record table is kept and grown as needed). */
typedef struct {
    scan_record_t *records; /* records[0..count) */
    size_t count;
    size_t capacity;
    scan_slice_t packet_id; /* string contents of "packet_id" (packet form only) */
    scan_slice_t agent_id;  /* string contents of "agent_id"  (packet form only) */
    /* On error (on success: status SCAN_OK, err_offset 0, err_msg NULL): */
    scan_status_t status;
    /* Byte offset in the body where the problem was found:
     *   syntax, UTF-8: the first offending byte, i.e. the length of the longest prefix
     *       that could still be completed into a valid body; len (for NDJSON: the offset
     *       of the line's '\n') when the body is merely cut short;
     *   shape: the offending value, or the packet's closing '}' when "messages" is missing;
     *   depth: the bracket that opens one level too many;
     *   too many records, nomem: the '{' of the record that does not fit;
     *   record size: the first byte past the limit (record offset + max_record_bytes). */
    size_t err_offset;
    const char *err_msg; /* static, human readable, e.g. "expected ',' or ']' in array" */
} scan_result_t;

/*
 * Scan `len` bytes at `body` in the given format into `out`.
 * Returns SCAN_OK (0) and fills out->records/count/packet_id/agent_id, or a
 * negative scan_status_t with out->status, out->err_offset and out->err_msg set
 * (out->count is then 0 and packet_id/agent_id absent). Never reads outside
 * body[0..len); `body` may be NULL when len is 0. `limits` may be NULL (defaults).
 * A format value other than SCAN_FORMAT_NDJSON is treated as SCAN_FORMAT_JSON.
 * Bodies longer than UINT32_MAX bytes are rejected with SCAN_ERR_RECORD_SIZE
 * (err_offset UINT32_MAX) without being read. Not thread-safe on one `out`.
 */
int scan_body(const char *body, size_t len, scan_format_t format, const scan_limits_t *limits,
              scan_result_t *out);

/*
 * For front-ends that write records themselves (ingest_submit_scanned): what
 * scan_body does to record entry r for one top-level member of the record, in
 * the order written - the key's unescaped bytes k[0..kn) and the value's JSON
 * text body[v0..v1) (valid JSON: a string with its quotes, a number, true...).
 * The same field match, slices (offsets from body), escape flags, "last one
 * wins" and critical rules as the scanner. r starts zeroed with r->rec set by
 * the caller.
 */
void scan_record_member(scan_record_t *r, const char *body, const char *k, size_t kn, size_t v0,
                        size_t v1);

/* Free the record table of a result. Safe on a zeroed result. */
void scan_result_free(scan_result_t *out);

/* Short stable name of a status for JSON errors and metrics: "syntax", "utf8", "shape",
 * "depth", "too_many_records", "record_too_large", "nomem", "ok". */
const char *scan_status_name(int status);

#endif
