/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resolved properties -> typed resources.
 *
 * Each supported type has a property table (name, type, required) written
 * after the AWS resource specification (alarms.md §14, metric-filters.md §4).
 * A property table drives the generic checks: unknown property (with a "did
 * you mean"), wrong type, missing required; errors carry the logical path
 * (Resources.X.Properties.MetricTransformations[0].MetricValue) and point at
 * the offending node. Value rules AWS enforces at creation (enumerations,
 * ranges, exclusive groups) follow per type. Only then are the values copied
 * into the typed structs, so the copy code can trust shapes.
 */
#include "config/config_int.h"

enum ptype {
    T_STR,
    T_NUM,
    T_INT,
    T_BOOL,
    T_STRLIST,
    T_OBJ,
    T_OBJLIST,
    T_JSON, /* a mapping or list, or a string holding JSON (policies) */
    T_ANY,
};

#define REQ   1u /* required */
#define UNSUP 2u /* an AWS property keysentry refuses rather than ignores */

struct pdef {
    const char *name;
    enum ptype type;
    unsigned flags;
    const struct pdef *sub;
};

static const struct pdef tag_props[] = {
    {"Key", T_STR, REQ, NULL},
    {"Value", T_STR, REQ, NULL},
    {NULL, T_ANY, 0, NULL},
};
#define TAGS T_OBJLIST, 0, tag_props

static const struct pdef log_group_props[] = {
    {"DataProtectionPolicy", T_JSON, 0, NULL},
    {"FieldIndexPolicies", T_ANY, 0, NULL},
    {"KmsKeyId", T_STR, 0, NULL},
    {"LogGroupClass", T_STR, 0, NULL},
    {"LogGroupName", T_STR, 0, NULL},
    {"ResourcePolicyDocument", T_JSON, 0, NULL},
    {"RetentionInDays", T_INT, 0, NULL},
    {"Tags", TAGS},
    {NULL, T_ANY, 0, NULL},
};

static const struct pdef mf_dimension_props[] = {
    {"Key", T_STR, REQ, NULL},
    {"Value", T_STR, REQ, NULL},
    {NULL, T_ANY, 0, NULL},
};

static const struct pdef transformation_props[] = {
    {"DefaultValue", T_NUM, 0, NULL},
    {"Dimensions", T_OBJLIST, 0, mf_dimension_props},
    {"MetricName", T_STR, REQ, NULL},
    {"MetricNamespace", T_STR, REQ, NULL},
    {"MetricValue", T_STR, REQ, NULL},
    {"Unit", T_STR, 0, NULL},
    {NULL, T_ANY, 0, NULL},
};

static const struct pdef metric_filter_props[] = {
    {"ApplyOnTransformedLogs", T_BOOL, 0, NULL},
    {"EmitSystemFieldDimensions", T_ANY, UNSUP, NULL},
    {"FieldSelectionCriteria", T_ANY, UNSUP, NULL},
    {"FilterName", T_STR, 0, NULL},
    {"FilterPattern", T_STR, REQ, NULL},
    {"LogGroupName", T_STR, REQ, NULL},
    {"MetricTransformations", T_OBJLIST, REQ, transformation_props},
    {NULL, T_ANY, 0, NULL},
};

static const struct pdef alarm_dimension_props[] = {
    {"Name", T_STR, REQ, NULL},
    {"Value", T_STR, REQ, NULL},
    {NULL, T_ANY, 0, NULL},
};

static const struct pdef metric_props[] = {
    {"Dimensions", T_OBJLIST, 0, alarm_dimension_props},
    {"MetricName", T_STR, 0, NULL},
    {"Namespace", T_STR, 0, NULL},
    {NULL, T_ANY, 0, NULL},
};

static const struct pdef metric_stat_props[] = {
    {"Metric", T_OBJ, REQ, metric_props},
    {"Period", T_INT, REQ, NULL},
    {"Stat", T_STR, REQ, NULL},
    {"Unit", T_STR, 0, NULL},
    {NULL, T_ANY, 0, NULL},
};

static const struct pdef query_props[] = {
    {"AccountId", T_STR, 0, NULL},
    {"Expression", T_STR, 0, NULL},
    {"Id", T_STR, REQ, NULL},
    {"Label", T_STR, 0, NULL},
    {"MetricStat", T_OBJ, 0, metric_stat_props},
    {"Period", T_INT, 0, NULL},
    {"ReturnData", T_BOOL, 0, NULL},
    {NULL, T_ANY, 0, NULL},
};

static const struct pdef alarm_props[] = {
    {"ActionsEnabled", T_BOOL, 0, NULL},
    {"AlarmActions", T_STRLIST, 0, NULL},
    {"AlarmDescription", T_STR, 0, NULL},
    {"AlarmName", T_STR, 0, NULL},
    {"ComparisonOperator", T_STR, REQ, NULL},
    {"DatapointsToAlarm", T_INT, 0, NULL},
    {"Dimensions", T_OBJLIST, 0, alarm_dimension_props},
    {"EvaluateLowSampleCountPercentile", T_STR, 0, NULL},
    {"EvaluationPeriods", T_INT, REQ, NULL},
    {"ExtendedStatistic", T_STR, 0, NULL},
    {"InsufficientDataActions", T_STRLIST, 0, NULL},
    {"MetricName", T_STR, 0, NULL},
    {"Metrics", T_OBJLIST, 0, query_props},
    {"Namespace", T_STR, 0, NULL},
    {"OKActions", T_STRLIST, 0, NULL},
    {"Period", T_INT, 0, NULL},
    {"Statistic", T_STR, 0, NULL},
    {"Tags", TAGS},
    {"Threshold", T_NUM, 0, NULL},
    {"ThresholdMetricId", T_STR, 0, NULL},
    {"TreatMissingData", T_STR, 0, NULL},
    {"Unit", T_STR, 0, NULL},
    {NULL, T_ANY, 0, NULL},
};

static const struct pdef composite_props[] = {
    {"ActionsEnabled", T_BOOL, 0, NULL},
    {"ActionsSuppressor", T_STR, 0, NULL},
    {"ActionsSuppressorExtensionPeriod", T_INT, 0, NULL},
    {"ActionsSuppressorWaitPeriod", T_INT, 0, NULL},
    {"AlarmActions", T_STRLIST, 0, NULL},
    {"AlarmDescription", T_STR, 0, NULL},
    {"AlarmName", T_STR, 0, NULL},
    {"AlarmRule", T_STR, REQ, NULL},
    {"InsufficientDataActions", T_STRLIST, 0, NULL},
    {"OKActions", T_STRLIST, 0, NULL},
    {"Tags", TAGS},
    {NULL, T_ANY, 0, NULL},
};

static const struct pdef inline_sub_props[] = {
    {"Endpoint", T_STR, REQ, NULL},
    {"Protocol", T_STR, REQ, NULL},
    {NULL, T_ANY, 0, NULL},
};

static const struct pdef logging_props[] = {
    {"FailureFeedbackRoleArn", T_STR, 0, NULL},
    {"Protocol", T_STR, REQ, NULL},
    {"SuccessFeedbackRoleArn", T_STR, 0, NULL},
    {"SuccessFeedbackSampleRate", T_STR, 0, NULL},
    {NULL, T_ANY, 0, NULL},
};

static const struct pdef topic_props[] = {
    {"ArchivePolicy", T_JSON, 0, NULL},
    {"ContentBasedDeduplication", T_BOOL, 0, NULL},
    {"DataProtectionPolicy", T_JSON, 0, NULL},
    {"DeliveryStatusLogging", T_OBJLIST, 0, logging_props},
    {"DisplayName", T_STR, 0, NULL},
    {"FifoThroughputScope", T_STR, 0, NULL},
    {"FifoTopic", T_BOOL, 0, NULL},
    {"KmsMasterKeyId", T_STR, 0, NULL},
    {"SignatureVersion", T_STR, 0, NULL},
    {"Subscription", T_OBJLIST, 0, inline_sub_props},
    {"Tags", TAGS},
    {"TopicName", T_STR, 0, NULL},
    {"TracingConfig", T_STR, 0, NULL},
    {NULL, T_ANY, 0, NULL},
};

static const struct pdef subscription_props[] = {
    {"DeliveryPolicy", T_JSON, 0, NULL}, {"Endpoint", T_STR, 0, NULL},
    {"FilterPolicy", T_JSON, 0, NULL},   {"FilterPolicyScope", T_STR, 0, NULL},
    {"Protocol", T_STR, REQ, NULL},      {"RawMessageDelivery", T_BOOL, 0, NULL},
    {"RedrivePolicy", T_JSON, 0, NULL},  {"Region", T_STR, 0, NULL},
    {"ReplayPolicy", T_JSON, 0, NULL},   {"SubscriptionRoleArn", T_STR, 0, NULL},
    {"TopicArn", T_STR, REQ, NULL},      {NULL, T_ANY, 0, NULL},
};

/* ---- generic checks ---- */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t sub = prev + ((a[i - 1] | 32) != (b[j - 1] | 32));
            size_t best = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            prev = cur;
        }
    }
    return row[lb];
}

