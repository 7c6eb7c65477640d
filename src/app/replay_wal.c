/*
 * replay_wal.c - `logdistd --replay-wal DIR --to URL` (see replay_wal.h): re-send
 * an abandoned node's unacknowledged WAL records through a live node, acknowledge
 * in the WAL what the live node answered 202, print a summary line.
 */
#include "app/replay_wal.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/util.h"
#include "store/wal.h"

#define RESP_MAX 4096
#define TOKEN_MAX 4096
#define URL_MAX 2048
#define BUSY_TRIES 5       /* attempts of a batch answered 429/503 */
#define BUSY_WAIT_MAX_S 5L /* longest Retry-After honoured between them */

/* ---------------------------------------------------------------------------------- */
/* pure parts */

int replay_batch_init(replay_batch_t *b, size_t max_records, size_t max_bytes)
{
    memset(b, 0, sizeof *b);
    b->max_records = max_records;
    b->max_bytes = max_bytes;
    b->seqs = malloc(max_records * sizeof *b->seqs);
    return b->seqs ? 0 : -ENOMEM;
}

void replay_batch_free(replay_batch_t *b)
{
    free(b->buf);
    free(b->seqs);
    memset(b, 0, sizeof *b);
}

bool replay_batch_full_for(const replay_batch_t *b, size_t len)
{
    if (b->n == 0) return false;
    return b->n >= b->max_records || b->len + 1 + len + 1 > b->max_bytes;
}

int replay_batch_add(replay_batch_t *b, uint64_t seq, const char *rec, size_t len)
{
    size_t need = b->len + 1 + len + 2; /* separator, record, "]" and NUL */
    if (need > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < need)
            nc *= 2;
        char *nb = realloc(b->buf, nc);
        if (!nb) return -ENOMEM;
        b->buf = nb;
        b->cap = nc;
    }
    b->buf[b->len++] = b->n ? ',' : '[';
    memcpy(b->buf + b->len, rec, len);
    b->len += len;
    b->seqs[b->n++] = seq;
    return 0;
}

void replay_batch_close(replay_batch_t *b)
{
    b->buf[b->len++] = ']';
    b->buf[b->len] = '\0';
}

void replay_batch_reset(replay_batch_t *b)
{
    b->len = 0;
    b->n = 0;
}

size_t replay_parse_accepted(const char *body, size_t len, size_t n)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    json_t *a = j ? json_object_get(j, "accepted") : NULL;
    size_t r = n;
    if (json_is_integer(a) && json_integer_value(a) >= 0 &&
        (uint64_t)json_integer_value(a) < (uint64_t)n)
        r = (size_t)json_integer_value(a);
    json_decref(j);
    return r;
}

int replay_logs_url(const char *url, char *out, size_t outsz)
{
    static const char suffix[] = "/api/v1/logs";
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) return -EINVAL;
    size_t n = strlen(url), sl = sizeof suffix - 1;
    if (n >= sl && !strcmp(url + n - sl, suffix)) {
        if (n + 1 > outsz) return -EINVAL;
        memcpy(out, url, n + 1);
        return 0;
    }
    while (n > 0 && url[n - 1] == '/')
        n--;
    if (n + sl + 1 > outsz) return -EINVAL;
    snprintf(out, outsz, "%.*s%s", (int)n, url, suffix);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* the run */

typedef struct {
    const char *dir;
    char url[URL_MAX];
    char token[TOKEN_MAX];
    const char *cacert;
    long timeout_ms;
    size_t batch_records, batch_bytes;
} replay_opts_t;

typedef struct {
    const replay_opts_t *o;
    CURL *easy;
    struct curl_slist *headers;
    replay_batch_t batch;
    uint64_t *acked; /* seqs answered 202, acknowledged after wal_replay returns */
    size_t nacked, acked_cap;
    bool stopped; /* a batch failed: nothing more is sent */
    uint64_t sent, failed, rejected, batches;
    char resp[RESP_MAX];
    size_t resp_len;
} replay_run_t;

/* libcurl write callback: keep the first RESP_MAX-1 bytes of the answer. */
static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    replay_run_t *r = arg;
    size_t n = size * nmemb, room = RESP_MAX - 1 - r->resp_len, k = n < room ? n : room;
    memcpy(r->resp + r->resp_len, p, k);
    r->resp_len += k;
    r->resp[r->resp_len] = '\0';
    return n;
}

/* POST the batch once; returns the HTTP status, or -1 on a transport error. */
static long post_once(replay_run_t *r, long *retry_after)
{
    r->resp_len = 0;
    r->resp[0] = '\0';
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->batch.buf);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->batch.len);
    CURLcode rc = curl_easy_perform(r->easy);
    if (rc != CURLE_OK) {
        fprintf(stderr, "logdistd: replay-wal: POST %s: %s\n", r->o->url, curl_easy_strerror(rc));
        return -1;
    }
    long code = 0;
    curl_off_t ra = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &ra);
    *retry_after = ra <= 0 ? 1 : ra > BUSY_WAIT_MAX_S ? BUSY_WAIT_MAX_S : (long)ra;
    return code;
}

