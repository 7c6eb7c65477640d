/*
 * replay_main.c - runs one libFuzzer target's entry point over stored inputs, without
 * libFuzzer, so that `ctest` (label unit; `make test`, `make test-asan`) re-checks every
 * seed and every saved crash of every target. Built by tests/fuzz/replay.cmake once per
 * target, linked with that target's tests/fuzz/fuzz_<name>.c and the logdist library.
 *
 *   fuzz_replay_<target> DIR_OR_FILE...
 *   fuzz_replay_<target> --open FILE
 *
 * Contract:
 *   - every argument must exist: a missing directory fails the run (a replay that
 *     finds nothing to replay must not pass);
 *   - a directory is walked recursively; hidden files (.gitkeep) are skipped;
 *   - the run fails unless at least one input was replayed;
 *   - LLVMFuzzerInitialize() is called first when the target has one, with
 *     LOGDIST_FUZZ_REPLAY=1 in the environment: targets then also check expectations
 *     stored in the inputs themselves (see fuzz_http_ingest.c, X-Fuzz-Expect);
 *   - each input is an exact-size heap copy (an ASan build sees any over-read) and has
 *     FUZZ_REPLAY_TIMEOUT_S seconds (default 60) before SIGALRM ends the run: a hang is
 *     a failure, not a stuck ctest;
 *   - outside ASan, the address space is capped at 2 GiB, so a runaway allocation fails
 *     instead of swapping; under ASan, its allocator reports allocations over its limit.
 * A target reports a broken invariant by aborting; the name of the input being replayed
 * is printed before it runs, so the failing file is the last one named.
 *
 * --open FILE: a known finding not fixed yet (tests/fuzz/open/<target>/). The input runs
 * in a child process; the run succeeds while the child still fails (a signal or a
 * non-zero exit) and fails once it passes: then the bug is fixed and the file belongs in
 * regressions/<target>/.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define REPLAY_MAX_INPUT (64u << 20) /* a stored input larger than this is a mistake */

static const char *g_current = "(none)";
static size_t g_replayed;

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "fuzz replay: input did not finish in time (hang): ";
    (void)!write(2, msg, sizeof msg - 1);
    (void)!write(2, g_current, strlen(g_current));
    (void)!write(2, "\n", 1);
    _exit(3);
}

/* Reads a whole regular file into an exact-size buffer. Returns 0 or -errno. */
static int read_input(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -errno;
    struct stat st;
    if (fstat(fileno(f), &st) || st.st_size < 0 || (uint64_t)st.st_size > REPLAY_MAX_INPUT) {
        fclose(f);
        return -EFBIG;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return -ENOMEM;
    }
    size_t got = n ? fread(buf, 1, n, f) : 0;
    fclose(f);
    if (got != n) {
        free(buf);
        return -EIO;
    }
    *out = buf;
    *len = n;
    return 0;
}

static int replay_file(const char *path, unsigned timeout_s)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = read_input(path, &data, &len);
    if (rc) {
        fprintf(stderr, "fuzz replay: cannot read %s: %s\n", path, strerror(-rc));
        return rc;
    }
    g_current = path;
    printf("replay %s (%zu B)\n", path, len);
    fflush(stdout);
    alarm(timeout_s);
    LLVMFuzzerTestOneInput(data, len);
    alarm(0);
    free(data);
    g_replayed++;
    return 0;
}

static int replay_path(const char *path, unsigned timeout_s, int depth)
{
    struct stat st;
    if (stat(path, &st)) {
        fprintf(stderr, "fuzz replay: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    if (S_ISREG(st.st_mode)) return replay_file(path, timeout_s);
    if (!S_ISDIR(st.st_mode) || depth > 8) return 0;
    struct dirent **names = NULL;
    int n = scandir(path, &names, NULL, alphasort); /* sorted: the same order every run */
    if (n < 0) {
        fprintf(stderr, "fuzz replay: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (!rc && names[i]->d_name[0] != '.') {
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, names[i]->d_name);
            rc = replay_path(sub, timeout_s, depth + 1);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

#if defined(__SANITIZE_ADDRESS__)
#define REPLAY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REPLAY_ASAN 1
#endif
#endif

static void cap_memory(void)
{
#ifndef REPLAY_ASAN
    struct rlimit rl = {2ull << 30, 2ull << 30};
    if (setrlimit(RLIMIT_AS, &rl)) perror("fuzz replay: setrlimit");
#endif
}

/* --open FILE: 0 while FILE still breaks the target, 1 once it does not. */
static int replay_open(const char *path, unsigned timeout_s)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fuzz replay: fork");
        return 2;
    }
    if (pid == 0) _exit(replay_file(path, timeout_s) ? 2 : 0);
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return 2;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        fprintf(stderr, "fuzz replay: %s no longer breaks the target: the bug is fixed, "
                        "git mv it to tests/fuzz/regressions/<target>/\n", path);
        return 1;
    }
    printf("fuzz replay: %s still breaks the target (open finding)\n", path);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    const char *t = getenv("FUZZ_REPLAY_TIMEOUT_S");
    unsigned timeout_s = t && atoi(t) > 0 ? (unsigned)atoi(t) : 60;
    signal(SIGALRM, on_alarm);
    cap_memory();
    setenv("LOGDIST_FUZZ_REPLAY", "1", 1);
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    if (argc == 3 && !strcmp(argv[1], "--open")) return replay_open(argv[2], timeout_s);
    for (int i = 1; i < argc; i++)
        if (replay_path(argv[i], timeout_s, 0)) return 1;
    if (g_replayed == 0) {
        fprintf(stderr, "fuzz replay: no input found under the given paths\n");
        return 1;
    }
    printf("fuzz replay: %zu inputs replayed, no invariant broken\n", g_replayed);
    return 0;
}
