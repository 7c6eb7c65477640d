/*
 * test_deadletter_disk.c - cmocka tests for the on-disk mode of src/store/deadletter.c
 * (<dir>/deadletter.log: "LDDLQ01\n" then u32 len | u32 crc32c | JSON meta "\n" body;
 * removals are tombstones {"removed":"<id>"}):
 *   - a round trip: metadata, bodies and the durable flag survive a reopen; so do
 *     removals by id, purges by id and evictions (tombstones), and a purge of all cuts
 *     the file to its header;
 *   - hostile files, table-driven with handcrafted bytes: torn or huge lengths, bad
 *     checksums, missing or oversized metadata, bad metadata fields, duplicate keys,
 *     tombstones, a foreign file: each gives the documented entries and file size, or
 *     a clear error that leaves the file alone; never a crash or a huge allocation;
 *   - a write failure (RLIMIT_FSIZE, SIGXFSZ ignored) returns -EIO and changes
 *     nothing, on disk or in memory; later adds work;
 *   - compaction: many removals shrink the file, and a reopen sees the same entries.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/log.h"
#include "common/util.h"
#include "core/metrics.h"
#include "store/crc32c.h"
#include "store/deadletter.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MAGIC "LDDLQ01\n"
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
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
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
            if (unlink(p)) rmdir(p);
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

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) ? -1 : (long)st.st_size;
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static char *read_whole(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char *p = malloc(1 << 20);
    assert_non_null(p);
    *len = fread(p, 1, 1 << 20, fp);
    fclose(fp);
    return p;
}

static int add(deadletter_t *d, const char *id, const char *body, uint32_t records, bool durable)
{
    deadletter_item_t it = {id, body, strlen(body), records, 3, "HTTP 503", "an1", durable};
    return deadletter_add(d, &it);
}

/* "id:records:durable,..." of what d holds, oldest first. */
static void listing(deadletter_t *d, char *out, size_t outlen)
{
    json_t *o = deadletter_to_json(d, SIZE_MAX);
    json_t *arr = json_object_get(o, "sample");
    out[0] = 0;
    for (size_t k = 0; k < json_array_size(arr); k++) {
        json_t *s = json_array_get(arr, k);
        size_t l = strlen(out);
        snprintf(out + l, outlen - l, "%s%s:%lld:%d", k ? "," : "",
                 json_string_value(json_object_get(s, "batch_id")),
                 (long long)json_integer_value(json_object_get(s, "records")),
                 json_is_true(json_object_get(s, "durable")));
    }
    json_decref(o);
}

/* ---- handcrafted entries ---- */

typedef struct {
    char p[8192];
    size_t len;
} img_t;

static void put(img_t *m, const void *src, size_t len)
{
    assert_true(m->len + len <= sizeof m->p);
    memcpy(m->p + m->len, src, len);
    m->len += len;
}

/* An entry with the given payload; crc_delta != 0 corrupts the checksum. */
static void put_entry(img_t *m, const char *payload, size_t plen, uint32_t crc_delta)
{
    uint32_t len = (uint32_t)plen, crc = crc32c_update(0, payload, plen) + crc_delta;
    put(m, &len, 4);
    put(m, &crc, 4);
    put(m, payload, plen);
}

static void put_meta(img_t *m, const char *meta, const char *body)
{
    char pl[4096];
    int n = snprintf(pl, sizeof pl, "%s\n%s", meta, body);
    put_entry(m, pl, (size_t)n, 0);
}

#define META(id) "{\"batch_id\":\"" id "\",\"analyzer\":\"a\",\"reason\":\"r\",\"records\":1,\"attempts\":2,\"at_ms\":5,\"durable\":false}"
#define BODY "{\"messages\":[{}]}"

/* ------------------------------------------------------------------------------------- */

