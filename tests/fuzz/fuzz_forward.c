/*
 * fuzz_forward.c - libFuzzer target for the Fluent forward decoder
 * (src/proto/forward_decode.c), every mode.
 *
 * The first input byte picks how the rest is presented:
 *   0..3  as it is (Message, Forward, PackedForward, PING... whatever it parses as),
 *         decoded once as a message and once as a handshake PING;
 *   4     wrapped as PackedForward: ["t", bin(rest), {"chunk": "c"}];
 *   5     wrapped as CompressedPackedForward: the rest gzipped (two members split in
 *         the middle) in ["t", bin, {"compressed": "gzip", "chunk": "c"}];
 *   6     wrapped as a Forward entry list: ["t", [[1, rest-as-one-value]]].
 * Invariants checked:
 *   - fwd_frame over the bytes: a complete value ends where msgpack-c's
 *     msgpack_unpack_next ends it; every shorter prefix is "need more" (0), never an
 *     error; nothing past `max` is ever complete;
 *   - fwd_decode: 0 or -EINVAL/-E2BIG/-ENOMEM/-ELOOP; on success the NDJSON output
 *     passes the project's strict scanner (record/scan.c) with exactly `entries`
 *     records, each a JSON object; on error nothing is left allocated;
 *   - an ack built from a decoded chunk unpacks back to {"ack": chunk}.
 * Small limits (entries, decoded bytes, output) so the -E2BIG paths are reached.
 *
 * Build: make fuzz-build (see tests/fuzz/fuzz.mk); run: build-fuzz/fuzz_forward DIR
 */
#include <errno.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "proto/forward_decode.h"
#include "record/scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *msg, size_t n)
{
    fprintf(stderr, "fuzz_forward: invariant violated: %s (input %zu B)\n", msg, n);
    abort();
}

static fwd_decoder_t *g_dec;
static scan_result_t g_res;

static void check_frame(const char *p, size_t n)
{
    size_t len = 0;
    int f = fwd_frame(p, n, n, &len);
    if (f != 0 && f != 1 && f != -EINVAL && f != -E2BIG && f != -ELOOP) fail("frame rc", n);
    if (f == 1) {
        if (len == 0 || len > n) fail("frame length", n);
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        msgpack_unpack_return r = msgpack_unpack_next(&u, p, len, &off);
        if (r != MSGPACK_UNPACK_NOMEM_ERROR && (r != MSGPACK_UNPACK_SUCCESS || off != len))
            fail("fwd_frame and msgpack-c disagree", n);
        msgpack_unpacked_destroy(&u);
        size_t pre = len / 2, l2;
        if (pre && fwd_frame(p, pre, n, &l2) != 0) fail("a prefix is not 'need more'", n);
        if (len > 1 && fwd_frame(p, n, len - 1, &l2) == 1) fail("complete past max", n);
    }
}

static void check_decode(const char *p, size_t n, bool ping)
{
    fwd_result_t r;
    int rc = fwd_decode(g_dec, p, n, ping, &r);
    if (rc) {
        if (rc != -EINVAL && rc != -E2BIG && rc != -ENOMEM && rc != -ELOOP) fail("decode rc", n);
        if (r.ndjson || r.has_chunk || !r.error) fail("error result not clean", n);
        return;
    }
    if (r.kind == FWD_MSG_EVENTS) {
        if (!r.ndjson != !r.entries) fail("entries without output or output without", n);
        if (r.ndjson) {
            int s = scan_body(r.ndjson, r.ndjson_len, SCAN_FORMAT_NDJSON, NULL, &g_res);
            /* the scanner's own default limits may be tighter than ours (depth) */
            if (s != SCAN_OK && s != SCAN_ERR_DEPTH && s != SCAN_ERR_RECORD_SIZE)
                fail("records do not scan", n);
            if (s == SCAN_OK && g_res.count != r.entries) fail("record count", n);
            /* the decoder's scan entries are exactly the scanner's (no limits in the way),
             * and r.depth is the least max_depth that passes */
            scan_limits_t big = {.max_depth = 4096, .max_records = UINT32_MAX,
                                 .max_record_bytes = UINT32_MAX};
            if (scan_body(r.ndjson, r.ndjson_len, SCAN_FORMAT_NDJSON, &big, &g_res) != SCAN_OK)
                fail("records do not scan without limits", n);
            if (g_res.count != r.nrecs) fail("scan entry count", n);
            for (size_t i = 0; i < r.nrecs; i++) {
                const scan_record_t *a = &g_res.records[i], *b = &r.recs[i];
                if (a->rec.off != b->rec.off || a->rec.len != b->rec.len || a->id.off != b->id.off ||
                    a->id.len != b->id.len || a->level.off != b->level.off ||
                    a->level.len != b->level.len || a->source.off != b->source.off ||
                    a->source.len != b->source.len || a->type.off != b->type.off ||
                    a->type.len != b->type.len || a->flags != b->flags)
                    fail("scan entry differs from scan_body's", n);
            }
            big.max_depth = r.depth;
            if (scan_body(r.ndjson, r.ndjson_len, SCAN_FORMAT_NDJSON, &big, &g_res) != SCAN_OK)
                fail("refused at max_depth = depth", n);
            big.max_depth = r.depth - 1;
            if (r.depth > 1 &&
                scan_body(r.ndjson, r.ndjson_len, SCAN_FORMAT_NDJSON, &big, &g_res) != SCAN_ERR_DEPTH)
                fail("passes at max_depth = depth - 1", n);
        }
        free(r.ndjson);
    }
    if (r.has_chunk) {
        char *ack;
        size_t al;
        if (fwd_pack_ack(&r, &ack, &al)) return;
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        if (msgpack_unpack_next(&u, ack, al, &off) != MSGPACK_UNPACK_SUCCESS || off != al ||
            u.data.type != MSGPACK_OBJECT_MAP || u.data.via.map.size != 1 ||
            u.data.via.map.ptr[0].val.via.str.size != r.chunk_len ||
            memcmp(u.data.via.map.ptr[0].val.via.str.ptr, r.chunk, r.chunk_len))
            fail("ack does not carry the chunk", n);
        msgpack_unpacked_destroy(&u);
        free(ack);
    }
}

