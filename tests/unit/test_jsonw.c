/*
 * test_jsonw.c - cmocka tests for src/record/jsonw.c, checked against jansson:
 * every string in a table of hostile inputs (quotes, backslashes, every
 * control character, well-formed and broken UTF-8, overlongs, surrogates,
 * code points above U+10FFFF, NULs) is written as a value and as a key, the
 * output is parsed back by jansson and compared with what the input means
 * (the input itself when it is valid UTF-8, else the input with each invalid
 * sequence replaced by U+FFFD); plus structure (commas, nesting, NDJSON), the
 * bounds (max bytes, depth), numbers, hex and RFC 3339 times (and the
 * writer's per-second time cache against fresh writers); the pre-escaped
 * constant fragments (jsonw_raw_members / jsonw_raw_key) byte-for-byte against
 * the same members written one call at a time, and parsed by jansson.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "record/jsonw.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Write {"__value__":<s>, <s>:1} and check that jansson reads back `want` for both
 * (jansson refuses a NUL in a key: then only the value is checked). */
static void check_string(const char *s, size_t len, const char *want, size_t want_len,
                         size_t want_replaced)
{
    jsonw_t w;
    jsonw_init(&w, 1 << 20);
    jsonw_object_begin(&w);
    jsonw_keyz(&w, "__value__");
    jsonw_string(&w, s, len);
    bool nul = memchr(want, 0, want_len) != NULL;
    if (!nul) {
        jsonw_key(&w, s, len);
        jsonw_int(&w, 1);
    }
    jsonw_object_end(&w);
    assert_int_equal(jsonw_error(&w), 0);
    assert_int_equal(jsonw_replaced(&w), (nul ? 1 : 2) * want_replaced);
    size_t n;
    char *out = jsonw_take(&w, &n);
    assert_non_null(out);
    assert_int_equal(strlen(out), n); /* no raw NUL in the text */
    json_error_t err;
    json_t *v = json_loadb(out, n, JSON_ALLOW_NUL, &err);
    if (!v) fail_msg("jansson: %s in %s", err.text, out);
    json_t *k = json_object_get(v, "__value__");
    assert_true(json_is_string(k));
    assert_int_equal(json_string_length(k), want_len);
    assert_memory_equal(json_string_value(k), want, want_len);
    size_t key_len = want_len;
    int found = nul;
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val)
    {
        if (strlen(key) == key_len && !memcmp(key, want, key_len) && json_is_integer(val))
            found = 1;
    }
    assert_true(found);
    json_decref(v);
    free(out);
    jsonw_free(&w);
}

static void test_strings(void **state)
{
#define S(x) x, sizeof(x) - 1
    static const struct {
        const char *in;
        size_t in_len;
        const char *want; /* NULL: same as in */
        size_t want_len;
        size_t replaced;
    } cases[] = {
        {S(""), NULL, 0, 0},
        {S("plain ascii"), NULL, 0, 0},
        {S("quote \" backslash \\ slash /"), NULL, 0, 0},
        {S("nl\n cr\r tab\t bs\b ff\f"), NULL, 0, 0},
        {S("ctl \x01\x02\x1f del \x7f"), NULL, 0, 0},
        {S("nul \0 inside"), NULL, 0, 0},
        {S("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"), NULL, 0, 0},
        {S("U+FFFF \xef\xbf\xbf U+10FFFF \xf4\x8f\xbf\xbf"), NULL, 0, 0},
        {S("lone cont \x80 end"), S("lone cont \xef\xbf\xbd end"), 1},
        {S("latin1 \xe9t\xe9"), S("latin1 \xef\xbf\xbdt\xef\xbf\xbd"), 2},
        {S("overlong \xc0\xaf"), S("overlong \xef\xbf\xbd\xef\xbf\xbd"), 2},
        {S("overlong3 \xe0\x80\xaf"), S("overlong3 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"), 3},
        {S("surrogate \xed\xa0\x80"), S("surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"), 3},
        {S("above \xf4\x90\x80\x80"),
         S("above \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"), 4},
        {S("\xf5\xff"), S("\xef\xbf\xbd\xef\xbf\xbd"), 2},
        {S("cut \xe6\x97"), S("cut \xef\xbf\xbd\xef\xbf\xbd"), 2},
        {S("cut4 \xf0\x9f\x98"), S("cut4 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"), 3},
        {S("k"), NULL, 0, 0},
    };
#undef S
    for (size_t i = 0; i < N(cases); i++) {
        const char *want = cases[i].want ? cases[i].want : cases[i].in;
        size_t wl = cases[i].want ? cases[i].want_len : cases[i].in_len;
        check_string(cases[i].in, cases[i].in_len, want, wl, cases[i].replaced);
    }
}

