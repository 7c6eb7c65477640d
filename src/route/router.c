/*
 * router.c - see router.h.
 *
 * Layout. One rstate_t per route of the table, in table order: the route's
 * members (analyzer, route weight, balancer slot, the batch being filled for
 * it in this route, records routed), its SWRR balancer, and for a route with
 * an affinity key the weighted-rendezvous arrays (hw: weight in effect, 0 when
 * not routable; hh: id hash) kept aligned with the members, plus its
 * bounded-load counts. Members are added and removed as analyzers come and go
 * (a route with no "analyzers" holds every analyzer); a new table rebuilds
 * every rstate after sealing every batch of the old ones.
 *
 * Invariants: m[i].slot is a slot of bal and by_slot[m[i].slot] == i; an
 * analyzer is a member of a route at most once; a->nopen counts the members
 * of a (over every route) whose open batch is not NULL.
 */
#include "route/router.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "core/metrics.h"
#include "route/hrw.h"

#define KEY_BUF 1024 /* an escaped affinity key is unescaped into this much */

typedef struct {
    analyzer_t *a;
    double w;       /* route weight, 0 = the analyzer's own */
    int slot;
    batch_t *open;
    uint64_t routed;
} rmember_t;

typedef struct {
    const route_t *route;
    balancer_t *bal;
    rmember_t *m;
    size_t nm, cap;
    int16_t by_slot[BALANCER_MAX_SLOTS];
    double *hw;       /* affinity routes: weight in effect per member, 0 = not routable */
    uint64_t *hh;     /* affinity routes: id hash per member */
    hrw_load_t *load; /* affinity routes with a balance factor */
    size_t routable;  /* members routable with weight > 0 */
    batch_t *hold;    /* records while nobody is routable */
    uint64_t records, by_key, held, dedup;
} rstate_t;

/* Where the record being routed goes (kept across an ENOMEM, an analyzer's
 * removal and a table swap, so a record is never planned twice). */
typedef struct {
    int route;      /* index in rs[], -1: no route takes it */
    int mi;         /* a hint: a's index in the route's members (checked before use) */
    analyzer_t *a;  /* NULL: the route's hold batch */
    bool by_key;    /* chosen by the affinity key */
} dest_t;

struct router {
    analyzer_t *head, *tail;
    routes_t *table;
    rstate_t *rs;
    size_t nrs;
    router_hooks_t hooks;
    balancer_strategy_t strategy;
    uint64_t seed;
    uint32_t batch_max_records;
    size_t batch_max_bytes;
    uint32_t panic_pct;
    bool panic;
    batch_t *noroute; /* records no route takes */
    /* the record being routed: its destinations and how many are done */
    const packet_t *pend_p;
    size_t pend_i, pend_n, pend_done;
    dest_t pend[ROUTES_MAX + 1];
    uint64_t any_turn; /* pick_any's walk */
};

/* ------------------------------------------------------------------ weights */

static double member_weight(const rmember_t *m, bool with_factor)
{
    const analyzer_t *a = m->a;
    double w = router_weight(a);
    if (w <= 0) return 0;
    if (m->w > 0) w = m->w;
    return with_factor ? w * a->factor : w;
}

/* Tell rs's balancer and rendezvous arrays member i's weight and state. */
static void member_sync(rstate_t *rs, size_t i)
{
    rmember_t *m = &rs->m[i];
    double w = member_weight(m, true);
    balancer_set_weight(rs->bal, m->slot, w);
    balancer_set_up(rs->bal, m->slot, m->a->routable);
    /* rendezvous on the configured weight: a key moves only when the route's
     * members or their weights change, never with the adaptive factor */
    if (rs->hw) rs->hw[i] = m->a->routable ? member_weight(m, false) : 0;
}

static void route_count_routable(rstate_t *rs)
{
    rs->routable = 0;
    for (size_t i = 0; i < rs->nm; i++)
        rs->routable += rs->m[i].a->routable && member_weight(&rs->m[i], true) > 0;
}

