/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CloudWatch API subset over the query protocol: a form body with
 * Action= and Version=2010-08-01, answered in the XML shapes of the AWS API
 * reference (<ActionResponse><ActionResult>...). Lists in requests are
 * flattened as Name.member.N (1-based). Errors are <ErrorResponse> with
 * status 400 (404 for ResourceNotFound), as botocore parses them.
 */
#include "http/http_int.h"

#include <math.h>
#include <stdarg.h>

#define CW_NS "http://monitoring.amazonaws.com/doc/2010-08-01/"

void http_cw_error(struct http_req *r, unsigned status, const char *code, const char *msg)
{
    ks_buf_reset(&r->out);
    r->status = status;
    r->content_type = "text/xml";
    http_out(r, "<ErrorResponse xmlns=\"" CW_NS "\"><Error><Type>Sender</Type><Code>");
    http_out_xml(r, code);
    http_out(r, "</Code><Message>");
    http_out_xml(r, msg);
    http_out(r, "</Message></Error><RequestId>%s</RequestId></ErrorResponse>", r->request_id);
}

static void begin(struct http_req *r, const char *action)
{
    r->content_type = "text/xml";
    http_out(r, "<%sResponse xmlns=\"" CW_NS "\"><%sResult>", action, action);
}

static void end(struct http_req *r, const char *action)
{
    http_out(r,
             "</%sResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%s"
             "Response>",
             action, r->request_id, action);
}

static void end_empty(struct http_req *r, const char *action)
{
    r->content_type = "text/xml";
    http_out(r,
             "<%sResponse xmlns=\"" CW_NS "\"><ResponseMetadata><RequestId>%s</RequestId>"
             "</ResponseMetadata></%sResponse>",
             action, r->request_id, action);
}

static void tag(struct http_req *r, const char *name, const char *v)
{
    if (!v)
        return;
    http_out(r, "<%s>", name);
    http_out_xml(r, v);
    http_out(r, "</%s>", name);
}

static void tag_time(struct http_req *r, const char *name, int64_t ms)
{
    http_out(r, "<%s>", name);
    http_out_iso(r, ms);
    http_out(r, "</%s>", name);
}

static void tag_double(struct http_req *r, const char *name, double v)
{
    http_out(r, "<%s>%.17g</%s>", name, v, name);
}

static void members(struct http_req *r, const char *name, const char *const *v, size_t n)
{
    http_out(r, "<%s>", name);
    for (size_t i = 0; i < n; i++)
        tag(r, "member", v[i]);
    http_out(r, "</%s>", name);
}

/* Name.member.N values, N from 1 (borrowed from the form); returns count. */
static size_t list(const struct http_form *f, const char *name, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 1; n < max; i++) {
        char key[128];
        snprintf(key, sizeof(key), "%s.member.%zu", name, i);
        const char *v = http_form_get(f, key);
        if (!v)
            break;
        out[n++] = v;
    }
    return n;
}

static size_t dims_of(const struct http_form *f, struct alarm_dimension *d, size_t max)
{
    size_t n = 0;
    for (size_t i = 1; n < max; i++) {
        char kn[64], kv[64];
        snprintf(kn, sizeof(kn), "Dimensions.member.%zu.Name", i);
        snprintf(kv, sizeof(kv), "Dimensions.member.%zu.Value", i);
        const char *name = http_form_get(f, kn), *value = http_form_get(f, kv);
        if (!name || !value)
            break;
        d[n++] = (struct alarm_dimension){name, value};
    }
    return n;
}

static bool want(struct http_req *r, const struct http_form *f, const char *name, const char **out)
{
    *out = http_form_get(f, name);
    if (*out)
        return true;
    char msg[128];
    snprintf(msg, sizeof(msg), "The parameter %s is required.", name);
    http_cw_error(r, 400, "MissingParameter", msg);
    return false;
}

static bool number(struct http_req *r, const struct http_form *f, const char *name, double *out,
                   bool required)
{
    const char *s = http_form_get(f, name);
    if (!s) {
        if (required) {
            char msg[128];
            snprintf(msg, sizeof(msg), "The parameter %s is required.", name);
            http_cw_error(r, 400, "MissingParameter", msg);
        }
        return !required;
    }
    char *end;
    *out = strtod(s, &end);
    if (*end || !*s || *out != *out) {
        char msg[160];
        snprintf(msg, sizeof(msg), "The parameter %s must be a number.", name);
        http_cw_error(r, 400, "InvalidParameterValue", msg);
        return false;
    }
    return true;
}

/* ---- alarms ------------------------------------------------------------------ */

static void metric_alarm(struct http_req *r, const struct alarm *a)
{
    const struct alarm_def *d = alarm_get_def(a);
    http_out(r, "<member>");
    tag(r, "AlarmName", d->name);
    tag(r, "AlarmArn", alarm_arn(a));
    tag(r, "AlarmDescription", d->description);
    tag_time(r, "AlarmConfigurationUpdatedTimestamp", alarm_config_updated_ms(a));
    http_out(r, "<ActionsEnabled>%s</ActionsEnabled>", d->actions_enabled ? "true" : "false");
    members(r, "OKActions", d->ok_actions, d->n_ok_actions);
    members(r, "AlarmActions", d->alarm_actions, d->n_alarm_actions);
    members(r, "InsufficientDataActions", d->insufficient_data_actions,
            d->n_insufficient_data_actions);
    tag(r, "StateValue", alarm_state_name(alarm_get_state(a)));
    tag(r, "StateReason", alarm_state_reason(a));
    if (*alarm_state_reason_data(a))
        tag(r, "StateReasonData", alarm_state_reason_data(a));
    tag_time(r, "StateUpdatedTimestamp", alarm_state_updated_ms(a));
    tag(r, "MetricName", d->metric_name);
    tag(r, "Namespace", d->ns);
    if (d->statistic != ALARM_STAT_NONE)
        tag(r, "Statistic", alarm_statistic_name(d->statistic));
    tag(r, "ExtendedStatistic", d->extended_statistic);
    http_out(r, "<Dimensions>");
    for (size_t i = 0; i < d->n_dimensions; i++) {
        http_out(r, "<member>");
        tag(r, "Name", d->dimensions[i].name);
        tag(r, "Value", d->dimensions[i].value);
        http_out(r, "</member>");
    }
    http_out(r, "</Dimensions><Period>%d</Period>", d->period);
    tag(r, "Unit", d->unit);
    http_out(r, "<EvaluationPeriods>%d</EvaluationPeriods>", d->evaluation_periods);
    if (d->datapoints_to_alarm)
        http_out(r, "<DatapointsToAlarm>%d</DatapointsToAlarm>", d->datapoints_to_alarm);
    tag_double(r, "Threshold", d->threshold);
    tag(r, "ComparisonOperator", alarm_comparison_name(d->comparison));
    tag(r, "TreatMissingData", alarm_treat_missing_name(d->treat_missing));
    http_out(r, "</member>");
}

