/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hostile and broken inputs: every limit of config.h is reached and reported
 * (never a crash, a hang or unbounded memory), files that cannot be read,
 * and mutated or truncated lab templates, which must either load or fail
 * with a message and an offset inside the text.
 */
#include "test_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * n + tl + 1), *p = s;
    memcpy(p, head, hl);
    p += hl;
    for (size_t i = 0; i < n; i++, p += ul)
        memcpy(p, unit, ul);
    memcpy(p, tail, tl + 1);
    return s;
}

static void expect_error(const char *name, const char *text, enum ks_err want, const char *msg)
{
    struct ks_diag d;
    char out[2048];
    enum ks_err err = load_fail(name, text, NULL, &d, out, sizeof(out));
    if (err != want || !strstr(d.msg, msg))
        print_error("%s: want %d '%s', got %d:\n%s\n", name, (int)want, msg, (int)err, out);
    assert_int_equal(err, want);
    assert_non_null(strstr(d.msg, msg));
    assert_true(d.offset == SIZE_MAX || d.offset <= strlen(text));
}

static void test_deep_nesting(void **state)
{
    (void)state;
    char *flow = repeat("Resources: {R: {Type: 'Keysentry::R', Properties: {V: ", "[", 100000, "");
    expect_error("deep flow", flow, KS_E_LIMIT, "nesting deeper than 64 levels");
    free(flow);
    /* block style: one more level per line */
    size_t n = 100, cap = 300 * n + 128, o = 0;
    char *block = malloc(cap);
    o += (size_t)snprintf(block + o, cap - o, "Resources:\n  R:\n    Type: Keysentry::R\n");
    o += (size_t)snprintf(block + o, cap - o, "    Properties:\n");
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(block + o, cap - o, "%*sk%zu:\n", (int)(6 + 2 * i), "", i);
    expect_error("deep block", block, KS_E_LIMIT, "nesting deeper than 64 levels");
    free(block);
    /* well inside the limit is fine */
    char *ok = repeat("Resources: {R: {Type: 'Keysentry::R', Properties: {V: ", "[", 50, "x");
    char *ok2 = repeat(ok, "]", 50, "}}}\n");
    struct config_template *t = load_ok("ok.yaml", ok2, NULL);
    config_template_free(t);
    free(ok);
    free(ok2);
}

static void test_billion_laughs(void **state)
{
    (void)state;
    /* nine levels, each ten aliases of the one before: 10^9 strings */
    size_t cap = 4096, o = 0;
    char *s = malloc(cap);
    o += (size_t)snprintf(s + o, cap - o, "Metadata:\n  a0: &a0 [lol]\n");
    for (int i = 1; i <= 9; i++) {
        o += (size_t)snprintf(s + o, cap - o, "  a%d: &a%d [", i, i);
        for (int k = 0; k < 10; k++)
            o += (size_t)snprintf(s + o, cap - o, "%s*a%d", k ? ", " : "", i - 1);
        o += (size_t)snprintf(s + o, cap - o, "]\n");
    }
    snprintf(s + o, cap - o, "Resources: {R: {Type: 'Keysentry::R', Properties: {V: *a9}}}\n");
    expect_error("billion laughs", s, KS_E_LIMIT, "aliases expand to more than 10000 nodes");
    free(s);
}

