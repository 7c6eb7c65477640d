/*
 * syslog.c - the syslog receiver's I/O (see syslog.h; the parsing and the
 * record mapping are the pure proto/syslog_parse.c; docs/PROTOCOLS.md
 * says how it behaves for a sender).
 *
 * UDP: one non-blocking socket per udp:// URL on the loop, read with recvmmsg
 * in batches of UDP_BATCH datagrams; one record per datagram, one
 * ingest_submit per batch. UDP has no backpressure: a datagram that cannot be
 * taken (no room, refused verdict, oversize, undecodable) is dropped and
 * counted in syslog_udp_dropped, and so are the kernel's own receive-queue
 * drops (SO_RXQ_OVFL, counted as a delta).
 *
 * TCP/TLS: a framer on the connection layer (ingress/conn.h). Every complete
 * message in the input buffer (at most BATCH_RECORDS records or BATCH_BYTES
 * of JSON) becomes one submission. The bytes of a submission stay unconsumed
 * until its verdict: accepted, they are consumed; refused for a reason that
 * passes (overload, rate limit, disk), reading is paused and the same bytes
 * are parsed and submitted again from a timer. A submission still waiting
 * for its verdict (durable records waiting for the WAL's fsync) pauses
 * reading too: nothing more is read from that connection before its durable
 * records are on disk.
 *
 * Submissions go through ingest_submit_scanned: the writer reports each
 * record's scan entry as it writes it (syslog_write_record_scanned), so ingest
 * does not scan the bytes again (the limits still apply; see ingest.h).
 */
#include "proto/syslog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "core/metrics.h"
#include "ingress/conn.h"
#include "proto/syslog_parse.h"

#define UDP_BATCH 64                 /* datagrams per recvmmsg */
#define UDP_BATCHES_PER_WAKEUP 16    /* then let the loop run other events */
#define UDP_RCVBUF (8 << 20)         /* asked for; the kernel caps it (rmem_max) */
#define BATCH_RECORDS 4096           /* records per submission at most */
#define BATCH_BYTES (1u << 20)       /* JSON bytes per submission, soft bound */
#define RETRY_MS 50                  /* look again at a refused submission */
#define RETRY_DISK_MS 1000           /* ... refused for the WAL (full, failed) */
#define TCP_READ_AHEAD (64u << 10)   /* input buffer asked for: many messages per read */

enum { T_UDP, T_TCP, T_TLS };
static const char *const transport_names[] = {"udp", "tcp", "tls"};

