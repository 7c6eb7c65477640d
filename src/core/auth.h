/*
 * auth.h - bearer tokens with roles, checked at the HTTP layer.
 *
 * Tokens are configured only as salted hashes ("--token role=ingest+read,
 * hash=HASH[,agent=ID]"); a clear token never appears in configuration, logs
 * or memory beyond the request being checked. HASH is
 *   sha256$<32 hex salt>$<64 hex SHA-256(salt || token)>
 * as printed by `logdistd --hash-token TOKEN`. Tokens are random secrets, not
 * passwords, so one salted SHA-256 is the right cost (one per request); the
 * comparison is constant-time. A token bound to an agent may only submit
 * packets as that agent.
 */
#ifndef LOGDIST_AUTH_H
#define LOGDIST_AUTH_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { ROLE_INGEST = 1, ROLE_ADMIN = 2, ROLE_READ = 4 } auth_role_t;

typedef enum {
    AUTH_OK = 0,
    AUTH_MISSING = -1,   /* no Authorization: Bearer header -> 401 */
    AUTH_INVALID = -2,   /* unknown token -> 401 */
    AUTH_FORBIDDEN = -3, /* valid token without the role -> 403 */
} auth_result_t;

typedef struct auth auth_t;

auth_t *auth_new(void);
void auth_free(auth_t *a);

/* Add a token from its spec "role=ingest+read,hash=HASH[,agent=ID]".
 * Returns 0 or -1 with a message in err. */
int auth_add(auth_t *a, const char *spec, char *err, size_t errlen);

/* True when at least one token is configured (authentication is on). */
bool auth_enabled(const auth_t *a);

/* Check the value of an Authorization header for `role`. With authentication
 * off, always AUTH_OK. On AUTH_OK, *agent (if not NULL) is the agent the token
 * is bound to, or NULL. */
auth_result_t auth_check(const auth_t *a, const char *authorization, unsigned roles,
                         const char **agent);

struct evhttp_request;

/* HTTP gate: check the request's Authorization header for any of `roles`
 * (a mask). On refusal, answers 401 (with WWW-Authenticate: Bearer) or 403 with
 * a JSON body, counts it in metrics, logs the client address (never the
 * token) and returns false. On success returns true and sets *agent (may be
 * NULL) to the agent the token is bound to, or NULL. */
bool auth_http_require(const auth_t *a, struct evhttp_request *req, unsigned roles,
                       const char **agent);

/* Answer 403 for a token bound to another agent (counted and logged). */
void auth_http_wrong_agent(struct evhttp_request *req, const char *bound, const char *claimed,
                           size_t claimed_len);

/* Write the hash of `token` (fresh random salt) into out. Returns 0 or -1. */
int auth_hash_token(const char *token, char *out, size_t outlen);

#endif
