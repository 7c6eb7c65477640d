/*
 * resource.h - watches logdistd's own memory and CPU (from /proc/self) and
 * decides when to shed load.
 *
 * Every 50 ms it reads the resident set size (and every 250 ms the CPU time)
 * into metrics (rss_bytes, cpu_percent). Above the high watermark (90 % of
 * --memory-limit) it enters "shedding": ingest answers 503 + Retry-After
 * (memory_pressure) and closes the connection, and an ingest-only listener
 * stops accepting new connections; below the low watermark (75 %) it accepts
 * again. The queue budget (--max-queue-bytes, by default an eighth of the
 * memory limit) is the first line; this is the backstop for everything
 * else (request bodies in flight, fragmentation, in-flight batches).
 */
#ifndef LOGDIST_RESOURCE_H
#define LOGDIST_RESOURCE_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
typedef struct resource resource_t;

/* on_change(ctx, shedding) is called on transitions (ingest thread). */
resource_t *resource_new(struct event_base *base, uint64_t memory_limit,
                         void (*on_change)(void *ctx, bool shedding), void *ctx);
void resource_free(resource_t *r);

/* Is load being shed right now? (ingest thread) */
bool resource_shedding(const resource_t *r);

/* Read RSS bytes of this process now (0 if unknown). */
uint64_t resource_rss_bytes(void);

#endif
