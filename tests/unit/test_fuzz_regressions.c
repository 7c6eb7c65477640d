/*
 * test_fuzz_regressions.c - replays the fuzzing inputs kept in the repository through
 * the scanner and the gzip ingest path, with plain gcc (no libFuzzer), so that every
 * `ctest` run re-checks them:
 *
 *   tests/fuzz/regressions/<target>/   inputs that once crashed or broke an invariant
 *   tests/fuzz/corpus/<target>/        the seed corpora
 *
 * Each target's own entry point replays its inputs in unit/fuzz_replay_<target>
 * (tests/fuzz/replay.cmake); this test adds the scanner's view of every file, whatever
 * its target, and checks the layout those replays rely on:
 *   - both trees exist, and each holds one directory per libFuzzer target
 *     (tests/fuzz/<target>.c), no more and no fewer (an empty regressions directory
 *     keeps a .gitkeep), so no stored input escapes its target's replay;
 *   - the corpus is not empty.
 * A missing tree or directory fails the test: a replay that finds nothing must not pass.
 *
 * Every file (whatever its target) goes through:
 *   1. scan_body() of the whole file, JSON and NDJSON, default limits;
 *   2. scan_body() as fuzz_scan reads it: byte 0 picks the format and small limits,
 *      the rest is the body; a body accepted with those limits must be accepted with
 *      the same records under the defaults;
 *   3. gunzip_body() as fuzz_gunzip_scan does it (1 MiB and 64-byte limits must agree;
 *      a file without the gzip magic is first gzipped here as two members and must
 *      decode to itself), then scan_body() of the output in both formats.
 * Each scan result is checked against the contract in tests/fuzz/scan_invariants.h
 * (records inside the body, {...}, ordered, not overlapping; fields inside their
 * record; consistent error reporting). Inputs are exact-size heap copies, so an
 * ASan build (make test-asan) also catches any out-of-bounds read.
 *
 * The directories are found from this file's path (__FILE__); LOGDIST_SOURCE_DIR
 * overrides the repository root.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include <cmocka.h>

#include "../fuzz/scan_invariants.h"
#include "ingest/gunzip.h"
#include "record/scan.h"

#define MAX_OUT (1u << 20)
#define SMALL_OUT 64u

typedef struct {
    size_t files;
    size_t scans;
    size_t gzip_ok;
} stats_t;

/* Repository root: LOGDIST_SOURCE_DIR, else __FILE__ minus "tests/unit/<this file>". */
static void repo_root(char *out, size_t n)
{
    const char *env = getenv("LOGDIST_SOURCE_DIR");
    if (env && *env) {
        snprintf(out, n, "%s", env);
        return;
    }
    const char *f = __FILE__;
    const char *t = strstr(f, "tests/unit/");
    size_t len = t ? (size_t)(t - f) : 0;
    if (len == 0) {
        snprintf(out, n, ".");
        return;
    }
    if (len > 1 && f[len - 1] == '/') len--; /* drop the trailing slash */
    snprintf(out, n, "%.*s", (int)len, f);
}

static void check_scan(const char *path, const char *what, const char *body, size_t len,
                       scan_format_t fmt, const scan_limits_t *lim, scan_result_t *res,
                       stats_t *st)
{
    /* exact-size copy: an over-read shows under ASan */
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len) memcpy(copy, body, len);
    int rc = scan_body(len ? copy : NULL, len, fmt, lim, res);
    const char *msg = scan_check(copy, len, fmt, lim, rc, res);
    if (msg) fail_msg("%s: %s (%s): %s", path, what, fmt == SCAN_FORMAT_NDJSON ? "ndjson" : "json", msg);
    st->scans++;
    free(copy);
}

/* fuzz_scan's reading of an input: byte 0 = format + small limits, then the body. */
static void replay_fuzz_scan(const char *path, const unsigned char *data, size_t size,
                             scan_result_t *res, stats_t *st)
{
    static const uint32_t depths[8] = {0, 1, 2, 3, 4, 6, 10, 64};
    static const uint32_t records[4] = {0, 1, 2, 5};
    static const uint32_t rbytes[4] = {0, 1, 16, 64};
    if (size < 1) return;
    uint8_t sel = data[0];
    scan_format_t fmt = (sel & 1) ? SCAN_FORMAT_NDJSON : SCAN_FORMAT_JSON;
    scan_limits_t lim = {depths[(sel >> 1) & 7], records[(sel >> 4) & 3], rbytes[(sel >> 6) & 3]};
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    check_scan(path, "fuzz_scan limits", body, len, fmt, &lim, res, st);
    int rc = res->status;

    scan_result_t fresh;
    memset(&fresh, 0, sizeof fresh);
    check_scan(path, "fuzz_scan defaults", body, len, fmt, NULL, &fresh, st);
    if (rc == SCAN_OK) {
        if (fresh.status != SCAN_OK)
            fail_msg("%s: accepted with small limits, rejected with defaults", path);
        const char *msg = scan_same(res, &fresh);
        if (msg) fail_msg("%s: small limits vs defaults: %s", path, msg);
    }
    scan_result_free(&fresh);
}

