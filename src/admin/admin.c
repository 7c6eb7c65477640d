/*
 * admin.c - see admin.h. Request bodies are small JSON objects parsed with
 * jansson in admin_body.c (pure, fuzzed; bounded to ADMIN_BODY_MAX); every error is a JSON body.
 *
 * Two phases (ingress/http.h): admin_on_head() checks the token (every path
 * but /health) and whether the path and method take a body; only a request
 * that passed both has its body read (at most ADMIN_BODY_MAX), and
 * admin_on_request() routes it. Everything else is answered from its head.
 *
 * Threads: on the shared ingest port (no --admin-listen) an admin request may
 * arrive on any of the --ingest-threads loops. Every endpoint but /health is
 * served under one mutex (`mu`), on the loop the request arrived on. Handing
 * the request to the main loop instead would need a cross-thread answer path
 * the connection layer does not have (a request belongs to its connection's
 * loop), and admin requests are rare and short: their work is a synchronous
 * call into the delivery thread (deliver_*, which never takes this mutex, so
 * no cycle), a config-store write, or JSON. The mutex makes a registry change
 * and its persist() one step, so two loops never store an older spec last.
 * /health takes no lock (an atomic count) so probes never wait on an admin
 * call. A dead-letter replay's state (replay_t) belongs to the loop that
 * started it: ingest_inject_on() runs its packets, and their durable
 * completions, on that loop; `replaying` and `draining` are atomics.
 */
#include "admin/admin.h"
#include "admin/admin_body.h"
#include "admin/admin_routes.h"
#include "admin/prom.h"
#include "admin/assets.h"
#include "admin/history.h"
#include "cluster/cluster.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingress/http_reply.h"
#include "common/log.h"
#include "common/util.h"
#include "core/auth.h"
#include "ingress/auth_http.h"
#include "core/metrics.h"
#include "ingress/conn.h"

#define ANALYZERS_PATH "/api/v1/analyzers"
#define HISTORY_INTERVAL_MS 1000

/* Headers of every dashboard file: never cached, never framed, never sniffed,
 * and the page may load and call only its own origin (no inline script). */
static const char DASHBOARD_CSP[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

struct admin {
    const config_t *cfg;
    const auth_t *auth;
    deliver_t *d;
    ingest_t *ing;
    config_store_t *store;
    pthread_mutex_t mu; /* every endpoint but /health (recursive: see the top) */
    atomic_bool draining;
    atomic_bool replaying;
    admin_reload_fn reload; /* POST /api/v1/reload (set once before serving) */
    void *reload_ctx;
    /* GET /api/v1/history: written once a second by the timer on the main
     * loop, read by requests on any loop; hist_mu guards the ring only */
    history_t *hist;
    pthread_mutex_t hist_mu;
    struct event *hist_ev;
    cluster_t *cluster; /* NULL: a single node (set once before serving) */
};

void admin_set_cluster(admin_t *a, cluster_t *c)
{
    a->cluster = c;
    admin_routes_set_cluster(c);
}

/* A cluster write's failure (cluster/cluster.h) as an answer. */
static void reply_cluster_error(http_req_t *req, int rc, const char *err)
{
    switch (rc) {
    case -EHOSTUNREACH:
        http_reply_error(req, 503, "etcd_unavailable", err, -1, 2);
        break;
    case -EEXIST:
    case -EAGAIN:
        http_reply_error(req, 409, "conflict", err, -1, 0);
        break;
    case -ENOENT:
        http_reply_error(req, 404, "not_found", "no analyzer with this id", -1, 0);
        break;
    case -EINVAL:
        http_reply_error(req, 400, "bad_request", err, -1, 0);
        break;
    default:
        http_reply_error(req, 503, "unavailable", err[0] ? err : strerror(-rc), -1, 1);
    }
}

admin_t *admin_new(const config_t *cfg, deliver_t *d, ingest_t *ing, config_store_t *store,
                   const auth_t *auth)
{
    admin_t *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->cfg = cfg;
    a->auth = auth;
    a->d = d;
    a->ing = ing;
    a->store = store;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&a->mu, &attr);
    pthread_mutexattr_destroy(&attr);
    pthread_mutex_init(&a->hist_mu, NULL);
    return a;
}

/* ---- history of the global counters (GET /api/v1/history) ---- */

static void history_sample(admin_t *a)
{
    uint64_t rejected = 0;
    for (int r = 0; r < REJECT__COUNT; r++) rejected += METRIC_GET(packets_rejected[r]);
    history_sample_t s = {.t_ms = wall_ms(),
                          .records_accepted = METRIC_GET(records_accepted),
                          .records_delivered = METRIC_GET(records_delivered),
                          .packets_rejected = rejected,
                          .records_deadlettered = METRIC_GET(records_deadlettered),
                          .queue_bytes = metrics_queued_bytes()};
    pthread_mutex_lock(&a->hist_mu);
    history_push(a->hist, &s);
    pthread_mutex_unlock(&a->hist_mu);
}

static void on_history_tick(evutil_socket_t fd, short what, void *arg)
{
    history_sample((admin_t *)arg);
}

int admin_start_history(admin_t *a, struct event_base *base)
{
    if (a->hist_ev) return -EALREADY;
    a->hist = history_new(HISTORY_CAP);
    a->hist_ev = a->hist ? event_new(base, -1, EV_PERSIST, on_history_tick, a) : NULL;
    if (!a->hist_ev) goto err;
    struct timeval tv = {HISTORY_INTERVAL_MS / 1000, (HISTORY_INTERVAL_MS % 1000) * 1000};
    if (event_add(a->hist_ev, &tv)) goto err;
    history_sample(a); /* the first point now, not in a second */
    return 0;
err:
    if (a->hist_ev) event_free(a->hist_ev);
    a->hist_ev = NULL;
    history_free(a->hist);
    a->hist = NULL;
    return -ENOMEM;
}

