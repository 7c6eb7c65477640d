/*
 * test_wal.c - cmocka tests for src/store/wal.c and src/store/crc32c.c:
 *   - crc32c: known vectors (RFC 3720 / "123456789"), incremental == one-shot;
 *   - append / sync / close / reopen: replay returns exactly the unacknowledged
 *     records, oldest first, byte for byte, with their seqs; seqs keep increasing
 *     across reopen (also once every record segment has been deleted);
 *   - acks (random order, double, unknown) -> replay skips them, live count exact;
 *     acks written in a later segment survive reopen;
 *   - segment roll, and the deletion rule (a segment goes only when it and every
 *     older one are fully acknowledged), checked against the files on disk;
 *   - torn tails and corruption (last segment, middle segment), files that are
 *     not segments (moved aside as *.bad), stray file names;
 *   - the disk budget (wal_has_room), records of the maximum size (E2BIG above);
 *   - a failed write (RLIMIT_FSIZE -> EFBIG) is cut off and its records refused;
 *   - a crash: a forked child appends, syncs and _exit()s without wal_close;
 *   - injected faults through the io table (wal_fault.h), table-driven: ENOSPC/EIO
 *     on a write in the middle of a round (every record of the round refused, the
 *     round's error returned, none replayed), short writes, a cut that fails too,
 *     EIO/ENOSPC on fdatasync at sync and at a segment roll (the failed segment is
 *     never written again), a persistent fault, recovery once it clears;
 *   - hostile segments, handcrafted, each in a child with a hang detector: ACK
 *     counts of 2^32-1, first+count overflow, empty runs, seq jumps of 2^40/2^60,
 *     seq 0 and ~2^64, header next_seq 2^64-1, a 64 GiB sparse segment, a seq
 *     written twice or out of order (replayed once, in order), records below an
 *     older empty segment's header next_seq, a segment numbered 2^64-1 (read; a
 *     roll after it wrapped to 0, now refused); each row then appends (a roll, which
 *     deletes what it may) and reopens: the same records come back, nothing is cut.
 * The on-disk format (wal.h / docs/DURABILITY.md) is parsed independently here.
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "store/crc32c.h"
#include "store/wal.h"
#include "wal_fault.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define SEG_HEADER 24 /* "LDWAL02\n", segment number, next seq */
#define ENTRY_HEADER 9
#define REC_OVERHEAD (ENTRY_HEADER + 8) /* entry header + seq */
#define MAX_ENTRY (256u << 20)

/* ================================================================ helpers */

/* Temp dirs still present when a test ends (e.g. after a failed assertion) are removed
 * by the teardown. */
static char g_dirs[32][64];
static size_t g_ndirs;

static void make_tmpdir(char *dir, size_t n)
{
    snprintf(dir, n, "/tmp/ld-wal-XXXXXX");
    assert_non_null(mkdtemp(dir));
    if (g_ndirs < N(g_dirs)) snprintf(g_dirs[g_ndirs++], sizeof g_dirs[0], "%s", dir);
}

static int rm_dir_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (unlink(p)) rc = -1;
    }
    closedir(d);
    return rmdir(dir) ? -1 : rc;
}

static void rm_tree(const char *dir)
{
    assert_int_equal(rm_dir_files(dir), 0);
    for (size_t i = 0; i < g_ndirs; i++)
        if (!strcmp(g_dirs[i], dir)) g_dirs[i][0] = 0;
}

static int cleanup_dirs(void **state)
{
    (void)state;
    for (size_t i = 0; i < g_ndirs; i++)
        if (g_dirs[i][0]) rm_dir_files(g_dirs[i]);
    g_ndirs = 0;
    return 0;
}

/* In a forked child: undo cmocka's signal handlers, so that a crash ends the child
 * (instead of the child running the remaining tests). */
static void child_default_signals(void)
{
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS, SIGABRT};
    for (size_t i = 0; i < N(sigs); i++) signal(sigs[i], SIG_DFL);
}

static void seg_file(const char *dir, uint64_t number, char *out, size_t n)
{
    snprintf(out, n, "%s/wal-%016llx.log", dir, (unsigned long long)number);
}

static bool is_seg_name(const char *name)
{
    return strlen(name) == 24 && !strncmp(name, "wal-", 4) && !strcmp(name + 20, ".log");
}

/* Segment numbers found on disk (sorted), returns the count. */
static size_t list_segs(const char *dir, uint64_t *nums, size_t max)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!is_seg_name(de->d_name)) continue;
        assert_true(n < max);
        nums[n++] = strtoull(de->d_name + 4, NULL, 16);
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && nums[j - 1] > nums[j]; j--) {
            uint64_t t = nums[j];
            nums[j] = nums[j - 1];
            nums[j - 1] = t;
        }
    return n;
}

static bool seg_exists(const char *dir, uint64_t number)
{
    char p[512];
    seg_file(dir, number, p, sizeof p);
    return access(p, F_OK) == 0;
}

static bool path_exists(const char *p)
{
    return access(p, F_OK) == 0;
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

/* Sum of the sizes of the segment files on disk. */
static uint64_t segs_bytes(const char *dir)
{
    uint64_t nums[512];
    size_t n = list_segs(dir, nums, N(nums));
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        char p[512];
        seg_file(dir, nums[i], p, sizeof p);
        sum += file_size(p);
    }
    return sum;
}

static void write_at(const char *path, uint64_t off, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, data, len, (off_t)off), (ssize_t)len);
    close(fd);
}

static void read_at(const char *path, uint64_t off, void *data, size_t len)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, data, len, (off_t)off), (ssize_t)len);
    close(fd);
}

static void flip_byte(const char *path, uint64_t off)
{
    unsigned char c;
    read_at(path, off, &c, 1);
    c ^= 0x5a;
    write_at(path, off, &c, 1);
}

/* ---- independent parser of the documented segment format -------------------------- */

typedef struct {
    uint64_t off;  /* of the entry header */
    uint32_t len;  /* payload length */
    int type;
    uint64_t seq;  /* RECORD: its seq */
    uint32_t runs; /* ACK: number of runs */
} ent_t;

/* Parse the good entries of a segment file; returns their count (the header must be
 * valid). *end = offset after the last good entry, *size = file size. */
static size_t parse_seg(const char *path, ent_t *out, size_t max, uint64_t *end, uint64_t *size)
{
    uint64_t sz = file_size(path);
    char *b = malloc(sz + 1);
    assert_non_null(b);
    read_at(path, 0, b, sz);
    assert_true(sz >= SEG_HEADER);
    assert_memory_equal(b, "LDWAL02\n", 8);
    size_t n = 0;
    uint64_t off = SEG_HEADER;
    while (off + ENTRY_HEADER <= sz) {
        uint32_t len, crc;
        memcpy(&len, b + off, 4);
        memcpy(&crc, b + off + 4, 4);
        if (off + ENTRY_HEADER + len > sz) break;
        if (crc32c_update(0, b + off + 8, 1 + (size_t)len) != crc) break;
        if (out && n < max) {
            ent_t *e = &out[n];
            memset(e, 0, sizeof *e);
            e->off = off;
            e->len = len;
            e->type = (unsigned char)b[off + 8];
            if (e->type == 1) memcpy(&e->seq, b + off + ENTRY_HEADER, 8);
            if (e->type == 2) e->runs = len / 12;
        }
        n++;
        off += ENTRY_HEADER + len;
    }
    free(b);
    if (end) *end = off;
    if (size) *size = sz;
    return n;
}

/* First and last RECORD seq of a segment file (0 when it holds none). */
static void seg_seq_range(const char *dir, uint64_t number, uint64_t *first, uint64_t *last)
{
    char p[512];
    seg_file(dir, number, p, sizeof p);
    static ent_t ents[4096];
    size_t n = parse_seg(p, ents, N(ents), NULL, NULL);
    assert_true(n <= N(ents));
    *first = *last = 0;
    for (size_t i = 0; i < n; i++) {
        if (ents[i].type != 1) continue;
        if (!*first) *first = ents[i].seq;
        *last = ents[i].seq;
    }
}

/* ---- record contents ----------------------------------------------------------------- */

/* Deterministic bytes of record `tag` (all 256 byte values occur, NULs included). Past
 * 8 KiB the first block is repeated, each copy stamped with its offset (fast for big
 * records, still position-dependent). */
static void fill_rec(char *buf, uint32_t tag, size_t len)
{
    enum { BLOCK = 8192 };
    uint32_t x = tag * 2654435761u + 12345u;
    size_t head = len < BLOCK ? len : BLOCK;
    for (size_t i = 0; i < head; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (char)(x >> 23);
    }
    for (size_t off = BLOCK; off < len; off += BLOCK) {
        size_t n = len - off < BLOCK ? len - off : BLOCK;
        memcpy(buf + off, buf, n);
        uint64_t stamp = off ^ tag;
        memcpy(buf + off, &stamp, n < 8 ? n : 8);
    }
}

static uint32_t rec_crc(uint32_t tag, size_t len)
{
    char *b = malloc(len ? len : 1);
    assert_non_null(b);
    fill_rec(b, tag, len);
    uint32_t c = crc32c_update(0, b, len);
    free(b);
    return c;
}

/* The model of what the WAL should hold. */
typedef struct {
    uint64_t seq;
    uint32_t tag;
    size_t len;
    bool acked; /* acknowledged (or expected to be lost) -> not replayed */
} mrec_t;

typedef struct {
    mrec_t *r;
    size_t n, cap;
} model_t;

static void model_free(model_t *m)
{
    free(m->r);
    memset(m, 0, sizeof *m);
}

static uint64_t model_live(const model_t *m)
{
    uint64_t n = 0;
    for (size_t i = 0; i < m->n; i++) n += !m->r[i].acked;
    return n;
}

static mrec_t *model_find(model_t *m, uint64_t seq)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->r[i].seq == seq) return &m->r[i];
    return NULL;
}

static uint64_t append_tag(wal_t *w, model_t *m, uint32_t tag, size_t len)
{
    char *b = malloc(len ? len : 1);
    assert_non_null(b);
    fill_rec(b, tag, len);
    uint64_t seq = 0;
    int rc = wal_append(w, b, len, &seq);
    free(b);
    assert_int_equal(rc, 0);
    assert_true(seq > 0);
    if (m->n) assert_true(seq > m->r[m->n - 1].seq);
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->r = realloc(m->r, m->cap * sizeof *m->r);
        assert_non_null(m->r);
    }
    m->r[m->n++] = (mrec_t){seq, tag, len, false};
    return seq;
}

static uint32_t g_tag = 1;

/* Append `count` records of sizes taken cyclically from sizes[]. */
static void append_many(wal_t *w, model_t *m, size_t count, const size_t *sizes, size_t nsizes)
{
    for (size_t i = 0; i < count; i++) append_tag(w, m, g_tag++, sizes[i % nsizes]);
}

static void ack_seq(wal_t *w, model_t *m, uint64_t seq)
{
    assert_int_equal(wal_ack(w, &seq, 1), 0);
    mrec_t *r = model_find(m, seq);
    if (r) r->acked = true;
}

/* ---- replay collection ---------------------------------------------------------------- */

#define COPY_MAX (4u << 20) /* larger records are compared by CRC32C */

typedef struct {
    uint64_t seq;
    size_t len;
    char *copy; /* NULL for large records */
    uint32_t crc;
} got_t;

typedef struct {
    got_t *g;
    size_t n, cap;
    size_t stop_after; /* return 7 after this many (0 = never) */
} coll_t;

