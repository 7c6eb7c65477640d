/*
 * ingest.c - see ingest.h.
 *
 * The body is taken out of the request without copying: the connection's
 * input buffer, which one read filled with it, becomes the packet's block
 * (http_req_take_body); the scanner reads it once; the router later copies
 * each record once into its analyzer's batch.
 *
 * State between the two phases: the request's user slot holds the agent the
 * token is bound to (a string of the auth object, or NULL); the format, gzip
 * and durability flags are read again from the headers on_head checked. A
 * parked request's slot holds &parked_mark, so that its on_head, run again on
 * resume, does not count it twice.
 *
 * Durability: when the packet holds durable records (policy, "critical": true,
 * a critical level, or X-Logdist-Durability: critical), it goes to the
 * durability writer first and the 202 is sent from its completion, after the
 * fsync; otherwise it is queued and answered at once.
 *
 * Threads (--ingest-threads): every ingest loop has its ingest_worker_t,
 * touched only on that loop's thread: the scanner's result table, the parked
 * FIFO and its poll timer, the mailbox its durable completions come back to
 * (a request is answered on the loop it arrived on), its counters (atomics,
 * read by the metrics). The ingest_t is shared by every loop: read-only after
 * start (config, limits, auth, queue and durable handles, the worker table)
 * except the rate-limit buckets - under `mu`, taken once per packet and only
 * when a limit is set, never per record; scanning and gunzip run outside it -
 * and three atomics: the draining flag, the queue-full latch and the packet
 * id sequence. The queue hand-off is the queue's own (one lock per packet).
 */
#include "ingest/ingest.h"

#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/check.h"
#include "ingress/http_reply.h"
#include "common/mailbox.h"
#include "common/util.h"
#include "core/auth.h"
#include "ingress/auth_http.h"
#include "core/metrics.h"
#include "ingest/agent_claim.h"
#include "ingest/gunzip.h"
#include "ingest/ratelimit.h"
#include "core/resource.h"
#include "record/scan.h"

#define RATE_KEY_MAX 256 /* bytes of an agent id that key its rate limit */
#define PARK_POLL_MS 10  /* --overload-action pause: how often parked requests are looked at */

typedef struct {
    http_req_t *r;
    uint64_t since_ms; /* parked at (a re-park after a resume starts again) */
} parked_t;

static char parked_mark; /* user slot of a parked request (see the top) */

/* One ingest loop's own state: used on that loop's thread only (the
 * counters are atomics, read by the metrics from any thread). */
struct ingest_worker {
    ingest_t *ing;
    struct event_base *base; /* NULL until ingest_set_loop (the main worker) */
    mailbox_t *done_mb;      /* durable completions (NULL: the durable's completion base) */
    scan_result_t scan;      /* reused for every packet of this loop */
    /* --overload-action pause: requests parked unread, oldest first (a ring) */
    struct event *park_ev;
    parked_t *parked;
    size_t park_head, park_len, park_cap;
    _Atomic size_t parked_now; /* park_len, for ingest_parked() */
    _Atomic uint64_t connections, requests, packets, records;
};

struct ingest {
    const config_t *cfg;
    pkt_queue_t *queue;
    durable_t *durable;
    const auth_t *auth;
    const resource_t *res;
    _Atomic(ingest_limits_t *) limits; /* ingest_set_limits; never NULL */
    pthread_mutex_t mu;  /* the rate-limit buckets, the worker table's changes, set_limits */
    ratelimit_t *rl;     /* under mu */
    _Atomic(ingest_route_check_fn) route_check; /* ingest_set_route_check, NULL = none */
    void *route_ctx;
    atomic_bool rl_on;   /* ratelimit_enabled(rl), readable without mu */
    atomic_bool draining;
    atomic_bool queue_full; /* mirrors the queue's hysteresis: set at the budget, cleared
                               under 80 % (any loop may set or clear it) */
    _Atomic uint64_t packet_seq;
    /* workers[0] is the main loop's (ingest_set_loop); the others one per ingest
     * thread. Changed under mu; read without it by the loops once they run
     * (workers are added before and removed after the threads). */
    ingest_worker_t *workers[INGEST_MAX_LOOPS];
    size_t nworkers;
};

static void worker_init(ingest_worker_t *w, ingest_t *ing, struct event_base *base,
                        mailbox_t *done_mb)
{
    w->ing = ing;
    w->base = base;
    w->done_mb = done_mb;
}

static ratelimit_config_t rate_config(const config_t *cfg)
{
    ratelimit_config_t rc = {cfg->global_records_per_s, cfg->global_bytes_per_s,
                             cfg->agent_records_per_s,  cfg->agent_bytes_per_s,
                             (double)cfg->rate_burst_s, 10000};
    return rc;
}

