/*
 * config.c - see config.h. Parses values for the rows of the option table
 * (core/config_options.c): defaults, flags, the JSON file (errors located at
 * FILE:LINE:COLUMN), analyzer specs with their one list of keys, the
 * derived defaults and the checks across options (config_validate).
 */
#include "core/config.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "common/util.h"
#include "core/auth.h"
#include "core/config_int.h"
#include "core/netallow.h"

#define FAIL(...)                              \
    do {                                       \
        ld_set_err(err, errlen, __VA_ARGS__);  \
        return -1;                             \
    } while (0)

void config_defaults(config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < config_option_total; i++) {
        const option_t *o = &config_options[i];
        char err[256];
        if (o->def && config_option_apply(cfg, o, o->def, true, err, sizeof err))
            ld_assert_fail(err, __FILE__, __LINE__, __func__); /* a table bug */
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->ingest_threads = cpus < 1 ? 1 : cpus > 64 ? 64 : (uint32_t)cpus;
    config_finish_derived(cfg);
}

bool config_level_in_list(const char *list, const char *level, size_t len)
{
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == len && n && !memcmp(p, level, n)) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

void config_free(config_t *cfg)
{
    free(cfg->routes);
    cfg->routes = NULL;
    free(cfg->analyzers);
    cfg->analyzers = NULL;
    cfg->analyzer_count = 0;
    free(cfg->tokens);
    cfg->tokens = NULL;
    cfg->token_count = 0;
}

static int add_token(config_t *cfg, const char *spec, char *err, size_t errlen)
{
    if (strlen(spec) > CONFIG_TOKEN_MAX) {
        snprintf(err, errlen, "token spec too long");
        return -1;
    }
    void *n = realloc(cfg->tokens, (cfg->token_count + 1) * sizeof *cfg->tokens);
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    cfg->tokens = n;
    strlcpy_ld(cfg->tokens[cfg->token_count++], spec, CONFIG_TOKEN_MAX + 1);
    return 0;
}

bool config_host_is_loopback(const char *host)
{
    if (!strcasecmp(host, "localhost") || !strcmp(host, "::1") || !strcmp(host, "[::1]"))
        return true;
    struct in_addr a4;
    return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

bool config_analyzer_allowed(const config_t *cfg, const char *url, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *host = NULL;
    bool ok = false;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        char why[300] = "";
        ok = netallow_host_allowed(cfg->analyzer_allow, host, why, sizeof why);
        if (!ok) ld_set_err(err, errlen, "url '%.200s': %s", url, why);
    } else {
        ld_set_err(err, errlen, "url '%.200s' has no host", url);
    }
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

int config_split_hostport(const char *spec, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec) return -EINVAL;
    const char *h = spec;
    size_t hl = (size_t)(colon - spec);
    if (h[0] == '[') { /* [v6]:port */
        if (hl < 3 || h[hl - 1] != ']') return -EINVAL;
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hostlen) return -EINVAL;
    uint64_t p;
    if (parse_uint(colon + 1, 0, 65535, &p)) return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = 0;
    *port = (uint16_t)p;
    return 0;
}

/* udp://, tcp:// or tls:// followed by HOST:PORT. */
static bool syslog_listen_ok(const char *s)
{
    char host[256];
    uint16_t port;
    if (strncmp(s, "udp://", 6) && strncmp(s, "tcp://", 6) && strncmp(s, "tls://", 6))
        return false;
    return config_split_hostport(s + 6, host, sizeof host, &port) == 0;
}

static void mark_given(config_t *cfg, const option_t *o)
{
    size_t i = (size_t)(o - config_options);
    cfg->given[i / 64] |= 1ull << (i % 64);
}

static bool is_given(const config_t *cfg, const char *name)
{
    const option_t *o = config_option_find(name, false);
    LD_ASSERT(o); /* a name of the table */
    size_t i = (size_t)(o - config_options);
    return (cfg->given[i / 64] >> (i % 64)) & 1;
}

/* "250ms", "2s", "5m", "1h" or a bare number in the row's unit, into that unit;
 * a value that is not a whole number of the unit is refused. 0 or -EINVAL. */
static int parse_duration(const char *s, uint32_t unit_ms, uint64_t *out)
{
    char *end;
    if (*s < '0' || *s > '9') return -EINVAL;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno || n > (1ull << 40)) return -EINVAL;
    uint64_t mult;
    if (!*end) mult = unit_ms;
    else if (!strcmp(end, "ms")) mult = 1;
    else if (!strcmp(end, "s")) mult = 1000;
    else if (!strcmp(end, "m")) mult = 60000;
    else if (!strcmp(end, "h")) mult = 3600000;
    else return -EINVAL;
    uint64_t ms = n * mult;
    if (ms % unit_ms) return -EINVAL;
    *out = ms / unit_ms;
    return 0;
}

static void store_uint(config_t *cfg, const option_t *o, uint64_t v)
{
    char *f = (char *)cfg + o->off;
    if (o->size == sizeof(uint64_t))
        *(uint64_t *)f = v;
    else
        *(uint32_t *)f = (uint32_t)v; /* bounded by o->max below 2^32 */
}

