/*
 * ingest.h - POST /api/v1/logs: decide on a request from its head, then
 * decode, validate and split its body, reserve queue budget, hand the packet
 * to routing and answer 202 - or refuse it whole.
 *
 * Runs on the loop of the HTTP server (app/server.c) that received the
 * request (one of the --ingest-threads loops; see "ingest loops" below), in
 * two phases (ingress/http.h):
 *   - ingest_worker_on_head(): everything that can be decided before the body, in
 *     this order: method (405), auth (401/403), shutting down (503), memory
 *     pressure (503), Content-Type (415), Content-Encoding (415),
 *     X-Logdist-Durability: critical without a WAL (409), Content-Length over
 *     --max-body-bytes (413), queue full (503). A refusal never reads the body.
 *     Under --overload-action pause, memory pressure and a full queue park the
 *     request unread instead (TCP backpressure) until there is room, for at
 *     most --idle-timeout-s. Otherwise the body is read (its bytes reserved
 *     from the global body budget by the connection layer).
 *   - ingest_worker_on_request(): the body is taken over without a copy (it becomes
 *     the packet's block), gunzipped if need be, scanned and admitted.
 * A packet is accepted whole or rejected whole: nothing is queued until every
 * byte has been validated and the budget reserved. A durable packet's request
 * is answered from the WAL's completion, after the fsync.
 */
#ifndef LOGDIST_INGEST_H
#define LOGDIST_INGEST_H

#include <stdbool.h>

#include "core/config.h"
#include "core/metrics.h"
#include "ingress/http.h"
#include "record/scan.h"
#include "store/durable.h"
#include "store/queue.h"

struct event_base;
typedef struct ingest ingest_t;

/* Content routes (route/routes.h) live above ingest: the app gives ingest a
 * check that returns the index of the first record of recs[0..count) no
 * route takes, or -1 (called once per packet, from any ingest loop: it must
 * be thread-safe). Such a packet is refused whole: 422 no_route. */
typedef long (*ingest_route_check_fn)(void *ctx, const char *data, const scan_record_t *recs,
                                      size_t count);
/* Set before the loops start (ctx is read without a barrier of its own). */
void ingest_set_route_check(ingest_t *ing, ingest_route_check_fn fn, void *ctx);

/* `durable` may be NULL (durability none): then nothing waits for the disk.
 * `auth` may be NULL or empty (no authentication). */
struct auth;
ingest_t *ingest_new(const config_t *cfg, pkt_queue_t *queue, durable_t *durable,
                     const struct auth *auth);
/* Answers every request still parked (503) and frees. */
void ingest_free(ingest_t *ing);

/* The loop that serves ingest requests: needed for --overload-action pause
 * (a 10 ms timer polls the parked requests); without it, pause acts as reject.
 * 0 or -ENOMEM. */
int ingest_set_loop(ingest_t *ing, struct event_base *base);

/* Called on the injecting loop when an injected body is queued (status 0) or
 * refused (negative errno), with its record count. */
typedef void (*ingest_inject_fn)(void *ctx, int status, size_t records);

/* Put a JSON body that did not come from an agent (a dead-lettered batch being
 * replayed) through the same validation, durability and queueing as a POST.
 * Durable when the policy is not none. `done` is always called, exactly once. */
void ingest_inject(ingest_t *ing, const char *body, size_t len, ingest_inject_fn done, void *ctx);

/* Load shedding on memory pressure (may stay unset). */
struct resource;
void ingest_set_resource(ingest_t *ing, const struct resource *res);

/* While draining, new packets get 503 + Retry-After; parked ones too, at once
 * (the main loop's here: call from it; other loops: ingest_worker_drain). */
void ingest_set_draining(ingest_t *ing, bool draining);

/* Requests parked right now (--overload-action pause), over every loop. */
size_t ingest_parked(ingest_t *ing);

/* ---- ingest loops (--ingest-threads) -------------------------------------
 *
 * Each loop that serves ingest requests has a worker: its own scanner result
 * table, parked FIFO and poll timer (a parked request is resumed on its own
 * loop), and the mailbox its durable completions come back to. The worker of
 * the main loop exists from ingest_new (ingest_set_loop gives it its loop);
 * ingest_worker_on_head/ingest_worker_on_request/ingest_inject use it. Shared by all loops,
 * behind one mutex taken once per packet (never per record, never around
 * scanning or gunzip): the rate-limit buckets; atomics: the draining flag, the
 * queue-full latch, the packet id sequence. */
