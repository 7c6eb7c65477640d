/*
 * ldfault.c - LD_PRELOAD fault injector for the logdist integration tests
 * (libldfault.so, built into <build>/tests/). Fails chosen syscalls on chosen
 * paths, switchable while the process runs.
 *
 * Use:  LD_PRELOAD=<build>/tests/libldfault.so LDFAULT_CONTROL=/tmp/x/faults
 *       [LDFAULT_LOG=/tmp/x/faults.log] logdistd ...
 *
 * The control file holds rules, one a line ('#' starts a comment):
 *
 *   write   path=/wal- errno=ENOSPC after_bytes=1048576 count=1
 *   write   path=/wal- errno=ENOSPC min_size=1048576 count=1
 *   write   path=deadletter.log errno=EIO
 *   write   path=/wal- short=100                 (short writes, no error)
 *   write   path=/wal- delay_ms=300 count=1      (slow write, then done as asked)
 *   fsync   path=/wal- errno=EIO skip=2 count=1
 *   ssl_new count=1
 *
 *   op         write (write, pwrite, pwrite64, writev, pwritev, pwritev2),
 *              fsync (fsync, fdatasync) or ssl_new (SSL_new returns NULL)
 *   path=S     the fd's path (readlink of /proc/self/fd/N) contains S; required
 *              for write and fsync; only regular files are ever matched
 *   errno=E    ENOSPC, EIO, EFBIG, EDQUOT, EROFS, ENOMEM or a number (default
 *              EIO, except in a rule that only delays or shortens)
 *   after_bytes=N  write: the first N bytes of matching calls pass; the call
 *              that crosses N is cut short at N (as a filling disk does), the
 *              calls after it fail
 *   min_size=N write: only calls of at least N bytes match
 *   short=N    write: no error, each matching call writes at most N bytes
 *   delay_ms=N sleep N ms first; with no errno= the call then succeeds
 *   skip=N     the first N matching calls pass untouched
 *   count=N    inject N times, then the rule is spent (default 0: no end)
 *
 * A call takes the first rule that matches it and is not spent (at most 16
 * rules; descriptors above 4095 are never faulted). The file is
 * re-read whenever its inode, size or mtime changes (checked on each
 * intercepted call on a regular file and each SSL_new): tests write it to a
 * temp name and rename() it in place. Each load starts every rule's counters
 * afresh; an empty or missing file clears every fault. Bad lines are reported
 * on stderr and ignored.
 *
 * LDFAULT_LOG, when set, gets one line per injected fault
 * ("fault write errno=28 path=/x/wal-01.log size=1048576"), delay ("delay ...")
 * or short write ("short write 7 of 512 path=..."), and one per load ("loaded 2
 * rules"), so a test can check that a fault really fired.
 *
 * Thread and signal safety: a call on a descriptor that is not a regular file
 * (sockets, pipes: libevent's signal handler writes to a socketpair) costs one
 * fstat() and passes straight through, without a lock or allocation. Calls on
 * regular files take one mutex; the real functions are resolved with
 * dlsym(RTLD_NEXT) in a constructor. Per-fd paths are cached, keyed by the
 * fd's device and inode (so a close done inside libc cannot fool it), and
 * dropped on close()/dup2()/dup3().
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_RULES 16
#define MAX_FDS 4096
#define PATH_CAP 256
#define CTL_MAX 8192

typedef enum { OP_WRITE, OP_FSYNC, OP_SSL_NEW } op_t;

typedef struct {
    op_t op;
    char path[PATH_CAP];
    int err;      /* 0: no errno= given (EIO, unless the rule only delays or shortens) */
    uint64_t after_bytes, min_size, short_n, delay_ms, skip, count;
    uint64_t seen, passed_bytes, fired; /* counters, reset on each load */
} rule_t;

/* What to do with one call. */
typedef struct {
    int err;          /* fail with this errno (0: do the call) */
    size_t limit;     /* write at most this many bytes */
    uint64_t delay_ms;
} plan_t;

typedef struct {
    dev_t dev;
    ino_t ino;
    bool valid;
    char path[PATH_CAP];
} fd_slot_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static rule_t g_rules[MAX_RULES];
static int g_nrules;
static struct stat g_ctl_seen; /* the control file as last loaded */
static bool g_ctl_present;
static fd_slot_t g_fds[MAX_FDS];
static int g_log_fd = -1;

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev2)(int, const struct iovec *, int, off_t, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_close)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static void *(*real_ssl_new)(void *);

