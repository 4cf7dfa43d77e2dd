/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Composite alarms (spec §8): state from an AlarmRule over other alarms'
 * states, plus the ActionsSuppressor machinery.
 *
 * DESIGN. The composite does not know the other alarms; each evaluate call
 * polls the children (and the suppressor) through the caller's state
 * callback and compares what it sees with what the previous call saw. The
 * rule is evaluated only on the first call, after a configuration update,
 * or when some child's state or state timestamp moved (AWS re-evaluates on
 * child changes only, which is also why a SetAlarmState on a composite
 * sticks until a child changes, AL16). The child whose change is newest is
 * the triggering alarm named in StateReason.
 *
 * Suppression is a small state machine over injected times (§8.4):
 *   NONE --suppressor ALARM--> ALARM --suppressor leaves--> EXTENSION(t+ext)
 *   transition (suppressor not in ALARM) --> WAIT(t+wait)
 *   WAIT/EXTENSION --suppressor ALARM before the end--> ALARM
 *   WAIT/EXTENSION --end reached--> NONE, held actions run for the state then
 * A transition discards a running period and starts a new wait (or ALARM if
 * the suppressor is in ALARM). `pending` says whether actions are held.
 */
#include "alarm/alarm_int.h"

struct seen {
    bool known;
    enum alarm_state state;
    int64_t ts;
};

struct alarm_composite {
    struct alarm_composite_copy cfg;
    struct alarm_rule *rule;
    char *arn;
    char *suppressor; /* resolved alarm name, NULL when none */
    enum alarm_state state;
    char *reason;
    char *reason_data;
    int64_t state_ms;
    int64_t config_ms;
    struct alarm_history *hist;
    bool evaluated; /* the rule was evaluated since creation */
    bool updated;   /* configuration changed since the last rule evaluation */
    struct seen *seen;
    /* suppression */
    enum alarm_suppressed_by sup_by;
    int64_t sup_until;
    bool pending;
    bool sup_alarm; /* suppressor in ALARM at the last poll */
};

static void config_json(const struct alarm_composite *c, struct ks_buf *b)
{
    struct alarm_w w = {b, KS_OK};
    ks_buf_reset(b);
    alarm_composite_def_write_json(&w, &c->cfg.def, c->arn, c->config_ms, c->state, c->state_ms);
    if (w.err)
        ks_buf_reset(b); /* validated inputs stay far below the cap */
}

static char *resolve_suppressor(const struct alarm_composite_def *def)
{
    if (!def->actions_suppressor)
        return NULL;
    const char *s = def->actions_suppressor, *name = s;
    size_t len = strlen(s), nlen = len;
    alarm_arn_name(s, len, def->region, def->account, &name, &nlen);
    return ks_xmemdup(name, nlen);
}

/* (Re)loads the rule and the per-child "seen" table from c->cfg. */
static void load_rule(struct alarm_composite *c)
{
    alarm_rule_free(c->rule);
    free(c->seen);
    const struct alarm_composite_def *def = &c->cfg.def;
    c->rule = alarm_rule_parse(def->rule, strlen(def->rule), def->region, def->account, NULL);
    if (!c->rule)
        ALARM_BUG("validated alarm rule failed to parse");
    size_t n = alarm_rule_child_count(c->rule);
    c->seen = ks_xcalloc(n ? n : 1, sizeof(*c->seen));
}

struct alarm_composite *alarm_composite_new(const struct alarm_composite_def *def,
                                            int64_t created_ms)
{
    struct ks_diag d;
    if (alarm_composite_def_validate(def, &d) != KS_OK)
        return NULL;
    struct alarm_composite *c = ks_xcalloc(1, sizeof(*c));
    alarm_composite_copy_init(&c->cfg, def);
    load_rule(c);
    c->arn = alarm_arn_build(def->region, def->account, def->name);
    c->suppressor = resolve_suppressor(&c->cfg.def);
    c->state = ALARM_STATE_INSUFFICIENT_DATA;
    c->reason = ks_xstrdup("Unchecked: Initial alarm creation");
    c->reason_data = ks_xstrdup("");
    c->state_ms = created_ms;
    c->config_ms = created_ms;
    c->hist = alarm_history_new(def->name, ALARM_TYPE_COMPOSITE, def->history_max);
    struct ks_buf b;
    ks_buf_init(&b, ALARM_TEXT_CAP);
    config_json(c, &b);
    alarm_history_add_config(c->hist, created_ms, true, NULL, b.data);
    ks_buf_release(&b);
    return c;
}

