/*
 * etcd_proto.h - the pure half of the etcd v3 JSON-gateway client: request
 * bodies built, response bodies and the watch stream parsed. No I/O, no
 * state but what the caller passes; etcd.c does the HTTP (libcurl), these do
 * the bytes, and tests/unit/test_etcd_proto.c and tests/fuzz/fuzz_etcd.c
 * check them directly.
 *
 * The gateway's conventions: keys and values are base64 (standard alphabet),
 * int64 fields are JSON strings ("42"), fields at their zero value are left
 * out (a PUT event has no "type", a key's first version no "version"...). A
 * streamed endpoint (watch, lease keepalive) answers a sequence of JSON
 * objects {"result": {...}} or {"error": {...}}, one per line.
 *
 * Everything that comes from etcd is hostile: a body over ETCD_MSG_MAX, a key
 * over ETCD_KEY_MAX, a key holding a NUL byte, a value over ETCD_VALUE_MAX, a
 * revision that is not a decimal int64 string, more than ETCD_KVS_MAX keys or
 * events, is refused with -EINVAL/-EMSGSIZE and a message in err. Returns are
 * 0 or a negative errno throughout; every out-parameter is freed with the
 * matching _free (safe on a zeroed struct and after an error).
 */
#ifndef LOGDIST_ETCD_PROTO_H
#define LOGDIST_ETCD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETCD_KEY_MAX 1024                 /* bytes of one key we accept or send */
#define ETCD_VALUE_MAX (1024u * 1024u)    /* bytes of one value */
#define ETCD_MSG_MAX (8u * 1024u * 1024u) /* one response body or one watch message */
#define ETCD_KVS_MAX 100000               /* keys in one range answer, events in one message */
#define ETCD_PREFIX_MAX 16                /* "/v3", "/v3beta", "/v3alpha" */

/* One key as etcd returned it: key NUL-terminated (never holds a NUL),
 * value NUL-terminated too (value_len bytes before it; may be binary). */
typedef struct {
    char *key;
    char *value;
    size_t value_len;
    int64_t create_revision, mod_revision, version, lease;
} etcd_kv_t;

typedef struct {
    int64_t revision; /* the store's revision when etcd answered (header) */
    etcd_kv_t *kvs;
    size_t count;
    bool more;
} etcd_range_t;

typedef struct {
    bool deleted; /* DELETE event (kv holds the key and its mod_revision) */
    etcd_kv_t kv;
} etcd_event_t;

typedef struct {
    int64_t revision; /* header revision (0 when absent, as in a compaction cancel) */
    int64_t watch_id;
    bool created, canceled;
    int64_t compact_revision; /* > 0: the start revision was compacted; re-read */
    char cancel_reason[160];
    etcd_event_t *events;
    size_t count;
} etcd_watch_msg_t;

/* ---- request bodies (malloc'd NUL-terminated JSON; NULL on ENOMEM or a key over
 * ETCD_KEY_MAX / a value over ETCD_VALUE_MAX) ---- */

/* POST <api>/kv/range: the key, or every key starting with it (prefix). */
char *etcd_req_range(const char *key, bool prefix);
/* POST <api>/kv/put; lease 0 = none. */
char *etcd_req_put(const char *key, const char *value, size_t value_len, int64_t lease);
/* POST <api>/kv/deleterange: the key or the prefix. */
char *etcd_req_delete(const char *key, bool prefix);
/* POST <api>/kv/txn: compare-and-set on mod_revision. If key's mod_revision equals
 * mod_revision (0: the key must not exist), put value (value NULL: delete the key);
 * otherwise read the key (so the loser learns the current revision and value). */
char *etcd_req_cas(const char *key, int64_t mod_revision, const char *value, size_t value_len,
                   int64_t lease);
/* POST <api>/lease/grant. */
char *etcd_req_lease_grant(int64_t ttl_s);
/* POST <api>/lease/keepalive and <api>/kv/lease/revoke: {"ID": id}. */
char *etcd_req_lease_id(int64_t id);
/* POST <api>/watch: from start_revision (0 = from now). */
char *etcd_req_watch(const char *key, bool prefix, int64_t start_revision);
/* POST <api>/auth/authenticate. */
char *etcd_req_auth(const char *user, const char *password);

/* The end of the range holding every key that starts with key[0..n): the
 * prefix with its last byte below 0xff incremented, the rest cut ("\0" when
 * every byte is 0xff: the whole keyspace). Length written, or -E2BIG. */
long etcd_prefix_end(const char *key, size_t n, char *out, size_t cap);

/* GET /version {"etcdserver":"3.4.23",...} -> the gateway's path prefix:
 * "/v3" from 3.4 on, "/v3beta" for 3.3, "/v3alpha" for 3.2 and before.
 * -EINVAL when the body says no version. */
int etcd_api_prefix(const char *body, size_t n, char *out, size_t cap);

/* ---- responses (the body of a 2xx, or of an error) ---- */

/* An error answer ({"error","message","code"}): 1 with its message in msg and
 * its gRPC code in *code; 0 when the body is not an error. */
int etcd_parse_error(const char *body, size_t n, int *code, char *msg, size_t msglen);

/* Whether an error answer means the auth token is missing, expired or wrong
 * (authenticate again). */
bool etcd_error_is_auth(int code, const char *msg);

/* kv/range. */
int etcd_parse_range(const char *body, size_t n, etcd_range_t *out, char *err, size_t errlen);
void etcd_range_free(etcd_range_t *r);

/* kv/put, kv/deleterange: the header revision (and for a delete, *deleted). */
int etcd_parse_revision(const char *body, size_t n, int64_t *revision, int64_t *deleted, char *err,
                        size_t errlen);

/* kv/txn of etcd_req_cas: *succeeded; the header revision; on a lost compare,
 * cur holds the key as it is now (count 0: it does not exist). */
int etcd_parse_txn(const char *body, size_t n, bool *succeeded, int64_t *revision,
                   etcd_range_t *cur, char *err, size_t errlen);

/* lease/grant (top level) or lease/keepalive (under "result"): the lease id and
 * TTL; -ENOENT when the lease is gone (a keepalive answer without a TTL). */
int etcd_parse_lease(const char *body, size_t n, int64_t *id, int64_t *ttl, char *err,
                     size_t errlen);

/* auth/authenticate: the token (-E2BIG when it does not fit). */
int etcd_parse_auth(const char *body, size_t n, char *token, size_t cap, char *err, size_t errlen);

/* One message of the watch stream ({"result": ...}; {"error": ...} -> -EPROTO with
 * its message in err). */
int etcd_parse_watch(const char *msg, size_t n, etcd_watch_msg_t *out, char *err, size_t errlen);
void etcd_watch_msg_free(etcd_watch_msg_t *m);

/* ---- the stream framer: bytes as curl hands them in, whole messages out ---- */

typedef struct {
    char *buf;
    size_t off, len, cap; /* buf[off..len) not yet returned */
    size_t max;           /* one message's cap (ETCD_MSG_MAX unless set lower) */
} etcd_stream_t;

void etcd_stream_init(etcd_stream_t *s, size_t max);
void etcd_stream_free(etcd_stream_t *s);

/* Append data[0..n). 0, -EMSGSIZE (a message grew past max: the stream is
 * broken, drop it) or -ENOMEM. */
int etcd_stream_feed(etcd_stream_t *s, const char *data, size_t n);

/* The next whole message (a line without its '\n'; blank lines skipped) in
 * msg and len, valid until the next feed or next; 1 when there was one, 0 when
 * none is complete yet. */
int etcd_stream_next(etcd_stream_t *s, const char **msg, size_t *len);

#endif