static void composite_alarm(struct http_req *r, const struct alarm_composite *c)
{
    const struct alarm_composite_def *d = alarm_composite_get_def(c);
    http_out(r, "<member>");
    tag(r, "AlarmName", d->name);
    tag(r, "AlarmArn", alarm_composite_arn(c));
    tag(r, "AlarmDescription", d->description);
    tag(r, "AlarmRule", d->rule);
    http_out(r, "<ActionsEnabled>%s</ActionsEnabled>", d->actions_enabled ? "true" : "false");
    members(r, "OKActions", d->ok_actions, d->n_ok_actions);
    members(r, "AlarmActions", d->alarm_actions, d->n_alarm_actions);
    members(r, "InsufficientDataActions", d->insufficient_data_actions,
            d->n_insufficient_data_actions);
    tag(r, "StateValue", alarm_state_name(alarm_composite_state(c)));
    tag(r, "StateReason", alarm_composite_state_reason(c));
    if (*alarm_composite_state_reason_data(c))
        tag(r, "StateReasonData", alarm_composite_state_reason_data(c));
    tag_time(r, "StateUpdatedTimestamp", alarm_composite_state_updated_ms(c));
    http_out(r, "</member>");
}

static bool name_selected(const char *name, const char *const *names, size_t n, const char *prefix)
{
    if (prefix && strncmp(name, prefix, strlen(prefix)))
        return false;
    if (!n)
        return true;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], name))
            return true;
    return false;
}

static void describe_alarms(struct http_req *r, const struct http_form *f)
{
    const char *names[100];
    size_t nn = list(f, "AlarmNames", names, KS_ARRAY_LEN(names));
    const char *types[2];
    size_t nt = list(f, "AlarmTypes", types, 2);
    const char *prefix = http_form_get(f, "AlarmNamePrefix");
    const char *state = http_form_get(f, "StateValue");
    bool metric = !nt, comp = false;
    for (size_t i = 0; i < nt; i++) {
        metric |= !strcmp(types[i], "MetricAlarm");
        comp |= !strcmp(types[i], "CompositeAlarm");
    }
    struct serve_engine *e = r->srv->engine;
    begin(r, "DescribeAlarms");
    serve_engine_lock(e);
    http_out(r, "<MetricAlarms>");
    for (size_t i = 0; metric && i < serve_engine_alarm_count(e); i++) {
        const struct alarm *a = serve_engine_alarm(e, i);
        if (name_selected(alarm_get_def(a)->name, names, nn, prefix) &&
            (!state || !strcmp(state, alarm_state_name(alarm_get_state(a)))))
            metric_alarm(r, a);
    }
    http_out(r, "</MetricAlarms><CompositeAlarms>");
    for (size_t i = 0; comp && i < serve_engine_composite_count(e); i++) {
        const struct alarm_composite *c = serve_engine_composite(e, i);
        if (name_selected(alarm_composite_get_def(c)->name, names, nn, prefix) &&
            (!state || !strcmp(state, alarm_state_name(alarm_composite_state(c)))))
            composite_alarm(r, c);
    }
    http_out(r, "</CompositeAlarms>");
    serve_engine_unlock(e);
    end(r, "DescribeAlarms");
}

static void history_items(struct http_req *r, const struct alarm_history *h, const char *type,
                          int64_t from, int64_t to, size_t *left)
{
    /* newest first, as AWS's default ScanBy=TimestampDescending */
    for (size_t i = alarm_history_count(h); i-- > 0 && *left > 0;) {
        const struct alarm_history_item *it = alarm_history_at(h, i);
        if ((type && strcmp(type, alarm_history_type_name(it->type))) || it->timestamp_ms < from ||
            it->timestamp_ms >= to)
            continue;
        http_out(r, "<member>");
        tag(r, "AlarmName", it->alarm_name);
        tag(r, "AlarmType", alarm_type_name(it->alarm_type));
        tag_time(r, "Timestamp", it->timestamp_ms);
        tag(r, "HistoryItemType", alarm_history_type_name(it->type));
        tag(r, "HistorySummary", it->summary);
        tag(r, "HistoryData", it->data);
        http_out(r, "</member>");
        (*left)--;
    }
}

static void describe_history(struct http_req *r, const struct http_form *f)
{
    const char *name = http_form_get(f, "AlarmName");
    const char *type = http_form_get(f, "HistoryItemType");
    int64_t from = INT64_MIN, to = INT64_MAX;
    if ((http_form_get(f, "StartDate") && !http_parse_time(http_form_get(f, "StartDate"), &from)) ||
        (http_form_get(f, "EndDate") && !http_parse_time(http_form_get(f, "EndDate"), &to))) {
        http_cw_error(r, 400, "InvalidParameterValue", "StartDate and EndDate must be ISO 8601");
        return;
    }
    double max = 100;
    if (!number(r, f, "MaxRecords", &max, false))
        return;
    size_t left = max >= 1 && max <= 100 ? (size_t)max : 100;
    struct serve_engine *e = r->srv->engine;
    begin(r, "DescribeAlarmHistory");
    http_out(r, "<AlarmHistoryItems>");
    serve_engine_lock(e);
    for (size_t i = 0; i < serve_engine_alarm_count(e); i++) {
        const struct alarm *a = serve_engine_alarm(e, i);
        if (!name || !strcmp(name, alarm_get_def(a)->name))
            history_items(r, alarm_get_history(a), type, from, to, &left);
    }
    for (size_t i = 0; i < serve_engine_composite_count(e); i++) {
        const struct alarm_composite *c = serve_engine_composite(e, i);
        if (!name || !strcmp(name, alarm_composite_get_def(c)->name))
            history_items(r, alarm_composite_history(c), type, from, to, &left);
    }
    serve_engine_unlock(e);
    http_out(r, "</AlarmHistoryItems>");
    end(r, "DescribeAlarmHistory");
}

static void set_state(struct http_req *r, const struct http_form *f)
{
    const char *name, *value, *reason;
    if (!want(r, f, "AlarmName", &name) || !want(r, f, "StateValue", &value) ||
        !want(r, f, "StateReason", &reason))
        return;
    enum alarm_state s;
    if (!alarm_state_parse(value, &s)) {
        http_cw_error(r, 400, "InvalidParameterValue",
                      "StateValue must be OK, ALARM or INSUFFICIENT_DATA");
        return;
    }
    struct ks_diag d;
    ks_diag_clear(&d);
    enum ks_err err = serve_engine_set_alarm_state(
        r->srv->engine, name, s, reason, http_form_get(f, "StateReasonData"), r->now_ms, &d);
    if (err == KS_E_NOTFOUND)
        http_cw_error(r, 404, "ResourceNotFound", d.msg);
    else if (err)
        http_cw_error(r, 400, "InvalidFormat", d.msg);
    else
        end_empty(r, "SetAlarmState");
}

