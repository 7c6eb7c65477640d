/*
 * connlimit.c - see connlimit.h. Per-connection state lives in a small
 * chained hash table keyed by the evhttp_connection pointer; the entry is
 * removed by the connection's close callback.
 */
#include "core/connlimit.h"

#include <event2/http.h>
#include <stdlib.h>

#include "common/util.h"
#include "core/metrics.h"

typedef struct conn {
    struct conn *next;
    struct evhttp_connection *evcon;
    double tokens;
    uint64_t last_us;
} conn_t;

struct connlimit {
    uint32_t max_conns, max_rps, open;
    connlimit_close_fn close_hook;
    conn_t **buckets;
    size_t nbuckets;
};

static size_t slot(const connlimit_t *c, const void *p)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 17;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 32) & (c->nbuckets - 1);
}

connlimit_t *connlimit_new(uint32_t max_conns, uint32_t max_rps)
{
    connlimit_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->max_conns = max_conns;
    c->max_rps = max_rps;
    c->nbuckets = 1024;
    c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    return c;
}

void connlimit_on_close(connlimit_t *c, connlimit_close_fn fn)
{
    c->close_hook = fn;
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
    connlimit_t *c = arg;
    if (c->close_hook) c->close_hook(evcon);
    conn_t **pp = &c->buckets[slot(c, evcon)];
    while (*pp && (*pp)->evcon != evcon) pp = &(*pp)->next;
    if (!*pp) return;
    conn_t *x = *pp;
    *pp = x->next;
    free(x);
    c->open--;
}

int connlimit_check(connlimit_t *c, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (!evcon) return 0;
    size_t s = slot(c, evcon);
    conn_t *x = c->buckets[s];
    while (x && x->evcon != evcon) x = x->next;
    uint64_t now = now_us();
    if (!x) {
        if (c->max_conns && c->open >= c->max_conns) {
            METRIC_ADD(connections_refused, 1);
            return 503;
        }
        x = calloc(1, sizeof *x);
        if (!x) return 503;
        x->evcon = evcon;
        x->tokens = c->max_rps;
        x->last_us = now;
        x->next = c->buckets[s];
        c->buckets[s] = x;
        c->open++;
        evhttp_connection_set_closecb(evcon, on_close, c);
    }
    if (c->max_rps) {
        x->tokens += (double)(now - x->last_us) * c->max_rps / 1e6;
        if (x->tokens > c->max_rps) x->tokens = c->max_rps;
        x->last_us = now;
        if (x->tokens < 1) {
            METRIC_ADD(requests_rate_limited, 1);
            return 429;
        }
        x->tokens -= 1;
    }
    return 0;
}


void connlimit_free(connlimit_t *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->nbuckets; i++) {
        conn_t *x = c->buckets[i];
        while (x) {
            conn_t *n = x->next;
            free(x);
            x = n;
        }
    }
    free(c->buckets);
    free(c);
}
