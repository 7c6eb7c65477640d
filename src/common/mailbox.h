/*
 * mailbox.h - the one way threads hand work to each other.
 *
 * A mailbox belongs to one consumer thread. Any thread posts messages into it;
 * the consumer runs (or takes) them in post order. Two kinds of consumer:
 *   - a libevent loop: mailbox_new(base). Messages run as an event callback on
 *     the loop's thread, each turn running every message queued at that moment.
 *   - a plain thread: mailbox_new(NULL). It takes the queued messages as a list
 *     with mailbox_take_all() (waiting for one if asked) and runs them itself,
 *     which lets it treat them as one round (group commit).
 *
 * Messages are intrusive: embed a mailbox_msg_t in your own struct and post
 * it; posting never allocates and never fails. mailbox_post_fn() is the
 * allocating convenience for one-off functions.
 *
 * mailbox_call_sync() runs a function on the consumer thread and waits for it.
 * It runs the function inline, on the caller's thread, when nobody consumes
 * the mailbox (no thread bound, see mailbox_bind) or when the caller is the
 * consumer itself, so it never deadlocks at start-up, at shutdown or when
 * called re-entrantly.
 *
 * Thread safety: post, post_fn, call_sync and wake are safe from any thread;
 * take_all, bind and unbind belong to the consumer; new and free to the owner.
 */
#ifndef LOGDIST_MAILBOX_H
#define LOGDIST_MAILBOX_H

#include <stdbool.h>

struct event_base;
typedef struct mailbox mailbox_t;
typedef struct mailbox_msg mailbox_msg_t;

/* Runs on the consumer thread. It may free the message (next is read before). */
typedef void (*mailbox_fn)(mailbox_msg_t *msg);

struct mailbox_msg {
    mailbox_msg_t *next; /* owned by the mailbox while queued */
    mailbox_fn fn;
};

/* New mailbox run by `base`'s loop, or, with base == NULL, taken by a plain
 * thread through mailbox_take_all(). NULL on ENOMEM. */
mailbox_t *mailbox_new(struct event_base *base);

/* Free the mailbox. Messages still queued are run first, on the caller's
 * thread (so nothing posted is lost or leaked). NULL is fine. */
void mailbox_free(mailbox_t *m);

/* Queue msg (msg->fn set by the caller). Never fails. */
void mailbox_post(mailbox_t *m, mailbox_msg_t *msg);

/* Queue fn(arg) in a message the mailbox allocates and frees. 0 or -ENOMEM. */
int mailbox_post_fn(mailbox_t *m, void (*fn)(void *arg), void *arg);

/* Run fn(arg) on the consumer thread and return when it has run (inline when
 * no thread is bound or the caller is the consumer). */
void mailbox_call_sync(mailbox_t *m, void (*fn)(void *arg), void *arg);

/* The consumer thread declares itself (call first thing on that thread) and
 * withdraws (last thing: runs whatever is still queued, then call_sync runs
 * inline from then on). */
void mailbox_bind(mailbox_t *m);
void mailbox_unbind(mailbox_t *m);

/* Plain-thread consumers: take every queued message, oldest first, as a list
 * linked by ->next. With wait, block until there is one or mailbox_wake() is
 * called; returns NULL when woken with nothing queued. */
mailbox_msg_t *mailbox_take_all(mailbox_t *m, bool wait);

/* Wake a consumer blocked in mailbox_take_all (e.g. to tell it to stop). */
void mailbox_wake(mailbox_t *m);

/* Run a list taken with mailbox_take_all, in order. */
void mailbox_run_list(mailbox_msg_t *list);

#endif
