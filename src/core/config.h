/*
 * config.h - every option of logdistd, with its default, from a JSON config
 * file and from command-line flags (flags override the file).
 *
 * One table (core/config_options.c) has a row per option: name, type (uint,
 * size, duration, bool, enum, string, list, host:port, ...), default, bounds,
 * whether a reload may change it, and help. Flags, the file, --help,
 * --check-config, reload (app/reload.c) and docs/CONFIG.md all come from it.
 *
 * The option names are the same in both places: flag "--batch-max-records 500"
 * is key "batch_max_records": 500 in the file. Analyzers come from repeated
 * "--analyzer id=a1,url=http://...,weight=0.4[,health_url=...]" flags and from
 * the file's "analyzers": [{"id","url","weight","health_url"}] array - the keys
 * are listed once (config_analyzer_keys); an analyzer given by a flag replaces a
 * file analyzer with the same id.
 */
#ifndef LOGDIST_CONFIG_H
#define LOGDIST_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/log.h"

#define CONFIG_ID_MAX 64   /* analyzer id: 1..64 chars of [A-Za-z0-9._-] */
#define CONFIG_URL_MAX 2048
#define CONFIG_PATH_MAX 1023
#define CONFIG_TOKEN_MAX 511
#define CONFIG_LISTEN_MAX 299        /* a listen spec: [scheme://]HOST:PORT */
#define CONFIG_SYSLOG_LISTEN_MAX 8  /* --syslog-listen given at most this often */
#define CONFIG_SLOW_START_MAX_MS 3600000u /* per-analyzer slow_start_ms bound (1 h) */
#define CONFIG_OPTIONS_MAX 128      /* rows of the option table (core/config_options.c) */
#define CONFIG_AFFINITY_KEY_MAX 128 /* a dotted path (record/field.h FIELD_NAME_MAX) */
#define CONFIG_ROUTES_MAX_BYTES (1u << 20) /* the routes JSON text */

/* What ingest does with a request whose head arrives while the queue budget
 * or memory is short (--overload-action). */
typedef enum {
    OVERLOAD_REJECT = 0, /* 503 + Retry-After + close right after the head; body never read */
    OVERLOAD_PAUSE = 1,  /* park it unread (TCP backpressure) until there is room again */
} overload_action_t;

/* Which records are written to the WAL before the 202. */
typedef enum { DURABILITY_NONE = 0, DURABILITY_CRITICAL = 1, DURABILITY_ALL = 2 } durability_t;

/* How records are spread over analyzers (route/balancer.c implements both). */
typedef enum { BALANCER_SWRR = 0, BALANCER_RANDOM = 1 } balancer_strategy_t;

/* The version of logdistd (--version, logdist_build_info). */
#define LOGDIST_VERSION "0.1.0"

typedef struct {
    char id[CONFIG_ID_MAX + 1];
    char url[CONFIG_URL_MAX + 1];
    char health_url[CONFIG_URL_MAX + 1]; /* "" = derived from url: <scheme>://<host>:<port>/health */
    double weight;
    char client_cert[CONFIG_PATH_MAX + 1]; /* mutual TLS to this analyzer (PEM), optional */
    char client_key[CONFIG_PATH_MAX + 1];
    bool drained; /* kept out of routing (the balancer sees weight 0), weight kept */
    bool has_slow_start;    /* false: --slow-start-ms applies */
    uint32_t slow_start_ms; /* this analyzer's slow-start window when has_slow_start (0 = off) */
} analyzer_spec_t;

