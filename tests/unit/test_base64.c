/*
 * test_base64.c - cmocka table test for src/common/base64.c: both alphabets,
 * optional and misplaced padding, dangling characters, the output bound.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/base64.h"

static void test_decode(void **state)
{
    static const struct {
        const char *in;
        long rc; /* bytes, or -errno */
        const char *out;
    } cases[] = {
        {"", 0, ""},
        {"Zg==", 1, "f"},
        {"Zg", 1, "f"},
        {"Zm8=", 2, "fo"},
        {"Zm8", 2, "fo"},
        {"Zm9v", 3, "foo"},
        {"Zm9vYmFy", 6, "foobar"},
        {"dXNlcjp0b2tlbg==", 10, "user:token"},
        {"-_-_", 3, "\xfb\xff\xbf"},  /* URL-safe */
        {"+/+/", 3, "\xfb\xff\xbf"},  /* standard */
        {"-/+_", 3, "\xfb\xff\xbf"},  /* mixed, as protojson takes it */
        {"Z", -EINVAL, NULL},         /* one dangling character */
        {"Zm9vY", -EINVAL, NULL},
        {"Zg=", -EINVAL, NULL},       /* padding that does not complete a quantum */
        {"Zg===", -EINVAL, NULL},
        {"Z=g=", -EINVAL, NULL},      /* padding in the middle */
        {"Zm 9v", -EINVAL, NULL},
        {"Zm9v\n", -EINVAL, NULL},
        {"Zm9v*", -EINVAL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t out[64];
        size_t n = strlen(cases[i].in);
        long rc = base64_decode(cases[i].in, n, out, sizeof out);
        if (rc != cases[i].rc) fail_msg("'%s': %ld, want %ld", cases[i].in, rc, cases[i].rc);
        if (rc > 0) assert_memory_equal(out, cases[i].out, (size_t)rc);
        assert_true(rc < 0 || (size_t)rc <= base64_decoded_max(n));
    }
}

static void test_bound(void **state)
{
    uint8_t out[8];
    assert_int_equal(base64_decode("Zm9vYmFy", 8, out, 6), 6);
    assert_int_equal(base64_decode("Zm9vYmFy", 8, out, 5), -E2BIG);
    assert_int_equal(base64_decode("Zm9vYg", 6, out, 3), -E2BIG);
    assert_int_equal(base64_decode("Zm9vYg", 6, out, 4), 4);
    assert_int_equal(base64_decode("Zm9v", 4, out, 0), -E2BIG);
}

/* encode then decode gives the bytes back, for every length around the quanta */
static void test_round_trip(void **state)
{
    uint8_t in[10], back[16];
    char enc[16];
    for (size_t n = 0; n <= sizeof in; n++) {
        for (size_t i = 0; i < n; i++) in[i] = (uint8_t)(0xF1 * (i + 1));
        base64_encode(in, n, enc);
        size_t el = base64_encoded_len(n);
        assert_int_equal(el % 4, 0);
        assert_int_equal(base64_decode(enc, el, back, sizeof back), (long)n);
        assert_memory_equal(back, in, n);
    }
    base64_encode((const uint8_t *)"foobar", 4, enc);
    assert_memory_equal(enc, "Zm9vYg==", 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_decode), cmocka_unit_test(test_bound),
                                       cmocka_unit_test(test_round_trip)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