static const char *suggest(const struct pdef *schema, const char *name)
{
    const char *best = NULL;
    size_t bd = 3;
    for (const struct pdef *d = schema; d->name; d++) {
        size_t e = edit_distance(name, d->name);
        if (e < bd) {
            bd = e;
            best = d->name;
        }
    }
    return best;
}

static const char *type_word(enum ptype t)
{
    switch (t) {
    case T_STR:
        return "a string";
    case T_NUM:
        return "a number";
    case T_INT:
        return "an integer";
    case T_BOOL:
        return "a boolean (true or false)";
    case T_STRLIST:
        return "a list of strings";
    case T_OBJ:
        return "a mapping";
    case T_OBJLIST:
        return "a list of mappings";
    case T_JSON:
        return "a JSON object";
    case T_ANY:
        break;
    }
    return "a value";
}

static enum ks_err validate(struct cfg *c, const struct pdef *schema, const struct cnode *obj,
                            const struct cnode *at);

static enum ks_err check_type(struct cfg *c, const struct pdef *d, const struct cnode *v)
{
    double num;
    bool b;
    switch (d->type) {
    case T_STR:
        if (v->kind == CNODE_STR)
            return KS_OK;
        break;
    case T_NUM:
        if (cnode_number(v, &num))
            return KS_OK;
        break;
    case T_INT:
        /* range first: converting a huge double to an integer is undefined */
        if (cnode_number(v, &num) && num > -1e15 && num < 1e15 && num == (double)(long long)num)
            return KS_OK;
        break;
    case T_BOOL:
        if (cnode_bool(v, &b))
            return KS_OK;
        break;
    case T_STRLIST:
        if (v->kind != CNODE_SEQ)
            break;
        for (size_t i = 0; i < v->len; i++) {
            if (v->kids[i]->kind != CNODE_STR) {
                size_t mark = cfg_path_push(c, "[%zu]", i);
                enum ks_err err = cfg_error(c, v->kids[i], KS_E_INVALID, "expected a string");
                cfg_path_pop(c, mark);
                return err;
            }
        }
        return KS_OK;
    case T_OBJ:
        if (v->kind != CNODE_MAP)
            break;
        return validate(c, d->sub, v, v);
    case T_OBJLIST:
        if (v->kind != CNODE_SEQ)
            break;
        for (size_t i = 0; i < v->len; i++) {
            size_t mark = cfg_path_push(c, "[%zu]", i);
            enum ks_err err = v->kids[i]->kind == CNODE_MAP
                                  ? validate(c, d->sub, v->kids[i], v->kids[i])
                                  : cfg_error(c, v->kids[i], KS_E_INVALID, "expected a mapping");
            cfg_path_pop(c, mark);
            if (err)
                return err;
        }
        return KS_OK;
    case T_JSON:
        if (v->kind == CNODE_MAP || v->kind == CNODE_SEQ)
            return KS_OK;
        if (v->kind == CNODE_STR) {
            json_t *j = json_loads(v->str, JSON_DECODE_ANY, NULL);
            bool ok = j && (json_is_object(j) || json_is_array(j));
            json_decref(j);
            if (ok)
                return KS_OK;
        }
        break;
    case T_ANY:
        return KS_OK;
    }
    return cfg_error(c, v, KS_E_INVALID, "expected %s", type_word(d->type));
}

/* Checks obj against schema; "missing" errors point at at. */
static enum ks_err validate(struct cfg *c, const struct pdef *schema, const struct cnode *obj,
                            const struct cnode *at)
{
    for (size_t i = 0; i < obj->len; i++) {
        const struct cnode *key = obj->kids[2 * i], *v = obj->kids[2 * i + 1];
        const struct pdef *d = schema;
        while (d->name && strcmp(d->name, key->str) != 0)
            d++;
        size_t mark = cfg_path_push(c, ".%s", key->str);
        enum ks_err err = KS_OK;
        if (!d->name) {
            const char *s = suggest(schema, key->str);
            err = s ? cfg_error(c, key, KS_E_INVALID, "unknown property '%s' (did you mean '%s'?)",
                                key->str, s)
                    : cfg_error(c, key, KS_E_INVALID, "unknown property '%s'", key->str);
        } else if (d->flags & UNSUP) {
            err = cfg_error(c, key, KS_E_INVALID, "property '%s' is not supported by keysentry",
                            key->str);
        } else {
            err = check_type(c, d, v);
        }
        cfg_path_pop(c, mark);
        if (err)
            return err;
    }
    for (const struct pdef *d = schema; d->name; d++)
        if ((d->flags & REQ) && !cnode_get(obj, d->name))
            return cfg_error(c, at, KS_E_INVALID, "missing required property '%s'", d->name);
    return KS_OK;
}

