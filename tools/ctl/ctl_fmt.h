/*
 * ctl_fmt.h - logdistctl's human output, pure: numbers made readable, aligned text
 * tables, the one-line form of an API error, and the exit code of an HTTP status.
 * No I/O: everything writes into caller buffers or returns a malloc'd string.
 *
 * Contract: every function writes at most `size` bytes including the NUL (output is
 * truncated, never overflows); a value that is not a finite number is printed "-".
 * Text taken from an answer (error messages, last_error) is made printable (control
 * bytes become '?') so a hostile server cannot drive the terminal.
 */
#ifndef LOGDIST_CTL_FMT_H
#define LOGDIST_CTL_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 999 -> "999", 1234 -> "1.2k", 1500000 -> "1.5M", then G, T. */
void ctl_fmt_count(double n, char *buf, size_t size);

/* 512 -> "512 B", 1536 -> "1.5 KiB", then MiB, GiB, TiB. */
void ctl_fmt_bytes(double n, char *buf, size_t size);

/* A share 0..1 as a percentage: 0.3333 -> "33.3%". */
void ctl_fmt_pct(double share, char *buf, size_t size);

/* Milliseconds: 0.42 -> "0.42 ms", 12.3 -> "12.3 ms", 250 -> "250 ms", 1500 -> "1.50 s". */
void ctl_fmt_ms(double ms, char *buf, size_t size);

/* A weight as %g ("1", "0.25", "1e+12"). */
void ctl_fmt_weight(double w, char *buf, size_t size);

/* Copy s into buf, control bytes as '?', at most `max` characters (then "..."). */
void ctl_fmt_clean(const char *s, size_t max, char *buf, size_t size);

/* "404 not_found: no analyzer with this id" from an error answer's status and body
 * ({"error","message"}); a body that is not that shape gives "502 <first 100
 * printable bytes of the body>" (or "502 (empty answer)"). */
void ctl_fmt_api_error(long status, const char *body, size_t len, char *buf, size_t size);

/* Exit code of an HTTP status (ctl_args.h): 2xx 0, 401/403 4, else 1. */
int ctl_exit_for_status(long status);

/* ---- tables: columns of strings, each left or right aligned, two spaces apart ---- */

#define CTL_TABLE_MAX_COLS 16

typedef struct ctl_table ctl_table_t;

/* A table with these headers; right[i] true aligns column i to the right (numbers).
 * NULL on ENOMEM or ncols out of 1..CTL_TABLE_MAX_COLS. */
ctl_table_t *ctl_table_new(size_t ncols, const char *const *headers, const bool *right);

/* Append a row of ncols cells (copied). 0 or -ENOMEM. */
int ctl_table_add(ctl_table_t *t, const char *const *cells);

/* The whole table, header first, one line per row, no trailing spaces (caller frees);
 * NULL on ENOMEM. */
char *ctl_table_render(const ctl_table_t *t);

void ctl_table_free(ctl_table_t *t);

#endif
