/*
 * sender.c - see sender.h. curl multi on the delivery loop through
 * core/curl_loop (curl says which sockets to watch and when to wake it,
 * libevent tells curl what happened); finished transfers are collected with
 * curl_multi_info_read() after every socket action.
 */
#include "deliver/sender.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdbool.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "core/curl_loop.h"
#include "core/netallow_curl.h"

typedef struct transfer {
    struct transfer *next; /* free list */
    struct transfer *all_next; /* every transfer ever made, for sender_free() */
    CURL *easy;
    struct curl_slist *headers;
    sender_done_fn done;
    void *ctx;
    char errbuf[CURL_ERROR_SIZE];
    char hint[SENDER_HINT_MAX + 2]; /* X-Logdist-Weight value (bounded) */
    bool has_hint;
} transfer_t;

struct sender {
    const sender_ops_t *ops; /* another transport (sender_new_ops), or NULL: curl */
    void *impl;
    struct event_base *base;
    CURLM *multi;
    curl_loop_t *loop;       /* drives multi from base (core/curl_loop) */
    transfer_t *free_list;
    transfer_t *all;
    int active;
    long connect_timeout_ms;
    char ca_file[1024];
};

static void check_done(sender_t *s)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(s->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        transfer_t *t = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
        curl_multi_remove_handle(s->multi, easy);
        s->active--;
        sender_result_t res = {0};
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &res.http_status);
        curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &res.seconds);
        char why[64];
        if (rc != CURLE_OK) {
            res.error = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);
            res.http_status = 0;
            res.tls_error = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ||
                            rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CACERT_BADFILE ||
                            rc == CURLE_SSL_ISSUER_ERROR || rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH ||
                            rc == CURLE_SSL_CIPHER ||
                            /* TLS 1.3 refusals (e.g. certificate required) arrive after the
                             * handshake, as a read error carrying a TLS alert */
                            ((rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR) &&
                             (strstr(t->errbuf, "SSL") || strstr(t->errbuf, "alert")));
        } else if (res.http_status >= 200 && res.http_status < 300) {
            res.ok = 1;
        } else {
            snprintf(why, sizeof why, "HTTP %ld", res.http_status);
            res.error = why;
        }
        res.weight_hint = t->has_hint ? t->hint : NULL;
        sender_done_fn done = t->done;
        void *ctx = t->ctx;
        t->done = NULL;
        curl_slist_free_all(t->headers);
        t->headers = NULL;
        t->next = s->free_list;
        s->free_list = t;
        done(ctx, &res);
    }
}

/* curl_loop's `after`: collect what finished. */
static void after_action(void *ctx)
{
    check_done(ctx);
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    return size * nmemb;
}

/* Response header lines: keep X-Logdist-Weight's value, bounded (a longer
 * value keeps SENDER_HINT_MAX + 1 bytes: too long for any valid hint). */
static size_t on_header(char *line, size_t size, size_t nmemb, void *userdata)
{
    transfer_t *t = userdata;
    size_t n = size * nmemb;
    static const char name[] = "X-Logdist-Weight:";
    const size_t nl = sizeof name - 1;
    if (n >= 5 && !strncmp(line, "HTTP/", 5)) t->has_hint = false; /* a new response */
    if (n <= nl || strncasecmp(line, name, nl)) return n;
    const char *v = line + nl;
    size_t len = n - nl;
    while (len && (*v == ' ' || *v == '\t'))
        v++, len--;
    while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
        len--;
    if (len > SENDER_HINT_MAX + 1) len = SENDER_HINT_MAX + 1;
    memcpy(t->hint, v, len);
    t->hint[len] = 0;
    t->has_hint = true;
    return n;
}

void sender_set_connect_timeout(sender_t *s, long connect_timeout_ms)
{
    if (s) s->connect_timeout_ms = connect_timeout_ms;
}

