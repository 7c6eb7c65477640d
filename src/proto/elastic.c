/*
 * elastic.c - the Elasticsearch API front-end (see elastic.h and
 * docs/PROTOCOLS.md): routing of every request of the
 * --elasticsearch-listen server, the answers a shipper probes before it
 * sends (GET /, /_license, /_xpack, /_cluster/health, template and ILM
 * calls), Basic / ApiKey / Bearer credentials mapped onto our tokens, and
 * POST|PUT /_bulk, /{index}/_bulk: body (gunzipped) -> bulk_parse ->
 * ingest_submit of the items that can be taken as one packet -> per-item
 * answer once the verdict is in (after the WAL's fsync for durable records).
 *
 * Every answer carries X-Elastic-Product: Elasticsearch and Content-Type
 * application/json; errors have the ES shape {"error":{"root_cause":[..],
 * "type","reason"},"status":N}.
 */
#include "proto/elastic.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "common/base64.h"
#include "common/log.h"
#include "common/util.h"
#include "core/auth.h"
#include "core/metrics.h"
#include "ingest/gunzip.h"
#include "ingress/http.h"
#include "proto/bulk_parse.h"
#include "record/jsonw.h"

#define ES_VERSION "8.11.0"
#define ES_LUCENE "9.8.0"
#define ES_NAME "logdist"
#define PROBE_BODY_MAX (1u << 20) /* template / ILM bodies: read and ignored */
#define CRED_MAX 4096

/* ---- process-wide: cluster uuid, _id and _seq_no sequences --------------- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static uint8_t g_seed[6];
static char g_uuid[23];
static _Atomic uint64_t g_id_seq, g_seq_no;

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void b64url_encode(const uint8_t *in, size_t n, char *out) /* n % 3 == 0 */
{
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        for (int k = 0; k < 4; k++) *out++ = b64url[(v >> (18 - 6 * k)) & 63];
    }
    *out = 0;
}

static void init_once(void)
{
    uint8_t r[24];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) { /* not secret: only distinct */
        uint64_t t = now_us();
        for (size_t i = 0; i < sizeof r; i++) r[i] = (uint8_t)(t >> (i % 8 * 8)) ^ (uint8_t)i;
    }
    memcpy(g_seed, r, sizeof g_seed);
    char u[25];
    b64url_encode(r + 6, 18, u);
    memcpy(g_uuid, u, 22);
    g_uuid[22] = 0;
}

/* A 20-character id like Elasticsearch's (time `ms`, sequence, per-process
 * seed). */
static void new_id(char out[21], uint64_t ms)
{
    pthread_once(&g_once, init_once);
    uint64_t seq = atomic_fetch_add_explicit(&g_id_seq, 1, memory_order_relaxed);
    uint8_t b[15] = {
        (uint8_t)(ms >> 40), (uint8_t)(ms >> 32), (uint8_t)(ms >> 24), (uint8_t)(ms >> 16),
        (uint8_t)(ms >> 8),  (uint8_t)ms,         (uint8_t)(seq >> 16), (uint8_t)(seq >> 8),
        (uint8_t)seq,        g_seed[0],           g_seed[1],           g_seed[2],
        g_seed[3],           g_seed[4],           g_seed[5]};
    b64url_encode(b, sizeof b, out);
}

/* ---- answers ---------------------------------------------------------------- */

static void es_send(http_req_t *r, int status, const char *body, size_t len)
{
    http_req_add_header(r, "X-Elastic-Product", "Elasticsearch");
    http_req_reply(r, status, "application/json", body, len);
}

static void es_json(http_req_t *r, int status, json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text) {
        static const char oom[] = "{\"error\":{\"type\":\"out_of_memory\",\"reason\":\"out of "
                                  "memory\"},\"status\":503}";
        es_send(r, 503, oom, sizeof oom - 1);
        return;
    }
    es_send(r, status, text, strlen(text));
    free(text);
}

