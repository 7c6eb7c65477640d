/*
 * ctl_http.h - logdistctl's one HTTP request (libcurl easy): method + path under
 * --url, an optional JSON body, the bearer token as a header (never printed, never
 * logged), TLS always verified (--cacert, --cert/--key for mutual TLS), no redirects,
 * http/https only, the whole request bounded by --timeout and the answer by
 * CTL_MAX_ANSWER bytes.
 */
#ifndef LOGDIST_CTL_HTTP_H
#define LOGDIST_CTL_HTTP_H

#include <stddef.h>

#include "ctl_args.h"

#define CTL_MAX_ANSWER (64u << 20) /* bytes of one answer */

typedef struct {
    long status;
    char *body; /* NUL-terminated (malloc'd; NULL when empty) */
    size_t len;
} ctl_resp_t;

/* Once per process, before any request. 0 or -1. */
int ctl_http_init(void);
void ctl_http_cleanup(void);

/* Send `method` `path` (e.g. "/api/v1/analyzers/a1") with `body` (JSON, may be NULL).
 * Returns 0 with *r filled (any HTTP status: the caller judges it), or
 * CTL_EXIT_CONNECT with one line in err (cannot connect, TLS, timeout, answer too
 * large). Free r with ctl_resp_free. */
int ctl_http(const ctl_opts_t *o, const char *token, const char *method, const char *path,
             const char *body, ctl_resp_t *r, char *err, size_t errlen);

void ctl_resp_free(ctl_resp_t *r);

#endif
