/*
 * ackref.c - see ackref.h. Linear probing with backward-shift deletion (no
 * tombstones), keys are never 0 (WAL sequence numbers start at 1).
 */
#include "deliver/ackref.h"

#include <errno.h>
#include <stdlib.h>

struct ackref {
    uint64_t *keys;
    uint32_t *left;
    size_t cap, n; /* cap a power of two, n < cap * 3/4 */
};

static size_t slot_of(uint64_t seq, size_t cap)
{
    uint64_t h = seq * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 17) & (cap - 1);
}

ackref_t *ackref_new(void)
{
    return calloc(1, sizeof(ackref_t));
}

void ackref_free(ackref_t *t)
{
    if (!t) return;
    free(t->keys);
    free(t->left);
    free(t);
}

static int grow(ackref_t *t)
{
    size_t cap = t->cap ? t->cap * 2 : 256;
    uint64_t *k = calloc(cap, sizeof *k);
    uint32_t *l = calloc(cap, sizeof *l);
    if (!k || !l) {
        free(k);
        free(l);
        return -ENOMEM;
    }
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->keys[i]) continue;
        size_t j = slot_of(t->keys[i], cap);
        while (k[j]) j = (j + 1) & (cap - 1);
        k[j] = t->keys[i];
        l[j] = t->left[i];
    }
    free(t->keys);
    free(t->left);
    t->keys = k;
    t->left = l;
    t->cap = cap;
    return 0;
}

int ackref_add(ackref_t *t, uint64_t seq, uint32_t copies)
{
    if (!seq || copies < 2) return 0;
    if ((t->n + 1) * 4 > t->cap * 3 && grow(t)) return -ENOMEM;
    size_t j = slot_of(seq, t->cap);
    while (t->keys[j] && t->keys[j] != seq) j = (j + 1) & (t->cap - 1);
    if (t->keys[j]) { /* replayed twice in one life: add up */
        t->left[j] += copies;
        return 0;
    }
    t->keys[j] = seq;
    t->left[j] = copies;
    t->n++;
    return 0;
}

static void erase(ackref_t *t, size_t j)
{
    size_t mask = t->cap - 1;
    for (size_t k = (j + 1) & mask; t->keys[k]; k = (k + 1) & mask) {
        size_t home = slot_of(t->keys[k], t->cap);
        /* move k back into j unless its home lies cyclically in (j, k] */
        if (((k - home) & mask) >= ((k - j) & mask)) {
            t->keys[j] = t->keys[k];
            t->left[j] = t->left[k];
            j = k;
        }
    }
    t->keys[j] = 0;
    t->n--;
}

size_t ackref_filter(ackref_t *t, uint64_t *seqs, size_t n)
{
    if (!t->n) return n;
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t s = seqs[i];
        size_t j = slot_of(s, t->cap);
        while (t->keys[j] && t->keys[j] != s) j = (j + 1) & (t->cap - 1);
        if (t->keys[j]) {
            if (--t->left[j] > 0) continue; /* another copy is still out */
            erase(t, j);
        }
        seqs[out++] = s;
    }
    return out;
}

size_t ackref_count(const ackref_t *t)
{
    return t->n;
}
