/*
 * levels.h - the one mapping from the severities other protocols carry to our
 * `level` field (FATAL, ERROR, WARN, INFO, DEBUG, TRACE), shared by every
 * front-end of src/proto/ so that --critical-levels means the same thing
 * whatever the protocol. docs/PROTOCOLS.md shows the tables.
 */
#ifndef LOGDIST_PROTO_LEVELS_H
#define LOGDIST_PROTO_LEVELS_H

#include <stddef.h>

/* Syslog severity 0..7 (RFC 5424 6.2.1): emerg, alert, crit -> FATAL; err ->
 * ERROR; warning -> WARN; notice, info -> INFO; debug -> DEBUG. NULL outside
 * 0..7. */
const char *level_from_syslog(int severity);

/* OpenTelemetry SeverityNumber 1..24: TRACE 1-4, DEBUG 5-8, INFO 9-12, WARN
 * 13-16, ERROR 17-20, FATAL 21-24. NULL for 0 (unspecified) or out of range. */
const char *level_from_otel(int severity_number);

/* A free-form severity text ("warning", "Err", "CRITICAL", "information"...)
 * normalised to one of ours, case-insensitively; NULL when it is none we know
 * (the text is then kept as it came). */
const char *level_from_text(const char *s, size_t len);

#endif
