/* SPDX-License-Identifier: Apache-2.0 */
/* Private to src/cli: helpers shared by subcommands. */
#ifndef KS_CLI_INT_H
#define KS_CLI_INT_H

#include "alarm/alarm.h"
#include "config/config.h"
#include "metric/metric.h"

/* Loads a template; on error prints "file:line:col: message", the source
 * line and a caret, and returns -1. */
int cli_load_template(const char *path, const struct config_options *opts,
                      struct config_template **out);

/* The template options every command shares, by getopt value: 'p' --param
 * K=V (stored in params, which needs room for argc entries), 'S'
 * --stack-name, 'A' --account, 'R' --region. Returns 1 when c was one of
 * them, 0 when it was not, -1 after printing a usage error. */
int cli_template_option(int c, const char *arg, struct config_options *o, const char **params);

/* cli_template.c: a template's resources as the modules' definitions. Each
 * returns 0, or -1 after printing the error (file, resource, line:col). */
int cli_add_filter(struct metric_filters *mf, const struct config_metric_filter *f,
                   const char *tpl_path);
/* dims must hold ALARM_MAX_DIMENSIONS; def borrows ca, dims and t. */
int cli_alarm_def(const struct config_template *t, const struct config_alarm *ca,
                  struct alarm_def *def, struct alarm_dimension *dims, const char *tpl_path);
int cli_composite_def(const struct config_template *t, const struct config_composite_alarm *cc,
                      struct alarm_composite_def *def, const char *tpl_path);

#endif
