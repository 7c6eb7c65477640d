/*
 * check.c - see check.h.
 */
#include "common/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"

void ld_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    log_error("assert", "invariant failed: %s at %s:%d (%s)", expr, file, line, func);
    abort();
}

void ld_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
