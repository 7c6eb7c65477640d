/*
 * cluster_json.c - see cluster_json.h.
 */
#include "cluster/cluster_json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

char *cluster_spec_json(const analyzer_spec_t *spec)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:f,s:b}", "id", spec->id, "url", spec->url, "health_url",
                          spec->health_url, "weight", spec->weight, "drained", spec->drained);
    if (!o) return NULL;
    if (spec->client_cert[0]) json_object_set_new(o, "client_cert", json_string(spec->client_cert));
    if (spec->client_key[0]) json_object_set_new(o, "client_key", json_string(spec->client_key));
    if (spec->has_slow_start)
        json_object_set_new(o, "slow_start_ms", json_integer((json_int_t)spec->slow_start_ms));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

/* Copy string member `k` into dst[cap] (absent: left as is). -1 on a wrong type or length. */
static int take_str(json_t *o, const char *k, char *dst, size_t cap)
{
    json_t *v = json_object_get(o, k);
    if (!v) return 0;
    if (!json_is_string(v) || json_string_length(v) >= cap ||
        strlen(json_string_value(v)) != json_string_length(v))
        return -1;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

int cluster_spec_parse(const char *value, size_t len, const char *key_id, analyzer_spec_t *out,
                       char *err, size_t errlen)
{
    static const char *const keys[] = {"id",      "url",         "health_url", "weight",
                                       "drained", "client_cert", "client_key", "slow_start_ms",
                                       NULL};
    if (len > CLUSTER_VALUE_MAX) {
        snprintf(err, errlen, "analyzer value over %u bytes", CLUSTER_VALUE_MAX);
        return -EINVAL;
    }
    json_error_t je;
    json_t *o = json_loadb(value, len, JSON_REJECT_DUPLICATES, &je);
    analyzer_spec_t s;
    memset(&s, 0, sizeof s);
    s.weight = 1;
    int rc = -EINVAL;
    if (!json_is_object(o)) {
        snprintf(err, errlen, "analyzer value is not a JSON object%s%s", o ? "" : ": ",
                 o ? "" : je.text);
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], k))
            i++;
        if (!keys[i]) {
            snprintf(err, errlen, "analyzer value: unknown key \"%.64s\"", k);
            goto out;
        }
    }
    const char *bad = NULL;
    if (take_str(o, "id", s.id, sizeof s.id))
        bad = "id";
    else if (take_str(o, "url", s.url, sizeof s.url))
        bad = "url";
    else if (take_str(o, "health_url", s.health_url, sizeof s.health_url))
        bad = "health_url";
    else if (take_str(o, "client_cert", s.client_cert, sizeof s.client_cert))
        bad = "client_cert";
    else if (take_str(o, "client_key", s.client_key, sizeof s.client_key))
        bad = "client_key";
    json_t *w = json_object_get(o, "weight"), *dr = json_object_get(o, "drained");
    if (!bad && w && !json_is_number(w)) bad = "weight";
    if (!bad && dr && !json_is_boolean(dr)) bad = "drained";
    json_t *ss = json_object_get(o, "slow_start_ms");
    if (!bad && ss && (!json_is_integer(ss) || json_integer_value(ss) < 0 ||
                       json_integer_value(ss) > CONFIG_SLOW_START_MAX_MS))
        bad = "slow_start_ms";
    if (bad) {
        snprintf(err, errlen, "analyzer value: \"%s\" has the wrong type or is too long", bad);
        goto out;
    }
    if (w) s.weight = json_number_value(w);
    s.drained = json_is_true(dr);
    if (ss) {
        s.has_slow_start = true;
        s.slow_start_ms = (uint32_t)json_integer_value(ss);
    }
    if (!s.id[0] || !s.url[0]) {
        snprintf(err, errlen, "analyzer value: \"id\" and \"url\" are required");
        goto out;
    }
    if (key_id && key_id[0] && strcmp(key_id, s.id)) {
        snprintf(err, errlen, "analyzer value: id \"%s\" is not its key's \"%s\"", s.id, key_id);
        goto out;
    }
    if (s.weight > 1e12 || config_check_analyzer(&s, err, errlen)) {
        if (s.weight > 1e12) snprintf(err, errlen, "analyzer value: weight over 1e12");
        goto out;
    }
    *out = s;
    rc = 0;
out:
    json_decref(o);
    return rc;
}

json_t *cluster_node_parse(const char *value, size_t len, const char *key_id, char *err,
                           size_t errlen)
{
    if (len > CLUSTER_VALUE_MAX) {
        snprintf(err, errlen, "node value over %u bytes", CLUSTER_VALUE_MAX);
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb(value, len, JSON_REJECT_DUPLICATES, &je);
    json_t *id = json_object_get(o, "id");
    if (!json_is_object(o) || !json_is_string(id) || strcmp(json_string_value(id), key_id)) {
        snprintf(err, errlen, "node value is not an object whose \"id\" is its key's");
        json_decref(o);
        return NULL;
    }
    return o;
}

static double counter(const json_t *node, const char *aid)
{
    json_t *a = json_object_get(json_object_get(node, "analyzers"), aid);
    json_t *n = json_object_get(a, "records_delivered");
    return json_is_number(n) && json_number_value(n) > 0 ? json_number_value(n) : 0;
}

json_t *cluster_share_view(const json_t *analyzers, const json_t *nodes)
{
    json_t *out = json_array();
    if (!out) return NULL;
    double total = 0;
    size_t i;
    json_t *a, *node;
    const char *nid;
    json_array_foreach(analyzers, i, a)
    {
        const char *id = json_string_value(json_object_get(a, "id"));
        json_object_foreach((json_t *)nodes, nid, node) total += id ? counter(node, id) : 0;
    }
    json_array_foreach(analyzers, i, a)
    {
        const char *id = json_string_value(json_object_get(a, "id"));
        if (!id) continue;
        json_t *per = json_object();
        double sum = 0;
        json_object_foreach((json_t *)nodes, nid, node)
        {
            double c = counter(node, id);
            sum += c;
            json_object_set_new(per, nid, json_integer((json_int_t)c));
        }
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(id));
        json_object_set(o, "weight", json_object_get(a, "weight"));
        json_object_set(o, "target_share", json_object_get(a, "target_share"));
        json_object_set_new(o, "records_delivered", json_integer((json_int_t)sum));
        json_object_set_new(o, "actual_share", json_real(total > 0 ? sum / total : 0));
        json_object_set_new(o, "nodes", per);
        json_array_append_new(out, o);
    }
    return out;
}
