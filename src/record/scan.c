/*
 * scan.c - one-pass validating JSON scanner that splits a log packet into records.
 *
 * Implements scan.h. Design:
 *   - One pass over the body, no allocation except growing the caller's record table.
 *   - Hand-written descent with fixed structure for the levels we care about
 *     (packet object -> "messages" array -> record object) and one iterative validator
 *     (scan_value) for everything else; its nesting is kept in a bit stack, so there is
 *     no recursion and depth is bounded only by limits.max_depth (clamped to 4096).
 *   - The hot loop is the plain run inside strings: the first 8 bytes by table lookup
 *     (most keys and short values end there), then 16 bytes at a time with SSE2 when
 *     available (x86-64 baseline), otherwise the table unrolled 4x. Anything special
 *     ('"', '\\', control byte, byte >= 0x80) drops to a cold path that validates one
 *     escape or one UTF-8 sequence (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
 *   - Every read is bounds-checked against `end`, which is the body end or, for NDJSON,
 *     the end of the current line (so a record can never span lines).
 *   - Errors: syntax/UTF-8/limit errors stop the scan at once; shape errors (valid JSON of
 *     the wrong shape) are remembered and reported only if the rest of the body is valid,
 *     so SCAN_ERR_SHAPE always means "valid JSON".
 *   - err_offset of syntax and UTF-8 errors is the length of the longest prefix of the
 *     body that can still be completed into a valid body: the first offending byte, or
 *     the end of input (end of line for NDJSON) when the body is merely cut short.
 */
#include "scan.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__) && !defined(SCAN_NO_SIMD)
#include <emmintrin.h>
#define SCAN_USE_SSE2 1
#endif

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define COLD __attribute__((cold, noinline))

enum {
    DEFAULT_MAX_DEPTH = 64,
    HARD_MAX_DEPTH = 4096, /* size of scan_value's bit stack; larger limits are clamped */
    DEFAULT_MAX_RECORDS = 100000,
    DEFAULT_MAX_RECORD_BYTES = 1 << 20,
    INITIAL_RECORDS = 64,
};

typedef unsigned char uchar;

/* Per-call state. */
typedef struct {
    const uchar *base; /* body[0] */
    const uchar *bend; /* body + len */
    const uchar *end;  /* current scan limit: bend, or the '\n' ending the current NDJSON line */
    uint32_t max_depth;
    uint32_t max_records;
    uint32_t max_record_bytes;
    scan_result_t *out;
    /* First hard error (scan stops). */
    scan_status_t status;
    const uchar *err_at;
    const char *err_msg;
    /* First pending shape error (reported only if the body is otherwise valid). */
    const uchar *shape_at;
    const char *shape_msg;
} ctx_t;

/* Field ids for record and packet keys. */
enum { F_NONE = 0, F_ID, F_LEVEL, F_SOURCE, F_TYPE, F_CRITICAL };
enum { P_NONE = 0, P_PACKET_ID, P_AGENT_ID, P_MESSAGES };

/* Bytes that end a plain run inside a string. */
static const uchar str_special[256] = {
    [0x00 ... 0x1f] = 1,
    ['"'] = 1,
    ['\\'] = 1,
    [0x80 ... 0xff] = 1,
};

