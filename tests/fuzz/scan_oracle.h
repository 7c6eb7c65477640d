/*
 * scan_oracle.h - the differential oracle of the JSON scanner: jansson parses the same
 * body and the two must agree, directly or through a known, documented divergence that
 * is verified by rewriting the body (see the comment at JFLAGS below). Shared by the
 * cmocka differential test (tests/unit/test_scan.c, test_fuzz_vs_jansson: mutated seeds
 * from a PRNG) and the libFuzzer target tests/fuzz/fuzz_scan.c (coverage-guided inputs).
 *
 * Entry point: check_input(body, len, format, result, stats, 0) scans the body with
 * default limits into `result` (reused), runs jansson, and returns NULL when they agree,
 * else a static description of the disagreement (also printed to stderr with the body).
 * On agreement it also checks, for accepted bodies, every record slice and field against
 * jansson's DOM, the exact depth / record count / record size limits, and that a NUL or
 * 0xFF put at a random position is rejected there; for rejected bodies, the error offset
 * rule of scan.h. The random position comes from rng_state (the caller seeds it).
 *
 * Everything here is static: include it from one translation unit. Needs _GNU_SOURCE
 * (memmem) and jansson. Not thread-safe (a static reason buffer and PRNG state).
 */
#ifndef LOGDIST_TESTS_SCAN_ORACLE_H
#define LOGDIST_TESTS_SCAN_ORACLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record/scan.h"

/* Prints n bytes of s as a C string literal with non-printable bytes hex-escaped. */
static void print_escaped(const char *label, const char *s, size_t n)
{
    fprintf(stderr, "%s (%zu B): \"", label, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            fprintf(stderr, "\\%c", ch);
        else if (ch >= 0x20 && ch < 0x7f)
            fputc(ch, stderr);
        else
            fprintf(stderr, "\\x%02x\"\"", ch); /* "" so a following hex digit stays apart */
    }
    fprintf(stderr, "\"\n");
}

/* malloc'd copy of exactly n bytes (at least 1 allocated), so ASan sees over-reads. */
static char *dup_exact(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);
    if (!p) abort();
    if (n) memcpy(p, s, n);
    return p;
}

static bool slice_absent(scan_slice_t s)
{
    return s.off == 0 && s.len == 0;
}

/* Status expected when byte `bad` (NUL or 0xFF) replaces body[i] of a valid body: 0xFF is
 * never UTF-8; NUL is never valid JSON text, and is a UTF-8 error when it cuts short a
 * multi-byte sequence (the byte before it is non-ASCII), a syntax error otherwise. */
static bool bad_byte_status_ok(const char *b, size_t i, char bad, int status)
{
    if (bad != 0) return status == SCAN_ERR_UTF8;
    if (status == SCAN_ERR_SYNTAX) return true;
    return status == SCAN_ERR_UTF8 && i > 0 && (unsigned char)b[i - 1] >= 0x80;
}

/* ==================================================================================== */
/* Differential fuzz test against jansson                                               */

/*
 * Oracle flags: JSON_DECODE_ANY lets a scalar top level parse, so "valid but wrong shape"
 * can be told from "invalid"; JSON_ALLOW_NUL is needed because without it jansson rejects
 * the valid escape \u0000 (it does not make raw NUL bytes acceptable). Neither loosens the
 * grammar. Not used: JSON_DISABLE_EOF_CHECK (would accept trailing garbage),
 * JSON_REJECT_DUPLICATES (duplicate keys are valid JSON; both sides keep the last one).
 *
 * Known, documented divergences, each checked by a rewrite rather than waved through:
 *   nul_after_scalar  jansson skips one NUL byte right after a number or literal
 *                     ({"x":1\0}). We reject at that NUL; deleting it must give a body
 *                     that jansson parses to the same value and that we then accept.
 *   lone_surrogate    jansson rejects \uD800-\uDFFF escapes that do not form a pair; we
 *                     accept them (grammar-valid). Rewriting every surrogate escape to
 *                     \u0058 must not change our result, and jansson must then agree.
 *   number_overflow   jansson rejects integers beyond int64 and reals beyond double; we
 *                     check syntax only. Rewriting the reported number to [-]1e000.. of
 *                     the same length must not change our result, and jansson then agrees.
 *   nul_in_key        jansson cannot store \u0000 in an object key. Rewritten to \u0001.
 */
