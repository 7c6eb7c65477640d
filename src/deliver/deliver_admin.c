/*
 * deliver_admin.c - the admin side of deliver.h: each operation runs on the
 * delivery thread through its mailbox (mailbox_call_sync) and hands back
 * plain data (a snapshot, a spec, a return code); admin/ turns it into JSON.
 * GET /health reads the published atomic and never waits.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "deliver/deliver_int.h"

typedef void (*deliver_fn)(deliver_t *d, void *arg);

typedef struct {
    deliver_t *d;
    deliver_fn fn;
    void *arg;
} call_t;

static void run_call(void *arg)
{
    call_t *c = arg;
    c->fn(c->d, c->arg);
}

/* Run fn(d, arg) on the delivery thread and wait for it (inline when the
 * thread is not running, or when called from it). */
static void deliver_call(deliver_t *d, deliver_fn fn, void *arg)
{
    call_t c = {d, fn, arg};
    mailbox_call_sync(d->mbox, run_call, &c);
}

static void do_set_options(deliver_t *d, void *arg)
{
    deliver_apply_options(d, arg);
}

void deliver_set_options(deliver_t *d, const config_t *newcfg)
{
    deliver_call(d, do_set_options, (void *)newcfg);
}

typedef struct {
    analyzer_spec_t *spec;
    const char *id;
    bool has_weight;
    double weight;
    int drained; /* -1 unchanged, 0, 1 */
    const char *url, *health_url;
    bool has_slow_start;
    uint32_t slow_start_ms;
    int rc;
    deliver_snapshot_t *snap;
    char route[ROUTE_NAME_MAX + 1]; /* remove: the route that names it */
} admin_arg_t;

static void do_add(deliver_t *d, void *arg)
{
    admin_arg_t *x = arg;
    x->rc = deliver_add_analyzer(d, x->spec);
}

int deliver_analyzer_add(deliver_t *d, analyzer_spec_t *spec)
{
    char err[256];
    if (config_check_analyzer(spec, err, sizeof err)) return -EINVAL;
    admin_arg_t x = {.spec = spec};
    deliver_call(d, do_add, &x);
    return x.rc;
}

static void do_update(deliver_t *d, void *arg)
{
    admin_arg_t *x = arg;
    analyzer_t *a = router_find(d->router, x->id);
    if (!a) {
        x->rc = -ENOENT;
        return;
    }
    analyzer_spec_t spec = a->spec;
    if (x->url && x->url[0]) {
        strlcpy_ld(spec.url, x->url, sizeof spec.url);
        if (!(x->health_url && x->health_url[0])) spec.health_url[0] = 0;
    }
    if (x->health_url && x->health_url[0])
        strlcpy_ld(spec.health_url, x->health_url, sizeof spec.health_url);
    if (x->has_weight) spec.weight = x->weight;
    if (x->drained >= 0) spec.drained = x->drained;
    char err[256];
    if (config_check_analyzer(&spec, err, sizeof err)) {
        x->rc = -EINVAL;
        return;
    }
    deliver_update_analyzer(d, a, &spec, &x->rc);
}

int deliver_analyzer_update(deliver_t *d, const char *id, bool has_weight, double weight,
                            int drained, const char *url, const char *health_url)
{
    admin_arg_t x = {.id = id, .has_weight = has_weight, .weight = weight, .drained = drained,
                     .url = url, .health_url = health_url};
    deliver_call(d, do_update, &x);
    return x.rc;
}

static void do_slow_start(deliver_t *d, void *arg)
{
    admin_arg_t *x = arg;
    analyzer_t *a = router_find(d->router, x->id);
    x->rc = a ? 0 : -ENOENT;
    if (!a) return;
    analyzer_spec_t spec = a->spec;
    spec.has_slow_start = x->has_slow_start;
    spec.slow_start_ms = x->has_slow_start ? x->slow_start_ms : 0;
    if (spec.has_slow_start != a->spec.has_slow_start ||
        spec.slow_start_ms != a->spec.slow_start_ms)
        deliver_update_analyzer(d, a, &spec, &x->rc);
}

int deliver_analyzer_set_slow_start(deliver_t *d, const char *id, bool has, uint32_t ms)
{
    admin_arg_t x = {.id = id, .has_slow_start = has, .slow_start_ms = ms};
    deliver_call(d, do_slow_start, &x);
    return x.rc;
}

