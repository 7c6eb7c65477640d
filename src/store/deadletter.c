/*
 * deadletter.c - see deadletter.h. Entries form a FIFO of metadata; in memory
 * mode each keeps a copy of its body, in disk mode the body lives only in the
 * file (the entry remembers where). Removals append tombstones; the log is
 * rewritten (compacted) once most of it is dead, and cut to its header when
 * nothing is left.
 */
#include "store/deadletter.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"
#include "common/log.h"
#include "common/util.h"
#include "core/metrics.h"
#include "store/crc32c.h"

#define DL_FILE "deadletter.log"
#define DL_MAGIC "LDDLQ01\n"
#define MAGIC_LEN (sizeof DL_MAGIC - 1)
#define ENTRY_HEADER 8
#define CHUNK (64 * 1024)
#define COMPACT_MIN_DEAD (1u << 20) /* compact when dead bytes exceed this and half the file */
#define REASON_MAX 160
#define ANALYZER_MAX 65

typedef struct entry {
    struct entry *prev, *next; /* the FIFO, oldest first */
    struct entry *hnext;       /* chain of the id hash */
    struct entry *dnext;       /* the doomed list of the operation in progress */
    char *body;                /* memory mode only */
    uint64_t seq;              /* order of arrival (oldest = smallest) */
    uint64_t off;              /* disk mode: offset of the entry header */
    uint32_t elen, crc;        /* disk mode: payload length and checksum */
    uint32_t mlen;             /* disk mode: metadata length (body at off + 8 + mlen + 1) */
    char batch_id[DEADLETTER_ID_MAX + 1];
    char analyzer[ANALYZER_MAX];
    char reason[REASON_MAX];
    uint32_t records, attempts;
    uint64_t at_ms; /* wall clock */
    uint64_t bytes; /* body length */
    bool durable;
    bool doomed; /* marked for removal by the operation in progress */
} entry_t;

struct deadletter {
    entry_t *head, *tail;
    entry_t **buckets; /* id hash: every entry, chained; nbuckets is a power of two */
    size_t nbuckets;
    entry_t *doomed;   /* marked entries (dnext) */
    uint64_t seq;
    uint64_t bytes, records, batches, max_bytes;
    uint64_t nondurable_bytes, durable_records;
    uint64_t max_entries; /* bound on entries loaded from a file */
    int fd;               /* -1 in memory mode */
    bool broken;          /* the log's tail is unknown after a failed cut: refuse writes */
    char dir[PATH_MAX];
    char path[PATH_MAX];
    uint64_t file_size, dead_bytes;
};

typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

static int buf_add(buf_t *b, const void *src, size_t len)
{
    if (b->len + len > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + len) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) return -ENOMEM;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, src, len);
    b->len += len;
    return 0;
}

deadletter_t *deadletter_new(uint64_t max_bytes)
{
    deadletter_t *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->max_bytes = max_bytes;
    d->max_entries = max_bytes / 32 + 65536;
    d->fd = -1;
    return d;
}

static size_t hash_id(const deadletter_t *d, const char *id)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) h = (h ^ *p) * 1099511628211ull;
    return (size_t)(h & (d->nbuckets - 1));
}

/* Keep about one entry per bucket. 0 or -ENOMEM (the table stays usable). */
static int grow_hash(deadletter_t *d)
{
    if (d->nbuckets && d->batches < d->nbuckets) return 0;
    size_t n = d->nbuckets ? d->nbuckets * 2 : 64;
    entry_t **b = calloc(n, sizeof(entry_t *));
    if (!b) return d->nbuckets ? 0 : -ENOMEM;
    free(d->buckets);
    d->buckets = b;
    d->nbuckets = n;
    for (entry_t *e = d->head; e; e = e->next) {
        size_t h = hash_id(d, e->batch_id);
        e->hnext = b[h];
        b[h] = e;
    }
    return 0;
}

static int link_entry(deadletter_t *d, entry_t *e)
{
    if (grow_hash(d)) return -ENOMEM;
    e->prev = d->tail;
    e->next = NULL;
    if (d->tail)
        d->tail->next = e;
    else
        d->head = e;
    d->tail = e;
    size_t h = hash_id(d, e->batch_id);
    e->hnext = d->buckets[h];
    d->buckets[h] = e;
    e->seq = ++d->seq;
    d->bytes += e->bytes;
    d->records += e->records;
    d->batches++;
    if (e->durable)
        d->durable_records += e->records;
    else
        d->nondurable_bytes += e->bytes;
    return 0;
}

