/*
 * analyzer.c - logdist-analyzer: a reference analyzer endpoint for logdist.
 *
 * Receives the distributor's batches (POST /ingest, body
 * {"packet_id":..,"agent_id":..,"messages":[record,...]}), validates them with the
 * project's scanner (record/scan.h) and keeps exact counts that tests can trust:
 * records, batches, unique / duplicate record ids, duplicate batches (by the
 * X-Logdist-Batch-Id header) and counts by level and source. Fault injection:
 * --latency-ms (deferred reply on a timer), --fail-rate (deterministic 500s),
 * --status (answer every batch with a fixed code). A batch is counted only when it
 * is answered 2xx. Single thread, libevent evhttp.
 *
 * Runtime control for tests (POST /control?latency_ms=N&weight_hint=V): change the
 * latency of replies from the next batch on, and the X-Logdist-Weight header added to
 * every /ingest and /health answer (any printable value up to MAX_HINT_LEN bytes, valid
 * or not, so tests can send bad hints too; empty = no header).
 *
 * Endpoints: POST /ingest, GET /health, GET /stats, POST /stats/reset, GET /ids,
 * POST /control.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <zlib.h>

#include "record/scan.h"
#include "strset.h"

#define DEFAULT_MAX_BODY ((size_t)64 << 20) /* --max-body-bytes default */
#define MAX_HEADERS_BYTES (64 << 10)        /* evhttp request header block limit */
#define MAX_BATCH_ID_LEN 256                /* longer X-Logdist-Batch-Id -> 400 */
#define MAX_NAMES 1024                      /* distinct levels / sources tracked each */
#define MAX_NAME_LEN 128                    /* longer level / source names -> "(other)" */
#define DEFAULT_MAX_IDS ((size_t)50000000)  /* unique ids tracked before "untracked_ids" */
#define MAX_BATCH_IDS ((size_t)10000000)    /* batch ids remembered for duplicate checks */
#define MAX_LATENCY_MS 600000u
#define CONN_TIMEOUT_S 120 /* idle keep-alive connections are closed after this */
#define MAX_SCAN_RECORDS 4000000u
#define ID_MAX_LEN 64
#define MAX_SINGLE_READ (1 << 20) /* bytes per read(); libevent's default is 4096 */
#define PREFETCH_AHEAD 8          /* id-set slots prefetched ahead of the insert loop */
#define MAX_HINT_LEN 64           /* --weight-hint / weight_hint= value */

/* Counts per name (level or source), names kept as raw JSON string contents. */
typedef struct {
    strset_t names;
    uint64_t *counts; /* counts[i] for names entry i */
    size_t counts_cap;
    uint64_t other; /* names beyond MAX_NAMES or longer than MAX_NAME_LEN */
    uint64_t none;  /* field absent or not a string */
} namecount_t;

typedef struct analyzer analyzer_t;

/* A batch whose reply is delayed by --latency-ms. */
typedef struct pending {
    struct pending *prev, *next;
    struct event *ev;
    struct evhttp_request *req;
    analyzer_t *a;
} pending_t;

struct analyzer {
    /* configuration */
    const char *id;
    char host[256];
    int port;
    unsigned latency_ms;
    double fail_rate;
    int forced_status; /* 0 = off */
    char weight_hint[MAX_HINT_LEN + 1]; /* X-Logdist-Weight on answers ("" = none) */
    size_t max_body;
    size_t max_ids;
    uint64_t rng;

    /* runtime */
    struct event_base *base;
    struct evhttp *http;
    scan_result_t scan;
    scan_limits_t limits;
    z_stream zs;
    bool zs_ready;
    unsigned char *zbuf;
    size_t zbuf_cap;
    pending_t *pending;
    struct timespec started;
    uint64_t *hashes; /* per-record id hashes of the current batch */
    size_t hashes_cap;

    /* statistics (POST /stats/reset zeroes them) */
    uint64_t records, batches, duplicate_ids, duplicate_batches, failed_batches, bad_batches;
    uint64_t missing_ids, untracked_ids, batch_id_conflicts, bytes, critical;
    strset_t ids;
    strset_t batch_ids;
    namecount_t by_level, by_source;
};

/* ---------------------------------------------------------------------------------- */
/* helpers */

