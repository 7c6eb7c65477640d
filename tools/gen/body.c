/*
 * body.c - packet body templates for logdist-gen (see body.h).
 */
#include "body.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const SOURCES[] = {"checkout-api", "payments", "auth",    "search",
                                      "inventory",    "frontend", "billing", "notifications"};
static const char *const TYPES[] = {"app", "app", "app", "access", "access", "audit", "security"};
static const char *const REGIONS[] = {"eu-west-1", "us-east-1", "ap-south-1", "eu-central-1"};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* xorshift64* step; returns the next 64-bit value. */
static uint64_t rng_u64(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform integer in [0, n) (n > 0; the modulo bias is irrelevant here). */
static uint32_t rng_below(uint64_t *s, uint32_t n)
{
    return (uint32_t)((rng_u64(s) >> 32) % n);
}

/* Uniform double in [0, 1). */
static double rng_unit(uint64_t *s)
{
    return (double)(rng_u64(s) >> 11) / 9007199254740992.0;
}

/* Make room for `extra` more bytes in b->buf. Returns 0 or -1 on OOM. */
static int reserve(gen_body_t *b, size_t extra)
{
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra)
        cap *= 2;
    char *p = realloc(b->buf, cap);
    if (!p) return -1;
    b->buf = p;
    b->cap = cap;
    return 0;
}

/* Append n bytes. Returns 0 or -1 on OOM. */
static int put(gen_body_t *b, const char *s, size_t n)
{
    if (reserve(b, n) < 0) return -1;
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    return 0;
}

/* Append a NUL-terminated string. Returns 0 or -1 on OOM. */
static int puts_(gen_body_t *b, const char *s)
{
    return put(b, s, strlen(s));
}