/* HOST:PORT into the row's host and port fields. */
/* --routes / the file's "routes": a JSON array (its routes are compiled and
 * checked by the app layer, route/routes.h); kept as compact text. */
static int set_routes(config_t *cfg, const char *val, char *err, size_t errlen)
{
    if (strlen(val) > CONFIG_ROUTES_MAX_BYTES) {
        ld_set_err(err, errlen, "routes: longer than %u bytes", CONFIG_ROUTES_MAX_BYTES);
        return -1;
    }
    json_error_t je;
    json_t *a = json_loads(val, JSON_REJECT_DUPLICATES, &je);
    if (!a || !json_is_array(a)) {
        if (a)
            ld_set_err(err, errlen, "routes: must be a JSON array of route objects");
        else
            ld_set_err(err, errlen, "routes: line %d column %d: %s", je.line, je.column, je.text);
        json_decref(a);
        return -1;
    }
    char *text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    if (!text) {
        ld_set_err(err, errlen, "out of memory");
        return -1;
    }
    free(cfg->routes);
    cfg->routes = text;
    return 0;
}

static int apply_listen(config_t *cfg, const option_t *o, const char *val)
{
    const char *colon = strrchr(val, ':');
    uint64_t port;
    if (!colon || colon == val || (size_t)(colon - val) >= o->size ||
        parse_uint(colon + 1, 0, 65535, &port))
        return -EINVAL;
    char *host = (char *)cfg + o->off;
    memcpy(host, val, (size_t)(colon - val));
    host[colon - val] = 0;
    *(uint16_t *)((char *)cfg + o->off2) = (uint16_t)port;
    return 0;
}

/* Parse val for row o into cfg. 0 or -EINVAL (err filled by the caller), or
 * -1 with err already set. */
static int apply_value(config_t *cfg, const option_t *o, const char *val, char *err,
                       size_t errlen)
{
    uint64_t v;
    char host[256];
    uint16_t port;
    size_t len = strlen(val);
    switch (o->type) {
    case OPT_UINT:
        if (parse_uint(val, o->min, o->max, &v)) return -EINVAL;
        store_uint(cfg, o, v);
        return 0;
    case OPT_SIZE:
        if (parse_size(val, &v) || v < o->min || v > o->max) return -EINVAL;
        store_uint(cfg, o, v);
        return 0;
    case OPT_DURATION:
        if (parse_duration(val, o->unit_ms, &v) || v < o->min || v > o->max) return -EINVAL;
        store_uint(cfg, o, v);
        return 0;
    case OPT_BOOL:
        if (strcmp(val, "true") && strcmp(val, "false")) return -EINVAL;
        *(bool *)((char *)cfg + o->off) = !strcmp(val, "true");
        return 0;
    case OPT_ENUM:
        for (int i = 0; o->choices[i]; i++) {
            if (!strcmp(val, o->choices[i])) {
                *(int *)((char *)cfg + o->off) = i; /* enums and uint32_t: int-sized */
                return 0;
            }
        }
        return -EINVAL;
    case OPT_CSV:
        if (!strcmp(o->name, "analyzer-allow") && netallow_check_list(val, err, errlen))
            return -1;
        /* fall through */
    case OPT_STRING:
        if (len < o->min || len > o->max) return -EINVAL;
        strlcpy_ld((char *)cfg + o->off, val, o->max + 1);
        return 0;
    case OPT_LISTEN:
        return apply_listen(cfg, o, val);
    case OPT_HOSTPORT:
        if (len && (len > o->max || config_split_hostport(val, host, sizeof host, &port)))
            return -EINVAL;
        strlcpy_ld((char *)cfg + o->off, val, o->max + 1);
        return 0;
    case OPT_SYSLOG:
        if (cfg->syslog_listen_count >= CONFIG_SYSLOG_LISTEN_MAX) {
            ld_set_err(err, errlen, "syslog-listen given more than %d times",
                       CONFIG_SYSLOG_LISTEN_MAX);
            return -1;
        }
        if (len > CONFIG_LISTEN_MAX || !syslog_listen_ok(val)) return -EINVAL;
        strlcpy_ld(cfg->syslog_listen[cfg->syslog_listen_count++], val, CONFIG_LISTEN_MAX + 1);
        return 0;
    case OPT_TOKEN:
        return add_token(cfg, val, err, errlen) ? -1 : 0;
    case OPT_ROUTES:
        return set_routes(cfg, val, err, errlen);
    case OPT_ANALYZER: {
        analyzer_spec_t spec;
        char e2[600];
        if (config_parse_analyzer(val, &spec, e2, sizeof e2)) {
            ld_set_err(err, errlen, "--analyzer: %s", e2);
            return -1;
        }
        if (config_put_analyzer(cfg, &spec)) {
            ld_set_err(err, errlen, "out of memory");
            return -1;
        }
        return 0;
    }
    }
    return -EINVAL;
}