/* The since_ms=T of GET /api/v1/history (0 when absent). -EINVAL when it is
 * there but not a number. */
static int history_since(const http_req_t *req, uint64_t *since)
{
    const char *q = strchr(http_req_uri(req), '?');
    *since = 0;
    if (!q || strncmp(q + 1, "since_ms=", 9)) return 0;
    char num[24];
    size_t n = strcspn(q + 10, "&#");
    if (n >= sizeof num) return -EINVAL;
    memcpy(num, q + 10, n);
    num[n] = 0;
    return parse_uint(num, 0, UINT64_MAX, since) ? -EINVAL : 0;
}

/* GET /api/v1/history[?since_ms=T]: the samples after T, so a polling page
 * asks only for what it has not seen. */
static void history_reply(admin_t *a, http_req_t *req)
{
    uint64_t since;
    if (history_since(req, &since)) {
        http_reply_error(req, 400, "bad_request",
                         "since_ms must be a non-negative integer (ms since the epoch)", -1, 0);
        return;
    }
    json_t *j = NULL;
    pthread_mutex_lock(&a->hist_mu);
    if (a->hist) j = history_to_json(a->hist, HISTORY_INTERVAL_MS, since);
    pthread_mutex_unlock(&a->hist_mu);
    if (j)
        http_reply_json(req, 200, j);
    else
        http_reply_error(req, 503, "unavailable", "no history: not sampled here, or out of memory",
                         -1, 1);
}

/* ---- the dashboard's files (no token: they hold no data) ---- */

static void serve_asset(http_req_t *req, const admin_asset_t *as)
{
    http_req_add_header(req, "Cache-Control", "no-store");
    http_req_add_header(req, "Content-Security-Policy", DASHBOARD_CSP);
    http_req_add_header(req, "X-Content-Type-Options", "nosniff");
    http_req_add_header(req, "X-Frame-Options", "DENY");
    http_req_add_header(req, "Referrer-Policy", "no-referrer");
    http_req_reply(req, 200, as->content_type, (const char *)as->data, as->len);
}

/* ---- JSON of the delivery snapshot (deliver_snapshot_t is plain data) ---- */

/* Why the effective weight differs from the configured one (adaptive
 * weights, slow start, weight hints: deliver/adaptive.h). */
static json_t *weight_factors_json(const deliver_analyzer_snap_t *x)
{
    json_t *f = json_object();
    json_object_set_new(f, "factor", json_real(x->factor));
    json_object_set_new(f, "latency", json_real(x->factor_latency));
    json_object_set_new(f, "errors", json_real(x->factor_errors));
    json_object_set_new(f, "slow_start", json_real(x->factor_slow_start));
    json_object_set_new(f, "hint", json_real(x->factor_hint));
    json_object_set_new(f, "reason", json_string(x->weight_reason));
    json_object_set_new(f, "latency_peak_ewma_ms", json_real(x->latency_peak_ewma_ms));
    json_object_set_new(f, "latency_reference_ms", json_real(x->latency_reference_ms));
    json_object_set_new(f, "error_rate", json_real(x->error_rate));
    json_object_set_new(f, "hints_accepted", json_integer((json_int_t)x->weight_hints_accepted));
    json_object_set_new(f, "hints_refused", json_integer((json_int_t)x->weight_hints_refused));
    return f;
}

static json_t *analyzer_json(const deliver_analyzer_snap_t *x)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(x->spec.id));
    json_object_set_new(o, "url", json_string(x->spec.url));
    json_object_set_new(o, "health_url", json_string(x->spec.health_url));
    json_object_set_new(o, "weight", json_real(x->spec.weight));
    json_object_set_new(o, "target_share", json_real(x->target_share));
    json_object_set_new(o, "effective_share", json_real(x->effective_share));
    json_object_set_new(o, "effective_weight", json_real(x->effective_weight));
    json_object_set_new(o, "actual_share", json_real(x->actual_share));
    json_object_set_new(o, "actual_share_10s", json_real(x->actual_share_10s));
    json_object_set_new(o, "healthy", json_boolean(x->healthy));
    json_object_set_new(o, "routable", json_boolean(x->routable));
    json_object_set_new(o, "state", json_string(x->state));
    json_object_set_new(o, "drained", json_boolean(x->spec.drained));
    json_object_set_new(o, "breaker", json_string(x->breaker));
    json_object_set_new(o, "breaker_trips", json_integer((json_int_t)x->breaker_trips));
    json_object_set_new(o, "health_changed_ms", json_integer((json_int_t)x->health_changed_ms));
    json_object_set_new(o, "records_routed", json_integer((json_int_t)x->records_routed));
    json_object_set_new(o, "records_delivered", json_integer((json_int_t)x->records_delivered));
    json_object_set_new(o, "records_redistributed_in",
                        json_integer((json_int_t)x->records_redistributed_in));
    json_object_set_new(o, "records_retried", json_integer((json_int_t)x->records_retried));
    json_object_set_new(o, "records_deadlettered",
                        json_integer((json_int_t)x->records_deadlettered));
    json_object_set_new(o, "batches_delivered", json_integer((json_int_t)x->batches_delivered));
    json_object_set_new(o, "batches_failed", json_integer((json_int_t)x->batches_failed));
    json_object_set_new(o, "times_marked_down", json_integer((json_int_t)x->times_marked_down));
    json_object_set_new(o, "inflight_batches", json_integer(x->inflight_batches));
    json_object_set_new(o, "queued_records", json_integer((json_int_t)x->queued_records));
    json_object_set_new(o, "queue_bytes", json_integer((json_int_t)x->queue_bytes));
    json_object_set_new(o, "queue_share_bytes", json_integer((json_int_t)x->queue_share_bytes));
    json_object_set_new(o, "queue_allowance_bytes",
                        json_integer((json_int_t)x->queue_allowance_bytes));
    json_object_set_new(o, "latency_ms", json_real(x->latency_ms));
    json_object_set_new(o, "latency_p50_ms",
                        json_real(hist_quantile(&x->attempt_seconds, 0.5) * 1e3));
    json_object_set_new(o, "latency_p99_ms",
                        json_real(hist_quantile(&x->attempt_seconds, 0.99) * 1e3));
    json_object_set_new(o, "last_error", json_string(x->last_error));
    if (x->spec.has_slow_start)
        json_object_set_new(o, "slow_start_ms", json_integer((json_int_t)x->spec.slow_start_ms));
    json_object_set_new(o, "weight_factors", weight_factors_json(x));
    return o;
}

