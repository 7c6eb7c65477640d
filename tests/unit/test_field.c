/*
 * test_field.c - table-driven cmocka tests for src/record/field.c (values of fields
 * inside one record).
 *
 *   - field_set_add: indexes, duplicates, every -EINVAL shape, the 128-byte and 8-component
 *     edges, -ENOSPC at path 65;
 *   - extraction table: records x paths -> expected slices (top level, nested 2-8 deep,
 *     escaped keys and values, numbers and booleans, null/object/array absent, duplicate
 *     keys last-wins, whitespace, paths longer than the record, nesting deeper than the
 *     path, arrays never entered); every slice must lie inside the record, which is a
 *     malloc'd copy of exactly its length (ASan sees any read past it);
 *   - invalid input table -> -EINVAL with every slice absent; every strict prefix of each
 *     valid record is -EINVAL too (never a crash, never a read past the prefix);
 *   - field_unescape table: short escapes, \uXXXX to UTF-8, surrogate pairs, \u0000,
 *     lone/reversed surrogates and bad hex -> -EINVAL, -ENOSPC at every capacity short
 *     of the length;
 *   - property: random objects built with jansson (nested, keys from a small alphabet with
 *     quotes, backslashes and non-ASCII, dumped with and without \u escapes, random
 *     whitespace) against a jansson oracle for 40 paths.
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

/* ---- field_set_add ---------------------------------------------------------------------- */

