/*
 * test_balancer.c - table-driven cmocka tests for src/route/balancer.c.
 *
 * Each table row becomes one cmocka test per strategy. The tests keep their own
 * model of the slots (weight, up, used) and compare every pick against it:
 *   - SWRR: at every prefix of the stream, |count_i - share_i * picks| < number of
 *     eligible slots (measured from the last change), exact counts whenever picks
 *     is a multiple of the reduced integer weight sum, determinism;
 *   - RANDOM: final counts within 5 sigma (+1) of the binomial mean, seeds matter;
 *   - both: a slot with share 0 (down, weight 0, removed, excluded) is never picked.
 * The maximum SWRR deviation observed for each case is printed.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <assert.h>
#include <stdlib.h>

#include <cmocka.h>

#include "route/balancer.h"

#define MSLOTS 16             /* slots the model tracks (except the MAX_SLOTS test) */
#define SWRR_PICKS 100000L    /* stream length for the SWRR weight tables */
#define RANDOM_PICKS 1000000L /* stream length for the RANDOM weight tables */
#define PHASE0_PICKS 10007L   /* picks before the first change (prime: mid-period state) */
#define SWRR_PHASE 30011L     /* SWRR picks after each mid-stream change */
#define RANDOM_PHASE 200003L  /* RANDOM picks after each mid-stream change */

/* ---- model of the expected configuration ------------------------------------------------ */

/* What the test believes the balancer holds. */
struct model {
    bool used[MSLOTS];
    bool up[MSLOTS];
    double w[MSLOTS];
};

/* Configured share of slot i (0 when not eligible). */
static double model_share(const struct model *m, int i)
{
    double sum = 0;
    for (int j = 0; j < MSLOTS; j++)
        if (m->used[j] && m->up[j]) sum += m->w[j];
    if (!m->used[i] || !m->up[i] || m->w[i] <= 0) return 0;
    return m->w[i] / sum;
}

/* Number of eligible slots. */
static int model_eligible(const struct model *m)
{
    int k = 0;
    for (int j = 0; j < MSLOTS; j++)
        k += m->used[j] && m->up[j] && m->w[j] > 0;
    return k;
}

/* Lowest unused slot index, as balancer_add() must return. */
static int model_free(const struct model *m)
{
    int i = 0;
    while (i < MSLOTS && m->used[i])
        i++;
    return i;
}

/* Create a balancer and model holding weights w[0..n). */
static balancer_t *make(balancer_strategy_t st, uint64_t seed, const double *w, int n,
                        struct model *m)
{
    balancer_t *b = balancer_new(st, seed);
    assert_non_null(b);
    if (m) *m = (struct model){0};
    for (int i = 0; i < n; i++) {
        assert_int_equal(balancer_add(b, w[i]), i);
        if (m) {
            m->used[i] = m->up[i] = true;
            m->w[i] = w[i];
        }
    }
    return b;
}

/* ---- stream checkers ---------------------------------------------------------------------- */

/* Counts of the picks since the last reset, plus the worst deviation seen. */
struct stream {
    long count[MSLOTS];
    long n;
    double maxdev;
};

/* Draw `picks` from b (pick() or, with exclude >= 0, pick_excluding()). Every pick must
 * be a slot with positive share in m. For SWRR, check at every prefix that
 * |count_i - share_i * n| < eligible count and, if period > 0, exact counts at every
 * multiple of period. */
