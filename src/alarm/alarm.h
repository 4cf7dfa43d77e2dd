/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alarm: CloudWatch metric alarms and composite alarms, evaluated exactly as
 * AWS documents them (spec/alarms.md §1-§8). It sits after the metric store
 * in the pipeline: the store answers "what is the statistic over [start,end)",
 * this module turns those answers into OK / ALARM / INSUFFICIENT_DATA, the
 * StateReason text, the StateReasonData JSON, history items and the list of
 * actions a transition must run.
 *
 * The module is pure: no I/O, no threads, no clock. Every function that
 * depends on time takes it as int64 milliseconds since the Unix epoch (UTC).
 * The daemon passes the wall clock; replay passes its event-time watermark.
 * The evaluator only ever sees the times it is given, so a replay is
 * deterministic. Datapoints come through a callback (alarm_query_fn), child
 * alarm states through another (alarm_state_fn): the metric store and the
 * alarm registry live elsewhere.
 *
 * Nothing here is thread-safe; one owner (the evaluator thread) per alarm.
 * Allocation failure aborts (ks_xmalloc). Strings handed in are borrowed for
 * the call; everything kept is copied.
 */
#ifndef KS_ALARM_H
#define KS_ALARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/ks.h"

/* Limits, from the PutMetricAlarm / PutCompositeAlarm / DescribeAlarmHistory
 * API models (spec/alarms.md §2.1, §6, §7, §8.1). */
#define ALARM_NAME_MAX            255
#define ALARM_DESCRIPTION_MAX     1024
#define ALARM_MAX_ACTIONS         5    /* per action list */
#define ALARM_ACTION_MAX          1024 /* one action ARN */
#define ALARM_MAX_DIMENSIONS      30
#define ALARM_DIM_NAME_MAX        255
#define ALARM_DIM_VALUE_MAX       1024
#define ALARM_REASON_MAX          1023 /* StateReason bytes */
#define ALARM_REASON_DATA_MAX     4000 /* StateReasonData bytes */
#define ALARM_HISTORY_SUMMARY_MAX 255
#define ALARM_HISTORY_DATA_MAX    4095
#define ALARM_HISTORY_DEFAULT     1000 /* history items kept per alarm (newest) */
#define ALARM_RULE_MAX_BYTES      10240
#define ALARM_RULE_MAX_ELEMENTS   500 /* children, TRUE/FALSE, parenthesis pairs */
#define ALARM_RULE_MAX_CHILDREN   100 /* distinct alarms one rule references */
#define ALARM_RULE_MAX_DEPTH      256 /* nesting of NOT and parentheses (ours) */
#define ALARM_SUPPRESSOR_MAX      1600
#define ALARM_DEFAULT_REGION      "us-east-1"
#define ALARM_DEFAULT_ACCOUNT     "111122223333"

/* ---- enumerations: each list is written once (X-macro) ------------------ */

/* X(id, API name) */
#define ALARM_STATES(X)                                                                            \
    X(OK, "OK")                                                                                    \
    X(ALARM, "ALARM")                                                                              \
    X(INSUFFICIENT_DATA, "INSUFFICIENT_DATA")

#define ALARM_X_STATE_ENUM(id, name) ALARM_STATE_##id,
enum alarm_state { ALARM_STATES(ALARM_X_STATE_ENUM) };
#undef ALARM_X_STATE_ENUM

/* X(id, API name, SNS Trigger name). ALARM_STAT_NONE means "ExtendedStatistic". */
#define ALARM_STATISTICS(X)                                                                        \
    X(SAMPLE_COUNT, "SampleCount", "SAMPLE_COUNT")                                                 \
    X(AVERAGE, "Average", "AVERAGE")                                                               \
    X(SUM, "Sum", "SUM")                                                                           \
    X(MINIMUM, "Minimum", "MINIMUM")                                                               \
    X(MAXIMUM, "Maximum", "MAXIMUM")

