/*
 * test_durable.c - cmocka tests for src/store/durable.c (the durability writer
 * and syncer threads over the WAL), with a real temp dir, a libevent base for
 * the completions and the fault-injecting io table of wal_fault.h:
 *   - one round of several packets under an injected fault (ENOSPC / EIO on a
 *     write in the middle of the round, EIO / ENOSPC on the syncer's fdatasync,
 *     EIO on the fdatasync of a segment the round rolled away from, short
 *     writes): every packet of the round gets the fault's status (-ENOSPC vs
 *     -EIO, which ingest maps to disk_full / disk_error), none gets 0;
 *   - after the fault clears, the next round succeeds, and after an fsync
 *     failure it is written to a new segment (fsync-gate);
 *   - after durable_free and a reopen, the WAL replays exactly the records of
 *     the packets that got status 0: nothing refused, nothing acknowledged missing;
 *   - WAL replay limits: a record at the ingest depth limit is replayed (one
 *     level is added by the replay framing); a record that does not parse is
 *     quarantined and counted, and never holds back its neighbours;
 *   - durable_free with jobs never run or still in flight: no leak, no hang.
 */
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
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

#include "common/log.h"
#include "core/metrics.h"
#include "record/packet.h"
#include "store/durable.h"
#include "store/queue.h"
#include "store/wal.h"
#include "wal_fault.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void make_tmpdir(char *dir, size_t n)
{
    snprintf(dir, n, "/tmp/ld-durable-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char p[512];
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(dir);
}

/* ---- packets ------------------------------------------------------------------------ */

/* A packet of `n` durable records of `len` bytes each ("{"t":"<tag>-<i>","p":"xxx..."}"). */
static packet_t *make_packet(unsigned tag, size_t n, size_t len)
{
    packet_t *p = calloc(1, sizeof *p);
    assert_non_null(p);
    char *body = malloc(n * len + 1);
    assert_non_null(body);
    p->records = calloc(n, sizeof *p->records);
    p->seqs = calloc(n, sizeof *p->seqs);
    assert_true(p->records && p->seqs);
    for (size_t i = 0; i < n; i++) {
        char *r = body + i * len;
        int h = snprintf(r, len, "{\"t\":\"%u-%zu\",\"p\":\"", tag, i);
        assert_true(h > 0 && (size_t)h + 2 < len);
        memset(r + h, 'x', len - (size_t)h - 2);
        memcpy(r + len - 2, "\"}", 2);
        p->records[i].rec.off = i * len;
        p->records[i].rec.len = len;
        p->seqs[i] = 1; /* durable */
        p->record_bytes += len;
    }
    p->decoded = body;
    p->data = body;
    p->len = n * len;
    p->count = n;
    return p;
}

typedef struct {
    int status;
    bool done;
    uint64_t *seqs; /* copy, status 0 only */
    size_t n;
} outcome_t;

static void on_done(void *ctx, packet_t *p, int status)
{
    outcome_t *o = ctx;
    o->status = status;
    o->done = true;
    if (!status) {
        o->n = p->count;
        o->seqs = malloc(p->count * sizeof *o->seqs);
        assert_non_null(o->seqs);
        memcpy(o->seqs, p->seqs, p->count * sizeof *o->seqs);
    }
    packet_free(p);
}

/* Run the completions until every outcome of o[0..n) is done (bounded). */
static void wait_done(durable_t *d, struct event_base *base, outcome_t *o, size_t n)
{
    for (int round = 0; round < 1000; round++) {
        durable_wait_idle(d);
        event_base_loop(base, EVLOOP_NONBLOCK);
        size_t k = 0;
        while (k < n && o[k].done)
            k++;
        if (k == n) {
            durable_wait_idle(d); /* the acks of refused packets, posted back to the writer */
            return;
        }
        usleep(1000);
    }
    fail_msg("completions did not arrive");
}

/* ---- the seqs a reopened WAL replays --------------------------------------------------- */

typedef struct {
    uint64_t *v;
    size_t n, cap;
} seqset_t;

static int collect_seq(void *ctx, uint64_t seq, const char *rec, size_t len)
{
    (void)rec;
    (void)len;
    seqset_t *s = ctx;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) return -ENOMEM;
    }
    s->v[s->n++] = seq;
    return 0;
}

static void replayed_seqs(const char *dir, seqset_t *out)
{
    wal_options_t o = {dir, 0, 0, NULL};
    wal_t *w = NULL;
    assert_int_equal(wal_open(&o, &w, NULL), 0);
    assert_int_equal(wal_replay(w, collect_seq, out), 0);
    wal_close(w);
}

