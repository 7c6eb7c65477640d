/*
 * test_syslog_parse.c - the syslog parser, record mapping and RFC 6587
 * framing (src/proto/syslog_parse.c), table-driven: each valid message is
 * checked field by field against the record it becomes (parsed back with
 * jansson; a null in the expectation means "absent"), each invalid one
 * against its error; the framing table is run on the whole stream and byte
 * by byte, which must give the same messages. The scan entries the writer
 * gives (syslog_write_record_scanned) are compared with scan_body's.
 */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/syslog_parse.h"

#define S(x) (x), sizeof(x) - 1
#define NOW (1796587200LL * 1000000000LL) /* 2026-12-06T20:00:00Z */
#define NOW_JAN (1798848000LL * 1000000000LL) /* 2027-01-02T00:00:00Z */

typedef struct {
    const char *name;
    const char *in;
    size_t len;
    int64_t now;
    int rc;
    const char *expect; /* JSON object: every key must match; null = absent */
} parse_case_t;

static const parse_case_t parse_cases[] = {
    /* RFC 5424 */
    {"5424 rfc example 1",
     S("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
       "\xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8"),
     NOW, 0,
     "{\"timestamp\":\"2003-10-11T22:14:15.003Z\",\"level\":\"FATAL\",\"source\":\"su\","
     "\"type\":\"syslog\",\"message\":\"'su root' failed for lonvick on /dev/pts/8\","
     "\"metadata\":{\"hostname\":\"mymachine.example.com\",\"facility\":\"auth\","
     "\"facility_code\":4,\"severity\":\"crit\",\"pri\":34,\"procid\":null,\"msgid\":\"ID47\","
     "\"format\":\"rfc5424\",\"transport\":\"tcp\",\"peer\":\"10.0.0.1:514\",\"sd\":null}}"},
    {"5424 offset and micros",
     S("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time."),
     NOW, 0,
     "{\"timestamp\":\"2003-08-24T12:14:15.000003Z\",\"level\":\"INFO\",\"source\":\"myproc\","
     "\"message\":\"%% It's time.\",\"metadata\":{\"hostname\":\"192.0.2.1\",\"facility\":"
     "\"local4\",\"facility_code\":20,\"severity\":\"notice\",\"pri\":165,\"procid\":\"8710\","
     "\"msgid\":null}}"},
    {"5424 structured data with escapes, no MSG",
     S("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
       "[exampleSDID@32473 iut=\"3\" eventSource=\"Appl\\\"ic\\]at\\\\ion\" eventID=\"1011\"]"),
     NOW, 0,
     "{\"message\":\"\",\"metadata\":{\"sd\":{\"exampleSDID@32473\":{\"iut\":\"3\","
     "\"eventSource\":\"Appl\\\"ic]at\\\\ion\",\"eventID\":\"1011\"}}}}"},
    {"5424 two SD elements, a repeated SD-ID merged, a repeated param as array",
     S("<14>1 2026-12-06T19:00:00Z h a - - [a@1 x=\"1\" x=\"2\"][b@2][a@1 y=\"3\"] the msg"),
     NOW, 0,
     "{\"message\":\"the msg\",\"metadata\":{\"sd\":{\"a@1\":{\"x\":[\"1\",\"2\"],\"y\":\"3\"},"
     "\"b@2\":{}}}}"},
    {"5424 all nil: timestamp is the receive time",
     S("<13>1 - - - - - -"), NOW, 0,
     "{\"timestamp\":\"2026-12-06T20:00:00.000000Z\",\"level\":\"INFO\",\"source\":null,"
     "\"message\":\"\",\"metadata\":{\"hostname\":null,\"procid\":null,\"msgid\":null,"
     "\"facility\":\"user\",\"severity\":\"notice\"}}"},
    {"5424 backslash before another character stays", S("<15>1 - h a - - [i k=\"a\\nb\"] m"),
     NOW, 0, "{\"level\":\"DEBUG\",\"metadata\":{\"sd\":{\"i\":{\"k\":\"a\\\\nb\"}}}}"},
    {"5424 invalid UTF-8 in MSG becomes U+FFFD", S("<11>1 - - - - - - bad \xC3\x28 byte"), NOW,
     0, "{\"level\":\"ERROR\",\"message\":\"bad \\ufffd( byte\"}"},
    {"5424 trailing LF and NUL removed", S("<12>1 - - - - - - hi\r\n\0"), NOW, 0,
     "{\"level\":\"WARN\",\"message\":\"hi\"}"},
    {"5424 pri 0 and 191", S("<0>1 - - - - - - x"), NOW, 0,
     "{\"level\":\"FATAL\",\"metadata\":{\"facility\":\"kern\",\"severity\":\"emerg\",\"pri\":0}}"},
    {"5424 pri 191", S("<191>1 - - - - - - x"), NOW, 0,
     "{\"level\":\"DEBUG\",\"metadata\":{\"facility\":\"local7\",\"facility_code\":23,"
     "\"pri\":191}}"},
    /* RFC 3164 / BSD */
    {"3164 classic",
     S("<13>Dec  6 19:58:01 web1 sshd[4242]: Accepted publickey for root"), NOW, 0,
     "{\"timestamp\":\"2026-12-06T19:58:01Z\",\"level\":\"INFO\",\"source\":\"sshd\","
     "\"message\":\"Accepted publickey for root\",\"metadata\":{\"hostname\":\"web1\","
     "\"procid\":\"4242\",\"pri\":13,\"format\":\"rfc3164\",\"msgid\":null}}"},
    {"3164 two-digit day, no pid", S("<86>Nov 16 08:00:00 host CRON: job done"), NOW, 0,
     "{\"timestamp\":\"2026-11-16T08:00:00Z\",\"source\":\"CRON\",\"message\":\"job done\","
     "\"metadata\":{\"facility\":\"authpriv\",\"severity\":\"info\",\"procid\":null}}"},
    {"3164 December read in January is last year", S("<13>Dec 31 23:59:59 h t: late"),
     NOW_JAN, 0, "{\"timestamp\":\"2026-12-31T23:59:59Z\"}"},
    {"3164 missing hostname", S("<13>Dec  6 19:00:00 myapp[7]: no host here"), NOW, 0,
     "{\"source\":\"myapp\",\"message\":\"no host here\",\"metadata\":{\"hostname\":null,"
     "\"procid\":\"7\"}}"},
    {"3164 ISO timestamp (RSYSLOG_ForwardFormat)",
     S("<30>2026-12-06T19:30:00.123456+01:00 fwdhost app[1]: forwarded"), NOW, 0,
     "{\"timestamp\":\"2026-12-06T18:30:00.123456Z\",\"source\":\"app\",\"message\":"
     "\"forwarded\",\"metadata\":{\"hostname\":\"fwdhost\",\"facility\":\"daemon\","
     "\"format\":\"rfc3164\"}}"},
    {"3164 no PRI at all: default 13", S("just some text"), NOW, 0,
     "{\"level\":\"INFO\",\"source\":null,\"message\":\"just some text\",\"metadata\":{"
     "\"pri\":13,\"pri_default\":true,\"facility\":\"user\",\"severity\":\"notice\"}}"},
    {"3164 no timestamp: receive time, tag kept", S("<11>kernel: oops"), NOW, 0,
     "{\"timestamp\":\"2026-12-06T20:00:00.000000Z\",\"level\":\"ERROR\",\"source\":\"kernel\","
     "\"message\":\"oops\",\"metadata\":{\"hostname\":null,\"pri_default\":null}}"},
    {"3164 no tag colon: whole text is the message", S("<13>Dec  6 19:00:00 host hello world"),
     NOW, 0,
     "{\"source\":null,\"message\":\"hello world\",\"metadata\":{\"hostname\":\"host\"}}"},
    {"3164 bad date is not a date", S("<13>Feb 30 10:00:00 host t: x"), NOW, 0,
     "{\"timestamp\":\"2026-12-06T20:00:00.000000Z\",\"message\":\"Feb 30 10:00:00 host t: x\"}"},
    {"3164 <PRI>1 without a space is 3164", S("<13>1x"), NOW, 0,
     "{\"message\":\"1x\",\"metadata\":{\"format\":\"rfc3164\"}}"},
    /* invalid */
    {"empty", S(""), NOW, -ENODATA, NULL},
    {"blank", S(" \r\n\0"), NOW, -ENODATA, NULL},
    {"pri over 191", S("<192>1 - - - - - - x"), NOW, -EINVAL, NULL},
    {"pri not digits", S("<ab>x"), NOW, -EINVAL, NULL},
    {"pri unclosed", S("<13"), NOW, -EINVAL, NULL},
    {"pri four digits", S("<0013>x"), NOW, -EINVAL, NULL},
    {"pri empty", S("<>x"), NOW, -EINVAL, NULL},
    {"5424 bad timestamp", S("<13>1 2003-13-11T22:14:15Z h a - - - x"), NOW, -EINVAL, NULL},
    {"5424 timestamp without zone", S("<13>1 2003-10-11T22:14:15 h a - - - x"), NOW, -EINVAL,
     NULL},
    {"5424 missing fields", S("<13>1 - host app"), NOW, -EINVAL, NULL},
    {"5424 SD unterminated", S("<13>1 - h a - - [id k=\"v\" x"), NOW, -EINVAL, NULL},
    {"5424 SD value unquoted", S("<13>1 - h a - - [id k=v] x"), NOW, -EINVAL, NULL},
    {"5424 SD name too long",
     S("<13>1 - h a - - [abcdefghijabcdefghijabcdefghijabc] x"), NOW, -EINVAL, NULL},
    {"5424 SD then no space", S("<13>1 - h a - - [id]x"), NOW, -EINVAL, NULL},
    {"5424 SD garbage", S("<13>1 - h a - - junk x"), NOW, -EINVAL, NULL},
    {"5424 control char in hostname", S("<13>1 - h\x01 a - - - x"), NOW, -EINVAL, NULL},
    {"5424 two spaces", S("<13>1  - h a - - - x"), NOW, -EINVAL, NULL},
};

