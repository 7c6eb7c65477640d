/*
 * deliver_adapt.c - adaptive weights, slow start and analyzer weight hints
 * on the delivery thread (the arithmetic is deliver/adaptive.c, pure).
 *
 * Every delivery attempt feeds its analyzer's statistics
 * (deliver_adapt_observe); X-Logdist-Weight values from delivery and health
 * answers go through deliver_adapt_hint (bounded parser; refusals counted and
 * logged rate-limited, never applied). A timer (DELIVER_ADAPT_TICK_MS, armed
 * only while something can change: adaptive weights on, a ramp running, a
 * hint held, or a factor not yet back at 1) recomputes each analyzer's factor
 *
 *     clamp(latency x errors (quantised) x slow_start x hint, min, max(1, hint max))
 *
 * and calls router_set_factor() only when it changed. With every part at 1
 * the factor is exactly 1.0, so the balancer sees the configured weights bit
 * for bit and the SWRR stream is the one without this module.
 *
 * Ownership: the fields of target_t named in deliver_int.h (adapt, hint,
 * slow start, f_*) are written here only, on the delivery thread.
 */
#include <errno.h>
#include <event2/event.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "core/metrics.h"
#include "deliver/deliver_int.h"

static log_limiter_t hint_log = LOG_LIMITER_INIT(5);

void deliver_adapt_target_init(target_t *t)
{
    adaptive_init(&t->adapt);
    t->hint = 1;
    t->f_latency_errors = t->f_slow_start = t->f_hint = 1;
}

void deliver_adapt_observe(deliver_t *d, target_t *t, const sender_result_t *res)
{
    adaptive_observe(&t->adapt, &d->adapt, now_ms(), res->seconds * 1000.0, res->ok != 0);
}

static void arm(deliver_t *d)
{
    if (!d->adapt_ev || evtimer_pending(d->adapt_ev, NULL)) return;
    struct timeval tv = {0, DELIVER_ADAPT_TICK_MS * 1000};
    evtimer_add(d->adapt_ev, &tv);
}

void deliver_adapt_hint(deliver_t *d, target_t *t, const char *value)
{
    const char *id = t->a->spec.id;
    if (!d->opts.weight_hints) {
        METRIC_ADD(weight_hints_ignored, 1);
        return;
    }
    double f;
    int rc = adaptive_parse_hint(value, strlen(value), t->a->spec.weight,
                                 d->opts.weight_hint_max_pct / 100.0, &f);
    if (rc) {
        uint64_t sup = 0;
        t->hints_refused++;
        METRIC_ADD(weight_hints_refused, 1);
        const char *why = rc == -ERANGE ? "above --weight-hint-max-pct"
                                        : "neither N% nor a weight (digits[.digits])";
        if (log_limiter_allow(&hint_log, wall_ms() / 1000, &sup))
            log_event(LOG_WARN, "deliver", "weight_hint_refused",
                      LOG_FIELDS(LF_STR("analyzer", id), LF_STR("value", value),
                                 LF_STR("error", why), LF_UINT("suppressed", sup)),
                      "analyzer %s: X-Logdist-Weight '%s' ignored: %s", id, value, why);
        return;
    }
    t->hints_accepted++;
    METRIC_ADD(weight_hints_accepted, 1);
    bool changed = !t->hint_until_ms || f != t->hint;
    t->hint = f;
    t->hint_until_ms = now_ms() + d->opts.weight_hint_ttl_ms;
    if (!changed) return;
    log_event(LOG_INFO, "deliver", "weight_hint",
              LOG_FIELDS(LF_STR("analyzer", id), LF_STR("value", value)),
              "analyzer %s: weight hint %s (%.0f%% of its weight)", id, value, f * 100);
    deliver_adapt_tick(d);
}

static uint32_t window_of(const deliver_t *d, const target_t *t)
{
    const analyzer_spec_t *s = &t->a->spec;
    return s->has_slow_start ? s->slow_start_ms : d->opts.slow_start_ms;
}

