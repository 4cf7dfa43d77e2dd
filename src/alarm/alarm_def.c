/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Alarm definitions: enum names, PutMetricAlarm / PutCompositeAlarm
 * validation (spec §2.1, §8.1), deep copies, the configuration JSON written
 * into ConfigurationUpdate history items (spec §7), and struct alarm_change.
 */
#include <math.h>

#include "alarm/alarm_int.h"

/* ---- names -------------------------------------------------------------------- */

#define X_NAME2(id, name)        name,
#define X_NAME3(id, name, other) name,
#define X_THIRD(id, name, other) other,

static const char *const state_names[] = {ALARM_STATES(X_NAME2)};
static const char *const stat_names[] = {"", ALARM_STATISTICS(X_NAME3)};
static const char *const stat_sns_names[] = {"", ALARM_STATISTICS(X_THIRD)};
static const char *const cmp_names[] = {ALARM_COMPARISONS(X_NAME3)};
static const char *const tmd_names[] = {ALARM_TREAT_MISSING(X_NAME2)};
static const char *const low_sample_names[] = {"", "evaluate", "ignore"};

#define NAME_OF(table, v) ((size_t)(v) < KS_ARRAY_LEN(table) ? (table)[(size_t)(v)] : "")

const char *alarm_state_name(enum alarm_state s)
{
    return NAME_OF(state_names, s);
}

const char *alarm_statistic_name(enum alarm_statistic s)
{
    return NAME_OF(stat_names, s);
}

const char *alarm_statistic_sns_name(enum alarm_statistic s)
{
    return NAME_OF(stat_sns_names, s);
}

const char *alarm_comparison_name(enum alarm_comparison c)
{
    return NAME_OF(cmp_names, c);
}

const char *alarm_treat_missing_name(enum alarm_treat_missing t)
{
    return NAME_OF(tmd_names, t);
}

const char *alarm_low_sample_name(enum alarm_low_sample l)
{
    return NAME_OF(low_sample_names, l);
}

const char *alarm_type_name(enum alarm_type t)
{
    return t == ALARM_TYPE_COMPOSITE ? "CompositeAlarm" : "MetricAlarm";
}

const char *alarm_history_type_name(enum alarm_history_type t)
{
    switch (t) {
    case ALARM_HISTORY_CONFIGURATION_UPDATE:
        return "ConfigurationUpdate";
    case ALARM_HISTORY_STATE_UPDATE:
        return "StateUpdate";
    case ALARM_HISTORY_ACTION:
        return "Action";
    }
    return "";
}

/* Index of s in table (skipping the empty "unset" names), or -1. */
static int find_name(const char *const *table, size_t n, const char *s)
{
    if (!s || !*s)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i], s) == 0)
            return (int)i;
    return -1;
}

bool alarm_state_parse(const char *s, enum alarm_state *out)
{
    int i = find_name(state_names, KS_ARRAY_LEN(state_names), s);
    if (i >= 0)
        *out = (enum alarm_state)i;
    return i >= 0;
}

bool alarm_statistic_parse(const char *s, enum alarm_statistic *out)
{
    int i = find_name(stat_names, KS_ARRAY_LEN(stat_names), s);
    if (i > 0)
        *out = (enum alarm_statistic)i;
    return i > 0;
}

bool alarm_comparison_parse(const char *s, enum alarm_comparison *out)
{
    int i = find_name(cmp_names, KS_ARRAY_LEN(cmp_names), s);
    if (i >= 0)
        *out = (enum alarm_comparison)i;
    return i >= 0;
}

bool alarm_treat_missing_parse(const char *s, enum alarm_treat_missing *out)
{
    int i = find_name(tmd_names, KS_ARRAY_LEN(tmd_names), s);
    if (i >= 0)
        *out = (enum alarm_treat_missing)i;
    return i >= 0;
}

bool alarm_low_sample_parse(const char *s, enum alarm_low_sample *out)
{
    int i = find_name(low_sample_names, KS_ARRAY_LEN(low_sample_names), s);
    if (i > 0)
        *out = (enum alarm_low_sample)i;
    return i > 0;
}

/* ---- shared checks ---------------------------------------------------------------- */

