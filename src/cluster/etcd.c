/*
 * etcd.c - see etcd.h. One curl multi on the cluster thread's base (the
 * socket/timer glue is core/curl_loop's). A request is a req_t:
 * its body is kept so it can be sent again to the next endpoint or after a
 * new auth token. Requests that arrive while the API prefix or the token is
 * being fetched wait in `pending` and start when it is known.
 */
#include "cluster/etcd.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "core/curl_loop.h"

typedef enum { REQ_CALL, REQ_VERSION, REQ_AUTH, REQ_WATCH } req_kind_t;

typedef struct req req_t;
struct req {
    etcd_t *e;
    req_t *next; /* pending list / live list */
    req_kind_t kind;
    char path[64];
    char *body;
    CURL *easy;
    struct curl_slist *hdrs;
    char errbuf[CURL_ERROR_SIZE];
    char *resp;
    size_t len, cap;
    bool too_big;
    int tries;     /* endpoints tried for this request */
    bool reauthed; /* got a new token once already */
    etcd_done_fn done;
    void *arg;
    etcd_stream_t stream; /* REQ_WATCH */
    int watch_rc;
    char watch_err[200];
};

struct etcd {
    struct event_base *base;
    CURLM *multi;
    curl_loop_t *loop;   /* drives multi from the cluster thread's base (core/curl_loop) */
    char *endpoints[ETCD_ENDPOINTS_MAX];
    int nendpoints, cur;
    char cacert[1024], cert[1024], key[1024], user[256], password[256];
    long connect_ms, request_ms;
    char prefix[ETCD_PREFIX_MAX]; /* "" until GET /version answered */
    char token[512];              /* "" = none yet (only with a user) */
    bool preparing;               /* a version or auth request is in flight */
    req_t *pending;               /* waiting for prefix/token, in order */
    req_t *pending_tail;
    req_t *live; /* in the multi */
    req_t *watch;
    etcd_watch_msg_fn on_msg;
    etcd_watch_end_fn on_end;
    void *watch_arg;
};

static void req_free(req_t *r)
{
    if (!r) return;
    if (r->easy) curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdrs);
    free(r->body);
    free(r->resp);
    etcd_stream_free(&r->stream);
    free(r);
}

static void live_unlink(etcd_t *e, req_t *r)
{
    for (req_t **p = &e->live; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    r->next = NULL;
}

/* ---- curl glue ---- */

static void check_done(etcd_t *e);

/* curl_loop's `after`: collect what finished. */
static void after_action(void *ctx)
{
    check_done(ctx);
}

/* The answer body, bounded (a watch feeds its framer and hands out messages). */
static void watch_feed(req_t *r, const char *data, size_t n);

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    req_t *r = userdata;
    size_t n = size * nmemb;
    if (r->kind == REQ_WATCH) {
        watch_feed(r, ptr, n);
        return r->watch_rc ? 0 : n; /* 0 aborts the transfer */
    }
    if (r->len + n > ETCD_MSG_MAX) {
        r->too_big = true;
        return 0;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 1024;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *b = realloc(r->resp, cap);
        if (!b) {
            r->too_big = true;
            return 0;
        }
        r->resp = b;
        r->cap = cap;
    }
    memcpy(r->resp + r->len, ptr, n);
    r->len += n;
    r->resp[r->len] = 0;
    return n;
}

/* Start r on the current endpoint. 0 or -ENOMEM. */
static int req_send(etcd_t *e, req_t *r)
{
    char url[1024];
    const char *ep = e->endpoints[e->cur];
    if (r->kind == REQ_VERSION)
        snprintf(url, sizeof url, "%s/version", ep);
    else
        snprintf(url, sizeof url, "%s%s%s", ep, e->prefix, r->path);
    if (r->easy) curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdrs);
    r->hdrs = NULL;
    r->len = 0;
    r->too_big = false;
    r->errbuf[0] = 0;
    r->easy = curl_easy_init();
    if (!r->easy) return -ENOMEM;
    CURL *c = r->easy;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PRIVATE, r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, e->connect_ms);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 5L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 2L);
    if (r->kind != REQ_WATCH) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, e->request_ms);
    if (e->cacert[0]) curl_easy_setopt(c, CURLOPT_CAINFO, e->cacert);
    if (e->cert[0]) curl_easy_setopt(c, CURLOPT_SSLCERT, e->cert);
    if (e->key[0]) curl_easy_setopt(c, CURLOPT_SSLKEY, e->key);
    if (r->kind != REQ_VERSION) {
        r->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
        r->hdrs = curl_slist_append(r->hdrs, "Expect:");
        if (e->token[0] && r->kind != REQ_AUTH) {
            char h[600];
            snprintf(h, sizeof h, "Authorization: %s", e->token);
            r->hdrs = curl_slist_append(r->hdrs, h);
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->hdrs);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
    }
    if (curl_multi_add_handle(e->multi, c) != CURLM_OK) return -ENOMEM;
    r->next = e->live;
    e->live = r;
    return 0;
}

