/*
 * fuzz_deadletter.c - libFuzzer target for the on-disk dead-letter store
 * (src/store/deadletter.c) and the replay of what it holds: the bytes become
 * <dir>/deadletter.log, deadletter_open() loads it as logdistd does at start, every
 * stored body is read back (deadletter_read_all) and replayed through the real replay
 * parse (ingest_inject: scan with the replay limits, queue budget) as
 * POST /api/v1/deadletter/replay does.
 *
 * Input: byte 0 = flags, the rest = the file.
 *   bit 0     fix-up: the harness writes the magic "LDDLQ01\n" before the rest and
 *             recomputes every entry's CRC32C, so mutations reach the metadata JSON,
 *             tombstones and bodies instead of dying at the CRC;
 *   bit 1     after the checks: remove the oldest entry by its batch id, add a new entry,
 *             reopen; the log must say exactly that;
 *   bit 2     then purge everything and reopen: nothing is left;
 *   bits 3-4  max_bytes {1 MiB, 0, 100, 1 GiB}.
 *
 * Oracle (the format in deadletter.h, read here independently): entries from offset 8,
 * u32 len | u32 crc32c(payload) | payload = meta line "\n" body, while the length and
 * CRC hold and the meta line ends within DEADLETTER_META_MAX + 1 bytes. Invariants:
 *   1. the bodies read back are bodies of such entries, in file order (a subsequence);
 *      ids are 1..DEADLETTER_ID_MAX bytes;
 *   2. count, records and bytes agree between read_all, deadletter_records() and
 *      deadletter_to_json();
 *   3. a second open cuts nothing and reads back the same;
 *   4. each replayed body calls its completion exactly once, before ingest_inject
 *      returns (no durability here), and leaves the queue consistent (queue_check.h);
 *   5. flag bits 1-2: remove / add / purge do what they return, across a reopen;
 *   6. no "out of memory" from inputs this small (libFuzzer's -malloc_limit_mb in
 *      fuzz.mk catches a huge allocation first).
 *
 * Build: make fuzz-build (tests/fuzz/fuzz.mk); run: build-fuzz/fuzz_deadletter DIR.
 * Replayed by ctest over corpus/ and regressions/fuzz_deadletter.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "core/config.h"
#include "ingest/ingest.h"
#include "queue_check.h"
#include "store/crc32c.h"
#include "store/deadletter.h"
#include "store/queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAGIC "LDDLQ01\n"
#define MAGIC_LEN 8
#define EHDR 8
#define ADDED_ID "fuzz-added-entry"
#define ADDED_BODY "{\"packet_id\":\"" ADDED_ID "\",\"agent_id\":\"logdistd\",\"messages\":[{\"a\":1}]}"

static char g_dir[128], g_path[160];
static config_t g_cfg;

typedef struct {
    const uint8_t *body;
    size_t len;
} oentry_t;

typedef struct {
    oentry_t *v;
    size_t n, cap;
} oracle_t;

typedef struct {
    deadletter_body_t *b;
    long n;
} bodies_t;

static void fail(const char *msg)
{
    fprintf(stderr, "fuzz_deadletter: invariant violated: %s\n", msg);
    abort();
}

static void clear_dir(void)
{
    DIR *d = opendir(g_dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[400];
        snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
        unlink(p);
    }
    closedir(d);
}

static void remove_dir(void)
{
    clear_dir();
    rmdir(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    struct stat sb; /* tmpfs when there is one: every append is fdatasync'ed */
    const char *base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/logdist-fuzz-dl.%ld", base, (long)getpid());
    snprintf(g_path, sizeof g_path, "%s/deadletter.log", g_dir);
    mkdir(g_dir, 0700);
    atexit(remove_dir);
    log_set_level(getenv("FUZZ_VERBOSE") ? LOG_DEBUG : (log_level_t)(LOG_ERROR + 1));
    config_defaults(&g_cfg);
    g_cfg.durability = DURABILITY_NONE;
    return 0;
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Walk the file image as the format says; fix CRCs in place when asked. */
static void walk(uint8_t *img, size_t len, bool fix, oracle_t *o)
{
    if (len < MAGIC_LEN || memcmp(img, MAGIC, MAGIC_LEN)) return;
    size_t off = MAGIC_LEN;
    while (len - off >= EHDR) {
        uint32_t elen = rd32(img + off);
        if (elen > len - off - EHDR) break;
        uint8_t *p = img + off + EHDR;
        uint32_t crc = crc32c_update(0, p, elen);
        if (fix) memcpy(img + off + 4, &crc, 4);
        if (rd32(img + off + 4) != crc) break;
        size_t mwant = elen < DEADLETTER_META_MAX + 1 ? elen : DEADLETTER_META_MAX + 1;
        const uint8_t *nl = memchr(p, '\n', mwant);
        if (!nl) break;
        if (o) {
            if (o->n == o->cap) {
                o->cap = o->cap ? o->cap * 2 : 16;
                o->v = realloc(o->v, o->cap * sizeof *o->v);
                if (!o->v) abort();
            }
            o->v[o->n++] = (oentry_t){nl + 1, elen - (size_t)(nl + 1 - p)};
        }
        off += EHDR + elen;
    }
}

