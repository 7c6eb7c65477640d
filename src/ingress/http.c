/*
 * http.c - see http.h.
 *
 * One hconn_t per connection, at most one request (http_req_t) in progress.
 * States of a connection (hconn_t.state):
 *
 *   HEAD ---on_head---> DECIDE --read_body--> BODY --complete--> HANDLER
 *     ^                  |  \--park--> PARKED --resume--> DECIDE    |
 *     |                  |                                          |
 *     +---- answered (keep-alive) <------ reply ---------------------+
 *   (an answer before the body: DISCARD a small body already announced, or
 *    close after writing)
 *
 * Heads are parsed by libhttp-parser; a Content-Length body is not fed to the
 * parser (on_headers_complete returns 1, "no body") but taken from the
 * connection's input buffer whole, so the scanner reads it where read()
 * put it. Chunked bodies go through the parser into a buffer of their own.
 * The parser is paused after every message so one request is taken at a
 * time; the connection is not read while a request waits for its answer.
 *
 * Body bytes are reserved from the global body budget (conn_budget_*) before
 * they are read; a request that cannot reserve waits (not read) on the
 * server's budget list, retried every BUDGET_RETRY_MS.
 *
 * Thread: everything here runs on the loop of the connection; an
 * http_server_t serves the connections of one loop.
 */
#include "ingress/http.h"

#include <errno.h>
#include <event2/event.h>
#include <http_parser.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/check.h"
#include "common/util.h"
#include "core/metrics.h"
#include "ingress/http_reply.h"

#define BUDGET_RETRY_MS 5
#define DISCARD_MAX (64u << 10) /* a refused body up to this is skipped, keeping the connection */
#define SMALL_BODY 4096         /* bodies up to this are copied out of the input buffer */
#define CHUNK_STEP (64u << 10)  /* budget reserved at a time for a chunked body */
#define OUT_HDR_MAX 1024        /* response header bytes added by handlers */
#define OUT_PENDING_MAX (256u << 10) /* unsent answers above this: no new request is read */

typedef enum { S_HEAD, S_DECIDE, S_PARKED, S_BUDGET, S_BODY, S_HANDLER, S_DISCARD, S_DEAD } hstate_t;

typedef struct hconn hconn_t;

struct http_server {
    http_handler_t h;
    http_limits_t lim;
    struct event *budget_ev;      /* retries requests waiting for body budget */
    hconn_t *budget_head, *budget_tail;
};

typedef struct {
    uint32_t name, value; /* offsets into http_req_t.hdr */
} hdr_ref_t;

struct http_req {
    hconn_t *hc;          /* NULL once the connection is gone (orphaned) */
    http_method_t method;
    char method_name[16];
    bool keep_alive;
    bool head_only;       /* HEAD: answer without the body */
    bool expect_continue;
    bool chunked;
    bool rate_checked;    /* counted against the connection's rate (once, not again on resume) */
    long long content_length; /* -1: none */
    /* head: URI and headers, NUL-terminated strings in hdr[] */
    char *hdr;
    size_t hdr_len, hdr_cap;
    uint32_t uri_off;
    hdr_ref_t *hdrs;
    uint32_t nhdrs, hdrs_cap;
    bool in_value;        /* parser callback state */
    /* body */
    size_t body_limit;
    char *block;          /* owns the body */
    size_t block_cap;
    const char *body;
    size_t body_len;
    uint64_t reserved;    /* body budget held */
    /* answer */
    char out_hdr[OUT_HDR_MAX];
    size_t out_hdr_len;
    bool close_after;
    void *user;
    hist_t *timer;        /* http_req_time(): observed at the answer */
    uint64_t head_us;     /* when the head was complete */
};

struct hconn {
    conn_t *c;
    http_server_t *srv;
    http_parser parser;
    hstate_t state;
    http_req_t *req;
    size_t discard_left;
    hconn_t *budget_next;  /* on srv's budget list */
    bool on_budget_list;
    bool in_data;          /* inside on_data: answers are flushed by the caller */
    bool paused;           /* conn_pause_read() in effect (sync_reading) */
    bool eof;              /* the client closed its side: close after the answer */
    int err_status;        /* set by a parser callback that refuses the head */
    size_t scanned;        /* bytes of the current head looked at (head_end) */
    bool wait_drain;       /* answers pile up unread: take no request until sent */
    uint64_t budget_since_ms; /* waiting for body budget since */
    /* per-connection request rate (token bucket, tokens in 1/1000) */
    uint64_t rate_tokens, rate_ms;
};

static http_parser_settings g_settings;
static int on_url(http_parser *p, const char *at, size_t n);
static int on_header_field(http_parser *p, const char *at, size_t n);
static int on_header_value(http_parser *p, const char *at, size_t n);
static int on_headers_complete(http_parser *p);
static int on_body(http_parser *p, const char *at, size_t n);
static int on_message_complete(http_parser *p);
static void budget_unlist(hconn_t *hc);

/* ---- server ------------------------------------------------------------ */

static pthread_once_t g_settings_once = PTHREAD_ONCE_INIT;

