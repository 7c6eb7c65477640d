/*
 * http.h - the HTTP/1.1 framer of the connection layer (conn.h), on Debian's
 * libhttp-parser, and the request object every endpoint (ingest, admin API,
 * /health) is served through.
 *
 * Per connection, requests are taken one at a time: keep-alive, pipelining
 * (the next request is parsed only after the current one was answered, so
 * answers keep their order), chunked request bodies, Expect: 100-continue,
 * HEAD (the answer without its body). Refused with a JSON error and a close:
 * a request line or URI over the limit (414), more header bytes or header
 * lines than allowed (431), Content-Length together with Transfer-Encoding,
 * repeated or conflicting Content-Length, a malformed request (400), an
 * unknown method (501), a head or body that does not arrive in time (408),
 * a body over the endpoint's limit (413).
 *
 * Decide before the body: once the head is parsed the handler's on_head runs
 * (auth, method, Content-Length against the limit, overload). It either
 * answers at once (the body is never read: the connection closes after the
 * answer) or accepts the body with http_req_read_body(); the bytes are
 * reserved from the global body budget (conn_budget_*) first, and while it is
 * spent the connection is not read. on_request runs when the body is in.
 *
 * Ownership: a request belongs to its connection until answered with
 * http_req_reply*(), which frees it. An answer may come later, from another
 * callback on the same loop (a packet waiting for its fsync); if the client
 * went away meanwhile, the request stays valid and the answer is dropped.
 */
#ifndef LOGDIST_INGRESS_HTTP_H
#define LOGDIST_INGRESS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/histogram.h"
#include "ingress/conn.h"

typedef struct http_req http_req_t;

typedef enum {
    HTTP_M_OTHER = 0,
    HTTP_M_GET,
    HTTP_M_HEAD,
    HTTP_M_POST,
    HTTP_M_PUT,
    HTTP_M_DELETE,
} http_method_t;

typedef struct http_handler {
    /* Head parsed. Answer now (http_req_reply*), or call
     * http_req_read_body(r, limit) to have on_request called with the body. */
    void (*on_head)(void *ctx, http_req_t *r);
    /* Body complete (after http_req_read_body). Answer now or later. */
    void (*on_request)(void *ctx, http_req_t *r);
    /* A connection limit refused a connection before any request (reason as
     * in framer_ops_t.refuse): counted by the handler; the framer answers 503. */
    void (*on_refused)(void *ctx, const char *reason);
    void *ctx;
} http_handler_t;

typedef struct http_limits {
    size_t max_header_bytes;  /* request line + headers (431/414 beyond) */
    uint32_t max_headers;     /* header lines (431 beyond) */
    size_t max_uri_bytes;     /* 414 beyond */
    uint32_t max_requests_per_conn_s; /* 429 beyond (0 = unlimited), burst the same */
    uint32_t body_wait_ms;    /* longest wait for body budget, then 503 (0: 30 s) */
} http_limits_t;

/* The framer for conn.h: proto_ctx is an http_server_t. */
extern const framer_ops_t http_framer;

typedef struct http_server http_server_t;
/* `handler` is copied; limits too. */
http_server_t *http_server_new(const http_handler_t *handler, const http_limits_t *limits);
void http_server_free(http_server_t *s);

/* ---- request ----------------------------------------------------------- */

http_method_t http_req_method(const http_req_t *r);
const char *http_req_method_name(const http_req_t *r);
/* The request target as sent, NUL-terminated ("/api/v1/logs?x=1"). */
const char *http_req_uri(const http_req_t *r);
/* First header of that name (case-insensitive), NUL-terminated, or NULL. */
const char *http_req_header(const http_req_t *r, const char *name);
/* Is the media type of a Content-Type value `ct` (before ';', spaces
 * around it ignored, case-insensitive) `type`? */
bool http_media_is(const char *ct, const char *type);
/* Content-Encoding of r: 1 gzip (or x-gzip), 0 identity or none, -1 anything else. */
int http_req_gzip(const http_req_t *r);
/* Content-Length, or -1 when absent (chunked, or no body). */
long long http_req_content_length(const http_req_t *r);
const char *http_req_peer_addr(const http_req_t *r);
uint16_t http_req_peer_port(const http_req_t *r);

/* The connection the request arrived on (valid while !http_req_orphaned;
 * only for identity, e.g. a per-connection rate bucket: a pointer may be
 * reused by a later connection). */
const conn_t *http_req_conn(const http_req_t *r);
/* One pointer of handler state carried from on_head to on_request (not freed). */
void http_req_set_user(http_req_t *r, void *user);
void *http_req_user(const http_req_t *r);
/* Pause: the body is not read until http_req_resume() (backpressure by not
 * reading). Call from on_head instead of answering or reading the body. */
void http_req_park(http_req_t *r);
/* Continue a parked request: the handler's on_head runs again. */
void http_req_resume(http_req_t *r);

/* Read a body of at most `limit` bytes (a longer one is answered 413 by the
 * framer and on_request never runs). 0, or a negative errno (the request was
 * answered: 413 over the limit, 503 out of memory). */
int http_req_read_body(http_req_t *r, size_t limit);
/* The body (after on_request): data[0..*len), valid until the reply. */
const char *http_req_body(const http_req_t *r, size_t *len);
/* Take the body over: *block is a malloc'd allocation the caller frees,
 * *data points into it, *len its length. Zero copy when the body arrived
 * with Content-Length in the connection's input buffer. 0 or -ENOMEM. */
int http_req_take_body(http_req_t *r, char **block, const char **data, size_t *len);

/* Add a response header (copied). Ignored after the reply. */
void http_req_add_header(http_req_t *r, const char *name, const char *value);
/* Close the connection after this answer. */
void http_req_close_after(http_req_t *r);
/* Answer and free the request: status, Content-Type (NULL: none) and body
 * (copied; HEAD gets the headers only). */
/* Observe the time from this request's head to its answer (in microseconds,
 * at http_req_reply*, even when its client has gone) in h, which must
 * outlive the request. NULL: not timed. */
void http_req_time(http_req_t *r, hist_t *h);

void http_req_reply(http_req_t *r, int status, const char *content_type, const char *body,
                    size_t len);
/* True once the client is gone (an answer would be dropped). */
bool http_req_orphaned(const http_req_t *r);

#endif
