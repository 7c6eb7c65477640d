/*
 * resource.h - watches logdistd's own memory and CPU, and the memory the
 * machine has left, and decides when to shed load.
 *
 * Every 50 ms it reads its resident set size (/proc/self/statm); every 250 ms
 * its CPU time (/proc/self/stat) and the memory still available: MemAvailable
 * of /proc/meminfo, or less when logdistd runs in a memory cgroup with a limit
 * (v2 memory.max, v1 memory.limit_in_bytes) - the limit minus the cgroup's
 * working set (usage minus inactive page cache, as the kubelet counts it).
 * All of it goes into metrics (rss_bytes, cpu_percent,
 * memory_available_bytes).
 *
 * It sheds ("shedding": ingest answers 503 memory_pressure + Retry-After and
 * closes the connection; an ingest-only listener stops accepting) while
 *   - RSS is above 90 % of --memory-limit, until it is back under 75 %, or
 *   - available memory is under --min-free-memory, until it is back over
 *     1.5 times that.
 * The queue budget (--max-queue-bytes) is the first line; this is the
 * backstop for everything else (request bodies, fragmentation, in-flight
 * batches) and for the rest of the machine.
 */
#ifndef LOGDIST_RESOURCE_H
#define LOGDIST_RESOURCE_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
typedef struct resource resource_t;

/* on_change(ctx, shedding) is called on transitions (on base's thread).
 * memory_limit / min_free of 0 turn that rule off. */
resource_t *resource_new(struct event_base *base, uint64_t memory_limit, uint64_t min_free,
                         void (*on_change)(void *ctx, bool shedding), void *ctx);
void resource_free(resource_t *r);

/* Is load being shed right now? (any thread: every ingest loop asks) */
bool resource_shedding(const resource_t *r);

/* Read RSS bytes of this process now (0 if unknown). */
uint64_t resource_rss_bytes(void);

/* ---- the rules, separate from /proc so that tests can feed them ---------- */

#define RESOURCE_UNKNOWN UINT64_MAX

/* Bytes still available from the texts of /proc/meminfo and of the memory
 * cgroup's limit, usage and memory.stat files (any may be NULL): the smaller
 * of MemAvailable and limit - (usage - inactive_file). RESOURCE_UNKNOWN when
 * nothing says. A limit of "max" or >= 2^62 is no limit. */
uint64_t resource_available_from(const char *meminfo, const char *cg_limit, const char *cg_usage,
                                 const char *cg_stat);

typedef struct {
    bool rss_high;  /* over 90 % of the memory limit (until under 75 %) */
    bool free_low;  /* available under min_free (until over 1.5 x min_free) */
} resource_state_t;

/* Update the two rules' state from a sample; returns whether to shed. */
bool resource_decide(resource_state_t *st, uint64_t rss, uint64_t memory_limit,
                     uint64_t available, uint64_t min_free);

#endif
