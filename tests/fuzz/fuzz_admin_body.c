/*
 * fuzz_admin_body.c - libFuzzer target for the admin API's request bodies
 * (src/admin/admin_body.c): POST /api/v1/analyzers, PUT /api/v1/analyzers/<id>,
 * DELETE /api/v1/deadletter {"batch_ids":[...]}.
 *
 * Input: byte 0 picks the parser (mod 3: add, update of analyzer "a1" incl. "drained", purge), the rest
 * is the body, from an exact-size heap copy. Invariants:
 *   1. the return is 0, -EINVAL, -EMSGSIZE or -ENOMEM; a refusal names a status
 *      (400/413/503), a known code, a message, and an offset -1 or inside the body;
 *   2. a refusal leaves the outputs untouched (they are pre-filled with a pattern);
 *   3. an accepted request is complete and within its bounds: add - id of 1..64
 *      [A-Za-z0-9._-], url and health_url non-empty, every string terminated inside
 *      its array, weight in 0..1e12; update - the same bounds on what it holds;
 *      purge - at most 4096 ids of 1..63 bytes, a non-NULL array;
 *      update - drained is -1 (absent), 0 or 1;
 *   4. round trip: the accepted result written back as JSON (jansson) parses again to
 *      exactly the same result.
 *
 * Build: make fuzz-build (tests/fuzz/fuzz.mk); run: build-fuzz/fuzz_admin_body DIR.
 * Replayed by ctest over corpus/ and regressions/fuzz_admin_body.
 */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PATTERN 0xA5
#define UPDATE_ID "a1"

static void fail(const char *msg)
{
    fprintf(stderr, "fuzz_admin_body: invariant violated: %s\n", msg);
    abort();
}

static bool untouched(const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != PATTERN) return false;
    return true;
}

static void check_refusal(int rc, const admin_body_error_t *e, const char *err, size_t len)
{
    static const char *const codes[] = {"bad_json", "bad_request", "bad_weight",
                                        "body_too_large", "out_of_memory"};
    if (rc != -EINVAL && rc != -EMSGSIZE && rc != -ENOMEM) fail("unknown error return");
    if (e->status != 400 && e->status != 413 && e->status != 503) fail("unknown status");
    bool known = false;
    for (size_t i = 0; e->code && i < sizeof codes / sizeof codes[0]; i++)
        known = known || !strcmp(e->code, codes[i]);
    if (!known) fail("unknown error code");
    if (!err[0]) fail("a refusal without a message");
    if (e->offset < -1 || (e->offset >= 0 && (size_t)e->offset > len)) fail("offset outside");
    if ((rc == -EMSGSIZE) != (e->status == 413)) fail("413 and -EMSGSIZE disagree");
}

static bool terminated(const char *s, size_t size)
{
    return memchr(s, 0, size) != NULL;
}

static void check_spec(const analyzer_spec_t *s)
{
    if (!terminated(s->id, sizeof s->id) || !terminated(s->url, sizeof s->url) ||
        !terminated(s->health_url, sizeof s->health_url) ||
        !terminated(s->client_cert, sizeof s->client_cert) ||
        !terminated(s->client_key, sizeof s->client_key))
        fail("an accepted spec with an unterminated string");
    size_t n = strlen(s->id);
    if (n == 0 || n > CONFIG_ID_MAX || strspn(s->id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM"
                                                     "NOPQRSTUVWXYZ0123456789._-") != n)
        fail("an accepted spec with a bad id");
    if (!s->url[0] || !s->health_url[0]) fail("an accepted spec without url or health_url");
    if (!(s->weight >= 0 && s->weight <= ADMIN_WEIGHT_MAX)) fail("accepted weight out of range");
}

static char *dump(json_t *o, size_t *len)
{
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s) abort();
    *len = strlen(s);
    return s;
}

static void fuzz_add(const char *body, size_t len)
{
    analyzer_spec_t spec, again;
    admin_body_error_t e;
    char err[512] = "";
    memset(&spec, PATTERN, sizeof spec);
    int rc = admin_body_parse_add(body, len, &spec, &e, err, sizeof err);
    if (rc) {
        check_refusal(rc, &e, err, len);
        if (!untouched(&spec, sizeof spec)) fail("a refused add wrote its output");
        return;
    }
    check_spec(&spec);
    json_t *o = json_pack("{s:s,s:s,s:f,s:s}", "id", spec.id, "url", spec.url, "weight",
                          spec.weight, "health_url", spec.health_url);
    if (!o) fail("an accepted spec cannot be written as JSON (not UTF-8?)");
    if (spec.client_cert[0]) json_object_set_new(o, "client_cert", json_string(spec.client_cert));
    if (spec.client_key[0]) json_object_set_new(o, "client_key", json_string(spec.client_key));
    size_t l2;
    char *s2 = dump(o, &l2);
    memset(&again, 0, sizeof again);
    if (admin_body_parse_add(s2, l2, &again, &e, err, sizeof err))
        fail("an accepted spec written back is refused");
    if (strcmp(spec.id, again.id) || strcmp(spec.url, again.url) ||
        strcmp(spec.health_url, again.health_url) || spec.weight != again.weight ||
        strcmp(spec.client_cert, again.client_cert) || strcmp(spec.client_key, again.client_key))
        fail("an accepted spec written back parses to another spec");
    free(s2);
}

