/* SPDX-License-Identifier: Apache-2.0 */
/*
 * API-created alarms and metric filters in SQLite (see serve_persist.h).
 *
 * A definition is stored as one JSON text: the alarm and filter structs are
 * borrowed-pointer views with many optional fields, and a JSON column keeps
 * the schema stable when a field is added (a missing key reads as the
 * default). Numbers go through jansson's shortest round-trip formatting, so
 * a threshold reads back bit for bit.
 */
#include "serve/serve_persist.h"

#include <jansson.h>

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *str_list(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static enum ks_err put_row(struct serve_engine *e, const char *sql, const char *k1, const char *k2,
                           const char *text, int64_t ms, struct ks_diag *diag)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(store_db(e->db), sql, -1, &q, NULL) != SQLITE_OK)
        return store_fail(e->db, diag, "saving an API change");
    int i = 1;
    sqlite3_bind_text(q, i++, k1, -1, SQLITE_STATIC);
    if (k2)
        sqlite3_bind_text(q, i++, k2, -1, SQLITE_STATIC);
    if (text)
        sqlite3_bind_text(q, i++, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, i++);
    sqlite3_bind_int64(q, i, ms);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? KS_OK : store_fail(e->db, diag, "saving an API change");
}

#define ALARM_SQL "INSERT OR REPLACE INTO serve_api_alarms (name, def, updated_ms) VALUES (?, ?, ?)"
#define FILTER_SQL                                                                                 \
    "INSERT OR REPLACE INTO serve_api_filters (log_group, name, def, created_ms) VALUES (?, ?, "   \
    "?, ?)"

enum ks_err serve_persist_alarm(struct serve_engine *e, const struct alarm_def *def, int64_t now_ms,
                                struct ks_diag *diag)
{
    if (!e->db)
        return KS_OK;
    json_t *dims = json_array();
    for (size_t i = 0; i < def->n_dimensions; i++)
        json_array_append_new(dims, json_pack("{s:s, s:s}", "name", def->dimensions[i].name,
                                              "value", def->dimensions[i].value));
    json_t *o = json_object();
    json_object_set_new(o, "description", str_or_null(def->description));
    json_object_set_new(o, "namespace", str_or_null(def->ns));
    json_object_set_new(o, "metricName", str_or_null(def->metric_name));
    json_object_set_new(o, "dimensions", dims);
    json_object_set_new(o, "statistic", json_string(alarm_statistic_name(def->statistic)));
    json_object_set_new(o, "extendedStatistic", str_or_null(def->extended_statistic));
    json_object_set_new(o, "period", json_integer(def->period));
    json_object_set_new(o, "evaluationPeriods", json_integer(def->evaluation_periods));
    json_object_set_new(o, "datapointsToAlarm", json_integer(def->datapoints_to_alarm));
    json_object_set_new(o, "threshold", json_real(def->threshold));
    json_object_set_new(o, "comparison", json_string(alarm_comparison_name(def->comparison)));
    json_object_set_new(o, "treatMissing",
                        json_string(alarm_treat_missing_name(def->treat_missing)));
    json_object_set_new(o, "lowSample", json_string(alarm_low_sample_name(def->low_sample)));
    json_object_set_new(o, "unit", str_or_null(def->unit));
    json_object_set_new(o, "actionsEnabled", json_boolean(def->actions_enabled));
    json_object_set_new(o, "alarmActions", str_list(def->alarm_actions, def->n_alarm_actions));
    json_object_set_new(o, "okActions", str_list(def->ok_actions, def->n_ok_actions));
    json_object_set_new(o, "insufficientDataActions",
                        str_list(def->insufficient_data_actions, def->n_insufficient_data_actions));
    json_object_set_new(o, "region", str_or_null(def->region));
    json_object_set_new(o, "account", str_or_null(def->account));
    json_object_set_new(o, "rangeExtra", json_integer(def->range_extra));
    json_object_set_new(o, "historyMax", json_integer((json_int_t)def->history_max));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    enum ks_err err = put_row(e, ALARM_SQL, def->name, NULL, text, now_ms, diag);
    free(text);
    return err;
}

enum ks_err serve_persist_alarm_delete(struct serve_engine *e, const char *name, int64_t now_ms,
                                       struct ks_diag *diag)
{
    return e->db ? put_row(e, ALARM_SQL, name, NULL, NULL, now_ms, diag) : KS_OK;
}

