/*
 * test_scan.c - unit tests of the ingest JSON scanner (src/ingest/scan.c).
 *
 *   1. A conformance table: valid packets / arrays / NDJSON that must be accepted with
 *      the exact record offsets and fields, and invalid or wrong-shape inputs that must be
 *      rejected with the right status, error offset and message.
 *   2. Property tests: every prefix of valid bodies, a NUL / 0xFF byte at every position,
 *      depth / record-count / record-size boundaries, reuse of one result, huge lengths.
 *   3. A differential fuzz test against jansson (PRNG-mutated seeds), which also checks
 *      every accepted record slice and field against jansson's DOM. The oracle lives in
 *      tests/fuzz/scan_oracle.h (shared with the libFuzzer target fuzz_scan). The PRNG
 *      seed changes on every run (time and pid) and is printed first, so a failure can
 *      be replayed with LOGDIST_SEED=<the printed value>.
 *
 * Error offsets follow one rule (see scan.h): for syntax and UTF-8 errors, err_offset is
 * the length of the longest prefix that can still be completed into a valid body. The
 * table writes each rejected body as two literals, PREFIX and REST, so the expected
 * offset is sizeof(PREFIX) - 1 and REST starts with the first offending byte.
 *
 * Environment: LOGDIST_SANITIZED=1 lowers the fuzz iterations (30,000 instead of 200,000);
 * LOGDIST_FUZZ_ITERS overrides the count; LOGDIST_SEED (or the older LOGDIST_FUZZ_SEED)
 * fixes the PRNG seed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "../fuzz/scan_oracle.h"
#include "record/scan.h"

/* ==================================================================================== */
/* Helpers                                                                              */

/* ==================================================================================== */
/* Conformance table                                                                    */

/* Expected record: its exact text (the offset is found by searching the body from the
 * end of the previous record) and its fields' raw contents (NULL = absent). */
typedef struct {
    const char *text;
    const char *id, *level, *source, *type;
    uint32_t flags;
} xrec_t;

typedef struct {
    const char *cat;
    const char *body;
    size_t len;
    size_t err_off; /* expected err_offset when status != SCAN_OK */
    scan_format_t fmt;
    int status;
    const char *msg; /* substring of err_msg, NULL = any non-empty message */
    int nrec;        /* expected record count when status == SCAN_OK */
    const xrec_t *recs;
    scan_limits_t lim;
    const char *packet_id, *agent_id; /* expected contents, NULL = absent */
} tcase_t;

#define J SCAN_FORMAT_JSON
#define ND SCAN_FORMAT_NDJSON

/* Rejected: body = pre rest, first offending byte = rest[0] (or end when rest is ""). */
#define REJ(c_, f_, st_, pre, rest, m_)                                                            \
    {                                                                                              \
        .cat = c_, .body = pre rest, .len = sizeof(pre rest) - 1, .err_off = sizeof(pre) - 1,      \
        .fmt = f_, .status = st_, .msg = m_                                                        \
    }