/* ---- value access (after validation) ---- */

static char *gstr(struct cfg *c, const struct cnode *obj, const char *k)
{
    const struct cnode *v = cnode_get(obj, k);
    return v ? mem_strndup(c->out, v->str, v->len) : NULL;
}

static bool gnum(const struct cnode *obj, const char *k, double *out)
{
    const struct cnode *v = cnode_get(obj, k);
    *out = 0;
    return v && cnode_number(v, out);
}

static bool gbool(const struct cnode *obj, const char *k, bool dflt)
{
    bool b = dflt;
    const struct cnode *v = cnode_get(obj, k);
    if (v)
        cnode_bool(v, &b);
    return b;
}

static struct config_strings gstrs(struct cfg *c, const struct cnode *obj, const char *k)
{
    struct config_strings s = {0};
    const struct cnode *v = cnode_get(obj, k);
    if (!v || v->len == 0)
        return s;
    s.v = mem_zalloc(c->out, v->len, sizeof(*s.v));
    for (size_t i = 0; i < v->len; i++)
        s.v[s.n++] = mem_strndup(c->out, v->kids[i]->str, v->kids[i]->len);
    return s;
}

static char *gjson(struct cfg *c, const struct cnode *obj, const char *k)
{
    const struct cnode *v = cnode_get(obj, k);
    if (!v)
        return NULL;
    json_t *j = v->kind == CNODE_STR ? json_loads(v->str, JSON_DECODE_ANY, NULL) : cnode_to_json(v);
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    char *out = mem_strdup(c->out, s ? s : "null");
    free(s);
    json_decref(j);
    return out;
}

static size_t gtags(struct cfg *c, const struct cnode *obj, struct config_tag **out)
{
    const struct cnode *v = cnode_get(obj, "Tags");
    *out = NULL;
    if (!v || v->len == 0)
        return 0;
    *out = mem_zalloc(c->out, v->len, sizeof(**out));
    for (size_t i = 0; i < v->len; i++) {
        (*out)[i].key = gstr(c, v->kids[i], "Key");
        (*out)[i].value = gstr(c, v->kids[i], "Value");
    }
    return v->len;
}

static size_t gdims(struct cfg *c, const struct cnode *obj, const char *namekey,
                    struct config_dimension **out)
{
    const struct cnode *v = cnode_get(obj, "Dimensions");
    *out = NULL;
    if (!v || v->len == 0)
        return 0;
    *out = mem_zalloc(c->out, v->len, sizeof(**out));
    for (size_t i = 0; i < v->len; i++) {
        (*out)[i].name = gstr(c, v->kids[i], namekey);
        (*out)[i].value = gstr(c, v->kids[i], "Value");
    }
    return v->len;
}

/* An error about property k of obj (path pushed, node = its value). */
static enum ks_err prop_error(struct cfg *c, const struct cnode *obj, const char *k,
                              const char *fmt, ...) KS_PRINTF(4, 5);

static enum ks_err prop_error(struct cfg *c, const struct cnode *obj, const char *k,
                              const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t mark = cfg_path_push(c, ".%s", k);
    const struct cnode *v = cnode_get(obj, k);
    enum ks_err err = cfg_error(c, v ? v : obj, KS_E_INVALID, "%s", msg);
    cfg_path_pop(c, mark);
    return err;
}

/* Checks that string property k, if present, is one of the words. */
static enum ks_err one_of(struct cfg *c, const struct cnode *obj, const char *k,
                          const char *const *words, size_t n)
{
    const struct cnode *v = cnode_get(obj, k);
    if (!v)
        return KS_OK;
    for (size_t i = 0; i < n; i++)
        if (strcmp(v->str, words[i]) == 0)
            return KS_OK;
    char list[200];
    size_t o = 0;
    for (size_t i = 0; i < n && o < sizeof(list); i++) {
        int w = snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", words[i]);
        o += w > 0 ? (size_t)w : 0;
    }
    return prop_error(c, obj, k, "'%s' is not one of: %s", v->str, list);
}

static enum ks_err length_in(struct cfg *c, const struct cnode *obj, const char *k, size_t min,
                             size_t max)
{
    const struct cnode *v = cnode_get(obj, k);
    if (v && (v->len < min || v->len > max))
        return prop_error(c, obj, k, "length %zu is outside %zu..%zu", v->len, min, max);
    return KS_OK;
}

static enum ks_err max_items(struct cfg *c, const struct cnode *obj, const char *k, size_t max)
{
    const struct cnode *v = cnode_get(obj, k);
    if (v && v->len > max)
        return prop_error(c, obj, k, "%zu items; at most %zu allowed", v->len, max);
    return KS_OK;
}

static const char *const statistics[] = {"SampleCount", "Average", "Sum", "Minimum", "Maximum"};

/* ---- per type ---- */

static void fill_base(struct cfg *c, const struct cres *r, struct config_resource *b)
{
    b->logical_id = mem_strdup(c->out, r->id);
    b->type = mem_strdup(c->out, r->type);
    b->pos = cfg_pos(r->key);
    b->condition = mem_strdup(c->out, r->condition);
    const struct cnode *v = cnode_get(r->def, "DeletionPolicy");
    b->deletion_policy = v ? mem_strdup(c->out, v->str) : NULL;
    v = cnode_get(r->def, "UpdateReplacePolicy");
    b->update_replace_policy = v ? mem_strdup(c->out, v->str) : NULL;
    v = cnode_get(r->def, "DependsOn");
    if (v && v->kind == CNODE_STR) {
        b->depends_on.v = mem_zalloc(c->out, 1, sizeof(char *));
        b->depends_on.v[b->depends_on.n++] = mem_strdup(c->out, v->str);
    } else if (v) {
        b->depends_on = gstrs(c, r->def, "DependsOn");
    }
    v = cnode_get(r->def, "Metadata");
    b->metadata = v ? cnode_to_json(v) : NULL;
}

