/*
 * test_config.c - cmocka tests for src/core/config.c: config_defaults values,
 * config_from_args (space and --name=value forms, bounds, unknown flags, bad
 * values, --help/--version), config_parse_analyzer (table of good and bad specs,
 * health_url derivation), and config_load_file (options + analyzers, errors,
 * flags overriding the file), the --analyzer-allow list (a table of every
 * malformed shape; a table of hosts denied by default and what opens them),
 * the connect-time address check (curl open-socket callback, table), and the
 * --hash-token / --generate-token commands; the option table's types
 * (durations, bools, enums), derived defaults, config_load's error locations,
 * config_validate, and the table as reload reads it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcntl.h>
#include <cmocka.h>

#include "core/config.h"
#include "core/netallow.h"
#include "core/netallow_curl.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MAXARGS 24

/* Run config_from_args on a NULL-terminated list of arguments (argv[0] added). */
static int run_args(config_t *cfg, const char *const *args)
{
    char *argv[MAXARGS + 2];
    int argc = 0;
    argv[argc++] = (char *)"logdistd";
    for (; argc <= MAXARGS && args[argc - 1]; argc++)
        argv[argc] = (char *)args[argc - 1];
    argv[argc] = NULL;
    return config_from_args(cfg, argc, argv);
}

/* Write `text` to a new temporary file; its name goes to path[64]. */
static void write_tmp(const char *text, char *path)
{
    strcpy(path, "/tmp/logdist_ut_cfg_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static const analyzer_spec_t *find_an(const config_t *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->analyzer_count; i++)
        if (!strcmp(cfg->analyzers[i].id, id)) return &cfg->analyzers[i];
    return NULL;
}

/* ---- defaults ------------------------------------------------------------------------ */

static void test_defaults(void **state)
{
    (void)state;
    config_t c;
    memset(&c, 0xa5, sizeof c);
    config_defaults(&c);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_int_equal(c.log_level, LOG_INFO);
    assert_int_equal(c.strategy, BALANCER_SWRR);
    assert_int_equal(c.max_body_bytes, 16ull << 20);
    assert_int_equal(c.max_decoded_bytes, 64ull << 20);
    assert_int_equal(c.max_records_per_packet, 100000);
    assert_int_equal(c.max_record_bytes, 1u << 20);
    assert_int_equal(c.max_depth, 64);
    assert_int_equal(c.max_header_bytes, 16u << 10);
    assert_int_equal(c.max_queue_bytes, 32ull << 20); /* memory_limit / 8 */
    assert_int_equal(c.memory_limit, 256ull << 20);
    config_finish(&c);
    assert_int_equal(c.max_queue_bytes, 32ull << 20);
    assert_int_equal(c.idle_timeout_s, 30);
    assert_int_equal(c.batch_max_records, 1000);
    assert_int_equal(c.batch_max_bytes, 1ull << 20);
    assert_int_equal(c.batch_linger_ms, 5);
    assert_int_equal(c.max_inflight, 4);
    assert_int_equal(c.connect_timeout_ms, 1000);
    assert_int_equal(c.request_timeout_ms, 10000);
    assert_int_equal(c.max_attempts, 8);
    assert_int_equal(c.retry_base_ms, 50);
    assert_int_equal(c.retry_max_ms, 5000);
    assert_int_equal(c.deadletter_max_bytes, 64ull << 20);
    assert_int_equal(c.health_interval_ms, 1000);
    assert_int_equal(c.health_timeout_ms, 500);
    assert_int_equal(c.health_rise, 2);
    assert_int_equal(c.health_fall, 2);
    assert_int_equal(c.passive_fall, 2);
    assert_int_equal(c.drain_timeout_ms, 10000);
    assert_null(c.analyzers);
    assert_int_equal(c.analyzer_count, 0);

    /* No arguments: nothing changes. */
    config_t d;
    config_defaults(&d);
    const char *none[] = {NULL};
    assert_int_equal(run_args(&d, none), 0);
    assert_memory_equal(&c, &d, sizeof c);
}

/* ---- config_from_args ---------------------------------------------------------------- */

/* Which field a row checks, and the value wanted. */
enum field {
    F_NONE, F_PORT, F_BATCH_BYTES, F_BATCH_RECORDS, F_STRATEGY, F_LOGLEVEL, F_RECORD_BYTES,
    F_DL_BYTES, F_DEPTH, F_LINGER, F_QUEUE_BYTES, F_ANALYZERS
};

static uint64_t field_value(const config_t *c, enum field f)
{
    switch (f) {
    case F_PORT: return c->listen_port;
    case F_BATCH_BYTES: return c->batch_max_bytes;
    case F_BATCH_RECORDS: return c->batch_max_records;
    case F_STRATEGY: return (uint64_t)c->strategy;
    case F_LOGLEVEL: return (uint64_t)c->log_level;
    case F_RECORD_BYTES: return c->max_record_bytes;
    case F_DL_BYTES: return c->deadletter_max_bytes;
    case F_DEPTH: return c->max_depth;
    case F_LINGER: return c->batch_linger_ms;
    case F_QUEUE_BYTES: return c->max_queue_bytes;
    case F_ANALYZERS: return c->analyzer_count;
    case F_NONE: break;
    }
    return 0;
}

static void test_from_args(void **state)
{
    static const struct {
        const char *args[MAXARGS];
        int rc;
        enum field f; /* checked when rc == 0 */
        uint64_t want;
        const char *host; /* listen_host wanted, or NULL */
    } cases[] = {
        /* good */
        {{"--listen", "127.0.0.1:0"}, 0, F_PORT, 0, "127.0.0.1"},
        {{"--listen=0.0.0.0:9000"}, 0, F_PORT, 9000, "0.0.0.0"},
        {{"--listen", "localhost:65535"}, 0, F_PORT, 65535, "localhost"},
        {{"--batch-max-bytes", "64KiB"}, 0, F_BATCH_BYTES, 64u << 10, NULL},
        {{"--batch-max-bytes=1MiB"}, 0, F_BATCH_BYTES, 1u << 20, NULL},
        {{"--batch-max-bytes", "1024"}, 0, F_BATCH_BYTES, 1024, NULL},
        {{"--batch-max-bytes", "1GiB"}, 0, F_BATCH_BYTES, 1u << 30, NULL},
        {{"--batch-max-records", "500"}, 0, F_BATCH_RECORDS, 500, NULL},
        {{"--batch-max-records=1"}, 0, F_BATCH_RECORDS, 1, NULL},
        {{"--batch-max-records", "7", "--batch-max-records", "9"}, 0, F_BATCH_RECORDS, 9, NULL},
        {{"--strategy", "random"}, 0, F_STRATEGY, BALANCER_RANDOM, NULL},
        {{"--strategy=swrr"}, 0, F_STRATEGY, BALANCER_SWRR, NULL},
        {{"--log-level", "debug"}, 0, F_LOGLEVEL, LOG_DEBUG, NULL},
        {{"--log-level=error"}, 0, F_LOGLEVEL, LOG_ERROR, NULL},
        {{"--max-record-bytes", "2MiB"}, 0, F_RECORD_BYTES, 2u << 20, NULL},
        {{"--max-record-bytes", "64MiB"}, 0, F_RECORD_BYTES, 64u << 20, NULL},
        {{"--deadletter-max-bytes", "0"}, 0, F_DL_BYTES, 0, NULL},
        {{"--max-depth", "2"}, 0, F_DEPTH, 2, NULL},
        {{"--max-depth", "1000"}, 0, F_DEPTH, 1000, NULL},
        {{"--batch-linger-ms", "0"}, 0, F_LINGER, 0, NULL},
        {{"--max-queue-bytes", "1024GiB"}, 0, F_QUEUE_BYTES, 1ull << 40, NULL},
        {{"--analyzer", "id=a1,url=http://127.0.0.1:9001/"}, 0, F_ANALYZERS, 1, NULL},
        {{"--analyzer=id=a1,url=http://h/,weight=2", "--analyzer", "id=a2,url=http://h/"},
         0, F_ANALYZERS, 2, NULL},
        {{"--analyzer", "id=a1,url=http://h/", "--analyzer", "id=a1,url=http://g/"},
         0, F_ANALYZERS, 1, NULL},
        /* --help / --version / -h: 1, wherever they are */
        {{"--help"}, 1, F_NONE, 0, NULL},
        {{"-h"}, 1, F_NONE, 0, NULL},
        {{"--version"}, 1, F_NONE, 0, NULL},
        {{"--bogus", "1", "--help"}, 1, F_NONE, 0, NULL},
        /* unknown flags and stray arguments */
        {{"--bogus", "1"}, -1, F_NONE, 0, NULL},
        {{"--bogus=1"}, -1, F_NONE, 0, NULL},
        {{"--batch_max_records", "5"}, -1, F_NONE, 0, NULL}, /* file spelling is not a flag */
        {{"--batch-max-records-x", "5"}, -1, F_NONE, 0, NULL},
        {{"--batch-max", "5"}, -1, F_NONE, 0, NULL},
        {{"-x"}, -1, F_NONE, 0, NULL},
        {{"stray"}, -1, F_NONE, 0, NULL},
        {{"--"}, -1, F_NONE, 0, NULL},
        {{"--listen"}, -1, F_NONE, 0, NULL}, /* missing value */
        {{"--config"}, -1, F_NONE, 0, NULL},
        {{"--config", "/nonexistent/logdist.json"}, -1, F_NONE, 0, NULL},
        /* bad values */
        {{"--listen", "127.0.0.1"}, -1, F_NONE, 0, NULL},
        {{"--listen", ":8080"}, -1, F_NONE, 0, NULL},
        {{"--listen", "h:"}, -1, F_NONE, 0, NULL},
        {{"--listen", "h:65536"}, -1, F_NONE, 0, NULL},
        {{"--listen", "h:-1"}, -1, F_NONE, 0, NULL},
        {{"--listen", "h:80x"}, -1, F_NONE, 0, NULL},
        {{"--batch-max-bytes", "1023"}, -1, F_NONE, 0, NULL},
        {{"--batch-max-bytes", "1GiB1"}, -1, F_NONE, 0, NULL},
        {{"--batch-max-bytes", "2GiB"}, -1, F_NONE, 0, NULL},
        {{"--batch-max-bytes", "abc"}, -1, F_NONE, 0, NULL},
        {{"--batch-max-bytes", ""}, -1, F_NONE, 0, NULL},
        {{"--batch-max-bytes", "-1"}, -1, F_NONE, 0, NULL},
        {{"--batch-max-records", "0"}, -1, F_NONE, 0, NULL},
        {{"--batch-max-records", "1000001"}, -1, F_NONE, 0, NULL},
        {{"--batch-max-records", "1k"}, -1, F_NONE, 0, NULL},
        {{"--batch-max-records="}, -1, F_NONE, 0, NULL},
        {{"--max-depth", "1"}, -1, F_NONE, 0, NULL},
        {{"--max-depth", "1001"}, -1, F_NONE, 0, NULL},
        {{"--max-record-bytes", "63"}, -1, F_NONE, 0, NULL},
        {{"--max-record-bytes", "65MiB"}, -1, F_NONE, 0, NULL},
        {{"--strategy", "rr"}, -1, F_NONE, 0, NULL},
        {{"--log-level", "loud"}, -1, F_NONE, 0, NULL},
        {{"--analyzer", "id=a1"}, -1, F_NONE, 0, NULL},
        {{"--analyzer", "url=http://h/"}, -1, F_NONE, 0, NULL},
        {{"--analyzer", "id=a1,url=http://h/,weight=-1"}, -1, F_NONE, 0, NULL},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        config_t c;
        config_defaults(&c);
        int rc = run_args(&c, cases[i].args);
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s %s ...): rc %d, want %d", i, cases[i].args[0],
                     cases[i].args[1] ? cases[i].args[1] : "", rc, cases[i].rc);
        if (rc == 0 && cases[i].f != F_NONE && field_value(&c, cases[i].f) != cases[i].want)
            fail_msg("case %zu (%s): field %d = %llu, want %llu", i, cases[i].args[0],
                     (int)cases[i].f, (unsigned long long)field_value(&c, cases[i].f),
                     (unsigned long long)cases[i].want);
        if (rc == 0 && cases[i].host) assert_string_equal(c.listen_host, cases[i].host);
        config_free(&c);
    }
}

