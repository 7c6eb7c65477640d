/*
 * assets.c - see assets.h. A linear lookup: the table has a handful of entries.
 */
#include "admin/assets.h"

#include <string.h>

const admin_asset_t *admin_asset_find(const char *path)
{
    for (size_t i = 0; i < admin_asset_count; i++)
        if (!strcmp(admin_assets[i].path, path)) return &admin_assets[i];
    return NULL;
}