#define JFLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL)

typedef struct {
    bool valid;    /* jansson parsed it (every non-blank line for NDJSON) */
    bool shape_ok; /* and it has the right shape */
    json_t *root;  /* owned; for NDJSON an array of the lines' values */
    json_t *recs;  /* borrowed: the records when shape_ok */
    json_t *packet_id, *agent_id;
    char text[JSON_ERROR_TEXT_LENGTH];
    size_t errpos; /* byte offset reported by jansson, from the body start */
} oracle_t;

static bool all_objects(json_t *arr)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (!json_is_object(v)) return false;
    return true;
}

/* Parses the body with jansson and applies the same shape rules as scan.h. */
static void oracle_run(const char *b, size_t n, scan_format_t fmt, oracle_t *o)
{
    json_error_t e;
    memset(o, 0, sizeof *o);
    if (fmt != SCAN_FORMAT_NDJSON) {
        o->root = json_loadb(b, n, JFLAGS, &e);
        if (!o->root) {
            snprintf(o->text, sizeof o->text, "%s", e.text);
            o->errpos = (size_t)e.position;
            return;
        }
        o->valid = true;
        if (json_is_object(o->root)) {
            json_t *m = json_object_get(o->root, "messages");
            o->shape_ok = json_is_array(m) && all_objects(m);
            o->recs = m;
            o->packet_id = json_object_get(o->root, "packet_id");
            o->agent_id = json_object_get(o->root, "agent_id");
        } else if (json_is_array(o->root)) {
            o->shape_ok = all_objects(o->root);
            o->recs = o->root;
        }
        return;
    }
    o->root = json_array();
    o->valid = o->shape_ok = true;
    o->recs = o->root;
    size_t pos = 0;
    while (pos < n) {
        const char *nl = memchr(b + pos, '\n', n - pos);
        size_t end = nl ? (size_t)(nl - b) : n, i = pos;
        while (i < end && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r'))
            i++;
        if (i < end) {
            json_t *v = json_loadb(b + pos, end - pos, JFLAGS, &e);
            if (!v) {
                o->valid = o->shape_ok = false;
                snprintf(o->text, sizeof o->text, "%s", e.text);
                o->errpos = pos + (size_t)e.position;
                return;
            }
            if (!json_is_object(v)) o->shape_ok = false;
            json_array_append_new(o->root, v);
        }
        pos = end + 1;
    }
}

static void oracle_free(oracle_t *o)
{
    json_decref(o->root);
    o->root = NULL;
}

typedef struct {
    long iterations, json, ndjson;
    long agree_ok, agree_shape, agree_reject;
    long records_checked, prefix_checks, limit_checks;
    long nul_after_scalar, lone_surrogate, number_overflow, nul_in_key;
    long failures;
} fuzz_stats_t;

static char reason_buf[512];

/* Checks a string field slice against jansson's value: present iff a string (or, for the
 * id, a number), same decoded contents, escaped flag iff a backslash is in the slice. */
static const char *check_field(const char *b, const char *name, scan_slice_t s, int esc, json_t *jv,
                               bool number_ok)
{
    json_error_t e;
    if (json_is_string(jv)) {
        if (slice_absent(s) || b[s.off - 1] != '"' || b[s.off + s.len] != '"')
            return snprintf(reason_buf, sizeof reason_buf, "%s: bad string slice", name),
                   reason_buf;
        char *q = malloc(s.len + 2);
        q[0] = '"';
        memcpy(q + 1, b + s.off, s.len);
        q[s.len + 1] = '"';
        json_t *d = json_loadb(q, s.len + 2, JFLAGS, &e);
        bool eq = d && json_equal(d, jv);
        json_decref(d);
        free(q);
        if (!eq)
            return snprintf(reason_buf, sizeof reason_buf, "%s: value differs", name), reason_buf;
        if (esc >= 0 && esc != (memchr(b + s.off, '\\', s.len) != NULL))
            return snprintf(reason_buf, sizeof reason_buf, "%s: escaped flag", name), reason_buf;
    } else if (number_ok && json_is_number(jv)) {
        json_t *d = slice_absent(s) ? NULL : json_loadb(b + s.off, s.len, JFLAGS, &e);
        bool eq = d && json_equal(d, jv);
        json_decref(d);
        if (!eq || esc > 0)
            return snprintf(reason_buf, sizeof reason_buf, "%s: number differs", name), reason_buf;
    } else if (!slice_absent(s) || esc > 0) {
        return snprintf(reason_buf, sizeof reason_buf, "%s: present but not a string", name),
               reason_buf;
    }
    return NULL;
}

/* Compares our accepted records with jansson's DOM. */
static const char *compare_records(const char *b, scan_format_t fmt, const scan_result_t *res,
                                   const oracle_t *o, fuzz_stats_t *st)
{
    json_error_t e;
    if (res->count != json_array_size(o->recs))
        return snprintf(reason_buf, sizeof reason_buf, "record count %zu vs jansson %zu",
                        res->count, json_array_size(o->recs)),
               reason_buf;
    size_t prev_end = 0;
    for (size_t i = 0; i < res->count; i++) {
        const scan_record_t *r = &res->records[i];
        json_t *jr = json_array_get(o->recs, i);
        if (r->rec.off < prev_end || r->rec.len < 2 || b[r->rec.off] != '{' ||
            b[r->rec.off + r->rec.len - 1] != '}')
            return snprintf(reason_buf, sizeof reason_buf, "record %zu: bad slice %u+%u", i,
                            r->rec.off, r->rec.len),
                   reason_buf;
        prev_end = (size_t)r->rec.off + r->rec.len;
        json_t *alone = json_loadb(b + r->rec.off, r->rec.len, JFLAGS, &e);
        bool eq = json_is_object(alone) && json_equal(alone, jr);
        json_decref(alone);
        if (!eq)
            return snprintf(reason_buf, sizeof reason_buf,
                            "record %zu: slice %u+%u differs from jansson's element", i, r->rec.off,
                            r->rec.len),
                   reason_buf;
        const char *why;
        if ((why = check_field(b, "id", r->id, !!(r->flags & SCAN_REC_ID_ESCAPED),
                               json_object_get(jr, "id"), true)) ||
            (why = check_field(b, "level", r->level, !!(r->flags & SCAN_REC_LEVEL_ESCAPED),
                               json_object_get(jr, "level"), false)) ||
            (why = check_field(b, "source", r->source, !!(r->flags & SCAN_REC_SOURCE_ESCAPED),
                               json_object_get(jr, "source"), false)) ||
            (why = check_field(b, "type", r->type, !!(r->flags & SCAN_REC_TYPE_ESCAPED),
                               json_object_get(jr, "type"), false)))
            return why;
        if (!!(r->flags & SCAN_REC_CRITICAL) != json_is_true(json_object_get(jr, "critical")))
            return "critical flag differs";
        st->records_checked++;
    }
    bool packet = fmt != SCAN_FORMAT_NDJSON && json_is_object(o->root);
    const char *why;
    if ((why = check_field(b, "packet_id", res->packet_id, -1, packet ? o->packet_id : NULL,
                           false)) ||
        (why = check_field(b, "agent_id", res->agent_id, -1, packet ? o->agent_id : NULL, false)))
        return why;
    return NULL;
}

/* Maximum nesting of a valid JSON text (brackets outside strings). */
static uint32_t lexical_depth(const char *b, size_t n)
{
    uint32_t d = 0, max = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++d > max) max = d;
        } else if (c == ']' || c == '}') {
            d--;
        }
    }
    return max;
}