typedef struct {
    char listen_host[256];
    uint16_t listen_port;
    log_level_t log_level;
    log_format_t log_format; /* --log-format text|json (default text) */
    balancer_strategy_t strategy;

    /* ingest limits */
    uint64_t max_body_bytes;        /* request body as received */
    uint64_t max_decoded_bytes;     /* body after gunzip */
    uint32_t max_records_per_packet;
    uint32_t max_record_bytes;
    uint32_t max_depth;
    uint64_t max_header_bytes;
    uint64_t max_queue_bytes;       /* records accepted and not yet delivered (memory_limit/8) */
    uint64_t memory_limit;          /* RSS budget: shed load above 90 % of it */
    uint64_t min_free_memory;       /* shed load while the machine/cgroup has less available */
    uint64_t global_records_per_s, global_bytes_per_s; /* rate limits, 0 = off */
    uint64_t agent_records_per_s, agent_bytes_per_s;
    uint32_t rate_burst_s;          /* bucket size in seconds of rate */
    uint32_t idle_timeout_s;        /* keep-alive / slow client / header deadline; the
                                       longest a paused request waits */
    uint32_t max_connections;       /* open client connections, counted from accept */
    uint32_t max_connections_per_ip; /* of them from one client address (0 = no limit) */
    uint32_t max_requests_per_conn_s; /* request rate of one connection */
    uint32_t ingest_threads;        /* ingest loops (main + threads), each its own
                                       SO_REUSEPORT listener (default: online CPUs, 1..64) */
    overload_action_t overload_action;
    uint64_t max_inflight_body_bytes; /* request bodies buffered at once, all connections
                                         (0 = no limit); see config_finish() */

    /* batching */
    uint32_t batch_max_records;
    uint64_t batch_max_bytes;
    uint32_t batch_linger_ms;

    /* delivery */
    uint32_t max_inflight;          /* batches in flight per analyzer */
    uint32_t connect_timeout_ms;
    uint32_t request_timeout_ms;
    uint32_t max_attempts;          /* then dead-letter */
    uint32_t retry_base_ms;
    uint32_t retry_max_ms;
    uint64_t deadletter_max_bytes;  /* in-memory dead-letter store bound */

    /* health */
    uint32_t health_interval_ms;
    uint32_t health_timeout_ms;
    uint32_t health_rise;
    uint32_t health_fall;
    uint32_t passive_fall;          /* consecutive failed batches that mark an analyzer down */

    /* circuit breaker (per analyzer) and panic mode */
    uint32_t breaker_failures;      /* consecutive failed batches that open it (0 = off) */
    uint32_t breaker_error_pct;     /* failed % over the window that opens it (0 = off) */
    uint32_t breaker_window_ms;
    uint32_t breaker_min_requests;
    uint32_t breaker_cooldown_ms;
    uint32_t breaker_max_cooldown_ms;
    uint32_t breaker_probes;
    uint32_t panic_threshold_pct;   /* 0 = off */

    /* adaptive weights, slow start, weight hints (deliver/adaptive.h) */
    bool adaptive_weights;      /* effective weight = weight x latency x errors factor */
    uint32_t adaptive_decay_ms; /* peak-EWMA and error EWMA time constant */
    uint32_t adaptive_latency_tolerance_pct; /* above the pool median before it costs */
    uint32_t adaptive_latency_slack_ms;      /* absolute slack on top of it */
    uint32_t adaptive_error_tolerance_pct;   /* failed attempts % before it costs */
    uint32_t adaptive_min_weight_pct;        /* floor of the factor (and of slow start) */
    uint32_t slow_start_ms;                  /* ramp of an analyzer added or back up (0 = off) */
    uint32_t weight_hints;                   /* 0 off, 1 on (X-Logdist-Weight) */
    uint32_t weight_hint_max_pct;            /* largest hint accepted, % of the configured weight */
    uint32_t weight_hint_ttl_ms;             /* a hint expires this long after it arrived */

    uint32_t drain_timeout_ms;      /* SIGTERM: time allowed to deliver what is queued */

    /* durability */
    char data_dir[1024];            /* WAL segments, dead letters, analyzers.db */
    durability_t durability;
    char critical_levels[256];      /* comma-separated levels that make a record durable */
    uint64_t max_disk_bytes;        /* WAL budget; full -> 503 for durable packets */
    uint64_t wal_segment_bytes;

    /* security */
    char admin_host[256];           /* "" = admin API on the main listener */
    uint16_t admin_port;
    char tls_cert[CONFIG_PATH_MAX + 1]; /* "" = plain HTTP */
    char tls_key[CONFIG_PATH_MAX + 1];
    char tls_client_ca[CONFIG_PATH_MAX + 1]; /* "" = no client certificates */
    char analyzer_ca[CONFIG_PATH_MAX + 1];   /* "" = system CA store */
    char analyzer_allow[1024];      /* comma list of hosts / CIDRs analyzers may use; "" = any
                                       but the default-denied ones (core/netallow.h) */
    bool insecure;                  /* allow non-loopback listeners without tokens */
    char (*tokens)[CONFIG_TOKEN_MAX + 1];
    size_t token_count;

    analyzer_spec_t *analyzers;
    size_t analyzer_count;

    /* content routes (route/routes.h, docs/ROUTING.md): the JSON array as
     * compact text, NULL = none; compiled and checked by the app layer */
    char *routes;
    char affinity_key[CONFIG_AFFINITY_KEY_MAX + 1]; /* --affinity-key: the default route's */
    uint32_t affinity_balance_pct;  /* --affinity-balance-factor: 0 = off, else > 100 (%) */

    /* protocols other than our HTTP dialect (src/proto/, docs/PROTOCOLS.md);
     * every listen spec is validated by config: "" = not listening */
    char syslog_listen[CONFIG_SYSLOG_LISTEN_MAX][CONFIG_LISTEN_MAX + 1]; /* udp|tcp|tls://HOST:PORT */
    uint32_t syslog_listen_count;
    uint64_t syslog_max_message_bytes; /* one syslog message; larger ones are counted and refused */
    char otlp_listen[CONFIG_LISTEN_MAX + 1];          /* HOST:PORT of an OTLP/HTTP-only listener */
    char forward_listen[CONFIG_LISTEN_MAX + 1];       /* HOST:PORT, Fluent forward */
    char forward_shared_key[CONFIG_TOKEN_MAX + 1];    /* "" = no HELO/PING/PONG handshake */
    char elasticsearch_listen[CONFIG_LISTEN_MAX + 1]; /* HOST:PORT, Elasticsearch bulk API */

    /* a cluster of nodes through etcd (cluster/cluster.h, docs/CLUSTER.md): off
     * unless cluster_etcd is set */
    char cluster_etcd[1024];            /* comma-separated etcd client URLs */
    char node_id[CONFIG_ID_MAX + 1];    /* "" = the hostname (config_finish_derived) */
    char cluster_prefix[128];           /* every key lives under it */
    char advertise[CONFIG_URL_MAX + 1]; /* this node's ingest URL, published in nodes/<id> */
    char etcd_cacert[CONFIG_PATH_MAX + 1], etcd_cert[CONFIG_PATH_MAX + 1],
        etcd_key[CONFIG_PATH_MAX + 1];
    char etcd_user[128], etcd_password[CONFIG_TOKEN_MAX + 1];

    /* which options were given (file or flag) rather than defaulted, by row of
     * the option table; derived defaults (config_finish) look at it */
    uint64_t given[CONFIG_OPTIONS_MAX / 64];
} config_t;