/* Check every key of `want` against `got` (null: absent). */
static void expect_subset(const char *what, json_t *want, json_t *got)
{
    const char *k;
    json_t *v;
    json_object_foreach(want, k, v)
    {
        json_t *g = json_object_get(got, k);
        if (json_is_null(v)) {
            if (g) fail_msg("%s: %s should be absent, is %s", what, k, json_dumps(g, JSON_ENCODE_ANY));
            continue;
        }
        if (!g) fail_msg("%s: %s missing", what, k);
        if (json_is_object(v) && json_is_object(g)) {
            expect_subset(what, v, g);
        } else if (!json_equal(v, g)) {
            fail_msg("%s: %s is %s, expected %s", what, k, json_dumps(g, JSON_ENCODE_ANY),
                     json_dumps(v, JSON_ENCODE_ANY));
        }
    }
}


/* The scan entries syslog_write_record_scanned gave for w's records are
 * exactly scan_body's, and w->deepest is the least --max-depth that passes. */
static void check_scanned(const char *what, const jsonw_t *w, const scan_record_t *recs, size_t n)
{
    scan_result_t s = {0};
    if (scan_body(w->buf, w->len, SCAN_FORMAT_NDJSON, NULL, &s) != SCAN_OK)
        fail_msg("%s: scan_body refuses the records: %s", what, s.err_msg);
    if (s.count != n) fail_msg("%s: %zu records scanned, %zu written", what, s.count, n);
    for (size_t i = 0; i < n; i++) {
        const scan_record_t *a = &s.records[i], *b = &recs[i];
        const scan_slice_t *sa[] = {&a->rec, &a->id, &a->level, &a->source, &a->type};
        const scan_slice_t *sb[] = {&b->rec, &b->id, &b->level, &b->source, &b->type};
        for (int k = 0; k < 5; k++)
            if (sa[k]->off != sb[k]->off || sa[k]->len != sb[k]->len)
                fail_msg("%s: record %zu slice %d: scanner %u+%u, writer %u+%u", what, i, k,
                         sa[k]->off, sa[k]->len, sb[k]->off, sb[k]->len);
        if (a->flags != b->flags)
            fail_msg("%s: record %zu flags: scanner %u, writer %u", what, i, a->flags, b->flags);
    }
    scan_limits_t lim = {.max_depth = w->deepest};
    if (scan_body(w->buf, w->len, SCAN_FORMAT_NDJSON, &lim, &s) != SCAN_OK)
        fail_msg("%s: refused at max_depth = deepest (%u)", what, w->deepest);
    lim.max_depth = w->deepest - 1;
    if (w->deepest > 1 && scan_body(w->buf, w->len, SCAN_FORMAT_NDJSON, &lim, &s) != SCAN_ERR_DEPTH)
        fail_msg("%s: passes at max_depth = deepest - 1 (%u)", what, w->deepest - 1);
    scan_result_free(&s);
}