void deliver_adapt_restart(deliver_t *d, target_t *t)
{
    adaptive_init(&t->adapt); /* a stale latency from before it went down says nothing */
    uint64_t now = now_ms();
    t->slow_start_from_ms = window_of(d, t) ? (now ? now : 1) : 0;
    deliver_adapt_tick(d);
}

/* t's factor now; records its parts for the snapshot. */
static double factor_of(deliver_t *d, target_t *t, uint64_t now, double ref)
{
    const config_t *o = &d->opts;
    t->ref_ms = ref;
    if (o->adaptive_weights) {
        t->f_latency_errors = adaptive_update(&t->adapt, &d->adapt, ref);
    } else {
        t->adapt.factor = 1; /* turned on again: starts from 1 */
        t->f_latency_errors = 1;
    }
    t->f_slow_start = 1;
    if (t->slow_start_from_ms) {
        uint64_t elapsed = now > t->slow_start_from_ms ? now - t->slow_start_from_ms : 0;
        double ss = adaptive_slow_start(elapsed, window_of(d, t), 1.0, d->adapt.min_factor);
        if (ss >= 1)
            t->slow_start_from_ms = 0;
        else
            t->f_slow_start = ss;
    }
    bool hint_live = o->weight_hints && t->hint_until_ms > now;
    if (t->hint_until_ms && !hint_live) {
        log_event(LOG_INFO, "deliver", "weight_hint_expired",
                  LOG_FIELDS(LF_STR("analyzer", t->a->spec.id)),
                  "analyzer %s: weight hint expired (or hints turned off)", t->a->spec.id);
        t->hint_until_ms = 0;
        t->hint = 1;
    }
    t->f_hint = hint_live ? t->hint : 1;
    double f = t->f_latency_errors * t->f_slow_start * t->f_hint;
    double hi = o->weight_hint_max_pct > 100 ? o->weight_hint_max_pct / 100.0 : 1.0;
    if (f < d->adapt.min_factor) f = d->adapt.min_factor;
    return f > hi ? hi : f;
}

/* The pool's reference latency: the median peak-EWMA of the eligible
 * analyzers with a weight that have been measured (adaptive.h says why). */
static double reference_ms(deliver_t *d)
{
    double vals[BALANCER_MAX_SLOTS]; /* 8 KiB of the delivery thread's stack */
    size_t n = 0;
    for (analyzer_t *a = router_first(d->router); a && n < BALANCER_MAX_SLOTS; a = a->next)
        if (!a->removed && a->eligible && router_weight(a) > 0 && T(a)->adapt.samples)
            vals[n++] = T(a)->adapt.ewma_ms;
    return adaptive_median(vals, n);
}

void deliver_adapt_tick(deliver_t *d)
{
    uint64_t now = now_ms();
    double ref = reference_ms(d);
    bool busy = d->opts.adaptive_weights;
    for (analyzer_t *a = router_first(d->router); a; a = a->next) {
        if (a->removed) continue;
        target_t *t = T(a);
        double f = factor_of(d, t, now, ref);
        if (f != a->factor) {
            METRIC_ADD(weight_factor_changes, 1);
            log_debug("deliver", "analyzer %s: weight factor %.3f -> %.3f", a->spec.id, a->factor,
                      f);
            router_set_factor(d->router, a, f);
        }
        busy = busy || t->slow_start_from_ms || t->hint_until_ms || a->factor != 1;
    }
    if (busy) arm(d);
}

void deliver_adapt_reason(const target_t *t, char *out, size_t outlen)
{
    bool adapted = t->f_latency_errors != 1;
    double ratio = t->ref_ms > 0 ? t->adapt.ewma_ms / t->ref_ms : 1;
    adaptive_reason(out, outlen, adapted ? t->adapt.lat_raw : 1, ratio,
                    adapted ? t->adapt.err_raw : 1, t->adapt.err_rate, t->f_slow_start, t->f_hint);
}
