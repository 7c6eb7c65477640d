/*
 * protocols.c - see protocols.h.
 */
#include "app/protocols.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/server.h"
#include "common/log.h"
#include "proto/forward.h"
#include "proto/syslog.h"

struct protocols {
    syslog_listener_t *syslog[CONFIG_SYSLOG_LISTEN_MAX];
    size_t nsyslog;
    server_t *otlp, *elastic;
    forward_listener_t *forward;
    char otlp_addr[300], forward_addr[300], elastic_addr[300];
};

/* An HTTP server of `role` on spec HOST:PORT; its bound address into addr. */
static server_t *http_listener(struct event_base *base, const config_t *cfg, const char *spec,
                               server_role_t role, tls_server_t *tls, ingest_t *ing, admin_t *adm,
                               char *addr, size_t addrlen)
{
    char host[256];
    uint16_t port;
    if (config_split_hostport(spec, host, sizeof host, &port)) return NULL;
    server_t *s = server_new(base, cfg, host, port, role, tls, ing, adm);
    if (s) snprintf(addr, addrlen, "%s:%u", host, server_port(s));
    return s;
}

protocols_t *protocols_start(struct event_base *base, const config_t *cfg, tls_server_t *tls,
                             ingest_t *ing, admin_t *adm)
{
    protocols_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    ingest_worker_t *w = ingest_main_worker(ing);
    for (uint32_t i = 0; i < cfg->syslog_listen_count; i++) {
        p->syslog[i] = syslog_listener_new(base, w, cfg, cfg->syslog_listen[i], tls);
        if (!p->syslog[i]) goto err;
        p->nsyslog++;
    }
    if (cfg->otlp_listen[0]) {
        p->otlp = http_listener(base, cfg, cfg->otlp_listen, SERVE_OTLP, tls, ing, adm,
                                p->otlp_addr, sizeof p->otlp_addr);
        if (!p->otlp) goto err;
    }
    if (cfg->elasticsearch_listen[0]) {
        p->elastic = http_listener(base, cfg, cfg->elasticsearch_listen, SERVE_ELASTIC, tls, ing,
                                   adm, p->elastic_addr, sizeof p->elastic_addr);
        if (!p->elastic) goto err;
    }
    if (cfg->forward_listen[0]) {
        char host[256];
        uint16_t port;
        if (config_split_hostport(cfg->forward_listen, host, sizeof host, &port)) goto err;
        p->forward = forward_listener_new(base, w, cfg, host, port, NULL);
        if (!p->forward) goto err;
        snprintf(p->forward_addr, sizeof p->forward_addr, "%s:%u", host,
                 forward_listener_port(p->forward));
    }
    return p;
err:
    log_error("logdistd", "a protocol listener could not be started");
    protocols_free(p);
    return NULL;
}

void protocols_describe(const protocols_t *p, json_t *line)
{
    if (p->nsyslog) {
        json_t *a = json_array();
        for (size_t i = 0; i < p->nsyslog; i++)
            json_array_append_new(a, json_string(syslog_listener_url(p->syslog[i])));
        json_object_set_new(line, "syslog", a);
    }
    if (p->otlp) json_object_set_new(line, "otlp", json_string(p->otlp_addr));
    if (p->forward) json_object_set_new(line, "forward", json_string(p->forward_addr));
    if (p->elastic) json_object_set_new(line, "elasticsearch", json_string(p->elastic_addr));
}

void protocols_pause_accepting(protocols_t *p, bool paused)
{
    if (!p) return;
    server_pause_accepting(p->otlp, paused);
    server_pause_accepting(p->elastic, paused);
}

void protocols_stop(protocols_t *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->nsyslog; i++) syslog_listener_stop(p->syslog[i]);
    forward_listener_stop(p->forward);
    server_stop_accepting(p->otlp);
    server_stop_accepting(p->elastic);
}

void protocols_free(protocols_t *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->nsyslog; i++) syslog_listener_free(p->syslog[i]);
    forward_listener_free(p->forward);
    server_free(p->otlp);
    server_free(p->elastic);
    free(p);
}
