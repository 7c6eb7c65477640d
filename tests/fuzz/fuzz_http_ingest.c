/*
 * fuzz_http_ingest.c - libFuzzer target for POST /api/v1/logs as the daemon serves it:
 * a real libevent `struct evhttp` configured like src/core/server.c, whose request
 * callback does what server.c's dispatch() does for the ingest listener (connlimit,
 * path match, ingest_handle()), with the real ingest (scan, gunzip, auth, rate limits,
 * queue budget). Durability is off (durable NULL). No network: the connection is an
 * AF_UNIX stream socket pair made through a listening socket in the abstract
 * namespace (libevent 2.1 has no public call that hands evhttp an already-connected
 * socket, so evhttp accepts it the normal way).
 *
 * Input: one raw HTTP/1.x byte stream (one request or several pipelined). It is
 * written to the client end and the event loop runs EVLOOP_NONBLOCK iterations until
 * nothing moves; then the write side is shut down and the loop runs until the server
 * closes the connection or nothing moves again (at most 256 iterations in all). The
 * responses are read and discarded.
 *
 * The query string of a request picks the ingest it reaches (all variants share
 * the evhttp and its limits):
 *   "...?auth..."  authentication on: tokens "fuzz-ingest" (role ingest, bound to agent
 *                  "agent-1"), "fuzz-any" (ingest, unbound), "fuzz-read" (read only);
 *   "...?tight..." tiny limits: depth 4, 3 records, 64-byte records, 1 KiB bodies and
 *                  decoded bodies, rate limits of a few records and bytes per second
 *                  (global and per agent);
 *   "...?queue..." a 200-byte queue budget (503 queue_full after the first packet).
 *
 * After each input the queued packets are checked (records inside their body, {...},
 * in order; record_bytes = sum of record lengths; held_bytes = packet_held_bytes()) and
 * each variant's queue budget must equal what its packets were charged (a refused packet
 * must give back what it reserved); then the packets are freed. FUZZ_HTTP_VERBOSE=1
 * prints the responses and how the exchange ended (useful when replaying one input).
 *
 * Replay mode (LOGDIST_FUZZ_REPLAY=1, as ctest's unit/fuzz_replay_fuzz_http_ingest runs
 * it): a stored input may state the status of each response, in order, with one
 * "X-Fuzz-Expect: NNN" header per request (libevent ignores it); the responses must have
 * exactly those statuses. That is how a regression guards a behaviour and not only the
 * absence of a crash (regressions/fuzz_http_ingest/ratelimit-drained-by-403-wrong-agent:
 * three packets refused with 403 must not use up the agent's rate limit, so the fourth,
 * from another token, gets 202 and not 429).
 *
 * Build: make fuzz-build (see tests/fuzz/fuzz.mk); run: build-fuzz/fuzz_http_ingest DIR
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/http_reply.h"
#include "common/log.h"
#include "core/auth.h"
#include "core/config.h"
#include "core/connlimit.h"
#include "ingest/ingest.h"
#include "queue_check.h"
#include "scan_invariants.h"
#include "store/queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define LOGS_PATH "/api/v1/logs"
#define MAX_ITERS 256 /* event loop iterations per input */
#define MAX_STALLS 4  /* iterations without bytes moving that end a phase */

enum { V_AUTH = 1, V_TIGHT = 2, V_QUEUE = 4, N_VARIANTS = 8 };

static int g_listen_fd = -1;
static struct sockaddr_un g_addr;
static socklen_t g_addr_len;
static config_t g_cfg[N_VARIANTS];
static auth_t *g_auth;
static bool g_verbose; /* FUZZ_HTTP_VERBOSE=1: print the responses to stderr */
static bool g_replay;  /* LOGDIST_FUZZ_REPLAY=1: check X-Fuzz-Expect (see expect_check) */

/* Per-input state. */
typedef struct {
    connlimit_t *limit;
    pkt_queue_t *queue[N_VARIANTS]; /* each variant has its own queue and budget */
    ingest_t *ing[N_VARIANTS];      /* created on first use */
} run_t;

static void die(const char *msg)
{
    fprintf(stderr, "fuzz_http_ingest: %s (errno %d: %s)\n", msg, errno, strerror(errno));
    abort();
}

static void fail(const char *msg)
{
    fprintf(stderr, "fuzz_http_ingest: invariant violated: %s\n", msg);
    abort();
}

