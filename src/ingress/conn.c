/*
 * conn.c - see conn.h.
 *
 * Implementation notes.
 *
 * Events. Each connection has three libevent events on its listener's loop:
 * `rev` (EV_READ|EV_PERSIST, added while reading is wanted), `wev`
 * (EV_WRITE|EV_PERSIST, added only while output is blocked by a full socket
 * or while TLS needs writability) and `timer` (deadlines, and the "kick": an
 * event_active() on it runs deferred work on the next turn of the loop).
 * Two events on one descriptor let libevent turn adding/removing EV_WRITE
 * into a single EPOLL_CTL_MOD. Pausing is lazy: conn_pause_read() only sets
 * a flag; the read event is removed when it next fires while paused (so a
 * pause that ends before the client sends anything costs no system call).
 *
 * Callbacks and freeing. Every entry from libevent (on_io, on_timer) raises
 * c->depth while framer callbacks may run, then calls conn_settle() at depth
 * 0: settle flushes the output collected during the callback (one write per
 * answer), starts the lingering close, frees a closed connection, fixes the
 * events and re-arms the timer. Framer calls made outside any callback of the
 * connection (an answer from a later callback, conn_close from another
 * connection) only record state and kick, so a framer is never re-entered
 * from its own conn_write()/conn_close() and ops->close runs exactly once, at
 * depth 0.
 *
 * Input. One malloc'd buffer [base, cap) with unconsumed bytes [start, end),
 * allocated for a read (16 KiB, what conn_expect_input() asked for, or the
 * size it asked for last time, up to 256 KiB: one read per packet),
 * freed whenever it empties (an idle keep-alive connection holds no buffer:
 * thousands of them cost no memory; the output buffer likewise), handed over whole by
 * conn_take_input(). While on_data runs the framer holds a pointer into it,
 * so nothing moves it then: conn_expect_input() inside on_data allocates the
 * new block at once (so -ENOMEM is reported) and the move happens after
 * on_data returns. A read takes all the room there is; reading loops only
 * while a read filled the room completely (plus OpenSSL's read-ahead).
 *
 * Deadlines. The timer is armed lazily: when the effective deadline moves
 * later nothing is done; when it fires early it recomputes and re-arms. The
 * effective deadline is the earliest of: the request deadline (header
 * timeout from accept, or from conn_request_started on a kept-alive
 * connection; idle timeout after conn_request_done; stopped while the framer
 * paused reading: a resume moves it by the time paused), a stalled write (output pending, no progress for
 * idle_timeout_ms), and the bound on a closing connection (close_by_ms).
 *
 * Threads: every field of conn_t and listener_t belongs to the listener's
 * loop thread. Shared between loops: g_open, the body budget (atomics) and
 * the per-IP table (g_ip.mu).
 */
#include "ingress/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/check.h"
#include "common/log.h"
#include "common/util.h"
#include "core/metrics.h"

#define IN_DEFAULT (16u * 1024)       /* first input buffer */
#define IN_HINT_MAX (256u * 1024)     /* largest buffer sized from a previous request */
#define IN_MIN_ROOM 4096u             /* compact before a read leaving less room than this */
#define OUT_MIN (4u * 1024)           /* first output buffer */
#define ACCEPT_BATCH 64               /* accepts per wakeup */
#define ACCEPT_BACKOFF_MS 100         /* after EMFILE/ENFILE/ENOBUFS/ENOMEM */
#define READS_PER_WAKEUP 8            /* full-buffer reads per wakeup (fairness) */
#define FLUSH_ROUNDS 8                /* on_drained -> conn_write rounds per settle */
#define LINGER_MS 2000                /* lingering close: at most this long ... */
#define LINGER_MAX_BYTES (1u << 20)   /* ... and at most this much discarded */
#define DISCARD_CHUNK 4096            /* stack buffer for discarded input */
#define WARN_EVERY_MS 1000
#define NO_DEADLINE UINT64_MAX

typedef struct {
    char *base;
    size_t cap, start, end; /* unconsumed/unsent bytes: [start, end) */
} buf_t;

/* Everything here is owned by the listener's loop thread. */
struct conn {
    conn_t *prev, *next;          /* the listener's list */
    listener_t *l;                /* NULL once listener_free() orphaned it */
    const framer_ops_t *ops;
    void *st;                     /* framer state (NULL before open / after close) */
    struct event_base *base;
    int fd;
    SSL *ssl;
    struct event *rev, *wev, *timer;
    buf_t in, out;
    char *in_spare;               /* block allocated by conn_expect_input inside on_data */
    size_t spare_cap;
    size_t in_want;               /* contiguous bytes the framer asked for */
    uint32_t group;               /* conn_limits_t.group it counts in */
    size_t in_hint;               /* size of the last request (next buffer's size) */
    size_t taken;                 /* bytes handed over by conn_take_input during on_data */
    uint32_t header_ms, idle_ms;  /* copies of the listener's limits */
    size_t max_input;
    uint64_t req_deadline_ms;     /* header/idle deadline (0 = none) */
    uint64_t write_progress_ms;   /* output became pending or made progress */
    uint64_t close_by_ms;         /* hard bound on a closing connection (0 = none) */
    uint64_t armed_ms;            /* when the timer is set to fire (0 = not pending) */
    uint64_t paused_ms;           /* when conn_pause_read took effect */
    size_t discarded;             /* lingering: bytes thrown away */
    unsigned depth;               /* framer callbacks on the stack */
    bool closing;                 /* conn_close: freed at depth 0 */
    bool close_after;             /* conn_close_after_write */
    bool lingering;               /* write side shut, discarding input */
    bool paused;                  /* conn_pause_read */
    bool in_request;              /* between conn_request_started and _done */
    bool served;                  /* a request completed on this connection */
    bool eof;                     /* the peer's write side ended */
    bool in_on_data;
    bool redeliver;               /* buffered input to hand over at the next kick */
    bool handshaking;             /* TLS handshake not finished */
    bool ssl_fatal;               /* TLS failed: no close_notify */
    bool hs_want_write, rd_want_write, write_blocked;
    bool rev_added, wev_added, kicked;
    bool ip_counted;
    uint8_t ip_len;
    unsigned char ip_key[16];
    uint16_t peer_port;
    char peer[INET6_ADDRSTRLEN];
};

