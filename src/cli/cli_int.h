/* SPDX-License-Identifier: Apache-2.0 */
/* Private to src/cli: helpers shared by subcommands. */
#ifndef KS_CLI_INT_H
#define KS_CLI_INT_H

#include "alarm/alarm.h"
#include "config/config.h"
#include "metric/metric.h"

#include <stdatomic.h>

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

/* cli_serve_actions.c: what serve runs beside the engine (the in-process KMS
 * service, the notification hub, the responses). Zero-initialise, set the
 * options, start after the engine exists and the listener's URL is known. */
struct serve_engine;
struct kms_host;
struct notify_hub;
struct respond;
struct store;

struct cli_serve_side {
    /* options */
    bool quiet, dry_run, no_actions;
    const char *respond_trail;
    char public_url[320]; /* base of the SNS endpoints (SigningCertURL, ...) */
    /* state */
    struct serve_engine *engine;
    struct kms_host *kms;
    struct notify_hub *hub;
    struct respond *responder;
    struct store *own_db; /* the outbox without --data */
    char **env;           /* what responses see: points them at the in-process KMS */
    char dir[4096];
    bool tmp; /* dir is private and removed at stop */
    int kms_source;
    _Atomic uint64_t kms_records;
    int64_t next_kms_tick;
};

/* Returns 0, or -1 after printing the error. group: the log group of
 * in-process KMS events unless the resource names one. */
int cli_serve_side_start(struct cli_serve_side *s, const struct config_template *t,
                         struct serve_engine *e, const char *data_dir, const char *group);
void cli_serve_side_tick(struct cli_serve_side *s, int64_t now_ms);
/* Stops the workers, the KMS service, removes a private directory. Returns
 * -1 when the KMS trail could not be delivered. */
int cli_serve_side_stop(struct cli_serve_side *s);
/* cli_util.c: rm -r, without following symbolic links. */
void cli_remove_tree(const char *path);
/* dir/name into out; false when it does not fit. */
bool cli_path(char *out, size_t n, const char *dir, const char *name);

#endif
