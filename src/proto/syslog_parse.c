/*
 * syslog_parse.c - see syslog_parse.h. RFC 5424 is parsed strictly (a
 * malformed header or structured data is undecodable); RFC 3164 has no real
 * grammar, so it is parsed the way rsyslog's pmrfc3164 does in practice:
 * optional PRI, optional timestamp (BSD "Mmm dd hh:mm:ss" or ISO 8601),
 * hostname guessed from the token after the timestamp, then TAG[PID]: MSG.
 */
#include "proto/syslog_parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/levels.h"

#define NS_PER_S 1000000000LL
#define MAX_TOKEN 255 /* hostname, APP-NAME, PROCID, MSGID, TAG (RFC 5424 allows less) */

/* ---- small helpers ------------------------------------------------------ */

typedef struct {
    const char *p, *end;
} cur_t;

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_print(char c) { return c >= 33 && c <= 126; } /* PRINTUSASCII */

/* n digits exactly as a number; -1 when they are not all digits. */
static int digits(const cur_t *c, size_t n)
{
    if ((size_t)(c->end - c->p) < n) return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(c->p[i])) return -1;
        v = v * 10 + (c->p[i] - '0');
    }
    return v;
}

static bool eat(cur_t *c, char ch)
{
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

static bool valid_date(int y, int mo, int d, int h, int mi, int s)
{
    return y >= 1970 && y <= 2261 && /* nanoseconds fit in int64 */ mo >= 1 && mo <= 12 && d >= 1 &&
           d <= days_in_month(y, mo) && h >= 0 && h <= 23 && mi >= 0 && mi <= 59 && s >= 0 &&
           s <= 60; /* a leap second is taken as the next second */
}

static int64_t to_ns(int y, int mo, int d, int h, int mi, int s, int64_t frac_ns)
{
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    return secs * NS_PER_S + frac_ns;
}

/* ".ddd" (1..9 digits) at c: nanoseconds and the digits to write again. */
static void fraction(cur_t *c, int64_t *ns, int *out_digits)
{
    *ns = 0;
    *out_digits = 0;
    if (c->p + 1 >= c->end || *c->p != '.' || !is_digit(c->p[1])) return;
    c->p++;
    int n = 0;
    int64_t v = 0;
    while (c->p < c->end && is_digit(*c->p) && n < 9) {
        v = v * 10 + (*c->p++ - '0');
        n++;
    }
    while (c->p < c->end && is_digit(*c->p)) c->p++; /* beyond nanoseconds: dropped */
    for (int i = n; i < 9; i++) v *= 10;
    *ns = v;
    *out_digits = n == 0 ? 0 : n <= 3 ? 3 : n <= 6 ? 6 : 9;
}

/* "hh:mm:ss[.frac]" (shared by RFC 3339 and BSD timestamps). 0 or -EINVAL. */
static int clock_time(cur_t *t, int *h, int *mi, int *s, int64_t *frac, int *ndig)
{
    *h = digits(t, 2);
    t->p += 2;
    if (*h < 0 || !eat(t, ':')) return -EINVAL;
    *mi = digits(t, 2);
    t->p += 2;
    if (*mi < 0 || !eat(t, ':')) return -EINVAL;
    *s = digits(t, 2);
    if (*s < 0) return -EINVAL;
    t->p += 2;
    fraction(t, frac, ndig);
    return 0;
}

/* ISO 8601 / RFC 3339 "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm)" at c. 0 with the
 * cursor after it, or -EINVAL (cursor unchanged). */
static int iso_time(cur_t *c, int64_t *ns, int *ndig)
{
    cur_t t = *c;
    int y = digits(&t, 4);
    if (y < 0) return -EINVAL;
    t.p += 4;
    if (!eat(&t, '-')) return -EINVAL;
    int mo = digits(&t, 2);
    t.p += 2;
    if (mo < 0 || !eat(&t, '-')) return -EINVAL;
    int d = digits(&t, 2);
    t.p += 2;
    if (d < 0 || !(eat(&t, 'T') || eat(&t, 't'))) return -EINVAL;
    int h, mi, s;
    int64_t frac;
    if (clock_time(&t, &h, &mi, &s, &frac, ndig)) return -EINVAL;
    int off = 0;
    if (eat(&t, 'Z') || eat(&t, 'z')) {
        off = 0;
    } else if (t.p < t.end && (*t.p == '+' || *t.p == '-')) {
        int sign = *t.p++ == '-' ? -1 : 1;
        int oh = digits(&t, 2);
        t.p += 2;
        if (oh < 0 || oh > 23 || !eat(&t, ':')) return -EINVAL;
        int om = digits(&t, 2);
        if (om < 0 || om > 59) return -EINVAL;
        t.p += 2;
        off = sign * (oh * 60 + om);
    } else {
        return -EINVAL;
    }
    if (!valid_date(y, mo, d, h, mi, s)) return -EINVAL;
    int64_t v = to_ns(y, mo, d, h, mi, s, frac) - (int64_t)off * 60 * NS_PER_S;
    if (v < 0 || v > INT64_MAX / 2) return -EINVAL; /* before 1970, or past 2116 */
    *ns = v;
    *c = t;
    return 0;
}

/* The year (UTC) of ns (civil_from_days, Howard Hinnant's algorithm). */
static int year_of(int64_t ns)
{
    int64_t z = ns / NS_PER_S / 86400 + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    return (int)(yoe + era * 400 + (m <= 2));
}

/* BSD "Mmm dd hh:mm:ss[.frac]" (day space-padded or not), year from now. */
static int bsd_time(cur_t *c, int64_t now_ns, int64_t *ns, int *ndig)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    cur_t t = *c;
    if (t.end - t.p < 14) return -EINVAL;
    int mo = 0;
    for (int i = 0; i < 12; i++)
        if (!memcmp(t.p, months + 3 * i, 3)) mo = i + 1;
    if (!mo || t.p[3] != ' ') return -EINVAL;
    t.p += 4;
    if (*t.p == ' ') t.p++; /* "Dec  6" */
    int d;
    if ((d = digits(&t, 2)) >= 0) {
        t.p += 2;
    } else if ((d = digits(&t, 1)) >= 0) {
        t.p += 1;
    } else {
        return -EINVAL;
    }
    if (!eat(&t, ' ')) return -EINVAL;
    int h, mi, s;
    int64_t frac;
    if (clock_time(&t, &h, &mi, &s, &frac, ndig)) return -EINVAL;
    int y = year_of(now_ns > 0 ? now_ns : 0);
    /* Feb 29 of a year that is not leap: try the previous leap years below */
    if (!valid_date(y, mo, d, h, mi, s) && !valid_date(y - 1, mo, d, h, mi, s)) return -EINVAL;
    int64_t v = valid_date(y, mo, d, h, mi, s) ? to_ns(y, mo, d, h, mi, s, frac) : INT64_MAX;
    if (v == INT64_MAX || v > now_ns + 86400 * NS_PER_S) { /* ahead: last year's */
        if (!valid_date(y - 1, mo, d, h, mi, s)) return -EINVAL;
        v = to_ns(y - 1, mo, d, h, mi, s, frac);
    }
    *ns = v;
    *c = t;
    return 0;
}

