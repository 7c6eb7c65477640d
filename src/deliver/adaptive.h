/*
 * adaptive.h - adaptive weights: the factor (in [min, 1], or above 1 only by a
 * hint allowed past 100 %) that scales an analyzer's configured weight.
 *
 * Pure: no I/O, no clock of its own (every call gets `now_ms`), no
 * allocation. The delivery thread owns one adaptive_stats_t per analyzer,
 * feeds it every delivery attempt (adaptive_observe) and a few times a second
 * computes the pool's reference latency (adaptive_reference) and each
 * analyzer's factor (adaptive_update). Parts:
 *
 *   latency   peak-EWMA of attempt latency (Linkerd/Finagle): a sample above
 *             the average replaces it at once, one below pulls it down with
 *             weight 1 - exp(-dt / decay_ms). The reference is the (lower) median of
 *             the peak-EWMAs of the analyzers that have samples (like with
 *             like, as Linkerd compares peak-EWMAs): one slow analyzer cannot
 *             move it (a mean would be pulled up by the very analyzer it
 *             judges, a minimum follows the luckiest sample). Comparing a
 *             peak with a plain average instead punished equal analyzers for
 *             every scheduler spike in the integration test. Factor 1 while
 *             ewma <= ref * (1 + tolerance) + slack_ms, else threshold / ewma.
 *   errors    time-decayed EWMA of failed attempts (0..1), same decay.
 *             Factor 1 while rate <= tolerance, else (1 - rate) / (1 - tol).
 *   product   latency x errors, clamped to [min, 1], quantised to steps of
 *             `quantum` with hysteresis: the published value moves only when
 *             the raw value is more than max(0.75 quantum, hysteresis x
 *             published) away from it, or when the raw value is exactly 1 or
 *             exactly min (the ends are reached at once). The relative band
 *             (15 %) absorbs the pool median's own noise: a steadily slow
 *             analyzer's raw factor wandered 0.40..0.45 with it.
 *   slow start  Envoy: max(min, (elapsed / window) ^ (1 / aggression)),
 *             1 once elapsed >= window or window is 0.
 *   hints     "X-Logdist-Weight: 50%" (of the configured weight) or "0.2"
 *             (an absolute weight; factor = 0.2 / configured weight), at most
 *             max_factor; anything else is refused (-EINVAL, -ERANGE).
 */
#ifndef LOGDIST_ADAPTIVE_H
#define LOGDIST_ADAPTIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADAPTIVE_HINT_MAX_LEN 32 /* longer header values are refused unread */

typedef struct {
    double decay_ms;          /* EWMA time constant (10000, Linkerd's 10 s) */
    double latency_tolerance; /* 0.5: 1.5x the reference is still "as fast" */
    double latency_slack_ms;  /* absolute slack on top (5 ms of scheduler noise) */
    double error_tolerance;   /* 0.05: up to 5 % failed attempts costs nothing */
    double min_factor;        /* 0.1 (Envoy's min_weight_percent 10 %) */
    double quantum;           /* 0.05: published steps */
    double hysteresis;        /* 0.15: relative band around the published factor */
} adaptive_config_t;

typedef struct {
    double ewma_ms;   /* peak-EWMA of attempt latency; meaningful when samples > 0 */
    double avg_ms;    /* plain EWMA of attempt latency (the factor does not use it) */
    double err_rate;  /* EWMA of failed attempts, 0..1 */
    uint64_t last_ms; /* now_ms of the last sample */
    uint64_t samples;
    double factor;           /* published latency x errors factor (1 at start) */
    double lat_raw, err_raw; /* the last raw parts (for the reason string) */
} adaptive_stats_t;

/* The defaults above. */
void adaptive_config_default(adaptive_config_t *c);

/* Fresh statistics: no sample, factor 1. */
void adaptive_init(adaptive_stats_t *s);

/* One delivery attempt that took latency_ms and succeeded (ok) or not. */
void adaptive_observe(adaptive_stats_t *s, const adaptive_config_t *c, uint64_t now_ms,
                      double latency_ms, bool ok);

/* Lower median of the n values (vals is reordered; 0 when n is 0): with two
 * analyzers, the mean of both would hide a 5x slower one (threshold 95 ms for
 * 20 and 100 ms); the lower median is the faster one. */
double adaptive_median(double *vals, size_t n);

/* Raw latency factor of ewma against ref (1 when ref <= 0 or no sample). */
double adaptive_latency_factor(const adaptive_config_t *c, double ewma_ms, double ref_ms);

/* Raw error factor of an error rate. */
double adaptive_error_factor(const adaptive_config_t *c, double err_rate);

/* Quantise `raw` (clamped to [min, 1]) with hysteresis against `published`;
 * returns the new published value. */
double adaptive_quantise(const adaptive_config_t *c, double raw, double published);

/* Recompute s->factor from its statistics and the pool reference ref_ms
 * (adaptive_median of the ewma_ms of analyzers with samples). Returns it. */
double adaptive_update(adaptive_stats_t *s, const adaptive_config_t *c, double ref_ms);

/* Slow-start factor, elapsed_ms after the analyzer was added or came back. */
double adaptive_slow_start(uint64_t elapsed_ms, uint64_t window_ms, double aggression,
                           double min_factor);

/* Parse a weight hint value[0..len) against the configured weight. On 0,
 * *factor is in [0, max_factor]. -EINVAL: not "N%" nor a plain number (or
 * too long, or the configured weight is 0 for an absolute hint); -ERANGE:
 * above max_factor. Leading/trailing blanks are allowed. */
int adaptive_parse_hint(const char *value, size_t len, double configured_weight, double max_factor,
                        double *factor);

/* Why the effective weight differs, e.g. "latency 5.1x pool median", into
 * out ("" when every part is 1). */
void adaptive_reason(char *out, size_t outlen, double latency, double lat_ratio, double errors,
                     double err_rate, double slow_start, double hint);

#endif
