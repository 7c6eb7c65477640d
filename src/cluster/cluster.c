/*
 * cluster.c - see cluster.h. The cluster thread runs a small state machine on
 * a CLUSTER_TICK_MS timer: hold a lease (grant, keep alive, publish the node),
 * hold a synced copy of the prefix (read it whole, then watch from the next
 * revision; re-read after a compaction). Failures back off (doubling up to
 * CLUSTER_BACKOFF_MAX_MS) and flip `connected`.
 *
 * Threads: everything on the cluster thread but the write functions and the
 * JSON views, which run on admin's threads: writes post etcd calls to the
 * cluster thread (mailbox) and wait on a condition variable; the node table,
 * revisions, and the flags the views read are under `mu`.
 *
 * Watch liveness: a watch is one long response, and a path that goes silent
 * (a partition, a NAT or firewall that forgot the connection) stalls it with
 * no error. Two things restart it from the last revision it delivered: every
 * etcd endpoint failing (the node is disconnected: the watch is cancelled with
 * it), and the node's own heartbeat put, which lands under the prefix every
 * CLUSTER_REFRESH_MS: a watch that has not delivered that revision within
 * CLUSTER_WATCH_STALE_MS is stuck and is started again.
 */
#include "cluster/cluster.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/cluster_json.h"
#include "cluster/etcd.h"
#include "common/log.h"
#include "common/mailbox.h"
#include "common/util.h"
#include "core/metrics.h"
#include "route/routes.h"

struct cluster {
    const config_t *cfg;
    deliver_t *d;
    config_store_t *store;
    char prefix[160];   /* "<cluster_prefix>/" */
    char node_key[256]; /* prefix + "nodes/" + id */
    char advertise[CONFIG_URL_MAX + 1];
    uint64_t started_ms;
    struct event_base *base;
    mailbox_t *mb;
    pthread_t th;
    bool thread_started;
    etcd_t *etcd;
    struct event *tick;
    /* cluster thread only */
    int64_t lease;
    bool lease_busy, sync_busy, watching, synced, compacted, initialized_seen;
    bool reported; /* set_connected said a state once (all its calls are on this thread) */
    uint64_t next_refresh_ms, retry_at_ms;
    uint32_t backoff_ms;
    int64_t watch_rev; /* last revision the watch or a read delivered */
    int64_t probe_rev; /* this node's own put the watch must still deliver (0: none) */
    uint64_t probe_ms; /* when that put was answered */
    uint64_t last_accepted, last_rate_ms;
    double records_per_s;
    /* shared, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    json_t *nodes;       /* id -> published value */
    int64_t applied_rev; /* this node has applied everything up to it */
    int64_t routes_rev;  /* mod_revision of the routes key applied (0 = none) */
    bool ever_synced;
    char last_error[240];
    char endpoint[256];
    atomic_bool connected;
    atomic_bool stopping;
    /* membership hook (cluster_on_members): set before the thread starts */
    cluster_members_fn members_fn;
    void *members_ctx;
    atomic_uint live_nodes; /* the last count handed to it, 0 = none yet */
};

/* ---- small helpers ---- */

static void set_error(cluster_t *c, const char *what, const char *err)
{
    pthread_mutex_lock(&c->mu);
    snprintf(c->last_error, sizeof c->last_error, "%s: %s", what, err);
    pthread_mutex_unlock(&c->mu);
}

static void set_connected(cluster_t *c, bool up, const char *why)
{
    bool was = atomic_exchange(&c->connected, up);
    pthread_mutex_lock(&c->mu);
    snprintf(c->endpoint, sizeof c->endpoint, "%s", etcd_endpoint(c->etcd));
    bool cached = !c->ever_synced;
    pthread_mutex_unlock(&c->mu);
    if (!up && was && c->watching) { /* the watch's path is as dead as the calls' */
        etcd_watch_cancel(c->etcd);
        c->watching = false;
        c->probe_rev = 0;
    }
    if (was == up && c->reported) return;
    c->reported = true; /* the first state is said too (a start while etcd is down) */
    if (up)
        log_event(LOG_INFO, "cluster", "cluster_etcd_connected",
                  LOG_FIELDS(LF_STR("endpoint", etcd_endpoint(c->etcd))), "etcd reachable");
    else
        log_event(LOG_WARN, "cluster", "cluster_etcd_disconnected",
                  LOG_FIELDS(LF_STR("error", why)),
                  "etcd unreachable: running on the last configuration %s; admin writes "
                  "answer 503 until it is back (%s)",
                  cached ? "cached on disk (the local store)" : "applied", why);
}

/* Back off before the next attempt (doubling up to CLUSTER_BACKOFF_MAX_MS). */
static void back_off(cluster_t *c)
{
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : CLUSTER_TICK_MS;
    if (c->backoff_ms > CLUSTER_BACKOFF_MAX_MS) c->backoff_ms = CLUSTER_BACKOFF_MAX_MS;
    c->retry_at_ms = now_ms() + c->backoff_ms;
}

/* A failed etcd call: -EHOSTUNREACH means every endpoint failed (etcd.h), so
 * the node is disconnected until a call succeeds again. */
static void failed(cluster_t *c, int rc, const char *what, const char *err)
{
    set_error(c, what, err);
    if (rc == -EHOSTUNREACH) set_connected(c, false, err);
    back_off(c);
}

