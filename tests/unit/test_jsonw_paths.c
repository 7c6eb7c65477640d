/*
 * test_jsonw_paths.c - the fast paths of record/jsonw.c added for the syslog
 * receiver's throughput: plain strings written in one reserve and copy (the
 * 8-bytes-at-a-time test of "needs no escaping"), integers and RFC 3339
 * timestamps formatted without snprintf/strftime. Table-driven: every string
 * is written and parsed back with jansson (it must come back identical, or
 * with U+FFFD where the bytes were not UTF-8), at every offset of an 8-byte
 * word, so each special byte is seen by the word test and by the tail loop.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "record/jsonw.h"

/* One string written as a JSON value, parsed back by jansson. */
static void roundtrip(const char *s, size_t n, const char *expect, size_t expect_n)
{
    jsonw_t w;
    jsonw_init(&w, 1 << 20);
    jsonw_string(&w, s, n);
    assert_int_equal(jsonw_error(&w), 0);
    json_error_t e;
    json_t *v = json_loadb(w.buf, w.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!v) fail_msg("not JSON: %s: %.*s", e.text, (int)w.len, w.buf);
    assert_true(json_is_string(v));
    if (json_string_length(v) != expect_n || memcmp(json_string_value(v), expect, expect_n))
        fail_msg("round trip of %.*s gave %s", (int)n, s, json_string_value(v));
    json_decref(v);
    jsonw_free(&w);
}

static void test_strings_every_offset(void **state)
{
    (void)state;
    static const struct {
        const char *special;
        size_t n;
        const char *back; /* what it reads back as */
        size_t back_n;
    } cases[] = {
        {"\"", 1, "\"", 1},         {"\\", 1, "\\", 1},
        {"\n", 1, "\n", 1},         {"\x01", 1, "\x01", 1},
        {"\x1f", 1, "\x1f", 1},     {"\0", 1, "\0", 1},
        {"\x7f", 1, "\x7f", 1},     {" ", 1, " ", 1},
        {"\xc3\xa9", 2, "\xc3\xa9", 2},             /* é */
        {"\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80", 4}, /* U+1F600 */
        {"\xff", 1, "\xef\xbf\xbd", 3},             /* not UTF-8 */
        {"\xc3", 1, "\xef\xbf\xbd", 3},             /* truncated sequence */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (size_t pre = 0; pre < 20; pre++) {
            for (size_t post = 0; post < 10; post++) {
                char in[64], out[64];
                memset(in, 'a', pre);
                memcpy(in + pre, cases[c].special, cases[c].n);
                memset(in + pre + cases[c].n, 'b', post);
                memset(out, 'a', pre);
                memcpy(out + pre, cases[c].back, cases[c].back_n);
                memset(out + pre + cases[c].back_n, 'b', post);
                roundtrip(in, pre + cases[c].n + post, out, pre + cases[c].back_n + post);
            }
        }
    }
    roundtrip("", 0, "", 0);
    roundtrip("exactly8", 8, "exactly8", 8);
    roundtrip("sixteen-bytes-ok", 16, "sixteen-bytes-ok", 16);
}

/* A bound exactly at a plain string's size, and one byte under it. */
static void test_plain_string_bound(void **state)
{
    (void)state;
    jsonw_t w;
    jsonw_init(&w, 10); /* "12345678" is 10 bytes with its quotes */
    jsonw_string(&w, "12345678", 8);
    assert_int_equal(jsonw_error(&w), 0);
    assert_int_equal(w.len, 10);
    assert_memory_equal(w.buf, "\"12345678\"", 10);
    jsonw_free(&w);
    jsonw_init(&w, 9);
    jsonw_string(&w, "12345678", 8);
    assert_int_equal(jsonw_error(&w), -E2BIG);
    assert_true(w.len <= 9);
    jsonw_free(&w);
}

