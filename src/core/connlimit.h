/*
 * connlimit.h - bounds on client connections of one HTTP listener: how many
 * may be open at once, and how many requests per second each may make.
 *
 * The server calls connlimit_check() first for every request. A connection is
 * tracked from its first request until it closes (libevent 2.1 has no hook at
 * accept time that also sees the close; connections that never send a request
 * are closed by the listener's idle timeout). A new connection over the limit
 * gets 503 and is closed; a request over its connection's rate gets 429 with
 * Retry-After. Both are counted (connections_refused, requests_rate_limited).
 */
#ifndef LOGDIST_CONNLIMIT_H
#define LOGDIST_CONNLIMIT_H

#include <stdint.h>

typedef struct connlimit connlimit_t;

struct evhttp_request;
struct evhttp_connection;

/* Called when a tracked connection closes, before evhttp frees it (its
 * bufferevent and socket are still there). */
typedef void (*connlimit_close_fn)(struct evhttp_connection *evcon);

/* max_conns: open connections (0 = unlimited); max_rps: requests per second
 * per connection with a burst of max_rps (0 = unlimited). */
connlimit_t *connlimit_new(uint32_t max_conns, uint32_t max_rps);

/* Call fn (may be NULL: none) for each tracked connection as it closes. */
void connlimit_on_close(connlimit_t *c, connlimit_close_fn fn);

/* Admit a request: 0, or the HTTP status to refuse it with (503 connection
 * limit, 429 rate). The connlimit must outlive the evhttp (free it after
 * evhttp_free: close callbacks use it). */
int connlimit_check(connlimit_t *c, struct evhttp_request *req);

void connlimit_free(connlimit_t *c);

#endif
