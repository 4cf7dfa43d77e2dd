/* SPDX-License-Identifier: Apache-2.0 */
/*
 * StateReason and StateReasonData as AWS writes them (spec §6): the captured
 * examples of §6.1 / §6.2 reproduced byte for byte, the [?] wordings we chose,
 * Java-style numbers, and the length caps.
 */
#include <jansson.h>
#include <math.h>

#include "test_alarm.h"

/* ---- numbers and times ---------------------------------------------------------- */

struct num_row {
    double v;
    const char *want;
};

static const struct num_row num_rows[] = {
    {3, "3.0"},
    {0, "0.0"},
    {-0.0, "-0.0"},
    {42.73, "42.73"},
    {0.0025642349034637954, "0.0025642349034637954"},
    {38.839999999999996, "38.839999999999996"},
    {38.395433048854194, "38.395433048854194"},
    {1e7, "1.0E7"},
    {9999999, "9999999.0"},
    {12345678.9, "1.23456789E7"},
    {1e-3, "0.001"},
    {1e-4, "1.0E-4"},
    {0.3309826664011767, "0.3309826664011767"},
    {-2.5, "-2.5"},
    {100, "100.0"},
    {1e21, "1.0E21"},
    {1.5e-10, "1.5E-10"},
    {0.1, "0.1"},
    {123456.0, "123456.0"},
    {4.9e-324, "4.9E-324"},
    {1e23, "1.0E23"},
    {2e-5, "2.0E-5"},
    {-3e10, "-3.0E10"},
    {9.5e-7, "9.5E-7"},
    {1.7976931348623157e308, "1.7976931348623157E308"},
    {NAN, "NaN"},
    {INFINITY, "Infinity"},
    {-INFINITY, "-Infinity"},
};

static void test_java_doubles(void **state)
{
    (void)state;
    for (size_t i = 0; i < KS_ARRAY_LEN(num_rows); i++) {
        char out[ALARM_FMT_DOUBLE_SIZE];
        size_t n = alarm_fmt_double(out, num_rows[i].v);
        if (strcmp(out, num_rows[i].want) != 0)
            fail_msg("row %zu: expected %s, got %s", i, num_rows[i].want, out);
        assert_int_equal(n, strlen(out));
    }
}

static void test_times(void **state)
{
    (void)state;
    char out[ALARM_FMT_TIME_SIZE];
    alarm_fmt_time(out, INT64_C(1673273245504));
    assert_string_equal(out, "2023-01-09T14:07:25.504+0000");
    alarm_fmt_time(out, 0);
    assert_string_equal(out, "1970-01-01T00:00:00.000+0000");
    alarm_fmt_time(out, -1);
    assert_string_equal(out, "1969-12-31T23:59:59.999+0000");
    alarm_fmt_time(out, INT64_C(951782400000)); /* leap day 2000 */
    assert_string_equal(out, "2000-02-29T00:00:00.000+0000");
}

/* ---- captured examples ----------------------------------------------------------- */

/* Evaluates once and returns the alarm (caller frees). */
static struct alarm *eval_once(const struct alarm_def *def, struct fake_store *st,
                               enum alarm_state from, int64_t created, int64_t eval)
{
    struct alarm *a = alarm_new(def, created);
    assert_non_null(a);
    if (from != ALARM_STATE_INSUFFICIENT_DATA)
        force_state(a, from, created);
    assert_true(alarm_evaluate(a, eval, fake_store_query, st, NULL));
    return a;
}

static void test_golden_to_alarm(void **state)
{
    (void)state;
    const int64_t slot = INT64_C(1749988920000); /* 2025-06-15T12:02:00Z */
    struct fake_store st;
    fake_store_init(&st);
    fake_store_add(&st, slot + 17 * SEC_MS, 3);
    struct alarm_def def;
    test_def(&def, "golden1");
    def.datapoints_to_alarm = 1;
    def.threshold = 3;
    struct alarm *a = eval_once(&def, &st, ALARM_STATE_OK, slot - MIN_MS, slot + 71 * SEC_MS);
    assert_string_equal(alarm_state_reason(a),
                        "Threshold Crossed: 1 out of the last 1 datapoints [3.0 (15/06/25 "
                        "12:02:00)] was greater than or equal to the threshold (3.0) (minimum 1 "
                        "datapoint for OK -> ALARM transition).");
    alarm_free(a);
    fake_store_release(&st);
}

