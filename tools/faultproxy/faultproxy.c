/*
 * faultproxy.c - logdist-faultproxy: a fault-injecting TCP proxy for chaos tests.
 *
 *   logdist-faultproxy --listen 127.0.0.1:0 --upstream 127.0.0.1:PORT
 *                      --control 127.0.0.1:0 [--latency-ms N] [--reset]
 *                      [--blackhole] [--bandwidth-bps N]
 *
 * Prints {"listening":"HOST:PORT","control":"HOST:PORT"} on stdout once bound.
 * Every accepted client connection gets one upstream connection and bytes are
 * copied both ways. Faults, set by the flags above and changed at run time by
 * an HTTP control API on --control (PUT /fault with any subset of
 * {"latency_ms":N,"reset":bool,"blackhole":bool,"bandwidth_bps":N} and the
 * action "stall":true; DELETE /fault clears all faults (stalled connections
 * stay stalled); GET /fault returns the faults and the counters):
 *
 *  - latency_ms: every chunk is forwarded N ms after it was read, in each
 *    direction (a timed queue per direction; order is preserved, so lowering
 *    the latency never reorders bytes).
 *  - reset: existing connections and every new one are closed with RST
 *    (SO_LINGER 0), on both sides.
 *  - blackhole: a network partition. Connections are still accepted but
 *    nothing is forwarded in either direction; what arrives is read and
 *    dropped, pending output is held, and the proxy never closes a connection
 *    itself (a side whose peer closes is closed, the other side stays open).
 *    When the partition heals, connections that lost bytes (or a side) during
 *    it are reset, like TCP after a partition; untouched idle ones go on.
 *  - stall (an action, not a lasting fault: PUT {"stall":true}): every
 *    connection open now goes silent for good, as a half-open path does when a
 *    NAT or firewall on the way forgets it: bytes either way are read and
 *    dropped, nothing is forwarded, and the connection is reset on both sides
 *    once either side closes. New connections are not affected. A blackhole's
 *    heal does not wake a stalled connection.
 *  - bandwidth_bps: each direction of each connection is throttled to N bytes/s
 *    (libevent token buckets, 100 ms ticks). 0 = unlimited.
 *
 * Bounds: at most 1024 connections (more are accepted and closed at once), at
 * most 256 KiB pending per direction (read is paused above it, resumed below
 * half), control request bodies at most 64 KiB. Single thread, libevent 2.1.
 * SIGTERM / SIGINT: exit 0.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <jansson.h>

#define MAX_CONNS 1024                  /* open proxied connections */
#define DIR_HIGH_WM ((size_t)256 << 10) /* pending bytes per direction: pause reading above */
#define DIR_LOW_WM (DIR_HIGH_WM / 2)    /* ... resume below */
#define READ_HIGH_WM ((size_t)64 << 10) /* libevent stops reading a socket above this */
#define MAX_LATENCY_MS 600000
#define MAX_CONTROL_BODY 65536
#define RATE_TICK_MS 100
#define ACCEPT_BACKOFF_MS 100

/* One chunk waiting for its forwarding time (latency fault). */
typedef struct chunk {
    struct chunk *next;
    uint64_t due_ms;
    struct evbuffer *buf;
} chunk_t;

struct conn;

/* One direction of a connection: bytes read from side `idx` go to side 1-idx. */
typedef struct {
    struct conn *c;
    int idx;              /* 0: client -> upstream, 1: upstream -> client */
    chunk_t *head, *tail; /* latency queue */
    size_t pending;       /* bytes in the latency queue */
    struct event *timer;  /* fires at head->due_ms */
    bool src_eof;         /* the source side sent FIN */
    bool shut_done;       /* FIN forwarded to the destination */
    bool read_paused;     /* source reading paused by the watermark */
} dir_t;

/* A proxied connection: bev[0] the client, bev[1] the upstream. */
typedef struct conn {
    struct conn *prev, *next;
    struct bufferevent *bev[2];
    dir_t dir[2];
    bool tainted;   /* lost bytes or a side during a blackhole: reset when it heals */
    bool connected; /* the upstream connect completed */
    bool stalled;   /* silent for good (the stall action) */
} conn_t;

