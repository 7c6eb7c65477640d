/*
 * etcd_proto.c - see etcd_proto.h. Request bodies are built with jansson (so
 * every string is escaped); responses are parsed with jansson under a size
 * cap, with int64 strings and base64 keys and values checked strictly.
 */
#include "cluster/etcd_proto.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"

static void seterr(char *err, size_t errlen, const char *fmt, const char *what)
{
    if (err && errlen) snprintf(err, errlen, fmt, what);
}

/* ---- building ---- */

/* base64 of data[0..n) as a new JSON string (NULL on ENOMEM). */
static json_t *b64_json(const char *data, size_t n)
{
    size_t m = base64_encoded_len(n);
    char *tmp = malloc(m + 1);
    if (!tmp) return NULL;
    base64_encode((const uint8_t *)data, n, tmp);
    tmp[m] = 0;
    json_t *s = json_stringn(tmp, m);
    free(tmp);
    return s;
}

static json_t *i64_json(int64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)v);
    return json_string(num);
}

static char *dump(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* {"key": b64(key)[, "range_end": b64(end of prefix)]} merged into o. -1 on a bad key. */
static int set_key(json_t *o, const char *key, bool prefix)
{
    size_t n = strlen(key);
    if (n == 0 || n > ETCD_KEY_MAX) return -1;
    json_object_set_new(o, "key", b64_json(key, n));
    if (prefix) {
        char end[ETCD_KEY_MAX + 1];
        long m = etcd_prefix_end(key, n, end, sizeof end);
        if (m < 0) return -1;
        json_object_set_new(o, "range_end", b64_json(end, (size_t)m));
    }
    return 0;
}

char *etcd_req_range(const char *key, bool prefix)
{
    json_t *o = json_object();
    if (!o || set_key(o, key, prefix)) {
        json_decref(o);
        return NULL;
    }
    return dump(o);
}

static json_t *put_obj(const char *key, const char *value, size_t value_len, int64_t lease)
{
    if (value_len > ETCD_VALUE_MAX) return NULL;
    json_t *o = json_object();
    if (!o || set_key(o, key, false)) {
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, "value", b64_json(value, value_len));
    if (lease) json_object_set_new(o, "lease", i64_json(lease));
    return o;
}

char *etcd_req_put(const char *key, const char *value, size_t value_len, int64_t lease)
{
    json_t *o = put_obj(key, value, value_len, lease);
    return o ? dump(o) : NULL;
}

char *etcd_req_delete(const char *key, bool prefix)
{
    return etcd_req_range(key, prefix); /* the same body: key [+ range_end] */
}

char *etcd_req_cas(const char *key, int64_t mod_revision, const char *value, size_t value_len,
                   int64_t lease)
{
    json_t *cmp = json_object(), *op = NULL, *rd = json_object();
    if (!cmp || !rd || set_key(cmp, key, false) || set_key(rd, key, false)) goto err;
    json_object_set_new(cmp, "target", json_string("MOD"));
    json_object_set_new(cmp, "result", json_string("EQUAL"));
    json_object_set_new(cmp, "mod_revision", i64_json(mod_revision));
    if (value) {
        json_t *put = put_obj(key, value, value_len, lease);
        if (!put) goto err;
        op = json_pack("{s:o}", "request_put", put);
    } else {
        json_t *del = json_object();
        if (!del || set_key(del, key, false)) {
            json_decref(del);
            goto err;
        }
        op = json_pack("{s:o}", "request_delete_range", del);
    }
    json_t *txn = json_pack("{s:[o],s:[o],s:[{s:o}]}", "compare", cmp, "success", op, "failure",
                            "request_range", rd);
    return dump(txn);
err:
    json_decref(cmp);
    json_decref(op);
    json_decref(rd);
    return NULL;
}

char *etcd_req_lease_grant(int64_t ttl_s)
{
    return dump(json_pack("{s:o}", "TTL", i64_json(ttl_s)));
}

char *etcd_req_lease_id(int64_t id)
{
    return dump(json_pack("{s:o}", "ID", i64_json(id)));
}

char *etcd_req_watch(const char *key, bool prefix, int64_t start_revision)
{
    json_t *o = json_object();
    if (!o || set_key(o, key, prefix)) {
        json_decref(o);
        return NULL;
    }
    if (start_revision > 0) json_object_set_new(o, "start_revision", i64_json(start_revision));
    return dump(json_pack("{s:o}", "create_request", o));
}

char *etcd_req_auth(const char *user, const char *password)
{
    return dump(json_pack("{s:s,s:s}", "name", user, "password", password));
}

long etcd_prefix_end(const char *key, size_t n, char *out, size_t cap)
{
    while (n > 0 && (unsigned char)key[n - 1] == 0xff)
        n--;
    if (n == 0) { /* every byte 0xff (or empty): to the end of the keyspace */
        if (cap < 1) return -E2BIG;
        out[0] = 0;
        return 1;
    }
    if (n > cap) return -E2BIG;
    memcpy(out, key, n);
    out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
    return (long)n;
}

/* ---- parsing ---- */

static json_t *load(const char *body, size_t n, char *err, size_t errlen, int *rc)
{
    if (n > ETCD_MSG_MAX) {
        seterr(err, errlen, "%s", "etcd answer over the size cap");
        *rc = -EMSGSIZE;
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je);
    if (!j || !json_is_object(j)) {
        seterr(err, errlen, "etcd answer is not a JSON object: %s", j ? "other type" : je.text);
        json_decref(j);
        *rc = -EINVAL;
        return NULL;
    }
    *rc = 0;
    return j;
}

/* An int64 field: absent -> 0; a decimal string (or, tolerated, a JSON integer). */
static int get_i64(json_t *o, const char *name, int64_t *out)
{
    json_t *v = json_object_get(o, name);
    *out = 0;
    if (!v) return 0;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v)) return -EINVAL;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0 || len > 20) return -EINVAL;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end != s + len || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9'))) return -EINVAL;
    *out = x;
    return 0;
}

