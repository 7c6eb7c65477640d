/*
 * window.h - a sliding count over the last WINDOW_SECONDS seconds: a ring of
 * per-second counts stamped with their second (pure; the caller passes the
 * clock). Used for each analyzer's delivered records over the last 10 s
 * (actual_share_10s).
 *
 * Contract: one writer, no locking (the delivery thread owns each window and
 * reads it there too). Zero-initialised is empty. Seconds are any monotonic
 * second count; a clock that goes backwards only makes old slots count as
 * current until they are reused.
 */
#ifndef LOGDIST_WINDOW_H
#define LOGDIST_WINDOW_H

#include <stdint.h>

#define WINDOW_SECONDS 10

typedef struct {
    uint64_t sec[WINDOW_SECONDS]; /* the second a slot counts (+1; 0 = never used) */
    uint64_t count[WINDOW_SECONDS];
} window_t;

/* Add n to second `now_s`. */
void window_add(window_t *w, uint64_t now_s, uint64_t n);

/* Sum of the counts of seconds now_s - WINDOW_SECONDS + 1 .. now_s. */
uint64_t window_sum(const window_t *w, uint64_t now_s);

#endif