/* Current faults. */
typedef struct {
    long latency_ms;
    bool reset;
    bool blackhole;
    long bandwidth_bps;
    bool stall; /* an action: applied once, never kept */
} faults_t;

/* Process-wide state (single thread). */
static struct {
    struct event_base *base;
    struct evconnlistener *listener;
    struct event *accept_backoff;
    struct evhttp *http;
    struct sockaddr_storage upstream;
    int upstream_len;
    faults_t f;
    struct ev_token_bucket_cfg *rate_cfg; /* NULL when bandwidth_bps == 0 */
    conn_t *conns;
    size_t nconns;
    /* counters */
    uint64_t conns_total, conns_refused, resets, upstream_errors, stalled;
    uint64_t bytes_up, bytes_down, bytes_dropped;
} g;

static void conn_close(conn_t *c, bool rst);
static bool dir_flow(dir_t *d);

/* Nothing flows on c: a blackhole, or c was stalled. */
static bool dark(const conn_t *c)
{
    return g.f.blackhole || c->stalled;
}

/* Monotonic milliseconds. */
static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Set SO_LINGER {1, 0} so that close() sends RST. */
static void set_rst_on_close(evutil_socket_t fd)
{
    struct linger lg = {1, 0};
    if (fd >= 0) (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

/* TCP_NODELAY, so that the latency fault is the only delay added. */
static void set_nodelay(evutil_socket_t fd)
{
    int one = 1;
    if (fd >= 0) (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Apply the current bandwidth limit (or none) to one bufferevent. */
static void apply_rate(struct bufferevent *bev)
{
    if (bev) bufferevent_set_rate_limit(bev, g.rate_cfg);
}

/* Build the token-bucket config for bandwidth_bps (NULL for unlimited). */
static struct ev_token_bucket_cfg *make_rate_cfg(long bps)
{
    if (bps <= 0) return NULL;
    size_t per_tick = (size_t)bps * RATE_TICK_MS / 1000u;
    if (per_tick < 1) per_tick = 1;
    struct timeval tick = {0, RATE_TICK_MS * 1000};
    return ev_token_bucket_cfg_new(per_tick, per_tick, per_tick, per_tick, &tick);
}

/* Source and destination bufferevents of a direction. */
static struct bufferevent *dir_src(const dir_t *d)
{
    return d->c->bev[d->idx];
}
static struct bufferevent *dir_dst(const dir_t *d)
{
    return d->c->bev[1 - d->idx];
}

/* Count bytes forwarded in a direction. */
static void count_forwarded(const dir_t *d, size_t n)
{
    if (d->idx == 0)
        g.bytes_up += n;
    else
        g.bytes_down += n;
}

/* (Re)arm the direction's timer for its queue head. */
static void dir_schedule(dir_t *d)
{
    if (!d->head) return;
    uint64_t now = now_ms();
    uint64_t wait = d->head->due_ms > now ? d->head->due_ms - now : 0;
    struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
    evtimer_add(d->timer, &tv);
}

/* Latency timer: move every due chunk to the destination's output. */
static void on_dir_timer(evutil_socket_t fd, short what, void *arg)
{
    dir_t *d = arg;
    (void)fd;
    (void)what;
    if (dark(d->c)) return; /* held; the heal re-arms the timer */
    struct bufferevent *dst = dir_dst(d);
    if (!dst) return;
    uint64_t now = now_ms();
    while (d->head && d->head->due_ms <= now) {
        chunk_t *ch = d->head;
        size_t n = evbuffer_get_length(ch->buf);
        evbuffer_add_buffer(bufferevent_get_output(dst), ch->buf);
        count_forwarded(d, n);
        d->pending -= n;
        d->head = ch->next;
        if (!d->head) d->tail = NULL;
        evbuffer_free(ch->buf);
        free(ch);
    }
    dir_schedule(d);
    (void)dir_flow(d);
}

/* Flow control and FIN propagation for a direction: pause / resume reading the
 * source by the pending byte count; once the source sent FIN and everything was
 * written, shut the destination's write side; when both directions are done,
 * free the connection. Returns true if the connection was freed. */
static bool dir_flow(dir_t *d)
{
    conn_t *c = d->c;
    struct bufferevent *src = dir_src(d), *dst = dir_dst(d);
    if (!src || !dst) return false;
    size_t total = d->pending + evbuffer_get_length(bufferevent_get_output(dst));
    if (!d->src_eof && !dark(c)) {
        if (!d->read_paused && total >= DIR_HIGH_WM) {
            bufferevent_disable(src, EV_READ);
            d->read_paused = true;
        } else if (d->read_paused && total <= DIR_LOW_WM) {
            bufferevent_enable(src, EV_READ);
            d->read_paused = false;
        }
    }
    if (d->src_eof && !d->shut_done && total == 0 && !dark(c) && c->connected) {
        (void)shutdown(bufferevent_getfd(dst), SHUT_WR);
        d->shut_done = true;
        if (c->dir[0].shut_done && c->dir[1].shut_done) {
            conn_close(c, false);
            return true;
        }
    }
    return false;
}

/* Readable side: forward (now or after the latency) or, in a blackhole, drop. */
static void on_read(struct bufferevent *bev, void *arg)
{
    dir_t *d = arg;
    conn_t *c = d->c;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);
    if (n == 0) return;
    struct bufferevent *dst = dir_dst(d);
    if (dark(c) || !dst) {
        evbuffer_drain(in, n);
        g.bytes_dropped += n;
        c->tainted = true;
        return;
    }
    if (g.f.latency_ms > 0 || d->head) {
        chunk_t *ch = calloc(1, sizeof *ch);
        if (!ch || !(ch->buf = evbuffer_new())) {
            free(ch);
            conn_close(c, true);
            return;
        }
        evbuffer_add_buffer(ch->buf, in);
        ch->due_ms = now_ms() + (uint64_t)g.f.latency_ms;
        if (d->tail)
            d->tail->next = ch;
        else
            d->head = ch;
        d->tail = ch;
        d->pending += n;
        if (!evtimer_pending(d->timer, NULL)) dir_schedule(d);
    } else {
        evbuffer_add_buffer(bufferevent_get_output(dst), in);
        count_forwarded(d, n);
    }
    (void)dir_flow(d);
}

/* Output drained to the low watermark: the direction that writes here may read on. */
static void on_write(struct bufferevent *bev, void *arg)
{
    dir_t *d = arg;
    (void)bev;
    (void)dir_flow(&d->c->dir[1 - d->idx]);
}

/* Close one side of a connection during a blackhole (its peer closed); the
 * other side stays open until the partition heals. */
static void side_gone_in_blackhole(conn_t *c, int side, bool rst)
{
    if (rst) set_rst_on_close(bufferevent_getfd(c->bev[side]));
    bufferevent_free(c->bev[side]);
    c->bev[side] = NULL;
    c->tainted = true;
    if (!c->bev[1 - side]) conn_close(c, false);
}

/* Connected / EOF / error on a side. */
static void on_event(struct bufferevent *bev, short what, void *arg)
{
    dir_t *d = arg;
    conn_t *c = d->c;
    if (what & BEV_EVENT_CONNECTED) {
        set_nodelay(bufferevent_getfd(bev));
        c->connected = true;
        (void)dir_flow(&c->dir[0]); /* a client FIN that came before the connect */
        return;
    }
    if (c->stalled && (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))) {
        conn_close(c, true);
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        if (d->idx == 1) g.upstream_errors++;
        if (g.f.blackhole)
            side_gone_in_blackhole(c, d->idx, true);
        else
            conn_close(c, true); /* propagate the reset / refused connect */
        return;
    }
    if (what & BEV_EVENT_EOF) {
        if (g.f.blackhole) {
            side_gone_in_blackhole(c, d->idx, false);
            return;
        }
        d->src_eof = true;
        d->read_paused = false;
        bufferevent_disable(bev, EV_READ);
        (void)dir_flow(d);
    }
}

/* Free a direction's latency queue and timer. */
static void dir_free(dir_t *d)
{
    while (d->head) {
        chunk_t *ch = d->head;
        d->head = ch->next;
        evbuffer_free(ch->buf);
        free(ch);
    }
    d->tail = NULL;
    d->pending = 0;
    if (d->timer) event_free(d->timer);
    d->timer = NULL;
}

/* Close both sides (with RST if `rst`) and free the connection. */
static void conn_close(conn_t *c, bool rst)
{
    for (int i = 0; i < 2; i++) {
        if (!c->bev[i]) continue;
        if (rst) set_rst_on_close(bufferevent_getfd(c->bev[i]));
        bufferevent_free(c->bev[i]);
        c->bev[i] = NULL;
    }
    dir_free(&c->dir[0]);
    dir_free(&c->dir[1]);
    if (c->prev)
        c->prev->next = c->next;
    else
        g.conns = c->next;
    if (c->next) c->next->prev = c->prev;
    g.nconns--;
    free(c);
}

/* Configure a new side's bufferevent: callbacks, watermarks, rate limit. */
static void side_setup(conn_t *c, int i)
{
    struct bufferevent *bev = c->bev[i];
    bufferevent_setcb(bev, on_read, on_write, on_event, &c->dir[i]);
    bufferevent_setwatermark(bev, EV_READ, 0, READ_HIGH_WM);
    bufferevent_setwatermark(bev, EV_WRITE, DIR_LOW_WM, 0);
    apply_rate(bev);
    if (g.f.blackhole) bufferevent_disable(bev, EV_WRITE);
    bufferevent_enable(bev, EV_READ);
}

/* A client connected: reset it, refuse it over the cap, or proxy it. */
static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    (void)l;
    (void)sa;
    (void)salen;
    (void)arg;
    if (g.f.reset) {
        set_rst_on_close(fd);
        evutil_closesocket(fd);
        g.resets++;
        return;
    }
    if (g.nconns >= MAX_CONNS) {
        evutil_closesocket(fd);
        g.conns_refused++;
        return;
    }
    conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        evutil_closesocket(fd);
        g.conns_refused++;
        return;
    }
    for (int i = 0; i < 2; i++) {
        c->dir[i].c = c;
        c->dir[i].idx = i;
    }
    /* linked first so that conn_close() can undo a partial setup */
    c->next = g.conns;
    if (g.conns) g.conns->prev = c;
    g.conns = c;
    g.nconns++;
    g.conns_total++;
    c->bev[0] = bufferevent_socket_new(g.base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev[0]) {
        evutil_closesocket(fd);
        conn_close(c, true);
        return;
    }
    set_nodelay(fd);
    c->bev[1] = bufferevent_socket_new(g.base, -1, BEV_OPT_CLOSE_ON_FREE);
    for (int i = 0; i < 2; i++)
        c->dir[i].timer = evtimer_new(g.base, on_dir_timer, &c->dir[i]);
    if (!c->bev[1] || !c->dir[0].timer || !c->dir[1].timer) {
        conn_close(c, true);
        return;
    }
    side_setup(c, 0);
    side_setup(c, 1);
    if (bufferevent_socket_connect(c->bev[1], (struct sockaddr *)&g.upstream, g.upstream_len) < 0) {
        g.upstream_errors++;
        conn_close(c, true);
    }
}