#define REJL(c_, f_, st_, pre, rest, m_, ...)                                                      \
    {                                                                                              \
        .cat = c_, .body = pre rest, .len = sizeof(pre rest) - 1, .err_off = sizeof(pre) - 1,      \
        .fmt = f_, .status = st_, .msg = m_, .lim = {                                              \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }
/* Rejected value inside a record of a packet: {"messages":[{"x":VALUE}]} */
#define VPRE "{\"messages\":[{\"x\":"
#define VPOST "}]}"
#define REJV(c_, st_, pre, rest, m_) REJ(c_, J, st_, VPRE pre, rest VPOST, m_)

/* Accepted with n records described by the xrec_t initialisers that follow. */
#define ACC(c_, f_, s, n, ...)                                                                     \
    {                                                                                              \
        .cat = c_, .body = s, .len = sizeof(s) - 1, .fmt = f_, .status = SCAN_OK, .nrec = n,       \
        .recs = (const xrec_t[])                                                                   \
        {                                                                                          \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }
#define ACC0(c_, f_, s)                                                                            \
    {                                                                                              \
        .cat = c_, .body = s, .len = sizeof(s) - 1, .fmt = f_, .status = SCAN_OK, .nrec = 0        \
    }
#define ACCP(c_, s, pid, aid, n, ...)                                                              \
    {                                                                                              \
        .cat = c_, .body = s, .len = sizeof(s) - 1, .fmt = J, .status = SCAN_OK, .nrec = n,        \
        .recs = (const xrec_t[]){__VA_ARGS__}, .packet_id = pid, .agent_id = aid                   \
    }
#define ACCL(c_, f_, s, n, ...)                                                                    \
    {                                                                                              \
        .cat = c_, .body = s, .len = sizeof(s) - 1, .fmt = f_, .status = SCAN_OK, .nrec = n,       \
        .lim = {                                                                                   \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }

#define REC206                                                                                     \
    "{\"id\":\"m-000001\",\"timestamp\":\"2026-11-27T15:00:00.123Z\",\"level\":\"INFO\","          \
    "\"source\":\"checkout-api\",\"type\":\"app\",\"message\":\"user 123 completed checkout "      \
    "in 45 ms\",\"metadata\":{\"host\":\"web-3\",\"region\":\"eu-west-1\"}}"
#define REC206_FIELDS .id = "m-000001", .level = "INFO", .source = "checkout-api", .type = "app"

#define LVL_E SCAN_REC_LEVEL_ESCAPED
#define SRC_E SCAN_REC_SOURCE_ESCAPED
#define TYP_E SCAN_REC_TYPE_ESCAPED
#define ID_E SCAN_REC_ID_ESCAPED
#define CRIT SCAN_REC_CRITICAL

static const tcase_t cases[] = {
    /* ---------------------------------------------------------------- valid packets */
    ACC0("valid packet", J, "{\"messages\":[]}"),
    ACC0("valid packet", J, " \t\r\n{ \"messages\" : [ ] } \r\n\t "),
    ACCP("valid packet",
         "{\"packet_id\":\"p1\",\"agent_id\":\"a1\",\"messages\":[{\"id\":\"m1\",\"level\":"
         "\"INFO\",\"source\":\"api\",\"type\":\"app\"}]}",
         "p1", "a1", 1,
         {.text = "{\"id\":\"m1\",\"level\":\"INFO\",\"source\":\"api\",\"type\":\"app\"}",
          .id = "m1",
          .level = "INFO",
          .source = "api",
          .type = "app"}),
    ACCP("valid packet",
         "{\"packet_id\":\"p-7\",\"agent_id\":\"a-3\",\"messages\":[" REC206 "," REC206 "]}", "p-7",
         "a-3", 2, {.text = REC206, REC206_FIELDS}, {.text = REC206, REC206_FIELDS}),
    ACC("valid packet", J,
        " {\n\t\"messages\" :\r\n [ { \"level\" : \"WARN\" , \"source\":\"s\" } ,\n{ } ] \n} ", 2,
        {.text = "{ \"level\" : \"WARN\" , \"source\":\"s\" }", .level = "WARN", .source = "s"},
        {.text = "{ }"}),
    /* escapes in values: raw slices + escaped flags */
    ACC("valid packet", J,
        "{\"messages\":[{\"level\":\"IN\\\"FO\",\"source\":\"a\\\\b\\/c\",\"type\":\"t\\u0041\","
        "\"id\":\"x\\ny\",\"m\":\"\\b\\f\\n\\r\\t\\u00e9\\uFFFF\"}]}",
        1,
        {.text = "{\"level\":\"IN\\\"FO\",\"source\":\"a\\\\b\\/"
                 "c\",\"type\":\"t\\u0041\",\"id\":\"x\\ny\","
                 "\"m\":\"\\b\\f\\n\\r\\t\\u00e9\\uFFFF\"}",
         .id = "x\\ny",
         .level = "IN\\\"FO",
         .source = "a\\\\b\\/c",
         .type = "t\\u0041",
         .flags = LVL_E | SRC_E | TYP_E | ID_E}),
    /* escaped keys are recognised */
    ACC("valid packet", J,
        "{\"messages\":[{\"lev\\u0065l\":\"ERROR\",\"\\u0073ource\":\"db\",\"typ\\u0065\":\"x\","
        "\"\\u0069\\u0064\":\"7\",\"crit\\u0069cal\":true}]}",
        1,
        {.text = "{\"lev\\u0065l\":\"ERROR\",\"\\u0073ource\":\"db\",\"typ\\u0065\":\"x\","
                 "\"\\u0069\\u0064\":"
                 "\"7\",\"crit\\u0069cal\":true}",
         .id = "7",
         .level = "ERROR",
         .source = "db",
         .type = "x",
         .flags = CRIT}),
    ACC("valid packet", J,
        "{\"messages\":[{\"\\u006C\\u0045vel\":\"a\",\"LEVEL\":\"b\",\"le\\/vel\":\"c\","
        "\"level\\u0000\":\"d\",\"\\u006cevel\":\"e\"}]}",
        1,
        {.text = "{\"\\u006C\\u0045vel\":\"a\",\"LEVEL\":\"b\",\"le\\/"
                 "vel\":\"c\",\"level\\u0000\":\"d\","
                 "\"\\u006cevel\":\"e\"}",
         .level = "e"}),
    /* keys that only look like field names */
    ACC("valid packet", J,
        "{\"messages\":[{\"levels\":\"a\",\"lev\":\"b\",\"sourc\":\"c\",\"ids\":\"d\",\"typeX\":"
        "\"e\",\"Level\":\"f\",\"level \":\"g\",\"le\\\"vel\":\"h\",\"criticals\":true}]}",
        1,
        {.text = "{\"levels\":\"a\",\"lev\":\"b\",\"sourc\":\"c\",\"ids\":\"d\",\"typeX\":\"e\","
                 "\"Level\":"
                 "\"f\",\"level \":\"g\",\"le\\\"vel\":\"h\",\"criticals\":true}"}),
    /* nested "level" keys are ignored */
    ACC("valid packet", J,
        "{\"messages\":[{\"metadata\":{\"level\":\"DEBUG\",\"source\":\"x\"},\"payload\":[{"
        "\"level\":\"E\",\"critical\":true}]}]}",
        1,
        {.text =
             "{\"metadata\":{\"level\":\"DEBUG\",\"source\":\"x\"},\"payload\":[{\"level\":\"E\","
             "\"critical\":true}]}"}),
    ACC("valid packet", J,
        "{\"messages\":[{\"meta\":{\"level\":\"DEBUG\"},\"level\":\"INFO\",\"message\":"
        "\"\\\"level\\\""
        ":\\\"X\\\"\"}]}",
        1,
        {.text = "{\"meta\":{\"level\":\"DEBUG\"},\"level\":\"INFO\",\"message\":\"\\\"level\\\":"
                 "\\\"X\\\"\"}",
         .level = "INFO"}),
    /* duplicate keys: last wins */
    ACC("valid packet", J,
        "{\"messages\":[{\"level\":\"A\",\"level\":\"B\",\"source\":\"s1\",\"source\":5,\"type\":"
        "\"t\\n\",\"type\":\"u\",\"id\":\"i\\n\",\"id\":42}]}",
        1,
        {.text =
             "{\"level\":\"A\",\"level\":\"B\",\"source\":\"s1\",\"source\":5,\"type\":\"t\\n\","
             "\"type\":\"u\",\"id\":\"i\\n\",\"id\":42}",
         .id = "42",
         .level = "B",
         .type = "u"}),
    ACC("valid packet", J,
        "{\"messages\":[{\"level\":\"a\\nb\",\"level\":1},{\"level\":null,\"level\":\"Z\"}]}", 2,
        {.text = "{\"level\":\"a\\nb\",\"level\":1}"},
        {.text = "{\"level\":null,\"level\":\"Z\"}", .level = "Z"}),
    /* critical: only a literal true at the record's top level */
    ACC("valid packet", J,
        "{\"messages\":[{\"critical\":true},{\"critical\":false},{\"critical\":\"true\"},"
        "{\"critical\":1},{\"critical\":true,\"critical\":false},{\"critical\":false,"
        "\"critical\":true},{\"critical\":null},{\"x\":{\"critical\":true}}]}",
        8, {.text = "{\"critical\":true}", .flags = CRIT}, {.text = "{\"critical\":false}"},
        {.text = "{\"critical\":\"true\"}"}, {.text = "{\"critical\":1}"},
        {.text = "{\"critical\":true,\"critical\":false}"},
        {.text = "{\"critical\":false,\"critical\":true}", .flags = CRIT},
        {.text = "{\"critical\":null}"}, {.text = "{\"x\":{\"critical\":true}}"}),
    /* id: string or number (raw text); anything else is absent */
    ACC("valid packet", J,
        "{\"messages\":[{\"id\":12345},{\"id\":-1.5e3},{\"id\":0},{\"id\":null},{\"id\":"
        "\"a\\u0062\"},"
        "{\"id\":{\"x\":1}},{\"id\":[1]},{\"id\":true},{\"id\":\"\"}]}",
        9, {.text = "{\"id\":12345}", .id = "12345"}, {.text = "{\"id\":-1.5e3}", .id = "-1.5e3"},
        {.text = "{\"id\":0}", .id = "0"}, {.text = "{\"id\":null}"},
        {.text = "{\"id\":\"a\\u0062\"}", .id = "a\\u0062", .flags = ID_E},
        {.text = "{\"id\":{\"x\":1}}"}, {.text = "{\"id\":[1]}"}, {.text = "{\"id\":true}"},
        {.text = "{\"id\":\"\"}", .id = ""}),
    /* non-string level/source/type are absent; an empty string is present */
    ACC("valid packet", J,
        "{\"messages\":[{\"level\":5,\"source\":null,\"type\":[\"app\"]},{\"level\":\"\","
        "\"source\":{},\"type\":false}]}",
        2, {.text = "{\"level\":5,\"source\":null,\"type\":[\"app\"]}"},
        {.text = "{\"level\":\"\",\"source\":{},\"type\":false}", .level = ""}),
    /* UTF-8: boundaries of every length, in values and keys */
    ACC("valid packet", J,
        "{\"messages\":[{\"source\":\"caf\xc3\xa9\",\"m\":\"\xc2\x80 \xdf\xbf \xe0\xa0\x80 "
        "\xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf \xe2\x82\xac "
        "\xf0\x9f\x98\x80\",\"k\xc3\xa9y\":\"\xe6\x97\xa5\xe6\x9c\xac\"}]}",
        1,
        {.text = "{\"source\":\"caf\xc3\xa9\",\"m\":\"\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xed\x9f\xbf "
                 "\xee\x80\x80 \xef\xbf\xbf \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf \xe2\x82\xac "
                 "\xf0\x9f\x98\x80\",\"k\xc3\xa9y\":\"\xe6\x97\xa5\xe6\x9c\xac\"}",
         .source = "caf\xc3\xa9"}),
    /* surrogate escapes (pairs and lone ones: grammar-valid, accepted), \u0000, DEL, '/' */
    ACC("valid packet", J,
        "{\"messages\":[{\"level\":\"\\ud83d\\ude00\",\"a\":\"\\ud800\",\"b\":\"\\udc00x\","
        "\"c\":\"\\uDBFF\\uDFFF\",\"d\":\"\\ud800\\ud800\",\"e\":\"\\u0000\",\"\\u0000\":1,"
        "\"f\":\"\x7f/\"}]}",
        1,
        {.text = "{\"level\":\"\\ud83d\\ude00\",\"a\":\"\\ud800\",\"b\":\"\\udc00x\",\"c\":"
                 "\"\\uDBFF\\uDFFF\","
                 "\"d\":\"\\ud800\\ud800\",\"e\":\"\\u0000\",\"\\u0000\":1,\"f\":\"\x7f/\"}",
         .level = "\\ud83d\\ude00",
         .flags = LVL_E}),
    /* numbers, including huge ones (syntax only) */
    ACC("valid packet", J,
        "{\"messages\":[{\"n\":[0,-0,1,-1,0.5,-0.0,1e5,1E+5,1e-5,1.5E-10,10,99.99e99,0e0,"
        "-0E-0,123456789012345678901234567890,1e400,-1e-400,1e0000000000000000001,"
        "0.00000000000000000000000000000000000000000001]}]}",
        1,
        {.text = "{\"n\":[0,-0,1,-1,0.5,-0.0,1e5,1E+5,1e-5,1.5E-10,10,99.99e99,0e0,-0E-0,"
                 "123456789012345678901234567890,1e400,-1e-400,1e0000000000000000001,"
                 "0.00000000000000000000000000000000000000000001]}"}),
    ACC("valid packet", J,
        "{\"messages\":[{\"id\":1234567890123456789012345678901234567890,\"level\":\"X\"}]}", 1,
        {.text = "{\"id\":1234567890123456789012345678901234567890,\"level\":\"X\"}",
         .id = "1234567890123456789012345678901234567890",
         .level = "X"}),
    /* literals and nesting */
    ACC("valid packet", J,
        "{\"messages\":[{\"a\":true,\"b\":false,\"c\":null,\"d\":[true,false,null,[],{}],"
        "\"e\":[[[[{\"b\":{\"c\":[{},[[]]]}}]]]]}]}",
        1,
        {.text = "{\"a\":true,\"b\":false,\"c\":null,\"d\":[true,false,null,[],{}],\"e\":[[[[{"
                 "\"b\":{\"c\":"
                 "[{},[[]]]}}]]]]}"}),
    /* other top-level keys are validated and ignored; a nested "messages" is not ours */
    ACCP("valid packet",
         "{\"v\":1,\"meta\":{\"messages\":[{\"no\":1}]},\"messages\":[{\"x\":1}],\"tail\":[1,2,"
         "{\"a\":null}],\"packet_id\":5,\"agent_id\":\"\"}",
         NULL, "", 1, {.text = "{\"x\":1}"}),
    /* escaped packet keys */
    ACCP("valid packet",
         "{\"m\\u0065ssages\":[{\"a\":1}],\"packet\\u005fid\":\"p\\\"q\",\"\\u0061gent_id\":\"a\"}",
         "p\\\"q", "a", 1, {.text = "{\"a\":1}"}),
    /* duplicate "messages": the last one wins, with its records and its shape */
    ACC("valid packet", J, "{\"messages\":[{\"a\":1},{\"b\":2}],\"messages\":[{\"c\":3}]}", 1,
        {.text = "{\"c\":3}"}),
    ACC("valid packet", J, "{\"messages\":5,\"messages\":[{\"c\":3}]}", 1, {.text = "{\"c\":3}"}),
    ACC("valid packet", J, "{\"messages\":[1,[]],\"messages\":[{\"c\":3}]}", 1,
        {.text = "{\"c\":3}"}),
    ACCP("valid packet",
         "{\"packet_id\":\"a\",\"packet_id\":\"b\",\"agent_id\":\"c\",\"agent_id\":[],"
         "\"messages\":[]}",
         "b", NULL, 0, {.text = NULL}),

    /* long strings: escapes / UTF-8 / quotes at lanes 0 and 15 of the 16-byte loop */
    ACC("valid packet", J,
        "{\"messages\":[{\"level\":\"01234567\\\"abcdefghijklmnopqrstuvwxyz0123456789\","
        "\"source\":\"0123456789abcdefghijklm\\\\\",\"type\":\"0123456789abcdefghijklmnopqrstu"
        "\xc3\xa9vwxyz0123456789ABCDEF\",\"id\":\"0123456789abcdefghijklmnopqrstuvwxyz\"}]}",
        1,
        {.text = "{\"level\":\"01234567\\\"abcdefghijklmnopqrstuvwxyz0123456789\",\"source\":"
                 "\"0123456789abcdefghijklm\\\\\",\"type\":\"0123456789abcdefghijklmnopqrstu"
                 "\xc3\xa9vwxyz0123456789ABCDEF\",\"id\":\"0123456789abcdefghijklmnopqrstuvwxyz\"}",
         .level = "01234567\\\"abcdefghijklmnopqrstuvwxyz0123456789",
         .source = "0123456789abcdefghijklm\\\\",
         .type = "0123456789abcdefghijklmnopqrstu"
                 "\xc3\xa9vwxyz0123456789ABCDEF",
         .id = "0123456789abcdefghijklmnopqrstuvwxyz",
         .flags = LVL_E | SRC_E}),
    /* ---------------------------------------------------------------- valid arrays */
    ACC0("valid array", J, "[]"),
    ACC0("valid array", J, " [ ] "),
    ACC("valid array", J, "[{\"level\":\"INFO\"},{\"level\":\"WARN\"}]", 2,
        {.text = "{\"level\":\"INFO\"}", .level = "INFO"},
        {.text = "{\"level\":\"WARN\"}", .level = "WARN"}),
    ACC("valid array", J, " [ {} ,\n{\"a\":[{}]} ]\n", 2, {.text = "{}"}, {.text = "{\"a\":[{}]}"}),
    ACCP("valid array", "[{\"packet_id\":\"x\",\"messages\":[{}]}]", NULL, NULL, 1,
         {.text = "{\"packet_id\":\"x\",\"messages\":[{}]}"}),
    ACC("valid array", J, "[" REC206 "," REC206 "," REC206 "]", 3, {.text = REC206, REC206_FIELDS},
        {.text = REC206, REC206_FIELDS}, {.text = REC206, REC206_FIELDS}),

    /* ---------------------------------------------------------------- valid NDJSON */
    ACC0("valid ndjson", ND, ""),
    ACC0("valid ndjson", ND, "\n\r\n \n\t\n"),
    ACC("valid ndjson", ND, "{\"a\":1}\n{\"level\":\"INFO\"}\n", 2, {.text = "{\"a\":1}"},
        {.text = "{\"level\":\"INFO\"}", .level = "INFO"}),
    ACC("valid ndjson", ND, "\n\n{\"a\":1}\n   \n\t\n{\"a\":1}\n\n", 2, {.text = "{\"a\":1}"},
        {.text = "{\"a\":1}"}),
    ACC("valid ndjson", ND, "{\"a\":1}\r\n{\"b\":2}\r\n\r\n", 2, {.text = "{\"a\":1}"},
        {.text = "{\"b\":2}"}),
    ACC("valid ndjson", ND, "{\"a\":1}\n{\"b\":2}", 2, {.text = "{\"a\":1}"},
        {.text = "{\"b\":2}"}),
    ACC("valid ndjson", ND, "  {\"a\" : 1}  \r\n\t{ }\t", 2, {.text = "{\"a\" : 1}"},
        {.text = "{ }"}),
    ACC("valid ndjson", ND, "{\"m\":\"a\\nb\",\"source\":\"s\\r\"}\n", 1,
        {.text = "{\"m\":\"a\\nb\",\"source\":\"s\\r\"}", .source = "s\\r", .flags = SRC_E}),
    ACC("valid ndjson", ND, REC206 "\n" REC206 "\n", 2, {.text = REC206, REC206_FIELDS},
        {.text = REC206, REC206_FIELDS}),
    ACC("valid ndjson", ND, "{\"critical\":true,\"id\":7}\n", 1,
        {.text = "{\"critical\":true,\"id\":7}", .id = "7", .flags = CRIT}),

    /* ---------------------------------------------------------------- structure */
    REJ("structure", J, SCAN_ERR_SYNTAX, "", "", "empty body"),
    REJ("structure", J, SCAN_ERR_SYNTAX, " \r\n\t", "", "empty body"),
    /* commas */
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\":1,", "}]}", "after ','"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{", ",\"a\":1}]}", "expected key"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\":1,", ",\"b\":2}]}", "after ','"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\":1 ", "\"b\":2}]}",
        "expected ',' or '}'"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{},", "]}", "expected value"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[", ",{}]}", "expected value"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{}", "{}]}", "expected ',' or ']'"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\":[1,", "]}]}", "expected value"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\":[", ",1]}]}", "expected value"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\":[1 ", "2]}]}",
        "expected ',' or ']'"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\":{\"b\":1,", "}}]}", "after ','"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[],", "}", "after ','"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{", ",\"messages\":[]}", "expected key"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "[{},", "]", "expected value"),
    /* colons */
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\" ", "1}]}", "expected ':'"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\":", ":1}]}", "expected value"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\":1", ":2}]}", "expected ','"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\"", "}]}", "expected ':'"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[1", ":2]}", "expected ',' or ']'"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\"", "[]}", "expected ':'"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\":{\"b\" ", "1}}]}", "expected ':'"),
    /* keys that are not strings */
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{", "1:2}]}", "expected key"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{", "a:1}]}", "expected key"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{", "messages:[]}", "expected key"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\":{", "null:1}}]}", "expected key"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\":", "abc}]}", "expected value"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\":", "}]}", "expected value"),
    /* unbalanced brackets */
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\":[1", "}]}", "expected ',' or ']'"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\":{\"b\":1", "]}]}",
        "expected ',' or '}'"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\":1", "]}]}", "expected ',' or '}'"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{}", "}]}", "expected ',' or ']'"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{}]", "]}", "expected ',' or '}'"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{}]}", "}", "trailing data"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "[{}]", "]", "trailing data"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "", "]", "expected value"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "", "}", "expected value"),
    /* trailing garbage, two top-level values */
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[]}", "x", "trailing data"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[]} ", "{\"messages\":[]}",
        "trailing data"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "[{}]", "[{}]", "trailing data"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[]}\n", "{}\n", "trailing data"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "[{}] ", "1", "trailing data"),
    /* comments, single quotes */
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[", "/*c*/]}", "expected value"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[]}", "//c", "trailing data"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "", "# c\n{\"messages\":[]}", "expected value"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\":1 ", "/*x*/}]}",
        "expected ',' or '}'"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{", "'messages':[]}", "expected key"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\":", "'x'}]}", "expected value"),
    /* whitespace that JSON does not allow, BOM */
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[", "\f]}", "expected value"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":[{}", "\v]}", "expected ',' or ']'"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "{\"messages\":", "\xc2\xa0[]}", "expected value"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "[{}", "\xe2\x80\xa8]", "expected ',' or ']'"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "[{}", "\xe3\x80\x80]", "expected ',' or ']'"),
    REJ("structure", J, SCAN_ERR_SYNTAX, "", "\xef\xbb\xbf{\"messages\":[]}", "byte order mark"),
    REJ("structure", ND, SCAN_ERR_SYNTAX, "", "\xef\xbb\xbf{\"a\":1}\n", "byte order mark"),

    /* ---------------------------------------------------------------- literals */
    REJV("literal", SCAN_ERR_SYNTAX, "tru", "}", "invalid literal"),
    REJV("literal", SCAN_ERR_SYNTAX, "nul", "}", "invalid literal"),
    REJV("literal", SCAN_ERR_SYNTAX, "fals", "}", "invalid literal"),
    REJV("literal", SCAN_ERR_SYNTAX, "t", "}", "invalid literal"),
    REJV("literal", SCAN_ERR_SYNTAX, "true", "x", "expected ',' or '}'"),
    REJV("literal", SCAN_ERR_SYNTAX, "null", "l", "expected ',' or '}'"),
    REJV("literal", SCAN_ERR_SYNTAX, "false", "y", "expected ',' or '}'"),
    REJV("literal", SCAN_ERR_SYNTAX, "", "True", "expected value"),
    REJV("literal", SCAN_ERR_SYNTAX, "", "NULL", "expected value"),
    REJV("literal", SCAN_ERR_SYNTAX, "", "FALSE", "expected value"),
    REJV("literal", SCAN_ERR_SYNTAX, "t", "Rue", "invalid literal"),
    REJV("literal", SCAN_ERR_SYNTAX, "n", "an", "invalid literal"),
    REJV("literal", SCAN_ERR_SYNTAX, "[true,fals", "]", "invalid literal"),
    REJ("literal", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"critical\":tru", " e}]}",
        "invalid literal"),
    REJ("literal", J, SCAN_ERR_SYNTAX, "{\"messages\":n", "il}", "invalid literal"),
    REJ("literal", J, SCAN_ERR_SYNTAX, "tru", "", "end of input"),

    /* ---------------------------------------------------------------- numbers */
    REJV("number", SCAN_ERR_SYNTAX, "0", "1", "leading zero"),
    REJV("number", SCAN_ERR_SYNTAX, "-0", "1", "leading zero"),
    REJV("number", SCAN_ERR_SYNTAX, "0", "0", "leading zero"),
    REJV("number", SCAN_ERR_SYNTAX, "1.", "}", "after '.'"),
    REJV("number", SCAN_ERR_SYNTAX, "1.", "e5", "after '.'"),
    REJV("number", SCAN_ERR_SYNTAX, "-", "}", "after '-'"),
    REJV("number", SCAN_ERR_SYNTAX, "-", "-1", "after '-'"),
    REJV("number", SCAN_ERR_SYNTAX, "1e", "}", "exponent"),
    REJV("number", SCAN_ERR_SYNTAX, "1e+", "}", "exponent"),
    REJV("number", SCAN_ERR_SYNTAX, "1E-", "}", "exponent"),
    REJV("number", SCAN_ERR_SYNTAX, "1e+", "-1", "exponent"),
    REJV("number", SCAN_ERR_SYNTAX, "", ".5", "expected value"),
    REJV("number", SCAN_ERR_SYNTAX, "", "+1", "expected value"),
    REJV("number", SCAN_ERR_SYNTAX, "0", "x10", "expected ',' or '}'"),
    REJV("number", SCAN_ERR_SYNTAX, "1.2", ".3", "expected ',' or '}'"),
    REJV("number", SCAN_ERR_SYNTAX, "1e5", ".5", "expected ',' or '}'"),
    REJV("number", SCAN_ERR_SYNTAX, "1", "-2", "expected ',' or '}'"),
    REJV("number", SCAN_ERR_SYNTAX, "1", "_000", "expected ',' or '}'"),
    REJV("number", SCAN_ERR_SYNTAX, "", "NaN", "expected value"),
    REJV("number", SCAN_ERR_SYNTAX, "", "Infinity", "expected value"),
    REJV("number", SCAN_ERR_SYNTAX, "-", "Infinity", "after '-'"),
    REJV("number", SCAN_ERR_SYNTAX, "[1,2,0", "1]", "leading zero"),
    REJV("number", SCAN_ERR_SYNTAX, "[1.5,-", "]", "after '-'"),
    REJ("number", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"id\":0", "7}]}", "leading zero"),
    REJ("number", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"id\":-", "}]}", "after '-'"),
    REJ("number", ND, SCAN_ERR_SYNTAX, "{\"a\":1.", "\n", "end of line"),

    /* ---------------------------------------------------------------- strings */
    REJV("string", SCAN_ERR_SYNTAX, "\"a",
         "\x01"
         "b\"",
         "control character"),
    REJV("string", SCAN_ERR_SYNTAX, "\"a", "\tb\"", "control character"),
    REJV("string", SCAN_ERR_SYNTAX, "\"a", "\nb\"", "control character"),
    REJV("string", SCAN_ERR_SYNTAX, "\"a", "\rb\"", "control character"),
    REJV("string", SCAN_ERR_SYNTAX, "\"", "\x1f\"", "control character"),
    REJ("string", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a", "\tb\":1}]}", "control character"),
    REJV("string", SCAN_ERR_SYNTAX, "{\"a", "\nb\":1}", "control character"),
    REJV("string", SCAN_ERR_SYNTAX, "\"0123456789abcdef0123456789", "\x02\"", "control character"),
    REJV("string", SCAN_ERR_SYNTAX, "\"\\", "x\"", "invalid escape"),
    REJV("string", SCAN_ERR_SYNTAX, "\"\\", "a\"", "invalid escape"),
    REJV("string", SCAN_ERR_SYNTAX, "\"\\", "'\"", "invalid escape"),
    REJV("string", SCAN_ERR_SYNTAX, "\"\\", "U0041\"", "invalid escape"),
    REJV("string", SCAN_ERR_SYNTAX, "\"\\", "0\"", "invalid escape"),
    REJV("string", SCAN_ERR_SYNTAX, "\"\\", "\n\"", "invalid escape"),
    REJV("string", SCAN_ERR_SYNTAX, "\"\\", " \"", "invalid escape"),
    REJV("string", SCAN_ERR_SYNTAX, "\"\\u12", "G4\"", "\\u escape"),
    REJV("string", SCAN_ERR_SYNTAX, "\"\\u123", "\"", "\\u escape"),
    REJV("string", SCAN_ERR_SYNTAX, "\"\\u", "{41}\"", "\\u escape"),
    REJV("string", SCAN_ERR_SYNTAX, "\"\\ud800\\u", "\"", "\\u escape"),
    REJ("string", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"lev\\", "x65l\":1}]}", "invalid escape"),

    /* the same deep inside long strings (16-byte loop) */
    REJV("string", SCAN_ERR_SYNTAX, "\"01234567",
         "\x01"
         "89abcdefghijklmnopqrstuvwxyz0123456789\"",
         "control character"),
    REJV("string", SCAN_ERR_SYNTAX, "\"0123456789abcdefghijklm",
         "\x1f"
         "nopqrstuvwxyz0123456789\"",
         "control character"),
    REJV("string", SCAN_ERR_SYNTAX, "\"0123456789abcdefghijklmnopqrstu\\",
         "x0123456789abcdefghijk\"", "invalid escape"),
    /* ---------------------------------------------------------------- UTF-8 */
    REJV("utf8", SCAN_ERR_UTF8, "\"a", "\x80\"", "continuation"),
    REJV("utf8", SCAN_ERR_UTF8, "\"", "\xbf\"", "continuation"),
    REJV("utf8", SCAN_ERR_UTF8, "\"\xc3", "\"", "truncated"),
    REJV("utf8", SCAN_ERR_UTF8, "\"\xe2\x82", "\"", "truncated"),
    REJV("utf8", SCAN_ERR_UTF8, "\"\xf0\x9f\x98", "x\"", "truncated"),
    REJV("utf8", SCAN_ERR_UTF8, "\"\xc3", "\xc3\xa9\"", "truncated"),
    REJV("utf8", SCAN_ERR_UTF8, "\"caf\xe9", "\"", "truncated"),
    REJV("utf8", SCAN_ERR_UTF8, "\"", "\xc0\xaf\"", "overlong"),
    REJV("utf8", SCAN_ERR_UTF8, "\"", "\xc1\xbf\"", "overlong"),
    REJV("utf8", SCAN_ERR_UTF8, "\"\xe0", "\x80\xaf\"", "overlong"),
    REJV("utf8", SCAN_ERR_UTF8, "\"\xe0", "\x9f\xbf\"", "overlong"),
    REJV("utf8", SCAN_ERR_UTF8, "\"\xf0", "\x80\x80\xaf\"", "overlong"),
    REJV("utf8", SCAN_ERR_UTF8, "\"\xf0", "\x8f\xbf\xbf\"", "overlong"),
    REJV("utf8", SCAN_ERR_UTF8, "\"\xed", "\xa0\x80\"", "surrogate"),
    REJV("utf8", SCAN_ERR_UTF8, "\"\xed", "\xbf\xbf\"", "surrogate"),
    REJV("utf8", SCAN_ERR_UTF8, "\"\xed", "\xa0\xbd\xed\xb8\x80\"", "surrogate"), /* CESU-8 */
    REJV("utf8", SCAN_ERR_UTF8, "\"\xf4", "\x90\x80\x80\"", "above U+10FFFF"),
    REJV("utf8", SCAN_ERR_UTF8, "\"", "\xf5\x80\x80\x80\"", "invalid UTF-8"),
    REJV("utf8", SCAN_ERR_UTF8, "\"", "\xf8\x88\x80\x80\x80\"", "invalid UTF-8"),
    REJV("utf8", SCAN_ERR_UTF8, "\"", "\xfe\"", "invalid UTF-8"),
    REJV("utf8", SCAN_ERR_UTF8, "\"ok \xc3\xa9 ", "\xff\"", "invalid UTF-8"),
    REJ("utf8", J, SCAN_ERR_UTF8, "{\"messages\":[{\"", "\xff\":1}]}", "invalid UTF-8"),
    REJ("utf8", J, SCAN_ERR_UTF8, "{\"messages\":[{\"m\":{\"h\":\"", "\xc0\xaf\"}}]}", "overlong"),
    REJ("utf8", J, SCAN_ERR_UTF8, "{\"messages\":[", "\x80]}", "continuation"),
    REJ("utf8", J, SCAN_ERR_UTF8, "{\"messages\":[]}", "\xff", "invalid UTF-8"),
    REJ("utf8", J, SCAN_ERR_UTF8, "", "\xc0\xaf[]", "overlong"),
    REJ("utf8", ND, SCAN_ERR_UTF8, "{\"a\":\"\xf4", "\x90\x80\x80\"}\n", "above U+10FFFF"),

    REJV("utf8", SCAN_ERR_UTF8, "\"01234567",
         "\x80"
         "89abcdefghijklmnopqrstuvwxyz0123456789\"",
         "continuation"),
    REJV("utf8", SCAN_ERR_UTF8, "\"0123456789abcdefghijklm\xe0",
         "\x80\xafnopqrstuvwxyz0123456789\"", "overlong"),
    /* ---------------------------------------------------------------- truncation */
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{", "", "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"", "", "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"packet_i", "", "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"packet_id\"", "", "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"packet_id\":", "", "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"packet_id\":\"p1", "", "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"packet_id\":\"p1\",", "", "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"packet_id\":\"p1\",\"messages\":[", "",
        "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"packet_id\":\"p1\",\"messages\":[{\"id\":\"m1\",", "",
        "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"n\":-", "", "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"n\":-12.", "", "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"n\":-12.5e", "", "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"n\":-12.5e+", "", "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"n\":-12.5e+3", "", "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"t\":tr", "", "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"u\":nul", "", "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"s\":\"a\\", "", "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"s\":\"a\\u00", "", "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"s\":\"\xe2\x82", "", "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"s\":\"\xf0\x9f", "", "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"m\":{\"k\":[1,{", "", "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"m\":{\"k\":[1,{}]}}]", "",
        "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"s\":\"abc\\\"}]}", "", "end of input"),
    REJ("truncation", J, SCAN_ERR_SYNTAX, "[{}", "", "end of input"),
    REJ("truncation", ND, SCAN_ERR_SYNTAX, "{\"a\":1}\n{\"b\":", "", "end of input"),
    REJ("truncation", ND, SCAN_ERR_SYNTAX, "{\"b\":", "\n{\"a\":1}\n", "end of line"),
    REJ("truncation", ND, SCAN_ERR_SYNTAX, "{\"b\":\"x", "\ny\"}\n", "end of line"),
    REJ("truncation", ND, SCAN_ERR_SYNTAX, "{\"a\":1}\n{\"b\":2\r", "\n", "end of line"),

    /* ---------------------------------------------------------------- NUL bytes */
    REJV("nul", SCAN_ERR_SYNTAX, "1", "\0", "expected ',' or '}'"),
    REJV("nul", SCAN_ERR_SYNTAX, "true", "\0", "expected ',' or '}'"),
    REJV("nul", SCAN_ERR_SYNTAX, "false", "\0", "expected ',' or '}'"),
    REJV("nul", SCAN_ERR_SYNTAX, "null", "\0", "expected ',' or '}'"),
    REJV("nul", SCAN_ERR_SYNTAX, "-1.5e3", "\0", "expected ',' or '}'"),
    REJV("nul", SCAN_ERR_SYNTAX, "[1", "\0,2]", "expected ',' or ']'"),
    REJV("nul", SCAN_ERR_SYNTAX, "\"a", "\0b\"", "control character"),
    REJV("nul", SCAN_ERR_SYNTAX, "", "\0", "expected value"),
    REJ("nul", J, SCAN_ERR_SYNTAX, "{\"messages\":[]}", "\0", "trailing data"),
    REJ("nul", J, SCAN_ERR_SYNTAX, "", "\0{\"messages\":[]}", "expected value"),
    REJ("nul", J, SCAN_ERR_SYNTAX, "{\"messages\":[{}", "\0]}", "expected ',' or ']'"),
    REJ("nul", J, SCAN_ERR_SYNTAX, "{\"messages\"", "\0:[]}", "expected ':'"),
    REJ("nul", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a", "\0\":1}]}", "control character"),
    REJ("nul", ND, SCAN_ERR_SYNTAX, "{\"a\":1}", "\0\n", "end of line"),
    REJ("nul", ND, SCAN_ERR_SYNTAX, "", "\0\n{\"a\":1}\n", "expected value"),
    REJ("nul", ND, SCAN_ERR_SYNTAX, "{\"a\":1", "\0}\n", "expected ',' or '}'"),

    /* ---------------------------------------------------------------- NDJSON errors */
    REJ("ndjson invalid", ND, SCAN_ERR_SYNTAX, "{\"a\":1}", "{\"b\":2}\n", "end of line"),
    REJ("ndjson invalid", ND, SCAN_ERR_SYNTAX, "{\"a\":1} ", "{\"b\":2}\n", "end of line"),
    REJ("ndjson invalid", ND, SCAN_ERR_SYNTAX, "{\"a\":1}", ",\n{\"b\":2}\n", "end of line"),
    REJ("ndjson invalid", ND, SCAN_ERR_SYNTAX, "{\"a\":1}\n", "xyz\n", "expected value"),
    REJ("ndjson invalid", ND, SCAN_ERR_SYNTAX, "{\"a\":1}\n", "# comment\n", "expected value"),
    REJ("ndjson invalid", ND, SCAN_ERR_SYNTAX, "{\"a\":1}\n", "\f\n", "expected value"),
    REJ("ndjson invalid", ND, SCAN_ERR_SYNTAX, "{\"a\":1}\n", "\v\n", "expected value"),
    REJ("ndjson invalid", ND, SCAN_ERR_SYNTAX, "{\"a\":1}\n1 ", "2\n", "end of line"),
    REJ("ndjson invalid", ND, SCAN_ERR_SYNTAX, "{\"a\":1}\n{}\r\r", "}\n", "end of line"),

    /* ---------------------------------------------------------------- shape */
    REJ("shape", J, SCAN_ERR_SHAPE, "{", "}", "\"messages\" is missing"),
    REJ("shape", J, SCAN_ERR_SHAPE, "{\"packet_id\":\"p\"", "}", "\"messages\" is missing"),
    REJ("shape", J, SCAN_ERR_SHAPE, "{\"Messages\":[],\"messages \":[],\"meta\":{\"messages\":[]}",
        "}", "\"messages\" is missing"),
    REJ("shape", J, SCAN_ERR_SHAPE, "{\"messages\":", "{}}", "not an array"),
    REJ("shape", J, SCAN_ERR_SHAPE, "{\"messages\":", "\"[]\"}", "not an array"),
    REJ("shape", J, SCAN_ERR_SHAPE, "{\"messages\":", "null}", "not an array"),
    REJ("shape", J, SCAN_ERR_SHAPE, "{\"messages\":", "1}", "not an array"),
    REJ("shape", J, SCAN_ERR_SHAPE, "{\"messages\":[{}],\"messages\":", "{}}", "not an array"),
    REJ("shape", J, SCAN_ERR_SHAPE, "{\"messages\":[", "1]}", "record is not an object"),
    REJ("shape", J, SCAN_ERR_SHAPE, "{\"messages\":[", "1,2]}", "record is not an object"),
    REJ("shape", J, SCAN_ERR_SHAPE, "{\"messages\":[{},", "\"x\"]}", "record is not an object"),
    REJ("shape", J, SCAN_ERR_SHAPE, "{\"messages\":[", "[]]}", "record is not an object"),
    REJ("shape", J, SCAN_ERR_SHAPE, "{\"messages\":[", "null]}", "record is not an object"),
    REJ("shape", J, SCAN_ERR_SHAPE, "[", "1]", "record is not an object"),
    REJ("shape", J, SCAN_ERR_SHAPE, "[{},", "[{}]]", "record is not an object"),
    REJ("shape", J, SCAN_ERR_SHAPE, "", "1", "top-level"),
    REJ("shape", J, SCAN_ERR_SHAPE, " \n", "\"x\" ", "top-level"),
    REJ("shape", J, SCAN_ERR_SHAPE, "", "true", "top-level"),
    REJ("shape", J, SCAN_ERR_SHAPE, "", "null", "top-level"),
    REJ("shape", ND, SCAN_ERR_SHAPE, "", "[{\"a\":1}]\n", "record is not an object"),
    REJ("shape", ND, SCAN_ERR_SHAPE, "{\"a\":1}\n", "1\n\"x\"\n", "record is not an object"),
    /* a shape error is reported only if the rest of the body is valid JSON */
    REJ("shape", J, SCAN_ERR_SYNTAX, "{\"messages\":5,\"x\":tru", "}", "invalid literal"),
    REJ("shape", J, SCAN_ERR_UTF8, "[1,{\"a\":\"", "\xff\"}]", "invalid UTF-8"),
    REJ("shape", J, SCAN_ERR_SYNTAX, "1", "x", "trailing data"),
    REJ("shape", ND, SCAN_ERR_SYNTAX, "[]\n{\"a\":", "\n", "end of line"),

    /* ---------------------------------------------------------------- limits */
    ACCL("limits", J, "{\"messages\":[{}]}", 1, .max_depth = 3),
    REJL("limits", J, SCAN_ERR_DEPTH, "{\"messages\":[{\"a\":", "[]}]}", "too deep",
         .max_depth = 3),
    REJL("limits", J, SCAN_ERR_DEPTH, "{\"messages\":[{\"a\":", "{}}]}", "too deep",
         .max_depth = 3),
    REJL("limits", J, SCAN_ERR_DEPTH, "{\"messages\":[{\"a\":[", "[1]]}]}", "too deep",
         .max_depth = 4),
    ACCL("limits", J, "[{\"a\":1}]", 1, .max_depth = 2),
    REJL("limits", J, SCAN_ERR_DEPTH, "[{\"a\":", "[]}]", "too deep", .max_depth = 2),
    REJL("limits", J, SCAN_ERR_DEPTH, "[", "{}]", "too deep", .max_depth = 1),
    REJL("limits", J, SCAN_ERR_DEPTH, "{\"messages\":", "[]}", "too deep", .max_depth = 1),
    REJL("limits", J, SCAN_ERR_DEPTH, "{\"meta\":[", "[1]],\"messages\":[]}", "too deep",
         .max_depth = 2),
    ACCL("limits", ND, "{\"a\":1}\n{\"b\":2}\n", 2, .max_depth = 1),
    REJL("limits", ND, SCAN_ERR_DEPTH, "{\"a\":1}\n{\"a\":", "[]}\n", "too deep", .max_depth = 1),
    REJL("limits", ND, SCAN_ERR_DEPTH, "[", "[1]]\n", "too deep", .max_depth = 1),
    REJL("limits", J, SCAN_ERR_SYNTAX, "{\"messages\":[{\"a\":[", "x,[[]]]}]}", "expected value",
         .max_depth = 4),
    ACCL("limits", J, "[{},{}]", 2, .max_records = 2),
    REJL("limits", J, SCAN_ERR_TOO_MANY, "[{},{},", "{}]", "too many", .max_records = 2),
    REJL("limits", J, SCAN_ERR_TOO_MANY, "{\"messages\":[{},", "{}]}", "too many",
         .max_records = 1),
    REJL("limits", ND, SCAN_ERR_TOO_MANY, "{}\n{}\n", "{}\n", "too many", .max_records = 2),
    ACCL("limits", J, "{\"messages\":[{},{}],\"messages\":[{}]}", 1, .max_records = 2),
    ACCL("limits", J, "[{\"a\":1}]", 1, .max_record_bytes = 7),
    REJL("limits", J, SCAN_ERR_RECORD_SIZE, "[{\"a\":12", "}]", "too large", .max_record_bytes = 7),
    REJL("limits", ND, SCAN_ERR_RECORD_SIZE, "{}\n{\"a\":12", "}\n", "too large",
         .max_record_bytes = 7),
    REJL("limits", J, SCAN_ERR_RECORD_SIZE, "[{\"a\":12", "},x]", "too large",
         .max_record_bytes = 7),
};

