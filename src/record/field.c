/*
 * field.c - values of named fields inside one record (see field.h for the contract).
 *
 * The set is a trie of path components: node 0 is the record itself, node n's children
 * are the keys that continue some path below it. Every (parent, component) pair is in one
 * open-addressed hash table, so a key met in the record costs one hash lookup whatever
 * the number of paths. A node may be both the end of a path (its `leaf` is the path's
 * index) and the parent of others ("a" and "a.b" in one set).
 *
 * The walk (field_extract) is a small recursive descent over the objects that lead to a
 * path, at most FIELD_PATH_MAX_DEPTH frames deep; every other value is skipped by a loop
 * (strings by their quotes and escapes, arrays and objects by a bracket counter), so a
 * deeply nested record costs no stack. `seen` marks the nodes whose key was already met
 * in their object: a later duplicate replaces it (last wins, as the scanner reads level,
 * source and type, and as jansson reads a document): what was found below the first is
 * forgotten before the second is read.
 */
#include "record/field.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NODES_MAX (1 + FIELD_SET_MAX * FIELD_PATH_MAX_DEPTH)
#define SLOTS 1024 /* power of two, > 2 * NODES_MAX */

struct fnode {
    const char *name; /* points into one of the set's paths */
    uint32_t name_len;
    int16_t parent; /* -1 for the root */
    int16_t leaf;   /* index of the path ending here, or -1 */
    uint8_t depth;  /* root 0, top-level keys 1 */
    bool has_children;
};

struct field_set {
    char *paths[FIELD_SET_MAX];
    size_t npaths;
    struct fnode nodes[NODES_MAX];
    size_t nnodes;
    int16_t slots[SLOTS]; /* node index, or -1 */
};

/* FNV-1a over the component, seeded by the parent's index. */
static uint32_t node_hash(int parent, const char *k, size_t n)
{
    uint32_t h = 2166136261u ^ (uint32_t)(parent * 16777619u);
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)k[i];
        h *= 16777619u;
    }
    return h;
}

/* Child of `parent` named k[0..n), or -1. */
static int node_find(const field_set_t *s, int parent, const char *k, size_t n)
{
    for (uint32_t i = node_hash(parent, k, n) & (SLOTS - 1);; i = (i + 1) & (SLOTS - 1)) {
        int idx = s->slots[i];
        if (idx < 0) return -1;
        const struct fnode *nd = &s->nodes[idx];
        if (nd->parent == parent && nd->name_len == n && !memcmp(nd->name, k, n)) return idx;
    }
}

/* Append a child (the caller checked that it is new and that there is room). */
static int node_add(field_set_t *s, int parent, const char *k, size_t n)
{
    int idx = (int)s->nnodes++;
    s->nodes[idx] = (struct fnode){.name = k,
                                   .name_len = (uint32_t)n,
                                   .parent = (int16_t)parent,
                                   .leaf = -1,
                                   .depth = (uint8_t)(s->nodes[parent].depth + 1)};
    s->nodes[parent].has_children = true;
    uint32_t i = node_hash(parent, k, n) & (SLOTS - 1);
    while (s->slots[i] >= 0)
        i = (i + 1) & (SLOTS - 1);
    s->slots[i] = (int16_t)idx;
    return idx;
}

field_set_t *field_set_new(void)
{
    field_set_t *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    memset(s->slots, 0xff, sizeof(s->slots));
    s->nodes[0] = (struct fnode){.parent = -1, .leaf = -1};
    s->nnodes = 1;
    return s;
}

void field_set_free(field_set_t *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->npaths; i++)
        free(s->paths[i]);
    free(s);
}

/* Number of components of a valid path, or -EINVAL. */
static int path_check(const char *path)
{
    if (!path) return -EINVAL;
    size_t n = strnlen(path, FIELD_NAME_MAX + 1);
    if (n == 0 || n > FIELD_NAME_MAX) return -EINVAL;
    int comps = 1;
    for (size_t i = 0; i < n; i++) {
        if (path[i] != '.') continue;
        if (i == 0 || i + 1 == n || path[i + 1] == '.') return -EINVAL;
        comps++;
    }
    return comps > FIELD_PATH_MAX_DEPTH ? -EINVAL : comps;
}

