/*
 * logdistd.c - the distributor daemon's main(): parse options, start the
 * delivery thread, serve HTTP on the main loop (this thread) and on the other
 * --ingest-threads loops (app/ingest_loops.h), and on SIGTERM/SIGINT stop
 * accepting, drain what is queued and exit 0.
 *
 *   agents --HTTP--> [ingest thread: listener (ingress/conn) -> HTTP framer
 *        (ingress/http) -> server (routing) -> ingest (scan) ] --packet queue-->
 *        [delivery thread: router (balancer, batches) -> sender (curl multi)] --HTTP--> analyzers
 *   durable packets detour through [durability writer thread: WAL append + group fsync]
 *   before the packet queue and the 202.
 *
 * Start-up order: config store (analyzers registered at runtime) merged with
 * the config file and flags; WAL opened and repaired; unacknowledged durable
 * records replayed into the queue; then the threads start.
 */
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "admin/admin.h"
#include "common/log.h"
#include "common/mailbox.h"
#include "core/config.h"
#include "core/auth.h"
#include "core/resource.h"
#include "app/cluster_limits.h"
#include "app/ingest_loops.h"
#include "app/notify.h"
#include "app/server.h"
#include "core/tls.h"
#include "core/metrics.h"
#include "ingress/conn.h"
#include "app/protocols.h"
#include "app/reload.h"
#include "app/replay_wal.h"
#include "route/batch.h"
#include "route/routes.h"
#include "deliver/deliver.h"
#include "ingest/ingest.h"
#include "store/config_store.h"
#include "cluster/cluster.h"
#include "store/durable.h"
#include "store/wal.h"

typedef struct {
    struct event_base *base;
    int signal;
    tls_server_t *tls;
    server_t *servers[2];
    ingest_loops_t *loops; /* --ingest-threads: loops 1..N-1 (NULL with N = 1) */
    protocols_t *protocols; /* syslog, OTLP, forward, Elasticsearch listeners */
    reload_t *reload;       /* SIGHUP and POST /api/v1/reload */
} app_t;

/* Memory pressure: stop accepting connections on an ingest-only listener
 * until it passes. A listener that also serves the admin API keeps accepting
 * (packets get a cheap 503 there), so /health and metrics stay reachable. */
static void on_shedding(void *ctx, bool shedding)
{
    app_t *app = ctx;
    protocols_pause_accepting(app->protocols, shedding);
    if (!app->servers[1]) return;
    server_pause_accepting(app->servers[0], shedding);
    ingest_loops_pause_accepting(app->loops, shedding); /* posted to each loop */
}

/* SIGHUP: re-read the config and apply the difference (app/reload.h; it logs
 * the outcome); live connections are kept. */
static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    app_t *app = arg;
    json_t *result = NULL;
    char err[1200];
    if (app->signal) { /* draining: the delivery thread is stopping */
        log_warn("logdistd", "SIGHUP while shutting down: not reloading");
        return;
    }
    notify_reloading(); /* systemd: RELOADING=1 ... READY=1 around the reload */
    int rc = reload_run(app->reload, &result, err, sizeof err);
    if (rc == 0) json_decref(result);
    notify_ready(rc == 0 ? "running; configuration reloaded"
                         : "running; the last reload failed (see the log), old configuration kept");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    app_t *app = arg;
    app->signal = (int)sig;
    event_base_loopbreak(app->base);
}

/* The drain runs on its own thread while the main loop keeps answering on the
 * connections already open (503 shutting_down, /health 503 draining); the
 * thread posts the loop break to the main loop's mailbox when it is done. */
typedef struct {
    mailbox_msg_t msg; /* first: the message is the job */
    deliver_t *d;
    struct event_base *base;
    mailbox_t *mb;
    uint64_t lost;
} drain_job_t;

static void on_drain_done(mailbox_msg_t *msg)
{
    event_base_loopbreak(((drain_job_t *)msg)->base);
}

