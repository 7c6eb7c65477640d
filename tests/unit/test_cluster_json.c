/*
 * test_cluster_json.c - cmocka tables for src/cluster/cluster_json.c: an
 * analyzer spec to its etcd value and back (exact JSON), hostile values
 * refused with the key named, node values, and the cluster-wide share view
 * summed over the nodes' published counters.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/cluster_json.h"

static void test_spec_round_trip(void **state)
{
    analyzer_spec_t s = {.id = "a1",
                         .url = "http://10.0.0.1:9000/ingest",
                         .health_url = "http://10.0.0.1:9000/health",
                         .weight = 2.5,
                         .drained = true};
    char *j = cluster_spec_json(&s);
    assert_string_equal(j, "{\"id\":\"a1\",\"url\":\"http://10.0.0.1:9000/ingest\",\"health_url\":"
                           "\"http://10.0.0.1:9000/health\",\"weight\":2.5,\"drained\":true}");
    analyzer_spec_t back;
    char err[300];
    assert_int_equal(cluster_spec_parse(j, strlen(j), "a1", &back, err, sizeof err), 0);
    assert_true(config_analyzer_equal(&s, &back));
    free(j);
    snprintf(s.client_cert, sizeof s.client_cert, "/etc/c.pem");
    snprintf(s.client_key, sizeof s.client_key, "/etc/k.pem");
    j = cluster_spec_json(&s);
    assert_int_equal(cluster_spec_parse(j, strlen(j), "", &back, err, sizeof err), 0);
    assert_string_equal(back.client_key, "/etc/k.pem");
    free(j);
}

static void test_spec_parse_table(void **state)
{
    static const struct {
        const char *value;
        const char *key_id;
        int rc;
        const char *err_has; /* in err when refused */
        double weight;       /* when accepted */
        const char *health;  /* when accepted */
    } cases[] = {
        {"{\"id\":\"a\",\"url\":\"http://h:1/x\"}", "a", 0, NULL, 1, "http://h:1/health"},
        {"{\"id\":\"a\",\"url\":\"http://h:1/x\",\"weight\":0}", "a", 0, NULL, 0,
         "http://h:1/health"},
        {"{\"id\":\"a\",\"url\":\"http://h:1/x\",\"weight\":3,\"drained\":false,"
         "\"health_url\":\"http://h:2/hc\"}",
         "a", 0, NULL, 3, "http://h:2/hc"},
        {"{\"id\":\"a\",\"url\":\"http://h:1/x\"}", "b", -EINVAL, "its key", 0, NULL},
        {"{\"id\":\"a\"}", "a", -EINVAL, "required", 0, NULL},
        {"{\"id\":\"a\",\"url\":\"http://h:1/x\",\"colour\":1}", "a", -EINVAL, "colour", 0, NULL},
        {"{\"id\":\"a\",\"url\":5}", "a", -EINVAL, "\"url\"", 0, NULL},
        {"{\"id\":\"a\",\"url\":\"http://h:1/x\",\"weight\":\"2\"}", "a", -EINVAL, "weight", 0,
         NULL},
        {"{\"id\":\"a\",\"url\":\"http://h:1/x\",\"weight\":2e13}", "a", -EINVAL, "weight", 0,
         NULL},
        {"{\"id\":\"a\",\"url\":\"http://h:1/x\",\"weight\":-1}", "a", -EINVAL, "", 0, NULL},
        {"{\"id\":\"a\",\"url\":\"http://h:1/x\",\"drained\":1}", "a", -EINVAL, "drained", 0, NULL},
        {"{\"id\":\"a b\",\"url\":\"http://h:1/x\"}", "", -EINVAL, "", 0, NULL},
        {"{\"id\":\"a\",\"url\":\"ftp://h:1/x\"}", "a", -EINVAL, "", 0, NULL},
        {"{\"id\":\"a\",\"id\":\"a\",\"url\":\"http://h:1/x\"}", "a", -EINVAL, "", 0, NULL},
        {"{\"id\":\"a\\u0000b\",\"url\":\"http://h:1/x\"}", "a", -EINVAL, "", 0, NULL},
        {"[1]", "a", -EINVAL, "not a JSON object", 0, NULL},
        {"{\"id\":", "a", -EINVAL, "not a JSON object", 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        analyzer_spec_t out;
        memset(&out, 0x5a, sizeof out);
        char err[300] = "";
        int rc = cluster_spec_parse(cases[i].value, strlen(cases[i].value), cases[i].key_id, &out,
                                    err, sizeof err);
        if (rc != cases[i].rc)
            fail_msg("%s: %d want %d (%s)", cases[i].value, rc, cases[i].rc, err);
        if (rc) {
            assert_true(err[0] != 0);
            if (!strstr(err, cases[i].err_has))
                fail_msg("%s: err \"%s\" lacks \"%s\"", cases[i].value, err, cases[i].err_has);
            assert_int_equal((unsigned char)out.id[0], 0x5a); /* untouched */
        } else {
            assert_true(out.weight == cases[i].weight);
            assert_string_equal(out.health_url, cases[i].health);
        }
    }
    char big[CLUSTER_VALUE_MAX + 2];
    memset(big, ' ', sizeof big);
    analyzer_spec_t out;
    char err[100];
    assert_int_equal(cluster_spec_parse(big, sizeof big, "a", &out, err, sizeof err), -EINVAL);
}