static void test_round_trip(void **state)
{
    fix_t *f = *state;
    deadletter_t *d = open_ok(f, MB);
    assert_int_equal(file_size(f->log), MAGIC_LEN);
    const char *bodies[] = {"{\"messages\":[{\"a\":1}]}", "{\"messages\":[{},{}]}",
                            "{\"messages\":[{\"x\":\"\\u00e9\"},{},{}]}", BODY};
    const char *ids[] = {"b-1", "b-2", "b-3", "b-4"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(add(d, ids[i], bodies[i], (uint32_t)i + 1, i != 1), 0);
    char before[512], after[512];
    listing(d, before, sizeof before);
    assert_string_equal(before, "b-1:1:1,b-2:2:0,b-3:3:1,b-4:4:1");
    json_t *j1 = deadletter_to_json(d, 10);
    deadletter_free(d);

    d = open_ok(f, MB);
    listing(d, after, sizeof after);
    assert_string_equal(after, before);
    json_t *j2 = deadletter_to_json(d, 10);
    assert_true(json_equal(j1, j2)); /* reasons, analyzers, attempts, times, bytes */
    json_decref(j1);
    json_decref(j2);
    deadletter_body_t *b = NULL;
    assert_int_equal(deadletter_read_all(d, &b), 4);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(b[i].batch_id, ids[i]);
        assert_int_equal(b[i].len, strlen(bodies[i]));
        assert_string_equal(b[i].body, bodies[i]);
    }
    deadletter_bodies_free(b, 4);

    /* removals are durable: by id, purge by id */
    assert_int_equal(deadletter_remove(d, "b-2"), 0);
    assert_int_equal(deadletter_remove(d, "b-2"), -ENOENT);
    const char *named[] = {"b-4", "nope"};
    uint64_t purged = 0;
    assert_int_equal(deadletter_purge(d, named, 2, &purged), 0);
    assert_int_equal(purged, 4);
    deadletter_free(d);
    d = open_ok(f, MB);
    listing(d, after, sizeof after);
    assert_string_equal(after, "b-1:1:1,b-3:3:1");
    assert_int_equal(deadletter_read_all(d, &b), 2);
    assert_string_equal(b[1].body, bodies[2]);
    deadletter_bodies_free(b, 2);

    /* purge everything: the file is cut to its header */
    assert_int_equal(deadletter_purge(d, NULL, 0, &purged), 0);
    assert_int_equal(purged, 4);
    assert_int_equal(file_size(f->log), MAGIC_LEN);
    assert_int_equal(add(d, "b-5", BODY, 1, true), 0);
    deadletter_free(d);
    d = open_ok(f, MB);
    listing(d, after, sizeof after);
    assert_string_equal(after, "b-5:1:1");
    deadletter_free(d);
}

/* Evictions of non-durable entries are tombstoned too; durable ones are refused. */
static void test_eviction_persists(void **state)
{
    fix_t *f = *state;
    size_t L = strlen(BODY);
    deadletter_t *d = open_ok(f, 2 * L);
    assert_int_equal(add(d, "n1", BODY, 1, false), 0);
    assert_int_equal(add(d, "d1", BODY, 1, true), 0);
    assert_int_equal(add(d, "d2", BODY, 1, true), 0); /* evicts n1 */
    assert_int_equal(add(d, "d3", BODY, 1, true), -ENOSPC);
    assert_int_equal(add(d, "n2", BODY, 1, false), -ENOSPC);
    assert_int_equal(atomic_load(&g_metrics.records_deadletter_evicted), 1);
    long size = file_size(f->log);
    deadletter_free(d);
    d = open_ok(f, 2 * L);
    char got[256];
    listing(d, got, sizeof got);
    assert_string_equal(got, "d1:1:1,d2:1:1");
    assert_int_equal(file_size(f->log), size); /* refusals wrote nothing */
    deadletter_free(d);
}

/* Repeated batch ids: each removal takes the very entry it chose (tombstones carry
 * its offset), also across a reopen. */
