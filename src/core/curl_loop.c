/*
 * curl_loop.c - see curl_loop.h. One event per socket curl uses (curl keeps
 * our sock_t with curl_multi_assign and hands it back), one timer.
 */
#include "core/curl_loop.h"

#include <stdlib.h>

struct curl_loop {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    void (*after)(void *ctx);
    void *ctx;
};

typedef struct {
    struct event *ev;
    curl_loop_t *l;
} sock_t;

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    curl_loop_t *l = ((sock_t *)arg)->l; /* the sock_t may be freed inside socket_action */
    int flags = 0, running;
    if (what & EV_READ) flags |= CURL_CSELECT_IN;
    if (what & EV_WRITE) flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(l->multi, fd, flags, &running);
    l->after(l->ctx);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    curl_loop_t *l = arg;
    int running;
    (void)fd, (void)what;
    curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    l->after(l->ctx);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    curl_loop_t *l = userp;
    sock_t *so = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (so) {
            event_free(so->ev);
            free(so);
            curl_multi_assign(l->multi, fd, NULL);
        }
        return 0;
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (!so) {
        so = calloc(1, sizeof *so);
        if (!so) return -1;
        so->l = l;
        so->ev = event_new(l->base, fd, kind, on_socket_event, so);
        if (!so->ev) {
            free(so);
            return -1;
        }
        curl_multi_assign(l->multi, fd, so);
    } else {
        event_del(so->ev);
        event_assign(so->ev, l->base, fd, kind, on_socket_event, so);
    }
    event_add(so->ev, NULL);
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    curl_loop_t *l = userp;
    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(l->timer);
    } else {
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        evtimer_add(l->timer, &tv);
    }
    return 0;
}

curl_loop_t *curl_loop_new(struct event_base *base, CURLM *multi, void (*after)(void *ctx),
                           void *ctx)
{
    curl_loop_t *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->base = base;
    l->multi = multi;
    l->after = after;
    l->ctx = ctx;
    l->timer = evtimer_new(base, on_timer, l);
    if (!l->timer) {
        free(l);
        return NULL;
    }
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, l);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, l);
    return l;
}

void curl_loop_free(curl_loop_t *l)
{
    if (!l) return;
    event_free(l->timer);
    free(l);
}