int field_set_add(field_set_t *s, const char *path)
{
    int comps = path_check(path);
    if (!s || comps < 0) return -EINVAL;
    /* Existing path? Walk the trie without adding. */
    int node = 0;
    const char *c = path;
    for (int k = 0; k < comps && node >= 0; k++) {
        const char *dot = strchr(c, '.');
        size_t n = dot ? (size_t)(dot - c) : strlen(c);
        node = node_find(s, node, c, n);
        c += n + 1;
    }
    if (node >= 0 && s->nodes[node].leaf >= 0) return s->nodes[node].leaf;
    if (s->npaths == FIELD_SET_MAX) return -ENOSPC;
    char *copy = strdup(path);
    if (!copy) return -ENOMEM;
    /* At most FIELD_PATH_MAX_DEPTH new nodes per path: NODES_MAX always has room. */
    node = 0;
    c = copy;
    for (int k = 0; k < comps; k++) {
        const char *dot = strchr(c, '.');
        size_t n = dot ? (size_t)(dot - c) : strlen(c);
        int child = node_find(s, node, c, n);
        node = child >= 0 ? child : node_add(s, node, c, n);
        c += n + 1;
    }
    int idx = (int)s->npaths;
    s->paths[s->npaths++] = copy;
    s->nodes[node].leaf = (int16_t)idx;
    return idx;
}

size_t field_set_count(const field_set_t *s)
{
    return s ? s->npaths : 0;
}

const char *field_set_path(const field_set_t *s, size_t i)
{
    return s && i < s->npaths ? s->paths[i] : NULL;
}

/* ---- unescaping ------------------------------------------------------------------------ */

/* Four hex digits at p, or -1. */
static long hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* The code point of the \u escape at raw[*i] (just past "\u"), pairs joined; advances *i. */
static long unicode_escape(const char *raw, size_t len, size_t *i)
{
    if (len - *i < 4) return -1;
    long cp = hex4(raw + *i);
    if (cp < 0) return -1;
    *i += 4;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return -1; /* low half first */
    if (cp < 0xD800 || cp > 0xDBFF) return cp;
    if (len - *i < 6 || raw[*i] != '\\' || raw[*i + 1] != 'u') return -1;
    long lo = hex4(raw + *i + 2);
    if (lo < 0xDC00 || lo > 0xDFFF) return -1;
    *i += 6;
    return 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
}

/* UTF-8 bytes of cp into u (1-4). */
static size_t utf8_put(long cp, unsigned char *u)
{
    if (cp < 0x80) return u[0] = (unsigned char)cp, 1;
    if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    u[0] = (unsigned char)(0xF0 | (cp >> 18));
    u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The bytes of the escape at raw[*i] (just past the backslash) into u; advances *i.
 * Returns their count or -EINVAL. */
static int escape_bytes(const char *raw, size_t len, size_t *i, unsigned char *u)
{
    if (*i >= len) return -EINVAL;
    char e = raw[(*i)++];
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit = e ? strchr(from, e) : NULL;
    if (hit) {
        u[0] = (unsigned char)to[hit - from];
        return 1;
    }
    if (e != 'u') return -EINVAL;
    long cp = unicode_escape(raw, len, i);
    return cp < 0 ? -EINVAL : (int)utf8_put(cp, u);
}

ssize_t field_unescape(const char *raw, size_t len, char *buf, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (raw[i] != '\\') {
            if (o >= cap) return -ENOSPC;
            buf[o++] = raw[i++];
            continue;
        }
        i++;
        unsigned char u[4];
        int n = escape_bytes(raw, len, &i, u);
        if (n < 0) return n;
        if (cap - o < (size_t)n) return -ENOSPC;
        memcpy(buf + o, u, (size_t)n);
        o += (size_t)n;
    }
    return (ssize_t)o;
}

/* ---- the walk -------------------------------------------------------------------------- */

struct walk {
    const field_set_t *s;
    const char *p;
    size_t len, pos;
    field_slice_t *out;
    uint64_t seen[(NODES_MAX + 63) / 64];
};

static void skip_ws(struct walk *w)
{
    while (w->pos < w->len) {
        char c = w->p[w->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
        w->pos++;
    }
}

/* The string at w->pos ('"'): its contents p[*start..*start+*n); pos moves past it. */
static int lex_string(struct walk *w, size_t *start, size_t *n, bool *escaped)
{
    if (w->pos >= w->len || w->p[w->pos] != '"') return -EINVAL;
    size_t i = w->pos + 1;
    bool esc = false;
    /* Fast path: the closing quote with no backslash before it (memchr is word-wide). */
    const char *q = memchr(w->p + i, '"', w->len - i);
    if (q && !memchr(w->p + i, '\\', (size_t)(q - (w->p + i)))) i = (size_t)(q - w->p);
    while (i < w->len && w->p[i] != '"') {
        if (w->p[i] == '\\') {
            esc = true;
            i++; /* the escaped byte; \uXXXX's digits are plain bytes */
        }
        i++;
    }
    if (i >= w->len) return -EINVAL;
    *start = w->pos + 1;
    *n = i - *start;
    if (escaped) *escaped = esc;
    w->pos = i + 1;
    return 0;
}

/* A number, true, false or null at w->pos: its text; *is_null for null. */
static int lex_literal(struct walk *w, size_t *start, size_t *n, bool *is_null)
{
    size_t i = w->pos;
    while (i < w->len) {
        char c = w->p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '+' || c == '.'))
            break;
        i++;
    }
    const char *t = w->p + w->pos;
    size_t tn = i - w->pos;
    *is_null = tn == 4 && !memcmp(t, "null", 4);
    bool ok = *is_null || (tn == 4 && !memcmp(t, "true", 4)) ||
              (tn == 5 && !memcmp(t, "false", 5)) ||
              (tn > 0 && (t[0] == '-' || (t[0] >= '0' && t[0] <= '9')));
    if (!ok) return -EINVAL;
    *start = w->pos;
    *n = tn;
    w->pos = i;
    return 0;
}

