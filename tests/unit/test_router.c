/*
 * test_router.c - cmocka tests for src/route/router.c with a real balancer:
 * analyzer registration (duplicates, bad weights), per-record routing of hand-built
 * packets (SWRR 4:3:2:1 exact over 10,000 records, every record delivered once, in
 * order, byte for byte), batch sealing at batch_max_records and batch_max_bytes with
 * the batch_opened/batch_ready hooks counted, health, router_pick_other, removal and
 * release, target and effective shares.
 * Content routes (route/routes.h): per-route exact SWRR with route weights and own
 * weights, copy fan-out with de-duplication and the fanout hook for durable seqs,
 * held batches for a route with nobody routable and no_route batches for an empty
 * default, -EAGAIN when nobody at all is routable, retries staying in their route
 * (router_pick_other, router_batch_weight), a table swap sealing every batch, and
 * key affinity (one analyzer per key, only a down analyzer's keys move, SWRR for
 * records without the key, by_key stats).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/metrics.h"
#include "record/scan.h"
#include "route/router.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const batch_t no_batch; /* route "": the default route */

/* ---- helpers ------------------------------------------------------------------------- */

struct hook_count {
    int opened, ready;
    analyzer_t *last_opened, *last_ready;
};

static void on_opened(void *ctx, analyzer_t *a)
{
    struct hook_count *h = ctx;
    h->opened++;
    h->last_opened = a;
    assert_true(a->nopen > 0);
}

/* The delivery layer's side record in these tests: the sealed batches of each
 * analyzer, kept behind analyzer_t.user as the real one does. */
#define READY(a) (*(batch_list_t *)(a)->user)

static void on_ready(void *ctx, analyzer_t *a, batch_t *b)
{
    struct hook_count *h = ctx;
    h->ready++;
    h->last_ready = a;
    assert_non_null(b);
    assert_true(b->sealed);
    assert_true(b->records > 0);
    assert_int_equal(b->cost, batch_cost(b));
    batch_list_push(&READY(a), b);
}

static void free_ready(analyzer_t *a)
{
    if (!a->user) return; /* added without the helper */
    batch_t *b;
    while ((b = batch_list_pop(&READY(a))))
        batch_free(b);
    free(a->user);
}

static void free_router(router_t *r)
{
    for (analyzer_t *a = router_first(r); a; a = a->next)
        free_ready(a);
    router_free(r);
}

static void release(router_t *r, analyzer_t *a)
{
    free_ready(a);
    router_release(r, a);
}

static int set_weight(router_t *r, analyzer_t *a, double w)
{
    analyzer_spec_t s = a->spec;
    s.weight = w;
    return router_update(r, a, &s);
}

static router_t *make_router(uint32_t max_records, uint64_t max_bytes, balancer_strategy_t st,
                             struct hook_count *h)
{
    config_t cfg;
    config_defaults(&cfg);
    cfg.batch_max_records = max_records;
    cfg.batch_max_bytes = max_bytes;
    cfg.strategy = st;
    router_hooks_t hooks = {on_opened, on_ready, NULL, h};
    router_t *r = router_new(&cfg, &hooks);
    assert_non_null(r);
    return r;
}

static analyzer_t *add(router_t *r, const char *id, double w)
{
    analyzer_spec_t s;
    memset(&s, 0, sizeof s);
    snprintf(s.id, sizeof s.id, "%s", id);
    snprintf(s.url, sizeof s.url, "http://127.0.0.1:1/%s", id);
    s.weight = w;
    analyzer_t *a = NULL;
    assert_int_equal(router_add(r, &s, &a), 0);
    assert_non_null(a);
    assert_true(a->eligible);
    batch_list_t *l = calloc(1, sizeof *l);
    assert_non_null(l);
    router_set_user(a, l);
    assert_false(a->removed);
    return a;
}

/* A packet of `n` records {"i":<first+k>,"p":"xx..."}, each exactly `rec_len` bytes
 * (at least 24). The body is the records separated by '\n'. */
static packet_t *make_packet(size_t first, size_t n, size_t rec_len)
{
    packet_t *p = calloc(1, sizeof *p);
    assert_non_null(p);
    char *data = malloc(n * (rec_len + 1) + 1);
    assert_non_null(data);
    p->records = calloc(n ? n : 1, sizeof *p->records);
    assert_non_null(p->records);
    size_t off = 0;
    for (size_t k = 0; k < n; k++) {
        int h = snprintf(data + off, rec_len + 1, "{\"i\":%zu,\"p\":\"", first + k);
        assert_true(h > 0 && (size_t)h + 2 <= rec_len);
        memset(data + off + h, 'x', rec_len - (size_t)h - 2);
        memcpy(data + off + rec_len - 2, "\"}", 2);
        p->records[k].rec.off = (uint32_t)off;
        p->records[k].rec.len = (uint32_t)rec_len;
        p->record_bytes += rec_len;
        off += rec_len;
        data[off++] = '\n';
    }
    p->decoded = data;
    p->data = data;
    p->len = off;
    p->count = n;
    return p;
}

/* Route records [first, first+n) in one packet. */
static void route(router_t *r, size_t first, size_t n, size_t rec_len)
{
    packet_t *p = make_packet(first, n, rec_len);
    assert_true(router_can_route(r));
    assert_int_equal(router_route_packet(r, p), 0);
    assert_int_equal(p->routed, n);
    packet_free(p);
}

/* Seal every analyzer's open batch, then walk its ready batches: every body parses,
 * record indexes rise within an analyzer, each index is seen once; returns the number
 * of records found. `seen` has room for `max` indexes. Batches are freed. */
static size_t drain_and_check(router_t *r, unsigned char *seen, size_t max)
{
    size_t total = 0;
    for (analyzer_t *a = router_first(r); a; a = a->next) {
        router_seal(r, a);
        long prev = -1;
        uint64_t recs = 0;
        batch_t *b;
        while ((b = batch_list_pop(&READY(a)))) {
            json_error_t jerr;
            json_t *root = json_loadb(b->buf, b->len, 0, &jerr);
            if (!root) fail_msg("%s: batch %s is not JSON: %s", a->spec.id, b->id, jerr.text);
            json_t *msgs = json_object_get(root, "messages");
            assert_int_equal(json_array_size(msgs), b->records);
            for (size_t k = 0; k < json_array_size(msgs); k++) {
                json_int_t i = json_integer_value(json_object_get(json_array_get(msgs, k), "i"));
                assert_true(i >= 0 && (size_t)i < max);
                assert_true(i > prev);
                assert_int_equal(seen[i], 0);
                seen[i] = 1;
                prev = (long)i;
            }
            recs += b->records;
            json_decref(root);
            batch_free(b);
        }
        total += recs;
    }
    return total;
}

/* ---- tests --------------------------------------------------------------------------- */

