/*
 * forward_decode.c - see forward_decode.h. Pure: no I/O, no globals; msgpack-c
 * unpacks, record/jsonw.h writes, OpenSSL hashes and base64-encodes.
 */
#include "proto/forward_decode.h"

#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/gunzip.h"
#include "proto/levels.h"
#include "record/jsonw.h"

struct fwd_decoder {
    fwd_limits_t lim;
    jsonw_t w;
    msgpack_zone zone, ezone; /* the message's objects; one packed entry's */
    scan_record_t *recs;      /* the scan entries of the records written (fwd_result_t) */
    size_t nrecs, cap;
};

/* ---- framing ------------------------------------------------------------ */

static uint64_t be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

/* The header of the value at p (avail bytes there): its size, the payload
 * bytes after it, and its element count when it is an array (*kind 1) or a
 * map (*kind 2). 1 done, 0 need more bytes, -EINVAL not msgpack. */
static int header(const uint8_t *p, size_t avail, size_t *hdr, uint64_t *body, uint64_t *n,
                  int *kind)
{
    uint8_t b = p[0];
    *body = 0, *n = 0, *kind = 0, *hdr = 1;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) return 1;
    if (b <= 0x8f) return *kind = 2, *n = b & 0x0f, 1;
    if (b <= 0x9f) return *kind = 1, *n = b & 0x0f, 1;
    if (b <= 0xbf) return *body = b & 0x1f, 1;
    static const struct { uint8_t hdr, lenbytes, fixed, kind; } t[] = {
        [0xc4 - 0xc4] = {2, 1, 0, 0}, [0xc5 - 0xc4] = {3, 2, 0, 0}, [0xc6 - 0xc4] = {5, 4, 0, 0},
        [0xc7 - 0xc4] = {3, 1, 0, 0}, [0xc8 - 0xc4] = {4, 2, 0, 0}, [0xc9 - 0xc4] = {6, 4, 0, 0},
        [0xca - 0xc4] = {1, 0, 4, 0}, [0xcb - 0xc4] = {1, 0, 8, 0}, [0xcc - 0xc4] = {1, 0, 1, 0},
        [0xcd - 0xc4] = {1, 0, 2, 0}, [0xce - 0xc4] = {1, 0, 4, 0}, [0xcf - 0xc4] = {1, 0, 8, 0},
        [0xd0 - 0xc4] = {1, 0, 1, 0}, [0xd1 - 0xc4] = {1, 0, 2, 0}, [0xd2 - 0xc4] = {1, 0, 4, 0},
        [0xd3 - 0xc4] = {1, 0, 8, 0}, [0xd4 - 0xc4] = {1, 0, 2, 0}, [0xd5 - 0xc4] = {1, 0, 3, 0},
        [0xd6 - 0xc4] = {1, 0, 5, 0}, [0xd7 - 0xc4] = {1, 0, 9, 0}, [0xd8 - 0xc4] = {1, 0, 17, 0},
        [0xd9 - 0xc4] = {2, 1, 0, 0}, [0xda - 0xc4] = {3, 2, 0, 0}, [0xdb - 0xc4] = {5, 4, 0, 0},
        [0xdc - 0xc4] = {3, 2, 0, 1}, [0xdd - 0xc4] = {5, 4, 0, 1}, [0xde - 0xc4] = {3, 2, 0, 2},
        [0xdf - 0xc4] = {5, 4, 0, 2},
    };
    if (b < 0xc4) return -EINVAL; /* 0xc1: never used */
    *hdr = t[b - 0xc4].hdr;
    if (avail < *hdr) return 0;
    uint64_t v = be(p + 1, t[b - 0xc4].lenbytes);
    *kind = t[b - 0xc4].kind;
    if (*kind) *n = v;
    else *body = t[b - 0xc4].fixed ? t[b - 0xc4].fixed : v;
    return 1;
}

