/*
 * gen.c - logdist-gen: load generator for the logdist ingest API.
 *
 * Sends packets of synthetic log records (every record with a unique id
 * "<prefix>-<12-digit seq>") to POST /api/v1/logs over --connections keep-alive
 * connections (libcurl multi, one reused easy handle per connection, single
 * thread, closed loop: at most one request in flight per connection), paced by a
 * token bucket in records/s. 429/503 answers are retried after Retry-After on the
 * same connection ("throttled"); other non-2xx answers reject the packet; transport
 * failures are "errors". Ends after --duration / --count or on SIGINT/SIGTERM,
 * drains for at most 5 s and prints one JSON summary line on stdout.
 * --ids-out appends the id of every record of every 2xx packet, one per line.
 *
 * Several --url (repeatable or comma-separated, at most MAX_URLS): connection i
 * starts on URL i % n and stays there; a transport error or a 503 moves the
 * connection to the next URL and re-sends the same packet there (same ids), so a
 * packet is counted accepted once, on its one 2xx (delivery stays at-least-once:
 * a node that died after taking a packet but before answering may forward it
 * too). Such re-sends count as "failovers", not errors; a packet is given up
 * (error) after --max-retries failovers.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <zlib.h>

#include "body.h"

#define MAX_CONNECTIONS 1024
#define MAX_URLS 64
#define MAX_PACKET_SIZE 100000
#define DRAIN_S 5.0          /* bounded wait for in-flight requests at the end */
#define MAX_RETRY_AFTER_S 60 /* longer Retry-After values are clamped */
#define RESP_MAX 1024        /* response body bytes kept for parsing */
#define POLL_MAX_MS 100      /* longest single wait (signal / progress latency) */
#define MAX_ERRORS_PRINTED 5
#define ERR_BACKOFF_MIN_S 0.05 /* a connection pauses this long after a transport error, */
#define ERR_BACKOFF_MAX_S 1.0  /* doubling per consecutive error up to this */
#define DEAD_S 10.0 /* stop the run after this long with transport errors and no response */

/* ---------------------------------------------------------------------------------- */
/* latency histogram: log-linear buckets in microseconds (32 per power of two, ~3 %) */

#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_EXACT (2u * HIST_SUB) /* values below are exact */
#define HIST_BUCKETS (HIST_EXACT + 64u * HIST_SUB)

typedef struct {
    uint64_t counts[HIST_BUCKETS];
    uint64_t n;
    uint64_t max;
} hist_t;

/* Bucket index of value v (µs). */
static unsigned hist_index(uint64_t v)
{
    if (v < HIST_EXACT) return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= HIST_SUB_BITS + 1 */
    unsigned sub = (unsigned)(v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1);
    return HIST_EXACT + (e - HIST_SUB_BITS - 1) * HIST_SUB + sub;
}

/* Largest value that falls into bucket i. */
static uint64_t hist_upper(unsigned i)
{
    if (i < HIST_EXACT) return i;
    unsigned k = i - HIST_EXACT;
    unsigned e = k / HIST_SUB + HIST_SUB_BITS + 1, sub = k % HIST_SUB;
    uint64_t lo = ((uint64_t)(HIST_SUB + sub)) << (e - HIST_SUB_BITS);
    return lo + (((uint64_t)1) << (e - HIST_SUB_BITS)) - 1;
}

/* Record one value (µs). */
static void hist_add(hist_t *h, uint64_t v)
{
    h->counts[hist_index(v)]++;
    h->n++;
    if (v > h->max) h->max = v;
}

/* Value (µs) at quantile q in [0,1]: upper bound of its bucket, capped at the max. */
static uint64_t hist_quantile(const hist_t *h, double q)
{
    if (!h->n) return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->n);
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t u = hist_upper(i);
            return u < h->max ? u : h->max;
        }
    }
    return h->max;
}

/* ---------------------------------------------------------------------------------- */
/* state */

typedef enum { CONN_IDLE = 0, CONN_BUSY, CONN_WAIT_RETRY } conn_state_t;

typedef struct {
    CURL *easy;
    conn_state_t state;
    /* current packet */
    int slot;           /* body slot it owns */
    uint64_t first_seq; /* seq of its first record */
    uint32_t nrec;
    unsigned retries;
    unsigned url;      /* index of the URL it sends to */
    double t_sent;     /* monotonic time the current attempt started */
    double retry_at;   /* CONN_WAIT_RETRY: when to resend */
    double idle_until; /* after a transport error: no new packet before this time */
    double backoff;    /* current transport-error backoff in seconds, 0 after a success */
    char resp[RESP_MAX];
    size_t resp_len;
} conn_t;

