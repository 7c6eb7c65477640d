/*
 * test_forward_decode.c - cmocka tests for src/proto/forward_decode.c, table-driven:
 *   - fwd_frame over hand-written msgpack bytes (complete, incomplete, invalid,
 *     oversize counts and lengths, nesting at and past FWD_MAX_DEPTH);
 *   - fwd_decode over messages built with msgpack-c's packer: every mode (Message,
 *     Forward, PackedForward as bin and as str, CompressedPackedForward with two gzip
 *     members), integer and EventTime, each row of the mapping (docs/PROTOCOLS.md,
 *     "Fluent forward") with the exact NDJSON expected, and the invalid inputs (bad msgpack,
 *     wrong shapes, bad times, bad options, bad gzip, a gzip bomb, too many entries,
 *     output over its bound, PING where none is due and vice versa); for every
 *     decoded message, the decoder's scan entries against scan_body's;
 *   - the handshake digest against a value computed with Python's hashlib, and the
 *     HELO / PONG / ack builders unpacked back with msgpack-c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>
#include <msgpack.h>

#include "proto/forward_decode.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- fwd_frame ------------------------------------------------------------ */

typedef struct {
    const char *name;
    const char *in;
    size_t len, max;
    int rc;
    size_t msg_len;
} frame_case_t;

#define B(s) s, sizeof(s) - 1

static const frame_case_t FRAMES[] = {
    {"fixarray complete", B("\x93\x01\x02\x03"), 100, 1, 4},
    {"fixarray incomplete", B("\x93\x01\x02"), 100, 0, 0},
    {"empty input", B(""), 100, 0, 0},
    {"two values: the first", B("\x01\x02"), 100, 1, 1},
    {"0xc1 is never msgpack", B("\xc1"), 100, -EINVAL, 0},
    {"0xc1 inside an array", B("\x92\x01\xc1"), 100, -EINVAL, 0},
    {"array32 claiming 4G entries", B("\xdd\xff\xff\xff\xff"), 1 << 20, -E2BIG, 0},
    {"map32 claiming 2G pairs", B("\xdf\x7f\xff\xff\xff"), 1 << 20, -E2BIG, 0},
    {"str32 of 1 MiB over max", B("\xdb\x00\x10\x00\x00"), 65536, -E2BIG, 0},
    {"bin32 header incomplete", B("\xc6\x00\x00"), 100, 0, 0},
    {"float64 complete", B("\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"), 100, 1, 9},
    {"float64 incomplete", B("\xcb\x3f\xf8\x00"), 100, 0, 0},
    {"ext8", B("\xc7\x02\x05" "ab"), 100, 1, 5},
    {"fixext8 (EventTime)", B("\xd7\x00\x00\x00\x00\x01\x00\x00\x00\x02"), 100, 1, 10},
    {"fixext16 incomplete", B("\xd8\x01\x00"), 100, 0, 0},
    {"exactly max", B("\x92\x01\x02"), 3, 1, 3},
    {"one byte over max", B("\x92\x01\x02"), 2, -E2BIG, 0},
    {"fixstr", B("\xa3" "abc"), 100, 1, 4},
    {"negative fixint", B("\xff"), 100, 1, 1},
    {"map16 of 1 pair", B("\xde\x00\x01\xa1k\xc0"), 100, 1, 6},
};

static void test_frame_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(FRAMES); i++) {
        const frame_case_t *c = &FRAMES[i];
        size_t len = 0;
        int rc = fwd_frame(c->in, c->len, c->max, &len);
        if (rc != c->rc) fail_msg("%s: rc %d, want %d", c->name, rc, c->rc);
        if (rc == 1 && len != c->msg_len)
            fail_msg("%s: len %zu, want %zu", c->name, len, c->msg_len);
    }
}

static void test_frame_depth(void **state)
{
    (void)state;
    char buf[64];
    size_t len;
    memset(buf, 0x91, sizeof buf);
    buf[FWD_MAX_DEPTH] = 0x01; /* FWD_MAX_DEPTH nested arrays: fine */
    assert_int_equal(fwd_frame(buf, FWD_MAX_DEPTH + 1, 100, &len), 1);
    assert_int_equal(len, FWD_MAX_DEPTH + 1);
    memset(buf, 0x91, sizeof buf);
    buf[FWD_MAX_DEPTH + 1] = 0x01; /* one more: refused */
    assert_int_equal(fwd_frame(buf, FWD_MAX_DEPTH + 2, 100, &len), -ELOOP);
}