static int collect_cb(void *ctx, uint64_t seq, const char *rec, size_t len)
{
    coll_t *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->g = realloc(c->g, c->cap * sizeof *c->g);
        if (!c->g) return -ENOMEM;
    }
    got_t *g = &c->g[c->n++];
    g->seq = seq;
    g->len = len;
    g->copy = NULL;
    g->crc = crc32c_update(0, rec, len);
    if (len <= COPY_MAX) {
        g->copy = malloc(len ? len : 1);
        if (!g->copy) return -ENOMEM;
        memcpy(g->copy, rec, len);
    }
    if (c->stop_after && c->n == c->stop_after) return 7;
    return 0;
}

static void coll_free(coll_t *c)
{
    for (size_t i = 0; i < c->n; i++) free(c->g[i].copy);
    free(c->g);
    memset(c, 0, sizeof *c);
}

/* Replay w and check it returns exactly the unacknowledged records of m, in order. */
static void expect_replay(wal_t *w, const model_t *m)
{
    coll_t c = {0};
    assert_int_equal(wal_replay(w, collect_cb, &c), 0);
    size_t j = 0;
    for (size_t i = 0; i < m->n; i++) {
        const mrec_t *r = &m->r[i];
        if (r->acked) continue;
        if (j >= c.n)
            fail_msg("replay ended after %zu records; seq %llu (len %zu) missing", c.n,
                     (unsigned long long)r->seq, r->len);
        const got_t *g = &c.g[j++];
        if (g->seq != r->seq)
            fail_msg("replay #%zu: seq %llu, expected %llu", j - 1, (unsigned long long)g->seq,
                     (unsigned long long)r->seq);
        assert_int_equal(g->len, r->len);
        if (g->copy) {
            char *want = malloc(r->len ? r->len : 1);
            assert_non_null(want);
            fill_rec(want, r->tag, r->len);
            assert_memory_equal(g->copy, want, r->len);
            free(want);
        } else {
            assert_int_equal(g->crc, rec_crc(r->tag, r->len));
        }
    }
    if (j != c.n)
        fail_msg("replay returned %zu records, expected %zu (first extra seq %llu)", c.n, j,
                 (unsigned long long)c.g[j].seq);
    coll_free(&c);
}

static wal_t *open_wal(const char *dir, uint64_t seg_bytes, uint64_t max_disk,
                       wal_open_stats_t *st)
{
    wal_options_t o = {dir, seg_bytes, max_disk, NULL};
    wal_t *w = NULL;
    int rc = wal_open(&o, &w, st);
    if (rc) fail_msg("wal_open(%s): %s", dir, strerror(-rc));
    assert_non_null(w);
    return w;
}

/* Close, reopen, check the stats counters that are always determined, replay. */
static wal_t *reopen_check(wal_t *w, const char *dir, uint64_t seg_bytes, const model_t *m,
                           wal_open_stats_t *st_out)
{
    wal_close(w);
    wal_open_stats_t st;
    w = open_wal(dir, seg_bytes, 0, &st);
    assert_int_equal(wal_live_records(w), model_live(m));
    assert_int_equal(wal_disk_bytes(w), segs_bytes(dir));
    expect_replay(w, m);
    if (st_out) *st_out = st;
    return w;
}

static uint64_t lcg_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    lcg_state ^= lcg_state << 13;
    lcg_state ^= lcg_state >> 7;
    lcg_state ^= lcg_state << 17;
    return lcg_state;
}

/* ================================================================ crc32c */

static void test_crc32c_vectors(void **state)
{
    (void)state;
    unsigned char zeros[32], ones[32], inc[32], dec[32];
    for (int i = 0; i < 32; i++) {
        zeros[i] = 0;
        ones[i] = 0xff;
        inc[i] = (unsigned char)i;
        dec[i] = (unsigned char)(31 - i);
    }
    static const struct {
        const char *name;
        const void *data;
        size_t len;
        uint32_t crc;
    } *v, vec[] = {
        {"123456789", "123456789", 9, 0xE3069283u},
        {"empty", "", 0, 0x00000000u},
        {"a", "a", 1, 0xC1D04330u},
        {"fox", "The quick brown fox jumps over the lazy dog", 43, 0x22620404u},
        {"32 zeros (RFC 3720)", NULL, 32, 0x8A9136AAu},
        {"32 0xff (RFC 3720)", NULL, 32, 0x62A8AB43u},
        {"32 incrementing (RFC 3720)", NULL, 32, 0x46DD794Eu},
        {"32 decrementing (RFC 3720)", NULL, 32, 0x113FDB5Cu},
    };
    const void *rfc[] = {zeros, ones, inc, dec};
    for (size_t i = 0; i < N(vec); i++) {
        v = &vec[i];
        const void *d = v->data ? v->data : rfc[i - 4];
        uint32_t got = crc32c_update(0, d, v->len);
        if (got != v->crc) fail_msg("crc32c(%s) = %08x, expected %08x", v->name, got, v->crc);
    }
    /* a zero-length update leaves any crc unchanged */
    assert_int_equal(crc32c_update(0xE3069283u, "", 0), 0xE3069283u);
}

static void test_crc32c_incremental(void **state)
{
    (void)state;
    enum { LEN = 3000 };
    char *b = malloc(LEN);
    assert_non_null(b);
    fill_rec(b, 77, LEN);
    const uint32_t one = crc32c_update(0, b, LEN);
    static const size_t splits[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255,
                                    256, 1024, 1500, 2047, 2999, 3000};
    for (size_t i = 0; i < N(splits); i++) {
        size_t s = splits[i];
        uint32_t c = crc32c_update(crc32c_update(0, b, s), b + s, LEN - s);
        if (c != one) fail_msg("split at %zu: %08x != %08x", s, c, one);
    }
    /* byte by byte and in odd chunks */
    uint32_t c = 0;
    for (size_t i = 0; i < LEN; i++) c = crc32c_update(c, b + i, 1);
    assert_int_equal(c, one);
    c = 0;
    for (size_t off = 0, k = 1; off < LEN; off += k, k = k * 3 % 97 + 1)
        c = crc32c_update(c, b + off, off + k > LEN ? LEN - off : k);
    assert_int_equal(c, one);
    assert_int_equal(crc32c_update(crc32c_update(0, "1234", 4), "56789", 5), 0xE3069283u);
    free(b);
}

/* ================================================================ round trip */

static void test_roundtrip_sizes(void **state)
{
    (void)state;
    static const size_t sizes[] = {0,    1,     7,     8,         9,         100,
                                   4095, 4096,  4097,  65535,     65536,     (1u << 20) - 17,
                                   1u << 20,    (1u << 20) + 1, 3u << 20, 2,  12345};
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    model_t m = {0};
    wal_open_stats_t st;
    wal_t *w = open_wal(dir, 0, 0, &st);
    assert_int_equal(st.segments, 0);
    assert_int_equal(wal_live_records(w), 0);
    expect_replay(w, &m); /* empty */
    for (size_t i = 0; i < N(sizes); i++) append_tag(w, &m, g_tag++, sizes[i]);
    assert_int_equal(m.r[0].seq, 1);
    for (size_t i = 1; i < m.n; i++) assert_int_equal(m.r[i].seq, m.r[i - 1].seq + 1);
    assert_int_equal(wal_live_records(w), N(sizes));
    assert_int_equal(wal_sync(w), 0);
    assert_int_equal(wal_disk_bytes(w), segs_bytes(dir));
    assert_int_equal(wal_segment_count(w), 1);

    w = reopen_check(w, dir, 0, &m, &st);
    assert_int_equal(st.segments, 1);
    assert_int_equal(st.records, N(sizes));
    assert_int_equal(st.acked, 0);
    assert_int_equal(st.bytes_cut, 0);
    assert_int_equal(st.segments_cut, 0);
    /* replay is once only */
    coll_t c = {0};
    assert_int_equal(wal_replay(w, collect_cb, &c), 0);
    assert_int_equal(c.n, 0);
    coll_free(&c);

    /* the file is exactly the documented format */
    char p[512];
    seg_file(dir, 1, p, sizeof p);
    static ent_t ents[64];
    uint64_t end, size;
    size_t n = parse_seg(p, ents, N(ents), &end, &size);
    assert_int_equal(n, N(sizes));
    assert_int_equal(end, size);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ents[i].type, 1);
        assert_int_equal(ents[i].seq, m.r[i].seq);
        assert_int_equal(ents[i].len, 8 + sizes[i]);
    }
    uint64_t num, floor;
    read_at(p, 8, &num, 8);
    assert_int_equal(num, 1);
    read_at(p, 16, &floor, 8); /* next seq when the segment was started */
    assert_int_equal(floor, 1);

    /* a second session appends to a new segment and both replay */
    append_many(w, &m, 5, (const size_t[]){10, 20, 30}, 3);
    assert_int_equal(wal_sync(w), 0);
    assert_int_equal(wal_segment_count(w), 2);
    seg_file(dir, 2, p, sizeof p);
    read_at(p, 8, &num, 8);
    assert_int_equal(num, 2);
    read_at(p, 16, &floor, 8);
    assert_int_equal(floor, m.r[N(sizes)].seq);
    w = reopen_check(w, dir, 0, &m, &st);
    assert_int_equal(st.segments, 2);
    assert_int_equal(st.records, N(sizes) + 5);
    wal_close(w);
    wal_close(NULL);
    model_free(&m);
    rm_tree(dir);
}

static int stop_cb_calls;
static int stop_cb(void *ctx, uint64_t seq, const char *rec, size_t len)
{
    (void)ctx;
    (void)seq;
    (void)rec;
    (void)len;
    return ++stop_cb_calls == 3 ? -42 : 0;
}

static void test_replay_stops_on_callback_error(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    model_t m = {0};
    wal_t *w = open_wal(dir, 0, 0, NULL);
    append_many(w, &m, 10, (const size_t[]){50}, 1);
    assert_int_equal(wal_sync(w), 0);
    wal_close(w);
    w = open_wal(dir, 0, 0, NULL);
    stop_cb_calls = 0;
    assert_int_equal(wal_replay(w, stop_cb, NULL), -42);
    assert_int_equal(stop_cb_calls, 3);
    wal_close(w);
    model_free(&m);
    rm_tree(dir);
}

/* The first open of an empty directory (no segment yet). */
static void test_open_empty_dir(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    wal_open_stats_t st;
    memset(&st, 0xff, sizeof st);
    wal_t *w = open_wal(dir, 0, 0, &st);
    assert_int_equal(st.segments, 0);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.acked, 0);
    assert_int_equal(st.bytes_cut, 0);
    assert_int_equal(st.segments_cut, 0);
    assert_int_equal(wal_segment_count(w), 0);
    assert_int_equal(wal_disk_bytes(w), 0);
    assert_int_equal(wal_live_records(w), 0);
    wal_close(w); /* nothing written: no segment file */
    uint64_t nums[4];
    assert_int_equal(list_segs(dir, nums, N(nums)), 0);
    rm_tree(dir);
}

