/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Spec §4.3: AWS's published missing-data tables, every cell, each
 * TreatMissingData value, from each possible current state (so "keep" is
 * tested as "unchanged whatever it was"). Then §4.2 cases outside the tables.
 *
 * A row's slots are written oldest to newest as in the spec: X breaching,
 * 0 not breaching, - missing. They become samples in an in-memory store at
 * the matching slot times; the alarm asks the store through its callback.
 */
#include "test_alarm.h"

enum expect { E_OK, E_ALARM, E_INSUF, E_KEEP };

static const enum alarm_treat_missing tmds[4] = {ALARM_MISSING_MISSING, ALARM_MISSING_IGNORE,
                                                 ALARM_MISSING_BREACHING,
                                                 ALARM_MISSING_NOT_BREACHING};
static const enum alarm_state initials[3] = {ALARM_STATE_OK, ALARM_STATE_ALARM,
                                             ALARM_STATE_INSUFFICIENT_DATA};

struct row {
    int period;
    int n, m;
    int extra; /* range_extra; 0 = the default L */
    const char *slots;
    int fill;           /* "slots to fill" column; -1 when not given */
    enum expect res[4]; /* missing, ignore, breaching, notBreaching */
};

/* Period 5 min, range 5 slots, newest on the right (spec §4.3). */
static const struct row published[] = {
    /* N = 3, M = 3 */
    {300, 3, 3, 0, "0 - X - X", 0, {E_OK, E_OK, E_OK, E_OK}},
    {300, 3, 3, 0, "0 - - - -", 2, {E_OK, E_OK, E_OK, E_OK}},
    {300, 3, 3, 0, "- - - - -", 3, {E_INSUF, E_KEEP, E_ALARM, E_OK}},
    {300, 3, 3, 0, "0 X X - X", 0, {E_ALARM, E_ALARM, E_ALARM, E_ALARM}},
    {300, 3, 3, 0, "- - X - -", 2, {E_ALARM, E_KEEP, E_ALARM, E_OK}},
    /* N = 3, M = 2 */
    {300, 3, 2, 0, "0 - X - X", 0, {E_ALARM, E_ALARM, E_ALARM, E_ALARM}},
    {300, 3, 2, 0, "0 0 X 0 X", 0, {E_ALARM, E_ALARM, E_ALARM, E_ALARM}},
    {300, 3, 2, 0, "0 - X - -", 1, {E_OK, E_OK, E_ALARM, E_OK}},
    {300, 3, 2, 0, "- - - - 0", 2, {E_OK, E_OK, E_ALARM, E_OK}},
    {300, 3, 2, 0, "- - - X -", 2, {E_ALARM, E_KEEP, E_ALARM, E_OK}},
};

