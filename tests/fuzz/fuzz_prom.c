/*
 * fuzz_prom.c - libFuzzer target for the Prometheus text renderer (src/admin/prom.c):
 * prom_render() from plain snapshot data built from the input.
 *
 * Input (read in order; a short input reads as zeros):
 *   byte 0: bit 0 counters (metrics_t), 1 analyzers, 2 ingest duration histogram,
 *           3 batch records histogram, 4 process figures, 5 version from the input,
 *           6 panic;
 *   counters: a count k, then k (word index, u64) pairs set into metrics_t's counters;
 *   analyzers: a count (0..8), then per analyzer an id of 0..64 bytes (any bytes but
 *           NUL: quotes, backslashes, newlines; an id already taken is dropped), health,
 *           breaker state (closed/open/half_open/NULL/other), five doubles (weight,
 *           effective weight, target and actual shares: NaN, +-Inf, -0, raw bits,
 *           ...), seven u64 counters, the in-flight count and up to 15 observations
 *           of its delivery duration histogram;
 *   the two histograms' observations, the process figures and the version.
 *
 * The output must be valid exposition text 0.0.4, checked line by line:
 *   - every line is "# HELP name text", "# TYPE name counter|gauge|histogram" (right
 *     after its HELP) or "name{labels} value"; names and label names are valid; HELP
 *     escapes only \\ and \n, label values only \\ \" \n; values are NaN, +Inf,
 *     -Inf or a number that strtod reads completely; the text ends with a newline;
 *   - a family is described once, and every sample belongs to the last family that
 *     had a TYPE line (histograms: its _bucket, _sum and _count); no series twice;
 *   - analyzer label values unescape to the ids given, every per-analyzer family
 *     holds each analyzer, and its values are the snapshot's (doubles read back
 *     exactly, NaN as NaN); breaker_state is 1 on the analyzer's state only;
 *     build_info's version label is the version given;
 *   - histograms: le of bucket i is bounds[i] / scale, buckets cumulative and equal
 *     to the observations <= the bound, the last bucket le="+Inf", then _sum, then
 *     _count equal to the +Inf bucket and to the number of observations.
 *
 * Build: make fuzz-build (tests/fuzz/fuzz.mk); run: build-fuzz/fuzz_prom DIR.
 * Replayed by ctest over corpus/ and regressions/fuzz_prom.
 */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/prom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ANALYZERS 8
#define MAX_OBS 15

static void fail(const char *msg, const char *line)
{
    fprintf(stderr, "fuzz_prom: invariant violated: %s\n", msg);
    if (line) fprintf(stderr, "  line: %s\n", line);
    abort();
}

/* ------------------------------------------------------------------ input */

typedef struct {
    const uint8_t *p;
    size_t n;
} rd_t;

static uint8_t rd_u8(rd_t *r)
{
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}

static uint64_t rd_u64(rd_t *r, size_t bytes)
{
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++) v = v << 8 | rd_u8(r);
    return v;
}

static double rd_double(rd_t *r)
{
    uint64_t bits;
    switch (rd_u8(r) % 9) {
    case 0: return NAN;
    case 1: return INFINITY;
    case 2: return -INFINITY;
    case 3: return -0.0;
    case 4: return (double)rd_u64(r, 2) / 1000.0;
    case 5: return -(double)rd_u64(r, 4) / 7.0;
    case 6: return 1e-310 * (double)rd_u8(r); /* subnormals */
    case 7: return (double)rd_u64(r, 8);
    default:
        bits = rd_u64(r, 8);
        double d;
        memcpy(&d, &bits, sizeof d);
        return d;
    }
}

/* A NUL-free string of up to max bytes into out[max + 1]. */
static void rd_text(rd_t *r, char *out, size_t max)
{
    size_t len = rd_u8(r) % (max + 1), k = 0;
    for (size_t i = 0; i < len && r->n; i++) {
        uint8_t c = rd_u8(r);
        if (c) out[k++] = (char)c;
    }
    out[k] = 0;
}

