/*
 * sender.h - asynchronous HTTP client for deliveries and health checks:
 * libcurl's multi interface driven by a libevent base (one thread).
 *
 * Connections are kept alive and reused per host by the multi handle's
 * connection cache; easy handles are pooled. The body passed to sender_post()
 * is not copied: it must stay valid until the completion callback runs. Every
 * request has a connect and a total timeout. TLS (a later issue) plugs in here.
 */
#ifndef LOGDIST_SENDER_H
#define LOGDIST_SENDER_H

#include <stddef.h>

struct event_base;
typedef struct sender sender_t;

typedef struct {
    int ok;           /* 1 when the transfer completed with a 2xx status */
    int tls_error;    /* 1 when the TLS handshake or certificate verification failed */
    int cancelled;    /* 1 when sender_free() abandoned the transfer */
    long http_status; /* 0 when no response was received */
    const char *error;/* human-readable reason when !ok (valid during the callback) */
    double seconds;   /* total time of the transfer */
    /* the X-Logdist-Weight response header's value (the last one if repeated;
     * at most SENDER_HINT_MAX bytes are kept, a longer one is cut to
     * SENDER_HINT_MAX + 1 so the parser refuses it), or NULL when absent;
     * valid during the callback */
    const char *weight_hint;
} sender_result_t;

#define SENDER_HINT_MAX 32

typedef void (*sender_done_fn)(void *ctx, const sender_result_t *res);

/* Client certificate for mutual TLS with one analyzer (NULL or "" = none). */
typedef struct {
    const char *client_cert;
    const char *client_key;
} sender_peer_t;

/* Create a sender on `base`. HTTPS peers are always verified (certificate and
 * host name, TLS 1.2+) against `ca_file`, or the system store when it is NULL
 * or "". Returns NULL on failure. */
sender_t *sender_new(struct event_base *base, long connect_timeout_ms, const char *ca_file);

/* Abort all transfers (their callbacks run once more, with res.cancelled set,
 * so their contexts can be freed; they must not start new transfers) and free. */
void sender_free(sender_t *s);

/* POST `body[0..len)` as application/json with header X-Logdist-Batch-Id: batch_id.
 * Returns 0 (done() will be called exactly once, from the event loop) or -1. */
int sender_post(sender_t *s, const char *url, const sender_peer_t *peer, const char *body,
                size_t len, const char *batch_id, long timeout_ms, sender_done_fn done,
                void *ctx);

/* GET url (health check). Same contract as sender_post(). */
int sender_get(sender_t *s, const char *url, const sender_peer_t *peer, long timeout_ms,
               sender_done_fn done, void *ctx);

/* Another transport behind the same calls (as store/config_store.h does):
 * in-process tests drive the delivery layer with a fake sender. Each op has
 * the contract of the function of the same name; `free` cancels what is in
 * flight (callbacks with cancelled set) and frees impl. */
typedef struct {
    int (*post)(void *impl, const char *url, const sender_peer_t *peer, const char *body,
                size_t len, const char *batch_id, long timeout_ms, sender_done_fn done,
                void *ctx);
    int (*get)(void *impl, const char *url, const sender_peer_t *peer, long timeout_ms,
               sender_done_fn done, void *ctx);
    void (*free)(void *impl);
} sender_ops_t;

/* Config reload (delivery thread): the connect timeout of requests started
 * from now on (curl sender; another transport ignores it). */
void sender_set_connect_timeout(sender_t *s, long connect_timeout_ms);

/* A sender that forwards to ops/impl (ops must outlive it). NULL on ENOMEM. */
sender_t *sender_new_ops(const sender_ops_t *ops, void *impl);


#endif
