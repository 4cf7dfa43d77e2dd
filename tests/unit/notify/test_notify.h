/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared support for the notify unit tests: the golden-file helper, the
 * spec's example alarms (spec/alarms.md §11.2, §11.3) and the group runners.
 */
#ifndef KS_TEST_NOTIFY_H
#define KS_TEST_NOTIFY_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "notify/notify.h"

/* Folder of the golden files (argv[1]); KS_GOLDEN_UPDATE=1 rewrites them. */
extern const char *golden_dir;

/* Compares text with golden_dir/name (or writes it when updating). */
void golden_check(const char *name, const char *text);

/* 2024-03-05T20:31:04.488Z, the StateChangeTime of the spec's example. */
#define T_SPEC INT64_C(1709670664488)

/* The spec's kms-decrypt-failures metric alarm, moved OK -> ALARM at T_SPEC
 * with the spec's reason; change receives the transition. */
struct alarm *spec_metric_alarm(struct alarm_change *change);
/* The spec's kms-abuse composite alarm, OK -> ALARM with one triggering
 * child. */
struct alarm_composite *spec_composite_alarm(struct alarm_change *change);
/* A fixed context block (3 events, 2 principals). acc is freed by the
 * caller; ctx views it. */
struct notify_context_acc *spec_context(struct notify_context *ctx);

int run_message_tests(void);
int run_sns_tests(void);
int run_outbox_tests(void);

#endif
