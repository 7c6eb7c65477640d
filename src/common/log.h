/*
 * log.h - leveled, timestamped logging to stderr, safe from any thread.
 *
 * One line per call: "2026-11-27T17:00:00.123Z WARN  deliver: message".
 * The level is process-wide and set once at start-up (log_set_level).
 */
#ifndef LOGDIST_LOG_H
#define LOGDIST_LOG_H

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } log_level_t;

void log_set_level(log_level_t level);
/* Parse "debug|info|warn|error"; returns 0 or -EINVAL on an unknown name. */
int log_level_parse(const char *name, log_level_t *out);
void log_msg(log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(mod, ...) log_msg(LOG_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...) log_msg(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)

#endif
