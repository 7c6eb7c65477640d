/*
 * gunzip.h - bounded decompression of Content-Encoding: gzip request bodies.
 */
#ifndef LOGDIST_GUNZIP_H
#define LOGDIST_GUNZIP_H

#include <stddef.h>

typedef enum {
    GUNZIP_OK = 0,
    GUNZIP_ERR_DATA = -1,    /* not a valid gzip stream (or trailing garbage) */
    GUNZIP_ERR_TOO_BIG = -2, /* output would exceed max_out */
    GUNZIP_ERR_NOMEM = -3,
} gunzip_status_t;

/* Decompress in[0..in_len) (one or more concatenated gzip members). On success
 * returns GUNZIP_OK with a malloc'd *out (caller frees) of *out_len bytes,
 * never more than max_out. On error *out is NULL and *err_offset is the input
 * offset reached. */
int gunzip_body(const void *in, size_t in_len, size_t max_out, char **out, size_t *out_len,
                size_t *err_offset);

#endif