static void test_open_errors(void **state)
{
    (void)state;
    wal_options_t o = {"/nonexistent-dir-ld/sub/wal", 0, 0, NULL};
    wal_t *w = NULL;
    assert_true(wal_open(&o, &w, NULL) < 0);
    assert_null(w);
    /* dir is a regular file */
    char dir[64], p[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/file", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
    o.dir = p;
    assert_true(wal_open(&o, &w, NULL) < 0);
    /* created if missing */
    snprintf(p, sizeof p, "%s/new", dir);
    o.dir = p;
    assert_int_equal(wal_open(&o, &w, NULL), 0);
    wal_close(w);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(rmdir(p), 0);
    rm_tree(dir);
}

/* ================================================================ acks */

typedef enum { ORDER_ASC, ORDER_DESC, ORDER_RANDOM } ack_order_t;

static bool pat_none(size_t i, size_t n) { (void)i; (void)n; return false; }
static bool pat_all(size_t i, size_t n) { (void)i; (void)n; return true; }
static bool pat_even(size_t i, size_t n) { (void)n; return i % 2 == 0; }
static bool pat_first_half(size_t i, size_t n) { return i < n / 2; }
static bool pat_last_only(size_t i, size_t n) { return i == n - 1; }
static bool pat_first_only(size_t i, size_t n) { (void)n; return i == 0; }
static bool pat_runs(size_t i, size_t n) { (void)n; return (i / 5) % 3 != 1; }
static bool pat_random(size_t i, size_t n) { (void)n; return (i * 2654435761u) % 7 < 4; }

static void test_acks(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        bool (*pat)(size_t, size_t);
        ack_order_t order;
        bool doubles;       /* ack everything twice */
        bool close_only;    /* no wal_sync: the acks reach disk through wal_close */
        uint64_t seg_bytes; /* 0 = default */
    } cases[] = {
        {"none", pat_none, ORDER_ASC, false, false, 0},
        {"all asc", pat_all, ORDER_ASC, false, false, 0},
        {"all desc", pat_all, ORDER_DESC, true, false, 0},
        {"all random small segs", pat_all, ORDER_RANDOM, true, false, 8192},
        {"even random", pat_even, ORDER_RANDOM, true, false, 0},
        {"first half desc", pat_first_half, ORDER_DESC, false, true, 0},
        {"last only", pat_last_only, ORDER_ASC, true, false, 0},
        {"first only", pat_first_only, ORDER_ASC, false, true, 0},
        {"runs random", pat_runs, ORDER_RANDOM, true, false, 0},
        {"random random small segs", pat_random, ORDER_RANDOM, true, true, 8192},
    };
    enum { NREC = 200 };
    static const size_t sizes[] = {0, 13, 100, 257, 499, 64};
    for (size_t ci = 0; ci < N(cases); ci++) {
        char dir[64];
        make_tmpdir(dir, sizeof dir);
        model_t m = {0};
        wal_t *w = open_wal(dir, cases[ci].seg_bytes, 0, NULL);
        append_many(w, &m, NREC, sizes, N(sizes));
        assert_int_equal(wal_sync(w), 0);
        uint64_t next = m.r[m.n - 1].seq + 1;

        /* the ack list: selected seqs in the chosen order, doubles, unknown seqs */
        uint64_t list[3 * NREC + 8];
        size_t k = 0, nsel = 0;
        for (size_t i = 0; i < NREC; i++)
            if (cases[ci].pat(i, NREC)) list[k++] = m.r[i].seq;
        nsel = k;
        if (cases[ci].order == ORDER_DESC)
            for (size_t i = 0; i < k / 2; i++) {
                uint64_t t = list[i];
                list[i] = list[k - 1 - i];
                list[k - 1 - i] = t;
            }
        if (cases[ci].order == ORDER_RANDOM)
            for (size_t i = k; i > 1; i--) {
                size_t j = rnd() % i;
                uint64_t t = list[i - 1];
                list[i - 1] = list[j];
                list[j] = t;
            }
        if (cases[ci].doubles)
            for (size_t i = 0; i < nsel; i++) list[k++] = list[(i * 7) % nsel];
        list[k++] = 0;
        list[k++] = next;
        list[k++] = next + 1000;
        list[k++] = UINT64_MAX;

        for (size_t off = 0; off < k;) {
            size_t chunk = 1 + rnd() % 9;
            if (off + chunk > k) chunk = k - off;
            assert_int_equal(wal_ack(w, list + off, chunk), 0);
            for (size_t i = 0; i < chunk; i++) {
                mrec_t *r = model_find(&m, list[off + i]);
                if (r) r->acked = true;
            }
            off += chunk;
            if (wal_live_records(w) != model_live(&m))
                fail_msg("case %s: live %llu, expected %llu", cases[ci].name,
                         (unsigned long long)wal_live_records(w),
                         (unsigned long long)model_live(&m));
        }
        assert_int_equal(wal_live_records(w), NREC - nsel);
        if (!cases[ci].close_only) assert_int_equal(wal_sync(w), 0);
        assert_int_equal(wal_segment_count(w), list_segs(dir, (uint64_t[512]){0}, 512));

        wal_open_stats_t st;
        w = reopen_check(w, dir, cases[ci].seg_bytes, &m, &st);
        assert_int_equal(st.bytes_cut, 0);
        if (nsel < NREC || cases[ci].seg_bytes == 0) {
            /* nothing deleted: every record and every ack is still read */
            if (st.records == NREC) assert_int_equal(st.acked, nsel);
        }
        assert_int_equal(st.records - st.acked, NREC - nsel);
        /* a second reopen gives the same */
        w = reopen_check(w, dir, cases[ci].seg_bytes, &m, NULL);
        wal_close(w);
        model_free(&m);
        rm_tree(dir);
    }
}

/* ================================================================ segments */

static void test_segment_roll(void **state)
{
    (void)state;
    enum { SEG = 64 << 10 };
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    model_t m = {0};
    wal_t *w = open_wal(dir, SEG, 0, NULL);
    static const size_t sizes[] = {1000, 10, 3000, 517, 0, 8000};
    append_many(w, &m, 600, sizes, N(sizes));
    assert_int_equal(wal_sync(w), 0);
    uint64_t nums[512];
    size_t n = list_segs(dir, nums, N(nums));
    assert_true(n >= 10);
    assert_int_equal(wal_segment_count(w), n);
    assert_int_equal(wal_disk_bytes(w), segs_bytes(dir));
    uint64_t prev_last = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(nums[i], i + 1);
        char p[512];
        seg_file(dir, nums[i], p, sizeof p);
        assert_true(file_size(p) <= SEG);
        uint64_t first, last, hdr;
        read_at(p, 8, &hdr, 8);
        assert_int_equal(hdr, nums[i]);
        seg_seq_range(dir, nums[i], &first, &last);
        assert_int_equal(first, prev_last + 1); /* contiguous, increasing */
        prev_last = last;
    }
    assert_int_equal(prev_last, m.r[m.n - 1].seq);
    wal_open_stats_t st;
    w = reopen_check(w, dir, SEG, &m, &st);
    assert_int_equal(st.segments, n);
    assert_int_equal(st.records, 600);
    /* a record larger than a segment gets a segment of its own */
    append_tag(w, &m, g_tag++, 100);
    append_tag(w, &m, g_tag++, 3 * SEG);
    append_tag(w, &m, g_tag++, 100);
    assert_int_equal(wal_sync(w), 0);
    w = reopen_check(w, dir, SEG, &m, NULL);
    wal_close(w);
    model_free(&m);
    rm_tree(dir);
}

/* Ack every record of segment `number` except those listed in keep[]. */
static void ack_segment(wal_t *w, model_t *m, const char *dir, uint64_t number,
                        const uint64_t *keep, size_t nkeep)
{
    uint64_t first, last;
    seg_seq_range(dir, number, &first, &last);
    assert_true(first > 0);
    for (uint64_t q = first; q <= last; q++) {
        bool kept = false;
        for (size_t i = 0; i < nkeep; i++) kept |= keep[i] == q;
        if (!kept) ack_seq(w, m, q);
    }
}

static void test_segment_deletion_rule(void **state)
{
    (void)state;
    enum { SEG = 64 << 10 };
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    model_t m = {0};
    wal_t *w = open_wal(dir, SEG, 0, NULL);
    append_many(w, &m, 64 * 5 + 10, (const size_t[]){1000}, 1);
    assert_int_equal(wal_sync(w), 0);
    uint64_t nums[512];
    size_t n0 = list_segs(dir, nums, N(nums));
    assert_true(n0 >= 5);
    uint64_t f1, l1;
    seg_seq_range(dir, 1, &f1, &l1);

    /* segment 2 fully acked, segment 1 live: nothing goes */
    ack_segment(w, &m, dir, 2, NULL, 0);
    assert_int_equal(wal_sync(w), 0);
    assert_true(seg_exists(dir, 1));
    assert_true(seg_exists(dir, 2));
    assert_int_equal(wal_live_records(w), model_live(&m));

    /* segment 1 all but its last record: still nothing */
    ack_segment(w, &m, dir, 1, &l1, 1);
    assert_int_equal(wal_sync(w), 0);
    assert_true(seg_exists(dir, 1));
    assert_true(seg_exists(dir, 2));
    assert_int_equal(wal_flush(w), 0);
    assert_true(seg_exists(dir, 1));

    /* segment 4 fully acked: stays while 3 is live */
    ack_segment(w, &m, dir, 4, NULL, 0);
    assert_int_equal(wal_sync(w), 0);
    assert_true(seg_exists(dir, 4));

    /* the last record of 1: 1 and 2 go, 3 (live) and 4 stay */
    ack_seq(w, &m, l1);
    assert_int_equal(wal_flush(w), 0); /* flush deletes too */
    assert_false(seg_exists(dir, 1));
    assert_false(seg_exists(dir, 2));
    assert_true(seg_exists(dir, 3));
    assert_true(seg_exists(dir, 4));
    assert_int_equal(wal_segment_count(w), list_segs(dir, nums, N(nums)));
    assert_int_equal(wal_disk_bytes(w), segs_bytes(dir));
    assert_int_equal(wal_live_records(w), model_live(&m));

    /* reopen: the acks of 4 (in a later segment) still hold */
    w = reopen_check(w, dir, SEG, &m, NULL);

    /* ack 3 in the new session: 3 and 4 go */
    ack_segment(w, &m, dir, 3, NULL, 0);
    assert_int_equal(wal_sync(w), 0);
    assert_false(seg_exists(dir, 3));
    assert_false(seg_exists(dir, 4));
    assert_true(seg_exists(dir, 5));

    /* everything acked: only the newest segment remains */
    for (size_t i = 0; i < m.n; i++)
        if (!m.r[i].acked) ack_seq(w, &m, m.r[i].seq);
    assert_int_equal(wal_live_records(w), 0);
    assert_int_equal(wal_sync(w), 0);
    size_t n = list_segs(dir, nums, N(nums));
    assert_int_equal(n, 1);
    assert_int_equal(wal_segment_count(w), 1);
    assert_int_equal(wal_disk_bytes(w), segs_bytes(dir));
    w = reopen_check(w, dir, SEG, &m, NULL);
    wal_close(w);
    model_free(&m);
    rm_tree(dir);
}

static void test_acks_in_later_segment(void **state)
{
    (void)state;
    enum { SEG = 64 << 10 };
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    model_t m = {0};
    wal_t *w = open_wal(dir, SEG, 0, NULL);
    append_many(w, &m, 64 * 2 + 20, (const size_t[]){1000}, 1);
    assert_int_equal(wal_sync(w), 0);
    assert_true(seg_exists(dir, 3));
    uint64_t f1, l1;
    seg_seq_range(dir, 1, &f1, &l1);
    /* ack the odd seqs of segment 1 (so it stays) */
    for (uint64_t q = f1; q <= l1; q++)
        if (q % 2) ack_seq(w, &m, q);
    assert_int_equal(wal_sync(w), 0);
    assert_true(seg_exists(dir, 1));

    /* the ACK entries are in segment 3, none in 1 or 2 */
    for (uint64_t s = 1; s <= 3; s++) {
        char p[512];
        seg_file(dir, s, p, sizeof p);
        static ent_t ents[256];
        size_t n = parse_seg(p, ents, N(ents), NULL, NULL);
        size_t acks = 0;
        for (size_t i = 0; i < n; i++) acks += ents[i].type == 2;
        if (s < 3)
            assert_int_equal(acks, 0);
        else
            assert_true(acks > 0);
    }
    wal_open_stats_t st;
    w = reopen_check(w, dir, SEG, &m, &st);
    assert_int_equal(st.acked, (l1 - f1 + 2) / 2);
    wal_close(w);
    model_free(&m);
    rm_tree(dir);
}

