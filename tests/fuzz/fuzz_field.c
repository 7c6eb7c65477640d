/*
 * fuzz_field.c - libFuzzer target for content-route matching: record/field.c
 * (field_extract, field_unescape) and route/match.c (match_eval).
 *
 * The input is an NDJSON body. It is scanned (scan_body, default limits); for every record
 * the scanner accepts:
 *   - field_extract with a fixed set of 12 paths (top level, nested up to 8, UTF-8 and
 *     quote-holding keys) returns 0 (a record the scanner accepts is well formed), every
 *     present slice lies inside the record, `escaped` says whether it holds a backslash,
 *     and an unescaped slice that unescapes does so within its length;
 *   - jansson oracle (when jansson loads the record without duplicate keys): each path is
 *     present exactly when jansson's value is a string, number or boolean; a string
 *     unescapes to jansson's bytes, a literal parses back to jansson's value;
 *   - every strict prefix of a record under 512 bytes is -EINVAL with every slice absent;
 *   - match_eval of 6 compiled matches (sets, globs with literal stars, a dotted path, the
 *     empty match) equals a backtracking reference glob over the unescaped value;
 * and field_extract also runs on the raw input itself (hostile bytes, not scanned): never
 * a crash, 0 or -EINVAL, slices inside the input, all absent on -EINVAL.
 *
 * Build: make fuzz-build (tests/fuzz/fuzz.mk); run: build-fuzz/fuzz_field DIR.
 * Replayed by ctest over corpus/ and regressions/fuzz_field.
 */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record/field.h"
#include "record/scan.h"
#include "route/match.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const PATHS[] = {
    "level",           "source", "a",        "a.b",  "a.b.c",    "metadata.trace_id",
    "x.y.z.w.v.u.t.s", "n",      "\xc3\xa9", "q\"k", "metadata", "b\\s",
};
#define NPATHS (sizeof(PATHS) / sizeof(PATHS[0]))

/* Single-key matches, so the reference is one glob list over one field. */
static const struct {
    const char *key;
    const char *pats[4]; /* glob syntax: '*' any run, '\x' literal x */
} MATCHES[] = {
    {"level", {"ERROR", "FATAL"}},
    {"source", {"a*b*c"}},
    {"a.b", {"*\\**", "x"}},
    {"n", {"1*", "-*5", "true"}},
    {"\xc3\xa9", {"*\xc3\xa9*", "\\\\"}},
    {NULL, {NULL}}, /* {} */
};
#define NMATCHES (sizeof(MATCHES) / sizeof(MATCHES[0]))

static field_set_t *g_set;
static match_t *g_match[NMATCHES];
static scan_result_t g_res;

static void fail(const char *what, const char *rec, size_t len)
{
    fprintf(stderr, "fuzz_field: invariant violated: %s\n  record: %.*s\n", what,
            (int)(len > 400 ? 400 : len), rec);
    abort();
}

static void setup(void)
{
    if (g_set) return;
    g_set = field_set_new();
    for (size_t i = 0; i < NPATHS; i++)
        if (field_set_add(g_set, PATHS[i]) != (int)i) abort();
    for (size_t m = 0; m < NMATCHES; m++) {
        json_t *spec = json_object();
        if (MATCHES[m].key) {
            json_t *arr = json_array();
            for (size_t k = 0; k < 4 && MATCHES[m].pats[k]; k++)
                json_array_append_new(arr, json_string(MATCHES[m].pats[k]));
            json_object_set_new(spec, MATCHES[m].key, arr);
        }
        char err[256];
        g_match[m] = match_compile(spec, g_set, err, sizeof(err));
        if (!g_match[m]) {
            fprintf(stderr, "fuzz_field: %s\n", err);
            abort();
        }
        json_decref(spec);
    }
    if (field_set_count(g_set) != NPATHS) abort(); /* every match key is one of PATHS */
}

static int path_index(const char *key)
{
    for (size_t i = 0; i < NPATHS; i++)
        if (!strcmp(PATHS[i], key)) return (int)i;
    abort();
}

static bool ref_glob(const char *p, size_t pn, const char *v, size_t vn)
{
    while (pn && p[0] != '*') {
        size_t skip = p[0] == '\\';
        if (!vn || p[skip] != v[0]) return false;
        p += skip + 1, pn -= skip + 1, v++, vn--;
    }
    if (!pn) return vn == 0;
    for (size_t k = 0; k <= vn; k++)
        if (ref_glob(p + 1, pn - 1, v + k, vn - k)) return true;
    return false;
}

