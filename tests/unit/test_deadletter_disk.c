/*
 * test_deadletter_disk.c - cmocka tests for the on-disk mode of src/store/deadletter.c
 * (deadletter_open: <dir>/deadletter.log, "LDDLQ01\n" then u32 len | u32 crc32c |
 * JSON meta "\n" body): metadata restored on reopen (records, batches, bytes, sample
 * with reasons / analyzers / attempts / times); deadletter_read_all returns the exact
 * bodies, oldest first; deadletter_remove_first(k) keeps the rest on disk; purge;
 * torn or corrupt tails cut on open (file truncated, later adds work); unrecognised
 * files reset; the max_bytes bound (a batch that does not fit is dropped and counted in
 * g_metrics.records_deadletter_evicted).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/log.h"
#include "common/util.h"
#include "core/metrics.h"
#include "deliver/batch.h"
#include "store/crc32c.h"
#include "store/deadletter.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MAGIC_LEN 8
#define MB (1u << 20)

typedef struct {
    char dir[64];
    char log[128];
} fix_t;

static int setup(void **state)
{
    fix_t *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/ld-dlq-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->log, sizeof f->log, "%s/deadletter.log", f->dir);
    atomic_store(&g_metrics.records_deadlettered, 0);
    atomic_store(&g_metrics.records_deadletter_evicted, 0);
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

static deadletter_t *open_ok(const fix_t *f, uint64_t max_bytes)
{
    char err[512] = "";
    deadletter_t *d = deadletter_open(f->dir, max_bytes, err, sizeof err);
    if (!d) fail_msg("deadletter_open(%s): %s", f->dir, err);
    return d;
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

/* ---- the model: what was added -------------------------------------------------------- */

typedef struct {
    char id[BATCH_ID_LEN + 1];
    char *body;
    size_t len;
    uint32_t records, attempts;
    char analyzer[65];
    char reason[256];
} added_t;

typedef struct {
    added_t a[64];
    size_t n;
} model_t;

static void model_free(model_t *m)
{
    for (size_t i = 0; i < m->n; i++) free(m->a[i].body);
    m->n = 0;
}

static void model_drop_first(model_t *m, size_t k)
{
    if (k > m->n) k = m->n;
    for (size_t i = 0; i < k; i++) free(m->a[i].body);
    memmove(m->a, m->a + k, (m->n - k) * sizeof m->a[0]);
    m->n -= k;
}

static uint64_t model_records(const model_t *m)
{
    uint64_t r = 0;
    for (size_t i = 0; i < m->n; i++) r += m->a[i].records;
    return r;
}

static uint64_t model_bytes(const model_t *m)
{
    uint64_t r = 0;
    for (size_t i = 0; i < m->n; i++) r += m->a[i].len;
    return r;
}

/* A sealed batch of `records` records (each a small JSON object, some bigger, one
 * with a newline inside), tried `attempts` times, last at `analyzer`. */
static batch_t *make_batch(uint32_t records, size_t pad, uint32_t attempts, const char *analyzer)
{
    batch_t *b = batch_new(0);
    assert_non_null(b);
    char *rec = malloc(pad + 64);
    assert_non_null(rec);
    for (uint32_t i = 0; i < records; i++) {
        int n = snprintf(rec, 64, "{\"i\":%u,\"msg\":\"", i);
        memset(rec + n, 'a' + (char)(i % 26), pad);
        n += (int)pad;
        n += snprintf(rec + n, 64, i == 1 ? "\\n\n\"}" : "\"}");
        assert_int_equal(batch_append(b, rec, (size_t)n), 0);
    }
    free(rec);
    assert_int_equal(batch_seal(b), 0);
    b->attempts = attempts;
    strlcpy_ld(b->last_analyzer, analyzer, sizeof b->last_analyzer);
    return b;
}

/* Add a batch and record it in the model (expect: 0 = stored, -1 = dropped). */
static void add(deadletter_t *d, model_t *m, uint32_t records, size_t pad, const char *analyzer,
                const char *reason, int expect)
{
    batch_t *b = make_batch(records, pad, 3 + records % 4, analyzer);
    added_t a;
    memset(&a, 0, sizeof a);
    strlcpy_ld(a.id, b->id, sizeof a.id);
    a.len = b->len;
    a.body = malloc(b->len);
    assert_non_null(a.body);
    memcpy(a.body, b->buf, b->len);
    a.records = b->records;
    a.attempts = b->attempts;
    strlcpy_ld(a.analyzer, analyzer, sizeof a.analyzer);
    strlcpy_ld(a.reason, reason, sizeof a.reason);
    int rc = deadletter_add(d, b, reason); /* takes b */
    assert_int_equal(rc, expect);
    if (rc == 0) {
        assert_true(m->n < N(m->a));
        m->a[m->n++] = a;
    } else {
        free(a.body);
    }
}

