/*
 * auth.c - see auth.h. SHA-256 and salts from OpenSSL (EVP, RAND_bytes), new
 * tokens from getrandom(), constant-time comparison with CRYPTO_memcmp.
 */
#include "core/auth.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "common/check.h"
#include "common/log.h"
#include "common/util.h"

#define SALT_LEN 16
#define DIGEST_LEN 32
#define MAX_TOKEN_LEN 4096

typedef struct {
    unsigned char salt[SALT_LEN];
    unsigned char digest[DIGEST_LEN];
    unsigned roles;
    char agent[129]; /* "" = not bound */
} token_t;

/* An immutable token set once published: readers load the pointer (acquire)
 * and use it without a lock; a replaced set is retired, not freed, because a
 * request may still hold the agent string of one of its tokens. */
typedef struct token_set {
    token_t *tokens;
    size_t n;
    struct token_set *next_retired;
} token_set_t;

struct auth {
    _Atomic(token_set_t *) cur; /* never NULL */
    pthread_mutex_t mu;         /* writers: auth_replace (auth_add runs before readers) */
    token_set_t *retired;       /* freed by auth_free */
    unsigned long long generation;
};

static void set_free(token_set_t *s)
{
    if (!s) return;
    if (s->tokens) OPENSSL_cleanse(s->tokens, s->n * sizeof *s->tokens);
    free(s->tokens);
    free(s);
}

auth_t *auth_new(void)
{
    auth_t *a = calloc(1, sizeof(auth_t));
    token_set_t *s = calloc(1, sizeof *s);
    if (!a || !s || pthread_mutex_init(&a->mu, NULL)) {
        free(a);
        free(s);
        return NULL;
    }
    atomic_init(&a->cur, s);
    return a;
}

void auth_free(auth_t *a)
{
    if (!a) return;
    set_free(atomic_load(&a->cur));
    for (token_set_t *s = a->retired, *next; s; s = next) {
        next = s->next_retired;
        set_free(s);
    }
    pthread_mutex_destroy(&a->mu);
    free(a);
}

static const token_set_t *current(const auth_t *a)
{
    return atomic_load_explicit(&((auth_t *)a)->cur, memory_order_acquire);
}

bool auth_enabled(const auth_t *a)
{
    return a && current(a)->n > 0;
}

unsigned long long auth_generation(const auth_t *a)
{
    auth_t *m = (auth_t *)a;
    pthread_mutex_lock(&m->mu);
    unsigned long long g = m->generation;
    pthread_mutex_unlock(&m->mu);
    return g;
}

static int unhex(const char *s, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + k];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= (unsigned)(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v |= (unsigned)(c - 'A' + 10);
            else
                return -1;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

static int sha256_salted(const unsigned char *salt, const char *token, size_t len,
                         unsigned char *out)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int olen = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(ctx, salt, SALT_LEN) && EVP_DigestUpdate(ctx, token, len) &&
             EVP_DigestFinal_ex(ctx, out, &olen) && olen == DIGEST_LEN;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

int auth_hash_token(const char *token, char *out, size_t outlen)
{
    unsigned char salt[SALT_LEN], dig[DIGEST_LEN];
    size_t len = strlen(token);
    if (len == 0 || len > MAX_TOKEN_LEN || RAND_bytes(salt, SALT_LEN) != 1 ||
        sha256_salted(salt, token, len, dig))
        return -1;
    if (outlen < 8 + 2 * SALT_LEN + 1 + 2 * DIGEST_LEN + 1) return -1;
    char *p = out + sprintf(out, "sha256$");
    for (int i = 0; i < SALT_LEN; i++) p += sprintf(p, "%02x", salt[i]);
    *p++ = '$';
    for (int i = 0; i < DIGEST_LEN; i++) p += sprintf(p, "%02x", dig[i]);
    return 0;
}

/* RFC 6750 b64token characters (what fits in "Authorization: Bearer"). */
static bool token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

static bool hex_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int auth_token_check(const char *token, char *err, size_t errlen)
{
    size_t len = strlen(token), n = len;
    while (n && token[n - 1] == '=') n--; /* base64 padding carries no entropy */
    if (len > MAX_TOKEN_LEN) {
        ld_set_err(err, errlen, "token is longer than %d bytes", MAX_TOKEN_LEN);
        return -EINVAL;
    }
    bool hex = n > 0, seen[256] = {false};
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++) {
        if (!token_char(token[i])) {
            ld_set_err(err, errlen, "token byte %zu is not one of A-Z a-z 0-9 - . _ ~ + / "
                       "(a bearer token, RFC 6750)", i);
            return -EINVAL;
        }
        hex = hex && hex_char(token[i]);
        distinct += !seen[(unsigned char)token[i]];
        seen[(unsigned char)token[i]] = true;
    }
    size_t need = hex ? AUTH_TOKEN_MIN_HEX : AUTH_TOKEN_MIN_CHARS;
    if (n < need || distinct < AUTH_TOKEN_MIN_DISTINCT) {
        ld_set_err(err, errlen, "token too weak: need at least 128 random bits, i.e. %d hex "
                   "characters or %d base64 characters with at least %d different ones (got %zu "
                   "characters, %zu different); use logdistd --generate-token",
                   AUTH_TOKEN_MIN_HEX, AUTH_TOKEN_MIN_CHARS, AUTH_TOKEN_MIN_DISTINCT, n, distinct);
        return -EINVAL;
    }
    return 0;
}