static ingest_limits_t *limits_new(const config_t *cfg)
{
    ingest_limits_t *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->max_body_bytes = cfg->max_body_bytes;
    l->max_decoded_bytes = cfg->max_decoded_bytes;
    l->max_records_per_packet = cfg->max_records_per_packet;
    l->max_record_bytes = cfg->max_record_bytes;
    l->max_depth = cfg->max_depth;
    l->idle_timeout_s = cfg->idle_timeout_s;
    snprintf(l->critical_levels, sizeof l->critical_levels, "%s", cfg->critical_levels);
    l->scan.max_depth = cfg->max_depth;
    l->scan.max_records = cfg->max_records_per_packet;
    l->scan.max_record_bytes = cfg->max_record_bytes;
    /* a stored batch frames each record two levels deeper ({"messages":[rec]}) and
     * holds up to batch_max_records of them: whatever ingest accepted must pass */
    l->replay = l->scan;
    l->replay.max_depth = cfg->max_depth + 2;
    if (cfg->batch_max_records > cfg->max_records_per_packet)
        l->replay.max_records = cfg->batch_max_records;
    return l;
}

ingest_t *ingest_new(const config_t *cfg, pkt_queue_t *queue, durable_t *durable,
                     const auth_t *auth)
{
    ingest_t *ing = calloc(1, sizeof *ing);
    ingest_worker_t *w0 = calloc(1, sizeof *w0);
    if (!ing || !w0) {
        free(ing);
        free(w0);
        return NULL;
    }
    ing->cfg = cfg;
    ing->queue = queue;
    ing->durable = durable;
    ing->auth = auth;
    ratelimit_config_t rc = rate_config(cfg);
    ing->rl = ratelimit_new(&rc);
    if (!ing->rl) {
        free(w0);
        free(ing);
        return NULL;
    }
    ingest_limits_t *lim = limits_new(cfg);
    if (!lim) {
        ratelimit_free(ing->rl);
        free(w0);
        free(ing);
        return NULL;
    }
    atomic_init(&ing->limits, lim);
    atomic_init(&ing->rl_on, ratelimit_enabled(ing->rl) != 0);
    pthread_mutex_init(&ing->mu, NULL);
    worker_init(w0, ing, NULL, NULL);
    ing->workers[0] = w0;
    ing->nworkers = 1;
    return ing;
}

const ingest_limits_t *ingest_limits(const ingest_t *ing)
{
    return atomic_load_explicit(&((ingest_t *)ing)->limits, memory_order_acquire);
}

int ingest_set_limits(ingest_t *ing, const config_t *cfg)
{
    ingest_limits_t *lim = limits_new(cfg);
    if (!lim) return -ENOMEM;
    ratelimit_config_t rc = rate_config(cfg);
    pthread_mutex_lock(&ing->mu);
    ratelimit_reconfigure(ing->rl, &rc);
    atomic_store_explicit(&ing->rl_on, ratelimit_enabled(ing->rl) != 0, memory_order_relaxed);
    lim->retired = atomic_exchange_explicit(&ing->limits, lim, memory_order_acq_rel);
    pthread_mutex_unlock(&ing->mu);
    return 0;
}

static void park_flush(ingest_worker_t *w, reject_reason_t why);
static void on_park_poll(evutil_socket_t fd, short what, void *arg);

static void worker_release(ingest_worker_t *w)
{
    park_flush(w, REJECT_DRAINING);
    if (w->park_ev) event_free(w->park_ev);
    free(w->parked);
    scan_result_free(&w->scan);
    free(w);
}

void ingest_free(ingest_t *ing)
{
    if (!ing) return;
    LD_ASSERT(ing->nworkers == 1); /* every ingest_worker_new'd worker freed first */
    worker_release(ing->workers[0]);
    ratelimit_free(ing->rl);
    for (ingest_limits_t *l = atomic_load(&ing->limits), *next; l; l = next) {
        next = l->retired;
        free(l);
    }
    pthread_mutex_destroy(&ing->mu);
    free(ing);
}

ingest_worker_t *ingest_worker_new(ingest_t *ing, struct event_base *base, mailbox_t *done_mb)
{
    ingest_worker_t *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    worker_init(w, ing, base, done_mb);
    w->park_ev = evtimer_new(base, on_park_poll, w);
    pthread_mutex_lock(&ing->mu);
    bool room = ing->nworkers < INGEST_MAX_LOOPS;
    if (room && w->park_ev) ing->workers[ing->nworkers++] = w;
    pthread_mutex_unlock(&ing->mu);
    if (!room || !w->park_ev) {
        if (w->park_ev) event_free(w->park_ev);
        free(w);
        return NULL;
    }
    return w;
}

void ingest_worker_free(ingest_worker_t *w)
{
    if (!w) return;
    ingest_t *ing = w->ing;
    pthread_mutex_lock(&ing->mu);
    for (size_t i = 1; i < ing->nworkers; i++) {
        if (ing->workers[i] != w) continue;
        memmove(&ing->workers[i], &ing->workers[i + 1],
                (ing->nworkers - i - 1) * sizeof ing->workers[0]);
        ing->nworkers--;
        break;
    }
    pthread_mutex_unlock(&ing->mu);
    worker_release(w);
}

ingest_worker_t *ingest_main_worker(ingest_t *ing)
{
    return ing->workers[0];
}

/* The worker of the loop `base` (the main worker when none matches). */
static ingest_worker_t *worker_of(ingest_t *ing, const struct event_base *base)
{
    ingest_worker_t *w = ing->workers[0];
    pthread_mutex_lock(&ing->mu);
    for (size_t i = 0; base && i < ing->nworkers; i++)
        if (ing->workers[i]->base == base) w = ing->workers[i];
    pthread_mutex_unlock(&ing->mu);
    return w;
}