/* The model of one histogram: its observations, and hist_snap_t from hist_t. */
typedef struct {
    const uint64_t *bounds;
    size_t nbounds;
    double scale;
    uint64_t obs[MAX_OBS];
    size_t nobs;
} hmodel_t;

static void rd_hist(rd_t *r, hmodel_t *m, const uint64_t *bounds, size_t nb, double scale,
                    uint64_t mod, hist_snap_t *out)
{
    hist_t h;
    m->bounds = bounds;
    m->nbounds = nb;
    m->scale = scale;
    m->nobs = rd_u8(r) % (MAX_OBS + 1);
    if (hist_init(&h, bounds, nb, scale)) fail("hist_init refused the fixed bounds", NULL);
    for (size_t i = 0; i < m->nobs; i++) {
        m->obs[i] = rd_u64(r, 4) % mod;
        hist_observe(&h, m->obs[i]);
    }
    hist_snapshot(&h, out);
}

/* ------------------------------------------------------------------ model */

typedef struct {
    size_t n;
    deliver_analyzer_snap_t a[MAX_ANALYZERS];
    hmodel_t ah[MAX_ANALYZERS];
    hmodel_t ingest, batch;
    bool has_ingest, has_batch, has_version;
    char version[64];
} model_t;

static const char *const breakers[] = {"closed", "open", "half_open", NULL, "tripped\"\\"};

static void rd_analyzers(rd_t *r, model_t *m)
{
    size_t want = rd_u8(r) % (MAX_ANALYZERS + 1);
    for (size_t i = 0; i < want; i++) {
        deliver_analyzer_snap_t *x = &m->a[m->n];
        memset(x, 0, sizeof *x);
        rd_text(r, x->spec.id, CONFIG_ID_MAX);
        bool taken = false;
        for (size_t k = 0; k < m->n; k++) taken = taken || !strcmp(m->a[k].spec.id, x->spec.id);
        x->healthy = rd_u8(r) & 1;
        x->breaker = breakers[rd_u8(r) % 5];
        x->spec.weight = rd_double(r);
        x->effective_weight = rd_double(r);
        x->target_share = rd_double(r);
        x->actual_share = rd_double(r);
        x->actual_share_10s = rd_double(r);
        x->records_routed = rd_u64(r, 8);
        x->records_delivered = rd_u64(r, 8);
        x->records_retried = rd_u64(r, 2);
        x->records_deadlettered = rd_u64(r, 2);
        x->records_redistributed_in = rd_u64(r, 2);
        x->batches_failed = rd_u64(r, 2);
        x->queue_bytes = rd_u64(r, 4);
        x->inflight_batches = (uint32_t)rd_u64(r, 4);
        rd_hist(r, &m->ah[m->n], hist_duration_us_bounds, HIST_DURATION_N, 1e6, 1ull << 32,
                &x->attempt_seconds);
        if (!taken) m->n++; /* ids are unique in a real snapshot */
    }
}

/* ------------------------------------------------------------------ parse */

