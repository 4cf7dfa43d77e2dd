/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Message building: the alarm JSON documents against the spec's examples
 * (spec/alarms.md §11.2, §11.3: same fields, same order, same values), the
 * e-mail text and subject (§11.1, §13) against golden files, the context
 * block in its three renderings, and the accumulator behind it.
 */
#include <jansson.h>

#include "test_notify.h"

/* The spec's §11.2 example, verbatim. */
static const char spec_metric_json[] =
    "{\"AlarmName\": \"kms-decrypt-failures\", \"AlarmDescription\": \"KMS calls that failed\","
    "\"AWSAccountId\": \"111122223333\",\"AlarmConfigurationUpdatedTimestamp\": "
    "\"2024-03-05T20:30:45.526+0000\",\"NewStateValue\": \"ALARM\",\"NewStateReason\": "
    "\"Threshold Crossed: 1 out of the last 1 datapoints [4.0 (05/03/24 20:25:00)] was greater "
    "than or equal to the threshold (1.0) (minimum 1 datapoint for OK -> ALARM transition).\","
    "\"StateChangeTime\": \"2024-03-05T20:31:04.488+0000\",\"Region\": \"US East (N. Virginia)\","
    "\"AlarmArn\": \"arn:aws:cloudwatch:us-east-1:111122223333:alarm:kms-decrypt-failures\","
    "\"OldStateValue\": \"OK\",\"OKActions\": [],\"AlarmActions\": "
    "[\"arn:aws:sns:us-east-1:111122223333:security-alerts\"],\"InsufficientDataActions\": [],"
    "\"Trigger\": {\"MetricName\": \"KmsFailures\",\"Namespace\": \"Security/KMS\","
    "\"StatisticType\": \"Statistic\",\"Statistic\": \"SUM\",\"Unit\": null,\"Dimensions\": [],"
    "\"Period\": 300,\"EvaluationPeriods\": 1,\"DatapointsToAlarm\": 1,\"ComparisonOperator\": "
    "\"GreaterThanOrEqualToThreshold\",\"Threshold\": 1.0,\"TreatMissingData\": "
    "\"notBreaching\",\"EvaluateLowSampleCountPercentile\": \"\"}}";

/* The spec's §11.3 example, verbatim. */
static const char spec_composite_json[] =
    "{\"AlarmName\": \"kms-abuse\",\"AlarmDescription\": \"Failures and volume anomaly "
    "together\",\"AWSAccountId\": \"111122223333\",\"NewStateValue\": \"ALARM\","
    "\"NewStateReason\": \"arn:aws:cloudwatch:us-east-1:111122223333:alarm:kms-decrypt-failures "
    "transitioned to ALARM at Friday 01 March, 2024 10:10:00 UTC\",\"StateChangeTime\": "
    "\"2024-03-01T10:10:00.612+0000\",\"Region\": \"US East (N. Virginia)\",\"AlarmArn\": "
    "\"arn:aws:cloudwatch:us-east-1:111122223333:alarm:kms-abuse\",\"OKActions\": [],"
    "\"AlarmActions\": [\"arn:aws:sns:us-east-1:111122223333:security-alerts\"],"
    "\"InsufficientDataActions\": [],\"OldStateValue\": \"OK\",\"AlarmRule\": "
    "\"ALARM(kms-decrypt-failures) AND ALARM(kms-decrypt-volume-anomaly)\","
    "\"TriggeringChildren\": [{\"Arn\": "
    "\"arn:aws:cloudwatch:us-east-1:111122223333:alarm:kms-decrypt-failures\",\"State\": "
    "{\"Value\": \"ALARM\", \"Timestamp\": \"2024-03-01T10:10:00.123+0000\"}}]}";

/* Same members with the same values, in the same order (recursively). */
static void assert_same_doc(const char *got_text, const char *want_text, bool allow_extra_last)
{
    json_error_t err;
    json_t *got = json_loads(got_text, 0, &err);
    if (!got)
        fail_msg("not JSON: %s at %d: %s", err.text, err.position, got_text);
    json_t *want = json_loads(want_text, 0, NULL);
    assert_non_null(want);
    if (allow_extra_last)
        json_object_del(got, "keysentryContext");
    assert_true(json_equal(got, want));
    /* order: jansson keeps insertion order when iterating */
    void *gi = json_object_iter(got), *wi = json_object_iter(want);
    while (gi && wi) {
        assert_string_equal(json_object_iter_key(gi), json_object_iter_key(wi));
        gi = json_object_iter_next(got, gi);
        wi = json_object_iter_next(want, wi);
    }
    assert_null(gi);
    assert_null(wi);
    json_decref(got);
    json_decref(want);
}