/* {"error":{"root_cause":[{"type","reason"}],"type","reason"},"status":N} */
static void es_error(http_req_t *r, int status, const char *type, const char *reason,
                     int retry_after)
{
    json_t *cause = json_pack("{s:s,s:s}", "type", type, "reason", reason);
    json_t *o = json_pack("{s:{s:[o],s:s,s:s},s:i}", "error", "root_cause", cause, "type", type,
                          "reason", reason, "status", status);
    if (retry_after > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", retry_after);
        http_req_add_header(r, "Retry-After", v);
    }
    es_json(r, status, o);
}

/* ---- credentials -------------------------------------------------------------- */

/* auth_check of one token as a Bearer credential. */
static auth_result_t check_token(const auth_t *a, const char *token, size_t n, const char **agent)
{
    char h[CRED_MAX + 8];
    if (!n || n > CRED_MAX) return AUTH_INVALID;
    memcpy(h, "Bearer ", 7);
    memcpy(h + 7, token, n);
    h[7 + n] = 0;
    auth_result_t rc = auth_check(a, h, ROLE_INGEST, agent);
    explicit_bzero(h, sizeof h);
    return rc;
}

/* Authorization: Basic b64(user:token) | ApiKey b64(id:token) | ApiKey token
 * | Bearer token. The user and the key id are not checked. */
static auth_result_t es_auth(const auth_t *a, const char *h, const char **agent)
{
    if (!h) return AUTH_MISSING;
    while (*h == ' ') h++;
    char dec[CRED_MAX + 1];
    auth_result_t rc = AUTH_INVALID;
    if (!strncasecmp(h, "Bearer ", 7)) return auth_check(a, h, ROLE_INGEST, agent);
    bool basic = !strncasecmp(h, "Basic ", 6), apikey = !strncasecmp(h, "ApiKey ", 7);
    if (!basic && !apikey) return AUTH_MISSING;
    const char *v = h + (basic ? 6 : 7);
    while (*v == ' ') v++;
    if (apikey) { /* a raw key first: an encoded id:key could decode to anything */
        rc = check_token(a, v, strlen(v), agent);
        if (rc == AUTH_OK || rc == AUTH_FORBIDDEN) return rc;
    }
    long n = base64_decode(v, strlen(v), (uint8_t *)dec, sizeof dec);
    const char *colon = n > 0 ? memchr(dec, ':', (size_t)n) : NULL;
    if (colon) rc = check_token(a, colon + 1, (size_t)(dec + n - colon - 1), agent);
    explicit_bzero(dec, sizeof dec);
    return rc;
}

/* The gate of every request: false when answered (401 / 403, ES-shaped). */
static bool es_require(ingest_worker_t *w, http_req_t *r, const char **agent)
{
    const auth_t *a = ingest_auth(ingest_worker_owner(w));
    *agent = NULL;
    if (!a || !auth_enabled(a)) return true;
    auth_result_t rc = es_auth(a, http_req_header(r, "Authorization"), agent);
    if (rc == AUTH_OK) return true;
    const char *addr = http_req_peer_addr(r);
    char peer[80], reason[300];
    snprintf(peer, sizeof peer, "%s:%u", addr ? addr : "?", http_req_peer_port(r));
    PROTO_ADD(PROTO_ELASTICSEARCH, auth_failures, 1);
    if (rc == AUTH_FORBIDDEN) {
        METRIC_ADD(auth_failures[AUTHFAIL_ROLE], 1);
        auth_log_failed(403, "role", peer, "elasticsearch", http_req_uri(r),
                        "token without the ingest role");
        snprintf(reason, sizeof reason, "action [%.40s %.200s] is unauthorized: the token has "
                 "no ingest role", http_req_method_name(r), http_req_uri(r));
        es_error(r, 403, "security_exception", reason, 0);
        return false;
    }
    bool missing = rc == AUTH_MISSING;
    METRIC_ADD(auth_failures[missing ? AUTHFAIL_MISSING : AUTHFAIL_INVALID], 1);
    auth_log_failed(401, missing ? "missing" : "invalid", peer, "elasticsearch", http_req_uri(r),
                    missing ? "no credentials" : "invalid credentials");
    snprintf(reason, sizeof reason, "%s for REST request [%.200s]",
             missing ? "missing authentication credentials" : "unable to authenticate",
             http_req_uri(r));
    http_req_add_header(r, "WWW-Authenticate", "Basic realm=\"security\" charset=\"UTF-8\"");
    http_req_add_header(r, "WWW-Authenticate", "ApiKey");
    es_error(r, 401, "security_exception", reason, 0);
    return false;
}

