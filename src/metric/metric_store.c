/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metric store: series of 1-second buckets.
 *
 * Each series keeps its buckets in an array sorted by second, so a period
 * query is a binary search plus a contiguous walk, and samples arriving in
 * time order (the common case, even for replays) append at the end. A late
 * sample inserts in place.
 *
 * Percentiles use a log-bucket sketch (as DDSketch): a positive value v goes
 * to index ceil(log_g(v)) with g = (1+a)/(1-a), a = METRIC_SKETCH_ALPHA, and a
 * bucket is read back as 2 g^i / (g + 1), which is within a relative error a
 * of every value in it. Sketches merge by adding counts, so any range of
 * buckets (or, later, stores from several workers) combines exactly.
 * Percentile rank is nearest-rank: the ceil(p/100 * n)-th smallest sample.
 */
#include "metric/metric_int.h"

#include <math.h>

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int dim_cmp(const void *a, const void *b)
{
    return strcmp(((const struct metric_dim *)a)->name, ((const struct metric_dim *)b)->name);
}

/* "ns US name US unit US k=v ..." with dims sorted: the series identity */
static char *make_key(const char *ns, const char *name, const struct metric_dim *sorted,
                      size_t ndims, const char *unit)
{
    struct ks_buf b;
    ks_buf_init(&b, 1u << 20);
    enum ks_err e = ks_buf_addf(&b, "%s\x1f%s\x1f%s", ns, name, unit ? unit : "None");
    for (size_t i = 0; !e && i < ndims; i++)
        e = ks_buf_addf(&b, "\x1f%s=%s", sorted[i].name, sorted[i].value);
    if (e || b.cap == 0) { /* cannot happen for names within AWS limits */
        ks_buf_release(&b);
        return ks_xstrdup("");
    }
    return b.data;
}

struct metric_store *metric_store_new(void)
{
    struct metric_store *st = ks_xcalloc(1, sizeof(*st));
    st->tcap = 64;
    st->table = ks_xcalloc(st->tcap, sizeof(size_t));
    double a = METRIC_SKETCH_ALPHA;
    st->log_gamma = log((1 + a) / (1 - a));
    return st;
}

void metric_store_free(struct metric_store *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->ns; i++) {
        struct series *s = &st->s[i];
        for (size_t k = 0; k < s->nb; k++)
            free(s->b[k].sk);
        free(s->b);
        for (size_t d = 0; d < s->ndims; d++) {
            free(s->dim_names[d]);
            free(s->dim_values[d]);
        }
        free(s->dim_names);
        free(s->dim_values);
        free(s->dims);
        free(s->ns);
        free(s->name);
        free(s->unit);
        free(s->key);
    }
    free(st->s);
    free(st->table);
    free(st);
}

static long lookup(const struct metric_store *st, const char *key)
{
    size_t mask = st->tcap - 1;
    for (size_t i = hash_str(key) & mask;; i = (i + 1) & mask) {
        size_t v = st->table[i];
        if (v == 0)
            return -1;
        if (strcmp(st->s[v - 1].key, key) == 0)
            return (long)(v - 1);
    }
}

static void table_insert(struct metric_store *st, size_t idx)
{
    size_t mask = st->tcap - 1;
    size_t i = hash_str(st->s[idx].key) & mask;
    while (st->table[i])
        i = (i + 1) & mask;
    st->table[i] = idx + 1;
}

static struct metric_dim *sorted_dims(const struct metric_dim *dims, size_t ndims,
                                      struct metric_dim *tmp)
{
    for (size_t i = 0; i < ndims; i++)
        tmp[i] = dims[i];
    qsort(tmp, ndims, sizeof(*tmp), dim_cmp);
    return tmp;
}

#define MAX_DIMS 30 /* CloudWatch allows 30 dimensions per metric */

long metric_store_find(const struct metric_store *st, const char *ns, const char *name,
                       const struct metric_dim *dims, size_t ndims, const char *unit)
{
    if (ndims > MAX_DIMS)
        return -1;
    struct metric_dim tmp[MAX_DIMS];
    sorted_dims(dims, ndims, tmp);
    if (unit) {
        char *key = make_key(ns, name, tmp, ndims, unit);
        long r = lookup(st, key);
        free(key);
        return r;
    }
    /* no unit asked: the series if exactly one unit exists (CloudWatch would
     * merge units; we keep them apart and refuse to guess between two) */
    long found = -1;
    for (size_t i = 0; i < st->ns; i++) {
        const struct series *s = &st->s[i];
        if (strcmp(s->ns, ns) || strcmp(s->name, name) || s->ndims != ndims)
            continue;
        bool same = true;
        for (size_t d = 0; d < ndims && same; d++)
            same = !strcmp(s->dims[d].name, tmp[d].name) && !strcmp(s->dims[d].value, tmp[d].value);
        if (!same)
            continue;
        if (found >= 0)
            return -1;
        found = (long)i;
    }
    return found;
}

