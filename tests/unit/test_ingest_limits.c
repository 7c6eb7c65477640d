/*
 * test_ingest_limits.c - cmocka tests for ingest_set_limits() and
 * ingest_limits() (src/ingest/ingest.c): every covered option is copied from
 * the new config, the scanner and replay limits are derived from them, a set
 * handed out before a reload stays readable (retired, not freed), a failed
 * reload is impossible to observe half-done, and reader threads racing
 * reloads always see one whole set (every field from the same config).
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "ingest/ingest.h"
#include "store/queue.h"

static void fill(config_t *c, uint32_t k)
{
    config_defaults(c);
    c->max_body_bytes = 1000u * k;
    c->max_decoded_bytes = 2000u * k;
    c->max_records_per_packet = 10u * k;
    c->max_record_bytes = 100u * k;
    c->max_depth = k;
    c->idle_timeout_s = k;
    c->batch_max_records = 1;
    snprintf(c->critical_levels, sizeof c->critical_levels, "L%u,ERROR", k);
}

/* One whole set: every field says the same k. */
static uint32_t k_of(const ingest_limits_t *l)
{
    uint32_t k = l->max_depth;
    char want[32];
    snprintf(want, sizeof want, "L%u,ERROR", k);
    if (l->max_body_bytes != 1000u * k || l->max_decoded_bytes != 2000u * k ||
        l->max_records_per_packet != 10u * k || l->max_record_bytes != 100u * k ||
        l->idle_timeout_s != k || strcmp(l->critical_levels, want) ||
        l->scan.max_depth != k || l->scan.max_records != 10u * k ||
        l->scan.max_record_bytes != 100u * k || l->replay.max_depth != k + 2)
        return 0;
    return k;
}

static void test_set_limits(void **state)
{
    (void)state;
    config_t c1, c2;
    fill(&c1, 3);
    pkt_queue_t *q = queue_new(1 << 20, NULL, NULL);
    ingest_t *ing = ingest_new(&c1, q, NULL, NULL);
    assert_non_null(ing);
    const ingest_limits_t *before = ingest_limits(ing);
    assert_int_equal(k_of(before), 3);
    fill(&c2, 7);
    c2.batch_max_records = 500; /* more than 70 records per packet: replay takes it */
    assert_int_equal(ingest_set_limits(ing, &c2), 0);
    memset(&c2, 0, sizeof c2); /* newcfg is not kept */
    const ingest_limits_t *after = ingest_limits(ing);
    assert_ptr_not_equal(before, after);
    assert_int_equal(k_of(after), 7);
    assert_int_equal(after->replay.max_records, 500);
    assert_int_equal(k_of(before), 3); /* the old set is still whole */
    assert_true(config_level_in_list(after->critical_levels, "L7", 2));
    assert_false(config_level_in_list(after->critical_levels, "L3", 2));
    ingest_free(ing);
    queue_free(q);
}

typedef struct {
    ingest_t *ing;
    atomic_int stop;
    atomic_ullong reads, torn;
} race_t;

static void *reader(void *arg)
{
    race_t *r = arg;
    while (!atomic_load(&r->stop)) {
        if (!k_of(ingest_limits(r->ing))) atomic_fetch_add(&r->torn, 1);
        atomic_fetch_add(&r->reads, 1);
    }
    return NULL;
}

static void test_readers_race_reloads(void **state)
{
    (void)state;
    config_t c;
    fill(&c, 1);
    pkt_queue_t *q = queue_new(1 << 20, NULL, NULL);
    race_t r = {.ing = ingest_new(&c, q, NULL, NULL)};
    assert_non_null(r.ing);
    pthread_t th[3];
    for (int i = 0; i < 3; i++) assert_int_equal(pthread_create(&th[i], NULL, reader, &r), 0);
    for (uint32_t k = 2; k < 500; k++) {
        fill(&c, k);
        c.global_records_per_s = k & 1 ? k : 0; /* rate limits on and off */
        assert_int_equal(ingest_set_limits(r.ing, &c), 0);
        while (atomic_load(&r.reads) < k) sched_yield();
    }
    atomic_store(&r.stop, 1);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&r.torn), 0);
    assert_int_equal(k_of(ingest_limits(r.ing)), 499);
    ingest_free(r.ing);
    queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_limits),
        cmocka_unit_test(test_readers_race_reloads),
    };
    return cmocka_run_group_tests_name("ingest_limits", tests, NULL, NULL);
}
