/* SPDX-License-Identifier: Apache-2.0 */
#include <math.h>

#include "test_alarm.h"

void fake_store_init(struct fake_store *st)
{
    memset(st, 0, sizeof(*st));
}

void fake_store_release(struct fake_store *st)
{
    free(st->s);
    memset(st, 0, sizeof(*st));
}

void fake_store_add(struct fake_store *st, int64_t t, double v)
{
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 16;
        st->s = ks_xrealloc(st->s, st->cap * sizeof(*st->s));
    }
    st->s[st->n++] = (struct fake_sample){t, v};
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

bool fake_store_query(void *ctx, const struct alarm_def *def, int64_t start_ms, int64_t end_ms,
                      struct alarm_datapoint *out)
{
    struct fake_store *st = ctx;
    st->queries++;
    double *vals = ks_xcalloc(st->n ? st->n : 1, sizeof(*vals));
    size_t n = 0;
    for (size_t i = 0; i < st->n; i++)
        if (st->s[i].t >= start_ms && st->s[i].t < end_ms)
            vals[n++] = st->s[i].v;
    if (n == 0) {
        free(vals);
        return false;
    }
    double sum = 0, mn = vals[0], mx = vals[0];
    for (size_t i = 0; i < n; i++) {
        sum += vals[i];
        mn = vals[i] < mn ? vals[i] : mn;
        mx = vals[i] > mx ? vals[i] : mx;
    }
    out->sample_count = (double)n;
    switch (def->statistic) {
    case ALARM_STAT_SAMPLE_COUNT:
        out->value = (double)n;
        break;
    case ALARM_STAT_SUM:
        out->value = sum;
        break;
    case ALARM_STAT_AVERAGE:
        out->value = sum / (double)n;
        break;
    case ALARM_STAT_MINIMUM:
        out->value = mn;
        break;
    case ALARM_STAT_MAXIMUM:
        out->value = mx;
        break;
    case ALARM_STAT_NONE: {
        /* "pNN": nearest rank. */
        double p = strtod(def->extended_statistic + 1, NULL) / 100.0;
        qsort(vals, n, sizeof(*vals), cmp_double);
        size_t rank = (size_t)ceil(p * (double)n);
        out->value = vals[rank ? rank - 1 : 0];
        break;
    }
    }
    free(vals);
    return true;
}

bool fake_registry_state(void *ctx, const char *name, struct alarm_child_state *out)
{
    for (const struct fake_alarm *a = ctx; a->name; a++) {
        if (a->exists && strcmp(a->name, name) == 0) {
            out->state = a->state;
            out->timestamp_ms = a->ts;
            return true;
        }
    }
    return false;
}

void fake_registry_set(struct fake_alarm *reg, const char *name, enum alarm_state st, int64_t ts)
{
    for (struct fake_alarm *a = reg; a->name; a++) {
        if (strcmp(a->name, name) == 0) {
            a->state = st;
            a->ts = ts;
            a->exists = true;
            return;
        }
    }
    fail_msg("no alarm '%s' in the fake registry", name);
}

void test_def(struct alarm_def *def, const char *name)
{
    alarm_def_init(def);
    def->name = name;
    def->ns = "Test";
    def->metric_name = "Errors";
    def->statistic = ALARM_STAT_SUM;
    def->period = 60;
    def->evaluation_periods = 1;
    def->threshold = 1;
    def->comparison = ALARM_CMP_GE;
}

void force_state(struct alarm *a, enum alarm_state st, int64_t now_ms)
{
    struct ks_diag d;
    ks_diag_clear(&d);
    bool changed;
    assert_int_equal(alarm_set_state(a, st, "forced by test", NULL, now_ms, &changed, NULL, &d),
                     KS_OK);
    assert_int_equal(alarm_get_state(a), st);
}