/* Split "HOST:PORT" (IPv6 as [addr]:port) into host and port. 0 or -EINVAL. */
int config_split_hostport(const char *spec, char *host, size_t hostlen, uint16_t *port);

/* Fill *cfg with the defaults. */
void config_defaults(config_t *cfg);

/* Parse argv (after config_defaults): loads --config FILE first, then applies
 * every flag. Returns 0, 1 when --help or --version was printed (caller exits 0),
 * or -1 after printing an error to stderr. */
int config_from_args(config_t *cfg, int argc, char **argv);

/* Derive defaults that depend on other options (max_queue_bytes from
 * memory_limit; max_inflight_body_bytes: 64MiB but at most a quarter of
 * memory_limit unless given, and never below max_body_bytes unless 0), and make cfg->analyzer_allow the process-wide list of the
 * connect-time address check (core/netallow.h). Called by config_from_args;
 * call it after building a config by hand. */
void config_finish(config_t *cfg);

/* The derived defaults alone, without touching process-wide state (reload and
 * --check-config build configs that are not, or not yet, the running one). */
void config_finish_derived(config_t *cfg);

/* Load a JSON config file into *cfg. Returns 0 or -1 with a message in err. */
int config_load_file(config_t *cfg, const char *path, char *err, size_t errlen);

/* Parse "id=a1,url=...,weight=0.4[,health_url=...][,slow_start_ms=5s]". Returns 0 or -1
 * with err set. */
int config_parse_analyzer(const char *s, analyzer_spec_t *out, char *err, size_t errlen);

/* Validate an analyzer spec (id charset/length, http(s) URL, finite weight >= 0).
 * Returns 0 or -1 with a message in err. Fills health_url when empty. */