static void test_set_add(void **state)
{
    (void)state;
    field_set_t *s = field_set_new();
    assert_non_null(s);
    assert_int_equal(field_set_count(s), 0);
    assert_int_equal(field_set_add(s, "level"), 0);
    assert_int_equal(field_set_add(s, "metadata.trace_id"), 1);
    assert_int_equal(field_set_add(s, "metadata"), 2); /* a prefix of another path */
    assert_int_equal(field_set_add(s, "level"), 0);
    assert_int_equal(field_set_add(s, "metadata.trace_id"), 1);
    assert_int_equal(field_set_add(s, "metadata.trace"), 3);
    assert_int_equal(field_set_count(s), 4);
    assert_string_equal(field_set_path(s, 1), "metadata.trace_id");
    assert_null(field_set_path(s, 4));

    char p128[FIELD_NAME_MAX + 2];
    memset(p128, 'x', sizeof(p128));
    p128[FIELD_NAME_MAX] = 0;
    const char *bad[] = {NULL, "", ".", "a.", ".a", "a..b", "a.b.", "a.b.c.d.e.f.g.h.i", NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(field_set_add(s, bad[i]), -EINVAL);
    assert_int_equal(field_set_add(s, p128), 4); /* exactly 128 bytes */
    p128[FIELD_NAME_MAX] = 'x';
    p128[FIELD_NAME_MAX + 1] = 0;
    assert_int_equal(field_set_add(s, p128), -EINVAL); /* 129 */
    assert_int_equal(field_set_add(s, "a.b.c.d.e.f.g.h"), 5);
    assert_int_equal(field_set_count(s), 6);
    char name[16];
    for (int i = 6; i < FIELD_SET_MAX; i++) {
        snprintf(name, sizeof(name), "p%d.q", i);
        assert_int_equal(field_set_add(s, name), i);
    }
    assert_int_equal(field_set_add(s, "one.more"), -ENOSPC);
    assert_int_equal(field_set_add(s, "level"), 0); /* existing paths still found */
    assert_int_equal(field_set_count(s), FIELD_SET_MAX);
    field_set_free(s);
    field_set_free(NULL);
}

/* ---- extraction table ------------------------------------------------------------------- */

#define MAXP 8
struct want {
    const char *path;
    const char *val; /* NULL: absent */
    bool escaped;
};
struct row {
    const char *name;
    const char *rec;
    struct want w[MAXP];
};

static const struct row rows[] = {
    {"top-level strings",
     "{\"level\":\"ERROR\",\"source\":\"app\",\"empty\":\"\"}",
     {{"level", "ERROR", false},
      {"source", "app", false},
      {"empty", "", false},
      {"missing", NULL, false}}},
    {"numbers and booleans",
     "{\"status\":500,\"ratio\":-1.5e3,\"z\":0,\"f\":1.0E+2,\"ok\":true,\"bad\":false}",
     {{"status", "500", false},
      {"ratio", "-1.5e3", false},
      {"z", "0", false},
      {"f", "1.0E+2", false},
      {"ok", "true", false},
      {"bad", "false", false}}},
    {"null, object, array are absent",
     "{\"n\":null,\"o\":{\"b\":1},\"a\":[1,2],\"e\":{},\"ea\":[]}",
     {{"n", NULL, false},
      {"o", NULL, false},
      {"a", NULL, false},
      {"e", NULL, false},
      {"ea", NULL, false},
      {"o.b", "1", false}}},
    {"nested 2 deep",
     "{\"metadata\":{\"trace_id\":\"abc\",\"region\":\"eu\"},\"x\":1}",
     {{"metadata.trace_id", "abc", false},
      {"metadata.region", "eu", false},
      {"metadata", NULL, false},
      {"x", "1", false},
      {"metadata.nope", NULL, false}}},
    {"nested 8 deep",
     "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":\"deep\",\"i\":7}}}}}}}}",
     {{"a.b.c.d.e.f.g.h", "deep", false},
      {"a.b.c.d.e.f.g.i", "7", false},
      {"a.b", NULL, false},
      {"a.b.c.d.e.f.g", NULL, false},
      {"a.b.c.d.e.f.x.h", NULL, false}}},
    {"nested 3 to 7 deep side by side",
     "{\"a\":{\"b\":{\"c\":3,\"d\":{\"e\":4,\"f\":{\"g\":5,\"h\":{\"i\":{\"j\":7}}}}}}}",
     {{"a.b.c", "3", false},
      {"a.b.d.e", "4", false},
      {"a.b.d.f.g", "5", false},
      {"a.b.d.f.h.i.j", "7", false}}},
    {"escaped keys",
     "{\"lev\\u0065l\":\"x\",\"a\\\"b\":\"q\",\"s\\/l\":\"sl\",\"\\u00e9t\\u00E9\":\"summer\","
     "\"m\\u0065ta\":{\"k\\\\\":\"bs\"}}",
     {{"level", "x", false},
      {"a\"b", "q", false},
      {"s/l", "sl", false},
      {"\xc3\xa9t\xc3\xa9", "summer", false},
      {"meta.k\\", "bs", false},
      {"lev\\u0065l", NULL, false}}},
    {"escaped values stay raw",
     "{\"msg\":\"he said \\\"hi\\\"\",\"u\":\"\\u0041\",\"plain\":\"a\\/b\"}",
     {{"msg", "he said \\\"hi\\\"", true}, {"u", "\\u0041", true}, {"plain", "a\\/b", true}}},
    {"UTF-8 keys and values",
     "{\"\xc3\xa9\":\"\xe2\x82\xac\",\"k\":\"\xf0\x9f\x98\x80\"}",
     {{"\xc3\xa9", "\xe2\x82\xac", false}, {"k", "\xf0\x9f\x98\x80", false}}},
    {"duplicate keys: last wins (as the scanner)",
     "{\"level\":\"first\",\"level\":\"second\",\"lev\\u0065l\":\"third\"}",
     {{"level", "third", false}}},
    {"duplicate: a last null makes it absent", "{\"level\":\"x\",\"level\":null}", {{"level", NULL, false}}},
    {"duplicate: a last string after null", "{\"level\":null,\"level\":\"x\"}", {{"level", "x", false}}},
    {"duplicate objects: the last object only",
     "{\"m\":{\"a\":1,\"c\":4},\"m\":{\"a\":2,\"b\":3}}",
     {{"m.a", "2", false}, {"m.b", "3", false}, {"m.c", NULL, false}}},
    {"duplicate inside an object",
     "{\"m\":{\"a\":1,\"a\":2},\"a\":3}",
     {{"m.a", "2", false}, {"a", "3", false}}},
    {"same key at different levels",
     "{\"a\":{\"a\":{\"a\":\"inner\"}},\"b\":{\"a\":\"other\"}}",
     {{"a.a.a", "inner", false}, {"b.a", "other", false}, {"a.a", NULL, false}}},
    {"whitespace everywhere",
     " \t\r\n{ \"level\" :\n \"x\" , \"n\"\t:\t1 ,\"o\" : { \"k\" : [ 1 , { } ] , \"v\" : true } } "
     "\r\n",
     {{"level", "x", false}, {"n", "1", false}, {"o.v", "true", false}, {"o.k", NULL, false}}},
    {"paths longer than the record",
     "{\"level\":\"x\",\"a\":{\"b\":5}}",
     {{"level.sub", NULL, false},
      {"a.b.c", NULL, false},
      {"a.b.c.d.e.f.g.h", NULL, false},
      {"level", "x", false}}},
    {"nesting deeper than the path",
     "{\"a\":{\"b\":[[[[{\"c\":1}]]]],\"x\":{\"y\":{\"z\":{\"w\":{\"v\":[{},[]]}}}}},"
     "\"level\":\"L\"}",
     {{"level", "L", false}, {"a.c", NULL, false}, {"a.x.y", NULL, false}, {"a.b", NULL, false}}},
    {"arrays are never entered",
     "{\"a\":[{\"b\":1}],\"c\":[\"d\"]}",
     {{"a.b", NULL, false}, {"a.0.b", NULL, false}, {"c", NULL, false}}},
    {"prefix keys do not match",
     "{\"lev\":\"x\",\"levels\":\"y\",\"Level\":\"z\"}",
     {{"level", NULL, false}, {"lev", "x", false}, {"Level", "z", false}}},
    {"brackets and quotes inside skipped strings",
     "{\"skip\":\"}{][\\\"\",\"o\":{\"s\":\"{{{\\\\\"},\"level\":\"ok\"}",
     {{"level", "ok", false}, {"o.s", "{{{\\\\", true}}},
    {"empty object", "{}", {{"level", NULL, false}, {"a.b", NULL, false}}},
    {"path ending where another continues",
     "{\"a\":\"s\"}",
     {{"a", "s", false}, {"a.b", NULL, false}}},
    {"a key with a bad escape or too long matches nothing",
     "{\"lev\\u00ZZl\":\"x\","
     "\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
     "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\\u0041\":1,"
     "\"level\":\"y\"}",
     {{"level", "y", false}}},
};

/* Extract `paths` from a malloc'd copy of rec (exactly its length). */
static int extract(const char *rec, size_t len, const char *const *paths, size_t np,
                   field_slice_t *out, char **copy)
{
    field_set_t *s = field_set_new();
    assert_non_null(s);
    for (size_t i = 0; i < np; i++)
        assert_int_equal(field_set_add(s, paths[i]), (int)i);
    *copy = malloc(len ? len : 1);
    assert_non_null(*copy);
    memcpy(*copy, rec, len);
    int rc = field_extract(s, *copy, len, out);
    field_set_free(s);
    return rc;
}

static void test_extract_table(void **state)
{
    (void)state;
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        const struct row *row = &rows[r];
        const char *paths[MAXP];
        size_t np = 0;
        while (np < MAXP && row->w[np].path)
            paths[np] = row->w[np].path, np++;
        field_slice_t out[MAXP];
        char *copy;
        size_t len = strlen(row->rec);
        int rc = extract(row->rec, len, paths, np, out, &copy);
        if (rc != 0) fail_msg("%s: rc %d", row->name, rc);
        for (size_t i = 0; i < np; i++) {
            const struct want *w = &row->w[i];
            if (!w->val) {
                if (out[i].present) fail_msg("%s: %s should be absent", row->name, w->path);
                continue;
            }
            if (!out[i].present) fail_msg("%s: %s absent", row->name, w->path);
            if (out[i].p < copy || out[i].p + out[i].len > copy + len)
                fail_msg("%s: %s slice outside the record", row->name, w->path);
            if (out[i].len != strlen(w->val) || memcmp(out[i].p, w->val, out[i].len))
                fail_msg("%s: %s = '%.*s', want '%s'", row->name, w->path, (int)out[i].len,
                         out[i].p, w->val);
            if (out[i].escaped != w->escaped)
                fail_msg("%s: %s escaped %d", row->name, w->path, out[i].escaped);
        }
        /* Every strict prefix (the records end with '}' or whitespace after it) fails. */
        size_t end = len;
        while (end > 0 && row->rec[end - 1] != '}')
            end--;
        for (size_t cut = 0; cut < end; cut++) {
            field_slice_t o2[MAXP];
            char *c2;
            if (extract(row->rec, cut, paths, np, o2, &c2) != -EINVAL)
                fail_msg("%s: prefix of %zu bytes accepted", row->name, cut);
            for (size_t i = 0; i < np; i++)
                assert_false(o2[i].present);
            free(c2);
        }
        free(copy);
    }
}