/* --analyzer given twice with the same id: the later one replaces the first. */
static void test_from_args_analyzers(void **state)
{
    (void)state;
    config_t c;
    config_defaults(&c);
    const char *args[] = {"--analyzer", "id=a1,url=http://h:1/,weight=2", "--analyzer",
                          "id=a2,url=https://g/x,weight=0.5", "--analyzer",
                          "id=a1,url=http://k:3/,weight=7", NULL};
    assert_int_equal(run_args(&c, args), 0);
    assert_int_equal(c.analyzer_count, 2);
    assert_string_equal(c.analyzers[0].id, "a1"); /* keeps its position */
    assert_string_equal(c.analyzers[0].url, "http://k:3/");
    assert_true(c.analyzers[0].weight == 7);
    assert_string_equal(c.analyzers[0].health_url, "http://k:3/health");
    assert_string_equal(c.analyzers[1].id, "a2");
    assert_true(c.analyzers[1].weight == 0.5);
    assert_string_equal(c.analyzers[1].health_url, "https://g:443/health");
    config_free(&c);
    assert_null(c.analyzers);
    assert_int_equal(c.analyzer_count, 0);
}

/* ---- config_parse_analyzer ----------------------------------------------------------- */

#define ID64 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._"

static void test_parse_analyzer(void **state)
{
    static const struct {
        const char *spec;
        int rc;
        const char *id, *url, *health;
        double weight;
    } cases[] = {
        {"id=a1,url=http://127.0.0.1:9001/ingest,weight=0.4", 0, "a1",
         "http://127.0.0.1:9001/ingest", "http://127.0.0.1:9001/health", 0.4},
        {"url=http://h/x,id=a2", 0, "a2", "http://h/x", "http://h:80/health", 1.0},
        {"id=a3,url=https://h.example/p", 0, "a3", "https://h.example/p",
         "https://h.example:443/health", 1.0},
        {"id=a4,url=https://h.example:8443/", 0, "a4", "https://h.example:8443/",
         "https://h.example:8443/health", 1.0},
        {"id=a5,url=http://h:81/a,b,c?x=1,2,weight=3", 0, "a5", "http://h:81/a,b,c?x=1,2",
         "http://h:81/health", 3.0},
        {"id=a6,url=http://h/,health_url=http://h:7/hc", 0, "a6", "http://h/", "http://h:7/hc",
         1.0},
        {"weight=2,health_url=https://m/ok,url=http://h/,id=a7", 0, "a7", "http://h/",
         "https://m/ok", 2.0},
        {"id=A-b_c.9,url=http://h/,weight=0", 0, "A-b_c.9", "http://h/", "http://h:80/health",
         0.0},
        {"id=" ID64 ",url=http://h/", 0, ID64, "http://h/", "http://h:80/health", 1.0},
        {"id=a8,url=http://[::1]:9000/x", 0, "a8", "http://[::1]:9000/x",
         "http://[::1]:9000/health", 1.0},
        {"id=a9,url=http://h/,weight=1e3", 0, "a9", "http://h/", "http://h:80/health", 1000.0},
        {"id=a,id=b,url=http://h/", 0, "b", "http://h/", "http://h:80/health", 1.0},
        /* missing or empty parts */
        {"", -1, NULL, NULL, NULL, 0},
        {"url=http://h/", -1, NULL, NULL, NULL, 0},
        {"id=,url=http://h/", -1, NULL, NULL, NULL, 0},
        {"id=a1", -1, NULL, NULL, NULL, 0},
        {"id=a1,url=", -1, NULL, NULL, NULL, 0},
        {"id=a1,url=http://h/,weight=", -1, NULL, NULL, NULL, 0},
        {"foo=1,id=a1,url=http://h/", -1, NULL, NULL, NULL, 0},
        {"a1,http://h/", -1, NULL, NULL, NULL, 0},
        /* bad weights */
        {"id=a1,url=http://h/,weight=-1", -1, NULL, NULL, NULL, 0},
        {"id=a1,url=http://h/,weight=nan", -1, NULL, NULL, NULL, 0},
        {"id=a1,url=http://h/,weight=inf", -1, NULL, NULL, NULL, 0},
        {"id=a1,url=http://h/,weight=-inf", -1, NULL, NULL, NULL, 0},
        {"id=a1,url=http://h/,weight=x", -1, NULL, NULL, NULL, 0},
        {"id=a1,url=http://h/,weight=1x", -1, NULL, NULL, NULL, 0},
        {"id=a1,url=http://h/,weight=1e400", -1, NULL, NULL, NULL, 0},
        /* bad URLs */
        {"id=a1,url=ftp://h/", -1, NULL, NULL, NULL, 0},
        {"id=a1,url=file:///etc/passwd", -1, NULL, NULL, NULL, 0},
        {"id=a1,url=h:80", -1, NULL, NULL, NULL, 0},
        {"id=a1,url=http://", -1, NULL, NULL, NULL, 0},
        {"id=a1,url=not a url", -1, NULL, NULL, NULL, 0},
        {"id=a1,url=http://user:pw@h/", -1, NULL, NULL, NULL, 0},
        {"id=a1,url=http://user@h/", -1, NULL, NULL, NULL, 0},
        {"id=a1,url=http://:pw@h/", -1, NULL, NULL, NULL, 0},
        {"id=a1,url=http://h/,health_url=ftp://h/", -1, NULL, NULL, NULL, 0},
        {"id=a1,url=http://h/,health_url=http://u:p@h/", -1, NULL, NULL, NULL, 0},
        /* bad ids */
        {"id=" ID64 "x,url=http://h/", -1, NULL, NULL, NULL, 0},
        {"id=a b,url=http://h/", -1, NULL, NULL, NULL, 0},
        {"id=a/b,url=http://h/", -1, NULL, NULL, NULL, 0},
        {"id=a:b,url=http://h/", -1, NULL, NULL, NULL, 0},
        {"id=\xc3\xa4,url=http://h/", -1, NULL, NULL, NULL, 0},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        analyzer_spec_t s;
        char err[512] = "";
        int rc = config_parse_analyzer(cases[i].spec, &s, err, sizeof err);
        if (rc != cases[i].rc)
            fail_msg("config_parse_analyzer(\"%s\") = %d, want %d (err: %s)", cases[i].spec, rc,
                     cases[i].rc, err);
        if (rc != 0) {
            if (!err[0]) fail_msg("\"%s\": rejected without a message", cases[i].spec);
            continue;
        }
        assert_string_equal(s.id, cases[i].id);
        assert_string_equal(s.url, cases[i].url);
        if (strcmp(s.health_url, cases[i].health))
            fail_msg("\"%s\": health_url \"%s\", want \"%s\"", cases[i].spec, s.health_url,
                     cases[i].health);
        assert_true(s.weight == cases[i].weight);
    }
}