static off_t file_size(void)
{
    struct stat st;
    return stat(g_path, &st) ? -1 : st.st_size;
}

static deadletter_t *open_store(uint64_t max_bytes, bool must)
{
    char err[512] = "";
    deadletter_t *d = deadletter_open(g_dir, max_bytes, err, sizeof err);
    if (!d && (strstr(err, "memory") || strstr(err, "Cannot allocate"))) {
        fprintf(stderr, "deadletter_open: %s\n", err);
        fail("out of memory on a small input (a size or count from the file is trusted)");
    }
    if (!d && !err[0]) fail("deadletter_open failed without a message");
    if (!d && must) {
        fprintf(stderr, "deadletter_open: %s\n", err);
        fail("a log that opened once does not open again");
    }
    return d;
}

static bodies_t read_bodies(deadletter_t *d)
{
    bodies_t b = {NULL, deadletter_read_all(d, &b.b)};
    if (b.n == -ENOMEM) fail("read_all: out of memory on a small input");
    if (b.n < 0) fail("read_all failed on a log that just loaded");
    return b;
}

static bool same_body(const deadletter_body_t *x, const uint8_t *body, size_t len)
{
    return x->len == len && (!len || !memcmp(x->body, body, len));
}

/* Invariants 1 and 2. */
static void check_loaded(deadletter_t *d, const bodies_t *b, const oracle_t *o)
{
    size_t k = 0;
    uint64_t records = 0, bytes = 0;
    for (long i = 0; i < b->n; i++) {
        const deadletter_body_t *x = &b->b[i];
        size_t idl = strnlen(x->batch_id, sizeof x->batch_id);
        if (idl == 0 || idl > DEADLETTER_ID_MAX) fail("a body read back with a bad batch id");
        if (!x->body || x->body[x->len] != 0) fail("a body read back not NUL-terminated");
        while (k < o->n && !same_body(x, o->v[k].body, o->v[k].len)) k++;
        if (k == o->n) fail("a body read back is not the body of an entry, in file order");
        k++;
        records += x->records;
        bytes += x->len;
    }
    json_t *j = deadletter_to_json(d, 4);
    if (!j) fail("deadletter_to_json returned NULL");
    json_int_t jb = json_integer_value(json_object_get(j, "batches"));
    json_int_t jr = json_integer_value(json_object_get(j, "records"));
    json_int_t jy = json_integer_value(json_object_get(j, "bytes"));
    size_t sample = json_array_size(json_object_get(j, "sample"));
    json_decref(j);
    if (jb != b->n || (uint64_t)jr != records || (uint64_t)jy != bytes ||
        deadletter_records(d) != records || sample != (size_t)(b->n < 4 ? b->n : 4))
        fail("read_all, deadletter_records() and deadletter_to_json() disagree");
}

static bool same_bodies(const bodies_t *a, const bodies_t *b)
{
    if (a->n != b->n) return false;
    for (long i = 0; i < a->n; i++)
        if (strcmp(a->b[i].batch_id, b->b[i].batch_id) || a->b[i].records != b->b[i].records ||
            !same_body(&a->b[i], (const uint8_t *)b->b[i].body, b->b[i].len))
            return false;
    return true;
}

typedef struct {
    int calls, status;
    size_t records;
} done_t;

static void on_done(void *ctx, int status, size_t records)
{
    done_t *r = ctx;
    r->calls++;
    r->status = status;
    r->records = records;
}