/* ---- routes ------------------------------------------------------------------ */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

typedef enum {
    R_ROOT, R_BULK, R_LICENSE, R_XPACK, R_HEALTH, R_SETUP, R_OTHER
} route_t;

/* The path of the URI (without the query) into path; the route; the
 * URL-decoded {index} of /{index}/_bulk into index ("" for /_bulk). */
static route_t route(const char *uri, char *index, size_t cap)
{
    size_t n = strcspn(uri, "?#");
    while (n > 1 && uri[n - 1] == '/') n--;
    index[0] = 0;
#define IS(p) (n == strlen(p) && !strncmp(uri, p, n))
#define UNDER(p) (n > strlen(p) && !strncmp(uri, p, strlen(p)))
    if (IS("/")) return R_ROOT;
    if (IS("/_bulk")) return R_BULK;
    if (IS("/_license")) return R_LICENSE;
    if (IS("/_xpack")) return R_XPACK;
    if (IS("/_cluster/health") || UNDER("/_cluster/health/")) return R_HEALTH;
    if (UNDER("/_index_template/") || UNDER("/_template/") || UNDER("/_ilm/policy/") ||
        UNDER("/_component_template/") || UNDER("/_ingest/pipeline/"))
        return R_SETUP;
#undef IS
#undef UNDER
    /* /{index}/_bulk */
    if (n > 7 && uri[0] == '/' && !strncmp(uri + n - 6, "/_bulk", 6)) {
        size_t k = 0, end = n - 6;
        for (size_t i = 1; i < end; i++) {
            int c = (unsigned char)uri[i];
            if (c == '/') return R_OTHER;
            if (c == '%') {
                int hi = i + 2 < end ? hex_value(uri[i + 1]) : -1;
                int lo = i + 2 < end ? hex_value(uri[i + 2]) : -1;
                if (hi < 0 || lo < 0 || (hi | lo) == 0) return R_OTHER;
                c = hi << 4 | lo;
                i += 2;
            }
            if (k + 1 >= cap) return R_OTHER;
            index[k++] = (char)c;
        }
        index[k] = 0;
        return k ? R_BULK : R_OTHER;
    }
    return R_OTHER;
}

static bool method_is(const http_req_t *r, http_method_t a, http_method_t b)
{
    http_method_t m = http_req_method(r);
    return m == a || m == b;
}

static void wrong_method(http_req_t *r, const char *allowed)
{
    char reason[300];
    snprintf(reason, sizeof reason, "Incorrect HTTP method for uri [%.200s] and method [%s], "
             "allowed: [%s]", http_req_uri(r), http_req_method_name(r), allowed);
    http_req_add_header(r, "Allow", allowed);
    es_error(r, 405, "method_not_allowed", reason, 0);
}

static void not_found(http_req_t *r)
{
    char reason[300];
    snprintf(reason, sizeof reason, "no handler found for uri [%.200s] and method [%s] "
             "(logdist serves only the bulk API)", http_req_uri(r), http_req_method_name(r));
    es_error(r, 404, "resource_not_found_exception", reason, 0);
}

