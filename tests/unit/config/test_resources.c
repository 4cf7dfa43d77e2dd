/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Typed resources: every field of each supported type, resource attributes
 * (Condition, DependsOn, DeletionPolicy, Metadata), Keysentry:: resources,
 * subscriptions linked to their topics, outputs.
 */
#include "test_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char full[] =
    "AWSTemplateFormatVersion: '2010-09-09'\n"
    "Description: all types\n"
    "Parameters:\n"
    "  Email: {Type: String, Default: ops@example.com}\n"
    "Conditions:\n"
    "  Never: !Equals [a, b]\n"
    "Resources:\n"
    "  Group:\n"
    "    Type: AWS::Logs::LogGroup\n"
    "    DeletionPolicy: Retain\n"
    "    UpdateReplacePolicy: Delete\n"
    "    Metadata: {Owner: sec, Note: !Ref Email}\n"
    "    Properties:\n"
    "      LogGroupName: trail/org\n"
    "      RetentionInDays: 30\n"
    "      KmsKeyId: arn:aws:kms:us-east-1:111122223333:key/k\n"
    "      LogGroupClass: STANDARD\n"
    "      Tags: [{Key: team, Value: sec}, {Key: env, Value: prod}]\n"
    "  Filter:\n"
    "    Type: AWS::Logs::MetricFilter\n"
    "    DependsOn: Group\n"
    "    Properties:\n"
    "      FilterName: by-principal\n"
    "      LogGroupName: !Ref Group\n"
    "      FilterPattern: '{ $.eventName = \"Decrypt\" }'\n"
    "      ApplyOnTransformedLogs: false\n"
    "      MetricTransformations:\n"
    "        - MetricName: Decrypts\n"
    "          MetricNamespace: Sec/KMS\n"
    "          MetricValue: $.requestParameters.size\n"
    "          Unit: Bytes\n"
    "          Dimensions:\n"
    "            - {Key: Principal, Value: $.userIdentity.arn}\n"
    "            - {Key: Key, Value: '$.resources[0].ARN'}\n"
    "  Counter:\n"
    "    Type: AWS::Logs::MetricFilter\n"
    "    Properties:\n"
    "      LogGroupName: trail/org\n"
    "      FilterPattern: ERROR\n"
    "      MetricTransformations:\n"
    "        - {MetricName: Errors, MetricNamespace: App, MetricValue: '1', DefaultValue: 0}\n"
    "  Single:\n"
    "    Type: AWS::CloudWatch::Alarm\n"
    "    DependsOn: [Filter, Topic]\n"
    "    Properties:\n"
    "      AlarmName: p99-latency\n"
    "      AlarmDescription: slow\n"
    "      ActionsEnabled: false\n"
    "      AlarmActions: [!Ref Topic]\n"
    "      OKActions: [!Ref Topic, arn:aws:sns:us-east-1:111122223333:other]\n"
    "      InsufficientDataActions: [!Ref Topic]\n"
    "      Namespace: App\n"
    "      MetricName: Latency\n"
    "      Dimensions: [{Name: Api, Value: orders}]\n"
    "      ExtendedStatistic: p99.5\n"
    "      Period: 120\n"
    "      EvaluationPeriods: 5\n"
    "      DatapointsToAlarm: 2\n"
    "      Threshold: 2.5\n"
    "      ComparisonOperator: GreaterThanOrEqualToThreshold\n"
    "      TreatMissingData: breaching\n"
    "      EvaluateLowSampleCountPercentile: ignore\n"
    "      Unit: Seconds\n"
    "      Tags: [{Key: a, Value: b}]\n"
    "  Math:\n"
    "    Type: AWS::CloudWatch::Alarm\n"
    "    Properties:\n"
    "      ComparisonOperator: GreaterThanThreshold\n"
    "      EvaluationPeriods: 3\n"
    "      Threshold: 20\n"
    "      Metrics:\n"
    "        - Id: mfail\n"
    "          ReturnData: false\n"
    "          MetricStat:\n"
    "            Metric: {Namespace: Sec/KMS, MetricName: Failures, Dimensions: [{Name: K, "
    "Value: v}]}\n"
    "            Period: 60\n"
    "            Stat: Sum\n"
    "            Unit: Count\n"
    "        - Id: mtotal\n"
    "          ReturnData: false\n"
    "          MetricStat: {Metric: {Namespace: Sec/KMS, MetricName: Calls}, Period: 60, "
    "Stat: Sum}\n"
    "        - Id: ratio\n"
    "          Expression: 100 * FILL(mfail, 0) / mtotal\n"
    "          Label: failure ratio\n"
    "          Period: 60\n"
    "          ReturnData: true\n"
    "  Band:\n"
    "    Type: AWS::CloudWatch::Alarm\n"
    "    Properties:\n"
    "      ComparisonOperator: LessThanLowerOrGreaterThanUpperThreshold\n"
    "      EvaluationPeriods: 1\n"
    "      ThresholdMetricId: ad1\n"
    "      Metrics:\n"
    "        - {Id: m1, MetricStat: {Metric: {Namespace: N, MetricName: M}, Period: 300, Stat: "
    "Sum}}\n"
    "        - {Id: ad1, Expression: 'ANOMALY_DETECTION_BAND(m1, 2)'}\n"
    "  Comp:\n"
    "    Type: AWS::CloudWatch::CompositeAlarm\n"
    "    Properties:\n"
    "      AlarmName: both\n"
    "      AlarmRule: !Sub 'ALARM(\"${Single}\") AND ALARM(${Math})'\n"
    "      AlarmDescription: d\n"
    "      AlarmActions: [!Ref Topic]\n"
    "      ActionsSuppressor: !Ref Band\n"
    "      ActionsSuppressorWaitPeriod: 60\n"
    "      ActionsSuppressorExtensionPeriod: 120\n"
    "  Topic:\n"
    "    Type: AWS::SNS::Topic\n"
    "    Properties:\n"
    "      TopicName: alerts\n"
    "      DisplayName: Alerts\n"
    "      KmsMasterKeyId: alias/aws/sns\n"
    "      SignatureVersion: '2'\n"
    "      TracingConfig: PassThrough\n"
    "      Subscription:\n"
    "        - {Endpoint: !Ref Email, Protocol: email}\n"
    "        - {Endpoint: 'https://hooks.example.com/x', Protocol: https}\n"
    "  Hook:\n"
    "    Type: AWS::SNS::Subscription\n"
    "    Properties:\n"
    "      TopicArn: !Ref Topic\n"
    "      Protocol: http\n"
    "      Endpoint: http://127.0.0.1:9000/sns\n"
    "      RawMessageDelivery: 'true'\n"
    "      FilterPolicy: {severity: [high]}\n"
    "      FilterPolicyScope: MessageBody\n"
    "      DeliveryPolicy: '{\"healthyRetryPolicy\": {\"numRetries\": 3}}'\n"
    "  External:\n"
    "    Type: AWS::SNS::Subscription\n"
    "    Properties: {TopicArn: 'arn:aws:sns:us-east-1:999999999999:elsewhere', Protocol: sqs,\n"
    "                 Endpoint: 'arn:aws:sqs:us-east-1:111122223333:q'}\n"
    "  NotMade:\n"
    "    Type: AWS::SNS::Subscription\n"
    "    Condition: Never\n"
    "    Properties: {TopicArn: !Ref Topic, Protocol: email, Endpoint: x@y.z}\n"
    "  Source:\n"
    "    Type: Keysentry::Source\n"
    "    Properties:\n"
    "      Name: archive\n"
    "      Path: !Sub '/var/log/${AWS::Region}'\n"
    "      Follow: true\n"
    "      Workers: 4\n"
    "      Tags: [x, !If [Never, y, !Ref AWS::NoValue]]\n"
    "  Bare:\n"
    "    Type: Keysentry::Response\n"
    "Outputs:\n"
    "  Rule: {Value: !GetAtt Comp.Arn, Description: the composite}\n"
    "  Hidden: {Value: x, Condition: Never}\n"
    "  Zones: {Value: !GetAZs '', Export: {Name: zones}}\n";