/* Checks one table case; prints what differs. Returns true when it passes. */
static bool run_case(const tcase_t *t, scan_result_t *res)
{
    char *buf = dup_exact(t->body, t->len);
    int st = scan_body(buf, t->len, t->fmt, &t->lim, res);
    bool ok = true;
    char why[256] = "";

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (ok && !(cond)) {                                                                       \
            ok = false;                                                                            \
            snprintf(why, sizeof why, __VA_ARGS__);                                                \
        }                                                                                          \
    } while (0)

    CHECK(st == t->status && (int)res->status == st, "status %s, expected %s", scan_status_name(st),
          scan_status_name(t->status));
    if (t->status != SCAN_OK) {
        CHECK(res->err_offset == t->err_off, "err_offset %zu, expected %zu", res->err_offset,
              t->err_off);
        CHECK(res->err_msg != NULL && res->err_msg[0] != 0, "no err_msg");
        CHECK(t->msg == NULL || strstr(res->err_msg, t->msg) != NULL,
              "err_msg \"%s\", expected it to contain \"%s\"", res->err_msg, t->msg);
        CHECK(res->count == 0, "count %zu on error", res->count);
    } else {
        CHECK(res->err_msg == NULL, "err_msg set on success");
        CHECK(res->count == (size_t)t->nrec, "count %zu, expected %d", res->count, t->nrec);
        size_t from = 0;
        for (int i = 0; ok && t->recs && i < t->nrec; i++) {
            const xrec_t *x = &t->recs[i];
            const scan_record_t *r = &res->records[i];
            size_t xl = strlen(x->text);
            const char *at = memmem(t->body + from, t->len - from, x->text, xl);
            CHECK(at != NULL, "bad test: record %d text not in body", i);
            if (!ok) break;
            size_t xoff = (size_t)(at - t->body);
            from = xoff + xl;
            CHECK(r->rec.off == xoff && r->rec.len == xl, "record %d at %u+%u, expected %zu+%zu", i,
                  r->rec.off, r->rec.len, xoff, xl);
            const struct {
                const char *name;
                scan_slice_t s;
                const char *want;
            } f[] = {{"id", r->id, x->id},
                     {"level", r->level, x->level},
                     {"source", r->source, x->source},
                     {"type", r->type, x->type}};
            for (int k = 0; k < 4; k++) {
                if (f[k].want == NULL) {
                    CHECK(slice_absent(f[k].s), "record %d: %s present (%u+%u), expected absent", i,
                          f[k].name, f[k].s.off, f[k].s.len);
                } else {
                    size_t wl = strlen(f[k].want);
                    CHECK(!slice_absent(f[k].s) && f[k].s.len == wl && f[k].s.off > r->rec.off &&
                              f[k].s.off + wl < (size_t)r->rec.off + r->rec.len &&
                              memcmp(t->body + f[k].s.off, f[k].want, wl) == 0,
                          "record %d: %s is %u+%u \"%.*s\", expected \"%s\"", i, f[k].name,
                          f[k].s.off, f[k].s.len, (int)f[k].s.len, t->body + f[k].s.off, f[k].want);
                }
            }
            CHECK(r->flags == x->flags, "record %d: flags 0x%x, expected 0x%x", i, r->flags,
                  x->flags);
        }
        const struct {
            const char *name;
            scan_slice_t s;
            const char *want;
        } p[] = {{"packet_id", res->packet_id, t->packet_id},
                 {"agent_id", res->agent_id, t->agent_id}};
        for (int k = 0; k < 2; k++) {
            if (p[k].want == NULL)
                CHECK(slice_absent(p[k].s), "%s present, expected absent", p[k].name);
            else
                CHECK(!slice_absent(p[k].s) && p[k].s.len == strlen(p[k].want) &&
                          memcmp(t->body + p[k].s.off, p[k].want, p[k].s.len) == 0,
                      "%s is \"%.*s\", expected \"%s\"", p[k].name, (int)p[k].s.len,
                      t->body + p[k].s.off, p[k].want);
        }
    }
