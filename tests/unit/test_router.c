/*
 * test_router.c - cmocka tests for src/route/router.c with a real balancer:
 * analyzer registration (duplicates, bad weights), per-record routing of hand-built
 * packets (SWRR 4:3:2:1 exact over 10,000 records, every record delivered once, in
 * order, byte for byte), batch sealing at batch_max_records and batch_max_bytes with
 * the batch_opened/batch_ready hooks counted, health, router_pick_other, removal and
 * release, target and effective shares.
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
#include "route/router.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

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
    assert_non_null(a->open);
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
    while ((b = batch_list_pop(&READY(a)))) batch_free(b);
    free(a->user);
}

static void free_router(router_t *r)
{
    for (analyzer_t *a = router_first(r); a; a = a->next) free_ready(a);
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
    router_hooks_t hooks = {on_opened, on_ready, h};
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
            assert_non_null(a->open);
            assert_false(a->open->sealed);
            assert_int_equal(a->open->records, rest);
        } else {
            assert_null(a->open);
        }
        router_seal(r, a);
        assert_null(a->open);
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
        {1024, 100, 200}, {1024, 24, 500}, {4096, 1000, 40}, {1 << 16, 333, 1000},
        {1024, 900, 10},  /* one record per batch */
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
                fail_msg("case %zu: batch sealed at %zu bytes although one more record fitted",
                         c, b->len);
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
            analyzer_t *x = router_pick_other(r, a[ex]);
            assert_non_null(x);
            assert_ptr_not_equal(x, a[ex]);
            count[x->slot]++;
        }
        double rest = 10 - w[ex];
        for (int i = 0; i < 4; i++)
            if (i != ex && fabs(count[i] - 6000 * w[i] / rest) > 4)
                fail_msg("exclude %d: a%d picked %d times, want %.0f", ex, i, count[i],
                         6000 * w[i] / rest);
    }
    assert_non_null(router_pick_other(r, NULL));

    /* only a0 eligible: excluding it falls back to it */
    router_set_eligible(r, a[1], false);
    router_set_eligible(r, a[2], false);
    assert_int_equal(set_weight(r, a[3], 0), 0);
    for (int k = 0; k < 10; k++) {
        assert_ptr_equal(router_pick_other(r, a[0]), a[0]);
        assert_ptr_equal(router_pick_other(r, a[1]), a[0]); /* a down one excluded */
        assert_ptr_equal(router_pick_other(r, a[3]), a[0]);
        assert_ptr_equal(router_pick_other(r, NULL), a[0]);
    }
    /* none eligible */
    router_set_eligible(r, a[0], false);
    assert_null(router_pick_other(r, a[0]));
    assert_null(router_pick_other(r, a[1]));
    assert_null(router_pick_other(r, NULL));
    router_set_eligible(r, a[0], true);
    assert_int_equal(set_weight(r, a[0], 0), 0);
    assert_null(router_pick_other(r, a[0])); /* drained: no fallback either */

    /* excluded analyzer removed: the others are used */
    assert_int_equal(set_weight(r, a[0], 4), 0);
    router_set_eligible(r, a[1], true);
    router_remove(r, a[1]);
    for (int k = 0; k < 10; k++)
        assert_ptr_equal(router_pick_other(r, a[1]), a[0]);
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
    assert_non_null(a2->open);
    int ready_before = h.ready;

    router_remove(r, a2);
    assert_true(a2->removed);
    assert_null(a2->open);
    assert_int_equal(READY(a2).count, 1);
    assert_int_equal(READY(a2).head->records, 10);
    assert_true(READY(a2).head->sealed);
    assert_int_equal(h.ready, ready_before + 1);
    assert_ptr_equal(h.last_ready, a2);
    assert_null(router_find(r, "a2"));
    assert_ptr_equal(router_first(r)->next, a2); /* still listed while draining */
    router_remove(r, a2);                         /* idempotent */
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
    for (analyzer_t *x = router_first(r); x; x = x->next) n++;
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
        for (size_t i = 0; i < 300; i += 3) p->seqs[i] = 1000 + i; /* every third is durable */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_find),       cmocka_unit_test(test_swrr_weights),
        cmocka_unit_test(test_random_weights), cmocka_unit_test(test_seal_records),
        cmocka_unit_test(test_seal_bytes),     cmocka_unit_test(test_health),
        cmocka_unit_test(test_pick_other),     cmocka_unit_test(test_remove_release),
        cmocka_unit_test(test_shares),         cmocka_unit_test(test_route_enomem_resume),
        cmocka_unit_test(test_factor),
    };
    return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