int fwd_frame(const void *buf, size_t len, size_t max, size_t *msg_len)
{
    const uint8_t *p = buf;
    uint64_t left[FWD_MAX_DEPTH + 1];
    unsigned depth = 0;
    uint64_t pending = 1; /* values still to come, all levels: each takes >= 1 byte */
    size_t off = 0;
    left[0] = 1;
    for (;;) {
        while (left[depth] == 0) {
            if (depth == 0) return *msg_len = off, 1;
            depth--;
        }
        if (pending > max - off) return -E2BIG;
        if (off >= len) return 0;
        size_t hdr;
        uint64_t body, n;
        int kind, rc = header(p + off, len - off, &hdr, &body, &n, &kind);
        if (rc <= 0) return rc == 0 && hdr > max - off ? -E2BIG : rc;
        if (hdr > max - off) return -E2BIG;
        left[depth]--, pending--;
        if (kind) {
            if (depth + 1 > FWD_MAX_DEPTH) return -ELOOP;
            uint64_t elems = kind == 2 ? 2 * n : n;
            left[++depth] = elems;
            pending += elems;
        }
        if (body > max - off - hdr) return -E2BIG;
        off += hdr + body;
        if (off > len) return 0;
    }
}

/* ---- decoder ------------------------------------------------------------ */

fwd_decoder_t *fwd_decoder_new(const fwd_limits_t *lim)
{
    fwd_decoder_t *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->lim = *lim;
    jsonw_init(&d->w, lim->max_output);
    if (!msgpack_zone_init(&d->zone, MSGPACK_ZONE_CHUNK_SIZE)) goto err;
    if (!msgpack_zone_init(&d->ezone, MSGPACK_ZONE_CHUNK_SIZE)) {
        msgpack_zone_destroy(&d->zone);
        goto err;
    }
    return d;
err:
    free(d);
    return NULL;
}

void fwd_decoder_free(fwd_decoder_t *d)
{
    if (!d) return;
    jsonw_free(&d->w);
    free(d->recs);
    msgpack_zone_destroy(&d->zone);
    msgpack_zone_destroy(&d->ezone);
    free(d);
}

/* msgpack-c leaves ptr NULL for an empty str/bin/ext: never hand NULL on. */
static const char *nz(const char *p) { return p ? p : ""; }

static bool is_str_n(const msgpack_object *o, const char *s, size_t n)
{
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n && !memcmp(o->via.str.ptr, s, n);
}
/* o is the str `lit` (a string literal: its length known at compile time) */
#define is_str(o, lit) is_str_n((o), (lit), sizeof(lit) - 1)

/* The keys of a record that the mapping looks at (emit_entry). */
enum { K_OTHER = 0, K_MESSAGE, K_SOURCE, K_TIMESTAMP, K_LEVEL, K_ALT_LEVEL, K_LOG };

/* Which of them k is: one length switch, then at most two compares. */
static int key_kind(const msgpack_object *k)
{
    if (k->type != MSGPACK_OBJECT_STR) return K_OTHER;
    const char *p = k->via.str.ptr;
    switch (k->via.str.size) {
    case 3: return !memcmp(p, "log", 3) ? K_LOG : K_OTHER;
    case 5: return !memcmp(p, "level", 5) ? K_LEVEL : K_OTHER;
    case 6: return !memcmp(p, "source", 6) ? K_SOURCE : K_OTHER;
    case 7: return !memcmp(p, "message", 7) ? K_MESSAGE : K_OTHER;
    case 8: return !memcmp(p, "severity", 8) ? K_ALT_LEVEL : K_OTHER;
    case 9:
        return !memcmp(p, "timestamp", 9) ? K_TIMESTAMP
               : !memcmp(p, "log_level", 9) ? K_ALT_LEVEL
                                            : K_OTHER;
    default: return K_OTHER;
    }
}

static bool valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xc2 && c <= 0xdf) k = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef) k = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4) k = 3, cp = c & 0x07;
        else return false;
        if (n - i <= k) return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

/* bytes as a base64 JSON string (OpenSSL's encoder). */
static int write_base64(jsonw_t *w, const void *b, size_t n)
{
    if (n > (SIZE_MAX / 4) - 4) return -E2BIG;
    size_t cap = 4 * ((n + 2) / 3) + 1;
    if (cap > w->max) return -E2BIG;
    unsigned char *out = malloc(cap);
    if (!out) return -ENOMEM;
    int m = EVP_EncodeBlock(out, b, (int)n);
    jsonw_string(w, (const char *)out, m < 0 ? 0 : (size_t)m);
    free(out);
    return 0;
}

/* EventTime (ext 0, 8 bytes) to nanoseconds. */
static int64_t event_time_ns(const msgpack_object_ext *e)
{
    const uint8_t *p = (const uint8_t *)e->ptr;
    return (int64_t)be(p, 4) * 1000000000 + (int64_t)(be(p + 4, 4) % 1000000000);
}

