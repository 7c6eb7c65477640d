/*
 * log.c - see log.h. log_format_line() is the pure part: a bounded writer
 * that appends escaped pieces and never splits an escape sequence or a UTF-8
 * character; room for the line's end ("}\n", the truncation marker) is held
 * back from the start so a cut line is still whole. log_event() formats the
 * message, takes the time and writes the line with one write(2).
 */
#include "common/log.h"

#include "common/check.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static _Atomic int g_level = LOG_INFO;
static _Atomic int g_format = LOG_FORMAT_TEXT;

#define FIELD_OUT_MAX 512 /* escaped bytes of one field value, so the message keeps room */
#define KEY_MAX 32
#define JSON_TAIL ",\"truncated\":true}\n"
#define TEXT_TAIL " [truncated]\n"

void log_set_level(log_level_t level)
{
    atomic_store_explicit(&g_level, (int)level, memory_order_relaxed);
}

log_level_t log_get_level(void)
{
    return (log_level_t)atomic_load_explicit(&g_level, memory_order_relaxed);
}

void log_set_format(log_format_t format)
{
    atomic_store_explicit(&g_format, (int)format, memory_order_relaxed);
}

log_format_t log_get_format(void)
{
    return (log_format_t)atomic_load_explicit(&g_format, memory_order_relaxed);
}

int log_level_parse(const char *name, log_level_t *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    return -EINVAL;
}

int log_format_parse(const char *name, log_format_t *out)
{
    if (!strcmp(name, "text")) {
        *out = LOG_FORMAT_TEXT;
        return 0;
    }
    if (!strcmp(name, "json")) {
        *out = LOG_FORMAT_JSON;
        return 0;
    }
    return -EINVAL;
}

/* ---- the bounded writer ---- */

typedef struct {
    char *b;
    size_t limit; /* bytes usable before the reserved tail */
    size_t len;
    bool cut;
} lw_t;

static bool lw_raw(lw_t *w, const char *s, size_t n)
{
    if (w->len + n > w->limit) {
        w->cut = true;
        return false;
    }
    memcpy(w->b + w->len, s, n);
    w->len += n;
    return true;
}

