/*
 * resource.c - see resource.h.
 */
#include "core/resource.h"

#include <event2/event.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "core/metrics.h"

#define PERIOD_MS 50          /* RSS: a reader at full speed grows it fast; statm is cheap */
#define SLOW_PERIOD_US 250000 /* CPU use (averaged over this long) and available memory */
#define HIGH_PCT 90
#define LOW_PCT 75
#define CG_UNLIMITED (1ull << 62)

/* Read a small file into buf (NUL-terminated, truncated to size - 1); NULL if unreadable. */
struct resource {
    struct event *timer;
    uint64_t limit, min_free;
    resource_state_t state; /* shedding while either rule holds (its loop only) */
    atomic_bool shedding;   /* the same, for ingest loops on other threads */
    void (*on_change)(void *, bool);
    void *ctx;
    uint64_t last_cpu_ticks, last_us, last_trim_us;
    uint64_t available; /* from the last slow tick */
    char cg_limit[512], cg_usage[512], cg_stat[512]; /* memory cgroup files ("" = none) */
};

uint64_t resource_rss_bytes(void)
{
    char buf[256];
    unsigned long size = 0, resident = 0;
    const char *t = read_small_file("/proc/self/statm", buf, sizeof buf);
    if (!t || sscanf(t, "%lu %lu", &size, &resident) != 2) return 0;
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* The value after `key` at the start of a line of `text` ("key: 123 kB" or
 * "key 123"), times `unit`; RESOURCE_UNKNOWN when absent. */
static uint64_t field(const char *text, const char *key, uint64_t unit)
{
    size_t klen = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, klen) || (p[klen] != ':' && p[klen] != ' ')) continue;
        const char *v = p + klen + 1;
        while (*v == ' ' || *v == '\t') v++;
        if (*v < '0' || *v > '9') return RESOURCE_UNKNOWN;
        return strtoull(v, NULL, 10) * unit;
    }
    return RESOURCE_UNKNOWN;
}

/* A cgroup limit or usage file: a number, or "max". */
static uint64_t number_or_max(const char *text)
{
    if (!text) return RESOURCE_UNKNOWN;
    while (*text == ' ') text++;
    if (!strncmp(text, "max", 3)) return CG_UNLIMITED;
    if (*text < '0' || *text > '9') return RESOURCE_UNKNOWN;
    return strtoull(text, NULL, 10);
}

uint64_t resource_available_from(const char *meminfo, const char *cg_limit, const char *cg_usage,
                                 const char *cg_stat)
{
    uint64_t avail = meminfo ? field(meminfo, "MemAvailable", 1024) : RESOURCE_UNKNOWN;
    uint64_t limit = number_or_max(cg_limit), usage = number_or_max(cg_usage);
    if (limit < CG_UNLIMITED && usage != RESOURCE_UNKNOWN && usage < CG_UNLIMITED) {
        uint64_t inactive = RESOURCE_UNKNOWN;
        if (cg_stat) {
            inactive = field(cg_stat, "total_inactive_file", 1); /* v1, hierarchical */
            if (inactive == RESOURCE_UNKNOWN) inactive = field(cg_stat, "inactive_file", 1);
        }
        uint64_t working = usage;
        if (inactive != RESOURCE_UNKNOWN) working = inactive < usage ? usage - inactive : 0;
        uint64_t room = working < limit ? limit - working : 0;
        if (room < avail) avail = room;
    }
    return avail;
}

bool resource_decide(resource_state_t *st, uint64_t rss, uint64_t memory_limit,
                     uint64_t available, uint64_t min_free)
{
    if (!memory_limit)
        st->rss_high = false;
    else if (!st->rss_high && rss > memory_limit / 100 * HIGH_PCT)
        st->rss_high = true;
    else if (st->rss_high && rss < memory_limit / 100 * LOW_PCT)
        st->rss_high = false;

    if (!min_free || available == RESOURCE_UNKNOWN)
        st->free_low = false;
    else if (!st->free_low && available < min_free)
        st->free_low = true;
    else if (st->free_low && available > min_free + min_free / 2)
        st->free_low = false;
    return st->rss_high || st->free_low;
}

/* Find this process's memory cgroup (v1 memory controller, else v2) and the
 * files that give its limit, usage and statistics. */
