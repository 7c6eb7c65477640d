/*
 * test_bulk_parse.c - cmocka tests for src/proto/bulk_parse.c, table-driven:
 *   - structure: actions and their meta fields, missing source lines,
 *     delete/update refused per item, bad JSON, CRLF, a last line without
 *     '\n', blank lines, huge lines, limits (items, record bytes, depth,
 *     action bytes), whole-request failures that take nothing;
 *   - mapping, case by case (docs/PROTOCOLS.md): the exact
 *     record each document becomes;
 *   - invariants on every case: each record line is one JSON object that
 *     jansson parses without duplicate keys, and that the ingest scanner
 *     takes with the same limits; the item count and taken count agree.
 */
#include <errno.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "proto/bulk_parse.h"
#include "record/scan.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Every record line parses as an object (without duplicate keys unless
 * dups_ok: a document's own duplicates are kept), and the ingest scanner
 * takes the whole NDJSON with the limits used. jansson cannot hold numbers
 * beyond 64 bits / doubles: those lines are left to the scanner. */
static void check_records_dups(const bulk_result_t *r, const bulk_limits_t *lim, bool dups_ok)
{
    size_t lines = 0;
    const char *p = r->records, *end = r->records + r->records_len;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        json_error_t e;
        json_t *j = json_loadb(p, (size_t)(nl - p), dups_ok ? 0 : JSON_REJECT_DUPLICATES, &e);
        if (!json_is_object(j) && !strstr(e.text, "too big") && !strstr(e.text, "overflow"))
            fail_msg("record %zu not an object: %s", lines, e.text);
        json_decref(j);
        lines++;
        p = nl + 1;
    }
    assert_int_equal(lines, r->taken);
    scan_limits_t sl = {.max_depth = lim ? lim->max_depth : 0, .max_records = 0,
                        .max_record_bytes = lim ? lim->max_record_bytes : 0};
    scan_result_t s = {0};
    assert_int_equal(scan_body(r->records, r->records_len, SCAN_FORMAT_NDJSON, &sl, &s), SCAN_OK);
    assert_int_equal(s.count, r->taken);
    scan_result_free(&s);
}

static void check_records(const bulk_result_t *r, const bulk_limits_t *lim)
{
    check_records_dups(r, lim, false);
}

/* Item statuses as text: "0" taken, else the status, comma separated. */
static void statuses(const bulk_result_t *r, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = 0;
    for (size_t i = 0; i < r->count && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s%d", i ? "," : "",
                              bulk_op_name(r->items[i].op), r->items[i].status);
}

/* ---- structure ------------------------------------------------------------ */

typedef struct {
    const char *name, *body, *url_index;
    int rc;              /* bulk_parse's return */
    const char *items;   /* "index0,delete400" or NULL for a whole-request failure */
    const char *err_type; /* whole-request or first failed item's type, or NULL */
} shape_case_t;

