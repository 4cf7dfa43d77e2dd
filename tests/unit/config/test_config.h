/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared helpers of the config unit tests: load a template from text and
 * fail the test with the rendered diagnostic when it does not load; check
 * that an error has the expected message part and line:column.
 */
#ifndef KS_TEST_CONFIG_H
#define KS_TEST_CONFIG_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config/config.h"

/* Loads text as a template named name; on failure prints why and fails. */
struct config_template *load_ok(const char *name, const char *text,
                                const struct config_options *opts);

/* Loads text expecting failure; returns the error, fills d and renders the
 * diagnostic (with " at LINE:COL" when it has a position) into out. */
enum ks_err load_fail(const char *name, const char *text, const struct config_options *opts,
                      struct ks_diag *d, char *out, size_t out_size);

/* The whole file (NUL-terminated, caller frees); NULL if unreadable. */
char *read_text(const char *path, size_t *len);

/* The source folder (examples/, tests/) as given by CMake. */
const char *source_dir(void);

int run_intrinsic_tests(void);
int run_param_tests(void);
int run_error_tests(void);
int run_lab_tests(void);
int run_hostile_tests(void);
int run_resource_tests(void);

#endif