/* ---- fwd_decode ------------------------------------------------------------ */

static void S(msgpack_packer *pk, const char *s) { msgpack_pack_str_with_body(pk, s, strlen(s)); }

static void T(msgpack_packer *pk, uint32_t s, uint32_t ns)
{
    unsigned char b[8] = {s >> 24, s >> 16, s >> 8, s, ns >> 24, ns >> 16, ns >> 8, ns};
    msgpack_pack_ext(pk, 8, 0);
    msgpack_pack_ext_body(pk, b, 8);
}

static void KV(msgpack_packer *pk, const char *k, const char *v) { S(pk, k), S(pk, v); }

static void chunk_opt(msgpack_packer *pk, const char *chunk)
{
    msgpack_pack_map(pk, 1);
    KV(pk, "chunk", chunk);
}

/* [time, {"a": i}] */
static void entry(msgpack_packer *pk, uint32_t t, int a)
{
    msgpack_pack_array(pk, 2);
    msgpack_pack_uint32(pk, t);
    msgpack_pack_map(pk, 1);
    S(pk, "a");
    msgpack_pack_int(pk, a);
}

static void b_message(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 4);
    S(pk, "app.web");
    msgpack_pack_uint32(pk, 1700000000);
    msgpack_pack_map(pk, 2);
    KV(pk, "log", "hi");
    KV(pk, "level", "warning");
    chunk_opt(pk, "abc");
}

static void b_message_eventtime(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    S(pk, "app");
    T(pk, 1700000000, 5);
    msgpack_pack_map(pk, 1);
    KV(pk, "message", "m");
}

static void b_forward(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    S(pk, "fw");
    msgpack_pack_array(pk, 2);
    entry(pk, 1, 1);
    msgpack_pack_array(pk, 2);
    T(pk, 2, 999999999);
    msgpack_pack_map(pk, 1);
    KV(pk, "b", "x");
    chunk_opt(pk, "c");
}

static void packed_body(msgpack_sbuffer *sb)
{
    msgpack_packer p;
    msgpack_packer_init(&p, sb, msgpack_sbuffer_write);
    entry(&p, 1, 1);
    entry(&p, 2, 2);
}

static void b_packed(msgpack_packer *pk)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    packed_body(&sb);
    msgpack_pack_array(pk, 3);
    S(pk, "pk");
    msgpack_pack_bin_with_body(pk, sb.data, sb.size);
    msgpack_pack_map(pk, 2);
    KV(pk, "chunk", "p");
    S(pk, "size");
    msgpack_pack_int(pk, 2);
    msgpack_sbuffer_destroy(&sb);
}

static void b_packed_str(msgpack_packer *pk)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    packed_body(&sb);
    msgpack_pack_array(pk, 2);
    S(pk, "pk");
    msgpack_pack_str_with_body(pk, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

static void gz_append(msgpack_sbuffer *out, const void *in, size_t len, size_t zeros)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    void *z = zeros ? calloc(1, zeros) : NULL;
    size_t n = zeros ? zeros : len;
    size_t cap = deflateBound(&zs, (uLong)n) + 64;
    unsigned char *buf = malloc(cap);
    zs.next_in = (Bytef *)(zeros ? z : in), zs.avail_in = (uInt)n;
    zs.next_out = buf, zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    msgpack_sbuffer_write(out, (const char *)buf, cap - zs.avail_out);
    deflateEnd(&zs);
    free(buf);
    free(z);
}