static const shape_case_t shapes[] = {
    {"one index", "{\"index\":{\"_index\":\"a\"}}\n{\"m\":1}\n", NULL, 0, "index0", NULL},
    {"create", "{\"create\":{\"_index\":\"a\",\"_id\":\"x1\"}}\n{\"m\":1}\n", NULL, 0, "create0",
     NULL},
    {"url index", "{\"index\":{}}\n{\"m\":1}\n", "logs", 0, "index0", NULL},
    {"no index anywhere", "{\"index\":{}}\n{\"m\":1}\n", NULL, 0, "index400",
     "action_request_validation_exception"},
    {"meta fields tolerated",
     "{\"index\":{\"_index\":\"a\",\"routing\":\"r\",\"pipeline\":\"p\",\"require_alias\":false,"
     "\"if_seq_no\":3,\"dynamic_templates\":{}}}\n{\"m\":1}\n", NULL, 0, "index0", NULL},
    {"delete no source", "{\"delete\":{\"_index\":\"a\",\"_id\":\"1\"}}\n"
     "{\"index\":{\"_index\":\"a\"}}\n{\"m\":1}\n", NULL, 0, "delete400,index0",
     "illegal_argument_exception"},
    {"update has source", "{\"update\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"doc\":{\"x\":1}}\n"
     "{\"index\":{\"_index\":\"a\"}}\n{\"m\":1}\n", NULL, 0, "update400,index0",
     "illegal_argument_exception"},
    {"crlf", "{\"index\":{\"_index\":\"a\"}}\r\n{\"m\":1}\r\n", NULL, 0, "index0", NULL},
    {"no final newline", "{\"index\":{\"_index\":\"a\"}}\n{\"m\":1}", NULL, 0, "index0", NULL},
    {"blank lines", "\n\n{\"index\":{\"_index\":\"a\"}}\n  \n\t\r\n{\"m\":1}\n\n", NULL, 0,
     "index0", NULL},
    {"doc not object", "{\"index\":{\"_index\":\"a\"}}\n[1,2]\n{\"index\":{\"_index\":\"a\"}}\n"
     "{\"m\":1}\n", NULL, 0, "index400,index0", "mapper_parsing_exception"},
    {"doc bad json", "{\"index\":{\"_index\":\"a\"}}\n{\"m\":}\n", NULL, 0, "index400",
     "mapper_parsing_exception"},
    {"doc two values", "{\"index\":{\"_index\":\"a\"}}\n{\"m\":1} {}\n", NULL, 0, "index400",
     "mapper_parsing_exception"},
    {"doc bad utf8", "{\"index\":{\"_index\":\"a\"}}\n{\"m\":\"\xff\"}\n", NULL, 0, "index400",
     "mapper_parsing_exception"},
    {"doc string", "{\"index\":{\"_index\":\"a\"}}\n\"x\"\n", NULL, 0, "index400",
     "mapper_parsing_exception"},
    {"bad index name", "{\"index\":{\"_index\":\"Up\"}}\n{\"m\":1}\n", NULL, 0, "index400",
     "invalid_index_name_exception"},
    {"bad index char", "{\"index\":{\"_index\":\"a b\"}}\n{\"m\":1}\n", NULL, 0, "index400",
     "invalid_index_name_exception"},
    {"empty id", "{\"index\":{\"_index\":\"a\",\"_id\":\"\"}}\n{\"m\":1}\n", NULL, 0, "index400",
     "illegal_argument_exception"},
    /* whole-request failures */
    {"empty body", "", NULL, -EINVAL, NULL, "action_request_validation_exception"},
    {"only blanks", "\n \r\n\n", NULL, -EINVAL, NULL, "action_request_validation_exception"},
    {"not ndjson", "hello world", NULL, -EINVAL, NULL, "illegal_argument_exception"},
    {"action not object", "[1]\n{}\n", NULL, -EINVAL, NULL, "illegal_argument_exception"},
    {"action two keys", "{\"index\":{},\"create\":{}}\n{}\n", NULL, -EINVAL, NULL,
     "illegal_argument_exception"},
    {"unknown action", "{\"upsert\":{}}\n{}\n", NULL, -EINVAL, NULL,
     "illegal_argument_exception"},
    {"meta not object", "{\"index\":\"a\"}\n{}\n", NULL, -EINVAL, NULL,
     "illegal_argument_exception"},
    {"index not string", "{\"index\":{\"_index\":1}}\n{}\n", NULL, -EINVAL, NULL,
     "illegal_argument_exception"},
    {"id not string", "{\"index\":{\"_index\":\"a\",\"_id\":7}}\n{}\n", NULL, -EINVAL, NULL,
     "illegal_argument_exception"},
    {"missing source", "{\"index\":{\"_index\":\"a\"}}\n", NULL, -EINVAL, NULL,
     "illegal_argument_exception"},
    {"missing source later", "{\"index\":{\"_index\":\"a\"}}\n{}\n{\"create\":{}}\n", "x",
     -EINVAL, NULL, "illegal_argument_exception"},
    {"update missing source", "{\"update\":{\"_index\":\"a\",\"_id\":\"1\"}}\n", NULL, -EINVAL,
     NULL, "illegal_argument_exception"},
    {"duplicate meta key", "{\"index\":{\"_index\":\"a\",\"_index\":\"b\"}}\n{}\n", NULL,
     -EINVAL, NULL, "illegal_argument_exception"},
};

