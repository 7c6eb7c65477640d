/*
 * adaptive.c - see adaptive.h. Pure arithmetic on caller-owned structs.
 */
#include "deliver/adaptive.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void adaptive_config_default(adaptive_config_t *c)
{
    c->decay_ms = 10000;
    c->latency_tolerance = 0.5;
    c->latency_slack_ms = 5;
    c->error_tolerance = 0.05;
    c->min_factor = 0.1;
    c->quantum = 0.05;
    c->hysteresis = 0.15;
}

void adaptive_init(adaptive_stats_t *s)
{
    memset(s, 0, sizeof *s);
    s->factor = 1;
    s->lat_raw = 1;
    s->err_raw = 1;
}

/* Weight of the old average after dt ms (at least 1 ms passes per sample, so
 * samples in the same millisecond still count). */
static double keep_weight(const adaptive_config_t *c, uint64_t dt_ms)
{
    double dt = dt_ms ? (double)dt_ms : 1.0;
    return c->decay_ms > 0 ? exp(-dt / c->decay_ms) : 0.0;
}

void adaptive_observe(adaptive_stats_t *s, const adaptive_config_t *c, uint64_t now_ms,
                      double latency_ms, bool ok)
{
    if (!(latency_ms >= 0) || !isfinite(latency_ms)) latency_ms = 0;
    if (!s->samples) {
        s->ewma_ms = s->avg_ms = latency_ms;
        s->err_rate = ok ? 0 : 1;
    } else {
        double w = keep_weight(c, now_ms > s->last_ms ? now_ms - s->last_ms : 0);
        if (latency_ms > s->ewma_ms)
            s->ewma_ms = latency_ms; /* peak: slower at once */
        else
            s->ewma_ms = s->ewma_ms * w + latency_ms * (1 - w);
        s->avg_ms = s->avg_ms * w + latency_ms * (1 - w);
        s->err_rate = s->err_rate * w + (ok ? 0.0 : 1.0) * (1 - w);
    }
    s->last_ms = now_ms;
    s->samples++;
}

static void sort_small(double *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        double x = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1] > x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

double adaptive_median(double *vals, size_t n)
{
    if (!n) return 0;
    sort_small(vals, n);
    return vals[(n - 1) / 2]; /* the lower median */
}

double adaptive_latency_factor(const adaptive_config_t *c, double ewma_ms, double ref_ms)
{
    if (!(ref_ms > 0) || !(ewma_ms > 0)) return 1;
    double threshold = ref_ms * (1 + c->latency_tolerance) + c->latency_slack_ms;
    return ewma_ms <= threshold ? 1 : threshold / ewma_ms;
}

double adaptive_error_factor(const adaptive_config_t *c, double err_rate)
{
    if (!(err_rate > c->error_tolerance)) return 1;
    if (c->error_tolerance >= 1) return 1;
    double f = (1 - err_rate) / (1 - c->error_tolerance);
    return f > 0 ? f : 0;
}

double adaptive_quantise(const adaptive_config_t *c, double raw, double published)
{
    double lo = c->min_factor > 0 && c->min_factor < 1 ? c->min_factor : 0;
    if (!(raw < 1)) return 1;
    if (!(raw > lo)) return lo;
    double q = c->quantum > 0 ? c->quantum : 0.05;
    double band = 0.75 * q;
    if (c->hysteresis * published > band) band = c->hysteresis * published;
    if (fabs(raw - published) <= band) return published;
    double v = round(raw / q) * q;
    return v < lo ? lo : v > 1 ? 1 : v;
}

double adaptive_update(adaptive_stats_t *s, const adaptive_config_t *c, double ref_ms)
{
    s->lat_raw = s->samples ? adaptive_latency_factor(c, s->ewma_ms, ref_ms) : 1;
    s->err_raw = s->samples ? adaptive_error_factor(c, s->err_rate) : 1;
    s->factor = adaptive_quantise(c, s->lat_raw * s->err_raw, s->factor);
    return s->factor;
}

double adaptive_slow_start(uint64_t elapsed_ms, uint64_t window_ms, double aggression,
                           double min_factor)
{
    if (!window_ms || elapsed_ms >= window_ms) return 1;
    if (!(aggression > 0)) aggression = 1;
    double f = pow((double)elapsed_ms / (double)window_ms, 1.0 / aggression);
    return f > min_factor ? f : min_factor;
}

/* Strict decimal: digits [. digits]; no sign, exponent or hex. */
static int parse_decimal(const char *p, size_t n, double *out)
{
    char buf[ADAPTIVE_HINT_MAX_LEN + 1];
    size_t digits = 0, dots = 0;
    if (!n || n > ADAPTIVE_HINT_MAX_LEN) return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= '0' && p[i] <= '9')
            digits++;
        else if (p[i] == '.' && !dots++)
            continue;
        else
            return -EINVAL;
    }
    if (!digits || p[0] == '.' || p[n - 1] == '.') return -EINVAL;
    memcpy(buf, p, n);
    buf[n] = 0;
    *out = strtod(buf, NULL);
    return isfinite(*out) ? 0 : -EINVAL;
}

int adaptive_parse_hint(const char *value, size_t len, double configured_weight, double max_factor,
                        double *factor)
{
    if (!value || len > ADAPTIVE_HINT_MAX_LEN) return -EINVAL;
    while (len && (value[0] == ' ' || value[0] == '\t'))
        value++, len--;
    while (len && (value[len - 1] == ' ' || value[len - 1] == '\t' || value[len - 1] == '\r' ||
                   value[len - 1] == '\n'))
        len--;
    bool pct = len && value[len - 1] == '%';
    double v;
    if (parse_decimal(value, pct ? len - 1 : len, &v)) return -EINVAL;
    double f;
    if (pct) {
        f = v / 100.0;
    } else {
        if (!(configured_weight > 0)) return -EINVAL;
        f = v / configured_weight;
    }
    if (f > max_factor) return -ERANGE;
    *factor = f;
    return 0;
}

static void append(char *out, size_t outlen, const char *text)
{
    size_t n = strlen(out);
    if (n + 1 >= outlen) return;
    snprintf(out + n, outlen - n, "%s%s", n ? ", " : "", text);
}

void adaptive_reason(char *out, size_t outlen, double latency, double lat_ratio, double errors,
                     double err_rate, double slow_start, double hint)
{
    char part[64];
    if (!outlen) return;
    out[0] = 0;
    if (latency < 1) {
        snprintf(part, sizeof part, "latency %.1fx pool median", lat_ratio);
        append(out, outlen, part);
    }
    if (errors < 1) {
        snprintf(part, sizeof part, "errors %.0f%% of attempts", err_rate * 100);
        append(out, outlen, part);
    }
    if (slow_start < 1) {
        snprintf(part, sizeof part, "slow start %.0f%%", slow_start * 100);
        append(out, outlen, part);
    }
    if (hint != 1) {
        snprintf(part, sizeof part, "analyzer hint %.0f%%", hint * 100);
        append(out, outlen, part);
    }
}
