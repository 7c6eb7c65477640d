/*
 * body.h - packet body templates for logdist-gen.
 *
 * A body is built once from the seed (levels, sources, messages, critical flags
 * chosen by a deterministic PRNG) with placeholder ids and timestamps; every time
 * it is sent it is patched in place: each record's id becomes "<prefix>-<seq>"
 * with a fixed-width 12-digit decimal seq, the timestamps become the send time
 * and (json format) the packet_id gets the packet's sequence number. Patching is
 * a handful of memcpy per record, so the hot path never formats JSON.
 */
#ifndef LOGDIST_GEN_BODY_H
#define LOGDIST_GEN_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

#define GEN_SEQ_DIGITS 12 /* width of the decimal seq in ids and packet ids */
#define GEN_SEQ_MAX 999999999999ull
#define GEN_TS_LEN 24 /* "2026-11-27T15:00:00.123Z" */
#define GEN_MAX_LEVELS 16
#define GEN_NAME_MAX 32   /* longest level name */
#define GEN_PREFIX_MAX 64 /* longest id prefix */

typedef enum { GEN_FMT_JSON = 0, GEN_FMT_ARRAY = 1, GEN_FMT_NDJSON = 2 } gen_format_t;

/* What the bodies contain. Filled by the caller (gen_levels_parse for the levels). */
typedef struct {
    gen_format_t format;
    char prefix[GEN_PREFIX_MAX + 1]; /* id prefix: [A-Za-z0-9._:-]+ */
    char agent_id[GEN_PREFIX_MAX + 1];
    double critical_ratio; /* 0..1 */
    char levels[GEN_MAX_LEVELS][GEN_NAME_MAX + 1];
    uint32_t level_weight[GEN_MAX_LEVELS];
    size_t nlevels;
    uint32_t nsources;   /* 0: the built-in source names; N: "src-0000".."src-<N-1>" (--sources) */
    uint32_t ntrace_ids; /* 0: none; N: metadata.trace_id "t-0".."t-<N-1>" (--trace-ids) */
} gen_body_config_t;

/* One packet body and where to patch it. */
typedef struct {
    char *buf; /* uncompressed body, len bytes */
    size_t len;
    size_t cap;
    uint32_t nrec;
    uint32_t *id_off;  /* per record: offset of the GEN_SEQ_DIGITS seq digits */
    uint32_t *ts_off;  /* per record: offset of the GEN_TS_LEN timestamp */
    uint32_t pid_off;  /* offset of the packet seq digits (json format only, else 0) */
    unsigned char *gz; /* gzip of buf after the last gen_body_gzip(), gz_len bytes */
    size_t gz_len;
    size_t gz_cap;
} gen_body_t;

/* Parse "NAME[:WEIGHT],..." (names [A-Za-z0-9_-], <= 32 chars, weights 1..1000000,
 * default 1, at most 16 names) into cfg->levels. Returns 0, or -1 with *err set. */
int gen_levels_parse(gen_body_config_t *cfg, const char *spec, const char **err);

/* (Re)build b with nrec records (nrec >= 1) drawn from *rng. Returns 0 or -1 on OOM
 * (b is then empty but still valid for gen_body_free). */
int gen_body_build(gen_body_t *b, const gen_body_config_t *cfg, uint64_t *rng, uint32_t nrec);

/* Patch b for sending: record i gets seq first_seq + i, every record the timestamp
 * ts[0..GEN_TS_LEN), the packet id packet_seq. Seqs must be <= GEN_SEQ_MAX. */
void gen_body_patch(gen_body_t *b, uint64_t first_seq, uint64_t packet_seq, const char *ts);

/* Gzip b->buf into b->gz with the (initialised, gzip-wrapper) deflate stream zs.
 * Returns 0 or -1 (OOM / zlib error). */
int gen_body_gzip(gen_body_t *b, z_stream *zs);

/* Free b's memory; b is left empty. */
void gen_body_free(gen_body_t *b);

/* Write v as GEN_SEQ_DIGITS zero-padded decimal digits to out (no terminator). */
void gen_seq_format(char *out, uint64_t v);

/* Increment a GEN_SEQ_DIGITS-digit decimal string in place (wraps at all nines). */
void gen_seq_inc(char *d);

#endif
