/*
 * test_conn.c - cmocka tests for src/ingress/conn.c on a real libevent loop
 * over 127.0.0.1, with a small line framer defined here: accept, read and
 * write; the connection limits (max-connections, per IP, draining) counted
 * from accept; header, idle and stalled-write timeouts; pause/resume (bytes
 * stay in the kernel, buffered bytes are delivered again); conn_expect_input
 * (one read brings a large message whole); conn_take_input (trailing bytes
 * kept); the lingering close (the last answer arrives, no reset); adopting a
 * socketpair; the body budget; TLS with a throwaway self-signed certificate;
 * listener_free closing every connection; accept backing off on EMFILE.
 *
 * The loop runs on the test thread: clients are non-blocking sockets and
 * every wait pumps the loop, with generous bounds (the machine is shared).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "core/metrics.h"
#include "ingress/conn.h"

#define WAIT_MS 8000 /* generous bound for anything that should be quick */

/* ---- the test framer: lines of commands --------------------------------- */

typedef struct {
    int opens, closes, timeouts, refusals, eofs, data_calls, drained;
    bool timeout_reading;
    char reason[64];
    conn_t *last;        /* most recently opened */
    size_t last_len;     /* len of the last on_data */
    bool start_on_byte;  /* conn_request_started on any byte */
    int expect_rc;       /* last conn_expect_input result */
    bool take_ok;        /* the taken block held the message */
    int partials;        /* on_data calls with part of a message body */
} tctx_t;

static tctx_t T;
static struct event_base *g_base;

typedef struct {
    conn_t *c;
} tconn_t;

static void *t_open(conn_t *c, void *ctx)
{
    tconn_t *tc = calloc(1, sizeof *tc);
    tc->c = c;
    T.opens++;
    T.last = c;
    return tc;
}

static void t_close(void *st)
{
    T.closes++;
    free(st);
}

static char pattern(size_t i)
{
    return (char)('a' + i % 26);
}

static bool pattern_ok(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pattern(i)) return false;
    return true;
}

static void say(conn_t *c, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    assert_int_equal(conn_write(c, buf, (size_t)n), 0);
}

/* "LEN n" / "TAKE n": an n-byte message follows the line. Returns the bytes
 * consumed, or 0 while it is incomplete. */
static size_t t_message(conn_t *c, const char *in, size_t len, size_t hdr, bool take)
{
    size_t n = strtoul(in + (take ? 5 : 4), NULL, 10);
    if (len < hdr + n) {
        if (len > hdr) T.partials++;
        T.expect_rc = conn_expect_input(c, hdr + n);
        return 0;
    }
    if (!take) {
        assert_true(pattern_ok(in + hdr, n));
        say(c, "GOT %zu\n", n);
        return hdr + n;
    }
    char *base;
    size_t off;
    assert_int_equal(conn_take_input(c, hdr + n, &base, &off), 0);
    T.take_ok = base + off == in && pattern_ok(base + off + hdr, n);
    free(base);
    say(c, "TOOK %zu\n", n);
    return 0; /* as the HTTP framer does: the taken bytes are consumed */
}

/* One command line in[0..nl]: the bytes consumed, 0 to stop here. */
static size_t t_line(conn_t *c, const char *in, size_t len, size_t nl, bool *stop)
{
    size_t hdr = nl + 1;
    if (nl == 5 && !memcmp(in, "PAUSE", 5)) {
        conn_pause_read(c);
        *stop = true;
    } else if (nl == 4 && !memcmp(in, "QUIT", 4)) {
        say(c, "BYE\n");
        conn_close_after_write(c);
        *stop = true;
    } else if (nl == 4 && !memcmp(in, "DONE", 4)) {
        conn_request_done(c);
        say(c, "OK\n");
    } else if (nl > 6 && !memcmp(in, "FLOOD ", 6)) {
        static char chunk[65536];
        memset(chunk, 'x', sizeof chunk);
        for (size_t left = strtoul(in + 6, NULL, 10); left;) {
            size_t k = left < sizeof chunk ? left : sizeof chunk;
            assert_int_equal(conn_write(c, chunk, k), 0);
            left -= k;
        }
    } else if (nl > 4 && !memcmp(in, "LEN ", 4)) {
        *stop = true;
        return t_message(c, in, len, hdr, false);
    } else if (nl > 5 && !memcmp(in, "TAKE ", 5)) {
        *stop = true;
        return t_message(c, in, len, hdr, true);
    } else {
        assert_int_equal(conn_write(c, in, hdr), 0); /* echo */
    }
    return hdr;
}

