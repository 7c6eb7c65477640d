/*
 * health.h - active and passive health checking of analyzers.
 *
 * Active: every health_interval_ms, GET the analyzer's health_url with
 * health_timeout_ms; health_rise consecutive 2xx mark it up, health_fall
 * consecutive failures mark it down. Passive: passive_fall consecutive failed
 * deliveries mark it down (only active checks bring it back up). Transitions
 * are reported through a callback; the delivery layer moves the records.
 * Runs on the delivery thread's event base and uses its sender.
 */
#ifndef LOGDIST_HEALTH_H
#define LOGDIST_HEALTH_H

#include <stdbool.h>

#include "core/config.h"
#include "deliver/sender.h"
#include "route/router.h"

struct event_base;
typedef struct health health_t;

typedef struct {
    void (*changed)(void *ctx, analyzer_t *a, bool up); /* after router_set_health() */
    void (*check_done)(void *ctx, analyzer_t *a);       /* an active check finished */
    void *ctx;
} health_hooks_t;

health_t *health_new(struct event_base *base, sender_t *sender, router_t *router,
                     const config_t *cfg, const health_hooks_t *hooks);
void health_free(health_t *h);

/* Start checking `a` periodically (first check right away). Returns 0 or -1. */
int health_watch(health_t *h, analyzer_t *a);

/* Stop checking `a` (an in-flight check still completes; a->hc_inflight tells). */
void health_unwatch(health_t *h, analyzer_t *a);

/* Passive detection: report the outcome of one delivery attempt to `a`. */
void health_delivery_result(health_t *h, analyzer_t *a, bool ok);

#endif
