/*
 * strset.h - append-only set of short byte strings for logdist-analyzer.
 *
 * Used for record ids (millions of entries), batch ids and level/source names.
 * Strings are copied into an arena of large chunks, each stored followed by
 * '\n', so that the whole set can be dumped as "one string per line" by
 * walking the chunks (insertion order). Strings must therefore not contain
 * '\n' (raw JSON string contents and HTTP header values never do).
 * Lookup is an open-addressing table (linear probing) of 64-bit slots holding
 * a 32-bit hash and an entry index; it doubles when 70 % full.
 */
#ifndef LOGDIST_ANALYZER_STRSET_H
#define LOGDIST_ANALYZER_STRSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct strset_chunk strset_chunk_t;

typedef struct {
    uint64_t *slots;      /* hash << 32 | (entry index + 1); 0 = empty */
    size_t slot_mask;     /* slot count - 1 (power of two), 0 when no table yet */
    const char **entries; /* entries[i] points at the bytes of string i in the arena */
    uint32_t *lens;       /* lens[i] is the length of string i */
    size_t count;         /* number of strings */
    size_t entries_cap;
    size_t max_entries;   /* inserts beyond this fail with STRSET_FULL; 0 = no limit */
    strset_chunk_t *head; /* arena chunks in insertion order */
    strset_chunk_t *tail;
} strset_t;

enum { STRSET_FULL = -1, STRSET_NOMEM = -2 };

/* Initialise an empty set holding at most max_entries strings (0 = unbounded). */
void strset_init(strset_t *s, size_t max_entries);

/* Free everything the set owns; the set is left empty and reusable. */
void strset_free(strset_t *s);

/* Look p[0..len) up and insert it if absent. Returns the entry index (>= 0) and
 * sets *added to whether it was new, or STRSET_FULL / STRSET_NOMEM (nothing
 * inserted, *added false). */
long strset_insert(strset_t *s, const char *p, size_t len, bool *added);

/* 64-bit hash of p[0..len) as used by the set (word-at-a-time multiply/xor-shift). */
uint64_t strset_hash(const char *p, size_t len);

/* strset_insert() with the hash precomputed by strset_hash(). */
long strset_insert_hashed(strset_t *s, const char *p, size_t len, uint64_t hash, bool *added);

/* Hint the CPU to fetch the slot a later insert of `hash` will probe first (batching
 * lookups this way hides most cache misses on big sets). */
static inline void strset_prefetch(const strset_t *s, uint64_t hash)
{
    if (s->slots) __builtin_prefetch(&s->slots[(uint32_t)(hash >> 32) & s->slot_mask]);
}

/* Walk the arena: call fn(arg, bytes, len) for each chunk in insertion order;
 * the concatenation is every string followed by '\n'. */
void strset_foreach_chunk(const strset_t *s, void (*fn)(void *arg, const char *p, size_t len),
                          void *arg);

/* Bytes of entry i (0 <= i < count) and its length (excluding the '\n'). */
const char *strset_get(const strset_t *s, size_t i, size_t *len);

#endif
