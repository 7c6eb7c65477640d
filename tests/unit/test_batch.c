/*
 * test_batch.c - cmocka tests for src/route/batch.c: the sealed body is the JSON
 * frame {"packet_id":"<id>","agent_id":"logdistd","messages":[...]} with the records
 * byte for byte and in order (checked with jansson and by bytes), empty batches,
 * ids (unique, BATCH_ID_LEN, boot prefix), batch_size_with, the FIFO list,
 * buffer growth with many and large records, the shrink at seal / batch_cost, and
 * batch_append_rec under injected allocation failures (all or nothing: a record
 * never lands without its WAL sequence number, a failed append changes nothing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "route/batch.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char prefix_tail[] = "\",\"agent_id\":\"logdistd\",\"messages\":[";

/* Check b's body: exact framing bytes around the given records, then parse it with
 * jansson and compare each message to the record it came from. */
static void check_body(const batch_t *b, const char *const *recs, size_t n)
{
    assert_true(b->sealed);
    assert_int_equal(b->records, n);
    char want_prefix[128];
    int plen = snprintf(want_prefix, sizeof want_prefix, "{\"packet_id\":\"%s%s", b->id,
                        prefix_tail);
    assert_true(b->len >= (size_t)plen + 2);
    assert_memory_equal(b->buf, want_prefix, (size_t)plen);
    /* the records, byte for byte, comma separated */
    size_t off = (size_t)plen;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(recs[i]);
        if (i) {
            assert_int_equal(b->buf[off], ',');
            off++;
        }
        assert_memory_equal(b->buf + off, recs[i], l);
        off += l;
        sum += l;
    }
    assert_int_equal(b->record_bytes, sum);
    assert_int_equal(off + 2, b->len);
    assert_memory_equal(b->buf + off, "]}", 2);

    json_error_t jerr;
    json_t *root = json_loadb(b->buf, b->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) fail_msg("body is not JSON: %s at %d: %.*s", jerr.text, jerr.position,
                        (int)b->len, b->buf);
    assert_int_equal(json_object_size(root), 3);
    assert_string_equal(json_string_value(json_object_get(root, "packet_id")), b->id);
    assert_string_equal(json_string_value(json_object_get(root, "agent_id")), "logdistd");
    json_t *msgs = json_object_get(root, "messages");
    assert_true(json_is_array(msgs));
    assert_int_equal(json_array_size(msgs), n);
    for (size_t i = 0; i < n; i++) {
        json_t *want = json_loads(recs[i], 0, &jerr);
        assert_non_null(want);
        assert_true(json_equal(want, json_array_get(msgs, i)));
        json_decref(want);
    }
    json_decref(root);
}

/* Several record sets, each appended, sealed and checked. */
static void test_framing(void **state)
{
    static const char *const set0[] = {"{}"};
    static const char *const set1[] = {"{\"a\":1}", "{\"b\":\"x,y]}\"}", "{}"};
    static const char *const set2[] = {
        "{ \"spaces\" : [ 1 , 2 ] }",
        "{\"u\":\"\\u00e9\\n\",\"esc\":\"\\\"\"}",
        "{\"nested\":{\"a\":[{\"b\":null}]},\"t\":true,\"f\":false}",
        "{\"utf8\":\"\xc3\xa9\xe2\x82\xac\"}",
        "{\"n\":-1.5e10}",
    };
    static const struct {
        const char *const *recs;
        size_t n;
    } sets[] = {{set0, N(set0)}, {set1, N(set1)}, {set2, N(set2)}};
    (void)state;
    for (size_t s = 0; s < N(sets); s++) {
        for (size_t hint = 0; hint <= 4096; hint += 4096) {
            batch_t *b = batch_new(hint);
            assert_non_null(b);
            for (size_t i = 0; i < sets[s].n; i++)
                assert_int_equal(batch_append(b, sets[s].recs[i], strlen(sets[s].recs[i])), 0);
            assert_false(b->sealed);
            assert_int_equal(batch_seal(b), 0);
            check_body(b, sets[s].recs, sets[s].n);
            size_t len = b->len;
            assert_int_equal(batch_seal(b), 0); /* idempotent */
            assert_int_equal(b->len, len);
            check_body(b, sets[s].recs, sets[s].n);
            batch_free(b);
        }
    }
}