static void test_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
        const parse_case_t *c = &parse_cases[i];
        /* an exact-size heap copy: ASan sees any read past the input */
        char *in = malloc(c->len ? c->len : 1);
        memcpy(in, c->in, c->len);
        syslog_msg_t m;
        int rc = syslog_parse(in, c->len, c->now, &m);
        if (rc != c->rc) fail_msg("%s: rc %d, expected %d", c->name, rc, c->rc);
        if (!rc) {
            jsonw_t w;
            jsonw_init(&w, 1 << 20);
            syslog_origin_t o = {"tcp", "10.0.0.1:514", c->now};
            scan_record_t sr;
            assert_int_equal(syslog_write_record_scanned(&w, &m, &o, &sr), 0);
            assert_true(w.len > 0 && w.buf[w.len - 1] == '\n');
            check_scanned(c->name, &w, &sr, 1);
            json_error_t e;
            json_t *got = json_loadb(w.buf, w.len, 0, &e);
            if (!got) fail_msg("%s: record is not JSON: %s (%.*s)", c->name, e.text, (int)w.len, w.buf);
            json_t *want = json_loads(c->expect, 0, &e);
            if (!want) fail_msg("%s: bad expectation: %s", c->name, e.text);
            expect_subset(c->name, want, got);
            assert_string_equal(json_string_value(json_object_get(got, "type")), "syslog");
            json_decref(got);
            json_decref(want);
            jsonw_free(&w);
        }
        free(in);
    }
}

