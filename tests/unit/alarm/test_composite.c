/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Composite alarms (spec §8): AlarmRule grammar errors with their byte
 * offsets, references (quoted, unquoted with spaces, ARNs), truth tables,
 * precedence, the composite's life cycle and StateReason text, and the
 * ActionsSuppressor wait / extension timing on an injected clock.
 */
#include "test_alarm.h"

/* ---- grammar errors ----------------------------------------------------------- */

struct err_row {
    const char *rule;
    size_t offset;
    enum ks_err err;
    const char *msg;
};

static const struct err_row err_rows[] = {
    {"", 0, KS_E_SYNTAX, "unexpected end"},
    {"   ", 3, KS_E_SYNTAX, "unexpected end"},
    {"ALARM(a", 7, KS_E_SYNTAX, "expected ')' to close ALARM("},
    {"ALARM a)", 6, KS_E_SYNTAX, "expected '(' after ALARM"},
    {"ALARM(a) AND", 12, KS_E_SYNTAX, "unexpected end"},
    {"ALARM(a) AND OK(b) OR", 21, KS_E_SYNTAX, "unexpected end"},
    {"ALARM(a) ALARM(b)", 9, KS_E_SYNTAX, "expected AND, OR or the end"},
    {"ALARM(a) and ALARM(b)", 9, KS_E_SYNTAX, "upper case: write 'AND'"},
    {"ALARM(a) Or ALARM(b)", 9, KS_E_SYNTAX, "upper case: write 'OR'"},
    {"alarm(a)", 0, KS_E_SYNTAX, "upper case: write 'ALARM'"},
    {"ALARM(a) AND False", 13, KS_E_SYNTAX, "upper case: write 'FALSE'"},
    {"(ALARM(a)", 9, KS_E_SYNTAX, "expected ')' to close the '(' at offset 0"},
    {"ALARM(a))", 8, KS_E_SYNTAX, "unexpected ')' without a matching '('"},
    {"ALARM(\"a)", 6, KS_E_SYNTAX, "unterminated quoted alarm name"},
    {"ALARM(\"a\" x)", 10, KS_E_SYNTAX, "expected ')' after the alarm name"},
    {"ALARM(a(b))", 7, KS_E_SYNTAX, "cannot contain '('"},
    {"OK(a\"b\")", 4, KS_E_SYNTAX, "cannot contain '\"'"},
    {"ALARM()", 6, KS_E_SYNTAX, "empty alarm name"},
    {"ALARM(  )", 8, KS_E_SYNTAX, "empty alarm name"},
    {"ALARM(\"\")", 7, KS_E_SYNTAX, "empty alarm name"},
    {"FOO(a)", 0, KS_E_SYNTAX, "unknown word 'FOO'"},
    {"AND ALARM(a)", 0, KS_E_SYNTAX, "AND needs an operand"},
    {")", 0, KS_E_SYNTAX, "unexpected ')'"},
    {"ALARM(a) OR #", 12, KS_E_SYNTAX, "unexpected '#'"},
    {"NOT", 3, KS_E_SYNTAX, "unexpected end"},
    {"NOT (TRUE AND)", 13, KS_E_SYNTAX, "unexpected ')'"},
    {"ALARM(arn:aws:cloudwatch:eu-west-1:111122223333:alarm:x)", 6, KS_E_SYNTAX,
     "not an alarm ARN of region us-east-1"},
    {"OK(\"arn:aws:cloudwatch:us-east-1:999999999999:alarm:x\")", 4, KS_E_SYNTAX,
     "account 111122223333"},
    {"OK(arn:aws:sns:us-east-1:111122223333:topic)", 3, KS_E_SYNTAX, "not an alarm ARN"},
    {"ALARM(a)\nAND\nOK(", 16, KS_E_SYNTAX, "expected ')' to close OK("},
};

