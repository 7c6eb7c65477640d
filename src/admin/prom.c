/*
 * prom.c - see prom.h. The writer escapes label values (\\ \" \n) and HELP
 * text (\\ \n) as the 0.0.4 format requires; names are the caller's
 * constants. prom_render() lists every family once, with HELP and TYPE,
 * then its samples; a family with no sample (no analyzer yet) still has its
 * HELP and TYPE lines, which Prometheus accepts.
 */
#include "admin/prom.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct prom {
    char *buf;
    size_t len, cap;
    bool failed;
};

prom_t *prom_new(void)
{
    prom_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->cap = 16384;
    p->buf = malloc(p->cap);
    if (!p->buf) {
        free(p);
        return NULL;
    }
    p->buf[0] = 0;
    return p;
}

void prom_free(prom_t *p)
{
    if (!p) return;
    free(p->buf);
    free(p);
}

const char *prom_text(const prom_t *p, size_t *len)
{
    if (p->failed) return NULL;
    if (len) *len = p->len;
    return p->buf;
}

static bool reserve(prom_t *p, size_t n)
{
    if (p->failed) return false;
    if (p->len + n + 1 <= p->cap) return true;
    size_t cap = p->cap;
    while (p->len + n + 1 > cap) cap *= 2;
    char *b = realloc(p->buf, cap);
    if (!b) {
        p->failed = true;
        return false;
    }
    p->buf = b;
    p->cap = cap;
    return true;
}

static void put(prom_t *p, const char *s, size_t n)
{
    if (!reserve(p, n)) return;
    memcpy(p->buf + p->len, s, n);
    p->len += n;
    p->buf[p->len] = 0;
}

static void puts_(prom_t *p, const char *s)
{
    put(p, s, strlen(s));
}

/* s with \ and newline escaped, and " too when quote (label values). */
static void put_escaped(prom_t *p, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            put(p, "\\\\", 2);
        else if (*s == '\n')
            put(p, "\\n", 2);
        else if (quote && *s == '"')
            put(p, "\\\"", 2);
        else
            put(p, s, 1);
    }
}

static const char *type_name(prom_type_t t)
{
    return t == PROM_COUNTER ? "counter" : t == PROM_GAUGE ? "gauge" : "histogram";
}

void prom_family(prom_t *p, const char *name, prom_type_t type, const char *help)
{
    puts_(p, "# HELP ");
    puts_(p, name);
    puts_(p, " ");
    put_escaped(p, help, false);
    puts_(p, "\n# TYPE ");
    puts_(p, name);
    puts_(p, " ");
    puts_(p, type_name(type));
    puts_(p, "\n");
}

/* name{a="x",b="y"} - extra (may be NULL) is one more label after them */
static void put_series(prom_t *p, const char *name, const char *suffix,
                       const prom_label_t *labels, size_t n, const prom_label_t *extra)
{
    puts_(p, name);
    if (suffix) puts_(p, suffix);
    if (!n && !extra) return;
    puts_(p, "{");
    for (size_t i = 0; i < n + (extra != NULL); i++) {
        const prom_label_t *l = i < n ? &labels[i] : extra;
        if (i) puts_(p, ",");
        puts_(p, l->name);
        puts_(p, "=\"");
        put_escaped(p, l->value ? l->value : "", true);
        puts_(p, "\"");
    }
    puts_(p, "}");
}

/* The shortest %g form that reads back as v; Prometheus's spellings of the
 * non-finite values. */
