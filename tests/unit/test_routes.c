/*
 * test_routes.c - table-driven cmocka tests for src/route/routes.c (the route
 * table: JSON -> compiled table, classification of one record).
 *
 *   - routes_build errors: every wrong shape gives -EINVAL and a message that
 *     names the route (index and, once known, name) and the key that is wrong;
 *     the 128-route limit and the room for the default route;
 *   - the default route: appended when absent (every analyzer, --affinity-key),
 *     given explicitly (position kept), empty (routes_may_refuse);
 *   - classify table: tables x records -> the primary route and the copy routes,
 *     in order (first non-copy wins, copies anywhere, default, empty default ->
 *     -1, globs, sets, nested metadata.x, numbers/booleans, missing fields);
 *   - routes_to_json round trip: build(to_json(t)) gives the same JSON, and the
 *     user form leaves out the implicit default;
 *   - helpers: routes_find, routes_naming, routes_trivial, routes_affinity_key
 *     (plain and escaped values).
 */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "record/scan.h"
#include "route/routes.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- build errors ------------------------------------------------------------------------ */

struct bad_case {
    const char *json;
    const char *want[3]; /* substrings the message must hold */
};

static const struct bad_case bad_cases[] = {
    {"{}", {"must be an array", NULL}},
    {"[1]", {"routes[0]", "must be an object", NULL}},
    {"[{\"name\":\"a\",\"analyzers\":[\"x\"],\"bogus\":1}]",
     {"routes[0] (\"a\")", "\"bogus\"", NULL}},
    {"[{\"analyzers\":[\"x\"]}]", {"routes[0]", "\"name\"", NULL}},
    {"[{\"name\":\"\",\"analyzers\":[\"x\"]}]", {"routes[0]", "\"name\"", NULL}},
    {"[{\"name\":\"a b\",\"analyzers\":[\"x\"]}]", {"routes[0]", "\"name\"", NULL}},
    {"[{\"name\":7}]", {"routes[0]", "\"name\"", NULL}},
    {"[{\"name\":\"a\",\"analyzers\":[\"x\"]},{\"name\":\"a\",\"analyzers\":[\"y\"]}]",
     {"routes[1]", "\"a\"", "twice"}},
    {"[{\"name\":\"a\",\"analyzers\":[\"x\"],\"copy\":1}]",
     {"routes[0] (\"a\")", "\"copy\"", NULL}},
    {"[{\"name\":\"a\",\"analyzers\":{}}]", {"routes[0] (\"a\")", "\"analyzers\" is empty", NULL}},
    {"[{\"name\":\"a\",\"analyzers\":[]}]", {"routes[0] (\"a\")", "\"analyzers\" is empty", NULL}},
    {"[{\"name\":\"a\",\"analyzers\":\"x\"}]", {"routes[0] (\"a\")", "\"analyzers\"", NULL}},
    {"[{\"name\":\"a\",\"analyzers\":{\"x\":0}}]", {"routes[0] (\"a\")", "weight of \"x\"", NULL}},
    {"[{\"name\":\"a\",\"analyzers\":{\"x\":-1}}]", {"routes[0] (\"a\")", "weight of \"x\"", NULL}},
    {"[{\"name\":\"a\",\"analyzers\":{\"x\":\"3\"}}]",
     {"routes[0] (\"a\")", "weight of \"x\"", NULL}},
    {"[{\"name\":\"a\",\"analyzers\":{\"x\":1e10}}]",
     {"routes[0] (\"a\")", "weight of \"x\"", NULL}},
    {"[{\"name\":\"a\",\"analyzers\":{\"x/y\":1}}]", {"routes[0] (\"a\")", "analyzer id", NULL}},
    {"[{\"name\":\"a\",\"analyzers\":[\"x\",3]}]", {"routes[0] (\"a\")", "analyzers[1]", NULL}},
    {"[{\"name\":\"a\",\"analyzers\":[\"x\",\"x\"]}]",
     {"routes[0] (\"a\")", "\"x\" named twice", NULL}},
    {"[{\"name\":\"a\",\"analyzers\":[\"x\"],\"affinity_key\":5}]",
     {"routes[0] (\"a\")", "\"affinity_key\"", NULL}},
    {"[{\"name\":\"a\",\"analyzers\":[\"x\"],\"affinity_key\":\"m..t\"}]",
     {"routes[0] (\"a\")", "affinity_key \"m..t\"", NULL}},
    {"[{\"name\":\"a\",\"analyzers\":[\"x\"],\"affinity_key\":\"a.b.c.d.e.f.g.h.i\"}]",
     {"routes[0] (\"a\")", "affinity_key", NULL}},
    {"[{\"name\":\"a\",\"analyzers\":[\"x\"],\"affinity_key\":\"s\",\"balance_factor\":\"1\"}]",
     {"routes[0] (\"a\")", "\"balance_factor\"", NULL}},
    {"[{\"name\":\"a\",\"analyzers\":[\"x\"],\"affinity_key\":\"s\",\"balance_factor\":100}]",
     {"routes[0] (\"a\")", "balance_factor", "101"}},
    {"[{\"name\":\"a\",\"analyzers\":[\"x\"],\"affinity_key\":\"s\",\"balance_factor\":50}]",
     {"routes[0] (\"a\")", "balance_factor", NULL}},
    {"[{\"name\":\"a\",\"analyzers\":[\"x\"],\"affinity_key\":\"s\",\"balance_factor\":10001}]",
     {"routes[0] (\"a\")", "balance_factor", NULL}},
    {"[{\"name\":\"a\",\"analyzers\":[\"x\"],\"match\":{\"level\":3}}]",
     {"routes[0] (\"a\")", "match", "level"}},
    {"[{\"name\":\"a\",\"analyzers\":[\"x\"],\"match\":{\"level\":[]}}]",
     {"routes[0] (\"a\")", "match", "level"}},
    {"[{\"name\":\"a\",\"analyzers\":[\"x\"],\"match\":{\"level\":[\"A\",2]}}]",
     {"routes[0] (\"a\")", "match", "level"}},
    {"[{\"name\":\"a\",\"analyzers\":[\"x\"],\"match\":{\"a..b\":\"x\"}}]",
     {"routes[0] (\"a\")", "match", NULL}},
    {"[{\"name\":\"a\",\"analyzers\":[\"x\"],\"match\":\"level\"}]",
     {"routes[0] (\"a\")", "match", NULL}},
    {"[{\"name\":\"default\",\"match\":{\"level\":\"E\"}}]",
     {"routes[0] (\"default\")", "no \"match\"", NULL}},
    {"[{\"name\":\"default\",\"copy\":true}]", {"routes[0] (\"default\")", "not a copy", NULL}},
    {"[{\"name\":\"ok\",\"analyzers\":[\"x\"]},{\"name\":\"b\",\"copy\":\"yes\",\"analyzers\":["
     "\"x\"]}]",
     {"routes[1] (\"b\")", "\"copy\"", NULL}},
};