/* §4.2 pseudocode outside the published cells ([I] rows, AL4). */
static const struct row outside[] = {
    /* The notes under the tables: a single breaching datapoint that is not
     * yet M old does not alarm under missing / ignore. */
    {300, 3, 3, 0, "- - - - X", 2, {E_OK, E_KEEP, E_ALARM, E_OK}},
    {300, 3, 3, 0, "- - - X -", 2, {E_OK, E_KEEP, E_ALARM, E_OK}},
    /* Premature alarm exactly at age M, and one short of it. */
    {300, 3, 3, 0, "- - X X -", 1, {E_ALARM, E_KEEP, E_ALARM, E_OK}},
    {300, 3, 3, 0, "- - - X X", 1, {E_OK, E_KEEP, E_ALARM, E_OK}},
    {300, 3, 2, 0, "- - X - -", 2, {E_ALARM, E_KEEP, E_ALARM, E_OK}},
    /* A non-breaching real datapoint blocks the premature rule. */
    {300, 4, 2, 1, "0 X - - -", 2, {E_OK, E_OK, E_ALARM, E_OK}},
    {300, 3, 2, 0, "- - X - 0", 1, {E_OK, E_OK, E_ALARM, E_OK}},
    /* >= N real datapoints: the newest N decide, gaps skipped, TMD unused. */
    {300, 2, 2, 3, "X - - X X", 0, {E_ALARM, E_ALARM, E_ALARM, E_ALARM}},
    {300, 2, 2, 3, "X X - - 0", 0, {E_OK, E_OK, E_OK, E_OK}},
    {60, 1, 1, 4, "- - - 0 -", 0, {E_OK, E_OK, E_OK, E_OK}},
    {60, 1, 1, 4, "- X - - -", 0, {E_ALARM, E_ALARM, E_ALARM, E_ALARM}},
    /* M = 1 of N = 5 with a long range, high resolution. */
    {10, 5, 1, 2, "- - - - - 0 -", 4, {E_OK, E_OK, E_ALARM, E_OK}},
    {10, 5, 1, 2, "X - - - - - -", 4, {E_ALARM, E_ALARM, E_ALARM, E_ALARM}},
    /* premature: the lone breaching datapoint is older than M (even than N) */
    {10, 5, 2, 2, "X - - - - - -", 4, {E_ALARM, E_KEEP, E_ALARM, E_OK}},
    /* breaching fill plus a good datapoint: B + F = 2 < 3 */
    {300, 3, 3, 0, "- - - 0 -", 2, {E_OK, E_OK, E_OK, E_OK}},
};

/* Evaluation time: 00:30:25 on T_BASE's day, deliberately not minute-aligned. */
#define EVAL_AT (T_BASE + 30 * MIN_MS + 25 * SEC_MS)

static size_t count_slots(const char *slots)
{
    size_t r = 0;
    for (const char *p = slots; *p; p++)
        r += *p != ' ';
    return r;
}

/* Fills the store so the alarm sees `slots` at EVAL_AT, plus decoys just
 * outside the range that would change the outcome if the range were wider. */
static void load_slots(struct fake_store *st, const struct row *row)
{
    int64_t p = row->period * SEC_MS;
    int64_t step = row->period < 60 ? 10 * SEC_MS : MIN_MS;
    int64_t t0 = (EVAL_AT / step) * step;
    size_t r = count_slots(row->slots), i = 0;
    for (const char *c = row->slots; *c; c++) {
        if (*c == ' ')
            continue;
        int64_t age = (int64_t)(r - i++);
        int64_t start = t0 - age * p;
        if (*c == 'X')
            fake_store_add(st, start + SEC_MS, 5);
        else if (*c == '0')
            fake_store_add(st, start + SEC_MS, 0);
    }
    fake_store_add(st, t0 - (int64_t)(r + 1) * p + SEC_MS, 5);
    fake_store_add(st, t0 - (int64_t)(r + 2) * p + SEC_MS, 0);
    /* And one sample in the current, still open minute: never part of a slot. */
    fake_store_add(st, t0 + SEC_MS, 5);
}

