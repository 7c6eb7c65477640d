/*
 * logdistd.c - the distributor daemon's main(): parse options, start the
 * delivery thread, serve HTTP on the ingest thread (this one), and on
 * SIGTERM/SIGINT stop accepting, drain what is queued and exit 0.
 *
 *   agents --HTTP--> [ingest thread: server -> ingest (scan) ] --packet queue-->
 *        [delivery thread: router (balancer, batches) -> sender (curl multi)] --HTTP--> analyzers
 */
#include <curl/curl.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "admin/admin.h"
#include "common/log.h"
#include "core/config.h"
#include "core/server.h"
#include "deliver/batch.h"
#include "deliver/deliver.h"
#include "ingest/ingest.h"

typedef struct {
    struct event_base *base;
    int signal;
} app_t;

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    app_t *app = arg;
    app->signal = (int)sig;
    event_base_loopbreak(app->base);
}

int main(int argc, char **argv)
{
    config_t cfg;
    config_defaults(&cfg);
    int rc = config_from_args(&cfg, argc, argv);
    if (rc) {
        config_free(&cfg);
        return rc > 0 ? 0 : 2;
    }
    log_set_level(cfg.log_level);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    batch_id_init((uint32_t)time(NULL));

    int exit_code = 1;
    app_t app = {0};
    deliver_t *d = NULL;
    ingest_t *ing = NULL;
    admin_t *adm = NULL;
    server_t *srv = NULL;
    struct event *sigterm = NULL, *sigint = NULL;

    d = deliver_new(&cfg);
    app.base = event_base_new();
    if (!d || !app.base) goto out;
    ing = ingest_new(&cfg, deliver_queue(d));
    adm = admin_new(d);
    if (!ing || !adm) goto out;
    srv = server_new(app.base, &cfg, ing, adm);
    if (!srv) goto out;
    if (deliver_start(d)) goto out;

    sigterm = evsignal_new(app.base, SIGTERM, on_signal, &app);
    sigint = evsignal_new(app.base, SIGINT, on_signal, &app);
    evsignal_add(sigterm, NULL);
    evsignal_add(sigint, NULL);

    printf("{\"listening\":\"%s:%u\"}\n", cfg.listen_host, server_port(srv));
    fflush(stdout);
    log_info("logdistd", "listening on %s:%u with %zu analyzers, strategy %s", cfg.listen_host,
             server_port(srv), cfg.analyzer_count,
             cfg.strategy == BALANCER_SWRR ? "swrr" : "random");

    event_base_dispatch(app.base);

    log_info("logdistd", "signal %d: draining (up to %u ms)", app.signal, cfg.drain_timeout_ms);
    server_stop_accepting(srv);
    ingest_set_draining(ing, true);
    admin_set_draining(adm, true);
    uint64_t lost = deliver_drain_and_stop(d);
    log_info("logdistd", "stopped; %llu records undelivered at exit", (unsigned long long)lost);
    exit_code = 0;
out:
    if (sigterm) event_free(sigterm);
    if (sigint) event_free(sigint);
    server_free(srv);
    deliver_free(d);
    admin_free(adm);
    ingest_free(ing);
    if (app.base) event_base_free(app.base);
    curl_global_cleanup();
    config_free(&cfg);
    return exit_code;
}
