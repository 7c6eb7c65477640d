/*
 * fuzz_scan.c - libFuzzer target for scan_body() (src/ingest/scan.c).
 *
 * Input: byte 0 selects the format and small limits, the rest is the body.
 *   bit 0     format (0 JSON, 1 NDJSON)
 *   bits 1-3  max_depth        {default, 1, 2, 3, 4, 6, 10, 64}
 *   bits 4-5  max_records      {default, 1, 2, 5}
 *   bits 6-7  max_record_bytes {default, 1, 16, 64}
 * The body is scanned from an exact-size heap copy (so ASan sees any over-read) into
 * a result reused across inputs, with those limits; the result is checked against the
 * contract (tests/fuzz/scan_invariants.h). Then the body is scanned again into a fresh
 * result with default limits: if the limited scan succeeded, this one must succeed
 * with the same records (every selectable limit is at most the default).
 *
 * Then the jansson oracle (scan_oracle.h, shared with tests/unit/test_scan.c) judges
 * the default scan: jansson must agree on valid / wrong shape / invalid, on every record
 * slice and field, and the error offset must follow scan.h's rule - unless the default
 * scan hit one of the scanner's own limits (depth 64, 100000 records, 1 MiB records),
 * which jansson does not have. The oracle's random probe position comes from a PRNG
 * seeded with a hash of the input, so a finding replays exactly.
 *
 * Build: make fuzz-build (see tests/fuzz/fuzz.mk); run: build-fuzz/fuzz_scan CORPUS_DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record/scan.h"
#include "scan_invariants.h"
#include "scan_oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static scan_result_t g_res; /* reused for every input, like ingest's */

static void check(const char *what, const char *msg, size_t len)
{
    if (!msg) return;
    fprintf(stderr, "fuzz_scan: invariant violated (%s): %s (body %zu B)\n", what, msg, len);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t depths[8] = {0, 1, 2, 3, 4, 6, 10, 64};
    static const uint32_t records[4] = {0, 1, 2, 5};
    static const uint32_t rbytes[4] = {0, 1, 16, 64};
    if (size < 1) return 0;
    uint8_t sel = data[0];
    scan_format_t fmt = (sel & 1) ? SCAN_FORMAT_NDJSON : SCAN_FORMAT_JSON;
    scan_limits_t lim = {depths[(sel >> 1) & 7], records[(sel >> 4) & 3], rbytes[(sel >> 6) & 3]};
    size_t len = size - 1;
    char *body = malloc(len ? len : 1);
    if (!body) return 0;
    memcpy(body, data + 1, len);

    int rc = scan_body(len ? body : NULL, len, fmt, &lim, &g_res);
    check("limited scan", scan_check(body, len, fmt, &lim, rc, &g_res), len);

    scan_result_t fresh;
    memset(&fresh, 0, sizeof fresh);
    int rc2 = scan_body(body, len, fmt, NULL, &fresh);
    check("default scan", scan_check(body, len, fmt, NULL, rc2, &fresh), len);
    if (rc == SCAN_OK) {
        if (rc2 != SCAN_OK) check("limits", "a body accepted with small limits fails with defaults", len);
        check("limited vs default", scan_same(&g_res, &fresh), len);
    } else if (rc2 == SCAN_OK && rc != SCAN_ERR_DEPTH && rc != SCAN_ERR_TOO_MANY &&
               rc != SCAN_ERR_RECORD_SIZE) {
        check("limits", "a body rejected for a non-limit reason is accepted with defaults", len);
    }
    if (rc2 != SCAN_ERR_DEPTH && rc2 != SCAN_ERR_TOO_MANY && rc2 != SCAN_ERR_RECORD_SIZE &&
        rc2 != SCAN_ERR_NOMEM) {
        uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a of the input seeds the oracle's PRNG */
        for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 0x100000001b3ull;
        rng_state = h;
        fuzz_stats_t st;
        memset(&st, 0, sizeof st);
        check("jansson oracle", check_input(body, len, fmt, &fresh, &st, 0), len);
    }
    scan_result_free(&fresh);
    free(body);
    return 0;
}