/* Append in[0..len) to *buf as one gzip member. */
static void gz_member(const unsigned char *in, size_t len, int level, unsigned char **buf,
                      size_t *blen)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t bound = deflateBound(&zs, (uLong)len) + 32;
    unsigned char *n = realloc(*buf, *blen + bound);
    assert_non_null(n);
    *buf = n;
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = n + *blen;
    zs.avail_out = (uInt)bound;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *blen += bound - zs.avail_out;
    deflateEnd(&zs);
}

static void check_gunzip_result(const char *path, int rc, size_t in_len, size_t max_out,
                                const char *out, size_t out_len, size_t err_off)
{
    if (rc == GUNZIP_OK) {
        if (!out || out_len > max_out || err_off != 0)
            fail_msg("%s: gunzip OK with out=%p out_len=%zu (max %zu) err_offset=%zu", path,
                     (const void *)out, out_len, max_out, err_off);
    } else {
        if (rc != GUNZIP_ERR_DATA && rc != GUNZIP_ERR_TOO_BIG && rc != GUNZIP_ERR_NOMEM)
            fail_msg("%s: unknown gunzip status %d", path, rc);
        if (out || out_len || err_off > in_len)
            fail_msg("%s: gunzip error %d with out=%p out_len=%zu err_offset=%zu (input %zu)",
                     path, rc, (const void *)out, out_len, err_off, in_len);
    }
}

/* fuzz_gunzip_scan's reading of an input. */
static void replay_gunzip(const char *path, const unsigned char *data, size_t size,
                          scan_result_t *res, stats_t *st)
{
    const unsigned char *plain = NULL;
    size_t plain_len = 0;
    unsigned char *made = NULL;
    if (size < 2 || data[0] != 0x1f || data[1] != 0x8b) {
        size_t made_len = 0;
        size_t cut = size ? data[0] % (size + 1) : 0;
        int level = size ? data[size - 1] % 10 : 6;
        gz_member(data, cut, level, &made, &made_len);
        gz_member(data + cut, size - cut, level, &made, &made_len);
        plain = data;
        plain_len = size;
        data = made;
        size = made_len;
    }
    char *in = malloc(size ? size : 1);
    assert_non_null(in);
    if (size) memcpy(in, data, size);

    char *out = NULL, *small = NULL;
    size_t out_len = 0, err_off = 0, small_len = 0, small_err = 0;
    int rc = gunzip_body(in, size, MAX_OUT, &out, &out_len, &err_off);
    check_gunzip_result(path, rc, size, MAX_OUT, out, out_len, err_off);
    if (plain && plain_len <= MAX_OUT &&
        (rc != GUNZIP_OK || out_len != plain_len || (plain_len && memcmp(out, plain, plain_len))))
        fail_msg("%s: a stream made by zlib does not decode to its input (rc %d)", path, rc);
    int rc2 = gunzip_body(in, size, SMALL_OUT, &small, &small_len, &small_err);
    check_gunzip_result(path, rc2, size, SMALL_OUT, small, small_len, small_err);
    if (rc == GUNZIP_OK && out_len <= SMALL_OUT &&
        (rc2 != GUNZIP_OK || small_len != out_len || (out_len && memcmp(small, out, out_len))))
        fail_msg("%s: a small output decodes differently under a 64-byte limit", path);
    if (((rc == GUNZIP_OK && out_len > SMALL_OUT) || rc == GUNZIP_ERR_TOO_BIG) &&
        rc2 != GUNZIP_ERR_TOO_BIG)
        fail_msg("%s: output over 64 bytes is not TOO_BIG under a 64-byte limit (%d)", path, rc2);
    free(small);

    if (rc == GUNZIP_OK) {
        static const scan_limits_t small_lim = {3, 2, 64};
        st->gzip_ok++;
        check_scan(path, "gunzip", out, out_len, SCAN_FORMAT_JSON, NULL, res, st);
        check_scan(path, "gunzip", out, out_len, SCAN_FORMAT_NDJSON, NULL, res, st);
        check_scan(path, "gunzip small limits", out, out_len, SCAN_FORMAT_JSON, &small_lim, res,
                   st);
    }
    free(out);
    free(in);
    free(made);
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0) break;
        n += r;
    }
    fclose(f);
    *len = n;
    return buf;
}