/* An empty batch seals to ...,"messages":[]} */
static void test_empty(void **state)
{
    (void)state;
    batch_t *b = batch_new(0);
    assert_non_null(b);
    assert_int_equal(b->records, 0);
    assert_int_equal(b->record_bytes, 0);
    assert_int_equal(b->attempts, 0);
    assert_null(b->next);
    assert_true(b->created_us > 0);
    assert_int_equal(batch_seal(b), 0);
    char want[128];
    int n = snprintf(want, sizeof want, "{\"packet_id\":\"%s%s]}", b->id, prefix_tail);
    assert_int_equal(b->len, (size_t)n);
    assert_memory_equal(b->buf, want, (size_t)n);
    check_body(b, NULL, 0);
    batch_free(b);
    batch_free(NULL);
}

/* Ids: BATCH_ID_LEN characters "b" + 8 hex + "-" + 11 hex, with the boot prefix, unique,
 * increasing sequence. */
static void test_ids(void **state)
{
    (void)state;
    enum { COUNT = 5000 };
    batch_id_init(0x5e0be100u);
    char (*ids)[BATCH_ID_LEN + 1] = calloc(COUNT, sizeof *ids);
    assert_non_null(ids);
    unsigned long long prev = 0;
    for (int i = 0; i < COUNT; i++) {
        batch_t *b = batch_new(16);
        assert_non_null(b);
        assert_int_equal(strlen(b->id), BATCH_ID_LEN);
        assert_int_equal(b->id[0], 'b');
        assert_memory_equal(b->id + 1, "5e0be100", 8);
        assert_int_equal(b->id[9], '-');
        for (int k = 10; k < BATCH_ID_LEN; k++)
            assert_non_null(strchr("0123456789abcdef", b->id[k]));
        unsigned long long seq = strtoull(b->id + 10, NULL, 16);
        if (i) assert_true(seq > prev);
        prev = seq;
        memcpy(ids[i], b->id, sizeof ids[i]);
        batch_free(b);
    }
    for (int i = 1; i < COUNT; i++) /* strictly increasing sequence => all distinct */
        assert_true(strcmp(ids[i - 1], ids[i]) < 0);
    free(ids);
}

/* batch_size_with(): the body length after appending a record of `len` bytes and
 * sealing, for a batch that already holds records (the case the router asks about). */
static void test_size_with(void **state)
{
    static const char *const recs[] = {"{}", "{\"a\":1}", "{\"long\":\"0123456789abcdef\"}",
                                       "{\"x\":[1,2,3]}"};
    (void)state;
    batch_t *b = batch_new(0);
    assert_non_null(b);
    /* empty batch: never below the real size */
    size_t first = strlen(recs[0]);
    assert_true(batch_size_with(b, first) >= b->len + first + 2);
    assert_int_equal(batch_append(b, recs[0], first), 0);
    for (size_t i = 1; i < N(recs); i++) {
        size_t l = strlen(recs[i]);
        size_t predicted = batch_size_with(b, l);
        assert_int_equal(batch_append(b, recs[i], l), 0);
        assert_int_equal(predicted, b->len + 2); /* + "]}" */
    }
    size_t len_before = b->len;
    assert_int_equal(batch_seal(b), 0);
    assert_int_equal(b->len, len_before + 2);
    batch_free(b);
}

