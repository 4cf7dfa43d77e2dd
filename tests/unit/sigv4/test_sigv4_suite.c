/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SigV4 test suites, one cmocka test per case, read at run time:
 *  - <shared>/sigv4-test-suite: the 2015 AWS suite (.req/.creq/.sts/.authz/
 *    .sreq; fixed parameters given in its README);
 *  - <shared>/sigv4-signing-test-suite-aws-c-auth/v4: aws-c-auth's cases
 *    (context.json; header-* and query-* files); v4a cases are listed and
 *    skipped (SigV4a is ECDSA P-256 signing, out of scope);
 *  - tests/unit/sigv4/vectors: our own cases in the aws-c-auth layout,
 *    expected values computed with botocore (see vectors/README.md).
 *
 * Per case: sign (or presign) the request and compare the canonical request,
 * string to sign, signature / Authorization and signed request with the
 * files; then verify both our signed request and the suite's, and compare the
 * verifier's canonical request and string to sign with the files too.
 */
#include "test_sigv4.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum case_kind {
    CASE_2015,
    CASE_CRT,  /* aws-c-auth layout, shared or ours */
    CASE_SKIP, /* listed, not run */
    CASE_ABSENT,
};

struct suite_case {
    char *name;
    char *dir;
    char *stem; /* 2015: file name stem */
    enum case_kind kind;
    const char *why; /* CASE_SKIP / CASE_ABSENT */
};

/* ---- the credential store the verifier consults ---------------------- */

struct store {
    const char *akid, *secret, *token;
};

static bool store_lookup(void *ctx, const char *akid, struct sigv4_principal *out)
{
    const struct store *s = ctx;
    if (strcmp(akid, s->akid) != 0)
        return false;
    out->secret_access_key = s->secret;
    out->session_token = s->token;
    out->expiration = 0;
    out->identity = s;
    return true;
}

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

static char *read_in(const char *dir, const char *name, size_t *len)
{
    char *p = path_join(dir, name);
    char *t = slurp(p, len);
    free(p);
    return t;
}

/* Reads dir/name as a request; fails the test when it does not parse. */
static void load_msg(const char *dir, const char *name, enum fold_mode mode, struct http_msg *m)
{
    size_t len;
    char *text = read_in(dir, name, &len);
    if (!text)
        fail_msg("cannot read %s/%s", dir, name);
    char why[256];
    if (!http_parse(text, len, mode, m, why, sizeof(why))) {
        free(text);
        fail_msg("%s/%s: %s", dir, name, why);
    }
    free(text);
}

static void expect_file(const char *dir, const char *name, const char *got, size_t got_len)
{
    size_t len;
    char *want = read_in(dir, name, &len);
    assert_non_null(want);
    if (len != got_len || memcmp(want, got, len) != 0)
        print_error("%s/%s differs\n--- expected\n%s\n--- got\n%.*s\n", dir, name, want,
                    (int)got_len, got);
    assert_memory_equal(want, got, len < got_len ? len : got_len);
    assert_int_equal(len, got_len);
    free(want);
}

static bool exists(const char *dir, const char *name)
{
    char *p = path_join(dir, name);
    struct stat st;
    bool ok = stat(p, &st) == 0;
    free(p);
    return ok;
}

static void verify_expect(const struct sigv4_verifier *v, const struct sigv4_request *req,
                          int64_t now, enum sigv4_status want, const char *what, const char *dir,
                          const char *creq_file, const char *sts_file)
{
    struct sigv4_result res;
    sigv4_result_init(&res);
    enum sigv4_status st = sigv4_verify(v, req, now, &res);
    if (st != want)
        print_error("%s: verify gave %s (%s), expected %s\n", what, sigv4_status_name(st),
                    res.message.data, sigv4_status_name(want));
    assert_int_equal(st, want);
    if (st == SIGV4_OK && creq_file) {
        expect_file(dir, creq_file, res.trace.canonical_request.data,
                    res.trace.canonical_request.len);
        expect_file(dir, sts_file, res.trace.string_to_sign.data, res.trace.string_to_sign.len);
    }
    sigv4_result_release(&res);
}

