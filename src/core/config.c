/*
 * config.c - see config.h. One table (options[]) describes every scalar
 * option once: its flag/key name, type, bounds and help text; flags, the JSON
 * file and --help are all driven from it.
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
#include "core/netallow.h"

typedef enum {
    OPT_U32,
    OPT_SIZE,
    OPT_LISTEN,
    OPT_STRATEGY,
    OPT_LOGLEVEL,
    OPT_STRING,
    OPT_DURABILITY,
    OPT_ADMIN_LISTEN,
    OPT_OVERLOAD,
    OPT_HOSTPORT,      /* a string that must be HOST:PORT */
    OPT_SYSLOG_LISTEN  /* repeatable: udp|tcp|tls://HOST:PORT */
} opt_type_t;

typedef struct {
    const char *name; /* flag without "--"; file key with '-' → '_' */
    opt_type_t type;
    size_t offset;
    uint64_t min, max;
    const char *help;
} option_t;

#define OFF(f) offsetof(config_t, f)
static const option_t options[] = {
    {"listen", OPT_LISTEN, 0, 0, 0, "HOST:PORT to listen on (default 127.0.0.1:8080)"},
    {"log-level", OPT_LOGLEVEL, 0, 0, 0, "debug|info|warn|error (default info)"},
    {"strategy", OPT_STRATEGY, 0, 0, 0, "swrr (smooth weighted round robin, default) | random"},
    {"max-body-bytes", OPT_SIZE, OFF(max_body_bytes), 1024, 1ull << 30,
     "largest request body accepted, as received (default 16MiB)"},
    {"max-decoded-bytes", OPT_SIZE, OFF(max_decoded_bytes), 1024, 1ull << 31,
     "largest body after gunzip (default 64MiB)"},
    {"max-records-per-packet", OPT_U32, OFF(max_records_per_packet), 1, 10000000,
     "records in one packet (default 100000)"},
    {"max-record-bytes", OPT_SIZE, OFF(max_record_bytes), 64, 64ull << 20,
     "bytes of one record (default 1MiB)"},
    {"max-depth", OPT_U32, OFF(max_depth), 2, 1000, "JSON nesting depth (default 64)"},
    {"max-header-bytes", OPT_SIZE, OFF(max_header_bytes), 1024, 1ull << 20,
     "request line + headers (default 16KiB)"},
    {"max-queue-bytes", OPT_SIZE, OFF(max_queue_bytes), 1024, 1ull << 40,
     "record bytes accepted and not yet delivered; above it ingest answers 503 until it is "
     "back under 80 % (default: an eighth of --memory-limit, 32MiB)"},
    {"memory-limit", OPT_SIZE, OFF(memory_limit), 16ull << 20, 1ull << 44,
     "memory budget: above 90 % RSS, new packets get 503 and no connection is accepted until "
     "75 % (default 256MiB)"},
    {"min-free-memory", OPT_SIZE, OFF(min_free_memory), 0, 1ull << 44,
     "shed load the same way while the machine (or this process's memory cgroup, when it "
     "has a limit) has less than this available, until 1.5 times that (default 64MiB; 0 = off)"},
    {"global-records-per-s", OPT_SIZE, OFF(global_records_per_s), 0, 1ull << 40,
     "rate limit on all agents together, records/s; over it 429 + Retry-After (default 0 = off)"},
    {"global-bytes-per-s", OPT_SIZE, OFF(global_bytes_per_s), 0, 1ull << 40,
     "rate limit on all agents together, body bytes/s (default 0 = off)"},
    {"agent-records-per-s", OPT_SIZE, OFF(agent_records_per_s), 0, 1ull << 40,
     "rate limit per agent (agent_id, else client address), records/s (default 0 = off)"},
    {"agent-bytes-per-s", OPT_SIZE, OFF(agent_bytes_per_s), 0, 1ull << 40,
     "rate limit per agent, body bytes/s (default 0 = off)"},
    {"rate-burst-s", OPT_U32, OFF(rate_burst_s), 1, 3600,
     "rate limit burst: bucket size in seconds of the rate (default 1)"},
    {"idle-timeout-s", OPT_U32, OFF(idle_timeout_s), 1, 3600,
     "close a client connection that is idle, or has not sent a complete request, this long "
     "after accepting it or answering its previous request (default 30)"},
    {"max-connections", OPT_U32, OFF(max_connections), 0, 1000000,
     "open client connections, counted from accept (silent ones too); one more gets 503 "
     "too_many_connections and is closed (default 4096, 0 = no limit). The ingest listeners "
     "of every loop share one count; a separate --admin-listen has its own"},
    {"max-connections-per-ip", OPT_U32, OFF(max_connections_per_ip), 0, 1000000,
     "open client connections from one address; one more gets 503 too_many_connections "
     "and is closed (default 0 = no limit: agents behind one NAT or proxy share an address)"},
    {"overload-action", OPT_OVERLOAD, 0, 0, 0,
     "reject|pause: a request whose headers arrive while the queue is full (max-queue-bytes) "
     "or memory is short gets 503 + Retry-After and the connection closed before its body "
     "is read (reject, default), or waits unread - TCP backpressure, the agent just blocks "
     "- and goes on once there is room again, for at most --idle-timeout-s, then 503 (pause)"},
    {"max-inflight-body-bytes", OPT_SIZE, OFF(max_inflight_body_bytes), 0, 1ull << 40,
     "request body bytes buffered at once over all connections, before they become packets; "
     "while spent, connections are not read (default 64MiB but at most a quarter of "
     "--memory-limit; never below --max-body-bytes; 0 = no limit)"},
    {"max-requests-per-conn-s", OPT_U32, OFF(max_requests_per_conn_s), 0, 10000000,
     "requests per second one connection may make, burst the same; faster ones get 429 "
     "(default 0 = no limit)"},
    {"ingest-threads", OPT_U32, OFF(ingest_threads), 1, 64,
     "event loops serving the ingest listener, each on its own thread with its own "
     "SO_REUSEPORT socket on the same port (the kernel spreads connections); scanning runs "
     "on them, routing stays on the delivery thread (default: the number of online CPUs, "
     "at most 64; 1 = the main loop only)"},
    {"batch-max-records", OPT_U32, OFF(batch_max_records), 1, 1000000,
     "records per batch to an analyzer (default 1000)"},
    {"batch-max-bytes", OPT_SIZE, OFF(batch_max_bytes), 1024, 1ull << 30,
     "bytes per batch (default 1MiB)"},
    {"batch-linger-ms", OPT_U32, OFF(batch_linger_ms), 0, 60000,
     "longest a partial batch waits for more records (default 5)"},
    {"max-inflight", OPT_U32, OFF(max_inflight), 1, 1024,
     "batches in flight per analyzer (default 4)"},
    {"connect-timeout-ms", OPT_U32, OFF(connect_timeout_ms), 1, 600000,
     "analyzer connect timeout (default 1000)"},
    {"request-timeout-ms", OPT_U32, OFF(request_timeout_ms), 1, 600000,
     "analyzer request timeout (default 10000)"},
    {"max-attempts", OPT_U32, OFF(max_attempts), 1, 1000,
     "delivery attempts per batch before dead-letter (default 8)"},
    {"retry-base-ms", OPT_U32, OFF(retry_base_ms), 1, 600000,
     "first retry backoff, doubled each attempt, with jitter (default 50)"},
    {"retry-max-ms", OPT_U32, OFF(retry_max_ms), 1, 3600000, "largest backoff (default 5000)"},
    {"deadletter-max-bytes", OPT_SIZE, OFF(deadletter_max_bytes), 0, 1ull << 40,
     "dead-letter store size; oldest evicted and counted beyond it (default 64MiB)"},
    {"health-interval-ms", OPT_U32, OFF(health_interval_ms), 50, 3600000,
     "active health check interval (default 1000)"},
    {"health-timeout-ms", OPT_U32, OFF(health_timeout_ms), 10, 600000,
     "active health check timeout (default 500)"},
    {"health-rise", OPT_U32, OFF(health_rise), 1, 100,
     "consecutive passed checks to mark an analyzer up (default 2)"},
    {"health-fall", OPT_U32, OFF(health_fall), 1, 100,
     "consecutive failed checks to mark an analyzer down (default 2)"},
    {"passive-fall", OPT_U32, OFF(passive_fall), 1, 100,
     "consecutive failed deliveries to mark an analyzer down (default 2)"},
    {"breaker-failures", OPT_U32, OFF(breaker_failures), 0, 1000,
     "circuit breaker: consecutive failed batches that open it (default 5, 0 = off)"},
    {"breaker-error-pct", OPT_U32, OFF(breaker_error_pct), 0, 100,
     "circuit breaker: failed % of batches over the window that opens it (default 50, 0 = off)"},
    {"breaker-window-ms", OPT_U32, OFF(breaker_window_ms), 100, 3600000,
     "circuit breaker: sliding window for the error % (default 10000)"},
    {"breaker-min-requests", OPT_U32, OFF(breaker_min_requests), 1, 1000000,
     "circuit breaker: batches in the window before the error % counts (default 20)"},
    {"breaker-cooldown-ms", OPT_U32, OFF(breaker_cooldown_ms), 10, 3600000,
     "circuit breaker: first open period, doubled on each consecutive trip (default 1000)"},
    {"breaker-max-cooldown-ms", OPT_U32, OFF(breaker_max_cooldown_ms), 10, 3600000,
     "circuit breaker: cap of the open period (default 30000)"},
    {"breaker-probes", OPT_U32, OFF(breaker_probes), 1, 100,
     "circuit breaker: probe batches in half-open that must succeed to close it (default 1)"},
    {"panic-threshold", OPT_U32, OFF(panic_threshold_pct), 0, 100,
     "when fewer than this % of analyzers are routable, route to all of them (default 0 = off)"},
    {"drain-timeout-ms", OPT_U32, OFF(drain_timeout_ms), 0, 3600000,
     "on SIGTERM/SIGINT, time allowed to deliver what is queued (default 10000)"},
    {"admin-listen", OPT_ADMIN_LISTEN, 0, 0, 0,
     "HOST:PORT of a separate listener for the admin API (default: the main listener)"},
    {"tls-cert", OPT_STRING, OFF(tls_cert), 1, CONFIG_PATH_MAX,
     "PEM certificate chain: serve HTTPS (TLS 1.2/1.3) on every listener"},
    {"tls-key", OPT_STRING, OFF(tls_key), 1, CONFIG_PATH_MAX, "PEM private key for --tls-cert"},
    {"tls-client-ca", OPT_STRING, OFF(tls_client_ca), 1, CONFIG_PATH_MAX,
     "PEM CA: clients must present a certificate it signed (mutual TLS)"},
    {"analyzer-ca", OPT_STRING, OFF(analyzer_ca), 1, CONFIG_PATH_MAX,
     "PEM CA bundle to verify HTTPS analyzers (default: the system store)"},
    {"analyzer-allow", OPT_STRING, OFF(analyzer_allow), 1, 1023,
     "comma list of hosts, addresses and CIDRs analyzer URLs may point to (default: any "
     "host but link-local and cloud metadata addresses, see docs/SECURITY.md)"},
    {"data-dir", OPT_STRING, OFF(data_dir), 1, sizeof(((config_t *)0)->data_dir) - 1,
     "WAL, dead letters and analyzers.db live here (default ./data)"},
    {"durability", OPT_DURABILITY, 0, 0, 0,
     "none | critical (default: critical records, critical levels, or packets with header "
     "X-Logdist-Durability: critical are fsync'ed to the WAL before the 202) | all"},
    {"critical-levels", OPT_STRING, OFF(critical_levels), 0,
     sizeof(((config_t *)0)->critical_levels) - 1,
     "comma-separated levels whose records are durable under 'critical', e.g. FATAL,ERROR (default none)"},
    {"max-disk-bytes", OPT_SIZE, OFF(max_disk_bytes), 1 << 20, 1ull << 50,
     "WAL disk budget; when full, durable packets get 503 + Retry-After (default 1GiB)"},
    {"wal-segment-bytes", OPT_SIZE, OFF(wal_segment_bytes), 64 << 10, 1ull << 32,
     "WAL segment size (default 64MiB)"},
    {"syslog-listen", OPT_SYSLOG_LISTEN, 0, 0, 0,
     "udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT: receive syslog (RFC 5424 and "
     "3164; octet counting or LF framing); repeatable, up to 8"},
    {"syslog-max-message-bytes", OPT_SIZE, OFF(syslog_max_message_bytes), 480, 16ull << 20,
     "largest syslog message; larger ones are counted and refused, never truncated "
     "(default 64KiB)"},
    {"otlp-listen", OPT_HOSTPORT, OFF(otlp_listen), 0, CONFIG_LISTEN_MAX,
     "HOST:PORT of a listener for OTLP/HTTP logs only (POST /v1/logs; conventionally 4318). "
     "/v1/logs is served on the ingest listeners too"},
    {"forward-listen", OPT_HOSTPORT, OFF(forward_listen), 0, CONFIG_LISTEN_MAX,
     "HOST:PORT: receive the Fluent forward protocol (conventionally 24224)"},
    {"forward-shared-key", OPT_STRING, OFF(forward_shared_key), 1, CONFIG_TOKEN_MAX,
     "Fluent forward: require the HELO/PING/PONG handshake with this shared key"},
    {"elasticsearch-listen", OPT_HOSTPORT, OFF(elasticsearch_listen), 0, CONFIG_LISTEN_MAX,
     "HOST:PORT: serve the Elasticsearch bulk API (POST /_bulk, /{index}/_bulk)"},
};
#define N_OPTIONS (sizeof options / sizeof options[0])