static void check_matches(const field_slice_t *out, const char *rec, size_t len)
{
    for (size_t m = 0; m < NMATCHES; m++) {
        bool want = true;
        if (MATCHES[m].key) {
            const field_slice_t *f = &out[path_index(MATCHES[m].key)];
            char buf[MATCH_VALUE_MAX];
            ssize_t n = f->present ? field_unescape(f->p, f->len, buf, sizeof(buf)) : -1;
            want = false;
            for (size_t k = 0; n >= 0 && k < 4 && MATCHES[m].pats[k]; k++)
                want |= ref_glob(MATCHES[m].pats[k], strlen(MATCHES[m].pats[k]), buf, (size_t)n);
        }
        if (match_eval(g_match[m], out) != want)
            fail("match_eval differs from the reference", rec, len);
    }
}

/* Slices inside rec[0..len), escape flags right; all absent when rc < 0. */
static void check_slices(int rc, const field_slice_t *out, const char *rec, size_t len)
{
    for (size_t i = 0; i < NPATHS; i++) {
        const field_slice_t *f = &out[i];
        if (!f->present) continue;
        if (rc < 0) fail("a slice present after -EINVAL", rec, len);
        if (f->p < rec || f->len > len || f->p + f->len > rec + len)
            fail("slice outside", rec, len);
        if (f->escaped != (memchr(f->p, '\\', f->len) != NULL)) fail("escaped flag", rec, len);
        char buf[64];
        ssize_t n = field_unescape(f->p, f->len, buf, sizeof(buf));
        if (n > (ssize_t)f->len || n > (ssize_t)sizeof(buf)) fail("unescape length", rec, len);
    }
}

/* A value of jansson for a path (objects only), NULL when absent. */
static json_t *oracle_get(json_t *root, const char *path)
{
    char buf[FIELD_NAME_MAX + 1];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *v = root;
    for (char *save = NULL, *c = strtok_r(buf, ".", &save); c; c = strtok_r(NULL, ".", &save)) {
        if (!json_is_object(v) || !(v = json_object_get(v, c))) return NULL;
    }
    return v;
}

static void check_oracle(const field_slice_t *out, const char *rec, size_t len)
{
    json_t *root = json_loadb(rec, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    if (!root) return; /* duplicates, lone surrogates, numbers out of range, very deep */
    for (size_t i = 0; i < NPATHS; i++) {
        json_t *v = oracle_get(root, PATHS[i]);
        bool want = v && (json_is_string(v) || json_is_number(v) || json_is_boolean(v));
        if (want != out[i].present) fail("presence differs from jansson", rec, len);
        if (!want) continue;
        if (json_is_string(v)) {
            size_t cap = out[i].len + 1;
            char *buf = malloc(cap);
            ssize_t n = buf ? field_unescape(out[i].p, out[i].len, buf, cap) : -1;
            if (n < 0 || (size_t)n != json_string_length(v) ||
                memcmp(buf, json_string_value(v), (size_t)n))
                fail("string differs from jansson", rec, len);
            free(buf);
        } else {
            json_t *back = json_loadb(out[i].p, out[i].len, JSON_DECODE_ANY, NULL);
            if (!back || !json_equal(back, v)) fail("literal differs from jansson", rec, len);
            json_decref(back);
        }
    }
    json_decref(root);
}

static void check_prefixes(const char *rec, size_t len)
{
    if (len >= 512) return;
    for (size_t cut = 0; cut < len; cut++) {
        char *p = malloc(cut ? cut : 1);
        if (!p) return;
        memcpy(p, rec, cut);
        field_slice_t out[NPATHS];
        int rc = field_extract(g_set, p, cut, out);
        if (rc != -EINVAL) fail("a strict prefix accepted", rec, len);
        check_slices(rc, out, p, cut);
        free(p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    char *body = malloc(size ? size : 1);
    if (!body) return 0;
    memcpy(body, data, size);
    field_slice_t out[NPATHS];

    int raw = field_extract(g_set, body, size, out); /* hostile, not scanned */
    if (raw != 0 && raw != -EINVAL) fail("raw: not 0 or -EINVAL", body, size);
    check_slices(raw, out, body, size);
    if (raw == 0) check_matches(out, body, size);

    if (scan_body(size ? body : NULL, size, SCAN_FORMAT_NDJSON, NULL, &g_res) == SCAN_OK) {
        for (size_t r = 0; r < g_res.count; r++) {
            /* each record its own exact-size copy: ASan sees any read past it */
            size_t len = g_res.records[r].rec.len;
            char *rec = malloc(len ? len : 1);
            if (!rec) break;
            memcpy(rec, body + g_res.records[r].rec.off, len);
            int rc = field_extract(g_set, rec, len, out);
            if (rc != 0) fail("a scanned record refused", rec, len);
            check_slices(rc, out, rec, len);
            check_oracle(out, rec, len);
            check_matches(out, rec, len);
            check_prefixes(rec, len);
            free(rec);
        }
    }
    free(body);
    return 0;
}
