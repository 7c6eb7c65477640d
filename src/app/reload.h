/*
 * reload.h - re-read the configuration while running (SIGHUP, POST
 * /api/v1/reload) and apply the difference.
 *
 * A reload builds a whole new config the way start-up did (defaults, the
 * --config file, then the same command-line flags, which keep overriding the
 * file; config_load) and checks it (config_validate, the TLS files). A config
 * that does not parse or validate changes nothing. Otherwise every changed
 * option the table marks reloadable is applied through its owner's setter
 * (ingest limits, delivery options, tokens, log level and format, analyzers
 * through admin_apply_analyzers); a changed option that is not reloadable
 * keeps its running value and is listed in "restart_required". The TLS
 * certificate and key are re-read on every reload (rotation).
 *
 * Threads: reload_run may be called from any thread (the main loop on SIGHUP,
 * an ingest loop for the API); runs are serialised by the reload's mutex.
 */
#ifndef LOGDIST_RELOAD_H
#define LOGDIST_RELOAD_H

#include <jansson.h>

#include "admin/admin.h"
#include "app/cluster_limits.h"
#include "core/auth.h"
#include "core/config.h"
#include "core/tls.h"
#include "deliver/deliver.h"
#include "ingest/ingest.h"

typedef struct reload reload_t;

typedef struct {
    ingest_t *ing;
    deliver_t *d;
    auth_t *auth;
    tls_server_t *tls; /* NULL without TLS */
    admin_t *admin;
    cluster_limits_t *limits; /* a cluster node: ingest limits go through it; else NULL */
} reload_targets_t;

/* `running` is copied: the config as start-up built it from the file and the
 * flags, before the config store added the analyzers registered through the
 * API (a reload must not remove those). argv is kept by reference (main's,
 * alive for the process). NULL on no memory. */
reload_t *reload_new(const config_t *running, int argc, char **argv, const reload_targets_t *t);
void reload_free(reload_t *r);

/* Reload now. 0 with *result (caller owns): {"file", "changed": [...],
 * "restart_required": [...], "analyzers": {"added","removed","updated"},
 * "tls": "reloaded"|"off", "generation"}; -EINVAL when the config is invalid
 * (nothing changed; err has "FILE:LINE:COLUMN: ..." or the check that failed);
 * another negative errno when applying failed part-way (err says what). Logs
 * the outcome either way. */
int reload_run(reload_t *r, json_t **result, char *err, size_t errlen);

/* admin_reload_fn adapter: ctx is the reload_t. */
int reload_admin_hook(void *ctx, json_t **result, char *err, size_t errlen);

#endif
