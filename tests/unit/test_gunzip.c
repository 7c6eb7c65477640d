/*
 * test_gunzip.c - cmocka tests for src/ingest/gunzip.c: round trips against zlib's
 * own gzip writer (deflateInit2, windowBits 31) for several sizes and levels,
 * concatenated members, truncated and corrupt streams (GUNZIP_ERR_DATA), the output
 * limit at its exact boundary (GUNZIP_ERR_TOO_BIG), a decompression bomb, empty input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "ingest/gunzip.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* gzip-compress in[0..len) as one member; caller frees *out. */
static void gz(const void *in, size_t len, int level, unsigned char **out, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&zs, (uLong)len) + 64;
    unsigned char *buf = malloc(cap);
    assert_non_null(buf);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = buf;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_len = cap - zs.avail_out;
    *out = buf;
    deflateEnd(&zs);
}

/* Test data: half compressible text, half pseudo-random bytes. */
static unsigned char *make_data(size_t len, uint32_t seed)
{
    unsigned char *d = malloc(len ? len : 1);
    assert_non_null(d);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        d[i] = (i / 512) % 2 ? (unsigned char)x : (unsigned char)("{\"msg\":\"hello\"}\n"[i % 16]);
    }
    return d;
}

/* Decode and expect `want` (OK: the output must equal expect[0..expect_len)). */
static void expect_gunzip(const void *in, size_t in_len, size_t max_out, int want,
                          const void *expect, size_t expect_len)
{
    char *out = (char *)0x1;
    size_t out_len = 99, err_off = 99;
    int rc = gunzip_body(in, in_len, max_out, &out, &out_len, &err_off);
    if (rc != want)
        fail_msg("gunzip_body(in_len %zu, max_out %zu) = %d, want %d (err_offset %zu)", in_len,
                 max_out, rc, want, err_off);
    if (rc == GUNZIP_OK) {
        assert_non_null(out);
        assert_int_equal(out_len, expect_len);
        assert_true(out_len <= max_out);
        if (expect_len) assert_memory_equal(out, expect, expect_len);
        assert_int_equal(err_off, 0);
        free(out);
    } else {
        assert_null(out);
        assert_int_equal(out_len, 0);
        assert_true(err_off <= in_len);
    }
}

static const size_t sizes[] = {0, 1, 15, 100, 1023, 1024, 4096, 65543, 300000, (1u << 20) + 3};

/* Round trip for every size and a few compression levels, with a roomy limit and with
 * the limit exactly at the decoded size. */
static void test_roundtrip(void **state)
{
    static const int levels[] = {0, 1, 6, 9};
    (void)state;
    for (size_t s = 0; s < N(sizes); s++) {
        unsigned char *d = make_data(sizes[s], (uint32_t)s);
        for (size_t l = 0; l < N(levels); l++) {
            unsigned char *z;
            size_t zlen;
            gz(d, sizes[s], levels[l], &z, &zlen);
            expect_gunzip(z, zlen, sizes[s] + 4096, GUNZIP_OK, d, sizes[s]);
            expect_gunzip(z, zlen, sizes[s], GUNZIP_OK, d, sizes[s]);
            free(z);
        }
        free(d);
    }
}

/* The limit: max_out == decoded size is fine, one less is TOO_BIG; for compressible data
 * (the buffer must grow many times) and incompressible data. */
static void test_limit_boundary(void **state)
{
    (void)state;
    for (size_t s = 1; s < N(sizes); s++) {
        for (int kind = 0; kind < 2; kind++) {
            unsigned char *d = kind ? make_data(sizes[s], 7) : calloc(1, sizes[s]);
            assert_non_null(d);
            unsigned char *z;
            size_t zlen;
            gz(d, sizes[s], 6, &z, &zlen);
            expect_gunzip(z, zlen, sizes[s], GUNZIP_OK, d, sizes[s]);
            expect_gunzip(z, zlen, sizes[s] - 1, GUNZIP_ERR_TOO_BIG, NULL, 0);
            expect_gunzip(z, zlen, sizes[s] / 2, GUNZIP_ERR_TOO_BIG, NULL, 0);
            expect_gunzip(z, zlen, 0, GUNZIP_ERR_TOO_BIG, NULL, 0);
            free(z);
            free(d);
        }
    }
    /* empty content fits in max_out 0 */
    unsigned char *z;
    size_t zlen;
    gz("", 0, 6, &z, &zlen);
    expect_gunzip(z, zlen, 0, GUNZIP_OK, "", 0);
    free(z);
}