void ingest_worker_count_connection(ingest_worker_t *w)
{
    PROTO_ADD(PROTO_HTTP, connections, 1);
    atomic_fetch_add_explicit(&w->connections, 1, memory_order_relaxed);
}

size_t ingest_loop_stats(ingest_t *ing, ingest_loop_stats_t *out, size_t max)
{
    pthread_mutex_lock(&ing->mu);
    size_t n = ing->nworkers < max ? ing->nworkers : max;
    for (size_t i = 0; i < n; i++) {
        const ingest_worker_t *w = ing->workers[i];
        out[i] = (ingest_loop_stats_t){
            atomic_load_explicit(&w->connections, memory_order_relaxed),
            atomic_load_explicit(&w->requests, memory_order_relaxed),
            atomic_load_explicit(&w->packets, memory_order_relaxed),
            atomic_load_explicit(&w->records, memory_order_relaxed),
        };
    }
    pthread_mutex_unlock(&ing->mu);
    return n;
}

void ingest_set_draining(ingest_t *ing, bool draining)
{
    atomic_store(&ing->draining, draining);
    if (draining) park_flush(ing->workers[0], REJECT_DRAINING);
}

void ingest_worker_drain(ingest_worker_t *w)
{
    park_flush(w, REJECT_DRAINING);
}

void ingest_set_resource(ingest_t *ing, const resource_t *res)
{
    ing->res = res;
}

/* Map Content-Type to a scan format; -1 when unsupported. */
static int format_of(const char *ct)
{
    if (!ct || !*ct) return SCAN_FORMAT_JSON;
    if (http_media_is(ct, "application/json") || http_media_is(ct, "text/json"))
        return SCAN_FORMAT_JSON;
    if (http_media_is(ct, "application/x-ndjson") || http_media_is(ct, "application/ndjson") ||
        http_media_is(ct, "application/jsonlines") || http_media_is(ct, "application/x-jsonlines") ||
        http_media_is(ct, "application/json-lines"))
        return SCAN_FORMAT_NDJSON;
    return -1;
}

/* Refuse a packet. Shedding (memory pressure, full queue, shutdown) also
 * closes the connection after the 503: logdistd reads nothing more from a
 * client it cannot serve, and the agent reconnects after Retry-After (while
 * memory is short an ingest-only listener accepts no new connection either). */
static void reject(http_req_t *req, reject_reason_t why, int status, const char *msg,
                   long long offset, int retry_after)
{
    metrics_reject(why);
    if (why == REJECT_MEMORY || why == REJECT_QUEUE_FULL || why == REJECT_DRAINING) {
        http_req_close_after(req); /* the framer says Connection: close */
        METRIC_ADD(connections_shed, 1);
    }
    http_reply_error(req, status, reject_reason_name(why), msg, offset, retry_after);
}

/* Who waits for a packet: an HTTP request, an injector callback, or a
 * protocol front-end (ingest_submit). Exactly one of req, inject_done and
 * submit_done is set. */
typedef struct {
    ingest_worker_t *wk; /* the loop the packet came in on */
    http_req_t *req; /* kept until answered, even if its client goes (the answer is dropped) */
    ingest_inject_fn inject_done;
    void *inject_ctx;
    ingest_submit_fn submit_done;
    void *submit_ctx;
    char packet_id[160];
} waiter_t;

static bool durable_hdr_is_critical(const http_req_t *r)
{
    const char *v = http_req_header(r, "X-Logdist-Durability");
    return v && !strcasecmp(v, "critical");
}

/* Mark the durable records of p (p->seqs[i] = 1); returns how many. */
static size_t mark_durable(const ingest_t *ing, packet_t *p, bool whole_packet)
{
    const config_t *cfg = ing->cfg;
    const char *critical = ingest_limits(ing)->critical_levels;
    if (cfg->durability == DURABILITY_NONE || !ing->durable || !p->count) return 0;
    bool all = whole_packet || cfg->durability == DURABILITY_ALL;
    size_t n = 0;
    for (size_t i = 0; i < p->count; i++) {
        const scan_record_t *r = &p->records[i];
        bool durable = all || (r->flags & SCAN_REC_CRITICAL) ||
                       (r->level.len && config_level_in_list(critical, p->data + r->level.off,
                                                             r->level.len));
        if (!durable) continue;
        if (!p->seqs && !(p->seqs = calloc(p->count, sizeof *p->seqs))) return SIZE_MAX;
        p->seqs[i] = 1;
        n++;
    }
    return n;
}

static void reply_accepted(waiter_t *w, size_t count, size_t durable)
{
    METRIC_ADD(packets_accepted, 1);
    METRIC_ADD(records_accepted, count);
    atomic_fetch_add_explicit(&w->wk->packets, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->wk->records, count, memory_order_relaxed);
    if (w->inject_done) {
        w->inject_done(w->inject_ctx, 0, count);
        return;
    }
    if (w->submit_done) {
        ingest_verdict_t v = {.status = 0, .http_status = 202, .message = "accepted",
                              .offset = -1, .records = count, .durable = durable};
        w->submit_done(w->submit_ctx, &v);
        return;
    }
    PROTO_ADD(PROTO_HTTP, records_accepted, count);
    char out[256];
    int n = snprintf(out, sizeof out, "{\"accepted\":%zu,\"packet_id\":\"%s\"}\n", count,
                     w->packet_id);
    http_req_reply(w->req, 202, "application/json", out, (size_t)n);
}