/* accept() failed (e.g. EMFILE): pause the listener briefly instead of spinning. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    (void)arg;
    fprintf(stderr, "faultproxy: accept: %s\n",
            evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    evconnlistener_disable(l);
    struct timeval tv = {0, ACCEPT_BACKOFF_MS * 1000};
    evtimer_add(g.accept_backoff, &tv);
}

/* Re-enable the listener after an accept error. */
static void on_accept_backoff(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    evconnlistener_enable(g.listener);
}

/* Reset every open connection (reset fault switched on). */
static void reset_all(void)
{
    for (conn_t *c = g.conns, *next; c; c = next) {
        next = c->next;
        g.resets++;
        conn_close(c, true);
    }
}

/* Stop output and read-and-drop input on every side of c. */
static void conn_silence(conn_t *c)
{
    for (int i = 0; i < 2; i++) {
        if (!c->bev[i]) continue;
        bufferevent_disable(c->bev[i], EV_WRITE);
        if (!c->dir[i].src_eof) bufferevent_enable(c->bev[i], EV_READ);
        c->dir[i].read_paused = false;
    }
}

/* The stall action: every open connection goes silent for good. */
static void stall_all(void)
{
    for (conn_t *c = g.conns; c; c = c->next) {
        if (c->stalled) continue;
        c->stalled = true;
        g.stalled++;
        conn_silence(c);
    }
}