static void answer_root(http_req_t *r)
{
    pthread_once(&g_once, init_once);
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s,s:b,s:s,s:s,s:s},s:s}", "name", ES_NAME,
        "cluster_name", ES_NAME, "cluster_uuid", g_uuid, "version", "number", ES_VERSION,
        "build_flavor", "default", "build_type", "deb", "build_hash", "logdist",
        "build_date", "2023-11-04T10:04:57.184859352Z", "build_snapshot", 0, "lucene_version",
        ES_LUCENE, "minimum_wire_compatibility_version", "7.17.0",
        "minimum_index_compatibility_version", "7.0.0", "tagline", "You Know, for Search");
    es_json(r, 200, o);
}

static void answer_license(http_req_t *r)
{
    pthread_once(&g_once, init_once);
    json_t *o = json_pack("{s:{s:s,s:s,s:s,s:s,s:I,s:i,s:s,s:s,s:i}}", "license", "status",
                          "active", "uid", g_uuid, "type", "basic", "issue_date",
                          "2023-11-04T00:00:00.000Z", "issue_date_in_millis",
                          (json_int_t)1699056000000LL, "max_nodes", 1000, "issued_to", ES_NAME,
                          "issuer", "elasticsearch", "start_date_in_millis", -1);
    es_json(r, 200, o);
}

static void answer_xpack(http_req_t *r, bool secured)
{
    pthread_once(&g_once, init_once);
    json_t *o = json_pack("{s:{s:s,s:s},s:{s:s,s:s,s:s,s:s},s:{s:{s:b,s:b},s:{s:b,s:b}}}",
                          "build", "hash", "logdist", "date", "2023-11-04T10:04:57.184859352Z",
                          "license", "uid", g_uuid, "type", "basic", "mode", "basic", "status",
                          "active", "features", "ilm", "available", 1, "enabled", 1, "security",
                          "available", 1, "enabled", secured);
    es_json(r, 200, o);
}

static void answer_health(http_req_t *r, ingest_t *ing)
{
    const char *status = ingest_room(ing) ? "yellow" : "green";
    json_t *o = json_pack("{s:s,s:s,s:b,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:f}",
                          "cluster_name", ES_NAME, "status", status, "timed_out", 0,
                          "number_of_nodes", 1, "number_of_data_nodes", 1,
                          "active_primary_shards", 0, "active_shards", 0, "relocating_shards", 0,
                          "initializing_shards", 0, "unassigned_shards", 0,
                          "number_of_pending_tasks", 0, "number_of_in_flight_fetch", 0,
                          "task_max_waiting_in_queue_millis", 0,
                          "active_shards_percent_as_number", 100.0);
    es_json(r, 200, o);
}

/* ---- the bulk request ----------------------------------------------------------- */

typedef struct bulk_req {
    http_req_t *r;
    bulk_result_t res;
    uint64_t start_ms;
} bulk_req_t;

static bool media_ok(const char *ct)
{
    if (!ct || !*ct) return true; /* curl-style clients: taken as NDJSON */
    static const char *const ok[] = {"application/x-ndjson", "application/json",
                                     "application/vnd.elasticsearch+x-ndjson",
                                     "application/vnd.elasticsearch+json"};
    while (*ct == ' ') ct++;
    size_t n = strcspn(ct, "; ");
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strlen(ok[i]) == n && !strncasecmp(ct, ok[i], n)) return true;
    return false;
}

