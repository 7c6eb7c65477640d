/*
 * scan_bench.c - throughput of the ingest JSON scanner (src/record/scan.c) vs jansson.
 *
 * Standalone: builds its inputs in memory (a fixed 100-record packet of ~206-byte records,
 * the same records as NDJSON, 64 varied packets, and 64 packets with non-ASCII text),
 * checks the scanner's record offsets against the generator's ground truth, then times
 * scan_body() and jansson's json_loadb() + DOM walk on the same inputs in the same run.
 * Time is cut into 0.2 s slices interleaved round-robin over all cases, so machine drift
 * hits every case alike. Rates are per second of this thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID), so time spent descheduled on a busy machine does not count;
 * the cpu/wall column shows how much of the wall time the thread actually ran.
 *
 * Build (from the repo root):
 *   gcc -O2 -std=gnu11 -Isrc src/record/scan.c bench/scan_bench.c -o /tmp/scan_bench -ljansson
 * Run: /tmp/scan_bench [--secs S] [--cpu N] [--only substring]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "record/scan.h"

#include <jansson.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PACKETS 64
#define MAX_RECS 256

/* One input: a set of bodies processed in turn, with ground-truth record offsets. */
typedef struct {
    char *body;
    size_t len;
    size_t nrec;
    uint32_t off[MAX_RECS], rlen[MAX_RECS];
} packet_t;

typedef struct {
    const char *name;
    scan_format_t fmt;
    packet_t *pk;
    int npk;
    int use_jansson;
    /* results */
    double secs; /* thread CPU time */
    double wall;
    double bytes;
    double packets;
    double records;
} bench_case_t;

/* Growable string buffer. */
typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

static void buf_add(buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) {
            perror("realloc");
            exit(1);
        }
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void buf_fmt(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_fmt(buf_t *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_add(b, tmp, (size_t)n);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)((rng_state >> 11) % n);
}

/* Appends the fixed-schema record number i to b. */
static void fixed_record(buf_t *b, int i)
{
    buf_fmt(b,
            "{\"id\":\"m-%06d\",\"timestamp\":\"2026-11-27T15:00:00.123Z\",\"level\":\"INFO\","
            "\"source\":\"checkout-api\",\"type\":\"app\",\"message\":\"user %d completed checkout "
            "in %d ms\",\"metadata\":{\"host\":\"web-3\",\"region\":\"eu-west-1\"}}",
            i + 1, 100 + i % 900, 10 + i % 90);
}

/* Appends a varied record (random level/source/type/message/metadata) to b. With utf8,
 * messages contain 2-, 3- and 4-byte UTF-8 characters. */
