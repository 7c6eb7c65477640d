/*
 * health.c - see health.h.
 */
#include "deliver/health.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "core/metrics.h"

struct health {
    struct event_base *base;
    sender_t *sender;
    const config_t *cfg;
    health_hooks_t hooks;
};

struct health_target {
    health_t *h;
    analyzer_t *a;
    struct event *ev;
    bool up;
    bool inflight;  /* a check is in flight */
    bool unwatched; /* free when the check in flight completes */
    uint32_t ok_streak, fail_streak, passive_fail_streak;
    uint64_t changed_ms;
    uint64_t times_marked_down;
    char last_error[128];
    uint64_t last_error_ms;
};

health_t *health_new(struct event_base *base, sender_t *sender, const config_t *cfg,
                     const health_hooks_t *hooks)
{
    health_t *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->base = base;
    h->sender = sender;
    h->cfg = cfg;
    h->hooks = *hooks;
    return h;
}

void health_free(health_t *h)
{
    free(h);
}

static void set_state(health_target_t *t, bool up, const char *why)
{
    if (t->up == up || t->unwatched) return;
    t->up = up;
    t->changed_ms = wall_ms();
    if (!up) t->times_marked_down++;
    if (up)
        log_event(LOG_INFO, "health", "analyzer_up",
                  LOG_FIELDS(LF_STR("analyzer", t->a->spec.id), LF_STR("reason", why)),
                  "analyzer %s is up (%s)", t->a->spec.id, why);
    else
        log_event(LOG_WARN, "health", "analyzer_down",
                  LOG_FIELDS(LF_STR("analyzer", t->a->spec.id), LF_STR("reason", why)),
                  "analyzer %s is down (%s)", t->a->spec.id, why);
    if (t->h->hooks.changed) t->h->hooks.changed(t->h->hooks.ctx, t->a, up);
}

static void on_check_done(void *ctx, const sender_result_t *res)
{
    health_target_t *t = ctx;
    health_t *h = t->h;
    t->inflight = false;
    if (t->unwatched) {
        analyzer_t *a = t->a;
        free(t);
        if (!res->cancelled && h->hooks.released) h->hooks.released(h->hooks.ctx, a);
        return;
    }
    if (res->cancelled) return;
    METRIC_ADD(health_checks, 1);
    if (res->weight_hint && h->hooks.hint) h->hooks.hint(h->hooks.ctx, t->a, res->weight_hint);
    if (res->ok) {
        t->fail_streak = 0;
        t->ok_streak++;
        if (!t->up && t->ok_streak >= h->cfg->health_rise) {
            t->passive_fail_streak = 0;
            set_state(t, true, "health checks pass");
        }
        return;
    }
    METRIC_ADD(health_check_failures, 1);
    if (res->tls_error) METRIC_ADD(analyzer_tls_failures, 1);
    t->ok_streak = 0;
    t->fail_streak++;
    snprintf(t->last_error, sizeof t->last_error, "health check: %s", res->error);
    t->last_error_ms = now_ms();
    if (t->up && t->fail_streak >= h->cfg->health_fall) set_state(t, false, t->last_error);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    health_target_t *t = arg;
    health_t *h = t->h;
    if (t->inflight) return;
    t->inflight = true;
    sender_peer_t peer = {t->a->spec.client_cert, t->a->spec.client_key};
    if (sender_get(h->sender, t->a->spec.health_url, &peer, h->cfg->health_timeout_ms,
                   on_check_done, t))
        t->inflight = false;
}

health_target_t *health_watch(health_t *h, analyzer_t *a)
{
    health_target_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->h = h;
    t->a = a;
    t->up = true;
    t->changed_ms = wall_ms();
    t->ev = event_new(h->base, -1, EV_PERSIST, on_tick, t);
    if (!t->ev) {
        free(t);
        return NULL;
    }
    uint32_t ms = h->cfg->health_interval_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(t->ev, &tv);
    event_active(t->ev, EV_TIMEOUT, 0);
    return t;
}

bool health_unwatch(health_target_t *t)
{
    if (!t) return false;
    event_free(t->ev);
    t->ev = NULL;
    if (t->inflight) {
        t->unwatched = true;
        return true;
    }
    free(t);
    return false;
}

void health_delivery_result(health_target_t *t, bool ok)
{
    if (ok) {
        t->passive_fail_streak = 0;
        return;
    }
    t->passive_fail_streak++;
    if (t->up && t->passive_fail_streak >= t->h->cfg->passive_fall) {
        t->ok_streak = 0;
        set_state(t, false, "deliveries failing");
    }
}

bool health_is_up(const health_target_t *t)
{
    return t->up;
}

void health_info(const health_target_t *t, health_info_t *out)
{
    out->up = t->up;
    out->changed_ms = t->changed_ms;
    out->times_marked_down = t->times_marked_down;
    out->last_error_ms = t->last_error_ms;
    snprintf(out->last_error, sizeof out->last_error, "%s", t->last_error);
}
