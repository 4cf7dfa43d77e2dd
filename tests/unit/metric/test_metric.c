/* SPDX-License-Identifier: Apache-2.0 */
/* Metric filters and the metric store (spec/metric-filters.md §3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "metric/metric.h"
#include "store/store.h"

#include <unistd.h>

#include <math.h>

#define T0 1700000000000LL /* an arbitrary whole second, in ms */

static void test_store_stats_ranges(void **state)
{
    (void)state;
    struct metric_store *st = metric_store_new();
    size_t s = metric_store_series(st, "NS", "M", NULL, 0, NULL);
    /* out of order on purpose: late samples insert in place */
    const int64_t t[] = {5000, 1000, 1999, 12000, 3000, 0, 9999};
    const double v[] = {5, 1, 2, 12, 3, 0.5, 9};
    for (size_t i = 0; i < 7; i++)
        metric_store_add(st, s, T0 + t[i], v[i]);
    struct metric_stats out;
    assert_true(metric_store_stats(st, s, T0, T0 + 10000, &out));
    assert_true(out.sample_count == 6);
    assert_true(fabs(out.sum - (5 + 1 + 2 + 3 + 0.5 + 9)) < 1e-9);
    assert_true(out.minimum == 0.5 && out.maximum == 9);
    /* [1 s, 2 s) holds the samples at 1000 and 1999 ms */
    assert_true(metric_store_stats(st, s, T0 + 1000, T0 + 2000, &out));
    assert_true(out.sample_count == 2 && out.sum == 3);
    /* an empty range is missing, not zero */
    assert_false(metric_store_stats(st, s, T0 + 20000, T0 + 30000, &out));
    metric_store_expire(st, T0 + 5000);
    assert_true(metric_store_stats(st, s, T0, T0 + 60000, &out));
    assert_true(out.sample_count == 3); /* 5, 9, 12 survive */
    metric_store_free(st);
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_percentiles_within_bound(void **state)
{
    (void)state;
    struct metric_store *st = metric_store_new();
    size_t s = metric_store_series(st, "NS", "Latency", NULL, 0, "Milliseconds");
    enum { N = 5000 };
    static double vals[N];
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift: deterministic */
        vals[i] = 0.1 + (double)(x % 1000000) / 100.0;
        metric_store_add(st, s, T0 + (int64_t)(i % 60) * 1000, vals[i]);
    }
    qsort(vals, N, sizeof(double), dcmp);
    const double ps[] = {0, 1, 10, 50, 90, 99, 99.9, 100};
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        double got;
        assert_true(metric_store_percentile(st, s, T0, T0 + 60000, ps[i], &got));
        size_t rank = (size_t)ceil(ps[i] / 100.0 * N);
        double exact = vals[rank ? rank - 1 : 0];
        double err = fabs(got - exact) / exact;
        if (err > METRIC_SKETCH_ALPHA + 1e-9)
            print_error("p%g: got %g exact %g (error %g)\n", ps[i], got, exact, err);
        assert_true(err <= METRIC_SKETCH_ALPHA + 1e-9);
    }
    /* negative samples make percentiles unavailable, as in CloudWatch */
    size_t n = metric_store_series(st, "NS", "Delta", NULL, 0, NULL);
    metric_store_add(st, n, T0, -1);
    metric_store_add(st, n, T0, 3);
    double got;
    assert_false(metric_store_percentile(st, n, T0, T0 + 1000, 50, &got));
    metric_store_free(st);
}

