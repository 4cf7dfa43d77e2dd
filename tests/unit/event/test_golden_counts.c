/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Real-world filter patterns over the shared CloudTrail data, counted twice:
 *
 *  - by keysentry: event_read_path() frames every file (Records files, NDJSON,
 *    text lines, gzip) and pattern_ctx_match() evaluates all patterns at once;
 *  - independently: each file is inflated with zlib and parsed with jansson
 *    (a {"Records":[...]} file gives its elements, anything else its non-empty
 *    lines), and each pattern's meaning is written out by hand in C over the
 *    jansson tree, following spec/filter-patterns.md §2 and §4.
 *
 * Per file, the event count and every pattern's match count must agree.
 * Usage: test_golden_counts DIR... (the shared data/cloudtrail folder, then
 * our own tests/data). A missing DIR is reported as skipped; with none
 * present the test exits 77 (ctest: skipped).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "event/event.h"
#include "pattern/pattern.h"

static const char *data_dir;

/*
 * Files left out of the comparison, relative to DIR.
 *
 * SerializerTestFileBadJsonFormat.json is deliberately malformed: the
 * userIdentity object of its first record is never closed. jansson rejects
 * the whole file, while keysentry's reader recovers record by record, so
 * which records "survive" is a property of the reader's resynchronisation
 * (covered by test_read), not something jansson can be an oracle for.
 */
static const char *const excluded[] = {
    "aws-cloudtrail-processing-library-fixtures/SerializerTestFileBadJsonFormat.json",
};

/* ---- the patterns and their hand-written meaning ------------------------ */

static json_t *get(json_t *v, const char *const *keys)
{
    for (; v && *keys; keys++)
        v = json_is_object(v) ? json_object_get(v, *keys) : NULL;
    return v;
}

#define GET(root, ...) get((root), (const char *const[]){__VA_ARGS__, NULL})

static bool str_eq(json_t *v, const char *s)
{
    return json_is_string(v) && json_string_length(v) == strlen(s) &&
           memcmp(json_string_value(v), s, json_string_length(v)) == 0;
}

static bool str_prefix(json_t *v, const char *s)
{
    size_t n = strlen(s);
    return json_is_string(v) && json_string_length(v) >= n &&
           memcmp(json_string_value(v), s, n) == 0;
}

static bool str_suffix(json_t *v, const char *s)
{
    size_t n = strlen(s), len = json_string_length(v);
    return json_is_string(v) && len >= n && memcmp(json_string_value(v) + len - n, s, n) == 0;
}

static bool str_contains(json_t *v, const char *s)
{
    return json_is_string(v) &&
           memmem(json_string_value(v), json_string_length(v), s, strlen(s)) != NULL;
}

/* `$.k = "*"`: any string or number (spec 4.4) */
static bool present_scalar(json_t *v)
{
    return json_is_string(v) || json_is_number(v);
}

/* `$.k != "s"`: a string that differs; false when absent (spec 4.4) */
static bool str_ne(json_t *v, const char *s)
{
    return json_is_string(v) && !str_eq(v, s);
}

static bool kms(json_t *e)
{
    return str_eq(GET(e, "eventSource"), "kms.amazonaws.com");
}

static bool p_lab(json_t *e)
{
    return present_scalar(GET(e, "errorCode")) && kms(e) &&
           str_eq(GET(e, "userIdentity", "sessionContext", "sessionIssuer", "arn"),
                  "arn:aws:iam::111122223333:role/App-ECSTaskRole");
}

static bool p_decrypt_encrypt(json_t *e)
{
    json_t *n = GET(e, "eventName");
    return kms(e) && (str_eq(n, "Decrypt") || str_eq(n, "Encrypt"));
}

static bool p_kms(json_t *e)
{
    return kms(e);
}

static bool p_cis_cmk(json_t *e)
{
    json_t *n = GET(e, "eventName");
    return kms(e) && (str_eq(n, "DisableKey") || str_eq(n, "ScheduleKeyDeletion"));
}

static bool p_unauthorized(json_t *e)
{
    json_t *c = GET(e, "errorCode");
    return str_suffix(c, "UnauthorizedOperation") || str_prefix(c, "AccessDenied");
}

static bool p_root(json_t *e)
{
    return str_eq(GET(e, "userIdentity", "type"), "Root") &&
           GET(e, "userIdentity", "invokedBy") == NULL &&
           str_ne(GET(e, "eventType"), "AwsServiceEvent");
}

