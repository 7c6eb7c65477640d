/*
 * test_history.c - cmocka tests for src/admin/history.c (pure ring): the
 * capacity bounds of history_new, which samples are held after each push
 * (oldest first, the oldest dropped when full, wrapping many times), and the
 * exact JSON of GET /api/v1/history (empty, partial, full and wrapped).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "admin/history.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Sample number k: every field derived from k so a misplaced one shows. */
static history_sample_t sample(uint64_t k)
{
    history_sample_t s = {.t_ms = 1000 * k,
                          .records_accepted = 10 * k,
                          .records_delivered = 10 * k - 1,
                          .packets_rejected = k / 2,
                          .records_deadlettered = k / 3,
                          .queue_bytes = 7 * k};
    return s;
}

static void test_new_bounds(void **state)
{
    (void)state;
    static const struct {
        size_t cap;
        bool ok;
    } cases[] = {
        {0, true},        {1, true}, {2, true}, {HISTORY_CAP, true}, {HISTORY_CAP + 1, false},
        {SIZE_MAX, false}};
    for (size_t i = 0; i < N(cases); i++) {
        history_t *h = history_new(cases[i].cap);
        if ((h != NULL) != cases[i].ok) fail_msg("case %zu: cap %zu", i, cases[i].cap);
        if (h) {
            assert_int_equal(history_count(h), 0);
            assert_null(history_at(h, 0));
        }
        history_free(h);
    }
    history_free(NULL);
}

/* After `pushes` samples 1..pushes into a ring of `cap`: count and the first
 * held sample number (the rest follow in order). */
static void test_push_window(void **state)
{
    (void)state;
    static const struct {
        size_t cap, pushes, count;
        uint64_t first;
    } cases[] = {
        {1, 0, 0, 0},
        {1, 1, 1, 1},
        {1, 5, 1, 5},
        {3, 2, 2, 1},
        {3, 3, 3, 1},
        {3, 4, 3, 2},
        {3, 7, 3, 5},
        {3, 9, 3, 7},
        {300, 299, 299, 1},
        {300, 300, 300, 1},
        {300, 301, 300, 2},
        {300, 1000, 300, 701},
        {0, 1000, HISTORY_CAP, 1000 - HISTORY_CAP + 1},
    };
    for (size_t c = 0; c < N(cases); c++) {
        history_t *h = history_new(cases[c].cap);
        assert_non_null(h);
        for (uint64_t k = 1; k <= cases[c].pushes; k++) {
            history_sample_t s = sample(k);
            history_push(h, &s);
        }
        if (history_count(h) != cases[c].count)
            fail_msg("case %zu: count %zu, want %zu", c, history_count(h), cases[c].count);
        for (size_t i = 0; i < cases[c].count; i++) {
            history_sample_t want = sample(cases[c].first + i);
            const history_sample_t *got = history_at(h, i);
            if (!got || memcmp(got, &want, sizeof want))
                fail_msg("case %zu: sample %zu is not number %llu", c, i,
                         (unsigned long long)(cases[c].first + i));
        }
        assert_null(history_at(h, cases[c].count));
        assert_null(history_at(h, SIZE_MAX));
        history_free(h);
    }
}

static void test_json(void **state)
{
    (void)state;
    static const struct {
        size_t cap, pushes;
        unsigned interval_ms;
        uint64_t since_ms;
        const char *want;
    } cases[] = {
        {3, 0, 1000, 0, "{\"interval_ms\":1000,\"samples\":[]}"},
        {3, 1, 1000, 0,
         "{\"interval_ms\":1000,\"samples\":[{\"t_ms\":1000,\"records_accepted\":10,"
         "\"records_delivered\":9,\"packets_rejected\":0,\"records_deadlettered\":0,"
         "\"queue_bytes\":7}]}"},
        {3, 1, 1000, 1000, "{\"interval_ms\":1000,\"samples\":[]}"}, /* nothing after it */
        {2, 5, 250, 4000, /* since_ms: only the samples after it */
         "{\"interval_ms\":250,\"samples\":["
         "{\"t_ms\":5000,\"records_accepted\":50,\"records_delivered\":49,"
         "\"packets_rejected\":2,\"records_deadlettered\":1,\"queue_bytes\":35}]}"},
        {2, 5, 250, 3999,
         "{\"interval_ms\":250,\"samples\":["
         "{\"t_ms\":4000,\"records_accepted\":40,\"records_delivered\":39,"
         "\"packets_rejected\":2,\"records_deadlettered\":1,\"queue_bytes\":28},"
         "{\"t_ms\":5000,\"records_accepted\":50,\"records_delivered\":49,"
         "\"packets_rejected\":2,\"records_deadlettered\":1,\"queue_bytes\":35}]}"},
    };
    for (size_t c = 0; c < N(cases); c++) {
        history_t *h = history_new(cases[c].cap);
        assert_non_null(h);
        for (uint64_t k = 1; k <= cases[c].pushes; k++) {
            history_sample_t s = sample(k);
            history_push(h, &s);
        }
        json_t *j = history_to_json(h, cases[c].interval_ms, cases[c].since_ms);
        assert_non_null(j);
        char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        assert_non_null(text);
        if (strcmp(text, cases[c].want)) fail_msg("case %zu: %s", c, text);
        free(text);
        json_decref(j);
        history_free(h);
    }
}

/* Counters near the top of the JSON integer range keep their value. */
static void test_json_large(void **state)
{
    (void)state;
    history_t *h = history_new(1);
    assert_non_null(h);
    history_sample_t s = {
        .t_ms = 1733500000123ULL, .records_accepted = INT64_MAX, .queue_bytes = 1ULL << 40};
    history_push(h, &s);
    json_t *j = history_to_json(h, 1000, 0);
    json_t *o = json_array_get(json_object_get(j, "samples"), 0);
    assert_int_equal(json_integer_value(json_object_get(o, "t_ms")), 1733500000123LL);
    assert_int_equal(json_integer_value(json_object_get(o, "records_accepted")), INT64_MAX);
    assert_int_equal(json_integer_value(json_object_get(o, "queue_bytes")), 1LL << 40);
    json_decref(j);
    history_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_bounds),
        cmocka_unit_test(test_push_window),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