/* Write one item's result; `ms` is the wall clock for generated ids. */
static void write_item(jsonw_t *o, const bulk_item_t *it, int status, const char *type,
                       const char *reason, uint64_t ms)
{
    static const char shards[] = "{\"total\":1,\"successful\":1,\"failed\":0}";
    jsonw_object_begin(o);
    jsonw_keyz(o, bulk_op_name(it->op));
    jsonw_object_begin(o);
    jsonw_keyz(o, "_index");
    if (it->index) jsonw_stringz(o, it->index);
    else jsonw_null(o);
    jsonw_keyz(o, "_id");
    char id[21];
    if (it->id) {
        jsonw_stringz(o, it->id);
    } else if (status < 300) {
        new_id(id, ms);
        jsonw_string(o, id, 20);
    } else {
        jsonw_null(o);
    }
    if (status < 300) {
        jsonw_keyz(o, "_version");
        jsonw_uint(o, 1);
        jsonw_keyz(o, "result");
        jsonw_string(o, "created", 7);
        jsonw_keyz(o, "_shards");
        jsonw_raw_value(o, shards, sizeof shards - 1); /* constant, valid JSON */
        jsonw_keyz(o, "_seq_no");
        jsonw_uint(o, atomic_fetch_add_explicit(&g_seq_no, 1, memory_order_relaxed));
        jsonw_keyz(o, "_primary_term");
        jsonw_uint(o, 1);
    }
    jsonw_keyz(o, "status");
    jsonw_uint(o, (uint64_t)status);
    if (status >= 300) {
        jsonw_keyz(o, "error");
        jsonw_object_begin(o);
        jsonw_keyz(o, "type");
        jsonw_stringz(o, type);
        jsonw_keyz(o, "reason");
        jsonw_stringz(o, reason);
        if (it->index) {
            jsonw_keyz(o, "index");
            jsonw_stringz(o, it->index);
        }
        jsonw_object_end(o);
    }
    jsonw_object_end(o);
    jsonw_object_end(o);
}

/* The answer of a taken item, the hot path: {"<op>":{"_index":..,"_id":..,
 * "_version":1,"result":"created","_shards":{..},"_seq_no":N,"_primary_term":1,
 * "status":201}} as one value. Its head (op and index) is written by jsonw
 * once per run of items with the same op and index, the _id by jsonw (or a
 * generated one: 20 base64url characters); the rest is constant text and
 * digits. The same bytes write_item() writes, without escaping every key of
 * every item (that was 11 % of logdistd's CPU). */
typedef struct {
    jsonw_t head, tok;
    bulk_op_t op;
    const char *index;
    bool valid;
} created_t;

static void write_created(jsonw_t *o, created_t *c, const bulk_item_t *it, uint64_t ms)
{
    static const char mid[] = ",\"_version\":1,\"result\":\"created\",\"_shards\":{\"total\":1,"
                              "\"successful\":1,\"failed\":0},\"_seq_no\":";
    static const char tail[] = ",\"_primary_term\":1,\"status\":201}}";
    if (!c->valid || c->op != it->op || !c->index || !it->index ||
        strcmp(c->index, it->index) != 0) {
        jsonw_reset(&c->head);
        jsonw_object_begin(&c->head);
        jsonw_keyz(&c->head, bulk_op_name(it->op));
        jsonw_object_begin(&c->head);
        jsonw_keyz(&c->head, "_index");
        if (it->index) jsonw_stringz(&c->head, it->index);
        else jsonw_null(&c->head);
        jsonw_keyz(&c->head, "_id");
        c->op = it->op;
        c->index = it->index;
        c->valid = true;
    }
    const char *id;
    size_t idn;
    char gen[23];
    if (it->id) {
        jsonw_reset(&c->tok);
        jsonw_stringz(&c->tok, it->id);
        id = c->tok.buf;
        idn = jsonw_len(&c->tok);
    } else {
        gen[0] = '"';
        new_id(gen + 1, ms);
        gen[21] = '"';
        id = gen;
        idn = 22;
    }
    char digits[24];
    size_t di = sizeof digits;
    uint64_t seq = atomic_fetch_add_explicit(&g_seq_no, 1, memory_order_relaxed);
    do {
        digits[--di] = (char)('0' + seq % 10);
        seq /= 10;
    } while (seq);
    size_t hn = jsonw_len(&c->head), n = hn + idn + sizeof mid - 1 + (sizeof digits - di) +
                                         sizeof tail - 1;
    char stack[2048], *buf = n <= sizeof stack ? stack : malloc(n);
    if (!buf || jsonw_error(&c->head) || jsonw_error(&c->tok)) { /* the slow path then */
        if (buf != stack) free(buf);
        write_item(o, it, 201, NULL, NULL, ms);
        return;
    }
    char *p = buf;
    memcpy(p, c->head.buf, hn), p += hn;
    memcpy(p, id, idn), p += idn;
    memcpy(p, mid, sizeof mid - 1), p += sizeof mid - 1;
    memcpy(p, digits + di, sizeof digits - di), p += sizeof digits - di;
    memcpy(p, tail, sizeof tail - 1);
    jsonw_raw_value(o, buf, n); /* pieces written by jsonw, constants and digits */
    if (buf != stack) free(buf);
}