/* Seconds elapsed on the monotonic clock since *t0. */
static double seconds_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* splitmix64 step: deterministic PRNG for --fail-rate. Returns a double in [0, 1). */
static double rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

/* Standard reason phrase for an HTTP status code (generic text when unknown). */
static const char *reason_phrase(int code)
{
    switch (code) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return code < 400 ? "OK" : "Error";
    }
}

/* Send `body` (consumed, may be NULL for empty) with the given status and content type.
 * For 429/503 a "Retry-After: 1" header is added. */
static void send_reply(struct evhttp_request *req, int code, const char *ctype,
                       struct evbuffer *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", ctype);
    if (code == 429 || code == 503) evhttp_add_header(h, "Retry-After", "1");
    evhttp_send_reply(req, code, reason_phrase(code), body);
}

/* Reply with a printf-formatted JSON body. */
static void reply_json(struct evhttp_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_json(struct evhttp_request *req, int code, const char *fmt, ...)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    evbuffer_add_vprintf(b, fmt, ap);
    va_end(ap);
    evbuffer_add(b, "\n", 1);
    send_reply(req, code, "application/json", b);
    evbuffer_free(b);
}

/* Reply with {"error":kind,"message":msg}; msg must not need JSON escaping. */
static void reply_error(struct evhttp_request *req, int code, const char *kind, const char *msg)
{
    reply_json(req, code, "{\"error\":\"%s\",\"message\":\"%s\"}", kind, msg);
}

/* True when s is a non-empty token of [A-Za-z0-9._:-] no longer than max (safe to print
 * inside a JSON string without escaping). */