/* A spec value longer than CONFIG_URL_MAX is refused, one of exactly that length is not
 * refused for its length. */
static void test_parse_analyzer_long_url(void **state)
{
    (void)state;
    static char spec[CONFIG_URL_MAX + 64];
    analyzer_spec_t s;
    char err[256];
    const char *pre = "id=a,url=http://h/";
    size_t plen = strlen("http://h/");

    strcpy(spec, pre);
    memset(spec + strlen(pre), 'p', CONFIG_URL_MAX - plen);
    spec[strlen(pre) + CONFIG_URL_MAX - plen] = 0;
    assert_int_equal(config_parse_analyzer(spec, &s, err, sizeof err), 0);
    assert_int_equal(strlen(s.url), CONFIG_URL_MAX);

    strcat(spec, "p");
    assert_int_equal(config_parse_analyzer(spec, &s, err, sizeof err), -1);
}

/* slow_start_ms in a flag spec and in the file: a duration 0..1 h, kept apart from "not given". */
static void test_analyzer_slow_start(void **state)
{
    (void)state;
    static const struct {
        const char *spec;
        int rc;
        bool has;
        uint32_t ms;
    } cases[] = {
        {"id=a1,url=http://h/", 0, false, 0},
        {"id=a1,url=http://h/,slow_start_ms=0", 0, true, 0},
        {"id=a1,url=http://h/,slow_start_ms=2500", 0, true, 2500},
        {"id=a1,url=http://h/,slow_start_ms=30s", 0, true, 30000},
        {"id=a1,slow_start_ms=1m,url=http://h/", 0, true, 60000},
        {"id=a1,url=http://h/,slow_start_ms=1h", 0, true, 3600000},
        {"id=a1,url=http://h/,slow_start_ms=2h", -1, false, 0},
        {"id=a1,url=http://h/,slow_start_ms=-1", -1, false, 0},
        {"id=a1,url=http://h/,slow_start_ms=", -1, false, 0},
        {"id=a1,url=http://h/,slow_start_ms=x", -1, false, 0},
    };
    for (size_t i = 0; i < N(cases); i++) {
        analyzer_spec_t s;
        char err[512] = "";
        int rc = config_parse_analyzer(cases[i].spec, &s, err, sizeof err);
        if (rc != cases[i].rc) fail_msg("\"%s\": rc %d (%s)", cases[i].spec, rc, err);
        if (rc) continue;
        if (s.has_slow_start != cases[i].has || s.slow_start_ms != cases[i].ms)
            fail_msg("\"%s\": has %d ms %u", cases[i].spec, s.has_slow_start, s.slow_start_ms);
    }
    static const struct {
        const char *json;
        int rc;
        uint32_t ms;
    } files[] = {
        {"{\"analyzers\":[{\"id\":\"a\",\"url\":\"http://h/\",\"slow_start_ms\":1500}]}", 0, 1500},
        {"{\"analyzers\":[{\"id\":\"a\",\"url\":\"http://h/\",\"slow_start_ms\":\"2s\"}]}", 0, 2000},
        {"{\"analyzers\":[{\"id\":\"a\",\"url\":\"http://h/\",\"slow_start_ms\":-5}]}", -1, 0},
        {"{\"analyzers\":[{\"id\":\"a\",\"url\":\"http://h/\",\"slow_start_ms\":true}]}", -1, 0},
        {"{\"analyzers\":[{\"id\":\"a\",\"url\":\"http://h/\",\"slow_start_ms\":3600001}]}", -1, 0},
    };
    for (size_t i = 0; i < N(files); i++) {
        char path[] = "/tmp/logdist-test-ss-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, files[i].json, strlen(files[i].json)),
                         (ssize_t)strlen(files[i].json));
        close(fd);
        config_t c;
        config_defaults(&c);
        char err[512] = "";
        int rc = config_load_file(&c, path, err, sizeof err);
        unlink(path);
        if (rc != files[i].rc) fail_msg("file %zu: rc %d (%s)", i, rc, err);
        if (!rc) {
            assert_int_equal(c.analyzer_count, 1);
            assert_true(c.analyzers[0].has_slow_start);
            assert_int_equal(c.analyzers[0].slow_start_ms, files[i].ms);
        } else {
            assert_non_null(strstr(err, "slow_start_ms"));
        }
        config_free(&c);
    }
}

/* ---- config_load_file ---------------------------------------------------------------- */