static void compressed(msgpack_packer *pk, size_t bomb)
{
    msgpack_sbuffer plain, gz;
    msgpack_sbuffer_init(&plain);
    msgpack_sbuffer_init(&gz);
    packed_body(&plain);
    if (bomb) gz_append(&gz, NULL, 0, bomb);
    else {
        gz_append(&gz, plain.data, 3, 0); /* two members, split inside an entry */
        gz_append(&gz, plain.data + 3, plain.size - 3, 0);
    }
    msgpack_pack_array(pk, 3);
    S(pk, "gz");
    msgpack_pack_bin_with_body(pk, gz.data, gz.size);
    msgpack_pack_map(pk, 2);
    KV(pk, "compressed", "gzip");
    KV(pk, "chunk", "g");
    msgpack_sbuffer_destroy(&plain);
    msgpack_sbuffer_destroy(&gz);
}

static void b_compressed(msgpack_packer *pk) { compressed(pk, 0); }
static void b_gzip_bomb(msgpack_packer *pk) { compressed(pk, 4u << 20); }

static void b_own_fields(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    S(pk, "tag");
    msgpack_pack_uint32(pk, 1700000000);
    msgpack_pack_map(pk, 4);
    KV(pk, "source", "mine");
    KV(pk, "timestamp", "2020-01-01T00:00:00Z");
    KV(pk, "severity", "crit");
    KV(pk, "log_level", "debug");
}

static void b_log_and_message(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    S(pk, "t");
    msgpack_pack_uint32(pk, 1700000000);
    msgpack_pack_map(pk, 4);
    KV(pk, "log", "L");
    KV(pk, "message", "M");
    KV(pk, "level", "verbose");
    KV(pk, "log_level", "error");
}

static void b_values(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    S(pk, "t");
    msgpack_pack_uint32(pk, 1700000000);
    msgpack_pack_map(pk, 10);
    S(pk, "nil"), msgpack_pack_nil(pk);
    S(pk, "yes"), msgpack_pack_true(pk);
    S(pk, "neg"), msgpack_pack_int64(pk, -9000000000LL);
    S(pk, "big"), msgpack_pack_uint64(pk, UINT64_MAX);
    S(pk, "f"), msgpack_pack_double(pk, 0.5);
    S(pk, "utf8"), msgpack_pack_bin_with_body(pk, "\xc3\xa9", 2);
    S(pk, "raw"), msgpack_pack_bin_with_body(pk, "\xff\x00\xfe", 3);
    S(pk, "ext"), msgpack_pack_ext(pk, 2, 5), msgpack_pack_ext_body(pk, "hi", 2);
    S(pk, "ev"), T(pk, 1, 7);
    S(pk, "nest");
    msgpack_pack_array(pk, 2);
    msgpack_pack_map(pk, 1);
    KV(pk, "k", "a\"\n\x01");
    msgpack_pack_array(pk, 0);
}

static void b_keys(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    S(pk, "t");
    msgpack_pack_uint32(pk, 1700000000);
    msgpack_pack_map(pk, 5);
    msgpack_pack_int(pk, -3), S(pk, "neg");
    msgpack_pack_uint32(pk, 7), S(pk, "pos");
    msgpack_pack_false(pk), S(pk, "no");
    msgpack_pack_nil(pk), S(pk, "nil");
    msgpack_pack_bin_with_body(pk, "bk", 2), S(pk, "bin");
}

/* The fields the scanner extracts (id, level, source, type, critical) in every
 * form: number and string ids, escapes, bin keys, repeats (the last one wins), a
 * non-string that makes a field absent, critical true then a string. Two
 * entries (Forward mode), so that the offsets of the second record count too. */
static void b_scan_fields(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 2);
    S(pk, "t\"ag");
    msgpack_pack_array(pk, 2);
    msgpack_pack_array(pk, 2);
    msgpack_pack_uint32(pk, 1700000000);
    msgpack_pack_map(pk, 7);
    msgpack_pack_int(pk, -12), S(pk, "neg");
    S(pk, "id"), msgpack_pack_int(pk, -12);
    msgpack_pack_bin_with_body(pk, "type", 4), S(pk, "a\\b");
    S(pk, "critical"), msgpack_pack_true(pk);
    KV(pk, "level", "Err");
    S(pk, "level"), msgpack_pack_int(pk, 3);
    KV(pk, "source", "s\n");
    msgpack_pack_array(pk, 2);
    msgpack_pack_uint32(pk, 1700000001);
    msgpack_pack_map(pk, 6);
    KV(pk, "id", "x\"y");
    S(pk, "critical"), msgpack_pack_true(pk);
    S(pk, "critical"), S(pk, "true");
    KV(pk, "severity", "warning");
    S(pk, "type"), msgpack_pack_double(pk, 1.5);
    KV(pk, "ty\\pe", "v");
}

