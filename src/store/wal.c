/*
 * wal.c - see wal.h.
 *
 * In memory, each segment keeps the range of record sequence numbers it holds
 * and a bitmap of which of them are acknowledged; that gives exact live counts
 * (double acknowledgements are harmless) and lets replay skip acknowledged
 * records without a hash table. Segments hold increasing, disjoint seq ranges.
 * A segment's range spans at most MAX_SPAN seqs (the writer rolls before, a
 * reader cuts a record beyond it), so its bitmaps stay bounded whatever the
 * disk holds.
 *
 * Failure handling (wal.h "Write and fsync failures"): a round is everything
 * appended since the previous wal_flush/wal_sync. The first failed write or
 * roll latches round_err; every later append of the round fails at once, the
 * round's records are refused (acknowledged in the log, so never replayed) and
 * wal_flush/wal_sync return the error. A failed write is cut off; when the cut
 * fails too, or an fdatasync failed, the active segment is abandoned (closed,
 * never written again) and the next write starts a new one.
 */
#include "store/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"
#include "common/log.h"
#include "store/crc32c.h"

#define SEG_MAGIC "LDWAL02\n" /* 02: 24-byte header with next_seq */
#define SEG_HEADER 24
#define ENTRY_HEADER 9
#define T_RECORD 1
#define T_ACK 2
#define MAX_ENTRY (256u << 20)
#define BUF_FLUSH_AT (1u << 20)
#define SEQ_LIMIT (1ull << 62) /* seqs are in [1, SEQ_LIMIT): no overflow anywhere */
#define MAX_SPAN (1ull << 24)  /* seqs per segment range: bitmaps of at most 2 MiB each */
#define WALK_CUT 1             /* entry callback: treat this entry as corrupt */

typedef struct {
    uint64_t number;
    uint64_t first_seq; /* 0 while the segment holds no record */
    uint64_t last_seq;
    uint64_t records;
    uint64_t acked;
    uint64_t size;     /* bytes on disk */
    uint64_t *bits;    /* acked bitmap, bit i = seq first_seq + i */
    uint64_t *present; /* bit i set when seq first_seq + i is a record of this segment */
    size_t words;
    /* Its header's next_seq is at least every seq and next_seq before it, so the
     * older segments add nothing to how this one and the newer ones are read:
     * they may be deleted. Always true for segments this writer made; false only
     * for hostile or damaged files (see delete_done_segments). */
    bool anchor;
} segment_t;

struct wal {
    char dir[PATH_MAX - 64];
    wal_io_t io;
    uint64_t segment_bytes, max_disk_bytes;
    segment_t *segs; /* by number; the last one is active */
    size_t nsegs, cap;
    int fd;                 /* active segment; -1 before the first or after abandoning one */
    uint64_t synced_size;   /* size of the active segment at the last good write */
    wal_sync_fd_t *retired; /* segments rolled away from, not yet fdatasync'ed */
    size_t nretired, retired_cap;
    int round_err;            /* first I/O error of the round, 0 = none */
    uint64_t round_first_seq; /* next_seq when the round began */
    uint64_t sync_first_seq;  /* next_seq at the last wal_sync / wal_take_sync */
    uint64_t next_seq;
    uint64_t disk_bytes; /* sum of segment sizes, written bytes only */
    uint64_t live;
    char *buf; /* entries not yet written to the active segment */
    size_t buf_len, buf_cap;
    /* ACK entry being built in buf */
    size_t ack_entry_off; /* offset of the open ACK entry in buf, or SIZE_MAX */
    uint64_t ack_run_first, ack_run_count;
    uint64_t buf_first_seq; /* first record seq in buf, 0 when buf holds no record */
    uint64_t *pending_acks; /* seqs acknowledged in buf, re-encoded if a write fails */
    size_t npending, pending_cap;
    bool replayed;
};

/* ------------------------------------------------------------------ helpers */

static ssize_t sys_write(void *ctx, int fd, const void *buf, size_t len)
{
    (void)ctx;
    return write(fd, buf, len);
}
static int sys_fdatasync(void *ctx, int fd)
{
    (void)ctx;
    return fdatasync(fd);
}
static int sys_ftruncate(void *ctx, int fd, off_t len)
{
    (void)ctx;
    return ftruncate(fd, len);
}
static const wal_io_t sys_io = {sys_write, sys_fdatasync, sys_ftruncate, NULL};

static void put_u32(char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}
static void put_u64(char *p, uint64_t v)
{
    memcpy(p, &v, 8);
}
static uint32_t get_u32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t get_u64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Write all of buf (short writes continue, EINTR retried): 0 or -errno. */
static int write_all(wal_t *w, int fd, const char *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = w->io.write(w->io.ctx, fd, buf + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n < 0 ? -errno : -EIO;
        off += (size_t)n;
    }
    return 0;
}

