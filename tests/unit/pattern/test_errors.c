/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Invalid patterns: the error names the problem and the byte it is at
 * (the CLI puts a caret there). Table-driven: pattern, offset, message part.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pattern/pattern.h"

struct row {
    const char *pattern;
    size_t offset;
    const char *msg;
};

static const struct row rows[] = {
    {"{ $.eventType = \"UpdateTrail\"", 28, "must end with '}'"},
    {"%something!%", 10, "not allowed"},
    {"%(ab)+%", 1, "parentheses"},
    {"{ $.a = }", 8, "expected a value"},
    {"{ $.a IS NOT NULL }", 6, "IS NOT"},
    {"{ $.a EXISTS }", 6, "EXISTS alone"},
    {"{ $.a = 1 && }", 13, "selector"},
    {"{ $.a = 1 & $.b = 2 }", 10, "&&"},
    {"{ ($.a = 1 }", 11, "')'"},
    {"{ $.a > abc }", 8, "need a number"},
    {"{ $.a[*].b[*] = 1 }", 2, "one wildcard"},
    {"{ $.a[*] = 1 && $.b[*] = 1 && $.c[*] = 1 && $.d[*] = 1 }", 44, "3 selectors"},
    {"{ $.a = %x% && $.b = %y% && $.c = %z% }", 34, "2 regular"},
    {"{ $. = 1 }", 4, "member name"},
    {"{ $.a[x] = 1 }", 6, "array index"},
    {"{ $.a = \"x }", 8, "unterminated"},
    {"[a b]", 3, "operator"},
    {"[a, a]", 4, "twice"},
    {"[a = 1 || b = 2, c]", 10, "not in the pattern"},
    {"[]", 1, "at least one field"},
    {"[1a]", 1, "start with a letter"},
    {"%a{2,x}%", 2, "repetition"},
    {"%*a%", 1, "anything to repeat"},
    {"%a**%", 3, "another quantifier"},
    {"%\\q%", 1, "unsupported escape"},
    {"%\\x4%", 1, "two hex digits"},
    {"%caf\xc3\xa9%", 4, "non-ASCII"},
    {"ERROR -", 6, "followed by a term"},
    {"\"open", 0, "unterminated"},
};

static void test_error_positions(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct pattern_set *set = pattern_set_new();
        struct ks_diag d;
        int rc = pattern_set_add(set, rows[i].pattern, strlen(rows[i].pattern), &d);
        if (rc >= 0 || d.offset != rows[i].offset || !strstr(d.msg, rows[i].msg) ||
            !strstr(d.msg, "filter pattern"))
            print_error("row %zu: pattern %s\n  expected offset %zu with '%s'\n  got rc=%d "
                        "offset %zu '%s'\n",
                        i, rows[i].pattern, rows[i].offset, rows[i].msg, rc, d.offset, d.msg);
        assert_true(rc < 0);
        assert_int_equal(d.offset, rows[i].offset);
        assert_non_null(strstr(d.msg, rows[i].msg));
        pattern_set_free(set);
    }
}

static void test_length_limit(void **state)
{
    (void)state;
    char buf[1100];
    memset(buf, 'a', sizeof(buf));
    struct pattern_set *set = pattern_set_new();
    struct ks_diag d;
    assert_true(pattern_set_add(set, buf, 1024, &d) >= 0);
    assert_true(pattern_set_add(set, buf, 1025, &d) < 0);
    assert_non_null(strstr(d.msg, "length less than or equal to 1024"));
    pattern_set_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_positions),
        cmocka_unit_test(test_length_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
