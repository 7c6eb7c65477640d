/*
 * forward_decode.h - the pure half of the Fluent forward receiver: bytes ->
 * records, no I/O (the front-end is proto/forward.c).
 *
 * Contract:
 *   - fwd_frame() finds where the first msgpack value of a stream ends,
 *     without allocating: a bounded walk over the headers (depth at most
 *     FWD_MAX_DEPTH; every count must fit in the bytes still allowed, so a
 *     5-byte header claiming 4 billion elements is refused at once). Only a
 *     complete value within `max` bytes is ever handed to msgpack-c.
 *   - fwd_decode() unpacks one complete message with msgpack-c and turns it
 *     into NDJSON records (record/jsonw.h), in every mode of the Forward
 *     Protocol v1: Message [tag, time, record(, option)], Forward [tag,
 *     [[time, record], ...](, option)], PackedForward [tag, bin|str of
 *     concatenated [time, record](, option)] and CompressedPackedForward
 *     (option "compressed": "gzip": the bin is one or more gzip members,
 *     decompressed at most limits.max_decoded bytes). Or the PING of the
 *     shared-key handshake. A message is decoded whole or refused whole.
 *   - the record mapping (docs/PROTOCOLS.md has the table): the
 *     record map's entries in order, with tag -> "source" unless the record
 *     has one, time -> "timestamp" unless the record has one, "log" renamed
 *     "message" when there is no "message", "level" normalised (and, when
 *     there is no "level", "severity" or "log_level" copied into one) with
 *     level_from_text() when it names one of ours.
 *   - fwd_auth_digest() and the fwd_pack_* builders are the handshake's and
 *     the ack's msgpack (msgpack-c's packer).
 *
 * Ownership: a decoder is one connection's (or one loop's) scratch; not
 * thread-safe. Error convention: 0 or negative errno.
 */
#ifndef LOGDIST_PROTO_FORWARD_DECODE_H
#define LOGDIST_PROTO_FORWARD_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record/scan.h"

#define FWD_MAX_DEPTH 24      /* msgpack nesting of one message (msgpack-c stops at 32) */
#define FWD_CHUNK_MAX 128     /* bytes of an option's "chunk" */
#define FWD_NAME_MAX 255      /* bytes of a PING's hostname, salt, digest, user */
#define FWD_DIGEST_HEX 128    /* hex chars of a SHA-512 */

/* Where the first msgpack value of buf[0..len) ends: 1 with *msg_len set;
 * 0 when more bytes are needed; -E2BIG when it cannot end within `max`
 * bytes (oversize); -EINVAL for a byte that starts no msgpack value, -ELOOP
 * for nesting deeper than FWD_MAX_DEPTH. */
int fwd_frame(const void *buf, size_t len, size_t max, size_t *msg_len);

typedef struct fwd_limits {
    size_t max_message;  /* bytes of one message as received (--max-body-bytes) */
    size_t max_decoded;  /* bytes of a decompressed PackedForward (--max-decoded-bytes) */
    size_t max_entries;  /* entries of one message (--max-records-per-packet) */
    size_t max_output;   /* bytes of the NDJSON built for one message */
} fwd_limits_t;

typedef enum { FWD_MSG_EVENTS = 0, FWD_MSG_PING = 1 } fwd_kind_t;

typedef struct fwd_result {
    fwd_kind_t kind;
    /* FWD_MSG_EVENTS: the NDJSON records (malloc'd, the caller frees; NULL
     * when there are no entries) */
    char *ndjson;
    size_t ndjson_len, entries;
    /* the records' scan entries, exactly scan_body(ndjson, SCAN_FORMAT_NDJSON)'s
     * (owned by the decoder: valid until its next fwd_decode), and the deepest
     * nesting (a record is 1): for ingest_submit_scanned */
    const scan_record_t *recs;
    size_t nrecs;
    unsigned depth;
    bool has_chunk;
    bool chunk_is_bin;              /* the chunk came as bin (echoed as bin) */
    char chunk[FWD_CHUNK_MAX];
    size_t chunk_len;
    /* FWD_MSG_PING: its fields (NUL-terminated; the salt may hold any byte,
     * hence its length) */
    char ping_host[FWD_NAME_MAX + 1], ping_salt[FWD_NAME_MAX + 1];
    char ping_digest[FWD_NAME_MAX + 1];
    size_t ping_host_len, ping_salt_len;
    /* on failure: why, as text for the log (static) */
    const char *error;
} fwd_result_t;

typedef struct fwd_decoder fwd_decoder_t;

/* NULL on ENOMEM. The limits are copied. */
fwd_decoder_t *fwd_decoder_new(const fwd_limits_t *lim);
void fwd_decoder_free(fwd_decoder_t *d);

/* Decode one complete message msg[0..len) (as fwd_frame delimited it).
 * `want_ping`: the handshake is pending, only a PING is valid (and a PING is
 * refused otherwise). *r is overwritten. 0; -EINVAL (not msgpack, wrong
 * shape: r->error says which), -E2BIG (over a limit: entries, decompressed
 * size, output size), -ENOMEM. On error nothing is left allocated in *r. */
int fwd_decode(fwd_decoder_t *d, const char *msg, size_t len, bool want_ping, fwd_result_t *r);

/* hex(sha512(a + b + c + d)) into out (FWD_DIGEST_HEX chars + NUL): the
 * handshake's digests (salt, hostname, nonce, shared key). 0 or -EIO. */
int fwd_auth_digest(const void *a, size_t alen, const void *b, size_t blen, const void *c,
                    size_t clen, const void *d, size_t dlen, char out[FWD_DIGEST_HEX + 1]);

/* The server's msgpack answers, malloc'd into *out (caller frees). 0 or
 * -ENOMEM. HELO: ["HELO", {"nonce": bin, "auth": "", "keepalive": true}].
 * PONG: ["PONG", ok, reason, server_host, digest]. Ack: {"ack": chunk}. */
int fwd_pack_helo(const uint8_t *nonce, size_t nonce_len, char **out, size_t *out_len);
int fwd_pack_pong(bool ok, const char *reason, const char *host, const char *digest, char **out,
                  size_t *out_len);
int fwd_pack_ack(const fwd_result_t *r, char **out, size_t *out_len);

#endif
