/*
 * deadletter.c - see deadletter.h. Entries form a FIFO of metadata; in memory
 * mode each keeps its batch, in disk mode its body lives only in the file.
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

#include "common/log.h"
#include "common/util.h"
#include "core/metrics.h"
#include "store/crc32c.h"

#define DL_FILE "deadletter.log"
#define DL_MAGIC "LDDLQ01\n"
#define ENTRY_HEADER 8

typedef struct entry {
    struct entry *next;
    batch_t *batch; /* memory mode only */
    char batch_id[BATCH_ID_LEN + 1];
    char analyzer[65];
    char reason[160];
    uint32_t records, attempts;
    uint64_t at_ms; /* wall clock */
    uint64_t bytes; /* size of the stored body */
} entry_t;

struct deadletter {
    entry_t *head, *tail;
    uint64_t bytes, records, batches, max_bytes;
    int fd; /* -1 in memory mode */
    char path[PATH_MAX];
    uint64_t file_size;
};

deadletter_t *deadletter_new(uint64_t max_bytes)
{
    deadletter_t *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->max_bytes = max_bytes;
    d->fd = -1;
    return d;
}

static void link_entry(deadletter_t *d, entry_t *e)
{
    if (d->tail)
        d->tail->next = e;
    else
        d->head = e;
    d->tail = e;
    d->bytes += e->bytes;
    d->records += e->records;
    d->batches++;
}

static void clear_entries(deadletter_t *d)
{
    entry_t *e = d->head;
    while (e) {
        entry_t *n = e->next;
        batch_free(e->batch);
        free(e);
        e = n;
    }
    d->head = d->tail = NULL;
    d->bytes = d->records = d->batches = 0;
}

void deadletter_free(deadletter_t *d)
{
    if (!d) return;
    clear_entries(d);
    if (d->fd >= 0) close(d->fd);
    free(d);
}

/* Parse one entry's metadata line into e. Returns 0 or -1. */
static int parse_meta(const char *p, size_t len, entry_t *e)
{
    json_error_t jerr;
    json_t *m = json_loadb(p, len, 0, &jerr);
    if (!json_is_object(m)) {
        json_decref(m);
        return -1;
    }
    const char *s;
    if ((s = json_string_value(json_object_get(m, "batch_id"))))
        strlcpy_ld(e->batch_id, s, sizeof e->batch_id);
    if ((s = json_string_value(json_object_get(m, "analyzer"))))
        strlcpy_ld(e->analyzer, s, sizeof e->analyzer);
    if ((s = json_string_value(json_object_get(m, "reason"))))
        strlcpy_ld(e->reason, s, sizeof e->reason);
    e->records = (uint32_t)json_integer_value(json_object_get(m, "records"));
    e->attempts = (uint32_t)json_integer_value(json_object_get(m, "attempts"));
    e->at_ms = (uint64_t)json_integer_value(json_object_get(m, "at_ms"));
    json_decref(m);
    return 0;
}

/* Walk the file image; for each good entry call fn(meta, body). Returns the
 * offset after the last good entry. */
typedef int (*dl_entry_fn)(void *ctx, const char *meta, size_t mlen, const char *body,
                           size_t blen);
static size_t walk(const char *img, size_t len, dl_entry_fn fn, void *ctx)
{
    size_t off = sizeof DL_MAGIC - 1;
    while (off + ENTRY_HEADER <= len) {
        uint32_t elen, crc;
        memcpy(&elen, img + off, 4);
        memcpy(&crc, img + off + 4, 4);
        if (off + ENTRY_HEADER + elen > len) break;
        const char *p = img + off + ENTRY_HEADER;
        if (crc32c_update(0, p, elen) != crc) break;
        const char *nl = memchr(p, '\n', elen);
        if (!nl) break;
        if (fn(ctx, p, (size_t)(nl - p), nl + 1, elen - (size_t)(nl - p) - 1)) break;
        off += ENTRY_HEADER + elen;
    }
    return off;
}