static void test_rule_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < KS_ARRAY_LEN(err_rows); i++) {
        const struct err_row *row = &err_rows[i];
        struct ks_diag d;
        struct alarm_rule *r = alarm_rule_parse(row->rule, strlen(row->rule), NULL, NULL, &d);
        if (r || d.offset != row->offset || d.err != row->err || !strstr(d.msg, row->msg) ||
            !strstr(d.msg, "alarm rule"))
            fail_msg("row %zu: rule '%s'\n  expected offset %zu with '%s'\n  got %s offset %zu "
                     "'%s'",
                     i, row->rule, row->offset, row->msg, r ? "a rule" : "error", d.offset, d.msg);
        alarm_rule_free(r);
    }
}

static void test_rule_limits(void **state)
{
    (void)state;
    struct ks_diag d;
    char *buf = ks_xmalloc(ALARM_RULE_MAX_BYTES + 64);
    /* 500 elements pass, the 501st is refused where it starts. */
    size_t len = 0;
    for (int i = 0; i < 501; i++)
        len += (size_t)snprintf(buf + len, 64, "%sTRUE", i ? " OR " : "");
    struct alarm_rule *r = alarm_rule_parse(buf, len - 8, NULL, NULL, &d);
    assert_non_null(r);
    alarm_rule_free(r);
    r = alarm_rule_parse(buf, len, NULL, NULL, &d);
    assert_null(r);
    assert_int_equal(d.err, KS_E_LIMIT);
    assert_int_equal(d.offset, len - 4);
    assert_non_null(strstr(d.msg, "more than 500 elements"));
    /* A pair of parentheses counts once. */
    len = (size_t)snprintf(buf, 64, "(TRUE)");
    r = alarm_rule_parse(buf, len, NULL, NULL, &d);
    assert_non_null(r);
    alarm_rule_free(r);
    /* 100 distinct children pass, the 101st is refused. */
    len = 0;
    for (int i = 0; i < 101; i++)
        len += (size_t)snprintf(buf + len, 64, "%sALARM(c%d)", i ? " OR " : "", i);
    r = alarm_rule_parse(buf, len, NULL, NULL, &d);
    assert_null(r);
    assert_int_equal(d.err, KS_E_LIMIT);
    assert_int_equal(d.offset, len - 5);
    /* Repeating one child does not count twice. */
    len = 0;
    for (int i = 0; i < 150; i++)
        len += (size_t)snprintf(buf + len, 64, "%sOK(same)", i ? " OR " : "");
    r = alarm_rule_parse(buf, len, NULL, NULL, &d);
    assert_non_null(r);
    assert_int_equal(alarm_rule_child_count(r), 1);
    alarm_rule_free(r);
    /* Nesting depth. */
    len = 0;
    for (int i = 0; i < ALARM_RULE_MAX_DEPTH + 1; i++)
        len += (size_t)snprintf(buf + len, 64, "NOT ");
    len += (size_t)snprintf(buf + len, 64, "TRUE");
    r = alarm_rule_parse(buf, len, NULL, NULL, &d);
    assert_null(r);
    assert_int_equal(d.err, KS_E_LIMIT);
    assert_int_equal(d.offset, (size_t)ALARM_RULE_MAX_DEPTH * 4);
    /* Length. */
    memset(buf, ' ', ALARM_RULE_MAX_BYTES + 1);
    memcpy(buf, "TRUE", 4);
    r = alarm_rule_parse(buf, ALARM_RULE_MAX_BYTES, NULL, NULL, &d);
    assert_non_null(r);
    alarm_rule_free(r);
    r = alarm_rule_parse(buf, ALARM_RULE_MAX_BYTES + 1, NULL, NULL, &d);
    assert_null(r);
    assert_int_equal(d.err, KS_E_LIMIT);
    free(buf);
}

