/*
 * metrics.h - process-wide counters and gauges, written lock-free from the
 * ingest and delivery threads (relaxed atomics) and rendered by the admin
 * API (JSON here, Prometheus text in admin/prom.c). Per-analyzer counters
 * live with the analyzers (route/router.h, deliver/deliver_int.h).
 * The queue budget (queued_bytes, queued_records) is not here: the packet
 * queue owns it (store/queue.h) and metrics only read it through the reader
 * registered with metrics_set_queue_reader().
 */
#ifndef LOGDIST_METRICS_H
#define LOGDIST_METRICS_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/histogram.h"

/* Why a packet was refused. Each has a stable name used in JSON errors and metrics. */
typedef enum {
    REJECT_SYNTAX,            /* 400 malformed JSON */
    REJECT_UTF8,              /* 400 invalid UTF-8 */
    REJECT_SHAPE,             /* 400 record not an object, messages missing... */
    REJECT_DEPTH,             /* 400 nesting too deep */
    REJECT_TOO_MANY_RECORDS,  /* 413 too many records in one packet */
    REJECT_RECORD_TOO_LARGE,  /* 413 one record too large */
    REJECT_BODY_TOO_LARGE,    /* 413 body (or decoded body) too large */
    REJECT_BAD_GZIP,          /* 400 corrupt gzip stream */
    REJECT_MEDIA_TYPE,        /* 415 unsupported Content-Type */
    REJECT_ENCODING,          /* 415 unsupported Content-Encoding */
    REJECT_METHOD,            /* 405 */
    REJECT_QUEUE_FULL,        /* 503 backpressure: queue budget exhausted */
    REJECT_DRAINING,          /* 503 shutting down */
    REJECT_NOMEM,             /* 503 out of memory */
    REJECT_DISK_FULL,         /* 503 WAL disk budget (max-disk-bytes) exhausted */
    REJECT_DISK_ERROR,        /* 503 WAL write or fsync failed */
    REJECT_RATE_LIMITED,      /* 429 over a rate limit */
    REJECT_MEMORY,            /* 503 memory pressure (RSS over the high watermark) */
    REJECT_DURABILITY_UNAVAILABLE, /* 409 X-Logdist-Durability: critical under --durability none */
    REJECT_NO_ROUTE,          /* 422 a record no route takes (the default route is empty) */
    REJECT__COUNT
} reject_reason_t;

/* The protocols records arrive in (src/proto/ and POST /api/v1/logs). */
typedef enum {
    PROTO_HTTP = 0,      /* POST /api/v1/logs */
    PROTO_SYSLOG,        /* --syslog-listen */
    PROTO_OTLP,          /* POST /v1/logs */
    PROTO_FORWARD,       /* --forward-listen */
    PROTO_ELASTICSEARCH, /* --elasticsearch-listen */
    PROTO__COUNT
} proto_id_t;

/* Per protocol (metrics "protocols": {"syslog": {...}}). A message is one
 * protocol unit (a syslog message, an OTLP request, a forward entry or
 * message, a bulk item); a record is what routing sees. */
typedef struct {
    _Atomic uint64_t connections;      /* accepted (UDP: sockets bound) */
    _Atomic uint64_t messages;         /* protocol messages decoded */
    _Atomic uint64_t records_accepted; /* records queued (or in the WAL) */
    _Atomic uint64_t records_refused;  /* records refused by ingest (overload, limits, disk) */
    _Atomic uint64_t decode_errors;    /* malformed input: refused, counted, never half-taken */
    _Atomic uint64_t oversize;         /* messages over the protocol's size limit: refused */
    _Atomic uint64_t auth_failures;    /* handshake / credentials refused */
} proto_metrics_t;