/* ---- preparation: API prefix, then the auth token ---- */

static void start_pending(etcd_t *e);
static void fail_pending(etcd_t *e, const char *why);

/* The version or auth request r failed: free it and fail what waited for it. */
static void prep_failed(etcd_t *e, req_t *r, const char *why)
{
    e->preparing = false;
    req_free(r);
    fail_pending(e, why);
}

static void prepare(etcd_t *e)
{
    if (e->preparing) return;
    req_t *r = calloc(1, sizeof *r);
    if (!r) {
        fail_pending(e, "out of memory");
        return;
    }
    r->e = e;
    if (!e->prefix[0]) {
        r->kind = REQ_VERSION;
    } else {
        r->kind = REQ_AUTH;
        snprintf(r->path, sizeof r->path, "/auth/authenticate");
        r->body = etcd_req_auth(e->user, e->password);
        if (!r->body) {
            free(r);
            fail_pending(e, "out of memory");
            return;
        }
    }
    e->preparing = true;
    if (req_send(e, r)) prep_failed(e, r, "out of memory");
}

static bool ready(const etcd_t *e)
{
    return e->prefix[0] && (!e->user[0] || e->token[0]);
}

/* Queue r (ready or not); start it when the prefix and token are known. */
static void enqueue(etcd_t *e, req_t *r)
{
    r->next = NULL;
    if (e->pending_tail)
        e->pending_tail->next = r;
    else
        e->pending = r;
    e->pending_tail = r;
    if (ready(e))
        start_pending(e);
    else
        prepare(e);
}

static void finish(req_t *r, int rc, const char *err);

static void start_pending(etcd_t *e)
{
    req_t *r = e->pending;
    e->pending = e->pending_tail = NULL;
    while (r) {
        req_t *next = r->next;
        if (req_send(e, r)) finish(r, -ENOMEM, "out of memory");
        r = next;
    }
}

static void fail_pending(etcd_t *e, const char *why)
{
    req_t *r = e->pending;
    e->pending = e->pending_tail = NULL;
    while (r) {
        req_t *next = r->next;
        finish(r, -EHOSTUNREACH, why);
        r = next;
    }
}

/* ---- completion ---- */

/* Hand the result over and free r. */
static void finish(req_t *r, int rc, const char *err)
{
    etcd_t *e = r->e;
    if (r->kind == REQ_WATCH) {
        if (e->watch == r) e->watch = NULL;
        etcd_watch_end_fn end = e->on_end;
        void *arg = e->watch_arg;
        char why[200];
        snprintf(why, sizeof why, "%s", err ? err : "");
        req_free(r);
        if (end) end(arg, rc, why);
        return;
    }
    if (r->done) r->done(r->arg, rc, r->resp ? r->resp : "", r->len, err ? err : "");
    req_free(r);
}

/* A transport failure: try r on the next endpoint, or give up. */
static void failover(etcd_t *e, req_t *r, const char *why)
{
    int before = e->cur;
    log_event(LOG_WARN, "cluster", "etcd_endpoint_failed",
              LOG_FIELDS(LF_STR("endpoint", e->endpoints[before]), LF_STR("error", why)),
              "etcd endpoint %s failed: %s", e->endpoints[before], why);
    if (e->nendpoints > 1) e->cur = (e->cur + 1) % e->nendpoints;
    if (++r->tries >= e->nendpoints) {
        if (r->kind == REQ_VERSION || r->kind == REQ_AUTH) {
            prep_failed(e, r, why);
            return;
        }
        finish(r, -EHOSTUNREACH, why);
        return;
    }
    if (req_send(e, r)) finish(r, -ENOMEM, "out of memory");
}

