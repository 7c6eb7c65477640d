/*
 * test_admin_body.c - table-driven tests of the admin API body parsers
 * (src/admin/admin_body.c): each row is a body, the parser it goes to, and the expected
 * return, HTTP status, error code and (for accepted bodies) what was parsed.
 * The same parsers are fuzzed by tests/fuzz/fuzz_admin_body.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "admin/admin_body.h"

enum { ADD, UPDATE, PURGE };

typedef struct {
    int kind;
    const char *body;
    int rc;           /* expected return */
    int status;       /* expected status when rc != 0 */
    const char *code; /* expected code when rc != 0 */
    const char *want; /* add: id|url|health_url|slow_start_ms (-1: none); update:
                         url|health_url|drained|slow_start_ms (-1: unchanged); purge: n */
    double weight;    /* add/update: expected weight when accepted (-1: no weight in update) */
} row_t;

static const row_t rows[] = {
    {ADD, "{\"id\":\"a3\",\"url\":\"http://127.0.0.1:9003/ingest\"}", 0, 0, NULL,
     "a3|http://127.0.0.1:9003/ingest|http://127.0.0.1:9003/health|-1", 1.0},
    {ADD, "{\"id\":\"a3\",\"url\":\"https://h:8443/i\",\"weight\":0.25,\"health_url\":\"http://h/hc\"}",
     0, 0, NULL, "a3|https://h:8443/i|http://h/hc|-1", 0.25},
    {ADD, "{\"id\":\"a3\"}", -EINVAL, 400, "bad_request", NULL, 0},
    {ADD, "{\"id\":\"a 3\",\"url\":\"http://h/\"}", -EINVAL, 400, "bad_request", NULL, 0},
    {ADD, "{\"id\":\"a3\",\"url\":\"ftp://h/\"}", -EINVAL, 400, "bad_request", NULL, 0},
    {ADD, "{\"id\":\"a3\",\"url\":\"http://u:p@h/\"}", -EINVAL, 400, "bad_request", NULL, 0},
    {ADD, "{\"id\":\"a3\",\"url\":\"http://h/\",\"weight\":-1}", -EINVAL, 400, "bad_weight", NULL, 0},
    {ADD, "{\"id\":\"a3\",\"url\":\"http://h/\",\"weight\":1e13}", -EINVAL, 400, "bad_weight", NULL, 0},
    {ADD, "{\"id\":\"a3\",\"url\":\"http://h/\",\"weight\":\"1\"}", -EINVAL, 400, "bad_weight", NULL, 0},
    {ADD, "{\"id\":\"a3\",\"url\":\"http://h/\",\"x\":1}", -EINVAL, 400, "bad_request", NULL, 0},
    {ADD, "{\"id\":\"a3\",\"id\":\"a4\",\"url\":\"http://h/\"}", -EINVAL, 400, "bad_json", NULL, 0},
    {ADD, "{\"id\":\"a\\u0000\",\"url\":\"http://h/\"}", -EINVAL, 400, "bad_json", NULL, 0},
    {ADD, "[1]", -EINVAL, 400, "bad_json", NULL, 0},
    {ADD, "", -EINVAL, 400, "bad_json", NULL, 0},
    {ADD, "{\"id\":7,\"url\":\"http://h/\"}", -EINVAL, 400, "bad_request", NULL, 0},
    /* slow_start_ms: an integer 0..3600000 */
    {ADD, "{\"id\":\"a3\",\"url\":\"http://h/\",\"slow_start_ms\":5000}", 0, 0, NULL,
     "a3|http://h/|http://h:80/health|5000", 1.0},
    {ADD, "{\"id\":\"a3\",\"url\":\"http://h/\",\"slow_start_ms\":0}", 0, 0, NULL,
     "a3|http://h/|http://h:80/health|0", 1.0},
    {ADD, "{\"id\":\"a3\",\"url\":\"http://h/\",\"slow_start_ms\":-1}", -EINVAL, 400, "bad_request", NULL, 0},
    {ADD, "{\"id\":\"a3\",\"url\":\"http://h/\",\"slow_start_ms\":3600001}", -EINVAL, 400, "bad_request", NULL, 0},
    {ADD, "{\"id\":\"a3\",\"url\":\"http://h/\",\"slow_start_ms\":\"5s\"}", -EINVAL, 400, "bad_request", NULL, 0},
    {ADD, "{\"id\":\"a3\",\"url\":\"http://h/\",\"slow_start_ms\":1.5}", -EINVAL, 400, "bad_request", NULL, 0},
    /* PUT */
    {UPDATE, "{\"slow_start_ms\":3600000}", 0, 0, NULL, "||-1|3600000", -1},
    {UPDATE, "{\"slow_start_ms\":null}", -EINVAL, 400, "bad_request", NULL, 0},
    {UPDATE, "{\"weight\":2}", 0, 0, NULL, "||-1|-1", 2.0},
    {UPDATE, "{\"id\":\"a1\",\"url\":\"http://h/i\"}", 0, 0, NULL, "http://h/i||-1|-1", -1},
    {UPDATE, "{}", 0, 0, NULL, "||-1|-1", -1},
    /* drained: a boolean, the weight untouched */
    {UPDATE, "{\"drained\":true}", 0, 0, NULL, "||1|-1", -1},
    {UPDATE, "{\"drained\":false}", 0, 0, NULL, "||0|-1", -1},
    {UPDATE, "{\"drained\":true,\"weight\":3}", 0, 0, NULL, "||1|-1", 3.0},
    {UPDATE, "{\"drained\":1}", -EINVAL, 400, "bad_request", NULL, 0},
    {UPDATE, "{\"drained\":\"true\"}", -EINVAL, 400, "bad_request", NULL, 0},
    {UPDATE, "{\"drained\":null}", -EINVAL, 400, "bad_request", NULL, 0},
    {UPDATE, "{\"drained\":true,\"drained\":false}", -EINVAL, 400, "bad_json", NULL, 0},
    {UPDATE, "{\"drain\":true}", -EINVAL, 400, "bad_request", NULL, 0},
    {UPDATE, "{\"id\":\"a2\"}", -EINVAL, 400, "bad_request", NULL, 0},
    {UPDATE, "{\"weight\":1e13}", -EINVAL, 400, "bad_weight", NULL, 0},
    /* were silently ignored (200 with nothing changed) before admin_body */
    {UPDATE, "{\"client_cert\":\"/c.pem\"}", -EINVAL, 400, "bad_request", NULL, 0},
    {UPDATE, "{\"url\":\"\"}", -EINVAL, 400, "bad_request", NULL, 0},
    /* DELETE /api/v1/deadletter */
    {PURGE, "{\"batch_ids\":[\"b-1\",\"b-2\"]}", 0, 0, NULL, "2", 0},
    {PURGE, "{\"batch_ids\":[]}", 0, 0, NULL, "0", 0}, /* purges nothing, not everything */
    {PURGE, "{\"batch_ids\":[\"\"]}", -EINVAL, 400, "bad_request", NULL, 0},
    {PURGE, "{\"batch_ids\":[1]}", -EINVAL, 400, "bad_request", NULL, 0},
    {PURGE, "{\"batch_ids\":[],\"x\":1}", -EINVAL, 400, "bad_request", NULL, 0},
    {PURGE, "{\"batch_ids\":\"b-1\"}", -EINVAL, 400, "bad_request", NULL, 0},
};