/* Invariant 4: the replay parse of every body. */
static void replay(const bodies_t *b)
{
    pkt_queue_t *q = queue_new(1u << 30, NULL, NULL);
    ingest_t *ing = q ? ingest_new(&g_cfg, q, NULL, NULL) : NULL;
    if (!ing) fail("cannot set up ingest");
    for (long i = 0; i < b->n; i++) {
        done_t r = {0, 0, 0};
        ingest_inject(ing, b->b[i].body, b->b[i].len, on_done, &r);
        if (r.calls != 1) fail("a replayed body did not complete exactly once");
        if (r.status > 0) fail("a replay completion with a positive status");
    }
    ingest_free(ing);
    const char *why = queue_check_drain(q);
    if (why) fail(why);
    queue_free(q);
}

/* Invariant 5, flag bit 1: remove the oldest entry, add one, reopen. */
static void remove_add_reopen(deadletter_t **dp, bodies_t *cur, uint64_t max_bytes)
{
    deadletter_t *d = *dp;
    if (cur->n > 0) {
        int rc = deadletter_remove(d, cur->b[0].batch_id);
        if (rc == -ENOMEM) fail("remove: out of memory");
        if (rc && rc != -EIO) fail("remove of a listed id failed other than -EIO");
    }
    deadletter_item_t it = {.batch_id = ADDED_ID, .body = ADDED_BODY,
                            .len = sizeof ADDED_BODY - 1, .records = 1, .attempts = 3,
                            .reason = "fuzz", .last_analyzer = "a1", .durable = false};
    int add = deadletter_add(d, &it);
    if (add == -ENOMEM) fail("add: out of memory");
    bodies_t before = read_bodies(d);
    deadletter_free(d);
    *dp = d = open_store(max_bytes, true);
    bodies_t after = read_bodies(d);
    if (!same_bodies(&before, &after)) fail("after remove/add, a reopen reads back something else");
    if (!add && (after.n == 0 || strcmp(after.b[after.n - 1].batch_id, ADDED_ID) ||
                 !same_body(&after.b[after.n - 1], (const uint8_t *)ADDED_BODY,
                            sizeof ADDED_BODY - 1)))
        fail("an entry added with 0 is not the newest after a reopen");
    deadletter_bodies_free(before.b, (size_t)before.n);
    deadletter_bodies_free(cur->b, (size_t)cur->n);
    *cur = after;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint64_t max_bytes_of[4] = {1u << 20, 0, 100, 1u << 30};
    if (size < 1 || size > (1u << 20)) return 0;
    uint8_t flags = data[0];
    bool fix = flags & 1;
    uint64_t max_bytes = max_bytes_of[(flags >> 3) & 3];
    size_t len = size - 1 + (fix ? MAGIC_LEN : 0);
    uint8_t *img = malloc(len ? len : 1);
    if (!img) return 0;
    if (fix) memcpy(img, MAGIC, MAGIC_LEN);
    memcpy(img + (fix ? MAGIC_LEN : 0), data + 1, size - 1);
    if (fix) walk(img, len, true, NULL);
    oracle_t o = {NULL, 0, 0};
    walk(img, len, false, &o);

    clear_dir();
    FILE *f = fopen(g_path, "wb");
    if (!f || (len && fwrite(img, 1, len, f) != len) || fclose(f)) fail("cannot write the log");

    deadletter_t *d = open_store(max_bytes, false);
    if (d) {
        bodies_t b1 = read_bodies(d);
        check_loaded(d, &b1, &o);
        off_t size1 = file_size();
        deadletter_free(d);
        d = open_store(max_bytes, true);
        bodies_t b2 = read_bodies(d);
        if (file_size() != size1) fail("the second open cut what the first one kept");
        if (!same_bodies(&b1, &b2)) fail("the second open reads back something else");
        deadletter_bodies_free(b1.b, (size_t)b1.n);
        replay(&b2);
        if (flags & 2) remove_add_reopen(&d, &b2, max_bytes);
        if (flags & 4) {
            uint64_t purged = 0, want = deadletter_records(d);
            int rc = deadletter_purge(d, NULL, 0, &purged);
            if (!rc && purged != want) fail("purge removed another number of records");
            deadletter_free(d);
            d = open_store(max_bytes, true);
            if (!rc && deadletter_records(d) != 0) fail("records left after a purge and reopen");
        }
        deadletter_bodies_free(b2.b, (size_t)b2.n);
        deadletter_free(d);
    }
    free(o.v);
    free(img);
    return 0;
}
