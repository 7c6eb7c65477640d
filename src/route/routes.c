/*
 * routes.c - see routes.h. Building a table is the only place that reads
 * JSON; classifying a record reads only the compiled table.
 */
#include "route/routes.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Which of the scanner's fields path i of the set is (SF_NONE: another one). */
enum { SF_NONE, SF_LEVEL, SF_SOURCE, SF_TYPE };

struct routes {
    _Atomic long refs;
    size_t n;
    route_t r[ROUTES_MAX];
    size_t def;              /* index of the default route */
    bool implicit_default;   /* appended, not given */
    bool needs_fields;       /* some route has a match or an affinity key */
    bool walk;               /* some field is not one the scanner reads (level, source, type) */
    uint8_t scan_field[FIELD_SET_MAX]; /* per path of the set: SF_* */
    char def_key[FIELD_NAME_MAX + 1]; /* the defaults it was built with */
    double def_factor;
    char *config_text;
    field_set_t *fields;
};

static void map_scanned(routes_t *t);

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void route_clear(route_t *r)
{
    free(r->members);
    match_free(r->match);
    json_decref(r->match_json);
    memset(r, 0, sizeof *r);
}

static void routes_free(routes_t *t)
{
    for (size_t i = 0; i < t->n; i++) route_clear(&t->r[i]);
    field_set_free(t->fields);
    free(t->config_text);
    free(t);
}

routes_t *routes_ref(routes_t *t)
{
    if (t) atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

void routes_unref(routes_t *t)
{
    if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1) routes_free(t);
}

/* "analyzers": {"id": w|null} or ["id", ...]. */
static int parse_members(route_t *r, const json_t *v, const char *where, char *err, size_t el)
{
    size_t n = json_is_object(v) ? json_object_size(v) : json_is_array(v) ? json_array_size(v) : 0;
    if (!json_is_object(v) && !json_is_array(v)) {
        set_err(err, el, "%s: \"analyzers\" must be an object {\"id\": weight} or an array of ids",
                where);
        return -EINVAL;
    }
    if (n > ROUTE_MEMBERS_MAX) {
        set_err(err, el, "%s: more than %d analyzers", where, ROUTE_MEMBERS_MAX);
        return -EINVAL;
    }
    r->members = calloc(n ? n : 1, sizeof *r->members);
    if (!r->members) return -ENOMEM;
    const char *key;
    json_t *w;
    size_t i = 0;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, w) {
            route_member_t *m = &r->members[i++];
            if (!name_ok(key, CONFIG_ID_MAX)) {
                set_err(err, el, "%s: analyzer id \"%.80s\" must be 1..%d of [A-Za-z0-9._-]",
                        where, key, CONFIG_ID_MAX);
                return -EINVAL;
            }
            strcpy(m->id, key);
            if (json_is_null(w)) continue;
            double x = json_is_number(w) ? json_number_value(w) : -1;
            if (!(x > 0) || !isfinite(x) || x > 1e9) {
                set_err(err, el, "%s: weight of \"%s\" must be a number > 0 (or null: the "
                        "analyzer's own weight)", where, key);
                return -EINVAL;
            }
            m->weight = x;
        }
    } else {
        json_array_foreach(v, i, w) {
            const char *s = json_string_value(w);
            if (!s || !name_ok(s, CONFIG_ID_MAX)) {
                set_err(err, el, "%s: analyzers[%zu] must be an analyzer id (1..%d of "
                        "[A-Za-z0-9._-])", where, i, CONFIG_ID_MAX);
                return -EINVAL;
            }
            strcpy(r->members[i].id, s);
        }
    }
    r->nmembers = n;
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n; b++)
            if (!strcmp(r->members[a].id, r->members[b].id)) {
                set_err(err, el, "%s: analyzer \"%s\" named twice", where, r->members[a].id);
                return -EINVAL;
            }
    return 0;
}