static void seg_path(const wal_t *w, uint64_t number, char *out, size_t n)
{
    snprintf(out, n, "%s/wal-%016llx.log", w->dir, (unsigned long long)number);
}

static int buf_reserve(wal_t *w, size_t more)
{
    if (w->buf_len + more <= w->buf_cap) return 0;
    size_t ncap = w->buf_cap ? w->buf_cap * 2 : (1u << 16);
    while (ncap < w->buf_len + more)
        ncap *= 2;
    char *n = realloc(w->buf, ncap);
    if (!n) return -ENOMEM;
    w->buf = n;
    w->buf_cap = ncap;
    return 0;
}

static segment_t *seg_of(wal_t *w, uint64_t seq)
{
    /* few segments (disk budget / segment size); newest first, where acks land */
    for (size_t i = w->nsegs; i-- > 0;) {
        segment_t *t = &w->segs[i];
        if (t->first_seq && seq >= t->first_seq && seq <= t->last_seq) return t;
        if (t->first_seq && seq > t->last_seq) return NULL;
    }
    return NULL;
}

/* Note that `seq` now lives in segment s (grow its range and bitmap). */
static int seg_add_record(segment_t *s, uint64_t seq)
{
    if (!s->first_seq) s->first_seq = seq;
    if (seq < s->first_seq || seq - s->first_seq >= MAX_SPAN) return -EINVAL;
    s->last_seq = seq;
    size_t need = (size_t)((seq - s->first_seq) / 64 + 1);
    if (need > s->words) {
        size_t nw = s->words ? s->words * 2 : 64;
        while (nw < need)
            nw *= 2;
        uint64_t *nb = realloc(s->bits, nw * sizeof *nb);
        if (!nb) return -ENOMEM;
        memset(nb + s->words, 0, (nw - s->words) * sizeof *nb);
        s->bits = nb;
        uint64_t *np = realloc(s->present, nw * sizeof *np);
        if (!np) return -ENOMEM;
        memset(np + s->words, 0, (nw - s->words) * sizeof *np);
        s->present = np;
        s->words = nw;
    }
    uint64_t i = seq - s->first_seq;
    s->present[i / 64] |= 1ull << (i % 64);
    s->records++;
    return 0;
}

static bool seg_is_acked(const segment_t *s, uint64_t seq)
{
    uint64_t i = seq - s->first_seq;
    return (s->bits[i / 64] >> (i % 64)) & 1;
}

/* Acknowledge the records of s in [lo, hi] (inclusive, within s's range) a
 * word at a time; returns how many were live. */
static uint64_t seg_ack_range(segment_t *s, uint64_t lo, uint64_t hi)
{
    LD_ASSERT(s->first_seq && lo >= s->first_seq && lo <= hi && hi <= s->last_seq);
    uint64_t a = lo - s->first_seq, b = hi - s->first_seq, n = 0;
    for (uint64_t i = a / 64; i <= b / 64; i++) {
        uint64_t m = ~0ull;
        if (i == a / 64) m &= ~0ull << (a % 64);
        if (i == b / 64) m &= ~0ull >> (63 - b % 64);
        uint64_t fresh = s->present[i] & ~s->bits[i] & m;
        s->bits[i] |= fresh;
        n += (uint64_t)__builtin_popcountll(fresh);
    }
    s->acked += n;
    return n;
}

/* Mark seq acknowledged; returns true if it was a live record of s. */
static bool seg_ack(segment_t *s, uint64_t seq)
{
    uint64_t i = seq - s->first_seq;
    uint64_t m = 1ull << (i % 64);
    if (!(s->present[i / 64] & m) || (s->bits[i / 64] & m)) return false;
    s->bits[i / 64] |= m;
    s->acked++;
    return true;
}

/* Close the active segment for good (its fdatasync failed, or a failed write
 * could not be cut off): the next write starts a new segment. */
static void abandon_active(wal_t *w)
{
    if (w->fd < 0) return;
    log_event(LOG_ERROR, "wal", "wal_segment_abandoned",
              LOG_FIELDS(LF_STR("dir", w->dir), LF_UINT("segment", w->segs[w->nsegs - 1].number)),
              "%s: segment %016llx abandoned after an I/O error; writing goes on in a new one",
              w->dir, (unsigned long long)w->segs[w->nsegs - 1].number);
    close(w->fd);
    w->fd = -1;
}

static int fsync_dir(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return -errno;
    int rc = fsync(dfd) ? -errno : 0;
    close(dfd);
    return rc;
}

/* Start a new segment. The old active one is not fdatasync'ed here: its
 * descriptor is kept in `retired` for wal_sync / wal_take_sync, so the one
 * thread that syncs sees every fsync error (nobody consumes it on the side). */
