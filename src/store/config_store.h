/*
 * config_store.h - where analyzers registered at runtime are kept across
 * restarts. A small interface (load / put / remove) behind an ops table, so
 * that the etcd-backed store of the clustering issue can replace the embedded
 * SQLite one without touching the callers.
 *
 * Precedence at start (see docs/DURABILITY.md): the store is loaded first,
 * then analyzers named in the config file or flags are applied over it (they
 * win for the ids they name, and are written back to the store).
 */
#ifndef LOGDIST_CONFIG_STORE_H
#define LOGDIST_CONFIG_STORE_H

#include <stddef.h>

#include "core/config.h"

typedef struct config_store config_store_t;

typedef struct {
    /* All stored analyzers (malloc'd array, caller frees). 0 or negative errno
     * (then *out is NULL). A row that cannot be used (a NULL, a wrong type, a
     * value too long, a NUL byte) is skipped and logged as a warning naming
     * its row and column; the first such message also goes to err (optional),
     * and the call still returns 0 with the other rows. */
    int (*load)(config_store_t *s, analyzer_spec_t **out, size_t *n, char *err, size_t errlen);
    /* Insert or replace by id. 0 or negative errno. */
    int (*put)(config_store_t *s, const analyzer_spec_t *spec);
    /* Delete by id (absent is fine). 0 or negative errno. */
    int (*remove)(config_store_t *s, const char *id);
    /* The route table last changed through the API (JSON text) and the
     * config's routes it was based on (base, "" = none): malloc'd, caller
     * frees; both NULL when none is stored. 0 or negative errno. */
    int (*load_routes)(config_store_t *s, char **table, char **base);
    /* Store them (table NULL: forget the stored table). 0 or negative errno. */
    int (*put_routes)(config_store_t *s, const char *table, const char *base);
    void (*close)(config_store_t *s);
} config_store_ops_t;

struct config_store {
    const config_store_ops_t *ops;
};

/* Open (creating and migrating) the SQLite store at `path`. NULL on failure
 * with a message in err. */
config_store_t *config_store_open_sqlite(const char *path, char *err, size_t errlen);

/* The schema version this build writes. */
int config_store_schema_version(void);

/* load without the message (rows skipped are logged anyway). */
static inline int config_store_load(config_store_t *s, analyzer_spec_t **out, size_t *n)
{
    return s->ops->load(s, out, n, NULL, 0);
}
static inline int config_store_put(config_store_t *s, const analyzer_spec_t *spec)
{
    return s->ops->put(s, spec);
}
static inline int config_store_remove(config_store_t *s, const char *id)
{
    return s->ops->remove(s, id);
}
static inline int config_store_load_routes(config_store_t *s, char **table, char **base)
{
    return s->ops->load_routes(s, table, base);
}
static inline int config_store_put_routes(config_store_t *s, const char *table, const char *base)
{
    return s->ops->put_routes(s, table, base);
}
static inline void config_store_close(config_store_t *s)
{
    if (s) s->ops->close(s);
}

#endif
