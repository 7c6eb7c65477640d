/* forward.c - PLACEHOLDER until the forward receiver lands (see forward.h). */
#include "proto/forward.h"

#include "common/log.h"

forward_listener_t *forward_listener_new(struct event_base *base, ingest_worker_t *w,
                                         const config_t *cfg, const char *host, uint16_t port,
                                         tls_server_t *tls)
{
    log_error("forward", "not built yet");
    return NULL;
}
uint16_t forward_listener_port(const forward_listener_t *l) { return 0; }
void forward_listener_stop(forward_listener_t *l) {}
void forward_listener_free(forward_listener_t *l) {}
