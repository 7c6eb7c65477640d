/*
 * auth_http.h - the HTTP side of core/auth.h, on the request object of
 * ingress/http.h: reading the Authorization header, answering 401/403,
 * counting and logging refusals with the client address (never the token).
 * Called from a handler's on_head, before any body byte is read: a refusal
 * answers the request at once (the body is never read).
 */
#ifndef LOGDIST_AUTH_HTTP_H
#define LOGDIST_AUTH_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/auth.h"
#include "ingress/http.h"

/* HTTP gate: check the request's Authorization header for any of `roles`
 * (a mask). On refusal, answers 401 (with WWW-Authenticate: Bearer) or 403 with
 * a JSON body, counts it in metrics, logs the client address (never the
 * token) and returns false: the request is gone. On success returns true and
 * sets *agent (may be NULL) to the agent the token is bound to, or NULL (a
 * string owned by the auth object, valid as long as it lives). */
bool auth_http_require(const auth_t *a, http_req_t *req, unsigned roles, const char **agent);

/* Answer 403 for a token bound to another agent (counted and logged). */
void auth_http_wrong_agent(http_req_t *req, const char *bound, const char *claimed,
                           size_t claimed_len);

/* Answer 403 {"error":"forbidden","message":msg[,"offset":offset]} for a
 * packet whose agent_id a bound token cannot accept (null, a number, a
 * repeated key); counted as wrong_agent and logged. offset < 0 omits it. */
void auth_http_bad_agent(http_req_t *req, const char *bound, const char *msg, long long offset);

#endif
