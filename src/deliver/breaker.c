/*
 * breaker.c - see breaker.h. The sliding window is BREAKER_BUCKETS buckets of
 * window_ms / BREAKER_BUCKETS each; old buckets are zeroed as time moves on.
 */
#include "deliver/breaker.h"

#include <string.h>

void breaker_init(breaker_t *b, uint64_t now_ms)
{
    memset(b, 0, sizeof *b);
    b->bucket_start_ms = now_ms;
}

static void advance(breaker_t *b, const breaker_config_t *c, uint64_t now)
{
    uint64_t width = c->window_ms / BREAKER_BUCKETS;
    if (!width) width = 1;
    int steps = 0;
    while (now >= b->bucket_start_ms + width && steps < BREAKER_BUCKETS) {
        b->bucket = (b->bucket + 1) % BREAKER_BUCKETS;
        b->ok[b->bucket] = b->fail[b->bucket] = 0;
        b->bucket_start_ms += width;
        steps++;
    }
    if (now >= b->bucket_start_ms + width) b->bucket_start_ms = now; /* long idle */
}

uint32_t breaker_cooldown(const breaker_t *b, const breaker_config_t *c)
{
    uint64_t ms = c->cooldown_ms;
    for (uint32_t i = 1; i < b->consecutive_trips && ms < c->max_cooldown_ms; i++) ms *= 2;
    return (uint32_t)(ms > c->max_cooldown_ms ? c->max_cooldown_ms : ms);
}

static void trip(breaker_t *b, const breaker_config_t *c, uint64_t now)
{
    b->state = BREAKER_OPEN;
    b->gen++; /* what is still in flight is from before the trip */
    b->consecutive_trips++;
    b->trips++;
    b->open_until_ms = now + breaker_cooldown(b, c);
    b->probes_inflight = b->probe_successes = 0;
    b->consecutive_failures = 0;
    memset(b->ok, 0, sizeof b->ok);
    memset(b->fail, 0, sizeof b->fail);
}

bool breaker_tick(breaker_t *b, const breaker_config_t *c, uint64_t now_ms)
{
    if (b->state == BREAKER_OPEN && now_ms >= b->open_until_ms) {
        b->state = BREAKER_HALF_OPEN;
        b->probes_inflight = b->probe_successes = 0;
        return true;
    }
    return false;
}

bool breaker_allow(breaker_t *b, const breaker_config_t *c, uint64_t now_ms, breaker_ticket_t *tk)
{
    breaker_tick(b, c, now_ms);
    if (b->state == BREAKER_OPEN) return false;
    *tk = (breaker_ticket_t){b->gen, false};
    if (b->state == BREAKER_CLOSED) return true;
    uint32_t probes = c->probes ? c->probes : 1;
    if (b->probes_inflight >= probes) return false;
    b->probes_inflight++;
    tk->probe = true;
    return true;
}

breaker_state_t breaker_record(breaker_t *b, const breaker_config_t *c, const breaker_ticket_t *tk,
                               bool ok, uint64_t now_ms)
{
    advance(b, c, now_ms);
    /* a straggler from before the last trip (or, in half_open, anything but
     * a probe of this half-open period): it says nothing about the analyzer
     * since the cool-down, so it neither closes nor re-opens it */
    if (tk->gen != b->gen) return b->state;
    if (b->state == BREAKER_HALF_OPEN) {
        if (!tk->probe) return b->state;
        if (b->probes_inflight) b->probes_inflight--;
        if (!ok) {
            trip(b, c, now_ms);
        } else if (++b->probe_successes >= (c->probes ? c->probes : 1)) {
            b->state = BREAKER_CLOSED;
            b->consecutive_trips = 0;
            b->consecutive_failures = 0;
        }
        return b->state;
    }
    if (b->state == BREAKER_OPEN) return b->state; /* (cannot be: open allows nothing) */
    if (ok) {
        b->ok[b->bucket]++;
        b->consecutive_failures = 0;
        return b->state;
    }
    b->fail[b->bucket]++;
    b->consecutive_failures++;
    if (c->failures && b->consecutive_failures >= c->failures) {
        trip(b, c, now_ms);
        return b->state;
    }
    if (c->error_ratio > 0) {
        uint32_t okn = 0, failn = 0;
        for (int i = 0; i < BREAKER_BUCKETS; i++) {
            okn += b->ok[i];
            failn += b->fail[i];
        }
        uint32_t total = okn + failn;
        if (total >= c->min_requests && total && (double)failn / total >= c->error_ratio)
            trip(b, c, now_ms);
    }
    return b->state;
}

const char *breaker_state_name(breaker_state_t s)
{
    return s == BREAKER_OPEN ? "open" : s == BREAKER_HALF_OPEN ? "half_open" : "closed";
}