int config_option_apply(config_t *cfg, const option_t *o, const char *val, bool from_default,
                        char *err, size_t errlen)
{
    int rc = apply_value(cfg, o, val, err, errlen);
    if (rc == -EINVAL) {
        char ch[128];
        config_choices_text(o, ch, sizeof ch);
        if (o->type == OPT_UINT || o->type == OPT_SIZE || o->type == OPT_DURATION)
            snprintf(ch, sizeof ch, "%llu..%llu%s", (unsigned long long)o->min,
                     (unsigned long long)o->max,
                     o->type == OPT_DURATION ? (o->unit_ms == 1 ? " ms" : " s") : "");
        ld_set_err(err, errlen, "invalid value '%.200s' for %s%s%s%s (%s)",
                   o->flags & OPTF_SECRET ? "(secret)" : val, o->name, ch[0] ? " (" : "", ch,
                   ch[0] ? ")" : "", o->help);
    }
    if (rc) return -1;
    if (!from_default) mark_given(cfg, o);
    return 0;
}

size_t config_option_count(void) { return config_option_total; }
const char *config_option_name(size_t i) { return config_options[i].name; }
bool config_option_reloadable(size_t i) { return config_options[i].flags & OPTF_RELOAD; }
bool config_option_secret(size_t i) { return config_options[i].flags & OPTF_SECRET; }

bool config_option_same(size_t i, const config_t *a, const config_t *b)
{
    const option_t *o = &config_options[i];
    switch (o->type) {
    case OPT_LISTEN:
        return !strcmp((const char *)a + o->off, (const char *)b + o->off) &&
               *(const uint16_t *)((const char *)a + o->off2) ==
                   *(const uint16_t *)((const char *)b + o->off2);
    case OPT_CSV:
    case OPT_STRING:
    case OPT_HOSTPORT:
        return !strcmp((const char *)a + o->off, (const char *)b + o->off);
    case OPT_SYSLOG:
        return a->syslog_listen_count == b->syslog_listen_count &&
               !memcmp(a->syslog_listen, b->syslog_listen, sizeof a->syslog_listen);
    case OPT_TOKEN:
        if (a->token_count != b->token_count) return false;
        for (size_t k = 0; k < a->token_count; k++)
            if (strcmp(a->tokens[k], b->tokens[k])) return false;
        return true;
    case OPT_ROUTES:
        return a->routes == b->routes || (a->routes && b->routes && !strcmp(a->routes, b->routes));
    case OPT_ANALYZER:
        if (a->analyzer_count != b->analyzer_count) return false;
        for (size_t k = 0; k < a->analyzer_count; k++)
            if (!config_analyzer_equal(&a->analyzers[k], &b->analyzers[k])) return false;
        return true;
    default:
        return !memcmp((const char *)a + o->off, (const char *)b + o->off, o->size);
    }
}
int config_check_analyzer(analyzer_spec_t *spec, char *err, size_t errlen)
{
    size_t idlen = strlen(spec->id);
    if (idlen == 0 || idlen > CONFIG_ID_MAX) {
        snprintf(err, errlen, "analyzer id must be 1..%d characters", CONFIG_ID_MAX);
        return -1;
    }
    for (size_t i = 0; i < idlen; i++) {
        char c = spec->id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            snprintf(err, errlen, "analyzer id may only contain letters, digits, '.', '_', '-'");
            return -1;
        }
    }
    if (!(spec->weight >= 0) || spec->weight > 1e12) {
        snprintf(err, errlen, "weight must be a finite number >= 0");
        return -1;
    }
    const char *urls[2] = {spec->url, spec->health_url};
    for (int k = 0; k < 2; k++) {
        if (k == 1 && !spec->health_url[0]) break;
        CURLU *u = curl_url();
        char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL;
        int bad = !u || curl_url_set(u, CURLUPART_URL, urls[k], 0) != CURLUE_OK ||
                  curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
                  curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK;
        if (!bad && strcmp(scheme, "http") && strcmp(scheme, "https")) bad = 2;
        if (!bad && curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) bad = 3;
        if (!bad && k == 0 && !spec->health_url[0]) {
            curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
            snprintf(spec->health_url, sizeof spec->health_url, "%s://%s:%s/health", scheme,
                     host, port ? port : "80");
        }
        curl_free(scheme);
        curl_free(host);
        curl_free(port);
        curl_free(user);
        curl_url_cleanup(u);
        if (bad) {
            if (bad == 3) /* never echo the credentials */
                snprintf(err, errlen, "%s of analyzer '%.100s' holds credentials (user:password@); "
                         "credentials in URLs are not allowed", k ? "health_url" : "url", spec->id);
            else
                snprintf(err, errlen, "%s '%.200s' is not a valid http(s) URL",
                         k ? "health_url" : "url",
                         strchr(urls[k], '@') ? "(not shown: it has an '@')" : urls[k]);
            return -1;
        }
    }
    return 0;
}

/* A malloc'd copy of n elements of size sz (NULL for n == 0). */
static int dup_array(void **dst, const void *src, size_t n, size_t sz)
{
    *dst = NULL;
    if (!n) return 0;
    if (!(*dst = malloc(n * sz))) return -ENOMEM;
    memcpy(*dst, src, n * sz);
    return 0;
}