#define INGEST_MAX_LOOPS 64
typedef struct ingest_worker ingest_worker_t;

/* A worker for another loop, before that loop runs (any thread). `done_mb`
 * (a mailbox run by `base`, may be NULL: the durable's completion base) gets
 * its durable completions. NULL on ENOMEM or beyond INGEST_MAX_LOOPS. */
struct mailbox;
ingest_worker_t *ingest_worker_new(ingest_t *ing, struct event_base *base,
                                   struct mailbox *done_mb);
/* On its loop's thread or after it ended; after durable_wait_idle() if it
 * submitted durable packets. Parked requests get 503. NULL is fine. */
void ingest_worker_free(ingest_worker_t *w);
/* The main loop's worker. */
ingest_worker_t *ingest_main_worker(ingest_t *ing);

/* A request to /api/v1/logs (any method) has its head: answer it, park it,
 * or read its body (ingest_worker_on_request follows). On the worker's loop. */
void ingest_worker_on_head(ingest_worker_t *w, http_req_t *r);
/* Its body is in: admit the packet (answered now, or after the WAL's fsync). */
void ingest_worker_on_request(ingest_worker_t *w, http_req_t *r);
/* Draining (after ingest_set_draining): answer this loop's parked requests
 * 503 now. On the worker's loop. */
void ingest_worker_drain(ingest_worker_t *w);
/* A connection was accepted on this worker's loop (per-loop metrics). */
void ingest_worker_count_connection(ingest_worker_t *w);

/* ingest_inject from a request served on loop `base` (its worker's scratch and
 * completion mailbox; NULL or an unknown base: the main worker). */
void ingest_inject_on(ingest_t *ing, const struct event_base *base, const char *body, size_t len,
                      ingest_inject_fn done, void *ctx);

/* ---- records from other protocols (src/proto/) ---------------------------
 *
 * A protocol front-end (syslog, OTLP, Fluent forward, Elasticsearch bulk)
 * turns its input into NDJSON records (record/jsonw.h) and submits them here:
 * the same scanner, limits (--max-records-per-packet, --max-record-bytes,
 * --max-depth), rate limits, durability (policy, critical levels, "critical":
 * true), queue budget and metrics as POST /api/v1/logs. A submission is
 * accepted whole or refused whole. */

typedef struct ingest_origin {
    const char *bound_agent; /* the authenticated token's agent, or NULL */
    const char *peer_addr;   /* rate-limit key when there is no agent (NULL: "?") */
    bool whole_durable;      /* every record durable (as X-Logdist-Durability: critical);
                                refused 409 under --durability none */
} ingest_origin_t;

/* What became of a submission. `status` is 0 (accepted: `records` queued,
 * `durable` of them fsync'ed to the WAL first), or a negative errno:
 *   -EINVAL / -E2BIG  the records do not pass the scanner or its limits (400/413),
 *   -EAGAIN           the queue is full (503, retry after `retry_after` s),
 *   -ENOBUFS          memory pressure (503),
 *   -ESHUTDOWN        logdistd is draining (503),
 *   -EBUSY            over a rate limit (429, retry after `retry_after` s),
 *   -ENOSPC / -EIO    the WAL is full / failed (503),
 *   -ENOMEM           out of memory (503),
 *   -EOPNOTSUPP       whole_durable without a WAL (409).
 * `why`, `http_status`, `message` and `offset` (into the submitted body, or
 * -1) are what POST /api/v1/logs would have answered; `message` is valid
 * during the callback only. */
typedef struct ingest_verdict {
    int status;
    reject_reason_t why; /* when refused */
    int http_status;
    const char *message;
    long long offset;
    int retry_after;
    size_t records, durable;
} ingest_verdict_t;
typedef void (*ingest_submit_fn)(void *ctx, const ingest_verdict_t *v);

/* Submit NDJSON records `body[0..len)` (malloc'd: taken, freed whatever
 * happens) from worker w's loop. `done` runs exactly once on that loop:
 * before ingest_submit returns when the verdict is immediate (refused, or no
 * durable record), else from the WAL's completion after the fsync. */
void ingest_submit(ingest_worker_t *w, const ingest_origin_t *o, char *body, size_t len,
                   ingest_submit_fn done, void *ctx);

