/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every error path: the error code, the message (logical path first) and
 * the position the CLI puts its caret under, as "at LINE:COL" in the
 * rendered diagnostic. A row fails with the rendered text, caret included.
 */
#include "test_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct erow {
    const char *name;
    const char *text;
    enum ks_err err;
    const char *msg; /* part of diag->msg */
    const char *at;  /* "LINE:COL", or NULL for no position */
};

/* A minimal valid alarm, to be spoiled one property at a time. */
#define ALARM_HEAD                                                                                 \
    "Resources:\n"                                                                                 \
    "  A:\n"                                                                                       \
    "    Type: AWS::CloudWatch::Alarm\n"                                                           \
    "    Properties:\n"                                                                            \
    "      Namespace: N\n"                                                                         \
    "      MetricName: M\n"                                                                        \
    "      EvaluationPeriods: 1\n"                                                                 \
    "      ComparisonOperator: GreaterThanThreshold\n"
#define ALARM ALARM_HEAD "      Statistic: Sum\n      Threshold: 1\n"

#define FILTER_HEAD                                                                                \
    "Resources:\n"                                                                                 \
    "  KMSFailureFilter:\n"                                                                        \
    "    Type: AWS::Logs::MetricFilter\n"                                                          \
    "    Properties:\n"                                                                            \
    "      LogGroupName: g\n"                                                                      \
    "      FilterPattern: ERROR\n"                                                                 \
    "      MetricTransformations:\n"                                                               \
    "        - MetricName: m\n"                                                                    \
    "          MetricNamespace: n\n"

#define KS_R "  R: {Type: 'Keysentry::R', Properties: {V: "