static void find_memory_cgroup(resource_t *r)
{
    char buf[4096];
    const char *text = read_small_file("/proc/self/cgroup", buf, sizeof buf);
    if (!text) return;
    char v1[400] = "", v2[400] = ""; /* longer paths are cut: then the root is tried */
    bool has_v1 = false, has_v2 = false;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        const char *c1 = memchr(line, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
        if (c2) {
            size_t clen = (size_t)(c2 - c1 - 1), plen = len - (size_t)(c2 + 1 - line);
            char ctl[256];
            snprintf(ctl, sizeof ctl, "%.*s", (int)clen, c1 + 1);
            bool memory = false;
            for (char *save = NULL, *t = strtok_r(ctl, ",", &save); t; t = strtok_r(NULL, ",", &save))
                memory |= !strcmp(t, "memory");
            if (memory) {
                snprintf(v1, sizeof v1, "%.*s", (int)plen, c2 + 1);
                has_v1 = true;
            } else if (clen == 0 && !strncmp(line, "0:", 2)) {
                snprintf(v2, sizeof v2, "%.*s", (int)plen, c2 + 1);
                has_v2 = true;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    /* in a cgroup namespace (containers) the mount's root is our own cgroup */
    const char *base, *path, *limit, *usage;
    if (has_v1) {
        base = "/sys/fs/cgroup/memory", path = v1;
        limit = "memory.limit_in_bytes", usage = "memory.usage_in_bytes";
    } else if (has_v2) {
        base = "/sys/fs/cgroup", path = v2, limit = "memory.max", usage = "memory.current";
    } else {
        return;
    }
    for (int pass = 0; pass < 2; pass++) {
        const char *p = pass == 0 ? path : "";
        if (pass == 0 && (!strcmp(p, "/") || !p[0])) continue;
        snprintf(r->cg_limit, sizeof r->cg_limit, "%s%s/%s", base, p, limit);
        if (access(r->cg_limit, R_OK) == 0) {
            snprintf(r->cg_usage, sizeof r->cg_usage, "%s%s/%s", base, p, usage);
            snprintf(r->cg_stat, sizeof r->cg_stat, "%s%s/memory.stat", base, p);
            return;
        }
    }
    r->cg_limit[0] = 0;
}

static uint64_t read_available(const resource_t *r)
{
    char mi[8192], lim[64], use[64], st[8192];
    return resource_available_from(read_small_file("/proc/meminfo", mi, sizeof mi),
                                   read_small_file(r->cg_limit, lim, sizeof lim),
                                   read_small_file(r->cg_usage, use, sizeof use),
                                   read_small_file(r->cg_stat, st, sizeof st));
}

static uint64_t cpu_ticks(void)
{
    char buf[1024];
    const char *t = read_small_file("/proc/self/stat", buf, sizeof buf);
    const char *p = t ? strrchr(t, ')') : NULL; /* the command name may contain spaces */
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
    if (!r->last_us || now - r->last_us >= SLOW_PERIOD_US) {
        uint64_t ticks = cpu_ticks();
        if (r->last_us) {
            double cpu_s = (double)(ticks - r->last_cpu_ticks) / (double)sysconf(_SC_CLK_TCK);
            double pct = 100.0 * cpu_s / ((double)(now - r->last_us) / 1e6);
            atomic_store(&g_metrics.cpu_percent, (uint64_t)(pct + 0.5));
        }
        r->last_cpu_ticks = ticks;
        r->last_us = now;
        r->available = read_available(r);
        atomic_store(&g_metrics.memory_available_bytes,
                     r->available == RESOURCE_UNKNOWN ? 0 : r->available);
    }
    atomic_store(&g_metrics.rss_bytes, rss);
    /* memory freed by the delivery thread stays in glibc's arenas; give it back
     * to the system when the queue is empty */
    if (metrics_queued_records() == 0 && rss > (48u << 20) && now - r->last_trim_us > 2000000) {
        malloc_trim(0);
        r->last_trim_us = now;
    }
    resource_state_t before = r->state;
    bool was = before.rss_high || before.free_low;
    bool shedding = resource_decide(&r->state, rss, r->limit, r->available, r->min_free);
    if (r->state.rss_high && !before.rss_high)
        log_event(LOG_WARN, "resource", "shedding_on",
                  LOG_FIELDS(LF_STR("cause", "rss"), LF_UINT("rss_mib", rss >> 20),
                             LF_UINT("limit_mib", r->limit >> 20)),
                  "RSS %llu MiB over %d%% of the memory limit (%llu MiB): shedding",
                  (unsigned long long)(rss >> 20), HIGH_PCT, (unsigned long long)(r->limit >> 20));
    if (r->state.free_low && !before.free_low)
        log_event(LOG_WARN, "resource", "shedding_on",
                  LOG_FIELDS(LF_STR("cause", "free_memory"),
                             LF_UINT("available_mib", r->available >> 20),
                             LF_UINT("min_free_mib", r->min_free >> 20)),
                  "only %llu MiB of memory left on the machine/cgroup (min-free-memory %llu MiB): "
                  "shedding", (unsigned long long)(r->available >> 20),
                  (unsigned long long)(r->min_free >> 20));
    atomic_store_explicit(&r->shedding, shedding, memory_order_relaxed);
    if (was != shedding) {
        if (shedding)
            METRIC_ADD(memory_shed_episodes, 1);
        else
            log_event(LOG_INFO, "resource", "shedding_off",
                      LOG_FIELDS(LF_UINT("rss_mib", rss >> 20),
                                 LF_UINT("available_mib", r->available == RESOURCE_UNKNOWN
                                                              ? 0 : r->available >> 20)),
                      "RSS %llu MiB, %llu MiB available: accepting again",
                      (unsigned long long)(rss >> 20),
                      (unsigned long long)(r->available == RESOURCE_UNKNOWN ? 0
                                                                             : r->available >> 20));
        if (r->on_change) r->on_change(r->ctx, shedding);
    }
}

resource_t *resource_new(struct event_base *base, uint64_t memory_limit, uint64_t min_free,
                         void (*on_change)(void *ctx, bool shedding), void *ctx)
{
    resource_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->limit = memory_limit;
    r->min_free = min_free;
    r->available = RESOURCE_UNKNOWN;
    find_memory_cgroup(r);
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
    return r && atomic_load_explicit(&r->shedding, memory_order_relaxed);
}
