/*
 * match.c - one content route's compiled match (see match.h for the semantics).
 *
 * A match is a list of conditions, one per key of the spec. Each condition holds its
 * patterns in spec order; the exact ones (no unescaped '*') are also in an open-addressed
 * hash table (FNV-1a 64, power-of-two size at least twice the count), the globs in a
 * list tried in order after the table. A glob is kept as its literal pieces between the
 * stars: the first piece must be a prefix of the value, the last a suffix, and the middle
 * ones are found left to right (leftmost occurrence) in what lies between - for patterns
 * whose only wildcard is '*' the leftmost choice never loses a match, so this is exact
 * and linear in the value (times the pattern) with no backtracking.
 */
#include "route/match.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pat {
    char *src; /* the pattern as given (for match_to_json), src_len bytes */
    size_t src_len;
    char *lit; /* literal bytes: stars removed, "\*" and "\\" resolved */
    size_t lit_len;
    uint32_t *piece_end; /* globs: end offset in lit of each piece (stars + 1 pieces) */
    uint32_t npieces;    /* 0 for an exact pattern */
};

struct cond {
    char *key; /* the path as given */
    size_t key_len;
    int field; /* index in the field set */
    bool is_set;
    struct pat *pats;
    size_t npats;
    uint32_t *table; /* exact patterns: index + 1, 0 = free slot */
    size_t mask;     /* table size - 1 */
    uint32_t *globs; /* indexes of the glob patterns, in spec order */
    size_t nglobs;
};

struct match {
    struct cond *conds;
    size_t nconds;
};

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void pat_free(struct pat *p)
{
    free(p->src);
    free(p->lit);
    free(p->piece_end);
}

static void cond_free(struct cond *c)
{
    for (size_t i = 0; i < c->npats; i++)
        pat_free(&c->pats[i]);
    free(c->pats);
    free(c->key);
    free(c->table);
    free(c->globs);
}

void match_free(match_t *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->nconds; i++)
        cond_free(&m->conds[i]);
    free(m->conds);
    free(m);
}

size_t match_count(const match_t *m)
{
    return m ? m->nconds : 0;
}

/* ---- compiling ------------------------------------------------------------------------- */

/* Error text: the key (printable ASCII kept, other bytes as '?', at most 64 shown). */
static void fail(char *err, size_t errlen, const char *key, size_t key_len, long idx,
                 const char *fmt, ...)
{
    if (!err || !errlen) return;
    char k[72];
    size_t n = 0;
    for (size_t i = 0; key && i < key_len && n < 64; i++)
        k[n++] = key[i] >= 0x20 && key[i] < 0x7f ? key[i] : '?';
    if (key && key_len > 64) memcpy(k + n, "...", 3), n += 3;
    k[n] = 0;
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (!key)
        snprintf(err, errlen, "%s", what);
    else if (idx >= 0)
        snprintf(err, errlen, "key \"%s\"[%ld]: %s", k, idx, what);
    else
        snprintf(err, errlen, "key \"%s\": %s", k, what);
}

/* Parse the pattern s[0..n) into p. Returns 0, -EINVAL (bad escape) or -ENOMEM. */
static int pat_parse(struct pat *p, const char *s, size_t n)
{
    *p = (struct pat){0};
    p->src = malloc(n + 1);
    p->lit = malloc(n + 1);
    p->piece_end = malloc((n + 1) * sizeof(*p->piece_end));
    if (!p->src || !p->lit || !p->piece_end) return -ENOMEM;
    memcpy(p->src, s, n);
    p->src[n] = 0;
    p->src_len = n;
    uint32_t stars = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\') {
            if (i + 1 == n || (s[i + 1] != '*' && s[i + 1] != '\\')) return -EINVAL;
            p->lit[p->lit_len++] = s[++i];
        } else if (c == '*') {
            p->piece_end[stars++] = (uint32_t)p->lit_len;
        } else {
            p->lit[p->lit_len++] = c;
        }
    }
    p->piece_end[stars] = (uint32_t)p->lit_len;
    p->npieces = stars ? stars + 1 : 0;
    if (!stars) {
        free(p->piece_end);
        p->piece_end = NULL;
    }
    return 0;
}

static bool pat_equal_lit(const struct pat *p, const char *v, size_t n)
{
    return p->lit_len == n && !memcmp(p->lit, v, n);
}