static void test_series_identity(void **state)
{
    (void)state;
    struct metric_store *st = metric_store_new();
    struct metric_dim ab[] = {{"A", "1"}, {"B", "2"}};
    struct metric_dim ba[] = {{"B", "2"}, {"A", "1"}};
    size_t s1 = metric_store_series(st, "NS", "M", ab, 2, NULL);
    size_t s2 = metric_store_series(st, "NS", "M", ba, 2, NULL);
    assert_int_equal(s1, s2); /* dimension order does not matter */
    size_t s3 = metric_store_series(st, "NS", "M", ab, 1, NULL);
    assert_int_not_equal(s1, s3); /* a different dimension set is another metric */
    size_t s4 = metric_store_series(st, "NS", "M", ab, 2, "Count");
    assert_int_not_equal(s1, s4);
    assert_int_equal(metric_store_find(st, "NS", "M", ba, 2, "None"), (long)s1);
    assert_int_equal(metric_store_find(st, "NS", "M", ba, 2, NULL), -1); /* two units: ambiguous */
    assert_int_equal(metric_store_find(st, "NS", "M", ab, 1, NULL), (long)s3);
    assert_int_equal(metric_store_find(st, "NS", "X", NULL, 0, NULL), -1);
    for (int i = 0; i < 500; i++) { /* the hash table grows */
        char v[16];
        snprintf(v, sizeof(v), "%d", i);
        struct metric_dim d = {"K", v};
        metric_store_series(st, "NS", "Many", &d, 1, NULL);
    }
    assert_int_equal(metric_store_series_count(st), 503); /* s1, s3, s4 and 500 more */
    assert_int_equal(metric_store_find(st, "NS", "M", ab, 2, "Count"), (long)s4);
    metric_store_free(st);
}

static const char kms_ok[] =
    "{\"eventSource\":\"kms.amazonaws.com\",\"eventName\":\"Decrypt\",\"latency\":\"42\","
    "\"resources\":[{\"ARN\":\"arn:aws:kms:us-east-1:111122223333:key/k1\"}]}";
static const char kms_err[] =
    "{\"eventSource\":\"kms.amazonaws.com\",\"eventName\":\"Decrypt\",\"errorCode\":"
    "\"IncorrectKeyException\",\"latency\":7,\"resources\":[{\"ARN\":\"arn:aws:kms:us-east-1:"
    "111122223333:key/k2\"}]}";
static const char kms_nores[] =
    "{\"eventSource\":\"kms.amazonaws.com\",\"eventName\":\"Encrypt\",\"latency\":{}}";
static const char other[] = "{\"eventSource\":\"s3.amazonaws.com\",\"eventName\":\"GetObject\"}";

static double sum_of(struct metric_store *st, const char *ns, const char *name,
                     const struct metric_dim *d, size_t nd)
{
    long s = metric_store_find(st, ns, name, d, nd, NULL);
    struct metric_stats out;
    if (s < 0 || !metric_store_stats(st, (size_t)s, T0 - 3600000, T0 + 3600000, &out))
        return -1;
    return out.sum;
}

