/*
 * test_deadletter.c - cmocka tests for src/store/deadletter.c in memory mode:
 * adding items (bytes and ids), the JSON summary (fields of GET /api/v1/deadletter)
 * and its sample, the max_bytes bound with its eviction policy (non-durable entries
 * evicted oldest first and counted in records_deadletter_evicted; durable entries
 * never evicted: a durable store that is full refuses with -ENOSPC and changes
 * nothing), read_all (bodies byte for byte with their batch ids, oldest first),
 * remove by batch id, and a purge by batch id racing a replay.
 */
#include <errno.h>
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

#include "common/log.h"
#include "common/util.h"
#include "core/metrics.h"
#include "store/deadletter.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void reset_metrics(void)
{
    atomic_store(&g_metrics.records_deadlettered, 0);
    atomic_store(&g_metrics.records_deadletter_evicted, 0);
}

/* A batch-like body of `records` records of 20 bytes each, with a 10-byte id "bNNNNNNNNN". */
typedef struct {
    char id[16];
    char body[4096];
    deadletter_item_t it;
} item_t;

static item_t *make_item(int n, uint32_t records, uint32_t attempts, const char *analyzer,
                         bool durable)
{
    item_t *x = calloc(1, sizeof *x);
    assert_non_null(x);
    snprintf(x->id, sizeof x->id, "b%09d", n);
    size_t len = (size_t)snprintf(x->body, sizeof x->body,
                                  "{\"packet_id\":\"%s\",\"agent_id\":\"logdistd\",\"messages\":[",
                                  x->id);
    for (uint32_t i = 0; i < records; i++)
        len += (size_t)snprintf(x->body + len, sizeof x->body - len, "%s{\"rec\":\"0123456789\"}",
                                i ? "," : "");
    len += (size_t)snprintf(x->body + len, sizeof x->body - len, "]}");
    assert_true(len < sizeof x->body);
    x->it = (deadletter_item_t){x->id, x->body, len, records, attempts, "failed", analyzer,
                                durable};
    return x;
}

static int add(deadletter_t *d, int n, uint32_t records, bool durable)
{
    item_t *x = make_item(n, records, 1, "a", durable);
    int rc = deadletter_add(d, &x->it);
    free(x);
    return rc;
}

static size_t body_len(uint32_t records)
{
    item_t *x = make_item(0, records, 0, "", false);
    size_t len = x->it.len;
    free(x);
    return len;
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
    assert_true(json_is_integer(json_object_get(o, "durable_records")));
    assert_true(batches ? json_is_integer(json_object_get(o, "oldest_ms"))
                        : json_is_null(json_object_get(o, "oldest_ms")));
    assert_true(json_is_array(json_object_get(o, "sample")));
    return o;
}

/* The ids stored, oldest first, joined by ',' (ids are "bNNNNNNNNN": compare the numbers). */
static void stored_ids(deadletter_t *d, char *out, size_t outlen)
{
    json_t *o = deadletter_to_json(d, SIZE_MAX);
    json_t *arr = json_object_get(o, "sample");
    out[0] = 0;
    for (size_t k = 0; k < json_array_size(arr); k++) {
        const char *id = json_string_value(json_object_get(json_array_get(arr, k), "batch_id"));
        size_t l = strlen(out);
        snprintf(out + l, outlen - l, "%s%d", k ? "," : "", atoi(id + 1));
    }
    json_decref(o);
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
    json_decref(o);
    uint64_t purged = 99;
    assert_int_equal(deadletter_purge(d, NULL, 0, &purged), 0);
    assert_int_equal(purged, 0);
    assert_int_equal(deadletter_remove(d, "b000000001"), -ENOENT);
    deadletter_body_t *b = NULL;
    assert_int_equal(deadletter_read_all(d, &b), 0);
    assert_null(b);
    deadletter_free(d);
    deadletter_free(NULL);
}

/* Five items: totals, oldest_ms, and samples of several sizes (most recent, oldest first,
 * with every documented field). */
