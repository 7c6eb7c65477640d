/*
 * test_http.c - the HTTP/1.1 framer (src/ingress/http.c) on the real
 * connection layer: each case writes raw bytes into one end of a socketpair
 * adopted by a listener, runs the loop, and checks the answers that come out
 * (status lines in order, body, whether the connection was closed).
 *
 * The test handler: on_head refuses /deny with 401, parks /park, answers
 * /now at once, and reads any other body (limit BODY_LIMIT); on_request
 * answers 200 "<METHOD> <len> <body>", or keeps /async requests for later.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "ingress/conn.h"
#include "ingress/http.h"

#define BODY_LIMIT 10000

static http_req_t *g_held; /* an /async or /park request */

static void t_on_head(void *ctx, http_req_t *r)
{
    const char *uri = http_req_uri(r);
    if (!strncmp(uri, "/deny", 5)) {
        http_req_add_header(r, "WWW-Authenticate", "Bearer");
        http_req_reply(r, 401, "application/json", "{\"error\":\"unauthorized\"}\n", 25);
    } else if (!strncmp(uri, "/now", 4)) {
        http_req_reply(r, 204, NULL, "", 0);
    } else if (!strncmp(uri, "/park", 5) && !g_held) {
        g_held = r;
        http_req_park(r);
    } else {
        http_req_read_body(r, BODY_LIMIT);
    }
}

static void t_on_request(void *ctx, http_req_t *r)
{
    if (!strncmp(http_req_uri(r), "/async", 6)) {
        g_held = r;
        return;
    }
    size_t len;
    const char *b = http_req_body(r, &len);
    char out[BODY_LIMIT + 64];
    int n = snprintf(out, sizeof out, "%s %zu %.*s\n", http_req_method_name(r), len, (int)len, b);
    http_req_reply(r, 200, "text/plain", out, (size_t)n);
}

typedef struct {
    struct event_base *base;
    http_server_t *srv;
    listener_t *l;
    int fd; /* the client's end */
} rig_t;

static rig_t rig_new(void)
{
    rig_t t = {0};
    t.base = event_base_new();
    assert_non_null(t.base);
    http_handler_t h = {.on_head = t_on_head, .on_request = t_on_request};
    http_limits_t lim = {.max_header_bytes = 2048, .max_headers = 20, .max_uri_bytes = 256};
    t.srv = http_server_new(&h, &lim);
    conn_limits_t cl = {.header_timeout_ms = 5000, .idle_timeout_ms = 5000,
                        .max_input_bytes = 1 << 20};
    t.l = listener_new_unbound(t.base, NULL, &cl, &http_framer, t.srv);
    assert_non_null(t.l);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(listener_adopt(t.l, sv[0], "127.0.0.1"), 0);
    t.fd = sv[1];
    g_held = NULL;
    return t;
}

static void rig_free(rig_t *t)
{
    if (t->fd >= 0) close(t->fd);
    listener_free(t->l);
    http_server_free(t->srv);
    event_base_free(t->base);
}

static void rig_send(rig_t *t, const char *data, size_t len)
{
    size_t off = 0;
    uint64_t until = now_ms() + 5000;
    while (off < len && now_ms() < until) {
        ssize_t n = write(t->fd, data + off, len - off);
        if (n > 0) off += (size_t)n;
        event_base_loop(t->base, EVLOOP_NONBLOCK);
    }
    assert_int_equal(off, len);
}

/* Run the loop and collect what the server sends for about `ms`, or until
 * `want` bytes came or the server closed. Returns the bytes; *closed. */
static size_t rig_recv(rig_t *t, char *buf, size_t cap, size_t want, int ms, bool *closed)
{
    size_t got = 0;
    *closed = false;
    uint64_t until = now_ms() + (uint64_t)ms;
    while (now_ms() < until && got < want) {
        event_base_loop(t->base, EVLOOP_NONBLOCK);
        ssize_t n = read(t->fd, buf + got, cap - 1 - got);
        if (n > 0) {
            got += (size_t)n;
        } else if (n == 0) {
            *closed = true;
            break;
        } else {
            usleep(1000);
        }
    }
    buf[got] = 0;
    return got;
}

/* The next status line at or after p: "HTTP/1.1 " at the start or after a newline. */
static const char *next_status(const char *resp, const char *p)
{
    while ((p = strstr(p, "HTTP/1.1 ")) && p != resp && p[-1] != '\n') p++;
    return p;
}

