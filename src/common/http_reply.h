/*
 * http_reply.h - JSON responses for the evhttp handlers (ingest and admin):
 * every answer of logdistd, success or error, is a JSON body.
 */
#ifndef LOGDIST_HTTP_REPLY_H
#define LOGDIST_HTTP_REPLY_H

#include <jansson.h>
#include <stddef.h>

struct evhttp_request;

/* Send `body` (stolen: the reference is released) with the status code. */
void http_reply_json(struct evhttp_request *req, int status, json_t *body);

/* Send {"error": code, "message": message[, "offset": offset]}; offset < 0 omits it.
 * Adds "Retry-After: retry_after_s" when retry_after_s > 0. */
void http_reply_error(struct evhttp_request *req, int status, const char *code,
                      const char *message, long long offset, int retry_after_s);

/* Standard reason phrase for a status code. */
const char *http_reason(int status);

#endif
