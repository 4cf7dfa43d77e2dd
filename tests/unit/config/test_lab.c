/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The lab templates (examples/lab) as golden tests: every resolved field of
 * monitoring.yaml asserted, monitoring.json loading to the same result, the
 * Decrypt-volume template, and `validate` dumps compared with the files in
 * golden/ (KS_GOLDEN_UPDATE=1 rewrites them; review the diff).
 */
#include "test_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct config_template *load_example(const char *rel, const struct config_options *o,
                                            char **text_out)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", source_dir(), rel);
    size_t len;
    char *text = read_text(path, &len);
    if (!text)
        print_error("cannot read %s\n", path);
    assert_non_null(text);
    /* named by the relative path, so dumps do not depend on the checkout */
    struct config_template *t = load_ok(rel, text, o);
    if (text_out)
        *text_out = text;
    else
        free(text);
    return t;
}

static char *dump(const struct config_template *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_template_dump(t, f);
    fclose(f);
    return buf;
}

static void test_monitoring_fields(void **state)
{
    (void)state;
    char *text;
    struct config_template *t = load_example("examples/lab/monitoring.yaml", NULL, &text);
    assert_string_equal(t->stack_name, "monitoring");
    assert_string_equal(t->account_id, "111122223333");
    assert_string_equal(t->region, "us-east-1");
    assert_string_equal(t->partition, "aws");
    assert_string_equal(t->format_version, "2010-09-09");
    assert_non_null(strstr(t->description, "KMS errors"));

    assert_int_equal(t->n_params, 2);
    assert_string_equal(t->params[0].name, "AppECSTaskRoleArn");
    assert_string_equal(t->params[0].value, "arn:aws:iam::111122223333:role/App-ECSTaskRole");
    assert_false(t->params[0].overridden);
    assert_string_equal(t->params[1].name, "EmailAddress");
    assert_string_equal(t->params[1].value, "kms-alerts@example.com");
    assert_int_equal(t->n_conditions, 0);
    assert_int_equal(t->n_warnings, 0); /* both AllowedPatterns are checked */

    assert_int_equal(t->n_log_groups, 1);
    const struct config_log_group *g = &t->log_groups[0];
    assert_string_equal(g->res.logical_id, "KMSLogGroup");
    assert_string_equal(g->name, "/aws/cloudtrail/monitoring");
    assert_string_equal(
        g->arn, "arn:aws:logs:us-east-1:111122223333:log-group:/aws/cloudtrail/monitoring:*");
    assert_true(g->has_retention_in_days && g->retention_in_days == 7);
    assert_null(g->kms_key_id);

    assert_int_equal(t->n_metric_filters, 1);
    const struct config_metric_filter *f = &t->metric_filters[0];
    assert_string_equal(f->res.logical_id, "KMSFailureFilter");
    assert_string_equal(f->filter_name, "monitoring-KMSFailureFilter");
    assert_false(f->filter_name_given);
    assert_string_equal(f->log_group_name, "/aws/cloudtrail/monitoring");
    assert_string_equal(f->filter_pattern,
                        "{ $.errorCode = \"*\" && $.eventSource= \"kms.amazonaws.com\" && "
                        "$.userIdentity.sessionContext.sessionIssuer.arn = "
                        "\"arn:aws:iam::111122223333:role/App-ECSTaskRole\" }");
    assert_int_equal(f->filter_pattern_offset, SIZE_MAX); /* built by !Sub */
    assert_int_equal(f->filter_pattern_pos.offset,
                     (size_t)(strstr(text, "!Sub '{ $.errorCode") - text));
    assert_int_equal(f->n_transformations, 1);
    const struct config_metric_transformation *x = &f->transformations[0];
    assert_string_equal(x->metric_namespace, "Pattern1Application/KMSSecurity");
    assert_string_equal(x->metric_name, "KMSSecurityError");
    assert_string_equal(x->metric_value, "1");
    assert_false(x->has_default_value);
    assert_null(x->unit);
    assert_int_equal(x->n_dimensions, 0);

    assert_int_equal(t->n_alarms, 1);
    const struct config_alarm *a = &t->alarms[0];
    assert_string_equal(a->res.logical_id, "KMSSecurityAlarm");
    assert_string_equal(a->name, "monitoring-KMSSecurityAlarm");
    assert_string_equal(
        a->arn, "arn:aws:cloudwatch:us-east-1:111122223333:alarm:monitoring-KMSSecurityAlarm");
    assert_string_equal(a->namespace, "Pattern1Application/KMSSecurity");
    assert_string_equal(a->metric_name, "KMSSecurityError");
    assert_int_equal(a->n_dimensions, 0);
    assert_string_equal(a->statistic, "Sum");
    assert_null(a->extended_statistic);
    assert_true(a->has_period && a->period == 10);
    assert_true(a->evaluation_periods == 1);
    assert_true(a->datapoints_to_alarm == 1);
    assert_false(a->has_datapoints_to_alarm);
    assert_true(a->has_threshold && a->threshold == 1);
    assert_string_equal(a->comparison_operator, "GreaterThanThreshold");
    assert_string_equal(a->treat_missing_data, "ignore");
    assert_true(a->actions_enabled);
    assert_int_equal(a->alarm_actions.n, 1);
    assert_string_equal(a->alarm_actions.v[0],
                        "arn:aws:sns:us-east-1:111122223333:monitoring-KMSAlarmTopic");
    assert_int_equal(a->ok_actions.n, 0);
    assert_int_equal(a->insufficient_data_actions.n, 0);
    assert_int_equal(a->n_metrics, 0);

    assert_int_equal(t->n_topics, 1);
    const struct config_topic *tp = &t->topics[0];
    assert_string_equal(tp->res.logical_id, "KMSAlarmTopic");
    assert_string_equal(tp->name, "monitoring-KMSAlarmTopic");
    assert_string_equal(tp->arn, a->alarm_actions.v[0]);
    assert_string_equal(tp->display_name, "KMS security alarm");
    assert_ptr_equal(config_template_topic_by_arn(t, a->alarm_actions.v[0]), tp);
    assert_int_equal(t->n_subscriptions, 1);
    assert_int_equal(tp->n_subscriptions, 1);
    const struct config_subscription *s = tp->subscriptions[0];
    assert_true(s->is_inline);
    assert_string_equal(s->protocol, "email");
    assert_string_equal(s->endpoint, "kms-alerts@example.com");
    assert_string_equal(s->topic_arn, tp->arn);

    assert_int_equal(t->n_composite_alarms, 0);
    assert_int_equal(t->n_customs, 0);
    static const char *const skipped[][2] = {
        {"CloudTrailBucket", "AWS::S3::Bucket"},
        {"CloudTrailBucketPolicy", "AWS::S3::BucketPolicy"},
        {"CloudTrailLogsRole", "AWS::IAM::Role"},
        {"CloudTrail", "AWS::CloudTrail::Trail"},
    };
    assert_int_equal(t->n_skipped, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(t->skipped[i].logical_id, skipped[i][0]);
        assert_string_equal(t->skipped[i].type, skipped[i][1]);
        assert_int_equal(t->skipped[i].reason, CONFIG_SKIP_UNSUPPORTED);
    }

    assert_int_equal(t->n_outputs, 3);
    assert_string_equal(t->outputs[0].name, "LogGroupArn");
    assert_string_equal(t->outputs[0].value, g->arn);
    assert_string_equal(t->outputs[1].value, a->arn);
    assert_string_equal(t->outputs[2].value, tp->arn);
    assert_string_equal(t->outputs[2].export_name, "monitoring-AlarmTopicArn");
    config_template_free(t);
    free(text);
}