static int load_entry(void *ctx, const char *meta, size_t mlen, const char *body, size_t blen)
{
    deadletter_t *d = ctx;
    entry_t *e = calloc(1, sizeof *e);
    if (!e || parse_meta(meta, mlen, e)) {
        free(e);
        return -1;
    }
    e->bytes = blen;
    link_entry(d, e);
    return 0;
}

static int read_image(const char *path, char **img, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat st;
    if (fstat(fd, &st)) {
        close(fd);
        return -errno;
    }
    *img = malloc((size_t)st.st_size + 1);
    if (!*img) {
        close(fd);
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, *img + got, (size_t)st.st_size - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    *len = got;
    return 0;
}

deadletter_t *deadletter_open(const char *dir, uint64_t max_bytes, char *err, size_t errlen)
{
    deadletter_t *d = deadletter_new(max_bytes);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(d->path, sizeof d->path, "%s/" DL_FILE, dir);
    d->fd = open(d->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (d->fd < 0) {
        snprintf(err, errlen, "%s: %s", d->path, strerror(errno));
        deadletter_free(d);
        return NULL;
    }
    char *img = NULL;
    size_t len = 0;
    if (read_image(d->path, &img, &len) == 0 && len >= sizeof DL_MAGIC - 1 &&
        !memcmp(img, DL_MAGIC, sizeof DL_MAGIC - 1)) {
        size_t good = walk(img, len, load_entry, d);
        if (good < len) {
            log_warn("deadletter", "%s: torn tail: cut %zu bytes at offset %zu", d->path,
                     len - good, good);
            if (ftruncate(d->fd, (off_t)good)) log_error("deadletter", "cut failed");
        }
        d->file_size = good;
    } else {
        if (len) log_warn("deadletter", "%s: unrecognised content; starting empty", d->path);
        if (ftruncate(d->fd, 0) || write(d->fd, DL_MAGIC, sizeof DL_MAGIC - 1) < 0) {
            snprintf(err, errlen, "%s: %s", d->path, strerror(errno));
            free(img);
            deadletter_free(d);
            return NULL;
        }
        d->file_size = sizeof DL_MAGIC - 1;
    }
    free(img);
    return d;
}

static int append_to_file(deadletter_t *d, const entry_t *e, const batch_t *b)
{
    json_t *m = json_object();
    json_object_set_new(m, "batch_id", json_string(e->batch_id));
    json_object_set_new(m, "analyzer", json_string(e->analyzer));
    json_object_set_new(m, "reason", json_string(e->reason));
    json_object_set_new(m, "records", json_integer(e->records));
    json_object_set_new(m, "attempts", json_integer(e->attempts));
    json_object_set_new(m, "at_ms", json_integer((json_int_t)e->at_ms));
    char *meta = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    if (!meta) return -ENOMEM;
    size_t mlen = strlen(meta);
    uint32_t elen = (uint32_t)(mlen + 1 + b->len);
    char *buf = malloc(ENTRY_HEADER + elen);
    if (!buf) {
        free(meta);
        return -ENOMEM;
    }
    memcpy(buf + ENTRY_HEADER, meta, mlen);
    buf[ENTRY_HEADER + mlen] = '\n';
    memcpy(buf + ENTRY_HEADER + mlen + 1, b->buf, b->len);
    uint32_t crc = crc32c_update(0, buf + ENTRY_HEADER, elen);
    memcpy(buf, &elen, 4);
    memcpy(buf + 4, &crc, 4);
    free(meta);
    size_t total = ENTRY_HEADER + elen, off = 0;
    int rc = 0;
    while (off < total) {
        ssize_t n = write(d->fd, buf + off, total - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            if (ftruncate(d->fd, (off_t)d->file_size)) log_error("deadletter", "cut failed");
            break;
        }
        off += (size_t)n;
    }
    free(buf);
    if (!rc && fdatasync(d->fd)) rc = -errno;
    if (!rc) d->file_size += total;
    return rc;
}

int deadletter_add(deadletter_t *d, batch_t *b, const char *reason)
{
    METRIC_ADD(records_deadlettered, b->records);
    entry_t *e = calloc(1, sizeof *e);
    if (!e || d->bytes + b->len > d->max_bytes) {
        if (e) log_error("deadletter", "store full (%llu bytes): batch %s of %u records dropped",
                         (unsigned long long)d->bytes, b->id, b->records);
        METRIC_ADD(records_deadletter_evicted, b->records);
        free(e);
        batch_free(b);
        return -1;
    }
    strlcpy_ld(e->batch_id, b->id, sizeof e->batch_id);
    strlcpy_ld(e->analyzer, b->last_analyzer, sizeof e->analyzer);
    strlcpy_ld(e->reason, reason, sizeof e->reason);
    /* never cut inside a UTF-8 sequence (jansson refuses invalid strings) */
    size_t rl = strlen(e->reason);
    if (rl == sizeof e->reason - 1) {
        size_t cut = rl;
        while (cut > 0 && ((unsigned char)e->reason[cut - 1] & 0xC0) == 0x80) cut--;
        if (cut > 0 && ((unsigned char)e->reason[cut - 1] & 0x80)) {
            unsigned char lead = (unsigned char)e->reason[cut - 1];
            size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
            if (rl - (cut - 1) < want) e->reason[cut - 1] = 0;
        }
    }
    e->records = b->records;
    e->attempts = b->attempts;
    e->at_ms = wall_ms();
    e->bytes = b->len;
    if (d->fd >= 0) {
        int rc = append_to_file(d, e, b);
        batch_free(b);
        if (rc) {
            log_error("deadletter", "cannot write %s: %s; %u records dropped", d->path,
                      strerror(-rc), e->records);
            METRIC_ADD(records_deadletter_evicted, e->records);
            free(e);
            return -1;
        }
    } else {
        e->batch = b;
    }
    link_entry(d, e);
    return 0;
}

json_t *deadletter_to_json(const deadletter_t *d, size_t sample)
{
    json_t *o = json_object();
    json_object_set_new(o, "records", json_integer((json_int_t)d->records));
    json_object_set_new(o, "batches", json_integer((json_int_t)d->batches));
    json_object_set_new(o, "bytes", json_integer((json_int_t)d->bytes));
    json_object_set_new(o, "max_bytes", json_integer((json_int_t)d->max_bytes));
    json_object_set_new(o, "persistent", json_boolean(d->fd >= 0));
    json_object_set_new(o, "oldest_ms",
                        d->head ? json_integer((json_int_t)d->head->at_ms) : json_null());
    json_object_set_new(o, "evicted_records",
                        json_integer((json_int_t)METRIC_GET(records_deadletter_evicted)));
    json_t *arr = json_array();
    size_t skip = d->batches > sample ? d->batches - sample : 0, i = 0;
    for (entry_t *e = d->head; e; e = e->next, i++) {
        if (i < skip) continue;
        json_t *s = json_object();
        json_object_set_new(s, "batch_id", json_string(e->batch_id));
        json_object_set_new(s, "records", json_integer(e->records));
        json_object_set_new(s, "attempts", json_integer(e->attempts));
        json_object_set_new(s, "reason", json_string(e->reason));
        json_object_set_new(s, "last_analyzer", json_string(e->analyzer));
        json_object_set_new(s, "at_ms", json_integer((json_int_t)e->at_ms));
        json_array_append_new(arr, s);
    }
    json_object_set_new(o, "sample", arr);
    return o;
}

typedef struct {
    char **bodies;
    size_t *lens;
    size_t n, cap;
} collect_t;

static int collect(collect_t *c, const char *body, size_t len)
{
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        char **nb = realloc(c->bodies, nc * sizeof *nb);
        if (!nb) return -1;
        c->bodies = nb;
        size_t *nl = realloc(c->lens, nc * sizeof *nl);
        if (!nl) return -1;
        c->lens = nl;
        c->cap = nc;
    }
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, body, len);
    copy[len] = 0;
    c->bodies[c->n] = copy;
    c->lens[c->n++] = len;
    return 0;
}

