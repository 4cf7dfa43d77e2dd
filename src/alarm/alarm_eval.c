/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metric alarm state machine (spec §3-§6).
 *
 * DESIGN. An evaluation at time T looks at R = N + L slots of Period seconds
 * that end at T0 = T truncated to the minute (to 10 s for high-resolution
 * alarms), newest first; slots slide with T, they are not aligned to the
 * period (§3). Each slot is asked from the caller's query callback and
 * becomes X (real, breaching), 0 (real, not breaching) or - (missing). The
 * §4.2 algorithm turns the slot row into ALARM, OK, INSUFFICIENT_DATA or
 * "keep"; only a result different from the current state is a transition
 * (§5), which rewrites StateReason / StateReasonData (§6), appends a
 * StateUpdate history item and hands the new state's actions to the caller.
 *
 * Invariants: the alarm owns a validated copy of its definition; the slot
 * array holds R entries after an evaluation; state_ms only moves on
 * transitions (and SetAlarmState). Times are whatever the caller passes.
 */
#include <math.h>

#include "alarm/alarm_int.h"

struct slot {
    int64_t start;
    bool real;
    bool breach;
    struct alarm_datapoint dp;
};

struct alarm {
    struct alarm_def_copy cfg;
    char *arn;
    double pct; /* percentile as a fraction, or -1 */
    enum alarm_state state;
    char *reason;
    char *reason_data; /* "" when none */
    int64_t state_ms;
    int64_t config_ms;
    struct alarm_history *hist;
    struct slot *slots;
    size_t slots_cap;
    size_t *evaluated; /* slot indices, newest first */
    size_t evaluated_cap;
};

static const char CREATION_REASON[] = "Unchecked: Initial alarm creation";

static void config_json(const struct alarm *a, struct ks_buf *b)
{
    struct alarm_w w = {b, KS_OK};
    ks_buf_reset(b);
    alarm_def_write_json(&w, &a->cfg.def, a->arn, a->config_ms, a->state, a->state_ms);
    if (w.err)
        ks_buf_reset(b); /* inputs are validated to a few KiB; cannot happen */
}

struct alarm *alarm_new(const struct alarm_def *def, int64_t created_ms)
{
    struct ks_diag d;
    if (alarm_def_validate(def, &d) != KS_OK)
        return NULL;
    struct alarm *a = ks_xcalloc(1, sizeof(*a));
    alarm_def_copy_init(&a->cfg, def);
    a->arn = alarm_arn_build(def->region, def->account, def->name);
    a->pct = alarm_def_percentile(&a->cfg.def);
    a->state = ALARM_STATE_INSUFFICIENT_DATA;
    a->reason = ks_xstrdup(CREATION_REASON);
    a->reason_data = ks_xstrdup("");
    a->state_ms = created_ms;
    a->config_ms = created_ms;
    a->hist = alarm_history_new(def->name, ALARM_TYPE_METRIC, def->history_max);
    struct ks_buf b;
    ks_buf_init(&b, ALARM_TEXT_CAP);
    config_json(a, &b);
    alarm_history_add_config(a->hist, created_ms, true, NULL, b.data);
    ks_buf_release(&b);
    return a;
}

void alarm_free(struct alarm *a)
{
    if (!a)
        return;
    alarm_def_copy_release(&a->cfg);
    free(a->arn);
    free(a->reason);
    free(a->reason_data);
    alarm_history_free(a->hist);
    free(a->slots);
    free(a->evaluated);
    free(a);
}

const struct alarm_def *alarm_get_def(const struct alarm *a)
{
    return &a->cfg.def;
}

const char *alarm_arn(const struct alarm *a)
{
    return a->arn;
}

enum alarm_state alarm_get_state(const struct alarm *a)
{
    return a->state;
}

const char *alarm_state_reason(const struct alarm *a)
{
    return a->reason;
}

const char *alarm_state_reason_data(const struct alarm *a)
{
    return a->reason_data;
}

int64_t alarm_state_updated_ms(const struct alarm *a)
{
    return a->state_ms;
}

int64_t alarm_config_updated_ms(const struct alarm *a)
{
    return a->config_ms;
}

const struct alarm_history *alarm_get_history(const struct alarm *a)
{
    return a->hist;
}

