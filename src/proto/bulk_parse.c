/*
 * bulk_parse.c - see bulk_parse.h. Action lines and documents are validated
 * by the ingest scanner (record/scan.h), then their top-level members are
 * walked in place (a validated object needs no second full parser); jansson
 * only decodes the rare string that holds escapes. Documents are kept byte
 * for byte: mapped fields are appended to the object (written by
 * record/jsonw.h) or, for a known `level`, its value is replaced. A jansson
 * round trip (parse, edit, dump) would rewrite numbers (0.1 ->
 * 0.10000000000000001, 1e3 -> 1000.0), refuse integers over 64 bits and cost
 * ~5x the CPU (measured: jansson was 17 % of logdistd's profile when only the
 * action lines went through it).
 */
#include "proto/bulk_parse.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/levels.h"
#include "record/jsonw.h"
#include "record/scan.h"

#define DEF_RECORD_BYTES (1u << 20)
#define DEF_DEPTH 64
#define DEF_ITEMS 100000
#define DEF_ACTION_BYTES (64 * 1024)
#define DEF_OUT_BYTES ((size_t)256 << 20)
#define KEY_MAX 64 /* longer keys cannot be one of ours: not decoded */

const char *bulk_op_name(bulk_op_t op)
{
    static const char *const names[] = {"index", "create", "update", "delete"};
    return (unsigned)op < 4 ? names[op] : "index";
}

int bulk_index_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (!n || n > BULK_INDEX_MAX || !strcmp(name, ".") || !strcmp(name, "..")) return 0;
    if (name[0] == '_' || name[0] == '-' || name[0] == '+') return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if ((c >= 'A' && c <= 'Z') || c < 0x20 || strchr("\\/*?\"<>| ,#:", c)) return 0;
    }
    return 1;
}

void bulk_result_free(bulk_result_t *r)
{
    for (size_t i = 0; i < r->count; i++) {
        if (!r->items[i].index_borrowed) free(r->items[i].index);
        free(r->items[i].id);
    }
    free(r->items);
    free(r->records);
    memset(r, 0, sizeof *r);
}

/* ---- output: a bounded growable buffer ------------------------------------ */

typedef struct {
    char *buf;
    size_t len, cap, max;
} obuf_t;

static int obuf_put(obuf_t *o, const char *s, size_t n)
{
    if (n > o->max - o->len) return -E2BIG;
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n) cap *= 2;
        if (cap > o->max) cap = o->max;
        char *b = realloc(o->buf, cap + 1);
        if (!b) return -ENOMEM;
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    return 0;
}

/* ---- walking a document the scanner validated ----------------------------- */

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

/* s[i] is '"': the index just past the closing quote (one not escaped: an
 * even run of backslashes before it). */
static size_t skip_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n;) {
        const char *q = memchr(s + i, '"', n - i);
        if (!q) return n;
        size_t j = (size_t)(q - s), b = 0;
        while (j - b > i && s[j - b - 1] == '\\') b++;
        if (!(b & 1)) return j + 1;
        i = j + 1;
    }
    return n;
}

static size_t skip_value(const char *s, size_t i, size_t n)
{
    if (i >= n) return n;
    if (s[i] == '"') return skip_string(s, i, n);
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        while (i < n) {
            char c = s[i];
            if (c == '"') {
                i = skip_string(s, i, n);
                continue;
            }
            if (c == '{' || c == '[') depth++;
            if ((c == '}' || c == ']') && --depth == 0) return i + 1;
            i++;
        }
        return n;
    }
    for (; i < n; i++) { /* a number, true, false, null */
        switch (s[i]) {
        case ',': case '}': case ']': case ' ': case '\t': case '\r': case '\n': return i;
        default: break;
        }
    }
    return i;
}

/* A value: [s, e) of the document; set when the key was seen (last wins). */
typedef struct {
    size_t s, e;
    bool set;
    unsigned n; /* times seen */
} span_t;

enum { F_TYPE, F_TIMESTAMP, F_ATTS, F_LEVEL, F_SOURCE, F_LOG_LEVEL, F_LOG,
       F_SERVICE_NAME, F_SERVICE, F_HOST_NAME, F_HOST, F__COUNT };
