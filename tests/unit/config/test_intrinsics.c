/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Intrinsic functions, Ref and Fn::GetAtt values, conditions and mappings,
 * each in the YAML short form and the JSON long form.
 *
 * Every row puts one expression into the property V of a Keysentry::Probe
 * resource inside the same surrounding template (parameters, mappings,
 * conditions and one resource of each interesting type) and compares V's
 * resolved value, as compact JSON, with the expectation. "~x" expects a
 * string starting with x; "<absent>" expects V removed (AWS::NoValue).
 */
#include "test_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char yaml_head[] =
    "AWSTemplateFormatVersion: '2010-09-09'\n"
    "Parameters:\n"
    "  Env: {Type: String, Default: prod, AllowedValues: [prod, dev]}\n"
    "  Count: {Type: Number, Default: 3}\n"
    "  Names: {Type: CommaDelimitedList, Default: 'a,b,c'}\n"
    "  Nums: {Type: 'List<Number>', Default: '1,2'}\n"
    "  Empty: {Type: String, Default: ''}\n"
    "  Vpc: {Type: 'AWS::EC2::VPC::Id', Default: vpc-123}\n"
    "Mappings:\n"
    "  RegionMap:\n"
    "    us-east-1: {Ami: ami-1, Zones: [a, b]}\n"
    "    eu-west-1: {Ami: ami-2, Zones: [c]}\n"
    "Conditions:\n"
    "  IsProd: !Equals [!Ref Env, prod]\n"
    "  IsDev: !Not [!Condition IsProd]\n"
    "  Both: !And [!Condition IsProd, !Equals [!Ref Count, '3']]\n"
    "  Either: !Or [!Condition IsDev, !Equals [a, b]]\n"
    "  HasEmpty: !Equals [!Ref Empty, '']\n"
    "  ListEq: !Equals [!Ref Names, !Split [',', 'a,b,c']]\n"
    "  InRegion: !Equals [!FindInMap [RegionMap, !Ref 'AWS::Region', Ami], ami-1]\n"
    "Resources:\n"
    "  Logs: {Type: 'AWS::Logs::LogGroup', Properties: {LogGroupName: app-logs}}\n"
    "  LogsNoName: {Type: 'AWS::Logs::LogGroup'}\n"
    "  Topic: {Type: 'AWS::SNS::Topic', Properties: {TopicName: alerts}}\n"
    "  TopicNoName: {Type: 'AWS::SNS::Topic'}\n"
    "  Fifo: {Type: 'AWS::SNS::Topic', Properties: {FifoTopic: true}}\n"
    "  Sub1:\n"
    "    Type: AWS::SNS::Subscription\n"
    "    Properties: {TopicArn: !Ref Topic, Protocol: email, Endpoint: a@b.c}\n"
    "  Alarm:\n"
    "    Type: AWS::CloudWatch::Alarm\n"
    "    Properties: {AlarmName: high, Namespace: N, MetricName: M, Statistic: Sum, Period: 60,\n"
    "                 EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: "
    "GreaterThanThreshold}\n"
    "  Comp: {Type: 'AWS::CloudWatch::CompositeAlarm', Properties: {AlarmRule: 'ALARM(high)'}}\n"
    "  Filter:\n"
    "    Type: AWS::Logs::MetricFilter\n"
    "    Properties:\n"
    "      LogGroupName: !Ref Logs\n"
    "      FilterPattern: ''\n"
    "      MetricTransformations: [{MetricName: m, MetricNamespace: n, MetricValue: '1'}]\n"
    "  Bucket: {Type: 'AWS::S3::Bucket', Properties: {BucketName: my-bucket}}\n"
    "  BucketNoName: {Type: 'AWS::S3::Bucket'}\n"
    "  Role: {Type: 'AWS::IAM::Role', Properties: {RoleName: r1}}\n"
    "  Trail: {Type: 'AWS::CloudTrail::Trail'}\n"
    "  Key: {Type: 'AWS::KMS::Key'}\n"
    "  Queue: {Type: 'AWS::SQS::Queue', Properties: {QueueName: q}}\n"
    "  Thing: {Type: 'AWS::EC2::Instance'}\n"
    "  Gone: {Type: 'AWS::SNS::Topic', Condition: IsDev}\n"
    "  Other: {Type: 'Keysentry::Other', Properties: {Name: other-name}}\n"
    "  Probe:\n"
    "    Type: Keysentry::Probe\n"
    "    Properties:\n"
    "      V: ";