/* Evaluation cadence (spec §3): every minute, every 10 s below 60 s periods. */
static int64_t cadence_ms(const struct alarm_def *def)
{
    return def->period < 60 ? 10000 : 60000;
}

int64_t alarm_next_evaluation(const struct alarm *a, int64_t after_ms)
{
    int64_t step = cadence_ms(&a->cfg.def);
    return (alarm_floor_div(after_ms, step) + 1) * step;
}

/* L of R = N + L (spec §4.1): configurable, default max(2, ceil(300 / P)). */
static size_t range_extra(const struct alarm_def *def)
{
    if (def->range_extra > 0)
        return (size_t)def->range_extra;
    size_t l = (size_t)((300 + def->period - 1) / def->period);
    return l < 2 ? 2 : l;
}

/* Spec §3.1: the metric value is the left operand; NaN breaches nothing. */
static bool breaches(const struct alarm_def *def, double v)
{
    switch (def->comparison) {
    case ALARM_CMP_GE:
        return v >= def->threshold;
    case ALARM_CMP_GT:
        return v > def->threshold;
    case ALARM_CMP_LT:
        return v < def->threshold;
    case ALARM_CMP_LE:
        return v <= def->threshold;
    case ALARM_CMP_OUTSIDE_BAND:
    case ALARM_CMP_BELOW_BAND:
    case ALARM_CMP_ABOVE_BAND:
        break; /* rejected by validation */
    }
    return false;
}

/*
 * Spec §4.5: with EvaluateLowSampleCountPercentile = ignore, a percentile
 * datapoint is "low sample" below 10 / (1 - p) samples for p >= 0.5 and below
 * 10 / p for p < 0.5. p0 and p100 (min and max) never are [I].
 */
static bool low_sample(double p, double count)
{
    if (p <= 0 || p >= 1)
        return false;
    return p >= 0.5 ? count < 10 / (1 - p) : count < 10 / p;
}

/* How the verdict was reached; decides the StateReason template. */
enum how {
    HOW_REAL,         /* k of the evaluated real datapoints (maybe plus filled ones) */
    HOW_FILLED_ONLY,  /* no real datapoint: N missing ones treated as breaching/not */
    HOW_INSUFFICIENT, /* no real datapoint, missing: INSUFFICIENT_DATA */
};

struct verdict {
    bool keep;
    enum alarm_state state;
    enum how how;
    size_t filled;       /* missing slots filled per TreatMissingData */
    bool fill_breaching; /* what they were filled as */
    size_t n_eval;       /* a->evaluated[0..n_eval): real datapoints, newest first */
};

/*
 * Spec §4.2, exactly. `real` below is the real datapoints of the range;
 * B / G their breaching / non-breaching counts; F = N - |real|.
 */
static struct verdict decide(struct alarm *a, size_t r)
{
    const struct alarm_def *def = &a->cfg.def;
    size_t n = (size_t)def->evaluation_periods;
    size_t m = def->datapoints_to_alarm > 0 ? (size_t)def->datapoints_to_alarm : n;
    struct verdict v = {.keep = false, .state = a->state, .how = HOW_REAL};
    size_t nreal = 0, b = 0, g = 0, oldest_real = 0;
    for (size_t k = 0; k < r; k++) {
        if (!a->slots[k].real)
            continue;
        nreal++;
        if (a->slots[k].breach)
            b++;
        else
            g++;
        oldest_real = k;
    }

    if (nreal >= n) {
        /* Enough real data: the N most recent real datapoints decide, gaps
         * skipped, and TreatMissingData plays no part. */
        size_t hits = 0;
        for (size_t k = 0; k < r && v.n_eval < n; k++) {
            if (!a->slots[k].real)
                continue;
            a->evaluated[v.n_eval++] = k;
            hits += a->slots[k].breach;
        }
        v.state = hits >= m ? ALARM_STATE_ALARM : ALARM_STATE_OK;
        return v;
    }
    if (nreal == 0) {
        v.how = HOW_FILLED_ONLY;
        v.filled = n;
        switch (def->treat_missing) {
        case ALARM_MISSING_MISSING:
            v.how = HOW_INSUFFICIENT;
            v.filled = 0;
            v.state = ALARM_STATE_INSUFFICIENT_DATA;
            break;
        case ALARM_MISSING_IGNORE:
            v.keep = true;
            break;
        case ALARM_MISSING_BREACHING:
            v.fill_breaching = true;
            v.state = ALARM_STATE_ALARM;
            break;
        case ALARM_MISSING_NOT_BREACHING:
            v.state = ALARM_STATE_OK;
            break;
        }
        return v;
    }