/* router_add: ids unique among live analyzers, bad weights refused, registration order. */
static void test_add_find(void **state)
{
    (void)state;
    struct hook_count h = {0};
    router_t *r = make_router(1000, 1 << 20, BALANCER_SWRR, &h);
    assert_null(router_first(r));
    assert_false(router_can_route(r));
    analyzer_t *a1 = add(r, "a1", 4), *a2 = add(r, "a2", 3), *a3 = add(r, "a3", 0);
    assert_ptr_equal(router_first(r), a1);
    assert_ptr_equal(a1->next, a2);
    assert_ptr_equal(a2->next, a3);
    assert_null(a3->next);
    assert_ptr_equal(router_find(r, "a2"), a2);
    assert_null(router_find(r, "a4"));
    assert_null(router_find(r, "a"));
    assert_true(router_can_route(r));

    analyzer_spec_t s;
    memset(&s, 0, sizeof s);
    strcpy(s.id, "a1");
    strcpy(s.url, "http://other/");
    s.weight = 1;
    analyzer_t *out = NULL;
    assert_int_equal(router_add(r, &s, &out), -EEXIST);
    assert_null(out);
    assert_string_equal(router_find(r, "a1")->spec.url, "http://127.0.0.1:1/a1");

    static const double bad[] = {-1, NAN, INFINITY, -INFINITY};
    strcpy(s.id, "bad");
    for (size_t i = 0; i < N(bad); i++) {
        s.weight = bad[i];
        assert_int_equal(router_add(r, &s, NULL), -EINVAL);
        assert_null(router_find(r, "bad"));
    }
    s.weight = 2;
    assert_int_equal(router_add(r, &s, NULL), 0); /* out may be NULL */
    assert_non_null(router_find(r, "bad"));

    assert_int_equal(set_weight(r, a3, 5), 0);
    assert_true(a3->spec.weight == 5);
    assert_int_equal(set_weight(r, a3, -1), -EINVAL);
    assert_true(a3->spec.weight == 5);
    assert_int_equal(h.opened + h.ready, 0);
    free_router(r);
}

/* SWRR 4:3:2:1 over 10,000 records in packets of varying size: exact per-analyzer counts,
 * every record exactly once, in order per analyzer; the global metric follows. */
static void test_swrr_weights(void **state)
{
    (void)state;
    static const struct {
        double w[4];
        uint64_t want[4];
    } cases[] = {
        {{4, 3, 2, 1}, {4000, 3000, 2000, 1000}},
        {{0.4, 0.3, 0.2, 0.1}, {4000, 3000, 2000, 1000}},
        {{1, 1, 1, 1}, {2500, 2500, 2500, 2500}},
        {{1, 0, 0, 4}, {2000, 0, 0, 8000}},
    };
    static const size_t packet_sizes[] = {1, 7, 100, 3, 1000, 13};
    enum { TOTAL = 10000 };
    for (size_t c = 0; c < N(cases); c++) {
        struct hook_count h = {0};
        router_t *r = make_router(64, 1 << 20, BALANCER_SWRR, &h);
        analyzer_t *a[4];
        char id[8];
        for (int i = 0; i < 4; i++) {
            snprintf(id, sizeof id, "a%d", i + 1);
            a[i] = add(r, id, cases[c].w[i]);
        }
        atomic_store(&g_metrics.records_routed, 0);
        size_t done = 0;
        for (size_t k = 0; done < TOTAL; k++) {
            size_t n = packet_sizes[k % N(packet_sizes)];
            if (n > TOTAL - done) n = TOTAL - done;
            route(r, done, n, 32);
            done += n;
        }
        for (int i = 0; i < 4; i++) {
            if (a[i]->records_routed != cases[c].want[i])
                fail_msg("case %zu: %s got %llu records, want %llu", c, a[i]->spec.id,
                         (unsigned long long)a[i]->records_routed,
                         (unsigned long long)cases[c].want[i]);
        }
        assert_int_equal(atomic_load(&g_metrics.records_routed), TOTAL);
        unsigned char *seen = calloc(TOTAL, 1);
        assert_non_null(seen);
        assert_int_equal(drain_and_check(r, seen, TOTAL), TOTAL);
        free(seen);
        free_router(r);
    }
}

/* RANDOM strategy: the shares hold statistically (5 sigma). */
static void test_random_weights(void **state)
{
    (void)state;
    enum { TOTAL = 100000 };
    static const double w[4] = {4, 3, 2, 1};
    struct hook_count h = {0};
    router_t *r = make_router(1000, 1 << 20, BALANCER_RANDOM, &h);
    analyzer_t *a[4];
    char id[8];
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof id, "r%d", i);
        a[i] = add(r, id, w[i]);
    }
    for (size_t done = 0; done < TOTAL; done += 1000)
        route(r, done, 1000, 24);
    for (int i = 0; i < 4; i++) {
        double p = w[i] / 10, mean = p * TOTAL, sd = sqrt(TOTAL * p * (1 - p));
        if (fabs((double)a[i]->records_routed - mean) > 5 * sd)
            fail_msg("%s: %llu records, expected %.0f +- %.0f", a[i]->spec.id,
                     (unsigned long long)a[i]->records_routed, mean, 5 * sd);
    }
    free_router(r);
}

/* Sealing at batch_max_records: full batches move to ready, hooks count them. */
static void test_seal_records(void **state)
{
    (void)state;
    static const struct {
        uint32_t max_records;
        size_t n;
    } cases[] = {{10, 95}, {1, 5}, {7, 7}, {1000, 999}, {3, 1}};
    for (size_t c = 0; c < N(cases); c++) {
        struct hook_count h = {0};
        router_t *r = make_router(cases[c].max_records, 1 << 20, BALANCER_SWRR, &h);
        analyzer_t *a = add(r, "only", 1);
        size_t mr = cases[c].max_records, n = cases[c].n;
        /* route one record at a time and in one packet: same result */
        route(r, 0, n / 2, 40);
        route(r, n / 2, n - n / 2, 40);
        size_t full = n / mr, rest = n % mr;
        assert_int_equal(h.ready, (int)full);
        assert_int_equal(READY(a).count, full);
        assert_int_equal(h.opened, (int)(full + (rest ? 1 : 0)));
        for (batch_t *b = READY(a).head; b; b = b->next) {
            assert_true(b->sealed);
            assert_int_equal(b->records, mr);
        }
        if (rest) {
            assert_int_equal(a->nopen, 1);
            assert_int_equal(router_open_records(r, a), rest);
        } else {
            assert_int_equal(a->nopen, 0);
        }
        router_seal(r, a);
        assert_int_equal(a->nopen, 0);
        assert_int_equal(h.ready, (int)(full + (rest ? 1 : 0)));
        router_seal(r, a); /* nothing open: no-op */
        assert_int_equal(h.ready, (int)(full + (rest ? 1 : 0)));
        assert_ptr_equal(h.last_ready, a);
        assert_ptr_equal(h.last_opened, a);
        free_router(r);
    }
}

/* Sealing at batch_max_bytes: no batch body exceeds the limit unless a single record
 * does, and no batch was sealed while the next record would still have fitted. */
