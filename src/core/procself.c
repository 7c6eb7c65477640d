/*
 * procself.c - see procself.h.
 */
#include "core/procself.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/util.h"

int procself_parse_stat(const char *stat, long ticks_per_s, long page_size, uint64_t boot_time,
                        procself_t *out)
{
    const char *p = stat ? strrchr(stat, ')') : NULL; /* the name may contain ')' */
    if (!p || ticks_per_s <= 0 || page_size <= 0) return -EINVAL;
    unsigned long long ut, st, start, vsize;
    long long rss;
    /* after ")": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
     * cmajflt utime stime cutime cstime priority nice num_threads itrealvalue
     * starttime vsize rss */
    if (sscanf(p + 1,
               " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
               "%*d %*d %llu %llu %lld",
               &ut, &st, &start, &vsize, &rss) != 5)
        return -EINVAL;
    out->cpu_seconds = (double)(ut + st) / (double)ticks_per_s;
    out->vsize_bytes = vsize;
    out->rss_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page_size : 0;
    out->start_time_seconds = (double)boot_time + (double)start / (double)ticks_per_s;
    return 0;
}

uint64_t procself_parse_btime(const char *proc_stat)
{
    const char *p = proc_stat;
    while (p && *p) {
        unsigned long long v;
        if (!strncmp(p, "btime ", 6) && sscanf(p + 6, "%llu", &v) == 1) return v;
        p = strchr(p, '\n');
        if (p) p++;
    }
    return 0;
}

/* The first size-1 bytes of a file, NUL-terminated; NULL when unreadable. */
static uint64_t count_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) return 0;
    uint64_t n = 0;
    struct dirent *e;
    while (n < PROCSELF_MAX_FDS && (e = readdir(dir)))
        if (e->d_name[0] != '.') n++;
    closedir(dir);
    return n ? n - 1 : 0; /* not the directory's own descriptor */
}

/* "btime" of /proc/stat, read line by line (its "intr" line can be long)
 * over at most 4 MiB. */
static uint64_t read_btime(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return 0;
    char line[512];
    uint64_t v = 0;
    size_t seen = 0;
    bool at_start = true;
    while (!v && seen < (4u << 20) && fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        seen += n;
        if (at_start) v = procself_parse_btime(line);
        at_start = n && line[n - 1] == '\n';
    }
    fclose(f);
    return v;
}

int procself_read(procself_t *out)
{
    memset(out, 0, sizeof *out);
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl))
        out->max_fds = rl.rlim_cur == RLIM_INFINITY ? 0 : (uint64_t)rl.rlim_cur;
    out->open_fds = count_fds();
    char stat[1024];
    if (!read_small_file("/proc/self/stat", stat, sizeof stat)) return -EIO;
    if (procself_parse_stat(stat, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE), read_btime(), out))
        return -EIO;
    return 0;
}
