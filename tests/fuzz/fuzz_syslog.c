/*
 * fuzz_syslog.c - libFuzzer target for the syslog receiver's pure half
 * (src/proto/syslog_parse.c): message parsing, the record it becomes, and the
 * RFC 6587 stream framing.
 *
 * Input: byte 0 picks the message bound (16..271 bytes, or 64 KiB when its
 * top bit is set) and byte 1 the read sizes of the chunked run; the rest is
 * both one message and a stream. Invariants:
 *   1. syslog_parse returns 0, -ENODATA, -EINVAL or -E2BIG; on 0 every span
 *      lies inside the input, the PRI is 0..191, the time digits 0/3/6/9;
 *   2. the record written for it is one line of valid JSON (jansson parses it)
 *      holding an object with timestamp, level (one of ours), type "syslog",
 *      message and metadata {facility, severity, pri, format...}; a writer
 *      bound too small leaves the writer exactly as it was;
 *   4. the scan entry syslog_write_record_scanned gives is exactly scan_body's
 *      (NDJSON) for the record, and the writer's deepest depth is what the
 *      scanner's max_depth must allow (passes at it, refused one below);
 *   3. framing: every message is at most the bound and lies inside the input;
 *      consumed never exceeds what was given and a call consumes or asks for
 *      more (no stall); the sequence of messages, oversize and bad frames is
 *      the same whether the stream arrives whole or in chunks of any size.
 *
 * Build: make fuzz-build (tests/fuzz/fuzz.mk); run: build-fuzz/fuzz_syslog DIR.
 * Replayed by ctest over corpus/ and regressions/fuzz_syslog.
 */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/syslog_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *msg)
{
    fprintf(stderr, "fuzz_syslog: invariant violated: %s\n", msg);
    abort();
}

static bool inside(syslog_span_t s, const char *in, size_t len)
{
    return !s.p || (s.p >= in && s.p + s.n <= in + len);
}

static void check_record(const char *buf, size_t len)
{
    if (!len || buf[len - 1] != '\n' || memchr(buf, '\n', len - 1)) fail("not one line");
    json_error_t e;
    json_t *r = json_loadb(buf, len, JSON_ALLOW_NUL, &e);
    if (!r || !json_is_object(r)) fail("record is not a JSON object");
    const char *lv = json_string_value(json_object_get(r, "level"));
    static const char *const levels[] = {"FATAL", "ERROR", "WARN", "INFO", "DEBUG"};
    bool known = false;
    for (int i = 0; lv && i < 5; i++) known |= !strcmp(lv, levels[i]);
    if (!known) fail("level");
    const char *ts = json_string_value(json_object_get(r, "timestamp"));
    if (!ts || strlen(ts) < 20 || ts[4] != '-' || ts[10] != 'T' || ts[strlen(ts) - 1] != 'Z')
        fail("timestamp");
    const char *type = json_string_value(json_object_get(r, "type"));
    if (!type || strcmp(type, "syslog")) fail("type");
    if (!json_is_string(json_object_get(r, "message"))) fail("message");
    json_t *md = json_object_get(r, "metadata");
    if (!json_is_object(md) || !json_is_string(json_object_get(md, "facility")) ||
        !json_is_string(json_object_get(md, "severity")) ||
        !json_is_integer(json_object_get(md, "pri")) ||
        !json_is_string(json_object_get(md, "format")))
        fail("metadata");
    json_int_t pri = json_integer_value(json_object_get(md, "pri"));
    if (pri < 0 || pri > 191) fail("pri");
    json_decref(r);
}

