/*
 * router.h - the analyzer table, the route table and per-record routing into
 * batches.
 *
 * Owned by the delivery thread, so routing reads analyzers, routes, weights
 * and eligibility without any lock. router_route_packet() classifies every
 * record against the route table (route/routes.h): the first matching
 * non-copy route (else the default route) and every matching copy route each
 * choose one of their analyzers - by the record's affinity key with weighted
 * rendezvous hashing (route/hrw.h) when the route has one and the record
 * carries it, else by the route's own SWRR balancer - and the record is
 * copied into that analyzer's open batch *for that route*. One analyzer never
 * gets the same record twice: a copy route that picks an analyzer the record
 * already goes to is skipped (counted). A route none of whose analyzers is
 * routable holds its records in a batch of its own, handed over unassigned
 * (the delivery layer parks it until the route has someone); when no analyzer
 * at all is routable routing stops (-EAGAIN) as without routes.
 *
 * Weights: in a route, an analyzer's weight is the route's weight for it, or
 * its own; 0 while drained (spec.drained or weight 0); times its factor
 * (router_set_factor: adaptive weights, slow start, hints; 1 = none, and then
 * the stream is exactly the configured SWRR). Each route has its own SWRR, so
 * each route's shares are exact (balancer.h's bound) over the records it gets.
 *
 * Ownership: every analyzer_t field is written by this module only. The
 * delivery layer says whether an analyzer may get records with
 * router_set_eligible() (healthy and breaker not open: health and breaker
 * state live in deliver/), changes the spec with router_update(), and keeps
 * its own per-analyzer records (queues, timers, counters) behind `user`.
 * The router holds one reference to its routes_t.
 *
 * An analyzer that is removed stays allocated (flag `removed`) until the
 * delivery layer releases it; it is no longer found by id nor picked.
 */
#ifndef LOGDIST_ROUTER_H
#define LOGDIST_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "record/packet.h"
#include "route/balancer.h"
#include "route/batch.h"
#include "route/routes.h"

typedef struct analyzer {
    struct analyzer *next;  /* router's list, in registration order */
    analyzer_spec_t spec;   /* id, url, health_url, weight */
    double factor;          /* router_set_factor(): effective = configured x factor (1 = none) */
    uint64_t id_hash;       /* hrw_hash of the id (key affinity) */
    bool eligible;          /* router_set_eligible(): healthy and breaker not open */
    bool routable;          /* gets records and may send: eligible, or panic */
    bool removed;
    uint32_t nopen;         /* batches being filled for it (one per route at most) */
    uint64_t records_routed; /* assigned by the balancer */
    void *user;             /* the delivery layer's record of it (router_set_user) */
} analyzer_t;

/* The weight routing uses: 0 while drained (spec.drained), else spec.weight.
 * The configured weight stays in the spec, so undraining restores it. */
static inline double router_weight(const analyzer_t *a)
{
    return a->spec.drained ? 0 : a->spec.weight;
}

/* The weight the balancer uses: router_weight() times the adaptive factor
 * (deliver/adaptive). A factor of exactly 1.0 gives the configured weight
 * bit for bit, so the SWRR stream is the one without adaptive weights. */
static inline double router_effective_weight(const analyzer_t *a)
{
    return router_weight(a) * a->factor;
}

typedef struct {
    void (*batch_opened)(void *ctx, analyzer_t *a); /* a batch for a was opened */
    /* a batch was sealed; the hook takes ownership of b (b->cost set). a is
     * its analyzer, or NULL: a held batch (b->route has nobody routable: park
     * it) or, with b->no_route, records no route takes (dead-letter them) */
    void (*batch_sealed)(void *ctx, analyzer_t *a, batch_t *b);
    /* durable record `seq` went into `copies` (>= 2) batches: it is settled
     * when all of them are (called before any of them is sealed) */
    void (*fanout)(void *ctx, uint64_t seq, uint32_t copies);
    void *ctx;
} router_hooks_t;

typedef struct router router_t;

router_t *router_new(const config_t *cfg, const router_hooks_t *hooks);
/* Replace the route table (takes a reference; the old one is released).
 * Every open and held batch is sealed first, so each batch belongs to one
 * table's route. 0 or -ENOMEM (the old table stays). */
int router_set_routes(router_t *r, routes_t *t);

/* The table in use (borrowed). */
const routes_t *router_routes(const router_t *r);

/* Set a's factor (>= 0, finite; 1 = none) in every route. 0 or -EINVAL. */
int router_set_factor(router_t *r, analyzer_t *a, double factor);

/* Free the router, its analyzers and their open batches (call only at shutdown). */
void router_free(router_t *r);

/* First analyzer in registration order (including removed ones still draining). */
analyzer_t *router_first(router_t *r);

