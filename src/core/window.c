/*
 * window.c - see window.h.
 */
#include "core/window.h"

#include <stddef.h>

void window_add(window_t *w, uint64_t now_s, uint64_t n)
{
    size_t i = now_s % WINDOW_SECONDS;
    if (w->sec[i] != now_s + 1) {
        w->sec[i] = now_s + 1;
        w->count[i] = 0;
    }
    w->count[i] += n;
}

uint64_t window_sum(const window_t *w, uint64_t now_s)
{
    uint64_t total = 0;
    for (size_t i = 0; i < WINDOW_SECONDS; i++) {
        uint64_t s = w->sec[i];
        if (!s) continue;
        s--; /* the slot's second */
        if (s <= now_s && now_s - s < WINDOW_SECONDS) total += w->count[i];
    }
    return total;
}
