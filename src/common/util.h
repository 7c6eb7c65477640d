/*
 * util.h - small helpers shared by every module: clocks, size and duration
 * parsing for options, and a bounded string copy.
 */
#ifndef LOGDIST_UTIL_H
#define LOGDIST_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic clock in milliseconds / microseconds. */
uint64_t now_ms(void);
uint64_t now_us(void);
/* Wall clock, Unix epoch milliseconds. */
uint64_t wall_ms(void);

/* Parse a byte size: "1048576", "64KiB", "64MiB", "1GiB", "64k", "64M", "1G" (binary units).
 * Returns 0 and sets *out, -EINVAL on a syntax error or -ERANGE on overflow. */
int parse_size(const char *s, uint64_t *out);

/* Parse a non-negative integer that must fit in [min,max]. Returns 0, -EINVAL
 * (not a decimal number) or -ERANGE (outside [min,max]). */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Parse a finite double >= 0. Returns 0, -EINVAL (not a finite number) or -ERANGE. */
int parse_weight(const char *s, double *out);

/* Copy at most dstsize-1 bytes of src and NUL-terminate; returns strlen(src). */
size_t strlcpy_ld(char *dst, const char *src, size_t dstsize);

/* Read at most size - 1 bytes of a small file (/proc, cgroup files) into buf,
 * NUL-terminated. buf, or NULL when path is "" or cannot be opened. */
const char *read_small_file(const char *path, char *buf, size_t size);

#endif