static void test_golden_to_ok(void **state)
{
    (void)state;
    const int64_t t1314 = INT64_C(1643202840000); /* 2022-01-26T13:14:00Z */
    struct fake_store st;
    fake_store_init(&st);
    fake_store_add(&st, t1314, 38.364239895660816);
    fake_store_add(&st, t1314 + 5 * MIN_MS, 38.391752618786896);
    fake_store_add(&st, t1314 + 10 * MIN_MS, 38.395433048854194);
    struct alarm_def def;
    test_def(&def, "golden2");
    def.statistic = ALARM_STAT_AVERAGE;
    def.period = 300;
    def.evaluation_periods = 3;
    def.datapoints_to_alarm = 3;
    def.threshold = 80;
    struct alarm *a = eval_once(&def, &st, ALARM_STATE_ALARM, t1314 - 60 * MIN_MS,
                                INT64_C(1643203769000) /* 13:29:29 */);
    assert_string_equal(
        alarm_state_reason(a),
        "Threshold Crossed: 3 out of the last 3 datapoints [38.395433048854194 (26/01/22 "
        "13:24:00), 38.391752618786896 (26/01/22 13:19:00), 38.364239895660816 (26/01/22 "
        "13:14:00)] were not greater than or equal to the threshold (80.0) (minimum 1 datapoint "
        "for ALARM -> OK transition).");
    assert_string_equal(
        alarm_state_reason_data(a),
        "{\"version\":\"1.0\",\"queryDate\":\"2022-01-26T13:29:29.000+0000\",\"startDate\":"
        "\"2022-01-26T13:14:00.000+0000\",\"statistic\":\"Average\",\"period\":300,"
        "\"recentDatapoints\":[38.364239895660816,38.391752618786896,38.395433048854194],"
        "\"threshold\":80.0,\"evaluatedDatapoints\":[{\"timestamp\":\"2022-01-26T13:24:00.000+"
        "0000\",\"sampleCount\":1.0,\"value\":38.395433048854194}]}");
    alarm_free(a);
    fake_store_release(&st);
}

static void test_golden_filled_only(void **state)
{
    (void)state;
    struct fake_store st;
    fake_store_init(&st);
    struct alarm_def def;
    test_def(&def, "golden3");
    def.evaluation_periods = 2;
    def.treat_missing = ALARM_MISSING_BREACHING;
    struct alarm *a = eval_once(&def, &st, ALARM_STATE_OK, T_BASE, T_BASE + 10 * MIN_MS);
    assert_string_equal(alarm_state_reason(a),
                        "Threshold Crossed: no datapoints were received for 2 periods and 2 "
                        "missing datapoints were treated as [Breaching].");
    /* Every filled slot is listed, newest first, timestamps only [O]. */
    assert_string_equal(alarm_state_reason_data(a),
                        "{\"version\":\"1.0\",\"queryDate\":\"2024-01-01T00:10:00.000+0000\","
                        "\"statistic\":\"Sum\",\"period\":60,\"recentDatapoints\":[],"
                        "\"threshold\":1.0,\"evaluatedDatapoints\":[{\"timestamp\":\"2024-01-01T"
                        "00:09:00.000+0000\"},{\"timestamp\":\"2024-01-01T00:08:00.000+0000\"}]}");
    alarm_free(a);
    fake_store_release(&st);
}

static void test_golden_insufficient(void **state)
{
    (void)state;
    struct fake_store st;
    fake_store_init(&st);
    struct alarm_def def;
    test_def(&def, "golden4");
    struct alarm *a = eval_once(&def, &st, ALARM_STATE_OK, T_BASE, T_BASE + 10 * MIN_MS);
    assert_string_equal(alarm_state_reason(a), "Insufficient Data: 1 datapoint was unknown.");
    alarm_free(a);
    def.evaluation_periods = 4;
    a = eval_once(&def, &st, ALARM_STATE_OK, T_BASE, T_BASE + 10 * MIN_MS);
    assert_string_equal(alarm_state_reason(a), "Insufficient Data: 4 datapoints were unknown.");
    alarm_free(a);
    fake_store_release(&st);
}

