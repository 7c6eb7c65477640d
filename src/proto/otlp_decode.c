/*
 * otlp_decode.c - see otlp_decode.h.
 *
 * Both encodings feed one record writer (write_record) through a small table
 * of operations (enc_ops_t): how to write an AnyValue, a list of KeyValues,
 * and whether a value is a string. Protobuf: a bounded wire walk (pb_walk)
 * checks nesting, counts and string fields, then protobuf-c unpacks, then the
 * tree is written. JSON: a count of values bounds jansson's allocations, then
 * jansson parses and the tree is checked while it is written; any error drops
 * everything written so far (the request is refused whole).
 */
#include "proto/otlp_decode.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp/opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "common/base64.h"
#include "proto/levels.h"
#include "record/jsonw.h"

typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest pb_req_t;
typedef Opentelemetry__Proto__Logs__V1__ResourceLogs pb_rlogs_t;
typedef Opentelemetry__Proto__Logs__V1__ScopeLogs pb_slogs_t;
typedef Opentelemetry__Proto__Logs__V1__LogRecord pb_rec_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any_t;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv_t;

#define TRACE_ID_BYTES 16
#define SPAN_ID_BYTES 8
#define WHERE_MAX 160

/* ---- the decoder's state --------------------------------------------------- */

typedef struct dec {
    const otlp_limits_t *lim;
    otlp_result_t *res;
    jsonw_t out;     /* every accepted record, NDJSON */
    jsonw_t scratch; /* a non-string body, as JSON text */
    char *tmp;       /* base64 text */
    size_t tmp_cap;
    long ri, si, li;   /* where we are (-1: not inside one) */
    const char *field; /* the field being read, for messages (NULL: none) */
    bool too_deep;     /* the current record nests deeper than lim->max_depth */
    size_t seen;       /* LogRecords so far */
} dec_t;

/* Set res->error to "<where>: <message>" and return rc. */
static int fail(dec_t *d, int rc, const char *fmt, ...)
{
    char where[WHERE_MAX] = "";
    size_t n = 0;
    if (d->ri >= 0) n += (size_t)snprintf(where + n, sizeof where - n, "resourceLogs[%ld]", d->ri);
    if (d->si >= 0 && n < sizeof where)
        n += (size_t)snprintf(where + n, sizeof where - n, ".scopeLogs[%ld]", d->si);
    if (d->li >= 0 && n < sizeof where)
        n += (size_t)snprintf(where + n, sizeof where - n, ".logRecords[%ld]", d->li);
    if (d->field && n < sizeof where)
        n += (size_t)snprintf(where + n, sizeof where - n, "%s%s", n ? "." : "", d->field);
    size_t cap = sizeof d->res->error;
    int k = snprintf(d->res->error, cap, "%s%s", where, n ? ": " : "");
    size_t at = k < 0 ? 0 : (size_t)k < cap ? (size_t)k : cap - 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->res->error + at, cap - at, fmt, ap);
    va_end(ap);
    return rc;
}

static void obj_begin(dec_t *d, jsonw_t *w)
{
    if (w == &d->out && w->depth + 1 > d->lim->max_depth) d->too_deep = true;
    jsonw_object_begin(w);
}

static void arr_begin(dec_t *d, jsonw_t *w)
{
    if (w == &d->out && w->depth + 1 > d->lim->max_depth) d->too_deep = true;
    jsonw_array_begin(w);
}

/* ---- base64 (bytesValue) --------------------------------------------------- */


static int tmp_reserve(dec_t *d, size_t n)
{
    if (n <= d->tmp_cap) return 0;
    char *t = realloc(d->tmp, n);
    if (!t) return -ENOMEM;
    d->tmp = t;
    d->tmp_cap = n;
    return 0;
}

/* Write b[0..n) as a standard base64 string (with padding). */
static int write_base64(dec_t *d, jsonw_t *w, const uint8_t *b, size_t n)
{
    if (n > SIZE_MAX / 2 || tmp_reserve(d, base64_encoded_len(n) + 1)) return -ENOMEM;
    base64_encode(b, n, d->tmp);
    jsonw_string(w, d->tmp, base64_encoded_len(n));
    return 0;
}

/* Decode base64 (standard or URL-safe alphabet, padding optional, as protojson
 * accepts) into d->tmp; *out_len bytes. -EINVAL when it is not. */
static int decode_base64(dec_t *d, const char *s, size_t n, size_t *out_len)
{
    if (tmp_reserve(d, base64_decoded_max(n))) return -ENOMEM;
    long rc = base64_decode(s, n, (uint8_t *)d->tmp, d->tmp_cap);
    if (rc < 0) return -EINVAL;
    *out_len = (size_t)rc;
    return 0;
}

/* ---- the record writer, shared by both encodings ---------------------------- */

typedef struct enc_ops {
    /* One AnyValue (NULL: absent -> null) as a JSON value. 0 or a request error. */
    int (*value)(dec_t *d, jsonw_t *w, const void *v, unsigned depth);
    /* KeyValues items[0..n) as one JSON object. */
    int (*object)(dec_t *d, jsonw_t *w, const void *items, size_t n, unsigned depth);
    /* Is v a string value? Then its bytes. */
    bool (*string_of)(const void *v, const char **s, size_t *len);
} enc_ops_t;

typedef struct kv_list {
    const void *items;
    size_t n;
} kv_list_t;

