/*
 * test_deadletter.c - cmocka tests for src/store/deadletter.c (in-memory mode, plus a
 * short on-disk round trip): adding batches, the JSON summary (fields of
 * GET /api/v1/deadletter) and its sample (the most recent entries, oldest first),
 * the max_bytes bound (a batch that does not fit is dropped, -1, and counted in
 * g_metrics.records_deadletter_evicted), read_all (bodies byte for byte, oldest
 * first), purge, and reopening the on-disk log (torn tail cut).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/util.h"
#include "core/metrics.h"
#include "store/deadletter.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void reset_metrics(void)
{
    atomic_store(&g_metrics.records_deadlettered, 0);
    atomic_store(&g_metrics.records_deadletter_evicted, 0);
}

/* A sealed batch of `records` records of 20 bytes each, tried `attempts` times. */
static batch_t *make_batch(uint32_t records, uint32_t attempts, const char *analyzer)
{
    batch_t *b = batch_new(0);
    assert_non_null(b);
    for (uint32_t i = 0; i < records; i++)
        assert_int_equal(batch_append(b, "{\"rec\":\"0123456789\"}", 20), 0);
    assert_int_equal(batch_seal(b), 0);
    b->attempts = attempts;
    strlcpy_ld(b->last_analyzer, analyzer, sizeof b->last_analyzer);
    return b;
}

static json_int_t jint(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) fail_msg("\"%s\" missing or not an integer", key);
    return json_integer_value(v);
}

/* Check the summary counters of d's JSON; return it (caller decrefs). */
static json_t *summary(const deadletter_t *d, size_t sample, json_int_t records,
                       json_int_t batches, json_int_t bytes, json_int_t evicted)
{
    json_t *o = deadletter_to_json(d, sample);
    assert_non_null(o);
    assert_int_equal(jint(o, "records"), records);
    assert_int_equal(jint(o, "batches"), batches);
    assert_int_equal(jint(o, "bytes"), bytes);
    assert_int_equal(jint(o, "evicted_records"), evicted);
    assert_true(json_is_integer(json_object_get(o, "max_bytes")));
    assert_true(batches ? json_is_integer(json_object_get(o, "oldest_ms"))
                        : json_is_null(json_object_get(o, "oldest_ms")));
    assert_true(json_is_array(json_object_get(o, "sample")));
    return o;
}

static void test_empty(void **state)
{
    (void)state;
    reset_metrics();
    deadletter_t *d = deadletter_new(1 << 20);
    assert_non_null(d);
    json_t *o = summary(d, 20, 0, 0, 0, 0);
    assert_int_equal(jint(o, "max_bytes"), 1 << 20);
    assert_int_equal(json_array_size(json_object_get(o, "sample")), 0);
    static const char *const keys[] = {"records", "batches",         "bytes", "max_bytes",
                                       "oldest_ms", "evicted_records", "sample"};
    for (size_t i = 0; i < N(keys); i++)
        assert_non_null(json_object_get(o, keys[i]));
    json_decref(o);
    assert_int_equal(deadletter_purge(d), 0);
    deadletter_free(d);
    deadletter_free(NULL);
}

/* Five batches: totals, oldest_ms, and samples of several sizes (most recent, oldest
 * first, with every documented field). */
static void test_add_and_sample(void **state)
{
    (void)state;
    reset_metrics();
    deadletter_t *d = deadletter_new(1 << 20);
    assert_non_null(d);
    static const uint32_t recs[5] = {1, 2, 3, 4, 5};
    char ids[5][BATCH_ID_LEN + 1], reason[5][32], an[5][16];
    json_int_t bytes = 0, records = 0;
    uint64_t t0 = wall_ms();
    for (int i = 0; i < 5; i++) {
        snprintf(an[i], sizeof an[i], "a%d", i);
        snprintf(reason[i], sizeof reason[i], "HTTP 50%d", i);
        batch_t *b = make_batch(recs[i], (uint32_t)i + 1, an[i]);
        memcpy(ids[i], b->id, sizeof ids[i]);
        bytes += (json_int_t)b->len;
        records += recs[i];
        assert_int_equal(deadletter_add(d, b, reason[i]), 0);
    }
    assert_int_equal(deadletter_records(d), 15);
    uint64_t t1 = wall_ms();
    assert_int_equal(atomic_load(&g_metrics.records_deadlettered), 15);
    assert_int_equal(atomic_load(&g_metrics.records_deadletter_evicted), 0);

    static const struct {
        size_t sample, want, first; /* entries wanted, index of the first one */
    } cases[] = {{0, 0, 0}, {1, 1, 4}, {2, 2, 3}, {5, 5, 0}, {20, 5, 0}, {SIZE_MAX, 5, 0}};
    for (size_t c = 0; c < N(cases); c++) {
        json_t *o = summary(d, cases[c].sample, records, 5, bytes, 0);
        json_int_t oldest = jint(o, "oldest_ms");
        assert_true((uint64_t)oldest >= t0 && (uint64_t)oldest <= t1);
        json_t *arr = json_object_get(o, "sample");
        assert_int_equal(json_array_size(arr), cases[c].want);
        json_int_t prev_at = 0;
        for (size_t k = 0; k < json_array_size(arr); k++) {
            json_t *s = json_array_get(arr, k);
            size_t i = cases[c].first + k;
            assert_string_equal(json_string_value(json_object_get(s, "batch_id")), ids[i]);
            assert_int_equal(jint(s, "records"), recs[i]);
            assert_int_equal(jint(s, "attempts"), i + 1);
            assert_string_equal(json_string_value(json_object_get(s, "reason")), reason[i]);
            assert_string_equal(json_string_value(json_object_get(s, "last_analyzer")), an[i]);
            json_int_t at = jint(s, "at_ms");
            assert_true((uint64_t)at >= t0 && (uint64_t)at <= t1 && at >= prev_at);
            prev_at = at;
        }
        json_decref(o);
    }

    /* a long reason is truncated, not overflowed */
    char longr[400];
    memset(longr, 'r', sizeof longr - 1);
    longr[sizeof longr - 1] = 0;
    assert_int_equal(deadletter_add(d, make_batch(1, 1, ""), longr), 0);
    json_t *o = deadletter_to_json(d, 1);
    const char *r = json_string_value(
        json_object_get(json_array_get(json_object_get(o, "sample"), 0), "reason"));
    assert_non_null(r);
    assert_true(strlen(r) > 0 && strlen(r) < sizeof longr - 1);
    assert_memory_equal(r, longr, strlen(r));
    json_decref(o);
    deadletter_free(d);
}