static void b_empty_forward(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    S(pk, "t");
    msgpack_pack_array(pk, 0);
    msgpack_pack_map(pk, 1);
    S(pk, "chunk");
    msgpack_pack_bin_with_body(pk, "\x01\x02", 2);
}

static void b_ping(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 6);
    S(pk, "PING"), S(pk, "client-host"), S(pk, "salt");
    S(pk, "ac007004e9c926d2"), S(pk, ""), S(pk, "");
}

/* invalid */
static void b_top_map(msgpack_packer *pk) { msgpack_pack_map(pk, 0); }
static void b_one_elem(msgpack_packer *pk) { msgpack_pack_array(pk, 1), S(pk, "t"); }
static void b_tag_int(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3), msgpack_pack_int(pk, 1), msgpack_pack_int(pk, 1);
    msgpack_pack_map(pk, 0);
}
static void b_record_str(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3), S(pk, "t"), msgpack_pack_int(pk, 1), S(pk, "nope");
}
static void b_entry_triple(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 2), S(pk, "t"), msgpack_pack_array(pk, 1);
    msgpack_pack_array(pk, 3), msgpack_pack_int(pk, 1), msgpack_pack_map(pk, 0);
    msgpack_pack_nil(pk);
}
static void time_case(msgpack_packer *pk, int kind)
{
    msgpack_pack_array(pk, 3), S(pk, "t");
    if (kind == 0) msgpack_pack_int(pk, -5);
    else if (kind == 1) msgpack_pack_uint64(pk, 9223372036ull); /* past int64 ns */
    else if (kind == 2) msgpack_pack_true(pk);
    else T(pk, 0xffffffffu, 0);
    msgpack_pack_map(pk, 0);
}
static void b_time_neg(msgpack_packer *pk) { time_case(pk, 0); }
static void b_time_10000(msgpack_packer *pk) { time_case(pk, 1); }
static void b_time_bool(msgpack_packer *pk) { time_case(pk, 2); }
static void b_time_ext_big(msgpack_packer *pk) { time_case(pk, 3); }
static void opt_case(msgpack_packer *pk, int kind)
{
    msgpack_pack_array(pk, 4), S(pk, "t"), msgpack_pack_int(pk, 1), msgpack_pack_map(pk, 0);
    if (kind == 0) S(pk, "not a map");
    else if (kind == 1) msgpack_pack_map(pk, 1), S(pk, "chunk"), msgpack_pack_int(pk, 5);
    else if (kind == 2) {
        char big[FWD_CHUNK_MAX + 2];
        memset(big, 'c', sizeof big - 1), big[sizeof big - 1] = 0;
        chunk_opt(pk, big);
    } else msgpack_pack_map(pk, 1), KV(pk, "compressed", "zstd");
}
static void b_opt_str(msgpack_packer *pk) { opt_case(pk, 0); }
static void b_opt_chunk_int(msgpack_packer *pk) { opt_case(pk, 1); }
static void b_opt_chunk_long(msgpack_packer *pk) { opt_case(pk, 2); }
static void b_opt_zstd(msgpack_packer *pk) { opt_case(pk, 3); }
static void b_compressed_array(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3), S(pk, "t"), msgpack_pack_array(pk, 0);
    msgpack_pack_map(pk, 1), KV(pk, "compressed", "gzip");
}
static void b_bad_gzip(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3), S(pk, "t"), msgpack_pack_bin_with_body(pk, "\x1f\x8bxx", 4);
    msgpack_pack_map(pk, 1), KV(pk, "compressed", "gzip");
}
static void b_packed_garbage(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 2), S(pk, "t"), msgpack_pack_bin_with_body(pk, "\x92\x01", 2);
}
static void b_too_many(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 2), S(pk, "t"), msgpack_pack_array(pk, 4);
    for (int i = 0; i < 4; i++) entry(pk, 1, i);
}
static void b_big_record(msgpack_packer *pk)
{
    char big[3000];
    memset(big, 'x', sizeof big - 1), big[sizeof big - 1] = 0;
    msgpack_pack_array(pk, 3), S(pk, "t"), msgpack_pack_int(pk, 1);
    msgpack_pack_map(pk, 1), KV(pk, "message", big);
}
static void b_key_array(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3), S(pk, "t"), msgpack_pack_int(pk, 1);
    msgpack_pack_map(pk, 1), msgpack_pack_array(pk, 0), msgpack_pack_nil(pk);
}
static void b_ping_short(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3), S(pk, "PING"), S(pk, "h"), S(pk, "s");
}
static void b_five(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 5), S(pk, "t"), msgpack_pack_int(pk, 1), msgpack_pack_map(pk, 0);
    msgpack_pack_map(pk, 0), msgpack_pack_nil(pk);
}

