/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CloudWatch API subset over the query protocol: a form body with
 * Action= and Version=2010-08-01, answered in the XML shapes of the AWS API
 * reference (<ActionResponse><ActionResult>...). Lists in requests are
 * flattened as Name.member.N (1-based). Errors are <ErrorResponse> with
 * status 400 (404 for ResourceNotFound), as botocore parses them.
 */
#include "http/http_int.h"

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
    http_out(r, "</%sResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%s"
                "Response>",
             action, r->request_id, action);
}

static void end_empty(struct http_req *r, const char *action)
{
    r->content_type = "text/xml";
    http_out(r, "<%sResponse xmlns=\"" CW_NS "\"><ResponseMetadata><RequestId>%s</RequestId>"
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

static bool want(struct http_req *r, const struct http_form *f, const char *name,
                 const char **out)
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

static bool name_selected(const char *name, const char *const *names, size_t n,
                          const char *prefix)
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
        if ((type && strcmp(type, alarm_history_type_name(it->type))) ||
            it->timestamp_ms < from || it->timestamp_ms >= to)
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
    enum ks_err err = serve_engine_set_alarm_state(r->srv->engine, name, s, reason,
                                                   http_form_get(f, "StateReasonData"), r->now_ms,
                                                   &d);
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
        !number(r, f, "EvaluationPeriods", &evals, true) || !number(r, f, "Period", &period, true) ||
        !number(r, f, "Threshold", &thr, true) || !number(r, f, "DatapointsToAlarm", &m, false))
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

static bool dims_match(const struct metric_dim *have, size_t nh, const struct alarm_dimension *want_,
                       size_t nw, bool exact)
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
    if (p < 1000 || (period >= 60 && (int64_t)period % 60) || (endt - start) / p > CW_MAX_DATAPOINTS) {
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
                if (ext[i][0] == 'p' &&
                    metric_store_percentile(st, (size_t)s, t, t + p, strtod(ext[i] + 1, NULL), &v)) {
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

static const struct {
    const char *name;
    void (*fn)(struct http_req *r, const struct http_form *f);
} actions[] = {
    {"DescribeAlarms", describe_alarms},
    {"DescribeAlarmHistory", describe_history},
    {"SetAlarmState", set_state},
    {"GetMetricStatistics", get_statistics},
    {"ListMetrics", list_metrics},
    {"PutMetricAlarm", put_alarm},
    {"DeleteAlarms", delete_alarms},
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