static bool is_token(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

/* ---------------------------------------------------------------------------------- */
/* statistics */

/* Initialise a name counter (empty). */
static void namecount_init(namecount_t *nc)
{
    memset(nc, 0, sizeof(*nc));
    strset_init(&nc->names, MAX_NAMES);
}

/* Free a name counter's memory and leave it empty. */
static void namecount_free(namecount_t *nc)
{
    strset_free(&nc->names);
    free(nc->counts);
    namecount_init(nc);
}

/* Count one occurrence of the raw name body[s.off .. +s.len) (absent when off==len==0). */
static void namecount_add(namecount_t *nc, const char *body, scan_slice_t s)
{
    if (s.off == 0 && s.len == 0) {
        nc->none++;
        return;
    }
    if (s.len > MAX_NAME_LEN) {
        nc->other++;
        return;
    }
    bool added;
    long i = strset_insert(&nc->names, body + s.off, s.len, &added);
    if (i < 0) {
        nc->other++;
        return;
    }
    if ((size_t)i >= nc->counts_cap) {
        size_t cap = nc->counts_cap ? nc->counts_cap * 2 : 16;
        while (cap <= (size_t)i)
            cap *= 2;
        uint64_t *c = realloc(nc->counts, cap * sizeof(*c));
        if (!c) {
            nc->other++;
            return;
        }
        memset(c + nc->counts_cap, 0, (cap - nc->counts_cap) * sizeof(*c));
        nc->counts = c;
        nc->counts_cap = cap;
    }
    nc->counts[i]++;
}

/* Append nc as a JSON object to out. Names are raw JSON string contents the scanner
 * validated, so they are emitted verbatim. */
static void namecount_json(const namecount_t *nc, struct evbuffer *out)
{
    evbuffer_add(out, "{", 1);
    bool first = true;
    for (size_t i = 0; i < nc->names.count; i++) {
        size_t len;
        const char *p = strset_get(&nc->names, i, &len);
        evbuffer_add_printf(out, "%s\"%.*s\":%" PRIu64, first ? "" : ",", (int)len, p,
                            nc->counts[i]);
        first = false;
    }
    if (nc->none) {
        evbuffer_add_printf(out, "%s\"(none)\":%" PRIu64, first ? "" : ",", nc->none);
        first = false;
    }
    if (nc->other) evbuffer_add_printf(out, "%s\"(other)\":%" PRIu64, first ? "" : ",", nc->other);
    evbuffer_add(out, "}", 1);
}

/* Zero every statistic and free the sets. */
static void stats_reset(analyzer_t *a)
{
    a->records = a->batches = a->duplicate_ids = a->duplicate_batches = 0;
    a->failed_batches = a->bad_batches = a->missing_ids = a->untracked_ids = 0;
    a->batch_id_conflicts = a->bytes = a->critical = 0;
    strset_free(&a->ids);
    strset_free(&a->batch_ids);
    namecount_free(&a->by_level);
    namecount_free(&a->by_source);
}

/* Count record r of an accepted batch (records, critical, by_level, by_source). */
static void count_record(analyzer_t *a, const char *body, const scan_record_t *r)
{
    a->records++;
    a->critical += (r->flags & SCAN_REC_CRITICAL) != 0;
    namecount_add(&a->by_level, body, r->level);
    namecount_add(&a->by_source, body, r->source);
}

/*
 * Account for the records of a batch answered 200 (in a->scan). For a first-time
 * batch every record is counted and its id checked against the set (already present
 * -> duplicate_ids). For a repeated batch id only the ids are checked: present ones
 * are duplicates; ids never seen before are counted as new records (so /ids stays
 * complete) and flag the batch in batch_id_conflicts.
 */
static void count_batch(analyzer_t *a, const char *body, bool dup_batch)
{
    bool conflict = false;
    size_t n = a->scan.count;
    if (n > a->hashes_cap) {
        uint64_t *h = realloc(a->hashes, n * sizeof(*h));
        if (h) {
            a->hashes = h;
            a->hashes_cap = n;
        }
    }
    bool pf = n <= a->hashes_cap; /* hash + prefetch ahead when the buffer is there */
    if (pf)
        for (size_t i = 0; i < n; i++) {
            const scan_record_t *r = &a->scan.records[i];
            a->hashes[i] = strset_hash(body + r->id.off, r->id.len);
            if (i < PREFETCH_AHEAD) strset_prefetch(&a->ids, a->hashes[i]);
        }
    for (size_t i = 0; i < n; i++) {
        const scan_record_t *r = &a->scan.records[i];
        if (pf && i + PREFETCH_AHEAD < n) strset_prefetch(&a->ids, a->hashes[i + PREFETCH_AHEAD]);
        if (r->id.off == 0 && r->id.len == 0) {
            if (!dup_batch) {
                a->missing_ids++;
                count_record(a, body, r);
            }
            continue;
        }
        bool added;
        const char *id = body + r->id.off;
        long rc = pf ? strset_insert_hashed(&a->ids, id, r->id.len, a->hashes[i], &added)
                     : strset_insert(&a->ids, id, r->id.len, &added);
        if (rc < 0) {
            a->untracked_ids++;
            if (!dup_batch) count_record(a, body, r);
        } else if (added) {
            count_record(a, body, r);
            conflict |= dup_batch;
        } else {
            a->duplicate_ids++;
            if (!dup_batch) count_record(a, body, r);
        }
    }
    if (dup_batch) {
        a->duplicate_batches++;
        a->batch_id_conflicts += conflict;
    } else {
        a->batches++;
    }
}

/* ---------------------------------------------------------------------------------- */
/* POST /ingest */

/* Inflate the gzip body in[0..len) into a->zbuf. Returns the inflated length, -1 on a
 * corrupt stream, -2 when larger than max_body, -3 on OOM. */
static long gunzip_body(analyzer_t *a, const unsigned char *in, size_t len)
{
    if (!a->zs_ready) {
        memset(&a->zs, 0, sizeof(a->zs));
        if (inflateInit2(&a->zs, 16 + MAX_WBITS) != Z_OK) return -3;
        a->zs_ready = true;
    } else {
        inflateReset(&a->zs);
    }
    if (len > UINT_MAX) return -2;
    a->zs.next_in = (unsigned char *)in;
    a->zs.avail_in = (unsigned)len;
    size_t out = 0;
    for (;;) {
        if (out == a->zbuf_cap) {
            if (a->zbuf_cap >= a->max_body + 1) return -2;
            size_t cap = a->zbuf_cap ? a->zbuf_cap * 2 : (size_t)256 << 10;
            if (cap > a->max_body + 1) cap = a->max_body + 1;
            unsigned char *p = realloc(a->zbuf, cap);
            if (!p) return -3;
            a->zbuf = p;
            a->zbuf_cap = cap;
        }
        size_t room = a->zbuf_cap - out;
        if (room > UINT_MAX) room = UINT_MAX;
        a->zs.next_out = a->zbuf + out;
        a->zs.avail_out = (unsigned)room;
        int rc = inflate(&a->zs, Z_NO_FLUSH);
        out += room - a->zs.avail_out;
        if (out > a->max_body) return -2;
        if (rc == Z_STREAM_END) return a->zs.avail_in == 0 ? (long)out : -1;
        if (rc != Z_OK && !(rc == Z_BUF_ERROR && a->zs.avail_out == 0)) return -1;
        if (a->zs.avail_in == 0 && a->zs.avail_out != 0) return -1; /* truncated */
    }
}

/* Handle one POST /ingest now: validate, apply fault injection, count, reply. */
static void handle_ingest(analyzer_t *a, struct evhttp_request *req)
{
    if (a->forced_status) {
        a->failed_batches++;
        reply_json(req, a->forced_status, "{\"error\":\"forced\",\"status\":%d,\"id\":\"%s\"}",
                   a->forced_status, a->id);
        return;
    }
    struct evkeyvalq *hdr = evhttp_request_get_input_headers(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    if (!body) {
        reply_error(req, 500, "nomem", "cannot linearise body");
        return;
    }
    const char *enc = evhttp_find_header(hdr, "Content-Encoding");
    if (enc && strcasecmp(enc, "identity") != 0) {
        if (strcasecmp(enc, "gzip") != 0) {
            a->bad_batches++;
            reply_error(req, 415, "encoding", "only gzip and identity are supported");
            return;
        }
        long n = gunzip_body(a, (const unsigned char *)body, len);
        if (n < 0) {
            a->bad_batches++;
            if (n == -2)
                reply_error(req, 413, "too_large", "inflated body exceeds max-body-bytes");
            else if (n == -3)
                reply_error(req, 500, "nomem", "out of memory");
            else
                reply_error(req, 400, "gzip", "corrupt gzip body");
            return;
        }
        body = (const char *)a->zbuf;
        len = (size_t)n;
    }
    const char *ctype = evhttp_find_header(hdr, "Content-Type");
    scan_format_t fmt = SCAN_FORMAT_JSON;
    if (ctype && strncasecmp(ctype, "application/x-ndjson", 20) == 0) fmt = SCAN_FORMAT_NDJSON;
    int rc = scan_body(body, len, fmt, &a->limits, &a->scan);
    if (rc < 0) {
        a->bad_batches++;
        const char *msg = a->scan.err_msg ? a->scan.err_msg : "";
        char esc[256];
        size_t j = 0;
        for (size_t i = 0; msg[i] && j + 2 < sizeof(esc); i++) {
            if (msg[i] == '"' || msg[i] == '\\') esc[j++] = '\\';
            esc[j++] = (msg[i] >= 0x20 && msg[i] < 0x7f) ? msg[i] : '?';
        }
        esc[j] = '\0';
        reply_json(req, rc == SCAN_ERR_NOMEM ? 500 : 400,
                   "{\"error\":\"%s\",\"offset\":%zu,\"message\":\"%s\"}", scan_status_name(rc),
                   a->scan.err_offset, esc);
        return;
    }
    if (a->fail_rate > 0 && rng_next(&a->rng) < a->fail_rate) {
        a->failed_batches++;
        reply_error(req, 500, "injected", "injected failure");
        return;
    }
    const char *bid = evhttp_find_header(hdr, "X-Logdist-Batch-Id");
    bool dup = false;
    if (bid) {
        size_t blen = strlen(bid);
        if (blen > MAX_BATCH_ID_LEN) {
            a->bad_batches++;
            reply_error(req, 400, "batch_id", "X-Logdist-Batch-Id too long");
            return;
        }
        bool added;
        long r = strset_insert(&a->batch_ids, bid, blen, &added);
        dup = r >= 0 && !added;
    }
    a->bytes += len;
    count_batch(a, body, dup);
    reply_json(req, 200, "{\"ok\":true,\"records\":%zu}", a->scan.count);
}

/* Unlink and free a pending entry (does not touch its request). */
static void pending_free(analyzer_t *a, pending_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        a->pending = p->next;
    if (p->next) p->next->prev = p->prev;
    event_free(p->ev);
    free(p);
}

/* Timer callback of a delayed batch: handle it now. */
static void on_latency_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pending_t *p = arg;
    analyzer_t *a = p->a;
    struct evhttp_request *req = p->req;
    pending_free(a, p);
    handle_ingest(a, req);
}

/* Schedule handle_ingest() after --latency-ms; on failure handle it at once. The request
 * stays valid until replied to, even if the client disconnects (libevent 2.1 detaches it). */
static void defer_ingest(analyzer_t *a, struct evhttp_request *req)
{
    pending_t *p = calloc(1, sizeof(*p));
    if (p) p->ev = evtimer_new(a->base, on_latency_timer, p);
    if (!p || !p->ev) {
        free(p);
        handle_ingest(a, req);
        return;
    }
    p->req = req;
    p->a = a;
    p->next = a->pending;
    if (a->pending) a->pending->prev = p;
    a->pending = p;
    struct timeval tv = {a->latency_ms / 1000, (a->latency_ms % 1000) * 1000};
    evtimer_add(p->ev, &tv);
}

/* ---------------------------------------------------------------------------------- */
/* other endpoints */

/* GET /stats: all counters as one JSON object. */
static void handle_stats(analyzer_t *a, struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_add_printf(b,
                        "{\"id\":\"%s\",\"records\":%" PRIu64 ",\"batches\":%" PRIu64
                        ",\"unique_ids\":%zu,\"duplicate_ids\":%" PRIu64
                        ",\"duplicate_batches\":%" PRIu64 ",\"failed_batches\":%" PRIu64
                        ",\"bad_batches\":%" PRIu64 ",\"missing_ids\":%" PRIu64
                        ",\"untracked_ids\":%" PRIu64 ",\"batch_id_conflicts\":%" PRIu64
                        ",\"bytes\":%" PRIu64 ",\"critical\":%" PRIu64 ",\"by_level\":",
                        a->id, a->records, a->batches, a->ids.count, a->duplicate_ids,
                        a->duplicate_batches, a->failed_batches, a->bad_batches, a->missing_ids,
                        a->untracked_ids, a->batch_id_conflicts, a->bytes, a->critical);
    namecount_json(&a->by_level, b);
    evbuffer_add(b, ",\"by_source\":", 13);
    namecount_json(&a->by_source, b);
    evbuffer_add_printf(b, ",\"uptime_s\":%.3f}\n", seconds_since(&a->started));
    send_reply(req, 200, "application/json", b);
    evbuffer_free(b);
}

/* strset_foreach_chunk callback: copy a chunk of "id\n" lines into an evbuffer. */
static void add_chunk(void *arg, const char *p, size_t len)
{
    evbuffer_add((struct evbuffer *)arg, p, len);
}

/* GET /ids: every unique id, one per line, in first-seen order. */
static void handle_ids(analyzer_t *a, struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    strset_foreach_chunk(&a->ids, add_chunk, b);
    send_reply(req, 200, "text/plain", b);
    evbuffer_free(b);
}

/* True when the request path (uri up to '?' or '#', length plen) equals path. */
static bool path_is(const char *uri, size_t plen, const char *path)
{
    return strlen(path) == plen && memcmp(uri, path, plen) == 0;
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Is v a value the X-Logdist-Weight header may carry (printable ASCII, bounded)? */
static bool hint_ok(const char *v)
{
    if (strlen(v) > MAX_HINT_LEN) return false;
    for (const char *p = v; *p; p++)
        if (*p < 0x20 || *p > 0x7e) return false;
    return true;
}

/* POST /control?latency_ms=N&weight_hint=V: runtime fault injection for tests. Unknown
 * keys or bad values: 400, nothing changed. */
static void handle_control(analyzer_t *a, struct evhttp_request *req, const char *uri)
{
    struct evkeyvalq q;
    const char *qs = strchr(uri, '?');
    q.tqh_first = NULL;
    q.tqh_last = &q.tqh_first;
    if (qs && evhttp_parse_query_str(qs + 1, &q) != 0) {
        reply_error(req, 400, "query", "malformed query string");
        return;
    }
    uint64_t lat = a->latency_ms;
    const char *hint = NULL, *bad = NULL;
    for (struct evkeyval *kv = q.tqh_first; kv && !bad; kv = kv->next.tqe_next) {
        if (!strcmp(kv->key, "latency_ms")) {
            if (!parse_u64(kv->value, 0, MAX_LATENCY_MS, &lat)) bad = "latency_ms wants 0..600000";
        } else if (!strcmp(kv->key, "weight_hint")) {
            hint = kv->value;
            if (!hint_ok(hint)) bad = "weight_hint wants up to 64 printable characters";
        } else {
            bad = "unknown key (latency_ms, weight_hint)";
        }
    }
    if (bad) {
        evhttp_clear_headers(&q);
        reply_error(req, 400, "control", bad);
        return;
    }
    a->latency_ms = (unsigned)lat;
    if (hint) snprintf(a->weight_hint, sizeof a->weight_hint, "%s", hint);
    evhttp_clear_headers(&q);
    reply_json(req, 200, "{\"ok\":true,\"latency_ms\":%u,\"weight_hint\":\"%s\"}", a->latency_ms,
               a->weight_hint[0] && !strchr(a->weight_hint, '"') && !strchr(a->weight_hint, '\\')
                   ? a->weight_hint
                   : "");
}

/* evhttp generic callback: route by path and method. */
static void on_request(struct evhttp_request *req, void *arg)
{
    analyzer_t *a = arg;
    const char *uri = evhttp_request_get_uri(req);
    size_t plen = strcspn(uri, "?#");
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    if (a->weight_hint[0] && (path_is(uri, plen, "/ingest") || path_is(uri, plen, "/health")))
        evhttp_add_header(evhttp_request_get_output_headers(req), "X-Logdist-Weight",
                          a->weight_hint);

    if (path_is(uri, plen, "/control")) {
        if (m != EVHTTP_REQ_POST)
            reply_error(req, 405, "method", "use POST");
        else
            handle_control(a, req, uri);
    } else if (path_is(uri, plen, "/ingest")) {
        if (m != EVHTTP_REQ_POST)
            reply_error(req, 405, "method", "use POST");
        else if (a->latency_ms)
            defer_ingest(a, req);
        else
            handle_ingest(a, req);
    } else if (path_is(uri, plen, "/health")) {
        if (m != EVHTTP_REQ_GET)
            reply_error(req, 405, "method", "use GET");
        else if (a->forced_status)
            reply_json(req, a->forced_status, "{\"status\":\"forced\",\"code\":%d,\"id\":\"%s\"}",
                       a->forced_status, a->id);
        else
            reply_json(req, 200, "{\"status\":\"ok\",\"id\":\"%s\"}", a->id);
    } else if (path_is(uri, plen, "/stats")) {
        if (m != EVHTTP_REQ_GET)
            reply_error(req, 405, "method", "use GET");
        else
            handle_stats(a, req);
    } else if (path_is(uri, plen, "/stats/reset")) {
        if (m != EVHTTP_REQ_POST) {
            reply_error(req, 405, "method", "use POST");
        } else {
            stats_reset(a);
            reply_json(req, 200, "{\"ok\":true}");
        }
    } else if (path_is(uri, plen, "/ids")) {
        if (m != EVHTTP_REQ_GET)
            reply_error(req, 405, "method", "use GET");
        else
            handle_ids(a, req);
    } else {
        reply_error(req, 404, "not_found", "unknown path");
    }
}

/* ---------------------------------------------------------------------------------- */
/* setup */

/* evhttp bufferevent factory: a socket bufferevent that reads up to MAX_SINGLE_READ bytes
 * per read() (libevent's 4 KiB default costs ~50 syscalls per 200 KB batch). */
static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
    (void)arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (bev) bufferevent_set_max_single_read(bev, MAX_SINGLE_READ);
    return bev;
}

/* SIGINT/SIGTERM: leave the event loop. */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopexit((struct event_base *)arg, NULL);
}

