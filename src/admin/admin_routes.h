/*
 * admin_routes.h - the route table over HTTP (docs/API.md, docs/ROUTING.md):
 *
 *   GET    /api/v1/routes          the table in order, with per-route and per-member figures
 *   POST   /api/v1/routes          add one route {"name", ...[, "position": i]} -> 201
 *   PUT    /api/v1/routes          replace the whole table with an array
 *   GET    /api/v1/routes/{name}   one route
 *   PUT    /api/v1/routes/{name}   replace that route in place (or add "default")
 *   DELETE /api/v1/routes/{name}   remove it ("default": back to the implicit default)
 *
 * A change builds a whole new table from the current one (route/routes.h
 * checks it: 400 bad_route naming the route and key), then hands it to the
 * delivery thread (deliver_set_routes, strict: a route naming an analyzer that
 * is not registered is refused with 422 unknown_analyzer). Nothing changes on
 * any refusal. Called under the admin mutex, so changes are serialised. An
 * applied change is stored (store may be NULL) with the config's routes it
 * descends from: at start the stored table wins while the file's routes are
 * still those (docs/ROUTING.md).
 */
#ifndef LOGDIST_ADMIN_ROUTES_H
#define LOGDIST_ADMIN_ROUTES_H

#include <stddef.h>

#include "deliver/deliver.h"
#include "ingress/http.h"
#include "store/config_store.h"

#define ROUTES_PATH "/api/v1/routes"

/* Serve a request whose path is ROUTES_PATH or ROUTES_PATH "/<name>" (name =
 * NULL for the collection); body/len: the request body ("" when none, NULL
 * when over ADMIN_BODY_MAX). Answers req. */
void admin_routes_serve(deliver_t *d, config_store_t *store, http_req_t *req, const char *name,
                        const char *body, size_t len);

/* Clustered: a change is written to etcd (cluster_routes_put: compare-and-set
 * on the table this node applied; 409 when another node changed it meanwhile,
 * 503 while etcd is unreachable) and applied here from the watch. Set once
 * before serving (admin_set_cluster). */
struct cluster;
void admin_routes_set_cluster(struct cluster *c);

#endif
