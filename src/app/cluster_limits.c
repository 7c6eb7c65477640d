/*
 * cluster_limits.c - split the global rate limits among a cluster's live nodes
 * (see cluster_limits.h).
 */
#include "app/cluster_limits.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

struct cluster_limits {
    pthread_mutex_t mu;
    ingest_t *ing;
    config_t cfg;  /* shallow copy: only the scalar ingest rows are read */
    unsigned live; /* nodes sharing the limits, >= 1 */
};

uint64_t cluster_limit_share(uint64_t global, unsigned live)
{
    if (!global || live <= 1) return global;
    return global / live + (global % live != 0);
}

cluster_limits_t *cluster_limits_new(ingest_t *ing, const config_t *cfg)
{
    cluster_limits_t *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    pthread_mutex_init(&l->mu, NULL);
    l->ing = ing;
    l->cfg = *cfg;
    l->live = 1;
    return l;
}

void cluster_limits_free(cluster_limits_t *l)
{
    if (!l) return;
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* Hand l->cfg with the split global limits to ingest (l->mu held). */
static int apply_locked(cluster_limits_t *l)
{
    config_t eff = l->cfg;
    eff.global_records_per_s = cluster_limit_share(l->cfg.global_records_per_s, l->live);
    eff.global_bytes_per_s = cluster_limit_share(l->cfg.global_bytes_per_s, l->live);
    int rc = ingest_set_limits(l->ing, &eff);
    if (rc)
        log_error("cluster", "cannot split the global rate limits: %s", strerror(-rc));
    else if (l->cfg.global_records_per_s || l->cfg.global_bytes_per_s)
        log_event(LOG_INFO, "cluster", "cluster_rate_limits_split",
                  LOG_FIELDS(LF_INT("live_nodes", l->live),
                             LF_INT("records_per_s", (int64_t)eff.global_records_per_s),
                             LF_INT("bytes_per_s", (int64_t)eff.global_bytes_per_s)),
                  "global rate limits split among %u live nodes: this node takes %" PRIu64
                  " records/s, %" PRIu64 " bytes/s",
                  l->live, eff.global_records_per_s, eff.global_bytes_per_s);
    return rc;
}

void cluster_limits_on_members(void *ctx, unsigned live)
{
    cluster_limits_t *l = ctx;
    pthread_mutex_lock(&l->mu);
    unsigned n = live ? live : 1;
    if (n != l->live) {
        l->live = n;
        apply_locked(l);
    }
    pthread_mutex_unlock(&l->mu);
}

int cluster_limits_set_config(cluster_limits_t *l, const config_t *cfg)
{
    pthread_mutex_lock(&l->mu);
    l->cfg = *cfg;
    int rc = apply_locked(l);
    pthread_mutex_unlock(&l->mu);
    return rc;
}