static size_t t_on_data(void *st, const char *in, size_t len)
{
    tconn_t *tc = st;
    T.data_calls++;
    T.last_len = len;
    if (T.start_on_byte) conn_request_started(tc->c);
    size_t used = 0;
    bool stop = false;
    while (!stop && used < len) {
        const char *nl = memchr(in + used, '\n', len - used);
        if (!nl) break;
        size_t n = t_line(tc->c, in + used, len - used, (size_t)(nl - (in + used)), &stop);
        used += n;
        if (!n) break;
    }
    return used;
}

static void t_on_eof(void *st, size_t pending)
{
    tconn_t *tc = st;
    T.eofs++;
    conn_close(tc->c);
}

static void t_on_drained(void *st)
{
    T.drained++;
}

static void t_refuse(void *st, const char *reason)
{
    tconn_t *tc = st;
    T.refusals++;
    snprintf(T.reason, sizeof T.reason, "%s", reason);
    say(tc->c, "REFUSED %s\n", reason);
}

static void t_on_timeout(void *st, bool reading)
{
    tconn_t *tc = st;
    T.timeouts++;
    T.timeout_reading = reading;
    say(tc->c, "TIMEOUT %d\n", reading ? 1 : 0);
}

static const framer_ops_t line_framer = {
    .name = "line",
    .open = t_open,
    .on_data = t_on_data,
    .on_eof = t_on_eof,
    .on_drained = t_on_drained,
    .refuse = t_refuse,
    .on_timeout = t_on_timeout,
    .close = t_close,
};

/* ---- loop and client helpers -------------------------------------------- */

static void pump(int ms)
{
    struct timeval tv = {0, ms * 1000};
    event_base_loopexit(g_base, &tv);
    event_base_dispatch(g_base);
}

#define PUMP_UNTIL(cond, ms)                                             \
    do {                                                                 \
        uint64_t end_ = now_ms() + (ms);                                 \
        while (!(cond) && now_ms() < end_) pump(2);                      \
    } while (0)

static int client(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    uint64_t end = now_ms() + WAIT_MS;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else {
            assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
            assert_true(now_ms() < end);
            pump(2);
        }
    }
}

static void send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

typedef struct {
    size_t len;
    bool eof, reset;
} rd_t;

/* Read until `want` bytes, the end of the stream, a reset or the bound. */
static rd_t recv_some(int fd, char *buf, size_t want, int ms)
{
    rd_t r = {0};
    uint64_t end = now_ms() + ms;
    while (r.len < want && now_ms() < end) {
        ssize_t n = recv(fd, buf + r.len, want - r.len, 0);
        if (n > 0) {
            r.len += (size_t)n;
            continue;
        }
        if (n == 0) {
            r.eof = true;
            break;
        }
        if (errno == ECONNRESET) {
            r.reset = true;
            break;
        }
        pump(2);
    }
    if (r.len < want) buf[r.len] = 0;
    else if (want) buf[want] = 0;
    return r;
}

/* Expect exactly `text`, then (if eof) the end of the stream without reset. */
static void expect_text(int fd, const char *text, bool eof)
{
    char buf[256];
    size_t n = strlen(text);
    rd_t r = recv_some(fd, buf, n, WAIT_MS);
    assert_false(r.reset);
    assert_int_equal(r.len, n);
    assert_string_equal(buf, text);
    if (eof) {
        r = recv_some(fd, buf, 1, WAIT_MS);
        assert_false(r.reset);
        assert_int_equal(r.len, 0);
        assert_true(r.eof);
    }
}