static void test_filters_values_defaults_dimensions(void **state)
{
    (void)state;
    struct metric_filters *mf = metric_filters_new();
    struct ks_diag d;
    struct metric_filter_def errors = {.name = "KMSErrors",
                                       .pattern = "{ $.errorCode = \"*\" }",
                                       .namespace_ = "Lab",
                                       .metric_name = "Errors",
                                       .value = "1",
                                       .has_default = true,
                                       .default_value = 0};
    struct metric_filter_def per_key = {.name = "PerKey",
                                        .pattern = "{ $.eventSource = kms.amazonaws.com }",
                                        .namespace_ = "Lab",
                                        .metric_name = "Calls",
                                        .value = "1",
                                        .ndims = 1,
                                        .dims = {{"KeyArn", "$.resources[0].ARN"}}};
    struct metric_filter_def latency = {.name = "Latency",
                                        .pattern = "{ $.eventSource = kms.amazonaws.com }",
                                        .namespace_ = "Lab",
                                        .metric_name = "Latency",
                                        .value = "$.latency"};
    struct metric_filter_def bytes = {.name = "Bytes",
                                      .pattern = "[ip, user, status = 4*, bytes]",
                                      .namespace_ = "Web",
                                      .metric_name = "Bytes",
                                      .value = "$bytes",
                                      .ndims = 1,
                                      .dims = {{"Status", "$status"}}};
    assert_int_equal(metric_filters_add(mf, &errors, &d), 0);
    assert_int_equal(metric_filters_add(mf, &per_key, &d), 1);
    assert_int_equal(metric_filters_add(mf, &latency, &d), 2);
    assert_int_equal(metric_filters_add(mf, &bytes, &d), 3);
    metric_filters_finish(mf);
    struct metric_store *st = metric_store_new();
    const char *evs[] = {kms_ok, kms_err, kms_nores, other, "10.0.0.1 bob 404 1500",
                         "10.0.0.2 amy 500 99", "10.0.0.3 joe 403 x"};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        metric_filters_apply(mf, evs[i], strlen(evs[i]), T0 + (int64_t)i * 1000, st);

    /* errors: 1 match + 6 default zeros; Sum 1, SampleCount 7 (one default per event) */
    assert_true(sum_of(st, "Lab", "Errors", NULL, 0) == 1);
    assert_int_equal(metric_filters_stats(mf, 0)->matched, 1);
    assert_int_equal(metric_filters_stats(mf, 0)->defaults, 6);
    /* per key: k1 and k2 one each; the event without resources lands without the dimension */
    struct metric_dim k1 = {"KeyArn", "arn:aws:kms:us-east-1:111122223333:key/k1"};
    struct metric_dim k2 = {"KeyArn", "arn:aws:kms:us-east-1:111122223333:key/k2"};
    assert_true(sum_of(st, "Lab", "Calls", &k1, 1) == 1);
    assert_true(sum_of(st, "Lab", "Calls", &k2, 1) == 1);
    assert_true(sum_of(st, "Lab", "Calls", NULL, 0) == 1);
    assert_int_equal(metric_filters_stats(mf, 1)->dims_dropped, 1);
    /* latency: "42" (numeric string) + 7; the object latency emits nothing (M2) */
    assert_true(sum_of(st, "Lab", "Latency", NULL, 0) == 49);
    assert_int_equal(metric_filters_stats(mf, 2)->no_value, 1);
    /* space-delimited: $bytes of 404 (1500); 403 x is not numeric */
    struct metric_dim s404 = {"Status", "404"};
    assert_true(sum_of(st, "Web", "Bytes", &s404, 1) == 1500);
    assert_int_equal(metric_filters_stats(mf, 3)->matched, 2);
    assert_int_equal(metric_filters_stats(mf, 3)->no_value, 1);
    metric_store_free(st);
    metric_filters_free(mf);
}

/* A filter sees only the events of its own log group; METRIC_GROUP_ANY
 * events reach every filter (docs/serve.md, "Sources"). */
static void test_filters_log_groups(void **state)
{
    (void)state;
    struct metric_filters *mf = metric_filters_new();
    struct ks_diag d;
    struct metric_filter_def a = {.name = "A",
                                  .pattern = "{ $.eventSource = kms.amazonaws.com }",
                                  .namespace_ = "G",
                                  .metric_name = "A",
                                  .value = "1",
                                  .group = 1};
    struct metric_filter_def b = a, b_all = a;
    b.name = b.metric_name = "B";
    b.group = 2;
    /* a default makes every event group 2 sees visible as a sample */
    b_all.name = b_all.metric_name = "BAll";
    b_all.pattern = "GetObject";
    b_all.has_default = true;
    b_all.default_value = 0;
    b_all.group = 2;
    assert_int_equal(metric_filters_add(mf, &a, &d), 0);
    assert_int_equal(metric_filters_add(mf, &b, &d), 1);
    assert_int_equal(metric_filters_add(mf, &b_all, &d), 2);
    metric_filters_finish(mf);
    struct metric_store *st = metric_store_new();
    const struct {
        unsigned group;
        const char *ev;
        size_t want; /* filters of the group that match */
    } rows[] = {
        {1, kms_ok, 1},
        {1, kms_err, 1},
        {1, other, 0},
        {2, kms_ok, 1},
        {2, other, 1},
        {3, kms_ok, 0}, /* a group without filters */
        {METRIC_GROUP_ANY, kms_ok, 2},
        {1, kms_ok, 1}, /* the group mask is rebuilt when the group changes */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        size_t got =
            metric_filters_apply_group(mf, rows[i].group, rows[i].ev, strlen(rows[i].ev), T0, st);
        if (got != rows[i].want)
            print_error("row %zu: group %u matched %zu, want %zu\n", i, rows[i].group, got,
                        rows[i].want);
        assert_int_equal(got, rows[i].want);
    }
    assert_int_equal(metric_filters_stats(mf, 0)->matched, 4); /* rows 0, 1, 6, 7 */
    assert_int_equal(metric_filters_stats(mf, 1)->matched, 2); /* rows 3, 6 */
    /* BAll sees rows 3, 4 and 6 only: one match (4) and two defaults */
    assert_int_equal(metric_filters_stats(mf, 2)->matched, 1);
    assert_int_equal(metric_filters_stats(mf, 2)->defaults, 2);
    metric_store_free(st);
    metric_filters_free(mf);
}