void alarm_composite_free(struct alarm_composite *c)
{
    if (!c)
        return;
    alarm_composite_copy_release(&c->cfg);
    alarm_rule_free(c->rule);
    free(c->arn);
    free(c->suppressor);
    free(c->reason);
    free(c->reason_data);
    alarm_history_free(c->hist);
    free(c->seen);
    free(c);
}

const struct alarm_composite_def *alarm_composite_get_def(const struct alarm_composite *c)
{
    return &c->cfg.def;
}

const struct alarm_rule *alarm_composite_rule(const struct alarm_composite *c)
{
    return c->rule;
}

const char *alarm_composite_arn(const struct alarm_composite *c)
{
    return c->arn;
}

enum alarm_state alarm_composite_state(const struct alarm_composite *c)
{
    return c->state;
}

const char *alarm_composite_state_reason(const struct alarm_composite *c)
{
    return c->reason;
}

const char *alarm_composite_state_reason_data(const struct alarm_composite *c)
{
    return c->reason_data;
}

int64_t alarm_composite_state_updated_ms(const struct alarm_composite *c)
{
    return c->state_ms;
}

const struct alarm_history *alarm_composite_history(const struct alarm_composite *c)
{
    return c->hist;
}

enum alarm_suppressed_by alarm_composite_suppressed_by(const struct alarm_composite *c)
{
    return c->sup_by;
}

const char *alarm_composite_suppressed_reason(const struct alarm_composite *c)
{
    switch (c->sup_by) {
    case ALARM_SUPPRESSED_NONE:
        return "";
    case ALARM_SUPPRESSED_ALARM:
        return "Actions suppressed by Alarm";
    case ALARM_SUPPRESSED_WAIT_PERIOD:
        return "Actions suppressed by WaitPeriod";
    case ALARM_SUPPRESSED_EXTENSION_PERIOD:
        return "Actions suppressed by ExtensionPeriod";
    }
    return "";
}

int64_t alarm_composite_next_deadline(const struct alarm_composite *c)
{
    if (c->sup_by == ALARM_SUPPRESSED_WAIT_PERIOD || c->sup_by == ALARM_SUPPRESSED_EXTENSION_PERIOD)
        return c->sup_until;
    return INT64_MAX;
}

/* Held actions come due at `at`: report the current state's actions. */
static bool release(struct alarm_composite *c, int64_t at, struct alarm_change *out)
{
    const char *const *acts = NULL;
    size_t n = 0;
    if (c->cfg.def.actions_enabled)
        alarm_composite_def_actions(&c->cfg.def, c->state, &acts, &n);
    if (n == 0)
        return false;
    alarm_change_fill(out, false, c->state, c->state, at, c->state_ms, c->reason, c->reason_data,
                      acts, n);
    return true;
}

static int64_t seconds_after(int64_t t, int32_t secs)
{
    return t + (int64_t)secs * 1000;
}

/* Runs the suppression machine up to now; true when held actions came due. */
static bool advance_suppression(struct alarm_composite *c, int64_t now_ms, alarm_state_fn *fn,
                                void *ctx, struct alarm_change *out)
{
    struct alarm_child_state s = {ALARM_STATE_INSUFFICIENT_DATA, now_ms};
    bool known = fn(ctx, c->suppressor, &s);
    bool in_alarm = known && s.state == ALARM_STATE_ALARM;
    c->sup_alarm = in_alarm;
    for (;;) {
        switch (c->sup_by) {
        case ALARM_SUPPRESSED_NONE:
            if (in_alarm)
                c->sup_by = ALARM_SUPPRESSED_ALARM;
            return false;
        case ALARM_SUPPRESSED_ALARM: {
            if (in_alarm)
                return false;
            /* It left ALARM when it entered its current state. */
            int64_t left = known && s.timestamp_ms <= now_ms ? s.timestamp_ms : now_ms;
            c->sup_by = ALARM_SUPPRESSED_EXTENSION_PERIOD;
            c->sup_until = seconds_after(left, c->cfg.def.suppressor_extension_period);
            continue;
        }
        case ALARM_SUPPRESSED_WAIT_PERIOD:
        case ALARM_SUPPRESSED_EXTENSION_PERIOD:
            /* The suppressor reaching ALARM before the period ends discards it. */
            if (in_alarm && s.timestamp_ms < c->sup_until) {
                c->sup_by = ALARM_SUPPRESSED_ALARM;
                return false;
            }
            if (now_ms < c->sup_until)
                return false;
            c->sup_by = ALARM_SUPPRESSED_NONE;
            if (c->pending) {
                c->pending = false;
                if (release(c, c->sup_until, out))
                    return true;
            }
            continue;
        }
        return false;
    }
}

