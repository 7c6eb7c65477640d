/*
 * ingest.c - see ingest.h.
 *
 * The body is taken out of the request without copying (evbuffer chains are
 * moved into the packet) and made contiguous once; the scanner reads it once;
 * the router later copies each record once into its analyzer's batch.
 *
 * Durability: when the packet holds durable records (policy, "critical": true,
 * a critical level, or X-Logdist-Durability: critical), it goes to the
 * durability writer first and the 202 is sent from its completion, after the
 * fsync; otherwise it is queued and answered at once.
 */
#include "ingest/ingest.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/http_reply.h"
#include "common/util.h"
#include "core/auth.h"
#include "core/metrics.h"
#include "ingest/agent_claim.h"
#include "ingest/gunzip.h"
#include "ingest/ratelimit.h"
#include "core/resource.h"
#include "ingest/scan.h"

#define RATE_KEY_MAX 256 /* bytes of an agent id that key its rate limit */

struct ingest {
    const config_t *cfg;
    pkt_queue_t *queue;
    durable_t *durable;
    const auth_t *auth;
    ratelimit_t *rl;
    const resource_t *res;
    scan_result_t scan; /* reused for every packet (ingest thread only) */
    scan_limits_t limits;
    scan_limits_t replay_limits; /* dead-letter replay: ingest limits + the batch framing */
    bool draining;
    uint64_t packet_seq;
};

ingest_t *ingest_new(const config_t *cfg, pkt_queue_t *queue, durable_t *durable,
                     const auth_t *auth)
{
    ingest_t *ing = calloc(1, sizeof *ing);
    if (!ing) return NULL;
    ing->cfg = cfg;
    ing->queue = queue;
    ing->durable = durable;
    ing->auth = auth;
    ratelimit_config_t rc = {cfg->global_records_per_s, cfg->global_bytes_per_s,
                             cfg->agent_records_per_s,  cfg->agent_bytes_per_s,
                             (double)cfg->rate_burst_s, 10000};
    ing->rl = ratelimit_new(&rc);
    if (!ing->rl) {
        free(ing);
        return NULL;
    }
    ing->limits.max_depth = cfg->max_depth;
    ing->limits.max_records = cfg->max_records_per_packet;
    ing->limits.max_record_bytes = cfg->max_record_bytes;
    /* a stored batch frames each record two levels deeper ({"messages":[rec]}) and
     * holds up to batch_max_records of them: whatever ingest accepted must pass */
    ing->replay_limits = ing->limits;
    ing->replay_limits.max_depth = cfg->max_depth + 2;
    if (cfg->batch_max_records > cfg->max_records_per_packet)
        ing->replay_limits.max_records = cfg->batch_max_records;
    return ing;
}

void ingest_free(ingest_t *ing)
{
    if (!ing) return;
    ratelimit_free(ing->rl);
    scan_result_free(&ing->scan);
    free(ing);
}

void ingest_set_draining(ingest_t *ing, bool draining)
{
    ing->draining = draining;
}

void ingest_set_resource(ingest_t *ing, const resource_t *res)
{
    ing->res = res;
}

/* Compare the media type of a Content-Type value (before ';', case-insensitive). */
static bool media_is(const char *ct, const char *type)
{
    while (*ct == ' ' || *ct == '\t') ct++;
    size_t n = strlen(type);
    if (strncasecmp(ct, type, n)) return false;
    ct += n;
    while (*ct == ' ' || *ct == '\t') ct++;
    return *ct == 0 || *ct == ';';
}

/* Map Content-Type to a scan format; -1 when unsupported. */
static int format_of(const char *ct)
{
    if (!ct || !*ct) return SCAN_FORMAT_JSON;
    if (media_is(ct, "application/json") || media_is(ct, "text/json")) return SCAN_FORMAT_JSON;
    if (media_is(ct, "application/x-ndjson") || media_is(ct, "application/ndjson") ||
        media_is(ct, "application/jsonlines") || media_is(ct, "application/x-jsonlines") ||
        media_is(ct, "application/json-lines"))
        return SCAN_FORMAT_NDJSON;
    return -1;
}

/* Refuse a packet. Shedding (memory pressure, full queue, shutdown) also
 * closes the connection after the 503: logdistd reads nothing more from a
 * client it cannot serve, and the agent reconnects after Retry-After (while
 * memory is short an ingest-only listener accepts no new connection either). */
