/*
 * levels.c - see levels.h.
 */
#include "proto/levels.h"

#include <strings.h>

const char *level_from_syslog(int severity)
{
    static const char *const map[8] = {"FATAL", "FATAL", "FATAL", "ERROR",
                                       "WARN",  "INFO",  "INFO",  "DEBUG"};
    return severity >= 0 && severity < 8 ? map[severity] : NULL;
}

const char *level_from_otel(int n)
{
    static const char *const map[6] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
    return n >= 1 && n <= 24 ? map[(n - 1) / 4] : NULL;
}

const char *level_from_text(const char *s, size_t len)
{
    static const struct {
        const char *text, *level;
    } names[] = {
        {"trace", "TRACE"},   {"debug", "DEBUG"},     {"info", "INFO"},
        {"information", "INFO"}, {"informational", "INFO"}, {"notice", "INFO"},
        {"warn", "WARN"},     {"warning", "WARN"},    {"error", "ERROR"},
        {"err", "ERROR"},     {"fatal", "FATAL"},     {"critical", "FATAL"},
        {"crit", "FATAL"},    {"alert", "FATAL"},     {"emerg", "FATAL"},
        {"emergency", "FATAL"}, {"panic", "FATAL"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *t = names[i].text;
        size_t n = 0;
        while (t[n]) n++;
        if (n == len && !strncasecmp(s, t, len)) return names[i].level;
    }
    return NULL;
}
