/*
 * durable.c - see durable.h.
 *
 * Two threads, pipelined. The writer takes every queued job, appends the
 * records of the packet jobs, applies the ack jobs and write()s the round
 * (wal_flush), then hands the round to the syncer with a dup of the segment's
 * descriptor and goes on with the next round. The syncer takes every round
 * handed to it, issues ONE fdatasync for all of them (group commit), and posts
 * their packets back to the ingest loop. So appends for round N+1 overlap the
 * fsync of round N, and the fsync rate adapts to the disk by itself.
 */
#include "store/durable.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "core/metrics.h"
#include "ingest/scan.h"
#include "store/queue.h"

typedef struct job {
    struct job *next;
    packet_t *p; /* NULL for an ack job */
    durable_done_fn done;
    void *ctx;
    int status;
    uint64_t *acks;
    size_t nacks;
} job_t;

typedef struct round {
    struct round *next;
    job_t *head, *tail; /* packet jobs, written, waiting for the fsync */
    int fd;             /* dup of the segment they were written to */
} round_t;

struct durable {
    wal_t *wal;
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *in_head, *in_tail;
    bool stop;
    bool busy; /* a round is running */

    /* syncer */
    pthread_t syncer;
    pthread_mutex_t s_mu;
    pthread_cond_t s_cv;
    struct round *rounds, *rounds_tail;
    bool s_stop, s_busy;

    struct event *done_ev; /* on the ingest base */
    pthread_mutex_t done_mu;
    job_t *done_head, *done_tail;

};

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    durable_t *d = arg;
    pthread_mutex_lock(&d->done_mu);
    job_t *j = d->done_head;
    d->done_head = d->done_tail = NULL;
    pthread_mutex_unlock(&d->done_mu);
    while (j) {
        job_t *n = j->next;
        j->done(j->ctx, j->p, j->status);
        free(j);
        j = n;
    }
}

durable_t *durable_new(wal_t *wal, struct event_base *completion_base)
{
    durable_t *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->wal = wal;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    pthread_mutex_init(&d->done_mu, NULL);
    pthread_mutex_init(&d->s_mu, NULL);
    pthread_cond_init(&d->s_cv, NULL);
    d->done_ev = event_new(completion_base, -1, 0, on_done, d);
    if (!d->done_ev) {
        free(d);
        return NULL;
    }
    atomic_store(&g_metrics.wal_bytes, wal_disk_bytes(wal));
    atomic_store(&g_metrics.wal_live_records, wal_live_records(wal));
    return d;
}

