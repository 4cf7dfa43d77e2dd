/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Alarm history (spec §7): ConfigurationUpdate (the captured "createdAlarm"
 * document reproduced exactly), StateUpdate, Action items, the update item,
 * the ring bound and the HistoryData / HistorySummary caps.
 */
#include <jansson.h>

#include "test_alarm.h"

static json_t *parse(const char *s)
{
    json_error_t err;
    json_t *j = json_loads(s, 0, &err);
    if (!j)
        fail_msg("not JSON (%s): %s", err.text, s);
    return j;
}

static void test_create_item_golden(void **state)
{
    (void)state;
    static const struct alarm_dimension dims[] = {{"Operation", "PutItem"},
                                                  {"TableName", "IoT_Thing_History_A"}};
    static const char *const acts[] = {
        "arn:aws:sns:us-east-1:851171679665:My_IoT_Thing_History_A_WriteThrottleEvents"};
    struct alarm_def def;
    alarm_def_init(&def);
    def.name = "API_My_IoT_Thing_History_A_WriteThrottleEvents";
    def.description = "API Alarm cretion Test";
    def.ns = "AWS/DynamoDB";
    def.metric_name = "WriteThrottleEvents";
    def.dimensions = dims;
    def.n_dimensions = 2;
    def.statistic = ALARM_STAT_SUM;
    def.period = 60;
    def.evaluation_periods = 1;
    def.threshold = 1;
    def.comparison = ALARM_CMP_GE;
    def.alarm_actions = acts;
    def.n_alarm_actions = 1;
    def.region = "us-east-1";
    def.account = "851171679665";
    const int64_t created = INT64_C(1667404530959);
    struct alarm *a = alarm_new(&def, created);
    const struct alarm_history *h = alarm_get_history(a);
    assert_int_equal(alarm_history_count(h), 1);
    const struct alarm_history_item *it = alarm_history_at(h, 0);
    assert_string_equal(it->alarm_name, def.name);
    assert_int_equal(it->alarm_type, ALARM_TYPE_METRIC);
    assert_int_equal(it->timestamp_ms, created);
    assert_int_equal(it->type, ALARM_HISTORY_CONFIGURATION_UPDATE);
    assert_string_equal(alarm_history_type_name(it->type), "ConfigurationUpdate");
    assert_string_equal(it->summary, "Alarm \"API_My_IoT_Thing_History_A_WriteThrottleEvents\" "
                                     "created");
    assert_string_equal(
        it->data,
        "{\"version\":\"1.0\",\"type\":\"Create\",\"createdAlarm\":{\"alarmName\":\"API_My_IoT_"
        "Thing_History_A_WriteThrottleEvents\",\"alarmDescription\":\"API Alarm cretion Test\","
        "\"alarmArn\":\"arn:aws:cloudwatch:us-east-1:851171679665:alarm:API_My_IoT_Thing_History_"
        "A_WriteThrottleEvents\",\"alarmConfigurationUpdatedTimestamp\":\"2022-11-02T15:55:30.959+"
        "0000\",\"namespace\":\"AWS/DynamoDB\",\"metricName\":\"WriteThrottleEvents\","
        "\"statistic\":\"Sum\",\"period\":60,\"dimensions\":[{\"value\":\"PutItem\",\"name\":"
        "\"Operation\"},{\"value\":\"IoT_Thing_History_A\",\"name\":\"TableName\"}],\"threshold\":"
        "1.0,\"comparisonOperator\":\"GreaterThanOrEqualToThreshold\",\"evaluationPeriods\":1,"
        "\"stateValue\":\"INSUFFICIENT_DATA\",\"stateUpdatedTimestamp\":\"2022-11-02T15:55:30.959+"
        "0000\",\"actionsEnabled\":true,\"alarmActions\":[\"arn:aws:sns:us-east-1:851171679665:"
        "My_IoT_Thing_History_A_WriteThrottleEvents\"],\"insufficientDataActions\":[],"
        "\"okactions\":[]}}");
    assert_string_equal(alarm_type_name(it->alarm_type), "MetricAlarm");
    alarm_free(a);
}