static void test_rule_references(void **state)
{
    (void)state;
    const char *text = "ALARM(\"CORE - DB - USO CPU\") OR OK( arn:aws:cloudwatch:us-east-1:"
                       "111122223333:alarm:b ) AND INSUFFICIENT_DATA(  my alarm\t) OR "
                       "ALARM(\"arn:aws:cloudwatch:us-east-1:111122223333:alarm:x:y\") OR "
                       "OK(b)";
    struct ks_diag d;
    struct alarm_rule *r = alarm_rule_parse(text, strlen(text), NULL, NULL, &d);
    assert_non_null(r);
    assert_int_equal(alarm_rule_child_count(r), 4);
    assert_string_equal(alarm_rule_child(r, 0), "CORE - DB - USO CPU");
    assert_string_equal(alarm_rule_child(r, 1), "b");
    assert_string_equal(alarm_rule_child(r, 2), "my alarm");
    assert_string_equal(alarm_rule_child(r, 3), "x:y");
    assert_null(alarm_rule_child(r, 4));
    alarm_rule_free(r);
    /* Another region, when the composite lives there. */
    text = "ALARM(arn:aws:cloudwatch:eu-west-1:123456789012:alarm:z)";
    r = alarm_rule_parse(text, strlen(text), "eu-west-1", "123456789012", &d);
    assert_non_null(r);
    assert_string_equal(alarm_rule_child(r, 0), "z");
    alarm_rule_free(r);
}

/* ---- truth tables ------------------------------------------------------------- */

struct truth_row {
    const char *rule;
    const char *abc; /* states of a, b, c: A(LARM) O(K) I(NSUFFICIENT) -(absent) */
    bool want;
};

static const struct truth_row truth_rows[] = {
    {"ALARM(a) AND ALARM(b)", "AA-", true},
    {"ALARM(a) AND ALARM(b)", "AO-", false},
    {"ALARM(a) AND ALARM(b)", "OA-", false},
    {"ALARM(a) AND ALARM(b)", "II-", false},
    {"ALARM(a) OR ALARM(b)", "OO-", false},
    {"ALARM(a) OR ALARM(b)", "OA-", true},
    {"ALARM(a) OR ALARM(b)", "AI-", true},
    {"NOT ALARM(a)", "A--", false},
    {"NOT ALARM(a)", "O--", true},
    {"NOT ALARM(a)", "I--", true},
    {"OK(a)", "O--", true},
    {"OK(a)", "I--", false},
    {"INSUFFICIENT_DATA(a)", "I--", true},
    {"INSUFFICIENT_DATA(a)", "A--", false},
    {"TRUE", "---", true},
    {"FALSE", "---", false},
    {"NOT TRUE", "---", false},
    {"NOT NOT FALSE", "---", false},
    {"TRUE AND FALSE OR TRUE", "---", true},
    /* NOT > AND > OR */
    {"ALARM(a) OR ALARM(b) AND ALARM(c)", "AOO", true},
    {"(ALARM(a) OR ALARM(b)) AND ALARM(c)", "AOO", false},
    {"NOT ALARM(a) AND ALARM(b)", "AO-", false},
    {"NOT (ALARM(a) AND ALARM(b))", "AO-", true},
    {"NOT ALARM(a) OR ALARM(b)", "AA-", true},
    {"(ALARM(a) OR ALARM(b)) AND OK(c)", "AOO", true},
    {"(ALARM(a) OR ALARM(b)) AND OK(c)", "AOA", false},
    {"ALARM(a) AND NOT ALARM(b)", "AO-", true},
    {"ALARM(a) AND NOT ALARM(b)", "AA-", false},
    /* An alarm that does not exist satisfies no function. */
    {"ALARM(c)", "---", false},
    {"OK(c)", "---", false},
    {"INSUFFICIENT_DATA(c)", "---", false},
    {"NOT OK(c)", "---", true},
    /* Layout: whitespace and newlines anywhere between tokens. */
    {"\n(\tALARM( a )\nOR\nALARM(\"b\")\n)", "OA-", true},
};

static void load_registry(struct fake_alarm *reg, const char *abc)
{
    static const char *const names[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        reg[i].name = names[i];
        reg[i].ts = T_BASE;
        reg[i].exists = abc[i] != '-';
        reg[i].state = abc[i] == 'A'   ? ALARM_STATE_ALARM
                       : abc[i] == 'O' ? ALARM_STATE_OK
                                       : ALARM_STATE_INSUFFICIENT_DATA;
    }
    reg[3].name = NULL;
}

