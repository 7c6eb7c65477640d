/*
 * fuzz_http_ingest.c - libFuzzer target for logdistd's HTTP front door as the daemon
 * runs it: the REAL server object (app/server.c: server_new on an unbound listener of
 * ingress/conn.c, the HTTP/1.1 framer of ingress/http.c on libhttp-parser, the routing
 * to ingest and to the admin API), the real ingest (auth, limits, overload, gunzip,
 * scan, rate limits, queue budget) and the real admin API (admin/admin.c over a
 * delivery object whose thread is not started: its calls run inline). Nothing of the
 * dispatch is copied here. Durability is off (durable NULL); no network: the client is
 * one end of an AF_UNIX socketpair whose other end the server adopts (server_adopt ->
 * listener_adopt, counted and limited like an accepted connection).
 *
 * Input: one raw HTTP/1.x byte stream (one request or several pipelined). The config
 * is built like logdistd builds it (config_defaults + config_from_args + the tokens
 * through auth_add), with small limits so the fuzzer reaches them; the query string of
 * the FIRST request line picks the variant of the whole input:
 *   "...?auth..."  authentication on: tokens "fuzz-ingest" (role ingest, bound to agent
 *                  "agent-1"), "fuzz-any" (ingest+read), "fuzz-read" (read),
 *                  "fuzz-admin" (admin); without it the API is open (loopback setup);
 *   "...?tight..." tiny limits: depth 4, 3 records, 64-byte records, 1 KiB bodies,
 *                  decoded bodies and headers, rate limits of a few records and bytes
 *                  per second (global and per agent), 8 requests/s per connection,
 *                  an in-flight body budget of one largest body;
 *   "...?queue..." a 200-byte queue budget (503 queue_full after the first packet).
 * Otherwise: 8 KiB bodies, 64 KiB decoded, a 16 KiB body budget, the default request
 * head limits (16 KiB of head, 8 KiB of URI: 414 is reachable; 431 by header count, or
 * by size in the tight variant).
 *
 * The stream is written in pieces, cut at points derived from a hash of the input (1 to
 * 8 pieces), with turns of the server's event loop in between, so partial request
 * lines and heads, bodies cut anywhere and pipelining across reads are exercised. Then
 * the client shuts down its write side and the loop runs until the server closes its
 * end (at most 3 s: the lingering close is bounded to 2 s).
 *
 * Checked after each input (abort on failure):
 *   - every answer starts with "HTTP/1.1 NNN ", has exactly one Content-Length, and
 *     its body is that long (a HEAD answer only when the input holds "HEAD"; 1xx have
 *     neither); non-empty bodies are JSON; 4xx/5xx bodies are objects with an "error"
 *     string; nothing follows an answer with "Connection: close";
 *   - the server closes the connection after the client's EOF;
 *   - the number of 202 answers = packets_accepted counted in metrics;
 *   - queued packets well formed, each queue's budget = what its packets hold
 *     (queue_check.h);
 *   - after server_free: no open connection (conn_open_count() back to where it was),
 *     no body budget held (conn_budget_used() == 0);
 *   - a lone connection never waits for the body budget (body_budget_waits unchanged):
 *     config_finish() makes --max-inflight-body-bytes hold one body of the largest size;
 *   - without time-based limits (not "tight"), the final statuses are the same when
 *     the whole stream is written at once (split points must not change answers);
 *   - ASan/LSan: no leak once everything is freed.
 * FUZZ_HTTP_VERBOSE=1 prints the answers and how the exchange ended; FUZZ_HTTP_SKIP_OPEN=1
 * configures around the open findings (open/fuzz_http_ingest/) for long runs.
 *
 * Replay mode (LOGDIST_FUZZ_REPLAY=1, as ctest's unit/fuzz_replay_fuzz_http_ingest runs
 * it): a stored input may state the status of each final answer (1xx not counted), in
 * order, with one "X-Fuzz-Expect: NNN" header per request; the answers must have exactly
 * those statuses. That is how a regression guards a behaviour and not only the absence
 * of a crash (regressions/fuzz_http_ingest/ratelimit-drained-by-403-wrong-agent: three
 * packets refused with 403 must not use up the agent's rate limit, so the fourth, from
 * another token, gets 202 and not 429). Not checked under libFuzzer, whose mutations
 * would make the stated statuses wrong.
 *
 * Build: make fuzz-build (see tests/fuzz/fuzz.mk); run: build-fuzz/fuzz_http_ingest DIR
 */