static void refuse(waiter_t *w, reject_reason_t why, int status, const char *msg,
                   long long offset, int retry_after, int err)
{
    if (w->inject_done) {
        metrics_reject(why);
        w->inject_done(w->inject_ctx, err ? err : -EINVAL, 0);
        return;
    }
    if (w->submit_done) {
        metrics_reject(why);
        ingest_verdict_t v = {.status = err ? err : -EINVAL, .why = why, .http_status = status,
                              .message = msg, .offset = offset, .retry_after = retry_after};
        w->submit_done(w->submit_ctx, &v);
        return;
    }
    reject(w->req, why, status, msg, offset, retry_after);
}

/* The refusal a failed scan gets (status, reason, errno). */
static void refuse_scan(waiter_t *w, const scan_result_t *s)
{
    reject_reason_t why;
    int status = 400, err = -EINVAL;
    switch (s->status) {
    case SCAN_ERR_UTF8: why = REJECT_UTF8; break;
    case SCAN_ERR_SHAPE: why = REJECT_SHAPE; break;
    case SCAN_ERR_DEPTH: why = REJECT_DEPTH; break;
    case SCAN_ERR_TOO_MANY: why = REJECT_TOO_MANY_RECORDS; status = 413; err = -E2BIG; break;
    case SCAN_ERR_RECORD_SIZE: why = REJECT_RECORD_TOO_LARGE; status = 413; err = -E2BIG; break;
    case SCAN_ERR_NOMEM:
        refuse(w, REJECT_NOMEM, 503, "out of memory", -1, 1, -ENOMEM);
        return;
    default: why = REJECT_SYNTAX; break;
    }
    refuse(w, why, status, s->err_msg ? s->err_msg : scan_status_name(s->status),
           (long long)s->err_offset, 0, err);
}

/* The durability writer is done with a packet (on the loop it came in on). */
static void on_durable_done(void *ctx, packet_t *p, int status)
{
    waiter_t *w = ctx;
    ingest_t *ing = w->wk->ing;
    size_t count = p->count;
    if (status == 0) {
        size_t durable = 0;
        for (size_t i = 0; i < count; i++) durable += p->seqs[i] != 0;
        METRIC_ADD(records_durable, durable);
        queue_push(ing->queue, p);
        reply_accepted(w, count, durable);
    } else {
        queue_release(ing->queue, p->held_bytes, count);
        packet_free(p);
        metrics_records_rejected(status == -ENOSPC ? REJECT_DISK_FULL : REJECT_DISK_ERROR, count);
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
                           const char *bound, http_req_t *req)
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
                       const char *addr, char *out, size_t outlen)
{
    if (bound) return (size_t)snprintf(out, outlen, "t:%.*s", RATE_KEY_MAX, bound);
    if (s->agent_id.len) {
        int n = s->agent_id.len > RATE_KEY_MAX ? RATE_KEY_MAX : (int)s->agent_id.len;
        return (size_t)snprintf(out, outlen, "a:%.*s", n, p->data + s->agent_id.off);
    }
    return (size_t)snprintf(out, outlen, "@%.*s", RATE_KEY_MAX, addr ? addr : "?");
}

/* A record no route takes (the default route is empty): refuse the packet
 * whole with 422 naming the first such record. A replay is never refused:
 * those records were acknowledged (the router dead-letters them, counted). */
static bool refuse_unrouted(ingest_t *ing, waiter_t *w, packet_t *p, const scan_result_t *s)
{
    ingest_route_check_fn fn = atomic_load_explicit(&ing->route_check, memory_order_acquire);
    long bad = fn ? fn(ing->route_ctx, p->data, s->records, s->count) : -1;
    if (bad < 0) return false;
    char msg[200];
    snprintf(msg, sizeof msg, "record %ld matches no route and the default route has no "
             "analyzers (docs/ROUTING.md)", bad);
    size_t count = s->count;
    long long off = (long long)s->records[bad].rec.off;
    packet_free(p);
    metrics_records_rejected(REJECT_NO_ROUTE, count);
    refuse(w, REJECT_NO_ROUTE, 422, msg, off, 0, -ENOENT);
    return true;
}

void ingest_set_route_check(ingest_t *ing, ingest_route_check_fn fn, void *ctx)
{
    ing->route_ctx = ctx;
    atomic_store_explicit(&ing->route_check, fn, memory_order_release);
}

/* Validate, reserve budget and queue (directly or through the durability
 * writer) a packet whose body is p->data[0..len). Answers the request, or
 * calls the injector's callback. Takes ownership of p. */