int config_option_copy(size_t i, config_t *dst, const config_t *src)
{
    const option_t *o = &config_options[i];
    void *p;
    switch (o->type) {
    case OPT_TOKEN:
        if (dup_array(&p, src->tokens, src->token_count, sizeof *src->tokens)) return -ENOMEM;
        free(dst->tokens);
        dst->tokens = p;
        dst->token_count = src->token_count;
        return 0;
    case OPT_ROUTES:
        p = src->routes ? strdup(src->routes) : NULL;
        if (src->routes && !p) return -ENOMEM;
        free(dst->routes);
        dst->routes = p;
        return 0;
    case OPT_ANALYZER:
        if (dup_array(&p, src->analyzers, src->analyzer_count, sizeof *src->analyzers))
            return -ENOMEM;
        free(dst->analyzers);
        dst->analyzers = p;
        dst->analyzer_count = src->analyzer_count;
        return 0;
    case OPT_SYSLOG:
        memcpy(dst->syslog_listen, src->syslog_listen, sizeof dst->syslog_listen);
        dst->syslog_listen_count = src->syslog_listen_count;
        return 0;
    case OPT_LISTEN:
        memcpy((char *)dst + o->off2, (const char *)src + o->off2, sizeof(uint16_t));
        /* fall through */
    default:
        memcpy((char *)dst + o->off, (const char *)src + o->off, o->size);
        return 0;
    }
}

int config_copy(config_t *dst, const config_t *src)
{
    *dst = *src;
    dst->tokens = NULL;
    dst->analyzers = NULL;
    dst->routes = src->routes ? strdup(src->routes) : NULL;
    if ((src->routes && !dst->routes) ||
        dup_array((void **)&dst->tokens, src->tokens, src->token_count, sizeof *src->tokens) ||
        dup_array((void **)&dst->analyzers, src->analyzers, src->analyzer_count,
                  sizeof *src->analyzers)) {
        config_free(dst);
        return -ENOMEM;
    }
    return 0;
}

bool config_analyzer_equal(const analyzer_spec_t *a, const analyzer_spec_t *b)
{
    return !strcmp(a->id, b->id) && !strcmp(a->url, b->url) &&
           !strcmp(a->health_url, b->health_url) && a->weight == b->weight &&
           !strcmp(a->client_cert, b->client_cert) && !strcmp(a->client_key, b->client_key) &&
           a->drained == b->drained && a->has_slow_start == b->has_slow_start &&
           (!a->has_slow_start || a->slow_start_ms == b->slow_start_ms);
}

int config_merge_reloadable(config_t *out, const config_t *running, const config_t *next)
{
    if (config_copy(out, running)) return -ENOMEM;
    for (size_t i = 0; i < config_option_total; i++) {
        if ((config_options[i].flags & OPTF_RELOAD) && config_option_copy(i, out, next)) {
            config_free(out);
            return -ENOMEM;
        }
    }
    return 0;
}

const char *const config_analyzer_keys[] = {
    "id", "url", "weight", "health_url", "client_cert", "client_key", "slow_start_ms", NULL};

int config_analyzer_set(analyzer_spec_t *spec, const char *key, const char *val, char *err,
                        size_t errlen)
{
    struct {
        const char *key;
        char *dst;
        size_t cap;
    } text[] = {
        {"id", spec->id, sizeof spec->id},
        {"url", spec->url, sizeof spec->url},
        {"health_url", spec->health_url, sizeof spec->health_url},
        {"client_cert", spec->client_cert, sizeof spec->client_cert},
        {"client_key", spec->client_key, sizeof spec->client_key},
    };
    if (!strcmp(key, "weight")) {
        if (parse_weight(val, &spec->weight)) {
            ld_set_err(err, errlen, "weight '%.40s' is not a finite number >= 0", val);
            return -EINVAL;
        }
        return 0;
    }
    if (!strcmp(key, "slow_start_ms")) {
        uint64_t v;
        if (parse_duration(val, 1, &v) || v > CONFIG_SLOW_START_MAX_MS) {
            ld_set_err(err, errlen, "slow_start_ms '%.40s' is not a duration in 0..%u ms", val,
                       CONFIG_SLOW_START_MAX_MS);
            return -EINVAL;
        }
        spec->has_slow_start = true;
        spec->slow_start_ms = (uint32_t)v;
        return 0;
    }
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++) {
        if (strcmp(key, text[i].key)) continue;
        if (strlen(val) >= text[i].cap) {
            ld_set_err(err, errlen, "%s longer than %zu characters", key, text[i].cap - 1);
            return -EINVAL;
        }
        strlcpy_ld(text[i].dst, val, text[i].cap);
        return 0;
    }
    ld_set_err(err, errlen,
               "unknown key \"%.40s\" (keys: id, url, weight, health_url, "
               "client_cert, client_key, slow_start_ms)",
               key);
    return -ENOENT;
}

/* Which key does "key=" at p start, or -1. */
static int spec_key_at(const char *p)
{
    for (int i = 0; config_analyzer_keys[i]; i++) {
        size_t n = strlen(config_analyzer_keys[i]);
        if (!strncmp(p, config_analyzer_keys[i], n) && p[n] == '=') return i;
    }
    return -1;
}

