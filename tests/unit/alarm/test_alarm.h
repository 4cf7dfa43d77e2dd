/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared support for the alarm unit tests: an in-memory sample store that
 * answers alarm_query_fn the way the metric store will (statistic over
 * [start, end), missing when no sample), a registry of alarm states for
 * composite rules, and the group runners test_main.c calls.
 */
#ifndef KS_TEST_ALARM_H
#define KS_TEST_ALARM_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alarm/alarm.h"

/* 2024-01-01T00:00:00Z: a convenient, minute-aligned origin. */
#define T_BASE INT64_C(1704067200000)
#define MIN_MS INT64_C(60000)
#define SEC_MS INT64_C(1000)

struct fake_sample {
    int64_t t;
    double v;
};

/* Samples in insertion order; queries scan them all (tests are small). */
struct fake_store {
    struct fake_sample *s;
    size_t n;
    size_t cap;
    size_t queries; /* how many times the callback ran */
};

void fake_store_init(struct fake_store *st);
void fake_store_release(struct fake_store *st);
void fake_store_add(struct fake_store *st, int64_t t, double v);
/* alarm_query_fn over a struct fake_store: the def's statistic (SampleCount,
 * Sum, Average, Minimum, Maximum, or a nearest-rank percentile). */
bool fake_store_query(void *ctx, const struct alarm_def *def, int64_t start_ms, int64_t end_ms,
                      struct alarm_datapoint *out);

struct fake_alarm {
    const char *name;
    enum alarm_state state;
    int64_t ts;
    bool exists;
};

/* alarm_state_fn over a NULL-name-terminated array of struct fake_alarm. */
bool fake_registry_state(void *ctx, const char *name, struct alarm_child_state *out);
void fake_registry_set(struct fake_alarm *reg, const char *name, enum alarm_state st, int64_t ts);

/* A metric alarm definition with test defaults: namespace "Test", metric
 * "Errors", Sum, Period 60, N = M-unset 1, threshold 1, GreaterThanOrEqual. */
void test_def(struct alarm_def *def, const char *name);

/* Forces a state through SetAlarmState (asserting success). */
void force_state(struct alarm *a, enum alarm_state st, int64_t now_ms);

int run_table_tests(void);
int run_eval_tests(void);
int run_reason_tests(void);
int run_history_tests(void);
int run_composite_tests(void);
int run_validate_tests(void);

#endif