static bool p_console_no_mfa(json_t *e)
{
    return str_eq(GET(e, "eventName"), "ConsoleLogin") &&
           str_ne(GET(e, "additionalEventData", "MFAUsed"), "Yes");
}

static bool p_write(json_t *e)
{
    return json_is_false(GET(e, "readOnly"));
}

/* `$.resources[*].<key>`: some element of the resources array */
static bool any_resource(json_t *e, const char *key, bool (*test)(json_t *, const char *),
                         const char *arg)
{
    json_t *rs = GET(e, "resources"), *r;
    size_t i;
    if (!json_is_array(rs))
        return false;
    json_array_foreach(rs, i, r)
    {
        if (test(GET(r, key), arg))
            return true;
    }
    return false;
}

static bool p_kms_key_resource(json_t *e)
{
    return any_resource(e, "type", str_eq, "AWS::KMS::Key");
}

static bool p_key_arn(json_t *e)
{
    return any_resource(e, "ARN", str_contains, ":key/");
}

/* A term is a substring of the raw text (spec 2.2): here, of a key or string. */
static bool tree_contains(json_t *v, const char *s)
{
    const char *k;
    json_t *m;
    size_t i;
    if (json_is_string(v))
        return str_contains(v, s);
    if (json_is_object(v)) {
        json_object_foreach(v, k, m)
        {
            if (strstr(k, s) || tree_contains(m, s))
                return true;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, m)
        {
            if (tree_contains(m, s))
                return true;
        }
    }
    return false;
}

struct pat {
    const char *name;
    const char *text;
    bool (*json)(json_t *e); /* JSON patterns: the predicate on an object */
    const char *term;        /* term patterns: the substring */
};

static const struct pat pats[] = {
    {"lab KMSFailure",
     "{ $.errorCode = \"*\" && $.eventSource= \"kms.amazonaws.com\" && "
     "$.userIdentity.sessionContext.sessionIssuer.arn = "
     "\"arn:aws:iam::111122223333:role/App-ECSTaskRole\" }",
     p_lab, NULL},
    {"KMS Decrypt/Encrypt",
     "{ ($.eventSource = kms.amazonaws.com) && (($.eventName = Decrypt) || "
     "($.eventName = Encrypt)) }",
     p_decrypt_encrypt, NULL},
    {"KMS any", "{ $.eventSource = kms.amazonaws.com }", p_kms, NULL},
    {"CIS CMK disable/delete",
     "{($.eventSource = kms.amazonaws.com) && "
     "(($.eventName=DisableKey)||($.eventName=ScheduleKeyDeletion))}",
     p_cis_cmk, NULL},
    {"CIS unauthorized calls",
     "{ ($.errorCode = \"*UnauthorizedOperation\") || ($.errorCode = \"AccessDenied*\") }",
     p_unauthorized, NULL},
    {"CIS root usage",
     "{ $.userIdentity.type = \"Root\" && $.userIdentity.invokedBy NOT EXISTS && "
     "$.eventType != \"AwsServiceEvent\" }",
     p_root, NULL},
    {"CIS console login no MFA",
     "{ ($.eventName = ConsoleLogin) && ($.additionalEventData.MFAUsed != \"Yes\") }",
     p_console_no_mfa, NULL},
    {"write calls", "{ $.readOnly IS FALSE }", p_write, NULL},
    {"KMS key resource", "{ $.resources[*].type = \"AWS::KMS::Key\" }", p_kms_key_resource, NULL},
    {"key ARN resource", "{ $.resources[*].ARN = \"*:key/*\" }", p_key_arn, NULL},
    {"term Decrypt", "Decrypt", NULL, "Decrypt"},
};

#define NPAT (sizeof(pats) / sizeof(pats[0]))

struct counts {
    uint64_t events;
    uint64_t match[NPAT];
};

/* ---- files --------------------------------------------------------------- */

struct files {
    char **v;
    size_t n, cap;
};

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Every file under dir, in the reader's order (byte order, hidden names skipped). */
static void list_files(const char *dir, struct files *out)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, name_cmp);
    assert_true(n >= 0);
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            size_t len = strlen(dir) + strlen(names[i]->d_name) + 2;
            char *p = malloc(len);
            assert_non_null(p);
            snprintf(p, len, "%s/%s", dir, names[i]->d_name);
            struct stat st;
            assert_int_equal(stat(p, &st), 0);
            if (S_ISDIR(st.st_mode)) {
                list_files(p, out);
                free(p);
            } else {
                if (out->n == out->cap) {
                    out->cap = out->cap ? out->cap * 2 : 256;
                    out->v = realloc(out->v, out->cap * sizeof(*out->v));
                    assert_non_null(out->v);
                }
                out->v[out->n++] = p;
            }
        }
        free(names[i]);
    }
    free(names);
}

