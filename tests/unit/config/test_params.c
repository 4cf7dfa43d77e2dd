/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parameters (types, defaults, overrides, constraints), pseudo parameters
 * from the options, and the error for a parameter without a value.
 */
#include "test_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct prow {
    const char *name;
    const char *def;      /* the parameter P's declaration, YAML flow mapping */
    const char *override; /* "P=..." or NULL */
    const char *want;     /* the resolved V = !Ref P as compact JSON, or NULL on error */
    const char *err;      /* part of the error message */
};

static const struct prow prows[] = {
    {"default", "{Type: String, Default: abc}", NULL, "\"abc\"", NULL},
    {"override wins", "{Type: String, Default: abc}", "P=xyz", "\"xyz\"", NULL},
    {"override with =", "{Type: String}", "P=a=b", "\"a=b\"", NULL},
    {"override empty", "{Type: String, Default: abc}", "P=", "\"\"", NULL},
    {"missing value", "{Type: String}", NULL, NULL,
     "Parameters.P: parameter 'P' has no Default and no value was given (--param P=VALUE)"},
    {"allowed values ok", "{Type: String, Default: b, AllowedValues: [a, b]}", NULL, "\"b\"", NULL},
    {"allowed values default", "{Type: String, Default: c, AllowedValues: [a, b]}", NULL, NULL,
     "Parameters.P: value 'c' is not one of the AllowedValues (a, b)"},
    {"allowed values override", "{Type: String, Default: a, AllowedValues: [a, b]}", "P=z", NULL,
     "value 'z' is not one of the AllowedValues (a, b)"},
    {"constraint description",
     "{Type: String, Default: c, AllowedValues: [a], "
     "ConstraintDescription: pick a}",
     NULL, NULL, "AllowedValues (a): pick a"},
    {"min length", "{Type: String, Default: ab, MinLength: 3}", NULL, NULL,
     "is shorter than MinLength 3"},
    {"max length utf8", "{Type: String, Default: 'h\xc3\xa9llo', MaxLength: 5}", NULL,
     "\"h\xc3\xa9llo\"", NULL},
    {"max length", "{Type: String, Default: abcdef, MaxLength: 5}", NULL, NULL,
     "is longer than MaxLength 5"},
    {"number", "{Type: Number, Default: 2.5}", NULL, "2.5", NULL},
    {"number not a number", "{Type: Number, Default: two}", NULL, NULL, "is not a number"},
    {"number hex rejected", "{Type: Number, Default: '0x10'}", NULL, NULL, "is not a number"},
    {"min value", "{Type: Number, Default: 1, MinValue: 2}", NULL, NULL, "is less than MinValue 2"},
    {"max value", "{Type: Number, Default: 10, MaxValue: 9.5}", "P=9.5", "9.5", NULL},
    {"max value exceeded", "{Type: Number, Default: 10, MaxValue: 9.5}", NULL, NULL,
     "is greater than MaxValue 9.5"},
    {"number allowed values numeric", "{Type: Number, Default: 5, AllowedValues: [5.0, 6]}", NULL,
     "5", NULL},
    {"comma list", "{Type: CommaDelimitedList, Default: 'a, b'}", NULL, "[\"a\",\" b\"]", NULL},
    {"comma list allowed per element",
     "{Type: CommaDelimitedList, Default: 'a,c', "
     "AllowedValues: [a, b]}",
     NULL, NULL, "value 'c' is not one of"},
    {"list of numbers", "{Type: 'List<Number>', Default: '1,2.5'}", NULL, "[1,2.5]", NULL},
    {"list of numbers bad", "{Type: 'List<Number>', Default: '1,x'}", NULL, NULL,
     "value 'x' is not a number"},
    {"aws list type", "{Type: 'List<AWS::EC2::Subnet::Id>', Default: 's-1,s-2'}", NULL,
     "[\"s-1\",\"s-2\"]", NULL},
    {"aws specific type", "{Type: 'AWS::EC2::KeyPair::KeyName', Default: k}", NULL, "\"k\"", NULL},
    {"unknown type", "{Type: Strin, Default: a}", NULL, NULL,
     "Parameters.P: unknown parameter type 'Strin'"},
    {"missing type", "{Default: a}", NULL, NULL, "missing required attribute 'Type'"},
    {"unknown attribute", "{Type: String, Default: a, Defualt: b}", NULL, NULL,
     "Parameters.P.Defualt: unknown parameter attribute 'Defualt'"},
    {"allowed values not a list", "{Type: String, Default: a, AllowedValues: a}", NULL, NULL,
     "Parameters.P.AllowedValues: expected a list"},
    {"min length not a number", "{Type: String, Default: a, MinLength: x}", NULL, NULL,
     "Parameters.P.MinLength: expected a number"},
    {"no echo masked", "{Type: String, Default: secret, NoEcho: true, AllowedValues: [x]}", NULL,
     NULL, "value '****' is not one of"},
    {"pattern ok", "{Type: String, Default: abc-12, AllowedPattern: '[a-z]+-\\d+'}", NULL,
     "\"abc-12\"", NULL},
    {"pattern is anchored",
     "{Type: String, Default: xabc-12x, AllowedPattern: "
     "'[a-z]+-\\d+'}",
     NULL, NULL, "does not match AllowedPattern '[a-z]+-\\d+'"},
    {"pattern classes in brackets",
     "{Type: String, Default: 'a_b 9', AllowedPattern: "
     "'[\\w\\s]+'}",
     NULL, "\"a_b 9\"", NULL},
    {"pattern negated class",
     "{Type: String, Default: 'a@b.c', AllowedPattern: "
     "'^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$'}",
     NULL, "\"a@b.c\"", NULL},
    {"pattern escaped dash and bracket",
     "{Type: String, Default: 'a-]', AllowedPattern: "
     "'[a\\-\\]]+'}",
     NULL, "\"a-]\"", NULL},
    {"pattern non-capturing and lazy",
     "{Type: String, Default: abab, AllowedPattern: "
     "'(?:ab)+?'}",
     NULL, "\"abab\"", NULL},
    {"pattern mismatch override", "{Type: String, Default: '1', AllowedPattern: '\\d+'}", "P=1a",
     NULL, "value '1a' does not match"},
};