/* A key to look for, with its length. */
typedef struct {
    const char *s;
    size_t n;
} name_t;
#define NAME(lit) {(lit), sizeof(lit) - 1}
static const name_t top_names[F__COUNT] = {
    NAME("type"), NAME("timestamp"), NAME("@timestamp"), NAME("level"), NAME("source"),
    NAME("log.level"), NAME("log"), NAME("service.name"), NAME("service"), NAME("host.name"),
    NAME("host")};

/* The text of a JSON string token tok[0..n) into buf (escapes decoded when
 * there are any). false when tok is not a string or does not fit. */
static bool string_text(const char *tok, size_t n, char *buf, size_t cap, const char **text,
                        size_t *len)
{
    if (n < 2 || tok[0] != '"' || tok[n - 1] != '"') return false;
    if (!memchr(tok, '\\', n)) {
        *text = tok + 1;
        *len = n - 2;
        return true;
    }
    json_error_t e;
    json_t *j = json_loadb(tok, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!json_is_string(j) || json_string_length(j) >= cap) {
        json_decref(j);
        return false;
    }
    *len = json_string_length(j);
    memcpy(buf, json_string_value(j), *len);
    json_decref(j);
    *text = buf;
    return true;
}

/* Walk the members of the object s[0..n) (validated), recording into f the
 * last value of each of the `count` names; returns the number of members. */
static size_t walk(const char *s, size_t n, const name_t *names, size_t count, span_t *f)
{
    size_t members = 0, i = skip_ws(s, 1, n);
    while (i < n && s[i] == '"') {
        size_t ks = i, ke = skip_string(s, i, n);
        i = skip_ws(s, ke, n);
        if (i >= n || s[i] != ':') break;
        size_t vs = skip_ws(s, i + 1, n), ve = skip_value(s, vs, n);
        members++;
        char kb[KEY_MAX + 1];
        const char *k;
        size_t kl;
        if (ke - ks <= KEY_MAX + 2 && string_text(s + ks, ke - ks, kb, sizeof kb, &k, &kl))
            for (size_t j = 0; j < count; j++)
                if (names[j].n == kl && names[j].s[0] == k[0] && !memcmp(names[j].s, k, kl))
                    f[j] = (span_t){vs, ve, true, f[j].n + 1};
        i = skip_ws(s, ve, n);
        if (i >= n || s[i] != ',') break;
        i = skip_ws(s, i + 1, n);
    }
    return members;
}

/* The member `name` of the object value sp of d (a nested "log":{"level"}). */
static span_t nested(const char *d, span_t sp, const char *name)
{
    span_t r = {0, 0, false, 0};
    if (!sp.set || d[sp.s] != '{') return r;
    name_t nm = {name, strlen(name)};
    walk(d + sp.s, sp.e - sp.s, &nm, 1, &r);
    if (r.set) {
        r.s += sp.s;
        r.e += sp.s;
    }
    return r;
}

static bool is_string(const char *d, span_t sp)
{
    return sp.set && sp.e - sp.s >= 2 && d[sp.s] == '"';
}

/* An integer token (epoch milliseconds) -> ns; false otherwise, and for
 * values whose nanoseconds do not fit in 64 bits (beyond the year 2262). */
static bool epoch_ms(const char *t, size_t n, int64_t *ns)
{
    size_t i = t[0] == '-';
    if (n <= i || n - i > 13) return false; /* 13 digits: < 1e13 ms */
    int64_t v = 0;
    for (size_t j = i; j < n; j++) {
        if (t[j] < '0' || t[j] > '9') return false;
        v = v * 10 + (t[j] - '0');
    }
    if (v > INT64_MAX / 1000000) return false;
    *ns = (i ? -v : v) * 1000000;
    return true;
}

/* ---- one document ---------------------------------------------------------- */

typedef struct {
    const bulk_limits_t *lim;
    scan_limits_t slim;
    scan_result_t scan;
    jsonw_t extra;  /* the appended fields, as an object */
    jsonw_t tok;    /* one string token (a level) */
    jsonw_t type;   /* the last index as a string token, for every item with that index */
    char type_of[BULK_INDEX_MAX + 1];
    obuf_t out;     /* every record */
} ctx_t;

static void item_fail(bulk_item_t *it, int status, const char *type, const char *fmt,
                      const char *arg)
{
    it->status = status;
    it->err_type = type;
    snprintf(it->reason, sizeof it->reason, fmt, arg ? arg : "");
}