/* ================================================================ sequence numbers */

static void test_seq_continues_across_reopen(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        bool ack_all;          /* ack every record ... */
        bool ack_next_session; /* ... in a second session (the acks start a new segment) */
    } cases[] = {
        {"plain", false, false},
        {"all acked in the same session", true, false},
        {"all acked after a restart", true, true},
    };
    int failed = 0;
    for (size_t ci = 0; ci < N(cases); ci++) {
        char dir[64];
        make_tmpdir(dir, sizeof dir);
        model_t m = {0};
        wal_t *w = open_wal(dir, 0, 0, NULL);
        append_many(w, &m, 5, (const size_t[]){40}, 1);
        assert_int_equal(wal_sync(w), 0);
        uint64_t max_seq = m.r[m.n - 1].seq;
        if (cases[ci].ack_all && cases[ci].ack_next_session) {
            w = reopen_check(w, dir, 0, &m, NULL);
        }
        if (cases[ci].ack_all) {
            for (size_t i = 0; i < m.n; i++) ack_seq(w, &m, m.r[i].seq);
            assert_int_equal(wal_sync(w), 0);
        }
        w = reopen_check(w, dir, 0, &m, NULL);
        uint64_t seq = 0;
        assert_int_equal(wal_append(w, "x", 1, &seq), 0);
        assert_int_equal(wal_sync(w), 0);
        wal_close(w);
        model_free(&m);
        rm_tree(dir);
        if (seq <= max_seq) {
            print_error("case \"%s\": seq %llu after reopen, but seqs up to %llu were used "
                        "before (DURABILITY.md: sequence numbers increase across restarts)\n",
                        cases[ci].name, (unsigned long long)seq, (unsigned long long)max_seq);
            failed++;
        }
    }
    if (failed) fail_msg("%d case(s) failed", failed);
}

/* ================================================================ torn tails */

typedef enum { CUT_HDR_MID, CUT_SEQ_MID, CUT_PAYLOAD_MID, CUT_AFTER } cut_where_t;

static void test_torn_tail(void **state)
{
    (void)state;
    /* records of the last segment (B); entry index k is counted from the end (1 = last) */
    static const size_t bsizes[] = {50, 300, 1, 700, 0, 2000, 33, 120};
    enum { NB = N(bsizes) };
    static const struct {
        const char *name;
        size_t from_end; /* entry k = NB - from_end */
        cut_where_t where;
        size_t delta;    /* bytes into the header / payload */
    } cases[] = {
        {"last: 1 byte of header", 1, CUT_HDR_MID, 1},
        {"last: middle of header", 1, CUT_HDR_MID, 4},
        {"last: header minus 1", 1, CUT_HDR_MID, 8},
        {"last: middle of seq", 1, CUT_SEQ_MID, 3},
        {"last: middle of payload", 1, CUT_PAYLOAD_MID, 60},
        {"last: payload minus 1", 1, CUT_PAYLOAD_MID, 119},
        {"last: intact", 1, CUT_AFTER, 0},
        {"just after the second last", 2, CUT_AFTER, 0},
        {"middle of a big payload", 3, CUT_PAYLOAD_MID, 1000},
        {"after an empty record", 4, CUT_AFTER, 0},
        {"middle of the first header", NB, CUT_HDR_MID, 5},
        {"first: middle of payload", NB, CUT_PAYLOAD_MID, 25},
    };
    for (size_t ci = 0; ci < N(cases); ci++) {
        char dir[64];
        make_tmpdir(dir, sizeof dir);
        model_t m = {0};
        /* segment 1: A (untouched), segment 2: B (damaged) */
        wal_t *w = open_wal(dir, 0, 0, NULL);
        append_many(w, &m, 5, (const size_t[]){80, 0, 900}, 3);
        assert_int_equal(wal_sync(w), 0);
        wal_close(w);
        w = open_wal(dir, 0, 0, NULL);
        expect_replay(w, &m);
        size_t na = m.n;
        for (size_t i = 0; i < NB; i++) append_tag(w, &m, g_tag++, bsizes[i]);
        assert_int_equal(wal_sync(w), 0);
        wal_close(w);

        char p[512];
        seg_file(dir, 2, p, sizeof p);
        ent_t ents[NB];
        uint64_t end, size;
        assert_int_equal(parse_seg(p, ents, NB, &end, &size), NB);
        assert_int_equal(end, size);
        size_t k = NB - cases[ci].from_end;
        uint64_t cut;
        size_t kept; /* B records kept */
        switch (cases[ci].where) {
        case CUT_HDR_MID: cut = ents[k].off + cases[ci].delta; kept = k; break;
        case CUT_SEQ_MID: cut = ents[k].off + ENTRY_HEADER + cases[ci].delta; kept = k; break;
        case CUT_PAYLOAD_MID:
            assert_true(cases[ci].delta < bsizes[k]);
            cut = ents[k].off + REC_OVERHEAD + cases[ci].delta;
            kept = k;
            break;
        default: cut = ents[k].off + ENTRY_HEADER + ents[k].len; kept = k + 1; break;
        }
        uint64_t good = kept ? ents[kept - 1].off + ENTRY_HEADER + ents[kept - 1].len : SEG_HEADER;
        assert_int_equal(truncate(p, (off_t)cut), 0);
        for (size_t i = na + kept; i < m.n; i++) m.r[i].acked = true; /* lost */

        wal_open_stats_t st;
        w = open_wal(dir, 0, 0, &st);
        if (st.bytes_cut != cut - good)
            fail_msg("case %s: bytes_cut %llu, expected %llu", cases[ci].name,
                     (unsigned long long)st.bytes_cut, (unsigned long long)(cut - good));
        assert_int_equal(st.segments_cut, cut != good);
        assert_int_equal(st.segments, 2);
        assert_int_equal(st.records, na + kept);
        assert_int_equal(file_size(p), good);
        assert_int_equal(wal_live_records(w), model_live(&m));
        expect_replay(w, &m);

        /* new appends after reopen work and come back next time */
        for (size_t i = na + kept; i < m.n; i++) m.r[i].seq = 0; /* cut: forget */
        uint64_t prev = kept ? m.r[na + kept - 1].seq : m.r[na - 1].seq;
        append_many(w, &m, 3, (const size_t[]){11, 222}, 2);
        assert_true(m.r[m.n - 3].seq > prev);
        assert_int_equal(wal_sync(w), 0);
        w = reopen_check(w, dir, 0, &m, &st);
        assert_int_equal(st.bytes_cut, 0);
        assert_int_equal(st.segments_cut, 0);
        wal_close(w);
        model_free(&m);
        rm_tree(dir);
    }
}

/* ================================================================ corruption */

typedef enum { C_PAYLOAD, C_SEQ, C_CRC, C_TYPE, C_LEN_LOW, C_LEN_HIGH, C_TYPE_VALID_CRC } corrupt_t;

static void corrupt_entry(const char *p, const ent_t *e, corrupt_t how)
{
    switch (how) {
    case C_PAYLOAD: flip_byte(p, e->off + REC_OVERHEAD + e->len / 3); break;
    case C_SEQ: flip_byte(p, e->off + ENTRY_HEADER); break;
    case C_CRC: flip_byte(p, e->off + 4); break;
    case C_TYPE: flip_byte(p, e->off + 8); break;
    case C_LEN_LOW: flip_byte(p, e->off); break;
    case C_LEN_HIGH: flip_byte(p, e->off + 3); break;
    case C_TYPE_VALID_CRC: {
        /* type 3 with a matching CRC: unknown type */
        size_t n = 1 + e->len;
        char *b = malloc(n);
        assert_non_null(b);
        read_at(p, e->off + 8, b, n);
        b[0] = 3;
        uint32_t crc = crc32c_update(0, b, n);
        write_at(p, e->off + 4, &crc, 4);
        write_at(p, e->off + 8, b, 1);
        free(b);
        break;
    }
    }
}

static void test_corrupt_last_segment(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        size_t k; /* entry of the last segment to damage (0-based) */
        corrupt_t how;
    } cases[] = {
        {"payload of entry 3", 3, C_PAYLOAD},
        {"payload of the last", 9, C_PAYLOAD},
        {"payload of the first", 0, C_PAYLOAD},
        {"seq", 5, C_SEQ},
        {"crc", 4, C_CRC},
        {"type", 6, C_TYPE},
        {"len low byte", 2, C_LEN_LOW},
        {"len high byte", 7, C_LEN_HIGH},
        {"unknown type, valid crc", 1, C_TYPE_VALID_CRC},
    };
    for (size_t ci = 0; ci < N(cases); ci++) {
        char dir[64];
        make_tmpdir(dir, sizeof dir);
        model_t m = {0};
        wal_t *w = open_wal(dir, 0, 0, NULL);
        append_many(w, &m, 4, (const size_t[]){64}, 1);
        assert_int_equal(wal_sync(w), 0);
        wal_close(w);
        w = open_wal(dir, 0, 0, NULL);
        expect_replay(w, &m);
        size_t na = m.n;
        append_many(w, &m, 10, (const size_t[]){90, 400, 7}, 3);
        assert_int_equal(wal_sync(w), 0);
        wal_close(w);

        char p[512];
        seg_file(dir, 2, p, sizeof p);
        ent_t ents[10];
        uint64_t size;
        assert_int_equal(parse_seg(p, ents, 10, NULL, &size), 10);
        size_t k = cases[ci].k;
        corrupt_entry(p, &ents[k], cases[ci].how);
        for (size_t i = na + k; i < m.n; i++) m.r[i].acked = true;

        wal_open_stats_t st;
        w = open_wal(dir, 0, 0, &st);
        if (st.bytes_cut != size - ents[k].off)
            fail_msg("case %s: bytes_cut %llu, expected %llu", cases[ci].name,
                     (unsigned long long)st.bytes_cut, (unsigned long long)(size - ents[k].off));
        assert_int_equal(st.segments_cut, 1);
        assert_int_equal(st.records, na + k);
        assert_int_equal(file_size(p), ents[k].off);
        expect_replay(w, &m);
        wal_close(w);
        model_free(&m);
        rm_tree(dir);
    }
}

static void test_corrupt_middle_segment(void **state)
{
    (void)state;
    enum { SEG = 4096 };
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    model_t m = {0};
    wal_t *w = open_wal(dir, SEG, 0, NULL);
    append_many(w, &m, 7 * 3, (const size_t[]){500}, 1);
    assert_int_equal(wal_sync(w), 0);
    wal_close(w);
    uint64_t nums[16];
    assert_int_equal(list_segs(dir, nums, N(nums)), 3);

    char p[512];
    seg_file(dir, 2, p, sizeof p);
    ent_t ents[16];
    uint64_t size;
    size_t n = parse_seg(p, ents, N(ents), NULL, &size);
    assert_true(n >= 4);
    flip_byte(p, ents[2].off + REC_OVERHEAD + 100);
    for (size_t i = 0; i < m.n; i++)
        if (m.r[i].seq >= ents[2].seq && m.r[i].seq <= ents[n - 1].seq) m.r[i].acked = true;

    wal_open_stats_t st;
    w = open_wal(dir, SEG, 0, &st);
    assert_int_equal(st.segments, 3);
    assert_int_equal(st.segments_cut, 1);
    assert_int_equal(st.bytes_cut, size - ents[2].off);
    assert_int_equal(file_size(p), ents[2].off);
    assert_int_equal(wal_live_records(w), model_live(&m));
    expect_replay(w, &m); /* segment 3 is read in full */
    append_many(w, &m, 2, (const size_t[]){10}, 1);
    assert_int_equal(wal_sync(w), 0);
    w = reopen_check(w, dir, SEG, &m, &st);
    assert_int_equal(st.bytes_cut, 0);
    wal_close(w);
    model_free(&m);
    rm_tree(dir);
}

