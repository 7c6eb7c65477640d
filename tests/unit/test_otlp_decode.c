/*
 * test_otlp_decode.c - cmocka tests for src/proto/otlp_decode.c, table-driven:
 *   - OTLP/JSON literals (lowerCamelCase and snake_case keys, 64-bit integers as
 *     numbers and strings, enum names, every AnyValue kind) -> the records expected,
 *     compared with jansson (json_equal per NDJSON line), valid and invalid;
 *   - protobuf requests built with the protoc-c generated packers (one builder per
 *     case) -> the same mapping; hostile wire input (garbage, truncation, NULs,
 *     nesting past OTLP_MAX_VALUE_DEPTH, bad id lengths);
 *   - per-record refusals (over max-record-bytes, deeper than max-depth) next to
 *     records that are kept; too many LogRecords (-E2BIG).
 * The mapping rows are those of docs/PROTOCOLS.md.
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

#include "otlp/opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "proto/otlp_decode.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const otlp_limits_t LIM = {1000, 65536, 64};

/* Parse out->ndjson (one record a line) and compare with the JSON array `want`. */
static void expect_records(const otlp_result_t *out, const char *want)
{
    json_error_t je;
    json_t *w = json_loads(want, JSON_ALLOW_NUL, &je);
    if (!w) fail_msg("bad expectation: %s (%s)", je.text, want);
    assert_int_equal(out->records, json_array_size(w));
    const char *p = out->ndjson ? out->ndjson : "";
    const char *end = p + out->len;
    for (size_t i = 0; i < json_array_size(w); i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        json_t *got = json_loadb(p, (size_t)(nl - p), JSON_ALLOW_NUL, &je);
        if (!got) fail_msg("record %zu does not parse: %s: %.*s", i, je.text, (int)(nl - p), p);
        if (!json_equal(got, json_array_get(w, i))) {
            char *g = json_dumps(got, JSON_SORT_KEYS),
                 *x = json_dumps(json_array_get(w, i), JSON_SORT_KEYS);
            fprintf(stderr, "record %zu\n got  %s\n want %s\n", i, g, x);
            free(g);
            free(x);
            fail();
        }
        json_decref(got);
        p = nl + 1;
    }
    assert_ptr_equal(p, end);
    json_decref(w);
}

/* ---- JSON ------------------------------------------------------------------ */

typedef struct {
    const char *name;
    const char *body;
    int rc;
    const char *want; /* JSON array of the records (rc 0) */
    size_t rejected;
    const char *error; /* substring of out.error ("" none) */
} json_case_t;

#define RL(scope_logs) "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[" scope_logs "]}]}]}"