static void test_all_types(void **state)
{
    (void)state;
    struct config_template *t = load_ok("all.yaml", full, NULL);
    assert_string_equal(t->description, "all types");
    assert_string_equal(t->format_version, "2010-09-09");

    assert_int_equal(t->n_log_groups, 1);
    const struct config_log_group *g = &t->log_groups[0];
    assert_string_equal(g->res.logical_id, "Group");
    assert_string_equal(g->res.type, "AWS::Logs::LogGroup");
    assert_int_equal(g->res.pos.line, 8);
    assert_int_equal(g->res.pos.col, 3);
    assert_string_equal(g->res.deletion_policy, "Retain");
    assert_string_equal(g->res.update_replace_policy, "Delete");
    assert_null(g->res.condition);
    assert_int_equal(g->res.depends_on.n, 0);
    assert_non_null(g->res.metadata);
    assert_string_equal(json_string_value(json_object_get(g->res.metadata, "Owner")), "sec");
    /* Metadata is kept as written: the Ref stays a Ref */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(g->res.metadata, "Note"), "Ref")),
        "Email");
    assert_string_equal(g->name, "trail/org");
    assert_true(g->name_given);
    assert_string_equal(g->arn, "arn:aws:logs:us-east-1:111122223333:log-group:trail/org:*");
    assert_true(g->has_retention_in_days);
    assert_true(g->retention_in_days == 30);
    assert_string_equal(g->kms_key_id, "arn:aws:kms:us-east-1:111122223333:key/k");
    assert_string_equal(g->log_group_class, "STANDARD");
    assert_int_equal(g->n_tags, 2);
    assert_string_equal(g->tags[1].key, "env");
    assert_string_equal(g->tags[1].value, "prod");
    assert_ptr_equal(config_template_log_group_by_name(t, "trail/org"), g);
    assert_null(config_template_log_group_by_name(t, "nope"));

    assert_int_equal(t->n_metric_filters, 2);
    const struct config_metric_filter *f = &t->metric_filters[0];
    assert_string_equal(f->res.logical_id, "Filter");
    assert_int_equal(f->res.depends_on.n, 1);
    assert_string_equal(f->res.depends_on.v[0], "Group");
    assert_string_equal(f->filter_name, "by-principal");
    assert_true(f->filter_name_given);
    assert_string_equal(f->log_group_name, "trail/org");
    assert_string_equal(f->filter_pattern, "{ $.eventName = \"Decrypt\" }");
    assert_int_equal(f->filter_pattern_pos.line, 25);
    assert_int_equal(f->filter_pattern_pos.col, 22);
    /* the pattern sits verbatim one byte after the opening quote */
    assert_int_equal(f->filter_pattern_offset, f->filter_pattern_pos.offset + 1);
    assert_memory_equal(full + f->filter_pattern_offset, f->filter_pattern,
                        strlen(f->filter_pattern));
    assert_false(f->apply_on_transformed_logs);
    assert_int_equal(f->n_transformations, 1);
    const struct config_metric_transformation *x = &f->transformations[0];
    assert_string_equal(x->metric_name, "Decrypts");
    assert_string_equal(x->metric_namespace, "Sec/KMS");
    assert_string_equal(x->metric_value, "$.requestParameters.size");
    assert_false(x->has_default_value);
    assert_string_equal(x->unit, "Bytes");
    assert_int_equal(x->n_dimensions, 2);
    assert_string_equal(x->dimensions[0].name, "Principal");
    assert_string_equal(x->dimensions[0].value, "$.userIdentity.arn");
    assert_string_equal(x->dimensions[1].value, "$.resources[0].ARN");
    assert_int_equal(x->pos.line, 28);
    const struct config_metric_filter *c2 = &t->metric_filters[1];
    assert_string_equal(c2->filter_name, "all-Counter");
    assert_false(c2->filter_name_given);
    assert_true(c2->transformations[0].has_default_value);
    assert_true(c2->transformations[0].default_value == 0);
    assert_null(c2->transformations[0].unit);
    assert_int_equal(c2->filter_pattern_offset, c2->filter_pattern_pos.offset); /* plain */

    assert_int_equal(t->n_alarms, 3);
    const struct config_alarm *a = &t->alarms[0];
    assert_string_equal(a->res.logical_id, "Single");
    assert_int_equal(a->res.depends_on.n, 2);
    assert_string_equal(a->res.depends_on.v[1], "Topic");
    assert_string_equal(a->name, "p99-latency");
    assert_true(a->name_given);
    assert_string_equal(a->arn, "arn:aws:cloudwatch:us-east-1:111122223333:alarm:p99-latency");
    assert_string_equal(a->description, "slow");
    assert_false(a->actions_enabled);
    assert_int_equal(a->alarm_actions.n, 1);
    assert_string_equal(a->alarm_actions.v[0], "arn:aws:sns:us-east-1:111122223333:alerts");
    assert_int_equal(a->ok_actions.n, 2);
    assert_string_equal(a->ok_actions.v[1], "arn:aws:sns:us-east-1:111122223333:other");
    assert_int_equal(a->insufficient_data_actions.n, 1);
    assert_string_equal(a->namespace, "App");
    assert_string_equal(a->metric_name, "Latency");
    assert_int_equal(a->n_dimensions, 1);
    assert_string_equal(a->dimensions[0].name, "Api");
    assert_string_equal(a->dimensions[0].value, "orders");
    assert_null(a->statistic);
    assert_string_equal(a->extended_statistic, "p99.5");
    assert_true(a->has_period && a->period == 120);
    assert_true(a->evaluation_periods == 5);
    assert_true(a->has_datapoints_to_alarm && a->datapoints_to_alarm == 2);
    assert_true(a->has_threshold && a->threshold == 2.5);
    assert_null(a->threshold_metric_id);
    assert_string_equal(a->comparison_operator, "GreaterThanOrEqualToThreshold");
    assert_string_equal(a->treat_missing_data, "breaching");
    assert_string_equal(a->evaluate_low_sample_count_percentile, "ignore");
    assert_string_equal(a->unit, "Seconds");
    assert_int_equal(a->n_tags, 1);
    assert_int_equal(a->n_metrics, 0);

    const struct config_alarm *m = &t->alarms[1];
    assert_string_equal(m->name, "all-Math");
    assert_false(m->name_given);
    assert_true(m->actions_enabled);
    assert_string_equal(m->treat_missing_data, "missing");
    assert_false(m->has_datapoints_to_alarm);
    assert_true(m->datapoints_to_alarm == 3); /* defaults to EvaluationPeriods */
    assert_null(m->metric_name);
    assert_false(m->has_period);
    assert_int_equal(m->n_metrics, 3);
    assert_string_equal(m->metrics[0].id, "mfail");
    assert_true(m->metrics[0].has_metric_stat);
    assert_true(m->metrics[0].has_return_data);
    assert_false(m->metrics[0].return_data);
    assert_string_equal(m->metrics[0].metric_stat.namespace, "Sec/KMS");
    assert_string_equal(m->metrics[0].metric_stat.metric_name, "Failures");
    assert_int_equal(m->metrics[0].metric_stat.n_dimensions, 1);
    assert_string_equal(m->metrics[0].metric_stat.dimensions[0].name, "K");
    assert_true(m->metrics[0].metric_stat.period == 60);
    assert_string_equal(m->metrics[0].metric_stat.stat, "Sum");
    assert_string_equal(m->metrics[0].metric_stat.unit, "Count");
    assert_null(m->metrics[0].expression);
    assert_string_equal(m->metrics[2].expression, "100 * FILL(mfail, 0) / mtotal");
    assert_string_equal(m->metrics[2].label, "failure ratio");
    assert_false(m->metrics[2].has_metric_stat);
    assert_true(m->metrics[2].has_period && m->metrics[2].period == 60);
    assert_true(m->metrics[2].return_data);

    const struct config_alarm *b = &t->alarms[2];
    assert_false(b->has_threshold);
    assert_string_equal(b->threshold_metric_id, "ad1");
    assert_true(b->metrics[1].return_data); /* AWS default when absent */
    assert_false(b->metrics[1].has_return_data);

    assert_int_equal(t->n_composite_alarms, 1);
    const struct config_composite_alarm *cp = &t->composite_alarms[0];
    assert_string_equal(cp->name, "both");
    assert_string_equal(cp->arn, "arn:aws:cloudwatch:us-east-1:111122223333:alarm:both");
    assert_string_equal(cp->alarm_rule, "ALARM(\"p99-latency\") AND ALARM(all-Math)");
    assert_int_equal(cp->alarm_rule_pos.line, 100);
    assert_string_equal(cp->description, "d");
    assert_string_equal(cp->actions_suppressor, "all-Band");
    assert_true(cp->actions_suppressor_wait_period == 60);
    assert_true(cp->actions_suppressor_extension_period == 120);
    assert_int_equal(cp->alarm_actions.n, 1);

    assert_int_equal(t->n_topics, 1);
    const struct config_topic *tp = &t->topics[0];
    assert_string_equal(tp->name, "alerts");
    assert_string_equal(tp->arn, "arn:aws:sns:us-east-1:111122223333:alerts");
    assert_string_equal(tp->display_name, "Alerts");
    assert_string_equal(tp->kms_master_key_id, "alias/aws/sns");
    assert_string_equal(tp->signature_version, "2");
    assert_string_equal(tp->tracing_config, "PassThrough");
    assert_false(tp->fifo_topic);
    assert_ptr_equal(config_template_topic_by_arn(t, tp->arn), tp);

    /* subscriptions: resources first (Hook, External), then inline ones */
    assert_int_equal(t->n_subscriptions, 4);
    const struct config_subscription *h = &t->subscriptions[0];
    assert_string_equal(h->res.logical_id, "Hook");
    assert_false(h->is_inline);
    assert_ptr_equal(h->topic, tp);
    assert_string_equal(h->topic_arn, tp->arn);
    assert_string_equal(h->protocol, "http");
    assert_string_equal(h->endpoint, "http://127.0.0.1:9000/sns");
    assert_true(h->raw_message_delivery);
    assert_string_equal(h->filter_policy, "{\"severity\":[\"high\"]}");
    assert_string_equal(h->filter_policy_scope, "MessageBody");
    assert_string_equal(h->delivery_policy, "{\"healthyRetryPolicy\":{\"numRetries\":3}}");
    assert_null(h->redrive_policy);
    assert_int_equal(strncmp(h->arn, "arn:aws:sns:us-east-1:111122223333:alerts:", 42), 0);
    const struct config_subscription *e = &t->subscriptions[1];
    assert_null(e->topic); /* a topic outside the template */
    assert_string_equal(e->topic_arn, "arn:aws:sns:us-east-1:999999999999:elsewhere");
    const struct config_subscription *i1 = &t->subscriptions[2], *i2 = &t->subscriptions[3];
    assert_true(i1->is_inline && i2->is_inline);
    assert_string_equal(i1->res.logical_id, "Topic");
    assert_string_equal(i1->protocol, "email");
    assert_string_equal(i1->endpoint, "ops@example.com");
    assert_string_equal(i2->protocol, "https");
    assert_ptr_equal(i1->topic, tp);
    assert_string_not_equal(i1->arn, i2->arn);
    /* the topic lists the inline ones and the resource attached to it */
    assert_int_equal(tp->n_subscriptions, 3);
    assert_ptr_equal(tp->subscriptions[0], h);
    assert_ptr_equal(tp->subscriptions[1], i1);
    assert_ptr_equal(tp->subscriptions[2], i2);

    assert_int_equal(t->n_customs, 2);
    const struct config_custom *cu = &t->customs[0];
    assert_string_equal(cu->res.type, "Keysentry::Source");
    assert_string_equal(cu->name, "archive");
    char *js = json_dumps(cu->properties, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(js, "{\"Name\":\"archive\",\"Path\":\"/var/log/us-east-1\","
                            "\"Follow\":true,\"Workers\":4,\"Tags\":[\"x\"]}");
    free(js);
    assert_string_equal(t->customs[1].name, "all-Bare");
    assert_int_equal(json_object_size(t->customs[1].properties), 0);

    assert_int_equal(t->n_skipped, 1);
    assert_string_equal(t->skipped[0].logical_id, "NotMade");
    assert_int_equal(t->skipped[0].reason, CONFIG_SKIP_CONDITION);

    assert_int_equal(t->n_outputs, 2); /* Hidden's condition is false */
    assert_string_equal(t->outputs[0].name, "Rule");
    assert_string_equal(t->outputs[0].value, cp->arn);
    assert_string_equal(t->outputs[0].description, "the composite");
    assert_null(t->outputs[0].export_name);
    assert_string_equal(t->outputs[1].name, "Zones");
    assert_string_equal(t->outputs[1].value, "us-east-1a,us-east-1b,us-east-1c");
    assert_string_equal(t->outputs[1].export_name, "zones");
    assert_int_equal(t->n_warnings, 0);
    config_template_free(t);
}