/* Answer the bulk: taken items get `status` (201, or the packet's refusal
 * with its type and reason), failed ones their own. Frees b. */
static void answer_bulk(bulk_req_t *b, int status, const char *type, const char *reason,
                        int retry_after)
{
    const bulk_result_t *res = &b->res;
    bool errors = res->taken < res->count || status >= 300;
    jsonw_t o;
    jsonw_init(&o, (size_t)1 << 30);
    jsonw_object_begin(&o);
    jsonw_keyz(&o, "took");
    uint64_t now = now_ms();
    jsonw_uint(&o, now > b->start_ms ? now - b->start_ms : 0);
    jsonw_keyz(&o, "errors");
    jsonw_bool(&o, errors);
    jsonw_keyz(&o, "items");
    jsonw_array_begin(&o);
    uint64_t ms = wall_ms();
    created_t created = {.valid = false};
    jsonw_init(&created.head, BULK_INDEX_MAX * 6 + 64);
    jsonw_init(&created.tok, BULK_ID_MAX * 6 + 8);
    for (size_t i = 0; i < res->count; i++) {
        const bulk_item_t *it = &res->items[i];
        if (it->status)
            write_item(&o, it, it->status, it->err_type, it->reason, ms);
        else if (status == 201)
            write_created(&o, &created, it, ms);
        else
            write_item(&o, it, status, type, reason, ms);
    }
    jsonw_free(&created.head);
    jsonw_free(&created.tok);
    jsonw_array_end(&o);
    jsonw_object_end(&o);
    size_t len;
    char *text = jsonw_take(&o, &len);
    jsonw_free(&o);
    if (!text) {
        es_error(b->r, 503, "es_rejected_execution_exception", "out of memory", 1);
    } else {
        if (retry_after > 0) {
            char v[16];
            snprintf(v, sizeof v, "%d", retry_after);
            http_req_add_header(b->r, "Retry-After", v);
        }
        es_send(b->r, 200, text, len);
        free(text);
    }
    bulk_result_free(&b->res);
    free(b);
}

/* The verdict on the taken items (on the request's loop). */
static void on_verdict(void *ctx, const ingest_verdict_t *v)
{
    bulk_req_t *b = ctx;
    size_t taken = b->res.taken;
    if (v->status == 0) {
        PROTO_ADD(PROTO_ELASTICSEARCH, records_accepted, v->records);
        answer_bulk(b, 201, NULL, NULL, 0);
        return;
    }
    PROTO_ADD(PROTO_ELASTICSEARCH, records_refused, taken);
    const char *msg = v->message ? v->message : "refused";
    switch (v->status) {
    case -EBUSY:  /* rate limit */
    case -EAGAIN: /* queue full */
    case -ENOBUFS: /* memory pressure: each item 429, as ES's write pool rejections */
        answer_bulk(b, 429, "es_rejected_execution_exception", msg,
                    v->retry_after > 0 ? v->retry_after : 1);
        return;
    case -EINVAL:
    case -E2BIG:
        answer_bulk(b, v->http_status >= 400 ? v->http_status : 400, "illegal_argument_exception",
                    msg, 0);
        return;
    default: /* draining, WAL full or failing, out of memory: the whole request, retried */
        es_error(b->r, 503, v->status == -ESHUTDOWN ? "node_closed_exception"
                                                     : "es_rejected_execution_exception",
                 msg, v->retry_after > 0 ? v->retry_after : 1);
        bulk_result_free(&b->res);
        free(b);
    }
}

