/*
 * config_options.c - the option table: one row per option of logdistd (see
 * core/config_int.h for the row type), and what is rendered from it alone:
 * --help (config_usage), docs/CONFIG.md (config_write_doc, checked fresh by
 * the ctest doc/config) and the OPTIONS section of logdistd(8)
 * (config_write_scdoc, spliced into man/logdistd.8.scd at build time). Parsing
 * lives in core/config.c.
 *
 * A default is written as a user would write the value and goes through the
 * same parser as a flag (config_defaults), so table, parser and docs cannot
 * disagree. An option whose default depends on others has def = NULL and says
 * how it is derived in def_doc; config_finish() derives it unless it was given.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/config_int.h"

#define FLD(f) offsetof(config_t, f), sizeof(((config_t *)0)->f)
#define STRMAX(f) (sizeof(((config_t *)0)->f) - 1)
#define R OPTF_RELOAD

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_formats[] = {"text", "json", NULL};
static const char *const strategies[] = {"swrr", "random", NULL};
static const char *const durabilities[] = {"none", "critical", "all", NULL};
static const char *const overload_actions[] = {"reject", "pause", NULL};
static const char *const on_off[] = {"off", "on", NULL};

/* clang-format off */
const option_t config_options[] = {
    /* listening */
    {"listen", OPT_LISTEN, FLD(listen_host), offsetof(config_t, listen_port), 0, 0, 0, NULL,
     "127.0.0.1:8080", NULL, 0, "HOST:PORT of the ingest listener (POST /api/v1/logs; also the admin API unless --admin-listen)"},
    {"admin-listen", OPT_LISTEN, FLD(admin_host), offsetof(config_t, admin_port), 0, 0, 0, NULL,
     NULL, "the main listener", 0, "HOST:PORT of a separate listener for the admin API, /metrics and the dashboard"},
    {"ingest-threads", OPT_UINT, FLD(ingest_threads), 0, 1, 64, 0, NULL, NULL,
     "the number of online CPUs, at most 64", 0,
     "event loops serving the ingest listener, each on its own thread with its own SO_REUSEPORT "
     "socket on the same port (the kernel spreads connections); scanning runs on them, routing "
     "stays on the delivery thread (1 = the main loop only)"},
    {"log-level", OPT_ENUM, FLD(log_level), 0, 0, 0, 0, log_levels, "info", NULL, R,
     "least severe level written to stderr"},
    {"log-format", OPT_ENUM, FLD(log_format), 0, 0, 0, 0, log_formats, "text", NULL, R,
     "text: one readable line per event; json: one JSON object per line (ts, level, event, fields)"},
    {"strategy", OPT_ENUM, FLD(strategy), 0, 0, 0, 0, strategies, "swrr", NULL, 0,
     "swrr: smooth weighted round robin, exact shares; random: weighted random"},
    /* ingest limits */
    {"max-body-bytes", OPT_SIZE, FLD(max_body_bytes), 0, 1024, 1ull << 30, 0, NULL, "16MiB", NULL, R,
     "largest request body accepted, as received"},
    {"max-decoded-bytes", OPT_SIZE, FLD(max_decoded_bytes), 0, 1024, 1ull << 31, 0, NULL, "64MiB", NULL, R,
     "largest body after gunzip"},
    {"max-records-per-packet", OPT_UINT, FLD(max_records_per_packet), 0, 1, 10000000, 0, NULL, "100000", NULL, R,
     "records in one packet"},
    {"max-record-bytes", OPT_SIZE, FLD(max_record_bytes), 0, 64, 64ull << 20, 0, NULL, "1MiB", NULL, R,
     "bytes of one record"},
    {"max-depth", OPT_UINT, FLD(max_depth), 0, 2, 1000, 0, NULL, "64", NULL, R, "JSON nesting depth of a record"},
    {"max-header-bytes", OPT_SIZE, FLD(max_header_bytes), 0, 1024, 1ull << 20, 0, NULL, "16KiB", NULL, 0,
     "request line + headers"},
    {"critical-levels", OPT_CSV, FLD(critical_levels), 0, 0, STRMAX(critical_levels), 0, NULL, "", NULL, R,
     "levels whose records are durable under --durability critical, e.g. FATAL,ERROR (empty: none)"},
    /* overload */
    {"max-queue-bytes", OPT_SIZE, FLD(max_queue_bytes), 0, 1024, 1ull << 40, 0, NULL, NULL,
     "an eighth of --memory-limit", 0,
     "record bytes accepted and not yet delivered; above it ingest answers 503 until it is back "
     "under 80 %"},
    {"memory-limit", OPT_SIZE, FLD(memory_limit), 0, 16ull << 20, 1ull << 44, 0, NULL, "256MiB", NULL, 0,
     "memory budget: above 90 % RSS, new packets get 503 and no connection is accepted until 75 %"},
    {"min-free-memory", OPT_SIZE, FLD(min_free_memory), 0, 0, 1ull << 44, 0, NULL, "64MiB", NULL, 0,
     "shed load the same way while the machine (or this process's memory cgroup, when it has a "
     "limit) has less than this available, until 1.5 times that (0 = off)"},
    {"overload-action", OPT_ENUM, FLD(overload_action), 0, 0, 0, 0, overload_actions, "reject", NULL, 0,
     "a request whose headers arrive while the queue is full or memory is short: reject = 503 + "
     "Retry-After and the connection closed before its body is read; pause = wait unread (TCP "
     "backpressure) until there is room, for at most --idle-timeout-s, then 503"},
    {"max-inflight-body-bytes", OPT_SIZE, FLD(max_inflight_body_bytes), 0, 0, 1ull << 40, 0, NULL, NULL,
     "64MiB but at most a quarter of --memory-limit; never below --max-body-bytes", 0,
     "request body bytes buffered at once over all connections, before they become packets; "
     "while spent, connections are not read (0 = no limit)"},
    {"global-records-per-s", OPT_SIZE, FLD(global_records_per_s), 0, 0, 1ull << 40, 0, NULL, "0", NULL, R,
     "rate limit on all agents together, records/s; over it 429 + Retry-After (0 = off)"},
    {"global-bytes-per-s", OPT_SIZE, FLD(global_bytes_per_s), 0, 0, 1ull << 40, 0, NULL, "0", NULL, R,
     "rate limit on all agents together, body bytes/s (0 = off)"},
    {"agent-records-per-s", OPT_SIZE, FLD(agent_records_per_s), 0, 0, 1ull << 40, 0, NULL, "0", NULL, R,
     "rate limit per agent (agent_id, else client address), records/s (0 = off)"},
    {"agent-bytes-per-s", OPT_SIZE, FLD(agent_bytes_per_s), 0, 0, 1ull << 40, 0, NULL, "0", NULL, R,
     "rate limit per agent, body bytes/s (0 = off)"},
    {"rate-burst-s", OPT_UINT, FLD(rate_burst_s), 0, 1, 3600, 0, NULL, "1", NULL, R,
     "rate limit burst: bucket size in seconds of the rate"},
    /* connections */
    {"idle-timeout-s", OPT_DURATION, FLD(idle_timeout_s), 0, 1, 3600, 1000, NULL, "30s", NULL, 0,
     "close a client connection that is idle, or has not sent a complete request, this long after "
     "accepting it or answering its previous request"},
    {"max-connections", OPT_UINT, FLD(max_connections), 0, 0, 1000000, 0, NULL, "4096", NULL, 0,
     "open client connections, counted from accept (silent ones too); one more gets 503 "
     "too_many_connections and is closed (0 = no limit). The ingest listeners of every loop share "
     "one count; a separate --admin-listen has its own"},
    {"max-connections-per-ip", OPT_UINT, FLD(max_connections_per_ip), 0, 0, 1000000, 0, NULL, "0", NULL, 0,
     "open client connections from one address; one more gets 503 too_many_connections (0 = no "
     "limit: agents behind one NAT or proxy share an address)"},
    {"max-requests-per-conn-s", OPT_UINT, FLD(max_requests_per_conn_s), 0, 0, 10000000, 0, NULL, "0", NULL, 0,
     "requests per second one connection may make, burst the same; faster ones get 429 (0 = no limit)"},
    /* batching and delivery */
    {"batch-max-records", OPT_UINT, FLD(batch_max_records), 0, 1, 1000000, 0, NULL, "1000", NULL, R,
     "records per batch to an analyzer"},
    {"batch-max-bytes", OPT_SIZE, FLD(batch_max_bytes), 0, 1024, 1ull << 30, 0, NULL, "1MiB", NULL, R,
     "bytes per batch"},
    {"batch-linger-ms", OPT_DURATION, FLD(batch_linger_ms), 0, 0, 60000, 1, NULL, "5ms", NULL, R,
     "longest a partial batch waits for more records"},
    {"max-inflight", OPT_UINT, FLD(max_inflight), 0, 1, 1024, 0, NULL, "4", NULL, R,
     "batches in flight per analyzer"},
    {"connect-timeout-ms", OPT_DURATION, FLD(connect_timeout_ms), 0, 1, 600000, 1, NULL, "1s", NULL, R,
     "analyzer connect timeout"},
    {"request-timeout-ms", OPT_DURATION, FLD(request_timeout_ms), 0, 1, 600000, 1, NULL, "10s", NULL, R,
     "analyzer request timeout"},
    {"max-attempts", OPT_UINT, FLD(max_attempts), 0, 1, 1000, 0, NULL, "8", NULL, R,
     "delivery attempts per batch before it is dead-lettered"},
    {"retry-base-ms", OPT_DURATION, FLD(retry_base_ms), 0, 1, 600000, 1, NULL, "50ms", NULL, R,
     "first retry backoff, doubled each attempt, with jitter"},
    {"retry-max-ms", OPT_DURATION, FLD(retry_max_ms), 0, 1, 3600000, 1, NULL, "5s", NULL, R,
     "largest retry backoff"},
    {"deadletter-max-bytes", OPT_SIZE, FLD(deadletter_max_bytes), 0, 0, 1ull << 40, 0, NULL, "64MiB", NULL, 0,
     "dead-letter store size; the oldest are evicted and counted beyond it"},
    /* health and breakers */
    {"health-interval-ms", OPT_DURATION, FLD(health_interval_ms), 0, 50, 3600000, 1, NULL, "1s", NULL, R,
     "active health check interval"},
    {"health-timeout-ms", OPT_DURATION, FLD(health_timeout_ms), 0, 10, 600000, 1, NULL, "500ms", NULL, R,
     "active health check timeout"},
    {"health-rise", OPT_UINT, FLD(health_rise), 0, 1, 100, 0, NULL, "2", NULL, R,
     "consecutive passed checks that mark an analyzer up"},
    {"health-fall", OPT_UINT, FLD(health_fall), 0, 1, 100, 0, NULL, "2", NULL, R,
     "consecutive failed checks that mark an analyzer down"},
    {"passive-fall", OPT_UINT, FLD(passive_fall), 0, 1, 100, 0, NULL, "2", NULL, R,
     "consecutive failed deliveries that mark an analyzer down"},
    {"breaker-failures", OPT_UINT, FLD(breaker_failures), 0, 0, 1000, 0, NULL, "5", NULL, R,
     "circuit breaker: consecutive failed batches that open it (0 = off)"},
    {"breaker-error-pct", OPT_UINT, FLD(breaker_error_pct), 0, 0, 100, 0, NULL, "50", NULL, R,
     "circuit breaker: failed % of batches over the window that opens it (0 = off)"},
    {"breaker-window-ms", OPT_DURATION, FLD(breaker_window_ms), 0, 100, 3600000, 1, NULL, "10s", NULL, R,
     "circuit breaker: sliding window for the error %"},
    {"breaker-min-requests", OPT_UINT, FLD(breaker_min_requests), 0, 1, 1000000, 0, NULL, "20", NULL, R,
     "circuit breaker: batches in the window before the error % counts"},
    {"breaker-cooldown-ms", OPT_DURATION, FLD(breaker_cooldown_ms), 0, 10, 3600000, 1, NULL, "1s", NULL, R,
     "circuit breaker: first open period, doubled on each consecutive trip"},
    {"breaker-max-cooldown-ms", OPT_DURATION, FLD(breaker_max_cooldown_ms), 0, 10, 3600000, 1, NULL, "30s", NULL, R,
     "circuit breaker: cap of the open period"},
    {"breaker-probes", OPT_UINT, FLD(breaker_probes), 0, 1, 100, 0, NULL, "1", NULL, R,
     "circuit breaker: probe batches in half-open that must succeed to close it"},
    {"panic-threshold", OPT_UINT, FLD(panic_threshold_pct), 0, 0, 100, 0, NULL, "0", NULL, 0,
     "when fewer than this % of analyzers are routable, route to all of them (0 = off)"},
    /* adaptive weights (deliver/adaptive.h, docs/ROUTING.md) */
    {"adaptive-weights", OPT_BOOL, FLD(adaptive_weights), 0, 0, 0, 0, NULL, "false", NULL, R,
     "scale each analyzer's weight by a factor in [--adaptive-min-weight-pct, 1] from its "
     "peak-EWMA attempt latency against the pool median and its error rate (equal analyzers "
     "keep their configured weights exactly)"},
    {"adaptive-decay-ms", OPT_DURATION, FLD(adaptive_decay_ms), 0, 100, 600000, 1, NULL, "10s", NULL, R,
     "adaptive weights: time constant of the latency peak-EWMA and of the error-rate EWMA "
     "(Linkerd's 10 s); a recovered analyzer is back within about decay x ln(excess / tolerance)"},
    {"adaptive-latency-tolerance-pct", OPT_UINT, FLD(adaptive_latency_tolerance_pct), 0, 0, 10000, 0, NULL, "50", NULL, R,
     "adaptive weights: an analyzer's latency may exceed the pool median by this % (plus "
     "--adaptive-latency-slack-ms) at no cost; beyond it the factor is threshold / latency"},
    {"adaptive-latency-slack-ms", OPT_DURATION, FLD(adaptive_latency_slack_ms), 0, 0, 60000, 1, NULL, "5ms", NULL, R,
     "adaptive weights: absolute latency slack on top of the tolerance (scheduler noise of "
     "fast local analyzers)"},
    {"adaptive-error-tolerance-pct", OPT_UINT, FLD(adaptive_error_tolerance_pct), 0, 0, 99, 0, NULL, "5", NULL, R,
     "adaptive weights: failed attempts % at no cost; beyond it the factor is "
     "(1 - rate) / (1 - tolerance)"},
    {"adaptive-min-weight-pct", OPT_UINT, FLD(adaptive_min_weight_pct), 0, 1, 100, 0, NULL, "10", NULL, R,
     "adaptive weights and slow start: floor of the factor, % of the configured weight "
     "(Envoy's min_weight_percent)"},
    {"slow-start-ms", OPT_DURATION, FLD(slow_start_ms), 0, 0, 3600000, 1, NULL, "0", NULL, R,
     "an analyzer added after start or back up after being down ramps its weight from "
     "--adaptive-min-weight-pct to full over this window, linearly (Envoy aggression 1.0); "
     "per analyzer \"slow_start_ms\" overrides it (0 = off)"},
    {"weight-hints", OPT_ENUM, FLD(weight_hints), 0, 0, 0, 0, on_off, "on", NULL, R,
     "on: an X-Logdist-Weight response header (\"50%\" of the configured weight, or an absolute "
     "weight \"0.2\") on deliveries and health checks scales the analyzer's weight until the "
     "next hint or --weight-hint-ttl-ms; invalid hints are counted and ignored"},
    {"weight-hint-max-pct", OPT_UINT, FLD(weight_hint_max_pct), 0, 1, 1000, 0, NULL, "100", NULL, R,
     "largest weight hint accepted, % of the configured weight (above it: refused)"},
    {"weight-hint-ttl-ms", OPT_DURATION, FLD(weight_hint_ttl_ms), 0, 100, 86400000, 1, NULL, "30s", NULL, R,
     "a weight hint holds this long unless renewed; then the configured weight is back"},
    {"drain-timeout-ms", OPT_DURATION, FLD(drain_timeout_ms), 0, 0, 3600000, 1, NULL, "10s", NULL, 0,
     "on SIGTERM/SIGINT, time allowed to deliver what is queued"},
    /* durability */
    {"data-dir", OPT_STRING, FLD(data_dir), 0, 1, STRMAX(data_dir), 0, NULL, "./data", NULL, 0,
     "the WAL, dead letters and analyzers.db live here"},
    {"durability", OPT_ENUM, FLD(durability), 0, 0, 0, 0, durabilities, "critical", NULL, 0,
     "which records are fsync'ed to the WAL before the 202: none; critical (records with "
     "\"critical\": true, of a --critical-levels level, or in a packet with X-Logdist-Durability: "
     "critical); all"},
    {"max-disk-bytes", OPT_SIZE, FLD(max_disk_bytes), 0, 1 << 20, 1ull << 50, 0, NULL, "1GiB", NULL, 0,
     "WAL disk budget; when full, durable packets get 503 + Retry-After"},
    {"wal-segment-bytes", OPT_SIZE, FLD(wal_segment_bytes), 0, 64 << 10, 1ull << 32, 0, NULL, "64MiB", NULL, 0,
     "WAL segment size"},
    /* security */
    {"token", OPT_TOKEN, 0, 0, 0, 0, CONFIG_TOKEN_MAX, 0, NULL, NULL, "none: authentication off",
     R | OPTF_SECRET | OPTF_REPEAT,
     "role=ingest|admin|read[+...],hash=HASH[,agent=ID]: a token that may call the API (turns "
     "authentication on; see logdistd --hash-token)"},
    {"insecure", OPT_BOOL, FLD(insecure), 0, 0, 0, 0, NULL, "false", NULL, 0,
     "allow a non-loopback listener without tokens"},
    {"tls-cert", OPT_STRING, FLD(tls_cert), 0, 1, CONFIG_PATH_MAX, 0, NULL, NULL, "none: plain HTTP", 0,
     "PEM certificate chain: serve HTTPS (TLS 1.2/1.3) on every listener (a reload re-reads the file)"},
    {"tls-key", OPT_STRING, FLD(tls_key), 0, 1, CONFIG_PATH_MAX, 0, NULL, NULL, "none", 0,
     "PEM private key for --tls-cert (a reload re-reads the file)"},
    {"tls-client-ca", OPT_STRING, FLD(tls_client_ca), 0, 1, CONFIG_PATH_MAX, 0, NULL, NULL, "none: no client certificates", 0,
     "PEM CA: clients must present a certificate it signed (mutual TLS)"},
    {"analyzer-ca", OPT_STRING, FLD(analyzer_ca), 0, 1, CONFIG_PATH_MAX, 0, NULL, NULL, "the system store", 0,
     "PEM CA bundle to verify HTTPS analyzers"},
    {"analyzer-allow", OPT_CSV, FLD(analyzer_allow), 0, 0, STRMAX(analyzer_allow), 0, NULL, "", NULL, 0,
     "hosts, addresses and CIDRs analyzer URLs may point to (empty: any host but link-local and "
     "cloud metadata addresses, see docs/SECURITY.md)"},
    /* analyzers */
    {"analyzer", OPT_ANALYZER, 0, 0, 0, 0, 0, 0, NULL, NULL, "none", R | OPTF_REPEAT,
     "id=ID,url=URL[,weight=W][,health_url=URL][,client_cert=PEM,client_key=PEM][,slow_start_ms=MS]: an analyzer "
     "(weight default 1; health_url default <scheme>://<host>:<port>/health); in the file, "
     "\"analyzers\": [{\"id\": ..., \"url\": ...}]"},
    /* content routes and key affinity (docs/ROUTING.md) */
    {"routes", OPT_ROUTES, 0, 0, 0, 0, 0, 0, NULL, NULL, "none: every record to every analyzer by weight", R,
     "content routes, a JSON array of route objects (docs/ROUTING.md); in the file, "
     "\"routes\": [...] holds the array itself"},
    {"affinity-key", OPT_STRING, FLD(affinity_key), 0, 0, CONFIG_AFFINITY_KEY_MAX, 0, NULL, "", NULL, R,
     "field (a dotted path such as source or metadata.trace_id) whose value keeps records "
     "together on one analyzer in the default route (weighted rendezvous hashing); empty: off"},
    {"affinity-balance-factor", OPT_UINT, FLD(affinity_balance_pct), 0, 0, 10000, 0, NULL, "0", NULL, R,
     "bounded load for the default route's affinity key, in % of an analyzer's fair share "
     "(as HAProxy's hash-balance-factor; 0 = off, else 101..10000, e.g. 125)"},
    /* other protocols */
    {"syslog-listen", OPT_SYSLOG, 0, 0, 0, 0, CONFIG_SYSLOG_LISTEN_MAX, 0, NULL, NULL, "none", OPTF_REPEAT,
     "udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT: receive syslog (RFC 5424 and 3164; "
     "octet counting or LF framing); up to 8"},
    {"syslog-max-message-bytes", OPT_SIZE, FLD(syslog_max_message_bytes), 0, 480, 16ull << 20, 0, NULL,
     "64KiB", NULL, 0, "largest syslog message; larger ones are counted and refused, never truncated"},
    {"otlp-listen", OPT_HOSTPORT, FLD(otlp_listen), 0, 0, CONFIG_LISTEN_MAX, 0, NULL, "", NULL, 0,
     "HOST:PORT of a listener for OTLP/HTTP logs only (POST /v1/logs; conventionally 4318). "
     "/v1/logs is served on the ingest listeners too"},
    {"forward-listen", OPT_HOSTPORT, FLD(forward_listen), 0, 0, CONFIG_LISTEN_MAX, 0, NULL, "", NULL, 0,
     "HOST:PORT: receive the Fluent forward protocol (conventionally 24224)"},
    {"forward-shared-key", OPT_STRING, FLD(forward_shared_key), 0, 1, CONFIG_TOKEN_MAX, 0, NULL, NULL, "none: no handshake",
     OPTF_SECRET, "Fluent forward: require the HELO/PING/PONG handshake with this shared key"},
    {"elasticsearch-listen", OPT_HOSTPORT, FLD(elasticsearch_listen), 0, 0, CONFIG_LISTEN_MAX, 0, NULL, "",
     NULL, 0, "HOST:PORT: serve the Elasticsearch bulk API (POST /_bulk, /{index}/_bulk)"},
    /* a cluster of nodes through etcd (docs/CLUSTER.md) */
    {"cluster-etcd", OPT_CSV, FLD(cluster_etcd), 0, 0, STRMAX(cluster_etcd), 0, NULL, "", NULL, 0,
     "URL[,URL...] of etcd v3 members (http:// or https://): share analyzers and routes with the "
     "other nodes through etcd and publish this node in it (empty: a single node, no etcd)"},
    {"node-id", OPT_STRING, FLD(node_id), 0, 1, CONFIG_ID_MAX, 0, NULL, NULL, "the hostname", 0,
     "this node's id in the cluster ([A-Za-z0-9._-], unique per node)"},
    {"cluster-prefix", OPT_STRING, FLD(cluster_prefix), 0, 2, STRMAX(cluster_prefix), 0, NULL,
     "/logdist", NULL, 0, "etcd key prefix under which the cluster keeps its state"},
    {"advertise", OPT_STRING, FLD(advertise), 0, 1, CONFIG_URL_MAX, 0, NULL, NULL,
     "http://<--listen>", 0, "this node's ingest URL as agents reach it (published in nodes/<id>)"},
    {"etcd-cacert", OPT_STRING, FLD(etcd_cacert), 0, 1, CONFIG_PATH_MAX, 0, NULL, NULL,
     "the system store", 0, "PEM CA bundle to verify https:// etcd endpoints"},
    {"etcd-cert", OPT_STRING, FLD(etcd_cert), 0, 1, CONFIG_PATH_MAX, 0, NULL, NULL, "none", 0,
     "PEM client certificate presented to etcd (with --etcd-key)"},
    {"etcd-key", OPT_STRING, FLD(etcd_key), 0, 1, CONFIG_PATH_MAX, 0, NULL, NULL, "none", 0,
     "PEM private key of --etcd-cert"},
    {"etcd-user", OPT_STRING, FLD(etcd_user), 0, 1, 127, 0, NULL, NULL, "none: no etcd auth", 0,
     "etcd user (auth/authenticate; the token is renewed when etcd says it expired)"},
    {"etcd-password", OPT_STRING, FLD(etcd_password), 0, 1, CONFIG_TOKEN_MAX, 0, NULL, NULL, "none",
     OPTF_SECRET, "password of --etcd-user"},
};
/* clang-format on */
const size_t config_option_total = sizeof config_options / sizeof config_options[0];
_Static_assert(sizeof config_options / sizeof config_options[0] <= CONFIG_OPTIONS_MAX,
               "raise CONFIG_OPTIONS_MAX");