static void test_seal_bytes(void **state)
{
    (void)state;
    static const struct {
        uint64_t max_bytes;
        size_t rec_len, n;
    } cases[] = {
        {1024, 100, 200},     {1024, 24, 500}, {4096, 1000, 40},
        {1 << 16, 333, 1000}, {1024, 900, 10}, /* one record per batch */
    };
    for (size_t c = 0; c < N(cases); c++) {
        struct hook_count h = {0};
        router_t *r = make_router(1000000, cases[c].max_bytes, BALANCER_SWRR, &h);
        analyzer_t *a = add(r, "a", 1);
        route(r, 0, cases[c].n, cases[c].rec_len);
        router_seal(r, a);
        assert_int_equal(h.opened, h.ready);
        assert_int_equal(READY(a).count, (size_t)h.ready);
        size_t total = 0;
        for (batch_t *b = READY(a).head; b; b = b->next) {
            if (b->len > cases[c].max_bytes)
                fail_msg("case %zu: batch of %zu bytes > batch_max_bytes %llu", c, b->len,
                         (unsigned long long)cases[c].max_bytes);
            if (b->next && b->len + 1 + cases[c].rec_len <= cases[c].max_bytes)
                fail_msg("case %zu: batch sealed at %zu bytes although one more record fitted", c,
                         b->len);
            total += b->records;
        }
        assert_int_equal(total, cases[c].n);
        unsigned char *seen = calloc(cases[c].n, 1);
        assert_non_null(seen);
        assert_int_equal(drain_and_check(r, seen, cases[c].n), cases[c].n);
        free(seen);
        free_router(r);
    }

    /* A record larger than batch_max_bytes travels alone in its own batch. */
    struct hook_count h = {0};
    router_t *r = make_router(1000, 1024, BALANCER_SWRR, &h);
    analyzer_t *a = add(r, "a", 1);
    route(r, 0, 2, 100);
    route(r, 2, 1, 3000);
    route(r, 3, 2, 100);
    router_seal(r, a);
    assert_int_equal(READY(a).count, 3);
    static const uint32_t want[] = {2, 1, 2};
    int k = 0;
    for (batch_t *b = READY(a).head; b; b = b->next, k++)
        assert_int_equal(b->records, want[k]);
    assert_int_equal(h.opened, 3);
    assert_int_equal(h.ready, 3);
    free_router(r);
}

/* A down analyzer gets no records; it gets them again when up; nothing routable when
 * all are down. */
static void test_health(void **state)
{
    (void)state;
    struct hook_count h = {0};
    router_t *r = make_router(1000, 1 << 20, BALANCER_SWRR, &h);
    analyzer_t *a1 = add(r, "a1", 4), *a2 = add(r, "a2", 3), *a3 = add(r, "a3", 2),
               *a4 = add(r, "a4", 1);
    route(r, 0, 1000, 24);
    assert_int_equal(a2->records_routed, 300);

    router_set_eligible(r, a2, false);
    assert_false(a2->eligible);
    uint64_t before[4] = {a1->records_routed, a2->records_routed, a3->records_routed,
                          a4->records_routed};
    route(r, 1000, 7000, 24);
    assert_int_equal(a2->records_routed, before[1]);
    /* the rest share 4:2:1 (within the SWRR prefix bound) */
    assert_true(llabs((long long)(a1->records_routed - before[0]) - 4000) < 3);
    assert_true(llabs((long long)(a3->records_routed - before[2]) - 2000) < 3);
    assert_true(llabs((long long)(a4->records_routed - before[3]) - 1000) < 3);

    router_set_eligible(r, a2, false); /* repeat: no change */
    router_set_eligible(r, a2, true);
    route(r, 8000, 1000, 24);
    assert_true(a2->records_routed > before[1] + 250);

    router_set_eligible(r, a1, false);
    router_set_eligible(r, a2, false);
    router_set_eligible(r, a3, false);
    router_set_eligible(r, a4, false);
    assert_false(router_can_route(r));
    router_set_eligible(r, a4, true);
    assert_true(router_can_route(r));
    uint64_t a4_before = a4->records_routed;
    route(r, 9000, 100, 24);
    assert_int_equal(a4->records_routed, a4_before + 100);
    unsigned char *seen = calloc(9100, 1);
    assert_non_null(seen);
    assert_int_equal(drain_and_check(r, seen, 9100), 9100);
    free(seen);
    free_router(r);
}

/* router_pick_other never returns the excluded analyzer while another is eligible, falls
 * back to it when it is the only eligible one, NULL when none is. */
static void test_pick_other(void **state)
{
    (void)state;
    struct hook_count h = {0};
    router_t *r = make_router(1000, 1 << 20, BALANCER_SWRR, &h);
    analyzer_t *a[4];
    static const double w[4] = {4, 3, 2, 1};
    char id[8];
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof id, "a%d", i);
        a[i] = add(r, id, w[i]);
    }
    for (int ex = 0; ex < 4; ex++) {
        int count[4] = {0};
        for (int k = 0; k < 6000; k++) {
            analyzer_t *x = router_pick_other(r, &no_batch, a[ex]);
            assert_non_null(x);
            assert_ptr_not_equal(x, a[ex]);
            count[x->spec.id[1] - '0']++;
        }
        double rest = 10 - w[ex];
        for (int i = 0; i < 4; i++)
            if (i != ex && fabs(count[i] - 6000 * w[i] / rest) > 4)
                fail_msg("exclude %d: a%d picked %d times, want %.0f", ex, i, count[i],
                         6000 * w[i] / rest);
    }
    assert_non_null(router_pick_other(r, &no_batch, NULL));

    /* only a0 eligible: excluding it falls back to it */
    router_set_eligible(r, a[1], false);
    router_set_eligible(r, a[2], false);
    assert_int_equal(set_weight(r, a[3], 0), 0);
    for (int k = 0; k < 10; k++) {
        assert_ptr_equal(router_pick_other(r, &no_batch, a[0]), a[0]);
        assert_ptr_equal(router_pick_other(r, &no_batch, a[1]), a[0]); /* a down one excluded */
        assert_ptr_equal(router_pick_other(r, &no_batch, a[3]), a[0]);
        assert_ptr_equal(router_pick_other(r, &no_batch, NULL), a[0]);
    }
    /* none eligible */
    router_set_eligible(r, a[0], false);
    assert_null(router_pick_other(r, &no_batch, a[0]));
    assert_null(router_pick_other(r, &no_batch, a[1]));
    assert_null(router_pick_other(r, &no_batch, NULL));
    router_set_eligible(r, a[0], true);
    assert_int_equal(set_weight(r, a[0], 0), 0);
    assert_null(router_pick_other(r, &no_batch, a[0])); /* drained: no fallback either */

    /* excluded analyzer removed: the others are used */
    assert_int_equal(set_weight(r, a[0], 4), 0);
    router_set_eligible(r, a[1], true);
    router_remove(r, a[1]);
    for (int k = 0; k < 10; k++)
        assert_ptr_equal(router_pick_other(r, &no_batch, a[1]), a[0]);
    free_router(r);
}

/* Removal seals the open batch, takes the analyzer out of rotation and out of lookups;
 * the id can be re-used; release unlinks it (head, middle and tail). */
static void test_remove_release(void **state)
{
    (void)state;
    struct hook_count h = {0};
    router_t *r = make_router(1000, 1 << 20, BALANCER_SWRR, &h);
    analyzer_t *a1 = add(r, "a1", 1), *a2 = add(r, "a2", 1), *a3 = add(r, "a3", 1);
    route(r, 0, 30, 24);
    assert_int_equal(a2->records_routed, 10);
    assert_int_equal(a2->nopen, 1);
    int ready_before = h.ready;

    router_remove(r, a2);
    assert_true(a2->removed);
    assert_int_equal(a2->nopen, 0);
    assert_int_equal(READY(a2).count, 1);
    assert_int_equal(READY(a2).head->records, 10);
    assert_true(READY(a2).head->sealed);
    assert_int_equal(h.ready, ready_before + 1);
    assert_ptr_equal(h.last_ready, a2);
    assert_null(router_find(r, "a2"));
    assert_ptr_equal(router_first(r)->next, a2); /* still listed while draining */
    router_remove(r, a2);                        /* idempotent */
    assert_int_equal(h.ready, ready_before + 1);
    assert_true(router_target_share(r, a2) == 0);
    assert_true(router_effective_share(r, a2) == 0);

    route(r, 30, 1000, 24);
    assert_int_equal(a2->records_routed, 10);
    assert_int_equal(a1->records_routed + a3->records_routed, 1020);

    /* the id is free again while the old one drains */
    analyzer_t *a2b = add(r, "a2", 1);
    assert_ptr_not_equal(a2b, a2);
    assert_ptr_equal(router_find(r, "a2"), a2b);

    /* release the middle one (after its batches are gone) */
    release(r, a2);
    assert_ptr_equal(router_first(r), a1);
    assert_ptr_equal(a1->next, a3);
    assert_ptr_equal(a3->next, a2b);

    /* release the tail, then add: the new analyzer must be reachable from the head */
    router_remove(r, a2b);
    release(r, a2b);
    assert_null(a3->next);
    analyzer_t *a4 = add(r, "a4", 1);
    assert_ptr_equal(a3->next, a4);

    /* release the head */
    router_remove(r, a1);
    release(r, a1);
    assert_ptr_equal(router_first(r), a3);
    int n = 0;
    for (analyzer_t *x = router_first(r); x; x = x->next)
        n++;
    assert_int_equal(n, 2);
    uint64_t sum_before = a3->records_routed + a4->records_routed;
    route(r, 1030, 100, 24);
    assert_int_equal(a3->records_routed + a4->records_routed, sum_before + 100);
    assert_true(a4->records_routed >= 49 && a4->records_routed <= 51);
    free_router(r);
}