/* base64 JSON string -> malloc'd NUL-terminated bytes. */
static int get_b64(json_t *o, const char *name, size_t max, bool no_nul, char **out, size_t *len)
{
    json_t *v = json_object_get(o, name);
    *out = NULL;
    *len = 0;
    if (v && !json_is_string(v)) return -EINVAL;
    size_t n = v ? json_string_length(v) : 0;
    if (n > (max / 3 + 2) * 4) return -EMSGSIZE;
    char *buf = malloc(base64_decoded_max(n) + 1);
    if (!buf) return -ENOMEM;
    long m = n ? base64_decode(json_string_value(v), n, (uint8_t *)buf, base64_decoded_max(n)) : 0;
    if (m < 0 || (size_t)m > max || (no_nul && memchr(buf, 0, (size_t)m))) {
        free(buf);
        return m < 0 ? -EINVAL : (size_t)m > max ? -EMSGSIZE : -EINVAL;
    }
    buf[m] = 0;
    *out = buf;
    *len = (size_t)m;
    return 0;
}

static void kv_free(etcd_kv_t *kv)
{
    free(kv->key);
    free(kv->value);
    memset(kv, 0, sizeof *kv);
}

static int parse_kv(json_t *o, etcd_kv_t *kv, char *err, size_t errlen)
{
    size_t klen;
    memset(kv, 0, sizeof *kv);
    if (!json_is_object(o)) {
        seterr(err, errlen, "%s", "etcd kv is not an object");
        return -EINVAL;
    }
    int rc = get_b64(o, "key", ETCD_KEY_MAX, true, &kv->key, &klen);
    if (!rc && klen == 0) rc = -EINVAL;
    if (!rc) rc = get_b64(o, "value", ETCD_VALUE_MAX, false, &kv->value, &kv->value_len);
    if (!rc && (get_i64(o, "create_revision", &kv->create_revision) ||
                get_i64(o, "mod_revision", &kv->mod_revision) ||
                get_i64(o, "version", &kv->version) || get_i64(o, "lease", &kv->lease)))
        rc = -EINVAL;
    if (rc) {
        seterr(err, errlen, "etcd kv: %s",
               rc == -EMSGSIZE ? "key or value over its cap" : "bad key, value or revision");
        kv_free(kv);
    }
    return rc;
}