#undef CHECK
    if (!ok) {
        fprintf(stderr, "FAIL [%s] %s\n", t->cat, why);
        print_escaped("  body", t->body, t->len);
        fprintf(stderr, "  got: %s at %zu \"%s\", %zu records\n", scan_status_name(st),
                res->err_offset, res->err_msg ? res->err_msg : "(null)", res->count);
    }
    free(buf);
    return ok;
}

static void test_conformance_table(void **state)
{
    (void)state;
    scan_result_t res = {0}; /* one result reused for every case */
    const size_t n = sizeof cases / sizeof cases[0];
    const char *cats[32];
    int cat_total[32] = {0}, cat_acc[32] = {0}, ncat = 0, failures = 0;
    for (size_t i = 0; i < n; i++) {
        int c = 0;
        while (c < ncat && strcmp(cats[c], cases[i].cat) != 0)
            c++;
        if (c == ncat) cats[ncat++] = cases[i].cat;
        cat_total[c]++;
        if (cases[i].status == SCAN_OK) cat_acc[c]++;
        if (!run_case(&cases[i], &res)) failures++;
    }
    printf("conformance table: %zu cases, %d failed\n", n, failures);
    for (int c = 0; c < ncat; c++)
        printf("  %-16s %3d  (%d must be accepted, %d rejected)\n", cats[c], cat_total[c],
               cat_acc[c], cat_total[c] - cat_acc[c]);
    scan_result_free(&res);
    assert_int_equal(failures, 0);
}