static char *param_template(const char *def)
{
    static const char fmt[] = "Parameters:\n  P: %s\nResources:\n"
                              "  R: {Type: 'Keysentry::R', Properties: {V: !Ref P}}\n";
    size_t n = strlen(fmt) + strlen(def) + 1;
    char *s = malloc(n);
    snprintf(s, n, fmt, def);
    return s;
}

static void test_parameter_rows(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(prows) / sizeof(prows[0]); i++) {
        const struct prow *r = &prows[i];
        char *text = param_template(r->def);
        const char *params[1] = {r->override};
        struct config_options o = {.params = params, .n_params = r->override ? 1 : 0};
        struct config_template *t = NULL;
        struct ks_diag d;
        enum ks_err err = config_template_load_buffer("p.yaml", text, strlen(text), &o, &t, &d);
        bool ok;
        char *got = NULL;
        if (r->want) {
            ok = err == KS_OK;
            if (ok) {
                json_t *v = json_object_get(t->customs[0].properties, "V");
                got = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                ok = got && strcmp(got, r->want) == 0;
            }
        } else {
            ok = err == KS_E_INVALID && strstr(d.msg, r->err) != NULL;
        }
        if (!ok)
            print_error("row '%s': want %s\n  got %s (err %d: %s)\n", r->name,
                        r->want ? r->want : r->err, got ? got : "-", (int)err, err ? d.msg : "");
        free(got);
        config_template_free(t);
        free(text);
        assert_true(ok);
    }
}

/* The AllowedPattern forms POSIX cannot express are skipped with a warning. */
static void test_pattern_warning(void **state)
{
    (void)state;
    char *text = param_template("{Type: String, Default: x, AllowedPattern: '(?=x)x\\b'}");
    struct config_template *t = load_ok("p.yaml", text, NULL);
    assert_int_equal(t->n_warnings, 1);
    assert_non_null(strstr(t->warnings[0].msg, "Parameters.P: AllowedPattern of 'P' not checked"));
    assert_int_equal(t->warnings[0].pos.line, 2);
    config_template_free(t);
    free(text);
}