static void test_load_file(void **state)
{
    (void)state;
    char path[64];
    write_tmp("{\"listen\": \"127.0.0.1:0\", \"batch_max_records\": 500,\n"
              " \"batch_max_bytes\": \"64KiB\", \"max_queue_bytes\": 1048576,\n"
              " \"strategy\": \"random\", \"log_level\": \"warn\", \"max_attempts\": 3,\n"
              " \"analyzers\": [\n"
              "  {\"id\": \"a1\", \"url\": \"http://127.0.0.1:9001/in\", \"weight\": 4},\n"
              "  {\"id\": \"a2\", \"url\": \"https://x.example/\", \"weight\": 0.5,\n"
              "   \"health_url\": \"http://x.example:8/h\"},\n"
              "  {\"id\": \"a3\", \"url\": \"http://y:1/\"}]}\n",
              path);
    config_t c;
    config_defaults(&c);
    char err[512] = "";
    int rc = config_load_file(&c, path, err, sizeof err);
    if (rc) fail_msg("config_load_file: %s", err);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 0);
    assert_int_equal(c.batch_max_records, 500);
    assert_int_equal(c.batch_max_bytes, 65536);
    assert_int_equal(c.max_queue_bytes, 1048576);
    assert_int_equal(c.strategy, BALANCER_RANDOM);
    assert_int_equal(c.log_level, LOG_WARN);
    assert_int_equal(c.max_attempts, 3);
    assert_int_equal(c.max_depth, 64); /* untouched */
    assert_int_equal(c.analyzer_count, 3);
    const analyzer_spec_t *a1 = find_an(&c, "a1"), *a2 = find_an(&c, "a2"),
                          *a3 = find_an(&c, "a3");
    assert_non_null(a1);
    assert_non_null(a2);
    assert_non_null(a3);
    assert_string_equal(a1->url, "http://127.0.0.1:9001/in");
    assert_true(a1->weight == 4);
    assert_string_equal(a1->health_url, "http://127.0.0.1:9001/health");
    assert_true(a2->weight == 0.5);
    assert_string_equal(a2->health_url, "http://x.example:8/h");
    assert_true(a3->weight == 1.0);
    assert_string_equal(a3->health_url, "http://y:1/health");
    config_free(&c);
    unlink(path);
}

static void test_load_file_errors(void **state)
{
    static const char *const bad[] = {
        "",
        "{",
        "[]",
        "\"x\"",
        "{\"nope\": 1}",
        "{\"batch-max-recordz\": 1}",
        "{\"config\": \"/x\"}",
        "{\"batch_max_records\": \"x\"}",
        "{\"batch_max_records\": 1.5}",
        "{\"batch_max_records\": -1}",
        "{\"batch_max_records\": 0}",
        "{\"batch_max_records\": true}",
        "{\"batch_max_records\": null}",
        "{\"batch_max_records\": [1]}",
        "{\"batch_max_records\": 99999999999999999999}",
        "{\"batch_max_bytes\": \"64 KiB\"}",
        "{\"batch_max_bytes\": 100}",
        "{\"listen\": 8080}",
        "{\"listen\": \"nohost\"}",
        "{\"strategy\": \"rr\"}",
        "{\"log_level\": 1}",
        "{\"max_depth\": 2, \"max_depth\": 3}",
        "{\"analyzers\": {}}",
        "{\"analyzers\": \"a1\"}",
        "{\"analyzers\": [\"a1\"]}",
        "{\"analyzers\": [{\"id\": \"a1\"}]}",
        "{\"analyzers\": [{\"url\": \"http://h/\"}]}",
        "{\"analyzers\": [{\"id\": 1, \"url\": \"http://h/\"}]}",
        "{\"analyzers\": [{\"id\": \"a1\", \"url\": \"http://h/\", \"weight\": \"2\"}]}",
        "{\"analyzers\": [{\"id\": \"a1\", \"url\": \"http://h/\", \"weight\": -1}]}",
        "{\"analyzers\": [{\"id\": \"a1\", \"url\": \"http://h/\", \"health_url\": 5}]}",
        "{\"analyzers\": [{\"id\": \"a1\", \"url\": \"ftp://h/\"}]}",
        "{\"analyzers\": [{\"id\": \"a1\", \"url\": \"http://u:p@h/\"}]}",
        "{\"analyzers\": [{\"id\": \"a 1\", \"url\": \"http://h/\"}]}",
        "{\"analyzers\": [{\"id\": \"\", \"url\": \"http://h/\"}]}",
        "{\"analyzers\": [{\"id\": \"" ID64 "x\", \"url\": \"http://h/\"}]}",
    };
    (void)state;
    for (size_t i = 0; i < N(bad); i++) {
        char path[64];
        write_tmp(bad[i], path);
        config_t c;
        config_defaults(&c);
        char err[512] = "";
        int rc = config_load_file(&c, path, err, sizeof err);
        unlink(path);
        config_free(&c);
        if (rc != -1) fail_msg("config_load_file(%s) = %d, want -1", bad[i], rc);
        if (!err[0]) fail_msg("config_load_file(%s): no error message", bad[i]);
    }
    config_t c;
    config_defaults(&c);
    char err[512] = "";
    assert_int_equal(config_load_file(&c, "/nonexistent/logdist.json", err, sizeof err), -1);
    assert_true(err[0] != 0);
}

static const char override_file[] =
    "{\"listen\": \"127.0.0.1:1111\", \"batch_max_records\": 500, \"max_attempts\": 3,\n"
    " \"analyzers\": [{\"id\": \"a1\", \"url\": \"http://file/\", \"weight\": 4},\n"
    "                 {\"id\": \"a2\", \"url\": \"http://file2/\"}]}\n";

/* Flags override the file, whether they come before or after --config. */
static void test_flags_override_file(void **state)
{
    (void)state;
    char path[64];
    write_tmp(override_file, path);
    for (int order = 0; order < 2; order++) {
        const char *after[] = {"--config", path, "--batch-max-records", "7", "--analyzer",
                               "id=a1,url=http://flag/,weight=9", NULL};
        const char *before[] = {"--batch-max-records=7", "--analyzer",
                                "id=a1,url=http://flag/,weight=9", "--config", path, NULL};
        config_t c;
        config_defaults(&c);
        assert_int_equal(run_args(&c, order ? before : after), 0);
        assert_int_equal(c.batch_max_records, 7);   /* flag */
        assert_int_equal(c.listen_port, 1111);      /* file */
        assert_int_equal(c.max_attempts, 3);        /* file */
        assert_int_equal(c.analyzer_count, 2);
        const analyzer_spec_t *a1 = find_an(&c, "a1"), *a2 = find_an(&c, "a2");
        assert_non_null(a1);
        assert_non_null(a2);
        assert_string_equal(a1->url, "http://flag/");
        assert_true(a1->weight == 9);
        assert_string_equal(a2->url, "http://file2/");
        config_free(&c);
    }
    /* a bad flag still fails with a good file */
    const char *badflag[] = {"--config", path, "--bogus", "1", NULL};
    config_t c;
    config_defaults(&c);
    assert_int_equal(run_args(&c, badflag), -1);
    config_free(&c);
    unlink(path);
}

/* "--config=FILE" must load the file like "--config FILE" (every other flag takes the
 * --name=value form). */
static void test_config_equals_form(void **state)
{
    (void)state;
    char path[64], arg[80];
    write_tmp(override_file, path);
    snprintf(arg, sizeof arg, "--config=%s", path);
    const char *args[] = {arg, NULL};
    config_t c;
    config_defaults(&c);
    int rc = run_args(&c, args);
    unlink(path);
    assert_int_equal(rc, 0);
    if (c.batch_max_records != 500 || c.analyzer_count != 2)
        fail_msg("--config=FILE was ignored: batch_max_records %u (file says 500), "
                 "%zu analyzers (file has 2)",
                 c.batch_max_records, c.analyzer_count);
    config_free(&c);
}



/* ---- the connection layer's options (issue 10) ---------------------------------------- */

static void test_ingress_options(void **state)
{
    (void)state;
    config_t c;
    config_defaults(&c);
    assert_int_equal(run_args(&c, (const char *const[]){NULL}), 0);
    assert_int_equal(c.overload_action, OVERLOAD_REJECT);
    assert_int_equal(c.max_connections_per_ip, 0);
    assert_int_equal(c.max_inflight_body_bytes, 64ull << 20); /* 256 MiB / 4 = 64 MiB */
    config_free(&c);

    /* the default is at most a quarter of --memory-limit, never below --max-body-bytes */
    config_defaults(&c);
    assert_int_equal(run_args(&c, (const char *const[]){"--memory-limit", "128MiB", NULL}), 0);
    assert_int_equal(c.max_inflight_body_bytes, 32ull << 20);
    config_free(&c);
    config_defaults(&c);
    assert_int_equal(run_args(&c, (const char *const[]){"--memory-limit", "32MiB", NULL}), 0);
    assert_int_equal(c.max_inflight_body_bytes, 16ull << 20); /* --max-body-bytes */
    config_free(&c);

    /* given: kept (0 = no limit), but still room for one body */
    config_defaults(&c);
    assert_int_equal(run_args(&c, (const char *const[]){"--max-inflight-body-bytes", "0",
                                                        "--overload-action", "pause",
                                                        "--max-connections-per-ip", "8", NULL}),
                     0);
    assert_int_equal(c.max_inflight_body_bytes, 0);
    assert_int_equal(c.overload_action, OVERLOAD_PAUSE);
    assert_int_equal(c.max_connections_per_ip, 8);
    config_free(&c);
    config_defaults(&c);
    assert_int_equal(run_args(&c, (const char *const[]){"--max-inflight-body-bytes", "1MiB", NULL}),
                     0);
    assert_int_equal(c.max_inflight_body_bytes, 16ull << 20);
    config_free(&c);

    config_defaults(&c);
    assert_int_not_equal(run_args(&c, (const char *const[]){"--overload-action", "drop", NULL}), 0);
    config_free(&c);
}

