/*
 * admin.c - see admin.h. Request bodies are small JSON objects parsed with
 * jansson (bounded to ADMIN_MAX_BODY); every error is a JSON body.
 */
#include "admin/admin.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

#include "common/http_reply.h"
#include "common/log.h"
#include "common/util.h"
#include "core/auth.h"
#include "core/metrics.h"

#define ADMIN_MAX_BODY (64 * 1024)
#define ANALYZERS_PATH "/api/v1/analyzers"

struct admin {
    const config_t *cfg;
    const auth_t *auth;
    deliver_t *d;
    ingest_t *ing;
    config_store_t *store;
    bool draining;
    bool replaying;
};

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
    return a;
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

typedef struct {
    admin_t *a;
    struct evhttp_request *req;
    long batches, pending, failed;
    size_t records;
} replay_t;

static void replay_step(void *ctx, int status, size_t records)
{
    replay_t *r = ctx;
    if (status)
        r->failed++;
    else
        r->records += records;
    if (--r->pending) return;
    admin_t *a = r->a;
    a->replaying = false;
    if (r->failed) {
        char m[160];
        snprintf(m, sizeof m, "%ld of %ld batches could not be re-queued; the dead letters are kept",
                 r->failed, r->batches);
        http_reply_error(r->req, 503, "replay_failed", m, -1, 5);
    } else {
        int rc = deliver_deadletter_remove_first(a->d, (uint64_t)r->batches);
        if (rc) log_error("admin", "replayed dead letters not removed: %s", strerror(-rc));
        json_t *o = json_object();
        json_object_set_new(o, "replayed_batches", json_integer(r->batches));
        json_object_set_new(o, "replayed_records", json_integer((json_int_t)r->records));
        http_reply_json(r->req, 200, o);
    }
    free(r);
}

/* POST /api/v1/deadletter/replay: every dead-lettered batch goes through
 * ingest again (validated, made durable, queued); the entries are removed
 * only once all of them are queued. */
static void deadletter_replay(admin_t *a, struct evhttp_request *req)
{
    if (a->replaying) {
        http_reply_error(req, 409, "conflict", "a replay is already running", -1, 0);
        return;
    }
    char **bodies;
    size_t *lens;
    long n = deliver_deadletter_read(a->d, &bodies, &lens);
    if (n < 0) {
        http_reply_error(req, 503, "disk_error", strerror((int)-n), -1, 5);
        return;
    }
    replay_t *r = calloc(1, sizeof *r);
    if (!r) {
        http_reply_error(req, 503, "out_of_memory", "out of memory", -1, 1);
        return;
    }
    r->a = a;
    r->req = req;
    r->batches = n;
    r->pending = n + 1; /* +1: the loop itself, so completion cannot run before it ends */
    a->replaying = true;
    for (long i = 0; i < n; i++) {
        ingest_inject(a->ing, bodies[i], lens[i], replay_step, r);
        free(bodies[i]);
    }
    free(bodies);
    free(lens);
    replay_step(r, 0, 0);
}

void admin_free(admin_t *a)
{
    free(a);
}

void admin_set_draining(admin_t *a, bool draining)
{
    a->draining = draining;
}

static void method_not_allowed(struct evhttp_request *req, const char *allow)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
    http_reply_error(req, 405, "method_not_allowed", "method not allowed on this path", -1, 0);
}

/* Parse the request body as a JSON object; on failure replies 400 and returns NULL. */
static json_t *read_json_body(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len > ADMIN_MAX_BODY) {
        http_reply_error(req, 413, "body_too_large", "admin request bodies are limited to 64 KiB",
                         -1, 0);
        return NULL;
    }
    const char *buf = len ? (const char *)evbuffer_pullup(in, -1) : "";
    json_error_t err;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
    if (!j || !json_is_object(j)) {
        http_reply_error(req, 400, "bad_json", j ? "body must be a JSON object" : err.text,
                         j ? 0 : err.position, 0);
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Validate known keys of an analyzer body. Returns 0 or replies 400 and returns -1. */
static int check_keys(struct evhttp_request *req, json_t *body, bool need_all)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        bool is_str = !strcmp(key, "id") || !strcmp(key, "url") || !strcmp(key, "health_url") ||
                      !strcmp(key, "client_cert") || !strcmp(key, "client_key");
        if (is_str && !json_is_string(v)) {
            char m[96];
            snprintf(m, sizeof m, "\"%s\" must be a string", key);
            http_reply_error(req, 400, "bad_request", m, -1, 0);
            return -1;
        }
        if (!strcmp(key, "weight")) {
            if (!json_is_number(v) || json_number_value(v) < 0) {
                http_reply_error(req, 400, "bad_weight", "\"weight\" must be a finite number >= 0",
                                 -1, 0);
                return -1;
            }
            continue;
        }
        if (!is_str) {
            char m[160];
            snprintf(m, sizeof m,
                     "unknown field \"%.60s\" (allowed: id, url, weight, health_url, client_cert, "
                     "client_key)",
                     key);
            http_reply_error(req, 400, "bad_request", m, -1, 0);
            return -1;
        }
    }
    if (need_all && (!json_object_get(body, "id") || !json_object_get(body, "url"))) {
        http_reply_error(req, 400, "bad_request", "\"id\" and \"url\" are required", -1, 0);
        return -1;
    }
    return 0;
}