static const struct erow rows[] = {
    /* properties: unknown, wrong type, missing */
    {"unknown property", FILTER_HEAD "          MetricValue: '1'\n      FilterPatern: x\n",
     KS_E_INVALID,
     "Resources.KMSFailureFilter.Properties.FilterPatern: unknown property 'FilterPatern' (did "
     "you mean 'FilterPattern'?)",
     "11:7"},
    {"unknown nested property", FILTER_HEAD "          MetricValue: '1'\n          Units: x\n",
     KS_E_INVALID,
     "Resources.KMSFailureFilter.Properties.MetricTransformations[0].Units: unknown property "
     "'Units' (did you mean 'Unit'?)",
     "11:11"},
    {"wrong type nested", FILTER_HEAD "          MetricValue: {a: 1}\n", KS_E_INVALID,
     "Resources.KMSFailureFilter.Properties.MetricTransformations[0].MetricValue: expected a "
     "string",
     "10:24"},
    {"wrong type list", ALARM "      Period: [60]\n", KS_E_INVALID,
     "Resources.A.Properties.Period: expected an integer", "11:15"},
    {"not an integer", ALARM "      Period: 60.5\n", KS_E_INVALID,
     "Resources.A.Properties.Period: expected an integer", "11:15"},
    {"not a boolean", ALARM "      Period: 60\n      ActionsEnabled: yes\n", KS_E_INVALID,
     "Resources.A.Properties.ActionsEnabled: expected a boolean (true or false)", "12:23"},
    {"list item type", ALARM "      Period: 60\n      AlarmActions: [a, [b]]\n", KS_E_INVALID,
     "Resources.A.Properties.AlarmActions[1]: expected a string", "12:25"},
    {"missing required", FILTER_HEAD, KS_E_INVALID,
     "Resources.KMSFailureFilter.Properties.MetricTransformations[0]: missing required property "
     "'MetricValue'",
     "8:11"},
    {"missing required top",
     "Resources:\n  A:\n    Type: AWS::CloudWatch::Alarm\n"
     "    Properties: {EvaluationPeriods: 1}\n",
     KS_E_INVALID, "Resources.A.Properties: missing required property 'ComparisonOperator'", "4:5"},
    {"no properties at all", "Resources:\n  S:\n    Type: AWS::SNS::Subscription\n", KS_E_INVALID,
     "Resources.S.Properties: missing required property 'TopicArn'", "2:3"},
    {"unsupported property",
     FILTER_HEAD "          MetricValue: '1'\n"
                 "      FieldSelectionCriteria: x\n",
     KS_E_INVALID, "FieldSelectionCriteria: property 'FieldSelectionCriteria' is not supported",
     "11:7"},
    /* value rules */
    {"huge integer", ALARM "      Period: 1e300\n", KS_E_INVALID,
     "Resources.A.Properties.Period: expected an integer", "11:15"},
    {"json unknown property",
     "{\"Resources\": {\"T\": {\"Type\": \"AWS::SNS::Topic\",\n"
     "  \"Properties\": {\"TopicNme\": \"x\"}}}}\n",
     KS_E_INVALID,
     "Resources.T.Properties.TopicNme: unknown property 'TopicNme' (did you mean 'TopicName'?)",
     "2:18"},
    {"json wrong type",
     "{\"Resources\": {\"A\": {\"Type\": \"AWS::CloudWatch::Alarm\",\n"
     "  \"Properties\": {\"EvaluationPeriods\": \"one\"}}}}\n",
     KS_E_INVALID, "Resources.A.Properties.EvaluationPeriods: expected an integer", "2:39"},
    {"bad enum", ALARM "      Period: 60\n      TreatMissingData: ignored\n", KS_E_INVALID,
     "Resources.A.Properties.TreatMissingData: 'ignored' is not one of: missing, ignore, "
     "breaching, notBreaching",
     "12:25"},
    {"bad period", ALARM "      Period: 15\n", KS_E_INVALID,
     "Resources.A.Properties.Period: 15 is not a period (10, 20, 30 or a multiple of 60)", "11:15"},
    {"missing period", ALARM, KS_E_INVALID, "missing required property 'Period'", "5:7"},
    {"two statistics", ALARM "      Period: 60\n      ExtendedStatistic: p90\n", KS_E_INVALID,
     "exactly one of Statistic and ExtendedStatistic", "5:7"},
    {"bad percentile",
     ALARM_HEAD "      Threshold: 1\n      Period: 60\n"
                "      ExtendedStatistic: p101\n",
     KS_E_INVALID, "'p101' is not a percentile", "11:26"},
    {"datapoints over evaluations", ALARM "      Period: 60\n      DatapointsToAlarm: 2\n",
     KS_E_INVALID, "DatapointsToAlarm: 2 is outside 1..EvaluationPeriods (1)", "12:26"},
    {"minimal alarm loads",
     ALARM_HEAD "      Statistic: Sum\n      Threshold: 1\n"
                "      Period: 60\n",
     KS_OK, NULL, NULL},
    {"threshold missing", ALARM_HEAD "      Statistic: Sum\n      Period: 60\n", KS_E_INVALID,
     "missing required property 'Threshold' (GreaterThanThreshold)", "5:7"},
    {"metrics with metric name", ALARM "      Metrics: [{Id: m1, Expression: '1'}]\n", KS_E_INVALID,
     "Resources.A.Properties.MetricName: MetricName cannot be combined with Metrics", "6:19"},
    {"query id",
     "Resources:\n  A:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n"
     "      EvaluationPeriods: 1\n      Threshold: 1\n"
     "      ComparisonOperator: GreaterThanThreshold\n"
     "      Metrics: [{Id: M1, Expression: '1'}]\n",
     KS_E_INVALID, "Resources.A.Properties.Metrics[0].Id: 'M1' is not a query id", "8:22"},
    {"query both forms",
     "Resources:\n  A:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n"
     "      EvaluationPeriods: 1\n      Threshold: 1\n"
     "      ComparisonOperator: GreaterThanThreshold\n"
     "      Metrics: [{Id: m1}]\n",
     KS_E_INVALID,
     "Resources.A.Properties.Metrics[0]: a query needs exactly one of Expression and MetricStat",
     "8:17"},
    {"band without id",
     "Resources:\n  A:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n"
     "      EvaluationPeriods: 1\n"
     "      ComparisonOperator: GreaterThanUpperThreshold\n"
     "      Metrics: [{Id: m1, Expression: '1'}]\n",
     KS_E_INVALID, "GreaterThanUpperThreshold needs ThresholdMetricId", "6:27"},
    {"two transformations",
     FILTER_HEAD "          MetricValue: '1'\n"
                 "        - {MetricName: a, MetricNamespace: b, MetricValue: '1'}\n",
     KS_E_INVALID,
     "Resources.KMSFailureFilter.Properties.MetricTransformations: 2 transformations; AWS takes "
     "exactly one",
     "8:9"},
    {"metric value word", FILTER_HEAD "          MetricValue: length\n", KS_E_INVALID,
     "MetricTransformations[0].MetricValue: 'length' is neither a number nor a field reference",
     "10:24"},
    {"default with dimensions",
     FILTER_HEAD "          MetricValue: '1'\n          DefaultValue: 0\n"
                 "          Dimensions: [{Key: k, Value: $.a}]\n",
     KS_E_INVALID,
     "MetricTransformations[0].DefaultValue: DefaultValue cannot be combined with Dimensions",
     "11:25"},
    {"four dimensions",
     FILTER_HEAD
     "          MetricValue: '1'\n"
     "          Dimensions: [{Key: a, Value: $.a}, {Key: b, Value: $.b}, {Key: c, Value: $.c},\n"
     "                       {Key: d, Value: $.d}]\n",
     KS_E_INVALID, "MetricTransformations[0].Dimensions: 4 dimensions; at most 3 allowed", "11:23"},
    {"dimension value",
     FILTER_HEAD "          MetricValue: '1'\n"
                 "          Dimensions: [{Key: a, Value: literal}]\n",
     KS_E_INVALID,
     "MetricTransformations[0].Dimensions[0].Value: 'literal' is not a field reference", "11:40"},
    {"bad unit", FILTER_HEAD "          MetricValue: '1'\n          Unit: Items\n", KS_E_INVALID,
     "MetricTransformations[0].Unit: 'Items' is not one of: Seconds", "11:17"},
    {"nested joins load",
     "Resources:\n  F:\n    Type: AWS::Logs::MetricFilter\n    Properties:\n"
     "      LogGroupName: g\n      FilterPattern: !Join ['', [!Join [x, [!Join [y, [1, 2, 3, 4, "
     "5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, "
     "5, 6, 7, 8, 9, 0]], !Join [y, [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, "
     "1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0]], !Join [y, [1, 2, 3, 4, 5, 6, "
     "7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, "
     "7, 8, 9, 0]]]]]]\n"
     "      MetricTransformations: [{MetricName: m, MetricNamespace: n, MetricValue: '1'}]\n",
     KS_OK, NULL, NULL},
    {"retention",
     "Resources:\n  G: {Type: 'AWS::Logs::LogGroup', Properties: {RetentionInDays: "
     "2}}\n",
     KS_E_INVALID, "Resources.G.Properties.RetentionInDays: 2 is not a retention", "2:66"},
    {"log group name",
     "Resources:\n  G: {Type: 'AWS::Logs::LogGroup', Properties: {LogGroupName: "
     "'a b'}}\n",
     KS_E_INVALID, "LogGroupName: 'a b' is not a log group name", "2:63"},
    {"protocol",
     "Resources:\n  S: {Type: 'AWS::SNS::Subscription', Properties: {TopicArn: t, "
     "Protocol: mail, Endpoint: a@b.c}}\n",
     KS_E_INVALID, "Resources.S.Properties.Protocol: 'mail' is not one of: http, https, email",
     "2:75"},
    {"email endpoint",
     "Resources:\n  T:\n    Type: AWS::SNS::Topic\n    Properties:\n"
     "      Subscription: [{Protocol: email, Endpoint: nobody}]\n",
     KS_E_INVALID,
     "Resources.T.Properties.Subscription[0].Endpoint: 'nobody' is not an e-mail address", "5:50"},
    {"https endpoint",
     "Resources:\n  S: {Type: 'AWS::SNS::Subscription', Properties: {TopicArn: "
     "t, Protocol: https, Endpoint: 'http://x'}}\n",
     KS_E_INVALID, "is not an https:// URL", "2:92"},
    {"topic name", "Resources:\n  T: {Type: 'AWS::SNS::Topic', Properties: {TopicName: 'a:b'}}\n",
     KS_E_INVALID, "TopicName: 'a:b' is not a topic name", "2:56"},
    {"fifo name",
     "Resources:\n  T: {Type: 'AWS::SNS::Topic', Properties: {TopicName: ab, "
     "FifoTopic: true}}\n",
     KS_E_INVALID, "'ab' is not a FIFO topic name", "2:56"},
    {"suppressor periods",
     "Resources:\n  C: {Type: 'AWS::CloudWatch::CompositeAlarm', "
     "Properties: {AlarmRule: 'TRUE', ActionsSuppressor: x}}\n",
     KS_E_INVALID, "ActionsSuppressor needs ActionsSuppressorWaitPeriod", "2:99"},
    {"filter policy json",
     "Resources:\n  S: {Type: 'AWS::SNS::Subscription', Properties: "
     "{TopicArn: t, Protocol: sqs, FilterPolicy: '{oops'}}\n",
     KS_E_INVALID, "Resources.S.Properties.FilterPolicy: expected a JSON object", "2:94"},
    /* intrinsic functions */
    {"unknown tag", "Resources:\n" KS_R "!Foo x}}\n", KS_E_INVALID,
     "unknown tag '!Foo' (not an intrinsic function)", "2:45"},
    {"unknown long form", "Resources:\n" KS_R "{'Fn::Foo': x}}}\n", KS_E_INVALID,
     "Resources.R.Properties.V: unknown intrinsic function 'Fn::Foo'", "2:46"},
    {"unsupported function", "Resources:\n" KS_R "!ImportValue x}}\n", KS_E_INVALID,
     "Resources.R.Properties.V: !ImportValue is not supported by keysentry", "2:45"},
    {"unsupported long form", "Resources:\n" KS_R "{'Fn::Cidr': [a, 1, 2]}}}\n", KS_E_INVALID,
     "Fn::Cidr is not supported by keysentry", "2:45"},
    {"condition function in property", "Resources:\n" KS_R "!Equals [a, b]}}\n", KS_E_INVALID,
     "!Equals can only be used in Conditions", "2:45"},
    {"bad sub reference", "Resources:\n" KS_R "!Sub 'x-${Nope}-y'}}\n", KS_E_INVALID,
     "Resources.R.Properties.V: !Sub: ${Nope}: Ref to 'Nope', which is not a parameter, pseudo "
     "parameter or resource",
     "2:53"},
    {"bad sub attribute",
     "Resources:\n  L: {Type: 'AWS::Logs::LogGroup'}\n" KS_R "!Sub '${L.Name}'}}\n", KS_E_INVALID,
     "!Sub: ${L.Name}: resource 'L' (AWS::Logs::LogGroup) has no attribute 'Name'", "3:51"},
    {"sub unterminated", "Resources:\n" KS_R "!Sub 'a ${b'}}\n", KS_E_INVALID,
     "!Sub: unterminated '${' (write '${!' for a literal '${')", "2:53"},
    {"sub list variable",
     "Parameters: {L: {Type: CommaDelimitedList, Default: 'a,b'}}\n"
     "Resources:\n" KS_R "!Sub '${L}'}}\n",
     KS_E_INVALID, "!Sub: ${L} is a list, not a string", "3:51"},
    {"sub bad shape", "Resources:\n" KS_R "!Sub [a, b, c]}}\n", KS_E_INVALID,
     "!Sub needs a string or a list [string, {variables}]", "2:45"},
    {"ref not a name", "Resources:\n" KS_R "{Ref: [a]}}}\n", KS_E_INVALID,
     "Ref needs the name of a parameter or resource", "2:45"},
    {"ref unknown", "Resources:\n" KS_R "!Ref Nope}}\n", KS_E_INVALID,
     "Resources.R.Properties.V: Ref to 'Nope', which is not a parameter", "2:45"},
    {"unknown pseudo", "Resources:\n" KS_R "!Ref 'AWS::Nope'}}\n", KS_E_INVALID,
     "unknown pseudo parameter 'AWS::Nope'", "2:45"},
    {"ref to uncreated resource",
     "Conditions: {No: !Equals [a, b]}\nResources:\n"
     "  T: {Type: 'AWS::SNS::Topic', Condition: 'No'}\n" KS_R "!Ref T}}\n",
     KS_E_INVALID, "Ref to 'T', which is not created (its condition 'No' is false)", "4:45"},
    {"getatt unknown attribute",
     "Resources:\n  T: {Type: 'AWS::SNS::Topic'}\n" KS_R "!GetAtt T.Arn}}\n", KS_E_INVALID,
     "Resources.R.Properties.V: resource 'T' (AWS::SNS::Topic) has no attribute 'Arn'", "3:45"},
    {"getatt without dot", "Resources:\n" KS_R "!GetAtt T}}\n", KS_E_INVALID,
     "!GetAtt needs 'Resource.Attribute'", "2:45"},
    {"getatt metric filter",
     FILTER_HEAD "          MetricValue: '1'\n" KS_R "!GetAtt KMSFailureFilter.Arn}}\n",
     KS_E_INVALID, "resource 'KMSFailureFilter' (AWS::Logs::MetricFilter) has no attribute 'Arn'",
     "11:45"},
    {"join shape", "Resources:\n" KS_R "!Join [a]}}\n", KS_E_INVALID,
     "!Join needs a list of 2 values", "2:45"},
    {"join non string", "Resources:\n" KS_R "!Join ['', [a, [b]]]}}\n", KS_E_INVALID,
     "!Join: value 1 is not a string", "2:60"},
    {"select out of range", "Resources:\n" KS_R "!Select [3, [a, b]]}}\n", KS_E_INVALID,
     "!Select: index 3 is out of range (the list has 2 values)", "2:54"},
    {"select huge index", "Resources:\n" KS_R "!Select [1e300, [a]]}}\n", KS_E_INVALID,
     "!Select: the index must be a non-negative integer", "2:54"},
    {"select bad index", "Resources:\n" KS_R "!Select [x, [a]]}}\n", KS_E_INVALID,
     "!Select: the index must be a non-negative integer", "2:54"},
    {"split empty delimiter", "Resources:\n" KS_R "!Split ['', abc]}}\n", KS_E_INVALID,
     "!Split: the delimiter is empty", "2:53"},
    {"findinmap missing key",
     "Mappings: {M: {a: {b: c}}}\nResources:\n" KS_R "!FindInMap [M, a, x]}}\n", KS_E_INVALID,
     "!FindInMap: mapping 'M.a' has no key 'x'", "3:63"},
    {"findinmap missing map", "Resources:\n" KS_R "!FindInMap [M, a, x]}}\n", KS_E_INVALID,
     "!FindInMap: no mapping 'M'", "2:57"},
    {"if unknown condition", "Resources:\n" KS_R "!If [Nope, a, b]}}\n", KS_E_INVALID,
     "Resources.R.Properties.V: unknown condition 'Nope'", "2:50"},
    {"base64 of list", "Resources:\n" KS_R "!Base64 [a]}}\n", KS_E_INVALID,
     "!Base64: the value must be a string", "2:45"},
    /* conditions */
    {"circular condition",
     "Conditions:\n  A: !Condition B\n  B: !Not [!Condition A]\n"
     "Resources:\n  R: {Type: 'Keysentry::R'}\n",
     KS_E_INVALID, "Conditions.B: circular condition: 'A' depends on itself", "3:12"},
    {"self condition",
     "Conditions:\n  A: !Not [!Condition A]\nResources:\n"
     "  R: {Type: 'Keysentry::R'}\n",
     KS_E_INVALID, "Conditions.A: circular condition: 'A' depends on itself", "2:12"},
    {"condition not a function",
     "Conditions:\n  A: true\nResources:\n"
     "  R: {Type: 'Keysentry::R'}\n",
     KS_E_INVALID,
     "Conditions.A: expected a condition function (Fn::Equals, Fn::Not, Fn::And, Fn::Or or "
     "Condition)",
     "2:6"},
    {"condition on resource",
     "Conditions:\n  A: !Equals [!Ref T, x]\nResources:\n"
     "  T: {Type: 'AWS::SNS::Topic'}\n",
     KS_E_INVALID,
     "Conditions.A: Ref to 'T': conditions can refer to parameters only, not resources", "2:15"},
    {"if in condition",
     "Conditions:\n  A: !Equals [!If [A, a, b], x]\nResources:\n"
     "  T: {Type: 'AWS::SNS::Topic'}\n",
     KS_E_INVALID, "!If cannot be used in Conditions", "2:15"},
    {"and arity",
     "Conditions:\n  A: !And [!Equals [a, a]]\nResources:\n"
     "  T: {Type: 'AWS::SNS::Topic'}\n",
     KS_E_INVALID, "Conditions.A: !And needs a list of 2 to 10 values", "2:6"},
    {"resource condition unknown", "Resources:\n  T: {Type: 'AWS::SNS::Topic', Condition: X}\n",
     KS_E_INVALID, "Resources.T.Condition: unknown condition 'X'", "2:43"},
    /* circular references */
    {"circular names",
     "Resources:\n"
     "  A: {Type: 'AWS::SNS::Topic', Properties: {TopicName: !GetAtt B.TopicName}}\n"
     "  B: {Type: 'AWS::SNS::Topic', Properties: {TopicName: !GetAtt A.TopicName}}\n",
     KS_E_INVALID, "circular reference: the name of resource 'A' depends on itself", "2:3"},
    {"depends on unknown", "Resources:\n  T: {Type: 'AWS::SNS::Topic', DependsOn: [U]}\n",
     KS_E_INVALID, "Resources.T.DependsOn: no resource 'U'", "2:44"},
    {"depends on self", "Resources:\n  T: {Type: 'AWS::SNS::Topic', DependsOn: T}\n", KS_E_INVALID,
     "a resource cannot depend on itself", "2:43"},
    {"depends on cycle",
     "Resources:\n  T: {Type: 'AWS::SNS::Topic', DependsOn: U}\n"
     "  U: {Type: 'AWS::SNS::Topic', DependsOn: T}\n",
     KS_E_INVALID, "circular dependency: 'U' depends on 'T', which depends on 'U'", "3:43"},
    /* template structure */
    {"unknown section", "Resource:\n  T: {Type: 'AWS::SNS::Topic'}\n", KS_E_INVALID,
     "unknown top-level section 'Resource'", "1:1"},
    {"no resources", "Parameters: {}\n", KS_E_INVALID, "the template has no Resources section",
     "1:1"},
    {"empty resources", "Resources: {}\n", KS_E_INVALID,
     "Resources: a template declares at least one", "1:12"},
    {"format version",
     "AWSTemplateFormatVersion: '2012-01-01'\nResources: {T: {Type: "
     "'AWS::SNS::Topic'}}\n",
     KS_E_INVALID, "the only version is '2010-09-09'", "1:27"},
    {"transform",
     "Transform: AWS::Serverless-2016-10-31\nResources: {T: {Type: "
     "'AWS::SNS::Topic'}}\n",
     KS_E_INVALID, "Transform (macros, AWS::Serverless) is not supported", "1:1"},
    {"missing type", "Resources:\n  T: {Properties: {}}\n", KS_E_INVALID,
     "Resources.T: missing required attribute 'Type'", "2:3"},
    {"unknown resource attribute", "Resources:\n  T: {Type: 'AWS::SNS::Topic', Propertys: {}}\n",
     KS_E_INVALID, "Resources.T: unknown resource attribute 'Propertys'", "2:32"},
    {"bad logical id", "Resources:\n  my-topic: {Type: 'AWS::SNS::Topic'}\n", KS_E_INVALID,
     "logical id 'my-topic' must be 1-255 letters and digits", "2:3"},
    {"deletion policy", "Resources:\n  T: {Type: 'AWS::SNS::Topic', DeletionPolicy: Keep}\n",
     KS_E_INVALID, "Resources.T.DeletionPolicy: expected one of: Delete, Retain, Snapshot", "2:48"},
    {"properties not a map", "Resources:\n  T: {Type: 'AWS::SNS::Topic', Properties: [a]}\n",
     KS_E_INVALID, "Resources.T.Properties: expected a mapping", "2:44"},
    {"param named like resource",
     "Parameters: {T: {Type: String, Default: x}}\n"
     "Resources: {T: {Type: 'AWS::SNS::Topic'}}\n",
     KS_E_INVALID, "parameter 'T' has the name of a resource", "1:14"},
    {"mapping with function",
     "Mappings: {M: {a: {b: !Ref X}}}\n"
     "Resources: {T: {Type: 'AWS::SNS::Topic'}}\n",
     KS_E_INVALID, "Mappings.M.a.b: mapping values are strings or lists of strings", "1:23"},
    {"output without value",
     "Resources: {T: {Type: 'AWS::SNS::Topic'}}\n"
     "Outputs: {O: {Description: x}}\n",
     KS_E_INVALID, "Outputs.O: missing required attribute 'Value'", "2:11"},
    {"output bad ref",
     "Resources: {T: {Type: 'AWS::SNS::Topic'}}\n"
     "Outputs: {O: {Value: !GetAtt T.Nope}}\n",
     KS_E_INVALID, "Outputs.O.Value: resource 'T' (AWS::SNS::Topic) has no attribute 'Nope'",
     "2:22"},
    {"duplicate key",
     "Resources:\n  T: {Type: 'AWS::SNS::Topic'}\n  T: {Type: 'AWS::SNS::Topic'}\n", KS_E_INVALID,
     "duplicate key 'T' (first at 2:3)", "3:3"},
    {"non-string key", "Resources:\n  [a]: {Type: 'AWS::SNS::Topic'}\n", KS_E_INVALID,
     "mapping keys must be strings", "2:3"},
    /* malformed text */
    {"yaml syntax", "Resources:\n  T: {Type: 'AWS::SNS::Topic'\n  U: x\n", KS_E_SYNTAX,
     "YAML syntax error: did not find expected ',' or '}' while parsing a flow mapping", "3:3"},
    {"yaml bad indent", "Resources:\n  T:\n    Type: x\n   Properties: y\n", KS_E_SYNTAX,
     "YAML syntax error", "4:4"},
    {"json syntax", "{\"Resources\": {\"T\": {\"Type\": \"AWS::SNS::Topic\"}}\n \"Outputs\": {}}\n",
     KS_E_SYNTAX, "YAML syntax error", "2:2"},
    {"json unterminated", "{\"Resources\": {\"T\": {\"Type\": \"AWS::SNS::Topic\n", KS_E_SYNTAX,
     "YAML syntax error: found unexpected end of stream", "2:1"},
    {"invalid utf8", "Resources:\n  T: {Type: 'AWS::SNS::\xff'}\n", KS_E_SYNTAX,
     "YAML syntax error: invalid leading UTF-8 octet", "2:24"},
    {"utf8 positions are bytes",
     "Description: 'h\xc3\xa9h\xc3\xa9'\nResources:\n"
     "  T: {Type: 'AWS::SNS::Topic', Nope: 1}\n",
     KS_E_INVALID, "unknown resource attribute 'Nope'", "3:32"},
    {"nul in string", "Resources:\n  T: {Type: \"AWS::SNS::To\\0pic\"}\n", KS_E_INVALID,
     "NUL character in a string", "2:13"},
    {"two documents", "Resources: {T: {Type: 'AWS::SNS::Topic'}}\n---\nResources: {}\n",
     KS_E_SYNTAX, "more than one document in the template", "2:1"},
    {"root is a list", "- a\n- b\n", KS_E_INVALID, "the template must be a mapping of sections",
     "1:1"},
    {"empty file", "", KS_E_INVALID, "the template is empty", "1:1"},
    {"only comments", "# nothing here\n\n", KS_E_INVALID, "the template is empty", "1:1"},
    {"utf16", "\xff\xfeR\0", KS_E_SYNTAX, "the template must be UTF-8", "1:1"},
    {"undefined alias", "Resources: {T: *nope}\n", KS_E_INVALID, "undefined alias '*nope'", "1:16"},
};

