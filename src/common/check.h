/*
 * check.h - invariants and the one error convention.
 *
 * Error convention, every module: a function that can fail returns 0 on
 * success or a negative errno (-ENOMEM, -EINVAL, -ENOSPC, -EIO, ...). Where a
 * caller needs to say more than the errno to a person (a config line, a
 * request body), the function takes an optional `char *err, size_t errlen`
 * last; it writes one line there on failure and leaves it alone on success.
 * NULL/0 means "no message wanted". Functions that create an object return it,
 * or NULL (with the reason in err where there is one).
 *
 * LD_ASSERT(cond) states an invariant: something no input, disk content or
 * peer can make false, only a bug of ours. It stays on in release builds
 * (a broken invariant in a log pipeline means silently wrong data, which is
 * worse than a crash the supervisor restarts from the WAL); it logs the
 * expression and its place, then aborts. Never use it for input validation.
 */
#ifndef LOGDIST_CHECK_H
#define LOGDIST_CHECK_H

#include <stddef.h>

/* Logs "invariant failed: <expr> at <file>:<line> (<func>)" and aborts. */
_Noreturn void ld_assert_fail(const char *expr, const char *file, int line, const char *func);

#define LD_ASSERT(cond)                                                                  \
    do {                                                                                 \
        if (__builtin_expect(!(cond), 0)) ld_assert_fail(#cond, __FILE__, __LINE__, __func__); \
    } while (0)

/* Write a one-line message into err (if err && errlen) in printf style. */
void ld_set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
