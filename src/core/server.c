/*
 * server.c - see server.h.
 */
#include "core/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/http_reply.h"
#include "common/log.h"
#include "common/util.h"
#include "core/connlimit.h"
#include "core/metrics.h"
#include "core/slowguard.h"

#define LOGS_PATH "/api/v1/logs"
#define ACCEPT_BACKOFF_MS 100 /* after accept() fails (out of descriptors, memory) */
#define MAX_SERVERS 4         /* listeners of one process (ingest, admin) */

struct server {
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    server_role_t role;
    tls_server_t *tls;
    ingest_t *ing;
    admin_t *adm;
    connlimit_t *limit;
    slowguard_t *guard;
    uint16_t port;
    bool paused;                   /* by server_pause_accepting() */
    struct event *accept_retry_ev; /* re-enables the listener after an accept error */
    uint64_t last_accept_warn_ms;
    uint64_t last_tls_warn_ms;
};

/* evconnlistener's error callback gets the evhttp (the listener's user data),
 * not our server: the few servers of the process are found by it here. */
static server_t *g_servers[MAX_SERVERS];

static server_t *server_of(const struct evhttp *http)
{
    for (int i = 0; i < MAX_SERVERS; i++)
        if (g_servers[i] && g_servers[i]->http == http) return g_servers[i];
    return NULL;
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
    server_t *s = arg;
    struct evconnlistener *l = s->sock ? evhttp_bound_socket_get_listener(s->sock) : NULL;
    if (l && !s->paused) evconnlistener_enable(l);
}

/* accept() failed for a reason that does not go away by itself (EMFILE,
 * ENFILE, ENOBUFS, ENOMEM). The listening socket stays readable, so without
 * this libevent would retry at once, forever, at full CPU: stop accepting for
 * ACCEPT_BACKOFF_MS instead, and warn at most once a second. */
static void on_accept_error(struct evconnlistener *l, void *ctx)
{
    int err = EVUTIL_SOCKET_ERROR();
    server_t *s = server_of(ctx);
    METRIC_ADD(accept_errors, 1);
    evconnlistener_disable(l);
    if (!s) return;
    uint64_t now = now_ms();
    if (now - s->last_accept_warn_ms >= 1000) {
        s->last_accept_warn_ms = now;
        log_warn("server", "port %u: accept failed: %s; not accepting for %d ms", s->port,
                 evutil_socket_error_to_string(err), ACCEPT_BACKOFF_MS);
    }
    if (s->accept_retry_ev) {
        struct timeval tv = {0, ACCEPT_BACKOFF_MS * 1000};
        evtimer_add(s->accept_retry_ev, &tv);
    }
}

static bool path_is(const char *uri, const char *path)
{
    size_t n = strlen(path);
    return !strncmp(uri, path, n) && (uri[n] == 0 || uri[n] == '?' || uri[n] == '/');
}

static void dispatch(struct evhttp_request *req, void *arg)
{
    server_t *s = arg;
    slowguard_progress(s->guard, evhttp_request_get_connection(req));
    int refuse = connlimit_check(s->limit, req);
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
    bool logs = path_is(uri, LOGS_PATH);
    if (logs && s->role != SERVE_ADMIN)
        ingest_handle(s->ing, req);
    else if (!logs && (s->role != SERVE_INGEST || path_is(uri, "/health")))
        admin_handle(s->adm, req);
    else
        http_reply_error(req, 404, "not_found", "no such endpoint on this listener", -1, 0);
}

/* evhttp is closing a connection (connlimit's close hook; the socket is
 * still open). libevent would free the TLS state without a close_notify:
 * the client then sees a truncated stream and OpenSSL evicts the session
 * from the server cache as if the connection had been cut (RFC 5246 7.2.1),
 * so no session could ever be resumed. Send close_notify first, as nginx
 * does; best effort on a non-blocking socket. */
static void tls_conn_closing(struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    if (!ssl || !SSL_is_init_finished(ssl)) return;
    if (SSL_shutdown(ssl) < 0) /* socket full or gone: still keep the session */
        SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN);
    ERR_clear_error();
}

/* The connection got a dead end (see refuse_bev): tell evhttp it ended, so
 * it frees the connection and closes the socket. Runs one loop turn after
 * the accept, once evhttp has set its callbacks on the bufferevent. */
static void refuse_now(evutil_socket_t fd, short what, void *arg)
{
    struct bufferevent *bev = arg;
    bufferevent_event_cb ev = NULL;
    bufferevent_getcb(bev, NULL, NULL, &ev, NULL);
    if (ev) bufferevent_trigger_event(bev, BEV_EVENT_EOF | BEV_EVENT_READING, 0);
    bufferevent_decref(bev);
}

/* Fail closed: a TLS listener that cannot set up TLS for a connection must
 * not serve it at all. evhttp falls back to a plain socket bufferevent when
 * bevcb returns NULL, so return one end of a bufferevent pair instead: it is
 * not attached to the socket (a pair ignores setfd), nothing is ever read
 * from or written to the client, and refuse_now() ends the connection on the
 * next loop turn (evhttp then closes the descriptor). NULL only when even
 * that cannot be allocated (evhttp would then serve plain HTTP: the caller
 * aborts instead, see bevcb). */