static void test_metric_json_matches_spec(void **state)
{
    (void)state;
    struct alarm_change ch;
    alarm_change_init(&ch);
    struct alarm *a = spec_metric_alarm(&ch);
    struct notify_alarm na = {a, NULL};
    struct notify_message m;
    struct ks_diag d;
    assert_int_equal(notify_message_build(&na, &ch, NULL, NULL, &m, &d), KS_OK);
    assert_same_doc(m.alarm_json, spec_metric_json, false);
    /* Java doubles: "Threshold":1.0, not 1 */
    assert_non_null(strstr(m.alarm_json, "\"Threshold\":1.0,"));
    assert_null(m.context_json);
    assert_string_equal(m.subject, "ALARM: \"kms-decrypt-failures\" in US East (N. Virginia)");
    assert_string_equal(m.sms_text, m.subject);
    golden_check("metric.json", m.alarm_json);
    golden_check("metric-email.txt", m.email_text);
    notify_message_release(&m);
    alarm_change_release(&ch);
    alarm_free(a);
}

static void test_metric_email_matches_spec(void **state)
{
    (void)state;
    struct alarm_change ch;
    alarm_change_init(&ch);
    struct alarm *a = spec_metric_alarm(&ch);
    struct notify_alarm na = {a, NULL};
    struct notify_message m;
    struct ks_diag d;
    assert_int_equal(notify_message_build(&na, &ch, NULL, NULL, &m, &d), KS_OK);
    /* the spec's §13 example, from the first line to the actions */
    static const char spec_body[] =
        "You are receiving this email because your Amazon CloudWatch Alarm "
        "\"kms-decrypt-failures\" in the US East (N. Virginia) region has entered the ALARM "
        "state, because \"Threshold Crossed: 1 out of the last 1 datapoints [4.0 (05/03/24 "
        "20:25:00)] was greater than or equal to the threshold (1.0) (minimum 1 datapoint for OK "
        "-> ALARM transition).\" at \"Tuesday 05 March, 2024 20:31:04 UTC\".\n"
        "\n"
        "View this alarm in the AWS Management Console:\n"
        "https://us-east-1.console.aws.amazon.com/cloudwatch/deeplink.js?region=us-east-1#"
        "alarmsV2:alarm/kms-decrypt-failures\n"
        "\n"
        "Alarm Details:\n"
        "- Name:                       kms-decrypt-failures\n"
        "- Description:                KMS calls that failed\n"
        "- State Change:               OK -> ALARM\n"
        "- Reason for State Change:    Threshold Crossed: 1 out of the last 1 datapoints [4.0 "
        "(05/03/24 20:25:00)] was greater than or equal to the threshold (1.0) (minimum 1 "
        "datapoint for OK -> ALARM transition).\n"
        "- Timestamp:                  Tuesday 05 March, 2024 20:31:04 UTC\n"
        "- AWS Account:                111122223333\n"
        "- Alarm Arn:                  arn:aws:cloudwatch:us-east-1:111122223333:alarm:"
        "kms-decrypt-failures\n"
        "\n"
        "Threshold:\n"
        "- The alarm is in the ALARM state when the metric is GreaterThanOrEqualToThreshold 1.0 "
        "for at least 1 of the last 1 period(s) of 300 seconds.\n"
        "\n"
        "Monitored Metric:\n"
        "- MetricNamespace:                     Security/KMS\n"
        "- MetricName:                          KmsFailures\n"
        "- Dimensions:                          \n"
        "- Period:                              300 seconds\n"
        "- Statistic:                           Sum\n"
        "- Unit:                                not specified\n"
        "- TreatMissingData:                    notBreaching\n"
        "\n"
        "\n"
        "State Change Actions:\n"
        "- OK:\n"
        "- ALARM: [arn:aws:sns:us-east-1:111122223333:security-alerts]\n"
        "- INSUFFICIENT_DATA:\n";
    assert_string_equal(m.email_text, spec_body);
    notify_message_release(&m);
    alarm_change_release(&ch);
    alarm_free(a);
}