#define ALARM_X_STAT_ENUM(id, name, upper) ALARM_STAT_##id,
enum alarm_statistic { ALARM_STAT_NONE = 0, ALARM_STATISTICS(ALARM_X_STAT_ENUM) };
#undef ALARM_X_STAT_ENUM

/* X(id, API name, relation used in StateReason). The last three compare with
 * an anomaly band; alarm_def_validate rejects them until anomaly detection
 * exists (spec/alarms.md §9). */
#define ALARM_COMPARISONS(X)                                                                       \
    X(GE, "GreaterThanOrEqualToThreshold", "greater than or equal to")                             \
    X(GT, "GreaterThanThreshold", "greater than")                                                  \
    X(LT, "LessThanThreshold", "less than")                                                        \
    X(LE, "LessThanOrEqualToThreshold", "less than or equal to")                                   \
    X(OUTSIDE_BAND, "LessThanLowerOrGreaterThanUpperThreshold", "outside")                         \
    X(BELOW_BAND, "LessThanLowerThreshold", "less than")                                           \
    X(ABOVE_BAND, "GreaterThanUpperThreshold", "greater than")

#define ALARM_X_CMP_ENUM(id, name, rel) ALARM_CMP_##id,
enum alarm_comparison { ALARM_COMPARISONS(ALARM_X_CMP_ENUM) };
#undef ALARM_X_CMP_ENUM

/* X(id, API name). The first is the default. */
#define ALARM_TREAT_MISSING(X)                                                                     \
    X(MISSING, "missing")                                                                          \
    X(IGNORE, "ignore")                                                                            \
    X(BREACHING, "breaching")                                                                      \
    X(NOT_BREACHING, "notBreaching")

#define ALARM_X_TMD_ENUM(id, name) ALARM_MISSING_##id,
enum alarm_treat_missing { ALARM_TREAT_MISSING(ALARM_X_TMD_ENUM) };
#undef ALARM_X_TMD_ENUM

/* EvaluateLowSampleCountPercentile; UNSET behaves as EVALUATE. */
enum alarm_low_sample {
    ALARM_LOW_SAMPLE_UNSET = 0,
    ALARM_LOW_SAMPLE_EVALUATE,
    ALARM_LOW_SAMPLE_IGNORE,
};

const char *alarm_state_name(enum alarm_state s);
const char *alarm_statistic_name(enum alarm_statistic s);     /* "Sum"; "" for NONE */
const char *alarm_statistic_sns_name(enum alarm_statistic s); /* "SUM" */
const char *alarm_comparison_name(enum alarm_comparison c);
const char *alarm_treat_missing_name(enum alarm_treat_missing t);
const char *alarm_low_sample_name(enum alarm_low_sample l); /* "" for UNSET */

/* Parse API spellings (exact, case-sensitive as in AWS). False when unknown. */
bool alarm_state_parse(const char *s, enum alarm_state *out);
bool alarm_statistic_parse(const char *s, enum alarm_statistic *out);
bool alarm_comparison_parse(const char *s, enum alarm_comparison *out);
bool alarm_treat_missing_parse(const char *s, enum alarm_treat_missing *out);
bool alarm_low_sample_parse(const char *s, enum alarm_low_sample *out);

/* ---- metric alarm definition (PutMetricAlarm) ----------------------------- */

struct alarm_dimension {
    const char *name;
    const char *value;
};

/*
 * One metric alarm's configuration. Start from alarm_def_init() (it sets the
 * AWS defaults: ActionsEnabled true, TreatMissingData missing), then fill in.
 * Optional strings are NULL when absent. All pointers are borrowed by the
 * functions below; alarm_new and alarm_update_def copy what they keep.
 */