static uint64_t rng_state;
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static size_t rng_below(size_t n)
{
    return (size_t)(rng_next() % n);
}

/* Properties of an accepted body: limits just at / just below what it needs are
 * accepted / rejected with the right status, and a NUL or 0xFF put anywhere is rejected
 * right there. `b` is writable and restored. */
static const char *check_accepted_properties(char *b, size_t n, scan_format_t fmt,
                                             scan_result_t *res, fuzz_stats_t *st)
{
    size_t count = res->count, maxlen = 0, max_off = 0;
    for (size_t i = 0; i < count; i++)
        if (res->records[i].rec.len > maxlen) {
            maxlen = res->records[i].rec.len;
            max_off = res->records[i].rec.off;
        }
    /* a body with several "messages" keys may have bigger overridden arrays: skip the
     * exact-limit checks when that may be the case (a second "...ages\"" or any \u) */
    const char *m1 = memmem(b, n, "ages\"", 5);
    bool dup = memmem(b, n, "\\u", 2) != NULL ||
               (m1 && memmem(m1 + 1, n - (size_t)(m1 + 1 - b), "ages\"", 5) != NULL);
    scan_limits_t lim = {0};
    uint32_t depth = lexical_depth(b, n);
    if (depth >= 2) {
        lim.max_depth = depth;
        if (scan_body(b, n, fmt, &lim, res) != SCAN_OK)
            return "rejected with max_depth = its depth";
        lim.max_depth = depth - 1;
        if (scan_body(b, n, fmt, &lim, res) != SCAN_ERR_DEPTH)
            return "not SCAN_ERR_DEPTH with max_depth = its depth - 1";
        lim.max_depth = 0;
        st->limit_checks += 2;
    }
    if (count >= 2) {
        lim.max_records = (uint32_t)count - 1;
        if (scan_body(b, n, fmt, &lim, res) != SCAN_ERR_TOO_MANY)
            return "not SCAN_ERR_TOO_MANY with max_records = count - 1";
        lim.max_records = (uint32_t)count;
        if (!dup && scan_body(b, n, fmt, &lim, res) != SCAN_OK)
            return "rejected with max_records = count";
        lim.max_records = 0;
        st->limit_checks += 2;
    }
    if (maxlen >= 2 && !dup) {
        lim.max_record_bytes = (uint32_t)maxlen - 1;
        if (scan_body(b, n, fmt, &lim, res) != SCAN_ERR_RECORD_SIZE ||
            res->err_offset != max_off + maxlen - 1)
            return "not SCAN_ERR_RECORD_SIZE at the right offset with max_record_bytes = max - 1";
        lim.max_record_bytes = (uint32_t)maxlen;
        if (scan_body(b, n, fmt, &lim, res) != SCAN_OK)
            return "rejected with max_record_bytes = longest record";
        st->limit_checks += 2;
    }
    if (n > 0) {
        size_t i = rng_below(n);
        char save = b[i];
        b[i] = 0;
        int s0 = scan_body(b, n, fmt, NULL, res);
        size_t o0 = res->err_offset;
        b[i] = (char)0xff;
        int s1 = scan_body(b, n, fmt, NULL, res);
        size_t o1 = res->err_offset;
        b[i] = save;
        if (!bad_byte_status_ok(b, i, 0, s0) || o0 != i || s1 != SCAN_ERR_UTF8 || o1 != i)
            return "NUL/0xFF put into an accepted body not rejected at its offset";
        st->limit_checks += 2;
    }
    return NULL;
}

