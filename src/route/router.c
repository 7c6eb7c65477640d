/*
 * router.c - see router.h.
 */
#include "route/router.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
        batch_t *b;
        while ((b = batch_list_pop(&a->ready))) batch_free(b);
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
    int slot = balancer_add(r->bal, spec->weight);
    if (slot < 0) {
        free(a);
        return slot;
    }
    a->slot = slot;
    a->healthy = true;
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

int router_set_weight(router_t *r, analyzer_t *a, double weight)
{
    int rc = balancer_set_weight(r->bal, a->slot, weight);
    if (rc == 0) {
        a->spec.weight = weight;
        router_refresh(r);
    }
    return rc;
}

void router_seal(router_t *r, analyzer_t *a)
{
    batch_t *b = a->open;
    if (!b) return;
    a->open = NULL;
    batch_seal(b); /* cannot fail: batch_append always reserves room for "]}" */
    b->cost = batch_cost(b);
    a->queue_bytes += b->cost;
    batch_list_push(&a->ready, b);
    if (r->hooks.batch_ready) r->hooks.batch_ready(r->hooks.ctx, a);
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

void router_set_health(router_t *r, analyzer_t *a, bool up)
{
    a->healthy = up;
    router_refresh(r);
}

static bool eligible(const analyzer_t *a)
{
    return a->healthy && a->breaker.state != BREAKER_OPEN;
}

void router_refresh(router_t *r)
{
    size_t live = 0, ok = 0;
    for (analyzer_t *a = r->head; a; a = a->next) {
        if (a->removed || a->spec.weight <= 0) continue;
        live++;
        ok += eligible(a);
    }
    r->panic = r->panic_pct && ok > 0 && ok * 100 < (size_t)r->panic_pct * live;
    for (analyzer_t *a = r->head; a; a = a->next) {
        if (a->removed) continue;
        a->routable = r->panic || eligible(a);
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

int router_route_packet(router_t *r, const packet_t *p)
{
    const size_t max_bytes = r->batch_max_bytes;
    for (size_t i = 0; i < p->count; i++) {
        const scan_record_t *rec = &p->records[i];
        int slot = balancer_pick(r->bal);
        if (slot < 0) return -1;
        analyzer_t *a = r->by_slot[slot];
        batch_t *b = a->open;
        if (b && batch_size_with(b, rec->rec.len) > max_bytes) {
            router_seal(r, a);
            b = NULL;
        }
        if (!b) {
            size_t hint = max_bytes < 65536 ? max_bytes : 65536;
            b = a->open = batch_new(hint > rec->rec.len ? hint : rec->rec.len + 64);
            if (!b) return -1;
            if (r->hooks.batch_opened) r->hooks.batch_opened(r->hooks.ctx, a);
        }
        if (batch_append(b, p->data + rec->rec.off, rec->rec.len)) return -1;
        if (p->seqs && p->seqs[i] && batch_add_seq(b, p->seqs[i])) return -1;
        a->records_routed++;
        if (b->records >= r->batch_max_records) router_seal(r, a);
    }
    METRIC_ADD(records_routed, p->count);
    return 0;
}

analyzer_t *router_pick_other(router_t *r, const analyzer_t *exclude)
{
    int slot = balancer_pick_excluding(r->bal, exclude && !exclude->removed ? exclude->slot : -1);
    if (slot >= 0) return r->by_slot[slot];
    if (exclude && !exclude->removed && exclude->routable && exclude->spec.weight > 0)
        return (analyzer_t *)exclude;
    return NULL;
}

double router_target_share(const router_t *r, const analyzer_t *a)
{
    double total = 0;
    for (analyzer_t *x = r->head; x; x = x->next)
        if (!x->removed) total += x->spec.weight;
    return total > 0 && !a->removed ? a->spec.weight / total : 0;
}

double router_effective_share(const router_t *r, const analyzer_t *a)
{
    return a->removed ? 0 : balancer_share(r->bal, a->slot);
}
