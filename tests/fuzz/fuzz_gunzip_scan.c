/*
 * fuzz_gunzip_scan.c - libFuzzer target for the gzip ingest path: gunzip_body()
 * (src/ingest/gunzip.c) with max_out 1 MiB, then scan_body() on the output in both
 * formats (default limits, and small limits for JSON), like ingest_handle() does for
 * Content-Encoding: gzip.
 *
 * Also checks gunzip_body()'s contract: on success *out is set, *out_len <= max_out
 * and *err_offset is 0; on error *out is NULL, *out_len 0 and *err_offset <= in_len.
 * And its consistency with a second decode under a 64-byte limit: an output of at
 * most 64 bytes must come out identical, a longer one (or TOO_BIG under 1 MiB) must
 * be GUNZIP_ERR_TOO_BIG.
 *
 * Inputs that do not start with the gzip magic (1f 8b) are first compressed here (as
 * two gzip members split at a point taken from the input, level from the input too):
 * that must decode to exactly the input, and lets the scanner see mutated plain text
 * through the gzip path. Inputs that start with 1f 8b are decoded as they are.
 *
 * Build: make fuzz-build (see tests/fuzz/fuzz.mk); run: build-fuzz/fuzz_gunzip_scan DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "ingest/gunzip.h"
#include "record/scan.h"
#include "scan_invariants.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OUT (1u << 20)
#define SMALL_OUT 64u

static scan_result_t g_res;

static void fail(const char *msg, size_t in_len)
{
    fprintf(stderr, "fuzz_gunzip_scan: invariant violated: %s (input %zu B)\n", msg, in_len);
    abort();
}

/* Append in[0..len) as one gzip member at level `level` to buf (grown as needed).
 * Returns false on a zlib/allocation failure. */
static bool gz_member(const uint8_t *in, size_t len, int level, uint8_t **buf, size_t *blen)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return false;
    size_t bound = deflateBound(&zs, (uLong)len) + 32;
    uint8_t *n = realloc(*buf, *blen + bound);
    if (!n) {
        deflateEnd(&zs);
        return false;
    }
    *buf = n;
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = n + *blen;
    zs.avail_out = (uInt)bound;
    int z = deflate(&zs, Z_FINISH);
    *blen += bound - zs.avail_out;
    deflateEnd(&zs);
    return z == Z_STREAM_END;
}

static void check_gunzip(int rc, const char *in, size_t in_len, size_t max_out, char *out,
                         size_t out_len, size_t err_off)
{
    (void)in;
    if (rc == GUNZIP_OK) {
        if (!out) fail("OK without output buffer", in_len);
        if (out_len > max_out) fail("output longer than max_out", in_len);
        if (err_off != 0) fail("OK with err_offset != 0", in_len);
    } else {
        if (rc != GUNZIP_ERR_DATA && rc != GUNZIP_ERR_TOO_BIG && rc != GUNZIP_ERR_NOMEM)
            fail("unknown status", in_len);
        if (out || out_len) fail("error with output set", in_len);
        if (err_off > in_len) fail("err_offset past the input", in_len);
    }
}

static void scan_one(const char *body, size_t len, scan_format_t fmt, const scan_limits_t *lim)
{
    int rc = scan_body(body, len, fmt, lim, &g_res);
    const char *msg = scan_check(body, len, fmt, lim, rc, &g_res);
    if (msg) fail(msg, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *plain = NULL; /* set when the harness made the gzip stream itself */
    size_t plain_len = 0;
    uint8_t *made = NULL;
    if (size < 2 || data[0] != 0x1f || data[1] != 0x8b) {
        size_t made_len = 0;
        size_t cut = size ? data[0] % (size + 1) : 0; /* two members: [0,cut) and [cut,size) */
        int level = size ? data[size - 1] % 10 : 6;
        if (!gz_member(data, cut, level, &made, &made_len) ||
            !gz_member(data + cut, size - cut, level, &made, &made_len)) {
            free(made);
            return 0;
        }
        plain = data;
        plain_len = size;
        data = made;
        size = made_len;
    }

    /* exact-size heap copy: ASan catches reads past the input */
    char *in = malloc(size ? size : 1);
    if (!in) return 0;
    if (size) memcpy(in, data, size);

    char *out = NULL;
    size_t out_len = 0, err_off = 0;
    int rc = gunzip_body(in, size, MAX_OUT, &out, &out_len, &err_off);
    check_gunzip(rc, in, size, MAX_OUT, out, out_len, err_off);
    if (plain && plain_len <= MAX_OUT &&
        (rc != GUNZIP_OK || out_len != plain_len || (plain_len && memcmp(out, plain, plain_len))))
        fail("a stream made by zlib does not decode to its input", size);

    char *small = NULL;
    size_t small_len = 0, small_err = 0;
    int rc2 = gunzip_body(in, size, SMALL_OUT, &small, &small_len, &small_err);
    check_gunzip(rc2, in, size, SMALL_OUT, small, small_len, small_err);
    if (rc == GUNZIP_OK && out_len <= SMALL_OUT &&
        (rc2 != GUNZIP_OK || small_len != out_len || memcmp(small, out, out_len)))
        fail("a small output decodes differently under a 64-byte limit", size);
    if (((rc == GUNZIP_OK && out_len > SMALL_OUT) || rc == GUNZIP_ERR_TOO_BIG) &&
        rc2 != GUNZIP_ERR_TOO_BIG)
        fail("an output over 64 bytes is not TOO_BIG under a 64-byte limit", size);
    free(small);

    if (rc == GUNZIP_OK) {
        /* exact-size copy of the output for the scanner (the decode buffer has slack) */
        char *body = malloc(out_len ? out_len : 1);
        if (body) {
            if (out_len) memcpy(body, out, out_len);
            static const scan_limits_t small_lim = {3, 2, 64};
            scan_one(body, out_len, SCAN_FORMAT_JSON, NULL);
            scan_one(body, out_len, SCAN_FORMAT_NDJSON, NULL);
            scan_one(body, out_len, SCAN_FORMAT_JSON, &small_lim);
            free(body);
        }
    }
    free(out);
    free(in);
    free(made);
    return 0;
}
