/*
 * ratelimit.c - see ratelimit.h. Agents live in a hash table (chaining) plus
 * an LRU list, so memory is bounded by max_agents whatever clients claim.
 */
#include "ingest/ratelimit.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double tokens, rate, cap;
} bucket_t;

typedef struct agent {
    struct agent *hnext;         /* hash chain */
    struct agent *prev, *next;   /* LRU: head = most recent */
    char *key;
    size_t key_len;
    uint64_t last_us;
    bucket_t rec, bytes;
} agent_t;

struct ratelimit {
    ratelimit_config_t cfg;
    bucket_t g_rec, g_bytes;
    uint64_t g_last_us;
    agent_t **table;
    size_t nbuckets, nagents;
    agent_t *lru_head, *lru_tail;
};

static void bucket_init(bucket_t *b, uint64_t rate, double burst_s)
{
    b->rate = (double)rate;
    b->cap = rate ? fmax((double)rate * burst_s, 1.0) : 0;
    b->tokens = b->cap;
}

/* Seconds from *last to now, and *last = now. A clock that steps backwards
 * counts as no time at all (never as a huge unsigned gap that refills). */
static double elapsed(uint64_t *last, uint64_t now)
{
    double dt = *last && now > *last ? (double)(now - *last) / 1e6 : 0;
    *last = now;
    return dt;
}

static void refill(bucket_t *b, double dt)
{
    if (!b->rate) return;
    b->tokens = fmin(b->cap, b->tokens + b->rate * dt);
}

/* Seconds until `need` fits (0 if it fits now). A packet larger than the
 * bucket fits when the bucket is full. */
static double wait_for(const bucket_t *b, double need)
{
    if (!b->rate) return 0;
    double want = fmin(need, b->cap);
    return b->tokens >= want ? 0 : (want - b->tokens) / b->rate;
}

static void take(bucket_t *b, double n)
{
    if (b->rate) b->tokens -= fmin(n, b->cap);
}

ratelimit_t *ratelimit_new(const ratelimit_config_t *cfg)
{
    ratelimit_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->cfg = *cfg;
    if (r->cfg.burst_s <= 0) r->cfg.burst_s = 1;
    if (!r->cfg.max_agents) r->cfg.max_agents = 10000;
    bucket_init(&r->g_rec, cfg->global_records_per_s, r->cfg.burst_s);
    bucket_init(&r->g_bytes, cfg->global_bytes_per_s, r->cfg.burst_s);
    r->nbuckets = 4096;
    r->table = calloc(r->nbuckets, sizeof *r->table);
    if (!r->table) {
        free(r);
        return NULL;
    }
    return r;
}

static void bucket_retune(bucket_t *b, uint64_t rate, double burst_s)
{
    bool was_off = b->rate == 0;
    b->rate = (double)rate;
    b->cap = rate ? fmax((double)rate * burst_s, 1.0) : 0;
    b->tokens = was_off ? b->cap : fmin(b->tokens, b->cap);
}

void ratelimit_reconfigure(ratelimit_t *r, const ratelimit_config_t *cfg)
{
    size_t max_agents = r->cfg.max_agents;
    r->cfg = *cfg;
    r->cfg.max_agents = max_agents;
    if (r->cfg.burst_s <= 0) r->cfg.burst_s = 1;
    bucket_retune(&r->g_rec, r->cfg.global_records_per_s, r->cfg.burst_s);
    bucket_retune(&r->g_bytes, r->cfg.global_bytes_per_s, r->cfg.burst_s);
    for (agent_t *a = r->lru_head; a; a = a->next) {
        bucket_retune(&a->rec, r->cfg.agent_records_per_s, r->cfg.burst_s);
        bucket_retune(&a->bytes, r->cfg.agent_bytes_per_s, r->cfg.burst_s);
    }
}

void ratelimit_free(ratelimit_t *r)
{
    if (!r) return;
    agent_t *a = r->lru_head;
    while (a) {
        agent_t *n = a->next;
        free(a->key);
        free(a);
        a = n;
    }
    free(r->table);
    free(r);
}

