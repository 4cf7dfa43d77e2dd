/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metric alarm evaluation driven by an injected clock and the in-memory
 * sample store: comparison operators (NaN included), evaluation cadence and
 * range, an M-of-N scenario over 25 minutes, initial state, actions only on
 * transitions, ActionsEnabled false, percentile low sample counts,
 * SetAlarmState and configuration updates.
 */
#include <math.h>

#include "test_alarm.h"

/* ---- comparison operators ------------------------------------------------------ */

struct cmp_row {
    enum alarm_comparison cmp;
    double threshold;
    double value;
    bool breach;
};

static const struct cmp_row cmp_rows[] = {
    {ALARM_CMP_GE, 1, 1, true},      {ALARM_CMP_GE, 1, 0.999, false},
    {ALARM_CMP_GE, 1, NAN, false},   {ALARM_CMP_GT, 1, 1, false},
    {ALARM_CMP_GT, 1, 1.0001, true}, {ALARM_CMP_GT, 1, INFINITY, true},
    {ALARM_CMP_GT, 1, NAN, false},   {ALARM_CMP_LT, 1, 1, false},
    {ALARM_CMP_LT, 1, 0.5, true},    {ALARM_CMP_LT, -2, -3, true},
    {ALARM_CMP_LT, 1, NAN, false},   {ALARM_CMP_LE, 1, 1, true},
    {ALARM_CMP_LE, 1, 1.5, false},   {ALARM_CMP_LE, 0, -0.0, true},
    {ALARM_CMP_LE, 1, NAN, false},
};

static void test_operators(void **state)
{
    (void)state;
    for (size_t i = 0; i < KS_ARRAY_LEN(cmp_rows); i++) {
        const struct cmp_row *row = &cmp_rows[i];
        struct fake_store st;
        fake_store_init(&st);
        fake_store_add(&st, T_BASE + 10 * SEC_MS, row->value);
        struct alarm_def def;
        test_def(&def, "cmp");
        def.statistic = ALARM_STAT_MAXIMUM;
        def.comparison = row->cmp;
        def.threshold = row->threshold;
        struct alarm *a = alarm_new(&def, T_BASE);
        assert_true(alarm_evaluate(a, T_BASE + MIN_MS, fake_store_query, &st, NULL));
        enum alarm_state want = row->breach ? ALARM_STATE_ALARM : ALARM_STATE_OK;
        if (alarm_get_state(a) != want)
            fail_msg("row %zu: %s threshold %g value %g: expected %s, got %s", i,
                     alarm_comparison_name(row->cmp), row->threshold, row->value,
                     alarm_state_name(want), alarm_state_name(alarm_get_state(a)));
        alarm_free(a);
        fake_store_release(&st);
    }
}

/* ---- cadence and range ------------------------------------------------------------ */

static void test_cadence(void **state)
{
    (void)state;
    struct alarm_def def;
    test_def(&def, "cadence");
    struct alarm *a = alarm_new(&def, T_BASE);
    assert_int_equal(alarm_next_evaluation(a, T_BASE), T_BASE + MIN_MS);
    assert_int_equal(alarm_next_evaluation(a, T_BASE - 1), T_BASE);
    assert_int_equal(alarm_next_evaluation(a, T_BASE + 59999), T_BASE + MIN_MS);
    assert_int_equal(alarm_next_evaluation(a, -1), 0);
    assert_int_equal(alarm_next_evaluation(a, -60001), -60000);
    alarm_free(a);

    def.period = 10;
    a = alarm_new(&def, T_BASE);
    assert_int_equal(alarm_next_evaluation(a, T_BASE), T_BASE + 10 * SEC_MS);
    assert_int_equal(alarm_next_evaluation(a, T_BASE + 3 * SEC_MS), T_BASE + 10 * SEC_MS);
    alarm_free(a);

    /* Periods of several minutes are still evaluated every minute. */
    def.period = 300;
    a = alarm_new(&def, T_BASE);
    assert_int_equal(alarm_next_evaluation(a, T_BASE + 1), T_BASE + MIN_MS);
    alarm_free(a);
}