/* Target share (configured weights of live analyzers) vs effective share (balancer). */
static void test_shares(void **state)
{
    (void)state;
    const double eps = 1e-12;
    struct hook_count h = {0};
    router_t *r = make_router(1000, 1 << 20, BALANCER_SWRR, &h);
    analyzer_t *a[4];
    static const double w[4] = {4, 3, 2, 1};
    char id[8];
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof id, "a%d", i);
        a[i] = add(r, id, w[i]);
    }
    for (int i = 0; i < 4; i++) {
        assert_true(fabs(router_target_share(r, a[i]) - w[i] / 10) < eps);
        assert_true(fabs(router_effective_share(r, a[i]) - w[i] / 10) < eps);
    }
    router_set_eligible(r, a[1], false); /* down: target unchanged, effective 0 */
    assert_true(fabs(router_target_share(r, a[1]) - 0.3) < eps);
    assert_true(router_effective_share(r, a[1]) == 0);
    assert_true(fabs(router_effective_share(r, a[0]) - 4.0 / 7) < eps);
    assert_true(fabs(router_target_share(r, a[0]) - 0.4) < eps);

    assert_int_equal(set_weight(r, a[3], 0), 0); /* drained */
    assert_true(router_target_share(r, a[3]) == 0);
    assert_true(fabs(router_target_share(r, a[0]) - 4.0 / 9) < eps);
    assert_true(fabs(router_effective_share(r, a[0]) - 4.0 / 6) < eps);

    router_remove(r, a[2]);
    assert_true(router_target_share(r, a[2]) == 0);
    assert_true(fabs(router_target_share(r, a[0]) - 4.0 / 7) < eps);
    assert_true(fabs(router_effective_share(r, a[0]) - 1.0) < eps);

    for (int i = 0; i < 4; i++)
        if (i != 2) assert_int_equal(set_weight(r, a[i], 0), 0);
    assert_true(router_target_share(r, a[0]) == 0); /* no NaN when all weights are 0 */
    assert_false(router_can_route(r));
    free_router(r);
}

/* router_set_factor: the balancer runs on weight x factor; a factor of exactly
 * 1 (set, changed and set back) gives the stream of the configured weights;
 * drained stays 0 whatever the factor; target shares keep the configured promise. */
static void test_factor(void **state)
{
    (void)state;
    const double eps = 1e-12;
    static const struct {
        double factor[4];
        double eff[4];
        uint64_t want[4]; /* records of 8000 */
    } cases[] = {
        {{1, 1, 1, 1}, {1, 1, 1, 1}, {2000, 2000, 2000, 2000}},
        {{1, 1, 1, 0.5}, {1, 1, 1, 0.5}, {2286, 2286, 2285, 1143}}, /* 1/3.5 */
        {{0.1, 1, 1, 1}, {0.1, 1, 1, 1}, {258, 2581, 2581, 2580}},
        {{0.5, 0.5, 0.5, 0.5}, {0.5, 0.5, 0.5, 0.5}, {2000, 2000, 2000, 2000}},
    };
    for (size_t c = 0; c < N(cases); c++) {
        struct hook_count h = {0};
        router_t *r = make_router(64, 1 << 20, BALANCER_SWRR, &h);
        analyzer_t *a[4];
        char id[8];
        for (int i = 0; i < 4; i++) {
            snprintf(id, sizeof id, "a%d", i + 1);
            a[i] = add(r, id, 1);
            assert_true(a[i]->factor == 1.0);
            router_set_factor(r, a[i], 0.3); /* moved and back: no trace left */
            router_set_factor(r, a[i], cases[c].factor[i]);
        }
        for (int i = 0; i < 4; i++) {
            assert_true(fabs(router_effective_weight(a[i]) - cases[c].eff[i]) < eps);
            assert_true(fabs(router_target_share(r, a[i]) - 0.25) < eps);
        }
        route(r, 0, 8000, 32);
        for (int i = 0; i < 4; i++)
            if (llabs((long long)a[i]->records_routed - (long long)cases[c].want[i]) > 1)
                fail_msg("case %zu: %s got %llu records, want %llu", c, a[i]->spec.id,
                         (unsigned long long)a[i]->records_routed,
                         (unsigned long long)cases[c].want[i]);
        unsigned char *seen = calloc(8000, 1);
        assert_non_null(seen);
        assert_int_equal(drain_and_check(r, seen, 8000), 8000);
        free(seen);
        free_router(r);
    }
    /* drained: 0 whatever the factor; a bad factor is ignored */
    struct hook_count h = {0};
    router_t *r = make_router(64, 1 << 20, BALANCER_SWRR, &h);
    analyzer_t *x = add(r, "x", 2);
    router_set_factor(r, x, 0.5);
    assert_true(router_effective_weight(x) == 1.0);
    router_set_factor(r, x, -1);
    router_set_factor(r, x, NAN);
    assert_true(x->factor == 0.5);
    analyzer_spec_t s = x->spec;
    s.drained = true;
    assert_int_equal(router_update(r, x, &s), 0);
    assert_true(router_effective_weight(x) == 0);
    s.drained = false;
    assert_int_equal(router_update(r, x, &s), 0);
    assert_true(router_effective_weight(x) == 1.0); /* the factor survives an update */
    free_router(r);
}

/* Finding 5 (issue 9): an allocation fails in the middle of a packet. The
 * router stops at the record it could not place (p->routed), nothing half
 * appended; resuming routes the rest, each record exactly once, in order per
 * analyzer, and durable sequence numbers stay with their records. */