static const json_case_t JSON_CASES[] = {
    {"full mapping, camelCase",
     "{\"resourceLogs\":[{\"resource\":{\"attributes\":["
     "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"checkout\"}},"
     "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"h1\"}}],\"droppedAttributesCount\":2},"
     "\"scopeLogs\":[{\"scope\":{\"name\":\"lib\",\"version\":\"1.2\",\"attributes\":"
     "[{\"key\":\"s\",\"value\":{\"intValue\":7}}]},\"logRecords\":[{"
     "\"timeUnixNano\":\"1700000000123456789\",\"observedTimeUnixNano\":1700000001000000000,"
     "\"severityNumber\":13,\"severityText\":\"Warning\",\"body\":{\"stringValue\":\"disk "
     "\\\"low\\\"\"},"
     "\"attributes\":[{\"key\":\"str\",\"value\":{\"stringValue\":\"v\"}},"
     "{\"key\":\"b\",\"value\":{\"boolValue\":false}},{\"key\":\"i\",\"value\":{\"intValue\":\"-"
     "9007199254740993\"}},"
     "{\"key\":\"d\",\"value\":{\"doubleValue\":2.5}},{\"key\":\"arr\",\"value\":{\"arrayValue\":{"
     "\"values\":"
     "[{\"intValue\":1},{\"stringValue\":\"x\"},{}]}}},{\"key\":\"kv\",\"value\":{\"kvlistValue\":{"
     "\"values\":"
     "[{\"key\":\"in\",\"value\":{\"boolValue\":true}}]}}},{\"key\":\"by\",\"value\":{"
     "\"bytesValue\":\"aGk=\"}},"
     "{\"key\":\"empty\"}],"
     "\"droppedAttributesCount\":1,\"flags\":1,\"traceId\":\"5B8EFFF798038103D269B633813FC60C\","
     "\"spanId\":\"eee19b7ec3c1b174\",\"eventName\":\"disk.low\"}]}]}]}",
     0,
     "[{\"timestamp\":\"2023-11-14T22:13:20.123456789Z\",\"level\":\"WARN\",\"source\":"
     "\"checkout\","
     "\"type\":\"otlp\",\"message\":\"disk \\\"low\\\"\",\"metadata\":{"
     "\"attributes\":{\"str\":\"v\",\"b\":false,\"i\":-9007199254740993,\"d\":2.5,\"arr\":[1,\"x\","
     "null],"
     "\"kv\":{\"in\":true},\"by\":\"aGk=\",\"empty\":null},"
     "\"resource\":{\"service.name\":\"checkout\",\"host.name\":\"h1\"},"
     "\"resource_dropped_attributes_count\":2,"
     "\"scope\":{\"name\":\"lib\",\"version\":\"1.2\",\"attributes\":{\"s\":7}},"
     "\"trace_id\":\"5b8efff798038103d269b633813fc60c\",\"span_id\":\"eee19b7ec3c1b174\","
     "\"flags\":1,\"dropped_attributes_count\":1,\"severity_text\":\"Warning\",\"severity_number\":"
     "13,"
     "\"event_name\":\"disk.low\",\"observed_timestamp\":\"2023-11-14T22:13:21.000000000Z\"}}]",
     0, ""},
    {"snake_case keys",
     "{\"resource_logs\":[{\"scope_logs\":[{\"log_records\":[{\"time_unix_nano\":1000,"
     "\"severity_number\":\"SEVERITY_NUMBER_ERROR2\",\"severity_text\":\"E\",\"trace_id\":"
     "\"000102030405060708090a0b0c0d0e0f\",\"span_id\":\"0001020304050607\",\"event_name\":\"e\","
     "\"dropped_attributes_count\":3,\"body\":{\"int_value\":\"42\"}}]}]}]}",
     0,
     "[{\"timestamp\":\"1970-01-01T00:00:00.000001000Z\",\"level\":\"ERROR\",\"type\":\"otlp\","
     "\"message\":\"42\",\"metadata\":{\"trace_id\":\"000102030405060708090a0b0c0d0e0f\","
     "\"span_id\":\"0001020304050607\",\"dropped_attributes_count\":3,\"severity_text\":\"E\","
     "\"severity_number\":18,\"event_name\":\"e\"}}]",
     0, ""},
    {"observed time when time is 0; no severity, no body",
     RL("{\"timeUnixNano\":\"0\",\"observedTimeUnixNano\":\"86400000000000\"}"), 0,
     "[{\"timestamp\":\"1970-01-02T00:00:00.000000000Z\",\"type\":\"otlp\",\"metadata\":{"
     "\"observed_timestamp\":\"1970-01-02T00:00:00.000000000Z\"}}]",
     0, ""},
    {"no time at all: no timestamp", RL("{}"), 0, "[{\"type\":\"otlp\",\"metadata\":{}}]", 0, ""},
    {"severity text only, known", RL("{\"severityText\":\"error\"}"), 0,
     "[{\"level\":\"ERROR\",\"type\":\"otlp\",\"metadata\":{\"severity_text\":\"error\"}}]", 0, ""},
    {"severity text only, unknown: kept", RL("{\"severityText\":\"chatty\"}"), 0,
     "[{\"level\":\"chatty\",\"type\":\"otlp\",\"metadata\":{\"severity_text\":\"chatty\"}}]", 0,
     ""},
    {"number wins over text", RL("{\"severityNumber\":21,\"severityText\":\"debug\"}"), 0,
     "[{\"level\":\"FATAL\",\"type\":\"otlp\",\"metadata\":{\"severity_text\":\"debug\","
     "\"severity_number\":21}}]",
     0, ""},
    {"number out of range: text decides", RL("{\"severityNumber\":99,\"severityText\":\"info\"}"),
     0,
     "[{\"level\":\"INFO\",\"type\":\"otlp\",\"metadata\":{\"severity_text\":\"info\","
     "\"severity_number\":99}}]",
     0, ""},
    {"TRACE 1-4 and DEBUG 5",
     RL("{\"severityNumber\":4},{\"severityNumber\":\"SEVERITY_NUMBER_DEBUG\"}"), 0,
     "[{\"level\":\"TRACE\",\"type\":\"otlp\",\"metadata\":{\"severity_number\":4}},"
     "{\"level\":\"DEBUG\",\"type\":\"otlp\",\"metadata\":{\"severity_number\":5}}]",
     0, ""},
    {"non-string body -> JSON text",
     RL("{\"body\":{\"kvlistValue\":{\"values\":[{\"key\":\"a\",\"value\":{\"arrayValue\":{"
        "\"values\":"
        "[{\"doubleValue\":\"NaN\"},{\"boolValue\":true}]}}}]}}}"),
     0, "[{\"type\":\"otlp\",\"message\":\"{\\\"a\\\":[null,true]}\",\"metadata\":{}}]", 0, ""},
    {"bytes body, URL-safe base64 without padding, re-encoded",
     RL("{\"body\":{\"bytesValue\":\"-_8\"}}"), 0,
     "[{\"type\":\"otlp\",\"message\":\"\\\"+/8=\\\"\",\"metadata\":{}}]", 0, ""},
    {"empty request", "{}", 0, "[]", 0, ""},
    {"empty resourceLogs", "{\"resourceLogs\":[]}", 0, "[]", 0, ""},
    {"unknown fields ignored",
     "{\"x\":1,\"resourceLogs\":[{\"y\":[],\"scopeLogs\":[{\"z\":{},"
     "\"logRecords\":[{\"w\":true}]}]}]}",
     0, "[{\"type\":\"otlp\",\"metadata\":{}}]", 0, ""},
    {"NUL and control characters in strings",
     RL("{\"body\":{\"stringValue\":\"a\\u0000b\\u0001\"}}"), 0,
     "[{\"type\":\"otlp\",\"message\":\"a\\u0000b\\u0001\",\"metadata\":{}}]", 0, ""},
    /* invalid */
    {"syntax error", "{\"resourceLogs\":[", -EINVAL, NULL, 0, "JSON:"},
    {"root is an array", "[]", -EINVAL, NULL, 0, "not an ExportLogsServiceRequest"},
    {"resourceLogs not an array", "{\"resourceLogs\":{}}", -EINVAL, NULL, 0,
     "resourceLogs: not an array"},
    {"a LogRecord not an object", RL("{},3"), -EINVAL, NULL, 0, "logRecords[1]: not an object"},
    {"traceId of 30 digits", RL("{\"traceId\":\"5b8efff798038103d269b633813fc6\"}"), -EINVAL, NULL,
     0, "resourceLogs[0].scopeLogs[0].logRecords[0].traceId: not 32 hex digits"},
    {"spanId not hex", RL("{\"spanId\":\"eee19b7ec3c1b17g\"}"), -EINVAL, NULL, 0,
     "spanId: not 16 hex digits"},
    {"timeUnixNano negative", RL("{\"timeUnixNano\":-1}"), -EINVAL, NULL, 0, "timeUnixNano"},
    {"timeUnixNano not digits", RL("{\"timeUnixNano\":\"12x\"}"), -EINVAL, NULL, 0, "timeUnixNano"},
    {"intValue not an integer", RL("{\"body\":{\"intValue\":\"1.5\"}}"), -EINVAL, NULL, 0, "body"},
    {"intValue over int64", RL("{\"body\":{\"intValue\":\"9223372036854775808\"}}"), -EINVAL, NULL,
     0, "64-bit"},
    {"stringValue a number", RL("{\"body\":{\"stringValue\":1}}"), -EINVAL, NULL, 0,
     "stringValue is not"},
    {"AnyValue a string", RL("{\"attributes\":[{\"key\":\"k\",\"value\":\"v\"}]}"), -EINVAL, NULL,
     0, "attributes: an AnyValue is not an object"},
    {"bytesValue not base64", RL("{\"body\":{\"bytesValue\":\"a*==\"}}"), -EINVAL, NULL, 0,
     "base64"},
    {"severityNumber unknown name", RL("{\"severityNumber\":\"SEVERITY_NUMBER_LOUD\"}"), -EINVAL,
     NULL, 0, "severityNumber"},
    {"flags over 32 bits", RL("{\"flags\":4294967296}"), -EINVAL, NULL, 0, "flags"},
    {"scope not an object", "{\"resourceLogs\":[{\"scopeLogs\":[{\"scope\":1}]}]}", -EINVAL, NULL,
     0, "scopeLogs[0].scope: not an object"},
    {"invalid UTF-8",
     "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"severityText\":\"\xff\"}]}]}]}",
     -EINVAL, NULL, 0, "JSON:"},
};