static int header_rev(json_t *o, int64_t *rev)
{
    json_t *h = json_object_get(o, "header");
    *rev = 0;
    if (h && !json_is_object(h)) return -EINVAL;
    return h ? get_i64(h, "revision", rev) : 0;
}

int etcd_parse_error(const char *body, size_t n, int *code, char *msg, size_t msglen)
{
    int rc;
    json_t *j = load(body, n, NULL, 0, &rc);
    if (!j) return 0;
    json_t *e = json_object_get(j, "error");
    if (json_is_object(e)) { /* streamed: {"error": {"grpc_code", "message", ...}} */
        json_t *inner = e;
        e = json_object_get(inner, "message");
        *code = (int)json_integer_value(json_object_get(inner, "grpc_code"));
        if (!*code) *code = (int)json_integer_value(json_object_get(inner, "http_code"));
    } else {
        *code = (int)json_integer_value(json_object_get(j, "code"));
        json_t *m = json_object_get(j, "message");
        if (json_is_string(m)) e = m;
    }
    int is = e != NULL;
    if (is && msg && msglen)
        snprintf(msg, msglen, "%s", json_is_string(e) ? json_string_value(e) : "error");
    json_decref(j);
    return is;
}

bool etcd_error_is_auth(int code, const char *msg)
{
    return code == 16 ||
           (msg && (strstr(msg, "invalid auth token") || strstr(msg, "user name is empty")));
}

static int parse_kvs(json_t *arr, etcd_kv_t **out, size_t *count, char *err, size_t errlen)
{
    *out = NULL;
    *count = 0;
    if (!arr) return 0;
    if (!json_is_array(arr) || json_array_size(arr) > ETCD_KVS_MAX) {
        seterr(err, errlen, "%s", "etcd kvs is not an array of at most ETCD_KVS_MAX");
        return -EINVAL;
    }
    size_t n = json_array_size(arr);
    if (!n) return 0;
    etcd_kv_t *kvs = calloc(n, sizeof *kvs);
    if (!kvs) return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int rc = parse_kv(json_array_get(arr, i), &kvs[i], err, errlen);
        if (rc) {
            for (size_t k = 0; k < i; k++)
                kv_free(&kvs[k]);
            free(kvs);
            return rc;
        }
    }
    *out = kvs;
    *count = n;
    return 0;
}

void etcd_range_free(etcd_range_t *r)
{
    for (size_t i = 0; r && i < r->count; i++)
        kv_free(&r->kvs[i]);
    if (r) {
        free(r->kvs);
        memset(r, 0, sizeof *r);
    }
}

static int range_from(json_t *o, etcd_range_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (header_rev(o, &out->revision)) {
        seterr(err, errlen, "%s", "etcd header revision is not an int64 string");
        return -EINVAL;
    }
    out->more = json_is_true(json_object_get(o, "more"));
    return parse_kvs(json_object_get(o, "kvs"), &out->kvs, &out->count, err, errlen);
}

int etcd_parse_range(const char *body, size_t n, etcd_range_t *out, char *err, size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    json_t *j = load(body, n, err, errlen, &rc);
    if (!j) return rc;
    rc = range_from(j, out, err, errlen);
    json_decref(j);
    return rc;
}

int etcd_parse_revision(const char *body, size_t n, int64_t *revision, int64_t *deleted, char *err,
                        size_t errlen)
{
    int rc;
    json_t *j = load(body, n, err, errlen, &rc);
    if (!j) return rc;
    int64_t d = 0;
    if (header_rev(j, revision) || get_i64(j, "deleted", &d)) {
        seterr(err, errlen, "%s", "etcd revision or deleted count is not an int64 string");
        rc = -EINVAL;
    }
    if (deleted) *deleted = d;
    json_decref(j);
    return rc;
}