static bool is_name(const char *s, size_t n, bool colon)
{
    if (!n) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon && c == ':') || (i && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

/* A sample value: NaN, +Inf, -Inf or a whole strtod number. */
static double parse_value(const char *v, const char *line)
{
    if (!strcmp(v, "NaN")) return NAN;
    if (!strcmp(v, "+Inf")) return INFINITY;
    if (!strcmp(v, "-Inf")) return -INFINITY;
    char *end;
    if (!*v || strchr(" \t+", *v)) fail("empty or odd value", line);
    double d = strtod(v, &end);
    if (*end || isinf(d) || isnan(d) || strpbrk(v, "xXpPiInN")) fail("bad value", line);
    return d;
}

#define MAX_LABELS 4

typedef struct {
    char name[128];
    size_t nl;
    char lname[MAX_LABELS][32];
    char lval[MAX_LABELS][CONFIG_ID_MAX + 64]; /* unescaped */
    char base[512];  /* the labels but le as written (no name), for grouping */
    const char *value;
} sample_t;

/* Parse "name{a="x",...} value"; s->value points into line. */
static void parse_sample(char *line, sample_t *s, const char *orig)
{
    size_t n = strcspn(line, "{ ");
    if (!is_name(line, n, true) || n >= sizeof s->name) fail("bad metric name", orig);
    memcpy(s->name, line, n);
    s->name[n] = 0;
    s->nl = 0;
    const char *p = line + n;
    size_t base_end = n; /* base = name and labels before le */
    if (*p == '{') {
        p++;
        for (;;) {
            if (s->nl == MAX_LABELS) fail("too many labels", orig);
            size_t ln = strcspn(p, "=");
            if (!is_name(p, ln, false) || ln >= sizeof s->lname[0] || p[ln + 1] != '"')
                fail("bad label name", orig);
            memcpy(s->lname[s->nl], p, ln);
            s->lname[s->nl][ln] = 0;
            bool is_le = !strcmp(s->lname[s->nl], "le");
            p += ln + 2;
            size_t k = 0;
            for (; *p != '"'; p++) {
                if (!*p) fail("unterminated label value", orig);
                if (k + 1 >= sizeof s->lval[0]) fail("label value too long", orig);
                char c = *p;
                if (c == '\\') {
                    p++;
                    if (*p == 'n') c = '\n';
                    else if (*p == '\\' || *p == '"') c = *p;
                    else fail("bad escape in a label value", orig);
                }
                s->lval[s->nl][k++] = c;
            }
            s->lval[s->nl][k] = 0;
            p++;
            if (!is_le) base_end = (size_t)(p - line);
            else if (*p != '}') fail("le is not the last label", orig);
            s->nl++;
            if (*p == ',') {
                p++;
                continue;
            }
            if (*p != '}') fail("labels not closed", orig);
            p++;
            break;
        }
    }
    if (*p != ' ') fail("no space before the value", orig);
    if (base_end - n >= sizeof s->base) fail("series too long", orig);
    memcpy(s->base, line + n, base_end - n);
    s->base[base_end - n] = 0;
    s->value = p + 1;
    if (strchr(s->value, ' ')) fail("more than one value (a timestamp?)", orig);
}

static const char *label(const sample_t *s, const char *name)
{
    for (size_t i = 0; i < s->nl; i++)
        if (!strcmp(s->lname[i], name)) return s->lval[i];
    return NULL;
}

/* ------------------------------------------------------------------ series set */

typedef struct {
    char **slot;
    size_t cap;
} set_t;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* Adds s; false when it was there already. */
static bool set_add(set_t *t, const char *s)
{
    size_t i = hash_str(s) & (t->cap - 1);
    while (t->slot[i]) {
        if (!strcmp(t->slot[i], s)) return false;
        i = (i + 1) & (t->cap - 1);
    }
    t->slot[i] = strdup(s);
    if (!t->slot[i]) abort();
    return true;
}

/* ------------------------------------------------------------------ checks */

typedef struct {
    const char *name;
    bool is_double;
    size_t off;
} afam_t;

#define AD(n, f) {"logdist_" n, true, offsetof(deliver_analyzer_snap_t, f)}
#define AU(n, f) {"logdist_" n, false, offsetof(deliver_analyzer_snap_t, f)}
static const afam_t afams[] = {
    AD("analyzer_weight", spec.weight),
    AD("analyzer_effective_weight", effective_weight),
    AD("analyzer_target_share", target_share),
    AD("analyzer_actual_share", actual_share),
    AD("analyzer_actual_share_10s", actual_share_10s),
    AU("records_routed_total", records_routed),
    AU("records_delivered_total", records_delivered),
    AU("records_retried_total", records_retried),
    AU("records_deadlettered_total", records_deadlettered),
    AU("records_redistributed_in_total", records_redistributed_in),
    AU("analyzer_batches_failed_total", batches_failed),
    AU("analyzer_queue_bytes", queue_bytes),
};

/* The expected value of a per-analyzer sample. */
static void check_analyzer_value(const model_t *m, size_t a, const sample_t *s, const char *line)
{
    const deliver_analyzer_snap_t *x = &m->a[a];
    double got = parse_value(s->value, line);
    if (!strcmp(s->name, "logdist_analyzer_up")) {
        if (got != (x->healthy ? 1 : 0)) fail("analyzer_up is not the health", line);
        return;
    }
    if (!strcmp(s->name, "logdist_analyzer_inflight_batches")) {
        if (strtoull(s->value, NULL, 10) != x->inflight_batches) fail("inflight differs", line);
        return;
    }
    if (!strcmp(s->name, "logdist_analyzer_weight_factor")) {
        const char *f = label(s, "factor");
        static const char *const names[] = {"latency", "errors", "slow_start", "hint"};
        const double v[] = {x->factor_latency, x->factor_errors, x->factor_slow_start,
                            x->factor_hint};
        size_t k = 0;
        while (k < 4 && (!f || strcmp(f, names[k])))
            k++;
        if (k == 4 || (isnan(v[k]) ? !isnan(got) : got != v[k]))
            fail("weight_factor is not the snapshot's factor", line);
        return;
    }
    if (!strcmp(s->name, "logdist_analyzer_breaker_state")) {
        const char *st = label(s, "state");
        bool cur = st && x->breaker && !strcmp(st, x->breaker);
        if (!st || got != (cur ? 1 : 0)) fail("breaker_state is not the breaker", line);
        return;
    }
    for (size_t i = 0; i < sizeof afams / sizeof afams[0]; i++) {
        if (strcmp(s->name, afams[i].name)) continue;
        const char *f = (const char *)x + afams[i].off;
        if (afams[i].is_double) {
            double want;
            memcpy(&want, f, sizeof want);
            if (isnan(want) ? !isnan(got) : got != want) fail("a double does not read back", line);
        } else {
            uint64_t want;
            memcpy(&want, f, sizeof want);
            char w[24];
            snprintf(w, sizeof w, "%llu", (unsigned long long)want);
            if (strcmp(s->value, w)) fail("a counter is not the snapshot's", line);
        }
        return;
    }
}

/* One histogram series being read: which model, how far. */
typedef struct {
    const hmodel_t *h;
    char base[512];
    size_t next; /* buckets seen; nbounds + 1 = +Inf seen; + 1 _sum; + 1 _count */
    uint64_t inf;
} hread_t;

static uint64_t obs_le(const hmodel_t *h, uint64_t bound)
{
    uint64_t c = 0;
    for (size_t i = 0; i < h->nobs; i++) c += h->obs[i] <= bound;
    return c;
}

static void check_hist(hread_t *hr, const hmodel_t *h, const char *fam, const sample_t *s,
                       const char *line)
{
    size_t fl = strlen(fam);
    const char *suffix = s->name + fl;
    if (!strcmp(suffix, "_bucket")) {
        if (!hr->h || strcmp(hr->base, s->base)) {
            if (hr->h && hr->next != hr->h->nbounds + 3) fail("a histogram left unfinished", line);
            hr->h = h;
            snprintf(hr->base, sizeof hr->base, "%s", s->base);
            hr->next = 0;
        }
        const char *le = label(s, "le");
        if (!le || hr->next > h->nbounds) fail("a bucket without le or after +Inf", line);
        uint64_t v = strtoull(s->value, NULL, 10);
        char w[24];
        snprintf(w, sizeof w, "%llu", (unsigned long long)v);
        if (strcmp(w, s->value)) fail("a bucket count is not an integer", line);
        if (hr->next < h->nbounds) {
            double want = (double)h->bounds[hr->next] / h->scale;
            if (!strcmp(le, "+Inf") || parse_value(le, line) != want) fail("wrong le", line);
            if (v != obs_le(h, h->bounds[hr->next])) fail("a bucket count is wrong", line);
            if (hr->next && v < hr->inf) fail("buckets not cumulative", line);
        } else {
            if (strcmp(le, "+Inf")) fail("the last bucket is not le=\"+Inf\"", line);
            if (v != h->nobs || v < hr->inf) fail("the +Inf bucket is not every observation", line);
        }
        hr->inf = v;
        hr->next++;
        return;
    }
    if (!hr->h || strcmp(hr->base, s->base)) fail("_sum/_count of another series", line);
    if (!strcmp(suffix, "_sum")) {
        if (hr->next != h->nbounds + 1) fail("_sum not right after the +Inf bucket", line);
        double sum = 0;
        for (size_t i = 0; i < h->nobs; i++) sum += (double)h->obs[i];
        double got = parse_value(s->value, line);
        if (fabs(got - sum / h->scale) > 1e-9 * (1 + sum / h->scale)) fail("_sum is wrong", line);
    } else {
        if (hr->next != h->nbounds + 2) fail("_count not right after _sum", line);
        if (strtoull(s->value, NULL, 10) != hr->inf) fail("_count differs from +Inf", line);
    }
    hr->next++;
}

/* The model histogram of a histogram sample, or NULL. */
static const hmodel_t *hist_of(const model_t *m, const char *fam, long a)
{
    if (!strcmp(fam, "logdist_delivery_duration_seconds")) return a >= 0 ? &m->ah[a] : NULL;
    if (!strcmp(fam, "logdist_ingest_request_duration_seconds") && m->has_ingest)
        return &m->ingest;
    if (!strcmp(fam, "logdist_batch_records") && m->has_batch) return &m->batch;
    return NULL;
}

static void check_help(const char *text, const char *line)
{
    for (const char *p = text; *p; p++)
        if (*p == '\\' && (p[1] == '\\' || p[1] == 'n')) p++;
        else if (*p == '\\') fail("bad escape in HELP", line);
}

static void check_text(const model_t *m, const char *text, size_t len)
{
    if (strlen(text) != len) fail("NUL inside the text", NULL);
    if (len && text[len - 1] != '\n') fail("the text does not end with a newline", NULL);
    char *copy = strdup(text), *save = copy;
    set_t fams = {calloc(1024, sizeof(char *)), 1024}, series = {calloc(8192, sizeof(char *)), 8192};
    if (!copy || !fams.slot || !series.slot) abort();
    char fam[128] = "", type[16] = "", help_of[128] = "";
    bool typed = false;
    size_t per_analyzer = 0;
    hread_t hr = {0};
    sample_t s;
    for (char *line = copy; *line; ) {
        char *nl = strchr(line, '\n');
        *nl = 0;
        char orig[1024];
        snprintf(orig, sizeof orig, "%s", line);
        if (!strncmp(line, "# HELP ", 7)) {
            size_t n = strcspn(line + 7, " ");
            if (!is_name(line + 7, n, true) || n >= sizeof fam || line[7 + n] != ' ')
                fail("bad HELP line", orig);
            memcpy(help_of, line + 7, n);
            help_of[n] = 0;
            check_help(line + 8 + n, orig);
            if (!set_add(&fams, help_of)) fail("a family described twice", orig);
            typed = false;
        } else if (!strncmp(line, "# TYPE ", 7)) {
            size_t n = strcspn(line + 7, " ");
            if (n != strlen(help_of) || strncmp(line + 7, help_of, n) || line[7 + n] != ' ')
                fail("TYPE not right after its HELP", orig);
            snprintf(type, sizeof type, "%s", line + 8 + n);
            if (strcmp(type, "counter") && strcmp(type, "gauge") && strcmp(type, "histogram"))
                fail("unknown TYPE", orig);
            snprintf(fam, sizeof fam, "%s", help_of);
            help_of[0] = 0;
            typed = true;
            if (hr.h && hr.next != hr.h->nbounds + 3) fail("a histogram left unfinished", orig);
            hr.h = NULL;
        } else {
            if (line[0] == '#' || !line[0]) fail("a comment or empty line", orig);
            if (!typed) fail("a sample before its family's TYPE", orig);
            parse_sample(line, &s, orig);
            size_t fl = strlen(fam);
            bool hist = !strcmp(type, "histogram");
            bool ok = hist ? !strncmp(s.name, fam, fl) &&
                                 (!strcmp(s.name + fl, "_bucket") || !strcmp(s.name + fl, "_sum") ||
                                  !strcmp(s.name + fl, "_count"))
                           : !strcmp(s.name, fam);
            if (!ok) fail("a sample outside its family", orig);
            size_t sl = (size_t)(s.value - 1 - line);
            line[sl] = 0; /* the series without its value */
            if (!set_add(&series, line)) fail("a series twice", orig);
            line[sl] = ' ';
            long a = -1;
            const char *id = label(&s, "analyzer");
            if (id) {
                for (size_t i = 0; i < m->n && a < 0; i++)
                    if (!strcmp(m->a[i].spec.id, id)) a = (long)i;
                if (a < 0) fail("an analyzer label that is no analyzer's id", orig);
                per_analyzer++;
                if (!hist) check_analyzer_value(m, (size_t)a, &s, orig);
            }
            const char *version = label(&s, "version");
            if (!strcmp(s.name, "logdist_build_info") &&
                (!version || strcmp(version, m->has_version ? m->version : "")))
                fail("build_info's version label is not the version", orig);
            if (hist) {
                const hmodel_t *h = hist_of(m, fam, a);
                if (!h) fail("a histogram sample of no histogram", orig);
                check_hist(&hr, h, fam, &s, orig);
            } else {
                parse_value(s.value, orig);
            }
        }
        line = nl + 1;
    }
    if (hr.h && hr.next != hr.h->nbounds + 3) fail("the last histogram left unfinished", NULL);
    /* 14 families + 3 breaker states + 4 weight factors + the histogram's buckets, _sum and _count
     */
    if (per_analyzer != m->n * (14 + 3 + 4 + HIST_DURATION_N + 3))
        fail("not every analyzer in every per-analyzer family", NULL);
    for (size_t i = 0; i < fams.cap; i++) free(fams.slot[i]);
    for (size_t i = 0; i < series.cap; i++) free(series.slot[i]);
    free(fams.slot);
    free(series.slot);
    free(save);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192) return 0;
    rd_t r = {data, size};
    uint8_t flags = rd_u8(&r);
    static model_t m;
    static metrics_t metrics;
    memset(&m, 0, sizeof m);
    memset(&metrics, 0, sizeof metrics);
    /* the counters: every _Atomic uint64_t before the histograms */
    size_t words = offsetof(metrics_t, ingest_request_seconds) / sizeof(uint64_t);
    for (size_t k = rd_u8(&r) % 32; k; k--) {
        size_t w = rd_u64(&r, 2) % words;
        uint64_t v = rd_u64(&r, 8);
        memcpy((char *)&metrics + w * sizeof(uint64_t), &v, sizeof v);
    }
    rd_analyzers(&r, &m);
    hist_snap_t ingest, batch;
    rd_hist(&r, &m.ingest, hist_duration_us_bounds, HIST_DURATION_N, 1e6, 1ull << 32, &ingest);
    rd_hist(&r, &m.batch, hist_records_bounds, HIST_RECORDS_N, 1, 20000, &batch);
    procself_t ps = {.cpu_seconds = rd_double(&r), .rss_bytes = rd_u64(&r, 8),
                     .vsize_bytes = rd_u64(&r, 8), .open_fds = rd_u64(&r, 4),
                     .max_fds = rd_u64(&r, 4), .start_time_seconds = rd_double(&r)};
    m.has_version = flags & 32;
    if (m.has_version) rd_text(&r, m.version, sizeof m.version - 1);

    deliver_snapshot_t d = {.panic = flags & 64, .count = m.n, .analyzers = m.a};
    if (!(flags & 2)) m.n = 0; /* the model of "no snapshot" */
    m.has_ingest = flags & 4;
    m.has_batch = flags & 8;
    prom_input_t in = {.m = flags & 1 ? &metrics : NULL,
                       .queue_bytes = 1, .queue_records = 2, .connections_open = 3,
                       .body_bytes_in_flight = 4,
                       .d = flags & 2 ? &d : NULL,
                       .ingest_duration = m.has_ingest ? &ingest : NULL,
                       .batch_records = m.has_batch ? &batch : NULL,
                       .proc = flags & 16 ? &ps : NULL,
                       .version = m.has_version ? m.version : NULL};
    prom_t *p = prom_new();
    if (!p) return 0;
    prom_render(p, &in);
    size_t len = 0;
    const char *text = prom_text(p, &len);
    if (text) check_text(&m, text, len);
    prom_free(p);
    return 0;
}