static void test_json_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(JSON_CASES); i++) {
        const json_case_t *c = &JSON_CASES[i];
        otlp_result_t out;
        int rc = otlp_decode(c->body, strlen(c->body), OTLP_ENC_JSON, &LIM, &out);
        fprintf(stderr, "json case: %s -> %d %s\n", c->name, rc, out.error);
        assert_int_equal(rc, c->rc);
        assert_non_null(strstr(out.error, c->error));
        if (rc) {
            assert_null(out.ndjson);
            assert_int_equal(out.records, 0);
        } else {
            assert_int_equal(out.rejected, c->rejected);
            expect_records(&out, c->want);
        }
        otlp_result_free(&out);
    }
}

/* The record is written in our field order: timestamp, level, source, type, message. */
static void test_field_order(void **state)
{
    (void)state;
    const char *body =
        "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
        "\"value\":{\"stringValue\":\"s\"}}]},\"scopeLogs\":[{\"logRecords\":[{"
        "\"timeUnixNano\":1,\"severityNumber\":9,\"body\":{\"stringValue\":\"m\"}}]}]}]}";
    otlp_result_t out;
    assert_int_equal(otlp_decode(body, strlen(body), OTLP_ENC_JSON, &LIM, &out), 0);
    const char *want = "{\"timestamp\":\"1970-01-01T00:00:00.000000001Z\",\"level\":\"INFO\","
                       "\"source\":\"s\",\"type\":\"otlp\",\"message\":\"m\",\"metadata\":{"
                       "\"resource\":{\"service.name\":\"s\"},\"severity_number\":9}}\n";
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.ndjson, want, out.len);
    otlp_result_free(&out);
}

