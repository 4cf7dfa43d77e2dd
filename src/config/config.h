/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config: CloudFormation templates (YAML or JSON) as keysentry's monitoring
 * configuration (DESIGN.md §4, docs/configuration.md).
 *
 * A template is parsed with libyaml into a generic tree that keeps the byte
 * offset, line and column of every node (JSON is read by the same parser:
 * JSON is YAML flow syntax), then resolved: parameters, pseudo parameters,
 * mappings, conditions and intrinsic functions. The resources keysentry acts
 * on are validated property by property against the AWS resource schemas
 * and copied into the typed structs below; Keysentry::* resources are kept as
 * resolved JSON trees for their consumers; every other type is listed once as
 * skipped.
 *
 * Invariants of a loaded struct config_template: every string is owned by the
 * template and NUL-terminated; optional strings are NULL when absent;
 * optional numbers have a has_ flag (when false the number is 0 or the AWS
 * default, as documented per field); integer properties are stored as
 * doubles that hold an integral value; arrays are in template order. The
 * template is immutable after loading and may be read from any thread.
 */
#ifndef KS_CONFIG_H
#define KS_CONFIG_H

#include <stdio.h>

#include <jansson.h>

#include "base/ks.h"

/* Limits on input-derived sizes (docs/configuration.md#limits). */
#define CONFIG_MAX_TEMPLATE_BYTES (1u << 20)  /* AWS accepts 1 MB from S3 */
#define CONFIG_MAX_DEPTH          64          /* nesting of YAML/JSON nodes */
#define CONFIG_MAX_NODES          200000      /* tree nodes, aliases counted expanded */
#define CONFIG_MAX_ALIAS_NODES    10000       /* nodes reached through YAML aliases */
#define CONFIG_MAX_ANCHORS        1000        /* YAML anchors per template */
#define CONFIG_MAX_EVAL_BYTES     (16u << 20) /* bytes built by !Sub, !Join, ... */
#define CONFIG_MAX_RESOURCES      500         /* as AWS */
#define CONFIG_MAX_PARAMETERS     200         /* as AWS */
#define CONFIG_MAX_OUTPUTS        200         /* as AWS */

/* Defaults of the pseudo parameters (docs/configuration.md). */
#define CONFIG_DEFAULT_ACCOUNT_ID "111122223333"
#define CONFIG_DEFAULT_REGION     "us-east-1"

struct config_topic;
struct config_mem;

/* What the caller decides; all fields optional (zero-initialise). */
struct config_options {
    const char *stack_name; /* AWS::StackName; NULL: file name without extension */
    const char *account_id; /* AWS::AccountId; NULL: CONFIG_DEFAULT_ACCOUNT_ID */
    const char *region;     /* AWS::Region; NULL: CONFIG_DEFAULT_REGION */
    /* Parameter overrides as "Name=Value" (the CLI's --param); a later
     * override of the same name wins. Borrowed for the call. */
    const char *const *params;
    size_t n_params;
};

/* Where an item was declared: 1-based line and column, byte offset. */
struct config_pos {
    unsigned line;
    unsigned col;
    size_t offset;
};

struct config_strings {
    char **v;
    size_t n;
};

struct config_tag {
    char *key;
    char *value;
};

/* A dimension: {Key, Value} in a metric filter (Value is "$.selector" or
 * "$name"), {Name, Value} in an alarm. */
struct config_dimension {
    char *name;
    char *value;
};

/* What every resource carries. */
struct config_resource {
    char *logical_id;
    char *type;            /* e.g. "AWS::CloudWatch::Alarm" */
    struct config_pos pos; /* of the logical id */
    char *condition;       /* the resource's Condition (true), or NULL */
    char *deletion_policy; /* Delete, Retain, Snapshot, RetainExceptOnCreate, or NULL */
    char *update_replace_policy;
    struct config_strings depends_on;
    json_t *metadata; /* the Metadata attribute as written (not resolved), or NULL */
};