/* Every byte value alone, and every control character: jansson agrees. */
static void test_every_byte(void **state)
{
    for (int b = 0; b < 256; b++) {
        char in[3] = {'a', (char)b, 'z'};
        if (b < 0x80)
            check_string(in, 3, in, 3, 0);
        else
            check_string(in, 3, "a\xef\xbf\xbdz", 5, 1);
    }
}

static char *take(jsonw_t *w)
{
    size_t n;
    char *out = jsonw_take(w, &n);
    assert_non_null(out);
    return out;
}

static void test_structure(void **state)
{
    jsonw_t w;
    jsonw_init(&w, 4096);
    jsonw_object_begin(&w);
    jsonw_keyz(&w, "a");
    jsonw_array_begin(&w);
    jsonw_int(&w, -1);
    jsonw_uint(&w, UINT64_MAX);
    jsonw_bool(&w, true);
    jsonw_bool(&w, false);
    jsonw_null(&w);
    jsonw_object_begin(&w);
    jsonw_object_end(&w);
    jsonw_array_begin(&w);
    jsonw_array_end(&w);
    jsonw_array_end(&w);
    jsonw_keyz(&w, "b");
    jsonw_double(&w, 0.1);
    jsonw_keyz(&w, "nan");
    jsonw_double(&w, NAN);
    jsonw_keyz(&w, "inf");
    jsonw_double(&w, -INFINITY);
    jsonw_object_end(&w);
    jsonw_newline(&w);
    jsonw_object_begin(&w);
    jsonw_keyz(&w, "second");
    jsonw_int(&w, 2);
    jsonw_object_end(&w);
    jsonw_newline(&w);
    char *out = take(&w);
    assert_string_equal(out, "{\"a\":[-1,18446744073709551615,true,false,null,{},[]],"
                             "\"b\":0.10000000000000001,\"nan\":null,\"inf\":null}\n"
                             "{\"second\":2}\n");
    free(out);
    jsonw_free(&w);
}

static void test_hex_and_raw(void **state)
{
    jsonw_t w;
    jsonw_init(&w, 4096);
    const uint8_t id[] = {0x00, 0x01, 0xab, 0xff};
    jsonw_array_begin(&w);
    jsonw_hex(&w, id, sizeof id);
    jsonw_hex(&w, id, 0);
    jsonw_raw_value(&w, "{\"x\":[1]}", 9);
    jsonw_array_end(&w);
    char *out = take(&w);
    assert_string_equal(out, "[\"0001abff\",\"\",{\"x\":[1]}]");
    free(out);
    jsonw_free(&w);
}

static void test_times(void **state)
{
    static const struct {
        int64_t ns;
        int digits;
        const char *want;
    } cases[] = {
        {0, 0, "\"1970-01-01T00:00:00Z\""},
        {1700000000123456789LL, 9, "\"2023-11-14T22:13:20.123456789Z\""},
        {1700000000123456789LL, 6, "\"2023-11-14T22:13:20.123456Z\""},
        {1700000000123456789LL, 3, "\"2023-11-14T22:13:20.123Z\""},
        {-1, 9, "\"1969-12-31T23:59:59.999999999Z\""},
        {INT64_MAX, 9, "\"2262-04-11T23:47:16.854775807Z\""},
    };
    for (size_t i = 0; i < N(cases); i++) {
        jsonw_t w;
        jsonw_init(&w, 256);
        jsonw_time_ns(&w, cases[i].ns, cases[i].digits);
        char *out = take(&w);
        assert_string_equal(out, cases[i].want);
        free(out);
        jsonw_free(&w);
    }
}

/* Past max the writer stops with -E2BIG and keeps no partial text; truncate
 * drops a record that could not be finished and clears the error. */