/* Overrides and options flow through to every derived name. */
static void test_monitoring_options(void **state)
{
    (void)state;
    const char *p[] = {"EmailAddress=soc@example.org",
                       "AppECSTaskRoleArn=arn:aws-cn:iam::123456789012:role/Other"};
    struct config_options o = {.stack_name = "lab",
                               .account_id = "123456789012",
                               .region = "cn-north-1",
                               .params = p,
                               .n_params = 2};
    struct config_template *t = load_example("examples/lab/monitoring.yaml", &o, NULL);
    assert_string_equal(t->log_groups[0].arn,
                        "arn:aws-cn:logs:cn-north-1:123456789012:log-group:/aws/cloudtrail/lab:*");
    assert_non_null(strstr(t->metric_filters[0].filter_pattern,
                           "= \"arn:aws-cn:iam::123456789012:role/Other\" }"));
    assert_string_equal(t->alarms[0].alarm_actions.v[0],
                        "arn:aws-cn:sns:cn-north-1:123456789012:lab-KMSAlarmTopic");
    assert_string_equal(t->subscriptions[0].endpoint, "soc@example.org");
    assert_true(t->params[0].overridden && t->params[1].overridden);
    config_template_free(t);

    /* the parameters' constraints hold for overrides too */
    const char *bad[] = {"EmailAddress=not-an-address"};
    struct config_options ob = {.params = bad, .n_params = 1};
    char path[1024];
    snprintf(path, sizeof(path), "%s/examples/lab/monitoring.yaml", source_dir());
    struct config_template *tb = NULL;
    struct ks_diag d;
    assert_int_equal(config_template_load(path, &ob, &tb, &d), KS_E_INVALID);
    assert_null(tb);
    assert_non_null(strstr(d.msg, "Parameters.EmailAddress: value 'not-an-address' does not "
                                  "match AllowedPattern"));
    assert_non_null(strstr(d.msg, "must be an e-mail address"));
}