static json_int_t jint(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) fail_msg("\"%s\" missing or not an integer", key);
    return json_integer_value(v);
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s) fail_msg("\"%s\" missing or not a string", key);
    return s;
}

/* Check d's summary and its full sample against the model; returns the JSON. */
static json_t *expect_meta(const deadletter_t *d, const model_t *m)
{
    json_t *o = deadletter_to_json(d, 1000);
    assert_non_null(o);
    assert_int_equal(jint(o, "records"), model_records(m));
    assert_int_equal(jint(o, "batches"), m->n);
    assert_int_equal(jint(o, "bytes"), model_bytes(m));
    assert_int_equal(deadletter_records(d), model_records(m));
    assert_true(json_is_true(json_object_get(o, "persistent")));
    json_t *arr = json_object_get(o, "sample");
    assert_int_equal(json_array_size(arr), m->n);
    for (size_t i = 0; i < m->n; i++) {
        json_t *s = json_array_get(arr, i);
        assert_string_equal(jstr(s, "batch_id"), m->a[i].id);
        assert_int_equal(jint(s, "records"), m->a[i].records);
        assert_int_equal(jint(s, "attempts"), m->a[i].attempts);
        assert_string_equal(jstr(s, "last_analyzer"), m->a[i].analyzer);
        const char *r = jstr(s, "reason");
        /* the store keeps a prefix of long reasons */
        if (strncmp(r, m->a[i].reason, strlen(r)) || (!r[0] && m->a[i].reason[0]))
            fail_msg("entry %zu: reason \"%s\", added with \"%s\"", i, r, m->a[i].reason);
        assert_true(jint(s, "at_ms") > 0);
    }
    if (m->n) assert_int_equal(jint(o, "oldest_ms"), jint(json_array_get(arr, 0), "at_ms"));
    return o;
}

static void expect_bodies(deadletter_t *d, const model_t *m)
{
    char **bodies = NULL;
    size_t *lens = NULL;
    long n = deadletter_read_all(d, &bodies, &lens);
    assert_int_equal(n, (long)m->n);
    for (long i = 0; i < n; i++) {
        assert_int_equal(lens[i], m->a[i].len);
        assert_memory_equal(bodies[i], m->a[i].body, m->a[i].len);
        assert_int_equal(bodies[i][lens[i]], 0);
        free(bodies[i]);
    }
    free(bodies);
    free(lens);
}

/* Reopen and check that metadata (same JSON sample, times included) and bodies survive. */
static deadletter_t *reopen_check(deadletter_t *d, const fix_t *f, uint64_t max_bytes,
                                  const model_t *m)
{
    json_t *before = expect_meta(d, m);
    deadletter_free(d);
    d = open_ok(f, max_bytes);
    json_t *after = expect_meta(d, m);
    assert_true(json_equal(json_object_get(before, "sample"), json_object_get(after, "sample")));
    json_decref(before);
    json_decref(after);
    expect_bodies(d, m);
    return d;
}

/* Offsets of the entries of deadletter.log (parsed independently). */
static size_t parse_log(const char *path, uint64_t *offs, size_t max, uint64_t *end)
{
    uint64_t sz = file_size(path);
    char *b = malloc(sz + 1);
    assert_non_null(b);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, b, sz), (ssize_t)sz);
    close(fd);
    assert_true(sz >= MAGIC_LEN);
    assert_memory_equal(b, "LDDLQ01\n", MAGIC_LEN);
    size_t n = 0;
    uint64_t off = MAGIC_LEN;
    while (off + 8 <= sz) {
        uint32_t len, crc;
        memcpy(&len, b + off, 4);
        memcpy(&crc, b + off + 4, 4);
        if (off + 8 + len > sz || crc32c_update(0, b + off + 8, len) != crc) break;
        if (n < max) offs[n] = off;
        n++;
        off += 8 + len;
    }
    free(b);
    *end = off;
    return n;
}

/* ------------------------------------------------------------------------------------- */

static void test_empty_open(void **state)
{
    fix_t *f = *state;
    model_t m = {0};
    deadletter_t *d = open_ok(f, MB);
    assert_int_equal(file_size(f->log), MAGIC_LEN);
    json_t *o = expect_meta(d, &m);
    assert_true(json_is_null(json_object_get(o, "oldest_ms")));
    json_decref(o);
    expect_bodies(d, &m);
    d = reopen_check(d, f, MB, &m);
    assert_int_equal(file_size(f->log), MAGIC_LEN);
    deadletter_free(d);
}