/* Count status lines and check them in order against `codes`. */
static void expect_statuses(const char *resp, const int *codes, size_t n)
{
    const char *p = resp;
    for (size_t i = 0; i < n; i++) {
        p = next_status(resp, p);
        if (!p) fail_msg("answer %zu missing in:\n%s", i, resp);
        int code = atoi(p + 9);
        if (code != codes[i]) fail_msg("answer %zu: %d, expected %d in:\n%s", i, code, codes[i], resp);
        p += 9;
    }
    if (next_status(resp, p)) fail_msg("more answers than expected:\n%s", resp);
}

typedef struct {
    const char *name;
    const char *req;
    int codes[4];
    size_t ncodes;
    bool closed;          /* the server closes after the answers */
    const char *body_has; /* a substring of the whole output, or NULL */
} http_case_t;

static const http_case_t cases[] = {
    {"get keep-alive", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", {200}, 1, false, "GET 0 "},
    {"post content-length", "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", {200}, 1, false,
     "POST 5 hello"},
    {"pipelined three", "POST /x HTTP/1.1\r\nContent-Length: 1\r\n\r\naGET /y HTTP/1.1\r\n\r\n"
     "POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nbc", {200, 200, 200}, 3, false, "POST 2 bc"},
    {"chunked", "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n"
     "6\r\n world\r\n0\r\n\r\n", {200}, 1, false, "POST 11 hello world"},
    {"bad chunk size", "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n",
     {400}, 1, true, "\"error\""},
    {"length and chunked", "POST /x HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked"
     "\r\n\r\n0\r\n\r\n", {400}, 1, true, "bad_request"},
    {"two lengths", "POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
     {400}, 1, true, NULL},
    {"length list", "POST /x HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\nab", {400}, 1, true, NULL},
    {"negative length", "POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", {400}, 1, true, NULL},
    {"unknown method", "BREW /x HTTP/1.1\r\n\r\n", {501}, 1, true, "not_implemented"},
    {"unserved method", "PATCH /x HTTP/1.1\r\n\r\n", {501}, 1, true, NULL},
    {"http/2", "GET /x HTTP/2.0\r\n\r\n", {505}, 1, true, NULL},
    {"garbage", "\x01\x02garbage\r\n\r\n", {400}, 1, true, NULL},
    {"tls hello on plain", "\x16\x03\x01\x02\x05\x01\x05\x01\xfc\x03\x03\r\n\r\n", {400}, 1, true,
     NULL},
    {"bad version token", "GET /x HTTX/1.1\r\n\r\n", {400}, 1, true, NULL},
    {"space before colon", "GET /x HTTP/1.1\r\nX-A : b\r\n\r\n", {400}, 1, true, NULL},
    {"folded header", "GET /x HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n", {400}, 1, true, NULL},
    {"transfer-encoding gzip", "GET /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", {501}, 1,
     true, NULL},
    {"gzip then chunked", "POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
     "2\r\n[]\r\n0\r\n\r\n", {501}, 1, true, NULL},
    {"empty lines between requests", "\r\nGET /x HTTP/1.1\r\n\r\n\r\nGET /y HTTP/1.1\r\n\r\n",
     {200, 200}, 2, false, NULL},
    {"bare LF line ends", "GET /x HTTP/1.1\nHost: a\n\n", {200}, 1, false, NULL},
    {"body over limit", "POST /x HTTP/1.1\r\nContent-Length: 20000\r\n\r\n", {413}, 1, true,
     "body_too_large"},
    {"deny before a large body", "POST /deny HTTP/1.1\r\nContent-Length: 100000\r\n\r\n", {401},
     1, true, "WWW-Authenticate: Bearer"},
    {"deny then keep-alive", "POST /deny HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /y HTTP/1.1"
     "\r\n\r\n", {401, 200}, 2, false, "GET 0"},
    {"head", "HEAD /x HTTP/1.1\r\n\r\n", {200}, 1, false, "Content-Length: 8\r\n"},
    {"http/1.0 closes", "GET /x HTTP/1.0\r\n\r\n", {200}, 1, true, NULL},
    {"connection close", "GET /x HTTP/1.1\r\nConnection: close\r\n\r\n", {200}, 1, true, NULL},
    {"answer at once", "GET /now HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\n", {204, 200}, 2, false,
     NULL},
    {"nul in a header", "GET /x HTTP/1.1\r\nX-A: a\0b\r\n\r\n", {400}, 1, true, NULL},
};

static void test_case_table(void **state)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const http_case_t *c = &cases[i];
        rig_t t = rig_new();
        size_t len = strlen(c->req);
        if (!strcmp(c->name, "nul in a header")) len = 29;
        rig_send(&t, c->req, len);
        char buf[16384];
        bool closed;
        rig_recv(&t, buf, sizeof buf, sizeof buf, c->closed ? 3000 : 300, &closed);
        print_message("case %s\n", c->name);
        expect_statuses(buf, c->codes, c->ncodes);
        if (closed != c->closed) fail_msg("case %s: closed=%d, expected %d", c->name, closed, c->closed);
        if (c->body_has && !strstr(buf, c->body_has))
            fail_msg("case %s: no '%s' in:\n%s", c->name, c->body_has, buf);
        if (!strcmp(c->name, "head")) assert_null(strstr(buf, "HEAD 0"));
        rig_free(&t);
    }
}