/* The live (not removed) analyzer with this id, or NULL. */
analyzer_t *router_find(router_t *r, const char *id);

/* Register an analyzer (eligible until told otherwise). Returns 0,
 * -EEXIST (id taken), -EINVAL (bad spec) or -ENOMEM. */
int router_add(router_t *r, const analyzer_spec_t *spec, analyzer_t **out);

/* Replace a's spec (same id; router_weight() goes to the balancer; weight 0
 * or spec.drained drains: no new records, queued ones still delivered).
 * 0 or -EINVAL. */
int router_update(router_t *r, analyzer_t *a, const analyzer_spec_t *spec);

/* Attach the delivery layer's record to a (once, when it is added). */
void router_set_user(analyzer_t *a, void *user);

/* Config reload (delivery thread): batch limits for every batch from the next
 * record on; an open batch already over them is sealed at its next record. */
void router_set_batch_limits(router_t *r, uint32_t max_records, uint64_t max_bytes);

/* Take an analyzer out of rotation; its open batch is sealed (and handed
 * over). The caller frees it (router_release) once it holds nothing. */
void router_remove(router_t *r, analyzer_t *a);

/* Unlink and free a removed analyzer. */
void router_release(router_t *r, analyzer_t *a);

/* May a get records (healthy and breaker not open)? Recomputes routability. */
void router_set_eligible(router_t *r, analyzer_t *a, bool eligible);

/* Recompute which analyzers are routable (eligible), and the panic mode: when
 * fewer than panic_pct % of the live analyzers are eligible (but at least one
 * is), every live analyzer is routed to, as in Envoy, rather than crushing the
 * last healthy ones. */
void router_refresh(router_t *r);

/* True while in panic mode. */
bool router_in_panic(const router_t *r);

/* True when at least one analyzer can take records. */
bool router_can_route(const router_t *r);

/* Route the records of p from p->routed on, advancing p->routed past each
 * record that is in a batch. Returns 0 when every record is routed, -ENOMEM
 * when an allocation failed (p->routed says where to resume: nothing is
 * routed twice, nothing is skipped) or -EAGAIN when no analyzer can take
 * records. The caller keeps p until this returns 0. */
int router_route_packet(router_t *r, packet_t *p);

/* Seal a's open batches (one per route; if any) and hand them to the
 * batch_sealed hook. An empty open batch (its first record could not be
 * appended) is freed instead. */
void router_seal(router_t *r, analyzer_t *a);

/* Records in a's batches being filled (over every route). */
uint64_t router_open_records(const router_t *r, const analyzer_t *a);

/* Seal every open and held batch (drain, table change). */
void router_seal_all(router_t *r);

/* Choose an analyzer for batch b that must leave `exclude` (retry, removal,
 * a parked batch: exclude NULL), inside b's route (the default route when
 * that route is gone), in proportion to the remaining weights. Falls back to
 * `exclude` itself when it is the only eligible one; NULL when none is. */
analyzer_t *router_pick_other(router_t *r, const batch_t *b, const analyzer_t *exclude);

/* a's weight in b's route (as router_pick_other sees it; 0: not a member). */
double router_batch_weight(const router_t *r, const batch_t *b, const analyzer_t *a);

/* Target share of an analyzer in the default route: its configured weight
 * there / the sum of the live members' (0 while drained or not a member). */
double router_target_share(const router_t *r, const analyzer_t *a);

/* Share the default route's balancer gives it right now (0 when down or drained). */
double router_effective_share(const router_t *r, const analyzer_t *a);

/* Per route and per member figures, for GET /api/v1/routes. */
typedef struct {
    char analyzer[CONFIG_ID_MAX + 1];
    double weight;          /* configured, in this route (0 while drained) */
    double effective_weight;/* x factor */
    double target_share;    /* of the route's records, from configured weights */
    double effective_share; /* the route's balancer right now */
    uint64_t routed;        /* records this route gave it since the table was set */
    bool routable;
} router_member_stat_t;

typedef struct {
    char name[ROUTE_NAME_MAX + 1];
    uint64_t records;       /* records it took (as the primary route or a copy) */
    uint64_t by_key;        /* of which placed by the affinity key */
    uint64_t held;          /* records held while it had nobody routable */
    uint64_t deduplicated;  /* copies skipped: the analyzer already had the record */
    size_t nmembers;
    router_member_stat_t *members; /* malloc'd by router_route_stats */
} router_route_stat_t;

/* Fill *out (malloc'd array of routes_count entries, each with its members;
 * free with router_route_stats_free). 0 or -ENOMEM. */
int router_route_stats(const router_t *r, router_route_stat_t **out, size_t *n);
void router_route_stats_free(router_route_stat_t *s, size_t n);

#endif
