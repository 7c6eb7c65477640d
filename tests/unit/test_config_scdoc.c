/*
 * test_config_scdoc.c - cmocka tests for config_write_scdoc()
 * (src/core/config_options.c), the OPTIONS list of logdistd(8): the exact
 * entry of table rows of each kind (size with range, enum with choices,
 * derived default, repeatable spec with its long word broken before each '['
 * and its '_' escaped, secret string), one entry per row of the table in
 * table order, and no unescaped scdoc markup ('*' and '_' outside the entry
 * heads) anywhere.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config_int.h"

static char *render(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    config_write_scdoc(f);
    assert_int_equal(fclose(f), 0);
    assert_non_null(buf);
    assert_int_equal(strlen(buf), len);
    return buf;
}

/* The entry of --name: from its head line to the blank line after its Type line. */
static char *entry(const char *doc, const char *name)
{
    char head[96];
    snprintf(head, sizeof head, "*--%s* ", name);
    const char *p = doc;
    while ((p = strstr(p, head)) && p != doc && p[-1] != '\n') p++;
    if (!p) fail_msg("no entry for --%s", name);
    const char *type = strstr(p, "\n\tType: ");
    assert_non_null(type);
    const char *end = strstr(type, "\n\n");
    assert_non_null(end);
    return strndup(p, (size_t)(end - p) + 2);
}

static const struct {
    const char *name, *want;
} rows[] = {
    {"max-body-bytes", "*--max-body-bytes* _SIZE_\n"
                       "\tlargest request body accepted, as received (1024..1073741824).\n\n"
                       "\tType: size. Default: 16MiB. Changes on reload.\n\n"},
    {"log-format", "*--log-format* _CHOICE_\n"
                   "\ttext|json: text: one readable line per event; json: one JSON object per "
                   "line (ts, level, event, fields).\n\n"
                   "\tType: enum. Default: text. Changes on reload.\n\n"},
    {"max-queue-bytes", "*--max-queue-bytes* _SIZE_\n"
                        "\trecord bytes accepted and not yet delivered; above it ingest answers "
                        "503 until it is back under 80 % (1024..1099511627776).\n\n"
                        "\tType: size. Default: an eighth of --memory-limit. Needs a restart.\n\n"},
    {"analyzer", "*--analyzer* _SPEC_\n"
                 "\tid=ID,url=URL [,weight=W] [,health\\_url=URL] "
                 "[,client\\_cert=PEM,client\\_key=PEM] [,slow\\_start\\_ms=MS]: an analyzer "
                 "(weight default 1; "
                 "health\\_url default <scheme>://<host>:<port>/health); in the file, "
                 "\"analyzers\": [{\"id\": ..., \"url\": ...}].\n\n"
                 "\tType: list of analyzers. Default: none. Changes on reload; may be "
                 "repeated.\n\n"},
    {"idle-timeout-s", "*--idle-timeout-s* _DURATION_\n"
                       "\tclose a client connection that is idle, or has not sent a complete "
                       "request, this long after accepting it or answering its previous "
                       "request (1..3600).\n\n"
                       "\tType: duration (s). Default: 30s. Needs a restart.\n\n"},
    {"critical-levels", "*--critical-levels* _LIST_\n"
                        "\tlevels whose records are durable under --durability critical, e.g. "
                        "FATAL,ERROR (empty: none).\n\n"
                        "\tType: list. Default: \"\". Changes on reload.\n\n"},
};

static void test_rows_exact(void **state)
{
    char *doc = render();
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char *got = entry(doc, rows[i].name);
        if (strcmp(got, rows[i].want))
            fail_msg("--%s:\ngot:\n%s\nwant:\n%s", rows[i].name, got, rows[i].want);
        free(got);
    }
    free(doc);
}

/* Every row of the table, once, in table order; nothing else. */
static void test_every_row_in_order(void **state)
{
    char *doc = render();
    const char *p = doc;
    size_t n = 0;
    for (const char *line = doc; *line; line = strchr(line, '\n') + 1) {
        if (line[0] == '*') n++;
        if (!strchr(line, '\n')) break;
    }
    assert_int_equal(n, config_option_total);
    for (size_t i = 0; i < config_option_total; i++) {
        char head[96];
        snprintf(head, sizeof head, "*--%s* _", config_options[i].name);
        const char *at = strstr(p, head);
        if (!at) fail_msg("--%s missing or out of order", config_options[i].name);
        p = at + strlen(head);
    }
    free(doc);
}

/* Outside the head lines, every '*' and '_' is escaped (scdoc would turn the
 * text between two of them bold or underlined). */
static void test_markup_escaped(void **state)
{
    char *doc = render();
    for (const char *line = doc; *line;) {
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        if (line[0] == '\t') {
            for (const char *c = line; c < nl; c++) {
                if (*c == '\\') {
                    assert_true(c[1] == '*' || c[1] == '_' || c[1] == '\\');
                    c++;
                } else if (*c == '*' || *c == '_') {
                    fail_msg("unescaped '%c' in: %.*s", *c, (int)(nl - line), line);
                }
            }
        }
        line = nl + 1;
    }
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_exact),
        cmocka_unit_test(test_every_row_in_order),
        cmocka_unit_test(test_markup_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