/* A token of 1..MAX_TOKEN printable ASCII characters up to SP or the end. */
static int token(cur_t *c, syslog_span_t *out)
{
    const char *s = c->p;
    while (c->p < c->end && *c->p != ' ') {
        if (!is_print(*c->p)) return -EINVAL;
        c->p++;
    }
    size_t n = (size_t)(c->p - s);
    if (!n || n > MAX_TOKEN) return -EINVAL;
    *out = (n == 1 && *s == '-') ? (syslog_span_t){NULL, 0} : (syslog_span_t){s, n};
    return 0;
}

/* "<PRI>": 0 (cursor after it), 1 when there is none, -EINVAL when bad. */
static int pri(cur_t *c, int *out)
{
    if (c->p >= c->end || *c->p != '<') return 1;
    const char *p = c->p + 1;
    int v = 0, n = 0;
    while (p < c->end && is_digit(*p) && n < 3) {
        v = v * 10 + (*p++ - '0');
        n++;
    }
    if (!n || p >= c->end || *p != '>' || v > 191) return -EINVAL;
    c->p = p + 1;
    *out = v;
    return 0;
}

/* ---- structured data ----------------------------------------------------- */

static bool sd_name_char(char ch)
{
    return is_print(ch) && ch != '=' && ch != ']' && ch != '"';
}