static void admit(const waiter_t *who, packet_t *p, scan_format_t format, bool whole_durable,
                  const char *bound_agent, const char *peer_addr, const scan_result_t *pre)
{
    ingest_worker_t *wk = who->wk;
    ingest_t *ing = wk->ing;
    http_req_t *req = who->req;
    waiter_t local = *who;
    const scan_result_t *s = pre ? pre : &wk->scan; /* pre: ingest_submit_scanned's table */
    const ingest_limits_t *L = ingest_limits(ing);
    const scan_limits_t *lim = who->inject_done ? &L->replay : &L->scan;
    if (!pre && scan_body(p->data, p->len, format, lim, &wk->scan) != SCAN_OK) {
        packet_free(p);
        if (who->inject_done) {
            metrics_reject(REJECT_SYNTAX);
            who->inject_done(who->inject_ctx, -EINVAL, 0);
        } else {
            refuse_scan(&local, &wk->scan);
        }
        return;
    }
    if (!agent_claim_ok(p, format, s, bound_agent, req)) {
        packet_free(p);
        return;
    }
    METRIC_ADD(records_received, s->count); /* scanned: from here a refusal counts records */
    if (!who->inject_done && refuse_unrouted(ing, &local, p, s)) return;
    uint64_t rec_bytes = 0;
    for (size_t i = 0; i < s->count; i++) rec_bytes += s->records[i].rec.len;
    uint64_t held = packet_held_bytes(p, s->count); /* memory, not record bytes: issue 9 */
    if (s->packet_id.len && s->packet_id.len < 128)
        snprintf(local.packet_id, sizeof local.packet_id, "%.*s", (int)s->packet_id.len,
                 p->data + s->packet_id.off);
    else
        snprintf(local.packet_id, sizeof local.packet_id, "p-%llx-%llx",
                 (unsigned long long)wall_ms(),
                 (unsigned long long)(atomic_fetch_add_explicit(&ing->packet_seq, 1,
                                                                memory_order_relaxed) + 1));

    size_t count = s->count;
    if (!count) {
        packet_free(p);
        reply_accepted(&local, 0, 0);
        return;
    }
    bool forced = who->inject_done != NULL; /* a replay must not be refused for budget */
    if (forced)
        queue_reserve_force(ing->queue, held, count);
    else if (!queue_reserve(ing->queue, held, count)) {
        atomic_store_explicit(&ing->queue_full, true, memory_order_relaxed); /* the queue
                               refuses until under 80 %: so does on_head */
        packet_free(p);
        metrics_records_rejected(REJECT_QUEUE_FULL, count);
        refuse(&local, REJECT_QUEUE_FULL, 503, "queue is full (max-queue-bytes); retry later", -1,
               1, -EAGAIN);
        return;
    }
    /* rate limits last: a packet refused for any other reason costs no tokens */
    if (!who->inject_done && atomic_load_explicit(&ing->rl_on, memory_order_relaxed)) {
        char key[RATE_KEY_MAX + 3];
        size_t klen = rate_key(p, s, bound_agent, req ? http_req_peer_addr(req) : peer_addr, key,
                               sizeof key);
        const char *which = "global";
        pthread_mutex_lock(&ing->mu); /* once per packet: the buckets are shared by every loop */
        int wait = ratelimit_admit(ing->rl, key, klen, s->count, p->len, now_us(), &which);
        atomic_store_explicit(&g_metrics.rate_limit_agents, ratelimit_agents(ing->rl),
                              memory_order_relaxed);
        pthread_mutex_unlock(&ing->mu);
        if (wait) {
            char msg[96];
            snprintf(msg, sizeof msg, "over the %s rate limit; retry after %d s", which, wait);
            if (!strcmp(which, "global"))
                METRIC_ADD(rate_limited_global, 1);
            else
                METRIC_ADD(rate_limited_agent, 1);
            queue_release(ing->queue, held, count);
            packet_free(p);
            metrics_records_rejected(REJECT_RATE_LIMITED, count);
            refuse(&local, REJECT_RATE_LIMITED, 429, msg, -1, wait, -EBUSY);
            return;
        }
    }
    p->records = malloc(count * sizeof *p->records);
    if (!p->records) {
        queue_release(ing->queue, held, count);
        packet_free(p);
        metrics_records_rejected(REJECT_NOMEM, count);
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
        metrics_records_rejected(REJECT_NOMEM, count);
        refuse(&local, REJECT_NOMEM, 503, "out of memory", -1, 1, -ENOMEM);
        return;
    }
    if (durable) {
        waiter_t *w = malloc(sizeof *w);
        if (!w) {
            queue_release(ing->queue, held, count);
            packet_free(p);
            metrics_records_rejected(REJECT_NOMEM, count);
            refuse(&local, REJECT_NOMEM, 503, "out of memory", -1, 1, -ENOMEM);
            return;
        }
        *w = local;
        durable_submit_to(ing->durable, wk->done_mb, p, on_durable_done, w);
        return;
    }
    queue_push(ing->queue, p);
    reply_accepted(&local, count, 0);
}

/* ---- overload: the queue budget, and parking (--overload-action pause) ---- */

/* Is the queue full for a new packet? Set at the budget (or when a reservation
 * failed), cleared once the queue is back under 80 % of it: the queue's own
 * hysteresis (queue_reserve), seen before the body is read. */
static bool queue_is_full(ingest_t *ing)
{
    uint64_t cur = queue_bytes(ing->queue), max = queue_max_bytes(ing->queue);
    bool full = atomic_load_explicit(&ing->queue_full, memory_order_relaxed);
    if (cur >= max)
        full = true;
    else if (full && cur <= max / 10 * 8)
        full = false;
    else
        return full;
    atomic_store_explicit(&ing->queue_full, full, memory_order_relaxed);
    return full;
}