enum ks_err alarm_check_text(const char *field, const char *s, size_t min, size_t max,
                             bool required, struct ks_diag *diag)
{
    if (!s) {
        if (required)
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "%s is required", field);
        return KS_OK;
    }
    size_t n = strlen(s), bad;
    if (n < min || n > max)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "%s must be %zu to %zu bytes long, not %zu", field, min, max, n);
    if (!ks_text_clean(s, n, &bad))
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "%s is not valid UTF-8 (byte %zu)", field,
                           bad);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                               "%s must not contain control characters (byte %zu)", field, i);
    return KS_OK;
}

enum ks_err alarm_check_actions(const char *field, const char *const *v, size_t n,
                                struct ks_diag *diag)
{
    if (n > ALARM_MAX_ACTIONS)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "%s has %zu entries: at most %d allowed",
                           field, n, ALARM_MAX_ACTIONS);
    if (n && !v)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "%s: list missing", field);
    for (size_t i = 0; i < n; i++) {
        char f[64];
        snprintf(f, sizeof(f), "%s entry %zu", field, i + 1);
        enum ks_err e = alarm_check_text(f, v[i], 1, ALARM_ACTION_MAX, true, diag);
        if (e)
            return e;
    }
    return KS_OK;
}

enum ks_err alarm_check_region(const char *region, const char *account, struct ks_diag *diag)
{
    const char *r = alarm_region_or_default(region), *a = alarm_account_or_default(account);
    /* They become ARN fields, so they must not contain the separator. */
    if (strchr(r, ':') || strlen(r) > 64)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "region '%.64s' is not a region name", r);
    if (strchr(a, ':') || strlen(a) > 64)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "account '%.64s' is not an account id", a);
    return KS_OK;
}

enum ks_err alarm_check_forced_state(enum alarm_state state, const char *reason,
                                     const char *reason_data, struct ks_diag *diag)
{
    if ((unsigned)state > ALARM_STATE_INSUFFICIENT_DATA)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "StateValue is not a valid state");
    enum ks_err e = alarm_check_text("StateReason", reason, 0, ALARM_REASON_MAX, true, diag);
    if (e)
        return e;
    if (reason_data) {
        size_t n = strlen(reason_data);
        if (n > ALARM_REASON_DATA_MAX)
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                               "StateReasonData is %zu bytes: at most %d allowed", n,
                               ALARM_REASON_DATA_MAX);
        if (n && !alarm_json_valid(reason_data, n))
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "StateReasonData is not valid JSON");
    }
    return KS_OK;
}

/* ---- metric alarm definition -------------------------------------------------------- */

void alarm_def_init(struct alarm_def *def)
{
    memset(def, 0, sizeof(*def));
    def->actions_enabled = true;
    def->treat_missing = ALARM_MISSING_MISSING;
    def->comparison = ALARM_CMP_GE;
}

/*
 * Parses "p<int>[.<frac>]" with 1-3 integer digits and 1-2 fraction digits
 * (CloudWatch percentiles have at most two decimals). Returns the percentile
 * in [0, 100], -1 for a syntax error, -2 when above 100.
 */
static double parse_percentile(const char *s)
{
    if (s[0] != 'p')
        return -1;
    const char *p = s + 1;
    double v = 0;
    int n = 0;
    for (; *p >= '0' && *p <= '9'; p++, n++)
        v = v * 10 + (*p - '0');
    if (n < 1 || n > 3)
        return -1;
    if (*p == '.') {
        p++;
        double scale = 0.1;
        int f = 0;
        for (; *p >= '0' && *p <= '9'; p++, f++, scale /= 10)
            v += (*p - '0') * scale;
        if (f < 1 || f > 2)
            return -1;
    }
    if (*p)
        return -1;
    return v > 100 ? -2 : v;
}

double alarm_def_percentile(const struct alarm_def *def)
{
    if (def->statistic != ALARM_STAT_NONE || !def->extended_statistic)
        return -1;
    double p = parse_percentile(def->extended_statistic);
    return p < 0 ? -1 : p / 100.0;
}

static bool is_anomaly(enum alarm_comparison c)
{
    return c == ALARM_CMP_OUTSIDE_BAND || c == ALARM_CMP_BELOW_BAND || c == ALARM_CMP_ABOVE_BAND;
}