static void put_alarm(struct http_req *r, const struct http_form *f)
{
    struct alarm_def def;
    alarm_def_init(&def);
    struct alarm_dimension dims[ALARM_MAX_DIMENSIONS];
    const char *aa[ALARM_MAX_ACTIONS + 1], *oa[ALARM_MAX_ACTIONS + 1], *ia[ALARM_MAX_ACTIONS + 1];
    double period = 0, evals = 0, m = 0, thr = 0;
    const char *cmp, *stat = http_form_get(f, "Statistic");
    if (!want(r, f, "AlarmName", &def.name) || !want(r, f, "ComparisonOperator", &cmp) ||
        !number(r, f, "EvaluationPeriods", &evals, true) ||
        !number(r, f, "Period", &period, true) || !number(r, f, "Threshold", &thr, true) ||
        !number(r, f, "DatapointsToAlarm", &m, false))
        return;
    def.ns = http_form_get(f, "Namespace");
    def.metric_name = http_form_get(f, "MetricName");
    def.description = http_form_get(f, "AlarmDescription");
    def.unit = http_form_get(f, "Unit");
    def.extended_statistic = http_form_get(f, "ExtendedStatistic");
    def.period = period >= 1 && period <= 86400 * 7 ? (int32_t)period : 0;
    def.evaluation_periods = evals >= 1 && evals <= 100000 ? (int32_t)evals : 0;
    def.datapoints_to_alarm = m >= 1 && m <= 100000 ? (int32_t)m : 0;
    def.threshold = thr;
    def.dimensions = dims;
    def.n_dimensions = dims_of(f, dims, ALARM_MAX_DIMENSIONS);
    def.alarm_actions = aa;
    def.n_alarm_actions = list(f, "AlarmActions", aa, KS_ARRAY_LEN(aa));
    def.ok_actions = oa;
    def.n_ok_actions = list(f, "OKActions", oa, KS_ARRAY_LEN(oa));
    def.insufficient_data_actions = ia;
    def.n_insufficient_data_actions = list(f, "InsufficientDataActions", ia, KS_ARRAY_LEN(ia));
    const char *ae = http_form_get(f, "ActionsEnabled");
    if (ae)
        def.actions_enabled = !strcmp(ae, "true");
    const char *tmd = http_form_get(f, "TreatMissingData");
    if ((stat && !alarm_statistic_parse(stat, &def.statistic)) ||
        !alarm_comparison_parse(cmp, &def.comparison) ||
        (tmd && !alarm_treat_missing_parse(tmd, &def.treat_missing)) || !def.ns ||
        !def.metric_name) {
        http_cw_error(r, 400, "InvalidParameterValue",
                      "Namespace, MetricName, a known Statistic, ComparisonOperator and "
                      "TreatMissingData are required (metric math is not supported yet)");
        return;
    }
    struct ks_diag d;
    ks_diag_clear(&d);
    if (serve_engine_put_alarm(r->srv->engine, &def, r->now_ms, &d) != KS_OK) {
        http_cw_error(r, 400, "InvalidParameterValue", d.msg);
        return;
    }
    end_empty(r, "PutMetricAlarm");
}

static void delete_alarms(struct http_req *r, const struct http_form *f)
{
    const char *names[100];
    size_t n = list(f, "AlarmNames", names, KS_ARRAY_LEN(names));
    for (size_t i = 0; i < n; i++) {
        if (!serve_engine_delete_alarm(r->srv->engine, names[i])) {
            char msg[400];
            snprintf(msg, sizeof(msg), "%.255s does not exist", names[i]);
            http_cw_error(r, 404, "ResourceNotFound", msg);
            return;
        }
    }
    end_empty(r, "DeleteAlarms");
}

/* ---- metrics ----------------------------------------------------------------- */

static bool dims_match(const struct metric_dim *have, size_t nh,
                       const struct alarm_dimension *want_, size_t nw, bool exact)
{
    if (exact && nh != nw)
        return false;
    for (size_t i = 0; i < nw; i++) {
        bool found = false;
        for (size_t k = 0; k < nh && !found; k++)
            found = !strcmp(have[k].name, want_[i].name) &&
                    (!want_[i].value || !strcmp(have[k].value, want_[i].value));
        if (!found)
            return false;
    }
    return true;
}

static void list_metrics(struct http_req *r, const struct http_form *f)
{
    const char *ns = http_form_get(f, "Namespace"), *mn = http_form_get(f, "MetricName");
    struct alarm_dimension want_[ALARM_MAX_DIMENSIONS];
    size_t nw = 0;
    for (size_t i = 1; nw < ALARM_MAX_DIMENSIONS; i++) {
        char kn[64], kv[64];
        snprintf(kn, sizeof(kn), "Dimensions.member.%zu.Name", i);
        snprintf(kv, sizeof(kv), "Dimensions.member.%zu.Value", i);
        if (!http_form_get(f, kn))
            break;
        want_[nw++] = (struct alarm_dimension){http_form_get(f, kn), http_form_get(f, kv)};
    }
    struct serve_engine *e = r->srv->engine;
    begin(r, "ListMetrics");
    http_out(r, "<Metrics>");
    serve_engine_lock(e);
    const struct metric_store *st = serve_engine_store(e);
    for (size_t i = 0; i < metric_store_series_count(st); i++) {
        const char *sns, *name, *unit;
        const struct metric_dim *dims;
        size_t nd;
        metric_store_describe(st, i, &sns, &name, &dims, &nd, &unit);
        if ((ns && strcmp(ns, sns)) || (mn && strcmp(mn, name)) ||
            !dims_match(dims, nd, want_, nw, false))
            continue;
        http_out(r, "<member>");
        tag(r, "Namespace", sns);
        tag(r, "MetricName", name);
        http_out(r, "<Dimensions>");
        for (size_t k = 0; k < nd; k++) {
            http_out(r, "<member>");
            tag(r, "Name", dims[k].name);
            tag(r, "Value", dims[k].value);
            http_out(r, "</member>");
        }
        http_out(r, "</Dimensions></member>");
    }
    serve_engine_unlock(e);
    http_out(r, "</Metrics>");
    end(r, "ListMetrics");
}

#define CW_MAX_DATAPOINTS 1440 /* as AWS, per GetMetricStatistics call */

