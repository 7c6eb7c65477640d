/*
 * resource.c - see resource.h.
 */
#include "core/resource.h"

#include <event2/event.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "core/metrics.h"

#define PERIOD_MS 50      /* RSS: a reader at full speed grows it fast; statm is cheap */
#define CPU_PERIOD_US 250000 /* CPU use is averaged over this long */
#define HIGH_PCT 90
#define LOW_PCT 75

struct resource {
    struct event *timer;
    uint64_t limit;
    bool shedding;
    void (*on_change)(void *, bool);
    void *ctx;
    uint64_t last_cpu_ticks, last_us, last_trim_us;
};

uint64_t resource_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, resident = 0;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    return n == 2 ? (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

static uint64_t cpu_ticks(void)
{
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may contain spaces */
    if (!p) return 0;
    unsigned long long ut = 0, st = 0;
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return ut + st;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    resource_t *r = arg;
    uint64_t rss = resource_rss_bytes();
    uint64_t now = now_us();
    if (!r->last_us || now - r->last_us >= CPU_PERIOD_US) {
        uint64_t ticks = cpu_ticks();
        if (r->last_us) {
            double cpu_s = (double)(ticks - r->last_cpu_ticks) / (double)sysconf(_SC_CLK_TCK);
            double pct = 100.0 * cpu_s / ((double)(now - r->last_us) / 1e6);
            atomic_store(&g_metrics.cpu_percent, (uint64_t)(pct + 0.5));
        }
        r->last_cpu_ticks = ticks;
        r->last_us = now;
    }
    atomic_store(&g_metrics.rss_bytes, rss);
    /* memory freed by the delivery thread stays in glibc's arenas; give it back
     * to the system when the queue is empty */
    if (METRIC_GET(queued_records) == 0 && rss > (48u << 20) && now - r->last_trim_us > 2000000) {
        malloc_trim(0);
        r->last_trim_us = now;
    }
    if (!r->limit) return;
    bool was = r->shedding;
    if (!r->shedding && rss > r->limit / 100 * HIGH_PCT)
        r->shedding = true;
    else if (r->shedding && rss < r->limit / 100 * LOW_PCT)
        r->shedding = false;
    if (was != r->shedding) {
        if (r->shedding) {
            METRIC_ADD(memory_shed_episodes, 1);
            log_warn("resource", "RSS %llu MiB over %d%% of the memory limit (%llu MiB): shedding",
                     (unsigned long long)(rss >> 20), HIGH_PCT,
                     (unsigned long long)(r->limit >> 20));
        } else {
            log_info("resource", "RSS %llu MiB: accepting again", (unsigned long long)(rss >> 20));
        }
        if (r->on_change) r->on_change(r->ctx, r->shedding);
    }
}

resource_t *resource_new(struct event_base *base, uint64_t memory_limit,
                         void (*on_change)(void *ctx, bool shedding), void *ctx)
{
    resource_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->limit = memory_limit;
    r->on_change = on_change;
    r->ctx = ctx;
    atomic_store(&g_metrics.memory_limit_bytes, memory_limit);
    r->timer = event_new(base, -1, EV_PERSIST, on_tick, r);
    if (!r->timer) {
        free(r);
        return NULL;
    }
    struct timeval tv = {0, PERIOD_MS * 1000};
    event_add(r->timer, &tv);
    on_tick(-1, 0, r);
    return r;
}

void resource_free(resource_t *r)
{
    if (!r) return;
    event_free(r->timer);
    free(r);
}

bool resource_shedding(const resource_t *r)
{
    return r && r->shedding;
}