#define SAME_STR(a, b)                                                                             \
    do {                                                                                           \
        if ((a) || (b)) {                                                                          \
            assert_non_null(a);                                                                    \
            assert_non_null(b);                                                                    \
            assert_string_equal(a, b);                                                             \
        }                                                                                          \
    } while (0)

static void same_strings(const struct config_strings *a, const struct config_strings *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        assert_string_equal(a->v[i], b->v[i]);
}

static void same_resource(const struct config_resource *a, const struct config_resource *b)
{
    SAME_STR(a->logical_id, b->logical_id);
    SAME_STR(a->type, b->type);
    SAME_STR(a->condition, b->condition);
    SAME_STR(a->deletion_policy, b->deletion_policy);
    same_strings(&a->depends_on, &b->depends_on);
}

/* Field by field, positions aside: the YAML and JSON lab templates agree. */
static void same_template(const struct config_template *a, const struct config_template *b)
{
    SAME_STR(a->stack_name, b->stack_name);
    SAME_STR(a->stack_id, b->stack_id);
    SAME_STR(a->description, b->description);
    assert_int_equal(a->n_params, b->n_params);
    for (size_t i = 0; i < a->n_params; i++) {
        SAME_STR(a->params[i].name, b->params[i].name);
        SAME_STR(a->params[i].value, b->params[i].value);
        SAME_STR(a->params[i].description, b->params[i].description);
    }
    assert_int_equal(a->n_log_groups, b->n_log_groups);
    for (size_t i = 0; i < a->n_log_groups; i++) {
        same_resource(&a->log_groups[i].res, &b->log_groups[i].res);
        SAME_STR(a->log_groups[i].name, b->log_groups[i].name);
        SAME_STR(a->log_groups[i].arn, b->log_groups[i].arn);
        assert_true(a->log_groups[i].retention_in_days == b->log_groups[i].retention_in_days);
    }
    assert_int_equal(a->n_metric_filters, b->n_metric_filters);
    for (size_t i = 0; i < a->n_metric_filters; i++) {
        const struct config_metric_filter *x = &a->metric_filters[i], *y = &b->metric_filters[i];
        same_resource(&x->res, &y->res);
        SAME_STR(x->filter_name, y->filter_name);
        SAME_STR(x->filter_pattern, y->filter_pattern);
        SAME_STR(x->log_group_name, y->log_group_name);
        assert_int_equal(x->n_transformations, y->n_transformations);
        SAME_STR(x->transformations[0].metric_name, y->transformations[0].metric_name);
        SAME_STR(x->transformations[0].metric_namespace, y->transformations[0].metric_namespace);
        SAME_STR(x->transformations[0].metric_value, y->transformations[0].metric_value);
        assert_int_equal(x->transformations[0].has_default_value,
                         y->transformations[0].has_default_value);
    }
    assert_int_equal(a->n_alarms, b->n_alarms);
    for (size_t i = 0; i < a->n_alarms; i++) {
        const struct config_alarm *x = &a->alarms[i], *y = &b->alarms[i];
        same_resource(&x->res, &y->res);
        SAME_STR(x->name, y->name);
        SAME_STR(x->arn, y->arn);
        SAME_STR(x->description, y->description);
        SAME_STR(x->namespace, y->namespace);
        SAME_STR(x->metric_name, y->metric_name);
        SAME_STR(x->statistic, y->statistic);
        SAME_STR(x->comparison_operator, y->comparison_operator);
        SAME_STR(x->treat_missing_data, y->treat_missing_data);
        assert_true(x->period == y->period && x->threshold == y->threshold &&
                    x->evaluation_periods == y->evaluation_periods &&
                    x->datapoints_to_alarm == y->datapoints_to_alarm);
        assert_int_equal(x->actions_enabled, y->actions_enabled);
        same_strings(&x->alarm_actions, &y->alarm_actions);
        same_strings(&x->ok_actions, &y->ok_actions);
    }
    assert_int_equal(a->n_topics, b->n_topics);
    for (size_t i = 0; i < a->n_topics; i++) {
        same_resource(&a->topics[i].res, &b->topics[i].res);
        SAME_STR(a->topics[i].arn, b->topics[i].arn);
        SAME_STR(a->topics[i].display_name, b->topics[i].display_name);
        assert_int_equal(a->topics[i].n_subscriptions, b->topics[i].n_subscriptions);
    }
    assert_int_equal(a->n_subscriptions, b->n_subscriptions);
    for (size_t i = 0; i < a->n_subscriptions; i++) {
        SAME_STR(a->subscriptions[i].arn, b->subscriptions[i].arn);
        SAME_STR(a->subscriptions[i].protocol, b->subscriptions[i].protocol);
        SAME_STR(a->subscriptions[i].endpoint, b->subscriptions[i].endpoint);
        SAME_STR(a->subscriptions[i].topic_arn, b->subscriptions[i].topic_arn);
    }
    assert_int_equal(a->n_skipped, b->n_skipped);
    for (size_t i = 0; i < a->n_skipped; i++) {
        SAME_STR(a->skipped[i].logical_id, b->skipped[i].logical_id);
        SAME_STR(a->skipped[i].type, b->skipped[i].type);
    }
    assert_int_equal(a->n_outputs, b->n_outputs);
    for (size_t i = 0; i < a->n_outputs; i++) {
        SAME_STR(a->outputs[i].name, b->outputs[i].name);
        SAME_STR(a->outputs[i].value, b->outputs[i].value);
        SAME_STR(a->outputs[i].export_name, b->outputs[i].export_name);
        SAME_STR(a->outputs[i].description, b->outputs[i].description);
    }
}

