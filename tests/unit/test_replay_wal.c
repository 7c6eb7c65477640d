/*
 * test_replay_wal.c - cmocka tests for the pure parts of src/app/replay_wal.c
 * (logdistd --replay-wal):
 *   - batches: table of record sizes and bounds with the exact split into
 *     bodies ("[r1,r2]") and seqs each batch carries;
 *   - the "accepted" count of a 202 body (missing, bad, larger than n, ok);
 *   - the --to URL completed to /api/v1/logs (and what is refused).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "app/replay_wal.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct bcase {
    size_t max_records, max_bytes;
    const char *recs[6]; /* NULL-terminated */
    const char *want[6]; /* bodies of the batches, NULL-terminated */
};

static const struct bcase bcases[] = {
    {3, 1000, {"{\"a\":1}", "{\"b\":2}", NULL}, {"[{\"a\":1},{\"b\":2}]", NULL}},
    {2, 1000, {"1", "2", "3", "4", "5", NULL}, {"[1,2]", "[3,4]", "[5]", NULL}},
    /* bytes: "[aa,bb" is 6, + ",cc]" would be 10 > 9 */
    {10, 9, {"aa", "bb", "cc", NULL}, {"[aa,bb]", "[cc]", NULL}},
    /* one record larger than max_bytes still goes, alone */
    {10, 4, {"xxxxxxxx", "y", NULL}, {"[xxxxxxxx]", "[y]", NULL}},
    {1, 1000, {"a", "b", NULL}, {"[a]", "[b]", NULL}},
};

static void test_batches(void **state)
{
    (void)state;
    for (size_t c = 0; c < N(bcases); c++) {
        const struct bcase *t = &bcases[c];
        replay_batch_t b;
        assert_int_equal(replay_batch_init(&b, t->max_records, t->max_bytes), 0);
        assert_false(replay_batch_full_for(&b, 1u << 30)); /* empty: never full */
        size_t nb = 0;
        uint64_t seq = 1, first = 1;
        for (size_t i = 0;; i++) {
            const char *r = t->recs[i];
            if (!r || replay_batch_full_for(&b, strlen(r))) {
                replay_batch_close(&b);
                assert_non_null(t->want[nb]);
                assert_string_equal(b.buf, t->want[nb]);
                assert_int_equal(b.len, strlen(t->want[nb]));
                for (size_t k = 0; k < b.n; k++)
                    assert_int_equal(b.seqs[k], first + k);
                first += b.n;
                nb++;
                replay_batch_reset(&b);
                if (!r) break;
            }
            assert_int_equal(replay_batch_add(&b, seq++, r, strlen(r)), 0);
        }
        assert_null(t->want[nb]);
        replay_batch_free(&b);
    }
}

static void test_accepted(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        size_t n, want;
    } cases[] = {
        {"{\"status\":\"accepted\",\"accepted\":7}", 10, 7},
        {"{\"accepted\":12}", 10, 10}, /* capped */
        {"{\"accepted\":-1}", 10, 10},
        {"{\"accepted\":\"3\"}", 10, 10},
        {"", 10, 10},
        {"not json", 4, 4},
        {"{\"accepted\":0}", 4, 0},
    };
    for (size_t i = 0; i < N(cases); i++)
        assert_int_equal(replay_parse_accepted(cases[i].body, strlen(cases[i].body), cases[i].n),
                         cases[i].want);
}

static void test_logs_url(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want; /* want NULL: -EINVAL */
    } cases[] = {
        {"http://h:8080", "http://h:8080/api/v1/logs"},
        {"http://h:8080/", "http://h:8080/api/v1/logs"},
        {"https://h//", "https://h/api/v1/logs"},
        {"http://h/api/v1/logs", "http://h/api/v1/logs"},
        {"http://h/base", "http://h/base/api/v1/logs"},
        {"ftp://h", NULL},
        {"h:8080", NULL},
    };
    char out[64];
    for (size_t i = 0; i < N(cases); i++) {
        int rc = replay_logs_url(cases[i].in, out, sizeof out);
        if (!cases[i].want) {
            assert_int_equal(rc, -EINVAL);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_string_equal(out, cases[i].want);
    }
    char small[20];
    assert_int_equal(replay_logs_url("http://host:8080", small, sizeof small), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_logs_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