enum ks_err alarm_def_validate(const struct alarm_def *def, struct ks_diag *diag)
{
    enum ks_err e;
    if ((e = alarm_check_text("AlarmName", def->name, 1, ALARM_NAME_MAX, true, diag)) ||
        (e = alarm_check_text("AlarmDescription", def->description, 0, ALARM_DESCRIPTION_MAX, false,
                              diag)) ||
        (e = alarm_check_text("Namespace", def->ns, 1, 255, true, diag)) ||
        (e = alarm_check_text("MetricName", def->metric_name, 1, 255, true, diag)))
        return e;
    if (def->ns[0] == ':')
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "Namespace '%s' must not start with ':'",
                           def->ns);
    if (def->n_dimensions > ALARM_MAX_DIMENSIONS)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "%zu Dimensions: at most %d allowed",
                           def->n_dimensions, ALARM_MAX_DIMENSIONS);
    if (def->n_dimensions && !def->dimensions)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "Dimensions: list missing");
    for (size_t i = 0; i < def->n_dimensions; i++) {
        const struct alarm_dimension *d = &def->dimensions[i];
        if ((e = alarm_check_text("dimension Name", d->name, 1, ALARM_DIM_NAME_MAX, true, diag)) ||
            (e = alarm_check_text("dimension Value", d->value, 1, ALARM_DIM_VALUE_MAX, true, diag)))
            return e;
        for (const char *p = d->value; *p; p++)
            if ((unsigned char)*p >= 0x80)
                return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                                   "dimension '%s' value must be ASCII", d->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(def->dimensions[j].name, d->name) == 0)
                return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "dimension '%s' appears twice",
                                   d->name);
    }

    bool has_ext = def->extended_statistic != NULL;
    if ((def->statistic == ALARM_STAT_NONE) == !has_ext)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "exactly one of Statistic and ExtendedStatistic must be set");
    if ((unsigned)def->statistic > ALARM_STAT_MAXIMUM)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "Statistic is not a valid statistic");
    if (has_ext) {
        double p = parse_percentile(def->extended_statistic);
        if (p == -2)
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                               "ExtendedStatistic '%.64s' is out of range: percentiles go from "
                               "p0 to p100",
                               def->extended_statistic);
        if (p < 0)
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                               "ExtendedStatistic '%.64s' is not supported: only percentiles "
                               "such as p90 or p99.9 are (trimmed, winsorized and other "
                               "statistics are not implemented)",
                               def->extended_statistic);
    }

    if (def->period <= 0 ||
        !(def->period == 10 || def->period == 20 || def->period == 30 || def->period % 60 == 0))
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "Period %d is invalid: use 10, 20, 30 or a multiple of 60 seconds",
                           (int)def->period);
    if (def->evaluation_periods < 1)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "EvaluationPeriods %d is invalid: must be at least 1",
                           (int)def->evaluation_periods);
    if (def->datapoints_to_alarm < 0)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "DatapointsToAlarm %d is invalid: must be at least 1",
                           (int)def->datapoints_to_alarm);
    if (def->datapoints_to_alarm > def->evaluation_periods)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "DatapointsToAlarm %d is greater than EvaluationPeriods %d",
                           (int)def->datapoints_to_alarm, (int)def->evaluation_periods);
    int64_t span = (int64_t)def->period * def->evaluation_periods;
    int64_t max_span = def->period < 3600 ? 86400 : 604800;
    if (span > max_span)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "Period x EvaluationPeriods is %lld seconds: at most %lld allowed%s",
                           (long long)span, (long long)max_span,
                           def->period < 3600 ? " for periods under one hour" : "");
    if (def->range_extra < 0 || def->range_extra > 10000)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "evaluation range extra slots %d is invalid: 0 to 10000",
                           (int)def->range_extra);

    if ((unsigned)def->comparison > ALARM_CMP_ABOVE_BAND)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "ComparisonOperator is not a valid operator");
    if (is_anomaly(def->comparison))
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "ComparisonOperator %s needs anomaly detection, which is not "
                           "supported yet: use GreaterThanThreshold, "
                           "GreaterThanOrEqualToThreshold, LessThanThreshold or "
                           "LessThanOrEqualToThreshold",
                           alarm_comparison_name(def->comparison));
    if (!isfinite(def->threshold))
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "Threshold must be a finite number");
    if ((unsigned)def->treat_missing > ALARM_MISSING_NOT_BREACHING)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "TreatMissingData must be missing, ignore, breaching or notBreaching");
    if ((unsigned)def->low_sample > ALARM_LOW_SAMPLE_IGNORE)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "EvaluateLowSampleCountPercentile must be evaluate or ignore");
    if (def->unit) {
        if (!ks_cw_unit_valid(def->unit))
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                               "Unit '%.64s' is not a CloudWatch standard unit", def->unit);
    }
    if ((e = alarm_check_actions("AlarmActions", def->alarm_actions, def->n_alarm_actions, diag)) ||
        (e = alarm_check_actions("OKActions", def->ok_actions, def->n_ok_actions, diag)) ||
        (e = alarm_check_actions("InsufficientDataActions", def->insufficient_data_actions,
                                 def->n_insufficient_data_actions, diag)))
        return e;
    return alarm_check_region(def->region, def->account, diag);
}