int etcd_parse_txn(const char *body, size_t n, bool *succeeded, int64_t *revision,
                   etcd_range_t *cur, char *err, size_t errlen)
{
    int rc;
    memset(cur, 0, sizeof *cur);
    json_t *j = load(body, n, err, errlen, &rc);
    if (!j) return rc;
    *succeeded = json_is_true(json_object_get(j, "succeeded"));
    if (header_rev(j, revision)) {
        seterr(err, errlen, "%s", "etcd txn revision is not an int64 string");
        rc = -EINVAL;
    }
    json_t *resp = json_object_get(j, "responses");
    if (!rc && !*succeeded && json_is_array(resp) && json_array_size(resp) == 1) {
        json_t *r = json_object_get(json_array_get(resp, 0), "response_range");
        if (json_is_object(r)) rc = range_from(r, cur, err, errlen);
    }
    json_decref(j);
    return rc;
}

int etcd_parse_lease(const char *body, size_t n, int64_t *id, int64_t *ttl, char *err,
                     size_t errlen)
{
    int rc;
    json_t *j = load(body, n, err, errlen, &rc);
    if (!j) return rc;
    json_t *o = json_object_get(j, "result");
    if (!json_is_object(o)) o = j;
    if (get_i64(o, "ID", id) || get_i64(o, "TTL", ttl)) {
        seterr(err, errlen, "%s", "etcd lease ID or TTL is not an int64 string");
        rc = -EINVAL;
    } else if (*id == 0 || *ttl <= 0) {
        seterr(err, errlen, "%s", "etcd lease not found (expired)");
        rc = -ENOENT;
    }
    json_decref(j);
    return rc;
}

int etcd_parse_auth(const char *body, size_t n, char *token, size_t cap, char *err, size_t errlen)
{
    int rc;
    json_t *j = load(body, n, err, errlen, &rc);
    if (!j) return rc;
    json_t *t = json_object_get(j, "token");
    if (!json_is_string(t) || json_string_length(t) == 0) {
        seterr(err, errlen, "%s", "etcd authenticate answer has no token");
        rc = -EINVAL;
    } else if (json_string_length(t) >= cap ||
               strlen(json_string_value(t)) != json_string_length(t)) {
        seterr(err, errlen, "%s", "etcd auth token too long or holds a NUL");
        rc = -E2BIG;
    } else {
        memcpy(token, json_string_value(t), json_string_length(t) + 1);
    }
    json_decref(j);
    return rc;
}

void etcd_watch_msg_free(etcd_watch_msg_t *m)
{
    for (size_t i = 0; m && i < m->count; i++)
        kv_free(&m->events[i].kv);
    if (m) {
        free(m->events);
        memset(m, 0, sizeof *m);
    }
}

static int parse_events(json_t *arr, etcd_watch_msg_t *out, char *err, size_t errlen)
{
    if (!arr) return 0;
    if (!json_is_array(arr) || json_array_size(arr) > ETCD_KVS_MAX) {
        seterr(err, errlen, "%s", "etcd watch events is not an array of at most ETCD_KVS_MAX");
        return -EINVAL;
    }
    size_t n = json_array_size(arr);
    if (!n) return 0;
    out->events = calloc(n, sizeof *out->events);
    if (!out->events) return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        json_t *type = json_object_get(e, "type");
        if (type && !(json_is_string(type) && (!strcmp(json_string_value(type), "PUT") ||
                                               !strcmp(json_string_value(type), "DELETE")))) {
            seterr(err, errlen, "%s", "etcd watch event type is neither PUT nor DELETE");
            return -EINVAL;
        }
        out->events[i].deleted = type && !strcmp(json_string_value(type), "DELETE");
        int rc = parse_kv(json_object_get(e, "kv"), &out->events[i].kv, err, errlen);
        if (rc) return rc;
        out->count = i + 1;
    }
    return 0;
}