static void succeeded(cluster_t *c)
{
    c->backoff_ms = 0;
    set_connected(c, true, NULL);
}

/* The part of a key after prefix+`sub`, or NULL when the key is not there. */
static const char *key_under(const cluster_t *c, const char *key, const char *sub)
{
    size_t p = strlen(c->prefix), s = strlen(sub);
    if (strncmp(key, c->prefix, p) || strncmp(key + p, sub, s)) return NULL;
    return key + p + s;
}

/* prefix + "analyzers/" + id: the key of one analyzer's spec. */
static void analyzer_key(const cluster_t *c, const char *id, char *key, size_t cap)
{
    snprintf(key, cap, "%sanalyzers/%s", c->prefix, id);
}

/* ---- applying shared state to the delivery thread ---- */

static void apply_spec(cluster_t *c, const analyzer_spec_t *spec)
{
    /* the cache first: once the analyzer is visible here, a restart without
     * etcd knows it too */
    if (c->store && config_store_put(c->store, spec))
        log_warn("cluster", "analyzer %s: not written to the local cache", spec->id);
    int rc = deliver_analyzer_apply(c->d, spec, false, NULL);
    if (rc)
        log_event(LOG_ERROR, "cluster", "cluster_apply_failed",
                  LOG_FIELDS(LF_STR("analyzer", spec->id), LF_INT("errno", -rc)),
                  "analyzer %s from etcd could not be applied: %s", spec->id, strerror(-rc));
}

static void apply_remove(cluster_t *c, const char *id)
{
    char route[ROUTE_NAME_MAX + 1] = "";
    int rc = deliver_analyzer_remove(c->d, id, route, sizeof route);
    if (rc == -EBUSY)
        log_event(LOG_WARN, "cluster", "cluster_apply_failed",
                  LOG_FIELDS(LF_STR("analyzer", id), LF_STR("route", route)),
                  "analyzer %s was removed in etcd but route \"%s\" still names it here: kept", id,
                  route);
    if (rc != -EBUSY && c->store) config_store_remove(c->store, id);
}

static void apply_analyzer_kv(cluster_t *c, const char *id, const etcd_kv_t *kv, bool deleted)
{
    if (deleted) {
        apply_remove(c, id);
        return;
    }
    analyzer_spec_t spec;
    char err[300];
    if (cluster_spec_parse(kv->value, kv->value_len, id, &spec, err, sizeof err)) {
        log_event(LOG_ERROR, "cluster", "cluster_bad_value",
                  LOG_FIELDS(LF_STR("key", kv->key), LF_STR("error", err)),
                  "etcd key %s ignored: %s", kv->key, err);
        return;
    }
    apply_spec(c, &spec);
}

static void apply_routes_kv(cluster_t *c, const etcd_kv_t *kv, bool deleted)
{
    routes_t *cur = deliver_routes_get(c->d), *t = NULL;
    routes_defaults_t def = {NULL, 0, NULL};
    if (cur) routes_defaults_of(cur, &def);
    char err[512] = "";
    int rc = routes_parse(deleted || !kv->value_len ? "[]" : kv->value, &def, &t, err, sizeof err);
    routes_unref(cur);
    if (!rc && c->store) { /* the cache first, as for analyzers: the SQLite write is slow,
                              and between the table going live and routes_rev below a
                              routes write on this node compares an old revision (a 409) */
        routes_defaults_t tdef;
        routes_defaults_of(t, &tdef);
        config_store_put_routes(c->store, deleted ? "[]" : kv->value, tdef.config_text);
    }
    if (!rc) rc = deliver_set_routes(c->d, t, false, err, sizeof err);
    routes_unref(t);
    if (rc)
        log_event(LOG_ERROR, "cluster", "cluster_bad_value",
                  LOG_FIELDS(LF_STR("key", kv->key), LF_STR("error", err)),
                  "etcd route table ignored: %s", err);
    pthread_mutex_lock(&c->mu);
    c->routes_rev = deleted ? 0 : kv->mod_revision;
    pthread_mutex_unlock(&c->mu);
}

static void apply_node_kv(cluster_t *c, const char *id, const etcd_kv_t *kv, bool deleted)
{
    json_t *v = NULL;
    char err[200];
    if (!deleted && !(v = cluster_node_parse(kv->value, kv->value_len, id, err, sizeof err))) {
        log_warn("cluster", "etcd key %s ignored: %s", kv->key, err);
        return;
    }
    pthread_mutex_lock(&c->mu);
    if (deleted)
        json_object_del(c->nodes, id);
    else
        json_object_set_new(c->nodes, id, v);
    pthread_mutex_unlock(&c->mu);
    if (deleted)
        log_event(LOG_INFO, "cluster", "cluster_node_left", LOG_FIELDS(LF_STR("node", id)),
                  "node %s left the cluster (lease ended)", id);
}

/* One key of the prefix, put or deleted. */
static void apply_kv(cluster_t *c, const etcd_kv_t *kv, bool deleted)
{
    const char *id;
    if ((id = key_under(c, kv->key, "analyzers/")) && *id)
        apply_analyzer_kv(c, id, kv, deleted);
    else if ((id = key_under(c, kv->key, "nodes/")) && *id)
        apply_node_kv(c, id, kv, deleted);
    else if ((id = key_under(c, kv->key, "routes")) && !*id)
        apply_routes_kv(c, kv, deleted);
    else if ((id = key_under(c, kv->key, "initialized")) && !*id)
        c->initialized_seen = !deleted;
}