/* ---- context: the newest matches' fields, extracted lazily ---------------- */

struct seen {
    size_t n;
    char id[1000][64];
    char principal[1000][256];
    char key[1000][256];
    char ip[1000][64];
    char error[1000][96];
    char agent[1000][160];
    char name[1000][64];
    uint64_t offset[1000];
    int64_t time_ms[1000];
    char file[1000][16];
};

static void seen_add(void *ud, const struct metric_event_info *ev)
{
    struct seen *s = ud;
    if (s->n == 1000)
        return;
    size_t i = s->n++;
    snprintf(s->id[i], sizeof(s->id[i]), "%s", ev->event_id);
    snprintf(s->principal[i], sizeof(s->principal[i]), "%s", ev->principal);
    snprintf(s->key[i], sizeof(s->key[i]), "%s", ev->key);
    snprintf(s->ip[i], sizeof(s->ip[i]), "%s", ev->source_ip);
    snprintf(s->error[i], sizeof(s->error[i]), "%s", ev->error_code);
    snprintf(s->agent[i], sizeof(s->agent[i]), "%s", ev->user_agent);
    snprintf(s->name[i], sizeof(s->name[i]), "%s", ev->event_name);
    snprintf(s->file[i], sizeof(s->file[i]), "%s", ev->file);
    s->offset[i] = ev->offset;
    s->time_ms[i] = ev->time_ms;
}

/* Record i: padding first, so its fields lie after pad bytes; a user agent
 * longer than the field (truncated to 159 bytes), an escaped error code. */
static size_t ctx_record(char *buf, size_t size, size_t i, size_t pad, bool issuer)
{
    int n =
        snprintf(buf, size,
                 "{\"pad\":\"%*s\",\"eventSource\":\"kms.amazonaws.com\","
                 "\"eventName\":\"Decrypt\",\"userIdentity\":{\"arn\":\"arn:user/%zu\"%s},"
                 "\"sourceIPAddress\":\"10.0.%zu\",\"userAgent\":\"%0200zu\","
                 "\"errorCode\":\"E\\u0041\",\"requestParameters\":{\"keyId\":\"k%zu\"},"
                 "\"eventID\":\"id-%zu\"}",
                 (int)pad, "", i,
                 issuer ? ",\"sessionContext\":{\"sessionIssuer\":{\"arn\":\"arn:role/r\"}}" : "",
                 i, i, i, i);
    assert_true(n > 0 && (size_t)n < size);
    return (size_t)n;
}

static void check_seen(const struct seen *s, size_t k, size_t i, bool issuer)
{
    char want[256];
    snprintf(want, sizeof(want), "id-%zu", i);
    if (strcmp(s->id[k], want))
        print_error("event %zu: id '%s', want '%s'\n", k, s->id[k], want);
    assert_string_equal(s->id[k], want);
    snprintf(want, sizeof(want), issuer ? "arn:role/r" : "arn:user/%zu", i);
    assert_string_equal(s->principal[k], want);
    snprintf(want, sizeof(want), "k%zu", i);
    assert_string_equal(s->key[k], want);
    snprintf(want, sizeof(want), "10.0.%zu", i);
    assert_string_equal(s->ip[k], want);
    assert_string_equal(s->error[k], "EA");
    assert_string_equal(s->name[k], "Decrypt");
    snprintf(want, sizeof(want), "%0200zu", i);
    want[159] = '\0';
    assert_string_equal(s->agent[k], want);
    assert_string_equal(s->file[k], "f.json");
    assert_int_equal(s->offset[k], i);
    assert_int_equal(s->time_ms[k], T0 + (int64_t)i * 1000);
}