/* ==================================================================================== */
/* Seeds: valid bodies for the property tests and the fuzzer                             */

typedef struct {
    const char *body;
    size_t len;
    scan_format_t fmt;
} seed_t;

#define SEED(s, f)                                                                                 \
    {                                                                                              \
        s, sizeof(s) - 1, f                                                                        \
    }

static const seed_t seeds[] = {
    SEED("{\"packet_id\":\"p-1\",\"agent_id\":\"a-1\",\"messages\":[" REC206 ",{\"id\":\"m-2\","
         "\"level\":\"WARN\",\"source\":\"auth\",\"type\":\"audit\",\"message\":\"login failed\","
         "\"metadata\":{\"host\":\"web-1\",\"pid\":4711}}]}",
         J),
    SEED("{\"messages\":[{\"lev\\u0065l\":\"ERR\\\"OR\",\"source\":\"a\\\\b\\/c\",\"\\u0069d\":"
         "\"x\\ny\",\"crit\\u0069cal\":true,\"m\":\"\\b\\f\\n\\r\\t\\u00e9\\uFFFF\"},{\"critical\":"
         "false,\"type\":\"t\",\"meta\":{\"level\":\"no\"}}]}",
         J),
    SEED("{\"messages\":[{\"source\":\"caf\xc3\xa9\",\"m\":\"\xe2\x82\xac \xf0\x9f\x98\x80 "
         "\xf4\x8f\xbf\xbf \xed\x9f\xbf\",\"k\xc3\xa9y\":\"\xe6\x97\xa5\xe6\x9c\xac\",\"s\":"
         "\"\\ud83d\\ude00\",\"l\":\"\\ud800x\",\"z\":\"\\u0000\"}]}",
         J),
    SEED("[{\"id\":-12.5e+3,\"n\":[0,-0,1e5,1E-5,0.5,123456789012345678901234567890,1e400,"
         "-1e-400],\"t\":true,\"f\":false,\"u\":null}]",
         J),
    SEED(" [ { \"level\" : \"INFO\" ,\r\n \"a\" : [ 1 , 2 ] } ,\t{ } ] \n", J),
    SEED("{\"messages\":[{\"a\":[[[[{\"b\":{\"c\":[{},[[]],{\"d\":[1,[2,[3]]]}]}}]]]]}],\"x\":{}}",
         J),
    SEED("{\"messages\":[{\"x\":1}],\"packet_id\":\"a\",\"messages\":[{\"level\":\"A\",\"level\":"
         "\"B\",\"id\":1,\"id\":\"two\"}],\"agent_id\":null}",
         J),
    SEED("[{},{\"a\":1},{\"level\":\"x\"},{\"b\":[true]},{\"c\":{\"d\":null}}]", J),
    SEED("{\"messages\":[{}]}", J),
    SEED("{\"m\\u0065ssages\":[{\"a\":\"b\"}],\"packet\\u005fid\":\"p\"}", J),
    SEED("{\"a\":1}\r\n\r\n{\"level\":\"INFO\",\"id\":3}\r\n  \n{\"critical\":true}\n", ND),
    SEED(REC206 "\n{\"id\":\"m-2\",\"level\":\"WARN\",\"message\":\"x\"}", ND),
    SEED("{\"s\":\"caf\xc3\xa9 \\u00e9 \\ud800\",\"lev\\u0065l\":\"E\"}\n\n{\"n\":-0.5e-7}\n", ND),
};
#define NSEEDS (sizeof seeds / sizeof seeds[0])