/* What a ResourceLogs and ScopeLogs give each of their records. */
typedef struct ctx_view {
    const char *service; /* resource attribute service.name (a string), or NULL */
    size_t service_len;
    kv_list_t res_attrs;
    uint32_t res_dropped;
    bool has_scope;
    const char *scope_name, *scope_version;
    size_t scope_name_len, scope_version_len;
    kv_list_t scope_attrs;
    uint32_t scope_dropped;
} ctx_view_t;

typedef struct rec_view {
    uint64_t time_ns, observed_ns;
    int64_t severity_number;
    const char *severity_text;
    size_t severity_text_len;
    const void *body; /* NULL: none */
    kv_list_t attrs;
    uint32_t dropped, flags;
    uint8_t trace_id[TRACE_ID_BYTES], span_id[SPAN_ID_BYTES];
    size_t trace_len, span_len;
    const char *event_name;
    size_t event_name_len;
} rec_view_t;

/* A time in nanoseconds that jsonw_time_ns can write (after 2262 it cannot). */
static bool time_ok(uint64_t ns)
{
    return ns && ns <= INT64_MAX;
}

/* RFC 3339 under `key`; a time past 2262 goes under `raw_key` as a decimal
 * string instead (never a number over int64, which many JSON readers refuse). */
static void write_time(jsonw_t *w, const char *key, const char *raw_key, uint64_t ns)
{
    if (time_ok(ns)) {
        jsonw_keyz(w, key);
        jsonw_time_ns(w, (int64_t)ns, 9);
    } else if (ns) {
        char digits[24];
        int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)ns);
        jsonw_keyz(w, raw_key);
        jsonw_string(w, digits, (size_t)n);
    }
}

static void write_level(jsonw_t *w, const rec_view_t *r)
{
    const char *lvl = level_from_otel(
        (int)(r->severity_number > 0 && r->severity_number <= 24 ? r->severity_number : 0));
    if (!lvl && r->severity_text_len) lvl = level_from_text(r->severity_text, r->severity_text_len);
    if (lvl) {
        jsonw_keyz(w, "level");
        jsonw_stringz(w, lvl);
    } else if (r->severity_text_len) { /* a text we do not know: kept as it came */
        jsonw_keyz(w, "level");
        jsonw_string(w, r->severity_text, r->severity_text_len);
    }
}

/* "message": a string body as it is; any other body as its JSON text. */
static int write_message(dec_t *d, const enc_ops_t *ops, const rec_view_t *r)
{
    jsonw_t *w = &d->out;
    const char *s;
    size_t n;
    if (!r->body) return 0;
    d->field = "body";
    jsonw_keyz(w, "message");
    if (ops->string_of(r->body, &s, &n)) {
        jsonw_string(w, s, n);
        return 0;
    }
    jsonw_reset(&d->scratch);
    d->scratch.max = d->lim->max_record_bytes;
    int rc = ops->value(d, &d->scratch, r->body, 1);
    if (rc) return rc;
    if (jsonw_error(&d->scratch) == -ENOMEM) return -ENOMEM;
    if (jsonw_error(&d->scratch)) { /* too big for any record: reject the record */
        jsonw_string(w, "", 0);
        w->err = -E2BIG;
        return 0;
    }
    jsonw_string(w, d->scratch.buf ? d->scratch.buf : "", d->scratch.len);
    return 0;
}

static int write_scope(dec_t *d, const enc_ops_t *ops, const ctx_view_t *c)
{
    jsonw_t *w = &d->out;
    if (!c->has_scope ||
        (!c->scope_name_len && !c->scope_version_len && !c->scope_attrs.n && !c->scope_dropped))
        return 0;
    jsonw_keyz(w, "scope");
    obj_begin(d, w);
    if (c->scope_name_len) {
        jsonw_keyz(w, "name");
        jsonw_string(w, c->scope_name, c->scope_name_len);
    }
    if (c->scope_version_len) {
        jsonw_keyz(w, "version");
        jsonw_string(w, c->scope_version, c->scope_version_len);
    }
    if (c->scope_attrs.n) {
        d->field = "scope.attributes";
        jsonw_keyz(w, "attributes");
        int rc = ops->object(d, w, c->scope_attrs.items, c->scope_attrs.n, 1);
        if (rc) return rc;
    }
    if (c->scope_dropped) {
        jsonw_keyz(w, "dropped_attributes_count");
        jsonw_uint(w, c->scope_dropped);
    }
    jsonw_object_end(w);
    return 0;
}

static int write_metadata(dec_t *d, const enc_ops_t *ops, const ctx_view_t *c, const rec_view_t *r)
{
    jsonw_t *w = &d->out;
    int rc;
    jsonw_keyz(w, "metadata");
    obj_begin(d, w);
    if (r->attrs.n) {
        d->field = "attributes";
        jsonw_keyz(w, "attributes");
        if ((rc = ops->object(d, w, r->attrs.items, r->attrs.n, 1))) return rc;
    }
    if (c->res_attrs.n) {
        d->field = "resource.attributes";
        jsonw_keyz(w, "resource");
        if ((rc = ops->object(d, w, c->res_attrs.items, c->res_attrs.n, 1))) return rc;
    }
    if (c->res_dropped) {
        jsonw_keyz(w, "resource_dropped_attributes_count");
        jsonw_uint(w, c->res_dropped);
    }
    if ((rc = write_scope(d, ops, c))) return rc;
    if (r->trace_len) {
        jsonw_keyz(w, "trace_id");
        jsonw_hex(w, r->trace_id, r->trace_len);
    }
    if (r->span_len) {
        jsonw_keyz(w, "span_id");
        jsonw_hex(w, r->span_id, r->span_len);
    }
    if (r->flags) {
        jsonw_keyz(w, "flags");
        jsonw_uint(w, r->flags);
    }
    if (r->dropped) {
        jsonw_keyz(w, "dropped_attributes_count");
        jsonw_uint(w, r->dropped);
    }
    if (r->severity_text_len) {
        jsonw_keyz(w, "severity_text");
        jsonw_string(w, r->severity_text, r->severity_text_len);
    }
    if (r->severity_number) {
        jsonw_keyz(w, "severity_number");
        jsonw_int(w, r->severity_number);
    }
    if (r->event_name_len) {
        jsonw_keyz(w, "event_name");
        jsonw_string(w, r->event_name, r->event_name_len);
    }
    if (!time_ok(r->time_ns)) write_time(w, "time_unix_nano", "time_unix_nano", r->time_ns);
    write_time(w, "observed_timestamp", "observed_time_unix_nano", r->observed_ns);
    jsonw_object_end(w);
    return 0;
}