static void run_stream(balancer_t *b, balancer_strategy_t st, const struct model *m, long picks,
                       long period, struct stream *s)
{
    double share[MSLOTS];
    int k = model_eligible(m);
    for (int i = 0; i < MSLOTS; i++)
        share[i] = model_share(m, i);

    for (long p = 0; p < picks; p++) {
        int got = balancer_pick(b);
        if (k == 0) {
            assert_int_equal(got, BALANCER_NONE);
            continue;
        }
        if (got < 0 || got >= MSLOTS || share[got] <= 0)
            fail_msg("pick %ld returned slot %d with share 0", s->n, got);
        s->count[got]++;
        s->n++;
        if (st != BALANCER_SWRR) continue;
        for (int i = 0; i < MSLOTS; i++) {
            if (share[i] <= 0) continue;
            double d = fabs((double)s->count[i] - share[i] * (double)s->n);
            if (d > s->maxdev) s->maxdev = d;
            if (d >= k)
                fail_msg("prefix %ld: slot %d count %ld vs %.3f (dev %.3f >= %d)", s->n, i,
                         s->count[i], share[i] * (double)s->n, d, k);
        }
        if (period > 0 && s->n % period == 0) {
            for (int i = 0; i < MSLOTS; i++) {
                double want = share[i] * (double)s->n;
                if (fabs(want - (double)s->count[i]) > 1e-6)
                    fail_msg("n=%ld: slot %d count %ld, want exactly %.6f", s->n, i, s->count[i],
                             want);
            }
        }
    }
}

/* Final-share check: RANDOM within 5 sigma + 1 of the binomial mean; SWRR within 1e-3. */
static void check_shares(balancer_strategy_t st, const struct model *m, const struct stream *s)
{
    for (int i = 0; i < MSLOTS; i++) {
        double p = model_share(m, i), mean = p * (double)s->n;
        double tol =
            st == BALANCER_SWRR ? 1e-3 * (double)s->n : 5 * sqrt((double)s->n * p * (1 - p)) + 1;
        if (fabs((double)s->count[i] - mean) > tol)
            fail_msg("slot %d: %ld picks of %ld, expected %.1f +- %.1f", i, s->count[i], s->n, mean,
                     tol);
    }
}

/* ---- weight tables ------------------------------------------------------------------------ */

/* A weight table; period = reduced integer weight sum (0: ratios not exact integers). */
struct wcase {
    const char *name;
    int n;
    double w[8];
    long period;
};

static const struct wcase wcases[] = {
    {"{1}", 1, {1}, 1},
    {"{1,1}", 2, {1, 1}, 2},
    {"{4,3,2,1}", 4, {4, 3, 2, 1}, 10},
    {"{0.4,0.3,0.2,0.1}", 4, {0.4, 0.3, 0.2, 0.1}, 10},
    {"{1000,1}", 2, {1000, 1}, 1001},
    {"{0,1,1}", 3, {0, 1, 1}, 2},
    {"{1e-9,1}", 2, {1e-9, 1}, 0},
    {"{3,3,3}", 3, {3, 3, 3}, 3},
};

/* SWRR over one weight table: prefix bound, exact periods, determinism. */
static void test_swrr_table(void **state)
{
    const struct wcase *c = *state;
    struct model m;
    struct stream s = {0};
    balancer_t *b = make(BALANCER_SWRR, 1, c->w, c->n, &m);
    balancer_t *twin = make(BALANCER_SWRR, 99, c->w, c->n, NULL);
    balancer_t *ref = make(BALANCER_SWRR, 1, c->w, c->n, NULL);

    run_stream(b, BALANCER_SWRR, &m, SWRR_PICKS, c->period, &s);
    check_shares(BALANCER_SWRR, &m, &s);
    for (long p = 0; p < SWRR_PICKS; p++) { /* the seed does not matter for SWRR */
        int x = balancer_pick(twin);
        assert_int_equal(x, balancer_pick(ref));
    }
    print_message("    swrr %-20s max prefix deviation %.4f (eligible %d)\n", c->name, s.maxdev,
                  model_eligible(&m));
    balancer_free(b);
    balancer_free(twin);
    balancer_free(ref);
}