static void test_invalid_table(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "   ",
        "[]",
        "\"level\"",
        "1",
        "null",
        "{",
        "{\"level\"",
        "{\"level\":",
        "{\"level\":\"x\"",
        "{\"level\":\"x\",}",
        "{\"level\" \"x\"}",
        "{\"level\":\"x\"}x",
        "{\"level\":\"x\"}{}",
        "{\"level\":\"unterminated}",
        "{\"level\":tru}",
        "{\"level\":nul}",
        "{\"level\":@}",
        "{\"level\":}",
        "{level:\"x\"}",
        "{1:2}",
        "{\"a\":{\"b\":1}",
        "{\"x\":[1,2}",
        "{\"x\":[[[[",
        "{\"x\":{\"y\":{\"z\":",
        "{\"level\":\"x\\",
        "{\"level\":\"x\\\"}",
        "{\"level\":\"x\" , ",
        "{,}",
        "{\"level\":\"x\";\"n\":1}",
        "[\"level\":\"x\"}",
        "x\"level\":\"x\"}",
    };
    const char *paths[] = {"level", "a.b", "x.y.z", "n"};
    for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
        field_slice_t out[4];
        char *copy;
        int rc = extract(bad[b], strlen(bad[b]), paths, 4, out, &copy);
        if (rc != -EINVAL) fail_msg("'%s': rc %d", bad[b], rc);
        for (size_t i = 0; i < 4; i++)
            assert_false(out[i].present);
        free(copy);
    }
    /* NULL record, empty set. */
    field_set_t *s = field_set_new();
    assert_int_equal(field_extract(s, NULL, 0, NULL), -EINVAL);
    assert_int_equal(field_extract(s, "{}", 2, NULL), 0);
    field_set_free(s);
}

