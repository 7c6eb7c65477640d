/*
 * fuzz_wal.c - libFuzzer target for WAL recovery (src/store/wal.c): the bytes become
 * segment files in a private directory, then wal_open() + wal_replay() run on them as
 * logdistd does at start, and what comes back is checked against an independent
 * reading of the same files.
 *
 * Input: byte 0 = flags, the rest = segment images.
 *   bit 0     fix-up: the harness writes a valid header (magic, segment number = file
 *             number) and recomputes every entry's CRC32C, so mutations reach the
 *             entry semantics (seqs, ACK ranges, lengths) instead of dying at the CRC;
 *   bit 1     after the first replay, append one record, wal_sync(), close, reopen:
 *             the record must come back (a sync that returned 0 is a promise);
 *   bits 2-3  segment_bytes {default 64 MiB, 64, 4096, 65536} (rolls on append);
 * the images are the rest split before each "LDWAL02\n" (the segment magic); at most 8.
 * A file is named after its header's segment number (raw mode; file order when the
 * header is too short) or its position (fix-up mode).
 *
 * Oracle (the documented format, wal.h; read here independently of wal.c): per file,
 * the entries from offset 24 while length, CRC, type and size rules hold; RECORD = u64
 * seq + record bytes, ACK = { u64 first, u32 count }*. Invariants:
 *   1. every replayed (seq, bytes) is a RECORD entry of the files, byte for byte;
 *   2. replayed seqs strictly increase (oldest first, no record twice);
 *   3. a record whose seq occurs once is not replayed when a later ACK entry covers it
 *      (where the oracle can tell for sure that the WAL counts both: walk_segment);
 *   4. a second wal_open() of what the first left cuts nothing and replays the same;
 *   5. flag bit 1: a record appended and synced after recovery is replayed after reopen;
 *   6. no -ENOMEM from inputs this small (a huge allocation is a finding; libFuzzer's
 *      -malloc_limit_mb in fuzz.mk catches it first), no hang (ACK counts near 2^32).
 *
 * Build: make fuzz-build (tests/fuzz/fuzz.mk); run: build-fuzz/fuzz_wal DIR. Replayed
 * over corpus/fuzz_wal and regressions/fuzz_wal by ctest (unit/fuzz_replay_fuzz_wal).
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
#include "store/crc32c.h"
#include "store/wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAGIC "LDWAL02\n"
#define HDR 24
#define EHDR 9
#define MAX_SEGS 8
#define MAX_ENTRY (256u << 20)
#define SEQ_LIMIT (1ull << 62) /* wal.h: record seqs in [1, 2^62), ACK runs end below */
#define MAX_SPAN (1ull << 24)  /* wal.h: one segment's records span at most 2^24 seqs */
#define APPENDED "{\"fuzz_wal\":\"appended after recovery\"}"

static char g_dir[128];

typedef struct {
    uint64_t seq;
    const uint8_t *rec; /* into the oracle's copy of the input */
    size_t len;
    size_t pos;   /* global entry index (file order, then offset) */
    size_t seg;   /* index of its file in segment-number order */
    bool certain; /* the WAL must count it (see walk_segment); only those get invariant 3 */
} orec_t;

typedef struct {
    uint64_t first, count;
    size_t pos;
} oack_t;

typedef struct {
    orec_t *recs;
    size_t nrecs, caprecs;
    oack_t *acks;
    size_t nacks, capacks;
    size_t pos;
    uint8_t *imgs[MAX_SEGS]; /* the files as written, in segment-number order */
    size_t nimgs;
} oracle_t;

typedef struct {
    uint64_t seq;
    uint8_t *rec;
    size_t len;
} got_t;

typedef struct {
    got_t *v;
    size_t n, cap;
} gotlist_t;

static void fail(const char *msg)
{
    fprintf(stderr, "fuzz_wal: invariant violated: %s\n", msg);
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
    /* tmpfs when there is one: the WAL fsyncs, and a disk would make that the cost */
    struct stat sb;
    const char *base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/logdist-fuzz-wal.%ld", base, (long)getpid());
    mkdir(g_dir, 0700);
    atexit(remove_dir);
    /* cut tails are expected here: keep the output clean unless FUZZ_VERBOSE is set */
    log_set_level(getenv("FUZZ_VERBOSE") ? LOG_DEBUG : (log_level_t)(LOG_ERROR + 1));
    return 0;
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void *grow(void *v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) return v;
    size_t nc = *cap ? *cap * 2 : 16;
    void *r = realloc(v, nc * elem);
    if (!r) abort();
    *cap = nc;
    return r;
}