/* AnyValue nesting: OTLP_MAX_VALUE_DEPTH levels pass, one more is refused. */
static char *nested_json(int levels)
{
    size_t cap = (size_t)levels * 64 + 256;
    char *s = malloc(cap), *p = s;
    p += sprintf(p, "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":");
    for (int i = 1; i < levels; i++)
        p += sprintf(p, "{\"arrayValue\":{\"values\":[");
    p += sprintf(p, "{\"intValue\":1}");
    for (int i = 1; i < levels; i++)
        p += sprintf(p, "]}}");
    sprintf(p, "}]}]}]}");
    return s;
}

static void test_json_nesting(void **state)
{
    (void)state;
    otlp_result_t out;
    char *ok = nested_json(OTLP_MAX_VALUE_DEPTH), *bad = nested_json(OTLP_MAX_VALUE_DEPTH + 1);
    assert_int_equal(otlp_decode(ok, strlen(ok), OTLP_ENC_JSON, &LIM, &out), 0);
    assert_int_equal(out.records, 1);
    otlp_result_free(&out);
    assert_int_equal(otlp_decode(bad, strlen(bad), OTLP_ENC_JSON, &LIM, &out), -EINVAL);
    assert_non_null(strstr(out.error, "nested deeper"));
    free(ok);
    free(bad);
}

/* ---- protobuf --------------------------------------------------------------- */

typedef Opentelemetry__Proto__Common__V1__AnyValue any_t;
typedef Opentelemetry__Proto__Common__V1__KeyValue kv_t;
typedef Opentelemetry__Proto__Logs__V1__LogRecord rec_t;

/* Everything a builder allocates, freed after the case. */
static void *arena[4096];
static size_t narena;

static void *A(size_t n)
{
    assert_true(narena < N(arena));
    void *p = calloc(1, n);
    assert_non_null(p);
    return arena[narena++] = p;
}

static void arena_free(void)
{
    while (narena)
        free(arena[--narena]);
}

static any_t *v_str(const char *s)
{
    any_t *v = A(sizeof *v);
    opentelemetry__proto__common__v1__any_value__init(v);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = (char *)s;
    return v;
}

static any_t *v_int(int64_t i)
{
    any_t *v = A(sizeof *v);
    opentelemetry__proto__common__v1__any_value__init(v);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    v->int_value = i;
    return v;
}

static any_t *v_dbl(double x)
{
    any_t *v = A(sizeof *v);
    opentelemetry__proto__common__v1__any_value__init(v);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
    v->double_value = x;
    return v;
}

static any_t *v_bool(int b)
{
    any_t *v = A(sizeof *v);
    opentelemetry__proto__common__v1__any_value__init(v);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
    v->bool_value = b;
    return v;
}

static any_t *v_bytes(const char *b, size_t n)
{
    any_t *v = A(sizeof *v);
    opentelemetry__proto__common__v1__any_value__init(v);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE;
    v->bytes_value.data = (uint8_t *)b;
    v->bytes_value.len = n;
    return v;
}

static any_t *v_arr(size_t n, any_t **items)
{
    any_t *v = A(sizeof *v);
    Opentelemetry__Proto__Common__V1__ArrayValue *a = A(sizeof *a);
    opentelemetry__proto__common__v1__any_value__init(v);
    opentelemetry__proto__common__v1__array_value__init(a);
    a->n_values = n;
    a->values = A(n * sizeof *items + 1);
    memcpy(a->values, items, n * sizeof *items);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
    v->array_value = a;
    return v;
}

static kv_t *kv(const char *k, any_t *v)
{
    kv_t *p = A(sizeof *p);
    opentelemetry__proto__common__v1__key_value__init(p);
    p->key = (char *)k;
    p->value = v;
    return p;
}

static any_t *v_kvl(size_t n, kv_t **items)
{
    any_t *v = A(sizeof *v);
    Opentelemetry__Proto__Common__V1__KeyValueList *l = A(sizeof *l);
    opentelemetry__proto__common__v1__any_value__init(v);
    opentelemetry__proto__common__v1__key_value_list__init(l);
    l->n_values = n;
    l->values = A(n * sizeof *items + 1);
    memcpy(l->values, items, n * sizeof *items);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
    v->kvlist_value = l;
    return v;
}

static rec_t *rec(void)
{
    rec_t *r = A(sizeof *r);
    opentelemetry__proto__logs__v1__log_record__init(r);
    return r;
}

/* A request of one ResourceLogs (resource attrs, scope) with these records; packed. */
static uint8_t *pack_req(kv_t **res_attrs, size_t n_res, const char *scope_name, size_t nrec,
                         rec_t **recs, size_t *len)
{
    Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_SERVICE_REQUEST__INIT;
    Opentelemetry__Proto__Logs__V1__ResourceLogs rl =
        OPENTELEMETRY__PROTO__LOGS__V1__RESOURCE_LOGS__INIT;
    Opentelemetry__Proto__Logs__V1__ResourceLogs *rls[1] = {&rl};
    Opentelemetry__Proto__Resource__V1__Resource res =
        OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    Opentelemetry__Proto__Logs__V1__ScopeLogs sl = OPENTELEMETRY__PROTO__LOGS__V1__SCOPE_LOGS__INIT;
    Opentelemetry__Proto__Logs__V1__ScopeLogs *sls[1] = {&sl};
    Opentelemetry__Proto__Common__V1__InstrumentationScope sc =
        OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    req.n_resource_logs = 1;
    req.resource_logs = rls;
    if (n_res) {
        res.n_attributes = n_res;
        res.attributes = res_attrs;
        rl.resource = &res;
    }
    rl.n_scope_logs = 1;
    rl.scope_logs = sls;
    if (scope_name) {
        sc.name = (char *)scope_name;
        sc.version = "9";
        sl.scope = &sc;
    }
    sl.n_log_records = nrec;
    sl.log_records = recs;
    *len = opentelemetry__proto__collector__logs__v1__export_logs_service_request__get_packed_size(
        &req);
    uint8_t *buf = A(*len + 1);
    opentelemetry__proto__collector__logs__v1__export_logs_service_request__pack(&req, buf);
    return buf;
}

static const uint8_t TRACE[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                                  0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};
static const uint8_t SPAN[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74};

typedef struct {
    const char *name;
    uint8_t *(*build)(size_t *len);
    int rc;
    const char *want;
    size_t rejected;
    const char *error;
    otlp_limits_t lim;
} pb_case_t;

static uint8_t *b_full(size_t *len)
{
    kv_t *res[] = {kv("service.name", v_str("checkout")), kv("host.name", v_str("h1"))};
    rec_t *r = rec();
    r->time_unix_nano = 1700000000123456789ull;
    r->observed_time_unix_nano = 1700000001000000000ull;
    r->severity_number = 17;
    r->severity_text = "Err";
    r->body = v_str("disk \"low\"");
    any_t *items[] = {v_int(1), v_str("x"), v_dbl(0.5)};
    kv_t *inner[] = {kv("in", v_bool(1))};
    kv_t *attrs[] = {kv("i", v_int(-5)),         kv("b", v_bool(0)),
                     kv("arr", v_arr(3, items)), kv("kv", v_kvl(1, inner)),
                     kv("by", v_bytes("hi", 2)), kv("none", NULL)};
    r->n_attributes = N(attrs);
    r->attributes = attrs;
    r->trace_id = (ProtobufCBinaryData){16, (uint8_t *)TRACE};
    r->span_id = (ProtobufCBinaryData){8, (uint8_t *)SPAN};
    r->flags = 1;
    r->dropped_attributes_count = 4;
    r->event_name = "ev";
    rec_t *recs[] = {r};
    return pack_req(res, N(res), "lib", 1, recs, len);
}

static uint8_t *b_times(size_t *len)
{
    rec_t *a = rec(), *b = rec(), *c = rec();
    a->observed_time_unix_nano = 1000000000ull; /* time 0: observed */
    b->time_unix_nano = 2000000000ull;          /* time wins */
    b->observed_time_unix_nano = 1000000000ull;
    (void)c; /* neither: no timestamp */
    rec_t *recs[] = {a, b, c};
    return pack_req(NULL, 0, NULL, 3, recs, len);
}

static uint8_t *b_far_times(size_t *len)
{
    rec_t *a = rec(), *b = rec();
    a->time_unix_nano = UINT64_MAX; /* past 2262: kept as a string, observed time used */
    a->observed_time_unix_nano = 3000000000ull;
    b->observed_time_unix_nano = 9223372036854775808ull;
    rec_t *recs[] = {a, b};
    return pack_req(NULL, 0, NULL, 2, recs, len);
}

static uint8_t *b_body_kinds(size_t *len)
{
    rec_t *a = rec(), *b = rec(), *c = rec(), *d = rec();
    kv_t *kvs[] = {kv("a", v_int(1))};
    a->body = v_kvl(1, kvs);
    b->body = v_bytes("\0\xff", 2);
    c->body = v_dbl(1.0 / 0.0); /* not finite: null */
    d->body = v_str("");
    rec_t *recs[] = {a, b, c, d};
    return pack_req(NULL, 0, NULL, 4, recs, len);
}

static uint8_t *b_levels(size_t *len)
{
    rec_t *a = rec(), *b = rec(), *c = rec();
    a->severity_number = 24;
    b->severity_text = "WARNING";
    c->severity_text = "noisy";
    rec_t *recs[] = {a, b, c};
    return pack_req(NULL, 0, NULL, 3, recs, len);
}

static uint8_t *b_service_not_string(size_t *len)
{
    kv_t *res[] = {kv("service.name", v_int(3))};
    rec_t *r = rec();
    rec_t *recs[] = {r};
    return pack_req(res, 1, NULL, 1, recs, len);
}

static uint8_t *b_big_record(size_t *len)
{
    static char big[3000];
    memset(big, 'x', sizeof big - 1);
    rec_t *a = rec(), *b = rec(), *c = rec();
    a->body = v_str("small");
    b->body = v_str(big);
    c->body = v_str("small too");
    rec_t *recs[] = {a, b, c};
    return pack_req(NULL, 0, NULL, 3, recs, len);
}

static uint8_t *b_deep_record(size_t *len)
{
    /* attributes.k = [[1]]: record(1) metadata(2) attributes(3) [ (4) [ (5) */
    any_t *one[] = {v_int(1)};
    any_t *mid[] = {v_arr(1, one)};
    kv_t *attrs[] = {kv("k", v_arr(1, mid))};
    rec_t *a = rec(), *b = rec();
    a->n_attributes = 1;
    a->attributes = attrs;
    b->body = v_str("flat");
    rec_t *recs[] = {a, b};
    return pack_req(NULL, 0, NULL, 2, recs, len);
}

static uint8_t *b_many(size_t *len)
{
    rec_t *recs[5];
    for (size_t i = 0; i < 5; i++)
        recs[i] = rec();
    return pack_req(NULL, 0, NULL, 5, recs, len);
}

static uint8_t *b_bad_trace(size_t *len)
{
    rec_t *a = rec(), *b = rec();
    b->trace_id = (ProtobufCBinaryData){15, (uint8_t *)TRACE};
    rec_t *recs[] = {a, b};
    return pack_req(NULL, 0, NULL, 2, recs, len);
}

static uint8_t *b_bad_span(size_t *len)
{
    rec_t *a = rec();
    a->span_id = (ProtobufCBinaryData){16, (uint8_t *)TRACE};
    rec_t *recs[] = {a};
    return pack_req(NULL, 0, NULL, 1, recs, len);
}

static any_t *nest(int levels)
{
    any_t *v = v_int(7);
    for (int i = 1; i < levels; i++) {
        any_t *items[] = {v};
        v = v_arr(1, items);
    }
    return v;
}

static uint8_t *b_nest_ok(size_t *len)
{
    rec_t *a = rec();
    a->body = nest(OTLP_MAX_VALUE_DEPTH);
    rec_t *recs[] = {a};
    return pack_req(NULL, 0, NULL, 1, recs, len);
}

static uint8_t *b_nest_bad(size_t *len)
{
    rec_t *a = rec();
    a->body = nest(OTLP_MAX_VALUE_DEPTH + 1);
    rec_t *recs[] = {a};
    return pack_req(NULL, 0, NULL, 1, recs, len);
}

static uint8_t *b_nul_string(size_t *len)
{
    static const char s[] = {'a', 0, 'b'};
    rec_t *a = rec();
    a->body = v_bytes(s, 3);
    rec_t *recs[] = {a};
    uint8_t *p = pack_req(NULL, 0, NULL, 1, recs, len);
    /* turn the bytesValue (field 7, wire type 2: 0x3a) into a stringValue (field 1: 0x0a) */
    uint8_t *t = memchr(p, 0x3a, *len);
    assert_non_null(t);
    *t = 0x0a;
    return p;
}

static uint8_t *b_garbage(size_t *len)
{
    static uint8_t g[] = {0x0a, 0x05, 0xff, 0xff};
    *len = sizeof g;
    return g;
}

static uint8_t *b_bad_tag(size_t *len)
{
    static uint8_t g[] = {0x00, 0x01};
    *len = sizeof g;
    return g;
}

static uint8_t *b_group(size_t *len)
{
    static uint8_t g[] = {0x0b, 0x0c};
    *len = sizeof g;
    return g;
}

static uint8_t *b_wrong_wire_type(size_t *len)
{
    /* resource_logs (field 1) as a varint: the walk skips it, protobuf-c refuses it */
    static uint8_t g[] = {0x08, 0x01};
    *len = sizeof g;
    return g;
}

static uint8_t *b_empty(size_t *len)
{
    *len = 0;
    return (uint8_t *)"";
}

static uint8_t *b_unknown_fields(size_t *len)
{
    /* field 99 (varint) at the top, then an empty ResourceLogs */
    static uint8_t g[] = {0x98, 0x06, 0x01, 0x0a, 0x00};
    *len = sizeof g;
    return g;
}

#define LIMS(recs, bytes, depth)                                                                   \
    {                                                                                              \
        recs, bytes, depth                                                                         \
    }

static const pb_case_t PB_CASES[] = {
    {"full mapping", b_full, 0,
     "[{\"timestamp\":\"2023-11-14T22:13:20.123456789Z\",\"level\":\"ERROR\",\"source\":"
     "\"checkout\","
     "\"type\":\"otlp\",\"message\":\"disk \\\"low\\\"\",\"metadata\":{"
     "\"attributes\":{\"i\":-5,\"b\":false,\"arr\":[1,\"x\",0.5],\"kv\":{\"in\":true},\"by\":\"aGk="
     "\","
     "\"none\":null},\"resource\":{\"service.name\":\"checkout\",\"host.name\":\"h1\"},"
     "\"scope\":{\"name\":\"lib\",\"version\":\"9\"},"
     "\"trace_id\":\"5b8efff798038103d269b633813fc60c\",\"span_id\":\"eee19b7ec3c1b174\",\"flags\":"
     "1,"
     "\"dropped_attributes_count\":4,\"severity_text\":\"Err\",\"severity_number\":17,"
     "\"event_name\":\"ev\",\"observed_timestamp\":\"2023-11-14T22:13:21.000000000Z\"}}]",
     0, "", LIMS(1000, 65536, 64)},
    {"times", b_times, 0,
     "[{\"timestamp\":\"1970-01-01T00:00:01.000000000Z\",\"type\":\"otlp\",\"metadata\":{"
     "\"observed_timestamp\":\"1970-01-01T00:00:01.000000000Z\"}},"
     "{\"timestamp\":\"1970-01-01T00:00:02.000000000Z\",\"type\":\"otlp\",\"metadata\":{"
     "\"observed_timestamp\":\"1970-01-01T00:00:01.000000000Z\"}},"
     "{\"type\":\"otlp\",\"metadata\":{}}]",
     0, "", LIMS(1000, 65536, 64)},
    {"times past 2262", b_far_times, 0,
     "[{\"timestamp\":\"1970-01-01T00:00:03.000000000Z\",\"type\":\"otlp\",\"metadata\":{"
     "\"time_unix_nano\":\"18446744073709551615\","
     "\"observed_timestamp\":\"1970-01-01T00:00:03.000000000Z\"}},"
     "{\"type\":\"otlp\",\"metadata\":{\"observed_time_unix_nano\":\"9223372036854775808\"}}]",
     0, "", LIMS(1000, 65536, 64)},
    {"body kinds", b_body_kinds, 0,
     "[{\"type\":\"otlp\",\"message\":\"{\\\"a\\\":1}\",\"metadata\":{}},"
     "{\"type\":\"otlp\",\"message\":\"\\\"AP8=\\\"\",\"metadata\":{}},"
     "{\"type\":\"otlp\",\"message\":\"null\",\"metadata\":{}},"
     "{\"type\":\"otlp\",\"message\":\"\",\"metadata\":{}}]",
     0, "", LIMS(1000, 65536, 64)},
    {"levels", b_levels, 0,
     "[{\"level\":\"FATAL\",\"type\":\"otlp\",\"metadata\":{\"severity_number\":24}},"
     "{\"level\":\"WARN\",\"type\":\"otlp\",\"metadata\":{\"severity_text\":\"WARNING\"}},"
     "{\"level\":\"noisy\",\"type\":\"otlp\",\"metadata\":{\"severity_text\":\"noisy\"}}]",
     0, "", LIMS(1000, 65536, 64)},
    {"service.name not a string: no source", b_service_not_string, 0,
     "[{\"type\":\"otlp\",\"metadata\":{\"resource\":{\"service.name\":3}}}]", 0, "",
     LIMS(1000, 65536, 64)},
    {"one record over max-record-bytes", b_big_record, 0,
     "[{\"type\":\"otlp\",\"message\":\"small\",\"metadata\":{}},"
     "{\"type\":\"otlp\",\"message\":\"small too\",\"metadata\":{}}]",
     1, "resourceLogs[0].scopeLogs[0].logRecords[1]: record larger than max-record-bytes (2048)",
     LIMS(1000, 2048, 64)},
    {"one record deeper than max-depth", b_deep_record, 0,
     "[{\"type\":\"otlp\",\"message\":\"flat\",\"metadata\":{}}]", 1,
     "logRecords[0]: record nests deeper than max-depth (4)", LIMS(1000, 65536, 4)},
    {"depth at the limit passes", b_deep_record, 0,
     "[{\"type\":\"otlp\",\"metadata\":{\"attributes\":{\"k\":[[1]]}}},"
     "{\"type\":\"otlp\",\"message\":\"flat\",\"metadata\":{}}]",
     0, "", LIMS(1000, 65536, 5)},
    {"too many records", b_many, -E2BIG, NULL, 0, "more than 4 log records", LIMS(4, 65536, 64)},
    {"as many records as allowed", b_many, 0,
     "[{\"type\":\"otlp\",\"metadata\":{}},{\"type\":\"otlp\",\"metadata\":{}},{\"type\":\"otlp\","
     "\"metadata\":{}},{\"type\":\"otlp\",\"metadata\":{}},{\"type\":\"otlp\",\"metadata\":{}}]",
     0, "", LIMS(5, 65536, 64)},
    {"traceId of 15 bytes", b_bad_trace, -EINVAL, NULL, 0,
     "resourceLogs[0].scopeLogs[0].logRecords[1].traceId: 15 bytes, not 16", LIMS(1000, 65536, 64)},
    {"spanId of 16 bytes", b_bad_span, -EINVAL, NULL, 0, "spanId: 16 bytes, not 8",
     LIMS(1000, 65536, 64)},
    {"nesting at the limit", b_nest_ok, 0, NULL, 0, "", LIMS(1000, 65536, 64)},
    {"nesting past the limit", b_nest_bad, -EINVAL, NULL, 0, "AnyValue nested deeper than 32",
     LIMS(1000, 65536, 64)},
    {"NUL inside a string", b_nul_string, -EINVAL, NULL, 0, "NUL", LIMS(1000, 65536, 64)},
    {"length past the end", b_garbage, -EINVAL, NULL, 0, "bad length at byte 0",
     LIMS(1000, 65536, 64)},
    {"field number 0", b_bad_tag, -EINVAL, NULL, 0, "bad field tag", LIMS(1000, 65536, 64)},
    {"group wire type", b_group, -EINVAL, NULL, 0, "wire type 3", LIMS(1000, 65536, 64)},
    {"wrong wire type", b_wrong_wire_type, -EINVAL, NULL, 0, "not a valid ExportLogsServiceRequest",
     LIMS(1000, 65536, 64)},
    {"empty body", b_empty, 0, "[]", 0, "", LIMS(1000, 65536, 64)},
    {"unknown fields skipped", b_unknown_fields, 0, "[]", 0, "", LIMS(1000, 65536, 64)},
};

static void test_protobuf_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(PB_CASES); i++) {
        const pb_case_t *c = &PB_CASES[i];
        size_t len;
        uint8_t *body = c->build(&len);
        otlp_result_t out;
        int rc = otlp_decode(body, len, OTLP_ENC_PROTOBUF, &c->lim, &out);
        fprintf(stderr, "protobuf case: %s -> %d %s\n", c->name, rc, out.error);
        assert_int_equal(rc, c->rc);
        assert_non_null(strstr(out.error, c->error));
        if (rc) {
            assert_null(out.ndjson);
        } else {
            assert_int_equal(out.rejected, c->rejected);
            if (c->want)
                expect_records(&out, c->want);
            else
                assert_int_equal(out.records, 1);
        }
        otlp_result_free(&out);
        arena_free();
    }
}

