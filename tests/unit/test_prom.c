/*
 * test_prom.c - cmocka tests for src/admin/prom.c (pure): exact text of
 * families, samples (label value escaping of \ " and newline, HELP escaping,
 * integer and double formatting, NaN and infinities), histograms, and of the
 * analyzer section prom_render() writes for a small snapshot; every family
 * of a full render has one HELP and one TYPE line before its samples,
 * counters end in _total, and no series repeats.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "admin/prom.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void expect_text(prom_t *p, const char *want)
{
    size_t len = 0;
    const char *got = prom_text(p, &len);
    assert_non_null(got);
    assert_int_equal(len, strlen(got));
    if (strcmp(got, want)) fail_msg("got:\n%s\nwant:\n%s", got, want);
}

static void test_label_escaping(void **state)
{
    (void)state;
    static const struct {
        const char *value, *want;
    } cases[] = {
        {"a1", "m{analyzer=\"a1\"} 1\n"},
        {"", "m{analyzer=\"\"} 1\n"},
        {"q\"uote", "m{analyzer=\"q\\\"uote\"} 1\n"},
        {"back\\slash", "m{analyzer=\"back\\\\slash\"} 1\n"},
        {"new\nline", "m{analyzer=\"new\\nline\"} 1\n"},
        {"\\\"\n", "m{analyzer=\"\\\\\\\"\\n\"} 1\n"},
        {"tab\there", "m{analyzer=\"tab\there\"} 1\n"}, /* only \ " and newline are escaped */
        {"ünï", "m{analyzer=\"ünï\"} 1\n"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        prom_t *p = prom_new();
        assert_non_null(p);
        prom_label_t l = {"analyzer", cases[i].value};
        prom_sample_u64(p, "m", &l, 1, 1);
        expect_text(p, cases[i].want);
        prom_free(p);
    }
}

static void test_family_and_values(void **state)
{
    (void)state;
    prom_t *p = prom_new();
    prom_family(p, "x_total", PROM_COUNTER, "Help with \\ and\nnewline \"quoted\".");
    prom_sample_u64(p, "x_total", NULL, 0, UINT64_MAX);
    prom_family(p, "g", PROM_GAUGE, "G.");
    prom_label_t two[2] = {{"a", "1"}, {"b", "2"}};
    prom_sample(p, "g", two, 2, 0.25);
    prom_family(p, "h", PROM_HISTOGRAM, "H.");
    expect_text(p, "# HELP x_total Help with \\\\ and\\nnewline \"quoted\".\n"
                   "# TYPE x_total counter\n"
                   "x_total 18446744073709551615\n"
                   "# HELP g G.\n"
                   "# TYPE g gauge\n"
                   "g{a=\"1\",b=\"2\"} 0.25\n"
                   "# HELP h H.\n"
                   "# TYPE h histogram\n");
    prom_free(p);

    static const struct {
        double v;
        const char *want;
    } dbl[] = {
        {0, "d 0\n"},          {1, "d 1\n"},          {3, "d 3\n"},
        {0.1, "d 0.1\n"},      {0.75, "d 0.75\n"},    {1.0 / 3, "d 0.3333333333333333\n"},
        {1e-7, "d 1e-07\n"},   {-2.5, "d -2.5\n"},    {1796598716.08, "d 1796598716.08\n"},
        {NAN, "d NaN\n"},      {INFINITY, "d +Inf\n"}, {-INFINITY, "d -Inf\n"},
    };
    for (size_t i = 0; i < N(dbl); i++) {
        p = prom_new();
        prom_sample(p, "d", NULL, 0, dbl[i].v);
        expect_text(p, dbl[i].want);
        prom_free(p);
    }
}