/* Print usage to f. */
static void usage(FILE *f)
{
    fprintf(f, "usage: logdist-analyzer --listen HOST:PORT [options]\n"
               "Reference analyzer: receives logdist batches on POST /ingest and counts them.\n"
               "  --listen HOST:PORT     address to listen on (PORT 0 = ephemeral), required\n"
               "  --id ID                analyzer id reported in /health and /stats (default a1)\n"
               "  --latency-ms N         delay every /ingest reply by N ms (0..600000)\n"
               "  --fail-rate F          answer fraction F (0..1) of batches with 500, uncounted\n"
               "  --seed N               seed of the --fail-rate PRNG (default 1)\n"
               "  --status CODE          answer every /ingest with CODE (400..599), uncounted\n"
               "  --max-body-bytes N     largest request body, also after gunzip (default 64 MiB)\n"
               "  --max-ids N            unique ids tracked before 'untracked_ids' (default 5e7)\n"
               "  --weight-hint V        add 'X-Logdist-Weight: V' to /ingest and /health answers\n"
               "  -h, --help             this text\n"
               "Endpoints: POST /ingest, GET /health, GET /stats, POST /stats/reset, GET /ids,\n"
               "POST /control.\n"
               "Runtime control (tests): POST /control?latency_ms=N (0..600000, from the next\n"
               "batch on) and/or &weight_hint=V (URL-encoded, e.g. 50%%25; empty: no header).\n"
               "Prints {\"listening\":\"HOST:PORT\",\"id\":ID} on stdout once bound.\n");
}

