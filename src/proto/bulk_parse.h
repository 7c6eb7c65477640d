/*
 * bulk_parse.h - the pure part of the Elasticsearch bulk API (proto/elastic.c):
 * a bulk body (NDJSON: action line, then a source line for index / create /
 * update) -> one result per item, in order, and the NDJSON records of the
 * items that can be taken. No I/O, no clock, no randomness.
 *
 * Contract:
 *   - lines end at '\n'; a '\r' before it is whitespace; lines holding only
 *     whitespace are skipped wherever they are; the last line needs no '\n'.
 *   - The request fails whole (bulk_parse returns -EINVAL or -E2BIG, with an
 *     ES exception type and reason in the result) when it is not a bulk body:
 *     no action at all, an action line that is not JSON, not an object of
 *     exactly one key, an unknown action, action metadata that is not an
 *     object, a "_index"/"_id" that is not a string or is repeated (other
 *     metadata - routing, pipeline, if_seq_no... - is ignored), an index/create/update
 *     action without its source line, an action line over
 *     limits.max_action_bytes (-EINVAL); more than limits.max_items actions
 *     or more output than limits.max_out_bytes (-E2BIG). Nothing is taken.
 *   - Otherwise each item has a status: 0 (its record is in `records`) or
 *     the HTTP status of its own failure, with an ES exception type:
 *       delete, update                   400 illegal_argument_exception
 *       no index (action nor URL)        400 action_request_validation_exception
 *       an invalid index name / _id      400 invalid_index_name_exception /
 *                                            illegal_argument_exception
 *       document not JSON / not an object / too deep
 *                                        400 mapper_parsing_exception
 *       document (raw or mapped) over limits.max_record_bytes
 *                                        400 illegal_argument_exception
 *   - A document is validated with the ingest scanner (record/scan.h: strict
 *     RFC 8259, UTF-8, depth), so what is taken here passes ingest's own scan.
 *   - Mapping (docs/PROTOCOLS.md): the document's bytes are
 *     kept as they are; fields are added at the end of the object (written
 *     with record/jsonw.h) only when the document has no top-level key of
 *     that name (whatever its value): `type` <- the index; `timestamp` <-
 *     `@timestamp` (a string copied as is, an integer taken as epoch
 *     milliseconds up to 2262); `level` <- `log.level` (dotted key, or "log":{"level"})
 *     when level_from_text() knows it; `source` <- `service.name`, else
 *     `host.name` (dotted or nested) when a string. A string `level` that
 *     level_from_text() knows is replaced in place by our name ("warning" ->
 *     "WARN").
 *
 * Ownership: the result owns its items, their strings and `records` (which
 * the caller may take over: set it to NULL). Free with bulk_result_free();
 * bulk_parse frees what a previous use held. Error convention: 0 or negative
 * errno.
 */
#ifndef LOGDIST_PROTO_BULK_PARSE_H
#define LOGDIST_PROTO_BULK_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { BULK_OP_INDEX = 0, BULK_OP_CREATE, BULK_OP_UPDATE, BULK_OP_DELETE } bulk_op_t;

#define BULK_REASON_MAX 200
#define BULK_INDEX_MAX 255 /* bytes, as Elasticsearch */
#define BULK_ID_MAX 512    /* bytes, as Elasticsearch */

typedef struct bulk_item {
    bulk_op_t op;
    int status;               /* 0: taken (its record is in records), else its HTTP status */
    const char *err_type;     /* static ES exception type when status != 0 */
    char reason[BULK_REASON_MAX]; /* when status != 0 */
    char *index;              /* NULL when neither the action nor the URL names one; malloc'd,
                                 or the same pointer as an earlier item's (index_borrowed) */
    bool index_borrowed;      /* index belongs to an earlier item of the result */
    char *id;                 /* malloc'd; NULL when the action names none */
} bulk_item_t;

typedef struct bulk_result {
    bulk_item_t *items;       /* items[0..count), in the order of the body */
    size_t count, cap;
    char *records;            /* NDJSON of the taken items, in order (malloc'd) */
    size_t records_len;
    size_t taken;             /* items with status 0 */
    size_t oversize;          /* items refused for their size */
    /* a whole-request failure (bulk_parse returned < 0): */
    int status;               /* HTTP status (400, 413, 503) */
    const char *err_type;     /* static ES exception type */
    char reason[BULK_REASON_MAX];
} bulk_result_t;

typedef struct bulk_limits {
    uint32_t max_record_bytes; /* one record, raw and mapped (0: 1 MiB) */
    uint32_t max_depth;        /* nesting of one document (0: 64) */
    size_t max_items;          /* actions per request (0: 100000) */
    size_t max_action_bytes;   /* one action line (0: 64 KiB) */
    size_t max_out_bytes;      /* all records together (0: 256 MiB) */
} bulk_limits_t;

/* Parse body[0..len). `url_index` is the {index} of /{index}/_bulk (already
 * URL-decoded; NULL or "" for /_bulk). `out` must be zeroed before its first
 * use. Returns 0 (items and records filled, some items may have failed) or
 * -EINVAL / -E2BIG / -ENOMEM (out->status, err_type and reason say why). */
int bulk_parse(const char *body, size_t len, const char *url_index, const bulk_limits_t *lim,
               bulk_result_t *out);

/* Free everything the result holds and zero it. Safe on a zeroed result. */
void bulk_result_free(bulk_result_t *r);

/* "index", "create", "update", "delete". */
const char *bulk_op_name(bulk_op_t op);

/* Is `name` (NUL-terminated) a valid Elasticsearch index name: 1..255 bytes,
 * lowercase, none of \ / * ? " < > | space , # :, not starting with _ - +,
 * not "." or ".."? */
int bulk_index_name_ok(const char *name);

#endif