static void test_add_and_sample(void **state)
{
    (void)state;
    reset_metrics();
    deadletter_t *d = deadletter_new(1 << 20);
    static const uint32_t recs[5] = {1, 2, 3, 4, 5};
    char reason[5][32], an[5][16];
    json_int_t bytes = 0, records = 0;
    uint64_t t0 = wall_ms();
    for (int i = 0; i < 5; i++) {
        snprintf(an[i], sizeof an[i], "a%d", i);
        snprintf(reason[i], sizeof reason[i], "HTTP 50%d", i);
        item_t *x = make_item(i, recs[i], (uint32_t)i + 1, an[i], i % 2 == 0);
        x->it.reason = reason[i];
        bytes += (json_int_t)x->it.len;
        records += recs[i];
        assert_int_equal(deadletter_add(d, &x->it), 0);
        free(x);
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
        assert_int_equal(jint(o, "durable_records"), 1 + 3 + 5);
        json_int_t oldest = jint(o, "oldest_ms");
        assert_true((uint64_t)oldest >= t0 && (uint64_t)oldest <= t1);
        json_t *arr = json_object_get(o, "sample");
        assert_int_equal(json_array_size(arr), cases[c].want);
        for (size_t k = 0; k < json_array_size(arr); k++) {
            json_t *s = json_array_get(arr, k);
            size_t i = cases[c].first + k;
            char id[16];
            snprintf(id, sizeof id, "b%09zu", i);
            assert_string_equal(json_string_value(json_object_get(s, "batch_id")), id);
            assert_int_equal(jint(s, "records"), recs[i]);
            assert_int_equal(jint(s, "attempts"), i + 1);
            assert_string_equal(json_string_value(json_object_get(s, "reason")), reason[i]);
            assert_string_equal(json_string_value(json_object_get(s, "last_analyzer")), an[i]);
            assert_true(json_equal(json_object_get(s, "durable"), json_boolean(i % 2 == 0)));
            json_int_t at = jint(s, "at_ms");
            assert_true((uint64_t)at >= t0 && (uint64_t)at <= t1);
        }
        json_decref(o);
    }

    /* a long reason is cut, never inside a UTF-8 sequence; a NULL analyzer is "" */
    char longr[400];
    memset(longr, 'r', sizeof longr - 1);
    memcpy(longr + 158, "\xc3\xa9", 2); /* é straddles the 159-byte cut */
    longr[sizeof longr - 1] = 0;
    item_t *x = make_item(9, 1, 1, NULL, false);
    x->it.reason = longr;
    assert_int_equal(deadletter_add(d, &x->it), 0);
    free(x);
    json_t *o = deadletter_to_json(d, 1);
    json_t *s = json_array_get(json_object_get(o, "sample"), 0);
    const char *r = json_string_value(json_object_get(s, "reason"));
    assert_non_null(r);
    assert_int_equal(strlen(r), 158);
    assert_memory_equal(r, longr, strlen(r));
    assert_string_equal(json_string_value(json_object_get(s, "last_analyzer")), "");
    json_decref(o);
    deadletter_free(d);
}

/* Bad items are refused with -EINVAL and change nothing. */
static void test_bad_items(void **state)
{
    (void)state;
    reset_metrics();
    deadletter_t *d = deadletter_new(1 << 20);
    char longid[DEADLETTER_ID_MAX + 2];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = 0;
    const char *ids[] = {NULL, "", longid};
    for (size_t i = 0; i < N(ids); i++) {
        deadletter_item_t it = {ids[i], "{}", 2, 1, 1, "r", "a", true};
        assert_int_equal(deadletter_add(d, &it), -EINVAL);
    }
    deadletter_item_t nobody = {"b1", NULL, 5, 1, 1, "r", "a", true};
    assert_int_equal(deadletter_add(d, &nobody), -EINVAL);
    json_decref(summary(d, 10, 0, 0, 0, 0));
    assert_int_equal(atomic_load(&g_metrics.records_deadlettered), 0);
    deadletter_free(d);
}

/* The bound and the eviction policy. Every item holds 2 records of body length L;
 * max_bytes = units * L + extra. 'd' adds a durable item, 'n' a non-durable one. */
