/*
 * forward.h - the Fluent forward protocol receiver (--forward-listen
 * HOST:PORT): Message, Forward, PackedForward and CompressedPackedForward
 * modes (msgpack-c), acks after the records are queued (or in the WAL), and
 * the optional shared-key handshake (--forward-shared-key).
 */
#ifndef LOGDIST_PROTO_FORWARD_H
#define LOGDIST_PROTO_FORWARD_H

#include <stdint.h>

#include "core/config.h"
#include "core/tls.h"
#include "ingest/ingest.h"

struct event_base;
typedef struct forward_listener forward_listener_t;

/* Bind host:port (0 = ephemeral) on loop `base`, submitting through worker `w`
 * (of that loop). `tls` may be NULL (plain TCP). NULL on failure (logged). */
forward_listener_t *forward_listener_new(struct event_base *base, ingest_worker_t *w,
                                         const config_t *cfg, const char *host, uint16_t port,
                                         tls_server_t *tls);
uint16_t forward_listener_port(const forward_listener_t *l);
/* Drain: stop accepting; open connections finish what they have. NULL is fine. */
void forward_listener_stop(forward_listener_t *l);
/* Close everything and free. NULL is fine. */
void forward_listener_free(forward_listener_t *l);

#endif