static void mark_applied(cluster_t *c, int64_t rev)
{
    pthread_mutex_lock(&c->mu);
    if (rev > c->applied_rev) c->applied_rev = rev;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* ---- the node's value ---- */

static char *node_value(cluster_t *c)
{
    deliver_snapshot_t s;
    json_t *an = json_object();
    uint64_t delivered = 0, queued = 0;
    if (deliver_snapshot(c->d, NULL, &s) == 0) {
        for (size_t i = 0; i < s.count; i++) {
            const deliver_analyzer_snap_t *x = &s.analyzers[i];
            json_object_set_new(an, x->spec.id,
                                json_pack("{s:I,s:f,s:f,s:s}", "records_delivered",
                                          (json_int_t)x->records_delivered, "weight",
                                          x->spec.weight, "target_share", x->target_share, "state",
                                          x->state));
            delivered += x->records_delivered;
            queued += x->queued_records;
        }
        deliver_snapshot_free(&s);
    }
    uint64_t acc = METRIC_GET(records_accepted), now = now_ms();
    if (c->last_rate_ms && now > c->last_rate_ms)
        c->records_per_s =
            (double)(acc - c->last_accepted) * 1000.0 / (double)(now - c->last_rate_ms);
    c->last_accepted = acc;
    c->last_rate_ms = now;
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:f,s:I,s:b,s:o}", "id", c->cfg->node_id, "url",
                  c->advertise, "version", LOGDIST_VERSION, "started_ms", (json_int_t)c->started_ms,
                  "updated_ms", (json_int_t)wall_ms(), "records_accepted", (json_int_t)acc,
                  "records_delivered", (json_int_t)delivered, "records_per_s", c->records_per_s,
                  "queued_records", (json_int_t)queued, "etcd_connected", true, "analyzers", an);
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return txt;
}

/* ---- membership: lease and node key ---- */

static void on_node_put(void *arg, int rc, const char *body, size_t len, const char *err)
{
    cluster_t *c = arg;
    int64_t rev = 0;
    if (rc) {
        failed(c, rc, "publishing the node", err);
        return;
    }
    succeeded(c);
    /* the watch must deliver this revision (one probe at a time: keep the oldest) */
    if (c->watching && c->probe_rev <= c->watch_rev &&
        etcd_parse_revision(body, len, &rev, NULL, NULL, 0) == 0 && rev > c->watch_rev) {
        c->probe_rev = rev;
        c->probe_ms = now_ms();
    }
}

static void publish(cluster_t *c)
{
    char *v = node_value(c);
    char *body = v ? etcd_req_put(c->node_key, v, strlen(v), c->lease) : NULL;
    free(v);
    if (body) etcd_call(c->etcd, "/kv/put", body, on_node_put, c);
}

static void on_keepalive(void *arg, int rc, const char *body, size_t len, const char *err)
{
    cluster_t *c = arg;
    c->lease_busy = false;
    int64_t id = 0, ttl = 0;
    char perr[200] = "";
    if (!rc) rc = etcd_parse_lease(body, len, &id, &ttl, perr, sizeof perr);
    if (rc == -ENOENT) { /* expired while we were away: a new lease, a new node key */
        log_warn("cluster", "lease %lld expired: registering again", (long long)c->lease);
        c->lease = 0;
        return;
    }
    if (rc) {
        failed(c, rc, "lease keep-alive", perr[0] ? perr : err);
        c->next_refresh_ms = now_ms() + c->backoff_ms;
        return;
    }
    succeeded(c);
    publish(c);
}

static void on_grant(void *arg, int rc, const char *body, size_t len, const char *err)
{
    cluster_t *c = arg;
    c->lease_busy = false;
    int64_t id = 0, ttl = 0;
    char perr[200] = "";
    if (!rc) rc = etcd_parse_lease(body, len, &id, &ttl, perr, sizeof perr);
    if (rc) {
        failed(c, rc, "lease grant", perr[0] ? perr : err);
        return;
    }
    c->lease = id;
    c->next_refresh_ms = now_ms() + CLUSTER_REFRESH_MS;
    succeeded(c);
    publish(c);
    log_event(LOG_INFO, "cluster", "cluster_joined",
              LOG_FIELDS(LF_STR("node", c->cfg->node_id), LF_STR("url", c->advertise),
                         LF_INT("ttl_s", ttl)),
              "node %s joined the cluster (lease %lld)", c->cfg->node_id, (long long)id);
}

static void lease_step(cluster_t *c, uint64_t now)
{
    if (c->lease_busy) return;
    if (!c->lease) {
        if (now < c->retry_at_ms) return;
        char *b = etcd_req_lease_grant(CLUSTER_LEASE_TTL_S);
        c->lease_busy = b && etcd_call(c->etcd, "/lease/grant", b, on_grant, c) == 0;
        return;
    }
    if (now < c->next_refresh_ms) return;
    c->next_refresh_ms = now + CLUSTER_REFRESH_MS;
    char *b = etcd_req_lease_id(c->lease);
    c->lease_busy = b && etcd_call(c->etcd, "/lease/keepalive", b, on_keepalive, c) == 0;
}