/* ---- protocol listeners (issue 11) ---------------------------------------------------- */

/* Every listen spec: accepted ones are kept as given, malformed ones are errors of
 * the option; --syslog-listen repeats up to CONFIG_SYSLOG_LISTEN_MAX. */
static void test_protocol_options(void **state)
{
    (void)state;
    static const struct {
        const char *flag, *value;
        int ok;
    } cases[] = {
        {"--syslog-listen", "udp://127.0.0.1:5514", 1},
        {"--syslog-listen", "tcp://127.0.0.1:0", 1},
        {"--syslog-listen", "tls://[::1]:6514", 1},
        {"--syslog-listen", "tcp://localhost:601", 1},
        {"--syslog-listen", "127.0.0.1:514", 0},     /* no scheme */
        {"--syslog-listen", "http://127.0.0.1:514", 0},
        {"--syslog-listen", "udp://127.0.0.1", 0},   /* no port */
        {"--syslog-listen", "udp://127.0.0.1:65536", 0},
        {"--syslog-listen", "udp://:514", 0},        /* no host */
        {"--syslog-listen", "udp://[::1:514", 0},
        {"--otlp-listen", "127.0.0.1:4318", 1},
        {"--otlp-listen", "127.0.0.1", 0},
        {"--otlp-listen", "127.0.0.1:x", 0},
        {"--forward-listen", "0.0.0.0:24224", 1},
        {"--forward-listen", ":24224", 0},
        {"--elasticsearch-listen", "[::1]:9200", 1},
        {"--elasticsearch-listen", "[::1]9200", 0},
        {"--syslog-max-message-bytes", "8KiB", 1},
        {"--syslog-max-message-bytes", "100", 0},     /* below 480 (RFC 5426's minimum) */
        {"--syslog-max-message-bytes", "32MiB", 0},
        {"--forward-shared-key", "s3cret", 1},
        {"--forward-shared-key", "", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        config_t c;
        config_defaults(&c);
        int rc = run_args(&c, (const char *const[]){cases[i].flag, cases[i].value, NULL});
        if (cases[i].ok != (rc == 0))
            fail_msg("%s %s: rc %d", cases[i].flag, cases[i].value, rc);
        config_free(&c);
    }
    config_t c;
    config_defaults(&c);
    assert_int_equal(c.syslog_max_message_bytes, 64u << 10);
    assert_int_equal(run_args(&c, (const char *const[]){"--syslog-listen", "udp://127.0.0.1:1",
                                                        "--syslog-listen", "tcp://127.0.0.1:2",
                                                        "--otlp-listen", "127.0.0.1:3", NULL}),
                     0);
    assert_int_equal(c.syslog_listen_count, 2);
    assert_string_equal(c.syslog_listen[0], "udp://127.0.0.1:1");
    assert_string_equal(c.syslog_listen[1], "tcp://127.0.0.1:2");
    assert_string_equal(c.otlp_listen, "127.0.0.1:3");
    config_free(&c);

    /* more than CONFIG_SYSLOG_LISTEN_MAX */
    config_defaults(&c);
    const char *many[2 * (CONFIG_SYSLOG_LISTEN_MAX + 1) + 1];
    for (int i = 0; i <= CONFIG_SYSLOG_LISTEN_MAX; i++) {
        many[2 * i] = "--syslog-listen";
        many[2 * i + 1] = "udp://127.0.0.1:0";
    }
    many[2 * (CONFIG_SYSLOG_LISTEN_MAX + 1)] = NULL;
    assert_int_not_equal(run_args(&c, many), 0);
    config_free(&c);

    /* the file: a list or one string */
    char path[64], err[512];
    write_tmp("{\"syslog_listen\": [\"udp://127.0.0.1:0\", \"tls://127.0.0.1:0\"], "
              "\"forward_listen\": \"127.0.0.1:24224\"}", path);
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, path, err, sizeof err), 0);
    assert_int_equal(c.syslog_listen_count, 2);
    assert_string_equal(c.forward_listen, "127.0.0.1:24224");
    config_free(&c);
    unlink(path);
    write_tmp("{\"syslog_listen\": [\"udp://127.0.0.1:0\", 5]}", path);
    config_defaults(&c);
    assert_int_not_equal(config_load_file(&c, path, err, sizeof err), 0);
    assert_non_null(strstr(err, "syslog_listen[1]"));
    config_free(&c);
    unlink(path);
}

/* ---- --analyzer-allow: list syntax and the default deny ------------------------------- */

/* Every malformed shape is an error of the option (it used to read "10.0.0.0/" as /0). */
static void test_allow_list_syntax(void **state)
{
    (void)state;
    static const struct {
        const char *list;
        int ok;
    } cases[] = {
        {"10.0.0.0/8", 1},           {"10.0.0.0/8,analyzers.internal", 1},
        {"192.168.1.7", 1},          {"0.0.0.0/0", 1},
        {"::1", 1},                  {"fd00::/8", 1},
        {"::/0", 1},                 {"2001:db8::/128", 1},
        {"a-b_c.d", 1},              {"169.254.169.254", 1},
        {"10.0.0.0/", 0},            {"10.0.0.0/33", 0},
        {"10.0.0.0/-1", 0},          {"10.0.0.0/+8", 0},
        {"10.0.0.0/08", 0},          {"10.0.0.0/8a", 0},
        {"10.0.0.0/ 8", 0},          {"10.0.0.0//8", 0},
        {"10.0.0.0/8/8", 0},         {"10.0.0.0/1000", 0},
        {"10.0.0.1/8", 0},           /* host bits set */
        {"10.0.0/8", 0},             {"10.0.0", 0},
        {"10.0.0.256", 0},           {"1.2.3.4.5", 0},
        {"/8", 0},                   {"::1/129", 0},
        {"::1/", 0},                 {"[::1]", 0},
        {"fe80::1%eth0", 0},         {"fd00::1/8", 0},
        {"10.0.0.0/8,", 0},          {",10.0.0.0/8", 0},
        {"10.0.0.0/8,,a", 0},        {" 10.0.0.0/8", 0},
        {"10.0.0.0/8 ", 0},          {"host name", 0},
        {"http://a", 0},             {"a:b", 0},
        {"h\xc3\xa9", 0},            {"*.internal", 0},
        {"name/8", 0},
    };
    for (size_t i = 0; i < N(cases); i++) {
        const char *args[] = {"--analyzer-allow", cases[i].list, NULL};
        config_t c;
        config_defaults(&c);
        int rc = run_args(&c, args);
        if ((rc == 0) != cases[i].ok)
            fail_msg("--analyzer-allow '%s': rc %d, want %s", cases[i].list, rc,
                     cases[i].ok ? "accepted" : "a parse error");
        config_free(&c);
    }
    /* the file form goes through the same check */
    char path[64];
    write_tmp("{\"analyzer_allow\": \"10.0.0.0/\"}", path);
    config_t c;
    config_defaults(&c);
    char err[512] = "";
    assert_int_equal(config_load_file(&c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "10.0.0.0/"));
    config_free(&c);
    unlink(path);
}

