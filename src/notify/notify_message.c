/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The message a transition publishes (spec/alarms.md §11, §13): AWS's alarm
 * JSON document for metric and composite alarms, field for field in the
 * order AWS emits them, the plain-text e-mail body in AWS's layout, the SMS
 * variant and the subject; then keysentry's context block (a
 * "keysentryContext" member appended last to the JSON, a "Keysentry
 * Context:" section appended to the e-mail text).
 *
 * The JSON is written by hand, not through jansson, because AWS formats
 * doubles the Java way ("1.0", "1.0E7": alarm_fmt_double) and field order
 * matters to people who diff these messages.
 */
#include <openssl/evp.h>

#include "notify/notify_int.h"

#define TRY(x)                                                                                     \
    do {                                                                                           \
        enum ks_err e_ = (x);                                                                      \
        if (e_)                                                                                    \
            return e_;                                                                             \
    } while (0)

/* Display names as CloudWatch writes them into alarm messages (spec §11.1:
 * "EU (Ireland)", not "Europe (Ireland)"). */
static const struct {
    const char *code;
    const char *name;
} regions[] = {
    {"us-east-1", "US East (N. Virginia)"},
    {"us-east-2", "US East (Ohio)"},
    {"us-west-1", "US West (N. California)"},
    {"us-west-2", "US West (Oregon)"},
    {"af-south-1", "Africa (Cape Town)"},
    {"ap-east-1", "Asia Pacific (Hong Kong)"},
    {"ap-south-1", "Asia Pacific (Mumbai)"},
    {"ap-south-2", "Asia Pacific (Hyderabad)"},
    {"ap-southeast-1", "Asia Pacific (Singapore)"},
    {"ap-southeast-2", "Asia Pacific (Sydney)"},
    {"ap-southeast-3", "Asia Pacific (Jakarta)"},
    {"ap-southeast-4", "Asia Pacific (Melbourne)"},
    {"ap-northeast-1", "Asia Pacific (Tokyo)"},
    {"ap-northeast-2", "Asia Pacific (Seoul)"},
    {"ap-northeast-3", "Asia Pacific (Osaka)"},
    {"ca-central-1", "Canada (Central)"},
    {"ca-west-1", "Canada West (Calgary)"},
    {"eu-central-1", "EU (Frankfurt)"},
    {"eu-central-2", "EU (Zurich)"},
    {"eu-west-1", "EU (Ireland)"},
    {"eu-west-2", "EU (London)"},
    {"eu-west-3", "EU (Paris)"},
    {"eu-north-1", "EU (Stockholm)"},
    {"eu-south-1", "EU (Milan)"},
    {"eu-south-2", "EU (Spain)"},
    {"il-central-1", "Israel (Tel Aviv)"},
    {"me-south-1", "Middle East (Bahrain)"},
    {"me-central-1", "Middle East (UAE)"},
    {"sa-east-1", "South America (Sao Paulo)"},
    {"us-gov-east-1", "AWS GovCloud (US-East)"},
    {"us-gov-west-1", "AWS GovCloud (US-West)"},
};

const char *notify_region_name(const char *code)
{
    for (size_t i = 0; code && i < KS_ARRAY_LEN(regions); i++)
        if (strcmp(regions[i].code, code) == 0)
            return regions[i].name;
    return NULL;
}

size_t notify_fmt_human_time(char out[64], int64_t ms)
{
    static const char *const wd[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                     "Thursday", "Friday", "Saturday"};
    static const char *const mon[] = {"January",   "February", "March",    "April",
                                      "May",       "June",     "July",     "August",
                                      "September", "October",  "November", "December"};
    time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    int n = snprintf(out, 64, "%s %02d %s, %04d %02d:%02d:%02d UTC", wd[tm.tm_wday], tm.tm_mday,
                     mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return n > 0 ? (size_t)n : 0;
}

size_t notify_fmt_sns_time(char out[32], int64_t ms)
{
    time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)s * 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    int n = snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    return n > 0 ? (size_t)n : 0;
}

void notify_uuid(char out[37], const void *key, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(key, len, md, &mdlen, EVP_sha256(), NULL);
    /* RFC 4122 layout: version 5 (name-based) and the variant bits, so the
     * id looks like every other SNS MessageId */
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[md[i] >> 4];
        out[o++] = hex[md[i] & 15];
    }
    out[o] = '\0';
}