/* Put the exact patterns in the hash table and the globs in their list. */
static int cond_index(struct cond *c)
{
    size_t size = 2;
    while (size < 2 * c->npats)
        size *= 2;
    c->table = calloc(size, sizeof(*c->table));
    c->globs = malloc(c->npats * sizeof(*c->globs));
    if (!c->table || !c->globs) return -ENOMEM;
    c->mask = size - 1;
    for (size_t i = 0; i < c->npats; i++) {
        const struct pat *p = &c->pats[i];
        if (p->npieces) {
            c->globs[c->nglobs++] = (uint32_t)i;
            continue;
        }
        size_t s = fnv1a(p->lit, p->lit_len) & c->mask;
        while (c->table[s] && !pat_equal_lit(&c->pats[c->table[s] - 1], p->lit, p->lit_len))
            s = (s + 1) & c->mask;
        if (!c->table[s]) c->table[s] = (uint32_t)i + 1; /* a duplicate keeps the first */
    }
    return 0;
}

/* One element (or the whole string value, idx -1) into c->pats[c->npats]. */
static int cond_add_pattern(struct cond *c, const json_t *v, long idx, char *err, size_t errlen)
{
    if (!json_is_string(v)) {
        fail(err, errlen, c->key, c->key_len, idx, "not a string");
        return -EINVAL;
    }
    size_t n = json_string_length(v);
    if (n > MATCH_VALUE_MAX) {
        fail(err, errlen, c->key, c->key_len, idx, "value longer than %d bytes", MATCH_VALUE_MAX);
        return -EINVAL;
    }
    int rc = pat_parse(&c->pats[c->npats], json_string_value(v), n);
    c->npats++; /* freed by cond_free even when half built */
    if (rc == -EINVAL)
        fail(err, errlen, c->key, c->key_len, idx,
             "bad escape: a backslash must precede '*' or '\\' (write \"\\\\*\" or \"\\\\\\\\\")");
    if (rc == -ENOMEM) fail(err, errlen, NULL, 0, -1, "out of memory");
    return rc;
}

/* The value of one key into c (c->key, c->field already set). */
static int cond_compile(struct cond *c, const json_t *v, char *err, size_t errlen)
{
    size_t n = 1;
    if (json_is_array(v)) {
        n = json_array_size(v);
        c->is_set = true;
        if (n == 0) return fail(err, errlen, c->key, c->key_len, -1, "empty array"), -EINVAL;
        if (n > MATCH_VALUES_MAX)
            return fail(err, errlen, c->key, c->key_len, -1, "more than %d values",
                        MATCH_VALUES_MAX),
                   -EINVAL;
    } else if (!json_is_string(v)) {
        fail(err, errlen, c->key, c->key_len, -1,
             "must be a string or a non-empty array of strings");
        return -EINVAL;
    }
    c->pats = calloc(n, sizeof(*c->pats));
    if (!c->pats) return fail(err, errlen, NULL, 0, -1, "out of memory"), -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = c->is_set ? json_array_get(v, i) : v;
        int rc = cond_add_pattern(c, e, c->is_set ? (long)i : -1, err, errlen);
        if (rc < 0) return rc;
    }
    int rc = cond_index(c);
    if (rc < 0) fail(err, errlen, NULL, 0, -1, "out of memory");
    return rc;
}

/* Key k[0..kn) of the spec: its path and field into c. */
static int cond_key(struct cond *c, const char *k, size_t kn, field_set_t *fields, char *err,
                    size_t errlen)
{
    if (kn == 0) return fail(err, errlen, NULL, 0, -1, "empty key"), -EINVAL;
    c->key = malloc(kn + 1);
    if (!c->key) return fail(err, errlen, NULL, 0, -1, "out of memory"), -ENOMEM;
    memcpy(c->key, k, kn);
    c->key[kn] = 0;
    c->key_len = kn;
    if (strlen(k) != kn) return fail(err, errlen, k, kn, -1, "key holds a NUL byte"), -EINVAL;
    c->field = field_set_add(fields, c->key);
    if (c->field == -ENOSPC)
        fail(err, errlen, k, kn, -1, "too many distinct field paths (at most %d per table)",
             FIELD_SET_MAX);
    else if (c->field == -ENOMEM)
        fail(err, errlen, NULL, 0, -1, "out of memory");
    else if (c->field < 0)
        fail(err, errlen, k, kn, -1,
             "bad field path (empty component, more than %d bytes or more than %d components)",
             FIELD_NAME_MAX, FIELD_PATH_MAX_DEPTH);
    return c->field < 0 ? c->field : 0;
}

