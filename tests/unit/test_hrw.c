/*
 * test_hrw.c - cmocka tests for src/route/hrw.c (weighted rendezvous hashing, bounded load).
 *
 *   - determinism: hrw_hash of fixed strings and the picks of 16 fixed keys over 4 fixed
 *     member ids are pinned; the expected values were computed by an independent Python
 *     re-implementation of the documented hash (tests/unit/hrw_ref.py: xxHash64-style
 *     rounds, fmix64), so a change of the hash, the mix or the score fails here (a change
 *     moves keys on upgrade);
 *   - shares: 100000 keys over weights 4:3:2:1 (and 1:1:1:1:1:1:1:1, 100:10:1) land within
 *     5 binomial sigmas of w_i/W; the max relative error and |z| are printed;
 *   - adding a member of weight w moves ~w/(W+w) of the keys (5 sigmas), every one of them
 *     to the new member; removing one moves exactly its own keys, each to its second
 *     choice (computed from hrw_score); a down member's keys go to their next choice and
 *     all come back when it is up;
 *   - bounded load: a hot key taking 50 % of the picks; with factor 1.25 no member's
 *     recent load passes 1.25x its fair share (+ 3 units of halving slack) after warm-up,
 *     and no 4096-pick window holds more than 2 x 1.25 of a member's share (what the
 *     halving allows; the printed figure says how much it does); without the bound the
 *     hot key's member holds about 2.5x its share. The figures are printed
 *     (docs/ROUTING.md).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "route/hrw.h"

static uint64_t hs(const char *s)
{
    return hrw_hash(s, strlen(s));
}

static uint64_t key_hash(int i)
{
    char k[32];
    int n = snprintf(k, sizeof(k), "key-%d", i);
    return hrw_hash(k, (size_t)n);
}

/* ---- determinism ----------------------------------------------------------------------- */

static void test_hash_pinned(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint64_t h;
    } t[] = {
        {"", 0x3036767668b738c9ull},
        {"a", 0x42d66f23c43a02bdull},
        {"abc", 0xd8b467db0471d9daull},
        {"01234567", 0xbe52974e084f0243ull},
        {"012345678", 0x16d0999509db2e31ull},
        {"user-42", 0xc1ee7acbbb99c75bull},
        {"trace-0f3a9c", 0xa10560b7e9fe6d55ull},
        {"\xc3\xa9t\xc3\xa9", 0x421ce6e03b5e4b50ull},
        {"The quick brown fox jumps over the lazy dog", 0xc143fefabf440149ull},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        size_t n = strlen(t[i].s);
        if (hs(t[i].s) != t[i].h)
            fail_msg("hrw_hash(\"%s\") = 0x%016llx", t[i].s, (unsigned long long)hs(t[i].s));
        for (size_t off = 1; off < 8; off++) { /* alignment does not matter */
            memcpy(buf + off, t[i].s, n);
            assert_true(hrw_hash(buf + off, n) == t[i].h);
        }
    }
    assert_true(hrw_hash(NULL, 0) == t[0].h);
    /* every byte and every length matters */
    assert_true(hs("user-42") != hs("user-43"));
    assert_true(hrw_hash("a\0", 2) != hrw_hash("a", 1));
}

static void test_pick_pinned(void **state)
{
    (void)state;
    const uint64_t mh[4] = {hs("analyzer-a"), hs("analyzer-b"), hs("analyzer-c"), hs("analyzer-d")};
    const double w4321[4] = {4, 3, 2, 1}, w1111[4] = {1, 1, 1, 1};
    static const int want4321[16] = {3, 1, 2, 3, 1, 2, 3, 0, 2, 0, 2, 2, 3, 0, 3, 2};
    static const int want1111[16] = {3, 1, 2, 3, 1, 2, 3, 0, 2, 3, 2, 2, 3, 0, 3, 2};
    for (int i = 0; i < 16; i++) {
        char k[16];
        snprintf(k, sizeof(k), "user-%d", i);
        assert_int_equal(hrw_pick(hs(k), mh, w4321, 4), want4321[i]);
        assert_int_equal(hrw_pick(hs(k), mh, w1111, 4), want1111[i]);
    }
    double s = hrw_score(hs("user-0"), mh[0], 4.0);
    assert_true(fabs(s - 1.7764136153767784) < 1e-12);
}