static int member_index(const rstate_t *rs, const analyzer_t *a)
{
    for (size_t i = 0; i < rs->nm; i++)
        if (rs->m[i].a == a) return (int)i;
    return -1;
}

/* ------------------------------------------------------------------ batches */

static void seal_batch(router_t *r, analyzer_t *a, batch_t *b)
{
    if (!b->records) { /* its first record did not fit (ENOMEM): nothing to send */
        batch_free(b);
        return;
    }
    batch_seal(b); /* cannot fail: batch_append always reserves room for "]}" */
    b->cost = batch_cost(b);
    LD_ASSERT(r->hooks.batch_sealed);
    r->hooks.batch_sealed(r->hooks.ctx, a, b);
}

static void seal_member(router_t *r, rmember_t *m)
{
    batch_t *b = m->open;
    if (!b) return;
    m->open = NULL;
    LD_ASSERT(m->a->nopen > 0);
    m->a->nopen--;
    seal_batch(r, m->a, b);
}

static void seal_holds(router_t *r)
{
    for (size_t k = 0; k < r->nrs; k++) {
        batch_t *b = r->rs[k].hold;
        r->rs[k].hold = NULL;
        if (b) seal_batch(r, NULL, b);
    }
    batch_t *b = r->noroute;
    r->noroute = NULL;
    if (b) seal_batch(r, NULL, b);
}

void router_seal(router_t *r, analyzer_t *a)
{
    for (size_t k = 0; k < r->nrs && a->nopen; k++) {
        int i = member_index(&r->rs[k], a);
        if (i >= 0) seal_member(r, &r->rs[k].m[i]);
    }
}

uint64_t router_open_records(const router_t *r, const analyzer_t *a)
{
    uint64_t n = 0;
    for (size_t k = 0; k < r->nrs && a->nopen; k++) {
        int i = member_index(&r->rs[k], a);
        if (i >= 0 && r->rs[k].m[i].open) n += r->rs[k].m[i].open->records;
    }
    return n;
}

void router_seal_all(router_t *r)
{
    for (analyzer_t *a = r->head; a; a = a->next) router_seal(r, a);
    seal_holds(r);
}

/* ------------------------------------------------------------------ route states */

static int member_add(router_t *r, rstate_t *rs, analyzer_t *a, double w)
{
    (void)r;
    if (rs->nm == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 8;
        rmember_t *m = realloc(rs->m, cap * sizeof *m);
        if (!m) return -ENOMEM;
        rs->m = m;
        if (rs->route->affinity_field >= 0) {
            double *hw = realloc(rs->hw, cap * sizeof *hw);
            if (hw) rs->hw = hw;
            uint64_t *hh = hw ? realloc(rs->hh, cap * sizeof *hh) : NULL;
            if (!hh) return -ENOMEM;
            rs->hh = hh;
        }
        rs->cap = cap;
    }
    rmember_t *m = &rs->m[rs->nm];
    memset(m, 0, sizeof *m);
    m->a = a;
    m->w = w;
    int slot = balancer_add(rs->bal, member_weight(m, true));
    if (slot < 0) return slot;
    m->slot = slot;
    rs->by_slot[slot] = (int16_t)rs->nm;
    if (rs->hh) rs->hh[rs->nm] = a->id_hash;
    rs->nm++;
    member_sync(rs, rs->nm - 1);
    if (rs->load) hrw_load_reset(rs->load);
    route_count_routable(rs);
    return 0;
}

static void member_remove(router_t *r, rstate_t *rs, size_t i)
{
    seal_member(r, &rs->m[i]);
    balancer_remove(rs->bal, rs->m[i].slot);
    rs->by_slot[rs->m[i].slot] = -1;
    size_t last = rs->nm - 1;
    if (i != last) { /* keep the arrays aligned: move the last member into i */
        rs->m[i] = rs->m[last];
        rs->by_slot[rs->m[i].slot] = (int16_t)i;
        if (rs->hw) {
            rs->hw[i] = rs->hw[last];
            rs->hh[i] = rs->hh[last];
        }
    }
    rs->nm--;
    if (rs->load) hrw_load_reset(rs->load);
    route_count_routable(rs);
}