static bool is_excluded(const char *path)
{
    size_t dl = strlen(data_dir);
    const char *rel = path + dl + 1;
    for (size_t i = 0; i < sizeof(excluded) / sizeof(excluded[0]); i++)
        if (strcmp(rel, excluded[i]) == 0)
            return true;
    return false;
}

/* ---- keysentry's count --------------------------------------------------- */

struct kctx {
    struct pattern_ctx *pc;
    struct counts *c;
};

static int on_event(void *ud, const struct event *ev)
{
    struct kctx *k = ud;
    uint8_t m[NPAT];
    bool bad = false;
    pattern_ctx_match(k->pc, ev->data, ev->len, m, &bad);
    k->c->events++;
    for (size_t i = 0; i < NPAT; i++)
        k->c->match[i] += m[i];
    return 0;
}

static void ks_count(struct pattern_ctx *pc, const char *path, struct counts *c, char **report)
{
    struct event_reader_opts o;
    event_reader_opts_init(&o);
    size_t rlen;
    o.errors = open_memstream(report, &rlen);
    assert_non_null(o.errors);
    struct event_stats st;
    memset(&st, 0, sizeof(st));
    memset(c, 0, sizeof(*c));
    struct kctx k = {pc, c};
    assert_int_equal(event_read_path(path, &o, on_event, &k, &st), 0);
    fclose(o.errors);
    assert_int_equal(st.events, c->events);
}

/* ---- the independent count ------------------------------------------------ */

static char *inflate_file(const char *path, size_t *len)
{
    gzFile gz = gzopen(path, "rb"); /* plain files read through unchanged */
    assert_non_null(gz);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        if (cap - n < (1 << 15)) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        int k = gzread(gz, buf + n, (unsigned)(cap - n));
        assert_true(k >= 0);
        if (k == 0)
            break;
        n += (size_t)k;
    }
    gzclose(gz);
    *len = n;
    return buf;
}

static void count_event(json_t *e, const char *raw, size_t raw_len, struct counts *c)
{
    c->events++;
    for (size_t i = 0; i < NPAT; i++) {
        bool m;
        if (pats[i].term)
            m = raw ? memmem(raw, raw_len, pats[i].term, strlen(pats[i].term)) != NULL
                    : tree_contains(e, pats[i].term);
        else
            m = json_is_object(e) && pats[i].json(e);
        c->match[i] += m;
    }
}

static size_t skip_ws(const char *p, size_t i, size_t n)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    return i;
}

/* Does the text start like a CloudTrail log file: {"Records":[ ? */
static bool records_shape(const char *p, size_t n)
{
    size_t i = skip_ws(p, 0, n);
    if (i >= n || p[i] != '{')
        return false;
    i = skip_ws(p, i + 1, n);
    if (n - i < 9 || memcmp(p + i, "\"Records\"", 9) != 0)
        return false;
    i = skip_ws(p, i + 9, n);
    if (i >= n || p[i] != ':')
        return false;
    i = skip_ws(p, i + 1, n);
    return i < n && p[i] == '[';
}

/* Returns false when the file cannot be evaluated (a malformed Records file). */
static bool jansson_count(const char *path, struct counts *c)
{
    memset(c, 0, sizeof(*c));
    size_t n;
    char *buf = inflate_file(path, &n);
    bool ok = true;
    if (records_shape(buf, n)) {
        json_error_t err;
        json_t *root = json_loadb(buf, n, 0, &err);
        json_t *recs = root ? json_object_get(root, "Records") : NULL;
        if (!json_is_array(recs)) {
            print_message("jansson: %s: %s at line %d\n", path, err.text, err.line);
            ok = false;
        } else {
            size_t i;
            json_t *e;
            json_array_foreach(recs, i, e)
            {
                count_event(e, NULL, 0, c);
            }
        }
        json_decref(root);
    } else {
        size_t pos = 0;
        while (pos < n) {
            const char *nl = memchr(buf + pos, '\n', n - pos);
            size_t end = nl ? (size_t)(nl - buf) : n, e = end;
            if (e > pos && buf[e - 1] == '\r')
                e--;
            if (e > pos) {
                json_t *v = json_loadb(buf + pos, e - pos, 0, NULL);
                count_event(v, buf + pos, e - pos, c);
                json_decref(v);
            }
            pos = end + 1;
        }
    }
    free(buf);
    return ok;
}