static void test_repeated_ids(void **state)
{
    fix_t *f = *state;
    size_t L = strlen(BODY);
    deadletter_t *d = open_ok(f, 3 * L);
    assert_int_equal(add(d, "dup", BODY, 1, true), 0);
    assert_int_equal(add(d, "dup", BODY, 2, false), 0);
    assert_int_equal(add(d, "dup", BODY, 3, true), 0);
    assert_int_equal(add(d, "new", BODY, 4, true), 0); /* evicts the non-durable "dup" */
    char got[256];
    listing(d, got, sizeof got);
    assert_string_equal(got, "dup:1:1,dup:3:1,new:4:1");
    assert_int_equal(deadletter_remove(d, "dup"), 0); /* the oldest */
    deadletter_free(d);
    d = open_ok(f, 3 * L);
    listing(d, got, sizeof got);
    assert_string_equal(got, "dup:3:1,new:4:1");
    deadletter_free(d);
}

/* Hostile or damaged files. Entries: G = good entry, then the case's tail. */
static void test_hostile_files(void **state)
{
    fix_t *f = *state;
    enum { OK, FAIL };
    static const struct {
        const char *name;
        int kind;         /* 0: raw tail after MAGIC+G; 1: entry with this payload; 2: meta+body */
        const char *data; /* tail bytes / payload / meta */
        size_t dlen;      /* kind 0 only */
        uint32_t crc_delta;
        int expect;       /* OK or FAIL */
        const char *left; /* listing after open */
        bool cut;         /* the tail was cut back to MAGIC+G */
    } cases[] = {
        {"torn header", 0, "\x10\x00", 2, 0, OK, "g:1:0", true},
        {"length past the end", 0, "\x40\x00\x00\x00\x00\x00\x00\x00" "abc", 11, 0, OK, "g:1:0", true},
        {"huge length", 0, "\xff\xff\xff\xff\x00\x00\x00\x00", 8, 0, OK, "g:1:0", true},
        {"zero length", 0, "\x00\x00\x00\x00\x00\x00\x00\x00", 8, 0, OK, "g:1:0", true},
        {"bad checksum", 2, META("x"), 0, 1, OK, "g:1:0", true},
        {"no newline", 1, "{\"batch_id\":\"x\"}", 0, 0, OK, "g:1:0", true},
        {"meta not json", 2, "{nope", 0, 0, OK, "g:1:0", true},
        {"meta not an object", 2, "[1,2]", 0, 0, OK, "g:1:0", true},
        {"duplicate key", 2, "{\"batch_id\":\"x\",\"batch_id\":\"y\",\"records\":1,\"attempts\":1}",
         0, 0, OK, "g:1:0", true},
        {"no batch id", 2, "{\"records\":1,\"attempts\":1}", 0, 0, OK, "g:1:0", true},
        {"empty batch id", 2, "{\"batch_id\":\"\",\"records\":1,\"attempts\":1}", 0, 0, OK, "g:1:0", true},
        {"long batch id", 2, "{\"batch_id\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\",\"records\":1,\"attempts\":1}",
         0, 0, OK, "g:1:0", true},
        {"negative records", 2, "{\"batch_id\":\"x\",\"records\":-1,\"attempts\":1}", 0, 0, OK, "g:1:0", true},
        {"records > u32", 2, "{\"batch_id\":\"x\",\"records\":4294967296,\"attempts\":1}", 0, 0, OK, "g:1:0", true},
        {"records a string", 2, "{\"batch_id\":\"x\",\"records\":\"1\",\"attempts\":1}", 0, 0, OK, "g:1:0", true},
        {"durable not a bool", 2, "{\"batch_id\":\"x\",\"records\":1,\"attempts\":1,\"durable\":1}", 0, 0, OK, "g:1:0", true},
        {"tombstone id not a string", 2, "{\"removed\":7}", 0, 0, OK, "g:1:0", true},
        {"tombstone of an unknown id", 2, "{\"removed\":\"zz\"}", 0, 0, OK, "g:1:0", false},
        {"tombstone of g", 2, "{\"removed\":\"g\"}", 0, 0, OK, "", false},
        {"tombstone of g at its offset", 2, "{\"removed\":\"g\",\"off\":8}", 0, 0, OK, "", false},
        {"tombstone of g elsewhere", 2, "{\"removed\":\"g\",\"off\":9}", 0, 0, OK, "g:1:0", false},
        {"tombstone offset negative", 2, "{\"removed\":\"g\",\"off\":-8}", 0, 0, OK, "g:1:0", true},
        {"tombstone offset a string", 2, "{\"removed\":\"g\",\"off\":\"8\"}", 0, 0, OK, "g:1:0", true},
        {"older entry (no durable field)", 2, "{\"batch_id\":\"o\",\"records\":2,\"attempts\":1}", 0,
         0, OK, "g:1:0,o:2:1", false},
    };
    for (size_t c = 0; c < N(cases); c++) {
        img_t m = {{0}, 0};
        put(&m, MAGIC, MAGIC_LEN);
        put_meta(&m, META("g"), BODY);
        size_t good = m.len;
        if (cases[c].kind == 0)
            put(&m, cases[c].data, cases[c].dlen);
        else if (cases[c].kind == 1)
            put_entry(&m, cases[c].data, strlen(cases[c].data), cases[c].crc_delta);
        else {
            char pl[4096];
            int n = snprintf(pl, sizeof pl, "%s\n%s", cases[c].data, BODY);
            put_entry(&m, pl, (size_t)n, cases[c].crc_delta);
        }
        write_file(f->log, m.p, m.len);
        char err[512] = "";
        deadletter_t *d = deadletter_open(f->dir, MB, err, sizeof err);
        if (!d) fail_msg("case \"%s\": open failed: %s", cases[c].name, err);
        char got[256];
        listing(d, got, sizeof got);
        if (strcmp(got, cases[c].left))
            fail_msg("case \"%s\": holds %s, want %s", cases[c].name, got, cases[c].left);
        long want = cases[c].cut ? (long)good : (long)m.len;
        if (file_size(f->log) != want)
            fail_msg("case \"%s\": file %ld bytes, want %ld", cases[c].name, file_size(f->log), want);
        /* the store works after the repair, and what it wrote reads back */
        assert_int_equal(add(d, "after", BODY, 1, true), 0);
        deadletter_free(d);
        d = open_ok(f, MB);
        char again[256];
        listing(d, again, sizeof again);
        char want_l[300];
        snprintf(want_l, sizeof want_l, "%s%safter:1:1", got, got[0] ? "," : "");
        if (strcmp(again, want_l))
            fail_msg("case \"%s\": reopened %s, want %s", cases[c].name, again, want_l);
        deadletter_free(d);
    }
}

