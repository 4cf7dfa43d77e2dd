/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keysentry's own endpoints: the JSON API for scripts (/api/...), CloudTrail
 * push (POST /api/push), Prometheus text (/metrics) and /healthz.
 */
#include "http/http_int.h"

#include "notify/notify.h"

#include <jansson.h>
#include <math.h>

static void json_err(struct http_req *r, unsigned status, const char *msg)
{
    ks_buf_reset(&r->out);
    r->status = status;
    r->content_type = "application/json";
    http_out(r, "{\"error\":");
    http_out_json_str(r, msg);
    http_out(r, "}\n");
}

/* The fields /api/alarms lists, with the object left open for more. */
static void alarm_fields(struct http_req *r, const char *name, const char *type, const char *arn,
                         enum alarm_state s, const char *reason, int64_t updated, bool early)
{
    http_out(r, "{\"name\":");
    http_out_json_str(r, name);
    http_out(r, ",\"type\":\"%s\",\"arn\":", type);
    http_out_json_str(r, arn);
    http_out(r, ",\"state\":\"%s\",\"reason\":", alarm_state_name(s));
    http_out_json_str(r, reason);
    http_out(r, ",\"updated\":\"");
    http_out_iso(r, updated);
    http_out(r, "\",\"earlyFire\":%s", early ? "true" : "false");
}

static void alarm_json(struct http_req *r, const char *name, const char *type, const char *arn,
                       enum alarm_state s, const char *reason, int64_t updated, bool early)
{
    alarm_fields(r, name, type, arn, s, reason, updated, early);
    http_out(r, "}");
}

static void alarms(struct http_req *r)
{
    struct serve_engine *e = r->srv->engine;
    serve_engine_lock(e);
    http_out(r, "{\"alarms\":[");
    size_t n = serve_engine_alarm_count(e);
    for (size_t i = 0; i < n; i++) {
        const struct alarm *a = serve_engine_alarm(e, i);
        http_out(r, i ? "," : "");
        alarm_json(r, alarm_get_def(a)->name, "MetricAlarm", alarm_arn(a), alarm_get_state(a),
                   alarm_state_reason(a), alarm_state_updated_ms(a),
                   serve_engine_alarm_early(e, i));
    }
    for (size_t i = 0; i < serve_engine_composite_count(e); i++) {
        const struct alarm_composite *c = serve_engine_composite(e, i);
        http_out(r, i || n ? "," : "");
        alarm_json(r, alarm_composite_get_def(c)->name, "CompositeAlarm", alarm_composite_arn(c),
                   alarm_composite_state(c), alarm_composite_state_reason(c),
                   alarm_composite_state_updated_ms(c), false);
    }
    http_out(r, "]}\n");
    serve_engine_unlock(e);
}

static bool find_alarm(struct serve_engine *e, const char *name, const struct alarm **m,
                       const struct alarm_composite **c, size_t *index)
{
    *m = NULL;
    *c = NULL;
    for (size_t i = 0; i < serve_engine_alarm_count(e); i++)
        if (!strcmp(alarm_get_def(serve_engine_alarm(e, i))->name, name)) {
            *m = serve_engine_alarm(e, i);
            *index = i;
            return true;
        }
    for (size_t i = 0; i < serve_engine_composite_count(e); i++)
        if (!strcmp(alarm_composite_get_def(serve_engine_composite(e, i))->name, name)) {
            *c = serve_engine_composite(e, i);
            *index = i;
            return true;
        }
    return false;
}

/* Takes the engine lock and finds the alarm the URL names; on a miss answers
 * 404 and returns false with the lock released. */
static bool lock_alarm(struct http_req *r, const char *name, const struct alarm **m,
                       const struct alarm_composite **c, size_t *index)
{
    serve_engine_lock(r->srv->engine);
    if (find_alarm(r->srv->engine, name, m, c, index))
        return true;
    serve_engine_unlock(r->srv->engine);
    json_err(r, 404, "no such alarm");
    return false;
}