static void test_allow_default_deny(void **state)
{
    (void)state;
    static const struct {
        const char *allow;
        const char *url;
        int ok;
    } cases[] = {
        /* no list: any host but link-local and metadata */
        {"", "http://127.0.0.1:9001/ingest", 1},
        {"", "http://10.1.2.3/x", 1},
        {"", "https://analyzer.example.com/x", 1},
        {"", "http://[::1]:9/x", 1},
        {"", "http://169.254.169.254/latest/meta-data/", 0},
        {"", "http://169.254.0.1/x", 0},
        {"", "http://169.254.255.255/x", 0},
        {"", "http://169.253.255.255/x", 1},
        {"", "http://169.255.0.0/x", 1},
        {"", "http://0xA9FEA9FE/x", 0},          /* curl normalises these spellings */
        {"", "http://2852039166/x", 0},
        {"", "http://169.254.43518/x", 0},
        {"", "http://0251.0376.0251.0376/x", 0},
        {"", "http://169.254.169.254./x", 0},    /* trailing dot */
        {"", "http://[fe80::1]/x", 0},
        {"", "http://[fe80::1%25eth0]/x", 0},
        {"", "http://[febf::1]/x", 0},
        {"", "http://[fec0::1]/x", 1},
        {"", "http://[fd00:ec2::254]/x", 0},
        {"", "http://[fd00:ec2::253]/x", 1},
        {"", "http://[::ffff:169.254.169.254]/x", 0},
        {"", "http://[::ffff:a9fe:a9fe]/x", 0},
        {"", "http://[64:ff9b::169.254.169.254]/x", 0},
        {"", "http://100.100.100.200/x", 0},
        {"", "http://100.100.100.201/x", 1},
        {"", "http://metadata.google.internal/computeMetadata/v1/", 0},
        {"", "http://METADATA.Google.Internal./x", 0},
        {"", "http://metadata/x", 0},
        {"", "http://metadata.goog/x", 0},
        {"", "http://instance-data/x", 0},
        {"", "http://instance-data.ec2.internal/x", 0},
        {"", "http://metadata.google.internal.example.com/x", 1},
        /* a list allows only its entries, and a wide one does not open the denied */
        {"10.0.0.0/8", "http://10.9.9.9/x", 1},
        {"10.0.0.0/8", "http://11.0.0.1/x", 0},
        {"10.0.0.0/8", "http://127.0.0.1/x", 0},
        {"0.0.0.0/0", "http://8.8.8.8/x", 1},
        {"0.0.0.0/0", "http://169.254.169.254/x", 0},
        {"169.0.0.0/8", "http://169.254.169.254/x", 0},
        {"::/0", "http://[fe80::1]/x", 0},
        {"::/0", "http://[::ffff:169.254.169.254]/x", 0},
        {"169.254.169.254", "http://169.254.169.254/x", 1},
        {"169.254.10.0/24", "http://169.254.10.7/x", 1},
        {"169.254.10.0/24", "http://169.254.169.254/x", 0},
        {"169.254.0.0/16", "http://169.254.169.254/x", 1},
        {"fe80::/10", "http://[fe80::1]/x", 1},
        {"fe80::/64", "http://[fe80::1]/x", 1},
        {"fe80::/9", "http://[fe80::1]/x", 0},
        {"metadata.google.internal", "http://metadata.google.internal/x", 1},
        {"metadata.google.internal", "http://metadata/x", 0},
        {"a.internal,b.internal", "http://B.INTERNAL/x", 1},
        {"a.internal,b.internal", "http://c.internal/x", 0},
        {"::1", "http://[::1]:8/x", 1},
        {"analyzers.internal", "http://10.0.0.1/x", 0},
    };
    for (size_t i = 0; i < N(cases); i++) {
        config_t c;
        config_defaults(&c);
        if (cases[i].allow[0]) {
            const char *args[] = {"--analyzer-allow", cases[i].allow, NULL};
            assert_int_equal(run_args(&c, args), 0);
        }
        char err[512] = "";
        bool ok = config_analyzer_allowed(&c, cases[i].url, err, sizeof err);
        if (ok != (bool)cases[i].ok)
            fail_msg("allow '%s', url %s: %s, want %s", cases[i].allow, cases[i].url,
                     ok ? "allowed" : err, cases[i].ok ? "allowed" : "refused");
        if (!ok && !strstr(err, "analyzer-allow")) fail_msg("error '%s' lacks the option", err);
        config_free(&c);
    }
}

/* --hash-token refuses weak tokens; --generate-token prints a token and its hash. */
static void test_token_commands(void **state)
{
    (void)state;
    static const struct {
        const char *tok;
        int rc;
    } cases[] = {
        {"x", -1},
        {"password", -1},
        {"0123456789abcdef0123456789abcde", -1},
        {"0123456789abcdef0123456789abcdef", 1},
        {"Zq3_kP9-xW2mV7nB4tR8yL", 1},
    };
    for (size_t i = 0; i < N(cases); i++) {
        const char *args[] = {"--hash-token", cases[i].tok, NULL};
        config_t c;
        config_defaults(&c);
        fflush(stdout);
        int rc = run_args(&c, args);
        if (rc != cases[i].rc) fail_msg("--hash-token '%s': rc %d, want %d", cases[i].tok, rc, cases[i].rc);
        config_free(&c);
    }
    const char *missing[] = {"--hash-token", NULL};
    config_t c;
    config_defaults(&c);
    assert_int_equal(run_args(&c, missing), -1);
    const char *gen[] = {"--generate-token", NULL};
    assert_int_equal(run_args(&c, gen), 1);
    config_free(&c);
}


/* The connect-time check (a name may resolve to a metadata address): the
 * curl open-socket callback refuses default-denied addresses the process list
 * does not open by address, and opens a socket for the others. */
static void test_connect_time_deny(void **state)
{
    (void)state;
    static const struct {
        const char *list;
        int fam;
        const char *addr;
        int ok;
    } cases[] = {
        {"", AF_INET, "127.0.0.1", 1},
        {"", AF_INET, "10.2.3.4", 1},
        {"", AF_INET, "169.254.169.254", 0},
        {"", AF_INET, "169.254.1.1", 0},
        {"", AF_INET, "100.100.100.200", 0},
        {"", AF_INET6, "::1", 1},
        {"", AF_INET6, "fe80::1", 0},
        {"", AF_INET6, "fd00:ec2::254", 0},
        {"", AF_INET6, "::ffff:169.254.169.254", 0},
        {"", AF_INET6, "64:ff9b::a9fe:a9fe", 0},
        {"0.0.0.0/0,::/0", AF_INET, "169.254.169.254", 0},
        {"metadata.google.internal", AF_INET, "169.254.169.254", 0}, /* names cannot open */
        {"169.254.169.254", AF_INET, "169.254.169.254", 1},
        {"169.254.0.0/16", AF_INET, "169.254.3.4", 1},
        {"fe80::/10", AF_INET6, "fe80::1", 1},
        {"10.0.0.0/8", AF_INET, "192.168.1.1", 1}, /* the list itself is checked on the URL */
    };
    for (size_t i = 0; i < N(cases); i++) {
        /* curl passes its own, larger structure: addr has room for an IPv6 address */
        union {
            struct curl_sockaddr a;
            unsigned char room[sizeof(struct curl_sockaddr) + sizeof(struct sockaddr_in6)];
        } u;
        memset(&u, 0, sizeof u);
        struct curl_sockaddr *a = &u.a;
        a->family = cases[i].fam;
        a->socktype = SOCK_STREAM;
        a->protocol = IPPROTO_TCP;
        if (cases[i].fam == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)(void *)&a->addr;
            in->sin_family = AF_INET;
            assert_int_equal(inet_pton(AF_INET, cases[i].addr, &in->sin_addr), 1);
            a->addrlen = sizeof *in;
        } else {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&a->addr;
            in6->sin6_family = AF_INET6;
            assert_int_equal(inet_pton(AF_INET6, cases[i].addr, &in6->sin6_addr), 1);
            a->addrlen = sizeof *in6;
        }
        netallow_set_process_list(cases[i].list);
        unsigned long before = netallow_curl_denied();
        curl_socket_t fd = netallow_curl_opensocket(NULL, CURLSOCKTYPE_IPCXN, a);
        if ((fd != CURL_SOCKET_BAD) != cases[i].ok)
            fail_msg("list '%s', %s: %s, want %s", cases[i].list, cases[i].addr,
                     fd != CURL_SOCKET_BAD ? "connected" : "refused",
                     cases[i].ok ? "connected" : "refused");
        assert_int_equal(netallow_curl_denied() - before, cases[i].ok ? 0 : 1);
        if (fd != CURL_SOCKET_BAD) close(fd);
    }
    /* config_finish publishes --analyzer-allow as the process list */
    const char *args[] = {"--analyzer-allow", "169.254.169.254", NULL};
    config_t c;
    config_defaults(&c);
    assert_int_equal(run_args(&c, args), 0);
    assert_string_equal(netallow_process_list(), "169.254.169.254");
    config_free(&c);
    netallow_set_process_list("");
}