/* ---- shared pieces -------------------------------------------------------- */

/* The fields both alarm kinds share, borrowed from the alarm. */
struct view {
    bool composite;
    const char *name;
    const char *description;
    const char *arn;
    const char *region;
    const char *account;
    const char *const *actions[3]; /* OK, ALARM, INSUFFICIENT_DATA */
    size_t n_actions[3];
    const struct alarm_def *def;            /* metric */
    const struct alarm_composite_def *cdef; /* composite */
    int64_t config_updated_ms;
};

static enum ks_err jstr(struct ks_buf *b, const char *s)
{
    if (!s)
        return ks_buf_add(b, "null", 4);
    TRY(ks_buf_add(b, "\"", 1));
    TRY(ks_buf_add_json_str(b, s, strlen(s)));
    return ks_buf_add(b, "\"", 1);
}

static enum ks_err jkey(struct ks_buf *b, bool first, const char *k)
{
    return ks_buf_addf(b, "%s\"%s\":", first ? "" : ",", k);
}

static enum ks_err jlist(struct ks_buf *b, const char *const *v, size_t n)
{
    TRY(ks_buf_add(b, "[", 1));
    for (size_t i = 0; i < n; i++) {
        if (i)
            TRY(ks_buf_add(b, ",", 1));
        TRY(jstr(b, v[i]));
    }
    return ks_buf_add(b, "]", 1);
}

static enum ks_err jtime(struct ks_buf *b, int64_t ms)
{
    char t[ALARM_FMT_TIME_SIZE];
    alarm_fmt_time(t, ms);
    return jstr(b, t);
}

static const char *region_display(const struct view *v, const struct notify_format *fmt)
{
    if (fmt && fmt->region_name)
        return fmt->region_name;
    const char *n = notify_region_name(v->region);
    return n ? n : v->region;
}

/* Appends v's console link from the template (or AWS's form). */
static enum ks_err console_url(struct ks_buf *b, const struct view *v,
                               const struct notify_format *fmt)
{
    const char *tpl = fmt && fmt->console_url
                          ? fmt->console_url
                          : "https://{region}.console.aws.amazon.com/cloudwatch/"
                            "deeplink.js?region={region}#alarmsV2:alarm/{alarm}";
    for (const char *p = tpl; *p;) {
        if (strncmp(p, "{region}", 8) == 0) {
            TRY(notify_url_encode(b, v->region));
            p += 8;
        } else if (strncmp(p, "{alarm}", 7) == 0) {
            TRY(notify_url_encode(b, v->name));
            p += 7;
        } else {
            TRY(ks_buf_add(b, p, 1));
            p++;
        }
    }
    return KS_OK;
}

static enum ks_err detail(struct ks_buf *b, const char *label, const char *value)
{
    return ks_buf_addf(b, "- %-28s%s\n", label, value ? value : "");
}

static enum ks_err metric_line(struct ks_buf *b, const char *label, const char *value)
{
    return ks_buf_addf(b, "- %-37s%s\n", label, value ? value : "");
}

static enum ks_err actions_line(struct ks_buf *b, const char *state, const char *const *v, size_t n)
{
    TRY(ks_buf_addf(b, "- %s:", state));
    if (n) {
        TRY(ks_buf_add(b, " [", 2));
        for (size_t i = 0; i < n; i++)
            TRY(ks_buf_addf(b, "%s%s", i ? ", " : "", v[i]));
        TRY(ks_buf_add(b, "]", 1));
    }
    return ks_buf_add(b, "\n", 1);
}

static enum ks_err action_lists_json(struct ks_buf *b, const struct view *v)
{
    TRY(jkey(b, false, "OKActions"));
    TRY(jlist(b, v->actions[0], v->n_actions[0]));
    TRY(jkey(b, false, "AlarmActions"));
    TRY(jlist(b, v->actions[1], v->n_actions[1]));
    TRY(jkey(b, false, "InsufficientDataActions"));
    return jlist(b, v->actions[2], v->n_actions[2]);
}

/* ---- the JSON documents (§11.2, §11.3) --------------------------------------- */

