/*
 * logdistctl.c - the command-line client of logdistd's admin API (docs/CLI.md):
 * parse the command line (ctl_args), find the token (--token, --token-file or
 * LOGDIST_TOKEN; never printed, wiped from our copy before exit), run the command
 * (ctl_cmd) and exit with its code (0 ok, 1 API error, 2 usage, 3 no usable answer,
 * 4 authentication/authorisation).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_args.h"
#include "ctl_cmd.h"
#include "ctl_http.h"

#define TOKEN_FILE_MAX 4096

/* The first line of `path` (at most TOKEN_FILE_MAX bytes) into buf. 0 or -1 (printed). */
static int read_token_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "logdistctl: --token-file %s: cannot open it\n", path);
        return -1;
    }
    size_t n = fread(buf, 1, size - 1, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    buf[n] = 0;
    buf[strcspn(buf, "\r\n")] = 0;
    if (!buf[0] || (more && strlen(buf) == n)) {
        fprintf(stderr, "logdistctl: --token-file %s: %s\n", path,
                buf[0] ? "longer than 4 KiB" : "empty");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const char *ids[CTL_MAX_IDS];
    static char file_token[TOKEN_FILE_MAX + 1];
    ctl_opts_t o;
    char err[256];
    int rc = ctl_parse_args(argc, argv, getenv("LOGDIST_URL"), getenv("LOGDIST_TOKEN"), &o, ids,
                            err, sizeof err);
    if (rc) {
        fprintf(stderr, "logdistctl: %s\n", err);
        return rc;
    }
    if (o.help) {
        fputs(ctl_usage(), stdout);
        return 0;
    }
    if (o.version) {
        printf("logdistctl %s\n", LOGDIST_CTL_VERSION);
        return 0;
    }
    const char *token = o.token;
    if (o.token_file) {
        if (read_token_file(o.token_file, file_token, sizeof file_token)) return CTL_EXIT_USAGE;
        token = file_token;
    }
    if (ctl_http_init()) {
        fprintf(stderr, "logdistctl: cannot initialise libcurl\n");
        return CTL_EXIT_CONNECT;
    }
    rc = ctl_cmd_run(&o, token && *token ? token : NULL);
    memset(file_token, 0, sizeof file_token);
    ctl_http_cleanup();
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "logdistctl: cannot write the output\n");
        if (!rc) rc = CTL_EXIT_CONNECT;
    }
    return rc;
}
