/*
 * test_etcd_proto.c - cmocka tables for src/cluster/etcd_proto.c: request
 * bodies (exact JSON), the prefix range end, the version -> API prefix,
 * range / txn / lease / auth / error answers (as etcd 3.4's gateway writes
 * them, taken from a real etcd), watch messages (events, created, compaction)
 * and the stream framer (split anywhere, caps).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/etcd_proto.h"

#define HDR                                                                                        \
    "\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":\"33\",\"revision\":\"%s\","  \
    "\"raft_term\":\"2\"}"

static void expect_json(char *got, const char *want)
{
    if (!got) fail_msg("NULL body, want %s", want);
    if (strcmp(got, want)) fail_msg("got  %s\nwant %s", got, want);
    free(got);
}

static void test_requests(void **state)
{
    /* "foo" = Zm9v, "fop" = Zm9w, "/l/" = L2wv, "/l0" = L2ww, "bar" = YmFy */
    expect_json(etcd_req_range("foo", false), "{\"key\":\"Zm9v\"}");
    expect_json(etcd_req_range("foo", true), "{\"key\":\"Zm9v\",\"range_end\":\"Zm9w\"}");
    expect_json(etcd_req_range("/l/", true), "{\"key\":\"L2wv\",\"range_end\":\"L2ww\"}");
    expect_json(etcd_req_delete("foo", false), "{\"key\":\"Zm9v\"}");
    expect_json(etcd_req_put("foo", "bar", 3, 0), "{\"key\":\"Zm9v\",\"value\":\"YmFy\"}");
    expect_json(etcd_req_put("foo", "bar", 3, 7587868),
                "{\"key\":\"Zm9v\",\"value\":\"YmFy\",\"lease\":\"7587868\"}");
    expect_json(etcd_req_put("foo", "", 0, 0), "{\"key\":\"Zm9v\",\"value\":\"\"}");
    expect_json(etcd_req_cas("foo", 12, "bar", 3, 0),
                "{\"compare\":[{\"key\":\"Zm9v\",\"target\":\"MOD\",\"result\":\"EQUAL\","
                "\"mod_revision\":\"12\"}],\"success\":[{\"request_put\":{\"key\":\"Zm9v\","
                "\"value\":\"YmFy\"}}],\"failure\":[{\"request_range\":{\"key\":\"Zm9v\"}}]}");
    expect_json(etcd_req_cas("foo", 0, NULL, 0, 0),
                "{\"compare\":[{\"key\":\"Zm9v\",\"target\":\"MOD\",\"result\":\"EQUAL\","
                "\"mod_revision\":\"0\"}],\"success\":[{\"request_delete_range\":{\"key\":"
                "\"Zm9v\"}}],\"failure\":[{\"request_range\":{\"key\":\"Zm9v\"}}]}");
    expect_json(etcd_req_lease_grant(10), "{\"TTL\":\"10\"}");
    expect_json(etcd_req_lease_id(-5), "{\"ID\":\"-5\"}");
    expect_json(etcd_req_watch("foo", true, 42),
                "{\"create_request\":{\"key\":\"Zm9v\",\"range_end\":\"Zm9w\","
                "\"start_revision\":\"42\"}}");
    expect_json(etcd_req_watch("foo", false, 0), "{\"create_request\":{\"key\":\"Zm9v\"}}");
    expect_json(etcd_req_auth("root", "p\"w"), "{\"name\":\"root\",\"password\":\"p\\\"w\"}");
    /* refused: empty key, key over the cap, value over the cap */
    assert_null(etcd_req_range("", false));
    char *big = malloc(ETCD_KEY_MAX + 2);
    memset(big, 'k', ETCD_KEY_MAX + 1);
    big[ETCD_KEY_MAX + 1] = 0;
    assert_null(etcd_req_range(big, true));
    big[ETCD_KEY_MAX] = 0;
    char *at_cap = etcd_req_range(big, false); /* exactly ETCD_KEY_MAX: fine */
    assert_non_null(at_cap);
    free(at_cap);
    free(big);
    assert_null(etcd_req_put("k", "v", ETCD_VALUE_MAX + 1, 0));
}