/* ================================================================ not a segment */

typedef enum { B_MAGIC, B_NUMBER, B_SHORT, B_SHORT20, B_EMPTY } bad_t;

static void test_bad_segment_moved_aside(void **state)
{
    (void)state;
    enum { SEG = 4096 };
    static const struct {
        const char *name;
        bad_t how;
        uint64_t which; /* segment number of 3 */
    } cases[] = {
        {"bad magic, middle", B_MAGIC, 2},
        {"bad magic, last", B_MAGIC, 3},
        {"bad magic, first", B_MAGIC, 1},
        {"number differs from the name", B_NUMBER, 2},
        {"shorter than a header", B_SHORT, 2},
        {"header cut in the next-seq field", B_SHORT20, 2},
        {"empty", B_EMPTY, 3},
    };
    for (size_t ci = 0; ci < N(cases); ci++) {
        char dir[64];
        make_tmpdir(dir, sizeof dir);
        model_t m = {0};
        wal_t *w = open_wal(dir, SEG, 0, NULL);
        append_many(w, &m, 7 * 3, (const size_t[]){500}, 1);
        assert_int_equal(wal_sync(w), 0);
        wal_close(w);
        uint64_t nums[16];
        assert_int_equal(list_segs(dir, nums, N(nums)), 3);
        uint64_t first, last;
        seg_seq_range(dir, cases[ci].which, &first, &last);
        char p[512], bad[600];
        seg_file(dir, cases[ci].which, p, sizeof p);
        snprintf(bad, sizeof bad, "%s.bad", p);
        switch (cases[ci].how) {
        case B_MAGIC: write_at(p, 6, "9", 1); break;
        case B_NUMBER: {
            uint64_t x = 77;
            write_at(p, 8, &x, 8);
            break;
        }
        case B_SHORT: assert_int_equal(truncate(p, 10), 0); break;
        case B_SHORT20: assert_int_equal(truncate(p, 20), 0); break;
        case B_EMPTY: assert_int_equal(truncate(p, 0), 0); break;
        }
        for (size_t i = 0; i < m.n; i++)
            if (m.r[i].seq >= first && m.r[i].seq <= last) m.r[i].acked = true;

        wal_open_stats_t st;
        w = open_wal(dir, SEG, 0, &st);
        expect_replay(w, &m);
        /* the records of the file moved aside are gone: their seqs may come again */
        for (size_t i = 0; i < m.n; i++)
            if (m.r[i].seq >= first && m.r[i].seq <= last) m.r[i].seq = 0;
        assert_false(path_exists(p));
        assert_true(path_exists(bad));
        assert_int_equal(st.segments, 2);
        assert_int_equal(st.segments_cut, 1);
        assert_int_equal(wal_live_records(w), model_live(&m));
        append_many(w, &m, 3, (const size_t[]){20}, 1);
        assert_int_equal(wal_sync(w), 0);
        w = reopen_check(w, dir, SEG, &m, &st);
        assert_int_equal(st.segments_cut, 0);
        assert_true(path_exists(bad));
        wal_close(w);
        model_free(&m);
        rm_tree(dir);
    }
}

/* A segment written by the previous format (same magic "LDWAL01\n", 16-byte header
 * without the next-seq field) must not be destroyed by wal_open: either its records are
 * read, or the file is kept intact (e.g. moved aside as *.bad). */
static void test_previous_format_segment_kept(void **state)
{
    (void)state;
    char dir[64], p[512], bad[600];
    make_tmpdir(dir, sizeof dir);
    seg_file(dir, 1, p, sizeof p);
    snprintf(bad, sizeof bad, "%s.bad", p);
    char img[4096];
    size_t len = 0;
    memcpy(img, "LDWAL01\n", 8);
    uint64_t number = 1;
    memcpy(img + 8, &number, 8);
    len = 16;
    for (uint64_t seq = 1; seq <= 3; seq++) {
        char rec[100];
        fill_rec(rec, 500 + (uint32_t)seq, sizeof rec);
        uint32_t elen = 8 + sizeof rec;
        img[len + 8] = 1;
        memcpy(img + len + 9, &seq, 8);
        memcpy(img + len + 17, rec, sizeof rec);
        uint32_t crc = crc32c_update(0, img + len + 8, 1 + (size_t)elen);
        memcpy(img + len, &elen, 4);
        memcpy(img + len + 4, &crc, 4);
        len += 9 + elen;
    }
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(img, 1, len, f), len);
    fclose(f);

    wal_open_stats_t st;
    wal_t *w = open_wal(dir, 0, 0, &st);
    coll_t c = {0};
    assert_int_equal(wal_replay(w, collect_cb, &c), 0);
    size_t replayed = c.n;
    coll_free(&c);
    uint64_t seq = 0;
    assert_int_equal(wal_append(w, "x", 1, &seq), 0);
    wal_close(w);
    /* where are the original bytes now? */
    bool intact = false;
    const char *where[] = {p, bad};
    for (size_t i = 0; i < N(where); i++) {
        FILE *g = fopen(where[i], "rb");
        if (!g) continue;
        char now[4096];
        size_t n = fread(now, 1, sizeof now, g);
        fclose(g);
        intact |= n == len && !memcmp(now, img, len);
    }
    rm_tree(dir);
    if (replayed != 3 && !intact)
        fail_msg("a previous-format segment (16-byte header, 3 records) was truncated: %zu "
                 "records replayed, %llu bytes cut, file not kept intact; next seq %llu",
                 replayed, (unsigned long long)st.bytes_cut, (unsigned long long)seq);
    if (seq > 1000)
        fail_msg("next seq after opening a previous-format segment is %llu (read from record "
                 "bytes as the header's next-seq field)", (unsigned long long)seq);
}

/* Files that are not segments by name are left alone and do not stop wal_open. */
static void test_foreign_files_ignored(void **state)
{
    (void)state;
    static const char *const names[] = {
        "deadletter.log", "analyzers.db", "wal-0000000000000001.log.bad", "wal-.log",
        "wal-0000000000000009.logx", "wal-zzzz.log", "README", "wal-0000000000000002.tmp",
        /* not the 16-hex-digit names the WAL writes, but sscanf("wal-%16llx.%7s") takes them */
        "wal-5.log", "wal-1.log",
    };
    int failed = 0;
    for (size_t ci = 0; ci < N(names); ci++) {
        char dir[64];
        make_tmpdir(dir, sizeof dir);
        model_t m = {0};
        wal_t *w = open_wal(dir, 0, 0, NULL);
        append_many(w, &m, 3, (const size_t[]){30}, 1);
        assert_int_equal(wal_sync(w), 0);
        wal_close(w);
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, names[ci]);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fputs("not a segment\n", f);
        fclose(f);
        wal_options_t o = {dir, 0, 0, NULL};
        int rc = wal_open(&o, &w, NULL);
        if (rc) {
            print_error("a file named \"%s\" in the WAL directory makes wal_open fail: %s\n",
                        names[ci], strerror(-rc));
            failed++;
        } else {
            expect_replay(w, &m);
            if (wal_disk_bytes(w) != segs_bytes(dir) || wal_segment_count(w) != 1) {
                print_error("with a file named \"%s\": wal_disk_bytes %llu (segments take "
                            "%llu), wal_segment_count %llu (1 segment)\n",
                            names[ci], (unsigned long long)wal_disk_bytes(w),
                            (unsigned long long)segs_bytes(dir),
                            (unsigned long long)wal_segment_count(w));
                failed++;
            }
            wal_close(w);
        }
        model_free(&m);
        rm_tree(dir);
    }
    if (failed) fail_msg("%d of %zu names failed", failed, N(names));
}

/* ================================================================ disk budget */

static void test_disk_budget(void **state)
{
    (void)state;
    static const struct {
        uint64_t seg_bytes, max;
        size_t len;
    } cases[] = {
        {0, SEG_HEADER + REC_OVERHEAD + 100, 100}, /* exactly one record */
        {0, 1000, 100},
        {0, 5000, 333},
        {600, 3000, 100}, /* several segments */
        {600, 3000, 0},
        {0, 120, 100},    /* one record does not fit with its segment header */
        {600, 2100, 100}, /* 4 records a segment: the fifth segment's header does not fit */
    };
    int failed = 0;
    for (size_t ci = 0; ci < N(cases); ci++) {
        char dir[64];
        make_tmpdir(dir, sizeof dir);
        model_t m = {0};
        wal_t *w = open_wal(dir, cases[ci].seg_bytes, cases[ci].max, NULL);
        size_t len = cases[ci].len;
        assert_true(wal_has_room(w, 0, 0));
        size_t appended = 0;
        bool over = false;
        while (wal_has_room(w, len, 1)) {
            append_tag(w, &m, g_tag++, len);
            assert_int_equal(wal_flush(w), 0);
            appended++;
            assert_int_equal(wal_disk_bytes(w), segs_bytes(dir));
            if (wal_disk_bytes(w) > cases[ci].max && !over) {
                print_error("case %zu (segment_bytes %llu): wal_has_room(%zu, 1) said yes before "
                            "record %zu, then the WAL takes %llu bytes > max_disk_bytes %llu\n",
                            ci, (unsigned long long)cases[ci].seg_bytes, len, appended,
                            (unsigned long long)wal_disk_bytes(w),
                            (unsigned long long)cases[ci].max);
                over = true;
                failed++;
            }
            assert_true(appended < 100000);
        }
        assert_false(wal_has_room(w, len, 1));
        assert_false(wal_has_room(w, len * 2, 2));
        if (cases[ci].max >= SEG_HEADER + REC_OVERHEAD + len) assert_true(appended >= 1);
        /* the budget counts what is already on disk after a reopen */
        w = reopen_check(w, dir, cases[ci].seg_bytes, &m, NULL);
        wal_close(w);
        w = open_wal(dir, cases[ci].seg_bytes, cases[ci].max, NULL);
        assert_int_equal(wal_disk_bytes(w), segs_bytes(dir));
        assert_false(wal_has_room(w, len + 2 * REC_OVERHEAD + SEG_HEADER, 1));
        wal_close(w);
        model_free(&m);
        rm_tree(dir);
    }

    /* packets of several records: wal_has_room(k * len, k) then k appends */
    static const struct {
        uint64_t seg_bytes, max;
        size_t len, k;
    } packets[] = {
        {0, 4000, 100, 3},
        {4096, 20000, 1000, 5},  /* 4 records a segment */
        {600, 1930, 283, 3},     /* 300-byte entries: one a segment (two take 624) */
        {600, 3000, 150, 4},     /* 167-byte entries: three a segment */
    };
    for (size_t ci = 0; ci < N(packets); ci++) {
        char dir[64];
        make_tmpdir(dir, sizeof dir);
        model_t m = {0};
        wal_t *w = open_wal(dir, packets[ci].seg_bytes, packets[ci].max, NULL);
        size_t len = packets[ci].len, k = packets[ci].k, rounds = 0;
        bool over = false;
        while (wal_has_room(w, len * k, k) && rounds < 10000) {
            uint64_t before = wal_disk_bytes(w);
            append_many(w, &m, k, &len, 1);
            assert_int_equal(wal_flush(w), 0);
            rounds++;
            if (wal_disk_bytes(w) > packets[ci].max && !over) {
                print_error("packet case %zu: wal_has_room(%zu, %zu) said yes at %llu bytes, "
                            "then the WAL takes %llu bytes > max_disk_bytes %llu\n",
                            ci, len * k, k, (unsigned long long)before,
                            (unsigned long long)wal_disk_bytes(w),
                            (unsigned long long)packets[ci].max);
                over = true;
                failed++;
            }
        }
        assert_true(rounds >= 1);
        wal_close(w);
        model_free(&m);
        rm_tree(dir);
    }

    /* room comes back once acknowledged segments are deleted; 0 = unlimited */
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    model_t m = {0};
    wal_t *w = open_wal(dir, 1024, 8192, NULL);
    while (wal_has_room(w, 200, 1)) append_tag(w, &m, g_tag++, 200);
    assert_int_equal(wal_sync(w), 0);
    assert_false(wal_has_room(w, 200, 1));
    for (size_t i = 0; i < m.n; i++) ack_seq(w, &m, m.r[i].seq);
    assert_int_equal(wal_sync(w), 0);
    assert_true(wal_has_room(w, 200, 1));
    assert_true(wal_has_room(w, 4000, 10));
    wal_close(w);
    w = open_wal(dir, 0, 0, NULL);
    assert_true(wal_has_room(w, UINT64_MAX / 4, 1000));
    wal_close(w);
    model_free(&m);
    rm_tree(dir);
    if (failed) fail_msg("%d budget case(s) exceeded max_disk_bytes", failed);
}