typedef struct {
    /* options */
    char *urls[MAX_URLS]; /* owned copies of the --url values */
    unsigned nurls;
    const char *ids_out;
    double rate;     /* records/s, 0 = unlimited */
    double duration; /* seconds, 0 = none */
    uint64_t count;  /* records, 0 = none */
    uint64_t seed;
    long timeout_ms;
    uint32_t packet_size;
    unsigned nconn;
    unsigned max_retries;
    bool gzip;
    bool quiet;
    gen_body_config_t bcfg;

    /* runtime */
    CURLM *multi;
    CURLU *curlu[MAX_URLS]; /* the parsed --url values, shared by the easy handles */
    struct curl_slist *headers;
    conn_t *conns;
    gen_body_t *slots;
    bool *slot_busy;
    FILE *ids;
    z_stream zs;
    uint64_t rng;
    double t0;
    double tokens;
    double t_tokens;
    uint64_t next_seq;              /* seq of the next new record */
    uint64_t next_packet;           /* packet seq of the next new packet */
    double t_last_response;         /* last time any HTTP response arrived */
    uint64_t errors_since_response; /* transport errors since then */
    time_t ts_sec;
    char ts[GEN_TS_LEN + 1];
    bool ids_failed;
    unsigned nslots;
    unsigned next_conn; /* where the next scan for an idle connection starts */
    unsigned errors_printed;

    /* results */
    uint64_t records_sent, records_accepted, records_rejected, records_errored;
    uint64_t packets_sent, packets_accepted, packets_rejected, throttled, errors, failovers;
    hist_t lat;
} gen_t;

static volatile sig_atomic_t g_signals;

/* SIGINT/SIGTERM handler: count the signal (the main loop polls the counter). */
static void on_signal(int sig)
{
    (void)sig;
    g_signals++;
}

/* Monotonic clock in seconds. */
static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Refresh g->ts with the current UTC wall-clock time, millisecond precision. */
static void update_ts(gen_t *g)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    if (t.tv_sec != g->ts_sec || !g->ts[0]) {
        struct tm tm;
        gmtime_r(&t.tv_sec, &tm);
        strftime(g->ts, sizeof(g->ts), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
        g->ts_sec = t.tv_sec;
    }
    unsigned ms = (unsigned)(t.tv_nsec / 1000000);
    g->ts[20] = (char)('0' + ms / 100);
    g->ts[21] = (char)('0' + ms / 10 % 10);
    g->ts[22] = (char)('0' + ms % 10);
}

/* libcurl write callback: keep the first RESP_MAX-1 bytes of the response body. */
static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    conn_t *c = arg;
    size_t n = size * nmemb;
    size_t room = RESP_MAX - 1 - c->resp_len;
    size_t k = n < room ? n : room;
    memcpy(c->resp + c->resp_len, p, k);
    c->resp_len += k;
    c->resp[c->resp_len] = '\0';
    return n;
}

/* Print a diagnostic to stderr unless --quiet (at most MAX_ERRORS_PRINTED of them). */
static void diag(gen_t *g, const char *what, const char *detail)
{
    if (g->quiet || g->errors_printed >= MAX_ERRORS_PRINTED) return;
    g->errors_printed++;
    fprintf(stderr, "logdist-gen: %s: %.300s%s\n", what, detail,
            g->errors_printed == MAX_ERRORS_PRINTED ? " (further messages suppressed)" : "");
}

/* ---------------------------------------------------------------------------------- */
/* packets */

/* Append the ids of records first_seq .. first_seq+n-1 to --ids-out. */
static void write_ids(gen_t *g, uint64_t first_seq, uint32_t n)
{
    if (!g->ids || g->ids_failed) return;
    size_t pl = strlen(g->bcfg.prefix);
    char line[GEN_PREFIX_MAX + GEN_SEQ_DIGITS + 3];
    memcpy(line, g->bcfg.prefix, pl);
    line[pl] = '-';
    char *d = line + pl + 1;
    gen_seq_format(d, first_seq);
    d[GEN_SEQ_DIGITS] = '\n';
    size_t ll = pl + 1 + GEN_SEQ_DIGITS + 1;
    for (uint32_t i = 0; i < n; i++) {
        if (fwrite(line, 1, ll, g->ids) != ll) {
            g->ids_failed = true;
            return;
        }
        gen_seq_inc(d);
    }
}

