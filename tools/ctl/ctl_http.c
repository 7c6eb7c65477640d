/*
 * ctl_http.c - see ctl_http.h.
 */
#include "ctl_http.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *buf;
    size_t len, cap;
    bool too_large;
} sink_t;

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    sink_t *s = arg;
    size_t k = size * n;
    if (k > CTL_MAX_ANSWER - s->len) {
        s->too_large = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    if (s->len + k + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + k + 1)
            cap *= 2;
        char *b = realloc(s->buf, cap);
        if (!b) return 0;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, k);
    s->len += k;
    s->buf[s->len] = 0;
    return k;
}

int ctl_http_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void ctl_http_cleanup(void)
{
    curl_global_cleanup();
}

/* The Authorization header, built in a buffer wiped after use. */
static struct curl_slist *headers_for(const char *token, bool json_body)
{
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    if (h && json_body) h = curl_slist_append(h, "Content-Type: application/json");
    if (h && token) {
        size_t n = strlen(token) + 32;
        char *line = malloc(n);
        if (!line) {
            curl_slist_free_all(h);
            return NULL;
        }
        snprintf(line, n, "Authorization: Bearer %s", token);
        struct curl_slist *h2 = curl_slist_append(h, line); /* copies */
        memset(line, 0, n);
        free(line);
        if (!h2) curl_slist_free_all(h);
        h = h2;
    }
    return h;
}

static void set_tls(CURL *c, const ctl_opts_t *o)
{
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (o->cacert) curl_easy_setopt(c, CURLOPT_CAINFO, o->cacert);
    if (o->cert) curl_easy_setopt(c, CURLOPT_SSLCERT, o->cert);
    if (o->key) curl_easy_setopt(c, CURLOPT_SSLKEY, o->key);
}

int ctl_http(const ctl_opts_t *o, const char *token, const char *method, const char *path,
             const char *body, ctl_resp_t *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    sink_t s = {0};
    char url[CTL_URL_MAX + 512];
    snprintf(url, sizeof url, "%s%s", o->url, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = headers_for(token, body != NULL);
    int rc = CTL_EXIT_CONNECT;
    if (!c || !h) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* the token goes only where --url says */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_s * 1000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, o->timeout_s * 1000L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "logdistctl/" LOGDIST_CTL_VERSION);
    if (!strcmp(method, "HEAD")) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    set_tls(c, o);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        if (s.too_large)
            snprintf(err, errlen, "%s: the answer is larger than %u MiB", o->url,
                     CTL_MAX_ANSWER >> 20);
        else
            snprintf(err, errlen, "%s: %s", o->url, ebuf[0] ? ebuf : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    r->body = s.buf;
    r->len = s.len;
    s.buf = NULL;
    rc = 0;
out:
    free(s.buf);
    curl_slist_free_all(h); /* the token's copy: libcurl frees, it does not wipe */
    if (c) curl_easy_cleanup(c);
    return rc;
}

void ctl_resp_free(ctl_resp_t *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}