/* One analyzer (id != NULL; NULL when unknown) or all of them:
 * {"strategy","panic","analyzers":[...]}. Caller owns the reference. */
static json_t *analyzers_json(admin_t *a, const char *id)
{
    deliver_snapshot_t s;
    if (deliver_snapshot(a->d, NULL, &s)) return id ? NULL : json_object();
    json_t *out = NULL;
    if (id) {
        for (size_t i = 0; i < s.count && !out; i++)
            if (!strcmp(s.analyzers[i].spec.id, id)) out = analyzer_json(&s.analyzers[i]);
    } else {
        json_t *arr = json_array();
        for (size_t i = 0; i < s.count; i++)
            json_array_append_new(arr, analyzer_json(&s.analyzers[i]));
        out = json_object();
        json_object_set_new(out, "strategy", json_string(s.random_strategy ? "random" : "swrr"));
        json_object_set_new(out, "panic", json_boolean(s.panic));
        json_object_set_new(out, "analyzers", arr);
    }
    deliver_snapshot_free(&s);
    return out;
}

/* Global metrics plus the per-analyzer counters. */
static json_t *metrics_json(admin_t *a)
{
    json_t *m = metrics_to_json();
    /* the connection layer's gauges (ingress/conn.h) */
    json_object_set_new(m, "connections_open", json_integer((json_int_t)conn_open_count()));
    json_object_set_new(m, "body_bytes_in_flight", json_integer((json_int_t)conn_budget_used()));
    /* per ingest loop (--ingest-threads), the main loop first */
    ingest_loop_stats_t st[INGEST_MAX_LOOPS];
    size_t n = a->ing ? ingest_loop_stats(a->ing, st, INGEST_MAX_LOOPS) : 0;
    json_t *loops = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "connections", json_integer((json_int_t)st[i].connections));
        json_object_set_new(o, "requests", json_integer((json_int_t)st[i].requests));
        json_object_set_new(o, "packets", json_integer((json_int_t)st[i].packets));
        json_object_set_new(o, "records", json_integer((json_int_t)st[i].records));
        json_array_append_new(loops, o);
    }
    json_object_set_new(m, "ingest_loops", loops);
    json_t *all = analyzers_json(a, NULL);
    json_object_set(m, "analyzers", json_object_get(all, "analyzers"));
    json_decref(all);
    return m;
}

/* GET /metrics: the Prometheus text of admin/prom.h from the same sources
 * as metrics_json() (the counters, the delivery snapshot). */
static void metrics_prom(admin_t *a, http_req_t *req)
{
    deliver_snapshot_t s;
    bool have_snap = deliver_snapshot(a->d, NULL, &s) == 0;
    hist_snap_t ingest_h, batch_h;
    hist_snapshot(&g_metrics.ingest_request_seconds, &ingest_h);
    hist_snapshot(&g_metrics.batch_records, &batch_h);
    procself_t proc;
    bool have_proc = procself_read(&proc) == 0;
    routes_t *table = NULL;
    router_route_stat_t *rs = NULL;
    size_t nrs = 0;
    if (deliver_route_stats(a->d, &table, &rs, &nrs)) nrs = 0;
    prom_input_t in = {.routes = rs, .nroutes = nrs, .m = &g_metrics, .queue_bytes = metrics_queued_bytes(),
                       .queue_records = metrics_queued_records(),
                       .connections_open = conn_open_count(),
                       .body_bytes_in_flight = conn_budget_used(),
                       .d = have_snap ? &s : NULL, .ingest_duration = &ingest_h,
                       .batch_records = &batch_h, .proc = have_proc ? &proc : NULL,
                       .version = LOGDIST_VERSION};
    prom_t *p = prom_new();
    if (p) prom_render(p, &in);
    if (have_snap) deliver_snapshot_free(&s);
    router_route_stats_free(rs, nrs);
    routes_unref(table);
    size_t len = 0;
    const char *text = p ? prom_text(p, &len) : NULL;
    char *joined = NULL;
    if (text && a->cluster) { /* the cluster's gauges after the rest */
        json_t *st = cluster_status_json(a->cluster);
        size_t nodes = json_array_size(json_object_get(st, "nodes"));
        json_decref(st);
        if (asprintf(&joined,
                     "%.*s# HELP logdist_cluster_etcd_connected 1 while this node reaches etcd\n"
                     "# TYPE logdist_cluster_etcd_connected gauge\n"
                     "logdist_cluster_etcd_connected %d\n"
                     "# HELP logdist_cluster_nodes Nodes this node sees in the cluster\n"
                     "# TYPE logdist_cluster_nodes gauge\nlogdist_cluster_nodes %zu\n",
                     (int)len, text, cluster_connected(a->cluster) ? 1 : 0, nodes) < 0)
            joined = NULL;
        if (joined) {
            text = joined;
            len = strlen(joined);
        }
    }
    if (text)
        http_req_reply(req, 200, PROM_CONTENT_TYPE, text, len);
    else
        http_reply_error(req, 503, "out_of_memory", "out of memory", -1, 1);
    free(joined);
    prom_free(p);
}

