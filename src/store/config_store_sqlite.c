/*
 * config_store_sqlite.c - the SQLite implementation of config_store.h.
 *
 * Versioned schema: PRAGMA user_version holds the version; migrations[i]
 * takes the database from version i to i+1 inside one transaction. Never drop
 * data in a migration: add columns/tables, copy, rename.
 *
 * The file is input like any other (it may be edited by hand, or come from
 * another version): load checks every column's type and length, and a row
 * it cannot use is skipped with a message naming its rowid and column -
 * never read as NULL.
 */
#include "store/config_store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/log.h"
#include "common/util.h"

typedef struct {
    config_store_t base;
    sqlite3 *db;
} sqlite_store_t;

static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE analyzers ("
    "  id TEXT PRIMARY KEY,"
    "  url TEXT NOT NULL,"
    "  health_url TEXT NOT NULL,"
    "  weight REAL NOT NULL CHECK (weight >= 0),"
    "  updated_ms INTEGER NOT NULL)",
    /* 1 -> 2: mutual TLS to analyzers */
    "ALTER TABLE analyzers ADD COLUMN client_cert TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE analyzers ADD COLUMN client_key TEXT NOT NULL DEFAULT ''",
    /* 2 -> 3: drained analyzers (PUT {"drained":true}); old rows are not drained */
    "ALTER TABLE analyzers ADD COLUMN drained INTEGER NOT NULL DEFAULT 0 "
    "CHECK (drained IN (0, 1))",
    /* 3 -> 4: per-analyzer slow start; -1 (old rows) = --slow-start-ms applies */
    "ALTER TABLE analyzers ADD COLUMN slow_start_ms INTEGER NOT NULL DEFAULT -1 "
    "CHECK (slow_start_ms >= -1)",
    /* 4 -> 5: the route table changed through the API (one row) */
    "CREATE TABLE routes ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  table_json TEXT NOT NULL,"
    "  base TEXT NOT NULL,"
    "  updated_ms INTEGER NOT NULL)",
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

int config_store_schema_version(void)
{
    return N_MIGRATIONS;
}

typedef struct {
    const char *name;
    int type;   /* SQLITE_TEXT, SQLITE_FLOAT (an INTEGER is fine there too) or
                   SQLITE_INTEGER (max 0: a flag, 0 or 1; else -1..max) */
    size_t max; /* text: longest accepted value; integer: see type */
} column_t;

static const column_t columns[] = {
    {"id", SQLITE_TEXT, CONFIG_ID_MAX},
    {"url", SQLITE_TEXT, CONFIG_URL_MAX},
    {"health_url", SQLITE_TEXT, CONFIG_URL_MAX},
    {"weight", SQLITE_FLOAT, 0},
    {"client_cert", SQLITE_TEXT, CONFIG_PATH_MAX},
    {"client_key", SQLITE_TEXT, CONFIG_PATH_MAX},
    {"drained", SQLITE_INTEGER, 0},
    {"slow_start_ms", SQLITE_INTEGER, CONFIG_SLOW_START_MAX_MS},
};
#define N_COLUMNS ((int)(sizeof columns / sizeof columns[0]))

static const char *type_name(int t)
{
    switch (t) {
    case SQLITE_NULL: return "NULL";
    case SQLITE_INTEGER: return "an integer";
    case SQLITE_FLOAT: return "a number";
    case SQLITE_BLOB: return "a blob";
    default: return "text";
    }
}

/* Check row columns 1..N_COLUMNS of st (column 0 is the rowid). 0, or -EINVAL
 * with "row R: column C is ..." in why. */
static int check_row(sqlite3_stmt *st, char *why, size_t whylen)
{
    long long rowid = sqlite3_column_int64(st, 0);
    for (int c = 0; c < N_COLUMNS; c++) {
        int t = sqlite3_column_type(st, c + 1);
        const column_t *col = &columns[c];
        bool ok = col->type == SQLITE_TEXT      ? t == SQLITE_TEXT
                  : col->type == SQLITE_INTEGER ? t == SQLITE_INTEGER
                                                : t == SQLITE_FLOAT || t == SQLITE_INTEGER;
        if (!ok) {
            snprintf(why, whylen, "row %lld: column %s is %s, expected %s", rowid, col->name,
                     type_name(t),
                     col->type == SQLITE_TEXT      ? "text"
                     : col->type == SQLITE_INTEGER ? "0 or 1"
                                                   : "a number");
            return -EINVAL;
        }
        long long iv = sqlite3_column_int64(st, c + 1);
        if (col->type == SQLITE_INTEGER && col->max && (iv < -1 || iv > (long long)col->max)) {
            snprintf(why, whylen, "row %lld: column %s is %lld, expected -1..%zu", rowid, col->name,
                     iv, col->max);
            return -EINVAL;
        }
        if (col->type == SQLITE_INTEGER && !col->max && (iv & ~1LL)) {
            snprintf(why, whylen, "row %lld: column %s is %lld, expected 0 or 1", rowid,
                     col->name, (long long)sqlite3_column_int64(st, c + 1));
            return -EINVAL;
        }
        if (col->type == SQLITE_TEXT && (size_t)sqlite3_column_bytes(st, c + 1) > col->max) {
            snprintf(why, whylen, "row %lld: column %s is longer than %zu bytes", rowid,
                     col->name, col->max);
            return -EINVAL;
        }
        if (col->type == SQLITE_TEXT &&
            strlen((const char *)sqlite3_column_text(st, c + 1)) !=
                (size_t)sqlite3_column_bytes(st, c + 1)) {
            snprintf(why, whylen, "row %lld: column %s holds a NUL byte", rowid, col->name);
            return -EINVAL;
        }
    }
    return 0;
}

static void row_to_spec(sqlite3_stmt *st, analyzer_spec_t *a)
{
    memset(a, 0, sizeof *a);
    strlcpy_ld(a->id, (const char *)sqlite3_column_text(st, 1), sizeof a->id);
    strlcpy_ld(a->url, (const char *)sqlite3_column_text(st, 2), sizeof a->url);
    strlcpy_ld(a->health_url, (const char *)sqlite3_column_text(st, 3), sizeof a->health_url);
    a->weight = sqlite3_column_double(st, 4);
    strlcpy_ld(a->client_cert, (const char *)sqlite3_column_text(st, 5), sizeof a->client_cert);
    strlcpy_ld(a->client_key, (const char *)sqlite3_column_text(st, 6), sizeof a->client_key);
    a->drained = sqlite3_column_int64(st, 7) != 0;
    long long ss = sqlite3_column_int64(st, 8);
    a->has_slow_start = ss >= 0;
    a->slow_start_ms = ss >= 0 ? (uint32_t)ss : 0;
}

static int sq_load(config_store_t *s, analyzer_spec_t **out, size_t *n, char *err, size_t errlen)
{
    sqlite_store_t *q = (sqlite_store_t *)s;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db,
                           "SELECT rowid, id, url, health_url, weight, client_cert, client_key, "
                           "drained, slow_start_ms FROM analyzers ORDER BY rowid",
                           -1, &st, NULL) != SQLITE_OK) {
        ld_set_err(err, errlen, "analyzers.db: %s", sqlite3_errmsg(q->db));
        return -EIO;
    }
    size_t cap = 0;
    bool reported = false;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char why[200];
        if (check_row(st, why, sizeof why)) {
            log_warn("config-store", "analyzers.db %s: row skipped", why);
            if (!reported) ld_set_err(err, errlen, "analyzers.db %s", why);
            reported = true;
            continue;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            analyzer_spec_t *a = realloc(*out, cap * sizeof *a);
            if (!a) {
                sqlite3_finalize(st);
                free(*out);
                *out = NULL;
                *n = 0;
                return -ENOMEM;
            }
            *out = a;
        }
        row_to_spec(st, &(*out)[(*n)++]);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) return 0;
    ld_set_err(err, errlen, "analyzers.db: %s", sqlite3_errmsg(q->db));
    free(*out);
    *out = NULL;
    *n = 0;
    return -EIO;
}

