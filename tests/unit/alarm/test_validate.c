/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PutMetricAlarm validation (spec §2.1): each row mutates a valid definition
 * and names the message part expected; accepted edge values; enum names.
 */
#include <math.h>

#include "test_alarm.h"

static const struct alarm_dimension dims31[31] = {
    {"d0", "v"},  {"d1", "v"},  {"d2", "v"},  {"d3", "v"},  {"d4", "v"},  {"d5", "v"},
    {"d6", "v"},  {"d7", "v"},  {"d8", "v"},  {"d9", "v"},  {"d10", "v"}, {"d11", "v"},
    {"d12", "v"}, {"d13", "v"}, {"d14", "v"}, {"d15", "v"}, {"d16", "v"}, {"d17", "v"},
    {"d18", "v"}, {"d19", "v"}, {"d20", "v"}, {"d21", "v"}, {"d22", "v"}, {"d23", "v"},
    {"d24", "v"}, {"d25", "v"}, {"d26", "v"}, {"d27", "v"}, {"d28", "v"}, {"d29", "v"},
    {"d30", "v"},
};
static const struct alarm_dimension dims_dup[2] = {{"Key", "a"}, {"Key", "b"}};
static const struct alarm_dimension dims_utf8[1] = {{"Key", "caf\xc3\xa9"}};
static const char *const six[6] = {"a1", "a2", "a3", "a4", "a5", "a6"};
static const char *const empty_action[1] = {""};
static char long_name[300];
static char long_desc[1100];

#define M(fn, body)                                                                                \
    static void fn(struct alarm_def *d)                                                            \
    {                                                                                              \
        body;                                                                                      \
    }

M(period45, d->period = 45)
M(period0, d->period = 0)
M(period15, d->period = 15)
M(period90, d->period = 90)
M(periodneg, d->period = -60)
M(evals0, d->evaluation_periods = 0)
M(m_gt_n, (d->evaluation_periods = 3, d->datapoints_to_alarm = 4))
M(m_neg, d->datapoints_to_alarm = -1)
M(band_outside, d->comparison = ALARM_CMP_OUTSIDE_BAND)
M(band_below, d->comparison = ALARM_CMP_BELOW_BAND)
M(band_above, d->comparison = ALARM_CMP_ABOVE_BAND)
M(no_stat, d->statistic = ALARM_STAT_NONE)
M(both_stats, d->extended_statistic = "p99")
M(ext_tm, (d->statistic = ALARM_STAT_NONE, d->extended_statistic = "tm90"))
M(ext_tm2, (d->statistic = ALARM_STAT_NONE, d->extended_statistic = "TM(10%:90%)"))
M(ext_101, (d->statistic = ALARM_STAT_NONE, d->extended_statistic = "p101"))
M(ext_3dec, (d->statistic = ALARM_STAT_NONE, d->extended_statistic = "p99.999"))
M(ext_upper, (d->statistic = ALARM_STAT_NONE, d->extended_statistic = "P99"))
M(ext_bare, (d->statistic = ALARM_STAT_NONE, d->extended_statistic = "p"))
M(ext_4dig, (d->statistic = ALARM_STAT_NONE, d->extended_statistic = "p1000"))
M(ext_dot, (d->statistic = ALARM_STAT_NONE, d->extended_statistic = "p99."))
M(name_null, d->name = NULL)
M(name_empty, d->name = "")
M(name_long, d->name = long_name)
M(name_ctrl, d->name = "a\tb")
M(name_utf8, d->name = "bad\xff")
M(ns_colon, d->ns = ":x")
M(ns_null, d->ns = NULL)
M(metric_null, d->metric_name = NULL)
M(desc_long, d->description = long_desc)
M(dims_many, (d->dimensions = dims31, d->n_dimensions = 31))
M(dims_twice, (d->dimensions = dims_dup, d->n_dimensions = 2))
M(dims_ascii, (d->dimensions = dims_utf8, d->n_dimensions = 1))
M(thr_nan, d->threshold = NAN)
M(thr_inf, d->threshold = -INFINITY)
M(unit_bad, d->unit = "Foo")
M(unit_case, d->unit = "count")
M(acts_six, (d->alarm_actions = six, d->n_alarm_actions = 6))
M(acts_empty, (d->ok_actions = empty_action, d->n_ok_actions = 1))
M(span_day, (d->period = 60, d->evaluation_periods = 1441))
M(span_week, (d->period = 3600, d->evaluation_periods = 169))
M(tmd_bad, d->treat_missing = (enum alarm_treat_missing)7)
M(low_bad, d->low_sample = (enum alarm_low_sample)9)
M(cmp_bad, d->comparison = (enum alarm_comparison)42)
M(region_bad, d->region = "us:east")
M(extra_bad, d->range_extra = -1)