static conn_limits_t limits(void)
{
    return (conn_limits_t){.header_timeout_ms = 30000, .idle_timeout_ms = 30000,
                           .max_input_bytes = 4u << 20};
}

static listener_t *listen_local(const conn_limits_t *lim, tls_server_t *tls)
{
    listener_t *l = listener_new(g_base, "127.0.0.1", 0, false, tls, lim, &line_framer, NULL);
    assert_non_null(l);
    assert_true(listener_port(l) > 0);
    return l;
}

/* The server side of a client socket, found among our own descriptors. */
static int server_fd_of(int cfd)
{
    struct sockaddr_in mine, peer;
    socklen_t ml = sizeof mine, pl = sizeof peer;
    assert_int_equal(getsockname(cfd, (struct sockaddr *)&mine, &ml), 0);
    assert_int_equal(getpeername(cfd, (struct sockaddr *)&peer, &pl), 0);
    for (int fd = 3; fd < 4096; fd++) {
        struct sockaddr_in a, b;
        socklen_t al = sizeof a, bl = sizeof b;
        if (fd == cfd || getsockname(fd, (struct sockaddr *)&a, &al) ||
            getpeername(fd, (struct sockaddr *)&b, &bl) || a.sin_family != AF_INET)
            continue;
        if (a.sin_port == peer.sin_port && b.sin_port == mine.sin_port) return fd;
    }
    return -1;
}

static int setup(void **state)
{
    memset(&T, 0, sizeof T);
    g_base = event_base_new();
    assert_non_null(g_base);
    conn_budget_set_limit(0);
    return 0;
}

static int teardown(void **state)
{
    event_base_free(g_base);
    g_base = NULL;
    assert_int_equal(conn_open_count(), 0);
    return 0;
}

/* ---- accept, read, write ------------------------------------------------ */

static void test_echo(void **state)
{
    conn_limits_t lim = limits();
    listener_t *l = listen_local(&lim, NULL);
    uint64_t accepted = METRIC_GET(connections_accepted);
    int fd = client(listener_port(l));
    send_str(fd, "hello\nworld\n");
    expect_text(fd, "hello\nworld\n", false);
    assert_int_equal(T.opens, 1);
    assert_int_equal(conn_open_count(), 1);
    assert_int_equal(METRIC_GET(connections_accepted), accepted + 1);
    assert_string_equal(conn_peer_addr(T.last), "127.0.0.1");
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    getsockname(fd, (struct sockaddr *)&me, &ml);
    assert_int_equal(conn_peer_port(T.last), ntohs(me.sin_port));
    assert_false(conn_is_tls(T.last));
    assert_ptr_equal(conn_base(T.last), g_base);
    assert_true(T.drained >= 1);
    close(fd);
    PUMP_UNTIL(T.closes == 1, WAIT_MS);
    assert_int_equal(T.eofs, 1);
    assert_int_equal(T.closes, 1);
    listener_free(l);
}

/* ---- limits counted from accept ----------------------------------------- */

typedef struct {
    const char *name;
    uint32_t max_conns, per_ip;
    int silent;       /* connections opened first, never sending */
    bool drain;       /* then drain: the silent ones close, new ones are refused */
    const char *reason;
} limit_case_t;

static const limit_case_t limit_cases[] = {
    {"max-connections", 2, 0, 2, false, "max-connections"},
    {"per-ip", 0, 2, 2, false, "max-connections-per-ip"},
    {"both, per-ip first", 5, 1, 1, false, "max-connections-per-ip"},
    {"draining", 0, 0, 2, true, "draining"},
};