/* The parser callbacks, shared read-only by every server of every loop. */
static void settings_init(void)
{
    http_parser_settings_init(&g_settings);
    g_settings.on_url = on_url;
    g_settings.on_header_field = on_header_field;
    g_settings.on_header_value = on_header_value;
    g_settings.on_headers_complete = on_headers_complete;
    g_settings.on_body = on_body;
    g_settings.on_message_complete = on_message_complete;
}

http_server_t *http_server_new(const http_handler_t *handler, const http_limits_t *limits)
{
    http_server_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->h = *handler;
    s->lim = *limits;
    if (!s->lim.max_uri_bytes || s->lim.max_uri_bytes > s->lim.max_header_bytes)
        s->lim.max_uri_bytes = s->lim.max_header_bytes;
    if (!s->lim.max_headers) s->lim.max_headers = 100;
    pthread_once(&g_settings_once, settings_init); /* servers of several loops */
    /* the parser's own bound stays above ours, so ours answers first */
    http_parser_set_max_header_size((uint32_t)s->lim.max_header_bytes + 4096);
    return s;
}

void http_server_free(http_server_t *s)
{
    if (!s) return;
    if (s->budget_ev) event_free(s->budget_ev);
    free(s);
}

/* ---- request object ------------------------------------------------------ */

static http_req_t *req_new(hconn_t *hc)
{
    http_req_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->hc = hc;
    r->content_length = -1;
    return r;
}

static void req_free(http_req_t *r)
{
    if (r->reserved) conn_budget_release(r->reserved);
    free(r->hdr);
    free(r->hdrs);
    free(r->block);
    free(r);
}

/* Append to the head arena; -1 when over max_header_bytes. */
static int hdr_append(http_req_t *r, const char *at, size_t n, size_t max)
{
    if (r->hdr_len + n + 1 > max) return -1;
    if (r->hdr_len + n + 1 > r->hdr_cap) {
        size_t cap = r->hdr_cap ? r->hdr_cap : 512;
        while (cap < r->hdr_len + n + 1) cap *= 2;
        char *h = realloc(r->hdr, cap);
        if (!h) return -1;
        r->hdr = h;
        r->hdr_cap = cap;
    }
    memcpy(r->hdr + r->hdr_len, at, n);
    r->hdr_len += n;
    r->hdr[r->hdr_len] = 0;
    return 0;
}

/* Terminate the current string: the next append starts a new one. */
static int hdr_end(http_req_t *r, size_t max)
{
    if (hdr_append(r, "", 0, max)) return -1;
    r->hdr_len++;
    return 0;
}

http_method_t http_req_method(const http_req_t *r) { return r->method; }
const char *http_req_method_name(const http_req_t *r) { return r->method_name; }
const char *http_req_uri(const http_req_t *r) { return r->hdr ? r->hdr + r->uri_off : "/"; }
long long http_req_content_length(const http_req_t *r) { return r->content_length; }
const conn_t *http_req_conn(const http_req_t *r) { return r->hc ? r->hc->c : NULL; }
void http_req_set_user(http_req_t *r, void *user) { r->user = user; }
void *http_req_user(const http_req_t *r) { return r->user; }
bool http_req_orphaned(const http_req_t *r) { return !r->hc; }

const char *http_req_header(const http_req_t *r, const char *name)
{
    for (uint32_t i = 0; i < r->nhdrs; i++)
        if (!strcasecmp(r->hdr + r->hdrs[i].name, name)) return r->hdr + r->hdrs[i].value;
    return NULL;
}

bool http_media_is(const char *ct, const char *type)
{
    while (*ct == ' ' || *ct == '\t') ct++;
    size_t n = strlen(type);
    if (strncasecmp(ct, type, n) != 0) return false;
    ct += n;
    while (*ct == ' ' || *ct == '\t') ct++;
    return *ct == 0 || *ct == ';';
}

int http_req_gzip(const http_req_t *r)
{
    const char *enc = http_req_header(r, "Content-Encoding");
    if (!enc || !*enc || !strcasecmp(enc, "identity")) return 0;
    if (!strcasecmp(enc, "gzip") || !strcasecmp(enc, "x-gzip")) return 1;
    return -1;
}

const char *http_req_peer_addr(const http_req_t *r)
{
    return r->hc ? conn_peer_addr(r->hc->c) : "?";
}

uint16_t http_req_peer_port(const http_req_t *r)
{
    return r->hc ? conn_peer_port(r->hc->c) : 0;
}

const char *http_req_body(const http_req_t *r, size_t *len)
{
    *len = r->body_len;
    return r->body ? r->body : "";
}

int http_req_take_body(http_req_t *r, char **block, const char **data, size_t *len)
{
    if (!r->block) { /* empty body: hand out an allocation all the same */
        r->block = malloc(1);
        if (!r->block) return -ENOMEM;
        r->block[0] = 0;
        r->body = r->block;
    }
    *block = r->block;
    *data = r->body;
    *len = r->body_len;
    r->block = NULL;
    r->body = NULL;
    r->body_len = 0;
    return 0;
}

