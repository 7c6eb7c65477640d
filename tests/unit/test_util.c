/*
 * test_util.c - cmocka tests for src/common/util.c: parse_size (binary units,
 * syntax errors, overflow), parse_uint bounds, parse_weight (finite >= 0 only),
 * strlcpy_ld truncation and return value, and the clocks' monotonicity.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* parse_size: every accepted spelling and every rejected one. */
static void test_parse_size(void **state)
{
    static const struct {
        const char *s;
        int rc;
        uint64_t want;
    } cases[] = {
        {"0", 0, 0},
        {"10", 0, 10},
        {"1048576", 0, 1048576},
        {"10b", 0, 10},
        {"10B", 0, 10},
        {"64k", 0, 64ull << 10},
        {"64K", 0, 64ull << 10},
        {"64KiB", 0, 64ull << 10},
        {"64kib", 0, 64ull << 10},
        {"64kb", 0, 64ull << 10},
        {"1m", 0, 1ull << 20},
        {"1M", 0, 1ull << 20},
        {"1MiB", 0, 1ull << 20},
        {"64MiB", 0, 64ull << 20},
        {"1g", 0, 1ull << 30},
        {"1G", 0, 1ull << 30},
        {"1GiB", 0, 1ull << 30},
        {"1gb", 0, 1ull << 30},
        {"18446744073709551615", 0, UINT64_MAX},
        {"17179869183G", 0, 17179869183ull << 30}, /* largest that fits */
        {"18014398509481983k", 0, 18014398509481983ull << 10},
        {"", -EINVAL, 0},
        {"k", -EINVAL, 0},
        {"KiB", -EINVAL, 0},
        {"-1", -EINVAL, 0},
        {"+1", -EINVAL, 0},
        {" 1", -EINVAL, 0},
        {"1 ", -EINVAL, 0},
        {"1 KiB", -EINVAL, 0},
        {"1.5M", -EINVAL, 0},
        {"1T", -EINVAL, 0},
        {"1KiBx", -EINVAL, 0},
        {"0x10", -EINVAL, 0},
        {"18446744073709551616", -ERANGE, 0}, /* 2^64: strtoull overflow */
        {"99999999999999999999999", -ERANGE, 0},
        {"17179869184G", -ERANGE, 0},         /* 2^34 GiB = 2^64 */
        {"18014398509481984k", -ERANGE, 0},   /* 2^54 KiB = 2^64 */
        {"18446744073709551615k", -ERANGE, 0},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        uint64_t v = 0xdeadbeef;
        int rc = parse_size(cases[i].s, &v);
        if (rc != cases[i].rc)
            fail_msg("parse_size(\"%s\") = %d, want %d", cases[i].s, rc, cases[i].rc);
        if (rc == 0 && v != cases[i].want)
            fail_msg("parse_size(\"%s\") -> %llu, want %llu", cases[i].s, (unsigned long long)v,
                     (unsigned long long)cases[i].want);
        if (rc != 0 && v != 0xdeadbeef)
            fail_msg("parse_size(\"%s\") failed but wrote *out", cases[i].s);
    }
    uint64_t v;
    assert_int_equal(parse_size(NULL, &v), -EINVAL);
}

/* parse_uint: decimal only, inclusive bounds. */
static void test_parse_uint(void **state)
{
    static const struct {
        const char *s;
        uint64_t min, max;
        int rc;
        uint64_t want;
    } cases[] = {
        {"0", 0, 10, 0, 0},
        {"10", 0, 10, 0, 10},
        {"11", 0, 10, -ERANGE, 0},
        {"4", 5, 10, -ERANGE, 0},
        {"5", 5, 10, 0, 5},
        {"65535", 0, 65535, 0, 65535},
        {"65536", 0, 65535, -ERANGE, 0},
        {"007", 0, 10, 0, 7},
        {"18446744073709551615", 0, UINT64_MAX, 0, UINT64_MAX},
        {"18446744073709551616", 0, UINT64_MAX, -ERANGE, 0},
        {"", 0, 10, -EINVAL, 0},
        {"-1", 0, 10, -EINVAL, 0},
        {"+1", 0, 10, -EINVAL, 0},
        {" 1", 0, 10, -EINVAL, 0},
        {"1 ", 0, 10, -EINVAL, 0},
        {"1k", 0, 10000, -EINVAL, 0},
        {"1.0", 0, 10, -EINVAL, 0},
        {"0x1", 0, 10, -EINVAL, 0},
        {"abc", 0, 10, -EINVAL, 0},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        uint64_t v = 0xdeadbeef;
        int rc = parse_uint(cases[i].s, cases[i].min, cases[i].max, &v);
        if (rc != cases[i].rc)
            fail_msg("parse_uint(\"%s\", %llu, %llu) = %d, want %d", cases[i].s,
                     (unsigned long long)cases[i].min, (unsigned long long)cases[i].max, rc,
                     cases[i].rc);
        if (rc == 0 && v != cases[i].want)
            fail_msg("parse_uint(\"%s\") -> %llu", cases[i].s, (unsigned long long)v);
        if (rc != 0 && v != 0xdeadbeef) fail_msg("parse_uint(\"%s\") wrote *out", cases[i].s);
    }
    uint64_t v;
    assert_int_equal(parse_uint(NULL, 0, 1, &v), -EINVAL);
}

