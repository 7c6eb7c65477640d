/*
 * test_log.c - cmocka tests for src/common/log.c: log_format_line() in both
 * formats (exact lines for a table of messages, fields, levels and escapes;
 * truncation keeps JSON valid and marks it; reserved and malformed keys are
 * dropped), exhaustive JSON escaping of every 1- and 2-byte string and of
 * 3/4-byte sequences around every lead byte, checked against jansson's own
 * UTF-8 validation, the level/format parsers and the rate limiter.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/log.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct timespec TS = {0, 123456789};
static char line[LOG_LINE_MAX + 1];

static size_t fmt(log_format_t f, log_level_t lv, const char *event, const log_field_t *fl,
                  size_t n, const char *msg)
{
    size_t len = log_format_line(line, sizeof line, f, &TS, lv, "auth", event, fl, n, msg);
    assert_int_equal(len, strlen(line));
    assert_true(len <= LOG_LINE_MAX);
    assert_int_equal(line[len - 1], '\n');
    assert_null(memchr(line, '\n', len - 1)); /* one line, whatever the input */
    return len;
}

static json_t *parse_line(void)
{
    json_error_t e;
    json_t *o = json_loads(line, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &e);
    if (!o) fail_msg("not JSON (%s): %s", e.text, line);
    assert_true(json_is_object(o));
    return o;
}