/* Blackhole switched on: silence every connection. */
static void blackhole_start(void)
{
    for (conn_t *c = g.conns; c; c = c->next)
        conn_silence(c);
}

/* Blackhole switched off: reset the connections that lost bytes or a side, let
 * the others go on (output, queued latency chunks, FINs, flow control). */
static void blackhole_heal(void)
{
    conn_t *c = g.conns;
    while (c) {
        conn_t *next = c->next;
        if (c->stalled) { /* stays silent */
        } else if (c->tainted) {
            g.resets++;
            conn_close(c, true);
        } else {
            for (int i = 0; i < 2; i++)
                bufferevent_enable(c->bev[i], EV_WRITE);
            for (int i = 0; i < 2; i++)
                dir_schedule(&c->dir[i]);
            if (!dir_flow(&c->dir[0])) (void)dir_flow(&c->dir[1]);
        }
        c = next;
    }
}

/* Switch to new faults, acting on the transitions. */
static void faults_apply(const faults_t *nf)
{
    faults_t old = g.f;
    if (nf->bandwidth_bps != old.bandwidth_bps) {
        struct ev_token_bucket_cfg *cfg = make_rate_cfg(nf->bandwidth_bps);
        struct ev_token_bucket_cfg *prev = g.rate_cfg;
        g.rate_cfg = cfg;
        for (conn_t *c = g.conns; c; c = c->next)
            for (int i = 0; i < 2; i++)
                apply_rate(c->bev[i]);
        if (prev) ev_token_bucket_cfg_free(prev); /* no bufferevent uses it now */
    }
    g.f = *nf;
    if (nf->blackhole && !old.blackhole) blackhole_start();
    if (!nf->blackhole && old.blackhole) blackhole_heal();
    if (nf->reset) reset_all();
    if (nf->stall) stall_all();
    g.f.stall = false;
}