int etcd_parse_watch(const char *msg, size_t n, etcd_watch_msg_t *out, char *err, size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    json_t *j = load(msg, n, err, errlen, &rc);
    if (!j) return rc;
    json_t *r = json_object_get(j, "result");
    if (!json_is_object(r)) {
        int code = 0;
        char m[160] = "no result";
        json_decref(j);
        etcd_parse_error(msg, n, &code, m, sizeof m);
        seterr(err, errlen, "etcd watch: %s", m);
        return -EPROTO;
    }
    json_t *reason = json_object_get(r, "cancel_reason");
    out->created = json_is_true(json_object_get(r, "created"));
    out->canceled = json_is_true(json_object_get(r, "canceled"));
    if (json_is_string(reason))
        snprintf(out->cancel_reason, sizeof out->cancel_reason, "%s", json_string_value(reason));
    if (header_rev(r, &out->revision) || get_i64(r, "watch_id", &out->watch_id) ||
        get_i64(r, "compact_revision", &out->compact_revision)) {
        seterr(err, errlen, "%s", "etcd watch revision is not an int64 string");
        rc = -EINVAL;
    }
    if (!rc) rc = parse_events(json_object_get(r, "events"), out, err, errlen);
    json_decref(j);
    if (rc) etcd_watch_msg_free(out);
    return rc;
}

int etcd_api_prefix(const char *body, size_t n, char *out, size_t cap)
{
    int rc;
    json_t *j = load(body, n, NULL, 0, &rc);
    if (!j) return rc;
    json_t *v = json_object_get(j, "etcdserver");
    unsigned major = 0, minor = 0;
    rc = json_is_string(v) && sscanf(json_string_value(v), "%u.%u", &major, &minor) == 2 ? 0
                                                                                         : -EINVAL;
    json_decref(j);
    if (rc) return rc;
    const char *p = major > 3 || (major == 3 && minor >= 4) ? "/v3"
                    : major == 3 && minor == 3              ? "/v3beta"
                                                            : "/v3alpha";
    size_t len = strlen(p);
    if (len >= cap) return -E2BIG;
    memcpy(out, p, len + 1);
    return 0;
}

/* ---- stream framer ---- */

void etcd_stream_init(etcd_stream_t *s, size_t max)
{
    memset(s, 0, sizeof *s);
    s->max = max ? max : ETCD_MSG_MAX;
}

void etcd_stream_free(etcd_stream_t *s)
{
    free(s->buf);
    memset(s, 0, sizeof *s);
}

int etcd_stream_feed(etcd_stream_t *s, const char *data, size_t n)
{
    if (s->off) { /* drop what was returned */
        memmove(s->buf, s->buf + s->off, s->len - s->off);
        s->len -= s->off;
        s->off = 0;
    }
    if (!n) return 0;
    /* the pending (unterminated) part may not exceed max */
    const char *nl = s->len ? memchr(s->buf, '\n', s->len) : NULL;
    size_t tail = nl ? 0 : s->len;
    const char *last = n ? memrchr(data, '\n', n) : NULL;
    size_t after = last ? n - (size_t)(last - data) - 1 : tail + n;
    if (after > s->max) return -EMSGSIZE;
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n)
            cap *= 2;
        char *b = realloc(s->buf, cap);
        if (!b) return -ENOMEM;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    /* a whole message longer than max (it arrived in one piece) */
    const char *p = s->buf, *end = s->buf + s->len;
    while (p < end) {
        const char *q = memchr(p, '\n', (size_t)(end - p));
        if (!q) break;
        if ((size_t)(q - p) > s->max) return -EMSGSIZE;
        p = q + 1;
    }
    return 0;
}

int etcd_stream_next(etcd_stream_t *s, const char **msg, size_t *len)
{
    while (s->off < s->len) {
        char *start = s->buf + s->off;
        char *q = memchr(start, '\n', s->len - s->off);
        if (!q) return 0;
        size_t n = (size_t)(q - start);
        s->off += n + 1;
        if (n && start[n - 1] == '\r') n--;
        size_t k = 0;
        while (k < n && (start[k] == ' ' || start[k] == '\t'))
            k++;
        if (k == n) continue; /* blank line */
        *msg = start;
        *len = n;
        return 1;
    }
    return 0;
}