static int parse_affinity(routes_t *t, route_t *r, const char *key, double factor,
                          const char *where, char *err, size_t el)
{
    if (!key || !*key) return 0;
    if (strlen(key) > FIELD_NAME_MAX) {
        set_err(err, el, "%s: affinity_key longer than %d bytes", where, FIELD_NAME_MAX);
        return -EINVAL;
    }
    int f = field_set_add(t->fields, key);
    if (f < 0) {
        set_err(err, el, "%s: affinity_key \"%s\" is not a usable path (%s)", where, key,
                f == -ENOSPC ? "too many distinct fields in the table" : "empty part or too deep");
        return -EINVAL;
    }
    strcpy(r->affinity_key, key);
    r->affinity_field = f;
    if (factor != 0 && (!(factor > 1) || !(factor <= ROUTE_BALANCE_FACTOR_MAX))) {
        set_err(err, el, "%s: balance_factor must be 0 (off) or a percentage in 101..%g", where,
                ROUTE_BALANCE_FACTOR_MAX * 100);
        return -EINVAL;
    }
    r->balance_factor = factor;
    return 0;
}

static const char *const route_keys[] = {"name", "match", "analyzers", "copy", "affinity_key",
                                         "balance_factor", NULL};

static int parse_route(routes_t *t, route_t *r, const json_t *o, size_t idx,
                       const routes_defaults_t *def, char *err, size_t el)
{
    char where[120];
    snprintf(where, sizeof where, "routes[%zu]", idx);
    if (!json_is_object(o)) {
        set_err(err, el, "%s: a route must be an object", where);
        return -EINVAL;
    }
    const char *key;
    json_t *v;
    const char *name = json_string_value(json_object_get(o, "name"));
    if (!name || !name_ok(name, ROUTE_NAME_MAX)) {
        set_err(err, el, "%s: \"name\" must be 1..%d of [A-Za-z0-9._-]", where, ROUTE_NAME_MAX);
        return -EINVAL;
    }
    strcpy(r->name, name);
    snprintf(where, sizeof where, "routes[%zu] (\"%s\")", idx, name);
    json_object_foreach((json_t *)o, key, v) { /* after the name: the message names the route */
        size_t k = 0;
        while (route_keys[k] && strcmp(route_keys[k], key)) k++;
        if (!route_keys[k]) {
            set_err(err, el, "%s: unknown key \"%.64s\" (known: name, match, analyzers, copy, "
                    "affinity_key, balance_factor)", where, key);
            return -EINVAL;
        }
    }
    r->is_default = !strcmp(name, ROUTE_DEFAULT);
    r->affinity_field = -1;
    v = json_object_get(o, "copy");
    if (v && !json_is_boolean(v)) {
        set_err(err, el, "%s: \"copy\" must be true or false", where);
        return -EINVAL;
    }
    r->copy = json_is_true(v);
    json_t *m = json_object_get(o, "match");
    if (r->is_default && (r->copy || (m && (!json_is_object(m) || json_object_size(m))))) {
        set_err(err, el, "%s: the default route takes the records no other route matches: it "
                "has no \"match\" and is not a copy", where);
        return -EINVAL;
    }
    if (!r->is_default) {
        json_t *empty = m ? NULL : json_object();
        char merr[256] = "";
        r->match = match_compile(m ? m : empty, t->fields, merr, sizeof merr);
        json_decref(empty);
        if (!r->match) {
            set_err(err, el, "%s: match: %s", where, merr);
            return -EINVAL;
        }
        r->match_json = match_to_json(r->match);
        if (m && json_object_size(m)) t->needs_fields = true;
    }
    v = json_object_get(o, "analyzers");
    r->all = !v;
    if (v) {
        int rc = parse_members(r, v, where, err, el);
        if (rc) return rc;
        if (!r->nmembers && !r->is_default) {
            set_err(err, el, "%s: \"analyzers\" is empty (only the default route may have no "
                    "analyzers)", where);
            return -EINVAL;
        }
    }
    v = json_object_get(o, "affinity_key");
    if (v && !json_is_string(v)) {
        set_err(err, el, "%s: \"affinity_key\" must be a string such as \"source\" or "
                "\"metadata.trace_id\"", where);
        return -EINVAL;
    }
    json_t *bf = json_object_get(o, "balance_factor");
    if (bf && !json_is_number(bf)) {
        set_err(err, el, "%s: \"balance_factor\" must be a number", where);
        return -EINVAL;
    }
    if (bf && !v && !r->is_default) {
        set_err(err, el, "%s: \"balance_factor\" bounds the load of an \"affinity_key\": "
                "give both", where);
        return -EINVAL;
    }
    const char *ak = v ? json_string_value(v) : r->is_default ? def->affinity_key : NULL;
    double f = bf ? json_number_value(bf) / 100.0 : def->balance_factor; /* given in % */
    return parse_affinity(t, r, ak, f, where, err, el);
}