static bool lw_str(lw_t *w, const char *s)
{
    return lw_raw(w, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    unsigned lo = 0x80, hi = 0xBF;
    size_t n;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return n;
}

/* The escaped form of the character at *s into out (at most 12 bytes);
 * returns its length and advances *s. JSON or text rules (log.h). */
static size_t escape_one(const unsigned char **s, bool json, bool quoted, char *out)
{
    unsigned c = **s;
    size_t n = utf8_len(*s);
    if (n == 0) { /* invalid byte: replaced (JSON) or shown (text), one byte consumed */
        (*s)++;
        return (size_t)(json ? snprintf(out, 12, "\\ufffd") : snprintf(out, 12, "\\x%02x", c));
    }
    *s += n;
    if (n > 1) {
        memcpy(out, *s - n, n);
        return n;
    }
    const char *e = NULL;
    switch (c) {
    case '\n': e = "\\n"; break;
    case '\r': e = "\\r"; break;
    case '\t': e = "\\t"; break;
    case '"': e = json || quoted ? "\\\"" : NULL; break;
    case '\\': e = json || quoted ? "\\\\" : NULL; break;
    default: break;
    }
    if (e) return (size_t)snprintf(out, 12, "%s", e);
    if (c < 0x20 || c == 0x7f)
        return (size_t)(json ? snprintf(out, 12, "\\u%04x", c) : snprintf(out, 12, "\\x%02x", c));
    out[0] = (char)c;
    return 1;
}

/* Append s escaped; with `quotes`, between double quotes (the closing one is
 * always written). Stops whole at the first character that does not fit. */
static bool lw_esc(lw_t *w, const char *s, bool json, bool quotes)
{
    if (quotes && w->len + 2 > w->limit) {
        w->cut = true;
        return false;
    }
    if (quotes) {
        w->b[w->len++] = '"';
        w->limit--; /* held back for the closing quote */
    }
    const unsigned char *p = (const unsigned char *)s;
    char tmp[12];
    while (*p) {
        size_t k = escape_one(&p, json, quotes, tmp);
        if (!lw_raw(w, tmp, k)) break;
    }
    if (quotes) {
        w->limit++;
        w->b[w->len++] = '"';
    }
    return !w->cut;
}

static bool key_ok(const char *k, bool json)
{
    static const char *const reserved[] = {"ts", "level", "event", "module", "msg", "truncated"};
    size_t n = k ? strlen(k) : 0;
    if (n == 0 || n > KEY_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
            return false;
    for (size_t i = 0; json && i < sizeof reserved / sizeof *reserved; i++)
        if (!strcmp(k, reserved[i])) return false;
    return true;
}

static bool text_needs_quotes(const char *s)
{
    if (!*s) return true;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f) return true;
    return false;
}

/* One field, whole or not at all (a string value may be cut short inside its
 * quotes). Returns false when the line is full. */
static bool lw_field(lw_t *w, const log_field_t *f, bool json)
{
    char num[48];
    const char *lit = NULL;
    switch (f->type) {
    case LOG_F_STR: lit = f->v.s ? NULL : (json ? "null" : "-"); break;
    case LOG_F_INT: snprintf(num, sizeof num, "%lld", f->v.i); lit = num; break;
    case LOG_F_UINT: snprintf(num, sizeof num, "%llu", f->v.u); lit = num; break;
    case LOG_F_DBL:
        if (isfinite(f->v.d))
            snprintf(num, sizeof num, "%.15g", f->v.d);
        else
            snprintf(num, sizeof num, json ? "null" : "%g", f->v.d);
        lit = num;
        break;
    case LOG_F_BOOL: lit = f->v.b ? "true" : "false"; break;
    default: return true;
    }
    char head[KEY_MAX + 8];
    int hn = json ? snprintf(head, sizeof head, ",\"%s\":", f->key)
                  : snprintf(head, sizeof head, " %s=", f->key);
    size_t need = (size_t)hn + (lit ? strlen(lit) : 8);
    if (w->len + need > w->limit) {
        w->cut = true;
        return false;
    }
    lw_raw(w, head, (size_t)hn);
    if (lit) return lw_str(w, lit);
    size_t save = w->limit; /* a value gets at most FIELD_OUT_MAX escaped bytes */
    if (w->limit > w->len + FIELD_OUT_MAX) w->limit = w->len + FIELD_OUT_MAX;
    lw_esc(w, f->v.s, json, json || text_needs_quotes(f->v.s));
    w->limit = save;
    return w->len < w->limit;
}

static const char *const level_text[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
static const char *const level_json[] = {"debug", "info", "warn", "error"};

size_t log_format_line(char *out, size_t cap, log_format_t format, const struct timespec *ts,
                       log_level_t level, const char *module, const char *event,
                       const log_field_t *fields, size_t nfields, const char *msg)
{
    bool json = format == LOG_FORMAT_JSON;
    const char *tail = json ? JSON_TAIL : TEXT_TAIL;
    LD_ASSERT(cap >= LOG_LINE_MIN);
    if (cap > LOG_LINE_MAX) cap = LOG_LINE_MAX;
    lw_t w = {.b = out, .limit = cap - strlen(tail) - 1, .len = 0, .cut = false};
    if ((unsigned)level > LOG_ERROR) level = LOG_ERROR;
    struct tm tm;
    gmtime_r(&ts->tv_sec, &tm);
    char tsb[64];
    snprintf(tsb, sizeof tsb, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (long)(ts->tv_nsec / 1000000));
    if (nfields > LOG_FIELDS_MAX) {
        nfields = LOG_FIELDS_MAX;
        w.cut = true;
    }
    if (json) {
        lw_str(&w, "{\"ts\":\"");
        lw_str(&w, tsb);
        lw_str(&w, "\",\"level\":\"");
        lw_str(&w, level_json[level]);
        lw_str(&w, "\",\"event\":");
        lw_esc(&w, event ? event : "message", true, true);
        lw_str(&w, ",\"module\":");
        lw_esc(&w, module ? module : "", true, true);
    } else {
        lw_str(&w, tsb);
        lw_str(&w, " ");
        lw_str(&w, level_text[level]);
        lw_str(&w, " ");
        lw_esc(&w, module ? module : "", false, false);
        lw_str(&w, ": ");
        size_t save = w.limit; /* leave the fields some room */
        if (nfields && w.limit > w.len + 2 * FIELD_OUT_MAX) w.limit -= FIELD_OUT_MAX;
        lw_esc(&w, msg ? msg : "", false, false);
        w.limit = save;
    }
    for (size_t i = 0; i < nfields; i++) {
        if (!key_ok(fields[i].key, json)) continue;
        if (!lw_field(&w, &fields[i], json)) break;
    }
    if (json) {
        if (w.len + 8 <= w.limit) {
            lw_str(&w, ",\"msg\":");
            lw_esc(&w, msg ? msg : "", true, true);
        } else {
            w.cut = true;
        }
        if (!w.cut) lw_str(&w, "}"); /* room: the tail was held back */
    }
    w.limit = cap - 1;
    lw_str(&w, w.cut ? tail : "\n");
    out[w.len] = 0;
    return w.len;
}

/* One line: format the message, then the line, then one write(2). */
static void log_vevent(log_level_t level, const char *module, const char *event,
                       const log_field_t *fields, size_t nfields, const char *fmt, va_list ap)
{
    char msg[LOG_MSG_MAX];
    if (vsnprintf(msg, sizeof msg, fmt, ap) < 0) msg[0] = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char line[LOG_LINE_MAX + 1];
    size_t n = log_format_line(line, sizeof line, log_get_format(), &ts, level, module, event,
                               fields, nfields, msg);
    ssize_t wr = write(STDERR_FILENO, line, n);
    (void)wr;
}

void log_event(log_level_t level, const char *module, const char *event,
               const log_field_t *fields, size_t nfields, const char *fmt, ...)
{
    if ((int)level < atomic_load_explicit(&g_level, memory_order_relaxed)) return;
    va_list ap;
    va_start(ap, fmt);
    log_vevent(level, module, event, fields, nfields, fmt, ap);
    va_end(ap);
}

void log_msg(log_level_t level, const char *module, const char *fmt, ...)
{
    if ((int)level < atomic_load_explicit(&g_level, memory_order_relaxed)) return;
    va_list ap;
    va_start(ap, fmt);
    log_vevent(level, module, "message", NULL, 0, fmt, ap);
    va_end(ap);
}

bool log_limiter_allow(log_limiter_t *l, uint64_t now_s, uint64_t *suppressed)
{
    uint64_t sec = now_s & 0xffffffffu;
    uint64_t st = atomic_load(&l->state);
    for (;;) {
        uint64_t nst;
        if ((st >> 32) != sec)
            nst = sec << 32 | 1;
        else if ((st & 0xffffffffu) >= l->per_sec) {
            atomic_fetch_add(&l->suppressed, 1);
            return false;
        } else
            nst = st + 1;
        if (atomic_compare_exchange_weak(&l->state, &st, nst)) break;
    }
    uint64_t s = atomic_exchange(&l->suppressed, 0);
    if (suppressed) *suppressed = s;
    return true;
}