/* One LogRecord -> one NDJSON line, or left out alone (too big, too deep).
 * 0, or a request error (the caller drops everything). */
static int write_record(dec_t *d, const enc_ops_t *ops, const ctx_view_t *c, const rec_view_t *r)
{
    jsonw_t *w = &d->out;
    size_t mark = jsonw_len(w), max = d->lim->max_record_bytes;
    w->max = mark + max + 1; /* the record and its newline */
    d->too_deep = false;
    obj_begin(d, w);
    uint64_t t = time_ok(r->time_ns) ? r->time_ns : r->observed_ns;
    if (time_ok(t)) write_time(w, "timestamp", NULL, t);
    write_level(w, r);
    if (c->service) {
        jsonw_keyz(w, "source");
        jsonw_string(w, c->service, c->service_len);
    }
    jsonw_keyz(w, "type");
    jsonw_stringz(w, "otlp");
    int rc = write_message(d, ops, r);
    if (!rc) rc = write_metadata(d, ops, c, r);
    d->field = NULL;
    if (rc) return rc;
    jsonw_object_end(w);
    if (jsonw_error(w) == -ENOMEM) return fail(d, -ENOMEM, "out of memory");
    bool big = jsonw_error(w) || jsonw_len(w) - mark > max;
    if (big || d->too_deep) {
        jsonw_truncate(w, mark);
        if (!d->res->rejected++)
            fail(d, 0,
                 big ? "record larger than max-record-bytes (%zu)"
                     : "record nests deeper than max-depth (%u)",
                 big ? max : (size_t)d->lim->max_depth);
        return 0;
    }
    jsonw_newline(w);
    d->res->records++;
    return 0;
}

/* Count a LogRecord against lim->max_records. */
static int count_record(dec_t *d)
{
    if (++d->seen > d->lim->max_records)
        return fail(d, -E2BIG, "more than %zu log records in one request", d->lim->max_records);
    return 0;
}

/* ---- protobuf: the bounded wire walk ----------------------------------------- */

typedef enum {
    M_NONE,
    M_STR,
    M_REQ,
    M_RLOGS,
    M_RES,
    M_SLOGS,
    M_SCOPE,
    M_REC,
    M_KV,
    M_ANY,
    M_ARR,
    M_KVL
} pbm_t;

/* What field `f` of message `m` holds, when it is length-delimited. */
static pbm_t pb_child(pbm_t m, uint64_t f)
{
    switch (m) {
    case M_REQ:
        return f == 1 ? M_RLOGS : M_NONE;
    case M_RLOGS:
        return f == 1 ? M_RES : f == 2 ? M_SLOGS : f == 3 ? M_STR : M_NONE;
    case M_RES:
        return f == 1 ? M_KV : M_NONE;
    case M_SLOGS:
        return f == 1 ? M_SCOPE : f == 2 ? M_REC : f == 3 ? M_STR : M_NONE;
    case M_SCOPE:
        return f == 1 || f == 2 ? M_STR : f == 3 ? M_KV : M_NONE;
    case M_REC:
        return f == 5 ? M_ANY : f == 6 ? M_KV : f == 3 || f == 12 ? M_STR : M_NONE;
    case M_KV:
        return f == 1 ? M_STR : f == 2 ? M_ANY : M_NONE;
    case M_ANY:
        return f == 5 ? M_ARR : f == 6 ? M_KVL : f == 1 ? M_STR : M_NONE;
    case M_ARR:
        return f == 1 ? M_ANY : M_NONE;
    case M_KVL:
        return f == 1 ? M_KV : M_NONE;
    default:
        return M_NONE;
    }
}

typedef struct pb_walk {
    const uint8_t *base;
    size_t nodes;
} pb_walk_t;

