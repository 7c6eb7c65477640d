/*
 * ctl_fmt.c - see ctl_fmt.h.
 */
#include "ctl_fmt.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool bad(double v, char *buf, size_t size)
{
    if (isfinite(v)) return false;
    snprintf(buf, size, "-");
    return true;
}

/* v scaled down by `step` until under it, with one decimal below 100 units. */
static void scaled(double v, double step, const char *const *units, size_t nunits, const char *sep,
                   char *buf, size_t size)
{
    size_t u = 0;
    double x = fabs(v);
    while (x >= step && u + 1 < nunits) {
        x /= step;
        u++;
    }
    /* 999.96k would print "1000.0k": move to the next unit instead */
    if (u > 0 && x >= step - 0.05 && u + 1 < nunits) {
        x /= step;
        u++;
    }
    const char *sign = v < 0 ? "-" : "";
    if (u == 0)
        snprintf(buf, size, "%s%.0f%s%s", sign, x, sep, units[0]);
    else if (x < 100)
        snprintf(buf, size, "%s%.1f%s%s", sign, x, sep, units[u]);
    else
        snprintf(buf, size, "%s%.0f%s%s", sign, x, sep, units[u]);
}

void ctl_fmt_count(double n, char *buf, size_t size)
{
    static const char *const units[] = {"", "k", "M", "G", "T", "P"};
    if (bad(n, buf, size)) return;
    scaled(n, 1000, units, sizeof units / sizeof units[0], "", buf, size);
}

void ctl_fmt_bytes(double n, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bad(n, buf, size)) return;
    scaled(n, 1024, units, sizeof units / sizeof units[0], " ", buf, size);
}

void ctl_fmt_pct(double share, char *buf, size_t size)
{
    if (bad(share, buf, size)) return;
    snprintf(buf, size, "%.1f%%", share * 100);
}

void ctl_fmt_ms(double ms, char *buf, size_t size)
{
    if (bad(ms, buf, size)) return;
    if (ms < 10)
        snprintf(buf, size, "%.2f ms", ms);
    else if (ms < 100)
        snprintf(buf, size, "%.1f ms", ms);
    else if (ms < 1000)
        snprintf(buf, size, "%.0f ms", ms);
    else
        snprintf(buf, size, "%.2f s", ms / 1000);
}

void ctl_fmt_weight(double w, char *buf, size_t size)
{
    if (bad(w, buf, size)) return;
    snprintf(buf, size, "%g", w);
}

void ctl_fmt_clean(const char *s, size_t max, char *buf, size_t size)
{
    if (!size) return;
    size_t o = 0, n = 0;
    for (; s && *s && o + 1 < size; s++) {
        if (n == max) {
            for (int k = 0; k < 3 && o + 1 < size; k++)
                buf[o++] = '.';
            break;
        }
        unsigned char c = (unsigned char)*s;
        buf[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
        if ((c & 0xC0) != 0x80) n++; /* count characters, not UTF-8 continuation bytes */
    }
    buf[o] = 0;
}

void ctl_fmt_api_error(long status, const char *body, size_t len, char *buf, size_t size)
{
    json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *code = json_string_value(json_object_get(j, "error"));
    const char *msg = json_string_value(json_object_get(j, "message"));
    char c[80], m[400];
    if (code) {
        ctl_fmt_clean(code, 60, c, sizeof c);
        ctl_fmt_clean(msg ? msg : "", 300, m, sizeof m);
        snprintf(buf, size, "%ld %s%s%s", status, c, m[0] ? ": " : "", m);
    } else if (body && len) {
        char head[101];
        size_t n = len < 100 ? len : 100;
        memcpy(head, body, n);
        head[n] = 0;
        ctl_fmt_clean(head, 100, m, sizeof m);
        snprintf(buf, size, "%ld %s", status, m);
    } else {
        snprintf(buf, size, "%ld (empty answer)", status);
    }
    json_decref(j);
}

int ctl_exit_for_status(long status)
{
    if (status >= 200 && status < 300) return 0;
    if (status == 401 || status == 403) return 4;
    return 1;
}

/* ------------------------------------------------------------------ tables */

struct ctl_table {
    size_t ncols, nrows, cap;
    char **cells; /* (nrows + 1) * ncols, the header first */
    bool right[CTL_TABLE_MAX_COLS];
};

static int add_row(ctl_table_t *t, const char *const *cells)
{
    if (t->nrows + 1 == t->cap) {
        size_t cap = t->cap * 2;
        char **c = realloc(t->cells, cap * t->ncols * sizeof *c);
        if (!c) return -ENOMEM;
        t->cells = c;
        t->cap = cap;
    }
    char **row = t->cells + (t->nrows + 1) * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        if (!(row[i] = strdup(cells[i] ? cells[i] : ""))) {
            while (i--)
                free(row[i]);
            return -ENOMEM;
        }
    }
    t->nrows++;
    return 0;
}

ctl_table_t *ctl_table_new(size_t ncols, const char *const *headers, const bool *right)
{
    if (ncols < 1 || ncols > CTL_TABLE_MAX_COLS) return NULL;
    ctl_table_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ncols = ncols;
    t->cap = 8;
    t->cells = calloc(t->cap * ncols, sizeof *t->cells);
    if (!t->cells) goto err;
    for (size_t i = 0; i < ncols; i++) {
        t->right[i] = right && right[i];
        if (!(t->cells[i] = strdup(headers[i]))) goto err;
    }
    return t;
err:
    ctl_table_free(t);
    return NULL;
}

int ctl_table_add(ctl_table_t *t, const char *const *cells)
{
    return add_row(t, cells);
}

/* Display width: UTF-8 characters (continuation bytes do not count). */
static size_t width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

char *ctl_table_render(const ctl_table_t *t)
{
    size_t w[CTL_TABLE_MAX_COLS] = {0}, total = 1;
    for (size_t r = 0; r <= t->nrows; r++)
        for (size_t i = 0; i < t->ncols; i++) {
            size_t x = width(t->cells[r * t->ncols + i]);
            if (x > w[i]) w[i] = x;
            total += strlen(t->cells[r * t->ncols + i]) + 2;
        }
    for (size_t i = 0; i < t->ncols; i++)
        total += (w[i] + 2) * (t->nrows + 1);
    char *out = malloc(total), *p = out;
    if (!out) return NULL;
    for (size_t r = 0; r <= t->nrows; r++) {
        char *line = p;
        for (size_t i = 0; i < t->ncols; i++) {
            const char *c = t->cells[r * t->ncols + i];
            size_t pad = w[i] - width(c);
            if (i) p += sprintf(p, "  ");
            if (t->right[i]) p += sprintf(p, "%*s", (int)pad, "");
            p += sprintf(p, "%s", c);
            if (!t->right[i]) p += sprintf(p, "%*s", (int)pad, "");
        }
        while (p > line && p[-1] == ' ')
            p--; /* no trailing spaces */
        *p++ = '\n';
    }
    *p = 0;
    return out;
}

void ctl_table_free(ctl_table_t *t)
{
    if (!t) return;
    for (size_t k = 0; t->cells && k < (t->nrows + 1) * t->ncols; k++)
        free(t->cells[k]);
    free(t->cells);
    free(t);
}
