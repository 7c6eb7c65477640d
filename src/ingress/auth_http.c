/*
 * auth_http.c - the HTTP side of auth.h: reading the Authorization header of
 * an http_req_t (ingress/http.h), answering 401/403, counting and logging
 * refusals with the client address.
 */
#include <stdio.h>

#include "ingress/http_reply.h"
#include "ingress/auth_http.h"
#include "core/metrics.h"
#include "ingress/http.h"

static void peer_of(const http_req_t *req, char *out, size_t n)
{
    const char *addr = http_req_peer_addr(req);
    snprintf(out, n, "%s:%u", addr ? addr : "?", http_req_peer_port(req));
}

bool auth_http_require(const auth_t *a, http_req_t *req, unsigned roles, const char **agent)
{
    const char *h = http_req_header(req, "Authorization");
    auth_result_t r = auth_check(a, h, roles, agent);
    if (r == AUTH_OK) return true;
    char peer[80];
    peer_of(req, peer, sizeof peer);
    const char *uri = http_req_uri(req);
    if (r == AUTH_FORBIDDEN) {
        METRIC_ADD(auth_failures[AUTHFAIL_ROLE], 1);
        auth_log_failed(403, "role", peer, "http", uri, "token without the required role");
        http_reply_error(req, 403, "forbidden", "this token does not have the required role", -1,
                         0);
        return false;
    }
    bool missing = r == AUTH_MISSING;
    METRIC_ADD(auth_failures[missing ? AUTHFAIL_MISSING : AUTHFAIL_INVALID], 1);
    auth_log_failed(401, missing ? "missing" : "invalid", peer, "http", uri,
                    missing ? "no bearer token" : "invalid token");
    http_req_add_header(req, "WWW-Authenticate", "Bearer realm=\"logdist\"");
    http_reply_error(req, 401, "unauthorized",
                     missing ? "an Authorization: Bearer token is required" : "invalid token", -1,
                     0);
    return false;
}

void auth_http_wrong_agent(http_req_t *req, const char *bound, const char *claimed,
                           size_t claimed_len)
{
    char peer[80];
    peer_of(req, peer, sizeof peer);
    METRIC_ADD(auth_failures[AUTHFAIL_AGENT], 1);
    char detail[300];
    snprintf(detail, sizeof detail, "token of agent '%s' used for agent '%.*s'", bound,
             (int)(claimed_len > 100 ? 100 : claimed_len), claimed);
    auth_log_failed(403, "agent", peer, "http", http_req_uri(req), detail);
    http_reply_error(req, 403, "forbidden", "this token may only submit as its own agent", -1, 0);
}

void auth_http_bad_agent(http_req_t *req, const char *bound, const char *msg, long long offset)
{
    char peer[80];
    peer_of(req, peer, sizeof peer);
    METRIC_ADD(auth_failures[AUTHFAIL_AGENT], 1);
    char detail[400];
    snprintf(detail, sizeof detail, "token of agent '%s' with an unusable agent_id: %.200s", bound,
             msg);
    auth_log_failed(403, "agent", peer, "http", http_req_uri(req), detail);
    http_reply_error(req, 403, "forbidden", msg, offset, 0);
}
