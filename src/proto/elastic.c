/* elastic.c - PLACEHOLDER until the bulk API lands (see elastic.h). */
#include "proto/elastic.h"

#include "ingress/http_reply.h"

void elastic_on_head(ingest_worker_t *w, http_req_t *r)
{
    http_reply_error(r, 501, "not_implemented", "the bulk API is not built yet", -1, 0);
}
void elastic_on_request(ingest_worker_t *w, http_req_t *r)
{
    http_reply_error(r, 501, "not_implemented", "the bulk API is not built yet", -1, 0);
}