enum config_param_type {
    CONFIG_PARAM_STRING,               /* String and AWS-specific single-value types */
    CONFIG_PARAM_NUMBER,               /* Number */
    CONFIG_PARAM_LIST_NUMBER,          /* List<Number> */
    CONFIG_PARAM_COMMA_DELIMITED_LIST, /* CommaDelimitedList and List<AWS-specific> */
};

struct config_param {
    char *name;
    char *type_name; /* as written, e.g. "AWS::EC2::VPC::Id" */
    enum config_param_type type;
    char *description;
    char *value;                /* as given (lists: comma-separated) */
    struct config_strings list; /* list types: the elements; else empty */
    bool no_echo;               /* dump prints **** instead of the value */
    bool overridden;            /* the value came from config_options.params */
    struct config_pos pos;
};

struct config_condition {
    char *name;
    bool value;
    struct config_pos pos;
};

/* AWS::Logs::LogGroup. Ref = name; GetAtt Arn = arn. */
struct config_log_group {
    struct config_resource res;
    char *name;      /* LogGroupName, or "<StackName>-<LogicalId>" */
    bool name_given; /* LogGroupName was in the template */
    char *arn;       /* arn:PARTITION:logs:REGION:ACCOUNT:log-group:NAME:* */
    double retention_in_days;
    bool has_retention_in_days; /* absent: never expire */
    char *kms_key_id;
    char *log_group_class;
    struct config_tag *tags;
    size_t n_tags;
};

struct config_metric_transformation {
    char *metric_name;
    char *metric_namespace;
    char *metric_value; /* a number ("1") or a field reference ("$.a.b", "$name") */
    double default_value;
    bool has_default_value;
    char *unit; /* StandardUnit; NULL when absent (AWS: None) */
    struct config_dimension *dimensions;
    size_t n_dimensions; /* <= 3 */
    struct config_pos pos;
};

/* AWS::Logs::MetricFilter. Ref = filter_name. */
struct config_metric_filter {
    struct config_resource res;
    char *filter_name;      /* FilterName, or "<StackName>-<LogicalId>" */
    bool filter_name_given; /* replay keys its counts by logical id when false */
    char *filter_pattern;
    struct config_pos filter_pattern_pos; /* of the property value */
    /* Byte offset in the file where filter_pattern appears verbatim (a
     * plain or quoted scalar without escapes), so a pattern error offset can
     * be added to it; SIZE_MAX when the text was built (!Sub) or escaped. */
    size_t filter_pattern_offset;
    char *log_group_name;
    bool apply_on_transformed_logs;
    struct config_metric_transformation *transformations;
    size_t n_transformations; /* exactly 1, as AWS */
};

struct config_metric_stat {
    char *namespace;
    char *metric_name;
    struct config_dimension *dimensions;
    size_t n_dimensions;
    double period;
    char *stat; /* Sum, Average, p99, ... */
    char *unit;
};

/* One entry of an alarm's Metrics (metric math), parsed, not evaluated. */
struct config_metric_query {
    char *id;
    char *expression; /* exactly one of expression / has_metric_stat */
    char *label;
    char *account_id;
    bool has_metric_stat;
    struct config_metric_stat metric_stat;
    double period;
    bool has_period;
    bool return_data; /* AWS default: true */
    bool has_return_data;
    struct config_pos pos;
};

/* AWS::CloudWatch::Alarm. Ref = name; GetAtt Arn = arn. String enums are
 * validated and spelled as AWS spells them. */