static void test_state_update_item(void **state)
{
    (void)state;
    struct fake_store st;
    fake_store_init(&st);
    fake_store_add(&st, T_BASE + SEC_MS, 2);
    struct alarm_def def;
    test_def(&def, "hist");
    struct alarm *a = alarm_new(&def, T_BASE);
    assert_true(alarm_evaluate(a, T_BASE + MIN_MS + 5, fake_store_query, &st, NULL));
    const struct alarm_history *h = alarm_get_history(a);
    assert_int_equal(alarm_history_count(h), 2);
    const struct alarm_history_item *it = alarm_history_at(h, 1);
    assert_int_equal(it->type, ALARM_HISTORY_STATE_UPDATE);
    assert_int_equal(it->timestamp_ms, T_BASE + MIN_MS + 5);
    assert_string_equal(it->summary, "Alarm updated from INSUFFICIENT_DATA to ALARM");
    json_t *j = parse(it->data);
    assert_string_equal(json_string_value(json_object_get(j, "version")), "1.0");
    json_t *old = json_object_get(j, "oldState");
    assert_string_equal(json_string_value(json_object_get(old, "stateValue")), "INSUFFICIENT_DATA");
    assert_string_equal(json_string_value(json_object_get(old, "stateReason")),
                        "Unchecked: Initial alarm creation");
    assert_null(json_object_get(old, "stateReasonData"));
    json_t *nw = json_object_get(j, "newState");
    assert_string_equal(json_string_value(json_object_get(nw, "stateReason")),
                        alarm_state_reason(a));
    /* Embedded as an object, equal to the StateReasonData string. */
    json_t *rd = json_object_get(nw, "stateReasonData");
    assert_true(json_is_object(rd));
    json_t *want = parse(alarm_state_reason_data(a));
    assert_true(json_equal(rd, want));
    json_decref(want);
    json_decref(j);
    /* The exact text for the start of the document. */
    assert_true(strncmp(it->data,
                        "{\"version\":\"1.0\",\"oldState\":{\"stateValue\":\"INSUFFICIENT_DATA\","
                        "\"stateReason\":\"Unchecked: Initial alarm creation\"},\"newState\":{"
                        "\"stateValue\":\"ALARM\",\"stateReason\":\"Threshold Crossed: 1 "
                        "datapoint [2.0 (01/01/24 00:00:00)] was greater than or equal to the "
                        "threshold (1.0).\",\"stateReasonData\":{\"version\":\"1.0\",",
                        200) == 0);
    alarm_free(a);
    fake_store_release(&st);
}

static void test_action_items(void **state)
{
    (void)state;
    struct alarm_def def;
    test_def(&def, "act");
    struct alarm *a = alarm_new(&def, T_BASE);
    alarm_record_action(a, T_BASE + 100, "arn:aws:sns:us-east-1:111122223333:t", T_BASE + 50,
                        "{\"default\":\"x\"}", NULL);
    alarm_record_action(a, T_BASE + 200, "arn:aws:sns:us-east-1:111122223333:t", T_BASE + 50, NULL,
                        "connection refused");
    const struct alarm_history *h = alarm_get_history(a);
    assert_int_equal(alarm_history_count(h), 3);
    const struct alarm_history_item *ok = alarm_history_at(h, 1);
    assert_int_equal(ok->type, ALARM_HISTORY_ACTION);
    assert_int_equal(ok->timestamp_ms, T_BASE + 100);
    assert_string_equal(ok->summary,
                        "Successfully executed action arn:aws:sns:us-east-1:111122223333:t");
    assert_string_equal(ok->data,
                        "{\"actionState\":\"Succeeded\",\"stateUpdateTimestamp\":1704067200050,"
                        "\"notificationResource\":\"arn:aws:sns:us-east-1:111122223333:t\","
                        "\"publishedMessage\":\"{\\\"default\\\":\\\"x\\\"}\",\"error\":null}");
    const struct alarm_history_item *bad = alarm_history_at(h, 2);
    assert_string_equal(bad->summary,
                        "Failed to execute action arn:aws:sns:us-east-1:111122223333:t");
    assert_string_equal(bad->data,
                        "{\"actionState\":\"Failed\",\"stateUpdateTimestamp\":1704067200050,"
                        "\"notificationResource\":\"arn:aws:sns:us-east-1:111122223333:t\","
                        "\"publishedMessage\":null,\"error\":\"connection refused\"}");
    assert_string_equal(alarm_history_type_name(bad->type), "Action");
    /* HistorySummary is cut to 255 bytes. */
    char arn[1025];
    memset(arn, 'a', 1024);
    arn[1024] = '\0';
    alarm_record_action(a, T_BASE + 300, arn, T_BASE, NULL, NULL);
    assert_int_equal(strlen(alarm_history_at(h, 3)->summary), ALARM_HISTORY_SUMMARY_MAX);
    alarm_free(a);
}

