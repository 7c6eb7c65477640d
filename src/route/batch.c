/*
 * batch.c - see batch.h.
 */
#include "route/batch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

static uint32_t g_boot;
static _Atomic long g_fail_after = -1; /* batch_fail_allocs_after() */

void batch_fail_allocs_after(long n)
{
    atomic_store_explicit(&g_fail_after, n, memory_order_relaxed);
}

/* May this allocation go ahead? (only false under the test hook) */
static bool alloc_allowed(void)
{
    long n = atomic_load_explicit(&g_fail_after, memory_order_relaxed);
    if (n < 0) return true;
    if (n == 0) return false;
    atomic_store_explicit(&g_fail_after, n - 1, memory_order_relaxed);
    return true;
}
static _Atomic uint64_t g_seq;

/* Recycled body buffers: a batch body is a few hundred KB, above glibc's mmap
 * threshold, so without reuse every batch would map and fault in fresh pages. */
#define POOL_MAX 32
#define POOL_MIN_CAP (64 * 1024) /* smaller (shrunk) buffers are not worth keeping */
static pthread_mutex_t g_pool_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *buf;
    size_t cap;
} g_pool[POOL_MAX];
static int g_pool_n;

static char *pool_take(size_t min_cap, size_t *cap)
{
    char *b = NULL;
    pthread_mutex_lock(&g_pool_mu);
    for (int i = g_pool_n - 1; i >= 0; i--) {
        if (g_pool[i].cap >= min_cap) {
            b = g_pool[i].buf;
            *cap = g_pool[i].cap;
            g_pool[i] = g_pool[--g_pool_n];
            break;
        }
    }
    pthread_mutex_unlock(&g_pool_mu);
    return b;
}

static void pool_give(char *buf, size_t cap)
{
    pthread_mutex_lock(&g_pool_mu);
    if (g_pool_n < POOL_MAX && cap >= POOL_MIN_CAP) {
        g_pool[g_pool_n].buf = buf;
        g_pool[g_pool_n++].cap = cap;
        buf = NULL;
    }
    pthread_mutex_unlock(&g_pool_mu);
    free(buf);
}

void batch_pool_drain(void)
{
    pthread_mutex_lock(&g_pool_mu);
    while (g_pool_n) free(g_pool[--g_pool_n].buf);
    pthread_mutex_unlock(&g_pool_mu);
}

#define PREFIX_FMT "{\"packet_id\":\"%s\",\"agent_id\":\"logdistd\",\"messages\":["

void batch_id_init(uint32_t boot)
{
    /* random per process life: two lives in the same second must not share ids */
    while (!boot) {
        if (getrandom(&boot, sizeof boot, 0) != sizeof boot)
            boot = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16);
    }
    g_boot = boot;
}

batch_t *batch_new(size_t cap_hint)
{
    if (!alloc_allowed()) return NULL;
    batch_t *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    if (!g_boot) batch_id_init(0);
    uint64_t seq = atomic_fetch_add_explicit(&g_seq, 1, memory_order_relaxed);
    snprintf(b->id, sizeof b->id, "b%08x-%011llx", g_boot,
             (unsigned long long)(seq & 0xfffffffffffull));
    b->buf = pool_take(cap_hint + 128, &b->cap);
    if (!b->buf) {
        b->cap = cap_hint + 128;
        b->buf = malloc(b->cap);
    }
    if (!b->buf) {
        free(b);
        return NULL;
    }
    b->len = (size_t)snprintf(b->buf, b->cap, PREFIX_FMT, b->id);
    b->created_us = now_us();
    return b;
}

void batch_free(batch_t *b)
{
    if (!b) return;
    if (b->buf) pool_give(b->buf, b->cap);
    free(b->seqs);
    free(b);
}

static int reserve(batch_t *b, size_t more)
{
    if (b->len + more <= b->cap) return 0;
    size_t ncap = b->cap * 2;
    while (ncap < b->len + more) ncap *= 2;
    if (!alloc_allowed()) return -1;
    char *n = realloc(b->buf, ncap);
    if (!n) return -1;
    b->buf = n;
    b->cap = ncap;
    return 0;
}

int batch_append(batch_t *b, const char *rec, size_t len)
{
    if (reserve(b, len + 3)) return -1; /* ',' + room for "]}" */
    if (b->records) b->buf[b->len++] = ',';
    memcpy(b->buf + b->len, rec, len);
    b->len += len;
    b->records++;
    b->record_bytes += len;
    return 0;
}

static int reserve_seq(batch_t *b)
{
    if (b->nseqs < b->seqs_cap) return 0;
    uint32_t nc = b->seqs_cap ? b->seqs_cap * 2 : 64;
    if (!alloc_allowed()) return -1;
    uint64_t *n = realloc(b->seqs, nc * sizeof *n);
    if (!n) return -1;
    b->seqs = n;
    b->seqs_cap = nc;
    return 0;
}

int batch_add_seq(batch_t *b, uint64_t seq)
{
    if (reserve_seq(b)) return -1;
    b->seqs[b->nseqs++] = seq;
    return 0;
}

int batch_append_rec(batch_t *b, const char *rec, size_t len, uint64_t seq)
{
    if (seq && reserve_seq(b)) return -1; /* room first: a record never lands without its seq */
    if (batch_append(b, rec, len)) return -1;
    if (seq) b->seqs[b->nseqs++] = seq;
    return 0;
}

int batch_seal(batch_t *b)
{
    if (b->sealed) return 0;
    if (reserve(b, 2)) return -1;
    b->buf[b->len++] = ']';
    b->buf[b->len++] = '}';
    b->sealed = true;
    /* a batch sealed by its linger timer may fill a fraction of its buffer:
     * give the rest back, so a queue of small batches costs what it holds */
    if (b->len < b->cap / 4) {
        char *n = realloc(b->buf, b->len);
        if (n) {
            b->buf = n;
            b->cap = b->len;
        }
    }
    return 0;
}

size_t batch_cost(const batch_t *b)
{
    return sizeof *b + b->cap + (size_t)b->seqs_cap * sizeof *b->seqs;
}

size_t batch_size_with(const batch_t *b, size_t len)
{
    return b->len + len + (b->records ? 1 : 0) + 2; /* separator + closing "]}" */
}

void batch_list_push(batch_list_t *l, batch_t *b)
{
    b->next = NULL;
    if (l->tail)
        l->tail->next = b;
    else
        l->head = b;
    l->tail = b;
    l->count++;
}

void batch_list_push_front(batch_list_t *l, batch_t *b)
{
    b->next = l->head;
    l->head = b;
    if (!l->tail) l->tail = b;
    l->count++;
}

batch_t *batch_list_pop(batch_list_t *l)
{
    batch_t *b = l->head;
    if (!b) return NULL;
    l->head = b->next;
    if (!l->head) l->tail = NULL;
    b->next = NULL;
    l->count--;
    return b;
}