/* Start (or restart, for a retry) the request of connection c's packet. */
static int conn_send(gen_t *g, conn_t *c)
{
    const gen_body_t *b = &g->slots[c->slot];
    const void *data = g->gzip ? (const void *)b->gz : (const void *)b->buf;
    size_t len = g->gzip ? b->gz_len : b->len;
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, data);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    c->resp_len = 0;
    c->resp[0] = '\0';
    c->t_sent = now_s();
    CURLMcode mc = curl_multi_add_handle(g->multi, c->easy);
    if (mc != CURLM_OK) {
        diag(g, "curl_multi_add_handle", curl_multi_strerror(mc));
        return -1;
    }
    c->state = CONN_BUSY;
    return 0;
}

/* Release connection c's packet and make it idle. */
static void conn_release(gen_t *g, conn_t *c)
{
    g->slot_busy[c->slot] = false;
    c->state = CONN_IDLE;
}

/* Build the next new packet of n records on idle connection c and send it.
 * Returns 0, or -1 when the packet could not be built/sent (counted as an error). */
static int start_packet(gen_t *g, conn_t *c, uint32_t n)
{
    unsigned s = (unsigned)(g->next_packet % g->nslots);
    while (g->slot_busy[s])
        s = (s + 1) % g->nslots; /* nslots > nconn, so a free slot exists */
    gen_body_t *b = &g->slots[s];
    c->slot = (int)s;
    c->first_seq = g->next_seq;
    c->nrec = n;
    c->retries = 0;
    g->next_seq += n;
    g->next_packet++;
    g->packets_sent++;
    g->records_sent += n;
    g->slot_busy[s] = true;
    if (b->nrec != n && gen_body_build(b, &g->bcfg, &g->rng, n) < 0) {
        diag(g, "packet", "out of memory");
        goto fail;
    }
    update_ts(g);
    gen_body_patch(b, c->first_seq, g->next_packet, g->ts);
    if (g->gzip && gen_body_gzip(b, &g->zs) < 0) {
        diag(g, "gzip", "deflate failed");
        goto fail;
    }
    if (conn_send(g, c) == 0) return 0;
fail:
    g->errors++;
    g->records_errored += n;
    conn_release(g, c);
    return -1;
}

/* Parse "accepted":N from a response body; returns N or `dflt` when absent. */
static uint64_t parse_accepted(const char *resp, uint64_t dflt)
{
    const char *p = strstr(resp, "\"accepted\"");
    if (!p) return dflt;
    p += 10;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    if (*p++ != ':') return dflt;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    if (*p < '0' || *p > '9') return dflt;
    return strtoull(p, NULL, 10);
}

/* Move connection c to the next URL and schedule its packet again there: at once,
 * unless it has now tried every URL since its last answer, then after a backoff
 * (transport error) or 1 s (503). */
static void failover(gen_t *g, conn_t *c, double now, bool transport)
{
    g->failovers++;
    c->retries++;
    c->url = (c->url + 1) % g->nurls;
    curl_easy_setopt(c->easy, CURLOPT_CURLU, g->curlu[c->url]);
    double wait = 0;
    if (c->retries % g->nurls == 0) {
        if (transport)
            wait = c->backoff =
                c->backoff > 0 ? fmin(c->backoff * 2, ERR_BACKOFF_MAX_S) : ERR_BACKOFF_MIN_S;
        else
            wait = 1.0;
    }
    c->retry_at = now + wait;
    c->state = CONN_WAIT_RETRY;
}