/* Several members back to back decode to the concatenation; the limit covers the total. */
static void test_concatenated(void **state)
{
    static const size_t part[] = {100, 0, 70000, 5, 1u << 16};
    (void)state;
    size_t total = 0, zt = 0;
    for (size_t i = 0; i < N(part); i++)
        total += part[i];
    unsigned char *all = malloc(total), *zall = NULL;
    assert_non_null(all);
    size_t off = 0;
    for (size_t i = 0; i < N(part); i++) {
        unsigned char *d = make_data(part[i], (uint32_t)(i + 100));
        memcpy(all + off, d, part[i]);
        off += part[i];
        unsigned char *z;
        size_t zlen;
        gz(d, part[i], i % 2 ? 1 : 9, &z, &zlen);
        zall = realloc(zall, zt + zlen);
        assert_non_null(zall);
        memcpy(zall + zt, z, zlen);
        zt += zlen;
        free(z);
        free(d);
    }
    expect_gunzip(zall, zt, total, GUNZIP_OK, all, total);
    expect_gunzip(zall, zt, total - 1, GUNZIP_ERR_TOO_BIG, NULL, 0);
    expect_gunzip(zall, zt, 1u << 30, GUNZIP_OK, all, total);
    free(all);
    free(zall);
}

/* A stream cut anywhere (header, body, trailer, between members) is DATA. */
static void test_truncated(void **state)
{
    (void)state;
    size_t len = 50000;
    unsigned char *d = make_data(len, 3), *z;
    size_t zlen;
    gz(d, len, 6, &z, &zlen);
    const size_t cuts[] = {1, 2, 9, 10, 11, zlen / 3, zlen / 2, zlen - 8, zlen - 5, zlen - 1};
    for (size_t i = 0; i < N(cuts); i++)
        expect_gunzip(z, cuts[i], len * 2, GUNZIP_ERR_DATA, NULL, 0);

    /* second member truncated */
    unsigned char *two = malloc(2 * zlen);
    assert_non_null(two);
    memcpy(two, z, zlen);
    memcpy(two + zlen, z, zlen);
    expect_gunzip(two, 2 * zlen - 1, len * 4, GUNZIP_ERR_DATA, NULL, 0);
    expect_gunzip(two, zlen + 10, len * 4, GUNZIP_ERR_DATA, NULL, 0);
    free(two);
    free(z);
    free(d);
}