/* Owned by the loop thread of `base`. */
struct listener {
    struct event_base *base;
    int fd;                       /* -1: unbound or stopped */
    uint16_t port;
    struct event *accept_ev, *retry_ev;
    tls_server_t *tls;
    conn_limits_t limits;
    const framer_ops_t *ops;
    void *proto_ctx;
    conn_t *conns;
    bool paused, backing_off, draining, accept_added;
    uint64_t last_accept_warn_ms, last_tls_warn_ms;
};

static _Atomic uint64_t g_open;                   /* every listener */
static _Atomic uint64_t g_open_group[CONN_GROUPS]; /* per conn_limits_t.group */
static _Atomic uint64_t g_budget_limit, g_budget_used;

/* ---- body budget --------------------------------------------------------- */

void conn_budget_set_limit(uint64_t bytes)
{
    atomic_store_explicit(&g_budget_limit, bytes, memory_order_relaxed);
}

uint64_t conn_budget_limit(void)
{
    return atomic_load_explicit(&g_budget_limit, memory_order_relaxed);
}

bool conn_budget_reserve(uint64_t n)
{
    uint64_t lim = atomic_load_explicit(&g_budget_limit, memory_order_relaxed);
    uint64_t cur = atomic_load_explicit(&g_budget_used, memory_order_relaxed);
    do {
        if (lim && (n > lim || cur > lim - n)) return false;
    } while (!atomic_compare_exchange_weak_explicit(&g_budget_used, &cur, cur + n,
                                                    memory_order_relaxed, memory_order_relaxed));
    return true;
}

void conn_budget_release(uint64_t n)
{
    uint64_t old = atomic_fetch_sub_explicit(&g_budget_used, n, memory_order_relaxed);
    LD_ASSERT(old >= n);
}

uint64_t conn_budget_used(void)
{
    return atomic_load_explicit(&g_budget_used, memory_order_relaxed);
}

uint64_t conn_open_count(void)
{
    return atomic_load_explicit(&g_open, memory_order_relaxed);
}

/* ---- per-IP table: chained hash keyed by the address bytes --------------- */

typedef struct ip_entry {
    struct ip_entry *next;
    uint32_t count;
    uint8_t len;
    unsigned char key[16];
} ip_entry_t;

static struct {
    pthread_mutex_t mu;
    ip_entry_t **b;
    size_t nb, n;
    uint64_t seed;
} g_ip = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Keyed so that a client choosing its addresses (an IPv6 /64) cannot aim
 * them all at one chain. */