static void test_monitoring_json_same(void **state)
{
    (void)state;
    struct config_template *y = load_example("examples/lab/monitoring.yaml", NULL, NULL);
    struct config_template *j = load_example("examples/lab/monitoring.json", NULL, NULL);
    same_template(y, j);
    char *dy = dump(y), *dj = dump(j);
    /* only the first line (the file name) differs */
    assert_string_equal(strchr(dy, '\n'), strchr(dj, '\n'));
    free(dy);
    free(dj);
    config_template_free(y);
    config_template_free(j);
}

static void test_decrypt_volume_fields(void **state)
{
    (void)state;
    char *text;
    struct config_template *t = load_example("examples/lab/decrypt-volume.yaml", NULL, &text);
    assert_int_equal(t->n_metric_filters, 2);
    static const char *const ops[] = {"Decrypt", "Encrypt"};
    for (size_t i = 0; i < 2; i++) {
        const struct config_metric_filter *f = &t->metric_filters[i];
        char want[128];
        snprintf(want, sizeof(want),
                 "{ $.eventSource = \"kms.amazonaws.com\" && $.eventName = \"%s\" }", ops[i]);
        assert_string_equal(f->filter_pattern, want);
        /* a literal pattern: an error offset inside it maps into the file */
        assert_int_not_equal(f->filter_pattern_offset, SIZE_MAX);
        assert_memory_equal(text + f->filter_pattern_offset, want, strlen(want));
        assert_true(f->filter_name_given);
        assert_string_equal(f->log_group_name, "/aws/cloudtrail/monitoring");
        const struct config_metric_transformation *x = &f->transformations[0];
        assert_string_equal(x->metric_namespace, "Pattern1Application/KMSVolume");
        assert_string_equal(x->metric_name, i ? "EncryptCount" : "DecryptCount");
        assert_string_equal(x->unit, "Count");
        assert_int_equal(x->n_dimensions, 1);
        assert_string_equal(x->dimensions[0].name, "KeyArn");
        assert_string_equal(x->dimensions[0].value, "$.resources[0].ARN");
    }
    assert_string_equal(t->metric_filters[0].filter_name, "KMSDecryptVolume");
    const struct config_alarm *a = &t->alarms[0];
    assert_string_equal(a->name, "decrypt-volume-decrypt-burst");
    assert_int_equal(a->n_dimensions, 1);
    assert_string_equal(a->dimensions[0].name, "KeyArn");
    assert_string_equal(
        a->dimensions[0].value,
        "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    assert_true(a->period == 10 && a->evaluation_periods == 5);
    assert_true(a->has_datapoints_to_alarm && a->datapoints_to_alarm == 3);
    assert_true(a->threshold == 20); /* from the mapping, Environment=lab */
    assert_string_equal(a->treat_missing_data, "notBreaching");
    assert_string_equal(a->ok_actions.v[0],
                        "arn:aws:sns:us-east-1:111122223333:decrypt-volume-alerts");
    assert_int_equal(t->n_conditions, 1);
    assert_false(t->conditions[0].value);
    assert_int_equal(t->n_subscriptions, 0);
    assert_int_equal(t->n_skipped, 1);
    assert_string_equal(t->skipped[0].logical_id, "VolumeAlertEmail");
    assert_int_equal(t->skipped[0].reason, CONFIG_SKIP_CONDITION);
    config_template_free(t);
    free(text);

    const char *p[] = {"Environment=prod", "AlertEmail=soc@example.org"};
    struct config_options o = {.params = p, .n_params = 2};
    t = load_example("examples/lab/decrypt-volume.yaml", &o, NULL);
    assert_true(t->alarms[0].threshold == 500);
    assert_true(t->conditions[0].value);
    assert_int_equal(t->n_skipped, 0);
    assert_int_equal(t->n_subscriptions, 1);
    assert_ptr_equal(t->subscriptions[0].topic, &t->topics[0]);
    assert_string_equal(t->subscriptions[0].endpoint, "soc@example.org");
    config_template_free(t);
}

static void golden(const char *example, const char *golden_name)
{
    struct config_template *t = load_example(example, NULL, NULL);
    char *got = dump(t);
    config_template_free(t);
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/unit/config/golden/%s", source_dir(), golden_name);
    if (getenv("KS_GOLDEN_UPDATE")) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(got, f);
        fclose(f);
    }
    char *want = read_text(path, NULL);
    if (!want || strcmp(want, got) != 0)
        print_error("%s: dump differs from %s\n--- got:\n%s\n", example, path, got);
    assert_non_null(want);
    assert_string_equal(want, got);
    free(want);
    free(got);
}