static int sq_put(config_store_t *s, const analyzer_spec_t *spec)
{
    sqlite_store_t *q = (sqlite_store_t *)s;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(
            q->db,
            "INSERT INTO analyzers (id, url, health_url, weight, updated_ms, client_cert, "
            "client_key, drained, slow_start_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
            "?9) ON CONFLICT(id) DO UPDATE SET url = ?2, health_url = ?3, "
            "weight = ?4, updated_ms = ?5, client_cert = ?6, client_key = ?7, "
            "drained = ?8, slow_start_ms = ?9",
            -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, spec->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, spec->url, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, spec->health_url, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 4, spec->weight);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)wall_ms());
    sqlite3_bind_text(st, 6, spec->client_cert, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, spec->client_key, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 8, spec->drained ? 1 : 0);
    sqlite3_bind_int64(st, 9, spec->has_slow_start ? (sqlite3_int64)spec->slow_start_ms : -1);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_error("config-store", "put %s: %s", spec->id, sqlite3_errmsg(q->db));
        return -EIO;
    }
    return 0;
}

static int sq_remove(config_store_t *s, const char *id)
{
    sqlite_store_t *q = (sqlite_store_t *)s;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db, "DELETE FROM analyzers WHERE id = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

static void sq_close(config_store_t *s)
{
    sqlite_store_t *q = (sqlite_store_t *)s;
    sqlite3_close(q->db);
    free(q);
}

static int sq_load_routes(config_store_t *s, char **table, char **base)
{
    sqlite_store_t *q = (sqlite_store_t *)s;
    sqlite3_stmt *st;
    *table = *base = NULL;
    if (sqlite3_prepare_v2(q->db, "SELECT table_json, base FROM routes WHERE id = 1", -1, &st,
                           NULL) != SQLITE_OK)
        return -EIO;
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        const char *b = (const char *)sqlite3_column_text(st, 1);
        if (t && b && (size_t)sqlite3_column_bytes(st, 0) <= CONFIG_ROUTES_MAX_BYTES) {
            *table = strdup(t);
            *base = strdup(b);
            if (!*table || !*base) ret = -ENOMEM;
        } else {
            log_warn("config-store", "routes: the stored table is unusable (NULL or over %u "
                     "bytes): ignored", CONFIG_ROUTES_MAX_BYTES);
        }
    } else if (rc != SQLITE_DONE) {
        ret = -EIO;
    }
    sqlite3_finalize(st);
    if (ret) {
        free(*table);
        free(*base);
        *table = *base = NULL;
    }
    return ret;
}