typedef struct {
    proto_metrics_t proto[PROTO__COUNT];
    _Atomic uint64_t syslog_udp_dropped;    /* UDP datagrams dropped (overload, oversize, refusal) */
    _Atomic uint64_t forward_acks;          /* forward "ack" answers sent */
    _Atomic uint64_t packets_received;
    _Atomic uint64_t packets_accepted;
    _Atomic uint64_t records_accepted;
    _Atomic uint64_t bytes_received;
    _Atomic uint64_t packets_rejected[REJECT__COUNT];
    /* Records are known only once a packet has been scanned: records_received
     * counts the records of every packet that scanned valid (and passed the
     * agent check), records_rejected[r] those of such packets refused later
     * for r (reject_reason_has_records()). Once every durable write is done,
     * records_received = records_accepted + the sum of records_rejected. */
    _Atomic uint64_t records_received;
    _Atomic uint64_t records_rejected[REJECT__COUNT];

    _Atomic uint64_t records_routed;        /* assigned to an analyzer batch */
    _Atomic uint64_t records_copied;        /* extra copies made by copy routes (fan-out) */
    _Atomic uint64_t records_copies_deduplicated; /* copies not made: that analyzer had it */
    _Atomic uint64_t records_no_route;      /* no route takes them (empty default): dead-lettered */
    _Atomic uint64_t records_delivered;     /* acknowledged 2xx by an analyzer */
    _Atomic uint64_t batches_sent;          /* attempts started */
    _Atomic uint64_t batches_delivered;
    _Atomic uint64_t batches_failed;        /* attempts that failed */
    _Atomic uint64_t batches_retried;
    _Atomic uint64_t records_retried;
    _Atomic uint64_t records_redistributed; /* moved to another analyzer */
    _Atomic uint64_t records_deadlettered;
    _Atomic uint64_t records_deadletter_evicted; /* dropped from a full dead-letter store */
    _Atomic uint64_t records_deadletter_kept_in_wal; /* durable, not dead-lettered: left unacknowledged in the WAL */
    _Atomic uint64_t records_lost_at_shutdown;   /* drain timeout expired */
    _Atomic uint64_t records_durable;       /* accepted records fsync'ed to the WAL */
    _Atomic uint64_t records_replayed;      /* recovered from the WAL at start */
    _Atomic uint64_t records_replay_failed; /* WAL records that no longer parse: quarantined */
    _Atomic uint64_t analyzer_tls_failures; /* handshake / certificate failures */
    _Atomic uint64_t connections_accepted;  /* client connections accepted (or adopted) */
    _Atomic uint64_t connections_refused;   /* over max-connections or max-connections-per-ip */
    _Atomic uint64_t connections_refused_per_ip; /* of them: over max-connections-per-ip */
    _Atomic uint64_t accept_errors;         /* accept() failed (descriptors, memory): backed off */
    _Atomic uint64_t connections_shed;      /* closed after a shedding 503 (memory, queue, drain) */
    _Atomic uint64_t requests_rate_limited; /* over max-requests-per-connection-s */
    _Atomic uint64_t requests_paused;       /* --overload-action pause: parked unread */
    _Atomic uint64_t requests_pause_expired; /* parked longer than idle-timeout-s: 503 */
    _Atomic uint64_t rate_limited_global;   /* packets over the global rate limits (429) */
    _Atomic uint64_t rate_limited_agent;    /* packets over their agent's rate limits (429) */
    _Atomic uint64_t rate_limit_agents;     /* gauge: agents with a rate-limit bucket */
    _Atomic uint64_t slow_clients_closed;   /* no complete request within idle-timeout-s */
    _Atomic uint64_t http_bad_requests;     /* refused by the HTTP framer (400/414/431/501/505) */
    _Atomic uint64_t body_budget_waits;     /* requests that waited for the in-flight body budget */
    _Atomic uint64_t tls_handshake_failures; /* client TLS handshakes that failed: closed */
    _Atomic uint64_t tls_setup_failures;    /* TLS listener could not set up a connection (SSL_new): closed */
    _Atomic uint64_t auth_failures[4];      /* by auth_reason_t */
    _Atomic uint64_t breaker_trips;
    _Atomic uint64_t routing_holds;         /* routing paused: an analyzer queue at its allowance */
    _Atomic uint64_t routing_failures;      /* routing ran out of memory; the packet waits and is retried */
    _Atomic uint64_t health_checks;
    _Atomic uint64_t health_check_failures;
    _Atomic uint64_t weight_hints_accepted; /* X-Logdist-Weight hints applied */
    _Atomic uint64_t weight_hints_refused;  /* invalid or out of bounds: ignored */
    _Atomic uint64_t weight_hints_ignored;  /* valid or not, while --weight-hints off */
    _Atomic uint64_t cluster_watch_restarts; /* etcd watches found stalled and started again */
    _Atomic uint64_t weight_factor_changes; /* an analyzer's effective weight changed */

    _Atomic uint64_t inflight_batches; /* gauge */
    _Atomic uint64_t rss_bytes;        /* gauge: resident memory of logdistd */
    _Atomic uint64_t cpu_percent;      /* gauge: CPU use over the last 250 ms (100 = one core) */
    _Atomic uint64_t memory_limit_bytes;
    _Atomic uint64_t memory_available_bytes; /* gauge: machine or cgroup (0 = unknown) */
    _Atomic uint64_t memory_shed_episodes;
    _Atomic uint64_t wal_bytes;        /* gauge: bytes of WAL segments on disk */
    _Atomic uint64_t wal_live_records; /* gauge: durable records not yet acknowledged */
    _Atomic uint64_t wal_fsyncs;       /* group commits done */

    hist_t ingest_request_seconds; /* POST /api/v1/logs, head to answer (us); METRICS_INIT */
    hist_t batch_records;          /* records per sealed batch; METRICS_INIT */
} metrics_t;