struct syslog_listener {
    struct event_base *base;
    ingest_worker_t *w;
    ingest_t *ing;
    const config_t *cfg;
    int kind;
    char url[300];
    size_t max_msg;
    size_t max_record;      /* a record never exceeds the scanner's bound */
    jsonw_t jw;             /* the submission being built (one loop: one writer) */
    scan_record_t *recs;    /* its records' scan entries (BATCH_RECORDS) */
    /* UDP */
    int fd;
    struct event *ev;
    size_t dgram_cap;       /* bytes per receive buffer (max_msg + 1, at most 64 KiB) */
    char *bufs;
    struct mmsghdr *msgs;
    struct iovec *iov;
    struct sockaddr_storage *addrs;
    char (*cmsg)[CMSG_SPACE(sizeof(uint32_t))];
    uint32_t ovfl_seen;     /* SO_RXQ_OVFL: the kernel's drop counter, last value */
    /* TCP/TLS */
    listener_t *lst;
    framer_ops_t ops;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Split "udp://HOST:PORT" (validated by config). */
static int parse_url(const char *url, int *kind, char *host, size_t hostlen, uint16_t *port)
{
    if (!strncmp(url, "udp://", 6)) *kind = T_UDP;
    else if (!strncmp(url, "tcp://", 6)) *kind = T_TCP;
    else if (!strncmp(url, "tls://", 6)) *kind = T_TLS;
    else return -EINVAL;
    return config_split_hostport(url + 6, host, hostlen, port);
}

/* Parse one message and append its record; counts what it is. 1 when a
 * record was written, 0 when not (empty, undecodable or over the record
 * bound: counted). `c` collects the counts until the batch is committed. */
typedef struct {
    uint64_t messages, decode_errors, oversize, records;
} counts_t;

static int add_message(syslog_listener_t *l, const char *msg, size_t len,
                       const syslog_origin_t *o, int64_t now, counts_t *c)
{
    syslog_msg_t m;
    int r = syslog_parse(msg, len, now, &m);
    if (r == -ENODATA) return 0;
    c->messages++;
    if (r) {
        c->decode_errors++;
        return 0;
    }
    size_t mark = jsonw_len(&l->jw);
    r = c->records < BATCH_RECORDS ? syslog_write_record_scanned(&l->jw, &m, o, &l->recs[c->records])
                                   : -ENOBUFS; /* never: the callers stop at BATCH_RECORDS */
    if (!r && jsonw_len(&l->jw) - mark > l->max_record) {
        jsonw_truncate(&l->jw, mark);
        r = -E2BIG;
    }
    if (r) {
        if (r == -E2BIG) c->oversize++;
        else c->decode_errors++;
        return 0;
    }
    c->records++;
    return 1;
}

static void commit_counts(const counts_t *c)
{
    if (c->messages) PROTO_ADD(PROTO_SYSLOG, messages, c->messages);
    if (c->decode_errors) PROTO_ADD(PROTO_SYSLOG, decode_errors, c->decode_errors);
    if (c->oversize) PROTO_ADD(PROTO_SYSLOG, oversize, c->oversize);
}

static bool retryable(int status)
{
    return status == -EAGAIN || status == -ENOBUFS || status == -EBUSY || status == -ENOMEM ||
           status == -ENOSPC || status == -EIO;
}

/* ======================================================================
 * UDP
 * ====================================================================== */

typedef struct {
    size_t records;
} udp_sub_t;

static void udp_verdict(void *ctx, const ingest_verdict_t *v)
{
    udp_sub_t *s = ctx;
    if (v->status == 0) {
        PROTO_ADD(PROTO_SYSLOG, records_accepted, v->records);
    } else {
        PROTO_ADD(PROTO_SYSLOG, records_refused, s->records);
        METRIC_ADD(syslog_udp_dropped, s->records);
        log_debug("syslog", "udp: %zu records refused: %s", s->records,
                  v->message ? v->message : "");
    }
    free(s);
}

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(out, outlen, "%s:%u", ip, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(out, outlen, "[%s]:%u", ip, port);
    } else {
        snprintf(out, outlen, "?");
    }
}

/* The kernel's receive-queue drop counter from a datagram's control data. */
static void udp_overflow(syslog_listener_t *l, struct msghdr *mh)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SO_RXQ_OVFL) continue;
        uint32_t v;
        memcpy(&v, CMSG_DATA(cm), sizeof v);
        if (v != l->ovfl_seen) {
            METRIC_ADD(syslog_udp_dropped, (uint32_t)(v - l->ovfl_seen));
            l->ovfl_seen = v;
        }
    }
}

static void udp_prepare(syslog_listener_t *l)
{
    for (int i = 0; i < UDP_BATCH; i++) {
        l->iov[i] = (struct iovec){l->bufs + (size_t)i * l->dgram_cap, l->dgram_cap};
        l->msgs[i].msg_hdr = (struct msghdr){
            .msg_name = &l->addrs[i], .msg_namelen = sizeof l->addrs[i],
            .msg_iov = &l->iov[i], .msg_iovlen = 1,
            .msg_control = l->cmsg[i], .msg_controllen = sizeof l->cmsg[i]};
        l->msgs[i].msg_len = 0;
    }
}