enum ks_err serve_persist_filter(struct serve_engine *e, const char *log_group,
                                 const struct metric_filter_def *def, int64_t created_ms,
                                 struct ks_diag *diag)
{
    if (!e->db)
        return KS_OK;
    json_t *dims = json_array();
    for (size_t i = 0; i < def->ndims && i < METRIC_MAX_DIMENSIONS; i++)
        json_array_append_new(
            dims, json_pack("{s:s, s:s}", "key", def->dims[i].key, "ref", def->dims[i].ref));
    json_t *o = json_object();
    json_object_set_new(o, "pattern", str_or_null(def->pattern));
    json_object_set_new(o, "namespace", str_or_null(def->namespace_));
    json_object_set_new(o, "metricName", str_or_null(def->metric_name));
    json_object_set_new(o, "value", str_or_null(def->value));
    json_object_set_new(o, "hasDefault", json_boolean(def->has_default));
    json_object_set_new(o, "defaultValue", json_real(def->default_value));
    json_object_set_new(o, "unit", str_or_null(def->unit));
    json_object_set_new(o, "dimensions", dims);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    enum ks_err err = put_row(e, FILTER_SQL, log_group, def->name, text, created_ms, diag);
    free(text);
    return err;
}

enum ks_err serve_persist_filter_delete(struct serve_engine *e, const char *log_group,
                                        const char *name, int64_t now_ms, struct ks_diag *diag)
{
    return e->db ? put_row(e, FILTER_SQL, log_group, name, NULL, now_ms, diag) : KS_OK;
}

/* ---- start ------------------------------------------------------------------ */