static void enqueue(durable_t *d, job_t *j)
{
    j->next = NULL;
    pthread_mutex_lock(&d->mu);
    if (d->in_tail)
        d->in_tail->next = j;
    else
        d->in_head = j;
    d->in_tail = j;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/* Append a packet's durable records; on failure forget the ones appended. */
static int append_packet(durable_t *d, packet_t *p)
{
    if (!wal_has_room(d->wal, p->record_bytes, p->count)) return -ENOSPC;
    for (size_t i = 0; i < p->count; i++) {
        if (!p->seqs[i]) continue;
        const scan_record_t *r = &p->records[i];
        int rc = wal_append(d->wal, p->data + r->rec.off, r->rec.len, &p->seqs[i]);
        if (rc) {
            p->seqs[i] = 0;
            wal_ack(d->wal, p->seqs, i); /* never replay a refused packet */
            return rc;
        }
    }
    return 0;
}

static void post_done(durable_t *d, job_t *done_head, job_t *done_tail);

static void run_round(durable_t *d, job_t *list)
{
    job_t *done_head = NULL, *done_tail = NULL;
    bool had_packets = false;
    for (job_t *j = list; j;) {
        job_t *next = j->next;
        if (!j->p) {
            wal_ack(d->wal, j->acks, j->nacks);
            free(j->acks);
            free(j);
        } else {
            had_packets = true;
            j->status = append_packet(d, j->p);
            j->next = NULL;
            if (done_tail)
                done_tail->next = j;
            else
                done_head = j;
            done_tail = j;
        }
        j = next;
    }
    int rc = wal_flush(d->wal);
    int fd = -1;
    if (had_packets && !rc && (fd = wal_dup_fd(d->wal)) < 0) rc = -EIO;
    if (rc)
        for (job_t *j = done_head; j; j = j->next)
            if (!j->status) j->status = rc;
    atomic_store_explicit(&g_metrics.wal_bytes, wal_disk_bytes(d->wal), memory_order_relaxed);
    atomic_store_explicit(&g_metrics.wal_live_records, wal_live_records(d->wal),
                          memory_order_relaxed);
    if (fd >= 0) { /* to the syncer */
        round_t *r = malloc(sizeof *r);
        if (r) {
            *r = (round_t){NULL, done_head, done_tail, fd};
            pthread_mutex_lock(&d->s_mu);
            if (d->rounds_tail)
                d->rounds_tail->next = r;
            else
                d->rounds = r;
            d->rounds_tail = r;
            pthread_cond_broadcast(&d->s_cv);
            pthread_mutex_unlock(&d->s_mu);
            return;
        }
        rc = wal_fdatasync_fd(d->wal, fd); /* no memory: sync here */
        close(fd);
        if (rc)
            for (job_t *j = done_head; j; j = j->next)
                if (!j->status) j->status = rc;
    }
    post_done(d, done_head, done_tail);
}

/* Hand finished packet jobs back to the ingest loop. */
static void post_done(durable_t *d, job_t *done_head, job_t *done_tail)
{
    if (done_head) {
        pthread_mutex_lock(&d->done_mu);
        if (d->done_tail)
            d->done_tail->next = done_head;
        else
            d->done_head = done_head;
        d->done_tail = done_tail;
        pthread_mutex_unlock(&d->done_mu);
        event_active(d->done_ev, EV_READ, 0);
    }
}

static void *writer_main(void *arg)
{
    durable_t *d = arg;
    for (;;) {
        pthread_mutex_lock(&d->mu);
        while (!d->in_head && !d->stop) pthread_cond_wait(&d->cv, &d->mu);
        job_t *list = d->in_head;
        d->in_head = d->in_tail = NULL;
        bool stop = d->stop;
        d->busy = list != NULL;
        pthread_mutex_unlock(&d->mu);
        if (list) run_round(d, list);
        pthread_mutex_lock(&d->mu);
        d->busy = false;
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
        if (stop && !list) break;
    }
    return NULL;
}

#define REPLAY_PACKET_RECORDS 1000
#define REPLAY_PACKET_BYTES (1u << 20)

typedef struct {
    pkt_queue_t *queue;
    char *buf;
    size_t len, cap;
    uint64_t *seqs;
    size_t n;
    long total;
    int err;
} replay_t;

/* Turn the accumulated records (NDJSON) into one packet and queue it. */
static int replay_flush(replay_t *r)
{
    if (!r->n) return 0;
    scan_limits_t lim = {.max_depth = 1000, .max_records = REPLAY_PACKET_RECORDS + 1,
                         .max_record_bytes = 512u << 20};
    scan_result_t sr = {0};
    r->buf[r->len++] = ']'; /* replay_record always leaves room for it */
    int rc = scan_body(r->buf, r->len, SCAN_FORMAT_JSON, &lim, &sr);
    if (rc != SCAN_OK || sr.count != r->n) {
        log_error("durable", "replayed records do not parse (%s at %zu); %zu records skipped",
                  scan_status_name(rc), sr.err_offset, r->n);
        scan_result_free(&sr);
        free(r->buf);
        free(r->seqs);
    } else {
        packet_t *p = calloc(1, sizeof *p);
        if (!p) {
            scan_result_free(&sr);
            return -ENOMEM;
        }
        p->decoded = r->buf;
        p->data = r->buf;
        p->len = r->len;
        p->records = sr.records; /* take the table */
        p->count = sr.count;
        p->seqs = r->seqs;
        for (size_t i = 0; i < p->count; i++) p->record_bytes += p->records[i].rec.len;
        p->accepted_us = now_us();
        p->held_bytes = packet_held_bytes(p, p->count);
        queue_reserve_force(r->queue, p->held_bytes, p->count);
        queue_push(r->queue, p);
        METRIC_ADD(records_replayed, p->count);
        r->total += (long)p->count;
    }
    r->buf = NULL;
    r->seqs = NULL;
    r->len = r->cap = r->n = 0;
    return 0;
}

/* Records are joined as a JSON array ("[r1,r2,...]"): they may span lines
 * (pretty-printed), so NDJSON would not do. */
static int replay_record(void *ctx, uint64_t seq, const char *rec, size_t len)
{
    replay_t *r = ctx;
    if (!r->seqs && !(r->seqs = malloc(REPLAY_PACKET_RECORDS * sizeof *r->seqs))) return -ENOMEM;
    if (r->len + len + 2 > r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 65536;
        while (nc < r->len + len + 2) nc *= 2;
        char *nb = realloc(r->buf, nc);
        if (!nb) return -ENOMEM;
        r->buf = nb;
        r->cap = nc;
    }
    r->buf[r->len++] = r->n ? ',' : '[';
    memcpy(r->buf + r->len, rec, len);
    r->len += len;
    r->seqs[r->n++] = seq;
    if (r->n == REPLAY_PACKET_RECORDS || r->len >= REPLAY_PACKET_BYTES) return replay_flush(r);
    return 0;
}

long durable_replay(durable_t *d, pkt_queue_t *queue)
{
    replay_t r = {.queue = queue};
    int rc = wal_replay(d->wal, replay_record, &r);
    if (!rc) rc = replay_flush(&r);
    free(r.buf);
    free(r.seqs);
    return rc ? rc : r.total;
}

static void *syncer_main(void *arg)
{
    durable_t *d = arg;
    for (;;) {
        pthread_mutex_lock(&d->s_mu);
        while (!d->rounds && !d->s_stop) pthread_cond_wait(&d->s_cv, &d->s_mu);
        round_t *r = d->rounds;
        d->rounds = d->rounds_tail = NULL;
        d->s_busy = r != NULL;
        pthread_mutex_unlock(&d->s_mu);
        if (!r) break; /* stopping and nothing left */
        /* the newest descriptor covers every round: rounds written to an older
         * segment were fdatasync'ed when the writer rolled it */
        round_t *last = r;
        while (last->next) last = last->next;
        int rc = wal_fdatasync_fd(d->wal, last->fd);
        if (rc) log_error("durable", "fdatasync failed: %s", strerror(-rc));
        METRIC_ADD(wal_fsyncs, 1);
        job_t *head = NULL, *tail = NULL;
        while (r) {
            round_t *n = r->next;
            close(r->fd);
            for (job_t *j = r->head; j; j = j->next)
                if (rc && !j->status) j->status = rc;
            if (r->head) {
                if (tail)
                    tail->next = r->head;
                else
                    head = r->head;
                tail = r->tail;
            }
            free(r);
            r = n;
        }
        post_done(d, head, tail);
        pthread_mutex_lock(&d->s_mu);
        d->s_busy = false;
        pthread_cond_broadcast(&d->s_cv);
        pthread_mutex_unlock(&d->s_mu);
    }
    return NULL;
}

int durable_start(durable_t *d)
{
    if (pthread_create(&d->syncer, NULL, syncer_main, d)) return -1;
    if (pthread_create(&d->thread, NULL, writer_main, d)) {
        pthread_mutex_lock(&d->s_mu);
        d->s_stop = true;
        pthread_cond_broadcast(&d->s_cv);
        pthread_mutex_unlock(&d->s_mu);
        pthread_join(d->syncer, NULL);
        return -1;
    }
    d->running = true;
    return 0;
}

void durable_wait_idle(durable_t *d)
{
    if (!d || !d->running) return;
    pthread_mutex_lock(&d->mu);
    while (d->in_head || d->busy) pthread_cond_wait(&d->cv, &d->mu);
    pthread_mutex_unlock(&d->mu);
    pthread_mutex_lock(&d->s_mu);
    while (d->rounds || d->s_busy) pthread_cond_wait(&d->s_cv, &d->s_mu);
    pthread_mutex_unlock(&d->s_mu);
}

void durable_free(durable_t *d)
{
    if (!d) return;
    if (d->running) {
        pthread_mutex_lock(&d->mu);
        d->stop = true;
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
        pthread_join(d->thread, NULL);
        pthread_mutex_lock(&d->s_mu); /* the syncer finishes what the writer handed it */
        d->s_stop = true;
        pthread_cond_broadcast(&d->s_cv);
        pthread_mutex_unlock(&d->s_mu);
        pthread_join(d->syncer, NULL);
        wal_sync(d->wal); /* the acks written last */
    }
    /* completions nobody will run: the packets are on disk (or refused) */
    job_t *j = d->done_head;
    while (j) {
        job_t *n = j->next;
        packet_free(j->p);
        free(j);
        j = n;
    }
    j = d->in_head;
    while (j) {
        job_t *n = j->next;
        packet_free(j->p);
        free(j->acks);
        free(j);
        j = n;
    }
    event_free(d->done_ev);
    wal_close(d->wal);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->done_mu);
    pthread_mutex_destroy(&d->s_mu);
    pthread_cond_destroy(&d->s_cv);
    free(d);
}

void durable_submit(durable_t *d, packet_t *p, durable_done_fn done, void *ctx)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j) {
        done(ctx, p, -ENOMEM);
        return;
    }
    j->p = p;
    j->done = done;
    j->ctx = ctx;
    enqueue(d, j);
}

void durable_ack(durable_t *d, const uint64_t *seqs, size_t n)
{
    if (!n) return;
    job_t *j = calloc(1, sizeof *j);
    uint64_t *copy = malloc(n * sizeof *copy);
    if (!j || !copy) { /* the records stay live and are replayed: a duplicate, not a loss */
        free(j);
        free(copy);
        log_error("durable", "out of memory acknowledging %zu records", n);
        return;
    }
    memcpy(copy, seqs, n * sizeof *copy);
    j->acks = copy;
    j->nacks = n;
    enqueue(d, j);
}