/* ==================================================================================== */
/* Property tests                                                                       */

/* Every seed is accepted; every proper prefix of a JSON seed that cuts before its last
 * bracket is a truncation (SYNTAX at the prefix length); NDJSON prefixes are either
 * accepted or a truncation. Each prefix is an exact-size heap copy, so ASan flags any
 * read past its end. */
static void test_all_prefixes(void **state)
{
    (void)state;
    scan_result_t res = {0};
    size_t checked = 0;
    for (size_t s = 0; s < NSEEDS; s++) {
        const seed_t *sd = &seeds[s];
        char *copy = dup_exact(sd->body, sd->len);
        assert_int_equal(scan_body(copy, sd->len, sd->fmt, NULL, &res), SCAN_OK);
        free(copy);
        size_t last = sd->len;
        while (last > 0 && strchr(" \t\r\n", sd->body[last - 1]))
            last--;
        for (size_t plen = 0; plen < sd->len; plen++) {
            char *b = dup_exact(sd->body, plen);
            int st = scan_body(b, plen, sd->fmt, NULL, &res);
            bool ok;
            if (sd->fmt == SCAN_FORMAT_JSON && plen < last)
                ok = st == SCAN_ERR_SYNTAX && res.err_offset == plen;
            else
                ok = st == SCAN_OK || (st == SCAN_ERR_SYNTAX && res.err_offset == plen);
            if (!ok) {
                print_escaped("prefix", b, plen);
                fprintf(stderr, "  -> %s at %zu (%s)\n", scan_status_name(st), res.err_offset,
                        res.err_msg);
            }
            assert_true(ok);
            free(b);
            checked++;
        }
    }
    printf("prefixes: %zu proper prefixes of %zu seeds checked\n", checked, NSEEDS);
    scan_result_free(&res);
}

/* A NUL byte can never appear in valid JSON text and 0xFF never in UTF-8: putting one
 * at any position i of a valid body must be rejected exactly at i. */
static void test_bad_byte_everywhere(void **state)
{
    (void)state;
    scan_result_t res = {0};
    size_t checked = 0;
    for (size_t s = 0; s < NSEEDS; s++) {
        const seed_t *sd = &seeds[s];
        char *b = dup_exact(sd->body, sd->len);
        for (size_t i = 0; i < sd->len; i++) {
            static const char bad[] = {'\0', (char)0xff};
            for (int k = 0; k < 2; k++) {
                b[i] = bad[k];
                int st = scan_body(b, sd->len, sd->fmt, NULL, &res);
                bool ok = bad_byte_status_ok(b, i, bad[k], st) && res.err_offset == i;
                if (!ok) {
                    print_escaped("body", b, sd->len);
                    fprintf(stderr, "  byte 0x%02x at %zu -> %s at %zu (%s)\n",
                            (unsigned char)bad[k], i, scan_status_name(st), res.err_offset,
                            res.err_msg);
                }
                assert_true(ok);
                checked++;
            }
            b[i] = sd->body[i];
        }
        free(b);
    }
    printf("bad bytes: %zu single-byte NUL/0xFF substitutions rejected at the right offset\n",
           checked);
    scan_result_free(&res);
}