/* Files that are refused with a clear error and left alone, or start an empty log. */
static void test_headers(void **state)
{
    fix_t *f = *state;
    static const struct {
        const char *data;
        size_t len;
        bool ok;
        const char *err; /* substring of the error */
    } cases[] = {
        {"", 0, true, NULL},
        {"LDD", 3, true, NULL},         /* torn creation */
        {"LDDLQ01\n", 8, true, NULL},
        {"LDDLQ02\n\0\0\0\0", 12, false, "not a dead-letter log"},
        {"{\"some\":\"json\"}\n", 16, false, "not a dead-letter log"},
        {"X", 1, false, "not a dead-letter log"},
    };
    for (size_t c = 0; c < N(cases); c++) {
        write_file(f->log, cases[c].data, cases[c].len);
        char err[512] = "";
        deadletter_t *d = deadletter_open(f->dir, MB, err, sizeof err);
        if (cases[c].ok) {
            if (!d) fail_msg("case %zu: %s", c, err);
            assert_int_equal(deadletter_records(d), 0);
            assert_int_equal(file_size(f->log), MAGIC_LEN);
            deadletter_free(d);
            continue;
        }
        assert_null(d);
        if (!strstr(err, cases[c].err)) fail_msg("case %zu: error \"%s\"", c, err);
        size_t len;
        char *p = read_whole(f->log, &len); /* untouched */
        assert_int_equal(len, cases[c].len);
        assert_memory_equal(p, cases[c].data, len);
        free(p);
    }
    /* a directory where the log should be; a missing data dir */
    unlink(f->log);
    assert_int_equal(mkdir(f->log, 0755), 0);
    char err[512] = "";
    assert_null(deadletter_open(f->dir, MB, err, sizeof err));
    assert_non_null(strstr(err, "deadletter.log"));
    rmdir(f->log);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/missing/sub", f->dir);
    assert_null(deadletter_open(dir, MB, err, sizeof err));
    assert_non_null(strstr(err, "missing/sub"));
}