static struct bufferevent *refuse_bev(struct event_base *base)
{
    struct bufferevent *pair[2] = {NULL, NULL};
    if (bufferevent_pair_new(base, 0, pair)) return NULL;
    bufferevent_free(pair[1]);
    bufferevent_incref(pair[0]); /* dropped by refuse_now */
    struct timeval now = {0, 0};
    if (event_base_once(base, -1, EV_TIMEOUT, refuse_now, pair[0], &now)) {
        /* no timer: the connection stays mute until the idle timeout */
        bufferevent_decref(pair[0]);
    }
    return pair[0];
}

/* evhttp asks for the bufferevent of each accepted connection: TLS or plain,
 * watched by the slow-client guard. On a TLS listener a connection whose TLS
 * state cannot be created is closed without a byte (tls_setup_failures). */
static struct bufferevent *bevcb(struct event_base *base, void *arg)
{
    server_t *s = arg;
    struct bufferevent *bev;
    if (s->tls) {
        SSL *ssl = tls_server_new_ssl(s->tls);
        bev = ssl ? bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                   BEV_OPT_CLOSE_ON_FREE)
                  : NULL;
        if (!bev) {
            /* a failed bufferevent_openssl_socket_new may or may not have freed
             * ssl (libevent frees it when it failed late): leak it rather than
             * risk a double free; this only happens out of memory */
            METRIC_ADD(tls_setup_failures, 1);
            uint64_t now = now_ms();
            if (now - s->last_tls_warn_ms >= 1000) {
                s->last_tls_warn_ms = now;
                log_warn("server", "port %u: cannot set up TLS for a connection (%s); closed",
                         s->port, ssl ? "bufferevent" : "SSL_new");
            }
            bev = refuse_bev(base);
            if (!bev) { /* NULL would make evhttp serve the connection as plain HTTP */
                log_error("server", "port %u: out of memory refusing a connection; aborting "
                          "rather than serving TLS clients in plain text", s->port);
                abort();
            }
            return bev;
        }
    } else {
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (bev) slowguard_track(s->guard, bev);
    return bev;
}

server_t *server_new(struct event_base *base, const config_t *cfg, const char *host,
                     uint16_t port, server_role_t role, tls_server_t *tls, ingest_t *ing,
                     admin_t *adm)
{
    server_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->role = role;
    s->tls = tls;
    s->ing = ing;
    s->adm = adm;
    s->http = evhttp_new(base);
    if (!s->http) goto fail;
    evhttp_set_max_headers_size(s->http, (ev_ssize_t)cfg->max_header_bytes);
    /* libevent answers a body over its limit with a fixed HTML 413; with twice
     * our limit there, ingest sees the usual overshoot and answers it in JSON */
    evhttp_set_max_body_size(s->http, (ev_ssize_t)(role == SERVE_ADMIN ? (1u << 20)
                                                                        : 2 * cfg->max_body_bytes));
    evhttp_set_timeout(s->http, (int)cfg->idle_timeout_s);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(s->http, dispatch, s);
    s->limit = connlimit_new(cfg->max_connections, cfg->max_requests_per_conn_s);
    if (!s->limit) goto fail;
    if (tls) connlimit_on_close(s->limit, tls_conn_closing);
    s->guard = slowguard_new(base, cfg->idle_timeout_s * 1000u);
    if (!s->guard) goto fail;
    evhttp_set_bevcb(s->http, bevcb, s);
    s->sock = evhttp_bind_socket_with_handle(s->http, host, port);
    if (!s->sock) {
        log_error("server", "cannot listen on %s:%u", host, port);
        goto fail;
    }
    int i = 0;
    while (i < MAX_SERVERS && g_servers[i]) i++;
    if (i == MAX_SERVERS) goto fail; /* its accept errors could not be backed off */
    g_servers[i] = s;
    s->accept_retry_ev = evtimer_new(base, on_accept_retry, s);
    if (!s->accept_retry_ev) goto fail;
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(s->sock), on_accept_error);
    evutil_socket_t fd = evhttp_bound_socket_get_fd(s->sock);
    struct sockaddr_storage ss = {0};
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    return s;
fail:
    server_free(s);
    return NULL;
}

uint16_t server_port(const server_t *s)
{
    return s->port;
}

void server_pause_accepting(server_t *s, bool paused)
{
    if (!s || !s->sock) return;
    struct evconnlistener *l = evhttp_bound_socket_get_listener(s->sock);
    if (!l) return;
    s->paused = paused;
    if (paused)
        evconnlistener_disable(l);
    else
        evconnlistener_enable(l);
}

void server_stop_accepting(server_t *s)
{
    if (s && s->sock) {
        evhttp_del_accept_socket(s->http, s->sock);
        s->sock = NULL;
    }
}

void server_free(server_t *s)
{
    if (!s) return;
    for (int i = 0; i < MAX_SERVERS; i++)
        if (g_servers[i] == s) g_servers[i] = NULL;
    if (s->accept_retry_ev) event_free(s->accept_retry_ev);
    if (s->http) evhttp_free(s->http);
    slowguard_free(s->guard); /* after evhttp_free: drops the last references */
    connlimit_free(s->limit); /* after evhttp_free: its close callbacks use it */
    free(s);
}