const option_t *config_option_find(const char *name, bool file)
{
    for (size_t i = 0; i < config_option_total; i++) {
        const char *a = config_options[i].name, *b = name;
        while (*a && (*a == *b || (file && *a == '-' && *b == '_'))) a++, b++;
        if (!*a && !*b) return &config_options[i];
    }
    return NULL;
}

static const char *type_name(const option_t *o)
{
    switch (o->type) {
    case OPT_UINT: return "uint";
    case OPT_SIZE: return "size";
    case OPT_DURATION: return o->unit_ms == 1000 ? "duration (s)" : "duration (ms)";
    case OPT_BOOL: return "bool";
    case OPT_ENUM: return "enum";
    case OPT_STRING: return "string";
    case OPT_CSV: return "list";
    case OPT_LISTEN:
    case OPT_HOSTPORT: return "host:port";
    case OPT_SYSLOG: return "list of URLs";
    case OPT_TOKEN: return "list of token specs";
    case OPT_ANALYZER: return "list of analyzers";
    case OPT_ROUTES: return "JSON array";
    }
    return "?";
}

/* "a|b|c" for an enum, else "". */
void config_choices_text(const option_t *o, char *out, size_t outlen)
{
    out[0] = 0;
    size_t n = 0;
    for (size_t i = 0; o->choices && o->choices[i] && n < outlen; i++)
        n += (size_t)snprintf(out + n, outlen - n, "%s%s", i ? "|" : "", o->choices[i]);
}