/* Write analyzer `id` as it is now to the store (or delete it when gone). */
static void persist(admin_t *a, const char *id)
{
    if (!a->store) return;
    analyzer_spec_t spec;
    int rc = deliver_analyzer_spec(a->d, id, &spec) == 0 ? config_store_put(a->store, &spec)
                                                         : config_store_remove(a->store, id);
    if (rc) log_error("admin", "analyzer %s: change not saved to the config store", id);
}

/* A replay in progress: one item per stored batch, removed by batch id as
 * soon as ingest has queued it (never "the k oldest"). */
typedef struct replay replay_t;
typedef struct {
    replay_t *r;
    char batch_id[DEADLETTER_ID_MAX + 1];
} replay_item_t;

struct replay {
    admin_t *a;
    http_req_t *req; /* answered when every batch is done (dropped if its client left) */
    long batches, pending, failed, unremoved;
    size_t records;
    replay_item_t *items;
};

static void replay_release(replay_t *r)
{
    if (--r->pending) return;
    admin_t *a = r->a;
    atomic_store(&a->replaying, false);
    if (r->failed) {
        char m[200];
        snprintf(m, sizeof m,
                 "%ld of %ld batches could not be re-queued and are kept; the %ld re-queued were "
                 "removed", r->failed, r->batches, r->batches - r->failed);
        http_reply_error(r->req, 503, "replay_failed", m, -1, 5);
    } else {
        json_t *o = json_object();
        json_object_set_new(o, "replayed_batches", json_integer(r->batches));
        json_object_set_new(o, "replayed_records", json_integer((json_int_t)r->records));
        http_reply_json(r->req, 200, o);
    }
    free(r->items);
    free(r);
}

/* ingest has queued (status 0) or refused one replayed batch. */
static void replay_step(void *ctx, int status, size_t records)
{
    replay_item_t *it = ctx;
    replay_t *r = it->r;
    if (status) {
        r->failed++;
        log_warn("admin", "dead letter %s not replayed: %s", it->batch_id, strerror(-status));
    } else {
        r->records += records;
        int rc = deliver_deadletter_remove(r->a->d, it->batch_id);
        if (rc && rc != -ENOENT) { /* kept: a later replay sends it again (a duplicate) */
            r->unremoved++;
            log_error("admin", "replayed dead letter %s not removed: %s", it->batch_id,
                      strerror(-rc));
        }
    }
    replay_release(r);
}

/* POST /api/v1/deadletter/replay: every dead-lettered batch goes through
 * ingest again (validated with limits that fit the stored framing, made
 * durable, queued); each entry is removed by batch id once it is queued. */
static void deadletter_replay(admin_t *a, http_req_t *req)
{
    bool idle = false;
    if (!atomic_compare_exchange_strong(&a->replaying, &idle, true)) {
        http_reply_error(req, 409, "conflict", "a replay is already running", -1, 0);
        return;
    }
    deadletter_body_t *bodies = NULL;
    long n = deliver_deadletter_read(a->d, &bodies);
    if (n < 0) {
        atomic_store(&a->replaying, false);
        http_reply_error(req, 503, "disk_error", strerror((int)-n), -1, 5);
        return;
    }
    replay_t *r = calloc(1, sizeof *r);
    replay_item_t *items = n ? calloc((size_t)n, sizeof *items) : NULL;
    if (!r || (n && !items)) {
        free(r);
        free(items);
        deadletter_bodies_free(bodies, (size_t)n);
        atomic_store(&a->replaying, false);
        http_reply_error(req, 503, "out_of_memory", "out of memory", -1, 1);
        return;
    }
    r->a = a;
    r->req = req;
    r->batches = n;
    r->items = items;
    r->pending = n + 1; /* +1: the loop itself, so completion cannot run before it ends */
    /* on this request's loop: its scratch, and its durable completions come back here */
    const conn_t *conn = http_req_conn(req);
    const struct event_base *loop = conn ? conn_base(conn) : NULL;
    for (long i = 0; i < n; i++) {
        items[i].r = r;
        strlcpy_ld(items[i].batch_id, bodies[i].batch_id, sizeof items[i].batch_id);
        ingest_inject_on(a->ing, loop, bodies[i].body, bodies[i].len, replay_step, &items[i]);
    }
    deadletter_bodies_free(bodies, (size_t)n);
    replay_release(r);
}

/* The body of a request for admin_body_*() ("" when it has none, or was
 * answered from its head); NULL when longer than ADMIN_BODY_MAX (admin_body
 * refuses it unread). */
static const char *request_body(http_req_t *req, size_t *len)
{
    *len = 0;
    const char *b = http_req_body(req, len);
    if (*len > ADMIN_BODY_MAX) return NULL;
    return b && *len ? b : "";
}

static void reply_body_error(http_req_t *req, const admin_body_error_t *e,
                             const char *msg)
{
    http_reply_error(req, e->status, e->code, msg, e->offset, e->status == 503 ? 1 : 0);
}

/* DELETE /api/v1/deadletter: no body purges every entry stored now;
 * {"batch_ids":[...]} purges only those (unknown ids are skipped). */
static void purge_deadletters(admin_t *a, http_req_t *req)
{
    char **ids = NULL;
    size_t n = 0, len;
    const char *body = request_body(req, &len);
    if (len) {
        admin_body_error_t e;
        char m[256];
        if (admin_body_parse_purge(body, len, &ids, &n, &e, m, sizeof m)) {
            reply_body_error(req, &e, m);
            return;
        }
    }
    uint64_t records = 0;
    int rc = deliver_deadletter_purge(a->d, len ? (const char *const *)ids : NULL, n, &records);
    admin_body_free_ids(ids, n);
    if (rc) {
        http_reply_error(req, 503, "disk_error", strerror(-rc), -1, 5);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "purged_records", json_integer((json_int_t)records));
    http_reply_json(req, 200, o);
}