/* One batch of datagrams: 0, or -EAGAIN when the socket is empty. */
static int udp_batch(syslog_listener_t *l)
{
    udp_prepare(l);
    int n = recvmmsg(l->fd, l->msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        log_warn("syslog", "%s: recvmmsg: %s", l->url, strerror(errno));
    if (n <= 0) return -EAGAIN;
    for (int i = 0; i < n; i++) udp_overflow(l, &l->msgs[i].msg_hdr);
    if (ingest_room(l->ing) != 0) { /* no backpressure on UDP: dropped, counted */
        METRIC_ADD(syslog_udp_dropped, (uint64_t)n);
        return n < UDP_BATCH ? -EAGAIN : 0;
    }
    counts_t c = {0};
    uint64_t dropped = 0;
    int64_t now = now_ns();
    char peer[80], first_peer[80] = "";
    jsonw_reset(&l->jw);
    for (int i = 0; i < n; i++) {
        struct msghdr *mh = &l->msgs[i].msg_hdr;
        size_t len = l->msgs[i].msg_len;
        if ((mh->msg_flags & MSG_TRUNC) || len > l->max_msg) {
            c.messages++;
            c.oversize++;
            dropped++;
            continue;
        }
        format_peer(&l->addrs[i], peer, sizeof peer);
        if (!first_peer[0]) memcpy(first_peer, peer, sizeof peer);
        syslog_origin_t o = {"udp", peer, now};
        uint64_t before = c.messages;
        if (!add_message(l, l->iov[i].iov_base, len, &o, now, &c) && c.messages != before)
            dropped++;
    }
    commit_counts(&c);
    if (dropped) METRIC_ADD(syslog_udp_dropped, dropped);
    if (c.records) {
        size_t blen;
        unsigned depth = l->jw.deepest;
        char *body = jsonw_take(&l->jw, &blen);
        udp_sub_t *s = body ? malloc(sizeof *s) : NULL;
        if (!s) {
            free(body);
            METRIC_ADD(syslog_udp_dropped, c.records);
            PROTO_ADD(PROTO_SYSLOG, records_refused, c.records);
        } else {
            s->records = c.records;
            char ip[80]; /* the rate-limit key is the address, without the port */
            snprintf(ip, sizeof ip, "%s", first_peer[0] == '[' ? first_peer + 1 : first_peer);
            char *end = first_peer[0] == '[' ? strchr(ip, ']') : strrchr(ip, ':');
            if (end) *end = '\0';
            ingest_origin_t org = {.peer_addr = ip};
            ingest_submit_scanned(l->w, &org, body, blen, l->recs, c.records, depth, udp_verdict, s);
        }
    }
    return n < UDP_BATCH ? -EAGAIN : 0;
}

static void udp_on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    syslog_listener_t *l = arg;
    for (int i = 0; i < UDP_BATCHES_PER_WAKEUP; i++)
        if (udp_batch(l)) break;
}

static int udp_open(syslog_listener_t *l, const char *host, uint16_t port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    if (getaddrinfo(host, ps, &hints, &ai) || !ai) {
        log_error("syslog", "%s: cannot resolve %s", l->url, host);
        return -EINVAL;
    }
    int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) goto err;
    int one = 1, rcv = UDP_RCVBUF;
    setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv)) /* root: past rmem_max */
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen)) goto err;
    struct sockaddr_storage ss = {0};
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl)) goto err;
    uint16_t bound;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 a6;
        memcpy(&a6, &ss, sizeof a6);
        bound = ntohs(a6.sin6_port);
    } else {
        struct sockaddr_in a4;
        memcpy(&a4, &ss, sizeof a4);
        bound = ntohs(a4.sin_port);
    }
    bool v6 = strchr(host, ':') != NULL;
    snprintf(l->url, sizeof l->url, v6 ? "udp://[%s]:%u" : "udp://%s:%u", host, bound);
    freeaddrinfo(ai);
    l->fd = fd;
    return 0;