/* The bound: a batch that would take the store over max_bytes is dropped (-1) and its
 * records counted as evicted; what is stored stays. */
static void test_bound(void **state)
{
    (void)state;
    batch_t *probe = make_batch(2, 0, "x");
    const uint64_t L = probe->len; /* body bytes of a 2-record batch */
    batch_free(probe);

    static const struct {
        uint64_t max_units;
        int64_t max_extra; /* max_bytes = max_units * L + max_extra */
        int adds;          /* 2-record batches added */
        int kept;          /* entries stored (the first ones) */
    } cases[] = {
        {3, 0, 5, 3}, /* exactly full */
        {3, 0, 3, 3},
        {3, 1, 7, 3},
        {3, -1, 5, 2}, /* one byte short of 3 */
        {1, 0, 4, 1},
        {0, 0, 3, 0}, /* every batch larger than the store */
        {100, 0, 10, 10},
    };
    for (size_t c = 0; c < N(cases); c++) {
        reset_metrics();
        uint64_t max = (uint64_t)((int64_t)(cases[c].max_units * L) + cases[c].max_extra);
        deadletter_t *d = deadletter_new(max);
        assert_non_null(d);
        char ids[16][BATCH_ID_LEN + 1];
        int kept = cases[c].kept, dropped = cases[c].adds - kept;
        for (int i = 0; i < cases[c].adds; i++) {
            batch_t *b = make_batch(2, 1, "a");
            memcpy(ids[i], b->id, sizeof ids[i]);
            assert_int_equal(deadletter_add(d, b, "failed"), i < kept ? 0 : -1);
        }
        json_t *o = summary(d, 100, 2 * kept, kept, (json_int_t)L * kept, 2 * dropped);
        assert_true(jint(o, "bytes") <= (json_int_t)max);
        assert_int_equal(jint(o, "max_bytes"), (json_int_t)max);
        json_t *arr = json_object_get(o, "sample");
        assert_int_equal(json_array_size(arr), kept);
        for (int k = 0; k < kept; k++)
            assert_string_equal(
                json_string_value(json_object_get(json_array_get(arr, k), "batch_id")), ids[k]);
        json_decref(o);
        assert_int_equal(atomic_load(&g_metrics.records_deadletter_evicted), 2 * dropped);
        assert_int_equal(atomic_load(&g_metrics.records_deadlettered), 2 * cases[c].adds);
        deadletter_free(d);
    }

    /* a big batch is refused, a small one that still fits is taken */
    reset_metrics();
    deadletter_t *d = deadletter_new(3 * L);
    assert_int_equal(deadletter_add(d, make_batch(2, 1, "a"), "x"), 0);
    assert_int_equal(deadletter_add(d, make_batch(50, 1, "a"), "too big"), -1);
    assert_int_equal(deadletter_add(d, make_batch(10, 1, "a"), "too big now"), -1);
    json_t *o = summary(d, 10, 2, 1, (json_int_t)L, 60);
    json_decref(o);
    assert_int_equal(deadletter_add(d, make_batch(2, 1, "a"), "x"), 0);
    assert_int_equal(deadletter_add(d, make_batch(2, 1, "a"), "x"), 0); /* exactly full */
    assert_int_equal(deadletter_add(d, make_batch(0, 1, "a"), "x"), -1);
    o = summary(d, 10, 6, 3, 3 * (json_int_t)L, 60);
    json_decref(o);
    deadletter_free(d);
}

