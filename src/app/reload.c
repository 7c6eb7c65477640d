/*
 * reload.c - see reload.h. One run: load and check the new config, re-read
 * the TLS files (a failure there changes nothing either), then walk the
 * option table: for every option whose value differs from the running one,
 * apply it if the table says it is reloadable, else list it as needing a
 * restart. The running copy (`cur`) takes only what was applied, so the next
 * reload compares with what really runs.
 *
 * Lock order: the reload's mutex, then the admin mutex (admin_apply_analyzers).
 * POST /api/v1/reload is therefore served outside the admin mutex.
 */
#include "app/reload.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/log.h"

struct reload {
    pthread_mutex_t mu; /* one run at a time; guards cur and generation */
    config_t cur;       /* the config as applied so far */
    int argc;
    char **argv;
    reload_targets_t t;
    uint64_t generation; /* successful reloads */
};

reload_t *reload_new(const config_t *running, int argc, char **argv, const reload_targets_t *t)
{
    reload_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    if (config_copy(&r->cur, running)) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    r->argc = argc;
    r->argv = argv;
    r->t = *t;
    return r;
}

void reload_free(reload_t *r)
{
    if (!r) return;
    config_free(&r->cur);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* Did any of the named rows change between the running config and eff? */
static bool any_changed(const config_t *cur, const config_t *eff, const char *const *names)
{
    for (size_t i = 0; i < config_option_count(); i++)
        for (const char *const *n = names; *n; n++)
            if (!strcmp(config_option_name(i), *n) && !config_option_same(i, cur, eff))
                return true;
    return false;
}

/* The reloadable rows each setter takes (the table marks them reloadable). */
static const char *const ingest_rows[] = {
    "max-body-bytes", "max-decoded-bytes", "max-records-per-packet", "max-record-bytes",
    "max-depth", "critical-levels", "global-records-per-s", "global-bytes-per-s",
    "agent-records-per-s", "agent-bytes-per-s", "rate-burst-s", NULL};
static const char *const deliver_rows[] = {
    "batch-max-records", "batch-max-bytes", "batch-linger-ms", "max-inflight",
    "connect-timeout-ms", "request-timeout-ms", "max-attempts", "retry-base-ms", "retry-max-ms",
    "health-interval-ms", "health-timeout-ms", "health-rise", "health-fall", "passive-fall",
    "breaker-failures", "breaker-error-pct", "breaker-window-ms", "breaker-min-requests",
    "breaker-cooldown-ms", "breaker-max-cooldown-ms", "breaker-probes", "adaptive-weights",
    "adaptive-decay-ms", "adaptive-latency-tolerance-pct", "adaptive-latency-slack-ms",
    "adaptive-error-tolerance-pct", "adaptive-min-weight-pct", "slow-start-ms", "weight-hints",
    "weight-hint-max-pct", "weight-hint-ttl-ms", NULL};

static const char *const route_rows[] = {"routes", "affinity-key", "affinity-balance-factor",
                                         NULL};

/* will_exist's context: the reload and the config it checks routes against. */
typedef struct {
    reload_t *r;
    const config_t *eff;
} names_t;

static bool named_in(const config_t *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->analyzer_count; i++)
        if (!strcmp(cfg->analyzers[i].id, id)) return true;
    return false;
}

/* In eff, or registered through the API (unless the running file named it:
 * then it is about to go). */
static bool will_exist(void *ctx, const char *id)
{
    const names_t *n = ctx;
    analyzer_spec_t spec;
    if (named_in(n->eff, id)) return true;
    return !deliver_analyzer_spec(n->r->t.d, id, &spec) && !named_in(&n->r->cur, id);
}

static int names_ok(reload_t *r, const config_t *eff, const routes_t *t, char *err,
                    size_t errlen)
{
    names_t n = {r, eff};
    return routes_check_members(t, will_exist, &n, "routes: ", "configured", err, errlen)
               ? -EINVAL
               : 0;
}

/* The route table eff names, when its rows changed (else *out = NULL and the
 * table in use is checked: a reload must not drop an analyzer a route names).
 * 0 or -EINVAL with err. */
static int next_routes(reload_t *r, const config_t *eff, routes_t **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    if (!any_changed(&r->cur, eff, route_rows)) {
        routes_t *cur = deliver_routes_get(r->t.d);
        int rc = cur ? names_ok(r, eff, cur, err, errlen) : 0;
        routes_unref(cur);
        return rc;
    }
    if (routes_from_config(eff, out, err, errlen)) return -EINVAL;
    if (names_ok(r, eff, *out, err, errlen)) {
        routes_unref(*out);
        *out = NULL;
        return -EINVAL;
    }
    return 0;
}

/* Hand eff (the running config with the reloadable rows of the new one) to
 * the owners whose rows changed: a setter runs only when it has something to
 * change (each publish retires the old set until exit). 0 or a negative errno
 * with err (what was applied before it stays applied). */