/* RANDOM over one weight table: binomial tolerance, same seed same stream, seeds differ. */
static void test_random_table(void **state)
{
    const struct wcase *c = *state;
    struct model m;
    struct stream s = {0};
    balancer_t *b = make(BALANCER_RANDOM, 12345, c->w, c->n, &m);

    run_stream(b, BALANCER_RANDOM, &m, RANDOM_PICKS, 0, &s);
    check_shares(BALANCER_RANDOM, &m, &s);

    balancer_t *x = make(BALANCER_RANDOM, 7, c->w, c->n, NULL);
    balancer_t *y = make(BALANCER_RANDOM, 7, c->w, c->n, NULL);
    balancer_t *z = make(BALANCER_RANDOM, 8, c->w, c->n, NULL);
    int diff = 0;
    for (int p = 0; p < 10000; p++) {
        int a = balancer_pick(x);
        assert_int_equal(a, balancer_pick(y));
        diff += a != balancer_pick(z);
    }
    if (model_eligible(&m) >= 2 && c->period > 0) /* two real choices: seeds must matter */
        assert_true(diff > 0);
    balancer_free(b);
    balancer_free(x);
    balancer_free(y);
    balancer_free(z);
}

/* Known SWRR sequences (nginx's examples); ties go to the lowest slot index. */
static void test_swrr_sequences(void **state)
{
    static const struct {
        int n;
        double w[4];
        int len;
        int seq[10];
    } seqs[] = {
        {3, {5, 1, 1}, 7, {0, 0, 1, 0, 2, 0, 0}},
        {3, {1, 1, 1}, 6, {0, 1, 2, 0, 1, 2}},
        {2, {2, 1}, 6, {0, 1, 0, 0, 1, 0}},
        {4, {4, 3, 2, 1}, 10, {0, 1, 2, 0, 1, 3, 0, 2, 1, 0}},
        {3, {0.5, 0.5, 0}, 4, {0, 1, 0, 1}},
    };
    (void)state;
    for (size_t c = 0; c < sizeof seqs / sizeof seqs[0]; c++) {
        balancer_t *b = make(BALANCER_SWRR, 0, seqs[c].w, seqs[c].n, NULL);
        for (int round = 0; round < 3; round++)
            for (int i = 0; i < seqs[c].len; i++)
                assert_int_equal(balancer_pick(b), seqs[c].seq[i]);
        balancer_free(b);
    }
}

/* Adding a slot and removing it again before any pick leaves the other slots' state
 * intact: the stream continues exactly like an untouched twin's (tables chosen so the
 * integer rescaling is exact both ways). */
static void test_transparent_add_remove(void **state)
{
    balancer_strategy_t st = (balancer_strategy_t)(intptr_t)*state;
    static const struct {
        int n;
        double w[4];
        double extra;
    } cases[] = {
        {2, {1, 1}, 2},
        {4, {4, 3, 2, 1}, 10},
        {3, {3, 3, 3}, 3},
        {2, {1000, 1}, 1001},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        balancer_t *a = make(st, 4, cases[c].w, cases[c].n, NULL);
        balancer_t *b = make(st, 4, cases[c].w, cases[c].n, NULL);
        for (int p = 0; p < 10007; p++)
            assert_int_equal(balancer_pick(a), balancer_pick(b));
        assert_int_equal(balancer_add(a, cases[c].extra), cases[c].n);
        assert_int_equal(balancer_remove(a, cases[c].n), 0);
        for (int p = 0; p < 10007; p++)
            assert_int_equal(balancer_pick(a), balancer_pick(b));
        balancer_free(a);
        balancer_free(b);
    }
}

/* ---- mid-stream scenarios ----------------------------------------------------------------- */

enum op_kind { OP_END = 0, OP_ADD, OP_REMOVE, OP_DOWN, OP_UP, OP_WEIGHT };

/* One configuration change; for OP_ADD, slot is the index balancer_add() must return. */
struct op {
    enum op_kind kind;
    int slot;
    double w;
};

/* Initial weights, PHASE0_PICKS picks, then each op followed by a phase of picks. */
struct scenario {
    const char *name;
    int n;
    double w[8];
    struct op ops[6];
};

