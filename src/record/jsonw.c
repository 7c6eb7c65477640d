/*
 * jsonw.c - see jsonw.h. Strings are copied in runs: bytes that need no
 * escaping (printable ASCII but '"' and '\\', and well-formed UTF-8) are
 * appended as one memcpy, so the common case is one pass and one copy.
 */
#include "record/jsonw.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void jsonw_init(jsonw_t *w, size_t max)
{
    memset(w, 0, sizeof *w);
    w->max = max;
}

void jsonw_free(jsonw_t *w)
{
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

void jsonw_reset(jsonw_t *w)
{
    jsonw_truncate(w, 0);
    w->replaced = 0;
    w->deepest = 0;
}

void jsonw_truncate(jsonw_t *w, size_t len)
{
    if (len < w->len) w->len = len;
    w->err = 0;
    w->depth = 0;
    w->need_comma[0] = false;
    w->after_key = false;
}

char *jsonw_take(jsonw_t *w, size_t *len)
{
    if (w->err) return NULL;
    if (!w->buf) { /* nothing written: an empty string */
        w->buf = malloc(1);
        if (!w->buf) return NULL;
    }
    if (w->len == w->cap) { /* room for the NUL */
        char *n = realloc(w->buf, w->len + 1);
        if (!n) return NULL;
        w->buf = n;
    }
    w->buf[w->len] = 0;
    char *out = w->buf;
    *len = w->len;
    w->buf = NULL;
    w->len = w->cap = 0;
    jsonw_reset(w);
    return out;
}

/* Room for n more bytes: false (and the error set) past max or on ENOMEM. */
static bool reserve(jsonw_t *w, size_t n)
{
    if (w->err) return false;
    if (n > w->max || w->len > w->max - n) {
        w->err = -E2BIG;
        return false;
    }
    if (w->len + n <= w->cap) return true;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + n) cap *= 2;
    if (cap > w->max + 1) cap = w->max + 1;
    char *b = realloc(w->buf, cap);
    if (!b) {
        w->err = -ENOMEM;
        return false;
    }
    w->buf = b;
    w->cap = cap;
    return true;
}

static void put(jsonw_t *w, const char *s, size_t n)
{
    if (!reserve(w, n)) return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void putc1(jsonw_t *w, char c)
{
    if (!reserve(w, 1)) return;
    w->buf[w->len++] = c;
}

/* Before a value (or a key): the comma, unless it follows its key. */
static void before_value(jsonw_t *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->need_comma[w->depth]) putc1(w, ',');
    w->need_comma[w->depth] = true;
}

static void open_level(jsonw_t *w, char c)
{
    before_value(w);
    if (w->depth >= JSONW_MAX_DEPTH) {
        if (!w->err) w->err = -E2BIG;
        return;
    }
    putc1(w, c);
    w->need_comma[++w->depth] = false;
    if (w->depth > w->deepest) w->deepest = w->depth;
}

static void close_level(jsonw_t *w, char c)
{
    if (w->depth == 0) return; /* unbalanced: a caller bug, never a write outside */
    w->depth--;
    putc1(w, c);
}

void jsonw_object_begin(jsonw_t *w) { open_level(w, '{'); }
void jsonw_object_end(jsonw_t *w) { close_level(w, '}'); }
void jsonw_array_begin(jsonw_t *w) { open_level(w, '['); }
void jsonw_array_end(jsonw_t *w) { close_level(w, ']'); }

/* Length of the well-formed UTF-8 sequence at s[0..n) (RFC 3629: no
 * overlongs, no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c >= 0xC2 && c <= 0xDF) return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && s[1] >= 0xA0) return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0; /* overlong */
        if (c == 0xF4 && s[1] >= 0x90) return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

/* How many leading bytes of s[0..len) are printable ASCII that needs no
 * escaping. Eight bytes at a time: a word is plain when none of its bytes is
 * >= 0x80, < 0x20, '"' or '\\' (the exact "has a byte" tests of Bit Twiddling
 * Hacks: a hit only sends the word to the byte loop). */
static size_t plain_prefix(const unsigned char *s, size_t len)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, s + i, 8);
        uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
        uint64_t hit = (v & highs) | ((v - ones * 0x20) & ~v & highs) |
                       ((q - ones) & ~q & highs) | ((b - ones) & ~b & highs);
        if (hit) break;
    }
    while (i < len && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\') i++;
    return i;
}

static void put_escaped(jsonw_t *w, const char *str, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    /* the common case, printable ASCII with nothing to escape: one reserve, one copy */
    size_t plain = plain_prefix(s, len);
    if (plain == len && len <= SIZE_MAX - 2) {
        if (!reserve(w, len + 2)) return;
        char *o = w->buf + w->len;
        o[0] = '"';
        memcpy(o + 1, str, len);
        o[len + 1] = '"';
        w->len += len + 2;
        return;
    }
    putc1(w, '"');
    size_t run = 0, i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        size_t u = c >= 0x80 ? utf8_len(s + i, len - i) : 0;
        if (u) {
            i += u;
            continue;
        }
        put(w, str + run, i - run);
        char esc[6] = {'\\', 0};
        switch (c) {
        case '"': esc[1] = '"'; put(w, esc, 2); break;
        case '\\': esc[1] = '\\'; put(w, esc, 2); break;
        case '\n': esc[1] = 'n'; put(w, esc, 2); break;
        case '\r': esc[1] = 'r'; put(w, esc, 2); break;
        case '\t': esc[1] = 't'; put(w, esc, 2); break;
        case '\b': esc[1] = 'b'; put(w, esc, 2); break;
        case '\f': esc[1] = 'f'; put(w, esc, 2); break;
        default:
            if (c < 0x20) {
                char u6[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                put(w, u6, 6);
            } else { /* not UTF-8: U+FFFD for this byte */
                put(w, "\xEF\xBF\xBD", 3);
                w->replaced++;
            }
        }
        run = ++i;
    }
    put(w, str + run, len - run);
    putc1(w, '"');
}