static void test_parameter_record(void **state)
{
    (void)state;
    static const char text[] = "Parameters:\n"
                               "  A: {Type: String, Default: x, Description: the a}\n"
                               "  B: {Type: CommaDelimitedList, Default: 'p,q'}\n"
                               "  S: {Type: String, NoEcho: 'true'}\n"
                               "Resources:\n"
                               "  R: {Type: 'Keysentry::R'}\n";
    const char *params[] = {"S=hunter2", "A=first", "A=second"};
    struct config_options o = {.params = params, .n_params = 3};
    struct config_template *t = load_ok("p.yaml", text, &o);
    assert_int_equal(t->n_params, 3);
    const struct config_param *a = config_template_param(t, "A");
    assert_non_null(a);
    assert_string_equal(a->value, "second"); /* the last override wins */
    assert_true(a->overridden);
    assert_string_equal(a->description, "the a");
    assert_string_equal(a->type_name, "String");
    assert_int_equal(a->type, CONFIG_PARAM_STRING);
    assert_int_equal(a->pos.line, 2);
    assert_int_equal(a->pos.col, 3);
    const struct config_param *b = config_template_param(t, "B");
    assert_int_equal(b->type, CONFIG_PARAM_COMMA_DELIMITED_LIST);
    assert_false(b->overridden);
    assert_int_equal(b->list.n, 2);
    assert_string_equal(b->list.v[1], "q");
    const struct config_param *s = config_template_param(t, "S");
    assert_true(s->no_echo);
    assert_string_equal(s->value, "hunter2");
    assert_null(config_template_param(t, "Nope"));
    /* the dump never shows a NoEcho value */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_template_dump(t, f);
    fclose(f);
    assert_null(strstr(buf, "hunter2"));
    assert_non_null(strstr(buf, "S (String) = ****  [--param]  [NoEcho]"));
    assert_non_null(strstr(buf, "A (String) = second  [--param]"));
    assert_non_null(strstr(buf, "B (CommaDelimitedList) = p,q  [default]"));
    free(buf);
    config_template_free(t);
}

struct pseudo_row {
    const char *name;
    struct config_options opts;
    const char *file;
    const char *want[6]; /* StackName, AccountId, Region, Partition, URLSuffix, StackId prefix */
    const char *err;
};

static const struct pseudo_row pseudo_rows[] = {
    {"defaults",
     {0},
     "dir/my-stack.yaml",
     {"my-stack", "111122223333", "us-east-1", "aws", "amazonaws.com",
      "arn:aws:cloudformation:us-east-1:111122223333:stack/my-stack/"},
     NULL},
    {"file name made a stack name",
     {0},
     "/x/9 lab_v2.template.json",
     {"stack-9-lab-v2-template", NULL, NULL, NULL, NULL, NULL},
     NULL},
    {"options",
     {.stack_name = "S1", .account_id = "123456789012", .region = "eu-west-3"},
     "t.yaml",
     {"S1", "123456789012", "eu-west-3", "aws", "amazonaws.com",
      "arn:aws:cloudformation:eu-west-3:123456789012:stack/S1/"},
     NULL},
    {"china",
     {.region = "cn-north-1"},
     "t.yaml",
     {NULL, NULL, "cn-north-1", "aws-cn", "amazonaws.com.cn",
      "arn:aws-cn:cloudformation:cn-north-1:"},
     NULL},
    {"govcloud",
     {.region = "us-gov-west-1"},
     "t.yaml",
     {NULL, NULL, NULL, "aws-us-gov", "amazonaws.com", "arn:aws-us-gov:"},
     NULL},
    {"bad stack name", {.stack_name = "1abc"}, "t.yaml", {0}, "invalid stack name '1abc'"},
    {"bad account", {.account_id = "1234"}, "t.yaml", {0}, "invalid account id '1234'"},
    {"bad region", {.region = "Mars"}, "t.yaml", {0}, "invalid region 'Mars'"},
    {"bad param syntax",
     {.params = (const char *const[]){"noequals"}, .n_params = 1},
     "t.yaml",
     {0},
     "bad parameter override 'noequals' (expected NAME=VALUE)"},
    {"unknown param",
     {.params = (const char *const[]){"Zed=1"}, .n_params = 1},
     "t.yaml",
     {0},
     "unknown parameter 'Zed' in --param (the template declares: none)"},
};

