/*
 * forward.c - the Fluent forward receiver's I/O half (see forward.h): a
 * framer on the connection layer (ingress/conn.h). Decoding is
 * proto/forward_decode.c's.
 *
 * One message at a time per connection, never consumed before its verdict:
 *   - ingest_room() is asked before a message is decoded; while it refuses,
 *     the connection stops reading (TCP backpressure) and looks again on a
 *     timer, the message still unconsumed in its buffer;
 *   - a decoded message is one ingest_submit_scanned() (the decoder gives the
 *     records' scan entries: ingest does not scan them again); reading stays paused until
 *     the verdict (at once, or after the WAL's fsync for durable records);
 *   - accepted: consumed, and {"ack": chunk} written when the option asked;
 *   - refused with a chunk: consumed without an ack (the client resends after
 *     its ack timeout), reading paused for the Retry-After (at most 1 s);
 *   - refused without a chunk (fire and forget): left unconsumed and
 *     submitted again after a pause: nothing is dropped on the floor.
 * A message that cannot end within --max-body-bytes is counted (oversize) and
 * the connection closed; malformed ones are counted (decode_errors) and the
 * connection closed. With --forward-shared-key the server sends HELO on
 * accept and takes nothing but a PING until the PONG said yes.
 */
#include "proto/forward.h"

#include <errno.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "core/auth.h"
#include "core/metrics.h"
#include "ingress/conn.h"
#include "proto/forward_decode.h"

#define FWD_NONCE_BYTES 16
#define FWD_OUTPUT_MAX (64 * 1024) /* acks unread by the client: stop reading above */
#define FWD_RETRY_MS 20            /* look at ingest_room() again after */

struct forward_listener {
    listener_t *l;
    ingest_worker_t *w;
    ingest_t *ing;
    const config_t *cfg;
    fwd_decoder_t *dec; /* one per loop: on_data never runs re-entrantly */
    framer_ops_t ops;
    size_t max_message;
    char hostname[256];
};

typedef enum { FC_HANDSHAKE, FC_READY } fc_state_t;

typedef struct fwd_conn {
    forward_listener_t *fl;
    conn_t *c;
    fc_state_t state;
    uint8_t nonce[FWD_NONCE_BYTES];
    struct event *retry; /* resume reading after a pause */
    /* the message in flight: its length, its chunk, and what the verdict said */
    bool inflight, verdict_in, accepted, orphan, eof;
    size_t msg_len, skip, buffered; /* buffered: bytes unconsumed when it was taken */
    fwd_result_t res;
} fwd_conn_t;

/* A refused message: oversize or malformed. */
static void count_bad(int rc)
{
    if (rc == -E2BIG) PROTO_ADD(PROTO_FORWARD, oversize, 1);
    else PROTO_ADD(PROTO_FORWARD, decode_errors, 1);
}

static void fc_free(fwd_conn_t *fc)
{
    if (fc->retry) event_free(fc->retry);
    free(fc);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    fwd_conn_t *fc = arg;
    conn_resume_read(fc->c);
}

/* Stop reading for `ms`, then look again. */
static void pause_for(fwd_conn_t *fc, unsigned ms)
{
    conn_pause_read(fc->c);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (fc->retry) event_add(fc->retry, &tv);
}

static void *fwd_open(conn_t *c, void *ctx)
{
    forward_listener_t *fl = ctx;
    fwd_conn_t *fc = calloc(1, sizeof *fc);
    if (!fc) return NULL;
    fc->fl = fl, fc->c = c, fc->state = FC_READY;
    fc->retry = evtimer_new(conn_base(c), on_retry, fc);
    if (!fc->retry) goto err;
    PROTO_ADD(PROTO_FORWARD, connections, 1);
    if (fl->cfg->forward_shared_key[0]) {
        char *helo;
        size_t n;
        if (RAND_bytes(fc->nonce, sizeof fc->nonce) != 1) goto err;
        if (fwd_pack_helo(fc->nonce, sizeof fc->nonce, &helo, &n)) goto err;
        int rc = conn_write(c, helo, n);
        free(helo);
        if (rc) goto err;
        fc->state = FC_HANDSHAKE;
    }
    return fc;
err:
    fc_free(fc);
    return NULL;
}

