/*
 * http_reply.c - see http_reply.h.
 */
#include "ingress/http_reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void http_reply_json(http_req_t *r, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) { /* out of memory: still a JSON answer, from static text */
        static const char oom[] = "{\"error\":\"out_of_memory\",\"message\":\"out of memory\"}\n";
        http_req_reply(r, status, "application/json", oom, sizeof oom - 1);
        return;
    }
    size_t n = strlen(text);
    char *nl = realloc(text, n + 2); /* one line: the body ends with a newline */
    if (nl) {
        text = nl;
        text[n++] = '\n';
        text[n] = 0;
    }
    http_req_reply(r, status, "application/json", text, n);
    free(text);
}

void http_reply_error(http_req_t *r, int status, const char *code, const char *message,
                      long long offset, int retry_after_s)
{
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(code));
    json_object_set_new(o, "message", json_string(message));
    if (offset >= 0) json_object_set_new(o, "offset", json_integer(offset));
    if (retry_after_s > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", retry_after_s);
        http_req_add_header(r, "Retry-After", v);
        json_object_set_new(o, "retry_after_s", json_integer(retry_after_s));
    }
    http_reply_json(r, status, o);
}