int auth_generate_token(char *out, size_t outlen)
{
    static const char b64url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[AUTH_TOKEN_RANDOM_BYTES + 2] = {0}; /* +2: whole groups of 3 */
    if (outlen < AUTH_TOKEN_GENERATED_LEN + 1) return -ENOBUFS;
    size_t got = 0;
    while (got < AUTH_TOKEN_RANDOM_BYTES) {
        ssize_t k = getrandom(r + got, AUTH_TOKEN_RANDOM_BYTES - got, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return k < 0 ? -errno : -EIO;
        got += (size_t)k;
    }
    size_t o = 0;
    for (size_t i = 0; i < AUTH_TOKEN_RANDOM_BYTES; i += 3) {
        unsigned v = (unsigned)r[i] << 16 | (unsigned)r[i + 1] << 8 | r[i + 2];
        for (int k = 0; k < 4 && o < AUTH_TOKEN_GENERATED_LEN; k++)
            out[o++] = b64url[(v >> (18 - 6 * k)) & 63];
    }
    out[o] = 0;
    OPENSSL_cleanse(r, sizeof r);
    return 0;
}

static int parse_roles(const char *s, size_t n, unsigned *roles)
{
    *roles = 0;
    for (;;) { /* every element non-empty: "ingest+" and "+admin" are errors */
        const char *plus = memchr(s, '+', n);
        size_t k = plus ? (size_t)(plus - s) : n;
        if (k == 6 && !strncmp(s, "ingest", 6))
            *roles |= ROLE_INGEST;
        else if (k == 5 && !strncmp(s, "admin", 5))
            *roles |= ROLE_ADMIN;
        else if (k == 4 && !strncmp(s, "read", 4))
            *roles |= ROLE_READ;
        else
            return -1;
        if (!plus) break;
        s = plus + 1;
        n -= k + 1;
    }
    return *roles ? 0 : -1;
}

/* Parse one spec into *t (zeroed first). Returns 0 or -1 with err. */
static int parse_spec(const char *spec, token_t *tp, char *err, size_t errlen)
{
    token_t t;
    memset(&t, 0, sizeof t);
    bool have_hash = false;
    const char *p = spec;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n > 5 && !strncmp(p, "role=", 5)) {
            if (parse_roles(p + 5, n - 5, &t.roles)) {
                snprintf(err, errlen, "token: role must be ingest, admin, read or a '+' list");
                return -1;
            }
        } else if (n > 5 && !strncmp(p, "hash=", 5)) {
            const char *h = p + 5;
            size_t hl = n - 5;
            if (hl != 7 + 2 * SALT_LEN + 1 + 2 * DIGEST_LEN || strncmp(h, "sha256$", 7) ||
                h[7 + 2 * SALT_LEN] != '$' || unhex(h + 7, SALT_LEN, t.salt) ||
                unhex(h + 8 + 2 * SALT_LEN, DIGEST_LEN, t.digest)) {
                snprintf(err, errlen, "token: hash must be the output of logdistd --hash-token");
                return -1;
            }
            have_hash = true;
        } else if (n > 6 && !strncmp(p, "agent=", 6) && n - 6 < sizeof t.agent) {
            memcpy(t.agent, p + 6, n - 6);
        } else {
            size_t kn = strcspn(p, "=,"); /* the key only: the value may be a hash */
            snprintf(err, errlen, "token: expected role=, hash= or agent= at '%.*s'",
                     (int)(kn > 20 ? 20 : kn), p);
            return -1;
        }
        p = comma ? comma + 1 : p + n;
    }
    if (!have_hash || !t.roles) {
        snprintf(err, errlen, "token: role= and hash= are required");
        return -1;
    }
    *tp = t;
    OPENSSL_cleanse(&t, sizeof t);
    return 0;
}