static void test_add_reopen(void **state)
{
    fix_t *f = *state;
    model_t m = {0};
    deadletter_t *d = open_ok(f, MB);
    static const struct {
        uint32_t records;
        size_t pad;
        const char *analyzer, *reason;
    } adds[] = {
        {1, 0, "a1", "5 attempts failed; last: HTTP 503"},
        {3, 10, "a2", "5 attempts failed; last: connect: Connection refused"},
        {50, 200, "an.alyzer_3-x", "reason with \"quotes\", \\backslash\\ and\ttab"},
        {2, 5000, "a1", ""},
        {7, 1, "a4", "x"},
    };
    for (size_t i = 0; i < N(adds); i++) {
        add(d, &m, adds[i].records, adds[i].pad, adds[i].analyzer, adds[i].reason, 0);
        json_decref(expect_meta(d, &m));
    }
    expect_bodies(d, &m);
    uint64_t end;
    uint64_t offs[16];
    assert_int_equal(parse_log(f->log, offs, N(offs), &end), N(adds));
    assert_int_equal(end, file_size(f->log));
    d = reopen_check(d, f, MB, &m);
    /* adding after a reopen appends */
    add(d, &m, 4, 30, "a9", "after reopen", 0);
    d = reopen_check(d, f, MB, &m);
    /* the sample holds the most recent ones, oldest first */
    json_t *o = deadletter_to_json(d, 2);
    json_t *arr = json_object_get(o, "sample");
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(jstr(json_array_get(arr, 0), "batch_id"), m.a[m.n - 2].id);
    assert_string_equal(jstr(json_array_get(arr, 1), "batch_id"), m.a[m.n - 1].id);
    assert_string_equal(jstr(json_array_get(arr, 1), "reason"), "after reopen");
    json_decref(o);
    deadletter_free(d);
    model_free(&m);
}

static void test_remove_first(void **state)
{
    fix_t *f = *state;
    static const size_t ks[] = {0, 1, 2, 5, 6, 100};
    for (size_t ci = 0; ci < N(ks); ci++) {
        unlink(f->log);
        model_t m = {0};
        deadletter_t *d = open_ok(f, MB);
        for (uint32_t i = 0; i < 6; i++) add(d, &m, 1 + i, 3 * i, "a1", "r", 0);
        assert_int_equal(deadletter_remove_first(d, ks[ci]), 0);
        model_drop_first(&m, ks[ci]);
        json_decref(expect_meta(d, &m));
        expect_bodies(d, &m);
        uint64_t end, offs[16];
        assert_int_equal(parse_log(f->log, offs, N(offs), &end), m.n);
        assert_int_equal(end, file_size(f->log));
        d = reopen_check(d, f, MB, &m);
        /* add after a removal, remove again */
        add(d, &m, 2, 2, "a2", "later", 0);
        d = reopen_check(d, f, MB, &m);
        assert_int_equal(deadletter_remove_first(d, 1), 0);
        model_drop_first(&m, 1);
        d = reopen_check(d, f, MB, &m);
        char tmp[200];
        snprintf(tmp, sizeof tmp, "%s.tmp", f->log);
        assert_int_not_equal(access(tmp, F_OK), 0);
        deadletter_free(d);
        model_free(&m);
    }
}

static void test_purge(void **state)
{
    fix_t *f = *state;
    model_t m = {0};
    deadletter_t *d = open_ok(f, MB);
    assert_int_equal(deadletter_purge(d), 0);
    add(d, &m, 3, 1, "a1", "r1", 0);
    add(d, &m, 4, 1, "a2", "r2", 0);
    assert_int_equal(deadletter_purge(d), 7);
    model_free(&m);
    assert_int_equal(file_size(f->log), MAGIC_LEN);
    json_decref(expect_meta(d, &m));
    d = reopen_check(d, f, MB, &m);
    add(d, &m, 5, 1, "a3", "after purge", 0);
    d = reopen_check(d, f, MB, &m);
    assert_int_equal(deadletter_purge(d), 5);
    model_free(&m);
    d = reopen_check(d, f, MB, &m);
    deadletter_free(d);
}

typedef enum { T_HDR, T_META, T_BODY, T_LAST_BYTE, T_GARBAGE, T_FLIP_BODY, T_FLIP_LEN,
               T_BAD_META } torn_t;