static void bulk_head(ingest_worker_t *w, http_req_t *r)
{
    ingest_t *ing = ingest_worker_owner(w);
    const ingest_limits_t *L = ingest_limits(ing); /* live: ingest_set_limits */
    if (!method_is(r, HTTP_M_POST, HTTP_M_PUT)) {
        wrong_method(r, "POST, PUT");
        return;
    }
    switch (ingest_room(ing)) {
    case -ESHUTDOWN:
        http_req_close_after(r);
        es_error(r, 503, "node_closed_exception", "logdistd is shutting down", 5);
        return;
    case -ENOBUFS:
    case -EAGAIN:
        http_req_close_after(r);
        es_error(r, 429, "es_rejected_execution_exception",
                 "rejected execution of bulk: logdist is overloaded (queue full or memory "
                 "pressure); retry later", 1);
        return;
    default: break;
    }
    if (!media_ok(http_req_header(r, "Content-Type"))) {
        char reason[300];
        snprintf(reason, sizeof reason, "Content-Type header [%.200s] is not supported",
                 http_req_header(r, "Content-Type"));
        es_error(r, 406, "media_type_header_exception", reason, 0);
        return;
    }
    if (http_req_gzip(r) < 0) {
        es_error(r, 415, "illegal_argument_exception",
                 "Content-Encoding must be gzip or identity", 0);
        return;
    }
    long long cl = http_req_content_length(r);
    if (cl > 0 && (uint64_t)cl > L->max_body_bytes) {
        PROTO_ADD(PROTO_ELASTICSEARCH, oversize, 1);
        es_error(r, 413, "content_too_long_exception",
                 "request body is larger than max-body-bytes", 0);
        return;
    }
    if (http_req_read_body(r, L->max_body_bytes)) PROTO_ADD(PROTO_ELASTICSEARCH, oversize, 1);
}

/* The body, gunzipped when it says so: *data[0..*len) in *block (malloc'd). 0,
 * or answered (-1). */
static int bulk_body(http_req_t *r, const ingest_limits_t *L, char **block, const char **data,
                     size_t *len)
{
    if (http_req_take_body(r, block, data, len)) {
        es_error(r, 503, "es_rejected_execution_exception", "out of memory", 1);
        return -1;
    }
    if (http_req_gzip(r) <= 0) return 0;
    char *out;
    size_t n, erroff;
    int rc = gunzip_body(*data ? *data : "", *len, L->max_decoded_bytes, &out, &n, &erroff);
    free(*block);
    *block = NULL;
    if (rc == GUNZIP_OK) {
        *block = out;
        *data = out;
        *len = n;
        return 0;
    }
    if (rc == GUNZIP_ERR_TOO_BIG) {
        PROTO_ADD(PROTO_ELASTICSEARCH, oversize, 1);
        es_error(r, 413, "content_too_long_exception",
                 "decompressed body is larger than max-decoded-bytes", 0);
    } else if (rc == GUNZIP_ERR_NOMEM) {
        es_error(r, 503, "es_rejected_execution_exception", "out of memory", 1);
    } else {
        PROTO_ADD(PROTO_ELASTICSEARCH, decode_errors, 1);
        es_error(r, 400, "parse_exception", "the body is not a valid gzip stream", 0);
    }
    return -1;
}