#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin/admin.h"
#include "common/log.h"
#include "core/auth.h"
#include "core/config.h"
#include "core/metrics.h"
#include "app/server.h"
#include "deliver/deliver.h"
#include "ingest/ingest.h"
#include "ingress/conn.h"
#include "queue_check.h"
#include "store/queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

enum { V_AUTH = 1, V_TIGHT = 2, V_QUEUE = 4, N_VARIANTS = 8 };

#define MAX_PIECES 8
#define SETTLE_TURNS 64        /* loop turns after a piece, at most */
#define EOF_WAIT_MS 3000       /* after SHUT_WR the server must close within this */
#define MAX_ANSWER_BYTES (4u << 20)
#define MAX_STATUSES 256

static config_t g_cfg[N_VARIANTS];
static auth_t *g_auth; /* the tokens of the auth variants */
static bool g_verbose; /* FUZZ_HTTP_VERBOSE=1: print the answers to stderr */
static bool g_replay;  /* LOGDIST_FUZZ_REPLAY=1: check X-Fuzz-Expect */
static bool g_skip_open; /* FUZZ_HTTP_SKIP_OPEN=1: around the open findings (long runs) */

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

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- configuration, as logdistd builds it -------------------------------- */

static void token_arg(char *out, size_t n, const char *token, const char *roles, const char *agent)
{
    char hash[160];
    if (auth_hash_token(token, hash, sizeof hash)) die("auth_hash_token");
    snprintf(out, n, "role=%s,hash=%s%s%s", roles, hash, agent ? ",agent=" : "",
             agent ? agent : "");
}

static void make_config(config_t *c, int v)
{
    static char tok[4][400];
    token_arg(tok[0], sizeof tok[0], "fuzz-ingest", "ingest", "agent-1");
    token_arg(tok[1], sizeof tok[1], "fuzz-any", "ingest+read", NULL);
    token_arg(tok[2], sizeof tok[2], "fuzz-read", "read", NULL);
    token_arg(tok[3], sizeof tok[3], "fuzz-admin", "admin", NULL);
    char *argv[64];
    int argc = 0;
#define ARG(s) (argv[argc++] = (char *)(s))
    ARG("logdistd");
    ARG("--durability"), ARG("none");
    ARG("--log-level"), ARG("error");
    ARG("--max-queue-bytes"), ARG("16777216");
    if (v & V_TIGHT) {
        ARG("--max-body-bytes"), ARG("1024");
        ARG("--max-decoded-bytes"), ARG("1024");
        ARG("--max-header-bytes"), ARG("1024");
        ARG("--max-records-per-packet"), ARG("3");
        ARG("--max-record-bytes"), ARG("64");
        ARG("--max-depth"), ARG("4");
        ARG("--global-records-per-s"), ARG("8");
        ARG("--global-bytes-per-s"), ARG("2048");
        ARG("--agent-records-per-s"), ARG("4");
        ARG("--agent-bytes-per-s"), ARG("512");
        ARG("--rate-burst-s"), ARG("1");
        ARG("--max-requests-per-conn-s"), ARG("8");
        /* one largest body; FUZZ_HTTP_SKIP_OPEN=1: room for any chunked one (an ingest
         * one reserves max-body-bytes + 1, an admin one 64 KiB: open/fuzz_http_ingest/
         * *-chunked-body-waits-forever-for-budget), so a long run finds other bugs */
        ARG("--max-inflight-body-bytes"), ARG(g_skip_open ? "131072" : "1024");
    } else {
        ARG("--max-body-bytes"), ARG("8192");
        ARG("--max-decoded-bytes"), ARG("65536"); /* head: 16 KiB, URI 8 KiB (defaults) */
        /* below ADMIN_BODY_MAX: FUZZ_HTTP_SKIP_OPEN=1 raises it (open/fuzz_http_ingest/
         * admin-chunked-body-waits-forever-for-budget) */
        ARG("--max-inflight-body-bytes"), ARG(g_skip_open ? "131072" : "16384");
    }
    if (v & V_AUTH)
        for (int i = 0; i < 4; i++) ARG("--token"), ARG(tok[i]);
#undef ARG
    config_defaults(c);
    if (config_from_args(c, argc, argv)) die("config_from_args");
    c->data_dir[0] = 0; /* dead letters in memory: nothing on disk */
    if (v & V_QUEUE) c->max_queue_bytes = 200; /* below what --max-queue-bytes accepts */
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    g_verbose = getenv("FUZZ_HTTP_VERBOSE") != NULL;
    g_replay = getenv("LOGDIST_FUZZ_REPLAY") != NULL;
    g_skip_open = getenv("FUZZ_HTTP_SKIP_OPEN") != NULL;
    log_set_level(LOG_ERROR); /* auth refusals log warnings: keep the output readable */
    for (int v = 0; v < N_VARIANTS; v++) make_config(&g_cfg[v], v);
    /* as logdistd: one auth object from the configured tokens */
    g_auth = auth_new();
    if (!g_auth) die("auth_new");
    const config_t *c = &g_cfg[V_AUTH];
    char err[256];
    for (size_t i = 0; i < c->token_count; i++)
        if (auth_add(g_auth, c->tokens[i], err, sizeof err)) die(err);
    return 0;
}