/* ---- copies ----------------------------------------------------------------------- */

size_t alarm_pool_need(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

const char *alarm_pool_put(struct alarm_pool *p, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    if (p->used + n > p->size)
        ALARM_BUG("string pool overflow");
    char *d = p->mem + p->used;
    memcpy(d, s, n);
    p->used += n;
    return d;
}

const char **alarm_pool_strv(struct alarm_pool *p, const char *const *v, size_t n)
{
    const char **out = ks_xcalloc(n ? n : 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = alarm_pool_put(p, v[i]);
    return out;
}

static size_t strv_need(const char *const *v, size_t n)
{
    size_t t = 0;
    for (size_t i = 0; i < n; i++)
        t += alarm_pool_need(v[i]);
    return t;
}

void alarm_def_copy_init(struct alarm_def_copy *c, const struct alarm_def *def)
{
    size_t need = alarm_pool_need(def->name) + alarm_pool_need(def->description) +
                  alarm_pool_need(def->ns) + alarm_pool_need(def->metric_name) +
                  alarm_pool_need(def->extended_statistic) + alarm_pool_need(def->unit) +
                  alarm_pool_need(def->region) + alarm_pool_need(def->account) +
                  strv_need(def->alarm_actions, def->n_alarm_actions) +
                  strv_need(def->ok_actions, def->n_ok_actions) +
                  strv_need(def->insufficient_data_actions, def->n_insufficient_data_actions);
    for (size_t i = 0; i < def->n_dimensions; i++)
        need +=
            alarm_pool_need(def->dimensions[i].name) + alarm_pool_need(def->dimensions[i].value);
    c->def = *def;
    c->pool.mem = ks_xmalloc(need ? need : 1);
    c->pool.used = 0;
    c->pool.size = need;
    struct alarm_pool *p = &c->pool;
    c->def.name = alarm_pool_put(p, def->name);
    c->def.description = alarm_pool_put(p, def->description);
    c->def.ns = alarm_pool_put(p, def->ns);
    c->def.metric_name = alarm_pool_put(p, def->metric_name);
    c->def.extended_statistic = alarm_pool_put(p, def->extended_statistic);
    c->def.unit = alarm_pool_put(p, def->unit);
    c->def.region = alarm_pool_put(p, def->region);
    c->def.account = alarm_pool_put(p, def->account);
    c->dims = ks_xcalloc(def->n_dimensions ? def->n_dimensions : 1, sizeof(*c->dims));
    for (size_t i = 0; i < def->n_dimensions; i++) {
        c->dims[i].name = alarm_pool_put(p, def->dimensions[i].name);
        c->dims[i].value = alarm_pool_put(p, def->dimensions[i].value);
    }
    c->def.dimensions = c->dims;
    c->acts[0] = alarm_pool_strv(p, def->alarm_actions, def->n_alarm_actions);
    c->acts[1] = alarm_pool_strv(p, def->ok_actions, def->n_ok_actions);
    c->acts[2] =
        alarm_pool_strv(p, def->insufficient_data_actions, def->n_insufficient_data_actions);
    c->def.alarm_actions = c->acts[0];
    c->def.ok_actions = c->acts[1];
    c->def.insufficient_data_actions = c->acts[2];
}

void alarm_def_copy_release(struct alarm_def_copy *c)
{
    free(c->pool.mem);
    free(c->dims);
    for (int i = 0; i < 3; i++)
        free(c->acts[i]);
    memset(c, 0, sizeof(*c));
}

void alarm_def_actions(const struct alarm_def *def, enum alarm_state s, const char *const **v,
                       size_t *n)
{
    switch (s) {
    case ALARM_STATE_ALARM:
        *v = def->alarm_actions;
        *n = def->n_alarm_actions;
        return;
    case ALARM_STATE_OK:
        *v = def->ok_actions;
        *n = def->n_ok_actions;
        return;
    case ALARM_STATE_INSUFFICIENT_DATA:
        *v = def->insufficient_data_actions;
        *n = def->n_insufficient_data_actions;
        return;
    }
    *v = NULL;
    *n = 0;
}

/* ---- composite definition ------------------------------------------------------------ */

void alarm_composite_def_init(struct alarm_composite_def *def)
{
    memset(def, 0, sizeof(*def));
    def->actions_enabled = true;
}

enum ks_err alarm_composite_def_validate(const struct alarm_composite_def *def,
                                         struct ks_diag *diag)
{
    enum ks_err e;
    if ((e = alarm_check_text("AlarmName", def->name, 1, ALARM_NAME_MAX, true, diag)) ||
        (e = alarm_check_text("AlarmDescription", def->description, 0, ALARM_DESCRIPTION_MAX, false,
                              diag)) ||
        (e = alarm_check_region(def->region, def->account, diag)))
        return e;
    if (!def->rule)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "AlarmRule is required");
    size_t n = strlen(def->rule);
    if (n < 1 || n > ALARM_RULE_MAX_BYTES)
        return ks_diag_set(diag, KS_E_INVALID, n ? ALARM_RULE_MAX_BYTES : SIZE_MAX,
                           "AlarmRule must be 1 to %d bytes long, not %zu", ALARM_RULE_MAX_BYTES,
                           n);
    struct alarm_rule *r = alarm_rule_parse(def->rule, n, def->region, def->account, diag);
    if (!r)
        return diag ? diag->err : KS_E_SYNTAX;
    alarm_rule_free(r);
    if ((e = alarm_check_actions("AlarmActions", def->alarm_actions, def->n_alarm_actions, diag)) ||
        (e = alarm_check_actions("OKActions", def->ok_actions, def->n_ok_actions, diag)) ||
        (e = alarm_check_actions("InsufficientDataActions", def->insufficient_data_actions,
                                 def->n_insufficient_data_actions, diag)))
        return e;
    if (def->actions_suppressor) {
        if ((e = alarm_check_text("ActionsSuppressor", def->actions_suppressor, 1,
                                  ALARM_SUPPRESSOR_MAX, true, diag)))
            return e;
        const char *s = def->actions_suppressor, *nm = s;
        size_t sl = strlen(s), nl = sl;
        if (alarm_arn_name(s, sl, def->region, def->account, &nm, &nl) < 0)
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                               "ActionsSuppressor '%.128s' is not an alarm ARN of this region "
                               "and account",
                               s);
        if (nl == strlen(def->name) && memcmp(nm, def->name, nl) == 0)
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                               "ActionsSuppressor must be another alarm, not the composite "
                               "itself");
        if (def->suppressor_wait_period < 0 || def->suppressor_extension_period < 0)
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                               "ActionsSuppressorWaitPeriod and ActionsSuppressorExtensionPeriod "
                               "must not be negative");
    }
    return KS_OK;
}

