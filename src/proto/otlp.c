/* otlp.c - PLACEHOLDER until OTLP/HTTP lands (see otlp.h). */
#include "proto/otlp.h"

#include "ingress/http_reply.h"

void otlp_on_head(ingest_worker_t *w, http_req_t *r)
{
    http_reply_error(r, 501, "not_implemented", "OTLP is not built yet", -1, 0);
}
void otlp_on_request(ingest_worker_t *w, http_req_t *r)
{
    http_reply_error(r, 501, "not_implemented", "OTLP is not built yet", -1, 0);
}
