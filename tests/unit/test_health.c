/*
 * test_health.c - cmocka tests for src/deliver/health.c through the fake
 * sender (fake_sender.h): active checks mark an analyzer down after
 * health_fall failures and up after health_rise passes (one hook call per
 * transition, counters and last error kept by health, never in analyzer_t);
 * passive failures mark it down and only active checks bring it back; a
 * target unwatched with a check in flight is freed when the check completes
 * (released hook), an idle one at once; sender_free cancels checks cleanly.
 */
#include <event2/event.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "deliver/health.h"
#include "fake_sender.h"

typedef struct {
    int downs, ups, released;
    analyzer_t *last;
} hooks_seen_t;

static void on_changed(void *ctx, analyzer_t *a, bool up)
{
    hooks_seen_t *h = ctx;
    if (up)
        h->ups++;
    else
        h->downs++;
    h->last = a;
}

static void on_released(void *ctx, analyzer_t *a)
{
    hooks_seen_t *h = ctx;
    h->released++;
    h->last = a;
}

typedef struct {
    config_t cfg;
    struct event_base *base;
    fake_t fake;
    sender_t *sender;
    health_t *h;
    hooks_seen_t seen;
    analyzer_t a;
} hx_t;

static void hx_init(hx_t *x)
{
    memset(x, 0, sizeof *x);
    config_defaults(&x->cfg);
    x->cfg.health_interval_ms = 5;
    x->cfg.health_rise = 2;
    x->cfg.health_fall = 2;
    x->cfg.passive_fall = 3;
    x->base = event_base_new();
    assert_non_null(x->base);
    x->sender = fake_sender_new(x->base, &x->fake);
    assert_non_null(x->sender);
    health_hooks_t hooks = {on_changed, on_released, &x->seen, NULL};
    x->h = health_new(x->base, x->sender, &x->cfg, &hooks);
    assert_non_null(x->h);
    snprintf(x->a.spec.id, sizeof x->a.spec.id, "h1");
    snprintf(x->a.spec.health_url, sizeof x->a.spec.health_url, "http://127.0.0.1:1/h1/health");
}

static void hx_free(hx_t *x)
{
    sender_free(x->sender); /* cancels checks in flight */
    health_free(x->h);
    event_base_free(x->base);
}

/* Run the loop until `n` more checks were answered (at most 5 s). */
static void checks(hx_t *x, long n)
{
    long want = x->fake.ngets + n;
    uint64_t end = now_ms() + 5000;
    while (x->fake.ngets < want && now_ms() < end) {
        event_base_loop(x->base, EVLOOP_NONBLOCK);
        usleep(200);
    }
    event_base_loop(x->base, EVLOOP_NONBLOCK); /* the last answer */
    assert_true(x->fake.ngets >= want);
}

static void test_fall_and_rise(void **state)
{
    (void)state;
    static hx_t x;
    hx_init(&x);
    health_target_t *t = health_watch(x.h, &x.a);
    assert_non_null(t);
    assert_true(health_is_up(t));
    checks(&x, 3);
    assert_true(health_is_up(t));
    assert_int_equal(x.seen.downs + x.seen.ups, 0);

    x.fake.get_fail[0] = "/h1/";
    checks(&x, 1);
    assert_true(health_is_up(t)); /* one failure < health_fall */
    checks(&x, 2);
    assert_false(health_is_up(t));
    assert_int_equal(x.seen.downs, 1);
    assert_ptr_equal(x.seen.last, &x.a);
    checks(&x, 3);
    assert_int_equal(x.seen.downs, 1); /* one call per transition */
    health_info_t hi;
    health_info(t, &hi);
    assert_false(hi.up);
    assert_int_equal(hi.times_marked_down, 1);
    assert_non_null(strstr(hi.last_error, "health check: fake 503"));
    assert_true(hi.last_error_ms > 0);

    x.fake.get_fail[0] = NULL;
    checks(&x, 1);
    checks(&x, 2);
    assert_true(health_is_up(t));
    assert_int_equal(x.seen.ups, 1);
    health_unwatch(t);
    hx_free(&x);
}

static void test_passive(void **state)
{
    (void)state;
    static hx_t x;
    hx_init(&x);
    x.cfg.health_interval_ms = 60000; /* only the first check runs */
    health_target_t *t = health_watch(x.h, &x.a);
    checks(&x, 1);
    health_delivery_result(t, false);
    health_delivery_result(t, false);
    health_delivery_result(t, true); /* resets the streak */
    health_delivery_result(t, false);
    health_delivery_result(t, false);
    assert_true(health_is_up(t));
    health_delivery_result(t, false); /* 3 in a row */
    assert_false(health_is_up(t));
    assert_int_equal(x.seen.downs, 1);
    health_delivery_result(t, true); /* deliveries never bring it back */
    assert_false(health_is_up(t));
    health_unwatch(t);
    hx_free(&x);
}

static void test_unwatch(void **state)
{
    (void)state;
    static hx_t x;
    hx_init(&x);
    health_target_t *t = health_watch(x.h, &x.a);
    /* the first check is started on the first loop turn; stop it before the answer */
    uint64_t end = now_ms() + 5000;
    while (!x.fake.gets && now_ms() < end) {
        event_base_loop(x.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        if (!x.fake.gets) usleep(200);
    }
    assert_non_null(x.fake.gets);
    assert_true(health_unwatch(t)); /* in flight: freed when it completes */
    assert_int_equal(x.seen.released, 0);
    checks(&x, 0);
    event_base_loop(x.base, EVLOOP_NONBLOCK);
    assert_int_equal(x.seen.released, 1);
    assert_ptr_equal(x.seen.last, &x.a);
    assert_int_equal(x.seen.downs + x.seen.ups, 0); /* no transitions after unwatch */

    t = health_watch(x.h, &x.a);
    checks(&x, 1);
    assert_false(health_unwatch(t)); /* idle: freed now */
    assert_false(health_unwatch(NULL));
    /* watched with a check open when the sender goes: cancelled, no leak (ASan) */
    t = health_watch(x.h, &x.a);
    end = now_ms() + 5000;
    while (!x.fake.gets && now_ms() < end) event_base_loop(x.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_true(health_unwatch(t));
    hx_free(&x);
    assert_int_equal(x.seen.released, 1); /* cancelled: no hook */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fall_and_rise),
        cmocka_unit_test(test_passive),
        cmocka_unit_test(test_unwatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