/* Parse an unsigned decimal in [min, max] into *out; false when invalid. */
static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-') return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max) return false;
    *out = v;
    return true;
}

/* Split "HOST:PORT" / "[V6]:PORT" into a->host / a->port; false when invalid. */
static bool parse_listen(analyzer_t *a, const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) return false;
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    uint64_t port;
    if (hl == 0 || hl >= sizeof(a->host) || !parse_u64(colon + 1, 0, 65535, &port)) return false;
    memcpy(a->host, h, hl);
    a->host[hl] = '\0';
    a->port = (int)port;
    return true;
}

/* Parse the command line into a; exits with status 2 on invalid use, 0 for --help. */
static void parse_args(analyzer_t *a, int argc, char **argv)
{
    enum { O_LISTEN = 256, O_ID, O_LAT, O_FAIL, O_SEED, O_STATUS, O_MAXBODY, O_MAXIDS, O_HINT };
    static const struct option opts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"id", required_argument, NULL, O_ID},
        {"latency-ms", required_argument, NULL, O_LAT},
        {"fail-rate", required_argument, NULL, O_FAIL},
        {"seed", required_argument, NULL, O_SEED},
        {"status", required_argument, NULL, O_STATUS},
        {"max-body-bytes", required_argument, NULL, O_MAXBODY},
        {"max-ids", required_argument, NULL, O_MAXIDS},
        {"weight-hint", required_argument, NULL, O_HINT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool have_listen = false;
    uint64_t v = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        const char *bad = NULL;
        switch (c) {
        case O_LISTEN:
            if (!parse_listen(a, optarg)) bad = "--listen wants HOST:PORT";
            have_listen = true;
            break;
        case O_ID:
            a->id = optarg;
            if (!is_token(optarg, ID_MAX_LEN)) bad = "--id wants 1-64 chars of [A-Za-z0-9._:-]";
            break;
        case O_LAT:
            if (!parse_u64(optarg, 0, MAX_LATENCY_MS, &v)) bad = "--latency-ms wants 0..600000";
            a->latency_ms = (unsigned)v;
            break;
        case O_FAIL: {
            char *end;
            a->fail_rate = strtod(optarg, &end);
            if (*end || !(a->fail_rate >= 0 && a->fail_rate <= 1))
                bad = "--fail-rate wants a number in 0..1";
            break;
        }
        case O_SEED:
            if (!parse_u64(optarg, 0, UINT64_MAX, &v)) bad = "--seed wants an unsigned integer";
            a->rng = v;
            break;
        case O_HINT:
            if (!hint_ok(optarg))
                bad = "--weight-hint wants up to 64 printable characters";
            else
                snprintf(a->weight_hint, sizeof a->weight_hint, "%s", optarg);
            break;
        case O_STATUS:
            if (!parse_u64(optarg, 400, 599, &v)) bad = "--status wants 400..599";
            a->forced_status = (int)v;
            break;
        case O_MAXBODY:
            if (!parse_u64(optarg, 1024, (uint64_t)1 << 32, &v))
                bad = "--max-body-bytes wants 1024..4294967296";
            a->max_body = (size_t)v;
            break;
        case O_MAXIDS:
            if (!parse_u64(optarg, 1, 1000000000, &v)) bad = "--max-ids wants 1..1000000000";
            a->max_ids = (size_t)v;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
        if (bad) {
            fprintf(stderr, "logdist-analyzer: %s (got '%s')\n", bad, optarg);
            exit(2);
        }
    }
    if (optind < argc || !have_listen) {
        fprintf(stderr, "logdist-analyzer: %s\n",
                have_listen ? "unexpected argument" : "--listen is required");
        usage(stderr);
        exit(2);
    }
}