/* ---- 2015 suite --------------------------------------------------------- */

#define S2015_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

/* The STS token is printed at the end of post-sts-token/readme.txt. */
static char *sts_token(const char *case_dir)
{
    size_t len;
    char *text = read_in(case_dir, "../readme.txt", &len);
    if (!text)
        return NULL;
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        text[--len] = '\0';
    char *start = text + len;
    while (start > text && start[-1] != '\n')
        start--;
    char *tok = strdup(start);
    free(text);
    return tok;
}

static void test_2015(void **state)
{
    const struct suite_case *c = *state;
    char name[512], why[512];
    int64_t t;
    assert_true(sigv4_parse_amz_date("20150830T123600Z", 16, &t));
    bool after = strstr(c->stem, "post-sts-header-after") != NULL;
    bool before = strstr(c->stem, "post-sts-header-before") != NULL;
    char *token = (after || before) ? sts_token(c->dir) : NULL;
    if ((after || before) && !token)
        fail_msg("%s: no token in ../readme.txt", c->dir);

    struct http_msg m;
    snprintf(name, sizeof(name), "%s.req", c->stem);
    load_msg(c->dir, name, FOLD_REPEAT, &m);
    struct sigv4_credentials cr = {"AKIDEXAMPLE", S2015_SECRET, token};
    struct sigv4_sign_params p = {.creds = &cr,
                                  .region = "us-east-1",
                                  .service = "service",
                                  .time = t,
                                  .flags = after ? SIGV4_F_TOKEN_UNSIGNED : 0};
    struct sigv4_trace tr;
    sigv4_trace_init(&tr);
    struct ks_diag d;
    ks_diag_clear(&d);
    if (sigv4_sign(&m.req, &p, &tr, &d) != KS_OK)
        fail_msg("%s: sign: %s", c->name, d.msg);
    snprintf(name, sizeof(name), "%s.creq", c->stem);
    expect_file(c->dir, name, tr.canonical_request.data, tr.canonical_request.len);
    snprintf(name, sizeof(name), "%s.sts", c->stem);
    expect_file(c->dir, name, tr.string_to_sign.data, tr.string_to_sign.len);
    const struct sigv4_header *auth = sigv4_request_header(&m.req, "authorization", 0);
    assert_non_null(auth);
    snprintf(name, sizeof(name), "%s.authz", c->stem);
    expect_file(c->dir, name, auth->value, auth->value_len);

    struct http_msg sreq;
    snprintf(name, sizeof(name), "%s.sreq", c->stem);
    load_msg(c->dir, name, FOLD_REPEAT, &sreq);
    if (!http_same(&m.req, &sreq.req, why, sizeof(why)))
        fail_msg("%s: signed request: %s", c->name, why);

    struct store s = {"AKIDEXAMPLE", S2015_SECRET, token};
    const char *regions[] = {"us-east-1"};
    struct sigv4_verifier v = {.service = "service",
                               .regions = regions,
                               .nregions = 1,
                               .lookup = store_lookup,
                               .lookup_ctx = &s};
    char creq[512], sts[512];
    snprintf(creq, sizeof(creq), "%s.creq", c->stem);
    snprintf(sts, sizeof(sts), "%s.sts", c->stem);
    verify_expect(&v, &sreq.req, t, SIGV4_OK, "suite .sreq", c->dir, creq, sts);
    verify_expect(&v, &m.req, t, SIGV4_OK, "our signed request", c->dir, creq, sts);
    http_msg_release(&sreq);
    http_msg_release(&m);
    sigv4_trace_release(&tr);
    free(token);
}

/* ---- aws-c-auth layout -------------------------------------------------- */

struct crt_ctx {
    char akid[128], secret[128], token[1024];
    bool has_token;
    char region[64], service[64];
    int64_t time;
    uint32_t expires;
    unsigned flags; /* normalize / s3_path / omit_session_token */
    bool sign_body;
    bool omit_token;
    bool verify_only;
    char signed_headers[256];
};