/* ================================================================ big records */

static void test_max_size_records(void **state)
{
    (void)state;
    const size_t max_rec = MAX_ENTRY - 8;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    model_t m = {0};
    wal_t *w = open_wal(dir, 0, 0, NULL);
    char *big = malloc(max_rec + 64);
    assert_non_null(big);
    uint64_t seq = 0;
    /* too big: refused, nothing buffered */
    static const size_t over[] = {1, 2, 7, 4096};
    for (size_t i = 0; i < N(over); i++)
        assert_int_equal(wal_append(w, big, max_rec + over[i], &seq), -E2BIG);
    assert_int_equal(wal_live_records(w), 0);
    free(big);

    /* The largest accepted record costs ~15 s here (256 MiB copied, written, read twice
     * on a VM with slow page faults): only with LOGDIST_SLOW_TESTS=1. Otherwise 16 MiB. */
    const bool slow = getenv("LOGDIST_SLOW_TESTS") && !strcmp(getenv("LOGDIST_SLOW_TESTS"), "1");
    append_tag(w, &m, g_tag++, 10);
    append_tag(w, &m, g_tag++, slow ? max_rec : 16u << 20);
    append_tag(w, &m, g_tag++, 10);
    append_tag(w, &m, g_tag++, slow ? max_rec - 1 : (16u << 20) + 1);
    assert_int_equal(wal_sync(w), 0);
    assert_int_equal(wal_live_records(w), 4);
    w = reopen_check(w, dir, 0, &m, NULL);

    /* lengths where len + 8 wraps around: must be refused too (checked in a child, as
     * an accepted one makes wal_append memcpy SIZE_MAX bytes) */
    static const size_t huge[] = {SIZE_MAX - 7, SIZE_MAX - 4, SIZE_MAX};
    int bad_status[N(huge)];
    for (size_t i = 0; i < N(huge); i++) {
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            child_default_signals();
            int devnull = open("/dev/null", O_WRONLY);
            if (devnull >= 0) dup2(devnull, 2); /* a sanitizer report is expected */
            uint64_t s2;
            _exit(wal_append(w, "x", huge[i], &s2) == -E2BIG ? 0 : 1);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        bad_status[i] = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : status;
    }
    wal_close(w);
    model_free(&m);
    rm_tree(dir);
    for (size_t i = 0; i < N(huge); i++)
        if (bad_status[i])
            fail_msg("wal_append(len = SIZE_MAX - %zu) not refused with -E2BIG (child %s %d): "
                     "len + 8 wraps around in the size check",
                     SIZE_MAX - huge[i], WIFSIGNALED(bad_status[i]) ? "killed by signal" : "exit",
                     WIFSIGNALED(bad_status[i]) ? WTERMSIG(bad_status[i])
                                                : WEXITSTATUS(bad_status[i]));
}

/* ================================================================ crash */

static void test_crash_without_close(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* child: no cmocka asserts here, exit codes only */
        child_default_signals();
        wal_options_t o = {dir, 8192, 0, NULL};
        wal_t *w;
        if (wal_open(&o, &w, NULL)) _exit(10);
        char rec[800]; /* lengths 100 + 15 * i, i < 45 */
        for (uint32_t i = 0; i < 40; i++) {
            uint64_t seq;
            fill_rec(rec, 1000 + i, 100 + i * 15);
            if (wal_append(w, rec, 100 + i * 15, &seq) || seq != i + 1) _exit(11);
        }
        if (wal_sync(w)) _exit(12);
        uint64_t acks[] = {1, 2, 3, 10, 20, 40};
        if (wal_ack(w, acks, N(acks)) || wal_sync(w)) _exit(13);
        for (uint32_t i = 40; i < 45; i++) { /* buffered only: lost with the process */
            uint64_t seq;
            fill_rec(rec, 1000 + i, 100 + i * 15);
            if (wal_append(w, rec, 100 + i * 15, &seq)) _exit(14);
        }
        uint64_t late_ack = 5; /* buffered ack: lost too */
        wal_ack(w, &late_ack, 1);
        _exit(0); /* no wal_close */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    model_t m = {0};
    for (uint32_t i = 0; i < 40; i++) {
        if (m.n == m.cap) {
            m.cap = m.cap ? m.cap * 2 : 64;
            m.r = realloc(m.r, m.cap * sizeof *m.r);
            assert_non_null(m.r);
        }
        uint64_t s = i + 1;
        bool acked = s == 1 || s == 2 || s == 3 || s == 10 || s == 20 || s == 40;
        m.r[m.n++] = (mrec_t){s, 1000 + i, 100 + i * 15, acked};
    }
    wal_open_stats_t st;
    wal_t *w = open_wal(dir, 8192, 0, &st);
    assert_int_equal(st.bytes_cut, 0);
    assert_int_equal(st.records, 40);
    assert_int_equal(st.acked, 6);
    assert_int_equal(wal_live_records(w), 34);
    expect_replay(w, &m);
    uint64_t seq = append_tag(w, &m, g_tag++, 5);
    assert_true(seq > 40);
    assert_int_equal(wal_sync(w), 0);
    w = reopen_check(w, dir, 8192, &m, NULL);
    wal_close(w);
    model_free(&m);
    rm_tree(dir);
}

/* ================================================================ failed writes */

/* wal_sync with the file size limit at `limit` bytes (writes beyond -> EFBIG). */
static int sync_with_fsize_limit(wal_t *w, uint64_t limit)
{
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    if (old.rlim_max != RLIM_INFINITY && old.rlim_max < limit) skip();
    struct sigaction ign, prev;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    assert_int_equal(sigaction(SIGXFSZ, &ign, &prev), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)limit;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = wal_sync(w);
    int e = setrlimit(RLIMIT_FSIZE, &old);
    sigaction(SIGXFSZ, &prev, NULL);
    assert_int_equal(e, 0);
    return rc;
}

static void test_failed_write_is_cut(void **state)
{
    (void)state;
    char dir[64], p[512];
    make_tmpdir(dir, sizeof dir);
    seg_file(dir, 1, p, sizeof p);
    model_t m = {0};
    wal_t *w = open_wal(dir, 0, 0, NULL);
    append_many(w, &m, 3, (const size_t[]){100}, 1);
    assert_int_equal(wal_sync(w), 0);
    uint64_t good = file_size(p);
    uint64_t disk = wal_disk_bytes(w);

    /* two records, the write stops 50 bytes in */
    size_t before = m.n;
    append_many(w, &m, 2, (const size_t[]){300}, 1);
    int rc = sync_with_fsize_limit(w, good + 50);
    assert_true(rc < 0);
    for (size_t i = before; i < m.n; i++) m.r[i].acked = true; /* refused */
    assert_int_equal(file_size(p), good);                     /* partial entry cut */
    assert_int_equal(segs_bytes(dir), disk); /* (the refusal's ACK entry is buffered) */
    assert_int_equal(wal_live_records(w), model_live(&m));

    /* later writes land after the last good entry */
    append_many(w, &m, 2, (const size_t[]){77}, 1);
    assert_int_equal(wal_sync(w), 0);
    ent_t ents[16];
    uint64_t end, size;
    size_t nent = parse_seg(p, ents, N(ents), &end, &size), nrec = 0;
    for (size_t i = 0; i < nent; i++) nrec += ents[i].type == 1;
    assert_int_equal(nrec, 5); /* plus the ACK entry refusing the 2 failed seqs */
    assert_int_equal(end, size);
    wal_open_stats_t st;
    w = reopen_check(w, dir, 0, &m, &st);
    assert_int_equal(st.bytes_cut, 0);
    assert_int_equal(st.records, 5);
    wal_close(w);
    model_free(&m);
    rm_tree(dir);
}

/* After a failed write, the seqs of the refused records are a gap inside a segment. After
 * a restart, acknowledging such a seq ("unknown seqs are ignored", wal.h) must change
 * nothing; in particular it must not let a segment holding a live record be deleted. */
static void test_unknown_seq_in_gap_after_failed_write(void **state)
{
    (void)state;
    char dir[64], p[512];
    make_tmpdir(dir, sizeof dir);
    seg_file(dir, 1, p, sizeof p);
    model_t m = {0};
    wal_t *w = open_wal(dir, 0, 0, NULL);
    append_many(w, &m, 2, (const size_t[]){100}, 1); /* seqs 1, 2 */
    assert_int_equal(wal_sync(w), 0);
    uint64_t refused = append_tag(w, &m, g_tag++, 100); /* seq 3 */
    assert_true(sync_with_fsize_limit(w, file_size(p) + 10) < 0);
    m.r[m.n - 1].acked = true;
    uint64_t live_seq = append_tag(w, &m, g_tag++, 100); /* seq 4 */
    assert_int_equal(wal_sync(w), 0);
    w = reopen_check(w, dir, 0, &m, NULL); /* 1, 2, 4 */

    assert_int_equal(wal_ack(w, &refused, 1), 0); /* unknown: never written */
    uint64_t live_after_unknown = wal_live_records(w);
    ack_seq(w, &m, m.r[0].seq);
    ack_seq(w, &m, m.r[1].seq);
    append_tag(w, &m, g_tag++, 100); /* new segment 2: segment 1 is no longer the newest */
    assert_int_equal(wal_sync(w), 0);
    bool seg1_exists = seg_exists(dir, 1);
    wal_close(w);

    wal_open_stats_t st;
    w = open_wal(dir, 0, 0, &st);
    coll_t c = {0};
    assert_int_equal(wal_replay(w, collect_cb, &c), 0);
    bool replayed = false;
    for (size_t i = 0; i < c.n; i++) replayed |= c.g[i].seq == live_seq;
    coll_free(&c);
    wal_close(w);
    model_free(&m);
    rm_tree(dir);
    if (!replayed)
        fail_msg("record seq %llu (never acknowledged) was lost: segment 1 %s deleted after "
                 "acking the unknown seq %llu (live count went %llu -> %llu)",
                 (unsigned long long)live_seq, seg1_exists ? "was not" : "was",
                 (unsigned long long)refused, 3ull, (unsigned long long)live_after_unknown);
    assert_int_equal(live_after_unknown, 3);
}

/* An acknowledgement buffered together with records whose write then fails: wal_ack
 * reported success, wal_live_records no longer counts the record, so the ack must still
 * reach the disk with a later write (else the record is replayed after a clean restart). */