void jsonw_key(jsonw_t *w, const char *k, size_t len)
{
    before_value(w);
    if (plain_prefix((const unsigned char *)k, len) == len && len <= SIZE_MAX - 3) {
        /* the usual key: '"', the key, '"', ':' in one reserve */
        if (!reserve(w, len + 3)) return;
        char *o = w->buf + w->len;
        o[0] = '"';
        memcpy(o + 1, k, len);
        o[len + 1] = '"';
        o[len + 2] = ':';
        w->len += len + 3;
    } else {
        put_escaped(w, k, len);
        putc1(w, ':');
    }
    w->after_key = true;
}

void jsonw_keyz(jsonw_t *w, const char *k)
{
    jsonw_key(w, k, strlen(k));
}

void jsonw_string(jsonw_t *w, const char *s, size_t len)
{
    before_value(w);
    put_escaped(w, s, len);
}

void jsonw_stringz(jsonw_t *w, const char *s)
{
    jsonw_string(w, s, strlen(s));
}

/* Decimal digits of v, right-aligned in b[0..24): returns where they start. */
static size_t u64_digits(char b[24], uint64_t v)
{
    size_t i = 24;
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return i;
}

void jsonw_int(jsonw_t *w, int64_t v)
{
    char b[24];
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    size_t i = u64_digits(b, mag);
    if (v < 0) b[--i] = '-';
    before_value(w);
    put(w, b + i, 24 - i);
}

void jsonw_uint(jsonw_t *w, uint64_t v)
{
    char b[24];
    size_t i = u64_digits(b, v);
    before_value(w);
    put(w, b + i, 24 - i);
}

void jsonw_double(jsonw_t *w, double v)
{
    if (!isfinite(v)) {
        jsonw_null(w);
        return;
    }
    char b[32];
    int n = snprintf(b, sizeof b, "%.17g", v);
    before_value(w);
    put(w, b, (size_t)n);
}

void jsonw_bool(jsonw_t *w, bool v)
{
    before_value(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void jsonw_null(jsonw_t *w)
{
    before_value(w);
    put(w, "null", 4);
}

void jsonw_hex(jsonw_t *w, const uint8_t *b, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    before_value(w);
    if (n > (SIZE_MAX - 2) / 2 || !reserve(w, 2 * n + 2)) {
        if (!w->err) w->err = -E2BIG;
        return;
    }
    char *o = w->buf + w->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 15];
    }
    *o++ = '"';
    w->len += 2 * n + 2;
}

void jsonw_raw_value(jsonw_t *w, const char *json, size_t len)
{
    before_value(w);
    put(w, json, len);
}

void jsonw_newline(jsonw_t *w)
{
    putc1(w, '\n');
    if (w->depth == 0) w->need_comma[0] = false; /* NDJSON: the next record starts afresh */
}

void jsonw_raw_members(jsonw_t *w, const char *text, size_t len)
{
    before_value(w);
    put(w, text, len);
}

void jsonw_raw_key(jsonw_t *w, const char *text, size_t len)
{
    before_value(w);
    put(w, text, len);
    w->after_key = true;
}

/* "YYYY-MM-DDTHH:MM:SS" of the second `sec` into w->tc (the cache): false when
 * gmtime cannot or the year has not 4 digits. */
static bool time_fill(jsonw_t *w, int64_t sec)
{
    time_t t = (time_t)sec;
    struct tm tm;
    if ((int64_t)t != sec || !gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0)
        return false;
    /* by hand (strftime and snprintf were most of the cost) */
    int f[6] = {tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec};
    static const char sep[6] = {'-', '-', 'T', ':', ':', 0};
    size_t n = 0;
    for (int k = 0; k < 6; k++) {
        int width = k ? 2 : 4;
        for (int d = width - 1, v = f[k]; d >= 0; d--, v /= 10) w->tc[n + (size_t)d] = (char)('0' + v % 10);
        n += (size_t)width;
        if (sep[k]) w->tc[n++] = sep[k];
    }
    w->tc_sec = sec;
    w->tc_ok = true;
    return true;
}

void jsonw_time_ns(jsonw_t *w, int64_t ns, int digits)
{
    int64_t sec = ns / 1000000000, frac = ns % 1000000000;
    if (frac < 0) {
        frac += 1000000000;
        sec--;
    }
    if (!(w->tc_ok && w->tc_sec == sec) && !time_fill(w, sec)) {
        jsonw_null(w);
        return;
    }
    if (digits != 3 && digits != 6 && digits != 9) digits = 0;
    /* '"', the 19 cached bytes, '.' and the digits, 'Z', '"': plain ASCII, no escaping */
    size_t n = sizeof w->tc + (digits ? 1 + (size_t)digits : 0) + 3;
    before_value(w);
    if (!reserve(w, n)) return;
    char *o = w->buf + w->len;
    *o++ = '"';
    memcpy(o, w->tc, sizeof w->tc);
    o += sizeof w->tc;
    if (digits) {
        int64_t v = digits == 3 ? frac / 1000000 : digits == 6 ? frac / 1000 : frac;
        *o++ = '.';
        for (int d = digits - 1; d >= 0; d--, v /= 10) o[d] = (char)('0' + v % 10);
        o += digits;
    }
    *o++ = 'Z';
    *o++ = '"';
    w->len += n;
}