/* Does segment file `number` hold a RECORD entry with this seq? (the fsync-gate
 * check: nothing written after an fsync failure goes to the failed file). Reads the
 * documented format: 24-byte header, entries u32 len | u32 crc | u8 type | payload. */
static bool segment_has_seq(const char *dir, uint64_t number, uint64_t seq)
{
    char p[512];
    snprintf(p, sizeof p, "%s/wal-%016llx.log", dir, (unsigned long long)number);
    FILE *f = fopen(p, "rb");
    if (!f) return false;
    bool found = false;
    unsigned char h[17];
    if (fseek(f, 24, SEEK_SET) == 0)
        while (!found && fread(h, 1, 17, f) == 17) {
            uint32_t len;
            uint64_t q;
            memcpy(&len, h, 4);
            memcpy(&q, h + 9, 8);
            found = h[8] == 1 && q == seq;
            if (len < 8 || fseek(f, (long)len - 8, SEEK_CUR)) break;
        }
    fclose(f);
    return found;
}

/* ---- one round under a fault ------------------------------------------------------------ */

typedef struct {
    const char *name;
    fault_t fault;
    uint64_t seg_bytes;
    size_t before, before_len; /* one-record packets acknowledged before the faulty round */
    size_t packets, len;       /* one-record packets of the faulty round */
    int want;                  /* status every packet of the round gets (positive errno) */
    bool gate;                 /* segment 2 failed an fsync: nothing later goes there */
    /* the round is written from segment 2 on (the log is reopened after `before`) */
} durable_case_t;

/* clang-format off */
static const durable_case_t durable_cases[] = {
    {"ENOSPC on a write in the middle of the round",
     {FAULT_WRITE, ENOSPC, .after_bytes = 100, .times = 1}, 0, 2, 500, 8, 200000, ENOSPC, false},
    {"EIO on a write in the middle of the round",
     {FAULT_WRITE, EIO, .after_bytes = 5000, .times = 1}, 0, 2, 500, 8, 200000, EIO, false},
    {"ENOSPC on the round's only write", {FAULT_WRITE, ENOSPC, .after_bytes = 10, .times = 1},
     0, 2, 500, 5, 1000, ENOSPC, false},
    /* skip 1: segment 2's header is synced when it is started; then the syncer's fails */
    {"EIO on the syncer's fdatasync",
     {FAULT_FDATASYNC, EIO, .skip = 1, .times = 1, .path_suffix = "wal-0000000000000002.log"},
     0, 2, 500, 5, 1000, EIO, true},
    {"ENOSPC on the syncer's fdatasync",
     {FAULT_FDATASYNC, ENOSPC, .skip = 1, .times = 1, .path_suffix = "wal-0000000000000002.log"},
     0, 2, 500, 5, 1000, ENOSPC, true},
    /* 64 KiB segments: the round (100 KB) rolls from segment 2 to 3, and segment 2,
     * holding its first packets, fails to sync (skip 1: its header's sync passes) */
    {"EIO on the fdatasync of the segment rolled away from",
     {FAULT_FDATASYNC, EIO, .skip = 1, .times = 1, .path_suffix = "wal-0000000000000002.log"},
     65536, 2, 1000, 100, 1000, EIO, false},
    /* the round rolls, and the new segment's header cannot be synced */
    {"EIO on the fdatasync of a new segment at roll",
     {FAULT_FDATASYNC, EIO, .times = 1, .path_suffix = "wal-0000000000000003.log"},
     65536, 2, 1000, 100, 1000, EIO, false},
    {"short writes only", {FAULT_WRITE, 0, .times = -1, .max_chunk = 1000},
     0, 2, 500, 8, 200000, 0, false},
};
/* clang-format on */

static unsigned g_tag = 1;

/* Submit `n` one-record packets (one round when the writer is not started yet) and
 * return their outcomes. */
static outcome_t *submit(durable_t *d, size_t n, size_t len)
{
    outcome_t *o = calloc(n, sizeof *o);
    assert_non_null(o);
    for (size_t i = 0; i < n; i++)
        durable_submit(d, make_packet(g_tag++, 1, len), on_done, &o[i]);
    return o;
}

static void free_outcomes(outcome_t *o, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(o[i].seqs);
    free(o);
}