static void test_build_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(bad_cases); i++) {
        json_error_t je;
        json_t *j = json_loads(bad_cases[i].json, 0, &je);
        if (!j) fail_msg("case %zu: bad test JSON: %s", i, je.text);
        routes_t *t = (routes_t *)1;
        char err[512] = "";
        int rc = routes_build(j, NULL, &t, err, sizeof err);
        if (rc != -EINVAL) fail_msg("case %zu (%s): rc %d", i, bad_cases[i].json, rc);
        assert_null(t);
        for (size_t k = 0; k < 3 && bad_cases[i].want[k]; k++)
            if (!strstr(err, bad_cases[i].want[k]))
                fail_msg("case %zu (%s): message \"%s\" lacks \"%s\"", i, bad_cases[i].json, err,
                         bad_cases[i].want[k]);
        json_decref(j);
    }
}

/* routes_parse: syntax errors name line and column; the defaults are checked too. */
static void test_parse_errors(void **state)
{
    (void)state;
    routes_t *t = NULL;
    char err[256] = "";
    assert_int_equal(routes_parse("[\n{\"name\": }]", NULL, &t, err, sizeof err), -EINVAL);
    assert_null(t);
    assert_non_null(strstr(err, "line 2"));
    /* duplicate keys are refused (JSON_REJECT_DUPLICATES) */
    assert_int_equal(routes_parse("[{\"name\":\"a\",\"name\":\"b\",\"analyzers\":[\"x\"]}]", NULL,
                                  &t, err, sizeof err),
                     -EINVAL);
    /* a bad --affinity-key for the implicit default */
    routes_defaults_t d = {.affinity_key = "a..b", .balance_factor = 0};
    assert_int_equal(routes_parse("[]", &d, &t, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "--affinity-key"));
    routes_defaults_t d2 = {.affinity_key = "source", .balance_factor = 0.5};
    assert_int_equal(routes_parse("[]", &d2, &t, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "balance_factor"));
}

