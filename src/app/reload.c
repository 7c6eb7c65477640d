/*
 * reload.c - see reload.h. One run: load and check the new config, re-read
 * the TLS files (a failure there changes nothing either), then walk the
 * option table: for every option whose value differs from the running one,
 * apply it if the table says it is reloadable, else list it as needing a
 * restart. The running copy (`cur`) takes only what was applied, so the next
 * reload compares with what really runs.
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

static bool option_changed(const reload_t *r, const config_t *next, const char *name)
{
    for (size_t i = 0; i < config_option_count(); i++)
        if (!strcmp(config_option_name(i), name)) return !config_option_same(i, &r->cur, next);
    LD_ASSERT(!"option name not in the table");
    return false;
}

/* Apply the reloadable options that changed through their owners' setters.
 * 0 or a negative errno with err (what was applied before it stays applied). */
static int apply(reload_t *r, const config_t *next, json_t *report, char *err, size_t errlen)
{
    int rc;
    if (option_changed(r, next, "log-level")) log_set_level(next->log_level);
    if (option_changed(r, next, "log-format")) log_set_format((log_format_t)next->log_format);
    if (option_changed(r, next, "token") &&
        (rc = auth_replace(r->t.auth, next->tokens, next->token_count, err, errlen)))
        return rc;
    if ((rc = ingest_set_limits(r->t.ing, next))) {
        ld_set_err(err, errlen, "ingest limits: %s", strerror(-rc));
        return rc;
    }
    deliver_set_options(r->t.d, next); /* posted to the delivery thread */
    json_t *an = json_object();
    json_object_set_new(report, "analyzers", an);
    if ((rc = admin_apply_analyzers(r->t.admin, r->cur.analyzers, r->cur.analyzer_count,
                                    next->analyzers, next->analyzer_count, an))) {
        ld_set_err(err, errlen, "analyzers: %s", strerror(-rc));
        return rc;
    }
    return 0;
}

/* Lists of changed options into report; the running copy takes the
 * reloadable ones. */
static int record_changes(reload_t *r, const config_t *next, json_t *report)
{
    json_t *changed = json_array(), *restart = json_array();
    json_object_set_new(report, "changed", changed);
    json_object_set_new(report, "restart_required", restart);
    for (size_t i = 0; i < config_option_count(); i++) {
        if (config_option_same(i, &r->cur, next)) continue;
        const char *name = config_option_name(i);
        if (!config_option_reloadable(i)) {
            json_array_append_new(restart, json_string(name));
            continue;
        }
        json_array_append_new(changed, json_string(name));
        if (config_option_copy(i, &r->cur, next)) return -ENOMEM;
    }
    return 0;
}

static const char *config_file(const reload_t *r)
{
    const char *path = NULL;
    for (int i = 1; i < r->argc; i++) {
        if (!strncmp(r->argv[i], "--config=", 9)) path = r->argv[i] + 9;
        else if (!strcmp(r->argv[i], "--config") && i + 1 < r->argc) path = r->argv[++i];
    }
    return path;
}

static int run_locked(reload_t *r, json_t *report, char *err, size_t errlen)
{
    config_t next;
    if (config_load(&next, r->argc, r->argv, err, errlen)) return -EINVAL;
    int rc = 0;
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
    if ((rc = apply(r, &next, report, err, errlen))) goto out;
    if ((rc = record_changes(r, &next, report))) {
        ld_set_err(err, errlen, "out of memory");
        goto out;
    }
    json_object_set_new(report, "generation", json_integer((json_int_t)++r->generation));
out:
    config_free(&next);
    return rc;
}

int reload_run(reload_t *r, json_t **result, char *err, size_t errlen)
{
    json_t *report = json_object();
    const char *file = config_file(r);
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