static void do_remove(deliver_t *d, void *arg)
{
    admin_arg_t *x = arg;
    analyzer_t *a = router_find(d->router, x->id);
    x->rc = a ? 0 : -ENOENT;
    const char *route = a ? routes_naming(router_routes(d->router), x->id) : NULL;
    if (route) {
        snprintf(x->route, sizeof x->route, "%s", route);
        x->rc = -EBUSY;
        return;
    }
    if (a) deliver_remove_analyzer(d, a);
}

int deliver_analyzer_remove(deliver_t *d, const char *id, char *route, size_t routelen)
{
    admin_arg_t x = {.id = id};
    deliver_call(d, do_remove, &x);
    if (route && routelen) snprintf(route, routelen, "%s", x.route);
    return x.rc;
}

static void do_replace(deliver_t *d, void *arg)
{
    admin_arg_t *x = arg;
    analyzer_t *a = router_find(d->router, x->spec->id);
    if (!a) {
        x->rc = -ENOENT;
        return;
    }
    deliver_remove_analyzer(d, a);
    x->rc = deliver_add_analyzer(d, x->spec);
}

int deliver_analyzer_replace(deliver_t *d, analyzer_spec_t *spec)
{
    char err[256];
    if (config_check_analyzer(spec, err, sizeof err)) return -EINVAL;
    admin_arg_t x = {.spec = spec};
    deliver_call(d, do_replace, &x);
    return x.rc;
}

int deliver_analyzer_apply(deliver_t *d, const analyzer_spec_t *want, bool keep_drained,
                           deliver_apply_t *what)
{
    analyzer_spec_t have, spec = *want;
    int rc;
    if (what) *what = DELIVER_APPLY_SAME;
    if (deliver_analyzer_spec(d, want->id, &have)) {
        if ((rc = deliver_analyzer_add(d, &spec))) return rc;
        if (what) *what = DELIVER_APPLY_ADDED;
        return 0;
    }
    if (keep_drained) spec.drained = have.drained;
    if (config_analyzer_equal(&have, &spec)) return 0;
    if (strcmp(have.client_cert, spec.client_cert) || strcmp(have.client_key, spec.client_key)) {
        rc = deliver_analyzer_replace(d, &spec); /* a new TLS identity: same routes */
    } else {
        rc = deliver_analyzer_update(d, spec.id, true, spec.weight, spec.drained ? 1 : 0, spec.url,
                                     spec.health_url);
        if (!rc) rc = deliver_analyzer_set_slow_start(d, spec.id, spec.has_slow_start,
                                                      spec.slow_start_ms);
    }
    if (!rc && what) *what = DELIVER_APPLY_UPDATED;
    return rc;
}

typedef struct {
    routes_t *t;
    bool strict;
    char *err;
    size_t errlen;
    int rc;
    router_route_stat_t *stats;
    size_t n;
} routes_arg_t;

static bool registered(void *ctx, const char *id)
{
    return router_find(ctx, id) != NULL;
}

static void do_set_routes(deliver_t *d, void *arg)
{
    routes_arg_t *x = arg;
    if (x->strict && (x->rc = routes_check_members(x->t, registered, d->router, "", "registered",
                                                   x->err, x->errlen)))
        return;
    x->rc = router_set_routes(d->router, x->t);
    if (x->rc) return;
    pthread_mutex_lock(&d->routes_mu);
    routes_t *old = d->routes_pub;
    d->routes_pub = routes_ref(x->t);
    atomic_store_explicit(&d->routes_may_refuse, routes_may_refuse(x->t), memory_order_release);
    pthread_mutex_unlock(&d->routes_mu);
    routes_unref(old);
    deliver_routes_changed(d);
}

routes_t *deliver_routes_get(deliver_t *d)
{
    pthread_mutex_lock(&d->routes_mu);
    routes_t *t = routes_ref(d->routes_pub);
    pthread_mutex_unlock(&d->routes_mu);
    return t;
}

long deliver_route_check(void *ctx, const char *data, const scan_record_t *recs, size_t count)
{
    deliver_t *d = ctx;
    if (!atomic_load_explicit(&d->routes_may_refuse, memory_order_acquire)) return -1;
    routes_t *t = deliver_routes_get(d);
    long bad = -1;
    route_hits_t h;
    for (size_t i = 0; t && i < count && bad < 0; i++)
        if (routes_classify_scanned(t, data, &recs[i], &h) == 0 &&
            h.primary < 0 && !h.ncopies)
            bad = (long)i;
    routes_unref(t);
    return bad;
}