/* A metrics_t with its histograms' bounds set (g_metrics starts so). */
#define METRICS_INIT \
    {.ingest_request_seconds = HIST_DURATION_INIT, .batch_records = HIST_RECORDS_INIT}

extern metrics_t g_metrics;

#define METRIC_ADD(field, n) atomic_fetch_add_explicit(&g_metrics.field, (n), memory_order_relaxed)
#define METRIC_SUB(field, n) atomic_fetch_sub_explicit(&g_metrics.field, (n), memory_order_relaxed)
#define METRIC_GET(field) atomic_load_explicit(&g_metrics.field, memory_order_relaxed)

/* Why a request was refused authentication/authorisation. */
typedef enum {
    AUTHFAIL_MISSING = 0,   /* 401 no token */
    AUTHFAIL_INVALID = 1,   /* 401 unknown token */
    AUTHFAIL_ROLE = 2,      /* 403 token lacks the role */
    AUTHFAIL_AGENT = 3,     /* 403 token bound to another agent */
} auth_reason_t;

#define PROTO_ADD(p, field, n) \
    atomic_fetch_add_explicit(&g_metrics.proto[(p)].field, (n), memory_order_relaxed)

/* "http", "syslog", "otlp", "forward", "elasticsearch". */
const char *proto_name(proto_id_t p);

/* Stable snake_case name of a reject reason. */
const char *reject_reason_name(reject_reason_t r);

/* Count a rejected packet. */
void metrics_reject(reject_reason_t r);

/* Can a refusal for r happen after the scan, so that its records are counted
 * (queue_full, rate_limited, out_of_memory, disk_full, disk_error)? */
bool reject_reason_has_records(reject_reason_t r);

/* Count the n records of a scanned packet refused for r. */
void metrics_records_rejected(reject_reason_t r, uint64_t n);

/* Where the queue gauges come from: read(ctx, &bytes, &records) must be
 * thread-safe. Set once at start-up, before other threads run; unset reads 0. */
typedef void (*metrics_queue_reader_fn)(const void *ctx, uint64_t *bytes, uint64_t *records);
void metrics_set_queue_reader(metrics_queue_reader_fn read, const void *ctx);

/* The queue budget in use (through the reader; 0 when none is set). */
uint64_t metrics_queued_bytes(void);
uint64_t metrics_queued_records(void);

/* A new JSON object with every global counter (caller owns the reference). */
json_t *metrics_to_json(void);

#endif