static const char *sget(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int64_t iget(json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

static size_t strs(json_t *a, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(a) && n < max; i++)
        if (json_is_string(json_array_get(a, i)))
            out[n++] = json_string_value(json_array_get(a, i));
    return n;
}

static void load_alarm(struct serve_engine *e, const char *name, const char *text, int64_t now_ms)
{
    if (!text) {
        if (serve_engine_delete_alarm(e, name))
            serve_log(e, "info", "alarm '%s' stays deleted (DeleteAlarms before the restart)",
                      name);
        return;
    }
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    struct alarm_def def;
    alarm_def_init(&def);
    struct alarm_dimension dims[ALARM_MAX_DIMENSIONS];
    const char *aa[ALARM_MAX_ACTIONS], *oa[ALARM_MAX_ACTIONS], *ia[ALARM_MAX_ACTIONS];
    json_t *jd = json_object_get(o, "dimensions");
    for (size_t i = 0; i < json_array_size(jd) && def.n_dimensions < ALARM_MAX_DIMENSIONS; i++) {
        const char *dn = sget(json_array_get(jd, i), "name");
        const char *dv = sget(json_array_get(jd, i), "value");
        if (dn && dv)
            dims[def.n_dimensions++] = (struct alarm_dimension){dn, dv};
    }
    def.name = name;
    def.description = sget(o, "description");
    def.ns = sget(o, "namespace");
    def.metric_name = sget(o, "metricName");
    def.dimensions = dims;
    const char *st = sget(o, "statistic");
    if (st && *st && !alarm_statistic_parse(st, &def.statistic))
        def.statistic = ALARM_STAT_NONE;
    def.extended_statistic = sget(o, "extendedStatistic");
    def.period = (int32_t)iget(o, "period");
    def.evaluation_periods = (int32_t)iget(o, "evaluationPeriods");
    def.datapoints_to_alarm = (int32_t)iget(o, "datapointsToAlarm");
    def.threshold = json_number_value(json_object_get(o, "threshold"));
    const char *cmp = sget(o, "comparison"), *tmd = sget(o, "treatMissing"),
               *low = sget(o, "lowSample");
    bool ok = o && cmp && alarm_comparison_parse(cmp, &def.comparison);
    if (tmd && !alarm_treat_missing_parse(tmd, &def.treat_missing))
        ok = false;
    if (low && *low && !alarm_low_sample_parse(low, &def.low_sample))
        ok = false;
    def.unit = sget(o, "unit");
    def.actions_enabled = json_is_true(json_object_get(o, "actionsEnabled"));
    def.alarm_actions = aa;
    def.n_alarm_actions = strs(json_object_get(o, "alarmActions"), aa, ALARM_MAX_ACTIONS);
    def.ok_actions = oa;
    def.n_ok_actions = strs(json_object_get(o, "okActions"), oa, ALARM_MAX_ACTIONS);
    def.insufficient_data_actions = ia;
    def.n_insufficient_data_actions =
        strs(json_object_get(o, "insufficientDataActions"), ia, ALARM_MAX_ACTIONS);
    def.region = sget(o, "region");
    def.account = sget(o, "account");
    def.range_extra = (int32_t)iget(o, "rangeExtra");
    def.history_max = (size_t)iget(o, "historyMax");
    struct ks_diag d;
    ks_diag_clear(&d);
    if (!ok)
        serve_log(e, "warn", "saved alarm '%s' is unreadable; skipped", name);
    else if (serve_engine_put_alarm(e, &def, now_ms, &d) != KS_OK)
        serve_log(e, "warn", "saved alarm '%s' no longer applies (%s); skipped", name, d.msg);
    json_decref(o);
}

static void load_filter(struct serve_engine *e, const char *group, const char *name,
                        const char *text, int64_t created_ms, int64_t now_ms)
{
    if (!text) {
        if (serve_engine_delete_filter(e, group, name))
            serve_log(e, "info", "metric filter '%s' stays deleted", name);
        return;
    }
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    struct metric_filter_def def = {
        .name = name,
        .pattern = sget(o, "pattern"),
        .namespace_ = sget(o, "namespace"),
        .metric_name = sget(o, "metricName"),
        .value = sget(o, "value"),
        .has_default = json_is_true(json_object_get(o, "hasDefault")),
        .default_value = json_number_value(json_object_get(o, "defaultValue")),
        .unit = sget(o, "unit"),
    };
    json_t *jd = json_object_get(o, "dimensions");
    for (size_t i = 0; i < json_array_size(jd) && def.ndims < METRIC_MAX_DIMENSIONS; i++) {
        const char *k = sget(json_array_get(jd, i), "key"), *r = sget(json_array_get(jd, i), "ref");
        if (k && r)
            def.dims[def.ndims++] = (struct metric_dimension_def){k, r};
    }
    struct ks_diag d;
    ks_diag_clear(&d);
    /* a log group created through the API is not kept itself: its filter
     * brings it back */
    if (!serve_engine_group_find(e, group) &&
        serve_engine_create_group(e, group, created_ms, &d) != KS_OK)
        serve_log(e, "warn", "cannot recreate log group '%s': %s", group, d.msg);
    ks_diag_clear(&d);
    if (!o || !def.pattern || !def.namespace_ || !def.metric_name || !def.value) {
        serve_log(e, "warn", "saved metric filter '%s' is unreadable; skipped", name);
    } else if (serve_engine_put_filter(e, group, &def, created_ms, &d) != KS_OK) {
        serve_log(e, "warn", "saved metric filter '%s' no longer applies (%s); skipped", name,
                  d.msg);
    }
    (void)now_ms;
    json_decref(o);
}

enum ks_err serve_persist_load(struct serve_engine *e, int64_t now_ms, struct ks_diag *diag)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(store_db(e->db),
                           "SELECT log_group, name, def, created_ms FROM serve_api_filters "
                           "ORDER BY created_ms, rowid",
                           -1, &q, NULL) != SQLITE_OK)
        return store_fail(e->db, diag, "reading API-created metric filters");
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *g = (const char *)sqlite3_column_text(q, 0);
        const char *n = (const char *)sqlite3_column_text(q, 1);
        if (g && n)
            load_filter(e, g, n, (const char *)sqlite3_column_text(q, 2),
                        sqlite3_column_int64(q, 3), now_ms);
    }
    sqlite3_finalize(q);
    if (sqlite3_prepare_v2(store_db(e->db),
                           "SELECT name, def FROM serve_api_alarms ORDER BY updated_ms, rowid", -1,
                           &q, NULL) != SQLITE_OK)
        return store_fail(e->db, diag, "reading API-created alarms");
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *n = (const char *)sqlite3_column_text(q, 0);
        if (n)
            load_alarm(e, n, (const char *)sqlite3_column_text(q, 1), now_ms);
    }
    sqlite3_finalize(q);
    return KS_OK;
}
