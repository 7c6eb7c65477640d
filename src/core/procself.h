/*
 * procself.h - the standard process metrics of Prometheus (process_*), read
 * from /proc/self: CPU seconds, resident and virtual memory, open and maximum
 * descriptors, start time. Every read is bounded (one small buffer per file,
 * at most PROCSELF_MAX_FDS directory entries counted).
 *
 * procself_parse_stat() is the pure part (table-tested); procself_read() does
 * the I/O. Thread-safe (no shared state).
 */
#ifndef LOGDIST_PROCSELF_H
#define LOGDIST_PROCSELF_H

#include <stdbool.h>
#include <stdint.h>

#define PROCSELF_MAX_FDS (1u << 20)

typedef struct {
    double cpu_seconds; /* user + system */
    uint64_t rss_bytes, vsize_bytes;
    uint64_t open_fds, max_fds;
    double start_time_seconds; /* since the Unix epoch */
} procself_t;

/* Parse the text of /proc/self/stat: utime, stime (clock ticks), vsize
 * (bytes), rss (pages) and starttime (ticks after boot) into out, with the
 * clock tick rate, the page size and the boot time (epoch seconds, from
 * /proc/stat "btime"). The command name in parentheses may hold spaces and
 * ')'. 0 or -EINVAL (out untouched). */
int procself_parse_stat(const char *stat, long ticks_per_s, long page_size, uint64_t boot_time,
                        procself_t *out);

/* "btime N" of /proc/stat's text; 0 when absent. */
uint64_t procself_parse_btime(const char *proc_stat);

/* Read every field (fields that cannot be read stay 0). 0, or -EIO when
 * /proc/self/stat cannot be read or parsed. */
int procself_read(procself_t *out);

#endif