    /* Some real data, fewer than N: every real datapoint of the range takes
     * part and F slots are filled as TreatMissingData says. */
    for (size_t k = 0; k < r; k++)
        if (a->slots[k].real)
            a->evaluated[v.n_eval++] = k;
    size_t f = n - nreal;
    /* Premature alarm (AL1): only breaching real datapoints, the oldest of
     * them at least M periods old (age counts from 1 at the newest slot). */
    bool premature = g == 0 && oldest_real + 1 >= m;
    switch (def->treat_missing) {
    case ALARM_MISSING_BREACHING:
        v.filled = f;
        v.fill_breaching = true;
        v.state = b + f >= m ? ALARM_STATE_ALARM : ALARM_STATE_OK;
        break;
    case ALARM_MISSING_NOT_BREACHING:
        v.filled = f;
        v.state = b >= m ? ALARM_STATE_ALARM : ALARM_STATE_OK;
        break;
    case ALARM_MISSING_MISSING:
        v.state = (b >= m || premature) ? ALARM_STATE_ALARM : ALARM_STATE_OK;
        break;
    case ALARM_MISSING_IGNORE:
        if (b >= m)
            v.state = ALARM_STATE_ALARM;
        else if (g > 0)
            v.state = ALARM_STATE_OK;
        else
            v.keep = true;
        break;
    }
    return v;
}

/* ---- StateReason (spec §6.1) ---------------------------------------------------- */

static void item_text(struct alarm_w *w, const struct slot *s)
{
    char num[ALARM_FMT_DOUBLE_SIZE], ts[ALARM_FMT_TIME_SIZE];
    alarm_fmt_double(num, s->dp.value);
    alarm_fmt_short_time(ts, s->start);
    aw_fmt(w, "%s (%s)", num, ts);
}

/*
 * "Threshold Crossed: <k> out of the last <N> datapoints [<v> (<ts>), ...]
 * <was|were> [not ]<relation> the threshold (<t>) (minimum <m> <datapoint|s>
 * for <OK -> ALARM|ALARM -> OK> transition)." (or the legacy form without
 * "out of the last N" and the minimum when DatapointsToAlarm is not set).
 * Datapoints are listed newest first; if the list would push the text past
 * 1023 bytes, the tail of the list becomes "..." [I].
 */