static const char json_head[] =
    "{\"AWSTemplateFormatVersion\": \"2010-09-09\",\n"
    " \"Parameters\": {\n"
    "  \"Env\": {\"Type\": \"String\", \"Default\": \"prod\", \"AllowedValues\": [\"prod\", "
    "\"dev\"]},\n"
    "  \"Count\": {\"Type\": \"Number\", \"Default\": 3},\n"
    "  \"Names\": {\"Type\": \"CommaDelimitedList\", \"Default\": \"a,b,c\"},\n"
    "  \"Nums\": {\"Type\": \"List<Number>\", \"Default\": \"1,2\"},\n"
    "  \"Empty\": {\"Type\": \"String\", \"Default\": \"\"},\n"
    "  \"Vpc\": {\"Type\": \"AWS::EC2::VPC::Id\", \"Default\": \"vpc-123\"}},\n"
    " \"Mappings\": {\"RegionMap\": {\n"
    "  \"us-east-1\": {\"Ami\": \"ami-1\", \"Zones\": [\"a\", \"b\"]},\n"
    "  \"eu-west-1\": {\"Ami\": \"ami-2\", \"Zones\": [\"c\"]}}},\n"
    " \"Conditions\": {\n"
    "  \"IsProd\": {\"Fn::Equals\": [{\"Ref\": \"Env\"}, \"prod\"]},\n"
    "  \"IsDev\": {\"Fn::Not\": [{\"Condition\": \"IsProd\"}]},\n"
    "  \"Both\": {\"Fn::And\": [{\"Condition\": \"IsProd\"}, {\"Fn::Equals\": [{\"Ref\": "
    "\"Count\"}, \"3\"]}]},\n"
    "  \"Either\": {\"Fn::Or\": [{\"Condition\": \"IsDev\"}, {\"Fn::Equals\": [\"a\", "
    "\"b\"]}]},\n"
    "  \"HasEmpty\": {\"Fn::Equals\": [{\"Ref\": \"Empty\"}, \"\"]},\n"
    "  \"ListEq\": {\"Fn::Equals\": [{\"Ref\": \"Names\"}, {\"Fn::Split\": [\",\", "
    "\"a,b,c\"]}]},\n"
    "  \"InRegion\": {\"Fn::Equals\": [{\"Fn::FindInMap\": [\"RegionMap\", {\"Ref\": "
    "\"AWS::Region\"}, \"Ami\"]}, \"ami-1\"]}},\n"
    " \"Resources\": {\n"
    "  \"Logs\": {\"Type\": \"AWS::Logs::LogGroup\", \"Properties\": {\"LogGroupName\": "
    "\"app-logs\"}},\n"
    "  \"LogsNoName\": {\"Type\": \"AWS::Logs::LogGroup\"},\n"
    "  \"Topic\": {\"Type\": \"AWS::SNS::Topic\", \"Properties\": {\"TopicName\": \"alerts\"}},\n"
    "  \"TopicNoName\": {\"Type\": \"AWS::SNS::Topic\"},\n"
    "  \"Fifo\": {\"Type\": \"AWS::SNS::Topic\", \"Properties\": {\"FifoTopic\": true}},\n"
    "  \"Sub1\": {\"Type\": \"AWS::SNS::Subscription\", \"Properties\": {\"TopicArn\": "
    "{\"Ref\": \"Topic\"}, \"Protocol\": \"email\", \"Endpoint\": \"a@b.c\"}},\n"
    "  \"Alarm\": {\"Type\": \"AWS::CloudWatch::Alarm\", \"Properties\": {\"AlarmName\": "
    "\"high\", \"Namespace\": \"N\", \"MetricName\": \"M\", \"Statistic\": \"Sum\", "
    "\"Period\": 60, \"EvaluationPeriods\": 1, \"Threshold\": 1, \"ComparisonOperator\": "
    "\"GreaterThanThreshold\"}},\n"
    "  \"Comp\": {\"Type\": \"AWS::CloudWatch::CompositeAlarm\", \"Properties\": "
    "{\"AlarmRule\": \"ALARM(high)\"}},\n"
    "  \"Filter\": {\"Type\": \"AWS::Logs::MetricFilter\", \"Properties\": {\"LogGroupName\": "
    "{\"Ref\": \"Logs\"}, \"FilterPattern\": \"\", \"MetricTransformations\": [{\"MetricName\": "
    "\"m\", \"MetricNamespace\": \"n\", \"MetricValue\": \"1\"}]}},\n"
    "  \"Bucket\": {\"Type\": \"AWS::S3::Bucket\", \"Properties\": {\"BucketName\": "
    "\"my-bucket\"}},\n"
    "  \"BucketNoName\": {\"Type\": \"AWS::S3::Bucket\"},\n"
    "  \"Role\": {\"Type\": \"AWS::IAM::Role\", \"Properties\": {\"RoleName\": \"r1\"}},\n"
    "  \"Trail\": {\"Type\": \"AWS::CloudTrail::Trail\"},\n"
    "  \"Key\": {\"Type\": \"AWS::KMS::Key\"},\n"
    "  \"Queue\": {\"Type\": \"AWS::SQS::Queue\", \"Properties\": {\"QueueName\": \"q\"}},\n"
    "  \"Thing\": {\"Type\": \"AWS::EC2::Instance\"},\n"
    "  \"Gone\": {\"Type\": \"AWS::SNS::Topic\", \"Condition\": \"IsDev\"},\n"
    "  \"Other\": {\"Type\": \"Keysentry::Other\", \"Properties\": {\"Name\": \"other-name\"}},\n"
    "  \"Probe\": {\"Type\": \"Keysentry::Probe\", \"Properties\": {\"V\": ";