void http_req_add_header(http_req_t *r, const char *name, const char *value)
{
    size_t room = sizeof r->out_hdr - r->out_hdr_len;
    int n = snprintf(r->out_hdr + r->out_hdr_len, room, "%s: %s\r\n", name, value);
    if (n > 0 && (size_t)n < room) r->out_hdr_len += (size_t)n;
}

void http_req_close_after(http_req_t *r)
{
    r->close_after = true;
}

/* ---- answers ------------------------------------------------------------- */

static const char *reason(int status)
{
    const char *s = http_status_str((enum http_status)status);
    return s && *s && strcmp(s, "<unknown>") != 0 ? s : "Unknown";
}

/* Read the connection only while a request is being read: the layer keeps
 * its state, so a request answered inside on_data costs no pause/resume. */
static void sync_reading(hconn_t *hc)
{
    bool want = (hc->state == S_HEAD && !hc->wait_drain) || hc->state == S_BODY ||
                hc->state == S_DISCARD;
    if (want == !hc->paused) return;
    hc->paused = !want;
    if (want)
        conn_resume_read(hc->c);
    else
        conn_pause_read(hc->c);
}

/* Write status line, headers and body of r's answer to the connection. */
static void write_answer(hconn_t *hc, http_req_t *r, int status, const char *ctype,
                         const char *body, size_t len)
{
    char head[OUT_HDR_MAX + 256];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %zu\r\n%s%.*s\r\n",
                     status, reason(status), ctype ? "Content-Type: " : "", ctype ? ctype : "",
                     ctype ? "\r\n" : "", len,
                     r->close_after ? "Connection: close\r\n"
                     : r->keep_alive && hc->parser.http_minor == 0 ? "Connection: keep-alive\r\n"
                                                                    : "",
                     (int)r->out_hdr_len, r->out_hdr);
    if (n < 0 || (size_t)n >= sizeof head) n = 0;
    if (!n || conn_write(hc->c, head, (size_t)n) || (!r->head_only && len &&
                                                     conn_write(hc->c, body, len)))
        r->close_after = true; /* out of memory: the client sees a cut answer */
}

void http_req_time(http_req_t *r, hist_t *h)
{
    r->timer = h;
}

void http_req_reply(http_req_t *r, int status, const char *content_type, const char *body,
                    size_t len)
{
    hconn_t *hc = r->hc;
    if (r->timer) {
        uint64_t now = now_us();
        hist_observe(r->timer, now > r->head_us ? now - r->head_us : 0);
        r->timer = NULL;
    }
    if (!hc) { /* the client went away meanwhile */
        req_free(r);
        return;
    }
    LD_ASSERT(hc->req == r);
    if (hc->state != S_HANDLER && hc->state != S_DISCARD) {
        /* answered before its body was read: skip a small announced body,
         * else close (never parse a body as the next request) */
        if (r->chunked || r->content_length > (long long)DISCARD_MAX)
            r->close_after = true;
        else if (r->content_length > 0) {
            hc->discard_left = (size_t)r->content_length;
            if (r->expect_continue) r->close_after = true; /* it may never come */
        }
    }
    if (!r->keep_alive) r->close_after = true;
    budget_unlist(hc);
    write_answer(hc, r, status, content_type, body, len);
    bool close = r->close_after;
    hc->req = NULL;
    req_free(r);
    if (close) {
        hc->state = S_DEAD;
        conn_close_after_write(hc->c);
        return;
    }
    hc->state = hc->discard_left ? S_DISCARD : S_HEAD;
    conn_request_done(hc->c);
    if (!hc->in_data) sync_reading(hc); /* pipelined bytes are delivered again */
}

/* A refusal of the framer itself: JSON error, then close. */
static void refuse(hconn_t *hc, int status, const char *code, const char *msg, int retry_after)
{
    http_req_t *r = hc->req;
    if (!r && !(r = hc->req = req_new(hc))) {
        hc->state = S_DEAD;
        conn_close(hc->c);
        return;
    }
    r->keep_alive = false;
    r->close_after = true;
    hc->state = S_HANDLER; /* the answer ends the connection: no discard */
    http_reply_error(r, status, code, msg, -1, retry_after);
}

/* ---- parser callbacks (head only) ---------------------------------------- */

#define HC(p) ((hconn_t *)(p)->data)

/* A callback refuses the request with this status (the parser stops). */
static int fail(hconn_t *hc, int status)
{
    if (!hc->err_status) hc->err_status = status;
    return -1;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    hconn_t *hc = HC(p);
    http_req_t *r = hc->req;
    if (r->hdr_len + n > hc->srv->lim.max_uri_bytes) return fail(hc, 414);
    return hdr_append(r, at, n, hc->srv->lim.max_header_bytes) ? fail(hc, 431) : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    hconn_t *hc = HC(p);
    http_req_t *r = hc->req;
    size_t max = hc->srv->lim.max_header_bytes;
    if (r->in_value || !r->nhdrs || r->hdrs[r->nhdrs - 1].value != UINT32_MAX) {
        /* a new header line: end the previous string, make room for a ref */
        if (hdr_end(r, max)) return fail(hc, 431);
        if (r->nhdrs >= hc->srv->lim.max_headers) return fail(hc, 431);
        if (r->nhdrs == r->hdrs_cap) {
            uint32_t cap = r->hdrs_cap ? r->hdrs_cap * 2 : 16;
            hdr_ref_t *h = realloc(r->hdrs, cap * sizeof *h);
            if (!h) return fail(hc, 503);
            r->hdrs = h;
            r->hdrs_cap = cap;
        }
        r->hdrs[r->nhdrs++] = (hdr_ref_t){(uint32_t)r->hdr_len, UINT32_MAX};
        r->in_value = false;
    }
    return hdr_append(r, at, n, max) ? fail(hc, 431) : 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    hconn_t *hc = HC(p);
    http_req_t *r = hc->req;
    size_t max = hc->srv->lim.max_header_bytes;
    if (!r->in_value) {
        if (hdr_end(r, max)) return fail(hc, 431);
        r->hdrs[r->nhdrs - 1].value = (uint32_t)r->hdr_len;
        r->in_value = true;
    }
    return hdr_append(r, at, n, max) ? fail(hc, 431) : 0;
}