static void test_truth_tables(void **state)
{
    (void)state;
    for (size_t i = 0; i < KS_ARRAY_LEN(truth_rows); i++) {
        const struct truth_row *row = &truth_rows[i];
        struct fake_alarm reg[4];
        load_registry(reg, row->abc);
        struct ks_diag d;
        struct alarm_rule *r = alarm_rule_parse(row->rule, strlen(row->rule), NULL, NULL, &d);
        if (!r)
            fail_msg("row %zu: '%s' does not parse: %s", i, row->rule, d.msg);
        bool got = alarm_rule_eval(r, fake_registry_state, reg);
        if (got != row->want)
            fail_msg("row %zu: '%s' with a,b,c = %s: expected %d", i, row->rule, row->abc,
                     row->want);
        alarm_rule_free(r);
    }
}

/* ---- composite life cycle ------------------------------------------------------- */

static const char *const C_ALARM[] = {"arn:aws:sns:us-east-1:111122223333:security-alerts"};
static const char *const C_OK[] = {"arn:aws:sns:us-east-1:111122223333:all-clear"};

static void composite_def(struct alarm_composite_def *def, const char *name, const char *rule)
{
    alarm_composite_def_init(def);
    def->name = name;
    def->rule = rule;
    def->alarm_actions = C_ALARM;
    def->n_alarm_actions = 1;
    def->ok_actions = C_OK;
    def->n_ok_actions = 1;
}