/* The variant: words in the query of the first request line. */
static int variant_of(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t n = nl ? (size_t)(nl - data) : size;
    const uint8_t *q = memchr(data, '?', n);
    if (!q) return 0;
    size_t qn = n - (size_t)(q - data);
    int v = 0;
    if (memmem(q, qn, "auth", 4)) v |= V_AUTH;
    if (memmem(q, qn, "tight", 5)) v |= V_TIGHT;
    if (memmem(q, qn, "queue", 5)) v |= V_QUEUE;
    return v;
}

/* ---- the answers ------------------------------------------------------------ */

typedef struct {
    char *buf;
    size_t len, cap;
    bool closed; /* the server closed its end */
    int status[MAX_STATUSES]; /* final statuses, in order */
    size_t nstatus;
    size_t accepted; /* 202s */
} answers_t;

static void answers_add(answers_t *a, const char *p, size_t n)
{
    if (g_verbose) fwrite(p, 1, n, stderr);
    if (a->len + n > MAX_ANSWER_BYTES) fail("more answer bytes than any input can cause");
    if (a->len + n > a->cap) {
        size_t cap = a->cap ? a->cap : 16384;
        while (cap < a->len + n) cap *= 2;
        char *b = realloc(a->buf, cap);
        if (!b) die("realloc");
        a->buf = b;
        a->cap = cap;
    }
    memcpy(a->buf + a->len, p, n);
    a->len += n;
}

static const char *find_crlf2(const char *p, const char *end)
{
    for (; p + 4 <= end; p++)
        if (p[0] == '\r' && p[1] == '\n' && p[2] == '\r' && p[3] == '\n') return p;
    return NULL;
}

/* Header `name` in head [h, e) (lines "Name: value\r\n"): value start and length; the
 * count of such headers in *count. */
static const char *header_of(const char *h, const char *e, const char *name, size_t *vlen,
                             int *count)
{
    size_t nl = strlen(name);
    const char *found = NULL;
    *count = 0;
    while (h < e) {
        const char *eol = memmem(h, (size_t)(e - h), "\r\n", 2);
        if (!eol) eol = e;
        if ((size_t)(eol - h) > nl && h[nl] == ':' && !strncasecmp(h, name, nl)) {
            const char *v = h + nl + 1;
            while (v < eol && *v == ' ') v++;
            if (!found) {
                found = v;
                *vlen = (size_t)(eol - v);
            }
            ++*count;
        }
        h = eol + 2;
    }
    return found;
}