/* An ACK payload breaks the value rules of wal.h (an empty entry, an empty run, a run
 * from 0 or ending at or past 2^62): the WAL treats the entry as corrupt. */
static bool ack_values_bad(const uint8_t *p, uint32_t elen)
{
    if (!elen) return true;
    for (uint32_t i = 0; i < elen; i += 12) {
        uint64_t first = rd64(p + i);
        uint32_t n = rd32(p + i + 8);
        if (!first || !n || first >= SEQ_LIMIT || n > SEQ_LIMIT - first) return true;
    }
    return false;
}

/* Walk one segment image the way wal.h documents it; fix CRCs in place when asked.
 * The walk stops where the WAL must cut (length, CRC, type, size or value rules). Some
 * cuts depend on the WAL's running state (a record past its segment's 2^24 span counted
 * from the first record the WAL accepted; records below the header's or an earlier
 * segment's next seq are ignored): from the first record where that could apply, the
 * segment's records are "uncertain" and its later ACK entries are not used for
 * invariant 3 (invariants 1 and 2 hold regardless: the oracle keeps a superset). */
static void walk_segment(oracle_t *o, uint8_t *img, size_t len, bool fix)
{
    if (len < HDR || memcmp(img, MAGIC, 8)) return; /* the WAL moves such a file aside */
    uint64_t hdr_next = rd64(img + 16), first = 0, prev = 0;
    bool uncertain = false;
    size_t off = HDR;
    while (off + EHDR <= len) {
        uint32_t elen = rd32(img + off);
        if (elen > MAX_ENTRY || elen > len - off - EHDR) break;
        uint32_t crc = crc32c_update(0, img + off + 8, 1 + (size_t)elen);
        if (fix) memcpy(img + off + 4, &crc, 4);
        if (rd32(img + off + 4) != crc) break;
        int type = img[off + 8];
        const uint8_t *p = img + off + EHDR;
        bool rec = type == 1 && elen >= 8, ack = type == 2 && elen % 12 == 0;
        if (!rec && !ack) break;
        if (rec && (!rd64(p) || rd64(p) >= SEQ_LIMIT)) break;
        if (ack && ack_values_bad(p, elen)) break;
        if (rec) {
            uint64_t seq = rd64(p);
            if (!first) first = seq;
            if ((hdr_next < SEQ_LIMIT && seq < hdr_next) || seq < first || seq - first >= MAX_SPAN ||
                (prev && seq <= prev) || (o && o->nrecs && seq <= o->recs[o->nrecs - 1].seq))
                uncertain = true;
            prev = seq;
        }
        if (o && rec) {
            o->recs = grow(o->recs, &o->caprecs, o->nrecs, sizeof *o->recs);
            o->recs[o->nrecs++] =
                (orec_t){rd64(p), p + 8, elen - 8, o->pos++, o->nimgs, !uncertain};
        } else if (o) {
            for (uint32_t i = 0; i < elen && !uncertain; i += 12) {
                o->acks = grow(o->acks, &o->capacks, o->nacks, sizeof *o->acks);
                o->acks[o->nacks++] = (oack_t){rd64(p + i), rd32(p + i + 8), o->pos};
            }
            o->pos++;
        }
        off += EHDR + elen;
    }
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read back the segment files as the WAL will find them (names sort by number). */
static void oracle_build(oracle_t *o)
{
    DIR *d = opendir(g_dir);
    if (!d) fail("cannot open the WAL directory");
    char *names[MAX_SEGS];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_SEGS)
        if (!strncmp(e->d_name, "wal-", 4)) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 0; i < n; i++) {
        char p[400];
        snprintf(p, sizeof p, "%s/%s", g_dir, names[i]);
        free(names[i]);
        FILE *f = fopen(p, "rb");
        if (!f) fail("cannot read back a segment file");
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *img = malloc(len > 0 ? (size_t)len : 1);
        if (!img || (len > 0 && fread(img, 1, (size_t)len, f) != (size_t)len)) abort();
        fclose(f);
        walk_segment(o, img, (size_t)len, false);
        o->imgs[o->nimgs++] = img;
    }
}