static const struct scenario scenarios[] = {
    {"add", 4, {4, 3, 2, 1}, {{OP_ADD, 4, 5}}},
    {"remove", 4, {4, 3, 2, 1}, {{OP_REMOVE, 1, 0}, {OP_REMOVE, 0, 0}}},
    {"down_up", 4, {4, 3, 2, 1}, {{OP_DOWN, 2, 0}, {OP_UP, 2, 0}}},
    {"drain", 4, {4, 3, 2, 1}, {{OP_WEIGHT, 0, 0}, {OP_WEIGHT, 0, 4}}},
    {"reweight", 4, {4, 3, 2, 1}, {{OP_WEIGHT, 1, 10}, {OP_WEIGHT, 3, 0.5}, {OP_WEIGHT, 2, 2}}},
    {"scale_jump", 2, {1, 1}, {{OP_ADD, 2, 1000}, {OP_REMOVE, 2, 0}, {OP_WEIGHT, 0, 1e-9}}},
    {"down_to_one", 3, {1, 2, 3}, {{OP_DOWN, 0, 0}, {OP_DOWN, 1, 0}, {OP_UP, 0, 0}}},
    {"reuse", 3, {1, 1, 1}, {{OP_REMOVE, 1, 0}, {OP_ADD, 1, 3}}},
    {"decimal", 4, {0.4, 0.3, 0.2, 0.1}, {{OP_WEIGHT, 3, 0.7}, {OP_ADD, 4, 0.25}}},
};

/* Apply op to balancer and model, asserting the balancer accepts it. */
static void apply_op(balancer_t *b, struct model *m, const struct op *o)
{
    switch (o->kind) {
    case OP_ADD:
        assert_int_equal(balancer_add(b, o->w), o->slot);
        m->used[o->slot] = m->up[o->slot] = true;
        m->w[o->slot] = o->w;
        break;
    case OP_REMOVE:
        assert_int_equal(balancer_remove(b, o->slot), 0);
        m->used[o->slot] = false;
        break;
    case OP_DOWN:
    case OP_UP:
        assert_int_equal(balancer_set_up(b, o->slot, o->kind == OP_UP), 0);
        m->up[o->slot] = o->kind == OP_UP;
        break;
    case OP_WEIGHT:
        assert_int_equal(balancer_set_weight(b, o->slot, o->w), 0);
        m->w[o->slot] = o->w;
        break;
    case OP_END:
        break;
    }
}

/* Parameters of one scenario test: which strategy, which scenario. */
struct scen_param {
    balancer_strategy_t st;
    const struct scenario *sc;
};

/* Run one scenario; after each change, measure from the change. */
static void test_scenario(void **state)
{
    const struct scen_param *prm = *state;
    const struct scenario *sc = prm->sc;
    long phase = prm->st == BALANCER_SWRR ? SWRR_PHASE : RANDOM_PHASE;
    struct model m;
    struct stream s = {0};
    balancer_t *b = make(prm->st, 42, sc->w, sc->n, &m);
    double worst = 0;

    run_stream(b, prm->st, &m, PHASE0_PICKS, 0, &s);
    worst = s.maxdev;
    for (const struct op *o = sc->ops; o->kind != OP_END; o++) {
        apply_op(b, &m, o);
        assert_int_equal(balancer_eligible_count(b), model_eligible(&m));
        s = (struct stream){0};
        run_stream(b, prm->st, &m, phase, 0, &s);
        check_shares(prm->st, &m, &s);
        if (s.maxdev > worst) worst = s.maxdev;
    }
    if (prm->st == BALANCER_SWRR)
        print_message("    swrr scenario %-12s max deviation since change %.4f\n", sc->name, worst);
    balancer_free(b);
}