static const char json_tail[] = "}}}}\n";

struct row {
    const char *name;
    const char *yaml; /* YAML short form (flow style, one line) */
    const char *json; /* JSON long form */
    const char *want; /* compact JSON, "~prefix" or "<absent>" */
};

#define ARN "arn:aws:"
#define RA  "us-east-1:111122223333:"

static const struct row rows[] = {
    /* Ref: parameters */
    {"ref string param", "!Ref Env", "{\"Ref\": \"Env\"}", "\"prod\""},
    {"ref number param", "!Ref Count", "{\"Ref\": \"Count\"}", "3"},
    {"ref comma list", "!Ref Names", "{\"Ref\": \"Names\"}", "[\"a\",\"b\",\"c\"]"},
    {"ref number list", "!Ref Nums", "{\"Ref\": \"Nums\"}", "[1,2]"},
    {"ref empty param", "!Ref Empty", "{\"Ref\": \"Empty\"}", "\"\""},
    {"ref aws-specific type", "!Ref Vpc", "{\"Ref\": \"Vpc\"}", "\"vpc-123\""},
    /* Ref: pseudo parameters */
    {"stack name", "!Ref AWS::StackName", "{\"Ref\": \"AWS::StackName\"}", "\"probe\""},
    {"account", "!Ref AWS::AccountId", "{\"Ref\": \"AWS::AccountId\"}", "\"111122223333\""},
    {"region", "!Ref AWS::Region", "{\"Ref\": \"AWS::Region\"}", "\"us-east-1\""},
    {"partition", "!Ref AWS::Partition", "{\"Ref\": \"AWS::Partition\"}", "\"aws\""},
    {"url suffix", "!Ref AWS::URLSuffix", "{\"Ref\": \"AWS::URLSuffix\"}", "\"amazonaws.com\""},
    {"stack id", "!Ref AWS::StackId", "{\"Ref\": \"AWS::StackId\"}",
     "~arn:aws:cloudformation:us-east-1:111122223333:stack/probe/"},
    {"notification arns", "!Ref AWS::NotificationARNs", "{\"Ref\": \"AWS::NotificationARNs\"}",
     "[]"},
    {"novalue whole", "!Ref AWS::NoValue", "{\"Ref\": \"AWS::NoValue\"}", "<absent>"},
    {"novalue in map", "{A: 1, B: !Ref AWS::NoValue}",
     "{\"A\": 1, \"B\": {\"Ref\": \"AWS::NoValue\"}}", "{\"A\":1}"},
    {"novalue in list", "[1, !Ref AWS::NoValue, 2]", "[1, {\"Ref\": \"AWS::NoValue\"}, 2]",
     "[1,2]"},
    /* Ref: resources */
    {"ref log group", "!Ref Logs", "{\"Ref\": \"Logs\"}", "\"app-logs\""},
    {"ref log group generated", "!Ref LogsNoName", "{\"Ref\": \"LogsNoName\"}",
     "\"probe-LogsNoName\""},
    {"ref topic is arn", "!Ref Topic", "{\"Ref\": \"Topic\"}", "\"" ARN "sns:" RA "alerts\""},
    {"ref topic generated", "!Ref TopicNoName", "{\"Ref\": \"TopicNoName\"}",
     "\"" ARN "sns:" RA "probe-TopicNoName\""},
    {"ref fifo topic", "!Ref Fifo", "{\"Ref\": \"Fifo\"}", "\"" ARN "sns:" RA "probe-Fifo.fifo\""},
    {"ref subscription", "!Ref Sub1", "{\"Ref\": \"Sub1\"}", "~" ARN "sns:" RA "alerts:"},
    {"ref alarm", "!Ref Alarm", "{\"Ref\": \"Alarm\"}", "\"high\""},
    {"ref composite", "!Ref Comp", "{\"Ref\": \"Comp\"}", "\"probe-Comp\""},
    {"ref metric filter", "!Ref Filter", "{\"Ref\": \"Filter\"}", "\"probe-Filter\""},
    {"ref bucket", "!Ref Bucket", "{\"Ref\": \"Bucket\"}", "\"my-bucket\""},
    {"ref bucket generated lower", "!Ref BucketNoName", "{\"Ref\": \"BucketNoName\"}",
     "\"probe-bucketnoname\""},
    {"ref role", "!Ref Role", "{\"Ref\": \"Role\"}", "\"r1\""},
    {"ref trail", "!Ref Trail", "{\"Ref\": \"Trail\"}", "\"probe-Trail\""},
    {"ref queue is url", "!Ref Queue", "{\"Ref\": \"Queue\"}",
     "\"https://sqs.us-east-1.amazonaws.com/111122223333/q\""},
    {"ref unknown type", "!Ref Thing", "{\"Ref\": \"Thing\"}", "\"probe-Thing\""},
    {"ref keysentry resource", "!Ref Other", "{\"Ref\": \"Other\"}", "\"other-name\""},
    /* Fn::GetAtt */
    {"getatt log group arn", "!GetAtt Logs.Arn", "{\"Fn::GetAtt\": [\"Logs\", \"Arn\"]}",
     "\"" ARN "logs:" RA "log-group:app-logs:*\""},
    {"getatt list form", "!GetAtt [Logs, Arn]", "{\"Fn::GetAtt\": [\"Logs\", \"Arn\"]}",
     "\"" ARN "logs:" RA "log-group:app-logs:*\""},
    {"getatt alarm arn", "!GetAtt Alarm.Arn", "{\"Fn::GetAtt\": [\"Alarm\", \"Arn\"]}",
     "\"" ARN "cloudwatch:" RA "alarm:high\""},
    {"getatt composite arn", "!GetAtt Comp.Arn", "{\"Fn::GetAtt\": [\"Comp\", \"Arn\"]}",
     "\"" ARN "cloudwatch:" RA "alarm:probe-Comp\""},
    {"getatt topic arn", "!GetAtt Topic.TopicArn", "{\"Fn::GetAtt\": [\"Topic\", \"TopicArn\"]}",
     "\"" ARN "sns:" RA "alerts\""},
    {"getatt topic name", "!GetAtt Topic.TopicName", "{\"Fn::GetAtt\": [\"Topic\", \"TopicName\"]}",
     "\"alerts\""},
    {"getatt subscription arn", "!GetAtt Sub1.Arn", "{\"Fn::GetAtt\": [\"Sub1\", \"Arn\"]}",
     "~" ARN "sns:" RA "alerts:"},
    {"getatt bucket arn", "!GetAtt Bucket.Arn", "{\"Fn::GetAtt\": [\"Bucket\", \"Arn\"]}",
     "\"arn:aws:s3:::my-bucket\""},
    {"getatt bucket domain", "!GetAtt Bucket.DomainName",
     "{\"Fn::GetAtt\": [\"Bucket\", \"DomainName\"]}", "\"my-bucket.s3.amazonaws.com\""},
    {"getatt role arn", "!GetAtt Role.Arn", "{\"Fn::GetAtt\": [\"Role\", \"Arn\"]}",
     "\"arn:aws:iam::111122223333:role/r1\""},
    {"getatt role id", "!GetAtt Role.RoleId", "{\"Fn::GetAtt\": [\"Role\", \"RoleId\"]}", "~AROA"},
    {"getatt trail arn", "!GetAtt Trail.Arn", "{\"Fn::GetAtt\": [\"Trail\", \"Arn\"]}",
     "\"" ARN "cloudtrail:" RA "trail/probe-Trail\""},
    {"getatt key arn", "!GetAtt Key.Arn", "{\"Fn::GetAtt\": [\"Key\", \"Arn\"]}",
     "~" ARN "kms:" RA "key/"},
    {"getatt queue arn", "!GetAtt Queue.Arn", "{\"Fn::GetAtt\": [\"Queue\", \"Arn\"]}",
     "\"" ARN "sqs:" RA "q\""},
    {"getatt unknown type arn", "!GetAtt Thing.Arn", "{\"Fn::GetAtt\": [\"Thing\", \"Arn\"]}",
     "\"" ARN "ec2:" RA "instance/probe-Thing\""},
    {"getatt unknown type attr", "!GetAtt Thing.PublicIp",
     "{\"Fn::GetAtt\": [\"Thing\", \"PublicIp\"]}", "\"probe-Thing\""},
    {"getatt attr from ref", "!GetAtt [Topic, !Sub 'Topic${Empty}Name']",
     "{\"Fn::GetAtt\": [\"Topic\", {\"Fn::Sub\": \"Topic${Empty}Name\"}]}", "\"alerts\""},
    /* Fn::Sub */
    {"sub pseudo and param", "!Sub '${AWS::Region}-${Env}'",
     "{\"Fn::Sub\": \"${AWS::Region}-${Env}\"}", "\"us-east-1-prod\""},
    {"sub variables", "!Sub ['${A}-${Env}', {A: x}]",
     "{\"Fn::Sub\": [\"${A}-${Env}\", {\"A\": \"x\"}]}", "\"x-prod\""},
    {"sub variable from function", "!Sub ['${A}', {A: !Ref Env}]",
     "{\"Fn::Sub\": [\"${A}\", {\"A\": {\"Ref\": \"Env\"}}]}", "\"prod\""},
    {"sub literal", "!Sub 'a ${!Literal} b'", "{\"Fn::Sub\": \"a ${!Literal} b\"}",
     "\"a ${Literal} b\""},
    {"sub getatt", "!Sub '${Logs.Arn}'", "{\"Fn::Sub\": \"${Logs.Arn}\"}",
     "\"" ARN "logs:" RA "log-group:app-logs:*\""},
    {"sub resource ref", "!Sub 'ALARM(\"${Alarm}\")'", "{\"Fn::Sub\": \"ALARM(\\\"${Alarm}\\\")\"}",
     "\"ALARM(\\\"high\\\")\""},
    {"sub no variables", "!Sub 'plain $ text {}'", "{\"Fn::Sub\": \"plain $ text {}\"}",
     "\"plain $ text {}\""},
    {"sub keeps filter selectors", "!Sub '{ $.a = \"${Env}\" }'",
     "{\"Fn::Sub\": \"{ $.a = \\\"${Env}\\\" }\"}", "\"{ $.a = \\\"prod\\\" }\""},
    /* Fn::Join */
    {"join", "!Join [',', [a, b, !Ref Env]]",
     "{\"Fn::Join\": [\",\", [\"a\", \"b\", {\"Ref\": "
     "\"Env\"}]]}",
     "\"a,b,prod\""},
    {"join list param", "!Join ['-', !Ref Names]",
     "{\"Fn::Join\": [\"-\", {\"Ref\": "
     "\"Names\"}]}",
     "\"a-b-c\""},
    {"join empty", "!Join [x, []]", "{\"Fn::Join\": [\"x\", []]}", "\"\""},
    {"join drops novalue", "!Join ['', [a, !Ref AWS::NoValue, b]]",
     "{\"Fn::Join\": [\"\", [\"a\", {\"Ref\": \"AWS::NoValue\"}, \"b\"]]}", "\"ab\""},
    /* Fn::Select, Fn::Split, Fn::GetAZs */
    {"select", "!Select [1, [x, y, z]]", "{\"Fn::Select\": [1, [\"x\", \"y\", \"z\"]]}", "\"y\""},
    {"select string index", "!Select ['0', !Ref Names]",
     "{\"Fn::Select\": [\"0\", {\"Ref\": \"Names\"}]}", "\"a\""},
    {"select getazs", "!Select [0, !GetAZs '']", "{\"Fn::Select\": [0, {\"Fn::GetAZs\": \"\"}]}",
     "\"us-east-1a\""},
    {"split", "!Split [',', 'a,b,,c']", "{\"Fn::Split\": [\",\", \"a,b,,c\"]}",
     "[\"a\",\"b\",\"\",\"c\"]"},
    {"select split", "!Select [2, !Split ['/', 'x/y/z']]",
     "{\"Fn::Select\": [2, {\"Fn::Split\": [\"/\", \"x/y/z\"]}]}", "\"z\""},
    {"getazs current", "!GetAZs ''", "{\"Fn::GetAZs\": \"\"}",
     "[\"us-east-1a\",\"us-east-1b\",\"us-east-1c\"]"},
    {"getazs no argument", "!GetAZs", "{\"Fn::GetAZs\": \"\"}",
     "[\"us-east-1a\",\"us-east-1b\",\"us-east-1c\"]"},
    {"getazs other region", "!GetAZs eu-west-1", "{\"Fn::GetAZs\": \"eu-west-1\"}",
     "[\"eu-west-1a\",\"eu-west-1b\",\"eu-west-1c\"]"},
    /* Fn::If and conditions */
    {"if true", "!If [IsProd, yes, no]", "{\"Fn::If\": [\"IsProd\", \"yes\", \"no\"]}", "\"yes\""},
    {"if not", "!If [IsDev, yes, no]", "{\"Fn::If\": [\"IsDev\", \"yes\", \"no\"]}", "\"no\""},
    {"if and", "!If [Both, yes, no]", "{\"Fn::If\": [\"Both\", \"yes\", \"no\"]}", "\"yes\""},
    {"if or", "!If [Either, yes, no]", "{\"Fn::If\": [\"Either\", \"yes\", \"no\"]}", "\"no\""},
    {"if equals empty", "!If [HasEmpty, yes, no]",
     "{\"Fn::If\": [\"HasEmpty\", \"yes\", "
     "\"no\"]}",
     "\"yes\""},
    {"if list equals", "!If [ListEq, yes, no]", "{\"Fn::If\": [\"ListEq\", \"yes\", \"no\"]}",
     "\"yes\""},
    {"if findinmap condition", "!If [InRegion, yes, no]",
     "{\"Fn::If\": [\"InRegion\", \"yes\", \"no\"]}", "\"yes\""},
    {"if novalue", "!If [IsDev, x, !Ref AWS::NoValue]",
     "{\"Fn::If\": [\"IsDev\", \"x\", {\"Ref\": \"AWS::NoValue\"}]}", "<absent>"},
    {"if untaken branch not resolved", "!If [IsProd, ok, !Ref Gone]",
     "{\"Fn::If\": [\"IsProd\", \"ok\", {\"Ref\": \"Gone\"}]}", "\"ok\""},
    {"if list branch", "!If [IsProd, [!Ref Topic], []]",
     "{\"Fn::If\": [\"IsProd\", [{\"Ref\": \"Topic\"}], []]}", "[\"" ARN "sns:" RA "alerts\"]"},
    /* Fn::FindInMap */
    {"findinmap", "!FindInMap [RegionMap, !Ref 'AWS::Region', Ami]",
     "{\"Fn::FindInMap\": [\"RegionMap\", {\"Ref\": \"AWS::Region\"}, \"Ami\"]}", "\"ami-1\""},
    {"findinmap list", "!FindInMap [RegionMap, us-east-1, Zones]",
     "{\"Fn::FindInMap\": [\"RegionMap\", \"us-east-1\", \"Zones\"]}", "[\"a\",\"b\"]"},
    /* Fn::Base64 */
    {"base64", "!Base64 hello", "{\"Fn::Base64\": \"hello\"}", "\"aGVsbG8=\""},
    {"base64 two", "!Base64 ab", "{\"Fn::Base64\": \"ab\"}", "\"YWI=\""},
    {"base64 of sub", "!Base64 {'Fn::Sub': '${Env}!'}",
     "{\"Fn::Base64\": {\"Fn::Sub\": "
     "\"${Env}!\"}}",
     "\"cHJvZCE=\""},
    {"base64 empty", "!Base64 ''", "{\"Fn::Base64\": \"\"}", "\"\""},
    /* nesting and plain values */
    {"nested", "!Join ['', [!Sub '${Env}', '-', !Select [0, !Split ['-', 'q-r']]]]",
     "{\"Fn::Join\": [\"\", [{\"Fn::Sub\": \"${Env}\"}, \"-\", {\"Fn::Select\": [0, "
     "{\"Fn::Split\": [\"-\", \"q-r\"]}]}]]}",
     "\"prod-q\""},
    {"long form in yaml", "{'Fn::Join': ['', [a, {Ref: Env}]]}",
     "{\"Fn::Join\": [\"\", [\"a\", {\"Ref\": \"Env\"}]]}", "\"aprod\""},
    {"plain values typed", "{n: 5, f: 1.5, b: true, s: '5', z: null, neg: -2}",
     "{\"n\": 5, \"f\": 1.5, \"b\": true, \"s\": \"5\", \"z\": null, \"neg\": -2}",
     "{\"n\":5,\"f\":1.5,\"b\":true,\"s\":\"5\",\"z\":null,\"neg\":-2}"},
    {"map with condition key is data", "{Condition: {StringEquals: {a: b}}}",
     "{\"Condition\": {\"StringEquals\": {\"a\": \"b\"}}}",
     "{\"Condition\":{\"StringEquals\":{\"a\":\"b\"}}}"},
};