static void bulk_request(ingest_worker_t *w, http_req_t *r, const char *url_index,
                         const char *agent)
{
    ingest_t *ing = ingest_worker_owner(w);
    const ingest_limits_t *L = ingest_limits(ing); /* live: ingest_set_limits */
    char *block = NULL;
    const char *data = NULL;
    size_t len = 0;
    if (bulk_body(r, L, &block, &data, &len)) return;
    bulk_req_t *b = calloc(1, sizeof *b);
    if (!b) {
        free(block);
        es_error(r, 503, "es_rejected_execution_exception", "out of memory", 1);
        return;
    }
    b->r = r;
    b->start_ms = now_ms();
    bulk_limits_t lim = {.max_record_bytes = L->max_record_bytes,
                         .max_depth = L->max_depth,
                         .max_items = L->max_records_per_packet,
                         .max_out_bytes = L->max_decoded_bytes + (L->max_decoded_bytes >> 1)};
    int rc = bulk_parse(data, len, url_index, &lim, &b->res);
    free(block);
    if (rc) {
        PROTO_ADD(PROTO_ELASTICSEARCH, decode_errors, 1);
        es_error(r, b->res.status, b->res.err_type, b->res.reason, rc == -ENOMEM ? 1 : 0);
        bulk_result_free(&b->res);
        free(b);
        return;
    }
    const bulk_result_t *res = &b->res;
    PROTO_ADD(PROTO_ELASTICSEARCH, messages, res->count);
    PROTO_ADD(PROTO_ELASTICSEARCH, oversize, res->oversize);
    PROTO_ADD(PROTO_ELASTICSEARCH, decode_errors, res->count - res->taken - res->oversize);
    if (!res->taken) {
        answer_bulk(b, 201, NULL, NULL, 0);
        return;
    }
    char *records = b->res.records;
    size_t rlen = b->res.records_len;
    b->res.records = NULL;
    ingest_origin_t origin = {.bound_agent = agent, .peer_addr = http_req_peer_addr(r)};
    ingest_submit(w, &origin, records, rlen, on_verdict, b);
}

/* ---- the two phases -------------------------------------------------------------- */

void elastic_on_head(ingest_worker_t *w, http_req_t *r)
{
    char index[BULK_INDEX_MAX * 3 + 1];
    const char *agent;
    if (!es_require(w, r, &agent)) return;
    route_t rt = route(http_req_uri(r), index, sizeof index);
    bool get = method_is(r, HTTP_M_GET, HTTP_M_HEAD);
    switch (rt) {
    case R_BULK:
        http_req_set_user(r, (void *)agent); /* a string of the auth object */
        bulk_head(w, r);
        return;
    case R_ROOT:
        if (get) answer_root(r);
        else wrong_method(r, "GET, HEAD");
        return;
    case R_LICENSE:
        if (get) answer_license(r);
        else wrong_method(r, "GET, HEAD");
        return;
    case R_XPACK:
        if (get) answer_xpack(r, ingest_auth(ingest_worker_owner(w)) &&
                                     auth_enabled(ingest_auth(ingest_worker_owner(w))));
        else wrong_method(r, "GET, HEAD");
        return;
    case R_HEALTH:
        if (get) answer_health(r, ingest_worker_owner(w));
        else wrong_method(r, "GET, HEAD");
        return;
    case R_SETUP: /* templates, ILM policies, pipelines: none kept */
        if (method_is(r, HTTP_M_PUT, HTTP_M_POST)) {
            if (http_req_read_body(r, PROBE_BODY_MAX) == 0) return; /* on_request answers */
            return; /* answered by the framer (413 / 503) */
        }
        if (http_req_method(r) == HTTP_M_DELETE) {
            es_json(r, 200, json_pack("{s:b}", "acknowledged", 1));
            return;
        }
        if (get) {
            es_error(r, 404, "resource_not_found_exception",
                     "logdist keeps no templates, ILM policies or pipelines", 0);
            return;
        }
        wrong_method(r, "GET, HEAD, PUT, POST, DELETE");
        return;
    default: not_found(r);
    }
}

void elastic_on_request(ingest_worker_t *w, http_req_t *r)
{
    char index[BULK_INDEX_MAX * 3 + 1];
    route_t rt = route(http_req_uri(r), index, sizeof index);
    if (rt == R_BULK) {
        bulk_request(w, r, index, http_req_user(r));
        return;
    }
    /* R_SETUP: PUT/POST of a template, policy or pipeline: acknowledged, not kept */
    es_json(r, 200, json_pack("{s:b}", "acknowledged", 1));
}