static void varied_record(buf_t *b, int i, int utf8)
{
    static const char *levels[] = {"DEBUG", "INFO", "INFO", "INFO", "WARN", "ERROR"};
    static const char *sources[] = {"checkout-api", "auth",           "payments-worker",
                                    "web",          "inventory-sync", "search-frontend"};
    static const char *types[] = {"app", "access", "audit", "metric"};
    static const char *words[] = {"user",   "completed", "checkout", "in",      "ms",    "request",
                                  "failed", "retry",     "cache",    "miss",    "order", "shipped",
                                  "token",  "refreshed", "timeout",  "upstream"};
    static const char *uwords[] = {"caf\xc3\xa9",
                                   "\xe2\x82\xac"
                                   "42",
                                   "na\xc3\xafve",
                                   "\xe6\x97\xa5\xe6\x9c\xac",
                                   "\xf0\x9f\x98\x80",
                                   "stra\xc3\x9f"
                                   "e"};
    static const char *hosts[] = {"web-1", "web-2", "web-3", "api-7", "worker-12"};
    static const char *regions[] = {"eu-west-1", "us-east-1", "ap-south-2"};
    buf_fmt(b, "{\"id\":\"m-%06d\",\"timestamp\":\"2026-11-27T15:%02u:%02u.%03uZ\",", i + 1,
            rnd(60), rnd(60), rnd(1000));
    buf_fmt(b, "\"level\":\"%s\",\"source\":\"%s\",\"type\":\"%s\",\"message\":\"", levels[rnd(6)],
            sources[rnd(6)], types[rnd(4)]);
    int nw = 3 + (int)rnd(14);
    for (int w = 0; w < nw; w++) {
        if (w) buf_add(b, " ", 1);
        const char *s = utf8 && rnd(3) == 0 ? uwords[rnd(6)] : words[rnd(16)];
        buf_add(b, s, strlen(s));
        if (rnd(5) == 0) buf_fmt(b, " %u", rnd(100000));
    }
    buf_add(b, "\",\"metadata\":{", 14);
    const char *host = hosts[rnd(5)], *region = regions[rnd(3)];
    int pid = rnd(2) == 0;
    switch (rnd(3)) {
    case 0:
        buf_fmt(b, "\"host\":\"%s\",\"region\":\"%s\"", host, region);
        break;
    case 1:
        buf_fmt(b, "\"region\":\"%s\",\"host\":\"%s\"", region, host);
        break;
    default:
        buf_fmt(b, "\"host\":\"%s\",\"zone\":\"%s-a\",\"region\":\"%s\"", host, region, region);
        break;
    }
    if (pid) buf_fmt(b, ",\"pid\":%u", 100 + rnd(60000));
    buf_add(b, "}", 1);
    if (rnd(4) == 0) buf_fmt(b, ",\"user_id\":%u", rnd(10000000));
    buf_add(b, "}", 1);
}

/* Builds a packet (or NDJSON body) of n records from gen() into pk, recording offsets. */
static void build(packet_t *pk, scan_format_t fmt, int n, int kind)
{
    buf_t b = {0};
    if (fmt == SCAN_FORMAT_JSON)
        buf_add(&b, "{\"packet_id\":\"p1\",\"agent_id\":\"a1\",\"messages\":[", 46);
    pk->nrec = (size_t)n;
    for (int i = 0; i < n; i++) {
        if (i && fmt == SCAN_FORMAT_JSON) buf_add(&b, ",", 1);
        pk->off[i] = (uint32_t)b.len;
        if (kind == 0)
            fixed_record(&b, i);
        else
            varied_record(&b, i, kind == 2);
        pk->rlen[i] = (uint32_t)(b.len - pk->off[i]);
        if (fmt == SCAN_FORMAT_NDJSON) buf_add(&b, "\n", 1);
    }
    if (fmt == SCAN_FORMAT_JSON) buf_add(&b, "]}", 2);
    pk->body = b.p;
    pk->len = b.len;
}

static double clock_secs(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now(void)
{
    return clock_secs(CLOCK_MONOTONIC);
}

static double cpu_now(void)
{
    return clock_secs(CLOCK_THREAD_CPUTIME_ID);
}

static volatile uint32_t sink;

/* Scanner: one call per body, then touch every record like a forwarder would. */
static size_t run_scan(const packet_t *pk, scan_format_t fmt, scan_result_t *res)
{
    if (scan_body(pk->body, pk->len, fmt, NULL, res) != SCAN_OK) {
        fprintf(stderr, "scan failed: %s at %zu\n", res->err_msg, res->err_offset);
        exit(1);
    }
    uint32_t acc = 0;
    for (size_t i = 0; i < res->count; i++) {
        const scan_record_t *r = &res->records[i];
        acc += r->rec.off + r->rec.len + (uint8_t)pk->body[r->level.off] +
               (uint8_t)pk->body[r->source.off];
    }
    sink += acc;
    return res->count;
}

/* jansson: json_loadb + fetch level and source of every record + free (per line for NDJSON). */
static size_t run_jansson(const packet_t *pk, scan_format_t fmt)
{
    json_error_t err;
    uint32_t acc = 0;
    size_t n = 0;
    if (fmt == SCAN_FORMAT_JSON) {
        json_t *root = json_loadb(pk->body, pk->len, 0, &err);
        json_t *msgs = root ? json_object_get(root, "messages") : NULL;
        if (!json_is_array(msgs)) {
            fprintf(stderr, "jansson failed: %s\n", err.text);
            exit(1);
        }
        n = json_array_size(msgs);
        for (size_t i = 0; i < n; i++) {
            json_t *rec = json_array_get(msgs, i);
            acc += (uint8_t)json_string_value(json_object_get(rec, "level"))[0] +
                   (uint8_t)json_string_value(json_object_get(rec, "source"))[0];
        }
        json_decref(root);
    } else {
        const char *p = pk->body, *end = pk->body + pk->len;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *le = nl ? nl : end;
            json_t *rec = json_loadb(p, (size_t)(le - p), 0, &err);
            if (!rec) {
                fprintf(stderr, "jansson failed: %s\n", err.text);
                exit(1);
            }
            acc += (uint8_t)json_string_value(json_object_get(rec, "level"))[0];
            json_decref(rec);
            n++;
            p = le + 1;
        }
    }
    sink += acc;
    return n;
}

