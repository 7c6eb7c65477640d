/*
 * fuzz_otlp.c - libFuzzer target for the OTLP logs decoder (src/proto/otlp_decode.c),
 * both encodings.
 *
 * Input: byte 0 picks the encoding (bit 0: 0 protobuf, 1 JSON) and the limits (bits
 * 1-2: the defaults, a small max-record-bytes, a small max-depth, few records); the
 * rest is the request body, from an exact-size heap copy. Invariants:
 *   1. the return is 0, -EINVAL, -E2BIG or -ENOMEM; a refusal has a message and no
 *      records (ndjson NULL, records and rejected 0);
 *   2. on success: ndjson holds exactly `records` lines, each a JSON object (jansson
 *      parses it) with a "type" string, no longer than max-record-bytes and no
 *      deeper than max-depth; a rejected record leaves a message;
 *   3. the records pass the ingest scanner (record/scan.h, NDJSON) under the same
 *      limits: what the decoder accepts, ingest_submit never refuses as malformed.
 *
 * Build: make fuzz-build (tests/fuzz/fuzz.mk); run: build-fuzz/fuzz_otlp DIR.
 * Replayed by ctest over corpus/ and regressions/fuzz_otlp.
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/otlp_decode.h"
#include "record/scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *msg)
{
    fprintf(stderr, "fuzz_otlp: invariant violated: %s\n", msg);
    abort();
}

static const otlp_limits_t LIMITS[4] = {
    {100000, 1u << 20, 64},
    {1000, 300, 64},
    {1000, 65536, 4},
    {3, 65536, 64},
};

/* Depth of a parsed JSON value (objects and arrays), as record/scan.h counts it. */
static unsigned depth_of(const json_t *v)
{
    unsigned d = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            unsigned c = depth_of(x);
            if (c > d) d = c;
        }
        return d + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            unsigned c = depth_of(x);
            if (c > d) d = c;
        }
        return d + 1;
    }
    return 0;
}

static void check_records(const otlp_result_t *out, const otlp_limits_t *lim)
{
    const char *p = out->ndjson, *end = p ? p + out->len : NULL;
    size_t lines = 0;
    if (!out->records && out->ndjson) fail("ndjson without records");
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) fail("record without its newline");
        if ((size_t)(nl - p) > lim->max_record_bytes) fail("record over max-record-bytes");
        json_error_t je;
        json_t *r = json_loadb(p, (size_t)(nl - p), JSON_ALLOW_NUL, &je);
        if (!r || !json_is_object(r)) fail("record is not a JSON object");
        if (!json_is_string(json_object_get(r, "type"))) fail("record without a type");
        if (depth_of(r) > lim->max_depth) fail("record deeper than max-depth");
        json_decref(r);
        lines++;
        p = nl + 1;
    }
    if (lines != out->records) fail("record count differs from the lines");
    if (out->rejected && !out->error[0]) fail("rejected records without a message");
    if (!out->records) return;
    scan_limits_t sl = {.max_depth = lim->max_depth,
                        .max_records = (uint32_t)lim->max_records,
                        .max_record_bytes = (uint32_t)lim->max_record_bytes};
    scan_result_t s = {0};
    int rc = scan_body(out->ndjson, out->len, SCAN_FORMAT_NDJSON, &sl, &s);
    if (rc != SCAN_OK) fail("the ingest scanner refuses the records");
    if (s.count != out->records) fail("the ingest scanner counts other records");
    scan_result_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const otlp_limits_t *lim = &LIMITS[(data[0] >> 1) & 3];
    otlp_encoding_t enc = data[0] & 1 ? OTLP_ENC_JSON : OTLP_ENC_PROTOBUF;
    size_t n = size - 1;
    uint8_t *body = malloc(n ? n : 1);
    if (!body) return 0;
    memcpy(body, data + 1, n);
    otlp_result_t out;
    int rc = otlp_decode(body, n, enc, lim, &out);
    if (rc) {
        if (rc != -EINVAL && rc != -E2BIG && rc != -ENOMEM) fail("unknown error return");
        if (!out.error[0]) fail("a refusal without a message");
        if (out.ndjson || out.records || out.rejected) fail("a refusal with records");
    } else {
        check_records(&out, lim);
    }
    otlp_result_free(&out);
    free(body);
    return 0;
}