/* Skip the object or array at w->pos without recursion (a bracket counter). */
static int skip_composite(struct walk *w)
{
    size_t depth = 0;
    do {
        if (w->pos >= w->len) return -EINVAL;
        char c = w->p[w->pos];
        if (c == '"') {
            size_t a, b;
            if (lex_string(w, &a, &b, NULL) < 0) return -EINVAL;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
        w->pos++;
    } while (depth > 0);
    return 0;
}

/* The value at w->pos, for trie node `node` (-1: nobody wants it). */
static int walk_object(struct walk *w, int node);

static int walk_value(struct walk *w, int node)
{
    if (w->pos >= w->len) return -EINVAL;
    char c = w->p[w->pos];
    const struct fnode *nd = node >= 0 ? &w->s->nodes[node] : NULL;
    if (c == '{' && nd && nd->has_children) return walk_object(w, node);
    if (c == '{' || c == '[') return skip_composite(w);
    size_t a, n;
    bool escaped = false, is_null = false;
    int rc = c == '"' ? lex_string(w, &a, &n, &escaped) : lex_literal(w, &a, &n, &is_null);
    if (rc < 0) return rc;
    if (nd && nd->leaf >= 0 && !is_null)
        w->out[nd->leaf] = (field_slice_t){w->p + a, n, escaped, true};
    return 0;
}

/* A key met again: the values found at or below its node are absent until read again. */
static void forget_below(struct walk *w, int node)
{
    for (size_t j = 0; j < w->s->nnodes; j++) {
        if (w->s->nodes[j].leaf < 0) continue;
        int x = (int)j;
        while (x > node) x = w->s->nodes[x].parent; /* parents have smaller indexes */
        if (x == node) w->out[w->s->nodes[j].leaf] = (field_slice_t){0};
    }
}

/* The child of `node` for the key p[a..a+n), or -1. */
static int key_node(struct walk *w, int node, size_t a, size_t n, bool escaped)
{
    if (node < 0 || !w->s->nodes[node].has_children) return -1;
    char buf[FIELD_NAME_MAX];
    const char *k = w->p + a;
    if (escaped) {
        ssize_t u = field_unescape(k, n, buf, sizeof(buf));
        if (u < 0) return -1;
        k = buf;
        n = (size_t)u;
    }
    int child = node_find(w->s, node, k, n);
    if (child < 0) return -1;
    uint64_t bit = 1ull << (child % 64);
    if (w->seen[child / 64] & bit) forget_below(w, child); /* last wins */
    w->seen[child / 64] |= bit;
    return child;
}

/* The object at w->pos ('{') whose members may continue the paths below `node`. Recursion
 * follows the trie only, so it is at most FIELD_PATH_MAX_DEPTH frames deep. */
static int walk_object(struct walk *w, int node)
{
    w->pos++; /* '{' */
    skip_ws(w);
    if (w->pos < w->len && w->p[w->pos] == '}') return w->pos++, 0;
    for (;;) {
        size_t a, n;
        bool escaped;
        skip_ws(w);
        if (lex_string(w, &a, &n, &escaped) < 0) return -EINVAL;
        int child = key_node(w, node, a, n, escaped);
        skip_ws(w);
        if (w->pos >= w->len || w->p[w->pos] != ':') return -EINVAL;
        w->pos++;
        skip_ws(w);
        if (walk_value(w, child) < 0) return -EINVAL;
        skip_ws(w);
        if (w->pos >= w->len) return -EINVAL;
        char c = w->p[w->pos++];
        if (c == '}') return 0;
        if (c != ',') return -EINVAL;
    }
}

int field_extract(const field_set_t *s, const char *rec, size_t len, field_slice_t *out)
{
    size_t n = field_set_count(s);
    for (size_t i = 0; i < n; i++)
        out[i] = (field_slice_t){0};
    if (!s || (!rec && len)) return -EINVAL;
    struct walk w = {.s = s, .p = rec, .len = len, .out = out};
    skip_ws(&w);
    if (w.pos >= len || rec[w.pos] != '{') return -EINVAL;
    int rc = walk_object(&w, 0);
    skip_ws(&w);
    if (rc == 0 && w.pos != len) rc = -EINVAL;
    if (rc < 0)
        for (size_t i = 0; i < n; i++)
            out[i] = (field_slice_t){0};
    return rc;
}