/* A FIFO topic, an inline subscription list built by Fn::If. */
static void test_topic_variants(void **state)
{
    (void)state;
    static const char text[] =
        "Parameters: {Mail: {Type: String, Default: ''}}\n"
        "Conditions: {HasMail: !Not [!Equals [!Ref Mail, '']]}\n"
        "Resources:\n"
        "  F: {Type: 'AWS::SNS::Topic', Properties: {FifoTopic: true, TopicName: q.fifo,\n"
        "      ContentBasedDeduplication: true}}\n"
        "  T:\n"
        "    Type: AWS::SNS::Topic\n"
        "    Properties:\n"
        "      Subscription: !If [HasMail, [{Protocol: email, Endpoint: !Ref Mail}],\n"
        "                         !Ref AWS::NoValue]\n";
    struct config_template *t = load_ok("v.yaml", text, NULL);
    assert_true(t->topics[0].fifo_topic);
    assert_true(t->topics[0].content_based_deduplication);
    assert_string_equal(t->topics[0].arn, "arn:aws:sns:us-east-1:111122223333:q.fifo");
    assert_int_equal(t->n_subscriptions, 0);
    config_template_free(t);
    const char *p[] = {"Mail=a@b.c"};
    struct config_options o = {.params = p, .n_params = 1};
    t = load_ok("v.yaml", text, &o);
    assert_int_equal(t->n_subscriptions, 1);
    assert_int_equal(t->topics[1].n_subscriptions, 1);
    assert_string_equal(t->topics[1].subscriptions[0]->endpoint, "a@b.c");
    config_template_free(t);
}