/* Builds {"messages":[{"a":<n nested arrays>}]} (depth n + 3) into a malloc'd buffer. */
static char *deep_packet(size_t n, size_t *len)
{
    const char *pre = "{\"messages\":[{\"a\":", *post = "}]}";
    size_t pl = strlen(pre), ql = strlen(post);
    *len = pl + 2 * n + ql;
    char *b = malloc(*len);
    assert_non_null(b);
    memcpy(b, pre, pl);
    memset(b + pl, '[', n);
    memset(b + pl + n, ']', n);
    memcpy(b + pl + 2 * n, post, ql);
    return b;
}

static void test_depth_limits(void **state)
{
    (void)state;
    scan_result_t res = {0};
    size_t len;
    scan_limits_t zero = {0}, lim = {0};
    char *b;

    /* default 64: packet + messages + record + 61 arrays */
    b = deep_packet(61, &len);
    assert_int_equal(scan_body(b, len, SCAN_FORMAT_JSON, NULL, &res), SCAN_OK);
    assert_int_equal(scan_body(b, len, SCAN_FORMAT_JSON, &zero, &res), SCAN_OK);
    free(b);
    b = deep_packet(62, &len);
    assert_int_equal(scan_body(b, len, SCAN_FORMAT_JSON, NULL, &res), SCAN_ERR_DEPTH);
    assert_int_equal(res.err_offset, 18 + 61); /* the 62nd '[' */
    assert_int_equal(scan_body(b, len, SCAN_FORMAT_JSON, &zero, &res), SCAN_ERR_DEPTH);
    lim.max_depth = 65;
    assert_int_equal(scan_body(b, len, SCAN_FORMAT_JSON, &lim, &res), SCAN_OK);
    free(b);

    /* configured limits above 4096 are clamped (no recursion: 100000 levels are fine) */
    lim.max_depth = 1000000;
    b = deep_packet(4093, &len);
    assert_int_equal(scan_body(b, len, SCAN_FORMAT_JSON, &lim, &res), SCAN_OK);
    free(b);
    b = deep_packet(100000, &len);
    assert_int_equal(scan_body(b, len, SCAN_FORMAT_JSON, &lim, &res), SCAN_ERR_DEPTH);
    assert_int_equal(res.err_offset, 18 + 4093);
    assert_int_equal(scan_body(b, len, SCAN_FORMAT_JSON, NULL, &res), SCAN_ERR_DEPTH);
    assert_int_equal(res.err_offset, 18 + 61);
    free(b);

    /* mixed objects/arrays across the 64-bit words of the nesting stack: 300 levels of
     * [{"k": ... }] must close in order, and a wrong closer deep inside is caught */
    enum { LV = 300 };
    char *m = malloc(LV * 8 + 64);
    assert_non_null(m);
    size_t n = 0;
    n += (size_t)sprintf(m + n, "[{\"a\":");
    for (int i = 0; i < LV; i++)
        n += (size_t)sprintf(m + n, i % 3 ? "[" : "{\"k\":");
    n += (size_t)sprintf(m + n, "0");
    size_t wrong_at = 0;
    for (int i = LV - 1; i >= 0; i--) {
        if (i == 130) wrong_at = n;
        m[n++] = i % 3 ? ']' : '}';
    }
    n += (size_t)sprintf(m + n, "}]");
    lim.max_depth = LV + 2;
    assert_int_equal(scan_body(m, n, SCAN_FORMAT_JSON, &lim, &res), SCAN_OK);
    assert_int_equal(res.count, 1);
    lim.max_depth = LV + 1;
    assert_int_equal(scan_body(m, n, SCAN_FORMAT_JSON, &lim, &res), SCAN_ERR_DEPTH);
    lim.max_depth = LV + 2;
    m[wrong_at] = m[wrong_at] == ']' ? '}' : ']';
    assert_int_equal(scan_body(m, n, SCAN_FORMAT_JSON, &lim, &res), SCAN_ERR_SYNTAX);
    assert_int_equal(res.err_offset, wrong_at);
    free(m);
    scan_result_free(&res);
}

/* Default max_records (100000) and record table growth. */
static void test_record_count_limit(void **state)
{
    (void)state;
    scan_result_t res = {0};
    const size_t n = 100001;
    char *b = malloc(3 * n + 2);
    assert_non_null(b);
    size_t len = 0;
    b[len++] = '[';
    for (size_t i = 0; i < n; i++) {
        if (i) b[len++] = ',';
        b[len++] = '{';
        b[len++] = '}';
    }
    b[len++] = ']';
    assert_int_equal(scan_body(b, len, SCAN_FORMAT_JSON, NULL, &res), SCAN_ERR_TOO_MANY);
    assert_int_equal(res.err_offset, len - 3); /* the 100001st '{' */
    assert_int_equal(res.count, 0);
    b[len - 4] = ']'; /* drop the last record: 100000 */
    assert_int_equal(scan_body(b, len - 3, SCAN_FORMAT_JSON, NULL, &res), SCAN_OK);
    assert_int_equal(res.count, 100000);
    assert_true(res.capacity >= 100000 && res.capacity <= 100000);
    assert_int_equal(res.records[99999].rec.off, len - 6);
    assert_int_equal(res.records[99999].rec.len, 2);
    free(b);
    scan_result_free(&res);
}

/* One scan_result_t reused across bodies of different sizes, formats and outcomes. */
static void test_result_reuse(void **state)
{
    (void)state;
    scan_result_t res = {0};
    scan_result_free(&res); /* safe on a zeroed result */

    const size_t n = 1000;
    size_t cap = 64 + n * (sizeof(REC206) + 1);
    char *big = malloc(cap);
    assert_non_null(big);
    size_t len = (size_t)sprintf(big, "{\"packet_id\":\"pp\",\"messages\":[");
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(big + len, "%s%s", i ? "," : "", REC206);
    len += (size_t)sprintf(big + len, "]}");
    assert_int_equal(scan_body(big, len, SCAN_FORMAT_JSON, NULL, &res), SCAN_OK);
    assert_int_equal(res.count, n);
    assert_true(res.capacity >= n);
    assert_int_equal(res.packet_id.len, 2);
    assert_int_equal(res.records[n - 1].rec.len, sizeof(REC206) - 1);
    scan_record_t *table = res.records;
    size_t capacity = res.capacity;

    for (int round = 0; round < 50; round++) {
        static const char small[] = "[{\"level\":\"E\"}]";
        assert_int_equal(scan_body(small, sizeof small - 1, SCAN_FORMAT_JSON, NULL, &res), SCAN_OK);
        assert_int_equal(res.count, 1);
        assert_true(slice_absent(res.packet_id)); /* not kept from the previous body */
        assert_int_equal(res.records[0].level.off, 11);
        assert_null(res.err_msg);
        assert_int_equal(res.err_offset, 0);

        static const char bad[] = "{\"packet_id\":\"x\",\"messages\":[{}],}";
        assert_int_equal(scan_body(bad, sizeof bad - 1, SCAN_FORMAT_JSON, NULL, &res),
                         SCAN_ERR_SYNTAX);
        assert_int_equal(res.status, SCAN_ERR_SYNTAX);
        assert_int_equal(res.count, 0);
        assert_true(slice_absent(res.packet_id));
        assert_int_equal(res.err_offset, sizeof bad - 2);

        static const char nd[] = "{\"a\":1}\n{\"b\":2}\n";
        assert_int_equal(scan_body(nd, sizeof nd - 1, SCAN_FORMAT_NDJSON, NULL, &res), SCAN_OK);
        assert_int_equal(res.count, 2);
        assert_int_equal(res.records[1].rec.off, 8);
        assert_int_equal(res.status, SCAN_OK);
    }
    assert_ptr_equal(res.records, table); /* table kept, not reallocated */
    assert_int_equal(res.capacity, capacity);
    assert_int_equal(scan_body(big, len, SCAN_FORMAT_JSON, NULL, &res), SCAN_OK);
    assert_int_equal(res.count, n);
    free(big);
    scan_result_free(&res);
    assert_null(res.records);
    assert_int_equal(res.capacity, 0);
    scan_result_free(&res);
}

/* Bodies that cannot be addressed with uint32_t offsets are refused without reading. */
static void test_huge_and_empty_bodies(void **state)
{
    (void)state;
    scan_result_t res = {0};
    if (SIZE_MAX > UINT32_MAX) {
        char *tiny = dup_exact("[]", 2);
        size_t huge = (size_t)UINT32_MAX + 1;
        assert_int_equal(scan_body(tiny, huge, SCAN_FORMAT_JSON, NULL, &res), SCAN_ERR_RECORD_SIZE);
        assert_int_equal(res.err_offset, UINT32_MAX);
        assert_int_equal(res.count, 0);
        assert_int_equal(scan_body(tiny, huge, SCAN_FORMAT_NDJSON, NULL, &res),
                         SCAN_ERR_RECORD_SIZE);
        free(tiny);
    }
    assert_int_equal(scan_body(NULL, 0, SCAN_FORMAT_JSON, NULL, &res), SCAN_ERR_SYNTAX);
    assert_int_equal(res.err_offset, 0);
    assert_int_equal(scan_body(NULL, 0, SCAN_FORMAT_NDJSON, NULL, &res), SCAN_OK);
    assert_int_equal(res.count, 0);
    /* an unknown format value is treated as SCAN_FORMAT_JSON */
    assert_int_equal(scan_body("[{}]", 4, (scan_format_t)7, NULL, &res), SCAN_OK);
    assert_int_equal(res.count, 1);
    scan_result_free(&res);
}

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(scan_status_name(SCAN_OK), "ok");
    assert_string_equal(scan_status_name(SCAN_ERR_SYNTAX), "syntax");
    assert_string_equal(scan_status_name(SCAN_ERR_UTF8), "utf8");
    assert_string_equal(scan_status_name(SCAN_ERR_SHAPE), "shape");
    assert_string_equal(scan_status_name(SCAN_ERR_DEPTH), "depth");
    assert_string_equal(scan_status_name(SCAN_ERR_TOO_MANY), "too_many_records");
    assert_string_equal(scan_status_name(SCAN_ERR_RECORD_SIZE), "record_too_large");
    assert_string_equal(scan_status_name(SCAN_ERR_NOMEM), "nomem");
    assert_string_equal(scan_status_name(42), "unknown");
    assert_string_equal(scan_status_name(-42), "unknown");
}