/* A record 100000 levels deep (beyond any path) is skipped without recursion. */
static void test_deep_skip(void **state)
{
    (void)state;
    size_t depth = 100000, len = 0;
    char *rec = malloc(6 * depth + 64);
    assert_non_null(rec);
    len += (size_t)sprintf(rec, "{\"a\":");
    for (size_t i = 0; i < depth; i++) /* {"a":[{"a":[ ... 1 ... ]}]} */
        if (i % 2 == 0)
            len += (size_t)sprintf(rec + len, "{\"a\":");
        else
            rec[len++] = '[';
    rec[len++] = '1';
    for (size_t i = depth; i-- > 0;)
        rec[len++] = i % 2 == 0 ? '}' : ']';
    len += (size_t)sprintf(rec + len, ",\"level\":\"L\"}");
    const char *paths[] = {"level", "a.a.a", false};
    field_slice_t out[2];
    char *copy;
    assert_int_equal(extract(rec, len, paths, 2, out, &copy), 0);
    assert_true(out[0].present);
    assert_int_equal(out[0].len, 1);
    assert_false(out[1].present); /* an array */
    free(copy);
    free(rec);
}

/* ---- field_unescape --------------------------------------------------------------------- */

static void test_unescape_table(void **state)
{
    (void)state;
    static const struct {
        const char *raw;
        const char *want; /* NULL: error */
        size_t want_len;
        int err;
    } t[] = {
        {"", "", 0, 0},
        {"abc", "abc", 3, 0},
        {"a\\\"b", "a\"b", 3, 0},
        {"\\\"\\\\\\/\\b\\f\\n\\r\\t", "\"\\/\b\f\n\r\t", 8, 0},
        {"\\u0041", "A", 1, 0},
        {"\\u00e9\\u00E9", "\xc3\xa9\xc3\xa9", 4, 0},
        {"\\u07ff", "\xdf\xbf", 2, 0},
        {"\\u0800", "\xe0\xa0\x80", 3, 0},
        {"\\u20AC", "\xe2\x82\xac", 3, 0},
        {"\\uffff", "\xef\xbf\xbf", 3, 0},
        {"\\ud83d\\ude00", "\xf0\x9f\x98\x80", 4, 0},
        {"\\uD800\\uDC00", "\xf0\x90\x80\x80", 4, 0},
        {"\\uDBFF\\uDFFF", "\xf4\x8f\xbf\xbf", 4, 0},
        {"x\\u0000y", "x\0y", 3, 0},
        {"\xc3\xa9\\n", "\xc3\xa9\n", 3, 0},
        {"\\", NULL, 0, -EINVAL},
        {"ab\\", NULL, 0, -EINVAL},
        {"\\x", NULL, 0, -EINVAL},
        {"\\U0041", NULL, 0, -EINVAL},
        {"\\u12", NULL, 0, -EINVAL},
        {"\\u12G4", NULL, 0, -EINVAL},
        {"\\ud800", NULL, 0, -EINVAL},
        {"\\ud800x", NULL, 0, -EINVAL},
        {"\\ud800\\n", NULL, 0, -EINVAL},
        {"\\ud800\\u0041", NULL, 0, -EINVAL},
        {"\\ud800\\ud800", NULL, 0, -EINVAL},
        {"\\udc00\\ud800", NULL, 0, -EINVAL},
        {"\\udfff", NULL, 0, -EINVAL},
        {"\\ud83d\\ude0", NULL, 0, -EINVAL},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        size_t n = strlen(t[i].raw);
        char *raw = malloc(n + 1);
        memcpy(raw, t[i].raw, n);
        char buf[64];
        ssize_t got = field_unescape(raw, n, buf, sizeof(buf));
        if (!t[i].want) {
            if (got != t[i].err) fail_msg("'%s': %zd, want %d", t[i].raw, got, t[i].err);
            free(raw);
            continue;
        }
        if (got != (ssize_t)t[i].want_len || memcmp(buf, t[i].want, t[i].want_len))
            fail_msg("'%s': got %zd bytes", t[i].raw, got);
        /* Every capacity short of the length: -ENOSPC, never a write past cap. */
        for (size_t cap = 0; cap < t[i].want_len; cap++) {
            char *small = malloc(cap ? cap : 1);
            assert_int_equal(field_unescape(raw, n, cap ? small : NULL, cap), -ENOSPC);
            free(small);
        }
        char *exact = malloc(t[i].want_len ? t[i].want_len : 1);
        assert_int_equal(field_unescape(raw, n, exact, t[i].want_len), (ssize_t)t[i].want_len);
        free(exact);
        free(raw);
    }
}