static void test_bounds(void **state)
{
    jsonw_t w;
    jsonw_init(&w, 32);
    jsonw_object_begin(&w);
    jsonw_keyz(&w, "m");
    jsonw_stringz(&w, "0123456789");
    jsonw_object_end(&w);
    jsonw_newline(&w);
    size_t mark = jsonw_len(&w);
    assert_int_equal(jsonw_error(&w), 0);
    jsonw_object_begin(&w);
    jsonw_keyz(&w, "m");
    jsonw_stringz(&w, "0123456789012345678901234567890123456789");
    assert_int_equal(jsonw_error(&w), -E2BIG);
    assert_true(jsonw_len(&w) <= 32);
    size_t n;
    assert_null(jsonw_take(&w, &n)); /* never hand out a truncated text */
    jsonw_truncate(&w, mark);
    assert_int_equal(jsonw_error(&w), 0);
    char *out = take(&w);
    assert_string_equal(out, "{\"m\":\"0123456789\"}\n");
    free(out);
    jsonw_free(&w);

    /* nesting past JSONW_MAX_DEPTH */
    jsonw_init(&w, 1 << 16);
    for (int i = 0; i <= JSONW_MAX_DEPTH; i++) jsonw_array_begin(&w);
    assert_int_equal(jsonw_error(&w), -E2BIG);
    jsonw_free(&w);

    /* exactly at the bound is fine */
    jsonw_init(&w, 4);
    jsonw_stringz(&w, "ab");
    assert_int_equal(jsonw_error(&w), 0);
    out = take(&w);
    assert_string_equal(out, "\"ab\"");
    free(out);
    jsonw_free(&w);

    /* an unbalanced end is ignored, never written outside */
    jsonw_init(&w, 16);
    jsonw_object_end(&w);
    jsonw_array_end(&w);
    assert_int_equal(jsonw_len(&w), 0);
    out = take(&w);
    assert_string_equal(out, "");
    free(out);
    jsonw_free(&w);
}

/* One writer reused over many times (its per-second cache hit, missed, and
 * reused after take/reset/truncate) writes what a fresh writer writes. */
static void test_time_cache(void **state)
{
    static const int64_t base = 1700000000LL * 1000000000LL;
    static const int64_t steps[] = {0, 1, 999999999, 1000000000, 1000000001, -1, -1000000000,
                                    86400LL * 1000000000LL, 5, 0, INT64_MAX - base, -base - 1};
    static const int digit_set[] = {0, 3, 6, 9, 7};
    jsonw_t w;
    jsonw_init(&w, 1 << 16);
    for (size_t i = 0; i < N(steps); i++) {
        for (size_t k = 0; k < N(digit_set); k++) {
            int64_t ns = base + steps[i];
            jsonw_t f;
            jsonw_init(&f, 256);
            jsonw_time_ns(&f, ns, digit_set[k]);
            char *want = take(&f);
            jsonw_free(&f);
            jsonw_array_begin(&w);
            jsonw_time_ns(&w, ns, digit_set[k]);
            jsonw_array_end(&w);
            char *got = take(&w); /* take: the cache outlives the buffer */
            size_t wl = strlen(want);
            assert_int_equal(strlen(got), wl + 2);
            assert_memory_equal(got + 1, want, wl);
            free(got);
            free(want);
        }
    }
    /* after a value and after a key: commas as jsonw_string places them */
    jsonw_object_begin(&w);
    jsonw_keyz(&w, "a");
    jsonw_time_ns(&w, 0, 3);
    jsonw_keyz(&w, "b");
    jsonw_time_ns(&w, 999, 9);
    jsonw_object_end(&w);
    char *out = take(&w);
    assert_string_equal(out, "{\"a\":\"1970-01-01T00:00:00.000Z\","
                             "\"b\":\"1970-01-01T00:00:00.000000999Z\"}");
    free(out);
    /* the far ends of int64 nanoseconds, then the cached second again */
    jsonw_array_begin(&w);
    jsonw_time_ns(&w, INT64_MIN, 9);
    jsonw_time_ns(&w, 0, 0);
    jsonw_array_end(&w);
    out = take(&w);
    assert_string_equal(out, "[\"1677-09-21T00:12:43.145224192Z\",\"1970-01-01T00:00:00Z\"]");
    free(out);
    jsonw_free(&w);
}

/* jsonw_raw_members / jsonw_raw_key: the same bytes and state as the members
 * written one call at a time (first member, later member, nested, after a
 * record's newline), and jansson reads the result. */