static void reason_real(struct alarm *a, const struct verdict *v, struct ks_buf *out)
{
    const struct alarm_def *def = &a->cfg.def;
    bool to_alarm = v->state == ALARM_STATE_ALARM;
    int n = def->evaluation_periods;
    int m = def->datapoints_to_alarm > 0 ? def->datapoints_to_alarm : n;
    size_t *listed = ks_xcalloc(v->n_eval ? v->n_eval : 1, sizeof(*listed));
    size_t k = 0;
    for (size_t i = 0; i < v->n_eval; i++)
        if (a->slots[a->evaluated[i]].breach == to_alarm)
            listed[k++] = a->evaluated[i];

    char thr[ALARM_FMT_DOUBLE_SIZE];
    alarm_fmt_double(thr, def->threshold);
    const char *rel = "";
    switch (def->comparison) {
#define X_REL(id, name, relation)                                                                  \
    case ALARM_CMP_##id:                                                                           \
        rel = relation;                                                                            \
        break;
        ALARM_COMPARISONS(X_REL)
#undef X_REL
    }

    struct ks_buf head, tail;
    ks_buf_init(&head, ALARM_TEXT_CAP);
    ks_buf_init(&tail, ALARM_TEXT_CAP);
    struct alarm_w wh = {&head, KS_OK}, wt = {&tail, KS_OK};
    if (def->datapoints_to_alarm > 0)
        aw_fmt(&wh, "Threshold Crossed: %zu out of the last %d datapoints [", k, n);
    else
        aw_fmt(&wh, "Threshold Crossed: %zu %s [", k, k == 1 ? "datapoint" : "datapoints");
    aw_fmt(&wt, "] %s %s%s the threshold (%s)", k == 1 ? "was" : "were", to_alarm ? "" : "not ",
           rel, thr);
    if (def->datapoints_to_alarm > 0) {
        int min = to_alarm ? m : n - m + 1;
        aw_fmt(&wt, " (minimum %d %s for %s transition)", min,
               min == 1 ? "datapoint" : "datapoints", to_alarm ? "OK -> ALARM" : "ALARM -> OK");
    }
    /* Real and filled datapoints mixed: AWS's wording is unknown [?]; the
     * filled ones are named before the final period (spec §6.1). */
    if (v->filled)
        aw_fmt(&wt, " %zu missing %s treated as [%s]", v->filled,
               v->filled == 1 ? "datapoint was" : "datapoints were",
               v->fill_breaching ? "Breaching" : "NonBreaching");
    aw_raw(&wt, ".");

    struct alarm_w w = {out, KS_OK};
    ks_buf_reset(out);
    aw_mem(&w, head.data, head.len);
    static const char more[] = ", ...";
    for (size_t i = 0; i < k; i++) {
        struct ks_buf one;
        ks_buf_init(&one, ALARM_TEXT_CAP);
        struct alarm_w w1 = {&one, KS_OK};
        if (i)
            aw_raw(&w1, ", ");
        item_text(&w1, &a->slots[listed[i]]);
        bool last = i + 1 == k;
        size_t reserve = last ? 0 : sizeof(more) - 1;
        if (out->len + one.len + reserve + tail.len > ALARM_REASON_MAX) {
            aw_raw(&w, i ? more : "...");
            ks_buf_release(&one);
            break;
        }
        aw_mem(&w, one.data, one.len);
        ks_buf_release(&one);
    }
    aw_mem(&w, tail.data, tail.len);
    free(listed);
    ks_buf_release(&head);
    ks_buf_release(&tail);
}

static void reason_text(struct alarm *a, const struct verdict *v, struct ks_buf *out)
{
    int n = a->cfg.def.evaluation_periods;
    struct alarm_w w = {out, KS_OK};
    ks_buf_reset(out);
    switch (v->how) {
    case HOW_REAL:
        reason_real(a, v, out);
        return;
    case HOW_FILLED_ONLY:
        aw_fmt(&w,
               "Threshold Crossed: no datapoints were received for %d %s and %d missing %s "
               "treated as [%s].",
               n, n == 1 ? "period" : "periods", n, n == 1 ? "datapoint was" : "datapoints were",
               v->fill_breaching ? "Breaching" : "NonBreaching");
        return;
    case HOW_INSUFFICIENT:
        aw_fmt(&w, "Insufficient Data: %d %s unknown.", n,
               n == 1 ? "datapoint was" : "datapoints were");
        return;
    }
}

/* ---- StateReasonData (spec §6.2) ------------------------------------------------- */

/*
 * {"version":"1.0","queryDate":..,"startDate":..,"statistic":..,"unit":..,
 *  "period":..,"recentDatapoints":[..],"threshold":..,"evaluatedDatapoints":[..]}
 * recentDatapoints: every real datapoint of the range, oldest first; when the
 * document would exceed 4000 bytes the oldest values are left out (and
 * startDate follows the oldest value kept) [I]. evaluatedDatapoints: the
 * newest evaluated real datapoint, or the N newest slots (timestamps only)
 * when there was no real datapoint [I].
 */