static http_method_t method_of(unsigned m)
{
    switch (m) {
    case HTTP_GET: return HTTP_M_GET;
    case HTTP_HEAD: return HTTP_M_HEAD;
    case HTTP_POST: return HTTP_M_POST;
    case HTTP_PUT: return HTTP_M_PUT;
    case HTTP_DELETE: return HTTP_M_DELETE;
    default: return HTTP_M_OTHER;
    }
}

/* A Transfer-Encoding other than "chunked": 400 when chunked is there but
 * not last (the body's end cannot be known, RFC 9112 6.3), else 501 (a
 * coding this server does not implement). */
static int te_refusal(const char *te)
{
    size_t n = strlen(te);
    while (n && (te[n - 1] == ' ' || te[n - 1] == '\t')) n--;
    bool chunked_last = n >= 7 && !strncasecmp(te + n - 7, "chunked", 7);
    return strcasestr(te, "chunked") && !chunked_last ? 400 : 501;
}

static int on_headers_complete(http_parser *p)
{
    hconn_t *hc = HC(p);
    http_req_t *r = hc->req;
    if (hdr_end(r, hc->srv->lim.max_header_bytes)) return fail(hc, 431);
    if (r->nhdrs && r->hdrs[r->nhdrs - 1].value == UINT32_MAX) /* a name without value */
        r->hdrs[r->nhdrs - 1].value = (uint32_t)(r->hdr_len - 1);
    r->head_us = now_us();
    r->method = method_of(p->method);
    snprintf(r->method_name, sizeof r->method_name, "%s", http_method_str(p->method));
    r->head_only = r->method == HTTP_M_HEAD;
    r->keep_alive = http_should_keep_alive(p);
    r->chunked = p->flags & F_CHUNKED;
    if (p->flags & F_CONTENTLENGTH) r->content_length = (long long)p->content_length;
    const char *te = http_req_header(r, "Transfer-Encoding");
    if (te && strcasecmp(te, "chunked") != 0) return fail(hc, te_refusal(te));
    const char *ex = http_req_header(r, "Expect");
    r->expect_continue = ex && !strcasecmp(ex, "100-continue");
    http_parser_pause(p, 1);
    /* a Content-Length body is taken whole from the input, not parsed */
    return r->content_length > 0 && !r->chunked ? 1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    hconn_t *hc = HC(p);
    http_req_t *r = hc->req;
    if (r->body_len + n > r->body_limit) return fail(hc, 413);
    LD_ASSERT(r->body_len + n <= r->reserved); /* feed_chunked bounds what it feeds */
    if (r->body_len + n > r->block_cap) {
        size_t cap = r->block_cap ? r->block_cap * 2 : 16384;
        while (cap < r->body_len + n) cap *= 2;
        char *b = realloc(r->block, cap);
        if (!b) return fail(hc, 503);
        r->block = b;
        r->block_cap = cap;
    }
    memcpy(r->block + r->body_len, at, n);
    r->body_len += n;
    r->body = r->block;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    http_parser_pause(p, 1);
    return 0;
}

/* ---- the request cycle --------------------------------------------------- */