static int apply(reload_t *r, const config_t *eff, routes_t *routes, json_t *report, char *err,
                 size_t errlen)
{
    static const char *const level[] = {"log-level", NULL}, *const format[] = {"log-format", NULL},
                             *const token[] = {"token", NULL};
    int rc;
    if (any_changed(&r->cur, eff, level)) log_set_level(eff->log_level);
    if (any_changed(&r->cur, eff, format)) log_set_format(eff->log_format);
    if (any_changed(&r->cur, eff, token) &&
        (rc = auth_replace(r->t.auth, eff->tokens, eff->token_count, err, errlen)))
        return rc;
    if (any_changed(&r->cur, eff, ingest_rows) &&
        (rc = r->t.limits ? cluster_limits_set_config(r->t.limits, eff)
                          : ingest_set_limits(r->t.ing, eff))) {
        ld_set_err(err, errlen, "ingest limits: %s", strerror(-rc));
        return rc;
    }
    if (any_changed(&r->cur, eff, deliver_rows))
        deliver_set_options(r->t.d, eff); /* posted to the delivery thread */
    /* routes before analyzers: an analyzer only the old table named can go,
     * one the new table names joins its routes when it is added */
    if (routes && (rc = admin_apply_routes(r->t.admin, routes, err, errlen))) return rc;
    json_object_set_new(report, "routes", json_boolean(routes != NULL));
    json_t *an = json_object();
    json_object_set_new(report, "analyzers", an);
    if ((rc = admin_apply_analyzers(r->t.admin, r->cur.analyzers, r->cur.analyzer_count,
                                    eff->analyzers, eff->analyzer_count, an))) {
        ld_set_err(err, errlen, "analyzers: %s", strerror(-rc));
        return rc;
    }
    return 0;
}

/* "changed" and "restart_required": the rows where next differs from what runs. */
static void record_changes(const reload_t *r, const config_t *next, json_t *report)
{
    json_t *changed = json_array(), *restart = json_array();
    json_object_set_new(report, "changed", changed);
    json_object_set_new(report, "restart_required", restart);
    for (size_t i = 0; i < config_option_count(); i++)
        if (!config_option_same(i, &r->cur, next))
            json_array_append_new(config_option_reloadable(i) ? changed : restart,
                                  json_string(config_option_name(i)));
}

/* Load next, check what would run (eff), re-read the TLS files, apply. The
 * check runs on eff, not next: a restart-only option of the file (a loopback
 * --listen, --insecure, another --analyzer-allow) must not let a reload drop
 * the tokens of a listener that still faces the network. */
static int run_locked(reload_t *r, json_t *report, char *err, size_t errlen)
{
    config_t next, eff;
    routes_t *routes = NULL;
    if (config_load(&next, r->argc, r->argv, err, errlen)) return -EINVAL;
    int rc = config_merge_reloadable(&eff, &r->cur, &next);
    if (rc) {
        ld_set_err(err, errlen, "out of memory");
        config_free(&next);
        return rc;
    }
    if (config_validate(&eff, err, errlen) || next_routes(r, &eff, &routes, err, errlen)) {
        rc = -EINVAL;
        goto out;
    }
    if (r->t.tls) {
        if (tls_server_reload(r->t.tls, err, errlen)) {
            log_event(LOG_ERROR, "tls", "tls_reload_failed", LOG_FIELDS(LF_STR("error", err)),
                      "TLS reload failed, keeping the old certificate: %s", err);
            rc = -EINVAL; /* the old certificate stays: nothing else changes either */
            goto out;
        }
        log_event(LOG_INFO, "tls", "tls_reloaded", LOG_NOFIELDS, "TLS certificate reloaded");
    }
    json_object_set_new(report, "tls", json_string(r->t.tls ? "reloaded" : "off"));
    if ((rc = apply(r, &eff, routes, report, err, errlen))) {
        if (rc == -EINVAL) rc = -ECANCELED; /* part-way: never "nothing changed" */
        goto out;
    }
    record_changes(r, &next, report);
    config_free(&r->cur);
    r->cur = eff; /* what runs now */
    eff = (config_t){0};
    json_object_set_new(report, "generation", json_integer((json_int_t)++r->generation));
out:
    routes_unref(routes);
    config_free(&eff);
    config_free(&next);
    return rc;
}

int reload_run(reload_t *r, json_t **result, char *err, size_t errlen)
{
    json_t *report = json_object();
    const char *file = config_file_arg(r->argc, r->argv);
    json_object_set_new(report, "file", file ? json_string(file) : json_null());
    pthread_mutex_lock(&r->mu);
    int rc = report ? run_locked(r, report, err, errlen) : -ENOMEM;
    pthread_mutex_unlock(&r->mu);
    if (rc) {
        log_event(LOG_ERROR, "reload", rc == -EINVAL ? "reload_refused" : "reload_failed",
                  LOG_FIELDS(LF_STR("file", file ? file : ""), LF_STR("error", err)),
                  rc == -EINVAL ? "reload refused, nothing changed: %s"
                                : "reload failed part-way (what came before stays applied): %s",
                  err);
        json_decref(report);
        *result = NULL;
        return rc;
    }
    char *changed = json_dumps(json_object_get(report, "changed"), JSON_COMPACT);
    char *restart = json_dumps(json_object_get(report, "restart_required"), JSON_COMPACT);
    char *an = json_dumps(json_object_get(report, "analyzers"), JSON_COMPACT);
    log_event(LOG_INFO, "reload", "reloaded",
              LOG_FIELDS(LF_STR("file", file ? file : ""),
                         LF_UINT("generation", json_integer_value(
                                                   json_object_get(report, "generation"))),
                         LF_STR("changed", changed ? changed : ""),
                         LF_STR("restart_required", restart ? restart : ""),
                         LF_STR("analyzers", an ? an : "")),
              "configuration reloaded");
    free(changed);
    free(restart);
    free(an);
    *result = report;
    return 0;
}

int reload_admin_hook(void *ctx, json_t **result, char *err, size_t errlen)
{
    return reload_run(ctx, result, err, errlen);
}