/* An SD-NAME (1..32 characters). */
static int sd_name(cur_t *c, syslog_span_t *out)
{
    const char *s = c->p;
    while (c->p < c->end && sd_name_char(*c->p)) c->p++;
    size_t n = (size_t)(c->p - s);
    if (!n || n > 32) return -EINVAL;
    *out = (syslog_span_t){s, n};
    return 0;
}

typedef struct {
    syslog_span_t id, name, value; /* value: raw, escapes still in */
} sd_param_t;

/* Walk the structured data at c ("-" or [elements]); when `params` is not
 * NULL fill it (an element without parameters gets one entry with an empty
 * name). Returns the entry count, or -EINVAL / -E2BIG. */
static int sd_walk(cur_t *c, sd_param_t *params)
{
    if (c->p < c->end && *c->p == '-') {
        c->p++;
        return 0;
    }
    int count = 0;
    if (c->p >= c->end || *c->p != '[') return -EINVAL;
    while (c->p < c->end && *c->p == '[') {
        c->p++;
        syslog_span_t id;
        if (sd_name(c, &id)) return -EINVAL;
        bool any = false;
        while (c->p < c->end && *c->p == ' ') {
            c->p++;
            syslog_span_t name;
            if (sd_name(c, &name) || !eat(c, '=') || !eat(c, '"')) return -EINVAL;
            const char *v = c->p;
            while (c->p < c->end && *c->p != '"') c->p += (*c->p == '\\' && c->p + 1 < c->end) ? 2 : 1;
            if (c->p >= c->end) return -EINVAL;
            syslog_span_t value = {v, (size_t)(c->p - v)};
            c->p++; /* the closing quote */
            if (count >= SYSLOG_MAX_SD_PARAMS) return -E2BIG;
            if (params) params[count] = (sd_param_t){id, name, value};
            count++;
            any = true;
        }
        if (!eat(c, ']')) return -EINVAL;
        if (!any) {
            if (count >= SYSLOG_MAX_SD_PARAMS) return -E2BIG;
            if (params) params[count] = (sd_param_t){id, {NULL, 0}, {NULL, 0}};
            count++;
        }
    }
    return count;
}

/* ---- messages ----------------------------------------------------------- */

static void set_msg(syslog_msg_t *m, const char *p, const char *end)
{
    if (end - p >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
        (unsigned char)p[2] == 0xBF)
        p += 3; /* the UTF-8 BOM of RFC 5424 6.4 */
    m->msg = (syslog_span_t){p, (size_t)(end - p)};
}

static int parse_5424(cur_t *c, syslog_msg_t *m)
{
    m->format = SYSLOG_RFC5424;
    if (c->p < c->end && *c->p == '-') {
        c->p++;
    } else if (iso_time(c, &m->time_ns, &m->time_digits)) {
        return -EINVAL;
    } else {
        m->has_time = true;
    }
    if (!eat(c, ' ') || token(c, &m->hostname) || !eat(c, ' ') || token(c, &m->app) ||
        !eat(c, ' ') || token(c, &m->procid) || !eat(c, ' ') || token(c, &m->msgid) ||
        !eat(c, ' '))
        return -EINVAL;
    const char *sd = c->p;
    int n = sd_walk(c, NULL);
    if (n < 0) return n;
    if (n) m->sd = (syslog_span_t){sd, (size_t)(c->p - sd)};
    if (c->p < c->end && !eat(c, ' ')) return -EINVAL;
    set_msg(m, c->p, c->end);
    return 0;
}

