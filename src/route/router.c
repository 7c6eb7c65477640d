/*
 * router.c - see router.h.
 */
#include "route/router.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "core/metrics.h"

struct router {
    analyzer_t *head, *tail;
    analyzer_t *by_slot[BALANCER_MAX_SLOTS];
    balancer_t *bal;
    router_hooks_t hooks;
    uint32_t batch_max_records;
    size_t batch_max_bytes;
    uint32_t panic_pct;
    bool panic;
};

router_t *router_new(const config_t *cfg, const router_hooks_t *hooks)
{
    router_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->bal = balancer_new(cfg->strategy, (uint64_t)cfg->listen_port * 2654435761u + 1);
    if (!r->bal) {
        free(r);
        return NULL;
    }
    r->hooks = *hooks;
    r->batch_max_records = cfg->batch_max_records;
    r->batch_max_bytes = cfg->batch_max_bytes;
    r->panic_pct = cfg->panic_threshold_pct;
    return r;
}

void router_free(router_t *r)
{
    if (!r) return;
    analyzer_t *a = r->head;
    while (a) {
        analyzer_t *n = a->next;
        batch_free(a->open);
        free(a);
        a = n;
    }
    balancer_free(r->bal);
    free(r);
}

analyzer_t *router_first(router_t *r)
{
    return r->head;
}

analyzer_t *router_find(router_t *r, const char *id)
{
    for (analyzer_t *a = r->head; a; a = a->next)
        if (!a->removed && !strcmp(a->spec.id, id)) return a;
    return NULL;
}

int router_add(router_t *r, const analyzer_spec_t *spec, analyzer_t **out)
{
    if (router_find(r, spec->id)) return -EEXIST;
    analyzer_t *a = calloc(1, sizeof *a);
    if (!a) return -ENOMEM;
    a->spec = *spec;
    a->factor = 1.0;
    int slot = balancer_add(r->bal, router_effective_weight(a));
    if (slot < 0) {
        free(a);
        return slot;
    }
    a->slot = slot;
    a->eligible = true;
    a->routable = true;
    r->by_slot[slot] = a;
    if (r->tail)
        r->tail->next = a;
    else
        r->head = a;
    r->tail = a;
    if (out) *out = a;
    return 0;
}

int router_update(router_t *r, analyzer_t *a, const analyzer_spec_t *spec)
{
    if (strcmp(spec->id, a->spec.id)) return -EINVAL;
    analyzer_t next = *a;
    next.spec = *spec;
    int rc = balancer_set_weight(r->bal, a->slot, router_effective_weight(&next));
    if (rc) return rc;
    a->spec = *spec;
    router_refresh(r);
    return 0;
}

void router_set_factor(router_t *r, analyzer_t *a, double factor)
{
    if (a->removed || !(factor >= 0) || factor == a->factor) return;
    a->factor = factor;
    balancer_set_weight(r->bal, a->slot, router_effective_weight(a));
}

void router_set_user(analyzer_t *a, void *user)
{
    a->user = user;
}

void router_seal(router_t *r, analyzer_t *a)
{
    batch_t *b = a->open;
    if (!b) return;
    a->open = NULL;
    if (!b->records) { /* its first record did not fit (ENOMEM): nothing to send */
        batch_free(b);
        return;
    }
    batch_seal(b); /* cannot fail: batch_append always reserves room for "]}" */
    b->cost = batch_cost(b);
    LD_ASSERT(r->hooks.batch_sealed);
    r->hooks.batch_sealed(r->hooks.ctx, a, b);
}

void router_remove(router_t *r, analyzer_t *a)
{
    if (a->removed) return;
    router_seal(r, a);
    balancer_remove(r->bal, a->slot);
    r->by_slot[a->slot] = NULL;
    a->slot = -1;
    a->removed = true;
}

void router_release(router_t *r, analyzer_t *a)
{
    analyzer_t **pp = &r->head, *prev = NULL;
    while (*pp && *pp != a) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp) return;
    *pp = a->next;
    if (r->tail == a) r->tail = prev;
    batch_free(a->open);
    free(a);
}

void router_set_eligible(router_t *r, analyzer_t *a, bool eligible)
{
    if (a->eligible == eligible) return;
    a->eligible = eligible;
    router_refresh(r);
}

void router_refresh(router_t *r)
{
    size_t live = 0, ok = 0;
    for (analyzer_t *a = r->head; a; a = a->next) {
        if (a->removed || router_weight(a) <= 0) continue;
        live++;
        ok += a->eligible;
    }
    r->panic = r->panic_pct && ok > 0 && ok * 100 < (size_t)r->panic_pct * live;
    for (analyzer_t *a = r->head; a; a = a->next) {
        if (a->removed) continue;
        a->routable = r->panic || a->eligible;
        balancer_set_up(r->bal, a->slot, a->routable);
    }
}

bool router_in_panic(const router_t *r)
{
    return r->panic;
}

bool router_can_route(const router_t *r)
{
    return balancer_eligible_count(r->bal) > 0;
}

int router_route_packet(router_t *r, packet_t *p)
{
    const size_t max_bytes = r->batch_max_bytes;
    const size_t first = p->routed;
    LD_ASSERT(first <= p->count);
    size_t i = first;
    int rc = 0;
    for (; i < p->count; i++) {
        const scan_record_t *rec = &p->records[i];
        int slot = balancer_pick(r->bal);
        if (slot < 0) {
            rc = -EAGAIN;
            break;
        }
        analyzer_t *a = r->by_slot[slot];
        batch_t *b = a->open;
        if (b && batch_size_with(b, rec->rec.len) > max_bytes) {
            router_seal(r, a);
            b = NULL;
        }
        if (!b) {
            size_t hint = max_bytes < 65536 ? max_bytes : 65536;
            b = batch_new(hint > rec->rec.len ? hint : rec->rec.len + 64);
            if (!b) {
                rc = -ENOMEM;
                break;
            }
            a->open = b;
            if (r->hooks.batch_opened) r->hooks.batch_opened(r->hooks.ctx, a);
        }
        /* all or nothing: a record never sits in a batch without its WAL seq */
        if (batch_append_rec(b, p->data + rec->rec.off, rec->rec.len, p->seqs ? p->seqs[i] : 0)) {
            rc = -ENOMEM;
            break;
        }
        a->records_routed++;
        if (b->records >= r->batch_max_records) router_seal(r, a);
    }
    p->routed = i;
    METRIC_ADD(records_routed, i - first);
    return rc;
}

analyzer_t *router_pick_other(router_t *r, const analyzer_t *exclude)
{
    int slot = balancer_pick_excluding(r->bal, exclude && !exclude->removed ? exclude->slot : -1);
    if (slot >= 0) return r->by_slot[slot];
    if (exclude && !exclude->removed && exclude->routable && router_weight(exclude) > 0)
        return (analyzer_t *)exclude;
    return NULL;
}

double router_target_share(const router_t *r, const analyzer_t *a)
{
    double total = 0;
    for (analyzer_t *x = r->head; x; x = x->next)
        if (!x->removed) total += router_weight(x);
    return total > 0 && !a->removed ? router_weight(a) / total : 0;
}

double router_effective_share(const router_t *r, const analyzer_t *a)
{
    return a->removed ? 0 : balancer_share(r->bal, a->slot);
}

void router_set_batch_limits(router_t *r, uint32_t max_records, uint64_t max_bytes)
{
    r->batch_max_records = max_records ? max_records : 1;
    r->batch_max_bytes = max_bytes ? (size_t)max_bytes : 1;
}