static void test_integers(void **state)
{
    (void)state;
    static const int64_t ints[] = {0, 1, -1, 9, 10, -10, 123456789, INT64_MAX, INT64_MIN,
                                   INT64_MIN + 1};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        jsonw_t w;
        jsonw_init(&w, 64);
        jsonw_int(&w, ints[i]);
        char want[32];
        snprintf(want, sizeof want, "%" PRId64, ints[i]);
        assert_int_equal(w.len, strlen(want));
        assert_memory_equal(w.buf, want, w.len);
        jsonw_free(&w);
    }
    static const uint64_t uints[] = {0, 7, 10, 18446744073709551615ull};
    for (size_t i = 0; i < sizeof uints / sizeof uints[0]; i++) {
        jsonw_t w;
        jsonw_init(&w, 64);
        jsonw_uint(&w, uints[i]);
        char want[32];
        snprintf(want, sizeof want, "%" PRIu64, uints[i]);
        assert_int_equal(w.len, strlen(want));
        assert_memory_equal(w.buf, want, w.len);
        jsonw_free(&w);
    }
}

static void test_times(void **state)
{
    (void)state;
    static const struct {
        int64_t ns;
        int digits;
        const char *want;
    } cases[] = {
        {0, 0, "\"1970-01-01T00:00:00Z\""},
        {0, 9, "\"1970-01-01T00:00:00.000000000Z\""},
        {1065910455003000000LL, 3, "\"2003-10-11T22:14:15.003Z\""},
        {1065910455000003000LL, 6, "\"2003-10-11T22:14:15.000003Z\""},
        {1065910455123456789LL, 9, "\"2003-10-11T22:14:15.123456789Z\""},
        {1065910455123456789LL, 3, "\"2003-10-11T22:14:15.123Z\""},
        {951782400000000000LL, 0, "\"2000-02-29T00:00:00Z\""},
        {-1, 9, "\"1969-12-31T23:59:59.999999999Z\""},
        {4102444799000000000LL, 0, "\"2099-12-31T23:59:59Z\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        jsonw_t w;
        jsonw_init(&w, 64);
        jsonw_time_ns(&w, cases[i].ns, cases[i].digits);
        if (w.len != strlen(cases[i].want) || memcmp(w.buf, cases[i].want, w.len))
            fail_msg("%" PRId64 "/%d: %.*s, expected %s", cases[i].ns, cases[i].digits,
                     (int)w.len, w.buf, cases[i].want);
        jsonw_free(&w);
    }
}

/* Keys: plain ones take the one-reserve path, others are escaped. */
static void test_keys(void **state)
{
    (void)state;
    static const char *const keys[] = {"", "k", "timestamp", "a\"b", "back\\slash",
                                       "tab\there", "\xc3\xa9t\xc3\xa9", "exactly8"};
    jsonw_t w;
    jsonw_init(&w, 4096);
    jsonw_object_begin(&w);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        jsonw_keyz(&w, keys[i]);
        jsonw_int(&w, (int64_t)i);
    }
    jsonw_object_end(&w);
    assert_int_equal(jsonw_error(&w), 0);
    json_error_t e;
    json_t *v = json_loadb(w.buf, w.len, 0, &e);
    if (!v) fail_msg("not JSON: %s: %.*s", e.text, (int)w.len, w.buf);
    assert_int_equal(json_object_size(v), sizeof keys / sizeof keys[0]);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_int_equal(json_integer_value(json_object_get(v, keys[i])), (json_int_t)i);
    json_decref(v);
    jsonw_free(&w);
    /* a key that does not fit: the error, never a partial key */
    jsonw_init(&w, 8);
    jsonw_object_begin(&w);
    jsonw_keyz(&w, "longer-than-the-bound");
    assert_int_equal(jsonw_error(&w), -E2BIG);
    assert_true(w.len <= 8);
    jsonw_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_every_offset),
        cmocka_unit_test(test_plain_string_bound),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