static void load_context(const char *dir, struct crt_ctx *x)
{
    char *path = path_join(dir, "context.json");
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j)
        fail_msg("%s: %s", path, err.text);
    free(path);
    memset(x, 0, sizeof(*x));
    json_t *cr = json_object_get(j, "credentials");
    snprintf(x->akid, sizeof(x->akid), "%s",
             json_string_value(json_object_get(cr, "access_key_id")));
    snprintf(x->secret, sizeof(x->secret), "%s",
             json_string_value(json_object_get(cr, "secret_access_key")));
    const char *tok = json_string_value(json_object_get(cr, "token"));
    x->has_token = tok != NULL;
    snprintf(x->token, sizeof(x->token), "%s", tok ? tok : "");
    snprintf(x->region, sizeof(x->region), "%s", json_string_value(json_object_get(j, "region")));
    snprintf(x->service, sizeof(x->service), "%s",
             json_string_value(json_object_get(j, "service")));
    /* "2015-08-30T12:36:00Z" -> "20150830T123600Z" */
    const char *ts = json_string_value(json_object_get(j, "timestamp"));
    char amz[17];
    size_t o = 0;
    for (size_t i = 0; ts && ts[i] && o < 16; i++) {
        if (ts[i] != '-' && ts[i] != ':')
            amz[o++] = ts[i];
    }
    amz[o] = '\0';
    if (!sigv4_parse_amz_date(amz, o, &x->time))
        fail_msg("%s: bad timestamp", dir);
    x->expires = (uint32_t)json_integer_value(json_object_get(j, "expiration_in_seconds"));
    if (json_is_false(json_object_get(j, "normalize")))
        x->flags |= SIGV4_F_NO_NORMALIZE;
    if (json_is_true(json_object_get(j, "s3_path")))
        x->flags |= SIGV4_F_S3_PATH;
    x->omit_token = json_is_true(json_object_get(j, "omit_session_token"));
    if (x->omit_token)
        x->flags |= SIGV4_F_TOKEN_UNSIGNED;
    x->sign_body = json_is_true(json_object_get(j, "sign_body"));
    x->verify_only = json_is_true(json_object_get(j, "verify_only"));
    const char *sh = json_string_value(json_object_get(j, "signed_headers"));
    snprintf(x->signed_headers, sizeof(x->signed_headers), "%s", sh ? sh : "");
    json_decref(j);
}

