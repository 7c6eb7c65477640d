/*
 * assets.h - the dashboard's files (src/admin/dashboard/), embedded in the
 * binary at build time: cmake/embed_assets.cmake writes the table into
 * build/gen/dashboard_assets.c. Read-only static data; nothing is read from
 * disk at run time.
 */
#ifndef LOGDIST_ASSETS_H
#define LOGDIST_ASSETS_H

#include <stddef.h>

typedef struct {
    const char *path;          /* "/" (index.html), "/dashboard.js", ... */
    const char *content_type;  /* with charset */
    const unsigned char *data; /* len bytes (plus a NUL not counted) */
    size_t len;
} admin_asset_t;

extern const admin_asset_t admin_assets[];
extern const size_t admin_asset_count;

/* The asset served at `path` (exact match), or NULL. Static: never freed. */
const admin_asset_t *admin_asset_find(const char *path);

#endif
