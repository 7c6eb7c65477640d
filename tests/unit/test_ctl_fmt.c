/*
 * test_ctl_fmt.c - table-driven tests of logdistctl's human output
 * (tools/ctl/ctl_fmt.c): humanised numbers, the one-line API error, exit codes of
 * statuses, printable text, and the exact rendering of an aligned table.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_fmt.h"

typedef void (*fmt_fn)(double, char *, size_t);

static void test_numbers(void **state)
{
    (void)state;
    static const struct {
        fmt_fn fn;
        double v;
        const char *want;
    } rows[] = {
        {ctl_fmt_count, 0, "0"},
        {ctl_fmt_count, 999, "999"},
        {ctl_fmt_count, 1000, "1.0k"},
        {ctl_fmt_count, 1234, "1.2k"},
        {ctl_fmt_count, 99949, "99.9k"},
        {ctl_fmt_count, 123456, "123k"},
        {ctl_fmt_count, 999960, "1.0M"},
        {ctl_fmt_count, 1.5e6, "1.5M"},
        {ctl_fmt_count, 2e9, "2.0G"},
        {ctl_fmt_count, 3e12, "3.0T"},
        {ctl_fmt_count, -1500, "-1.5k"},
        {ctl_fmt_count, NAN, "-"},
        {ctl_fmt_bytes, 0, "0 B"},
        {ctl_fmt_bytes, 512, "512 B"},
        {ctl_fmt_bytes, 1023, "1023 B"},
        {ctl_fmt_bytes, 1024, "1.0 KiB"},
        {ctl_fmt_bytes, 1536, "1.5 KiB"},
        {ctl_fmt_bytes, 64.0 * 1048576, "64.0 MiB"},
        {ctl_fmt_bytes, 3.0 * 1073741824, "3.0 GiB"},
        {ctl_fmt_bytes, INFINITY, "-"},
        {ctl_fmt_pct, 0, "0.0%"},
        {ctl_fmt_pct, 1.0 / 3, "33.3%"},
        {ctl_fmt_pct, 1, "100.0%"},
        {ctl_fmt_pct, NAN, "-"},
        {ctl_fmt_ms, 0, "0.00 ms"},
        {ctl_fmt_ms, 0.421, "0.42 ms"},
        {ctl_fmt_ms, 12.34, "12.3 ms"},
        {ctl_fmt_ms, 250, "250 ms"},
        {ctl_fmt_ms, 1500, "1.50 s"},
        {ctl_fmt_ms, NAN, "-"},
        {ctl_fmt_weight, 1, "1"},
        {ctl_fmt_weight, 0.25, "0.25"},
        {ctl_fmt_weight, 1e12, "1e+12"},
        {ctl_fmt_weight, NAN, "-"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char buf[32];
        rows[i].fn(rows[i].v, buf, sizeof buf);
        if (strcmp(buf, rows[i].want))
            fail_msg("row %zu: %g -> '%s', want '%s'", i, rows[i].v, buf, rows[i].want);
    }
    /* truncation never overflows */
    char small[4];
    ctl_fmt_bytes(1536, small, sizeof small);
    assert_string_equal(small, "1.5");
}

static void test_api_error(void **state)
{
    (void)state;
    static const struct {
        long status;
        const char *body, *want;
    } rows[] = {
        {404, "{\"error\":\"not_found\",\"message\":\"no analyzer with this id\"}",
         "404 not_found: no analyzer with this id"},
        {401,
         "{\"error\":\"unauthorized\",\"message\":\"an Authorization: Bearer token is "
         "required\"}\n",
         "401 unauthorized: an Authorization: Bearer token is required"},
        {409, "{\"error\":\"conflict\"}", "409 conflict"},
        {400, "{\"error\":\"bad_json\",\"message\":\"x\\u001b[31my\",\"offset\":3}",
         "400 bad_json: x?[31my"},
        {502, "<html>Bad\r\nGateway</html>", "502 <html>Bad??Gateway</html>"},
        {500, "", "500 (empty answer)"},
        {503, "[1,2]", "503 [1,2]"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char buf[512];
        ctl_fmt_api_error(rows[i].status, rows[i].body, strlen(rows[i].body), buf, sizeof buf);
        if (strcmp(buf, rows[i].want)) fail_msg("row %zu: '%s', want '%s'", i, buf, rows[i].want);
    }
}

static void test_exit_codes_and_clean(void **state)
{
    (void)state;
    static const struct {
        long status;
        int want;
    } rows[] = {{200, 0}, {201, 0}, {299, 0}, {301, 1}, {400, 1}, {401, 4},
                {403, 4}, {404, 1}, {409, 1}, {500, 1}, {503, 1}, {0, 1}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (ctl_exit_for_status(rows[i].status) != rows[i].want)
            fail_msg("status %ld -> %d, want %d", rows[i].status,
                     ctl_exit_for_status(rows[i].status), rows[i].want);
    char buf[32];
    ctl_fmt_clean("abc\x07"
                  "def",
                  100, buf, sizeof buf);
    assert_string_equal(buf, "abc?def");
    ctl_fmt_clean("abcdefgh", 4, buf, sizeof buf);
    assert_string_equal(buf, "abcd...");
    ctl_fmt_clean("h\xc3\xa9llo", 3, buf, sizeof buf); /* counts characters, not bytes */
    assert_string_equal(buf, "h\xc3\xa9l...");
    ctl_fmt_clean(NULL, 3, buf, sizeof buf);
    assert_string_equal(buf, "");
}

static void test_table(void **state)
{
    (void)state;
    static const char *const h[] = {"ID", "STATE", "QUEUED", "LAST ERROR"};
    static const bool right[] = {false, false, true, false};
    ctl_table_t *t = ctl_table_new(4, h, right);
    assert_non_null(t);
    static const char *const r1[] = {"a1", "up", "12", "-"};
    static const char *const r2[] = {"analyzer-2", "dr\xc3\xa4ined", "1.2k", "timeout"};
    static const char *const r3[] = {"a3", "down", "0", ""};
    assert_int_equal(ctl_table_add(t, r1), 0);
    assert_int_equal(ctl_table_add(t, r2), 0);
    assert_int_equal(ctl_table_add(t, r3), 0);
    char *s = ctl_table_render(t);
    assert_non_null(s);
    assert_string_equal(s, "ID          STATE    QUEUED  LAST ERROR\n"
                           "a1          up           12  -\n"
                           "analyzer-2  dr\xc3\xa4ined    1.2k  timeout\n"
                           "a3          down          0\n");
    free(s);
    ctl_table_free(t);
    /* more rows than the first allocation; a header-only table */
    t = ctl_table_new(1, h, NULL);
    for (int i = 0; i < 100; i++)
        assert_int_equal(ctl_table_add(t, r1), 0);
    s = ctl_table_render(t);
    assert_int_equal(strlen(s), 101 * 3);
    free(s);
    ctl_table_free(t);
    assert_null(ctl_table_new(0, h, NULL));
    assert_null(ctl_table_new(CTL_TABLE_MAX_COLS + 1, h, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_api_error),
        cmocka_unit_test(test_exit_codes_and_clean),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
