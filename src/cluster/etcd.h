/*
 * etcd.h - an etcd v3 client over the JSON gateway: libcurl multi driven by a
 * libevent base. The bytes are etcd_proto.h's; this file is the HTTP.
 *
 * Contract:
 *   - Everything runs on the thread of `base` (the cluster thread): etcd_new,
 *     etcd_call, etcd_watch, etcd_free and every callback. No locks inside.
 *   - Several endpoints (comma-separated URLs): requests go to the current one;
 *     a transport error, a timeout or a 502/503/504 moves to the next and the
 *     request is tried there, each endpoint at most once per request. When
 *     every one failed the request ends with -EHOSTUNREACH and the reason.
 *   - Before the first request (and after a failover) GET /version picks the
 *     API prefix ("/v3" for 3.4+, etcd_api_prefix); with a user, POST
 *     <api>/auth/authenticate gets a token sent as `Authorization` on every
 *     request; an answer saying the token is invalid or expired gets a new
 *     token once and the request is sent again.
 *   - TLS: the CA file, client certificate and key are handed to libcurl
 *     (https:// endpoints).
 *   - Bounds: connect and request timeouts (etcd_opts_t), every answer at most
 *     ETCD_MSG_MAX bytes (bigger: -EMSGSIZE), one watch at a time with each of
 *     its messages at most ETCD_MSG_MAX; a watch has no total timeout but TCP
 *     keep-alive (a dead peer ends it).
 */
#ifndef LOGDIST_ETCD_H
#define LOGDIST_ETCD_H

#include <stddef.h>

#include "cluster/etcd_proto.h"

struct event_base;
typedef struct etcd etcd_t;

typedef struct {
    const char *endpoints; /* "http://h:p[,https://h:p...]" (at most ETCD_ENDPOINTS_MAX) */
    const char *cacert, *cert, *key; /* PEM files, "" or NULL = none */
    const char *user, *password;     /* "" or NULL = no auth */
    long connect_timeout_ms;         /* default 1000 */
    long request_timeout_ms;         /* default 3000 */
} etcd_opts_t;

#define ETCD_ENDPOINTS_MAX 16

/* rc: 0 (a 2xx answer in body[0..len)), -EPROTO (etcd answered an error:
 * body holds it, err its message), -EHOSTUNREACH (no endpoint answered; err
 * says the last reason), -EMSGSIZE or -ENOMEM. body is valid during the call. */
typedef void (*etcd_done_fn)(void *arg, int rc, const char *body, size_t len, const char *err);

/* NULL on ENOMEM or bad endpoints (err says which). The options' strings are copied. */
etcd_t *etcd_new(struct event_base *base, const etcd_opts_t *o, char *err, size_t errlen);

/* Cancel everything in flight (no callback runs) and free. NULL is fine. */
void etcd_free(etcd_t *e);

/* POST <endpoint><api prefix><path> with body (taken: freed by the client, also on
 * error); done runs later, exactly once, on the base's thread. 0 or -ENOMEM
 * (then done never runs). path: "/kv/range", "/kv/txn", "/lease/grant"... */
int etcd_call(etcd_t *e, const char *path, char *body, etcd_done_fn done, void *arg);

/* The watch: on_msg for each message of the stream (parsed, freed after the
 * call), then on_end once when the stream ends (rc: 0 = closed by etcd,
 * -EHOSTUNREACH = transport error or no endpoint, -EPROTO = an error message or
 * answer, -EMSGSIZE = a message over the cap, -ECANCELED = etcd canceled it, e.g.
 * compaction: the last message said why). At most one watch: -EBUSY while one
 * runs. body (etcd_req_watch) is taken. */
typedef void (*etcd_watch_msg_fn)(void *arg, const etcd_watch_msg_t *m);
typedef void (*etcd_watch_end_fn)(void *arg, int rc, const char *err);
int etcd_watch(etcd_t *e, char *body, etcd_watch_msg_fn on_msg, etcd_watch_end_fn on_end,
               void *arg);

/* Stop the running watch (on_end is not called). */
void etcd_watch_cancel(etcd_t *e);

/* The endpoint requests go to now (for logs and /api/v1/cluster). */
const char *etcd_endpoint(const etcd_t *e);

#endif
