/*
 * strset.c - append-only string set for logdist-analyzer (see strset.h).
 */
#include "strset.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK_BYTES (1u << 20) /* arena chunk size; longer strings get their own chunk */
#define MIN_SLOTS 1024u

struct strset_chunk {
    strset_chunk_t *next;
    size_t used;
    size_t cap;
    char data[];
};

uint64_t strset_hash(const char *p, size_t n)
{
    const uint64_t k = 0x9E3779B97F4A7C15ull;
    uint64_t h = 0x2545F4914F6CDD1Dull ^ (n * k);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        uint64_t w = 0;
        memcpy(&w, p, n);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

void strset_init(strset_t *s, size_t max_entries)
{
    memset(s, 0, sizeof(*s));
    s->max_entries = max_entries;
}

void strset_free(strset_t *s)
{
    strset_chunk_t *c = s->head;
    while (c) {
        strset_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    free(s->slots);
    free(s->entries);
    free(s->lens);
    size_t max = s->max_entries;
    strset_init(s, max);
}

/* Move the slots into a new table of `nslots` slots (power of two), reusing the stored
 * hashes. Returns 0 or -1 (OOM,
 * table unchanged). */
static int rehash(strset_t *s, size_t nslots)
{
    uint64_t *slots = calloc(nslots, sizeof(*slots));
    if (!slots)
        return -1;
    size_t mask = nslots - 1;
    size_t old_n = s->slots ? s->slot_mask + 1 : 0;
    for (size_t i = 0; i < old_n; i++) {
        uint64_t slot = s->slots[i];
        if (!slot)
            continue;
        size_t j = (uint32_t)(slot >> 32) & mask;
        while (slots[j])
            j = (j + 1) & mask;
        slots[j] = slot;
    }
    free(s->slots);
    s->slots = slots;
    s->slot_mask = mask;
    return 0;
}

/* Copy p[0..len) plus '\n' into the arena; returns the copy or NULL on OOM. */
static const char *arena_copy(strset_t *s, const char *p, size_t len)
{
    strset_chunk_t *c = s->tail;
    if (!c || c->cap - c->used < len + 1) {
        size_t cap = len + 1 > CHUNK_BYTES ? len + 1 : CHUNK_BYTES;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->next = NULL;
        c->used = 0;
        c->cap = cap;
        if (s->tail)
            s->tail->next = c;
        else
            s->head = c;
        s->tail = c;
    }
    char *dst = c->data + c->used;
    memcpy(dst, p, len);
    dst[len] = '\n';
    c->used += len + 1;
    return dst;
}

void strset_prefetch(const strset_t *s, uint64_t hash)
{
    if (s->slots)
        __builtin_prefetch(&s->slots[(uint32_t)(hash >> 32) & s->slot_mask]);
}

long strset_insert(strset_t *s, const char *p, size_t len, bool *added)
{
    return strset_insert_hashed(s, p, len, strset_hash(p, len), added);
}

long strset_insert_hashed(strset_t *s, const char *p, size_t len, uint64_t hv, bool *added)
{
    *added = false;
    if (!s->slots && rehash(s, MIN_SLOTS) < 0)
        return STRSET_NOMEM;
    uint32_t h = (uint32_t)(hv >> 32);
    size_t j = h & s->slot_mask;
    for (;;) {
        uint64_t slot = s->slots[j];
        if (!slot)
            break;
        if ((uint32_t)(slot >> 32) == h) {
            size_t idx = (size_t)(uint32_t)slot - 1;
            if (s->lens[idx] == len && memcmp(s->entries[idx], p, len) == 0)
                return (long)idx;
        }
        j = (j + 1) & s->slot_mask;
    }
    /* Absent: insert. */
    if (s->max_entries && s->count >= s->max_entries)
        return STRSET_FULL;
    if (s->count >= UINT32_MAX - 1 || len >= UINT32_MAX)
        return STRSET_FULL;
    if (s->count == s->entries_cap) {
        size_t cap = s->entries_cap ? s->entries_cap * 2 : 1024;
        const char **e = realloc(s->entries, cap * sizeof(*e));
        if (!e)
            return STRSET_NOMEM;
        s->entries = e;
        uint32_t *l = realloc(s->lens, cap * sizeof(*l));
        if (!l)
            return STRSET_NOMEM;
        s->lens = l;
        s->entries_cap = cap;
    }
    if ((s->count + 1) * 10 > (s->slot_mask + 1) * 7) {
        if (rehash(s, (s->slot_mask + 1) * 2) < 0)
            return STRSET_NOMEM;
        j = h & s->slot_mask;
        while (s->slots[j])
            j = (j + 1) & s->slot_mask;
    }
    const char *copy = arena_copy(s, p, len);
    if (!copy)
        return STRSET_NOMEM;
    size_t idx = s->count++;
    s->entries[idx] = copy;
    s->lens[idx] = (uint32_t)len;
    s->slots[j] = ((uint64_t)h << 32) | (uint64_t)(idx + 1);
    *added = true;
    return (long)idx;
}

void strset_foreach_chunk(const strset_t *s, void (*fn)(void *arg, const char *p, size_t len),
                          void *arg)
{
    for (const strset_chunk_t *c = s->head; c; c = c->next)
        if (c->used)
            fn(arg, c->data, c->used);
}

const char *strset_get(const strset_t *s, size_t i, size_t *len)
{
    *len = s->lens[i];
    return s->entries[i];
}