/* The route weight route `rt` gives analyzer id (0: its own), or -1: not a member. */
static double route_weight_for(const route_t *rt, const char *id)
{
    if (rt->all) return 0;
    for (size_t j = 0; j < rt->nmembers; j++)
        if (!strcmp(rt->members[j].id, id)) return rt->members[j].weight;
    return -1;
}

static void state_free(router_t *r, rstate_t *rs)
{
    for (size_t i = 0; i < rs->nm; i++) seal_member(r, &rs->m[i]);
    if (rs->hold) seal_batch(r, NULL, rs->hold);
    balancer_free(rs->bal);
    hrw_load_free(rs->load);
    free(rs->m);
    free(rs->hw);
    free(rs->hh);
}

static int state_init(router_t *r, rstate_t *rs, const route_t *rt, size_t idx)
{
    memset(rs, 0, sizeof *rs);
    rs->route = rt;
    memset(rs->by_slot, 0xff, sizeof rs->by_slot);
    rs->bal = balancer_new(r->strategy, r->seed + idx * 0x9e3779b97f4a7c15ull);
    if (!rs->bal) return -ENOMEM;
    if (rt->affinity_field >= 0 && rt->balance_factor > 1 &&
        !(rs->load = hrw_load_new(HRW_MAX_MEMBERS)))
        return -ENOMEM;
    for (analyzer_t *a = r->head; a; a = a->next) {
        if (a->removed) continue;
        double w = route_weight_for(rt, a->spec.id);
        if (w < 0) continue;
        int rc = member_add(r, rs, a, w);
        if (rc) return rc;
    }
    return 0;
}

int router_set_routes(router_t *r, routes_t *t)
{
    size_t n = routes_count(t);
    rstate_t *ns = calloc(n, sizeof *ns);
    if (!ns) return -ENOMEM;
    for (size_t k = 0; k < n; k++) {
        int rc = state_init(r, &ns[k], routes_get(t, k), k);
        if (rc) {
            for (size_t j = 0; j <= k; j++) state_free(r, &ns[j]); /* nothing open yet */
            free(ns);
            return rc;
        }
    }
    for (size_t k = r->pend_done; k < r->pend_n; k++) { /* the record being routed keeps its plan */
        dest_t *d = &r->pend[k];
        if (d->route < 0) continue;
        int nk = routes_find(t, r->rs[d->route].route->name);
        d->route = nk >= 0 ? nk : (int)routes_default_index(t);
        d->mi = -1; /* looked up again; not a member any more: the route's hold */
    }
    for (size_t k = 0; k < r->nrs; k++) state_free(r, &r->rs[k]); /* seals the old batches */
    batch_t *b = r->noroute;
    r->noroute = NULL;
    if (b) seal_batch(r, NULL, b);
    free(r->rs);
    r->rs = ns;
    r->nrs = n;
    routes_unref(r->table);
    r->table = routes_ref(t);
    return 0;
}

const routes_t *router_routes(const router_t *r)
{
    return r->table;
}

/* ------------------------------------------------------------------ analyzers */

router_t *router_new(const config_t *cfg, const router_hooks_t *hooks)
{
    router_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->hooks = *hooks;
    r->strategy = cfg->strategy;
    r->seed = (uint64_t)cfg->listen_port * 2654435761u + 1;
    r->batch_max_records = cfg->batch_max_records;
    r->batch_max_bytes = cfg->batch_max_bytes;
    r->panic_pct = cfg->panic_threshold_pct;
    routes_t *t = NULL;
    if (routes_build(NULL, NULL, &t, NULL, 0) || router_set_routes(r, t)) {
        routes_unref(t);
        free(r);
        return NULL;
    }
    routes_unref(t);
    return r;
}