static void test_route_enomem_resume(void **state)
{
    (void)state;
    static const long fail_after[] = {0, 1, 2, 3, 5, 8};
    for (size_t c = 0; c < N(fail_after); c++) {
        struct hook_count h = {0};
        router_t *r = make_router(20, 1 << 20, BALANCER_SWRR, &h);
        add(r, "a1", 1);
        add(r, "a2", 2);
        packet_t *p = make_packet(0, 300, 32);
        p->seqs = calloc(300, sizeof *p->seqs);
        assert_non_null(p->seqs);
        for (size_t i = 0; i < 300; i += 3)
            p->seqs[i] = 1000 + i; /* every third is durable */
        batch_fail_allocs_after(fail_after[c]);
        int rc = router_route_packet(r, p);
        assert_int_equal(rc, -ENOMEM);
        size_t stopped = p->routed;
        assert_true(stopped < 300);
        /* still failing: records may still go to batches already open, never past a hole */
        assert_int_equal(router_route_packet(r, p), -ENOMEM);
        assert_true(p->routed >= stopped && p->routed < 300);
        batch_fail_allocs_after(-1);
        assert_int_equal(router_route_packet(r, p), 0);
        assert_int_equal(p->routed, 300);
        assert_int_equal(router_route_packet(r, p), 0); /* done: nothing routed twice */
        /* every durable record's seq is in the batch holding it */
        uint64_t seqs = 0;
        for (analyzer_t *a = router_first(r); a; a = a->next) {
            router_seal(r, a);
            for (batch_t *b = READY(a).head; b; b = b->next) {
                seqs += b->nseqs;
                for (uint32_t k = 0; k < b->nseqs; k++) {
                    char needle[32];
                    snprintf(needle, sizeof needle, "{\"i\":%llu,",
                             (unsigned long long)(b->seqs[k] - 1000));
                    assert_non_null(memmem(b->buf, b->len, needle, strlen(needle)));
                }
            }
        }
        assert_int_equal(seqs, 100);
        unsigned char seen[300] = {0};
        assert_int_equal(drain_and_check(r, seen, 300), 300);
        packet_free(p);
        free_router(r);
    }
}

/* ---- content routes ------------------------------------------------------------------------ */

/* The delivery layer's side in the route tests: sealed batches of an analyzer go
 * to READY(a); held and no-route batches (a == NULL) to `held`; fan-outs counted. */
struct rt_ctx {
    batch_list_t held;
    uint64_t fanouts, fanout_copies, fanout_seq_sum;
};

static void rt_sealed(void *ctx, analyzer_t *a, batch_t *b)
{
    struct rt_ctx *c = ctx;
    assert_true(b->sealed && b->records > 0);
    assert_int_equal(b->cost, batch_cost(b));
    if (a)
        batch_list_push(&READY(a), b);
    else
        batch_list_push(&c->held, b);
}

static void rt_fanout(void *ctx, uint64_t seq, uint32_t copies)
{
    struct rt_ctx *c = ctx;
    assert_true(seq != 0 && copies >= 2);
    c->fanouts++;
    c->fanout_copies += copies;
    c->fanout_seq_sum += seq;
}

static void set_table(router_t *r, const char *json)
{
    routes_t *t = NULL;
    char err[256] = "";
    if (routes_parse(json, NULL, &t, err, sizeof err)) fail_msg("table: %s", err);
    assert_int_equal(router_set_routes(r, t), 0);
    routes_unref(t);
    assert_ptr_equal(router_routes(r), t);
}

static router_t *make_routed(uint32_t max_records, const char *json, struct rt_ctx *c)
{
    config_t cfg;
    config_defaults(&cfg);
    cfg.batch_max_records = max_records;
    cfg.batch_max_bytes = 1 << 20;
    cfg.strategy = BALANCER_SWRR;
    router_hooks_t hooks = {NULL, rt_sealed, rt_fanout, c};
    router_t *r = router_new(&cfg, &hooks);
    assert_non_null(r);
    if (json) set_table(r, json);
    return r;
}

static void free_routed(router_t *r, struct rt_ctx *c)
{
    batch_t *b;
    while ((b = batch_list_pop(&c->held)))
        batch_free(b);
    free_router(r);
}

/* A packet of records {"i":k,"level":L,"source":S} for k in [first, first+n):
 * level(k) and source(k) give the fields (NULL: left out). seqs: k+1 when
 * durable(k), else 0 (durable NULL: no seqs at all). */
typedef const char *(*field_fn)(size_t k);
typedef int (*durable_fn)(size_t k);

static packet_t *make_content_packet(size_t first, size_t n, field_fn level, field_fn source,
                                     durable_fn durable)
{
    packet_t *p = calloc(1, sizeof *p);
    char *data = malloc(n * 128 + 1);
    if (durable) p->seqs = calloc(n ? n : 1, sizeof *p->seqs);
    assert_true(p && data);
    size_t off = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = first + k;
        int len = snprintf(data + off, 128, "{\"i\":%zu", i);
        const char *l = level ? level(i) : NULL, *src = source ? source(i) : NULL;
        if (l) len += snprintf(data + off + len, 128 - (size_t)len, ",\"level\":\"%s\"", l);
        if (src) len += snprintf(data + off + len, 128 - (size_t)len, ",\"source\":\"%s\"", src);
        len += snprintf(data + off + len, 128 - (size_t)len, "}");
        p->record_bytes += (uint64_t)len;
        if (durable && durable(i)) p->seqs[k] = i + 1;
        off += (size_t)len;
        data[off++] = '\n';
    }
    /* the records as ingest makes them: the real scanner's table (the router reads
     * level/source/type from its slices) */
    scan_result_t res;
    memset(&res, 0, sizeof res);
    assert_int_equal(scan_body(data, off, SCAN_FORMAT_NDJSON, NULL, &res), SCAN_OK);
    assert_int_equal(res.count, n);
    p->records = calloc(n ? n : 1, sizeof *p->records);
    assert_non_null(p->records);
    if (n) memcpy(p->records, res.records, n * sizeof *p->records);
    scan_result_free(&res);
    p->decoded = data;
    p->data = data;
    p->len = off;
    p->count = n;
    return p;
}

static void route_content(router_t *r, size_t first, size_t n, field_fn level, field_fn source,
                          durable_fn durable)
{
    packet_t *p = make_content_packet(first, n, level, source, durable);
    assert_int_equal(router_route_packet(r, p), 0);
    assert_int_equal(p->routed, n);
    packet_free(p);
}

/* What one analyzer (or the held list) got: for every record index, how many
 * times, and from which route; seqs of its batches summed. Frees the batches. */
#define MAXI 20000
struct got {
    unsigned char times[MAXI];
    char route[MAXI][16];
    uint64_t records, seqs, seq_sum;
};

static void collect(batch_list_t *l, struct got *g)
{
    memset(g, 0, sizeof *g);
    batch_t *b;
    while ((b = batch_list_pop(l))) {
        json_t *root = json_loadb(b->buf, b->len, 0, NULL);
        assert_non_null(root);
        json_t *msgs = json_object_get(root, "messages");
        assert_int_equal(json_array_size(msgs), b->records);
        for (size_t k = 0; k < json_array_size(msgs); k++) {
            json_int_t i = json_integer_value(json_object_get(json_array_get(msgs, k), "i"));
            assert_true(i >= 0 && i < MAXI);
            g->times[i]++;
            snprintf(g->route[i], sizeof g->route[i], "%.15s", b->route);
        }
        g->records += b->records;
        g->seqs += b->nseqs;
        for (uint32_t k = 0; k < b->nseqs; k++)
            g->seq_sum += b->seqs[k];
        json_decref(root);
        batch_free(b);
    }
}

static struct got *collect_a(router_t *r, analyzer_t *a)
{
    router_seal(r, a);
    struct got *g = malloc(sizeof *g);
    collect(&READY(a), g);
    return g;
}

static const char *lvl_err2of5(size_t k)
{
    return k % 5 < 2 ? "ERROR" : "INFO";
}
static const char *lvl_err(size_t k)
{
    (void)k;
    return "ERROR";
}
static const char *lvl_info(size_t k)
{
    (void)k;
    return "INFO";
}
static int odd(size_t k)
{
    return (int)(k & 1);
}