static enum ks_err metric_json(struct ks_buf *b, const struct view *v,
                               const struct alarm_change *ch, const char *region)
{
    const struct alarm_def *d = v->def;
    char num[ALARM_FMT_DOUBLE_SIZE];
    TRY(ks_buf_add(b, "{", 1));
    TRY(jkey(b, true, "AlarmName"));
    TRY(jstr(b, v->name));
    TRY(jkey(b, false, "AlarmDescription"));
    TRY(jstr(b, v->description));
    TRY(jkey(b, false, "AWSAccountId"));
    TRY(jstr(b, v->account));
    TRY(jkey(b, false, "AlarmConfigurationUpdatedTimestamp"));
    TRY(jtime(b, v->config_updated_ms));
    TRY(jkey(b, false, "NewStateValue"));
    TRY(jstr(b, alarm_state_name(ch->new_state)));
    TRY(jkey(b, false, "NewStateReason"));
    TRY(jstr(b, ch->reason.data));
    TRY(jkey(b, false, "StateChangeTime"));
    TRY(jtime(b, ch->time_ms));
    TRY(jkey(b, false, "Region"));
    TRY(jstr(b, region));
    TRY(jkey(b, false, "AlarmArn"));
    TRY(jstr(b, v->arn));
    TRY(jkey(b, false, "OldStateValue"));
    TRY(jstr(b, alarm_state_name(ch->old_state)));
    TRY(action_lists_json(b, v));
    TRY(ks_buf_addf(b, ",\"Trigger\":{"));
    TRY(jkey(b, true, "MetricName"));
    TRY(jstr(b, d->metric_name));
    TRY(jkey(b, false, "Namespace"));
    TRY(jstr(b, d->ns));
    bool ext = d->statistic == ALARM_STAT_NONE;
    TRY(jkey(b, false, "StatisticType"));
    TRY(jstr(b, ext ? "ExtendedStatistic" : "Statistic"));
    TRY(jkey(b, false, ext ? "ExtendedStatistic" : "Statistic"));
    TRY(jstr(b, ext ? d->extended_statistic : alarm_statistic_sns_name(d->statistic)));
    TRY(jkey(b, false, "Unit"));
    TRY(jstr(b, d->unit));
    TRY(jkey(b, false, "Dimensions"));
    TRY(ks_buf_add(b, "[", 1));
    for (size_t i = 0; i < d->n_dimensions; i++) {
        /* lower-case keys, value first, as AWS writes them (spec §11.2) */
        TRY(ks_buf_addf(b, "%s{\"value\":", i ? "," : ""));
        TRY(jstr(b, d->dimensions[i].value));
        TRY(ks_buf_addf(b, ",\"name\":"));
        TRY(jstr(b, d->dimensions[i].name));
        TRY(ks_buf_add(b, "}", 1));
    }
    TRY(ks_buf_add(b, "]", 1));
    int32_t m = d->datapoints_to_alarm ? d->datapoints_to_alarm : d->evaluation_periods;
    TRY(ks_buf_addf(b, ",\"Period\":%d,\"EvaluationPeriods\":%d,\"DatapointsToAlarm\":%d",
                    (int)d->period, (int)d->evaluation_periods, (int)m));
    TRY(jkey(b, false, "ComparisonOperator"));
    TRY(jstr(b, alarm_comparison_name(d->comparison)));
    alarm_fmt_double(num, d->threshold);
    TRY(ks_buf_addf(b, ",\"Threshold\":%s", num));
    TRY(jkey(b, false, "TreatMissingData"));
    TRY(jstr(b, alarm_treat_missing_name(d->treat_missing)));
    TRY(jkey(b, false, "EvaluateLowSampleCountPercentile"));
    TRY(jstr(b, alarm_low_sample_name(d->low_sample)));
    return ks_buf_add(b, "}}", 2); /* Trigger, then the document */
}