static void limit_case(const limit_case_t *lc)
{
    memset(&T, 0, sizeof T);
    conn_limits_t lim = limits();
    lim.max_connections = lc->max_conns;
    lim.max_connections_per_ip = lc->per_ip;
    listener_t *l = listen_local(&lim, NULL);
    int silent[8];
    for (int i = 0; i < lc->silent; i++) silent[i] = client(listener_port(l));
    PUMP_UNTIL(T.opens == lc->silent, WAIT_MS);
    assert_int_equal(T.opens, lc->silent);
    assert_int_equal(conn_open_count(), (uint64_t)lc->silent);
    if (lc->drain) {
        listener_set_draining(l, true);
        for (int i = 0; i < lc->silent; i++) expect_text(silent[i], "", true); /* idle: closed */
        PUMP_UNTIL(T.closes == lc->silent, WAIT_MS);
    }
    uint64_t refused = METRIC_GET(connections_refused), shed = METRIC_GET(connections_shed);
    int fd = client(listener_port(l));
    char want[80];
    snprintf(want, sizeof want, "REFUSED %s\n", lc->reason);
    expect_text(fd, want, true);
    assert_int_equal(T.refusals, 1);
    assert_string_equal(T.reason, lc->reason);
    if (lc->drain) assert_int_equal(METRIC_GET(connections_shed), shed + 1);
    else assert_int_equal(METRIC_GET(connections_refused), refused + 1);
    close(fd);
    if (!lc->drain) { /* a freed slot serves again */
        PUMP_UNTIL(T.closes == 1, WAIT_MS);
        close(silent[0]);
        PUMP_UNTIL(T.closes == 2, WAIT_MS);
        fd = client(listener_port(l));
        send_str(fd, "again\n");
        expect_text(fd, "again\n", false);
        close(fd);
    }
    for (int i = lc->drain ? 0 : 1; i < lc->silent; i++) close(silent[i]);
    PUMP_UNTIL(conn_open_count() == 0, WAIT_MS);
    assert_int_equal(conn_open_count(), 0);
    assert_int_equal(T.closes, T.opens);
    listener_free(l);
}

static void test_limits(void **state)
{
    for (size_t i = 0; i < sizeof limit_cases / sizeof *limit_cases; i++) {
        print_message("limit case: %s\n", limit_cases[i].name);
        limit_case(&limit_cases[i]);
    }
}

/* ---- timeouts ----------------------------------------------------------- */

typedef enum { SILENT, DRIBBLE, KEEPALIVE_IDLE } timeout_kind_t;

typedef struct {
    const char *name;
    timeout_kind_t kind;
    const char *before; /* answer read before the timeout */
    bool reading;
} timeout_case_t;

static const timeout_case_t timeout_cases[] = {
    {"silent from accept", SILENT, "", false},
    {"slowloris: one byte every 50 ms", DRIBBLE, "", true},
    {"idle keep-alive after a request", KEEPALIVE_IDLE, "OK\n", false},
};

static void timeout_case(const timeout_case_t *tc)
{
    memset(&T, 0, sizeof T);
    conn_limits_t lim = limits();
    lim.header_timeout_ms = 300;
    lim.idle_timeout_ms = 300;
    listener_t *l = listen_local(&lim, NULL);
    T.start_on_byte = tc->kind == DRIBBLE;
    int fd = client(listener_port(l));
    uint64_t t0 = now_ms();
    if (tc->kind == KEEPALIVE_IDLE) send_str(fd, "DONE\n");
    char buf[64];
    size_t got = 0;
    rd_t r = {0};
    while (!r.eof && !r.reset && now_ms() - t0 < WAIT_MS) {
        if (tc->kind == DRIBBLE) send(fd, "a", 1, MSG_NOSIGNAL);
        r = recv_some(fd, buf + got, sizeof buf - 1 - got, 50);
        got += r.len;
    }
    buf[got] = 0;
    char want[64];
    snprintf(want, sizeof want, "%sTIMEOUT %d\n", tc->before, tc->reading ? 1 : 0);
    assert_true(r.eof);
    assert_string_equal(buf, want);
    assert_true(now_ms() - t0 < WAIT_MS / 2); /* 300 ms deadline, not reset by bytes */
    assert_int_equal(T.timeouts, 1);
    assert_int_equal(T.timeout_reading, tc->reading);
    PUMP_UNTIL(T.closes == 1, WAIT_MS);
    assert_int_equal(T.closes, 1);
    close(fd);
    listener_free(l);
}

