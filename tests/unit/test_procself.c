/*
 * test_procself.c - cmocka tests for src/core/procself.c: the pure parsers of
 * /proc/self/stat (command names with spaces and ')', CPU ticks to seconds,
 * pages to bytes, start time from the boot time) and of /proc/stat's btime,
 * refusals of truncated input, and one real read of this process.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/procself.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* fields after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt
 * cmajflt utime stime cutime cstime prio nice threads itreal starttime vsize rss ... */
#define TAIL                                                                                       \
    " S 1 2 3 0 -1 4194304 10 0 0 0 250 150 0 0 20 0 3 0 5000 1048576 300 18446744073709551615 1"

static void test_parse_stat(void **state)
{
    (void)state;
    static const struct {
        const char *stat;
        int rc;
        double cpu, start;
        uint64_t rss, vsize;
    } cases[] = {
        {"42 (logdistd)" TAIL, 0, 4.0, 1000000050.0, 300 * 4096, 1048576},
        {"42 (a b) c)" TAIL, 0, 4.0, 1000000050.0, 300 * 4096, 1048576},
        {"42 ()" TAIL, 0, 4.0, 1000000050.0, 300 * 4096, 1048576},
        {"42 (x) S 1 2 3", -EINVAL, 0, 0, 0, 0},
        {"42 x S 1 2 3 0 -1 4194304 10 0 0 0 250 150", -EINVAL, 0, 0, 0, 0},
        {"", -EINVAL, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < N(cases); i++) {
        procself_t ps = {0};
        int rc = procself_parse_stat(cases[i].stat, 100, 4096, 1000000000, &ps);
        if (rc != cases[i].rc) fail_msg("case %zu: rc %d", i, rc);
        if (rc) continue;
        if (ps.cpu_seconds != cases[i].cpu || ps.start_time_seconds != cases[i].start ||
            ps.rss_bytes != cases[i].rss || ps.vsize_bytes != cases[i].vsize)
            fail_msg("case %zu: cpu %g start %f rss %llu vsize %llu", i, ps.cpu_seconds,
                     ps.start_time_seconds, (unsigned long long)ps.rss_bytes,
                     (unsigned long long)ps.vsize_bytes);
    }
    procself_t ps;
    assert_int_equal(procself_parse_stat(NULL, 100, 4096, 0, &ps), -EINVAL);
    assert_int_equal(procself_parse_stat("1 (x)" TAIL, 0, 4096, 0, &ps), -EINVAL);
}

static void test_parse_btime(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t want;
    } cases[] = {
        {"cpu 1 2 3\nintr 5 6\nbtime 1796588095\nprocesses 9\n", 1796588095},
        {"btime 7\n", 7},
        {"cpu 1\nxbtime 5\n", 0},
        {"cpu 1\n", 0},
        {"", 0},
    };
    for (size_t i = 0; i < N(cases); i++)
        assert_int_equal(procself_parse_btime(cases[i].text), cases[i].want);
    assert_int_equal(procself_parse_btime(NULL), 0);
}

static void test_read_self(void **state)
{
    (void)state;
    procself_t ps;
    assert_int_equal(procself_read(&ps), 0);
    assert_true(ps.rss_bytes > 0);
    assert_true(ps.vsize_bytes >= ps.rss_bytes);
    assert_true(ps.open_fds >= 3); /* stdin, stdout, stderr */
    assert_true(ps.max_fds >= ps.open_fds);
    assert_true(ps.start_time_seconds > 1.5e9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_stat),
        cmocka_unit_test(test_parse_btime),
        cmocka_unit_test(test_read_self),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