int config_check_analyzer(analyzer_spec_t *spec, char *err, size_t errlen);

/* Add or replace (by id) an analyzer in cfg. Returns 0 or -1 (no memory). */
int config_put_analyzer(config_t *cfg, const analyzer_spec_t *spec);

void config_free(config_t *cfg);

/* Is the analyzer URL's host allowed by cfg->analyzer_allow? An empty list
 * allows any host except the link-local and cloud metadata addresses denied
 * by default; a list allows only its entries (host names, exact and
 * case-insensitive, addresses, CIDRs), and a default-denied host only when an
 * entry names it narrowly (core/netallow.h has the rules). The list syntax is
 * checked when the option is parsed ("10.0.0.0/" is an error). Returns true
 * when allowed; otherwise false with err set. */
bool config_analyzer_allowed(const config_t *cfg, const char *url, char *err, size_t errlen);

/* Is host a loopback address or "localhost"? */
bool config_host_is_loopback(const char *host);

/* Is this raw level slice one of the comma-separated levels of list
 * (--critical-levels; ingest reads its live copy, ingest_limits())? */
bool config_level_in_list(const char *list, const char *level, size_t len);

/* Print --help text (from the option table). */
void config_usage(FILE *out);

/* Write docs/CONFIG.md (from the option table): `logdistd --config-doc`. */
void config_write_doc(FILE *out);

/* Write the OPTIONS list of logdistd(8) in scdoc syntax (from the option
 * table): `logdistd --config-doc=scdoc`; CMake splices it into
 * man/logdistd.8.scd. */
void config_write_scdoc(FILE *out);

/* Build a config the way start-up does, without printing or running commands:
 * defaults, the --config file named in argv (if any), then every flag of argv
 * (argv[0] is skipped; "--check-config FILE" counts as "--config FILE"), then
 * config_finish_derived() and config_validate(). Used by
 * --check-config and by reload. 0, or -1 with the first error in err - a file
 * error as "FILE:LINE:COLUMN: KEY: message". cfg is freed on error. */
int config_load(config_t *cfg, int argc, char **argv, char *err, size_t errlen);

/* The file named by --config (or --check-config) in argv, or NULL. */
const char *config_file_arg(int argc, char **argv);

/* Checks across options that a single value cannot show (TLS key without a
 * certificate, client CA without TLS, analyzer URLs outside --analyzer-allow,
 * token specs). 0 or -1 with err. */
int config_validate(const config_t *cfg, char *err, size_t errlen);

/* The option table, for reload and tools: number of rows, a row's flag name,
 * whether a reload may change it, whether its value is secret, and whether two
 * configs hold the same value of it (lists compared element by element). */
size_t config_option_count(void);
const char *config_option_name(size_t i);
bool config_option_reloadable(size_t i);
bool config_option_secret(size_t i);
bool config_option_same(size_t i, const config_t *a, const config_t *b);

/* Copy option i's value from src into dst (lists deep-copied). 0 or -ENOMEM
 * (dst unchanged). */
int config_option_copy(size_t i, config_t *dst, const config_t *src);

/* A deep copy of src into dst (uninitialised). 0 or -ENOMEM. Free with config_free. */
int config_copy(config_t *dst, const config_t *src);

/* What a reload would run: into out (uninitialised), a copy of running with
 * every reloadable row taken from next; the restart-only rows (listeners,
 * --insecure, --analyzer-allow, ...) keep their running values, so
 * config_validate(out) checks the new tokens against the listeners that really
 * run. 0 or -ENOMEM. Free with config_free. */
int config_merge_reloadable(config_t *out, const config_t *running, const config_t *next);

/* The keys of an analyzer spec, in the order flags and docs list them
 * ("id", "url", "weight", "health_url", "client_cert", "client_key"), NULL-ended. */
extern const char *const config_analyzer_keys[];

/* Same analyzer, field by field (never memcmp: padding and bytes after a NUL). */
bool config_analyzer_equal(const analyzer_spec_t *a, const analyzer_spec_t *b);

/* Set one key of an analyzer spec from text ("weight" parsed as a number).
 * 0, -ENOENT (unknown key) or -EINVAL with err. */
int config_analyzer_set(analyzer_spec_t *spec, const char *key, const char *val, char *err,
                        size_t errlen);

#endif