/* push/pop keep FIFO order; push_front puts a batch first; counts track. */
static void test_list(void **state)
{
    (void)state;
    batch_list_t l = {0};
    assert_null(batch_list_pop(&l));
    batch_t *b[6];
    for (int i = 0; i < 6; i++) {
        b[i] = batch_new(0);
        assert_non_null(b[i]);
    }
    batch_list_push(&l, b[0]);
    batch_list_push(&l, b[1]);
    batch_list_push(&l, b[2]);
    batch_list_push_front(&l, b[3]);
    batch_list_push(&l, b[4]);
    batch_list_push_front(&l, b[5]);
    assert_int_equal(l.count, 6);
    static const int order[] = {5, 3, 0, 1, 2, 4};
    for (int i = 0; i < 6; i++) {
        batch_t *x = batch_list_pop(&l);
        assert_ptr_equal(x, b[order[i]]);
        assert_null(x->next);
        assert_int_equal(l.count, (size_t)(5 - i));
    }
    assert_null(batch_list_pop(&l));
    assert_null(l.head);
    assert_null(l.tail);

    /* push_front on an empty list sets the tail; a later push goes after it */
    batch_list_push_front(&l, b[0]);
    assert_ptr_equal(l.tail, b[0]);
    batch_list_push(&l, b[1]);
    assert_ptr_equal(batch_list_pop(&l), b[0]);
    batch_list_push(&l, b[2]); /* reuse after partial drain */
    assert_ptr_equal(batch_list_pop(&l), b[1]);
    assert_ptr_equal(batch_list_pop(&l), b[2]);
    assert_null(batch_list_pop(&l));
    assert_int_equal(l.count, 0);
    for (int i = 0; i < 6; i++)
        batch_free(b[i]);
}

/* Growth: many small records from a tiny hint, and records far larger than the hint. */
static void test_growth(void **state)
{
    (void)state;
    enum { MANY = 20000 };
    batch_t *b = batch_new(1);
    assert_non_null(b);
    char rec[64];
    uint64_t sum = 0;
    for (int i = 0; i < MANY; i++) {
        int l = snprintf(rec, sizeof rec, "{\"i\":%d}", i);
        assert_int_equal(batch_append(b, rec, (size_t)l), 0);
        sum += (uint64_t)l;
        assert_true(b->len <= b->cap);
    }
    assert_int_equal(batch_seal(b), 0);
    assert_int_equal(b->records, MANY);
    assert_int_equal(b->record_bytes, sum);
    json_error_t jerr;
    json_t *root = json_loadb(b->buf, b->len, 0, &jerr);
    assert_non_null(root);
    json_t *msgs = json_object_get(root, "messages");
    assert_int_equal(json_array_size(msgs), MANY);
    for (int i = 0; i < MANY; i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(msgs, i), "i")), i);
    json_decref(root);
    batch_free(b);

    /* large records: 1 MiB, 3 MiB, then a small one */
    static const size_t sizes[] = {1u << 20, 3u << 20, 10};
    const char *recs[N(sizes)];
    char *bufs[N(sizes)];
    for (size_t i = 0; i < N(sizes); i++) {
        bufs[i] = malloc(sizes[i] + 1);
        assert_non_null(bufs[i]);
        memcpy(bufs[i], "{\"s\":\"", 6);
        memset(bufs[i] + 6, 'a' + (int)i, sizes[i] - 8);
        memcpy(bufs[i] + sizes[i] - 2, "\"}", 3);
        recs[i] = bufs[i];
    }
    b = batch_new(100);
    assert_non_null(b);
    for (size_t i = 0; i < N(sizes); i++)
        assert_int_equal(batch_append(b, recs[i], sizes[i]), 0);
    assert_int_equal(batch_seal(b), 0);
    check_body(b, recs, N(sizes));
    batch_free(b);
    for (size_t i = 0; i < N(sizes); i++)
        free(bufs[i]);
}

/* A batch sealed while it fills little of its buffer gives the rest back, its
 * body unchanged; a well-filled one keeps its buffer (for the pool). batch_cost
 * counts struct, buffer and sequence numbers. */
