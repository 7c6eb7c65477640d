/*
 * admin_body.c - see admin_body.h. jansson parses; every check here is on the parsed
 * value, so each function is bytes -> result with no side effect but its outputs.
 */
#include "admin/admin_body.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/util.h"

/* Fill the optional error outputs; returns rc. */
static int refuse(admin_body_error_t *why, int rc, int status, const char *code,
                  long long offset, char *err, size_t errlen, const char *msg)
{
    if (why) {
        why->status = status;
        why->code = code;
        why->offset = offset;
    }
    ld_set_err(err, errlen, "%s", msg);
    return rc;
}

/* The body as a JSON object, or NULL after refusing it. */
static json_t *load_object(const char *body, size_t len, admin_body_error_t *why, char *err,
                           size_t errlen, int *rc)
{
    if (len > ADMIN_BODY_MAX) {
        *rc = refuse(why, -EMSGSIZE, 413, "body_too_large", -1, err, errlen,
                     "admin request bodies are limited to 64 KiB");
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(len ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        *rc = refuse(why, -EINVAL, 400, "bad_json", je.position, err, errlen, je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        *rc = refuse(why, -EINVAL, 400, "bad_json", 0, err, errlen, "body must be a JSON object");
        return NULL;
    }
    return j;
}

/* Every key of `o` is one of `keys` (NULL-terminated), strings are strings, a
 * "weight" a number in 0..ADMIN_WEIGHT_MAX and "drained" a boolean. 0 or a refusal. */
static int check_keys(json_t *o, const char *const *keys, const char *allowed,
                      admin_body_error_t *why, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    char m[200];
    json_object_foreach(o, key, v)
    {
        size_t k = 0;
        while (keys[k] && strcmp(keys[k], key)) k++;
        if (!keys[k]) {
            snprintf(m, sizeof m, "unknown field \"%.60s\" (allowed: %s)", key, allowed);
            return refuse(why, -EINVAL, 400, "bad_request", -1, err, errlen, m);
        }
        if (!strcmp(key, "weight")) {
            double w = json_is_number(v) ? json_number_value(v) : -1;
            if (!(w >= 0 && w <= ADMIN_WEIGHT_MAX))
                return refuse(why, -EINVAL, 400, "bad_weight", -1, err, errlen,
                              "\"weight\" must be a finite number in 0..1e12");
        } else if (!strcmp(key, "slow_start_ms")) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > CONFIG_SLOW_START_MAX_MS)
                return refuse(why, -EINVAL, 400, "bad_request", -1, err, errlen,
                              "\"slow_start_ms\" must be an integer in 0..3600000");
        } else if (!strcmp(key, "drained")) {
            if (!json_is_boolean(v))
                return refuse(why, -EINVAL, 400, "bad_request", -1, err, errlen,
                              "\"drained\" must be true or false");
        } else if (!json_is_string(v)) {
            snprintf(m, sizeof m, "\"%s\" must be a string", key);
            return refuse(why, -EINVAL, 400, "bad_request", -1, err, errlen, m);
        }
    }
    return 0;
}

/* Copy string member `key` of o (if there) into dst[size]; refuse one too long. */
static int copy_member(json_t *o, const char *key, char *dst, size_t size,
                       admin_body_error_t *why, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);
    if (!v) return 0;
    LD_ASSERT(json_is_string(v)); /* check_keys ran first */
    if (json_string_length(v) >= size) {
        char m[96];
        snprintf(m, sizeof m, "\"%s\" is longer than %zu bytes", key, size - 1);
        return refuse(why, -EINVAL, 400, "bad_request", -1, err, errlen, m);
    }
    strlcpy_ld(dst, json_string_value(v), size);
    return 0;
}

int admin_body_parse_add(const char *body, size_t len, analyzer_spec_t *spec,
                         admin_body_error_t *why, char *err, size_t errlen)
{
    int rc = 0;
    json_t *o = load_object(body, len, why, err, errlen, &rc);
    if (!o) return rc;
    analyzer_spec_t *s = calloc(1, sizeof *s);
    if (!s) {
        rc = refuse(why, -ENOMEM, 503, "out_of_memory", -1, err, errlen, "out of memory");
        goto out;
    }
    if ((rc = check_keys(o, config_analyzer_keys,
                         "id, url, weight, health_url, client_cert, client_key, slow_start_ms", why,
                         err, errlen)))
        goto out;
    if (!json_object_get(o, "id") || !json_object_get(o, "url")) {
        rc = refuse(why, -EINVAL, 400, "bad_request", -1, err, errlen,
                    "\"id\" and \"url\" are required");
        goto out;
    }
    s->weight = json_object_get(o, "weight") ? json_number_value(json_object_get(o, "weight"))
                                             : 1.0;
    char m[512] = "";
    for (const char *const *k = config_analyzer_keys; *k; k++) { /* the one list of keys */
        json_t *v = json_object_get(o, *k);
        if (!v || !strcmp(*k, "weight")) continue;
        if (!strcmp(*k, "slow_start_ms")) { /* an integer (check_keys) */
            s->has_slow_start = true;
            s->slow_start_ms = (uint32_t)json_integer_value(v);
            continue;
        }
        if (config_analyzer_set(s, *k, json_string_value(v), m, sizeof m)) {
            rc = refuse(why, -EINVAL, 400, "bad_request", -1, err, errlen, m);
            goto out;
        }
    }
    if (config_check_analyzer(s, m, sizeof m)) {
        rc = refuse(why, -EINVAL, 400, strstr(m, "weight") ? "bad_weight" : "bad_request", -1,
                    err, errlen, m);
        goto out;
    }
    *spec = *s;
out:
    free(s);
    json_decref(o);
    return rc;
}

