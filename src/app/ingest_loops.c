/*
 * ingest_loops.c - see ingest_loops.h.
 *
 * Ownership: a loop's base, server (listener, connections, HTTP server) and
 * ingest worker are touched only by its thread while it runs; the main thread
 * builds them before the thread starts and frees them after it was joined.
 * The main thread reaches a running loop only through its mailbox: the
 * shedding flag (an atomic: the latest value wins, one message in flight at
 * most, embedded, so posting never allocates under memory pressure), drain
 * and the stop (mailbox_call_sync: the caller waits). Threads block every
 * signal: they are the main loop's (SIGTERM, SIGINT, SIGHUP).
 */
#include "app/ingest_loops.h"

#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/mailbox.h"

typedef struct {
    mailbox_msg_t pause_msg; /* first: the message is the loop */
    struct event_base *base;
    mailbox_t *mb;           /* control and durable completions, run by this loop */
    ingest_worker_t *worker;
    server_t *srv;
    pkt_queue_t *queue;      /* deferred wakes (may be NULL) */
    pthread_t thread;
    bool started;
    atomic_bool want_paused;
    atomic_bool pause_posted;
} loop_t;

struct ingest_loops {
    unsigned count;
    loop_t *loops;
};

static void *loop_main(void *arg)
{
    loop_t *lp = arg;
    mailbox_bind(lp->mb);
    /* one wake of the delivery thread per turn of this loop (a failure only
     * costs a wake per packet into an empty queue) */
    bool deferred = lp->queue && queue_defer_wakes(lp->queue, lp->base) == 0;
    event_base_loop(lp->base, EVLOOP_NO_EXIT_ON_EMPTY); /* until ingest_loops_stop */
    if (deferred) queue_defer_wakes_end(lp->queue);
    mailbox_unbind(lp->mb); /* runs what is queued; call_sync runs inline from now on */
    return NULL;
}

ingest_loops_t *ingest_loops_new(unsigned count, const config_t *cfg, const char *host,
                                 uint16_t port, server_role_t role, tls_server_t *tls,
                                 ingest_t *ing, admin_t *adm, pkt_queue_t *queue)
{
    ingest_loops_t *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->loops = calloc(count ? count : 1, sizeof *l->loops);
    if (!l->loops) {
        free(l);
        return NULL;
    }
    for (unsigned i = 0; i < count; i++) {
        loop_t *lp = &l->loops[i];
        l->count = i + 1; /* freed by ingest_loops_free on failure */
        lp->queue = queue;
        struct event_config *ec = event_config_new();
        if (ec) event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        lp->base = ec ? event_base_new_with_config(ec) : NULL;
        if (ec) event_config_free(ec);
        if (!lp->base || !(lp->mb = mailbox_new(lp->base)) ||
            !(lp->worker = ingest_worker_new(ing, lp->base, lp->mb))) {
            log_error("ingest_loops", "ingest loop %u: out of memory", i + 1);
            goto fail;
        }
        lp->srv = server_new_on_loop(lp->base, cfg, host, port, role, tls, ing, lp->worker, adm,
                                     true);
        if (!lp->srv) goto fail; /* logged */
    }
    return l;
fail:
    ingest_loops_free(l);
    return NULL;
}

int ingest_loops_start(ingest_loops_t *l)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* inherited by the threads */
    int rc = 0;
    for (unsigned i = 0; i < l->count && !rc; i++) {
        loop_t *lp = &l->loops[i];
        if (pthread_create(&lp->thread, NULL, loop_main, lp)) {
            log_error("ingest_loops", "cannot start ingest loop %u", i + 1);
            rc = -1;
        } else {
            lp->started = true;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static void run_pause(mailbox_msg_t *msg)
{
    loop_t *lp = (loop_t *)msg;
    atomic_store(&lp->pause_posted, false); /* a change after this posts again */
    server_pause_accepting(lp->srv, atomic_load(&lp->want_paused));
}

void ingest_loops_pause_accepting(ingest_loops_t *l, bool paused)
{
    for (unsigned i = 0; l && i < l->count; i++) {
        loop_t *lp = &l->loops[i];
        atomic_store(&lp->want_paused, paused);
        if (!atomic_exchange(&lp->pause_posted, true)) {
            lp->pause_msg.fn = run_pause;
            mailbox_post(lp->mb, &lp->pause_msg);
        }
    }
}

static void run_drain(void *arg)
{
    loop_t *lp = arg;
    server_stop_accepting(lp->srv);
    ingest_worker_drain(lp->worker);
}

void ingest_loops_drain(ingest_loops_t *l)
{
    for (unsigned i = 0; l && i < l->count; i++)
        mailbox_call_sync(l->loops[i].mb, run_drain, &l->loops[i]);
}

static void noop(void *arg)
{
    (void)arg;
}

void ingest_loops_sync(ingest_loops_t *l)
{
    for (unsigned i = 0; l && i < l->count; i++)
        mailbox_call_sync(l->loops[i].mb, noop, NULL);
}

static void run_stop(void *arg)
{
    event_base_loopbreak(((loop_t *)arg)->base);
}

void ingest_loops_stop(ingest_loops_t *l)
{
    for (unsigned i = 0; l && i < l->count; i++) {
        loop_t *lp = &l->loops[i];
        if (!lp->started) continue;
        mailbox_call_sync(lp->mb, run_stop, lp);
        pthread_join(lp->thread, NULL);
        lp->started = false;
    }
}

void ingest_loops_free(ingest_loops_t *l)
{
    if (!l) return;
    ingest_loops_stop(l); /* never free a running loop */
    for (unsigned i = 0; i < l->count; i++) {
        loop_t *lp = &l->loops[i];
        /* completions and pauses still queued run here, with their server and
         * worker alive (a request whose client left drops its answer) */
        mailbox_free(lp->mb);
        lp->mb = NULL;
        server_free(lp->srv);          /* closes its connections */
        ingest_worker_free(lp->worker); /* parked requests: 503, dropped */
        if (lp->base) event_base_free(lp->base);
    }
    free(l->loops);
    free(l);
}