static bool pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned s = 0; s < 64 && *p < end; s += 7) {
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* Walk message `m` in [p, end): wire format, nesting, counts, no NUL in strings. */
static int pb_walk(dec_t *d, pb_walk_t *k, const uint8_t *p, const uint8_t *end, pbm_t m,
                   unsigned values)
{
    while (p < end) {
        size_t at = (size_t)(p - k->base);
        uint64_t tag, n;
        if (!pb_varint(&p, end, &tag) || tag >> 3 == 0 || tag >> 3 > 536870911)
            return fail(d, -EINVAL, "protobuf: bad field tag at byte %zu", at);
        switch (tag & 7) {
        case 0:
            if (!pb_varint(&p, end, &n))
                return fail(d, -EINVAL, "protobuf: bad varint at byte %zu", at);
            break;
        case 1:
        case 5: {
            size_t w = (tag & 7) == 1 ? 8 : 4;
            if ((size_t)(end - p) < w)
                return fail(d, -EINVAL, "protobuf: truncated field at byte %zu", at);
            p += w;
            break;
        }
        case 2: {
            if (!pb_varint(&p, end, &n) || n > (uint64_t)(end - p))
                return fail(d, -EINVAL, "protobuf: bad length at byte %zu", at);
            pbm_t c = pb_child(m, tag >> 3);
            if (c == M_STR && memchr(p, 0, (size_t)n))
                return fail(d, -EINVAL, "protobuf: a string holds a NUL byte at byte %zu", at);
            if (c > M_STR) {
                unsigned nv = values + (c == M_ANY);
                if (nv > OTLP_MAX_VALUE_DEPTH)
                    return fail(d, -EINVAL, "protobuf: AnyValue nested deeper than %d at byte %zu",
                                OTLP_MAX_VALUE_DEPTH, at);
                if (++k->nodes > OTLP_MAX_NODES)
                    return fail(d, -E2BIG, "protobuf: more than %d messages in one request",
                                OTLP_MAX_NODES);
                if (c == M_REC && count_record(d)) return -E2BIG;
                int rc = pb_walk(d, k, p, p + n, c, nv);
                if (rc) return rc;
            }
            p += n;
            break;
        }
        default:
            return fail(d, -EINVAL, "protobuf: unsupported wire type %u at byte %zu",
                        (unsigned)(tag & 7), at);
        }
    }
    return 0;
}

/* ---- protobuf: writing the unpacked tree ---------------------------------- */

static int pb_value(dec_t *d, jsonw_t *w, const void *pv, unsigned depth);

static int pb_object(dec_t *d, jsonw_t *w, const void *items, size_t n, unsigned depth)
{
    pb_kv_t *const *kv = items;
    obj_begin(d, w);
    for (size_t i = 0; i < n; i++) {
        jsonw_keyz(w, kv[i]->key ? kv[i]->key : "");
        int rc = pb_value(d, w, kv[i]->value, depth);
        if (rc) return rc;
    }
    jsonw_object_end(w);
    return 0;
}

static int pb_value(dec_t *d, jsonw_t *w, const void *pv, unsigned depth)
{
    const pb_any_t *v = pv;
    if (!v) {
        jsonw_null(w);
        return 0;
    }
    if (depth > OTLP_MAX_VALUE_DEPTH) /* the walk refused it already */
        return fail(d, -EINVAL, "AnyValue nested deeper than %d", OTLP_MAX_VALUE_DEPTH);
    switch (v->value_case) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
        jsonw_stringz(w, v->string_value);
        return 0;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
        jsonw_bool(w, v->bool_value);
        return 0;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
        jsonw_int(w, v->int_value);
        return 0;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
        jsonw_double(w, v->double_value);
        return 0;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
        arr_begin(d, w);
        for (size_t i = 0; v->array_value && i < v->array_value->n_values; i++) {
            int rc = pb_value(d, w, v->array_value->values[i], depth + 1);
            if (rc) return rc;
        }
        jsonw_array_end(w);
        return 0;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE:
        return pb_object(d, w, v->kvlist_value ? (const void *)v->kvlist_value->values : NULL,
                         v->kvlist_value ? v->kvlist_value->n_values : 0, depth + 1);
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE:
        return write_base64(d, w, v->bytes_value.data, v->bytes_value.len);
    default:
        jsonw_null(w);
        return 0;
    }
}

static bool pb_string_of(const void *pv, const char **s, size_t *len)
{
    const pb_any_t *v = pv;
    if (!v || v->value_case != OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
        return false;
    *s = v->string_value;
    *len = strlen(v->string_value);
    return true;
}

static const enc_ops_t PB_OPS = {pb_value, pb_object, pb_string_of};

static size_t zlen(const char *s)
{
    return s ? strlen(s) : 0;
}

static void pb_ctx(const pb_rlogs_t *rl, ctx_view_t *c)
{
    memset(c, 0, sizeof *c);
    if (rl->resource) {
        c->res_attrs = (kv_list_t){rl->resource->attributes, rl->resource->n_attributes};
        c->res_dropped = rl->resource->dropped_attributes_count;
        for (size_t i = 0; i < rl->resource->n_attributes; i++) {
            const pb_kv_t *kv = rl->resource->attributes[i];
            const char *s;
            size_t n;
            if (kv->key && !strcmp(kv->key, "service.name") && pb_string_of(kv->value, &s, &n)) {
                c->service = s;
                c->service_len = n;
            }
        }
    }
}

static void pb_scope(const pb_slogs_t *sl, ctx_view_t *c)
{
    c->has_scope = sl->scope != NULL;
    if (!sl->scope) return;
    c->scope_name = sl->scope->name;
    c->scope_name_len = zlen(sl->scope->name);
    c->scope_version = sl->scope->version;
    c->scope_version_len = zlen(sl->scope->version);
    c->scope_attrs = (kv_list_t){sl->scope->attributes, sl->scope->n_attributes};
    c->scope_dropped = sl->scope->dropped_attributes_count;
}

static int pb_record(dec_t *d, const ctx_view_t *c, const pb_rec_t *lr)
{
    rec_view_t r = {.time_ns = lr->time_unix_nano,
                    .observed_ns = lr->observed_time_unix_nano,
                    .severity_number = (int64_t)lr->severity_number,
                    .severity_text = lr->severity_text,
                    .severity_text_len = zlen(lr->severity_text),
                    .body = lr->body,
                    .attrs = {lr->attributes, lr->n_attributes},
                    .dropped = lr->dropped_attributes_count,
                    .flags = lr->flags,
                    .event_name = lr->event_name,
                    .event_name_len = zlen(lr->event_name)};
    if (lr->trace_id.len && lr->trace_id.len != TRACE_ID_BYTES) {
        d->field = "traceId";
        return fail(d, -EINVAL, "%zu bytes, not %d", lr->trace_id.len, TRACE_ID_BYTES);
    }
    if (lr->span_id.len && lr->span_id.len != SPAN_ID_BYTES) {
        d->field = "spanId";
        return fail(d, -EINVAL, "%zu bytes, not %d", lr->span_id.len, SPAN_ID_BYTES);
    }
    if ((r.trace_len = lr->trace_id.len)) memcpy(r.trace_id, lr->trace_id.data, r.trace_len);
    if ((r.span_len = lr->span_id.len)) memcpy(r.span_id, lr->span_id.data, r.span_len);
    return write_record(d, &PB_OPS, c, &r);
}

/* protobuf-c's allocations for one request come from a bump arena (freed whole
 * at the end): the unpacked tree is many small objects, and malloc/free of each
 * was a fifth of the CPU of a protobuf request. Bounded like the tree itself
 * (the walk bounds the messages; strings and bytes are bounded by the body). */
#define ARENA_CHUNK 65536

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
} arena_chunk_t;