static json_t *route_json(size_t i)
{
    json_t *o = json_object();
    char name[32];
    snprintf(name, sizeof name, "r%zu", i);
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "analyzers", json_pack("[s]", "x"));
    return o;
}

/* 128 routes and a default: fine; 128 without a default: no room; 129: too many. */
static void test_limits(void **state)
{
    (void)state;
    char err[256];
    routes_t *t = NULL;
    json_t *a = json_array();
    for (size_t i = 0; i < ROUTES_MAX - 1; i++)
        json_array_append_new(a, route_json(i));
    assert_int_equal(routes_build(a, NULL, &t, err, sizeof err), 0);
    assert_int_equal(routes_count(t), ROUTES_MAX);
    assert_int_equal(routes_default_index(t), ROUTES_MAX - 1);
    routes_unref(t);
    json_array_append_new(a, route_json(ROUTES_MAX - 1));
    assert_int_equal(routes_build(a, NULL, &t, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "no room for the default"));
    json_array_set_new(a, ROUTES_MAX - 1, json_pack("{s:s}", "name", "default"));
    assert_int_equal(routes_build(a, NULL, &t, err, sizeof err), 0);
    assert_int_equal(routes_count(t), ROUTES_MAX);
    routes_unref(t);
    json_array_append_new(a, route_json(ROUTES_MAX));
    assert_int_equal(routes_build(a, NULL, &t, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "more than 128 routes"));
    json_decref(a);
}

/* ---- the default route ------------------------------------------------------------------- */

static void test_default_route(void **state)
{
    (void)state;
    char err[256] = "";
    routes_t *t = NULL;
    /* no table: the default only, trivial */
    assert_int_equal(routes_build(NULL, NULL, &t, err, sizeof err), 0);
    assert_int_equal(routes_count(t), 1);
    assert_true(routes_trivial(t));
    assert_false(routes_may_refuse(t));
    const route_t *d = routes_get(t, 0);
    assert_string_equal(d->name, "default");
    assert_true(d->is_default && d->all && !d->copy);
    assert_int_equal(d->affinity_field, -1);
    assert_null(routes_get(t, 1));
    routes_unref(t);
    /* --affinity-key: the implicit default carries it, not trivial any more */
    routes_defaults_t def = {.affinity_key = "metadata.trace_id", .balance_factor = 1.25};
    assert_int_equal(
        routes_parse("[{\"name\":\"e\",\"analyzers\":[\"x\"]}]", &def, &t, err, sizeof err), 0);
    assert_int_equal(routes_count(t), 2);
    assert_int_equal(routes_default_index(t), 1);
    d = routes_get(t, 1);
    assert_string_equal(d->affinity_key, "metadata.trace_id");
    assert_true(d->balance_factor == 1.25);
    assert_int_equal(routes_get(t, 0)->affinity_field, -1); /* only the default gets it */
    assert_false(routes_trivial(t));
    routes_unref(t);
    /* an explicit default keeps its place and its own affinity key over the default */
    assert_int_equal(
        routes_parse("[{\"name\":\"default\",\"analyzers\":{\"x\":2},"
                     "\"affinity_key\":\"host\"},{\"name\":\"z\",\"analyzers\":[\"y\"]}]",
                     &def, &t, err, sizeof err),
        0);
    assert_int_equal(routes_default_index(t), 0);
    assert_string_equal(routes_get(t, 0)->affinity_key, "host");
    assert_false(routes_get(t, 0)->all);
    assert_true(routes_get(t, 0)->members[0].weight == 2);
    assert_false(routes_may_refuse(t));
    routes_unref(t);
    /* the empty default refuses */
    assert_int_equal(
        routes_parse("[{\"name\":\"default\",\"analyzers\":{}}]", NULL, &t, err, sizeof err), 0);
    assert_true(routes_may_refuse(t));
    assert_false(routes_trivial(t));
    routes_unref(t);
    assert_int_equal(
        routes_parse("[{\"name\":\"default\",\"analyzers\":[]}]", NULL, &t, err, sizeof err), 0);
    assert_true(routes_may_refuse(t));
    routes_unref(t);
}