/* ---- property: against a jansson oracle ------------------------------------------------- */

static uint64_t rng = 0x1234567887654321ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *const KEYS[] = {"a", "b", "lev", "level", "q\"", "b\\s", "\xc3\xa9", "k.j"};
#define NKEYS (sizeof(KEYS) / sizeof(KEYS[0]))

static json_t *rand_value(int depth)
{
    switch (rnd() % (depth > 0 ? 8 : 6)) {
    case 0:
        return json_integer((json_int_t)(rnd() % 2000) - 1000);
    case 1:
        return json_real((double)(rnd() % 1000) / 8.0);
    case 2:
        return json_boolean(rnd() % 2);
    case 3:
        return json_null();
    case 4: {
        static const char *const S[] = {
            "x",    "ERROR", "a\"b", "tab\there", "\xe2\x82\xac", "sl/ash", "", "\xf0\x9f\x98\x80",
            "nul\\"};
        return json_string(S[rnd() % 9]);
    }
    case 5:
        return json_array();
    default: {
        json_t *o = json_object();
        int n = (int)(rnd() % 5);
        for (int i = 0; i < n; i++)
            json_object_set_new(o, KEYS[rnd() % NKEYS], rand_value(depth - 1));
        if (rnd() % 4 == 0) { /* an array holding an object: never entered */
            json_t *a = json_array();
            json_array_append_new(a, rand_value(depth - 1));
            json_object_set_new(o, KEYS[rnd() % NKEYS], a);
        }
        return o;
    }
    }
}