typedef struct {
    const char *name;
    void (*build)(msgpack_packer *);
    bool want_ping;
    int rc;
    const char *ndjson; /* exact, when rc == 0 and not NULL */
    size_t entries;
    const char *chunk;  /* NULL: none */
} decode_case_t;

#define TS "\"timestamp\":\"2023-11-14T22:13:20Z\""
static const decode_case_t DECODES[] = {
    {"Message, integer time, log->message, level normalised", b_message, false, 0,
     "{" TS ",\"source\":\"app.web\",\"message\":\"hi\",\"level\":\"WARN\"}\n", 1, "abc"},
    {"Message, EventTime", b_message_eventtime, false, 0,
     "{\"timestamp\":\"2023-11-14T22:13:20.000000005Z\",\"source\":\"app\",\"message\":\"m\"}\n",
     1, NULL},
    {"Forward mode", b_forward, false, 0,
     "{\"timestamp\":\"1970-01-01T00:00:01Z\",\"source\":\"fw\",\"a\":1}\n"
     "{\"timestamp\":\"1970-01-01T00:00:02.999999999Z\",\"source\":\"fw\",\"b\":\"x\"}\n", 2, "c"},
    {"PackedForward (bin)", b_packed, false, 0,
     "{\"timestamp\":\"1970-01-01T00:00:01Z\",\"source\":\"pk\",\"a\":1}\n"
     "{\"timestamp\":\"1970-01-01T00:00:02Z\",\"source\":\"pk\",\"a\":2}\n", 2, "p"},
    {"PackedForward (str), no option", b_packed_str, false, 0,
     "{\"timestamp\":\"1970-01-01T00:00:01Z\",\"source\":\"pk\",\"a\":1}\n"
     "{\"timestamp\":\"1970-01-01T00:00:02Z\",\"source\":\"pk\",\"a\":2}\n", 2, NULL},
    {"CompressedPackedForward, two members", b_compressed, false, 0,
     "{\"timestamp\":\"1970-01-01T00:00:01Z\",\"source\":\"gz\",\"a\":1}\n"
     "{\"timestamp\":\"1970-01-01T00:00:02Z\",\"source\":\"gz\",\"a\":2}\n", 2, "g"},
    {"own source and timestamp win; severity -> level", b_own_fields, false, 0,
     "{\"level\":\"FATAL\",\"source\":\"mine\",\"timestamp\":\"2020-01-01T00:00:00Z\","
     "\"severity\":\"crit\",\"log_level\":\"debug\"}\n", 1, NULL},
    {"log stays with message; unknown level kept", b_log_and_message, false, 0,
     "{" TS ",\"source\":\"t\",\"log\":\"L\",\"message\":\"M\",\"level\":\"verbose\","
     "\"log_level\":\"error\"}\n", 1, NULL},
    {"value types", b_values, false, 0,
     "{" TS ",\"source\":\"t\",\"nil\":null,\"yes\":true,\"neg\":-9000000000,"
     "\"big\":18446744073709551615,\"f\":0.5,\"utf8\":\"\xc3\xa9\",\"raw\":\"/wD+\","
     "\"ext\":{\"ext\":5,\"base64\":\"aGk=\"},\"ev\":\"1970-01-01T00:00:01.000000007Z\","
     "\"nest\":[{\"k\":\"a\\\"\\n\\u0001\"},[]]}\n", 1, NULL},
    {"non-string keys", b_keys, false, 0,
     "{" TS ",\"source\":\"t\",\"-3\":\"neg\",\"7\":\"pos\",\"false\":\"no\",\"null\":\"nil\","
     "\"bk\":\"bin\"}\n", 1, NULL},
    {"scanned fields: ids, escapes, bin keys, repeats, critical", b_scan_fields, false, 0,
     "{" TS ",\"-12\":\"neg\",\"id\":-12,\"type\":\"a\\\\b\","
     "\"critical\":true,\"level\":\"ERROR\",\"level\":3,\"source\":\"s\\n\"}\n"
     "{\"timestamp\":\"2023-11-14T22:13:21Z\",\"source\":\"t\\\"ag\",\"level\":\"WARN\","
     "\"id\":\"x\\\"y\",\"critical\":true,\"critical\":\"true\",\"severity\":\"warning\","
     "\"type\":1.5,\"ty\\\\pe\":\"v\"}\n", 2, NULL},
    {"empty Forward: no records, bin chunk", b_empty_forward, false, 0, NULL, 0, "\x01\x02"},
    {"PING during the handshake", b_ping, true, 0, NULL, 0, NULL},
    {"top level is a map", b_top_map, false, -EINVAL, NULL, 0, NULL},
    {"array of one", b_one_elem, false, -EINVAL, NULL, 0, NULL},
    {"array of five", b_five, false, -EINVAL, NULL, 0, NULL},
    {"tag is an integer", b_tag_int, false, -EINVAL, NULL, 0, NULL},
    {"record is a string", b_record_str, false, -EINVAL, NULL, 0, NULL},
    {"entry is a triple", b_entry_triple, false, -EINVAL, NULL, 0, NULL},
    {"negative time", b_time_neg, false, -EINVAL, NULL, 0, NULL},
    {"time after 2262", b_time_10000, false, -EINVAL, NULL, 0, NULL},
    {"time is a bool", b_time_bool, false, -EINVAL, NULL, 0, NULL},
    {"EventTime at its largest (2106)", b_time_ext_big, false, 0,
     "{\"timestamp\":\"2106-02-07T06:28:15.000000000Z\",\"source\":\"t\"}\n", 1, NULL},
    {"option is a string", b_opt_str, false, -EINVAL, NULL, 0, NULL},
    {"chunk is an integer", b_opt_chunk_int, false, -EINVAL, NULL, 0, NULL},
    {"chunk too long", b_opt_chunk_long, false, -EINVAL, NULL, 0, NULL},
    {"compressed zstd", b_opt_zstd, false, -EINVAL, NULL, 0, NULL},
    {"compressed on a Forward array", b_compressed_array, false, -EINVAL, NULL, 0, NULL},
    {"bad gzip", b_bad_gzip, false, -EINVAL, NULL, 0, NULL},
    {"gzip bomb over max_decoded", b_gzip_bomb, false, -E2BIG, NULL, 0, NULL},
    {"packed entries truncated", b_packed_garbage, false, -EINVAL, NULL, 0, NULL},
    {"too many entries", b_too_many, false, -E2BIG, NULL, 0, NULL},
    {"records over max_output", b_big_record, false, -E2BIG, NULL, 0, NULL},
    {"a key that is an array", b_key_array, false, -EINVAL, NULL, 0, NULL},
    {"a message where a PING is due", b_message, true, -EINVAL, NULL, 0, NULL},
    {"a PING where none is due", b_ping, false, -EINVAL, NULL, 0, NULL},
    {"a PING of three", b_ping_short, true, -EINVAL, NULL, 0, NULL},
};