/* read_all: every stored body byte for byte, oldest first. */
static void test_read_all(void **state)
{
    (void)state;
    reset_metrics();
    deadletter_t *d = deadletter_new(1 << 20);
    char *want[4];
    size_t want_len[4];
    for (int i = 0; i < 4; i++) {
        batch_t *b = make_batch((uint32_t)i, 1, "a");
        want[i] = malloc(b->len);
        assert_non_null(want[i]);
        memcpy(want[i], b->buf, b->len);
        want_len[i] = b->len;
        assert_int_equal(deadletter_add(d, b, "x"), 0);
    }
    char **bodies = NULL;
    size_t *lens = NULL;
    assert_int_equal(deadletter_read_all(d, &bodies, &lens), 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(lens[i], want_len[i]);
        assert_memory_equal(bodies[i], want[i], want_len[i]);
        free(bodies[i]);
        free(want[i]);
    }
    free(bodies);
    free(lens);
    deadletter_free(d);
}

/* On disk: what was added survives a reopen (metadata and bodies); garbage appended to
 * the log (a torn write) is cut; purge empties the file. */
static void test_disk_reopen(void **state)
{
    (void)state;
    reset_metrics();
    char dir[] = "/tmp/logdist_ut_dl_XXXXXX", path[64], err[256] = "";
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/deadletter.log", dir);

    deadletter_t *d = deadletter_open(dir, 1 << 20, err, sizeof err);
    if (!d) fail_msg("deadletter_open: %s", err);
    char ids[3][BATCH_ID_LEN + 1], *want[3];
    size_t want_len[3];
    for (int i = 0; i < 3; i++) {
        batch_t *b = make_batch((uint32_t)i + 1, (uint32_t)i + 2, "an1");
        memcpy(ids[i], b->id, sizeof ids[i]);
        want[i] = malloc(b->len);
        assert_non_null(want[i]);
        memcpy(want[i], b->buf, b->len);
        want_len[i] = b->len;
        assert_int_equal(deadletter_add(d, b, "HTTP 503"), 0);
    }
    json_t *before = deadletter_to_json(d, 10);
    deadletter_free(d);

    FILE *f = fopen(path, "ab"); /* a torn tail */
    assert_non_null(f);
    fwrite("\x40\x00\x00\x00" "garbage", 1, 11, f);
    fclose(f);

    d = deadletter_open(dir, 1 << 20, err, sizeof err);
    if (!d) fail_msg("deadletter_open (reopen): %s", err);
    json_t *after = summary(d, 10, 6, 3, jint(before, "bytes"), 0);
    json_t *sb = json_object_get(before, "sample"), *sa = json_object_get(after, "sample");
    assert_int_equal(json_array_size(sa), 3);
    for (size_t k = 0; k < 3; k++) {
        json_t *x = json_array_get(sb, k), *y = json_array_get(sa, k);
        assert_string_equal(json_string_value(json_object_get(y, "batch_id")), ids[k]);
        static const char *const keys[] = {"batch_id", "records", "attempts", "reason",
                                           "last_analyzer", "at_ms"};
        for (size_t j = 0; j < N(keys); j++)
            assert_true(json_equal(json_object_get(x, keys[j]), json_object_get(y, keys[j])));
    }
    json_decref(before);
    json_decref(after);

    char **bodies = NULL;
    size_t *lens = NULL;
    assert_int_equal(deadletter_read_all(d, &bodies, &lens), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(lens[i], want_len[i]);
        assert_memory_equal(bodies[i], want[i], want_len[i]);
        free(bodies[i]);
        free(want[i]);
    }
    free(bodies);
    free(lens);

    assert_int_equal(deadletter_purge(d), 6);
    deadletter_free(d);
    d = deadletter_open(dir, 1 << 20, err, sizeof err);
    assert_non_null(d);
    assert_int_equal(deadletter_records(d), 0);
    deadletter_free(d);
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
}

/* Purge drops everything, returns the record count, leaves the eviction counter alone;
 * the store takes batches again afterwards. */
static void test_purge(void **state)
{
    (void)state;
    reset_metrics();
    batch_t *probe = make_batch(3, 0, "x");
    const uint64_t L = probe->len;
    batch_free(probe);
    deadletter_t *d = deadletter_new(2 * L);
    for (int i = 0; i < 3; i++)
        assert_int_equal(deadletter_add(d, make_batch(3, 2, "a1"), "timeout"), i < 2 ? 0 : -1);
    json_t *o = summary(d, 20, 6, 2, 2 * (json_int_t)L, 3);
    json_decref(o);
    assert_int_equal(deadletter_purge(d), 6);
    o = summary(d, 20, 0, 0, 0, 3);
    assert_int_equal(json_array_size(json_object_get(o, "sample")), 0);
    json_decref(o);
    assert_int_equal(deadletter_purge(d), 0);
    /* usable after purge */
    assert_int_equal(deadletter_add(d, make_batch(3, 1, "a2"), "again"), 0);
    o = summary(d, 20, 3, 1, (json_int_t)L, 3);
    json_decref(o);
    deadletter_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_add_and_sample),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_read_all),
        cmocka_unit_test(test_disk_reopen),
        cmocka_unit_test(test_purge),
    };
    return cmocka_run_group_tests_name("deadletter", tests, NULL, NULL);
}