struct alarm_def {
    const char *name;        /* AlarmName, 1-255 bytes, UTF-8, no control characters */
    const char *description; /* AlarmDescription, optional, <= 1024 */
    const char *ns;          /* Namespace, 1-255, must not start with ':' */
    const char *metric_name; /* MetricName, 1-255 */
    const struct alarm_dimension *dimensions;
    size_t n_dimensions; /* <= 30 */
    /* Exactly one of statistic (!= NONE) and extended_statistic (pNN[.NN]). */
    enum alarm_statistic statistic;
    const char *extended_statistic;
    int32_t period;              /* seconds: 10, 20, 30 or a multiple of 60 */
    int32_t evaluation_periods;  /* N >= 1 */
    int32_t datapoints_to_alarm; /* M, 1..N; 0 = not set (M = N, legacy reason text) */
    double threshold;
    enum alarm_comparison comparison;
    enum alarm_treat_missing treat_missing;
    enum alarm_low_sample low_sample; /* EvaluateLowSampleCountPercentile */
    const char *unit;                 /* optional StandardUnit; the query callback filters */
    bool actions_enabled;
    const char *const *alarm_actions; /* run on transition into ALARM */
    size_t n_alarm_actions;
    const char *const *ok_actions;
    size_t n_ok_actions;
    const char *const *insufficient_data_actions;
    size_t n_insufficient_data_actions;

    /* keysentry settings (not part of PutMetricAlarm): */
    const char *region;  /* for the alarm ARN; NULL = ALARM_DEFAULT_REGION */
    const char *account; /* for the alarm ARN; NULL = ALARM_DEFAULT_ACCOUNT */
    int32_t range_extra; /* L in R = N + L (spec §4.1); 0 = max(2, ceil(300 / Period)) */
    size_t history_max;  /* history items kept; 0 = ALARM_HISTORY_DEFAULT */
};

void alarm_def_init(struct alarm_def *def);

/*
 * Checks def against the PutMetricAlarm rules (spec §2.1). On failure returns
 * KS_E_INVALID with a message in diag naming the field ("Period 45 is invalid:
 * ..."); diag->offset is SIZE_MAX. Anomaly-band operators, extended statistics
 * other than percentiles, and percentiles outside 0-100 are rejected here.
 */
KS_MUST_CHECK enum ks_err alarm_def_validate(const struct alarm_def *def, struct ks_diag *diag);

/* ---- datapoints, changes, history ------------------------------------------ */

/* One period's datapoint: value is already the alarm's statistic over the
 * period (Sum, p99, ...); sample_count is the number of samples in it. */
struct alarm_datapoint {
    double value;
    double sample_count;
};

/*
 * Asked once per slot of the evaluation range, with [start_ms, end_ms) the
 * slot and def the alarm's definition (namespace, metric, dimensions,
 * statistic, unit). Returns false when the slot has no samples: the datapoint
 * is missing. A zero sample count must be reported as missing, never as 0.
 */
typedef bool alarm_query_fn(void *ctx, const struct alarm_def *def, int64_t start_ms,
                            int64_t end_ms, struct alarm_datapoint *out);

/*
 * What an evaluation decided. Filled by alarm_evaluate, alarm_set_state and
 * the composite functions; reusable across calls (init once, release once).
 *
 * state_changed is true for a transition. It is false only when a composite
 * alarm releases actions it held during a suppressor wait or extension period
 * (then old_state == new_state and the actions are the current state's).
 * actions are the ARNs to run now, owned by the struct: empty when
 * ActionsEnabled is false or when a composite's suppressor holds them.
 */
struct alarm_change {
    bool state_changed;
    enum alarm_state old_state;
    enum alarm_state new_state;
    int64_t time_ms;           /* evaluation time: StateChangeTime / StateUpdatedTimestamp */
    int64_t transition_ms;     /* when new_state was entered (== time_ms on a transition) */
    struct ks_buf reason;      /* StateReason */
    struct ks_buf reason_data; /* StateReasonData JSON; "" when the state has none */
    char **actions;
    size_t n_actions;
};

void alarm_change_init(struct alarm_change *c);
void alarm_change_release(struct alarm_change *c);