static int all_durable(size_t k)
{
    (void)k;
    return 1;
}

static const router_route_stat_t *stat_of(const router_route_stat_t *s, size_t n, const char *name)
{
    for (size_t k = 0; k < n; k++)
        if (!strcmp(s[k].name, name)) return &s[k];
    fail_msg("no route %s in the stats", name);
    return NULL;
}

static const router_member_stat_t *member_of(const router_route_stat_t *s, const char *id)
{
    for (size_t k = 0; k < s->nmembers; k++)
        if (!strcmp(s->members[k].analyzer, id)) return &s->members[k];
    return NULL;
}

/* Per-route weights and per-route SWRR: an ERROR route {a:1,b:3} gets exactly 1:3
 * of the ERROR records, the default route the analyzers' own 5:1:2 of the rest;
 * c never sees an ERROR record; every record once; stats say the same. */
static void test_route_weights(void **state)
{
    (void)state;
    static const struct {
        double w[3];
        const char *table;
        uint64_t want[3]; /* a, b, c totals */
        uint64_t err_a, err_b;
    } cases[] = {
        /* 4000 ERROR -> 1000 a, 3000 b; 6000 INFO -> 3750 a, 750 b, 1500 c */
        {{5, 1, 2},
         "[{\"name\":\"err\",\"match\":{\"level\":\"ERROR\"},\"analyzers\":{\"a\":1,\"b\":3}}]",
         {4750, 3750, 1500},
         1000,
         3000},
        /* null: the analyzer's own weight inside the route (3:1 of 4000 ERROR records);
         * the default route 3:1:4 of 6000 INFO records */
        {{3, 1, 4},
         "[{\"name\":\"err\",\"match\":{\"level\":\"ERROR\"},\"analyzers\":{\"a\":null,\"b\":null}}"
         "]",
         {3000 + 2250, 1000 + 750, 3000},
         3000,
         1000},
    };
    for (size_t c = 0; c < N(cases); c++) {
        struct rt_ctx ctx = {0};
        router_t *r = make_routed(50, cases[c].table, &ctx);
        analyzer_t *a[3] = {add(r, "a", cases[c].w[0]), add(r, "b", cases[c].w[1]),
                            add(r, "c", cases[c].w[2])};
        static const size_t sizes[] = {1, 333, 7, 1000, 59};
        size_t done = 0;
        for (size_t k = 0; done < 10000; k++) {
            size_t n = sizes[k % N(sizes)];
            if (n > 10000 - done) n = 10000 - done;
            route_content(r, done, n, lvl_err2of5, NULL, NULL);
            done += n;
        }
        router_route_stat_t *st;
        size_t ns;
        assert_int_equal(router_route_stats(r, &st, &ns), 0);
        assert_int_equal(ns, 2);
        const router_route_stat_t *e = stat_of(st, ns, "err"), *d = stat_of(st, ns, "default");
        assert_int_equal(e->records, 4000);
        assert_int_equal(d->records, 6000);
        assert_int_equal(e->nmembers, 2);
        assert_null(member_of(e, "c"));
        assert_int_equal(member_of(e, "a")->routed, cases[c].err_a);
        assert_int_equal(member_of(e, "b")->routed, cases[c].err_b);
        double wa = c == 0 ? 1 : cases[c].w[0], wb = c == 0 ? 3 : cases[c].w[1];
        assert_true(fabs(member_of(e, "a")->target_share - wa / (wa + wb)) < 1e-9);
        assert_true(member_of(e, "a")->routable);
        router_route_stats_free(st, ns);
        struct got *g[3];
        for (int i = 0; i < 3; i++) {
            if (a[i]->records_routed != cases[c].want[i])
                fail_msg("case %zu: %s got %llu, want %llu", c, a[i]->spec.id,
                         (unsigned long long)a[i]->records_routed,
                         (unsigned long long)cases[c].want[i]);
            g[i] = collect_a(r, a[i]);
            assert_int_equal(g[i]->records, cases[c].want[i]);
        }
        for (size_t i = 0; i < 10000; i++) {
            int n = g[0]->times[i] + g[1]->times[i] + g[2]->times[i];
            if (n != 1) fail_msg("case %zu: record %zu delivered %d times", c, i, n);
            for (int k = 0; k < 3; k++)
                if (g[k]->times[i])
                    assert_string_equal(g[k]->route[i], i % 5 < 2 ? "err" : "default");
            assert_int_equal(g[2]->times[i] && i % 5 < 2, 0); /* c: no ERROR */
        }
        for (int i = 0; i < 3; i++)
            free(g[i]);
        assert_null(ctx.held.head);
        free_routed(r, &ctx);
    }
}

/* Copy fan-out: every ERROR record reaches "al" as well as its primary pick;
 * where the default route's SWRR picked al itself the copy is skipped (dedup).
 * Durable records that went to 2 batches are reported to the fanout hook. */
static void test_route_copy_dedup(void **state)
{
    (void)state;
    struct rt_ctx ctx = {0};
    router_t *r =
        make_routed(64,
                    "[{\"name\":\"alerts\",\"copy\":true,"
                    "\"match\":{\"level\":[\"ERROR\",\"FATAL\"]},\"analyzers\":[\"al\"]}]",
                    &ctx);
    analyzer_t *a = add(r, "a", 1), *b = add(r, "b", 1), *al = add(r, "al", 1);
    uint64_t copied0 = atomic_load(&g_metrics.records_copied);
    uint64_t dedup0 = atomic_load(&g_metrics.records_copies_deduplicated);
    /* 3000 ERROR (durable when odd), then 3000 INFO */
    route_content(r, 0, 1000, lvl_err, NULL, odd);
    route_content(r, 1000, 2000, lvl_err, NULL, odd);
    route_content(r, 3000, 3000, lvl_info, NULL, odd);
    struct got *ga = collect_a(r, a), *gb = collect_a(r, b), *gl = collect_a(r, al);
    uint64_t prim_al = 0, expect_fanouts = 0, expect_seq_sum = 0;
    for (size_t i = 0; i < 6000; i++) {
        if (i < 3000) {
            if (gl->times[i] != 1)
                fail_msg("ERROR record %zu reached al %d times", i, gl->times[i]);
            int prim = ga->times[i] + gb->times[i];
            assert_true(prim <= 1);
            if (!prim) {
                prim_al++; /* al was the primary pick: one delivery only */
                assert_string_equal(gl->route[i], "default");
            } else {
                assert_string_equal(gl->route[i], "alerts");
                if (i & 1) {
                    expect_fanouts++;
                    expect_seq_sum += i + 1;
                }
            }
        } else {
            assert_int_equal(ga->times[i] + gb->times[i] + gl->times[i], 1);
        }
    }
    assert_int_equal(prim_al, 1000); /* the default route's 1:1:1 over 3000 ERROR records */
    assert_int_equal(atomic_load(&g_metrics.records_copied) - copied0, 2000);
    assert_int_equal(atomic_load(&g_metrics.records_copies_deduplicated) - dedup0, 1000);
    assert_int_equal(ctx.fanouts, expect_fanouts);
    assert_int_equal(ctx.fanout_copies, 2 * expect_fanouts);
    assert_int_equal(ctx.fanout_seq_sum, expect_seq_sum);
    /* every durable record's seq is in every batch it went to */
    assert_int_equal(ga->seqs + gb->seqs + gl->seqs, 3000 + expect_fanouts);
    router_route_stat_t *st;
    size_t ns;
    assert_int_equal(router_route_stats(r, &st, &ns), 0);
    const router_route_stat_t *al_st = stat_of(st, ns, "alerts");
    assert_int_equal(al_st->records, 2000); /* the copies it made; the skipped ones: */
    assert_int_equal(al_st->deduplicated, 1000);
    assert_int_equal(stat_of(st, ns, "default")->records, 6000);
    router_route_stats_free(st, ns);
    free(ga);
    free(gb);
    free(gl);
    free_routed(r, &ctx);
}