static void check_add(const row_t *r, int i)
{
    analyzer_spec_t s;
    admin_body_error_t e = {0, NULL, 0};
    char err[256] = "";
    int rc = admin_body_parse_add(r->body, strlen(r->body), &s, &e, err, sizeof err);
    if (rc != r->rc) fail_msg("row %d: rc %d, want %d (%s)", i, rc, r->rc, err);
    if (rc) return;
    char got[3 * (CONFIG_URL_MAX + 2)];
    snprintf(got, sizeof got, "%s|%s|%s|%lld", s.id, s.url, s.health_url,
             s.has_slow_start ? (long long)s.slow_start_ms : -1LL);
    if (strcmp(got, r->want) || s.weight != r->weight)
        fail_msg("row %d: parsed %s weight %g, want %s weight %g", i, got, s.weight, r->want,
                 r->weight);
}

static void check_update(const row_t *r, int i)
{
    admin_update_t u;
    admin_body_error_t e = {0, NULL, 0};
    char err[256] = "";
    int rc = admin_body_parse_update(r->body, strlen(r->body), "a1", &u, &e, err, sizeof err);
    if (rc != r->rc) fail_msg("row %d: rc %d, want %d (%s)", i, rc, r->rc, err);
    if (rc) return;
    char got[2 * (CONFIG_URL_MAX + 2) + 8];
    snprintf(got, sizeof got, "%s|%s|%d|%lld", u.url, u.health_url, u.drained,
             (long long)u.slow_start_ms);
    double w = u.has_weight ? u.weight : -1;
    if (strcmp(got, r->want) || w != r->weight)
        fail_msg("row %d: parsed %s weight %g, want %s weight %g", i, got, w, r->want, r->weight);
}