/* The oldest entry with this id that is not doomed (and, off != UINT64_MAX, at that offset). */
static entry_t *find(const deadletter_t *d, const char *id, uint64_t off)
{
    entry_t *best = NULL;
    if (!d->nbuckets) return NULL;
    for (entry_t *e = d->buckets[hash_id(d, id)]; e; e = e->hnext)
        if (!e->doomed && !strcmp(e->batch_id, id) && (off == UINT64_MAX || e->off == off) &&
            (!best || e->seq < best->seq))
            best = e;
    return best;
}

/* Unlink e and free it. */
static void drop_entry(deadletter_t *d, entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        d->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        d->tail = e->prev;
    entry_t **pp = &d->buckets[hash_id(d, e->batch_id)];
    while (*pp != e) pp = &(*pp)->hnext;
    *pp = e->hnext;
    d->bytes -= e->bytes;
    d->records -= e->records;
    d->batches--;
    if (e->durable)
        d->durable_records -= e->records;
    else
        d->nondurable_bytes -= e->bytes;
    if (d->fd >= 0) d->dead_bytes += ENTRY_HEADER + (uint64_t)e->elen;
    free(e->body);
    free(e);
}

static void doom(deadletter_t *d, entry_t *e)
{
    if (e->doomed) return;
    e->doomed = true;
    e->dnext = d->doomed;
    d->doomed = e;
}

static void undoom_all(deadletter_t *d)
{
    for (entry_t *e = d->doomed; e; e = e->dnext) e->doomed = false;
    d->doomed = NULL;
}

static void clear_entries(deadletter_t *d)
{
    entry_t *e = d->head;
    while (e) {
        entry_t *n = e->next;
        free(e->body);
        free(e);
        e = n;
    }
    free(d->buckets);
    d->buckets = NULL;
    d->nbuckets = 0;
    d->head = d->tail = d->doomed = NULL;
    d->bytes = d->records = d->batches = d->nondurable_bytes = d->durable_records = 0;
}

void deadletter_free(deadletter_t *d)
{
    if (!d) return;
    clear_entries(d);
    if (d->fd >= 0) close(d->fd);
    free(d);
}

/* Copy src into dst[size], never cutting inside a UTF-8 sequence (jansson
 * refuses invalid strings). */
static void copy_utf8(char *dst, const char *src, size_t size)
{
    strlcpy_ld(dst, src ? src : "", size);
    size_t len = strlen(dst), cut = len;
    if (len < size - 1) return;
    while (cut > 0 && ((unsigned char)dst[cut - 1] & 0xC0) == 0x80) cut--;
    if (cut > 0 && ((unsigned char)dst[cut - 1] & 0x80)) {
        unsigned char lead = (unsigned char)dst[cut - 1];
        size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
        if (len - (cut - 1) < want) dst[cut - 1] = 0;
    }
}

/* ------------------------------------------------------------------ file I/O */

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return r < 0 ? -errno : -EIO;
        got += (size_t)r;
    }
    return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, buf + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n < 0 ? -errno : -EIO;
        off += (size_t)n;
    }
    return 0;
}

/* Append buf to the log and fdatasync it. On failure the log is cut back to
 * where it was (or, if even that fails, marked broken) and -EIO returned. */
static int append(deadletter_t *d, const char *buf, size_t len)
{
    int rc = write_all(d->fd, buf, len);
    if (!rc && fdatasync(d->fd)) rc = -errno;
    if (!rc) {
        d->file_size += len;
        return 0;
    }
    log_error("deadletter", "cannot write %s: %s", d->path, strerror(-rc));
    if (ftruncate(d->fd, (off_t)d->file_size)) {
        log_error("deadletter", "%s: cannot cut a failed append (%s): refusing further writes",
                  d->path, strerror(errno));
        d->broken = true;
    }
    return -EIO;
}

