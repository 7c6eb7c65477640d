/*
 * routes.h - the route table: an ordered list of content routes, compiled
 * from JSON, and the classification of one record against it.
 *
 * JSON (config file "routes", --route, GET/POST /api/v1/routes):
 *   [{"name": "errors", "match": {"level": ["ERROR", "FATAL"], "source": "checkout-*"},
 *     "analyzers": {"alerts": 1}, "copy": true},
 *    {"name": "default", "affinity_key": "metadata.trace_id"}]
 *
 * A route: "name" (1..64 of [A-Za-z0-9._-], unique); "match" (route/match.h;
 * absent or {} matches everything); "analyzers": {"id": weight or null, ...}
 * or ["id", ...] (null / the array form: the analyzer's own weight; a route
 * weight is > 0 and applies in this route only); "copy" (bool); "affinity_key"
 * (a dotted path, record/field.h); "balance_factor" (bounded load for the
 * affinity key, in % of an analyzer's fair share: 0 = off, else 101..10000).
 *
 * Semantics (docs/ROUTING.md): a record goes to the first matching route whose
 * "copy" is false; every matching copy route also gets a copy, wherever it
 * sits in the order. A record no non-copy route matches goes to the route
 * named "default". The default route has no match and is never a copy; when
 * it is not in the table it is appended: every analyzer, its own weight, with
 * the --affinity-key given. Its "analyzers" may be {}: then a record that
 * matches no route at all is refused at ingest (422 no_route).
 *
 * Ownership: a routes_t is immutable once built and reference counted
 * (routes_ref / routes_unref, atomic), so ingest loops and the delivery
 * thread may hold the same table. routes_classify() is pure and thread-safe.
 */
#ifndef LOGDIST_ROUTES_H
#define LOGDIST_ROUTES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "record/field.h"
#include "record/scan.h"
#include "route/match.h"

#define ROUTES_MAX 128
#define ROUTE_NAME_MAX 64
#define ROUTE_MEMBERS_MAX 1024
#define ROUTE_DEFAULT "default"
#define ROUTE_BALANCE_FACTOR_MAX 100.0

typedef struct {
    char id[CONFIG_ID_MAX + 1];
    double weight; /* > 0: this route's weight; 0: the analyzer's own weight */
} route_member_t;

typedef struct {
    char name[ROUTE_NAME_MAX + 1];
    bool copy;
    bool is_default;
    bool all;                  /* no "analyzers": every analyzer, its own weight */
    size_t nmembers;
    route_member_t *members;   /* when !all, in the order given */
    char affinity_key[FIELD_NAME_MAX + 1]; /* "" = none */
    int affinity_field;        /* its index in the table's field set, -1 = none */
    double balance_factor;     /* 0 = unbounded */
    match_t *match;            /* NULL: matches everything (the default route) */
    json_t *match_json;        /* the match as given (for GET) */
} route_t;

typedef struct routes routes_t;

/* What the default route is when the table does not name one. */
typedef struct {
    const char *affinity_key;  /* --affinity-key ("" or NULL = none) */
    double balance_factor;     /* --affinity-balance-factor / 100 (0 = off) */
    const char *config_text;   /* the config's routes this table descends from (NULL = none):
                                  kept so an API change can be stored with its base */
} routes_defaults_t;

/* Build a table from a JSON array (NULL = no routes: the default route only).
 * Returns 0 and *out (refcount 1), or -EINVAL with a message naming the route
 * (by index and name) and the key that is wrong, or -ENOMEM. */
int routes_build(const json_t *arr, const routes_defaults_t *def, routes_t **out, char *err,
                 size_t errlen);

/* Parse JSON text, then routes_build. Same returns; a syntax error names line and column. */
int routes_parse(const char *text, const routes_defaults_t *def, routes_t **out, char *err,
                 size_t errlen);

/* The table a config names: cfg->routes, with --affinity-key and
 * --affinity-balance-factor for the default route. Same returns. */
int routes_from_config(const config_t *cfg, routes_t **out, char *err, size_t errlen);

/* The defaults t was built with (to build the next table the same way,
 * config_text included: "" when none); the strings point into t. */
void routes_defaults_of(const routes_t *t, routes_defaults_t *out);

routes_t *routes_ref(routes_t *t);
void routes_unref(routes_t *t); /* frees at 0; NULL is fine */

size_t routes_count(const routes_t *t);
const route_t *routes_get(const routes_t *t, size_t i);
int routes_find(const routes_t *t, const char *name); /* index, or -1 */
size_t routes_default_index(const routes_t *t);

/* True when the default route was appended (not in the JSON it was built from). */
bool routes_default_implicit(const routes_t *t);

/* True when the default route has no analyzers (records no route matches are refused). */
bool routes_may_refuse(const routes_t *t);

/* True when only the default route exists, with every analyzer and no
 * affinity key: routing is plain SWRR over the analyzers (no field is read). */
bool routes_trivial(const routes_t *t);

/* Is every analyzer the table names known (known(ctx, id))? 0, or -ENOENT
 * with err = `<prefix>route "R" names analyzer "A", which is not <what>`. */
int routes_check_members(const routes_t *t, bool (*known)(void *ctx, const char *id), void *ctx,
                         const char *prefix, const char *what, char *err, size_t errlen);

/* The first route (name) that names analyzer `id`, or NULL. */
const char *routes_naming(const routes_t *t, const char *id);

/* The table as JSON (new reference): every route, the default included, in
 * order; the user's own form (routes_json_user) leaves out an implicit default. */
json_t *routes_to_json(const routes_t *t);
json_t *routes_json_user(const routes_t *t);
/* routes_json_user as compact JSON text (the caller frees it); NULL on ENOMEM. */
char *routes_user_text(const routes_t *t);
json_t *route_to_json(const route_t *r);

/* Where one record goes. */
typedef struct {
    int primary;                      /* route index, -1: no non-copy route (and the default is empty) */
    uint16_t ncopies;
    uint16_t copies[ROUTES_MAX];      /* copy routes that matched, in order */
    field_slice_t vals[FIELD_SET_MAX];/* the record's values of the table's fields */
} route_hits_t;

/* Classify rec[0..len) (validated by the scanner). 0, or -EINVAL when the
 * record is not an object. The fields are read once, in one pass, and only
 * when some route has a match or an affinity key. level, source and type
 * count only when they are strings (as the scanner and --critical-levels read
 * them); any other field also when it is a number or true/false (its text). */
int routes_classify(const routes_t *t, const char *rec, size_t len, route_hits_t *out);

/* The same for record r of a scanned packet body `data`: level, source and
 * type come from the scanner's slices (no second pass over the record when
 * the routes read only those), the other fields from one field_extract pass. */
int routes_classify_scanned(const routes_t *t, const char *data, const scan_record_t *r,
                            route_hits_t *out);

/* The affinity key of route r for a classified record: 1 with the key's bytes
 * (unescaped into buf when needed), 0 when the record has no key for this route. */
int routes_affinity_key(const route_t *r, const route_hits_t *h, char *buf, size_t cap,
                        const char **key, size_t *len);

#endif