static void test_aliases_ok(void **state)
{
    (void)state;
    static const char text[] =
        "Parameters:\n"
        "  A: &str {Type: String, Default: shared}\n"
        "  B: *str\n"
        "Resources:\n"
        "  R: {Type: 'Keysentry::R', Properties: {V: &v [!Ref A, !Ref B], W: *v}}\n";
    struct config_template *t = load_ok("alias.yaml", text, NULL);
    char *js = json_dumps(t->customs[0].properties, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(js, "{\"V\":[\"shared\",\"shared\"],\"W\":[\"shared\",\"shared\"]}");
    free(js);
    config_template_free(t);
    expect_error("recursive alias", "Resources: &r {R: [*r]}\n", KS_E_INVALID,
                 "alias '*r' refers to a node containing it");
    char *many =
        repeat("Metadata: [", "&a x, ", 1001, "]\nResources: {R: {Type: 'Keysentry::R'}}\n");
    expect_error("many anchors", many, KS_E_LIMIT, "more than 1000 YAML anchors");
    free(many);
}

static void test_size_limits(void **state)
{
    (void)state;
    char *nodes =
        repeat("Resources: {R: {Type: 'Keysentry::R', Properties: {V: [", "1,", 200001, "1]}}}\n");
    expect_error("many nodes", nodes, KS_E_LIMIT, "more than 200000 nodes");
    free(nodes);

    size_t big = CONFIG_MAX_TEMPLATE_BYTES + 1;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    huge[big] = '\0';
    struct config_template *t = NULL;
    struct ks_diag d;
    assert_int_equal(config_template_load_buffer("big.yaml", huge, big, NULL, &t, &d), KS_E_TOOBIG);
    assert_null(t);
    assert_non_null(strstr(d.msg, "larger than 1048576 bytes"));

    /* one string just under the cap is fine */
    char *scalar =
        repeat("Resources: {R: {Type: 'Keysentry::R', Properties: {V: ", "x", 1000000, "}}}\n");
    t = load_ok("scalar.yaml", scalar, NULL);
    assert_int_equal(strlen(json_string_value(json_object_get(t->customs[0].properties, "V"))),
                     1000000);
    config_template_free(t);
    free(scalar);
    free(huge);

    /* resources, parameters, outputs: AWS's counts */
    char *res = repeat("Resources:\n", "  R: {Type: 'Keysentry::R'}\n", 1, "");
    free(res);
    size_t cap = 40 * 600, o = 0;
    char *r = malloc(cap);
    o += (size_t)snprintf(r + o, cap - o, "Resources:\n");
    for (int i = 0; i < 501; i++)
        o += (size_t)snprintf(r + o, cap - o, "  R%d: {Type: 'Keysentry::R'}\n", i);
    expect_error("many resources", r, KS_E_LIMIT, "Resources: more than 500 resources");
    o = 0;
    o += (size_t)snprintf(r + o, cap - o, "Parameters:\n");
    for (int i = 0; i < 201; i++)
        o += (size_t)snprintf(r + o, cap - o, "  P%d: {Type: String, Default: x}\n", i);
    snprintf(r + o, cap - o, "Resources: {R: {Type: 'Keysentry::R'}}\n");
    expect_error("many parameters", r, KS_E_LIMIT, "more than 200 parameters");
    free(r);
}

/* Functions that multiply a big value hit CONFIG_MAX_EVAL_BYTES. */
static void test_eval_budget(void **state)
{
    (void)state;
    char *big = repeat("Parameters: {P: {Type: String, Default: '", "a", 100000, "'}}\n");
    char *items = repeat("", "!Ref P, ", 199, "!Ref P");
    size_t n = strlen(big) + strlen(items) + 256;
    char *text = malloc(n);
    snprintf(text, n,
             "%sResources: {R: {Type: 'Keysentry::R', Properties: {V: !Join ['', [%s]]}}}\n", big,
             items);
    expect_error("join blow-up", text, KS_E_LIMIT, "intrinsic functions build more than");
    free(text);
    free(items);
    free(big);
}

/* Chains of names resolve through references, up to a depth. */
static void test_reference_chains(void **state)
{
    (void)state;
    for (int depth = 100; depth <= 300; depth += 200) {
        size_t cap = 160 * (size_t)depth + 256, o = 0;
        char *s = malloc(cap);
        o += (size_t)snprintf(s + o, cap - o, "Resources:\n");
        for (int i = 0; i < depth; i++)
            o += (size_t)snprintf(s + o, cap - o,
                                  "  T%d: {Type: 'AWS::SNS::Topic', Properties: {TopicName: "
                                  "!GetAtt T%d.TopicName}}\n",
                                  i, i + 1);
        snprintf(s + o, cap - o, "  T%d: {Type: 'AWS::SNS::Topic', Properties: {TopicName: end}}\n",
                 depth);
        if (depth == 100) {
            struct config_template *t = load_ok("chain.yaml", s, NULL);
            assert_string_equal(t->topics[0].name, "end");
            config_template_free(t);
        } else {
            expect_error("long chain", s, KS_E_LIMIT, "references nest deeper than 256 levels");
        }
        free(s);
    }
}

static void test_files(void **state)
{
    (void)state;
    struct config_template *t = NULL;
    struct ks_diag d;
    assert_int_equal(config_template_load("/nonexistent/x.yaml", NULL, &t, &d), KS_E_IO);
    assert_non_null(strstr(d.msg, "cannot open '/nonexistent/x.yaml'"));
    assert_int_equal(d.offset, SIZE_MAX);
    assert_int_equal(config_template_load("/", NULL, &t, &d), KS_E_IO);
    assert_null(t);
    char path[] = "/tmp/ks-config-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(config_template_load(path, NULL, &t, &d), KS_E_INVALID);
    assert_non_null(strstr(d.msg, "the template is empty"));
    assert_int_equal(d.offset, 0);
    /* too big on disk */
    FILE *f = fopen(path, "w");
    for (size_t i = 0; i <= CONFIG_MAX_TEMPLATE_BYTES; i++)
        fputc(i % 64 == 63 ? '\n' : '#', f);
    fclose(f);
    assert_int_equal(config_template_load(path, NULL, &t, &d), KS_E_TOOBIG);
    unlink(path);
    /* a NULL diag is allowed */
    assert_int_equal(config_template_load_buffer("x", "", 0, NULL, &t, NULL), KS_E_INVALID);
    config_template_free(NULL);
}

/* Deterministic pseudo-random bytes (no rand(): banned.h). */
static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static void must_not_crash(const char *text, size_t len)
{
    struct config_template *t = NULL;
    struct ks_diag d;
    enum ks_err err = config_template_load_buffer("m.yaml", text, len, NULL, &t, &d);
    if (err == KS_OK) {
        assert_non_null(t);
        FILE *f = fopen("/dev/null", "w");
        config_template_dump(t, f);
        fclose(f);
        config_template_free(t);
        return;
    }
    assert_null(t);
    assert_true(d.msg[0] != '\0');
    assert_true(d.offset == SIZE_MAX || d.offset <= len);
}

static void test_mutations(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof(path), "%s/examples/lab/monitoring.yaml", source_dir());
    size_t len;
    char *orig = read_text(path, &len);
    assert_non_null(orig);
    char *buf = malloc(len + 1);
    static const char bytes[] = "{}[]:,'\"!&*-?|>#%@` \n\t\\\xff\xc3";
    uint32_t seed = 12345;
    for (size_t i = 0; i < len; i += 3) {
        memcpy(buf, orig, len + 1);
        buf[i] = bytes[lcg(&seed) % (sizeof(bytes) - 1)];
        must_not_crash(buf, len);
    }
    for (size_t cut = 0; cut < len; cut += 7)
        must_not_crash(orig, cut);
    for (int k = 0; k < 200; k++) {
        size_t n = lcg(&seed) % 300;
        for (size_t i = 0; i < n; i++)
            buf[i] = bytes[lcg(&seed) % (sizeof(bytes) - 1)];
        must_not_crash(buf, n);
    }
    free(buf);
    free(orig);
}

int run_hostile_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deep_nesting), cmocka_unit_test(test_billion_laughs),
        cmocka_unit_test(test_aliases_ok),   cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_eval_budget),  cmocka_unit_test(test_reference_chains),
        cmocka_unit_test(test_files),        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests_name("config hostile inputs", tests, NULL, NULL);
}