struct vrow {
    const char *label;
    void (*mutate)(struct alarm_def *d);
    const char *msg;
};

static const struct vrow bad_rows[] = {
    {"period 45", period45, "Period 45 is invalid: use 10, 20, 30 or a multiple of 60"},
    {"period 0", period0, "Period 0 is invalid"},
    {"period 15", period15, "Period 15 is invalid"},
    {"period 90", period90, "Period 90 is invalid"},
    {"period -60", periodneg, "Period -60 is invalid"},
    {"N 0", evals0, "EvaluationPeriods 0 is invalid: must be at least 1"},
    {"M > N", m_gt_n, "DatapointsToAlarm 4 is greater than EvaluationPeriods 3"},
    {"M < 0", m_neg, "DatapointsToAlarm -1 is invalid"},
    {"band outside", band_outside,
     "LessThanLowerOrGreaterThanUpperThreshold needs anomaly detection, which is not supported "
     "yet"},
    {"band below", band_below, "LessThanLowerThreshold needs anomaly detection"},
    {"band above", band_above, "GreaterThanUpperThreshold needs anomaly detection"},
    {"no statistic", no_stat, "exactly one of Statistic and ExtendedStatistic must be set"},
    {"two statistics", both_stats, "exactly one of Statistic and ExtendedStatistic"},
    {"tm90", ext_tm, "ExtendedStatistic 'tm90' is not supported: only percentiles"},
    {"TM()", ext_tm2, "'TM(10%:90%)' is not supported"},
    {"p101", ext_101, "ExtendedStatistic 'p101' is out of range: percentiles go from p0 to p100"},
    {"p99.999", ext_3dec, "'p99.999' is not supported"},
    {"P99", ext_upper, "'P99' is not supported"},
    {"p", ext_bare, "'p' is not supported"},
    {"p1000", ext_4dig, "'p1000' is not supported"},
    {"p99.", ext_dot, "'p99.' is not supported"},
    {"name NULL", name_null, "AlarmName is required"},
    {"name empty", name_empty, "AlarmName must be 1 to 255 bytes long, not 0"},
    {"name long", name_long, "AlarmName must be 1 to 255 bytes long, not 256"},
    {"name ctrl", name_ctrl, "AlarmName must not contain control characters (byte 1)"},
    {"name utf8", name_utf8, "AlarmName is not valid UTF-8 (byte 3)"},
    {"ns colon", ns_colon, "Namespace ':x' must not start with ':'"},
    {"ns null", ns_null, "Namespace is required"},
    {"metric null", metric_null, "MetricName is required"},
    {"description", desc_long, "AlarmDescription must be 0 to 1024 bytes long, not 1025"},
    {"31 dims", dims_many, "31 Dimensions: at most 30 allowed"},
    {"dup dim", dims_twice, "dimension 'Key' appears twice"},
    {"dim ascii", dims_ascii, "dimension 'Key' value must be ASCII"},
    {"threshold NaN", thr_nan, "Threshold must be a finite number"},
    {"threshold inf", thr_inf, "Threshold must be a finite number"},
    {"unit", unit_bad, "Unit 'Foo' is not a CloudWatch standard unit"},
    {"unit case", unit_case, "Unit 'count' is not"},
    {"6 actions", acts_six, "AlarmActions has 6 entries: at most 5 allowed"},
    {"empty action", acts_empty, "OKActions entry 1 must be 1 to 1024 bytes long"},
    {"span day", span_day,
     "Period x EvaluationPeriods is 86460 seconds: at most 86400 allowed for periods under one "
     "hour"},
    {"span week", span_week, "Period x EvaluationPeriods is 608400 seconds: at most 604800"},
    {"tmd", tmd_bad, "TreatMissingData must be missing, ignore, breaching or notBreaching"},
    {"low sample", low_bad, "EvaluateLowSampleCountPercentile must be evaluate or ignore"},
    {"operator", cmp_bad, "ComparisonOperator is not a valid operator"},
    {"region", region_bad, "region 'us:east' is not a region name"},
    {"range extra", extra_bad, "evaluation range extra slots -1 is invalid"},
};

static void test_rejected(void **state)
{
    (void)state;
    memset(long_name, 'n', 256);
    long_name[256] = '\0';
    memset(long_desc, 'd', 1025);
    long_desc[1025] = '\0';
    for (size_t i = 0; i < KS_ARRAY_LEN(bad_rows); i++) {
        struct alarm_def def;
        test_def(&def, "valid");
        bad_rows[i].mutate(&def);
        struct ks_diag d;
        ks_diag_clear(&d);
        enum ks_err e = alarm_def_validate(&def, &d);
        if (e != KS_E_INVALID || d.err != KS_E_INVALID || !strstr(d.msg, bad_rows[i].msg) ||
            d.offset != SIZE_MAX)
            fail_msg("%s: expected '%s', got %s '%s'", bad_rows[i].label, bad_rows[i].msg,
                     ks_strerror(e), d.msg);
        assert_null(alarm_new(&def, T_BASE));
    }
}