/* A route whose analyzers are all down holds its records (sealed with a NULL
 * analyzer, b->route set) while the other routes flow; router_pick_other finds
 * nobody for a held batch until its analyzer is back. With an empty default,
 * unmatched records are handed over as no_route batches. */
static void test_route_held(void **state)
{
    (void)state;
    struct rt_ctx ctx = {0};
    router_t *r = make_routed(100,
                              "[{\"name\":\"err\",\"match\":{\"level\":\"ERROR\"},"
                              "\"analyzers\":[\"x\"]}]",
                              &ctx);
    analyzer_t *x = add(r, "x", 1), *y = add(r, "y", 1);
    router_set_eligible(r, x, false);
    route_content(r, 0, 500, lvl_err2of5, NULL, NULL);
    route_content(r, 500, 500, lvl_err2of5, NULL, NULL);
    struct got *gx = collect_a(r, x), *gy = collect_a(r, y);
    assert_int_equal(gx->records, 0);
    assert_int_equal(gy->records, 600); /* every INFO record, nothing else */
    batch_t *h = ctx.held.head;
    assert_non_null(h);
    assert_string_equal(h->route, "err");
    assert_false(h->no_route);
    assert_null(router_pick_other(r, h, NULL)); /* nobody for it yet */
    assert_true(router_batch_weight(r, h, y) == 0);
    assert_true(router_batch_weight(r, h, x) == 1);
    router_route_stat_t *st;
    size_t ns;
    assert_int_equal(router_route_stats(r, &st, &ns), 0);
    assert_int_equal(stat_of(st, ns, "err")->held, 400);
    assert_false(member_of(stat_of(st, ns, "err"), "x")->routable);
    router_route_stats_free(st, ns);
    router_set_eligible(r, x, true);
    assert_ptr_equal(router_pick_other(r, h, NULL), x);
    assert_ptr_equal(router_pick_other(r, h, x), x); /* the only one: falls back to it */
    struct got gh;
    collect(&ctx.held, &gh);
    assert_int_equal(gh.records, 400);
    for (size_t i = 0; i < 1000; i++)
        assert_int_equal(gh.times[i] + gy->times[i], 1);
    free(gx);
    free(gy);
    /* nobody routable at all: -EAGAIN, nothing routed */
    router_set_eligible(r, x, false);
    router_set_eligible(r, y, false);
    packet_t *p = make_content_packet(1000, 10, lvl_info, NULL, NULL);
    assert_int_equal(router_route_packet(r, p), -EAGAIN);
    assert_int_equal(p->routed, 0);
    packet_free(p);
    free_routed(r, &ctx);

    /* empty default: unmatched records become a no_route batch */
    memset(&ctx, 0, sizeof ctx);
    r = make_routed(100,
                    "[{\"name\":\"err\",\"match\":{\"level\":\"ERROR\"},\"analyzers\":[\"x\"]},"
                    "{\"name\":\"default\",\"analyzers\":{}}]",
                    &ctx);
    x = add(r, "x", 1);
    y = add(r, "y", 1);
    uint64_t nr0 = atomic_load(&g_metrics.records_no_route);
    route_content(r, 0, 100, lvl_err2of5, NULL, NULL);
    assert_int_equal(atomic_load(&g_metrics.records_no_route) - nr0, 60);
    h = ctx.held.head;
    assert_non_null(h);
    assert_true(h->no_route);
    assert_int_equal(h->records, 60);
    gy = collect_a(r, y);
    assert_int_equal(gy->records, 0);
    free(gy);
    free_routed(r, &ctx);
}

/* Retries stay in their route: router_pick_other for a batch of route err
 * {a:1,b:3} never picks c, shares 1:3 when nothing is excluded, the other
 * member when one is; a batch of a route that is gone falls back to default. */
static void test_route_pick_other(void **state)
{
    (void)state;
    struct rt_ctx ctx = {0};
    router_t *r = make_routed(100,
                              "[{\"name\":\"err\",\"match\":{\"level\":\"ERROR\"},"
                              "\"analyzers\":{\"a\":1,\"b\":3}}]",
                              &ctx);
    analyzer_t *a = add(r, "a", 1), *b = add(r, "b", 1), *c = add(r, "c", 100);
    batch_t err_batch;
    memset(&err_batch, 0, sizeof err_batch);
    strcpy(err_batch.route, "err");
    int count[3] = {0};
    for (int k = 0; k < 4000; k++) {
        analyzer_t *p = router_pick_other(r, &err_batch, NULL);
        count[p == a ? 0 : p == b ? 1 : 2]++;
    }
    assert_int_equal(count[2], 0);
    assert_true(abs(count[0] - 1000) <= 2 && abs(count[1] - 3000) <= 2);
    for (int k = 0; k < 100; k++) {
        assert_ptr_equal(router_pick_other(r, &err_batch, a), b);
        assert_ptr_equal(router_pick_other(r, &err_batch, b), a);
    }
    assert_true(router_batch_weight(r, &err_batch, b) == 3);
    assert_true(router_batch_weight(r, &err_batch, c) == 0);
    router_set_eligible(r, b, false);
    assert_ptr_equal(router_pick_other(r, &err_batch, a), a); /* only a left in err */
    router_set_eligible(r, a, false);
    assert_null(router_pick_other(r, &err_batch, a)); /* c is not in err */
    router_set_eligible(r, a, true);
    router_set_eligible(r, b, true);
    /* the route disappears: its batches are retried in the default route */
    set_table(r, "[]");
    memset(count, 0, sizeof count);
    for (int k = 0; k < 1020; k++) {
        analyzer_t *p = router_pick_other(r, &err_batch, NULL);
        count[p == a ? 0 : p == b ? 1 : 2]++;
    }
    assert_true(count[2] >= 990); /* c: 100 of 102 */
    free_routed(r, &ctx);
}

/* A new table seals every open (and held) batch first: each batch belongs to
 * one table's route; records after the swap follow the new table. */
static void test_route_swap(void **state)
{
    (void)state;
    struct rt_ctx ctx = {0};
    router_t *r = make_routed(1000,
                              "[{\"name\":\"err\",\"match\":{\"level\":\"ERROR\"},"
                              "\"analyzers\":[\"a\"]}]",
                              &ctx);
    analyzer_t *a = add(r, "a", 1), *b = add(r, "b", 1);
    route_content(r, 0, 100, lvl_err2of5, NULL, NULL); /* open batches, not full */
    assert_true(a->nopen >= 1);
    uint64_t open_a = router_open_records(r, a), open_b = router_open_records(r, b);
    assert_int_equal(open_a + open_b, 100);
    assert_int_equal(READY(a).count + READY(b).count, 0);
    set_table(r, "[{\"name\":\"info\",\"match\":{\"level\":\"INFO\"},\"analyzers\":[\"b\"]}]");
    assert_int_equal(a->nopen + b->nopen, 0);
    assert_int_equal(router_open_records(r, a) + router_open_records(r, b), 0);
    size_t sealed = READY(a).count + READY(b).count;
    assert_true(sealed >= 2);
    route_content(r, 100, 100, lvl_err2of5, NULL, NULL);
    struct got *ga = collect_a(r, a), *gb = collect_a(r, b);
    for (size_t i = 0; i < 200; i++) {
        assert_int_equal(ga->times[i] + gb->times[i], 1);
        const char *rt = ga->times[i] ? ga->route[i] : gb->route[i];
        bool err = i % 5 < 2;
        if (i < 100) /* old table: ERROR -> err/a, INFO -> default */
            assert_string_equal(rt, err ? "err" : "default");
        else /* new table: INFO -> info/b, ERROR -> default */
            assert_string_equal(rt, err ? "default" : "info");
        if (i < 100 && err) assert_int_equal(ga->times[i], 1);
        if (i >= 100 && !err) assert_int_equal(gb->times[i], 1);
    }
    free(ga);
    free(gb);
    free_routed(r, &ctx);
}

