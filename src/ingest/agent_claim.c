/*
 * agent_claim.c - see agent_claim.h. A small cursor over a body that is
 * already known to be valid JSON: it only needs to find where each value
 * ends, never to validate. Every step checks the bound anyway, so a body
 * that is not valid JSON ends the walk with AGENT_CLAIM_BAD, never a read
 * past `len`.
 */
#include "ingest/agent_claim.h"

#include <stdbool.h>
#include <string.h>

typedef struct {
    const char *b;
    size_t len, pos;
    const scan_record_t *recs;
    size_t nrec, next; /* recs[next] is the first record not yet passed */
} cur_t;

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(cur_t *c)
{
    while (c->pos < c->len && is_ws(c->b[c->pos])) c->pos++;
}

/* At a '"': move past the closing quote. False if the string never ends. */
static bool skip_string(cur_t *c)
{
    for (size_t i = c->pos + 1; i < c->len; i++) {
        if (c->b[i] == '\\')
            i++;
        else if (c->b[i] == '"') {
            c->pos = i + 1;
            return true;
        }
    }
    return false;
}

/* At a '{' that the scanner reported as a record: jump past it. */
static bool jump_record(cur_t *c)
{
    while (c->next < c->nrec && c->recs[c->next].rec.off < c->pos) c->next++;
    if (c->next < c->nrec && c->recs[c->next].rec.off == c->pos && c->recs[c->next].rec.len) {
        size_t end = (size_t)c->recs[c->next].rec.off + c->recs[c->next].rec.len;
        if (end > c->len) return false;
        c->pos = end;
        c->next++;
        return true;
    }
    return false;
}

/* At '{' or '[': move past the matching bracket. */
static bool skip_container(cur_t *c)
{
    size_t depth = 0;
    while (c->pos < c->len) {
        char ch = c->b[c->pos];
        if (ch == '"') {
            if (!skip_string(c)) return false;
            continue;
        }
        if (ch == '{' && depth > 0 && jump_record(c)) continue;
        if (ch == '{' || ch == '[') depth++;
        if (ch == '}' || ch == ']') {
            if (depth == 0) return false;
            if (--depth == 0) {
                c->pos++;
                return true;
            }
        }
        c->pos++;
    }
    return false;
}

/* Skip one value; its type in *type. */
static bool skip_value(cur_t *c, const char **type)
{
    if (c->pos >= c->len) return false;
    char ch = c->b[c->pos];
    if (ch == '"') {
        *type = "string";
        return skip_string(c);
    }
    if (ch == '{' || ch == '[') {
        *type = ch == '{' ? "object" : "array";
        return skip_container(c);
    }
    *type = ch == 'n' ? "null" : (ch == 't' || ch == 'f') ? "boolean" : "number";
    while (c->pos < c->len && !is_ws(c->b[c->pos]) && c->b[c->pos] != ',' &&
           c->b[c->pos] != '}' && c->b[c->pos] != ']')
        c->pos++;
    return true;
}

static int hexval(char h)
{
    if (h >= '0' && h <= '9') return h - '0';
    if (h >= 'a' && h <= 'f') return h - 'a' + 10;
    if (h >= 'A' && h <= 'F') return h - 'A' + 10;
    return -1;
}

/* Does the raw JSON string content k[0..n) unescape to the ASCII `want`? */
static bool key_is(const char *k, size_t n, const char *want)
{
    size_t i = 0, w = 0, wl = strlen(want);
    while (i < n) {
        unsigned ch = (unsigned char)k[i++];
        if (ch == '\\') {
            if (i >= n) return false;
            char e = k[i++];
            if (e == 'u') {
                if (i + 4 > n) return false;
                ch = 0;
                for (int j = 0; j < 4; j++) {
                    int v = hexval(k[i + j]);
                    if (v < 0) return false;
                    ch = ch * 16 + (unsigned)v;
                }
                i += 4;
            } else {
                ch = e == '"' || e == '\\' || e == '/' ? (unsigned char)e : 0x01; /* \n... */
            }
        }
        if (w >= wl || ch != (unsigned char)want[w]) return false;
        w++;
    }
    return w == wl;
}

/* One member "key": value of the packet object; updates *out. */
static bool member(cur_t *c, agent_claim_t *out, size_t *seen)
{
    skip_ws(c);
    if (c->pos >= c->len || c->b[c->pos] != '"') return false;
    size_t kq = c->pos;
    if (!skip_string(c)) return false;
    bool is_agent = key_is(c->b + kq + 1, c->pos - kq - 2, "agent_id");
    skip_ws(c);
    if (c->pos >= c->len || c->b[c->pos] != ':') return false;
    c->pos++;
    skip_ws(c);
    size_t vs = c->pos;
    const char *type = NULL;
    if (!skip_value(c, &type)) return false;
    if (!is_agent) return true;
    if (++*seen == 2) {
        out->kind = AGENT_CLAIM_DUPLICATE;
        out->key_off = kq;
    } else if (*seen == 1) {
        bool str = !strcmp(type, "string");
        out->kind = str ? AGENT_CLAIM_STRING : AGENT_CLAIM_NOT_STRING;
        out->key_off = kq;
        out->value_off = str ? vs + 1 : vs;
        out->value_len = str ? c->pos - vs - 2 : 0;
        out->type = str ? NULL : type;
    }
    return true;
}

agent_claim_kind_t agent_claim_find(const char *body, size_t len, const scan_record_t *recs,
                                    size_t nrec, agent_claim_t *out)
{
    memset(out, 0, sizeof *out);
    cur_t c = {body, body ? len : 0, 0, recs, recs ? nrec : 0, 0};
    skip_ws(&c);
    if (c.pos < c.len && c.b[c.pos] == '[') return out->kind = AGENT_CLAIM_ABSENT;
    if (c.pos >= c.len || c.b[c.pos] != '{') goto bad;
    c.pos++;
    skip_ws(&c);
    if (c.pos < c.len && c.b[c.pos] == '}') return out->kind;
    size_t seen = 0;
    for (;;) {
        if (!member(&c, out, &seen)) goto bad;
        skip_ws(&c);
        if (c.pos >= c.len) goto bad;
        if (c.b[c.pos] == '}') return out->kind;
        if (c.b[c.pos] != ',') goto bad;
        c.pos++;
    }
bad:
    memset(out, 0, sizeof *out);
    return out->kind = AGENT_CLAIM_BAD;
}
