/*
 * tls.h - server-side TLS for the HTTP listeners (OpenSSL).
 *
 * TLS 1.2 and 1.3 only, forward-secret AEAD ciphers for 1.2, server cipher
 * preference, no compression, no renegotiation. With a client CA, clients must
 * present a certificate signed by it (mutual TLS). Sessions resume from the
 * server's session cache (a session id context is set, as mutual TLS needs;
 * no tickets). tls_server_reload() builds a
 * fresh context from the same files (SIGHUP): new connections use it, existing
 * ones keep theirs, and a reload that fails keeps the old context.
 * tls_server_new_ssl() may be called from any thread (every ingest loop) while
 * tls_server_reload() runs on another.
 */
#ifndef LOGDIST_TLS_H
#define LOGDIST_TLS_H

#include <stddef.h>

typedef struct tls_server tls_server_t;
struct ssl_st;

/* Load cert (PEM chain), key and optional client CA. NULL with err on failure. */
tls_server_t *tls_server_new(const char *cert, const char *key, const char *client_ca, char *err,
                             size_t errlen);

/* Re-read the files. Returns 0, or -1 with err (the old context stays in use). */
int tls_server_reload(tls_server_t *t, char *err, size_t errlen);

/* A new SSL object for an accepted connection (NULL on failure). */
struct ssl_st *tls_server_new_ssl(tls_server_t *t);

void tls_server_free(tls_server_t *t);

#endif
