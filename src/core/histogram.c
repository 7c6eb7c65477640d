/*
 * histogram.c - see histogram.h.
 */
#include "core/histogram.h"

#include <errno.h>
#include <string.h>

const uint64_t hist_duration_us_bounds[HIST_DURATION_N] = HIST_DURATION_US_BOUNDS;
const uint64_t hist_records_bounds[HIST_RECORDS_N] = HIST_RECORDS_BOUNDS;

int hist_init(hist_t *h, const uint64_t *bounds, size_t n, double scale)
{
    memset(h, 0, sizeof *h);
    if (n > HIST_MAX_BOUNDS || !(scale > 0)) return -EINVAL;
    for (size_t i = 1; i < n; i++)
        if (bounds[i] <= bounds[i - 1]) return -EINVAL;
    memcpy(h->bounds, bounds, n * sizeof *bounds);
    h->nbounds = n;
    h->scale = scale;
    return 0;
}

void hist_observe(hist_t *h, uint64_t v)
{
    size_t i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
}

void hist_snapshot(const hist_t *h, hist_snap_t *out)
{
    memset(out, 0, sizeof *out);
    out->nbounds = h->nbounds;
    out->scale = h->scale;
    memcpy(out->bounds, h->bounds, h->nbounds * sizeof *h->bounds);
    uint64_t acc = 0;
    for (size_t i = 0; i <= h->nbounds; i++) {
        acc += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        out->cumulative[i] = acc;
    }
    out->count = acc;
    out->sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
}

double hist_quantile(const hist_snap_t *s, double q)
{
    if (!s->count || !(s->scale > 0)) return 0;
    if (q < 0) q = 0;
    if (q > 1) q = 1;
    double rank = q * (double)s->count;
    for (size_t i = 0; i < s->nbounds; i++) {
        if ((double)s->cumulative[i] < rank) continue;
        double lo = i ? (double)s->bounds[i - 1] : 0, hi = (double)s->bounds[i];
        uint64_t below = i ? s->cumulative[i - 1] : 0;
        uint64_t in = s->cumulative[i] - below;
        double v = in ? lo + (hi - lo) * (rank - (double)below) / (double)in : hi;
        return v / s->scale;
    }
    return s->nbounds ? (double)s->bounds[s->nbounds - 1] / s->scale : 0;
}