/* Add a framed entry (header, meta, '\n', body) to b. */
static int frame(buf_t *b, const char *meta, size_t mlen, const char *body, size_t blen)
{
    if (mlen > DEADLETTER_META_MAX || blen > UINT32_MAX - mlen - 1) return -EINVAL;
    uint32_t elen = (uint32_t)(mlen + 1 + blen);
    uint32_t crc = crc32c_update(0, meta, mlen);
    crc = crc32c_update(crc, "\n", 1);
    crc = crc32c_update(crc, body, blen);
    char h[ENTRY_HEADER];
    memcpy(h, &elen, 4);
    memcpy(h + 4, &crc, 4);
    if (buf_add(b, h, sizeof h) || buf_add(b, meta, mlen) || buf_add(b, "\n", 1) ||
        buf_add(b, body, blen))
        return -ENOMEM;
    return 0;
}

static char *entry_meta(const entry_t *e)
{
    json_t *m = json_object();
    json_object_set_new(m, "batch_id", json_string(e->batch_id));
    json_object_set_new(m, "analyzer", json_string(e->analyzer));
    json_object_set_new(m, "reason", json_string(e->reason));
    json_object_set_new(m, "records", json_integer(e->records));
    json_object_set_new(m, "attempts", json_integer(e->attempts));
    json_object_set_new(m, "at_ms", json_integer((json_int_t)e->at_ms));
    json_object_set_new(m, "durable", json_boolean(e->durable));
    char *s = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    return s;
}

/* {"removed":"<id>","off":<offset of the entry>}: the offset picks the very entry
 * when ids repeat (a compaction rewrites the log without tombstones). */