static int open_new_segment(wal_t *w)
{
    if (w->fd >= 0 && w->nretired == w->retired_cap) {
        size_t nc = w->retired_cap ? w->retired_cap * 2 : 4;
        wal_sync_fd_t *n = realloc(w->retired, nc * sizeof *n);
        if (!n) return -ENOMEM;
        w->retired = n;
        w->retired_cap = nc;
    }
    if (w->nsegs == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 16;
        segment_t *n = realloc(w->segs, nc * sizeof *n);
        if (!n) return -ENOMEM;
        w->segs = n;
        w->cap = nc;
    }
    uint64_t number = w->nsegs ? w->segs[w->nsegs - 1].number + 1 : 1;
    /* never wrap to 0: that segment would be read first at the next start, before
     * every older one (only a hostile file is numbered 2^64-1) */
    if (!number) return -EOVERFLOW;
    char path[PATH_MAX];
    seg_path(w, number, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    char hdr[SEG_HEADER];
    memcpy(hdr, SEG_MAGIC, 8);
    put_u64(hdr + 8, number);
    put_u64(hdr + 16, w->next_seq); /* keeps seqs increasing even when every old segment is gone */
    int e = write_all(w, fd, hdr, SEG_HEADER);
    if (!e && w->io.fdatasync(w->io.ctx, fd)) e = errno ? -errno : -EIO;
    if (e) {
        close(fd);
        unlink(path);
        return e;
    }
    /* the new file's directory entry must be durable too, or its records are not */
    e = fsync_dir(w->dir);
    if (e) {
        close(fd);
        unlink(path);
        return e;
    }
    if (w->fd >= 0)
        w->retired[w->nretired++] = (wal_sync_fd_t){w->fd, w->segs[w->nsegs - 1].number};
    w->fd = fd;
    segment_t *s = &w->segs[w->nsegs++];
    memset(s, 0, sizeof *s);
    s->number = number;
    s->anchor = true; /* its header holds next_seq, above everything before it */
    s->size = SEG_HEADER;
    w->synced_size = SEG_HEADER;
    w->disk_bytes += SEG_HEADER;
    return 0;
}

/* Delete the oldest segments while they and all older ones are fully acknowledged.
 *
 * The scan ignores a record below the running next_seq, which older segments'
 * headers and records raise. Deleting them must not change what a later start
 * accepts (an ignored record coming back, or a lower record accepted so that a
 * recovered one is cut as past the span): the segment that becomes the oldest
 * must be an anchor, one whose own header carries all that context. Segments
 * this writer made always are; with hostile files, the older segments stay
 * until those that need them are done too. */
static void delete_done_segments(wal_t *w)
{
    size_t k = 0;
    while (k + 1 < w->nsegs && w->segs[k].acked == w->segs[k].records)
        k++;
    while (k && !w->segs[k].anchor) /* segs[0] is one */
        k--;
    if (!k) return;
    for (size_t i = 0; i < k; i++) {
        char path[PATH_MAX];
        seg_path(w, w->segs[i].number, path, sizeof path);
        if (unlink(path) && errno != ENOENT)
            log_error("wal", "cannot delete %s: %s", path, strerror(errno));
        w->disk_bytes -= w->segs[i].size;
        free(w->segs[i].bits);
        free(w->segs[i].present);
    }
    memmove(w->segs, w->segs + k, (w->nsegs - k) * sizeof *w->segs);
    w->nsegs -= k;
}

/* ------------------------------------------------------------------ open / scan */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Map a segment file read-only: its size costs address space, not memory, so
 * a huge (hostile or damaged) file is no huge allocation. Empty: *out = "". */
static int map_file(const char *path, const char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat st;
    if (fstat(fd, &st)) {
        int e = -errno;
        close(fd);
        return e;
    }
    *out = "";
    *len = 0;
    if (st.st_size > 0) {
        if ((uint64_t)st.st_size > SIZE_MAX) {
            close(fd);
            return -EFBIG;
        }
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = -errno;
            close(fd);
            return e;
        }
        madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
        *out = p;
        *len = (size_t)st.st_size;
    }
    close(fd);
    return 0;
}

static void unmap_file(const char *p, size_t len)
{
    if (len) munmap((void *)p, len);
}

/* Values no writer of ours produces (they pass the CRC only if written on
 * purpose): a record seq outside [1, SEQ_LIMIT), an ACK run that is empty or
 * ends at or past SEQ_LIMIT (overflow included). Such an entry is corrupt. */