static size_t ip_hash(const unsigned char *key, uint8_t len)
{
    uint64_t h = g_ip.seed ^ len;
    for (uint8_t i = 0; i < len; i += 8) {
        uint64_t w = 0;
        memcpy(&w, key + i, len - i < 8 ? (size_t)(len - i) : 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
    }
    return (size_t)(h ^ (h >> 32));
}

static int ip_grow(void)
{
    size_t nb = g_ip.nb ? g_ip.nb * 2 : 256;
    ip_entry_t **b = calloc(nb, sizeof(ip_entry_t *));
    if (!b) return -ENOMEM;
    if (!g_ip.nb && getrandom(&g_ip.seed, sizeof g_ip.seed, GRND_NONBLOCK) != sizeof g_ip.seed)
        g_ip.seed = now_us() ^ ((uint64_t)getpid() << 32);
    for (size_t i = 0; i < g_ip.nb; i++) {
        while (g_ip.b[i]) {
            ip_entry_t *e = g_ip.b[i];
            g_ip.b[i] = e->next;
            size_t s = ip_hash(e->key, e->len) & (nb - 1);
            e->next = b[s];
            b[s] = e;
        }
    }
    free(g_ip.b);
    g_ip.b = b;
    g_ip.nb = nb;
    return 0;
}

static ip_entry_t **ip_find(const unsigned char *key, uint8_t len)
{
    ip_entry_t **pp = &g_ip.b[ip_hash(key, len) & (g_ip.nb - 1)];
    while (*pp && ((*pp)->len != len || memcmp((*pp)->key, key, len) != 0)) pp = &(*pp)->next;
    return pp;
}

/* Count one more connection from this address: its new count, or 0 when the
 * table cannot grow (the connection is then not counted per address). */
static uint32_t ip_acquire(const unsigned char *key, uint8_t len)
{
    uint32_t n = 0;
    pthread_mutex_lock(&g_ip.mu);
    if (g_ip.n >= g_ip.nb * 2 && ip_grow() && !g_ip.nb) goto out; /* a full table still works */
    ip_entry_t **pp = ip_find(key, len), *e = *pp;
    if (!e) {
        if (!(e = calloc(1, sizeof *e))) goto out;
        memcpy(e->key, key, len);
        e->len = len;
        *pp = e;
        g_ip.n++;
    }
    n = ++e->count;
out:
    pthread_mutex_unlock(&g_ip.mu);
    return n;
}

static void ip_release(const unsigned char *key, uint8_t len)
{
    pthread_mutex_lock(&g_ip.mu);
    ip_entry_t **pp = ip_find(key, len);
    LD_ASSERT(*pp && (*pp)->count > 0);
    if (--(*pp)->count == 0) {
        ip_entry_t *e = *pp;
        *pp = e->next;
        free(e);
        g_ip.n--;
    }
    pthread_mutex_unlock(&g_ip.mu);
}

/* ---- small helpers ------------------------------------------------------- */

static size_t in_len(const conn_t *c)
{
    return c->in.end - c->in.start;
}

static bool out_pending(const conn_t *c)
{
    return c->out.end > c->out.start;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static bool warn_due(uint64_t *last)
{
    uint64_t now = now_ms();
    if (*last && now - *last < WARN_EVERY_MS) return false;
    *last = now;
    return true;
}

/* Run deferred work (settle) on the next turn of the loop. */
static void conn_kick(conn_t *c)
{
    if (c->kicked || !c->timer) return;
    c->kicked = true;
    event_active(c->timer, EV_TIMEOUT, 0);
}

/* Called by the public mutators: inside a callback settle runs anyway. */
static void conn_touch(conn_t *c)
{
    if (c->depth == 0) conn_kick(c);
}

/* ---- freeing ------------------------------------------------------------- */

static void conn_unlink(conn_t *c)
{
    listener_t *l = c->l;
    if (!l) return;
    if (c->prev) c->prev->next = c->next;
    else l->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->l = NULL;
}

/* Best-effort close_notify for an established session, so that it stays
 * resumable: without it the client sees a truncated stream and OpenSSL evicts
 * the session from the server cache as if the connection had been cut
 * (RFC 5246 7.2.1). */
static void conn_tls_close_notify(conn_t *c)
{
    if (!c->ssl || c->ssl_fatal || !SSL_is_init_finished(c->ssl)) return;
    if (SSL_get_shutdown(c->ssl) & SSL_SENT_SHUTDOWN) return;
    ERR_clear_error();
    if (SSL_shutdown(c->ssl) < 0) SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN);
    ERR_clear_error();
}

static void conn_free(conn_t *c)
{
    LD_ASSERT(c->depth == 0);
    c->closing = true;
    conn_unlink(c);
    if (c->st) {
        void *st = c->st;
        c->st = NULL;
        c->depth++;
        c->ops->close(st);
        c->depth--;
    }
    if (c->rev) event_free(c->rev);
    if (c->wev) event_free(c->wev);
    if (c->timer) event_free(c->timer);
    if (c->ssl) {
        conn_tls_close_notify(c);
        SSL_free(c->ssl);
    }
    if (c->fd >= 0) close(c->fd);
    if (c->ip_counted) ip_release(c->ip_key, c->ip_len);
    atomic_fetch_sub_explicit(&g_open, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&g_open_group[c->group], 1, memory_order_relaxed);
    free(c->in.base);
    free(c->in_spare);
    free(c->out.base);
    free(c);
}

/* ---- deadlines ----------------------------------------------------------- */

static uint64_t conn_deadline(const conn_t *c)
{
    uint64_t d = c->close_by_ms ? c->close_by_ms : NO_DEADLINE;
    if (c->lingering) return d;
    /* once the framer asked to close after its answer, the answer's write
     * (stall bound below) and the linger bound it; a request deadline that
     * passed while the request was parked must not drop that answer */
    if (c->req_deadline_ms && !c->close_after && (!c->paused || c->handshaking))
        d = min_u64(d, c->req_deadline_ms);
    if (out_pending(c) && c->idle_ms) d = min_u64(d, c->write_progress_ms + c->idle_ms);
    return d;
}

static void conn_arm_timer(conn_t *c)
{
    /* a queued kick runs on_timer, which re-arms; evtimer_add now would take the
     * kick off libevent's active list (a rescheduled timeout) and lose it for good */
    if (c->kicked) return;
    uint64_t d = conn_deadline(c);
    if (d == NO_DEADLINE || (c->armed_ms && c->armed_ms <= d)) return; /* fires early: re-checks */
    uint64_t now = now_ms(), ms = d > now ? d - now : 0;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    if (evtimer_add(c->timer, &tv) == 0) c->armed_ms = d;
}

/* A deadline passed: tell the framer (it may write a last answer), close. */
static void conn_expire(conn_t *c, uint64_t now)
{
    if (c->close_after || c->lingering) { /* the bounded close ran out */
        conn_close(c);
        return;
    }
    bool stalled = out_pending(c) && c->idle_ms && now >= c->write_progress_ms + c->idle_ms;
    if (c->ops->on_timeout && !c->handshaking)
        c->ops->on_timeout(c->st, c->in_request); /* the framer counts it */
    else
        METRIC_ADD(slow_clients_closed, 1);
    if (stalled || c->handshaking) {
        conn_close(c); /* the answer could not leave anyway */
        return;
    }
    conn_close_after_write(c);
    c->close_by_ms = now + LINGER_MS;
}

/* ---- input --------------------------------------------------------------- */

/* Move the unconsumed bytes into a block of `cap` bytes (NULL: allocate). */
static int in_move(conn_t *c, char *block, size_t cap)
{
    if (!block) block = malloc(cap);
    if (!block) return -ENOMEM;
    size_t n = in_len(c);
    if (n) memcpy(block, c->in.base + c->in.start, n);
    free(c->in.base);
    c->in.base = block;
    c->in.cap = cap;
    c->in.start = 0;
    c->in.end = n;
    return 0;
}

static void in_compact(conn_t *c)
{
    size_t n = in_len(c);
    if (c->in.start == 0) return;
    memmove(c->in.base, c->in.base + c->in.start, n);
    c->in.start = 0;
    c->in.end = n;
}

/* After on_data (or at once outside it): an empty buffer is reset (freed if
 * it had grown), and what conn_expect_input asked for is made contiguous. */
static void in_tidy(conn_t *c)
{
    LD_ASSERT(!c->in_on_data);
    if (c->in.start == c->in.end && c->in.base) {
        c->in.start = c->in.end = 0;
        if (c->in.cap > c->in_want) { /* idle connections hold no buffer */
            free(c->in.base);
            c->in = (buf_t){0};
        }
    }
    if (c->in_want && c->in.base && c->in.cap - c->in.start < c->in_want) {
        if (c->in.cap >= c->in_want) in_compact(c);
        else if (c->in_spare && c->spare_cap >= c->in_want) {
            in_move(c, c->in_spare, c->spare_cap);
            c->in_spare = NULL;
        } else if (in_move(c, NULL, c->in_want)) {
            return; /* keep the wish; the next read tries again */
        }
    }
    if (c->in_want && c->in.base && c->in.cap - c->in.start >= c->in_want) c->in_want = 0;
    free(c->in_spare);
    c->in_spare = NULL;
}

/* Room to read into: 0, or -ENOBUFS when the buffer is full of bytes the
 * framer did not consume (it must ask for more with conn_expect_input). */
static int in_room(conn_t *c)
{
    if (!c->in.base) {
        /* a kept-alive client's next packet is likely the size of its last */
        size_t cap = c->in_hint > IN_DEFAULT ? c->in_hint : IN_DEFAULT;
        if (c->in_want > cap) cap = c->in_want;
        if (!(c->in.base = malloc(cap))) return -ENOMEM;
        c->in.cap = cap;
        c->in_want = 0;
    }
    if (c->in.cap - c->in.end < IN_MIN_ROOM && c->in.start > 0) in_compact(c);
    return c->in.end < c->in.cap ? 0 : -ENOBUFS;
}

static bool in_stuck(const conn_t *c)
{
    return c->in.base && c->in.start == 0 && c->in.end == c->in.cap;
}

/* Hand the unconsumed input to the framer, as long as it makes progress. */
static void conn_deliver(conn_t *c)
{
    while (!c->closing && !c->close_after && !c->paused && in_len(c)) {
        size_t len = in_len(c);
        c->taken = 0;
        c->in_on_data = true;
        c->depth++;
        size_t n = c->ops->on_data(c->st, c->in.base + c->in.start, len);
        c->depth--;
        c->in_on_data = false;
        LD_ASSERT(n <= len);
        size_t adj = n > c->taken ? n - c->taken : 0;
        LD_ASSERT(adj <= in_len(c));
        c->in.start += adj;
        bool progress = n > 0 || c->taken > 0;
        in_tidy(c);
        if (!progress) break;
    }
}

static bool conn_wants_read(const conn_t *c)
{
    if (c->closing || c->eof) return false;
    if (c->close_after || c->handshaking) return true;
    return !c->paused && !in_stuck(c);
}

static void rev_del(conn_t *c)
{
    if (!c->rev_added) return;
    event_del(c->rev);
    c->rev_added = false;
}

/* One receive: bytes read, 0 at the end of the stream, -EAGAIN, or another
 * negative errno (the connection is broken). */
static ssize_t sock_recv(conn_t *c, char *buf, size_t room)
{
    for (;;) {
        ssize_t n = read(c->fd, buf, room);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

/* SSL_read until the room is full or OpenSSL has nothing buffered. */
static ssize_t tls_recv(conn_t *c, char *buf, size_t room)
{
    size_t got = 0;
    c->rd_want_write = false;
    while (got < room) {
        ERR_clear_error();
        int chunk = room - got > INT_MAX ? INT_MAX : (int)(room - got);
        int r = SSL_read(c->ssl, buf + got, chunk);
        if (r > 0) {
            got += (size_t)r;
            if (!SSL_has_pending(c->ssl)) break;
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (got) return (ssize_t)got; /* the condition shows again on the next call */
        if (e == SSL_ERROR_WANT_READ) return -EAGAIN;
        if (e == SSL_ERROR_WANT_WRITE) {
            c->rd_want_write = true;
            return -EAGAIN;
        }
        if (e == SSL_ERROR_ZERO_RETURN) return 0;
        /* the peer closed without close_notify: an end of stream all the same */
        bool eof = (e == SSL_ERROR_SYSCALL && errno == 0) ||
                   (e == SSL_ERROR_SSL &&
                    ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING);
        c->ssl_fatal = true;
        ERR_clear_error();
        return eof ? 0 : -EPROTO;
    }
    return (ssize_t)got;
}

static void conn_on_eof(conn_t *c)
{
    c->eof = true;
    rev_del(c);
    if (c->close_after) return; /* the answer is still going out, then the close */
    if (c->ops->on_eof) c->ops->on_eof(c->st, in_len(c));
}

/* Readable (or the kick after a resume): read, deliver, repeat while a read
 * filled the whole room. */
static void conn_read(conn_t *c)
{
    for (int i = 0; i < READS_PER_WAKEUP && conn_wants_read(c); i++) {
        int rc = in_room(c);
        if (rc) {
            if (rc == -ENOMEM) conn_close(c);
            return; /* -ENOBUFS: in_stuck() now stops reading */
        }
        size_t room = c->in.cap - c->in.end;
        ssize_t n = c->ssl ? tls_recv(c, c->in.base + c->in.end, room)
                           : sock_recv(c, c->in.base + c->in.end, room);
        if (n == -EAGAIN) return;
        if (n < 0) {
            if (c->ssl) c->ssl_fatal = true;
            conn_close(c);
            return;
        }
        if (n == 0) {
            conn_on_eof(c);
            return;
        }
        c->in.end += (size_t)n;
        conn_deliver(c);
        if ((size_t)n < room && !(c->ssl && SSL_has_pending(c->ssl))) return;
    }
}

/* After conn_close_after_write: throw input away into a stack buffer. */
static void conn_discard(conn_t *c)
{
    char buf[DISCARD_CHUNK];
    for (int i = 0; i < 16; i++) {
        ssize_t n = sock_recv(c, buf, sizeof buf);
        if (n == -EAGAIN) return;
        if (n <= 0) {
            if (n < 0 || c->lingering) conn_close(c);
            else conn_on_eof(c); /* half-closed: the answer still goes out */
            return;
        }
        c->discarded += (size_t)n;
        if (c->discarded >= LINGER_MAX_BYTES && c->lingering) {
            conn_close(c);
            return;
        }
    }
}

/* ---- output -------------------------------------------------------------- */

static int out_reserve(conn_t *c, size_t len)
{
    buf_t *o = &c->out;
    if (o->cap - o->end >= len) return 0;
    size_t n = o->end - o->start;
    if (o->start && o->cap - n >= len && n <= o->cap / 2) {
        memmove(o->base, o->base + o->start, n);
        o->start = 0;
        o->end = n;
        return 0;
    }
    size_t cap = o->cap ? o->cap : OUT_MIN;
    while (cap - n < len) {
        if (cap > SIZE_MAX / 2) return -ENOMEM;
        cap *= 2;
    }
    char *b = malloc(cap);
    if (!b) return -ENOMEM;
    if (n) memcpy(b, o->base + o->start, n);
    free(o->base);
    *o = (buf_t){b, cap, 0, n};
    return 0;
}

static ssize_t sock_send(conn_t *c, const char *p, size_t len)
{
    for (;;) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

static ssize_t tls_send(conn_t *c, const char *p, size_t len)
{
    ERR_clear_error();
    int r = SSL_write(c->ssl, p, len > INT_MAX ? INT_MAX : (int)len);
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_WRITE) return -EAGAIN;
    if (e == SSL_ERROR_WANT_READ) return -EINPROGRESS; /* retried at the next event */
    c->ssl_fatal = true;
    ERR_clear_error();
    return -EPIPE;
}

/* Write what is pending; on_drained when it all went out. */
static void conn_flush(conn_t *c)
{
    for (int round = 0; round < FLUSH_ROUNDS && out_pending(c) && !c->closing; round++) {
        while (out_pending(c)) {
            size_t len = c->out.end - c->out.start;
            const char *p = c->out.base + c->out.start;
            ssize_t n = c->ssl ? tls_send(c, p, len) : sock_send(c, p, len);
            if (n == -EAGAIN || n == -EINPROGRESS) {
                c->write_blocked = n == -EAGAIN;
                return;
            }
            if (n < 0) {
                conn_close(c); /* the peer is gone */
                return;
            }
            c->out.start += (size_t)n;
            c->write_progress_ms = now_ms();
        }
        free(c->out.base); /* idle connections hold no buffer */
        c->out = (buf_t){0};
        if (c->ops->on_drained && c->st) {
            c->depth++;
            c->ops->on_drained(c->st);
            c->depth--;
        }
    }
    if (out_pending(c) && !c->closing) conn_kick(c); /* on_drained kept writing */
}

/* ---- closing ------------------------------------------------------------- */

/* Everything was sent: close_notify, FIN, then discard until EOF (bounded). */
static void conn_linger_start(conn_t *c)
{
    c->lingering = true;
    free(c->in.base);
    c->in = (buf_t){0};
    if (c->eof || c->handshaking) {
        conn_close(c);
        return;
    }
    conn_tls_close_notify(c);
    if (shutdown(c->fd, SHUT_WR) < 0) {
        conn_close(c);
        return;
    }
    uint64_t by = now_ms() + LINGER_MS;
    c->close_by_ms = c->close_by_ms ? min_u64(c->close_by_ms, by) : by;
}

static bool conn_idle(const conn_t *c)
{
    return !c->in_request && !in_len(c) && !c->close_after;
}

static void conn_update_events(conn_t *c)
{
    if (conn_wants_read(c) && !c->rev_added) {
        if (event_add(c->rev, NULL) == 0) c->rev_added = true;
    } else if (c->eof && c->rev_added) {
        rev_del(c);
    }
    bool want_w = c->write_blocked || c->hs_want_write || c->rd_want_write;
    if (want_w && !c->wev_added) {
        if (event_add(c->wev, NULL) == 0) c->wev_added = true;
    } else if (!want_w && c->wev_added) {
        event_del(c->wev);
        c->wev_added = false;
    }
}

/* At depth 0, after every callback: send, close, free, re-arm. */
static void conn_settle(conn_t *c)
{
    if (c->depth) return;
    if (!c->closing && c->l && c->l->draining && conn_idle(c)) c->close_after = true;
    if (!c->closing && !c->handshaking && out_pending(c) && !c->write_blocked) {
        c->depth++;
        conn_flush(c);
        c->depth--;
    }
    if (!c->closing && c->close_after && !c->lingering && !out_pending(c)) conn_linger_start(c);
    if (c->closing) {
        conn_free(c);
        return;
    }
    conn_update_events(c);
    conn_arm_timer(c);
}

/* ---- TLS handshake ------------------------------------------------------- */

static void conn_handshake(conn_t *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    c->hs_want_write = false;
    if (r == 1) {
        c->handshaking = false;
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return;
    if (e == SSL_ERROR_WANT_WRITE) {
        c->hs_want_write = true;
        return;
    }
    METRIC_ADD(tls_handshake_failures, 1);
    unsigned long err = ERR_peek_error();
    if (e == SSL_ERROR_SSL && c->l && warn_due(&c->l->last_tls_warn_ms)) {
        char msg[256];
        ERR_error_string_n(err, msg, sizeof msg);
        log_warn("conn", "TLS handshake with %s:%u failed: %s", c->peer, c->peer_port, msg);
    }
    ERR_clear_error();
    c->ssl_fatal = true;
    conn_close(c);
}

/* ---- event callbacks ----------------------------------------------------- */

static void conn_io(conn_t *c, short what)
{
    if (what & EV_WRITE) c->write_blocked = false;
    if (c->handshaking) {
        conn_handshake(c);
        if (c->handshaking || c->closing) return;
        what |= EV_READ; /* application data may already be buffered */
    }
    if (!(what & EV_READ) && !c->rd_want_write) return;
    if (!conn_wants_read(c)) {
        rev_del(c); /* the lazy half of conn_pause_read */
        return;
    }
    if (c->close_after) conn_discard(c);
    else conn_read(c);
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    conn_t *c = arg;
    c->depth++;
    if (!c->closing) conn_io(c, what);
    c->depth--;
    conn_settle(c);
}

/* A deadline, or a kick: deferred delivery after a resume, deferred flush or
 * free after a call from outside the connection's callbacks. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    conn_t *c = arg;
    c->armed_ms = 0; /* a non-persistent event is no longer pending once run */
    c->kicked = false;
    c->depth++;
    if (!c->closing && c->redeliver) {
        c->redeliver = false;
        conn_deliver(c);
        if (c->ssl && !c->handshaking && SSL_has_pending(c->ssl)) conn_io(c, EV_READ);
    }
    uint64_t now = now_ms();
    if (!c->closing && conn_deadline(c) <= now) conn_expire(c, now);
    c->depth--;
    conn_settle(c);
}

/* ---- starting a connection ----------------------------------------------- */

/* Peer text, port and per-IP key from a socket address (IPv4-mapped IPv6
 * counts as the IPv4 address). */
static void conn_set_peer(conn_t *c, const struct sockaddr *sa)
{
    const void *addr = NULL;
    int af = sa->sa_family;
    if (af == AF_INET) {
        const struct sockaddr_in *s4 = (const void *)sa;
        addr = &s4->sin_addr;
        c->ip_len = 4;
        c->peer_port = ntohs(s4->sin_port);
    } else if (af == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const void *)sa;
        c->peer_port = ntohs(s6->sin6_port);
        addr = &s6->sin6_addr;
        c->ip_len = 16;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            addr = s6->sin6_addr.s6_addr + 12;
            af = AF_INET;
            c->ip_len = 4;
        }
    }
    if (!addr || !inet_ntop(af, addr, c->peer, sizeof c->peer)) {
        strlcpy_ld(c->peer, "local", sizeof c->peer);
        c->ip_len = 0;
        return;
    }
    memcpy(c->ip_key, addr, c->ip_len);
}

/* Peer given as text (listener_adopt): counted per address when it parses. */
static void conn_set_peer_text(conn_t *c, const char *text)
{
    strlcpy_ld(c->peer, text, sizeof c->peer);
    if (inet_pton(AF_INET, text, c->ip_key) == 1) c->ip_len = 4;
    else if (inet_pton(AF_INET6, text, c->ip_key) == 1) c->ip_len = 16;
}

/* Counts from accept; the reason to refuse, or NULL. */
static const char *conn_count(conn_t *c, const listener_t *l)
{
    atomic_fetch_add_explicit(&g_open, 1, memory_order_relaxed);
    c->group = l->limits.group < CONN_GROUPS ? l->limits.group : 0;
    uint64_t open = atomic_fetch_add_explicit(&g_open_group[c->group], 1, memory_order_relaxed) + 1;
    METRIC_ADD(connections_accepted, 1);
    uint32_t per_ip = 0;
    if (l->limits.max_connections_per_ip && c->ip_len) {
        per_ip = ip_acquire(c->ip_key, c->ip_len);
        c->ip_counted = per_ip > 0;
    }
    if (l->draining) return "draining";
    if (l->limits.max_connections && open > l->limits.max_connections) return "max-connections";
    if (l->limits.max_connections_per_ip && per_ip > l->limits.max_connections_per_ip)
        return "max-connections-per-ip";
    return NULL;
}

static int conn_tls_setup(conn_t *c, tls_server_t *tls)
{
    SSL *ssl = tls_server_new_ssl(tls);
    if (!ssl) return -ENOMEM;
    c->ssl = ssl;
    if (SSL_set_fd(ssl, c->fd) != 1) return -ENOMEM;
    SSL_set_accept_state(ssl);
    SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_set_read_ahead(ssl, 1);
    c->handshaking = true;
    return 0;
}

static int conn_make_events(conn_t *c)
{
    c->rev = event_new(c->base, c->fd, EV_READ | EV_PERSIST, on_io, c);
    c->wev = event_new(c->base, c->fd, EV_WRITE | EV_PERSIST, on_io, c);
    c->timer = evtimer_new(c->base, on_timer, c);
    return c->rev && c->wev && c->timer ? 0 : -ENOMEM;
}

static void conn_refuse(conn_t *c, const char *reason)
{
    if (strcmp(reason, "draining") == 0) METRIC_ADD(connections_shed, 1);
    else METRIC_ADD(connections_refused, 1);
    if (c->ops->refuse) {
        c->depth++;
        c->ops->refuse(c->st, reason);
        c->depth--;
    }
    c->close_after = true;
    c->close_by_ms = now_ms() + LINGER_MS;
}

/* Serve an accepted descriptor (taken: closed on failure). */
static int conn_start(listener_t *l, int fd, const struct sockaddr *sa, const char *peer)
{
    conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return -ENOMEM;
    }
    c->fd = fd;
    c->l = l;
    c->ops = l->ops;
    c->base = l->base;
    c->header_ms = l->limits.header_timeout_ms;
    c->idle_ms = l->limits.idle_timeout_ms;
    c->max_input = l->limits.max_input_bytes;
    if (peer) conn_set_peer_text(c, peer);
    else if (sa) conn_set_peer(c, sa);
    else strlcpy_ld(c->peer, "local", sizeof c->peer);
    const char *refuse = conn_count(c, l);
    c->next = l->conns;
    if (l->conns) l->conns->prev = c;
    l->conns = c;
    int rc = conn_make_events(c);
    if (rc) goto err;
    if (l->tls && (rc = conn_tls_setup(c, l->tls))) {
        METRIC_ADD(tls_setup_failures, 1);
        if (warn_due(&l->last_tls_warn_ms))
            log_warn("conn", "cannot set up TLS for a connection from %s; closed", c->peer);
        goto err;
    }
    c->depth++;
    c->st = c->ops->open(c, l->proto_ctx);
    c->depth--;
    if (!c->st) {
        rc = -ECONNREFUSED;
        goto err;
    }
    if (c->header_ms) c->req_deadline_ms = now_ms() + c->header_ms;
    if (refuse) conn_refuse(c, refuse);
    conn_settle(c);
    return 0;
err:
    conn_free(c);
    return rc;
}

/* ---- listener ------------------------------------------------------------ */

static void listener_watch(listener_t *l)
{
    bool want = l->fd >= 0 && !l->paused && !l->backing_off;
    if (want && !l->accept_added) l->accept_added = event_add(l->accept_ev, NULL) == 0;
    else if (!want && l->accept_added) {
        event_del(l->accept_ev);
        l->accept_added = false;
    }
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
    listener_t *l = arg;
    l->backing_off = false;
    listener_watch(l);
}

/* Out of descriptors or memory: the socket stays readable, so stop accepting
 * for a while instead of spinning. */
static void listener_backoff(listener_t *l, int err)
{
    METRIC_ADD(accept_errors, 1);
    if (warn_due(&l->last_accept_warn_ms))
        log_warn("conn", "port %u: accept failed: %s; not accepting for %d ms", l->port,
                 strerror(err), ACCEPT_BACKOFF_MS);
    struct timeval tv = {0, ACCEPT_BACKOFF_MS * 1000};
    if (evtimer_add(l->retry_ev, &tv)) return; /* no timer: keep trying */
    l->backing_off = true;
    listener_watch(l);
}

/* Errors of one connection (it died in the backlog) or of the network: go on. */
static bool accept_transient(int err)
{
    switch (err) {
    case EINTR: case ECONNABORTED: case EPROTO: case EPERM: case ENETDOWN: case ENOPROTOOPT:
    case EHOSTDOWN: case ENONET: case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH:
        return true;
    default:
        return false;
    }
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
    listener_t *l = arg;
    for (int i = 0; i < ACCEPT_BATCH && l->fd >= 0 && !l->paused; i++) {
        struct sockaddr_storage ss;
        ss.ss_family = AF_UNSPEC;
        socklen_t sl = sizeof ss;
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK) return;
            if (accept_transient(err)) continue;
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
                listener_backoff(l, err);
                return;
            }
            METRIC_ADD(accept_errors, 1);
            if (warn_due(&l->last_accept_warn_ms))
                log_warn("conn", "port %u: accept failed: %s", l->port, strerror(err));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn_start(l, fd, (struct sockaddr *)&ss, NULL);
    }
}

