/*
 * fuzz_bulk.c - libFuzzer target for the Elasticsearch bulk parser
 * (src/proto/bulk_parse.c: bulk NDJSON -> items and records).
 *
 * Input: byte 0 picks the limits (bit 0: max-record-bytes 200, bit 1: depth 4,
 * bit 2: at most 8 items, bit 3: action lines of at most 64 bytes), byte 1 the
 * URL index (mod 3: none, "logs", "Bad"), the rest is the body, from an
 * exact-size heap copy. Invariants:
 *   1. the return is 0, -EINVAL, -E2BIG or -ENOMEM; a refusal holds no item and
 *      no records, and names a status (400/413/503), an ES type and a reason;
 *   2. a parse holds >= 1 item and at most the item limit; each item is taken
 *      (status 0: an index or create action with a valid index name) or
 *      failed with 400, a type and a reason; `taken` counts status 0;
 *   3. the records are NDJSON the ingest scanner takes with the same limits,
 *      one per taken item; each is an object that jansson parses (unless it
 *      holds what jansson cannot represent: a number beyond 64 bits or a
 *      double, a NUL in a key) and that has a "type" key.
 *
 * Build: make fuzz-build (tests/fuzz/fuzz.mk); run: build-fuzz/fuzz_bulk DIR.
 * Replayed by ctest over corpus/ and regressions/fuzz_bulk.
 */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/bulk_parse.h"
#include "record/scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *msg)
{
    fprintf(stderr, "fuzz_bulk: invariant violated: %s\n", msg);
    abort();
}

static void check_refusal(int rc, const bulk_result_t *r)
{
    if (rc != -EINVAL && rc != -E2BIG && rc != -ENOMEM) fail("unknown error return");
    if (r->count || r->items || r->records || r->taken) fail("a refusal holds items");
    if (r->status != 400 && r->status != 413 && r->status != 503) fail("unknown status");
    if (!r->err_type || !r->reason[0]) fail("a refusal without type or reason");
}

static void check_records(const bulk_result_t *r, const bulk_limits_t *lim)
{
    scan_limits_t sl = {.max_depth = lim->max_depth, .max_records = 0,
                        .max_record_bytes = lim->max_record_bytes};
    scan_result_t s = {0};
    if (scan_body(r->records, r->records_len, SCAN_FORMAT_NDJSON, &sl, &s) != SCAN_OK)
        fail("the records do not pass the ingest scanner");
    if (s.count != r->taken) fail("records and taken items differ");
    for (size_t i = 0; i < s.count; i++) {
        const char *rec = r->records + s.records[i].rec.off;
        json_error_t e;
        json_t *j = json_loadb(rec, s.records[i].rec.len, JSON_ALLOW_NUL, &e);
        if (!j) { /* what jansson cannot hold: huge numbers, a NUL in a key */
            if (!strstr(e.text, "too big") && !strstr(e.text, "overflow") &&
                !strstr(e.text, "NUL"))
                fail("a record jansson cannot parse");
            continue;
        }
        if (!json_is_object(j)) fail("a record is not an object");
        if (!json_object_get(j, "type")) fail("a record without type");
        json_decref(j);
    }
    scan_result_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    bulk_limits_t lim = {
        .max_record_bytes = data[0] & 1 ? 200 : 1u << 20,
        .max_depth = data[0] & 2 ? 4 : 64,
        .max_items = data[0] & 4 ? 8 : 100000,
        .max_action_bytes = data[0] & 8 ? 64 : 65536,
        .max_out_bytes = 1u << 24,
    };
    static const char *const idx[] = {NULL, "logs", "Bad"};
    const char *url_index = idx[data[1] % 3];
    size_t len = size - 2;
    char *body = malloc(len ? len : 1);
    if (!body) return 0;
    memcpy(body, data + 2, len);
    bulk_result_t r = {0};
    int rc = bulk_parse(body, len, url_index, &lim, &r);
    if (rc) {
        check_refusal(rc, &r);
    } else {
        if (!r.count || r.count > lim.max_items) fail("item count out of bounds");
        size_t taken = 0;
        for (size_t i = 0; i < r.count; i++) {
            const bulk_item_t *it = &r.items[i];
            if (it->status == 0) {
                taken++;
                if (it->op != BULK_OP_INDEX && it->op != BULK_OP_CREATE) fail("taken op");
                if (!it->index || !bulk_index_name_ok(it->index)) fail("taken bad index");
            } else if (it->status != 400 || !it->err_type || !it->reason[0]) {
                fail("a failed item without 400, type and reason");
            }
        }
        if (taken != r.taken) fail("taken miscounted");
        if (r.oversize > r.count - r.taken) fail("oversize miscounted");
        check_records(&r, &lim);
    }
    bulk_result_free(&r);
    free(body);
    return 0;
}