static void test_golden_dumps(void **state)
{
    (void)state;
    golden("examples/lab/monitoring.yaml", "monitoring.dump");
    golden("examples/lab/decrypt-volume.yaml", "decrypt-volume.dump");
    golden("tests/unit/config/reference.yaml", "reference.dump");
}

/* The reference template of alarms.md §14.7: anomaly band, composite rule. */
static void test_reference_template(void **state)
{
    (void)state;
    struct config_template *t = load_example("tests/unit/config/reference.yaml", NULL, NULL);
    assert_int_equal(t->n_alarms, 2);
    const struct config_alarm *band = &t->alarms[1];
    assert_string_equal(band->comparison_operator, "GreaterThanUpperThreshold");
    assert_string_equal(band->threshold_metric_id, "ad1");
    assert_int_equal(band->n_metrics, 2);
    assert_string_equal(band->metrics[1].expression, "ANOMALY_DETECTION_BAND(m1, 3)");
    assert_string_equal(t->composite_alarms[0].alarm_rule,
                        "ALARM(\"reference-kms-failures\") AND "
                        "ALARM(\"reference-kms-decrypt-anomaly\")");
    assert_string_equal(t->metric_filters[0].log_group_name, "cloudtrail/org");
    assert_true(t->metric_filters[0].transformations[0].has_default_value);
    /* AlertEmail defaults to '': the subscription is not created */
    assert_int_equal(t->n_skipped, 1);
    assert_string_equal(t->skipped[0].logical_id, "AlertEmailSub");
    config_template_free(t);
}

int run_lab_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monitoring_fields),    cmocka_unit_test(test_monitoring_options),
        cmocka_unit_test(test_monitoring_json_same), cmocka_unit_test(test_decrypt_volume_fields),
        cmocka_unit_test(test_reference_template),   cmocka_unit_test(test_golden_dumps),
    };
    return cmocka_run_group_tests_name("config lab templates", tests, NULL, NULL);
}