static void prepared(etcd_t *e, req_t *r)
{
    char err[200] = "";
    int rc = r->kind == REQ_VERSION
                 ? etcd_api_prefix(r->resp ? r->resp : "", r->len, e->prefix, sizeof e->prefix)
                 : etcd_parse_auth(r->resp ? r->resp : "", r->len, e->token, sizeof e->token, err,
                                   sizeof err);
    if (rc) {
        prep_failed(e, r,
                    r->kind == REQ_VERSION ? "GET /version: no etcd version in the answer" : err);
        return;
    }
    e->preparing = false;
    req_free(r);
    if (ready(e))
        start_pending(e);
    else
        prepare(e); /* the token next */
}

static void on_answer(etcd_t *e, req_t *r, CURLcode cc)
{
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(e->multi, r->easy);
    live_unlink(e, r);
    if (r->kind == REQ_WATCH && r->watch_rc) {
        finish(r, r->watch_rc, r->watch_err);
        return;
    }
    if (r->too_big) {
        finish(r, -EMSGSIZE, "etcd answer over the size cap");
        return;
    }
    if (cc != CURLE_OK || status == 502 || status == 503 || status == 504) {
        char why[300];
        if (cc != CURLE_OK)
            snprintf(why, sizeof why, "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc));
        else
            snprintf(why, sizeof why, "HTTP %ld (etcd unavailable: no leader or quorum?)", status);
        if (r->kind == REQ_WATCH) { /* never re-sent as is: the caller resumes from its revision */
            if (e->nendpoints > 1) e->cur = (e->cur + 1) % e->nendpoints;
            finish(r, -EHOSTUNREACH, why);
            return;
        }
        failover(e, r, why);
        return;
    }
    if (r->kind == REQ_VERSION || r->kind == REQ_AUTH) {
        if (status / 100 == 2) {
            prepared(e, r);
            return;
        }
        int code = 0;
        char msg[200] = "etcd refused the request";
        etcd_parse_error(r->resp ? r->resp : "", r->len, &code, msg, sizeof msg);
        prep_failed(e, r, msg);
        return;
    }
    if (r->kind == REQ_WATCH) {
        finish(r, status / 100 == 2 ? 0 : -EPROTO, status / 100 == 2 ? "" : "watch refused");
        return;
    }
    if (status / 100 == 2) {
        finish(r, 0, NULL);
        return;
    }
    int code = 0;
    char msg[200];
    snprintf(msg, sizeof msg, "HTTP %ld", status);
    etcd_parse_error(r->resp ? r->resp : "", r->len, &code, msg, sizeof msg);
    if (e->user[0] && !r->reauthed && etcd_error_is_auth(code, msg)) {
        r->reauthed = true; /* a new token, then this request again */
        if (e->token[0])
            log_info("cluster", "etcd auth token expired or invalid (%s): authenticating again",
                     msg);
        e->token[0] = 0;
        enqueue(e, r);
        return;
    }
    finish(r, -EPROTO, msg);
}

static void check_done(etcd_t *e)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(e->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        req_t *r = NULL;
        CURLcode cc = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        on_answer(e, r, cc);
    }
}

/* ---- watch stream ---- */

static void watch_feed(req_t *r, const char *data, size_t n)
{
    etcd_t *e = r->e;
    int rc = etcd_stream_feed(&r->stream, data, n);
    if (rc) {
        r->watch_rc = rc;
        snprintf(r->watch_err, sizeof r->watch_err, "watch message over %zu bytes", r->stream.max);
        return;
    }
    const char *m;
    size_t len;
    while (!r->watch_rc && etcd_stream_next(&r->stream, &m, &len) == 1) {
        etcd_watch_msg_t w;
        rc = etcd_parse_watch(m, len, &w, r->watch_err, sizeof r->watch_err);
        if (rc) {
            if (rc == -EPROTO && e->user[0] && etcd_error_is_auth(0, r->watch_err))
                e->token[0] = 0; /* the next request (the watch again) authenticates first */
            r->watch_rc = rc == -EPROTO ? -EPROTO : -EINVAL;
            break;
        }
        if (e->on_msg) e->on_msg(e->watch_arg, &w);
        if (w.canceled) {
            r->watch_rc = -ECANCELED;
            snprintf(r->watch_err, sizeof r->watch_err, "watch canceled: %s",
                     w.compact_revision ? "compacted" : w.cancel_reason);
        }
        etcd_watch_msg_free(&w);
    }
}

/* ---- public ---- */

static req_t *new_req(req_kind_t kind, const char *path, char *body)
{
    req_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->kind = kind;
    snprintf(r->path, sizeof r->path, "%s", path);
    r->body = body;
    return r;
}