static void reject(struct evhttp_request *req, reject_reason_t why, int status,
                   const char *msg, long long offset, int retry_after)
{
    metrics_reject(why);
    if (why == REJECT_MEMORY || why == REJECT_QUEUE_FULL || why == REJECT_DRAINING) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        METRIC_ADD(connections_shed, 1);
    }
    http_reply_error(req, status, reject_reason_name(why), msg, offset, retry_after);
}

static void reject_scan(struct evhttp_request *req, const scan_result_t *s)
{
    reject_reason_t why;
    int status = 400;
    switch (s->status) {
    case SCAN_ERR_UTF8: why = REJECT_UTF8; break;
    case SCAN_ERR_SHAPE: why = REJECT_SHAPE; break;
    case SCAN_ERR_DEPTH: why = REJECT_DEPTH; break;
    case SCAN_ERR_TOO_MANY: why = REJECT_TOO_MANY_RECORDS; status = 413; break;
    case SCAN_ERR_RECORD_SIZE: why = REJECT_RECORD_TOO_LARGE; status = 413; break;
    case SCAN_ERR_NOMEM:
        reject(req, REJECT_NOMEM, 503, "out of memory", -1, 1);
        return;
    default: why = REJECT_SYNTAX; break;
    }
    reject(req, why, status, s->err_msg ? s->err_msg : scan_status_name(s->status),
           (long long)s->err_offset, 0);
}

/* Who waits for a packet: an HTTP request or an injector callback. */
typedef struct {
    ingest_t *ing;
    struct evhttp_request *req;
    ingest_inject_fn inject_done;
    void *inject_ctx;
    char packet_id[160];
} waiter_t;

static bool durable_hdr_is_critical(struct evkeyvalq *hdrs)
{
    const char *v = evhttp_find_header(hdrs, "X-Logdist-Durability");
    return v && !strcasecmp(v, "critical");
}

/* Mark the durable records of p (p->seqs[i] = 1); returns how many. */
static size_t mark_durable(ingest_t *ing, packet_t *p, bool whole_packet)
{
    const config_t *cfg = ing->cfg;
    if (cfg->durability == DURABILITY_NONE || !ing->durable || !p->count) return 0;
    bool all = whole_packet || cfg->durability == DURABILITY_ALL;
    size_t n = 0;
    for (size_t i = 0; i < p->count; i++) {
        const scan_record_t *r = &p->records[i];
        bool durable = all || (r->flags & SCAN_REC_CRITICAL) ||
                       (r->level.len && config_level_is_critical(cfg, p->data + r->level.off,
                                                                 r->level.len));
        if (!durable) continue;
        if (!p->seqs && !(p->seqs = calloc(p->count, sizeof *p->seqs))) return SIZE_MAX;
        p->seqs[i] = 1;
        n++;
    }
    return n;
}

static void reply_accepted(waiter_t *w, size_t count)
{
    METRIC_ADD(packets_accepted, 1);
    METRIC_ADD(records_accepted, count);
    if (w->inject_done) {
        w->inject_done(w->inject_ctx, 0, count);
        return;
    }
    struct evbuffer *out = evbuffer_new();
    evbuffer_add_printf(out, "{\"accepted\":%zu,\"packet_id\":\"%s\"}\n", count, w->packet_id);
    evhttp_add_header(evhttp_request_get_output_headers(w->req), "Content-Type",
                      "application/json");
    evhttp_send_reply(w->req, 202, "Accepted", out);
    evbuffer_free(out);
}

static void refuse(waiter_t *w, reject_reason_t why, int status, const char *msg,
                   long long offset, int retry_after, int err)
{
    if (w->inject_done) {
        metrics_reject(why);
        w->inject_done(w->inject_ctx, err ? err : -EINVAL, 0);
        return;
    }
    reject(w->req, why, status, msg, offset, retry_after);
}