/* ingest_submit for a body whose scan the front-end already knows: it wrote
 * the records itself (record/jsonw.h: valid JSON, valid UTF-8, one object per
 * line) and recs[0..count) is exactly the table scan_body(body, len,
 * SCAN_FORMAT_NDJSON) gives (record slices, id/level/source/type slices and
 * flags) - each caller proves that in its tests against scan_body. `depth` is
 * the deepest nesting in the body (a record is 1; jsonw_t.deepest). The limits
 * are still applied: when count, a record's length or depth is over
 * --max-records-per-packet, --max-record-bytes or --max-depth, or the body
 * is over 4 GiB, the body goes through ingest_submit (the scanner) instead, so
 * the verdict is the scanner's. Otherwise the same verdict, queueing and
 * metrics as ingest_submit, without the second pass over the bytes. recs is
 * copied (the caller keeps it). */
void ingest_submit_scanned(ingest_worker_t *w, const ingest_origin_t *o, char *body, size_t len,
                           const scan_record_t *recs, size_t count, unsigned depth,
                           ingest_submit_fn done, void *ctx);

/* Would a submission be taken right now (before building it)? 0, or the
 * refusal it would get: -ESHUTDOWN, -ENOBUFS, -EAGAIN. Stream protocols stop
 * reading while it is not 0 (TCP backpressure) and look again later. Any
 * thread. */
int ingest_room(ingest_t *ing);

/* For front-ends: the auth object (tokens; may be NULL or empty), and the
 * ingest a worker belongs to. Limits come from ingest_limits(). */
const struct auth *ingest_auth(const ingest_t *ing);

/* The limits every request is checked against, live (ingest_set_limits).
 * Immutable once published; the pointer stays valid until ingest_free, so a
 * request loads it once and uses one consistent set throughout. */
typedef struct ingest_limits {
    uint64_t max_body_bytes;          /* --max-body-bytes */
    uint64_t max_decoded_bytes;       /* --max-decoded-bytes */
    uint32_t max_records_per_packet;  /* --max-records-per-packet */
    uint32_t max_record_bytes;        /* --max-record-bytes */
    uint32_t max_depth;               /* --max-depth */
    uint32_t idle_timeout_s;          /* --idle-timeout-s (see ingest_set_limits) */
    char critical_levels[256];        /* --critical-levels */
    scan_limits_t scan;               /* the three scanner limits above */
    scan_limits_t replay;             /* dead-letter replay: + the batch framing */
    struct ingest_limits *retired;    /* private: older sets, freed by ingest_free */
} ingest_limits_t;

/* Any thread: the current limits (acquire load of one pointer). */
const ingest_limits_t *ingest_limits(const ingest_t *ing);

/* Config reload: take these options from newcfg, from the next request on
 * every ingest loop and protocol front-end (OTLP, Elasticsearch):
 *   max_body_bytes, max_decoded_bytes, max_records_per_packet,
 *   max_record_bytes, max_depth, critical_levels, idle_timeout_s (how long a
 *   request parked by --overload-action pause waits), and the rate limits
 *   global_records_per_s, global_bytes_per_s, agent_records_per_s,
 *   agent_bytes_per_s, rate_burst_s (ratelimit_reconfigure: buckets keep their
 *   level, capped at the new size; a limit turned on starts full).
 * Not covered (fixed when a listener is created; a restart changes them):
 * the connection deadlines that also come from idle_timeout_s (header,
 * keep-alive idle, body wait of the HTTP framer; syslog and forward
 * connections), the connection layer's input cap per listener
 * (max_header_bytes + max_body_bytes at start + 64 KiB: raising
 * max_body_bytes above its start value is therefore capped there, lowering
 * works), and the syslog/forward listeners' own copies of max_record_bytes,
 * max_body_bytes, max_decoded_bytes and max_records_per_packet.
 * How: a new immutable ingest_limits_t is published with one atomic pointer
 * store (release); readers load it (acquire) once per request; the old one is
 * retired (about 400 bytes per reload, freed by ingest_free) because a
 * request may still be using it - no lock on the request path, no torn
 * reads. The rate limits change under ingest's mutex, which admission already
 * takes per packet. newcfg is read during the call only. Any thread; calls
 * are serialised by the mutex. Returns 0 or -ENOMEM (nothing changed). */
int ingest_set_limits(ingest_t *ing, const config_t *newcfg);
ingest_t *ingest_worker_owner(const ingest_worker_t *w);

/* Per-loop counters, main loop first: connections accepted, ingest requests
 * (heads), packets and records accepted. Returns how many loops were written. */
typedef struct {
    uint64_t connections, requests, packets, records;
} ingest_loop_stats_t;
size_t ingest_loop_stats(ingest_t *ing, ingest_loop_stats_t *out, size_t max);

#endif
