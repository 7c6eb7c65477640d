/*
 * mailbox.c - see mailbox.h.
 *
 * One mutex guards the queue, the bound thread and the wake flag. A loop
 * mailbox activates its event when a post makes the queue non-empty; the
 * callback takes the whole queue under the lock and runs it without the lock,
 * so a message may post again (it runs on the next turn). A call_sync message
 * lives on the caller's stack; the consumer marks it done under the lock and
 * the caller waits on `done_cv`.
 */
#include "common/mailbox.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>

#include "common/check.h"

struct mailbox {
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* plain consumer: a message arrived or wake */
    pthread_cond_t done_cv; /* call_sync callers: their message ran */
    mailbox_msg_t *head, *tail;
    struct event *ev; /* loop consumers only */
    bool bound;
    pthread_t owner;
    bool woken;
};

typedef struct {
    mailbox_msg_t msg;
    void (*fn)(void *arg);
    void *arg;
} fn_msg_t;

typedef struct {
    mailbox_msg_t msg;
    mailbox_t *m;
    void (*fn)(void *arg);
    void *arg;
    bool done;
} sync_msg_t;

static mailbox_msg_t *take_locked(mailbox_t *m)
{
    mailbox_msg_t *list = m->head;
    m->head = m->tail = NULL;
    return list;
}

void mailbox_run_list(mailbox_msg_t *list)
{
    while (list) {
        mailbox_msg_t *next = list->next;
        list->fn(list);
        list = next;
    }
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
    mailbox_t *m = arg;
    pthread_mutex_lock(&m->mu);
    mailbox_msg_t *list = take_locked(m);
    pthread_mutex_unlock(&m->mu);
    mailbox_run_list(list);
}

mailbox_t *mailbox_new(struct event_base *base)
{
    mailbox_t *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    if (base && !(m->ev = event_new(base, -1, 0, on_event, m))) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    pthread_cond_init(&m->done_cv, NULL);
    return m;
}

void mailbox_free(mailbox_t *m)
{
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    mailbox_msg_t *list = take_locked(m);
    m->bound = false;
    pthread_mutex_unlock(&m->mu);
    mailbox_run_list(list);
    if (m->ev) event_free(m->ev);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    pthread_cond_destroy(&m->done_cv);
    free(m);
}

void mailbox_post(mailbox_t *m, mailbox_msg_t *msg)
{
    LD_ASSERT(msg->fn);
    msg->next = NULL;
    pthread_mutex_lock(&m->mu);
    bool was_empty = !m->head;
    if (m->tail)
        m->tail->next = msg;
    else
        m->head = msg;
    m->tail = msg;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    /* an activation per empty -> non-empty change: the callback takes all */
    if (m->ev && was_empty) event_active(m->ev, EV_READ, 0);
}

static void run_fn_msg(mailbox_msg_t *msg)
{
    fn_msg_t *f = (fn_msg_t *)msg;
    f->fn(f->arg);
    free(f);
}

int mailbox_post_fn(mailbox_t *m, void (*fn)(void *arg), void *arg)
{
    fn_msg_t *f = malloc(sizeof *f);
    if (!f) return -ENOMEM;
    f->msg.fn = run_fn_msg;
    f->fn = fn;
    f->arg = arg;
    mailbox_post(m, &f->msg);
    return 0;
}

static void run_sync_msg(mailbox_msg_t *msg)
{
    sync_msg_t *s = (sync_msg_t *)msg;
    s->fn(s->arg);
    pthread_mutex_lock(&s->m->mu);
    s->done = true;
    pthread_cond_broadcast(&s->m->done_cv);
    pthread_mutex_unlock(&s->m->mu);
}

void mailbox_call_sync(mailbox_t *m, void (*fn)(void *arg), void *arg)
{
    sync_msg_t s = {.msg = {.fn = run_sync_msg}, .m = m, .fn = fn, .arg = arg};
    pthread_mutex_lock(&m->mu);
    bool inline_run = !m->bound || pthread_equal(m->owner, pthread_self());
    if (!inline_run) {
        bool was_empty = !m->head;
        /* s lives on this stack until the owner has run it (done): we wait
         * below, and the owner unlinks it before setting done */
        if (m->tail)
            m->tail->next = &s.msg;
        else
            m->head = &s.msg; // cppcheck-suppress autoVariables
        m->tail = &s.msg;     // cppcheck-suppress autoVariables
        pthread_cond_signal(&m->cv);
        if (m->ev && was_empty) { /* libevent's lock is never taken under ours */
            pthread_mutex_unlock(&m->mu);
            event_active(m->ev, EV_READ, 0);
            pthread_mutex_lock(&m->mu);
        }
        while (!s.done) pthread_cond_wait(&m->done_cv, &m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    if (inline_run) fn(arg);
}

void mailbox_bind(mailbox_t *m)
{
    pthread_mutex_lock(&m->mu);
    m->owner = pthread_self();
    m->bound = true;
    pthread_mutex_unlock(&m->mu);
}

void mailbox_unbind(mailbox_t *m)
{
    pthread_mutex_lock(&m->mu);
    LD_ASSERT(m->bound && pthread_equal(m->owner, pthread_self()));
    mailbox_msg_t *list = take_locked(m);
    m->bound = false; /* from now on call_sync runs inline: nothing waits forever */
    pthread_mutex_unlock(&m->mu);
    mailbox_run_list(list);
}

mailbox_msg_t *mailbox_take_all(mailbox_t *m, bool wait)
{
    pthread_mutex_lock(&m->mu);
    while (wait && !m->head && !m->woken) pthread_cond_wait(&m->cv, &m->mu);
    m->woken = false;
    mailbox_msg_t *list = take_locked(m);
    pthread_mutex_unlock(&m->mu);
    return list;
}

void mailbox_wake(mailbox_t *m)
{
    pthread_mutex_lock(&m->mu);
    m->woken = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}