static void oracle_free(oracle_t *o)
{
    for (size_t i = 0; i < o->nimgs; i++) free(o->imgs[i]);
    free(o->recs);
    free(o->acks);
}

static bool acked_later(const oracle_t *o, const orec_t *r)
{
    for (size_t i = 0; i < o->nacks; i++) {
        const oack_t *a = &o->acks[i];
        if (a->pos > r->pos && r->seq >= a->first && r->seq - a->first < a->count) return true;
    }
    return false;
}

static int collect(void *ctx, uint64_t seq, const char *rec, size_t len)
{
    gotlist_t *g = ctx;
    if (len > MAX_ENTRY) fail("replayed record longer than any entry");
    g->v = grow(g->v, &g->cap, g->n, sizeof *g->v);
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) abort();
    if (len) memcpy(copy, rec, len);
    g->v[g->n++] = (got_t){seq, copy, len};
    return 0;
}

static void got_free(gotlist_t *g)
{
    for (size_t i = 0; i < g->n; i++) free(g->v[i].rec);
    free(g->v);
    memset(g, 0, sizeof *g);
}

static void check_replay(const oracle_t *o, const gotlist_t *g)
{
    for (size_t i = 0; i < g->n; i++) {
        const got_t *x = &g->v[i];
        if (i && x->seq <= g->v[i - 1].seq) {
            fprintf(stderr, "replayed seq %llu after %llu\n", (unsigned long long)x->seq,
                    (unsigned long long)g->v[i - 1].seq);
            fail("replayed seqs do not strictly increase");
        }
        const orec_t *match = NULL;
        size_t same_seq = 0;
        for (size_t k = 0; k < o->nrecs; k++) {
            const orec_t *r = &o->recs[k];
            if (r->seq != x->seq) continue;
            same_seq++;
            if (!match && r->len == x->len && !memcmp(r->rec, x->rec, x->len)) match = r;
        }
        if (!match) {
            fprintf(stderr, "seq %llu (%zu bytes)\n", (unsigned long long)x->seq, x->len);
            fail("a replayed record is not a RECORD entry of the files");
        }
        if (same_seq == 1 && match->certain && acked_later(o, match)) {
            fprintf(stderr, "seq %llu\n", (unsigned long long)x->seq);
            fail("a record acknowledged by a later ACK entry was replayed");
        }
    }
}

static bool same_replay(const gotlist_t *a, const gotlist_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a->v[i].seq != b->v[i].seq || a->v[i].len != b->v[i].len ||
            memcmp(a->v[i].rec, b->v[i].rec, a->v[i].len))
            return false;
    return true;
}

static int write_file(uint64_t number, const uint8_t *img, size_t len)
{
    char p[400];
    snprintf(p, sizeof p, "%s/wal-%016llx.log", g_dir, (unsigned long long)number);
    FILE *f = fopen(p, "wb");
    if (!f) return -1;
    size_t w = len ? fwrite(img, 1, len, f) : 0;
    return fclose(f) == 0 && w == len ? 0 : -1;
}

/* Split `body` before each magic into at most MAX_SEGS images; write them (in fix-up
 * mode after giving each a valid header and valid CRCs). */
static void lay_out(uint8_t *body, size_t len, bool fix)
{
    size_t starts[MAX_SEGS + 1], n = 0;
    starts[n++] = 0;
    for (size_t i = 1; i + 8 <= len && n < MAX_SEGS; i++)
        if (!memcmp(body + i, MAGIC, 8)) starts[n++] = i;
    starts[n] = len;
    for (size_t s = 0; s < n; s++) {
        uint8_t *img = body + starts[s];
        size_t ilen = starts[s + 1] - starts[s];
        uint64_t number = s + 1;
        if (fix && ilen >= HDR) {
            memcpy(img, MAGIC, 8);
            memcpy(img + 8, &number, 8);
            walk_segment(NULL, img, ilen, true);
        } else if (!fix && ilen >= 16) {
            number = rd64(img + 8); /* named after its header, as the writer does */
        }
        if (write_file(number, img, ilen)) fail("cannot write a segment file");
    }
}