/* Remember the batch's seqs as acknowledged. 0 or -ENOMEM. */
static int note_acked(replay_run_t *r)
{
    if (r->nacked + r->batch.n > r->acked_cap) {
        size_t nc = r->acked_cap ? r->acked_cap * 2 : 4096;
        while (nc < r->nacked + r->batch.n)
            nc *= 2;
        uint64_t *nv = realloc(r->acked, nc * sizeof *nv);
        if (!nv) return -ENOMEM;
        r->acked = nv;
        r->acked_cap = nc;
    }
    memcpy(r->acked + r->nacked, r->batch.seqs, r->batch.n * sizeof *r->acked);
    r->nacked += r->batch.n;
    return 0;
}

/* Send the current batch (429/503 retried a few times); 202 -> acknowledged,
 * anything else stops the run. Empties the batch. 0 or -ENOMEM. */
static int send_batch(replay_run_t *r)
{
    if (!r->batch.n) return 0;
    replay_batch_close(&r->batch);
    long code = -1, wait = 1;
    for (int i = 0; i < BUSY_TRIES; i++) {
        code = post_once(r, &wait);
        if (code != 429 && code != 503) break;
        if (i + 1 < BUSY_TRIES) sleep((unsigned)wait);
    }
    r->batches++;
    int rc = 0;
    if (code == 202) {
        size_t acc = replay_parse_accepted(r->resp, r->resp_len, r->batch.n);
        r->sent += acc;
        r->rejected += r->batch.n - acc;
        rc = note_acked(r);
    } else {
        if (code > 0)
            fprintf(stderr, "logdistd: replay-wal: POST %s answered %ld: %.300s\n", r->o->url, code,
                    r->resp);
        r->failed += r->batch.n;
        r->stopped = true;
    }
    replay_batch_reset(&r->batch);
    return rc;
}

/* wal_replay callback: add the record to the batch, sending the batch first when
 * it is full; after a failure only count. */
static int on_record(void *ctx, uint64_t seq, const char *rec, size_t len)
{
    replay_run_t *r = ctx;
    if (r->stopped) {
        r->failed++;
        return 0;
    }
    if (replay_batch_full_for(&r->batch, len)) {
        int rc = send_batch(r);
        if (rc) return rc;
        if (r->stopped) {
            r->failed++;
            return 0;
        }
    }
    return replay_batch_add(&r->batch, seq, rec, len);
}

/* Easy handle and headers for the target. 0 or -1. */
static int setup_http(replay_run_t *r)
{
    char auth[TOKEN_MAX + 32];
    r->headers = curl_slist_append(NULL, "Content-Type: application/json");
    r->headers = curl_slist_append(r->headers, "X-Logdist-Durability: critical");
    r->headers = curl_slist_append(r->headers, "Expect:");
    if (r->o->token[0]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", r->o->token);
        r->headers = curl_slist_append(r->headers, auth);
        memset(auth, 0, sizeof auth);
    }
    r->easy = curl_easy_init();
    if (!r->headers || !r->easy) return -1;
    curl_easy_setopt(r->easy, CURLOPT_URL, r->o->url);
    curl_easy_setopt(r->easy, CURLOPT_PROXY, "");
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "logdistd-replay-wal/1");
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, r->o->timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    if (r->o->cacert) curl_easy_setopt(r->easy, CURLOPT_CAINFO, r->o->cacert);
    return 0;
}

/* Open the WAL, send, acknowledge, print the summary. Returns the exit status. */
static int run(const replay_opts_t *o)
{
    replay_run_t r = {.o = o};
    wal_t *wal = NULL;
    int status = 1, rc;
    if (replay_batch_init(&r.batch, o->batch_records, o->batch_bytes) || setup_http(&r)) {
        fprintf(stderr, "logdistd: replay-wal: out of memory\n");
        goto out;
    }
    wal_options_t wo = {.dir = o->dir};
    wal_open_stats_t st;
    if ((rc = wal_open(&wo, &wal, &st))) {
        fprintf(stderr, "logdistd: replay-wal: cannot open the WAL in %s: %s\n", o->dir,
                strerror(-rc));
        goto out;
    }
    fprintf(stderr,
            "logdistd: replay-wal: %s: %" PRIu64 " segments, %" PRIu64 " records of which %" PRIu64
            " acknowledged\n",
            o->dir, st.segments, st.records, st.acked);
    rc = wal_replay(wal, on_record, &r);
    if (!rc && !r.stopped) rc = send_batch(&r);
    if (!rc && r.nacked) rc = wal_ack(wal, r.acked, r.nacked);
    if (!rc) rc = wal_sync(wal);
    if (!rc) rc = wal_flush(wal);
    if (rc) {
        fprintf(stderr, "logdistd: replay-wal: %s\n", strerror(-rc));
        r.failed += r.batch.n;
    }
    printf("{\"replay_wal\":\"%s\",\"records_sent\":%" PRIu64 ",\"records_failed\":%" PRIu64
           ",\"records_rejected\":%" PRIu64 ",\"batches\":%" PRIu64 "}\n",
           o->dir, r.sent, r.failed, r.rejected, r.batches);
    fflush(stdout);
    status = rc || r.failed ? 1 : 0;
out:
    wal_close(wal);
    replay_batch_free(&r.batch);
    free(r.acked);
    if (r.easy) curl_easy_cleanup(r.easy);
    curl_slist_free_all(r.headers);
    return status;
}