static void add_acked(seqset_t *s, const outcome_t *o, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < o[i].n; k++)
            collect_seq(s, o[i].seqs[k], NULL, 0);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A WAL with the fault table, a base and a durability writer (not started). */
typedef struct {
    wal_t *w;
    struct event_base *base;
    durable_t *d;
} rig_t;

static void rig_open(rig_t *r, const char *dir, uint64_t seg_bytes, fault_io_t *fi)
{
    wal_options_t wo = {dir, seg_bytes, 0, &fi->io};
    assert_int_equal(wal_open(&wo, &r->w, NULL), 0);
    r->base = event_base_new();
    assert_non_null(r->base);
    r->d = durable_new(r->w, r->base);
    assert_non_null(r->d);
}

static void rig_close(rig_t *r)
{
    durable_free(r->d);
    event_base_free(r->base);
}

static void run_durable_case(const durable_case_t *c)
{
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    fault_io_t fi;
    fault_io_init(&fi);
    seqset_t acked = {0};
    rig_t r;

    /* acknowledged before the fault (segment 1) */
    rig_open(&r, dir, c->seg_bytes, &fi);
    outcome_t *o1 = submit(r.d, c->before, c->before_len);
    assert_int_equal(durable_start(r.d), 0);
    wait_done(r.d, r.base, o1, c->before);
    for (size_t i = 0; i < c->before; i++)
        assert_int_equal(o1[i].status, 0);
    add_acked(&acked, o1, c->before);
    rig_close(&r);

    /* the faulty round (from segment 2 on): every packet is queued before the writer
     * starts, so they are one round */
    rig_open(&r, dir, c->seg_bytes, &fi);
    fault_arm(&fi, &c->fault);
    outcome_t *o2 = submit(r.d, c->packets, c->len);
    assert_int_equal(durable_start(r.d), 0);
    wait_done(r.d, r.base, o2, c->packets);
    int injected = fault_injected(&fi);
    for (size_t i = 0; i < c->packets; i++)
        if (o2[i].status != -c->want)
            fail_msg("%s: packet %zu of %zu got %s, expected %s (%d faults injected)", c->name, i,
                     c->packets, o2[i].status ? strerror(-o2[i].status) : "0 (a 202)",
                     c->want ? strerror(c->want) : "0", injected);
    add_acked(&acked, o2, c->packets);

    /* the fault clears: the daemon serves again */
    fault_clear(&fi);
    outcome_t *o3 = submit(r.d, 3, 700);
    wait_done(r.d, r.base, o3, 3);
    for (size_t i = 0; i < 3; i++)
        if (o3[i].status)
            fail_msg("%s: after the fault cleared, packet %zu got %s", c->name, i,
                     strerror(-o3[i].status));
    add_acked(&acked, o3, 3);
    for (size_t i = 0; c->gate && i < 3; i++)
        if (segment_has_seq(dir, 2, o3[i].seqs[0]))
            fail_msg("%s: after the fsync failure of segment 2, seq %llu was written to it again",
                     c->name, (unsigned long long)o3[i].seqs[0]);
    rig_close(&r);

    /* exactly the acknowledged records are replayed */
    seqset_t got = {0};
    replayed_seqs(dir, &got);
    qsort(acked.v, acked.n, sizeof *acked.v, cmp_u64);
    qsort(got.v, got.n, sizeof *got.v, cmp_u64);
    if (got.n != acked.n || (got.n && memcmp(got.v, acked.v, got.n * sizeof *got.v)))
        fail_msg("%s: %zu records replayed, %zu were acknowledged (202)", c->name, got.n, acked.n);
    free(got.v);
    free(acked.v);
    free_outcomes(o1, c->before);
    free_outcomes(o2, c->packets);
    free_outcomes(o3, 3);
    rm_tree(dir);
}

static void test_faulty_rounds(void **state)
{
    (void)state;
    const char *only = getenv("DURABLE_CASE"); /* debugging: run one row */
    for (size_t i = 0; i < N(durable_cases); i++)
        if (!only || (size_t)atoi(only) == i) run_durable_case(&durable_cases[i]);
}

/* ---- replay limits --------------------------------------------------------------------- */

/* An NDJSON-shaped record nested `depth` containers deep ({"a":{"a":...{}}}). */
static char *deep_record(unsigned depth, size_t *len)
{
    size_t n = depth * 6 + 2;
    char *r = malloc(n + 1);
    assert_non_null(r);
    size_t k = 0;
    for (unsigned i = 0; i + 1 < depth; i++)
        k += (size_t)sprintf(r + k, "{\"a\":");
    k += (size_t)sprintf(r + k, "{}");
    for (unsigned i = 0; i + 1 < depth; i++)
        r[k++] = '}';
    r[k] = 0;
    *len = k;
    return r;
}