static bool host_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) || ch == '.' ||
           ch == '-' || ch == '_' || ch == ':';
}

/* After a 3164 timestamp: the next token is the hostname when it looks like one
 * (host characters, not ending in ':') and more follows it. */
static void bsd_host(cur_t *c, syslog_msg_t *m)
{
    const char *s = c->p, *p = s;
    while (p < c->end && *p != ' ' && host_char(*p) && p - s <= MAX_TOKEN) p++;
    if (p == s || p >= c->end || *p != ' ' || p[-1] == ':' || p - s > MAX_TOKEN) return;
    m->hostname = (syslog_span_t){s, (size_t)(p - s)};
    c->p = p + 1;
}

/* "TAG[PID]: " or "TAG: " (the tag printable, up to MAX_TOKEN): taken when it
 * is there; otherwise the whole rest is the message. */
static void bsd_tag(cur_t *c, syslog_msg_t *m)
{
    const char *s = c->p, *p = s;
    while (p < c->end && is_print(*p) && *p != ':' && *p != '[' && p - s <= MAX_TOKEN) p++;
    if (p == s || p >= c->end || p - s > MAX_TOKEN) return;
    syslog_span_t tag = {s, (size_t)(p - s)}, pid = {NULL, 0};
    if (*p == '[') {
        const char *q = ++p;
        while (p < c->end && is_print(*p) && *p != ']' && p - q <= MAX_TOKEN) p++;
        if (p >= c->end || *p != ']' || p == q || p - q > MAX_TOKEN) return;
        pid = (syslog_span_t){q, (size_t)(p - q)};
        p++;
        if (p < c->end && *p == ':') {
            p++;
        } else if (!(p >= c->end || *p == ' ')) {
            return;
        }
    } else if (*p == ':') {
        p++;
    } else {
        return;
    }
    if (p < c->end && *p == ' ') p++;
    m->app = tag;
    m->procid = pid;
    c->p = p;
}

static void parse_3164(cur_t *c, int64_t now_ns, syslog_msg_t *m)
{
    m->format = SYSLOG_RFC3164;
    cur_t t = *c;
    if (!bsd_time(&t, now_ns, &m->time_ns, &m->time_digits) ||
        !iso_time(&t, &m->time_ns, &m->time_digits)) {
        if (t.p >= t.end || *t.p == ' ') {
            m->has_time = true;
            if (t.p < t.end) t.p++;
            *c = t;
            bsd_host(c, m);
        }
    }
    bsd_tag(c, m);
    set_msg(m, c->p, c->end);
}

int syslog_parse(const char *in, size_t len, int64_t now_ns, syslog_msg_t *m)
{
    memset(m, 0, sizeof *m);
    while (len && (in[len - 1] == '\n' || in[len - 1] == '\r' || in[len - 1] == '\0')) len--;
    size_t lead = 0;
    while (lead < len && (in[lead] == ' ' || in[lead] == '\t' || in[lead] == '\0')) lead++;
    if (lead == len) return -ENODATA;
    cur_t c = {in, in + len};
    int r = pri(&c, &m->pri);
    if (r < 0) return r;
    m->pri_given = r == 0;
    if (!m->pri_given) m->pri = SYSLOG_DEFAULT_PRI;
    if (m->pri_given && c.end - c.p >= 2 && c.p[0] == '1' && c.p[1] == ' ') {
        c.p += 2;
        return parse_5424(&c, m);
    }
    parse_3164(&c, now_ns, m);
    return 0;
}

/* ---- records ------------------------------------------------------------ */

const char *syslog_facility_name(int f)
{
    static const char *const names[24] = {
        "kern",   "user",   "mail",   "daemon", "auth",   "syslog", "lpr",    "news",
        "uucp",   "cron",   "authpriv", "ftp",  "ntp",    "security", "console", "solaris-cron",
        "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"};
    return f >= 0 && f < 24 ? names[f] : NULL;
}