static void get_statistics(struct http_req *r, const struct http_form *f)
{
    const char *ns, *mn, *s0, *s1;
    double period;
    if (!want(r, f, "Namespace", &ns) || !want(r, f, "MetricName", &mn) ||
        !want(r, f, "StartTime", &s0) || !want(r, f, "EndTime", &s1) ||
        !number(r, f, "Period", &period, true))
        return;
    int64_t start, endt;
    if (!http_parse_time(s0, &start) || !http_parse_time(s1, &endt) || endt <= start) {
        http_cw_error(r, 400, "InvalidParameterValue",
                      "StartTime and EndTime must be ISO 8601 times, StartTime first");
        return;
    }
    int64_t p = (int64_t)period * 1000;
    if (p < 1000 || (period >= 60 && (int64_t)period % 60) ||
        (endt - start) / p > CW_MAX_DATAPOINTS) {
        http_cw_error(r, 400, "InvalidParameterCombination",
                      "Period must be a positive multiple of 60 (or 1, 5, 10, 30) and the range at "
                      "most 1440 datapoints");
        return;
    }
    const char *stats[5], *ext[10];
    size_t ns_ = list(f, "Statistics", stats, 5), ne = list(f, "ExtendedStatistics", ext, 10);
    if (!ns_ && !ne) {
        http_cw_error(r, 400, "MissingParameter", "Statistics or ExtendedStatistics is required");
        return;
    }
    struct alarm_dimension ad[ALARM_MAX_DIMENSIONS];
    size_t nd = dims_of(f, ad, ALARM_MAX_DIMENSIONS);
    struct metric_dim md[ALARM_MAX_DIMENSIONS];
    for (size_t i = 0; i < nd; i++)
        md[i] = (struct metric_dim){ad[i].name, ad[i].value};
    const char *unit = http_form_get(f, "Unit");
    struct serve_engine *e = r->srv->engine;
    begin(r, "GetMetricStatistics");
    tag(r, "Label", mn);
    http_out(r, "<Datapoints>");
    serve_engine_lock(e);
    const struct metric_store *st = serve_engine_store(e);
    long s = metric_store_find(st, ns, mn, md, nd, unit);
    const char *sunit = "None";
    if (s >= 0) {
        const char *a, *b;
        const struct metric_dim *dd;
        size_t n;
        metric_store_describe(st, (size_t)s, &a, &b, &dd, &n, &sunit);
    }
    start -= start % p; /* AWS aligns the first period to the period */
    for (int64_t t = start; s >= 0 && t < endt; t += p) {
        struct metric_stats ms;
        if (!metric_store_stats(st, (size_t)s, t, t + p, &ms))
            continue;
        http_out(r, "<member>");
        tag_time(r, "Timestamp", t);
        for (size_t i = 0; i < ns_; i++) {
            if (!strcmp(stats[i], "Sum"))
                tag_double(r, "Sum", ms.sum);
            else if (!strcmp(stats[i], "SampleCount"))
                tag_double(r, "SampleCount", ms.sample_count);
            else if (!strcmp(stats[i], "Average"))
                tag_double(r, "Average", ms.sum / ms.sample_count);
            else if (!strcmp(stats[i], "Minimum"))
                tag_double(r, "Minimum", ms.minimum);
            else if (!strcmp(stats[i], "Maximum"))
                tag_double(r, "Maximum", ms.maximum);
        }
        if (ne) {
            http_out(r, "<ExtendedStatistics>");
            for (size_t i = 0; i < ne; i++) {
                double v;
                if (ext[i][0] == 'p' && metric_store_percentile(st, (size_t)s, t, t + p,
                                                                strtod(ext[i] + 1, NULL), &v)) {
                    http_out(r, "<entry><key>");
                    http_out_xml(r, ext[i]);
                    http_out(r, "</key><value>%.17g</value></entry>", v);
                }
            }
            http_out(r, "</ExtendedStatistics>");
        }
        tag(r, "Unit", sunit && *sunit ? sunit : "None");
        http_out(r, "</member>");
    }
    serve_engine_unlock(e);
    http_out(r, "</Datapoints>");
    end(r, "GetMetricStatistics");
}

/* ---- PutMetricData ------------------------------------------------------------- */

#define CW_PUT_MAX_DATA   1000 /* MetricData members per call, as AWS */
#define CW_PUT_MAX_VALUES 150  /* Values per member, as AWS */

/* "Prefix.Name" from the form, or NULL. */
static const char *getf(const struct http_form *f, const char *prefix, const char *name)
{
    char key[160];
    snprintf(key, sizeof(key), "%s.%s", prefix, name);
    return http_form_get(f, key);
}

/* Parses a double the way AWS validates metric values: finite and within
 * the range CloudWatch stores (magnitudes 2^-260 .. 2^360, or zero). */
static bool metric_value(struct http_req *r, const char *param, const char *s, double *out)
{
    char *end;
    *out = s ? strtod(s, &end) : 0;
    double m = fabs(*out);
    if (!s || !*s || *end || !isfinite(*out) || (m != 0 && (m < 0x1p-260 || m > 0x1p360))) {
        char msg[300];
        snprintf(msg, sizeof(msg), "The value %.100s for parameter %s is invalid.", s ? s : "",
                 param);
        http_cw_error(r, 400, "InvalidParameterValue", msg);
        return false;
    }
    return true;
}

struct put_datum {
    struct metric_dim dims[ALARM_MAX_DIMENSIONS];
    double values[CW_PUT_MAX_VALUES], counts[CW_PUT_MAX_VALUES];
};