struct config_alarm {
    struct config_resource res;
    char *name; /* AlarmName, or "<StackName>-<LogicalId>" */
    bool name_given;
    char *arn; /* arn:PARTITION:cloudwatch:REGION:ACCOUNT:alarm:NAME */
    char *description;
    bool actions_enabled; /* default true */
    struct config_strings alarm_actions, ok_actions, insufficient_data_actions;
    /* single-metric form (NULL / has_period false with Metrics) */
    char *metric_name;
    char *namespace;
    struct config_dimension *dimensions;
    size_t n_dimensions;
    char *statistic;          /* SampleCount Average Sum Minimum Maximum, or NULL */
    char *extended_statistic; /* e.g. "p99", or NULL */
    double period;
    bool has_period;
    char *unit;
    /* metric-math form */
    struct config_metric_query *metrics;
    size_t n_metrics;
    double evaluation_periods;  /* >= 1 */
    double datapoints_to_alarm; /* has_ false: equals evaluation_periods */
    bool has_datapoints_to_alarm;
    double threshold;
    bool has_threshold;        /* false for anomaly-band alarms */
    char *threshold_metric_id; /* anomaly-band alarms */
    /* GreaterThanOrEqualToThreshold GreaterThanThreshold LessThanThreshold
     * LessThanOrEqualToThreshold LessThanLowerOrGreaterThanUpperThreshold
     * LessThanLowerThreshold GreaterThanUpperThreshold */
    char *comparison_operator;
    char *treat_missing_data; /* missing (default) ignore breaching notBreaching */
    char *evaluate_low_sample_count_percentile; /* evaluate, ignore, or NULL */
    struct config_tag *tags;
    size_t n_tags;
};

/* AWS::CloudWatch::CompositeAlarm. Ref = name; GetAtt Arn = arn. */
struct config_composite_alarm {
    struct config_resource res;
    char *name;
    bool name_given;
    char *arn;
    char *description;
    char *alarm_rule; /* not parsed here: the alarm module owns the grammar */
    struct config_pos alarm_rule_pos;
    bool actions_enabled;
    struct config_strings alarm_actions, ok_actions, insufficient_data_actions;
    char *actions_suppressor;
    double actions_suppressor_wait_period;
    double actions_suppressor_extension_period; /* both set iff actions_suppressor */
    struct config_tag *tags;
    size_t n_tags;
};

/* An SNS subscription: an AWS::SNS::Subscription resource, or one entry of a
 * topic's Subscription property (inline: res.logical_id is the topic's and
 * res.type "AWS::SNS::Topic"). Ref and GetAtt Arn = arn. */
struct config_subscription {
    struct config_resource res;
    bool is_inline;
    char *arn; /* TOPICARN:UUID, the UUID derived from stack and logical id */
    char *topic_arn;
    /* The template's topic with that ARN (borrowed), or NULL when the topic
     * is outside the template. */
    const struct config_topic *topic;
    char *protocol; /* http https email email-json sms sqs lambda application firehose */
    char *endpoint;
    bool raw_message_delivery;
    char *filter_policy; /* compact JSON text, or NULL */
    char *filter_policy_scope;
    char *delivery_policy; /* compact JSON text, or NULL */
    char *redrive_policy;  /* compact JSON text, or NULL */
    char *region;
    char *subscription_role_arn;
};

/* AWS::SNS::Topic. Ref = arn (not the name: alarms.md AL11); GetAtt
 * TopicArn = arn, TopicName = name. */
struct config_topic {
    struct config_resource res;
    char *name; /* TopicName, or "<StackName>-<LogicalId>" (+".fifo") */
    bool name_given;
    char *arn; /* arn:PARTITION:sns:REGION:ACCOUNT:NAME */
    char *display_name;
    char *kms_master_key_id;
    bool fifo_topic;
    bool content_based_deduplication;
    char *signature_version;
    char *tracing_config;
    /* Inline subscriptions and AWS::SNS::Subscription resources whose
     * TopicArn is this topic; borrowed pointers into the template's
     * subscriptions array. */
    const struct config_subscription **subscriptions;
    size_t n_subscriptions;
    struct config_tag *tags;
    size_t n_tags;
};

/* A Keysentry::* resource: kept generically and validated by its consumer
 * (later features define the types). Ref = name. */
struct config_custom {
    struct config_resource res;
    char *name;         /* the Name property when a string, else "<StackName>-<LogicalId>" */
    json_t *properties; /* resolved Properties, an object (empty when absent); owned */
};

enum config_skip_reason {
    CONFIG_SKIP_UNSUPPORTED, /* a type keysentry does not act on */
    CONFIG_SKIP_CONDITION,   /* its Condition is false: not created */
};