int deliver_set_routes(deliver_t *d, routes_t *t, bool strict, char *err, size_t errlen)
{
    routes_arg_t x = {.t = t, .strict = strict, .err = err, .errlen = errlen};
    deliver_call(d, do_set_routes, &x);
    return x.rc;
}

static void do_route_stats(deliver_t *d, void *arg)
{
    routes_arg_t *x = arg;
    x->rc = router_route_stats(d->router, &x->stats, &x->n);
    if (!x->rc) x->t = routes_ref((routes_t *)router_routes(d->router));
}

int deliver_route_stats(deliver_t *d, routes_t **table, router_route_stat_t **stats, size_t *n)
{
    routes_arg_t x = {0};
    deliver_call(d, do_route_stats, &x);
    if (x.rc) return x.rc;
    *table = x.t;
    *stats = x.stats;
    *n = x.n;
    return 0;
}

static void do_spec(deliver_t *d, void *arg)
{
    admin_arg_t *x = arg;
    analyzer_t *a = router_find(d->router, x->id);
    x->rc = a ? 0 : -ENOENT;
    if (a) *x->spec = a->spec;
}

int deliver_analyzer_spec(deliver_t *d, const char *id, analyzer_spec_t *out)
{
    admin_arg_t x = {.id = id, .spec = out};
    deliver_call(d, do_spec, &x);
    return x.rc;
}

/* ------------------------------------------------------------------ snapshot */

static void snap_factors(const deliver_t *d, const analyzer_t *a, deliver_analyzer_snap_t *o)
{
    const target_t *t = a->user;
    bool on = d->opts.adaptive_weights && t->adapt.samples;
    o->factor = a->factor;
    o->factor_latency = on ? t->adapt.lat_raw : 1;
    o->factor_errors = on ? t->adapt.err_raw : 1;
    o->factor_slow_start = t->f_slow_start;
    o->factor_hint = t->f_hint;
    o->latency_peak_ewma_ms = t->adapt.ewma_ms;
    o->error_rate = t->adapt.err_rate;
    o->latency_reference_ms = t->ref_ms;
    o->weight_hints_accepted = t->hints_accepted;
    o->weight_hints_refused = t->hints_refused;
    deliver_adapt_reason(t, o->weight_reason, sizeof o->weight_reason);
}

static void snap_one(deliver_t *d, analyzer_t *a, const queue_share_t *qs,
                     deliver_analyzer_snap_t *o)
{
    const target_t *t = a->user;
    health_info_t hi = {0};
    if (t->health) health_info(t->health, &hi);
    memset(o, 0, sizeof *o);
    o->spec = a->spec;
    o->target_share = router_target_share(d->router, a);
    o->effective_weight = router_effective_weight(a); /* configured x factor, 0 drained */
    snap_factors(d, a, o);
    o->effective_share = router_effective_share(d->router, a);
    o->healthy = hi.up;
    o->routable = a->routable;
    o->state = !hi.up                               ? "down"
               : t->breaker.state == BREAKER_OPEN   ? "open"
               : router_weight(a) == 0              ? "drained"
                                                    : "up";
    o->breaker = breaker_state_name(t->breaker.state);
    o->breaker_trips = t->breaker.trips;
    o->health_changed_ms = hi.changed_ms;
    o->times_marked_down = hi.times_marked_down;
    o->records_routed = a->records_routed;
    o->records_delivered = t->records_delivered;
    o->records_redistributed_in = t->records_redistributed_in;
    o->batches_delivered = t->batches_delivered;
    o->batches_failed = t->batches_failed;
    o->records_retried = t->records_retried;
    o->records_deadlettered = t->records_deadlettered;
    o->records_delivered_10s = window_sum(&t->delivered_10s, now_ms() / 1000);
    hist_snapshot(&t->attempt_seconds, &o->attempt_seconds);
    o->inflight_batches = t->inflight;
    uint64_t queued = router_open_records(d->router, a);
    for (const batch_t *b = t->ready.head; b; b = b->next) queued += b->records;
    o->queued_records = queued;
    o->queue_bytes = t->queue_bytes;
    o->queue_share_bytes = qs ? qs->base : 0;
    o->queue_allowance_bytes = qs ? qs->allowance : 0;
    o->latency_ms = t->latency_ewma_ms;
    /* the most recent of the delivery error and the health-check error */
    const char *err = hi.last_error_ms > t->last_error_ms ? hi.last_error : t->last_error;
    snprintf(o->last_error, sizeof o->last_error, "%s", err);
}

