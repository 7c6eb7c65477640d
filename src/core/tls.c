/*
 * tls.c - see tls.h.
 *
 * Threads: every ingest loop calls tls_server_new_ssl() on its own thread
 * while SIGHUP's tls_server_reload() replaces the context on the main thread.
 * The pointer is guarded by a mutex held only to read or swap it: a new SSL
 * takes a reference of the context under it (SSL_CTX_up_ref) and is built
 * outside it; the reload builds the new context outside it and drops the old
 * one after the swap (connections keep theirs through their SSL objects).
 */
#include "core/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define TLS12_CIPHERS "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
                      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
                      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

struct tls_server {
    char cert[1024], key[1024], client_ca[1024];
    pthread_mutex_t mu; /* guards ctx (the pointer; the context is refcounted) */
    SSL_CTX *ctx;
};

static void ssl_error(char *err, size_t errlen, const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, errlen, "%s %s: %s", what, file, e ? buf : "failed");
    ERR_clear_error();
}

static SSL_CTX *build(const tls_server_t *t, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_error(err, errlen, "TLS", "context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* Sessions are resumed from the server cache (no tickets). With client
     * certificates OpenSSL never resumes a session whose context is not set
     * (its documentation says the handshake fails; 3.0 falls back to a full
     * one), so set one. A reload builds a new context and cache, so sessions
     * never outlive the CA that verified them. */
    static const unsigned char sid_ctx[] = "logdistd";
    if (SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1) != 1) {
        ssl_error(err, errlen, "TLS", "session id context");
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1) {
        ssl_error(err, errlen, "cannot load certificate", t->cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1) {
        ssl_error(err, errlen, "cannot load key", t->key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ssl_error(err, errlen, "key does not match certificate", t->key);
        goto fail;
    }
    if (t->client_ca[0]) {
        if (SSL_CTX_load_verify_locations(ctx, t->client_ca, NULL) != 1) {
            ssl_error(err, errlen, "cannot load client CA", t->client_ca);
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->client_ca);
        if (names) SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        SSL_CTX_set_verify_depth(ctx, 8);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

tls_server_t *tls_server_new(const char *cert, const char *key, const char *client_ca, char *err,
                             size_t errlen)
{
    tls_server_t *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    strlcpy_ld(t->cert, cert, sizeof t->cert);
    strlcpy_ld(t->key, key, sizeof t->key);
    strlcpy_ld(t->client_ca, client_ca ? client_ca : "", sizeof t->client_ca);
    t->ctx = build(t, err, errlen);
    if (!t->ctx) {
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

int tls_server_reload(tls_server_t *t, char *err, size_t errlen)
{
    SSL_CTX *ctx = build(t, err, errlen);
    if (!ctx) return -1;
    pthread_mutex_lock(&t->mu);
    SSL_CTX *old = t->ctx;
    t->ctx = ctx;
    pthread_mutex_unlock(&t->mu);
    SSL_CTX_free(old); /* live connections and SSL_new in progress hold their own reference */
    return 0;
}

struct ssl_st *tls_server_new_ssl(tls_server_t *t)
{
    pthread_mutex_lock(&t->mu);
    SSL_CTX *ctx = t->ctx;
    SSL_CTX_up_ref(ctx);
    pthread_mutex_unlock(&t->mu);
    SSL *ssl = SSL_new(ctx); /* takes its own reference */
    SSL_CTX_free(ctx);
    return ssl;
}

void tls_server_free(tls_server_t *t)
{
    if (!t) return;
    SSL_CTX_free(t->ctx);
    pthread_mutex_destroy(&t->mu);
    free(t);
}
