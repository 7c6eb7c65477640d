/*
 * breaker.h - a circuit breaker per analyzer (as in Envoy or Hystrix), as a
 * pure state machine driven by delivery results and the clock.
 *
 *   closed --(N consecutive failures, or error ratio >= R over the sliding
 *             window with at least M attempts)--> open
 *   open --(cool-down elapsed; cool-down doubles with each consecutive trip,
 *           capped)--> half_open
 *   half_open --(probes successes)--> closed      half_open --(a probe fails)--> open
 *
 * While open the analyzer gets no records (its share moves to the others);
 * in half_open it gets its share again but at most `probes` batches are in
 * flight until the probes succeed.
 *
 * Every attempt carries the ticket breaker_allow() gave it: the breaker's
 * generation (bumped at each trip) and whether it is a probe. Only results of
 * the current generation count: an attempt sent before a trip that completes
 * later (while open, half-open or closed again) is a straggler and changes
 * nothing, success or failure; in half_open only the probes' own results
 * close or re-open the breaker and free probe slots.
 */
#ifndef LOGDIST_BREAKER_H
#define LOGDIST_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { BREAKER_CLOSED = 0, BREAKER_OPEN = 1, BREAKER_HALF_OPEN = 2 } breaker_state_t;

#define BREAKER_BUCKETS 10

typedef struct {
    uint32_t failures;        /* consecutive failures that open it (0 = rule off) */
    double error_ratio;       /* failed/attempts over the window that opens it (0 = off) */
    uint32_t window_ms;       /* sliding window for the ratio */
    uint32_t min_requests;    /* attempts in the window before the ratio counts */
    uint32_t cooldown_ms;     /* first open period */
    uint32_t max_cooldown_ms; /* cap of the doubling */
    uint32_t probes;          /* successes (and max in flight) in half_open */
} breaker_config_t;

/* What breaker_allow() handed an attempt; given back to breaker_record(). */
typedef struct {
    uint32_t gen; /* breaker_t.gen when the attempt was allowed */
    bool probe;   /* allowed in half_open, under the probe cap */
} breaker_ticket_t;

typedef struct {
    breaker_state_t state;
    uint32_t gen;               /* bumped at each trip: tells stragglers from current attempts */
    uint32_t consecutive_failures;
    uint32_t consecutive_trips; /* trips since it was last closed by success */
    uint64_t trips;             /* total transitions to open */
    uint64_t open_until_ms;
    uint32_t probes_inflight;
    uint32_t probe_successes;
    uint32_t ok[BREAKER_BUCKETS], fail[BREAKER_BUCKETS];
    uint64_t bucket_start_ms;
    int bucket;
} breaker_t;

void breaker_init(breaker_t *b, uint64_t now_ms);

/* Move open -> half_open when the cool-down is over. Returns true if it changed. */
bool breaker_tick(breaker_t *b, const breaker_config_t *c, uint64_t now_ms);

/* May a batch be started now? (closed: yes; open: no; half_open: while fewer
 * than `probes` probes are in flight). When it returns true, *tk is the
 * attempt's ticket; in half_open (a probe) the caller must report the
 * batch's result with it. */
bool breaker_allow(breaker_t *b, const breaker_config_t *c, uint64_t now_ms, breaker_ticket_t *tk);

/* Report the result of the attempt allowed with ticket *tk. Results of an
 * older generation (sent before the last trip) are ignored. Returns the new
 * state. */
breaker_state_t breaker_record(breaker_t *b, const breaker_config_t *c, const breaker_ticket_t *tk,
                               bool ok, uint64_t now_ms);

/* Current cool-down length for the next open period. */
uint32_t breaker_cooldown(const breaker_t *b, const breaker_config_t *c);

/* "closed" | "open" | "half_open". */
const char *breaker_state_name(breaker_state_t s);

#endif