/* Current faults and counters as JSON. */
static json_t *status_json(void)
{
    return json_pack("{s:I,s:b,s:b,s:I,s:{s:I,s:I,s:I},s:I,s:I,s:I,s:I,s:I,s:I}", "latency_ms",
                     (json_int_t)g.f.latency_ms, "reset", g.f.reset, "blackhole", g.f.blackhole,
                     "bandwidth_bps", (json_int_t)g.f.bandwidth_bps, "connections", "active",
                     (json_int_t)g.nconns, "total", (json_int_t)g.conns_total, "refused",
                     (json_int_t)g.conns_refused, "bytes_up", (json_int_t)g.bytes_up, "bytes_down",
                     (json_int_t)g.bytes_down, "bytes_dropped", (json_int_t)g.bytes_dropped,
                     "resets", (json_int_t)g.resets, "upstream_errors",
                     (json_int_t)g.upstream_errors, "stalled", (json_int_t)g.stalled);
}

/* Send a JSON reply (takes the reference of j). */
static void reply_json(struct evhttp_request *req, int code, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    struct evbuffer *out = evbuffer_new();
    if (out) {
        evbuffer_add_printf(out, "%s\n", s ? s : "{}");
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
        evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", out);
        evbuffer_free(out);
    } else {
        evhttp_send_error(req, 500, NULL);
    }
    free(s);
}

/* Reply 400 {"error": msg}. */
static void reply_bad(struct evhttp_request *req, const char *msg)
{
    reply_json(req, 400, json_pack("{s:s}", "error", msg));
}

