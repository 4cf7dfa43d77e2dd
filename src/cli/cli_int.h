/* SPDX-License-Identifier: Apache-2.0 */
/* Private to src/cli: helpers shared by subcommands. */
#ifndef KS_CLI_INT_H
#define KS_CLI_INT_H

#include "config/config.h"

/* Loads a template; on error prints "file:line:col: message", the source
 * line and a caret, and returns -1. */
int cli_load_template(const char *path, const struct config_options *opts,
                      struct config_template **out);

#endif