static bool is_event_time(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_EXT && o->via.ext.type == 0 && o->via.ext.size == 8;
}

static int write_value(jsonw_t *w, const msgpack_object *o, unsigned depth);

/* A map key: str and bin as text; numbers, booleans and nil as their JSON
 * text; arrays, maps and ext refused. */
static int write_key(jsonw_t *w, const msgpack_object *k)
{
    char tmp[40];
    int n;
    switch (k->type) {
    case MSGPACK_OBJECT_STR: jsonw_key(w, nz(k->via.str.ptr), k->via.str.size); return 0;
    case MSGPACK_OBJECT_BIN: jsonw_key(w, nz(k->via.bin.ptr), k->via.bin.size); return 0;
    case MSGPACK_OBJECT_NIL: jsonw_keyz(w, "null"); return 0;
    case MSGPACK_OBJECT_BOOLEAN: jsonw_keyz(w, k->via.boolean ? "true" : "false"); return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)k->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        n = snprintf(tmp, sizeof tmp, "%lld", (long long)k->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        n = snprintf(tmp, sizeof tmp, "%.17g", k->via.f64);
        break;
    default: return -EINVAL;
    }
    jsonw_key(w, tmp, (size_t)n);
    return 0;
}

static int write_map(jsonw_t *w, const msgpack_object_map *m, unsigned depth)
{
    jsonw_object_begin(w);
    for (uint32_t i = 0; i < m->size; i++) {
        int rc = write_key(w, &m->ptr[i].key);
        if (!rc) rc = write_value(w, &m->ptr[i].val, depth + 1);
        if (rc) return rc;
    }
    jsonw_object_end(w);
    return 0;
}

static int write_value(jsonw_t *w, const msgpack_object *o, unsigned depth)
{
    if (depth > FWD_MAX_DEPTH) return -ELOOP;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: jsonw_null(w); return 0;
    case MSGPACK_OBJECT_BOOLEAN: jsonw_bool(w, o->via.boolean); return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: jsonw_uint(w, o->via.u64); return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: jsonw_int(w, o->via.i64); return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: jsonw_double(w, o->via.f64); return 0;
    case MSGPACK_OBJECT_STR: jsonw_string(w, nz(o->via.str.ptr), o->via.str.size); return 0;
    case MSGPACK_OBJECT_BIN:
        if (valid_utf8((const uint8_t *)o->via.bin.ptr, o->via.bin.size)) {
            jsonw_string(w, nz(o->via.bin.ptr), o->via.bin.size);
            return 0;
        }
        return write_base64(w, nz(o->via.bin.ptr), o->via.bin.size);
    case MSGPACK_OBJECT_EXT:
        if (is_event_time(o)) {
            jsonw_time_ns(w, event_time_ns(&o->via.ext), 9);
            return 0;
        }
        jsonw_object_begin(w);
        jsonw_keyz(w, "ext");
        jsonw_int(w, o->via.ext.type);
        jsonw_keyz(w, "base64");
        int rc = write_base64(w, nz(o->via.ext.ptr), o->via.ext.size);
        jsonw_object_end(w);
        return rc;
    case MSGPACK_OBJECT_ARRAY:
        jsonw_array_begin(w);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            int r = write_value(w, &o->via.array.ptr[i], depth + 1);
            if (r) return r;
        }
        jsonw_array_end(w);
        return 0;
    case MSGPACK_OBJECT_MAP: return write_map(w, &o->via.map, depth);
    }
    return -EINVAL;
}

/* The entry's time in ns: EventTime, integer seconds, float seconds (as
 * Fluentd takes them); nil or 0: now. -EINVAL otherwise or out of range
 * (before 1970, or past what int64 nanoseconds hold: 2262-04-11).
 * *digits: the fraction digits to write. */
