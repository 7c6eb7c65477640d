/*
 * field.h - values of named fields inside one record, for content routing (issue 13).
 *
 * A field set is a small list of dotted paths ("level", "metadata.trace_id") that the
 * routes of one route table look at. field_extract() walks one record once and returns,
 * for every path of the set, the raw slice of its value inside the record.
 *
 * Contract:
 *   - pure: no I/O, no threads, no global state; a set is built once (field_set_add,
 *     allocates) and then only read (field_extract never allocates and may be called
 *     from any thread on a set nobody modifies);
 *   - records come from the scanner (src/record/scan.h: strict RFC 8259 objects), yet
 *     the bytes are treated as hostile: nothing outside rec[0..len) is read, the walk
 *     recurses at most FIELD_PATH_MAX_DEPTH levels (deeper values are skipped by an
 *     iterative bracket counter), and malformed or truncated input is -EINVAL;
 *   - a path's components are object keys; keys are compared after JSON unescaping
 *     ("lev\u0065l" is "level"), byte for byte, case-sensitive; arrays are never
 *     entered (a path never names an array element);
 *   - duplicate keys: the last occurrence wins, at every level (a later duplicate of
 *     "metadata" replaces the earlier one entirely, for every path below it), as the
 *     scanner reads its own fields (scan.h) and as jansson loads a document, so a
 *     route's level match and the critical levels never disagree about one record;
 *   - cost: linear in the record's bytes; each key is looked up in one hash table of
 *     (parent, component) pairs, never compared against every path.
 * Error convention: 0 / index, or a negative errno.
 */
#ifndef LOGDIST_RECORD_FIELD_H
#define LOGDIST_RECORD_FIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h> /* ssize_t */

#define FIELD_PATH_MAX_DEPTH 8 /* components of a dotted path */
#define FIELD_SET_MAX 64       /* distinct paths in one field set */
#define FIELD_NAME_MAX 128     /* bytes of one path */

/* One field's value in a record (pointers into the record; the record owns the bytes).
 *   string:             its raw contents between the quotes (escaped = contains a backslash)
 *   number, true/false: its literal text (escaped = false)
 *   object/array/null:  present = false (as is a missing field) */
typedef struct {
    const char *p;
    size_t len;
    bool escaped;
    bool present;
} field_slice_t;

typedef struct field_set field_set_t; /* opaque: a set of dotted paths */

/* A new empty set (caller owns it; field_set_free). NULL on ENOMEM. */
field_set_t *field_set_new(void);
/* Free a set; NULL is accepted. */
void field_set_free(field_set_t *s);

/* Add a dotted path ("level", "metadata.trace_id"); the set copies it. Returns its index
 * (>= 0; indexes are dense from 0 in order of first addition; the same path added twice
 * returns the same index) or -EINVAL (NULL, empty, longer than FIELD_NAME_MAX bytes, an
 * empty component such as "a..b" or ".a", more than FIELD_PATH_MAX_DEPTH components),
 * -ENOSPC (FIELD_SET_MAX paths already) or -ENOMEM. On error the set is unchanged. */
int field_set_add(field_set_t *s, const char *path);
/* Number of paths in the set. */
size_t field_set_count(const field_set_t *s);
/* Path i (owned by the set, valid until field_set_free), NULL when i is out of range. */
const char *field_set_path(const field_set_t *s, size_t i);

/* One pass over rec[0..len) (a JSON object, whitespace around it allowed): fills out[i]
 * for every path i of the set (out has field_set_count entries, caller-owned; absent
 * ones get present = false). Keys are compared after JSON unescaping (a key written
 * "lev\u0065l" is "level"; a key whose unescaped form is longer than FIELD_NAME_MAX or
 * holds a bad escape matches nothing). Duplicate keys: the last wins. Returns 0, or
 * -EINVAL when rec is not one well-formed JSON object as far as the walk can tell
 * (truncated, unbalanced, a bad token, trailing bytes); every out[i] is then absent.
 * Slices point into rec. Linear in len; no allocation. */
int field_extract(const field_set_t *s, const char *rec, size_t len, field_slice_t *out);

/* Unescape a raw JSON string's contents raw[0..len) into buf (never more than cap bytes,
 * no NUL added): \" \\ \/ \b \f \n \r \t and \uXXXX (UTF-8 encoded; a surrogate pair
 * becomes one 4-byte sequence; \u0000 becomes a NUL byte). Other bytes are copied as
 * they are. Returns the length, -ENOSPC when it does not fit in cap, or -EINVAL on a bad
 * escape (unknown letter, fewer than 4 hex digits, a lone or reversed surrogate, a
 * trailing backslash). buf may be NULL when cap is 0. */
ssize_t field_unescape(const char *raw, size_t len, char *buf, size_t cap);

#endif