static void fuzz_update(const char *body, size_t len)
{
    admin_update_t u, again;
    admin_body_error_t e;
    char err[512] = "";
    memset(&u, PATTERN, sizeof u);
    int rc = admin_body_parse_update(body, len, UPDATE_ID, &u, &e, err, sizeof err);
    if (rc) {
        check_refusal(rc, &e, err, len);
        if (!untouched(&u, sizeof u)) fail("a refused update wrote its output");
        return;
    }
    if (!terminated(u.url, sizeof u.url) || !terminated(u.health_url, sizeof u.health_url))
        fail("an accepted update with an unterminated string");
    if (u.has_weight && !(u.weight >= 0 && u.weight <= ADMIN_WEIGHT_MAX))
        fail("accepted weight out of range");
    if (u.drained != -1 && u.drained != 0 && u.drained != 1) fail("accepted drained not -1/0/1");
    json_t *o = json_object();
    if (u.has_weight) json_object_set_new(o, "weight", json_real(u.weight));
    if (u.drained >= 0) json_object_set_new(o, "drained", json_boolean(u.drained));
    if (u.url[0]) json_object_set_new(o, "url", json_string(u.url));
    if (u.health_url[0]) json_object_set_new(o, "health_url", json_string(u.health_url));
    if (json_object_size(o) !=
        (size_t)u.has_weight + (u.drained >= 0) + !!u.url[0] + !!u.health_url[0])
        fail("an accepted update cannot be written as JSON (not UTF-8?)");
    size_t l2;
    char *s2 = dump(o, &l2);
    memset(&again, 0, sizeof again);
    if (admin_body_parse_update(s2, l2, UPDATE_ID, &again, &e, err, sizeof err))
        fail("an accepted update written back is refused");
    if (u.has_weight != again.has_weight || (u.has_weight && u.weight != again.weight) ||
        u.drained != again.drained || strcmp(u.url, again.url) || strcmp(u.health_url, again.health_url))
        fail("an accepted update written back parses to another update");
    free(s2);
}

static void fuzz_purge(const char *body, size_t len)
{
    char **ids = (char **)(uintptr_t)0xA5A5A5A5u, **ids2 = NULL;
    size_t n = 0xA5A5, n2 = 0;
    admin_body_error_t e;
    char err[512] = "";
    int rc = admin_body_parse_purge(body, len, &ids, &n, &e, err, sizeof err);
    if (rc) {
        check_refusal(rc, &e, err, len);
        if (ids != (char **)(uintptr_t)0xA5A5A5A5u || n != 0xA5A5)
            fail("a refused purge wrote its output");
        return;
    }
    if (!ids || n > ADMIN_PURGE_MAX_IDS) fail("accepted purge: NULL ids or too many");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(ids[i]);
        if (l == 0 || l > DEADLETTER_ID_MAX) fail("accepted purge id of a bad length");
        json_array_append_new(arr, json_string(ids[i]));
    }
    if (json_array_size(arr) != n) fail("an accepted id cannot be written as JSON");
    size_t l2;
    char *s2 = dump(json_pack("{s:o}", "batch_ids", arr), &l2);
    if (admin_body_parse_purge(s2, l2, &ids2, &n2, &e, err, sizeof err))
        fail("an accepted purge written back is refused");
    bool same = n == n2;
    for (size_t i = 0; same && i < n; i++) same = !strcmp(ids[i], ids2[i]);
    if (!same) fail("an accepted purge written back parses to other ids");
    admin_body_free_ids(ids, n);
    admin_body_free_ids(ids2, n2);
    free(s2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > ADMIN_BODY_MAX + 2) return 0;
    size_t len = size - 1;
    char *body = malloc(len ? len : 1);
    if (!body) return 0;
    if (len) memcpy(body, data + 1, len);
    switch (data[0] % 3) {
    case 0: fuzz_add(body, len); break;
    case 1: fuzz_update(body, len); break;
    default: fuzz_purge(body, len); break;
    }
    free(body);
    return 0;
}