/* Not gzip at all, corrupt checksums, trailing garbage: DATA. */
static void test_garbage(void **state)
{
    (void)state;
#define J(lit) {lit, sizeof(lit) - 1}
    static const struct {
        const char *p;
        size_t len;
    } junk[] = {
        J("hello world"),
        J("{\"packet_id\":\"x\",\"messages\":[]}"),
        J("\x1f"),
        J("\x1f\x8b"),
        J("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" "garbagegarbage"), /* reserved block */
        J("\x1f\x8b\x09\x00\x00\x00\x00\x00\x00\x03\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
        J("\x78\x9c\x03\x00\x00\x00\x00\x01"), /* zlib wrapper, not gzip */
        J("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"),
    };
#undef J
    for (size_t i = 0; i < N(junk); i++)
        expect_gunzip(junk[i].p, junk[i].len, 1 << 20, GUNZIP_ERR_DATA, NULL, 0);

    unsigned char rnd[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof rnd; i++) {
        x = x * 1103515245u + 12345u;
        rnd[i] = (unsigned char)(x >> 16);
    }
    expect_gunzip(rnd, sizeof rnd, 1 << 20, GUNZIP_ERR_DATA, NULL, 0);

    size_t len = 10000;
    unsigned char *d = make_data(len, 9), *z;
    size_t zlen;
    gz(d, len, 6, &z, &zlen);
    unsigned char *m = malloc(zlen + 16);
    assert_non_null(m);
    /* bad CRC32, bad ISIZE, flipped body byte */
    const size_t flips[] = {zlen - 8, zlen - 4, zlen / 2};
    for (size_t i = 0; i < N(flips); i++) {
        memcpy(m, z, zlen);
        m[flips[i]] ^= 0x55;
        expect_gunzip(m, zlen, len * 2, GUNZIP_ERR_DATA, NULL, 0);
    }
    /* trailing garbage, trailing zero padding */
    memcpy(m, z, zlen);
    memcpy(m + zlen, "junk", 4);
    expect_gunzip(m, zlen + 4, len * 2, GUNZIP_ERR_DATA, NULL, 0);
    memset(m + zlen, 0, 16);
    expect_gunzip(m, zlen + 16, len * 2, GUNZIP_ERR_DATA, NULL, 0);
    free(m);
    free(z);
    free(d);
}

/* 10 MB of zeros (~10 KB compressed) against a small limit: TOO_BIG, fast, having read
 * only a small part of the input. */
static void test_bomb(void **state)
{
    (void)state;
    size_t len = 10u * 1000 * 1000;
    unsigned char *d = calloc(1, len), *z;
    assert_non_null(d);
    size_t zlen;
    gz(d, len, 9, &z, &zlen);
    free(d);
    assert_true(zlen < 20000);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char *out = (char *)0x1;
    size_t out_len = 1, err_off = 0;
    int rc = gunzip_body(z, zlen, 64u << 10, &out, &out_len, &err_off);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(rc, GUNZIP_ERR_TOO_BIG);
    assert_null(out);
    assert_true(err_off < zlen / 4); /* stopped early */
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(ms < 200);

    /* the same bomb with an exactly sufficient limit decodes */
    rc = gunzip_body(z, zlen, len, &out, &out_len, &err_off);
    assert_int_equal(rc, GUNZIP_OK);
    assert_int_equal(out_len, len);
    for (size_t i = 0; i < len; i += 4093)
        assert_int_equal(out[i], 0);
    free(out);
    free(z);
}

/* Empty input is not a gzip stream. */
static void test_empty_input(void **state)
{
    (void)state;
    expect_gunzip("", 0, 1 << 20, GUNZIP_ERR_DATA, NULL, 0);
    expect_gunzip("", 0, 0, GUNZIP_ERR_DATA, NULL, 0);
}

/* max_out = SIZE_MAX ("no limit") must decode like any large limit. Run in a child
 * process, since a failure here may abort the process. */
static void test_no_limit(void **state)
{
    (void)state;
    unsigned char *d = make_data(5000, 1), *z;
    size_t zlen;
    gz(d, 5000, 6, &z, &zlen);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char *out = NULL;
        size_t out_len = 0, err_off = 0;
        int rc = gunzip_body(z, zlen, SIZE_MAX, &out, &out_len, &err_off);
        if (rc != GUNZIP_OK) _exit(20 - rc); /* 20..23 */
        _exit(out_len == 5000 && !memcmp(out, d, 5000) ? 0 : 30);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    free(z);
    free(d);
    if (WIFSIGNALED(st))
        fail_msg("gunzip_body(max_out = SIZE_MAX) killed by signal %d", WTERMSIG(st));
    int code = WEXITSTATUS(st);
    if (code >= 20 && code <= 23)
        fail_msg("gunzip_body(max_out = SIZE_MAX) returned %d, want GUNZIP_OK", 20 - code);
    if (code == 30) fail_msg("gunzip_body(max_out = SIZE_MAX): wrong output");
    if (code != 0)
        fail_msg("gunzip_body(max_out = SIZE_MAX): child exited with status %d "
                 "(sanitizer report above?)", code);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),   cmocka_unit_test(test_limit_boundary),
        cmocka_unit_test(test_concatenated), cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_garbage),     cmocka_unit_test(test_bomb),
        cmocka_unit_test(test_empty_input), cmocka_unit_test(test_no_limit),
    };
    return cmocka_run_group_tests_name("gunzip", tests, NULL, NULL);
}