static void test_bound_and_eviction(void **state)
{
    (void)state;
    const uint64_t L = body_len(2);
    static const struct {
        uint64_t units;
        int64_t extra;
        const char *adds;   /* one letter per add, ids 0, 1, 2... */
        const char *rcs;    /* per add: '0' ok, 'F' -ENOSPC */
        const char *kept;   /* ids stored at the end, oldest first */
        int evicted;        /* records evicted */
    } cases[] = {
        {3, 0, "nnn", "000", "0,1,2", 0},          /* exactly full */
        {3, 0, "nnnnn", "00000", "2,3,4", 4},      /* oldest non-durable go first */
        {3, -1, "nnn", "000", "1,2", 2},           /* one byte short of 3 */
        {0, 0, "ndn", "FFF", "", 0},               /* larger than the store: refused */
        {3, 0, "dddd", "000F", "0,1,2", 0},        /* durable never evicted */
        {3, 0, "dddn", "000F", "0,1,2", 0},        /* nor for a non-durable one */
        {3, 0, "dndd", "0000", "0,2,3", 2},        /* a durable add evicts the non-durable */
        {3, 0, "ndddd", "0000F", "1,2,3", 2},      /* then refuses: only durable left */
        {3, 0, "ndndd", "00000", "1,3,4", 4},      /* evicts whichever non-durable is left */
        {3, 0, "nnddn", "00000", "2,3,4", 4},      /* skips durable entries when evicting */
        {100, 0, "dndndndndn", "0000000000", "0,1,2,3,4,5,6,7,8,9", 0},
    };
    for (size_t c = 0; c < N(cases); c++) {
        reset_metrics();
        uint64_t max = (uint64_t)((int64_t)(cases[c].units * L) + cases[c].extra);
        deadletter_t *d = deadletter_new(max);
        size_t n = strlen(cases[c].adds);
        int stored_adds = 0;
        for (size_t i = 0; i < n; i++) {
            int rc = add(d, (int)i, 2, cases[c].adds[i] == 'd');
            assert_int_equal(rc, cases[c].rcs[i] == '0' ? 0 : -ENOSPC);
            stored_adds += rc == 0;
        }
        char got[256];
        stored_ids(d, got, sizeof got);
        if (strcmp(got, cases[c].kept)) fail_msg("case %zu: kept %s, want %s", c, got, cases[c].kept);
        size_t kept = strlen(cases[c].kept) ? (strlen(cases[c].kept) + 1) / 2 : 0;
        json_t *o = summary(d, 100, 2 * (json_int_t)kept, (json_int_t)kept,
                            (json_int_t)(L * kept), cases[c].evicted);
        assert_true(jint(o, "bytes") <= (json_int_t)max);
        json_decref(o);
        assert_int_equal(atomic_load(&g_metrics.records_deadletter_evicted), cases[c].evicted);
        assert_int_equal(atomic_load(&g_metrics.records_deadlettered), 2 * stored_adds);
        deadletter_free(d);
    }
}

/* read_all: every stored body byte for byte with its id and record count, oldest first. */
static void test_read_all(void **state)
{
    (void)state;
    reset_metrics();
    deadletter_t *d = deadletter_new(1 << 20);
    item_t *want[4];
    for (int i = 0; i < 4; i++) {
        want[i] = make_item(i, (uint32_t)i, 1, "a", i & 1);
        assert_int_equal(deadletter_add(d, &want[i]->it), 0);
    }
    deadletter_body_t *b = NULL;
    assert_int_equal(deadletter_read_all(d, &b), 4);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(b[i].batch_id, want[i]->id);
        assert_int_equal(b[i].len, want[i]->it.len);
        assert_int_equal(b[i].records, (uint32_t)i);
        assert_memory_equal(b[i].body, want[i]->body, b[i].len);
        assert_int_equal(b[i].body[b[i].len], 0);
        free(want[i]);
    }
    deadletter_bodies_free(b, 4);
    deadletter_free(d);
}

/* Remove by batch id: any position, unknown ids, duplicates (oldest first). */
static void test_remove_by_id(void **state)
{
    (void)state;
    reset_metrics();
    deadletter_t *d = deadletter_new(1 << 20);
    for (int i = 0; i < 5; i++) assert_int_equal(add(d, i, 1, true), 0);
    assert_int_equal(add(d, 2, 3, true), 0); /* a second entry with id 2 */
    static const struct {
        const char *id;
        int rc;
        const char *left;
    } steps[] = {
        {"b000000002", 0, "0,1,3,4,2"},  /* the oldest "2" */
        {"b000000004", 0, "0,1,3,2"},
        {"b000000009", -ENOENT, "0,1,3,2"},
        {"b000000002", 0, "0,1,3"},      /* the second "2", the tail */
        {"b000000002", -ENOENT, "0,1,3"},
        {"b000000000", 0, "1,3"},        /* the head */
        {"b000000003", 0, "1"},
        {"b000000001", 0, ""},
    };
    for (size_t i = 0; i < N(steps); i++) {
        assert_int_equal(deadletter_remove(d, steps[i].id), steps[i].rc);
        char got[128];
        stored_ids(d, got, sizeof got);
        assert_string_equal(got, steps[i].left);
    }
    json_decref(summary(d, 10, 0, 0, 0, 0));
    assert_int_equal(add(d, 7, 1, true), 0); /* usable afterwards: head and tail were reset */
    char got[32];
    stored_ids(d, got, sizeof got);
    assert_string_equal(got, "7");
    deadletter_free(d);
}

