/* SPDX-License-Identifier: Apache-2.0 */
/*
 * From a loaded template to the definitions the metric and alarm modules
 * take, with the CLI's messages: the translation itself is serve's
 * (serve_*_def, which serve_engine_new builds from), so validate checks
 * exactly what replay and serve run. Every error is printed with the file,
 * the resource and, where known, the line:column; the caller only counts
 * failures.
 */
#include "cli/cli.h"
#include "cli/cli_int.h"

#include "serve/serve.h"

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
    struct metric_filter_def def;
    serve_filter_def(f, &def);
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
    struct ks_diag d;
    ks_diag_clear(&d);
    enum ks_err err = serve_alarm_def(t, ca, def, dims, &d);
    if (err == KS_E_SYNTAX)
        cli_error("%s: alarm '%s': %s", tpl_path, ca->name, d.msg);
    else if (err)
        cli_error("%s: Resources.%s (alarm '%s'): %s", tpl_path, ca->res.logical_id, ca->name,
                  d.msg);
    return err ? -1 : 0;
}

int cli_composite_def(const struct config_template *t, const struct config_composite_alarm *cc,
                      struct alarm_composite_def *def, const char *tpl_path)
{
    struct ks_diag d;
    if (serve_composite_def(t, cc, def, &d)) {
        cli_error("%s:%u:%u: Resources.%s.Properties.AlarmRule: %s", tpl_path,
                  cc->alarm_rule_pos.line, cc->alarm_rule_pos.col, cc->res.logical_id, d.msg);
        return -1;
    }
    return 0;
}