/* Handle the completion of connection c's request (curl result rc). */
static void on_done(gen_t *g, conn_t *c, CURLcode rc, double now)
{
    curl_multi_remove_handle(g->multi, c->easy);
    if (rc != CURLE_OK && g->nurls > 1 && c->retries < g->max_retries) {
        diag(g, "transport error, failing over", curl_easy_strerror(rc));
        g->errors_since_response++;
        failover(g, c, now, true);
        return;
    }
    if (rc != CURLE_OK) {
        g->errors++;
        g->records_errored += c->nrec;
        diag(g, "transport error", curl_easy_strerror(rc));
        c->backoff = c->backoff > 0 ? fmin(c->backoff * 2, ERR_BACKOFF_MAX_S) : ERR_BACKOFF_MIN_S;
        c->idle_until = now + c->backoff;
        g->errors_since_response++;
        conn_release(g, c);
        return;
    }
    c->backoff = 0;
    g->t_last_response = now;
    g->errors_since_response = 0;
    long code = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &code);
    double lat = now - c->t_sent;
    hist_add(&g->lat, lat > 0 ? (uint64_t)(lat * 1e6) : 0);
    if (code >= 200 && code < 300) {
        uint64_t acc = parse_accepted(c->resp, c->nrec);
        if (acc > c->nrec) acc = c->nrec;
        g->packets_accepted++;
        g->records_accepted += acc;
        g->records_rejected += c->nrec - acc;
        write_ids(g, c->first_seq, c->nrec);
        conn_release(g, c);
    } else if (code == 503 && g->nurls > 1 && c->retries < g->max_retries) {
        g->throttled++;
        failover(g, c, now, false);
    } else if (code == 429 || code == 503) {
        g->throttled++;
        if (++c->retries > g->max_retries) {
            diag(g, "giving up on a packet", "too many throttled retries");
            g->packets_rejected++;
            g->records_rejected += c->nrec;
            conn_release(g, c);
            return;
        }
        curl_off_t ra = 0;
        curl_easy_getinfo(c->easy, CURLINFO_RETRY_AFTER, &ra);
        if (ra <= 0) ra = 1;
        if (ra > MAX_RETRY_AFTER_S) ra = MAX_RETRY_AFTER_S;
        c->retry_at = now + (double)ra;
        c->state = CONN_WAIT_RETRY;
    } else {
        char what[48];
        snprintf(what, sizeof(what), "packet rejected with HTTP %ld", code);
        diag(g, what, c->resp);
        g->packets_rejected++;
        g->records_rejected += c->nrec;
        conn_release(g, c);
    }
}