match_t *match_compile(const json_t *spec, field_set_t *fields, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    if (!json_is_object(spec)) {
        fail(err, errlen, NULL, 0, -1, "match must be a JSON object");
        return NULL;
    }
    if (!fields) {
        fail(err, errlen, NULL, 0, -1, "no field set");
        return NULL;
    }
    match_t *m = calloc(1, sizeof(*m));
    size_t n = json_object_size(spec);
    if (!m || !(m->conds = calloc(n ? n : 1, sizeof(*m->conds)))) {
        fail(err, errlen, NULL, 0, -1, "out of memory");
        goto err;
    }
    for (void *it = json_object_iter((json_t *)spec); it;
         it = json_object_iter_next((json_t *)spec, it)) {
        struct cond *c = &m->conds[m->nconds++];
        const char *k = json_object_iter_key(it);
        if (cond_key(c, k, json_object_iter_key_len(it), fields, err, errlen) < 0) goto err;
        if (cond_compile(c, json_object_iter_value(it), err, errlen) < 0) goto err;
    }
    return m;
err:
    match_free(m);
    return NULL;
}

/* ---- evaluating ------------------------------------------------------------------------ */

static bool glob_match(const struct pat *p, const char *v, size_t n)
{
    uint32_t last = p->npieces - 1;
    size_t first_len = p->piece_end[0];
    size_t last_off = p->piece_end[last - 1], last_len = p->lit_len - last_off;
    if (n < first_len + last_len) return false;
    if (memcmp(v, p->lit, first_len) != 0 ||
        memcmp(v + n - last_len, p->lit + last_off, last_len) != 0)
        return false;
    size_t pos = first_len, end = n - last_len;
    for (uint32_t k = 1; k < last; k++) {
        size_t off = p->piece_end[k - 1], len = p->piece_end[k] - off;
        if (!len) continue;
        const char *hit = memmem(v + pos, end - pos, p->lit + off, len);
        if (!hit) return false;
        pos = (size_t)(hit - v) + len;
    }
    return true;
}

static bool cond_eval(const struct cond *c, const field_slice_t *f)
{
    if (!f->present) return false;
    char buf[MATCH_VALUE_MAX];
    const char *v = f->p;
    size_t n = f->len;
    if (f->escaped) {
        ssize_t u = field_unescape(f->p, f->len, buf, sizeof(buf));
        if (u < 0) return false;
        v = buf;
        n = (size_t)u;
    } else if (n > MATCH_VALUE_MAX) {
        return false;
    }
    for (size_t s = fnv1a(v, n) & c->mask; c->table[s]; s = (s + 1) & c->mask)
        if (pat_equal_lit(&c->pats[c->table[s] - 1], v, n)) return true;
    for (size_t i = 0; i < c->nglobs; i++)
        if (glob_match(&c->pats[c->globs[i]], v, n)) return true;
    return false;
}

bool match_eval(const match_t *m, const field_slice_t *vals)
{
    if (!m) return false;
    for (size_t i = 0; i < m->nconds; i++)
        if (!cond_eval(&m->conds[i], &vals[m->conds[i].field])) return false;
    return true;
}

json_t *match_to_json(const match_t *m)
{
    json_t *o = json_object();
    if (!o || !m) return o;
    for (size_t i = 0; i < m->nconds; i++) {
        const struct cond *c = &m->conds[i];
        json_t *v = c->is_set ? json_array() : NULL;
        for (size_t j = 0; j < c->npats && (v || !c->is_set); j++) {
            json_t *s = json_stringn(c->pats[j].src, c->pats[j].src_len);
            if (!c->is_set)
                v = s;
            else if (json_array_append_new(v, s) < 0)
                json_decref(v), v = NULL;
        }
        if (!v || json_object_setn_new(o, c->key, c->key_len, v) < 0) goto err;
    }
    return o;
err:
    json_decref(o);
    return NULL;
}