static const char *default_text(const option_t *o)
{
    if (!o->def) return o->def_doc;
    return o->def[0] ? o->def : "(empty)";
}

/* Print text from column `indent` (the cursor is there), wrapped at `width`. */
static void wrap(FILE *out, const char *text, int indent, int width)
{
    int col = indent;
    const char *p = text;
    while (*p) {
        const char *sp = strchr(p, ' ');
        int wl = sp ? (int)(sp - p) : (int)strlen(p);
        if (col > indent && col + 1 + wl > width) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', out);
            col++;
        }
        fprintf(out, "%.*s", wl, p);
        col += wl;
        p += wl;
        while (*p == ' ') p++;
    }
    fputc('\n', out);
}

void config_usage(FILE *out)
{
    fprintf(out,
            "Usage: logdistd [--config FILE] [--OPTION VALUE | --OPTION=VALUE]...\n"
            "       logdistd --check-config FILE [--OPTION VALUE]...\n"
            "       logdistd --replay-wal DIR --to URL [--token-file FILE] [--batch-records N]\n"
            "                [--batch-bytes N] [--timeout-ms N] [--cacert FILE]\n"
            "       logdistd --hash-token TOKEN | --generate-token | --config-doc | --help | "
            "--version\n\n"
            "logdist distributor: accepts log records (POST /api/v1/logs, syslog, OTLP, Fluent\n"
            "forward, Elasticsearch bulk) and spreads them over weighted analyzers.\n"
            "Every option can also be given in the JSON config file as \"name_with_underscores\":\n"
            "value; flags override the file. Sizes take KiB/MiB/GiB suffixes, durations ms/s/m/h.\n"
            "Options marked [reload] change on SIGHUP or POST /api/v1/reload. docs/CONFIG.md has\n"
            "the same table.\n\n"
            "  --config FILE              JSON config file (options + \"analyzers\" + \"tokens\")\n"
            "  --check-config FILE        validate FILE (and the flags given), print the first\n"
            "                             error with its line and column, exit 0 or 1\n"
            "  --hash-token TOKEN         print the HASH to use in --token, and exit; TOKEN\n"
            "                             needs 128 random bits (32 hex / 22 base64 chars)\n"
            "  --generate-token           print a new random token and its HASH, and exit\n"
            "  --config-doc               print docs/CONFIG.md (generated from this table)\n"
            "  --config-doc=scdoc         print the option list of the man page (scdoc)\n"
            "  --replay-wal DIR           takeover of a stopped node (docs/CLUSTER.md): POST the\n"
            "                             unacknowledged records of the WAL in DIR, critical, to\n"
            "  --to URL                   a live node's /api/v1/logs; acknowledge what got 202\n"
            "  --token-file FILE          its bearer token (first line; else $LOGDIST_TOKEN)\n"
            "  --batch-records N          records per POST (default 500)\n"
            "  --batch-bytes N            bytes per POST (default 1048576)\n"
            "  --timeout-ms N             per-request timeout (default 30000)\n"
            "  --cacert FILE              CA to verify an https:// target\n");
    for (size_t i = 0; i < config_option_total; i++) {
        const option_t *o = &config_options[i];
        char ch[128], text[1024];
        config_choices_text(o, ch, sizeof ch);
        snprintf(text, sizeof text, "%s%s%s (%s; default %s)%s", ch, ch[0] ? ": " : "", o->help,
                 type_name(o), default_text(o), o->flags & OPTF_RELOAD ? " [reload]" : "");
        fprintf(out, "  --%-24s ", o->name);
        wrap(out, text, 29, 100);
    }
    fprintf(out, "  --help, --version\n");
}