size_t ingest_parked(ingest_t *ing)
{
    size_t n = 0;
    pthread_mutex_lock(&ing->mu);
    for (size_t i = 0; i < ing->nworkers; i++)
        n += atomic_load_explicit(&ing->workers[i]->parked_now, memory_order_relaxed);
    pthread_mutex_unlock(&ing->mu);
    return n;
}

static parked_t *park_at(ingest_worker_t *w, size_t i)
{
    return &w->parked[(w->park_head + i) % w->park_cap];
}

static http_req_t *park_pop(ingest_worker_t *w)
{
    http_req_t *r = park_at(w, 0)->r;
    w->park_head = (w->park_head + 1) % w->park_cap;
    if (!--w->park_len) w->park_head = 0;
    atomic_store_explicit(&w->parked_now, w->park_len, memory_order_relaxed);
    return r;
}

/* Park r unread (the connection is not read: TCP backpressure). False when it
 * cannot be parked (no loop, no memory): the caller refuses it instead. */
static bool park(ingest_worker_t *w, http_req_t *r, bool resumed)
{
    if (!w->park_ev) return false;
    if (w->park_len == w->park_cap) {
        size_t cap = w->park_cap ? 2 * w->park_cap : 64;
        parked_t *n = malloc(cap * sizeof *n);
        if (!n) return false;
        for (size_t i = 0; i < w->park_len; i++) n[i] = *park_at(w, i);
        free(w->parked);
        w->parked = n;
        w->park_cap = cap;
        w->park_head = 0;
    }
    *park_at(w, w->park_len++) = (parked_t){r, now_ms()};
    atomic_store_explicit(&w->parked_now, w->park_len, memory_order_relaxed);
    http_req_set_user(r, &parked_mark);
    http_req_park(r);
    if (!resumed) METRIC_ADD(requests_paused, 1);
    if (!evtimer_pending(w->park_ev, NULL)) {
        struct timeval tv = {0, PARK_POLL_MS * 1000};
        evtimer_add(w->park_ev, &tv);
    }
    return true;
}

static void reject_overload(http_req_t *r, bool memory)
{
    if (memory)
        reject(r, REJECT_MEMORY, 503, "memory pressure (memory-limit); retry later", -1, 2);
    else
        reject(r, REJECT_QUEUE_FULL, 503, "queue is full (max-queue-bytes); retry later", -1, 1);
}

/* Answer every parked request (shutdown): its client may be gone already, then
 * the answer is dropped and the request freed all the same. */
static void park_flush(ingest_worker_t *w, reject_reason_t why)
{
    while (w->park_len) {
        http_req_t *r = park_pop(w);
        if (why == REJECT_DRAINING)
            reject(r, REJECT_DRAINING, 503, "logdistd is shutting down", -1, 5);
        else
            reject_overload(r, why == REJECT_MEMORY);
    }
    if (w->park_ev) evtimer_del(w->park_ev);
}

/* Every PARK_POLL_MS while requests are parked: answer those whose client went
 * away or that waited --idle-timeout-s (503), then resume the oldest ones as
 * long as the queue has room for their Content-Length (a body of unknown
 * length counts as --max-body-bytes) and memory is not short. A resumed
 * request goes through on_head again. Bodies resumed in one poll and still
 * on their way are not counted by the next one: an over-estimate of the room
 * ends in a 503 queue_full after the body, never in memory over the budget. */
static void on_park_poll(evutil_socket_t fd, short what, void *arg)
{
    ingest_worker_t *w = arg;
    ingest_t *ing = w->ing;
    uint64_t now = now_ms(), wait_ms = (uint64_t)ingest_limits(ing)->idle_timeout_s * 1000;
    bool memory = resource_shedding(ing->res);
    while (w->park_len) {
        parked_t *e = park_at(w, 0);
        if (http_req_orphaned(e->r)) {
            http_req_reply(park_pop(w), 503, NULL, NULL, 0); /* frees it; nobody reads it */
            continue;
        }
        if (now - e->since_ms < wait_ms) break;
        METRIC_ADD(requests_pause_expired, 1);
        reject_overload(park_pop(w), memory);
    }
    if (!memory && w->park_len && !queue_is_full(ing)) {
        uint64_t max = queue_max_bytes(ing->queue), cur = queue_bytes(ing->queue);
        uint64_t room = max > cur ? max - cur : 0;
        /* only those parked now: one that parks again waits for the next poll */
        for (size_t n = w->park_len; n && w->park_len && room; n--) {
            http_req_t *r = park_pop(w);
            if (http_req_orphaned(r)) {
                http_req_reply(r, 503, NULL, NULL, 0);
                continue;
            }
            long long cl = http_req_content_length(r);
            uint64_t need = cl >= 0 ? (uint64_t)cl : ingest_limits(ing)->max_body_bytes;
            room = need < room ? room - need : 0;
            http_req_resume(r); /* on_head again: it may park once more */
        }
    }
    if (w->park_len && !evtimer_pending(w->park_ev, NULL)) {
        struct timeval tv = {0, PARK_POLL_MS * 1000};
        evtimer_add(w->park_ev, &tv);
    }
}

