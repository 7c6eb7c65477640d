/*
 * admin_routes.c - see admin_routes.h.
 */
#include "admin/admin_routes.h"
#include "cluster/cluster.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "admin/admin_body.h"
#include "common/log.h"
#include "ingress/http_reply.h"
#include "route/routes.h"

static json_t *members_json(const router_route_stat_t *s)
{
    uint64_t total = 0;
    for (size_t i = 0; i < s->nmembers; i++) total += s->members[i].routed;
    json_t *a = json_array();
    for (size_t i = 0; a && i < s->nmembers; i++) {
        const router_member_stat_t *m = &s->members[i];
        json_t *o = json_object();
        json_object_set_new(o, "analyzer", json_string(m->analyzer));
        json_object_set_new(o, "weight", json_real(m->weight));
        json_object_set_new(o, "effective_weight", json_real(m->effective_weight));
        json_object_set_new(o, "target_share", json_real(m->target_share));
        json_object_set_new(o, "effective_share", json_real(m->effective_share));
        json_object_set_new(o, "routed", json_integer((json_int_t)m->routed));
        json_object_set_new(o, "actual_share", json_real(total ? (double)m->routed / total : 0));
        json_object_set_new(o, "routable", json_boolean(m->routable));
        json_array_append_new(a, o);
    }
    return a;
}

/* The table (or the route `only`) with its figures; NULL on ENOMEM, and
 * *found = false when `only` is not in the table. */
static json_t *table_json(deliver_t *d, const char *only, bool *found)
{
    routes_t *t;
    router_route_stat_t *st;
    size_t n;
    *found = false;
    if (deliver_route_stats(d, &t, &st, &n)) return NULL;
    json_t *arr = json_array(), *one = NULL;
    for (size_t k = 0; arr && k < n && k < routes_count(t); k++) {
        const route_t *r = routes_get(t, k);
        if (only && strcmp(only, r->name)) continue;
        json_t *o = route_to_json(r);
        if (!o) continue;
        json_object_set_new(o, "implicit", json_boolean(r->is_default &&
                                                        routes_default_implicit(t)));
        json_object_set_new(o, "records", json_integer((json_int_t)st[k].records));
        json_object_set_new(o, "by_key", json_integer((json_int_t)st[k].by_key));
        json_object_set_new(o, "held", json_integer((json_int_t)st[k].held));
        json_object_set_new(o, "deduplicated", json_integer((json_int_t)st[k].deduplicated));
        json_object_set_new(o, "members", members_json(&st[k]));
        *found = true;
        if (only) {
            one = o;
            break;
        }
        json_array_append_new(arr, o);
    }
    router_route_stats_free(st, n);
    routes_unref(t);
    if (only) {
        json_decref(arr);
        return one;
    }
    json_t *res = json_object();
    json_object_set_new(res, "routes", arr);
    return res;
}

/* Keep the table applied through the API across restarts, with the config's
 * routes it descends from (a later change of the file's routes wins). A store
 * failure is logged: the table stays applied for this life. */
static void persist(config_store_t *store, const routes_t *t)
{
    if (!store) return;
    routes_defaults_t def;
    routes_defaults_of(t, &def);
    char *text = routes_user_text(t);
    if (!text || config_store_put_routes(store, text, def.config_text))
        log_error("admin", "routes: the new table is applied but could not be stored (it is "
                  "lost at the next restart)");
    free(text);
}

static cluster_t *g_cluster; /* admin_routes_set_cluster: written once before serving */

void admin_routes_set_cluster(cluster_t *c)
{
    g_cluster = c;
}

/* A checked table written through etcd (cluster.h); answers req on failure. */
static bool apply_cluster(http_req_t *req, const routes_t *t)
{
    char *text = routes_user_text(t), err[400] = "";
    int rc = text ? cluster_routes_put(g_cluster, text, err, sizeof err) : -ENOMEM;
    free(text);
    if (rc == -EHOSTUNREACH)
        http_reply_error(req, 503, "etcd_unavailable", err, -1, 2);
    else if (rc == -EAGAIN)
        http_reply_error(req, 409, "conflict", err, -1, 0);
    else if (rc)
        http_reply_error(req, 503, "unavailable", err[0] ? err : strerror(-rc), -1, 1);
    return rc == 0;
}