/* Parse a PUT /fault body over the current faults. Returns an error text or NULL. */
static const char *parse_faults(const char *body, size_t len, faults_t *nf)
{
    json_error_t err;
    json_t *j = json_loadb(body, len, 0, &err);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return "body must be a JSON object";
    }
    const char *key;
    json_t *v;
    const char *bad = NULL;
    json_object_foreach(j, key, v)
    {
        if (!strcmp(key, "latency_ms") || !strcmp(key, "bandwidth_bps")) {
            long max = !strcmp(key, "latency_ms") ? MAX_LATENCY_MS : 1L << 40;
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max) {
                bad = "latency_ms / bandwidth_bps: integer in range";
                break;
            }
            if (key[0] == 'l')
                nf->latency_ms = (long)json_integer_value(v);
            else
                nf->bandwidth_bps = (long)json_integer_value(v);
        } else if (!strcmp(key, "reset") || !strcmp(key, "blackhole") || !strcmp(key, "stall")) {
            if (!json_is_boolean(v)) {
                bad = "reset / blackhole / stall: boolean";
                break;
            }
            if (key[0] == 'r')
                nf->reset = json_is_true(v);
            else if (key[0] == 'b')
                nf->blackhole = json_is_true(v);
            else
                nf->stall = json_is_true(v);
        } else {
            bad = "unknown key (latency_ms, reset, blackhole, stall, bandwidth_bps)";
            break;
        }
    }
    json_decref(j);
    return bad;
}

/* Control API: GET / PUT / DELETE /fault. */
static void on_control(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const char *uri = evhttp_request_get_uri(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    size_t plen = strcspn(uri, "?");
    if (plen != 6 || strncmp(uri, "/fault", 6) != 0) {
        reply_json(req, 404, json_pack("{s:s}", "error", "not_found"));
        return;
    }
    if (cmd == EVHTTP_REQ_GET) {
        reply_json(req, 200, status_json());
    } else if (cmd == EVHTTP_REQ_DELETE) {
        faults_t nf = {0, false, false, 0, false};
        faults_apply(&nf);
        reply_json(req, 200, status_json());
    } else if (cmd == EVHTTP_REQ_PUT || cmd == EVHTTP_REQ_POST) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(in);
        const char *body = (const char *)evbuffer_pullup(in, -1);
        faults_t nf = g.f;
        const char *bad = parse_faults(body ? body : "", body ? len : 0, &nf);
        if (bad) {
            reply_bad(req, bad);
            return;
        }
        faults_apply(&nf);
        reply_json(req, 200, status_json());
    } else {
        reply_json(req, 405, json_pack("{s:s}", "error", "method_not_allowed"));
    }
}

/* SIGTERM / SIGINT: leave the loop. */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    event_base_loopexit(g.base, NULL);
}

/* Parse a numeric "HOST:PORT" or "[V6]:PORT" (port 0 allowed) into a sockaddr. */
static bool parse_addr(const char *s, struct sockaddr_storage *ss, int *len)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon = strrchr(s, ':');
    if (!colon) return false;
    size_t hl = (size_t)(colon - s);
    if (hl == 0 || hl >= sizeof host) return false;
    memcpy(host, s, hl);
    host[hl] = 0;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port < 0 || port > 65535) return false;
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        host[hl - 1] = 0;
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1) return false;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *len = (int)sizeof *a;
        return true;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1) return false;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    *len = (int)sizeof *a;
    return true;
}

/* "HOST:PORT" of a bound socket. */
static void sock_name(evutil_socket_t fd, char *out, size_t n)
{
    struct sockaddr_storage ss = {0};
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            port = ntohs(a->sin6_port);
        }
    }
    snprintf(out, n, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, port);
}

/* Parse a non-negative integer option or exit 2. */
static long parse_num(const char *opt, const char *s, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > max) {
        fprintf(stderr, "faultproxy: %s: expected an integer 0..%ld, got '%s'\n", opt, max, s);
        exit(2);
    }
    return v;
}

/* Print the usage text. */
static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: logdist-faultproxy --listen HOST:PORT --upstream HOST:PORT --control HOST:PORT\n"
        "                          [--latency-ms N] [--reset] [--blackhole] [--bandwidth-bps N]\n"
        "Fault-injecting TCP proxy. Control API on --control:\n"
        "  PUT /fault {\"latency_ms\":N,\"reset\":bool,\"blackhole\":bool,\"bandwidth_bps\":N}\n"
        "  PUT /fault {\"stall\":true}: the connections open now go silent for good\n"
        "  DELETE /fault (clear all), GET /fault (faults and counters)\n"
        "Prints {\"listening\":\"HOST:PORT\",\"control\":\"HOST:PORT\"} once bound.\n");
}