/* ---- classify ---------------------------------------------------------------------------- */

static const char *const T_ERRORS =
    "[{\"name\":\"alerts\",\"copy\":true,\"match\":{\"level\":[\"ERROR\",\"FATAL\"]},"
    "\"analyzers\":[\"al\"]},"
    "{\"name\":\"checkout\",\"match\":{\"source\":\"checkout-*\"},\"analyzers\":[\"c\"]},"
    "{\"name\":\"eu\",\"match\":{\"metadata.region\":\"eu\",\"level\":\"INFO\"},"
    "\"analyzers\":[\"e\"]},"
    "{\"name\":\"audit\",\"copy\":true,\"match\":{\"type\":\"audit*\"},\"analyzers\":[\"au\"]},"
    "{\"name\":\"codes\",\"match\":{\"status\":[\"500\",\"503\"],\"ok\":\"false\"},"
    "\"analyzers\":[\"x\"]}]";

static const char *const T_EMPTY_DEFAULT =
    "[{\"name\":\"errors\",\"match\":{\"level\":\"ERROR\"},\"analyzers\":[\"a\"]},"
    "{\"name\":\"tap\",\"copy\":true,\"match\":{\"source\":\"tap\"},\"analyzers\":[\"t\"]},"
    "{\"name\":\"default\",\"analyzers\":{}}]";

/* routes with no match at all: an unconditional non-copy route catches everything
 * before the default; an unconditional copy route copies everything */
static const char *const T_NO_MATCH = "[{\"name\":\"all\",\"analyzers\":[\"a\"]}]";
/* an explicit default first: its position does not matter, later routes still win */
static const char *const T_DEFAULT_FIRST =
    "[{\"name\":\"default\",\"analyzers\":[\"d\"]},"
    "{\"name\":\"late\",\"match\":{\"level\":\"ERROR\"},\"analyzers\":[\"l\"]}]";
/* level/source/type count only as strings (as the scanner and --critical-levels read them) */
static const char *const T_LEVEL_NUM =
    "[{\"name\":\"five\",\"match\":{\"level\":\"5\"},\"analyzers\":[\"x\"]},"
    "{\"name\":\"st\",\"match\":{\"status\":\"5\"},\"analyzers\":[\"x\"]}]";
static const char *const T_COPY_ALL = "[{\"name\":\"tee\",\"copy\":true,\"analyzers\":[\"t\"]}]";

struct cls_case {
    const char *table;
    const char *rec;
    const char *primary;   /* NULL: -1 (refused) */
    const char *copies[3]; /* in order */
};