/* Build and apply `arr` (the user's table) with the defaults of the table in
 * use. Answers req on failure; true when applied. */
static bool apply(deliver_t *d, config_store_t *store, http_req_t *req, json_t *arr)
{
    char *text = json_dumps(arr, JSON_COMPACT);
    size_t size = text ? strlen(text) : 0;
    free(text);
    if (size > CONFIG_ROUTES_MAX_BYTES) { /* what the store and the config file take */
        char msg[120];
        snprintf(msg, sizeof msg, "the route table would be %zu bytes of JSON (at most %u)", size,
                 CONFIG_ROUTES_MAX_BYTES);
        http_reply_error(req, 413, "body_too_large", msg, -1, 0);
        return false;
    }
    routes_t *cur = deliver_routes_get(d), *t = NULL;
    routes_defaults_t def = {NULL, 0, NULL};
    if (cur) routes_defaults_of(cur, &def);
    char err[512] = "";
    int rc = routes_build(arr, &def, &t, err, sizeof err);
    routes_unref(cur); /* t holds its own copy of the defaults */
    if (rc) {
        http_reply_error(req, rc == -ENOMEM ? 503 : 400, rc == -ENOMEM ? "out_of_memory" : "bad_route",
                         err, -1, rc == -ENOMEM ? 1 : 0);
        return false;
    }
    if (g_cluster) {
        bool ok = apply_cluster(req, t);
        routes_unref(t);
        return ok;
    }
    rc = deliver_set_routes(d, t, true, err, sizeof err);
    if (!rc) persist(store, t);
    routes_unref(t);
    if (rc == -ENOENT) {
        http_reply_error(req, 422, "unknown_analyzer", err, -1, 0);
        return false;
    }
    if (rc) {
        http_reply_error(req, 503, "out_of_memory", "out of memory", -1, 1);
        return false;
    }
    return true;
}

/* The user's table in use (the implicit default left out). */
static json_t *user_table(deliver_t *d)
{
    routes_t *cur = deliver_routes_get(d);
    json_t *a = cur ? routes_json_user(cur) : json_array();
    routes_unref(cur);
    return a;
}

static long index_of(json_t *arr, const char *name)
{
    size_t i;
    json_t *r;
    json_array_foreach(arr, i, r) {
        const char *n = json_string_value(json_object_get(r, "name"));
        if (n && !strcmp(n, name)) return (long)i;
    }
    return -1;
}

/* The body as JSON of the wanted kind, or an answer (400/413) and NULL. */
static json_t *body_json(http_req_t *req, const char *body, size_t len, bool array)
{
    if (!body) {
        http_reply_error(req, 413, "body_too_large", "request body over 64 KiB", -1, 0);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        http_reply_error(req, 400, "bad_json", je.text, je.position, 0);
        return NULL;
    }
    if (array ? !json_is_array(j) : !json_is_object(j)) {
        http_reply_error(req, 400, "bad_request",
                         array ? "the body must be an array of routes" : "the body must be one route object",
                         -1, 0);
        json_decref(j);
        return NULL;
    }
    return j;
}

static void reply_route(deliver_t *d, http_req_t *req, int status, const char *name)
{
    bool found;
    json_t *o = table_json(d, name, &found);
    if (status == 201) {
        char loc[160];
        snprintf(loc, sizeof loc, ROUTES_PATH "/%s", name);
        http_req_add_header(req, "Location", loc);
    }
    http_reply_json(req, status, o ? o : json_object());
}