/* parse_weight: finite doubles >= 0; NaN, infinities, negatives and junk rejected. */
static void test_parse_weight(void **state)
{
    static const struct {
        const char *s;
        int rc;
        double want;
    } cases[] = {
        {"0", 0, 0},
        {"1", 0, 1},
        {"0.4", 0, 0.4},
        {".5", 0, 0.5},
        {"2.5e3", 0, 2500},
        {"1e-9", 0, 1e-9},
        {"1000000", 0, 1e6},
        {"", -EINVAL, 0},
        {"x", -EINVAL, 0},
        {"1x", -EINVAL, 0},
        {"1 ", -EINVAL, 0},
        {"-1", -ERANGE, 0},
        {"-0.5", -ERANGE, 0},
        {"nan", -EINVAL, 0},
        {"NaN", -EINVAL, 0},
        {"-nan", -EINVAL, 0},
        {"inf", -EINVAL, 0},
        {"Infinity", -EINVAL, 0},
        {"-inf", -EINVAL, 0},
        {"1e400", -EINVAL, 0}, /* overflows to inf (ERANGE) */
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        double v = -42;
        int rc = parse_weight(cases[i].s, &v);
        if (rc != cases[i].rc)
            fail_msg("parse_weight(\"%s\") = %d, want %d", cases[i].s, rc, cases[i].rc);
        if (rc == 0 && v != cases[i].want)
            fail_msg("parse_weight(\"%s\") -> %g, want %g", cases[i].s, v, cases[i].want);
        if (rc != 0 && v != -42) fail_msg("parse_weight(\"%s\") wrote *out", cases[i].s);
    }
    double v;
    assert_int_equal(parse_weight(NULL, &v), -EINVAL);
}

/* strlcpy_ld: copies at most size-1 bytes, always terminates, returns strlen(src). */
static void test_strlcpy(void **state)
{
    static const struct {
        const char *src;
        size_t size;
        const char *want;
    } cases[] = {
        {"hello", 16, "hello"},
        {"hello", 6, "hello"},
        {"hello", 5, "hell"},
        {"hello", 2, "h"},
        {"hello", 1, ""},
        {"", 4, ""},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        char buf[16];
        memset(buf, 'X', sizeof buf);
        size_t n = strlcpy_ld(buf, cases[i].src, cases[i].size);
        assert_int_equal(n, strlen(cases[i].src));
        assert_string_equal(buf, cases[i].want);
        for (size_t j = cases[i].size; j < sizeof buf; j++) /* nothing past dstsize */
            assert_int_equal(buf[j], 'X');
    }
    char buf[4] = "abc";
    assert_int_equal(strlcpy_ld(buf, "longer", 0), 6); /* size 0: nothing written */
    assert_string_equal(buf, "abc");
}

/* Clocks: monotonic ones never go back; ms and us agree; wall clock is after 2020. */
static void test_clocks(void **state)
{
    (void)state;
    uint64_t ms = now_ms(), us = now_us();
    assert_true(us / 1000 >= ms);
    assert_true(us / 1000 - ms < 1000);
    for (int i = 0; i < 1000; i++) {
        uint64_t m2 = now_ms(), u2 = now_us();
        assert_true(m2 >= ms);
        assert_true(u2 >= us);
        ms = m2;
        us = u2;
    }
    assert_true(wall_ms() > 1577836800000ull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_size),  cmocka_unit_test(test_parse_uint),
        cmocka_unit_test(test_parse_weight), cmocka_unit_test(test_strlcpy),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