/* Key affinity in the router: every source always lands on one analyzer; a down
 * analyzer's sources move and only those; records without the key are spread by
 * SWRR; stats count by_key. */
static const char *src_of(size_t k)
{
    static char buf[8][16];
    static int turn;
    char *s = buf[turn++ & 7];
    snprintf(s, 16, "src-%zu", k % 200);
    return s;
}
static const char *no_src(size_t k)
{
    (void)k;
    return NULL;
}

static void test_route_affinity(void **state)
{
    (void)state;
    struct rt_ctx ctx = {0};
    router_t *r = make_routed(1000, "[{\"name\":\"default\",\"affinity_key\":\"source\"}]", &ctx);
    analyzer_t *a[3] = {add(r, "a", 1), add(r, "b", 2), add(r, "c", 1)};
    int owner[200], owner2[200];
    for (int pass = 0; pass < 2; pass++) {
        if (pass) router_set_eligible(r, a[1], false);
        route_content(r, (size_t)pass * 4000, 4000, lvl_info, src_of, NULL);
        struct got *g[3];
        for (int i = 0; i < 3; i++)
            g[i] = collect_a(r, a[i]);
        int *own = pass ? owner2 : owner;
        for (int s = 0; s < 200; s++) {
            own[s] = -1;
            for (size_t i = (size_t)pass * 4000 + (size_t)s; i < (size_t)(pass + 1) * 4000;
                 i += 200)
                for (int k = 0; k < 3; k++)
                    if (g[k]->times[i]) {
                        if (own[s] >= 0 && own[s] != k) fail_msg("source %d on two analyzers", s);
                        own[s] = k;
                    }
            assert_true(own[s] >= 0);
        }
        for (int i = 0; i < 3; i++)
            free(g[i]);
    }
    int moved = 0, on_b = 0;
    for (int s = 0; s < 200; s++) {
        on_b += owner[s] == 1;
        if (owner[s] == 1)
            assert_int_not_equal(owner2[s], 1);
        else
            assert_int_equal(owner2[s], owner[s]); /* others stay */
        moved += owner[s] != owner2[s];
    }
    assert_int_equal(moved, on_b);
    assert_true(on_b > 70 && on_b < 130); /* ~ 2/4 of 200 */
    /* records without the key: SWRR over a and c (b still down), exactly 1:1 */
    router_set_eligible(r, a[1], true);
    uint64_t before[3] = {a[0]->records_routed, a[1]->records_routed, a[2]->records_routed};
    route_content(r, 8000, 4000, lvl_info, no_src, NULL);
    assert_int_equal(a[0]->records_routed - before[0], 1000);
    assert_int_equal(a[1]->records_routed - before[1], 2000);
    assert_int_equal(a[2]->records_routed - before[2], 1000);
    router_route_stat_t *st;
    size_t ns;
    assert_int_equal(router_route_stats(r, &st, &ns), 0);
    assert_int_equal(st[0].records, 12000);
    assert_int_equal(st[0].by_key, 8000);
    router_route_stats_free(st, ns);
    free_routed(r, &ctx);
}

/* A record half fanned out when ENOMEM stopped routing keeps its plan when an
 * unrelated analyzer is removed (mode 0) or the table is swapped (mode 1): it
 * reaches each destination once, the fanout hook counts it once, and the
 * records in batches equal what the budget was charged (1 + copies). */
static void pending_survives(int mode)
{
    const char *tbl = "[{\"name\":\"cp\",\"copy\":true,\"match\":{\"level\":\"ERROR\"},"
                      "\"analyzers\":[\"al\"]},{\"name\":\"default\",\"analyzers\":[\"a\"]}]";
    for (long fa = 0; fa < 12; fa++) {
        struct rt_ctx ctx = {0};
        router_t *r = make_routed(64, tbl, &ctx);
        analyzer_t *a = add(r, "a", 1), *al = add(r, "al", 1), *z = add(r, "z", 1);
        packet_t *p = make_content_packet(0, 1, lvl_err, NULL, all_durable);
        batch_fail_allocs_after(fa);
        int rc = router_route_packet(r, p);
        batch_fail_allocs_after(-1);
        bool between = rc == -ENOMEM && router_open_records(r, a) == 1 &&
                       router_open_records(r, al) == 0;
        if (!between) { /* not stopped between the two destinations: next fa */
            if (rc) assert_int_equal(router_route_packet(r, p), 0);
            packet_free(p);
            free_routed(r, &ctx);
            continue;
        }
        if (mode == 0)
            router_remove(r, z);
        else
            set_table(r, tbl);
        assert_int_equal(router_route_packet(r, p), 0);
        router_seal(r, a);
        router_seal(r, al);
        uint64_t recs = 0, copies = 0;
        for (batch_t *b = READY(a).head; b; b = b->next) recs += b->records, copies += b->copies;
        for (batch_t *b = READY(al).head; b; b = b->next) recs += b->records, copies += b->copies;
        assert_int_equal(recs, 1 + copies);
        struct got *ga = collect_a(r, a), *gl = collect_a(r, al);
        assert_int_equal(ga->times[0], 1);
        assert_int_equal(gl->times[0], 1);
        assert_int_equal(ctx.fanouts, 1);
        assert_int_equal(ctx.fanout_copies, ga->seqs + gl->seqs);
        free(ga);
        free(gl);
        packet_free(p);
        free_routed(r, &ctx);
        return;
    }
    fail_msg("no fail_after value stopped between the two destinations");
}

static void test_route_pending_remove(void **state)
{
    (void)state;
    pending_survives(0);
}

static void test_route_pending_swap(void **state)
{
    (void)state;
    pending_survives(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_find),       cmocka_unit_test(test_swrr_weights),
        cmocka_unit_test(test_random_weights), cmocka_unit_test(test_seal_records),
        cmocka_unit_test(test_seal_bytes),     cmocka_unit_test(test_health),
        cmocka_unit_test(test_pick_other),     cmocka_unit_test(test_remove_release),
        cmocka_unit_test(test_shares),         cmocka_unit_test(test_route_enomem_resume),
        cmocka_unit_test(test_route_weights),  cmocka_unit_test(test_route_copy_dedup),
        cmocka_unit_test(test_route_held),     cmocka_unit_test(test_route_pick_other),
        cmocka_unit_test(test_route_swap),     cmocka_unit_test(test_route_affinity),
        cmocka_unit_test(test_factor),         cmocka_unit_test(test_route_pending_remove),
        cmocka_unit_test(test_route_pending_swap),
    };
    return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