static bool check(const struct erow *r)
{
    struct ks_diag d;
    char out[2048];
    enum ks_err err = load_fail(r->name, r->text, NULL, &d, out, sizeof(out));
    char at[32] = "";
    if (r->at)
        snprintf(at, sizeof(at), " at %s\n", r->at);
    bool ok = err == r->err && strstr(d.msg, r->msg) && (!r->at || strstr(out, at));
    if (!ok)
        print_error("row '%s': want err %d, '%s'%s\n  got err %d:\n%s\n", r->name, (int)r->err,
                    r->msg, at, (int)err, out);
    return ok;
}

static void test_error_rows(void **state)
{
    (void)state;
    size_t failed = 0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (rows[i].err == KS_OK) {
            /* rows that must load: the boundary next to an error */
            struct config_template *t = load_ok(rows[i].name, rows[i].text, NULL);
            config_template_free(t);
            continue;
        }
        failed += !check(&rows[i]);
    }
    assert_int_equal(failed, 0);
}

/* The error names the file's byte: what ks_diag_render turns into line:col. */
static void test_offset_is_a_byte(void **state)
{
    (void)state;
    static const char text[] = "Description: \xc3\xa9\xc3\xa9\xc3\xa9\n"
                               "Resources: {T: {Type: 'AWS::SNS::Topic', Bad: 1}}\n";
    struct ks_diag d;
    char out[512];
    load_fail("b.yaml", text, NULL, &d, out, sizeof(out));
    assert_int_equal(d.offset, (size_t)(strstr(text, "Bad") - text));
}

int run_error_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_rows),
        cmocka_unit_test(test_offset_is_a_byte),
    };
    return cmocka_run_group_tests_name("config errors", tests, NULL, NULL);
}