static void test_composite_lifecycle(void **state)
{
    (void)state;
    const int64_t t_child = INT64_C(1709287800123); /* 2024-03-01T10:10:00.123Z */
    struct fake_alarm reg[] = {
        {"kms-decrypt-failures", ALARM_STATE_OK, t_child - 3600 * SEC_MS, true},
        {"kms-decrypt-volume-anomaly", ALARM_STATE_ALARM, t_child - 60 * SEC_MS, true},
        {NULL, ALARM_STATE_OK, 0, false},
    };
    struct alarm_composite_def def;
    composite_def(&def, "kms-abuse",
                  "ALARM(kms-decrypt-failures) AND ALARM(kms-decrypt-volume-anomaly)");
    def.description = "Failures and volume anomaly together";
    struct alarm_composite *c = alarm_composite_new(&def, t_child - 30 * SEC_MS);
    assert_non_null(c);
    assert_int_equal(alarm_composite_state(c), ALARM_STATE_INSUFFICIENT_DATA);
    assert_string_equal(alarm_composite_arn(c),
                        "arn:aws:cloudwatch:us-east-1:111122223333:alarm:kms-abuse");
    struct alarm_change ch;
    alarm_change_init(&ch);

    /* Creation: evaluated once, INSUFFICIENT_DATA -> OK with OKActions (AL12). */
    assert_true(alarm_composite_evaluate(c, t_child - 29 * SEC_MS, fake_registry_state, reg, &ch));
    assert_int_equal(ch.old_state, ALARM_STATE_INSUFFICIENT_DATA);
    assert_int_equal(ch.new_state, ALARM_STATE_OK);
    assert_string_equal(ch.reason.data, "arn:aws:cloudwatch:us-east-1:111122223333:alarm:kms-abuse "
                                        "was created and its alarm rule evaluates to OK");
    assert_string_equal(ch.reason_data.data, "{\"triggeringAlarms\":[]}");
    assert_int_equal(ch.n_actions, 1);
    assert_string_equal(ch.actions[0], C_OK[0]);
    /* Nothing moved: no evaluation, no change. */
    assert_false(alarm_composite_evaluate(c, t_child - 20 * SEC_MS, fake_registry_state, reg, &ch));

    /* A child transitions: the captured reason (§8.3, §11.3). */
    fake_registry_set(reg, "kms-decrypt-failures", ALARM_STATE_ALARM, t_child);
    assert_true(alarm_composite_evaluate(c, INT64_C(1709287800612), fake_registry_state, reg, &ch));
    assert_int_equal(ch.new_state, ALARM_STATE_ALARM);
    assert_string_equal(ch.reason.data,
                        "arn:aws:cloudwatch:us-east-1:111122223333:alarm:kms-decrypt-failures "
                        "transitioned to ALARM at Friday 01 March, 2024 10:10:00 UTC");
    assert_string_equal(ch.reason_data.data,
                        "{\"triggeringAlarms\":[{\"arn\":\"arn:aws:cloudwatch:us-east-1:"
                        "111122223333:alarm:kms-decrypt-failures\",\"state\":{\"value\":\"ALARM\","
                        "\"timestamp\":\"2024-03-01T10:10:00.123+0000\"}}]}");
    assert_int_equal(ch.n_actions, 1);
    assert_string_equal(ch.actions[0], C_ALARM[0]);
    assert_int_equal(alarm_composite_state_updated_ms(c), INT64_C(1709287800612));
    assert_string_equal(alarm_composite_state_reason(c), ch.reason.data);
    assert_string_equal(alarm_composite_state_reason_data(c), ch.reason_data.data);

    /* A child changes but the rule result does not: nothing. */
    fake_registry_set(reg, "kms-decrypt-volume-anomaly", ALARM_STATE_ALARM, t_child + 5000);
    assert_false(alarm_composite_evaluate(c, t_child + 6000, fake_registry_state, reg, &ch));

    /* SetAlarmState sticks until a child changes (AL16). */
    struct ks_diag d;
    bool changed = false;
    assert_int_equal(alarm_composite_set_state(c, ALARM_STATE_OK, "maintenance", NULL,
                                               t_child + 7000, &changed, &ch, &d),
                     KS_OK);
    assert_true(changed);
    assert_string_equal(ch.actions[0], C_OK[0]);
    assert_false(alarm_composite_evaluate(c, t_child + 8000, fake_registry_state, reg, &ch));
    assert_int_equal(alarm_composite_state(c), ALARM_STATE_OK);
    fake_registry_set(reg, "kms-decrypt-failures", ALARM_STATE_ALARM, t_child + 9000);
    assert_true(alarm_composite_evaluate(c, t_child + 9500, fake_registry_state, reg, &ch));
    assert_int_equal(ch.new_state, ALARM_STATE_ALARM);

    /* The newest child change is the triggering one. */
    fake_registry_set(reg, "kms-decrypt-volume-anomaly", ALARM_STATE_OK, t_child + 20000);
    fake_registry_set(reg, "kms-decrypt-failures", ALARM_STATE_OK, t_child + 10000);
    assert_true(alarm_composite_evaluate(c, t_child + 21000, fake_registry_state, reg, &ch));
    assert_non_null(strstr(ch.reason.data, "alarm:kms-decrypt-volume-anomaly transitioned to OK "
                                           "at Friday 01 March, 2024 10:10:20 UTC"));

    /* A configuration update re-evaluates. */
    def.rule = "TRUE";
    assert_int_equal(alarm_composite_update_def(c, &def, t_child + 30000, &d), KS_OK);
    assert_int_equal(alarm_composite_state(c), ALARM_STATE_OK);
    assert_true(alarm_composite_evaluate(c, t_child + 31000, fake_registry_state, reg, &ch));
    assert_string_equal(ch.reason.data, "arn:aws:cloudwatch:us-east-1:111122223333:alarm:kms-abuse "
                                        "was updated and its alarm rule evaluates to ALARM");
    assert_int_equal(alarm_rule_child_count(alarm_composite_rule(c)), 0);

    /* History: Create, 5 StateUpdates, Update, and the last StateUpdate. */
    const struct alarm_history *h = alarm_composite_history(c);
    assert_int_equal(alarm_history_count(h), 8);
    const struct alarm_history_item *first = alarm_history_at(h, 0);
    assert_int_equal(first->alarm_type, ALARM_TYPE_COMPOSITE);
    assert_string_equal(first->summary, "Alarm \"kms-abuse\" created");
    assert_non_null(strstr(first->data, "\"alarmRule\":\"ALARM(kms-decrypt-failures) AND "
                                        "ALARM(kms-decrypt-volume-anomaly)\""));
    assert_string_equal(alarm_history_at(h, 1)->summary,
                        "Alarm updated from INSUFFICIENT_DATA to OK");
    assert_string_equal(alarm_history_at(h, 6)->summary, "Alarm \"kms-abuse\" updated");
    assert_string_equal(alarm_history_at(h, 7)->summary, "Alarm updated from OK to ALARM");
    alarm_composite_record_action(c, t_child + 32000, C_ALARM[0], t_child + 31000, "{}", NULL);
    assert_int_equal(alarm_history_at(h, 8)->type, ALARM_HISTORY_ACTION);
    alarm_change_release(&ch);
    alarm_composite_free(c);
}

