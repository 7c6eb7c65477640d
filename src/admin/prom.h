/*
 * prom.h - GET /metrics in the Prometheus text exposition format 0.0.4.
 *
 * Two parts, both pure (memory only, no I/O, no globals):
 *  - a writer (prom_t): families with their HELP and TYPE lines, samples with
 *    escaped label values, histograms from a hist_snap_t;
 *  - prom_render(): every logdist series from plain snapshot data
 *    (prom_input_t: the counters, the delivery snapshot, histogram snapshots,
 *    /proc/self figures). admin.c gathers the input and answers.
 *
 * The series, their types and labels are listed in docs/API.md ("GET
 * /metrics"). Labels are bounded: analyzer (the registered analyzers),
 * reason, proto, state, scope - never per agent or per record.
 */
#ifndef LOGDIST_PROM_H
#define LOGDIST_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "core/histogram.h"
#include "core/metrics.h"
#include "core/procself.h"
#include "deliver/deliver.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef enum { PROM_COUNTER, PROM_GAUGE, PROM_HISTOGRAM } prom_type_t;

typedef struct {
    const char *name, *value; /* value escaped on output */
} prom_label_t;

/* A growing text buffer. Errors (ENOMEM) are sticky: see prom_text(). */
typedef struct prom prom_t;

prom_t *prom_new(void); /* NULL on ENOMEM; free with prom_free */
void prom_free(prom_t *p);

/* The text written so far (owned by p, NUL-terminated) and its length; NULL
 * if any write ran out of memory. */
const char *prom_text(const prom_t *p, size_t *len);

/* "# HELP name help" (help escaped) and "# TYPE name type". */
void prom_family(prom_t *p, const char *name, prom_type_t type, const char *help);

/* One sample line: name{labels} value. Integers exactly; doubles in the
 * shortest form that reads back the same; NaN, +Inf, -Inf as Prometheus
 * spells them. */
void prom_sample(prom_t *p, const char *name, const prom_label_t *labels, size_t nlabels,
                 double value);
void prom_sample_u64(prom_t *p, const char *name, const prom_label_t *labels, size_t nlabels,
                     uint64_t value);

/* The _bucket (cumulative, le in base units, then +Inf), _sum and _count
 * lines of one histogram series (the family line is the caller's). */
void prom_histogram(prom_t *p, const char *name, const prom_label_t *labels, size_t nlabels,
                    const hist_snap_t *h);

/* Everything GET /metrics shows. Pointers may be NULL where noted. */
typedef struct {
    const metrics_t *m;                 /* the counters (read with relaxed loads) */
    uint64_t queue_bytes, queue_records;
    uint64_t connections_open, body_bytes_in_flight;
    const deliver_snapshot_t *d;        /* NULL: no analyzer series */
    const hist_snap_t *ingest_duration; /* seconds; NULL: omitted */
    const hist_snap_t *batch_records;   /* records; NULL: omitted */
    const procself_t *proc;             /* NULL: no process_* series */
    const router_route_stat_t *routes;  /* per route and member (deliver_route_stats) */
    size_t nroutes;                     /* 0: no route series */
    const char *version;
} prom_input_t;

/* Write every series of `in` to p. */
void prom_render(prom_t *p, const prom_input_t *in);

#endif