static void test_prefix_end(void **state)
{
    static const struct {
        const char *in;
        size_t n;
        long rc;
        const char *out;
    } cases[] = {
        {"a", 1, 1, "b"},     {"/logdist/", 9, 9, "/logdist0"},
        {"a\xff", 2, 1, "b"}, {"a\xff\xff", 3, 1, "b"},
        {"\xff", 1, 1, ""}, /* the whole keyspace: "\0" */
        {"az", 2, 2, "a{"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[16];
        long rc = etcd_prefix_end(cases[i].in, cases[i].n, out, sizeof out);
        if (rc != cases[i].rc) fail_msg("case %zu: %ld want %ld", i, rc, cases[i].rc);
        if (cases[i].out[0])
            assert_memory_equal(out, cases[i].out, (size_t)rc);
        else
            assert_int_equal(out[0], 0);
    }
    char small[2];
    assert_int_equal(etcd_prefix_end("abc", 3, small, sizeof small), -E2BIG);
}

static void test_api_prefix(void **state)
{
    static const struct {
        const char *body;
        int rc;
        const char *out;
    } cases[] = {
        {"{\"etcdserver\":\"3.4.23\",\"etcdcluster\":\"3.4.0\"}", 0, "/v3"},
        {"{\"etcdserver\":\"3.5.9\",\"etcdcluster\":\"3.5.0\"}", 0, "/v3"},
        {"{\"etcdserver\":\"4.0.0\"}", 0, "/v3"},
        {"{\"etcdserver\":\"3.3.11\"}", 0, "/v3beta"},
        {"{\"etcdserver\":\"3.2.26\"}", 0, "/v3alpha"},
        {"{\"etcdserver\":3}", -EINVAL, NULL},
        {"{\"etcdcluster\":\"3.4.0\"}", -EINVAL, NULL},
        {"{\"etcdserver\":\"x\"}", -EINVAL, NULL},
        {"[1]", -EINVAL, NULL},
        {"not json", -EINVAL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[ETCD_PREFIX_MAX];
        int rc = etcd_api_prefix(cases[i].body, strlen(cases[i].body), out, sizeof out);
        if (rc != cases[i].rc) fail_msg("%s: %d want %d", cases[i].body, rc, cases[i].rc);
        if (!rc) assert_string_equal(out, cases[i].out);
    }
}

static void test_range(void **state)
{
    static const char ok[] =
        "{\"header\":{\"revision\":\"9\"},\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":\"2\","
        "\"mod_revision\":\"5\",\"version\":\"3\",\"value\":\"YmFy\"},{\"key\":\"Zm9w\","
        "\"create_revision\":\"6\",\"mod_revision\":\"6\",\"version\":\"1\",\"lease\":\"77\"}],"
        "\"count\":\"2\"}";
    etcd_range_t r;
    char err[200];
    assert_int_equal(etcd_parse_range(ok, strlen(ok), &r, err, sizeof err), 0);
    assert_int_equal(r.revision, 9);
    assert_int_equal(r.count, 2);
    assert_string_equal(r.kvs[0].key, "foo");
    assert_string_equal(r.kvs[0].value, "bar");
    assert_int_equal(r.kvs[0].value_len, 3);
    assert_int_equal(r.kvs[0].create_revision, 2);
    assert_int_equal(r.kvs[0].mod_revision, 5);
    assert_int_equal(r.kvs[0].version, 3);
    assert_string_equal(r.kvs[1].key, "fop");
    assert_int_equal(r.kvs[1].value_len, 0); /* an empty value is left out */
    assert_string_equal(r.kvs[1].value, "");
    assert_int_equal(r.kvs[1].lease, 77);
    etcd_range_free(&r);

    static const struct {
        const char *body;
        int rc;
    } bad[] = {
        {"{\"header\":{\"revision\":\"9\"}}", 0}, /* no key: count 0 */
        {"{\"header\":{\"revision\":\"x9\"}}", -EINVAL},
        {"{\"header\":{\"revision\":\"99999999999999999999\"}}", -EINVAL},
        {"{\"header\":{\"revision\":\"\"}}", -EINVAL},
        {"{\"header\":{\"revision\":\"9 \"}}", -EINVAL},
        {"{\"header\":{\"revision\":\"+9\"}}", -EINVAL},
        {"{\"header\":7}", -EINVAL},
        {"{\"kvs\":{}}", -EINVAL},
        {"{\"kvs\":[1]}", -EINVAL},
        {"{\"kvs\":[{\"key\":\"Zm9v\",\"mod_revision\":\"a\"}]}", -EINVAL},
        {"{\"kvs\":[{\"key\":\"!!!!\"}]}", -EINVAL}, /* not base64 */
        {"{\"kvs\":[{\"key\":\"\"}]}", -EINVAL},     /* empty key */
        {"{\"kvs\":[{\"key\":\"AGE=\"}]}", -EINVAL}, /* "\0a": NUL in a key */
        {"{\"kvs\":[{\"key\":\"Zm9v\",\"value\":5}]}", -EINVAL},
        {"{\"kvs\":[{\"key\":\"Zm9v\"},{\"key\":\"Zm9v\",\"key\":\"Zm9v\"}]}", -EINVAL}, /* dup */
        {"[]", -EINVAL},
        {"", -EINVAL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = etcd_parse_range(bad[i].body, strlen(bad[i].body), &r, err, sizeof err);
        if (rc != bad[i].rc) fail_msg("%s: %d want %d", bad[i].body, rc, bad[i].rc);
        if (rc) assert_true(err[0] != 0);
        etcd_range_free(&r);
    }
    /* a body over the cap is refused before it is parsed */
    assert_int_equal(etcd_parse_range("{}", ETCD_MSG_MAX + 1, &r, err, sizeof err), -EMSGSIZE);
}

static void test_txn(void **state)
{
    static const char won[] =
        "{\"header\":{\"revision\":\"12\"},\"succeeded\":true,"
        "\"responses\":[{\"response_put\":{\"header\":{\"revision\":\"12\"}}}]}";
    static const char lost[] =
        "{\"header\":{\"revision\":\"14\"},\"responses\":[{\"response_range\":{\"header\":"
        "{\"revision\":\"14\"},\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":\"2\","
        "\"mod_revision\":\"13\",\"version\":\"4\",\"value\":\"eA==\"}],\"count\":\"1\"}}]}";
    static const char lost_gone[] = "{\"header\":{\"revision\":\"4\"},\"responses\":"
                                    "[{\"response_range\":{\"header\":{\"revision\":\"4\"}}}]}";
    bool ok;
    int64_t rev;
    etcd_range_t cur;
    char err[200];
    assert_int_equal(etcd_parse_txn(won, strlen(won), &ok, &rev, &cur, err, sizeof err), 0);
    assert_true(ok);
    assert_int_equal(rev, 12);
    assert_int_equal(cur.count, 0);
    assert_int_equal(etcd_parse_txn(lost, strlen(lost), &ok, &rev, &cur, err, sizeof err), 0);
    assert_false(ok);
    assert_int_equal(rev, 14);
    assert_int_equal(cur.count, 1);
    assert_int_equal(cur.kvs[0].mod_revision, 13);
    assert_string_equal(cur.kvs[0].value, "x");
    etcd_range_free(&cur);
    assert_int_equal(etcd_parse_txn(lost_gone, strlen(lost_gone), &ok, &rev, &cur, err, sizeof err),
                     0);
    assert_false(ok);
    assert_int_equal(cur.count, 0);
    assert_int_equal(
        etcd_parse_txn("{\"header\":{\"revision\":1.5}}", 27, &ok, &rev, &cur, err, sizeof err),
        -EINVAL);
}

static void test_put_delete_lease_auth(void **state)
{
    int64_t rev, del, id, ttl;
    char err[200], tok[64];
    const char *put = "{\"header\":{\"revision\":\"2\"}}";
    assert_int_equal(etcd_parse_revision(put, strlen(put), &rev, &del, err, sizeof err), 0);
    assert_int_equal(rev, 2);
    assert_int_equal(del, 0);
    const char *d = "{\"header\":{\"revision\":\"6\"},\"deleted\":\"1\"}";
    assert_int_equal(etcd_parse_revision(d, strlen(d), &rev, &del, err, sizeof err), 0);
    assert_int_equal(del, 1);

    static const struct {
        const char *body;
        int rc;
        int64_t id, ttl;
    } leases[] = {
        {"{\"header\":{\"revision\":\"2\"},\"ID\":\"2324035864737795079\",\"TTL\":\"10\"}", 0,
         2324035864737795079LL, 10},
        {"{\"result\":{\"header\":{\"revision\":\"4\"},\"ID\":\"7\",\"TTL\":\"9\"}}", 0, 7, 9},
        {"{\"result\":{\"header\":{\"revision\":\"4\"},\"ID\":\"1\"}}", -ENOENT, 0,
         0}, /* expired */
        {"{\"ID\":\"x\",\"TTL\":\"10\"}", -EINVAL, 0, 0},
        {"{\"TTL\":\"10\"}", -ENOENT, 0, 0},
    };
    for (size_t i = 0; i < sizeof leases / sizeof leases[0]; i++) {
        int rc =
            etcd_parse_lease(leases[i].body, strlen(leases[i].body), &id, &ttl, err, sizeof err);
        if (rc != leases[i].rc) fail_msg("%s: %d want %d", leases[i].body, rc, leases[i].rc);
        if (!rc) {
            assert_int_equal(id, leases[i].id);
            assert_int_equal(ttl, leases[i].ttl);
        }
    }
    const char *a = "{\"header\":{},\"token\":\"abc.123\"}";
    assert_int_equal(etcd_parse_auth(a, strlen(a), tok, sizeof tok, err, sizeof err), 0);
    assert_string_equal(tok, "abc.123");
    assert_int_equal(etcd_parse_auth(a, strlen(a), tok, 4, err, sizeof err), -E2BIG);
    assert_int_equal(etcd_parse_auth("{}", 2, tok, sizeof tok, err, sizeof err), -EINVAL);
}

static void test_errors(void **state)
{
    int code = 0;
    char msg[200];
    const char *e1 = "{\"error\":\"etcdserver: requested lease not found\",\"message\":"
                     "\"etcdserver: requested lease not found\",\"code\":5}";
    assert_int_equal(etcd_parse_error(e1, strlen(e1), &code, msg, sizeof msg), 1);
    assert_int_equal(code, 5);
    assert_string_equal(msg, "etcdserver: requested lease not found");
    const char *e2 = "{\"error\":{\"grpc_code\":16,\"http_code\":401,\"message\":"
                     "\"etcdserver: invalid auth token\",\"http_status\":\"Unauthorized\"}}";
    assert_int_equal(etcd_parse_error(e2, strlen(e2), &code, msg, sizeof msg), 1);
    assert_int_equal(code, 16);
    assert_true(etcd_error_is_auth(code, msg));
    assert_false(etcd_error_is_auth(5, "etcdserver: requested lease not found"));
    assert_true(etcd_error_is_auth(3, "etcdserver: invalid auth token"));
    assert_int_equal(etcd_parse_error("{\"header\":{}}", 13, &code, msg, sizeof msg), 0);
    assert_int_equal(etcd_parse_error("nope", 4, &code, msg, sizeof msg), 0);
}

static void test_watch(void **state)
{
    static const char created[] = "{\"result\":{\"header\":{\"revision\":\"4\"},\"created\":true}}";
    static const char events[] =
        "{\"result\":{\"header\":{\"revision\":\"6\"},\"events\":[{\"kv\":{\"key\":\"Zm9v\","
        "\"create_revision\":\"5\",\"mod_revision\":\"5\",\"version\":\"1\",\"value\":\"YmF6\"}},"
        "{\"type\":\"DELETE\",\"kv\":{\"key\":\"Zm9v\",\"mod_revision\":\"6\"}}]}}";
    static const char compacted[] =
        "{\"result\":{\"header\":{\"raft_term\":\"2\"},\"canceled\":true,"
        "\"compact_revision\":\"6\"}}";
    static const char empty[] = "{\"result\":{\"header\":{\"revision\":\"2\"},\"watch_id\":\"-1\","
                                "\"created\":true,\"canceled\":true,\"cancel_reason\":"
                                "\"mvcc: watcher range is empty\"}}";
    etcd_watch_msg_t m;
    char err[200];
    assert_int_equal(etcd_parse_watch(created, strlen(created), &m, err, sizeof err), 0);
    assert_true(m.created);
    assert_int_equal(m.revision, 4);
    assert_int_equal(m.count, 0);
    etcd_watch_msg_free(&m);
    assert_int_equal(etcd_parse_watch(events, strlen(events), &m, err, sizeof err), 0);
    assert_int_equal(m.count, 2);
    assert_false(m.events[0].deleted);
    assert_string_equal(m.events[0].kv.key, "foo");
    assert_string_equal(m.events[0].kv.value, "baz");
    assert_int_equal(m.events[0].kv.mod_revision, 5);
    assert_true(m.events[1].deleted);
    assert_int_equal(m.events[1].kv.mod_revision, 6);
    etcd_watch_msg_free(&m);
    assert_int_equal(etcd_parse_watch(compacted, strlen(compacted), &m, err, sizeof err), 0);
    assert_true(m.canceled);
    assert_int_equal(m.compact_revision, 6);
    etcd_watch_msg_free(&m);
    assert_int_equal(etcd_parse_watch(empty, strlen(empty), &m, err, sizeof err), 0);
    assert_true(m.canceled);
    assert_int_equal(m.watch_id, -1);
    assert_string_equal(m.cancel_reason, "mvcc: watcher range is empty");
    etcd_watch_msg_free(&m);

    static const struct {
        const char *msg;
        int rc;
    } bad[] = {
        {"{\"error\":{\"grpc_code\":14,\"message\":\"etcdserver: no leader\"}}", -EPROTO},
        {"{\"result\":{\"events\":[{\"type\":\"PATCH\",\"kv\":{\"key\":\"Zm9v\"}}]}}", -EINVAL},
        {"{\"result\":{\"events\":[{\"kv\":{}}]}}", -EINVAL},
        {"{\"result\":{\"events\":[{\"kv\":{\"key\":\"Zm9v\"}}, 3]}}", -EINVAL},
        {"{\"result\":{\"compact_revision\":\"z\"}}", -EINVAL},
        {"{\"result\":{\"events\":\"x\"}}", -EINVAL},
        {"{\"result\":[]}", -EPROTO},
        {"{\"result\":{}", -EINVAL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = etcd_parse_watch(bad[i].msg, strlen(bad[i].msg), &m, err, sizeof err);
        if (rc != bad[i].rc) fail_msg("%s: %d want %d", bad[i].msg, rc, bad[i].rc);
        assert_int_equal(m.count, 0);
        assert_null(m.events);
    }
    assert_int_equal(etcd_parse_watch(bad[0].msg, strlen(bad[0].msg), &m, err, sizeof err),
                     -EPROTO);
    assert_non_null(strstr(err, "no leader"));
}

/* The same stream cut at every possible point gives the same messages. */
static void test_stream_split(void **state)
{
    static const char text[] = "{\"a\":1}\n\n{\"b\":2}\r\n  \n{\"c\":3}\n{\"d\"";
    static const char *const want[] = {"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"};
    for (size_t cut = 0; cut <= sizeof text - 1; cut++) {
        etcd_stream_t s;
        etcd_stream_init(&s, 64);
        size_t got = 0;
        const char *msg;
        size_t len;
        assert_int_equal(etcd_stream_feed(&s, text, cut), 0);
        while (etcd_stream_next(&s, &msg, &len) == 1) {
            assert_true(got < 3);
            assert_int_equal(len, strlen(want[got]));
            assert_memory_equal(msg, want[got], len);
            got++;
        }
        assert_int_equal(etcd_stream_feed(&s, text + cut, sizeof text - 1 - cut), 0);
        while (etcd_stream_next(&s, &msg, &len) == 1) {
            assert_true(got < 3);
            assert_memory_equal(msg, want[got], len);
            got++;
        }
        assert_int_equal(got, 3);
        etcd_stream_free(&s);
    }
}

static void test_stream_caps(void **state)
{
    etcd_stream_t s;
    const char *msg;
    size_t len;
    etcd_stream_init(&s, 8);
    assert_int_equal(etcd_stream_feed(&s, "12345678\n", 9), 0); /* exactly max */
    assert_int_equal(etcd_stream_next(&s, &msg, &len), 1);
    assert_int_equal(len, 8);
    assert_int_equal(etcd_stream_feed(&s, "1234", 4), 0);
    assert_int_equal(etcd_stream_feed(&s, "5678", 4), 0);
    assert_int_equal(etcd_stream_feed(&s, "9", 1), -EMSGSIZE); /* unterminated, past max */
    etcd_stream_free(&s);
    etcd_stream_init(&s, 8);
    assert_int_equal(etcd_stream_feed(&s, "123456789\nab\n", 13), -EMSGSIZE); /* whole, past max */
    etcd_stream_free(&s);
    etcd_stream_init(&s, 0); /* default cap */
    assert_int_equal(s.max, ETCD_MSG_MAX);
    assert_int_equal(etcd_stream_next(&s, &msg, &len), 0);
    etcd_stream_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests),     cmocka_unit_test(test_prefix_end),
        cmocka_unit_test(test_api_prefix),   cmocka_unit_test(test_range),
        cmocka_unit_test(test_txn),          cmocka_unit_test(test_put_delete_lease_auth),
        cmocka_unit_test(test_errors),       cmocka_unit_test(test_watch),
        cmocka_unit_test(test_stream_split), cmocka_unit_test(test_stream_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