/* The level to write for d: our name for a known `level` (replace), or for
 * a known log.level (add). */
static const char *level_of(const char *d, const span_t *f, span_t log_level, bool *replace)
{
    char buf[64];
    const char *t;
    size_t n;
    *replace = false;
    if (f[F_LEVEL].set) {
        if (!is_string(d, f[F_LEVEL]) ||
            !string_text(d + f[F_LEVEL].s, f[F_LEVEL].e - f[F_LEVEL].s, buf, sizeof buf, &t, &n))
            return NULL;
        const char *ours = level_from_text(t, n);
        if (!ours || (strlen(ours) == n && !memcmp(ours, t, n))) return NULL;
        *replace = true;
        return ours;
    }
    if (!is_string(d, log_level) ||
        !string_text(d + log_level.s, log_level.e - log_level.s, buf, sizeof buf, &t, &n))
        return NULL;
    return level_from_text(t, n);
}

/* Write the fields to add into c->extra: {"type":..,"timestamp":..,...}. */
static void write_extra(ctx_t *c, const char *d, const span_t *f, const char *index,
                        const char *add_level)
{
    jsonw_t *x = &c->extra;
    jsonw_reset(x);
    jsonw_object_begin(x);
    if (!f[F_TYPE].set && index) { /* escaped once per run of the same index */
        if (!jsonw_len(&c->type) || strcmp(c->type_of, index) != 0) {
            jsonw_reset(&c->type);
            jsonw_stringz(&c->type, index);
            snprintf(c->type_of, sizeof c->type_of, "%s", index); /* <= 255 bytes: checked */
        }
        jsonw_keyz(x, "type");
        jsonw_raw_value(x, c->type.buf, jsonw_len(&c->type)); /* written by jsonw */
    }
    int64_t ns;
    if (!f[F_TIMESTAMP].set && is_string(d, f[F_ATTS])) {
        jsonw_keyz(x, "timestamp");
        jsonw_raw_value(x, d + f[F_ATTS].s, f[F_ATTS].e - f[F_ATTS].s); /* validated */
    } else if (!f[F_TIMESTAMP].set && f[F_ATTS].set &&
               epoch_ms(d + f[F_ATTS].s, f[F_ATTS].e - f[F_ATTS].s, &ns)) {
        jsonw_keyz(x, "timestamp");
        jsonw_time_ns(x, ns, 3);
    }
    if (add_level) {
        jsonw_keyz(x, "level");
        jsonw_stringz(x, add_level);
    }
    if (!f[F_SOURCE].set) {
        span_t src = is_string(d, f[F_SERVICE_NAME]) ? f[F_SERVICE_NAME]
                                                      : nested(d, f[F_SERVICE], "name");
        if (!is_string(d, src))
            src = is_string(d, f[F_HOST_NAME]) ? f[F_HOST_NAME] : nested(d, f[F_HOST], "name");
        if (is_string(d, src)) {
            jsonw_keyz(x, "source");
            jsonw_raw_value(x, d + src.s, src.e - src.s);
        }
    }
    jsonw_object_end(x);
}

/* Validate and map the document line[0..n) of item `it`; append its record
 * to c->out. 0 (taken), 1 (the item failed: it->status set), 2 (it failed for
 * its size), or -E2BIG / -ENOMEM for the whole request. */
