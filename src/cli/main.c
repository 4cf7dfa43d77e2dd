/* SPDX-License-Identifier: Apache-2.0 */
/* keysentry: autonomous monitoring of cryptographic activity. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#ifndef KS_VERSION
#define KS_VERSION "0.1.0"
#endif

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"test-pattern", cli_test_pattern,
     "test a CloudWatch Logs filter pattern against events (like TestMetricFilter)"},
    {"replay", cli_replay, "replay archives through a template's metric filters and alarms"},
    {"validate", cli_validate, "check a CloudFormation template and show what was understood"},
    {"serve", cli_serve, "run a template's filters and alarms live, with AWS-compatible APIs"},
    {"kms", cli_kms, "the local AWS-KMS-compatible key service and its CloudTrail trail"},
    {"demo", cli_demo, "the KMS monitoring lab end to end on this machine (make demo)"},
    {"mailsink", cli_mailsink, "a local SMTP server that catches and shows alarm e-mails"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: keysentry <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'keysentry <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("keysentry %s\n", KS_VERSION);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(cmd, commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    cli_error("'%s' is not a keysentry command; see 'keysentry --help'", cmd);
    return CLI_USAGE;
}