static void reason_data(struct alarm *a, const struct verdict *v, int64_t eval_ms, size_t r,
                        struct ks_buf *out)
{
    const struct alarm_def *def = &a->cfg.def;
    struct ks_buf tail;
    ks_buf_init(&tail, ALARM_TEXT_CAP);
    struct alarm_w wt = {&tail, KS_OK};
    aw_raw(&wt, "],\"threshold\":");
    aw_jnum(&wt, def->threshold);
    aw_raw(&wt, ",\"evaluatedDatapoints\":[");
    if (v->how == HOW_REAL && v->n_eval) {
        const struct slot *s = &a->slots[a->evaluated[0]];
        aw_raw(&wt, "{\"timestamp\":");
        aw_jtime(&wt, s->start);
        aw_raw(&wt, ",\"sampleCount\":");
        aw_jnum(&wt, s->dp.sample_count);
        aw_raw(&wt, ",\"value\":");
        aw_jnum(&wt, s->dp.value);
        aw_raw(&wt, "}");
    } else if (v->how != HOW_REAL) {
        for (size_t k = 0; k < (size_t)def->evaluation_periods && k < r; k++) {
            aw_raw(&wt, k ? ",{\"timestamp\":" : "{\"timestamp\":");
            aw_jtime(&wt, a->slots[k].start);
            aw_raw(&wt, "}");
        }
    }
    aw_raw(&wt, "]}");

    /* Fixed part without startDate: measure it to know how many values fit. */
    struct ks_buf mid;
    ks_buf_init(&mid, ALARM_TEXT_CAP);
    struct alarm_w wm = {&mid, KS_OK};
    if (def->statistic != ALARM_STAT_NONE) {
        aw_raw(&wm, ",\"statistic\":");
        aw_jstr(&wm, alarm_statistic_name(def->statistic));
    } else {
        aw_raw(&wm, ",\"statistic\":");
        aw_jstr(&wm, def->extended_statistic);
    }
    if (def->unit) {
        aw_raw(&wm, ",\"unit\":");
        aw_jstr(&wm, def->unit);
    }
    aw_fmt(&wm, ",\"period\":%d,\"recentDatapoints\":[", (int)def->period);

    char qd[ALARM_FMT_TIME_SIZE];
    alarm_fmt_time(qd, eval_ms);
    static const size_t start_len = sizeof(",\"startDate\":\"2023-01-09T14:01:00.000+0000\"") - 1;
    size_t fixed = sizeof("{\"version\":\"1.0\",\"queryDate\":\"\"") - 1 + strlen(qd) + start_len +
                   mid.len + tail.len;

    /* Newest to oldest, so the values kept under the cap are the newest. */
    size_t oldest = SIZE_MAX, nvals = 0, used = fixed;
    size_t *idx = ks_xcalloc(r ? r : 1, sizeof(*idx));
    for (size_t k = 0; k < r; k++) {
        if (!a->slots[k].real)
            continue;
        char num[ALARM_FMT_DOUBLE_SIZE];
        size_t len = isfinite(a->slots[k].dp.value) ? alarm_fmt_double(num, a->slots[k].dp.value)
                                                    : 4; /* null */
        size_t add = len + (nvals ? 1 : 0);
        if (used + add > ALARM_REASON_DATA_MAX)
            break;
        used += add;
        idx[nvals++] = k;
        oldest = k;
    }

    struct alarm_w w = {out, KS_OK};
    ks_buf_reset(out);
    aw_raw(&w, "{\"version\":\"1.0\",\"queryDate\":");
    aw_jtime(&w, eval_ms);
    if (oldest != SIZE_MAX) {
        aw_raw(&w, ",\"startDate\":");
        aw_jtime(&w, a->slots[oldest].start);
    }
    aw_mem(&w, mid.data, mid.len);
    for (size_t i = nvals; i-- > 0;) {
        if (i + 1 != nvals)
            aw_raw(&w, ",");
        aw_jnum(&w, a->slots[idx[i]].dp.value);
    }
    aw_mem(&w, tail.data, tail.len);
    free(idx);
    ks_buf_release(&tail);
    ks_buf_release(&mid);
}

/* ---- transitions ------------------------------------------------------------------ */

static void transition(struct alarm *a, enum alarm_state to, const char *reason, const char *data,
                       int64_t now_ms, struct alarm_change *out)
{
    enum alarm_state from = a->state;
    alarm_history_add_state(a->hist, now_ms, from, a->reason, a->reason_data, to, reason, data);
    free(a->reason);
    free(a->reason_data);
    a->reason = ks_xstrdup(reason);
    a->reason_data = ks_xstrdup(data ? data : "");
    a->state = to;
    a->state_ms = now_ms;
    const char *const *acts = NULL;
    size_t nacts = 0;
    if (a->cfg.def.actions_enabled)
        alarm_def_actions(&a->cfg.def, to, &acts, &nacts);
    alarm_change_fill(out, true, from, to, now_ms, now_ms, a->reason, a->reason_data, acts, nacts);
}