/* A PING arrived: check its digest, answer PONG. */
static void handle_ping(fwd_conn_t *fc, const fwd_result_t *r)
{
    const config_t *cfg = fc->fl->cfg;
    const char *key = cfg->forward_shared_key;
    char want[FWD_DIGEST_HEX + 1], mine[FWD_DIGEST_HEX + 1];
    bool ok = !fwd_auth_digest(r->ping_salt, r->ping_salt_len, r->ping_host, r->ping_host_len,
                               fc->nonce, sizeof fc->nonce, key, strlen(key), want) &&
              strlen(r->ping_digest) == FWD_DIGEST_HEX &&
              !CRYPTO_memcmp(want, r->ping_digest, FWD_DIGEST_HEX);
    if (ok && fwd_auth_digest(r->ping_salt, r->ping_salt_len, fc->fl->hostname,
                              strlen(fc->fl->hostname), fc->nonce, sizeof fc->nonce, key,
                              strlen(key), mine))
        ok = false;
    char *pong = NULL;
    size_t n = 0;
    if (!fwd_pack_pong(ok, ok ? "" : "shared key mismatch", ok ? fc->fl->hostname : "",
                       ok ? mine : "", &pong, &n))
        conn_write(fc->c, pong, n);
    free(pong);
    if (ok) {
        fc->state = FC_READY;
        return;
    }
    PROTO_ADD(PROTO_FORWARD, auth_failures, 1);
    char peer[80], detail[200];
    snprintf(peer, sizeof peer, "%s:%u", conn_peer_addr(fc->c), conn_peer_port(fc->c));
    snprintf(detail, sizeof detail, "shared key handshake failed (hostname %.100s); closed",
             r->ping_host);
    auth_log_failed(0, "invalid", peer, "forward", NULL, detail);
    conn_close_after_write(fc->c);
}

static void send_ack(fwd_conn_t *fc)
{
    char *ack;
    size_t n;
    if (fwd_pack_ack(&fc->res, &ack, &n)) return; /* ENOMEM: the client resends */
    if (!conn_write(fc->c, ack, n)) METRIC_ADD(forward_acks, 1);
    free(ack);
}

/* The verdict on the message in flight (at once, or after the fsync). */
static void on_verdict(void *ctx, const ingest_verdict_t *v)
{
    fwd_conn_t *fc = ctx;
    if (v->status == 0) PROTO_ADD(PROTO_FORWARD, records_accepted, v->records);
    else PROTO_ADD(PROTO_FORWARD, records_refused, fc->res.entries);
    if (fc->orphan) { /* the connection went while the WAL wrote */
        fc_free(fc);
        return;
    }
    fc->verdict_in = true;
    fc->accepted = v->status == 0;
    bool last = fc->msg_len >= fc->buffered; /* nothing behind it in the buffer */
    if (fc->accepted) {
        if (fc->res.has_chunk) send_ack(fc);
        fc->skip = fc->msg_len;
        conn_request_done(fc->c);
    } else if (v->status == -EINVAL || v->status == -E2BIG || v->status == -EOPNOTSUPP) {
        /* the records themselves are refused: resending cannot help */
        log_warn("forward", "a message from %s refused: %s; closed", conn_peer_addr(fc->c),
                 v->message ? v->message : "invalid");
        conn_close_after_write(fc->c);
        return;
    } else {
        if (fc->res.has_chunk) fc->skip = fc->msg_len; /* no ack: the client resends */
        if (fc->eof && fc->res.has_chunk && last) {
            conn_close_after_write(fc->c); /* nobody left to resend to */
            return;
        }
        unsigned ms = v->retry_after > 0 ? (unsigned)v->retry_after * 1000 : FWD_RETRY_MS * 5;
        pause_for(fc, ms > 1000 ? 1000 : ms);
        return;
    }
    if (fc->eof && last) conn_close_after_write(fc->c);
    else if (conn_output_pending(fc->c) <= FWD_OUTPUT_MAX) conn_resume_read(fc->c);
}

/* Decode the message in[0..n) and submit it. Returns bytes consumed now. */
static size_t take_message(fwd_conn_t *fc, const char *in, size_t n, size_t len)
{
    forward_listener_t *fl = fc->fl;
    fwd_result_t *r = &fc->res;
    int rc = fwd_decode(fl->dec, in, n, fc->state == FC_HANDSHAKE, r);
    if (rc) {
        count_bad(rc);
        log_warn("forward", "a message from %s refused: %s; closed", conn_peer_addr(fc->c),
                 r->error ? r->error : "invalid");
        conn_close_after_write(fc->c);
        return 0;
    }
    PROTO_ADD(PROTO_FORWARD, messages, 1);
    if (r->kind == FWD_MSG_PING) {
        handle_ping(fc, r);
        return n;
    }
    if (!r->ndjson) { /* no entries: nothing to queue */
        if (r->has_chunk) send_ack(fc);
        conn_request_done(fc->c);
        return n;
    }
    ingest_origin_t o = {.peer_addr = conn_peer_addr(fc->c)};
    fc->inflight = true, fc->verdict_in = false, fc->msg_len = n, fc->skip = 0;
    fc->buffered = len;
    conn_pause_read(fc->c);
    char *body = r->ndjson;
    r->ndjson = NULL; /* taken by ingest_submit_scanned (the decoder's scan entries: copied) */
    ingest_submit_scanned(fl->w, &o, body, r->ndjson_len, r->recs, r->nrecs, r->depth, on_verdict,
                          fc);
    if (!fc->verdict_in) return 0; /* durable: wait for the fsync */
    fc->inflight = false;
    size_t used = fc->skip;
    fc->skip = 0;
    return used;
}