/* Entry point: parse options, bind, print the listening line, run until a signal. */
int main(int argc, char **argv)
{
    static analyzer_t a; /* static: large and zero-initialised */
    a.id = "a1";
    a.max_body = DEFAULT_MAX_BODY;
    a.max_ids = DEFAULT_MAX_IDS;
    a.rng = 1;
    parse_args(&a, argc, argv);
    a.limits.max_depth = 0;
    a.limits.max_records = MAX_SCAN_RECORDS;
    a.limits.max_record_bytes = a.max_body > UINT32_MAX ? UINT32_MAX : (uint32_t)a.max_body;
    strset_init(&a.ids, a.max_ids);
    strset_init(&a.batch_ids, MAX_BATCH_IDS);
    namecount_init(&a.by_level);
    namecount_init(&a.by_source);
    clock_gettime(CLOCK_MONOTONIC, &a.started);
    signal(SIGPIPE, SIG_IGN);
    /* Request bodies are ~100 KB-1 MB: keep such blocks in the heap instead of a fresh
     * mmap (page faults + zeroing) for every batch. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);

    a.base = event_base_new();
    a.http = a.base ? evhttp_new(a.base) : NULL;
    if (!a.http) {
        fprintf(stderr, "logdist-analyzer: cannot create event base / http server\n");
        return 1;
    }
    evhttp_set_max_body_size(a.http, (ev_ssize_t)a.max_body);
    evhttp_set_max_headers_size(a.http, MAX_HEADERS_BYTES);
    evhttp_set_timeout(a.http, CONN_TIMEOUT_S);
    evhttp_set_allowed_methods(a.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(a.http, on_request, &a);
    evhttp_set_bevcb(a.http, make_bev, NULL);
    struct evhttp_bound_socket *bs =
        evhttp_bind_socket_with_handle(a.http, a.host, (ev_uint16_t)a.port);
    if (!bs) {
        fprintf(stderr, "logdist-analyzer: cannot listen on %s:%d: %s\n", a.host, a.port,
                strerror(errno));
        return 1;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t sl = sizeof(ss);
    int port = a.port;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    bool v6 = strchr(a.host, ':') != NULL;
    printf("{\"listening\":\"%s%s%s:%d\",\"id\":\"%s\"}\n", v6 ? "[" : "", a.host, v6 ? "]" : "",
           port, a.id);
    fflush(stdout);

    struct event *sigint = evsignal_new(a.base, SIGINT, on_signal, a.base);
    struct event *sigterm = evsignal_new(a.base, SIGTERM, on_signal, a.base);
    if (!sigint || !sigterm || evsignal_add(sigint, NULL) || evsignal_add(sigterm, NULL)) {
        fprintf(stderr, "logdist-analyzer: cannot install signal handlers\n");
        return 1;
    }
    event_base_dispatch(a.base);

    /* Clean shutdown: answer delayed batches with 503, free everything. */
    for (pending_t *p = a.pending, *next; p; p = next) {
        next = p->next;
        struct evhttp_request *req = p->req;
        pending_free(&a, p);
        a.failed_batches++;
        reply_error(req, 503, "shutdown", "analyzer shutting down");
    }
    event_free(sigint);
    event_free(sigterm);
    evhttp_free(a.http);
    event_base_free(a.base);
    libevent_global_shutdown();
    scan_result_free(&a.scan);
    if (a.zs_ready) inflateEnd(&a.zs);
    free(a.zbuf);
    free(a.hashes);
    stats_reset(&a);
    return 0;
}
