/*
 * hrw.c - weighted rendezvous hashing with bounded load (see hrw.h for the contract).
 *
 * The hash (hrw_hash) is logdist's own fixed function, written out here so that it can
 * never change under us with a library version: xxHash64-style rounds over 8-byte words
 * read little-endian (primes of xxHash64), the length folded into a fixed seed, the tail
 * as one last word, then MurmurHash3's 64-bit finaliser (fmix64) for avalanche. It takes
 * no per-process seed (no ASLR or time input), so a key maps to the same members on every
 * process, restart and machine. tests/unit/test_hrw.c pins its values: changing it moves
 * keys between analyzers on upgrade and must be a deliberate, documented decision.
 *
 * hrw_score mixes the key hash with the member hash (fmix64 of each side), takes the top
 * 52 bits as h = (x + 0.5) / 2^52, which lies in [2^-53, 1 - 2^-53] (never 0 or 1), and
 * returns -w / ln(h).
 */
#include "route/hrw.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull
#define P4 0x85EBCA77C2B2AE63ull
#define SEED 0x6C6F676469737472ull /* "logdistr" */

static uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDull;
    k ^= k >> 33;
    k *= 0xC4CEB9FE1A85EC53ull;
    k ^= k >> 33;
    return k;
}

static uint64_t mix_round(uint64_t h, uint64_t k)
{
    k *= P2;
    k = rotl(k, 31);
    k *= P1;
    h ^= k;
    return rotl(h, 27) * P1 + P4;
}

uint64_t hrw_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = SEED ^ ((uint64_t)len * P3);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t k = 0;
        for (int j = 7; j >= 0; j--)
            k = (k << 8) | p[i + (size_t)j];
        h = mix_round(h, k);
    }
    uint64_t t = 0;
    for (size_t j = len - i; j > 0; j--)
        t = (t << 8) | p[i + j - 1];
    return fmix64(mix_round(h, t));
}

static bool eligible(double w)
{
    return w > 0 && isfinite(w);
}

double hrw_score(uint64_t key_hash, uint64_t member_hash, double weight)
{
    if (!eligible(weight)) return -INFINITY;
    uint64_t x = fmix64(key_hash ^ fmix64(member_hash ^ P4));
    double h = ((double)(x >> 12) + 0.5) * 0x1p-52;
    return -weight / log(h);
}

/* Is (s, mh) ahead of the best so far (sb, mb)? */
static bool ahead(double s, uint64_t mh, double sb, uint64_t mb)
{
    return s > sb || (s == sb && mh < mb);
}

int hrw_pick(uint64_t key_hash, const uint64_t *member_hash, const double *w, size_t n)
{
    int best = -1;
    double bs = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (!eligible(w[i])) continue;
        double s = hrw_score(key_hash, member_hash[i], w[i]);
        if (best < 0 || ahead(s, member_hash[i], bs, member_hash[best])) {
            best = (int)i;
            bs = s;
        }
    }
    return best;
}

/* ---- bounded load ---------------------------------------------------------------------- */

struct hrw_load {
    size_t cap;
    uint64_t *load; /* recent charges per member */
    uint64_t total; /* sum of load[] */
    uint64_t since; /* charges since the last halving */
    double *score;  /* scratch: this pick's scores, -INFINITY once tried or ineligible */
};

hrw_load_t *hrw_load_new(size_t n_members_cap)
{
    if (n_members_cap == 0 || n_members_cap > HRW_MAX_MEMBERS) return NULL;
    hrw_load_t *l = calloc(1, sizeof(*l));
    if (!l) return NULL;
    l->cap = n_members_cap;
    l->load = calloc(n_members_cap, sizeof(*l->load));
    l->score = calloc(n_members_cap, sizeof(*l->score));
    if (!l->load || !l->score) goto err;
    return l;
err:
    hrw_load_free(l);
    return NULL;
}

void hrw_load_free(hrw_load_t *l)
{
    if (!l) return;
    free(l->load);
    free(l->score);
    free(l);
}

void hrw_load_reset(hrw_load_t *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->cap; i++)
        l->load[i] = 0;
    l->total = 0;
    l->since = 0;
}

uint64_t hrw_load_recent(const hrw_load_t *l, size_t i)
{
    return l && i < l->cap ? l->load[i] : 0;
}

uint64_t hrw_load_total(const hrw_load_t *l)
{
    return l ? l->total : 0;
}

static void charge(hrw_load_t *l, size_t i)
{
    l->load[i]++;
    l->total++;
    if (++l->since < HRW_LOAD_HALF_LIFE) return;
    l->since = 0;
    l->total = 0;
    for (size_t j = 0; j < l->cap; j++) {
        l->load[j] >>= 1;
        l->total += l->load[j];
    }
}

/* The untried member with the highest score (ties: lower member hash), or -1. */
static int next_best(const hrw_load_t *l, const uint64_t *member_hash, size_t n)
{
    int best = -1;
    for (size_t i = 0; i < n; i++) {
        if (l->score[i] == -INFINITY) continue;
        if (best < 0 || ahead(l->score[i], member_hash[i], l->score[best], member_hash[best]))
            best = (int)i;
    }
    return best;
}

int hrw_pick_bounded(hrw_load_t *l, uint64_t key_hash, const uint64_t *member_hash, const double *w,
                     size_t n, double factor)
{
    if (!l || n > l->cap) return -1;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        l->score[i] = hrw_score(key_hash, member_hash[i], w[i]);
        if (eligible(w[i])) sum += w[i];
    }
    int top = next_best(l, member_hash, n), chosen = top;
    if (top < 0) return -1;
    if (factor > 1) { /* false for NaN too */
        for (int b = top; b >= 0; b = next_best(l, member_hash, n)) {
            double bound = factor * (double)(l->total + 1) * w[b] / sum;
            if ((double)(l->load[b] + 1) <= bound) {
                chosen = b;
                break;
            }
            l->score[b] = -INFINITY;
        }
    }
    charge(l, (size_t)chosen);
    return chosen;
}