/* The durability writer is done with a packet (ingest thread). */
static void on_durable_done(void *ctx, packet_t *p, int status)
{
    waiter_t *w = ctx;
    size_t count = p->count;
    if (status == 0) {
        size_t durable = 0;
        for (size_t i = 0; i < count; i++) durable += p->seqs[i] != 0;
        METRIC_ADD(records_durable, durable);
        queue_push(w->ing->queue, p);
        reply_accepted(w, count);
    } else {
        queue_release(w->ing->queue, p->held_bytes, count);
        packet_free(p);
        if (status == -ENOSPC)
            refuse(w, REJECT_DISK_FULL, 503,
                   "durable storage is full (max-disk-bytes or the disk itself)", -1, 5, status);
        else
            refuse(w, REJECT_DISK_ERROR, 503, "durable storage write failed", -1, 5, status);
    }
    free(w);
}

/* A token bound to an agent: a JSON packet may name that agent once, as a
 * string, or not at all; a bare array or NDJSON body is attributed to it
 * (records are forwarded as they are: their fields are not checked). A
 * null, a number, any other type or a repeated "agent_id" is refused (the
 * scanner would read those as absent or take the last one). On refusal
 * answers 403 (counted as wrong_agent) and returns false. */
static bool agent_claim_ok(const packet_t *p, scan_format_t format, const scan_result_t *s,
                           const char *bound, struct evhttp_request *req)
{
    if (!bound || !req || format == SCAN_FORMAT_NDJSON) return true;
    agent_claim_t c;
    char msg[300];
    switch (agent_claim_find(p->data, p->len, s->records, s->count, &c)) {
    case AGENT_CLAIM_ABSENT: return true;
    case AGENT_CLAIM_STRING:
        if (c.value_len == strlen(bound) && !memcmp(p->data + c.value_off, bound, c.value_len))
            return true;
        auth_http_wrong_agent(req, bound, p->data + c.value_off, c.value_len);
        return false;
    case AGENT_CLAIM_NOT_STRING:
        snprintf(msg, sizeof msg, "agent_id must be the string \"%.128s\" (this token's agent) "
                 "or absent, not %s", bound, c.type);
        auth_http_bad_agent(req, bound, msg, (long long)c.value_off);
        return false;
    case AGENT_CLAIM_DUPLICATE:
        auth_http_bad_agent(req, bound, "agent_id appears more than once; a token bound to an "
                            "agent allows at most one", (long long)c.key_off);
        return false;
    default:
        auth_http_bad_agent(req, bound, "agent_id could not be read from the packet", -1);
        return false;
    }
}

/* The rate-limit key of a packet, written to out (NUL-terminated), its
 * length returned: "t:" and the token's bound agent; else "a:" and the
 * agent_id the packet claims (its first RATE_KEY_MAX bytes); else "@" and
 * the client address. The prefixes keep one kind from spending another's
 * bucket: a body cannot claim a bound agent's budget or an address's. */
static size_t rate_key(const packet_t *p, const scan_result_t *s, const char *bound,
                       struct evhttp_request *req, char *out, size_t outlen)
{
    if (bound) return (size_t)snprintf(out, outlen, "t:%.*s", RATE_KEY_MAX, bound);
    if (s->agent_id.len) {
        int n = s->agent_id.len > RATE_KEY_MAX ? RATE_KEY_MAX : (int)s->agent_id.len;
        return (size_t)snprintf(out, outlen, "a:%.*s", n, p->data + s->agent_id.off);
    }
    struct evhttp_connection *c = evhttp_request_get_connection(req);
    char *addr = NULL;
    ev_uint16_t port;
    if (c) evhttp_connection_get_peer(c, &addr, &port);
    return (size_t)snprintf(out, outlen, "@%.*s", RATE_KEY_MAX, addr ? addr : "?");
}

/* Validate, reserve budget and queue (directly or through the durability
 * writer) a packet whose body is p->data[0..len). Answers the request, or
 * calls the injector's callback. Takes ownership of p. */