/* The record as the writer wrote it before its constant members became
 * pre-escaped fragments: one jsonw call per key and value, with the names of
 * level_from_syslog / syslog_facility_name / syslog_severity_name. */
static void ref_span(jsonw_t *w, const char *k, syslog_span_t v)
{
    if (v.p) {
        jsonw_keyz(w, k);
        jsonw_string(w, v.p, v.n);
    }
}

static void ref_write(jsonw_t *w, const syslog_msg_t *m, const syslog_origin_t *o)
{
    static const char *const lv[8] = {"FATAL", "FATAL", "FATAL", "ERROR",
                                      "WARN",  "INFO",  "INFO",  "DEBUG"};
    int sev = m->pri & 7, fac = m->pri >> 3;
    jsonw_object_begin(w);
    jsonw_keyz(w, "timestamp");
    jsonw_time_ns(w, m->has_time ? m->time_ns : o->received_ns, m->has_time ? m->time_digits : 6);
    jsonw_keyz(w, "level");
    jsonw_stringz(w, lv[sev]);
    ref_span(w, "source", m->app);
    jsonw_keyz(w, "type");
    jsonw_stringz(w, "syslog");
    jsonw_keyz(w, "message");
    jsonw_string(w, m->msg.p ? m->msg.p : "", m->msg.n);
    jsonw_keyz(w, "metadata");
    jsonw_object_begin(w);
    ref_span(w, "hostname", m->hostname);
    jsonw_keyz(w, "facility");
    jsonw_stringz(w, syslog_facility_name(fac));
    jsonw_keyz(w, "facility_code");
    jsonw_int(w, fac);
    jsonw_keyz(w, "severity");
    jsonw_stringz(w, syslog_severity_name(sev));
    jsonw_keyz(w, "pri");
    jsonw_int(w, m->pri);
    if (!m->pri_given) {
        jsonw_keyz(w, "pri_default");
        jsonw_bool(w, true);
    }
    ref_span(w, "procid", m->procid);
    ref_span(w, "msgid", m->msgid);
    jsonw_keyz(w, "format");
    jsonw_stringz(w, m->format == SYSLOG_RFC5424 ? "rfc5424" : "rfc3164");
    if (o->transport) {
        jsonw_keyz(w, "transport");
        jsonw_stringz(w, o->transport);
    }
    if (o->peer) {
        jsonw_keyz(w, "peer");
        jsonw_stringz(w, o->peer);
    }
    jsonw_object_end(w);
    jsonw_object_end(w);
    jsonw_newline(w);
}