void router_free(router_t *r)
{
    if (!r) return;
    for (size_t k = 0; k < r->nrs; k++) {
        rstate_t *rs = &r->rs[k];
        for (size_t i = 0; i < rs->nm; i++) batch_free(rs->m[i].open);
        batch_free(rs->hold);
        balancer_free(rs->bal);
        hrw_load_free(rs->load);
        free(rs->m);
        free(rs->hw);
        free(rs->hh);
    }
    free(r->rs);
    batch_free(r->noroute);
    routes_unref(r->table);
    analyzer_t *a = r->head;
    while (a) {
        analyzer_t *n = a->next;
        free(a);
        a = n;
    }
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

/* Add or drop a in every route, as the table says. */
static int join_routes(router_t *r, analyzer_t *a)
{
    for (size_t k = 0; k < r->nrs; k++) {
        double w = route_weight_for(r->rs[k].route, a->spec.id);
        if (w < 0) continue;
        int rc = member_add(r, &r->rs[k], a, w);
        if (rc) return rc;
    }
    return 0;
}

static void leave_routes(router_t *r, analyzer_t *a)
{
    for (size_t k = 0; k < r->nrs; k++) {
        int i = member_index(&r->rs[k], a);
        if (i >= 0) member_remove(r, &r->rs[k], (size_t)i);
    }
}

int router_add(router_t *r, const analyzer_spec_t *spec, analyzer_t **out)
{
    if (router_find(r, spec->id)) return -EEXIST;
    if (!(spec->weight >= 0) || !isfinite(spec->weight)) return -EINVAL;
    analyzer_t *a = calloc(1, sizeof *a);
    if (!a) return -ENOMEM;
    a->spec = *spec;
    a->factor = 1.0;
    a->id_hash = hrw_hash(spec->id, strlen(spec->id));
    a->eligible = true;
    a->routable = true;
    int rc = join_routes(r, a);
    if (rc) {
        leave_routes(r, a);
        free(a);
        return rc;
    }
    if (r->tail)
        r->tail->next = a;
    else
        r->head = a;
    r->tail = a;
    if (out) *out = a;
    return 0;
}

/* a's weight or factor changed: every route it is in. */
static void resync(router_t *r, analyzer_t *a)
{
    for (size_t k = 0; k < r->nrs; k++) {
        int i = member_index(&r->rs[k], a);
        if (i < 0) continue;
        member_sync(&r->rs[k], (size_t)i);
        route_count_routable(&r->rs[k]);
    }
}

int router_update(router_t *r, analyzer_t *a, const analyzer_spec_t *spec)
{
    if (strcmp(spec->id, a->spec.id)) return -EINVAL;
    if (!(spec->weight >= 0) || !isfinite(spec->weight)) return -EINVAL;
    a->spec = *spec;
    resync(r, a);
    router_refresh(r);
    return 0;
}

int router_set_factor(router_t *r, analyzer_t *a, double factor)
{
    if (!(factor >= 0) || !isfinite(factor)) return -EINVAL;
    if (a->factor == factor) return 0;
    a->factor = factor;
    if (!a->removed) resync(r, a);
    return 0;
}

void router_set_user(analyzer_t *a, void *user)
{
    a->user = user;
}

void router_remove(router_t *r, analyzer_t *a)
{
    if (a->removed) return;
    leave_routes(r, a); /* seals its batches */
    a->removed = true;
    for (size_t k = r->pend_done; k < r->pend_n; k++) /* its part of a pending record: held */
        if (r->pend[k].a == a) r->pend[k].a = NULL;
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
    for (analyzer_t *a = r->head; a; a = a->next)
        if (!a->removed) a->routable = r->panic || a->eligible;
    for (size_t k = 0; k < r->nrs; k++) {
        rstate_t *rs = &r->rs[k];
        for (size_t i = 0; i < rs->nm; i++) member_sync(rs, i);
        route_count_routable(rs);
    }
}

bool router_in_panic(const router_t *r)
{
    return r->panic;
}

bool router_can_route(const router_t *r)
{
    for (const analyzer_t *a = r->head; a; a = a->next)
        if (!a->removed && a->routable && router_effective_weight(a) > 0) return true;
    return false;
}

void router_set_batch_limits(router_t *r, uint32_t max_records, uint64_t max_bytes)
{
    r->batch_max_records = max_records ? max_records : 1;
    r->batch_max_bytes = max_bytes ? (size_t)max_bytes : 1;
}

/* ------------------------------------------------------------------ routing */

/* Route rs's choice for the record classified in h. */
static void choose(router_t *r, rstate_t *rs, const route_hits_t *h, dest_t *d)
{
    d->route = (int)(rs - r->rs);
    d->mi = -1;
    d->a = NULL;
    d->by_key = false;
    if (!rs->routable) return;
    if (rs->hw) {
        char buf[KEY_BUF];
        const char *key;
        size_t klen;
        if (routes_affinity_key(rs->route, h, buf, sizeof buf, &key, &klen)) {
            uint64_t kh = hrw_hash(key, klen);
            int i = rs->load ? hrw_pick_bounded(rs->load, kh, rs->hh, rs->hw, rs->nm,
                                                rs->route->balance_factor)
                             : hrw_pick(kh, rs->hh, rs->hw, rs->nm);
            if (i >= 0) {
                d->mi = i;
                d->a = rs->m[i].a;
                d->by_key = true;
                return;
            }
        }
    }
    int slot = balancer_pick(rs->bal);
    if (slot >= 0) {
        d->mi = rs->by_slot[slot];
        d->a = rs->m[d->mi].a;
    }
}

/* d is one of the record's destinations: count it in its route. */
static void take(router_t *r, const dest_t *d)
{
    rstate_t *rs = &r->rs[d->route];
    rs->records++;
    rs->held += !d->a;
    rs->by_key += d->by_key;
    r->pend[r->pend_n++] = *d;
}

static bool already_going(const router_t *r, const analyzer_t *a)
{
    for (size_t k = 0; k < r->pend_n; k++)
        if (r->pend[k].a == a) return true;
    return false;
}

/* Decide every destination of record i of p. -EAGAIN when it has a route
 * but no analyzer at all is routable (routing waits, as without routes). */
static int plan(router_t *r, const packet_t *p, size_t i)
{
    const scan_record_t *rec = &p->records[i];
    route_hits_t h;
    if (routes_classify_scanned(r->table, p->data, rec, &h)) {
        h.primary = (int)routes_default_index(r->table); /* not an object: cannot happen */
        h.ncopies = 0;
    }
    int first = h.primary >= 0 ? h.primary : h.ncopies ? h.copies[0] : -1;
    if (first >= 0 && !r->rs[first].routable && !router_can_route(r)) return -EAGAIN;
    r->pend_n = r->pend_done = 0;
    dest_t d;
    if (h.primary >= 0) {
        choose(r, &r->rs[h.primary], &h, &d);
        take(r, &d);
    }
    for (size_t c = 0; c < h.ncopies; c++) {
        choose(r, &r->rs[h.copies[c]], &h, &d);
        if (d.a && already_going(r, d.a)) {
            r->rs[d.route].dedup++;
            METRIC_ADD(records_copies_deduplicated, 1);
            continue;
        }
        take(r, &d);
    }
    if (!r->pend_n) { /* no route takes it: the default route is empty */
        r->pend[0] = (dest_t){-1, -1, NULL, false};
        r->pend_n = 1;
        METRIC_ADD(records_no_route, 1);
    }
    if (r->pend_n > 1) {
        METRIC_ADD(records_copied, r->pend_n - 1);
        if (p->seqs && p->seqs[i] && r->hooks.fanout)
            r->hooks.fanout(r->hooks.ctx, p->seqs[i], (uint32_t)r->pend_n);
    }
    r->pend_p = p;
    r->pend_i = i;
    return 0;
}

/* d's member now (its index may have moved), or NULL: d goes to its route's
 * hold batch (no analyzer, or it left the route since the record was planned). */
static rmember_t *dest_member(router_t *r, dest_t *d)
{
    if (!d->a || d->route < 0) return NULL;
    rstate_t *rs = &r->rs[d->route];
    if (d->mi < 0 || (size_t)d->mi >= rs->nm || rs->m[d->mi].a != d->a) {
        d->mi = member_index(rs, d->a);
        if (d->mi < 0) {
            d->a = NULL;
            return NULL;
        }
    }
    return &rs->m[d->mi];
}

/* Append record i of p to destination d's batch. 0 or -ENOMEM (nothing appended). */
static int append(router_t *r, dest_t *d, const packet_t *p, size_t i, bool extra)
{
    const scan_record_t *rec = &p->records[i];
    rstate_t *rs = d->route >= 0 ? &r->rs[d->route] : NULL;
    rmember_t *m = dest_member(r, d);
    batch_t **slot = m ? &m->open : rs ? &rs->hold : &r->noroute;
    batch_t *b = *slot;
    if (b && batch_size_with(b, rec->rec.len) > r->batch_max_bytes) {
        if (m)
            seal_member(r, m);
        else {
            *slot = NULL;
            seal_batch(r, NULL, b);
        }
        b = NULL;
    }
    if (!b) {
        size_t hint = r->batch_max_bytes < 65536 ? r->batch_max_bytes : 65536;
        b = batch_new(hint > rec->rec.len ? hint : rec->rec.len + 64);
        if (!b) return -ENOMEM;
        if (rs) strcpy(b->route, rs->route->name);
        b->no_route = !rs;
        *slot = b;
        if (m) {
            m->a->nopen++;
            if (r->hooks.batch_opened) r->hooks.batch_opened(r->hooks.ctx, m->a);
        }
    }
    /* all or nothing: a record never sits in a batch without its WAL seq */
    if (batch_append_rec(b, p->data + rec->rec.off, rec->rec.len, p->seqs ? p->seqs[i] : 0))
        return -ENOMEM;
    b->copies += extra;
    if (m) {
        m->routed++;
        m->a->records_routed++;
        if (b->records >= r->batch_max_records) seal_member(r, m);
    }
    return 0;
}

int router_route_packet(router_t *r, packet_t *p)
{
    const size_t first = p->routed;
    LD_ASSERT(first <= p->count);
    size_t i = first;
    int rc = 0;
    for (; i < p->count; i++) {
        if (r->pend_p != p || r->pend_i != i) {
            rc = plan(r, p, i);
            if (rc) break;
        }
        while (r->pend_done < r->pend_n) {
            rc = append(r, &r->pend[r->pend_done], p, i, r->pend_done > 0);
            if (rc) break;
            r->pend_done++;
        }
        if (rc) break;
        r->pend_p = NULL;
    }
    p->routed = i;
    seal_holds(r); /* held and unroutable records are handed over packet by packet */
    METRIC_ADD(records_routed, i - first);
    return rc;
}

/* ------------------------------------------------------------------ retries, shares */

static rstate_t *state_of(const router_t *r, const batch_t *b)
{
    int k = b->route[0] ? routes_find(r->table, b->route) : -1;
    return &r->rs[k >= 0 ? (size_t)k : routes_default_index(r->table)];
}

/* A batch whose route has no analyzers (the empty default route): any routable
 * analyzer, in proportion to its weight (deterministic walk, rare path). */
static analyzer_t *pick_any(router_t *r, const analyzer_t *exclude)
{
    double total = 0;
    for (analyzer_t *a = r->head; a; a = a->next)
        if (a != exclude && !a->removed && a->routable) total += router_effective_weight(a);
    if (total <= 0) return NULL;
    double x = (double)(r->any_turn++ % 1000) / 1000.0 * total;
    analyzer_t *last = NULL;
    for (analyzer_t *a = r->head; a; a = a->next) {
        if (a == exclude || a->removed || !a->routable || router_effective_weight(a) <= 0) continue;
        last = a;
        if ((x -= router_effective_weight(a)) < 0) break;
    }
    return last;
}

analyzer_t *router_pick_other(router_t *r, const batch_t *b, const analyzer_t *exclude)
{
    rstate_t *rs = state_of(r, b);
    if (!rs->nm) /* an empty default (the batch's route may be gone): anyone rather than
                    nobody; a route that exists waits for a member of its own */
        return rs->route->is_default ? pick_any(r, exclude) : NULL;
    int ex = exclude && !exclude->removed ? member_index(rs, exclude) : -1;
    int slot = balancer_pick_excluding(rs->bal, ex >= 0 ? rs->m[ex].slot : -1);
    if (slot >= 0) return rs->m[rs->by_slot[slot]].a;
    if (ex >= 0 && exclude->routable && member_weight(&rs->m[ex], true) > 0)
        return (analyzer_t *)exclude;
    return NULL;
}

double router_batch_weight(const router_t *r, const batch_t *b, const analyzer_t *a)
{
    rstate_t *rs = state_of(r, b);
    if (!rs->nm) return rs->route->is_default && !a->removed ? router_effective_weight(a) : 0;
    int i = member_index(rs, a);
    return i < 0 ? 0 : member_weight(&rs->m[i], true);
}

static double target_share(const rstate_t *rs, size_t i)
{
    double total = 0;
    for (size_t j = 0; j < rs->nm; j++) total += member_weight(&rs->m[j], false);
    return total > 0 ? member_weight(&rs->m[i], false) / total : 0;
}

double router_target_share(const router_t *r, const analyzer_t *a)
{
    const rstate_t *rs = &r->rs[routes_default_index(r->table)];
    int i = a->removed ? -1 : member_index(rs, a);
    return i < 0 ? 0 : target_share(rs, (size_t)i);
}

double router_effective_share(const router_t *r, const analyzer_t *a)
{
    const rstate_t *rs = &r->rs[routes_default_index(r->table)];
    int i = a->removed ? -1 : member_index(rs, a);
    return i < 0 ? 0 : balancer_share(rs->bal, rs->m[i].slot);
}

int router_route_stats(const router_t *r, router_route_stat_t **out, size_t *n)
{
    router_route_stat_t *s = calloc(r->nrs ? r->nrs : 1, sizeof *s);
    if (!s) return -ENOMEM;
    for (size_t k = 0; k < r->nrs; k++) {
        const rstate_t *rs = &r->rs[k];
        router_route_stat_t *x = &s[k];
        snprintf(x->name, sizeof x->name, "%s", rs->route->name);
        x->records = rs->records;
        x->by_key = rs->by_key;
        x->held = rs->held;
        x->deduplicated = rs->dedup;
        x->members = calloc(rs->nm ? rs->nm : 1, sizeof *x->members);
        if (!x->members) {
            router_route_stats_free(s, k);
            return -ENOMEM;
        }
        x->nmembers = rs->nm;
        for (size_t i = 0; i < rs->nm; i++) {
            router_member_stat_t *m = &x->members[i];
            snprintf(m->analyzer, sizeof m->analyzer, "%s", rs->m[i].a->spec.id);
            m->weight = member_weight(&rs->m[i], false);
            m->effective_weight = member_weight(&rs->m[i], true);
            m->target_share = target_share(rs, i);
            m->effective_share = balancer_share(rs->bal, rs->m[i].slot);
            m->routed = rs->m[i].routed;
            m->routable = rs->m[i].a->routable;
        }
    }
    *out = s;
    *n = r->nrs;
    return 0;
}

void router_route_stats_free(router_route_stat_t *s, size_t n)
{
    if (!s) return;
    for (size_t k = 0; k < n; k++) free(s[k].members);
    free(s);
}