static void history(struct http_req *r, const char *name)
{
    struct serve_engine *e = r->srv->engine;
    const struct alarm *m;
    const struct alarm_composite *c;
    size_t idx;
    if (!lock_alarm(r, name, &m, &c, &idx))
        return;
    const struct alarm_history *h = m ? alarm_get_history(m) : alarm_composite_history(c);
    http_out(r, "{\"alarm\":");
    http_out_json_str(r, name);
    http_out(r, ",\"history\":[");
    for (size_t i = 0; i < alarm_history_count(h); i++) {
        const struct alarm_history_item *it = alarm_history_at(h, i);
        http_out(r, "%s{\"timestamp\":\"", i ? "," : "");
        http_out_iso(r, it->timestamp_ms);
        http_out(r, "\",\"type\":\"%s\",\"summary\":", alarm_history_type_name(it->type));
        http_out_json_str(r, it->summary);
        http_out(r, ",\"data\":%s}", it->data && *it->data ? it->data : "null");
    }
    http_out(r, "]}\n");
    serve_engine_unlock(e);
}

static void metrics_json(struct http_req *r)
{
    struct serve_engine *e = r->srv->engine;
    serve_engine_lock(e);
    const struct metric_store *st = serve_engine_store(e);
    http_out(r, "{\"metrics\":[");
    for (size_t i = 0; i < metric_store_series_count(st); i++) {
        const char *ns, *name, *unit;
        const struct metric_dim *dims;
        size_t nd;
        metric_store_describe(st, i, &ns, &name, &dims, &nd, &unit);
        double count = 0, sum = 0;
        metric_store_totals(st, i, &count, &sum);
        http_out(r, "%s{\"namespace\":", i ? "," : "");
        http_out_json_str(r, ns);
        http_out(r, ",\"metricName\":");
        http_out_json_str(r, name);
        http_out(r, ",\"dimensions\":{");
        for (size_t k = 0; k < nd; k++) {
            http_out(r, k ? "," : "");
            http_out_json_str(r, dims[k].name);
            http_out(r, ":");
            http_out_json_str(r, dims[k].value);
        }
        http_out(r, "},\"unit\":");
        http_out_json_str(r, unit);
        http_out(r, ",\"sampleCount\":%.17g,\"sum\":%.17g}", count, sum);
    }
    const struct metric_filters *mf = serve_engine_filters(e);
    http_out(r, "],\"filters\":{");
    for (size_t i = 0; i < metric_filters_count(mf); i++) {
        http_out(r, i ? "," : "");
        http_out_json_str(r, metric_filters_name(mf, i));
        http_out(r, ":{\"matched\":%llu}",
                 (unsigned long long)metric_filters_stats(mf, i)->matched);
    }
    http_out(r, "}}\n");
    serve_engine_unlock(e);
}

static const char *arg(struct http_req *r, const char *name)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    return v && *v ? v : NULL;
}

/* Event search over the recent-events ring: every given field must be equal
 * (principal matches the session issuer or the caller's own ARN). */