/* Every PRI (and none), both formats, with and without the optional fields and
 * the origin's: the record is byte for byte the reference's. Two records per
 * writer (the second one after a newline, as in a batch). */
static void test_record_bytes(void **state)
{
    (void)state;
    static const char *const shapes[] = {
        "<%d>1 2026-12-06T20:00:00.123456+00:00 web-01.example.com nginx 1000 ACCESS - GET / \"x\"",
        "<%d>1 - - - - - -",
        "<%d>1 2003-10-11T22:14:15Z h app - - - \xC3\xA9t\xC3\xA9 \x01 tab\t",
        "<%d>Dec  6 19:59:59 host tag[42]: a message",
        "<%d>just text",
        "no pri at all %d",
        "<%d>1 - h a\\\"p\\p - - - an app name that needs escapes",
        "<%d>1 - h app - - [id@1 k=\"v\" k=\"w\"][x] sd: deepest 5",
    };
    static const syslog_origin_t origins[] = {
        {"tcp", "127.0.0.1:51234", NOW}, {"udp", NULL, NOW + 7}, {NULL, NULL, NOW + 999999999}};
    for (int pri = 0; pri <= 191; pri++) {
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            for (size_t oi = 0; oi < sizeof origins / sizeof origins[0]; oi++) {
                char in[512];
                int n = snprintf(in, sizeof in, shapes[s], pri);
                syslog_msg_t m;
                assert_int_equal(syslog_parse(in, (size_t)n, NOW, &m), 0);
                jsonw_t a, b;
                jsonw_init(&a, 1 << 16);
                jsonw_init(&b, 1 << 16);
                scan_record_t sr[2];
                int recs = m.sd.p ? 1 : 2; /* SD: one record, compared up to its "sd" */
                for (int rec = 0; rec < recs; rec++) {
                    ref_write(&a, &m, &origins[oi]);
                    assert_int_equal(syslog_write_record_scanned(&b, &m, &origins[oi], &sr[rec]), 0);
                }
                check_scanned(in, &b, sr, (size_t)recs);
                assert_int_equal(jsonw_error(&a), 0);
                if (m.sd.p) { /* the reference has no SD: the same bytes up to ,"sd": */
                    assert_true(b.len > a.len);
                    assert_memory_equal(a.buf, b.buf, a.len - 3);
                    assert_memory_equal(b.buf + a.len - 3, ",\"sd\":{", 7);
                } else if (a.len != b.len || memcmp(a.buf, b.buf, a.len))
                    fail_msg("pri %d shape %zu origin %zu:\n%.*s\n!=\n%.*s", pri, s, oi,
                             (int)b.len, b.buf, (int)a.len, a.buf);
                jsonw_free(&a);
                jsonw_free(&b);
            }
        }
    }
}