err:;
    int e = errno ? errno : EINVAL;
    log_error("syslog", "%s: %s", l->url, strerror(e));
    if (fd >= 0) close(fd);
    freeaddrinfo(ai);
    return -e;
}

static int udp_new(syslog_listener_t *l, const char *host, uint16_t port)
{
    l->dgram_cap = l->max_msg < 65535 ? l->max_msg + 1 : 65536;
    l->bufs = malloc(l->dgram_cap * UDP_BATCH);
    l->msgs = calloc(UDP_BATCH, sizeof *l->msgs);
    l->iov = calloc(UDP_BATCH, sizeof *l->iov);
    l->addrs = calloc(UDP_BATCH, sizeof *l->addrs);
    l->cmsg = calloc(UDP_BATCH, sizeof *l->cmsg);
    if (!l->bufs || !l->msgs || !l->iov || !l->addrs || !l->cmsg) return -ENOMEM;
    int r = udp_open(l, host, port);
    if (r) return r;
    l->ev = event_new(l->base, l->fd, EV_READ | EV_PERSIST, udp_on_read, l);
    if (!l->ev || event_add(l->ev, NULL)) return -ENOMEM;
    PROTO_ADD(PROTO_SYSLOG, connections, 1);
    return 0;
}

/* ======================================================================
 * TCP / TLS
 * ====================================================================== */

typedef struct sconn sconn_t;

/* A submission waiting for its verdict (durable records: the WAL's fsync). */
typedef struct {
    sconn_t *sc;         /* NULL once the connection is gone */
    size_t bytes;        /* input it covers */
    size_t records;
    counts_t counts;
    bool bad_after;      /* a bad frame follows: close once it is in */
    bool in_submit;      /* inside ingest_submit: a verdict now is synchronous */
    bool done;           /* the verdict came (synchronously) */
    int status, retry_after;
} sub_t;

struct sconn {
    syslog_listener_t *l;
    conn_t *c;
    syslog_framer_t fr, fr_start; /* framing state; as it was before the submission */
    char peer[80];
    struct event *timer;          /* retry a refused submission */
    sub_t *inflight;
    size_t accepted;              /* bytes of the input accepted: consumed next on_data */
    bool paused;
};

static void sc_resume(sconn_t *sc)
{
    if (sc->paused) {
        sc->paused = false;
        conn_resume_read(sc->c);
    }
}

static void sc_pause(sconn_t *sc)
{
    if (!sc->paused) {
        sc->paused = true;
        conn_pause_read(sc->c);
    }
}

static void sc_retry_later(sconn_t *sc, int status, int retry_after)
{
    int ms = (status == -ENOSPC || status == -EIO) ? RETRY_DISK_MS : RETRY_MS;
    if (status == -EBUSY && retry_after > 0) ms = retry_after * 1000;
    if (ms > 5000) ms = 5000;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    sc_pause(sc);
    evtimer_add(sc->timer, &tv);
}

static void sc_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sc_resume(arg); /* on_data runs again on the buffered bytes */
}

/* A bad octet-counting frame: the stream cannot be resynchronised. */
static void sc_bad_frame(sconn_t *sc)
{
    PROTO_ADD(PROTO_SYSLOG, decode_errors, 1);
    log_info("syslog", "%s: bad octet-counting frame: connection closed", sc->peer);
    conn_close(sc->c);
}

/* The verdict of a submission: what to do with its bytes. Returns whether the
 * submission's bytes are accepted. */
static bool sc_verdict_apply(sconn_t *sc, sub_t *s)
{
    if (s->status == 0) {
        commit_counts(&s->counts);
        return true;
    }
    PROTO_ADD(PROTO_SYSLOG, records_refused, s->records);
    if (retryable(s->status)) {
        sc->fr = sc->fr_start; /* the same bytes are parsed again */
        sc_retry_later(sc, s->status, s->retry_after);
        return false;
    }
    if (s->status == -ESHUTDOWN) { /* draining: the sender keeps what we did not take */
        log_info("syslog", "%s: closing (shutting down); unread bytes stay with the sender",
                 sc->peer);
        conn_close(sc->c);
        return false;
    }
    /* refused for its content (cannot pass by waiting): dropped, counted */
    commit_counts(&s->counts);
    log_warn("syslog", "%s: %zu records refused (%d): dropped", sc->peer, s->records, s->status);
    return true;
}