/* Drain libcurl's completion queue. Returns the number of completed requests. */
static unsigned read_completions(gen_t *g)
{
    unsigned n = 0;
    int left;
    CURLMsg *m;
    double now = now_s();
    while ((m = curl_multi_info_read(g->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        CURL *e = m->easy_handle;
        CURLcode rc = m->data.result;
        conn_t *c = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&c);
        on_done(g, c, rc, now);
        n++;
    }
    return n;
}

/* ---------------------------------------------------------------------------------- */
/* main loop */

/* Print a progress line to stderr. */
static void progress(const gen_t *g, double now)
{
    double el = now - g->t0;
    fprintf(stderr,
            "logdist-gen: %.1fs sent=%" PRIu64 " accepted=%" PRIu64 " rejected=%" PRIu64
            " throttled=%" PRIu64 " errors=%" PRIu64 " rate=%.0f rec/s p99=%.2f ms\n",
            el, g->records_sent, g->records_accepted, g->records_rejected, g->throttled, g->errors,
            el > 0 ? (double)g->records_accepted / el : 0.0,
            (double)hist_quantile(&g->lat, 0.99) / 1000.0);
}

/* Run until done; returns the elapsed seconds. */
static double run(gen_t *g)
{
    g->t0 = g->t_tokens = g->t_last_response = now_s();
    g->tokens = g->packet_size;
    double t_end = g->duration > 0 ? g->t0 + g->duration : INFINITY;
    double next_progress = g->t0 + 1.0;
    double drain_deadline = INFINITY; /* set when a signal or the duration ends the run */
    bool launching = true;
    for (;;) {
        double now = now_s();
        /* 1. decide whether new packets may still be started */
        if (launching) {
            bool out_of_seq = g->next_seq > GEN_SEQ_MAX - g->packet_size;
            bool count_done = g->count && g->next_seq > g->count;
            bool dead = g->errors_since_response && now - g->t_last_response > DEAD_S;
            if (dead && !g->quiet)
                fprintf(stderr, "logdist-gen: giving up: only transport errors for %.0f s\n",
                        DEAD_S);
            if (g_signals || now >= t_end || out_of_seq || dead) {
                launching = false;
                drain_deadline = now + DRAIN_S;
            } else if (count_done) {
                launching = false; /* keep resolving throttled packets (max-retries bound) */
            }
        } else if (g_signals && drain_deadline == INFINITY) {
            drain_deadline = now + DRAIN_S;
        }
        bool abandon = now >= drain_deadline || g_signals >= 2;
        if (!g->quiet && now >= next_progress) {
            progress(g, now);
            next_progress = fmax(next_progress + 1.0, now);
        }

        /* 2. start new packets / due retries */
        if (g->rate > 0) {
            double cap = fmax((double)g->packet_size, g->rate * 0.05);
            g->tokens = fmin(cap, g->tokens + (now - g->t_tokens) * g->rate);
            g->t_tokens = now;
        }
        unsigned busy = 0, waiting = 0;
        double next_retry = INFINITY, next_idle_end = INFINITY;
        unsigned first = g->next_conn; /* round robin: paced packets spread over all */
        for (unsigned k = 0; k < g->nconn; k++) {
            unsigned i = (first + k) % g->nconn;
            conn_t *c = &g->conns[i];
            if (c->state == CONN_WAIT_RETRY && !abandon && c->retry_at <= now) {
                if (conn_send(g, c) < 0) {
                    g->errors++;
                    g->records_errored += c->nrec;
                    conn_release(g, c);
                }
            }
            if (c->state == CONN_IDLE && launching && c->idle_until > now) {
                next_idle_end = fmin(next_idle_end, c->idle_until);
            } else if (c->state == CONN_IDLE && launching) {
                uint64_t left = g->count ? g->count + 1 - g->next_seq : g->packet_size;
                uint32_t n = left < g->packet_size ? (uint32_t)left : g->packet_size;
                if (n > 0 && (g->rate <= 0 || g->tokens >= n)) {
                    if (g->rate > 0) g->tokens -= n;
                    start_packet(g, c, n);
                    g->next_conn = (i + 1) % g->nconn;
                }
            }
            if (c->state == CONN_BUSY) busy++;
            if (c->state == CONN_WAIT_RETRY) {
                waiting++;
                if (c->retry_at < next_retry) next_retry = c->retry_at;
            }
        }
        if (!launching && (abandon || (!busy && !waiting))) {
            /* give up on whatever is left: in flight -> errors, throttled -> rejected */
            for (unsigned i = 0; i < g->nconn; i++) {
                conn_t *c = &g->conns[i];
                if (c->state == CONN_BUSY) {
                    curl_multi_remove_handle(g->multi, c->easy);
                    g->errors++;
                    g->records_errored += c->nrec;
                    diag(g, "abandoned", "request still in flight at the end of the drain");
                    conn_release(g, c);
                } else if (c->state == CONN_WAIT_RETRY) {
                    g->packets_rejected++;
                    g->records_rejected += c->nrec;
                    conn_release(g, c);
                }
            }
            break;
        }

        /* 3. let libcurl work, then handle completions */
        int running;
        curl_multi_perform(g->multi, &running);
        if (read_completions(g) > 0)
            continue; /* connections freed: start the next packets right away */

        /* 4. wait for I/O, the next token, retry, progress tick or deadline */
        double wake = now + POLL_MAX_MS / 1000.0;
        if (launching && g->rate > 0 && busy < g->nconn)
            wake = fmin(wake, now + ((double)g->packet_size - g->tokens) / g->rate);
        wake = fmin(wake, next_retry);
        wake = fmin(wake, next_idle_end);
        wake = fmin(wake, drain_deadline);
        if (!g->quiet) wake = fmin(wake, next_progress);
        int ms = (int)ceil((wake - now) * 1000.0);
        if (ms < 0) ms = 0;
        if (ms > 0 || busy > 0) curl_multi_poll(g->multi, NULL, 0, ms, NULL);
    }
    return now_s() - g->t0;
}

/* ---------------------------------------------------------------------------------- */
/* setup */

/* Print usage to f. */
static void usage(FILE *f)
{
    fprintf(f, "usage: logdist-gen --url URL [--url URL...] [options]\n"
               "Load generator for logdist: POSTs packets of unique-id log records.\n"
               "  --url URL[,URL...]    ingest URL, e.g. http://127.0.0.1:8080/api/v1/logs;\n"
               "                        repeatable: fails over to the next URL on a\n"
               "                        transport error or a 503 (max 64)\n"
               "  --rate R              records/s, 0 = as fast as possible (default 0)\n"
               "  --packet-size N       records per packet (default 100, max 100000)\n"
               "  --duration S          stop after S seconds (default 10 unless --count)\n"
               "  --count N             stop after N records\n"
               "  --connections C       parallel keep-alive connections (default 4, max 1024)\n"
               "  --critical-ratio F    fraction of records with \"critical\":true (default 0)\n"
               "  --format json|array|ndjson   body shape (default json packet)\n"
               "  --gzip                Content-Encoding: gzip\n"
               "  --seed N              content PRNG seed (default 1)\n"
               "  --id-prefix P         id prefix (default random per run), [A-Za-z0-9._:-]\n"
               "  --agent-id A          agent_id of json packets (default logdist-gen)\n"
               "  --levels L[:W],...    levels and weights (default "
               "DEBUG:10,INFO:70,WARN:12,ERROR:7,FATAL:1)\n"
               "  --sources N           source \"src-0000\"..N-1 uniformly (default: 8 names)\n"
               "  --trace-ids N         add metadata.trace_id \"t-0\"..N-1 uniformly\n"
               "  --ids-out FILE        append the ids of every 2xx packet, one per line\n"
               "  --timeout-ms N        per-request timeout (default 30000)\n"
               "  --max-retries N       throttled (429/503) retries or failovers per packet\n"
               "                        (default 100)\n"
               "  --quiet               no progress lines on stderr\n"
               "  -h, --help            this text\n"
               "Prints one JSON summary line on stdout; exit 1 on transport errors.\n");
}

/* Parse a non-negative double in [min, max]; false when invalid. */
static bool parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= min && v <= max)) return false;
    *out = v;
    return true;
}