/* One sample at the given slot age; returns the state after one evaluation. */
static enum alarm_state state_with_sample_at_age(int period, int age, int64_t *queries)
{
    struct fake_store st;
    fake_store_init(&st);
    int64_t eval = T_BASE + 60 * MIN_MS + 4 * SEC_MS;
    int64_t step = period < 60 ? 10 * SEC_MS : MIN_MS;
    int64_t t0 = eval / step * step;
    fake_store_add(&st, t0 - age * period * SEC_MS, 5);
    struct alarm_def def;
    test_def(&def, "range");
    def.period = period;
    struct alarm *a = alarm_new(&def, T_BASE);
    alarm_evaluate(a, eval, fake_store_query, &st, NULL);
    enum alarm_state s = alarm_get_state(a);
    *queries = (int64_t)st.queries;
    alarm_free(a);
    fake_store_release(&st);
    return s;
}

/* R = N + L with L = max(2, ceil(300 / Period)) (spec §4.1). */
static void test_default_range(void **state)
{
    (void)state;
    int64_t q;
    assert_int_equal(state_with_sample_at_age(60, 6, &q), ALARM_STATE_ALARM);
    assert_int_equal(q, 6);
    assert_int_equal(state_with_sample_at_age(60, 7, &q), ALARM_STATE_INSUFFICIENT_DATA);
    assert_int_equal(state_with_sample_at_age(10, 31, &q), ALARM_STATE_ALARM);
    assert_int_equal(q, 31);
    assert_int_equal(state_with_sample_at_age(10, 32, &q), ALARM_STATE_INSUFFICIENT_DATA);
    assert_int_equal(state_with_sample_at_age(20, 16, &q), ALARM_STATE_ALARM);
    assert_int_equal(state_with_sample_at_age(20, 17, &q), ALARM_STATE_INSUFFICIENT_DATA);
    assert_int_equal(state_with_sample_at_age(300, 3, &q), ALARM_STATE_ALARM);
    assert_int_equal(q, 3);
    assert_int_equal(state_with_sample_at_age(300, 4, &q), ALARM_STATE_INSUFFICIENT_DATA);
    assert_int_equal(state_with_sample_at_age(3600, 3, &q), ALARM_STATE_ALARM);
    assert_int_equal(state_with_sample_at_age(3600, 4, &q), ALARM_STATE_INSUFFICIENT_DATA);
    /* The newest slot ends at the evaluation time truncated to the
     * cadence: a sample in the still-open minute is not seen. */
    assert_int_equal(state_with_sample_at_age(60, 0, &q), ALARM_STATE_INSUFFICIENT_DATA);
}

/* ---- an M-of-N scenario on an injected clock --------------------------------------- */

struct step {
    int minute; /* evaluation at T_BASE + minute min + 7 s */
    enum alarm_state to;
};

static const char *const ALARM_ARNS[] = {"arn:aws:sns:us-east-1:111122223333:alarm-topic"};
static const char *const OK_ARNS[] = {"arn:aws:sns:us-east-1:111122223333:ok-topic",
                                      "arn:aws:sns:us-east-1:111122223333:ok-topic-2"};
static const char *const INSUF_ARNS[] = {"arn:aws:sns:us-east-1:111122223333:insuf-topic"};

static void set_actions(struct alarm_def *def)
{
    def->alarm_actions = ALARM_ARNS;
    def->n_alarm_actions = KS_ARRAY_LEN(ALARM_ARNS);
    def->ok_actions = OK_ARNS;
    def->n_ok_actions = KS_ARRAY_LEN(OK_ARNS);
    def->insufficient_data_actions = INSUF_ARNS;
    def->n_insufficient_data_actions = KS_ARRAY_LEN(INSUF_ARNS);
}

