/*
 * durable.c - see durable.h.
 *
 * Threads talk only through common/mailbox: jobs -> writer (in_mb), rounds ->
 * syncer (sync_mb), completions -> the submitting ingest loop (done_mb, or
 * the mailbox given to durable_submit_to); each plain
 * consumer takes everything queued at once, which is what makes a round.
 *
 * Two threads, pipelined. The writer takes every queued job, appends the
 * records of the packet jobs, applies the ack jobs and write()s the round
 * (wal_flush), then hands the round to the syncer with the descriptors of the
 * segments it wrote (wal_take_sync) and goes on with the next round. The
 * syncer takes every round handed to it, issues ONE fdatasync per segment for
 * all of them (one, unless a round rolled: group commit), and posts
 * their packets back to the ingest loop. So appends for round N+1 overlap the
 * fsync of round N, and the fsync rate adapts to the disk by itself.
 *
 * Failures (wal.h "Write and fsync failures"): a failed write fails the whole
 * round (wal_flush). Only the syncer fdatasyncs data (a roll does not), so it
 * sees every fsync error. An error bumps fail_gen; a round fails when its own
 * fsync failed or fail_gen moved since the writer started it (its bytes may
 * sit in a file that failed). The writer, seeing fail_gen move, abandons the
 * active segment before its next round. The records of every failed packet
 * are acknowledged in the WAL (never replayed: their agent got a 503).
 */
#include "store/durable.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mailbox.h"
#include "common/util.h"
#include "core/metrics.h"
#include "record/scan.h"
#include "store/queue.h"

typedef struct job {
    mailbox_msg_t msg; /* first: its completion, posted to the ingest loop */
    struct job *next;
    durable_t *d;
    packet_t *p; /* NULL for an ack job */
    durable_done_fn done;
    void *ctx;
    mailbox_t *done_mb; /* where the completion runs (the submitting loop's) */
    int status;
    bool refused; /* every durable record appended, then the round failed */
    uint64_t *acks;
    size_t nacks;
} job_t;

typedef struct round {
    mailbox_msg_t msg; /* first: posted to the syncer */
    durable_t *d;
    struct round *next;
    job_t *head, *tail; /* packet jobs, written, waiting for the fsync */
    wal_sync_fd_t *fds; /* segments written (wal_take_sync); owned */
    size_t nfds;
    uint64_t gen; /* fail_gen when the writer started the round */
} round_t;

struct durable {
    wal_t *wal;
    pthread_t thread, syncer;
    bool running;
    mailbox_t *in_mb;   /* jobs -> writer: each take is one round */
    mailbox_t *sync_mb; /* rounds -> syncer: each take is one group fsync */
    atomic_bool stop, s_stop;
    pthread_mutex_t start_mu; /* durable_start waits until both threads are bound */
    pthread_cond_t start_cv;
    int bound;
    _Atomic uint64_t fail_gen; /* fsync failures seen (syncer writes, writer reads) */
    _Atomic int fail_err;      /* the latest one's -errno */
    uint64_t writer_gen;       /* writer only: fail_gen it last acted on */

    mailbox_t *done_mb;  /* completions, run by the ingest loop */
    atomic_bool closing; /* durable_free: completions only free their packets */
};

/* A completion on the ingest thread (mailbox message). */
static void run_done(mailbox_msg_t *msg)
{
    job_t *j = (job_t *)msg;
    if (atomic_load(&j->d->closing))
        packet_free(j->p); /* nobody waits any more: on disk (or refused), replayed if live */
    else
        j->done(j->ctx, j->p, j->status);
    free(j);
}

durable_t *durable_new(wal_t *wal, struct event_base *completion_base)
{
    durable_t *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->wal = wal;
    pthread_mutex_init(&d->start_mu, NULL);
    pthread_cond_init(&d->start_cv, NULL);
    d->done_mb = mailbox_new(completion_base);
    d->in_mb = mailbox_new(NULL);
    d->sync_mb = mailbox_new(NULL);
    if (!d->done_mb || !d->in_mb || !d->sync_mb) {
        mailbox_free(d->done_mb);
        mailbox_free(d->in_mb);
        mailbox_free(d->sync_mb);
        pthread_mutex_destroy(&d->start_mu);
        pthread_cond_destroy(&d->start_cv);
        free(d);
        return NULL;
    }
    atomic_store(&g_metrics.wal_bytes, wal_disk_bytes(wal));
    atomic_store(&g_metrics.wal_live_records, wal_live_records(wal));
    return d;
}