/* ---- suppressor timing ------------------------------------------------------------ */

#define S(x) (T_BASE + (x)*SEC_MS)

static void expect_release(struct alarm_composite *c, int64_t now, struct fake_alarm *reg,
                           struct alarm_change *ch, int64_t at, const char *action)
{
    assert_true(alarm_composite_evaluate(c, now, fake_registry_state, reg, ch));
    assert_false(ch->state_changed);
    assert_int_equal(ch->old_state, ch->new_state);
    assert_int_equal(ch->time_ms, at);
    assert_int_equal(ch->n_actions, 1);
    assert_string_equal(ch->actions[0], action);
    assert_int_equal(alarm_composite_suppressed_by(c), ALARM_SUPPRESSED_NONE);
}

static void expect_held_transition(struct alarm_composite *c, int64_t now, struct fake_alarm *reg,
                                   struct alarm_change *ch, enum alarm_state to,
                                   enum alarm_suppressed_by by)
{
    assert_true(alarm_composite_evaluate(c, now, fake_registry_state, reg, ch));
    assert_true(ch->state_changed);
    assert_int_equal(ch->new_state, to);
    assert_int_equal(ch->n_actions, 0);
    assert_int_equal(alarm_composite_suppressed_by(c), by);
}

static void test_suppressor_timing(void **state)
{
    (void)state;
    struct fake_alarm reg[] = {
        {"child", ALARM_STATE_OK, S(0), true},
        {"maint", ALARM_STATE_OK, S(0), true},
        {NULL, ALARM_STATE_OK, 0, false},
    };
    struct alarm_composite_def def;
    composite_def(&def, "guarded", "ALARM(child)");
    def.actions_suppressor = "arn:aws:cloudwatch:us-east-1:111122223333:alarm:maint";
    def.suppressor_wait_period = 60;
    def.suppressor_extension_period = 120;
    struct alarm_composite *c = alarm_composite_new(&def, S(0));
    assert_non_null(c);
    struct alarm_change ch;
    alarm_change_init(&ch);

    /* 1. Wait period expires: the actions of the state at that moment run. */
    expect_held_transition(c, S(1), reg, &ch, ALARM_STATE_OK, ALARM_SUPPRESSED_WAIT_PERIOD);
    assert_string_equal(alarm_composite_suppressed_reason(c), "Actions suppressed by WaitPeriod");
    assert_int_equal(alarm_composite_next_deadline(c), S(61));
    assert_false(alarm_composite_evaluate(c, S(30), fake_registry_state, reg, &ch));
    assert_false(alarm_composite_evaluate(c, S(61) - 1, fake_registry_state, reg, &ch));
    expect_release(c, S(61), reg, &ch, S(61), C_OK[0]);
    assert_int_equal(ch.transition_ms, S(1));
    assert_int_equal(alarm_composite_next_deadline(c), INT64_MAX);
    assert_string_equal(alarm_composite_suppressed_reason(c), "");
    assert_false(alarm_composite_evaluate(c, S(62), fake_registry_state, reg, &ch));

    /* 2. The suppressor reaches ALARM inside the wait: held until it leaves
     *    ALARM and the extension period ends. */
    fake_registry_set(reg, "child", ALARM_STATE_ALARM, S(100));
    expect_held_transition(c, S(100), reg, &ch, ALARM_STATE_ALARM, ALARM_SUPPRESSED_WAIT_PERIOD);
    fake_registry_set(reg, "maint", ALARM_STATE_ALARM, S(130));
    assert_false(alarm_composite_evaluate(c, S(131), fake_registry_state, reg, &ch));
    assert_int_equal(alarm_composite_suppressed_by(c), ALARM_SUPPRESSED_ALARM);
    assert_string_equal(alarm_composite_suppressed_reason(c), "Actions suppressed by Alarm");
    assert_int_equal(alarm_composite_next_deadline(c), INT64_MAX);
    assert_false(alarm_composite_evaluate(c, S(250), fake_registry_state, reg, &ch));
    fake_registry_set(reg, "maint", ALARM_STATE_OK, S(300));
    assert_false(alarm_composite_evaluate(c, S(305), fake_registry_state, reg, &ch));
    assert_int_equal(alarm_composite_suppressed_by(c), ALARM_SUPPRESSED_EXTENSION_PERIOD);
    assert_string_equal(alarm_composite_suppressed_reason(c),
                        "Actions suppressed by ExtensionPeriod");
    /* The extension runs from when the suppressor left ALARM. */
    assert_int_equal(alarm_composite_next_deadline(c), S(420));
    assert_false(alarm_composite_evaluate(c, S(419), fake_registry_state, reg, &ch));
    expect_release(c, S(420), reg, &ch, S(420), C_ALARM[0]);

    /* 3. A transition during the extension discards it and starts a wait. */
    fake_registry_set(reg, "maint", ALARM_STATE_ALARM, S(500));
    assert_false(alarm_composite_evaluate(c, S(500), fake_registry_state, reg, &ch));
    fake_registry_set(reg, "child", ALARM_STATE_OK, S(510));
    expect_held_transition(c, S(510), reg, &ch, ALARM_STATE_OK, ALARM_SUPPRESSED_ALARM);
    fake_registry_set(reg, "maint", ALARM_STATE_OK, S(600));
    assert_false(alarm_composite_evaluate(c, S(600), fake_registry_state, reg, &ch));
    assert_int_equal(alarm_composite_next_deadline(c), S(720));
    fake_registry_set(reg, "child", ALARM_STATE_ALARM, S(650));
    expect_held_transition(c, S(650), reg, &ch, ALARM_STATE_ALARM, ALARM_SUPPRESSED_WAIT_PERIOD);
    assert_int_equal(alarm_composite_next_deadline(c), S(710));
    expect_release(c, S(710), reg, &ch, S(710), C_ALARM[0]);
    assert_false(alarm_composite_evaluate(c, S(720), fake_registry_state, reg, &ch));

    /* 4. A late call with two outcomes reports them one per call, in order. */
    fake_registry_set(reg, "child", ALARM_STATE_OK, S(800));
    expect_held_transition(c, S(800), reg, &ch, ALARM_STATE_OK, ALARM_SUPPRESSED_WAIT_PERIOD);
    fake_registry_set(reg, "child", ALARM_STATE_ALARM, S(870));
    expect_release(c, S(900), reg, &ch, S(860), C_OK[0]);
    expect_held_transition(c, S(900), reg, &ch, ALARM_STATE_ALARM, ALARM_SUPPRESSED_WAIT_PERIOD);
    assert_false(alarm_composite_evaluate(c, S(901), fake_registry_state, reg, &ch));

    /* 5. Replacing the suppressor discards the running wait. */
    def.actions_suppressor = "other";
    struct ks_diag d;
    assert_int_equal(alarm_composite_update_def(c, &def, S(910), &d), KS_OK);
    assert_int_equal(alarm_composite_suppressed_by(c), ALARM_SUPPRESSED_NONE);
    assert_int_equal(alarm_composite_next_deadline(c), INT64_MAX);
    assert_false(alarm_composite_evaluate(c, S(2000), fake_registry_state, reg, &ch));
    alarm_change_release(&ch);
    alarm_composite_free(c);
}

