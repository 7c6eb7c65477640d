/*
 * ratelimit.h - token-bucket rate limits on ingest, in records/s and bytes/s:
 * one global pair and one pair per agent (the packet's agent_id, else the
 * client address). Each bucket holds `burst_s` seconds of its rate. A packet
 * that does not fit is refused whole with 429 and a Retry-After telling when
 * it would fit; nothing is consumed for a refused packet. Off when every rate
 * is 0. Ingest thread only (no locks).
 */
#ifndef LOGDIST_RATELIMIT_H
#define LOGDIST_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct ratelimit ratelimit_t;

typedef struct {
    uint64_t global_records_per_s, global_bytes_per_s;
    uint64_t agent_records_per_s, agent_bytes_per_s;
    double burst_s;       /* bucket size in seconds of rate (>= 1 packet always fits an empty bucket) */
    size_t max_agents;    /* tracked agents; the least recently seen is forgotten beyond it */
} ratelimit_config_t;

ratelimit_t *ratelimit_new(const ratelimit_config_t *cfg);
void ratelimit_free(ratelimit_t *r);

/* Config reload: new rates and burst (global_records_per_s,
 * global_bytes_per_s, agent_records_per_s, agent_bytes_per_s, burst_s;
 * max_agents is kept). Every bucket, global and per agent, takes the new rate
 * and size at once: its tokens are kept, capped at the new size; a bucket
 * whose limit was off starts full; a limit set to 0 is off. Same locking as
 * ratelimit_admit (the caller's). */
void ratelimit_reconfigure(ratelimit_t *r, const ratelimit_config_t *cfg);

/* Is any limit configured? */
int ratelimit_enabled(const ratelimit_t *r);

/* Try to admit `records` records of `bytes` bytes from agent `key` (key_len
 * bytes, not NUL-terminated). Returns 0 and consumes the tokens, or the number
 * of seconds (>= 1) after which the packet would fit. *which is set to
 * "global" or "agent" on refusal. */
int ratelimit_admit(ratelimit_t *r, const char *key, size_t key_len, uint64_t records,
                    uint64_t bytes, uint64_t now_us, const char **which);

/* How many agents have a bucket now (at most max_agents). */
size_t ratelimit_agents(const ratelimit_t *r);

#endif