static int entry_time(const msgpack_object *t, int64_t *ns, int *digits)
{
    const uint64_t max_s = 9223372035ull; /* 2262-04-11T23:47:15Z */
    *digits = 0;
    if (is_event_time(t)) {
        if (be((const uint8_t *)t->via.ext.ptr, 4) > max_s) return -EINVAL;
        *ns = event_time_ns(&t->via.ext);
        *digits = 9;
        return 0;
    }
    if (t->type == MSGPACK_OBJECT_POSITIVE_INTEGER && t->via.u64 > 0) {
        if (t->via.u64 > max_s) return -EINVAL;
        *ns = (int64_t)t->via.u64 * 1000000000;
        return 0;
    }
    if (t->type == MSGPACK_OBJECT_FLOAT32 || t->type == MSGPACK_OBJECT_FLOAT64) {
        double s = t->via.f64;
        if (!(s >= 0 && s <= (double)max_s)) return -EINVAL;
        if (s > 0) {
            *ns = (int64_t)(s * 1e9);
            *digits = 9;
            return 0;
        }
    }
    if (t->type == MSGPACK_OBJECT_NIL || (t->type == MSGPACK_OBJECT_POSITIVE_INTEGER) ||
        t->type == MSGPACK_OBJECT_FLOAT32 || t->type == MSGPACK_OBJECT_FLOAT64) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        *ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        *digits = 9;
        return 0;
    }
    return -EINVAL;
}

typedef struct {
    const msgpack_object *tag;
    fwd_result_t *r;
} emit_t;

/* The level a "level"/"severity"/"log_level" value names, or NULL. */
static const char *known_level(const msgpack_object *v)
{
    if (v->type != MSGPACK_OBJECT_STR) return NULL;
    return level_from_text(nz(v->via.str.ptr), v->via.str.size);
}

/* One [time, record] entry -> one NDJSON line. */
static int emit_entry(fwd_decoder_t *d, emit_t *e, const msgpack_object *time,
                      const msgpack_object *rec)
{
    jsonw_t *w = &d->w;
    if (++e->r->entries > d->lim.max_entries) return e->r->error = "too many entries", -E2BIG;
    if (rec->type != MSGPACK_OBJECT_MAP) return e->r->error = "a record is not a map", -EINVAL;
    int64_t ns;
    int digits;
    if (entry_time(time, &ns, &digits)) return e->r->error = "bad event time", -EINVAL;
    if (d->nrecs == d->cap) { /* entries are bounded by max_entries (checked above) */
        size_t cap = d->cap ? 2 * d->cap : 128;
        scan_record_t *n = realloc(d->recs, cap * sizeof *n);
        if (!n) return -ENOMEM;
        d->recs = n, d->cap = cap;
    }
    scan_record_t *sr = &d->recs[d->nrecs];
    *sr = (scan_record_t){{0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 0}, 0};
    const msgpack_object_map *m = &rec->via.map;
    bool has_msg = false, has_src = false, has_ts = false, has_level = false;
    const char *alt_level = NULL;
    /* the kind of each key, kept for the second pass (the first KINDS keys) */
    enum { KINDS = 64 };
    unsigned char kinds[KINDS];
    for (uint32_t i = 0; i < m->size; i++) {
        int kk = key_kind(&m->ptr[i].key);
        if (i < KINDS) kinds[i] = (unsigned char)kk;
        if (kk == K_MESSAGE) has_msg = true;
        else if (kk == K_SOURCE) has_src = true;
        else if (kk == K_TIMESTAMP) has_ts = true;
        else if (kk == K_LEVEL) has_level = true;
        else if (kk == K_ALT_LEVEL && !alt_level) alt_level = known_level(&m->ptr[i].val);
    }
    jsonw_object_begin(w);
    size_t open = jsonw_len(w) - 1, v0; /* the '{'; where a value starts */
    if (!has_ts) {
        jsonw_raw_key(w, JSONW_LIT("\"timestamp\":"));
        jsonw_time_ns(w, ns, digits);
    }
    if (!has_src) {
        jsonw_raw_key(w, JSONW_LIT("\"source\":"));
        v0 = jsonw_len(w);
        jsonw_string(w, nz(e->tag->via.str.ptr), e->tag->via.str.size);
        scan_record_member(sr, w->buf, JSONW_LIT("source"), v0, jsonw_len(w));
    }
    if (!has_level && alt_level) {
        jsonw_raw_key(w, JSONW_LIT("\"level\":"));
        v0 = jsonw_len(w);
        jsonw_stringz(w, alt_level);
        scan_record_member(sr, w->buf, JSONW_LIT("level"), v0, jsonw_len(w));
    }
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
        const char *lvl;
        int rc = 0;
        int kk = i < KINDS ? kinds[i] : key_kind(k);
        if (!has_msg && kk == K_LOG) {
            jsonw_raw_key(w, JSONW_LIT("\"message\":"));
            rc = write_value(w, v, 1);
        } else if (kk == K_LEVEL && (lvl = known_level(v))) {
            jsonw_raw_key(w, JSONW_LIT("\"level\":"));
            v0 = jsonw_len(w);
            jsonw_stringz(w, lvl);
            scan_record_member(sr, w->buf, JSONW_LIT("level"), v0, jsonw_len(w));
        } else {
            rc = write_key(w, k);
            if (rc) return e->r->error = "a map key is an array, a map or an ext", rc;
            v0 = jsonw_len(w);
            rc = write_value(w, v, 1);
            /* the scanner matches the key unescaped: for a str or bin key, its bytes
             * (the other keys are written as numbers, true, false, null: no field) */
            if (!rc && (k->type == MSGPACK_OBJECT_STR || k->type == MSGPACK_OBJECT_BIN))
                scan_record_member(sr, w->buf, nz(k->via.str.ptr), k->via.str.size, v0,
                                   jsonw_len(w));
        }
        if (rc) return e->r->error = "a record is too large or too deep", rc;
    }
    jsonw_object_end(w);
    sr->rec = (scan_slice_t){(uint32_t)open, (uint32_t)(jsonw_len(w) - open)};
    jsonw_newline(w);
    if (jsonw_error(w)) return e->r->error = "the records are too large", jsonw_error(w);
    d->nrecs++;
    return 0;
}