static void test_score_and_eligibility(void **state)
{
    (void)state;
    const double bad[] = {0, -1, -0.0, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_true(hrw_score(1, 2, bad[i]) == -INFINITY);
    uint64_t x = 0x0123456789abcdefull;
    for (int i = 0; i < 1000000; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        double s = hrw_score(x, x >> 7 ^ (uint64_t)i, 1.0);
        /* h in [2^-53, 1 - 2^-53]: score in [1/ln(2^53), 1/(2^-53)] roughly */
        assert_true(isfinite(s) && s > 0.027 && s < 1e17);
        double s1 = hrw_score(x, (uint64_t)i, 1.0); /* proportional to the weight */
        assert_true(hrw_score(x, (uint64_t)i, 4.0) == 4.0 * s1);
        assert_true(fabs(hrw_score(x, (uint64_t)i, 2.5) - 2.5 * s1) <= 1e-15 * 2.5 * s1);
    }
    uint64_t mh[3] = {7, 7, 9};
    const double zero[3] = {0, 0, 0}, neg[3] = {-1, NAN, 0}, one[3] = {1, 1, 0};
    assert_int_equal(hrw_pick(1, mh, zero, 3), -1);
    assert_int_equal(hrw_pick(1, mh, neg, 3), -1);
    assert_int_equal(hrw_pick(1, mh, one, 0), -1);
    /* equal scores, different member hashes: the lower member hash wins. The smallest
     * subnormal weight makes most scores round to the same value. */
    const uint64_t two[2] = {0xF000000000000000ull, 0x0F00000000000000ull};
    const double tiny[2] = {5e-324, 5e-324};
    int ties = 0;
    for (uint64_t k = 0; k < 1000; k++) {
        if (hrw_score(k, two[0], tiny[0]) != hrw_score(k, two[1], tiny[1])) continue;
        assert_int_equal(hrw_pick(k, two, tiny, 2), 1);
        ties++;
    }
    assert_true(ties > 100);
    /* equal member hash and weight: equal scores, the lower index wins */
    for (uint64_t k = 0; k < 100; k++)
        assert_int_equal(hrw_pick(k, mh, one, 3), 0);
}

/* ---- shares ---------------------------------------------------------------------------- */

#define NKEYS 100000

/* 100000 keys over n members of weights w: every share within 5 sigmas. */
static void check_shares(const char *name, const double *w, size_t n)
{
    uint64_t mh[16];
    double sum = 0;
    long count[16] = {0};
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "%s-member-%zu", name, i);
        mh[i] = hs(id);
        sum += w[i];
    }
    for (int k = 0; k < NKEYS; k++)
        count[hrw_pick(key_hash(k), mh, w, n)]++;
    double max_rel = 0, max_z = 0;
    for (size_t i = 0; i < n; i++) {
        double p = w[i] / sum, mean = NKEYS * p, sigma = sqrt(NKEYS * p * (1 - p));
        double z = fabs(count[i] - mean) / sigma, rel = fabs(count[i] - mean) / mean;
        if (z > 5)
            fail_msg("%s: member %zu has %ld keys, expected %.0f (z %.2f)", name, i, count[i], mean,
                     z);
        max_rel = fmax(max_rel, rel);
        max_z = fmax(max_z, z);
    }
    printf("shares %s over %d keys: max relative error %.4f, max |z| %.2f\n", name, NKEYS, max_rel,
           max_z);
}

static void test_shares(void **state)
{
    (void)state;
    const double w4321[] = {4, 3, 2, 1}, w8[] = {1, 1, 1, 1, 1, 1, 1, 1}, wskew[] = {100, 10, 1};
    const double wfrac[] = {0.5, 0.25, 0.125, 0.125};
    check_shares("4:3:2:1", w4321, 4);
    check_shares("8x1", w8, 8);
    check_shares("100:10:1", wskew, 3);
    check_shares("0.5:0.25:0.125:0.125", wfrac, 4);
}

/* ---- membership changes ---------------------------------------------------------------- */

static void ids(uint64_t *mh, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char id[48];
        snprintf(id, sizeof(id), "http://10.0.0.%zu:9000", i + 1);
        mh[i] = hs(id);
    }
}

