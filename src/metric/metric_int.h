/* SPDX-License-Identifier: Apache-2.0 */
/* Private to src/metric: the store's layout, shared with its persistence. */
#ifndef KS_METRIC_INT_H
#define KS_METRIC_INT_H

#include "metric/metric.h"

struct sk_entry {
    int32_t index;
    uint32_t count;
};

struct bucket {
    int64_t sec;
    double count, sum, min, max;
    uint32_t zeros; /* samples equal to 0 */
    bool negative;  /* some sample < 0: percentiles unavailable */
    bool dirty;     /* changed since the last save */
    uint32_t nsk, capsk;
    struct sk_entry *sk; /* sorted by index */
};

struct series {
    char *ns, *name, *unit;
    char **dim_names, **dim_values; /* owned */
    struct metric_dim *dims;        /* views of the two arrays above */
    size_t ndims;
    char *key;
    struct bucket *b;
    size_t nb, capb;
    int64_t db_id;                 /* row id in metric_series, 0 = not saved yet */
    double total_count, total_sum; /* lifetime, unaffected by expiry */
    bool totals_dirty;
};

struct metric_store {
    struct series *s;
    size_t ns, caps;
    size_t *table; /* open addressing: series index + 1, 0 = empty */
    size_t tcap;
    double log_gamma;
};

/* Finds or inserts the bucket for second sec of series s. */
struct bucket *metric_bucket_at(struct series *s, int64_t sec);

#endif