static int take_document(ctx_t *c, bulk_item_t *it, const char *line, size_t n)
{
    if (n > c->slim.max_record_bytes) {
        char sz[32];
        snprintf(sz, sizeof sz, "%zu", n);
        item_fail(it, 400, "illegal_argument_exception",
                  "document of %s bytes is larger than max-record-bytes", sz);
        return 2;
    }
    if (scan_body(line, n, SCAN_FORMAT_NDJSON, &c->slim, &c->scan) != SCAN_OK ||
        c->scan.count != 1) {
        if (c->scan.status == SCAN_ERR_NOMEM) return -ENOMEM;
        item_fail(it, 400, "mapper_parsing_exception", "failed to parse: %s",
                  c->scan.status == SCAN_ERR_SHAPE ? "the document is not a JSON object"
                  : c->scan.err_msg                ? c->scan.err_msg
                                                   : scan_status_name(c->scan.status));
        return 1;
    }
    const char *d = line + c->scan.records[0].rec.off;
    size_t dn = c->scan.records[0].rec.len;
    span_t f[F__COUNT] = {{0}};
    size_t members = walk(d, dn, top_names, F__COUNT, f);
    span_t log_level = f[F_LOG_LEVEL].set ? f[F_LOG_LEVEL] : nested(d, f[F_LOG], "level");
    bool replace;
    const char *lv = level_of(d, f, log_level, &replace);
    write_extra(c, d, f, it->index, replace ? NULL : lv);
    if (jsonw_error(&c->extra)) return jsonw_error(&c->extra) == -ENOMEM ? -ENOMEM : -E2BIG;
    const char *x = c->extra.buf;
    size_t xn = jsonw_len(&c->extra); /* "{...}": members inside [1, xn-1) */

    size_t close = dn - 1; /* the document's '}' */
    const char *q = NULL;
    size_t ql = 0, size;
    if (replace) {
        jsonw_reset(&c->tok);
        jsonw_stringz(&c->tok, lv);
        q = c->tok.buf;
        ql = jsonw_len(&c->tok);
        size = f[F_LEVEL].s + ql + (close - f[F_LEVEL].e);
    } else {
        size = close;
    }
    if (xn > 2) size += (members ? 1 : 0) + xn - 2;
    size += 1;
    if (size > c->slim.max_record_bytes) {
        char sz[32];
        snprintf(sz, sizeof sz, "%zu", size);
        item_fail(it, 400, "illegal_argument_exception",
                  "document is larger than max-record-bytes once mapped (%s bytes)", sz);
        return 2;
    }
    obuf_t *o = &c->out; /* straight into the output: the size is known */
    int rc;
    if (replace) {
        rc = obuf_put(o, d, f[F_LEVEL].s);
        if (!rc) rc = obuf_put(o, q, ql);
        if (!rc) rc = obuf_put(o, d + f[F_LEVEL].e, close - f[F_LEVEL].e);
    } else {
        rc = obuf_put(o, d, close);
    }
    if (!rc && xn > 2) {
        if (members) rc = obuf_put(o, ",", 1);
        if (!rc) rc = obuf_put(o, x + 1, xn - 2);
    }
    if (!rc) rc = obuf_put(o, "}\n", 2);
    return rc;
}

/* ---- action lines ---------------------------------------------------------- */

static int fail_whole(bulk_result_t *out, int rc, int status, const char *type,
                      const char *reason)
{
    out->status = status;
    out->err_type = type;
    snprintf(out->reason, sizeof out->reason, "%s", reason);
    return rc;
}

static bool blank(const char *s, size_t n)
{
    return skip_ws(s, 0, n) == n;
}

/* Next line from *pos: [*ls, *ln); false at the end. */
static bool next_line(const char *b, size_t len, size_t *pos, const char **ls, size_t *ln)
{
    while (*pos < len) {
        const char *s = b + *pos;
        const char *nl = memchr(s, '\n', len - *pos);
        size_t n = nl ? (size_t)(nl - s) : len - *pos;
        *pos += n + (nl != NULL);
        if (blank(s, n)) continue;
        *ls = s;
        *ln = n;
        return true;
    }
    return false;
}

/* The text of the string token tok[0..n) into buf (escapes decoded); false
 * when it is over max bytes or holds a NUL (it would cut a name short). */
static bool token_text(const char *tok, size_t n, size_t max, char *buf, size_t cap,
                       const char **t, size_t *len)
{
    return n <= max * 6 + 2 && string_text(tok, n, buf, cap, t, len) && *len <= max &&
           !memchr(*t, 0, *len);
}

static char *copy_text(const char *t, size_t len)
{
    char *c = malloc(len + 1);
    if (c) {
        memcpy(c, t, len);
        c[len] = 0;
    }
    return c;
}

/* it->index = t[0..len): the previous item's string when it is the same
 * (borrowed: items of one index share one copy), else a copy. 0 or -ENOMEM. */
static int set_index(bulk_item_t *it, const bulk_item_t *prev, const char *t, size_t len)
{
    if (prev && prev->index && !strncmp(prev->index, t, len) && !prev->index[len]) {
        it->index = prev->index;
        it->index_borrowed = true;
        return 0;
    }
    it->index = copy_text(t, len);
    return it->index ? 0 : -ENOMEM;
}