bool alarm_evaluate(struct alarm *a, int64_t eval_ms, alarm_query_fn *query, void *ctx,
                    struct alarm_change *out)
{
    const struct alarm_def *def = &a->cfg.def;
    size_t n = (size_t)def->evaluation_periods;
    size_t r = n + range_extra(def);
    if (r > a->slots_cap) {
        free(a->slots);
        free(a->evaluated);
        a->slots = ks_xcalloc(r, sizeof(*a->slots));
        a->evaluated = ks_xcalloc(r, sizeof(*a->evaluated));
        a->slots_cap = r;
    }
    int64_t step = cadence_ms(def);
    int64_t t0 = alarm_floor_div(eval_ms, step) * step;
    int64_t p = (int64_t)def->period * 1000;
    for (size_t k = 0; k < r; k++) {
        struct slot *s = &a->slots[k];
        s->start = t0 - (int64_t)(k + 1) * p;
        s->dp.value = 0;
        s->dp.sample_count = 0;
        s->real = query(ctx, def, s->start, s->start + p, &s->dp);
        s->breach = s->real && breaches(def, s->dp.value);
    }

    struct verdict v = decide(a, r);
    if (!v.keep && a->pct >= 0 && def->low_sample == ALARM_LOW_SAMPLE_IGNORE) {
        /* Spec §4.5 [?]: one low-sample datapoint in the window keeps the state. */
        for (size_t i = 0; i < v.n_eval && !v.keep; i++)
            v.keep = low_sample(a->pct, a->slots[a->evaluated[i]].dp.sample_count);
    }
    if (v.keep || v.state == a->state)
        return false;

    struct ks_buf text, data;
    ks_buf_init(&text, ALARM_TEXT_CAP);
    ks_buf_init(&data, ALARM_TEXT_CAP);
    reason_text(a, &v, &text);
    reason_data(a, &v, eval_ms, r, &data);
    transition(a, v.state, text.data, data.data, eval_ms, out);
    ks_buf_release(&text);
    ks_buf_release(&data);
    return true;
}

enum ks_err alarm_set_state(struct alarm *a, enum alarm_state state, const char *reason,
                            const char *reason_data, int64_t now_ms, bool *changed,
                            struct alarm_change *out, struct ks_diag *diag)
{
    if (changed)
        *changed = false;
    enum ks_err e = alarm_check_forced_state(state, reason, reason_data, diag);
    if (e)
        return e;
    if (state == a->state)
        return KS_OK;
    transition(a, state, reason, reason_data, now_ms, out);
    if (changed)
        *changed = true;
    return KS_OK;
}

enum ks_err alarm_update_def(struct alarm *a, const struct alarm_def *def, int64_t now_ms,
                             struct ks_diag *diag)
{
    enum ks_err e = alarm_def_validate(def, diag);
    if (e)
        return e;
    if (strcmp(def->name, a->cfg.def.name) != 0)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "AlarmName '%s' does not match the alarm being updated ('%s')",
                           def->name, a->cfg.def.name);
    struct ks_buf before, after;
    ks_buf_init(&before, ALARM_TEXT_CAP);
    ks_buf_init(&after, ALARM_TEXT_CAP);
    config_json(a, &before);
    alarm_def_copy_release(&a->cfg);
    alarm_def_copy_init(&a->cfg, def);
    free(a->arn);
    a->arn = alarm_arn_build(def->region, def->account, def->name);
    a->pct = alarm_def_percentile(&a->cfg.def);
    a->config_ms = now_ms;
    alarm_history_set_max(a->hist, def->history_max);
    config_json(a, &after);
    alarm_history_add_config(a->hist, now_ms, false, before.data, after.data);
    ks_buf_release(&before);
    ks_buf_release(&after);
    return KS_OK;
}

void alarm_record_action(struct alarm *a, int64_t now_ms, const char *action_arn,
                         int64_t state_update_ms, const char *published_message, const char *error)
{
    alarm_history_add_action(a->hist, now_ms, action_arn, state_update_ms, published_message,
                             error);
}