sender_t *sender_new(struct event_base *base, long connect_timeout_ms, const char *ca_file)
{
    sender_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (ca_file) snprintf(s->ca_file, sizeof s->ca_file, "%s", ca_file);
    s->base = base;
    s->connect_timeout_ms = connect_timeout_ms;
    s->multi = curl_multi_init();
    s->loop = s->multi ? curl_loop_new(base, s->multi, after_action, s) : NULL;
    if (!s->loop) {
        sender_free(s);
        return NULL;
    }
    curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, 256L);
    return s;
}

sender_t *sender_new_ops(const sender_ops_t *ops, void *impl)
{
    sender_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->ops = ops;
    s->impl = impl;
    return s;
}

void sender_free(sender_t *s)
{
    if (!s) return;
    if (s->ops) {
        s->ops->free(s->impl);
        free(s);
        return;
    }
    /* in-flight transfers are cancelled: their callbacks run with res.cancelled */
    transfer_t *t = s->all;
    while (t) {
        transfer_t *n = t->all_next;
        if (s->multi) curl_multi_remove_handle(s->multi, t->easy);
        if (t->done) {
            sender_result_t res = {.error = "cancelled at shutdown", .cancelled = 1};
            t->done(t->ctx, &res);
        }
        curl_easy_cleanup(t->easy);
        curl_slist_free_all(t->headers);
        free(t);
        t = n;
    }
    if (s->multi) curl_multi_cleanup(s->multi);
    curl_loop_free(s->loop);
    free(s);
}

static transfer_t *transfer_get(sender_t *s, const sender_peer_t *peer)
{
    transfer_t *t = s->free_list;
    if (t) {
        s->free_list = t->next;
        curl_easy_reset(t->easy);
    } else {
        t = calloc(1, sizeof *t);
        if (!t) return NULL;
        t->easy = curl_easy_init();
        if (!t->easy) {
            free(t);
            return NULL;
        }
        t->all_next = s->all;
        s->all = t;
    }
    t->errbuf[0] = 0;
    t->hint[0] = 0;
    t->has_hint = false;
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, netallow_curl_opensocket); /* no metadata */
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(1 << 20));
    /* HTTPS: always verify the peer and its name; TLS 1.2 or newer */
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (s->ca_file[0]) curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_file);
    if (peer && peer->client_cert && peer->client_cert[0]) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, peer->client_cert);
        if (peer->client_key && peer->client_key[0])
            curl_easy_setopt(e, CURLOPT_SSLKEY, peer->client_key);
    }
    return t;
}

static int start(sender_t *s, transfer_t *t, sender_done_fn done, void *ctx)
{
    t->done = done;
    t->ctx = ctx;
    if (curl_multi_add_handle(s->multi, t->easy) != CURLM_OK) {
        t->done = NULL;
        curl_slist_free_all(t->headers);
        t->headers = NULL;
        t->next = s->free_list;
        s->free_list = t;
        return -1;
    }
    s->active++;
    return 0;
}

int sender_post(sender_t *s, const char *url, const sender_peer_t *peer, const char *body,
                size_t len, const char *batch_id, long timeout_ms, sender_done_fn done,
                void *ctx)
{
    if (s->ops) return s->ops->post(s->impl, url, peer, body, len, batch_id, timeout_ms, done, ctx);
    transfer_t *t = transfer_get(s, peer);
    if (!t) return -1;
    char hdr[96];
    snprintf(hdr, sizeof hdr, "X-Logdist-Batch-Id: %s", batch_id);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
    h = curl_slist_append(h, hdr);
    t->headers = h;
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    return start(s, t, done, ctx);
}

int sender_get(sender_t *s, const char *url, const sender_peer_t *peer, long timeout_ms,
               sender_done_fn done, void *ctx)
{
    if (s->ops) return s->ops->get(s->impl, url, peer, timeout_ms, done, ctx);
    transfer_t *t = transfer_get(s, peer);
    if (!t) return -1;
    curl_easy_setopt(t->easy, CURLOPT_URL, url);
    curl_easy_setopt(t->easy, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    return start(s, t, done, ctx);
}

