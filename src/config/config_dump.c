/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config_template_dump: what keysentry understood from a template, as
 * `keysentry validate` shows it. No source positions, so the YAML and JSON
 * forms of one template print the same text (a test compares them); empty
 * sections are left out.
 */
#include "config/config_int.h"

static void strings(FILE *f, const char *label, const struct config_strings *s)
{
    if (!s->n)
        return;
    fprintf(f, "    %s:", label);
    for (size_t i = 0; i < s->n; i++)
        fprintf(f, "%s %s", i ? "," : "", s->v[i]);
    fputc('\n', f);
}

static void dims(FILE *f, const struct config_dimension *d, size_t n)
{
    if (!n)
        return;
    fputs(" {", f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%s=%s", i ? ", " : "", d[i].name, d[i].value);
    fputc('}', f);
}

static void header(FILE *f, const struct config_resource *r)
{
    fprintf(f, "  %s", r->logical_id);
    if (r->condition)
        fprintf(f, "  [condition %s]", r->condition);
    if (r->depends_on.n) {
        fputs("  [depends on", f);
        for (size_t i = 0; i < r->depends_on.n; i++)
            fprintf(f, "%s %s", i ? "," : "", r->depends_on.v[i]);
        fputc(']', f);
    }
    if (r->deletion_policy)
        fprintf(f, "  [deletion policy %s]", r->deletion_policy);
    fputc('\n', f);
}

static const char *op_symbol(const char *op)
{
    if (!op)
        return "?";
    if (strcmp(op, "GreaterThanOrEqualToThreshold") == 0)
        return ">=";
    if (strcmp(op, "GreaterThanThreshold") == 0)
        return ">";
    if (strcmp(op, "LessThanThreshold") == 0)
        return "<";
    if (strcmp(op, "LessThanOrEqualToThreshold") == 0)
        return "<=";
    return op; /* anomaly band operators are printed whole */
}

static void dump_alarm(FILE *f, const struct config_alarm *a)
{
    header(f, &a->res);
    fprintf(f, "    name: %s\n    arn: %s\n", a->name, a->arn);
    if (a->description)
        fprintf(f, "    description: %s\n", a->description);
    const char *stat = a->statistic ? a->statistic : a->extended_statistic;
    if (a->metric_name) {
        fprintf(f, "    metric: %s %s", a->namespace, a->metric_name);
        dims(f, a->dimensions, a->n_dimensions);
        fprintf(f, "\n    statistic: %s over %g s", stat, a->period);
        if (a->unit)
            fprintf(f, " (unit %s)", a->unit);
        fputc('\n', f);
    }
    for (size_t i = 0; i < a->n_metrics; i++) {
        const struct config_metric_query *q = &a->metrics[i];
        fprintf(f, "    query %s:", q->id);
        if (q->has_metric_stat) {
            fprintf(f, " %s %s", q->metric_stat.namespace ? q->metric_stat.namespace : "-",
                    q->metric_stat.metric_name ? q->metric_stat.metric_name : "-");
            dims(f, q->metric_stat.dimensions, q->metric_stat.n_dimensions);
            fprintf(f, " %s over %g s", q->metric_stat.stat, q->metric_stat.period);
        } else {
            fprintf(f, " %s", q->expression);
        }
        if (q->label)
            fprintf(f, " label \"%s\"", q->label);
        fprintf(f, "%s\n", q->has_return_data && q->return_data ? " (returned)" : "");
    }
    if (a->has_threshold)
        fprintf(f, "    alarm when: value %s %g", op_symbol(a->comparison_operator), a->threshold);
    else
        fprintf(f, "    alarm when: %s band %s", a->comparison_operator,
                a->threshold_metric_id ? a->threshold_metric_id : "-");
    fprintf(f, " for %g of %g periods\n", a->datapoints_to_alarm, a->evaluation_periods);
    fprintf(f, "    missing data: %s\n", a->treat_missing_data);
    if (a->evaluate_low_sample_count_percentile)
        fprintf(f, "    low sample count percentiles: %s\n",
                a->evaluate_low_sample_count_percentile);
    fprintf(f, "    actions: %s\n", a->actions_enabled ? "enabled" : "disabled");
    strings(f, "alarm actions", &a->alarm_actions);
    strings(f, "ok actions", &a->ok_actions);
    strings(f, "insufficient data actions", &a->insufficient_data_actions);
}

static void dump_composite(FILE *f, const struct config_composite_alarm *a)
{
    header(f, &a->res);
    fprintf(f, "    name: %s\n    arn: %s\n", a->name, a->arn);
    if (a->description)
        fprintf(f, "    description: %s\n", a->description);
    fprintf(f, "    rule: %s\n", a->alarm_rule);
    fprintf(f, "    actions: %s\n", a->actions_enabled ? "enabled" : "disabled");
    strings(f, "alarm actions", &a->alarm_actions);
    strings(f, "ok actions", &a->ok_actions);
    strings(f, "insufficient data actions", &a->insufficient_data_actions);
    if (a->actions_suppressor)
        fprintf(f, "    suppressor: %s (wait %g s, extension %g s)\n", a->actions_suppressor,
                a->actions_suppressor_wait_period, a->actions_suppressor_extension_period);
}

static void dump_subscription(FILE *f, const struct config_subscription *s, const char *indent)
{
    fprintf(f, "%s%s %s", indent, s->protocol, s->endpoint ? s->endpoint : "(no endpoint)");
    if (s->is_inline)
        fputs("  (inline)", f);
    else
        fprintf(f, "  (%s)", s->res.logical_id);
    if (s->res.condition && !s->is_inline)
        fprintf(f, "  [condition %s]", s->res.condition);
    if (s->raw_message_delivery)
        fputs("  [raw]", f);
    if (s->filter_policy)
        fprintf(f, "  [filter %s %s]",
                s->filter_policy_scope ? s->filter_policy_scope : "MessageAttributes",
                s->filter_policy);
    fputc('\n', f);
}

void config_template_dump(const struct config_template *t, FILE *f)
{
    fprintf(f, "template: %s\n", t->path);
    if (t->description)
        fprintf(f, "description: %s\n", t->description);
    fprintf(f, "stack: %s\n  id: %s\n  account: %s  region: %s  partition: %s  url suffix: %s\n",
            t->stack_name, t->stack_id, t->account_id, t->region, t->partition, t->url_suffix);

    if (t->n_params)
        fprintf(f, "\nparameters (%zu):\n", t->n_params);
    for (size_t i = 0; i < t->n_params; i++) {
        const struct config_param *p = &t->params[i];
        fprintf(f, "  %s (%s) = %s", p->name, p->type_name,
                p->no_echo  ? "****"
                : *p->value ? p->value
                            : "''");
        fprintf(f, "%s%s\n", p->overridden ? "  [--param]" : "  [default]",
                p->no_echo ? "  [NoEcho]" : "");
    }
    if (t->n_conditions)
        fprintf(f, "\nconditions (%zu):\n", t->n_conditions);
    for (size_t i = 0; i < t->n_conditions; i++)
        fprintf(f, "  %s = %s\n", t->conditions[i].name, t->conditions[i].value ? "true" : "false");

    if (t->n_log_groups)
        fprintf(f, "\nlog groups (%zu):\n", t->n_log_groups);
    for (size_t i = 0; i < t->n_log_groups; i++) {
        const struct config_log_group *g = &t->log_groups[i];
        header(f, &g->res);
        fprintf(f, "    name: %s\n    arn: %s\n", g->name, g->arn);
        if (g->has_retention_in_days)
            fprintf(f, "    retention: %g days\n", g->retention_in_days);
        else
            fputs("    retention: never expires\n", f);
        if (g->kms_key_id)
            fprintf(f, "    kms key: %s\n", g->kms_key_id);
        if (g->log_group_class)
            fprintf(f, "    class: %s\n", g->log_group_class);
    }

    if (t->n_metric_filters)
        fprintf(f, "\nmetric filters (%zu):\n", t->n_metric_filters);
    for (size_t i = 0; i < t->n_metric_filters; i++) {
        const struct config_metric_filter *m = &t->metric_filters[i];
        header(f, &m->res);
        fprintf(f, "    filter name: %s\n    log group: %s\n    pattern: %s\n", m->filter_name,
                m->log_group_name, m->filter_pattern);
        for (size_t j = 0; j < m->n_transformations; j++) {
            const struct config_metric_transformation *x = &m->transformations[j];
            fprintf(f, "    metric: %s %s", x->metric_namespace, x->metric_name);
            dims(f, x->dimensions, x->n_dimensions);
            fprintf(f, " value %s", x->metric_value);
            if (x->has_default_value)
                fprintf(f, " default %g", x->default_value);
            if (x->unit)
                fprintf(f, " unit %s", x->unit);
            fputc('\n', f);
        }
    }

    if (t->n_alarms)
        fprintf(f, "\nalarms (%zu):\n", t->n_alarms);
    for (size_t i = 0; i < t->n_alarms; i++)
        dump_alarm(f, &t->alarms[i]);
    if (t->n_composite_alarms)
        fprintf(f, "\ncomposite alarms (%zu):\n", t->n_composite_alarms);
    for (size_t i = 0; i < t->n_composite_alarms; i++)
        dump_composite(f, &t->composite_alarms[i]);

    if (t->n_topics)
        fprintf(f, "\ntopics (%zu):\n", t->n_topics);
    for (size_t i = 0; i < t->n_topics; i++) {
        const struct config_topic *tp = &t->topics[i];
        header(f, &tp->res);
        fprintf(f, "    name: %s\n    arn: %s\n", tp->name, tp->arn);
        if (tp->display_name)
            fprintf(f, "    display name: %s\n", tp->display_name);
        if (tp->fifo_topic)
            fputs("    fifo: yes\n", f);
        if (tp->kms_master_key_id)
            fprintf(f, "    kms key: %s\n", tp->kms_master_key_id);
        if (tp->n_subscriptions)
            fputs("    subscriptions:\n", f);
        for (size_t j = 0; j < tp->n_subscriptions; j++)
            dump_subscription(f, tp->subscriptions[j], "      ");
    }
    size_t outside = 0;
    for (size_t i = 0; i < t->n_subscriptions; i++)
        outside += t->subscriptions[i].topic == NULL;
    if (outside)
        fprintf(f, "\nsubscriptions to topics outside the template (%zu):\n", outside);
    for (size_t i = 0; i < t->n_subscriptions; i++) {
        if (t->subscriptions[i].topic)
            continue;
        fprintf(f, "  %s -> ", t->subscriptions[i].topic_arn);
        dump_subscription(f, &t->subscriptions[i], "");
    }

    if (t->n_customs)
        fprintf(f, "\nkeysentry resources (%zu):\n", t->n_customs);
    for (size_t i = 0; i < t->n_customs; i++) {
        const struct config_custom *cu = &t->customs[i];
        header(f, &cu->res);
        char *js = json_dumps(cu->properties, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fprintf(f, "    type: %s\n    name: %s\n    properties: %s\n", cu->res.type, cu->name,
                js ? js : "{}");
        free(js);
    }

    if (t->n_skipped)
        fprintf(f, "\nskipped (%zu):\n", t->n_skipped);
    for (size_t i = 0; i < t->n_skipped; i++) {
        const struct config_skipped *s = &t->skipped[i];
        if (s->reason == CONFIG_SKIP_CONDITION)
            fprintf(f, "  %s  %s  (not created: condition %s is false)\n", s->logical_id, s->type,
                    s->condition);
        else
            fprintf(f, "  %s  %s  (keysentry does not act on this type)\n", s->logical_id, s->type);
    }

    if (t->n_outputs)
        fprintf(f, "\noutputs (%zu):\n", t->n_outputs);
    for (size_t i = 0; i < t->n_outputs; i++) {
        const struct config_output *o = &t->outputs[i];
        fprintf(f, "  %s = %s", o->name, o->value);
        if (o->export_name)
            fprintf(f, "  [export %s]", o->export_name);
        fputc('\n', f);
        if (o->description)
            fprintf(f, "    %s\n", o->description);
    }

    if (t->n_warnings)
        fprintf(f, "\nwarnings (%zu):\n", t->n_warnings);
    for (size_t i = 0; i < t->n_warnings; i++)
        fprintf(f, "  %s\n", t->warnings[i].msg);
}
