/*
 * test_mailbox.c - cmocka tests for src/common/mailbox.c: post order on a loop
 * consumer and on a plain-thread consumer, messages posted from another
 * thread, call_sync from another thread (runs on the consumer) and inline
 * (unbound, or from the consumer itself), unbind running what is queued, and
 * free running what is left.
 */
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/mailbox.h"

#define POSTS 20000

typedef struct {
    mailbox_msg_t msg;
    int value;
    int *log;
    int *nlog;
} num_msg_t;

static void record_num(mailbox_msg_t *msg)
{
    num_msg_t *n = (num_msg_t *)msg;
    n->log[(*n->nlog)++] = n->value;
}

/* ---- plain-thread consumer ----------------------------------------------------------- */

static void test_take_all_keeps_post_order(void **state)
{
    mailbox_t *m = mailbox_new(NULL);
    assert_non_null(m);
    int log[8], nlog = 0;
    num_msg_t msgs[5];
    for (int i = 0; i < 5; i++) {
        msgs[i] = (num_msg_t){{NULL, record_num}, i, log, &nlog};
        mailbox_post(m, &msgs[i].msg);
    }
    mailbox_run_list(mailbox_take_all(m, false));
    assert_int_equal(nlog, 5);
    for (int i = 0; i < 5; i++) assert_int_equal(log[i], i);
    assert_null(mailbox_take_all(m, false)); /* empty now */
    mailbox_wake(m);
    assert_null(mailbox_take_all(m, true)); /* woken with nothing queued */
    mailbox_free(m);
}

static void test_free_runs_what_is_left(void **state)
{
    mailbox_t *m = mailbox_new(NULL);
    int log[4], nlog = 0;
    num_msg_t a = {{NULL, record_num}, 7, log, &nlog};
    mailbox_post(m, &a.msg);
    mailbox_free(m);
    assert_int_equal(nlog, 1);
    assert_int_equal(log[0], 7);
}

/* ---- loop consumer, producers on other threads --------------------------------------- */

typedef struct {
    struct event_base *base;
    mailbox_t *m;
    int got;
    pthread_t consumer;
    pthread_barrier_t *bound; /* NULL, or passed once the consumer is bound */
} loop_t;

static void count_fn(void *arg)
{
    loop_t *l = arg;
    l->got++;
    if (l->got == POSTS) event_base_loopbreak(l->base);
}

static void *consumer_main(void *arg)
{
    loop_t *l = arg;
    mailbox_bind(l->m);
    if (l->bound) pthread_barrier_wait(l->bound);
    event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
    mailbox_unbind(l->m);
    return NULL;
}

static void *producer_main(void *arg)
{
    loop_t *l = arg;
    for (int i = 0; i < POSTS; i++) assert_int_equal(mailbox_post_fn(l->m, count_fn, l), 0);
    return NULL;
}

static void test_loop_consumer_gets_every_post(void **state)
{
    loop_t l = {0};
    l.base = event_base_new();
    l.m = mailbox_new(l.base);
    assert_non_null(l.m);
    pthread_t prod;
    assert_int_equal(pthread_create(&l.consumer, NULL, consumer_main, &l), 0);
    assert_int_equal(pthread_create(&prod, NULL, producer_main, &l), 0);
    pthread_join(prod, NULL);
    pthread_join(l.consumer, NULL);
    assert_int_equal(l.got, POSTS);
    mailbox_free(l.m);
    event_base_free(l.base);
}

typedef struct {
    pthread_t ran_on;
    int calls;
} where_t;

static void where_fn(void *arg)
{
    where_t *w = arg;
    w->ran_on = pthread_self();
    w->calls++;
}

static void stop_fn(void *arg)
{
    event_base_loopbreak(arg);
}

static void test_call_sync_runs_on_the_consumer(void **state)
{
    loop_t l = {0};
    l.base = event_base_new();
    l.m = mailbox_new(l.base);
    where_t w = {0};
    /* unbound: inline on this thread */
    mailbox_call_sync(l.m, where_fn, &w);
    assert_true(pthread_equal(w.ran_on, pthread_self()));
    pthread_barrier_t bound;
    pthread_barrier_init(&bound, NULL, 2);
    l.bound = &bound;
    assert_int_equal(pthread_create(&l.consumer, NULL, consumer_main, &l), 0);
    pthread_barrier_wait(&bound);
    mailbox_call_sync(l.m, where_fn, &w);
    pthread_barrier_destroy(&bound);
    assert_true(pthread_equal(w.ran_on, l.consumer));
    mailbox_call_sync(l.m, stop_fn, l.base);
    pthread_join(l.consumer, NULL);
    /* unbound again after the consumer left: inline, no deadlock */
    int before = w.calls;
    mailbox_call_sync(l.m, where_fn, &w);
    assert_int_equal(w.calls, before + 1);
    assert_true(pthread_equal(w.ran_on, pthread_self()));
    mailbox_free(l.m);
    event_base_free(l.base);
}

/* A message that calls call_sync on its own mailbox runs it inline. */
typedef struct {
    mailbox_t *m;
    where_t w;
    struct event_base *base;
} reentrant_t;

static void reenter_fn(void *arg)
{
    reentrant_t *r = arg;
    mailbox_call_sync(r->m, where_fn, &r->w);
    event_base_loopbreak(r->base);
}

static void test_call_sync_from_the_consumer_is_inline(void **state)
{
    reentrant_t r = {0};
    r.base = event_base_new();
    r.m = mailbox_new(r.base);
    mailbox_bind(r.m);
    assert_int_equal(mailbox_post_fn(r.m, reenter_fn, &r), 0);
    event_base_loop(r.base, EVLOOP_NO_EXIT_ON_EMPTY);
    assert_int_equal(r.w.calls, 1);
    assert_true(pthread_equal(r.w.ran_on, pthread_self()));
    mailbox_unbind(r.m);
    mailbox_free(r.m);
    event_base_free(r.base);
}

int main(void)
{
    evthread_use_pthreads();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_take_all_keeps_post_order),
        cmocka_unit_test(test_free_runs_what_is_left),
        cmocka_unit_test(test_loop_consumer_gets_every_post),
        cmocka_unit_test(test_call_sync_runs_on_the_consumer),
        cmocka_unit_test(test_call_sync_from_the_consumer_is_inline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