size_t metric_store_series(struct metric_store *st, const char *ns, const char *name,
                           const struct metric_dim *dims, size_t ndims, const char *unit)
{
    if (ndims > MAX_DIMS)
        ndims = MAX_DIMS;
    struct metric_dim tmp[MAX_DIMS];
    sorted_dims(dims, ndims, tmp);
    char *key = make_key(ns, name, tmp, ndims, unit);
    long found = lookup(st, key);
    if (found >= 0) {
        free(key);
        return (size_t)found;
    }
    if (st->ns == st->caps) {
        st->caps = st->caps ? st->caps * 2 : 16;
        st->s = ks_xrealloc(st->s, st->caps * sizeof(*st->s));
    }
    struct series *s = &st->s[st->ns];
    memset(s, 0, sizeof(*s));
    s->ns = ks_xstrdup(ns);
    s->name = ks_xstrdup(name);
    s->unit = ks_xstrdup(unit ? unit : "None");
    s->key = key;
    s->ndims = ndims;
    s->dim_names = ks_xcalloc(ndims ? ndims : 1, sizeof(char *));
    s->dim_values = ks_xcalloc(ndims ? ndims : 1, sizeof(char *));
    s->dims = ks_xcalloc(ndims ? ndims : 1, sizeof(*s->dims));
    for (size_t i = 0; i < ndims; i++) {
        s->dim_names[i] = ks_xstrdup(tmp[i].name);
        s->dim_values[i] = ks_xstrdup(tmp[i].value);
        s->dims[i].name = s->dim_names[i];
        s->dims[i].value = s->dim_values[i];
    }
    size_t idx = st->ns++;
    if (st->ns * 2 > st->tcap) {
        free(st->table);
        st->tcap *= 2;
        st->table = ks_xcalloc(st->tcap, sizeof(size_t));
        for (size_t i = 0; i < st->ns; i++)
            table_insert(st, i);
    } else {
        table_insert(st, idx);
    }
    return idx;
}

size_t metric_store_series_count(const struct metric_store *st)
{
    return st->ns;
}

void metric_store_describe(const struct metric_store *st, size_t series, const char **ns,
                           const char **name, const struct metric_dim **dims, size_t *ndims,
                           const char **unit)
{
    const struct series *s = &st->s[series];
    *ns = s->ns;
    *name = s->name;
    *dims = s->dims;
    *ndims = s->ndims;
    *unit = s->unit;
}