enum alarm_type { ALARM_TYPE_METRIC, ALARM_TYPE_COMPOSITE };
enum alarm_history_type {
    ALARM_HISTORY_CONFIGURATION_UPDATE,
    ALARM_HISTORY_STATE_UPDATE,
    ALARM_HISTORY_ACTION,
};

const char *alarm_type_name(enum alarm_type t);                 /* "MetricAlarm" */
const char *alarm_history_type_name(enum alarm_history_type t); /* "StateUpdate" */

/* One DescribeAlarmHistory item (spec §7). Strings are owned by the history. */
struct alarm_history_item {
    const char *alarm_name;
    enum alarm_type alarm_type;
    int64_t timestamp_ms;
    enum alarm_history_type type;
    const char *summary; /* HistorySummary, <= 255 bytes */
    const char *data;    /* HistoryData JSON */
};

/* The newest history_max items of one alarm, oldest first. */
struct alarm_history;
size_t alarm_history_count(const struct alarm_history *h);
/* i < count; 0 is the oldest kept item. Borrowed until the alarm changes. */
const struct alarm_history_item *alarm_history_at(const struct alarm_history *h, size_t i);

/* ---- metric alarm ----------------------------------------------------------- */

struct alarm;

/*
 * Creates an alarm from a copy of def, in INSUFFICIENT_DATA with the reason
 * "Unchecked: Initial alarm creation" and a ConfigurationUpdate "Create"
 * history item at created_ms (spec §2.2). Call alarm_evaluate next, as AWS
 * does right after creation. Returns NULL when def does not validate (call
 * alarm_def_validate first for the message). Free with alarm_free.
 */
struct alarm *alarm_new(const struct alarm_def *def, int64_t created_ms);
void alarm_free(struct alarm *a);

/* Borrowed views, valid until the next call that changes the alarm. */
const struct alarm_def *alarm_get_def(const struct alarm *a);
const char *alarm_arn(const struct alarm *a);
enum alarm_state alarm_get_state(const struct alarm *a);
const char *alarm_state_reason(const struct alarm *a);
const char *alarm_state_reason_data(const struct alarm *a); /* "" when none */
int64_t alarm_state_updated_ms(const struct alarm *a);
int64_t alarm_config_updated_ms(const struct alarm *a);
const struct alarm_history *alarm_get_history(const struct alarm *a);

/*
 * The first evaluation time strictly after after_ms: the next whole minute,
 * or the next multiple of 10 s for high-resolution periods (< 60 s), counted
 * from the epoch (spec §3).
 */
int64_t alarm_next_evaluation(const struct alarm *a, int64_t after_ms);

/*
 * Evaluates the alarm at eval_ms (spec §3, §4, §5): forms R = N + L slots of
 * Period seconds ending at eval_ms truncated to the minute (10 s for
 * high-resolution alarms), asks query for each, applies the M-of-N and
 * TreatMissingData rules and the percentile low-sample rule.
 * Returns true on a transition: the state, reason, reason data and timestamps
 * are updated, a StateUpdate history item is added, and out (if not NULL)
 * receives the change with the new state's actions (none when ActionsEnabled
 * is false). Returns false when the state stays (nothing changes).
 * eval_ms need not be aligned; it becomes queryDate.
 */
bool alarm_evaluate(struct alarm *a, int64_t eval_ms, alarm_query_fn *query, void *ctx,
                    struct alarm_change *out);

/*
 * SetAlarmState: forces state with the caller's reason (<= 1023 bytes) and
 * optional reason_data (JSON, <= 4000 bytes, NULL for none). A different
 * state is a real transition (history, actions in out, *changed = true); the
 * same state changes nothing. The next alarm_evaluate recomputes the state.
 * Errors: KS_E_INVALID (reason too long, reason_data not JSON) with diag.
 */
KS_MUST_CHECK enum ks_err alarm_set_state(struct alarm *a, enum alarm_state state,
                                          const char *reason, const char *reason_data,
                                          int64_t now_ms, bool *changed, struct alarm_change *out,
                                          struct ks_diag *diag);