static const struct cls_case cls_cases[] = {
    {NULL, "{\"level\":\"ERROR\"}", "default", {NULL}},
    {T_ERRORS, "{\"level\":\"INFO\",\"source\":\"web\"}", "default", {NULL}},
    {T_ERRORS, "{\"level\":\"ERROR\",\"source\":\"web\"}", "default", {"alerts", NULL}},
    {T_ERRORS, "{\"level\":\"FATAL\",\"source\":\"checkout-1\"}", "checkout", {"alerts", NULL}},
    {T_ERRORS, "{\"level\":\"error\",\"source\":\"checkout-\"}", "checkout", {NULL}},
    {T_ERRORS, "{\"level\":\"INFO\",\"source\":\"checkout\"}", "default", {NULL}},
    {T_ERRORS, "{\"level\":\"INFO\",\"source\":\"xcheckout-1\"}", "default", {NULL}},
    /* first non-copy wins: checkout before eu */
    {T_ERRORS,
     "{\"level\":\"INFO\",\"source\":\"checkout-9\",\"metadata\":{\"region\":\"eu\"}}",
     "checkout",
     {NULL}},
    {T_ERRORS, "{\"level\":\"INFO\",\"metadata\":{\"region\":\"eu\"}}", "eu", {NULL}},
    {T_ERRORS, "{\"level\":\"WARN\",\"metadata\":{\"region\":\"eu\"}}", "default", {NULL}},
    {T_ERRORS, "{\"level\":\"INFO\",\"metadata\":{\"region\":\"us\"}}", "default", {NULL}},
    {T_ERRORS, "{\"level\":\"INFO\",\"metadata\":\"eu\",\"region\":\"eu\"}", "default", {NULL}},
    {T_ERRORS, "{\"level\":\"INFO\",\"metadata\":{\"region\":[\"eu\"]}}", "default", {NULL}},
    /* copies are evaluated after the primary is found, wherever they sit */
    {T_ERRORS,
     "{\"level\":\"ERROR\",\"metadata\":{\"region\":\"eu\"},\"type\":\"audit.login\"}",
     "default",
     {"alerts", "audit", NULL}},
    {T_ERRORS,
     "{\"level\":\"INFO\",\"metadata\":{\"region\":\"eu\"},\"type\":\"audit\"}",
     "eu",
     {"audit", NULL}},
    {T_ERRORS,
     "{\"level\":\"FATAL\",\"source\":\"checkout-a\",\"type\":\"audit-x\"}",
     "checkout",
     {"alerts", "audit", NULL}},
    /* numbers and booleans match by their literal text */
    {T_ERRORS, "{\"status\":503,\"ok\":false}", "codes", {NULL}},
    {T_ERRORS, "{\"status\":\"500\",\"ok\":\"false\"}", "codes", {NULL}},
    {T_ERRORS, "{\"status\":5030,\"ok\":false}", "default", {NULL}},
    {T_ERRORS, "{\"status\":503}", "default", {NULL}},
    {T_ERRORS, "{\"status\":503,\"ok\":null}", "default", {NULL}},
    /* escapes in values are compared unescaped */
    {T_ERRORS,
     "{\"level\":\"\\u0045RROR\",\"source\":\"checkout\\u002d2\"}",
     "checkout",
     {"alerts", NULL}},
    /* empty default: unmatched records have no primary */
    {T_EMPTY_DEFAULT, "{\"level\":\"INFO\"}", NULL, {NULL}},
    {T_EMPTY_DEFAULT, "{\"level\":\"ERROR\"}", "errors", {NULL}},
    {T_EMPTY_DEFAULT, "{\"level\":\"INFO\",\"source\":\"tap\"}", NULL, {"tap", NULL}},
    {T_EMPTY_DEFAULT, "{\"level\":\"ERROR\",\"source\":\"tap\"}", "errors", {"tap", NULL}},
    {T_EMPTY_DEFAULT, "{}", NULL, {NULL}},
    /* routes without a match */
    {T_NO_MATCH, "{\"level\":\"INFO\"}", "all", {NULL}},
    {T_NO_MATCH, "{}", "all", {NULL}},
    {T_COPY_ALL, "{\"level\":\"INFO\"}", "default", {"tee", NULL}},
    {T_DEFAULT_FIRST, "{\"level\":\"ERROR\"}", "late", {NULL}},
    {T_LEVEL_NUM, "{\"level\":\"5\"}", "five", {NULL}},
    {T_LEVEL_NUM, "{\"level\":5}", "default", {NULL}},
    {T_LEVEL_NUM, "{\"level\":5,\"status\":5}", "st", {NULL}},
    /* a repeated key: the last one wins (as the scanner reads it) */
    {T_ERRORS, "{\"level\":\"INFO\",\"level\":\"ERROR\"}", "default", {"alerts", NULL}},
    {T_ERRORS, "{\"level\":\"ERROR\",\"level\":\"INFO\"}", "default", {NULL}},
    {T_DEFAULT_FIRST, "{\"level\":\"INFO\"}", "default", {NULL}},
};