static void put_metric_data(struct http_req *r, const struct http_form *f)
{
    const char *ns;
    if (!want(r, f, "Namespace", &ns))
        return;
    char msg[400];
    if (!*ns || strlen(ns) > 255 || !strncmp(ns, "AWS/", 4) || ns[0] == ':') {
        snprintf(msg, sizeof(msg), "The value %.255s for parameter Namespace is invalid.", ns);
        http_cw_error(r, 400, "InvalidParameterValue", msg);
        return;
    }
    struct serve_metric_datum *data = ks_xcalloc(CW_PUT_MAX_DATA, sizeof(*data));
    struct put_datum *store = ks_xcalloc(CW_PUT_MAX_DATA, sizeof(*store));
    size_t n = 0;
    for (size_t i = 1;; i++) {
        char pre[64];
        snprintf(pre, sizeof(pre), "MetricData.member.%zu", i);
        const char *name = getf(f, pre, "MetricName");
        bool any = name || getf(f, pre, "Value") || getf(f, pre, "Values.member.1") ||
                   getf(f, pre, "StatisticValues.Sum");
        if (!any)
            break;
        if (n == CW_PUT_MAX_DATA) {
            http_cw_error(r, 400, "InvalidParameterValue",
                          "The collection MetricData must not have a size greater than 1000.");
            goto out;
        }
        struct serve_metric_datum *d = &data[n];
        struct put_datum *pd = &store[n];
        n++;
        if (!name || !*name) {
            snprintf(msg, sizeof(msg), "The parameter %s.MetricName is required.", pre);
            http_cw_error(r, 400, "MissingParameter", msg);
            goto out;
        }
        d->metric_name = name;
        d->unit = getf(f, pre, "Unit");
        if (d->unit && !ks_cw_unit_valid(d->unit)) {
            snprintf(msg, sizeof(msg), "The value %.100s for parameter %s.Unit is invalid.",
                     d->unit, pre);
            http_cw_error(r, 400, "InvalidParameterValue", msg);
            goto out;
        }
        if (d->unit && !strcmp(d->unit, "None"))
            d->unit = NULL; /* the store's key spells no unit "None" too */
        for (size_t k = 1;; k++) {
            char kn[96], kv[96];
            snprintf(kn, sizeof(kn), "Dimensions.member.%zu.Name", k);
            snprintf(kv, sizeof(kv), "Dimensions.member.%zu.Value", k);
            const char *dn = getf(f, pre, kn), *dv = getf(f, pre, kv);
            if (!dn && !dv)
                break;
            if (d->ndims == ALARM_MAX_DIMENSIONS) {
                snprintf(msg, sizeof(msg),
                         "The collection %s.Dimensions must not have a size greater than %d.", pre,
                         ALARM_MAX_DIMENSIONS);
                http_cw_error(r, 400, "InvalidParameterValue", msg);
                goto out;
            }
            if (!dn || !dv || !*dn || !*dv) {
                snprintf(msg, sizeof(msg), "The parameter %s.Dimensions.member.%zu.%s is required.",
                         pre, k, dn && *dn ? "Value" : "Name");
                http_cw_error(r, 400, "MissingParameter", msg);
                goto out;
            }
            pd->dims[d->ndims++] = (struct metric_dim){dn, dv};
        }
        d->dims = pd->dims;
        const char *ts = getf(f, pre, "Timestamp");
        d->time_ms = r->now_ms;
        if (ts && !http_parse_time(ts, &d->time_ms)) {
            snprintf(msg, sizeof(msg), "The value %.100s for parameter %s.Timestamp is invalid.",
                     ts, pre);
            http_cw_error(r, 400, "InvalidParameterValue", msg);
            goto out;
        }
        const char *v = getf(f, pre, "Value");
        bool has_values = getf(f, pre, "Values.member.1") != NULL;
        const char *sv[4] = {
            getf(f, pre, "StatisticValues.SampleCount"), getf(f, pre, "StatisticValues.Sum"),
            getf(f, pre, "StatisticValues.Minimum"), getf(f, pre, "StatisticValues.Maximum")};
        bool has_stats = sv[0] || sv[1] || sv[2] || sv[3];
        if ((v != NULL) + has_values + has_stats > 1) {
            snprintf(msg, sizeof(msg),
                     "The parameters %s.Value, %s.Values and %s.StatisticValues are mutually "
                     "exclusive and you have specified more than one.",
                     pre, pre, pre);
            http_cw_error(r, 400, "InvalidParameterCombination", msg);
            goto out;
        }
        char param[160];
        if (has_stats) {
            static const char *const sn[4] = {"SampleCount", "Sum", "Minimum", "Maximum"};
            double *dst[4] = {&d->sample_count, &d->sum, &d->minimum, &d->maximum};
            for (size_t k = 0; k < 4; k++) {
                snprintf(param, sizeof(param), "%s.StatisticValues.%s", pre, sn[k]);
                if (!sv[k]) {
                    snprintf(msg, sizeof(msg), "The parameter %s is required.", param);
                    http_cw_error(r, 400, "MissingParameter", msg);
                    goto out;
                }
                if (!metric_value(r, param, sv[k], dst[k]))
                    goto out;
            }
            d->has_stats = true;
        } else if (has_values) {
            for (size_t k = 1;; k++) {
                char key[64];
                snprintf(key, sizeof(key), "Values.member.%zu", k);
                const char *s = getf(f, pre, key);
                if (!s)
                    break;
                if (d->nvalues == CW_PUT_MAX_VALUES) {
                    snprintf(msg, sizeof(msg),
                             "The collection %s.Values must not have a size greater than 150.",
                             pre);
                    http_cw_error(r, 400, "InvalidParameterValue", msg);
                    goto out;
                }
                snprintf(param, sizeof(param), "%s.%s", pre, key);
                if (!metric_value(r, param, s, &pd->values[d->nvalues]))
                    goto out;
                d->nvalues++;
            }
            size_t nc = 0;
            for (size_t k = 1; nc <= CW_PUT_MAX_VALUES; k++) {
                char key[64];
                snprintf(key, sizeof(key), "Counts.member.%zu", k);
                const char *s = getf(f, pre, key);
                if (!s)
                    break;
                snprintf(param, sizeof(param), "%s.%s", pre, key);
                if (nc < CW_PUT_MAX_VALUES && !metric_value(r, param, s, &pd->counts[nc]))
                    goto out;
                nc++;
            }
            if (nc && nc != d->nvalues) {
                snprintf(msg, sizeof(msg),
                         "The parameters %s.Values and %s.Counts must be of the same size.", pre,
                         pre);
                http_cw_error(r, 400, "InvalidParameterValue", msg);
                goto out;
            }
            d->values = pd->values;
            d->counts = nc ? pd->counts : NULL;
        } else if (v) {
            snprintf(param, sizeof(param), "%s.Value", pre);
            if (!metric_value(r, param, v, &pd->values[0]))
                goto out;
            d->values = pd->values;
            d->nvalues = 1;
        } else {
            snprintf(msg, sizeof(msg),
                     "One of the parameters %s.Value, %s.Values or %s.StatisticValues is "
                     "required.",
                     pre, pre, pre);
            http_cw_error(r, 400, "MissingParameter", msg);
            goto out;
        }
    }
    if (!n) {
        http_cw_error(r, 400, "MissingParameter", "The parameter MetricData is required.");
        goto out;
    }
    struct ks_diag d;
    ks_diag_clear(&d);
    if (serve_engine_put_metric_data(r->srv->engine, ns, data, n, r->now_ms, &d) != KS_OK) {
        http_cw_error(r, 400, "InvalidParameterValue", d.msg);
        goto out;
    }
    end_empty(r, "PutMetricData");
out:
    free(data);
    free(store);
}

/* ---- GetMetricData ------------------------------------------------------------- */

#define CW_GMD_MAX_QUERIES    500    /* MetricDataQueries per call, as AWS */
#define CW_GMD_MAX_DATAPOINTS 100800 /* default MaxDatapoints, as AWS */
#define CW_EXPR_MAX_DEPTH     32     /* nesting of parentheses and references */