/* Checks the scanner's output against the generator's ground truth. */
static void verify(const bench_case_t *bc, scan_result_t *res)
{
    for (int k = 0; k < bc->npk; k++) {
        const packet_t *pk = &bc->pk[k];
        if (scan_body(pk->body, pk->len, bc->fmt, NULL, res) != SCAN_OK || res->count != pk->nrec) {
            fprintf(stderr, "%s: verify failed on packet %d\n", bc->name, k);
            exit(1);
        }
        for (size_t i = 0; i < pk->nrec; i++) {
            const scan_record_t *r = &res->records[i];
            if (r->rec.off != pk->off[i] || r->rec.len != pk->rlen[i] || r->level.len == 0 ||
                r->source.len == 0 || r->id.len != 8) {
                fprintf(stderr, "%s: verify failed on packet %d record %zu\n", bc->name, k, i);
                exit(1);
            }
        }
    }
}

int main(int argc, char **argv)
{
    double secs = 2.0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--secs") && i + 1 < argc) {
            secs = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            only = argv[++i];
        } else if (!strcmp(argv[i], "--cpu") && i + 1 < argc) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(atoi(argv[++i]), &set);
            if (sched_setaffinity(0, sizeof set, &set) != 0) perror("sched_setaffinity");
        } else {
            fprintf(stderr, "usage: %s [--secs S] [--cpu N] [--only substring]\n", argv[0]);
            return 2;
        }
    }

    static packet_t fixed, fixed_nd, varied[MAX_PACKETS], varied_nd[MAX_PACKETS], utf8[MAX_PACKETS];
    build(&fixed, SCAN_FORMAT_JSON, 100, 0);
    build(&fixed_nd, SCAN_FORMAT_NDJSON, 100, 0);
    for (int k = 0; k < MAX_PACKETS; k++) {
        uint64_t save = rng_state;
        build(&varied[k], SCAN_FORMAT_JSON, 100, 1);
        rng_state = save; /* same records as NDJSON */
        build(&varied_nd[k], SCAN_FORMAT_NDJSON, 100, 1);
    }
    for (int k = 0; k < MAX_PACKETS; k++)
        build(&utf8[k], SCAN_FORMAT_JSON, 100, 2);

