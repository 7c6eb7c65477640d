/*
 * metrics.c - see metrics.h.
 */
#include "core/metrics.h"

metrics_t g_metrics = METRICS_INIT;

static metrics_queue_reader_fn g_queue_read;
static const void *g_queue_ctx;

void metrics_set_queue_reader(metrics_queue_reader_fn read, const void *ctx)
{
    g_queue_read = read;
    g_queue_ctx = ctx;
}

uint64_t metrics_queued_bytes(void)
{
    uint64_t b = 0, r = 0;
    if (g_queue_read) g_queue_read(g_queue_ctx, &b, &r);
    return b;
}

uint64_t metrics_queued_records(void)
{
    uint64_t b = 0, r = 0;
    if (g_queue_read) g_queue_read(g_queue_ctx, &b, &r);
    return r;
}

static const char *const reject_names[REJECT__COUNT] = {
    [REJECT_SYNTAX] = "bad_json",
    [REJECT_UTF8] = "bad_utf8",
    [REJECT_SHAPE] = "bad_shape",
    [REJECT_DEPTH] = "too_deep",
    [REJECT_TOO_MANY_RECORDS] = "too_many_records",
    [REJECT_RECORD_TOO_LARGE] = "record_too_large",
    [REJECT_BODY_TOO_LARGE] = "body_too_large",
    [REJECT_BAD_GZIP] = "bad_gzip",
    [REJECT_MEDIA_TYPE] = "unsupported_media_type",
    [REJECT_ENCODING] = "unsupported_encoding",
    [REJECT_METHOD] = "method_not_allowed",
    [REJECT_QUEUE_FULL] = "queue_full",
    [REJECT_DRAINING] = "shutting_down",
    [REJECT_NOMEM] = "out_of_memory",
    [REJECT_DISK_FULL] = "disk_full",
    [REJECT_DISK_ERROR] = "disk_error",
    [REJECT_RATE_LIMITED] = "rate_limited",
    [REJECT_MEMORY] = "memory_pressure",
    [REJECT_DURABILITY_UNAVAILABLE] = "durability_unavailable",
    [REJECT_NO_ROUTE] = "no_route",
};

const char *reject_reason_name(reject_reason_t r)
{
    return (unsigned)r < REJECT__COUNT ? reject_names[r] : "unknown";
}

void metrics_reject(reject_reason_t r)
{
    if ((unsigned)r < REJECT__COUNT) METRIC_ADD(packets_rejected[r], 1);
}

bool reject_reason_has_records(reject_reason_t r)
{
    return r == REJECT_QUEUE_FULL || r == REJECT_RATE_LIMITED || r == REJECT_NOMEM ||
           r == REJECT_DISK_FULL || r == REJECT_DISK_ERROR || r == REJECT_NO_ROUTE;
}

void metrics_records_rejected(reject_reason_t r, uint64_t n)
{
    if ((unsigned)r < REJECT__COUNT) METRIC_ADD(records_rejected[r], n);
}

const char *proto_name(proto_id_t p)
{
    static const char *const names[PROTO__COUNT] = {"http", "syslog", "otlp", "forward",
                                                    "elasticsearch"};
    return (unsigned)p < PROTO__COUNT ? names[p] : "unknown";
}

#define PGET(p, f) json_integer((json_int_t)atomic_load_explicit(&g_metrics.proto[p].f, \
                                                                 memory_order_relaxed))

static json_t *protocols_json(void)
{
    json_t *all = json_object();
    for (int p = 0; p < PROTO__COUNT; p++) {
        json_t *o = json_object();
        json_object_set_new(o, "connections", PGET(p, connections));
        json_object_set_new(o, "messages", PGET(p, messages));
        json_object_set_new(o, "records_accepted", PGET(p, records_accepted));
        json_object_set_new(o, "records_refused", PGET(p, records_refused));
        json_object_set_new(o, "decode_errors", PGET(p, decode_errors));
        json_object_set_new(o, "oversize", PGET(p, oversize));
        json_object_set_new(o, "auth_failures", PGET(p, auth_failures));
        json_object_set_new(all, proto_name((proto_id_t)p), o);
    }
    return all;
}

#define PUT(obj, name, field) json_object_set_new(obj, name, json_integer((json_int_t)METRIC_GET(field)))

