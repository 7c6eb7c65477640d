/*
 * ctl_cmd.c - see ctl_cmd.h. One function per command; call() is the one place an
 * answer is judged (transport error, API error, JSON or not).
 */
#include "ctl_cmd.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_fmt.h"
#include "ctl_http.h"

typedef struct {
    const ctl_opts_t *o;
    const char *token;
} ctx_t;

/* One request. 0 with *raw (and *out parsed when out != NULL), or the exit code after
 * printing the error line. ok2 (optional) is another status accepted as an answer. */
static int call(const ctx_t *x, const char *method, const char *path, const char *body, long ok2,
                ctl_resp_t *raw, json_t **out)
{
    char err[600];
    int rc = ctl_http(x->o, x->token, method, path, body, raw, err, sizeof err);
    if (rc) {
        fprintf(stderr, "logdistctl: %s\n", err);
        return rc;
    }
    if ((raw->status < 200 || raw->status > 299) && raw->status != ok2) {
        ctl_fmt_api_error(raw->status, raw->body, raw->len, err, sizeof err);
        fprintf(stderr, "logdistctl: %s\n", err);
        rc = ctl_exit_for_status(raw->status);
        ctl_resp_free(raw);
        return rc ? rc : CTL_EXIT_API;
    }
    if (!out) return 0;
    json_error_t je;
    *out = raw->len ? json_loadb(raw->body, raw->len, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (!*out) {
        fprintf(stderr, "logdistctl: %s%s: the answer (%ld) is not JSON\n", x->o->url, path,
                raw->status);
        ctl_resp_free(raw);
        return CTL_EXIT_CONNECT;
    }
    return 0;
}

/* The API's bytes as they are, with a final newline. */
static void print_raw(const ctl_resp_t *r)
{
    if (r->len) fwrite(r->body, 1, r->len, stdout);
    if (!r->len || r->body[r->len - 1] != '\n') putchar('\n');
}

static double num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : 0.0 / 0.0;
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

/* Print a table and free it; CTL_EXIT_CONNECT on ENOMEM. */
static int print_table(ctl_table_t *t)
{
    char *s = t ? ctl_table_render(t) : NULL;
    ctl_table_free(t);
    if (!s) {
        fprintf(stderr, "logdistctl: out of memory\n");
        return CTL_EXIT_CONNECT;
    }
    fputs(s, stdout);
    free(s);
    return 0;
}

/* ------------------------------------------------------------------ status */

static int cmd_status(const ctx_t *x)
{
    ctl_resp_t rh, rm, rd;
    json_t *h = NULL, *m = NULL, *d = NULL;
    int rc;
    /* /health answers 503 {"status":"draining"} while logdistd drains: still an answer */
    if ((rc = call(x, "GET", "/health", NULL, 503, &rh, &h))) return rc;
    if ((rc = call(x, "GET", "/api/v1/metrics", NULL, 0, &rm, &m))) goto out_h;
    if ((rc = call(x, "GET", "/api/v1/deadletter", NULL, 0, &rd, &d))) goto out_m;
    if (x->o->json) {
        fputs("{\"health\":", stdout);
        fwrite(rh.body, 1, rh.len, stdout);
        fputs(",\"metrics\":", stdout);
        fwrite(rm.body, 1, rm.len, stdout);
        fputs(",\"deadletter\":", stdout);
        fwrite(rd.body, 1, rd.len, stdout);
        fputs("}\n", stdout);
        goto out;
    }
    json_t *an = json_object_get(m, "analyzers");
    size_t up = 0, i;
    json_t *a;
    json_array_foreach(an, i, a) up += !strcmp(str(a, "state"), "up");
    char b[8][48];
    printf("logdistd     %s\n", x->o->url);
    printf("health       %s (%.0f analyzers can take records)\n", str(h, "status"),
           num(h, "analyzers_healthy"));
    printf("analyzers    %zu up / %zu total\n", up, json_array_size(an));
    ctl_fmt_count(num(m, "records_accepted"), b[0], sizeof b[0]);
    ctl_fmt_count(num(m, "records_delivered"), b[1], sizeof b[1]);
    ctl_fmt_count(num(m, "records_deadlettered"), b[2], sizeof b[2]);
    ctl_fmt_count(num(m, "records_lost_at_shutdown"), b[3], sizeof b[3]);
    printf("records      %s accepted, %s delivered, %s dead-lettered, %s lost at shutdown\n", b[0],
           b[1], b[2], b[3]);
    ctl_fmt_count(num(m, "queued_records"), b[0], sizeof b[0]);
    ctl_fmt_bytes(num(m, "queued_bytes"), b[1], sizeof b[1]);
    ctl_fmt_count(num(m, "inflight_batches"), b[2], sizeof b[2]);
    printf("queue        %s records, %s, %s batches in flight\n", b[0], b[1], b[2]);
    ctl_fmt_bytes(num(m, "wal_bytes"), b[0], sizeof b[0]);
    ctl_fmt_count(num(m, "wal_live_records"), b[1], sizeof b[1]);
    ctl_fmt_count(num(m, "wal_fsyncs"), b[2], sizeof b[2]);
    printf("WAL          %s, %s live records, %s fsyncs\n", b[0], b[1], b[2]);
    ctl_fmt_count(num(d, "batches"), b[0], sizeof b[0]);
    ctl_fmt_count(num(d, "records"), b[1], sizeof b[1]);
    ctl_fmt_bytes(num(d, "bytes"), b[2], sizeof b[2]);
    printf("dead letters %s batches, %s records, %s\n", b[0], b[1], b[2]);
out:
    json_decref(d);
    ctl_resp_free(&rd);
out_m:
    json_decref(m);
    ctl_resp_free(&rm);
out_h:
    json_decref(h);
    ctl_resp_free(&rh);
    return rc;
}

/* ------------------------------------------------------------------ analyzers */

enum {
    C_ID,
    C_STATE,
    C_BREAKER,
    C_WEIGHT,
    C_EFFW,
    C_TARGET,
    C_ACTUAL,
    C_ACT10,
    C_LAT,
    C_QUEUED,
    C_DELIVERED,
    C_ERROR,
    C_N
};

static void analyzer_row(json_t *a, char cells[C_N][96])
{
    snprintf(cells[C_ID], 96, "%s", str(a, "id"));
    snprintf(cells[C_STATE], 96, "%s", str(a, "state"));
    snprintf(cells[C_BREAKER], 96, "%s", str(a, "breaker"));
    ctl_fmt_weight(num(a, "weight"), cells[C_WEIGHT], 96);
    ctl_fmt_weight(num(a, "effective_weight"), cells[C_EFFW], 96);
    ctl_fmt_pct(num(a, "target_share"), cells[C_TARGET], 96);
    ctl_fmt_pct(num(a, "actual_share"), cells[C_ACTUAL], 96);
    ctl_fmt_pct(num(a, "actual_share_10s"), cells[C_ACT10], 96);
    ctl_fmt_ms(num(a, "latency_ms"), cells[C_LAT], 96);
    ctl_fmt_count(num(a, "queued_records"), cells[C_QUEUED], 96);
    ctl_fmt_count(num(a, "records_delivered"), cells[C_DELIVERED], 96);
    const char *e = json_string_value(json_object_get(a, "last_error"));
    ctl_fmt_clean(e && *e ? e : "-", 60, cells[C_ERROR], 96);
}

static int cmd_analyzers(const ctx_t *x)
{
    ctl_resp_t r;
    json_t *j;
    int rc = call(x, "GET", "/api/v1/analyzers", NULL, 0, &r, &j);
    if (rc) return rc;
    if (x->o->json) {
        print_raw(&r);
        goto out;
    }
    static const char *const heads[C_N] = {"ID",      "STATE",  "BREAKER",   "WEIGHT",
                                           "EFF.W",   "TARGET", "ACTUAL",    "10S",
                                           "LATENCY", "QUEUED", "DELIVERED", "LAST ERROR"};
    static const bool right[C_N] = {0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0};
    json_t *an = json_object_get(j, "analyzers"), *a;
    size_t i;
    bool has_effw = false, has_10s = false; /* columns shown only when the API has them */
    json_array_foreach(an, i, a)
    {
        has_effw |= json_object_get(a, "effective_weight") != NULL;
        has_10s |= json_object_get(a, "actual_share_10s") != NULL;
    }
    size_t map[C_N] = {0}, n = 0;
    for (size_t c = 0; c < C_N; c++)
        if ((c != C_EFFW || has_effw) && (c != C_ACT10 || has_10s)) map[n++] = c;
    const char *h[C_N];
    bool rt[C_N];
    for (size_t c = 0; c < n; c++)
        h[c] = heads[map[c]], rt[c] = right[map[c]];
    printf("strategy %s%s, %zu analyzers\n", str(j, "strategy"),
           json_is_true(json_object_get(j, "panic")) ? ", PANIC (routing to every analyzer)" : "",
           json_array_size(an));
    ctl_table_t *t = ctl_table_new(n, h, rt);
    json_array_foreach(an, i, a)
    {
        char cells[C_N][96];
        const char *row[C_N];
        analyzer_row(a, cells);
        for (size_t c = 0; c < n; c++)
            row[c] = cells[map[c]];
        if (t && ctl_table_add(t, row)) {
            ctl_table_free(t);
            t = NULL;
        }
    }
    rc = print_table(t);
out:
    json_decref(j);
    ctl_resp_free(&r);
    return rc;
}

/* ------------------------------------------------------------------ routes */

enum { R_NAME, R_KIND, R_MATCH, R_ANALYZER, R_WEIGHT, R_TARGET, R_ACTUAL, R_ROUTED, R_N };

/* One row per member; the route's own cells only on its first row. */
static int route_rows(ctl_table_t *t, json_t *route)
{
    char cells[R_N][128];
    const char *row[R_N];
    snprintf(cells[R_NAME], 128, "%s", str(route, "name"));
    const char *key = json_string_value(json_object_get(route, "affinity_key"));
    snprintf(cells[R_KIND], 128, "%s%s%s", json_is_true(json_object_get(route, "copy")) ? "copy" : "first",
             key ? ", key " : "", key ? key : "");
    json_t *m = json_object_get(route, "match");
    char *mt = m && json_object_size(m) ? json_dumps(m, JSON_COMPACT) : NULL;
    ctl_fmt_clean(mt ? mt : "-", 48, cells[R_MATCH], 128);
    free(mt);
    json_t *members = json_object_get(route, "members"), *x;
    size_t i;
    if (!json_array_size(members)) {
        for (int c = R_ANALYZER; c < R_N; c++) snprintf(cells[c], 128, "-");
        for (int c = 0; c < R_N; c++) row[c] = cells[c];
        return ctl_table_add(t, row);
    }
    json_array_foreach(members, i, x)
    {
        if (i) cells[R_NAME][0] = cells[R_KIND][0] = cells[R_MATCH][0] = 0;
        snprintf(cells[R_ANALYZER], 128, "%s%s", str(x, "analyzer"),
                 json_is_false(json_object_get(x, "routable")) ? " (down)" : "");
        ctl_fmt_weight(num(x, "weight"), cells[R_WEIGHT], 128);
        ctl_fmt_pct(num(x, "target_share"), cells[R_TARGET], 128);
        ctl_fmt_pct(num(x, "actual_share"), cells[R_ACTUAL], 128);
        ctl_fmt_count(num(x, "routed"), cells[R_ROUTED], 128);
        for (int c = 0; c < R_N; c++) row[c] = cells[c];
        if (ctl_table_add(t, row)) return -1;
    }
    return 0;
}

static int cmd_routes(const ctx_t *x)
{
    ctl_resp_t r;
    json_t *j;
    int rc = call(x, "GET", "/api/v1/routes", NULL, 0, &r, &j);
    if (rc) return rc;
    if (x->o->json) {
        print_raw(&r);
    } else {
        static const char *const h[R_N] = {"ROUTE",  "KIND",   "MATCH",  "ANALYZER",
                                           "WEIGHT", "TARGET", "ACTUAL", "ROUTED"};
        static const bool rt[R_N] = {0, 0, 0, 0, 1, 1, 1, 1};
        ctl_table_t *t = ctl_table_new(R_N, h, rt);
        json_t *routes = json_object_get(j, "routes"), *route;
        size_t i;
        json_array_foreach(routes, i, route)
        {
            if (t && route_rows(t, route)) {
                ctl_table_free(t);
                t = NULL;
            }
        }
        rc = print_table(t);
    }
    json_decref(j);
    ctl_resp_free(&r);
    return rc;
}

/* ------------------------------------------------------------------ changes */

/* Send a change and print the analyzer it answers with (or the raw JSON). */
static int change(const ctx_t *x, const char *method, const char *path, json_t *body,
                  const char *what)
{
    char *b = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (body && !b) {
        fprintf(stderr, "logdistctl: out of memory\n");
        return CTL_EXIT_CONNECT;
    }
    ctl_resp_t r;
    json_t *j;
    int rc = call(x, method, path, b, 0, &r, &j);
    free(b);
    if (rc) return rc;
    if (x->o->json) {
        print_raw(&r);
    } else {
        char w[48], t[48], q[48];
        ctl_fmt_weight(num(j, "weight"), w, sizeof w);
        ctl_fmt_pct(num(j, "target_share"), t, sizeof t);
        ctl_fmt_count(num(j, "queued_records"), q, sizeof q);
        if (!strcmp(what, "drained"))
            printf("%s drained: no new records; weight %s kept; %s queued records and %.0f "
                   "batches in flight are still delivered by it\n",
                   str(j, "id"), w, q, num(j, "inflight_batches"));
        else if (!strcmp(what, "removed"))
            printf("removed %s\n", str(j, "removed"));
        else
            printf("%s %s: %s, weight %s, target %s, state %s\n", str(j, "id"), what, str(j, "url"),
                   w, t, str(j, "state"));
    }
    json_decref(j);
    ctl_resp_free(&r);
    return 0;
}

static void analyzer_path(const char *id, char *buf, size_t size)
{
    snprintf(buf, size, "/api/v1/analyzers/%s", id); /* ids are [A-Za-z0-9._-] (ctl_args) */
}

static int cmd_analyzer_change(const ctx_t *x)
{
    const ctl_opts_t *o = x->o;
    char path[128];
    analyzer_path(o->id ? o->id : "", path, sizeof path);
    switch (o->cmd) {
    case CTL_CMD_ADD: {
        json_t *b = json_pack("{s:s, s:s}", "id", o->id, "url", o->an_url);
        if (b && o->has_weight) json_object_set_new(b, "weight", json_real(o->weight));
        if (b && o->health_url) json_object_set_new(b, "health_url", json_string(o->health_url));
        return change(x, "POST", "/api/v1/analyzers", b, "added");
    }
    case CTL_CMD_SET_WEIGHT:
        return change(x, "PUT", path, json_pack("{s:f}", "weight", o->weight), "re-weighted");
    case CTL_CMD_DRAIN:
        return change(x, "PUT", path, json_pack("{s:b}", "drained", 1), "drained");
    case CTL_CMD_UNDRAIN:
        return change(x, "PUT", path, json_pack("{s:b}", "drained", 0), "undrained");
    default:
        return change(x, "DELETE", path, NULL, "removed");
    }
}

/* ------------------------------------------------------------------ dead letters */

static void utc(double ms, char *buf, size_t size)
{
    if (!(ms > 0)) {
        snprintf(buf, size, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M:%SZ", &tm);
}

static int dl_list(json_t *j)
{
    char b[4][48];
    ctl_fmt_count(num(j, "batches"), b[0], sizeof b[0]);
    ctl_fmt_count(num(j, "records"), b[1], sizeof b[1]);
    ctl_fmt_bytes(num(j, "bytes"), b[2], sizeof b[2]);
    ctl_fmt_bytes(num(j, "max_bytes"), b[3], sizeof b[3]);
    printf("%s batches, %s records (%.0f durable), %s of %s, %s, %.0f records evicted\n", b[0],
           b[1], num(j, "durable_records"), b[2], b[3],
           json_is_true(json_object_get(j, "persistent")) ? "on disk" : "in memory",
           num(j, "evicted_records"));
    json_t *sample = json_object_get(j, "sample"), *e;
    if (!json_array_size(sample)) return 0;
    static const char *const h[] = {"BATCH ID", "RECORDS", "ATTEMPTS", "LAST ANALYZER",
                                    "AT (UTC)", "DURABLE", "REASON"};
    static const bool rt[] = {0, 1, 1, 0, 0, 0, 0};
    ctl_table_t *t = ctl_table_new(7, h, rt);
    size_t i;
    json_array_foreach(sample, i, e)
    {
        char c[7][96];
        ctl_fmt_clean(str(e, "batch_id"), 63, c[0], sizeof c[0]);
        ctl_fmt_count(num(e, "records"), c[1], sizeof c[1]);
        ctl_fmt_count(num(e, "attempts"), c[2], sizeof c[2]);
        ctl_fmt_clean(str(e, "last_analyzer"), 64, c[3], sizeof c[3]);
        utc(num(e, "at_ms"), c[4], sizeof c[4]);
        snprintf(c[5], sizeof c[5], "%s",
                 json_is_true(json_object_get(e, "durable")) ? "yes" : "no");
        ctl_fmt_clean(str(e, "reason"), 60, c[6], sizeof c[6]);
        const char *row[] = {c[0], c[1], c[2], c[3], c[4], c[5], c[6]};
        if (t && ctl_table_add(t, row)) {
            ctl_table_free(t);
            t = NULL;
        }
    }
    printf("most recent (at most 20):\n");
    return print_table(t);
}

static int cmd_deadletters(const ctx_t *x)
{
    const ctl_opts_t *o = x->o;
    ctl_resp_t r;
    json_t *j = NULL;
    char *body = NULL;
    int rc;
    if (o->cmd == CTL_CMD_DL_PURGE && !o->all) {
        json_t *ids = json_array();
        for (size_t i = 0; ids && i < o->nids; i++)
            json_array_append_new(ids, json_string(o->ids[i]));
        json_t *b = json_pack("{s:o}", "batch_ids", ids);
        body = b ? json_dumps(b, JSON_COMPACT) : NULL;
        json_decref(b);
        if (!body) {
            fprintf(stderr, "logdistctl: out of memory (or a batch id is not UTF-8)\n");
            return CTL_EXIT_USAGE;
        }
    }
    rc = o->cmd == CTL_CMD_DL_LIST ? call(x, "GET", "/api/v1/deadletter", NULL, 0, &r, &j)
         : o->cmd == CTL_CMD_DL_REPLAY
             ? call(x, "POST", "/api/v1/deadletter/replay", NULL, 0, &r, &j)
             : call(x, "DELETE", "/api/v1/deadletter", body, 0, &r, &j);
    free(body);
    if (rc) return rc;
    if (o->json)
        print_raw(&r);
    else if (o->cmd == CTL_CMD_DL_LIST)
        rc = dl_list(j);
    else if (o->cmd == CTL_CMD_DL_REPLAY)
        printf("replayed %.0f batches, %.0f records\n", num(j, "replayed_batches"),
               num(j, "replayed_records"));
    else
        printf("purged %.0f records\n", num(j, "purged_records"));
    json_decref(j);
    ctl_resp_free(&r);
    return rc;
}

/* ------------------------------------------------------------------ metrics, reload */

/* Scalars of o as "key value" rows, nested objects and arrays as a.b / a.0 keys. */
static void flatten(json_t *v, const char *prefix, ctl_table_t *t, int depth)
{
    char key[256], val[128];
    if (json_is_object(v) || json_is_array(v)) {
        if (depth > 8) return;
        const char *k;
        json_t *c;
        size_t i;
        if (json_is_object(v)) {
            json_object_foreach(v, k, c)
            {
                snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", k);
                flatten(c, key, t, depth + 1);
            }
        } else {
            json_array_foreach(v, i, c)
            {
                snprintf(key, sizeof key, "%s.%zu", prefix, i);
                flatten(c, key, t, depth + 1);
            }
        }
        return;
    }
    if (json_is_integer(v))
        snprintf(val, sizeof val, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(val, sizeof val, "%g", json_real_value(v));
    else if (json_is_string(v))
        ctl_fmt_clean(json_string_value(v), 100, val, sizeof val);
    else
        snprintf(val, sizeof val, "%s",
                 json_is_true(v)    ? "true"
                 : json_is_false(v) ? "false"
                                    : "null");
    ctl_fmt_clean(prefix, 200, key, sizeof key);
    const char *row[] = {key, val};
    ctl_table_add(t, row); /* ENOMEM: the row is missing; render reports nothing worse */
}

static int cmd_json_dump(const ctx_t *x, const char *method, const char *path, const char *skip)
{
    ctl_resp_t r;
    json_t *j;
    int rc = call(x, method, path, NULL, 0, &r, &j);
    if (rc) return rc;
    if (x->o->json) {
        print_raw(&r);
    } else {
        if (skip) json_object_del(j, skip);
        static const char *const h[] = {"NAME", "VALUE"};
        static const bool rt[] = {0, 1};
        ctl_table_t *t = ctl_table_new(2, h, rt);
        if (t) flatten(j, "", t, 0);
        rc = print_table(t);
    }
    json_decref(j);
    ctl_resp_free(&r);
    return rc;
}

static int cmd_metrics(const ctx_t *x)
{
    if (!x->o->prometheus) return cmd_json_dump(x, "GET", "/api/v1/metrics", "analyzers");
    ctl_resp_t r;
    int rc = call(x, "GET", "/metrics", NULL, 0, &r, NULL);
    if (rc) return rc;
    if (r.len) fwrite(r.body, 1, r.len, stdout); /* Prometheus text, as is */
    ctl_resp_free(&r);
    return 0;
}

/* ------------------------------------------------------------------ cluster */

static int print_nodes(json_t *c)
{
    static const char *const h[] = {"NODE", "ALIVE", "URL", "RECORDS/S", "QUEUED", "ETCD", "AGE"};
    static const bool rt[] = {0, 0, 0, 1, 1, 0, 1};
    ctl_table_t *t = ctl_table_new(7, h, rt);
    json_t *n;
    size_t i;
    json_array_foreach(json_object_get(c, "nodes"), i, n)
    {
        char cells[7][96];
        const char *row[7];
        ctl_fmt_clean(str(n, "id"), 64, cells[0], 96);
        snprintf(cells[1], 96, "%s%s", json_is_true(json_object_get(n, "alive")) ? "yes" : "no",
                 json_is_true(json_object_get(n, "self")) ? " (this)" : "");
        ctl_fmt_clean(str(n, "url"), 60, cells[2], 96);
        snprintf(cells[3], 96, "%.1f", num(n, "records_per_s"));
        ctl_fmt_count(num(n, "queued_records"), cells[4], 96);
        snprintf(cells[5], 96, "%s",
                 json_is_true(json_object_get(n, "etcd_connected")) ? "connected" : "-");
        ctl_fmt_ms(num(n, "age_ms"), cells[6], 96);
        for (size_t k = 0; k < 7; k++) row[k] = cells[k];
        if (t && ctl_table_add(t, row)) {
            ctl_table_free(t);
            t = NULL;
        }
    }
    return print_table(t);
}

/* GET /api/v1/cluster and /api/v1/cluster/analyzers: the nodes, then target
 * against cluster-wide actual share per analyzer. */
static int cmd_cluster(const ctx_t *x)
{
    ctl_resp_t rc_, ra;
    json_t *c, *a;
    int rc = call(x, "GET", "/api/v1/cluster", NULL, 0, &rc_, &c);
    if (rc) return rc;
    if ((rc = call(x, "GET", "/api/v1/cluster/analyzers", NULL, 0, &ra, &a))) goto out_c;
    if (x->o->json) {
        fputs("{\"cluster\":", stdout);
        fwrite(rc_.body, 1, rc_.len, stdout);
        fputs(",\"analyzers\":", stdout);
        fwrite(ra.body, 1, ra.len, stdout);
        fputs("}\n", stdout);
        goto out;
    }
    char err[200];
    ctl_fmt_clean(str(c, "last_error"), 150, err, sizeof err);
    printf("node %s, etcd %s (%s), configuration %s%s%s\n", str(c, "node_id"),
           json_is_true(json_object_get(c, "etcd_connected")) ? "connected" : "DISCONNECTED",
           str(c, "etcd_endpoint"), str(c, "config"), err[0] ? ": " : "", err);
    if ((rc = print_nodes(c))) goto out;
    static const char *const h[] = {"ANALYZER", "WEIGHT", "TARGET", "CLUSTER ACTUAL", "DELIVERED"};
    static const bool rt[] = {0, 1, 1, 1, 1};
    ctl_table_t *t = ctl_table_new(5, h, rt);
    json_t *an;
    size_t i;
    json_array_foreach(json_object_get(a, "analyzers"), i, an)
    {
        char cells[5][96];
        const char *row[5];
        ctl_fmt_clean(str(an, "id"), 64, cells[0], 96);
        ctl_fmt_weight(num(an, "weight"), cells[1], 96);
        ctl_fmt_pct(num(an, "target_share"), cells[2], 96);
        ctl_fmt_pct(num(an, "actual_share"), cells[3], 96);
        ctl_fmt_count(num(an, "records_delivered"), cells[4], 96);
        for (size_t k = 0; k < 5; k++) row[k] = cells[k];
        if (t && ctl_table_add(t, row)) {
            ctl_table_free(t);
            t = NULL;
        }
    }
    putchar('\n');
    rc = print_table(t);
out:
    json_decref(a);
    ctl_resp_free(&ra);
out_c:
    json_decref(c);
    ctl_resp_free(&rc_);
    return rc;
}

int ctl_cmd_run(const ctl_opts_t *o, const char *token)
{
    ctx_t x = {o, token};
    switch (o->cmd) {
    case CTL_CMD_STATUS:
        return cmd_status(&x);
    case CTL_CMD_ANALYZERS:
        return cmd_analyzers(&x);
    case CTL_CMD_ADD:
    case CTL_CMD_SET_WEIGHT:
    case CTL_CMD_DRAIN:
    case CTL_CMD_UNDRAIN:
    case CTL_CMD_REMOVE:
        return cmd_analyzer_change(&x);
    case CTL_CMD_DL_LIST:
    case CTL_CMD_DL_REPLAY:
    case CTL_CMD_DL_PURGE:
        return cmd_deadletters(&x);
    case CTL_CMD_METRICS:
        return cmd_metrics(&x);
    case CTL_CMD_RELOAD:
        return cmd_json_dump(&x, "POST", "/api/v1/reload", NULL);
    case CTL_CMD_ROUTES:
        return cmd_routes(&x);
    case CTL_CMD_CLUSTER:
        return cmd_cluster(&x);
    default:
        return CTL_EXIT_USAGE;
    }
}