/* ---- the option table's types: durations, bools, enums (table-driven) ------------------ */

static void test_option_types(void **state)
{
    static const struct {
        const char *args[4];
        int rc;
        size_t off; /* uint32_t field checked when rc == 0 */
        uint32_t want;
    } cases[] = {
        {{"--batch-linger-ms", "250"}, 0, offsetof(config_t, batch_linger_ms), 250},
        {{"--batch-linger-ms", "250ms"}, 0, offsetof(config_t, batch_linger_ms), 250},
        {{"--batch-linger-ms", "2s"}, 0, offsetof(config_t, batch_linger_ms), 2000},
        {{"--batch-linger-ms", "1m"}, 0, offsetof(config_t, batch_linger_ms), 60000},
        {{"--batch-linger-ms", "2m"}, -1, 0, 0},      /* over 60000 ms */
        {{"--batch-linger-ms", "1.5s"}, -1, 0, 0},
        {{"--batch-linger-ms", "5x"}, -1, 0, 0},
        {{"--batch-linger-ms", "ms"}, -1, 0, 0},
        {{"--idle-timeout-s", "45"}, 0, offsetof(config_t, idle_timeout_s), 45},
        {{"--idle-timeout-s", "2m"}, 0, offsetof(config_t, idle_timeout_s), 120},
        {{"--idle-timeout-s", "1h"}, 0, offsetof(config_t, idle_timeout_s), 3600},
        {{"--idle-timeout-s", "2h"}, -1, 0, 0},
        {{"--idle-timeout-s", "1500ms"}, -1, 0, 0},   /* not whole seconds */
        {{"--idle-timeout-s", "3000ms"}, 0, offsetof(config_t, idle_timeout_s), 3},
        {{"--connect-timeout-ms", "1h"}, -1, 0, 0},   /* over 600000 ms */
        {{"--insecure"}, 0, 0, 0},
        {{"--insecure=false"}, 0, 0, 0},
        {{"--insecure=yes"}, -1, 0, 0},
        {{"--log-format", "json"}, 0, offsetof(config_t, log_format), 1},
        {{"--log-format", "text"}, 0, offsetof(config_t, log_format), 0},
        {{"--log-format", "xml"}, -1, 0, 0},
        {{"--durability", "all"}, 0, offsetof(config_t, durability), DURABILITY_ALL},
        {{"--overload-action", "pause"}, 0, offsetof(config_t, overload_action), OVERLOAD_PAUSE},
        {{"--critical-levels", "FATAL,ERROR"}, 0, 0, 0},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        config_t c;
        config_defaults(&c);
        int rc = run_args(&c, cases[i].args);
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s %s): rc %d, want %d", i, cases[i].args[0],
                     cases[i].args[1] ? cases[i].args[1] : "", rc, cases[i].rc);
        if (rc == 0 && cases[i].off) {
            uint32_t v;
            memcpy(&v, (char *)&c + cases[i].off, sizeof v);
            if (v != cases[i].want)
                fail_msg("case %zu (%s %s): %u, want %u", i, cases[i].args[0], cases[i].args[1],
                         v, cases[i].want);
        }
        config_free(&c);
    }
    config_t c;
    config_defaults(&c);
    const char *on[] = {"--insecure", "--max-depth", "9", NULL};
    assert_int_equal(run_args(&c, on), 0);
    assert_true(c.insecure);
    assert_int_equal(c.max_depth, 9); /* a bool flag does not take the next argument */
    config_free(&c);
}

/* Derived defaults follow the option they derive from unless given. */
static void test_derived_defaults(void **state)
{
    (void)state;
    config_t c;
    config_defaults(&c);
    const char *a[] = {"--memory-limit", "64MiB", NULL};
    assert_int_equal(run_args(&c, a), 0);
    assert_int_equal(c.max_queue_bytes, 8u << 20);
    assert_int_equal(c.max_inflight_body_bytes, 16u << 20);
    config_free(&c);
    config_defaults(&c);
    const char *b[] = {"--max-queue-bytes", "5MiB", "--memory-limit", "64MiB", NULL};
    assert_int_equal(run_args(&c, b), 0);
    assert_int_equal(c.max_queue_bytes, 5u << 20);
    config_free(&c);
}

#define A60 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define A600 A60 A60 A60 A60 A60 A60 A60 A60 A60 A60

/* config_load: file errors carry FILE:LINE:COLUMN of the member (or array element). */
static void test_load_locations(void **state)
{
    static const struct {
        const char *text;
        const char *want; /* after "FILE:" */
    } cases[] = {
        {"{\n  \"max_depth\": 8,\n  \"batch_max_records\": 0\n}\n",
         "3:3: batch_max_records: invalid value '0' for batch-max-records (1..1000000)"},
        {"{\"strategy\": \"swrr\",\n \"bogus\": {\"a\": [1, {\"b\": \"}\"}]},\n \"zzz\": 1}",
         "2:2: bogus: unknown option"},
        {"{\"analyzers\": [\n   {\"id\": \"a\", \"url\": \"http://127.0.0.1:1/\"},\n"
         "   {\"id\": \"b c\", \"url\": \"http://127.0.0.1:2/\"}]}",
         "3:4: analyzers[1]: analyzer id may only contain letters, digits, '.', '_', '-'"},
        {"{\"insecure\": 1}", "1:2: insecure: must be true or false"},
        {"{\"log_level\": \"loud\"}",
         "1:2: log_level: invalid value 'loud' for log-level (debug|info|warn|error)"},
        {"{\"critical_levels\": [\"FATAL\", 3]}", "1:31: critical_levels[1]: must be a string"},
        /* joined past the 1 KiB buffer (fuzz_config: a pointer past it, UB) */
        {"{\"analyzer_allow\": [\"" A600 "\", \"" A600 "\", \"c\"]}",
         "1:2: analyzer_allow: list too long"},
        {"{\"max_depth\": 8,}", "1:17: string or"}, /* jansson's own position */
        /* a key spelled with an escape is found (fuzz_config: it was located at 0:0) */
        {"{\"strategy\": \"swrr\",\n \"max\\u005fdepth\": 1}",
         "2:2: max_depth: invalid value '1' for max-depth (2..1000)"},
        {"{\"\\u0061nalyzers\": [{\"id\": \"a\", \"url\": \"http://127.0.0.1:1/\"},\n 7]}",
         "2:2: analyzers[1]: must be an object with id and url"},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        char path[64], want[600], err[1200] = "";
        write_tmp(cases[i].text, path);
        char *argv[] = {(char *)"logdistd", (char *)"--check-config", path, NULL};
        config_t c;
        int rc = config_load(&c, 3, argv, err, sizeof err);
        unlink(path);
        snprintf(want, sizeof want, "%s:%s", path, cases[i].want);
        if (rc != -1 || strncmp(err, want, strlen(want)))
            fail_msg("case %zu: rc %d, err '%s', want '%s'", i, rc, err, want);
    }
    /* a good file with flags: 0, flags still override */
    char path[64], err[600] = "";
    write_tmp("{\"max_depth\": 8, \"critical_levels\": [\"FATAL\", \"ERROR\"]}", path);
    char *argv[] = {(char *)"logdistd", (char *)"--config", path, (char *)"--max-depth",
                    (char *)"9", NULL};
    config_t c;
    assert_int_equal(config_load(&c, 5, argv, err, sizeof err), 0);
    assert_int_equal(c.max_depth, 9);
    assert_string_equal(c.critical_levels, "FATAL,ERROR");
    config_free(&c);
    unlink(path);
}