/* Random changes interleaved with short pick runs; the SWRR bound must hold after each. */
static void test_swrr_churn(void **state)
{
    static const double weights[] = {0, 1e-6, 0.1, 1, 1, 2.5, 3, 7, 1000};
    uint64_t r = 0x1234567;
    struct model m = {0};
    balancer_t *b = balancer_new(BALANCER_SWRR, 0);
    double worst = 0;
    (void)state;
    assert_non_null(b);

    for (int iter = 0; iter < 20000; iter++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t x = (uint32_t)(r >> 33);
        int slot = (int)(x % 12);
        double w = weights[(x >> 8) % (sizeof weights / sizeof weights[0])];
        struct op o = {OP_END, slot, w};
        switch ((x >> 16) % 5) {
        case 0:
            if (model_free(&m) < 12) o = (struct op){OP_ADD, model_free(&m), w};
            break;
        case 1:
            if (m.used[slot]) o.kind = OP_REMOVE;
            break;
        case 2:
            if (m.used[slot]) o.kind = m.up[slot] ? OP_DOWN : OP_UP;
            break;
        default:
            if (m.used[slot]) o.kind = OP_WEIGHT;
            break;
        }
        apply_op(b, &m, &o);
        struct stream s = {0};
        run_stream(b, BALANCER_SWRR, &m, 1 + (x >> 20) % 64, 0, &s);
        if (s.maxdev > worst) worst = s.maxdev;
    }
    print_message("    swrr churn: max deviation since change %.4f\n", worst);
    balancer_free(b);
}

/* ---- pick_excluding ----------------------------------------------------------------------- */

/* Excluding slot 0 of {4,3,2,1}: never 0, the others share 3:2:1; afterwards the
 * ordinary stream is still fair. Invalid or ineligible excludes change nothing. */
static void test_excluding(void **state)
{
    balancer_strategy_t st = (balancer_strategy_t)(intptr_t)*state;
    const double w[] = {4, 3, 2, 1};
    struct model m;
    balancer_t *b = make(st, 5, w, 4, &m);
    long count[4] = {0};
    const long n = 300000;

    for (long p = 0; p < n; p++) {
        int s = balancer_pick_excluding(b, 0);
        assert_true(s >= 1 && s <= 3);
        count[s]++;
    }
    for (int i = 1; i < 4; i++) {
        double p = w[i] / 6.0, tol = st == BALANCER_SWRR ? 3 : 5 * sqrt(n * p * (1 - p)) + 1;
        assert_true(fabs((double)count[i] - p * (double)n) <= tol);
    }
    /* After the exclusion window, the ordinary stream converges again. */
    struct stream s = {0};
    run_stream(b, st, &m, 100000, 0, &s);
    check_shares(st, &m, &s);

    /* Exclude values that are not eligible slots: same stream as plain pick(). */
    balancer_t *t = make(st, 5, w, 4, NULL);
    balancer_t *u = make(st, 5, w, 4, NULL);
    assert_int_equal(balancer_set_up(t, 3, false), 0);
    assert_int_equal(balancer_set_up(u, 3, false), 0);
    const int bogus[] = {-1, 3, 4, 1023, 1024, 99999};
    for (int p = 0; p < 6000; p++)
        assert_int_equal(balancer_pick_excluding(t, bogus[p % 6]), balancer_pick(u));
    balancer_free(b);
    balancer_free(t);
    balancer_free(u);
}

/* pick_excluding() returns NONE when the excluded slot is the only eligible one. */
static void test_excluding_only(void **state)
{
    balancer_strategy_t st = (balancer_strategy_t)(intptr_t)*state;
    const double w1[] = {1}, w2[] = {0, 1}, w3[] = {1, 1};
    balancer_t *b = make(st, 1, w1, 1, NULL);
    assert_int_equal(balancer_pick_excluding(b, 0), BALANCER_NONE);
    assert_int_equal(balancer_pick(b), 0);
    balancer_free(b);

    b = make(st, 1, w2, 2, NULL);
    assert_int_equal(balancer_pick_excluding(b, 1), BALANCER_NONE);
    assert_int_equal(balancer_pick_excluding(b, 0), 1);
    balancer_free(b);

    b = make(st, 1, w3, 2, NULL);
    assert_int_equal(balancer_set_up(b, 0, false), 0);
    assert_int_equal(balancer_pick_excluding(b, 1), BALANCER_NONE);
    for (int p = 0; p < 10; p++)
        assert_int_equal(balancer_pick_excluding(b, 0), 1);
    assert_int_equal(balancer_set_up(b, 0, true), 0);
    for (int p = 0; p < 10; p++)
        assert_int_equal(balancer_pick_excluding(b, 1), 0);
    balancer_free(b);
}