/* A zero wait period releases with the transition itself; ActionsEnabled
 * false releases nothing. */
static void test_suppressor_edges(void **state)
{
    (void)state;
    struct fake_alarm reg[] = {
        {"child", ALARM_STATE_ALARM, S(0), true},
        {"maint", ALARM_STATE_OK, S(0), true},
        {NULL, ALARM_STATE_OK, 0, false},
    };
    struct alarm_composite_def def;
    composite_def(&def, "zero", "ALARM(child)");
    def.actions_suppressor = "maint";
    def.suppressor_wait_period = 0;
    def.suppressor_extension_period = 0;
    struct alarm_composite *c = alarm_composite_new(&def, S(0));
    struct alarm_change ch;
    alarm_change_init(&ch);
    assert_true(alarm_composite_evaluate(c, S(1), fake_registry_state, reg, &ch));
    assert_int_equal(ch.n_actions, 1);
    assert_string_equal(ch.actions[0], C_ALARM[0]);
    alarm_composite_free(c);

    def.name = "disabled";
    def.suppressor_wait_period = 10;
    def.actions_enabled = false;
    c = alarm_composite_new(&def, S(0));
    assert_true(alarm_composite_evaluate(c, S(1), fake_registry_state, reg, &ch));
    assert_int_equal(ch.n_actions, 0);
    assert_false(alarm_composite_evaluate(c, S(100), fake_registry_state, reg, &ch));
    alarm_composite_free(c);

    /* A suppressor that does not exist never suppresses beyond the wait. */
    def.name = "ghost";
    def.actions_enabled = true;
    def.actions_suppressor = "no-such-alarm";
    c = alarm_composite_new(&def, S(0));
    assert_true(alarm_composite_evaluate(c, S(1), fake_registry_state, reg, &ch));
    assert_int_equal(ch.n_actions, 0);
    expect_release(c, S(11), reg, &ch, S(11), C_ALARM[0]);
    alarm_change_release(&ch);
    alarm_composite_free(c);
}