static void test_limits(void **state)
{
    char req[8192];
    struct {
        const char *name;
        int status;
    } lim[] = {{"uri", 414}, {"header bytes", 431}, {"header count", 431}};
    for (int i = 0; i < 3; i++) {
        rig_t t = rig_new();
        int n;
        if (i == 0) {
            n = snprintf(req, sizeof req, "GET /%0300d HTTP/1.1\r\n\r\n", 0);
        } else if (i == 1) {
            n = snprintf(req, sizeof req, "GET /x HTTP/1.1\r\nX-Big: %03000d\r\n\r\n", 0);
        } else {
            n = snprintf(req, sizeof req, "GET /x HTTP/1.1\r\n");
            for (int h = 0; h < 30; h++) n += snprintf(req + n, sizeof req - (size_t)n, "X-%d: v\r\n", h);
            n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
        }
        rig_send(&t, req, (size_t)n);
        char buf[4096];
        bool closed;
        rig_recv(&t, buf, sizeof buf, sizeof buf, 3000, &closed);
        print_message("limit %s\n", lim[i].name);
        expect_statuses(buf, &lim[i].status, 1);
        assert_true(closed);
        rig_free(&t);
    }
}

static void test_expect_continue(void **state)
{
    rig_t t = rig_new();
    const char *head = "POST /x HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n";
    rig_send(&t, head, strlen(head));
    char buf[4096];
    bool closed;
    rig_recv(&t, buf, sizeof buf, 25, 2000, &closed);
    assert_string_equal(buf, "HTTP/1.1 100 Continue\r\n\r\n");
    rig_send(&t, "hello", 5);
    rig_recv(&t, buf, sizeof buf, sizeof buf, 300, &closed);
    assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
    assert_non_null(strstr(buf, "POST 5 hello"));
    assert_false(closed);
    rig_free(&t);

    /* refused before the body: no 100 Continue, only the 401 */
    t = rig_new();
    head = "POST /deny HTTP/1.1\r\nContent-Length: 50000\r\nExpect: 100-continue\r\n\r\n";
    rig_send(&t, head, strlen(head));
    rig_recv(&t, buf, sizeof buf, sizeof buf, 3000, &closed);
    assert_null(strstr(buf, "100 Continue"));
    assert_non_null(strstr(buf, "HTTP/1.1 401"));
    assert_true(closed);
    rig_free(&t);
}

static void test_async_answer_keeps_order(void **state)
{
    rig_t t = rig_new();
    const char *two = "POST /async HTTP/1.1\r\nContent-Length: 1\r\n\r\naGET /y HTTP/1.1\r\n\r\n";
    rig_send(&t, two, strlen(two));
    char buf[4096];
    bool closed;
    rig_recv(&t, buf, sizeof buf, sizeof buf, 200, &closed);
    assert_int_equal(strlen(buf), 0); /* the second waits behind the first */
    assert_non_null(g_held);
    http_req_reply(g_held, 202, NULL, "", 0);
    g_held = NULL;
    rig_recv(&t, buf, sizeof buf, sizeof buf, 300, &closed);
    int codes[] = {202, 200};
    expect_statuses(buf, codes, 2);
    rig_free(&t);
}

static void test_orphaned_answer_is_dropped(void **state)
{
    rig_t t = rig_new();
    const char *one = "POST /async HTTP/1.1\r\nContent-Length: 1\r\n\r\na";
    rig_send(&t, one, strlen(one));
    char buf[256];
    bool closed;
    rig_recv(&t, buf, sizeof buf, sizeof buf, 100, &closed);
    assert_non_null(g_held);
    close(t.fd);
    t.fd = -1;
    for (int i = 0; i < 50; i++) event_base_loop(t.base, EVLOOP_NONBLOCK);
    http_req_t *r = g_held;
    g_held = NULL;
    listener_free(t.l); /* the connection goes; the request outlives it */
    t.l = NULL;
    assert_true(http_req_orphaned(r));
    http_req_reply(r, 202, NULL, "", 0); /* freed, nothing sent (ASan checks) */
    http_server_free(t.srv);
    event_base_free(t.base);
}