struct gmd_query {
    const char *id, *label, *expr, *ns, *metric, *stat, *unit;
    struct alarm_dimension dims[ALARM_MAX_DIMENSIONS];
    size_t ndims;
    int64_t period_ms;
    bool return_data;
    /* results: one slot per period from start; NaN = no datapoint */
    double *v;
    size_t nv;
    int state;       /* 0 not evaluated, 1 evaluating, 2 done */
    char error[320]; /* a per-query error (StatusCode InternalError) */
};

struct gmd {
    struct http_req *r;
    struct gmd_query *q;
    size_t n;
    int64_t start, end;
    const struct metric_store *st;
    char error[320]; /* a request error (400 ValidationError) */
};

static struct gmd_query *gmd_find(struct gmd *g, const char *id, size_t len)
{
    for (size_t i = 0; i < g->n; i++)
        if (strlen(g->q[i].id) == len && !strncmp(g->q[i].id, id, len))
            return &g->q[i];
    return NULL;
}

static double stat_of(const struct metric_store *st, size_t s, const char *stat, int64_t a,
                      int64_t b)
{
    struct metric_stats ms;
    if (stat[0] == 'p') {
        double v;
        return metric_store_percentile(st, s, a, b, strtod(stat + 1, NULL), &v) ? v : NAN;
    }
    if (!metric_store_stats(st, s, a, b, &ms))
        return NAN;
    if (!strcmp(stat, "Sum"))
        return ms.sum;
    if (!strcmp(stat, "SampleCount"))
        return ms.sample_count;
    if (!strcmp(stat, "Average"))
        return ms.sum / ms.sample_count;
    if (!strcmp(stat, "Minimum"))
        return ms.minimum;
    return ms.maximum;
}

static bool stat_ok(const char *s)
{
    static const char *const names[] = {"Sum", "SampleCount", "Average", "Minimum", "Maximum"};
    for (size_t i = 0; i < KS_ARRAY_LEN(names); i++)
        if (!strcmp(s, names[i]))
            return true;
    if (s[0] != 'p' || !s[1])
        return false;
    char *end;
    double p = strtod(s + 1, &end);
    return !*end && p >= 0 && p <= 100 && s[1] >= '0' && s[1] <= '9';
}

static void gmd_metric(struct gmd *g, struct gmd_query *q)
{
    struct metric_dim md[ALARM_MAX_DIMENSIONS];
    for (size_t i = 0; i < q->ndims; i++)
        md[i] = (struct metric_dim){q->dims[i].name, q->dims[i].value};
    long s = metric_store_find(g->st, q->ns, q->metric, md, q->ndims, q->unit);
    for (size_t i = 0; i < q->nv; i++) {
        int64_t t = g->start + (int64_t)i * q->period_ms;
        q->v[i] = s < 0 ? NAN : stat_of(g->st, (size_t)s, q->stat, t, t + q->period_ms);
    }
}

/*
 * Metric math, the arithmetic subset: numbers, query ids, + - * /, unary
 * minus and parentheses, evaluated per period. A period where an operand
 * has no datapoint (or a division by zero) has none in the result, so only
 * timestamps all operands share survive, as in CloudWatch. Functions (SUM,
 * FILL, METRICS, ...) are a per-query error. A value is a series (v != NULL)
 * or a scalar.
 */
struct xval {
    double *v; /* owned, nv slots; NULL = scalar */
    double s;
};

struct xp {
    struct gmd *g;
    struct gmd_query *q;
    const char *src;
    size_t pos, nv;
    int64_t period_ms;
    int depth;
    bool failed, unsupported;
};

static void xp_fail(struct xp *x, bool unsupported, const char *fmt, ...) KS_PRINTF(3, 4);
static void xp_fail(struct xp *x, bool unsupported, const char *fmt, ...)
{
    if (x->failed)
        return;
    x->failed = true;
    x->unsupported = unsupported;
    char m[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof(m), fmt, ap);
    va_end(ap);
    char *dst = unsupported ? x->q->error : x->g->error;
    size_t cap = unsupported ? sizeof(x->q->error) : sizeof(x->g->error);
    snprintf(dst, cap, "Error in expression '%.40s' of query %.40s at character %zu: %.150s",
             x->src, x->q->id, x->pos + 1, m);
}

static void xp_ws(struct xp *x)
{
    while (x->src[x->pos] == ' ' || x->src[x->pos] == '\t')
        x->pos++;
}

static void gmd_eval(struct gmd *g, struct gmd_query *q, int depth);
static struct xval xp_expr(struct xp *x);

static struct xval xp_primary(struct xp *x)
{
    struct xval r = {NULL, NAN};
    xp_ws(x);
    const char *p = x->src + x->pos;
    if (++x->depth > CW_EXPR_MAX_DEPTH) {
        xp_fail(x, false, "nested too deeply");
    } else if (*p == '(') {
        x->pos++;
        r = xp_expr(x);
        xp_ws(x);
        if (x->src[x->pos] != ')')
            xp_fail(x, false, "')' expected");
        else
            x->pos++;
    } else if ((*p >= '0' && *p <= '9') || *p == '.') {
        char *end;
        r.s = strtod(p, &end);
        x->pos += (size_t)(end - p);
    } else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
        size_t n = 0;
        while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') ||
               (p[n] >= '0' && p[n] <= '9') || p[n] == '_')
            n++;
        size_t at = x->pos;
        x->pos += n;
        xp_ws(x);
        if (x->src[x->pos] == '(' || (*p >= 'A' && *p <= 'Z')) {
            x->pos = at;
            xp_fail(x, true,
                    "function %.*s is not supported by keysentry (only + - * / over "
                    "query ids and numbers)",
                    (int)n, p);
            return r;
        }
        struct gmd_query *ref = gmd_find(x->g, p, n);
        if (!ref) {
            x->pos = at;
            xp_fail(x, false, "unknown query id '%.*s'", (int)n, p);
            return r;
        }
        if (ref->state == 1) {
            x->pos = at;
            xp_fail(x, false, "'%.*s' refers back to itself", (int)n, p);
            return r;
        }
        gmd_eval(x->g, ref, x->depth);
        if (ref->error[0] || x->g->error[0]) {
            x->pos = at;
            xp_fail(x, ref->error[0] != 0, "query %.*s failed", (int)n, p);
            return r;
        }
        if (x->period_ms && ref->period_ms != x->period_ms) {
            x->pos = at;
            xp_fail(x, false, "'%.*s' has a different period", (int)n, p);
            return r;
        }
        x->period_ms = ref->period_ms;
        x->nv = ref->nv;
        r.v = ks_xmalloc((ref->nv ? ref->nv : 1) * sizeof(double));
        memcpy(r.v, ref->v, ref->nv * sizeof(double));
    } else {
        xp_fail(x, false, "a number, a query id or '(' expected");
    }
    x->depth--;
    return r;
}

