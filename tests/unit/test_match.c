/*
 * test_match.c - table-driven cmocka tests for src/route/match.c (a content route's match).
 *
 *   - compile errors: every refusal in a table of specs, the message must name the key
 *     (and the array index) exactly as given; a NULL or tiny err buffer is safe;
 *   - eval table: specs x records -> match or not (exact, case, numbers and booleans,
 *     null/object/array/missing, globs with leading/middle/trailing/multiple stars and
 *     overlapping pieces, literal \* and \\, sets of 1, mixed sets with globs, escaped
 *     record values, the MATCH_VALUE_MAX edge, AND of several keys, empty match, dotted
 *     paths vs dotted keys); each record goes through the real field_extract;
 *   - a set of 1000 values, and 1024 (the limit) vs 1025;
 *   - several routes sharing one field set, evaluated from one extraction;
 *   - match_to_json gives the spec back (keys in order, string vs array, duplicates);
 *   - property: 200000 random (pattern, value) pairs over {a, b, *, \} against a
 *     backtracking reference matcher.
 */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "record/field.h"
#include "route/match.h"

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!v) fail_msg("bad test JSON %s: %s", text, e.text);
    return v;
}

/* ---- compile errors ---------------------------------------------------------------------- */

static void test_compile_errors(void **state)
{
    (void)state;
    static const struct {
        const char *spec;
        const char *msg; /* exact message */
    } t[] = {
        {"[]", "match must be a JSON object"},
        {"\"level\"", "match must be a JSON object"},
        {"null", "match must be a JSON object"},
        {"{\"\": \"x\"}", "empty key"},
        {"{\"a..b\": \"x\"}",
         "key \"a..b\": bad field path (empty component, more than 128 bytes or more than 8 "
         "components)"},
        {"{\".a\": \"x\"}",
         "key \".a\": bad field path (empty component, more than 128 bytes or more than 8 "
         "components)"},
        {"{\"a.b.c.d.e.f.g.h.i\": \"x\"}",
         "key \"a.b.c.d.e.f.g.h.i\": bad field path (empty component, more than 128 bytes or "
         "more than 8 components)"},
        {"{\"level\": 1}", "key \"level\": must be a string or a non-empty array of strings"},
        {"{\"level\": null}", "key \"level\": must be a string or a non-empty array of strings"},
        {"{\"level\": true}", "key \"level\": must be a string or a non-empty array of strings"},
        {"{\"level\": {}}", "key \"level\": must be a string or a non-empty array of strings"},
        {"{\"level\": []}", "key \"level\": empty array"},
        {"{\"level\": [\"a\", 2]}", "key \"level\"[1]: not a string"},
        {"{\"level\": [\"a\", \"b\", [\"c\"]]}", "key \"level\"[2]: not a string"},
        {"{\"level\": [null]}", "key \"level\"[0]: not a string"},
        {"{\"level\": \"a\\\\b\"}",
         "key \"level\": bad escape: a backslash must precede '*' or '\\' (write \"\\\\*\" or "
         "\"\\\\\\\\\")"},
        {"{\"level\": \"ab\\\\\"}",
         "key \"level\": bad escape: a backslash must precede '*' or '\\' (write \"\\\\*\" or "
         "\"\\\\\\\\\")"},
        {"{\"ok\": \"x\", \"source\": [\"a\", \"b*\", \"\\\\x\"]}",
         "key \"source\"[2]: bad escape: a backslash must precede '*' or '\\' (write \"\\\\*\" "
         "or \"\\\\\\\\\")"},
        {"{\"ok\": \"x\", \"metadata.region\": 5}",
         "key \"metadata.region\": must be a string or a non-empty array of strings"},
        {"{\"a\\nb\": 1}", "key \"a?b\": must be a string or a non-empty array of strings"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        json_t *spec = parse(t[i].spec);
        field_set_t *f = field_set_new();
        char err[256] = "untouched";
        match_t *m = match_compile(spec, f, err, sizeof(err));
        if (m) fail_msg("%s: compiled", t[i].spec);
        if (strcmp(err, t[i].msg)) fail_msg("%s:\n got  %s\n want %s", t[i].spec, err, t[i].msg);
        assert_null(match_compile(spec, f, NULL, 0)); /* no buffer: still refused */
        char tiny[8];
        assert_null(match_compile(spec, f, tiny, sizeof(tiny)));
        assert_int_equal(strlen(tiny), 7);
        field_set_free(f);
        json_decref(spec);
    }
}

/* Limits: 1024 values / bytes pass, 1025 fail with the key (and index) named. */
static void test_compile_limits(void **state)
{
    (void)state;
    field_set_t *f = field_set_new();
    char err[256];
    json_t *arr = json_array();
    char v[MATCH_VALUE_MAX + 2];
    for (int i = 0; i < MATCH_VALUES_MAX; i++) {
        snprintf(v, sizeof(v), "v%d", i);
        json_array_append_new(arr, json_string(v));
    }
    json_t *spec = json_pack("{so}", "level", arr); /* spec owns arr */
    match_t *m = match_compile(spec, f, err, sizeof(err));
    assert_non_null(m);
    match_free(m);
    json_array_append_new(arr, json_string("one more"));
    assert_null(match_compile(spec, f, err, sizeof(err)));
    assert_string_equal(err, "key \"level\": more than 1024 values");
    json_decref(spec);

    memset(v, 'x', MATCH_VALUE_MAX);
    v[MATCH_VALUE_MAX] = 0;
    spec = json_pack("{ss}", "source", v);
    assert_non_null(m = match_compile(spec, f, err, sizeof(err)));
    match_free(m);
    json_decref(spec);
    v[MATCH_VALUE_MAX] = 'x';
    v[MATCH_VALUE_MAX + 1] = 0;
    spec = json_pack("{ss}", "source", v);
    assert_null(match_compile(spec, f, err, sizeof(err)));
    assert_string_equal(err, "key \"source\": value longer than 1024 bytes");
    json_decref(spec);
    spec = json_pack("{s[sss]}", "source", "a", "b", v);
    assert_null(match_compile(spec, f, err, sizeof(err)));
    assert_string_equal(err, "key \"source\"[2]: value longer than 1024 bytes");
    json_decref(spec);

    /* A path of 129 bytes; then more distinct paths than a field set holds. */
    v[FIELD_NAME_MAX + 1] = 0;
    spec = json_pack("{ss}", v, "x");
    assert_null(match_compile(spec, f, err, sizeof(err)));
    assert_non_null(strstr(err, "bad field path"));
    assert_int_equal(strncmp(err, "key \"xxxxxxxx", 13), 0);
    assert_non_null(strstr(err, "...\": ")); /* the key is cut at 64 bytes */
    json_decref(spec);
    field_set_free(f);
    f = field_set_new();
    spec = json_object();
    for (int i = 0; i <= FIELD_SET_MAX; i++) {
        snprintf(v, sizeof(v), "k%02d", i);
        json_object_set_new(spec, v, json_string("x"));
    }
    assert_null(match_compile(spec, f, err, sizeof(err)));
    assert_string_equal(err, "key \"k64\": too many distinct field paths (at most 64 per table)");
    json_decref(spec);
    spec = json_object();
    assert_null(match_compile(spec, NULL, err, sizeof(err)));
    assert_string_equal(err, "no field set");
    json_decref(spec);
    /* A key holding a NUL byte (jansson's parser refuses one; its API does not). */
    spec = json_object();
    json_object_setn_new(spec, "le\0vel", 6, json_string("x"));
    assert_null(match_compile(spec, f, err, sizeof(err)));
    assert_string_equal(err, "key \"le?vel\": key holds a NUL byte");
    json_decref(spec);
    field_set_free(f);
}

/* ---- eval table ---------------------------------------------------------------------------- */

struct probe {
    const char *rec;
    bool want;
};
struct erow {
    const char *spec;
    struct probe p[12];
};

static const struct erow erows[] = {
    /* exact, byte-exact and case-sensitive */
    {"{\"level\": \"ERROR\"}",
     {{"{\"level\":\"ERROR\"}", true},
      {"{\"level\":\"error\"}", false},
      {"{\"level\":\"ERROR \"}", false},
      {"{\"level\":\"ERRO\"}", false},
      {"{}", false},
      {"{\"level\":null}", false},
      {"{\"level\":[\"ERROR\"]}", false},
      {"{\"level\":{\"x\":\"ERROR\"}}", false},
      {"{\"lev\\u0065l\":\"ERR\\u004fR\"}", true},
      {"{\"level\":\"ERROR\",\"level\":\"WARN\"}", false}, /* last wins, as the scanner */
      {"{\"level\":\"WARN\",\"level\":\"ERROR\"}", true}}},
    {"{\"level\": \"\"}", {{"{\"level\":\"\"}", true}, {"{\"level\":\"x\"}", false}}},
    /* numbers and booleans: their literal text */
    {"{\"status\": \"500\"}",
     {{"{\"status\":500}", true},
      {"{\"status\":\"500\"}", true},
      {"{\"status\":500.0}", false},
      {"{\"status\":5e2}", false}}},
    {"{\"ok\": \"true\", \"n\": \"-1.5\"}",
     {{"{\"ok\":true,\"n\":-1.5}", true},
      {"{\"ok\":\"true\",\"n\":\"-1.5\"}", true},
      {"{\"ok\":false,\"n\":-1.5}", false},
      {"{\"ok\":1,\"n\":-1.5}", false}}},
    /* globs */
    {"{\"s\": \"checkout-*\"}",
     {{"{\"s\":\"checkout-eu\"}", true},
      {"{\"s\":\"checkout-\"}", true},
      {"{\"s\":\"checkout\"}", false},
      {"{\"s\":\"xcheckout-eu\"}", false},
      {"{\"s\":\"Checkout-eu\"}", false}}},
    {"{\"s\": \"*-svc\"}",
     {{"{\"s\":\"pay-svc\"}", true}, {"{\"s\":\"-svc\"}", true}, {"{\"s\":\"pay-svcx\"}", false}}},
    {"{\"s\": \"a*b\"}",
     {{"{\"s\":\"ab\"}", true},
      {"{\"s\":\"axxb\"}", true},
      {"{\"s\":\"axxbx\"}", false},
      {"{\"s\":\"ba\"}", false},
      {"{\"s\":\"a\"}", false}}},
    {"{\"s\": \"a*b*c\"}",
     {{"{\"s\":\"abc\"}", true},
      {"{\"s\":\"aXbYc\"}", true},
      {"{\"s\":\"acb\"}", false},
      {"{\"s\":\"abcbc\"}", true},
      {"{\"s\":\"aXbYcZ\"}", false},
      {"{\"s\":\"ac\"}", false}}},
    {"{\"s\": \"*a*b*\"}",
     {{"{\"s\":\"xxaxxbxx\"}", true}, {"{\"s\":\"ba\"}", false}, {"{\"s\":\"ab\"}", true}}},
    {"{\"s\": \"*\"}",
     {{"{\"s\":\"\"}", true},
      {"{\"s\":\"anything\"}", true},
      {"{\"s\":5}", true},
      {"{\"s\":false}", true},
      {"{}", false},
      {"{\"s\":null}", false},
      {"{\"s\":{}}", false}}},
    {"{\"s\": \"**\"}", {{"{\"s\":\"\"}", true}, {"{\"s\":\"q\"}", true}}},
    {"{\"s\": \"a**b\"}", {{"{\"s\":\"ab\"}", true}, {"{\"s\":\"a*b\"}", true}}},
    {"{\"s\": \"*aba\"}", {{"{\"s\":\"ababa\"}", true}, {"{\"s\":\"abab\"}", false}}},
    {"{\"s\": \"aba*aba\"}",
     {{"{\"s\":\"ababa\"}", false}, {"{\"s\":\"abaaba\"}", true}, {"{\"s\":\"abaXaba\"}", true}}},
    {"{\"s\": \"ab*ba*ab\"}",
     {{"{\"s\":\"abbaab\"}", true}, {"{\"s\":\"ababab\"}", false}, {"{\"s\":\"abXbaYab\"}", true}}},
    {"{\"s\": \"*x*x*\"}",
     {{"{\"s\":\"xx\"}", true}, {"{\"s\":\"x\"}", false}, {"{\"s\":\"axbxc\"}", true}}},
    /* literal star and backslash: pattern a\*b, \**, *\*, \\, a\\* */
    {"{\"s\": \"a\\\\*b\"}",
     {{"{\"s\":\"a*b\"}", true}, {"{\"s\":\"axb\"}", false}, {"{\"s\":\"a\\\\*b\"}", false}}},
    {"{\"s\": \"\\\\**\"}",
     {{"{\"s\":\"*abc\"}", true}, {"{\"s\":\"abc\"}", false}, {"{\"s\":\"*\"}", true}}},
    {"{\"s\": \"*\\\\*\"}", {{"{\"s\":\"abc*\"}", true}, {"{\"s\":\"abc\"}", false}}},
    {"{\"s\": \"\\\\\\\\\"}", {{"{\"s\":\"\\\\\"}", true}, {"{\"s\":\"\\\\\\\\\"}", false}}},
    {"{\"s\": \"a\\\\\\\\*\"}",
     {{"{\"s\":\"a\\\\bc\"}", true}, {"{\"s\":\"abc\"}", false}, {"{\"s\":\"a\\\\\"}", true}}},
    /* sets */
    {"{\"level\": [\"ERROR\", \"FATAL\"]}",
     {{"{\"level\":\"ERROR\"}", true},
      {"{\"level\":\"FATAL\"}", true},
      {"{\"level\":\"WARN\"}", false},
      {"{\"level\":\"error\"}", false},
      {"{\"level\":\"ERRORFATAL\"}", false}}},
    {"{\"level\": [\"ERROR\"]}",
     {{"{\"level\":\"ERROR\"}", true}, {"{\"level\":\"FATAL\"}", false}}},
    {"{\"level\": [\"INFO\", \"WARN*\", \"*CRIT*\", \"DEBUG\", \"INFO\"]}",
     {{"{\"level\":\"INFO\"}", true},
      {"{\"level\":\"WARNING\"}", true},
      {"{\"level\":\"xxCRITyy\"}", true},
      {"{\"level\":\"DEBUG\"}", true},
      {"{\"level\":\"DEBUGX\"}", false},
      {"{\"level\":\"TRACE\"}", false}}},
    /* escaped record values */
    {"{\"msg\": \"he said \\\"hi\\\"\"}",
     {{"{\"msg\":\"he said \\\"hi\\\"\"}", true},
      {"{\"msg\":\"he said \\u0022hi\\u0022\"}", true},
      {"{\"msg\":\"he said hi\"}", false}}},
    {"{\"c\": \"\xc3\xa9t\xc3\xa9\", \"e\": \"\xf0\x9f\x98\x80*\"}",
     {{"{\"c\":\"\\u00e9t\\u00E9\",\"e\":\"\\ud83d\\ude00!\"}", true},
      {"{\"c\":\"\xc3\xa9t\xc3\xa9\",\"e\":\"\xf0\x9f\x98\x80\"}", true},
      {"{\"c\":\"ete\",\"e\":\"\xf0\x9f\x98\x80\"}", false}}},
    {"{\"s\": \"*\"}", {{"{\"s\":\"\\uZZZZ\"}", false}, {"{\"s\":\"\\ud800\"}", false}}},
    /* missing fields and AND */
    {"{\"a\": \"x\", \"b\": \"y\"}",
     {{"{\"a\":\"x\",\"b\":\"y\"}", true},
      {"{\"b\":\"y\",\"a\":\"x\"}", true},
      {"{\"a\":\"x\"}", false},
      {"{\"b\":\"y\"}", false},
      {"{\"a\":\"x\",\"b\":\"z\"}", false}}},
    {"{\"level\": [\"ERROR\", \"FATAL\"], \"source\": \"checkout-*\", \"metadata.region\": \"eu\"}",
     {{"{\"level\":\"FATAL\",\"source\":\"checkout-api\",\"metadata\":{\"region\":\"eu\"}}", true},
      {"{\"level\":\"FATAL\",\"source\":\"checkout-api\",\"metadata\":{\"region\":\"us\"}}", false},
      {"{\"level\":\"FATAL\",\"source\":\"cart\",\"metadata\":{\"region\":\"eu\"}}", false},
      {"{\"level\":\"INFO\",\"source\":\"checkout-api\",\"metadata\":{\"region\":\"eu\"}}", false},
      {"{\"level\":\"FATAL\",\"source\":\"checkout-api\"}", false},
      {"{\"level\":\"FATAL\",\"source\":\"checkout-api\",\"metadata.region\":\"eu\"}", false}}},
    /* empty match */
    {"{}", {{"{}", true}, {"{\"a\":1}", true}, {"{\"level\":null}", true}}},
};

static void test_eval_table(void **state)
{
    (void)state;
    for (size_t r = 0; r < sizeof(erows) / sizeof(erows[0]); r++) {
        json_t *spec = parse(erows[r].spec);
        field_set_t *f = field_set_new();
        char err[256];
        match_t *m = match_compile(spec, f, err, sizeof(err));
        if (!m) fail_msg("%s: %s", erows[r].spec, err);
        size_t nf = field_set_count(f);
        for (size_t i = 0; i < 10 && erows[r].p[i].rec; i++) {
            const char *rec = erows[r].p[i].rec;
            field_slice_t vals[FIELD_SET_MAX];
            assert_int_equal(field_extract(f, rec, strlen(rec), vals), 0);
            if (match_eval(m, vals) != erows[r].p[i].want)
                fail_msg("%s on %s: want %d", erows[r].spec, rec, erows[r].p[i].want);
        }
        assert_int_equal(match_count(m), nf);
        match_free(m);
        field_set_free(f);
        json_decref(spec);
    }
}

/* Values around MATCH_VALUE_MAX bytes (after unescaping), against "*" and an exact value. */
static void test_eval_value_length(void **state)
{
    (void)state;
    field_set_t *f = field_set_new();
    char exact[MATCH_VALUE_MAX + 1];
    memset(exact, 'y', MATCH_VALUE_MAX);
    exact[MATCH_VALUE_MAX] = 0;
    json_t *spec = json_pack("{s[ss]}", "s", "*", exact);
    match_t *m = match_compile(spec, f, NULL, 0);
    json_t *spec2 = json_pack("{ss}", "s", exact);
    match_t *m2 = match_compile(spec2, f, NULL, 0);
    assert_non_null(m);
    assert_non_null(m2);
    static const struct {
        size_t plain, escaped; /* bytes written plain, then as \u0079 ('y') */
        bool want_any, want_exact;
    } t[] = {{1024, 0, true, true},   {1025, 0, false, false}, {1020, 4, true, true},
             {1021, 4, false, false}, {0, 1024, true, true},   {0, 1025, false, false}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        size_t len = 0;
        char *rec = malloc(16 + t[i].plain + 6 * t[i].escaped);
        len += (size_t)sprintf(rec, "{\"s\":\"");
        memset(rec + len, 'y', t[i].plain);
        len += t[i].plain;
        for (size_t k = 0; k < t[i].escaped; k++)
            len += (size_t)sprintf(rec + len, "\\u0079");
        len += (size_t)sprintf(rec + len, "\"}");
        field_slice_t vals[FIELD_SET_MAX];
        assert_int_equal(field_extract(f, rec, len, vals), 0);
        assert_int_equal(match_eval(m, vals), t[i].want_any);
        assert_int_equal(match_eval(m2, vals), t[i].want_exact);
        free(rec);
    }
    match_free(m);
    match_free(m2);
    json_decref(spec);
    json_decref(spec2);
    field_set_free(f);
}

/* A set of 1000 values (hash), plus a glob after them. */
static void test_eval_big_set(void **state)
{
    (void)state;
    field_set_t *f = field_set_new();
    json_t *arr = json_array();
    char v[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(v, sizeof(v), "v%d", i);
        json_array_append_new(arr, json_string(v));
    }
    json_array_append_new(arr, json_string("glob-*"));
    json_t *spec = json_pack("{so}", "id", arr);
    match_t *m = match_compile(spec, f, NULL, 0);
    assert_non_null(m);
    int hits = 0;
    for (int i = -5; i < 1005; i++) {
        char rec[64];
        int n = snprintf(rec, sizeof(rec), "{\"id\":\"v%d\"}", i);
        field_slice_t vals[1];
        assert_int_equal(field_extract(f, rec, (size_t)n, vals), 0);
        bool want = i >= 0 && i < 1000;
        assert_int_equal(match_eval(m, vals), want);
        hits += match_eval(m, vals);
    }
    assert_int_equal(hits, 1000);
    static const struct probe p[] = {{"{\"id\":\"v\"}", false},       {"{\"id\":\"glob-\"}", true},
                                     {"{\"id\":\"glob-x\"}", true},   {"{\"id\":\"v00\"}", false},
                                     {"{\"id\":\"V1\"}", false},      {"{\"id\":999}", false},
                                     {"{\"id\":\"v1\\u0030\"}", true}};
    for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
        field_slice_t vals[1];
        assert_int_equal(field_extract(f, p[i].rec, strlen(p[i].rec), vals), 0);
        assert_int_equal(match_eval(m, vals), p[i].want);
    }
    match_free(m);
    json_decref(spec);
    field_set_free(f);
}