static void test_composite_matches_spec(void **state)
{
    (void)state;
    struct alarm_change ch;
    alarm_change_init(&ch);
    struct alarm_composite *c = spec_composite_alarm(&ch);
    struct notify_alarm na = {NULL, c};
    struct notify_message m;
    struct ks_diag d;
    assert_int_equal(notify_message_build(&na, &ch, NULL, NULL, &m, &d), KS_OK);
    assert_same_doc(m.alarm_json, spec_composite_json, false);
    assert_null(strstr(m.alarm_json, "Trigger\""));
    assert_string_equal(m.subject, "ALARM: \"kms-abuse\" in US East (N. Virginia)");
    assert_non_null(strstr(m.email_text, "region has transitioned to ALARM state on Friday 01 "
                                         "March, 2024 10:10:00 UTC, because \"arn:aws"));
    assert_non_null(strstr(m.email_text, "- State Change:               OK -> ALARM\n"
                                         "- Alarm Rule:                 ALARM(kms-decrypt-failures)"
                                         " AND ALARM(kms-decrypt-volume-anomaly)\n"));
    assert_non_null(strstr(m.email_text, "\nTriggering children (max. 10):\n- arn:aws:cloudwatch"));
    assert_null(strstr(m.email_text, "Monitored Metric:"));
    golden_check("composite.json", m.alarm_json);
    golden_check("composite-email.txt", m.email_text);
    notify_message_release(&m);
    alarm_change_release(&ch);
    alarm_composite_free(c);
}

static void test_context_renderings(void **state)
{
    (void)state;
    struct alarm_change ch;
    alarm_change_init(&ch);
    struct alarm *a = spec_metric_alarm(&ch);
    struct notify_context ctx;
    struct notify_context_acc *acc = spec_context(&ctx);
    assert_int_equal(ctx.matching_events, 3);
    assert_int_equal(ctx.principals.n, 2);
    assert_string_equal(ctx.principals.v[0].value, "arn:aws:iam::111122223333:role/ci-deployer");
    assert_int_equal(ctx.principals.v[0].count, 2);
    assert_int_equal(ctx.keys.n, 1); /* the event without a key counts for nothing */
    assert_int_equal(ctx.n_recent, 3);
    assert_string_equal(ctx.recent[0].event_id, "11111111-0000-0000-0000-000000000003");
    struct notify_alarm na = {a, NULL};
    struct notify_message m;
    struct ks_diag d;
    assert_int_equal(notify_message_build(&na, &ch, &ctx, NULL, &m, &d), KS_OK);
    /* AWS's document untouched, keysentryContext appended last */
    assert_same_doc(m.alarm_json, spec_metric_json, true);
    json_t *doc = json_loads(m.alarm_json, 0, NULL);
    const char *last = NULL;
    for (void *it = json_object_iter(doc); it; it = json_object_iter_next(doc, it))
        last = json_object_iter_key(it);
    assert_string_equal(last, "keysentryContext");
    json_t *kc = json_object_get(doc, "keysentryContext");
    assert_int_equal(json_integer_value(json_object_get(kc, "matchingEvents")), 3);
    json_t *r0 = json_array_get(json_object_get(kc, "recentEvents"), 0);
    assert_string_equal(json_string_value(json_object_get(r0, "eventTime")),
                        "2024-03-05T20:30:34.488Z");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r0, "origin"), "offset")),
                     9120);
    json_decref(doc);
    golden_check("context.json", m.context_json);
    golden_check("metric-email-context.txt", m.email_text);
    struct ks_buf t;
    ks_buf_init(&t, 1u << 20);
    assert_int_equal(notify_context_text(&ctx, &t), KS_OK);
    assert_non_null(strstr(m.email_text, t.data));
    ks_buf_release(&t);
    notify_message_release(&m);
    notify_context_acc_free(acc);
    alarm_change_release(&ch);
    alarm_free(a);
}