static void test_histogram_text(void **state)
{
    (void)state;
    static const uint64_t bounds[] = {1000, 250000};
    hist_t h;
    assert_int_equal(hist_init(&h, bounds, N(bounds), 1e6), 0);
    hist_observe(&h, 500);
    hist_observe(&h, 1000);
    hist_observe(&h, 200000);
    hist_observe(&h, 3000000);
    hist_snap_t s;
    hist_snapshot(&h, &s);
    prom_t *p = prom_new();
    prom_label_t l = {"analyzer", "a\"1"};
    prom_histogram(p, "lat_seconds", &l, 1, &s);
    prom_histogram(p, "n", NULL, 0, &s);
    expect_text(p, "lat_seconds_bucket{analyzer=\"a\\\"1\",le=\"0.001\"} 2\n"
                   "lat_seconds_bucket{analyzer=\"a\\\"1\",le=\"0.25\"} 3\n"
                   "lat_seconds_bucket{analyzer=\"a\\\"1\",le=\"+Inf\"} 4\n"
                   "lat_seconds_sum{analyzer=\"a\\\"1\"} 3.2015\n"
                   "lat_seconds_count{analyzer=\"a\\\"1\"} 4\n"
                   "n_bucket{le=\"0.001\"} 2\n"
                   "n_bucket{le=\"0.25\"} 3\n"
                   "n_bucket{le=\"+Inf\"} 4\n"
                   "n_sum 3.2015\n"
                   "n_count 4\n");
    prom_free(p);
}

/* A snapshot of two analyzers, the second with an id that needs escaping. */
static deliver_analyzer_snap_t snaps[2];

static deliver_snapshot_t small_snapshot(void)
{
    static const uint64_t b[] = {1000};
    memset(snaps, 0, sizeof snaps);
    strcpy(snaps[0].spec.id, "a1");
    snaps[0].spec.weight = 1;
    snaps[0].effective_weight = 1;
    snaps[0].factor_latency = 0.35;
    snaps[0].factor_errors = 1;
    snaps[0].factor_slow_start = 0.5;
    snaps[0].factor_hint = 1;
    snaps[0].target_share = 0.25;
    snaps[0].actual_share = 0.5;
    snaps[0].actual_share_10s = 0;
    snaps[0].healthy = true;
    snaps[0].breaker = "closed";
    snaps[0].records_routed = 10;
    snaps[0].records_delivered = 9;
    snaps[0].records_retried = 3;
    snaps[0].records_deadlettered = 1;
    snaps[0].records_redistributed_in = 2;
    snaps[0].batches_failed = 4;
    snaps[0].inflight_batches = 1;
    snaps[0].queue_bytes = 512;
    hist_t h;
    hist_init(&h, b, 1, 1e6);
    hist_observe(&h, 2000);
    hist_snapshot(&h, &snaps[0].attempt_seconds);
    strcpy(snaps[1].spec.id, "b\\\"\n");
    snaps[1].spec.weight = 3;
    snaps[1].effective_weight = 0;
    snaps[1].target_share = 0.75;
    snaps[1].actual_share = 0.5;
    snaps[1].actual_share_10s = 1;
    snaps[1].breaker = "half_open";
    snaps[1].records_delivered = 9;
    hist_init(&h, b, 1, 1e6);
    hist_snapshot(&h, &snaps[1].attempt_seconds);
    deliver_snapshot_t d = {.count = 2, .analyzers = snaps, .panic = true};
    return d;
}

#define B "{analyzer=\"b\\\\\\\"\\n\"}"