void admin_free(admin_t *a)
{
    if (!a) return;
    if (a->hist_ev) event_free(a->hist_ev);
    history_free(a->hist);
    pthread_mutex_destroy(&a->hist_mu);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

void admin_set_draining(admin_t *a, bool draining)
{
    atomic_store(&a->draining, draining);
}

static void method_not_allowed(http_req_t *req, const char *allow)
{
    http_req_add_header(req, "Allow", allow);
    http_reply_error(req, 405, "method_not_allowed", "method not allowed on this path", -1, 0);
}

static void analyzers_collection(admin_t *a, http_req_t *req)
{
    http_method_t cmd = http_req_method(req);
    if (cmd == HTTP_M_GET || cmd == HTTP_M_HEAD) {
        http_reply_json(req, 200, analyzers_json(a, NULL));
        return;
    }
    if (cmd != HTTP_M_POST) {
        method_not_allowed(req, "GET, POST");
        return;
    }
    analyzer_spec_t spec;
    admin_body_error_t e;
    char err[512] = "";
    size_t len;
    const char *body = request_body(req, &len);
    if (admin_body_parse_add(body, len, &spec, &e, err, sizeof err)) {
        reply_body_error(req, &e, err);
        return;
    }
    if (!config_analyzer_allowed(a->cfg, spec.url, err, sizeof err) ||
        !config_analyzer_allowed(a->cfg, spec.health_url, err, sizeof err)) {
        http_reply_error(req, 403, "forbidden_analyzer", err, -1, 0);
        return;
    }
    int rc;
    if (a->cluster) { /* through etcd; applied here from the watch before the answer */
        if ((rc = cluster_analyzer_create(a->cluster, &spec, err, sizeof err))) {
            reply_cluster_error(req, rc, err);
            return;
        }
        goto created;
    }
    rc = deliver_analyzer_add(a->d, &spec);
    if (rc == -EEXIST) {
        http_reply_error(req, 409, "conflict", "an analyzer with this id exists", -1, 0);
        return;
    }
    if (rc) {
        http_reply_error(req, rc == -EINVAL ? 400 : 503, "bad_request", strerror(-rc), -1,
                         rc == -EINVAL ? 0 : 1); /* every 503 says when to retry */
        return;
    }
    persist(a, spec.id);
created:;
    char loc[128];
    snprintf(loc, sizeof loc, ANALYZERS_PATH "/%s", spec.id);
    http_req_add_header(req, "Location", loc);
    json_t *j = analyzers_json(a, spec.id);
    http_reply_json(req, 201, j ? j : json_object());
}

/* cluster_modify_fn: a PUT's changes over the spec read from etcd. */
static int apply_update(void *ctx, analyzer_spec_t *spec, char *err, size_t errlen)
{
    const admin_update_t *u = ctx;
    analyzer_spec_t next = *spec;
    if (u->has_weight) next.weight = u->weight;
    if (u->drained >= 0) next.drained = u->drained == 1;
    if (u->url[0]) {
        snprintf(next.url, sizeof next.url, "%s", u->url);
        if (!u->health_url[0]) next.health_url[0] = 0; /* derived from the new url */
    }
    if (u->health_url[0]) snprintf(next.health_url, sizeof next.health_url, "%s", u->health_url);
    if (u->slow_start_ms >= 0) {
        next.has_slow_start = true;
        next.slow_start_ms = (uint32_t)u->slow_start_ms;
    }
    if (config_check_analyzer(&next, err, errlen)) return -EINVAL;
    *spec = next;
    return 0;
}

/* DELETE in a cluster: refused while a route here names it, else through etcd. */
static void cluster_delete(admin_t *a, http_req_t *req, const char *id)
{
    char err[400] = "";
    routes_t *t = deliver_routes_get(a->d);
    const char *route = t ? routes_naming(t, id) : NULL;
    if (route) {
        snprintf(err, sizeof err, "route \"%s\" names this analyzer: change or delete the route "
                 "first", route);
        routes_unref(t);
        http_reply_error(req, 409, "conflict", err, -1, 0);
        return;
    }
    routes_unref(t);
    int rc = cluster_analyzer_delete(a->cluster, id, err, sizeof err);
    if (rc) {
        reply_cluster_error(req, rc, err);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "removed", json_string(id));
    http_reply_json(req, 200, o);
}

static void analyzer_item(admin_t *a, http_req_t *req, const char *id)
{
    http_method_t cmd = http_req_method(req);
    if (cmd == HTTP_M_GET || cmd == HTTP_M_HEAD) {
        json_t *j = analyzers_json(a, id);
        if (j)
            http_reply_json(req, 200, j);
        else
            http_reply_error(req, 404, "not_found", "no analyzer with this id", -1, 0);
        return;
    }
    if (cmd == HTTP_M_DELETE && a->cluster) {
        cluster_delete(a, req, id);
        return;
    }
    if (cmd == HTTP_M_DELETE) {
        char route[ROUTE_NAME_MAX + 1] = "";
        int rc = deliver_analyzer_remove(a->d, id, route, sizeof route);
        if (rc == -EBUSY) {
            char msg[200];
            snprintf(msg, sizeof msg, "route \"%s\" names this analyzer: change or delete the "
                     "route first", route);
            http_reply_error(req, 409, "conflict", msg, -1, 0);
            return;
        }
        if (rc) {
            http_reply_error(req, 404, "not_found", "no analyzer with this id", -1, 0);
            return;
        }
        persist(a, id);
        json_t *o = json_object();
        json_object_set_new(o, "removed", json_string(id));
        http_reply_json(req, 200, o);
        return;
    }
    if (cmd != HTTP_M_PUT) {
        method_not_allowed(req, "GET, PUT, DELETE");
        return;
    }
    admin_update_t u;
    admin_body_error_t e;
    char aerr[512] = "";
    size_t len;
    const char *body = request_body(req, &len);
    if (admin_body_parse_update(body, len, id, &u, &e, aerr, sizeof aerr)) {
        reply_body_error(req, &e, aerr);
        return;
    }
    const char *url = u.url[0] ? u.url : NULL, *hurl = u.health_url[0] ? u.health_url : NULL;
    if ((url && !config_analyzer_allowed(a->cfg, url, aerr, sizeof aerr)) ||
        (hurl && !config_analyzer_allowed(a->cfg, hurl, aerr, sizeof aerr))) {
        http_reply_error(req, 403, "forbidden_analyzer", aerr, -1, 0);
        return;
    }
    int rc;
    if (a->cluster) {
        if ((rc = cluster_analyzer_modify(a->cluster, id, apply_update, &u, aerr, sizeof aerr))) {
            reply_cluster_error(req, rc, aerr);
            return;
        }
        json_t *j = analyzers_json(a, id);
        http_reply_json(req, 200, j ? j : json_object());
        return;
    }
    rc = deliver_analyzer_update(a->d, id, u.has_weight, u.weight, u.drained, url, hurl);
    if (!rc && u.slow_start_ms >= 0)
        rc = deliver_analyzer_set_slow_start(a->d, id, true, (uint32_t)u.slow_start_ms);
    if (rc == -ENOENT) {
        http_reply_error(req, 404, "not_found", "no analyzer with this id", -1, 0);
        return;
    }
    if (rc) {
        http_reply_error(req, 400, "bad_request", "invalid url or weight", -1, 0);
        return;
    }
    persist(a, id);
    json_t *j = analyzers_json(a, id);
    http_reply_json(req, 200, j ? j : json_object());
}

/* POST /api/v1/reload: the app's reload (app/reload.c), called without the
 * admin mutex (it takes the reload's mutex, then this one for the registry). */
static void reload(admin_t *a, http_req_t *req)
{
    if (!a->reload) {
        http_reply_error(req, 503, "unavailable", "reload is not available", -1, 5);
        return;
    }
    json_t *result = NULL;
    char err[1200] = "";
    int rc = a->reload(a->reload_ctx, &result, err, sizeof err);
    if (rc == 0) {
        http_reply_json(req, 200, result);
        return;
    }
    json_decref(result);
    http_reply_error(req, rc == -EINVAL ? 400 : 500, rc == -EINVAL ? "invalid_config" : "reload_failed",
                     err[0] ? err : strerror(-rc), -1, 0);
}

void admin_set_reload(admin_t *a, admin_reload_fn fn, void *ctx)
{
    a->reload = fn;
    a->reload_ctx = ctx;
}

/* Is there an analyzer with this id in specs[n]? */
static const analyzer_spec_t *spec_in(const analyzer_spec_t *specs, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(specs[i].id, id)) return &specs[i];
    return NULL;
}