static void sc_verdict(void *ctx, const ingest_verdict_t *v)
{
    sub_t *s = ctx;
    s->status = v->status;
    s->retry_after = v->retry_after;
    if (v->status == 0) PROTO_ADD(PROTO_SYSLOG, records_accepted, v->records);
    sconn_t *sc = s->sc;
    if (sc && s->in_submit) { /* synchronous: sc_on_data looks at it */
        s->done = true;
        return;
    }
    if (!sc) { /* the connection went while the WAL wrote */
        if (v->status) PROTO_ADD(PROTO_SYSLOG, records_refused, s->records);
        free(s);
        return;
    }
    sc->inflight = NULL;
    if (sc_verdict_apply(sc, s)) {
        sc->accepted = s->bytes;
        if (s->bad_after) {
            sc_bad_frame(sc);
        } else {
            sc_resume(sc);
        }
    }
    free(s);
}

/* Parse the complete frames of in[0..len) into l->jw (at most BATCH_RECORDS
 * records or BATCH_BYTES of JSON). Returns the bytes used; *bad when a bad
 * frame stopped it. */
static size_t sc_parse(sconn_t *sc, const char *in, size_t len, counts_t *c, bool *bad)
{
    syslog_listener_t *l = sc->l;
    syslog_origin_t o = {transport_names[l->kind], sc->peer, now_ns()};
    size_t off = 0;
    *bad = false;
    while (off < len && c->records < BATCH_RECORDS && jsonw_len(&l->jw) < BATCH_BYTES) {
        const char *msg;
        size_t mlen, used, need;
        syslog_frame_t f = syslog_framer_next(&sc->fr, in + off, len - off, &msg, &mlen, &used,
                                              &need);
        if (f == SYSLOG_FRAME_NEED) {
            size_t want = need > TCP_READ_AHEAD ? need : TCP_READ_AHEAD;
            if (conn_expect_input(sc->c, want) && conn_expect_input(sc->c, need))
                *bad = true; /* cannot hold it: should not happen (limits leave room) */
            break;
        }
        if (f == SYSLOG_FRAME_BAD) {
            *bad = true;
            break;
        }
        if (f == SYSLOG_FRAME_OVERSIZE) {
            c->messages++;
            c->oversize++;
        } else if (f == SYSLOG_FRAME_MSG) {
            add_message(l, msg, mlen, &o, o.received_ns, c);
        }
        off += used;
    }
    if (off < len && !*bad) conn_request_started(sc->c); /* a partial frame: its deadline runs */
    else conn_request_done(sc->c);
    return off;
}

/* Submit what sc_parse built, covering `bytes` of input. Returns the bytes
 * consumed now: all of them when the verdict came at once and accepted them,
 * 0 while it waits (durable records: reading paused) or was refused. */
static size_t sc_submit(sconn_t *sc, size_t bytes, const counts_t *c, bool bad)
{
    syslog_listener_t *l = sc->l;
    size_t blen;
    unsigned depth = l->jw.deepest;
    char *body = jsonw_take(&l->jw, &blen);
    sub_t *s = body ? calloc(1, sizeof *s) : NULL;
    if (!s) {
        free(body);
        sc->fr = sc->fr_start;
        sc_retry_later(sc, -ENOMEM, 0);
        return 0;
    }
    *s = (sub_t){.sc = sc, .bytes = bytes, .records = c->records, .counts = *c, .bad_after = bad};
    sc->inflight = s;
    ingest_origin_t org = {.peer_addr = conn_peer_addr(sc->c)};
    s->in_submit = true;
    ingest_submit_scanned(l->w, &org, body, blen, l->recs, c->records, depth, sc_verdict, s);
    s->in_submit = false;
    if (!s->done) { /* durable records: nothing more is read until they are on disk */
        sc_pause(sc);
        return 0;
    }
    sc->inflight = NULL;
    bool ok = sc_verdict_apply(sc, s);
    free(s);
    if (!ok) return 0;
    if (bad) sc_bad_frame(sc);
    return bytes;
}