/* ---- shared state: read whole, then watch ---- */

static void seed(cluster_t *c, const etcd_range_t *r);

/* A whole read of the prefix: make the local state equal to it. */
static void apply_snapshot(cluster_t *c, const etcd_range_t *r)
{
    deliver_snapshot_t s;
    bool routes_seen = false;
    c->initialized_seen = false;
    pthread_mutex_lock(&c->mu);
    json_object_clear(c->nodes);
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < r->count; i++) {
        apply_kv(c, &r->kvs[i], false);
        const char *rest = key_under(c, r->kvs[i].key, "routes");
        if (rest && !*rest) routes_seen = true;
    }
    if (!c->initialized_seen) { /* a new cluster: this node's analyzers start it */
        seed(c, r);
        return;
    }
    if (deliver_snapshot(c->d, NULL, &s) == 0) { /* gone from etcd: gone here */
        for (size_t i = 0; i < s.count; i++) {
            char key[300];
            analyzer_key(c, s.analyzers[i].spec.id, key, sizeof key);
            bool found = false;
            for (size_t k = 0; k < r->count && !found; k++)
                found = !strcmp(r->kvs[k].key, key);
            if (!found) apply_remove(c, s.analyzers[i].spec.id);
        }
        deliver_snapshot_free(&s);
    }
    if (!routes_seen) {
        pthread_mutex_lock(&c->mu);
        c->routes_rev = 0;
        pthread_mutex_unlock(&c->mu);
    }
}

static void on_seeded(void *arg, int rc, const char *body, size_t len, const char *err)
{
    if (rc) log_warn("cluster", "seeding etcd: %s", err);
}

/* Publish this node's analyzers (from flags, the file or the cache) to a prefix
 * that has never held a cluster, each only if its key is still absent, then
 * mark the prefix initialized. Their events come back through the watch. */
static void seed(cluster_t *c, const etcd_range_t *r)
{
    deliver_snapshot_t s;
    if (deliver_snapshot(c->d, NULL, &s) == 0) {
        for (size_t i = 0; i < s.count; i++) {
            char key[300], *v = cluster_spec_json(&s.analyzers[i].spec);
            analyzer_key(c, s.analyzers[i].spec.id, key, sizeof key);
            char *b = v ? etcd_req_cas(key, 0, v, strlen(v), 0) : NULL;
            free(v);
            if (b) etcd_call(c->etcd, "/kv/txn", b, on_seeded, c);
        }
        deliver_snapshot_free(&s);
    }
    char key[200];
    snprintf(key, sizeof key, "%sinitialized", c->prefix);
    char *b = etcd_req_put(key, c->cfg->node_id, strlen(c->cfg->node_id), 0);
    if (b) etcd_call(c->etcd, "/kv/put", b, on_seeded, c);
    log_event(LOG_INFO, "cluster", "cluster_seeded", LOG_FIELDS(LF_STR("prefix", c->prefix)),
              "etcd prefix %s held no cluster: this node's analyzers start it", c->prefix);
}

static void on_range(void *arg, int rc, const char *body, size_t len, const char *err)
{
    cluster_t *c = arg;
    c->sync_busy = false;
    etcd_range_t r;
    char perr[300] = "";
    if (!rc) rc = etcd_parse_range(body, len, &r, perr, sizeof perr);
    if (rc) {
        failed(c, rc, "reading the prefix", perr[0] ? perr : err);
        return;
    }
    succeeded(c);
    apply_snapshot(c, &r);
    c->watch_rev = r.revision;
    c->synced = true;
    c->compacted = false;
    mark_applied(c, r.revision);
    pthread_mutex_lock(&c->mu);
    bool first = !c->ever_synced;
    c->ever_synced = true;
    pthread_mutex_unlock(&c->mu);
    log_event(LOG_INFO, "cluster", "cluster_synced",
              LOG_FIELDS(LF_INT("revision", r.revision), LF_UINT("keys", r.count)),
              "%s the cluster's state at revision %lld (%zu keys)", first ? "read" : "re-read",
              (long long)r.revision, r.count);
    etcd_range_free(&r);
}

static void on_watch_msg(void *arg, const etcd_watch_msg_t *m)
{
    cluster_t *c = arg;
    if (m->created) succeeded(c);
    if (m->compact_revision) {
        log_warn("cluster", "watch: revision %lld was compacted (oldest kept %lld): re-reading",
                 (long long)(c->watch_rev + 1), (long long)m->compact_revision);
        c->compacted = true;
        return;
    }
    for (size_t i = 0; i < m->count; i++) {
        apply_kv(c, &m->events[i].kv, m->events[i].deleted);
        if (m->events[i].kv.mod_revision > c->watch_rev)
            c->watch_rev = m->events[i].kv.mod_revision;
    }
    if (m->revision > c->watch_rev && !m->count && !m->canceled) c->watch_rev = m->revision;
    mark_applied(c, c->watch_rev);
}