static fwd_decoder_t *new_decoder(void)
{
    fwd_limits_t lim = {.max_message = 1 << 20, .max_decoded = 64 * 1024, .max_entries = 3,
                        .max_output = 2048};
    fwd_decoder_t *d = fwd_decoder_new(&lim);
    assert_non_null(d);
    return d;
}

/* The decoder's scan entries (fwd_result_t.recs) are exactly scan_body's for
 * its NDJSON, and .depth is the least max_depth that passes. */
static void check_scanned(const char *what, const fwd_result_t *r)
{
    scan_result_t s = {0};
    if (scan_body(r->ndjson, r->ndjson_len, SCAN_FORMAT_NDJSON, NULL, &s) != SCAN_OK)
        fail_msg("%s: scan_body refuses the records: %s", what, s.err_msg);
    if (s.count != r->nrecs) fail_msg("%s: %zu scanned, %zu entries", what, s.count, r->nrecs);
    for (size_t i = 0; i < r->nrecs; i++) {
        const scan_record_t *a = &s.records[i], *b = &r->recs[i];
        const scan_slice_t *sa[] = {&a->rec, &a->id, &a->level, &a->source, &a->type};
        const scan_slice_t *sb[] = {&b->rec, &b->id, &b->level, &b->source, &b->type};
        for (int k = 0; k < 5; k++)
            if (sa[k]->off != sb[k]->off || sa[k]->len != sb[k]->len)
                fail_msg("%s: record %zu slice %d: scanner %u+%u, decoder %u+%u", what, i, k,
                         sa[k]->off, sa[k]->len, sb[k]->off, sb[k]->len);
        if (a->flags != b->flags)
            fail_msg("%s: record %zu flags: scanner %u, decoder %u", what, i, a->flags, b->flags);
    }
    scan_limits_t lim = {.max_depth = r->depth};
    if (scan_body(r->ndjson, r->ndjson_len, SCAN_FORMAT_NDJSON, &lim, &s) != SCAN_OK)
        fail_msg("%s: refused at max_depth = depth (%u)", what, r->depth);
    lim.max_depth = r->depth - 1;
    if (r->depth > 1 && scan_body(r->ndjson, r->ndjson_len, SCAN_FORMAT_NDJSON, &lim, &s) !=
                            SCAN_ERR_DEPTH)
        fail_msg("%s: passes at max_depth = depth - 1", what);
    scan_result_free(&s);
}

