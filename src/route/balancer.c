/*
 * balancer.c - weighted choice of an analyzer slot (SWRR or weighted random).
 *
 * Layout. Per-slot configuration lives in `slots[]` (indexed by slot). The
 * eligible slots (up, weight > 0) are mirrored, in slot order, into the compact
 * array `e[]` + `ids[]`, rebuilt only when the configuration changes, so that a
 * pick is a tight loop over n entries of 16 bytes, with no allocation and no
 * branch on eligibility.
 *
 * Integer weights. Double weights are scaled to int64 once per rebuild so the
 * SWRR arithmetic is exact and deterministic:
 *   - if every eligible weight times 2^k is an integer, where 2^k puts the
 *     largest in [2^29, 2^30), those integers are used (integer and dyadic
 *     weights such as 1000:1 or 0.5:0.25 keep their exact ratio);
 *   - otherwise weight_i / max_weight * SCALE_RATIO is rounded to nearest, with
 *     SCALE_RATIO = 735134400 = 2^6*3^3*5^2*7*11*13*17 (~0.68 * 2^30), so ratios
 *     whose reduced denominator divides it (0.4:0.3:0.2:0.1, 1:3, 0.1:0.7, ...)
 *     stay exact; otherwise each weight is off by at most half a unit, a unit
 *     being max_weight / SCALE_RATIO (~1.4e-9 of the largest weight).
 *   A positive weight never scales to 0 (it becomes at least 1). The total is
 *   <= 1024 * 2^30 = 2^40, so currents (bounded by n * total) fit easily.
 *
 * SWRR state across changes. With total W, current_i / W is the number of picks
 * slot i is owed (n * share_i - count_i). Invariants after every pick and every
 * change: sum(current) == 0 and current_i > -W for every eligible slot (a pick
 * adds W in total, so the max is >= W/k > 0 before the winner is charged W).
 * Hence -W < current_i < (k-1)W, and since current_i(t) = current_i(t0) +
 * (t - t0) * w_i - picks_i * W, the deviation counted from t0 (creation or the
 * last change) is (current_i(t0) - current_i(t)) / W, strictly inside (-k, k).
 * On a change (add, remove, up/down, weight):
 *   1. the changed slot's current is reset to 0 (it restarts fresh);
 *   2. every other eligible slot keeps its *owed picks*: its current is rescaled
 *      by W_new / W_old (rounded; the raw integer alone would change meaning
 *      whenever the total or the scale changes), clamped to > -W_new;
 *   3. the sum is brought back to 0 among the slots other than the changed one:
 *      a deficit (e.g. a removed slot was owed picks) is added to them in
 *      proportion to their weights; a surplus (the removed / reset slot was
 *      ahead) is taken from the largest current(s), never pushing one to <= -W.
 * A call that changes nothing (same weight, same up state) is a no-op and does
 * not disturb the stream.
 *
 * balancer_pick_excluding() follows nginx: the excluded slot is skipped
 * entirely (its current neither grows nor is charged) and the chosen slot is
 * charged the total of the others. The sum invariant holds, but current > -W
 * is not guaranteed during a run of excluding picks, so the prefix bound is only
 * proven for plain picks (the unit test checks it after one exclusion run).
 */
#include "route/balancer.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SCALE_P2_TOP 30         /* power-of-two path: largest weight in [2^29, 2^30) */
#define SCALE_RATIO 735134400.0 /* ratio path: largest weight becomes this integer */
#define LINEAR_SEARCH_MAX 8     /* RANDOM: linear scan up to this many eligible slots */

/* One eligible slot in the compact pick array. */
struct entry {
    int64_t w;   /* scaled integer weight (> 0) */
    int64_t acc; /* SWRR: current; RANDOM: sum of w over entries 0..this one */
};

/* Configuration and saved SWRR state of one slot index. */
struct slot {
    double weight; /* as configured (finite, >= 0) */
    int64_t cur;   /* SWRR current, synced from e[] before a change; 0 if not eligible */
    int16_t pos;   /* index in e[] or -1 when not eligible */
    bool used;
    bool up;
};

