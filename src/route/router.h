/*
 * router.h - the analyzer table and per-record routing into batches.
 *
 * Owned by the delivery thread, so routing reads analyzers, weights and
 * eligibility without any lock. router_route_packet() picks an analyzer for
 * every record with the balancer (SWRR or weighted random) and appends the
 * record to that analyzer's open batch; a batch that reaches
 * batch_max_records or batch_max_bytes is sealed and handed to the delivery
 * layer through the batch_sealed hook, which owns it from then on.
 *
 * Ownership: every analyzer_t field is written by this module only. The
 * delivery layer says whether an analyzer may get records with
 * router_set_eligible() (healthy and breaker not open: health and breaker
 * state live in deliver/), changes the spec with router_update(), and keeps
 * its own per-analyzer records (queues, timers, counters) behind `user`.
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

typedef struct analyzer {
    struct analyzer *next;  /* router's list, in registration order */
    analyzer_spec_t spec;   /* id, url, health_url, weight */
    int slot;               /* balancer slot */
    bool eligible;          /* router_set_eligible(): healthy and breaker not open */
    bool routable;          /* gets records and may send: eligible, or panic */
    bool removed;
    batch_t *open;          /* batch being filled */
    uint64_t records_routed; /* assigned by the balancer */
    double factor;           /* adaptive factor (router_set_factor), 1.0 from router_add */
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
    void (*batch_opened)(void *ctx, analyzer_t *a); /* a->open was created */
    /* a's open batch was sealed; the hook takes ownership of b (b->cost set) */
    void (*batch_sealed)(void *ctx, analyzer_t *a, batch_t *b);
    void *ctx;
} router_hooks_t;

typedef struct router router_t;

router_t *router_new(const config_t *cfg, const router_hooks_t *hooks);
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

/* Scale a's weight in the balancer by factor (finite, >= 0; the delivery
 * layer's adaptive weights). Setting the factor it has is a no-op. */
void router_set_factor(router_t *r, analyzer_t *a, double factor);

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

/* Seal a's open batch (if any) and hand it to the batch_sealed hook. An empty
 * open batch (its first record could not be appended) is freed instead. */
void router_seal(router_t *r, analyzer_t *a);

/* Choose an analyzer for a batch that must leave `exclude` (retry or removal),
 * in proportion to the remaining weights. Falls back to `exclude` itself when
 * it is the only eligible one; NULL when none is eligible. */
analyzer_t *router_pick_other(router_t *r, const analyzer_t *exclude);

/* Target share of an analyzer: router_weight / sum of router_weight of live
 * analyzers (0 while drained). */
double router_target_share(const router_t *r, const analyzer_t *a);

/* Share the balancer gives it right now (0 when down or drained). */
double router_effective_share(const router_t *r, const analyzer_t *a);

#endif