static void test_update_item(void **state)
{
    (void)state;
    struct alarm_def def;
    test_def(&def, "cfg");
    struct alarm *a = alarm_new(&def, T_BASE);
    def.threshold = 2.5;
    def.treat_missing = ALARM_MISSING_NOT_BREACHING;
    def.datapoints_to_alarm = 1;
    struct ks_diag d;
    assert_int_equal(alarm_update_def(a, &def, T_BASE + 1000, &d), KS_OK);
    const struct alarm_history *h = alarm_get_history(a);
    assert_int_equal(alarm_history_count(h), 2);
    const struct alarm_history_item *it = alarm_history_at(h, 1);
    assert_int_equal(it->type, ALARM_HISTORY_CONFIGURATION_UPDATE);
    assert_string_equal(it->summary, "Alarm \"cfg\" updated");
    json_t *j = parse(it->data);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "Update");
    json_t *o = json_object_get(j, "originalAlarm"), *u = json_object_get(j, "updatedAlarm");
    assert_true(json_real_value(json_object_get(o, "threshold")) == 1.0);
    assert_true(json_real_value(json_object_get(u, "threshold")) == 2.5);
    assert_null(json_object_get(o, "treatMissingData"));
    assert_string_equal(json_string_value(json_object_get(u, "treatMissingData")), "notBreaching");
    assert_int_equal(json_integer_value(json_object_get(u, "datapointsToAlarm")), 1);
    assert_string_equal(json_string_value(json_object_get(u, "alarmConfigurationUpdatedTimestamp")),
                        "2024-01-01T00:00:01.000+0000");
    json_decref(j);
    alarm_free(a);
}

static void test_history_bound(void **state)
{
    (void)state;
    struct alarm_def def;
    test_def(&def, "ring");
    def.history_max = 5;
    struct alarm *a = alarm_new(&def, T_BASE);
    for (int i = 1; i <= 12; i++)
        force_state(a, i % 2 ? ALARM_STATE_ALARM : ALARM_STATE_OK, T_BASE + i);
    const struct alarm_history *h = alarm_get_history(a);
    assert_int_equal(alarm_history_count(h), 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(alarm_history_at(h, i)->timestamp_ms, T_BASE + 8 + (int64_t)i);
    assert_null(alarm_history_at(h, 5));
    /* Shrinking keeps the newest; growing keeps everything. */
    struct ks_diag d;
    def.history_max = 3;
    assert_int_equal(alarm_update_def(a, &def, T_BASE + 100, &d), KS_OK);
    assert_int_equal(alarm_history_count(h), 3);
    assert_int_equal(alarm_history_at(h, 0)->timestamp_ms, T_BASE + 11);
    assert_int_equal(alarm_history_at(h, 2)->type, ALARM_HISTORY_CONFIGURATION_UPDATE);
    def.history_max = 0; /* default 1000 */
    assert_int_equal(alarm_update_def(a, &def, T_BASE + 200, &d), KS_OK);
    for (int i = 0; i < 20; i++) /* the state is OK here: start with ALARM */
        force_state(a, i % 2 ? ALARM_STATE_OK : ALARM_STATE_ALARM, T_BASE + 300 + i);
    assert_int_equal(alarm_history_count(h), 24);
    assert_int_equal(alarm_history_at(h, 0)->timestamp_ms, T_BASE + 11);
    assert_int_equal(alarm_history_at(h, 23)->timestamp_ms, T_BASE + 319);
    alarm_free(a);
}

/* Two 3900-byte StateReasonData documents do not fit 4095 bytes: the old
 * state's is dropped first [I]. */
static void test_history_data_cap(void **state)
{
    (void)state;
    struct alarm_def def;
    test_def(&def, "big");
    struct alarm *a = alarm_new(&def, T_BASE);
    char big[3901];
    big[0] = '{';
    big[1] = '"';
    big[2] = 'a';
    big[3] = '"';
    big[4] = ':';
    big[5] = '"';
    memset(big + 6, 'x', 3892);
    big[3898] = '"';
    big[3899] = '}';
    big[3900] = '\0';
    struct ks_diag d;
    bool changed;
    assert_int_equal(
        alarm_set_state(a, ALARM_STATE_ALARM, "one", big, T_BASE + 1, &changed, NULL, &d), KS_OK);
    assert_int_equal(alarm_set_state(a, ALARM_STATE_OK, "two", big, T_BASE + 2, &changed, NULL, &d),
                     KS_OK);
    const struct alarm_history *h = alarm_get_history(a);
    const struct alarm_history_item *it = alarm_history_at(h, 2);
    assert_true(strlen(it->data) <= ALARM_HISTORY_DATA_MAX);
    json_t *j = parse(it->data);
    assert_null(json_object_get(json_object_get(j, "oldState"), "stateReasonData"));
    assert_non_null(json_object_get(json_object_get(j, "newState"), "stateReasonData"));
    json_decref(j);
    alarm_free(a);
}

int run_history_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_item_golden), cmocka_unit_test(test_state_update_item),
        cmocka_unit_test(test_action_items),       cmocka_unit_test(test_update_item),
        cmocka_unit_test(test_history_bound),      cmocka_unit_test(test_history_data_cap),
    };
    return cmocka_run_group_tests_name("alarm_history", tests, NULL, NULL);
}
