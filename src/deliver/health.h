/*
 * health.h - active and passive health checking of analyzers.
 *
 * Active: every health_interval_ms, GET the analyzer's health_url with
 * health_timeout_ms; health_rise consecutive 2xx mark it up, health_fall
 * consecutive failures mark it down. Passive: passive_fall consecutive failed
 * deliveries mark it down (only active checks bring it back up). Transitions
 * are reported through a hook; the delivery layer moves the records and tells
 * the router. Runs on the delivery thread's event base and uses its sender.
 *
 * Ownership: the health state of each analyzer (up/down, streaks, the check
 * in flight, its timer, last check error) lives in a health_target_t that only
 * this module writes. It reads the analyzer's spec (url, health_url, client
 * certificate) and never writes analyzer_t.
 */
#ifndef LOGDIST_HEALTH_H
#define LOGDIST_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "deliver/sender.h"
#include "route/router.h"

struct event_base;
typedef struct health health_t;
typedef struct health_target health_target_t;

typedef struct {
    void (*changed)(void *ctx, analyzer_t *a, bool up); /* a went up or down */
    void (*released)(void *ctx, analyzer_t *a);         /* an unwatched target is gone */
    void *ctx;
    /* a check's answer carried X-Logdist-Weight (value valid during the call); may be NULL */
    void (*hint)(void *ctx, analyzer_t *a, const char *value);
} health_hooks_t;

/* What health knows about one analyzer (for the admin snapshot). */
typedef struct {
    bool up;
    uint64_t changed_ms;      /* wall clock of the last up/down transition */
    uint64_t times_marked_down;
    char last_error[128];     /* last failed check */
    uint64_t last_error_ms;   /* now_ms() of it (0: none) */
} health_info_t;

health_t *health_new(struct event_base *base, sender_t *sender, const config_t *cfg,
                     const health_hooks_t *hooks);
/* Free h. Targets must have been unwatched; sender_free() first cancels checks. */
void health_free(health_t *h);

/* Start checking `a` (first check right away; up until checks say otherwise).
 * Returns the target, or NULL on ENOMEM. */
health_target_t *health_watch(health_t *h, analyzer_t *a);

/* Stop checking. Returns true when a check is still in flight: the target is
 * then freed when it completes and the `released` hook runs; false: freed now. */
bool health_unwatch(health_target_t *t);

/* Passive detection: report the outcome of one delivery attempt. */
void health_delivery_result(health_target_t *t, bool ok);

bool health_is_up(const health_target_t *t);
void health_info(const health_target_t *t, health_info_t *out);

#endif
