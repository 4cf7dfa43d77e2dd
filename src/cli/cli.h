/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli: the keysentry command line. One function per subcommand; this is the
 * only module that prints usage, chooses exit codes and exits.
 * Exit codes (DESIGN.md §3): 0 success, 1 runtime failure, 2 usage or
 * configuration error.
 */
#ifndef KS_CLI_H
#define KS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum cli_exit {
    CLI_OK = 0,
    CLI_FAIL = 1,
    CLI_USAGE = 2,
};

int cli_test_pattern(int argc, char **argv);
int cli_replay(int argc, char **argv);
int cli_validate(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_kms(int argc, char **argv);
int cli_demo(int argc, char **argv);
int cli_mailsink(int argc, char **argv);

/* Prints "keysentry: <message>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes s as a JSON string (with quotes) to f. */
void cli_json_string(FILE *f, const char *s, size_t n);

/* Wall-clock milliseconds since the epoch. */
int64_t cli_now_ms(void);
/* A decimal number of digits only, at most max; false otherwise. */
bool cli_parse_u64(const char *s, uint64_t max, uint64_t *out);

#endif
