/*
 * gunzip.c - see gunzip.h. zlib inflate with the gzip wrapper (windowBits 15+16),
 * growing the output buffer geometrically up to the limit.
 */
#include "ingest/gunzip.h"

#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

int gunzip_body(const void *in, size_t in_len, size_t max_out, char **out, size_t *out_len,
                size_t *err_offset)
{
    *out = NULL;
    *out_len = 0;
    *err_offset = 0;
    if (max_out > SIZE_MAX / 2) max_out = SIZE_MAX / 2; /* keep max_out + 1 and cap * 2 finite */
    z_stream zs = {0};
    if (inflateInit2(&zs, 15 + 16) != Z_OK) return GUNZIP_ERR_NOMEM;
    size_t cap = in_len * 4 + 1024;
    if (cap > max_out + 1) cap = max_out + 1;
    char *buf = malloc(cap);
    if (!buf) {
        inflateEnd(&zs);
        return GUNZIP_ERR_NOMEM;
    }
    zs.next_in = (Bytef *)in;
    size_t in_left = in_len, len = 0;
    int rc = GUNZIP_OK;
    for (;;) {
        if (len == cap) {
            if (cap > max_out) {
                rc = GUNZIP_ERR_TOO_BIG;
                break;
            }
            size_t ncap = cap * 2 > max_out + 1 ? max_out + 1 : cap * 2;
            char *n = realloc(buf, ncap);
            if (!n) {
                rc = GUNZIP_ERR_NOMEM;
                break;
            }
            buf = n;
            cap = ncap;
        }
        if (zs.avail_in == 0) {
            uInt chunk = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
            zs.avail_in = chunk;
            in_left -= chunk;
        }
        zs.next_out = (Bytef *)buf + len;
        zs.avail_out = (uInt)(cap - len > (1u << 30) ? (1u << 30) : cap - len);
        uInt before = zs.avail_out;
        int z = inflate(&zs, Z_NO_FLUSH);
        len += before - zs.avail_out;
        if (len > max_out) {
            rc = GUNZIP_ERR_TOO_BIG;
            break;
        }
        if (z == Z_STREAM_END) {
            if (zs.avail_in == 0 && in_left == 0) break;
            /* another gzip member follows */
            if (inflateReset(&zs) != Z_OK) {
                rc = GUNZIP_ERR_DATA;
                break;
            }
            continue;
        }
        if (z == Z_BUF_ERROR && zs.avail_in == 0 && in_left == 0) { /* truncated */
            rc = GUNZIP_ERR_DATA;
            break;
        }
        if (z != Z_OK && z != Z_BUF_ERROR) {
            rc = z == Z_MEM_ERROR ? GUNZIP_ERR_NOMEM : GUNZIP_ERR_DATA;
            break;
        }
    }
    size_t consumed = in_len - in_left - zs.avail_in;
    inflateEnd(&zs);
    if (rc != GUNZIP_OK) {
        free(buf);
        *err_offset = consumed;
        return rc;
    }
    *out = buf;
    *out_len = len;
    return GUNZIP_OK;
}