int etcd_call(etcd_t *e, const char *path, char *body, etcd_done_fn done, void *arg)
{
    req_t *r = body ? new_req(REQ_CALL, path, body) : NULL;
    if (!r) {
        free(body);
        return -ENOMEM;
    }
    r->e = e;
    r->done = done;
    r->arg = arg;
    enqueue(e, r);
    return 0;
}

int etcd_watch(etcd_t *e, char *body, etcd_watch_msg_fn on_msg, etcd_watch_end_fn on_end, void *arg)
{
    if (e->watch) {
        free(body);
        return -EBUSY;
    }
    req_t *r = body ? new_req(REQ_WATCH, "/watch", body) : NULL;
    if (!r) {
        free(body);
        return -ENOMEM;
    }
    r->e = e;
    etcd_stream_init(&r->stream, ETCD_MSG_MAX);
    e->watch = r;
    e->on_msg = on_msg;
    e->on_end = on_end;
    e->watch_arg = arg;
    enqueue(e, r);
    return 0;
}

void etcd_watch_cancel(etcd_t *e)
{
    req_t *r = e->watch;
    if (!r) return;
    e->watch = NULL;
    e->on_end = NULL;
    e->on_msg = NULL;
    for (req_t **p = &e->pending; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            if (e->pending_tail == r) {
                e->pending_tail = NULL;
                for (req_t *q = e->pending; q; q = q->next)
                    e->pending_tail = q;
            }
            req_free(r);
            return;
        }
    curl_multi_remove_handle(e->multi, r->easy);
    live_unlink(e, r);
    req_free(r);
}

const char *etcd_endpoint(const etcd_t *e)
{
    return e->endpoints[e->cur];
}

etcd_t *etcd_new(struct event_base *base, const etcd_opts_t *o, char *err, size_t errlen)
{
    etcd_t *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->base = base;
    e->connect_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 1000;
    e->request_ms = o->request_timeout_ms > 0 ? o->request_timeout_ms : 3000;
    snprintf(e->cacert, sizeof e->cacert, "%s", o->cacert ? o->cacert : "");
    snprintf(e->cert, sizeof e->cert, "%s", o->cert ? o->cert : "");
    snprintf(e->key, sizeof e->key, "%s", o->key ? o->key : "");
    snprintf(e->user, sizeof e->user, "%s", o->user ? o->user : "");
    snprintf(e->password, sizeof e->password, "%s", o->password ? o->password : "");
    const char *p = o->endpoints ? o->endpoints : "";
    while (*p) {
        size_t n = strcspn(p, ",");
        while (n && p[n - 1] == ' ')
            n--;
        if (n) {
            if (e->nendpoints == ETCD_ENDPOINTS_MAX || n > 900 ||
                (strncmp(p, "http://", 7) && strncmp(p, "https://", 8))) {
                snprintf(err, errlen, "--cluster-etcd: at most %d http(s):// URLs",
                         ETCD_ENDPOINTS_MAX);
                goto fail;
            }
            e->endpoints[e->nendpoints] = strndup(p, n);
            if (!e->endpoints[e->nendpoints]) goto fail;
            while (n > 1 && e->endpoints[e->nendpoints][n - 1] == '/')
                e->endpoints[e->nendpoints][--n] = 0;
            e->nendpoints++;
        }
        p += strcspn(p, ",");
        while (*p == ',' || *p == ' ')
            p++;
    }
    if (!e->nendpoints) {
        snprintf(err, errlen, "--cluster-etcd: no endpoint URL");
        goto fail;
    }
    e->multi = curl_multi_init();
    e->loop = e->multi ? curl_loop_new(base, e->multi, after_action, e) : NULL;
    if (!e->loop) goto fail;
    return e;
fail:
    etcd_free(e);
    return NULL;
}

void etcd_free(etcd_t *e)
{
    if (!e) return;
    e->on_end = NULL;
    while (e->live) {
        req_t *r = e->live;
        e->live = r->next;
        curl_multi_remove_handle(e->multi, r->easy);
        req_free(r);
    }
    while (e->pending) {
        req_t *r = e->pending;
        e->pending = r->next;
        req_free(r);
    }
    if (e->multi) curl_multi_cleanup(e->multi);
    curl_loop_free(e->loop);
    for (int i = 0; i < e->nendpoints; i++)
        free(e->endpoints[i]);
    memset(e->password, 0, sizeof e->password);
    free(e);
}