static listener_t *listener_alloc(struct event_base *base, tls_server_t *tls,
                                  const conn_limits_t *limits, const framer_ops_t *ops,
                                  void *proto_ctx)
{
    LD_ASSERT(base && limits && ops && ops->open && ops->on_data && ops->close);
    listener_t *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->base = base;
    l->fd = -1;
    l->tls = tls;
    l->limits = *limits;
    l->ops = ops;
    l->proto_ctx = proto_ctx;
    l->retry_ev = evtimer_new(base, on_accept_retry, l);
    if (!l->retry_ev) {
        free(l);
        return NULL;
    }
    return l;
}

listener_t *listener_new_unbound(struct event_base *base, tls_server_t *tls,
                                 const conn_limits_t *limits, const framer_ops_t *ops,
                                 void *proto_ctx)
{
    return listener_alloc(base, tls, limits, ops, proto_ctx);
}

/* A listening socket for one address: the descriptor or a negative errno. */
static int listen_on(const struct addrinfo *ai, bool reuseport)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0) return -errno;
    int one = 1, backlog = SOMAXCONN > 1024 ? SOMAXCONN : 1024;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one)) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, backlog)) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

static int listener_bind(listener_t *l, const char *host, uint16_t port, bool reuseport)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res = NULL;
    char serv[8];
    snprintf(serv, sizeof serv, "%u", port);
    int gai = getaddrinfo(host && *host ? host : NULL, serv, &hints, &res);
    if (gai) {
        log_error("conn", "cannot listen on %s:%u: %s", host ? host : "*", port, gai_strerror(gai));
        return -EINVAL;
    }
    int fd = -EADDRNOTAVAIL;
    for (const struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) fd = listen_on(ai, reuseport);
    freeaddrinfo(res);
    if (fd < 0) {
        log_error("conn", "cannot listen on %s:%u: %s", host ? host : "*", port, strerror(-fd));
        return fd;
    }
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl = sizeof ss;
    if (getsockname(fd, &ss.sa, &sl) == 0)
        l->port = ntohs(ss.sa.sa_family == AF_INET6 ? ss.in6.sin6_port : ss.in4.sin_port);
    l->fd = fd;
    return 0;
}