static void test_shapes(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(shapes); i++) {
        const shape_case_t *c = &shapes[i];
        bulk_result_t r = {0};
        int rc = bulk_parse(c->body, strlen(c->body), c->url_index, NULL, &r);
        if (rc != c->rc) fail_msg("%s: rc %d, expected %d (%s)", c->name, rc, c->rc, r.reason);
        if (rc) {
            assert_int_equal(r.count, 0);
            assert_null(r.records);
            assert_int_equal(r.taken, 0);
            if (strcmp(r.err_type, c->err_type))
                fail_msg("%s: type %s, expected %s", c->name, r.err_type, c->err_type);
            assert_true(r.status == 400 || r.status == 413);
            assert_true(r.reason[0]);
        } else {
            char got[512];
            statuses(&r, got, sizeof got);
            if (strcmp(got, c->items)) fail_msg("%s: items %s, expected %s", c->name, got, c->items);
            for (size_t k = 0; k < r.count; k++)
                if (r.items[k].status) {
                    if (strcmp(r.items[k].err_type, c->err_type))
                        fail_msg("%s: item type %s, expected %s", c->name, r.items[k].err_type,
                                 c->err_type);
                    assert_true(r.items[k].reason[0]);
                    break;
                }
            check_records(&r, NULL);
        }
        bulk_result_free(&r);
    }
}

/* ---- mapping ---------------------------------------------------------------- */

typedef struct {
    const char *name, *index, *doc, *record;
} map_case_t;