static int sb_gzip(msgpack_sbuffer *sb, const uint8_t *in, size_t n)
{
    for (int part = 0; part < 2; part++) {
        const uint8_t *p = part ? in + n / 2 : in;
        size_t len = part ? n - n / 2 : n / 2;
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
        size_t bound = deflateBound(&zs, (uLong)len) + 32;
        unsigned char *out = malloc(bound);
        if (!out) { deflateEnd(&zs); return -1; }
        zs.next_in = (Bytef *)p, zs.avail_in = (uInt)len;
        zs.next_out = out, zs.avail_out = (uInt)bound;
        int z = deflate(&zs, Z_FINISH);
        msgpack_sbuffer_write(sb, (const char *)out, bound - zs.avail_out);
        deflateEnd(&zs);
        free(out);
        if (z != Z_STREAM_END) return -1;
    }
    return 0;
}

/* The wrapped message for modes 4..6 into a fresh buffer. */
static char *wrap(int mode, const uint8_t *in, size_t n, size_t *out_len)
{
    msgpack_sbuffer sb, gz;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&gz);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_str_with_body(&pk, "t", 1);
    if (mode == 6) {
        msgpack_pack_array(&pk, 1);
        msgpack_pack_array(&pk, 2);
        msgpack_pack_int(&pk, 1);
        msgpack_sbuffer_write(&sb, (const char *)in, n); /* the entry's record */
        msgpack_pack_nil(&pk);
    } else {
        if (mode == 5 && sb_gzip(&gz, in, n)) {
            msgpack_sbuffer_destroy(&sb);
            msgpack_sbuffer_destroy(&gz);
            return NULL;
        }
        const char *b = mode == 5 ? gz.data : (const char *)in;
        size_t bl = mode == 5 ? gz.size : n;
        msgpack_pack_bin_with_body(&pk, b, bl);
        msgpack_pack_map(&pk, mode == 5 ? 2 : 1);
        msgpack_pack_str_with_body(&pk, "chunk", 5);
        msgpack_pack_str_with_body(&pk, "c", 1);
        if (mode == 5) {
            msgpack_pack_str_with_body(&pk, "compressed", 10);
            msgpack_pack_str_with_body(&pk, "gzip", 4);
        }
    }
    msgpack_sbuffer_destroy(&gz);
    *out_len = sb.size;
    return msgpack_sbuffer_release(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_dec) {
        fwd_limits_t lim = {.max_message = 1 << 20, .max_decoded = 64 * 1024,
                            .max_entries = 200, .max_output = 256 * 1024};
        g_dec = fwd_decoder_new(&lim);
        if (!g_dec) abort();
    }
    if (size < 1) return 0;
    int mode = data[0] % 8;
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    if (mode >= 4 && mode <= 6) {
        size_t wl = 0;
        char *w = wrap(mode, in, n, &wl);
        if (!w) return 0;
        check_frame(w, wl);
        check_decode(w, wl, false);
        free(w);
        return 0;
    }
    check_frame((const char *)in, n);
    check_decode((const char *)in, n, false);
    check_decode((const char *)in, n, true);
    return 0;
}