/* Map a parser error (or a callback's refusal) to an answer. */
static void refuse_parse(hconn_t *hc)
{
    enum http_errno e = HTTP_PARSER_ERRNO(&hc->parser);
    METRIC_ADD(http_bad_requests, 1);
    switch (hc->err_status ? hc->err_status : 0) {
    case 414: refuse(hc, 414, "uri_too_long", "request line longer than the limit", 0); return;
    case 431:
        refuse(hc, 431, "headers_too_large", "request headers over max-header-bytes or the header "
               "count limit", 0);
        return;
    case 413: refuse(hc, 413, "body_too_large", "request body is larger than the limit", 0); return;
    case 503: refuse(hc, 503, "out_of_memory", "out of memory", 1); return;
    case 400:
        refuse(hc, 400, "bad_request", "chunked must be the last Transfer-Encoding", 0);
        return;
    case 501:
        refuse(hc, 501, "not_implemented", "Transfer-Encoding other than chunked", 0);
        return;
    default: break;
    }
    if (e == HPE_INVALID_METHOD) {
        refuse(hc, 501, "not_implemented", "unknown request method", 0);
    } else if (e == HPE_HEADER_OVERFLOW) {
        refuse(hc, 431, "headers_too_large", "request headers over max-header-bytes", 0);
    } else if (e == HPE_UNEXPECTED_CONTENT_LENGTH) {
        refuse(hc, 400, "bad_request", "Content-Length together with Transfer-Encoding, or "
               "repeated Content-Length", 0);
    } else if (e == HPE_INVALID_CONTENT_LENGTH) {
        refuse(hc, 400, "bad_request", "invalid Content-Length", 0);
    } else if (e == HPE_INVALID_TRANSFER_ENCODING) {
        refuse(hc, 400, "bad_request", "unsupported Transfer-Encoding", 0);
    } else if (e == HPE_INVALID_CHUNK_SIZE) {
        refuse(hc, 400, "bad_request", "invalid chunk size", 0);
    } else if (e == HPE_INVALID_VERSION) {
        refuse(hc, 505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are served", 0);
    } else {
        char m[160];
        snprintf(m, sizeof m, "malformed request (%s)", http_errno_description(e));
        refuse(hc, 400, "bad_request", m, 0);
    }
}

/* The connection's request rate: true when one more request may start. */
static bool rate_ok(hconn_t *hc)
{
    uint32_t rps = hc->srv->lim.max_requests_per_conn_s;
    if (!rps) return true;
    uint64_t now = now_ms(), cap = (uint64_t)rps * 1000;
    if (!hc->rate_ms) hc->rate_tokens = cap;
    else hc->rate_tokens += (now - hc->rate_ms) * rps;
    if (hc->rate_tokens > cap) hc->rate_tokens = cap;
    hc->rate_ms = now;
    if (hc->rate_tokens < 1000) return false;
    hc->rate_tokens -= 1000;
    return true;
}

/* Run the handler's on_head; the request leaves DECIDE by its action. */
static void decide(hconn_t *hc)
{
    http_req_t *r = hc->req;
    if (!r->rate_checked && (r->rate_checked = true) && !rate_ok(hc)) {
        METRIC_ADD(requests_rate_limited, 1);
        http_reply_error(r, 429, "rate_limited",
                         "too many requests on this connection (max-requests-per-conn-s)", -1, 1);
        return;
    }
    hc->srv->h.on_head(hc->srv->h.ctx, r);
    if (hc->req == r && hc->state == S_DECIDE) /* the handler did nothing: a bug */
        refuse(hc, 500, "internal_error", "request not handled", 0);
}

static void dispatch(hconn_t *hc)
{
    http_req_t *r = hc->req;
    hc->state = S_HANDLER;
    if (r->reserved) { /* the body is in memory now; the handler's budgets take over */
        conn_budget_release(r->reserved);
        r->reserved = 0;
    }
    if (!hc->in_data) sync_reading(hc);
    hc->srv->h.on_request(hc->srv->h.ctx, r);
}

static void budget_tick(evutil_socket_t fd, short what, void *arg);

/* The body's budget is held: read it (after a 100 Continue when asked). */
static void body_go(hconn_t *hc)
{
    http_req_t *r = hc->req;
    hc->state = S_BODY;
    if (r->expect_continue && (r->content_length > 0 || r->chunked)) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        r->expect_continue = false;
        if (conn_write(hc->c, cont, sizeof cont - 1)) r->close_after = true;
    }
}

static void budget_list(hconn_t *hc)
{
    http_server_t *s = hc->srv;
    if (hc->on_budget_list) return;
    if (!s->budget_ev) s->budget_ev = evtimer_new(conn_base(hc->c), budget_tick, s);
    hc->on_budget_list = true;
    hc->budget_next = NULL;
    if (s->budget_tail) s->budget_tail->budget_next = hc;
    else s->budget_head = hc;
    s->budget_tail = hc;
    if (s->budget_ev && !evtimer_pending(s->budget_ev, NULL)) {
        struct timeval tv = {0, BUDGET_RETRY_MS * 1000};
        evtimer_add(s->budget_ev, &tv);
    }
}

static void budget_unlist(hconn_t *hc)
{
    http_server_t *s = hc->srv;
    if (!hc->on_budget_list) return;
    hconn_t **pp = &s->budget_head, *prev = NULL;
    while (*pp && *pp != hc) {
        prev = *pp;
        pp = &(*pp)->budget_next;
    }
    if (*pp) *pp = hc->budget_next;
    if (s->budget_tail == hc) s->budget_tail = prev;
    hc->on_budget_list = false;
}

/* Reserve what the body needs next: all of a Content-Length body, or the
 * next step of a chunked one (CHUNK_STEP, never more than the whole budget).
 * 1 when held, 0 when it must wait, -1 when it can never fit. */