static void on_watch_end(void *arg, int rc, const char *err)
{
    cluster_t *c = arg;
    c->watching = false;
    if (c->compacted) {
        c->synced = false; /* a whole read again, then a new watch */
        return;
    }
    /* a watch that ends says nothing about the other endpoints: it is started
     * again (on the next endpoint after a transport error) after a back-off;
     * connectivity is judged by the calls, which try every endpoint */
    log_info("cluster", "watch ended (%s): resuming from revision %lld",
             err && err[0] ? err : "stream closed", (long long)(c->watch_rev + 1));
    back_off(c);
}

/* A watch that has not delivered this node's own put in CLUSTER_WATCH_STALE_MS
 * is stuck on a silent path: start it again from the last revision it gave. */
static void watch_check(cluster_t *c, uint64_t now)
{
    if (!c->watching || c->probe_rev <= c->watch_rev) return;
    if (now - c->probe_ms < CLUSTER_WATCH_STALE_MS) return;
    log_event(LOG_WARN, "cluster", "cluster_watch_stalled",
              LOG_FIELDS(LF_INT("revision", c->probe_rev), LF_INT("watch_revision", c->watch_rev),
                         LF_STR("endpoint", etcd_endpoint(c->etcd))),
              "watch: this node's heartbeat at revision %lld did not arrive within %d ms "
              "(a silent connection): restarting it from revision %lld",
              (long long)c->probe_rev, CLUSTER_WATCH_STALE_MS, (long long)c->watch_rev + 1);
    etcd_watch_cancel(c->etcd);
    c->watching = false;
    c->probe_rev = 0;
    METRIC_ADD(cluster_watch_restarts, 1);
}

static void sync_step(cluster_t *c, uint64_t now)
{
    watch_check(c, now);
    if (now < c->retry_at_ms) return;
    if (!c->synced) {
        if (c->sync_busy) return;
        char *b = etcd_req_range(c->prefix, true);
        c->sync_busy = b && etcd_call(c->etcd, "/kv/range", b, on_range, c) == 0;
        return;
    }
    if (c->watching) return;
    char *b = etcd_req_watch(c->prefix, true, c->watch_rev + 1);
    c->watching = b && etcd_watch(c->etcd, b, on_watch_msg, on_watch_end, c) == 0;
}

/* Hand the membership count to the hook when it changed (cluster thread). */
static void members_step(cluster_t *c)
{
    if (!c->members_fn) return;
    pthread_mutex_lock(&c->mu);
    unsigned live = (unsigned)json_object_size(c->nodes);
    if (!json_object_get(c->nodes, c->cfg->node_id)) live++; /* not seen yet: still here */
    pthread_mutex_unlock(&c->mu);
    if (live == atomic_load(&c->live_nodes)) return;
    atomic_store(&c->live_nodes, live);
    c->members_fn(c->members_ctx, live);
}

void cluster_on_members(cluster_t *c, cluster_members_fn fn, void *ctx)
{
    c->members_fn = fn;
    c->members_ctx = ctx;
}

unsigned cluster_live_nodes(const cluster_t *c)
{
    return atomic_load(&((cluster_t *)c)->live_nodes);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    cluster_t *c = arg;
    if (atomic_load(&c->stopping)) return;
    uint64_t now = now_ms();
    lease_step(c, now);
    sync_step(c, now);
    members_step(c);
}

/* ---- the thread ---- */

static void *cluster_main(void *arg)
{
    cluster_t *c = arg;
    mailbox_bind(c->mb);
    on_tick(-1, 0, c);
    event_base_dispatch(c->base);
    mailbox_unbind(c->mb);
    return NULL;
}

cluster_t *cluster_new(const config_t *cfg, deliver_t *d, config_store_t *store,
                       uint16_t listen_port, char *err, size_t errlen)
{
    analyzer_spec_t probe = {.weight = 1};
    snprintf(probe.id, sizeof probe.id, "%s", cfg->node_id);
    snprintf(probe.url, sizeof probe.url, "http://127.0.0.1:1/");
    if (config_check_analyzer(&probe, err, errlen)) { /* the same id syntax as analyzers */
        snprintf(err, errlen, "--node-id \"%s\": 1..%d of [A-Za-z0-9._-]", cfg->node_id,
                 CONFIG_ID_MAX);
        return NULL;
    }
    cluster_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->cfg = cfg;
    c->d = d;
    c->store = store;
    size_t pl = strlen(cfg->cluster_prefix);
    snprintf(c->prefix, sizeof c->prefix, "%s%s", cfg->cluster_prefix,
             pl && cfg->cluster_prefix[pl - 1] == '/' ? "" : "/");
    snprintf(c->node_key, sizeof c->node_key, "%snodes/%s", c->prefix, cfg->node_id);
    if (cfg->advertise[0])
        snprintf(c->advertise, sizeof c->advertise, "%s", cfg->advertise);
    else
        snprintf(c->advertise, sizeof c->advertise, "http://%.255s:%u", cfg->listen_host,
                 (unsigned)listen_port);
    c->started_ms = wall_ms();
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->nodes = json_object();
    c->base = event_base_new();
    c->mb = c->base ? mailbox_new(c->base) : NULL;
    c->tick = c->base ? event_new(c->base, -1, EV_PERSIST, on_tick, c) : NULL;
    if (!c->nodes || !c->mb || !c->tick) goto fail;
    etcd_opts_t o = {.endpoints = cfg->cluster_etcd,
                     .cacert = cfg->etcd_cacert,
                     .cert = cfg->etcd_cert,
                     .key = cfg->etcd_key,
                     .user = cfg->etcd_user,
                     .password = cfg->etcd_password};
    c->etcd = etcd_new(c->base, &o, err, errlen);
    if (!c->etcd) goto fail;
    snprintf(c->endpoint, sizeof c->endpoint, "%s", etcd_endpoint(c->etcd));
    snprintf(c->last_error, sizeof c->last_error, "not connected yet");
    return c;
fail:
    cluster_free(c);
    return NULL;
}

