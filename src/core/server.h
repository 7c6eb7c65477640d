/*
 * server.h - the HTTP listener of logdistd (ingest thread): one libevent
 * evhttp server with bounded headers, bodies and idle time, dispatching
 * /api/v1/logs to ingest and everything else to admin. TLS (a later issue)
 * plugs in here through evhttp_set_bevcb().
 */
#ifndef LOGDIST_SERVER_H
#define LOGDIST_SERVER_H

#include <stdint.h>

#include "admin/admin.h"
#include "core/config.h"
#include "ingest/ingest.h"

struct event_base;
typedef struct server server_t;

/* Bind cfg->listen_host:listen_port (port 0 = ephemeral). Returns NULL on failure (logged). */
server_t *server_new(struct event_base *base, const config_t *cfg, ingest_t *ing, admin_t *adm);

/* The bound port (useful with port 0). */
uint16_t server_port(const server_t *s);

/* Stop accepting new connections (existing ones keep being served). */
void server_stop_accepting(server_t *s);

void server_free(server_t *s);

#endif