static void events(struct http_req *r)
{
    const char *principal = arg(r, "principal"), *key = arg(r, "key");
    const char *name = arg(r, "eventName"), *code = arg(r, "errorCode"), *ip = arg(r, "sourceIp");
    int64_t from = INT64_MIN, to = INT64_MAX;
    if ((arg(r, "from") && !http_parse_time(arg(r, "from"), &from)) ||
        (arg(r, "to") && !http_parse_time(arg(r, "to"), &to))) {
        json_err(r, 400, "from and to must be ISO 8601 times or epoch seconds");
        return;
    }
    size_t limit = 100;
    if (arg(r, "limit")) {
        char *end;
        unsigned long v = strtoul(arg(r, "limit"), &end, 10);
        if (*end || v < 1 || v > HTTP_EVENTS_LIMIT) {
            json_err(r, 400, "limit must be 1 to 1000");
            return;
        }
        limit = v;
    }
    struct serve_engine *e = r->srv->engine;
    serve_engine_lock(e);
    size_t total = serve_engine_recent_count(e), n = 0;
    http_out(r, "{\"ringSize\":%zu,\"ringCapacity\":%u,\"events\":[", total,
             (unsigned)SERVE_RING_MAX_EVENTS);
    /* newest first */
    for (size_t i = total; i-- > 0 && n < limit;) {
        const struct serve_recent *ev = serve_engine_recent(e, i);
        if (ev->time_ms < from || ev->time_ms >= to)
            continue;
        struct serve_recent_fields fv, *fl = &fv;
        serve_engine_recent_fields(e, ev, fl);
        if ((principal && strcmp(principal, fl->principal) &&
             strcmp(principal, fl->identity_arn)) ||
            (key && strcmp(key, fl->key)) || (name && strcmp(name, fl->event_name)) ||
            (code && strcmp(code, fl->error_code)) || (ip && strcmp(ip, fl->source_ip)))
            continue;
        http_out(r, "%s{\"eventTime\":\"", n ? "," : "");
        http_out_iso(r, ev->time_ms);
        http_out(r, "\",\"eventName\":");
        http_out_json_str(r, fl->event_name);
        http_out(r, ",\"eventID\":");
        http_out_json_str(r, fl->event_id);
        http_out(r, ",\"principal\":");
        http_out_json_str(r, fl->principal);
        http_out(r, ",\"key\":");
        http_out_json_str(r, fl->key);
        http_out(r, ",\"errorCode\":");
        http_out_json_str(r, fl->error_code);
        http_out(r, ",\"sourceIPAddress\":");
        http_out_json_str(r, fl->source_ip);
        http_out(r, ",\"origin\":{\"source\":");
        http_out_json_str(r, serve_engine_source(e, (size_t)ev->source)->name);
        http_out(r, ",\"file\":");
        http_out_json_str(r, ev->file);
        http_out(r, ",\"offset\":%llu,\"logGroup\":", (unsigned long long)ev->offset);
        http_out_json_str(r, ev->log_group);
        http_out(r, ",\"logStream\":");
        http_out_json_str(r, ev->stream);
        http_out(r, ",\"received\":\"");
        http_out_iso(r, ev->ingest_ms);
        http_out(r, "\"},\"record\":");
        http_out_json_str(r, ev->message);
        http_out(r, "}");
        n++;
    }
    http_out(r, "]}\n");
    serve_engine_unlock(e);
}

/* POST /api/push: a CloudTrail log file {"Records":[...]}, one record, or
 * NDJSON records. */
static void push(struct http_req *r)
{
    struct serve_engine *e = r->srv->engine;
    int src = r->srv->src_push;
    size_t counted = 0, bad = 0;
    /* ?logGroup=G: the records are put into G, so only G's metric filters
     * see them; without it every filter does (docs/serve.md) */
    const char *lg = arg(r, "logGroup");
    if (lg && *lg) {
        serve_engine_lock(e);
        bool exists = serve_engine_group_find(e, lg) != NULL;
        serve_engine_unlock(e);
        if (!exists) {
            json_err(r, 404, "The specified log group does not exist.");
            return;
        }
    }
    json_error_t jerr;
    json_t *doc = json_loadb(r->body ? r->body : "", r->body_len, 0, &jerr);
    json_t *recs = json_object_get(doc, "Records");
    if (json_is_array(recs)) {
        size_t i;
        json_t *rec;
        json_array_foreach(recs, i, rec)
        {
            char *s = json_dumps(rec, JSON_COMPACT);
            if (s && serve_engine_ingest_in(e, src, lg, s, strlen(s), INT64_MIN, NULL, NULL, i,
                                            r->now_ms))
                counted++;
            else
                bad++;
            free(s);
        }
    } else if (json_is_object(doc)) {
        /* one record, possibly pretty-printed */
        char *s = json_dumps(doc, JSON_COMPACT);
        if (s &&
            serve_engine_ingest_in(e, src, lg, s, strlen(s), INT64_MIN, NULL, NULL, 0, r->now_ms))
            counted++;
        else
            bad++;
        free(s);
    } else {
        /* NDJSON: each non-empty line is an event */
        const char *p = r->body ? r->body : "", *end = p + r->body_len;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *le = nl ? nl : end;
            size_t len = (size_t)(le - p);
            if (len && p[len - 1] == '\r')
                len--;
            if (len) {
                if (serve_engine_ingest_in(e, src, lg, p, len, INT64_MIN, NULL, NULL,
                                           (uint64_t)(p - r->body), r->now_ms))
                    counted++;
                else
                    bad++;
            }
            p = le + 1;
        }
    }
    json_decref(doc);
    http_out(r, "{\"accepted\":%zu,\"rejected\":%zu}\n", counted, bad);
}