/* Check one classification against the case's expectation. */
static void check_hits(const struct cls_case *c, size_t i, const char *how, const routes_t *t,
                       const route_hits_t *h)
{
    const char *got = h->primary >= 0 ? routes_get(t, (size_t)h->primary)->name : NULL;
    if ((got == NULL) != (c->primary == NULL) || (got && strcmp(got, c->primary)))
        fail_msg("case %zu (%s, %s): primary %s, want %s", i, c->rec, how, got ? got : "(none)",
                 c->primary ? c->primary : "(none)");
    size_t want = 0;
    while (want < 3 && c->copies[want])
        want++;
    if (h->ncopies != want)
        fail_msg("case %zu (%s, %s): %u copies, want %zu", i, c->rec, how, h->ncopies, want);
    for (size_t k = 0; k < want; k++)
        if (strcmp(routes_get(t, h->copies[k])->name, c->copies[k]))
            fail_msg("case %zu (%s): copy %zu is %s, want %s", i, how, k,
                     routes_get(t, h->copies[k])->name, c->copies[k]);
}

/* Every case through routes_classify (one walk of the record) and through
 * routes_classify_scanned (level/source/type from the real scanner's slices, as
 * the router does): both give the expected routes. */
static void test_classify(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(cls_cases); i++) {
        const struct cls_case *c = &cls_cases[i];
        routes_t *t = NULL;
        char err[256] = "";
        int rc = c->table ? routes_parse(c->table, NULL, &t, err, sizeof err)
                          : routes_build(NULL, NULL, &t, err, sizeof err);
        if (rc) fail_msg("case %zu: table: %s", i, err);
        /* the record is a malloc'd copy of exactly its length (ASan sees overreads) */
        size_t len = strlen(c->rec);
        char *rec = malloc(len);
        memcpy(rec, c->rec, len);
        route_hits_t h;
        assert_int_equal(routes_classify(t, rec, len, &h), 0);
        check_hits(c, i, "walk", t, &h);
        scan_result_t res;
        memset(&res, 0, sizeof res);
        assert_int_equal(scan_body(rec, len, SCAN_FORMAT_NDJSON, NULL, &res), SCAN_OK);
        assert_int_equal(res.count, 1);
        memset(&h, 0xa5, sizeof h);
        assert_int_equal(routes_classify_scanned(t, rec, &res.records[0], &h), 0);
        check_hits(c, i, "scanned", t, &h);
        scan_result_free(&res);
        free(rec);
        routes_unref(t);
    }
}

/* A record that is not an object is -EINVAL. */
static void test_classify_invalid(void **state)
{
    (void)state;
    routes_t *t = NULL;
    assert_int_equal(routes_parse(T_ERRORS, NULL, &t, NULL, 0), 0);
    route_hits_t h;
    assert_int_equal(routes_classify(t, "[1]", 3, &h), -EINVAL);
    assert_int_equal(routes_classify(t, "{\"level\":", 9, &h), -EINVAL);
    routes_unref(t);
}

/* ---- JSON round trip --------------------------------------------------------------------- */