void alarm_composite_copy_init(struct alarm_composite_copy *c,
                               const struct alarm_composite_def *def)
{
    size_t need = alarm_pool_need(def->name) + alarm_pool_need(def->description) +
                  alarm_pool_need(def->rule) + alarm_pool_need(def->actions_suppressor) +
                  alarm_pool_need(def->region) + alarm_pool_need(def->account) +
                  strv_need(def->alarm_actions, def->n_alarm_actions) +
                  strv_need(def->ok_actions, def->n_ok_actions) +
                  strv_need(def->insufficient_data_actions, def->n_insufficient_data_actions);
    c->def = *def;
    c->pool.mem = ks_xmalloc(need ? need : 1);
    c->pool.used = 0;
    c->pool.size = need;
    struct alarm_pool *p = &c->pool;
    c->def.name = alarm_pool_put(p, def->name);
    c->def.description = alarm_pool_put(p, def->description);
    c->def.rule = alarm_pool_put(p, def->rule);
    c->def.actions_suppressor = alarm_pool_put(p, def->actions_suppressor);
    c->def.region = alarm_pool_put(p, def->region);
    c->def.account = alarm_pool_put(p, def->account);
    c->acts[0] = alarm_pool_strv(p, def->alarm_actions, def->n_alarm_actions);
    c->acts[1] = alarm_pool_strv(p, def->ok_actions, def->n_ok_actions);
    c->acts[2] =
        alarm_pool_strv(p, def->insufficient_data_actions, def->n_insufficient_data_actions);
    c->def.alarm_actions = c->acts[0];
    c->def.ok_actions = c->acts[1];
    c->def.insufficient_data_actions = c->acts[2];
}