static void add_token(const char *token, const char *roles, const char *agent)
{
    char hash[160], spec[400], err[256];
    if (auth_hash_token(token, hash, sizeof hash)) die("auth_hash_token");
    snprintf(spec, sizeof spec, "role=%s,hash=%s%s%s", roles, hash, agent ? ",agent=" : "",
             agent ? agent : "");
    if (auth_add(g_auth, spec, err, sizeof err)) die(err);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    g_verbose = getenv("FUZZ_HTTP_VERBOSE") != NULL;
    g_replay = getenv("LOGDIST_FUZZ_REPLAY") != NULL;
    log_set_level(LOG_ERROR); /* auth refusals log warnings: keep the output readable */

    for (int v = 0; v < N_VARIANTS; v++) {
        config_t *c = &g_cfg[v];
        config_defaults(c);
        c->max_body_bytes = 1u << 20;
        c->max_decoded_bytes = 1u << 20;
        c->max_queue_bytes = 128u << 20; /* explicit: not derived from memory_limit */
        c->durability = DURABILITY_NONE;
        if (v & V_TIGHT) {
            c->max_depth = 4;
            c->max_records_per_packet = 3;
            c->max_record_bytes = 64;
            c->max_body_bytes = 1024;
            c->max_decoded_bytes = 1024;
            c->global_records_per_s = 8;
            c->global_bytes_per_s = 2048;
            c->agent_records_per_s = 4;
            c->agent_bytes_per_s = 512;
            c->rate_burst_s = 1;
        }
        if (v & V_QUEUE) c->max_queue_bytes = 200;
    }
    g_auth = auth_new();
    if (!g_auth) die("auth_new");
    add_token("fuzz-ingest", "ingest", "agent-1");
    add_token("fuzz-any", "ingest+read", NULL);
    add_token("fuzz-read", "read", NULL);

    g_listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (g_listen_fd < 0) die("socket");
    memset(&g_addr, 0, sizeof g_addr);
    g_addr.sun_family = AF_UNIX;
    /* abstract namespace: nothing on disk, unique per process */
    int n = snprintf(g_addr.sun_path + 1, sizeof g_addr.sun_path - 1, "logdist-fuzz-http-%ld",
                     (long)getpid());
    g_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    if (bind(g_listen_fd, (struct sockaddr *)&g_addr, g_addr_len)) die("bind");
    if (listen(g_listen_fd, 64)) die("listen");
    return 0;
}

static bool path_is(const char *uri, const char *path)
{
    size_t n = strlen(path);
    return !strncmp(uri, path, n) && (uri[n] == 0 || uri[n] == '?' || uri[n] == '/');
}

static ingest_t *ingest_for(run_t *r, const char *uri)
{
    const char *q = strchr(uri, '?');
    int v = 0;
    if (q && strstr(q, "auth")) v |= V_AUTH;
    if (q && strstr(q, "tight")) v |= V_TIGHT;
    if (q && strstr(q, "queue")) v |= V_QUEUE;
    if (!r->ing[v]) {
        r->queue[v] = queue_new(g_cfg[v].max_queue_bytes, NULL, NULL);
        if (!r->queue[v]) die("queue_new");
        r->ing[v] = ingest_new(&g_cfg[v], r->queue[v], NULL, (v & V_AUTH) ? g_auth : NULL);
        if (!r->ing[v]) die("ingest_new");
    }
    return r->ing[v];
}

/* server.c dispatch() for an ingest listener (SERVE_INGEST), without the admin API. */
static void dispatch(struct evhttp_request *req, void *arg)
{
    run_t *r = arg;
    int refuse = connlimit_check(r->limit, req);
    if (refuse == 503) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        http_reply_error(req, 503, "too_many_connections",
                         "too many open connections (max-connections)", -1, 1);
        return;
    }
    if (refuse) {
        http_reply_error(req, 429, "rate_limited",
                         "too many requests on this connection (max-requests-per-conn-s)", -1, 1);
        return;
    }
    const char *uri = evhttp_request_get_uri(req);
    if (uri && path_is(uri, LOGS_PATH))
        ingest_handle(ingest_for(r, uri), req);
    else
        http_reply_error(req, 404, "not_found", "no such endpoint on this listener", -1, 0);
}

/* Replay mode (LOGDIST_FUZZ_REPLAY=1, set by tests/fuzz/replay_main.c): an input may
 * state the status of each of its responses in order, one "X-Fuzz-Expect: NNN" header
 * per request. The statuses of the responses read back must be exactly those. Not
 * checked under libFuzzer, whose mutations would make the stated statuses wrong. */
#define MAX_EXPECT 32
#define MAX_RESPONSES (1u << 20) /* response bytes kept for the check */
typedef struct {
    int want[MAX_EXPECT];
    size_t nwant;
    char *resp; /* the response stream (replay mode, inputs that state statuses) */
    size_t len;
} expect_t;

static void expect_parse(expect_t *e, const uint8_t *data, size_t size)
{
    static const char key[] = "\r\nX-Fuzz-Expect: ";
    const size_t kl = sizeof key - 1;
    for (size_t i = 0; i + kl + 3 <= size && e->nwant < MAX_EXPECT; i++)
        if (!memcmp(data + i, key, kl)) { /* three digits; the input is not a C string */
            const uint8_t *d = data + i + kl;
            int v = 0;
            for (int k = 0; k < 3; k++) v = v * 10 + (d[k] >= '0' && d[k] <= '9' ? d[k] - '0' : 0);
            e->want[e->nwant++] = v;
        }
    if (g_replay && e->nwant && !(e->resp = malloc(MAX_RESPONSES))) die("malloc");
}