/* Append printf output (must fit in 512 bytes). Returns 0 or -1 on OOM. */
static int putf(gen_body_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int putf(gen_body_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    return put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Append a JSON message text (no characters needing escapes) drawn from *rng. */
static int put_message(gen_body_t *b, uint64_t *rng, uint32_t src)
{
    uint32_t a = rng_below(rng, 100000), ms = 1 + rng_below(rng, 2000);
    switch ((src + rng_below(rng, 3)) % 6) {
    case 0:
        return putf(b, "user %u completed checkout in %u ms", a, ms);
    case 1:
        return putf(b, "GET /api/v1/items/%u returned 200 in %u ms", a, ms);
    case 2:
        return putf(b, "payment %u authorized amount=%u.%02u EUR", a, ms, a % 100);
    case 3:
        return putf(b, "login failed for user %u from 10.%u.%u.%u", a, a % 256, ms % 256,
                    (a + ms) % 256);
    case 4:
        return putf(b, "cache miss ratio %u%% on shard %u", ms % 100, a % 64);
    default:
        return putf(b, "job %u finished in %u ms", a, ms);
    }
}

void gen_seq_format(char *out, uint64_t v)
{
    for (int i = GEN_SEQ_DIGITS - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

void gen_seq_inc(char *d)
{
    int i = GEN_SEQ_DIGITS - 1;
    while (i >= 0 && d[i] == '9')
        d[i--] = '0';
    if (i >= 0) d[i]++;
}

int gen_levels_parse(gen_body_config_t *cfg, const char *spec, const char **err)
{
    size_t n = 0;
    const char *p = spec;
    while (*p) {
        const char *end = p + strcspn(p, ",");
        const char *colon = memchr(p, ':', (size_t)(end - p));
        const char *name_end = colon ? colon : end;
        size_t nl = (size_t)(name_end - p);
        if (n == GEN_MAX_LEVELS) {
            *err = "at most 16 levels";
            return -1;
        }
        if (nl == 0 || nl > GEN_NAME_MAX) {
            *err = "level names are 1-32 chars";
            return -1;
        }
        for (size_t i = 0; i < nl; i++) {
            char c = p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-')) {
                *err = "level names use [A-Za-z0-9_-]";
                return -1;
            }
        }
        unsigned long w = 1;
        if (colon) {
            char *wend;
            w = strtoul(colon + 1, &wend, 10);
            if (wend != end || colon + 1 == end || w < 1 || w > 1000000) {
                *err = "level weights are 1..1000000";
                return -1;
            }
        }
        memcpy(cfg->levels[n], p, nl);
        cfg->levels[n][nl] = '\0';
        cfg->level_weight[n] = (uint32_t)w;
        n++;
        p = *end ? end + 1 : end;
    }
    if (n == 0) {
        *err = "no levels given";
        return -1;
    }
    cfg->nlevels = n;
    return 0;
}

/* Index of a level drawn by weight. */
static size_t pick_level(const gen_body_config_t *cfg, uint64_t *rng)
{
    uint64_t total = 0;
    for (size_t i = 0; i < cfg->nlevels; i++)
        total += cfg->level_weight[i];
    if (total == 0) return 0;
    uint64_t r = rng_u64(rng) % total;
    for (size_t i = 0; i < cfg->nlevels; i++) {
        if (r < cfg->level_weight[i]) return i;
        r -= cfg->level_weight[i];
    }
    return 0;
}

/* Append one record; stores the id digit and timestamp offsets at index i. */
static int put_record(gen_body_t *b, const gen_body_config_t *cfg, uint64_t *rng, uint32_t i)
{
    static const char zeros[GEN_SEQ_DIGITS + 1] = "000000000000";
    static const char ts0[GEN_TS_LEN + 1] = "2026-01-01T00:00:00.000Z";
    uint32_t src = rng_below(rng, NELEM(SOURCES));
    if (puts_(b, "{\"id\":\"") || puts_(b, cfg->prefix) || put(b, "-", 1)) return -1;
    b->id_off[i] = (uint32_t)b->len;
    if (put(b, zeros, GEN_SEQ_DIGITS) || puts_(b, "\",\"timestamp\":\"")) return -1;
    b->ts_off[i] = (uint32_t)b->len;
    if (put(b, ts0, GEN_TS_LEN)) return -1;
    if (putf(b, "\",\"level\":\"%s\",\"source\":\"", cfg->levels[pick_level(cfg, rng)])) return -1;
    if (cfg->nsources ? putf(b, "src-%04u", rng_below(rng, cfg->nsources)) : puts_(b, SOURCES[src]))
        return -1;
    if (putf(b, "\",\"type\":\"%s\",\"message\":\"", TYPES[rng_below(rng, NELEM(TYPES))]))
        return -1;
    if (put_message(b, rng, src)) return -1;
    if (putf(b, "\",\"metadata\":{\"host\":\"web-%u\",\"region\":\"%s\"", 1 + rng_below(rng, 9),
             REGIONS[rng_below(rng, NELEM(REGIONS))]))
        return -1;
    if (cfg->ntrace_ids && putf(b, ",\"trace_id\":\"t-%u\"", rng_below(rng, cfg->ntrace_ids)))
        return -1;
    if (put(b, "}", 1)) return -1;
    if (cfg->critical_ratio > 0 && rng_unit(rng) < cfg->critical_ratio &&
        puts_(b, ",\"critical\":true"))
        return -1;
    return put(b, "}", 1);
}

int gen_body_build(gen_body_t *b, const gen_body_config_t *cfg, uint64_t *rng, uint32_t nrec)
{
    b->len = 0;
    b->pid_off = 0;
    b->gz_len = 0;
    if (nrec != b->nrec || !b->id_off) {
        free(b->id_off);
        free(b->ts_off);
        b->id_off = malloc(nrec * sizeof(uint32_t));
        b->ts_off = malloc(nrec * sizeof(uint32_t));
        b->nrec = nrec;
        if (!b->id_off || !b->ts_off) goto oom;
    }
    if (cfg->format == GEN_FMT_JSON) {
        if (putf(b, "{\"packet_id\":\"%s-p", cfg->prefix)) goto oom;
        b->pid_off = (uint32_t)b->len;
        if (putf(b, "%0*d\",\"agent_id\":\"%s\",\"messages\":[", GEN_SEQ_DIGITS, 0, cfg->agent_id))
            goto oom;
    } else if (cfg->format == GEN_FMT_ARRAY) {
        if (put(b, "[", 1)) goto oom;
    }
    for (uint32_t i = 0; i < nrec; i++) {
        if (i > 0 && cfg->format != GEN_FMT_NDJSON && put(b, ",", 1)) goto oom;
        if (put_record(b, cfg, rng, i)) goto oom;
        if (cfg->format == GEN_FMT_NDJSON && put(b, "\n", 1)) goto oom;
    }
    if (cfg->format == GEN_FMT_JSON    ? put(b, "]}", 2)
        : cfg->format == GEN_FMT_ARRAY ? put(b, "]", 1)
                                       : 0)
        goto oom;
    return 0;
oom:
    gen_body_free(b);
    return -1;
}

void gen_body_patch(gen_body_t *b, uint64_t first_seq, uint64_t packet_seq, const char *ts)
{
    char d[GEN_SEQ_DIGITS];
    gen_seq_format(d, first_seq);
    char *buf = b->buf;
    for (uint32_t i = 0; i < b->nrec; i++) {
        memcpy(buf + b->id_off[i], d, GEN_SEQ_DIGITS);
        memcpy(buf + b->ts_off[i], ts, GEN_TS_LEN);
        gen_seq_inc(d);
    }
    if (b->pid_off) gen_seq_format(buf + b->pid_off, packet_seq);
}

int gen_body_gzip(gen_body_t *b, z_stream *zs)
{
    if (deflateReset(zs) != Z_OK) return -1;
    size_t bound = deflateBound(zs, (uLong)b->len) + 64;
    if (bound > b->gz_cap) {
        unsigned char *p = realloc(b->gz, bound);
        if (!p) return -1;
        b->gz = p;
        b->gz_cap = bound;
    }
    zs->next_in = (unsigned char *)b->buf;
    zs->avail_in = (uInt)b->len;
    zs->next_out = b->gz;
    zs->avail_out = (uInt)b->gz_cap;
    if (deflate(zs, Z_FINISH) != Z_STREAM_END) return -1;
    b->gz_len = b->gz_cap - zs->avail_out;
    return 0;
}

void gen_body_free(gen_body_t *b)
{
    free(b->buf);
    free(b->id_off);
    free(b->ts_off);
    free(b->gz);
    memset(b, 0, sizeof(*b));
}
