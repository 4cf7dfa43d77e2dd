/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PutMetricData into the engine's metric store (docs/serve.md#putmetricdata).
 *
 * The store takes one sample at a time (metric_store_add), so aggregated
 * input is expanded into samples that keep CloudWatch's four statistics
 * exact: Values with Counts become that many copies of each value, and a
 * StatisticValues set {n, sum, min, max} becomes min, max and n-2 copies of
 * (sum - min - max) / (n - 2). Percentiles over such a set are therefore an
 * approximation (CloudWatch offers none for statistic sets at all). The
 * expansion is bounded by SERVE_PUT_MAX_SAMPLES per request, checked before
 * anything is added, so a request is taken whole or not at all.
 */
#include "serve/serve_int.h"

#include <math.h>

static enum ks_err check_datum(const struct serve_engine *e, const struct serve_metric_datum *d,
                               size_t i, int64_t now_ms, double *samples, struct ks_diag *diag)
{
    if (d->time_ms > now_ms + 2 * 3600 * 1000)
        return ks_diag_set(diag, KS_E_INVALID, i,
                           "The parameter MetricData.member.%zu.Timestamp must specify a time no "
                           "more than two hours in the future.",
                           i + 1);
    if (d->time_ms < now_ms - e->retention_ms)
        return ks_diag_set(diag, KS_E_INVALID, i,
                           "The parameter MetricData.member.%zu.Timestamp is older than the %lld "
                           "seconds of data keysentry keeps (docs/serve.md#limits).",
                           i + 1, (long long)(e->retention_ms / 1000));
    if (d->has_stats) {
        double n = d->sample_count;
        if (!(n >= 1 && n == floor(n)))
            return ks_diag_set(diag, KS_E_INVALID, i,
                               "MetricData.member.%zu.StatisticValues.SampleCount must be a whole "
                               "number of at least 1 in keysentry, got %g",
                               i + 1, n);
        /* a set no samples could produce would make the expansion lie */
        double slack = 1e-9 * (fabs(d->sum) + 1);
        if (d->minimum > d->maximum || d->sum < n * d->minimum - slack ||
            d->sum > n * d->maximum + slack || (n == 1 && d->minimum != d->maximum) ||
            (n == 2 && fabs(d->sum - d->minimum - d->maximum) > slack) ||
            (n == 1 && fabs(d->sum - d->minimum) > slack))
            return ks_diag_set(diag, KS_E_INVALID, i,
                               "MetricData.member.%zu.StatisticValues is inconsistent: Minimum "
                               "<= Maximum and SampleCount*Minimum <= Sum <= SampleCount*Maximum "
                               "must hold",
                               i + 1);
        *samples += n;
        return KS_OK;
    }
    for (size_t k = 0; k < d->nvalues; k++) {
        double c = d->counts ? d->counts[k] : 1;
        if (!(c >= 0 && c == floor(c)))
            return ks_diag_set(diag, KS_E_INVALID, i,
                               "MetricData.member.%zu.Counts.member.%zu must be a whole number "
                               "in keysentry, got %g",
                               i + 1, k + 1, c);
        *samples += c;
    }
    return KS_OK;
}

static void add_n(struct metric_store *st, size_t series, int64_t t, double v, double n)
{
    for (double k = 0; k < n; k++)
        metric_store_add(st, series, t, v);
}

enum ks_err serve_engine_put_metric_data(struct serve_engine *e, const char *ns,
                                         const struct serve_metric_datum *data, size_t n,
                                         int64_t now_ms, struct ks_diag *diag)
{
    serve_engine_lock(e);
    enum ks_err err = KS_OK;
    double samples = 0;
    for (size_t i = 0; i < n && !err; i++)
        err = check_datum(e, &data[i], i, now_ms, &samples, diag);
    if (!err && samples > SERVE_PUT_MAX_SAMPLES)
        err = ks_diag_set(diag, KS_E_LIMIT, SIZE_MAX,
                          "the request expands to %.0f samples; keysentry takes at most %u per "
                          "PutMetricData call",
                          samples, (unsigned)SERVE_PUT_MAX_SAMPLES);
    for (size_t i = 0; i < n && !err; i++) {
        const struct serve_metric_datum *d = &data[i];
        size_t s = metric_store_series(e->store, ns, d->metric_name, d->dims, d->ndims, d->unit);
        if (d->has_stats) {
            double c = d->sample_count;
            metric_store_add(e->store, s, d->time_ms, d->minimum);
            if (c >= 2)
                metric_store_add(e->store, s, d->time_ms, d->maximum);
            if (c >= 3)
                add_n(e->store, s, d->time_ms, (d->sum - d->minimum - d->maximum) / (c - 2), c - 2);
        } else {
            for (size_t k = 0; k < d->nvalues; k++)
                add_n(e->store, s, d->time_ms, d->values[k], d->counts ? d->counts[k] : 1);
        }
        /* like a late event: alarms on this series re-evaluate at the next
         * tick when the sample lands in a period they already evaluated */
        for (size_t a = 0; a < e->nalarms; a++) {
            struct salarm *sa = &e->alarms[a];
            if (serve_alarm_series(e->store, alarm_get_def(sa->a)) != (long)s)
                continue;
            sa->check = sa->early;
            if (sa->last_eval != INT64_MIN && d->time_ms < sa->last_eval)
                sa->reeval = true;
        }
        e->dirty = true;
    }
    serve_engine_unlock(e);
    return err;
}