/* The oracle's value for a path, following only objects; NULL when absent. Path
 * components are split at '.', so the key "k.j" is reachable only through... nothing
 * (a path component never holds a dot): the oracle agrees by construction. */
static json_t *oracle(json_t *root, const char *path)
{
    char buf[FIELD_NAME_MAX + 1];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *v = root;
    for (char *save = NULL, *c = strtok_r(buf, ".", &save); c; c = strtok_r(NULL, ".", &save)) {
        if (!json_is_object(v)) return NULL;
        v = json_object_get(v, c);
        if (!v) return NULL;
    }
    return v;
}

static size_t n_present, n_absent, n_records;

static void check_against_oracle(json_t *root, const char *text, size_t len, const field_set_t *s)
{
    size_t np = field_set_count(s);
    field_slice_t out[FIELD_SET_MAX];
    assert_int_equal(field_extract(s, text, len, out), 0);
    for (size_t i = 0; i < np; i++) {
        json_t *v = oracle(root, field_set_path(s, i));
        bool want = v && !json_is_null(v) && !json_is_object(v) && !json_is_array(v);
        if (want != out[i].present)
            fail_msg("%s: present %d, oracle %d in %s", field_set_path(s, i), out[i].present, want,
                     text);
        n_present += want;
        n_absent += !want;
        if (!want) continue;
        assert_true(out[i].p >= text && out[i].p + out[i].len <= text + len);
        if (json_is_string(v)) {
            char buf[256];
            ssize_t n = field_unescape(out[i].p, out[i].len, buf, sizeof(buf));
            assert_true(n >= 0);
            assert_int_equal((size_t)n, json_string_length(v));
            assert_memory_equal(buf, json_string_value(v), (size_t)n);
            assert_int_equal(out[i].escaped, memchr(out[i].p, '\\', out[i].len) != NULL);
        } else { /* the literal text parses back to the same value */
            json_t *back = json_loadb(out[i].p, out[i].len, JSON_DECODE_ANY, NULL);
            assert_non_null(back);
            assert_true(json_equal(back, v));
            assert_false(out[i].escaped);
            json_decref(back);
        }
    }
}

static void test_property_vs_jansson(void **state)
{
    (void)state;
    field_set_t *s = field_set_new();
    /* every path of 1-3 components over the keys without a dot, and a few deeper */
    for (size_t a = 0; a < NKEYS - 1; a++) {
        char p[FIELD_NAME_MAX];
        field_set_add(s, KEYS[a]);
        for (size_t b = 0; b < 3; b++) {
            snprintf(p, sizeof(p), "%s.%s", KEYS[a], KEYS[b]);
            field_set_add(s, p);
            snprintf(p, sizeof(p), "%s.%s.%s", KEYS[a], KEYS[b], KEYS[(a + b) % 4]);
            field_set_add(s, p);
        }
    }
    field_set_add(s, "a.a.a.a.a.a.a.a");
    field_set_add(s, "a.b.a.b.a.b.a");
    assert_true(field_set_count(s) >= 40);
    static const size_t flags[] = {JSON_COMPACT, JSON_INDENT(1), JSON_ENSURE_ASCII,
                                   JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH | JSON_INDENT(2)};
    for (int iter = 0; iter < 60000; iter++) {
        json_t *root = rand_value(6);
        if (!json_is_object(root)) {
            json_decref(root);
            continue;
        }
        char *text = json_dumps(root, flags[iter % 4] | JSON_PRESERVE_ORDER);
        size_t len = strlen(text);
        char *copy = malloc(len ? len : 1); /* no NUL: ASan sees a read past the end */
        memcpy(copy, text, len);
        check_against_oracle(root, copy, len, s);
        n_records++;
        free(copy);
        free(text);
        json_decref(root);
    }
    printf("property: %zu records, %zu values present, %zu absent\n", n_records, n_present,
           n_absent);
    assert_true(n_records > 2000 && n_present > 2000 && n_absent > 2000);
    field_set_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_add),        cmocka_unit_test(test_extract_table),
        cmocka_unit_test(test_invalid_table),  cmocka_unit_test(test_deep_skip),
        cmocka_unit_test(test_unescape_table), cmocka_unit_test(test_property_vs_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
