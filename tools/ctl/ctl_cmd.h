/*
 * ctl_cmd.h - logdistctl's commands: each makes its API calls (ctl_http.h), prints
 * the human form (ctl_fmt.h) or, with --json, the API's JSON byte for byte on stdout,
 * and reports an error as one line on stderr ("logdistctl: 404 not_found: ...").
 * Returns the exit code (ctl_args.h).
 */
#ifndef LOGDIST_CTL_CMD_H
#define LOGDIST_CTL_CMD_H

#include "ctl_args.h"

/* Run o->cmd. token: the bearer token or NULL (the caller owns and wipes it). */
int ctl_cmd_run(const ctl_opts_t *o, const char *token);

#endif