static char *compose(const char *head, const char *expr, const char *tail)
{
    size_t n = strlen(head) + strlen(expr) + strlen(tail) + 2;
    char *s = malloc(n);
    snprintf(s, n, "%s%s%s", head, expr, tail);
    return s;
}

static void check_row(const struct row *r, bool json)
{
    char *text = json ? compose(json_head, r->json, json_tail) : compose(yaml_head, r->yaml, "\n");
    struct config_template *t = NULL;
    struct ks_diag d;
    enum ks_err err = config_template_load_buffer(json ? "probe.json" : "probe.yaml", text,
                                                  strlen(text), NULL, &t, &d);
    if (err) {
        char out[1024];
        ks_diag_render(&d, r->name, text, strlen(text), out, sizeof(out));
        print_error("row '%s' (%s): %s\n", r->name, json ? "json" : "yaml", out);
        free(text);
        fail();
    }
    const struct config_custom *probe = NULL;
    for (size_t i = 0; i < t->n_customs; i++)
        if (strcmp(t->customs[i].res.logical_id, "Probe") == 0)
            probe = &t->customs[i];
    assert_non_null(probe);
    json_t *v = json_object_get(probe->properties, "V");
    char *got = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER) : NULL;
    bool ok;
    if (strcmp(r->want, "<absent>") == 0)
        ok = v == NULL;
    else if (r->want[0] == '~')
        ok = v && json_is_string(v) &&
             strncmp(json_string_value(v), r->want + 1, strlen(r->want + 1)) == 0 &&
             strlen(json_string_value(v)) > strlen(r->want + 1);
    else
        ok = got && strcmp(got, r->want) == 0;
    if (!ok)
        print_error("row '%s' (%s): %s\n  want %s\n  got  %s\n", r->name, json ? "json" : "yaml",
                    json ? r->json : r->yaml, r->want, got ? got : "<absent>");
    free(got);
    config_template_free(t);
    free(text);
    assert_true(ok);
}

