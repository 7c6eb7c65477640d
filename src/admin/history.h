/*
 * history.h - the last HISTORY_CAP samples of the global counters, one per
 * second, for GET /api/v1/history (the dashboard's chart shows the last
 * minutes as soon as it opens). Pure ring-buffer logic: no clock, no timer,
 * no lock. The caller (admin.c) reads the counters and the wall clock on the
 * main loop once a second (the one writer) and serialises readers with its
 * own mutex.
 *
 * Counters are cumulative as read; consumers derive rates from deltas.
 */
#ifndef LOGDIST_HISTORY_H
#define LOGDIST_HISTORY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define HISTORY_CAP 300 /* samples kept (5 minutes at one per second) */

typedef struct {
    uint64_t t_ms;                 /* wall clock, ms since the epoch */
    uint64_t records_accepted;     /* cumulative */
    uint64_t records_delivered;    /* cumulative */
    uint64_t packets_rejected;     /* cumulative: packets refused by ingest, every reason */
    uint64_t records_deadlettered; /* cumulative */
    uint64_t queue_bytes;          /* gauge: queue budget in use */
} history_sample_t;

typedef struct history history_t;

/* A ring of `cap` samples (1..HISTORY_CAP; 0 means HISTORY_CAP). NULL when out
 * of memory or cap is too large. Caller frees with history_free(). */
history_t *history_new(size_t cap);
void history_free(history_t *h);

/* Append one sample (copied); when full the oldest is dropped. */
void history_push(history_t *h, const history_sample_t *s);

/* Samples held now (0..cap). */
size_t history_count(const history_t *h);

/* The i-th held sample, oldest first (i < history_count); NULL otherwise.
 * Valid until the next history_push. */
const history_sample_t *history_at(const history_t *h, size_t i);

/* {"interval_ms":interval_ms,"samples":[{"t_ms":..,"records_accepted":..,
 * "records_delivered":..,"packets_rejected":..,"records_deadlettered":..,
 * "queue_bytes":..}, ...]} oldest first, only the samples with t_ms > since_ms
 * (0: all). Caller owns the reference (NULL when out of memory). */
json_t *history_to_json(const history_t *h, unsigned interval_ms, uint64_t since_ms);

#endif