static const name_t op_names[4] = {NAME("index"), NAME("create"), NAME("update"),
                                   NAME("delete")};
static const name_t meta_names[2] = {NAME("_index"), NAME("_id")};

/* Parse the action line `lineno` into it: validated by the ingest scanner,
 * then walked (no allocation but the copies). 0, -EINVAL (whole request; out
 * says why) or -ENOMEM. */
static int parse_action(ctx_t *c, bulk_result_t *out, const char *s, size_t n, size_t lineno,
                        const char *url_index, bulk_item_t *it)
{
    char why[BULK_REASON_MAX];
    scan_limits_t sl = {.max_depth = 16, .max_records = 1, .max_record_bytes = (uint32_t)n + 1};
    span_t ops[4] = {{0}}, meta[2] = {{0}};
    size_t members = 0;
    const char *a = NULL;
    if (scan_body(s, n, SCAN_FORMAT_NDJSON, &sl, &c->scan) == SCAN_OK && c->scan.count == 1) {
        a = s + c->scan.records[0].rec.off;
        members = walk(a, c->scan.records[0].rec.len, op_names, 4, ops);
    } else if (c->scan.status == SCAN_ERR_NOMEM) {
        return -ENOMEM;
    }
    int op = -1;
    for (int k = 0; k < 4; k++)
        if (ops[k].set) op = k;
    if (members != 1 || op < 0) {
        snprintf(why, sizeof why, "Malformed action/metadata line [%zu], expected an object "
                 "of one field: [create], [delete], [index] or [update]", lineno);
        goto bad;
    }
    it->op = (bulk_op_t)op;
    span_t v = ops[op];
    if (a[v.s] == '{') walk(a + v.s, v.e - v.s, meta_names, 2, meta);
    bool ix_bad = meta[0].set && !is_string(a + v.s, meta[0]);
    bool id_bad = meta[1].set && !is_string(a + v.s, meta[1]);
    if (a[v.s] != '{' || ix_bad || id_bad || meta[0].n > 1 || meta[1].n > 1) {
        snprintf(why, sizeof why, "Malformed action/metadata line [%zu], expected an object "
                 "with one string _index and _id", lineno);
        goto bad;
    }
    const bulk_item_t *prev = out->count >= 2 ? &out->items[out->count - 2] : NULL;
    char buf[BULK_ID_MAX + 1];
    const char *t;
    size_t len;
    if (meta[0].set) { /* over 255 bytes or with a NUL: "" (an invalid name for check_item) */
        if (!token_text(a + v.s + meta[0].s, meta[0].e - meta[0].s, BULK_INDEX_MAX, buf,
                        sizeof buf, &t, &len))
            t = "", len = 0;
        if (set_index(it, prev, t, len)) return -ENOMEM;
    } else if (url_index && *url_index) {
        if (set_index(it, prev, url_index, strlen(url_index))) return -ENOMEM;
    }
    if (meta[1].set) { /* over 512 bytes or with a NUL: "" (refused by check_item) */
        if (!token_text(a + v.s + meta[1].s, meta[1].e - meta[1].s, BULK_ID_MAX, buf,
                        sizeof buf, &t, &len))
            t = "", len = 0;
        if (!(it->id = copy_text(t, len))) return -ENOMEM;
    }
    return 0;
bad:
    return fail_whole(out, -EINVAL, 400, "illegal_argument_exception", why);
}

/* Per-item checks that need no document: op, index, id. */
static void check_item(bulk_item_t *it)
{
    if (it->op == BULK_OP_UPDATE || it->op == BULK_OP_DELETE)
        item_fail(it, 400, "illegal_argument_exception",
                  "logdist takes only index and create actions: %s is not supported",
                  bulk_op_name(it->op));
    else if (!it->index)
        item_fail(it, 400, "action_request_validation_exception",
                  "Validation Failed: 1: index is missing;%s", NULL);
    else if (!bulk_index_name_ok(it->index))
        item_fail(it, 400, "invalid_index_name_exception", "Invalid index name [%.150s]",
                  it->index);
    else if (it->id && (!*it->id || strlen(it->id) > BULK_ID_MAX))
        item_fail(it, 400, "illegal_argument_exception",
                  "id must be 1 to 512 bytes long%s", NULL);
}