/* The record writer's bound: an error and the writer exactly as it was. */
static void test_write_bounded(void **state)
{
    (void)state;
    syslog_msg_t m;
    assert_int_equal(syslog_parse(S("<13>1 - h a - - [i k=\"v\"] a message"), NOW, &m), 0);
    syslog_origin_t o = {"udp", "1.2.3.4:5", NOW};
    jsonw_t w;
    jsonw_init(&w, 60);
    jsonw_newline(&w);
    assert_int_equal(syslog_write_record(&w, &m, &o), -E2BIG);
    assert_int_equal(jsonw_len(&w), 1);
    assert_int_equal(jsonw_error(&w), 0);
    jsonw_free(&w);
}

static void test_sd_param_limit(void **state)
{
    (void)state;
    char buf[16384];
    size_t n = (size_t)snprintf(buf, sizeof buf, "<13>1 - h a - - [id");
    for (int i = 0; i <= SYSLOG_MAX_SD_PARAMS; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, " p%d=\"v\"", i);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "] m");
    syslog_msg_t m;
    assert_int_equal(syslog_parse(buf, n, NOW, &m), -E2BIG);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(syslog_facility_name(0), "kern");
    assert_string_equal(syslog_facility_name(23), "local7");
    assert_null(syslog_facility_name(24));
    assert_null(syslog_facility_name(-1));
    assert_string_equal(syslog_severity_name(4), "warning");
    assert_null(syslog_severity_name(8));
}

/* ---- framing ------------------------------------------------------------ */

typedef struct {
    const char *name;
    const char *in;
    size_t len;
    size_t max;
    const char *events; /* "M<msg>|" per message, "O|" oversize, "B|" bad, "N" = waits at end */
} frame_case_t;

static const frame_case_t frame_cases[] = {
    {"octet two messages", S("5 hello3 abc"), 100, "Mhello|Mabc|"},
    {"octet partial waits", S("5 hello10 abc"), 100, "Mhello|N"},
    {"octet header partial waits", S("12"), 100, "N"},
    {"octet LF between frames skipped", S("2 ab\n\r\n2 cd"), 100, "Mab|Mcd|"},
    {"octet oversize skipped whole", S("11 hello world2 ok"), 5, "O|Mok|"},
    {"octet oversize at the bound is fine", S("5 hello"), 5, "Mhello|"},
    {"octet MSG-LEN not a number", S("5x hello"), 100, "B|"},
    {"octet MSG-LEN zero", S("5 hello0 "), 100, "Mhello|B|"},
    {"octet leading zero", S("05 hello"), 100, "B|"},
    {"octet absurd MSG-LEN", S("99999999999 x"), 100, "B|"},
    {"octet 2^31+1", S("2147483649 x"), 100, "B|"},
    {"octet then a letter", S("2 abx"), 100, "Mab|B|"},
    {"lf messages, CRLF, NUL, empty lines",
     S("<13>one\r\n<14>two\0\n\n\0<15>three\n"), 100, "M<13>one|M<14>two|M<15>three|"},
    {"lf partial waits", S("first\nsecond"), 100, "Mfirst|N"},
    {"lf oversize discarded to the LF", S("a123456789abc\nok\n"), 10, "O|Mok|"},
    {"lf oversize without LF yet", S("a123456789abcdef"), 10, "O|"},
    {"lf line of exactly the bound", S("a123456789\nx\n"), 10, "Ma123456789|Mx|"},
    {"lf first byte not a digit decides", S("<13>5 x\n"), 100, "M<13>5 x|"},
};