static void test_replay_limits_and_quarantine(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    wal_options_t wo = {dir, 0, 0, NULL};
    wal_t *w = NULL;
    assert_int_equal(wal_open(&wo, &w, NULL), 0);
    const unsigned max_depth = 1000; /* the largest --max-depth */
    size_t deep_len;
    char *deep = deep_record(max_depth, &deep_len);
    static const char bad[] = "{\"unterminated\":";
    uint64_t seq, bad_seq = 0, deep_seq = 0;
    size_t good = 0;
    for (int i = 0; i < 12; i++) {
        char r[64];
        int n = snprintf(r, sizeof r, "{\"i\":%d}", i);
        assert_int_equal(wal_append(w, r, (size_t)n, &seq), 0);
        good++;
        if (i == 4) {
            assert_int_equal(wal_append(w, deep, deep_len, &deep_seq), 0);
            good++;
        }
        if (i == 8) assert_int_equal(wal_append(w, bad, sizeof bad - 1, &bad_seq), 0);
    }
    assert_int_equal(wal_sync(w), 0);
    wal_close(w);

    assert_int_equal(wal_open(&wo, &w, NULL), 0);
    struct event_base *base = event_base_new();
    durable_t *d = durable_new(w, base);
    pkt_queue_t *q = queue_new(1u << 30, NULL, NULL);
    assert_true(base && d && q);
    uint64_t failed0 = atomic_load(&g_metrics.records_replay_failed);
    scan_limits_t lim = {.max_depth = max_depth};
    long n = durable_replay(d, q, &lim);
    uint64_t failed = atomic_load(&g_metrics.records_replay_failed) - failed0;
    size_t queued = 0;
    bool deep_seen = false;
    for (packet_t *p = queue_take_all(q), *next; p; p = next) {
        next = p->next;
        for (size_t i = 0; i < p->count; i++)
            deep_seen |= p->seqs[i] == deep_seq;
        queued += p->count;
        packet_free(p);
    }
    durable_free(d);
    event_base_free(base);
    queue_free(q);
    if (n != (long)good || queued != good || !deep_seen)
        fail_msg("replay returned %ld and queued %zu records (deep one %s), expected %zu: a "
                 "record that does not parse held back its neighbours",
                 n, queued, deep_seen ? "among them" : "missing", good);
    assert_int_equal(failed, 1);

    /* the bad record is in quarantine, byte for byte, and no longer live */
    char p[512];
    snprintf(p, sizeof p, "%s/quarantine-%016llx.rec", dir, (unsigned long long)bad_seq);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    char buf[64];
    size_t got = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_int_equal(got, sizeof bad - 1);
    assert_memory_equal(buf, bad, got);
    seqset_t live = {0};
    replayed_seqs(dir, &live);
    assert_int_equal(live.n, good);
    for (size_t i = 0; i < live.n; i++)
        assert_true(live.v[i] != bad_seq);
    free(live.v);
    free(deep);
    rm_tree(dir);
}

/* durable_free with jobs never run (not started): packets are freed unanswered, acks
 * applied, nothing leaks (ASan) or hangs; then started and freed with work in flight. */
static void test_free_with_jobs_left(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    fault_io_t fi;
    fault_io_init(&fi);
    rig_t r;
    rig_open(&r, dir, 0, &fi);
    outcome_t *o = submit(r.d, 3, 300);
    uint64_t seq = 12345;
    durable_ack(r.d, &seq, 1);
    rig_close(&r);
    for (size_t i = 0; i < 3; i++)
        assert_false(o[i].done);
    free_outcomes(o, 3);

    rig_open(&r, dir, 0, &fi);
    assert_int_equal(durable_start(r.d), 0);
    o = submit(r.d, 50, 300); /* some may still be in flight at free */
    rig_close(&r);
    free_outcomes(o, 50);
    rm_tree(dir);
}

int main(void)
{
    log_set_level((log_level_t)(LOG_ERROR + 1)); /* quiet: the tests provoke errors on purpose */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_faulty_rounds),
        cmocka_unit_test(test_replay_limits_and_quarantine),
        cmocka_unit_test(test_free_with_jobs_left),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
