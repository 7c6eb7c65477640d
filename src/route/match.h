/*
 * match.h - one content route's compiled match: which records a route takes (issue 13).
 *
 * A match is compiled once from its JSON spec (config or admin API) and then evaluated
 * for every record against the field values field_extract() (record/field.h) found.
 *
 * Semantics (docs/ROUTING.md, "Match semantics"):
 *   - the spec is an object {path: pattern | [pattern, ...], ...}; every key must match
 *     (AND), one element of an array is enough (OR); {} matches every record;
 *   - a pattern is exact unless it holds an unescaped '*', which matches any run of bytes
 *     (also empty); "\*" is a literal star and "\\" a literal backslash (in JSON source:
 *     "\\*" and "\\\\"); any other backslash is a compile error;
 *   - matching is byte-exact and case-sensitive; there is no Unicode normalisation;
 *   - the value compared is a string's unescaped contents, or the literal text of a
 *     number or boolean as written in the record ("500", "1.0", "true"); null, objects,
 *     arrays and missing fields never match;
 *   - a value longer than MATCH_VALUE_MAX bytes (after unescaping), or whose escapes are
 *     invalid, never matches.
 * Pure: no I/O, no threads, no global state. A compiled match is read-only, so one may be
 * evaluated from several threads at once. Error convention: NULL + message.
 */
#ifndef LOGDIST_ROUTE_MATCH_H
#define LOGDIST_ROUTE_MATCH_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "record/field.h"

typedef struct match match_t;

#define MATCH_VALUES_MAX 1024 /* values in one set */
#define MATCH_VALUE_MAX 1024  /* bytes of one value or pattern */

/* Compile from a jansson object such as
 *   {"level": ["ERROR", "FATAL"], "source": "checkout-*", "metadata.region": "eu"}
 * Each key is a dotted path, registered in `fields` (shared by every route of a table;
 * paths are added even when the compile later fails - harmless, they are only looked
 * up); its value is a string or a non-empty array of at most MATCH_VALUES_MAX strings of
 * at most MATCH_VALUE_MAX bytes each. The spec is not referenced after the call (copied).
 * Returns the match (caller owns it: match_free) or NULL with a NUL-terminated message in
 * err[0..errlen) naming the key (and the array index) that is wrong, e.g.
 *   key "level"[2]: not a string. NULL also on ENOMEM ("out of memory"). */
match_t *match_compile(const json_t *spec, field_set_t *fields, char *err, size_t errlen);
/* Free a match; NULL is accepted. */
void match_free(match_t *m);

/* Does the record whose field values are `vals` (indexed as in `fields`, from
 * field_extract) match? A missing field never matches. Escaped values are unescaped into
 * a bounded stack buffer first. Exact and set matches cost O(1) in the set size (a hash
 * of the exact values; the globs of a set are tried in order after the hash); no
 * allocation. */
bool match_eval(const match_t *m, const field_slice_t *vals);

/* The spec back as JSON (new reference, caller owns it; NULL on ENOMEM), for
 * GET /api/v1/routes: the same keys in the same order, a string where the spec had a
 * string and an array where it had one (duplicates kept). */
json_t *match_to_json(const match_t *m);

/* Number of keys (conditions) of the match; 0 for the empty match. */
size_t match_count(const match_t *m);

#endif