listener_t *listener_new(struct event_base *base, const char *host, uint16_t port,
                         bool reuseport, tls_server_t *tls, const conn_limits_t *limits,
                         const framer_ops_t *ops, void *proto_ctx)
{
    listener_t *l = listener_alloc(base, tls, limits, ops, proto_ctx);
    if (!l) goto err;
    if (listener_bind(l, host, port, reuseport)) goto err;
    l->accept_ev = event_new(base, l->fd, EV_READ | EV_PERSIST, on_accept, l);
    if (!l->accept_ev) goto err;
    listener_watch(l);
    if (!l->accept_added) goto err;
    return l;
err:
    if (!l) log_error("conn", "cannot listen on %s:%u: out of memory", host ? host : "*", port);
    listener_free(l);
    return NULL;
}

uint16_t listener_port(const listener_t *l)
{
    return l->port;
}

int listener_adopt(listener_t *l, int fd, const char *peer_addr)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    struct sockaddr_storage ss = {0};
    socklen_t sl = sizeof ss;
    bool named = !peer_addr && getpeername(fd, (struct sockaddr *)&ss, &sl) == 0;
    if (named && (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return conn_start(l, fd, named ? (struct sockaddr *)&ss : NULL, peer_addr);
}

void listener_pause(listener_t *l, bool paused)
{
    l->paused = paused;
    listener_watch(l);
}

void listener_stop(listener_t *l)
{
    if (l->fd < 0) return;
    if (l->accept_added) event_del(l->accept_ev);
    l->accept_added = false;
    evtimer_del(l->retry_ev);
    l->backing_off = false;
    close(l->fd);
    l->fd = -1;
}

void listener_set_draining(listener_t *l, bool draining)
{
    l->draining = draining;
    if (!draining) return;
    for (conn_t *c = l->conns, *next; c; c = next) {
        next = c->next;
        if (conn_idle(c) && !c->closing) {
            c->close_after = true;
            conn_touch(c);
        }
    }
}

void listener_free(listener_t *l)
{
    if (!l) return;
    listener_stop(l);
    while (l->conns) {
        conn_t *c = l->conns;
        if (c->depth == 0) {
            conn_free(c);
            continue;
        }
        /* freed when its callback returns (listener_free from a framer callback) */
        conn_unlink(c);
        c->closing = true;
    }
    if (l->accept_ev) event_free(l->accept_ev);
    if (l->retry_ev) event_free(l->retry_ev);
    free(l);
}

/* ---- connection, for the framer ------------------------------------------ */

int conn_write(conn_t *c, const void *data, size_t len)
{
    if (c->closing || c->lingering || !len) return 0; /* dropped: the connection is going */
    int rc = out_reserve(c, len);
    if (rc) return rc;
    if (!out_pending(c)) c->write_progress_ms = now_ms();
    memcpy(c->out.base + c->out.end, data, len);
    c->out.end += len;
    conn_touch(c);
    return 0;
}

void conn_pause_read(conn_t *c)
{
    if (c->paused) return;
    c->paused = true;
    c->paused_ms = now_ms();
}

void conn_resume_read(conn_t *c)
{
    if (!c->paused) return;
    c->paused = false;
    if (c->req_deadline_ms) c->req_deadline_ms += now_ms() - c->paused_ms; /* our pause is free */
    if (in_len(c) || (c->ssl && !c->handshaking && SSL_has_pending(c->ssl))) {
        c->redeliver = true;
        conn_kick(c);
    }
    conn_touch(c);
}

int conn_expect_input(conn_t *c, size_t n)
{
    if (c->max_input && n > c->max_input) return -E2BIG;
    /* room for the head in front of a body, and to spare: a read that fills
     * the buffer exactly would cost a second read finding nothing */
    c->in_hint = n < IN_HINT_MAX - IN_MIN_ROOM ? n + IN_MIN_ROOM : IN_HINT_MAX;
    if (n <= c->in.cap - c->in.start || n <= c->in_want) return 0;
    if (c->in_on_data && n > c->in.cap && c->in.base) {
        /* the framer holds a pointer into the buffer: allocate now, move later */
        char *b = malloc(n);
        if (!b) return -ENOMEM;
        free(c->in_spare);
        c->in_spare = b;
        c->spare_cap = n;
    }
    c->in_want = n;
    if (!c->in_on_data && c->in.base) {
        in_tidy(c);
        if (c->in.cap - c->in.start < n) return -ENOMEM;
    }
    conn_touch(c);
    return 0;
}

int conn_take_input(conn_t *c, size_t skip, char **base, size_t *offset)
{
    size_t have = in_len(c);
    LD_ASSERT(skip <= have);
    size_t rest = have - skip;
    char *fresh = NULL;
    if (rest) {
        size_t cap = rest > IN_DEFAULT ? rest : IN_DEFAULT;
        if (!(fresh = malloc(cap))) return -ENOMEM;
        memcpy(fresh, c->in.base + c->in.start + skip, rest);
        *base = c->in.base;
        *offset = c->in.start;
        c->in = (buf_t){fresh, cap, 0, rest};
    } else {
        *base = c->in.base;
        *offset = c->in.start;
        c->in = (buf_t){0};
    }
    if (c->in_on_data) c->taken += skip;
    conn_touch(c);
    return 0;
}

void conn_close_after_write(conn_t *c)
{
    if (c->closing || c->close_after) return;
    c->close_after = true;
    conn_touch(c);
}

void conn_close(conn_t *c)
{
    if (c->closing) return;
    c->closing = true;
    rev_del(c);
    conn_touch(c);
}

void conn_request_done(conn_t *c)
{
    c->in_request = false;
    c->served = true;
    c->req_deadline_ms = c->idle_ms ? now_ms() + c->idle_ms : 0;
    conn_touch(c);
}

void conn_request_started(conn_t *c)
{
    if (c->in_request) return;
    c->in_request = true;
    /* a first request keeps the deadline that runs from accept */
    if (c->served) c->req_deadline_ms = c->header_ms ? now_ms() + c->header_ms : 0;
    conn_touch(c);
}

const char *conn_peer_addr(const conn_t *c)
{
    return c->peer;
}

uint16_t conn_peer_port(const conn_t *c)
{
    return c->peer_port;
}

bool conn_is_tls(const conn_t *c)
{
    return c->ssl != NULL;
}

struct event_base *conn_base(const conn_t *c)
{
    return c->base;
}

size_t conn_output_pending(const conn_t *c)
{
    return c->out.end - c->out.start;
}