static void *arena_alloc(void *ctx, size_t n)
{
    arena_chunk_t **head = ctx, *c = *head;
    size_t need = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (need < n) return NULL;
    if (!c || c->cap - c->used < need) {
        size_t cap = need > ARENA_CHUNK ? need : ARENA_CHUNK;
        if (cap > SIZE_MAX - sizeof *c) return NULL;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = *head;
        c->used = 0;
        c->cap = cap;
        *head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += need;
    return p;
}

static void arena_free(void *ctx, void *p)
{
    (void)ctx;
    (void)p; /* everything goes at once (arena_release) */
}

static void arena_release(arena_chunk_t *c)
{
    while (c) {
        arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
}

static int decode_protobuf(dec_t *d, const uint8_t *body, size_t len)
{
    pb_walk_t k = {body, 0};
    int rc = pb_walk(d, &k, body, body + len, M_REQ, 0);
    if (rc) return rc;
    arena_chunk_t *chunks = NULL;
    ProtobufCAllocator alloc = {arena_alloc, arena_free, &chunks};
    pb_req_t *req = opentelemetry__proto__collector__logs__v1__export_logs_service_request__unpack(
        &alloc, len, body);
    if (!req) {
        arena_release(chunks);
        return fail(d, -EINVAL,
                    "protobuf: not a valid ExportLogsServiceRequest (a field of the "
                    "wrong wire type, or out of memory)");
    }
    for (size_t i = 0; !rc && i < req->n_resource_logs; i++) {
        const pb_rlogs_t *rl = req->resource_logs[i];
        ctx_view_t c;
        d->ri = (long)i;
        pb_ctx(rl, &c);
        for (size_t j = 0; !rc && j < rl->n_scope_logs; j++) {
            const pb_slogs_t *sl = rl->scope_logs[j];
            d->si = (long)j;
            pb_scope(sl, &c);
            for (size_t l = 0; !rc && l < sl->n_log_records; l++) {
                d->li = (long)l;
                rc = pb_record(d, &c, sl->log_records[l]);
            }
            d->li = -1;
        }
        d->si = -1;
    }
    arena_release(chunks); /* the whole tree */
    return rc;
}

/* ---- JSON ------------------------------------------------------------------- */

/* A member by its lowerCamelCase name, or by its snake_case one. */
static json_t *jget(const json_t *o, const char *camel, const char *snake)
{
    json_t *v = json_object_get(o, camel);
    return v || !snake ? v : json_object_get(o, snake);
}

/* Values in a JSON text, roughly (openers and commas outside strings): bounds
 * what jansson would allocate before it runs. */
static size_t json_values_estimate(const char *p, size_t n)
{
    size_t count = 1;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[' || c == ',') {
            count++;
        }
    }
    return count;
}

/* A uint64 as OTLP/JSON allows: a number, or a decimal string. */
static int json_u64(dec_t *d, const json_t *v, const char *field, uint64_t *out)
{
    d->field = field;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v);
        if (x >= 0 && x < 18446744073709551616.0 && x == floor(x)) {
            *out = (uint64_t)x;
            return 0;
        }
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        uint64_t x = 0;
        bool ok = n > 0 && n <= 20;
        for (size_t i = 0; ok && i < n; i++) {
            unsigned dg = (unsigned)(s[i] - '0');
            ok = dg <= 9 && x <= (UINT64_MAX - dg) / 10;
            x = x * 10 + dg;
        }
        if (ok) {
            *out = x;
            return 0;
        }
    }
    return fail(d, -EINVAL, "not an unsigned 64-bit integer (a number or a decimal string)");
}