static void test_decode_table(void **state)
{
    (void)state;
    fwd_decoder_t *d = new_decoder();
    for (size_t i = 0; i < N(DECODES); i++) {
        const decode_case_t *c = &DECODES[i];
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        c->build(&pk);
        fwd_result_t r;
        int rc = fwd_decode(d, sb.data, sb.size, c->want_ping, &r);
        if (rc != c->rc) fail_msg("%s: rc %d (%s), want %d", c->name, rc, r.error, c->rc);
        if (rc) {
            if (!r.error || r.ndjson) fail_msg("%s: error result not clean", c->name);
        } else {
            if (r.entries != c->entries) fail_msg("%s: entries %zu", c->name, r.entries);
            if (c->ndjson && (!r.ndjson || strcmp(r.ndjson, c->ndjson)))
                fail_msg("%s:\n got  %s\n want %s", c->name, r.ndjson ? r.ndjson : "(null)",
                         c->ndjson);
            if (!c->entries && r.ndjson) fail_msg("%s: output without entries", c->name);
            if (r.ndjson) check_scanned(c->name, &r);
            if (!c->chunk != !r.has_chunk) fail_msg("%s: chunk presence", c->name);
            if (c->chunk && (r.chunk_len != strlen(c->chunk) ||
                             memcmp(r.chunk, c->chunk, r.chunk_len)))
                fail_msg("%s: chunk", c->name);
        }
        /* a byte more after the message: not one value */
        msgpack_sbuffer_write(&sb, "\x01", 1);
        fwd_result_t r2;
        if (fwd_decode(d, sb.data, sb.size, c->want_ping, &r2) != -EINVAL)
            fail_msg("%s: trailing byte accepted", c->name);
        free(r.ndjson);
        msgpack_sbuffer_destroy(&sb);
    }
    fwd_decoder_free(d);
}