int ratelimit_enabled(const ratelimit_t *r)
{
    return r && (r->cfg.global_records_per_s || r->cfg.global_bytes_per_s ||
                 r->cfg.agent_records_per_s || r->cfg.agent_bytes_per_s);
}

static size_t hash(const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
    return (size_t)h;
}

static void lru_unlink(ratelimit_t *r, agent_t *a)
{
    if (a->prev)
        a->prev->next = a->next;
    else
        r->lru_head = a->next;
    if (a->next)
        a->next->prev = a->prev;
    else
        r->lru_tail = a->prev;
    a->prev = a->next = NULL;
}

static void lru_push_front(ratelimit_t *r, agent_t *a)
{
    a->next = r->lru_head;
    a->prev = NULL;
    if (r->lru_head) r->lru_head->prev = a;
    r->lru_head = a;
    if (!r->lru_tail) r->lru_tail = a;
}

static void forget(ratelimit_t *r, agent_t *a)
{
    agent_t **pp = &r->table[hash(a->key, a->key_len) & (r->nbuckets - 1)];
    while (*pp != a) pp = &(*pp)->hnext;
    *pp = a->hnext;
    lru_unlink(r, a);
    free(a->key);
    free(a);
    r->nagents--;
}

static agent_t *agent_get(ratelimit_t *r, const char *key, size_t n, uint64_t now)
{
    size_t s = hash(key, n) & (r->nbuckets - 1);
    for (agent_t *a = r->table[s]; a; a = a->hnext) {
        if (a->key_len == n && !memcmp(a->key, key, n)) {
            lru_unlink(r, a);
            lru_push_front(r, a);
            return a;
        }
    }
    if (r->nagents >= r->cfg.max_agents) forget(r, r->lru_tail);
    agent_t *a = calloc(1, sizeof *a);
    if (!a || !(a->key = malloc(n ? n : 1))) {
        free(a);
        return NULL;
    }
    memcpy(a->key, key, n);
    a->key_len = n;
    a->last_us = now;
    bucket_init(&a->rec, r->cfg.agent_records_per_s, r->cfg.burst_s);
    bucket_init(&a->bytes, r->cfg.agent_bytes_per_s, r->cfg.burst_s);
    a->hnext = r->table[s];
    r->table[s] = a;
    lru_push_front(r, a);
    r->nagents++;
    return a;
}

int ratelimit_admit(ratelimit_t *r, const char *key, size_t key_len, uint64_t records,
                    uint64_t bytes, uint64_t now_us, const char **which)
{
    if (!ratelimit_enabled(r)) return 0;
    double dt = elapsed(&r->g_last_us, now_us);
    refill(&r->g_rec, dt);
    refill(&r->g_bytes, dt);
    double wait = fmax(wait_for(&r->g_rec, (double)records), wait_for(&r->g_bytes, (double)bytes));
    if (wait > 0) {
        *which = "global";
        return (int)ceil(fmax(wait, 1.0));
    }
    agent_t *a = NULL;
    if (r->cfg.agent_records_per_s || r->cfg.agent_bytes_per_s) {
        a = agent_get(r, key, key_len, now_us);
        if (a) {
            double adt = elapsed(&a->last_us, now_us);
            refill(&a->rec, adt);
            refill(&a->bytes, adt);
            wait = fmax(wait_for(&a->rec, (double)records), wait_for(&a->bytes, (double)bytes));
            if (wait > 0) {
                *which = "agent";
                return (int)ceil(fmax(wait, 1.0));
            }
            take(&a->rec, (double)records);
            take(&a->bytes, (double)bytes);
        }
    }
    take(&r->g_rec, (double)records);
    take(&r->g_bytes, (double)bytes);
    return 0;
}

size_t ratelimit_agents(const ratelimit_t *r)
{
    return r ? r->nagents : 0;
}