static int json_i64(dec_t *d, const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v);
        if (x >= -9223372036854775808.0 && x < 9223372036854775808.0 && x == floor(x)) {
            *out = (int64_t)x;
            return 0;
        }
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v), i = s[0] == '-';
        uint64_t x = 0, lim = i ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        bool ok = n > i && n - i <= 19;
        for (; ok && i < n; i++) {
            unsigned dg = (unsigned)(s[i] - '0');
            ok = dg <= 9 && x <= (lim - dg) / 10;
            x = x * 10 + dg;
        }
        if (ok) {
            *out = s[0] == '-' ? (int64_t)(0 - x) : (int64_t)x;
            return 0;
        }
    }
    return fail(d, -EINVAL, "not a 64-bit integer (a number or a decimal string)");
}

static int json_u32(dec_t *d, const json_t *v, const char *field, uint32_t *out)
{
    uint64_t x = 0;
    if (!v) {
        *out = 0;
        return 0;
    }
    int rc = json_u64(d, v, field, &x);
    if (rc) return rc;
    if (x > UINT32_MAX) return fail(d, -EINVAL, "larger than a 32-bit unsigned integer");
    *out = (uint32_t)x;
    return 0;
}

/* A string member (absent: empty). */
static int json_str(dec_t *d, const json_t *o, const char *camel, const char *snake, const char **s,
                    size_t *n)
{
    const json_t *v = jget(o, camel, snake);
    *s = "";
    *n = 0;
    if (!v || json_is_null(v)) return 0;
    d->field = camel;
    if (!json_is_string(v)) return fail(d, -EINVAL, "not a string");
    *s = json_string_value(v);
    *n = json_string_length(v);
    return 0;
}

/* An array member (absent or null: NULL). */
static int json_arr(dec_t *d, const json_t *o, const char *camel, const char *snake,
                    const json_t **out)
{
    const json_t *v = jget(o, camel, snake);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_array(v)) {
        d->field = camel;
        return fail(d, -EINVAL, "not an array");
    }
    *out = v;
    return 0;
}

static int js_value(dec_t *d, jsonw_t *w, const void *pv, unsigned depth);

static int js_object(dec_t *d, jsonw_t *w, const void *items, size_t n, unsigned depth)
{
    const json_t *arr = items;
    obj_begin(d, w);
    for (size_t i = 0; i < n; i++) {
        const json_t *kv = json_array_get(arr, i);
        if (!json_is_object(kv)) return fail(d, -EINVAL, "a KeyValue is not an object");
        const json_t *k = json_object_get(kv, "key");
        if (k && !json_is_string(k)) return fail(d, -EINVAL, "a KeyValue's key is not a string");
        if (k)
            jsonw_key(w, json_string_value(k), json_string_length(k));
        else
            jsonw_key(w, "", 0);
        int rc = js_value(d, w, json_object_get(kv, "value"), depth);
        if (rc) return rc;
    }
    jsonw_object_end(w);
    return 0;
}

/* The "values" array of an arrayValue / kvlistValue object. */
static int js_values(dec_t *d, const json_t *v, const json_t **arr)
{
    *arr = NULL;
    if (json_is_null(v)) return 0;
    if (!json_is_object(v)) return fail(d, -EINVAL, "an arrayValue/kvlistValue is not an object");
    const json_t *a = json_object_get(v, "values");
    if (a && !json_is_null(a) && !json_is_array(a))
        return fail(d, -EINVAL, "\"values\" is not an array");
    *arr = json_is_array(a) ? a : NULL;
    return 0;
}

static int js_double(dec_t *d, jsonw_t *w, const json_t *x)
{
    if (json_is_number(x)) {
        jsonw_double(w, json_number_value(x));
        return 0;
    }
    const char *s = json_string_value(x);
    if (s && (!strcmp(s, "NaN") || !strcmp(s, "Infinity") || !strcmp(s, "-Infinity"))) {
        jsonw_null(w); /* JSON has no non-finite numbers */
        return 0;
    }
    return fail(d, -EINVAL, "doubleValue is not a number");
}

static int js_bytes(dec_t *d, jsonw_t *w, const json_t *x)
{
    size_t n;
    if (!json_is_string(x)) return fail(d, -EINVAL, "bytesValue is not a base64 string");
    int rc = decode_base64(d, json_string_value(x), json_string_length(x), &n);
    if (rc == -ENOMEM) return fail(d, -ENOMEM, "out of memory");
    if (rc) return fail(d, -EINVAL, "bytesValue is not base64");
    /* re-encoded in the standard alphabet with padding, as protobuf bytes are */
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) return fail(d, -ENOMEM, "out of memory");
    memcpy(copy, d->tmp, n);
    rc = write_base64(d, w, copy, n);
    free(copy);
    return rc ? fail(d, rc, "out of memory") : 0;
}