/* For a body rejected at k with a syntax/UTF-8 error: its first k bytes must be a valid
 * body or merely truncated (at k), and its first k+1 bytes must fail at k. */
static const char *check_error_offset(const char *b, size_t n, scan_format_t fmt, size_t k,
                                      scan_result_t *res, fuzz_stats_t *st)
{
    int s = scan_body(b, k, fmt, NULL, res);
    if (!(s == SCAN_OK || s == SCAN_ERR_SHAPE || (s == SCAN_ERR_SYNTAX && res->err_offset == k)))
        return snprintf(reason_buf, sizeof reason_buf,
                        "prefix before err_offset %zu is not valid-or-truncated (%s at %zu)", k,
                        scan_status_name(s), res->err_offset),
               reason_buf;
    if (k < n) {
        s = scan_body(b, k + 1, fmt, NULL, res);
        if (!((s == SCAN_ERR_SYNTAX || s == SCAN_ERR_UTF8) && res->err_offset == k))
            return snprintf(reason_buf, sizeof reason_buf,
                            "prefix through err_offset %zu does not fail there (%s at %zu)", k,
                            scan_status_name(s), res->err_offset),
                   reason_buf;
    }
    st->prefix_checks++;
    return NULL;
}

/* Our complete result, to compare two scans. */
typedef struct {
    int status;
    size_t err_offset, count;
    scan_slice_t packet_id, agent_id;
    scan_record_t *recs;
} snapshot_t;