/* Prometheus label values escape \, " and newline. */
static void prom_label(struct http_req *r, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            http_out(r, "\\%c", *s);
        else if (*s == '\n')
            http_out(r, "\\n");
        else
            http_add(r, s, 1);
    }
}

static void prom_head(struct http_req *r, const char *name, const char *type, const char *help)
{
    http_out(r, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prometheus(struct http_req *r)
{
    r->content_type = "text/plain; version=0.0.4";
    struct serve_engine *e = r->srv->engine;
    serve_engine_lock(e);
    static const struct {
        const char *name, *type, *help;
        int which;
    } src_metrics[] = {
        {"keysentry_source_events_total", "counter", "Events read per source since start.", 0},
        {"keysentry_source_bad_records_total", "counter", "Bad records skipped per source.", 1},
        {"keysentry_source_late_events_total", "counter",
         "Events that re-opened an already evaluated period.", 2},
        {"keysentry_source_untimed_events_total", "counter", "Events without a usable time.", 3},
        {"keysentry_source_lag_seconds", "gauge",
         "Delivery lag of the newest event: arrival minus event time.", 4},
        {"keysentry_source_lag_max_seconds", "gauge", "Largest delivery lag seen.", 5},
        {"keysentry_source_lag_avg_seconds", "gauge", "Mean delivery lag.", 6},
    };
    for (size_t m = 0; m < KS_ARRAY_LEN(src_metrics); m++) {
        prom_head(r, src_metrics[m].name, src_metrics[m].type, src_metrics[m].help);
        for (size_t i = 0; i < serve_engine_source_count(e); i++) {
            const struct serve_source_stats *s = serve_engine_source(e, i);
            http_out(r, "%s{source=\"", src_metrics[m].name);
            prom_label(r, s->name);
            double v = 0;
            switch (src_metrics[m].which) {
            case 0:
                v = (double)s->events;
                break;
            case 1:
                v = (double)s->bad;
                break;
            case 2:
                v = (double)s->late;
                break;
            case 3:
                v = (double)s->untimed;
                break;
            case 4:
                v = (double)s->lag_last_ms / 1000;
                break;
            case 5:
                v = (double)s->lag_max_ms / 1000;
                break;
            default:
                v = s->lag_count ? s->lag_sum_ms / (double)s->lag_count / 1000 : 0;
            }
            http_out(r, "\"} %.17g\n", v);
        }
    }
    const struct metric_filters *mf = serve_engine_filters(e);
    prom_head(r, "keysentry_filter_matches_total", "counter", "Events matched per metric filter.");
    for (size_t i = 0; i < metric_filters_count(mf); i++) {
        http_out(r, "keysentry_filter_matches_total{filter=\"");
        prom_label(r, metric_filters_name(mf, i));
        http_out(r, "\"} %llu\n", (unsigned long long)metric_filters_stats(mf, i)->matched);
    }
    prom_head(r, "keysentry_alarm_state", "gauge", "1 for the state each alarm is in.");
    static const enum alarm_state states[] = {ALARM_STATE_OK, ALARM_STATE_ALARM,
                                              ALARM_STATE_INSUFFICIENT_DATA};
    size_t na = serve_engine_alarm_count(e), nc = serve_engine_composite_count(e);
    for (size_t i = 0; i < na + nc; i++) {
        const char *name = i < na
                               ? alarm_get_def(serve_engine_alarm(e, i))->name
                               : alarm_composite_get_def(serve_engine_composite(e, i - na))->name;
        enum alarm_state cur = i < na ? alarm_get_state(serve_engine_alarm(e, i))
                                      : alarm_composite_state(serve_engine_composite(e, i - na));
        for (size_t k = 0; k < KS_ARRAY_LEN(states); k++) {
            http_out(r, "keysentry_alarm_state{alarm=\"");
            prom_label(r, name);
            http_out(r, "\",state=\"%s\"} %d\n", alarm_state_name(states[k]), cur == states[k]);
        }
    }
    prom_head(r, "keysentry_recent_events", "gauge", "Events held in the search ring.");
    http_out(r, "keysentry_recent_events %zu\n", serve_engine_recent_count(e));
    http_actions_prometheus(r);
    serve_engine_unlock(e);
}

/* ---- the dashboard's alarm views (docs/dashboard.md) ---------------------- */

#define HTTP_SERIES_MAX_POINTS 1440 /* periods one /series answer may hold */
#define HTTP_SERIES_DEFAULT_MS (3600 * 1000)

/* Lock held. Exactly one of *m and *c is set on success. */
/* Reason data comes from the evaluator, but SetAlarmState lets a client set
 * it: it is embedded as JSON only when it parses, else as a string. */
static void out_json_or_string(struct http_req *r, const char *s)
{
    if (!s || !*s) {
        http_out(r, "null");
        return;
    }
    json_t *j = json_loads(s, JSON_DECODE_ANY, NULL);
    if (j)
        http_out(r, "%s", s);
    else
        http_out_json_str(r, s);
    json_decref(j);
}

static void out_str_list(struct http_req *r, const char *const *v, size_t n)
{
    http_out(r, "[");
    for (size_t i = 0; i < n; i++) {
        http_out(r, i ? "," : "");
        http_out_json_str(r, v[i]);
    }
    http_out(r, "]");
}

/* GET /api/alarms/NAME: the definition and the current state. */
static void alarm_detail(struct http_req *r, const char *name)
{
    struct serve_engine *e = r->srv->engine;
    const struct alarm *m;
    const struct alarm_composite *c;
    size_t idx;
    if (!lock_alarm(r, name, &m, &c, &idx))
        return;
    if (m) {
        const struct alarm_def *d = alarm_get_def(m);
        alarm_fields(r, d->name, "MetricAlarm", alarm_arn(m), alarm_get_state(m),
                     alarm_state_reason(m), alarm_state_updated_ms(m),
                     serve_engine_alarm_early(e, idx));
        http_out(r, ",\"reasonData\":");
        out_json_or_string(r, alarm_state_reason_data(m));
        http_out(r, ",\"description\":");
        http_out_json_str(r, d->description);
        http_out(r, ",\"namespace\":");
        http_out_json_str(r, d->ns);
        http_out(r, ",\"metricName\":");
        http_out_json_str(r, d->metric_name);
        http_out(r, ",\"dimensions\":{");
        for (size_t k = 0; k < d->n_dimensions; k++) {
            http_out(r, k ? "," : "");
            http_out_json_str(r, d->dimensions[k].name);
            http_out(r, ":");
            http_out_json_str(r, d->dimensions[k].value);
        }
        http_out(r, "},\"statistic\":");
        if (d->statistic != ALARM_STAT_NONE)
            http_out_json_str(r, alarm_statistic_name(d->statistic));
        else
            http_out(r, "null");
        http_out(r, ",\"extendedStatistic\":");
        if (d->statistic == ALARM_STAT_NONE && d->extended_statistic)
            http_out_json_str(r, d->extended_statistic);
        else
            http_out(r, "null");
        http_out(r,
                 ",\"period\":%d,\"evaluationPeriods\":%d,\"datapointsToAlarm\":%d,\"threshold\":"
                 "%.17g,\"comparisonOperator\":",
                 (int)d->period, (int)d->evaluation_periods,
                 (int)(d->datapoints_to_alarm ? d->datapoints_to_alarm : d->evaluation_periods),
                 d->threshold);
        http_out_json_str(r, alarm_comparison_name(d->comparison));
        http_out(r, ",\"treatMissingData\":");
        http_out_json_str(r, alarm_treat_missing_name(d->treat_missing));
        http_out(r, ",\"unit\":");
        if (d->unit)
            http_out_json_str(r, d->unit);
        else
            http_out(r, "null");
        http_out(r,
                 ",\"actionsEnabled\":%s,\"alarmActions\":", d->actions_enabled ? "true" : "false");
        out_str_list(r, d->alarm_actions, d->n_alarm_actions);
        http_out(r, ",\"okActions\":");
        out_str_list(r, d->ok_actions, d->n_ok_actions);
        http_out(r, ",\"insufficientDataActions\":");
        out_str_list(r, d->insufficient_data_actions, d->n_insufficient_data_actions);
    } else {
        const struct alarm_composite_def *d = alarm_composite_get_def(c);
        alarm_fields(r, d->name, "CompositeAlarm", alarm_composite_arn(c), alarm_composite_state(c),
                     alarm_composite_state_reason(c), alarm_composite_state_updated_ms(c), false);
        http_out(r, ",\"reasonData\":");
        out_json_or_string(r, alarm_composite_state_reason_data(c));
        http_out(r, ",\"description\":");
        http_out_json_str(r, d->description);
        http_out(r, ",\"alarmRule\":");
        http_out_json_str(r, d->rule);
        http_out(r,
                 ",\"actionsEnabled\":%s,\"alarmActions\":", d->actions_enabled ? "true" : "false");
        out_str_list(r, d->alarm_actions, d->n_alarm_actions);
        http_out(r, ",\"okActions\":");
        out_str_list(r, d->ok_actions, d->n_ok_actions);
        http_out(r, ",\"insufficientDataActions\":");
        out_str_list(r, d->insufficient_data_actions, d->n_insufficient_data_actions);
    }
    http_out(r, "}\n");
    serve_engine_unlock(e);
}

/* A StateUpdate history item's old or new state; false when the data does
 * not say (hand-written history cannot crash the page). */
static bool history_state(json_t *data, const char *which, enum alarm_state *out, bool *early)
{
    json_t *st = json_object_get(data, which);
    const char *v = json_string_value(json_object_get(st, "stateValue"));
    if (!v)
        return false;
    static const enum alarm_state all[] = {ALARM_STATE_OK, ALARM_STATE_ALARM,
                                           ALARM_STATE_INSUFFICIENT_DATA};
    for (size_t i = 0; i < KS_ARRAY_LEN(all); i++) {
        if (!strcmp(v, alarm_state_name(all[i]))) {
            *out = all[i];
            if (early) {
                /* reason data may have been dropped for size (HistoryData
                 * caps at 4 KiB); the reason text says it too */
                const char *reason = json_string_value(json_object_get(st, "stateReason"));
                *early = json_is_true(json_object_get(json_object_get(st, "stateReasonData"),
                                                      "earlyFire")) ||
                         (reason && !strncmp(reason, "Threshold Crossed (early fire)", 30));
            }
            return true;
        }
    }
    return false;
}

struct state_span {
    enum alarm_state state;
    int64_t start, end;
};

/* The alarm's states over time from its history, oldest first. Before the
 * first kept StateUpdate the alarm was in that update's old state (since its
 * oldest kept item); after the last, in the current state. */
static size_t state_spans(const struct alarm_history *h, enum alarm_state current,
                          struct state_span **out)
{
    size_t n = alarm_history_count(h), k = 0;
    struct state_span *v = ks_xcalloc(n + 1, sizeof(*v));
    int64_t since = n ? alarm_history_at(h, 0)->timestamp_ms : INT64_MIN;
    enum alarm_state cur = current;
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        const struct alarm_history_item *it = alarm_history_at(h, i);
        if (it->type != ALARM_HISTORY_STATE_UPDATE || !it->data)
            continue;
        json_t *data = json_loads(it->data, 0, NULL);
        enum alarm_state from, to;
        if (data && history_state(data, "newState", &to, NULL)) {
            if (first && !history_state(data, "oldState", &from, NULL))
                from = to;
            v[k++] = (struct state_span){first ? from : cur, since, it->timestamp_ms};
            cur = to;
            since = it->timestamp_ms;
            first = false;
        }
        json_decref(data);
    }
    v[k++] = (struct state_span){first ? current : cur, since, INT64_MAX};
    *out = v;
    return k;
}

/* GET /api/alarms/NAME/series?start=&end=: the alarm's statistic for each
 * period in the range (periods without samples are left out, as
 * GetMetricStatistics does) and the state spans that draw the bands. */
static void alarm_series(struct http_req *r, const char *name)
{
    int64_t end = r->now_ms, start;
    if (arg(r, "end") && !http_parse_time(arg(r, "end"), &end)) {
        json_err(r, 400, "end must be an ISO 8601 time or epoch seconds");
        return;
    }
    start = end - HTTP_SERIES_DEFAULT_MS;
    if (arg(r, "start") && !http_parse_time(arg(r, "start"), &start)) {
        json_err(r, 400, "start must be an ISO 8601 time or epoch seconds");
        return;
    }
    if (start >= end) {
        json_err(r, 400, "start must be before end");
        return;
    }
    struct serve_engine *e = r->srv->engine;
    const struct alarm *m;
    const struct alarm_composite *c;
    size_t idx;
    if (!lock_alarm(r, name, &m, &c, &idx))
        return;
    if (!m) {
        serve_engine_unlock(e);
        json_err(r, 404, "a composite alarm has no metric series");
        return;
    }
    const struct alarm_def *d = alarm_get_def(m);
    int64_t p = (int64_t)d->period * 1000;
    /* periods align to the epoch, as CloudWatch aligns them */
    int64_t first = start - ((start % p) + p) % p;
    if ((end - first) / p >= HTTP_SERIES_MAX_POINTS) {
        serve_engine_unlock(e);
        char msg[160];
        snprintf(msg, sizeof(msg), "the range holds more than %d periods of %d s; narrow it",
                 HTTP_SERIES_MAX_POINTS, (int)d->period);
        json_err(r, 400, msg);
        return;
    }
    http_out(r, "{\"alarm\":");
    http_out_json_str(r, d->name);
    http_out(r, ",\"start\":\"");
    http_out_iso(r, first);
    http_out(r, "\",\"end\":\"");
    http_out_iso(r, end);
    http_out(r, "\",\"period\":%d,\"statistic\":", (int)d->period);
    http_out_json_str(r, d->statistic != ALARM_STAT_NONE ? alarm_statistic_name(d->statistic)
                                                         : d->extended_statistic);
    http_out(r, ",\"threshold\":%.17g,\"comparisonOperator\":", d->threshold);
    http_out_json_str(r, alarm_comparison_name(d->comparison));
    http_out(r, ",\"datapoints\":[");
    const struct metric_store *st = serve_engine_store(e);
    size_t n = 0;
    for (int64_t t = first; t < end; t += p) {
        struct alarm_datapoint dp;
        if (!serve_alarm_query((void *)(uintptr_t)st, d, t, t + p, &dp) || !isfinite(dp.value))
            continue;
        http_out(r, "%s{\"timestamp\":\"", n++ ? "," : "");
        http_out_iso(r, t);
        http_out(r, "\",\"value\":%.17g,\"sampleCount\":%.17g}", dp.value, dp.sample_count);
    }
    http_out(r, "],\"states\":[");
    struct state_span *spans;
    size_t ns = state_spans(alarm_get_history(m), alarm_get_state(m), &spans);
    n = 0;
    for (size_t i = 0; i < ns; i++) {
        int64_t s0 = spans[i].start > first ? spans[i].start : first;
        int64_t s1 = spans[i].end < end ? spans[i].end : end;
        if (s0 >= s1)
            continue;
        http_out(r, "%s{\"state\":\"%s\",\"start\":\"", n++ ? "," : "",
                 alarm_state_name(spans[i].state));
        http_out_iso(r, s0);
        http_out(r, "\",\"end\":\"");
        http_out_iso(r, s1);
        http_out(r, "\"}");
    }
    free(spans);
    http_out(r, "]}\n");
    serve_engine_unlock(e);
}

/* GET /api/alarms/NAME/context: who was behind the last transition to ALARM
 * (the keysentryContext block notifications carry, over the same window). */
static void alarm_context(struct http_req *r, const char *name)
{
    struct serve_engine *e = r->srv->engine;
    const struct alarm *m;
    const struct alarm_composite *c;
    size_t idx;
    if (!lock_alarm(r, name, &m, &c, &idx))
        return;
    const struct alarm_history *h = m ? alarm_get_history(m) : alarm_composite_history(c);
    int64_t when = INT64_MIN;
    bool early = false;
    for (size_t i = alarm_history_count(h); i-- > 0 && when == INT64_MIN;) {
        const struct alarm_history_item *it = alarm_history_at(h, i);
        if (it->type != ALARM_HISTORY_STATE_UPDATE || !it->data)
            continue;
        json_t *data = json_loads(it->data, 0, NULL);
        enum alarm_state to;
        bool is_early = false;
        if (data && history_state(data, "newState", &to, &is_early) && to == ALARM_STATE_ALARM) {
            when = it->timestamp_ms;
            early = is_early;
        }
        json_decref(data);
    }
    http_out(r, "{\"alarm\":");
    http_out_json_str(r, name);
    if (when == INT64_MIN) {
        http_out(r, ",\"lastAlarm\":null,\"context\":null}\n");
        serve_engine_unlock(e);
        return;
    }
    http_out(r, ",\"lastAlarm\":\"");
    http_out_iso(r, when);
    http_out(r, "\",\"earlyFire\":%s,\"context\":", early ? "true" : "false");
    if (!m) {
        /* a composite has no metric of its own: its children carry the
         * events */
        http_out(r, "null}\n");
        serve_engine_unlock(e);
        return;
    }
    const struct alarm_def *d = alarm_get_def(m);
    int64_t start, end;
    serve_alarm_window(d, when, early, &start, &end);
    struct notify_context_acc *acc = notify_context_acc_new();
    serve_alarm_context(serve_engine_filters(e), serve_engine_store(e), d, start, end, acc);
    struct notify_context ctx;
    notify_context_acc_get(acc, start, end, &ctx);
    struct ks_buf cj;
    ks_buf_init(&cj, 1u << 20);
    if (notify_context_json(&ctx, &cj) == KS_OK)
        http_add(r, cj.data, cj.len);
    else
        http_out(r, "null");
    ks_buf_release(&cj);
    notify_context_acc_free(acc);
    http_out(r, "}\n");
    serve_engine_unlock(e);
}

/* /api/alarms/NAME[/SUFFIX]: NAME may hold '/', so the suffix is matched at
 * the end, as /history always was. Returns false when u is not such a path. */
static bool alarm_route(struct http_req *r, const char *u)
{
    static const struct {
        const char *suffix;
        void (*fn)(struct http_req *r, const char *name);
    } routes[] = {
        {"/history", history},
        {"/series", alarm_series},
        {"/context", alarm_context},
        {"", alarm_detail},
    };
    const char *rest = u + 12; /* "/api/alarms/" */
    size_t len = strlen(rest);
    for (size_t i = 0; i < KS_ARRAY_LEN(routes); i++) {
        size_t sl = strlen(routes[i].suffix);
        if (len > sl && !strcmp(rest + len - sl, routes[i].suffix)) {
            char *name = ks_xmemdup(rest, len - sl);
            routes[i].fn(r, name);
            free(name);
            return true;
        }
    }
    return false;
}

void http_api(struct http_req *r)
{
    const char *u = r->url;
    bool get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
    if (!strcmp(u, "/healthz") && get) {
        r->content_type = "text/plain";
        http_out(r, "ok\n");
    } else if (!strcmp(u, "/metrics") && get) {
        prometheus(r);
    } else if (!strcmp(u, "/api/alarms") && get) {
        alarms(r);
    } else if (!strncmp(u, "/api/alarms/", 12) && get && alarm_route(r, u)) {
        /* answered */
    } else if (!strcmp(u, "/api/metrics") && get) {
        metrics_json(r);
    } else if (!strcmp(u, "/api/events") && get) {
        events(r);
    } else if (!strcmp(u, "/api/deliveries") && get) {
        http_deliveries(r);
    } else if (!strcmp(u, "/api/responses") && get) {
        http_responses(r);
    } else if (!strcmp(u, "/api/push") && !strcmp(r->method, "POST")) {
        push(r);
    } else {
        json_err(r, 404, "no such endpoint");
    }
}