static void analyzers_collection(admin_t *a, struct evhttp_request *req)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd == EVHTTP_REQ_GET) {
        http_reply_json(req, 200, deliver_analyzers_json(a->d, NULL));
        return;
    }
    if (cmd != EVHTTP_REQ_POST) {
        method_not_allowed(req, "GET, POST");
        return;
    }
    json_t *body = read_json_body(req);
    if (!body) return;
    if (check_keys(req, body, true)) {
        json_decref(body);
        return;
    }
    analyzer_spec_t spec;
    memset(&spec, 0, sizeof spec);
    spec.weight = 1.0;
    const char *id = json_string_value(json_object_get(body, "id"));
    const char *url = json_string_value(json_object_get(body, "url"));
    json_t *w = json_object_get(body, "weight"), *h = json_object_get(body, "health_url");
    char err[512] = "";
    if (strlen(id) > CONFIG_ID_MAX || strlen(url) > CONFIG_URL_MAX ||
        (h && strlen(json_string_value(h)) > CONFIG_URL_MAX)) {
        http_reply_error(req, 400, "bad_request", "id or url too long", -1, 0);
        json_decref(body);
        return;
    }
    strlcpy_ld(spec.id, id, sizeof spec.id);
    strlcpy_ld(spec.url, url, sizeof spec.url);
    if (h) strlcpy_ld(spec.health_url, json_string_value(h), sizeof spec.health_url);
    if (w) spec.weight = json_number_value(w);
    json_t *cc = json_object_get(body, "client_cert"), *ck = json_object_get(body, "client_key");
    if ((cc && json_string_length(cc) > CONFIG_PATH_MAX) ||
        (ck && json_string_length(ck) > CONFIG_PATH_MAX)) {
        http_reply_error(req, 400, "bad_request", "client_cert/client_key path too long", -1, 0);
        json_decref(body);
        return;
    }
    if (cc) strlcpy_ld(spec.client_cert, json_string_value(cc), sizeof spec.client_cert);
    if (ck) strlcpy_ld(spec.client_key, json_string_value(ck), sizeof spec.client_key);
    json_decref(body);
    if (config_check_analyzer(&spec, err, sizeof err)) {
        http_reply_error(req, 400, strstr(err, "weight") ? "bad_weight" : "bad_request", err, -1,
                         0);
        return;
    }
    if (!config_analyzer_allowed(a->cfg, spec.url, err, sizeof err) ||
        !config_analyzer_allowed(a->cfg, spec.health_url, err, sizeof err)) {
        http_reply_error(req, 403, "forbidden_analyzer", err, -1, 0);
        return;
    }
    int rc = deliver_analyzer_add(a->d, &spec);
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
    char loc[128];
    snprintf(loc, sizeof loc, ANALYZERS_PATH "/%s", spec.id);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
    json_t *j = deliver_analyzers_json(a->d, spec.id);
    http_reply_json(req, 201, j ? j : json_object());
}

static void analyzer_item(admin_t *a, struct evhttp_request *req, const char *id)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd == EVHTTP_REQ_GET) {
        json_t *j = deliver_analyzers_json(a->d, id);
        if (j)
            http_reply_json(req, 200, j);
        else
            http_reply_error(req, 404, "not_found", "no analyzer with this id", -1, 0);
        return;
    }
    if (cmd == EVHTTP_REQ_DELETE) {
        if (deliver_analyzer_remove(a->d, id)) {
            http_reply_error(req, 404, "not_found", "no analyzer with this id", -1, 0);
            return;
        }
        persist(a, id);
        json_t *o = json_object();
        json_object_set_new(o, "removed", json_string(id));
        http_reply_json(req, 200, o);
        return;
    }
    if (cmd != EVHTTP_REQ_PUT) {
        method_not_allowed(req, "GET, PUT, DELETE");
        return;
    }
    json_t *body = read_json_body(req);
    if (!body) return;
    if (check_keys(req, body, false)) {
        json_decref(body);
        return;
    }
    json_t *bid = json_object_get(body, "id");
    if (bid && strcmp(json_string_value(bid), id)) {
        http_reply_error(req, 400, "bad_request", "\"id\" cannot be changed", -1, 0);
        json_decref(body);
        return;
    }
    json_t *w = json_object_get(body, "weight");
    const char *url = json_string_value(json_object_get(body, "url"));
    const char *hurl = json_string_value(json_object_get(body, "health_url"));
    char aerr[512];
    if ((url && !config_analyzer_allowed(a->cfg, url, aerr, sizeof aerr)) ||
        (hurl && !config_analyzer_allowed(a->cfg, hurl, aerr, sizeof aerr))) {
        http_reply_error(req, 403, "forbidden_analyzer", aerr, -1, 0);
        json_decref(body);
        return;
    }
    if ((url && strlen(url) > CONFIG_URL_MAX) || (hurl && strlen(hurl) > CONFIG_URL_MAX)) {
        http_reply_error(req, 400, "bad_request", "url too long", -1, 0);
        json_decref(body);
        return;
    }
    int rc = deliver_analyzer_update(a->d, id, w != NULL, w ? json_number_value(w) : 0, url, hurl);
    json_decref(body);
    if (rc == -ENOENT) {
        http_reply_error(req, 404, "not_found", "no analyzer with this id", -1, 0);
        return;
    }
    if (rc) {
        http_reply_error(req, 400, "bad_request", "invalid url or weight", -1, 0);
        return;
    }
    persist(a, id);
    json_t *j = deliver_analyzers_json(a->d, id);
    http_reply_json(req, 200, j ? j : json_object());
}