void alarm_composite_copy_release(struct alarm_composite_copy *c)
{
    free(c->pool.mem);
    for (int i = 0; i < 3; i++)
        free(c->acts[i]);
    memset(c, 0, sizeof(*c));
}

void alarm_composite_def_actions(const struct alarm_composite_def *def, enum alarm_state s,
                                 const char *const **v, size_t *n)
{
    switch (s) {
    case ALARM_STATE_ALARM:
        *v = def->alarm_actions;
        *n = def->n_alarm_actions;
        return;
    case ALARM_STATE_OK:
        *v = def->ok_actions;
        *n = def->n_ok_actions;
        return;
    case ALARM_STATE_INSUFFICIENT_DATA:
        *v = def->insufficient_data_actions;
        *n = def->n_insufficient_data_actions;
        return;
    }
    *v = NULL;
    *n = 0;
}

/* ---- configuration JSON (history) ---------------------------------------------------- */

/*
 * Key order follows a captured "createdAlarm" object (spec §7): alarmName ...
 * okactions. Keys the capture did not show are written only when the alarm
 * sets them, at the place closest to their API order [I].
 */
void alarm_def_write_json(struct alarm_w *w, const struct alarm_def *def, const char *arn,
                          int64_t config_ms, enum alarm_state state, int64_t state_ms)
{
    aw_raw(w, "{\"alarmName\":");
    aw_jstr(w, def->name);
    if (def->description) {
        aw_raw(w, ",\"alarmDescription\":");
        aw_jstr(w, def->description);
    }
    aw_raw(w, ",\"alarmArn\":");
    aw_jstr(w, arn);
    aw_raw(w, ",\"alarmConfigurationUpdatedTimestamp\":");
    aw_jtime(w, config_ms);
    aw_raw(w, ",\"namespace\":");
    aw_jstr(w, def->ns);
    aw_raw(w, ",\"metricName\":");
    aw_jstr(w, def->metric_name);
    if (def->statistic != ALARM_STAT_NONE) {
        aw_raw(w, ",\"statistic\":");
        aw_jstr(w, alarm_statistic_name(def->statistic));
    } else {
        aw_raw(w, ",\"extendedStatistic\":");
        aw_jstr(w, def->extended_statistic);
    }
    aw_fmt(w, ",\"period\":%d,\"dimensions\":[", (int)def->period);
    for (size_t i = 0; i < def->n_dimensions; i++) {
        aw_raw(w, i ? ",{\"value\":" : "{\"value\":");
        aw_jstr(w, def->dimensions[i].value);
        aw_raw(w, ",\"name\":");
        aw_jstr(w, def->dimensions[i].name);
        aw_raw(w, "}");
    }
    aw_raw(w, "]");
    if (def->unit) {
        aw_raw(w, ",\"unit\":");
        aw_jstr(w, def->unit);
    }
    aw_raw(w, ",\"threshold\":");
    aw_jnum(w, def->threshold);
    aw_raw(w, ",\"comparisonOperator\":");
    aw_jstr(w, alarm_comparison_name(def->comparison));
    aw_fmt(w, ",\"evaluationPeriods\":%d", (int)def->evaluation_periods);
    if (def->datapoints_to_alarm > 0)
        aw_fmt(w, ",\"datapointsToAlarm\":%d", (int)def->datapoints_to_alarm);
    aw_raw(w, ",\"stateValue\":");
    aw_jstr(w, alarm_state_name(state));
    aw_raw(w, ",\"stateUpdatedTimestamp\":");
    aw_jtime(w, state_ms);
    aw_raw(w, def->actions_enabled ? ",\"actionsEnabled\":true" : ",\"actionsEnabled\":false");
    aw_raw(w, ",\"alarmActions\":");
    aw_jstrv(w, def->alarm_actions, def->n_alarm_actions);
    aw_raw(w, ",\"insufficientDataActions\":");
    aw_jstrv(w, def->insufficient_data_actions, def->n_insufficient_data_actions);
    /* Lower-case "okactions" as AWS writes it. */
    aw_raw(w, ",\"okactions\":");
    aw_jstrv(w, def->ok_actions, def->n_ok_actions);
    if (def->treat_missing != ALARM_MISSING_MISSING) {
        aw_raw(w, ",\"treatMissingData\":");
        aw_jstr(w, alarm_treat_missing_name(def->treat_missing));
    }
    if (def->low_sample != ALARM_LOW_SAMPLE_UNSET) {
        aw_raw(w, ",\"evaluateLowSampleCountPercentile\":");
        aw_jstr(w, alarm_low_sample_name(def->low_sample));
    }
    aw_raw(w, "}");
}