static bulk_item_t *new_item(bulk_result_t *out)
{
    if (out->count == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 64;
        bulk_item_t *n = realloc(out->items, cap * sizeof *n);
        if (!n) return NULL;
        out->items = n;
        out->cap = cap;
    }
    bulk_item_t *it = &out->items[out->count++];
    memset(it, 0, sizeof *it);
    return it;
}

static int parse_lines(ctx_t *c, const char *body, size_t len, const char *url_index,
                       bulk_result_t *out)
{
    const bulk_limits_t *lim = c->lim;
    size_t pos = 0, lineno = 0;
    const char *s;
    size_t n;
    while (next_line(body, len, &pos, &s, &n)) {
        lineno++;
        if (out->count >= lim->max_items)
            return fail_whole(out, -E2BIG, 413, "illegal_argument_exception",
                              "too many actions in one bulk request (max-records-per-packet)");
        if (n > lim->max_action_bytes)
            return fail_whole(out, -EINVAL, 400, "illegal_argument_exception",
                              "an action/metadata line is too long");
        bulk_item_t *it = new_item(out);
        if (!it) return -ENOMEM;
        int rc = parse_action(c, out, s, n, lineno, url_index, it);
        if (rc) return rc;
        check_item(it);
        if (it->op == BULK_OP_DELETE) continue;
        if (!next_line(body, len, &pos, &s, &n)) {
            char why[BULK_REASON_MAX];
            snprintf(why, sizeof why,
                     "the %s action on line [%zu] has no source line", bulk_op_name(it->op),
                     lineno);
            return fail_whole(out, -EINVAL, 400, "illegal_argument_exception", why);
        }
        lineno++;
        if (it->status) continue;
        rc = take_document(c, it, s, n);
        if (rc < 0) return rc == -E2BIG ? fail_whole(out, rc, 413, "illegal_argument_exception",
                                                     "the bulk request maps to too many bytes")
                                        : rc;
        if (rc == 0) out->taken++;
        else if (rc == 2) out->oversize++;
    }
    if (!out->count)
        return fail_whole(out, -EINVAL, 400, "action_request_validation_exception",
                          "Validation Failed: 1: no requests added;");
    return 0;
}

int bulk_parse(const char *body, size_t len, const char *url_index, const bulk_limits_t *lim,
               bulk_result_t *out)
{
    bulk_result_free(out);
    bulk_limits_t l = lim ? *lim : (bulk_limits_t){0};
    if (!l.max_record_bytes) l.max_record_bytes = DEF_RECORD_BYTES;
    if (!l.max_depth) l.max_depth = DEF_DEPTH;
    if (!l.max_items) l.max_items = DEF_ITEMS;
    if (!l.max_action_bytes) l.max_action_bytes = DEF_ACTION_BYTES;
    if (!l.max_out_bytes) l.max_out_bytes = DEF_OUT_BYTES;
    ctx_t c = {.lim = &l,
               .slim = {.max_depth = l.max_depth, .max_records = 1,
                        .max_record_bytes = l.max_record_bytes},
               .out = {.max = l.max_out_bytes}};
    jsonw_init(&c.extra, (size_t)l.max_record_bytes + 4096);
    jsonw_init(&c.tok, 64);
    jsonw_init(&c.type, BULK_INDEX_MAX * 6 + 8);
    int rc = parse_lines(&c, body ? body : "", body ? len : 0, url_index, out);
    scan_result_free(&c.scan);
    jsonw_free(&c.extra);
    jsonw_free(&c.tok);
    jsonw_free(&c.type);
    if (rc == -ENOMEM) fail_whole(out, rc, 503, "es_rejected_execution_exception", "out of memory");
    if (rc < 0) {
        free(c.out.buf);
        bulk_result_t keep = *out; /* the whole-request failure, without items */
        out->count = out->cap = 0;
        for (size_t i = 0; i < keep.count; i++) {
            if (!keep.items[i].index_borrowed) free(keep.items[i].index);
            free(keep.items[i].id);
        }
        free(keep.items);
        out->items = NULL;
        out->taken = out->oversize = 0;
        return rc;
    }
    out->records = c.out.buf;
    out->records_len = c.out.len;
    if (out->records) out->records[out->records_len] = 0;
    return 0;
}
