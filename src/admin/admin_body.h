/*
 * admin_body.h - the admin API's JSON request bodies, parsed by pure functions: bytes in,
 * a checked request or an error out. No I/O, no HTTP, no state: admin.c calls them and
 * turns the result into a reply; tests/fuzz/fuzz_admin_body.c fuzzes them directly.
 *
 *   POST   /api/v1/analyzers        admin_body_parse_add()
 *   PUT    /api/v1/analyzers/<id>   admin_body_parse_update()
 *   DELETE /api/v1/deadletter       admin_body_parse_purge()  (a body is optional there)
 *
 * Contract, every function:
 *   - `body` is read only when len <= ADMIN_BODY_MAX (it may be NULL otherwise); a
 *     longer body is refused with 413 body_too_large before any byte is looked at;
 *   - a body must be one JSON object with no duplicate key (jansson, JSON_REJECT_DUPLICATES;
 *     \u0000 is refused), holding only the keys the request allows, each of its type;
 *   - returns 0 and fills the output, or a negative errno (-EMSGSIZE: too large,
 *     -EINVAL: refused, -ENOMEM) with the output untouched; on error, `why` (optional)
 *     gets the HTTP status (400, 413 or 503), the error code of docs/API.md and the
 *     byte offset of a JSON syntax error (-1 otherwise), and `err` (optional) one line
 *     for a person;
 *   - the analyzer allow-list (config_analyzer_allowed) is policy, not syntax: callers
 *     apply it to the parsed URLs.
 */
#ifndef LOGDIST_ADMIN_BODY_H
#define LOGDIST_ADMIN_BODY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "store/deadletter.h"

#define ADMIN_BODY_MAX (64 * 1024)   /* bytes of one request body */
#define ADMIN_PURGE_MAX_IDS 4096     /* batch ids in one purge */
#define ADMIN_WEIGHT_MAX 1e12        /* as config_check_analyzer() */

typedef struct {
    int status;       /* 400, 413 or 503 */
    const char *code; /* "bad_json", "bad_request", "bad_weight", "body_too_large",
                         "out_of_memory" (static strings) */
    long long offset; /* byte offset of a JSON syntax error, else -1 */
} admin_body_error_t;

/* POST /api/v1/analyzers: {"id","url"[,"weight","health_url","client_cert","client_key",
 * "slow_start_ms"]} (slow_start_ms an integer 0..3600000: this analyzer's window).
 * On success *spec is complete and passed config_check_analyzer() (id syntax, weight
 * 0..1e12 defaulting to 1, http(s) URLs without credentials, health_url derived from url
 * when absent). */
int admin_body_parse_add(const char *body, size_t len, analyzer_spec_t *spec,
                         admin_body_error_t *why, char *err, size_t errlen);

/* What a PUT changes; a field not in the body is left as it is. */
typedef struct {
    bool has_weight;
    double weight;                          /* 0..ADMIN_WEIGHT_MAX */
    int drained;                            /* -1 unchanged, 0 undrain, 1 drain */
    int64_t slow_start_ms;                  /* -1 unchanged, else 0..3600000 */
    char url[CONFIG_URL_MAX + 1];           /* "" = unchanged */
    char health_url[CONFIG_URL_MAX + 1];    /* "" = unchanged */
} admin_update_t;

/* PUT /api/v1/analyzers/<id>: {["weight","url","health_url","drained","slow_start_ms","id"]};
 * "drained" is a boolean (true: no new records, the weight is kept); "id", when there, must equal
 * `id` (ids cannot change). url and health_url must be non-empty strings of at most CONFIG_URL_MAX
 * bytes (their URL syntax is checked where the spec is rebuilt, deliver_analyzer_update).
 * client_cert/client_key cannot be changed by PUT: refused. */
int admin_body_parse_update(const char *body, size_t len, const char *id, admin_update_t *u,
                            admin_body_error_t *why, char *err, size_t errlen);

/* DELETE /api/v1/deadletter with a body: {"batch_ids":[...]}, at most
 * ADMIN_PURGE_MAX_IDS strings of 1..DEADLETTER_ID_MAX bytes. On success *ids is a
 * malloc'd array of *n malloc'd strings, never NULL, even for an empty list (NULL ids
 * mean "purge everything" to deadletter_purge); admin_body_free_ids frees both. */
int admin_body_parse_purge(const char *body, size_t len, char ***ids, size_t *n,
                           admin_body_error_t *why, char *err, size_t errlen);
void admin_body_free_ids(char **ids, size_t n);

#endif