/* A replay takes a snapshot of A, B, C; D is dead-lettered after it started; an operator
 * purges A and B by id. The purge removes only what it named; the replay's removals of
 * A (already purged) are no-ops, of C removes C; D is never touched by either. */
static void test_purge_by_id_vs_replay(void **state)
{
    (void)state;
    reset_metrics();
    deadletter_t *d = deadletter_new(1 << 20);
    for (int i = 0; i < 3; i++) assert_int_equal(add(d, i, 2, true), 0);
    deadletter_body_t *snap = NULL;
    assert_int_equal(deadletter_read_all(d, &snap), 3);
    assert_int_equal(add(d, 3, 5, true), 0); /* D */

    const char *named[] = {"b000000000", "b000000001", "b000000042"};
    uint64_t purged = 0;
    assert_int_equal(deadletter_purge(d, named, N(named), &purged), 0);
    assert_int_equal(purged, 4);
    char got[64];
    stored_ids(d, got, sizeof got);
    assert_string_equal(got, "2,3");

    assert_int_equal(deadletter_remove(d, snap[0].batch_id), -ENOENT);
    assert_int_equal(deadletter_remove(d, snap[2].batch_id), 0);
    stored_ids(d, got, sizeof got);
    assert_string_equal(got, "3");
    json_decref(summary(d, 10, 5, 1, (json_int_t)body_len(5), 0));
    deadletter_bodies_free(snap, 3);

    /* a purge of everything removes what is there now, counts nothing as evicted */
    assert_int_equal(add(d, 4, 1, false), 0);
    assert_int_equal(deadletter_purge(d, NULL, 0, &purged), 0);
    assert_int_equal(purged, 6);
    json_decref(summary(d, 10, 0, 0, 0, 0));
    /* naming the same id twice removes two entries with that id, not more */
    for (int i = 0; i < 3; i++) assert_int_equal(add(d, 5, 1, true), 0);
    const char *twice[] = {"b000000005", "b000000005"};
    assert_int_equal(deadletter_purge(d, twice, 2, &purged), 0);
    assert_int_equal(purged, 2);
    assert_int_equal(deadletter_records(d), 1);
    deadletter_free(d);
}

/* Many entries removed one by one in replay order and in reverse: the id index keeps
 * every removal cheap, and the accounting exact. */
static void test_many_removals(void **state)
{
    (void)state;
    reset_metrics();
    deadletter_t *d = deadletter_new(1ull << 32);
    enum { COUNT = 20000 };
    for (int i = 0; i < COUNT; i++) assert_int_equal(add(d, i, 1, i & 1), 0);
    char id[16];
    for (int i = 0; i < COUNT; i += 2) { /* every other one, from the head */
        snprintf(id, sizeof id, "b%09d", i);
        assert_int_equal(deadletter_remove(d, id), 0);
    }
    for (int i = COUNT - 1; i > 0; i -= 2) { /* the rest, from the tail */
        snprintf(id, sizeof id, "b%09d", i);
        assert_int_equal(deadletter_remove(d, id), 0);
    }
    json_decref(summary(d, 10, 0, 0, 0, 0));
    assert_int_equal(add(d, 1, 1, true), 0);
    assert_int_equal(deadletter_records(d), 1);
    deadletter_free(d);
}

int main(void)
{
    log_set_level((log_level_t)(LOG_ERROR + 1)); /* quiet: evictions are provoked on purpose */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_add_and_sample),
        cmocka_unit_test(test_bad_items),
        cmocka_unit_test(test_bound_and_eviction),
        cmocka_unit_test(test_read_all),
        cmocka_unit_test(test_remove_by_id),
        cmocka_unit_test(test_purge_by_id_vs_replay),
        cmocka_unit_test(test_many_removals),
    };
    return cmocka_run_group_tests_name("deadletter", tests, NULL, NULL);
}