static int build_default(routes_t *t, const routes_defaults_t *def, char *err, size_t el)
{
    route_t *r = &t->r[t->n];
    strcpy(r->name, ROUTE_DEFAULT);
    r->is_default = true;
    r->all = true;
    r->affinity_field = -1;
    int rc = parse_affinity(t, r, def->affinity_key, def->balance_factor, "--affinity-key", err, el);
    if (rc) return rc;
    t->def = t->n++;
    t->implicit_default = true;
    return 0;
}

int routes_build(const json_t *arr, const routes_defaults_t *def, routes_t **out, char *err,
                 size_t errlen)
{
    static const routes_defaults_t none = {NULL, 0, NULL};
    if (!def) def = &none;
    *out = NULL;
    if (arr && !json_is_array(arr)) {
        set_err(err, errlen, "routes must be an array of route objects");
        return -EINVAL;
    }
    size_t n = arr ? json_array_size(arr) : 0;
    if (n > ROUTES_MAX) {
        set_err(err, errlen, "more than %d routes", ROUTES_MAX);
        return -EINVAL;
    }
    routes_t *t = calloc(1, sizeof *t);
    if (!t || !(t->fields = field_set_new())) {
        free(t);
        return -ENOMEM;
    }
    atomic_init(&t->refs, 1);
    snprintf(t->def_key, sizeof t->def_key, "%s", def->affinity_key ? def->affinity_key : "");
    t->def_factor = def->balance_factor;
    t->config_text = strdup(def->config_text ? def->config_text : "");
    int rc = t->config_text ? 0 : -ENOMEM;
    bool have_default = false;
    for (size_t i = 0; i < n && !rc; i++) {
        route_t *r = &t->r[t->n++];
        rc = parse_route(t, r, json_array_get(arr, i), i, def, err, errlen);
        if (rc) break;
        for (size_t j = 0; j + 1 < t->n; j++)
            if (!strcmp(t->r[j].name, r->name)) {
                set_err(err, errlen, "routes[%zu]: the name \"%s\" is used twice", i, r->name);
                rc = -EINVAL;
            }
        if (r->is_default) {
            have_default = true;
            t->def = t->n - 1;
        }
        if (r->affinity_field >= 0) t->needs_fields = true;
    }
    if (!rc && !have_default && t->n == ROUTES_MAX) {
        set_err(err, errlen, "%d routes and no \"default\": no room for the default route",
                ROUTES_MAX);
        rc = -EINVAL;
    }
    if (!rc && !have_default) rc = build_default(t, def, err, errlen);
    if (!rc && t->r[t->def].affinity_field >= 0) t->needs_fields = true;
    if (!rc) map_scanned(t);
    if (rc) {
        routes_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int routes_parse(const char *text, const routes_defaults_t *def, routes_t **out, char *err,
                 size_t errlen)
{
    json_error_t je;
    json_t *arr = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!arr) {
        *out = NULL;
        set_err(err, errlen, "routes: line %d column %d: %s", je.line, je.column, je.text);
        return -EINVAL;
    }
    int rc = routes_build(arr, def, out, err, errlen);
    json_decref(arr);
    return rc;
}

int routes_from_config(const config_t *cfg, routes_t **out, char *err, size_t errlen)
{
    routes_defaults_t def = {cfg->affinity_key, cfg->affinity_balance_pct / 100.0, cfg->routes};
    if (cfg->affinity_balance_pct && cfg->affinity_balance_pct <= 100) {
        set_err(err, errlen, "affinity-balance-factor must be 0 (off) or 101..10000 (%%)");
        *out = NULL;
        return -EINVAL;
    }
    if (!cfg->routes) return routes_build(NULL, &def, out, err, errlen);
    return routes_parse(cfg->routes, &def, out, err, errlen);
}

void routes_defaults_of(const routes_t *t, routes_defaults_t *out)
{
    out->affinity_key = t->def_key;
    out->balance_factor = t->def_factor;
    out->config_text = t->config_text;
}

size_t routes_count(const routes_t *t)
{
    return t->n;
}

const route_t *routes_get(const routes_t *t, size_t i)
{
    return i < t->n ? &t->r[i] : NULL;
}

int routes_find(const routes_t *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->r[i].name, name)) return (int)i;
    return -1;
}