static void test_timeouts(void **state)
{
    for (size_t i = 0; i < sizeof timeout_cases / sizeof *timeout_cases; i++) {
        print_message("timeout case: %s\n", timeout_cases[i].name);
        timeout_case(&timeout_cases[i]);
    }
}

/* A client that never reads its answers is closed once the write stalls. */
static void test_write_stall(void **state)
{
    conn_limits_t lim = limits();
    lim.idle_timeout_ms = 300;
    listener_t *l = listen_local(&lim, NULL);
    int fd = client(listener_port(l));
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    send_str(fd, "FLOOD 16000000\n");
    PUMP_UNTIL(T.closes == 1, WAIT_MS);
    assert_int_equal(T.closes, 1);
    assert_int_equal(T.timeouts, 1);
    close(fd);
    listener_free(l);
}

/* ---- backpressure -------------------------------------------------------- */

static void test_pause_resume(void **state)
{
    conn_limits_t lim = limits();
    lim.header_timeout_ms = 200; /* a paused connection is not timed out */
    listener_t *l = listen_local(&lim, NULL);
    int fd = client(listener_port(l));
    send_str(fd, "PAUSE\n");
    PUMP_UNTIL(T.data_calls == 1, WAIT_MS);
    conn_t *c = T.last;
    send_str(fd, "abc\n");
    pump(400);
    assert_int_equal(T.data_calls, 1); /* not read ... */
    int sfd = server_fd_of(fd);
    assert_true(sfd >= 0);
    int queued = 0;
    assert_int_equal(ioctl(sfd, FIONREAD, &queued), 0);
    assert_int_equal(queued, 4); /* ... the bytes wait in the kernel */
    assert_int_equal(T.timeouts, 0);
    conn_resume_read(c);
    expect_text(fd, "abc\n", false);

    /* paused with bytes already buffered: resume delivers them, no new read */
    send_str(fd, "PAUSE\nxyz\n");
    PUMP_UNTIL(T.data_calls == 3, WAIT_MS);
    pump(50);
    assert_int_equal(T.data_calls, 3);
    conn_resume_read(c);
    expect_text(fd, "xyz\n", false);
    close(fd);
    PUMP_UNTIL(T.closes == 1, WAIT_MS);
    listener_free(l);
}

/* ---- input buffer ------------------------------------------------------- */

static char *message(const char *verb, size_t n, const char *trailer, size_t *len)
{
    char hdr[32];
    int h = snprintf(hdr, sizeof hdr, "%s %zu\n", verb, n);
    size_t tl = strlen(trailer);
    char *m = malloc((size_t)h + n + tl);
    memcpy(m, hdr, (size_t)h);
    for (size_t i = 0; i < n; i++) m[h + i] = pattern(i);
    memcpy(m + h + n, trailer, tl);
    *len = (size_t)h + n + tl;
    return m;
}

static void test_expect_input(void **state)
{
    conn_limits_t lim = limits();
    listener_t *l = listen_local(&lim, NULL);
    int fd = client(listener_port(l));
    const size_t n = 60000; /* well above the 16 KiB first buffer */
    size_t len;
    char *m = message("LEN", n, "", &len);
    size_t hdr = len - n;
    send_all(fd, m, hdr);
    PUMP_UNTIL(T.data_calls == 1, WAIT_MS);
    assert_int_equal(T.expect_rc, 0);
    /* hold reading while the body lands in the kernel, then let it go */
    conn_pause_read(T.last);
    send_all(fd, m + hdr, n);
    pump(100);
    conn_resume_read(T.last);
    expect_text(fd, "GOT 60000\n", false);
    assert_int_equal(T.partials, 0); /* one read brought it whole */
    assert_int_equal(T.last_len, len);

    /* over max_input_bytes: -E2BIG */
    char big[32];
    snprintf(big, sizeof big, "LEN %u\n", (4u << 20) + 1);
    send_str(fd, big);
    PUMP_UNTIL(T.expect_rc == -E2BIG, WAIT_MS);
    assert_int_equal(T.expect_rc, -E2BIG);
    close(fd);
    PUMP_UNTIL(T.closes == 1, WAIT_MS);
    free(m);
    listener_free(l);
}