static void run_crt_kind(const struct suite_case *c, const struct crt_ctx *x, bool query)
{
    const char *k = query ? "query" : "header";
    char creq[64], sts[64], sigf[64], sreqf[64], why[512];
    snprintf(creq, sizeof(creq), "%s-canonical-request.txt", k);
    snprintf(sts, sizeof(sts), "%s-string-to-sign.txt", k);
    snprintf(sigf, sizeof(sigf), "%s-signature.txt", k);
    snprintf(sreqf, sizeof(sreqf), "%s-signed-request.txt", k);
    if (!exists(c->dir, creq))
        return;
    struct store s = {x->akid, x->secret, x->has_token ? x->token : NULL};
    const char *regions[] = {x->region};
    struct sigv4_verifier v = {.service = x->service,
                               .regions = regions,
                               .nregions = 1,
                               .flags = x->flags & (SIGV4_F_NO_NORMALIZE | SIGV4_F_S3_PATH),
                               .lookup = store_lookup,
                               .lookup_ctx = &s};
    /* Query form with the token outside the signature: the verifier follows
     * spec §2.1 ("keep every other X-Amz-* parameter"), so that URL cannot
     * verify; aws-c-auth's omit_session_token mode is a signer-side option. */
    enum sigv4_status want = (query && x->omit_token) ? SIGV4_SIGNATURE_MISMATCH : SIGV4_OK;

    if (!x->verify_only) {
        struct http_msg m;
        load_msg(c->dir, "request.txt", FOLD_JOIN, &m);
        struct sigv4_credentials cr = {x->akid, x->secret, x->has_token ? x->token : NULL};
        struct sigv4_sign_params p = {
            .creds = &cr,
            .region = x->region,
            .service = x->service,
            .time = x->time,
            .flags = x->flags | (x->sign_body && !query ? SIGV4_F_CONTENT_SHA256 : 0),
            .signed_headers = x->signed_headers[0] ? x->signed_headers : NULL,
            .expires = x->expires,
        };
        struct sigv4_trace tr;
        sigv4_trace_init(&tr);
        struct ks_diag d;
        ks_diag_clear(&d);
        enum ks_err e =
            query ? sigv4_presign(&m.req, &p, &tr, &d) : sigv4_sign(&m.req, &p, &tr, &d);
        if (e != KS_OK)
            fail_msg("%s: %s: %s", c->name, query ? "presign" : "sign", d.msg);
        expect_file(c->dir, creq, tr.canonical_request.data, tr.canonical_request.len);
        expect_file(c->dir, sts, tr.string_to_sign.data, tr.string_to_sign.len);
        expect_file(c->dir, sigf, tr.signature, strlen(tr.signature));
        if (exists(c->dir, sreqf)) {
            struct http_msg sreq;
            load_msg(c->dir, sreqf, FOLD_JOIN, &sreq);
            if (!http_same(&m.req, &sreq.req, why, sizeof(why)))
                fail_msg("%s: %s: %s", c->name, sreqf, why);
            http_msg_release(&sreq);
        }
        verify_expect(&v, &m.req, x->time, want, "our signed request", c->dir,
                      want == SIGV4_OK ? creq : NULL, sts);
        sigv4_trace_release(&tr);
        http_msg_release(&m);
    }
    if (exists(c->dir, sreqf)) {
        struct http_msg sreq;
        load_msg(c->dir, sreqf, FOLD_JOIN, &sreq);
        verify_expect(&v, &sreq.req, x->time, want, sreqf, c->dir, want == SIGV4_OK ? creq : NULL,
                      sts);
        http_msg_release(&sreq);
    }
}

static void test_crt(void **state)
{
    const struct suite_case *c = *state;
    struct crt_ctx x;
    load_context(c->dir, &x);
    run_crt_kind(c, &x, false);
    run_crt_kind(c, &x, true);
}

static void test_skip(void **state)
{
    (void)state; /* the reason is printed once, in the summary line */
    skip();
}

/* ---- discovery ---------------------------------------------------------- */

struct case_list {
    struct suite_case *v;
    size_t n, cap;
};