static void snap_take(snapshot_t *s, const scan_result_t *res)
{
    s->status = res->status;
    s->err_offset = res->status ? res->err_offset : 0;
    s->count = res->count;
    s->packet_id = res->packet_id;
    s->agent_id = res->agent_id;
    s->recs = malloc(res->count * sizeof(scan_record_t) + 1);
    if (res->count) memcpy(s->recs, res->records, res->count * sizeof(scan_record_t));
}

static bool snap_same(const snapshot_t *a, const snapshot_t *b)
{
    return a->status == b->status && a->err_offset == b->err_offset && a->count == b->count &&
           !memcmp(&a->packet_id, &b->packet_id, sizeof a->packet_id) &&
           !memcmp(&a->agent_id, &b->agent_id, sizeof a->agent_id) &&
           (a->count == 0 || !memcmp(a->recs, b->recs, a->count * sizeof(scan_record_t)));
}

/* Copy of b with \uXXXX escapes rewritten: surrogates to \u0058 (mode 0) or \u0000 to
 * \u0001 (mode 1). Escaped backslashes are skipped. Sets *changed. */
static char *rewrite_escapes(const char *b, size_t n, int mode, bool *changed)
{
    char *c = dup_exact(b, n);
    *changed = false;
    for (size_t i = 0; i + 1 < n; i++) {
        if (c[i] != '\\') continue;
        if (c[i + 1] == 'u' && i + 5 < n) {
            char hex[5] = {c[i + 2], c[i + 3], c[i + 4], c[i + 5], 0};
            char *end;
            long cp = strtol(hex, &end, 16);
            if (end == hex + 4 && hex[0] != '-' && hex[0] != '+' && hex[0] != ' ') {
                const char *to = NULL;
                if (mode == 0 && cp >= 0xd800 && cp <= 0xdfff)
                    to = "0058";
                else if (mode == 1 && cp == 0)
                    to = "0001";
                if (to) {
                    memcpy(c + i + 2, to, 4);
                    *changed = true;
                }
            }
        }
        i++; /* skip the escaped character */
    }
    return c;
}

static const char *check_input(const char *b, size_t n, scan_format_t fmt, scan_result_t *res,
                               fuzz_stats_t *st, int depth);

/* We accept (or call it wrong-shape), jansson rejects: try the known explanations.
 * Returns NULL when one of them accounts for the whole difference. */
static const char *explain_jansson_reject(const char *b, size_t n, scan_format_t fmt,
                                          scan_result_t *res, fuzz_stats_t *st, int depth,
                                          const oracle_t *o)
{
    char *b2 = NULL;
    long *counter;
    bool changed = false;
    if (strncmp(o->text, "invalid Unicode", 15) == 0) {
        b2 = rewrite_escapes(b, n, 0, &changed);
        counter = &st->lone_surrogate;
    } else if (strstr(o->text, "NUL byte in object key")) {
        b2 = rewrite_escapes(b, n, 1, &changed);
        counter = &st->nul_in_key;
    } else if (strncmp(o->text, "real number overflow", 20) == 0 ||
               strncmp(o->text, "too big", 7) == 0) {
        size_t e = o->errpos < n ? o->errpos : n, s = e;
        while (s > 0 && strchr("0123456789+-.eE", b[s - 1]) && b[s - 1])
            s--;
        if (s < e && b[s] == '-') s++;
        if (e - s >= 3 && b[s] >= '0' && b[s] <= '9') {
            b2 = dup_exact(b, n);
            b2[s] = '1';
            b2[s + 1] = 'e';
            memset(b2 + s + 2, '0', e - s - 2);
            changed = true;
        }
        counter = &st->number_overflow;
    } else {
        return "we accept, jansson rejects";
    }
    const char *why = NULL;
    if (!changed) {
        why = "known jansson error but nothing to rewrite";
    } else {
        snapshot_t before, after;
        scan_body(b, n, fmt, NULL, res);
        snap_take(&before, res);
        scan_body(b2, n, fmt, NULL, res);
        snap_take(&after, res);
        if (!snap_same(&before, &after))
            why = "rewrite for a known jansson divergence changed our result";
        else
            why = check_input(b2, n, fmt, res, st, depth + 1);
        free(before.recs);
        free(after.recs);
        if (!why && depth == 0) (*counter)++;
    }
    free(b2);
    return why;
}