static void test_yaml_short_forms(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        check_row(&rows[i], false);
}

static void test_json_long_forms(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        check_row(&rows[i], true);
}

/* The surrounding template itself: condition values and what is skipped. */
static void test_probe_template(void **state)
{
    (void)state;
    char *text = compose(yaml_head, "x", "\n");
    struct config_template *t = load_ok("probe.yaml", text, NULL);
    static const struct {
        const char *name;
        bool value;
    } conds[] = {{"IsProd", true},   {"IsDev", false}, {"Both", true},    {"Either", false},
                 {"HasEmpty", true}, {"ListEq", true}, {"InRegion", true}};
    assert_int_equal(t->n_conditions, 7);
    for (size_t i = 0; i < 7; i++) {
        assert_string_equal(t->conditions[i].name, conds[i].name);
        assert_int_equal(t->conditions[i].value, conds[i].value);
    }
    /* skipped: unsupported types once each, and Gone (condition false) */
    static const char *const skipped[][2] = {
        {"Bucket", "AWS::S3::Bucket"},   {"BucketNoName", "AWS::S3::Bucket"},
        {"Role", "AWS::IAM::Role"},      {"Trail", "AWS::CloudTrail::Trail"},
        {"Key", "AWS::KMS::Key"},        {"Queue", "AWS::SQS::Queue"},
        {"Thing", "AWS::EC2::Instance"}, {"Gone", "AWS::SNS::Topic"},
    };
    assert_int_equal(t->n_skipped, 8);
    for (size_t i = 0; i < 8; i++) {
        assert_string_equal(t->skipped[i].logical_id, skipped[i][0]);
        assert_string_equal(t->skipped[i].type, skipped[i][1]);
        assert_int_equal(t->skipped[i].reason,
                         i == 7 ? CONFIG_SKIP_CONDITION : CONFIG_SKIP_UNSUPPORTED);
    }
    assert_string_equal(t->skipped[7].condition, "IsDev");
    assert_null(t->skipped[0].condition);
    assert_int_equal(t->n_topics, 3); /* Gone is not among them */
    assert_int_equal(t->n_customs, 2);
    config_template_free(t);
    free(text);
}

int run_intrinsic_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yaml_short_forms),
        cmocka_unit_test(test_json_long_forms),
        cmocka_unit_test(test_probe_template),
    };
    return cmocka_run_group_tests_name("config intrinsics", tests, NULL, NULL);
}