static const char *const retention_days[] = {
    "1",   "3",   "5",   "7",   "14",   "30",   "60",   "90",   "120",  "150",  "180",
    "365", "400", "545", "731", "1096", "1827", "2192", "2557", "2922", "3288", "3653",
};

static enum ks_err build_log_group(struct cfg *c, struct cres *r, const struct cnode *p,
                                   struct config_log_group *g)
{
    enum ks_err err;
    const struct cnode *v = cnode_get(p, "RetentionInDays");
    if (v) {
        double d;
        cnode_number(v, &d);
        bool ok = false;
        for (size_t i = 0; i < KS_ARRAY_LEN(retention_days) && !ok; i++)
            ok = d == strtod(retention_days[i], NULL);
        if (!ok)
            return prop_error(c, p, "RetentionInDays",
                              "%g is not a retention AWS offers (1, 3, 5, 7, 14, 30, 60, 90, 120, "
                              "150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, "
                              "3653)",
                              d);
    }
    static const char *const classes[] = {"STANDARD", "INFREQUENT_ACCESS", "DELIVERY"};
    if ((err = one_of(c, p, "LogGroupClass", classes, KS_ARRAY_LEN(classes))))
        return err;
    if (strlen(r->name) < 1 || strlen(r->name) > 512 ||
        strspn(r->name, "._-/#ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") !=
            strlen(r->name))
        return prop_error(c, p, "LogGroupName",
                          "'%s' is not a log group name (1-512 of A-Z a-z 0-9 . _ - / #)", r->name);
    fill_base(c, r, &g->res);
    g->name = mem_strdup(c->out, r->name);
    g->name_given = cnode_get(p, "LogGroupName") != NULL;
    g->arn = mem_printf(c->out, "arn:%s:logs:%s:%s:log-group:%s:*", c->partition, c->region,
                        c->account, r->name);
    g->has_retention_in_days = gnum(p, "RetentionInDays", &g->retention_in_days);
    g->kms_key_id = gstr(c, p, "KmsKeyId");
    g->log_group_class = gstr(c, p, "LogGroupClass");
    g->n_tags = gtags(c, p, &g->tags);
    return KS_OK;
}

static enum ks_err check_transformation(struct cfg *c, const struct cnode *t)
{
    enum ks_err err;
    const struct cnode *name = cnode_get(t, "MetricName"), *ns = cnode_get(t, "MetricNamespace");
    const struct cnode *val = cnode_get(t, "MetricValue"), *dims = cnode_get(t, "Dimensions");
    if (name->len < 1 || name->len > 255 || strpbrk(name->str, ":*$"))
        return prop_error(c, t, "MetricName", "'%s' is not a metric name (1-255, no : * $)",
                          name->str);
    /* ':' is accepted in namespaces: AWS did in a recorded test (metric-filters.md M6) */
    if (ns->len < 1 || ns->len > 255 || strpbrk(ns->str, "*$"))
        return prop_error(c, t, "MetricNamespace", "'%s' is not a namespace (1-255, no * $)",
                          ns->str);
    double d;
    if (val->len < 1 || val->len > 100 || (val->str[0] != '$' && !cnode_number(val, &d)))
        return prop_error(c, t, "MetricValue",
                          "'%s' is neither a number nor a field reference ($.field or $name)",
                          val->str);
    if ((err = one_of(c, t, "Unit", ks_cw_units, ks_cw_units_count)))
        return err;
    if (dims && dims->len > 3)
        return prop_error(c, t, "Dimensions", "%zu dimensions; at most 3 allowed", dims->len);
    if (dims && dims->len && cnode_get(t, "DefaultValue"))
        return prop_error(c, t, "DefaultValue",
                          "DefaultValue cannot be combined with Dimensions (AWS refuses it)");
    for (size_t i = 0; dims && i < dims->len; i++) {
        const struct cnode *k = cnode_get(dims->kids[i], "Key");
        const struct cnode *v = cnode_get(dims->kids[i], "Value");
        size_t mark = cfg_path_push(c, ".Dimensions[%zu]", i);
        if (k->len < 1 || k->len > 255 || k->str[0] == ':' || strspn(k->str, " \t") == k->len)
            err = prop_error(c, dims->kids[i], "Key", "'%s' is not a dimension name", k->str);
        else if (v->str[0] != '$')
            err = prop_error(c, dims->kids[i], "Value",
                             "'%s' is not a field reference ($.field or $name)", v->str);
        cfg_path_pop(c, mark);
        if (err)
            return err;
    }
    return KS_OK;
}

static enum ks_err build_metric_filter(struct cfg *c, struct cres *r, const struct cnode *p,
                                       struct config_metric_filter *f)
{
    enum ks_err err;
    const struct cnode *list = cnode_get(p, "MetricTransformations");
    if (list->len != 1)
        return prop_error(c, p, "MetricTransformations",
                          "%zu transformations; AWS takes exactly one", list->len);
    if ((err = length_in(c, p, "FilterPattern", 0, KS_MAX_PATTERN_BYTES)))
        return err;
    if ((err = length_in(c, p, "LogGroupName", 1, 512)))
        return err;
    if (strlen(r->name) < 1 || strlen(r->name) > 512 || strpbrk(r->name, ":*"))
        return prop_error(c, p, "FilterName", "'%s' is not a filter name (1-512, no : or *)",
                          r->name);
    size_t mark = cfg_path_push(c, ".MetricTransformations[0]");
    err = check_transformation(c, list->kids[0]);
    cfg_path_pop(c, mark);
    if (err)
        return err;
    fill_base(c, r, &f->res);
    f->filter_name = mem_strdup(c->out, r->name);
    f->filter_name_given = cnode_get(p, "FilterName") != NULL;
    const struct cnode *pat = cnode_get(p, "FilterPattern");
    f->filter_pattern = mem_strndup(c->out, pat->str, pat->len);
    f->filter_pattern_pos = cfg_pos(pat);
    f->filter_pattern_offset = pat->text_off;
    f->log_group_name = gstr(c, p, "LogGroupName");
    f->apply_on_transformed_logs = gbool(p, "ApplyOnTransformedLogs", false);
    f->n_transformations = list->len;
    f->transformations = mem_zalloc(c->out, list->len, sizeof(*f->transformations));
    for (size_t i = 0; i < list->len; i++) {
        const struct cnode *t = list->kids[i];
        struct config_metric_transformation *m = &f->transformations[i];
        m->metric_name = gstr(c, t, "MetricName");
        m->metric_namespace = gstr(c, t, "MetricNamespace");
        m->metric_value = gstr(c, t, "MetricValue");
        m->has_default_value = gnum(t, "DefaultValue", &m->default_value);
        m->unit = gstr(c, t, "Unit");
        m->n_dimensions = gdims(c, t, "Key", &m->dimensions);
        m->pos = cfg_pos(t);
    }
    return KS_OK;
}