static void transition(struct alarm_composite *c, enum alarm_state to, const char *reason,
                       const char *data, int64_t now_ms, struct alarm_change *out)
{
    enum alarm_state from = c->state;
    alarm_history_add_state(c->hist, now_ms, from, c->reason, c->reason_data, to, reason, data);
    free(c->reason);
    free(c->reason_data);
    c->reason = ks_xstrdup(reason);
    c->reason_data = ks_xstrdup(data ? data : "");
    c->state = to;
    c->state_ms = now_ms;
    const char *const *acts = NULL;
    size_t n = 0;
    if (c->cfg.def.actions_enabled)
        alarm_composite_def_actions(&c->cfg.def, to, &acts, &n);
    if (c->suppressor) {
        /* A new state discards any running period (spec §8.4). */
        c->pending = true;
        if (c->sup_alarm) {
            c->sup_by = ALARM_SUPPRESSED_ALARM;
            n = 0;
        } else {
            c->sup_by = ALARM_SUPPRESSED_WAIT_PERIOD;
            c->sup_until = seconds_after(now_ms, c->cfg.def.suppressor_wait_period);
            if (c->sup_until <= now_ms) {
                c->sup_by = ALARM_SUPPRESSED_NONE;
                c->pending = false;
            } else {
                n = 0;
            }
        }
    }
    alarm_change_fill(out, true, from, to, now_ms, now_ms, c->reason, c->reason_data, acts, n);
}

bool alarm_composite_evaluate(struct alarm_composite *c, int64_t now_ms, alarm_state_fn *fn,
                              void *ctx, struct alarm_change *out)
{
    if (c->suppressor && advance_suppression(c, now_ms, fn, ctx, out))
        return true;

    size_t nc = alarm_rule_child_count(c->rule);
    size_t alloc = nc ? nc : 1;
    struct seen *now = ks_xcalloc(alloc, sizeof(*now));
    bool *known = ks_xcalloc(alloc, sizeof(*known));
    enum alarm_state *states = ks_xcalloc(alloc, sizeof(*states));
    bool changed = false;
    size_t trig = SIZE_MAX;
    for (size_t i = 0; i < nc; i++) {
        struct alarm_child_state cs = {ALARM_STATE_INSUFFICIENT_DATA, 0};
        now[i].known = fn(ctx, alarm_rule_child(c->rule, i), &cs);
        now[i].state = cs.state;
        now[i].ts = now[i].known ? cs.timestamp_ms : 0;
        known[i] = now[i].known;
        states[i] = now[i].state;
        const struct seen *was = &c->seen[i];
        if (now[i].known != was->known ||
            (now[i].known && (now[i].state != was->state || now[i].ts != was->ts))) {
            changed = true;
            if (now[i].known && (trig == SIZE_MAX || now[i].ts > now[trig].ts))
                trig = i;
        }
    }
    bool result = false, run = !c->evaluated || c->updated || changed;
    if (run) {
        memcpy(c->seen, now, nc * sizeof(*now));
        result = alarm_rule_eval_states(c->rule, known, states);
    }
    enum alarm_state to = result ? ALARM_STATE_ALARM : ALARM_STATE_OK;
    bool fire = run && to != c->state;
    if (fire) {
        struct ks_buf reason, data;
        ks_buf_init(&reason, ALARM_TEXT_CAP);
        ks_buf_init(&data, ALARM_TEXT_CAP);
        struct alarm_w wr = {&reason, KS_OK}, wd = {&data, KS_OK};
        aw_raw(&wd, "{\"triggeringAlarms\":[");
        if (c->evaluated && !c->updated && trig != SIZE_MAX) {
            /* "<child ARN> transitioned to <STATE> at <Weekday DD Month, YYYY
             * HH:MM:SS UTC>" with the child's own transition time (§8.3). */
            char *child_arn = alarm_arn_build(c->cfg.def.region, c->cfg.def.account,
                                              alarm_rule_child(c->rule, trig));
            char when[64];
            alarm_fmt_long_time(when, now[trig].ts);
            aw_raw(&wr, child_arn);
            aw_raw(&wr, " transitioned to ");
            aw_raw(&wr, alarm_state_name(now[trig].state));
            aw_raw(&wr, " at ");
            aw_raw(&wr, when);
            aw_raw(&wd, "{\"arn\":");
            aw_jstr(&wd, child_arn);
            aw_raw(&wd, ",\"state\":{\"value\":");
            aw_jstr(&wd, alarm_state_name(now[trig].state));
            aw_raw(&wd, ",\"timestamp\":");
            aw_jtime(&wd, now[trig].ts);
            aw_raw(&wd, "}}");
            free(child_arn);
        } else {
            /* Creation is the captured wording; update and "a child went
             * away" are ours [I]. */
            const char *why = !c->evaluated ? "was created"
                              : c->updated  ? "was updated"
                                            : "was re-evaluated";
            aw_raw(&wr, c->arn);
            aw_raw(&wr, " ");
            aw_raw(&wr, why);
            aw_raw(&wr, " and its alarm rule evaluates to ");
            aw_raw(&wr, alarm_state_name(to));
        }
        aw_raw(&wd, "]}");
        size_t cut = alarm_utf8_cut(reason.data, reason.len, ALARM_REASON_MAX);
        reason.data[cut] = '\0';
        transition(c, to, reason.data, data.data, now_ms, out);
        ks_buf_release(&reason);
        ks_buf_release(&data);
    }
    if (run) {
        c->evaluated = true;
        c->updated = false;
    }
    free(now);
    free(known);
    free(states);
    return fire;
}