M(ok_p10, d->period = 10)
M(ok_p20, d->period = 20)
M(ok_p30, d->period = 30)
M(ok_p120, d->period = 120)
M(ok_p3600, (d->period = 3600, d->evaluation_periods = 168))
M(ok_day, (d->period = 60, d->evaluation_periods = 1440))
M(ok_p0, (d->statistic = ALARM_STAT_NONE, d->extended_statistic = "p0"))
M(ok_p100, (d->statistic = ALARM_STAT_NONE, d->extended_statistic = "p100"))
M(ok_p999, (d->statistic = ALARM_STAT_NONE, d->extended_statistic = "p99.9"))
M(ok_p9999, (d->statistic = ALARM_STAT_NONE, d->extended_statistic = "p99.99"))
M(ok_p100dot, (d->statistic = ALARM_STAT_NONE, d->extended_statistic = "p100.0"))
M(ok_m_eq_n, (d->evaluation_periods = 5, d->datapoints_to_alarm = 5))
M(ok_unit, d->unit = "Count/Second")
M(ok_dims30, (d->dimensions = dims31, d->n_dimensions = 30))
M(ok_acts5, (d->alarm_actions = six, d->n_alarm_actions = 5))
M(ok_desc, d->description = "")
M(ok_spaces, d->name = "CORE - DB - USO CPU")
M(ok_utf8_name, d->name = "caf\xc3\xa9 alarm")

static void (*const ok_rows[])(struct alarm_def *d) = {
    ok_p10,   ok_p20,     ok_p30,    ok_p120, ok_p3600,  ok_day,   ok_p0,   ok_p100,   ok_p999,
    ok_p9999, ok_p100dot, ok_m_eq_n, ok_unit, ok_dims30, ok_acts5, ok_desc, ok_spaces, ok_utf8_name,
};

static void test_accepted(void **state)
{
    (void)state;
    for (size_t i = 0; i < KS_ARRAY_LEN(ok_rows); i++) {
        struct alarm_def def;
        test_def(&def, "valid");
        ok_rows[i](&def);
        struct ks_diag d;
        ks_diag_clear(&d);
        if (alarm_def_validate(&def, &d) != KS_OK)
            fail_msg("row %zu rejected: %s", i, d.msg);
        struct alarm *a = alarm_new(&def, T_BASE);
        assert_non_null(a);
        alarm_free(a);
    }
}

static void test_enum_names(void **state)
{
    (void)state;
    enum alarm_comparison c;
    assert_true(alarm_comparison_parse("GreaterThanOrEqualToThreshold", &c));
    assert_int_equal(c, ALARM_CMP_GE);
    assert_true(alarm_comparison_parse("LessThanLowerThreshold", &c));
    assert_int_equal(c, ALARM_CMP_BELOW_BAND);
    assert_false(alarm_comparison_parse("GreaterThan", &c));
    assert_string_equal(alarm_comparison_name(ALARM_CMP_LE), "LessThanOrEqualToThreshold");
    enum alarm_statistic s;
    assert_true(alarm_statistic_parse("SampleCount", &s));
    assert_int_equal(s, ALARM_STAT_SAMPLE_COUNT);
    assert_false(alarm_statistic_parse("SUM", &s));
    assert_false(alarm_statistic_parse("", &s));
    assert_string_equal(alarm_statistic_sns_name(ALARM_STAT_SAMPLE_COUNT), "SAMPLE_COUNT");
    assert_string_equal(alarm_statistic_name(ALARM_STAT_AVERAGE), "Average");
    enum alarm_treat_missing t;
    assert_true(alarm_treat_missing_parse("notBreaching", &t));
    assert_int_equal(t, ALARM_MISSING_NOT_BREACHING);
    assert_false(alarm_treat_missing_parse("NotBreaching", &t));
    enum alarm_low_sample l;
    assert_true(alarm_low_sample_parse("ignore", &l));
    assert_int_equal(l, ALARM_LOW_SAMPLE_IGNORE);
    assert_false(alarm_low_sample_parse("", &l));
    enum alarm_state st;
    assert_true(alarm_state_parse("INSUFFICIENT_DATA", &st));
    assert_int_equal(st, ALARM_STATE_INSUFFICIENT_DATA);
    assert_false(alarm_state_parse("Alarm", &st));
    assert_string_equal(alarm_type_name(ALARM_TYPE_COMPOSITE), "CompositeAlarm");
    assert_string_equal(alarm_history_type_name(ALARM_HISTORY_STATE_UPDATE), "StateUpdate");
}

int run_validate_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejected),
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_enum_names),
    };
    return cmocka_run_group_tests_name("alarm_validate", tests, NULL, NULL);
}
