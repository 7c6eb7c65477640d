/* syslog.c - PLACEHOLDER until the syslog receiver lands (see syslog.h). */
#include "proto/syslog.h"

#include "common/log.h"

syslog_listener_t *syslog_listener_new(struct event_base *base, ingest_worker_t *w,
                                       const config_t *cfg, const char *url, tls_server_t *tls)
{
    log_error("syslog", "not built yet: %s", url);
    return NULL;
}
const char *syslog_listener_url(const syslog_listener_t *l) { return ""; }
void syslog_listener_stop(syslog_listener_t *l) {}
void syslog_listener_free(syslog_listener_t *l) {}