static void test_add_member(void **state)
{
    (void)state;
    uint64_t mh[5];
    ids(mh, 5);
    const double w[5] = {4, 3, 2, 1, 2}; /* member 4 (weight 2) joins W = 10 */
    static int before[NKEYS];
    long moved = 0;
    for (int k = 0; k < NKEYS; k++)
        before[k] = hrw_pick(key_hash(k), mh, w, 4);
    for (int k = 0; k < NKEYS; k++) {
        int after = hrw_pick(key_hash(k), mh, w, 5);
        if (after == before[k]) continue;
        if (after != 4)
            fail_msg("key %d moved from %d to %d, not to the new member", k, before[k], after);
        moved++;
    }
    double p = 2.0 / 12.0, sigma = sqrt(NKEYS * p * (1 - p));
    printf("add weight 2 to W=10: %.4f of the keys moved (expected %.4f), all to the new "
           "member\n",
           (double)moved / NKEYS, p);
    assert_true(fabs(moved - NKEYS * p) <= 5 * sigma);
}

/* Index of the second highest score among eligible members other than `first`. */
static int second_choice(uint64_t kh, const uint64_t *mh, const double *w, size_t n, int first)
{
    int best = -1;
    double bs = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if ((int)i == first || !(w[i] > 0)) continue;
        double s = hrw_score(kh, mh[i], w[i]);
        if (best < 0 || s > bs) best = (int)i, bs = s;
    }
    return best;
}

static void test_remove_member(void **state)
{
    (void)state;
    uint64_t mh[4], mh3[3];
    ids(mh, 4);
    const double w[4] = {4, 3, 2, 1};
    /* remove member 1: the table becomes members 0, 2, 3 */
    mh3[0] = mh[0], mh3[1] = mh[2], mh3[2] = mh[3];
    const double w3[3] = {4, 2, 1};
    static const int map[3] = {0, 2, 3};
    long own = 0;
    for (int k = 0; k < NKEYS; k++) {
        uint64_t kh = key_hash(k);
        int b = hrw_pick(kh, mh, w, 4), a = map[hrw_pick(kh, mh3, w3, 3)];
        if (b != 1) {
            if (a != b) fail_msg("key %d moved from %d to %d though 1 was removed", k, b, a);
            continue;
        }
        own++;
        assert_int_equal(a, second_choice(kh, mh, w, 4, 1));
    }
    printf("remove member of weight 3 of W=10: exactly its %.4f of the keys moved\n",
           (double)own / NKEYS);
    assert_true(own > 0);
}

static void test_failover_and_return(void **state)
{
    (void)state;
    uint64_t mh[4];
    ids(mh, 4);
    double w[4] = {4, 3, 2, 1};
    static int before[NKEYS];
    for (int k = 0; k < NKEYS; k++)
        before[k] = hrw_pick(key_hash(k), mh, w, 4);
    for (int down = 0; down < 4; down++) {
        double saved = w[down];
        w[down] = 0; /* down */
        long moved = 0;
        for (int k = 0; k < NKEYS; k++) {
            uint64_t kh = key_hash(k);
            int now = hrw_pick(kh, mh, w, 4);
            assert_int_not_equal(now, down);
            if (before[k] != down)
                assert_int_equal(now, before[k]);
            else
                assert_int_equal(now, second_choice(kh, mh, w, 4, down)), moved++;
        }
        w[down] = saved; /* up again: every key returns */
        for (int k = 0; k < NKEYS; k++)
            assert_int_equal(hrw_pick(key_hash(k), mh, w, 4), before[k]);
        assert_true(moved > 0);
    }
}

/* ---- bounded load ---------------------------------------------------------------------- */