/* actual_share and actual_share_10s: each analyzer's delivered records over
 * those of every analyzer in the snapshot (all live ones when id is NULL). */
static void shares_of(deliver_snapshot_t *s)
{
    uint64_t all = 0, all10 = 0;
    for (size_t i = 0; i < s->count; i++) {
        all += s->analyzers[i].records_delivered;
        all10 += s->analyzers[i].records_delivered_10s;
    }
    for (size_t i = 0; i < s->count; i++) {
        deliver_analyzer_snap_t *o = &s->analyzers[i];
        o->actual_share = all ? (double)o->records_delivered / (double)all : 0;
        o->actual_share_10s = all10 ? (double)o->records_delivered_10s / (double)all10 : 0;
    }
}

static void do_snapshot(deliver_t *d, void *arg)
{
    admin_arg_t *x = arg;
    deliver_snapshot_t *s = x->snap;
    size_t live = 0;
    for (analyzer_t *a = router_first(d->router); a; a = a->next)
        live += !a->removed && (!x->id || !strcmp(a->spec.id, x->id));
    if (x->id && !live) {
        x->rc = -ENOENT;
        return;
    }
    s->random_strategy = d->cfg->strategy != BALANCER_SWRR;
    s->panic = router_in_panic(d->router);
    s->analyzers = calloc(live ? live : 1, sizeof *s->analyzers);
    if (!s->analyzers) {
        x->rc = -ENOMEM;
        return;
    }
    size_t nshares = deliver_queue_shares(d), i = 0;
    for (analyzer_t *a = router_first(d->router); a; a = a->next, i++) {
        if (a->removed || (x->id && strcmp(a->spec.id, x->id))) continue;
        snap_one(d, a, i < nshares ? &d->shares[i] : NULL, &s->analyzers[s->count++]);
    }
    shares_of(s);
    x->rc = 0;
}

int deliver_snapshot(deliver_t *d, const char *id, deliver_snapshot_t *out)
{
    memset(out, 0, sizeof *out);
    admin_arg_t x = {.id = id, .snap = out};
    deliver_call(d, do_snapshot, &x);
    if (x.rc) deliver_snapshot_free(out);
    return x.rc;
}

void deliver_snapshot_free(deliver_snapshot_t *s)
{
    if (!s) return;
    free(s->analyzers);
    s->analyzers = NULL;
    s->count = 0;
}

int deliver_healthy_count(const deliver_t *d)
{
    return atomic_load_explicit(&d->healthy_count, memory_order_relaxed);
}

/* ------------------------------------------------------------------ dead letters */

typedef struct {
    const char *const *ids;
    size_t n;
    uint64_t records;
    deadletter_body_t *bodies;
    long count;
    const char *id;
    int rc;
    json_t *json;
} dl_arg_t;

static void do_deadletter_json(deliver_t *d, void *arg)
{
    dl_arg_t *x = arg;
    x->json = deadletter_to_json(d->dl, 20);
}

json_t *deliver_deadletter_json(deliver_t *d)
{
    dl_arg_t x = {0};
    deliver_call(d, do_deadletter_json, &x);
    return x.json;
}

static void do_deadletter_purge(deliver_t *d, void *arg)
{
    dl_arg_t *x = arg;
    x->rc = deadletter_purge(d->dl, x->ids, x->n, &x->records);
}

int deliver_deadletter_purge(deliver_t *d, const char *const *ids, size_t n, uint64_t *records)
{
    dl_arg_t x = {.ids = ids, .n = n};
    deliver_call(d, do_deadletter_purge, &x);
    *records = x.records;
    return x.rc;
}

static void do_deadletter_read(deliver_t *d, void *arg)
{
    dl_arg_t *x = arg;
    x->count = deadletter_read_all(d->dl, &x->bodies);
}

long deliver_deadletter_read(deliver_t *d, deadletter_body_t **out)
{
    dl_arg_t x = {0};
    deliver_call(d, do_deadletter_read, &x);
    *out = x.bodies;
    return x.count;
}

static void do_deadletter_remove(deliver_t *d, void *arg)
{
    dl_arg_t *x = arg;
    x->rc = deadletter_remove(d->dl, x->id);
}

int deliver_deadletter_remove(deliver_t *d, const char *batch_id)
{
    dl_arg_t x = {.id = batch_id};
    deliver_call(d, do_deadletter_remove, &x);
    return x.rc;
}