static void check_message(const char *in, size_t len)
{
    syslog_msg_t m;
    int r = syslog_parse(in, len, 1781481600LL * 1000000000LL, &m); /* 2026-06-15 */
    if (r != 0 && r != -ENODATA && r != -EINVAL && r != -E2BIG) fail("parse return");
    if (r) return;
    if (m.pri < 0 || m.pri > 191) fail("parse pri");
    if (m.time_digits != 0 && m.time_digits != 3 && m.time_digits != 6 && m.time_digits != 9)
        fail("time digits");
    syslog_span_t spans[] = {m.hostname, m.app, m.procid, m.msgid, m.sd, m.msg};
    for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++)
        if (!inside(spans[i], in, len)) fail("span outside the input");
    syslog_origin_t o = {"tcp", "127.0.0.1:514", 1781481600LL * 1000000000LL};
    jsonw_t w;
    jsonw_init(&w, 1 << 22);
    scan_record_t sr;
    if (syslog_write_record_scanned(&w, &m, &o, &sr) || jsonw_len(&w) == 0) fail("write record");
    check_record(w.buf, w.len);
    scan_result_t sc = {0};
    if (scan_body(w.buf, w.len, SCAN_FORMAT_NDJSON, NULL, &sc) != SCAN_OK || sc.count != 1)
        fail("scan_body refuses the record");
    const scan_record_t *a = &sc.records[0];
    if (a->rec.off != sr.rec.off || a->rec.len != sr.rec.len || a->id.off != sr.id.off ||
        a->id.len != sr.id.len || a->level.off != sr.level.off || a->level.len != sr.level.len ||
        a->source.off != sr.source.off || a->source.len != sr.source.len ||
        a->type.off != sr.type.off || a->type.len != sr.type.len || a->flags != sr.flags)
        fail("scan entry differs from scan_body's");
    scan_limits_t lim = {.max_depth = w.deepest};
    if (scan_body(w.buf, w.len, SCAN_FORMAT_NDJSON, &lim, &sc) != SCAN_OK) fail("deepest refused");
    lim.max_depth = w.deepest - 1;
    if (w.deepest > 1 && scan_body(w.buf, w.len, SCAN_FORMAT_NDJSON, &lim, &sc) != SCAN_ERR_DEPTH)
        fail("deepest - 1 passes");
    scan_result_free(&sc);
    /* a bound too small: an error and the writer as it was */
    size_t full = jsonw_len(&w);
    jsonw_t s;
    jsonw_init(&s, full / 2);
    jsonw_newline(&s);
    size_t before = jsonw_len(&s);
    if (syslog_write_record(&s, &m, &o) != -E2BIG || jsonw_len(&s) != before)
        fail("bounded writer not restored");
    jsonw_free(&s);
    jsonw_free(&w);
}

/* The events of a framing run, as bytes: M<len><bytes>, O, B. */
typedef struct {
    char *p;
    size_t n, cap;
} log_t;

static void log_put(log_t *l, const void *d, size_t n)
{
    if (l->n + n > l->cap) {
        l->cap = (l->n + n) * 2 + 64;
        l->p = realloc(l->p, l->cap);
        if (!l->p) abort();
    }
    memcpy(l->p + l->n, d, n);
    l->n += n;
}

/* Feed in[0..len) in chunks (0: whole); returns at a bad frame or the end. */
static void frame_run(const char *in, size_t len, size_t max, unsigned chunk_seed, log_t *out)
{
    syslog_framer_t f;
    syslog_framer_init(&f, max);
    size_t start = 0, avail = 0; /* in[start..avail) is the connection's unconsumed input */
    unsigned seed = chunk_seed;
    while (avail < len || start < avail) {
        size_t step = chunk_seed ? (seed = seed * 1103515245u + 12345u, 1 + (seed >> 16) % 97)
                                 : len;
        bool grew = avail < len;
        avail = avail + step < len ? avail + step : len;
        for (;;) {
            const char *msg;
            size_t mlen, used, need;
            if (start == avail) break;
            syslog_frame_t r = syslog_framer_next(&f, in + start, avail - start, &msg, &mlen,
                                                  &used, &need);
            if (used > avail - start) fail("consumed more than given");
            if (r == SYSLOG_FRAME_NEED) {
                if (used) fail("NEED consumed");
                if (need <= avail - start) fail("NEED what is there");
                break;
            }
            if (r == SYSLOG_FRAME_BAD) {
                log_put(out, "B", 1);
                return;
            }
            if (!used) fail("no progress");
            if (r == SYSLOG_FRAME_MSG) {
                if (mlen > max || msg < in + start || msg + mlen > in + start + used)
                    fail("message outside its frame or over the bound");
                uint32_t n32 = (uint32_t)mlen;
                log_put(out, "M", 1);
                log_put(out, &n32, sizeof n32);
                log_put(out, msg, mlen);
                check_message(msg, mlen);
            } else if (r == SYSLOG_FRAME_OVERSIZE) {
                log_put(out, "O", 1);
            }
            start += used;
        }
        if (!grew && avail == len) break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t max = (data[0] & 0x80) ? 65536 : 16 + (size_t)(data[0] & 0x7f) * 2;
    unsigned seed = data[1] | 1u;
    const char *in = (const char *)data + 2;
    size_t len = size - 2;
    char *copy = malloc(len ? len : 1); /* exact size: ASan sees any overread */
    if (!copy) return 0;
    memcpy(copy, in, len);
    check_message(copy, len);
    log_t whole = {0}, chunked = {0};
    frame_run(copy, len, max, 0, &whole);
    frame_run(copy, len, max, seed, &chunked);
    if (whole.n != chunked.n || (whole.n && memcmp(whole.p, chunked.p, whole.n)))
        fail("chunked framing differs from whole");
    free(whole.p);
    free(chunked.p);
    free(copy);
    return 0;
}