static void test_torn_tail(void **state)
{
    fix_t *f = *state;
    static const struct {
        const char *name;
        size_t k; /* entry damaged (0-based, of 5) */
        torn_t how;
    } cases[] = {
        {"last: in the header", 4, T_HDR},
        {"last: in the metadata", 4, T_META},
        {"last: in the body", 4, T_BODY},
        {"last: one byte short", 4, T_LAST_BYTE},
        {"garbage after the last", 5, T_GARBAGE},
        {"third: flipped body byte", 2, T_FLIP_BODY},
        {"first: length flipped", 0, T_FLIP_LEN},
        {"second: metadata not JSON (valid crc)", 1, T_BAD_META},
    };
    for (size_t ci = 0; ci < N(cases); ci++) {
        unlink(f->log);
        model_t m = {0};
        deadletter_t *d = open_ok(f, MB);
        for (uint32_t i = 0; i < 5; i++) add(d, &m, 2 + i, 40, "a1", "r", 0);
        deadletter_free(d);
        uint64_t offs[8], end;
        assert_int_equal(parse_log(f->log, offs, N(offs), &end), 5);
        offs[5] = end;
        size_t k = cases[ci].k;
        uint64_t good = offs[k];
        int fd = open(f->log, O_RDWR);
        assert_true(fd >= 0);
        switch (cases[ci].how) {
        case T_HDR: assert_int_equal(ftruncate(fd, (off_t)(offs[k] + 5)), 0); break;
        case T_META: assert_int_equal(ftruncate(fd, (off_t)(offs[k] + 8 + 20)), 0); break;
        case T_BODY: assert_int_equal(ftruncate(fd, (off_t)(offs[k + 1] - 30)), 0); break;
        case T_LAST_BYTE: assert_int_equal(ftruncate(fd, (off_t)(offs[k + 1] - 1)), 0); break;
        case T_GARBAGE:
            assert_int_equal(pwrite(fd, "\x10\0\0\0garbage!garbage!", 20, (off_t)end), 20);
            break;
        case T_FLIP_BODY:
        case T_FLIP_LEN: {
            uint64_t at = cases[ci].how == T_FLIP_LEN ? offs[k] : offs[k + 1] - 10;
            unsigned char c;
            assert_int_equal(pread(fd, &c, 1, (off_t)at), 1);
            c ^= 0x21;
            assert_int_equal(pwrite(fd, &c, 1, (off_t)at), 1);
            break;
        }
        case T_BAD_META: {
            /* replace the first byte of the metadata ('{') and fix the crc */
            uint32_t len;
            assert_int_equal(pread(fd, &len, 4, (off_t)offs[k]), 4);
            char *p = malloc(len);
            assert_non_null(p);
            assert_int_equal(pread(fd, p, len, (off_t)(offs[k] + 8)), (ssize_t)len);
            p[0] = 'X';
            uint32_t crc = crc32c_update(0, p, len);
            assert_int_equal(pwrite(fd, &crc, 4, (off_t)(offs[k] + 4)), 4);
            assert_int_equal(pwrite(fd, p, 1, (off_t)(offs[k] + 8)), 1);
            free(p);
            break;
        }
        }
        close(fd);
        for (size_t i = 5; i > k; i--) {
            free(m.a[i - 1].body);
            m.n--;
        }
        d = open_ok(f, MB);
        if (file_size(f->log) != good)
            fail_msg("case %s: file is %llu bytes after open, expected cut at %llu", cases[ci].name,
                     (unsigned long long)file_size(f->log), (unsigned long long)good);
        json_decref(expect_meta(d, &m));
        expect_bodies(d, &m);
        add(d, &m, 9, 9, "a7", "after the cut", 0);
        d = reopen_check(d, f, MB, &m);
        assert_int_equal(parse_log(f->log, offs, N(offs), &end), m.n);
        assert_int_equal(end, file_size(f->log));
        deadletter_free(d);
        model_free(&m);
    }
}

static void test_unrecognised_file_reset(void **state)
{
    fix_t *f = *state;
    static const char *const contents[] = {"", "LDDLQ", "LDDLQ02\nxxxxxxxxxxxxxxxx",
                                           "something else entirely\n"};
    for (size_t ci = 0; ci < N(contents); ci++) {
        FILE *fp = fopen(f->log, "w");
        assert_non_null(fp);
        fputs(contents[ci], fp);
        fclose(fp);
        model_t m = {0};
        deadletter_t *d = open_ok(f, MB);
        assert_int_equal(file_size(f->log), MAGIC_LEN);
        json_decref(expect_meta(d, &m));
        add(d, &m, 2, 2, "a1", "r", 0);
        d = reopen_check(d, f, MB, &m);
        deadletter_free(d);
        model_free(&m);
    }
}