int ingest_set_loop(ingest_t *ing, struct event_base *base)
{
    ingest_worker_t *w = ing->workers[0];
    if (w->park_ev) return 0;
    w->park_ev = evtimer_new(base, on_park_poll, w);
    if (!w->park_ev) return -ENOMEM;
    w->base = base;
    return 0;
}

/* ---- the two phases of a request ----------------------------------------- */

void ingest_worker_on_head(ingest_worker_t *w, http_req_t *r)
{
    ingest_t *ing = w->ing;
    const config_t *cfg = ing->cfg;
    const ingest_limits_t *L = ingest_limits(ing);
    bool resumed = http_req_user(r) == &parked_mark;
    bool pause = cfg->overload_action == OVERLOAD_PAUSE;
    if (!resumed) {
        http_req_time(r, &g_metrics.ingest_request_seconds); /* head to answer */
        METRIC_ADD(packets_received, 1);
        PROTO_ADD(PROTO_HTTP, messages, 1);
        atomic_fetch_add_explicit(&w->requests, 1, memory_order_relaxed);
    }
    if (http_req_method(r) != HTTP_M_POST) {
        http_req_add_header(r, "Allow", "POST");
        reject(r, REJECT_METHOD, 405, "use POST to submit logs", -1, 0);
        return;
    }
    const char *bound_agent = NULL;
    if (!auth_http_require(ing->auth, r, ROLE_INGEST, &bound_agent)) return;
    if (atomic_load_explicit(&ing->draining, memory_order_relaxed)) {
        reject(r, REJECT_DRAINING, 503, "logdistd is shutting down", -1, 5);
        return;
    }
    /* with pause, a newcomer waits behind the requests parked before it (on its loop) */
    bool behind = pause && !resumed && w->park_len;
    bool shedding = resource_shedding(ing->res);
    if (shedding || behind) {
        if (pause && park(w, r, resumed)) return;
        if (shedding) {
            reject_overload(r, true);
            return;
        }
    }
    if (format_of(http_req_header(r, "Content-Type")) < 0) {
        reject(r, REJECT_MEDIA_TYPE, 415,
               "Content-Type must be application/json or application/x-ndjson", -1, 0);
        return;
    }
    if (http_req_gzip(r) < 0) {
        reject(r, REJECT_ENCODING, 415, "Content-Encoding must be gzip or identity", -1, 0);
        return;
    }
    /* the header promises an fsync before the 202: never answer it without one */
    if (durable_hdr_is_critical(r) && (cfg->durability == DURABILITY_NONE || !ing->durable)) {
        reject(r, REJECT_DURABILITY_UNAVAILABLE, 409,
               "X-Logdist-Durability: critical needs the write-ahead log, but this logdistd runs "
               "with --durability none (nothing is written to disk); send without the header "
               "to accept memory-only delivery", -1, 0);
        return;
    }
    long long cl = http_req_content_length(r);
    if (cl > 0 && (uint64_t)cl > L->max_body_bytes) {
        reject(r, REJECT_BODY_TOO_LARGE, 413, "request body is larger than max-body-bytes",
               (long long)L->max_body_bytes, 0);
        return;
    }
    if (queue_is_full(ing)) { /* shed before the body is read */
        if (!(pause && park(w, r, resumed))) reject_overload(r, false);
        return;
    }
    http_req_set_user(r, (void *)bound_agent); /* a string of the auth object */
    int rc = http_req_read_body(r, L->max_body_bytes);
    if (rc) /* answered by the framer: 413 (a chunked body over the limit) or 503 */
        metrics_reject(rc == -ENOMEM ? REJECT_NOMEM : REJECT_BODY_TOO_LARGE);
}

void ingest_worker_on_request(ingest_worker_t *w, http_req_t *r)
{
    ingest_t *ing = w->ing;
    const ingest_limits_t *L = ingest_limits(ing);
    const char *bound_agent = http_req_user(r);
    int format = format_of(http_req_header(r, "Content-Type")); /* checked by on_head */
    bool gzip = http_req_gzip(r) > 0;
    bool want_durable = durable_hdr_is_critical(r);
    char *block = NULL;
    const char *data = NULL;
    size_t len = 0;
    packet_t *p = calloc(1, sizeof *p);
    if (!p || http_req_take_body(r, &block, &data, &len)) {
        free(p);
        reject(r, REJECT_NOMEM, 503, "out of memory", -1, 1);
        return;
    }
    METRIC_ADD(bytes_received, len);
    if (len > L->max_body_bytes) { /* the framer enforces it; never trust one place only */
        free(block);
        packet_free(p);
        reject(r, REJECT_BODY_TOO_LARGE, 413, "request body is larger than max-body-bytes",
               (long long)L->max_body_bytes, 0);
        return;
    }
    if (gzip) {
        size_t erroff;
        int rc = gunzip_body(data ? data : "", len, L->max_decoded_bytes, &p->decoded, &p->len,
                             &erroff);
        free(block);
        if (rc != GUNZIP_OK) {
            packet_free(p);
            if (rc == GUNZIP_ERR_TOO_BIG)
                reject(r, REJECT_BODY_TOO_LARGE, 413,
                       "decompressed body is larger than max-decoded-bytes",
                       (long long)L->max_decoded_bytes, 0);
            else if (rc == GUNZIP_ERR_NOMEM)
                reject(r, REJECT_NOMEM, 503, "out of memory", -1, 1);
            else
                reject(r, REJECT_BAD_GZIP, 400, "body is not a valid gzip stream",
                       (long long)erroff, 0);
            return;
        }
        p->data = p->decoded;
    } else {
        p->decoded = block; /* zero copy: the input buffer the body arrived in */
        p->data = data && len ? data : "";
        p->len = len;
    }
    waiter_t who = {.wk = w, .req = r};
    admit(&who, p, (scan_format_t)format, want_durable, bound_agent, NULL, NULL);
}