/* The jansson oracle, its checks and the known divergences: tests/fuzz/scan_oracle.h */

static const unsigned char interesting[] = {
    '"',  '\\', '{',  '}',  '[',  ']',  ',',  ':',  0x00, 0x80, 0xc0, 0xed, 0xf4, 0xff, ' ',
    '\n', '\r', '\t', '0',  '1',  '9',  '-',  '+',  '.',  'e',  'E',  'u',  't',  'n',  'f',
    0x1f, 0x7f, 0xc3, 0xe0, 0xf0, 0xa0, 0xbf, 0x90, 0x8f, '/',  'x',  'a',  'l',  'D',  '8'};
static const char *const dict[] = {"\\u0065",
                                   "\\ud83d\\ude00",
                                   "\\ud800",
                                   "\\uDC00",
                                   "\\u0000",
                                   "1e400",
                                   "-0.5e+3",
                                   "123456789012345678901234567890",
                                   "true",
                                   "false",
                                   "null",
                                   "\xe2\x82\xac",
                                   "\xf0\x9f\x98\x80",
                                   "\xc3\xa9",
                                   "\"level\":\"X\",",
                                   ",\"critical\":true",
                                   "\"id\":7,",
                                   "{}",
                                   "[]",
                                   "{\"a\":1}",
                                   "\r\n",
                                   "\n",
                                   "\"messages\":",
                                   "\\\"",
                                   "\\\\",
                                   "\xef\xbb\xbf",
                                   "\xed\xa0\x80",
                                   "\xf4\x90\x80\x80",
                                   "\xe0\x80\xaf",
                                   "\xc0\xaf",
                                   "\"lev\\u0065l\":\"Y\",",
                                   "\"source\":\"s\\n\",",
                                   "[[[[",
                                   "]]]]",
                                   "\"\\u00",
                                   "-",
                                   "0.",
                                   "01",
                                   "-0",
                                   "1.e5",
                                   "1e+",
                                   "\"critical\":1,",
                                   "\"critical\":\"true\",",
                                   "\"critical\":true,",
                                   "\"id\":-1.5,",
                                   "\xf0\x80\x80\xaf",
                                   "\xf0\x8f\xbf\xbf",
                                   "\xf4\x8f\xbf\xbf",
                                   "\xf4\x90\x80\x80",
                                   "\xed\x9f\xbf",
                                   "\xee\x80\x80",
                                   "\xc2\x80",
                                   "\xdf\xbf",
                                   "\xe0\xa0\x80",
                                   "\xe0\x9f\xbf",
                                   "\xef\xbf\xbf",
                                   "\x7f",
                                   "\xc1\xbf",
                                   "\xf5\x80\x80\x80"};

/* Applies 1-3 random mutations to buf[0..*n) (capacity cap). */
static void mutate(unsigned char *buf, size_t *n, size_t cap)
{
    static const int nops[] = {1, 1, 1, 1, 1, 2, 2, 2, 3, 3}; /* mostly light mutations */
    int ops = nops[rng_below(10)];
    for (int op = 0; op < ops; op++) {
        size_t len = *n, pos = len ? rng_below(len + 1) : 0, k = 1 + rng_below(3);
        switch (rng_below(11)) {
        case 0:
        case 1: /* replace 1-3 bytes */
            for (size_t i = 0; i < k && len; i++)
                buf[rng_below(len)] = rng_below(2) ? interesting[rng_below(sizeof interesting)]
                                                   : (unsigned char)rng_below(256);
            break;
        case 2:
        case 3: /* insert 1-3 bytes */
            if (len + k > cap) break;
            memmove(buf + pos + k, buf + pos, len - pos);
            for (size_t i = 0; i < k; i++)
                buf[pos + i] = rng_below(3) ? interesting[rng_below(sizeof interesting)]
                                            : (unsigned char)rng_below(256);
            *n = len + k;
            break;
        case 4: /* delete 1-3 bytes */
            if (pos + k > len) k = len - pos;
            memmove(buf + pos, buf + pos + k, len - pos - k);
            *n = len - k;
            break;
        case 5: /* truncate */
            *n = pos;
            break;
        case 6:
        case 7: { /* insert a dictionary token */
            const char *t = dict[rng_below(sizeof dict / sizeof dict[0])];
            size_t tl = strlen(t);
            if (len + tl > cap) break;
            memmove(buf + pos + tl, buf + pos, len - pos);
            memcpy(buf + pos, t, tl);
            *n = len + tl;
            break;
        }
        case 8: { /* overwrite with a dictionary token */
            const char *t = dict[rng_below(sizeof dict / sizeof dict[0])];
            size_t tl = strlen(t);
            if (pos + tl > len) break;
            memcpy(buf + pos, t, tl);
            break;
        }
        case 10: /* a NUL right after a number or literal: jansson's known hole */
            while (pos < len && !strchr("0123456789el", buf[pos]))
                pos++;
            if (pos >= len || !buf[pos] || len + 1 > cap) break;
            memmove(buf + pos + 2, buf + pos + 1, len - pos - 1);
            buf[pos + 1] = 0;
            *n = len + 1;
            break;
        default: { /* duplicate a chunk of the body elsewhere */
            if (len == 0) break;
            size_t from = rng_below(len), cl = 1 + rng_below(32);
            if (from + cl > len) cl = len - from;
            if (len + cl > cap) break;
            unsigned char tmp[32];
            memcpy(tmp, buf + from, cl);
            memmove(buf + pos + cl, buf + pos, len - pos);
            memcpy(buf + pos, tmp, cl);
            *n = len + cl;
            break;
        }
        }
    }
}

static long env_long(const char *name, long def)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 0) : def;
}

/* LOGDIST_SEED (else LOGDIST_FUZZ_SEED), else a new seed from the clock and the pid. */
static uint64_t fuzz_seed(void)
{
    static const char *const names[] = {"LOGDIST_SEED", "LOGDIST_FUZZ_SEED"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return strtoull(v, NULL, 0);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    rng_state = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^
                ((uint64_t)getpid() << 32);
    return rng_next() >> 1; /* mixed; below 2^63 so strtoull round-trips it in any base */
}

static void test_fuzz_vs_jansson(void **state)
{
    (void)state;
    const char *san = getenv("LOGDIST_SANITIZED");
    bool sanitized = san && *san && strcmp(san, "0") != 0;
    long iters = env_long("LOGDIST_FUZZ_ITERS", sanitized ? 30000 : 200000);
    uint64_t seed = fuzz_seed();
    printf("fuzz vs jansson: PRNG seed 0x%llx (replay with LOGDIST_SEED=0x%llx)\n",
           (unsigned long long)seed, (unsigned long long)seed);
    fflush(stdout);
    rng_state = seed;
    fuzz_stats_t st = {0};
    scan_result_t res = {0}; /* one result reused for every input */
    enum { CAP = 4096 };
    unsigned char buf[CAP];

    for (long it = 0; it < iters; it++) {
        const seed_t *sd = &seeds[rng_below(NSEEDS)];
        scan_format_t fmt = sd->fmt;
        if (rng_below(10) == 0)
            fmt = fmt == SCAN_FORMAT_JSON ? SCAN_FORMAT_NDJSON : SCAN_FORMAT_JSON;
        size_t n = sd->len;
        memcpy(buf, sd->body, n);
        mutate(buf, &n, CAP);
        char *b = dup_exact((const char *)buf, n);
        st.iterations++;
        if (fmt == SCAN_FORMAT_NDJSON)
            st.ndjson++;
        else
            st.json++;
        if (check_input(b, n, fmt, &res, &st, 0) != NULL && ++st.failures >= 20) {
            free(b);
            break;
        }
        free(b);
    }
    printf("fuzz vs jansson: %ld inputs (%ld json, %ld ndjson), PRNG seed 0x%llx\n", st.iterations,
           st.json, st.ndjson, (unsigned long long)seed);
    printf("  agree: %ld accepted (%ld records compared field by field), %ld wrong shape, "
           "%ld rejected\n",
           st.agree_ok, st.records_checked, st.agree_shape, st.agree_reject);
    printf("  known jansson divergences (verified by rewrite): %ld NUL after scalar, "
           "%ld lone surrogate escape, %ld number overflow, %ld \\u0000 in key\n",
           st.nul_after_scalar, st.lone_surrogate, st.number_overflow, st.nul_in_key);
    printf("  property checks: %ld error-offset prefix checks, %ld limit/bad-byte checks\n",
           st.prefix_checks, st.limit_checks);
    printf("  unexplained disagreements: %ld\n", st.failures);
    scan_result_free(&res);
    if (st.failures)
        fail_msg("%ld disagreements with jansson; replay with LOGDIST_SEED=0x%llx", st.failures,
                 (unsigned long long)seed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conformance_table),     cmocka_unit_test(test_all_prefixes),
        cmocka_unit_test(test_bad_byte_everywhere),   cmocka_unit_test(test_depth_limits),
        cmocka_unit_test(test_record_count_limit),    cmocka_unit_test(test_result_reuse),
        cmocka_unit_test(test_huge_and_empty_bodies), cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_fuzz_vs_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