static int sq_put_routes(config_store_t *s, const char *table, const char *base)
{
    sqlite_store_t *q = (sqlite_store_t *)s;
    sqlite3_stmt *st;
    const char *sql = table ? "INSERT OR REPLACE INTO routes (id, table_json, base, updated_ms) "
                              "VALUES (1, ?1, ?2, ?3)"
                            : "DELETE FROM routes";
    if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK) return -EIO;
    if (table) {
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, base ? base : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)wall_ms());
    }
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_error("config-store", "routes: %s", sqlite3_errmsg(q->db));
        return -EIO;
    }
    return 0;
}

static const config_store_ops_t sqlite_ops = {sq_load,        sq_put,        sq_remove,
                                              sq_load_routes, sq_put_routes, sq_close};

static int user_version(sqlite3 *db)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    return v;
}

config_store_t *config_store_open_sqlite(const char *path, char *err, size_t errlen)
{
    sqlite_store_t *q = calloc(1, sizeof *q);
    if (!q) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    q->base.ops = &sqlite_ops;
    if (sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, q->db ? sqlite3_errmsg(q->db) : "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(q->db, 2000);
    sqlite3_exec(q->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", NULL, NULL, NULL);
    int v = user_version(q->db);
    if (v < 0) {
        snprintf(err, errlen, "%s: not a SQLite database (or unreadable)", path);
        goto fail;
    }
    if (v > N_MIGRATIONS) {
        snprintf(err, errlen, "%s: schema version %d is newer than this build (%d)", path, v,
                 N_MIGRATIONS);
        goto fail;
    }
    for (; v < N_MIGRATIONS; v++) {
        char sql[64];
        char *msg = NULL;
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
        if (sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(q->db, migrations[v], NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(q->db, sql, NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(q->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
            snprintf(err, errlen, "%s: migration to schema %d failed: %s", path, v + 1,
                     msg ? msg : "?");
            sqlite3_free(msg);
            sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
            goto fail;
        }
        log_info("config-store", "%s: schema migrated to version %d", path, v + 1);
    }
    return &q->base;
fail:
    sqlite3_close(q->db);
    free(q);
    return NULL;
}