static void test_time_nil_is_now(void **state)
{
    (void)state;
    fwd_decoder_t *d = new_decoder();
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3), S(&pk, "t"), msgpack_pack_nil(&pk), msgpack_pack_map(&pk, 0);
    fwd_result_t r;
    assert_int_equal(fwd_decode(d, sb.data, sb.size, false, &r), 0);
    assert_non_null(strstr(r.ndjson, "\"timestamp\":\"20")); /* this century */
    free(r.ndjson);
    msgpack_sbuffer_destroy(&sb);
    fwd_decoder_free(d);
}

static void test_not_msgpack(void **state)
{
    (void)state;
    fwd_decoder_t *d = new_decoder();
    fwd_result_t r;
    assert_int_equal(fwd_decode(d, "\xc1", 1, false, &r), -EINVAL);
    assert_int_equal(fwd_decode(d, "\x93\xa1t", 3, false, &r), -EINVAL); /* truncated */
    assert_int_equal(fwd_decode(d, "", 0, false, &r), -EINVAL);
    fwd_decoder_free(d);
}

/* ---- handshake and answers ----------------------------------------------- */

static void test_digest(void **state)
{
    (void)state;
    uint8_t nonce[16];
    for (int i = 0; i < 16; i++) nonce[i] = (uint8_t)i;
    char hex[FWD_DIGEST_HEX + 1];
    assert_int_equal(fwd_auth_digest("salt", 4, "client-host", 11, nonce, 16, "secret", 6, hex),
                     0);
    assert_string_equal(hex, "ac007004e9c926d2049ec7f490e67ed676e5c81c7a781590756ca8e6360c0f86"
                             "ba3834b1dd1588334195d5e4dc1230ba02378cd7386c77e94c8b98f9428a835b");
}

static msgpack_object unpack(msgpack_unpacked *u, const char *b, size_t n)
{
    size_t off = 0;
    msgpack_unpacked_init(u);
    assert_int_equal(msgpack_unpack_next(u, b, n, &off), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, n);
    return u->data;
}

static void test_answers(void **state)
{
    (void)state;
    char *out;
    size_t n;
    msgpack_unpacked u;
    uint8_t nonce[16] = {1, 2, 3};
    assert_int_equal(fwd_pack_helo(nonce, 16, &out, &n), 0);
    msgpack_object o = unpack(&u, out, n);
    assert_int_equal(o.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(o.via.array.size, 2);
    assert_memory_equal(o.via.array.ptr[0].via.str.ptr, "HELO", 4);
    msgpack_object m = o.via.array.ptr[1];
    assert_int_equal(m.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(m.via.map.size, 3);
    assert_int_equal(m.via.map.ptr[0].val.type, MSGPACK_OBJECT_BIN);
    assert_memory_equal(m.via.map.ptr[0].val.via.bin.ptr, nonce, 16);
    assert_int_equal(m.via.map.ptr[1].val.via.str.size, 0); /* auth: "" */
    assert_true(m.via.map.ptr[2].val.via.boolean);          /* keepalive */
    msgpack_unpacked_destroy(&u);
    free(out);

    assert_int_equal(fwd_pack_pong(false, "shared key mismatch", "", "", &out, &n), 0);
    o = unpack(&u, out, n);
    assert_int_equal(o.via.array.size, 5);
    assert_int_equal(o.via.array.ptr[1].type, MSGPACK_OBJECT_BOOLEAN);
    assert_false(o.via.array.ptr[1].via.boolean);
    msgpack_unpacked_destroy(&u);
    free(out);

    fwd_result_t r = {.has_chunk = true, .chunk_is_bin = true, .chunk = "\x01\x02",
                      .chunk_len = 2};
    assert_int_equal(fwd_pack_ack(&r, &out, &n), 0);
    o = unpack(&u, out, n);
    assert_int_equal(o.type, MSGPACK_OBJECT_MAP);
    assert_memory_equal(o.via.map.ptr[0].key.via.str.ptr, "ack", 3);
    assert_int_equal(o.via.map.ptr[0].val.type, MSGPACK_OBJECT_BIN);
    msgpack_unpacked_destroy(&u);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_table),  cmocka_unit_test(test_frame_depth),
        cmocka_unit_test(test_decode_table), cmocka_unit_test(test_time_nil_is_now),
        cmocka_unit_test(test_not_msgpack),  cmocka_unit_test(test_digest),
        cmocka_unit_test(test_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
