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
#define LV(t, l) {t, sizeof(t) - 1, l}
    static const struct {
        const char *text;
        size_t len; /* of text: compared first, no strlen per call */
        const char *level;
    } names[] = {
        LV("trace", "TRACE"),   LV("debug", "DEBUG"),     LV("info", "INFO"),
        LV("information", "INFO"), LV("informational", "INFO"), LV("notice", "INFO"),
        LV("warn", "WARN"),     LV("warning", "WARN"),    LV("error", "ERROR"),
        LV("err", "ERROR"),     LV("fatal", "FATAL"),     LV("critical", "FATAL"),
        LV("crit", "FATAL"),    LV("alert", "FATAL"),     LV("emerg", "FATAL"),
        LV("emergency", "FATAL"), LV("panic", "FATAL"),
    };
#undef LV
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].len == len && !strncasecmp(s, names[i].text, len)) return names[i].level;
    return NULL;
}