/* Parse an unsigned decimal in [min, max]; false when invalid. */
static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!*s || *s == '-') return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max) return false;
    *out = v;
    return true;
}

/* True when s is 1..max chars of [A-Za-z0-9._:-]. */
static bool is_token(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") == n;
}

/* Append the comma-separated URLs of s to g->urls. Returns 0, or -1 when one is
 * empty, there would be more than MAX_URLS, or out of memory. */
static int add_urls(gen_t *g, const char *s)
{
    for (;;) {
        size_t n = strcspn(s, ",");
        if (n == 0 || g->nurls >= MAX_URLS) return -1;
        char *u = strndup(s, n);
        if (!u) return -1;
        g->urls[g->nurls++] = u;
        if (!s[n]) return 0;
        s += n + 1;
    }
}

/* Parse the command line into g; exits 2 on invalid use, 0 for --help. */
static void parse_args(gen_t *g, int argc, char **argv)
{
    enum {
        O_URL = 256,
        O_RATE,
        O_PSIZE,
        O_DUR,
        O_COUNT,
        O_CONN,
        O_CRIT,
        O_FMT,
        O_GZIP,
        O_SEED,
        O_IDS,
        O_LEVELS,
        O_QUIET,
        O_PREFIX,
        O_AGENT,
        O_TIMEOUT,
        O_RETRIES,
        O_SOURCES,
        O_TRACES
    };
    static const struct option opts[] = {
        {"url", required_argument, NULL, O_URL},
        {"rate", required_argument, NULL, O_RATE},
        {"packet-size", required_argument, NULL, O_PSIZE},
        {"duration", required_argument, NULL, O_DUR},
        {"count", required_argument, NULL, O_COUNT},
        {"connections", required_argument, NULL, O_CONN},
        {"critical-ratio", required_argument, NULL, O_CRIT},
        {"format", required_argument, NULL, O_FMT},
        {"gzip", no_argument, NULL, O_GZIP},
        {"seed", required_argument, NULL, O_SEED},
        {"ids-out", required_argument, NULL, O_IDS},
        {"levels", required_argument, NULL, O_LEVELS},
        {"quiet", no_argument, NULL, O_QUIET},
        {"id-prefix", required_argument, NULL, O_PREFIX},
        {"agent-id", required_argument, NULL, O_AGENT},
        {"timeout-ms", required_argument, NULL, O_TIMEOUT},
        {"max-retries", required_argument, NULL, O_RETRIES},
        {"sources", required_argument, NULL, O_SOURCES},
        {"trace-ids", required_argument, NULL, O_TRACES},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t v = 0;
    const char *err = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        const char *bad = NULL;
        switch (c) {
        case O_URL:
            if (add_urls(g, optarg) < 0) bad = "--url wants URL[,URL...], at most 64 in all";
            break;
        case O_RATE:
            if (!parse_double(optarg, 0, 1e9, &g->rate)) bad = "--rate wants 0..1e9";
            break;
        case O_PSIZE:
            if (!parse_u64(optarg, 1, MAX_PACKET_SIZE, &v)) bad = "--packet-size wants 1..100000";
            g->packet_size = (uint32_t)v;
            break;
        case O_DUR:
            if (!parse_double(optarg, 0.001, 1e7, &g->duration))
                bad = "--duration wants seconds > 0";
            break;
        case O_COUNT:
            if (!parse_u64(optarg, 1, GEN_SEQ_MAX / 2, &g->count))
                bad = "--count wants 1..499999999999";
            break;
        case O_CONN:
            if (!parse_u64(optarg, 1, MAX_CONNECTIONS, &v)) bad = "--connections wants 1..1024";
            g->nconn = (unsigned)v;
            break;
        case O_CRIT:
            if (!parse_double(optarg, 0, 1, &g->bcfg.critical_ratio))
                bad = "--critical-ratio wants 0..1";
            break;
        case O_FMT:
            if (strcmp(optarg, "json") == 0)
                g->bcfg.format = GEN_FMT_JSON;
            else if (strcmp(optarg, "array") == 0)
                g->bcfg.format = GEN_FMT_ARRAY;
            else if (strcmp(optarg, "ndjson") == 0)
                g->bcfg.format = GEN_FMT_NDJSON;
            else
                bad = "--format wants json, array or ndjson";
            break;
        case O_GZIP:
            g->gzip = true;
            break;
        case O_SEED:
            if (!parse_u64(optarg, 0, UINT64_MAX, &g->seed))
                bad = "--seed wants an unsigned integer";
            break;
        case O_IDS:
            g->ids_out = optarg;
            break;
        case O_LEVELS:
            if (gen_levels_parse(&g->bcfg, optarg, &err) < 0) bad = err;
            break;
        case O_QUIET:
            g->quiet = true;
            break;
        case O_PREFIX:
            if (!is_token(optarg, GEN_PREFIX_MAX))
                bad = "--id-prefix wants 1-64 chars of [A-Za-z0-9._:-]";
            else
                snprintf(g->bcfg.prefix, sizeof(g->bcfg.prefix), "%s", optarg);
            break;
        case O_AGENT:
            if (!is_token(optarg, GEN_PREFIX_MAX))
                bad = "--agent-id wants 1-64 chars of [A-Za-z0-9._:-]";
            else
                snprintf(g->bcfg.agent_id, sizeof(g->bcfg.agent_id), "%s", optarg);
            break;
        case O_TIMEOUT:
            if (!parse_u64(optarg, 1, 3600000, &v)) bad = "--timeout-ms wants 1..3600000";
            g->timeout_ms = (long)v;
            break;
        case O_RETRIES:
            if (!parse_u64(optarg, 0, 1000000, &v)) bad = "--max-retries wants 0..1000000";
            g->max_retries = (unsigned)v;
            break;
        case O_SOURCES:
            if (!parse_u64(optarg, 1, 1000000, &v)) bad = "--sources wants 1..1000000";
            g->bcfg.nsources = (uint32_t)v;
            break;
        case O_TRACES:
            if (!parse_u64(optarg, 1, 1000000000, &v)) bad = "--trace-ids wants 1..1000000000";
            g->bcfg.ntrace_ids = (uint32_t)v;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
        if (bad) {
            fprintf(stderr, "logdist-gen: %s (got '%s')\n", bad, optarg);
            exit(2);
        }
    }
    if (optind < argc || !g->nurls) {
        fprintf(stderr, "logdist-gen: %s\n",
                g->nurls ? "unexpected argument" : "--url is required");
        usage(stderr);
        exit(2);
    }
    if (!g->duration && !g->count) g->duration = 10;
}

/* Create the curl handles, body slots and output file. Returns 0 or -1. */
static int setup(gen_t *g)
{
    if (!g->bcfg.prefix[0]) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        uint64_t x =
            (uint64_t)t.tv_sec * 1000000007ull ^ (uint64_t)t.tv_nsec ^ ((uint64_t)getpid() << 32);
        x ^= x >> 31;
        x *= 0x9E3779B97F4A7C15ull;
        x ^= x >> 29;
        snprintf(g->bcfg.prefix, sizeof(g->bcfg.prefix), "g%08" PRIx32, (uint32_t)(x >> 32));
    }
    g->rng = g->seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    g->nslots = g->nconn + 16;
    g->slots = calloc(g->nslots, sizeof(*g->slots));
    g->slot_busy = calloc(g->nslots, sizeof(*g->slot_busy));
    g->conns = calloc(g->nconn, sizeof(*g->conns));
    if (!g->slots || !g->slot_busy || !g->conns) return -1;
    for (unsigned i = 0; i < g->nslots; i++)
        if (gen_body_build(&g->slots[i], &g->bcfg, &g->rng, g->packet_size) < 0) return -1;
    if (g->gzip &&
        deflateInit2(&g->zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    if (g->ids_out) {
        g->ids = fopen(g->ids_out, "a");
        if (!g->ids) {
            fprintf(stderr, "logdist-gen: cannot open %s: %s\n", g->ids_out, strerror(errno));
            return -1;
        }
        setvbuf(g->ids, NULL, _IOFBF, 1 << 20);
    }

    g->headers = curl_slist_append(NULL, g->bcfg.format == GEN_FMT_NDJSON
                                             ? "Content-Type: application/x-ndjson"
                                             : "Content-Type: application/json");
    g->headers = curl_slist_append(g->headers, "Expect:");
    if (g->gzip) g->headers = curl_slist_append(g->headers, "Content-Encoding: gzip");
    g->multi = curl_multi_init();
    if (!g->headers || !g->multi || !g->nurls) return -1;
    for (unsigned i = 0; i < g->nurls; i++) {
        g->curlu[i] = curl_url();
        if (!g->curlu[i]) return -1;
        CURLUcode uc = curl_url_set(g->curlu[i], CURLUPART_URL, g->urls[i], 0);
        if (uc != CURLUE_OK) {
            fprintf(stderr, "logdist-gen: bad --url '%s': %s\n", g->urls[i], curl_url_strerror(uc));
            return -1;
        }
    }
    curl_multi_setopt(g->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)g->nconn);
    curl_multi_setopt(g->multi, CURLMOPT_MAXCONNECTS, (long)g->nconn);
    for (unsigned i = 0; i < g->nconn; i++) {
        conn_t *c = &g->conns[i];
        CURL *e = c->easy = curl_easy_init();
        if (!e) return -1;
        c->url = i % g->nurls;
        curl_easy_setopt(e, CURLOPT_CURLU, g->curlu[c->url]);
        curl_easy_setopt(e, CURLOPT_PROXY, "");
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, g->headers);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "logdist-gen/1");
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, g->timeout_ms);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
        curl_easy_setopt(e, CURLOPT_PRIVATE, c);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
    }
    return 0;
}