static int js_value(dec_t *d, jsonw_t *w, const void *pv, unsigned depth)
{
    const json_t *v = pv, *x, *arr;
    int64_t i = 0;
    int rc;
    if (!v || json_is_null(v)) {
        jsonw_null(w);
        return 0;
    }
    if (!json_is_object(v)) return fail(d, -EINVAL, "an AnyValue is not an object");
    if (depth > OTLP_MAX_VALUE_DEPTH)
        return fail(d, -EINVAL, "AnyValue nested deeper than %d", OTLP_MAX_VALUE_DEPTH);
    if ((x = jget(v, "stringValue", "string_value"))) {
        if (!json_is_string(x)) return fail(d, -EINVAL, "stringValue is not a string");
        jsonw_string(w, json_string_value(x), json_string_length(x));
    } else if ((x = jget(v, "boolValue", "bool_value"))) {
        if (!json_is_boolean(x)) return fail(d, -EINVAL, "boolValue is not a boolean");
        jsonw_bool(w, json_is_true(x));
    } else if ((x = jget(v, "intValue", "int_value"))) {
        if ((rc = json_i64(d, x, &i))) return rc;
        jsonw_int(w, i);
    } else if ((x = jget(v, "doubleValue", "double_value"))) {
        return js_double(d, w, x);
    } else if ((x = jget(v, "arrayValue", "array_value"))) {
        if ((rc = js_values(d, x, &arr))) return rc;
        arr_begin(d, w);
        for (size_t k = 0; k < json_array_size(arr); k++)
            if ((rc = js_value(d, w, json_array_get(arr, k), depth + 1))) return rc;
        jsonw_array_end(w);
    } else if ((x = jget(v, "kvlistValue", "kvlist_value"))) {
        if ((rc = js_values(d, x, &arr))) return rc;
        return js_object(d, w, arr, json_array_size(arr), depth + 1);
    } else if ((x = jget(v, "bytesValue", "bytes_value"))) {
        return js_bytes(d, w, x);
    } else {
        jsonw_null(w); /* an empty AnyValue */
    }
    return 0;
}

static bool js_string_of(const void *pv, const char **s, size_t *len)
{
    const json_t *v = pv, *x;
    if (!json_is_object(v) || !(x = jget(v, "stringValue", "string_value")) || !json_is_string(x))
        return false;
    *s = json_string_value(x);
    *len = json_string_length(x);
    return true;
}

static const enc_ops_t JS_OPS = {js_value, js_object, js_string_of};

/* A trace or span id: "" or 2*want hex digits. */
static int js_id(dec_t *d, const json_t *lr, const char *camel, const char *snake, uint8_t *out,
                 size_t want, size_t *got)
{
    const char *s;
    size_t n;
    int rc = json_str(d, lr, camel, snake, &s, &n);
    *got = 0;
    if (rc || !n) return rc;
    d->field = camel;
    if (n != 2 * want) return fail(d, -EINVAL, "not %zu hex digits", 2 * want);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (v < 0) return fail(d, -EINVAL, "not %zu hex digits", 2 * want);
        out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
    }
    *got = want;
    return 0;
}

