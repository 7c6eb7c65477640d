/*
 * base64.h - base64 for the protocols that carry it (OTLP bytes, Elasticsearch
 * Basic and ApiKey credentials). Decoding takes the standard and the URL-safe
 * alphabet (RFC 4648 4 and 5, mixed as protojson accepts them), padding
 * optional but only at the end; encoding writes the standard alphabet with
 * padding. Pure; no allocation.
 */
#ifndef LOGDIST_COMMON_BASE64_H
#define LOGDIST_COMMON_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* The most bytes `n` characters of base64 can decode to. */
static inline size_t base64_decoded_max(size_t n) { return n / 4 * 3 + 3; }

/* Decode in[0..n) into out[0..cap). Returns the number of bytes written, or
 * -EINVAL (a character outside the alphabets, padding in the middle, a
 * dangling single character) or -E2BIG (cap too small; out is then partly
 * written). */
long base64_decode(const char *in, size_t n, uint8_t *out, size_t cap);

/* Characters base64_encode writes for n bytes. */
static inline size_t base64_encoded_len(size_t n) { return (n + 2) / 3 * 4; }

/* Encode in[0..n) into out[0..base64_encoded_len(n)) (no NUL). */
void base64_encode(const uint8_t *in, size_t n, char *out);

#endif