/* Exact lines in both formats. */
static void test_exact_lines(void **state)
{
    const log_field_t f1[] = {
        LF_STR("client", "127.0.0.1:5555"), LF_STR("reason", "a b"), LF_INT("n", -3),
        LF_UINT("big", 18446744073709551615ull), LF_DBL("ratio", 0.5), LF_BOOL("ok", true),
        LF_STR("nothing", NULL),
    };
    const log_field_t bad_keys[] = {
        LF_STR("msg", "x"),     LF_STR("level", "x"), LF_STR("ts", "x"),
        LF_STR("Bad-Key", "x"), LF_STR("", "x"),      LF_STR("k", "v"),
        LF_DBL("nan", 0.0 / 0.0),
    };
    const struct {
        log_format_t f;
        log_level_t lv;
        const char *event;
        const log_field_t *fl;
        size_t n;
        const char *msg;
        const char *want;
    } cases[] = {
        {LOG_FORMAT_TEXT, LOG_WARN, "message", NULL, 0, "hello",
         "1970-01-01T00:00:00.123Z WARN  auth: hello\n"},
        {LOG_FORMAT_JSON, LOG_WARN, "message", NULL, 0, "hello",
         "{\"ts\":\"1970-01-01T00:00:00.123Z\",\"level\":\"warn\",\"event\":\"message\","
         "\"module\":\"auth\",\"msg\":\"hello\"}\n"},
        {LOG_FORMAT_JSON, LOG_DEBUG, NULL, NULL, 0, "",
         "{\"ts\":\"1970-01-01T00:00:00.123Z\",\"level\":\"debug\",\"event\":\"message\","
         "\"module\":\"auth\",\"msg\":\"\"}\n"},
        {LOG_FORMAT_JSON, LOG_INFO, "x", NULL, 0, "m",
         "{\"ts\":\"1970-01-01T00:00:00.123Z\",\"level\":\"info\",\"event\":\"x\","
         "\"module\":\"auth\",\"msg\":\"m\"}\n"},
        {LOG_FORMAT_JSON, LOG_ERROR, "x", NULL, 0, "m",
         "{\"ts\":\"1970-01-01T00:00:00.123Z\",\"level\":\"error\",\"event\":\"x\","
         "\"module\":\"auth\",\"msg\":\"m\"}\n"},
        {LOG_FORMAT_TEXT, LOG_DEBUG, "x", NULL, 0, "m", "1970-01-01T00:00:00.123Z DEBUG auth: m\n"},
        {LOG_FORMAT_TEXT, LOG_INFO, "x", NULL, 0, "m", "1970-01-01T00:00:00.123Z INFO  auth: m\n"},
        {LOG_FORMAT_TEXT, LOG_ERROR, "x", NULL, 0, "m", "1970-01-01T00:00:00.123Z ERROR auth: m\n"},
        {LOG_FORMAT_JSON, LOG_WARN, "auth_failed", f1, N(f1), "401",
         "{\"ts\":\"1970-01-01T00:00:00.123Z\",\"level\":\"warn\",\"event\":\"auth_failed\","
         "\"module\":\"auth\",\"client\":\"127.0.0.1:5555\",\"reason\":\"a b\",\"n\":-3,"
         "\"big\":18446744073709551615,\"ratio\":0.5,\"ok\":true,\"nothing\":null,"
         "\"msg\":\"401\"}\n"},
        {LOG_FORMAT_TEXT, LOG_WARN, "auth_failed", f1, N(f1), "401",
         "1970-01-01T00:00:00.123Z WARN  auth: 401 client=127.0.0.1:5555 reason=\"a b\" n=-3 "
         "big=18446744073709551615 ratio=0.5 ok=true nothing=-\n"},
        {LOG_FORMAT_JSON, LOG_INFO, "e", bad_keys, N(bad_keys), "m",
         "{\"ts\":\"1970-01-01T00:00:00.123Z\",\"level\":\"info\",\"event\":\"e\","
         "\"module\":\"auth\",\"k\":\"v\",\"nan\":null,\"msg\":\"m\"}\n"},
        /* escapes: quote, backslash, controls, DEL, valid and invalid UTF-8 */
        {LOG_FORMAT_JSON, LOG_INFO, "e", NULL, 0, "q\"b\\n\nr\rt\t\x01\x1f\x7f",
         "{\"ts\":\"1970-01-01T00:00:00.123Z\",\"level\":\"info\",\"event\":\"e\","
         "\"module\":\"auth\",\"msg\":\"q\\\"b\\\\n\\nr\\rt\\t\\u0001\\u001f\\u007f\"}\n"},
        {LOG_FORMAT_TEXT, LOG_INFO, "e", NULL, 0, "q\"b\\n\nr\rt\t\x01\x1f\x7f",
         "1970-01-01T00:00:00.123Z INFO  auth: q\"b\\n\\nr\\rt\\t\\x01\\x1f\\x7f\n"},
        {LOG_FORMAT_JSON, LOG_INFO, "e", NULL, 0,
         "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\xff|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82",
         "{\"ts\":\"1970-01-01T00:00:00.123Z\",\"level\":\"info\",\"event\":\"e\","
         "\"module\":\"auth\",\"msg\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\\ufffd|"
         "\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\"}\n"},
        {LOG_FORMAT_TEXT, LOG_INFO, "e", NULL, 0, "\xc3\xa9|\xff|\xe2\x82",
         "1970-01-01T00:00:00.123Z INFO  auth: \xc3\xa9|\\xff|\\xe2\\x82\n"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        fmt(cases[i].f, cases[i].lv, cases[i].event, cases[i].fl, cases[i].n, cases[i].msg);
        if (strcmp(line, cases[i].want)) fail_msg("case %zu:\n got %s want %s", i, line, cases[i].want);
        if (cases[i].f == LOG_FORMAT_JSON) json_decref(parse_line());
    }
}

/* A value in text is quoted when it holds a space, quote, '=', backslash or a
 * control character; a line-break in a field cannot start a new line. */
static void test_text_field_quoting(void **state)
{
    static const struct {
        const char *v, *want;
    } cases[] = {
        {"plain", " k=plain\n"},   {"", " k=\"\"\n"},        {"a=b", " k=\"a=b\"\n"},
        {"a\"b", " k=\"a\\\"b\"\n"}, {"a\\b", " k=\"a\\\\b\"\n"}, {"x\ny", " k=\"x\\ny\"\n"},
        {"\xc3\xa9", " k=\xc3\xa9\n"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        log_field_t f = LF_STR("k", cases[i].v);
        size_t len = fmt(LOG_FORMAT_TEXT, LOG_INFO, "e", &f, 1, "m");
        size_t wl = strlen(cases[i].want);
        assert_true(len >= wl);
        if (strcmp(line + len - wl, cases[i].want)) fail_msg("case %zu: %s", i, line);
    }
}

/* Lines that do not fit: cut at an escape boundary, still one JSON object
 * with every required key and "truncated":true, never over LOG_LINE_MAX. */
static void test_truncation(void **state)
{
    char big[LOG_MSG_MAX];
    static const char fill[] = {'"', 'a', '\x01', '\xff'};
    for (size_t k = 0; k < N(fill); k++) {
        memset(big, fill[k], sizeof big - 1);
        big[sizeof big - 1] = 0;
        for (int f = 0; f < 2; f++) {
            log_field_t fl[] = {LF_STR("client", "1.2.3.4:5"), LF_STR("v", big)};
            size_t len = fmt(f ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT, LOG_WARN, "e", fl, 2, big);
            if (!f) { /* a 1023-byte message and a 1023-byte field never fit */
                assert_non_null(strstr(line, " [truncated]\n"));
                assert_non_null(strstr(line, "client=1.2.3.4:5"));
                continue;
            }
            json_t *o = parse_line();
            assert_true(json_is_true(json_object_get(o, "truncated")));
            assert_string_equal(json_string_value(json_object_get(o, "client")), "1.2.3.4:5");
            assert_non_null(json_object_get(o, "v"));
            assert_true(json_string_length(json_object_get(o, "v")) < 512);
            if (fill[k] == 'a') /* only the field was cut: the message is whole */
                assert_string_equal(json_string_value(json_object_get(o, "msg")), big);
            else if (len <= LOG_LINE_MAX - 16) /* the room was used */
                fail_msg("fill %zu: %zu bytes: %s", k, len, line);
            json_decref(o);
        }
    }
    /* fields past LOG_FIELDS_MAX are dropped and the line says so */
    log_field_t many[LOG_FIELDS_MAX + 2];
    char keys[LOG_FIELDS_MAX + 2][8];
    for (size_t i = 0; i < N(many); i++) {
        snprintf(keys[i], sizeof keys[i], "k%zu", i);
        many[i] = LF_UINT(keys[i], i);
    }
    fmt(LOG_FORMAT_JSON, LOG_INFO, "e", many, N(many), "m");
    json_t *o = parse_line();
    assert_true(json_is_true(json_object_get(o, "truncated")));
    assert_non_null(json_object_get(o, "k15"));
    assert_null(json_object_get(o, "k16"));
    json_decref(o);
    /* a short line is not marked */
    fmt(LOG_FORMAT_JSON, LOG_INFO, "e", many, LOG_FIELDS_MAX, "m");
    o = parse_line();
    assert_null(json_object_get(o, "truncated"));
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "m");
    json_decref(o);
    /* a small buffer still gets a whole line */
    char small[LOG_LINE_MIN];
    size_t n = log_format_line(small, sizeof small, LOG_FORMAT_JSON, &TS, LOG_INFO, "m", "e",
                               NULL, 0, "a long message that cannot fit in 256 bytes, a long message that cannot fit in 256 bytes, a long message that cannot fit in 256 bytes, a long message that cannot fit in 256 bytes");
    assert_true(n < sizeof small);
    assert_int_equal(small[n - 1], '\n');
    json_error_t e;
    json_t *s = json_loads(small, 0, &e);
    assert_non_null(s);
    assert_true(json_is_true(json_object_get(s, "truncated")));
    json_decref(s);
}

/* The JSON string of `in` (n bytes) decodes to `in` when jansson accepts it
 * as UTF-8, and otherwise holds U+FFFD; the line always parses. */
static void check_bytes(const unsigned char *in, size_t n)
{
    char msg[8];
    memcpy(msg, in, n);
    msg[n] = 0;
    fmt(LOG_FORMAT_JSON, LOG_INFO, "e", NULL, 0, msg);
    json_error_t e;
    json_t *o = json_loads(line, 0, &e);
    if (!o) fail_msg("bytes %02x %02x %02x: not JSON: %s", in[0], n > 1 ? in[1] : 0,
                     n > 2 ? in[2] : 0, line);
    const char *got = json_string_value(json_object_get(o, "msg"));
    json_t *ref = json_stringn(msg, n);
    if (ref)
        assert_string_equal(got, msg);
    else
        assert_non_null(strstr(got, "\xef\xbf\xbd"));
    json_decref(ref);
    json_decref(o);
}

static void test_json_escape_exhaustive(void **state)
{
    unsigned char b[4];
    for (unsigned x = 1; x < 256; x++) {
        b[0] = (unsigned char)x;
        check_bytes(b, 1);
        for (unsigned y = 1; y < 256; y++) {
            b[1] = (unsigned char)y;
            check_bytes(b, 2);
        }
    }
    static const unsigned char edges[] = {0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff};
    for (unsigned lead = 0xc0; lead < 256; lead++)
        for (unsigned y = 0; y < N(edges); y++)
            for (unsigned z = 0; z < N(edges); z++)
                for (unsigned w = 0; w < N(edges); w++) {
                    b[0] = (unsigned char)lead;
                    b[1] = edges[y];
                    b[2] = edges[z];
                    b[3] = edges[w];
                    check_bytes(b, 3);
                    check_bytes(b, 4);
                }
}

static void test_parsers(void **state)
{
    log_level_t lv;
    log_format_t f;
    assert_int_equal(log_level_parse("warn", &lv), 0);
    assert_int_equal(lv, LOG_WARN);
    assert_int_equal(log_level_parse("WARN", &lv), -EINVAL);
    assert_int_equal(log_format_parse("json", &f), 0);
    assert_int_equal(f, LOG_FORMAT_JSON);
    assert_int_equal(log_format_parse("text", &f), 0);
    assert_int_equal(f, LOG_FORMAT_TEXT);
    assert_int_equal(log_format_parse("JSON", &f), -EINVAL);
    assert_int_equal(log_format_parse("", &f), -EINVAL);
    log_set_level(LOG_ERROR);
    assert_int_equal(log_get_level(), LOG_ERROR);
    log_set_format(LOG_FORMAT_JSON);
    assert_int_equal(log_get_format(), LOG_FORMAT_JSON);
    log_set_level(LOG_INFO);
    log_set_format(LOG_FORMAT_TEXT);
}

/* The limiter: per_sec lines per second, the refused ones counted and handed
 * to the next line allowed. */
static void test_limiter(void **state)
{
    log_limiter_t l = LOG_LIMITER_INIT(2);
    static const struct {
        uint64_t now;
        bool allow;
        uint64_t suppressed;
    } steps[] = {
        {100, true, 0}, {100, true, 0}, {100, false, 0}, {100, false, 0},
        {101, true, 2}, {101, true, 0}, {101, false, 0}, {105, true, 1},
        {105, true, 0}, {104, true, 0}, /* a clock step back starts a new window */
    };
    for (size_t i = 0; i < N(steps); i++) {
        uint64_t s = 99;
        bool ok = log_limiter_allow(&l, steps[i].now, &s);
        if (ok != steps[i].allow) fail_msg("step %zu", i);
        if (ok) assert_int_equal(s, steps[i].suppressed);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_lines),  cmocka_unit_test(test_text_field_quoting),
        cmocka_unit_test(test_truncation),   cmocka_unit_test(test_json_escape_exhaustive),
        cmocka_unit_test(test_parsers),      cmocka_unit_test(test_limiter),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