int cluster_start(cluster_t *c)
{
    struct timeval tv = {0, CLUSTER_TICK_MS * 1000};
    if (event_add(c->tick, &tv)) return -1;
    if (pthread_create(&c->th, NULL, cluster_main, c)) return -1;
    c->thread_started = true;
    return 0;
}

/* ---- calls from other threads ---- */

typedef struct {
    cluster_t *c;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    bool done;
    char path[32];
    char *body;
    int rc;
    char *resp;
    size_t len;
    char err[240];
} sync_call_t;

static void sync_unref(sync_call_t *s)
{
    pthread_mutex_lock(&s->mu);
    int left = --s->refs;
    pthread_mutex_unlock(&s->mu);
    if (left) return;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->body);
    free(s->resp);
    free(s);
}

static void sync_done(void *arg, int rc, const char *body, size_t len, const char *err)
{
    sync_call_t *s = arg;
    if (rc == -EHOSTUNREACH)
        set_connected(s->c, false, err);
    else if (rc == 0)
        set_connected(s->c, true, NULL);
    pthread_mutex_lock(&s->mu);
    s->rc = rc;
    s->resp = malloc(len + 1);
    if (s->resp) {
        memcpy(s->resp, body, len);
        s->resp[len] = 0;
        s->len = len;
    } else if (!rc) {
        s->rc = -ENOMEM;
    }
    snprintf(s->err, sizeof s->err, "%s", err);
    s->done = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    sync_unref(s);
}

static void sync_start(void *arg)
{
    sync_call_t *s = arg;
    char *b = s->body;
    s->body = NULL;
    if (atomic_load(&s->c->stopping)) { /* run by mailbox_free at the end: no etcd any more */
        free(b);
        sync_done(s, -EHOSTUNREACH, "", 0, "this node is leaving the cluster");
        return;
    }
    if (etcd_call(s->c->etcd, s->path, b, sync_done, s))
        sync_done(s, -ENOMEM, "", 0, "out of memory");
}

/* The CLOCK_REALTIME instant ms from now (pthread_cond_timedwait's deadline). */
static struct timespec deadline_in(long ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += (ms % 1000) * 1000000L;
    t.tv_sec += ms / 1000 + t.tv_nsec / 1000000000L;
    t.tv_nsec %= 1000000000L;
    return t;
}

/* Run one etcd call on the cluster thread and wait for it (bounded). body is
 * taken. *resp (malloc'd, NUL-terminated) is the caller's on 0 or -EPROTO. */
static int call_sync(cluster_t *c, const char *path, char *body, char **resp, size_t *len,
                     char *err, size_t errlen)
{
    *resp = NULL;
    sync_call_t *s = body ? calloc(1, sizeof *s) : NULL;
    if (!s) {
        free(body);
        return -ENOMEM;
    }
    s->c = c;
    s->refs = 2;
    s->body = body;
    snprintf(s->path, sizeof s->path, "%s", path);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (mailbox_post_fn(c->mb, sync_start, s)) {
        s->refs = 1;
        sync_unref(s);
        return -ENOMEM;
    }
    struct timespec until = deadline_in(CLUSTER_WRITE_WAIT_MS);
    pthread_mutex_lock(&s->mu);
    while (!s->done && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0) {
    }
    int rc = s->done ? s->rc : -EHOSTUNREACH;
    if (s->done) {
        snprintf(err, errlen, "%s", s->err);
        *resp = s->resp;
        *len = s->len;
        s->resp = NULL;
    } else {
        snprintf(err, errlen, "etcd did not answer within %d ms", CLUSTER_WRITE_WAIT_MS);
    }
    pthread_mutex_unlock(&s->mu);
    sync_unref(s);
    return rc;
}

/* Wait until this node applied revision rev (bounded; late is not an error). */
static void wait_applied(cluster_t *c, int64_t rev)
{
    struct timespec until = deadline_in(CLUSTER_APPLY_WAIT_MS);
    pthread_mutex_lock(&c->mu);
    while (c->applied_rev < rev && pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0) {
    }
    pthread_mutex_unlock(&c->mu);
}

/* Txn of etcd_req_cas: 0 (won, *rev), -EAGAIN (lost: *cur is the key now), or an error. */
static int cas(cluster_t *c, char *body, int64_t *rev, etcd_range_t *cur, char *err, size_t errlen)
{
    char *resp;
    size_t len;
    int rc = call_sync(c, "/kv/txn", body, &resp, &len, err, errlen);
    memset(cur, 0, sizeof *cur);
    if (rc == -EHOSTUNREACH) { /* no answer: the txn may have been sent and applied */
        size_t n = strnlen(err, errlen);
        if (n < errlen)
            snprintf(err + n, errlen - n, " (the outcome is unknown: etcd may have applied the "
                                          "change; read it back before retrying)");
    }
    if (rc) {
        free(resp);
        return rc == -EPROTO ? -EINVAL : rc;
    }
    bool won = false;
    rc = etcd_parse_txn(resp, len, &won, rev, cur, err, errlen);
    free(resp);
    if (rc) return -EINVAL;
    return won ? 0 : -EAGAIN;
}