void config_defaults(config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    strlcpy_ld(cfg->listen_host, "127.0.0.1", sizeof cfg->listen_host);
    cfg->listen_port = 8080;
    cfg->log_level = LOG_INFO;
    cfg->strategy = BALANCER_SWRR;
    cfg->max_body_bytes = 16u << 20;
    cfg->max_decoded_bytes = 64u << 20;
    cfg->max_records_per_packet = 100000;
    cfg->max_record_bytes = 1u << 20;
    cfg->max_depth = 64;
    cfg->max_header_bytes = 16u << 10;
    cfg->memory_limit = 256u << 20;
    cfg->max_queue_bytes = cfg->memory_limit / 8;
    cfg->min_free_memory = 64u << 20;
    cfg->rate_burst_s = 1;
    cfg->idle_timeout_s = 30;
    cfg->max_connections = 4096;
    cfg->max_requests_per_conn_s = 0;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->ingest_threads = cpus < 1 ? 1 : cpus > 64 ? 64 : (uint32_t)cpus;
    cfg->max_connections_per_ip = 0;
    cfg->overload_action = OVERLOAD_REJECT;
    cfg->max_inflight_body_bytes = 64u << 20;
    cfg->syslog_max_message_bytes = 64u << 10;
    cfg->batch_max_records = 1000;
    cfg->batch_max_bytes = 1u << 20;
    cfg->batch_linger_ms = 5;
    cfg->max_inflight = 4;
    cfg->connect_timeout_ms = 1000;
    cfg->request_timeout_ms = 10000;
    cfg->max_attempts = 8;
    cfg->retry_base_ms = 50;
    cfg->retry_max_ms = 5000;
    cfg->deadletter_max_bytes = 64u << 20;
    cfg->health_interval_ms = 1000;
    cfg->health_timeout_ms = 500;
    cfg->health_rise = 2;
    cfg->health_fall = 2;
    cfg->passive_fall = 2;
    cfg->drain_timeout_ms = 10000;
    cfg->breaker_failures = 5;
    cfg->breaker_error_pct = 50;
    cfg->breaker_window_ms = 10000;
    cfg->breaker_min_requests = 20;
    cfg->breaker_cooldown_ms = 1000;
    cfg->breaker_max_cooldown_ms = 30000;
    cfg->breaker_probes = 1;
    cfg->panic_threshold_pct = 0;
    strlcpy_ld(cfg->data_dir, "./data", sizeof cfg->data_dir);
    cfg->durability = DURABILITY_CRITICAL;
    cfg->critical_levels[0] = 0;
    cfg->max_disk_bytes = 1ull << 30;
    cfg->wal_segment_bytes = 64u << 20;
}

