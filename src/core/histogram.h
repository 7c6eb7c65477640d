/*
 * histogram.h - a small fixed-bucket histogram for latencies and sizes,
 * observed lock-free from any number of threads (relaxed atomics) and read as
 * a plain snapshot (for the Prometheus text of admin/prom.h and the quantiles
 * of the JSON API).
 *
 * Values are unsigned integers in the histogram's own unit (microseconds for
 * durations, a count for sizes); `scale` says how many of them make one base
 * unit (1e6 for seconds from microseconds, 1 for counts), applied only when
 * rendering. Bucket bounds are fixed at init (at most HIST_MAX_BOUNDS,
 * strictly increasing); a value v lands in the first bucket with v <= bound,
 * or in the implicit +Inf bucket.
 *
 * Contract: hist_init() before any other thread sees the histogram;
 * hist_observe() is thread-safe and never allocates or blocks; a snapshot
 * taken while others observe is consistent in itself (count = the +Inf
 * bucket) but may lag a few observations (sum read after the buckets).
 */
#ifndef LOGDIST_HISTOGRAM_H
#define LOGDIST_HISTOGRAM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HIST_MAX_BOUNDS 16

typedef struct {
    size_t nbounds;
    uint64_t bounds[HIST_MAX_BOUNDS];
    double scale;                                 /* units per base unit (> 0) */
    _Atomic uint64_t counts[HIST_MAX_BOUNDS + 1]; /* per bucket, not cumulative; last = +Inf */
    _Atomic uint64_t sum;                         /* in units */
} hist_t;

/* Plain data: cumulative bucket counts as Prometheus wants them. */
typedef struct {
    size_t nbounds;
    uint64_t bounds[HIST_MAX_BOUNDS];
    double scale;
    uint64_t cumulative[HIST_MAX_BOUNDS + 1]; /* [i]: observations <= bounds[i]; last: all */
    uint64_t count;                           /* = cumulative[nbounds] */
    uint64_t sum;                             /* in units */
} hist_snap_t;

/* Set the bounds (copied; strictly increasing, n <= HIST_MAX_BOUNDS) and the
 * scale (> 0) and zero the counts. 0 or -EINVAL (then h is left empty, n = 0). */
int hist_init(hist_t *h, const uint64_t *bounds, size_t n, double scale);

/* Count one value (thread-safe, lock-free). */
void hist_observe(hist_t *h, uint64_t v);

/* Read h into out (thread-safe). */
void hist_snapshot(const hist_t *h, hist_snap_t *out);

/* The q-quantile (0..1) in base units by linear interpolation inside the
 * bucket it falls in, as Prometheus's histogram_quantile() does: the lower
 * edge of the first bucket is 0; a quantile in the +Inf bucket is the last
 * bound. 0 when the snapshot is empty. */
double hist_quantile(const hist_snap_t *s, double q);

/* The default bounds: durations in microseconds (1 ms .. 30 s) and batch
 * sizes in records (1 .. 10000). Arrays of HIST_*_N entries; the *_INIT
 * macros initialise a static hist_t without a hist_init() call. */
#define HIST_DURATION_N 14
#define HIST_DURATION_US_BOUNDS                                                                    \
    {                                                                                              \
        1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,  \
            10000000, 30000000                                                                     \
    }
#define HIST_DURATION_INIT                                                                         \
    {                                                                                              \
        .nbounds = HIST_DURATION_N, .bounds = HIST_DURATION_US_BOUNDS, .scale = 1e6                \
    }
extern const uint64_t hist_duration_us_bounds[HIST_DURATION_N];
#define HIST_RECORDS_N 12
#define HIST_RECORDS_BOUNDS                                                                        \
    {                                                                                              \
        1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000                                   \
    }
#define HIST_RECORDS_INIT                                                                          \
    {                                                                                              \
        .nbounds = HIST_RECORDS_N, .bounds = HIST_RECORDS_BOUNDS, .scale = 1                       \
    }
extern const uint64_t hist_records_bounds[HIST_RECORDS_N];

#endif