/* Routes of one table share one field set: one extraction, every match evaluated. */
static void test_shared_field_set(void **state)
{
    (void)state;
    static const char *specs[] = {
        "{\"level\": [\"ERROR\", \"FATAL\"]}",
        "{\"source\": \"checkout-*\", \"metadata.region\": \"eu\"}",
        "{\"level\": \"INFO\", \"metadata.region\": [\"us\", \"eu\"]}",
        "{}",
    };
    static const struct {
        const char *rec;
        bool want[4];
    } t[] = {
        {"{\"level\":\"ERROR\",\"source\":\"checkout-1\",\"metadata\":{\"region\":\"eu\"}}",
         {true, true, false, true}},
        {"{\"level\":\"INFO\",\"metadata\":{\"region\":\"us\"}}", {false, false, true, true}},
        {"{\"source\":\"checkout-1\",\"metadata\":{\"region\":\"us\"}}",
         {false, false, false, true}},
    };
    field_set_t *f = field_set_new();
    match_t *m[4];
    for (int i = 0; i < 4; i++) {
        json_t *s = parse(specs[i]);
        assert_non_null(m[i] = match_compile(s, f, NULL, 0));
        json_decref(s);
    }
    assert_int_equal(field_set_count(f), 3); /* level, source, metadata.region */
    for (size_t r = 0; r < sizeof(t) / sizeof(t[0]); r++) {
        field_slice_t vals[FIELD_SET_MAX];
        assert_int_equal(field_extract(f, t[r].rec, strlen(t[r].rec), vals), 0);
        for (int i = 0; i < 4; i++)
            if (match_eval(m[i], vals) != t[r].want[i]) fail_msg("route %d on %s", i, t[r].rec);
    }
    for (int i = 0; i < 4; i++)
        match_free(m[i]);
    field_set_free(f);
    match_free(NULL);
    assert_false(match_eval(NULL, NULL));
}