static void test_context_accumulator(void **state)
{
    (void)state;
    struct notify_context_acc *acc = notify_context_acc_new();
    /* 25 events, oldest first; IPs 10.0.0.(i % 12), keys alternate */
    char ip[32], id[32];
    for (int i = 0; i < 25; i++) {
        snprintf(ip, sizeof(ip), "10.0.0.%d", i % 12);
        snprintf(id, sizeof(id), "id-%02d", i);
        struct notify_context_event ev = {
            .time_ms = 1000 * i,
            .event_id = id,
            .source_ip = ip,
            .key = i % 2 ? "k-odd" : "k-even",
            .principal = "p",
        };
        notify_context_acc_add(acc, &ev);
    }
    /* an event older than all: does not enter the recent ten */
    struct notify_context_event old = {.time_ms = -5, .event_id = "old"};
    notify_context_acc_add(acc, &old);
    struct notify_context ctx;
    notify_context_acc_get(acc, 0, 25000, &ctx);
    assert_int_equal(ctx.matching_events, 26);
    assert_int_equal(ctx.n_recent, NOTIFY_CONTEXT_RECENT_MAX);
    for (size_t i = 0; i < ctx.n_recent; i++) {
        char want[32];
        snprintf(want, sizeof(want), "id-%02d", (int)(24 - i));
        assert_string_equal(ctx.recent[i].event_id, want);
    }
    assert_int_equal(ctx.source_ips.n, 12);
    /* 10.0.0.0 .. 10.0.0.0 occur 3 times (i = 0, 12, 24), the rest twice;
     * ties sort by value */
    assert_string_equal(ctx.source_ips.v[0].value, "10.0.0.0");
    assert_int_equal(ctx.source_ips.v[0].count, 3);
    assert_string_equal(ctx.source_ips.v[1].value, "10.0.0.1");
    assert_int_equal(ctx.source_ips.v[1].count, 2);
    assert_string_equal(ctx.keys.v[0].value, "k-even");
    assert_int_equal(ctx.keys.v[0].count, 13);
    assert_int_equal(ctx.error_codes.n, 0);
    /* rendering caps the list at ten and says how many more */
    struct ks_buf t;
    ks_buf_init(&t, 1u << 20);
    assert_int_equal(notify_context_text(&ctx, &t), KS_OK);
    assert_non_null(strstr(t.data, "(2 more)"));
    assert_non_null(strstr(t.data, "- Top Error Codes:            (none)\n"));
    ks_buf_release(&t);
    notify_context_acc_free(acc);
}

static void test_context_hostile_strings(void **state)
{
    (void)state;
    struct notify_context_acc *acc = notify_context_acc_new();
    char big[5000];
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct notify_context_event ev = {
        .time_ms = 1,
        .event_name = "Decrypt\r\nBcc: victim@example.com",
        .user_agent = "ua\n- Top Principals:             forged (999)",
        .principal = big,
        .key = "<script>&`",
    };
    notify_context_acc_add(acc, &ev);
    struct notify_context ctx;
    notify_context_acc_get(acc, 0, 10, &ctx);
    assert_int_equal(strlen(ctx.principals.v[0].value), NOTIFY_CONTEXT_FIELD_MAX);
    struct ks_buf t;
    ks_buf_init(&t, 1u << 20);
    assert_int_equal(notify_context_text(&ctx, &t), KS_OK);
    /* control characters become spaces: no forged line */
    assert_null(strstr(t.data, "\nBcc:"));
    assert_null(strstr(t.data, "\n- Top Principals:             forged"));
    ks_buf_reset(&t);
    assert_int_equal(notify_context_json(&ctx, &t), KS_OK);
    json_t *j = json_loads(t.data, 0, NULL);
    assert_non_null(j);
    json_decref(j);
    ks_buf_release(&t);
    notify_context_acc_free(acc);
}