static int collect_entry(void *ctx, const char *meta, size_t mlen, const char *body, size_t blen)
{
    return collect(ctx, body, blen);
}

long deadletter_read_all(deadletter_t *d, char ***bodies, size_t **lens)
{
    collect_t c = {0};
    int rc = 0;
    if (d->fd >= 0) {
        char *img = NULL;
        size_t len = 0;
        rc = read_image(d->path, &img, &len);
        if (!rc) {
            walk(img, len < d->file_size ? len : (size_t)d->file_size, collect_entry, &c);
            free(img);
        }
    } else {
        for (entry_t *e = d->head; e && !rc; e = e->next)
            rc = collect(&c, e->batch->buf, e->batch->len);
    }
    if (rc) {
        for (size_t i = 0; i < c.n; i++) free(c.bodies[i]);
        free(c.bodies);
        free(c.lens);
        return rc < 0 ? rc : -ENOMEM;
    }
    *bodies = c.bodies;
    *lens = c.lens;
    return (long)c.n;
}

typedef struct {
    uint64_t left;
    size_t off; /* offset after the last skipped entry, relative to the first entry */
} skip_t;

static int skip_entry(void *ctx, const char *meta, size_t mlen, const char *body, size_t blen)
{
    skip_t *k = ctx;
    if (!k->left) return 1;
    k->left--;
    k->off += ENTRY_HEADER + mlen + 1 + blen;
    return 0;
}