/* Checks across options. */
static void test_validate(void **state)
{
    static const struct {
        const char *args[6];
        const char *want; /* substring of the error, NULL = valid */
    } cases[] = {
        {{NULL}, NULL},
        {{"--tls-key", "/k.pem"}, "go together"},
        {{"--tls-client-ca", "/ca.pem"}, "needs --tls-cert"},
        {{"--listen", "0.0.0.0:1"}, "without authentication"},
        {{"--listen", "0.0.0.0:1", "--insecure"}, NULL},
        {{"--admin-listen", "10.1.2.3:9"}, "without authentication"},
        {{"--syslog-listen", "udp://0.0.0.0:514"}, "syslog"},
        {{"--forward-listen", "0.0.0.0:24224"}, "forward-shared-key"},
        {{"--forward-listen", "0.0.0.0:24224", "--forward-shared-key", "k"}, NULL},
        {{"--token", "role=admin"}, "tokens[0]"},
        {{"--analyzer", "id=a,url=http://169.254.169.254/"}, "analyzer a"},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        char *argv[8] = {(char *)"logdistd"};
        int argc = 1;
        for (; argc < 7 && cases[i].args[argc - 1]; argc++) argv[argc] = (char *)cases[i].args[argc - 1];
        config_t c;
        char err[600] = "";
        int rc = config_load(&c, argc, argv, err, sizeof err);
        if (cases[i].want ? rc != -1 || !strstr(err, cases[i].want) : rc != 0)
            fail_msg("case %zu: rc %d, err '%s', want '%s'", i, rc, err,
                     cases[i].want ? cases[i].want : "(valid)");
        if (!rc) config_free(&c);
    }
}

/* The table as reload sees it: names, reload flags, secrets, value equality. */
static void test_option_table(void **state)
{
    (void)state;
    size_t n = config_option_count(), found = 0;
    assert_true(n > 60 && n <= CONFIG_OPTIONS_MAX);
    config_t a, b;
    config_defaults(&a);
    config_defaults(&b);
    for (size_t i = 0; i < n; i++) assert_true(config_option_same(i, &a, &b));
    const char *args[] = {"--max-depth", "9", "--analyzer", "id=x,url=http://127.0.0.1:1/",
                          "--listen", "127.0.0.1:99", NULL};
    assert_int_equal(run_args(&b, args), 0);
    for (size_t i = 0; i < n; i++) {
        const char *name = config_option_name(i);
        bool changed = !strcmp(name, "max-depth") || !strcmp(name, "analyzer") ||
                       !strcmp(name, "listen");
        if (config_option_same(i, &a, &b) == changed) fail_msg("option %s", name);
        if (!strcmp(name, "max-depth") || !strcmp(name, "analyzer") || !strcmp(name, "token"))
            assert_true(config_option_reloadable(i)), found++;
        if (!strcmp(name, "listen") || !strcmp(name, "data-dir"))
            assert_false(config_option_reloadable(i)), found++;
        if (!strcmp(name, "token") || !strcmp(name, "forward-shared-key"))
            assert_true(config_option_secret(i));
    }
    assert_int_equal(found, 5);
    config_free(&a);
    config_free(&b);
    /* the analyzer keys are listed once, in order */
    const char *keys[] = {"id",         "url",        "weight",       "health_url",
                          "client_cert", "client_key", "slow_start_ms"};
    for (size_t i = 0; i < N(keys); i++) assert_string_equal(config_analyzer_keys[i], keys[i]);
    assert_null(config_analyzer_keys[N(keys)]);
}

/* --log-format: text (default) or json, as a flag and in both flag forms;
 * anything else is refused, and the secret --forward-shared-key is never
 * echoed in an error. */
static void test_log_format_and_secret_errors(void **state)
{
    (void)state;
    static const struct {
        const char *args[4];
        int rc;
        log_format_t want;
    } cases[] = {
        {{NULL}, 0, LOG_FORMAT_TEXT},
        {{"--log-format", "json", NULL}, 0, LOG_FORMAT_JSON},
        {{"--log-format=text", NULL}, 0, LOG_FORMAT_TEXT},
        {{"--log-format", "JSON", NULL}, -1, LOG_FORMAT_TEXT},
        {{"--log-format", "", NULL}, -1, LOG_FORMAT_TEXT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        config_t c;
        config_defaults(&c);
        int rc = run_args(&c, cases[i].args);
        if ((rc != 0) != (cases[i].rc != 0)) fail_msg("case %zu: rc %d", i, rc);
        if (!rc) assert_int_equal(c.log_format, cases[i].want);
        config_free(&c);
    }
    char key[CONFIG_TOKEN_MAX + 40];
    memset(key, 'K', sizeof key - 1);
    key[sizeof key - 1] = 0;
    const char *args[] = {"--forward-shared-key", key, NULL};
    config_t c;
    config_defaults(&c);
    char path[] = "/tmp/test_config_stderr_XXXXXX";
    int fd = mkstemp(path), saved = dup(STDERR_FILENO);
    assert_true(fd >= 0 && saved >= 0);
    dup2(fd, STDERR_FILENO); /* what config_from_args prints */
    int rc = run_args(&c, args);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char out[4096] = "";
    ssize_t n = pread(fd, out, sizeof out - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    out[n] = 0;
    assert_non_null(strstr(out, "forward-shared-key"));
    assert_null(strstr(out, "KKKKKKKK"));
    assert_int_not_equal(rc, 0);
    config_free(&c);
}

/* A reload validates the running listeners with the new tokens: a file that
 * drops the tokens and moves --listen to loopback, or says insecure, cannot
 * turn authentication off on a listener that still faces the network. */
static void test_merge_reloadable(void **state)
{
    (void)state;
    char *run_argv[] = {(char *)"logdistd", (char *)"--listen", (char *)"0.0.0.0:8080",
                        (char *)"--token",
                        (char *)"role=admin,hash=sha256$c8709ab9c6b227733103dfa910486bed$"
                                "f3cc5f961e62f80b66809efbd67a69a2d59f2d60ed4fb19eb98b8d55c0ba6967",
                        (char *)"--max-depth", (char *)"9", NULL};
    char *next_argv[] = {(char *)"logdistd", (char *)"--listen", (char *)"127.0.0.1:9",
                         (char *)"--insecure", (char *)"--max-depth", (char *)"7", NULL};
    config_t running, next, eff;
    char err[600] = "";
    if (config_load(&running, 7, run_argv, err, sizeof err)) fail_msg("running: %s", err);
    if (config_load(&next, 6, next_argv, err, sizeof err)) fail_msg("next: %s", err);
    assert_int_equal(config_merge_reloadable(&eff, &running, &next), 0);
    assert_string_equal(eff.listen_host, "0.0.0.0"); /* restart-only: as it runs */
    assert_false(eff.insecure);
    assert_int_equal(eff.max_depth, 7);               /* reloadable: the new value */
    assert_int_equal(eff.token_count, 0);
    assert_int_equal(config_validate(&eff, err, sizeof err), -1);
    assert_non_null(strstr(err, "refusing to listen on 0.0.0.0 without authentication"));
    for (size_t i = 0; i < config_option_count(); i++)
        if (!config_option_reloadable(i) && !config_option_same(i, &eff, &running))
            fail_msg("restart-only %s taken from next", config_option_name(i));
    config_free(&eff);
    config_free(&next);
    config_free(&running);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_log_format_and_secret_errors),
        cmocka_unit_test(test_from_args),
        cmocka_unit_test(test_from_args_analyzers),
        cmocka_unit_test(test_parse_analyzer),
        cmocka_unit_test(test_parse_analyzer_long_url),
        cmocka_unit_test(test_analyzer_slow_start),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_load_file_errors),
        cmocka_unit_test(test_flags_override_file),
        cmocka_unit_test(test_config_equals_form),
        cmocka_unit_test(test_ingress_options),
        cmocka_unit_test(test_protocol_options),
        cmocka_unit_test(test_allow_list_syntax),
        cmocka_unit_test(test_allow_default_deny),
        cmocka_unit_test(test_token_commands),
        cmocka_unit_test(test_connect_time_deny),
        cmocka_unit_test(test_option_types),
        cmocka_unit_test(test_derived_defaults),
        cmocka_unit_test(test_load_locations),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_option_table),
        cmocka_unit_test(test_merge_reloadable),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