/* ---------------------------------------------------------------------------------- */
/* options */

bool replay_wal_requested(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--replay-wal") || !strncmp(argv[i], "--replay-wal=", 13)) return true;
    return false;
}

/* Read the first line of path into o->token. 0 or -1 (with a message). */
static int read_token_file(replay_opts_t *o, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "logdistd: replay-wal: --token-file %s: %s\n", path, strerror(errno));
        return -1;
    }
    bool ok = fgets(o->token, sizeof o->token, f) != NULL;
    fclose(f);
    o->token[strcspn(o->token, "\r\n")] = '\0';
    if (!ok || !o->token[0]) {
        fprintf(stderr, "logdistd: replay-wal: --token-file %s: empty\n", path);
        return -1;
    }
    return 0;
}

/* Parse a count option in [1, max] (common/util's parse_uint); false when invalid. */
static bool parse_count(const char *s, size_t max, size_t *out)
{
    uint64_t v;
    if (parse_uint(s, 1, max, &v)) return false;
    *out = (size_t)v;
    return true;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: logdistd --replay-wal DIR --to URL [--token-file FILE] [options]\n"
               "Re-send the unacknowledged records of a stopped node's WAL (its --data-dir)\n"
               "through a live node; the token comes from --token-file or LOGDIST_TOKEN.\n"
               "  --batch-records N   records per POST (default 500, max 100000)\n"
               "  --batch-bytes N     bytes per POST (default 1048576)\n"
               "  --timeout-ms N      per-request timeout (default 30000)\n"
               "  --cacert FILE       CA to verify an https:// target\n");
}

/* Fill o from argv; 0, or the exit status for invalid use (2). */
static int parse_opts(replay_opts_t *o, int argc, char **argv)
{
    enum { O_DIR = 256, O_TO, O_TOKEN_FILE, O_BREC, O_BBYTES, O_TIMEOUT, O_CACERT };
    static const struct option opts[] = {
        {"replay-wal", required_argument, NULL, O_DIR},
        {"to", required_argument, NULL, O_TO},
        {"token-file", required_argument, NULL, O_TOKEN_FILE},
        {"batch-records", required_argument, NULL, O_BREC},
        {"batch-bytes", required_argument, NULL, O_BBYTES},
        {"timeout-ms", required_argument, NULL, O_TIMEOUT},
        {"cacert", required_argument, NULL, O_CACERT},
        {NULL, 0, NULL, 0},
    };
    const char *to = NULL, *token_file = NULL;
    size_t v;
    int c;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_DIR:
            o->dir = optarg;
            break;
        case O_TO:
            to = optarg;
            break;
        case O_TOKEN_FILE:
            token_file = optarg;
            break;
        case O_BREC:
            if (!parse_count(optarg, 100000, &o->batch_records)) goto bad;
            break;
        case O_BBYTES:
            if (!parse_count(optarg, (size_t)1 << 30, &o->batch_bytes)) goto bad;
            break;
        case O_TIMEOUT:
            if (!parse_count(optarg, 3600000, &v)) goto bad;
            o->timeout_ms = (long)v;
            break;
        case O_CACERT:
            o->cacert = optarg;
            break;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc || !o->dir || !to) {
        fprintf(stderr, "logdistd: replay-wal: --replay-wal DIR and --to URL are required%s\n",
                optind < argc ? " (and nothing else)" : "");
        usage(stderr);
        return 2;
    }
    if (replay_logs_url(to, o->url, sizeof o->url)) {
        fprintf(stderr, "logdistd: replay-wal: --to wants an http:// or https:// URL\n");
        return 2;
    }
    const char *env = getenv("LOGDIST_TOKEN");
    if (token_file && read_token_file(o, token_file)) return 2;
    if (!token_file && env && *env) snprintf(o->token, sizeof o->token, "%s", env);
    return 0;
bad:
    fprintf(stderr, "logdistd: replay-wal: bad value '%s'\n", optarg);
    usage(stderr);
    return 2;
}

int replay_wal_main(int argc, char **argv)
{
    static replay_opts_t o; /* static: the token buffer stays off the stack */
    memset(&o, 0, sizeof o);
    o.timeout_ms = 30000;
    o.batch_records = 500;
    o.batch_bytes = 1 << 20;
    int rc = parse_opts(&o, argc, argv);
    if (rc) return rc;
    struct stat sb;
    if (stat(o.dir, &sb) || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "logdistd: replay-wal: %s is not a directory\n", o.dir);
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 1;
    rc = run(&o);
    curl_global_cleanup();
    memset(o.token, 0, sizeof o.token);
    return rc;
}
