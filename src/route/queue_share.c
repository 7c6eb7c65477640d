/*
 * queue_share.c - see queue_share.h.
 */
#include "route/queue_share.h"

void queue_share_compute(queue_share_t *s, size_t n, uint64_t budget, uint64_t floor)
{
    double total = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i].weight > 0) total += s[i].weight;
    if (floor > budget) floor = budget;

    uint64_t assigned = 0;
    for (size_t i = 0; i < n; i++) {
        s[i].base = 0;
        if (s[i].weight > 0 && total > 0) {
            double b = (double)budget * (s[i].weight / total);
            s[i].base = b >= (double)budget ? budget : (uint64_t)b;
            assigned += s[i].base;
        }
    }
    /* the bytes lost to rounding down (fewer than the entries) go one each to the
     * first ones, so the shares add up to the budget exactly */
    for (size_t i = 0; i < n && assigned < budget; i++)
        if (s[i].weight > 0) {
            s[i].base++;
            assigned++;
        }
    uint64_t idle_sum = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i].base > s[i].queued) idle_sum += s[i].base - s[i].queued;
    for (size_t i = 0; i < n; i++) {
        if (s[i].weight <= 0) {
            s[i].allowance = 0;
            continue;
        }
        uint64_t own_idle = s[i].base > s[i].queued ? s[i].base - s[i].queued : 0;
        uint64_t a = s[i].base + (idle_sum - own_idle);
        if (a > budget) a = budget;
        s[i].allowance = a < floor ? floor : a;
    }
}

bool queue_share_full(const queue_share_t *s)
{
    return s->weight > 0 && s->queued >= s->allowance;
}