bool config_level_is_critical(const config_t *cfg, const char *level, size_t len)
{
    const char *p = cfg->critical_levels;
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

static int parse_listen(const char *s, config_t *cfg)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof cfg->listen_host) return -1;
    uint64_t port;
    if (parse_uint(colon + 1, 0, 65535, &port)) return -1;
    memcpy(cfg->listen_host, s, (size_t)(colon - s));
    cfg->listen_host[colon - s] = 0;
    cfg->listen_port = (uint16_t)port;
    return 0;
}

/* Apply one option given as text (from a flag, or a file value turned into text). */
static int apply_option(config_t *cfg, const option_t *o, const char *val, char *err,
                        size_t errlen)
{
    uint64_t v;
    switch (o->type) {
    case OPT_LISTEN:
        if (parse_listen(val, cfg) == 0) return 0;
        break;
    case OPT_LOGLEVEL:
        if (log_level_parse(val, &cfg->log_level) == 0) return 0;
        break;
    case OPT_STRATEGY:
        if (!strcmp(val, "swrr")) {
            cfg->strategy = BALANCER_SWRR;
            return 0;
        }
        if (!strcmp(val, "random")) {
            cfg->strategy = BALANCER_RANDOM;
            return 0;
        }
        break;
    case OPT_ADMIN_LISTEN: {
        config_t tmp;
        if (parse_listen(val, &tmp) == 0) {
            memcpy(cfg->admin_host, tmp.listen_host, sizeof cfg->admin_host);
            cfg->admin_port = tmp.listen_port;
            return 0;
        }
        break;
    }
    case OPT_STRING:
        if (o->offset == OFF(analyzer_allow) && netallow_check_list(val, err, errlen))
            return -1;
        if (strlen(val) >= o->min && strlen(val) <= o->max) {
            strlcpy_ld((char *)cfg + o->offset, val, o->max + 1);
            return 0;
        }
        break;
    case OPT_DURABILITY:
        if (!strcmp(val, "none")) {
            cfg->durability = DURABILITY_NONE;
            return 0;
        }
        if (!strcmp(val, "critical")) {
            cfg->durability = DURABILITY_CRITICAL;
            return 0;
        }
        if (!strcmp(val, "all")) {
            cfg->durability = DURABILITY_ALL;
            return 0;
        }
        break;
    case OPT_HOSTPORT: {
        char host[256];
        uint16_t port;
        if (strlen(val) <= o->max && config_split_hostport(val, host, sizeof host, &port) == 0) {
            strlcpy_ld((char *)cfg + o->offset, val, o->max + 1);
            return 0;
        }
        break;
    }
    case OPT_SYSLOG_LISTEN:
        if (cfg->syslog_listen_count >= CONFIG_SYSLOG_LISTEN_MAX) {
            snprintf(err, errlen, "syslog-listen given more than %d times",
                     CONFIG_SYSLOG_LISTEN_MAX);
            return -1;
        }
        if (strlen(val) <= CONFIG_LISTEN_MAX && syslog_listen_ok(val)) {
            strlcpy_ld(cfg->syslog_listen[cfg->syslog_listen_count++], val, CONFIG_LISTEN_MAX + 1);
            return 0;
        }
        break;
    case OPT_OVERLOAD:
        if (!strcmp(val, "reject")) {
            cfg->overload_action = OVERLOAD_REJECT;
            return 0;
        }
        if (!strcmp(val, "pause")) {
            cfg->overload_action = OVERLOAD_PAUSE;
            return 0;
        }
        break;
    case OPT_U32:
        if (parse_uint(val, o->min, o->max, &v) == 0) {
            *(uint32_t *)((char *)cfg + o->offset) = (uint32_t)v;
            return 0;
        }
        break;
    case OPT_SIZE:
        if (parse_size(val, &v) == 0 && v >= o->min && v <= o->max) {
            if (o->offset == OFF(max_record_bytes))
                cfg->max_record_bytes = (uint32_t)v;
            else
                *(uint64_t *)((char *)cfg + o->offset) = v;
            if (o->offset == OFF(max_queue_bytes)) cfg->queue_bytes_explicit = true;
            if (o->offset == OFF(max_inflight_body_bytes)) cfg->inflight_body_explicit = true;
            if (o->offset == OFF(memory_limit) && !cfg->queue_bytes_explicit)
                cfg->max_queue_bytes = v / 8;
            return 0;
        }
        break;
    }
    snprintf(err, errlen, "invalid value '%s' for %s (%s)", val, o->name, o->help);
    return -1;
}