static const map_case_t maps[] = {
    {"index to type", "logs", "{\"message\":\"m\"}", "{\"message\":\"m\",\"type\":\"logs\"}"},
    {"own type kept", "logs", "{\"type\":\"t\"}", "{\"type\":\"t\"}"},
    {"own type not string kept", "logs", "{\"type\":{\"a\":1}}", "{\"type\":{\"a\":1}}"},
    {"empty doc", "logs", "{}", "{\"type\":\"logs\"}"},
    {"empty doc spaces", "logs", "{ \t}", "{ \t\"type\":\"logs\"}"},
    {"@timestamp string", "a", "{\"@timestamp\":\"2024-05-01T10:00:00.123Z\"}",
     "{\"@timestamp\":\"2024-05-01T10:00:00.123Z\",\"type\":\"a\","
     "\"timestamp\":\"2024-05-01T10:00:00.123Z\"}"},
    {"@timestamp epoch ms", "a", "{\"@timestamp\":1714557600123}",
     "{\"@timestamp\":1714557600123,\"type\":\"a\",\"timestamp\":\"2024-05-01T10:00:00.123Z\"}"},
    {"@timestamp epoch max", "a", "{\"@timestamp\":9223372036854}",
     "{\"@timestamp\":9223372036854,\"type\":\"a\",\"timestamp\":\"2262-04-11T23:47:16.854Z\"}"},
    {"@timestamp epoch past 2262", "a", "{\"@timestamp\":9223372036855}",
     "{\"@timestamp\":9223372036855,\"type\":\"a\"}"},
    {"@timestamp epoch 14 digits", "a", "{\"@timestamp\":17470615051400}",
     "{\"@timestamp\":17470615051400,\"type\":\"a\"}"},
    {"@timestamp negative epoch", "a", "{\"@timestamp\":-1000}",
     "{\"@timestamp\":-1000,\"type\":\"a\",\"timestamp\":\"1969-12-31T23:59:59.000Z\"}"},
    {"@timestamp float ignored", "a", "{\"@timestamp\":1.5}",
     "{\"@timestamp\":1.5,\"type\":\"a\"}"},
    {"own timestamp kept", "a", "{\"timestamp\":\"x\",\"@timestamp\":\"y\"}",
     "{\"timestamp\":\"x\",\"@timestamp\":\"y\",\"type\":\"a\"}"},
    {"level normalised in place", "a", "{\"level\":\"warning\",\"n\":1}",
     "{\"level\":\"WARN\",\"n\":1,\"type\":\"a\"}"},
    {"level already ours", "a", "{\"level\":\"ERROR\"}", "{\"level\":\"ERROR\",\"type\":\"a\"}"},
    {"level unknown kept", "a", "{\"level\":\"loud\"}", "{\"level\":\"loud\",\"type\":\"a\"}"},
    {"level escaped", "a", "{\"level\":\"\\u0065rr\"}", "{\"level\":\"ERROR\",\"type\":\"a\"}"},
    {"level number kept", "a", "{\"level\":3}", "{\"level\":3,\"type\":\"a\"}"},
    {"log.level dotted", "a", "{\"log.level\":\"info\"}",
     "{\"log.level\":\"info\",\"type\":\"a\",\"level\":\"INFO\"}"},
    {"log.level nested", "a", "{\"log\":{\"level\":\"Debug\",\"x\":[1]}}",
     "{\"log\":{\"level\":\"Debug\",\"x\":[1]},\"type\":\"a\",\"level\":\"DEBUG\"}"},
    {"log.level unknown", "a", "{\"log.level\":\"chatty\"}",
     "{\"log.level\":\"chatty\",\"type\":\"a\"}"},
    {"level wins over log.level", "a", "{\"level\":\"x\",\"log.level\":\"error\"}",
     "{\"level\":\"x\",\"log.level\":\"error\",\"type\":\"a\"}"},
    {"service.name dotted", "a", "{\"service.name\":\"api\"}",
     "{\"service.name\":\"api\",\"type\":\"a\",\"source\":\"api\"}"},
    {"service nested", "a", "{\"service\":{\"name\":\"api\"},\"host\":{\"name\":\"h\"}}",
     "{\"service\":{\"name\":\"api\"},\"host\":{\"name\":\"h\"},\"type\":\"a\",\"source\":\"api\"}"},
    {"host.name fallback", "a", "{\"host\":{\"name\":\"h1\"}}",
     "{\"host\":{\"name\":\"h1\"},\"type\":\"a\",\"source\":\"h1\"}"},
    {"host.name dotted", "a", "{\"host.name\":\"h2\",\"service\":{\"name\":5}}",
     "{\"host.name\":\"h2\",\"service\":{\"name\":5},\"type\":\"a\",\"source\":\"h2\"}"},
    {"own source kept", "a", "{\"source\":{\"ip\":\"1.2.3.4\"},\"service.name\":\"s\"}",
     "{\"source\":{\"ip\":\"1.2.3.4\"},\"service.name\":\"s\",\"type\":\"a\"}"},
    {"source escaped copied", "a", "{\"service.name\":\"a\\\"b\\u00e9\"}",
     "{\"service.name\":\"a\\\"b\\u00e9\",\"type\":\"a\",\"source\":\"a\\\"b\\u00e9\"}"},
    {"numbers untouched", "a", "{\"a\":0.1,\"b\":123456789012345678901234567890,\"c\":1e400}",
     "{\"a\":0.1,\"b\":123456789012345678901234567890,\"c\":1e400,\"type\":\"a\"}"},
    {"escaped key counts", "a", "{\"t\\u0079pe\":\"k\"}", "{\"t\\u0079pe\":\"k\"}"},
    {"duplicate level last wins", "a", "{\"level\":\"x\",\"level\":\"warn\"}",
     "{\"level\":\"x\",\"level\":\"WARN\",\"type\":\"a\"}"},
    {"strings with braces", "a", "{\"m\":\"}{\\\"level\\\":1\",\"n\":[\"]\"]}",
     "{\"m\":\"}{\\\"level\\\":1\",\"n\":[\"]\"],\"type\":\"a\"}"},
    {"whitespace kept", "a", " { \"message\" : \"x\" } ",
     "{ \"message\" : \"x\" ,\"type\":\"a\"}"},
    {"everything", "web", "{\"@timestamp\":\"2024-01-01T00:00:00Z\",\"message\":\"hi\","
     "\"log\":{\"level\":\"warn\"},\"service\":{\"name\":\"shop\"}}",
     "{\"@timestamp\":\"2024-01-01T00:00:00Z\",\"message\":\"hi\",\"log\":{\"level\":\"warn\"},"
     "\"service\":{\"name\":\"shop\"},\"type\":\"web\",\"timestamp\":\"2024-01-01T00:00:00Z\","
     "\"level\":\"WARN\",\"source\":\"shop\"}"},
};

static void test_mapping(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(maps); i++) {
        const map_case_t *c = &maps[i];
        char body[4096];
        int n = snprintf(body, sizeof body, "{\"create\":{\"_index\":\"%s\"}}\n%s\n", c->index,
                         c->doc);
        bulk_result_t r = {0};
        assert_int_equal(bulk_parse(body, (size_t)n, NULL, NULL, &r), 0);
        if (r.taken != 1) fail_msg("%s: not taken: %s", c->name, r.count ? r.items[0].reason : "");
        char want[4096];
        snprintf(want, sizeof want, "%s\n", c->record);
        if (r.records_len != strlen(want) || memcmp(r.records, want, r.records_len))
            fail_msg("%s:\n got  %.*s want %s", c->name, (int)r.records_len, r.records, want);
        check_records_dups(&r, NULL, strstr(c->name, "duplicate") != NULL);
        bulk_result_free(&r);
    }
}