/* ---- edge cases --------------------------------------------------------------------------- */

/* No slots, all down, all weights 0: BALANCER_NONE; recovery when one comes back. */
static void test_none(void **state)
{
    balancer_strategy_t st = (balancer_strategy_t)(intptr_t)*state;
    balancer_t *b = balancer_new(st, 3);
    assert_non_null(b);
    assert_int_equal(balancer_pick(b), BALANCER_NONE);
    assert_int_equal(balancer_pick_excluding(b, 0), BALANCER_NONE);
    assert_int_equal(balancer_eligible_count(b), 0);

    const double w[] = {1, 2, 3};
    for (int i = 0; i < 3; i++)
        assert_int_equal(balancer_add(b, w[i]), i);
    for (int i = 0; i < 3; i++)
        assert_int_equal(balancer_set_up(b, i, false), 0);
    assert_int_equal(balancer_eligible_count(b), 0);
    assert_int_equal(balancer_pick(b), BALANCER_NONE);
    assert_int_equal(balancer_pick_excluding(b, 1), BALANCER_NONE);
    assert_int_equal(balancer_set_up(b, 1, true), 0);
    for (int p = 0; p < 5; p++)
        assert_int_equal(balancer_pick(b), 1);
    balancer_free(b);

    const double z[] = {0, 0, 0};
    b = make(st, 3, z, 3, NULL);
    assert_int_equal(balancer_eligible_count(b), 0);
    assert_int_equal(balancer_pick(b), BALANCER_NONE);
    assert_int_equal(balancer_set_weight(b, 2, 0.5), 0);
    assert_int_equal(balancer_pick(b), 2);
    assert_int_equal(balancer_set_weight(b, 2, 0), 0);
    assert_int_equal(balancer_pick(b), BALANCER_NONE);
    balancer_free(b);
}

/* Invalid weights give -EINVAL, unknown slots -ENOENT; nothing changes on error. */
static void test_errors(void **state)
{
    balancer_strategy_t st = (balancer_strategy_t)(intptr_t)*state;
    const double bad[] = {NAN, -NAN, INFINITY, -INFINITY, -1, -DBL_MIN};
    const double w[] = {1, 1};
    balancer_t *b = make(st, 1, w, 2, NULL);

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(balancer_add(b, bad[i]), -EINVAL);
        assert_int_equal(balancer_set_weight(b, 0, bad[i]), -EINVAL);
        assert_int_equal(balancer_set_weight(b, 7, bad[i]), -ENOENT);
    }
    assert_int_equal(balancer_eligible_count(b), 2);
    assert_true(fabs(balancer_share(b, 0) - 0.5) < 1e-15);

    const int unknown[] = {-1, 2, 3, 1023, 1024, 1 << 30};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_int_equal(balancer_remove(b, unknown[i]), -ENOENT);
        assert_int_equal(balancer_set_weight(b, unknown[i], 1), -ENOENT);
        assert_int_equal(balancer_set_up(b, unknown[i], true), -ENOENT);
        assert_true(balancer_share(b, unknown[i]) == 0.0);
    }
    assert_int_equal(balancer_remove(b, 1), 0);
    assert_int_equal(balancer_remove(b, 1), -ENOENT);
    assert_int_equal(balancer_set_up(b, 1, true), -ENOENT);
    assert_int_equal(balancer_add(b, -0.0), 1); /* -0.0 is a valid zero weight */
    assert_int_equal(balancer_eligible_count(b), 1);
    assert_null(balancer_new((balancer_strategy_t)7, 0));
    balancer_free(NULL);
    balancer_free(b);
}