static void test_node_parse(void **state)
{
    char err[200];
    const char *ok = "{\"id\":\"n1\",\"url\":\"http://h:8080\",\"analyzers\":{}}";
    json_t *n = cluster_node_parse(ok, strlen(ok), "n1", err, sizeof err);
    assert_non_null(n);
    json_decref(n);
    assert_null(cluster_node_parse(ok, strlen(ok), "n2", err, sizeof err));
    assert_null(cluster_node_parse("{\"url\":1}", 9, "n1", err, sizeof err));
    assert_null(cluster_node_parse("nope", 4, "n1", err, sizeof err));
}

static void test_share_view(void **state)
{
    json_t *local = json_loads("[{\"id\":\"a\",\"weight\":1,\"target_share\":0.25},"
                               "{\"id\":\"b\",\"weight\":3,\"target_share\":0.75}]",
                               0, NULL);
    json_t *nodes =
        json_loads("{\"n1\":{\"id\":\"n1\",\"analyzers\":{\"a\":{\"records_delivered\":100},"
                   "\"b\":{\"records_delivered\":300}}},"
                   "\"n2\":{\"id\":\"n2\",\"analyzers\":{\"a\":{\"records_delivered\":150},"
                   "\"b\":{\"records_delivered\":450},\"gone\":{\"records_delivered\":999}}},"
                   "\"n3\":{\"id\":\"n3\",\"analyzers\":{\"a\":{\"records_delivered\":-5}}}}",
                   0, NULL);
    json_t *v = cluster_share_view(local, nodes);
    assert_int_equal(json_array_size(v), 2);
    json_t *a = json_array_get(v, 0), *b = json_array_get(v, 1);
    assert_string_equal(json_string_value(json_object_get(a, "id")), "a");
    assert_int_equal(json_integer_value(json_object_get(a, "records_delivered")), 250);
    assert_int_equal(json_integer_value(json_object_get(b, "records_delivered")), 750);
    assert_true(json_real_value(json_object_get(a, "actual_share")) == 0.25);
    assert_true(json_real_value(json_object_get(b, "actual_share")) == 0.75);
    assert_true(json_real_value(json_object_get(b, "target_share")) == 0.75);
    /* per node, a negative (hostile) counter counts as 0 */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(a, "nodes"), "n2")), 150);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(a, "nodes"), "n3")), 0);
    json_decref(v);
    /* no counters anywhere: shares 0, not NaN */
    json_t *empty = json_object();
    v = cluster_share_view(local, empty);
    assert_true(json_real_value(json_object_get(json_array_get(v, 0), "actual_share")) == 0);
    json_decref(v);
    json_decref(empty);
    json_decref(local);
    json_decref(nodes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_round_trip),
        cmocka_unit_test(test_spec_parse_table),
        cmocka_unit_test(test_node_parse),
        cmocka_unit_test(test_share_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