static void test_render_analyzers(void **state)
{
    (void)state;
    deliver_snapshot_t d = small_snapshot();
    prom_input_t in = {.d = &d};
    prom_t *p = prom_new();
    prom_render(p, &in);
    expect_text(
        p, "# HELP logdist_analyzer_up 1 when the analyzer's health checks pass, else 0.\n"
           "# TYPE logdist_analyzer_up gauge\n"
           "logdist_analyzer_up{analyzer=\"a1\"} 1\n"
           "logdist_analyzer_up" B " 0\n"
           "# HELP logdist_analyzer_weight Configured weight.\n"
           "# TYPE logdist_analyzer_weight gauge\n"
           "logdist_analyzer_weight{analyzer=\"a1\"} 1\n"
           "logdist_analyzer_weight" B " 3\n"
           "# HELP logdist_analyzer_effective_weight Weight the balancer uses now: configured x "
           "adaptive factor (0 while drained).\n"
           "# TYPE logdist_analyzer_effective_weight gauge\n"
           "logdist_analyzer_effective_weight{analyzer=\"a1\"} 1\n"
           "logdist_analyzer_effective_weight" B " 0\n"
           "# HELP logdist_analyzer_target_share Configured share of records (weight / sum of "
           "weights), 0-1.\n"
           "# TYPE logdist_analyzer_target_share gauge\n"
           "logdist_analyzer_target_share{analyzer=\"a1\"} 0.25\n"
           "logdist_analyzer_target_share" B " 0.75\n"
           "# HELP logdist_analyzer_actual_share Share of all delivered records since start, 0-1.\n"
           "# TYPE logdist_analyzer_actual_share gauge\n"
           "logdist_analyzer_actual_share{analyzer=\"a1\"} 0.5\n"
           "logdist_analyzer_actual_share" B " 0.5\n"
           "# HELP logdist_analyzer_actual_share_10s Share of the records delivered in the last 10 "
           "s, 0-1.\n"
           "# TYPE logdist_analyzer_actual_share_10s gauge\n"
           "logdist_analyzer_actual_share_10s{analyzer=\"a1\"} 0\n"
           "logdist_analyzer_actual_share_10s" B " 1\n"
           "# HELP logdist_records_routed_total Records routed into the analyzer's batches.\n"
           "# TYPE logdist_records_routed_total counter\n"
           "logdist_records_routed_total{analyzer=\"a1\"} 10\n"
           "logdist_records_routed_total" B " 0\n"
           "# HELP logdist_records_delivered_total Records acknowledged 2xx by the analyzer.\n"
           "# TYPE logdist_records_delivered_total counter\n"
           "logdist_records_delivered_total{analyzer=\"a1\"} 9\n"
           "logdist_records_delivered_total" B " 9\n"
           "# HELP logdist_records_retried_total Records of the analyzer's failed attempts that "
           "were sent again.\n"
           "# TYPE logdist_records_retried_total counter\n"
           "logdist_records_retried_total{analyzer=\"a1\"} 3\n"
           "logdist_records_retried_total" B " 0\n"
           "# HELP logdist_records_deadlettered_total Records of the analyzer's failed attempts "
           "that were dead-lettered.\n"
           "# TYPE logdist_records_deadlettered_total counter\n"
           "logdist_records_deadlettered_total{analyzer=\"a1\"} 1\n"
           "logdist_records_deadlettered_total" B " 0\n"
           "# HELP logdist_records_redistributed_in_total Records moved to the analyzer from "
           "another one.\n"
           "# TYPE logdist_records_redistributed_in_total counter\n"
           "logdist_records_redistributed_in_total{analyzer=\"a1\"} 2\n"
           "logdist_records_redistributed_in_total" B " 0\n"
           "# HELP logdist_analyzer_batches_failed_total Failed delivery attempts.\n"
           "# TYPE logdist_analyzer_batches_failed_total counter\n"
           "logdist_analyzer_batches_failed_total{analyzer=\"a1\"} 4\n"
           "logdist_analyzer_batches_failed_total" B " 0\n"
           "# HELP logdist_analyzer_inflight_batches Batches being sent to the analyzer.\n"
           "# TYPE logdist_analyzer_inflight_batches gauge\n"
           "logdist_analyzer_inflight_batches{analyzer=\"a1\"} 1\n"
           "logdist_analyzer_inflight_batches" B " 0\n"
           "# HELP logdist_analyzer_queue_bytes Queue bytes of the analyzer's batches.\n"
           "# TYPE logdist_analyzer_queue_bytes gauge\n"
           "logdist_analyzer_queue_bytes{analyzer=\"a1\"} 512\n"
           "logdist_analyzer_queue_bytes" B " 0\n"
           "# HELP logdist_analyzer_breaker_state Circuit breaker state: 1 on the current one of "
           "closed, open, half_open.\n"
           "# TYPE logdist_analyzer_breaker_state gauge\n"
           "logdist_analyzer_breaker_state{analyzer=\"a1\",state=\"closed\"} 1\n"
           "logdist_analyzer_breaker_state{analyzer=\"a1\",state=\"open\"} 0\n"
           "logdist_analyzer_breaker_state{analyzer=\"a1\",state=\"half_open\"} 0\n"
           "logdist_analyzer_breaker_state{analyzer=\"b\\\\\\\"\\n\",state=\"closed\"} 0\n"
           "logdist_analyzer_breaker_state{analyzer=\"b\\\\\\\"\\n\",state=\"open\"} 0\n"
           "logdist_analyzer_breaker_state{analyzer=\"b\\\\\\\"\\n\",state=\"half_open\"} 1\n"
           "# HELP logdist_analyzer_weight_factor Parts of the effective weight / configured "
           "weight (1: no effect), by factor.\n"
           "# TYPE logdist_analyzer_weight_factor gauge\n"
           "logdist_analyzer_weight_factor{analyzer=\"a1\",factor=\"latency\"} 0.35\n"
           "logdist_analyzer_weight_factor{analyzer=\"a1\",factor=\"errors\"} 1\n"
           "logdist_analyzer_weight_factor{analyzer=\"a1\",factor=\"slow_start\"} 0.5\n"
           "logdist_analyzer_weight_factor{analyzer=\"a1\",factor=\"hint\"} 1\n"
           "logdist_analyzer_weight_factor{analyzer=\"b\\\\\\\"\\n\",factor=\"latency\"} 0\n"
           "logdist_analyzer_weight_factor{analyzer=\"b\\\\\\\"\\n\",factor=\"errors\"} 0\n"
           "logdist_analyzer_weight_factor{analyzer=\"b\\\\\\\"\\n\",factor=\"slow_start\"} 0\n"
           "logdist_analyzer_weight_factor{analyzer=\"b\\\\\\\"\\n\",factor=\"hint\"} 0\n"
           "# HELP logdist_delivery_duration_seconds Duration of each delivery attempt (batch "
           "POST), ok or failed.\n"
           "# TYPE logdist_delivery_duration_seconds histogram\n"
           "logdist_delivery_duration_seconds_bucket{analyzer=\"a1\",le=\"0.001\"} 0\n"
           "logdist_delivery_duration_seconds_bucket{analyzer=\"a1\",le=\"+Inf\"} 1\n"
           "logdist_delivery_duration_seconds_sum{analyzer=\"a1\"} 0.002\n"
           "logdist_delivery_duration_seconds_count{analyzer=\"a1\"} 1\n"
           "logdist_delivery_duration_seconds_bucket{analyzer=\"b\\\\\\\"\\n\",le=\"0.001\"} 0\n"
           "logdist_delivery_duration_seconds_bucket{analyzer=\"b\\\\\\\"\\n\",le=\"+Inf\"} 0\n"
           "logdist_delivery_duration_seconds_sum" B " 0\n"
           "logdist_delivery_duration_seconds_count" B " 0\n"
           "# HELP logdist_panic 1 while routing is in panic mode (too few routable analyzers).\n"
           "# TYPE logdist_panic gauge\n"
           "logdist_panic 1\n");
    prom_free(p);
}