static void replay_file(const char *path, scan_result_t *res, stats_t *st)
{
    size_t len = 0;
    unsigned char *data = read_file(path, &len);
    if (!data) fail_msg("cannot read %s", path);
    check_scan(path, "whole file", (const char *)data, len, SCAN_FORMAT_JSON, NULL, res, st);
    check_scan(path, "whole file", (const char *)data, len, SCAN_FORMAT_NDJSON, NULL, res, st);
    replay_fuzz_scan(path, data, len, res, st);
    replay_gunzip(path, data, len, res, st);
    free(data);
    st->files++;
}

/* Every regular file under dir, recursively. A directory that cannot be opened fails. */
static void replay_tree(const char *dir, scan_result_t *res, stats_t *st)
{
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s (set LOGDIST_SOURCE_DIR to the repo root)", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue; /* ., .., hidden files (.gitkeep) */
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb)) fail_msg("cannot stat %s", path);
        if (S_ISDIR(sb.st_mode))
            replay_tree(path, res, st);
        else if (S_ISREG(sb.st_mode))
            replay_file(path, res, st);
    }
    closedir(d);
}

static void replay_dir(const char *sub, stats_t *st)
{
    char root[2048], dir[2300];
    repo_root(root, sizeof root);
    snprintf(dir, sizeof dir, "%s/%s", root, sub);
    scan_result_t res; /* one result for the whole tree, reused like ingest's */
    memset(&res, 0, sizeof res);
    replay_tree(dir, &res, st);
    scan_result_free(&res);
    print_message("%s: %zu files, %zu scans, %zu gzip streams decoded\n", dir, st->files,
                  st->scans, st->gzip_ok);
}

/* Is tests/fuzz/<name>.c a libFuzzer target (fuzz_*.c)? */
static bool is_target(const char *root, const char *name)
{
    char path[2400];
    struct stat sb;
    snprintf(path, sizeof path, "%s/tests/fuzz/%s.c", root, name);
    return !strncmp(name, "fuzz_", 5) && stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* `sub` holds exactly one directory per target: every entry is a target's directory,
 * and every target (tests/fuzz/fuzz_*.c) has one. Returns the number of targets. */
static size_t check_layout(const char *sub)
{
    char root[2048], dir[2300], fuzzdir[2300];
    repo_root(root, sizeof root);
    snprintf(dir, sizeof dir, "%s/%s", root, sub);
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s (set LOGDIST_SOURCE_DIR to the repo root)", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (!is_target(root, e->d_name))
            fail_msg("%s/%s: not the directory of a libFuzzer target (tests/fuzz/%s.c)", dir,
                     e->d_name, e->d_name);
    }
    closedir(d);
    snprintf(fuzzdir, sizeof fuzzdir, "%s/tests/fuzz", root);
    d = opendir(fuzzdir);
    if (!d) fail_msg("cannot open %s", fuzzdir);
    size_t targets = 0;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "fuzz_", 5) || n < 3 || strcmp(e->d_name + n - 2, ".c")) continue;
        char path[4700];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%.*s", dir, (int)(n - 2), e->d_name);
        if (stat(path, &sb) || !S_ISDIR(sb.st_mode))
            fail_msg("target %s has no directory %s (add one, with a .gitkeep if empty)",
                     e->d_name, path);
        targets++;
    }
    closedir(d);
    return targets;
}

static void test_layout(void **state)
{
    (void)state;
    size_t a = check_layout("tests/fuzz/regressions");
    size_t b = check_layout("tests/fuzz/corpus");
    assert_true(a > 0);
    assert_int_equal(a, b);
}

static void test_regressions(void **state)
{
    (void)state;
    stats_t st = {0, 0, 0};
    replay_dir("tests/fuzz/regressions", &st); /* fails if missing; may hold no input yet */
}

static void test_corpus(void **state)
{
    (void)state;
    stats_t st = {0, 0, 0};
    replay_dir("tests/fuzz/corpus", &st);
    /* the seeds must be found, or this test checks nothing */
    if (st.files == 0)
        fail_msg("no files under tests/fuzz/corpus (set LOGDIST_SOURCE_DIR to the repo root)");
    assert_true(st.gzip_ok > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_regressions),
        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