/* Forward mode: an array of [time, record]. */
static int emit_forward(fwd_decoder_t *d, emit_t *e, const msgpack_object_array *a)
{
    for (uint32_t i = 0; i < a->size; i++) {
        const msgpack_object *en = &a->ptr[i];
        if (en->type != MSGPACK_OBJECT_ARRAY || en->via.array.size != 2)
            return e->r->error = "an entry is not [time, record]", -EINVAL;
        int rc = emit_entry(d, e, &en->via.array.ptr[0], &en->via.array.ptr[1]);
        if (rc) return rc;
    }
    return 0;
}

/* PackedForward: concatenated msgpack [time, record] entries, each framed
 * (bounded) first, then unpacked by msgpack-c into the entry zone. */
static int emit_packed(fwd_decoder_t *d, emit_t *e, const char *p, size_t n)
{
    int rc = 0;
    for (size_t off = 0; off < n && !rc;) {
        size_t len, uoff = 0;
        msgpack_object o;
        if (fwd_frame(p + off, n - off, n - off, &len) != 1)
            return e->r->error = "packed entries are not msgpack", -EINVAL;
        msgpack_zone_clear(&d->ezone);
        msgpack_unpack_return ur = msgpack_unpack(p + off, len, &uoff, &d->ezone, &o);
        if (ur == MSGPACK_UNPACK_NOMEM_ERROR) return -ENOMEM;
        if (ur != MSGPACK_UNPACK_SUCCESS || uoff != len)
            return e->r->error = "packed entries are not msgpack", -EINVAL;
        msgpack_object_array one = {.size = 1, .ptr = &o};
        rc = emit_forward(d, e, &one);
        off += len;
    }
    return rc;
}

/* The option map: "chunk" (str or bin), "compressed" ("gzip" or "text"). */
static int read_option(const msgpack_object *o, fwd_result_t *r, bool *gzip)
{
    *gzip = false;
    if (o->type == MSGPACK_OBJECT_NIL) return 0;
    if (o->type != MSGPACK_OBJECT_MAP) return r->error = "the option is not a map", -EINVAL;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
        if (is_str(k, "chunk")) {
            if (v->type != MSGPACK_OBJECT_STR && v->type != MSGPACK_OBJECT_BIN)
                return r->error = "chunk is not a string", -EINVAL;
            if (v->via.str.size > FWD_CHUNK_MAX) return r->error = "chunk is too long", -EINVAL;
            r->has_chunk = true;
            r->chunk_is_bin = v->type == MSGPACK_OBJECT_BIN;
            r->chunk_len = v->via.str.size;
            memcpy(r->chunk, nz(v->via.str.ptr), r->chunk_len);
        } else if (is_str(k, "compressed")) {
            if (is_str(v, "gzip")) *gzip = true;
            else if (!is_str(v, "text")) return r->error = "unknown compression", -EINVAL;
        }
    }
    return 0;
}