static const option_t *find_option(const char *name)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *a = options[i].name, *b = name;
        while (*a && (*a == *b || (*a == '-' && *b == '_'))) a++, b++;
        if (!*a && !*b) return &options[i];
    }
    return NULL;
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
            snprintf(err, errlen, "%s '%.200s' is not a valid http(s) URL%s",
                     k ? "health_url" : "url", urls[k],
                     bad == 3 ? " (credentials in URLs are not allowed)" : "");
            return -1;
        }
    }
    return 0;
}

int config_parse_analyzer(const char *s, analyzer_spec_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->weight = 1.0;
    static const char *const keys[] = {"id=",          "url=",        "weight=",
                                       "health_url=", "client_cert=", "client_key="};
    enum { NKEYS = 6 };
    const char *p = s;
    while (*p) {
        int k = -1;
        for (int i = 0; i < NKEYS; i++)
            if (!strncmp(p, keys[i], strlen(keys[i]))) k = i;
        if (k < 0) {
            snprintf(err, errlen, "analyzer spec '%.200s': expected id=, url=, weight=, "
                     "health_url=, client_cert= or client_key= at '%.40s'", s, p);
            return -1;
        }
        p += strlen(keys[k]);
        /* the value ends at the next ",key=" (URLs may contain commas) */
        const char *end = p;
        for (;;) {
            end = strchr(end, ',');
            if (!end) {
                end = p + strlen(p);
                break;
            }
            int is_key = 0;
            for (int i = 0; i < NKEYS; i++)
                if (!strncmp(end + 1, keys[i], strlen(keys[i]))) is_key = 1;
            if (is_key) break;
            end++;
        }
        size_t n = (size_t)(end - p);
        char val[CONFIG_URL_MAX + 1];
        if (n > CONFIG_URL_MAX) {
            snprintf(err, errlen, "analyzer spec value too long");
            return -1;
        }
        memcpy(val, p, n);
        val[n] = 0;
        if (k == 0) {
            if (n > CONFIG_ID_MAX) {
                snprintf(err, errlen, "analyzer id too long");
                return -1;
            }
            memcpy(out->id, val, n + 1);
        } else if (k == 1) {
            memcpy(out->url, val, n + 1);
        } else if (k == 2) {
            if (parse_weight(val, &out->weight)) {
                snprintf(err, errlen, "analyzer weight '%s' is not a finite number >= 0", val);
                return -1;
            }
        } else if (k == 3) {
            memcpy(out->health_url, val, n + 1);
        } else {
            if (n > CONFIG_PATH_MAX) {
                snprintf(err, errlen, "analyzer %s path too long", keys[k]);
                return -1;
            }
            memcpy(k == 4 ? out->client_cert : out->client_key, val, n + 1);
        }
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

int config_load_file(config_t *cfg, const char *path, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: top level must be an object", path);
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (!strcmp(key, "analyzers")) {
            if (!json_is_array(val)) {
                snprintf(err, errlen, "%s: \"analyzers\" must be an array", path);
                goto out;
            }
            size_t i;
            json_t *a;
            json_array_foreach(val, i, a)
            {
                analyzer_spec_t spec;
                memset(&spec, 0, sizeof spec);
                spec.weight = 1.0;
                json_t *id = json_object_get(a, "id"), *url = json_object_get(a, "url");
                json_t *w = json_object_get(a, "weight"), *h = json_object_get(a, "health_url");
                const char *k2;
                json_t *v2;
                json_object_foreach(a, k2, v2)
                {
                    if (strcmp(k2, "id") && strcmp(k2, "url") && strcmp(k2, "weight") &&
                        strcmp(k2, "health_url") && strcmp(k2, "client_cert") &&
                        strcmp(k2, "client_key")) {
                        snprintf(err, errlen, "%s: analyzers[%zu]: unknown key \"%s\"", path, i,
                                 k2);
                        goto out;
                    }
                }
                if (!json_is_string(id) || !json_is_string(url) || (w && !json_is_number(w)) ||
                    (h && !json_is_string(h)) || json_string_length(id) > CONFIG_ID_MAX ||
                    json_string_length(url) > CONFIG_URL_MAX ||
                    (h && json_string_length(h) > CONFIG_URL_MAX)) {
                    snprintf(err, errlen, "%s: analyzers[%zu] needs string id, url and a "
                             "numeric weight", path, i);
                    goto out;
                }
                strlcpy_ld(spec.id, json_string_value(id), sizeof spec.id);
                strlcpy_ld(spec.url, json_string_value(url), sizeof spec.url);
                if (h) strlcpy_ld(spec.health_url, json_string_value(h), sizeof spec.health_url);
                if (w) spec.weight = json_number_value(w);
                json_t *cc = json_object_get(a, "client_cert"), *ck = json_object_get(a, "client_key");
                if ((cc && (!json_is_string(cc) || json_string_length(cc) > CONFIG_PATH_MAX)) ||
                    (ck && (!json_is_string(ck) || json_string_length(ck) > CONFIG_PATH_MAX))) {
                    snprintf(err, errlen, "%s: analyzers[%zu]: client_cert/client_key must be paths",
                             path, i);
                    goto out;
                }
                if (cc) strlcpy_ld(spec.client_cert, json_string_value(cc), sizeof spec.client_cert);
                if (ck) strlcpy_ld(spec.client_key, json_string_value(ck), sizeof spec.client_key);
                char e2[512];
                if (config_check_analyzer(&spec, e2, sizeof e2)) {
                    snprintf(err, errlen, "%s: analyzers[%zu]: %s", path, i, e2);
                    goto out;
                }
                if (config_put_analyzer(cfg, &spec)) goto out;
            }
            continue;
        }
        if (!strcmp(key, "tokens")) {
            size_t i;
            json_t *t;
            if (!json_is_array(val)) {
                snprintf(err, errlen, "%s: \"tokens\" must be an array of strings", path);
                goto out;
            }
            json_array_foreach(val, i, t)
            {
                if (!json_is_string(t) || add_token(cfg, json_string_value(t), err, errlen)) {
                    if (!json_is_string(t))
                        snprintf(err, errlen, "%s: tokens[%zu] must be a string", path, i);
                    goto out;
                }
            }
            continue;
        }
        if (!strcmp(key, "insecure")) {
            if (!json_is_boolean(val)) {
                snprintf(err, errlen, "%s: \"insecure\" must be true or false", path);
                goto out;
            }
            cfg->insecure = json_is_true(val);
            continue;
        }
        const option_t *o = find_option(key);
        if (!o) {
            snprintf(err, errlen, "%s: unknown option \"%s\"", path, key);
            goto out;
        }
        if (o->type == OPT_SYSLOG_LISTEN && json_is_array(val)) { /* a list, or one string */
            size_t i;
            json_t *u;
            json_array_foreach(val, i, u)
            {
                if (!json_is_string(u)) {
                    snprintf(err, errlen, "%s: %s[%zu] must be a string", path, key, i);
                    goto out;
                }
                if (apply_option(cfg, o, json_string_value(u), err, errlen)) goto out;
            }
            continue;
        }
        char text[64];
        const char *s;
        if (json_is_string(val))
            s = json_string_value(val);
        else if (json_is_integer(val) && json_integer_value(val) >= 0) {
            snprintf(text, sizeof text, "%lld", (long long)json_integer_value(val));
            s = text;
        } else {
            snprintf(err, errlen, "%s: \"%s\" must be a string or a non-negative integer", path,
                     key);
            goto out;
        }
        if (apply_option(cfg, o, s, err, errlen)) goto out;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

void config_usage(FILE *out)
{
    fprintf(out, "Usage: logdistd [--listen HOST:PORT] [--config FILE] "
                 "[--analyzer id=ID,url=URL,weight=W[,health_url=URL]]... [options]\n\n"
                 "logdist distributor: accepts log packets on POST /api/v1/logs and spreads\n"
                 "their records over weighted analyzers. Every option can also be given in the\n"
                 "JSON config file as \"name_with_underscores\": value; flags override the file.\n"
                 "Sizes take KiB/MiB/GiB suffixes.\n\n"
                 "  --config FILE              JSON config file (options + \"analyzers\" array)\n"
                 "  --analyzer SPEC            add an analyzer (repeatable); weight default 1;\n"
                 "                             SPEC keys: id, url, weight, health_url, client_cert,\n"
                 "                             client_key (mutual TLS to an https analyzer)\n"
                 "  --token SPEC               role=ingest|admin|read[+...],hash=HASH[,agent=ID]\n"
                 "                             (repeatable; turns authentication on)\n"
                 "  --hash-token TOKEN         print the HASH to use in --token, and exit; TOKEN\n"
                 "                             needs 128 random bits (32 hex / 22 base64 chars)\n"
                 "  --generate-token           print a new random token and its HASH, and exit\n"
                 "  --insecure                 allow a non-loopback listener without tokens\n");
    for (size_t i = 0; i < N_OPTIONS; i++)
        fprintf(out, "  --%-24s %s\n", options[i].name, options[i].help);
    fprintf(out, "  --help, --version\n");
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

int config_from_args(config_t *cfg, int argc, char **argv)
{
    char err[1024];
    /* pass 1: --help/--version/--config */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            config_usage(stdout);
            return 1;
        }
        if (!strcmp(argv[i], "--hash-token")) return hash_token_cmd(i + 1 < argc ? argv[i + 1] : NULL);
        if (!strcmp(argv[i], "--generate-token")) return generate_token_cmd();
        if (!strcmp(argv[i], "--version")) {
            printf("logdistd " LOGDIST_VERSION "\n");
            return 1;
        }
        const char *file = NULL;
        if (!strncmp(argv[i], "--config=", 9)) {
            file = argv[i] + 9;
        } else if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "logdistd: --config needs a file\n");
                return -1;
            }
            file = argv[i + 1];
        }
        if (file) {
            if (config_load_file(cfg, file, err, sizeof err)) {
                fprintf(stderr, "logdistd: %s\n", err);
                return -1;
            }
        }
    }
    /* pass 2: every flag */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2)) {
            fprintf(stderr, "logdistd: unexpected argument '%s' (see --help)\n", a);
            return -1;
        }
        if (!strcmp(a, "--insecure")) {
            cfg->insecure = true;
            continue;
        }
        const char *name = a + 2, *val;
        char namebuf[64];
        const char *eq = strchr(name, '=');
        if (eq) { /* --name=value */
            size_t n = (size_t)(eq - name);
            if (n >= sizeof namebuf) n = sizeof namebuf - 1;
            memcpy(namebuf, name, n);
            namebuf[n] = 0;
            name = namebuf;
            val = eq + 1;
        } else {
            if (i + 1 >= argc) {
                fprintf(stderr, "logdistd: %s needs a value (see --help)\n", a);
                return -1;
            }
            val = argv[++i];
        }
        if (!strcmp(name, "config")) continue;
        if (!strcmp(name, "token")) {
            if (add_token(cfg, val, err, sizeof err)) {
                fprintf(stderr, "logdistd: --token: %s\n", err);
                return -1;
            }
            continue;
        }
        if (!strcmp(name, "analyzer")) {
            analyzer_spec_t spec;
            if (config_parse_analyzer(val, &spec, err, sizeof err)) {
                fprintf(stderr, "logdistd: --analyzer: %s\n", err);
                return -1;
            }
            if (config_put_analyzer(cfg, &spec)) return -1;
            continue;
        }
        const option_t *o = find_option(name);
        if (!o || strchr(name, '_')) {
            fprintf(stderr, "logdistd: unknown option --%s (see --help)\n", name);
            return -1;
        }
        if (apply_option(cfg, o, val, err, sizeof err)) {
            fprintf(stderr, "logdistd: %s\n", err);
            return -1;
        }
    }
    config_finish(cfg);
    return 0;
}

void config_finish(config_t *cfg)
{
    netallow_set_process_list(cfg->analyzer_allow); /* connect-time checks (netallow_curl.h) */
    if (!cfg->queue_bytes_explicit) cfg->max_queue_bytes = cfg->memory_limit / 8;
    if (!cfg->inflight_body_explicit) {
        cfg->max_inflight_body_bytes = 64u << 20;
        if (cfg->memory_limit && cfg->memory_limit / 4 < cfg->max_inflight_body_bytes)
            cfg->max_inflight_body_bytes = cfg->memory_limit / 4;
    }
    /* one body of the largest size must fit, or its connection would never be read */
    if (cfg->max_inflight_body_bytes && cfg->max_inflight_body_bytes < cfg->max_body_bytes)
        cfg->max_inflight_body_bytes = cfg->max_body_bytes;
}