static void test_to_json(void **state)
{
    (void)state;
    static const char *specs[] = {
        "{}",
        "{\"level\":[\"ERROR\",\"FATAL\"],\"source\":\"checkout-*\",\"metadata.region\":\"eu\"}",
        "{\"z\":[\"a\\\\*\",\"a\\\\*\",\"x\"],\"a\":\"\\\\\\\\\",\"m\":[\"only\"]}",
        "{\"u\":\"\\u00e9\\u0000x\"}",
    };
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        json_t *spec = parse(specs[i]);
        field_set_t *f = field_set_new();
        match_t *m = match_compile(spec, f, NULL, 0);
        assert_non_null(m);
        json_t *back = match_to_json(m);
        assert_non_null(back);
        assert_true(json_equal(spec, back));
        char *a = json_dumps(spec, JSON_PRESERVE_ORDER | JSON_COMPACT);
        char *b = json_dumps(back, JSON_PRESERVE_ORDER | JSON_COMPACT);
        assert_string_equal(a, b); /* same key order */
        free(a);
        free(b);
        json_decref(back);
        match_free(m);
        field_set_free(f);
        json_decref(spec);
    }
}

/* ---- property: against a backtracking reference -------------------------------------------- */

/* Reference glob: p[0..pn) with '*' and '\x' escapes, against v[0..vn). */
static bool ref_glob(const char *p, size_t pn, const char *v, size_t vn)
{
    if (pn == 0) return vn == 0;
    if (p[0] == '*') {
        for (size_t k = 0; k <= vn; k++)
            if (ref_glob(p + 1, pn - 1, v + k, vn - k)) return true;
        return false;
    }
    size_t skip = p[0] == '\\' ? 1 : 0;
    return vn > 0 && p[skip] == v[0] && ref_glob(p + skip + 1, pn - skip - 1, v + 1, vn - 1);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_property_vs_reference(void **state)
{
    (void)state;
    field_set_t *f = field_set_new();
    assert_int_equal(field_set_add(f, "s"), 0);
    size_t matched = 0, total = 0;
    for (int it = 0; it < 4000; it++) {
        char pat[16];
        size_t pn = 0, plen = rnd() % 9;
        for (size_t k = 0; k < plen; k++) {
            int c = (int)(rnd() % 5);
            if (c == 4)
                pat[pn++] = '\\', pat[pn++] = rnd() % 2 ? '*' : '\\';
            else
                pat[pn++] = "ab**"[c];
        }
        json_t *spec = json_pack("{s s#}", "s", pat, (int)pn);
        match_t *m = match_compile(spec, f, NULL, 0);
        assert_non_null(m);
        for (int j = 0; j < 50; j++) {
            char v[16];
            size_t vn = rnd() % 11;
            for (size_t k = 0; k < vn; k++)
                v[k] = "ab*\\"[rnd() % 4];
            /* the value as a JSON string in a record: escape the backslashes */
            char rec[64];
            size_t rn = (size_t)sprintf(rec, "{\"s\":\"");
            for (size_t k = 0; k < vn; k++) {
                if (v[k] == '\\') rec[rn++] = '\\';
                rec[rn++] = v[k];
            }
            rn += (size_t)sprintf(rec + rn, "\"}");
            field_slice_t vals[1];
            assert_int_equal(field_extract(f, rec, rn, vals), 0);
            bool want = ref_glob(pat, pn, v, vn), got = match_eval(m, vals);
            if (want != got)
                fail_msg("pattern '%.*s' value '%.*s': got %d", (int)pn, pat, (int)vn, v, got);
            matched += got;
            total++;
        }
        match_free(m);
        json_decref(spec);
    }
    printf("property: %zu of %zu pairs match\n", matched, total);
    assert_true(matched > total / 20 && matched < total - total / 20);
    field_set_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compile_errors), cmocka_unit_test(test_compile_limits),
        cmocka_unit_test(test_eval_table),     cmocka_unit_test(test_eval_value_length),
        cmocka_unit_test(test_eval_big_set),   cmocka_unit_test(test_shared_field_set),
        cmocka_unit_test(test_to_json),        cmocka_unit_test(test_property_vs_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