/*
 * PutMetricAlarm on an existing alarm: replaces the whole configuration with
 * a copy of def and keeps the current state (spec §2.2); adds a
 * ConfigurationUpdate "Update" history item. def->name must equal the
 * alarm's name. Errors: KS_E_INVALID from validation or a name mismatch.
 */
KS_MUST_CHECK enum ks_err alarm_update_def(struct alarm *a, const struct alarm_def *def,
                                           int64_t now_ms, struct ks_diag *diag);

/*
 * Records the outcome of one action the caller ran for a transition (spec
 * §7): an Action history item. state_update_ms is the transition's time,
 * published_message the exact message sent (may be NULL), error NULL on
 * success or the failure text.
 */
void alarm_record_action(struct alarm *a, int64_t now_ms, const char *action_arn,
                         int64_t state_update_ms, const char *published_message, const char *error);

/* ---- composite alarms ------------------------------------------------------ */

/* A child alarm's state as the registry knows it: timestamp_ms is when it
 * entered that state (its StateUpdatedTimestamp). */
struct alarm_child_state {
    enum alarm_state state;
    int64_t timestamp_ms;
};

/* Looks up an alarm by name; false when no such alarm exists. */
typedef bool alarm_state_fn(void *ctx, const char *name, struct alarm_child_state *out);

/* A parsed AlarmRule (spec §8.2). */
struct alarm_rule;

/*
 * Parses rule text. References may be names or alarm ARNs, quoted or not;
 * ARNs must name an alarm in region/account (NULL = the defaults) and are
 * resolved to names. On error returns NULL with KS_E_SYNTAX (or KS_E_LIMIT)
 * and diag->offset the byte offset of the problem in text.
 */
struct alarm_rule *alarm_rule_parse(const char *text, size_t len, const char *region,
                                    const char *account, struct ks_diag *diag);
void alarm_rule_free(struct alarm_rule *r);
/* Distinct child alarm names in order of first reference (for existence and
 * cycle checks by the caller). Borrowed, valid until alarm_rule_free. */
size_t alarm_rule_child_count(const struct alarm_rule *r);
const char *alarm_rule_child(const struct alarm_rule *r, size_t i);
/* Evaluates the rule. A child the callback does not know satisfies none of
 * ALARM(), OK() and INSUFFICIENT_DATA(). */
bool alarm_rule_eval(const struct alarm_rule *r, alarm_state_fn *fn, void *ctx);

struct alarm_composite_def {
    const char *name;        /* 1-255 */
    const char *description; /* optional, <= 1024 */
    const char *rule;        /* AlarmRule, 1-10240 bytes */
    bool actions_enabled;
    const char *const *alarm_actions;
    size_t n_alarm_actions;
    const char *const *ok_actions;
    size_t n_ok_actions;
    const char *const *insufficient_data_actions;
    size_t n_insufficient_data_actions;
    const char *actions_suppressor;      /* alarm name or ARN; NULL = none */
    int32_t suppressor_wait_period;      /* seconds, >= 0, used with a suppressor */
    int32_t suppressor_extension_period; /* seconds, >= 0 */
    /* keysentry settings, as in struct alarm_def */
    const char *region;
    const char *account;
    size_t history_max;
};

void alarm_composite_def_init(struct alarm_composite_def *def);
/* Validates the fields and parses the rule; a rule error's diag->offset is a
 * byte offset into def->rule. */
KS_MUST_CHECK enum ks_err alarm_composite_def_validate(const struct alarm_composite_def *def,
                                                       struct ks_diag *diag);

/* Why a composite's actions are held (DescribeAlarms ActionsSuppressedBy). */
enum alarm_suppressed_by {
    ALARM_SUPPRESSED_NONE,
    ALARM_SUPPRESSED_ALARM,
    ALARM_SUPPRESSED_WAIT_PERIOD,
    ALARM_SUPPRESSED_EXTENSION_PERIOD,
};