static bool entry_values_ok(int type, const char *p, uint32_t len)
{
    if (type == T_RECORD) {
        uint64_t seq = get_u64(p);
        if (seq && seq < SEQ_LIMIT) return true;
        log_error("wal", "record with sequence number %llu: corrupt entry",
                  (unsigned long long)seq);
        return false;
    }
    for (uint32_t i = 0; i < len; i += 12) {
        uint64_t first = get_u64(p + i);
        uint32_t n = get_u32(p + i + 8);
        if (!first || !n || first >= SEQ_LIMIT || n > SEQ_LIMIT - first) {
            log_error("wal", "ACK run of %u from %llu: corrupt entry", n,
                      (unsigned long long)first);
            return false;
        }
    }
    return true;
}

/* Walk the entries of a segment image; returns the offset of the end of the
 * last good entry. For each good entry calls on_entry (may be NULL), which
 * returns 0, WALK_CUT (the entry counts as corrupt: stop before it) or an
 * error (stop, *stop = it). */
typedef int (*entry_fn)(void *ctx, int type, const char *payload, uint32_t len);
static size_t walk_entries(const char *b, size_t len, entry_fn on_entry, void *ctx, int *stop)
{
    size_t off = SEG_HEADER;
    while (off + ENTRY_HEADER <= len) {
        uint32_t elen = get_u32(b + off);
        uint32_t crc = get_u32(b + off + 4);
        if (elen > MAX_ENTRY || off + ENTRY_HEADER + elen > len) break;
        if (crc32c_update(0, b + off + 8, 1 + (size_t)elen) != crc) break;
        int type = (unsigned char)b[off + 8];
        if (type != T_RECORD && type != T_ACK) break;
        if (type == T_RECORD && elen < 8) break;
        if (type == T_ACK && (elen % 12 || !elen)) break;
        if (!entry_values_ok(type, b + off + ENTRY_HEADER, elen)) break;
        if (on_entry) {
            int rc = on_entry(ctx, type, b + off + ENTRY_HEADER, elen);
            if (rc == WALK_CUT) return off;
            if (rc) {
                *stop = rc;
                return off;
            }
        }
        off += ENTRY_HEADER + elen;
    }
    return off;
}

typedef struct {
    wal_t *w;
    segment_t *seg;
    wal_open_stats_t *st;
} scan_ctx_t;

static int scan_entry(void *ctx, int type, const char *p, uint32_t len)
{
    scan_ctx_t *c = ctx;
    wal_t *w = c->w;
    if (type == T_RECORD) {
        uint64_t seq = get_u64(p);
        if (seq < w->next_seq || (c->seg->first_seq && seq <= c->seg->last_seq))
            return 0; /* out of order: cannot happen with this writer; ignore */
        if (c->seg->first_seq && seq - c->seg->first_seq >= MAX_SPAN) {
            log_error("wal",
                      "record seq %llu is %llu past its segment's first (limit %llu): "
                      "corrupt entry",
                      (unsigned long long)seq, (unsigned long long)(seq - c->seg->first_seq),
                      (unsigned long long)MAX_SPAN);
            return WALK_CUT;
        }
        int rc = seg_add_record(c->seg, seq);
        if (rc) return rc;
        w->next_seq = seq + 1;
        c->st->records++;
        return 0;
    }
    /* runs were checked (entry_values_ok): first + n - 1 < SEQ_LIMIT. Each is
     * clamped to the segments' ranges, so its cost is bounded by what exists. */
    for (uint32_t i = 0; i < len; i += 12) {
        uint64_t first = get_u64(p + i);
        uint64_t last = first + get_u32(p + i + 8) - 1;
        for (size_t k = 0; k < w->nsegs; k++) {
            segment_t *sg = &w->segs[k];
            if (!sg->first_seq || last < sg->first_seq || first > sg->last_seq) continue;
            uint64_t lo = first > sg->first_seq ? first : sg->first_seq;
            uint64_t hi = last < sg->last_seq ? last : sg->last_seq;
            c->st->acked += seg_ack_range(sg, lo, hi);
        }
    }
    return 0;
}