static void test_take_input(void **state)
{
    conn_limits_t lim = limits();
    listener_t *l = listen_local(&lim, NULL);
    int fd = client(listener_port(l));
    size_t len;
    char *m = message("TAKE", 40000, "PING\nPONG\n", &len);
    send_all(fd, m, len);
    expect_text(fd, "TOOK 40000\nPING\nPONG\n", false);
    assert_true(T.take_ok);
    /* and again on the same connection, the message arriving in pieces */
    send_all(fd, m, 100);
    pump(50);
    send_all(fd, m + 100, len - 100);
    expect_text(fd, "TOOK 40000\nPING\nPONG\n", false);
    assert_true(T.take_ok);
    close(fd);
    PUMP_UNTIL(T.closes == 1, WAIT_MS);
    free(m);
    listener_free(l);
}

/* ---- lingering close ---------------------------------------------------- */

typedef struct {
    const char *name;
    bool client_closes; /* else the server's bound ends the linger */
} linger_case_t;

static void linger_case(const linger_case_t *lc)
{
    memset(&T, 0, sizeof T);
    conn_limits_t lim = limits();
    listener_t *l = listen_local(&lim, NULL);
    int fd = client(listener_port(l));
    size_t junk_len = 200000;
    char *junk = malloc(junk_len);
    memset(junk, 'j', junk_len);
    memcpy(junk, "QUIT\n", 5); /* the rest is never read by the framer */
    send_all(fd, junk, junk_len);
    expect_text(fd, "BYE\n", true); /* answer, then FIN: no reset */
    send_all(fd, junk, 50000);      /* still sending after the answer: discarded */
    pump(50);
    uint64_t t0 = now_ms();
    if (lc->client_closes) shutdown(fd, SHUT_WR);
    PUMP_UNTIL(T.closes == 1, WAIT_MS);
    assert_int_equal(T.closes, 1);
    assert_true(now_ms() - t0 < WAIT_MS / 2);
    char b[8];
    rd_t r = recv_some(fd, b, 1, 200);
    assert_false(r.reset);
    close(fd);
    free(junk);
    listener_free(l);
}