struct config_skipped {
    char *logical_id;
    char *type;
    enum config_skip_reason reason;
    char *condition; /* CONFIG_SKIP_CONDITION: the false condition */
    struct config_pos pos;
};

struct config_output {
    char *name; /* logical id */
    char *description;
    char *value; /* lists are joined with "," */
    char *export_name;
    struct config_pos pos;
};

/* Something accepted but not fully honoured (e.g. an AllowedPattern POSIX
 * regex cannot express); shown by config_template_dump. */
struct config_warning {
    char *msg;
    struct config_pos pos;
};

struct config_template {
    char *path;                  /* as given to the loader */
    char *description;           /* the template's Description, or NULL */
    char *format_version;        /* AWSTemplateFormatVersion, or NULL */
    char *stack_name, *stack_id; /* pseudo parameters in force */
    char *account_id, *region, *partition, *url_suffix;

    struct config_param *params;
    size_t n_params;
    struct config_condition *conditions;
    size_t n_conditions;
    struct config_log_group *log_groups;
    size_t n_log_groups;
    struct config_metric_filter *metric_filters;
    size_t n_metric_filters;
    struct config_alarm *alarms;
    size_t n_alarms;
    struct config_composite_alarm *composite_alarms;
    size_t n_composite_alarms;
    struct config_topic *topics;
    size_t n_topics;
    struct config_subscription *subscriptions; /* resources first, then inline ones */
    size_t n_subscriptions;
    struct config_custom *customs;
    size_t n_customs;
    struct config_skipped *skipped;
    size_t n_skipped;
    struct config_output *outputs;
    size_t n_outputs;
    struct config_warning *warnings;
    size_t n_warnings;

    struct config_mem *mem; /* private: owns every string and array above */
};

/*
 * Loads and resolves the template at path (YAML or JSON, by content). On
 * success *out is a new template the caller frees with config_template_free.
 * On failure *out is NULL and diag says why: diag->msg starts with the logical
 * path of the offending node (e.g. "Resources.F.Properties.FilterPattern:
 * expected a string") and diag->offset is a byte offset into the file (render
 * with ks_diag_render over the file's text), SIZE_MAX when the problem has no
 * place (I/O, options). Errors: KS_E_IO (cannot read), KS_E_TOOBIG (file over
 * CONFIG_MAX_TEMPLATE_BYTES), KS_E_SYNTAX (not YAML/JSON), KS_E_LIMIT (a
 * CONFIG_MAX_* limit), KS_E_INVALID (anything else wrong with the template or
 * the options). opts may be NULL.
 */
KS_MUST_CHECK enum ks_err config_template_load(const char *path, const struct config_options *opts,
                                               struct config_template **out, struct ks_diag *diag);

/*
 * As config_template_load, from len bytes at text (not necessarily
 * NUL-terminated; borrowed for the call). name stands for the path: it is
 * stored in the template and gives the default stack name.
 */
KS_MUST_CHECK enum ks_err config_template_load_buffer(const char *name, const char *text,
                                                      size_t len, const struct config_options *opts,
                                                      struct config_template **out,
                                                      struct ks_diag *diag);

/* Frees the template and everything in it; NULL-safe. */
void config_template_free(struct config_template *t);

/*
 * Prints what was understood, for `keysentry validate`: pseudo parameters,
 * parameters with values (NoEcho ones masked), conditions, each resource with
 * its resolved key properties, skipped resources, outputs and warnings. The
 * text has no source positions, so the YAML and JSON forms of one template
 * dump identically. Stable enough to diff in tests.
 */
void config_template_dump(const struct config_template *t, FILE *f);

/* Lookups; borrowed results, NULL when absent. */
const struct config_topic *config_template_topic_by_arn(const struct config_template *t,
                                                        const char *arn);
const struct config_log_group *config_template_log_group_by_name(const struct config_template *t,
                                                                 const char *name);
const struct config_param *config_template_param(const struct config_template *t, const char *name);

#endif
