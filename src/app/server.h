/*
 * server.h - one HTTP(S) listener of logdistd: a listener of the connection
 * layer (ingress/conn.h: accept, TLS, connection limits counted from accept,
 * header deadline, body budget) with the HTTP/1.1 framer (ingress/http.h),
 * and the routing of its requests to ingest and the admin API. A listener
 * serves the ingest path, the admin API, or both (--admin-listen splits them
 * so the admin API never faces agents).
 *
 * Per request, once the framer has checked the connection's request rate
 * (--max-requests-per-conn-s: 429 rate_limited), the path routes its head:
 * /api/v1/logs to ingest (ingest_worker_on_head/ingest_worker_on_request),
 * /v1/logs to OTLP (proto/otlp.h), anything else to the admin API
 * (admin_on_head/admin_on_request) - on an ingest-only listener only /health,
 * a 404 for the rest. An Elasticsearch listener sends everything to
 * proto/elastic.h. Runs on the loop `base`.
 */
#ifndef LOGDIST_SERVER_H
#define LOGDIST_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "admin/admin.h"
#include "core/config.h"
#include "core/tls.h"
#include "ingest/ingest.h"

struct event_base;
typedef struct server server_t;

typedef enum {
    SERVE_ALL,    /* /api/v1/logs and the admin API */
    SERVE_INGEST, /* /api/v1/logs and /health only */
    SERVE_ADMIN,  /* the admin API only */
    SERVE_OTLP,   /* --otlp-listen: /v1/logs (OTLP/HTTP) and /health only */
    SERVE_ELASTIC, /* --elasticsearch-listen: the Elasticsearch bulk API, every path */
} server_role_t;

/* Bind host:port (port 0 = ephemeral). `tls` may be NULL (plain HTTP); it must
 * outlive the server. host NULL: no listening socket, connections come only
 * through server_adopt(). Returns NULL on failure (logged). */
server_t *server_new(struct event_base *base, const config_t *cfg, const char *host,
                     uint16_t port, server_role_t role, tls_server_t *tls, ingest_t *ing,
                     admin_t *adm);

/* The same on ingest loop `base` of --ingest-threads: ingest requests are
 * served by `worker` (that loop's ingest state; NULL = ing's main worker) and,
 * with `reuseport`, the socket is bound with SO_REUSEPORT so that every loop
 * has its own listener on the same port (the kernel spreads connections). The
 * server belongs to `base`'s thread: freed on it or after it ended; the other
 * server_* calls too (post them to the loop). Creating it before the loop runs
 * is fine from any thread. */
server_t *server_new_on_loop(struct event_base *base, const config_t *cfg, const char *host,
                             uint16_t port, server_role_t role, tls_server_t *tls, ingest_t *ing,
                             ingest_worker_t *worker, admin_t *adm, bool reuseport);

/* Serve an already connected stream socket as if this server had accepted it
 * (listener_adopt: counted and limited like any other; tests, the fuzz target
 * over a socketpair). Takes fd (closed on failure). 0 or negative errno. */
int server_adopt(server_t *s, int fd);

/* The bound port (useful with port 0). */
uint16_t server_port(const server_t *s);

/* Pause or resume accepting connections (load shedding). */
void server_pause_accepting(server_t *s, bool paused);

/* Stop accepting new connections for good (drain); connections already open
 * keep being served (a packet gets 503 shutting_down, /health 503 draining).
 * NULL is fine. */
void server_stop_accepting(server_t *s);

/* Close every connection and free. NULL is fine. */
void server_free(server_t *s);

#endif