/*
 * Runs the scanner and jansson on one body and checks they agree (directly or through a
 * known divergence). Returns NULL, or a description of the disagreement.
 */
static const char *check_input(const char *b, size_t n, scan_format_t fmt, scan_result_t *res,
                               fuzz_stats_t *st, int depth)
{
    /* each rewrite removes one known divergence (a token of 2+ bytes) and adds none */
    if (depth > 8 && (size_t)depth > n / 2) return "too many rewrites";
    oracle_t o;
    int ours = scan_body(b, n, fmt, NULL, res);
    size_t k = res->err_offset;
    oracle_run(b, n, fmt, &o);
    bool our_valid = ours == SCAN_OK || ours == SCAN_ERR_SHAPE;
    const char *why = NULL;

    if (our_valid && o.valid) {
        if ((ours == SCAN_OK) != o.shape_ok) {
            why = ours == SCAN_OK ? "we accept, jansson's DOM has the wrong shape"
                                  : "we say wrong shape, jansson's DOM has the right one";
        } else if (ours == SCAN_OK) {
            why = compare_records(b, fmt, res, &o, st);
            if (!why && depth == 0) {
                char *w = dup_exact(b, n);
                why = check_accepted_properties(w, n, fmt, res, st);
                free(w);
            }
            if (!why && depth == 0) st->agree_ok++;
        } else if (depth == 0) {
            st->agree_shape++;
        }
    } else if (!our_valid && !o.valid) {
        if (ours != SCAN_ERR_SYNTAX && ours != SCAN_ERR_UTF8)
            why = "both reject, but our status is not syntax/utf8";
        else
            why = check_error_offset(b, n, fmt, k, res, st);
        if (!why && depth == 0) st->agree_reject++;
    } else if (!our_valid) {
        /* jansson accepts: only the NUL-after-scalar hole is known */
        why = "we reject, jansson accepts";
        if (ours == SCAN_ERR_SYNTAX && k > 0 && k < n && b[k] == 0 && b[k - 1] &&
            strchr("0123456789el", b[k - 1])) {
            char *b2 = malloc(n);
            memcpy(b2, b, k);
            memcpy(b2 + k, b + k + 1, n - k - 1);
            oracle_t o2;
            oracle_run(b2, n - 1, fmt, &o2);
            if (o2.valid && json_equal(o.root, o2.root)) {
                why = check_input(b2, n - 1, fmt, res, st, depth + 1);
                if (!why && depth == 0) st->nul_after_scalar++;
            }
            oracle_free(&o2);
            free(b2);
        }
    } else {
        why = explain_jansson_reject(b, n, fmt, res, st, depth, &o);
    }
    if (why && depth == 0) {
        scan_body(b, n, fmt, NULL, res);
        fprintf(stderr, "FUZZ DISAGREEMENT: %s\n", why);
        print_escaped("  input", b, n);
        fprintf(stderr,
                "  format %s; ours: %s at %zu (%s), %zu records; jansson: %s%s%s (at %zu)\n",
                fmt == SCAN_FORMAT_NDJSON ? "ndjson" : "json", scan_status_name(res->status),
                res->err_offset, res->err_msg ? res->err_msg : "-", res->count,
                o.valid ? "valid" : "invalid", o.valid ? "" : ": ", o.text, o.errpos);
    }
    oracle_free(&o);
    return why;
}

#endif