static void test_max_bytes(void **state)
{
    fix_t *f = *state;
    model_t m = {0};
    /* the size of one body of make_batch(10, 100, ...) */
    batch_t *probe = make_batch(10, 100, 1, "x");
    const uint64_t one = probe->len;
    batch_free(probe);
    const uint64_t max = 2 * one + one / 2;

    deadletter_t *d = open_ok(f, max);
    add(d, &m, 10, 100, "a1", "r1", 0);
    add(d, &m, 10, 100, "a2", "r2", 0);
    uint64_t size = file_size(f->log);
    add(d, &m, 10, 100, "a3", "dropped", -1);
    assert_int_equal(METRIC_GET(records_deadletter_evicted), 10);
    assert_int_equal(METRIC_GET(records_deadlettered), 30);
    assert_int_equal(file_size(f->log), size); /* nothing written */
    add(d, &m, 1, 0, "a4", "small fits", 0);  /* a smaller one still fits */
    json_t *o = expect_meta(d, &m);
    assert_int_equal(jint(o, "evicted_records"), 10);
    assert_int_equal(jint(o, "max_bytes"), max);
    json_decref(o);

    /* the bound counts what was restored from disk */
    d = reopen_check(d, f, max, &m);
    add(d, &m, 10, 100, "a5", "dropped after reopen", -1);
    assert_int_equal(METRIC_GET(records_deadletter_evicted), 20);
    /* removing makes room */
    assert_int_equal(deadletter_remove_first(d, 1), 0);
    model_drop_first(&m, 1);
    add(d, &m, 10, 100, "a6", "fits again", 0);
    d = reopen_check(d, f, max, &m);
    /* exactly full is accepted, one byte more is not */
    assert_int_equal(deadletter_purge(d), model_records(&m));
    model_free(&m);
    deadletter_free(d);
    d = open_ok(f, 2 * one);
    add(d, &m, 10, 100, "a1", "r", 0);
    add(d, &m, 10, 100, "a1", "r", 0);
    add(d, &m, 1, 0, "a1", "r", -1);
    d = reopen_check(d, f, 2 * one, &m);
    deadletter_free(d);
    model_free(&m);
}

/* A long reason is kept as a prefix; cutting it must not lose it altogether, also when
 * the cut falls inside a multi-byte UTF-8 character (analyzer error texts can hold any). */
static void test_long_reason(void **state)
{
    fix_t *f = *state;
    static const struct {
        const char *name;
        size_t ascii; /* 'x' bytes before the multi-byte tail */
    } cases[] = {
        {"ascii only", 300},
        {"cut after a 2-byte char", 157},
        {"cut inside a 2-byte char", 158},
        {"cut inside a 3-byte char", 157},
    };
    int failed = 0;
    for (size_t ci = 0; ci < N(cases); ci++) {
        unlink(f->log);
        char reason[512];
        memset(reason, 'x', cases[ci].ascii);
        reason[cases[ci].ascii] = 0;
        strcat(reason, ci == 3 ? "\xe2\x82\xac tail" : "\xc3\xa9 tail"); /* euro sign / e-acute */
        model_t m = {0};
        deadletter_t *d = open_ok(f, MB);
        add(d, &m, 1, 1, "a1", reason, 0);
        char got[2][512];
        for (int pass = 0; pass < 2; pass++) { /* 0: as added, 1: after a reopen */
            if (pass) {
                deadletter_free(d);
                d = open_ok(f, MB);
            }
            json_t *o = deadletter_to_json(d, 10);
            json_t *s = json_array_get(json_object_get(o, "sample"), 0);
            const char *r = json_string_value(json_object_get(s, "reason"));
            snprintf(got[pass], sizeof got[pass], "%s", r ? r : "(missing)");
            json_decref(o);
        }
        deadletter_free(d);
        model_free(&m);
        for (int pass = 0; pass < 2; pass++) {
            const char *r = got[pass];
            if (!strcmp(r, "(missing)") || strlen(r) < 100 || strncmp(r, reason, strlen(r))) {
                print_error("case \"%s\": reason %s is \"%s\"\n", cases[ci].name,
                            pass ? "after reopen" : "in the summary", r);
                failed++;
            }
        }
    }
    if (failed) fail_msg("%d reason check(s) failed", failed);
}

static void test_open_failure(void **state)
{
    fix_t *f = *state;
    char dir[128], err[512] = "";
    snprintf(dir, sizeof dir, "%s/missing/sub", f->dir);
    assert_null(deadletter_open(dir, MB, err, sizeof err));
    assert_non_null(strstr(err, "missing/sub"));
}

int main(void)
{
    log_set_level((log_level_t)(LOG_ERROR + 1)); /* quiet: errors are provoked on purpose */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unrecognised_file_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_failure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
