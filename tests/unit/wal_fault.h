/*
 * wal_fault.h - a fault-injecting io table for the WAL (wal_io_t), shared by
 * test_wal.c and test_durable.c (header only, static functions).
 *
 * Contract: fault_io_init() gives a table that behaves like the real system
 * calls until a fault is armed with fault_arm(). An armed fault fails one kind
 * of call (write, fdatasync or ftruncate), optionally only on descriptors whose
 * file name ends with `path_suffix`:
 *   - write: the first `after_bytes` bytes written since arming go through (the
 *     call that crosses the limit is a short write up to it), then each write
 *     fails with `err`;
 *   - fdatasync / ftruncate: the first `skip` matching calls pass, then each fails;
 *   - max_chunk (write, err 0): every write is short, at most max_chunk bytes.
 * `times` failures are injected (-1: until fault_clear()). Thread-safe (the
 * durability syncer calls fdatasync from its own thread).
 */
#ifndef LOGDIST_TEST_WAL_FAULT_H
#define LOGDIST_TEST_WAL_FAULT_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store/wal.h"

typedef enum { FAULT_NONE, FAULT_WRITE, FAULT_FDATASYNC, FAULT_FTRUNCATE } fault_op_t;

typedef struct {
    fault_op_t op;
    int err;                 /* errno to fail with; 0 with max_chunk = short writes only */
    uint64_t after_bytes;    /* write: bytes let through first */
    unsigned skip;           /* fdatasync/ftruncate: matching calls let through first */
    int times;               /* failures to inject; -1 = until cleared */
    size_t max_chunk;        /* write: cap every write at this many bytes (0 = none) */
    const char *path_suffix; /* only descriptors of files ending so; NULL = all */
    int ftruncate_err;       /* besides: every ftruncate fails with this while armed */
} fault_t;

typedef struct {
    pthread_mutex_t mu;
    fault_t f;
    bool armed;
    uint64_t written;    /* bytes through write since arming */
    unsigned seen;       /* matching fdatasync/ftruncate calls since arming */
    int injected;        /* failures injected since arming */
    unsigned fdatasyncs; /* every fdatasync call, armed or not */
    wal_io_t io;
} fault_io_t;

static bool fault_fd_matches(const fault_t *f, int fd)
{
    if (!f->path_suffix) return true;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0) return false;
    path[n] = 0;
    size_t sl = strlen(f->path_suffix);
    return (size_t)n >= sl && !strcmp(path + n - sl, f->path_suffix);
}

static bool fault_can_inject(fault_io_t *fi)
{
    return fi->armed && (fi->f.times < 0 || fi->injected < fi->f.times);
}

static ssize_t fault_write(void *ctx, int fd, const void *buf, size_t len)
{
    fault_io_t *fi = ctx;
    pthread_mutex_lock(&fi->mu);
    size_t allow = len;
    bool fail = false;
    if (fi->armed && fi->f.op == FAULT_WRITE && fault_fd_matches(&fi->f, fd)) {
        if (fi->f.max_chunk && allow > fi->f.max_chunk) allow = fi->f.max_chunk;
        if (fi->f.err && fault_can_inject(fi)) {
            uint64_t room = fi->written < fi->f.after_bytes ? fi->f.after_bytes - fi->written : 0;
            if (!room) {
                fail = true;
                fi->injected++;
            } else if (allow > room) {
                allow = (size_t)room;
            }
        }
    }
    pthread_mutex_unlock(&fi->mu);
    if (fail) {
        errno = fi->f.err;
        return -1;
    }
    ssize_t n = write(fd, buf, allow);
    if (n > 0) {
        pthread_mutex_lock(&fi->mu);
        fi->written += (uint64_t)n;
        pthread_mutex_unlock(&fi->mu);
    }
    return n;
}

static int fault_counted(fault_io_t *fi, fault_op_t op, int fd)
{
    pthread_mutex_lock(&fi->mu);
    int err = 0;
    if (fi->armed && fi->f.op == op && fault_fd_matches(&fi->f, fd) && fault_can_inject(fi) &&
        fi->seen++ >= fi->f.skip) {
        err = fi->f.err;
        fi->injected++;
    }
    if (op == FAULT_FDATASYNC) fi->fdatasyncs++;
    pthread_mutex_unlock(&fi->mu);
    return err;
}

static int fault_fdatasync(void *ctx, int fd)
{
    int err = fault_counted(ctx, FAULT_FDATASYNC, fd);
    if (err) {
        errno = err;
        return -1;
    }
    return fdatasync(fd);
}

static int fault_ftruncate(void *ctx, int fd, off_t len)
{
    fault_io_t *fi = ctx;
    pthread_mutex_lock(&fi->mu);
    int also = fi->armed ? fi->f.ftruncate_err : 0;
    pthread_mutex_unlock(&fi->mu);
    if (also) {
        errno = also;
        return -1;
    }
    int err = fault_counted(ctx, FAULT_FTRUNCATE, fd);
    if (err) {
        errno = err;
        return -1;
    }
    return ftruncate(fd, len);
}

static void fault_io_init(fault_io_t *fi)
{
    memset(fi, 0, sizeof *fi);
    pthread_mutex_init(&fi->mu, NULL);
    fi->io = (wal_io_t){fault_write, fault_fdatasync, fault_ftruncate, fi};
}

static void fault_arm(fault_io_t *fi, const fault_t *f)
{
    pthread_mutex_lock(&fi->mu);
    fi->f = *f;
    fi->armed = f->op != FAULT_NONE;
    fi->written = 0;
    fi->seen = 0;
    fi->injected = 0;
    pthread_mutex_unlock(&fi->mu);
}

static void fault_clear(fault_io_t *fi)
{
    pthread_mutex_lock(&fi->mu);
    fi->armed = false;
    pthread_mutex_unlock(&fi->mu);
}

static int fault_injected(fault_io_t *fi)
{
    pthread_mutex_lock(&fi->mu);
    int n = fi->injected;
    pthread_mutex_unlock(&fi->mu);
    return n;
}

#endif