/* severityNumber: an integer, or the enum's name ("SEVERITY_NUMBER_WARN2"). */
static int js_severity(dec_t *d, const json_t *v, int64_t *out)
{
    static const char *const base[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
    static const char prefix[] = "SEVERITY_NUMBER_";
    *out = 0;
    if (!v || json_is_null(v)) return 0;
    d->field = "severityNumber";
    if (!json_is_string(v)) return json_i64(d, v, out);
    const char *s = json_string_value(v);
    if (strncmp(s, prefix, sizeof prefix - 1) != 0) return json_i64(d, v, out);
    s += sizeof prefix - 1;
    if (!strcmp(s, "UNSPECIFIED")) return 0;
    for (int b = 0; b < 6; b++) {
        size_t n = strlen(base[b]);
        if (strncmp(s, base[b], n) != 0) continue;
        if (!s[n])
            *out = 4 * b + 1;
        else if (s[n] >= '2' && s[n] <= '4' && !s[n + 1])
            *out = 4 * b + (s[n] - '0');
        else
            continue;
        return 0;
    }
    return fail(d, -EINVAL, "not a SeverityNumber");
}

static int js_record(dec_t *d, const ctx_view_t *c, const json_t *lr)
{
    rec_view_t r = {0};
    const json_t *attrs;
    int rc;
    if (!json_is_object(lr)) return fail(d, -EINVAL, "not an object");
    const json_t *t = jget(lr, "timeUnixNano", "time_unix_nano");
    const json_t *o = jget(lr, "observedTimeUnixNano", "observed_time_unix_nano");
    if (t && !json_is_null(t) && (rc = json_u64(d, t, "timeUnixNano", &r.time_ns))) return rc;
    if (o && !json_is_null(o) && (rc = json_u64(d, o, "observedTimeUnixNano", &r.observed_ns)))
        return rc;
    if ((rc = js_severity(d, jget(lr, "severityNumber", "severity_number"), &r.severity_number)) ||
        (rc = json_str(d, lr, "severityText", "severity_text", &r.severity_text,
                       &r.severity_text_len)) ||
        (rc = json_str(d, lr, "eventName", "event_name", &r.event_name, &r.event_name_len)) ||
        (rc = json_arr(d, lr, "attributes", NULL, &attrs)) ||
        (rc = json_u32(d, jget(lr, "droppedAttributesCount", "dropped_attributes_count"),
                       "droppedAttributesCount", &r.dropped)) ||
        (rc = json_u32(d, jget(lr, "flags", NULL), "flags", &r.flags)) ||
        (rc = js_id(d, lr, "traceId", "trace_id", r.trace_id, TRACE_ID_BYTES, &r.trace_len)) ||
        (rc = js_id(d, lr, "spanId", "span_id", r.span_id, SPAN_ID_BYTES, &r.span_len)))
        return rc;
    r.attrs = (kv_list_t){attrs, json_array_size(attrs)};
    const json_t *body = jget(lr, "body", NULL);
    r.body = body && !json_is_null(body) ? body : NULL;
    d->field = NULL;
    return write_record(d, &JS_OPS, c, &r);
}

static int js_ctx(dec_t *d, const json_t *rl, ctx_view_t *c)
{
    memset(c, 0, sizeof *c);
    const json_t *res = jget(rl, "resource", NULL), *attrs;
    int rc;
    if (!res || json_is_null(res)) return 0;
    d->field = "resource";
    if (!json_is_object(res)) return fail(d, -EINVAL, "not an object");
    if ((rc = json_arr(d, res, "attributes", NULL, &attrs)) ||
        (rc = json_u32(d, jget(res, "droppedAttributesCount", "dropped_attributes_count"),
                       "resource.droppedAttributesCount", &c->res_dropped)))
        return rc;
    c->res_attrs = (kv_list_t){attrs, json_array_size(attrs)};
    for (size_t i = 0; i < c->res_attrs.n; i++) {
        const json_t *kv = json_array_get(attrs, i), *k = json_object_get(kv, "key");
        if (json_is_string(k) && !strcmp(json_string_value(k), "service.name"))
            js_string_of(json_object_get(kv, "value"), &c->service, &c->service_len);
    }
    return 0;
}

static int js_scope(dec_t *d, const json_t *sl, ctx_view_t *c)
{
    const json_t *sc = jget(sl, "scope", NULL), *attrs;
    int rc;
    c->has_scope = sc && !json_is_null(sc);
    c->scope_name_len = c->scope_version_len = c->scope_attrs.n = 0;
    c->scope_dropped = 0;
    if (!c->has_scope) return 0;
    d->field = "scope";
    if (!json_is_object(sc)) return fail(d, -EINVAL, "not an object");
    if ((rc = json_str(d, sc, "name", NULL, &c->scope_name, &c->scope_name_len)) ||
        (rc = json_str(d, sc, "version", NULL, &c->scope_version, &c->scope_version_len)) ||
        (rc = json_arr(d, sc, "attributes", NULL, &attrs)) ||
        (rc = json_u32(d, jget(sc, "droppedAttributesCount", "dropped_attributes_count"),
                       "scope.droppedAttributesCount", &c->scope_dropped)))
        return rc;
    c->scope_attrs = (kv_list_t){attrs, json_array_size(attrs)};
    return 0;
}

static int js_scope_logs(dec_t *d, const json_t *sl, ctx_view_t *c)
{
    const json_t *recs;
    int rc;
    if (!json_is_object(sl)) return fail(d, -EINVAL, "not an object");
    if ((rc = js_scope(d, sl, c)) || (rc = json_arr(d, sl, "logRecords", "log_records", &recs)))
        return rc;
    for (size_t l = 0; l < json_array_size(recs); l++) {
        d->li = (long)l;
        if ((rc = count_record(d)) || (rc = js_record(d, c, json_array_get(recs, l)))) return rc;
    }
    d->li = -1;
    return 0;
}

static int decode_json(dec_t *d, const char *body, size_t len)
{
    if (json_values_estimate(body, len) > 4 * (size_t)OTLP_MAX_NODES)
        return fail(d, -E2BIG, "more than %d JSON values in one request", 4 * OTLP_MAX_NODES);
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, &je);
    if (!root)
        return fail(d, -EINVAL, "JSON: %s at line %d column %d (byte %d)", je.text, je.line,
                    je.column, je.position);
    int rc = 0;
    const json_t *rls = NULL;
    if (!json_is_object(root))
        rc = fail(d, -EINVAL, "not an ExportLogsServiceRequest object");
    else
        rc = json_arr(d, root, "resourceLogs", "resource_logs", &rls);
    for (size_t i = 0; !rc && i < json_array_size(rls); i++) {
        const json_t *rl = json_array_get(rls, i), *sls;
        ctx_view_t c;
        d->ri = (long)i;
        if (!json_is_object(rl)) {
            rc = fail(d, -EINVAL, "not an object");
            break;
        }
        if ((rc = js_ctx(d, rl, &c)) || (rc = json_arr(d, rl, "scopeLogs", "scope_logs", &sls)))
            break;
        for (size_t j = 0; !rc && j < json_array_size(sls); j++) {
            d->si = (long)j;
            rc = js_scope_logs(d, json_array_get(sls, j), &c);
        }
        d->si = -1;
    }
    json_decref(root);
    return rc;
}

/* ---- entry point ------------------------------------------------------------ */

int otlp_decode(const void *body, size_t len, otlp_encoding_t enc, const otlp_limits_t *lim,
                otlp_result_t *out)
{
    memset(out, 0, sizeof *out);
    dec_t d = {.lim = lim, .res = out, .ri = -1, .si = -1, .li = -1};
    jsonw_init(&d.out, lim->max_record_bytes + 1);
    jsonw_init(&d.scratch, lim->max_record_bytes);
    if (!body) body = "";
    int rc = enc == OTLP_ENC_PROTOBUF ? decode_protobuf(&d, body, len) : decode_json(&d, body, len);
    char first_reject[OTLP_ERROR_MAX];
    memcpy(first_reject, out->error, sizeof first_reject);
    if (!rc && out->records) {
        out->ndjson = jsonw_take(&d.out, &out->len);
        if (!out->ndjson) rc = fail(&d, -ENOMEM, "out of memory");
    }
    if (rc) {
        free(out->ndjson);
        out->ndjson = NULL;
        out->len = out->records = out->rejected = 0;
    } else {
        memcpy(out->error, first_reject, sizeof out->error);
    }
    jsonw_free(&d.out);
    jsonw_free(&d.scratch);
    free(d.tmp);
    return rc;
}

void otlp_result_free(otlp_result_t *out)
{
    if (!out) return;
    free(out->ndjson);
    out->ndjson = NULL;
}