static void test_pseudo_parameters(void **state)
{
    (void)state;
    static const char *const names[] = {"AWS::StackName", "AWS::AccountId", "AWS::Region",
                                        "AWS::Partition", "AWS::URLSuffix", "AWS::StackId"};
    static const char text[] =
        "Resources:\n"
        "  R:\n"
        "    Type: Keysentry::R\n"
        "    Properties:\n"
        "      V: [!Ref 'AWS::StackName', !Ref 'AWS::AccountId', !Ref 'AWS::Region',\n"
        "          !Ref 'AWS::Partition', !Ref 'AWS::URLSuffix', !Ref 'AWS::StackId']\n";
    for (size_t i = 0; i < sizeof(pseudo_rows) / sizeof(pseudo_rows[0]); i++) {
        const struct pseudo_row *r = &pseudo_rows[i];
        struct config_template *t = NULL;
        struct ks_diag d;
        enum ks_err err =
            config_template_load_buffer(r->file, text, strlen(text), &r->opts, &t, &d);
        if (r->err) {
            if (err != KS_E_INVALID || !strstr(d.msg, r->err))
                print_error("row '%s': want error '%s', got %d '%s'\n", r->name, r->err, (int)err,
                            d.msg);
            assert_int_equal(err, KS_E_INVALID);
            assert_non_null(strstr(d.msg, r->err));
            assert_int_equal(d.offset, SIZE_MAX); /* options have no place in the file */
            continue;
        }
        if (err)
            print_error("row '%s': %s\n", r->name, d.msg);
        assert_int_equal(err, KS_OK);
        json_t *v = json_object_get(t->customs[0].properties, "V");
        for (size_t k = 0; k < 6; k++) {
            if (!r->want[k])
                continue;
            const char *got = json_string_value(json_array_get(v, k));
            bool ok = k == 5 ? strncmp(got, r->want[k], strlen(r->want[k])) == 0
                             : strcmp(got, r->want[k]) == 0;
            if (!ok)
                print_error("row '%s' %s: want %s got %s\n", r->name, names[k], r->want[k], got);
            assert_true(ok);
        }
        /* the template records the pseudo parameters in force */
        assert_string_equal(t->stack_name, json_string_value(json_array_get(v, 0)));
        assert_string_equal(t->partition, json_string_value(json_array_get(v, 3)));
        assert_string_equal(t->stack_id, json_string_value(json_array_get(v, 5)));
        config_template_free(t);
    }
}

/* The same inputs give the same synthesised ids; another stack, others. */
static void test_deterministic_ids(void **state)
{
    (void)state;
    static const char text[] =
        "Resources:\n"
        "  T: {Type: 'AWS::SNS::Topic'}\n"
        "  S: {Type: 'AWS::SNS::Subscription', Properties: {TopicArn: !Ref T, Protocol: sqs}}\n"
        "  K: {Type: 'AWS::KMS::Key'}\n"
        "  R: {Type: 'Keysentry::R', Properties: {V: [!Ref S, !Ref K, !Ref 'AWS::StackId']}}\n";
    struct config_options a = {.stack_name = "one"}, b = {.stack_name = "two"};
    struct config_template *t1 = load_ok("x.yaml", text, &a);
    struct config_template *t2 = load_ok("x.yaml", text, &a);
    struct config_template *t3 = load_ok("x.yaml", text, &b);
    char *s1 = json_dumps(t1->customs[0].properties, JSON_COMPACT);
    char *s2 = json_dumps(t2->customs[0].properties, JSON_COMPACT);
    char *s3 = json_dumps(t3->customs[0].properties, JSON_COMPACT);
    assert_string_equal(s1, s2);
    assert_string_not_equal(s1, s3);
    /* UUID shape: 8-4-4-4-12 hex */
    const char *sub =
        json_string_value(json_array_get(json_object_get(t1->customs[0].properties, "V"), 0));
    const char *uuid = strrchr(sub, ':') + 1;
    assert_int_equal(strlen(uuid), 36);
    assert_int_equal(uuid[8], '-');
    assert_int_equal(uuid[14], '4');
    assert_string_equal(t1->subscriptions[0].arn, sub);
    free(s1);
    free(s2);
    free(s3);
    config_template_free(t1);
    config_template_free(t2);
    config_template_free(t3);
}

int run_param_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parameter_rows),    cmocka_unit_test(test_pattern_warning),
        cmocka_unit_test(test_parameter_record),  cmocka_unit_test(test_pseudo_parameters),
        cmocka_unit_test(test_deterministic_ids),
    };
    return cmocka_run_group_tests_name("config parameters", tests, NULL, NULL);
}
