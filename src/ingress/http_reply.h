/*
 * http_reply.h - JSON responses for the HTTP endpoints (ingest, admin API,
 * /health) on the request object of ingress/http.h: every answer of logdistd,
 * success or error, is a JSON body. Each function answers the request, which
 * frees it (http_req_reply): the caller must not touch it afterwards.
 */
#ifndef LOGDIST_HTTP_REPLY_H
#define LOGDIST_HTTP_REPLY_H

#include <jansson.h>
#include <stddef.h>

#include "ingress/http.h"

/* Send `body` (stolen: the reference is released) with the status code. */
void http_reply_json(http_req_t *r, int status, json_t *body);

/* Send {"error": code, "message": message[, "offset": offset]}; offset < 0 omits it.
 * Adds "Retry-After: retry_after_s" and "retry_after_s" when retry_after_s > 0. */
void http_reply_error(http_req_t *r, int status, const char *code, const char *message,
                      long long offset, int retry_after_s);

#endif