/* Parse and check the answer stream (see the top comment). */
static void check_answers(answers_t *a, bool input_has_head)
{
    if (!a->len) return; /* no answer (a request cut by the EOF): nothing to check */
    const char *p = a->buf, *end = a->buf + a->len;
    bool after_close = false;
    while (p < end) {
        if (after_close) fail("an answer after one with Connection: close");
        if (end - p < 13 || memcmp(p, "HTTP/1.1 ", 9) || p[9] < '1' || p[9] > '5' ||
            p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' || p[12] != ' ')
            fail("an answer does not start with a status line \"HTTP/1.1 NNN \"");
        int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
        const char *line_end = memmem(p, (size_t)(end - p), "\r\n", 2);
        const char *head_end = find_crlf2(p, end);
        if (!line_end || !head_end) fail("an answer's head is cut (no empty line)");
        const char *h = line_end + 2, *he = head_end + 2;
        const char *body = head_end + 4;
        size_t vlen = 0;
        int ncl = 0, nct = 0, ncon = 0;
        const char *cl = header_of(h, he, "Content-Length", &vlen, &ncl);
        if (status < 200) { /* 100 Continue: no body, not a final answer */
            if (ncl) fail("a 1xx answer with a Content-Length");
            p = body;
            continue;
        }
        if (ncl != 1) fail("a final answer without exactly one Content-Length");
        size_t len = 0;
        for (size_t i = 0; i < vlen; i++) {
            if (cl[i] < '0' || cl[i] > '9' || len > MAX_ANSWER_BYTES)
                fail("a Content-Length that is not a small decimal number");
            len = len * 10 + (size_t)(cl[i] - '0');
        }
        size_t clen = 0;
        const char *ct = header_of(h, he, "Content-Type", &clen, &nct);
        const char *con = header_of(h, he, "Connection", &vlen, &ncon);
        if (con && vlen == 5 && !strncasecmp(con, "close", 5)) after_close = true;
        /* A HEAD answer carries the Content-Length of the body it leaves out: then the
         * stream ends there or the next answer follows (our bodies are JSON, never
         * "HTTP/1."). */
        bool headless = len > 0 && ((size_t)(end - body) == 0 ||
                                    ((size_t)(end - body) >= 7 && !memcmp(body, "HTTP/1.", 7)));
        if (headless && !input_has_head)
            fail("an answer without its body (Content-Length past it), and no HEAD request");
        if (!headless) {
            if (len > (size_t)(end - body)) fail("an answer's body is shorter than its Content-Length");
            if (len) {
                if (!ct || clen < 16 || strncasecmp(ct, "application/json", 16))
                    fail("an answer with a body that is not application/json");
                json_error_t jerr;
                json_t *j = json_loadb(body, len, 0, &jerr);
                if (!j) fail("an answer's body is not JSON");
                if (status >= 400 &&
                    (!json_is_object(j) || !json_is_string(json_object_get(j, "error"))))
                    fail("an error answer without an \"error\" string in its JSON body");
                json_decref(j);
            } else if (status >= 400) {
                fail("an error answer without a body");
            }
            p = body + len;
        } else {
            p = body;
        }
        if (status == 202) a->accepted++;
        if (a->nstatus == MAX_STATUSES) fail("more answers than the check keeps");
        a->status[a->nstatus++] = status;
    }
}

/* ---- one exchange ------------------------------------------------------------ */

typedef struct {
    struct event_base *base;
    int fd; /* the client end */
    answers_t *ans;
} client_t;

/* Read what the server answered; true when something moved. */
static bool client_read(client_t *cl)
{
    char buf[16384];
    bool moved = false;
    while (!cl->ans->closed) {
        ssize_t n = recv(cl->fd, buf, sizeof buf, 0);
        if (n > 0) {
            answers_add(cl->ans, buf, (size_t)n);
            moved = true;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            cl->ans->closed = true; /* closed by the server (or reset) */
            moved = true;
        }
        break;
    }
    return moved;
}

/* Turns of the loop until nothing moves (2 quiet turns) or `max` turns. */
static void settle(client_t *cl, int max)
{
    int quiet = 0;
    for (int t = 0; t < max && quiet < 2 && !cl->ans->closed; t++) {
        event_base_loop(cl->base, EVLOOP_NONBLOCK);
        quiet = client_read(cl) ? 0 : quiet + 1;
    }
}

static uint64_t fnv1a(const uint8_t *d, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ d[i]) * 1099511628211ull;
    return h;
}