static int copy_name(const msgpack_object *o, char *dst, size_t *len)
{
    if (o->type != MSGPACK_OBJECT_STR && o->type != MSGPACK_OBJECT_BIN) return -EINVAL;
    if (o->via.str.size > FWD_NAME_MAX) return -EINVAL;
    memcpy(dst, nz(o->via.str.ptr), o->via.str.size);
    dst[o->via.str.size] = 0;
    if (len) *len = o->via.str.size;
    return 0;
}

/* ["PING", hostname, salt, digest(, username, password)] */
static int decode_ping(const msgpack_object_array *a, fwd_result_t *r)
{
    r->kind = FWD_MSG_PING;
    if (a->size < 4 || a->size > 6 || copy_name(&a->ptr[1], r->ping_host, &r->ping_host_len) ||
        copy_name(&a->ptr[2], r->ping_salt, &r->ping_salt_len) ||
        copy_name(&a->ptr[3], r->ping_digest, NULL))
        return r->error = "malformed PING", -EINVAL;
    return 0;
}

/* The events of an [tag, ...] message into d->w. */
static int decode_events(fwd_decoder_t *d, const msgpack_object_array *a, fwd_result_t *r)
{
    emit_t e = {.tag = &a->ptr[0], .r = r};
    const msgpack_object *x = &a->ptr[1];
    bool gzip = false;
    int rc;
    if (x->type == MSGPACK_OBJECT_ARRAY || x->type == MSGPACK_OBJECT_BIN ||
        x->type == MSGPACK_OBJECT_STR) {
        if (a->size > 3) return r->error = "a forward message has too many elements", -EINVAL;
        if (a->size == 3 && (rc = read_option(&a->ptr[2], r, &gzip))) return rc;
        if (x->type == MSGPACK_OBJECT_ARRAY) {
            if (gzip) return r->error = "compressed is for packed entries", -EINVAL;
            return emit_forward(d, &e, &x->via.array);
        }
        if (!gzip) return emit_packed(d, &e, nz(x->via.bin.ptr), x->via.bin.size);
        char *plain = NULL;
        size_t plain_len, at;
        int g = gunzip_body(nz(x->via.bin.ptr), x->via.bin.size, d->lim.max_decoded, &plain,
                            &plain_len, &at);
        if (g == GUNZIP_ERR_TOO_BIG) return r->error = "decompressed entries too large", -E2BIG;
        if (g == GUNZIP_ERR_NOMEM) return -ENOMEM;
        if (g) return r->error = "compressed entries are not gzip", -EINVAL;
        rc = emit_packed(d, &e, plain, plain_len);
        free(plain);
        return rc;
    }
    /* Message mode: [tag, time, record(, option)] */
    if (a->size < 3) return r->error = "a message has no record", -EINVAL;
    if (a->size == 4 && (rc = read_option(&a->ptr[3], r, &gzip))) return rc;
    return emit_entry(d, &e, x, &a->ptr[2]);
}

static int decode_obj(fwd_decoder_t *d, const msgpack_object *o, bool want_ping,
                      fwd_result_t *r)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 2 || o->via.array.size > 6)
        return r->error = "a message is not an array of 2 to 4 elements", -EINVAL;
    const msgpack_object_array *a = &o->via.array;
    if (want_ping) {
        if (!is_str(&a->ptr[0], "PING")) return r->error = "PING expected", -EINVAL;
        return decode_ping(a, r);
    }
    if (a->ptr[0].type != MSGPACK_OBJECT_STR) return r->error = "the tag is not a string", -EINVAL;
    if (a->size > 4) return r->error = "a message has too many elements", -EINVAL;
    return decode_events(d, a, r);
}