json_t *metrics_to_json(void)
{
    json_t *m = json_object();
    PUT(m, "packets_received", packets_received);
    PUT(m, "packets_accepted", packets_accepted);
    PUT(m, "records_accepted", records_accepted);
    PUT(m, "bytes_received", bytes_received);
    json_t *rej = json_object();
    uint64_t total = 0;
    for (int r = 0; r < REJECT__COUNT; r++) {
        uint64_t v = METRIC_GET(packets_rejected[r]);
        total += v;
        json_object_set_new(rej, reject_names[r], json_integer((json_int_t)v));
    }
    json_object_set_new(m, "packets_rejected", json_integer((json_int_t)total));
    json_object_set_new(m, "packets_rejected_by_reason", rej);
    PUT(m, "records_received", records_received);
    json_t *rrej = json_object();
    uint64_t rtotal = 0;
    for (int r = 0; r < REJECT__COUNT; r++) {
        if (!reject_reason_has_records((reject_reason_t)r)) continue;
        uint64_t v = METRIC_GET(records_rejected[r]);
        rtotal += v;
        json_object_set_new(rrej, reject_names[r], json_integer((json_int_t)v));
    }
    json_object_set_new(m, "records_rejected", json_integer((json_int_t)rtotal));
    json_object_set_new(m, "records_rejected_by_reason", rrej);
    PUT(m, "records_routed", records_routed);
    PUT(m, "records_copied", records_copied);
    PUT(m, "records_copies_deduplicated", records_copies_deduplicated);
    PUT(m, "records_no_route", records_no_route);
    PUT(m, "records_delivered", records_delivered);
    PUT(m, "batches_sent", batches_sent);
    PUT(m, "batches_delivered", batches_delivered);
    PUT(m, "batches_failed", batches_failed);
    PUT(m, "batches_retried", batches_retried);
    PUT(m, "records_retried", records_retried);
    PUT(m, "records_redistributed", records_redistributed);
    PUT(m, "records_deadlettered", records_deadlettered);
    PUT(m, "records_deadletter_evicted", records_deadletter_evicted);
    PUT(m, "records_deadletter_kept_in_wal", records_deadletter_kept_in_wal);
    PUT(m, "records_lost_at_shutdown", records_lost_at_shutdown);
    PUT(m, "records_durable", records_durable);
    PUT(m, "records_replayed", records_replayed);
    PUT(m, "records_replay_failed", records_replay_failed);
    PUT(m, "analyzer_tls_failures", analyzer_tls_failures);
    PUT(m, "connections_accepted", connections_accepted);
    PUT(m, "connections_refused", connections_refused);
    PUT(m, "connections_refused_per_ip", connections_refused_per_ip);
    PUT(m, "connections_shed", connections_shed);
    PUT(m, "accept_errors", accept_errors);
    PUT(m, "requests_rate_limited", requests_rate_limited);
    PUT(m, "requests_paused", requests_paused);
    PUT(m, "requests_pause_expired", requests_pause_expired);
    json_t *rl = json_object();
    json_object_set_new(rl, "global", json_integer((json_int_t)METRIC_GET(rate_limited_global)));
    json_object_set_new(rl, "agent", json_integer((json_int_t)METRIC_GET(rate_limited_agent)));
    json_object_set_new(rl, "agents_tracked",
                        json_integer((json_int_t)METRIC_GET(rate_limit_agents)));
    json_object_set_new(m, "rate_limits", rl);
    PUT(m, "slow_clients_closed", slow_clients_closed);
    PUT(m, "http_bad_requests", http_bad_requests);
    PUT(m, "body_budget_waits", body_budget_waits);
    PUT(m, "tls_setup_failures", tls_setup_failures);
    PUT(m, "tls_handshake_failures", tls_handshake_failures);
    json_t *af = json_object();
    static const char *const af_names[4] = {"missing_token", "invalid_token", "missing_role",
                                            "wrong_agent"};
    for (int i = 0; i < 4; i++)
        json_object_set_new(af, af_names[i], json_integer((json_int_t)METRIC_GET(auth_failures[i])));
    json_object_set_new(m, "auth_failures", af);
    PUT(m, "breaker_trips", breaker_trips);
    PUT(m, "routing_holds", routing_holds);
    PUT(m, "routing_failures", routing_failures);
    PUT(m, "health_checks", health_checks);
    PUT(m, "health_check_failures", health_check_failures);
    PUT(m, "weight_hints_accepted", weight_hints_accepted);
    PUT(m, "weight_hints_refused", weight_hints_refused);
    PUT(m, "weight_hints_ignored", weight_hints_ignored);
    PUT(m, "cluster_watch_restarts", cluster_watch_restarts);
    PUT(m, "weight_factor_changes", weight_factor_changes);
    json_object_set_new(m, "queued_bytes", json_integer((json_int_t)metrics_queued_bytes()));
    json_object_set_new(m, "queued_records", json_integer((json_int_t)metrics_queued_records()));
    PUT(m, "inflight_batches", inflight_batches);
    PUT(m, "rss_bytes", rss_bytes);
    PUT(m, "cpu_percent", cpu_percent);
    PUT(m, "memory_limit_bytes", memory_limit_bytes);
    PUT(m, "memory_available_bytes", memory_available_bytes);
    PUT(m, "memory_shed_episodes", memory_shed_episodes);
    PUT(m, "wal_bytes", wal_bytes);
    PUT(m, "wal_live_records", wal_live_records);
    PUT(m, "wal_fsyncs", wal_fsyncs);
    json_object_set_new(m, "protocols", protocols_json());
    PUT(m, "syslog_udp_dropped_total", syslog_udp_dropped);
    PUT(m, "forward_acks", forward_acks);
    return m;
}