static int cmp_size(const void *x, const void *y)
{
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    return a < b ? -1 : a > b;
}

/* Cut points: 0 < cut[0] <= cut[1] ... < size, derived from the input. */
static size_t cut_points(const uint8_t *data, size_t size, size_t cut[MAX_PIECES])
{
    if (size < 2) return 0;
    uint64_t h = fnv1a(data, size);
    size_t n = (size_t)(h & 7); /* 0..7 cuts: 1..8 pieces */
    for (size_t i = 0; i < n; i++) {
        h ^= h << 13, h ^= h >> 7, h ^= h << 17; /* xorshift64 */
        cut[i] = 1 + (size_t)(h % (size - 1));
    }
    qsort(cut, n, sizeof *cut, cmp_size);
    return n;
}

/* Serve `data` to a fresh daemon (variant v) over a socketpair; fills *ans. */
static void exchange(const uint8_t *data, size_t size, int v, bool split, answers_t *ans)
{
    const config_t *cfg = &g_cfg[v];
    uint64_t open0 = conn_open_count();
    uint64_t accepted0 = METRIC_GET(packets_accepted);
    uint64_t waits0 = METRIC_GET(body_budget_waits);

    struct event_base *base = event_base_new();
    if (!base) die("event_base_new");
    deliver_t *d = deliver_new(cfg); /* thread not started: admin calls run inline */
    if (!d) die("deliver_new");
    pkt_queue_t *q = deliver_queue(d);
    const auth_t *auth = (v & V_AUTH) ? g_auth : NULL;
    ingest_t *ing = ingest_new(cfg, q, NULL, auth);
    if (!ing || ingest_set_loop(ing, base)) die("ingest_new");
    admin_t *adm = admin_new(cfg, d, ing, NULL, auth);
    if (!adm) die("admin_new");
    conn_budget_set_limit(cfg->max_inflight_body_bytes);
    server_t *srv = server_new(base, cfg, NULL, 0, SERVE_ALL, NULL, ing, adm);
    if (!srv) die("server_new");

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv)) die("socketpair");
    if (server_adopt(srv, sv[1])) die("server_adopt");
    client_t cl = {base, sv[0], ans};

    size_t cut[MAX_PIECES];
    size_t ncut = split ? cut_points(data, size, cut) : 0;
    size_t off = 0;
    bool broken = false; /* the server closed: nothing more can be sent */
    for (size_t piece = 0; piece <= ncut && !broken; piece++) {
        size_t stop = piece < ncut ? cut[piece] : size;
        int spins = 0;
        while (off < stop && !broken) {
            ssize_t n = send(cl.fd, data + off, stop - off, MSG_NOSIGNAL);
            if (n > 0) {
                off += (size_t)n;
            } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                /* the socket is full: the server is not reading (backpressure) */
                settle(&cl, 4);
                if (++spins > 64 || ans->closed) broken = true;
            } else {
                broken = true;
            }
        }
        settle(&cl, SETTLE_TURNS);
        if (ans->closed) broken = true;
    }
    shutdown(cl.fd, SHUT_WR);
    /* The server must close after the client's EOF. Non-blocking turns first; when
     * nothing moves, wait for timers (lingering close, budget retries) in 10 ms steps. */
    uint64_t t0 = mono_ms();
    while (!ans->closed) {
        settle(&cl, SETTLE_TURNS);
        if (ans->closed) break;
        if (mono_ms() - t0 > EOF_WAIT_MS) {
            if (g_verbose) fprintf(stderr, "\n[sent %zu/%zu, server did not close]\n", off, size);
            fail("the server did not close the connection after the client's EOF");
        }
        struct timeval tv = {0, 10000};
        event_base_loopexit(base, &tv);
        event_base_loop(base, EVLOOP_ONCE);
        client_read(&cl);
    }
    if (g_verbose)
        fprintf(stderr, "\n[variant %d, %s, sent %zu/%zu, closed by server]\n", v,
                split ? "split" : "one write", off, size);
    close(cl.fd);

    server_free(srv); /* closes the server's end and frees the connection */
    if (conn_open_count() != open0) fail("open connection count not back after server_free");
    admin_free(adm);
    ingest_free(ing);
    if (conn_budget_used() != 0) fail("body budget still held after the server was freed");
    if (METRIC_GET(body_budget_waits) != waits0)
        fail("a lone connection waited for the body budget (--max-inflight-body-bytes holds "
             "one largest body)");
    const char *why = queue_check_drain(q);
    if (why) fail(why);
    deliver_free(d);
    event_base_free(base);

    check_answers(ans, memmem(data, size, "HEAD", 4) != NULL);
    uint64_t accepted = METRIC_GET(packets_accepted) - accepted0;
    if (accepted != ans->accepted) {
        fprintf(stderr, "202 answers %zu, packets_accepted +%llu\n", ans->accepted,
                (unsigned long long)accepted);
        fail("the number of 202 answers is not the number of packets accepted");
    }
}