static int budget_take(http_req_t *r)
{
    uint64_t lim = conn_budget_limit(), want;
    if (r->chunked) {
        uint64_t step = lim && lim < CHUNK_STEP ? lim : CHUNK_STEP;
        want = r->body_len + step;
        if (want > r->body_limit + 1) want = r->body_limit + 1;
        if (lim && want - r->body_len > lim) want = r->body_len + lim;
    } else {
        want = (uint64_t)r->content_length;
        if (lim && want > lim) return -1;
    }
    if (want <= r->reserved) return 1;
    if (lim && want - r->reserved > lim) { /* held bytes of earlier steps: give back first */
        conn_budget_release(r->reserved - r->body_len);
        r->reserved = r->body_len;
    }
    if (!conn_budget_reserve(want - r->reserved)) return 0;
    r->reserved = want;
    return 1;
}

static void budget_wait(hconn_t *hc)
{
    METRIC_ADD(body_budget_waits, 1);
    hc->state = S_BUDGET;
    hc->budget_since_ms = now_ms();
    budget_list(hc);
}

static void budget_tick(evutil_socket_t fd, short what, void *arg)
{
    http_server_t *s = arg;
    uint64_t now = now_ms(), wait = s->lim.body_wait_ms ? s->lim.body_wait_ms : 30000;
    bool blocked = false;
    for (hconn_t *hc = s->budget_head, *next; hc; hc = next) {
        next = hc->budget_next; /* FIFO: the oldest waiter first; none passes it */
        if (!blocked && budget_take(hc->req) > 0) {
            budget_unlist(hc);
            body_go(hc);
            sync_reading(hc);
        } else if (now - hc->budget_since_ms >= wait) {
            budget_unlist(hc);
            refuse(hc, 503, "body_budget_exhausted",
                   "bodies in flight over max-inflight-body-bytes for too long; retry later", 1);
        } else {
            blocked = true;
        }
    }
    if (s->budget_head) {
        struct timeval tv = {0, BUDGET_RETRY_MS * 1000};
        evtimer_add(s->budget_ev, &tv);
    }
}

int http_req_read_body(http_req_t *r, size_t limit)
{
    hconn_t *hc = r->hc;
    LD_ASSERT(hc && hc->state == S_DECIDE);
    r->body_limit = limit;
    if (r->content_length > (long long)limit) {
        refuse(hc, 413, "body_too_large", "request body is larger than the limit", 0);
        return -EFBIG;
    }
    hc->state = S_BODY;
    if (r->content_length <= 0 && !r->chunked) return 0; /* no body */
    int got = budget_take(r);
    if (got < 0) {
        refuse(hc, 413, "body_too_large", "request body is larger than max-inflight-body-bytes",
               0);
        return -EFBIG;
    }
    if (got)
        body_go(hc);
    else
        budget_wait(hc);
    if (!hc->in_data) sync_reading(hc);
    return 0;
}

void http_req_park(http_req_t *r)
{
    hconn_t *hc = r->hc;
    LD_ASSERT(hc && hc->state == S_DECIDE);
    hc->state = S_PARKED;
    if (!hc->in_data) sync_reading(hc);
}

static void advance(hconn_t *hc);

void http_req_resume(http_req_t *r)
{
    hconn_t *hc = r->hc;
    if (!hc) { /* parked while its client went away */
        req_free(r);
        return;
    }
    LD_ASSERT(hc->state == S_PARKED);
    hc->state = S_DECIDE;
    decide(hc);
    advance(hc);
}

/* Outside on_data: move a request on after the handler acted. */
static void advance(hconn_t *hc)
{
    if (hc->state == S_BODY && hc->req->content_length <= 0 && !hc->req->chunked)
        dispatch(hc);
    else
        sync_reading(hc);
}

/* The end of a head in in[0..len): the offset just past its empty line, or
 * 0 when it has not all arrived (hc->scanned: how far it was looked at). */
static size_t head_end(hconn_t *hc, const char *in, size_t len)
{
    size_t i = hc->scanned > 2 ? hc->scanned - 2 : 0;
    const char *nl;
    while (i < len && (nl = memchr(in + i, '\n', len - i))) {
        size_t k = (size_t)(nl - in) + 1;
        if (k < len && in[k] == '\n') return k + 1;
        if (k + 1 < len && in[k] == '\r' && in[k + 1] == '\n') return k + 2;
        i = k;
    }
    hc->scanned = len;
    return 0;
}

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Check what the packaged parser (built lenient) lets through: the request
 * line is "token SP target SP HTTP/d.d", header names are tokens directly
 * followed by ':', no line folding. 0, or the status to refuse with. */
static int head_check(const char *h, size_t n, size_t max_uri, const char **why)
{
    /* an over-long line is 414 whatever else is wrong with it, as when it
     * arrives in pieces (step_head) */
    const char *nl = memchr(h, '\n', n);
    if (nl && (size_t)(nl - h) > max_uri + 16) {
        *why = "request line longer than the limit";
        return 414;
    }
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)h[i])) i++;
    *why = "malformed request line";
    if (!i || i >= n || h[i] != ' ') return 400;
    size_t t = ++i;
    while (i < n && h[i] != ' ' && (unsigned char)h[i] > 0x20 && h[i] != 0x7f) i++;
    if (i - t > max_uri) { /* whatever else is wrong, as when it arrives in pieces */
        *why = "request line longer than the limit";
        return 414;
    }
    if (i == t || i + 10 > n || h[i] != ' ') return 400;
    const char *v = h + i + 1;
    if (memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' || v[7] < '0' ||
        v[7] > '9')
        return 400;
    if (v[5] != '1') {
        *why = "only HTTP/1.0 and HTTP/1.1 are served";
        return 505;
    }
    const char *p = v + 8, *endp = h + n;
    if (*p == '\r') p++;
    if (*p++ != '\n') return 400;
    *why = "malformed header line";
    while (p < endp && *p != '\r' && *p != '\n') {
        const char *q = p;
        while (q < endp && is_tchar((unsigned char)*q)) q++;
        if (q == p || q >= endp || *q != ':') return 400; /* folding, space before ':' */
        const char *eol = memchr(q, '\n', (size_t)(endp - q));
        if (!eol) return 400;
        p = eol + 1;
    }
    return 0;
}