int wal_open(const wal_options_t *o, wal_t **out, wal_open_stats_t *stats)
{
    wal_open_stats_t local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    if (strlen(o->dir) >= sizeof((wal_t *)0)->dir) return -ENAMETOOLONG;
    if (mkdir(o->dir, 0755) && errno != EEXIST) return -errno;
    wal_t *w = calloc(1, sizeof *w);
    if (!w) return -ENOMEM;
    memcpy(w->dir, o->dir, strlen(o->dir) + 1); /* length checked above */
    w->io = o->io ? *o->io : sys_io;
    w->segment_bytes = o->segment_bytes ? o->segment_bytes : (64u << 20);
    w->max_disk_bytes = o->max_disk_bytes;
    w->fd = -1;
    w->next_seq = 1;
    w->ack_entry_off = SIZE_MAX;

    /* find segment numbers */
    DIR *d = opendir(o->dir);
    if (!d) {
        int e = -errno;
        free(w);
        return e;
    }
    uint64_t *nums = NULL;
    size_t nn = 0, ncap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        unsigned long long num;
        const char *nm = de->d_name;
        bool ok = strlen(nm) == 24 && !strncmp(nm, "wal-", 4) && !strcmp(nm + 20, ".log");
        for (int k = 4; ok && k < 20; k++)
            ok = (nm[k] >= '0' && nm[k] <= '9') || (nm[k] >= 'a' && nm[k] <= 'f');
        if (ok && sscanf(nm + 4, "%16llx", &num) == 1) {
            if (nn == ncap) {
                ncap = ncap ? ncap * 2 : 16;
                uint64_t *t = realloc(nums, ncap * sizeof *t);
                if (!t) {
                    closedir(d);
                    free(nums);
                    free(w);
                    return -ENOMEM;
                }
                nums = t;
            }
            nums[nn++] = num;
        }
    }
    closedir(d);
    if (nn) qsort(nums, nn, sizeof *nums, cmp_u64);

    int rc = 0;
    for (size_t i = 0; i < nn; i++) {
        char path[PATH_MAX];
        seg_path(w, nums[i], path, sizeof path);
        const char *img = NULL;
        size_t len = 0;
        if ((rc = map_file(path, &img, &len))) break;
        if (len < SEG_HEADER || memcmp(img, SEG_MAGIC, 8) || get_u64(img + 8) != nums[i]) {
            log_error("wal", "%s: not a logdist WAL segment (%zu bytes); moved aside", path, len);
            char bad[PATH_MAX + 8];
            snprintf(bad, sizeof bad, "%s.bad", path);
            rename(path, bad);
            unmap_file(img, len);
            stats->segments_cut++;
            continue;
        }
        if (w->nsegs == w->cap) {
            size_t nc = w->cap ? w->cap * 2 : 16;
            segment_t *ns = realloc(w->segs, nc * sizeof *ns);
            if (!ns) {
                unmap_file(img, len);
                rc = -ENOMEM;
                break;
            }
            w->segs = ns;
            w->cap = nc;
        }
        segment_t *s = &w->segs[w->nsegs++];
        memset(s, 0, sizeof *s);
        s->number = nums[i];
        uint64_t hdr_next = get_u64(img + 16);
        if (hdr_next >= SEQ_LIMIT) {
            log_error("wal", "%s: header next_seq %llu is out of range; ignored", path,
                      (unsigned long long)hdr_next);
            hdr_next = 0;
        }
        /* the first segment found is an anchor: nothing is read before it */
        s->anchor = hdr_next >= w->next_seq || w->next_seq == 1;
        if (!s->anchor)
            log_warn("wal",
                     "%s: header next_seq %llu is below next_seq %llu of the older segments; "
                     "they are kept until this one can be deleted too",
                     path, (unsigned long long)hdr_next, (unsigned long long)w->next_seq);
        if (hdr_next > w->next_seq) w->next_seq = hdr_next;
        scan_ctx_t c = {w, s, stats};
        int stop = 0;
        size_t good = walk_entries(img, len, scan_entry, &c, &stop);
        unmap_file(img, len);
        if (stop) {
            rc = stop;
            break;
        }
        if (good < len) {
            log_warn("wal",
                     "%s: torn or corrupt tail: cut %zu bytes at offset %zu (last good entry)",
                     path, len - good, good);
            if (truncate(path, (off_t)good)) {
                rc = -errno;
                break;
            }
            stats->bytes_cut += len - good;
            stats->segments_cut++;
        }
        s->size = good;
        w->disk_bytes += good;
        stats->segments++;
    }
    free(nums);
    if (rc) {
        wal_close(w);
        return rc;
    }
    for (size_t i = 0; i < w->nsegs; i++)
        w->live += w->segs[i].records - w->segs[i].acked;
    w->round_first_seq = w->sync_first_seq = w->next_seq;
    *out = w;
    return 0;
}

typedef struct {
    wal_t *w;
    segment_t *seg;
    wal_replay_fn fn;
    void *ctx;
    uint64_t *last; /* last seq accepted, across segments */
} replay_ctx_t;

static int replay_entry(void *ctx, int type, const char *p, uint32_t len)
{
    replay_ctx_t *c = ctx;
    if (type != T_RECORD) return 0;
    uint64_t seq = get_u64(p);
    /* exactly the records the scan accepted: seqs strictly increase, so a seq
     * written twice or below an earlier one (which the scan ignored) is skipped */
    if (seq <= *c->last) return 0;
    if (!c->seg->first_seq || seq < c->seg->first_seq || seq > c->seg->last_seq) return 0;
    uint64_t i = seq - c->seg->first_seq;
    if (!((c->seg->present[i / 64] >> (i % 64)) & 1)) return 0;
    *c->last = seq;
    if (seg_is_acked(c->seg, seq)) return 0;
    return c->fn(c->ctx, seq, p + 8, len - 8);
}