static void test_load_api(void **state)
{
    (void)state;
    assert_null(hrw_load_new(0));
    assert_null(hrw_load_new(HRW_MAX_MEMBERS + 1));
    hrw_load_t *l = hrw_load_new(4);
    assert_non_null(l);
    uint64_t mh[5];
    ids(mh, 5);
    const double w[5] = {1, 1, 1, 1, 1}, zero[4] = {0, 0, 0, 0};
    assert_int_equal(hrw_pick_bounded(l, 1, mh, w, 5, 1.25), -1); /* above the capacity */
    assert_int_equal(hrw_pick_bounded(l, 1, mh, zero, 4, 1.25), -1);
    assert_true(hrw_load_total(l) == 0);
    /* factor <= 1 or NaN: plain hrw_pick, still charged */
    const double factors[] = {0, 1, -3, NAN};
    for (int k = 0; k < 4000; k++) {
        uint64_t kh = key_hash(k);
        assert_int_equal(hrw_pick_bounded(l, kh, mh, w, 4, factors[k % 4]), hrw_pick(kh, mh, w, 4));
    }
    assert_true(hrw_load_total(l) == 4000);
    /* nobody qualifies (fresh, factor barely > 1): the top choice */
    hrw_load_reset(l);
    assert_true(hrw_load_total(l) == 0 && hrw_load_recent(l, 0) == 0);
    assert_int_equal(hrw_pick_bounded(l, 77, mh, w, 4, 1.0001), hrw_pick(77, mh, w, 4));
    /* The rule by hand: 2 equal members, factor 1.5, one key. The top choice t is taken
     * while load_t + 1 <= 1.5 * (total + 1) / 2, else the other one if it qualifies, else
     * t: (T=0: neither, t) (T=1: s) (T=2: 2 <= 2.25, t) (T=3: 3 <= 3, t) (T=4: 4 > 3.75, s)
     * (T=5..7: t) (T=8: 7 > 6.75, s). */
    hrw_load_reset(l);
    const int t = hrw_pick(9, mh, w, 2), o = 1 - t;
    const int seq[9] = {t, o, t, t, o, t, t, t, o};
    for (int k = 0; k < 9; k++)
        assert_int_equal(hrw_pick_bounded(l, 9, mh, w, 2, 1.5), seq[k]);
    assert_true(hrw_load_recent(l, (size_t)t) == 6 && hrw_load_recent(l, (size_t)o) == 3);
    /* ties in the bounded walk are broken like hrw_pick's (see test_score_and_eligibility) */
    const uint64_t two[2] = {0xF000000000000000ull, 0x0F00000000000000ull};
    const double tiny[2] = {5e-324, 5e-324};
    for (uint64_t k = 0; k < 200; k++) {
        hrw_load_reset(l);
        assert_int_equal(hrw_pick_bounded(l, k, two, tiny, 2, 0), hrw_pick(k, two, tiny, 2));
        assert_int_equal(hrw_pick_bounded(l, k, two, tiny, 2, 8), hrw_pick(k, two, tiny, 2));
    }
    /* halving every HRW_LOAD_HALF_LIFE charges */
    hrw_load_reset(l);
    for (int k = 0; k < HRW_LOAD_HALF_LIFE - 1; k++)
        assert_int_equal(hrw_pick_bounded(l, 5, mh, w, 1, 2.0), 0);
    assert_true(hrw_load_recent(l, 0) == HRW_LOAD_HALF_LIFE - 1);
    hrw_pick_bounded(l, 5, mh, w, 1, 2.0);
    assert_true(hrw_load_recent(l, 0) == HRW_LOAD_HALF_LIFE / 2);
    assert_true(hrw_load_total(l) == HRW_LOAD_HALF_LIFE / 2);
    assert_true(hrw_load_recent(l, 99) == 0);
    hrw_load_free(l);
    hrw_load_free(NULL);
}

struct hot_figures {
    double max_recent_ratio; /* max over members and picks of recent_i / (total * share_i) */
    double max_window_ratio; /* max over members and 4096-pick windows of share / fair */
    double hot_on_top;       /* fraction of the hot key's picks on its first choice */
    double affinity;         /* fraction of the other keys on their first choice */
    long over_bound;         /* picks after which a member passed factor x fair + 3 */
};