static int tombstone(buf_t *b, const entry_t *e)
{
    json_t *m = json_pack("{s:s,s:I}", "removed", e->batch_id, "off", (json_int_t)e->off);
    char *s = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    if (!s) return -ENOMEM;
    int rc = frame(b, s, strlen(s), "", 0);
    free(s);
    return rc;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

/* Copy len bytes at off of d->fd to fd. */
static int copy_range(deadletter_t *d, int fd, uint64_t off, uint64_t len, char *chunk)
{
    while (len) {
        size_t n = len < CHUNK ? (size_t)len : CHUNK;
        int rc = pread_all(d->fd, chunk, n, off);
        if (!rc) rc = write_all(fd, chunk, n);
        if (rc) return rc;
        off += n;
        len -= n;
    }
    return 0;
}

/* Rewrite the log with the live entries only. On failure the old log stays. */
static int compact(deadletter_t *d)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", d->path);
    char *chunk = malloc(CHUNK);
    int fd = chunk ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
    int rc = !chunk ? -ENOMEM : fd < 0 ? -errno : write_all(fd, DL_MAGIC, MAGIC_LEN);
    for (entry_t *e = d->head; e && !rc; e = e->next)
        rc = copy_range(d, fd, e->off, ENTRY_HEADER + (uint64_t)e->elen, chunk);
    if (!rc && fdatasync(fd)) rc = -errno;
    if (fd >= 0) close(fd);
    free(chunk);
    if (!rc && rename(tmp, d->path)) rc = -errno;
    int nfd = rc ? -1 : open(d->path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (!rc && nfd < 0) rc = -errno;
    if (rc) {
        unlink(tmp);
        log_error("deadletter", "cannot compact %s: %s", d->path, strerror(-rc));
        return rc;
    }
    if (fsync_dir(d->dir)) log_warn("deadletter", "cannot fsync %s", d->dir);
    close(d->fd);
    d->fd = nfd;
    uint64_t off = MAGIC_LEN;
    for (entry_t *e = d->head; e; e = e->next) {
        e->off = off;
        off += ENTRY_HEADER + (uint64_t)e->elen;
    }
    d->file_size = off;
    d->dead_bytes = 0;
    return 0;
}

/* After removals: cut an empty log to its header, compact a mostly dead one.
 * Failures are logged only: the removals are already durable as tombstones. */
static void tidy(deadletter_t *d)
{
    if (d->fd < 0 || d->broken) return;
    if (!d->head && d->file_size > MAGIC_LEN) {
        if (ftruncate(d->fd, MAGIC_LEN) || fdatasync(d->fd)) {
            log_error("deadletter", "cannot cut %s: %s", d->path, strerror(errno));
            return;
        }
        d->file_size = MAGIC_LEN;
        d->dead_bytes = 0;
    } else if (d->dead_bytes > COMPACT_MIN_DEAD && d->dead_bytes > d->file_size / 2) {
        compact(d);
    }
}

/* ------------------------------------------------------------------ removal */

/* Write `pre` (an entry to add, may be empty) and a tombstone for every doomed
 * entry in one append + fdatasync, then drop the doomed entries, adding their
 * records to *records. On failure nothing changes (marks are cleared). */
static int commit(deadletter_t *d, const buf_t *pre, bool evicted, uint64_t *records)
{
    int rc = 0;
    if (d->fd >= 0) {
        buf_t b = {0};
        if (pre && pre->len) rc = buf_add(&b, pre->p, pre->len);
        for (entry_t *e = d->doomed; e && !rc; e = e->dnext) rc = tombstone(&b, e);
        if (!rc && d->broken) rc = -EIO;
        if (!rc && b.len) rc = append(d, b.p, b.len);
        free(b.p);
    }
    if (rc) {
        undoom_all(d);
        return rc;
    }
    uint64_t n = 0;
    entry_t *e = d->doomed;
    d->doomed = NULL;
    while (e) {
        entry_t *next = e->dnext;
        n += e->records;
        drop_entry(d, e);
        e = next;
    }
    if (evicted && n) {
        METRIC_ADD(records_deadletter_evicted, n);
        log_warn("deadletter", "store full: evicted %llu non-durable records",
                 (unsigned long long)n);
    }
    if (records) *records = n;
    return 0;
}

/* Mark the oldest non-durable entries so that `need` more bytes fit. Returns 0
 * (marked, maybe none) or -ENOSPC (it cannot fit without a durable entry). */
static int mark_evictions(deadletter_t *d, uint64_t need)
{
    if (need <= d->max_bytes && d->bytes <= d->max_bytes - need) return 0;
    if (need > d->max_bytes || d->bytes - d->nondurable_bytes > d->max_bytes - need)
        return -ENOSPC;
    uint64_t left = d->bytes;
    for (entry_t *e = d->head; e && left > d->max_bytes - need; e = e->next) {
        if (e->durable) continue;
        doom(d, e);
        left -= e->bytes;
    }
    return 0;
}

/* ------------------------------------------------------------------ loading */

static int meta_u32(json_t *m, const char *key, uint32_t *out)
{
    json_t *v = json_object_get(m, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX)
        return -EINVAL;
    *out = (uint32_t)json_integer_value(v);
    return 0;
}

/* Parse a stored entry's metadata into e. 0 or -EINVAL. */
static int parse_entry(json_t *m, entry_t *e)
{
    const char *id = json_string_value(json_object_get(m, "batch_id"));
    json_t *at = json_object_get(m, "at_ms"), *dur = json_object_get(m, "durable");
    json_t *an = json_object_get(m, "analyzer"), *re = json_object_get(m, "reason");
    if (!id || !id[0] || strlen(id) > DEADLETTER_ID_MAX || meta_u32(m, "records", &e->records) ||
        meta_u32(m, "attempts", &e->attempts) || (at && !json_is_integer(at)) ||
        (dur && !json_is_boolean(dur)) || (an && !json_is_string(an)) ||
        (re && !json_is_string(re)))
        return -EINVAL;
    strlcpy_ld(e->batch_id, id, sizeof e->batch_id);
    copy_utf8(e->analyzer, json_string_value(an), sizeof e->analyzer);
    copy_utf8(e->reason, json_string_value(re), sizeof e->reason);
    json_int_t ms = at ? json_integer_value(at) : 0;
    e->at_ms = ms > 0 ? (uint64_t)ms : 0;
    e->durable = dur ? json_is_true(dur) : true; /* older logs: assume the WAL let go */
    return 0;
}

/* Apply one checked entry found at off. 0, -EINVAL (bad metadata), -E2BIG
 * (too many entries) or -ENOMEM. */
static int apply_meta(deadletter_t *d, const char *meta, size_t mlen, uint64_t off,
                      uint32_t elen, uint32_t crc)
{
    json_error_t jerr;
    json_t *m = json_loadb(meta, mlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(m)) {
        json_decref(m);
        return -EINVAL;
    }
    int rc = 0;
    json_t *gone = json_object_get(m, "removed"), *at = json_object_get(m, "off");
    if (gone) {
        if (!json_is_string(gone) || (at && (!json_is_integer(at) || json_integer_value(at) < 0))) {
            rc = -EINVAL;
        } else {
            entry_t *e = find(d, json_string_value(gone),
                              at ? (uint64_t)json_integer_value(at) : UINT64_MAX);
            if (e) drop_entry(d, e);
            d->dead_bytes += ENTRY_HEADER + (uint64_t)elen;
        }
    } else if (d->batches >= d->max_entries) {
        rc = -E2BIG;
    } else {
        entry_t *e = calloc(1, sizeof *e);
        rc = !e ? -ENOMEM : parse_entry(m, e);
        if (!rc) {
            e->off = off;
            e->elen = elen;
            e->crc = crc;
            e->mlen = (uint32_t)mlen;
            e->bytes = elen - mlen - 1;
            rc = link_entry(d, e);
        }
        if (rc) {
            free(e);
        }
    }
    json_decref(m);
    return rc;
}

/* Check the entry at off (size = file size): *why is set when it is not a
 * good entry (the tail from off is cut); a negative return is an I/O error. */
static int load_one(deadletter_t *d, uint64_t off, uint64_t size, char *meta, char *chunk,
                    uint32_t *elen_out, const char **why)
{
    unsigned char h[ENTRY_HEADER];
    uint32_t elen, crc;
    if (size - off < ENTRY_HEADER) return (*why = "torn entry header"), 0;
    int rc = pread_all(d->fd, h, sizeof h, off);
    if (rc) return rc;
    memcpy(&elen, h, 4);
    memcpy(&crc, h + 4, 4);
    if (elen > size - off - ENTRY_HEADER) return (*why = "entry runs past the end"), 0;
    size_t mwant = elen < DEADLETTER_META_MAX + 1 ? elen : DEADLETTER_META_MAX + 1;
    if ((rc = pread_all(d->fd, meta, mwant, off + ENTRY_HEADER))) return rc;
    const char *nl = memchr(meta, '\n', mwant);
    if (!nl) return (*why = "metadata line missing or too long"), 0;
    uint32_t c = crc32c_update(0, meta, mwant);
    for (uint64_t at = mwant; at < elen;) {
        size_t n = elen - at < CHUNK ? (size_t)(elen - at) : CHUNK;
        if ((rc = pread_all(d->fd, chunk, n, off + ENTRY_HEADER + at))) return rc;
        c = crc32c_update(c, chunk, n);
        at += n;
    }
    if (c != crc) return (*why = "checksum mismatch"), 0;
    rc = apply_meta(d, meta, (size_t)(nl - meta), off, elen, crc);
    if (rc == -EINVAL) return (*why = "bad metadata"), 0;
    *elen_out = elen;
    return rc;
}

/* Load every good entry of the log (size bytes, header checked); cut the rest. */
static int load(deadletter_t *d, uint64_t size, char *err, size_t errlen)
{
    char *meta = malloc(DEADLETTER_META_MAX + 1), *chunk = malloc(CHUNK);
    int rc = meta && chunk ? 0 : -ENOMEM;
    uint64_t off = MAGIC_LEN;
    const char *why = NULL;
    while (!rc && !why && off < size) {
        uint32_t elen = 0;
        rc = load_one(d, off, size, meta, chunk, &elen, &why);
        if (!rc && !why) off += ENTRY_HEADER + (uint64_t)elen;
    }
    free(meta);
    free(chunk);
    if (rc == -E2BIG) {
        ld_set_err(err, errlen, "%s: more than %llu entries; raise --deadletter-max-bytes",
                   d->path, (unsigned long long)d->max_entries);
        return rc;
    }
    if (rc) {
        ld_set_err(err, errlen, "%s: %s", d->path, strerror(-rc));
        return rc;
    }
    if (why) {
        log_warn("deadletter", "%s: %s at offset %llu: cut %llu bytes", d->path, why,
                 (unsigned long long)off, (unsigned long long)(size - off));
        if (ftruncate(d->fd, (off_t)off) || fdatasync(d->fd)) {
            ld_set_err(err, errlen, "%s: cannot cut the bad tail: %s", d->path, strerror(errno));
            return -EIO;
        }
    }
    d->file_size = off;
    return 0;
}

/* Check the header of a log of `size` bytes; write it when the file is new
 * (or a torn creation). 0, or an error with a message. */
static int check_header(deadletter_t *d, uint64_t size, char *err, size_t errlen)
{
    char h[MAGIC_LEN];
    size_t n = size < MAGIC_LEN ? (size_t)size : MAGIC_LEN;
    int rc = pread_all(d->fd, h, n, 0);
    if (rc) {
        ld_set_err(err, errlen, "%s: %s", d->path, strerror(-rc));
        return rc;
    }
    if (memcmp(h, DL_MAGIC, n) != 0) {
        ld_set_err(err, errlen, "%s: not a dead-letter log (bad header); move it away", d->path);
        return -EINVAL;
    }
    if (n == MAGIC_LEN) return 0;
    if (ftruncate(d->fd, 0) || write_all(d->fd, DL_MAGIC, MAGIC_LEN) || fdatasync(d->fd)) {
        ld_set_err(err, errlen, "%s: %s", d->path, strerror(errno));
        return -EIO;
    }
    return 0;
}

deadletter_t *deadletter_open(const char *dir, uint64_t max_bytes, char *err, size_t errlen)
{
    deadletter_t *d = deadletter_new(max_bytes);
    if (!d) {
        ld_set_err(err, errlen, "out of memory");
        return NULL;
    }
    strlcpy_ld(d->dir, dir, sizeof d->dir);
    snprintf(d->path, sizeof d->path, "%s/" DL_FILE, dir);
    d->fd = open(d->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    struct stat st;
    if (d->fd < 0 || fstat(d->fd, &st)) {
        ld_set_err(err, errlen, "%s: %s", d->path, strerror(errno));
        goto err;
    }
    if (!S_ISREG(st.st_mode)) {
        ld_set_err(err, errlen, "%s: not a regular file", d->path);
        goto err;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (check_header(d, size, err, errlen)) goto err;
    if (size < MAGIC_LEN) size = MAGIC_LEN;
    if (load(d, size, err, errlen)) goto err;
    if (d->bytes > d->max_bytes)
        log_warn("deadletter", "%s holds %llu bytes, over --deadletter-max-bytes", d->path,
                 (unsigned long long)d->bytes);
    return d;
err:
    deadletter_free(d);
    return NULL;
}

/* ------------------------------------------------------------------ operations */

static entry_t *entry_from_item(const deadletter_item_t *it)
{
    entry_t *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    strlcpy_ld(e->batch_id, it->batch_id, sizeof e->batch_id);
    copy_utf8(e->analyzer, it->last_analyzer, sizeof e->analyzer);
    copy_utf8(e->reason, it->reason, sizeof e->reason);
    e->records = it->records;
    e->attempts = it->attempts;
    e->at_ms = wall_ms();
    e->bytes = it->len;
    e->durable = it->durable;
    return e;
}

/* Frame e + body into b (disk mode) and fill e's position fields. */
static int frame_entry(deadletter_t *d, entry_t *e, const char *body, buf_t *b)
{
    char *meta = entry_meta(e);
    if (!meta) return -ENOMEM;
    size_t mlen = strlen(meta);
    int rc = frame(b, meta, mlen, body, e->bytes);
    free(meta);
    if (rc) return rc;
    e->off = d->file_size;
    e->elen = (uint32_t)(mlen + 1 + e->bytes);
    memcpy(&e->crc, b->p + 4, 4);
    e->mlen = (uint32_t)mlen;
    return 0;
}

int deadletter_add(deadletter_t *d, const deadletter_item_t *it)
{
    size_t idl = it->batch_id ? strlen(it->batch_id) : 0;
    if (!idl || idl > DEADLETTER_ID_MAX || (!it->body && it->len)) return -EINVAL;
    if (d->broken) return -EIO;
    if (grow_hash(d)) return -ENOMEM; /* after this, linking cannot fail */
    const char *body = it->body ? it->body : "";
    int rc = mark_evictions(d, it->len);
    if (rc) return rc;
    entry_t *e = entry_from_item(it);
    buf_t b = {0};
    if (!e) {
        rc = -ENOMEM;
    } else if (d->fd >= 0) {
        rc = frame_entry(d, e, body, &b);
    } else if (!(e->body = malloc(it->len + 1))) {
        rc = -ENOMEM;
    } else {
        memcpy(e->body, body, it->len);
        e->body[it->len] = 0;
    }
    if (!rc) rc = commit(d, &b, true, NULL); /* the entry first, then the evictions */
    free(b.p);
    if (rc) {
        undoom_all(d);
        if (e) free(e->body);
        free(e);
        return rc;
    }
    rc = link_entry(d, e); /* the table exists: growing it further never fails */
    LD_ASSERT(rc == 0);
    METRIC_ADD(records_deadlettered, e->records);
    tidy(d);
    return 0;
}

int deadletter_remove(deadletter_t *d, const char *batch_id)
{
    entry_t *e = batch_id ? find(d, batch_id, UINT64_MAX) : NULL;
    if (!e) return -ENOENT;
    doom(d, e);
    int rc = commit(d, NULL, false, NULL);
    if (!rc) tidy(d);
    return rc;
}

int deadletter_purge(deadletter_t *d, const char *const *ids, size_t n, uint64_t *records)
{
    if (!ids)
        for (entry_t *e = d->head; e; e = e->next) doom(d, e);
    for (size_t i = 0; ids && i < n; i++) {
        entry_t *e = ids[i] ? find(d, ids[i], UINT64_MAX) : NULL;
        if (e) doom(d, e);
    }
    int rc = commit(d, NULL, false, records);
    if (!rc) tidy(d);
    return rc;
}

json_t *deadletter_to_json(const deadletter_t *d, size_t sample)
{
    json_t *o = json_object();
    json_object_set_new(o, "records", json_integer((json_int_t)d->records));
    json_object_set_new(o, "durable_records", json_integer((json_int_t)d->durable_records));
    json_object_set_new(o, "batches", json_integer((json_int_t)d->batches));
    json_object_set_new(o, "bytes", json_integer((json_int_t)d->bytes));
    json_object_set_new(o, "max_bytes", json_integer((json_int_t)d->max_bytes));
    json_object_set_new(o, "persistent", json_boolean(d->fd >= 0));
    json_object_set_new(o, "oldest_ms",
                        d->head ? json_integer((json_int_t)d->head->at_ms) : json_null());
    json_object_set_new(o, "evicted_records",
                        json_integer((json_int_t)METRIC_GET(records_deadletter_evicted)));
    json_t *arr = json_array();
    entry_t *first = d->tail;
    for (size_t k = 1; first && first->prev && k < sample; k++) first = first->prev;
    for (entry_t *e = sample ? first : NULL; e; e = e->next) {
        json_t *s = json_object();
        json_object_set_new(s, "batch_id", json_string(e->batch_id));
        json_object_set_new(s, "records", json_integer(e->records));
        json_object_set_new(s, "attempts", json_integer(e->attempts));
        json_object_set_new(s, "reason", json_string(e->reason));
        json_object_set_new(s, "last_analyzer", json_string(e->analyzer));
        json_object_set_new(s, "at_ms", json_integer((json_int_t)e->at_ms));
        json_object_set_new(s, "durable", json_boolean(e->durable));
        json_array_append_new(arr, s);
    }
    json_object_set_new(o, "sample", arr);
    return o;
}

/* A copy of e's body in out (re-checked against its checksum on disk). */
static int read_body(deadletter_t *d, const entry_t *e, deadletter_body_t *out)
{
    strlcpy_ld(out->batch_id, e->batch_id, sizeof out->batch_id);
    out->records = e->records;
    out->len = e->bytes;
    if (d->fd < 0) {
        out->body = malloc(e->bytes + 1);
        if (!out->body) return -ENOMEM;
        memcpy(out->body, e->body, e->bytes + 1);
        return 0;
    }
    char *p = malloc((size_t)e->elen + 1);
    if (!p) return -ENOMEM;
    int rc = pread_all(d->fd, p, e->elen, e->off + ENTRY_HEADER);
    if (!rc && crc32c_update(0, p, e->elen) != e->crc) rc = -EIO;
    if (rc) {
        log_error("deadletter", "%s: entry %s at %llu unreadable: %s", d->path, e->batch_id,
                  (unsigned long long)e->off, strerror(-rc));
        free(p);
        return -EIO;
    }
    memmove(p, p + e->mlen + 1, e->bytes);
    p[e->bytes] = 0;
    out->body = p;
    return 0;
}

long deadletter_read_all(deadletter_t *d, deadletter_body_t **out)
{
    *out = NULL;
    if (!d->batches) return 0;
    deadletter_body_t *v = calloc(d->batches, sizeof *v);
    if (!v) return -ENOMEM;
    size_t n = 0;
    int rc = 0;
    for (entry_t *e = d->head; e && !rc; e = e->next) rc = read_body(d, e, &v[n++]);
    if (rc) {
        deadletter_bodies_free(v, n);
        return rc;
    }
    *out = v;
    return (long)n;
}

void deadletter_bodies_free(deadletter_body_t *b, size_t n)
{
    for (size_t i = 0; b && i < n; i++) free(b[i].body);
    free(b);
}

uint64_t deadletter_records(const deadletter_t *d)
{
    return d->records;
}
