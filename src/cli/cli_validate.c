/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keysentry validate: loads a template, compiles its metric filters and
 * checks its alarms the way replay and serve will, and shows what was
 * understood.
 */
#include "cli/cli.h"
#include "cli/cli_int.h"

#include "alarm/alarm.h"
#include "metric/metric.h"

#include <getopt.h>

static const char help[] =
    "usage: keysentry validate [options] -c TEMPLATE\n"
    "\n"
    "Loads a CloudFormation template (YAML or JSON) and shows what keysentry\n"
    "understood: parameters, conditions, log groups, metric filters, alarms,\n"
    "topics, subscriptions, skipped resources and outputs. Every filter pattern\n"
    "is compiled and every alarm checked as replay and serve would.\n"
    "\n"
    "options:\n"
    "  -c, --template FILE   the template, required\n"
    "  --param K=V           set template parameter K (repeatable)\n"
    "  --stack-name N        AWS::StackName (default: template file name)\n"
    "  --account A           AWS::AccountId (default 111122223333)\n"
    "  --region R            AWS::Region (default us-east-1)\n"
    "  -q, --quiet           print nothing on success\n"
    "  -h, --help            show this help\n"
    "\n"
    "Exit status: 0 when the template is valid, 2 otherwise.\n";

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct ks_buf b;
    ks_buf_init(&b, CONFIG_MAX_TEMPLATE_BYTES + 1);
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        if (ks_buf_add(&b, tmp, n) != KS_OK)
            break;
    fclose(f);
    *len = b.len;
    if (b.cap == 0)
        return ks_xstrdup("");
    return b.data;
}

int cli_load_template(const char *path, const struct config_options *opts,
                      struct config_template **out)
{
    struct ks_diag d;
    ks_diag_clear(&d);
    if (config_template_load(path, opts, out, &d) == KS_OK)
        return 0;
    size_t len = 0;
    char *text = d.offset != SIZE_MAX ? read_file(path, &len) : NULL;
    char msg[2048];
    char prefix[1100];
    snprintf(prefix, sizeof(prefix), "keysentry: %s", path);
    ks_diag_render(&d, prefix, text, len, msg, sizeof(msg));
    fprintf(stderr, "%s\n", msg);
    free(text);
    return -1;
}

static int check(const struct config_template *t, const char *path)
{
    int bad = 0;
    struct metric_filters *mf = metric_filters_new();
    for (size_t i = 0; i < t->n_metric_filters; i++)
        bad |= cli_add_filter(mf, &t->metric_filters[i], path) != 0;
    metric_filters_free(mf);
    for (size_t i = 0; i < t->n_alarms; i++) {
        if (t->alarms[i].n_metrics)
            continue; /* metric math: parsed by config, evaluated later */
        struct alarm_def def;
        struct alarm_dimension dims[ALARM_MAX_DIMENSIONS];
        bad |= cli_alarm_def(t, &t->alarms[i], &def, dims, path) != 0;
    }
    for (size_t i = 0; i < t->n_composite_alarms; i++) {
        struct alarm_composite_def def;
        bad |= cli_composite_def(t, &t->composite_alarms[i], &def, path) != 0;
    }
    return bad;
}

int cli_validate(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"template", required_argument, NULL, 'c'},
        {"param", required_argument, NULL, 'p'},
        {"stack-name", required_argument, NULL, 'S'},
        {"account", required_argument, NULL, 'A'},
        {"region", required_argument, NULL, 'R'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct config_options copts;
    memset(&copts, 0, sizeof(copts));
    const char **params = ks_xcalloc((size_t)argc + 1, sizeof(char *));
    const char *path = NULL;
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+c:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            fputs(help, stdout);
            free(params);
            return CLI_OK;
        default: {
            int t = cli_template_option(c, optarg, &copts, params);
            if (t > 0)
                break;
            if (t == 0)
                fputs("Run 'keysentry validate --help' for usage.\n", stderr);
            free(params);
            return CLI_USAGE;
        }
        }
    }
    copts.params = params;
    if (!path || optind < argc) {
        cli_error(!path ? "validate needs a template: -c TEMPLATE"
                        : "validate takes no PATH arguments");
        free(params);
        return CLI_USAGE;
    }
    struct config_template *t;
    int rc = cli_load_template(path, &copts, &t);
    free(params);
    if (rc)
        return CLI_USAGE;
    rc = check(t, path) ? CLI_USAGE : CLI_OK;
    if (!quiet && rc == CLI_OK)
        config_template_dump(t, stdout);
    config_template_free(t);
    return rc;
}