static void frame_events(const frame_case_t *c, size_t step, char *out, size_t outlen)
{
    syslog_framer_t f;
    syslog_framer_init(&f, c->max);
    char *buf = malloc(c->len ? c->len : 1); /* exact size */
    memcpy(buf, c->in, c->len);
    size_t start = 0, avail = 0, o = 0;
    out[0] = 0;
    bool bad = false, waiting = false;
    while (!bad && (avail < c->len || start < avail)) {
        bool grew = avail < c->len;
        avail = avail + step < c->len ? avail + step : c->len;
        waiting = false;
        while (start < avail) {
            const char *msg;
            size_t mlen, used, need;
            syslog_frame_t r = syslog_framer_next(&f, buf + start, avail - start, &msg, &mlen,
                                                  &used, &need);
            if (r == SYSLOG_FRAME_NEED) {
                assert_true(need > avail - start);
                waiting = true;
                break;
            }
            if (r == SYSLOG_FRAME_BAD) {
                o += (size_t)snprintf(out + o, outlen - o, "B|");
                bad = true;
                break;
            }
            assert_true(used > 0 && used <= avail - start);
            if (r == SYSLOG_FRAME_MSG)
                o += (size_t)snprintf(out + o, outlen - o, "M%.*s|", (int)mlen, msg);
            else if (r == SYSLOG_FRAME_OVERSIZE)
                o += (size_t)snprintf(out + o, outlen - o, "O|");
            start += used;
        }
        if (!grew) break;
    }
    if (waiting && !bad) snprintf(out + o, outlen - o, "N");
    free(buf);
}

static void test_framing_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof frame_cases / sizeof frame_cases[0]; i++) {
        const frame_case_t *c = &frame_cases[i];
        char whole[1024], bytes[1024];
        frame_events(c, c->len ? c->len : 1, whole, sizeof whole);
        frame_events(c, 1, bytes, sizeof bytes);
        /* a NUL inside a message prints short; compare what was printed */
        if (strcmp(whole, c->events)) fail_msg("%s (whole): %s, expected %s", c->name, whole, c->events);
        if (strcmp(bytes, c->events)) fail_msg("%s (byte by byte): %s, expected %s", c->name, bytes, c->events);
    }
}

static void test_framing_detect(void **state)
{
    (void)state;
    syslog_framer_t f;
    const char *msg;
    size_t ml, used, need;
    syslog_framer_init(&f, 100);
    assert_int_equal(syslog_framer_next(&f, "", 0, &msg, &ml, &used, &need), SYSLOG_FRAME_NEED);
    assert_int_equal(f.mode, SYSLOG_FRAMING_UNKNOWN);
    assert_int_equal(syslog_framer_next(&f, "3", 1, &msg, &ml, &used, &need), SYSLOG_FRAME_NEED);
    assert_int_equal(f.mode, SYSLOG_FRAMING_OCTET);
    syslog_framer_init(&f, 100);
    assert_int_equal(syslog_framer_next(&f, "<", 1, &msg, &ml, &used, &need), SYSLOG_FRAME_NEED);
    assert_int_equal(f.mode, SYSLOG_FRAMING_LF);
    assert_int_equal(need, 101); /* a line can be the bound and its LF */
    /* octet counting: asks for the whole frame at once */
    syslog_framer_init(&f, 100);
    assert_int_equal(syslog_framer_next(&f, "50 abc", 6, &msg, &ml, &used, &need),
                     SYSLOG_FRAME_NEED);
    assert_int_equal(need, 53);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),    cmocka_unit_test(test_write_bounded),
        cmocka_unit_test(test_record_bytes),
        cmocka_unit_test(test_sd_param_limit), cmocka_unit_test(test_names),
        cmocka_unit_test(test_framing_table),  cmocka_unit_test(test_framing_detect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