/* Start a request on this connection. false when out of memory (closed). */
static bool req_start(hconn_t *hc)
{
    if (!(hc->req = req_new(hc))) {
        hc->state = S_DEAD;
        conn_close(hc->c);
        return false;
    }
    http_parser_init(&hc->parser, HTTP_REQUEST);
    hc->parser.data = hc;
    hc->err_status = 0;
    hc->scanned = 0;
    conn_request_started(hc->c);
    return true;
}

/* Parse a head from in[0..len) once it has all arrived; returns the bytes
 * consumed, *stall when more input is needed or the request waits. */
static size_t step_head(hconn_t *hc, const char *in, size_t len, bool *stall)
{
    size_t skip = 0;
    while (!hc->req && skip < len && (in[skip] == '\r' || in[skip] == '\n')) skip++;
    if (skip == len) { /* empty lines between requests are ignored */
        *stall = true;
        return skip;
    }
    if (skip) return skip;
    *stall = true;
    if (!hc->req && !req_start(hc)) return 0;
    const http_limits_t *lim = &hc->srv->lim;
    size_t end = head_end(hc, in, len);
    if (!end) {
        const char *nl = memchr(in, '\n', len);
        if (len > lim->max_uri_bytes + 16 && (!nl || (size_t)(nl - in) > lim->max_uri_bytes + 16))
            refuse(hc, 414, "uri_too_long", "request line longer than the limit", 0);
        else if (len > lim->max_header_bytes)
            refuse(hc, 431, "headers_too_large", "request headers over max-header-bytes", 0);
        else if (conn_expect_input(hc->c, len + 1024) && len >= lim->max_header_bytes)
            refuse(hc, 431, "headers_too_large", "request headers over max-header-bytes", 0);
        return 0;
    }
    const char *why;
    int bad = head_check(in, end, lim->max_uri_bytes, &why);
    if (bad) {
        METRIC_ADD(http_bad_requests, 1);
        refuse(hc, bad, bad == 505 ? "http_version_not_supported" : bad == 414 ? "uri_too_long"
                                                                                : "bad_request",
               why, 0);
        return end;
    }
    size_t n = http_parser_execute(&hc->parser, &g_settings, in, end);
    if (HTTP_PARSER_ERRNO(&hc->parser) != HPE_PAUSED) { /* refused, or a head the parser misread */
        refuse_parse(hc);
        return end;
    }
    http_parser_pause(&hc->parser, 0);
    if (hc->req->method == HTTP_M_OTHER) {
        refuse(hc, 501, "not_implemented", "method not implemented", 0);
        return end;
    }
    if (!hc->req->chunked) { /* finish the head: its last LF completes the message */
        n += http_parser_execute(&hc->parser, &g_settings, in + n, end - n);
        if (HTTP_PARSER_ERRNO(&hc->parser) != HPE_PAUSED) {
            refuse_parse(hc);
            return end;
        }
        http_parser_pause(&hc->parser, 0);
    }
    *stall = false;
    hc->state = S_DECIDE;
    decide(hc);
    return n;
}

/* A Content-Length body: wait for it whole, then hand it over. Returns the
 * bytes consumed; *took when the input buffer went to the request. */
static size_t step_body_length(hconn_t *hc, const char *in, size_t len, size_t used,
                               bool *stall, bool *took)
{
    http_req_t *r = hc->req;
    size_t cl = (size_t)r->content_length;
    if (len < cl) {
        if (conn_expect_input(hc->c, cl)) {
            refuse(hc, 413, "body_too_large", "request body is larger than the input limit", 0);
        }
        *stall = true;
        return 0;
    }
    if (cl <= SMALL_BODY) {
        if (!(r->block = malloc(cl + 1))) {
            refuse(hc, 503, "out_of_memory", "out of memory", 1);
            *stall = true;
            return 0;
        }
        memcpy(r->block, in, cl);
        r->block[cl] = 0;
        r->body = r->block;
        r->body_len = cl;
        dispatch(hc);
        return cl;
    }
    char *base;
    size_t off;
    if (conn_take_input(hc->c, used + cl, &base, &off)) {
        refuse(hc, 503, "out_of_memory", "out of memory", 1);
        *stall = true;
        return 0;
    }
    r->block = base;
    r->body = base + off + used;
    r->body_len = cl;
    *took = true;
    *stall = true;
    dispatch(hc);
    return 0;
}