static void *next_sym(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

__attribute__((constructor)) static void ldfault_init(void)
{
    static bool done;
    if (done) return;
    done = true;
    real_write = next_sym("write");
    real_pwrite = next_sym("pwrite");
    real_pwrite64 = next_sym("pwrite64");
    real_writev = next_sym("writev");
    real_pwritev = next_sym("pwritev");
    real_pwritev2 = next_sym("pwritev2");
    real_fsync = next_sym("fsync");
    real_fdatasync = next_sym("fdatasync");
    real_close = next_sym("close");
    real_dup2 = next_sym("dup2");
    real_dup3 = next_sym("dup3");
    real_ssl_new = next_sym("SSL_new"); /* NULL until libssl is there: looked up again */
    const char *log = getenv("LDFAULT_LOG");
    if (log && *log) g_log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

/* ------------------------------------------------------------------ logging */

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...)
{
    if (g_log_fd < 0 || !real_write) return;
    char line[PATH_CAP + 128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    (void)!real_write(g_log_fd, line, (size_t)n);
}

/* ------------------------------------------------------------------ control file */

static int parse_errno(const char *v)
{
    static const struct { const char *name; int err; } names[] = {
        {"ENOSPC", ENOSPC}, {"EIO", EIO}, {"EFBIG", EFBIG}, {"EDQUOT", EDQUOT},
        {"EROFS", EROFS},   {"ENOMEM", ENOMEM}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(v, names[i].name)) return names[i].err;
    int e = atoi(v);
    return e > 0 ? e : -1;
}

static int parse_u64(const char *v, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || *v == '-') return -1;
    *out = x;
    return 0;
}

/* One key=value of a rule. */
static int parse_field(rule_t *r, const char *key, const char *val)
{
    if (!strcmp(key, "path")) {
        if (!*val || strlen(val) >= sizeof r->path) return -1;
        strcpy(r->path, val);
        return 0;
    }
    if (!strcmp(key, "errno")) return (r->err = parse_errno(val)) > 0 ? 0 : -1;
    static const struct { const char *key; size_t off; } nums[] = {
        {"after_bytes", offsetof(rule_t, after_bytes)}, {"min_size", offsetof(rule_t, min_size)},
        {"short", offsetof(rule_t, short_n)},           {"delay_ms", offsetof(rule_t, delay_ms)},
        {"skip", offsetof(rule_t, skip)},               {"count", offsetof(rule_t, count)}};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        if (!strcmp(key, nums[i].key)) return parse_u64(val, (uint64_t *)((char *)r + nums[i].off));
    return -1;
}

/* One line into a rule; 1 = a rule, 0 = blank or comment, -1 = bad. */
static int parse_line(char *line, rule_t *r)
{
    char *hash = strchr(line, '#');
    if (hash) *hash = 0;
    char *save = NULL, *tok = strtok_r(line, " \t\r", &save);
    if (!tok) return 0;
    memset(r, 0, sizeof *r);
    if (!strcmp(tok, "write")) r->op = OP_WRITE;
    else if (!strcmp(tok, "fsync")) r->op = OP_FSYNC;
    else if (!strcmp(tok, "ssl_new")) r->op = OP_SSL_NEW;
    else return -1;
    while ((tok = strtok_r(NULL, " \t\r", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq) return -1;
        *eq = 0;
        if (parse_field(r, tok, eq + 1)) return -1;
    }
    if (r->op != OP_SSL_NEW && !r->path[0]) return -1; /* never fault every file */
    return 1;
}

/* Read the control file into the rule table (g_mu held). */
static void load_rules(const char *path)
{
    char buf[CTL_MAX + 1];
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n;
        while (len < CTL_MAX && (n = read(fd, buf + len, CTL_MAX - len)) > 0) len += (size_t)n;
        real_close(fd);
    }
    buf[len] = 0;
    g_nrules = 0;
    int lineno = 0;
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        rule_t r;
        int rc = parse_line(line, &r);
        if (rc < 0) fprintf(stderr, "ldfault: %s:%d: bad rule, ignored\n", path, lineno);
        if (rc > 0 && g_nrules < MAX_RULES) g_rules[g_nrules++] = r;
    }
    log_line("loaded %d rules", g_nrules);
}

