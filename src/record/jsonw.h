/*
 * jsonw.h - a streaming JSON writer for the records the protocol front-ends
 * build (src/proto/: syslog, OTLP, forward, Elasticsearch) out of input that
 * was never JSON, or that is re-shaped.
 *
 * Contract:
 *   - the output is always valid JSON text (RFC 8259) if the calls are
 *     balanced: strings are escaped ('"', '\\', control characters as \uXXXX
 *     or the short forms), every byte that is not part of well-formed UTF-8
 *     (RFC 3629: no overlongs, surrogates or code points above U+10FFFF)
 *     becomes U+FFFD (counted in jsonw_replaced()), non-finite doubles
 *     are written as null; commas and colons are placed by the writer;
 *   - bounded: the buffer never grows past `max` bytes; past it (or on
 *     ENOMEM) the writer stops writing and jsonw_error() says why - the
 *     caller refuses the record, it never ships a truncated one;
 *   - nesting is bounded by JSONW_MAX_DEPTH (deeper: -E2BIG as well).
 * tests/unit/test_jsonw.c checks the output against jansson (parse and
 * compare) over a table of hostile inputs.
 *
 * Ownership: the writer owns its buffer until jsonw_take(). Not thread-safe
 * (one per connection or per loop). Error convention: 0 or negative errno.
 */
#ifndef LOGDIST_RECORD_JSONW_H
#define LOGDIST_RECORD_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSONW_MAX_DEPTH 64

typedef struct jsonw {
    char *buf;      /* owned; buf[0..len) written so far */
    size_t len, cap;
    size_t max;     /* bound on len */
    int err;        /* 0, -ENOMEM or -E2BIG: sticky until jsonw_reset */
    size_t replaced; /* invalid UTF-8 sequences written as U+FFFD */
    unsigned depth;
    unsigned deepest; /* the deepest depth reached since init/reset (a record is 1):
                         what the scanner's max_depth must allow (ingest_submit_scanned) */
    bool need_comma[JSONW_MAX_DEPTH + 1]; /* per level: a value was written */
    bool after_key;  /* a key was written: the next value follows it */
    /* jsonw_time_ns's cache: "YYYY-MM-DDTHH:MM:SS" of the second tc_sec, valid when
     * tc_ok (a writer serves one connection or loop: records mostly share a second) */
    bool tc_ok;
    int64_t tc_sec;
    char tc[19];
} jsonw_t;

/* An empty writer that will hold at most `max` bytes. No allocation yet. */
void jsonw_init(jsonw_t *w, size_t max);
/* Free the buffer (if not taken). */
void jsonw_free(jsonw_t *w);
/* Forget what was written (keep the buffer), clear the error and `deepest`. */
void jsonw_reset(jsonw_t *w);
/* Back to `len` bytes (a mark taken with jsonw_len at depth 0, between
 * values): drop a record that could not be finished. Clears the error. */
void jsonw_truncate(jsonw_t *w, size_t len);
static inline size_t jsonw_len(const jsonw_t *w) { return w->len; }
static inline int jsonw_error(const jsonw_t *w) { return w->err; }
static inline size_t jsonw_replaced(const jsonw_t *w) { return w->replaced; }
/* Hand the buffer over (malloc'd, NUL-terminated, caller frees) and its
 * length; the writer is empty afterwards. NULL on error or ENOMEM. */
char *jsonw_take(jsonw_t *w, size_t *len);

void jsonw_object_begin(jsonw_t *w);
void jsonw_object_end(jsonw_t *w);
void jsonw_array_begin(jsonw_t *w);
void jsonw_array_end(jsonw_t *w);
/* A key inside an object (escaped like a string). */
void jsonw_key(jsonw_t *w, const char *k, size_t len);
void jsonw_keyz(jsonw_t *w, const char *k);
void jsonw_string(jsonw_t *w, const char *s, size_t len);
void jsonw_stringz(jsonw_t *w, const char *s);
void jsonw_int(jsonw_t *w, int64_t v);
void jsonw_uint(jsonw_t *w, uint64_t v);
void jsonw_double(jsonw_t *w, double v);
void jsonw_bool(jsonw_t *w, bool v);
void jsonw_null(jsonw_t *w);
/* A string of lowercase hex digits for bytes b[0..n) (trace and span ids). */
void jsonw_hex(jsonw_t *w, const uint8_t *b, size_t n);
/* Already-valid JSON text as one value (the caller vouches for it: only
 * for text that came out of a JSON parser or this writer). */
void jsonw_raw_value(jsonw_t *w, const char *json, size_t len);
/* Pre-escaped constant text (string literals of the caller, written with one
 * reserve and one copy, no escaping scan). The caller vouches that it is valid
 * JSON of the stated shape; the writer places the comma before it and keeps its
 * state as if the same members had been written one call at a time:
 *   jsonw_raw_members: one or more whole members of the current object,
 *     `"k":v` or `"a":1,"b":"x"` (afterwards: as after a value);
 *   jsonw_raw_key: zero or more whole members then a key and its colon,
 *     `"k":` or `"a":1,"k":` (afterwards: as after jsonw_key, a value follows).
 * JSONW_LIT("...") gives a literal and its length. */
void jsonw_raw_members(jsonw_t *w, const char *text, size_t len);
void jsonw_raw_key(jsonw_t *w, const char *text, size_t len);
#define JSONW_LIT(s) (s), (sizeof(s) - 1)
/* A raw byte between values: the NDJSON record separator '\n' at depth 0. */
void jsonw_newline(jsonw_t *w);

/* Write "YYYY-MM-DDTHH:MM:SS.fffffffffZ" (RFC 3339, UTC) for nanoseconds since
 * the epoch; `digits` fraction digits (0, 3, 6 or 9). The date and time of the
 * last second written are cached in the writer (no gmtime while the second is
 * the same). Out of gmtime's range or past year 9999: null. */
void jsonw_time_ns(jsonw_t *w, int64_t ns, int digits);

#endif