/* ---- limits and big inputs ------------------------------------------------------- */

static char *repeat_doc(size_t pad)
{
    char *d = malloc(pad + 16);
    assert_non_null(d);
    memcpy(d, "{\"m\":\"", 6);
    memset(d + 6, 'x', pad);
    memcpy(d + 6 + pad, "\"}", 3);
    return d;
}

static void test_record_bytes(void **state)
{
    (void)state;
    bulk_limits_t lim = {.max_record_bytes = 100};
    /* raw 100 bytes: taken? it grows by ,"type":"a" (11) once mapped: refused */
    for (size_t pad = 80; pad <= 100; pad++) {
        char *d = repeat_doc(pad);
        size_t dl = strlen(d);
        char body[512];
        int n = snprintf(body, sizeof body, "{\"index\":{\"_index\":\"a\"}}\n%s\n", d);
        bulk_result_t r = {0};
        assert_int_equal(bulk_parse(body, (size_t)n, NULL, &lim, &r), 0);
        assert_int_equal(r.count, 1);
        bool fits = dl + 11 <= 100;
        if (fits != (r.taken == 1)) fail_msg("doc of %zu bytes: taken %zu", dl, r.taken);
        if (!fits) {
            assert_int_equal(r.items[0].status, 400);
            assert_int_equal(r.oversize, 1);
        }
        check_records(&r, &lim);
        bulk_result_free(&r);
        free(d);
    }
}

static void test_huge_lines(void **state)
{
    (void)state;
    /* a 3 MiB document over the default 1 MiB record limit fails its item only */
    size_t pad = 3u << 20;
    char *d = repeat_doc(pad);
    size_t dl = strlen(d);
    const char *a = "{\"index\":{\"_index\":\"a\"}}\n", *ok = "{\"index\":{\"_index\":\"b\"}}\n{}\n";
    size_t n = strlen(a) + dl + 1 + strlen(ok);
    char *body = malloc(n + 1);
    assert_non_null(body);
    snprintf(body, n + 1, "%s%s\n%s", a, d, ok);
    bulk_result_t r = {0};
    assert_int_equal(bulk_parse(body, n, NULL, NULL, &r), 0);
    assert_int_equal(r.count, 2);
    assert_int_equal(r.items[0].status, 400);
    assert_int_equal(r.items[1].status, 0);
    assert_int_equal(r.oversize, 1);
    check_records(&r, NULL);
    /* a huge action line is a whole-request failure */
    bulk_limits_t lim = {.max_action_bytes = 1000};
    memset(body, ' ', n);
    memcpy(body, "{\"index\":{\"_index\":\"a\"}}", 24);
    body[2000] = '\n';
    memcpy(body + 2001, "{}", 2);
    assert_int_equal(bulk_parse(body, 2003, NULL, &lim, &r), -EINVAL);
    assert_int_equal(r.status, 400);
    bulk_result_free(&r);
    free(body);
    free(d);
}

static void test_max_items(void **state)
{
    (void)state;
    bulk_limits_t lim = {.max_items = 3};
    const char *three = "{\"index\":{\"_index\":\"a\"}}\n{}\n{\"delete\":{\"_index\":\"a\",\"_id\":"
                        "\"1\"}}\n{\"create\":{\"_index\":\"a\"}}\n{}\n";
    bulk_result_t r = {0};
    assert_int_equal(bulk_parse(three, strlen(three), NULL, &lim, &r), 0);
    assert_int_equal(r.count, 3);
    assert_int_equal(r.taken, 2);
    char four[512];
    snprintf(four, sizeof four, "%s{\"index\":{\"_index\":\"a\"}}\n{}\n", three);
    assert_int_equal(bulk_parse(four, strlen(four), NULL, &lim, &r), -E2BIG);
    assert_int_equal(r.status, 413);
    assert_int_equal(r.count, 0);
    bulk_result_free(&r);
}

static void test_depth(void **state)
{
    (void)state;
    bulk_limits_t lim = {.max_depth = 3};
    const char *ok = "{\"index\":{\"_index\":\"a\"}}\n{\"a\":{\"b\":[1]}}\n";
    const char *deep = "{\"index\":{\"_index\":\"a\"}}\n{\"a\":{\"b\":[[1]]}}\n";
    bulk_result_t r = {0};
    assert_int_equal(bulk_parse(ok, strlen(ok), NULL, &lim, &r), 0);
    assert_int_equal(r.taken, 1);
    assert_int_equal(bulk_parse(deep, strlen(deep), NULL, &lim, &r), 0);
    assert_int_equal(r.taken, 0);
    assert_string_equal(r.items[0].err_type, "mapper_parsing_exception");
    bulk_result_free(&r);
}

