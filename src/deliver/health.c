/*
 * health.c - see health.h.
 */
#include "deliver/health.h"

#include <event2/event.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/util.h"
#include "core/metrics.h"

struct health {
    struct event_base *base;
    sender_t *sender;
    router_t *router;
    const config_t *cfg;
    health_hooks_t hooks;
};

health_t *health_new(struct event_base *base, sender_t *sender, router_t *router,
                     const config_t *cfg, const health_hooks_t *hooks)
{
    health_t *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->base = base;
    h->sender = sender;
    h->router = router;
    h->cfg = cfg;
    h->hooks = *hooks;
    return h;
}

void health_free(health_t *h)
{
    free(h);
}

static void set_state(health_t *h, analyzer_t *a, bool up, const char *why)
{
    if (a->healthy == up || a->removed) return;
    router_set_health(h->router, a, up);
    a->health_changed_ms = wall_ms();
    if (!up) a->times_marked_down++;
    if (up)
        log_info("health", "analyzer %s is up (%s)", a->spec.id, why);
    else
        log_warn("health", "analyzer %s is down (%s)", a->spec.id, why);
    if (h->hooks.changed) h->hooks.changed(h->hooks.ctx, a, up);
}

static void on_check_done(void *ctx, const sender_result_t *res)
{
    analyzer_t *a = ctx;
    health_t *h = a->health_ctx;
    a->hc_inflight = false;
    if (res->cancelled) return;
    METRIC_ADD(health_checks, 1);
    if (res->ok) {
        a->hc_fail_streak = 0;
        a->hc_ok_streak++;
        if (!a->healthy && a->hc_ok_streak >= h->cfg->health_rise) {
            a->passive_fail_streak = 0;
            set_state(h, a, true, "health checks pass");
        }
    } else {
        METRIC_ADD(health_check_failures, 1);
        if (res->tls_error) METRIC_ADD(analyzer_tls_failures, 1);
        a->hc_ok_streak = 0;
        a->hc_fail_streak++;
        snprintf(a->last_error, sizeof a->last_error, "health check: %s", res->error);
        if (a->healthy && a->hc_fail_streak >= h->cfg->health_fall)
            set_state(h, a, false, a->last_error);
    }
    if (h->hooks.check_done) h->hooks.check_done(h->hooks.ctx, a);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    analyzer_t *a = arg;
    health_t *h = a->health_ctx;
    if (a->hc_inflight || a->removed) return;
    a->hc_inflight = true;
    sender_peer_t peer = {a->spec.client_cert, a->spec.client_key};
    if (sender_get(h->sender, a->spec.health_url, &peer, h->cfg->health_timeout_ms, on_check_done,
                   a))
        a->hc_inflight = false;
}

int health_watch(health_t *h, analyzer_t *a)
{
    if (a->health_ev) return 0;
    a->health_ctx = h;
    a->health_ev = event_new(h->base, -1, EV_PERSIST, on_tick, a);
    if (!a->health_ev) return -1;
    uint32_t ms = h->cfg->health_interval_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(a->health_ev, &tv);
    event_active(a->health_ev, EV_TIMEOUT, 0);
    return 0;
}

void health_unwatch(health_t *h, analyzer_t *a)
{
    if (!a->health_ev) return;
    event_free(a->health_ev);
    a->health_ev = NULL;
}

void health_delivery_result(health_t *h, analyzer_t *a, bool ok)
{
    if (ok) {
        a->passive_fail_streak = 0;
        return;
    }
    a->passive_fail_streak++;
    if (a->healthy && a->passive_fail_streak >= h->cfg->passive_fall) {
        a->hc_ok_streak = 0;
        set_state(h, a, false, "deliveries failing");
    }
}
