/*
 * scan_invariants.h - checks of scan_body()'s documented contract (src/record/scan.h)
 * on one result, shared by the libFuzzer targets (tests/fuzz/fuzz_*.c) and the cmocka
 * replay test (tests/unit/test_fuzz_regressions.c).
 *
 * scan_check() returns NULL when the result is consistent, else a static message
 * naming the first violated rule. Checked:
 *   - the return value equals out->status; a known status;
 *   - success: err_offset 0, err_msg NULL; count <= capacity and <= max_records;
 *     every record inside the body, starting with '{' and ending with '}', no longer
 *     than max_record_bytes, in increasing order and not overlapping; for NDJSON no
 *     record spans a '\n'; id/level/source/type slices inside their record (strictly
 *     between its braces), string fields between quotes, numeric ids starting with
 *     '-' or a digit, *_ESCAPED flags set exactly when the slice holds a backslash;
 *     packet_id/agent_id absent for NDJSON, quoted and inside the body otherwise;
 *   - error: count 0, packet_id/agent_id absent, err_msg set, err_offset <= len.
 */
#ifndef LOGDIST_TESTS_SCAN_INVARIANTS_H
#define LOGDIST_TESTS_SCAN_INVARIANTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "record/scan.h"

static inline bool scan_inv_absent(scan_slice_t s)
{
    return s.off == 0 && s.len == 0;
}

/* Effective limits, as scan_body() derives them from `lim` (NULL or 0 = default). */
static inline void scan_inv_limits(const scan_limits_t *lim, uint64_t *max_records,
                                   uint64_t *max_record_bytes)
{
    *max_records = lim && lim->max_records ? lim->max_records : 100000;
    *max_record_bytes = lim && lim->max_record_bytes ? lim->max_record_bytes : (1u << 20);
}

/* A quoted string field [off, off+len) strictly inside [lo, hi). */
static inline const char *scan_inv_string(const char *body, scan_slice_t s, uint64_t lo,
                                          uint64_t hi, bool escaped, const char *what)
{
    (void)what;
    uint64_t off = s.off, end = (uint64_t)s.off + s.len;
    if (off < lo + 1 || end + 1 > hi) return "string slice outside its container";
    if (body[off - 1] != '"' || body[end] != '"') return "string slice not between quotes";
    bool has_bs = memchr(body + off, '\\', s.len) != NULL;
    if (has_bs != escaped) return "ESCAPED flag does not match the slice";
    return NULL;
}

static inline const char *scan_check(const char *body, size_t len, scan_format_t fmt,
                                     const scan_limits_t *lim, int rc, const scan_result_t *r)
{
    if (rc != (int)r->status) return "return value differs from out->status";
    if (rc > 0 || rc < SCAN_ERR_NOMEM) return "unknown status";
    if (rc != SCAN_OK) {
        if (r->count != 0) return "error with count != 0";
        if (!scan_inv_absent(r->packet_id) || !scan_inv_absent(r->agent_id))
            return "error with packet_id/agent_id set";
        if (r->err_msg == NULL || r->err_msg[0] == 0) return "error without err_msg";
        if (r->err_offset > len) return "err_offset past the end of the body";
        return NULL;
    }
    if (r->err_offset != 0 || r->err_msg != NULL) return "success with err_offset/err_msg set";
    uint64_t max_records, max_record_bytes;
    scan_inv_limits(lim, &max_records, &max_record_bytes);
    if (r->count > r->capacity) return "count > capacity";
    if (r->count > max_records) return "more records than max_records";
    if (r->count && r->records == NULL) return "records NULL with count > 0";
    uint64_t prev_end = 0;
    for (size_t i = 0; i < r->count; i++) {
        const scan_record_t *x = &r->records[i];
        uint64_t off = x->rec.off, end = (uint64_t)x->rec.off + x->rec.len;
        if (x->rec.len < 2) return "record shorter than {}";
        if (end > len) return "record past the end of the body";
        if (body[off] != '{' || body[end - 1] != '}') return "record not {...}";
        if (x->rec.len > max_record_bytes) return "record longer than max_record_bytes";
        if (i > 0 && off < prev_end) return "records overlap or out of order";
        prev_end = end;
        if (fmt == SCAN_FORMAT_NDJSON && memchr(body + off, '\n', x->rec.len))
            return "NDJSON record spans a line";
        if (x->flags & ~(uint32_t)0x1f) return "unknown record flag";
        const char *e;
        if (!scan_inv_absent(x->level) &&
            (e = scan_inv_string(body, x->level, off, end, x->flags & SCAN_REC_LEVEL_ESCAPED,
                                 "level")))
            return e;
        if (scan_inv_absent(x->level) && (x->flags & SCAN_REC_LEVEL_ESCAPED))
            return "LEVEL_ESCAPED on an absent level";
        if (!scan_inv_absent(x->source) &&
            (e = scan_inv_string(body, x->source, off, end,
                                 x->flags & SCAN_REC_SOURCE_ESCAPED, "source")))
            return e;
        if (scan_inv_absent(x->source) && (x->flags & SCAN_REC_SOURCE_ESCAPED))
            return "SOURCE_ESCAPED on an absent source";
        if (!scan_inv_absent(x->type) &&
            (e = scan_inv_string(body, x->type, off, end, x->flags & SCAN_REC_TYPE_ESCAPED,
                                 "type")))
            return e;
        if (scan_inv_absent(x->type) && (x->flags & SCAN_REC_TYPE_ESCAPED))
            return "TYPE_ESCAPED on an absent type";
        if (!scan_inv_absent(x->id)) {
            uint64_t io = x->id.off, ie = (uint64_t)x->id.off + x->id.len;
            if (io <= off || ie >= end) return "id slice outside its record";
            if (body[io - 1] == '"' && ie < len && body[ie] == '"') {
                if ((e = scan_inv_string(body, x->id, off, end,
                                         x->flags & SCAN_REC_ID_ESCAPED, "id")))
                    return e;
            } else {
                unsigned char c0 = (unsigned char)body[io];
                if (x->id.len == 0 || !(c0 == '-' || (c0 >= '0' && c0 <= '9')))
                    return "id is neither a quoted string nor a number";
                if (x->flags & SCAN_REC_ID_ESCAPED) return "ID_ESCAPED on a numeric id";
            }
        } else if (x->flags & SCAN_REC_ID_ESCAPED) {
            return "ID_ESCAPED on an absent id";
        }
    }
    const scan_slice_t *ids[2] = {&r->packet_id, &r->agent_id};
    for (int k = 0; k < 2; k++) {
        if (scan_inv_absent(*ids[k])) continue;
        if (fmt == SCAN_FORMAT_NDJSON) return "packet_id/agent_id set for NDJSON";
        uint64_t o = ids[k]->off, e = (uint64_t)ids[k]->off + ids[k]->len;
        if (o < 2 || e >= len) return "packet_id/agent_id outside the body";
        if (body[o - 1] != '"' || body[e] != '"') return "packet_id/agent_id not quoted";
    }
    return NULL;
}

/* Two successful scans of the same body must agree exactly (used to compare a scan with
 * small limits, or with a reused result, against a fresh one with default limits). */
static inline const char *scan_same(const scan_result_t *a, const scan_result_t *b)
{
    if (a->count != b->count) return "record counts differ";
    if (a->count && memcmp(a->records, b->records, a->count * sizeof *a->records))
        return "record tables differ";
    if (memcmp(&a->packet_id, &b->packet_id, sizeof a->packet_id) ||
        memcmp(&a->agent_id, &b->agent_id, sizeof a->agent_id))
        return "packet_id/agent_id differ";
    return NULL;
}

#endif