struct alarm_composite;

/* Created in INSUFFICIENT_DATA with a "Create" history item; the first
 * alarm_composite_evaluate moves it to ALARM or OK. NULL when def does not
 * validate. Free with alarm_composite_free. */
struct alarm_composite *alarm_composite_new(const struct alarm_composite_def *def,
                                            int64_t created_ms);
void alarm_composite_free(struct alarm_composite *c);

const struct alarm_composite_def *alarm_composite_get_def(const struct alarm_composite *c);
const struct alarm_rule *alarm_composite_rule(const struct alarm_composite *c);
const char *alarm_composite_arn(const struct alarm_composite *c);
enum alarm_state alarm_composite_state(const struct alarm_composite *c);
const char *alarm_composite_state_reason(const struct alarm_composite *c);
const char *alarm_composite_state_reason_data(const struct alarm_composite *c);
int64_t alarm_composite_state_updated_ms(const struct alarm_composite *c);
const struct alarm_history *alarm_composite_history(const struct alarm_composite *c);
enum alarm_suppressed_by alarm_composite_suppressed_by(const struct alarm_composite *c);
/* "Actions suppressed by WaitPeriod" etc.; "" when not suppressed. */
const char *alarm_composite_suppressed_reason(const struct alarm_composite *c);

/*
 * Brings the composite up to now_ms (spec §8.3, §8.4). Polls the children and
 * the suppressor through fn; re-evaluates the rule on the first call, after a
 * configuration update, or when some child's state or state timestamp
 * differs from what the previous call saw; runs suppressor wait / extension
 * periods whose end is <= now_ms. Returns true with out filled for one
 * outcome (a transition, or held actions being released); call again until it
 * returns false, because a late call can have two outcomes to report.
 */
bool alarm_composite_evaluate(struct alarm_composite *c, int64_t now_ms, alarm_state_fn *fn,
                              void *ctx, struct alarm_change *out);

/* When a running wait or extension period ends (call evaluate then), or
 * INT64_MAX when none runs. */
int64_t alarm_composite_next_deadline(const struct alarm_composite *c);

/* SetAlarmState on a composite: as alarm_set_state. The composite keeps the
 * forced state until a child changes or its configuration is updated. */
KS_MUST_CHECK enum ks_err alarm_composite_set_state(struct alarm_composite *c,
                                                    enum alarm_state state, const char *reason,
                                                    const char *reason_data, int64_t now_ms,
                                                    bool *changed, struct alarm_change *out,
                                                    struct ks_diag *diag);

/* PutCompositeAlarm on an existing composite: replaces the configuration,
 * keeps the state, forces a rule evaluation at the next evaluate; a new
 * suppressor discards a running wait/extension period. */
KS_MUST_CHECK enum ks_err alarm_composite_update_def(struct alarm_composite *c,
                                                     const struct alarm_composite_def *def,
                                                     int64_t now_ms, struct ks_diag *diag);

void alarm_composite_record_action(struct alarm_composite *c, int64_t now_ms,
                                   const char *action_arn, int64_t state_update_ms,
                                   const char *published_message, const char *error);

/* ---- formatting helpers shared with the notification code --------------- */

#define ALARM_FMT_DOUBLE_SIZE 32
#define ALARM_FMT_TIME_SIZE   40

/* Java Double.toString style (spec §6.1): shortest round-trip digits, at least
 * one fractional digit, d.dddE<n> outside [1e-3, 1e7): "3.0", "1.0E7",
 * "1.0E-4", "NaN", "Infinity". Returns the length. */
size_t alarm_fmt_double(char out[ALARM_FMT_DOUBLE_SIZE], double v);
/* "2023-01-09T14:07:25.504+0000" (UTC). Returns the length. */
size_t alarm_fmt_time(char out[ALARM_FMT_TIME_SIZE], int64_t ms);

#endif