static void test_many_items_order(void **state)
{
    (void)state;
    /* 1000 items alternating index / delete / create: order and ids kept */
    size_t cap = 1000 * 80, n = 0;
    char *body = malloc(cap);
    assert_non_null(body);
    for (int i = 0; i < 1000; i++) {
        if (i % 3 == 1)
            n += (size_t)snprintf(body + n, cap - n, "{\"delete\":{\"_index\":\"a\",\"_id\":\"%d\"}}\n", i);
        else
            n += (size_t)snprintf(body + n, cap - n, "{\"%s\":{\"_index\":\"a\",\"_id\":\"%d\"}}\n{\"i\":%d}\n",
                                  i % 3 ? "create" : "index", i, i);
    }
    bulk_result_t r = {0};
    assert_int_equal(bulk_parse(body, n, NULL, NULL, &r), 0);
    assert_int_equal(r.count, 1000);
    for (int i = 0; i < 1000; i++) {
        char id[16];
        snprintf(id, sizeof id, "%d", i);
        assert_string_equal(r.items[i].id, id);
        assert_int_equal(r.items[i].status, i % 3 == 1 ? 400 : 0);
        assert_string_equal(r.items[i].index, "a"); /* one copy shared by the run */
        assert_int_equal(r.items[i].index_borrowed, i > 0);
    }
    check_records(&r, NULL);
    /* reuse of a result frees the previous one */
    assert_int_equal(bulk_parse(body, n, NULL, NULL, &r), 0);
    bulk_result_free(&r);
    free(body);
}

static void test_index_sharing(void **state)
{
    (void)state;
    const char *b = "{\"index\":{}}\n{}\n{\"index\":{\"_index\":\"u\"}}\n{}\n"
                    "{\"index\":{\"_index\":\"v\"}}\n{}\n{\"index\":{}}\n{}\n"
                    "{\"index\":{\"_index\":\"u\"}}\n{}\n";
    bulk_result_t r = {0};
    assert_int_equal(bulk_parse(b, strlen(b), "u", NULL, &r), 0);
    static const char *const want[] = {"u", "u", "v", "u", "u"};
    static const bool borrowed[] = {false, true, false, false, true};
    assert_int_equal(r.count, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(r.items[i].index, want[i]);
        assert_int_equal(r.items[i].index_borrowed, borrowed[i]);
    }
    assert_ptr_equal(r.items[0].index, r.items[1].index);
    bulk_result_free(&r);
}

static void test_index_names(void **state)
{
    (void)state;
    static const struct { const char *name; int ok; } t[] = {
        {"logs", 1}, {"logs-2024.01.01", 1}, {"filebeat-8.11.0", 1}, {".ds-x", 1},
        {"", 0}, {".", 0}, {"..", 0}, {"_x", 0}, {"-x", 0}, {"+x", 0}, {"A", 0},
        {"a b", 0}, {"a,b", 0}, {"a*", 0}, {"a:b", 0}, {"a#", 0}, {"a/b", 0}, {"a\\b", 0},
        {"a\"b", 0}, {"a<b", 0}, {"a|b", 0}, {"a?b", 0}, {"a\tb", 0},
    };
    for (size_t i = 0; i < N(t); i++)
        if (bulk_index_name_ok(t[i].name) != t[i].ok) fail_msg("index name '%s'", t[i].name);
    char long_name[300];
    memset(long_name, 'a', sizeof long_name);
    long_name[255] = 0;
    assert_true(bulk_index_name_ok(long_name));
    long_name[255] = 'a';
    long_name[256] = 0;
    assert_false(bulk_index_name_ok(long_name));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),       cmocka_unit_test(test_mapping),
        cmocka_unit_test(test_record_bytes), cmocka_unit_test(test_huge_lines),
        cmocka_unit_test(test_max_items),    cmocka_unit_test(test_depth),
        cmocka_unit_test(test_many_items_order), cmocka_unit_test(test_index_names),
        cmocka_unit_test(test_index_sharing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