void ingest_inject(ingest_t *ing, const char *body, size_t len, ingest_inject_fn done, void *ctx)
{
    ingest_inject_on(ing, NULL, body, len, done, ctx);
}

void ingest_inject_on(ingest_t *ing, const struct event_base *base, const char *body, size_t len,
                      ingest_inject_fn done, void *ctx)
{
    ingest_worker_t *w = worker_of(ing, base);
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
    waiter_t who = {.wk = w, .inject_done = done, .inject_ctx = ctx};
    admit(&who, p, SCAN_FORMAT_JSON, true, NULL, NULL, NULL);
}

/* ---- records from other protocols ---------------------------------------- */

int ingest_room(ingest_t *ing)
{
    if (atomic_load_explicit(&ing->draining, memory_order_relaxed)) return -ESHUTDOWN;
    if (resource_shedding(ing->res)) return -ENOBUFS;
    if (queue_is_full(ing)) return -EAGAIN;
    return 0;
}

/* ingest_submit and ingest_submit_scanned: pre is NULL (scan the body) or the
 * front-end's table (checked against the limits by ingest_submit_scanned). */
static void submit(ingest_worker_t *w, const ingest_origin_t *o, char *body, size_t len,
                   const scan_result_t *pre, ingest_submit_fn done, void *ctx)
{
    ingest_t *ing = w->ing;
    waiter_t who = {.wk = w, .submit_done = done, .submit_ctx = ctx};
    METRIC_ADD(packets_received, 1);
    METRIC_ADD(bytes_received, len);
    atomic_fetch_add_explicit(&w->requests, 1, memory_order_relaxed);
    switch (ingest_room(ing)) {
    case -ESHUTDOWN:
        free(body);
        refuse(&who, REJECT_DRAINING, 503, "logdistd is shutting down", -1, 5, -ESHUTDOWN);
        return;
    case -ENOBUFS:
        free(body);
        refuse(&who, REJECT_MEMORY, 503, "memory pressure (memory-limit); retry later", -1, 2,
               -ENOBUFS);
        return;
    case -EAGAIN:
        free(body);
        refuse(&who, REJECT_QUEUE_FULL, 503, "queue is full (max-queue-bytes); retry later", -1,
               1, -EAGAIN);
        return;
    default: break;
    }
    if (o->whole_durable && (ing->cfg->durability == DURABILITY_NONE || !ing->durable)) {
        free(body);
        refuse(&who, REJECT_DURABILITY_UNAVAILABLE, 409,
               "durable delivery needs the write-ahead log, but this logdistd runs with "
               "--durability none", -1, 0, -EOPNOTSUPP);
        return;
    }
    packet_t *p = calloc(1, sizeof *p);
    if (!p) {
        free(body);
        refuse(&who, REJECT_NOMEM, 503, "out of memory", -1, 1, -ENOMEM);
        return;
    }
    p->decoded = body;
    p->data = body && len ? body : "";
    p->len = len;
    admit(&who, p, SCAN_FORMAT_NDJSON, o->whole_durable, o->bound_agent, o->peer_addr, pre);
}

void ingest_submit(ingest_worker_t *w, const ingest_origin_t *o, char *body, size_t len,
                   ingest_submit_fn done, void *ctx)
{
    submit(w, o, body, len, NULL, done, ctx);
}

void ingest_submit_scanned(ingest_worker_t *w, const ingest_origin_t *o, char *body, size_t len,
                           const scan_record_t *recs, size_t count, unsigned depth,
                           ingest_submit_fn done, void *ctx)
{
    /* what the scanner applies (a reload after this load applies from the next
     * submission: these entries are not scanned again) */
    scan_limits_t lim = scan_limits_effective(&ingest_limits(w->ing)->scan);
    bool fits = len <= UINT32_MAX && count <= lim.max_records && depth <= lim.max_depth;
    for (size_t i = 0; fits && i < count; i++) fits = recs[i].rec.len <= lim.max_record_bytes;
    if (!fits) { /* the scanner says what is wrong, exactly as for ingest_submit */
        submit(w, o, body, len, NULL, done, ctx);
        return;
    }
    scan_result_t pre = {.records = (scan_record_t *)recs, .count = count, .capacity = count};
    submit(w, o, body, len, &pre, done, ctx);
}

const struct auth *ingest_auth(const ingest_t *ing)
{
    return ing->auth;
}

ingest_t *ingest_worker_owner(const ingest_worker_t *w)
{
    return w->ing;
}