int wal_replay(wal_t *w, wal_replay_fn fn, void *ctx)
{
    if (w->replayed) return 0;
    w->replayed = true;
    uint64_t last = 0;
    for (size_t i = 0; i < w->nsegs; i++) {
        segment_t *s = &w->segs[i];
        if (s->records == s->acked) continue;
        char path[PATH_MAX];
        seg_path(w, s->number, path, sizeof path);
        const char *img = NULL;
        size_t len = 0;
        int rc = map_file(path, &img, &len);
        if (rc) return rc;
        replay_ctx_t c = {w, s, fn, ctx, &last};
        int stop = 0;
        walk_entries(img, len < s->size ? len : (size_t)s->size, replay_entry, &c, &stop);
        unmap_file(img, len);
        if (stop) return stop;
    }
    return 0;
}

void wal_close(wal_t *w)
{
    if (!w) return;
    if (w->buf_len || w->ack_entry_off != SIZE_MAX) wal_flush(w);
    if (w->fd >= 0) close(w->fd);
    for (size_t i = 0; i < w->nretired; i++)
        close(w->retired[i].fd);
    free(w->retired);
    for (size_t i = 0; i < w->nsegs; i++) {
        free(w->segs[i].bits);
        free(w->segs[i].present);
    }
    free(w->segs);
    free(w->pending_acks);
    free(w->buf);
    free(w);
}

/* ------------------------------------------------------------------ writing */

bool wal_has_room(const wal_t *w, uint64_t bytes, uint64_t records)
{
    if (!w->max_disk_bytes) return true;
    uint64_t need = bytes + records * (ENTRY_HEADER + 8);
    /* the records may start new segments, each with its header */
    uint64_t used = w->synced_size + w->buf_len;
    uint64_t room = w->fd >= 0 && used < w->segment_bytes ? w->segment_bytes - used : 0;
    if (need > room) {
        /* each record starts at most one segment, and a segment that is rolled
         * holds at least half a segment unless a single entry filled it */
        uint64_t per = w->segment_bytes > SEG_HEADER ? w->segment_bytes - SEG_HEADER : 1;
        uint64_t segs = 2 + 2 * (need - room) / per;
        if (segs > records) segs = records ? records : 1;
        need += SEG_HEADER * segs;
    }
    return w->disk_bytes + w->buf_len + need <= w->max_disk_bytes;
}

static void close_ack_entry(wal_t *w)
{
    if (w->ack_entry_off == SIZE_MAX) return;
    if (w->ack_run_count) {
        put_u64(w->buf + w->buf_len, w->ack_run_first);
        put_u32(w->buf + w->buf_len + 8, (uint32_t)w->ack_run_count);
        w->buf_len += 12;
        w->ack_run_count = 0;
    }
    char *e = w->buf + w->ack_entry_off;
    uint32_t len = (uint32_t)(w->buf_len - w->ack_entry_off - ENTRY_HEADER);
    put_u32(e, len);
    put_u32(e + 4, crc32c_update(0, e + 8, 1 + (size_t)len));
    w->ack_entry_off = SIZE_MAX;
}

static int encode_ack(wal_t *w, uint64_t q);

/* Refuse the records of seqs [first, end) that are still live: acknowledge
 * them in memory and in the buffer, so a refused packet is never replayed.
 * Those never written are unknown seqs on disk, which a reader ignores. */
static void refuse_range(wal_t *w, uint64_t first, uint64_t end)
{
    for (uint64_t q = first; q < end; q++) {
        segment_t *s = seg_of(w, q);
        if (!s || !seg_ack(s, q)) continue;
        w->live--;
        if (encode_ack(w, q))
            log_error("wal", "out of memory refusing seq %llu: replayed after a crash",
                      (unsigned long long)q);
    }
}

/* The round failed with e: drop the unwritten buffer (its acks are encoded
 * again: they must not be lost with the records), refuse every record of the
 * round, and abandon the active segment if asked. */
static void fail_round(wal_t *w, int e, bool abandon)
{
    if (!w->round_err) w->round_err = e;
    w->buf_first_seq = 0;
    w->buf_len = 0;
    w->ack_entry_off = SIZE_MAX;
    w->ack_run_count = 0;
    size_t n = w->npending;
    w->npending = 0;
    for (size_t i = 0; i < n; i++)
        encode_ack(w, w->pending_acks[i]); /* writes [0..i] only */
    if (abandon) abandon_active(w);
    refuse_range(w, w->round_first_seq, w->next_seq);
}