/* Markdown-safe cell: '|' escaped. */
static void cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') fputc('\\', out);
        fputc(*s, out);
    }
}

void config_write_doc(FILE *out)
{
    fprintf(out,
            "# Configuration\n\n"
            "<!-- Generated by `logdistd --config-doc` from the option table in\n"
            "     src/core/config_options.c. Do not edit: the ctest doc/config fails when this\n"
            "     file is stale; regenerate it with `make config-doc`. -->\n\n"
            "Every option is a flag (`--name VALUE` or `--name=VALUE`) and a key of the JSON file\n"
            "given with `--config FILE` (`\"name_with_underscores\": value`); flags override the\n"
            "file. Sizes take `KiB`/`MiB`/`GiB`/`TiB` suffixes; durations `ms`, `s`, `m`, `h` (a\n"
            "bare number is in the unit the type names). Options that can be repeated take a JSON\n"
            "array in the file (`\"analyzers\"` holds objects with the keys `id`, `url`, `weight`,\n"
            "`health_url`, `client_cert`, `client_key`; `\"tokens\"` holds strings).\n\n"
            "`logdistd --check-config FILE` validates a file (and any flags given with it) and\n"
            "exits 0, or 1 with the first error and its line and column.\n\n"
            "**Reload** (`SIGHUP`, or `POST /api/v1/reload` with the admin role) re-reads the\n"
            "file, applies every change of an option marked *yes*, and lists any other changed\n"
            "option as needing a restart (it keeps its old value). A file that does not parse or\n"
            "validate changes nothing. Flags given at start-up keep overriding the file. The TLS\n"
            "certificate and key files are re-read on every reload (rotation without restart).\n"
            "Lowering a record or body limit by reload always takes effect; raising one above\n"
            "its start-up value is still capped where a listener took a copy at start (the\n"
            "HTTP connection's input cap for `max_body_bytes`, the syslog and forward\n"
            "listeners' record and body limits) until a restart.\n\n"
            "| option | file key | type | default | reload | description |\n"
            "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < config_option_total; i++) {
        const option_t *o = &config_options[i];
        char key[64], ch[128];
        size_t k = 0;
        for (; o->name[k] && k + 1 < sizeof key; k++) key[k] = o->name[k] == '-' ? '_' : o->name[k];
        key[k] = 0;
        if (o->type == OPT_ANALYZER) snprintf(key, sizeof key, "analyzers");
        if (o->type == OPT_TOKEN) snprintf(key, sizeof key, "tokens");
        config_choices_text(o, ch, sizeof ch);
        fprintf(out, "| `--%s` | `%s` | %s%s", o->name, key, type_name(o), ch[0] ? " `" : "");
        cell(out, ch); /* the choices' '|' would split the cell */
        fprintf(out, "%s | ", ch[0] ? "`" : "");
        if (o->def)
            fprintf(out, "`%s`", o->def[0] ? o->def : "\"\"");
        else
            cell(out, o->def_doc);
        fprintf(out, " | %s | ", o->flags & OPTF_RELOAD ? "yes" : "restart");
        cell(out, o->help);
        if (o->type == OPT_UINT || o->type == OPT_SIZE || o->type == OPT_DURATION)
            fprintf(out, " (%llu..%llu)", (unsigned long long)o->min, (unsigned long long)o->max);
        fprintf(out, " |\n");
    }
}

