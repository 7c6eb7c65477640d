/*
 * fuzz_etcd.c - libFuzzer target for the etcd answer and watch-stream parsers
 * (src/cluster/etcd_proto.c): what an etcd endpoint (or anything pretending to
 * be one) sends back is hostile.
 *
 * Input: byte 0 picks the mode (mod 5), byte 1 a cut point, the rest is the data,
 * from an exact-size heap copy.
 *   0: the data as a watch stream fed in two pieces cut at byte 1 (scaled), every
 *      message taken out parsed as a watch message;
 *   1: a range answer;   2: a txn answer;   3: lease, auth, revision, error, version;
 *   4: the values logdistd reads under its prefix (cluster_json.h): an analyzer spec
 *      (accepted: id, url and health_url non-empty and terminated, weight 0..1e12, and
 *      written back it parses to the same spec) and a node value.
 * Invariants:
 *   1. returns are 0 or a negative errno from the documented set;
 *   2. every key parsed is non-empty, NUL-free, at most ETCD_KEY_MAX, every value at
 *      most ETCD_VALUE_MAX and NUL-terminated at value_len; a refusal leaves
 *      count 0 and no array;
 *   3. the framer returns only whole lines of at most its cap, holding no '\n',
 *      and never more bytes than it was fed.
 *
 * Build: make fuzz-build (tests/fuzz/fuzz.mk); run: build-fuzz/fuzz_etcd DIR.
 * Replayed by ctest over corpus/ and regressions/fuzz_etcd.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_json.h"
#include "cluster/etcd_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *msg)
{
    fprintf(stderr, "fuzz_etcd: invariant violated: %s\n", msg);
    abort();
}

static void check_kv(const etcd_kv_t *kv)
{
    size_t k = strlen(kv->key);
    if (!k || k > ETCD_KEY_MAX) fail("key length");
    if (kv->value_len > ETCD_VALUE_MAX || kv->value[kv->value_len]) fail("value bound");
}

static void check_rc(int rc)
{
    if (rc > 0 || (rc && rc != -EINVAL && rc != -EMSGSIZE && rc != -ENOMEM && rc != -EPROTO &&
                   rc != -ENOENT && rc != -E2BIG))
        fail("return code");
}

static void check_range(int rc, etcd_range_t *r)
{
    check_rc(rc);
    if (rc && (r->count || r->kvs)) fail("refused range holds keys");
    for (size_t i = 0; i < r->count; i++)
        check_kv(&r->kvs[i]);
    etcd_range_free(r);
}

static void stream(const char *p, size_t n, size_t cut)
{
    etcd_stream_t s;
    etcd_stream_init(&s, 4096);
    size_t taken = 0;
    for (int piece = 0; piece < 2; piece++) {
        const char *d = piece ? p + cut : p;
        size_t len = piece ? n - cut : cut;
        int rc = etcd_stream_feed(&s, d, len);
        check_rc(rc);
        if (rc) break;
        const char *msg;
        size_t mlen;
        while (etcd_stream_next(&s, &msg, &mlen) == 1) {
            if (mlen > 4096 || memchr(msg, '\n', mlen)) fail("framer message");
            taken += mlen;
            if (taken > n) fail("framer returned more than fed");
            etcd_watch_msg_t m;
            char err[128];
            int w = etcd_parse_watch(msg, mlen, &m, err, sizeof err);
            check_rc(w);
            if (w && (m.count || m.events)) fail("refused watch message holds events");
            for (size_t i = 0; i < m.count; i++)
                check_kv(&m.events[i].kv);
            etcd_watch_msg_free(&m);
        }
    }
    etcd_stream_free(&s);
}

static void cluster_values(const char *p, size_t n)
{
    analyzer_spec_t spec, back;
    char err[300];
    memset(&spec, 0xA5, sizeof spec);
    if (cluster_spec_parse(p, n, "a1", &spec, err, sizeof err) == 0) {
        if (strcmp(spec.id, "a1") || !memchr(spec.url, 0, sizeof spec.url) || !spec.url[0] ||
            !memchr(spec.health_url, 0, sizeof spec.health_url) || !spec.health_url[0] ||
            !(spec.weight >= 0 && spec.weight <= 1e12))
            fail("accepted spec out of bounds");
        char *j = cluster_spec_json(&spec);
        if (!j) return;
        if (cluster_spec_parse(j, strlen(j), "a1", &back, err, sizeof err) ||
            !config_analyzer_equal(&spec, &back))
            fail("spec round trip");
        free(j);
    } else if (!err[0]) {
        fail("refusal without a message");
    }
    json_t *node = cluster_node_parse(p, n, "n1", err, sizeof err);
    json_decref(node);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    int mode = data[0] % 5;
    size_t n = size - 2;
    char *p = malloc(n ? n : 1);
    if (!p) return 0;
    memcpy(p, data + 2, n);
    size_t cut = n ? (size_t)data[1] * n / 255 : 0;
    char err[128], tok[64], pre[ETCD_PREFIX_MAX];
    etcd_range_t r;
    int64_t a, b;
    bool ok;
    int code;
    switch (mode) {
    case 0:
        stream(p, n, cut);
        break;
    case 1:
        check_range(etcd_parse_range(p, n, &r, err, sizeof err), &r);
        break;
    case 2:
        check_range(etcd_parse_txn(p, n, &ok, &a, &r, err, sizeof err), &r);
        break;
    case 4:
        cluster_values(p, n);
        break;
    default:
        check_rc(etcd_parse_lease(p, n, &a, &b, err, sizeof err));
        check_rc(etcd_parse_revision(p, n, &a, &b, err, sizeof err));
        check_rc(etcd_parse_auth(p, n, tok, sizeof tok, err, sizeof err));
        if (etcd_parse_error(p, n, &code, err, sizeof err) < 0) fail("error parse");
        if (etcd_api_prefix(p, n, pre, sizeof pre) == 0 && pre[0] != '/') fail("prefix");
        break;
    }
    free(p);
    return 0;
}
