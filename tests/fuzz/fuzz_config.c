/*
 * fuzz_config.c - libFuzzer target for configuration and token parsing
 * (src/core/config.c, src/core/auth.c).
 *
 * Each input goes through, in turn:
 *   1. config_load_file(): the input is written to a per-process file under /tmp
 *      and loaded as a JSON config file over the defaults; on success, like
 *      logdistd's main(), every token is given to auth_add(), every analyzer URL to
 *      config_analyzer_allowed(), and a few levels to config_level_is_critical();
 *   2. config_parse_analyzer() with the input as a C string (up to its first NUL);
 *   3. auth_add() with the input as a token spec, then auth_check() of the input
 *      as a bearer token when it was accepted;
 *   4. config_from_args() with the input split into argv at '\n' (arguments that
 *      would make it read a file, --config, are dropped).
 *
 * libcurl (URL parser), jansson and OpenSSL are used as installed (not instrumented).
 * Build: make fuzz-build (see tests/fuzz/fuzz.mk); run: build-fuzz/fuzz_config DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/auth.h"
#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char g_path[64];

static void remove_tmp(void)
{
    if (g_path[0]) unlink(g_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(g_path, sizeof g_path, "/tmp/logdist-fuzz-config.%ld.json", (long)getpid());
    atexit(remove_tmp);
    return 0;
}

static void fail(const char *msg)
{
    fprintf(stderr, "fuzz_config: invariant violated: %s\n", msg);
    abort();
}

static void check_cfg(const config_t *cfg)
{
    /* strings the loader filled must be NUL-terminated within their arrays */
    if (!memchr(cfg->listen_host, 0, sizeof cfg->listen_host) ||
        !memchr(cfg->admin_host, 0, sizeof cfg->admin_host) ||
        !memchr(cfg->data_dir, 0, sizeof cfg->data_dir) ||
        !memchr(cfg->critical_levels, 0, sizeof cfg->critical_levels) ||
        !memchr(cfg->analyzer_allow, 0, sizeof cfg->analyzer_allow) ||
        !memchr(cfg->tls_cert, 0, sizeof cfg->tls_cert))
        fail("unterminated string option");
    for (size_t i = 0; i < cfg->analyzer_count; i++) {
        const analyzer_spec_t *a = &cfg->analyzers[i];
        if (!memchr(a->id, 0, sizeof a->id) || !memchr(a->url, 0, sizeof a->url) ||
            !memchr(a->health_url, 0, sizeof a->health_url))
            fail("unterminated analyzer string");
        if (!a->id[0] || !a->health_url[0]) fail("analyzer without id or health_url");
        if (!(a->weight >= 0)) fail("negative or NaN weight");
    }
    if (cfg->max_depth < 2 || cfg->max_depth > 1000) fail("max_depth out of its bounds");
    if (cfg->max_body_bytes < 1024 || cfg->max_body_bytes > (1ull << 30))
        fail("max_body_bytes out of its bounds");
}

static void load_file(const uint8_t *data, size_t size)
{
    FILE *f = fopen(g_path, "wb");
    if (!f) return;
    size_t w = fwrite(data, 1, size, f);
    fclose(f);
    if (w != size) return;

    config_t cfg;
    config_defaults(&cfg);
    char err[1024];
    err[0] = 0;
    if (config_load_file(&cfg, g_path, err, sizeof err) == 0) {
        check_cfg(&cfg);
        auth_t *a = auth_new();
        for (size_t i = 0; a && i < cfg.token_count; i++)
            if (auth_add(a, cfg.tokens[i], err, sizeof err) == 0 &&
                auth_check(a, "Bearer fuzz", ROLE_INGEST, NULL) == AUTH_OK)
                fail("a random token was accepted");
        auth_free(a);
        for (size_t i = 0; i < cfg.analyzer_count; i++)
            config_analyzer_allowed(&cfg, cfg.analyzers[i].url, err, sizeof err);
        static const char *const levels[] = {"ERROR", "FATAL", "", "E", ",", "ERROR,FATAL"};
        for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
            config_level_is_critical(&cfg, levels[i], strlen(levels[i]));
    } else if (!memchr(err, 0, sizeof err) || !err[0]) {
        fail("config_load_file failed without a message");
    }
    config_free(&cfg);
}

static void from_args(const char *s, size_t n)
{
    enum { MAX_ARGS = 64 };
    char *copy = malloc(n + 1);
    if (!copy) return;
    memcpy(copy, s, n);
    copy[n] = 0;
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "logdistd";
    for (char *p = copy, *nl; p && argc < MAX_ARGS; p = nl ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        if (nl) *nl = 0;
        if (strncmp(p, "--config", 8) == 0) continue; /* would read a file */
        if (strcmp(p, "--help") == 0 || strcmp(p, "-h") == 0) continue; /* pages of usage */
        argv[argc++] = p;
    }
    argv[argc] = NULL;
    config_t cfg;
    config_defaults(&cfg);
    if (config_from_args(&cfg, argc, argv) == 0) check_cfg(&cfg);
    config_free(&cfg);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;
    load_file(data, size);

    /* the input as a C string, exact-size heap copy */
    size_t n = strnlen((const char *)data, size);
    char *s = malloc(n + 1);
    if (!s) return 0;
    memcpy(s, data, n);
    s[n] = 0;

    analyzer_spec_t spec;
    char err[512];
    err[0] = 0;
    if (config_parse_analyzer(s, &spec, err, sizeof err) == 0) {
        if (!spec.id[0] || !spec.url[0] || !spec.health_url[0] || !(spec.weight >= 0))
            fail("config_parse_analyzer accepted an incomplete spec");
    } else if (!err[0]) {
        fail("config_parse_analyzer failed without a message");
    }

    auth_t *a = auth_new();
    if (a) {
        err[0] = 0;
        if (auth_add(a, s, err, sizeof err) == 0) {
            if (!auth_enabled(a)) fail("auth_add succeeded but auth is off");
            size_t tl = strlen(s) + 8;
            char *hdr = malloc(tl);
            if (hdr) {
                snprintf(hdr, tl, "Bearer %s", s);
                const char *agent = NULL;
                auth_check(a, hdr, ROLE_INGEST | ROLE_ADMIN | ROLE_READ, &agent);
                free(hdr);
            }
        } else if (!err[0]) {
            fail("auth_add failed without a message");
        }
        auth_free(a);
    }
    free(s);

    from_args((const char *)data, size);
    return 0;
}
