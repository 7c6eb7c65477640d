/*
 * slowguard.c - see slowguard.h. Trackers sit in a chained hash table keyed
 * by the bufferevent pointer. The extra reference keeps a bufferevent (and
 * its descriptor) alive after evhttp frees it, until the next sweep notices
 * (evhttp's bufferevent_free clears the callbacks) and lets it go.
 */
#include "core/slowguard.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "common/util.h"
#include "core/metrics.h"

#define NBUCKETS 1024 /* power of two */
#define SWEEP_MS 500

typedef struct tracker {
    struct tracker *next;
    struct bufferevent *bev;
    uint64_t since_ms; /* accepted, or last request completed */
    bool shut;
} tracker_t;

struct slowguard {
    struct event *sweep;
    uint32_t deadline_ms;
    tracker_t *buckets[NBUCKETS];
};

static size_t slot(const void *p)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 17;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 40) & (NBUCKETS - 1);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    slowguard_t *g = arg;
    uint64_t now = now_ms();
    for (size_t i = 0; i < NBUCKETS; i++) {
        tracker_t **pp = &g->buckets[i];
        while (*pp) {
            tracker_t *t = *pp;
            bufferevent_data_cb rd = NULL;
            bufferevent_getcb(t->bev, &rd, NULL, NULL, NULL);
            if (!rd) { /* evhttp is done with it */
                *pp = t->next;
                bufferevent_decref(t->bev);
                free(t);
                continue;
            }
            if (!t->shut && now - t->since_ms > g->deadline_ms) {
                evutil_socket_t s = bufferevent_getfd(t->bev);
                if (s >= 0) shutdown(s, SHUT_RDWR);
                t->shut = true;
                METRIC_ADD(slow_clients_closed, 1);
            }
            pp = &t->next;
        }
    }
}

slowguard_t *slowguard_new(struct event_base *base, uint32_t deadline_ms)
{
    slowguard_t *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->deadline_ms = deadline_ms;
    g->sweep = event_new(base, -1, EV_PERSIST, on_sweep, g);
    if (!g->sweep) {
        free(g);
        return NULL;
    }
    struct timeval tv = {0, SWEEP_MS * 1000};
    event_add(g->sweep, &tv);
    return g;
}

void slowguard_track(slowguard_t *g, struct bufferevent *bev)
{
    tracker_t *t = calloc(1, sizeof *t);
    if (!t) return; /* untracked: only the idle timeout applies */
    bufferevent_incref(bev);
    t->bev = bev;
    t->since_ms = now_ms();
    size_t s = slot(bev);
    t->next = g->buckets[s];
    g->buckets[s] = t;
}

void slowguard_progress(slowguard_t *g, struct evhttp_connection *evcon)
{
    if (!evcon) return;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    for (tracker_t *t = g->buckets[slot(bev)]; t; t = t->next) {
        if (t->bev == bev) {
            t->since_ms = now_ms();
            return;
        }
    }
}

void slowguard_free(slowguard_t *g)
{
    if (!g) return;
    for (size_t i = 0; i < NBUCKETS; i++) {
        tracker_t *t = g->buckets[i];
        while (t) {
            tracker_t *n = t->next;
            bufferevent_decref(t->bev);
            free(t);
            t = n;
        }
    }
    event_free(g->sweep);
    free(g);
}