/* framer on_data: every complete message of in[0..len) as one submission. */
static size_t sc_on_data(void *st, const char *in, size_t len)
{
    sconn_t *sc = st;
    if (sc->inflight) return 0;
    if (sc->accepted) { /* a submission accepted after on_data returned */
        size_t n = sc->accepted < len ? sc->accepted : len;
        sc->accepted -= n;
        return n;
    }
    int room = ingest_room(sc->l->ing);
    if (room) {
        if (room == -ESHUTDOWN) conn_close(sc->c);
        else sc_retry_later(sc, room, 0);
        return 0;
    }
    sc->fr_start = sc->fr;
    jsonw_reset(&sc->l->jw);
    counts_t c = {0};
    bool bad;
    size_t off = sc_parse(sc, in, len, &c, &bad);
    if (!c.records) {
        commit_counts(&c);
        if (bad) sc_bad_frame(sc);
        return off;
    }
    return sc_submit(sc, off, &c, bad);
}

/* EOF: a last LF-framed message without its LF is still a message. */
static void sc_on_eof(void *st, size_t pending)
{
    sconn_t *sc = st;
    syslog_listener_t *l = sc->l;
    if (!pending || sc->inflight || sc->paused || sc->fr.discard) {
        conn_close(sc->c);
        return;
    }
    char *base;
    size_t offset;
    if (sc->fr.mode != SYSLOG_FRAMING_LF || conn_take_input(sc->c, pending, &base, &offset)) {
        PROTO_ADD(PROTO_SYSLOG, decode_errors, 1); /* a truncated octet-counted frame */
        conn_close(sc->c);
        return;
    }
    jsonw_reset(&l->jw);
    counts_t c = {0};
    syslog_origin_t o = {transport_names[l->kind], sc->peer, now_ns()};
    add_message(l, base + offset, pending, &o, o.received_ns, &c);
    free(base);
    commit_counts(&c);
    if (c.records) {
        size_t blen;
        char *body = jsonw_take(&l->jw, &blen);
        sub_t *s = body ? calloc(1, sizeof *s) : NULL;
        if (s) {
            *s = (sub_t){.sc = NULL, .records = c.records}; /* nobody left to answer */
            ingest_origin_t org = {.peer_addr = conn_peer_addr(sc->c)};
            ingest_submit(l->w, &org, body, blen, sc_verdict, s);
        } else {
            free(body);
            PROTO_ADD(PROTO_SYSLOG, records_refused, c.records);
        }
    }
    conn_close(sc->c);
}

static void *sc_open(conn_t *c, void *ctx)
{
    syslog_listener_t *l = ctx;
    sconn_t *sc = calloc(1, sizeof *sc);
    if (!sc) return NULL;
    sc->l = l;
    sc->c = c;
    syslog_framer_init(&sc->fr, l->max_msg);
    sc->timer = evtimer_new(l->base, sc_on_timer, sc);
    if (!sc->timer) {
        free(sc);
        return NULL;
    }
    const char *a = conn_peer_addr(c);
    snprintf(sc->peer, sizeof sc->peer, strchr(a, ':') ? "[%s]:%u" : "%s:%u", a,
             conn_peer_port(c));
    PROTO_ADD(PROTO_SYSLOG, connections, 1);
    return sc;
}

static void sc_timeout(void *st, bool reading)
{
    sconn_t *sc = st;
    log_info("syslog", "%s: %s: closed", sc->peer,
             reading ? "a message did not complete in time" : "idle");
}