static void test_context_ring(void **state)
{
    (void)state;
    struct metric_filters *mf = metric_filters_new();
    struct ks_diag d;
    struct metric_filter_def a = {.name = "A",
                                  .pattern = "{ $.eventSource = kms.amazonaws.com }",
                                  .namespace_ = "C",
                                  .metric_name = "A",
                                  .value = "1"};
    static const char *const names[6] = {"A", "B", "C", "D", "E", "F"};
    for (int m = 0; m < 6; m++) {
        struct metric_filter_def b = a;
        b.name = b.metric_name = names[m];
        assert_int_equal(metric_filters_add(mf, &b, &d), m);
    }
    metric_filters_finish(mf);
    struct metric_store *st = metric_store_new();
    struct metric_match *mm = metric_match_new(mf);
    struct seen *s = calloc(1, sizeof(*s));
    size_t size = 16u << 10;
    char *buf = malloc(size * 7);
    size_t len[7];
    /* 1,500 records of 9 KB into six rings: two reach 2 MiB
     * (METRIC_CONTEXT_BYTES), the other four stop at 1 MiB, when the six
     * hold 8 MiB (METRIC_CONTEXT_BYTES_ALL). The bytes wrap several times, so
     * most matches in the rings have their fields extracted when their bytes
     * are overwritten. Batches of 7, as serve matches them. */
    metric_filters_set_origin(mf, "f.json", 0);
    for (size_t i = 0; i < 1500; i += 7) {
        metric_match_reset(mm);
        size_t nb = i + 7 <= 1500 ? 7 : 1500 - i;
        for (size_t j = 0; j < nb; j++) {
            len[j] = ctx_record(buf + j * size, size, i + j, 9000, (i + j) % 3 == 0);
            assert_int_equal(metric_filters_match(mm, METRIC_GROUP_ANY, buf + j * size, len[j]), j);
        }
        for (size_t j = 0; j < nb; j++) {
            metric_filters_set_origin(mf, "f.json", i + j);
            assert_int_equal(metric_filters_emit(mf, mm, j, T0 + (int64_t)(i + j) * 1000, st), 6);
        }
        if (i == 700) { /* a transition midway extracts some of them early */
            long series = metric_store_find(st, "C", "A", NULL, 0, NULL);
            memset(s, 0, sizeof(*s));
            assert_int_equal(
                metric_filters_recent(mf, series, T0 + 650000, T0 + 690000, seen_add, s), 40);
            for (size_t k = 0; k < 40; k++)
                check_seen(s, k, 689 - k, (689 - k) % 3 == 0);
        }
    }
    for (int m = 0; m < 6; m++) {
        long series = metric_store_find(st, "C", names[m], NULL, 0, NULL);
        assert_true(series >= 0);
        memset(s, 0, sizeof(*s));
        assert_int_equal(metric_filters_recent(mf, series, T0, T0 + 2000000, seen_add, s), 1000);
        for (size_t k = 0; k < 1000; k++) /* newest first */
            check_seen(s, k, 1499 - k, (1499 - k) % 3 == 0);
    }
    /* a window picks its matches only */
    long series = metric_store_find(st, "C", "F", NULL, 0, NULL);
    memset(s, 0, sizeof(*s));
    assert_int_equal(metric_filters_recent(mf, series, T0 + 600000, T0 + 610000, seen_add, s), 10);
    check_seen(s, 0, 609, true); /* 609 % 3 == 0 */
    metric_match_free(mm);
    metric_store_free(st);
    metric_filters_free(mf);

    /* a record larger than a whole ring has its fields extracted at once
     * (metric_filters_apply does not cap events; readers do, at 1 MiB) */
    mf = metric_filters_new();
    assert_int_equal(metric_filters_add(mf, &a, &d), 0);
    metric_filters_finish(mf);
    st = metric_store_new();
    size_t big = METRIC_CONTEXT_BYTES + (64u << 10);
    free(buf);
    buf = malloc(big + 1024);
    metric_filters_set_origin(mf, "f.json", 5);
    size_t n = ctx_record(buf, big + 1024, 5, big, true);
    assert_int_equal(metric_filters_apply(mf, buf, n, T0 + 5000, st), 1);
    metric_filters_set_origin(mf, "f.json", 6);
    n = ctx_record(buf, big + 1024, 6, 100, false);
    assert_int_equal(metric_filters_apply(mf, buf, n, T0 + 6000, st), 1);
    /* the context fields are not part of matching: a record malformed on
     * their paths only (the fast skim passes over it) matches as in
     * test-pattern, and its fields are "" */
    const char *bad = "{\"eventSource\":\"kms.amazonaws.com\",\"eventID\":01}";
    assert_int_equal(metric_filters_apply(mf, bad, strlen(bad), T0 + 7000, st), 1);
    series = metric_store_find(st, "C", "A", NULL, 0, NULL);
    memset(s, 0, sizeof(*s));
    assert_int_equal(metric_filters_recent(mf, series, T0, T0 + 10000, seen_add, s), 3);
    assert_string_equal(s->id[0], "");
    assert_string_equal(s->name[0], "");
    assert_int_equal(s->time_ms[0], T0 + 7000);
    check_seen(s, 1, 6, false);
    check_seen(s, 2, 5, true);
    metric_store_free(st);
    metric_filters_free(mf);
    free(buf);
    free(s);
}