const char *syslog_severity_name(int s)
{
    static const char *const names[8] = {"emerg",   "alert",  "crit", "err",
                                         "warning", "notice", "info", "debug"};
    return s >= 0 && s < 8 ? names[s] : NULL;
}

/* A key that is a string literal (no strlen per record). */
#define KEY(w, lit) jsonw_key((w), (lit), sizeof(lit) - 1)
#define KV_SPAN(w, lit, v)                   \
    do {                                     \
        if ((v).p) {                         \
            KEY(w, lit);                     \
            jsonw_string((w), (v).p, (v).n); \
        }                                    \
    } while (0)

static bool span_eq(syslog_span_t a, syslog_span_t b)
{
    return a.n == b.n && (!a.n || !memcmp(a.p, b.p, a.n));
}

/* An SD value with its escapes (\" \\ \]) removed, into tmp (as long as v). */
static void sd_value(jsonw_t *w, syslog_span_t v, char *tmp)
{
    size_t n = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] == '\\' && i + 1 < v.n &&
            (v.p[i + 1] == '"' || v.p[i + 1] == '\\' || v.p[i + 1] == ']'))
            i++;
        tmp[n++] = v.p[i];
    }
    jsonw_string(w, tmp, n);
}

/* metadata.sd: {sd-id: {param: value}}; an SD-ID given twice is merged, a
 * parameter given more than once becomes an array of its values in order. */
static int write_sd(jsonw_t *w, const syslog_msg_t *m)
{
    sd_param_t params[SYSLOG_MAX_SD_PARAMS];
    char tmp[1024];
    cur_t c = {m->sd.p, m->sd.p + m->sd.n};
    int n = sd_walk(&c, params);
    if (n <= 0) return n;
    char *buf = m->sd.n <= sizeof tmp ? tmp : NULL;
    char *heap = NULL;
    if (!buf && !(buf = heap = malloc(m->sd.n))) return -ENOMEM;
    KEY(w, "sd");
    jsonw_object_begin(w);
    for (int i = 0; i < n; i++) {
        int first = 0;
        while (!span_eq(params[first].id, params[i].id)) first++;
        if (first < i) continue; /* this SD-ID was written with its first element */
        jsonw_key(w, params[i].id.p, params[i].id.n);
        jsonw_object_begin(w);
        for (int j = i; j < n; j++) {
            if (!span_eq(params[j].id, params[i].id) || !params[j].name.p) continue;
            int seen = 0, same = 0;
            for (int k = 0; k < n; k++) {
                if (!span_eq(params[k].id, params[i].id) || !params[k].name.p ||
                    !span_eq(params[k].name, params[j].name))
                    continue;
                if (k < j) seen++;
                same++;
            }
            if (seen) continue; /* written with its first occurrence */
            jsonw_key(w, params[j].name.p, params[j].name.n);
            if (same > 1) jsonw_array_begin(w);
            for (int k = j; k < n; k++)
                if (span_eq(params[k].id, params[i].id) && params[k].name.p &&
                    span_eq(params[k].name, params[j].name))
                    sd_value(w, params[k].value, buf);
            if (same > 1) jsonw_array_end(w);
        }
        jsonw_object_end(w);
    }
    jsonw_object_end(w);
    free(heap);
    return 0;
}

/* The constant members of a record, pre-escaped (jsonw_raw_*): what
 * level_from_syslog, syslog_facility_name and syslog_severity_name give, written
 * once here; tests/unit/test_syslog_parse.c checks every PRI against a record
 * written one call at a time with those functions. */