struct balancer {
    /* hot: read by every pick */
    int n; /* eligible slots = entries in e[] */
    balancer_strategy_t strategy;
    int64_t total; /* sum of e[].w */
    uint64_t rng;  /* xorshift64* state, never 0 */
    /* cold */
    int hi;       /* 1 + highest used slot index */
    double max_w; /* largest eligible weight */
    double den;   /* sum of weight / max_w over eligible slots */
    struct entry e[BALANCER_MAX_SLOTS];
    uint16_t ids[BALANCER_MAX_SLOTS];
    struct slot slots[BALANCER_MAX_SLOTS];
};

/* splitmix64 finaliser: a bijection, used to turn the seed into a PRNG state. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* xorshift64*: next 64 random bits; the state must be non-zero. */
static inline uint64_t rng_next(balancer_t *b)
{
    uint64_t x = b->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    b->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform-enough value in [0, bound), bound <= 2^40 (bias <= 2^-24, negligible). */
static inline int64_t rng_below(balancer_t *b, int64_t bound)
{
    return (int64_t)(((unsigned __int128)rng_next(b) * (uint64_t)bound) >> 64);
}

/* True when slot index `slot` is in use. */
static bool slot_valid(const balancer_t *b, int slot)
{
    return slot >= 0 && slot < b->hi && b->slots[slot].used;
}

/* True when a used slot takes part in picks. */
static bool slot_eligible(const struct slot *s)
{
    return s->used && s->up && s->weight > 0;
}

/* round(a * m / d) for d > 0, ties away from zero; the product must fit in 127 bits. */
static int64_t muldiv_round(int64_t a, int64_t m, int64_t d)
{
    __int128 p = (__int128)a * m;
    __int128 q = p / d, r = p % d;
    if (r < 0) r = -r;
    if (2 * r >= d) q += p < 0 ? -1 : 1;
    return (int64_t)q;
}

/* Fill e[0..n).w with scaled integer weights for the eligible slots in ids[]. */
static void scale_weights(balancer_t *b)
{
    int x;
    bool exact = true;

    frexp(b->max_w, &x); /* max_w = m * 2^x, m in [0.5, 1) */
    for (int k = 0; k < b->n && exact; k++) {
        double v = ldexp(b->slots[b->ids[k]].weight, SCALE_P2_TOP - x);
        exact = v >= 1.0 && v == floor(v);
        b->e[k].w = (int64_t)v;
    }
    if (exact) return;
    for (int k = 0; k < b->n; k++) {
        double v = b->slots[b->ids[k]].weight / b->max_w * SCALE_RATIO;
        int64_t w = llround(v);
        b->e[k].w = w > 0 ? w : 1;
    }
}

/* Bring sum(e[].acc) from `sum` back to 0 using the entries other than `skip`
 * (a position in e[] or -1), keeping every acc > -total. See the file comment. */
static void fix_sum(balancer_t *b, int skip, int64_t sum)
{
    int n = b->n;
    int64_t floor_c = 1 - b->total;

    if (sum < 0) {
        int64_t need = -sum, wsum = 0, given = 0;
        for (int k = 0; k < n; k++)
            if (k != skip) wsum += b->e[k].w;
        for (int k = 0; k < n; k++) {
            if (k == skip) continue;
            int64_t add = (int64_t)((__int128)need * b->e[k].w / wsum);
            b->e[k].acc += add;
            given += add;
        }
        for (int k = 0; k < n && given < need; k++) {
            if (k == skip) continue;
            b->e[k].acc++;
            given++;
        }
        return;
    }
    while (sum > 0) {
        int best = -1;
        for (int k = 0; k < n; k++)
            if (k != skip && (best < 0 || b->e[k].acc > b->e[best].acc)) best = k;
        if (best < 0) break; /* cannot happen: n > 1 here; keeps analyzers quiet */
        /* The others sum to `sum` > 0, so their max is > 0 > floor_c: take >= 1. */
        int64_t take = b->e[best].acc - floor_c;
        if (take > sum) take = sum;
        b->e[best].acc -= take;
        sum -= take;
    }
}

/* Copy the SWRR currents from the compact array back to the slots, before a change. */
static void sync_currents(balancer_t *b)
{
    if (b->strategy != BALANCER_SWRR) return;
    for (int k = 0; k < b->n; k++)
        b->slots[b->ids[k]].cur = b->e[k].acc;
}

/* Recompute the compact array after a change to slot `changed` (-1: none kept
 * eligible). Requires sync_currents() before the change and b->total still
 * holding the previous total. */
static void rebuild(balancer_t *b, int changed)
{
    int64_t old_total = b->total;
    int n = 0, skip = -1;

    b->max_w = 0;
    for (int i = 0; i < b->hi; i++) {
        struct slot *s = &b->slots[i];
        s->pos = -1;
        if (!slot_eligible(s)) {
            s->cur = 0;
            continue;
        }
        if (s->weight > b->max_w) b->max_w = s->weight;
        if (i == changed) skip = n;
        s->pos = (int16_t)n;
        b->ids[n++] = (uint16_t)i;
    }
    b->n = n;
    b->total = 0;
    b->den = 0;
    if (n == 0) return;
    for (int k = 0; k < n; k++)
        b->den += b->slots[b->ids[k]].weight / b->max_w;
    scale_weights(b);
    for (int k = 0; k < n; k++)
        b->total += b->e[k].w;

    if (b->strategy == BALANCER_RANDOM) {
        int64_t acc = 0;
        for (int k = 0; k < n; k++) {
            acc += b->e[k].w;
            b->e[k].acc = acc;
        }
        return;
    }

    int64_t sum = 0;
    for (int k = 0; k < n; k++) {
        int64_t c = k == skip ? 0 : b->slots[b->ids[k]].cur;
        if (c != 0 && old_total > 0 && old_total != b->total)
            c = muldiv_round(c, b->total, old_total);
        if (c < 1 - b->total) c = 1 - b->total;
        b->e[k].acc = c;
        sum += c;
    }
    if (sum != 0) fix_sum(b, n > 1 ? skip : -1, sum);
}

/* See balancer.h. The balancer is one 64-byte-aligned block (~42 KiB). */
balancer_t *balancer_new(balancer_strategy_t strategy, uint64_t seed)
{
    if (strategy != BALANCER_SWRR && strategy != BALANCER_RANDOM) return NULL;
    size_t size = (sizeof(balancer_t) + 63) & ~(size_t)63;
    balancer_t *b = aligned_alloc(64, size);
    if (!b) return NULL;
    memset(b, 0, size);
    b->strategy = strategy;
    b->rng = mix64(seed);
    if (b->rng == 0) b->rng = 0x9E3779B97F4A7C15ull;
    return b;
}

/* See balancer.h. NULL is accepted. */
void balancer_free(balancer_t *b)
{
    free(b);
}

/* See balancer.h. Takes the lowest free index. */
int balancer_add(balancer_t *b, double weight)
{
    if (!isfinite(weight) || weight < 0) return -EINVAL;
    int slot = 0;
    while (slot < b->hi && b->slots[slot].used)
        slot++;
    if (slot >= BALANCER_MAX_SLOTS) return -ENOSPC;
    sync_currents(b);
    b->slots[slot] = (struct slot){.weight = weight, .cur = 0, .pos = -1, .used = true, .up = true};
    if (slot >= b->hi) b->hi = slot + 1;
    if (weight > 0) rebuild(b, slot);
    return slot;
}

/* See balancer.h. */
int balancer_remove(balancer_t *b, int slot)
{
    if (!slot_valid(b, slot)) return -ENOENT;
    struct slot *s = &b->slots[slot];
    bool was = slot_eligible(s);
    sync_currents(b);
    *s = (struct slot){.pos = -1};
    while (b->hi > 0 && !b->slots[b->hi - 1].used)
        b->hi--;
    if (was) rebuild(b, -1);
    return 0;
}

/* See balancer.h. Setting the current weight again is a no-op. */
int balancer_set_weight(balancer_t *b, int slot, double weight)
{
    if (!slot_valid(b, slot)) return -ENOENT;
    if (!isfinite(weight) || weight < 0) return -EINVAL;
    struct slot *s = &b->slots[slot];
    if (weight == s->weight) return 0;
    bool was = slot_eligible(s);
    sync_currents(b);
    s->weight = weight;
    s->cur = 0;
    if (was || slot_eligible(s)) rebuild(b, slot);
    return 0;
}

/* See balancer.h. Setting the current state again is a no-op. */
int balancer_set_up(balancer_t *b, int slot, bool up)
{
    if (!slot_valid(b, slot)) return -ENOENT;
    struct slot *s = &b->slots[slot];
    if (s->up == up) return 0;
    sync_currents(b);
    s->up = up;
    s->cur = 0;
    if (s->weight > 0) rebuild(b, slot);
    return 0;
}

/* SWRR pick over all n >= 2 entries: the hot loop. */
static inline int pick_swrr(balancer_t *b)
{
    struct entry *e = b->e;
    int n = b->n, bi = 0;
    int64_t best = e[0].acc + e[0].w;

    e[0].acc = best;
    for (int i = 1; i < n; i++) {
        int64_t c = e[i].acc + e[i].w;
        e[i].acc = c;
        if (c > best) {
            best = c;
            bi = i;
        }
    }
    e[bi].acc -= b->total;
    return b->ids[bi];
}

/* First entry whose cumulative weight exceeds r (0 <= r < total). */
static inline int find_acc(const balancer_t *b, int64_t r)
{
    const struct entry *e = b->e;
    if (b->n <= LINEAR_SEARCH_MAX) {
        /* Branch-free count of entries ending at or before r (the last ends at total > r):
         * an early exit would mispredict on most picks. */
        int i = 0;
        for (int k = 0; k < b->n - 1; k++)
            i += e[k].acc <= r;
        return i;
    }
    int lo = 0, hi = b->n - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (e[mid].acc <= r)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* See balancer.h. O(n) for SWRR, O(1..log n) for RANDOM; no allocation. */
int balancer_pick(balancer_t *b)
{
    if (b->n <= 1) return b->n == 1 ? b->ids[0] : BALANCER_NONE;
    if (b->strategy == BALANCER_SWRR) return pick_swrr(b);
    return b->ids[find_acc(b, rng_below(b, b->total))];
}

/* See balancer.h. An `exclude` that is not an eligible slot excludes nothing. */
int balancer_pick_excluding(balancer_t *b, int exclude)
{
    if (!slot_valid(b, exclude) || b->slots[exclude].pos < 0) return balancer_pick(b);
    int x = b->slots[exclude].pos, n = b->n;
    if (n == 1) return BALANCER_NONE;
    if (n == 2) return b->ids[1 - x];

    struct entry *e = b->e;
    int64_t total = b->total - e[x].w;
    if (b->strategy == BALANCER_RANDOM) {
        int64_t r = rng_below(b, total);
        if (r >= e[x].acc - e[x].w) r += e[x].w;
        return b->ids[find_acc(b, r)];
    }
    int bi = -1;
    int64_t best = 0;
    for (int i = 0; i < n; i++) {
        if (i == x) continue;
        int64_t c = e[i].acc + e[i].w;
        e[i].acc = c;
        if (bi < 0 || c > best) {
            best = c;
            bi = i;
        }
    }
    if (bi < 0) return BALANCER_NONE; /* cannot happen: another slot is eligible */
    e[bi].acc -= total;
    return b->ids[bi];
}

/* See balancer.h. Computed from the configured (double) weights. */
double balancer_share(const balancer_t *b, int slot)
{
    if (!slot_valid(b, slot) || b->slots[slot].pos < 0) return 0.0;
    return b->slots[slot].weight / b->max_w / b->den;
}

/* See balancer.h. */
int balancer_eligible_count(const balancer_t *b)
{
    return b->n;
}
