/*
 * test_resource.c - cmocka tests for the rules of src/core/resource.c, fed with
 * texts instead of /proc and /sys: available memory from /proc/meminfo and a
 * memory cgroup (v1 and v2 files, "max", page cache not counted as used), and
 * the two shedding rules with their hysteresis (a table of sample sequences).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/resource.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MiB (1024ull * 1024)

static const char MEMINFO[] = "MemTotal:       24575896 kB\n"
                              "MemFree:         1234567 kB\n"
                              "MemAvailable:    2097152 kB\n"
                              "Buffers:           12345 kB\n";
static const char STAT_V1[] = "cache 1000\nrss 2000\ninactive_file 100\n"
                              "total_cache 300000000\ntotal_inactive_file 200000000\n";
static const char STAT_V2[] = "anon 123\nfile 456\nkernel_stack 7\ninactive_file 100000000\n"
                              "active_file 5\n";

typedef struct {
    const char *name;
    const char *meminfo, *limit, *usage, *stat;
    uint64_t expect;
} avail_case_t;

static const avail_case_t avail_cases[] = {
    {"meminfo only", MEMINFO, NULL, NULL, NULL, 2048 * MiB},
    {"nothing readable", NULL, NULL, NULL, NULL, RESOURCE_UNKNOWN},
    {"no MemAvailable line", "MemTotal: 100 kB\nMemFree: 50 kB\n", NULL, NULL, NULL,
     RESOURCE_UNKNOWN},
    {"key must match whole", "MemAvailableX: 5 kB\n", NULL, NULL, NULL, RESOURCE_UNKNOWN},
    {"v2 unlimited", MEMINFO, "max\n", "500000000\n", STAT_V2, 2048 * MiB},
    {"v1 unlimited (huge number)", MEMINFO, "9223372036854771712\n", "612659200\n", STAT_V1,
     2048 * MiB},
    {"v2 limit: limit - (usage - inactive_file)", MEMINFO, "1073741824\n", "600000000\n", STAT_V2,
     1073741824ull - 500000000ull},
    {"v1 limit uses total_inactive_file", MEMINFO, "1073741824\n", "600000000\n", STAT_V1,
     1073741824ull - 400000000ull},
    {"cgroup room larger than the machine's: the machine wins", MEMINFO, "8589934592\n", "0\n",
     STAT_V2, 2048 * MiB},
    {"no memory.stat: all usage counts", MEMINFO, "1073741824\n", "600000000\n", NULL,
     1073741824ull - 600000000ull},
    {"over the limit: nothing left", MEMINFO, "1000\n", "5000\n", "inactive_file 0\n", 0},
    {"cgroup only", NULL, "1000000\n", "400000\n", "inactive_file 100000\n", 700000},
    {"garbage limit ignored", MEMINFO, "banana\n", "1\n", NULL, 2048 * MiB},
};

static void test_available(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(avail_cases); i++) {
        const avail_case_t *c = &avail_cases[i];
        uint64_t got = resource_available_from(c->meminfo, c->limit, c->usage, c->stat);
        if (got != c->expect)
            fail_msg("%s: got %llu, expected %llu", c->name, (unsigned long long)got,
                     (unsigned long long)c->expect);
    }
}

/* A sequence of samples and the shedding decision expected after each. */
typedef struct {
    uint64_t rss, available;
    bool shed;
} sample_t;

typedef struct {
    const char *name;
    uint64_t limit, min_free;
    size_t n;
    sample_t s[8];
} decide_case_t;

static const decide_case_t decide_cases[] = {
    {"rss: on over 90 %, off only under 75 %", 100 * MiB, 0, 6,
     {{50 * MiB, 0, false}, {91 * MiB, 0, true}, {80 * MiB, 0, true}, {76 * MiB, 0, true},
      {74 * MiB, 0, false}, {89 * MiB, 0, false}}},
    {"free: on under min, off only over 1.5 x min", 0, 100 * MiB, 6,
     {{0, 500 * MiB, false}, {0, 99 * MiB, true}, {0, 120 * MiB, true}, {0, 150 * MiB, true},
      {0, 151 * MiB, false}, {0, 101 * MiB, false}}},
    {"both rules: shed while either holds", 100 * MiB, 100 * MiB, 5,
     {{95 * MiB, 50 * MiB, true}, {10 * MiB, 50 * MiB, true}, {10 * MiB, 200 * MiB, false},
      {95 * MiB, 200 * MiB, true}, {10 * MiB, 200 * MiB, false}}},
    {"unknown availability never sheds", 0, 100 * MiB, 2,
     {{0, RESOURCE_UNKNOWN, false}, {0, RESOURCE_UNKNOWN, false}}},
    {"rules off", 0, 0, 2, {{1ull << 40, 0, false}, {0, 0, false}}},
};

static void test_decide(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(decide_cases); i++) {
        const decide_case_t *c = &decide_cases[i];
        resource_state_t st = {0};
        for (size_t k = 0; k < c->n; k++) {
            bool shed = resource_decide(&st, c->s[k].rss, c->limit, c->s[k].available, c->min_free);
            if (shed != c->s[k].shed)
                fail_msg("%s: sample %zu: shed %d, expected %d", c->name, k, shed, c->s[k].shed);
        }
    }
}

/* On this machine: RSS is readable and available memory is known. */
static void test_live(void **state)
{
    (void)state;
    assert_true(resource_rss_bytes() > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_available),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_live),
    };
    return cmocka_run_group_tests_name("resource", tests, NULL, NULL);
}