/* The metric name of a sample line (up to '{' or ' '). */
static void name_of(const char *line, char *out, size_t n)
{
    size_t k = strcspn(line, "{ ");
    if (k >= n) k = n - 1;
    memcpy(out, line, k);
    out[k] = 0;
}

static void test_render_full(void **state)
{
    (void)state;
    static metrics_t m = METRICS_INIT;
    atomic_store(&m.records_received, 7);
    atomic_store(&m.records_rejected[REJECT_QUEUE_FULL], 2);
    atomic_store(&m.packets_rejected[REJECT_SYNTAX], 5);
    atomic_store(&m.proto[PROTO_SYSLOG].messages, 11);
    atomic_store(&m.wal_bytes, 4096);
    atomic_store(&m.auth_failures[AUTHFAIL_ROLE], 6);
    hist_observe(&m.batch_records, 30);
    hist_snap_t ingest, batch;
    hist_snapshot(&m.ingest_request_seconds, &ingest);
    hist_snapshot(&m.batch_records, &batch);
    deliver_snapshot_t d = small_snapshot();
    procself_t ps = {.cpu_seconds = 1.5, .rss_bytes = 100, .vsize_bytes = 200, .open_fds = 9,
                     .max_fds = 1024, .start_time_seconds = 1700000000.25};
    prom_input_t in = {.m = &m, .queue_bytes = 123, .queue_records = 4, .connections_open = 2,
                       .d = &d, .ingest_duration = &ingest, .batch_records = &batch,
                       .proc = &ps, .version = "1.2.3"};
    prom_t *p = prom_new();
    prom_render(p, &in);
    const char *text = prom_text(p, NULL);
    assert_non_null(text);
    static const char *const lines[] = {
        "\nlogdist_records_received_total 7\n",
        "\nlogdist_records_rejected_total{reason=\"queue_full\"} 2\n",
        "\nlogdist_records_rejected_total{reason=\"rate_limited\"} 0\n",
        "\nlogdist_packets_rejected_total{reason=\"bad_json\"} 5\n",
        "\nlogdist_protocol_messages_total{proto=\"syslog\"} 11\n",
        "\nlogdist_auth_failures_total{reason=\"missing_role\"} 6\n",
        "\nlogdist_wal_bytes 4096\n",
        "\nlogdist_queue_bytes 123\n",
        "\nlogdist_queue_records 4\n",
        "\nlogdist_connections_open 2\n",
        "\nlogdist_build_info{version=\"1.2.3\"} 1\n",
        "\nlogdist_batch_records_bucket{le=\"25\"} 0\n",
        "\nlogdist_batch_records_bucket{le=\"50\"} 1\n",
        "\nlogdist_batch_records_count 1\n",
        "\nlogdist_ingest_request_duration_seconds_count 0\n",
        "\nprocess_cpu_seconds_total 1.5\n",
        "\nprocess_resident_memory_bytes 100\n",
        "\nprocess_virtual_memory_bytes 200\n",
        "\nprocess_open_fds 9\n",
        "\nprocess_max_fds 1024\n",
        "\nprocess_start_time_seconds 1700000000.25\n",
    };
    for (size_t i = 0; i < N(lines); i++)
        if (!strstr(text, lines[i])) fail_msg("missing line %s", lines[i] + 1);
    /* records rejected only for the reasons decided after the scan */
    assert_null(strstr(text, "logdist_records_rejected_total{reason=\"bad_json\"}"));

    /* structure: HELP then TYPE once per family, samples after their family's TYPE,
     * no series twice, counters end in _total */
    char *copy = strdup(text), *save = NULL, fam[128] = "", type[16] = "";
    char *seen[1024];
    size_t nseen = 0, nfam = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[128];
        if (!strncmp(line, "# HELP ", 7)) {
            name_of(line + 7, fam, sizeof fam);
            for (size_t i = 0; i < nseen; i++)
                if (!strcmp(seen[i], line)) fail_msg("family twice: %s", line);
            seen[nseen++] = line;
            nfam++;
            continue;
        }
        if (!strncmp(line, "# TYPE ", 7)) {
            name_of(line + 7, name, sizeof name);
            assert_string_equal(name, fam);
            snprintf(type, sizeof type, "%s", line + 7 + strlen(name) + 1);
            if (!strcmp(type, "counter") && strlen(fam) > 6)
                assert_string_equal(fam + strlen(fam) - 6, "_total");
            continue;
        }
        name_of(line, name, sizeof name);
        size_t fl = strlen(fam);
        bool ok = !strcmp(name, fam) ||
                  (!strcmp(type, "histogram") && !strncmp(name, fam, fl) &&
                   (!strcmp(name + fl, "_bucket") || !strcmp(name + fl, "_sum") ||
                    !strcmp(name + fl, "_count")));
        if (!ok) fail_msg("sample %s outside its family %s", line, fam);
        char *sp = strrchr(line, ' ');
        assert_non_null(sp);
        *sp = 0; /* the series without its value */
        for (size_t i = 0; i < nseen; i++)
            if (!strcmp(seen[i], line)) fail_msg("series twice: %s", line);
        assert_true(nseen < N(seen));
        seen[nseen++] = line;
    }
    assert_true(nfam > 60);
    free(copy);
    prom_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_escaping),   cmocka_unit_test(test_family_and_values),
        cmocka_unit_test(test_histogram_text),   cmocka_unit_test(test_render_analyzers),
        cmocka_unit_test(test_render_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