static void *drain_main(void *arg)
{
    drain_job_t *j = arg;
    j->lost = deliver_drain_and_stop(j->d);
    j->msg.fn = on_drain_done;
    mailbox_post(j->mb, &j->msg);
    return NULL;
}

/* Drain delivery; serve the main loop meanwhile when a thread can be had. */
static uint64_t drain_serving(deliver_t *d, struct event_base *base)
{
    drain_job_t j = {.d = d, .base = base, .mb = mailbox_new(base)};
    pthread_t th;
    if (!j.mb || pthread_create(&th, NULL, drain_main, &j)) {
        mailbox_free(j.mb);
        return deliver_drain_and_stop(d);
    }
    event_base_dispatch(base); /* until on_drain_done (or another signal) */
    pthread_join(th, NULL);
    mailbox_free(j.mb); /* runs on_drain_done if still queued: harmless */
    return j.lost;
}

/* Open <data_dir>/analyzers.db, add the analyzers it holds to cfg (those
 * named in the config file or flags win), and store cfg's analyzers. */
static int open_config_store(config_t *cfg, config_store_t **out)
{
    char path[1200], err[512];
    snprintf(path, sizeof path, "%s/analyzers.db", cfg->data_dir);
    config_store_t *st = config_store_open_sqlite(path, err, sizeof err);
    if (!st) {
        log_error("logdistd", "config store: %s", err);
        return -1;
    }
    analyzer_spec_t *stored;
    size_t n;
    if (config_store_load(st, &stored, &n)) {
        log_error("logdistd", "config store %s: cannot load analyzers", path);
        config_store_close(st);
        return -1;
    }
    size_t named = cfg->analyzer_count;
    for (size_t i = 0; i < n; i++) {
        bool overridden = false;
        for (size_t j = 0; j < named; j++)
            if (!strcmp(cfg->analyzers[j].id, stored[i].id)) overridden = true;
        char e2[512];
        if (overridden) continue;
        if (config_check_analyzer(&stored[i], e2, sizeof e2) ||
            !config_analyzer_allowed(cfg, stored[i].url, e2, sizeof e2) ||
            !config_analyzer_allowed(cfg, stored[i].health_url, e2, sizeof e2)) {
            log_warn("logdistd", "stored analyzer %s not restored: %s", stored[i].id, e2);
            continue;
        }
        config_put_analyzer(cfg, &stored[i]);
    }
    free(stored);
    for (size_t j = 0; j < named; j++) config_store_put(st, &cfg->analyzers[j]);
    if (n) log_info("logdistd", "restored %zu analyzers from %s", n, path);
    *out = st;
    return 0;
}

/* Every client connection, analyzer connection and WAL segment is a
 * descriptor: raise the soft limit to the hard one (as nginx and HAProxy do)
 * and say when --max-connections (counted over every listener, from accept)
 * cannot be honoured within it. */
static void raise_fd_limit(const config_t *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl)) getrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t need = (rlim_t)cfg->max_connections + 256;
    if (cfg->max_connections && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
        log_warn("logdistd",
                 "open-file limit %llu is below max-connections + 256 (%llu): "
                 "accept() will fail first (it backs off; see accept_errors)",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)need);
}

/* The queue budget as metrics shows it (metrics only read it). */
static void read_queue_gauges(const void *ctx, uint64_t *bytes, uint64_t *records)
{
    *bytes = queue_bytes(ctx);
    *records = queue_records(ctx);
}

/* The start-up line on stdout, one JSON object: where each listener is bound
 * (tests and scripts read the ephemeral ports from it). */
static void print_listening(const config_t *cfg, server_t *srv, server_t *admin_srv,
                            const protocols_t *protocols)
{
    char addr[300];
    json_t *line = json_object();
    snprintf(addr, sizeof addr, "%s:%u", cfg->listen_host, server_port(srv));
    json_object_set_new(line, "listening", json_string(addr));
    if (admin_srv) {
        snprintf(addr, sizeof addr, "%s:%u", cfg->admin_host, server_port(admin_srv));
        json_object_set_new(line, "admin", json_string(addr));
    }
    protocols_describe(protocols, line);
    char *text = json_dumps(line, JSON_COMPACT);
    if (text) printf("%s\n", text);
    free(text);
    json_decref(line);
    fflush(stdout);
}

