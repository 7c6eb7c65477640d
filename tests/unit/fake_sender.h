/*
 * fake_sender.h - an in-process sender (deliver/sender.h ops table) for unit
 * tests of delivery and health: no sockets. Header-only (static functions),
 * included by test_deliver.c and test_health.c.
 *
 * GETs (health checks) are answered on the next loop turn: 2xx unless the URL
 * contains one of the strings in fake->get_fail. POSTs are kept in arrival
 * order until the test answers them (fake_answer), or, in auto mode, answered
 * on the next loop turn with auto_ok (auto_hang: never answered). Every
 * callback runs from the event loop, as the real sender's do. fake_free
 * (through sender_free) cancels what is still open, as the real one does.
 */
#ifndef LOGDIST_FAKE_SENDER_H
#define LOGDIST_FAKE_SENDER_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/sender.h"

#define FAKE_MAX_FAIL 8

typedef struct fake_req {
    struct fake_req *next;
    bool get;
    char url[256];
    char batch_id[64];
    const char *body; /* not copied (the contract: valid until done runs) */
    size_t len;
    sender_done_fn done;
    void *ctx;
    const char *hint; /* X-Logdist-Weight of its answer (NULL: none) */
} fake_req_t;

typedef struct {
    struct event_base *base;
    struct event *flush_ev;
    fake_req_t *gets, *posts;      /* FIFOs */
    const char *get_fail[FAKE_MAX_FAIL];
    bool auto_answer, auto_ok, auto_hang;
    long nposts, ngets;            /* requests started */
    long posts_open;               /* POSTs not answered yet */
    void (*on_get)(void *arg);     /* called in fake_get (e.g. to block the loop's thread) */
    void *on_get_arg;
    const char *hint_match, *hint; /* answers to URLs containing hint_match carry
                                      X-Logdist-Weight: hint (static strings) */
} fake_t;

static void fake_push(fake_req_t **l, fake_req_t *r)
{
    r->next = NULL;
    while (*l) l = &(*l)->next;
    *l = r;
}

static void fake_finish(fake_req_t *r, bool ok, bool cancelled)
{
    sender_result_t res = {.ok = ok, .cancelled = cancelled, .http_status = ok ? 200 : 503,
                           .error = cancelled ? "cancelled" : ok ? "" : "fake 503",
                           .seconds = 0.001, .weight_hint = cancelled ? NULL : r->hint};
    r->done(r->ctx, &res);
    free(r);
}

static bool fake_get_fails(const fake_t *f, const char *url)
{
    for (int i = 0; i < FAKE_MAX_FAIL; i++)
        if (f->get_fail[i] && strstr(url, f->get_fail[i])) return true;
    return false;
}

/* Answer the oldest open POST whose URL contains `match` (NULL: any). Returns
 * false when there is none. */
static bool fake_answer(fake_t *f, const char *match, bool ok)
{
    for (fake_req_t **pp = &f->posts; *pp; pp = &(*pp)->next) {
        if (match && !strstr((*pp)->url, match)) continue;
        fake_req_t *r = *pp;
        *pp = r->next;
        f->posts_open--;
        fake_finish(r, ok, false);
        return true;
    }
    return false;
}

static void fake_flush(evutil_socket_t fd, short what, void *arg)
{
    fake_t *f = arg;
    fake_req_t *g = f->gets;
    f->gets = NULL;
    while (g) {
        fake_req_t *n = g->next;
        fake_finish(g, !fake_get_fails(f, g->url), false);
        g = n;
    }
    if (f->auto_answer && !f->auto_hang)
        while (fake_answer(f, NULL, f->auto_ok)) {
        }
}

static void fake_kick(fake_t *f)
{
    static const struct timeval zero = {0, 0};
    evtimer_add(f->flush_ev, &zero);
}

static int fake_post(void *impl, const char *url, const sender_peer_t *peer, const char *body,
                     size_t len, const char *batch_id, long timeout_ms, sender_done_fn done,
                     void *ctx)
{
    fake_t *f = impl;
    fake_req_t *r = calloc(1, sizeof *r);
    if (!r) return -1;
    snprintf(r->url, sizeof r->url, "%s", url);
    snprintf(r->batch_id, sizeof r->batch_id, "%s", batch_id);
    r->body = body;
    r->len = len;
    r->done = done;
    r->ctx = ctx;
    r->hint = f->hint_match && strstr(url, f->hint_match) ? f->hint : NULL;
    fake_push(&f->posts, r);
    f->nposts++;
    f->posts_open++;
    if (f->auto_answer) fake_kick(f);
    return 0;
}

static int fake_get(void *impl, const char *url, const sender_peer_t *peer, long timeout_ms,
                    sender_done_fn done, void *ctx)
{
    fake_t *f = impl;
    if (f->on_get) f->on_get(f->on_get_arg);
    fake_req_t *r = calloc(1, sizeof *r);
    if (!r) return -1;
    r->get = true;
    snprintf(r->url, sizeof r->url, "%s", url);
    r->done = done;
    r->ctx = ctx;
    r->hint = f->hint_match && strstr(url, f->hint_match) ? f->hint : NULL;
    fake_push(&f->gets, r);
    f->ngets++;
    fake_kick(f);
    return 0;
}

static void fake_free(void *impl)
{
    fake_t *f = impl;
    fake_req_t *lists[2] = {f->gets, f->posts};
    f->gets = f->posts = NULL;
    for (int i = 0; i < 2; i++) {
        while (lists[i]) {
            fake_req_t *n = lists[i]->next;
            fake_finish(lists[i], false, true);
            lists[i] = n;
        }
    }
    f->posts_open = 0;
    if (f->flush_ev) event_free(f->flush_ev);
    f->flush_ev = NULL;
}

static const sender_ops_t fake_ops = {fake_post, fake_get, fake_free};

/* deliver_sender_fn: a sender over the fake `arg` (a zeroed fake_t) on base. */
static sender_t *fake_sender_new(struct event_base *base, void *arg)
{
    fake_t *f = arg;
    f->base = base;
    f->flush_ev = evtimer_new(base, fake_flush, f);
    if (!f->flush_ev) return NULL;
    return sender_new_ops(&fake_ops, f);
}

#endif
