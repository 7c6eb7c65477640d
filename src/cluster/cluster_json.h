/*
 * cluster_json.h - the JSON of the cluster's etcd values (docs/CLUSTER.md),
 * pure: an analyzer spec to and from its value under <prefix>/analyzers/<id>,
 * a node's value under <prefix>/nodes/<id>, and the cluster-wide share view
 * computed from the nodes' published counters. No I/O, no state.
 *
 * A value read from etcd is hostile: cluster_spec_parse takes one JSON
 * object with only the known keys, each of its type, checks it with
 * config_check_analyzer (id syntax, http(s) URLs, weight 0..1e12) and
 * requires the id to be the key's; anything else is -EINVAL with err naming
 * the key. Returns are 0 or a negative errno; strings are malloc'd.
 */
#ifndef LOGDIST_CLUSTER_JSON_H
#define LOGDIST_CLUSTER_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "core/config.h"

#define CLUSTER_VALUE_MAX (256u * 1024u) /* bytes of one value we read or write */

/* {"id","url","health_url","weight","drained"[,"client_cert","client_key"]} (compact,
 * keys in that order). NULL on ENOMEM. */
char *cluster_spec_json(const analyzer_spec_t *spec);

/* Parse a value; key_id is the id in its key ("" = not checked). */
int cluster_spec_parse(const char *value, size_t len, const char *key_id, analyzer_spec_t *out,
                       char *err, size_t errlen);

/* A node's published value: any JSON object of at most CLUSTER_VALUE_MAX bytes
 * whose "id" is key_id; returned as a new reference, NULL with err otherwise. */
json_t *cluster_node_parse(const char *value, size_t len, const char *key_id, char *err,
                           size_t errlen);

/* The cluster-wide view of GET /api/v1/cluster/analyzers: `analyzers` is the
 * local "analyzers" array of GET /api/v1/analyzers (id, weight,
 * target_share...), `nodes` an object id -> node value (each with
 * "analyzers": {id: {"records_delivered": n}}). For each analyzer: target_share,
 * records_delivered summed over the nodes, actual_share of that sum among the
 * listed analyzers, and per-node counts. A new reference (NULL on ENOMEM). */
json_t *cluster_share_view(const json_t *analyzers, const json_t *nodes);

#endif