/* Freed indexes are reused (lowest first) and the reused slot starts fresh. */
static void test_reuse(void **state)
{
    balancer_strategy_t st = (balancer_strategy_t)(intptr_t)*state;
    const double w[] = {1, 1, 1, 1};
    balancer_t *b = make(st, 1, w, 4, NULL);

    assert_int_equal(balancer_set_up(b, 1, false), 0);
    assert_int_equal(balancer_remove(b, 1), 0);
    assert_int_equal(balancer_remove(b, 3), 0);
    assert_int_equal(balancer_add(b, 2), 1);
    assert_true(fabs(balancer_share(b, 1) - 0.5) < 1e-15); /* up again, weight 2 */
    assert_int_equal(balancer_add(b, 4), 3);
    assert_int_equal(balancer_add(b, 1), 4);
    assert_int_equal(balancer_eligible_count(b), 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(balancer_remove(b, i), 0);
    assert_int_equal(balancer_pick(b), BALANCER_NONE);
    assert_int_equal(balancer_add(b, 1), 0);
    assert_int_equal(balancer_pick(b), 0);
    balancer_free(b);
}

/* Exactly BALANCER_MAX_SLOTS slots fit; picks cover them all fairly. */
static void test_max_slots(void **state)
{
    balancer_strategy_t st = (balancer_strategy_t)(intptr_t)*state;
    balancer_t *b = balancer_new(st, 9);
    static long count[BALANCER_MAX_SLOTS];
    assert_non_null(b);

    for (int i = 0; i < BALANCER_MAX_SLOTS; i++)
        assert_int_equal(balancer_add(b, 1), i);
    assert_int_equal(balancer_add(b, 1), -ENOSPC);
    assert_int_equal(balancer_eligible_count(b), BALANCER_MAX_SLOTS);
    assert_int_equal(balancer_remove(b, 500), 0);
    assert_int_equal(balancer_add(b, 1), 500);
    assert_int_equal(balancer_add(b, 1), -ENOSPC);

    long rounds = st == BALANCER_SWRR ? 3 : 1000;
    long picks = rounds * BALANCER_MAX_SLOTS;
    for (int i = 0; i < BALANCER_MAX_SLOTS; i++)
        count[i] = 0;
    for (long p = 0; p < picks; p++) {
        int s = balancer_pick(b);
        assert_true(s >= 0 && s < BALANCER_MAX_SLOTS);
        count[s]++;
    }
    double sd = sqrt((double)rounds * (1 - 1.0 / BALANCER_MAX_SLOTS));
    for (int i = 0; i < BALANCER_MAX_SLOTS; i++) {
        if (st == BALANCER_SWRR)
            assert_int_equal(count[i], rounds);
        else if (fabs((double)count[i] - (double)rounds) > 5 * sd + 1)
            fail_msg("slot %d: %ld picks, expected %ld", i, count[i], rounds);
    }
    assert_true(fabs(balancer_share(b, 1023) - 1.0 / BALANCER_MAX_SLOTS) < 1e-15);
    for (int p = 0; p < 20000; p++) /* > 8 slots: binary-search path for RANDOM */
        assert_int_not_equal(balancer_pick_excluding(b, 7 + p % 2), 7 + p % 2);
    balancer_free(b);
}

/* balancer_share(): configured shares of the eligible slots, 0 otherwise. */
static void test_share(void **state)
{
    balancer_strategy_t st = (balancer_strategy_t)(intptr_t)*state;
    const double w[] = {4, 3, 2, 1};
    balancer_t *b = make(st, 1, w, 4, NULL);
    const double eps = 1e-15;

    for (int i = 0; i < 4; i++)
        assert_true(fabs(balancer_share(b, i) - w[i] / 10) < eps);
    assert_int_equal(balancer_set_up(b, 0, false), 0);
    assert_true(balancer_share(b, 0) == 0.0);
    assert_true(fabs(balancer_share(b, 1) - 0.5) < eps);
    assert_int_equal(balancer_set_weight(b, 3, 0), 0);
    assert_true(balancer_share(b, 3) == 0.0);
    assert_true(fabs(balancer_share(b, 1) - 0.6) < eps);
    assert_true(fabs(balancer_share(b, 2) - 0.4) < eps);
    assert_int_equal(balancer_remove(b, 2), 0);
    assert_true(balancer_share(b, 1) == 1.0);
    assert_true(balancer_share(b, 2) == 0.0);
    balancer_free(b);

    /* Extreme magnitudes: no overflow, no zero scaled weight. */
    const double big[] = {DBL_MAX, DBL_MAX, 1};
    b = make(st, 1, big, 3, NULL);
    assert_true(fabs(balancer_share(b, 0) - 0.5) < eps);
    assert_true(balancer_share(b, 2) > 0 && balancer_share(b, 2) < 1e-307);
    for (int p = 0; p < 1000; p++)
        assert_true(balancer_pick(b) >= 0);
    balancer_free(b);
}

/* Repeating the current state (same weight, up again) does not disturb the stream. */
static void test_noop_changes(void **state)
{
    balancer_strategy_t st = (balancer_strategy_t)(intptr_t)*state;
    const double w[] = {5, 3, 1};
    balancer_t *a = make(st, 2, w, 3, NULL);
    balancer_t *b = make(st, 2, w, 3, NULL);

    for (int p = 0; p < 1000; p++) {
        if (p % 7 == 0) {
            assert_int_equal(balancer_set_up(a, p % 3, true), 0);
            assert_int_equal(balancer_set_weight(a, p % 3, w[p % 3]), 0);
        }
        assert_int_equal(balancer_pick(a), balancer_pick(b));
    }
    balancer_free(a);
    balancer_free(b);
}

/* ---- registration ------------------------------------------------------------------------- */

#define NW (sizeof wcases / sizeof wcases[0])
#define NS (sizeof scenarios / sizeof scenarios[0])
#define MAX_TESTS 128

static struct CMUnitTest tests[MAX_TESTS];
static char test_names[MAX_TESTS][64];
static size_t ntests;

/* Register one test named "<prefix> <suffix>" with initial state `st`. */
static void reg(const char *prefix, const char *suffix, CMUnitTestFunction fn, void *st)
{
    assert(ntests < MAX_TESTS);
    snprintf(test_names[ntests], sizeof test_names[ntests], "%s %s", prefix, suffix);
    tests[ntests] = (struct CMUnitTest){test_names[ntests], fn, NULL, NULL, st};
    ntests++;
}

int main(void)
{
    static const struct {
        const char *name;
        CMUnitTestFunction fn;
    } per_strategy[] = {
        {"excluding", test_excluding},
        {"excluding_only", test_excluding_only},
        {"none", test_none},
        {"errors", test_errors},
        {"reuse", test_reuse},
        {"max_slots", test_max_slots},
        {"share", test_share},
        {"noop_changes", test_noop_changes},
        {"transparent_add_remove", test_transparent_add_remove},
    };
    static const char *st_name[] = {"swrr", "random"};
    static struct scen_param sp[2 * NS];

    for (size_t i = 0; i < NW; i++) {
        reg("swrr_table", wcases[i].name, test_swrr_table, (void *)&wcases[i]);
        reg("random_table", wcases[i].name, test_random_table, (void *)&wcases[i]);
    }
    for (size_t i = 0; i < NS; i++) {
        for (int s = 0; s < 2; s++) {
            sp[2 * i + s] = (struct scen_param){(balancer_strategy_t)s, &scenarios[i]};
            reg(s ? "random_scenario" : "swrr_scenario", scenarios[i].name, test_scenario,
                &sp[2 * i + s]);
        }
    }
    for (size_t i = 0; i < sizeof per_strategy / sizeof per_strategy[0]; i++)
        for (int s = 0; s < 2; s++)
            reg(st_name[s], per_strategy[i].name, per_strategy[i].fn, (void *)(intptr_t)s);
    reg("swrr", "sequences", test_swrr_sequences, NULL);
    reg("swrr", "churn", test_swrr_churn, NULL);
    return _cmocka_run_group_tests("balancer", tests, ntests, NULL, NULL);
}