size_t routes_default_index(const routes_t *t)
{
    return t->def;
}

bool routes_default_implicit(const routes_t *t)
{
    return t->implicit_default;
}

bool routes_may_refuse(const routes_t *t)
{
    const route_t *d = &t->r[t->def];
    return !d->all && d->nmembers == 0;
}

bool routes_trivial(const routes_t *t)
{
    return t->n == 1 && t->r[0].all && t->r[0].affinity_field < 0;
}

int routes_check_members(const routes_t *t, bool (*known)(void *ctx, const char *id), void *ctx,
                         const char *prefix, const char *what, char *err, size_t errlen)
{
    for (size_t i = 0; i < t->n; i++)
        for (size_t j = 0; j < t->r[i].nmembers; j++)
            if (!known(ctx, t->r[i].members[j].id)) {
                set_err(err, errlen, "%sroute \"%s\" names analyzer \"%s\", which is not %s",
                        prefix, t->r[i].name, t->r[i].members[j].id, what);
                return -ENOENT;
            }
    return 0;
}

const char *routes_naming(const routes_t *t, const char *id)
{
    for (size_t i = 0; i < t->n; i++)
        for (size_t j = 0; j < t->r[i].nmembers; j++)
            if (!strcmp(t->r[i].members[j].id, id)) return t->r[i].name;
    return NULL;
}

json_t *route_to_json(const route_t *r)
{
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "name", json_string(r->name));
    if (!r->is_default) json_object_set(o, "match", r->match_json ? r->match_json : json_object());
    if (!r->all) {
        json_t *m = json_object();
        for (size_t i = 0; i < r->nmembers; i++)
            json_object_set_new(m, r->members[i].id, r->members[i].weight > 0
                                                         ? json_real(r->members[i].weight)
                                                         : json_null());
        json_object_set_new(o, "analyzers", m);
    }
    json_object_set_new(o, "copy", json_boolean(r->copy));
    if (r->affinity_key[0]) {
        json_object_set_new(o, "affinity_key", json_string(r->affinity_key));
        json_object_set_new(o, "balance_factor", json_integer((json_int_t)(r->balance_factor * 100 + 0.5)));
    }
    return o;
}

static json_t *to_json(const routes_t *t, bool user)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < t->n; i++) {
        if (user && i == t->def && t->implicit_default) continue;
        json_array_append_new(a, route_to_json(&t->r[i]));
    }
    return a;
}

json_t *routes_to_json(const routes_t *t)
{
    return to_json(t, false);
}

json_t *routes_json_user(const routes_t *t)
{
    return to_json(t, true);
}

char *routes_user_text(const routes_t *t)
{
    json_t *u = to_json(t, true);
    char *text = u ? json_dumps(u, JSON_COMPACT) : NULL;
    json_decref(u);
    return text;
}