/* Free everything setup() created. */
static void teardown(gen_t *g)
{
    for (unsigned i = 0; g->conns && i < g->nconn; i++)
        if (g->conns[i].easy) {
            if (g->multi) curl_multi_remove_handle(g->multi, g->conns[i].easy);
            curl_easy_cleanup(g->conns[i].easy);
        }
    if (g->multi) curl_multi_cleanup(g->multi);
    curl_slist_free_all(g->headers);
    for (unsigned i = 0; i < g->nurls; i++) {
        if (g->curlu[i]) curl_url_cleanup(g->curlu[i]);
        free(g->urls[i]);
    }
    for (unsigned i = 0; g->slots && i < g->nslots; i++)
        gen_body_free(&g->slots[i]);
    free(g->slots);
    free(g->slot_busy);
    free(g->conns);
    if (g->gzip) deflateEnd(&g->zs);
}

/* Entry point: parse options, run, print the summary. */
int main(int argc, char **argv)
{
    static gen_t g; /* static: zero-initialised, holds the histogram */
    g.packet_size = 100;
    g.nconn = 4;
    g.seed = 1;
    g.timeout_ms = 30000;
    g.max_retries = 100;
    g.next_seq = 1;
    snprintf(g.bcfg.agent_id, sizeof(g.bcfg.agent_id), "logdist-gen");
    const char *err;
    gen_levels_parse(&g.bcfg, "DEBUG:10,INFO:70,WARN:12,ERROR:7,FATAL:1", &err);
    parse_args(&g, argc, argv);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "logdist-gen: curl_global_init failed\n");
        return 1;
    }
    int status = 0;
    if (setup(&g) < 0) {
        fprintf(stderr, "logdist-gen: setup failed (out of memory or bad output file)\n");
        status = 1;
    } else {
        double el = run(&g);
        if (g.ids && (fclose(g.ids) != 0 || g.ids_failed)) {
            fprintf(stderr, "logdist-gen: writing %s failed\n", g.ids_out);
            status = 1;
        }
        g.ids = NULL;
        printf("{\"records_sent\":%" PRIu64 ",\"records_accepted\":%" PRIu64
               ",\"records_rejected\":%" PRIu64 ",\"records_errored\":%" PRIu64
               ",\"packets_sent\":%" PRIu64 ",\"packets_accepted\":%" PRIu64
               ",\"packets_rejected\":%" PRIu64 ",\"throttled\":%" PRIu64 ",\"errors\":%" PRIu64
               ",\"failovers\":%" PRIu64
               ",\"elapsed_s\":%.3f,\"records_per_s\":%.1f,\"id_prefix\":\"%s\","
               "\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}}\n",
               g.records_sent, g.records_accepted, g.records_rejected, g.records_errored,
               g.packets_sent, g.packets_accepted, g.packets_rejected, g.throttled, g.errors,
               g.failovers, el, el > 0 ? (double)g.records_accepted / el : 0.0, g.bcfg.prefix,
               (double)hist_quantile(&g.lat, 0.50) / 1000.0,
               (double)hist_quantile(&g.lat, 0.99) / 1000.0, (double)g.lat.max / 1000.0);
        fflush(stdout);
        if (g.errors) status = 1;
    }
    if (g.ids) fclose(g.ids);
    teardown(&g);
    curl_global_cleanup();
    return status;
}
