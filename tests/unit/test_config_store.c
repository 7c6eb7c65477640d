/*
 * test_config_store.c - cmocka tests for src/store/config_store_sqlite.c (analyzers
 * registered at runtime, kept in SQLite): open creates the schema (PRAGMA user_version
 * == config_store_schema_version()); put / load / remove round trip; put replaces by id
 * and keeps the load order (insertion order); reopen keeps the data; a database with a
 * newer user_version is refused; a version-0 database without the table is migrated
 * (and its other tables kept); a version-2 database gets the drained column (old rows
 * not drained) and the flag round-trips; constraint violations are reported; rows with a NULL,
 * a wrong type, an over-long value or a NUL byte are skipped with their row and column
 * named (table), never read as NULL.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/log.h"
#include "common/util.h"
#include "store/config_store.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
    char dir[64];
    char db[128];
} fix_t;

static int setup(void **state)
{
    fix_t *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/ld-cfgstore-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->db, sizeof f->db, "%s/analyzers.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fix_t *f = *state;
    DIR *d = opendir(f->dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", f->dir, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    int rc = rmdir(f->dir);
    free(f);
    return rc;
}

static config_store_t *open_ok(const char *path)
{
    char err[512] = "";
    config_store_t *s = config_store_open_sqlite(path, err, sizeof err);
    if (!s) fail_msg("open %s: %s", path, err);
    return s;
}

static analyzer_spec_t spec(const char *id, const char *url, const char *health, double weight)
{
    analyzer_spec_t a;
    memset(&a, 0, sizeof a);
    strlcpy_ld(a.id, id, sizeof a.id);
    strlcpy_ld(a.url, url, sizeof a.url);
    strlcpy_ld(a.health_url, health, sizeof a.health_url);
    a.weight = weight;
    return a;
}

static void expect_load(config_store_t *s, const analyzer_spec_t *want, size_t n)
{
    analyzer_spec_t *got = NULL;
    size_t gn = 99;
    assert_int_equal(config_store_load(s, &got, &gn), 0);
    assert_int_equal(gn, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(got[i].id, want[i].id);
        assert_string_equal(got[i].url, want[i].url);
        assert_string_equal(got[i].health_url, want[i].health_url);
        assert_true(got[i].weight == want[i].weight);
        assert_int_equal(got[i].drained, want[i].drained);
        assert_int_equal(got[i].has_slow_start, want[i].has_slow_start);
        assert_int_equal(got[i].slow_start_ms, want[i].slow_start_ms);
    }
    free(got);
}

/* Run `sql` with the sqlite3 API directly; returns the first column of the first row as
 * an int (or -1 when there is none). */