static void check_actions(const struct alarm_change *ch, enum alarm_state s)
{
    const char *const *want = s == ALARM_STATE_ALARM ? ALARM_ARNS
                              : s == ALARM_STATE_OK  ? OK_ARNS
                                                     : INSUF_ARNS;
    size_t n = s == ALARM_STATE_ALARM ? 1 : s == ALARM_STATE_OK ? 2 : 1;
    assert_int_equal(ch->n_actions, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(ch->actions[i], want[i]);
}

/*
 * P = 60, N = 3, M = 2, missing, Sum > 5; one sample per minute at :30.
 * Minutes 0..4: X 0 X 0 0, then silence, then minutes 12, 13: X X.
 * Worked by hand from §4.2 with R = 3 + 5 = 8 slots:
 *   k=1  X(1)                         1 real, premature needs age >= 2 -> OK
 *   k=3  X 0 X                        2 of 3 -> ALARM
 *   k=4  0 X 0                        -> OK
 *   k=14 X X                          2 breaching -> ALARM
 *   k=21 only m13 X at age 8          premature -> stays ALARM
 *   k=22 nothing in range             -> INSUFFICIENT_DATA
 */
static void test_m_of_n_sliding(void **state)
{
    (void)state;
    static const double values[] = {10, 1, 10, 1, 1};
    static const struct step want[] = {{1, ALARM_STATE_OK},
                                       {3, ALARM_STATE_ALARM},
                                       {4, ALARM_STATE_OK},
                                       {14, ALARM_STATE_ALARM},
                                       {22, ALARM_STATE_INSUFFICIENT_DATA}};
    struct fake_store st;
    fake_store_init(&st);
    for (int i = 0; i < 5; i++)
        fake_store_add(&st, T_BASE + i * MIN_MS + 30 * SEC_MS, values[i]);
    fake_store_add(&st, T_BASE + 12 * MIN_MS + 30 * SEC_MS, 6);
    fake_store_add(&st, T_BASE + 13 * MIN_MS + 30 * SEC_MS, 7);

    struct alarm_def def;
    test_def(&def, "m-of-n");
    def.evaluation_periods = 3;
    def.datapoints_to_alarm = 2;
    def.comparison = ALARM_CMP_GT;
    def.threshold = 5;
    set_actions(&def);
    struct alarm *a = alarm_new(&def, T_BASE);
    struct alarm_change ch;
    alarm_change_init(&ch);
    size_t seen = 0;
    enum alarm_state prev = ALARM_STATE_INSUFFICIENT_DATA;
    for (int64_t t = alarm_next_evaluation(a, T_BASE); t <= T_BASE + 30 * MIN_MS;
         t = alarm_next_evaluation(a, t)) {
        int64_t eval = t + 7 * SEC_MS; /* evaluations run a few seconds late */
        st.queries = 0;
        bool changed = alarm_evaluate(a, eval, fake_store_query, &st, &ch);
        assert_int_equal(st.queries, 8);
        int minute = (int)((t - T_BASE) / MIN_MS);
        if (!changed) {
            assert_int_equal(alarm_get_state(a), prev);
            continue;
        }
        if (seen >= KS_ARRAY_LEN(want) || want[seen].minute != minute ||
            want[seen].to != ch.new_state)
            fail_msg("unexpected transition to %s at minute %d (expected #%zu)",
                     alarm_state_name(ch.new_state), minute, seen);
        assert_true(ch.state_changed);
        assert_int_equal(ch.old_state, prev);
        assert_int_equal(ch.time_ms, eval);
        assert_int_equal(ch.transition_ms, eval);
        assert_int_equal(alarm_state_updated_ms(a), eval);
        assert_string_equal(ch.reason.data, alarm_state_reason(a));
        assert_string_equal(ch.reason_data.data, alarm_state_reason_data(a));
        check_actions(&ch, ch.new_state);
        prev = ch.new_state;
        seen++;
    }
    assert_int_equal(seen, KS_ARRAY_LEN(want));
    /* One Create item plus one StateUpdate per transition: staying in a
     * state writes nothing. */
    assert_int_equal(alarm_history_count(alarm_get_history(a)), 1 + KS_ARRAY_LEN(want));
    alarm_change_release(&ch);
    alarm_free(a);
    fake_store_release(&st);
}

/* High resolution: 10 s periods on 1-second data (the lab's alarm shape). */
static void test_high_resolution(void **state)
{
    (void)state;
    struct fake_store st;
    fake_store_init(&st);
    fake_store_add(&st, T_BASE + 12 * SEC_MS, 1);
    fake_store_add(&st, T_BASE + 15 * SEC_MS, 1);
    struct alarm_def def;
    test_def(&def, "lab");
    def.period = 10;
    def.comparison = ALARM_CMP_GT;
    def.threshold = 1;
    def.treat_missing = ALARM_MISSING_IGNORE;
    struct alarm *a = alarm_new(&def, T_BASE);
    /* At +10 s the slot [0,10) is empty and nothing is in range: ignore keeps. */
    assert_false(alarm_evaluate(a, T_BASE + 10 * SEC_MS, fake_store_query, &st, NULL));
    assert_int_equal(alarm_get_state(a), ALARM_STATE_INSUFFICIENT_DATA);
    /* At +20 s (evaluated at 23 s) slot [10,20) sums 2 > 1. */
    assert_true(alarm_evaluate(a, T_BASE + 23 * SEC_MS, fake_store_query, &st, NULL));
    assert_int_equal(alarm_get_state(a), ALARM_STATE_ALARM);
    assert_string_equal(alarm_state_reason(a),
                        "Threshold Crossed: 1 datapoint [2.0 (01/01/24 00:00:10)] was greater "
                        "than the threshold (1.0).");
    /* With ignore and N = 1 the newest real datapoint keeps deciding for the
     * whole 31-slot range, then nothing changes. */
    for (int64_t t = T_BASE + 30 * SEC_MS; t < T_BASE + 10 * MIN_MS; t += 10 * SEC_MS)
        assert_false(alarm_evaluate(a, t, fake_store_query, &st, NULL));
    assert_int_equal(alarm_get_state(a), ALARM_STATE_ALARM);
    alarm_free(a);
    fake_store_release(&st);
}

/* ---- state, actions --------------------------------------------------------------- */

static void test_initial_state(void **state)
{
    (void)state;
    struct alarm_def def;
    test_def(&def, "fresh");
    struct alarm *a = alarm_new(&def, T_BASE + 123);
    assert_int_equal(alarm_get_state(a), ALARM_STATE_INSUFFICIENT_DATA);
    assert_string_equal(alarm_state_reason(a), "Unchecked: Initial alarm creation");
    assert_string_equal(alarm_state_reason_data(a), "");
    assert_int_equal(alarm_state_updated_ms(a), T_BASE + 123);
    assert_int_equal(alarm_config_updated_ms(a), T_BASE + 123);
    assert_string_equal(alarm_arn(a), "arn:aws:cloudwatch:us-east-1:111122223333:alarm:fresh");
    const struct alarm_history *h = alarm_get_history(a);
    assert_int_equal(alarm_history_count(h), 1);
    assert_int_equal(alarm_history_at(h, 0)->type, ALARM_HISTORY_CONFIGURATION_UPDATE);
    /* The def is a copy: the caller's strings may go away. */
    char name[16];
    snprintf(name, sizeof(name), "copy");
    def.name = name;
    struct alarm *b = alarm_new(&def, T_BASE);
    name[0] = 'X';
    assert_string_equal(alarm_get_def(b)->name, "copy");
    alarm_free(b);
    alarm_free(a);
    /* Invalid definitions give no alarm. */
    def.period = 45;
    assert_null(alarm_new(&def, T_BASE));
}

/* Creation then an OK evaluation runs OKActions (AL12); staying OK runs nothing. */
static void test_actions_only_on_transitions(void **state)
{
    (void)state;
    struct fake_store st;
    fake_store_init(&st);
    struct alarm_def def;
    test_def(&def, "actions");
    def.treat_missing = ALARM_MISSING_NOT_BREACHING;
    set_actions(&def);
    struct alarm *a = alarm_new(&def, T_BASE);
    struct alarm_change ch;
    alarm_change_init(&ch);
    assert_true(alarm_evaluate(a, T_BASE + MIN_MS, fake_store_query, &st, &ch));
    assert_int_equal(ch.old_state, ALARM_STATE_INSUFFICIENT_DATA);
    assert_int_equal(ch.new_state, ALARM_STATE_OK);
    check_actions(&ch, ALARM_STATE_OK);
    for (int i = 2; i < 10; i++)
        assert_false(alarm_evaluate(a, T_BASE + i * MIN_MS, fake_store_query, &st, &ch));
    fake_store_add(&st, T_BASE + 10 * MIN_MS, 3);
    assert_true(alarm_evaluate(a, T_BASE + 11 * MIN_MS, fake_store_query, &st, &ch));
    check_actions(&ch, ALARM_STATE_ALARM);
    for (int i = 12; i < 17; i++) /* the datapoint stays the newest real one */
        assert_false(alarm_evaluate(a, T_BASE + i * MIN_MS, fake_store_query, &st, &ch));
    assert_true(alarm_evaluate(a, T_BASE + 17 * MIN_MS, fake_store_query, &st, &ch));
    check_actions(&ch, ALARM_STATE_OK);
    assert_string_equal(ch.reason.data,
                        "Threshold Crossed: no datapoints were received for 1 period and 1 "
                        "missing datapoint was treated as [NonBreaching].");
    alarm_change_release(&ch);
    alarm_free(a);
    fake_store_release(&st);
}

static void test_actions_disabled(void **state)
{
    (void)state;
    struct fake_store st;
    fake_store_init(&st);
    fake_store_add(&st, T_BASE + SEC_MS, 9);
    struct alarm_def def;
    test_def(&def, "quiet");
    set_actions(&def);
    def.actions_enabled = false;
    struct alarm *a = alarm_new(&def, T_BASE);
    struct alarm_change ch;
    alarm_change_init(&ch);
    assert_true(alarm_evaluate(a, T_BASE + MIN_MS, fake_store_query, &st, &ch));
    assert_int_equal(ch.new_state, ALARM_STATE_ALARM);
    assert_int_equal(ch.n_actions, 0);
    assert_null(ch.actions);
    /* State and history still change. */
    assert_int_equal(alarm_get_state(a), ALARM_STATE_ALARM);
    assert_int_equal(alarm_history_count(alarm_get_history(a)), 2);
    /* SetAlarmState too. */
    bool changed = false;
    struct ks_diag d;
    assert_int_equal(
        alarm_set_state(a, ALARM_STATE_OK, "manual", NULL, T_BASE + 2 * MIN_MS, &changed, &ch, &d),
        KS_OK);
    assert_true(changed);
    assert_int_equal(ch.n_actions, 0);
    alarm_change_release(&ch);
    alarm_free(a);
    fake_store_release(&st);
}

/* SetAlarmState is a real transition; the next evaluation recomputes. */
static void test_set_state(void **state)
{
    (void)state;
    struct fake_store st;
    fake_store_init(&st);
    fake_store_add(&st, T_BASE + SEC_MS, 0);
    struct alarm_def def;
    test_def(&def, "forced");
    set_actions(&def);
    struct alarm *a = alarm_new(&def, T_BASE);
    assert_true(alarm_evaluate(a, T_BASE + MIN_MS, fake_store_query, &st, NULL));
    assert_int_equal(alarm_get_state(a), ALARM_STATE_OK);

    struct alarm_change ch;
    alarm_change_init(&ch);
    struct ks_diag d;
    bool changed = false;
    assert_int_equal(alarm_set_state(a, ALARM_STATE_ALARM, "testing the pager", "{\"k\":[1,2]}",
                                     T_BASE + 90 * SEC_MS, &changed, &ch, &d),
                     KS_OK);
    assert_true(changed);
    assert_int_equal(ch.old_state, ALARM_STATE_OK);
    assert_int_equal(ch.new_state, ALARM_STATE_ALARM);
    assert_string_equal(ch.reason.data, "testing the pager");
    assert_string_equal(ch.reason_data.data, "{\"k\":[1,2]}");
    check_actions(&ch, ALARM_STATE_ALARM);
    /* Same state again: nothing. */
    assert_int_equal(alarm_set_state(a, ALARM_STATE_ALARM, "again", NULL, T_BASE + 91 * SEC_MS,
                                     &changed, &ch, &d),
                     KS_OK);
    assert_false(changed);
    assert_string_equal(alarm_state_reason(a), "testing the pager");
    /* Bad input. */
    assert_int_equal(
        alarm_set_state(a, ALARM_STATE_OK, "x", "{not json", T_BASE, &changed, &ch, &d),
        KS_E_INVALID);
    assert_non_null(strstr(d.msg, "StateReasonData"));
    char longr[1100];
    memset(longr, 'r', sizeof(longr) - 1);
    longr[sizeof(longr) - 1] = '\0';
    assert_int_equal(alarm_set_state(a, ALARM_STATE_OK, longr, NULL, T_BASE, &changed, &ch, &d),
                     KS_E_INVALID);
    assert_int_equal(alarm_get_state(a), ALARM_STATE_ALARM);
    /* Back to the computed state at the next evaluation. */
    assert_true(alarm_evaluate(a, T_BASE + 2 * MIN_MS, fake_store_query, &st, &ch));
    assert_int_equal(ch.new_state, ALARM_STATE_OK);
    alarm_change_release(&ch);
    alarm_free(a);
    fake_store_release(&st);
}

/* PutMetricAlarm on an existing alarm keeps the state (spec §2.2). */
static void test_update_def(void **state)
{
    (void)state;
    struct fake_store st;
    fake_store_init(&st);
    fake_store_add(&st, T_BASE + SEC_MS, 3);
    struct alarm_def def;
    test_def(&def, "upd");
    struct alarm *a = alarm_new(&def, T_BASE);
    assert_true(alarm_evaluate(a, T_BASE + MIN_MS, fake_store_query, &st, NULL));
    assert_int_equal(alarm_get_state(a), ALARM_STATE_ALARM);
    struct ks_diag d;
    def.threshold = 10;
    assert_int_equal(alarm_update_def(a, &def, T_BASE + 70 * SEC_MS, &d), KS_OK);
    assert_int_equal(alarm_get_state(a), ALARM_STATE_ALARM);
    assert_int_equal(alarm_config_updated_ms(a), T_BASE + 70 * SEC_MS);
    assert_true(alarm_get_def(a)->threshold == 10);
    assert_true(alarm_evaluate(a, T_BASE + 2 * MIN_MS, fake_store_query, &st, NULL));
    assert_int_equal(alarm_get_state(a), ALARM_STATE_OK);
    /* Name mismatch and invalid definitions are refused, nothing changes. */
    def.name = "other";
    assert_int_equal(alarm_update_def(a, &def, T_BASE, &d), KS_E_INVALID);
    assert_non_null(strstr(d.msg, "does not match"));
    def.name = "upd";
    def.datapoints_to_alarm = 2;
    assert_int_equal(alarm_update_def(a, &def, T_BASE, &d), KS_E_INVALID);
    assert_true(alarm_get_def(a)->threshold == 10);
    alarm_free(a);
    fake_store_release(&st);
}

/* ---- percentiles with few samples (spec §4.5) --------------------------------------- */

struct pct_row {
    const char *stat;
    enum alarm_low_sample low;
    int samples;
    bool evaluated;
};

static const struct pct_row pct_rows[] = {
    {"p99", ALARM_LOW_SAMPLE_IGNORE, 50, false},  {"p99", ALARM_LOW_SAMPLE_IGNORE, 999, false},
    {"p99", ALARM_LOW_SAMPLE_IGNORE, 1000, true}, {"p99", ALARM_LOW_SAMPLE_EVALUATE, 1, true},
    {"p99", ALARM_LOW_SAMPLE_UNSET, 1, true},     {"p50", ALARM_LOW_SAMPLE_IGNORE, 19, false},
    {"p50", ALARM_LOW_SAMPLE_IGNORE, 20, true},   {"p10", ALARM_LOW_SAMPLE_IGNORE, 99, false},
    {"p10", ALARM_LOW_SAMPLE_IGNORE, 100, true},  {"p49.5", ALARM_LOW_SAMPLE_IGNORE, 20, false},
    {"p49.5", ALARM_LOW_SAMPLE_IGNORE, 21, true}, {"p99.9", ALARM_LOW_SAMPLE_IGNORE, 9999, false},
    {"p100", ALARM_LOW_SAMPLE_IGNORE, 1, true},   {"p0", ALARM_LOW_SAMPLE_IGNORE, 1, true},
};

static void test_percentile_low_samples(void **state)
{
    (void)state;
    for (size_t i = 0; i < KS_ARRAY_LEN(pct_rows); i++) {
        const struct pct_row *row = &pct_rows[i];
        struct fake_store st;
        fake_store_init(&st);
        for (int k = 0; k < row->samples; k++)
            fake_store_add(&st, T_BASE + (k % 50) * SEC_MS, 5);
        struct alarm_def def;
        test_def(&def, "pct");
        def.statistic = ALARM_STAT_NONE;
        def.extended_statistic = row->stat;
        def.low_sample = row->low;
        struct alarm *a = alarm_new(&def, T_BASE);
        assert_non_null(a);
        bool changed = alarm_evaluate(a, T_BASE + MIN_MS, fake_store_query, &st, NULL);
        if (changed != row->evaluated)
            fail_msg("row %zu: %s %s with %d samples: expected %s", i, row->stat,
                     alarm_low_sample_name(row->low), row->samples,
                     row->evaluated ? "an evaluation" : "the state kept");
        alarm_free(a);
        fake_store_release(&st);
    }
}

/* One low-sample datapoint anywhere in the N-window keeps the state [?]. */
static void test_percentile_low_sample_window(void **state)
{
    (void)state;
    struct fake_store st;
    fake_store_init(&st);
    for (int k = 0; k < 30; k++)
        fake_store_add(&st, T_BASE + k * SEC_MS, 5);  /* minute 0: 30 samples */
    fake_store_add(&st, T_BASE + MIN_MS + SEC_MS, 5); /* minute 1: 1 sample */
    struct alarm_def def;
    test_def(&def, "pctwin");
    def.statistic = ALARM_STAT_NONE;
    def.extended_statistic = "p50";
    def.low_sample = ALARM_LOW_SAMPLE_IGNORE;
    def.evaluation_periods = 2;
    struct alarm *a = alarm_new(&def, T_BASE);
    force_state(a, ALARM_STATE_OK, T_BASE);
    assert_false(alarm_evaluate(a, T_BASE + 2 * MIN_MS, fake_store_query, &st, NULL));
    assert_int_equal(alarm_get_state(a), ALARM_STATE_OK);
    for (int k = 0; k < 30; k++)
        fake_store_add(&st, T_BASE + MIN_MS + k * SEC_MS, 5);
    assert_true(alarm_evaluate(a, T_BASE + 2 * MIN_MS, fake_store_query, &st, NULL));
    assert_int_equal(alarm_get_state(a), ALARM_STATE_ALARM);
    alarm_free(a);
    fake_store_release(&st);
}

int run_eval_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_cadence),
        cmocka_unit_test(test_default_range),
        cmocka_unit_test(test_m_of_n_sliding),
        cmocka_unit_test(test_high_resolution),
        cmocka_unit_test(test_initial_state),
        cmocka_unit_test(test_actions_only_on_transitions),
        cmocka_unit_test(test_actions_disabled),
        cmocka_unit_test(test_set_state),
        cmocka_unit_test(test_update_def),
        cmocka_unit_test(test_percentile_low_samples),
        cmocka_unit_test(test_percentile_low_sample_window),
    };
    return cmocka_run_group_tests_name("alarm_eval", tests, NULL, NULL);
}