static void format_double(char *out, size_t size, double v)
{
    if (isnan(v)) {
        snprintf(out, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, size, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return;
    }
}

static void put_value_line(prom_t *p, const char *value)
{
    puts_(p, " ");
    puts_(p, value);
    puts_(p, "\n");
}

void prom_sample(prom_t *p, const char *name, const prom_label_t *labels, size_t nlabels,
                 double value)
{
    char v[40];
    format_double(v, sizeof v, value);
    put_series(p, name, NULL, labels, nlabels, NULL);
    put_value_line(p, v);
}

void prom_sample_u64(prom_t *p, const char *name, const prom_label_t *labels, size_t nlabels,
                     uint64_t value)
{
    char v[24];
    snprintf(v, sizeof v, "%llu", (unsigned long long)value);
    put_series(p, name, NULL, labels, nlabels, NULL);
    put_value_line(p, v);
}

void prom_histogram(prom_t *p, const char *name, const prom_label_t *labels, size_t nlabels,
                    const hist_snap_t *h)
{
    char le[40], v[40];
    double scale = h->scale > 0 ? h->scale : 1;
    for (size_t i = 0; i <= h->nbounds; i++) {
        if (i < h->nbounds)
            format_double(le, sizeof le, (double)h->bounds[i] / scale);
        else
            snprintf(le, sizeof le, "+Inf");
        prom_label_t l = {"le", le};
        put_series(p, name, "_bucket", labels, nlabels, &l);
        snprintf(v, sizeof v, "%llu", (unsigned long long)h->cumulative[i]);
        put_value_line(p, v);
    }
    format_double(v, sizeof v, (double)h->sum / scale);
    put_series(p, name, "_sum", labels, nlabels, NULL);
    put_value_line(p, v);
    snprintf(v, sizeof v, "%llu", (unsigned long long)h->count);
    put_series(p, name, "_count", labels, nlabels, NULL);
    put_value_line(p, v);
}

/* ------------------------------------------------------------------ render */

#define GET(x) atomic_load_explicit(&(x), memory_order_relaxed)

/* One unlabelled series with its family. */
static void one_u64(prom_t *p, const char *name, prom_type_t t, const char *help, uint64_t v)
{
    prom_family(p, name, t, help);
    prom_sample_u64(p, name, NULL, 0, v);
}

/* Counters of metrics_t without labels: name, help, offset of the field. */
typedef struct {
    const char *name, *help;
    size_t off;
} counter_row_t;

#define ROW(n, field, h) {"logdist_" n, h, offsetof(metrics_t, field)}

static const counter_row_t counter_rows[] = {
    ROW("packets_received_total", packets_received,
        "Packets (POST /api/v1/logs requests and protocol submissions) received."),
    ROW("packets_accepted_total", packets_accepted, "Packets accepted (answered 202)."),
    ROW("records_received_total", records_received,
        "Records of packets that scanned valid (accepted + records_rejected)."),
    ROW("records_accepted_total", records_accepted, "Records accepted (queued or in the WAL)."),
    ROW("bytes_received_total", bytes_received, "Body bytes received."),
    ROW("batches_sent_total", batches_sent, "Delivery attempts started."),
    ROW("batches_delivered_total", batches_delivered, "Batches acknowledged 2xx."),
    ROW("batches_failed_total", batches_failed, "Delivery attempts that failed."),
    ROW("batches_retried_total", batches_retried, "Batches sent again after a backoff."),
    ROW("records_redistributed_total", records_redistributed,
        "Records moved to another analyzer."),
    ROW("records_deadletter_evicted_total", records_deadletter_evicted,
        "Records dropped from a full dead-letter store."),
    ROW("records_deadletter_kept_in_wal_total", records_deadletter_kept_in_wal,
        "Durable records not dead-lettered, left unacknowledged in the WAL."),
    ROW("records_lost_at_shutdown_total", records_lost_at_shutdown,
        "Records undelivered when the drain timeout expired."),
    ROW("records_durable_total", records_durable, "Accepted records fsynced to the WAL."),
    ROW("records_replayed_total", records_replayed, "Records recovered from the WAL at start."),
    ROW("records_replay_failed_total", records_replay_failed,
        "WAL records that no longer parse (quarantined)."),
    ROW("analyzer_tls_failures_total", analyzer_tls_failures,
        "TLS handshake or certificate failures towards analyzers."),
    ROW("connections_accepted_total", connections_accepted, "Client connections accepted."),
    ROW("connections_refused_total", connections_refused,
        "Connections refused over max-connections or max-connections-per-ip."),
    ROW("connections_refused_per_ip_total", connections_refused_per_ip,
        "Connections refused over max-connections-per-ip."),
    ROW("accept_errors_total", accept_errors, "accept() failures (backed off)."),
    ROW("connections_shed_total", connections_shed, "Connections closed after a shedding 503."),
    ROW("requests_rate_limited_total", requests_rate_limited,
        "Requests over max-requests-per-connection-s."),
    ROW("requests_paused_total", requests_paused,
        "Requests parked unread (overload-action pause)."),
    ROW("requests_pause_expired_total", requests_pause_expired,
        "Parked requests answered 503 after idle-timeout-s."),
    ROW("slow_clients_closed_total", slow_clients_closed,
        "Connections closed without a complete request within idle-timeout-s."),
    ROW("http_bad_requests_total", http_bad_requests, "Requests refused by the HTTP framer."),
    ROW("body_budget_waits_total", body_budget_waits,
        "Requests that waited for the in-flight body budget."),
    ROW("tls_handshake_failures_total", tls_handshake_failures,
        "Client TLS handshakes that failed."),
    ROW("tls_setup_failures_total", tls_setup_failures,
        "Client connections the TLS listener could not set up."),
    ROW("breaker_trips_total", breaker_trips, "Circuit breakers opened."),
    ROW("routing_holds_total", routing_holds,
        "Times routing paused because an analyzer queue was at its allowance."),
    ROW("routing_failures_total", routing_failures, "Routing attempts that ran out of memory."),
    ROW("records_copied_total", records_copied,
        "Extra copies of records made by copy routes (fan-out deliveries)."),
    ROW("records_copies_deduplicated_total", records_copies_deduplicated,
        "Copies not made because that analyzer already gets the record."),
    ROW("records_no_route_total", records_no_route,
        "Records no route takes (the default route has no analyzers): dead-lettered."),
    ROW("health_checks_total", health_checks, "Active health checks run."),
    ROW("health_check_failures_total", health_check_failures, "Active health checks failed."),
    ROW("weight_hints_accepted_total", weight_hints_accepted,
        "X-Logdist-Weight hints from analyzers applied."),
    ROW("weight_hints_refused_total", weight_hints_refused,
        "X-Logdist-Weight hints refused (invalid or above --weight-hint-max-pct) and ignored."),
    ROW("weight_hints_ignored_total", weight_hints_ignored,
        "X-Logdist-Weight hints ignored because --weight-hints is off."),
    ROW("weight_factor_changes_total", weight_factor_changes,
        "Changes of an analyzer's effective weight by adaptive weights, slow start or hints."),
    ROW("cluster_watch_restarts_total", cluster_watch_restarts,
        "etcd watches that stopped delivering (a silent connection) and were started again."),
    ROW("memory_shed_episodes_total", memory_shed_episodes, "Memory shedding episodes."),
    ROW("wal_fsyncs_total", wal_fsyncs, "WAL group commits (fsyncs)."),
    ROW("syslog_udp_dropped_total", syslog_udp_dropped, "Syslog UDP datagrams dropped."),
    ROW("forward_acks_total", forward_acks, "Fluent forward ack answers sent."),
};

static uint64_t field_at(const metrics_t *m, size_t off)
{
    return GET(*(const _Atomic uint64_t *)((const char *)m + off));
}

static void render_counters(prom_t *p, const metrics_t *m)
{
    for (size_t i = 0; i < sizeof counter_rows / sizeof *counter_rows; i++)
        one_u64(p, counter_rows[i].name, PROM_COUNTER, counter_rows[i].help,
                field_at(m, counter_rows[i].off));

    prom_family(p, "logdist_packets_rejected_total", PROM_COUNTER, "Packets refused, by reason.");
    for (int r = 0; r < REJECT__COUNT; r++) {
        prom_label_t l = {"reason", reject_reason_name((reject_reason_t)r)};
        prom_sample_u64(p, "logdist_packets_rejected_total", &l, 1, GET(m->packets_rejected[r]));
    }
    prom_family(p, "logdist_records_rejected_total", PROM_COUNTER,
                "Records of scanned packets refused, by reason (only reasons decided after the "
                "scan).");
    for (int r = 0; r < REJECT__COUNT; r++) {
        if (!reject_reason_has_records((reject_reason_t)r)) continue;
        prom_label_t l = {"reason", reject_reason_name((reject_reason_t)r)};
        prom_sample_u64(p, "logdist_records_rejected_total", &l, 1, GET(m->records_rejected[r]));
    }
    prom_family(p, "logdist_rate_limited_packets_total", PROM_COUNTER,
                "Packets over a rate limit, by scope (global, agent).");
    prom_label_t g = {"scope", "global"}, ag = {"scope", "agent"};
    prom_sample_u64(p, "logdist_rate_limited_packets_total", &g, 1, GET(m->rate_limited_global));
    prom_sample_u64(p, "logdist_rate_limited_packets_total", &ag, 1, GET(m->rate_limited_agent));
    static const char *const af[4] = {"missing_token", "invalid_token", "missing_role",
                                      "wrong_agent"};
    prom_family(p, "logdist_auth_failures_total", PROM_COUNTER,
                "Requests refused authentication or authorisation, by reason.");
    for (int i = 0; i < 4; i++) {
        prom_label_t l = {"reason", af[i]};
        prom_sample_u64(p, "logdist_auth_failures_total", &l, 1, GET(m->auth_failures[i]));
    }
}

static void render_protocols(prom_t *p, const metrics_t *m)
{
    static const struct {
        const char *name, *help;
        size_t off;
    } rows[] = {
#define PROW(n, f, h) {"logdist_protocol_" n "_total", h, offsetof(proto_metrics_t, f)}
        PROW("connections", connections, "Connections accepted (UDP: sockets bound), by protocol."),
        PROW("messages", messages, "Protocol messages decoded, by protocol."),
        PROW("records_accepted", records_accepted, "Records accepted, by protocol."),
        PROW("records_refused", records_refused, "Records refused by ingest, by protocol."),
        PROW("decode_errors", decode_errors, "Malformed inputs refused, by protocol."),
        PROW("oversize", oversize, "Messages over the protocol's size limit, by protocol."),
        PROW("auth_failures", auth_failures, "Handshakes or credentials refused, by protocol."),
#undef PROW
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        prom_family(p, rows[i].name, PROM_COUNTER, rows[i].help);
        for (int k = 0; k < PROTO__COUNT; k++) {
            prom_label_t l = {"proto", proto_name((proto_id_t)k)};
            const _Atomic uint64_t *f =
                (const _Atomic uint64_t *)((const char *)&m->proto[k] + rows[i].off);
            prom_sample_u64(p, rows[i].name, &l, 1, GET(*f));
        }
    }
}

static void render_gauges(prom_t *p, const prom_input_t *in)
{
    const metrics_t *m = in->m;
    one_u64(p, "logdist_queue_bytes", PROM_GAUGE,
            "Queue budget in use: memory held for accepted, undelivered records.", in->queue_bytes);
    one_u64(p, "logdist_queue_records", PROM_GAUGE, "Accepted records not yet delivered.",
            in->queue_records);
    one_u64(p, "logdist_wal_bytes", PROM_GAUGE, "Bytes of WAL segments on disk.",
            GET(m->wal_bytes));
    one_u64(p, "logdist_wal_live_records", PROM_GAUGE,
            "Durable records not yet acknowledged in the WAL.", GET(m->wal_live_records));
    one_u64(p, "logdist_inflight_batches", PROM_GAUGE, "Batches being sent.",
            GET(m->inflight_batches));
    one_u64(p, "logdist_connections_open", PROM_GAUGE, "Client connections open.",
            in->connections_open);
    one_u64(p, "logdist_body_bytes_in_flight", PROM_GAUGE,
            "Request body bytes held by the in-flight body budget.", in->body_bytes_in_flight);
    one_u64(p, "logdist_rate_limit_agents", PROM_GAUGE, "Agents with a rate-limit bucket.",
            GET(m->rate_limit_agents));
    one_u64(p, "logdist_memory_limit_bytes", PROM_GAUGE, "The configured memory limit (0: none).",
            GET(m->memory_limit_bytes));
    one_u64(p, "logdist_memory_available_bytes", PROM_GAUGE,
            "Memory available to the machine or cgroup (0: unknown).",
            GET(m->memory_available_bytes));
    prom_family(p, "logdist_build_info", PROM_GAUGE, "Always 1; the version in a label.");
    prom_label_t v = {"version", in->version ? in->version : ""};
    prom_sample_u64(p, "logdist_build_info", &v, 1, 1);
}

typedef struct {
    const char *name, *help;
    prom_type_t type;
} fam_t;

/* Per-analyzer families, in this order; value_of() gives each one's value. */
enum {
    A_UP, A_WEIGHT, A_EFF_WEIGHT, A_TARGET, A_ACTUAL, A_ACTUAL10, A_ROUTED, A_DELIVERED,
    A_RETRIED, A_DEADLETTERED, A_REDIST_IN, A_FAILED, A_INFLIGHT, A_QUEUE, A__COUNT
};

static const fam_t analyzer_fams[A__COUNT] = {
    [A_UP] = {"logdist_analyzer_up", "1 when the analyzer's health checks pass, else 0.",
              PROM_GAUGE},
    [A_WEIGHT] = {"logdist_analyzer_weight", "Configured weight.", PROM_GAUGE},
    [A_EFF_WEIGHT] = {"logdist_analyzer_effective_weight",
                      "Weight the balancer uses now: configured x adaptive factor (0 while "
                      "drained).", PROM_GAUGE},
    [A_TARGET] = {"logdist_analyzer_target_share",
                  "Configured share of records (weight / sum of weights), 0-1.", PROM_GAUGE},
    [A_ACTUAL] = {"logdist_analyzer_actual_share",
                  "Share of all delivered records since start, 0-1.", PROM_GAUGE},
    [A_ACTUAL10] = {"logdist_analyzer_actual_share_10s",
                    "Share of the records delivered in the last 10 s, 0-1.", PROM_GAUGE},
    [A_ROUTED] = {"logdist_records_routed_total", "Records routed into the analyzer's batches.",
                  PROM_COUNTER},
    [A_DELIVERED] = {"logdist_records_delivered_total", "Records acknowledged 2xx by the analyzer.",
                     PROM_COUNTER},
    [A_RETRIED] = {"logdist_records_retried_total",
                   "Records of the analyzer's failed attempts that were sent again.", PROM_COUNTER},
    [A_DEADLETTERED] = {"logdist_records_deadlettered_total",
                        "Records of the analyzer's failed attempts that were dead-lettered.",
                        PROM_COUNTER},
    [A_REDIST_IN] = {"logdist_records_redistributed_in_total",
                     "Records moved to the analyzer from another one.", PROM_COUNTER},
    [A_FAILED] = {"logdist_analyzer_batches_failed_total", "Failed delivery attempts.",
                  PROM_COUNTER},
    [A_INFLIGHT] = {"logdist_analyzer_inflight_batches", "Batches being sent to the analyzer.",
                    PROM_GAUGE},
    [A_QUEUE] = {"logdist_analyzer_queue_bytes", "Queue bytes of the analyzer's batches.",
                 PROM_GAUGE},
};

static void analyzer_value(prom_t *p, int f, const deliver_analyzer_snap_t *x,
                           const prom_label_t *l)
{
    const char *n = analyzer_fams[f].name;
    switch (f) {
    case A_UP: prom_sample_u64(p, n, l, 1, x->healthy ? 1 : 0); break;
    case A_WEIGHT: prom_sample(p, n, l, 1, x->spec.weight); break;
    case A_EFF_WEIGHT: prom_sample(p, n, l, 1, x->effective_weight); break;
    case A_TARGET: prom_sample(p, n, l, 1, x->target_share); break;
    case A_ACTUAL: prom_sample(p, n, l, 1, x->actual_share); break;
    case A_ACTUAL10: prom_sample(p, n, l, 1, x->actual_share_10s); break;
    case A_ROUTED: prom_sample_u64(p, n, l, 1, x->records_routed); break;
    case A_DELIVERED: prom_sample_u64(p, n, l, 1, x->records_delivered); break;
    case A_RETRIED: prom_sample_u64(p, n, l, 1, x->records_retried); break;
    case A_DEADLETTERED: prom_sample_u64(p, n, l, 1, x->records_deadlettered); break;
    case A_REDIST_IN: prom_sample_u64(p, n, l, 1, x->records_redistributed_in); break;
    case A_FAILED: prom_sample_u64(p, n, l, 1, x->batches_failed); break;
    case A_INFLIGHT: prom_sample_u64(p, n, l, 1, x->inflight_batches); break;
    case A_QUEUE: prom_sample_u64(p, n, l, 1, x->queue_bytes); break;
    }
}

static void render_analyzers(prom_t *p, const deliver_snapshot_t *d)
{
    size_t n = d ? d->count : 0;
    for (int f = 0; f < A__COUNT; f++) {
        prom_family(p, analyzer_fams[f].name, analyzer_fams[f].type, analyzer_fams[f].help);
        for (size_t i = 0; i < n; i++) {
            prom_label_t l = {"analyzer", d->analyzers[i].spec.id};
            analyzer_value(p, f, &d->analyzers[i], &l);
        }
    }
    static const char *const states[] = {"closed", "open", "half_open"};
    prom_family(p, "logdist_analyzer_breaker_state", PROM_GAUGE,
                "Circuit breaker state: 1 on the current one of closed, open, half_open.");
    for (size_t i = 0; i < n; i++)
        for (size_t s = 0; s < 3; s++) {
            prom_label_t l[2] = {{"analyzer", d->analyzers[i].spec.id}, {"state", states[s]}};
            const char *cur = d->analyzers[i].breaker ? d->analyzers[i].breaker : "";
            prom_sample_u64(p, "logdist_analyzer_breaker_state", l, 2, !strcmp(cur, states[s]));
        }
    static const char *const factors[] = {"latency", "errors", "slow_start", "hint"};
    prom_family(p, "logdist_analyzer_weight_factor", PROM_GAUGE,
                "Parts of the effective weight / configured weight (1: no effect), by factor.");
    for (size_t i = 0; i < n; i++) {
        const deliver_analyzer_snap_t *x = &d->analyzers[i];
        const double v[] = {x->factor_latency, x->factor_errors, x->factor_slow_start,
                            x->factor_hint};
        for (size_t k = 0; k < 4; k++) {
            prom_label_t l[2] = {{"analyzer", x->spec.id}, {"factor", factors[k]}};
            prom_sample(p, "logdist_analyzer_weight_factor", l, 2, v[k]);
        }
    }
    prom_family(p, "logdist_delivery_duration_seconds", PROM_HISTOGRAM,
                "Duration of each delivery attempt (batch POST), ok or failed.");
    for (size_t i = 0; i < n; i++) {
        prom_label_t l = {"analyzer", d->analyzers[i].spec.id};
        prom_histogram(p, "logdist_delivery_duration_seconds", &l, 1,
                       &d->analyzers[i].attempt_seconds);
    }
    prom_family(p, "logdist_panic", PROM_GAUGE,
                "1 while routing is in panic mode (too few routable analyzers).");
    prom_sample_u64(p, "logdist_panic", NULL, 0, d && d->panic ? 1 : 0);
}

static void render_process(prom_t *p, const procself_t *ps)
{
    prom_family(p, "process_cpu_seconds_total", PROM_COUNTER,
                "Total user and system CPU time spent in seconds.");
    prom_sample(p, "process_cpu_seconds_total", NULL, 0, ps->cpu_seconds);
    one_u64(p, "process_resident_memory_bytes", PROM_GAUGE, "Resident memory size in bytes.",
            ps->rss_bytes);
    one_u64(p, "process_virtual_memory_bytes", PROM_GAUGE, "Virtual memory size in bytes.",
            ps->vsize_bytes);
    one_u64(p, "process_open_fds", PROM_GAUGE, "Number of open file descriptors.", ps->open_fds);
    one_u64(p, "process_max_fds", PROM_GAUGE, "Maximum number of open file descriptors.",
            ps->max_fds);
    prom_family(p, "process_start_time_seconds", PROM_GAUGE,
                "Start time of the process since unix epoch in seconds.");
    prom_sample(p, "process_start_time_seconds", NULL, 0, ps->start_time_seconds);
}

enum { M_ROUTED, M_TARGET, M_EFFW };

/* One family with a sample per route and member. */
static void member_series(prom_t *p, const char *name, prom_type_t type, const char *help,
                          const router_route_stat_t *r, size_t n, int what)
{
    prom_family(p, name, type, help);
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < r[k].nmembers; i++) {
            const router_member_stat_t *m = &r[k].members[i];
            prom_label_t l[2] = {{"route", r[k].name}, {"analyzer", m->analyzer}};
            if (what == M_ROUTED)
                prom_sample_u64(p, name, l, 2, m->routed);
            else
                prom_sample(p, name, l, 2, what == M_TARGET ? m->target_share : m->effective_weight);
        }
}

