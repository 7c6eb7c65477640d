/*
 * server.c - see server.h.
 *
 * The per-connection request rate needs state per connection, and the
 * handler sees only requests: the token buckets are kept in a small hash
 * table keyed by the connection's address (http_req_conn). A connection
 * freed and a new one allocated at the same address would share a bucket,
 * so a bucket not used for a second is started afresh - which is exact for
 * the same connection too, as a bucket (burst = one second of the rate) is
 * full again after a second anyway. What remains approximate: a new
 * connection reusing the address of one that made requests less than a
 * second ago starts with what that one left (at worst an empty bucket: its
 * first requests may get 429 for up to a second). A sweep every second drops
 * the buckets not used for a second, so the table holds only connections
 * active in the last second.
 */
#include "core/server.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_body.h"
#include "common/http_reply.h"
#include "common/log.h"
#include "common/util.h"
#include "core/metrics.h"
#include "ingress/conn.h"
#include "ingress/http.h"

#define LOGS_PATH "/api/v1/logs"
#define RATE_BUCKETS 1024      /* hash slots of the request-rate table (chained) */
#define RATE_FORGET_US 1000000 /* a bucket unused this long is started afresh */
#define MAX_HEADER_LINES 100   /* as Apache's LimitRequestFields */
#define MAX_URI_BYTES 8192

typedef struct rate_bucket {
    struct rate_bucket *next;
    const conn_t *conn; /* identity only, never dereferenced */
    double tokens;
    uint64_t last_us;
} rate_bucket_t;

struct server {
    listener_t *listener;
    http_server_t *http;
    server_role_t role;
    ingest_t *ing;
    admin_t *adm;
    uint32_t max_rps;        /* --max-requests-per-conn-s (0 = off) */
    rate_bucket_t **rate;    /* RATE_BUCKETS chains, when max_rps */
    struct event *sweep_ev;  /* drops stale buckets every second */
};

static size_t rate_slot(const conn_t *c)
{
    uintptr_t x = (uintptr_t)c;
    x ^= x >> 17;
    x *= (uintptr_t)0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 20) & (RATE_BUCKETS - 1);
}

/* One request of r's connection: false when over its rate (then counted). */
static bool rate_admit(server_t *s, const http_req_t *r)
{
    if (!s->max_rps) return true;
    const conn_t *c = http_req_conn(r);
    if (!c) return true;
    uint64_t now = now_us();
    rate_bucket_t **head = &s->rate[rate_slot(c)], *b = *head;
    while (b && b->conn != c) b = b->next;
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b) return true; /* no memory: do not refuse a client for it */
        b->conn = c;
        b->next = *head;
        *head = b;
        b->tokens = s->max_rps;
    } else if (now - b->last_us >= RATE_FORGET_US) {
        b->tokens = s->max_rps; /* full again, or another connection at that address */
    } else {
        b->tokens += (double)(now - b->last_us) * s->max_rps / 1e6;
        if (b->tokens > s->max_rps) b->tokens = s->max_rps;
    }
    b->last_us = now;
    if (b->tokens < 1) {
        METRIC_ADD(requests_rate_limited, 1);
        return false;
    }
    b->tokens -= 1;
    return true;
}

static void on_rate_sweep(evutil_socket_t fd, short what, void *arg)
{
    server_t *s = arg;
    uint64_t now = now_us();
    for (size_t i = 0; i < RATE_BUCKETS; i++) {
        rate_bucket_t **pp = &s->rate[i];
        while (*pp) {
            if (now - (*pp)->last_us >= RATE_FORGET_US) {
                rate_bucket_t *dead = *pp;
                *pp = dead->next;
                free(dead);
            } else {
                pp = &(*pp)->next;
            }
        }
    }
}

static bool path_is(const char *uri, const char *path)
{
    size_t n = strlen(path);
    return !strncmp(uri, path, n) && (uri[n] == 0 || uri[n] == '?' || uri[n] == '/');
}

/* Where a request goes on this listener. */
typedef enum { TO_INGEST, TO_ADMIN, TO_NOWHERE } route_t;

static route_t route_of(const server_t *s, const http_req_t *r)
{
    const char *uri = http_req_uri(r);
    bool logs = path_is(uri, LOGS_PATH);
    if (logs && s->role != SERVE_ADMIN) return TO_INGEST;
    if (!logs && (s->role != SERVE_INGEST || path_is(uri, "/health"))) return TO_ADMIN;
    return TO_NOWHERE;
}