/* TriggeringChildren from StateReasonData's triggeringAlarms (spec §6.2). */
static enum ks_err triggering_children(struct ks_buf *b, const char *reason_data, json_t **out_root)
{
    json_t *root = reason_data && *reason_data ? json_loads(reason_data, 0, NULL) : NULL;
    json_t *list = json_object_get(root, "triggeringAlarms");
    TRY(ks_buf_add(b, "[", 1));
    size_t k = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *it = json_array_get(list, i);
        json_t *st = json_object_get(it, "state");
        const char *arn = json_string_value(json_object_get(it, "arn"));
        const char *val = json_string_value(json_object_get(st, "value"));
        const char *ts = json_string_value(json_object_get(st, "timestamp"));
        if (!arn)
            continue;
        TRY(ks_buf_addf(b, "%s{\"Arn\":", k++ ? "," : ""));
        TRY(jstr(b, arn));
        TRY(ks_buf_addf(b, ",\"State\":{\"Value\":"));
        TRY(jstr(b, val));
        TRY(ks_buf_addf(b, ",\"Timestamp\":"));
        TRY(jstr(b, ts));
        TRY(ks_buf_add(b, "}}", 2));
    }
    *out_root = root;
    return ks_buf_add(b, "]", 1);
}

static enum ks_err composite_json(struct ks_buf *b, const struct view *v,
                                  const struct alarm_change *ch, const char *region)
{
    TRY(ks_buf_add(b, "{", 1));
    TRY(jkey(b, true, "AlarmName"));
    TRY(jstr(b, v->name));
    TRY(jkey(b, false, "AlarmDescription"));
    TRY(jstr(b, v->description));
    TRY(jkey(b, false, "AWSAccountId"));
    TRY(jstr(b, v->account));
    TRY(jkey(b, false, "NewStateValue"));
    TRY(jstr(b, alarm_state_name(ch->new_state)));
    TRY(jkey(b, false, "NewStateReason"));
    TRY(jstr(b, ch->reason.data));
    TRY(jkey(b, false, "StateChangeTime"));
    TRY(jtime(b, ch->time_ms));
    TRY(jkey(b, false, "Region"));
    TRY(jstr(b, region));
    TRY(jkey(b, false, "AlarmArn"));
    TRY(jstr(b, v->arn));
    TRY(action_lists_json(b, v));
    TRY(jkey(b, false, "OldStateValue"));
    TRY(jstr(b, alarm_state_name(ch->old_state)));
    TRY(jkey(b, false, "AlarmRule"));
    TRY(jstr(b, v->cdef->rule));
    TRY(jkey(b, false, "TriggeringChildren"));
    json_t *root = NULL;
    enum ks_err e = triggering_children(b, ch->reason_data.data, &root);
    json_decref(root);
    TRY(e);
    return ks_buf_add(b, "}", 1);
}

/* ---- the e-mail text (§13) -------------------------------------------------- */