static void sc_close(void *st)
{
    sconn_t *sc = st;
    if (sc->inflight) sc->inflight->sc = NULL; /* its verdict frees it */
    event_free(sc->timer);
    free(sc);
}

static int tcp_new(syslog_listener_t *l, const char *host, uint16_t port, tls_server_t *tls)
{
    if (l->kind == T_TLS && !tls) {
        log_error("syslog", "%s needs --tls-cert and --tls-key", l->url);
        return -EINVAL;
    }
    l->ops = (framer_ops_t){.name = "syslog", .open = sc_open, .on_data = sc_on_data,
                            .on_eof = sc_on_eof, .on_timeout = sc_timeout, .close = sc_close};
    const config_t *cfg = l->cfg;
    conn_limits_t cl = {
        .max_connections = cfg->max_connections,
        .group = 0,
        .max_connections_per_ip = cfg->max_connections_per_ip,
        .header_timeout_ms = cfg->idle_timeout_s * 1000u, /* TLS handshake, a started frame */
        .idle_timeout_ms = 0, /* syslog connections may idle between messages */
        .max_input_bytes = l->max_msg + 64 + TCP_READ_AHEAD,
    };
    l->lst = listener_new(l->base, host, port, false, l->kind == T_TLS ? tls : NULL, &cl,
                          &l->ops, l);
    if (!l->lst) return -EADDRINUSE;
    bool v6 = strchr(host, ':') != NULL;
    snprintf(l->url, sizeof l->url, v6 ? "%s://[%s]:%u" : "%s://%s:%u",
             transport_names[l->kind], host, listener_port(l->lst));
    return 0;
}

/* ======================================================================
 * listener
 * ====================================================================== */

syslog_listener_t *syslog_listener_new(struct event_base *base, ingest_worker_t *w,
                                       const config_t *cfg, const char *url, tls_server_t *tls)
{
    syslog_listener_t *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->fd = -1;
    l->base = base;
    l->w = w;
    l->ing = ingest_worker_owner(w);
    l->cfg = cfg;
    snprintf(l->url, sizeof l->url, "%s", url);
    l->max_msg = cfg->syslog_max_message_bytes;
    l->max_record = cfg->max_record_bytes;
    /* a record can be ~6x its message (escapes) plus metadata: the writer's bound
     * leaves room for one more after the soft batch bound */
    jsonw_init(&l->jw, BATCH_BYTES + 6 * l->max_msg + 65536);
    l->recs = malloc(BATCH_RECORDS * sizeof *l->recs);
    if (!l->recs) goto err;
    char host[256];
    uint16_t port;
    if (parse_url(url, &l->kind, host, sizeof host, &port)) {
        log_error("syslog", "bad --syslog-listen %s", url);
        goto err;
    }
    if ((l->kind == T_UDP ? udp_new(l, host, port) : tcp_new(l, host, port, tls))) goto err;
    log_event(LOG_INFO, "syslog", "listening", LOG_FIELDS(LF_STR("url", l->url)), "listening on %s",
              l->url);
    return l;
err:
    syslog_listener_free(l);
    return NULL;
}

const char *syslog_listener_url(const syslog_listener_t *l)
{
    return l->url;
}

void syslog_listener_stop(syslog_listener_t *l)
{
    if (!l) return;
    if (l->ev) event_del(l->ev);
    if (l->lst) {
        listener_stop(l->lst);
        listener_set_draining(l->lst, true);
    }
}

void syslog_listener_free(syslog_listener_t *l)
{
    if (!l) return;
    if (l->ev) event_free(l->ev);
    if (l->fd >= 0) close(l->fd);
    listener_free(l->lst);
    free(l->bufs);
    free(l->msgs);
    free(l->iov);
    free(l->addrs);
    free(l->cmsg);
    jsonw_free(&l->jw);
    free(l->recs);
    free(l);
}