static const char *const rt_tables[] = {
    "[]",
    "[{\"name\":\"default\",\"analyzers\":{}}]",
    "[{\"name\":\"errors\",\"match\":{\"level\":[\"ERROR\",\"FATAL\"],\"source\":\"checkout-*\"},"
    "\"analyzers\":{\"alerts\":1},\"copy\":true},"
    "{\"name\":\"checkout\",\"match\":{\"metadata.region\":\"eu\"},\"analyzers\":{\"a\":1.5,\"b\":"
    "null},"
    "\"affinity_key\":\"metadata.trace_id\",\"balance_factor\":125},"
    "{\"name\":\"set\",\"match\":{\"type\":[\"x\",\"x\",\"y*\"]},\"analyzers\":[\"c\",\"d\"]},"
    "{\"name\":\"default\",\"affinity_key\":\"source\"}]",
    "[{\"name\":\"a\",\"analyzers\":[\"x\"]},{\"name\":\"b\",\"copy\":false,\"match\":{},"
    "\"analyzers\":{\"y\":3}}]",
};

static void test_round_trip(void **state)
{
    (void)state;
    routes_defaults_t def = {.affinity_key = "host", .balance_factor = 2.0};
    for (size_t i = 0; i < N(rt_tables); i++) {
        routes_t *t = NULL, *t2 = NULL, *t3 = NULL;
        char err[256] = "";
        if (routes_parse(rt_tables[i], &def, &t, err, sizeof err)) fail_msg("%zu: %s", i, err);
        json_t *full = routes_to_json(t), *user = routes_json_user(t);
        assert_int_equal(json_array_size(full), routes_count(t));
        /* the full form builds the same table */
        if (routes_build(full, &def, &t2, err, sizeof err)) fail_msg("%zu: full: %s", i, err);
        json_t *full2 = routes_to_json(t2);
        if (!json_equal(full, full2)) {
            char *a = json_dumps(full, JSON_SORT_KEYS), *b = json_dumps(full2, JSON_SORT_KEYS);
            fail_msg("%zu: %s != %s", i, a, b);
        }
        /* the user form too (the default appended again) */
        if (routes_build(user, &def, &t3, err, sizeof err)) fail_msg("%zu: user: %s", i, err);
        json_t *full3 = routes_to_json(t3);
        assert_true(json_equal(full, full3));
        bool implicit = routes_find(t, "default") >= 0 && !strstr(rt_tables[i], "\"default\"");
        assert_int_equal(json_array_size(user), routes_count(t) - (implicit ? 1 : 0));
        /* route_to_json of each is the element */
        for (size_t k = 0; k < routes_count(t); k++) {
            json_t *one = route_to_json(routes_get(t, k));
            assert_true(json_equal(one, json_array_get(full, k)));
            json_decref(one);
        }
        json_decref(full);
        json_decref(full2);
        json_decref(full3);
        json_decref(user);
        routes_unref(t);
        routes_unref(t2);
        routes_unref(t3);
    }
}

/* The exact JSON shape of one route (GET /api/v1/routes relies on it). */
static void test_route_json_shape(void **state)
{
    (void)state;
    routes_t *t = NULL;
    assert_int_equal(routes_parse("[{\"name\":\"e\",\"match\":{\"level\":[\"ERROR\"]},"
                                  "\"analyzers\":{\"a\":2,\"b\":null},\"copy\":true,"
                                  "\"affinity_key\":\"source\",\"balance_factor\":150}]",
                                  NULL, &t, NULL, 0),
                     0);
    json_t *j = route_to_json(routes_get(t, 0));
    json_t *want = json_loads("{\"name\":\"e\",\"match\":{\"level\":[\"ERROR\"]},"
                              "\"analyzers\":{\"a\":2.0,\"b\":null},\"copy\":true,"
                              "\"affinity_key\":\"source\",\"balance_factor\":150}",
                              0, NULL);
    if (!json_equal(j, want)) fail_msg("%s", json_dumps(j, JSON_SORT_KEYS));
    json_decref(j);
    json_decref(want);
    j = route_to_json(routes_get(t, 1)); /* the implicit default */
    want = json_loads("{\"name\":\"default\",\"copy\":false}", 0, NULL);
    if (!json_equal(j, want)) fail_msg("%s", json_dumps(j, JSON_SORT_KEYS));
    json_decref(j);
    json_decref(want);
    routes_unref(t);
}