/* Cut a failed write off the active segment; false if that failed too. */
static bool cut_failed_write(wal_t *w)
{
    if (!w->io.ftruncate(w->io.ctx, w->fd, (off_t)w->synced_size) &&
        lseek(w->fd, (off_t)w->synced_size, SEEK_SET) >= 0)
        return true;
    log_error("wal", "cannot cut a failed write: %s", strerror(errno));
    return false;
}

/* Write the buffer to the active segment. A buffer holding only ACK entries
 * may start a new segment; records always go to the segment wal_append chose.
 * Any failure fails the round (fail_round). */
static int write_buf(wal_t *w)
{
    close_ack_entry(w);
    if (w->round_err) return w->round_err;
    if (!w->buf_len) return 0;
    if (!w->buf_first_seq && (w->fd < 0 || w->synced_size + w->buf_len > w->segment_bytes)) {
        int rc = open_new_segment(w);
        if (rc) {
            fail_round(w, rc, false);
            return rc;
        }
    }
    LD_ASSERT(w->fd >= 0);
    int e = write_all(w, w->fd, w->buf, w->buf_len);
    if (e) {
        log_event(LOG_ERROR, "wal", "wal_error",
                  LOG_FIELDS(LF_STR("op", "write"), LF_STR("dir", w->dir), LF_STR("error", strerror(-e))),
                  "write to %s failed: %s", w->dir, strerror(-e));
        fail_round(w, e, !cut_failed_write(w));
        return e;
    }
    segment_t *s = &w->segs[w->nsegs - 1];
    s->size += w->buf_len;
    w->disk_bytes += w->buf_len;
    w->synced_size = s->size;
    w->buf_len = 0;
    w->buf_first_seq = 0;
    w->npending = 0;
    return 0;
}

/* The active segment cannot take seq next_seq within its span limit. */
static bool span_full(const wal_t *w)
{
    const segment_t *s = w->nsegs ? &w->segs[w->nsegs - 1] : NULL;
    return s && s->first_seq && w->next_seq - s->first_seq >= MAX_SPAN;
}

int wal_append(wal_t *w, const char *rec, size_t len, uint64_t *seq)
{
    if (w->round_err) return w->round_err;
    if (len > MAX_ENTRY - 8) return -E2BIG;
    if (w->next_seq >= SEQ_LIMIT) return -EOVERFLOW;
    size_t need = ENTRY_HEADER + 8 + len;
    int rc;
    /* the record must land in the segment whose seq range records it, so a
     * roll happens here, never while records are buffered */
    if (w->fd < 0 || w->synced_size + w->buf_len + need > w->segment_bytes || span_full(w)) {
        if ((rc = write_buf(w))) return rc;
        if (w->fd < 0 || span_full(w) ||
            (w->synced_size + need > w->segment_bytes && w->synced_size > SEG_HEADER)) {
            if ((rc = open_new_segment(w))) {
                log_event(LOG_ERROR, "wal", "wal_error",
                          LOG_FIELDS(LF_STR("op", "new_segment"), LF_STR("dir", w->dir),
                                     LF_STR("error", strerror(-rc))),
                          "cannot start a new segment in %s: %s", w->dir, strerror(-rc));
                fail_round(w, rc, false);
                return rc;
            }
        }
    }
    close_ack_entry(w);
    if ((rc = buf_reserve(w, need))) return rc;
    uint64_t s = w->next_seq;
    if ((rc = seg_add_record(&w->segs[w->nsegs - 1], s))) return rc;
    char *e = w->buf + w->buf_len;
    put_u32(e, (uint32_t)(8 + len));
    e[8] = T_RECORD;
    put_u64(e + 9, s);
    memcpy(e + 17, rec, len);
    put_u32(e + 4, crc32c_update(0, e + 8, 9 + len));
    w->buf_len += need;
    if (!w->buf_first_seq) w->buf_first_seq = s;
    w->next_seq++;
    w->live++;
    *seq = s;
    if (w->buf_len >= BUF_FLUSH_AT) return write_buf(w);
    return 0;
}

static void end_round(wal_t *w)
{
    w->round_err = 0;
    w->round_first_seq = w->next_seq;
}

/* fdatasync (and close) the retired segments, then the active one. */
static int sync_all(wal_t *w)
{
    int rc = 0;
    for (size_t i = 0; i < w->nretired; i++) {
        int e = wal_fdatasync_fd(w, w->retired[i].fd);
        if (e && !rc) rc = e;
        close(w->retired[i].fd);
    }
    w->nretired = 0;
    if (w->fd >= 0) {
        int e = wal_fdatasync_fd(w, w->fd);
        if (e && !rc) rc = e;
    }
    return rc;
}