/* Per route: records taken, placed by key, held, copies skipped; per route
 * and member: records, target share, effective weight (the route's SWRR). */
static void render_routes(prom_t *p, const router_route_stat_t *r, size_t n)
{
    static const struct {
        const char *name, *help;
        size_t off;
    } per_route[] = {
        {"logdist_route_records_total", "Records a route took (as the primary route or a copy).",
         offsetof(router_route_stat_t, records)},
        {"logdist_route_records_by_key_total", "Of those, placed by the route's affinity key.",
         offsetof(router_route_stat_t, by_key)},
        {"logdist_route_records_held_total", "Of those, held while none of its analyzers was up.",
         offsetof(router_route_stat_t, held)},
        {"logdist_route_copies_deduplicated_total",
         "Copies the route did not make: the analyzer already got the record.",
         offsetof(router_route_stat_t, deduplicated)},
    };
    for (size_t f = 0; f < sizeof per_route / sizeof per_route[0]; f++) {
        prom_family(p, per_route[f].name, PROM_COUNTER, per_route[f].help);
        for (size_t k = 0; k < n; k++) {
            prom_label_t l = {"route", r[k].name};
            prom_sample_u64(p, per_route[f].name, &l, 1,
                            *(const uint64_t *)((const char *)&r[k] + per_route[f].off));
        }
    }
    member_series(p, "logdist_route_analyzer_records_total", PROM_COUNTER,
                  "Records a route gave an analyzer since the route table was last set.", r, n,
                  M_ROUTED);
    member_series(p, "logdist_route_analyzer_target_share", PROM_GAUGE,
                  "An analyzer's share of a route's records by the route's configured weights.", r,
                  n, M_TARGET);
    member_series(p, "logdist_route_analyzer_effective_weight", PROM_GAUGE,
                  "An analyzer's weight in a route's balancer now (0 while drained).", r, n,
                  M_EFFW);
}

void prom_render(prom_t *p, const prom_input_t *in)
{
    if (in->m) {
        render_counters(p, in->m);
        render_protocols(p, in->m);
        render_gauges(p, in);
    }
    render_analyzers(p, in->d);
    if (in->nroutes) render_routes(p, in->routes, in->nroutes);
    if (in->ingest_duration) {
        prom_family(p, "logdist_ingest_request_duration_seconds", PROM_HISTOGRAM,
                    "POST /api/v1/logs requests, from the complete head to the answer.");
        prom_histogram(p, "logdist_ingest_request_duration_seconds", NULL, 0, in->ingest_duration);
    }
    if (in->batch_records) {
        prom_family(p, "logdist_batch_records", PROM_HISTOGRAM, "Records per sealed batch.");
        prom_histogram(p, "logdist_batch_records", NULL, 0, in->batch_records);
    }
    if (in->proc) render_process(p, in->proc);
}