/* POST /api/v1/routes: one route, at "position" or before the default. */
static void add_route(deliver_t *d, config_store_t *store, http_req_t *req, const char *body, size_t len)
{
    json_t *r = body_json(req, body, len, false);
    if (!r) return;
    json_t *arr = user_table(d);
    json_t *pos = json_object_get(r, "position");
    long at = -1;
    if (pos && (!json_is_integer(pos) || json_integer_value(pos) < 0)) {
        http_reply_error(req, 400, "bad_request", "position must be an integer >= 0", -1, 0);
        goto out;
    }
    if (pos) {
        at = (long)json_integer_value(pos);
        json_object_del(r, "position");
    }
    const char *name = json_string_value(json_object_get(r, "name"));
    if (name && index_of(arr, name) >= 0) {
        http_reply_error(req, 409, "conflict", "a route with this name exists (PUT "
                         ROUTES_PATH "/{name} replaces it)", -1, 0);
        goto out;
    }
    long def = index_of(arr, ROUTE_DEFAULT);
    size_t n = json_array_size(arr);
    if (at < 0 || at > (long)n) at = def >= 0 ? def : (long)n;
    json_array_insert(arr, (size_t)at, r);
    if (apply(d, store, req, arr)) reply_route(d, req, 201, name);
out:
    json_decref(arr);
    json_decref(r);
}

/* PUT /api/v1/routes/{name}: replace in place ("default" may be added). */
static void put_route(deliver_t *d, config_store_t *store, http_req_t *req, const char *name, const char *body,
                      size_t len)
{
    json_t *r = body_json(req, body, len, false);
    if (!r) return;
    json_t *arr = user_table(d);
    const char *given = json_string_value(json_object_get(r, "name"));
    if (json_object_get(r, "name") && (!given || strcmp(given, name))) {
        http_reply_error(req, 400, "bad_request", "the name in the body differs from the path "
                         "(rename: DELETE and POST)", -1, 0);
        goto out;
    }
    json_object_set_new(r, "name", json_string(name));
    long i = index_of(arr, name);
    if (i < 0 && strcmp(name, ROUTE_DEFAULT)) {
        http_reply_error(req, 404, "not_found", "no route with this name", -1, 0);
        goto out;
    }
    if (i >= 0)
        json_array_set(arr, (size_t)i, r);
    else
        json_array_append(arr, r);
    if (apply(d, store, req, arr)) reply_route(d, req, 200, name);
out:
    json_decref(arr);
    json_decref(r);
}

static void delete_route(deliver_t *d, config_store_t *store, http_req_t *req, const char *name)
{
    json_t *arr = user_table(d);
    long i = index_of(arr, name);
    if (i < 0) {
        http_reply_error(req, 404, "not_found", !strcmp(name, ROUTE_DEFAULT)
                                                    ? "the default route is the implicit one already"
                                                    : "no route with this name",
                         -1, 0);
    } else {
        json_array_remove(arr, (size_t)i);
        if (apply(d, store, req, arr)) {
            json_t *o = json_object();
            json_object_set_new(o, "removed", json_string(name));
            http_reply_json(req, 200, o);
        }
    }
    json_decref(arr);
}

static void method_not_allowed(http_req_t *req, const char *allow)
{
    http_req_add_header(req, "Allow", allow);
    http_reply_error(req, 405, "method_not_allowed", "method not allowed on this path", -1, 0);
}

void admin_routes_serve(deliver_t *d, config_store_t *store, http_req_t *req, const char *name,
                        const char *body, size_t len)
{
    http_method_t m = http_req_method(req);
    bool found;
    if (m == HTTP_M_GET || m == HTTP_M_HEAD) {
        json_t *j = table_json(d, name, &found);
        if (j)
            http_reply_json(req, 200, j);
        else if (name && !found)
            http_reply_error(req, 404, "not_found", "no route with this name", -1, 0);
        else
            http_reply_error(req, 503, "out_of_memory", "out of memory", -1, 1);
        return;
    }
    if (!name) {
        if (m == HTTP_M_POST) {
            add_route(d, store, req, body, len);
        } else if (m == HTTP_M_PUT) {
            json_t *arr = body_json(req, body, len, true);
            if (arr && apply(d, store, req, arr)) {
                json_t *j = table_json(d, NULL, &found);
                http_reply_json(req, 200, j ? j : json_object());
            }
            json_decref(arr);
        } else {
            method_not_allowed(req, "GET, POST, PUT");
        }
        return;
    }
    if (m == HTTP_M_PUT)
        put_route(d, store, req, name, body, len);
    else if (m == HTTP_M_DELETE)
        delete_route(d, store, req, name);
    else
        method_not_allowed(req, "GET, PUT, DELETE");
}