int wal_sync(wal_t *w)
{
    int rc = write_buf(w);
    if (!rc) {
        rc = sync_all(w);
        if (rc) {
            log_event(LOG_ERROR, "wal", "wal_error",
                      LOG_FIELDS(LF_STR("op", "fdatasync"), LF_STR("dir", w->dir),
                                 LF_STR("error", strerror(-rc))),
                      "fdatasync in %s failed: %s", w->dir, strerror(-rc));
            abandon_active(w); /* never trust that file again */
        }
    }
    if (rc) refuse_range(w, w->sync_first_seq, w->next_seq);
    end_round(w);
    w->sync_first_seq = w->next_seq;
    delete_done_segments(w);
    return rc;
}

int wal_flush(wal_t *w)
{
    int rc = write_buf(w);
    end_round(w);
    delete_done_segments(w);
    return rc;
}

int wal_take_sync(wal_t *w, wal_sync_fd_t **fds, size_t *n)
{
    *fds = NULL;
    *n = 0;
    size_t cnt = w->nretired + (w->fd >= 0);
    if (!cnt) return 0;
    wal_sync_fd_t *v = malloc(cnt * sizeof *v);
    if (!v) return -ENOMEM;
    if (w->fd >= 0) {
        int fd = fcntl(w->fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) {
            int e = -errno;
            free(v);
            return e;
        }
        v[w->nretired] = (wal_sync_fd_t){fd, w->segs[w->nsegs - 1].number};
    }
    if (w->nretired) memcpy(v, w->retired, w->nretired * sizeof *v);
    w->nretired = 0;
    w->sync_first_seq = w->next_seq;
    *fds = v;
    *n = cnt;
    return 0;
}

void wal_abandon(wal_t *w)
{
    abandon_active(w);
}

int wal_quarantine(const wal_t *w, uint64_t seq, const char *rec, size_t len)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/quarantine-%016llx.rec", w->dir, (unsigned long long)seq);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    int rc = 0;
    for (size_t off = 0; off < len && !rc;) {
        ssize_t n = write(fd, rec + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            rc = n < 0 ? -errno : -EIO;
        else
            off += (size_t)n;
    }
    if (!rc && fdatasync(fd)) rc = -errno;
    close(fd);
    if (!rc) rc = fsync_dir(w->dir);
    if (rc) unlink(path);
    return rc;
}

/* Add seq to the open ACK entry (starting one if needed) and remember it. */
static int encode_ack(wal_t *w, uint64_t q)
{
    /* room for a new entry header, one finished run and the closing run */
    int rc = buf_reserve(w, ENTRY_HEADER + 24);
    if (rc) return rc;
    if (w->npending == w->pending_cap) {
        size_t nc = w->pending_cap ? w->pending_cap * 2 : 1024;
        uint64_t *np = realloc(w->pending_acks, nc * sizeof *np);
        if (!np) return -ENOMEM;
        w->pending_acks = np;
        w->pending_cap = nc;
    }
    w->pending_acks[w->npending++] = q;
    if (w->ack_entry_off == SIZE_MAX) {
        w->ack_entry_off = w->buf_len;
        w->buf[w->buf_len + 8] = T_ACK;
        w->buf_len += ENTRY_HEADER;
    }
    if (w->ack_run_count && q == w->ack_run_first + w->ack_run_count) {
        w->ack_run_count++;
        return 0;
    }
    if (w->ack_run_count) {
        put_u64(w->buf + w->buf_len, w->ack_run_first);
        put_u32(w->buf + w->buf_len + 8, (uint32_t)w->ack_run_count);
        w->buf_len += 12;
    }
    w->ack_run_first = q;
    w->ack_run_count = 1;
    return 0;
}

int wal_ack(wal_t *w, const uint64_t *seqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t q = seqs[i];
        segment_t *s = seg_of(w, q);
        if (!s || !seg_ack(s, q)) continue;
        w->live--;
        int rc = encode_ack(w, q);
        if (rc) return rc;
    }
    /* keep entries bounded */
    if (w->ack_entry_off != SIZE_MAX && w->buf_len - w->ack_entry_off > (1u << 16))
        close_ack_entry(w);
    if (w->buf_len >= BUF_FLUSH_AT) return write_buf(w);
    return 0;
}

int wal_fdatasync_fd(const wal_t *w, int fd)
{
    return w->io.fdatasync(w->io.ctx, fd) ? (errno ? -errno : -EIO) : 0;
}

uint64_t wal_disk_bytes(const wal_t *w)
{
    return w->disk_bytes + w->buf_len;
}

uint64_t wal_live_records(const wal_t *w)
{
    return w->live;
}

uint64_t wal_segment_count(const wal_t *w)
{
    return w->nsegs;
}
