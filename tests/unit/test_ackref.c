/*
 * test_ackref.c - cmocka tests for src/deliver/ackref.c (durable records fanned
 * out to several batches: the WAL entry is acknowledged after the last copy).
 *
 *   - table: sequences of add / filter steps with the exact seqs each filter
 *     keeps (records not in the table pass, the last copy passes, earlier
 *     copies are dropped, seq 0 and copies < 2 are ignored, a seq added twice
 *     adds up, order kept);
 *   - growth: 100k records in the table at once, every one settled;
 *   - property: random adds and filters against a plain array model (the
 *     backward-shift deletion of linear probing is where a bug would hide:
 *     small seq ranges force long clusters and wrap-around).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "deliver/ackref.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* One step: add (seq, copies), or filter seqs[] and expect kept[] (0-terminated). */
struct step {
    char op; /* 'a' add, 'f' filter */
    uint64_t seq;
    uint32_t copies;
    uint64_t in[6], want[6]; /* 0-terminated */
    size_t count;            /* ackref_count after the step */
};

struct acase {
    const char *name;
    struct step s[8];
};

static const struct acase cases[] = {
    {"empty table passes everything", {{'f', 0, 0, {1, 2, 3}, {1, 2, 3}, 0}}},
    {"two copies: first dropped, second passes",
     {{'a', 7, 2, {0}, {0}, 1},
      {'f', 0, 0, {5, 7, 9}, {5, 9}, 1},
      {'f', 0, 0, {7}, {7}, 0},
      {'f', 0, 0, {7}, {7}, 0}}},
    {"three copies",
     {{'a', 3, 3, {0}, {0}, 1},
      {'f', 0, 0, {3}, {0}, 1},
      {'f', 0, 0, {1, 3}, {1}, 1},
      {'f', 0, 0, {3, 4}, {3, 4}, 0}}},
    {"seq 0 and copies < 2 ignored",
     {{'a', 0, 5, {0}, {0}, 0},
      {'a', 4, 1, {0}, {0}, 0},
      {'a', 4, 0, {0}, {0}, 0},
      {'f', 0, 0, {4}, {4}, 0}}},
    {"added twice adds up",
     {{'a', 9, 2, {0}, {0}, 1},
      {'a', 9, 2, {0}, {0}, 1},
      {'f', 0, 0, {9}, {0}, 1},
      {'f', 0, 0, {9}, {0}, 1},
      {'f', 0, 0, {9}, {0}, 1},
      {'f', 0, 0, {9}, {9}, 0}}},
    {"several records, order kept",
     {{'a', 10, 2, {0}, {0}, 1},
      {'a', 11, 2, {0}, {0}, 2},
      {'a', 12, 3, {0}, {0}, 3},
      {'f', 0, 0, {10, 11, 12, 13}, {13}, 3},
      {'f', 0, 0, {12, 11, 10}, {11, 10}, 1},
      {'f', 0, 0, {14, 12, 15}, {14, 12, 15}, 0}}},
};

static size_t len0(const uint64_t *a, size_t max)
{
    size_t n = 0;
    while (n < max && a[n])
        n++;
    return n;
}

static void test_table(void **state)
{
    (void)state;
    for (size_t c = 0; c < N(cases); c++) {
        ackref_t *t = ackref_new();
        assert_non_null(t);
        for (size_t k = 0; k < N(cases[c].s) && cases[c].s[k].op; k++) {
            const struct step *s = &cases[c].s[k];
            if (s->op == 'a') {
                assert_int_equal(ackref_add(t, s->seq, s->copies), 0);
            } else {
                uint64_t buf[6];
                size_t n = len0(s->in, 6), w = len0(s->want, 6);
                memcpy(buf, s->in, sizeof buf);
                size_t got = ackref_filter(t, buf, n);
                if (got != w)
                    fail_msg("%s, step %zu: kept %zu, want %zu", cases[c].name, k, got, w);
                for (size_t i = 0; i < w; i++)
                    if (buf[i] != s->want[i])
                        fail_msg("%s, step %zu: [%zu] = %llu, want %llu", cases[c].name, k, i,
                                 (unsigned long long)buf[i], (unsigned long long)s->want[i]);
            }
            if (ackref_count(t) != s->count)
                fail_msg("%s, step %zu: count %zu, want %zu", cases[c].name, k, ackref_count(t),
                         s->count);
        }
        ackref_free(t);
    }
    ackref_free(NULL);
}

/* 100k records at once (grows from 256 many times), settled in another order. */
static void test_growth(void **state)
{
    (void)state;
    enum { M = 100000 };
    ackref_t *t = ackref_new();
    for (uint64_t s = 1; s <= M; s++)
        assert_int_equal(ackref_add(t, s * 3, 2), 0);
    assert_int_equal(ackref_count(t), M);
    uint64_t *buf = malloc(M * sizeof *buf);
    for (size_t i = 0; i < M; i++)
        buf[i] = (uint64_t)(M - i) * 3;
    assert_int_equal(ackref_filter(t, buf, M), 0); /* first copies: nothing acknowledged */
    assert_int_equal(ackref_count(t), M);
    for (size_t i = 0; i < M; i++)
        buf[i] = (uint64_t)(i + 1) * 3;
    assert_int_equal(ackref_filter(t, buf, M), M); /* last copies: everything, in order */
    for (size_t i = 0; i < M; i++)
        assert_true(buf[i] == (uint64_t)(i + 1) * 3);
    assert_int_equal(ackref_count(t), 0);
    free(buf);
    ackref_free(t);
}

/* ---- property test against a model ------------------------------------------------------- */

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* model: left[seq] for seq in [1, range] */
static void run_property(uint64_t range, size_t steps)
{
    uint32_t *left = calloc(range + 1, sizeof *left);
    ackref_t *t = ackref_new();
    size_t in_model = 0;
    uint64_t buf[16], want[16];
    for (size_t step = 0; step < steps; step++) {
        if (next_rand() % 3 == 0) {
            uint64_t s = 1 + next_rand() % range;
            uint32_t c = (uint32_t)(next_rand() % 5); /* 0..4: 0 and 1 are ignored */
            assert_int_equal(ackref_add(t, s, c), 0);
            if (c >= 2) {
                in_model += left[s] == 0;
                left[s] += c;
            }
        } else {
            size_t n = next_rand() % 16, w = 0;
            for (size_t i = 0; i < n; i++) {
                /* distinct within one batch, as in a real batch */
                uint64_t s;
                bool dup;
                do {
                    s = 1 + next_rand() % range;
                    dup = false;
                    for (size_t j = 0; j < i; j++)
                        dup |= buf[j] == s;
                } while (dup && n <= range);
                buf[i] = s;
                if (left[s] > 0) {
                    if (--left[s] > 0) continue;
                    in_model--;
                }
                want[w++] = s;
            }
            size_t got = ackref_filter(t, buf, n);
            if (got != w)
                fail_msg("range %llu step %zu: kept %zu, want %zu", (unsigned long long)range, step,
                         got, w);
            assert_memory_equal(buf, want, w * sizeof *buf);
        }
        if (ackref_count(t) != in_model)
            fail_msg("range %llu step %zu: count %zu, model %zu", (unsigned long long)range, step,
                     ackref_count(t), in_model);
    }
    ackref_free(t);
    free(left);
}

static void test_property(void **state)
{
    (void)state;
    run_property(20, 20000);    /* a few long clusters */
    run_property(300, 100000);  /* around the first growth */
    run_property(5000, 200000); /* many growths, wrap-around */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