typedef struct {
    const char *s;
    size_t n;
} frag_t;
#define FRAG(lit) {(lit), sizeof(lit) - 1}
static const frag_t level_frag[8] = {
    FRAG("\"level\":\"FATAL\""),
    FRAG("\"level\":\"FATAL\""),
    FRAG("\"level\":\"FATAL\""),
    FRAG("\"level\":\"ERROR\""),
    FRAG("\"level\":\"WARN\""),
    FRAG("\"level\":\"INFO\""),
    FRAG("\"level\":\"INFO\""),
    FRAG("\"level\":\"DEBUG\""),
};
static const frag_t facility_frag[24] = {
    FRAG("\"facility\":\"kern\",\"facility_code\":0"),
    FRAG("\"facility\":\"user\",\"facility_code\":1"),
    FRAG("\"facility\":\"mail\",\"facility_code\":2"),
    FRAG("\"facility\":\"daemon\",\"facility_code\":3"),
    FRAG("\"facility\":\"auth\",\"facility_code\":4"),
    FRAG("\"facility\":\"syslog\",\"facility_code\":5"),
    FRAG("\"facility\":\"lpr\",\"facility_code\":6"),
    FRAG("\"facility\":\"news\",\"facility_code\":7"),
    FRAG("\"facility\":\"uucp\",\"facility_code\":8"),
    FRAG("\"facility\":\"cron\",\"facility_code\":9"),
    FRAG("\"facility\":\"authpriv\",\"facility_code\":10"),
    FRAG("\"facility\":\"ftp\",\"facility_code\":11"),
    FRAG("\"facility\":\"ntp\",\"facility_code\":12"),
    FRAG("\"facility\":\"security\",\"facility_code\":13"),
    FRAG("\"facility\":\"console\",\"facility_code\":14"),
    FRAG("\"facility\":\"solaris-cron\",\"facility_code\":15"),
    FRAG("\"facility\":\"local0\",\"facility_code\":16"),
    FRAG("\"facility\":\"local1\",\"facility_code\":17"),
    FRAG("\"facility\":\"local2\",\"facility_code\":18"),
    FRAG("\"facility\":\"local3\",\"facility_code\":19"),
    FRAG("\"facility\":\"local4\",\"facility_code\":20"),
    FRAG("\"facility\":\"local5\",\"facility_code\":21"),
    FRAG("\"facility\":\"local6\",\"facility_code\":22"),
    FRAG("\"facility\":\"local7\",\"facility_code\":23"),
};
static const frag_t severity_frag[8] = {
    FRAG("\"severity\":\"emerg\",\"pri\":"),
    FRAG("\"severity\":\"alert\",\"pri\":"),
    FRAG("\"severity\":\"crit\",\"pri\":"),
    FRAG("\"severity\":\"err\",\"pri\":"),
    FRAG("\"severity\":\"warning\",\"pri\":"),
    FRAG("\"severity\":\"notice\",\"pri\":"),
    FRAG("\"severity\":\"info\",\"pri\":"),
    FRAG("\"severity\":\"debug\",\"pri\":"),
};
#define RAW_KEY(w, lit) jsonw_raw_key((w), JSONW_LIT(lit))
#define RAW_MEMBERS(w, lit) jsonw_raw_members((w), JSONW_LIT(lit))

/* The slice of a string value written at w->buf[v0..v1) ("..."): its contents
 * as the scanner reports them, with `flag` set in *flags when they hold an escape. */
static scan_slice_t str_slice(const jsonw_t *w, size_t v0, size_t v1, uint32_t *flags,
                              uint32_t flag)
{
    if (v1 < v0 + 2) return (scan_slice_t){0, 0}; /* not written (the writer's error) */
    if (memchr(w->buf + v0 + 1, '\\', v1 - v0 - 2)) *flags |= flag;
    return (scan_slice_t){(uint32_t)(v0 + 1), (uint32_t)(v1 - v0 - 2)};
}

/* Keys and constant values go out as pre-escaped fragments (one reserve and
 * one copy each, no escaping scan), the rest through the escaping writer; the
 * bytes are those of the same record written one call at a time.
 * rec (may be NULL): the record's scan entry, filled on success. */