static bool writable(cluster_t *c, char *err, size_t errlen)
{
    if (atomic_load(&c->stopping)) {
        snprintf(err, errlen, "this node is leaving the cluster (shutting down)");
        return false;
    }
    if (atomic_load(&c->connected)) return true;
    pthread_mutex_lock(&c->mu);
    snprintf(err, errlen,
             "etcd is unreachable (%s): the cluster's configuration cannot be "
             "changed until it is back",
             c->last_error);
    pthread_mutex_unlock(&c->mu);
    return false;
}

int cluster_analyzer_create(cluster_t *c, const analyzer_spec_t *spec, char *err, size_t errlen)
{
    if (!writable(c, err, errlen)) return -EHOSTUNREACH;
    char key[300], *v = cluster_spec_json(spec);
    analyzer_key(c, spec->id, key, sizeof key);
    char *b = v ? etcd_req_cas(key, 0, v, strlen(v), 0) : NULL;
    free(v);
    if (!b) return -ENOMEM;
    int64_t rev = 0;
    etcd_range_t cur;
    int rc = cas(c, b, &rev, &cur, err, errlen);
    etcd_range_free(&cur);
    if (rc == -EAGAIN) {
        snprintf(err, errlen, "an analyzer with this id exists");
        return -EEXIST;
    }
    if (!rc) wait_applied(c, rev);
    return rc;
}

/* Read key now: 0 with its value and mod_revision, -ENOENT, or an error. */
static int read_key(cluster_t *c, const char *key, etcd_range_t *r, char *err, size_t errlen)
{
    char *resp, *b = etcd_req_range(key, false);
    size_t len;
    memset(r, 0, sizeof *r);
    if (!b) return -ENOMEM;
    int rc = call_sync(c, "/kv/range", b, &resp, &len, err, errlen);
    if (!rc)
        rc = etcd_parse_range(resp, len, r, err, errlen) ? -EINVAL : 0;
    else if (rc == -EPROTO)
        rc = -EINVAL;
    free(resp);
    if (!rc && r->count == 0) rc = -ENOENT;
    return rc;
}

int cluster_analyzer_modify(cluster_t *c, const char *id, cluster_modify_fn fn, void *ctx,
                            char *err, size_t errlen)
{
    if (!writable(c, err, errlen)) return -EHOSTUNREACH;
    char key[300];
    analyzer_key(c, id, key, sizeof key);
    for (int attempt = 0; attempt < CLUSTER_CAS_TRIES; attempt++) {
        etcd_range_t r, cur;
        int rc = read_key(c, key, &r, err, errlen);
        if (rc) {
            etcd_range_free(&r);
            return rc;
        }
        analyzer_spec_t spec;
        rc = cluster_spec_parse(r.kvs[0].value, r.kvs[0].value_len, id, &spec, err, errlen);
        int64_t mod = r.kvs[0].mod_revision, rev = 0;
        etcd_range_free(&r);
        if (rc) return rc;
        if ((rc = fn(ctx, &spec, err, errlen))) return rc;
        char *v = cluster_spec_json(&spec);
        char *b = v ? etcd_req_cas(key, mod, v, strlen(v), 0) : NULL;
        free(v);
        if (!b) return -ENOMEM;
        rc = cas(c, b, &rev, &cur, err, errlen);
        etcd_range_free(&cur);
        if (!rc) wait_applied(c, rev);
        if (rc != -EAGAIN) return rc;
        log_info("cluster", "analyzer %s changed meanwhile (revision %lld): read again", id,
                 (long long)mod);
    }
    snprintf(err, errlen,
             "analyzer %s kept changing on other nodes: %d compare-and-set "
             "attempts lost; nothing was written, retry",
             id, CLUSTER_CAS_TRIES);
    return -EAGAIN;
}

int cluster_analyzer_delete(cluster_t *c, const char *id, char *err, size_t errlen)
{
    if (!writable(c, err, errlen)) return -EHOSTUNREACH;
    char key[300];
    analyzer_key(c, id, key, sizeof key);
    for (int attempt = 0; attempt < CLUSTER_CAS_TRIES; attempt++) {
        etcd_range_t r, cur;
        int rc = read_key(c, key, &r, err, errlen);
        int64_t mod = rc ? 0 : r.kvs[0].mod_revision, rev = 0;
        etcd_range_free(&r);
        if (rc) return rc;
        char *b = etcd_req_cas(key, mod, NULL, 0, 0);
        if (!b) return -ENOMEM;
        rc = cas(c, b, &rev, &cur, err, errlen);
        etcd_range_free(&cur);
        if (!rc) wait_applied(c, rev);
        if (rc != -EAGAIN) return rc;
    }
    snprintf(err, errlen, "analyzer %s kept changing on other nodes; retry", id);
    return -EAGAIN;
}