/* ---- helpers ----------------------------------------------------------------------------- */

static void test_helpers(void **state)
{
    (void)state;
    routes_t *t = NULL;
    assert_int_equal(routes_parse(T_ERRORS, NULL, &t, NULL, 0), 0);
    assert_int_equal(routes_find(t, "alerts"), 0);
    assert_int_equal(routes_find(t, "codes"), 4);
    assert_int_equal(routes_find(t, "default"), 5);
    assert_int_equal(routes_find(t, "nope"), -1);
    assert_string_equal(routes_naming(t, "al"), "alerts");
    assert_string_equal(routes_naming(t, "x"), "codes");
    assert_null(routes_naming(t, "zz")); /* the implicit default names nobody */
    assert_false(routes_trivial(t));
    /* refcount: ref + two unrefs frees once (ASan/valgrind see a double free) */
    assert_ptr_equal(routes_ref(t), t);
    routes_unref(t);
    routes_unref(t);
    routes_unref(NULL);
}

static void test_affinity_key(void **state)
{
    (void)state;
    routes_t *t = NULL;
    routes_defaults_t def = {.affinity_key = "metadata.trace_id", .balance_factor = 0};
    assert_int_equal(routes_parse("[{\"name\":\"s\",\"match\":{\"level\":\"X\"},"
                                  "\"analyzers\":[\"a\"],\"affinity_key\":\"source\"}]",
                                  &def, &t, NULL, 0),
                     0);
    const route_t *s = routes_get(t, 0), *d = routes_get(t, 1);
    struct {
        const char *rec;
        int has_s, has_d;
        const char *s_key, *d_key;
    } cases[] = {
        {"{\"source\":\"web-1\",\"metadata\":{\"trace_id\":\"t9\"}}", 1, 1, "web-1", "t9"},
        {"{\"source\":\"a\\\"b\"}", 1, 0, "a\"b", NULL},
        {"{\"source\":\"\\u00e9\",\"metadata\":{\"trace_id\":42}}", 1, 1, "\xc3\xa9", "42"},
        {"{\"metadata\":{\"trace_id\":null}}", 0, 0, NULL, NULL},
        {"{\"source\":{\"x\":1},\"metadata\":{\"trace_id\":[1]}}", 0, 0, NULL, NULL},
        {"{\"trace_id\":\"t\"}", 0, 0, NULL, NULL},
    };
    for (size_t i = 0; i < N(cases); i++) {
        route_hits_t h;
        assert_int_equal(routes_classify(t, cases[i].rec, strlen(cases[i].rec), &h), 0);
        char buf[64];
        const char *k = NULL;
        size_t n = 0;
        int got = routes_affinity_key(s, &h, buf, sizeof buf, &k, &n);
        if (got != cases[i].has_s) fail_msg("case %zu: source %d", i, got);
        if (got) {
            assert_int_equal(n, strlen(cases[i].s_key));
            assert_memory_equal(k, cases[i].s_key, n);
        }
        got = routes_affinity_key(d, &h, buf, sizeof buf, &k, &n);
        if (got != cases[i].has_d) fail_msg("case %zu: trace_id %d", i, got);
        if (got) {
            assert_int_equal(n, strlen(cases[i].d_key));
            assert_memory_equal(k, cases[i].d_key, n);
        }
    }
    routes_unref(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_errors), cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_limits),       cmocka_unit_test(test_default_route),
        cmocka_unit_test(test_classify),     cmocka_unit_test(test_classify_invalid),
        cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_route_json_shape),
        cmocka_unit_test(test_helpers),      cmocka_unit_test(test_affinity_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