/* Parse the options, bind, serve until SIGTERM / SIGINT. */
int main(int argc, char **argv)
{
    const char *listen_s = NULL, *upstream_s = NULL, *control_s = NULL;
    faults_t init = {0, false, false, 0, false};
    static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                         {"upstream", required_argument, NULL, 'u'},
                                         {"control", required_argument, NULL, 'c'},
                                         {"latency-ms", required_argument, NULL, 'L'},
                                         {"reset", no_argument, NULL, 'R'},
                                         {"blackhole", no_argument, NULL, 'B'},
                                         {"bandwidth-bps", required_argument, NULL, 'W'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            listen_s = optarg;
            break;
        case 'u':
            upstream_s = optarg;
            break;
        case 'c':
            control_s = optarg;
            break;
        case 'L':
            init.latency_ms = parse_num("--latency-ms", optarg, MAX_LATENCY_MS);
            break;
        case 'R':
            init.reset = true;
            break;
        case 'B':
            init.blackhole = true;
            break;
        case 'W':
            init.bandwidth_bps = parse_num("--bandwidth-bps", optarg, 1L << 40);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!listen_s || !upstream_s || !control_s || optind != argc) {
        usage(stderr);
        return 2;
    }
    struct sockaddr_storage lss, css;
    int llen, clen;
    if (!parse_addr(listen_s, &lss, &llen) ||
        !parse_addr(upstream_s, &g.upstream, &g.upstream_len) ||
        !parse_addr(control_s, &css, &clen)) {
        fprintf(stderr, "faultproxy: addresses must be HOST:PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    g.base = event_base_new();
    if (!g.base) return 1;
    g.f = init;
    g.rate_cfg = make_rate_cfg(init.bandwidth_bps);
    g.listener =
        evconnlistener_new_bind(g.base, on_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                1024, (struct sockaddr *)&lss, llen);
    if (!g.listener) {
        fprintf(stderr, "faultproxy: cannot listen on %s: %s\n", listen_s, strerror(errno));
        return 1;
    }
    evconnlistener_set_error_cb(g.listener, on_accept_error);
    g.accept_backoff = evtimer_new(g.base, on_accept_backoff, NULL);
    g.http = evhttp_new(g.base);
    if (!g.http || !g.accept_backoff) return 1;
    evhttp_set_max_body_size(g.http, MAX_CONTROL_BODY);
    evhttp_set_max_headers_size(g.http, MAX_CONTROL_BODY);
    evhttp_set_allowed_methods(g.http, EVHTTP_REQ_GET | EVHTTP_REQ_PUT | EVHTTP_REQ_POST |
                                           EVHTTP_REQ_DELETE);
    evhttp_set_gencb(g.http, on_control, NULL);
    struct evconnlistener *cl =
        evconnlistener_new_bind(g.base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 64,
                                (struct sockaddr *)&css, clen);
    struct evhttp_bound_socket *hs = cl ? evhttp_bind_listener(g.http, cl) : NULL;
    if (!hs) {
        fprintf(stderr, "faultproxy: cannot listen on %s: %s\n", control_s, strerror(errno));
        if (cl) evconnlistener_free(cl);
        return 1;
    }
    struct event *sigterm = evsignal_new(g.base, SIGTERM, on_signal, NULL);
    struct event *sigint = evsignal_new(g.base, SIGINT, on_signal, NULL);
    if (!sigterm || !sigint) return 1;
    evsignal_add(sigterm, NULL);
    evsignal_add(sigint, NULL);

    char lname[300], cname[300];
    sock_name(evconnlistener_get_fd(g.listener), lname, sizeof lname);
    sock_name(evhttp_bound_socket_get_fd(hs), cname, sizeof cname);
    printf("{\"listening\":\"%s\",\"control\":\"%s\"}\n", lname, cname);
    fflush(stdout);

    event_base_dispatch(g.base);

    for (conn_t *c = g.conns, *next; c; c = next) {
        next = c->next;
        conn_close(c, false);
    }
    evhttp_free(g.http);
    evconnlistener_free(g.listener);
    event_free(g.accept_backoff);
    event_free(sigterm);
    event_free(sigint);
    if (g.rate_cfg) ev_token_bucket_cfg_free(g.rate_cfg);
    event_base_free(g.base);
    return 0;
}