static void test_ack_survives_failed_write(void **state)
{
    (void)state;
    char dir[64], p[512];
    make_tmpdir(dir, sizeof dir);
    seg_file(dir, 1, p, sizeof p);
    model_t m = {0};
    wal_t *w = open_wal(dir, 0, 0, NULL);
    append_many(w, &m, 2, (const size_t[]){100}, 1); /* seqs 1, 2 */
    assert_int_equal(wal_sync(w), 0);
    ack_seq(w, &m, m.r[0].seq);
    append_tag(w, &m, g_tag++, 100); /* seq 3, refused below */
    assert_true(sync_with_fsize_limit(w, file_size(p) + 10) < 0);
    m.r[m.n - 1].acked = true;
    assert_int_equal(wal_live_records(w), 1);
    append_tag(w, &m, g_tag++, 100); /* seq 4 */
    assert_int_equal(wal_sync(w), 0);
    uint64_t live_before = wal_live_records(w);
    assert_int_equal(live_before, 2);
    wal_close(w);

    w = open_wal(dir, 0, 0, NULL);
    uint64_t live_after = wal_live_records(w);
    if (live_after == live_before) expect_replay(w, &m);
    wal_close(w);
    model_free(&m);
    rm_tree(dir);
    if (live_after != live_before)
        fail_msg("live records %llu before close, %llu after a clean reopen: the ack of seq 1 "
                 "was dropped with the failed write (seq 1 is replayed again)",
                 (unsigned long long)live_before, (unsigned long long)live_after);
}

/* ================================================================ injected faults */

static fault_io_t g_fi;

static wal_t *open_wal_io(const char *dir, uint64_t seg_bytes, wal_open_stats_t *st)
{
    wal_options_t o = {dir, seg_bytes, 0, &g_fi.io};
    wal_t *w = NULL;
    int rc = wal_open(&o, &w, st);
    if (rc) fail_msg("wal_open(%s): %s", dir, strerror(-rc));
    return w;
}

/* One round (appends, then wal_flush and wal_sync, as the durability writer and syncer
 * do) under an injected fault. Every record of a failed round must be refused: not
 * replayed after a restart. Records synced before it must survive, and once the fault is
 * cleared a new round must succeed (after an fsync failure, in a newer segment). */
typedef struct {
    const char *name;
    fault_t fault;
    uint64_t seg_bytes; /* 0 = default */
    size_t before, before_len; /* records synced before the faulty round */
    size_t round, round_len;   /* records of the faulty round */
    int want;                  /* errno the round fails with; 0 = it succeeds */
    uint64_t gate_seg;         /* an fsync of this segment failed: nothing later goes there */
} wal_fault_case_t;

static const wal_fault_case_t wal_fault_cases[] = {
    /* the 1 MiB buffer is written in the middle of the round (6th record) and fails */
    {"ENOSPC mid-round", {FAULT_WRITE, ENOSPC, .after_bytes = 100, .times = 1},
     0, 2, 1000, 8, 200000, ENOSPC, 0},
    {"EIO mid-round", {FAULT_WRITE, EIO, .after_bytes = 4096, .times = 1},
     0, 2, 1000, 8, 200000, EIO, 0},
    {"short writes then ENOSPC mid-round",
     {FAULT_WRITE, ENOSPC, .after_bytes = 300000, .times = 1, .max_chunk = 4096},
     0, 2, 1000, 8, 200000, ENOSPC, 0},
    {"ENOSPC in the round's last write", {FAULT_WRITE, ENOSPC, .after_bytes = 10, .times = 1},
     0, 2, 1000, 3, 1000, ENOSPC, 0},
    {"EIO on write, the cut fails too",
     {FAULT_WRITE, EIO, .after_bytes = 50, .times = 1, .ftruncate_err = EIO},
     0, 2, 1000, 3, 1000, EIO, 0},
    {"short writes only", {FAULT_WRITE, 0, .times = -1, .max_chunk = 777},
     0, 2, 1000, 8, 200000, 0, 0},
    {"EIO on fdatasync", {FAULT_FDATASYNC, EIO, .times = 1},
     0, 2, 1000, 3, 1000, EIO, 1},
    {"ENOSPC on fdatasync", {FAULT_FDATASYNC, ENOSPC, .times = 1},
     0, 2, 1000, 3, 1000, ENOSPC, 1},
    /* 64 KiB segments: the round rolls; the new segment's header cannot be synced */
    {"EIO on fdatasync of a new segment at roll",
     {FAULT_FDATASYNC, EIO, .times = 1, .path_suffix = "wal-0000000000000002.log"},
     65536, 50, 1000, 30, 1000, EIO, 0},
    /* the round rolls; the old segment, holding the round's first records, fails */
    {"EIO on fdatasync of the old segment at roll",
     {FAULT_FDATASYNC, EIO, .times = 1, .path_suffix = "wal-0000000000000001.log"},
     65536, 50, 1000, 30, 1000, EIO, 1},
};

static void check_gate(const char *dir, const model_t *m, size_t after_from, uint64_t gate_seg,
                       const char *name)
{
    uint64_t first, last;
    seg_seq_range(dir, gate_seg, &first, &last);
    for (size_t i = after_from; i < m->n; i++)
        if (m->r[i].seq >= first && m->r[i].seq <= last && first)
            fail_msg("%s: seq %llu written after the fsync failure went to segment %llu again",
                     name, (unsigned long long)m->r[i].seq, (unsigned long long)gate_seg);
}

static void run_wal_fault_case(const wal_fault_case_t *c)
{
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    model_t m = {0};
    fault_io_init(&g_fi);
    wal_t *w = open_wal_io(dir, c->seg_bytes, NULL);
    append_many(w, &m, c->before, (const size_t[]){c->before_len}, 1);
    assert_int_equal(wal_sync(w), 0);

    fault_arm(&g_fi, &c->fault);
    size_t round_from = m.n;
    char *b = malloc(c->round_len);
    assert_non_null(b);
    for (size_t i = 0; i < c->round; i++) {
        uint32_t tag = g_tag++;
        fill_rec(b, tag, c->round_len);
        uint64_t seq = 0;
        int rc = wal_append(w, b, c->round_len, &seq);
        if (rc && rc != -c->want)
            fail_msg("%s: append #%zu: %s, expected %s", c->name, i, strerror(-rc),
                     c->want ? strerror(c->want) : "success");
        if (rc) continue; /* this packet is refused by the caller */
        if (m.n == m.cap) {
            m.cap = m.cap ? m.cap * 2 : 64;
            m.r = realloc(m.r, m.cap * sizeof *m.r);
            assert_non_null(m.r);
        }
        m.r[m.n++] = (mrec_t){seq, tag, c->round_len, false};
    }
    free(b);
    int rc = wal_flush(w);
    if (!rc) rc = wal_sync(w);
    if (rc != -c->want)
        fail_msg("%s: the round ended with %s, expected %s (%d faults injected)", c->name,
                 rc ? strerror(-rc) : "success", c->want ? strerror(c->want) : "success",
                 fault_injected(&g_fi));
    if (c->want)
        for (size_t i = round_from; i < m.n; i++) m.r[i].acked = true; /* refused: 503 */
    assert_int_equal(wal_live_records(w), model_live(&m));

    /* the fault clears: the log serves again */
    fault_clear(&g_fi);
    size_t after_from = m.n;
    append_many(w, &m, 3, (const size_t[]){500}, 1);
    assert_int_equal(wal_sync(w), 0);
    if (c->gate_seg) check_gate(dir, &m, after_from, c->gate_seg, c->name);
    wal_close(w);
    w = open_wal(dir, c->seg_bytes, 0, NULL);
    assert_int_equal(wal_live_records(w), model_live(&m));
    expect_replay(w, &m); /* neither a refused record nor a lost acknowledged one */
    wal_close(w);
    model_free(&m);
    rm_tree(dir);
}

static void test_injected_faults(void **state)
{
    (void)state;
    const char *only = getenv("WAL_FAULT_CASE"); /* debugging: run one row */
    for (size_t i = 0; i < N(wal_fault_cases); i++)
        if (!only || (size_t)atoi(only) == i) run_wal_fault_case(&wal_fault_cases[i]);
}

/* A fault that persists (disk full for a while): every round fails, none hangs or grows
 * anything, and the first round after the fault clears succeeds. */
static void test_persistent_fault_then_recovery(void **state)
{
    (void)state;
    static const int errs[] = {ENOSPC, EIO};
    for (size_t k = 0; k < N(errs); k++) {
        char dir[64];
        make_tmpdir(dir, sizeof dir);
        model_t m = {0};
        fault_io_init(&g_fi);
        wal_t *w = open_wal_io(dir, 0, NULL);
        append_many(w, &m, 2, (const size_t[]){100}, 1);
        assert_int_equal(wal_sync(w), 0);
        fault_arm(&g_fi, &(fault_t){FAULT_WRITE, errs[k], .after_bytes = 0, .times = -1});
        char rec[100];
        memset(rec, 'x', sizeof rec);
        for (int round = 0; round < 20; round++) {
            for (int i = 0; i < 5; i++) {
                uint64_t seq;
                int rc = wal_append(w, rec, sizeof rec, &seq);
                assert_true(rc == 0 || rc == -errs[k]);
            }
            assert_int_equal(wal_flush(w), -errs[k]);
        }
        assert_int_equal(wal_live_records(w), 2);
        fault_clear(&g_fi);
        append_many(w, &m, 2, (const size_t[]){100}, 1);
        assert_int_equal(wal_sync(w), 0);
        wal_close(w);
        w = open_wal(dir, 0, 0, NULL);
        expect_replay(w, &m);
        wal_close(w);
        model_free(&m);
        rm_tree(dir);
    }
}

/* ================================================================ hostile segments */

/* A handcrafted segment: header, then entries built with put_rec / put_ack. */
typedef struct {
    char *b;
    size_t len, cap;
} seg_img_t;

static void img_bytes(seg_img_t *s, const void *p, size_t n)
{
    if (s->len + n > s->cap) {
        s->cap = (s->len + n) * 2 + 64;
        s->b = realloc(s->b, s->cap);
        assert_non_null(s->b);
    }
    memcpy(s->b + s->len, p, n);
    s->len += n;
}

static void img_header(seg_img_t *s, uint64_t number, uint64_t next_seq)
{
    img_bytes(s, "LDWAL02\n", 8);
    img_bytes(s, &number, 8);
    img_bytes(s, &next_seq, 8);
}

static void img_entry(seg_img_t *s, uint8_t type, const void *payload, uint32_t len)
{
    char *e = malloc(ENTRY_HEADER + len);
    assert_non_null(e);
    memcpy(e, &len, 4);
    e[8] = (char)type;
    memcpy(e + ENTRY_HEADER, payload, len);
    uint32_t crc = crc32c_update(0, e + 8, 1 + (size_t)len);
    memcpy(e + 4, &crc, 4);
    img_bytes(s, e, ENTRY_HEADER + len);
    free(e);
}

static void img_rec(seg_img_t *s, uint64_t seq, const char *text)
{
    size_t n = strlen(text);
    char p[256];
    assert_true(n + 8 <= sizeof p);
    memcpy(p, &seq, 8);
    memcpy(p + 8, text, n);
    img_entry(s, 1, p, (uint32_t)(8 + n));
}

static void img_ack(seg_img_t *s, const uint64_t *firsts, const uint32_t *counts, size_t runs)
{
    char p[12 * 128];
    assert_true(runs <= 128);
    for (size_t i = 0; i < runs; i++) {
        memcpy(p + 12 * i, &firsts[i], 8);
        memcpy(p + 12 * i + 8, &counts[i], 4);
    }
    img_entry(s, 2, p, (uint32_t)(12 * runs));
}