/* JSON whitespace (RFC 8259: space, tab, LF, CR). */
static const uchar ws_tbl[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

/* Hex digit value + 1, 0 for non-hex bytes. */
static const uchar hex_tbl[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

static inline bool is_digit(uchar ch)
{
    return (unsigned)(ch - '0') < 10;
}

static inline const uchar *skip_ws(const uchar *p, const uchar *end)
{
    while (p < end && ws_tbl[*p])
        p++;
    return p;
}

/* ------------------------------------------------------------------------------------ */
/* Errors (cold)                                                                        */

/* Records a hard error at `at` (first one wins; callers stop at once). Returns NULL. */
static COLD const uchar *fail(ctx_t *c, scan_status_t st, const uchar *at, const char *msg)
{
    if (c->status == SCAN_OK) {
        c->status = st;
        c->err_at = at;
        c->err_msg = msg;
    }
    return NULL;
}

/* The input (or the current NDJSON line) ended where more was required. Returns NULL. */
static COLD const uchar *fail_end(ctx_t *c)
{
    return fail(c, SCAN_ERR_SYNTAX, c->end,
                c->end == c->bend ? "unexpected end of input" : "unexpected end of line");
}

/*
 * Classifies the UTF-8 sequence that starts at p (*p >= 0x80, p < end) per RFC 3629.
 * Returns its length (2..4) when complete and valid; -1 when it is a valid prefix cut
 * short by `end`; 0 when invalid, with *bad = first offending byte and *msg = reason.
 */
static int utf8_seq(const uchar *p, const uchar *end, const uchar **bad, const char **msg)
{
    uchar c0 = p[0], lo = 0x80, hi = 0xbf;
    int n;
    if (c0 < 0xc2) {
        *bad = p;
        *msg = c0 < 0xc0 ? "unexpected UTF-8 continuation byte" : "overlong UTF-8 sequence";
        return 0;
    } else if (c0 < 0xe0) {
        n = 2;
    } else if (c0 < 0xf0) {
        n = 3;
        if (c0 == 0xe0)
            lo = 0xa0; /* below: overlong */
        else if (c0 == 0xed)
            hi = 0x9f; /* above: UTF-16 surrogates D800-DFFF */
    } else if (c0 < 0xf5) {
        n = 4;
        if (c0 == 0xf0)
            lo = 0x90; /* below: overlong */
        else if (c0 == 0xf4)
            hi = 0x8f; /* above: > U+10FFFF */
    } else {
        *bad = p;
        *msg = "invalid UTF-8 byte";
        return 0;
    }
    if (p + 1 >= end) return -1;
    if (p[1] < lo || p[1] > hi) {
        *bad = p + 1;
        if ((p[1] & 0xc0) != 0x80)
            *msg = "truncated UTF-8 sequence";
        else if (c0 == 0xe0 || c0 == 0xf0)
            *msg = "overlong UTF-8 sequence";
        else if (c0 == 0xed)
            *msg = "UTF-8 encoded surrogate";
        else
            *msg = "UTF-8 code point above U+10FFFF";
        return 0;
    }
    for (int i = 2; i < n; i++) {
        if (p + i >= end) return -1;
        if ((p[i] & 0xc0) != 0x80) {
            *bad = p + i;
            *msg = "truncated UTF-8 sequence";
            return 0;
        }
    }
    return n;
}

/*
 * A byte that cannot appear here was found at p (outside any string), or the input ended.
 * Reports SCAN_ERR_UTF8 if the bytes at p are not valid UTF-8, else SCAN_ERR_SYNTAX with
 * `msg` (or a note on a byte order mark). The offset is p in both cases. Returns NULL.
 */
static COLD const uchar *fail_byte(ctx_t *c, const uchar *p, const char *msg)
{
    if (p >= c->end) return fail_end(c);
    if (*p >= 0x80) {
        const uchar *bad;
        const char *umsg;
        if (utf8_seq(p, c->end, &bad, &umsg) == 0) return fail(c, SCAN_ERR_UTF8, p, umsg);
        if (c->end - p >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
            msg = "byte order mark not allowed";
    }
    return fail(c, SCAN_ERR_SYNTAX, p, msg);
}

/* Remembers the first shape error; it is reported only if the body is otherwise valid. */
static void set_shape(ctx_t *c, const uchar *at, const char *msg)
{
    if (c->shape_at == NULL) {
        c->shape_at = at;
        c->shape_msg = msg;
    }
}

/* ------------------------------------------------------------------------------------ */
/* Tokens                                                                               */

/* Returns the first byte in [p, end) that is special inside a string, or end. */
static inline const uchar *str_plain(const uchar *p, const uchar *end)
{
#ifdef SCAN_USE_SSE2
    if (end - p >= 8) { /* most keys and short values end within 8 bytes */
        if (str_special[p[0]]) return p;
        if (str_special[p[1]]) return p + 1;
        if (str_special[p[2]]) return p + 2;
        if (str_special[p[3]]) return p + 3;
        if (str_special[p[4]]) return p + 4;
        if (str_special[p[5]]) return p + 5;
        if (str_special[p[6]]) return p + 6;
        if (str_special[p[7]]) return p + 7;
        p += 8;
    }
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* signed compare: bytes >= 0x80 are negative, so "< 0x20" also catches them */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                 _mm_cmplt_epi8(v, space));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask) return p + __builtin_ctz(mask);
        p += 16;
    }
#endif
    while (end - p >= 4) {
        if (str_special[p[0]]) return p;
        if (str_special[p[1]]) return p + 1;
        if (str_special[p[2]]) return p + 2;
        if (str_special[p[3]]) return p + 3;
        p += 4;
    }
    while (p < end && !str_special[*p])
        p++;
    return p;
}