void alarm_composite_def_write_json(struct alarm_w *w, const struct alarm_composite_def *def,
                                    const char *arn, int64_t config_ms, enum alarm_state state,
                                    int64_t state_ms)
{
    aw_raw(w, "{\"alarmName\":");
    aw_jstr(w, def->name);
    if (def->description) {
        aw_raw(w, ",\"alarmDescription\":");
        aw_jstr(w, def->description);
    }
    aw_raw(w, ",\"alarmArn\":");
    aw_jstr(w, arn);
    aw_raw(w, ",\"alarmConfigurationUpdatedTimestamp\":");
    aw_jtime(w, config_ms);
    aw_raw(w, ",\"alarmRule\":");
    aw_jstr(w, def->rule);
    aw_raw(w, ",\"stateValue\":");
    aw_jstr(w, alarm_state_name(state));
    aw_raw(w, ",\"stateUpdatedTimestamp\":");
    aw_jtime(w, state_ms);
    aw_raw(w, def->actions_enabled ? ",\"actionsEnabled\":true" : ",\"actionsEnabled\":false");
    aw_raw(w, ",\"alarmActions\":");
    aw_jstrv(w, def->alarm_actions, def->n_alarm_actions);
    aw_raw(w, ",\"insufficientDataActions\":");
    aw_jstrv(w, def->insufficient_data_actions, def->n_insufficient_data_actions);
    aw_raw(w, ",\"okactions\":");
    aw_jstrv(w, def->ok_actions, def->n_ok_actions);
    if (def->actions_suppressor) {
        aw_raw(w, ",\"actionsSuppressor\":");
        aw_jstr(w, def->actions_suppressor);
        aw_fmt(w, ",\"actionsSuppressorWaitPeriod\":%d,\"actionsSuppressorExtensionPeriod\":%d",
               (int)def->suppressor_wait_period, (int)def->suppressor_extension_period);
    }
    aw_raw(w, "}");
}

/* ---- struct alarm_change ------------------------------------------------------------ */

void alarm_change_init(struct alarm_change *c)
{
    memset(c, 0, sizeof(*c));
    ks_buf_init(&c->reason, ALARM_TEXT_CAP);
    ks_buf_init(&c->reason_data, ALARM_TEXT_CAP);
}

static void change_free_actions(struct alarm_change *c)
{
    for (size_t i = 0; i < c->n_actions; i++)
        free(c->actions[i]);
    free(c->actions);
    c->actions = NULL;
    c->n_actions = 0;
}

void alarm_change_release(struct alarm_change *c)
{
    ks_buf_release(&c->reason);
    ks_buf_release(&c->reason_data);
    change_free_actions(c);
}

void alarm_change_fill(struct alarm_change *out, bool changed, enum alarm_state old_state,
                       enum alarm_state new_state, int64_t time_ms, int64_t transition_ms,
                       const char *reason, const char *reason_data, const char *const *actions,
                       size_t n_actions)
{
    if (!out)
        return;
    out->state_changed = changed;
    out->old_state = old_state;
    out->new_state = new_state;
    out->time_ms = time_ms;
    out->transition_ms = transition_ms;
    ks_buf_reset(&out->reason);
    ks_buf_reset(&out->reason_data);
    /* Both texts are bounded by validation (1023 / 4000 bytes) far below the cap. */
    if (ks_buf_add(&out->reason, reason, strlen(reason)) ||
        ks_buf_add(&out->reason_data, reason_data ? reason_data : "",
                   reason_data ? strlen(reason_data) : 0))
        ks_buf_reset(&out->reason);
    change_free_actions(out);
    if (n_actions) {
        out->actions = ks_xcalloc(n_actions, sizeof(*out->actions));
        for (size_t i = 0; i < n_actions; i++)
            out->actions[i] = ks_xstrdup(actions[i]);
        out->n_actions = n_actions;
    }
}