static void map_scanned(routes_t *t)
{
    t->walk = false;
    for (size_t i = 0; i < field_set_count(t->fields); i++) {
        const char *p = field_set_path(t->fields, i);
        t->scan_field[i] = !strcmp(p, "level")    ? SF_LEVEL
                           : !strcmp(p, "source") ? SF_SOURCE
                           : !strcmp(p, "type")   ? SF_TYPE
                                                  : SF_NONE;
        if (t->scan_field[i] == SF_NONE) t->walk = true;
    }
}

/* Evaluate the routes on out->vals. */
static void evaluate(const routes_t *t, route_hits_t *out)
{
    int primary = -1;
    for (size_t i = 0; i < t->n; i++) {
        const route_t *r = &t->r[i];
        if (r->is_default || (primary >= 0 && !r->copy)) continue;
        if (!match_eval(r->match, out->vals)) continue;
        if (r->copy)
            out->copies[out->ncopies++] = (uint16_t)i;
        else
            primary = (int)i;
    }
    if (primary < 0 && (t->r[t->def].all || t->r[t->def].nmembers)) primary = (int)t->def;
    out->primary = primary;
}

static bool classify_trivially(const routes_t *t, route_hits_t *out)
{
    out->ncopies = 0;
    if (t->needs_fields) return false;
    /* no route reads a field, so no route has a condition: every route takes every
     * record (a route without "match" before the default is not the default, and a
     * copy route without one copies everything); match_eval reads no value here */
    evaluate(t, out);
    return true;
}

int routes_classify(const routes_t *t, const char *rec, size_t len, route_hits_t *out)
{
    if (classify_trivially(t, out)) return 0;
    int rc = field_extract(t->fields, rec, len, out->vals);
    if (rc) return rc;
    /* level, source and type count only as strings, as the scanner reads them */
    for (size_t i = 0; i < field_set_count(t->fields); i++)
        if (t->scan_field[i] != SF_NONE && out->vals[i].present &&
            (out->vals[i].p == rec || out->vals[i].p[-1] != '"'))
            out->vals[i] = (field_slice_t){0};
    evaluate(t, out);
    return 0;
}

static field_slice_t scanned(const char *data, scan_slice_t s, uint32_t flags, uint32_t esc)
{
    if (!s.off && !s.len) return (field_slice_t){0};
    return (field_slice_t){data + s.off, s.len, (flags & esc) != 0, true};
}

int routes_classify_scanned(const routes_t *t, const char *data, const scan_record_t *r,
                            route_hits_t *out)
{
    if (classify_trivially(t, out)) return 0;
    if (t->walk) {
        int rc = field_extract(t->fields, data + r->rec.off, r->rec.len, out->vals);
        if (rc) return rc;
    }
    for (size_t i = 0; i < field_set_count(t->fields); i++) {
        switch (t->scan_field[i]) {
        case SF_LEVEL: out->vals[i] = scanned(data, r->level, r->flags, SCAN_REC_LEVEL_ESCAPED); break;
        case SF_SOURCE: out->vals[i] = scanned(data, r->source, r->flags, SCAN_REC_SOURCE_ESCAPED); break;
        case SF_TYPE: out->vals[i] = scanned(data, r->type, r->flags, SCAN_REC_TYPE_ESCAPED); break;
        default: break;
        }
    }
    evaluate(t, out);
    return 0;
}

int routes_affinity_key(const route_t *r, const route_hits_t *h, char *buf, size_t cap,
                        const char **key, size_t *len)
{
    if (r->affinity_field < 0) return 0;
    const field_slice_t *v = &h->vals[r->affinity_field];
    if (!v->present) return 0;
    if (!v->escaped) {
        *key = v->p;
        *len = v->len;
        return 1;
    }
    ssize_t n = field_unescape(v->p, v->len, buf, cap);
    if (n < 0) { /* longer than the buffer: its raw bytes are as stable a key */
        *key = v->p;
        *len = v->len;
        return 1;
    }
    *key = buf;
    *len = (size_t)n;
    return 1;
}