int cluster_routes_put(cluster_t *c, const char *text, char *err, size_t errlen)
{
    if (!writable(c, err, errlen)) return -EHOSTUNREACH;
    char key[200];
    snprintf(key, sizeof key, "%sroutes", c->prefix);
    pthread_mutex_lock(&c->mu);
    int64_t base = c->routes_rev;
    pthread_mutex_unlock(&c->mu);
    char *b = etcd_req_cas(key, base, text, strlen(text), 0);
    if (!b) return -ENOMEM;
    int64_t rev = 0;
    etcd_range_t cur;
    int rc = cas(c, b, &rev, &cur, err, errlen);
    etcd_range_free(&cur);
    if (rc == -EAGAIN)
        snprintf(err, errlen,
                 "the route table was changed on another node since this node "
                 "applied it; read it again and retry");
    if (!rc) wait_applied(c, rev);
    return rc;
}

/* ---- views ---- */

bool cluster_connected(const cluster_t *c)
{
    return atomic_load(&((cluster_t *)c)->connected);
}

json_t *cluster_status_json(cluster_t *c)
{
    bool up = atomic_load(&c->connected);
    uint64_t now = wall_ms();
    json_t *nodes = json_array();
    pthread_mutex_lock(&c->mu);
    const char *id;
    json_t *v;
    json_object_foreach(c->nodes, id, v)
    {
        json_t *n = json_object();
        json_int_t upd = json_integer_value(json_object_get(v, "updated_ms"));
        json_object_set_new(n, "id", json_string(id));
        json_object_set_new(n, "alive", json_boolean(up || !strcmp(id, c->cfg->node_id)));
        json_object_set_new(n, "self", json_boolean(!strcmp(id, c->cfg->node_id)));
        json_object_set(n, "url", json_object_get(v, "url"));
        json_object_set(n, "version", json_object_get(v, "version"));
        json_object_set(n, "started_ms", json_object_get(v, "started_ms"));
        json_object_set(n, "updated_ms", json_object_get(v, "updated_ms"));
        json_object_set_new(n, "age_ms", json_integer(upd > 0 ? (json_int_t)now - upd : -1));
        json_object_set(n, "records_per_s", json_object_get(v, "records_per_s"));
        json_object_set(n, "records_accepted", json_object_get(v, "records_accepted"));
        json_object_set(n, "records_delivered", json_object_get(v, "records_delivered"));
        json_object_set(n, "queued_records", json_object_get(v, "queued_records"));
        json_object_set(n, "etcd_connected", json_object_get(v, "etcd_connected"));
        json_array_append_new(nodes, n);
    }
    json_t *o = json_pack("{s:s,s:b,s:s,s:s,s:I,s:i,s:s,s:s}", "node_id", c->cfg->node_id,
                          "etcd_connected", up, "etcd_endpoint", c->endpoint, "config",
                          up && c->ever_synced ? "synced" : "cached", "revision",
                          (json_int_t)c->applied_rev, "lease_ttl_s", CLUSTER_LEASE_TTL_S, "prefix",
                          c->prefix, "last_error", up ? "" : c->last_error);
    pthread_mutex_unlock(&c->mu);
    if (o)
        json_object_set_new(o, "nodes", nodes);
    else
        json_decref(nodes);
    return o;
}

json_t *cluster_analyzers_json(cluster_t *c, const json_t *local_analyzers)
{
    pthread_mutex_lock(&c->mu);
    json_t *nodes = json_deep_copy(c->nodes);
    pthread_mutex_unlock(&c->mu);
    json_t *view = cluster_share_view(local_analyzers, nodes);
    json_t *o = json_object();
    json_object_set_new(o, "etcd_connected", json_boolean(atomic_load(&c->connected)));
    json_object_set_new(o, "nodes", json_integer((json_int_t)json_object_size(nodes)));
    json_object_set_new(o, "analyzers", view ? view : json_array());
    json_decref(nodes);
    return o;
}

/* ---- stop ---- */

static void on_revoked(void *arg, int rc, const char *body, size_t len, const char *err)
{
    cluster_t *c = arg;
    event_base_loopbreak(c->base);
}

static void stop_on_thread(void *arg)
{
    cluster_t *c = arg;
    atomic_store(&c->stopping, true);
    etcd_watch_cancel(c->etcd);
    char *b = c->lease ? etcd_req_lease_id(c->lease) : NULL;
    if (!b || etcd_call(c->etcd, "/lease/revoke", b, on_revoked, c)) {
        event_base_loopbreak(c->base);
        return;
    }
    struct timeval tv = {1, 0}; /* the revoke is a courtesy: the lease ends by itself */
    event_base_loopexit(c->base, &tv);
}

void cluster_stop(cluster_t *c)
{
    if (!c || !c->thread_started) return;
    atomic_store(&c->stopping, true);
    mailbox_post_fn(c->mb, stop_on_thread, c);
    pthread_join(c->th, NULL);
    c->thread_started = false;
}

void cluster_free(cluster_t *c)
{
    if (!c) return;
    cluster_stop(c);
    atomic_store(&c->stopping, true);
    mailbox_free(c->mb); /* runs what is still queued: sync calls end at once */
    etcd_free(c->etcd);  /* what is in flight ends without its callback */
    if (c->tick) event_free(c->tick);
    if (c->base) event_base_free(c->base);
    json_decref(c->nodes);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}