static void test_seal_shrinks_and_cost(void **state)
{
    (void)state;
    const char *rec[] = {"{\"a\":1}"};
    batch_t *b = batch_new(65536);
    assert_non_null(b);
    assert_true(b->cap >= 65536);
    assert_int_equal(batch_append(b, rec[0], strlen(rec[0])), 0);
    assert_int_equal(batch_add_seq(b, 42), 0);
    assert_int_equal(batch_seal(b), 0);
    assert_int_equal(b->cap, b->len);
    check_body(b, rec, 1);
    assert_int_equal(batch_cost(b), sizeof *b + b->len + b->seqs_cap * sizeof(uint64_t));
    assert_int_equal(batch_seal(b), 0); /* idempotent */
    assert_int_equal(b->cap, b->len);
    batch_free(b);

    b = batch_new(1000);
    assert_non_null(b);
    char big[600];
    memset(big, 'x', sizeof big);
    memcpy(big, "{\"s\":\"", 6);
    memcpy(big + sizeof big - 2, "\"}", 2);
    size_t cap = b->cap; /* may be a larger recycled buffer */
    while (b->len <= cap / 4) assert_int_equal(batch_append(b, big, sizeof big), 0);
    assert_int_equal(b->cap, cap);
    assert_int_equal(batch_seal(b), 0);
    assert_int_equal(b->cap, cap); /* more than a quarter used: kept */
    assert_int_equal(batch_cost(b), sizeof *b + cap);
    batch_free(b);
}

/* Allocation failures at every point of a batch's life: each append is all or
 * nothing, and the batch stays consistent (records, seqs, body) throughout. */
static void test_append_rec_all_or_nothing(void **state)
{
    (void)state;
    static const long budgets[] = {0, 1, 2, 3, 4, 6, 10};
    char rec[300];
    memset(rec, 'x', sizeof rec);
    memcpy(rec, "{\"p\":\"", 6);
    memcpy(rec + sizeof rec - 2, "\"}", 2);
    for (size_t c = 0; c < N(budgets); c++) {
        batch_fail_allocs_after(budgets[c]);
        batch_t *b = batch_new(64);
        if (!b) {
            assert_int_equal(budgets[c], 0); /* only the very first allocation fails here */
            continue;
        }
        uint32_t ok = 0, seqs = 0;
        for (uint32_t i = 0; i < 2000; i++) {
            uint64_t seq = i % 2 ? 0 : 100 + i;
            size_t len_before = b->len;
            int rc = batch_append_rec(b, rec, sizeof rec, seq);
            if (rc) {
                assert_int_equal(b->len, len_before); /* nothing half appended */
                break;
            }
            ok++;
            seqs += seq != 0;
        }
        assert_int_equal(b->records, ok);
        assert_int_equal(b->nseqs, seqs);
        assert_int_equal(b->record_bytes, (uint64_t)ok * sizeof rec);
        for (uint32_t k = 0; k < b->nseqs; k++) assert_int_equal(b->seqs[k], 100 + 2 * k);
        if (budgets[c] < 10) assert_true(ok < 2000); /* the failure was hit */
        batch_fail_allocs_after(-1);
        assert_int_equal(batch_append_rec(b, rec, sizeof rec, 7), 0);
        assert_int_equal(batch_seal(b), 0);
        json_error_t jerr;
        json_t *root = json_loadb(b->buf, b->len, 0, &jerr);
        assert_non_null(root);
        assert_int_equal(json_array_size(json_object_get(root, "messages")), ok + 1);
        json_decref(root);
        batch_free(b);
    }
    batch_fail_allocs_after(-1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing), cmocka_unit_test(test_empty),
        cmocka_unit_test(test_ids),     cmocka_unit_test(test_size_with),
        cmocka_unit_test(test_list),    cmocka_unit_test(test_growth),
        cmocka_unit_test(test_seal_shrinks_and_cost),
        cmocka_unit_test(test_append_rec_all_or_nothing),
    };
    return cmocka_run_group_tests_name("batch", tests, NULL, NULL);
}