/* ---- composite definition checks --------------------------------------------------- */

struct cdef_row {
    const char *name;
    const char *rule;
    const char *suppressor;
    int wait;
    size_t offset;
    const char *msg;
};

static const struct cdef_row cdef_rows[] = {
    {"c", "ALARM(a) AND", NULL, 0, 12, "unexpected end"},
    {"c", "", NULL, 0, SIZE_MAX, "AlarmRule must be 1 to 10240 bytes"},
    {"", "TRUE", NULL, 0, SIZE_MAX, "AlarmName must be 1 to 255 bytes"},
    {"c", "TRUE", "c", 0, SIZE_MAX, "not the composite itself"},
    {"c", "TRUE", "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:x", 0, SIZE_MAX,
     "not an alarm ARN"},
    {"c", "TRUE", "x", -1, SIZE_MAX, "must not be negative"},
};

static void test_composite_def_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < KS_ARRAY_LEN(cdef_rows); i++) {
        const struct cdef_row *row = &cdef_rows[i];
        struct alarm_composite_def def;
        composite_def(&def, row->name, row->rule);
        def.actions_suppressor = row->suppressor;
        def.suppressor_wait_period = row->wait;
        struct ks_diag d;
        ks_diag_clear(&d);
        enum ks_err e = alarm_composite_def_validate(&def, &d);
        if (e == KS_OK || d.offset != row->offset || !strstr(d.msg, row->msg))
            fail_msg("row %zu: expected offset %zu '%s', got %s offset %zu '%s'", i, row->offset,
                     row->msg, ks_strerror(e), d.offset, d.msg);
        assert_null(alarm_composite_new(&def, T_BASE));
    }
}

int run_composite_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_errors),         cmocka_unit_test(test_rule_limits),
        cmocka_unit_test(test_rule_references),     cmocka_unit_test(test_truth_tables),
        cmocka_unit_test(test_composite_lifecycle), cmocka_unit_test(test_suppressor_timing),
        cmocka_unit_test(test_suppressor_edges),    cmocka_unit_test(test_composite_def_errors),
    };
    return cmocka_run_group_tests_name("alarm_composite", tests, NULL, NULL);
}