static void test_close_after_write(void **state)
{
    static const linger_case_t cases[] = {
        {"client closes after the answer", true},
        {"client keeps the connection: 2 s bound", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        print_message("linger case: %s\n", cases[i].name);
        linger_case(&cases[i]);
    }
}

/* ---- adopt -------------------------------------------------------------- */

static void test_adopt(void **state)
{
    conn_limits_t lim = limits();
    listener_t *l = listener_new_unbound(g_base, NULL, &lim, &line_framer, NULL);
    assert_non_null(l);
    static const struct {
        const char *given, *shown;
    } cases[] = {{NULL, "local"}, {"10.1.2.3", "10.1.2.3"}, {"2001:db8::1", "2001:db8::1"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        fcntl(sv[1], F_SETFL, O_NONBLOCK);
        assert_int_equal(listener_adopt(l, sv[0], cases[i].given), 0);
        assert_string_equal(conn_peer_addr(T.last), cases[i].shown);
        send_str(sv[1], "over a pair\n");
        expect_text(sv[1], "over a pair\n", false);
        close(sv[1]);
        PUMP_UNTIL(T.closes == (int)i + 1, WAIT_MS);
    }
    assert_int_equal(T.closes, 3);
    assert_int_equal(listener_adopt(l, -1, NULL), -EBADF);
    listener_free(l);
}

/* ---- listener_free ------------------------------------------------------ */

static void test_listener_free_closes_all(void **state)
{
    conn_limits_t lim = limits();
    listener_t *l = listen_local(&lim, NULL);
    int fds[3];
    for (int i = 0; i < 3; i++) fds[i] = client(listener_port(l));
    send_str(fds[0], "PAUSE\nbuffered\n");
    PUMP_UNTIL(T.opens == 3 && T.data_calls == 1, WAIT_MS);
    assert_int_equal(conn_open_count(), 3);
    listener_free(l);
    assert_int_equal(T.closes, 3);
    assert_int_equal(conn_open_count(), 0);
    for (int i = 0; i < 3; i++) close(fds[i]);
}

/* ---- accept backs off when out of descriptors ---------------------------- */

static void test_accept_emfile(void **state)
{
    conn_limits_t lim = limits();
    listener_t *l = listen_local(&lim, NULL);
    int fds[4];
    for (int i = 0; i < 4; i++) fds[i] = client(listener_port(l));
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    int probe = dup(0); /* the lowest free descriptor: nothing above may open */
    close(probe);
    low = old;
    low.rlim_cur = (rlim_t)probe;
    uint64_t errors = METRIC_GET(accept_errors);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    pump(350);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    uint64_t seen = METRIC_GET(accept_errors) - errors;
    assert_true(seen >= 1);
    assert_true(seen <= 30); /* backed off, not spinning */
    assert_int_equal(T.opens, 0);
    PUMP_UNTIL(T.opens == 4, WAIT_MS);
    assert_int_equal(T.opens, 4);
    for (int i = 0; i < 4; i++) close(fds[i]);
    PUMP_UNTIL(T.closes == 4, WAIT_MS);
    listener_free(l);
}

/* ---- body budget --------------------------------------------------------- */

typedef struct {
    char op; /* 'l' limit, 'r' reserve, 'f' release */
    uint64_t n;
    bool ok;        /* for 'r' */
    uint64_t used;  /* after the step */
} budget_step_t;

static void test_budget(void **state)
{
    static const budget_step_t steps[] = {
        {'l', 100, true, 0},   {'r', 60, true, 60},   {'r', 50, false, 60}, {'r', 40, true, 100},
        {'r', 1, false, 100},  {'r', 0, true, 100},   {'f', 100, true, 0},  {'r', 101, false, 0},
        {'r', 100, true, 100}, {'f', 100, true, 0},   {'l', 0, true, 0},    {'r', 1ull << 40, true, 1ull << 40},
        {'f', 1ull << 40, true, 0}, {'l', 10, true, 0}, {'r', UINT64_MAX, false, 0},
    };
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        const budget_step_t *s = &steps[i];
        if (s->op == 'l') conn_budget_set_limit(s->n);
        else if (s->op == 'r') assert_int_equal(conn_budget_reserve(s->n), s->ok);
        else conn_budget_release(s->n);
        assert_int_equal(conn_budget_used(), s->used);
    }
}

#define BUDGET_THREADS 4
#define BUDGET_ROUNDS 100000
#define BUDGET_LIMIT 10

static _Atomic uint64_t g_budget_max_seen;

static void *budget_worker(void *arg)
{
    for (int i = 0; i < BUDGET_ROUNDS; i++) {
        if (!conn_budget_reserve(3)) continue;
        uint64_t u = conn_budget_used(), m = atomic_load(&g_budget_max_seen);
        while (u > m && !atomic_compare_exchange_weak(&g_budget_max_seen, &m, u)) {}
        conn_budget_release(3);
    }
    return NULL;
}

static void test_budget_threads(void **state)
{
    conn_budget_set_limit(BUDGET_LIMIT);
    pthread_t th[BUDGET_THREADS];
    for (int i = 0; i < BUDGET_THREADS; i++) pthread_create(&th[i], NULL, budget_worker, NULL);
    for (int i = 0; i < BUDGET_THREADS; i++) pthread_join(th[i], NULL);
    assert_int_equal(conn_budget_used(), 0);
    assert_true(atomic_load(&g_budget_max_seen) <= BUDGET_LIMIT);
}

/* ---- TLS ----------------------------------------------------------------- */

static char g_tlsdir[64];

/* A throwaway self-signed P-256 certificate in a temporary directory. */
static void make_cert(char *cert, char *key, size_t len)
{
    snprintf(g_tlsdir, sizeof g_tlsdir, "/tmp/test_conn.XXXXXX");
    assert_non_null(mkdtemp(g_tlsdir));
    snprintf(cert, len, "%s/cert.pem", g_tlsdir);
    snprintf(key, len, "%s/key.pem", g_tlsdir);
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    assert_non_null(pk);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
                               -1, 0);
    X509_set_issuer_name(x, name);
    assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
    FILE *f = fopen(cert, "w");
    assert_non_null(f);
    PEM_write_X509(f, x);
    fclose(f);
    f = fopen(key, "w");
    assert_non_null(f);
    PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(pk);
}

