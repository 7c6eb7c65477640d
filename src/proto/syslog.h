/*
 * syslog.h - the syslog receiver (--syslog-listen udp|tcp|tls://HOST:PORT):
 * RFC 5424 and RFC 3164 messages, detected per message; on TCP/TLS octet
 * counting (RFC 6587) or LF framing, detected per connection; TLS per RFC
 * 5425 on the ingress layer's TLS. Each message becomes one record submitted
 * through ingest_submit (docs/PROTOCOLS.md has the mapping).
 */
#ifndef LOGDIST_PROTO_SYSLOG_H
#define LOGDIST_PROTO_SYSLOG_H

#include <stdint.h>

#include "core/config.h"
#include "core/tls.h"
#include "ingest/ingest.h"

struct event_base;
typedef struct syslog_listener syslog_listener_t;

/* Bind `url` (validated by config: udp://, tcp:// or tls://HOST:PORT, port 0
 * = ephemeral) on loop `base`, submitting through worker `w` (of that loop).
 * `tls` is the ingress TLS context, required for tls:// (NULL: refused). NULL
 * on failure (logged). */
syslog_listener_t *syslog_listener_new(struct event_base *base, ingest_worker_t *w,
                                       const config_t *cfg, const char *url, tls_server_t *tls);
/* The URL with the port actually bound ("udp://127.0.0.1:40123"). */
const char *syslog_listener_url(const syslog_listener_t *l);
/* Drain: stop accepting connections and reading datagrams; open connections
 * finish what they have. NULL is fine. */
void syslog_listener_stop(syslog_listener_t *l);
/* Close everything and free. NULL is fine. */
void syslog_listener_free(syslog_listener_t *l);

#endif
