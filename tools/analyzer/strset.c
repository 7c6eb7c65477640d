/*
 * strset.c - append-only string set for logdist-analyzer (see strset.h).
 */
#include "strset.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define CHUNK_MIN ((size_t)64 << 10) /* first arena chunk; each next one doubles ... */
#define CHUNK_MAX ((size_t)4 << 20)  /* ... up to this; longer strings get their own chunk */
#define MIN_SLOTS 1024u
#define HUGE_TABLE_BYTES ((size_t)4 << 20) /* tables this big are mmap'ed with huge pages */

/* Zeroed slot table of n slots; big ones are backed by transparent huge pages (fewer TLB
 * misses on random probes). Returns NULL on OOM. */
static uint64_t *slots_alloc(size_t n)
{
    size_t bytes = n * sizeof(uint64_t);
    if (bytes < HUGE_TABLE_BYTES) return calloc(n, sizeof(uint64_t));
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

/* Free a table from slots_alloc(n). */
static void slots_free(uint64_t *slots, size_t n)
{
    if (!slots) return;
    if (n * sizeof(uint64_t) < HUGE_TABLE_BYTES)
        free(slots);
    else
        munmap(slots, n * sizeof(uint64_t));
}

struct strset_chunk {
    strset_chunk_t *next;
    size_t used;
    size_t cap; /* bytes of data[]; the mapping is sizeof(strset_chunk_t) + cap */
    char data[];
};

/* New empty arena chunk with room for cap bytes, mmap'ed with huge pages (an id set
 * grows by hundreds of MB; 4 KiB page faults would cost more than the inserts).
 * Returns NULL on OOM. */
static strset_chunk_t *chunk_alloc(size_t cap)
{
    size_t bytes = sizeof(strset_chunk_t) + cap;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    if (bytes >= CHUNK_MAX) madvise(p, bytes, MADV_HUGEPAGE);
    strset_chunk_t *c = p;
    c->next = NULL;
    c->used = 0;
    c->cap = cap;
    return c;
}

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
        munmap(c, sizeof(*c) + c->cap);
        c = next;
    }
    slots_free(s->slots, s->slots ? s->slot_mask + 1 : 0);
    free(s->entries);
    free(s->lens);
    size_t max = s->max_entries;
    strset_init(s, max);
}

/* Move the slots into a new table of `nslots` slots (power of two), reusing the stored
 * hashes. Returns 0 or -1 (OOM, table unchanged). */
static int rehash(strset_t *s, size_t nslots)
{
    uint64_t *slots = slots_alloc(nslots);
    if (!slots) return -1;
    size_t mask = nslots - 1;
    size_t old_n = s->slots ? s->slot_mask + 1 : 0;
    for (size_t i = 0; i < old_n; i++) {
        uint64_t slot = s->slots[i];
        if (!slot) continue;
        size_t j = (uint32_t)(slot >> 32) & mask;
        while (slots[j])
            j = (j + 1) & mask;
        slots[j] = slot;
    }
    slots_free(s->slots, old_n);
    s->slots = slots;
    s->slot_mask = mask;
    return 0;
}

/* Copy p[0..len) plus '\n' into the arena; returns the copy or NULL on OOM. */
static const char *arena_copy(strset_t *s, const char *p, size_t len)
{
    strset_chunk_t *c = s->tail;
    if (!c || c->cap - c->used < len + 1) {
        size_t cap = c ? c->cap * 2 : CHUNK_MIN;
        if (cap > CHUNK_MAX) cap = CHUNK_MAX;
        if (cap < len + 1) cap = len + 1;
        c = chunk_alloc(cap);
        if (!c) return NULL;
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

long strset_insert(strset_t *s, const char *p, size_t len, bool *added)
{
    return strset_insert_hashed(s, p, len, strset_hash(p, len), added);
}

long strset_insert_hashed(strset_t *s, const char *p, size_t len, uint64_t hv, bool *added)
{
    *added = false;
    if (!s->slots && rehash(s, MIN_SLOTS) < 0) return STRSET_NOMEM;
    uint32_t h = (uint32_t)(hv >> 32);
    size_t j = h & s->slot_mask;
    for (;;) {
        uint64_t slot = s->slots[j];
        if (!slot) break;
        if ((uint32_t)(slot >> 32) == h) {
            size_t idx = (size_t)(uint32_t)slot - 1;
            if (s->lens[idx] == len && memcmp(s->entries[idx], p, len) == 0) return (long)idx;
        }
        j = (j + 1) & s->slot_mask;
    }
    /* Absent: insert. */
    if (s->max_entries && s->count >= s->max_entries) return STRSET_FULL;
    if (s->count >= UINT32_MAX - 1 || len >= UINT32_MAX) return STRSET_FULL;
    if (s->count == s->entries_cap) {
        size_t cap = s->entries_cap ? s->entries_cap * 2 : 1024;
        const char **e = realloc(s->entries, cap * sizeof(*e));
        if (!e) return STRSET_NOMEM;
        s->entries = e;
        uint32_t *l = realloc(s->lens, cap * sizeof(*l));
        if (!l) return STRSET_NOMEM;
        s->lens = l;
        s->entries_cap = cap;
    }
    if ((s->count + 1) * 10 > (s->slot_mask + 1) * 7) {
        if (rehash(s, (s->slot_mask + 1) * 2) < 0) return STRSET_NOMEM;
        j = h & s->slot_mask;
        while (s->slots[j])
            j = (j + 1) & s->slot_mask;
    }
    const char *copy = arena_copy(s, p, len);
    if (!copy) return STRSET_NOMEM;
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
        if (c->used) fn(arg, c->data, c->used);
}

const char *strset_get(const strset_t *s, size_t i, size_t *len)
{
    *len = s->lens[i];
    return s->entries[i];
}