static struct xval xp_unary(struct xp *x)
{
    xp_ws(x);
    if (x->src[x->pos] == '-') {
        x->pos++;
        struct xval r = xp_unary(x);
        if (r.v)
            for (size_t i = 0; i < x->nv; i++)
                r.v[i] = -r.v[i];
        r.s = -r.s;
        return r;
    }
    return xp_primary(x);
}

static double apply(char op, double a, double b)
{
    switch (op) {
    case '+':
        return a + b;
    case '-':
        return a - b;
    case '*':
        return a * b;
    default:
        return b == 0 ? NAN : a / b;
    }
}

static struct xval combine(struct xp *x, char op, struct xval a, struct xval b)
{
    if (!a.v && !b.v) {
        a.s = apply(op, a.s, b.s);
        return a;
    }
    struct xval r = a.v ? a : b;
    for (size_t i = 0; i < x->nv; i++) {
        double va = a.v ? a.v[i] : a.s, vb = b.v ? b.v[i] : b.s;
        r.v[i] = isnan(va) || isnan(vb) ? NAN : apply(op, va, vb);
    }
    if (a.v && b.v)
        free(b.v);
    return r;
}

static struct xval xp_binary(struct xp *x, bool additive)
{
    struct xval a = additive ? xp_binary(x, false) : xp_unary(x);
    for (;;) {
        xp_ws(x);
        char op = x->src[x->pos];
        if (x->failed || !(additive ? op == '+' || op == '-' : op == '*' || op == '/'))
            return a;
        x->pos++;
        struct xval b = additive ? xp_binary(x, false) : xp_unary(x);
        a = combine(x, op, a, b);
    }
}

static struct xval xp_expr(struct xp *x)
{
    return xp_binary(x, true);
}

static void gmd_eval(struct gmd *g, struct gmd_query *q, int depth)
{
    if (q->state)
        return;
    q->state = 1;
    if (!q->expr) {
        gmd_metric(g, q);
        q->state = 2;
        return;
    }
    struct xp x = {.g = g, .q = q, .src = q->expr, .depth = depth};
    struct xval r = xp_expr(&x);
    xp_ws(&x);
    if (!x.failed && x.src[x.pos])
        xp_fail(&x, false, "unexpected '%c'", x.src[x.pos]);
    if (!x.failed && !r.v)
        xp_fail(&x, false, "the expression must refer to at least one metric query");
    if (!x.failed) {
        q->v = r.v;
        q->nv = x.nv;
        if (!q->period_ms)
            q->period_ms = x.period_ms;
        r.v = NULL;
    }
    free(r.v);
    q->state = 2;
}

/* One query's members from the form; false after answering an error. */
static bool gmd_parse(struct http_req *r, const struct http_form *f, size_t i, struct gmd_query *q)
{
    char pre[64], msg[300];
    snprintf(pre, sizeof(pre), "MetricDataQueries.member.%zu", i + 1);
    q->id = getf(f, pre, "Id");
    q->label = getf(f, pre, "Label");
    q->expr = getf(f, pre, "Expression");
    const char *rd = getf(f, pre, "ReturnData");
    q->return_data = !rd || strcmp(rd, "false");
    if (!q->id || !q->id[0] || !(q->id[0] >= 'a' && q->id[0] <= 'z')) {
        snprintf(msg, sizeof(msg),
                 "The value %.64s for parameter %s.Id is invalid: it must start with a "
                 "lowercase letter.",
                 q->id ? q->id : "", pre);
        http_cw_error(r, 400, q->id ? "ValidationError" : "MissingParameter", msg);
        return false;
    }
    const char *ms_period = getf(f, pre, "MetricStat.Period"), *period = getf(f, pre, "Period");
    const char *ps = ms_period ? ms_period : period;
    bool metric = getf(f, pre, "MetricStat.Metric.MetricName") != NULL;
    if (metric == (q->expr != NULL)) {
        snprintf(msg, sizeof(msg), "Exactly one of %s.MetricStat and %s.Expression must be set.",
                 pre, pre);
        http_cw_error(r, 400, "ValidationError", msg);
        return false;
    }
    if (ps) {
        char *end;
        double p = strtod(ps, &end);
        if (*end || !(p == 1 || p == 5 || p == 10 || p == 30 || (p >= 60 && fmod(p, 60) == 0)) ||
            p > 86400 * 366) {
            snprintf(msg, sizeof(msg),
                     "The value %.40s for parameter %s.%s is invalid: use 1, 5, 10, 30 or a "
                     "multiple of 60.",
                     ps, pre, ms_period ? "MetricStat.Period" : "Period");
            http_cw_error(r, 400, "InvalidParameterValue", msg);
            return false;
        }
        q->period_ms = (int64_t)p * 1000;
    }
    if (!metric)
        return true;
    q->ns = getf(f, pre, "MetricStat.Metric.Namespace");
    q->metric = getf(f, pre, "MetricStat.Metric.MetricName");
    q->stat = getf(f, pre, "MetricStat.Stat");
    q->unit = getf(f, pre, "MetricStat.Unit");
    if (!q->ns || !q->stat || !q->period_ms) {
        snprintf(msg, sizeof(msg), "The parameter %s.MetricStat.%s is required.", pre,
                 !q->ns     ? "Metric.Namespace"
                 : !q->stat ? "Stat"
                            : "Period");
        http_cw_error(r, 400, "MissingParameter", msg);
        return false;
    }
    if (!stat_ok(q->stat)) {
        snprintf(msg, sizeof(msg),
                 "The value %.40s for parameter %s.MetricStat.Stat is invalid: keysentry "
                 "supports Sum, SampleCount, Average, Minimum, Maximum and pNN.",
                 q->stat, pre);
        http_cw_error(r, 400, "InvalidParameterValue", msg);
        return false;
    }
    for (size_t k = 1; q->ndims < ALARM_MAX_DIMENSIONS; k++) {
        char kn[96], kv[96];
        snprintf(kn, sizeof(kn), "MetricStat.Metric.Dimensions.member.%zu.Name", k);
        snprintf(kv, sizeof(kv), "MetricStat.Metric.Dimensions.member.%zu.Value", k);
        const char *dn = getf(f, pre, kn), *dv = getf(f, pre, kv);
        if (!dn || !dv)
            break;
        q->dims[q->ndims++] = (struct alarm_dimension){dn, dv};
    }
    return true;
}