int config_parse_analyzer(const char *s, analyzer_spec_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->weight = 1.0;
    const char *p = s;
    while (*p) {
        int k = spec_key_at(p);
        if (k < 0) { /* name the key only: the spec may hold credentials */
            int klen = (int)strcspn(p, "=,");
            snprintf(err, errlen,
                     "analyzer spec: expected id=, url=, weight=, health_url=, "
                     "client_cert=, client_key= or slow_start_ms=, not '%.*s'",
                     klen > 40 ? 40 : klen, p);
            return -1;
        }
        p += strlen(config_analyzer_keys[k]) + 1;
        /* the value ends at the next ",key=" (URLs may contain commas) */
        const char *end = p;
        while ((end = strchr(end, ',')) && spec_key_at(end + 1) < 0) end++;
        if (!end) end = p + strlen(p);
        size_t n = (size_t)(end - p);
        char val[CONFIG_URL_MAX + 1];
        if (n > CONFIG_URL_MAX) {
            snprintf(err, errlen, "analyzer spec value too long");
            return -1;
        }
        memcpy(val, p, n);
        val[n] = 0;
        if (config_analyzer_set(out, config_analyzer_keys[k], val, err, errlen)) return -1;
        p = *end ? end + 1 : end;
    }
    return config_check_analyzer(out, err, errlen);
}
int config_put_analyzer(config_t *cfg, const analyzer_spec_t *spec)
{
    for (size_t i = 0; i < cfg->analyzer_count; i++) {
        if (!strcmp(cfg->analyzers[i].id, spec->id)) {
            cfg->analyzers[i] = *spec;
            return 0;
        }
    }
    analyzer_spec_t *a = realloc(cfg->analyzers, (cfg->analyzer_count + 1) * sizeof *a);
    if (!a) return -1;
    cfg->analyzers = a;
    a[cfg->analyzer_count++] = *spec;
    return 0;
}

#define CONFIG_FILE_MAX (1u << 20) /* a config file larger than this is refused */

/* Skip one JSON string starting at its quote; returns the index after it. */
static size_t skip_string(const char *t, size_t n, size_t i)
{
    for (i++; i < n && t[i] != '"'; i++)
        if (t[i] == '\\') i++;
    return i + 1;
}

static size_t skip_ws(const char *t, size_t n, size_t i)
{
    while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) i++;
    return i;
}

/* Skip one JSON value (the text already parsed, so it is well-formed). */
static size_t skip_value(const char *t, size_t n, size_t i)
{
    if (i < n && t[i] == '"') return skip_string(t, n, i);
    if (i < n && (t[i] == '{' || t[i] == '[')) {
        int depth = 0;
        while (i < n) {
            if (t[i] == '"') {
                i = skip_string(t, n, i);
                continue;
            }
            if (t[i] == '{' || t[i] == '[') depth++;
            if ((t[i] == '}' || t[i] == ']') && --depth == 0) return i + 1;
            i++;
        }
        return i;
    }
    while (i < n && !strchr(",}] \t\r\n", t[i])) i++;
    return i;
}

/* Is the JSON string t[start, end) (quotes included) the key `key` once decoded?
 * A key may be spelled with escapes ("max\u005fdepth"). */
static bool key_is(const char *t, size_t start, size_t end, const char *key, size_t klen)
{
    if (!memchr(t + start, '\\', end - start))
        return end - start - 2 == klen && !memcmp(t + start + 1, key, klen);
    json_t *s = json_loadb(t + start, end - start, JSON_DECODE_ANY, NULL);
    bool same = json_is_string(s) && json_string_length(s) == klen &&
                !memcmp(json_string_value(s), key, klen);
    json_decref(s);
    return same;
}

/* Where the top-level member `key` starts (its element `index` when >= 0) in
 * the text of a valid JSON object: 1-based line and column, or 0 when not found. */