static void run_rows(const struct row *rows, size_t nrows, const char *label)
{
    for (size_t ri = 0; ri < nrows; ri++) {
        const struct row *row = &rows[ri];
        size_t r = count_slots(row->slots);
        for (int ti = 0; ti < 4; ti++) {
            for (int ii = 0; ii < 3; ii++) {
                struct fake_store st;
                fake_store_init(&st);
                load_slots(&st, row);
                struct alarm_def def;
                test_def(&def, "table");
                def.period = row->period;
                def.evaluation_periods = row->n;
                def.datapoints_to_alarm = row->m;
                def.range_extra = row->extra;
                def.treat_missing = tmds[ti];
                struct alarm *a = alarm_new(&def, T_BASE);
                assert_non_null(a);
                if (initials[ii] != ALARM_STATE_INSUFFICIENT_DATA)
                    force_state(a, initials[ii], T_BASE + SEC_MS);
                struct alarm_change ch;
                alarm_change_init(&ch);
                bool changed = alarm_evaluate(a, EVAL_AT, fake_store_query, &st, &ch);
                enum alarm_state want;
                switch (row->res[ti]) {
                case E_OK:
                    want = ALARM_STATE_OK;
                    break;
                case E_ALARM:
                    want = ALARM_STATE_ALARM;
                    break;
                case E_INSUF:
                    want = ALARM_STATE_INSUFFICIENT_DATA;
                    break;
                default:
                    want = initials[ii];
                    break;
                }
                enum alarm_state got = alarm_get_state(a);
                if (got != want || changed != (want != initials[ii]) || st.queries != r)
                    fail_msg("%s row %zu '%s' N=%d M=%d %s from %s: expected %s, got %s "
                             "(changed=%d, %zu queries for %zu slots)",
                             label, ri, row->slots, row->n, row->m,
                             alarm_treat_missing_name(tmds[ti]), alarm_state_name(initials[ii]),
                             alarm_state_name(want), alarm_state_name(got), changed, st.queries, r);
                /* The filled-slot count shows in the reason of breaching /
                 * notBreaching transitions. */
                if (changed && row->fill > 0 &&
                    (tmds[ti] == ALARM_MISSING_BREACHING ||
                     tmds[ti] == ALARM_MISSING_NOT_BREACHING)) {
                    char want_fill[48];
                    snprintf(want_fill, sizeof(want_fill), " %d missing datapoint", row->fill);
                    if (!strstr(ch.reason.data, want_fill))
                        fail_msg("%s row %zu '%s' %s: reason lacks '%s': %s", label, ri, row->slots,
                                 alarm_treat_missing_name(tmds[ti]), want_fill, ch.reason.data);
                }
                if (changed && row->fill == 0)
                    assert_null(strstr(ch.reason.data, "missing"));
                alarm_change_release(&ch);
                alarm_free(a);
                fake_store_release(&st);
            }
        }
    }
}

static void test_published_tables(void **state)
{
    (void)state;
    run_rows(published, KS_ARRAY_LEN(published), "published");
}

static void test_outside_tables(void **state)
{
    (void)state;
    run_rows(outside, KS_ARRAY_LEN(outside), "outside");
}

/* The 0 - - - - row's note: with breaching, one evaluation later (when the
 * good datapoint has left the 5-slot range) the alarm goes to ALARM. Slots
 * slide by one minute, so a sample 1 s into the oldest slot leaves the
 * range at the very next evaluation. */
static void test_breaching_note_next_evaluation(void **state)
{
    (void)state;
    struct fake_store st;
    fake_store_init(&st);
    int64_t t0 = (EVAL_AT / MIN_MS) * MIN_MS;
    fake_store_add(&st, t0 - 5 * 300 * SEC_MS + SEC_MS, 0);
    struct alarm_def def;
    test_def(&def, "note");
    def.period = 300;
    def.evaluation_periods = 3;
    def.datapoints_to_alarm = 3;
    def.treat_missing = ALARM_MISSING_BREACHING;
    struct alarm *a = alarm_new(&def, T_BASE);
    assert_true(alarm_evaluate(a, EVAL_AT, fake_store_query, &st, NULL));
    assert_int_equal(alarm_get_state(a), ALARM_STATE_OK);
    int64_t t = alarm_next_evaluation(a, EVAL_AT);
    assert_int_equal(t, t0 + MIN_MS);
    assert_true(alarm_evaluate(a, t, fake_store_query, &st, NULL));
    assert_int_equal(alarm_get_state(a), ALARM_STATE_ALARM);
    assert_non_null(strstr(alarm_state_reason(a), "no datapoints were received for 3 periods"));
    alarm_free(a);
    fake_store_release(&st);
}

int run_table_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_tables),
        cmocka_unit_test(test_outside_tables),
        cmocka_unit_test(test_breaching_note_next_evaluation),
    };
    return cmocka_run_group_tests_name("alarm_tables", tests, NULL, NULL);
}
