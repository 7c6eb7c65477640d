/*
 * config_int.h - the option table's row type, shared by core/config.c (which
 * parses values into a config_t) and core/config_options.c (which holds the
 * table and renders --help and docs/CONFIG.md from it). Private to core/config*.
 *
 * One row per option, in the Fluent Bit config-map manner: name, type, the
 * config_t field it writes, bounds, default (as text, parsed by the same code
 * as a flag or file value, so the default can never disagree with the parser),
 * whether a reload may change it, and help. Every consumer - flags, the JSON
 * file, --help, --check-config, reload, docs/CONFIG.md - walks this table.
 */
#ifndef LOGDIST_CONFIG_INT_H
#define LOGDIST_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

typedef enum {
    OPT_UINT,      /* unsigned integer (uint32_t field) */
    OPT_SIZE,      /* bytes, with KiB/MiB/GiB/TiB suffixes (uint32_t or uint64_t field) */
    OPT_DURATION,  /* "250ms", "2s", "5m", "1h", or a bare number in the row's unit */
    OPT_BOOL,      /* true/false; a flag without a value means true */
    OPT_ENUM,      /* one of choices[]; stored as its index (an int-sized enum) */
    OPT_STRING,    /* bounded text (min..max characters) */
    OPT_CSV,       /* a list stored as comma-separated text; a JSON array or a string */
    OPT_LISTEN,    /* HOST:PORT split into a host field (off) and a port field (off2) */
    OPT_HOSTPORT,  /* HOST:PORT kept as text; "" = off */
    OPT_SYSLOG,    /* repeatable udp|tcp|tls://HOST:PORT, up to CONFIG_SYSLOG_LISTEN_MAX */
    OPT_TOKEN,     /* repeatable role=...,hash=... (secret: never echoed) */
    OPT_ANALYZER,  /* repeatable analyzer spec (core/config.c's analyzer keys) */
    OPT_ROUTES,    /* a JSON array of routes (kept as text; compiled by the app layer) */
} opt_type_t;

enum {
    OPTF_RELOAD = 1u << 0, /* a reload applies a change of it (app/reload.c) */
    OPTF_SECRET = 1u << 1, /* its values are never printed (errors, diffs, docs) */
    OPTF_REPEAT = 1u << 2, /* the flag may be given many times; the file takes an array */
};

typedef struct {
    const char *name;   /* flag without "--"; the file key is the same with '_' for '-' */
    opt_type_t type;
    size_t off, size;   /* the config_t field */
    size_t off2;        /* OPT_LISTEN: the port field */
    uint64_t min, max;  /* numbers: bounds in the row's unit; text: length bounds */
    uint32_t unit_ms;   /* OPT_DURATION: 1 (field in ms) or 1000 (field in s) */
    const char *const *choices; /* OPT_ENUM: NULL-terminated names, value = index */
    const char *def;    /* default, written as a user would; NULL = derived (see def_doc) */
    const char *def_doc; /* how a derived default is computed (docs, --help) */
    unsigned flags;
    const char *help;
} option_t;

extern const option_t config_options[];
extern const size_t config_option_total;

/* The row named `name` (flag spelling, or file spelling when file is true). */
const option_t *config_option_find(const char *name, bool file);

/* "a|b|c" of an enum row into out, else "". */
void config_choices_text(const option_t *o, char *out, size_t outlen);

/* Apply one textual value of row o to cfg (marks it given unless from_default).
 * 0 or -1 with a message naming the option in err. */
int config_option_apply(config_t *cfg, const option_t *o, const char *val, bool from_default,
                        char *err, size_t errlen);

#endif