static int write_record(jsonw_t *w, const syslog_msg_t *m, const syslog_origin_t *o,
                        scan_record_t *rec)
{
    size_t mark = jsonw_len(w);
    int sev = m->pri & 7, fac = m->pri >> 3;
    if (m->pri < 0 || m->pri > 191) return -EINVAL; /* syslog_parse never gives one */
    scan_record_t sr = {0};
    jsonw_object_begin(w);
    size_t open = jsonw_len(w) - 1; /* the '{' */
    RAW_KEY(w, "\"timestamp\":");
    if (m->has_time)
        jsonw_time_ns(w, m->time_ns, m->time_digits);
    else
        jsonw_time_ns(w, o->received_ns, 6);
    jsonw_raw_members(w, level_frag[sev].s, level_frag[sev].n);
    /* "level":"NAME" ends the text: NAME is n - 10 bytes before the closing quote */
    sr.level = (scan_slice_t){(uint32_t)(jsonw_len(w) - 1 - (level_frag[sev].n - 10)),
                              (uint32_t)(level_frag[sev].n - 10)};
    if (m->app.p) {
        RAW_KEY(w, "\"source\":");
        size_t v0 = jsonw_len(w);
        jsonw_string(w, m->app.p, m->app.n);
        sr.source = str_slice(w, v0, jsonw_len(w), &sr.flags, SCAN_REC_SOURCE_ESCAPED);
    }
    RAW_KEY(w, "\"type\":\"syslog\",\"message\":");
    /* ... syslog","message": ends the text: "syslog" starts 18 bytes before the end */
    sr.type = (scan_slice_t){(uint32_t)(jsonw_len(w) - 18), 6};
    jsonw_string(w, m->msg.p ? m->msg.p : "", m->msg.n);
    RAW_KEY(w, "\"metadata\":");
    jsonw_object_begin(w);
    if (m->hostname.p) {
        RAW_KEY(w, "\"hostname\":");
        jsonw_string(w, m->hostname.p, m->hostname.n);
    }
    jsonw_raw_members(w, facility_frag[fac].s, facility_frag[fac].n);
    jsonw_raw_key(w, severity_frag[sev].s, severity_frag[sev].n);
    jsonw_int(w, m->pri);
    if (!m->pri_given) RAW_MEMBERS(w, "\"pri_default\":true");
    if (m->procid.p) {
        RAW_KEY(w, "\"procid\":");
        jsonw_string(w, m->procid.p, m->procid.n);
    }
    if (m->msgid.p) {
        RAW_KEY(w, "\"msgid\":");
        jsonw_string(w, m->msgid.p, m->msgid.n);
    }
    if (m->format == SYSLOG_RFC5424)
        RAW_MEMBERS(w, "\"format\":\"rfc5424\"");
    else
        RAW_MEMBERS(w, "\"format\":\"rfc3164\"");
    if (o->transport) {
        RAW_KEY(w, "\"transport\":");
        jsonw_stringz(w, o->transport);
    }
    if (o->peer) {
        RAW_KEY(w, "\"peer\":");
        jsonw_stringz(w, o->peer);
    }
    int r = m->sd.p ? write_sd(w, m) : 0;
    jsonw_object_end(w);
    jsonw_object_end(w);
    sr.rec = (scan_slice_t){(uint32_t)open, (uint32_t)(jsonw_len(w) - open)};
    jsonw_newline(w);
    if (!r) r = jsonw_error(w);
    if (r) jsonw_truncate(w, mark);
    else if (rec) *rec = sr;
    return r;
}

int syslog_write_record(jsonw_t *w, const syslog_msg_t *m, const syslog_origin_t *o)
{
    return write_record(w, m, o, NULL);
}

int syslog_write_record_scanned(jsonw_t *w, const syslog_msg_t *m, const syslog_origin_t *o,
                                scan_record_t *rec)
{
    return write_record(w, m, o, rec);
}

/* ---- framing ------------------------------------------------------------- */

void syslog_framer_init(syslog_framer_t *f, size_t max_message_bytes)
{
    memset(f, 0, sizeof *f);
    f->max = max_message_bytes;
}

