/*
 * syslog_parse.h - the pure half of the syslog receiver: bytes -> records,
 * no I/O, no clock, no globals (src/proto/syslog.c does the sockets).
 *
 *   - syslog_parse(): one message (a UDP datagram or one frame of a stream)
 *     into its fields, RFC 5424 or RFC 3164/BSD detected per message;
 *   - syslog_write_record(): those fields as one JSON record (record/jsonw.h),
 *     mapped as docs/PROTOCOLS.md says;
 *   - syslog_framer_*: the stream framing of TCP/TLS (RFC 6587), octet
 *     counting or LF, detected from the first byte of the connection as the
 *     syslog-ng syslog() source does, with the message size bound applied
 *     (oversize messages are skipped whole and reported, never cut).
 *
 * Contract: every input is hostile. Nothing here reads outside in[0..len) or
 * keeps a pointer past the call that got it (the spans of syslog_msg_t point
 * into the caller's input). Error convention: 0 or negative errno.
 */
#ifndef LOGDIST_PROTO_SYSLOG_PARSE_H
#define LOGDIST_PROTO_SYSLOG_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record/jsonw.h"
#include "record/scan.h"

/* A PRI of a message that has none (rsyslog's default: user.notice). */
#define SYSLOG_DEFAULT_PRI 13
/* Structured data: at most this many parameters in one message (more: -E2BIG). */
#define SYSLOG_MAX_SD_PARAMS 256

typedef enum { SYSLOG_RFC3164 = 0, SYSLOG_RFC5424 = 1 } syslog_format_t;

typedef struct {
    const char *p; /* into the input; NULL/0 = absent (nil) */
    size_t n;
} syslog_span_t;

typedef struct syslog_msg {
    syslog_format_t format;
    int pri;            /* 0..191 (facility * 8 + severity) */
    bool pri_given;     /* false: no <PRI>, SYSLOG_DEFAULT_PRI assumed */
    bool has_time;      /* false: the message has none (nil / absent) */
    int64_t time_ns;    /* UTC nanoseconds since the epoch, when has_time */
    int time_digits;    /* fraction digits to write: 0, 3, 6 or 9 */
    syslog_span_t hostname, app, procid, msgid;
    syslog_span_t sd;   /* 5424 structured data, validated, brackets included */
    syslog_span_t msg;  /* MSG (BOM removed, trailing CR/LF/NUL removed) */
} syslog_msg_t;

/* Parse one message in[0..len). `now_ns` (UTC) gives an RFC 3164 date its
 * year: the year of now, or the year before when that date would be more
 * than a day ahead of now (December messages read in January); the date is
 * taken as UTC. Returns 0 with *m filled, or:
 *   -ENODATA  nothing but CR/LF/NUL/blanks (ignored by the caller, not an error),
 *   -EINVAL   undecodable: a '<' that does not open a valid PRI (<0>..<191>),
 *             or "<PRI>1 " (RFC 5424) whose header or structured data is malformed,
 *   -E2BIG    more than SYSLOG_MAX_SD_PARAMS structured-data parameters. */
int syslog_parse(const char *in, size_t len, int64_t now_ns, syslog_msg_t *m);

/* Where a record comes from (metadata.transport / metadata.peer). */
typedef struct {
    const char *transport; /* "udp", "tcp" or "tls" */
    const char *peer;      /* "127.0.0.1:51234" (may be NULL) */
    int64_t received_ns;   /* the timestamp of a message that has none */
} syslog_origin_t;

/* Append m as one record and its '\n' to w. On error (jsonw's bound or
 * ENOMEM) w is back where it was and the error is returned (-E2BIG/-ENOMEM). */
int syslog_write_record(jsonw_t *w, const syslog_msg_t *m, const syslog_origin_t *o);
/* syslog_write_record, and on success *rec = the entry scan_body(SCAN_FORMAT_NDJSON)
 * gives for this record when the body is w's buffer from its start (offsets
 * into w->buf; the body must stay under 4 GiB): for ingest_submit_scanned.
 * tests/unit/test_syslog_parse.c and fuzz_syslog check it against scan_body. */
int syslog_write_record_scanned(jsonw_t *w, const syslog_msg_t *m, const syslog_origin_t *o,
                                scan_record_t *rec);

/* Facility and severity names (RFC 5424 6.2.1): "user", "local0"... NULL
 * outside 0..23 / 0..7. */
const char *syslog_facility_name(int facility);
const char *syslog_severity_name(int severity);

/* ---- stream framing (RFC 6587) ------------------------------------------ */

typedef enum {
    SYSLOG_FRAMING_UNKNOWN = 0, /* no byte seen yet */
    SYSLOG_FRAMING_OCTET,       /* "MSG-LEN SP SYSLOG-MSG" */
    SYSLOG_FRAMING_LF,          /* each message ends with LF (CR and NUL before it dropped) */
} syslog_framing_t;

typedef struct syslog_framer {
    syslog_framing_t mode;
    size_t max;     /* largest message (--syslog-max-message-bytes) */
    uint64_t skip;  /* octet counting: bytes of an oversize message still to skip */
    bool discard;   /* LF: discarding an oversize line up to its LF */
} syslog_framer_t;

typedef enum {
    SYSLOG_FRAME_MSG = 0,   /* *msg, *msglen is a message; *consumed bytes used */
    SYSLOG_FRAME_NEED,      /* no whole frame yet: nothing consumed; *need = contiguous
                               bytes (from in[0]) the next frame needs, at most the
                               largest frame allowed */
    SYSLOG_FRAME_OVERSIZE,  /* a message over `max` began: count it once; *consumed bytes
                               dropped now, the rest is skipped by later calls */
    SYSLOG_FRAME_SKIP,      /* *consumed bytes dropped: more of an oversize message,
                               or blank separators between frames */
    SYSLOG_FRAME_BAD,       /* octet counting: MSG-LEN not a number, 0, or absurd
                               (over 10 digits / 2^31): close the connection */
} syslog_frame_t;

void syslog_framer_init(syslog_framer_t *f, size_t max_message_bytes);
/* The next frame of in[0..len) (the unconsumed input of a connection). The
 * framing is decided on the first byte ever seen: a digit means octet counting,
 * anything else LF. */
syslog_frame_t syslog_framer_next(syslog_framer_t *f, const char *in, size_t len,
                                  const char **msg, size_t *msglen, size_t *consumed,
                                  size_t *need);

#endif