static void on_head(void *ctx, http_req_t *r)
{
    server_t *s = ctx;
    if (!rate_admit(s, r)) {
        http_reply_error(r, 429, "rate_limited",
                         "too many requests on this connection (max-requests-per-conn-s)", -1, 1);
        return;
    }
    switch (route_of(s, r)) {
    case TO_INGEST: ingest_on_head(s->ing, r); break;
    case TO_ADMIN: admin_on_head(s->adm, r); break;
    default: http_reply_error(r, 404, "not_found", "no such endpoint on this listener", -1, 0);
    }
}

static void on_request(void *ctx, http_req_t *r)
{
    server_t *s = ctx;
    switch (route_of(s, r)) {
    case TO_INGEST: ingest_on_request(s->ing, r); break;
    case TO_ADMIN: admin_on_request(s->adm, r); break;
    default: /* on_head answered it: not reached */
        http_reply_error(r, 404, "not_found", "no such endpoint on this listener", -1, 0);
    }
}

/* A connection over a limit of the layer (the framer answers 503
 * too_many_connections and closes it). */
static void on_refused(void *ctx, const char *reason)
{
    if (!strcmp(reason, "draining")) {
        METRIC_ADD(connections_shed, 1);
        return;
    }
    METRIC_ADD(connections_refused, 1);
    if (!strcmp(reason, "max-connections-per-ip")) METRIC_ADD(connections_refused_per_ip, 1);
}

server_t *server_new(struct event_base *base, const config_t *cfg, const char *host,
                     uint16_t port, server_role_t role, tls_server_t *tls, ingest_t *ing,
                     admin_t *adm)
{
    server_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->role = role;
    s->ing = ing;
    s->adm = adm;
    s->max_rps = cfg->max_requests_per_conn_s;
    if (s->max_rps) {
        s->rate = calloc(RATE_BUCKETS, sizeof *s->rate);
        s->sweep_ev = event_new(base, -1, EV_PERSIST, on_rate_sweep, s);
        struct timeval sec = {1, 0};
        if (!s->rate || !s->sweep_ev || event_add(s->sweep_ev, &sec)) goto fail;
    }
    http_handler_t h = {on_head, on_request, on_refused, s};
    http_limits_t hl = {
        .max_header_bytes = cfg->max_header_bytes,
        .max_headers = MAX_HEADER_LINES,
        .max_uri_bytes = cfg->max_header_bytes < MAX_URI_BYTES ? cfg->max_header_bytes
                                                               : MAX_URI_BYTES,
        .max_requests_per_conn_s = 0, /* counted here (rate_admit), per request head */
    };
    s->http = http_server_new(&h, &hl);
    if (!s->http) goto fail;
    /* the largest input one request may need at once: its head and its body */
    size_t body = role == SERVE_ADMIN ? ADMIN_BODY_MAX
                  : cfg->max_body_bytes > ADMIN_BODY_MAX ? cfg->max_body_bytes
                                                         : ADMIN_BODY_MAX;
    conn_limits_t cl = {
        .max_connections = cfg->max_connections,
        .max_connections_per_ip = cfg->max_connections_per_ip,
        .header_timeout_ms = cfg->idle_timeout_s * 1000u,
        .idle_timeout_ms = cfg->idle_timeout_s * 1000u,
        .max_input_bytes = cfg->max_header_bytes + body + 64 * 1024,
    };
    s->listener = listener_new(base, host, port, false, tls, &cl, &http_framer, s->http);
    if (!s->listener) { /* logged by listener_new */
        log_error("server", "cannot listen on %s:%u", host, port);
        goto fail;
    }
    return s;
fail:
    server_free(s);
    return NULL;
}

uint16_t server_port(const server_t *s)
{
    return listener_port(s->listener);
}

void server_pause_accepting(server_t *s, bool paused)
{
    if (s && s->listener) listener_pause(s->listener, paused);
}

void server_stop_accepting(server_t *s)
{
    if (s && s->listener) listener_stop(s->listener);
}

void server_free(server_t *s)
{
    if (!s) return;
    if (s->listener) listener_free(s->listener); /* closes its connections: no callback after */
    if (s->http) http_server_free(s->http);
    if (s->sweep_ev) event_free(s->sweep_ev);
    if (s->rate) {
        for (size_t i = 0; i < RATE_BUCKETS; i++) {
            rate_bucket_t *b = s->rate[i];
            while (b) {
                rate_bucket_t *n = b->next;
                free(b);
                b = n;
            }
        }
        free(s->rate);
    }
    free(s);
}