#define OCTET_MAX_DIGITS 10
#define OCTET_ABSURD ((uint64_t)1 << 31)

static syslog_frame_t frame_octet(syslog_framer_t *f, const char *in, size_t len,
                                  const char **msg, size_t *msglen, size_t *consumed,
                                  size_t *need)
{
    size_t i = 0;
    uint64_t n = 0;
    while (i < len && is_digit(in[i])) {
        if (i == OCTET_MAX_DIGITS) return SYSLOG_FRAME_BAD;
        n = n * 10 + (uint64_t)(in[i] - '0');
        i++;
    }
    if (i == len) {
        *need = len + 1;
        return SYSLOG_FRAME_NEED;
    }
    if (i == 0 || in[i] != ' ' || n == 0 || n > OCTET_ABSURD || in[0] == '0')
        return SYSLOG_FRAME_BAD;
    size_t hdr = i + 1;
    if (n > f->max) {
        uint64_t total = hdr + n;
        *consumed = total <= len ? (size_t)total : len;
        f->skip = total - *consumed;
        return SYSLOG_FRAME_OVERSIZE;
    }
    if (len - hdr < n) {
        *need = hdr + (size_t)n;
        return SYSLOG_FRAME_NEED;
    }
    *msg = in + hdr;
    *msglen = (size_t)n;
    *consumed = hdr + (size_t)n;
    return SYSLOG_FRAME_MSG;
}

static syslog_frame_t frame_lf(syslog_framer_t *f, const char *in, size_t len,
                               const char **msg, size_t *msglen, size_t *consumed,
                               size_t *need)
{
    if (f->discard) {
        const char *end = memchr(in, '\n', len);
        *consumed = end ? (size_t)(end - in) + 1 : len;
        if (end) f->discard = false;
        return SYSLOG_FRAME_SKIP;
    }
    size_t look = len < f->max + 1 ? len : f->max + 1;
    const char *lf = memchr(in, '\n', look);
    if (!lf) {
        if (len <= f->max) {
            *need = f->max + 1;
            return SYSLOG_FRAME_NEED;
        }
        const char *end = memchr(in, '\n', len); /* beyond the bound */
        *consumed = end ? (size_t)(end - in) + 1 : len;
        f->discard = !end;
        return SYSLOG_FRAME_OVERSIZE;
    }
    size_t n = (size_t)(lf - in);
    *consumed = n + 1;
    const char *s = in;
    while (n && (s[n - 1] == '\r' || s[n - 1] == '\0')) n--;
    while (n && *s == '\0') {
        s++;
        n--;
    }
    if (!n) return SYSLOG_FRAME_SKIP; /* an empty line */
    *msg = s;
    *msglen = n;
    return SYSLOG_FRAME_MSG;
}

syslog_frame_t syslog_framer_next(syslog_framer_t *f, const char *in, size_t len,
                                  const char **msg, size_t *msglen, size_t *consumed,
                                  size_t *need)
{
    *consumed = 0;
    *need = 0;
    *msg = NULL;
    *msglen = 0;
    if (!len) {
        *need = 1;
        return SYSLOG_FRAME_NEED;
    }
    if (f->mode == SYSLOG_FRAMING_UNKNOWN)
        f->mode = is_digit(in[0]) ? SYSLOG_FRAMING_OCTET : SYSLOG_FRAMING_LF;
    if (f->mode == SYSLOG_FRAMING_LF) return frame_lf(f, in, len, msg, msglen, consumed, need);
    if (f->skip) {
        *consumed = f->skip < len ? (size_t)f->skip : len;
        f->skip -= *consumed;
        return SYSLOG_FRAME_SKIP;
    }
    size_t blank = 0; /* separators some senders put between frames */
    while (blank < len && (in[blank] == '\n' || in[blank] == '\r' || in[blank] == '\0')) blank++;
    if (blank) {
        *consumed = blank;
        return SYSLOG_FRAME_SKIP;
    }
    return frame_octet(f, in, len, msg, msglen, consumed, need);
}