/* A job run outside a round: only while shutting down (a job posted after the
 * writer's last take, or left when it never started). Acks are applied;
 * a packet is freed unanswered (its records, if written, are replayed). */
static void job_standalone(mailbox_msg_t *msg)
{
    job_t *j = (job_t *)msg;
    if (j->acks) wal_ack(j->d->wal, j->acks, j->nacks);
    packet_free(j->p);
    free(j->acks);
    free(j);
}

static void enqueue(durable_t *d, job_t *j)
{
    j->d = d;
    j->msg.fn = job_standalone; /* the writer recognises its jobs by this */
    mailbox_post(d->in_mb, &j->msg);
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

/* Fail every job of a list that has not failed yet; returns how many records
 * of those jobs are durable (to acknowledge: the packets are refused). */
static size_t fail_jobs(job_t *head, int rc)
{
    size_t n = 0;
    for (job_t *j = head; j; j = j->next) {
        if (j->status) continue;
        j->status = rc;
        j->refused = true;
        for (size_t i = 0; i < j->p->count; i++)
            n += j->p->seqs[i] != 0;
    }
    return n;
}

/* The seqs of the records of refused jobs (all appended, so their seqs are
 * real). NULL when none or out of memory (then they are replayed after a
 * crash: a duplicate of a refused packet, never a loss). */
static uint64_t *refused_seqs(job_t *head, size_t n)
{
    uint64_t *v = n ? malloc(n * sizeof *v) : NULL;
    if (!v) return NULL;
    size_t k = 0;
    for (job_t *j = head; j; j = j->next)
        if (j->refused)
            for (size_t i = 0; i < j->p->count; i++)
                if (j->p->seqs[i] && k < n) v[k++] = j->p->seqs[i];
    return v;
}

static void sync_batch(durable_t *d, round_t *r);

/* A round synced on its own: left in the syncer's mailbox at shutdown. */
static void round_standalone(mailbox_msg_t *msg)
{
    round_t *r = (round_t *)msg;
    r->next = NULL;
    sync_batch(r->d, r);
}

static void to_syncer(durable_t *d, round_t *r)
{
    r->d = d;
    r->msg.fn = round_standalone; /* the syncer recognises rounds by this */
    mailbox_post(d->sync_mb, &r->msg);
}

static void close_fds(wal_sync_fd_t *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close(fds[i].fd);
    free(fds);
}

static void run_round(durable_t *d, job_t *list)
{
    /* an fsync failed since the last round: never write to that file again */
    uint64_t gen = atomic_load(&d->fail_gen);
    if (gen != d->writer_gen) {
        wal_abandon(d->wal);
        d->writer_gen = gen;
    }
    job_t *done_head = NULL, *done_tail = NULL;
    for (job_t *j = list; j;) {
        job_t *next = j->next;
        if (!j->p) {
            wal_ack(d->wal, j->acks, j->nacks);
            free(j->acks);
            free(j);
        } else {
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
    int rc = wal_flush(d->wal); /* on failure the WAL refused the round's records */
    wal_sync_fd_t *fds = NULL;
    size_t nfds = 0;
    if (!rc && done_head) rc = wal_take_sync(d->wal, &fds, &nfds);
    if (rc) {
        size_t n = fail_jobs(done_head, rc);
        uint64_t *seqs = refused_seqs(done_head, n);
        if (seqs) wal_ack(d->wal, seqs, n);
        free(seqs);
    }
    atomic_store_explicit(&g_metrics.wal_bytes, wal_disk_bytes(d->wal), memory_order_relaxed);
    atomic_store_explicit(&g_metrics.wal_live_records, wal_live_records(d->wal),
                          memory_order_relaxed);
    round_t *r = rc || !done_head ? NULL : malloc(sizeof *r);
    if (r) {
        *r = (round_t){.head = done_head, .tail = done_tail, .fds = fds, .nfds = nfds, .gen = gen};
        to_syncer(d, r);
        return;
    }
    if (!rc && done_head) { /* no memory for the round: sync here */
        for (size_t i = 0; i < nfds && !rc; i++)
            rc = wal_fdatasync_fd(d->wal, fds[i].fd);
        METRIC_ADD(wal_fsyncs, 1);
        if (rc) {
            wal_abandon(d->wal);
            size_t n = fail_jobs(done_head, rc);
            uint64_t *seqs = refused_seqs(done_head, n);
            if (seqs) wal_ack(d->wal, seqs, n);
            free(seqs);
        }
    }
    close_fds(fds, nfds);
    post_done(d, done_head, done_tail);
}

/* Hand finished packet jobs back to the ingest loop, in order. */
static void post_done(durable_t *d, job_t *done_head, job_t *done_tail)
{
    (void)done_tail;
    for (job_t *j = done_head, *next; j; j = next) {
        next = j->next;
        j->d = d;
        j->msg.fn = run_done;
        mailbox_post(j->done_mb ? j->done_mb : d->done_mb, &j->msg);
    }
}

static void mark_bound(durable_t *d)
{
    pthread_mutex_lock(&d->start_mu);
    d->bound++;
    pthread_cond_broadcast(&d->start_cv);
    pthread_mutex_unlock(&d->start_mu);
}

/* Split a taken list into the messages recognised by `fn` (returned, in order,
 * still linked by msg.next) and the others (*rest, e.g. call_sync messages). */
static mailbox_msg_t *split_list(mailbox_msg_t *list, mailbox_fn fn, mailbox_msg_t **rest)
{
    mailbox_msg_t *mine = NULL, **mt = &mine, **rt = rest;
    *rest = NULL;
    for (mailbox_msg_t *m = list, *next; m; m = next) {
        next = m->next;
        m->next = NULL;
        if (m->fn == fn) {
            *mt = m;
            mt = &m->next;
        } else {
            *rt = m;
            rt = &m->next;
        }
    }
    return mine;
}

static void *writer_main(void *arg)
{
    durable_t *d = arg;
    mailbox_bind(d->in_mb);
    mark_bound(d);
    for (;;) {
        bool stop = atomic_load(&d->stop);
        mailbox_msg_t *list = mailbox_take_all(d->in_mb, !stop), *rest;
        if (!list && stop) break;
        job_t *jobs = NULL, **tail = &jobs;
        for (mailbox_msg_t *m = split_list(list, job_standalone, &rest); m; m = m->next) {
            *tail = (job_t *)m;
            tail = &((job_t *)m)->next;
        }
        *tail = NULL;
        if (jobs) run_round(d, jobs); /* every job taken at once: one round */
        mailbox_run_list(rest);       /* e.g. durable_wait_idle's call_sync */
    }
    mailbox_unbind(d->in_mb);
    return NULL;
}

#define REPLAY_PACKET_RECORDS 1000
#define REPLAY_PACKET_BYTES (1u << 20)

typedef struct {
    durable_t *d;
    pkt_queue_t *queue;
    scan_limits_t lim; /* ingest's, plus the array level replay adds */
    char *buf;         /* "[r1,r2,...": the chunk being built */
    size_t len, cap;
    uint64_t *seqs; /* per record of the chunk */
    size_t *offs;   /* where each record starts in buf */
    size_t n;
    long total;
    uint64_t *quarantined; /* seqs to acknowledge once wal_replay returns */
    size_t nq, qcap;
} replay_t;

/* Queue the scanned chunk buf[0..len) (ownership of buf and seqs moves). */
static int replay_push(replay_t *r, char *buf, size_t len, uint64_t *seqs, scan_result_t *sr)
{
    packet_t *p = calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    p->decoded = buf;
    p->data = buf;
    p->len = len;
    p->records = sr->records; /* take the table */
    p->count = sr->count;
    p->seqs = seqs;
    for (size_t i = 0; i < p->count; i++)
        p->record_bytes += p->records[i].rec.len;
    p->accepted_us = now_us();
    p->held_bytes = packet_held_bytes(p, p->count);
    queue_reserve_force(r->queue, p->held_bytes, p->count);
    queue_push(r->queue, p);
    METRIC_ADD(records_replayed, p->count);
    r->total += (long)p->count;
    return 0;
}

/* A record that does not parse on its own can never be delivered: save it
 * (wal_quarantine) and acknowledge it after the replay, or, if it cannot be
 * saved, leave it in the WAL. Counted and logged either way, never silent. */
static void replay_reject(replay_t *r, uint64_t seq, const char *rec, size_t len, int status)
{
    METRIC_ADD(records_replay_failed, 1);
    int rc = wal_quarantine(r->d->wal, seq, rec, len);
    if (rc) {
        log_error("durable",
                  "replayed record seq %llu (%zu bytes) does not parse (%s) and cannot "
                  "be quarantined (%s): kept in the WAL",
                  (unsigned long long)seq, len, scan_status_name(status), strerror(-rc));
        return;
    }
    log_error("durable",
              "replayed record seq %llu (%zu bytes) does not parse (%s): moved to "
              "quarantine-%016llx.rec in the data directory",
              (unsigned long long)seq, len, scan_status_name(status), (unsigned long long)seq);
    if (r->nq == r->qcap) {
        size_t nc = r->qcap ? r->qcap * 2 : 16;
        uint64_t *nv = realloc(r->quarantined, nc * sizeof *nv);
        if (!nv) return; /* stays live: replayed (and quarantined) again next start */
        r->quarantined = nv;
        r->qcap = nc;
    }
    r->quarantined[r->nq++] = seq;
}

/* The chunk did not parse: scan each record alone, reject those that fail,
 * and rebuild the chunk from the others (which then parses). */
static int replay_sift(replay_t *r)
{
    size_t nbcap = r->len + 1;
    char *nb = malloc(nbcap), *one = malloc(r->len + 2);
    if (!nb || !one) {
        free(nb);
        free(one);
        return -ENOMEM;
    }
    size_t nlen = 0, kept = 0;
    scan_result_t sr = {0};
    for (size_t k = 0; k < r->n; k++) {
        size_t off = r->offs[k] + 1;                             /* after '[' or ',' */
        size_t end = k + 1 < r->n ? r->offs[k + 1] : r->len - 1; /* before the next ',' / ']' */
        size_t len = end - off;
        one[0] = '[';
        memcpy(one + 1, r->buf + off, len);
        one[len + 1] = ']';
        int rc = scan_body(one, len + 2, SCAN_FORMAT_JSON, &r->lim, &sr);
        if (rc != SCAN_OK || sr.count != 1) {
            replay_reject(r, r->seqs[k], r->buf + off, len, rc != SCAN_OK ? rc : SCAN_ERR_SHAPE);
            continue;
        }
        nb[nlen++] = kept ? ',' : '[';
        memcpy(nb + nlen, r->buf + off, len);
        nlen += len;
        r->seqs[kept++] = r->seqs[k];
    }
    free(one);
    free(r->buf);
    r->buf = nb;
    r->cap = nbcap;
    r->len = nlen;
    r->n = kept;
    if (kept) r->buf[r->len++] = ']';
    scan_result_free(&sr);
    return 0;
}

/* Turn the accumulated records into one packet and queue it. */
static int replay_flush(replay_t *r)
{
    if (!r->n) return 0;
    scan_result_t sr = {0};
    r->buf[r->len++] = ']'; /* replay_record always leaves room for it */
    int rc = scan_body(r->buf, r->len, SCAN_FORMAT_JSON, &r->lim, &sr);
    if (rc != SCAN_OK || sr.count != r->n) {
        scan_result_free(&sr);
        memset(&sr, 0, sizeof sr);
        if ((rc = replay_sift(r))) return rc;
        rc = r->n ? scan_body(r->buf, r->len, SCAN_FORMAT_JSON, &r->lim, &sr) : SCAN_OK;
        if (rc != SCAN_OK || sr.count != r->n) { /* each parsed alone: cannot happen */
            log_error("durable",
                      "%zu replayed records parse alone but not together (%s): kept "
                      "in the WAL",
                      r->n, scan_status_name(rc));
            scan_result_free(&sr);
            r->n = 0;
        }
    }
    if (r->n) {
        if ((rc = replay_push(r, r->buf, r->len, r->seqs, &sr))) {
            scan_result_free(&sr);
            return rc;
        }
        r->buf = NULL;
        r->seqs = NULL;
    }
    r->len = r->n = 0; /* buf and seqs are reused when not handed over */
    return 0;
}

/* Records are joined as a JSON array ("[r1,r2,...]"): they may span lines
 * (pretty-printed), so NDJSON would not do. */
static int replay_record(void *ctx, uint64_t seq, const char *rec, size_t len)
{
    replay_t *r = ctx;
    if (!r->seqs && !(r->seqs = malloc(REPLAY_PACKET_RECORDS * sizeof *r->seqs))) return -ENOMEM;
    if (!r->offs && !(r->offs = malloc(REPLAY_PACKET_RECORDS * sizeof *r->offs))) return -ENOMEM;
    if (!r->buf) r->cap = 0; /* handed over with the last packet */
    if (!r->buf || r->len + len + 2 > r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 65536;
        while (nc < r->len + len + 2)
            nc *= 2;
        char *nb = realloc(r->buf, nc);
        if (!nb) return -ENOMEM;
        r->buf = nb;
        r->cap = nc;
    }
    r->offs[r->n] = r->len;
    r->buf[r->len++] = r->n ? ',' : '[';
    memcpy(r->buf + r->len, rec, len);
    r->len += len;
    r->seqs[r->n++] = seq;
    if (r->n == REPLAY_PACKET_RECORDS || r->len >= REPLAY_PACKET_BYTES) return replay_flush(r);
    return 0;
}

long durable_replay(durable_t *d, pkt_queue_t *queue, const scan_limits_t *ingest)
{
    replay_t r = {.d = d, .queue = queue};
    /* what ingest accepted: a record at depth max_depth as NDJSON is one level
     * deeper inside the replay array */
    uint32_t depth = ingest && ingest->max_depth ? ingest->max_depth : 64;
    r.lim.max_depth = depth + 1;
    r.lim.max_records = REPLAY_PACKET_RECORDS + 1;
    r.lim.max_record_bytes = ingest ? ingest->max_record_bytes : 0;
    int rc = wal_replay(d->wal, replay_record, &r);
    if (!rc) rc = replay_flush(&r);
    free(r.buf);
    free(r.seqs);
    free(r.offs);
    if (!rc && r.nq) rc = wal_ack(d->wal, r.quarantined, r.nq);
    if (!rc && r.nq) rc = wal_sync(d->wal);
    free(r.quarantined);
    return rc ? rc : r.total;
}

/* fdatasync each segment the rounds wrote, once (group commit); 0 or the
 * first error. */
static int sync_rounds(durable_t *d, round_t *list)
{
    int rc = 0;
    for (round_t *r = list; r; r = r->next)
        for (size_t i = 0; i < r->nfds; i++) {
            bool seen = false; /* an earlier descriptor of the same segment */
            for (round_t *q = list; q && !seen; q = q == r ? NULL : q->next)
                for (size_t k = 0; k < (q == r ? i : q->nfds) && !seen; k++)
                    seen = q->fds[k].segment == r->fds[i].segment;
            if (seen) continue;
            int e = wal_fdatasync_fd(d->wal, r->fds[i].fd);
            if (e && !rc) rc = e;
        }
    return rc;
}

/* One group commit: fsync what the rounds wrote, settle their jobs, post them. */
static void sync_batch(durable_t *d, round_t *r)
{
    int rc = sync_rounds(d, r);
    METRIC_ADD(wal_fsyncs, 1);
    if (rc) {
        log_event(LOG_ERROR, "durable", "wal_error",
                  LOG_FIELDS(LF_STR("op", "fdatasync"), LF_STR("error", strerror(-rc))),
                  "fdatasync failed: %s; refusing the packets that waited on it", strerror(-rc));
        atomic_store(&d->fail_err, rc);
        atomic_fetch_add(&d->fail_gen, 1);
    }
    /* a round started before any failure seen since then may sit in a failed file */
    uint64_t gen = atomic_load(&d->fail_gen);
    int late_err = atomic_load(&d->fail_err);
    job_t *head = NULL, *tail = NULL;
    size_t nrefused = 0;
    while (r) {
        round_t *n = r->next;
        close_fds(r->fds, r->nfds);
        int st = rc ? rc : r->gen != gen ? late_err : 0;
        if (st) nrefused += fail_jobs(r->head, st);
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
    if (nrefused) { /* acknowledged by the writer: never replayed */
        uint64_t *seqs = refused_seqs(head, nrefused);
        if (seqs) durable_ack(d, seqs, nrefused);
        free(seqs);
    }
    post_done(d, head, tail);
}

static void *syncer_main(void *arg)
{
    durable_t *d = arg;
    mailbox_bind(d->sync_mb);
    mark_bound(d);
    for (;;) {
        bool stop = atomic_load(&d->s_stop);
        mailbox_msg_t *list = mailbox_take_all(d->sync_mb, !stop), *rest;
        if (!list && stop) break;
        round_t *rounds = NULL, **tail = &rounds;
        for (mailbox_msg_t *m = split_list(list, round_standalone, &rest); m; m = m->next) {
            *tail = (round_t *)m;
            tail = &((round_t *)m)->next;
        }
        *tail = NULL;
        if (rounds) sync_batch(d, rounds); /* every round handed over: one group fsync */
        mailbox_run_list(rest);
    }
    mailbox_unbind(d->sync_mb);
    return NULL;
}

static void stop_thread(atomic_bool *flag, mailbox_t *mb, pthread_t t)
{
    atomic_store(flag, true);
    mailbox_wake(mb);
    pthread_join(t, NULL);
}

int durable_start(durable_t *d)
{
    if (pthread_create(&d->syncer, NULL, syncer_main, d)) return -1;
    if (pthread_create(&d->thread, NULL, writer_main, d)) {
        stop_thread(&d->s_stop, d->sync_mb, d->syncer);
        return -1;
    }
    pthread_mutex_lock(&d->start_mu); /* bound: call_sync now waits for them */
    while (d->bound < 2)
        pthread_cond_wait(&d->start_cv, &d->start_mu);
    pthread_mutex_unlock(&d->start_mu);
    d->running = true;
    return 0;
}

static void noop(void *arg)
{
    (void)arg;
}

void durable_wait_idle(durable_t *d)
{
    if (!d || !d->running) return;
    mailbox_call_sync(d->in_mb, noop, NULL);   /* after the round of every earlier job */
    mailbox_call_sync(d->sync_mb, noop, NULL); /* after the fsync of every earlier round */
}

void durable_free(durable_t *d)
{
    if (!d) return;
    if (d->running) {
        stop_thread(&d->stop, d->in_mb, d->thread);
        stop_thread(&d->s_stop, d->sync_mb, d->syncer); /* it finishes what it was handed */
    }
    /* left over: acks the syncer posted for refused packets after the writer
     * stopped are applied; packets never started are freed (never answered) */
    mailbox_free(d->sync_mb); /* (a round synced here may post acks to in_mb) */
    mailbox_free(d->in_mb);
    if (d->running) wal_sync(d->wal); /* the acks written last */
    /* completions nobody will run: the packets are on disk (or refused) */
    atomic_store(&d->closing, true);
    mailbox_free(d->done_mb);
    wal_close(d->wal);
    pthread_mutex_destroy(&d->start_mu);
    pthread_cond_destroy(&d->start_cv);
    free(d);
}

void durable_submit(durable_t *d, packet_t *p, durable_done_fn done, void *ctx)
{
    durable_submit_to(d, NULL, p, done, ctx);
}

void durable_submit_to(durable_t *d, mailbox_t *done_mb, packet_t *p, durable_done_fn done,
                       void *ctx)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j) {
        done(ctx, p, -ENOMEM);
        return;
    }
    j->p = p;
    j->done = done;
    j->ctx = ctx;
    j->done_mb = done_mb;
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