/* First bucket with sec >= want. */
static size_t lower_bound(const struct series *s, int64_t want)
{
    size_t lo = 0, hi = s->nb;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->b[mid].sec < want)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void sketch_add(struct bucket *b, int32_t index, uint32_t count)
{
    uint32_t lo = 0, hi = b->nsk;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (b->sk[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < b->nsk && b->sk[lo].index == index) {
        b->sk[lo].count += count;
        return;
    }
    if (b->nsk == b->capsk) {
        b->capsk = b->capsk ? b->capsk * 2 : 2;
        b->sk = ks_xrealloc(b->sk, b->capsk * sizeof(*b->sk));
    }
    memmove(b->sk + lo + 1, b->sk + lo, (b->nsk - lo) * sizeof(*b->sk));
    b->sk[lo] = (struct sk_entry){index, count};
    b->nsk++;
}

struct bucket *metric_bucket_at(struct series *s, int64_t sec)
{
    size_t i = (s->nb && s->b[s->nb - 1].sec < sec) ? s->nb : lower_bound(s, sec);
    if (i == s->nb || s->b[i].sec != sec) {
        if (s->nb == s->capb) {
            s->capb = s->capb ? s->capb * 2 : 16;
            s->b = ks_xrealloc(s->b, s->capb * sizeof(*s->b));
        }
        memmove(s->b + i + 1, s->b + i, (s->nb - i) * sizeof(*s->b));
        memset(&s->b[i], 0, sizeof(s->b[i]));
        s->b[i].sec = sec;
        s->nb++;
    }
    return &s->b[i];
}

void metric_store_add(struct metric_store *st, size_t series, int64_t time_ms, double value)
{
    if (!isfinite(value))
        return; /* CloudWatch rejects NaN and infinities */
    struct series *s = &st->s[series];
    struct bucket *b = metric_bucket_at(s, floor_div(time_ms, 1000));
    if (b->count == 0) {
        b->min = value;
        b->max = value;
    }
    b->dirty = true;
    s->total_count += 1;
    s->total_sum += value;
    s->totals_dirty = true;
    b->count += 1;
    b->sum += value;
    if (value < b->min)
        b->min = value;
    if (value > b->max)
        b->max = value;
    if (value < 0)
        b->negative = true;
    else if (value == 0)
        b->zeros++;
    else
        sketch_add(b, (int32_t)ceil(log(value) / st->log_gamma), 1);
}

bool metric_store_stats(const struct metric_store *st, size_t series, int64_t start_ms,
                        int64_t end_ms, struct metric_stats *out)
{
    const struct series *s = &st->s[series];
    int64_t a = floor_div(start_ms + 999, 1000), z = floor_div(end_ms + 999, 1000);
    memset(out, 0, sizeof(*out));
    bool any = false;
    for (size_t i = lower_bound(s, a); i < s->nb && s->b[i].sec < z; i++) {
        const struct bucket *b = &s->b[i];
        if (!any) {
            out->minimum = b->min;
            out->maximum = b->max;
            any = true;
        }
        out->sample_count += b->count;
        out->sum += b->sum;
        if (b->min < out->minimum)
            out->minimum = b->min;
        if (b->max > out->maximum)
            out->maximum = b->max;
    }
    return any;
}

static int sk_cmp(const void *a, const void *b)
{
    int32_t x = ((const struct sk_entry *)a)->index, y = ((const struct sk_entry *)b)->index;
    return (x > y) - (x < y);
}

bool metric_store_percentile(const struct metric_store *st, size_t series, int64_t start_ms,
                             int64_t end_ms, double p, double *out)
{
    const struct series *s = &st->s[series];
    int64_t a = floor_div(start_ms + 999, 1000), z = floor_div(end_ms + 999, 1000);
    size_t first = lower_bound(s, a), last = first;
    double n = 0, zeros = 0;
    size_t entries = 0;
    double mn = 0, mx = 0;
    for (; last < s->nb && s->b[last].sec < z; last++) {
        const struct bucket *b = &s->b[last];
        if (b->negative)
            return false;
        if (n == 0 || b->min < mn)
            mn = b->min;
        if (n == 0 || b->max > mx)
            mx = b->max;
        n += b->count;
        zeros += b->zeros;
        entries += b->nsk;
    }
    if (n == 0 || p < 0 || p > 100)
        return false;
    /* merge the range's sketches (sum of counts per index) */
    struct sk_entry *m = ks_xmalloc((entries ? entries : 1) * sizeof(*m));
    size_t k = 0;
    for (size_t i = first; i < last; i++)
        for (uint32_t j = 0; j < s->b[i].nsk; j++)
            m[k++] = s->b[i].sk[j];
    qsort(m, k, sizeof(*m), sk_cmp);
    double rank = ceil(p / 100.0 * n);
    if (rank < 1)
        rank = 1;
    double seen = zeros, gamma = exp(st->log_gamma);
    double v = 0;
    if (seen < rank) {
        for (size_t i = 0; i < k; i++) {
            seen += m[i].count;
            if (seen >= rank) {
                v = 2.0 * pow(gamma, m[i].index) / (gamma + 1.0);
                break;
            }
        }
    }
    free(m);
    /* the extremes are known exactly; never report outside them */
    if (v < mn)
        v = mn;
    if (v > mx)
        v = mx;
    if (p == 0)
        v = mn;
    if (p == 100)
        v = mx;
    *out = v;
    return true;
}

void metric_store_totals(const struct metric_store *st, size_t series, double *count, double *sum)
{
    *count = st->s[series].total_count;
    *sum = st->s[series].total_sum;
}

void metric_store_expire(struct metric_store *st, int64_t before_ms)
{
    int64_t sec = floor_div(before_ms, 1000);
    for (size_t i = 0; i < st->ns; i++) {
        struct series *s = &st->s[i];
        size_t cut = lower_bound(s, sec);
        for (size_t k = 0; k < cut; k++)
            free(s->b[k].sk);
        memmove(s->b, s->b + cut, (s->nb - cut) * sizeof(*s->b));
        s->nb -= cut;
    }
}