/* One analyzer the new config names: add it, or bring the registered one in
 * line (weight and URLs in place; another client certificate means re-adding). */
static int apply_one(admin_t *a, const analyzer_spec_t *want, json_t *added, json_t *updated)
{
    deliver_apply_t what;
    int rc = deliver_analyzer_apply(a->d, want, true, &what); /* drained is the operator's */
    if (rc) return rc;
    if (what != DELIVER_APPLY_SAME)
        json_array_append_new(what == DELIVER_APPLY_ADDED ? added : updated,
                              json_string(want->id));
    return 0;
}

int admin_apply_routes(admin_t *a, routes_t *t, char *err, size_t errlen)
{
    int rc;
    pthread_mutex_lock(&a->mu); /* serialised with the routes API */
    if (a->cluster) { /* through etcd: every node applies it from its watch */
        char *text = routes_user_text(t);
        rc = text ? cluster_routes_put(a->cluster, text, err, errlen) : -ENOMEM;
        free(text);
    } else {
        rc = deliver_set_routes(a->d, t, false, err, errlen);
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

/* cluster_modify_fn: the config's spec, the operator's drained flag kept. */
static int set_spec(void *ctx, analyzer_spec_t *spec, char *err, size_t errlen)
{
    analyzer_spec_t next = *(const analyzer_spec_t *)ctx;
    next.drained = spec->drained;
    *spec = next;
    return 0;
}

/* A reload in a cluster: the config's changes are written through etcd (and
 * come back to every node through the watch). */
static int apply_cluster(admin_t *a, const analyzer_spec_t *old, size_t nold,
                         const analyzer_spec_t *now, size_t nnow, json_t *added, json_t *removed,
                         json_t *updated)
{
    int first = 0;
    char err[400];
    for (size_t i = 0; i < nold; i++) {
        if (spec_in(now, nnow, old[i].id)) continue;
        int rc = cluster_analyzer_delete(a->cluster, old[i].id, err, sizeof err);
        if (!rc) json_array_append_new(removed, json_string(old[i].id));
        else if (rc != -ENOENT && !first) first = rc;
    }
    for (size_t i = 0; i < nnow; i++) {
        const analyzer_spec_t *was = spec_in(old, nold, now[i].id);
        if (was && config_analyzer_equal(was, &now[i])) continue;
        int rc = cluster_analyzer_create(a->cluster, &now[i], err, sizeof err);
        json_t *to = added;
        if (rc == -EEXIST) {
            rc = cluster_analyzer_modify(a->cluster, now[i].id, set_spec, (void *)&now[i], err,
                                         sizeof err);
            to = updated;
        }
        if (!rc) json_array_append_new(to, json_string(now[i].id));
        if (rc) log_error("admin", "reload: analyzer %s: %s", now[i].id, err);
        if (rc && !first) first = rc;
    }
    return first;
}

int admin_apply_analyzers(admin_t *a, const analyzer_spec_t *old, size_t nold,
                          const analyzer_spec_t *now, size_t nnow, json_t *report)
{
    if (a->cluster) {
        json_t *added = json_array(), *removed = json_array(), *updated = json_array();
        pthread_mutex_lock(&a->mu);
        int rc = apply_cluster(a, old, nold, now, nnow, added, removed, updated);
        pthread_mutex_unlock(&a->mu);
        json_object_set_new(report, "added", added);
        json_object_set_new(report, "removed", removed);
        json_object_set_new(report, "updated", updated);
        return rc;
    }

    json_t *added = json_array(), *removed = json_array(), *updated = json_array();
    int first = 0;
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < nold; i++) {
        if (spec_in(now, nnow, old[i].id)) continue;
        char route[ROUTE_NAME_MAX + 1] = "";
        int rc = deliver_analyzer_remove(a->d, old[i].id, route, sizeof route);
        if (rc == 0)
            json_array_append_new(removed, json_string(old[i].id));
        else if (rc == -EBUSY) { /* reload checked the routes: only an API route can */
            log_error("admin", "reload: analyzer %s stays: route %s names it", old[i].id, route);
            if (!first) first = rc;
        }
        persist(a, old[i].id);
    }
    for (size_t i = 0; i < nnow; i++) {
        const analyzer_spec_t *was = spec_in(old, nold, now[i].id);
        if (was && config_analyzer_equal(was, &now[i])) continue;
        int rc = apply_one(a, &now[i], added, updated);
        if (rc) {
            log_error("admin", "reload: analyzer %s: %s", now[i].id, strerror(-rc));
            if (!first) first = rc;
        }
        persist(a, now[i].id);
    }
    pthread_mutex_unlock(&a->mu);
    json_object_set_new(report, "added", added);
    json_object_set_new(report, "removed", removed);
    json_object_set_new(report, "updated", updated);
    return first;
}

static void health(admin_t *a, http_req_t *req)
{
    json_t *o = json_object();
    bool draining = atomic_load(&a->draining);
    if (draining) { /* the delivery thread is stopping: do not call into it */
        json_object_set_new(o, "status", json_string("draining"));
        json_object_set_new(o, "retry_after_s", json_integer(5));
        http_req_add_header(req, "Retry-After", "5");
        http_reply_json(req, 503, o);
        return;
    }
    int healthy = deliver_healthy_count(a->d);
    json_object_set_new(o, "status", json_string(healthy ? "ok" : "degraded"));
    json_object_set_new(o, "analyzers_healthy", json_integer(healthy));
    json_object_set_new(o, "queued_records", json_integer((json_int_t)queue_records(deliver_queue(a->d))));
    if (a->cluster) { /* routing goes on without etcd: still 200, but said */
        bool up = cluster_connected(a->cluster);
        json_object_set_new(o, "etcd", json_string(up ? "connected" : "disconnected"));
        json_object_set_new(o, "config", json_string(up ? "synced" : "cached"));
    }
    http_reply_json(req, 200, o);
}

/* GET /api/v1/cluster[/analyzers] (cluster/cluster.h); 404 on a single node. */
static void cluster_reply(admin_t *a, http_req_t *req, bool analyzers)
{
    if (!a->cluster) {
        http_reply_error(req, 404, "not_clustered",
                         "this node is not in a cluster (no --cluster-etcd)", -1, 0);
        return;
    }
    if (!analyzers) {
        json_t *j = cluster_status_json(a->cluster);
        if (j) http_reply_json(req, 200, j);
        else http_reply_error(req, 503, "out_of_memory", "out of memory", -1, 1);
        return;
    }
    json_t *local = analyzers_json(a, NULL);
    json_t *j = cluster_analyzers_json(a->cluster, json_object_get(local, "analyzers"));
    json_decref(local);
    if (j) http_reply_json(req, 200, j);
    else http_reply_error(req, 503, "out_of_memory", "out of memory", -1, 1);
}

/* The request's path: its target up to '?' or '#', without trailing slashes
 * (kept: "/"). False when too long for out (no endpoint has such a path). */
static bool path_of(const http_req_t *req, char *out, size_t outlen)
{
    const char *uri = http_req_uri(req);
    size_t n = strcspn(uri, "?#");
    if (n >= outlen) return false;
    memcpy(out, uri, n);
    out[n] = 0;
    while (n > 1 && out[n - 1] == '/') out[--n] = 0; /* tolerate a trailing slash */
    return true;
}

static bool is_read(http_method_t m)
{
    return m == HTTP_M_GET || m == HTTP_M_HEAD;
}

/* Does this path and method take a request body (read before routing)? Only
 * the requests an endpoint will act on: anything else is answered (405, 404)
 * from its head, without reading a body. */
static bool takes_body(const char *path, http_method_t m)
{
    if (!strcmp(path, ANALYZERS_PATH)) return m == HTTP_M_POST;
    if (!strncmp(path, ANALYZERS_PATH "/", sizeof ANALYZERS_PATH))
        return m == HTTP_M_PUT || m == HTTP_M_DELETE;
    if (!strcmp(path, "/api/v1/deadletter")) return m == HTTP_M_DELETE;
    if (!strcmp(path, "/api/v1/deadletter/replay")) return m == HTTP_M_POST;
    if (!strcmp(path, "/api/v1/reload")) return m == HTTP_M_POST;
    if (!strcmp(path, ROUTES_PATH)) return m == HTTP_M_POST || m == HTTP_M_PUT;
    if (!strncmp(path, ROUTES_PATH "/", sizeof ROUTES_PATH)) return m == HTTP_M_PUT;
    return false;
}

/* Everything after the token check: /health, the shutdown refusal, then the
 * endpoints (their body, if any, is in). */
static void route(admin_t *a, http_req_t *req)
{
    char path[512];
    if (!path_of(req, path, sizeof path)) {
        http_reply_error(req, 404, "not_found", "no such endpoint", -1, 0);
        return;
    }
    http_method_t cmd = http_req_method(req);
    if (!strcmp(path, "/health")) {
        if (!is_read(cmd))
            method_not_allowed(req, "GET");
        else
            health(a, req);
        return;
    }
    if (atomic_load(&a->draining)) { /* the rest calls into the delivery thread, which is stopping */
        http_req_close_after(req);
        http_reply_error(req, 503, "shutting_down", "logdistd is shutting down", -1, 5);
        return;
    }
    if (!strcmp(path, "/metrics")) {
        if (!is_read(cmd))
            method_not_allowed(req, "GET");
        else
            metrics_prom(a, req);
        return;
    }
    if (!strcmp(path, "/api/v1/metrics")) {
        if (!is_read(cmd))
            method_not_allowed(req, "GET");
        else
            http_reply_json(req, 200, metrics_json(a));
        return;
    }
    if (!strcmp(path, "/api/v1/cluster") || !strcmp(path, "/api/v1/cluster/analyzers")) {
        if (!is_read(cmd))
            method_not_allowed(req, "GET");
        else
            cluster_reply(a, req, path[15] == '/');
        return;
    }
    if (!strcmp(path, "/api/v1/history")) {
        if (!is_read(cmd))
            method_not_allowed(req, "GET");
        else
            history_reply(a, req);
        return;
    }
    if (admin_asset_find(path)) { /* GET/HEAD were served from the head */
        method_not_allowed(req, "GET");
        return;
    }
    if (!strcmp(path, "/api/v1/deadletter")) {
        if (is_read(cmd))
            http_reply_json(req, 200, deliver_deadletter_json(a->d));
        else if (cmd == HTTP_M_DELETE)
            purge_deadletters(a, req);
        else
            method_not_allowed(req, "GET, DELETE");
        return;
    }
    if (!strcmp(path, "/api/v1/deadletter/replay")) {
        if (cmd != HTTP_M_POST)
            method_not_allowed(req, "POST");
        else
            deadletter_replay(a, req);
        return;
    }
    if (!strcmp(path, "/api/v1/reload")) { /* a POST is served by admin_on_request */
        method_not_allowed(req, "POST");
        return;
    }
    if (!strcmp(path, ANALYZERS_PATH)) {
        analyzers_collection(a, req);
        return;
    }
    if (!strncmp(path, ANALYZERS_PATH "/", sizeof ANALYZERS_PATH)) {
        const char *id = path + sizeof ANALYZERS_PATH;
        if (!*id || strchr(id, '/') || strlen(id) > CONFIG_ID_MAX)
            http_reply_error(req, 404, "not_found", "no analyzer with this id", -1, 0);
        else
            analyzer_item(a, req, id);
        return;
    }
    if (!strcmp(path, ROUTES_PATH) || !strncmp(path, ROUTES_PATH "/", sizeof ROUTES_PATH)) {
        const char *name = path[sizeof ROUTES_PATH - 1] ? path + sizeof ROUTES_PATH : NULL;
        size_t len;
        const char *body = request_body(req, &len);
        if (name && (!*name || strchr(name, '/') || strlen(name) > ROUTE_NAME_MAX))
            http_reply_error(req, 404, "not_found", "no route with this name", -1, 0);
        else
            admin_routes_serve(a->d, a->store, req, name, body, len);
        return;
    }
    http_reply_error(req, 404, "not_found", "no such endpoint", -1, 0);
}

/* route() under the admin mutex, except /health (lock-free, see the top). */
static void route_locked(admin_t *a, http_req_t *req, bool health)
{
    if (health) {
        route(a, req);
        return;
    }
    pthread_mutex_lock(&a->mu);
    route(a, req);
    pthread_mutex_unlock(&a->mu);
}

void admin_on_head(admin_t *a, http_req_t *req)
{
    char path[512];
    if (!path_of(req, path, sizeof path)) {
        http_reply_error(req, 404, "not_found", "no such endpoint", -1, 0);
        return;
    }
    http_method_t cmd = http_req_method(req);
    const admin_asset_t *as = is_read(cmd) ? admin_asset_find(path) : NULL;
    if (as) { /* the dashboard's files: static, no data, no token */
        serve_asset(req, as);
        return;
    }
    bool health = !strcmp(path, "/health");
    if (!health) { /* /health stays open for liveness probes */
        unsigned roles = is_read(cmd) ? ROLE_READ | ROLE_ADMIN : ROLE_ADMIN;
        if (!auth_http_require(a->auth, req, roles, NULL)) return;
    }
    if (atomic_load(&a->draining) || !takes_body(path, cmd)) {
        route_locked(a, req, health);
        return;
    }
    long long cl = http_req_content_length(req);
    if (cl > ADMIN_BODY_MAX) { /* as admin_body would answer it, but unread */
        http_reply_error(req, 413, "body_too_large", "admin request bodies are limited to 64 KiB",
                         -1, 0);
        return;
    }
    http_req_read_body(req, ADMIN_BODY_MAX); /* on error the framer answered (413, 503) */
}

void admin_on_request(admin_t *a, http_req_t *req)
{
    char path[512];
    /* POST /api/v1/reload runs outside the admin mutex: a reload takes its own
     * mutex, then this one (admin_apply_analyzers) - the order SIGHUP uses */
    if (path_of(req, path, sizeof path) && !strcmp(path, "/api/v1/reload") &&
        !atomic_load(&a->draining)) {
        reload(a, req);
        return;
    }
    route_locked(a, req, false); /* /health takes no body: never here */
}