static void locate(const char *t, size_t n, const char *key, long index, int *line, int *col)
{
    size_t i = skip_ws(t, n, 0) + 1, at = SIZE_MAX, klen = strlen(key);
    while (i < n) {
        i = skip_ws(t, n, i);
        if (i >= n || t[i] != '"') break;
        size_t kstart = i;
        i = skip_string(t, n, i);
        bool match = key_is(t, kstart, i, key, klen);
        i = skip_ws(t, n, i) + 1; /* ':' */
        i = skip_ws(t, n, i);
        if (match) {
            at = kstart;
            if (index >= 0 && i < n && t[i] == '[') {
                size_t j = skip_ws(t, n, i + 1);
                for (long k = 0; k < index && j < n && t[j] != ']'; k++) {
                    j = skip_ws(t, n, skip_value(t, n, j));
                    if (j < n && t[j] == ',') j = skip_ws(t, n, j + 1);
                }
                if (j < n && t[j] != ']') at = j;
            }
            break;
        }
        i = skip_ws(t, n, skip_value(t, n, i)) + 1; /* ',' */
    }
    *line = *col = 0;
    if (at == SIZE_MAX) return;
    *line = 1;
    *col = 1;
    for (size_t k = 0; k < at; k++) {
        if (t[k] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* A file value as the text a flag would give (arrays are handled by the caller). */
static int value_text(const option_t *o, json_t *v, char *buf, size_t buflen, const char **out)
{
    if (json_is_string(v)) {
        *out = json_string_value(v);
        return 0;
    }
    if (o->type == OPT_BOOL && json_is_boolean(v)) {
        *out = json_is_true(v) ? "true" : "false";
        return 0;
    }
    if (o->type != OPT_BOOL && json_is_integer(v) && json_integer_value(v) >= 0) {
        snprintf(buf, buflen, "%lld", (long long)json_integer_value(v));
        *out = buf;
        return 0;
    }
    return -1;
}

/* One analyzer object of the file's "analyzers" array. */
static int file_analyzer(config_t *cfg, json_t *a, char *err, size_t errlen)
{
    analyzer_spec_t spec;
    memset(&spec, 0, sizeof spec);
    spec.weight = 1.0;
    if (!json_is_object(a)) {
        ld_set_err(err, errlen, "must be an object with id and url");
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(a, k, v)
    {
        if (!strcmp(k, "weight") && json_is_number(v)) {
            spec.weight = json_number_value(v);
            continue;
        }
        bool ss = !strcmp(k, "slow_start_ms");
        if (ss && json_is_integer(v) && json_integer_value(v) >= 0 &&
            json_integer_value(v) <= CONFIG_SLOW_START_MAX_MS) {
            spec.has_slow_start = true;
            spec.slow_start_ms = (uint32_t)json_integer_value(v);
            continue;
        }
        if (!strcmp(k, "weight") || !json_is_string(v)) {
            if (config_analyzer_set(&spec, k, "", err, errlen) == -ENOENT) return -1;
            ld_set_err(err, errlen, "\"%.40s\" must be a %s", k,
                       ss                    ? "number of ms in 0..3600000"
                       : strcmp(k, "weight") ? "string"
                                             : "number");
            return -1;
        }
        if (config_analyzer_set(&spec, k, json_string_value(v), err, errlen)) return -1;
    }
    if (!spec.id[0] || !spec.url[0]) {
        ld_set_err(err, errlen, "needs string id and url");
        return -1;
    }
    if (config_check_analyzer(&spec, err, errlen)) return -1;
    if (config_put_analyzer(cfg, &spec)) {
        ld_set_err(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* One member of the file. 0, or -1 with err and *index (the array element at
 * fault, -1 for the member itself). */
static int file_member(config_t *cfg, const char *key, json_t *val, long *index, char *err,
                       size_t errlen)
{
    *index = -1;
    bool is_list = !strcmp(key, "analyzers") || !strcmp(key, "tokens");
    const option_t *o = config_option_find(!strcmp(key, "analyzers") ? "analyzer"
                                           : !strcmp(key, "tokens")  ? "token"
                                                                     : key,
                                           !is_list);
    if (!o || (!is_list && (o->type == OPT_TOKEN || o->type == OPT_ANALYZER)) ||
        strchr(key, '-')) {
        ld_set_err(err, errlen, "unknown option");
        return -1;
    }
    if (o->type == OPT_ROUTES) {
        char *text = json_is_array(val) ? json_dumps(val, JSON_COMPACT) : NULL;
        if (!text) {
            ld_set_err(err, errlen, "must be an array of route objects");
            return -1;
        }
        int rc = config_option_apply(cfg, o, text, false, err, errlen);
        free(text);
        return rc;
    }
    if (json_is_array(val) && (o->flags & OPTF_REPEAT || o->type == OPT_CSV)) {
        size_t i;
        json_t *e;
        char csv[1024] = "";
        size_t used = 0;
        json_array_foreach(val, i, e)
        {
            *index = (long)i;
            if (o->type == OPT_ANALYZER) {
                if (file_analyzer(cfg, e, err, errlen)) return -1;
                continue;
            }
            if (!json_is_string(e)) {
                ld_set_err(err, errlen, "must be a string");
                return -1;
            }
            if (o->type == OPT_CSV) { /* joined, then parsed as one value */
                if (used < sizeof csv) /* else too long already: csv + used would be past it */
                    used += (size_t)snprintf(csv + used, sizeof csv - used, "%s%s", i ? "," : "",
                                             json_string_value(e));
                continue;
            }
            if (config_option_apply(cfg, o, json_string_value(e), false, err, errlen)) return -1;
        }
        *index = -1;
        if (o->type == OPT_CSV) {
            if (used >= sizeof csv) {
                ld_set_err(err, errlen, "list too long");
                return -1;
            }
            return config_option_apply(cfg, o, csv, false, err, errlen);
        }
        return 0;
    }
    if (is_list) {
        ld_set_err(err, errlen, "must be an array");
        return -1;
    }
    char buf[64];
    const char *text;
    if (value_text(o, val, buf, sizeof buf, &text)) {
        ld_set_err(err, errlen, "must be %s", o->type == OPT_BOOL ? "true or false"
                                              : o->flags & OPTF_REPEAT
                                                  ? "a string or an array of strings"
                                                  : "a string or a non-negative integer");
        return -1;
    }
    return config_option_apply(cfg, o, text, false, err, errlen);
}

/* Read a whole file of at most CONFIG_FILE_MAX bytes (caller frees). */
static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        ld_set_err(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(CONFIG_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, CONFIG_FILE_MAX + 1, f) : 0;
    bool bad = !buf || ferror(f) || n > CONFIG_FILE_MAX;
    fclose(f);
    if (bad) {
        ld_set_err(err, errlen, "%s: %s", path,
                   !buf ? "out of memory" : n > CONFIG_FILE_MAX ? "larger than 1 MiB"
                                                                : "read error");
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

int config_load_file(config_t *cfg, const char *path, char *err, size_t errlen)
{
    size_t len;
    char *text = read_file(path, &len, err, errlen);
    if (!text) return -1;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = -1;
    if (!root) {
        char *near = strstr(jerr.text, " near "); /* jansson quotes the text: maybe a secret */
        if (near) *near = 0;
        ld_set_err(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        goto out;
    }
    if (!json_is_object(root)) {
        ld_set_err(err, errlen, "%s:1:1: the top level must be an object", path);
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        long index;
        char e2[700];
        if (file_member(cfg, key, val, &index, e2, sizeof e2)) {
            int line, col;
            locate(text, len, key, index, &line, &col);
            char where[64] = "";
            if (index >= 0) snprintf(where, sizeof where, "[%ld]", index);
            ld_set_err(err, errlen, "%s:%d:%d: %.64s%s: %s", path, line, col, key, where, e2);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    free(text);
    return rc;
}
/* --hash-token TOKEN: print its HASH (1), or refuse a weak token (-1). */
static int hash_token_cmd(const char *token)
{
    char hash[160], err[300];
    if (!token) {
        fprintf(stderr, "logdistd: --hash-token needs a token (or use --generate-token)\n");
        return -1;
    }
    if (auth_token_check(token, err, sizeof err)) {
        fprintf(stderr, "logdistd: --hash-token: %s\n", err);
        return -1;
    }
    if (auth_hash_token(token, hash, sizeof hash)) {
        fprintf(stderr, "logdistd: --hash-token: cannot hash the token\n");
        return -1;
    }
    printf("%s\n", hash);
    return 1;
}

/* --generate-token: print "TOKEN\nHASH\n" (1), or -1. */
static int generate_token_cmd(void)
{
    char tok[AUTH_TOKEN_GENERATED_LEN + 1], hash[160];
    if (auth_generate_token(tok, sizeof tok) || auth_hash_token(tok, hash, sizeof hash)) {
        fprintf(stderr, "logdistd: --generate-token: no randomness available\n");
        return -1;
    }
    printf("%s\n%s\n", tok, hash);
    return 1;
}

/* The value of --config / --check-config in argv, or NULL; -1 when one lacks its file. */
static int config_path_of(int argc, char **argv, const char **path)
{
    *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "--config=", 9)) *path = a + 9;
        else if (!strncmp(a, "--check-config=", 15)) *path = a + 15;
        else if (!strcmp(a, "--config") || !strcmp(a, "--check-config")) {
            if (i + 1 >= argc) return -1;
            *path = argv[++i];
        }
    }
    return 0;
}

/* Apply every flag of argv (the file was loaded before). 0 or -1 with err. */
static int apply_flags(config_t *cfg, int argc, char **argv, char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) || !a[2]) {
            ld_set_err(err, errlen, "unexpected argument '%.100s' (see --help)", a);
            return -1;
        }
        const char *name = a + 2, *val = NULL;
        char namebuf[64];
        const char *eq = strchr(name, '=');
        if (eq) { /* --name=value */
            size_t n = (size_t)(eq - name);
            if (n >= sizeof namebuf) n = sizeof namebuf - 1;
            memcpy(namebuf, name, n);
            namebuf[n] = 0;
            name = namebuf;
            val = eq + 1;
        }
        const option_t *o = config_option_find(name, false);
        bool is_file = !strcmp(name, "config") || !strcmp(name, "check-config");
        if (!o && !is_file) {
            ld_set_err(err, errlen, "unknown option --%.64s (see --help)", name);
            return -1;
        }
        if (!val && o && o->type == OPT_BOOL) {
            val = "true"; /* --insecure */
        } else if (!val) {
            if (i + 1 >= argc) {
                ld_set_err(err, errlen, "%.64s needs a value (see --help)", a);
                return -1;
            }
            val = argv[++i];
        }
        if (is_file) continue;
        if (config_option_apply(cfg, o, val, false, err, errlen)) return -1;
    }
    return 0;
}

const char *config_file_arg(int argc, char **argv)
{
    const char *path;
    return config_path_of(argc, argv, &path) ? NULL : path;
}

int config_load(config_t *cfg, int argc, char **argv, char *err, size_t errlen)
{
    const char *path;
    config_defaults(cfg);
    if (config_path_of(argc, argv, &path)) {
        ld_set_err(err, errlen, "--config needs a file");
        goto err;
    }
    if (path && config_load_file(cfg, path, err, errlen)) goto err;
    if (apply_flags(cfg, argc, argv, err, errlen)) goto err;
    config_finish_derived(cfg);
    if (config_validate(cfg, err, errlen)) goto err;
    return 0;
err:
    config_free(cfg);
    return -1;
}

int config_from_args(config_t *cfg, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) { /* commands first, wherever they are */
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            config_usage(stdout);
            return 1;
        }
        if (!strcmp(argv[i], "--hash-token")) return hash_token_cmd(i + 1 < argc ? argv[i + 1] : NULL);
        if (!strcmp(argv[i], "--generate-token")) return generate_token_cmd();
        if (!strcmp(argv[i], "--config-doc")) {
            config_write_doc(stdout);
            return 1;
        }
        if (!strcmp(argv[i], "--config-doc=scdoc")) {
            config_write_scdoc(stdout);
            return 1;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("logdistd %s\n", LOGDIST_VERSION);
            return 1;
        }
    }
    char err[1024];
    const char *path;
    if (config_path_of(argc, argv, &path)) {
        fprintf(stderr, "logdistd: --config needs a file\n");
        return -1;
    }
    if ((path && config_load_file(cfg, path, err, sizeof err)) ||
        apply_flags(cfg, argc, argv, err, sizeof err)) {
        fprintf(stderr, "logdistd: %s\n", err);
        return -1;
    }
    config_finish(cfg);
    return 0;
}

void config_finish_derived(config_t *cfg)
{
    if (!is_given(cfg, "max-queue-bytes")) cfg->max_queue_bytes = cfg->memory_limit / 8;
    if (!is_given(cfg, "max-inflight-body-bytes")) {
        cfg->max_inflight_body_bytes = 64u << 20;
        if (cfg->memory_limit && cfg->memory_limit / 4 < cfg->max_inflight_body_bytes)
            cfg->max_inflight_body_bytes = cfg->memory_limit / 4;
    }
    /* one body of the largest size must fit, or its connection would never be read */
    if (cfg->max_inflight_body_bytes && cfg->max_inflight_body_bytes < cfg->max_body_bytes)
        cfg->max_inflight_body_bytes = cfg->max_body_bytes;
    if (!cfg->node_id[0] && gethostname(cfg->node_id, sizeof cfg->node_id - 1)) /* a cluster node */
        snprintf(cfg->node_id, sizeof cfg->node_id, "node");
}

void config_finish(config_t *cfg)
{
    netallow_set_process_list(cfg->analyzer_allow); /* connect-time checks (netallow_curl.h) */
    config_finish_derived(cfg);
}

/* A listener on HOST:PORT that is not loopback. */
static bool exposed(const char *spec)
{
    char host[256];
    uint16_t port;
    return config_split_hostport(spec, host, sizeof host, &port) == 0 &&
           !config_host_is_loopback(host);
}

/* Listeners facing a network need authentication, unless --insecure. */
static int validate_exposure(const config_t *cfg, char *err, size_t errlen)
{
    bool tokens = cfg->token_count > 0;
    if (cfg->insecure) return 0;
    const char *hosts[2] = {cfg->listen_host, cfg->admin_host[0] ? cfg->admin_host : NULL};
    for (int i = 0; i < 2; i++)
        if (hosts[i] && !tokens && !config_host_is_loopback(hosts[i]))
            FAIL("refusing to listen on %s without authentication: "
                              "configure --token (see logdistd --hash-token) or pass --insecure",
                              hosts[i]);
    for (uint32_t i = 0; i < cfg->syslog_listen_count; i++) {
        const char *u = cfg->syslog_listen[i];
        bool mtls = !strncmp(u, "tls://", 6) && cfg->tls_client_ca[0];
        if (!mtls && exposed(u + 6))
            FAIL("refusing to receive syslog on %s without "
                              "authentication: syslog over UDP/TCP has none; use tls:// with "
                              "--tls-client-ca, a loopback address, or pass --insecure", u);
    }
    const char *http[2] = {cfg->otlp_listen, cfg->elasticsearch_listen};
    for (int i = 0; i < 2; i++)
        if (http[i][0] && !tokens && exposed(http[i]))
            FAIL("refusing to listen on %s without authentication: "
                              "configure --token or pass --insecure", http[i]);
    if (cfg->forward_listen[0] && !cfg->forward_shared_key[0] && exposed(cfg->forward_listen))
        FAIL("refusing to receive Fluent forward on %s without "
                          "authentication: set --forward-shared-key or pass --insecure",
                          cfg->forward_listen);
    return 0;
}

int config_validate(const config_t *cfg, char *err, size_t errlen)
{
    if (!cfg->tls_cert[0] != !cfg->tls_key[0])
        FAIL("--tls-cert and --tls-key go together");
    if (cfg->tls_client_ca[0] && !cfg->tls_cert[0])
        FAIL("--tls-client-ca needs --tls-cert and --tls-key");
    auth_t *auth = cfg->token_count ? auth_new() : NULL;
    for (size_t i = 0; i < cfg->token_count; i++) {
        char e2[300] = "out of memory";
        if (!auth || auth_add(auth, cfg->tokens[i], e2, sizeof e2)) {
            auth_free(auth);
            FAIL("tokens[%zu]: %s", i, e2);
        }
    }
    auth_free(auth);
    for (size_t i = 0; i < cfg->analyzer_count; i++) {
        char e2[512];
        if (!config_analyzer_allowed(cfg, cfg->analyzers[i].url, e2, sizeof e2) ||
            !config_analyzer_allowed(cfg, cfg->analyzers[i].health_url, e2, sizeof e2))
            FAIL("analyzer %s: %s", cfg->analyzers[i].id, e2);
    }
    return validate_exposure(cfg, err, errlen);
}