/* scdoc-safe text: its markup characters ('*', '_', '\\') escaped. A word
 * longer than 40 characters (a spec like id=ID,url=URL[,weight=W]...) gets a
 * space before each '[' so that an 80-column man page can break it. */
static void scdoc_text(FILE *out, const char *s)
{
    size_t pos = 0; /* characters of the current word so far */
    bool long_word = false;
    for (; *s; s++) {
        if (*s == ' ')
            pos = 0;
        else if (pos++ == 0)
            long_word = strcspn(s, " ") > 40;
        if (*s == '[' && long_word && pos > 1) fputc(' ', out);
        if (*s == '*' || *s == '_' || *s == '\\') fputc('\\', out);
        fputc(*s, out);
    }
}

static const char *value_name(const option_t *o)
{
    switch (o->type) {
    case OPT_UINT: return "N";
    case OPT_SIZE: return "SIZE";
    case OPT_DURATION: return "DURATION";
    case OPT_BOOL: return "BOOL";
    case OPT_ENUM: return "CHOICE";
    case OPT_STRING: return "VALUE";
    case OPT_CSV: return "LIST";
    case OPT_LISTEN:
    case OPT_HOSTPORT: return "HOST:PORT";
    case OPT_SYSLOG: return "URL";
    case OPT_TOKEN: return "SPEC";
    case OPT_ANALYZER: return "SPEC";
    case OPT_ROUTES: return "JSON";
    }
    return "VALUE";
}

void config_write_scdoc(FILE *out)
{
    for (size_t i = 0; i < config_option_total; i++) {
        const option_t *o = &config_options[i];
        char ch[128];
        config_choices_text(o, ch, sizeof ch);
        fprintf(out, "*--%s* _%s_\n\t", o->name, value_name(o));
        if (ch[0]) {
            scdoc_text(out, ch);
            fputs(": ", out);
        }
        scdoc_text(out, o->help);
        if (o->type == OPT_UINT || o->type == OPT_SIZE || o->type == OPT_DURATION)
            fprintf(out, " (%llu..%llu)", (unsigned long long)o->min, (unsigned long long)o->max);
        fputs(".\n\n\tType: ", out);
        scdoc_text(out, type_name(o));
        fputs(". Default: ", out);
        scdoc_text(out, o->def ? (o->def[0] ? o->def : "\"\"") : o->def_doc);
        fprintf(out, ". %s%s\n\n", o->flags & OPTF_RELOAD ? "Changes on reload" : "Needs a restart",
                o->flags & OPTF_REPEAT ? "; may be repeated." : ".");
    }
}
