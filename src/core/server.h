/*
 * server.h - one HTTP(S) listener of logdistd (ingest thread): libevent's
 * evhttp with bounded headers, bodies and idle time, optionally TLS (OpenSSL
 * bufferevents through evhttp_set_bevcb). A listener serves the ingest path,
 * the admin API, or both (--admin-listen splits them so the admin API never
 * faces agents).
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
} server_role_t;

/* Bind host:port (port 0 = ephemeral). `tls` may be NULL (plain HTTP); it must
 * outlive the server. Returns NULL on failure (logged). */
server_t *server_new(struct event_base *base, const config_t *cfg, const char *host,
                     uint16_t port, server_role_t role, tls_server_t *tls, ingest_t *ing,
                     admin_t *adm);

/* The bound port (useful with port 0). */
uint16_t server_port(const server_t *s);

/* Pause or resume accepting connections (load shedding). */
void server_pause_accepting(server_t *s, bool paused);

/* Stop accepting new connections (existing ones keep being served). */
void server_stop_accepting(server_t *s);

void server_free(server_t *s);

#endif