#define CASE(name_, fmt_, pk_, npk_, jansson_)                                                     \
    {.name = name_, .fmt = fmt_, .pk = pk_, .npk = npk_, .use_jansson = jansson_}
    bench_case_t cases[] = {
        CASE("fixed packet     scan", SCAN_FORMAT_JSON, &fixed, 1, 0),
        CASE("fixed packet     jansson", SCAN_FORMAT_JSON, &fixed, 1, 1),
        CASE("fixed ndjson     scan", SCAN_FORMAT_NDJSON, &fixed_nd, 1, 0),
        CASE("fixed ndjson     jansson", SCAN_FORMAT_NDJSON, &fixed_nd, 1, 1),
        CASE("varied packets   scan", SCAN_FORMAT_JSON, varied, MAX_PACKETS, 0),
        CASE("varied packets   jansson", SCAN_FORMAT_JSON, varied, MAX_PACKETS, 1),
        CASE("varied ndjson    scan", SCAN_FORMAT_NDJSON, varied_nd, MAX_PACKETS, 0),
        CASE("varied ndjson    jansson", SCAN_FORMAT_NDJSON, varied_nd, MAX_PACKETS, 1),
        CASE("utf8 packets     scan", SCAN_FORMAT_JSON, utf8, MAX_PACKETS, 0),
        CASE("utf8 packets     jansson", SCAN_FORMAT_JSON, utf8, MAX_PACKETS, 1),
    };
#undef CASE
    const int ncases = (int)(sizeof cases / sizeof cases[0]);

    scan_result_t res = {0};
    for (int i = 0; i < ncases; i++)
        if (!cases[i].use_jansson) verify(&cases[i], &res);

    size_t total = 0;
    for (int k = 0; k < MAX_PACKETS; k++)
        total += varied[k].len;
    printf("# fixed packet %zu B (100 records, %u B each on average), fixed ndjson %zu B\n",
           fixed.len, (unsigned)((fixed.len - 48) / 100), fixed_nd.len);
    printf("# varied: 64 packets, %zu B in total; utf8: 64 packets with non-ASCII messages\n",
           total);
    printf("# %.1f s per case in 0.2 s slices, interleaved; verify: offsets exact\n", secs);

    const double slice = 0.2;
    int nslices = (int)(secs / slice + 0.5);
    if (nslices < 1) nslices = 1;
    for (int s = -1; s < nslices; s++) { /* s == -1: warm-up, not counted */
        for (int j = 0; j < ncases; j++) {
            bench_case_t *bc = &cases[(j + (s < 0 ? 0 : s)) % ncases];
            if (only && !strstr(bc->name, only)) continue;
            double t0 = now(), t1 = t0, c0 = cpu_now(), bytes = 0, pk = 0, recs = 0;
            int k = 0;
            double stop = t0 + (s < 0 ? 0.05 : slice);
            while (t1 < stop) {
                for (int it = 0; it < 16; it++) {
                    const packet_t *p = &bc->pk[k];
                    recs += (double)(bc->use_jansson ? run_jansson(p, bc->fmt)
                                                     : run_scan(p, bc->fmt, &res));
                    bytes += (double)p->len;
                    pk += 1;
                    if (++k == bc->npk) k = 0;
                }
                t1 = now();
            }
            if (s >= 0) {
                bc->secs += cpu_now() - c0;
                bc->wall += t1 - t0;
                bc->bytes += bytes;
                bc->packets += pk;
                bc->records += recs;
            }
        }
    }

    printf("%-26s %8s %11s %11s %10s %8s\n", "case", "MB/s", "packets/s", "records/s", "vs jansson",
           "cpu/wall");
    for (int i = 0; i < ncases; i++) {
        bench_case_t *bc = &cases[i];
        if (bc->secs == 0) continue;
        double mbs = bc->bytes / bc->secs / 1e6;
        char ratio[32] = "";
        if (!bc->use_jansson && i + 1 < ncases && cases[i + 1].secs > 0)
            snprintf(ratio, sizeof ratio, "%.1fx",
                     mbs / (cases[i + 1].bytes / cases[i + 1].secs / 1e6));
        printf("%-26s %8.0f %11.0f %11.0f %10s %8.3f\n", bc->name, mbs, bc->packets / bc->secs,
               bc->records / bc->secs, ratio, bc->secs / bc->wall);
    }
    scan_result_free(&res);
    return 0;
}