/* The §6.2 capture: two real datapoints in the range, the newer decides. */
static void test_golden_reason_data(void **state)
{
    (void)state;
    const int64_t t1401 = INT64_C(1673272860000); /* 2023-01-09T14:01:00Z */
    struct fake_store st;
    fake_store_init(&st);
    fake_store_add(&st, t1401 + 5 * SEC_MS, 1);
    fake_store_add(&st, t1401 + MIN_MS + 9 * SEC_MS, 0);
    struct alarm_def def;
    test_def(&def, "golden5");
    def.threshold = 42;
    struct alarm *a =
        eval_once(&def, &st, ALARM_STATE_INSUFFICIENT_DATA, t1401, INT64_C(1673273245504));
    assert_string_equal(
        alarm_state_reason_data(a),
        "{\"version\":\"1.0\",\"queryDate\":\"2023-01-09T14:07:25.504+0000\",\"startDate\":"
        "\"2023-01-09T14:01:00.000+0000\",\"statistic\":\"Sum\",\"period\":60,"
        "\"recentDatapoints\":[1.0,0.0],\"threshold\":42.0,\"evaluatedDatapoints\":[{"
        "\"timestamp\":\"2023-01-09T14:02:00.000+0000\",\"sampleCount\":1.0,\"value\":0.0}]}");
    /* DatapointsToAlarm not set: the legacy reason template (§6.1). */
    assert_string_equal(alarm_state_reason(a),
                        "Threshold Crossed: 1 datapoint [0.0 (09/01/23 14:02:00)] was not greater "
                        "than or equal to the threshold (42.0).");
    alarm_free(a);
    fake_store_release(&st);
}

/* [?] wordings we chose (docs/alarms.md): mixed real + filled, percentile
 * statistic name, unit, operators' relations. */
static void test_chosen_wordings(void **state)
{
    (void)state;
    struct fake_store st;
    fake_store_init(&st);
    /* 0 - X - - with N = 3, M = 2, breaching: ALARM with one filled slot. */
    int64_t t0 = T_BASE + 30 * MIN_MS;
    fake_store_add(&st, t0 - 25 * MIN_MS, 0);
    fake_store_add(&st, t0 - 15 * MIN_MS, 5);
    struct alarm_def def;
    test_def(&def, "mixed");
    def.period = 300;
    def.evaluation_periods = 3;
    def.datapoints_to_alarm = 2;
    def.treat_missing = ALARM_MISSING_BREACHING;
    def.statistic = ALARM_STAT_NONE;
    def.extended_statistic = "p99";
    def.unit = "Count";
    struct alarm *a = eval_once(&def, &st, ALARM_STATE_OK, T_BASE, t0);
    assert_string_equal(alarm_state_reason(a),
                        "Threshold Crossed: 1 out of the last 3 datapoints [5.0 (01/01/24 "
                        "00:15:00)] was greater than or equal to the threshold (1.0) (minimum 2 "
                        "datapoints for OK -> ALARM transition) 1 missing datapoint was treated as "
                        "[Breaching].");
    assert_string_equal(alarm_state_reason_data(a),
                        "{\"version\":\"1.0\",\"queryDate\":\"2024-01-01T00:30:00.000+0000\","
                        "\"startDate\":\"2024-01-01T00:05:00.000+0000\",\"statistic\":\"p99\","
                        "\"unit\":\"Count\",\"period\":300,\"recentDatapoints\":[0.0,5.0],"
                        "\"threshold\":1.0,\"evaluatedDatapoints\":[{\"timestamp\":\"2024-01-01T"
                        "00:15:00.000+0000\",\"sampleCount\":1.0,\"value\":5.0}]}");
    alarm_free(a);

    /* Relations of each operator, and OK's minimum N - M + 1. */
    static const struct {
        enum alarm_comparison cmp;
        double threshold;
        double v[3]; /* newest first, none breaching */
        const char *want;
    } rels[] = {
        {ALARM_CMP_GT,
         1,
         {0, -5, 1},
         "Threshold Crossed: 3 out of the last 3 datapoints [0.0 (01/01/24 00:09:00), -5.0 "
         "(01/01/24 00:08:00), 1.0 (01/01/24 00:07:00)] were not greater than the threshold "
         "(1.0) (minimum 3 datapoints for ALARM -> OK transition)."},
        {ALARM_CMP_LT,
         -1,
         {0, 7, -1},
         "] were not less than the threshold (-1.0) (minimum 3 datapoints for ALARM -> OK "
         "transition)."},
        {ALARM_CMP_LE,
         -1.5,
         {0, 7, 5},
         "] were not less than or equal to the threshold (-1.5) (minimum 3 datapoints for ALARM "
         "-> OK transition)."},
    };
    for (size_t i = 0; i < KS_ARRAY_LEN(rels); i++) {
        struct fake_store s2;
        fake_store_init(&s2);
        for (int k = 1; k <= 3; k++)
            fake_store_add(&s2, T_BASE + 10 * MIN_MS - k * MIN_MS, rels[i].v[k - 1]);
        struct alarm_def d2;
        test_def(&d2, "rel");
        d2.comparison = rels[i].cmp;
        d2.threshold = rels[i].threshold;
        d2.evaluation_periods = 3;
        d2.datapoints_to_alarm = 1;
        struct alarm *b = eval_once(&d2, &s2, ALARM_STATE_ALARM, T_BASE, T_BASE + 10 * MIN_MS);
        const char *r = alarm_state_reason(b);
        if (!strstr(r, rels[i].want))
            fail_msg("%s: reason '%s' lacks '%s'", alarm_comparison_name(rels[i].cmp), r,
                     rels[i].want);
        alarm_free(b);
        fake_store_release(&s2);
    }
    fake_store_release(&st);
}