int admin_body_parse_update(const char *body, size_t len, const char *id, admin_update_t *u,
                            admin_body_error_t *why, char *err, size_t errlen)
{
    static const char *const keys[] = {"id",      "url",           "weight", "health_url",
                                       "drained", "slow_start_ms", NULL};
    int rc = 0;
    json_t *o = load_object(body, len, why, err, errlen, &rc);
    if (!o) return rc;
    admin_update_t *x = calloc(1, sizeof *x);
    if (!x) {
        rc = refuse(why, -ENOMEM, 503, "out_of_memory", -1, err, errlen, "out of memory");
        goto out;
    }
    if (json_object_get(o, "client_cert") || json_object_get(o, "client_key")) {
        rc = refuse(why, -EINVAL, 400, "bad_request", -1, err, errlen,
                    "client_cert/client_key cannot be changed by PUT (remove and add the "
                    "analyzer)");
        goto out;
    }
    if ((rc = check_keys(o, keys, "id, url, weight, health_url, drained, slow_start_ms", why, err,
                         errlen)))
        goto out;
    json_t *bid = json_object_get(o, "id");
    if (bid && strcmp(json_string_value(bid), id)) {
        rc = refuse(why, -EINVAL, 400, "bad_request", -1, err, errlen,
                    "\"id\" cannot be changed");
        goto out;
    }
    json_t *w = json_object_get(o, "weight");
    x->has_weight = w != NULL;
    x->weight = w ? json_number_value(w) : 0;
    json_t *dr = json_object_get(o, "drained");
    x->drained = dr ? json_is_true(dr) : -1;
    json_t *ss = json_object_get(o, "slow_start_ms");
    x->slow_start_ms = ss ? (int64_t)json_integer_value(ss) : -1;
    if ((rc = copy_member(o, "url", x->url, sizeof x->url, why, err, errlen)) ||
        (rc = copy_member(o, "health_url", x->health_url, sizeof x->health_url, why, err,
                          errlen)))
        goto out;
    if ((json_object_get(o, "url") && !x->url[0]) ||
        (json_object_get(o, "health_url") && !x->health_url[0])) {
        rc = refuse(why, -EINVAL, 400, "bad_request", -1, err, errlen,
                    "\"url\" and \"health_url\" cannot be empty");
        goto out;
    }
    *u = *x;
out:
    free(x);
    json_decref(o);
    return rc;
}

void admin_body_free_ids(char **ids, size_t n)
{
    for (size_t i = 0; ids && i < n; i++) free(ids[i]);
    free(ids);
}

int admin_body_parse_purge(const char *body, size_t len, char ***ids, size_t *n,
                           admin_body_error_t *why, char *err, size_t errlen)
{
    int rc = 0;
    json_t *o = load_object(body, len, why, err, errlen, &rc);
    if (!o) return rc;
    json_t *arr = json_object_get(o, "batch_ids");
    size_t k = json_array_size(arr);
    char **v = NULL;
    if (json_object_size(o) != 1 || !json_is_array(arr) || k > ADMIN_PURGE_MAX_IDS) {
        rc = refuse(why, -EINVAL, 400, "bad_request", -1, err, errlen,
                    "body must be {\"batch_ids\":[...]} with at most 4096 ids");
        goto out;
    }
    if (!(v = calloc(k ? k : 1, sizeof *v))) { /* never NULL: NULL ids means "all" */
        rc = refuse(why, -ENOMEM, 503, "out_of_memory", -1, err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < k; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (!s || !s[0] || strlen(s) > DEADLETTER_ID_MAX) {
            rc = refuse(why, -EINVAL, 400, "bad_request", -1, err, errlen,
                        "batch ids are strings of 1..63 bytes");
            goto out;
        }
        if (!(v[i] = strdup(s))) {
            rc = refuse(why, -ENOMEM, 503, "out_of_memory", -1, err, errlen, "out of memory");
            goto out;
        }
    }
    *ids = v;
    *n = k;
    v = NULL;
out:
    admin_body_free_ids(v, k);
    json_decref(o);
    return rc;
}