static void build(jsonw_t *w, bool raw)
{
    for (int rec = 0; rec < 2; rec++) {
        jsonw_object_begin(w);
        if (raw) {
            jsonw_raw_key(w, JSONW_LIT("\"timestamp\":"));
        } else {
            jsonw_keyz(w, "timestamp");
        }
        jsonw_time_ns(w, 1700000000123456789LL, 6);
        if (raw) {
            jsonw_raw_members(w, JSONW_LIT("\"level\":\"info\""));
            jsonw_raw_key(w, JSONW_LIT("\"type\":\"syslog\",\"message\":"));
        } else {
            jsonw_keyz(w, "level");
            jsonw_stringz(w, "info");
            jsonw_keyz(w, "type");
            jsonw_stringz(w, "syslog");
            jsonw_keyz(w, "message");
        }
        jsonw_stringz(w, "a \"quoted\"\n message");
        if (raw) jsonw_raw_key(w, JSONW_LIT("\"metadata\":"));
        else jsonw_keyz(w, "metadata");
        jsonw_object_begin(w);
        if (raw) { /* raw members first in an object, then a key */
            jsonw_raw_members(w, JSONW_LIT("\"facility\":\"local0\",\"facility_code\":16"));
            jsonw_raw_key(w, JSONW_LIT("\"severity\":\"info\",\"pri\":"));
        } else {
            jsonw_keyz(w, "facility");
            jsonw_stringz(w, "local0");
            jsonw_keyz(w, "facility_code");
            jsonw_int(w, 16);
            jsonw_keyz(w, "severity");
            jsonw_stringz(w, "info");
            jsonw_keyz(w, "pri");
        }
        jsonw_int(w, 134);
        if (raw) jsonw_raw_members(w, JSONW_LIT("\"format\":\"rfc5424\""));
        else {
            jsonw_keyz(w, "format");
            jsonw_stringz(w, "rfc5424");
        }
        jsonw_keyz(w, "empty");
        jsonw_object_begin(w);
        if (raw) jsonw_raw_members(w, JSONW_LIT("\"only\":[1,{\"x\":null}]"));
        else {
            jsonw_keyz(w, "only");
            jsonw_array_begin(w);
            jsonw_int(w, 1);
            jsonw_object_begin(w);
            jsonw_keyz(w, "x");
            jsonw_null(w);
            jsonw_object_end(w);
            jsonw_array_end(w);
        }
        jsonw_object_end(w);
        jsonw_object_end(w);
        jsonw_object_end(w);
        jsonw_newline(w);
    }
}

static void test_raw_fragments(void **state)
{
    jsonw_t a, b;
    jsonw_init(&a, 4096);
    jsonw_init(&b, 4096);
    build(&a, false);
    build(&b, true);
    char *ta = take(&a), *tb = take(&b);
    assert_string_equal(tb, ta);
    /* both records parse, with the fields written */
    const char *line2 = strchr(tb, '\n') + 1;
    for (const char *p = tb; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        json_error_t err;
        json_t *j = json_loadb(p, (size_t)(strchr(p, '\n') - p), 0, &err);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "type")), "syslog");
        assert_string_equal(json_string_value(json_object_get(j, "message")),
                            "a \"quoted\"\n message");
        json_t *md = json_object_get(j, "metadata");
        assert_int_equal(json_integer_value(json_object_get(md, "pri")), 134);
        assert_int_equal(json_integer_value(json_object_get(md, "facility_code")), 16);
        assert_int_equal(json_object_size(md), 6);
        json_decref(j);
    }
    assert_true(line2 > tb);
    free(ta);
    free(tb);
    /* the bound applies: nothing partial past max */
    jsonw_t c;
    jsonw_init(&c, 10);
    jsonw_object_begin(&c);
    jsonw_raw_key(&c, JSONW_LIT("\"a_long_key\":"));
    assert_int_equal(jsonw_error(&c), -E2BIG);
    assert_true(jsonw_len(&c) <= 10);
    jsonw_free(&c);
    jsonw_free(&a);
    jsonw_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings),     cmocka_unit_test(test_every_byte),
        cmocka_unit_test(test_structure),   cmocka_unit_test(test_hex_and_raw),
        cmocka_unit_test(test_times),       cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_time_cache),  cmocka_unit_test(test_raw_fragments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