static void check_purge(const row_t *r, int i)
{
    char **ids = NULL;
    size_t n = 99;
    admin_body_error_t e = {0, NULL, 0};
    char err[256] = "";
    int rc = admin_body_parse_purge(r->body, strlen(r->body), &ids, &n, &e, err, sizeof err);
    if (rc != r->rc) fail_msg("row %d: rc %d, want %d (%s)", i, rc, r->rc, err);
    if (rc) return;
    if (!ids) fail_msg("row %d: NULL ids (would purge everything)", i);
    if (n != (size_t)atoi(r->want)) fail_msg("row %d: %zu ids, want %s", i, n, r->want);
    admin_body_free_ids(ids, n);
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const row_t *r = &rows[i];
        if (r->kind == ADD) check_add(r, (int)i);
        if (r->kind == UPDATE) check_update(r, (int)i);
        if (r->kind == PURGE) check_purge(r, (int)i);
        if (r->rc) { /* the refusal's status and code, through any parser */
            admin_body_error_t e = {0, NULL, 0};
            char err[256] = "";
            char **ids = NULL;
            size_t n = 0;
            analyzer_spec_t s;
            admin_update_t u;
            size_t len = strlen(r->body);
            int rc = r->kind == ADD      ? admin_body_parse_add(r->body, len, &s, &e, err, sizeof err)
                     : r->kind == UPDATE ? admin_body_parse_update(r->body, len, "a1", &u, &e, err,
                                                                   sizeof err)
                                         : admin_body_parse_purge(r->body, len, &ids, &n, &e, err,
                                                                  sizeof err);
            assert_int_equal(rc, r->rc);
            if (e.status != r->status || !e.code || strcmp(e.code, r->code) || !err[0])
                fail_msg("row %zu: %d %s (%s), want %d %s", i, e.status, e.code ? e.code : "-",
                         err, r->status, r->code);
        }
    }
}

/* Over ADMIN_BODY_MAX: 413 before any byte is read (NULL body is fine). */
static void test_too_large(void **state)
{
    (void)state;
    admin_body_error_t e = {0, NULL, 0};
    analyzer_spec_t s;
    assert_int_equal(admin_body_parse_add(NULL, ADMIN_BODY_MAX + 1, &s, &e, NULL, 0), -EMSGSIZE);
    assert_int_equal(e.status, 413);
    assert_string_equal(e.code, "body_too_large");
}

/* A JSON syntax error reports its byte offset. */
static void test_syntax_offset(void **state)
{
    (void)state;
    admin_body_error_t e = {0, NULL, 0};
    analyzer_spec_t s;
    const char *b = "{\"id\":\"a3\",,}";
    assert_int_equal(admin_body_parse_add(b, strlen(b), &s, &e, NULL, 0), -EINVAL);
    assert_string_equal(e.code, "bad_json");
    assert_true(e.offset >= 10 && e.offset <= (long long)strlen(b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_syntax_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