static void test_filter_definition_errors(void **state)
{
    (void)state;
    struct {
        struct metric_filter_def def;
        const char *msg;
    } rows[] = {
        {{.name = "a",
          .pattern = "ERROR",
          .namespace_ = "N",
          .metric_name = "M",
          .value = "1",
          .ndims = 1,
          .dims = {{"K", "$.x"}}},
         "does not support dimensions"},
        {{.name = "b",
          .pattern = "{ $.a = 1 }",
          .namespace_ = "N",
          .metric_name = "M",
          .value = "1",
          .has_default = true,
          .ndims = 1,
          .dims = {{"K", "$.x"}}},
         "defaultValue cannot be combined"},
        {{.name = "c", .pattern = "{ $.a = 1", .namespace_ = "N", .metric_name = "M", .value = "1"},
         "must end with '}'"},
        {{.name = "d",
          .pattern = "{ $.a = 1 }",
          .namespace_ = "N",
          .metric_name = "M",
          .value = "lots"},
         "must be a number"},
        {{.name = "e", .pattern = "ERROR", .namespace_ = "N", .metric_name = "M", .value = "$.x"},
         "only JSON and space-delimited"},
        {{.name = "f", .pattern = "[a, b]", .namespace_ = "N", .metric_name = "M", .value = "$.b"},
         "$name or $n"},
        {{.name = "g",
          .pattern = "{ $.a = 1 }",
          .namespace_ = "",
          .metric_name = "M",
          .value = "1"},
         "needs a namespace"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct metric_filters *mf = metric_filters_new();
        struct ks_diag d;
        int rc = metric_filters_add(mf, &rows[i].def, &d);
        if (rc >= 0 || !strstr(d.msg, rows[i].msg))
            print_error("row %zu: rc %d msg '%s', expected '%s'\n", i, rc, d.msg, rows[i].msg);
        assert_true(rc < 0);
        assert_non_null(strstr(d.msg, rows[i].msg));
        metric_filters_free(mf);
    }
}

static void test_cardinality_guard(void **state)
{
    (void)state;
    struct metric_filters *mf = metric_filters_new();
    struct ks_diag d;
    struct metric_filter_def def = {.name = "PerIP", .pattern = "{ $.ip = * }",
                                    .namespace_ = "N", .metric_name = "M", .value = "1",
                                    .ndims = 1, .dims = {{"IP", "$.ip"}}};
    assert_int_equal(metric_filters_add(mf, &def, &d), 0);
    metric_filters_finish(mf);
    struct metric_store *st = metric_store_new();
    char ev[64];
    for (int i = 0; i < 1200; i++) {
        int n = snprintf(ev, sizeof(ev), "{\"ip\":\"10.0.%d.%d\"}", i / 256, i % 256);
        metric_filters_apply(mf, ev, (size_t)n, T0 + i * 1000, st); /* 1200 in 20 minutes */
    }
    assert_true(metric_filters_stats(mf, 0)->disabled);
    assert_int_equal(metric_store_series_count(st), METRIC_MAX_SERIES_PER_HOUR);
    metric_store_free(st);
    metric_filters_free(mf);

    /* the same number spread over more than an hour per thousand stays enabled */
    mf = metric_filters_new();
    assert_int_equal(metric_filters_add(mf, &def, &d), 0);
    metric_filters_finish(mf);
    st = metric_store_new();
    for (int i = 0; i < 1200; i++) {
        int n = snprintf(ev, sizeof(ev), "{\"ip\":\"10.0.%d.%d\"}", i / 256, i % 256);
        metric_filters_apply(mf, ev, (size_t)n, T0 + (int64_t)i * 4000, st); /* 80 minutes */
    }
    assert_false(metric_filters_stats(mf, 0)->disabled);
    metric_store_free(st);
    metric_filters_free(mf);
}

static void test_persistence_round_trip(void **state)
{
    (void)state;
    char path[] = "/tmp/ks-metric-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct store *db;
    struct ks_diag d;
    assert_int_equal(store_open(path, &db, &d), KS_OK);
    struct metric_store *a = metric_store_new();
    struct metric_dim dim = {"KeyArn", "arn:aws:kms:us-east-1:111122223333:key/k1"};
    size_t s = metric_store_series(a, "Lab", "Calls", &dim, 1, "Count");
    size_t z = metric_store_series(a, "Lab", "Zeros", NULL, 0, NULL);
    for (int i = 0; i < 300; i++)
        metric_store_add(a, s, T0 + i * 250, (double)(i % 17) + 0.5);
    metric_store_add(a, z, T0, 0);
    assert_int_equal(store_begin(db, &d), KS_OK);
    assert_int_equal(metric_store_save(a, db, &d), KS_OK);
    struct store_checkpoint cp = {.offset = 42, .events = 301, .watermark_ms = T0};
    snprintf(cp.file, sizeof(cp.file), "%s", "trail/a.json.gz");
    assert_int_equal(store_checkpoint_put(db, "replay", &cp, &d), KS_OK);
    assert_int_equal(store_commit(db, &d), KS_OK);
    /* a second save after more samples only rewrites what changed */
    metric_store_add(a, s, T0 + 100000, 1000);
    assert_int_equal(store_begin(db, &d), KS_OK);
    assert_int_equal(metric_store_save(a, db, &d), KS_OK);
    assert_int_equal(store_commit(db, &d), KS_OK);
    assert_int_equal(sqlite3_changes(store_db(db)), 1);
    store_close(db);

    assert_int_equal(store_open(path, &db, &d), KS_OK); /* reopen: migrations are idempotent */
    struct metric_store *b = metric_store_new();
    assert_int_equal(metric_store_load(b, db, &d), KS_OK);
    struct store_checkpoint got;
    bool found;
    assert_int_equal(store_checkpoint_get(db, "replay", &got, &found, &d), KS_OK);
    assert_true(found && got.offset == 42 && got.events == 301);
    assert_string_equal(got.file, "trail/a.json.gz");
    long sb = metric_store_find(b, "Lab", "Calls", &dim, 1, "Count");
    assert_true(sb >= 0);
    struct metric_stats x, y;
    assert_true(metric_store_stats(a, s, T0, T0 + 200000, &x));
    assert_true(metric_store_stats(b, (size_t)sb, T0, T0 + 200000, &y));
    assert_memory_equal(&x, &y, sizeof(x));
    double p1, p2;
    assert_true(metric_store_percentile(a, s, T0, T0 + 200000, 90, &p1));
    assert_true(metric_store_percentile(b, (size_t)sb, T0, T0 + 200000, 90, &p2));
    assert_true(p1 == p2);
    assert_true(metric_store_find(b, "Lab", "Zeros", NULL, 0, NULL) >= 0);
    metric_store_free(a);
    metric_store_free(b);
    store_close(db);
    unlink(path);
    char wal[64];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", path);
    unlink(wal);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_stats_ranges),
        cmocka_unit_test(test_percentiles_within_bound),
        cmocka_unit_test(test_series_identity),
        cmocka_unit_test(test_filters_values_defaults_dimensions),
        cmocka_unit_test(test_filters_log_groups),
        cmocka_unit_test(test_context_ring),
        cmocka_unit_test(test_filter_definition_errors),
        cmocka_unit_test(test_cardinality_guard),
        cmocka_unit_test(test_persistence_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
