/*
 * server.c - see server.h. The connection layer counts and limits
 * connections (on_refused only counts them here); the HTTP framer refuses
 * malformed requests and enforces the per-connection request rate itself.
 */
#include "app/server.h"

#include <stdlib.h>
#include <string.h>

#include "admin/admin_body.h"
#include "ingress/http_reply.h"
#include "common/log.h"
#include "core/metrics.h"
#include "ingress/conn.h"
#include "ingress/http.h"
#include "proto/elastic.h"
#include "proto/otlp.h"

#define LOGS_PATH "/api/v1/logs"
#define OTLP_LOGS_PATH "/v1/logs"
#define MAX_HEADER_LINES 100   /* as Apache's LimitRequestFields */
#define MAX_URI_BYTES 8192

struct server {
    listener_t *listener;
    http_server_t *http;
    framer_ops_t ops; /* http_framer, with open counting the loop's connections */
    server_role_t role;
    ingest_t *ing;
    ingest_worker_t *worker; /* this loop's ingest state (NULL: no ingest) */
    admin_t *adm;
};

static bool path_is(const char *uri, const char *path)
{
    size_t n = strlen(path);
    return !strncmp(uri, path, n) && (uri[n] == 0 || uri[n] == '?' || uri[n] == '/');
}

/* Where a request goes on this listener. */
typedef enum { TO_INGEST, TO_OTLP, TO_ELASTIC, TO_ADMIN, TO_NOWHERE } dest_t;

static dest_t route_of(const server_t *s, const http_req_t *r)
{
    const char *uri = http_req_uri(r);
    if (s->role == SERVE_ELASTIC) return TO_ELASTIC;
    bool health = path_is(uri, "/health");
    if (s->role == SERVE_OTLP)
        return path_is(uri, OTLP_LOGS_PATH) ? TO_OTLP : health ? TO_ADMIN : TO_NOWHERE;
    bool logs = path_is(uri, LOGS_PATH);
    if (logs && s->role != SERVE_ADMIN) return TO_INGEST;
    if (s->role != SERVE_ADMIN && path_is(uri, OTLP_LOGS_PATH)) return TO_OTLP;
    if (!logs && (s->role != SERVE_INGEST || health)) return TO_ADMIN;
    return TO_NOWHERE;
}

static void on_head(void *ctx, http_req_t *r)
{
    server_t *s = ctx;
    switch (route_of(s, r)) {
    case TO_INGEST: ingest_worker_on_head(s->worker, r); break;
    case TO_OTLP: otlp_on_head(s->worker, r); break;
    case TO_ELASTIC: elastic_on_head(s->worker, r); break;
    case TO_ADMIN: admin_on_head(s->adm, r); break;
    default: http_reply_error(r, 404, "not_found", "no such endpoint on this listener", -1, 0);
    }
}

static void on_request(void *ctx, http_req_t *r)
{
    server_t *s = ctx;
    switch (route_of(s, r)) {
    case TO_INGEST: ingest_worker_on_request(s->worker, r); break;
    case TO_OTLP: otlp_on_request(s->worker, r); break;
    case TO_ELASTIC: elastic_on_request(s->worker, r); break;
    case TO_ADMIN: admin_on_request(s->adm, r); break;
    default: /* on_head answered it: not reached */
        http_reply_error(r, 404, "not_found", "no such endpoint on this listener", -1, 0);
    }
}

/* A connection over a limit of the layer: the layer counts it
 * (connections_refused, or connections_shed while draining) and the framer
 * answers 503 too_many_connections; here only the per-address share. */
static void on_refused(void *ctx, const char *reason)
{
    if (!strcmp(reason, "max-connections-per-ip")) METRIC_ADD(connections_refused_per_ip, 1);
}

/* A connection accepted on this server's listener: counted for its loop. */
static void *counting_open(conn_t *c, void *proto_ctx)
{
    server_t *s = proto_ctx;
    if (s->worker && s->role != SERVE_ADMIN) ingest_worker_count_connection(s->worker);
    if (s->role == SERVE_OTLP) PROTO_ADD(PROTO_OTLP, connections, 1); /* --otlp-listen only */
    if (s->role == SERVE_ELASTIC) PROTO_ADD(PROTO_ELASTICSEARCH, connections, 1);
    return http_framer.open(c, s->http);
}

server_t *server_new(struct event_base *base, const config_t *cfg, const char *host,
                     uint16_t port, server_role_t role, tls_server_t *tls, ingest_t *ing,
                     admin_t *adm)
{
    return server_new_on_loop(base, cfg, host, port, role, tls, ing, NULL, adm, false);
}

server_t *server_new_on_loop(struct event_base *base, const config_t *cfg, const char *host,
                             uint16_t port, server_role_t role, tls_server_t *tls, ingest_t *ing,
                             ingest_worker_t *worker, admin_t *adm, bool reuseport)
{
    server_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->role = role;
    s->ing = ing;
    s->worker = worker ? worker : ing ? ingest_main_worker(ing) : NULL;
    s->adm = adm;
    s->ops = http_framer;
    s->ops.open = counting_open;
    http_handler_t h = {on_head, on_request, on_refused, s};
    http_limits_t hl = {
        .max_header_bytes = cfg->max_header_bytes,
        .max_headers = MAX_HEADER_LINES,
        .max_uri_bytes = cfg->max_header_bytes < MAX_URI_BYTES ? cfg->max_header_bytes
                                                               : MAX_URI_BYTES,
        .max_requests_per_conn_s = cfg->max_requests_per_conn_s, /* 429 by the framer */
        .body_wait_ms = cfg->idle_timeout_s * 1000u, /* then 503 body_budget_exhausted */
    };
    s->http = http_server_new(&h, &hl);
    if (!s->http) goto fail;
    /* the largest input one request may need at once: its head and its body */
    size_t body = role == SERVE_ADMIN ? ADMIN_BODY_MAX
                  : cfg->max_body_bytes > ADMIN_BODY_MAX ? cfg->max_body_bytes
                                                         : ADMIN_BODY_MAX;
    conn_limits_t cl = {
        .max_connections = cfg->max_connections,
        .group = role == SERVE_ADMIN ? 1 : 0, /* agents cannot take the admin listener's share */
        .max_connections_per_ip = cfg->max_connections_per_ip,
        .header_timeout_ms = cfg->idle_timeout_s * 1000u,
        .idle_timeout_ms = cfg->idle_timeout_s * 1000u,
        .max_input_bytes = cfg->max_header_bytes + body + 64 * 1024,
    };
    s->listener = host ? listener_new(base, host, port, reuseport, tls, &cl, &s->ops, s)
                       : listener_new_unbound(base, tls, &cl, &s->ops, s);
    if (!s->listener) { /* logged by listener_new */
        log_error("server", "cannot listen on %s:%u", host ? host : "(unbound)", port);
        goto fail;
    }
    return s;
fail:
    server_free(s);
    return NULL;
}

int server_adopt(server_t *s, int fd)
{
    return listener_adopt(s->listener, fd, NULL);
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
    free(s);
}