static void health(admin_t *a, struct evhttp_request *req)
{
    json_t *o = json_object();
    if (a->draining) { /* the delivery thread is stopping: do not call into it */
        json_object_set_new(o, "status", json_string("draining"));
        json_object_set_new(o, "retry_after_s", json_integer(5));
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "5");
        http_reply_json(req, 503, o);
        return;
    }
    int healthy = deliver_healthy_count(a->d);
    json_object_set_new(o, "status",
                        json_string(a->draining ? "draining"
                                    : healthy   ? "ok"
                                                : "degraded"));
    json_object_set_new(o, "analyzers_healthy", json_integer(healthy));
    json_object_set_new(o, "queued_records", json_integer((json_int_t)METRIC_GET(queued_records)));
    http_reply_json(req, a->draining ? 503 : 200, o);
}

void admin_handle(admin_t *a, struct evhttp_request *req)
{
    const char *uri = evhttp_request_get_uri(req);
    char path[512];
    size_t n = strcspn(uri, "?#");
    if (n >= sizeof path) {
        http_reply_error(req, 404, "not_found", "no such endpoint", -1, 0);
        return;
    }
    memcpy(path, uri, n);
    path[n] = 0;
    while (n > 1 && path[n - 1] == '/')
        path[--n] = 0; /* tolerate a trailing slash */
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

    if (strcmp(path, "/health")) { /* /health stays open for liveness probes */
        bool read = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
        if (!auth_http_require(a->auth, req, read ? ROLE_READ | ROLE_ADMIN : ROLE_ADMIN, NULL))
            return;
    }
    if (!strcmp(path, "/health")) {
        if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
            method_not_allowed(req, "GET");
            return;
        }
        {
            health(a, req);
            return;
        }
    }
    if (a->draining) { /* the rest calls into the delivery thread, which is stopping */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        http_reply_error(req, 503, "shutting_down", "logdistd is shutting down", -1, 5);
        return;
    }
    if (!strcmp(path, "/api/v1/metrics")) {
        if (cmd != EVHTTP_REQ_GET) {
            method_not_allowed(req, "GET");
            return;
        }
        {
            http_reply_json(req, 200, deliver_metrics_json(a->d));
            return;
        }
    }
    if (!strcmp(path, "/api/v1/deadletter")) {
        if (cmd == EVHTTP_REQ_GET) {
            http_reply_json(req, 200, deliver_deadletter_json(a->d));
            return;
        }
        if (cmd == EVHTTP_REQ_DELETE) {
            json_t *o = json_object();
            json_object_set_new(o, "purged_records",
                                json_integer((json_int_t)deliver_deadletter_purge(a->d)));
            {
                http_reply_json(req, 200, o);
                return;
            }
        }
        {
            method_not_allowed(req, "GET, DELETE");
            return;
        }
    }
    if (!strcmp(path, "/api/v1/deadletter/replay")) {
        if (cmd != EVHTTP_REQ_POST) {
            method_not_allowed(req, "POST");
            return;
        }
        deadletter_replay(a, req);
        return;
    }
    if (!strcmp(path, ANALYZERS_PATH)) {
        analyzers_collection(a, req);
        return;
    }
    if (!strncmp(path, ANALYZERS_PATH "/", sizeof ANALYZERS_PATH)) {
        const char *id = path + sizeof ANALYZERS_PATH;
        if (!*id || strchr(id, '/') || strlen(id) > CONFIG_ID_MAX) {
            http_reply_error(req, 404, "not_found", "no analyzer with this id", -1, 0);
            return;
        }
        {
            analyzer_item(a, req, id);
            return;
        }
    }
    http_reply_error(req, 404, "not_found", "no such endpoint", -1, 0);
}