/* Caps: StateReason <= 1023 bytes, StateReasonData <= 4000 and still JSON. */
static void test_length_caps(void **state)
{
    (void)state;
    struct fake_store st;
    fake_store_init(&st);
    int64_t t0 = T_BASE + 600 * MIN_MS;
    for (int k = 1; k <= 400; k++)
        fake_store_add(&st, t0 - k * 10 * SEC_MS, 1.0 / 3.0 + k);
    struct alarm_def def;
    test_def(&def, "long");
    def.period = 10;
    def.evaluation_periods = 300;
    def.datapoints_to_alarm = 300;
    struct alarm *a = eval_once(&def, &st, ALARM_STATE_OK, T_BASE, t0);
    const char *r = alarm_state_reason(a);
    assert_true(strlen(r) <= ALARM_REASON_MAX);
    assert_non_null(strstr(r, "Threshold Crossed: 300 out of the last 300 datapoints [1.3333"));
    assert_non_null(strstr(r, ", ...] were greater than or equal to the threshold (1.0) "
                              "(minimum 300 datapoints for OK -> ALARM transition)."));
    const char *d = alarm_state_reason_data(a);
    assert_true(strlen(d) <= ALARM_REASON_DATA_MAX);
    json_error_t err;
    json_t *j = json_loads(d, 0, &err);
    assert_non_null(j);
    /* The newest values are the ones kept, oldest first. */
    json_t *recent = json_object_get(j, "recentDatapoints");
    size_t n = json_array_size(recent);
    assert_true(n > 50 && n < 330);
    assert_true(json_real_value(json_array_get(recent, n - 1)) == 1.0 / 3.0 + 1);
    char start[ALARM_FMT_TIME_SIZE];
    alarm_fmt_time(start, t0 - (int64_t)n * 10 * SEC_MS);
    assert_string_equal(json_string_value(json_object_get(j, "startDate")), start);
    json_decref(j);
    alarm_free(a);
    fake_store_release(&st);
}

int run_reason_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_java_doubles),       cmocka_unit_test(test_times),
        cmocka_unit_test(test_golden_to_alarm),    cmocka_unit_test(test_golden_to_ok),
        cmocka_unit_test(test_golden_filled_only), cmocka_unit_test(test_golden_insufficient),
        cmocka_unit_test(test_golden_reason_data), cmocka_unit_test(test_chosen_wordings),
        cmocka_unit_test(test_length_caps),
    };
    return cmocka_run_group_tests_name("alarm_reason", tests, NULL, NULL);
}