/*
 * Slow path inside a string: p is at a special byte other than the closing quote, or at
 * end. Validates one escape (setting *esc) or a run of UTF-8 sequences. Returns the
 * position after it, or NULL with the error set.
 */
static const uchar *string_special(ctx_t *c, const uchar *p, bool *esc)
{
    const uchar *end = c->end;
    if (p >= end) return fail_end(c);
    if (*p == '\\') {
        *esc = true;
        if (++p >= end) return fail_end(c);
        switch (*p) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            return p + 1;
        case 'u':
            for (int i = 1; i <= 4; i++) {
                if (p + i >= end) return fail_end(c);
                if (!hex_tbl[p[i]]) return fail_byte(c, p + i, "invalid \\u escape in string");
            }
            return p + 5; /* lone surrogates (\ud800) are grammar-valid: accepted */
        default:
            /* fail_byte: SCAN_ERR_UTF8 if the byte is not UTF-8 either */
            return fail_byte(c, p, "invalid escape in string");
        }
    }
    if (*p < 0x20) return fail(c, SCAN_ERR_SYNTAX, p, "control character in string");
    do { /* non-ASCII: validate consecutive sequences here */
        const uchar *bad;
        const char *msg;
        int n = utf8_seq(p, end, &bad, &msg);
        if (n < 0) return fail_end(c);
        if (n == 0) return fail(c, SCAN_ERR_UTF8, bad, msg);
        p += n;
    } while (p < end && *p >= 0x80);
    return p;
}

/*
 * Scans the string whose opening quote is at p. Returns the position just after the
 * closing quote, or NULL with the error set. Sets *esc if the string has an escape.
 */
static inline const uchar *scan_string(ctx_t *c, const uchar *p, bool *esc)
{
    const uchar *end = c->end;
    p++;
    for (;;) {
        p = str_plain(p, end);
        if (LIKELY(p < end && *p == '"')) return p + 1;
        p = string_special(c, p, esc);
        if (UNLIKELY(p == NULL)) return NULL;
    }
}

/* Scans a number whose first byte ('-' or a digit) is at p. Returns the position after
 * it, or NULL with the error set. Any length is accepted (syntax only). */
static inline const uchar *scan_number(ctx_t *c, const uchar *p)
{
    const uchar *end = c->end;
    if (*p == '-') {
        if (++p >= end) return fail_end(c);
        if (!is_digit(*p)) return fail_byte(c, p, "expected digit after '-'");
    }
    if (*p++ == '0') {
        if (p < end && is_digit(*p)) return fail(c, SCAN_ERR_SYNTAX, p, "leading zero in number");
    } else {
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && *p == '.') {
        if (++p >= end) return fail_end(c);
        if (!is_digit(*p)) return fail_byte(c, p, "expected digit after '.'");
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p | 0x20) == 'e') {
        if (++p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end) return fail_end(c);
        if (!is_digit(*p)) return fail_byte(c, p, "expected digit in exponent");
        while (p < end && is_digit(*p))
            p++;
    }
    return p;
}

/* Scans the literal `lit` (n bytes) at p. Returns the position after it or NULL. */
static const uchar *scan_literal(ctx_t *c, const uchar *p, const char *lit, size_t n)
{
    if (LIKELY((size_t)(c->end - p) >= n && memcmp(p, lit, n) == 0)) return p + n;
    for (size_t i = 0;; i++) {
        if (p + i >= c->end) return fail_end(c);
        if (p[i] != (uchar)lit[i]) return fail_byte(c, p + i, "invalid literal");
    }
}

/*
 * Validates one JSON value starting at p (whitespace already skipped). `depth` is the
 * number of arrays/objects already open around it. Iterative: open containers are kept
 * in a bit stack (1 = object). Returns the position just after the value, or NULL with
 * the error set.
 */