/* The dump shows each section; golden-checked for the lab in test_lab.c. */
static void test_dump_sections(void **state)
{
    (void)state;
    struct config_template *t = load_ok("all.yaml", full, NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_template_dump(t, f);
    fclose(f);
    static const char *const parts[] = {
        "template: all.yaml\n",
        "conditions (1):\n  Never = false\n",
        "log groups (1):\n  Group  [deletion policy Retain]\n",
        "    retention: 30 days\n",
        "  Filter  [depends on Group]\n",
        "    metric: Sec/KMS Decrypts {Principal=$.userIdentity.arn, Key=$.resources[0].ARN} "
        "value $.requestParameters.size unit Bytes\n",
        "    metric: App Errors value 1 default 0\n",
        "    statistic: p99.5 over 120 s (unit Seconds)\n",
        "    alarm when: value >= 2.5 for 2 of 5 periods\n",
        "    query mfail: Sec/KMS Failures {K=v} Sum over 60 s\n",
        "    query ratio: 100 * FILL(mfail, 0) / mtotal label \"failure ratio\" (returned)\n",
        "    alarm when: LessThanLowerOrGreaterThanUpperThreshold band ad1 for 1 of 1 periods\n",
        "    rule: ALARM(\"p99-latency\") AND ALARM(all-Math)\n",
        "    suppressor: all-Band (wait 60 s, extension 120 s)\n",
        "      http http://127.0.0.1:9000/sns  (Hook)  [raw]  [filter MessageBody "
        "{\"severity\":[\"high\"]}]\n",
        "      email ops@example.com  (inline)\n",
        "subscriptions to topics outside the template (1):\n"
        "  arn:aws:sns:us-east-1:999999999999:elsewhere -> sqs "
        "arn:aws:sqs:us-east-1:111122223333:q  (External)\n",
        "keysentry resources (2):\n",
        "    type: Keysentry::Source\n    name: archive\n",
        "skipped (1):\n  NotMade  AWS::SNS::Subscription  (not created: condition Never is "
        "false)\n",
        "  Zones = us-east-1a,us-east-1b,us-east-1c  [export zones]\n",
    };
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        if (!strstr(buf, parts[i]))
            print_error("dump lacks:\n%s\n--- dump:\n%s\n", parts[i], buf);
        assert_non_null(strstr(buf, parts[i]));
    }
    free(buf);
    config_template_free(t);
}

int run_resource_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_types),
        cmocka_unit_test(test_topic_variants),
        cmocka_unit_test(test_dump_sections),
    };
    return cmocka_run_group_tests_name("config resources", tests, NULL, NULL);
}