/* Re-read the control file if it changed since the last load (g_mu held). */
static void refresh_rules(void)
{
    const char *path = getenv("LDFAULT_CONTROL");
    if (!path || !*path) return;
    struct stat st;
    bool present = stat(path, &st) == 0;
    if (present == g_ctl_present &&
        (!present || (st.st_ino == g_ctl_seen.st_ino && st.st_size == g_ctl_seen.st_size &&
                      st.st_mtim.tv_sec == g_ctl_seen.st_mtim.tv_sec &&
                      st.st_mtim.tv_nsec == g_ctl_seen.st_mtim.tv_nsec)))
        return;
    g_ctl_present = present;
    if (present) g_ctl_seen = st;
    if (present)
        load_rules(path);
    else
        g_nrules = 0;
}

/* ------------------------------------------------------------------ matching */

/* The path of fd, or NULL when it cannot be had (g_mu held). */
static const char *fd_path(int fd, const struct stat *st)
{
    if (fd < 0 || fd >= MAX_FDS) return NULL;
    fd_slot_t *s = &g_fds[fd];
    if (s->valid && s->dev == st->st_dev && s->ino == st->st_ino) return s->path;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, s->path, sizeof s->path - 1);
    if (n < 0) {
        s->valid = false;
        return NULL;
    }
    s->path[n] = 0;
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    s->valid = true;
    return s->path;
}

static void fd_forget(int fd)
{
    if (fd < 0 || fd >= MAX_FDS) return;
    /* a lone byte store: a reader under g_mu then sees it as invalid and looks again */
    __atomic_store_n(&g_fds[fd].valid, false, __ATOMIC_RELAXED);
}

static bool spent(const rule_t *r)
{
    return r->count && r->fired >= r->count;
}

/* Decide about a write of n bytes to rule r (g_mu held). */
static void plan_write_rule(rule_t *r, size_t n, plan_t *p, const char *path)
{
    p->delay_ms = r->delay_ms;
    if (r->short_n) {
        if (n > r->short_n) p->limit = (size_t)r->short_n;
        r->fired++;
        log_line("short write %zu of %zu path=%s", p->limit, n, path);
        return;
    }
    if (r->after_bytes) {
        uint64_t room = r->after_bytes > r->passed_bytes ? r->after_bytes - r->passed_bytes : 0;
        if (room) { /* all of it, or the part that still fits */
            p->limit = n < room ? n : (size_t)room;
            r->passed_bytes += p->limit;
            p->delay_ms = 0;
            return;
        }
    }
    r->fired++;
    if (r->delay_ms && !r->err && !r->after_bytes) { /* only a delay: a slow write */
        log_line("delay write %llums path=%s size=%zu", (unsigned long long)r->delay_ms, path, n);
        return;
    }
    p->err = r->err ? r->err : EIO;
    log_line("fault write errno=%d path=%s size=%zu", r->err, path, n);
}

/* The first live rule of `op` matching fd (and size n for writes), or NULL.
 * Counts a skipped call. fd < 0: no path (ssl_new). g_mu held. */
static rule_t *match(op_t op, int fd, const struct stat *st, size_t n, const char **path)
{
    *path = "";
    if (fd >= 0 && !(*path = fd_path(fd, st))) return NULL;
    for (int i = 0; i < g_nrules; i++) {
        rule_t *r = &g_rules[i];
        if (r->op != op || spent(r)) continue;
        if (op != OP_SSL_NEW && !strstr(*path, r->path)) continue;
        if (op == OP_WRITE && n < r->min_size) continue;
        if (r->seen++ < r->skip) {
            if (op == OP_WRITE) r->passed_bytes += n;
            return NULL;
        }
        return r;
    }
    return NULL;
}

/* Is fd a regular file (the only kind ever faulted)? Lock-free. */
static bool regular(int fd, struct stat *st)
{
    return fstat(fd, st) == 0 && S_ISREG(st->st_mode);
}

