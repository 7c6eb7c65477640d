/*
 * agent_claim.h - what a packet says about its agent, read strictly, for
 * tokens bound to an agent (auth.h "agent=ID").
 *
 * The scanner (scan.h) is lenient on purpose: a non-string "agent_id" is
 * reported absent and a repeated key keeps the last value. For a bound token
 * that is a way around the binding (`"agent_id": null`, a number, or two keys
 * where a proxy and logdistd read different ones), so ingest asks this module
 * about every "agent_id" key at the top level of a packet: whether there is
 * none, exactly one string, one value of another type, or several.
 *
 * Pure logic on a body that scan_body() already accepted in SCAN_FORMAT_JSON
 * (so it is valid JSON); a body that is not is reported as AGENT_CLAIM_BAD.
 * Keys are compared after unescaping ("agent\u005fid" is "agent_id"), like
 * the scanner. The walk skips the records the scanner found (their byte
 * ranges) instead of reading them again, so it costs O(top-level structure).
 */
#ifndef LOGDIST_AGENT_CLAIM_H
#define LOGDIST_AGENT_CLAIM_H

#include <stddef.h>

#include "record/scan.h"

typedef enum {
    AGENT_CLAIM_ABSENT = 0, /* no "agent_id" key (or a bare array) */
    AGENT_CLAIM_STRING,     /* exactly one, a string: value_off/value_len = its contents */
    AGENT_CLAIM_NOT_STRING, /* exactly one, not a string: type names it, value_off = value */
    AGENT_CLAIM_DUPLICATE,  /* more than one: key_off = the second key's '"' */
    AGENT_CLAIM_BAD,        /* not a well-formed packet (cannot happen after scan_body) */
} agent_claim_kind_t;

typedef struct {
    agent_claim_kind_t kind;
    size_t key_off;   /* byte offset of the (first, or second for DUPLICATE) key's quote */
    size_t value_off; /* STRING: first byte of the contents; NOT_STRING: first byte of the value */
    size_t value_len; /* STRING: length of the contents (escapes left raw) */
    const char *type; /* NOT_STRING: "null", "number", "boolean", "object" or "array" */
} agent_claim_t;

/* Find the "agent_id" claims of body[0..len). `recs`/`nrec` are the records
 * scan_body() returned for this body (may be NULL/0: then they are walked
 * byte by byte). Fills *out; returns out->kind. */
agent_claim_kind_t agent_claim_find(const char *body, size_t len, const scan_record_t *recs,
                                    size_t nrec, agent_claim_t *out);

#endif