/* The framer's refusals of a head (each closes the connection). Which one a head that
 * breaks two rules gets still depends on the reads (open/fuzz_http_ingest/
 * uri-too-long-414-or-505-depending-on-reads); FUZZ_HTTP_SKIP_OPEN=1 treats them alike. */
static bool head_refusal(int status)
{
    return status == 400 || status == 414 || status == 431 || status == 501 || status == 505;
}

/* ---- X-Fuzz-Expect (replay mode) ---------------------------------------------- */

static size_t expect_parse(const uint8_t *data, size_t size, int *want, size_t max)
{
    static const char key[] = "\r\nX-Fuzz-Expect: ";
    const size_t kl = sizeof key - 1;
    size_t n = 0;
    for (size_t i = 0; i + kl + 3 <= size && n < max; i++)
        if (!memcmp(data + i, key, kl)) { /* three digits; the input is not a C string */
            const uint8_t *d = data + i + kl;
            int v = 0;
            for (int k = 0; k < 3; k++) v = v * 10 + (d[k] >= '0' && d[k] <= '9' ? d[k] - '0' : 0);
            want[n++] = v;
        }
    return n;
}

static void print_statuses(const char *what, const int *s, size_t n)
{
    fprintf(stderr, "%s:", what);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", s[i]);
    fprintf(stderr, "\n");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size) return 0;
    int v = variant_of(data, size);
    answers_t split = {0};
    exchange(data, size, v, true, &split);

    if (g_replay) {
        int want[MAX_STATUSES];
        size_t nwant = expect_parse(data, size, want, MAX_STATUSES);
        bool same = split.nstatus == nwant;
        for (size_t i = 0; same && i < nwant; i++) same = split.status[i] == want[i];
        if (nwant && !same) {
            print_statuses("expected statuses", want, nwant);
            print_statuses("got", split.status, split.nstatus);
            fail("the answers are not the statuses the input states (X-Fuzz-Expect)");
        }
    }

    /* Differential: the same stream in one write must get the same final statuses
     * (only without time-based limits: rate buckets refill between the two runs). */
    if (!(v & V_TIGHT)) {
        answers_t whole = {0};
        exchange(data, size, v, false, &whole);
        bool same = whole.nstatus == split.nstatus;
        for (size_t i = 0; same && i < whole.nstatus; i++)
            same = whole.status[i] == split.status[i] ||
                   (g_skip_open && head_refusal(whole.status[i]) && head_refusal(split.status[i]));
        if (!same) {
            print_statuses("split into pieces", split.status, split.nstatus);
            print_statuses("one write", whole.status, whole.nstatus);
            fail("the statuses depend on how the stream was split into reads");
        }
        free(whole.buf);
    }
    free(split.buf);
    return 0;
}