static void admit(ingest_t *ing, packet_t *p, scan_format_t format, bool whole_durable,
                  const char *bound_agent, struct evhttp_request *req,
                  ingest_inject_fn inject_done, void *inject_ctx)
{
    waiter_t local = {ing, req, inject_done, inject_ctx, ""};
    scan_result_t *s = &ing->scan;
    const scan_limits_t *lim = inject_done ? &ing->replay_limits : &ing->limits;
    if (scan_body(p->data, p->len, format, lim, s) != SCAN_OK) {
        packet_free(p);
        if (inject_done) {
            metrics_reject(REJECT_SYNTAX);
            inject_done(inject_ctx, -EINVAL, 0);
        } else {
            reject_scan(req, s);
        }
        return;
    }
    if (!agent_claim_ok(p, format, s, bound_agent, req)) {
        packet_free(p);
        return;
    }
    uint64_t rec_bytes = 0;
    for (size_t i = 0; i < s->count; i++) rec_bytes += s->records[i].rec.len;
    uint64_t held = packet_held_bytes(p, s->count); /* memory, not record bytes: issue 9 */
    if (s->packet_id.len && s->packet_id.len < 128)
        snprintf(local.packet_id, sizeof local.packet_id, "%.*s", (int)s->packet_id.len,
                 p->data + s->packet_id.off);
    else
        snprintf(local.packet_id, sizeof local.packet_id, "p-%llx-%llx",
                 (unsigned long long)wall_ms(), (unsigned long long)++ing->packet_seq);

    size_t count = s->count;
    if (!count) {
        packet_free(p);
        reply_accepted(&local, 0);
        return;
    }
    bool forced = inject_done != NULL; /* a replay must not be refused for budget */
    if (forced)
        queue_reserve_force(ing->queue, held, count);
    else if (!queue_reserve(ing->queue, held, count)) {
        packet_free(p);
        refuse(&local, REJECT_QUEUE_FULL, 503, "queue is full (max-queue-bytes); retry later", -1,
               1, -EAGAIN);
        return;
    }
    /* rate limits last: a packet refused for any other reason costs no tokens */
    if (req && ratelimit_enabled(ing->rl)) {
        char key[RATE_KEY_MAX + 3];
        size_t klen = rate_key(p, s, bound_agent, req, key, sizeof key);
        const char *which = "global";
        int wait = ratelimit_admit(ing->rl, key, klen, s->count, p->len, now_us(), &which);
        atomic_store_explicit(&g_metrics.rate_limit_agents, ratelimit_agents(ing->rl),
                              memory_order_relaxed);
        if (wait) {
            char msg[96];
            snprintf(msg, sizeof msg, "over the %s rate limit; retry after %d s", which, wait);
            if (!strcmp(which, "global"))
                METRIC_ADD(rate_limited_global, 1);
            else
                METRIC_ADD(rate_limited_agent, 1);
            queue_release(ing->queue, held, count);
            packet_free(p);
            reject(req, REJECT_RATE_LIMITED, 429, msg, -1, wait);
            return;
        }
    }
    p->records = malloc(count * sizeof *p->records);
    if (!p->records) {
        queue_release(ing->queue, held, count);
        packet_free(p);
        refuse(&local, REJECT_NOMEM, 503, "out of memory", -1, 1, -ENOMEM);
        return;
    }
    memcpy(p->records, s->records, count * sizeof *p->records);
    p->count = count;
    p->record_bytes = rec_bytes;
    p->held_bytes = held;
    p->accepted_us = now_us();

    size_t durable = mark_durable(ing, p, whole_durable);
    if (durable == SIZE_MAX) {
        queue_release(ing->queue, held, count);
        packet_free(p);
        refuse(&local, REJECT_NOMEM, 503, "out of memory", -1, 1, -ENOMEM);
        return;
    }
    if (durable) {
        waiter_t *w = malloc(sizeof *w);
        if (!w) {
            queue_release(ing->queue, held, count);
            packet_free(p);
            refuse(&local, REJECT_NOMEM, 503, "out of memory", -1, 1, -ENOMEM);
            return;
        }
        *w = local;
        durable_submit(ing->durable, p, on_durable_done, w);
        return;
    }
    queue_push(ing->queue, p);
    reply_accepted(&local, count);
}