static void expect_add(expect_t *e, const char *buf, size_t n)
{
    if (!e->resp) return;
    if (n > MAX_RESPONSES - e->len) fail("more response bytes than an expectation check keeps");
    memcpy(e->resp + e->len, buf, n);
    e->len += n;
}

/* The statuses of the status lines in the stream (at its start or after a '\n'; the
 * bodies are one-line JSON) must be the stated ones. Frees the stream. */
static void expect_check(expect_t *e)
{
    if (!e->resp) return;
    int got[MAX_EXPECT];
    size_t ngot = 0;
    for (size_t i = 0; i + 12 <= e->len; i++)
        if ((i == 0 || e->resp[i - 1] == '\n') && !memcmp(e->resp + i, "HTTP/1.", 7) &&
            e->resp[i + 8] == ' ') {
            if (ngot == MAX_EXPECT) fail("more responses than an expectation check keeps");
            got[ngot++] = atoi(e->resp + i + 9);
        }
    bool same = ngot == e->nwant;
    for (size_t i = 0; same && i < ngot; i++) same = got[i] == e->want[i];
    free(e->resp);
    e->resp = NULL;
    if (same) return;
    fprintf(stderr, "expected statuses:");
    for (size_t i = 0; i < e->nwant; i++) fprintf(stderr, " %d", e->want[i]);
    fprintf(stderr, "; got:");
    for (size_t i = 0; i < ngot; i++) fprintf(stderr, " %d", got[i]);
    fprintf(stderr, "\n");
    fail("the responses are not the statuses the input states (X-Fuzz-Expect)");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const config_t *cfg = &g_cfg[0];
    expect_t ex;
    memset(&ex, 0, sizeof ex);
    expect_parse(&ex, data, size);

    run_t r;
    memset(&r, 0, sizeof r);
    struct event_base *base = event_base_new();
    if (!base) die("event_base_new");
    r.limit = connlimit_new(cfg->max_connections, cfg->max_requests_per_conn_s);
    struct evhttp *http = evhttp_new(base);
    if (!r.limit || !http) die("setup");
    /* the limits of server_new() */
    evhttp_set_max_headers_size(http, (ev_ssize_t)cfg->max_header_bytes);
    evhttp_set_max_body_size(http, (ev_ssize_t)cfg->max_body_bytes);
    evhttp_set_timeout(http, (int)cfg->idle_timeout_s);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                         EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(http, dispatch, &r);
    /* no LEV_OPT_CLOSE_ON_FREE: the listening socket is reused by the next input */
    struct evconnlistener *lev =
        evconnlistener_new(base, NULL, NULL, LEV_OPT_CLOSE_ON_EXEC, 0, g_listen_fd);
    if (!lev || !evhttp_bind_listener(http, lev)) die("evhttp_bind_listener");

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    if (connect(fd, (struct sockaddr *)&g_addr, g_addr_len)) die("connect");

    /* Phase 1: write everything and let the server work (pipelined requests are served
     * one after another) until nothing moves; phase 2: half-close, so a request that
     * waits for more bytes ends, and run until the server closes or nothing moves. */
    size_t sent = 0;
    bool shut = false, eof = false;
    int stalls = 0;
    char buf[16384];
    for (int it = 0; it < MAX_ITERS && !eof; it++) {
        bool progress = false;
        while (sent < size) {
            ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
            if (n <= 0) break;
            sent += (size_t)n;
            progress = true;
        }
        event_base_loop(base, EVLOOP_NONBLOCK);
        for (;;) {
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
                if (g_verbose) fwrite(buf, 1, (size_t)n, stderr);
                expect_add(&ex, buf, (size_t)n);
                progress = true;
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                eof = true; /* closed by the server (or reset) */
            break;
        }
        stalls = progress ? 0 : stalls + 1;
        if (stalls >= MAX_STALLS) {
            if (shut || sent < size) break; /* a server that does not read: give up */
            shutdown(fd, SHUT_WR);
            shut = true;
            stalls = 0;
        }
    }
    if (g_verbose)
        fprintf(stderr, "\n[sent %zu/%zu, %s]\n", sent, size,
                eof ? "closed by server" : "stopped: no progress or iteration cap");
    close(fd);
    event_base_loop(base, EVLOOP_NONBLOCK); /* let the server see the close */

    evhttp_free(http); /* frees the listener (not the socket) and open connections */
    connlimit_free(r.limit); /* after evhttp_free: close callbacks use it */
    for (int v = 0; v < N_VARIANTS; v++) {
        ingest_free(r.ing[v]);
        if (r.queue[v]) {
            const char *why = queue_check_drain(r.queue[v]);
            if (why) fail(why);
            queue_free(r.queue[v]);
        }
    }
    event_base_free(base);
    expect_check(&ex);
    return 0;
}