/* ---- the test ------------------------------------------------------------- */

/* Compares the two counts over every file under one root. */
static void compare_root(struct pattern_ctx *pc)
{
    struct files fl = {0};
    list_files(data_dir, &fl);
    assert_true(fl.n > 0);

    struct counts tk = {0}, tj = {0};
    uint64_t all_events = 0;
    size_t used = 0, mismatches = 0, reported = 0;
    for (size_t f = 0; f < fl.n; f++) {
        struct counts k, j;
        char *report = NULL;
        ks_count(pc, fl.v[f], &k, &report);
        all_events += k.events;
        bool has_report = report && *report;
        free(report);
        if (is_excluded(fl.v[f])) {
            print_message("excluded: %s (%llu events read by keysentry)\n", fl.v[f],
                          (unsigned long long)k.events);
            continue;
        }
        reported += has_report;
        if (!jansson_count(fl.v[f], &j))
            fail_msg("%s is malformed for jansson: exclude it explicitly, with the reason",
                     fl.v[f]);
        used++;
        if (k.events != j.events) {
            print_message("MISMATCH %s: %llu events read by keysentry, %llu by jansson\n", fl.v[f],
                          (unsigned long long)k.events, (unsigned long long)j.events);
            mismatches++;
        }
        tk.events += k.events;
        tj.events += j.events;
        for (size_t i = 0; i < NPAT; i++) {
            if (k.match[i] != j.match[i]) {
                print_message("MISMATCH %s: '%s' keysentry %llu, jansson %llu\n", fl.v[f],
                              pats[i].name, (unsigned long long)k.match[i],
                              (unsigned long long)j.match[i]);
                mismatches++;
            }
            tk.match[i] += k.match[i];
            tj.match[i] += j.match[i];
        }
    }

    print_message("%s: %zu files compared (%zu excluded), %llu events\n", data_dir, used,
                  fl.n - used, (unsigned long long)tk.events);
    print_message("  %-26s %10s %10s\n", "pattern", "keysentry", "jansson");
    for (size_t i = 0; i < NPAT; i++)
        print_message("  %-26s %10llu %10llu\n", pats[i].name, (unsigned long long)tk.match[i],
                      (unsigned long long)tj.match[i]);
    assert_int_equal(mismatches, 0);
    assert_int_equal(reported, 0); /* no damage reported outside the excluded files */
    assert_int_equal(tk.events, tj.events);
    for (size_t i = 0; i < NPAT; i++)
        assert_int_equal(tk.match[i], tj.match[i]);

    /* one read of the whole folder sees the same events as the file-by-file reads */
    struct counts whole;
    char *report = NULL;
    ks_count(pc, data_dir, &whole, &report);
    free(report);
    assert_int_equal(whole.events, all_events);

    for (size_t f = 0; f < fl.n; f++)
        free(fl.v[f]);
    free(fl.v);
}

static char **roots;
static int nroots;

static void test_golden_counts(void **state)
{
    (void)state;
    struct pattern_set *set = pattern_set_new();
    for (size_t i = 0; i < NPAT; i++) {
        struct ks_diag d;
        int rc = pattern_set_add(set, pats[i].text, strlen(pats[i].text), &d);
        if (rc != (int)i)
            fail_msg("pattern '%s' rejected: %s", pats[i].text, d.msg);
    }
    pattern_set_finish(set);
    struct pattern_ctx *pc = pattern_ctx_new(set);
    for (int r = 0; r < nroots; r++) {
        data_dir = roots[r];
        compare_root(pc);
    }
    pattern_ctx_free(pc);
    pattern_set_free(set);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR... (the shared data/cloudtrail folder, our fixtures)\n",
                argv[0]);
        return 2;
    }
    roots = calloc((size_t)argc, sizeof(*roots));
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            roots[nroots++] = argv[i];
        else
            printf("SKIPPED: %s not found (the shared CloudTrail data lives in "
                   "KS_SHARED_DIR/data/cloudtrail; set KS_SHARED_DIR when configuring)\n",
                   argv[i]);
    }
    if (nroots == 0)
        return 77;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_golden_counts)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(roots);
    return rc;
}