/* Run an SSL call on the non-blocking client until it completes. */
static int ssl_retry(SSL *s, int (*op)(SSL *, void *, int), void *buf, int len)
{
    uint64_t end = now_ms() + WAIT_MS;
    for (;;) {
        int r = op(s, buf, len);
        if (r > 0) return r;
        int e = SSL_get_error(s, r);
        if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || now_ms() > end) return r;
        pump(2);
    }
}

static int op_connect(SSL *s, void *b, int n)
{
    return SSL_connect(s);
}

static int op_read(SSL *s, void *b, int n)
{
    return SSL_read(s, b, n);
}

static int op_write(SSL *s, void *b, int n)
{
    return SSL_write(s, b, n);
}

static void tls_expect(SSL *s, const char *text)
{
    char buf[128];
    size_t got = 0, n = strlen(text);
    while (got < n) {
        int r = ssl_retry(s, op_read, buf + got, (int)(n - got));
        assert_true(r > 0);
        got += (size_t)r;
    }
    buf[got] = 0;
    assert_string_equal(buf, text);
}

static void test_tls(void **state)
{
    char cert[128], key[128], err[256] = "";
    make_cert(cert, key, sizeof cert);
    tls_server_t *tls = tls_server_new(cert, key, NULL, err, sizeof err);
    assert_non_null(tls);
    conn_limits_t lim = limits();
    listener_t *l = listen_local(&lim, tls);
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(cctx);
    static const int versions[] = {TLS1_3_VERSION, TLS1_2_VERSION};
    for (size_t i = 0; i < 2; i++) {
        memset(&T, 0, sizeof T);
        SSL_CTX_set_min_proto_version(cctx, versions[i]);
        SSL_CTX_set_max_proto_version(cctx, versions[i]);
        int fd = client(listener_port(l));
        SSL *s = SSL_new(cctx);
        SSL_set_fd(s, fd);
        assert_int_equal(ssl_retry(s, op_connect, NULL, 0), 1);
        assert_int_equal(SSL_version(s), versions[i]);
        char hello[] = "hello over tls\n";
        assert_int_equal(ssl_retry(s, op_write, hello, (int)strlen(hello)), (int)strlen(hello));
        tls_expect(s, "hello over tls\n");
        assert_true(conn_is_tls(T.last));
        char quit[] = "QUIT\n";
        assert_int_equal(ssl_retry(s, op_write, quit, 5), 5);
        tls_expect(s, "BYE\n");
        char b[8];
        int r = ssl_retry(s, op_read, b, sizeof b);
        assert_int_equal(r, 0);
        assert_int_equal(SSL_get_error(s, r), SSL_ERROR_ZERO_RETURN); /* close_notify */
        SSL_free(s);
        close(fd);
        PUMP_UNTIL(T.closes == 1, WAIT_MS);
        assert_int_equal(T.closes, 1);
    }
    /* not TLS at all: the handshake fails, counted, closed */
    memset(&T, 0, sizeof T);
    uint64_t failures = METRIC_GET(tls_handshake_failures);
    int fd = client(listener_port(l));
    send_str(fd, "GET / HTTP/1.1\r\n\r\n");
    PUMP_UNTIL(T.closes == 1, WAIT_MS);
    assert_int_equal(T.closes, 1);
    assert_int_equal(METRIC_GET(tls_handshake_failures), failures + 1);
    close(fd);
    SSL_CTX_free(cctx);
    listener_free(l);
    tls_server_free(tls);
    unlink(cert);
    unlink(key);
    rmdir(g_tlsdir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_stall, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expect_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_take_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_after_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adopt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listener_free_closes_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accept_emfile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