/* 400000 picks, every other one the hot key; the rest spread over 50000 keys. */
static struct hot_figures run_hot(const double *w, size_t n, double factor)
{
    uint64_t mh[8];
    ids(mh, n);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += w[i];
    hrw_load_t *l = hrw_load_new(n);
    assert_non_null(l);
    struct hot_figures f = {0};
    long window[8] = {0}, hot_top = 0, hot = 0, cold_top = 0, cold = 0;
    const uint64_t hot_key = hs("tenant-hot");
    const int hot_first = hrw_pick(hot_key, mh, w, n);
    uint64_t x = 42;
    for (long p = 1; p <= 400000; p++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t kh = p % 2 ? hot_key : key_hash((int)((x >> 33) % 50000));
        int got = hrw_pick_bounded(l, kh, mh, w, n, factor);
        int first = p % 2 ? hot_first : hrw_pick(kh, mh, w, n);
        if (p % 2)
            hot++, hot_top += got == first;
        else
            cold++, cold_top += got == first;
        window[got]++;
        for (size_t i = 0; p > 2 * HRW_LOAD_HALF_LIFE && i < n; i++) {
            double fair = w[i] / sum, total = (double)hrw_load_total(l);
            double r = (double)hrw_load_recent(l, i) / (total * fair);
            f.max_recent_ratio = fmax(f.max_recent_ratio, r);
            if ((double)hrw_load_recent(l, i) > factor * total * fair + 3) f.over_bound++;
        }
        if (p % HRW_LOAD_HALF_LIFE) continue;
        for (size_t i = 0; i < n; i++) {
            double r = (double)window[i] / HRW_LOAD_HALF_LIFE / (w[i] / sum);
            if (p > HRW_LOAD_HALF_LIFE) f.max_window_ratio = fmax(f.max_window_ratio, r);
            window[i] = 0;
        }
    }
    f.hot_on_top = (double)hot_top / (double)hot;
    f.affinity = (double)cold_top / (double)cold;
    hrw_load_free(l);
    return f;
}

static void test_bounded_hot_key(void **state)
{
    (void)state;
    const double equal[4] = {1, 1, 1, 1}, w4321[4] = {4, 3, 2, 1};
    const struct {
        const char *name;
        const double *w;
    } t[] = {{"1:1:1:1", equal}, {"4:3:2:1", w4321}};
    for (size_t i = 0; i < 2; i++) {
        struct hot_figures b = run_hot(t[i].w, 4, 1.25), u = run_hot(t[i].w, 4, 0);
        printf("hot key 50%%, weights %s, factor 1.25: max recent load %.3fx fair, max "
               "4096-window %.3fx fair, hot key on its first choice %.3f, other keys on "
               "theirs %.3f\n",
               t[i].name, b.max_recent_ratio, b.max_window_ratio, b.hot_on_top, b.affinity);
        printf("hot key 50%%, weights %s, no bound:    max recent load %.3fx fair, max "
               "4096-window %.3fx fair\n",
               t[i].name, u.max_recent_ratio, u.max_window_ratio);
        assert_int_equal(b.over_bound, 0);
        assert_true(b.max_recent_ratio <= 1.25 + 0.01);
        /* A window starts with ~4096 halved charges in the count, so a member that was
         * under its share may take up to 2 x factor of it within one window (a member
         * the hot key spills to does: the bound is on the decayed count, not windows). */
        assert_true(b.max_window_ratio <= 2 * 1.25 + 0.01);
        assert_true(u.max_recent_ratio > 1.25 + 0.5); /* the bound is what holds it */
        assert_true(u.hot_on_top == 1.0 && u.affinity == 1.0);
    }
}

/* Without a hot key the bound almost never overrides the hash. */
static void test_bounded_uniform_affinity(void **state)
{
    (void)state;
    uint64_t mh[4];
    ids(mh, 4);
    const double w[4] = {4, 3, 2, 1};
    hrw_load_t *l = hrw_load_new(4);
    long same = 0, n = 200000;
    for (long p = 0; p < n; p++) {
        uint64_t kh = key_hash((int)(p * 7919 % 100000));
        same += hrw_pick_bounded(l, kh, mh, w, 4, 1.25) == hrw_pick(kh, mh, w, 4);
    }
    printf("uniform keys, weights 4:3:2:1, factor 1.25: %.4f of the picks on the key's first "
           "choice\n",
           (double)same / (double)n);
    assert_true(same >= n * 99 / 100);
    hrw_load_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_pinned),
        cmocka_unit_test(test_pick_pinned),
        cmocka_unit_test(test_score_and_eligibility),
        cmocka_unit_test(test_shares),
        cmocka_unit_test(test_add_member),
        cmocka_unit_test(test_remove_member),
        cmocka_unit_test(test_failover_and_return),
        cmocka_unit_test(test_load_api),
        cmocka_unit_test(test_bounded_hot_key),
        cmocka_unit_test(test_bounded_uniform_affinity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