static void test_subject_cut(void **state)
{
    (void)state;
    char name[201];
    memset(name, 'n', 200);
    name[200] = '\0';
    struct alarm_def def;
    alarm_def_init(&def);
    def.name = name;
    def.ns = "N";
    def.metric_name = "M";
    def.statistic = ALARM_STAT_SUM;
    def.period = 60;
    def.evaluation_periods = 1;
    def.comparison = ALARM_CMP_GT;
    def.region = "eu-west-1";
    static const char *const act[] = {"arn:aws:sns:eu-west-1:111122223333:t"};
    def.ok_actions = act;
    def.n_ok_actions = 1;
    struct alarm *a = alarm_new(&def, 0);
    struct alarm_change ch;
    alarm_change_init(&ch);
    bool changed;
    struct ks_diag d;
    assert_int_equal(alarm_set_state(a, ALARM_STATE_OK, "r", NULL, 1000, &changed, &ch, &d), KS_OK);
    struct notify_alarm na = {a, NULL};
    struct notify_message m;
    assert_int_equal(notify_message_build(&na, &ch, NULL, NULL, &m, &d), KS_OK);
    assert_int_equal(strlen(m.subject), NOTIFY_SUBJECT_MAX);
    assert_true(strncmp(m.subject, "OK: \"nnn", 8) == 0);
    assert_non_null(strstr(m.alarm_json, "\"Region\":\"EU (Ireland)\""));
    assert_non_null(strstr(m.email_text, "- OK: [arn:aws:sns:eu-west-1:111122223333:t]\n"));
    notify_message_release(&m);
    /* a display-name override and a console link template */
    struct notify_format fmt = {"Lab", "https://ks.example/alarms/{alarm}?r={region}"};
    assert_int_equal(notify_message_build(&na, &ch, NULL, &fmt, &m, &d), KS_OK);
    assert_non_null(strstr(m.email_text, "\nhttps://ks.example/alarms/nnnn"));
    assert_non_null(strstr(m.email_text, "?r=eu-west-1\n"));
    notify_message_release(&m);
    struct notify_alarm none = {NULL, NULL};
    assert_int_equal(notify_message_build(&none, &ch, NULL, NULL, &m, &d), KS_E_INVALID);
    alarm_change_release(&ch);
    alarm_free(a);
}

static void test_published_and_formats(void **state)
{
    (void)state;
    char subject[] = "S", doc[] = "{\"a\":1}", text[] = "line1\nline2 \"q\"\n", sms[] = "S";
    struct notify_message m = {subject, doc, text, sms, NULL};
    struct ks_buf b;
    ks_buf_init(&b, 1u << 20);
    assert_int_equal(notify_published_message(&m, &b), KS_OK);
    assert_string_equal(b.data, "{\"default\":\"{\\\"a\\\":1}\",\"email\":\"line1\\nline2 "
                                "\\\"q\\\"\\n\",\"sms\":\"S\"}");
    ks_buf_release(&b);
    static const struct {
        const char *code, *name;
    } regions[] = {{"us-east-1", "US East (N. Virginia)"},
                   {"us-west-2", "US West (Oregon)"},
                   {"eu-west-1", "EU (Ireland)"},
                   {"ap-northeast-2", "Asia Pacific (Seoul)"},
                   {"sa-east-1", "South America (Sao Paulo)"},
                   {"xx-nowhere-9", NULL}};
    for (size_t i = 0; i < KS_ARRAY_LEN(regions); i++) {
        const char *n = notify_region_name(regions[i].code);
        if (regions[i].name)
            assert_string_equal(n, regions[i].name);
        else
            assert_null(n);
    }
    char t[64];
    notify_fmt_human_time(t, T_SPEC);
    assert_string_equal(t, "Tuesday 05 March, 2024 20:31:04 UTC");
    notify_fmt_sns_time(t, T_SPEC + 56);
    assert_string_equal(t, "2024-03-05T20:31:04.544Z");
    char u1[37], u2[37], u3[37];
    notify_uuid(u1, "a", 1);
    notify_uuid(u2, "a", 1);
    notify_uuid(u3, "b", 1);
    assert_string_equal(u1, u2);
    assert_string_not_equal(u1, u3);
    assert_int_equal(strlen(u1), 36);
    assert_int_equal(u1[14], '5');
}

int run_message_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metric_json_matches_spec),
        cmocka_unit_test(test_metric_email_matches_spec),
        cmocka_unit_test(test_composite_matches_spec),
        cmocka_unit_test(test_context_renderings),
        cmocka_unit_test(test_context_accumulator),
        cmocka_unit_test(test_context_hostile_strings),
        cmocka_unit_test(test_subject_cut),
        cmocka_unit_test(test_published_and_formats),
    };
    return cmocka_run_group_tests_name("notify_message", tests, NULL, NULL);
}
