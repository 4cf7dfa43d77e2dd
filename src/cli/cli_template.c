/* SPDX-License-Identifier: Apache-2.0 */
/*
 * From a loaded template to the definitions the metric and alarm modules
 * take: one place, so validate checks exactly what replay and serve run.
 * Every error is printed with the file, the resource and, where known, the
 * line:column; the caller only counts failures.
 */
#include "cli/cli.h"
#include "cli/cli_int.h"

int cli_template_option(int c, const char *arg, struct config_options *o, const char **params)
{
    switch (c) {
    case 'p':
        if (!strchr(arg, '=')) {
            cli_error("--param needs KEY=VALUE, got '%s'", arg);
            return -1;
        }
        params[o->n_params++] = arg;
        return 1;
    case 'S':
        o->stack_name = arg;
        return 1;
    case 'A':
        o->account_id = arg;
        return 1;
    case 'R':
        o->region = arg;
        return 1;
    default:
        return 0;
    }
}

int cli_add_filter(struct metric_filters *mf, const struct config_metric_filter *f,
                   const char *tpl_path)
{
    const struct config_metric_transformation *x = &f->transformations[0];
    struct metric_filter_def def = {
        .name = f->filter_name_given ? f->filter_name : f->res.logical_id,
        .pattern = f->filter_pattern,
        .namespace_ = x->metric_namespace,
        .metric_name = x->metric_name,
        .value = x->metric_value,
        .has_default = x->has_default_value,
        .default_value = x->default_value,
        .unit = x->unit,
        .ndims = x->n_dimensions,
    };
    for (size_t k = 0; k < x->n_dimensions && k < METRIC_MAX_DIMENSIONS; k++) {
        def.dims[k].key = x->dimensions[k].name;
        def.dims[k].ref = x->dimensions[k].value;
    }
    struct ks_diag d;
    if (metric_filters_add(mf, &def, &d) >= 0)
        return 0;
    cli_error("%s:%u:%u: Resources.%s: %s", tpl_path, f->filter_pattern_pos.line,
              f->filter_pattern_pos.col, f->res.logical_id, d.msg);
    if (d.offset != SIZE_MAX) {
        char msg[1400];
        ks_diag_render(&d, "  in FilterPattern", f->filter_pattern, strlen(f->filter_pattern), msg,
                       sizeof(msg));
        fprintf(stderr, "%s\n", msg);
    }
    return -1;
}

int cli_alarm_def(const struct config_template *t, const struct config_alarm *ca,
                  struct alarm_def *def, struct alarm_dimension *dims, const char *tpl_path)
{
    alarm_def_init(def);
    size_t nd = ca->n_dimensions < ALARM_MAX_DIMENSIONS ? ca->n_dimensions : ALARM_MAX_DIMENSIONS;
    for (size_t k = 0; k < nd; k++) {
        dims[k].name = ca->dimensions[k].name;
        dims[k].value = ca->dimensions[k].value;
    }
    def->name = ca->name;
    def->description = ca->description;
    def->ns = ca->namespace;
    def->metric_name = ca->metric_name;
    def->dimensions = dims;
    def->n_dimensions = nd;
    def->statistic = ALARM_STAT_NONE;
    if (ca->statistic && !alarm_statistic_parse(ca->statistic, &def->statistic)) {
        cli_error("%s: alarm '%s': unknown Statistic '%s'", tpl_path, ca->name, ca->statistic);
        return -1;
    }
    def->extended_statistic = ca->extended_statistic;
    def->period = (int32_t)ca->period;
    def->evaluation_periods = (int32_t)ca->evaluation_periods;
    def->datapoints_to_alarm = ca->has_datapoints_to_alarm ? (int32_t)ca->datapoints_to_alarm : 0;
    def->threshold = ca->threshold;
    if (!ca->comparison_operator ||
        !alarm_comparison_parse(ca->comparison_operator, &def->comparison)) {
        cli_error("%s: alarm '%s': unknown ComparisonOperator", tpl_path, ca->name);
        return -1;
    }
    if (ca->treat_missing_data &&
        !alarm_treat_missing_parse(ca->treat_missing_data, &def->treat_missing)) {
        cli_error("%s: alarm '%s': unknown TreatMissingData", tpl_path, ca->name);
        return -1;
    }
    if (ca->evaluate_low_sample_count_percentile &&
        !alarm_low_sample_parse(ca->evaluate_low_sample_count_percentile, &def->low_sample)) {
        cli_error("%s: alarm '%s': unknown EvaluateLowSampleCountPercentile", tpl_path, ca->name);
        return -1;
    }
    def->unit = ca->unit;
    def->actions_enabled = ca->actions_enabled;
    def->alarm_actions = (const char *const *)ca->alarm_actions.v;
    def->n_alarm_actions = ca->alarm_actions.n;
    def->ok_actions = (const char *const *)ca->ok_actions.v;
    def->n_ok_actions = ca->ok_actions.n;
    def->insufficient_data_actions = (const char *const *)ca->insufficient_data_actions.v;
    def->n_insufficient_data_actions = ca->insufficient_data_actions.n;
    def->region = t->region;
    def->account = t->account_id;
    struct ks_diag d;
    if (alarm_def_validate(def, &d)) {
        cli_error("%s: Resources.%s (alarm '%s'): %s", tpl_path, ca->res.logical_id, ca->name,
                  d.msg);
        return -1;
    }
    return 0;
}

int cli_composite_def(const struct config_template *t, const struct config_composite_alarm *cc,
                      struct alarm_composite_def *def, const char *tpl_path)
{
    alarm_composite_def_init(def);
    def->name = cc->name;
    def->description = cc->description;
    def->rule = cc->alarm_rule;
    def->actions_enabled = cc->actions_enabled;
    def->alarm_actions = (const char *const *)cc->alarm_actions.v;
    def->n_alarm_actions = cc->alarm_actions.n;
    def->ok_actions = (const char *const *)cc->ok_actions.v;
    def->n_ok_actions = cc->ok_actions.n;
    def->insufficient_data_actions = (const char *const *)cc->insufficient_data_actions.v;
    def->n_insufficient_data_actions = cc->insufficient_data_actions.n;
    def->actions_suppressor = cc->actions_suppressor;
    def->suppressor_wait_period = (int32_t)cc->actions_suppressor_wait_period;
    def->suppressor_extension_period = (int32_t)cc->actions_suppressor_extension_period;
    def->region = t->region;
    def->account = t->account_id;
    struct ks_diag d;
    if (alarm_composite_def_validate(def, &d)) {
        cli_error("%s:%u:%u: Resources.%s.Properties.AlarmRule: %s", tpl_path,
                  cc->alarm_rule_pos.line, cc->alarm_rule_pos.col, cc->res.logical_id, d.msg);
        return -1;
    }
    return 0;
}