/* The plan for a write of n bytes to fd: {0, n, 0} when untouched. */
static plan_t plan_write(int fd, size_t n)
{
    ldfault_init(); /* a no-op, unless another constructor writes before ours ran */
    plan_t p = {0, n, 0};
    struct stat st;
    if (!regular(fd, &st)) return p;
    pthread_mutex_lock(&g_mu);
    refresh_rules();
    const char *path;
    rule_t *r = match(OP_WRITE, fd, &st, n, &path);
    if (r) plan_write_rule(r, n, &p, path);
    pthread_mutex_unlock(&g_mu);
    return p;
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

/* Apply the sleep and the error of a plan: true when the call must fail. */
static bool plan_fails(const plan_t *p)
{
    if (p->delay_ms) sleep_ms(p->delay_ms);
    if (!p->err) return false;
    errno = p->err;
    return true;
}

/* ------------------------------------------------------------------ interposed calls */

ssize_t write(int fd, const void *buf, size_t n)
{
    plan_t p = plan_write(fd, n);
    if (plan_fails(&p)) return -1;
    return real_write(fd, buf, p.limit);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    plan_t p = plan_write(fd, n);
    if (plan_fails(&p)) return -1;
    return real_pwrite(fd, buf, p.limit, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    plan_t p = plan_write(fd, n);
    if (plan_fails(&p)) return -1;
    return real_pwrite64(fd, buf, p.limit, off);
}

static size_t iov_total(const struct iovec *iov, int cnt)
{
    size_t t = 0;
    for (int i = 0; i < cnt; i++) t += iov[i].iov_len;
    return t;
}

/* Copy of iov holding only its first `limit` bytes; returns the new count. */
static int iov_cut(const struct iovec *iov, int cnt, size_t limit, struct iovec *out)
{
    int k = 0;
    for (int i = 0; i < cnt && limit; i++, k++) {
        out[k] = iov[i];
        if (out[k].iov_len > limit) out[k].iov_len = limit;
        limit -= out[k].iov_len;
    }
    return k;
}

/* Shared body of writev/pwritev/pwritev2: kind 0, 1, 2. */
static ssize_t do_writev(int kind, int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    if (cnt < 0 || cnt > IOV_MAX) {
        errno = EINVAL;
        return -1;
    }
    size_t total = iov_total(iov, cnt);
    plan_t p = plan_write(fd, total);
    if (plan_fails(&p)) return -1;
    struct iovec cut[IOV_MAX];
    if (p.limit < total) {
        cnt = iov_cut(iov, cnt, p.limit, cut);
        iov = cut;
    }
    if (kind == 0) return real_writev(fd, iov, cnt);
    if (kind == 1) return real_pwritev(fd, iov, cnt, off);
    return real_pwritev2(fd, iov, cnt, off, flags);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    return do_writev(0, fd, iov, cnt, 0, 0);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    return do_writev(1, fd, iov, cnt, off, 0);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    return do_writev(2, fd, iov, cnt, off, flags);
}

/* fsync and fdatasync: 0 = go on with the real call, else fail with errno set. */
static int plan_sync(int fd, const char *name)
{
    ldfault_init();
    struct stat st;
    if (!regular(fd, &st)) return 0;
    plan_t p = {0, 0, 0};
    pthread_mutex_lock(&g_mu);
    refresh_rules();
    const char *path;
    rule_t *r = match(OP_FSYNC, fd, &st, 0, &path);
    if (r) {
        r->fired++;
        p.delay_ms = r->delay_ms;
        p.err = r->err ? r->err : r->delay_ms ? 0 : EIO; /* only a delay: a slow sync */
        if (p.err)
            log_line("fault %s errno=%d path=%s", name, p.err, path);
        else
            log_line("delay %s %llums path=%s", name, (unsigned long long)p.delay_ms, path);
    }
    pthread_mutex_unlock(&g_mu);
    return plan_fails(&p) ? -1 : 0;
}

int fsync(int fd)
{
    return plan_sync(fd, "fsync") ? -1 : real_fsync(fd);
}

int fdatasync(int fd)
{
    return plan_sync(fd, "fdatasync") ? -1 : real_fdatasync(fd);
}

int close(int fd)
{
    ldfault_init();
    fd_forget(fd);
    return real_close(fd);
}

int dup2(int from, int to)
{
    ldfault_init();
    fd_forget(to);
    return real_dup2(from, to);
}

int dup3(int from, int to, int flags)
{
    ldfault_init();
    fd_forget(to);
    return real_dup3(from, to, flags);
}

/* OpenSSL's SSL *SSL_new(SSL_CTX *): typed loosely, no OpenSSL headers needed. */
void *SSL_new(void *ctx);
void *SSL_new(void *ctx)
{
    pthread_mutex_lock(&g_mu);
    refresh_rules();
    const char *path;
    rule_t *r = match(OP_SSL_NEW, -1, NULL, 0, &path);
    if (r) {
        r->fired++;
        log_line("fault SSL_new");
    }
    if (!real_ssl_new) real_ssl_new = next_sym("SSL_new");
    pthread_mutex_unlock(&g_mu);
    if (r || !real_ssl_new) return NULL;
    return real_ssl_new(ctx);
}