/* routes_check_members' test: the config (ctx) names analyzer id. */
static bool in_config(void *ctx, const char *id)
{
    const config_t *cfg = ctx;
    for (size_t i = 0; i < cfg->analyzer_count; i++)
        if (!strcmp(cfg->analyzers[i].id, id)) return true;
    return false;
}

/* The route table the config names, checked against the analyzers it names
 * (cfg->analyzers; at start also those the store adds). 0 or -1 with err. */
static int config_routes(const config_t *cfg, routes_t **out, char *err, size_t errlen)
{
    if (routes_from_config(cfg, out, err, errlen)) return -1;
    if (routes_check_members(*out, in_config, (void *)cfg, "routes: ", "configured", err,
                             errlen)) {
        routes_unref(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* The table changed through the API, while the file's routes are still
 * those it descends from; NULL otherwise (a stale one is forgotten). */
static routes_t *stored_routes(const config_t *cfg, config_store_t *store)
{
    char *table = NULL, *base = NULL, err[600];
    routes_t *t = NULL;
    if (!store || config_store_load_routes(store, &table, &base) || !table) goto out;
    if (strcmp(base, cfg->routes ? cfg->routes : "")) {
        log_warn("logdistd", "routes: the file's routes changed since the table was changed "
                 "through the API: the file's are used, the stored table is forgotten");
        config_store_put_routes(store, NULL, NULL);
        goto out;
    }
    routes_defaults_t def = {cfg->affinity_key, cfg->affinity_balance_pct / 100.0, cfg->routes};
    if (routes_parse(table, &def, &t, err, sizeof err))
        log_warn("logdistd", "routes: the stored table is not usable (%s): the file's are used",
                 err);
    else
        log_info("logdistd", "routes: using the table changed through the API (%zu routes)",
                 routes_count(t));
out:
    free(table);
    free(base);
    return t;
}

static int start_routes(const config_t *cfg, deliver_t *d, config_store_t *store)
{
    char err[600];
    routes_t *t = stored_routes(cfg, store);
    if (t) {
        int rc = deliver_set_routes(d, t, true, err, sizeof err);
        routes_unref(t);
        if (!rc) return 0;
        log_warn("logdistd", "routes: the stored table: %s: the file's are used", err);
        t = NULL;
    }
    int rc = config_routes(cfg, &t, err, sizeof err);
    if (!rc) rc = deliver_set_routes(d, t, true, err, sizeof err);
    routes_unref(t);
    if (rc) log_error("logdistd", "%s", err);
    return rc;
}

/* --check-config FILE: build the config as start-up would (file, flags,
 * checks across options, TLS files loadable) and say so; 0 valid, 1 not. */
static int check_config_cmd(int argc, char **argv)
{
    config_t cfg;
    char err[1200];
    if (config_load(&cfg, argc, argv, err, sizeof err)) {
        fprintf(stderr, "logdistd: %s\n", err);
        return 1;
    }
    if (cfg.tls_cert[0]) {
        tls_server_t *t = tls_server_new(cfg.tls_cert, cfg.tls_key, cfg.tls_client_ca, err,
                                         sizeof err);
        if (!t) {
            fprintf(stderr, "logdistd: TLS: %s\n", err);
            config_free(&cfg);
            return 1;
        }
        tls_server_free(t);
    }
    routes_t *routes = NULL;
    if (config_routes(&cfg, &routes, err, sizeof err)) {
        fprintf(stderr, "logdistd: %s\n", err);
        config_free(&cfg);
        return 1;
    }
    size_t nroutes = routes_count(routes);
    routes_unref(routes);
    printf("configuration ok: %zu analyzers, %zu tokens, %zu routes\n", cfg.analyzer_count,
           cfg.token_count, nroutes);
    config_free(&cfg);
    return 0;
}

int main(int argc, char **argv)
{
    if (replay_wal_requested(argc, argv)) return replay_wal_main(argc, argv);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--check-config") || !strncmp(argv[i], "--check-config=", 15))
            return check_config_cmd(argc, argv);
    config_t cfg;
    config_defaults(&cfg);
    int rc = config_from_args(&cfg, argc, argv);
    if (rc) {
        config_free(&cfg);
        return rc > 0 ? 0 : 2;
    }
    log_set_level(cfg.log_level);
    log_set_format(cfg.log_format);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file-size limit gives EFBIG (503 disk_error), not death */
    raise_fd_limit(&cfg);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    batch_id_init(0);

    evthread_use_pthreads();
    int exit_code = 1;
    config_store_t *store = NULL;
    cluster_t *cluster = NULL;
    cluster_limits_t *climits = NULL;
    durable_t *dur = NULL;
    wal_t *wal = NULL;
    app_t app = {0};
    deliver_t *d = NULL;
    ingest_t *ing = NULL;
    admin_t *adm = NULL;
    server_t *srv = NULL, *admin_srv = NULL;
    pkt_queue_t *deferred_q = NULL;
    resource_t *res = NULL;
    struct event *sigterm = NULL, *sigint = NULL, *sighup = NULL;
    config_t named; /* the config as file and flags name it (reload's baseline) */
    bool named_ok = false;
    auth_t *auth = auth_new();
    if (!auth) goto out;
    for (size_t i = 0; i < cfg.token_count; i++) {
        char err[256];
        if (auth_add(auth, cfg.tokens[i], err, sizeof err)) {
            log_error("logdistd", "%s", err);
            goto out;
        }
    }
    char verr[1024];
    if (config_validate(&cfg, verr, sizeof verr)) { /* exposure, TLS pairs, analyzer hosts */
        log_error("logdistd", "%s", verr);
        goto out;
    }
    if (cfg.tls_cert[0]) {
        char err[512];
        app.tls = tls_server_new(cfg.tls_cert, cfg.tls_key, cfg.tls_client_ca, err, sizeof err);
        if (!app.tls) {
            log_error("logdistd", "TLS: %s", err);
            goto out;
        }
    }

    if (mkdir(cfg.data_dir, 0755) && errno != EEXIST) {
        log_error("logdistd", "cannot create data dir %s: %s", cfg.data_dir, strerror(errno));
        goto out;
    }
    /* what the config names, before the store adds the analyzers registered
     * through the API: a reload compares the next config with this */
    if (config_copy(&named, &cfg)) goto out;
    named_ok = true;
    if (open_config_store(&cfg, &store)) goto out;
    d = deliver_new(&cfg);
    struct event_config *ec = event_config_new();
    if (ec) event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST); /* fewer epoll_ctl */
    app.base = ec ? event_base_new_with_config(ec) : NULL;
    if (ec) event_config_free(ec);
    if (!d || !app.base || start_routes(&cfg, d, store)) goto out;
    metrics_set_queue_reader(read_queue_gauges, deliver_queue(d)); /* the queue owns the budget */
    if (cfg.durability != DURABILITY_NONE) {
        wal_options_t wo = {.dir = cfg.data_dir, .segment_bytes = cfg.wal_segment_bytes,
                            .max_disk_bytes = cfg.max_disk_bytes};
        wal_open_stats_t st;
        int wrc = wal_open(&wo, &wal, &st);
        if (wrc) {
            log_error("logdistd", "cannot open the WAL in %s: %s", cfg.data_dir, strerror(-wrc));
            goto out;
        }
        log_info("logdistd", "WAL: %llu segments, %llu records (%llu acknowledged), %llu bytes "
                 "cut from %llu damaged segments",
                 (unsigned long long)st.segments, (unsigned long long)st.records,
                 (unsigned long long)st.acked, (unsigned long long)st.bytes_cut,
                 (unsigned long long)st.segments_cut);
        dur = durable_new(wal, app.base);
        if (!dur) goto out;
        wal = NULL; /* owned by dur */
        scan_limits_t replay_lim = {cfg.max_depth, cfg.max_records_per_packet, cfg.max_record_bytes};
        long n = durable_replay(dur, deliver_queue(d), &replay_lim);
        if (n < 0) {
            log_error("logdistd", "WAL replay failed: %s", strerror((int)-n));
            goto out;
        }
        if (n) log_info("logdistd", "replaying %ld unacknowledged durable records", n);
        deliver_set_durable(d, dur);
        if (durable_start(dur)) goto out;
    }
    ing = ingest_new(&cfg, deliver_queue(d), dur, auth);
    if (ing) ingest_set_route_check(ing, deliver_route_check, d);
    adm = admin_new(&cfg, d, ing, store, auth);
    if (!ing || !adm || ingest_set_loop(ing, app.base) || admin_start_history(adm, app.base))
        goto out;
    /* one wake of the delivery thread per loop turn, not per packet */
    if (queue_defer_wakes(deliver_queue(d), app.base)) goto out;
    deferred_q = deliver_queue(d);
    /* bodies buffered before they are packets, over every connection */
    conn_budget_set_limit(cfg.max_inflight_body_bytes);
    /* loop 0 is this one; loops 1..N-1 get their own threads and listeners on
     * the same port (SO_REUSEPORT, so this listener needs it too) */
    server_role_t role = cfg.admin_host[0] ? SERVE_INGEST : SERVE_ALL;
    bool multi = cfg.ingest_threads > 1;
    srv = server_new_on_loop(app.base, &cfg, cfg.listen_host, cfg.listen_port, role, app.tls, ing,
                             NULL, adm, multi);
    if (!srv) goto out;
    if (multi) {
        app.loops = ingest_loops_new(cfg.ingest_threads - 1, &cfg, cfg.listen_host,
                                     server_port(srv), role, app.tls, ing, adm, deliver_queue(d));
        if (!app.loops) goto out;
    }
    if (cfg.admin_host[0]) {
        admin_srv = server_new(app.base, &cfg, cfg.admin_host, cfg.admin_port, SERVE_ADMIN,
                               app.tls, ing, adm);
        if (!admin_srv) goto out;
    }
    app.protocols = protocols_start(app.base, &cfg, app.tls, ing, adm);
    if (!app.protocols) goto out;
    if (deliver_start(d)) goto out;
    if (cfg.cluster_etcd[0]) { /* a cluster node (docs/CLUSTER.md): after the delivery thread */
        char cerr[300] = "";
        cluster = cluster_new(&cfg, d, store, server_port(srv), cerr, sizeof cerr);
        if (!cluster) {
            log_error("logdistd", "cluster: %s", cerr[0] ? cerr : "out of memory");
            goto out;
        }
        admin_set_cluster(adm, cluster);
        /* the global rate limits are the cluster's: split among the live nodes */
        if (!(climits = cluster_limits_new(ing, &cfg))) goto out;
        cluster_on_members(cluster, cluster_limits_on_members, climits);
        if (cluster_start(cluster)) goto out;
    }

    reload_targets_t rt = {.ing = ing, .d = d, .auth = auth, .tls = app.tls, .admin = adm,
                           .limits = climits};
    app.reload = reload_new(&named, argc, argv, &rt);
    if (!app.reload) goto out;
    admin_set_reload(adm, reload_admin_hook, app.reload);

    app.servers[0] = srv;
    app.servers[1] = admin_srv;
    res = resource_new(app.base, cfg.memory_limit, cfg.min_free_memory, on_shedding, &app);
    if (!res) goto out;
    ingest_set_resource(ing, res);

    sigterm = evsignal_new(app.base, SIGTERM, on_signal, &app);
    sigint = evsignal_new(app.base, SIGINT, on_signal, &app);
    sighup = evsignal_new(app.base, SIGHUP, on_sighup, &app);
    evsignal_add(sigterm, NULL);
    evsignal_add(sigint, NULL);
    evsignal_add(sighup, NULL);

    print_listening(&cfg, srv, admin_srv, app.protocols);
    const char *strategy = cfg.strategy == BALANCER_SWRR ? "swrr" : "random";
    log_event(LOG_INFO, "logdistd", "listening",
              LOG_FIELDS(LF_STR("host", cfg.listen_host), LF_UINT("port", server_port(srv)),
                         LF_STR("scheme", app.tls ? "https" : "http"),
                         LF_BOOL("auth", auth_enabled(auth)),
                         LF_UINT("analyzers", cfg.analyzer_count), LF_STR("strategy", strategy),
                         LF_UINT("ingest_threads", multi ? cfg.ingest_threads : 1)),
              "listening on %s:%u (%s%s) with %zu analyzers, strategy %s", cfg.listen_host,
              server_port(srv), app.tls ? "https" : "http",
              auth_enabled(auth) ? ", tokens required" : "", cfg.analyzer_count, strategy);
    if (app.loops && ingest_loops_start(app.loops)) goto out;
    if (multi) log_info("logdistd", "%u ingest loops", cfg.ingest_threads);
    /* systemd Type=notify: the WAL is replayed and every listener is bound */
    char status[320];
    snprintf(status, sizeof status, "listening on %s:%u (%s), %zu analyzers", cfg.listen_host,
             server_port(srv), app.tls ? "https" : "http", cfg.analyzer_count);
    notify_ready(status);

    event_base_dispatch(app.base);
    notify_stopping();

    log_event(LOG_INFO, "logdistd", "draining",
              LOG_FIELDS(LF_INT("signal", app.signal), LF_UINT("timeout_ms", cfg.drain_timeout_ms)),
              "signal %d: draining (up to %u ms)", app.signal, cfg.drain_timeout_ms);
    cluster_stop(cluster); /* leave the cluster first: the lease is revoked */
    server_stop_accepting(srv);
    server_stop_accepting(admin_srv);
    protocols_stop(app.protocols);
    ingest_set_draining(ing, true);
    admin_set_draining(adm, true);
    ingest_loops_drain(app.loops); /* the same on every other loop, on its thread */
    /* packets waiting for the disk: let the writer finish, then queue them */
    durable_wait_idle(dur);
    event_base_loop(app.base, EVLOOP_NONBLOCK);
    ingest_loops_sync(app.loops); /* their completions ran on their loops */
    uint64_t lost = drain_serving(d, app.base); /* acks still go to the writer */
    log_event(LOG_INFO, "logdistd", "stopped", LOG_FIELDS(LF_UINT("records_undelivered", lost)),
              "stopped; %llu records undelivered at exit", (unsigned long long)lost);
    exit_code = 0;
out:
    if (sigterm) event_free(sigterm);
    if (sigint) event_free(sigint);
    if (sighup) event_free(sighup);
    resource_free(res);
    /* the other loops: stopped, then (no durable completion can reach them any
     * more) freed, while the delivery queue is still there */
    ingest_loops_stop(app.loops);
    durable_wait_idle(dur);
    ingest_loops_free(app.loops);
    server_free(srv);
    server_free(admin_srv);
    protocols_free(app.protocols);
    cluster_free(cluster); /* no server can call it now; it calls into d */
    cluster_limits_free(climits); /* after the cluster thread that called it */
    metrics_set_queue_reader(NULL, NULL); /* the queue goes with d */
    if (deferred_q) queue_defer_wakes_end(deferred_q);
    deliver_free(d); /* stops delivery before the WAL writer goes */
    durable_free(dur);
    wal_close(wal);
    config_store_close(store);
    tls_server_free(app.tls);
    admin_free(adm);
    reload_free(app.reload); /* after every server: no request can reach it now */
    auth_free(auth);
    ingest_free(ing);
    if (app.base) event_base_free(app.base);
    curl_global_cleanup();
    if (named_ok) config_free(&named);
    config_free(&cfg);
    return exit_code;
}