/* Every prefix of a valid request is refused or decoded, never read past its end
 * (ASan checks the reads: each prefix is an exact-size copy). */
static void test_protobuf_truncations(void **state)
{
    (void)state;
    size_t len;
    uint8_t *full = b_full(&len);
    for (size_t n = 0; n < len; n++) {
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, full, n);
        otlp_result_t out;
        int rc = otlp_decode(cut, n, OTLP_ENC_PROTOBUF, &LIM, &out);
        assert_true(rc == 0 || rc == -EINVAL);
        otlp_result_free(&out);
        free(cut);
    }
    arena_free();
}

/* The same request in both encodings gives the same records. */
static void test_encodings_agree(void **state)
{
    (void)state;
    size_t len;
    uint8_t *pb = b_full(&len);
    const char *js =
        "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
        "{\"stringValue\":\"checkout\"}},{\"key\":\"host.name\",\"value\":{\"stringValue\":\"h1\"}}"
        "]},"
        "\"scopeLogs\":[{\"scope\":{\"name\":\"lib\",\"version\":\"9\"},\"logRecords\":[{"
        "\"timeUnixNano\":\"1700000000123456789\",\"observedTimeUnixNano\":\"1700000001000000000\","
        "\"severityNumber\":17,\"severityText\":\"Err\",\"body\":{\"stringValue\":\"disk "
        "\\\"low\\\"\"},"
        "\"attributes\":[{\"key\":\"i\",\"value\":{\"intValue\":\"-5\"}},{\"key\":\"b\",\"value\":"
        "{\"boolValue\":false}},{\"key\":\"arr\",\"value\":{\"arrayValue\":{\"values\":[{"
        "\"intValue\":1},"
        "{\"stringValue\":\"x\"},{\"doubleValue\":0.5}]}}},{\"key\":\"kv\",\"value\":{"
        "\"kvlistValue\":"
        "{\"values\":[{\"key\":\"in\",\"value\":{\"boolValue\":true}}]}}},{\"key\":\"by\","
        "\"value\":"
        "{\"bytesValue\":\"aGk=\"}},{\"key\":\"none\"}],\"traceId\":"
        "\"5b8efff798038103d269b633813fc60c\","
        "\"spanId\":\"eee19b7ec3c1b174\",\"flags\":1,\"droppedAttributesCount\":4,\"eventName\":"
        "\"ev\"}]}]}]}";
    otlp_result_t a, b;
    assert_int_equal(otlp_decode(pb, len, OTLP_ENC_PROTOBUF, &LIM, &a), 0);
    assert_int_equal(otlp_decode(js, strlen(js), OTLP_ENC_JSON, &LIM, &b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.ndjson, b.ndjson, a.len);
    otlp_result_free(&a);
    otlp_result_free(&b);
    arena_free();
}

/* --max-record-bytes at its exact boundary: a record of L bytes passes with L, is
 * refused alone with L - 1 (the ingest scanner's own rule: longer than the limit). */
static void test_record_size_boundary(void **state)
{
    (void)state;
    const char *body = RL("{\"body\":{\"stringValue\":\"0123456789\"},\"severityNumber\":9}");
    otlp_result_t out;
    assert_int_equal(otlp_decode(body, strlen(body), OTLP_ENC_JSON, &LIM, &out), 0);
    size_t rec = out.len - 1; /* without its newline */
    otlp_result_free(&out);
    otlp_limits_t lim = {10, rec, 64};
    assert_int_equal(otlp_decode(body, strlen(body), OTLP_ENC_JSON, &lim, &out), 0);
    assert_int_equal(out.records, 1);
    assert_int_equal(out.rejected, 0);
    assert_int_equal(out.len, rec + 1);
    otlp_result_free(&out);
    lim.max_record_bytes = rec - 1;
    assert_int_equal(otlp_decode(body, strlen(body), OTLP_ENC_JSON, &lim, &out), 0);
    assert_int_equal(out.records, 0);
    assert_int_equal(out.rejected, 1);
    assert_null(out.ndjson);
    assert_non_null(strstr(out.error, "larger than max-record-bytes"));
    otlp_result_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_table),           cmocka_unit_test(test_field_order),
        cmocka_unit_test(test_json_nesting),         cmocka_unit_test(test_protobuf_table),
        cmocka_unit_test(test_protobuf_truncations), cmocka_unit_test(test_encodings_agree),
        cmocka_unit_test(test_record_size_boundary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