static const uchar *scan_value(ctx_t *c, const uchar *p, uint32_t depth)
{
    const uchar *end = c->end;
    uint64_t stack[HARD_MAX_DEPTH / 64];
    uint32_t level = 0; /* containers opened by this call */
    bool esc;

value:
    if (UNLIKELY(p >= end)) return fail_end(c);
    switch (*p) {
    case '"':
        p = scan_string(c, p, &esc);
        break;
    case '{':
    case '[':
        /* depth + level < max_depth <= HARD_MAX_DEPTH bounds the stack index */
        if (UNLIKELY(depth + level >= c->max_depth))
            return fail(c, SCAN_ERR_DEPTH, p, "nesting too deep");
        if ((level & 63) == 0)
            stack[level >> 6] = 0; /* first use of this word: never read uninitialised */
        if (*p == '{') {
            stack[level >> 6] |= (uint64_t)1 << (level & 63);
            level++;
            p = skip_ws(p + 1, end);
            if (p < end && *p == '}') {
                p++;
                level--;
                break;
            }
            if (UNLIKELY(p >= end || *p != '"'))
                return fail_byte(c, p, "expected key or '}' in object");
            goto key;
        }
        stack[level >> 6] &= ~((uint64_t)1 << (level & 63));
        level++;
        p = skip_ws(p + 1, end);
        if (p < end && *p == ']') {
            p++;
            level--;
            break;
        }
        goto value;
    case 't':
        p = scan_literal(c, p, "true", 4);
        break;
    case 'f':
        p = scan_literal(c, p, "false", 5);
        break;
    case 'n':
        p = scan_literal(c, p, "null", 4);
        break;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        p = scan_number(c, p);
        break;
    default:
        return fail_byte(c, p, "expected value");
    }
    if (UNLIKELY(p == NULL)) return NULL;

    /* After a value: close containers until one continues with ','. */
    while (level > 0) {
        uint32_t top = level - 1;
        bool in_obj = (stack[top >> 6] >> (top & 63)) & 1;
        p = skip_ws(p, end);
        if (UNLIKELY(p >= end)) return fail_end(c);
        if (*p == ',') {
            p = skip_ws(p + 1, end);
            if (!in_obj) goto value;
            if (UNLIKELY(p >= end || *p != '"'))
                return fail_byte(c, p, "expected key after ',' in object");
            goto key;
        }
        if (*p != (in_obj ? '}' : ']'))
            return fail_byte(
                c, p, in_obj ? "expected ',' or '}' in object" : "expected ',' or ']' in array");
        p++;
        level--;
    }
    return p;

key: /* p at the opening quote of a key */
    p = scan_string(c, p, &esc);
    if (UNLIKELY(p == NULL)) return NULL;
    p = skip_ws(p, end);
    if (UNLIKELY(p >= end || *p != ':')) return fail_byte(c, p, "expected ':' after key");
    p = skip_ws(p + 1, end);
    goto value;
}

/* ------------------------------------------------------------------------------------ */
/* Keys                                                                                 */

/* Record field id of an unescaped key of n bytes at k. */
static inline int match_record_key(const uchar *k, size_t n)
{
    switch (n) {
    case 2:
        return k[0] == 'i' && k[1] == 'd' ? F_ID : F_NONE;
    case 4:
        return memcmp(k, "type", 4) == 0 ? F_TYPE : F_NONE;
    case 5:
        return memcmp(k, "level", 5) == 0 ? F_LEVEL : F_NONE;
    case 6:
        return memcmp(k, "source", 6) == 0 ? F_SOURCE : F_NONE;
    case 8:
        return memcmp(k, "critical", 8) == 0 ? F_CRITICAL : F_NONE;
    default:
        return F_NONE;
    }
}

/* Packet key id of an unescaped key of n bytes at k. */
static int match_packet_key(const uchar *k, size_t n)
{
    if (n == 9 && memcmp(k, "packet_id", 9) == 0) return P_PACKET_ID;
    if (n == 8 && memcmp(k, "agent_id", 8) == 0) return P_AGENT_ID;
    if (n == 8 && memcmp(k, "messages", 8) == 0) return P_MESSAGES;
    return P_NONE;
}

