/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to src/alarm: the JSON/text writer with a sticky error, time and
 * number formatting, definition copies, history and rule internals shared by
 * the metric and composite alarm files.
 */
#ifndef KS_ALARM_INT_H
#define KS_ALARM_INT_H

#include "alarm/alarm.h"

/* Programmer errors crash with file and line, in release builds too. */
#define ALARM_BUG(msg)                                                                             \
    do {                                                                                           \
        fprintf(stderr, "BUG: %s:%d: %s\n", __FILE__, __LINE__, (msg));                            \
        abort();                                                                                   \
    } while (0)

/* Every text this module builds stays far below this; inputs are capped by
 * validation (names 255, ARNs 1024, rule 10 KiB, reason data 4000). */
#define ALARM_TEXT_CAP (1u << 20)

/* A writer over a ks_buf whose first error sticks, so builders read as a
 * straight sequence of appends and check once at the end. */
struct alarm_w {
    struct ks_buf *b;
    enum ks_err err;
};

void aw_mem(struct alarm_w *w, const char *s, size_t n);
void aw_raw(struct alarm_w *w, const char *s);
void aw_fmt(struct alarm_w *w, const char *fmt, ...) KS_PRINTF(2, 3);
void aw_jstr(struct alarm_w *w, const char *s); /* "..." escaped; null when s is NULL */
void aw_jnum(struct alarm_w *w, double v);      /* Java style; null when not finite */
void aw_jtime(struct alarm_w *w, int64_t ms);   /* "2023-01-09T14:07:25.504+0000" */
void aw_jstrv(struct alarm_w *w, const char *const *v, size_t n);

/* Broken-down UTC time, valid for any int64 millisecond count gmtime_r takes. */
struct alarm_tm {
    int year, month, day, hour, min, sec, ms, wday; /* month 1-12, wday 0 = Sunday */
};
void alarm_civil(int64_t ms, struct alarm_tm *tm);
/* "15/06/25 12:02:00" (StateReason datapoint time) */
void alarm_fmt_short_time(char out[ALARM_FMT_TIME_SIZE], int64_t ms);
/* "Friday 01 March, 2024 10:10:00 UTC" (composite StateReason) */
void alarm_fmt_long_time(char out[64], int64_t ms);

int64_t alarm_floor_div(int64_t a, int64_t b);

/* Syntax check of one JSON value (RFC 8259), depth-capped; text must be
 * clean UTF-8 (checked here too). */
bool alarm_json_valid(const char *s, size_t n);
/* Longest prefix of s (length len) that is <= max bytes and ends on a UTF-8
 * character boundary. */
size_t alarm_utf8_cut(const char *s, size_t len, size_t max);

const char *alarm_region_or_default(const char *region);
const char *alarm_account_or_default(const char *account);
/* "arn:aws:cloudwatch:<region>:<account>:alarm:<name>", caller frees. */
char *alarm_arn_build(const char *region, const char *account, const char *name);
/*
 * If ref is an alarm ARN, stores the name part in *name (a view into ref)
 * and returns 1 when it is in region/account, -1 when it is an alarm ARN of
 * another region or account or malformed; returns 0 when ref is no ARN.
 */
int alarm_arn_name(const char *ref, size_t len, const char *region, const char *account,
                   const char **name, size_t *name_len);

/* Checks shared by both definition kinds; they fill diag and return
 * KS_E_INVALID, or KS_OK. */
enum ks_err alarm_check_text(const char *field, const char *s, size_t min, size_t max,
                             bool required, struct ks_diag *diag);
enum ks_err alarm_check_actions(const char *field, const char *const *v, size_t n,
                                struct ks_diag *diag);
enum ks_err alarm_check_region(const char *region, const char *account, struct ks_diag *diag);
enum ks_err alarm_check_forced_state(enum alarm_state state, const char *reason,
                                     const char *reason_data, struct ks_diag *diag);

/* A string pool for definition copies: measure every string with
 * alarm_pool_need, allocate once, then alarm_pool_put them. */
struct alarm_pool {
    char *mem;
    size_t used;
    size_t size;
};
size_t alarm_pool_need(const char *s);
const char *alarm_pool_put(struct alarm_pool *p, const char *s); /* NULL stays NULL */
const char **alarm_pool_strv(struct alarm_pool *p, const char *const *v, size_t n);

/* An owned deep copy of a metric alarm definition; def points into it. */
struct alarm_def_copy {
    struct alarm_def def;
    struct alarm_pool pool;
    struct alarm_dimension *dims;
    const char **acts[3];
};
void alarm_def_copy_init(struct alarm_def_copy *c, const struct alarm_def *def);
void alarm_def_copy_release(struct alarm_def_copy *c);
/* Percentile of an ExtendedStatistic as a fraction (0.99 for p99); -1 when
 * the alarm uses a plain statistic. */
double alarm_def_percentile(const struct alarm_def *def);

struct alarm_composite_copy {
    struct alarm_composite_def def;
    struct alarm_pool pool;
    const char **acts[3];
};
void alarm_composite_copy_init(struct alarm_composite_copy *c,
                               const struct alarm_composite_def *def);
void alarm_composite_copy_release(struct alarm_composite_copy *c);

/* The action list of state s (borrowed from the definition). */
void alarm_def_actions(const struct alarm_def *def, enum alarm_state s, const char *const **v,
                       size_t *n);
void alarm_composite_def_actions(const struct alarm_composite_def *def, enum alarm_state s,
                                 const char *const **v, size_t *n);

/* Fills out (which may be NULL) with one outcome; copies actions. */
void alarm_change_fill(struct alarm_change *out, bool changed, enum alarm_state old_state,
                       enum alarm_state new_state, int64_t time_ms, int64_t transition_ms,
                       const char *reason, const char *reason_data, const char *const *actions,
                       size_t n_actions);

/* History (alarm_history.c). */
struct alarm_history *alarm_history_new(const char *name, enum alarm_type type, size_t max);
void alarm_history_free(struct alarm_history *h);
void alarm_history_set_max(struct alarm_history *h, size_t max);
/* Adds an item; summary is cut to ALARM_HISTORY_SUMMARY_MAX bytes. */
void alarm_history_add(struct alarm_history *h, int64_t ts, enum alarm_history_type type,
                       const char *summary, const char *data);
void alarm_history_add_state(struct alarm_history *h, int64_t ts, enum alarm_state old_state,
                             const char *old_reason, const char *old_data,
                             enum alarm_state new_state, const char *new_reason,
                             const char *new_data);
void alarm_history_add_action(struct alarm_history *h, int64_t now_ms, const char *arn,
                              int64_t state_update_ms, const char *published, const char *error);
/* "Alarm \"<name>\" created|updated" with {"version":"1.0","type":...}. */
void alarm_history_add_config(struct alarm_history *h, int64_t ts, bool create,
                              const char *old_json, const char *new_json);

/* Writers for the createdAlarm / updatedAlarm objects of ConfigurationUpdate. */
void alarm_def_write_json(struct alarm_w *w, const struct alarm_def *def, const char *arn,
                          int64_t config_ms, enum alarm_state state, int64_t state_ms);
void alarm_composite_def_write_json(struct alarm_w *w, const struct alarm_composite_def *def,
                                    const char *arn, int64_t config_ms, enum alarm_state state,
                                    int64_t state_ms);

/* Rule internals (alarm_rule.c): evaluate with child states already known;
 * known[i] false means the child does not exist. */
bool alarm_rule_eval_states(const struct alarm_rule *r, const bool *known,
                            const enum alarm_state *states);

#endif