typedef struct {
    const char *name;
    uint64_t header_next_seq;
    size_t nrec;
    uint64_t seqs[4];     /* records, "r<i>" each */
    uint64_t ack_first;   /* an ACK entry of ack_runs runs after the records (0 = none) */
    uint32_t ack_count;
    size_t ack_runs;
    uint64_t tail_seq;    /* one more record after the ACK (0 = none) */
    size_t want_replayed; /* records replayed after open */
    bool want_cut;        /* the hostile entry is cut as corrupt */
    uint64_t sparse_size; /* then extend the file (a hole of zeros) to this size; 0 = no */
    uint64_t prior_next_seq; /* an empty segment 1 with this header next_seq comes first and
                                the hostile one is segment 2 (0 = none): the appends after
                                open roll, and the roll deletes what it may */
    uint64_t segment_number; /* of the hostile segment (file name and header); 0 = as above */
    int append_err;          /* the appends after open fail with this (0 = they work) */
} hostile_case_t;

static const hostile_case_t hostile_cases[] = {
    {"ACK count 2^32-1 (x100 runs)", 1, 3, {1, 2, 3}, 2, 0xFFFFFFFFu, 100, 0, 1, false, 0, 0, 0, 0},
    {"ACK first+count overflows", 1, 3, {1, 2, 3}, UINT64_MAX - 5, 100, 1, 4, 3, true, 0, 0, 0, 0},
    {"ACK of count 0", 1, 3, {1, 2, 3}, 1, 0, 1, 0, 3, true, 0, 0, 0, 0},
    {"sequence jump of 2^60", 1, 3, {1, 2, 1ull << 60}, 0, 0, 0, 0, 2, true, 0, 0, 0, 0},
    {"sequence jump of 2^40", 1, 3, {1, 2, 1ull << 40}, 0, 0, 0, 0, 2, true, 0, 0, 0, 0},
    {"record seq 0", 1, 2, {1, 0}, 0, 0, 0, 0, 1, true, 0, 0, 0, 0},
    {"record seq near 2^64", 1, 2, {1, UINT64_MAX}, 0, 0, 0, 0, 1, true, 0, 0, 0, 0},
    {"header next_seq 2^64-1", UINT64_MAX, 2, {1, 2}, 0, 0, 0, 0, 2, false, 0, 0, 0, 0},
    {"64 GiB segment file (sparse)", 1, 2, {1, 2}, 0, 0, 0, 0, 2, true, 64ull << 30, 0, 0, 0},
    /* a seq written twice, or below an earlier one: ignored by the scan, so not replayed */
    {"duplicate seq in a segment", 1, 4, {1, 2, 2, 3}, 0, 0, 0, 0, 3, false, 0, 0, 0, 0},
    {"out-of-order seq in a segment", 1, 3, {1, 5, 3}, 0, 0, 0, 0, 2, false, 0, 0, 0, 0},
    /* what a start accepts must not change when a roll deletes an older segment: a
     * record below an older header's next_seq stays ignored, and a record accepted
     * above it is not cut later as past the span of that lower one */
    {"records below an older empty segment's next_seq", 1, 3, {1, 2, 3}, 0, 0, 0, 0, 1, false, 0,
     3, 0, 0},
    {"record below an older next_seq, then one 2^31+ above", 8, 2, {8, 3338665993}, 0, 0, 0, 0, 1,
     false, 0, 1792, 0, 0},
    /* a roll after segment 2^64-1 wrapped to segment 0, read first at the next start (its
     * next_seq hid every older record): the records are read, a roll is refused */
    {"segment number 2^64-1", 1, 2, {1, 2}, 0, 0, 0, 0, 2, false, 0, 0, UINT64_MAX, -EOVERFLOW},
};

/* Runs in a child: 0 = as expected; else prints why. */
static int hostile_check(const hostile_case_t *c, const char *dir)
{
    uint64_t number = 1;
    char p[512];
    if (c->prior_next_seq) {
        seg_img_t e = {0};
        img_header(&e, number, c->prior_next_seq);
        seg_file(dir, number++, p, sizeof p);
        FILE *f = fopen(p, "wb");
        if (!f || fwrite(e.b, 1, e.len, f) != e.len || fclose(f)) return 2;
        free(e.b);
    }
    if (c->segment_number) number = c->segment_number;
    seg_img_t s = {0};
    img_header(&s, number, c->header_next_seq);
    for (size_t i = 0; i < c->nrec; i++) {
        char t[32];
        snprintf(t, sizeof t, "\"r%zu\"", i);
        img_rec(&s, c->seqs[i], t);
    }
    if (c->ack_runs) {
        uint64_t f[128];
        uint32_t n[128];
        for (size_t i = 0; i < c->ack_runs; i++) {
            f[i] = c->ack_first;
            n[i] = c->ack_count;
        }
        img_ack(&s, f, n, c->ack_runs);
    }
    if (c->tail_seq) img_rec(&s, c->tail_seq, "\"tail\"");
    seg_file(dir, number, p, sizeof p);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(s.b, 1, s.len, f) != s.len || fclose(f)) return 2;
    free(s.b);
    if (c->sparse_size && truncate(p, (off_t)c->sparse_size)) return 0; /* no sparse files here */

    wal_options_t o = {dir, 0, 0, NULL};
    wal_open_stats_t st;
    wal_t *w = NULL;
    int rc = wal_open(&o, &w, &st);
    if (rc) {
        fprintf(stderr, "%s: wal_open: %s\n", c->name, strerror(-rc));
        return 3;
    }
    coll_t first = {0};
    rc = wal_replay(w, collect_cb, &first);
    size_t got = first.n;
    if (rc || got != c->want_replayed) {
        fprintf(stderr, "%s: replayed %zu records (rc %d), expected %zu\n", c->name, got, rc,
                c->want_replayed);
        return 4;
    }
    if ((st.bytes_cut > 0) != c->want_cut) {
        fprintf(stderr, "%s: %llu bytes cut, expected %s\n", c->name,
                (unsigned long long)st.bytes_cut, c->want_cut ? "a cut" : "none");
        return 5;
    }
    /* the log still works: new seqs are > 0 and increasing (or it refuses them) */
    uint64_t a = 0, b = 0;
    if (c->append_err) {
        rc = wal_append(w, "{}", 2, &a);
        wal_close(w);
        if (rc != c->append_err) {
            fprintf(stderr, "%s: append after open: %d, expected %d\n", c->name, rc,
                    c->append_err);
            return 6;
        }
        w = NULL;
        coll_t again = {0};
        rc = wal_open(&o, &w, &st);
        if (!rc) rc = wal_replay(w, collect_cb, &again);
        bool same = !rc && again.n == first.n && !st.bytes_cut;
        for (size_t i = 0; same && i < first.n; i++)
            same = again.g[i].seq == first.g[i].seq && again.g[i].crc == first.g[i].crc;
        coll_free(&again);
        coll_free(&first);
        wal_close(w);
        if (!same) {
            fprintf(stderr, "%s: reopen after a refused append differs (rc %d)\n", c->name, rc);
            return 8;
        }
        return 0;
    }
    if (wal_append(w, "{}", 2, &a) || wal_append(w, "{}", 2, &b) || wal_sync(w) || !a || b <= a) {
        fprintf(stderr, "%s: appends after open gave seqs %llu, %llu\n", c->name,
                (unsigned long long)a, (unsigned long long)b);
        return 6;
    }
    wal_close(w);
    /* a second start (after that roll and what it deleted) recovers the same plus the
     * two appended, and cuts nothing */
    w = NULL;
    if ((rc = wal_open(&o, &w, &st))) {
        fprintf(stderr, "%s: reopen: %s\n", c->name, strerror(-rc));
        return 7;
    }
    coll_t col = {0};
    rc = wal_replay(w, collect_cb, &col);
    got = col.n;
    bool same = got == first.n + 2 && col.g[got - 2].seq == a && col.g[got - 1].seq == b;
    for (size_t i = 0; same && i < first.n; i++)
        same = col.g[i].seq == first.g[i].seq && col.g[i].crc == first.g[i].crc;
    coll_free(&col);
    coll_free(&first);
    wal_close(w);
    if (rc || !same || st.bytes_cut) {
        fprintf(stderr, "%s: reopen replayed %zu records (rc %d), expected %zu; %llu bytes cut\n",
                c->name, got, rc, c->want_replayed + 2, (unsigned long long)st.bytes_cut);
        return 8;
    }
    return 0;
}

static void test_hostile_segments(void **state)
{
    (void)state;
    const char *only = getenv("WAL_HOSTILE_CASE"); /* debugging: run one row */
    for (size_t i = 0; i < N(hostile_cases); i++) {
        if (only && (size_t)atoi(only) != i) continue;
        char dir[64];
        make_tmpdir(dir, sizeof dir);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            child_default_signals();
            alarm(60); /* a hang detector, not a timing assert: the fixed code takes ms */
            _exit(hostile_check(&hostile_cases[i], dir));
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        rm_tree(dir);
        if (!WIFEXITED(status) || WEXITSTATUS(status))
            fail_msg("%s: child %s %d", hostile_cases[i].name,
                     WIFEXITED(status) ? "exited with" : "killed by signal",
                     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
}

int main(void)
{
    log_set_level((log_level_t)(LOG_ERROR + 1)); /* quiet: the tests provoke warnings on purpose */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_crc32c_vectors, cleanup_dirs),
        cmocka_unit_test_teardown(test_crc32c_incremental, cleanup_dirs),
        cmocka_unit_test_teardown(test_open_empty_dir, cleanup_dirs),
        cmocka_unit_test_teardown(test_roundtrip_sizes, cleanup_dirs),
        cmocka_unit_test_teardown(test_replay_stops_on_callback_error, cleanup_dirs),
        cmocka_unit_test_teardown(test_open_errors, cleanup_dirs),
        cmocka_unit_test_teardown(test_acks, cleanup_dirs),
        cmocka_unit_test_teardown(test_segment_roll, cleanup_dirs),
        cmocka_unit_test_teardown(test_segment_deletion_rule, cleanup_dirs),
        cmocka_unit_test_teardown(test_acks_in_later_segment, cleanup_dirs),
        cmocka_unit_test_teardown(test_seq_continues_across_reopen, cleanup_dirs),
        cmocka_unit_test_teardown(test_torn_tail, cleanup_dirs),
        cmocka_unit_test_teardown(test_corrupt_last_segment, cleanup_dirs),
        cmocka_unit_test_teardown(test_corrupt_middle_segment, cleanup_dirs),
        cmocka_unit_test_teardown(test_bad_segment_moved_aside, cleanup_dirs),
        cmocka_unit_test_teardown(test_previous_format_segment_kept, cleanup_dirs),
        cmocka_unit_test_teardown(test_foreign_files_ignored, cleanup_dirs),
        cmocka_unit_test_teardown(test_disk_budget, cleanup_dirs),
        cmocka_unit_test_teardown(test_max_size_records, cleanup_dirs),
        cmocka_unit_test_teardown(test_crash_without_close, cleanup_dirs),
        cmocka_unit_test_teardown(test_failed_write_is_cut, cleanup_dirs),
        cmocka_unit_test_teardown(test_unknown_seq_in_gap_after_failed_write, cleanup_dirs),
        cmocka_unit_test_teardown(test_ack_survives_failed_write, cleanup_dirs),
        cmocka_unit_test_teardown(test_injected_faults, cleanup_dirs),
        cmocka_unit_test_teardown(test_persistent_fault_then_recovery, cleanup_dirs),
        cmocka_unit_test_teardown(test_hostile_segments, cleanup_dirs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