enum ks_err alarm_composite_set_state(struct alarm_composite *c, enum alarm_state state,
                                      const char *reason, const char *reason_data, int64_t now_ms,
                                      bool *changed, struct alarm_change *out, struct ks_diag *diag)
{
    if (changed)
        *changed = false;
    enum ks_err e = alarm_check_forced_state(state, reason, reason_data, diag);
    if (e)
        return e;
    if (state == c->state)
        return KS_OK;
    /* The suppressor state used is the one seen at the last evaluate. */
    transition(c, state, reason, reason_data, now_ms, out);
    if (changed)
        *changed = true;
    return KS_OK;
}

enum ks_err alarm_composite_update_def(struct alarm_composite *c,
                                       const struct alarm_composite_def *def, int64_t now_ms,
                                       struct ks_diag *diag)
{
    enum ks_err e = alarm_composite_def_validate(def, diag);
    if (e)
        return e;
    if (strcmp(def->name, c->cfg.def.name) != 0)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "AlarmName '%s' does not match the alarm being updated ('%s')",
                           def->name, c->cfg.def.name);
    struct ks_buf before, after;
    ks_buf_init(&before, ALARM_TEXT_CAP);
    ks_buf_init(&after, ALARM_TEXT_CAP);
    config_json(c, &before);
    alarm_composite_copy_release(&c->cfg);
    alarm_composite_copy_init(&c->cfg, def);
    load_rule(c);
    free(c->arn);
    c->arn = alarm_arn_build(def->region, def->account, def->name);
    char *sup = resolve_suppressor(&c->cfg.def);
    bool same = (!sup && !c->suppressor) || (sup && c->suppressor && !strcmp(sup, c->suppressor));
    if (!same) {
        /* Replacing the suppressor discards a running period (spec §8.4). */
        c->sup_by = ALARM_SUPPRESSED_NONE;
        c->pending = false;
        c->sup_alarm = false;
    }
    free(c->suppressor);
    c->suppressor = sup;
    c->config_ms = now_ms;
    c->updated = true;
    alarm_history_set_max(c->hist, def->history_max);
    config_json(c, &after);
    alarm_history_add_config(c->hist, now_ms, false, before.data, after.data);
    ks_buf_release(&before);
    ks_buf_release(&after);
    return KS_OK;
}

void alarm_composite_record_action(struct alarm_composite *c, int64_t now_ms,
                                   const char *action_arn, int64_t state_update_ms,
                                   const char *published_message, const char *error)
{
    alarm_history_add_action(c->hist, now_ms, action_arn, state_update_ms, published_message,
                             error);
}
