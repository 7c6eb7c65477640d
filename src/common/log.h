/*
 * log.h - leveled, timestamped logging to stderr, safe from any thread.
 *
 * One line per call, written with one write(2) so lines of different threads
 * never interleave, capped at LOG_LINE_MAX bytes (newline included). Two
 * formats, chosen once at start-up (log_set_format, --log-format):
 *   text: "2026-11-27T17:00:00.123Z WARN  auth: message client=1.2.3.4:5 reason=invalid"
 *   json: {"ts":"2026-11-27T17:00:00.123Z","level":"warn","event":"auth_failed",
 *          "module":"auth","client":"1.2.3.4:5","reason":"invalid","msg":"message"}
 * An event is a stable snake_case name plus typed fields (log_event); a plain
 * log_info(...) is the event "message" without fields. Every string (message,
 * field values) is escaped: in JSON per RFC 8259 with control characters as
 * \u00XX and invalid UTF-8 replaced by U+FFFD; in text, control characters as
 * \xXX so a hostile value cannot forge a line. A line that does not fit is cut
 * at a character boundary and, in JSON, still parses and carries
 * "truncated":true. Never pass a credential (token, hash, shared key,
 * Authorization header, URL userinfo) as a message or field: docs/LOGGING.md.
 *
 * The level and the format are atomics: log_set_level/log_set_format are safe
 * from any thread at any time (a config reload may call them).
 */
#ifndef LOGDIST_LOG_H
#define LOGDIST_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } log_level_t;
typedef enum { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON = 1 } log_format_t;

#define LOG_LINE_MAX 2048   /* bytes per line, newline included */
#define LOG_LINE_MIN 256    /* the smallest buffer log_format_line() accepts */
#define LOG_FIELDS_MAX 16   /* fields per event; more are dropped (truncated) */
#define LOG_MSG_MAX 1024    /* the formatted human message, before escaping */

void log_set_level(log_level_t level);
log_level_t log_get_level(void);
void log_set_format(log_format_t format);
log_format_t log_get_format(void);
/* Parse "debug|info|warn|error"; returns 0 or -EINVAL on an unknown name. */
int log_level_parse(const char *name, log_level_t *out);
/* Parse "text|json"; returns 0 or -EINVAL on an unknown name. */
int log_format_parse(const char *name, log_format_t *out);

typedef enum { LOG_F_STR, LOG_F_INT, LOG_F_UINT, LOG_F_DBL, LOG_F_BOOL } log_ftype_t;

/* One field: key is a snake_case literal (written as is, never escaped: it
 * must be [a-z0-9_]+); a LOG_F_STR value may be NULL (written as null) and is
 * escaped. Borrowed for the duration of the call. */
typedef struct {
    const char *key;
    log_ftype_t type;
    union {
        const char *s;
        long long i;
        unsigned long long u;
        double d;
        bool b;
    } v;
} log_field_t;

#define LF_STR(k, x) ((log_field_t){.key = (k), .type = LOG_F_STR, .v.s = (x)})
#define LF_INT(k, x) ((log_field_t){.key = (k), .type = LOG_F_INT, .v.i = (long long)(x)})
#define LF_UINT(k, x) \
    ((log_field_t){.key = (k), .type = LOG_F_UINT, .v.u = (unsigned long long)(x)})
#define LF_DBL(k, x) ((log_field_t){.key = (k), .type = LOG_F_DBL, .v.d = (double)(x)})
#define LF_BOOL(k, x) ((log_field_t){.key = (k), .type = LOG_F_BOOL, .v.b = (x)})
/* LOG_FIELDS(LF_STR("client", peer), LF_UINT("n", n)) expands to "array, count". */
#define LOG_FIELDS(...)                                   \
    ((const log_field_t[]){__VA_ARGS__}),                 \
        (sizeof((const log_field_t[]){__VA_ARGS__}) / sizeof(log_field_t))
#define LOG_NOFIELDS NULL, 0

/* Log the event `event` (a snake_case literal) of `module` with its fields
 * and a human message (printf format). Nothing is kept after the call. */
void log_event(log_level_t level, const char *module, const char *event,
               const log_field_t *fields, size_t nfields, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

void log_msg(log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(mod, ...) log_msg(LOG_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...) log_msg(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)

/* Pure formatter behind log_event (tested by tests/unit/test_log.c): writes
 * one whole line, newline included, NUL-terminated, into out (cap >=
 * LOG_LINE_MIN, at most LOG_LINE_MAX is used) and returns its length. `ts` is
 * the event time; module and event are short literals (they must fit the
 * first LOG_LINE_MIN bytes with the time stamp). */
size_t log_format_line(char *out, size_t cap, log_format_t format, const struct timespec *ts,
                       log_level_t level, const char *module, const char *event,
                       const log_field_t *fields, size_t nfields, const char *msg);

/* Rate limit for a noisy event (auth_failed): at most `per_sec` lines per
 * wall-clock second. Thread-safe; zero-initialise with LOG_LIMITER_INIT(n). */
typedef struct {
    uint32_t per_sec;
    _Atomic uint64_t state; /* second << 32 | lines emitted in that second */
    _Atomic uint64_t suppressed;
} log_limiter_t;
#define LOG_LIMITER_INIT(n) {.per_sec = (n)}

/* May one more line be logged at time `now_s` (seconds)? On true,
 * *suppressed is the number of lines refused since the last one allowed (and
 * is reset); on false the refusal is counted. */
bool log_limiter_allow(log_limiter_t *l, uint64_t now_s, uint64_t *suppressed);

#endif