static void get_metric_data(struct http_req *r, const struct http_form *f)
{
    const char *s0, *s1;
    if (!want(r, f, "StartTime", &s0) || !want(r, f, "EndTime", &s1))
        return;
    struct gmd g = {.r = r};
    if (!http_parse_time(s0, &g.start) || !http_parse_time(s1, &g.end) || g.end <= g.start) {
        http_cw_error(r, 400, "InvalidParameterValue",
                      "StartTime and EndTime must be ISO 8601 times, StartTime first");
        return;
    }
    const char *scan = http_form_get(f, "ScanBy");
    if (scan && strcmp(scan, "TimestampDescending") && strcmp(scan, "TimestampAscending")) {
        http_cw_error(r, 400, "InvalidParameterValue",
                      "The value for parameter ScanBy must be TimestampDescending or "
                      "TimestampAscending.");
        return;
    }
    bool asc = scan && !strcmp(scan, "TimestampAscending");
    double maxdp = CW_GMD_MAX_DATAPOINTS;
    if (!number(r, f, "MaxDatapoints", &maxdp, false))
        return;
    g.q = ks_xcalloc(CW_GMD_MAX_QUERIES, sizeof(*g.q));
    for (size_t i = 0;; i++) {
        char key[80];
        snprintf(key, sizeof(key), "MetricDataQueries.member.%zu.Id", i + 1);
        if (!http_form_get(f, key))
            break;
        if (i == CW_GMD_MAX_QUERIES) {
            http_cw_error(r, 400, "InvalidParameterValue",
                          "The collection MetricDataQueries must not have a size greater than "
                          "500.");
            goto out;
        }
        if (!gmd_parse(r, f, i, &g.q[i]))
            goto out;
        for (size_t k = 0; k < i; k++) {
            if (!strcmp(g.q[k].id, g.q[i].id)) {
                char msg[160];
                snprintf(msg, sizeof(msg),
                         "The values of MetricDataQueries Id must be unique; "
                         "'%.64s' is repeated.",
                         g.q[i].id);
                http_cw_error(r, 400, "ValidationError", msg);
                goto out;
            }
        }
        g.n++;
    }
    if (!g.n) {
        http_cw_error(r, 400, "MissingParameter", "The parameter MetricDataQueries is required.");
        goto out;
    }
    /* every metric query's periods start at StartTime aligned to its period,
     * as GetMetricStatistics does */
    int64_t unaligned = g.start;
    for (size_t i = 0; i < g.n; i++) {
        struct gmd_query *q = &g.q[i];
        if (q->expr)
            continue;
        int64_t a = unaligned - unaligned % q->period_ms;
        size_t nv = (size_t)((g.end - a + q->period_ms - 1) / q->period_ms);
        if (nv > CW_GMD_MAX_DATAPOINTS) {
            char msg[200];
            snprintf(msg, sizeof(msg),
                     "Query %.64s asks for %zu periods; at most %d fit between StartTime and "
                     "EndTime.",
                     q->id, nv, CW_GMD_MAX_DATAPOINTS);
            http_cw_error(r, 400, "InvalidParameterCombination", msg);
            goto out;
        }
        q->nv = nv;
        q->v = ks_xcalloc(nv ? nv : 1, sizeof(double));
    }
    struct serve_engine *e = r->srv->engine;
    serve_engine_lock(e);
    g.st = serve_engine_store(e);
    for (size_t i = 0; i < g.n && !g.error[0]; i++) {
        /* a query's start depends on its own period; gmd_metric reads g.start */
        struct gmd_query *q = &g.q[i];
        if (!q->expr) {
            g.start = unaligned - unaligned % q->period_ms;
            gmd_eval(&g, q, 0);
        }
    }
    for (size_t i = 0; i < g.n && !g.error[0]; i++)
        gmd_eval(&g, &g.q[i], 0);
    serve_engine_unlock(e);
    if (g.error[0]) {
        http_cw_error(r, 400, "ValidationError", g.error);
        goto out;
    }
    begin(r, "GetMetricData");
    http_out(r, "<MetricDataResults>");
    double budget = maxdp;
    for (size_t i = 0; i < g.n; i++) {
        struct gmd_query *q = &g.q[i];
        if (!q->return_data)
            continue;
        http_out(r, "<member>");
        tag(r, "Id", q->id);
        tag(r, "Label", q->label ? q->label : q->expr ? q->id : q->metric);
        int64_t start = q->period_ms ? unaligned - unaligned % q->period_ms : unaligned;
        bool partial = false;
        for (int pass = 0; pass < 2; pass++) {
            http_out(r, pass ? "<Values>" : "<Timestamps>");
            double left = budget;
            for (size_t k = 0; k < q->nv; k++) {
                size_t j = asc ? k : q->nv - 1 - k;
                if (isnan(q->v[j]))
                    continue;
                if (left < 1) {
                    partial = true;
                    break;
                }
                left--;
                if (pass) {
                    http_out(r, "<member>%.17g</member>", q->v[j]);
                } else {
                    http_out(r, "<member>");
                    http_out_iso(r, start + (int64_t)j * q->period_ms);
                    http_out(r, "</member>");
                }
            }
            http_out(r, pass ? "</Values>" : "</Timestamps>");
            if (pass)
                budget = left;
        }
        if (q->error[0]) {
            http_out(r, "<StatusCode>InternalError</StatusCode><Messages><member>"
                        "<Code>UnsupportedExpression</Code><Value>");
            http_out_xml(r, q->error);
            http_out(r, "</Value></member></Messages>");
        } else {
            http_out(r, "<StatusCode>%s</StatusCode><Messages/>",
                     partial ? "PartialData" : "Complete");
        }
        http_out(r, "</member>");
    }
    http_out(r, "</MetricDataResults><Messages/>");
    end(r, "GetMetricData");
out:
    for (size_t i = 0; i < g.n + 1 && i < CW_GMD_MAX_QUERIES; i++)
        free(g.q[i].v);
    free(g.q);
}

static const struct {
    const char *name;
    void (*fn)(struct http_req *r, const struct http_form *f);
} actions[] = {
    {"DescribeAlarms", describe_alarms}, {"DescribeAlarmHistory", describe_history},
    {"SetAlarmState", set_state},        {"GetMetricStatistics", get_statistics},
    {"ListMetrics", list_metrics},       {"PutMetricAlarm", put_alarm},
    {"DeleteAlarms", delete_alarms},     {"PutMetricData", put_metric_data},
    {"GetMetricData", get_metric_data},
};

void http_cw(struct http_req *r)
{
    struct http_form f;
    if (!http_form_parse(&f, r->body ? r->body : "", r->body_len)) {
        http_form_release(&f);
        http_cw_error(r, 400, "InvalidParameterValue", "too many parameters");
        return;
    }
    const char *action = http_form_get(&f, "Action");
    bool done = false;
    for (size_t i = 0; action && i < KS_ARRAY_LEN(actions); i++) {
        if (!strcmp(actions[i].name, action)) {
            actions[i].fn(r, &f);
            done = true;
            break;
        }
    }
    if (!done)
        http_cw_error(r, 400, "InvalidAction", "The action or operation requested is invalid.");
    http_form_release(&f);
}