void ingest_handle(ingest_t *ing, struct evhttp_request *req)
{
    const config_t *cfg = ing->cfg;
    METRIC_ADD(packets_received, 1);
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
        reject(req, REJECT_METHOD, 405, "use POST to submit logs", -1, 0);
        return;
    }
    const char *bound_agent = NULL;
    if (!auth_http_require(ing->auth, req, ROLE_INGEST, &bound_agent)) return;
    if (ing->draining) {
        reject(req, REJECT_DRAINING, 503, "logdistd is shutting down", -1, 5);
        return;
    }
    if (resource_shedding(ing->res)) {
        reject(req, REJECT_MEMORY, 503, "memory pressure (memory-limit); retry later", -1, 2);
        return;
    }
    struct evkeyvalq *hdrs = evhttp_request_get_input_headers(req);
    int format = format_of(evhttp_find_header(hdrs, "Content-Type"));
    if (format < 0) {
        reject(req, REJECT_MEDIA_TYPE, 415,
               "Content-Type must be application/json or application/x-ndjson", -1, 0);
        return;
    }
    const char *enc = evhttp_find_header(hdrs, "Content-Encoding");
    bool gzip = false;
    if (enc && *enc && strcasecmp(enc, "identity")) {
        if (!strcasecmp(enc, "gzip") || !strcasecmp(enc, "x-gzip")) {
            gzip = true;
        } else {
            reject(req, REJECT_ENCODING, 415, "Content-Encoding must be gzip or identity", -1,
                   0);
            return;
        }
    }
    /* the header promises an fsync before the 202: never answer it without one */
    bool want_durable = durable_hdr_is_critical(hdrs);
    if (want_durable && (cfg->durability == DURABILITY_NONE || !ing->durable)) {
        reject(req, REJECT_DURABILITY_UNAVAILABLE, 409,
               "X-Logdist-Durability: critical needs the write-ahead log, but this logdistd runs "
               "with --durability none (nothing is written to disk); send without the header "
               "to accept memory-only delivery", -1, 0);
        return;
    }

    if (queue_bytes(ing->queue) >= cfg->max_queue_bytes) { /* shed before any work */
        reject(req, REJECT_QUEUE_FULL, 503, "queue is full (max-queue-bytes); retry later", -1, 1);
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t in_len = evbuffer_get_length(in);
    METRIC_ADD(bytes_received, in_len);
    if (in_len > cfg->max_body_bytes) {
        reject(req, REJECT_BODY_TOO_LARGE, 413, "request body is larger than max-body-bytes",
               (long long)cfg->max_body_bytes, 0);
        return;
    }

    packet_t *p = calloc(1, sizeof *p);
    if (!p) {
        reject(req, REJECT_NOMEM, 503, "out of memory", -1, 1);
        return;
    }
    if (gzip) {
        const unsigned char *z = evbuffer_pullup(in, -1);
        size_t erroff;
        int rc = gunzip_body(z, in_len, cfg->max_decoded_bytes, &p->decoded, &p->len, &erroff);
        if (rc != GUNZIP_OK) {
            packet_free(p);
            if (rc == GUNZIP_ERR_TOO_BIG)
                reject(req, REJECT_BODY_TOO_LARGE, 413,
                       "decompressed body is larger than max-decoded-bytes",
                       (long long)cfg->max_decoded_bytes, 0);
            else if (rc == GUNZIP_ERR_NOMEM)
                reject(req, REJECT_NOMEM, 503, "out of memory", -1, 1);
            else
                reject(req, REJECT_BAD_GZIP, 400, "body is not a valid gzip stream",
                       (long long)erroff, 0);
            return;
        }
        p->data = p->decoded;
    } else {
        p->raw = evbuffer_new();
        if (!p->raw || evbuffer_add_buffer(p->raw, in)) {
            packet_free(p);
            reject(req, REJECT_NOMEM, 503, "out of memory", -1, 1);
            return;
        }
        p->len = in_len;
        p->data = in_len ? (const char *)evbuffer_pullup(p->raw, -1) : "";
        if (!p->data) {
            packet_free(p);
            reject(req, REJECT_NOMEM, 503, "out of memory", -1, 1);
            return;
        }
    }

    admit(ing, p, (scan_format_t)format, want_durable, bound_agent, req, NULL, NULL);
}

void ingest_inject(ingest_t *ing, const char *body, size_t len, ingest_inject_fn done, void *ctx)
{
    packet_t *p = calloc(1, sizeof *p);
    char *copy = malloc(len + 1);
    if (!p || !copy) {
        free(p);
        free(copy);
        done(ctx, -ENOMEM, 0);
        return;
    }
    memcpy(copy, body, len);
    p->decoded = copy;
    p->data = copy;
    p->len = len;
    admit(ing, p, SCAN_FORMAT_JSON, true, NULL, NULL, done, ctx);
}