static void test_park_and_resume(void **state)
{
    rig_t t = rig_new();
    const char *one = "POST /park HTTP/1.1\r\nContent-Length: 2\r\n\r\nok";
    rig_send(&t, one, strlen(one));
    char buf[1024];
    bool closed;
    rig_recv(&t, buf, sizeof buf, sizeof buf, 200, &closed);
    assert_int_equal(strlen(buf), 0);
    assert_non_null(g_held);
    http_req_resume(g_held); /* on_head runs again: g_held is set, so it reads the body */
    rig_recv(&t, buf, sizeof buf, sizeof buf, 300, &closed);
    assert_non_null(strstr(buf, "POST 2 ok"));
    rig_free(&t);
}

/* A client that pipelines requests and never reads: the server stops taking
 * requests once its unsent answers pass a bound, so memory stays bounded. */
static void test_client_that_never_reads(void **state)
{
    rig_t t = rig_new();
    int sz = 1 << 20; /* a big socket buffer on the client side: the server's output piles up */
    setsockopt(t.fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    static const char req[] = "GET /x HTTP/1.1\r\n\r\n";
    char batch[sizeof req * 512];
    for (int i = 0; i < 512; i++) memcpy(batch + i * (sizeof req - 1), req, sizeof req - 1);
    size_t sent = 0;
    for (int round = 0; round < 400; round++) {
        ssize_t n = write(t.fd, batch, sizeof req * 0 + 512 * (sizeof req - 1));
        if (n > 0) sent += (size_t)n;
        event_base_loop(t.base, EVLOOP_NONBLOCK);
    }
    /* 512 requests of 20 bytes each round; answers ~50 bytes each. Without the
     * bound the server would take every request it can read. */
    size_t answered = 0;
    char buf[65536];
    ssize_t n;
    while ((n = read(t.fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i + 8 < n; i++) answered += !memcmp(buf + i, "HTTP/1.1", 8);
    print_message("sent %zu bytes of requests, read %zu answers\n", sent, answered);
    assert_true(sent < 400u * 512 * 20); /* the client got blocked: the server stopped reading */
    rig_free(&t);
}

static void test_body_budget_waits(void **state)
{
    /* a body larger than the whole budget can never be read: 413 at once */
    conn_budget_set_limit(10);
    rig_t t = rig_new();
    const char *one = "POST /x HTTP/1.1\r\nContent-Length: 20\r\n\r\n01234567890123456789";
    rig_send(&t, one, strlen(one));
    char buf[1024];
    bool closed;
    rig_recv(&t, buf, sizeof buf, sizeof buf, 2000, &closed);
    int too_big = 413;
    expect_statuses(buf, &too_big, 1);
    rig_free(&t);

    /* one that fits the budget but not what is left of it waits, unread */
    conn_budget_set_limit(30);
    assert_true(conn_budget_reserve(20)); /* another connection's body */
    t = rig_new();
    rig_send(&t, one, strlen(one));
    rig_recv(&t, buf, sizeof buf, sizeof buf, 200, &closed);
    assert_int_equal(strlen(buf), 0);
    conn_budget_release(20);
    rig_recv(&t, buf, sizeof buf, sizeof buf, 500, &closed);
    assert_non_null(strstr(buf, "POST 20 0123"));
    assert_int_equal(conn_budget_used(), 0);
    rig_free(&t);
    conn_budget_set_limit(0);
}

static void test_large_body_zero_copy(void **state)
{
    rig_t t = rig_new();
    char req[8192];
    int n = snprintf(req, sizeof req, "POST /x HTTP/1.1\r\nContent-Length: 6000\r\n\r\n");
    memset(req + n, 'z', 6000);
    n += 6000;
    n += snprintf(req + n, sizeof req - (size_t)n, "GET /y HTTP/1.1\r\n\r\n");
    rig_send(&t, req, (size_t)n);
    char buf[16384];
    bool closed;
    rig_recv(&t, buf, sizeof buf, sizeof buf, 300, &closed);
    int codes[] = {200, 200};
    expect_statuses(buf, codes, 2);
    assert_non_null(strstr(buf, "POST 6000 zzz"));
    rig_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_table),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_async_answer_keeps_order),
        cmocka_unit_test(test_orphaned_answer_is_dropped),
        cmocka_unit_test(test_park_and_resume),
        cmocka_unit_test(test_body_budget_waits),
        cmocka_unit_test(test_client_that_never_reads),
        cmocka_unit_test(test_large_body_zero_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