/* A sparse file whose only entry claims 64 MiB of zeros: cut without reading it into memory. */
static void test_huge_sparse_entry(void **state)
{
    fix_t *f = *state;
    img_t m = {{0}, 0};
    put(&m, MAGIC, MAGIC_LEN);
    uint32_t len = 64u << 20, crc = 0;
    put(&m, &len, 4);
    put(&m, &crc, 4);
    write_file(f->log, m.p, m.len);
    assert_int_equal(truncate(f->log, (off_t)(m.len + len)), 0);
    deadletter_t *d = open_ok(f, MB);
    assert_int_equal(deadletter_records(d), 0);
    assert_int_equal(file_size(f->log), MAGIC_LEN);
    deadletter_free(d);
}

/* A write that fails (file size limit) is -EIO and changes nothing; adds work again later. */
static void test_write_failure(void **state)
{
    fix_t *f = *state;
    deadletter_t *d = open_ok(f, MB);
    assert_int_equal(add(d, "b-1", BODY, 1, true), 0);
    long size = file_size(f->log);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = (rlim_t)size + 10; /* the header fits, the entry does not */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    atomic_store(&g_metrics.records_deadlettered, 0);
    int rc = add(d, "b-2", BODY, 2, true);
    int rc_nd = add(d, "b-3", BODY, 2, false);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(rc, -EIO);
    assert_int_equal(rc_nd, -EIO);
    assert_int_equal(file_size(f->log), size);
    assert_int_equal(atomic_load(&g_metrics.records_deadlettered), 0);
    char got[128];
    listing(d, got, sizeof got);
    assert_string_equal(got, "b-1:1:1");
    assert_int_equal(add(d, "b-4", BODY, 4, true), 0);
    deadletter_free(d);
    d = open_ok(f, MB);
    listing(d, got, sizeof got);
    assert_string_equal(got, "b-1:1:1,b-4:4:1");
    deadletter_free(d);
}

/* Many removals: tombstones are compacted away, the entries left read back. */
static void test_compaction(void **state)
{
    fix_t *f = *state;
    deadletter_t *d = open_ok(f, 64 * MB);
    char body[20000];
    memset(body, ' ', sizeof body - 1);
    memcpy(body, "{\"messages\":[{}]}", 17);
    body[sizeof body - 1] = 0;
    char id[32];
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof id, "c-%03d", i);
        assert_int_equal(add(d, id, body, 1, true), 0);
    }
    long full = file_size(f->log);
    for (int i = 0; i < 200; i++) {
        if (i % 10 == 3) continue;
        snprintf(id, sizeof id, "c-%03d", i);
        assert_int_equal(deadletter_remove(d, id), 0);
    }
    long after = file_size(f->log);
    assert_true(after < full / 2);
    char got[1024], again[1024];
    listing(d, got, sizeof got);
    deadletter_free(d);
    d = open_ok(f, 64 * MB);
    listing(d, again, sizeof again);
    assert_string_equal(again, got);
    assert_int_equal(deadletter_records(d), 20);
    deadletter_body_t *b = NULL;
    assert_int_equal(deadletter_read_all(d, &b), 20);
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "c-%03d", i * 10 + 3);
        assert_string_equal(b[i].batch_id, id);
        assert_string_equal(b[i].body, body);
    }
    deadletter_bodies_free(b, 20);
    deadletter_free(d);
}

int main(void)
{
    log_set_level((log_level_t)(LOG_ERROR + 1)); /* quiet: errors are provoked on purpose */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eviction_persists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeated_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_sparse_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