/* Open + replay; returns 0, or the error of wal_open/wal_replay. */
static int recover(const wal_options_t *opt, wal_t **w, wal_open_stats_t *st, gotlist_t *g)
{
    int rc = wal_open(opt, w, st);
    if (rc) return rc;
    rc = wal_replay(*w, collect, g);
    if (rc) {
        wal_close(*w);
        *w = NULL;
    }
    return rc;
}

static void check_rc(int rc, const char *what)
{
    if (rc == -ENOMEM) {
        fprintf(stderr, "%s: -ENOMEM\n", what);
        fail("out of memory on a small input (a size or count from the file is trusted)");
    }
}

/* Flag bit 1: append + sync after recovery, then the record must survive a reopen. */
static void append_and_reopen(const wal_options_t *opt, wal_t *w, const gotlist_t *before)
{
    uint64_t seq = 0;
    int rc = wal_append(w, APPENDED, sizeof APPENDED - 1, &seq);
    if (!rc) rc = wal_sync(w);
    wal_close(w);
    if (rc) return; /* refused: nothing was promised */
    if (before->n && seq <= before->v[before->n - 1].seq) {
        fprintf(stderr, "appended seq %llu, last replayed %llu\n", (unsigned long long)seq,
                (unsigned long long)before->v[before->n - 1].seq);
        fail("an appended record got a seq not above every replayed one");
    }
    gotlist_t g = {0};
    wal_t *w2 = NULL;
    rc = recover(opt, &w2, NULL, &g);
    check_rc(rc, "reopen after append");
    if (rc) fail("reopen after a synced append failed");
    wal_close(w2);
    if (g.n != before->n + 1 || !same_replay(before, &g, before->n) || g.v[before->n].seq != seq ||
        g.v[before->n].len != sizeof APPENDED - 1 ||
        memcmp(g.v[before->n].rec, APPENDED, sizeof APPENDED - 1))
    {
        fprintf(stderr, "appended seq %llu; replayed before: %zu, after reopen: %zu:",
                (unsigned long long)seq, before->n, g.n);
        for (size_t i = 0; i < g.n; i++)
            fprintf(stderr, " %llu(%zu B)", (unsigned long long)g.v[i].seq, g.v[i].len);
        fprintf(stderr, "\n");
        fail("a record appended and synced after recovery is not replayed after reopen");
    }
    got_free(&g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint64_t seg_sizes[4] = {0, 64, 4096, 65536};
    if (size < 1 || size > (1u << 20)) return 0;
    uint8_t flags = data[0];
    bool fix = flags & 1, append = flags & 2;
    size_t len = size - 1;
    uint8_t *body = malloc(len ? len : 1);
    if (!body) return 0;
    if (len) memcpy(body, data + 1, len);

    clear_dir();
    oracle_t o;
    memset(&o, 0, sizeof o);
    lay_out(body, len, fix);
    oracle_build(&o);
    wal_options_t opt = {.dir = g_dir, .segment_bytes = seg_sizes[(flags >> 2) & 3],
                         .max_disk_bytes = 0};
    wal_open_stats_t st1, st2;
    gotlist_t g1 = {0}, g2 = {0};
    wal_t *w = NULL;
    int rc = recover(&opt, &w, &st1, &g1);
    check_rc(rc, "first open");
    if (!rc) {
        check_replay(&o, &g1);
        if (st1.records < st1.acked) fail("open stats: more records acknowledged than read");
        if (append) {
            append_and_reopen(&opt, w, &g1);
        } else {
            wal_close(w);
            rc = recover(&opt, &w, &st2, &g2);
            check_rc(rc, "second open");
            if (rc) fail("a WAL that opened once does not open again");
            wal_close(w);
            if (st2.bytes_cut) fail("the second open cut bytes the first one kept");
            if (g2.n != g1.n || !same_replay(&g1, &g2, g1.n))
                fail("the second open replays something else");
        }
    }
    got_free(&g1);
    got_free(&g2);
    oracle_free(&o);
    free(body);
    return 0;
}