int auth_add(auth_t *a, const char *spec, char *err, size_t errlen)
{
    token_t t;
    if (parse_spec(spec, &t, err, errlen)) return -1;
    token_set_t *s = atomic_load(&a->cur);
    token_t *nt = realloc(s->tokens, (s->n + 1) * sizeof *nt);
    if (!nt) {
        OPENSSL_cleanse(&t, sizeof t);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->tokens = nt;
    s->tokens[s->n++] = t;
    OPENSSL_cleanse(&t, sizeof t);
    return 0;
}

int auth_replace(auth_t *a, char (*specs)[CONFIG_TOKEN_MAX + 1], size_t n, char *err,
                 size_t errlen)
{
    if (n > AUTH_TOKENS_MAX) {
        snprintf(err, errlen, "tokens: %zu given, at most %d", n, AUTH_TOKENS_MAX);
        return -EINVAL;
    }
    token_set_t *s = calloc(1, sizeof *s);
    if (!s || (n && !(s->tokens = calloc(n, sizeof *s->tokens)))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) { /* every spec first: nothing changes on an error */
        char why[200];
        int rc = strnlen(specs[i], CONFIG_TOKEN_MAX + 1) > CONFIG_TOKEN_MAX
                     ? (snprintf(why, sizeof why, "token spec too long"), -1)
                     : parse_spec(specs[i], &s->tokens[i], why, sizeof why);
        if (rc) {
            snprintf(err, errlen, "tokens[%zu]: %s", i, why);
            s->n = n;
            set_free(s);
            return -EINVAL;
        }
    }
    s->n = n;
    pthread_mutex_lock(&a->mu);
    token_set_t *old = atomic_exchange_explicit(&a->cur, s, memory_order_acq_rel);
    old->next_retired = a->retired;
    a->retired = old;
    a->generation++;
    pthread_mutex_unlock(&a->mu);
    return 0;
}

auth_result_t auth_check(const auth_t *a, const char *authorization, unsigned roles,
                         const char **agent)
{
    if (agent) *agent = NULL;
    const token_set_t *set = a ? current(a) : NULL;
    if (!set || set->n == 0) return AUTH_OK;
    if (!authorization || strncasecmp(authorization, "Bearer ", 7)) return AUTH_MISSING;
    const char *tok = authorization + 7;
    while (*tok == ' ') tok++;
    size_t len = strlen(tok);
    while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t')) len--;
    if (!len || len > MAX_TOKEN_LEN) return AUTH_INVALID;
    const token_t *found = NULL;
    /* check every token (no early exit) so timing does not reveal which matched */
    for (size_t i = 0; i < set->n; i++) {
        unsigned char dig[DIGEST_LEN];
        if (sha256_salted(set->tokens[i].salt, tok, len, dig)) continue;
        if (CRYPTO_memcmp(dig, set->tokens[i].digest, DIGEST_LEN) == 0 && !found)
            found = &set->tokens[i];
    }
    if (!found) return AUTH_INVALID;
    if (!(found->roles & roles)) return AUTH_FORBIDDEN;
    if (agent && found->agent[0]) *agent = found->agent;
    return AUTH_OK;
}

static log_limiter_t auth_log_limit = LOG_LIMITER_INIT(AUTH_LOG_PER_SEC);

void auth_log_failed(int status, const char *reason, const char *client, const char *protocol,
                     const char *path, const char *detail)
{
    uint64_t suppressed = 0;
    if (log_get_level() > LOG_WARN) return;
    if (!log_limiter_allow(&auth_log_limit, now_ms() / 1000, &suppressed)) return;
    char p[201] = "";
    if (path) { /* the path only: a query string could carry anything */
        size_t n = strcspn(path, "?#");
        if (n > sizeof p - 1) n = sizeof p - 1;
        memcpy(p, path, n);
        p[n] = 0;
    }
    log_field_t f[6];
    size_t n = 0;
    if (status > 0) f[n++] = LF_INT("status", status);
    f[n++] = LF_STR("client", client ? client : "?");
    f[n++] = LF_STR("reason", reason);
    f[n++] = LF_STR("protocol", protocol);
    if (path) f[n++] = LF_STR("path", p);
    if (suppressed) f[n++] = LF_UINT("suppressed", suppressed);
    char st[16] = "";
    if (status > 0) snprintf(st, sizeof st, "%d ", status);
    log_event(LOG_WARN, "auth", "auth_failed", f, n, "%s%s from %s", st, detail,
              client ? client : "?");
}