int fwd_decode(fwd_decoder_t *d, const char *msg, size_t len, bool want_ping, fwd_result_t *r)
{
    memset(r, 0, sizeof *r);
    size_t flen, off = 0;
    if (fwd_frame(msg, len, len, &flen) != 1 || flen != len)
        return r->error = "not one msgpack value", -EINVAL;
    msgpack_object o;
    msgpack_zone_clear(&d->zone);
    msgpack_unpack_return ur = msgpack_unpack(msg, len, &off, &d->zone, &o);
    int rc;
    if (ur == MSGPACK_UNPACK_NOMEM_ERROR) rc = -ENOMEM;
    else if (ur != MSGPACK_UNPACK_SUCCESS || off != len)
        rc = -EINVAL, r->error = "not one msgpack value";
    else {
        jsonw_reset(&d->w);
        d->nrecs = 0;
        rc = decode_obj(d, &o, want_ping, r);
        size_t n = jsonw_len(&d->w);
        if (!rc && r->kind == FWD_MSG_EVENTS && n) {
            /* a copy: the writer keeps its grown buffer for the next message */
            r->ndjson = malloc(n + 1);
            if (!r->ndjson) rc = -ENOMEM;
            else {
                memcpy(r->ndjson, d->w.buf, n);
                r->ndjson[n] = 0;
                r->ndjson_len = n;
                r->recs = d->recs;
                r->nrecs = d->nrecs;
                r->depth = d->w.deepest;
            }
        }
    }
    if (rc) {
        r->has_chunk = false;
        if (!r->error) r->error = rc == -ENOMEM ? "out of memory" : "refused";
    }
    jsonw_reset(&d->w);
    return rc;
}

/* ---- handshake and ack -------------------------------------------------- */

int fwd_auth_digest(const void *a, size_t alen, const void *b, size_t blen, const void *c,
                    size_t clen, const void *d, size_t dlen, char out[FWD_DIGEST_HEX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *x = EVP_MD_CTX_new();
    int ok = x && EVP_DigestInit_ex(x, EVP_sha512(), NULL) && EVP_DigestUpdate(x, a, alen) &&
             EVP_DigestUpdate(x, b, blen) && EVP_DigestUpdate(x, c, clen) &&
             EVP_DigestUpdate(x, d, dlen) && EVP_DigestFinal_ex(x, md, &mdlen) && mdlen == 64;
    EVP_MD_CTX_free(x);
    if (!ok) return -EIO;
    static const char hx[] = "0123456789abcdef";
    for (unsigned i = 0; i < 64; i++) out[2 * i] = hx[md[i] >> 4], out[2 * i + 1] = hx[md[i] & 15];
    out[FWD_DIGEST_HEX] = 0;
    return 0;
}

static void pack_strz(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static int pack_done(msgpack_sbuffer *sb, char **out, size_t *out_len)
{
    if (!sb->data) return -ENOMEM;
    *out = sb->data, *out_len = sb->size;
    sb->data = NULL;
    return 0;
}

int fwd_pack_helo(const uint8_t *nonce, size_t nonce_len, char **out, size_t *out_len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int e = msgpack_pack_array(&pk, 2);
    pack_strz(&pk, "HELO");
    e |= msgpack_pack_map(&pk, 3);
    pack_strz(&pk, "nonce");
    e |= msgpack_pack_bin(&pk, nonce_len);
    e |= msgpack_pack_bin_body(&pk, nonce, nonce_len);
    pack_strz(&pk, "auth");
    pack_strz(&pk, "");
    pack_strz(&pk, "keepalive");
    e |= msgpack_pack_true(&pk);
    if (e) {
        msgpack_sbuffer_destroy(&sb);
        return -ENOMEM;
    }
    return pack_done(&sb, out, out_len);
}

int fwd_pack_pong(bool ok, const char *reason, const char *host, const char *digest, char **out,
                  size_t *out_len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int e = msgpack_pack_array(&pk, 5);
    pack_strz(&pk, "PONG");
    e |= ok ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
    pack_strz(&pk, reason);
    pack_strz(&pk, host);
    pack_strz(&pk, digest);
    if (e) {
        msgpack_sbuffer_destroy(&sb);
        return -ENOMEM;
    }
    return pack_done(&sb, out, out_len);
}

int fwd_pack_ack(const fwd_result_t *r, char **out, size_t *out_len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int e = msgpack_pack_map(&pk, 1);
    pack_strz(&pk, "ack");
    if (r->chunk_is_bin) {
        e |= msgpack_pack_bin(&pk, r->chunk_len);
        e |= msgpack_pack_bin_body(&pk, r->chunk, r->chunk_len);
    } else {
        e |= msgpack_pack_str(&pk, r->chunk_len);
        e |= msgpack_pack_str_body(&pk, r->chunk, r->chunk_len);
    }
    if (e) {
        msgpack_sbuffer_destroy(&sb);
        return -ENOMEM;
    }
    return pack_done(&sb, out, out_len);
}