int deadletter_remove_first(deadletter_t *d, uint64_t k)
{
    if (k > d->batches) k = d->batches;
    if (d->fd >= 0 && k) {
        char *img = NULL;
        size_t len = 0;
        int rc = read_image(d->path, &img, &len);
        if (rc) return rc;
        if (len > d->file_size) len = (size_t)d->file_size;
        skip_t sk = {k, 0};
        walk(img, len, skip_entry, &sk);
        size_t from = sizeof DL_MAGIC - 1 + sk.off;
        char tmp[PATH_MAX + 8];
        snprintf(tmp, sizeof tmp, "%s.tmp", d->path);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        rc = fd < 0 ? -errno : 0;
        if (!rc && (write(fd, DL_MAGIC, sizeof DL_MAGIC - 1) < 0 ||
                    (len > from && write(fd, img + from, len - from) != (ssize_t)(len - from)) ||
                    fdatasync(fd)))
            rc = -errno ? -errno : -EIO;
        if (fd >= 0) close(fd);
        free(img);
        if (!rc && rename(tmp, d->path)) rc = -errno;
        if (rc) {
            unlink(tmp);
            return rc;
        }
        close(d->fd);
        d->fd = open(d->path, O_RDWR | O_APPEND | O_CLOEXEC);
        if (d->fd < 0) return -errno;
        d->file_size = sizeof DL_MAGIC - 1 + (len > from ? len - from : 0);
    }
    for (uint64_t i = 0; i < k && d->head; i++) {
        entry_t *e = d->head;
        d->head = e->next;
        if (!d->head) d->tail = NULL;
        d->bytes -= e->bytes;
        d->records -= e->records;
        d->batches--;
        batch_free(e->batch);
        free(e);
    }
    return 0;
}

uint64_t deadletter_purge(deadletter_t *d)
{
    uint64_t n = d->records;
    clear_entries(d);
    if (d->fd >= 0) {
        if (ftruncate(d->fd, sizeof DL_MAGIC - 1) || fdatasync(d->fd))
            log_error("deadletter", "cannot purge %s: %s", d->path, strerror(errno));
        d->file_size = sizeof DL_MAGIC - 1;
    }
    return n;
}

uint64_t deadletter_records(const deadletter_t *d)
{
    return d->records;
}