/* A chunked body: feed the parser no more than the budget held allows. */
static size_t step_body_chunked(hconn_t *hc, const char *in, size_t len, bool *stall)
{
    http_req_t *r = hc->req;
    if (r->reserved <= r->body_len && budget_take(r) <= 0) {
        budget_wait(hc);
        *stall = true;
        return 0;
    }
    size_t room = (size_t)(r->reserved - r->body_len);
    size_t feed = len < room ? len : room;
    size_t n = http_parser_execute(&hc->parser, &g_settings, in, feed);
    enum http_errno e = HTTP_PARSER_ERRNO(&hc->parser);
    if (e == HPE_PAUSED) {
        http_parser_pause(&hc->parser, 0);
        dispatch(hc);
        return n;
    }
    if (e != HPE_OK) {
        refuse_parse(hc);
        *stall = true;
        return n;
    }
    if (n == len) *stall = true;
    return n;
}

static size_t on_data(void *st, const char *in, size_t len)
{
    hconn_t *hc = st;
    size_t used = 0;
    bool stall = false, took = false;
    hc->in_data = true;
    while (!stall && !took) {
        size_t n = 0;
        switch (hc->state) {
        case S_HEAD:
            if (used == len) {
                stall = true;
                break;
            }
            if (!hc->req && conn_output_pending(hc->c) > OUT_PENDING_MAX) {
                hc->wait_drain = true; /* a client that does not read its answers */
                stall = true;
                break;
            }
            n = step_head(hc, in + used, len - used, &stall);
            break;
        case S_BODY:
            if (hc->req->content_length <= 0 && !hc->req->chunked)
                dispatch(hc);
            else if (!hc->req->chunked)
                n = step_body_length(hc, in + used, len - used, used, &stall, &took);
            else if (used == len)
                stall = true;
            else
                n = step_body_chunked(hc, in + used, len - used, &stall);
            break;
        case S_DISCARD:
            n = len - used < hc->discard_left ? len - used : hc->discard_left;
            hc->discard_left -= n;
            if (!hc->discard_left) hc->state = S_HEAD;
            else stall = true;
            break;
        default: /* waiting for the handler, the budget or closing */
            stall = true;
            break;
        }
        used += n;
    }
    hc->in_data = false;
    if (hc->state == S_HEAD && !hc->req && hc->eof) {
        hc->state = S_DEAD;
        conn_close_after_write(hc->c);
    }
    if (hc->state != S_DEAD) sync_reading(hc);
    return took ? 0 : used;
}

static void *h_open(conn_t *c, void *proto_ctx)
{
    hconn_t *hc = calloc(1, sizeof *hc);
    if (!hc) return NULL;
    hc->c = c;
    hc->srv = proto_ctx;
    hc->state = S_HEAD;
    return hc;
}

static void h_on_eof(void *st, size_t pending)
{
    hconn_t *hc = st;
    hc->eof = true;
    switch (hc->state) {
    case S_HEAD:
    case S_DISCARD:
    case S_BODY:
    case S_BUDGET: /* cut in the middle of a request, or idle: nothing to answer */
        hc->state = S_DEAD;
        conn_close(hc->c);
        break;
    default: /* a half-closed client still gets its answer */
        if (hc->req) hc->req->close_after = true;
        break;
    }
}

static void h_on_drained(void *st)
{
    hconn_t *hc = st;
    if (!hc->wait_drain) return;
    hc->wait_drain = false;
    if (hc->state != S_DEAD) sync_reading(hc);
}

static void h_refuse(void *st, const char *why)
{
    hconn_t *hc = st;
    if (hc->srv->h.on_refused) hc->srv->h.on_refused(hc->srv->h.ctx, why);
    if (!strcmp(why, "draining"))
        refuse(hc, 503, "shutting_down", "logdistd is shutting down", 5);
    else if (!strcmp(why, "max-connections-per-ip"))
        refuse(hc, 503, "too_many_connections",
               "too many open connections from this address (max-connections-per-ip)", 1);
    else
        refuse(hc, 503, "too_many_connections", "too many open connections (max-connections)", 1);
}

static void h_on_timeout(void *st, bool reading_request)
{
    hconn_t *hc = st;
    METRIC_ADD(slow_clients_closed, 1);
    if (reading_request && (hc->state == S_HEAD || hc->state == S_BODY))
        refuse(hc, 408, "request_timeout", "the request did not arrive in time (idle-timeout-s)", 0);
}

static void h_close(void *st)
{
    hconn_t *hc = st;
    budget_unlist(hc);
    http_req_t *r = hc->req;
    if (r) {
        if (hc->state == S_HANDLER || hc->state == S_PARKED) { /* the handler holds it */
            r->hc = NULL;
            if (r->reserved) {
                conn_budget_release(r->reserved);
                r->reserved = 0;
            }
        } else {
            req_free(r);
        }
    }
    free(hc);
}

const framer_ops_t http_framer = {
    .name = "http",
    .open = h_open,
    .on_data = on_data,
    .on_eof = h_on_eof,
    .on_drained = h_on_drained,
    .refuse = h_refuse,
    .on_timeout = h_on_timeout,
    .close = h_close,
};