static void add_case(struct case_list *l, const char *name, const char *dir, const char *stem,
                     enum case_kind kind, const char *why)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] =
        (struct suite_case){strdup(name), strdup(dir), stem ? strdup(stem) : NULL, kind, why};
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entry names of dir (no dot names); NULL when dir is absent. */
static char **list_dir(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **v = NULL;
    size_t cap = 0;
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 32;
            v = realloc(v, cap * sizeof(*v));
        }
        v[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(v, *n, sizeof(*v), str_cmp);
    return v;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* 2015 suite: every <dir>/<stem>.req, groups nested one level or more. */
static void find_2015(struct case_list *l, const char *root, const char *rel)
{
    char *dir = rel[0] ? path_join(root, rel) : strdup(root);
    size_t n;
    char **names = list_dir(dir, &n);
    for (size_t i = 0; names && i < n; i++) {
        char *p = path_join(dir, names[i]);
        size_t len = strlen(names[i]);
        if (is_dir(p)) {
            char *r = rel[0] ? path_join(rel, names[i]) : strdup(names[i]);
            find_2015(l, root, r);
            free(r);
        } else if (len > 4 && strcmp(names[i] + len - 4, ".req") == 0) {
            char stem[256], name[512];
            snprintf(stem, sizeof(stem), "%.*s", (int)(len - 4), names[i]);
            snprintf(name, sizeof(name), "sigv4-test-suite/%s", rel);
            add_case(l, name, dir, stem, CASE_2015, NULL);
        }
        free(p);
    }
    free_list(names, names ? n : 0);
    free(dir);
}

static void find_crt(struct case_list *l, const char *root, const char *label, enum case_kind kind,
                     const char *why)
{
    size_t n;
    char **names = list_dir(root, &n);
    for (size_t i = 0; names && i < n; i++) {
        char *p = path_join(root, names[i]);
        char name[512];
        snprintf(name, sizeof(name), "%s/%s", label, names[i]);
        if (is_dir(p) && exists(p, "context.json"))
            add_case(l, name, p, NULL, kind, why);
        free(p);
    }
    free_list(names, names ? n : 0);
}

int run_suites(const char *shared, const char *own)
{
    struct case_list l = {0};
    char path[4096];
    size_t mark;

    /* 2015: 31 cases per its README; fewer means the copy is damaged. */
    snprintf(path, sizeof(path), "%s/sigv4-test-suite", shared ? shared : "/nonexistent");
    mark = l.n;
    find_2015(&l, path, "");
    size_t n2015 = l.n - mark;
    if (n2015 == 0)
        add_case(&l, "sigv4-test-suite (absent)", path, NULL, CASE_ABSENT,
                 "third-party data not found; set KS_SHARED_DIR to the shared folder");

    snprintf(path, sizeof(path), "%s/sigv4-signing-test-suite-aws-c-auth/v4",
             shared ? shared : "/nonexistent");
    mark = l.n;
    find_crt(&l, path, "aws-c-auth/v4", CASE_CRT, NULL);
    size_t ncrt = l.n - mark;
    if (ncrt == 0)
        add_case(&l, "aws-c-auth/v4 (absent)", path, NULL, CASE_ABSENT,
                 "third-party data not found; set KS_SHARED_DIR to the shared folder");
    snprintf(path, sizeof(path), "%s/sigv4-signing-test-suite-aws-c-auth/v4a",
             shared ? shared : "/nonexistent");
    mark = l.n;
    find_crt(&l, path, "aws-c-auth/v4a", CASE_SKIP, NULL);
    size_t nv4a = l.n - mark;

    mark = l.n;
    find_crt(&l, own, "own", CASE_CRT, NULL);
    size_t nown = l.n - mark;

    struct CMUnitTest *tests = calloc(l.n + 1, sizeof(*tests));
    for (size_t i = 0; i < l.n; i++) {
        struct suite_case *c = &l.v[i];
        tests[i].name = c->name;
        tests[i].initial_state = c;
        tests[i].test_func = c->kind == CASE_2015  ? test_2015
                             : c->kind == CASE_CRT ? test_crt
                                                   : test_skip;
        if (c->kind == CASE_ABSENT)
            print_message("sigv4 suites: %s: %s\n", c->dir, c->why);
    }
    print_message("sigv4 suites: 2015 suite %zu cases (expected 31), aws-c-auth v4 %zu cases "
                  "(expected 38, header + query form each), own %zu vectors; aws-c-auth v4a %zu "
                  "cases skipped: SigV4a (ECDSA P-256 signatures over region sets) is out of "
                  "scope, KMS and our clients use SigV4\n",
                  n2015, ncrt, nown, nv4a);
    int failed = _cmocka_run_group_tests("sigv4_suites", tests, l.n, NULL, NULL);
    /* The README counts are part of the contract: a partial copy fails. */
    if (n2015 && n2015 != 31) {
        print_error("sigv4-test-suite holds %zu cases, expected 31\n", n2015);
        failed++;
    }
    if (ncrt && ncrt != 38) {
        print_error("aws-c-auth/v4 holds %zu cases, expected 38\n", ncrt);
        failed++;
    }
    if (nown == 0) {
        print_error("no own vectors under %s\n", own);
        failed++;
    }
    for (size_t i = 0; i < l.n; i++) {
        free(l.v[i].name);
        free(l.v[i].dir);
        free(l.v[i].stem);
    }
    free(l.v);
    free(tests);
    return failed;
}