/*
 * Decodes the (already validated) escaped key [k, kend) into buf[0..cap). Returns the
 * decoded length, or -1 if it is longer than cap or not ASCII (then it cannot be one of
 * our keys, which are all short ASCII names).
 */
static int decode_key(const uchar *k, const uchar *kend, uchar *buf, int cap)
{
    int n = 0;
    while (k < kend) {
        unsigned ch = *k++;
        if (ch == '\\') {
            ch = *k++;
            switch (ch) {
            case 'b':
                ch = '\b';
                break;
            case 'f':
                ch = '\f';
                break;
            case 'n':
                ch = '\n';
                break;
            case 'r':
                ch = '\r';
                break;
            case 't':
                ch = '\t';
                break;
            case 'u':
                ch = (unsigned)((hex_tbl[k[0]] - 1) << 12 | (hex_tbl[k[1]] - 1) << 8 |
                                (hex_tbl[k[2]] - 1) << 4 | (hex_tbl[k[3]] - 1));
                k += 4;
                break;
            default: /* '"', '\\', '/' stand for themselves */
                break;
            }
        }
        if (ch >= 0x80 || n == cap) return -1;
        buf[n++] = (uchar)ch;
    }
    return n;
}

/* ------------------------------------------------------------------------------------ */
/* Records and packets                                                                  */

/* Grows the record table (doubling, capped at max_records). Returns false on OOM. */
static bool grow_records(ctx_t *c)
{
    scan_result_t *o = c->out;
    size_t ncap = o->capacity ? o->capacity * 2 : INITIAL_RECORDS;
    if (ncap > c->max_records) ncap = c->max_records;
    if (ncap <= o->count) ncap = o->count + 1;
    if (ncap > SIZE_MAX / sizeof(scan_record_t)) return false;
    scan_record_t *n = realloc(o->records, ncap * sizeof(scan_record_t));
    if (n == NULL) return false;
    o->records = n;
    o->capacity = ncap;
    return true;
}

static inline scan_slice_t slice(const ctx_t *c, const uchar *from, const uchar *to)
{
    return (scan_slice_t){(uint32_t)(from - c->base), (uint32_t)(to - from)};
}

/* Stores string value [vs, ve) (contents, no quotes) for record field f. */
static inline void set_string_field(const ctx_t *c, scan_record_t *r, int f, const uchar *vs,
                                    const uchar *ve, bool esc)
{
    static const uint32_t esc_flag[] = {
        [F_ID] = SCAN_REC_ID_ESCAPED,         [F_LEVEL] = SCAN_REC_LEVEL_ESCAPED,
        [F_SOURCE] = SCAN_REC_SOURCE_ESCAPED, [F_TYPE] = SCAN_REC_TYPE_ESCAPED,
        [F_CRITICAL] = SCAN_REC_CRITICAL,
    };
    scan_slice_t s = slice(c, vs, ve);
    r->flags &= ~esc_flag[f];
    switch (f) {
    case F_ID:
        r->id = s;
        break;
    case F_LEVEL:
        r->level = s;
        break;
    case F_SOURCE:
        r->source = s;
        break;
    case F_TYPE:
        r->type = s;
        break;
    default:
        return; /* "critical": a string is not true */
    }
    if (esc) r->flags |= esc_flag[f];
}

/* Stores non-string value [vs, ve) for record field f: a number id, critical=true, or
 * "absent" for anything else. */
static void set_other_field(const ctx_t *c, scan_record_t *r, int f, const uchar *vs,
                            const uchar *ve)
{
    static const scan_slice_t absent = {0, 0};
    switch (f) {
    case F_ID:
        r->flags &= ~(uint32_t)SCAN_REC_ID_ESCAPED;
        r->id = (*vs == '-' || is_digit(*vs)) ? slice(c, vs, ve) : absent;
        break;
    case F_LEVEL:
        r->flags &= ~(uint32_t)SCAN_REC_LEVEL_ESCAPED;
        r->level = absent;
        break;
    case F_SOURCE:
        r->flags &= ~(uint32_t)SCAN_REC_SOURCE_ESCAPED;
        r->source = absent;
        break;
    case F_TYPE:
        r->flags &= ~(uint32_t)SCAN_REC_TYPE_ESCAPED;
        r->type = absent;
        break;
    case F_CRITICAL:
        if (*vs == 't')
            r->flags |= SCAN_REC_CRITICAL;
        else
            r->flags &= ~(uint32_t)SCAN_REC_CRITICAL;
        break;
    }
}