static enum ks_err email_text(struct ks_buf *b, const struct view *v, const struct alarm_change *ch,
                              const char *region, const struct notify_format *fmt)
{
    char when[64];
    notify_fmt_human_time(when, ch->time_ms);
    const char *to = alarm_state_name(ch->new_state);
    if (v->composite)
        TRY(ks_buf_addf(b,
                        "You are receiving this email because your Amazon CloudWatch Alarm \"%s\" "
                        "in the %s region has transitioned to %s state on %s, because \"%s\".\n",
                        v->name, region, to, when, ch->reason.data));
    else
        TRY(ks_buf_addf(b,
                        "You are receiving this email because your Amazon CloudWatch Alarm \"%s\" "
                        "in the %s region has entered the %s state, because \"%s\" at \"%s\".\n",
                        v->name, region, to, ch->reason.data, when));
    TRY(ks_buf_addf(b, "\nView this alarm in the AWS Management Console:\n"));
    TRY(console_url(b, v, fmt));
    TRY(ks_buf_addf(b, "\n\nAlarm Details:\n"));
    TRY(detail(b, "Name:", v->name));
    TRY(detail(b, "Description:", v->description));
    char change[64];
    /* a composite's first evaluation reads "N/A -> OK" (spec §13) */
    size_t arnlen = strlen(v->arn);
    bool created = v->composite && strncmp(ch->reason.data, v->arn, arnlen) == 0 &&
                   strncmp(ch->reason.data + arnlen, " was created and", 16) == 0;
    snprintf(change, sizeof(change), "%s -> %s", created ? "N/A" : alarm_state_name(ch->old_state),
             to);
    TRY(detail(b, "State Change:", change));
    if (v->composite)
        TRY(detail(b, "Alarm Rule:", v->cdef->rule));
    TRY(detail(b, "Reason for State Change:", ch->reason.data));
    TRY(detail(b, "Timestamp:", when));
    TRY(detail(b, "AWS Account:", v->account));
    TRY(detail(b, "Alarm Arn:", v->arn));
    if (v->composite) {
        TRY(ks_buf_addf(b, "\nTriggering children (max. 10):\n"));
        json_t *root = ch->reason_data.len ? json_loads(ch->reason_data.data, 0, NULL) : NULL;
        json_t *list = json_object_get(root, "triggeringAlarms");
        enum ks_err e = KS_OK;
        for (size_t i = 0; i < json_array_size(list) && i < 10 && !e; i++) {
            json_t *it = json_array_get(list, i);
            json_t *st = json_object_get(it, "state");
            const char *arn = json_string_value(json_object_get(it, "arn"));
            const char *val = json_string_value(json_object_get(st, "value"));
            const char *ts = json_string_value(json_object_get(st, "timestamp"));
            /* AWS's layout of these lines is not captured (spec §13 [O]
             * lists the section only): ours names state and time */
            char human[64];
            struct tm tm;
            memset(&tm, 0, sizeof(tm));
            const char *rest = ts ? strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
            if (rest)
                notify_fmt_human_time(human, (int64_t)timegm(&tm) * 1000);
            if (arn)
                e = ks_buf_addf(b, "- %s (%s since %s)\n", arn, val ? val : "?",
                                rest ? human
                                : ts ? ts
                                     : "?");
        }
        json_decref(root);
        TRY(e);
    } else {
        const struct alarm_def *d = v->def;
        char num[ALARM_FMT_DOUBLE_SIZE];
        alarm_fmt_double(num, d->threshold);
        int32_t m = d->datapoints_to_alarm ? d->datapoints_to_alarm : d->evaluation_periods;
        TRY(ks_buf_addf(b,
                        "\nThreshold:\n- The alarm is in the ALARM state when the metric is %s %s "
                        "for at least %d of the last %d period(s) of %d seconds.\n",
                        alarm_comparison_name(d->comparison), num, (int)m,
                        (int)d->evaluation_periods, (int)d->period));
        TRY(ks_buf_addf(b, "\nMonitored Metric:\n"));
        TRY(metric_line(b, "MetricNamespace:", d->ns));
        TRY(metric_line(b, "MetricName:", d->metric_name));
        struct ks_buf dims;
        ks_buf_init(&dims, 64u << 10);
        enum ks_err e = KS_OK;
        for (size_t i = 0; i < d->n_dimensions && !e; i++)
            e = ks_buf_addf(&dims, "%s[%s = %s]", i ? " " : "", d->dimensions[i].name,
                            d->dimensions[i].value);
        if (!e)
            e = metric_line(b, "Dimensions:", dims.data);
        ks_buf_release(&dims);
        TRY(e);
        char period[32];
        snprintf(period, sizeof(period), "%d seconds", (int)d->period);
        TRY(metric_line(b, "Period:", period));
        TRY(metric_line(b, "Statistic:",
                        d->statistic == ALARM_STAT_NONE ? d->extended_statistic
                                                        : alarm_statistic_name(d->statistic)));
        TRY(metric_line(b, "Unit:", d->unit ? d->unit : "not specified"));
        TRY(metric_line(b, "TreatMissingData:", alarm_treat_missing_name(d->treat_missing)));
        TRY(ks_buf_add(b, "\n", 1));
    }
    TRY(ks_buf_addf(b, "\nState Change Actions:\n"));
    TRY(actions_line(b, "OK", v->actions[0], v->n_actions[0]));
    TRY(actions_line(b, "ALARM", v->actions[1], v->n_actions[1]));
    TRY(actions_line(b, "INSUFFICIENT_DATA", v->actions[2], v->n_actions[2]));
    return KS_OK;
}

/* ---- building ---------------------------------------------------------------- */

