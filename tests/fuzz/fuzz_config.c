/*
 * fuzz_config.c - libFuzzer target for configuration and token parsing
 * (src/core/config.c, src/core/auth.c).
 *
 * Each input goes through, in turn:
 *   1. config_load_file(): the input is written to a per-process file under /tmp
 *      and loaded as a JSON config file over the defaults; on success, like
 *      logdistd's main(), every token is given to auth_add(), every analyzer URL to
 *      config_analyzer_allowed(), and a few levels to config_level_in_list();
 *   2. config_parse_analyzer() with the input as a C string (up to its first NUL);
 *   3. auth_add() with the input as a token spec, then auth_check() of the input
 *      as a bearer token when it was accepted;
 *   4. config_from_args() with the input split into argv at '\n' (arguments that
 *      would make it read a file, --config and --check-config, are dropped);
 *   5. config_load() (defaults + the input as the --config file + a few flags picked
 *      by a hash of the input + config_finish_derived + config_validate).
 *
 * Invariants of 1 and 5: a file that config_load_file() refuses makes config_load()
 * fail with the same message, which starts with "PATH:LINE:COLUMN: "; when the file
 * is a valid JSON object (the error is in one of its members), LINE:COLUMN points
 * inside the file at a '"' (the member's key, or a string element) or at the first
 * byte of an array element. For every accepted config c and every row i of the
 * option table: config_option_same(i, c, c); config_option_same(i, c, copy) for
 * copy = config_copy(c); and config_option_copy() of every row from c into a
 * defaults config makes that row the same (and all rows at the end).
 *
 * libcurl (URL parser), jansson and OpenSSL are used as installed (not instrumented).
 * Build: make fuzz-build (see tests/fuzz/fuzz.mk); run: build-fuzz/fuzz_config DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

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

/* The rows of the option table against a config, its copy, and a defaults config
 * that every row is copied into. */
static void check_same(const config_t *cfg)
{
    size_t n = config_option_count();
    config_t copy, d;
    for (size_t i = 0; i < n; i++)
        if (!config_option_same(i, cfg, cfg)) fail("config_option_same(c, c) is false");
    if (config_copy(&copy, cfg)) return; /* ENOMEM */
    for (size_t i = 0; i < n; i++)
        if (!config_option_same(i, cfg, &copy) || !config_option_same(i, &copy, cfg))
            fail("config_option_same(c, config_copy(c)) is false");
    config_free(&copy);
    config_defaults(&d);
    for (size_t i = 0; i < n; i++) {
        if (config_option_copy(i, &d, cfg)) break; /* ENOMEM */
        if (!config_option_same(i, &d, cfg)) fail("a row copied by config_option_copy differs");
        if (i + 1 == n)
            for (size_t k = 0; k < n; k++)
                if (!config_option_same(k, &d, cfg)) fail("a copied row changed a later copy");
    }
    config_free(&d);
}

/* A file error: "PATH:LINE:COLUMN: ..." where, for a member of a valid JSON object,
 * LINE:COLUMN is inside the file on a '"' or the first byte of an array element. */
static void check_file_error(const char *err, const uint8_t *data, size_t size)
{
    size_t pl = strlen(g_path);
    if (strncmp(err, g_path, pl) || err[pl] != ':') fail("a file error without its path");
    char *end;
    long line = strtol(err + pl + 1, &end, 10);
    long col = *end == ':' ? strtol(end + 1, &end, 10) : -1;
    if (strncmp(end, ": ", 2)) fail("a file error without LINE:COLUMN: ");
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    bool member = json_is_object(root);
    json_decref(root);
    if (!member) return; /* a syntax error: jansson's position */
    if (line < 1 || col < 1) fail("a member error located outside the file (line/column 0)");
    size_t off = 0;
    for (long l = 1; l < line && off < size; off++)
        if (data[off] == '\n') l++;
    off += (size_t)col - 1;
    for (size_t k = off - ((size_t)col - 1); k < off && k < size; k++)
        if (data[k] == '\n') fail("a member error's column runs past its line");
    if (off >= size) fail("a member error located past the end of the file");
    if (!strchr("\"{[-0123456789tfn", data[off]) || !data[off])
        fail("a member error located neither at a '\"' nor at a value");
}

static int load_file(const uint8_t *data, size_t size, char *err, size_t errlen)
{
    FILE *f = fopen(g_path, "wb");
    if (!f) return 1;
    size_t w = fwrite(data, 1, size, f);
    fclose(f);
    if (w != size) return 1;

    config_t cfg;
    config_defaults(&cfg);
    err[0] = 0;
    int rc = config_load_file(&cfg, g_path, err, errlen);
    if (rc == 0) {
        check_cfg(&cfg);
        check_same(&cfg);
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
            config_level_in_list(cfg.critical_levels, levels[i], strlen(levels[i]));
    } else if (!memchr(err, 0, errlen) || !err[0]) {
        fail("config_load_file failed without a message");
    } else {
        check_file_error(err, data, size);
    }
    config_free(&cfg);
    return rc ? -1 : 0;
}

/* config_load() of the file written by load_file() plus flags picked by h.
 * file_rc/file_err: what config_load_file() said about the same file. */
static void load_all(uint32_t h, int file_rc, const char *file_err)
{
    static const char *const flags[][2] = {
        {"--insecure", NULL},
        {"--listen", "127.0.0.1:18080"},
        {"--critical-levels", "ERROR,FATAL"},
        {"--analyzer", "id=f1,url=http://127.0.0.1:9/in,weight=0.5"},
        {"--batch-linger-ms", "250ms"},
        {"--idle-timeout-s=2m", NULL},
        {"--log-format", "json"},
        {"--max-body-bytes", "2048"},
    };
    char *argv[3 + 2 * 8 + 1];
    int argc = 0;
    argv[argc++] = "logdistd";
    argv[argc++] = "--config";
    argv[argc++] = g_path;
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        if (!(h >> i & 1)) continue;
        argv[argc++] = (char *)flags[i][0];
        if (flags[i][1]) argv[argc++] = (char *)flags[i][1];
    }
    argv[argc] = NULL;
    config_t cfg;
    char err[1024] = "";
    if (config_load(&cfg, argc, argv, err, sizeof err) == 0) {
        if (file_rc) fail("config_load accepted a file config_load_file refused");
        check_cfg(&cfg);
        if (cfg.max_inflight_body_bytes && cfg.max_inflight_body_bytes < cfg.max_body_bytes)
            fail("max_inflight_body_bytes below max_body_bytes after config_load");
        if ((h & 1) && !cfg.insecure) fail("--insecure lost");
        check_same(&cfg);
        config_free(&cfg);
        return;
    }
    if (!memchr(err, 0, sizeof err) || !err[0]) fail("config_load failed without a message");
    if (file_rc > 0) return; /* the file could not be written */
    if (file_rc && strcmp(err, file_err)) fail("config_load and config_load_file disagree");
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
        if (strncmp(p, "--config", 8) == 0 || strncmp(p, "--check-config", 14) == 0)
            continue; /* would read a file */
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
    char ferr[1024];
    int frc = load_file(data, size, ferr, sizeof ferr);
    uint32_t h = 2166136261u; /* FNV-1a of the input picks the flags */
    for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 16777619u;
    load_all(h, frc, ferr);

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