static int sql_int(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

/* ------------------------------------------------------------------------------------- */

static void test_open_creates_schema(void **state)
{
    fix_t *f = *state;
    assert_true(config_store_schema_version() >= 1);
    config_store_t *s = open_ok(f->db);
    expect_load(s, NULL, 0);
    config_store_close(s);
    assert_int_equal(sql_int(f->db, "PRAGMA user_version"), config_store_schema_version());
    assert_int_equal(
        sql_int(f->db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='analyzers'"),
        1);
    /* reopening an up-to-date database changes nothing */
    s = open_ok(f->db);
    config_store_close(s);
    assert_int_equal(sql_int(f->db, "PRAGMA user_version"), config_store_schema_version());
    config_store_close(NULL);
}

static void test_put_load_remove(void **state)
{
    fix_t *f = *state;
    static const struct {
        const char *id, *url, *health;
        double weight;
    } rows[] = {
        {"a1", "http://10.0.0.1:9000/ingest", "http://10.0.0.1:9000/health", 0.4},
        {"b.2", "https://an.example:443/x?y=1", "https://an.example:443/health", 1.0},
        {"c-3_x", "http://h:1/", "", 0.0},
        {"d4", "http://[::1]:8080/p", "http://[::1]:8080/health", 123456.789},
        {"ZZ", "http://z/", "http://z/h", 1e-9},
    };
    analyzer_spec_t want[N(rows)];
    config_store_t *s = open_ok(f->db);
    for (size_t i = 0; i < N(rows); i++) {
        want[i] = spec(rows[i].id, rows[i].url, rows[i].health, rows[i].weight);
        assert_int_equal(config_store_put(s, &want[i]), 0);
        expect_load(s, want, i + 1); /* insertion order */
    }
    /* remove the middle one, then an absent one */
    assert_int_equal(config_store_remove(s, "c-3_x"), 0);
    assert_int_equal(config_store_remove(s, "c-3_x"), 0);
    assert_int_equal(config_store_remove(s, "nope"), 0);
    analyzer_spec_t after[] = {want[0], want[1], want[3], want[4]};
    expect_load(s, after, N(after));
    config_store_close(s);

    /* reopen keeps the data */
    s = open_ok(f->db);
    expect_load(s, after, N(after));
    /* remove everything */
    for (size_t i = 0; i < N(after); i++) assert_int_equal(config_store_remove(s, after[i].id), 0);
    expect_load(s, NULL, 0);
    config_store_close(s);
    s = open_ok(f->db);
    expect_load(s, NULL, 0);
    config_store_close(s);
}

static void test_put_replaces_by_id(void **state)
{
    fix_t *f = *state;
    config_store_t *s = open_ok(f->db);
    analyzer_spec_t a[] = {
        spec("a1", "http://a/", "http://a/health", 1),
        spec("a2", "http://b/", "http://b/health", 2),
        spec("a3", "http://c/", "http://c/health", 3),
    };
    for (size_t i = 0; i < N(a); i++) assert_int_equal(config_store_put(s, &a[i]), 0);
    /* replace the first: same position, new values, no duplicate */
    a[0] = spec("a1", "https://a2.example/x", "https://a2.example/health", 0.25);
    assert_int_equal(config_store_put(s, &a[0]), 0);
    assert_int_equal(config_store_put(s, &a[0]), 0);
    expect_load(s, a, N(a));
    a[2].weight = 7.5;
    assert_int_equal(config_store_put(s, &a[2]), 0);
    expect_load(s, a, N(a));
    /* its own slow-start window: kept, 0 included, and cleared again */
    a[1].has_slow_start = true;
    a[1].slow_start_ms = 2500;
    a[2].has_slow_start = true;
    a[2].slow_start_ms = 0;
    assert_int_equal(config_store_put(s, &a[1]), 0);
    assert_int_equal(config_store_put(s, &a[2]), 0);
    expect_load(s, a, N(a));
    assert_int_equal(sql_int(f->db, "SELECT slow_start_ms FROM analyzers WHERE id = 'a1'"), -1);
    config_store_close(s);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM analyzers"), 3);
    s = open_ok(f->db);
    expect_load(s, a, N(a)); /* order stable across reopen */
    /* removed and put again: goes to the end */
    assert_int_equal(config_store_remove(s, "a1"), 0);
    assert_int_equal(config_store_put(s, &a[0]), 0);
    analyzer_spec_t b[] = {a[1], a[2], a[0]};
    expect_load(s, b, N(b));
    config_store_close(s);
}

static void test_long_values(void **state)
{
    fix_t *f = *state;
    analyzer_spec_t a;
    memset(&a, 0, sizeof a);
    memset(a.id, 'i', CONFIG_ID_MAX);
    strcpy(a.url, "http://h/");
    memset(a.url + 9, 'u', CONFIG_URL_MAX - 9);
    strcpy(a.health_url, "http://h/");
    memset(a.health_url + 9, 'h', CONFIG_URL_MAX - 9);
    a.weight = 0.5;
    config_store_t *s = open_ok(f->db);
    assert_int_equal(config_store_put(s, &a), 0);
    config_store_close(s);
    s = open_ok(f->db);
    expect_load(s, &a, 1);
    config_store_close(s);
}

static void test_constraint_violations(void **state)
{
    fix_t *f = *state;
    config_store_t *s = open_ok(f->db);
    analyzer_spec_t ok = spec("ok", "http://ok/", "http://ok/health", 1);
    assert_int_equal(config_store_put(s, &ok), 0);
    analyzer_spec_t neg = spec("neg", "http://n/", "http://n/health", -1);
    assert_true(config_store_put(s, &neg) < 0);
    analyzer_spec_t nan_w = spec("nan", "http://n/", "http://n/health", NAN);
    assert_true(config_store_put(s, &nan_w) < 0);
    /* a failed replace keeps the old row */
    analyzer_spec_t bad = spec("ok", "http://x/", "http://x/health", -5);
    assert_true(config_store_put(s, &bad) < 0);
    expect_load(s, &ok, 1);
    config_store_close(s);
}

static void test_newer_version_refused(void **state)
{
    fix_t *f = *state;
    config_store_t *s = open_ok(f->db);
    analyzer_spec_t a = spec("a1", "http://a/", "http://a/health", 1);
    assert_int_equal(config_store_put(s, &a), 0);
    config_store_close(s);
    static const int versions[] = {99, 2, 1000000};
    for (size_t i = 0; i < N(versions); i++) {
        int v = versions[i];
        if (v <= config_store_schema_version()) continue;
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
        sql_exec(f->db, sql);
        char err[512] = "";
        s = config_store_open_sqlite(f->db, err, sizeof err);
        assert_null(s);
        assert_true(err[0] != 0);
        char vs[16];
        snprintf(vs, sizeof vs, "%d", v);
        if (!strstr(err, vs) || !strstr(err, "newer"))
            fail_msg("message does not say the schema %d is newer: \"%s\"", v, err);
        /* nothing was changed */
        assert_int_equal(sql_int(f->db, "PRAGMA user_version"), v);
        assert_int_equal(sql_int(f->db, "SELECT count(*) FROM analyzers"), 1);
    }
    /* back to the current version: opens again */
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", config_store_schema_version());
    sql_exec(f->db, sql);
    s = open_ok(f->db);
    expect_load(s, &a, 1);
    config_store_close(s);
}

static void test_version0_migrated(void **state)
{
    fix_t *f = *state;
    /* an existing version-0 database without the table (another table in it) */
    sql_exec(f->db, "CREATE TABLE other (x INTEGER); INSERT INTO other VALUES (42);");
    assert_int_equal(sql_int(f->db, "PRAGMA user_version"), 0);
    config_store_t *s = open_ok(f->db);
    expect_load(s, NULL, 0);
    analyzer_spec_t a = spec("m1", "http://m/", "http://m/health", 2.5);
    assert_int_equal(config_store_put(s, &a), 0);
    config_store_close(s);
    assert_int_equal(sql_int(f->db, "PRAGMA user_version"), config_store_schema_version());
    assert_int_equal(sql_int(f->db, "SELECT x FROM other"), 42);
    s = open_ok(f->db);
    expect_load(s, &a, 1);
    config_store_close(s);

    /* an empty (0-byte) file is a version-0 database too */
    char p[160];
    snprintf(p, sizeof p, "%s/empty.db", f->dir);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fclose(fp);
    s = open_ok(p);
    expect_load(s, NULL, 0);
    config_store_close(s);
    assert_int_equal(sql_int(p, "PRAGMA user_version"), config_store_schema_version());
}

/* A version-2 database (before the drained column) written by an older build:
 * migrated in place, its rows load as not drained, and the flag then round-trips. */
static void test_version2_gets_drained(void **state)
{
    fix_t *f = *state;
    sql_exec(f->db, "CREATE TABLE analyzers (id TEXT PRIMARY KEY, url TEXT NOT NULL,"
                    " health_url TEXT NOT NULL, weight REAL NOT NULL CHECK (weight >= 0),"
                    " updated_ms INTEGER NOT NULL, client_cert TEXT NOT NULL DEFAULT '',"
                    " client_key TEXT NOT NULL DEFAULT '');"
                    "INSERT INTO analyzers VALUES ('old', 'http://o/', 'http://o/health', 3, 0,"
                    " '', '');"
                    "PRAGMA user_version = 2;");
    config_store_t *s = open_ok(f->db);
    assert_int_equal(sql_int(f->db, "PRAGMA user_version"), config_store_schema_version());
    analyzer_spec_t a = spec("old", "http://o/", "http://o/health", 3);
    expect_load(s, &a, 1);
    a.drained = true; /* drain keeps the weight */
    assert_int_equal(config_store_put(s, &a), 0);
    config_store_close(s);
    assert_int_equal(sql_int(f->db, "SELECT drained FROM analyzers WHERE id = 'old'"), 1);
    s = open_ok(f->db);
    expect_load(s, &a, 1);
    a.drained = false;
    assert_int_equal(config_store_put(s, &a), 0);
    expect_load(s, &a, 1);
    config_store_close(s);
}

static void test_open_failures(void **state)
{
    fix_t *f = *state;
    char err[512] = "";
    /* directory missing */
    char p[200];
    snprintf(p, sizeof p, "%s/no/such/dir/analyzers.db", f->dir);
    assert_null(config_store_open_sqlite(p, err, sizeof err));
    assert_non_null(strstr(err, p));
    /* not a database */
    snprintf(p, sizeof p, "%s/garbage.db", f->dir);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++) fputs("this is not an SQLite database\n", fp);
    fclose(fp);
    err[0] = 0;
    assert_null(config_store_open_sqlite(p, err, sizeof err));
    assert_true(err[0] != 0);
}


/* A row the store cannot use (hand-edited file, another version's schema
 * without NOT NULL) is skipped with a message naming its row and column,
 * never read as NULL; the good rows around it load. */
static void test_bad_rows(void **state)
{
    fix_t *f = *state;
    static const struct {
        const char *values; /* id, url, health_url, weight, updated_ms, client_cert, client_key,
                               drained */
        const char *why;
        const char *ss; /* ", slow_start_ms" (NULL: ", -1") */
    } cases[] = {
        {"'b', 'http://b/', 'http://b/health', 1, 0, '', '', 0",
         "column slow_start_ms is -5, expected -1..3600000", ", -5"},
        {"'b', 'http://b/', 'http://b/health', 1, 0, '', '', 0",
         "column slow_start_ms is 3600001, expected -1..3600000", ", 3600001"},
        {"'b', 'http://b/', 'http://b/health', 1, 0, '', '', 0", "column slow_start_ms is text",
         ", '1s'"},
        {"NULL, 'http://b/', 'http://b/health', 1, 0, '', '', 0", "column id is NULL", NULL},
        {"'b', NULL, 'http://b/health', 1, 0, '', '', 0", "column url is NULL", NULL},
        {"'b', 'http://b/', NULL, 1, 0, '', '', 0", "column health_url is NULL", NULL},
        {"'b', 'http://b/', 'http://b/health', NULL, 0, '', '', 0", "column weight is NULL", NULL},
        {"'b', 'http://b/', 'http://b/health', 1, 0, NULL, '', 0", "column client_cert is NULL",
         NULL},
        {"'b', 'http://b/', 'http://b/health', 1, 0, '', NULL, 0", "column client_key is NULL",
         NULL},
        {"'b', 'http://b/', 'http://b/health', 'heavy', 0, '', '', 0", "column weight is text",
         NULL},
        {"42, 'http://b/', 'http://b/health', 1, 0, '', '', 0", "column id is an integer", NULL},
        {"X'00', 'http://b/', 'http://b/health', 1, 0, '', '', 0", "column id is a blob", NULL},
        {"'b', 2.5, 'http://b/health', 1, 0, '', '', 0", "column url is a number", NULL},
        {"substr(hex(zeroblob(40)), 1, 65), 'http://b/', 'http://b/health', 1, 0, '', '', 0",
         "column id is longer than 64 bytes", NULL},
        {"'b', 'http://b/' || char(0) || 'x', 'http://b/health', 1, 0, '', '', 0",
         "column url holds a NUL byte", NULL},
        {"'b', 'http://b/', 'http://b/health', 1, 0, '', '', 'yes'", "column drained is text",
         NULL},
        {"'b', 'http://b/', 'http://b/health', 1, 0, '', '', 2", "column drained is 2", NULL},
        {"'b', 'http://b/', 'http://b/health', 1, 0, '', '', 0.5", "column drained is a number",
         NULL},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char db[200], sql[1024];
        snprintf(db, sizeof db, "%s/bad%zu.db", f->dir, i);
        snprintf(sql, sizeof sql,
                 "CREATE TABLE analyzers (id, url, health_url, weight, updated_ms, client_cert, "
                 "client_key, drained, slow_start_ms DEFAULT -1);"
                 "INSERT INTO analyzers VALUES ('a', 'http://a/', 'http://a/health', 1, 0, '', '', "
                 "0, -1);"
                 "INSERT INTO analyzers VALUES (%s%s);"
                 "INSERT INTO analyzers VALUES ('c', 'http://c/', 'http://c/health', 0.5, 0, '', "
                 "'', 1, 2000);"
                 "PRAGMA user_version = %d;",
                 cases[i].values, cases[i].ss ? cases[i].ss : ", -1",
                 config_store_schema_version());
        sql_exec(db, sql);
        config_store_t *s = open_ok(db);
        analyzer_spec_t *got = NULL;
        size_t n = 0;
        char err[300] = "";
        assert_int_equal(s->ops->load(s, &got, &n, err, sizeof err), 0);
        if (!strstr(err, "row 2") || !strstr(err, cases[i].why))
            fail_msg("case %zu: message '%s', want row 2 and '%s'", i, err, cases[i].why);
        assert_int_equal(n, 2);
        assert_string_equal(got[0].id, "a");
        assert_string_equal(got[1].id, "c");
        assert_true(got[1].weight == 0.5);
        assert_false(got[0].drained);
        assert_true(got[1].drained);
        assert_false(got[0].has_slow_start); /* -1: --slow-start-ms applies */
        assert_true(got[1].has_slow_start);
        assert_int_equal(got[1].slow_start_ms, 2000);
        free(got);
        /* the plain call loads the same; the file is left as it was */
        got = NULL;
        assert_int_equal(config_store_load(s, &got, &n), 0);
        assert_int_equal(n, 2);
        free(got);
        config_store_close(s);
        assert_int_equal(sql_int(db, "SELECT count(*) FROM analyzers"), 3);
    }
}

int main(void)
{
    log_set_level((log_level_t)(LOG_ERROR + 1)); /* quiet: constraint errors are provoked */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_load_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_replaces_by_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_constraint_violations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_version_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version0_migrated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version2_gets_drained, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_rows, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