static bool valid_period(double p)
{
    return p == 10 || p == 20 || p == 30 ||
           (p >= 60 && p < 1e15 && p == (double)((long long)p / 60 * 60));
}

static bool valid_extended_statistic(const char *s)
{
    /* pNN or pNN.d...; AWS's trimmed/winsorized forms are left to the
     * evaluator, which may reject them (alarms.md §2.1) */
    if (s[0] != 'p' || !s[1])
        return true;
    char *end;
    double d = strtod(s + 1, &end);
    return *end == '\0' && d >= 0 && d <= 100;
}

static enum ks_err check_query(struct cfg *c, const struct cnode *q, const struct cnode *all,
                               size_t index)
{
    const struct cnode *id = cnode_get(q, "Id");
    if (!(id->str[0] >= 'a' && id->str[0] <= 'z') ||
        strspn(id->str, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
            id->len ||
        id->len > 255)
        return prop_error(c, q, "Id",
                          "'%s' is not a query id (a lower-case letter, then letters, digits, _)",
                          id->str);
    for (size_t j = 0; j < index; j++)
        if (strcmp(cnode_get(all->kids[j], "Id")->str, id->str) == 0)
            return prop_error(c, q, "Id", "duplicate query id '%s'", id->str);
    bool has_expr = cnode_get(q, "Expression") != NULL, has_stat = cnode_get(q, "MetricStat");
    if (has_expr == has_stat)
        return cfg_error(c, q, KS_E_INVALID,
                         "a query needs exactly one of Expression and MetricStat");
    const struct cnode *ms = cnode_get(q, "MetricStat");
    if (ms) {
        double per;
        gnum(ms, "Period", &per);
        if (!valid_period(per)) {
            size_t mark = cfg_path_push(c, ".MetricStat");
            enum ks_err err = prop_error(
                c, ms, "Period", "%g is not a period (10, 20, 30 or a multiple of 60)", per);
            cfg_path_pop(c, mark);
            return err;
        }
    }
    return KS_OK;
}

static enum ks_err check_alarm(struct cfg *c, const struct cnode *p)
{
    static const char *const ops[] = {
        "GreaterThanOrEqualToThreshold",
        "GreaterThanThreshold",
        "LessThanThreshold",
        "LessThanOrEqualToThreshold",
        "LessThanLowerOrGreaterThanUpperThreshold",
        "LessThanLowerThreshold",
        "GreaterThanUpperThreshold",
    };
    static const char *const missing[] = {"missing", "ignore", "breaching", "notBreaching"};
    static const char *const lowcount[] = {"evaluate", "ignore"};
    enum ks_err err;
    if ((err = one_of(c, p, "ComparisonOperator", ops, KS_ARRAY_LEN(ops))) ||
        (err = one_of(c, p, "Statistic", statistics, KS_ARRAY_LEN(statistics))) ||
        (err = one_of(c, p, "TreatMissingData", missing, KS_ARRAY_LEN(missing))) ||
        (err =
             one_of(c, p, "EvaluateLowSampleCountPercentile", lowcount, KS_ARRAY_LEN(lowcount))) ||
        (err = one_of(c, p, "Unit", ks_cw_units, ks_cw_units_count)) ||
        (err = length_in(c, p, "AlarmDescription", 0, 1024)) ||
        (err = max_items(c, p, "AlarmActions", 5)) || (err = max_items(c, p, "OKActions", 5)) ||
        (err = max_items(c, p, "InsufficientDataActions", 5)) ||
        (err = max_items(c, p, "Dimensions", 30)) || (err = max_items(c, p, "Metrics", 20)) ||
        (err = max_items(c, p, "Tags", 50)))
        return err;
    const struct cnode *metrics = cnode_get(p, "Metrics");
    double evals, dta, period = 0;
    gnum(p, "EvaluationPeriods", &evals);
    if (evals < 1)
        return prop_error(c, p, "EvaluationPeriods", "must be at least 1");
    if (gnum(p, "DatapointsToAlarm", &dta) && (dta < 1 || dta > evals))
        return prop_error(c, p, "DatapointsToAlarm", "%g is outside 1..EvaluationPeriods (%g)", dta,
                          evals);
    const struct cnode *ext = cnode_get(p, "ExtendedStatistic");
    if (ext && !valid_extended_statistic(ext->str))
        return prop_error(c, p, "ExtendedStatistic", "'%s' is not a percentile p0-p100", ext->str);
    if (metrics) {
        static const char *const excl[] = {"MetricName", "Namespace", "Dimensions",       "Period",
                                           "Unit",       "Statistic", "ExtendedStatistic"};
        for (size_t i = 0; i < KS_ARRAY_LEN(excl); i++)
            if (cnode_get(p, excl[i]))
                return prop_error(c, p, excl[i], "%s cannot be combined with Metrics", excl[i]);
        if (metrics->len == 0)
            return prop_error(c, p, "Metrics", "Metrics is empty");
        for (size_t i = 0; i < metrics->len; i++) {
            size_t mark = cfg_path_push(c, ".Metrics[%zu]", i);
            err = check_query(c, metrics->kids[i], metrics, i);
            cfg_path_pop(c, mark);
            if (err)
                return err;
        }
    } else {
        if (!cnode_get(p, "MetricName") || !cnode_get(p, "Namespace"))
            return cfg_error(c, p, KS_E_INVALID,
                             "an alarm needs MetricName and Namespace, or Metrics");
        if (!gnum(p, "Period", &period))
            return cfg_error(c, p, KS_E_INVALID, "missing required property 'Period'");
        if (!valid_period(period))
            return prop_error(c, p, "Period", "%g is not a period (10, 20, 30 or a multiple of 60)",
                              period);
        if (!cnode_get(p, "Statistic") == !ext)
            return cfg_error(c, p, KS_E_INVALID,
                             "an alarm needs exactly one of Statistic and ExtendedStatistic");
        double span = period * evals;
        if (span > 604800 || (period < 3600 && span > 86400))
            return prop_error(c, p, "EvaluationPeriods",
                              "Period x EvaluationPeriods = %g s exceeds AWS's limit (%s)", span,
                              period < 3600 ? "1 day when Period < 1 hour" : "7 days");
    }
    const char *op = cnode_get(p, "ComparisonOperator")->str;
    bool band = strstr(op, "Lower") || strstr(op, "Upper");
    if (band) {
        if (!cnode_get(p, "ThresholdMetricId"))
            return prop_error(c, p, "ComparisonOperator",
                              "%s needs ThresholdMetricId (an anomaly detection band)", op);
        if (cnode_get(p, "Threshold"))
            return prop_error(c, p, "Threshold", "Threshold cannot be combined with %s", op);
        const char *tid = cnode_get(p, "ThresholdMetricId")->str;
        bool found = false;
        for (size_t i = 0; metrics && i < metrics->len && !found; i++)
            found = strcmp(cnode_get(metrics->kids[i], "Id")->str, tid) == 0;
        if (!found)
            return prop_error(c, p, "ThresholdMetricId", "no query in Metrics has Id '%s'", tid);
    } else {
        if (!cnode_get(p, "Threshold"))
            return cfg_error(c, p, KS_E_INVALID, "missing required property 'Threshold' (%s)", op);
        if (cnode_get(p, "ThresholdMetricId"))
            return prop_error(c, p, "ThresholdMetricId",
                              "ThresholdMetricId only goes with the anomaly band operators");
    }
    return KS_OK;
}

static void build_stat(struct cfg *c, const struct cnode *ms, struct config_metric_stat *s)
{
    const struct cnode *m = cnode_get(ms, "Metric");
    s->namespace = gstr(c, m, "Namespace");
    s->metric_name = gstr(c, m, "MetricName");
    s->n_dimensions = gdims(c, m, "Name", &s->dimensions);
    gnum(ms, "Period", &s->period);
    s->stat = gstr(c, ms, "Stat");
    s->unit = gstr(c, ms, "Unit");
}

static enum ks_err build_alarm(struct cfg *c, struct cres *r, const struct cnode *p,
                               struct config_alarm *a)
{
    enum ks_err err = check_alarm(c, p);
    if (err)
        return err;
    if (strlen(r->name) < 1 || strlen(r->name) > 255)
        return prop_error(c, p, "AlarmName", "length %zu is outside 1..255", strlen(r->name));
    fill_base(c, r, &a->res);
    a->name = mem_strdup(c->out, r->name);
    a->name_given = cnode_get(p, "AlarmName") != NULL;
    a->arn = mem_printf(c->out, "arn:%s:cloudwatch:%s:%s:alarm:%s", c->partition, c->region,
                        c->account, r->name);
    a->description = gstr(c, p, "AlarmDescription");
    a->actions_enabled = gbool(p, "ActionsEnabled", true);
    a->alarm_actions = gstrs(c, p, "AlarmActions");
    a->ok_actions = gstrs(c, p, "OKActions");
    a->insufficient_data_actions = gstrs(c, p, "InsufficientDataActions");
    a->metric_name = gstr(c, p, "MetricName");
    a->namespace = gstr(c, p, "Namespace");
    a->n_dimensions = gdims(c, p, "Name", &a->dimensions);
    a->statistic = gstr(c, p, "Statistic");
    a->extended_statistic = gstr(c, p, "ExtendedStatistic");
    a->has_period = gnum(p, "Period", &a->period);
    a->unit = gstr(c, p, "Unit");
    gnum(p, "EvaluationPeriods", &a->evaluation_periods);
    a->has_datapoints_to_alarm = gnum(p, "DatapointsToAlarm", &a->datapoints_to_alarm);
    if (!a->has_datapoints_to_alarm)
        a->datapoints_to_alarm = a->evaluation_periods;
    a->has_threshold = gnum(p, "Threshold", &a->threshold);
    a->threshold_metric_id = gstr(c, p, "ThresholdMetricId");
    a->comparison_operator = gstr(c, p, "ComparisonOperator");
    a->treat_missing_data = gstr(c, p, "TreatMissingData");
    if (!a->treat_missing_data)
        a->treat_missing_data = mem_strdup(c->out, "missing");
    a->evaluate_low_sample_count_percentile = gstr(c, p, "EvaluateLowSampleCountPercentile");
    a->n_tags = gtags(c, p, &a->tags);
    const struct cnode *metrics = cnode_get(p, "Metrics");
    if (metrics && metrics->len) {
        a->n_metrics = metrics->len;
        a->metrics = mem_zalloc(c->out, metrics->len, sizeof(*a->metrics));
        for (size_t i = 0; i < metrics->len; i++) {
            const struct cnode *q = metrics->kids[i];
            struct config_metric_query *m = &a->metrics[i];
            m->id = gstr(c, q, "Id");
            m->expression = gstr(c, q, "Expression");
            m->label = gstr(c, q, "Label");
            m->account_id = gstr(c, q, "AccountId");
            const struct cnode *ms = cnode_get(q, "MetricStat");
            m->has_metric_stat = ms != NULL;
            if (ms)
                build_stat(c, ms, &m->metric_stat);
            m->has_period = gnum(q, "Period", &m->period);
            m->has_return_data = cnode_get(q, "ReturnData") != NULL;
            m->return_data = gbool(q, "ReturnData", true);
            m->pos = cfg_pos(q);
        }
    }
    return KS_OK;
}

static enum ks_err build_composite(struct cfg *c, struct cres *r, const struct cnode *p,
                                   struct config_composite_alarm *a)
{
    enum ks_err err;
    if ((err = length_in(c, p, "AlarmRule", 1, 10240)) ||
        (err = length_in(c, p, "AlarmDescription", 0, 1024)) ||
        (err = length_in(c, p, "ActionsSuppressor", 1, 1600)) ||
        (err = max_items(c, p, "AlarmActions", 5)) || (err = max_items(c, p, "OKActions", 5)) ||
        (err = max_items(c, p, "InsufficientDataActions", 5)))
        return err;
    bool sup = cnode_get(p, "ActionsSuppressor") != NULL;
    bool wait = cnode_get(p, "ActionsSuppressorWaitPeriod") != NULL;
    bool ext = cnode_get(p, "ActionsSuppressorExtensionPeriod") != NULL;
    if (sup && (!wait || !ext))
        return prop_error(c, p, "ActionsSuppressor",
                          "ActionsSuppressor needs ActionsSuppressorWaitPeriod and "
                          "ActionsSuppressorExtensionPeriod");
    if (!sup && (wait || ext))
        return prop_error(c, p,
                          wait ? "ActionsSuppressorWaitPeriod" : "ActionsSuppressorExtensionPeriod",
                          "suppressor periods need ActionsSuppressor");
    if (strlen(r->name) < 1 || strlen(r->name) > 255)
        return prop_error(c, p, "AlarmName", "length %zu is outside 1..255", strlen(r->name));
    fill_base(c, r, &a->res);
    a->name = mem_strdup(c->out, r->name);
    a->name_given = cnode_get(p, "AlarmName") != NULL;
    a->arn = mem_printf(c->out, "arn:%s:cloudwatch:%s:%s:alarm:%s", c->partition, c->region,
                        c->account, r->name);
    a->description = gstr(c, p, "AlarmDescription");
    a->alarm_rule = gstr(c, p, "AlarmRule");
    a->alarm_rule_pos = cfg_pos(cnode_get(p, "AlarmRule"));
    a->actions_enabled = gbool(p, "ActionsEnabled", true);
    a->alarm_actions = gstrs(c, p, "AlarmActions");
    a->ok_actions = gstrs(c, p, "OKActions");
    a->insufficient_data_actions = gstrs(c, p, "InsufficientDataActions");
    a->actions_suppressor = gstr(c, p, "ActionsSuppressor");
    gnum(p, "ActionsSuppressorWaitPeriod", &a->actions_suppressor_wait_period);
    gnum(p, "ActionsSuppressorExtensionPeriod", &a->actions_suppressor_extension_period);
    a->n_tags = gtags(c, p, &a->tags);
    return KS_OK;
}

static const char *const protocols[] = {"http", "https",  "email",       "email-json", "sms",
                                        "sqs",  "lambda", "application", "firehose"};

/* Protocol and Endpoint rules shared by inline and resource subscriptions. */
static enum ks_err check_endpoint(struct cfg *c, const struct cnode *s)
{
    enum ks_err err = one_of(c, s, "Protocol", protocols, KS_ARRAY_LEN(protocols));
    if (err)
        return err;
    const char *proto = cnode_get(s, "Protocol")->str;
    const struct cnode *ep = cnode_get(s, "Endpoint");
    bool needs = strcmp(proto, "email") == 0 || strcmp(proto, "email-json") == 0 ||
                 strcmp(proto, "http") == 0 || strcmp(proto, "https") == 0 ||
                 strcmp(proto, "sms") == 0;
    if (needs && !ep)
        return cfg_error(c, s, KS_E_INVALID, "protocol %s needs an Endpoint", proto);
    if (!ep)
        return KS_OK;
    if (strncmp(proto, "email", 5) == 0 && (!strchr(ep->str, '@') || ep->str[0] == '@'))
        return prop_error(c, s, "Endpoint", "'%s' is not an e-mail address", ep->str);
    if (strcmp(proto, "http") == 0 && strncmp(ep->str, "http://", 7) != 0)
        return prop_error(c, s, "Endpoint", "'%s' is not an http:// URL", ep->str);
    if (strcmp(proto, "https") == 0 && strncmp(ep->str, "https://", 8) != 0)
        return prop_error(c, s, "Endpoint", "'%s' is not an https:// URL", ep->str);
    return KS_OK;
}

/* Inline subscriptions go to *inl (n_inl of them), joined to the
 * template's list once all resources are built. */
static enum ks_err build_topic(struct cfg *c, struct cres *r, const struct cnode *p,
                               struct config_topic *t, struct config_subscription **inl,
                               size_t *n_inl)
{
    enum ks_err err;
    bool fifo = gbool(p, "FifoTopic", false);
    size_t n = strlen(r->name);
    size_t base = fifo && n > 5 ? n - 5 : n;
    if (n < 1 || n > 256 || (fifo && (n <= 5 || strcmp(r->name + base, ".fifo") != 0)) ||
        strspn(r->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != base)
        return prop_error(c, p, "TopicName",
                          fifo ? "'%s' is not a FIFO topic name (1-256 of A-Z a-z 0-9 _ -, "
                                 "ending in .fifo)"
                               : "'%s' is not a topic name (1-256 of A-Z a-z 0-9 _ -)",
                          r->name);
    if ((err = length_in(c, p, "DisplayName", 0, 100)))
        return err;
    const struct cnode *subs = cnode_get(p, "Subscription");
    for (size_t i = 0; subs && i < subs->len; i++) {
        size_t mark = cfg_path_push(c, ".Subscription[%zu]", i);
        err = check_endpoint(c, subs->kids[i]);
        cfg_path_pop(c, mark);
        if (err)
            return err;
    }
    fill_base(c, r, &t->res);
    t->name = mem_strdup(c->out, r->name);
    t->name_given = cnode_get(p, "TopicName") != NULL;
    t->arn = mem_strdup(c->out, r->ref);
    t->display_name = gstr(c, p, "DisplayName");
    t->kms_master_key_id = gstr(c, p, "KmsMasterKeyId");
    t->fifo_topic = fifo;
    t->content_based_deduplication = gbool(p, "ContentBasedDeduplication", false);
    t->signature_version = gstr(c, p, "SignatureVersion");
    t->tracing_config = gstr(c, p, "TracingConfig");
    t->n_tags = gtags(c, p, &t->tags);
    *n_inl = subs ? subs->len : 0;
    *inl = mem_zalloc(&c->tmp, *n_inl + 1, sizeof(**inl));
    for (size_t i = 0; subs && i < subs->len; i++) {
        struct config_subscription *s = &(*inl)[i];
        fill_base(c, r, &s->res);
        s->res.pos = cfg_pos(subs->kids[i]);
        s->is_inline = true;
        s->topic_arn = mem_strdup(c->out, r->ref);
        char tag[48];
        snprintf(tag, sizeof(tag), "Subscription[%zu]", i);
        s->arn = mem_printf(c->out, "%s:%s", r->ref, cfg_uuid(c, r->id, tag));
        s->protocol = gstr(c, subs->kids[i], "Protocol");
        s->endpoint = gstr(c, subs->kids[i], "Endpoint");
    }
    return KS_OK;
}

static enum ks_err build_subscription(struct cfg *c, struct cres *r, const struct cnode *p,
                                      struct config_subscription *s)
{
    static const char *const scopes[] = {"MessageAttributes", "MessageBody"};
    enum ks_err err = check_endpoint(c, p);
    if (!err)
        err = one_of(c, p, "FilterPolicyScope", scopes, KS_ARRAY_LEN(scopes));
    if (err)
        return err;
    fill_base(c, r, &s->res);
    s->arn = mem_strdup(c->out, r->ref);
    s->topic_arn = gstr(c, p, "TopicArn");
    s->protocol = gstr(c, p, "Protocol");
    s->endpoint = gstr(c, p, "Endpoint");
    s->raw_message_delivery = gbool(p, "RawMessageDelivery", false);
    s->filter_policy = gjson(c, p, "FilterPolicy");
    s->filter_policy_scope = gstr(c, p, "FilterPolicyScope");
    s->delivery_policy = gjson(c, p, "DeliveryPolicy");
    s->redrive_policy = gjson(c, p, "RedrivePolicy");
    s->region = gstr(c, p, "Region");
    s->subscription_role_arn = gstr(c, p, "SubscriptionRoleArn");
    return KS_OK;
}

static const struct pdef *schema_of(enum res_kind k)
{
    switch (k) {
    case RES_LOG_GROUP:
        return log_group_props;
    case RES_METRIC_FILTER:
        return metric_filter_props;
    case RES_ALARM:
        return alarm_props;
    case RES_COMPOSITE_ALARM:
        return composite_props;
    case RES_TOPIC:
        return topic_props;
    case RES_SUBSCRIPTION:
        return subscription_props;
    default:
        return NULL;
    }
}

/* Resolves r's Properties into *out (an empty map when absent). */
static enum ks_err resolve_props(struct cfg *c, struct cres *r, const struct cnode **out)
{
    static const struct cnode empty = {.kind = CNODE_MAP, .text_off = SIZE_MAX};
    if (!r->props) {
        *out = &empty;
        return KS_OK;
    }
    enum ks_err err = cfg_eval(c, r->props, out);
    if (!err && (*out)->kind == CNODE_NOVALUE)
        *out = &empty;
    else if (!err && (*out)->kind != CNODE_MAP)
        err = cfg_error(c, r->props, KS_E_INVALID, "expected a mapping");
    return err;
}

struct inline_subs {
    struct config_subscription *v;
    size_t n;
};

static enum ks_err build_one(struct cfg *c, struct cres *r, struct config_template *t,
                             struct inline_subs *inl)
{
    const struct cnode *p;
    enum ks_err err = cfg_resource_name(c, r);
    if (err)
        return err;
    size_t mark = cfg_path_push(c, "Resources.%s.Properties", r->id);
    err = resolve_props(c, r, &p);
    const struct cnode *at = cnode_get_key(r->def, "Properties");
    if (!err && r->kind != RES_CUSTOM)
        err = validate(c, schema_of(r->kind), p, at ? at : r->key);
    if (err)
        goto out;
    switch (r->kind) {
    case RES_LOG_GROUP:
        err = build_log_group(c, r, p, &t->log_groups[t->n_log_groups++]);
        break;
    case RES_METRIC_FILTER:
        err = build_metric_filter(c, r, p, &t->metric_filters[t->n_metric_filters++]);
        break;
    case RES_ALARM:
        err = build_alarm(c, r, p, &t->alarms[t->n_alarms++]);
        break;
    case RES_COMPOSITE_ALARM:
        err = build_composite(c, r, p, &t->composite_alarms[t->n_composite_alarms++]);
        break;
    case RES_TOPIC:
        err =
            build_topic(c, r, p, &t->topics[t->n_topics], &inl[t->n_topics].v, &inl[t->n_topics].n);
        t->n_topics++;
        break;
    case RES_SUBSCRIPTION:
        err = build_subscription(c, r, p, &t->subscriptions[t->n_subscriptions++]);
        break;
    case RES_CUSTOM: {
        struct config_custom *cu = &t->customs[t->n_customs++];
        fill_base(c, r, &cu->res);
        cu->name = mem_strdup(c->out, r->name);
        cu->properties = cnode_to_json(p);
        break;
    }
    case RES_SKIPPED:
        break;
    }
out:
    cfg_path_pop(c, mark);
    return err;
}

static enum ks_err link_topics(struct cfg *c, struct config_template *t)
{
    for (size_t i = 0; i < t->n_subscriptions; i++)
        t->subscriptions[i].topic = config_template_topic_by_arn(t, t->subscriptions[i].topic_arn);
    for (size_t k = 0; k < t->n_topics; k++) {
        struct config_topic *tp = &t->topics[k];
        for (size_t i = 0; i < t->n_subscriptions; i++)
            tp->n_subscriptions += t->subscriptions[i].topic == tp;
        if (!tp->n_subscriptions)
            continue;
        tp->subscriptions = mem_zalloc(c->out, tp->n_subscriptions, sizeof(*tp->subscriptions));
        size_t n = 0;
        for (size_t i = 0; i < t->n_subscriptions; i++)
            if (t->subscriptions[i].topic == tp)
                tp->subscriptions[n++] = &t->subscriptions[i];
    }
    return KS_OK;
}

enum ks_err cfg_build_resources(struct cfg *c)
{
    struct config_template *t = c->t;
    size_t n[RES_SKIPPED + 1] = {0};
    for (size_t i = 0; i < c->n_res; i++)
        if (c->res[i].active)
            n[c->res[i].kind]++;
    t->log_groups = mem_zalloc(c->out, n[RES_LOG_GROUP] + 1, sizeof(*t->log_groups));
    t->metric_filters = mem_zalloc(c->out, n[RES_METRIC_FILTER] + 1, sizeof(*t->metric_filters));
    t->alarms = mem_zalloc(c->out, n[RES_ALARM] + 1, sizeof(*t->alarms));
    t->composite_alarms =
        mem_zalloc(c->out, n[RES_COMPOSITE_ALARM] + 1, sizeof(*t->composite_alarms));
    t->topics = mem_zalloc(c->out, n[RES_TOPIC] + 1, sizeof(*t->topics));
    t->subscriptions = mem_zalloc(c->out, n[RES_SUBSCRIPTION] + 1, sizeof(*t->subscriptions));
    t->customs = mem_zalloc(c->out, n[RES_CUSTOM] + 1, sizeof(*t->customs));
    struct inline_subs *inl = mem_zalloc(&c->tmp, n[RES_TOPIC] + 1, sizeof(*inl));
    for (size_t i = 0; i < c->n_res; i++) {
        struct cres *r = &c->res[i];
        if (!r->active || r->kind == RES_SKIPPED)
            continue;
        enum ks_err err = build_one(c, r, t, inl);
        if (err)
            return err;
    }
    /* resource subscriptions first, then inline ones, in template order */
    size_t total = t->n_subscriptions;
    for (size_t k = 0; k < t->n_topics; k++)
        total += inl[k].n;
    if (total > t->n_subscriptions) {
        struct config_subscription *all = mem_zalloc(c->out, total, sizeof(*all));
        memcpy(all, t->subscriptions, t->n_subscriptions * sizeof(*all));
        size_t o = t->n_subscriptions;
        for (size_t k = 0; k < t->n_topics; k++)
            for (size_t j = 0; j < inl[k].n; j++)
                all[o++] = inl[k].v[j];
        t->subscriptions = all;
        t->n_subscriptions = total;
    }
    return link_topics(c, t);
}