void scan_record_member(scan_record_t *r, const char *body, const char *k, size_t kn, size_t v0,
                        size_t v1)
{
    int f = match_record_key((const uchar *)k, kn);
    if (f == F_NONE || v1 <= v0) return;
    ctx_t c = {0};
    c.base = (const uchar *)body;
    const uchar *vs = c.base + v0, *ve = c.base + v1;
    if (*vs == '"' && v1 - v0 >= 2)
        set_string_field(&c, r, f, vs + 1, ve - 1, memchr(vs + 1, '\\', v1 - v0 - 2) != NULL);
    else
        set_other_field(&c, r, f, vs, ve);
}

/*
 * Scans one record object whose '{' is at p, with `depth` containers open around it,
 * appends it to the record table with its top-level fields. Returns the position after
 * the closing '}', or NULL with the error set.
 */
static const uchar *scan_record(ctx_t *c, const uchar *p, uint32_t depth)
{
    const uchar *end = c->end;
    const uchar *start = p;
    scan_result_t *o = c->out;
    bool first = true;

    if (UNLIKELY(depth >= c->max_depth)) return fail(c, SCAN_ERR_DEPTH, p, "nesting too deep");
    if (UNLIKELY(o->count >= c->max_records))
        return fail(c, SCAN_ERR_TOO_MANY, p, "too many records");
    if (UNLIKELY(o->count == o->capacity) && !grow_records(c))
        return fail(c, SCAN_ERR_NOMEM, p, "out of memory growing the record table");
    scan_record_t *r = &o->records[o->count]; /* stable: the table only grows between records */
    *r = (scan_record_t){{0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 0};

    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') {
        p++;
        goto done;
    }
    for (;;) {
        if (UNLIKELY(p >= end || *p != '"'))
            return fail_byte(
                c, p, first ? "expected key or '}' in object" : "expected key after ',' in object");
        first = false;
        const uchar *ks = p + 1;
        bool kesc = false;
        p = scan_string(c, p, &kesc);
        if (UNLIKELY(p == NULL)) return NULL;
        int f;
        if (LIKELY(!kesc)) {
            f = match_record_key(ks, (size_t)(p - 1 - ks));
        } else {
            uchar buf[8];
            int n = decode_key(ks, p - 1, buf, (int)sizeof buf);
            f = n < 0 ? F_NONE : match_record_key(buf, (size_t)n);
        }
        if (UNLIKELY(p >= end || *p != ':')) {
            p = skip_ws(p, end);
            if (p >= end || *p != ':') return fail_byte(c, p, "expected ':' after key");
        }
        p = skip_ws(p + 1, end);
        if (UNLIKELY(p >= end)) return fail_end(c);
        const uchar *vs = p;
        if (*p == '"') {
            bool vesc = false;
            p = scan_string(c, p, &vesc);
            if (UNLIKELY(p == NULL)) return NULL;
            if (f != F_NONE) set_string_field(c, r, f, vs + 1, p - 1, vesc);
        } else {
            p = scan_value(c, p, depth + 1);
            if (UNLIKELY(p == NULL)) return NULL;
            if (f != F_NONE) set_other_field(c, r, f, vs, p);
        }
        if (UNLIKELY(p >= end || (*p != ',' && *p != '}'))) p = skip_ws(p, end);
        if (LIKELY(p < end && *p == ',')) {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (LIKELY(p < end && *p == '}')) {
            p++;
            break;
        }
        return fail_byte(c, p, "expected ',' or '}' in object");
    }
done:
    if (UNLIKELY((size_t)(p - start) > c->max_record_bytes))
        return fail(c, SCAN_ERR_RECORD_SIZE, start + c->max_record_bytes, "record too large");
    r->rec = slice(c, start, p);
    o->count++;
    return p;
}

/*
 * Scans an array of records whose '[' is at p, with `depth` containers open around it.
 * Elements that are not objects are validated and leave a pending shape error.
 * Returns the position after the ']', or NULL with the error set.
 */
static const uchar *scan_records(ctx_t *c, const uchar *p, uint32_t depth)
{
    const uchar *end = c->end;
    if (UNLIKELY(depth >= c->max_depth)) return fail(c, SCAN_ERR_DEPTH, p, "nesting too deep");
    p = skip_ws(p + 1, end);
    if (p < end && *p == ']') return p + 1;
    for (;;) {
        if (LIKELY(p < end && *p == '{')) {
            p = scan_record(c, p, depth + 1);
        } else {
            const uchar *vs = p;
            p = scan_value(c, p, depth + 1);
            if (p != NULL) set_shape(c, vs, "record is not an object");
        }
        if (UNLIKELY(p == NULL)) return NULL;
        if (UNLIKELY(p >= end || (*p != ',' && *p != ']'))) p = skip_ws(p, end);
        if (LIKELY(p < end && *p == ',')) {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (LIKELY(p < end && *p == ']')) return p + 1;
        return fail_byte(c, p, "expected ',' or ']' in array");
    }
}

/*
 * Scans the packet object whose '{' is at p (top level). Records come from the last
 * "messages" key (duplicate keys: last wins, like packet_id and agent_id). Returns the
 * position after the closing '}', or NULL with the error set.
 */
static const uchar *scan_packet(ctx_t *c, const uchar *p)
{
    const uchar *end = c->end;
    scan_result_t *o = c->out;
    bool seen_messages = false, first = true;

    p = skip_ws(p + 1, end); /* max_depth >= 1, so the packet itself always fits */
    if (p < end && *p == '}') {
        p++;
        goto done;
    }
    for (;;) {
        if (UNLIKELY(p >= end || *p != '"'))
            return fail_byte(
                c, p, first ? "expected key or '}' in object" : "expected key after ',' in object");
        first = false;
        const uchar *ks = p + 1;
        bool esc = false;
        p = scan_string(c, p, &esc);
        if (UNLIKELY(p == NULL)) return NULL;
        int k;
        if (!esc) {
            k = match_packet_key(ks, (size_t)(p - 1 - ks));
        } else {
            uchar buf[9];
            int n = decode_key(ks, p - 1, buf, (int)sizeof buf);
            k = n < 0 ? P_NONE : match_packet_key(buf, (size_t)n);
        }
        p = skip_ws(p, end);
        if (UNLIKELY(p >= end || *p != ':')) return fail_byte(c, p, "expected ':' after key");
        p = skip_ws(p + 1, end);
        if (UNLIKELY(p >= end)) return fail_end(c);
        const uchar *vs = p;
        if (k == P_MESSAGES) {
            /* a later "messages" replaces an earlier one, with its records and errors */
            seen_messages = true;
            o->count = 0;
            c->shape_at = NULL;
            if (*p == '[') {
                p = scan_records(c, p, 1);
            } else {
                p = scan_value(c, p, 1);
                set_shape(c, vs, "\"messages\" is not an array");
            }
        } else if (k != P_NONE && *p == '"') {
            p = scan_string(c, p, &esc);
            if (p != NULL)
                *(k == P_PACKET_ID ? &o->packet_id : &o->agent_id) = slice(c, vs + 1, p - 1);
        } else {
            p = scan_value(c, p, 1);
            if (k != P_NONE)
                *(k == P_PACKET_ID ? &o->packet_id : &o->agent_id) = (scan_slice_t){0, 0};
        }
        if (UNLIKELY(p == NULL)) return NULL;
        p = skip_ws(p, end);
        if (LIKELY(p < end && *p == ',')) {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (LIKELY(p < end && *p == '}')) {
            p++;
            break;
        }
        return fail_byte(c, p, "expected ',' or '}' in object");
    }
done:
    if (!seen_messages) set_shape(c, p - 1, "\"messages\" is missing");
    return p;
}

/* SCAN_FORMAT_JSON: a packet object or a bare array of records, then only whitespace. */
static void scan_json(ctx_t *c)
{
    const uchar *p = skip_ws(c->base, c->end);
    if (p >= c->end) {
        fail(c, SCAN_ERR_SYNTAX, c->end, "empty body");
        return;
    }
    if (*p == '{') {
        p = scan_packet(c, p);
    } else if (*p == '[') {
        p = scan_records(c, p, 0);
    } else {
        const uchar *vs = p;
        p = scan_value(c, p, 0);
        set_shape(c, vs, "top-level value is not an object or array");
    }
    if (p == NULL) return;
    p = skip_ws(p, c->end);
    if (p < c->end) fail_byte(c, p, "trailing data after top-level value");
}

/* SCAN_FORMAT_NDJSON: one record per '\n'-terminated line; blank lines are skipped. */
static void scan_ndjson(ctx_t *c)
{
    const uchar *pos = c->base;
    while (pos < c->bend) {
        const uchar *nl = memchr(pos, '\n', (size_t)(c->bend - pos));
        c->end = nl ? nl : c->bend;
        const uchar *p = skip_ws(pos, c->end);
        if (p < c->end) {
            if (*p == '{') {
                p = scan_record(c, p, 0);
            } else {
                const uchar *vs = p;
                p = scan_value(c, p, 0);
                set_shape(c, vs, "record is not an object");
            }
            if (p == NULL) return;
            p = skip_ws(p, c->end);
            if (p < c->end) {
                fail_byte(c, p, "expected end of line after record");
                return;
            }
        }
        if (nl == NULL) break;
        pos = nl + 1;
    }
}

scan_limits_t scan_limits_effective(const scan_limits_t *limits)
{
    scan_limits_t l = {DEFAULT_MAX_DEPTH, DEFAULT_MAX_RECORDS, DEFAULT_MAX_RECORD_BYTES};
    if (limits != NULL) {
        if (limits->max_depth)
            l.max_depth = limits->max_depth < HARD_MAX_DEPTH ? limits->max_depth : HARD_MAX_DEPTH;
        if (limits->max_records) l.max_records = limits->max_records;
        if (limits->max_record_bytes) l.max_record_bytes = limits->max_record_bytes;
    }
    return l;
}

int scan_body(const char *body, size_t len, scan_format_t format, const scan_limits_t *limits,
              scan_result_t *out)
{
    static const scan_slice_t absent = {0, 0};
    out->count = 0;
    out->packet_id = absent;
    out->agent_id = absent;
    if (UNLIKELY(len > UINT32_MAX)) {
        out->status = SCAN_ERR_RECORD_SIZE;
        out->err_offset = UINT32_MAX; /* first byte whose slice end would not fit uint32_t */
        out->err_msg = "body larger than 4 GiB";
        return out->status;
    }
    if (body == NULL) body = ""; /* with len == 0 */

    ctx_t c = {0};
    c.base = (const uchar *)body;
    c.bend = c.base + len;
    c.end = c.bend;
    c.out = out;
    scan_limits_t lim = scan_limits_effective(limits);
    c.max_depth = lim.max_depth;
    c.max_records = lim.max_records;
    c.max_record_bytes = lim.max_record_bytes;

    if (format == SCAN_FORMAT_NDJSON)
        scan_ndjson(&c);
    else
        scan_json(&c);

    if (c.status == SCAN_OK && c.shape_at != NULL) {
        c.status = SCAN_ERR_SHAPE;
        c.err_at = c.shape_at;
        c.err_msg = c.shape_msg;
    }
    out->status = c.status;
    if (c.status != SCAN_OK) {
        out->err_offset = (size_t)(c.err_at - c.base);
        out->err_msg = c.err_msg;
        out->count = 0;
        out->packet_id = absent;
        out->agent_id = absent;
    } else {
        out->err_offset = 0;
        out->err_msg = NULL;
    }
    return c.status;
}

void scan_result_free(scan_result_t *out)
{
    free(out->records);
    out->records = NULL;
    out->count = 0;
    out->capacity = 0;
}

const char *scan_status_name(int status)
{
    switch (status) {
    case SCAN_OK:
        return "ok";
    case SCAN_ERR_SYNTAX:
        return "syntax";
    case SCAN_ERR_UTF8:
        return "utf8";
    case SCAN_ERR_SHAPE:
        return "shape";
    case SCAN_ERR_DEPTH:
        return "depth";
    case SCAN_ERR_TOO_MANY:
        return "too_many_records";
    case SCAN_ERR_RECORD_SIZE:
        return "record_too_large";
    case SCAN_ERR_NOMEM:
        return "nomem";
    default:
        return "unknown";
    }
}