static size_t fwd_on_data(void *st, const char *in, size_t len)
{
    fwd_conn_t *fc = st;
    forward_listener_t *fl = fc->fl;
    if (fc->inflight) {
        if (!fc->verdict_in) return 0; /* not yet */
        fc->inflight = false;
        size_t used = fc->skip;
        fc->skip = 0;
        if (used) return used;
    }
    if (conn_output_pending(fc->c) > FWD_OUTPUT_MAX) {
        conn_pause_read(fc->c); /* resumed by on_drained */
        return 0;
    }
    size_t n;
    int f = fwd_frame(in, len, fl->max_message, &n);
    if (f == 0) {
        if (fc->eof) { /* the rest of a message that will never come */
            PROTO_ADD(PROTO_FORWARD, decode_errors, 1);
            conn_close_after_write(fc->c);
            return 0;
        }
        conn_request_started(fc->c);
        size_t want = len < 64 * 1024 ? 64 * 1024 : 2 * len;
        if (want > fl->max_message) want = fl->max_message;
        if (want > len) conn_expect_input(fc->c, want);
        return 0;
    }
    if (f < 0) {
        count_bad(f);
        log_warn("forward", "%s from %s; closed",
                 f == -E2BIG ? "a message over --max-body-bytes" : "input that is not msgpack",
                 conn_peer_addr(fc->c));
        conn_close_after_write(fc->c);
        return 0;
    }
    if (fc->state == FC_READY && ingest_room(fl->ing)) {
        pause_for(fc, FWD_RETRY_MS); /* backpressure: the message stays unread */
        return 0;
    }
    return take_message(fc, in, n, len);
}

static void fwd_on_eof(void *st, size_t pending)
{
    fwd_conn_t *fc = st;
    if (fc->inflight) {
        fc->eof = true;
        return;
    }
    if (pending) PROTO_ADD(PROTO_FORWARD, decode_errors, 1); /* a truncated message */
    conn_close_after_write(fc->c);
}

static void fwd_on_drained(void *st)
{
    fwd_conn_t *fc = st;
    if (!fc->inflight && !event_pending(fc->retry, EV_TIMEOUT, NULL)) conn_resume_read(fc->c);
}

static void fwd_on_timeout(void *st, bool reading)
{
    (void)st;
    if (reading) METRIC_ADD(slow_clients_closed, 1);
}

static void fwd_close(void *st)
{
    fwd_conn_t *fc = st;
    free(fc->res.ndjson);
    fc->res.ndjson = NULL;
    if (fc->inflight && !fc->verdict_in) { /* on_verdict frees it */
        event_del(fc->retry);
        fc->orphan = true;
        return;
    }
    fc_free(fc);
}

forward_listener_t *forward_listener_new(struct event_base *base, ingest_worker_t *w,
                                         const config_t *cfg, const char *host, uint16_t port,
                                         tls_server_t *tls)
{
    forward_listener_t *fl = calloc(1, sizeof *fl);
    if (!fl) return NULL;
    fl->w = w, fl->ing = ingest_worker_owner(w), fl->cfg = cfg;
    fl->max_message = cfg->max_body_bytes ? cfg->max_body_bytes : 16u << 20;
    fwd_limits_t lim = {
        .max_message = fl->max_message,
        .max_decoded = cfg->max_decoded_bytes ? cfg->max_decoded_bytes : fl->max_message,
        .max_entries = cfg->max_records_per_packet ? cfg->max_records_per_packet : 100000,
        .max_output = cfg->max_decoded_bytes ? cfg->max_decoded_bytes * 2 : 64u << 20,
    };
    fl->dec = fwd_decoder_new(&lim);
    if (!fl->dec) goto err;
    char name[sizeof fl->hostname - 8] = "localhost";
    if (gethostname(name, sizeof name)) snprintf(name, sizeof name, "localhost");
    name[sizeof name - 1] = 0;
    /* never the client's own name (clients check) */
    snprintf(fl->hostname, sizeof fl->hostname, "%s-logdist", name);
    fl->ops = (framer_ops_t){
        .name = "forward",
        .open = fwd_open,
        .on_data = fwd_on_data,
        .on_eof = fwd_on_eof,
        .on_drained = fwd_on_drained,
        .on_timeout = fwd_on_timeout,
        .close = fwd_close,
    };
    conn_limits_t cl = {
        .max_connections = cfg->max_connections,
        .group = 0,
        .max_connections_per_ip = cfg->max_connections_per_ip,
        .header_timeout_ms = cfg->idle_timeout_s * 1000u,
        .idle_timeout_ms = cfg->idle_timeout_s * 1000u,
        .max_input_bytes = fl->max_message + 64 * 1024,
    };
    fl->l = listener_new(base, host, port, false, tls, &cl, &fl->ops, fl);
    if (!fl->l) goto err;
    return fl;
err:
    log_error("forward", "cannot listen on %s:%u", host, port);
    forward_listener_free(fl);
    return NULL;
}

uint16_t forward_listener_port(const forward_listener_t *l) { return listener_port(l->l); }

void forward_listener_stop(forward_listener_t *l)
{
    if (l) listener_stop(l->l);
}

void forward_listener_free(forward_listener_t *l)
{
    if (!l) return;
    if (l->l) listener_free(l->l);
    fwd_decoder_free(l->dec);
    free(l);
}