static bool make_view(const struct notify_alarm *a, struct view *v)
{
    memset(v, 0, sizeof(*v));
    if (!!a->metric == !!a->composite)
        return false;
    if (a->metric) {
        const struct alarm_def *d = alarm_get_def(a->metric);
        v->def = d;
        v->name = d->name;
        v->description = d->description;
        v->arn = alarm_arn(a->metric);
        v->region = d->region ? d->region : ALARM_DEFAULT_REGION;
        v->account = d->account ? d->account : ALARM_DEFAULT_ACCOUNT;
        v->actions[0] = d->ok_actions;
        v->n_actions[0] = d->n_ok_actions;
        v->actions[1] = d->alarm_actions;
        v->n_actions[1] = d->n_alarm_actions;
        v->actions[2] = d->insufficient_data_actions;
        v->n_actions[2] = d->n_insufficient_data_actions;
        v->config_updated_ms = alarm_config_updated_ms(a->metric);
    } else {
        const struct alarm_composite_def *d = alarm_composite_get_def(a->composite);
        v->composite = true;
        v->cdef = d;
        v->name = d->name;
        v->description = d->description;
        v->arn = alarm_composite_arn(a->composite);
        v->region = d->region ? d->region : ALARM_DEFAULT_REGION;
        v->account = d->account ? d->account : ALARM_DEFAULT_ACCOUNT;
        v->actions[0] = d->ok_actions;
        v->n_actions[0] = d->n_ok_actions;
        v->actions[1] = d->alarm_actions;
        v->n_actions[1] = d->n_alarm_actions;
        v->actions[2] = d->insufficient_data_actions;
        v->n_actions[2] = d->n_insufficient_data_actions;
    }
    return true;
}

/* Cuts s to max bytes on a UTF-8 boundary. */
static void utf8_cut(char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    s[n] = '\0';
}

enum ks_err notify_message_build(const struct notify_alarm *alarm,
                                 const struct alarm_change *change,
                                 const struct notify_context *ctx, const struct notify_format *fmt,
                                 struct notify_message *out, struct ks_diag *diag)
{
    memset(out, 0, sizeof(*out));
    struct view v;
    if (!make_view(alarm, &v))
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "notification needs exactly one of a metric or a composite alarm");
    const char *region = region_display(&v, fmt);
    struct ks_buf js, em, cj;
    ks_buf_init(&js, NOTIFY_MESSAGE_MAX);
    ks_buf_init(&em, NOTIFY_MESSAGE_MAX);
    ks_buf_init(&cj, NOTIFY_MESSAGE_MAX);
    enum ks_err e = v.composite ? composite_json(&js, &v, change, region)
                                : metric_json(&js, &v, change, region);
    if (!e && ctx) {
        e = notify_context_json(ctx, &cj);
        if (!e) {
            /* outside AWS's documented fields: appended last, so readers that
             * take AWS's fields by name are unaffected */
            js.len--; /* the closing brace */
            js.data[js.len] = '\0';
            e = ks_buf_addf(&js, ",\"keysentryContext\":%s}", cj.data);
        }
    }
    if (!e)
        e = email_text(&em, &v, change, region, fmt);
    if (!e && ctx) {
        e = ks_buf_add(&em, "\n", 1);
        if (!e)
            e = notify_context_text(ctx, &em);
    }
    if (e) {
        ks_buf_release(&js);
        ks_buf_release(&em);
        ks_buf_release(&cj);
        return ks_diag_set(diag, e, SIZE_MAX, "notification for alarm '%s': %s", v.name,
                           e == KS_E_TOOBIG ? "message larger than 256 KiB" : ks_strerror(e));
    }
    out->subject =
        notify_strf("%s: \"%s\" in %s", alarm_state_name(change->new_state), v.name, region);
    utf8_cut(out->subject, NOTIFY_SUBJECT_MAX);
    out->sms_text = ks_xstrdup(out->subject);
    out->alarm_json = ks_xmemdup(js.data, js.len);
    out->email_text = ks_xmemdup(em.data, em.len);
    out->context_json = ctx ? ks_xmemdup(cj.data, cj.len) : NULL;
    ks_buf_release(&js);
    ks_buf_release(&em);
    ks_buf_release(&cj);
    return KS_OK;
}

void notify_message_release(struct notify_message *m)
{
    free(m->subject);
    free(m->alarm_json);
    free(m->email_text);
    free(m->sms_text);
    free(m->context_json);
    memset(m, 0, sizeof(*m));
}

enum ks_err notify_published_message(const struct notify_message *m, struct ks_buf *out)
{
    TRY(ks_buf_add(out, "{\"default\":", 11));
    TRY(jstr(out, m->alarm_json));
    TRY(ks_buf_add(out, ",\"email\":", 9));
    TRY(jstr(out, m->email_text));
    TRY(ks_buf_add(out, ",\"sms\":", 7));
    TRY(jstr(out, m->sms_text));
    return ks_buf_add(out, "}", 1);
}
