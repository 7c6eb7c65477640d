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

#include "core/config.h"

typedef enum { ROLE_INGEST = 1, ROLE_ADMIN = 2, ROLE_READ = 4 } auth_role_t;

typedef enum {
    AUTH_OK = 0,
    AUTH_MISSING = -1,   /* no Authorization: Bearer header -> 401 */
    AUTH_INVALID = -2,   /* unknown token -> 401 */
    AUTH_FORBIDDEN = -3, /* valid token without the role -> 403 */
} auth_result_t;

typedef struct auth auth_t;

/* A new, empty token set (authentication off); NULL when out of memory. */
auth_t *auth_new(void);
/* Frees the current and every retired token set (cleansed). */
void auth_free(auth_t *a);

/* Add a token from its spec "role=ingest+read,hash=HASH[,agent=ID]".
 * Returns 0 or -1 with a message in err. Start-up only: before any thread
 * reads `a` (it grows the current set in place). */
int auth_add(auth_t *a, const char *spec, char *err, size_t errlen);

/* Config reload (the --token option; nothing else): replace the whole token
 * set by `specs` (config_t.tokens / token_count), safe while other threads
 * call auth_check/auth_enabled. Every spec is validated first: on an error
 * nothing changes and -EINVAL comes back with "tokens[i]: why" in err (never
 * the spec's hash). On success the new set is published with one atomic
 * pointer store (release; readers load it with acquire): a request is checked
 * entirely against the old set or entirely against the new one, and the
 * next request on any loop sees the new one. The replaced set is kept (not
 * freed) until auth_free, so an agent string a request got from auth_check
 * stays valid: each reload costs about 200 bytes per token of the old set.
 * n == 0 turns authentication off, n > 0 from an empty set turns it on:
 * both are allowed here. Whether a listener may then run without tokens is the
 * caller's check, the same as at start-up (a non-loopback listener needs
 * tokens or --insecure): app/reload.c runs config_validate on the config that
 * will run - the running listeners with the new tokens - before calling this. specs are borrowed (not written, not kept); a spec without a
 * NUL within CONFIG_TOKEN_MAX + 1 bytes is an error. */
#define AUTH_TOKENS_MAX 4096
int auth_replace(auth_t *a, char (*specs)[CONFIG_TOKEN_MAX + 1], size_t n, char *err,
                 size_t errlen);

/* How many times auth_replace succeeded (for the reload's report and tests). */
unsigned long long auth_generation(const auth_t *a);

/* True when at least one token is configured (authentication is on). */
bool auth_enabled(const auth_t *a);

/* Check the value of an Authorization header for `role`. With authentication
 * off, always AUTH_OK. On AUTH_OK, *agent (if not NULL) is the agent the token
 * is bound to, or NULL. */
auth_result_t auth_check(const auth_t *a, const char *authorization, unsigned roles,
                         const char **agent);

/* Write the hash of `token` (fresh random salt) into out. Returns 0 or -1.
 * Hashes any 1..4096-byte string: the strength rule is auth_token_check(),
 * applied by `logdistd --hash-token`. */
int auth_hash_token(const char *token, char *out, size_t outlen);

/* Token strength rule (`--hash-token` refuses anything weaker): only RFC 6750
 * bearer characters (A-Z a-z 0-9 - . _ ~ + /, then optional '=' padding that
 * does not count), and at least 128 bits if the characters are random: 32
 * characters when every one is a hex digit (4 bits each), otherwise 22
 * (base64, 6 bits each); and at least 8 different characters, which refuses
 * "aaaa..." and short repeated patterns. Returns 0 or -EINVAL with err. */
#define AUTH_TOKEN_MIN_HEX 32
#define AUTH_TOKEN_MIN_CHARS 22
#define AUTH_TOKEN_MIN_DISTINCT 8
int auth_token_check(const char *token, char *err, size_t errlen);

/* A new token: AUTH_TOKEN_RANDOM_BYTES bytes from getrandom() in unpadded
 * base64url (AUTH_TOKEN_GENERATED_LEN characters) into out (outlen must be
 * more than that). Returns 0 or a negative errno. */
#define AUTH_TOKEN_RANDOM_BYTES 32
#define AUTH_TOKEN_GENERATED_LEN 43
int auth_generate_token(char *out, size_t outlen);

/* Log one refusal as the event "auth_failed" (WARN, module "auth"): fields
 * `status` (401/403; left out when <= 0, e.g. a forward handshake),
 * `client` (ip:port), `reason` ("missing", "invalid", "role", "agent"),
 * `protocol` ("http", "elasticsearch", "forward") and
 * `path` (the request path without its query, cut at 200 bytes; NULL for a
 * protocol without paths), then `detail` as the message. Never pass a
 * credential in any of them. Rate-limited process-wide to
 * AUTH_LOG_PER_SEC lines a second, so a flood of bad requests cannot flood the
 * log; the first line after a refused one carries `suppressed` (how many were
 * not logged). The auth_failures metrics still count every refusal.
 * Thread-safe. */
#define AUTH_LOG_PER_SEC 10
void auth_log_failed(int status, const char *reason, const char *client, const char *protocol,
                     const char *path, const char *detail);

#endif
