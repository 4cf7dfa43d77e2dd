/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metric: from matched events to metric datapoints (spec/metric-filters.md).
 *
 * Two parts:
 *  - Metric filters (metric_filters_*): a pattern and a transformation per
 *    filter, all compiled into one pattern set so each event is scanned once.
 *    A match emits one sample (value, unit, dimensions) at the event's time;
 *    a non-match emits defaultValue when one is set.
 *  - The store (metric_store_*): series keyed by namespace, metric name,
 *    dimension set and unit; per series, 1-second buckets holding a statistic
 *    set (SampleCount, Sum, Minimum, Maximum) and a mergeable log-bucket sketch
 *    for percentiles (relative error <= 1%, see metric_store.c). Queries
 *    combine the buckets of any [start, end) range, so 10 s, 30 s and n*60 s
 *    periods all read the same data.
 *
 * Times are milliseconds since the epoch; buckets are whole seconds.
 * Neither part is thread-safe, except metric_filters_match over a finished
 * filter set, each thread with its own struct metric_match.
 */
#ifndef KS_METRIC_H
#define KS_METRIC_H

#include "base/ks.h"
#include "pattern/pattern.h"

#define METRIC_MAX_DIMENSIONS      3    /* per transformation, as AWS */
#define METRIC_MAX_SERIES_PER_HOUR 1000 /* per filter: AWS disables such filters */
#define METRIC_SKETCH_ALPHA        0.01 /* relative accuracy of percentiles */

struct metric_dimension_def {
    const char *key;
    const char *ref; /* $.path (JSON) or $name / $n (space-delimited) */
};

struct metric_filter_def {
    const char *name; /* FilterName (or logical id) */
    const char *pattern;
    const char *namespace_;
    const char *metric_name;
    const char *value; /* "1", "$.latency", "$size" */
    bool has_default;
    double default_value;
    const char *unit; /* NULL = None */
    size_t ndims;
    struct metric_dimension_def dims[METRIC_MAX_DIMENSIONS];
    /* The log group the filter belongs to, as a small id the caller interns
     * (serve: one id per log group name). An event put into group g reaches
     * only the filters of g; see metric_filters_apply_group. */
    unsigned group;
};

/* An event's group meaning "every filter sees it" (replay, and pushes that
 * name no log group). Filters left at 0 see only such events. */
#define METRIC_GROUP_ANY 0u

struct metric_filters;
struct metric_store;

struct metric_filters *metric_filters_new(void);
void metric_filters_free(struct metric_filters *mf);
/* Compiles a filter; returns its index or -1 with diag (pattern errors keep
 * the pattern's offset; reference errors name the field). */
int metric_filters_add(struct metric_filters *mf, const struct metric_filter_def *def,
                       struct ks_diag *diag);
void metric_filters_finish(struct metric_filters *mf);
size_t metric_filters_count(const struct metric_filters *mf);
const char *metric_filters_name(const struct metric_filters *mf, size_t index);

/* Counters per filter, for summaries and health. */
struct metric_filter_stats {
    uint64_t matched;
    uint64_t samples;
    uint64_t defaults;
    uint64_t no_value;     /* matched but metricValue not numeric/absent (M2) */
    uint64_t dims_dropped; /* dimension values missing or invalid (M3) */
    bool disabled;         /* cardinality guard tripped */
};
const struct metric_filter_stats *metric_filters_stats(const struct metric_filters *mf,
                                                       size_t index);

/* Puts back counters saved by an earlier run (resuming a replay). */
void metric_filters_restore_stats(struct metric_filters *mf, size_t index,
                                  const struct metric_filter_stats *stats);

/*
 * Applies every filter to one event at time_ms, adding samples to store.
 * Returns how many filters matched. Not thread-safe (uses internal scratch).
 */
size_t metric_filters_apply(struct metric_filters *mf, const char *msg, size_t len, int64_t time_ms,
                            struct metric_store *store);
/*
 * As metric_filters_apply, for an event put into log group `group`: only the
 * filters whose def.group equals it see the event (their patterns alone are
 * evaluated), or every filter when group is METRIC_GROUP_ANY. Defaults are
 * emitted only by the filters that see the event. Returns how many of those
 * matched.
 */
size_t metric_filters_apply_group(struct metric_filters *mf, unsigned group, const char *msg,
                                  size_t len, int64_t time_ms, struct metric_store *store);

/*
 * Matching apart from emitting, so matching can run outside a lock:
 *
 *   metric_filters_match (any thread, its own struct metric_match) decides
 *   for one event which filters of the group match, resolves their values
 *   and dimensions, and copies the record's bytes when a matching filter
 *   keeps context; it reads only the compiled filters (immutable after
 *   metric_filters_finish), never counters or the store.
 *   metric_filters_emit (one thread at a time: the caller's lock) applies a
 *   matched event: samples into the store, counters, the context ring.
 *
 * A struct metric_match belongs to one filter set (the one it was made
 * for) and holds the outcome of every event matched since the last
 * metric_match_reset, so a batch is matched first and emitted after. The
 * filter set must outlive it. metric_filters_apply_group is match + emit.
 */
struct metric_match;
struct metric_match *metric_match_new(const struct metric_filters *mf);
void metric_match_free(struct metric_match *mm);
const struct metric_filters *metric_match_filters(const struct metric_match *mm);
void metric_match_reset(struct metric_match *mm);
/* Returns the event's number in mm (0, 1, ... since the reset) for emit. */
size_t metric_filters_match(struct metric_match *mm, unsigned group, const char *msg, size_t len);
/* mf must be the set mm was made for. Returns how many filters of the
 * event's group matched (as metric_filters_apply_group). */
size_t metric_filters_emit(struct metric_filters *mf, struct metric_match *mm, size_t k,
                           int64_t time_ms, struct metric_store *store);

/* ---- context: who did it --------------------------------------------------- */

/*
 * For each JSON-pattern filter the newest METRIC_CONTEXT_RECENT matches are
 * remembered with the fields an alert needs to name the culprit (the
 * CloudTrail principal, key, source address, ...), and where the event came
 * from. Strings are truncated to fixed widths; all are "" when absent.
 *
 * The fields are extracted lazily: a match keeps the record's bytes in its
 * filter's byte ring, and metric_filters_recent extracts the fields of the
 * matches it passes (once each). A JSON filter's byte ring is allocated as
 * it fills (a filter that matches little uses little), up to
 * METRIC_CONTEXT_BYTES, or less once the rings of the filter set hold
 * METRIC_CONTEXT_BYTES_ALL together (first come, first served; each gets
 * METRIC_CONTEXT_MIN_BYTES whatever the others hold). When a ring is full,
 * the oldest records' bytes are overwritten first, and the fields of those
 * still among the filter's newest METRIC_CONTEXT_RECENT matches are
 * extracted just before (in metric_filters_emit); a record larger than the
 * whole ring has its fields extracted at once. So the fields reported never
 * depend on the caps: a smaller ring costs extraction time under the
 * caller's lock, not context. 2 MiB holds 1,000 CloudTrail records of up to
 * 2 KB (1.6 KB on average in the benchmark corpus); an equal share of 8 MiB
 * (1 MiB for 8 filters) made a busy filter extract most of its matches on
 * eviction and replay slower than before the change.
 * The fields come from a scan of the record for them alone: the first value
 * of each (duplicate keys: first wins, as in matching); all "" when that scan
 * finds the record malformed on their paths.
 */
#define METRIC_CONTEXT_RECENT    1000
#define METRIC_CONTEXT_BYTES     (2u << 20)  /* per JSON filter, at most */
#define METRIC_CONTEXT_BYTES_ALL (8u << 20)  /* per filter set, beyond the minimums */
#define METRIC_CONTEXT_MIN_BYTES (64u << 10) /* per JSON filter, at least */

struct metric_event_info {
    int64_t time_ms;
    const char *event_id;
    const char *event_name;
    const char *principal; /* sessionIssuer.arn for assumed roles, else userIdentity.arn */
    const char *key;       /* resources[0].ARN, else requestParameters.keyId */
    const char *source_ip;
    const char *error_code;
    const char *user_agent;
    const char *file; /* origin (see metric_filters_set_origin) */
    uint64_t offset;
};

/* Where the next events come from (borrowed until the next call; copied
 * when an event is remembered). */
void metric_filters_set_origin(struct metric_filters *mf, const char *file, uint64_t offset);

typedef void metric_event_fn(void *ud, const struct metric_event_info *ev);

/*
 * Calls fn for each remembered match, newest first, whose sample went to
 * series (an id of the store the filters feed; see metric_store_find) with a
 * time in [start_ms, end_ms). Returns how many were passed. The strings are
 * valid until the next metric_filters_apply or metric_filters_emit. It
 * extracts the fields it passes into the filters' rings (mf is const, the
 * rings it points to are not), so it runs under the lock metric_filters_emit
 * runs under, never beside it.
 */
size_t metric_filters_recent(const struct metric_filters *mf, long series, int64_t start_ms,
                             int64_t end_ms, metric_event_fn *fn, void *ud);

/* ---- the store ---------------------------------------------------------- */

struct metric_dim {
    const char *name;
    const char *value;
};

struct metric_stats {
    double sample_count;
    double sum;
    double minimum;
    double maximum;
};

struct metric_store *metric_store_new(void);
void metric_store_free(struct metric_store *st);

/* Finds or creates the series; dims in any order (kept sorted). Returns its id. */
size_t metric_store_series(struct metric_store *st, const char *ns, const char *name,
                           const struct metric_dim *dims, size_t ndims, const char *unit);
/* Finds a series without creating it; -1 when absent. unit NULL matches any
 * unit only if exactly one series differs by unit alone. */
long metric_store_find(const struct metric_store *st, const char *ns, const char *name,
                       const struct metric_dim *dims, size_t ndims, const char *unit);
size_t metric_store_series_count(const struct metric_store *st);

void metric_store_add(struct metric_store *st, size_t series, int64_t time_ms, double value);

/* Statistic set over [start_ms, end_ms); false when the range has no sample. */
bool metric_store_stats(const struct metric_store *st, size_t series, int64_t start_ms,
                        int64_t end_ms, struct metric_stats *out);
/* pNN over [start_ms, end_ms) (p in 0..100); false when no sample or when a
 * negative value makes percentiles unavailable (as in CloudWatch). */
bool metric_store_percentile(const struct metric_store *st, size_t series, int64_t start_ms,
                             int64_t end_ms, double p, double *out);

/* SampleCount and Sum of everything ever added to the series (expiry does
 * not change them). */
void metric_store_totals(const struct metric_store *st, size_t series, double *count, double *sum);

/* Drops buckets older than before_ms in every series (retention). */
void metric_store_expire(struct metric_store *st, int64_t before_ms);

/* Describes series i (borrowed strings, valid until the store is freed). */
void metric_store_describe(const struct metric_store *st, size_t series, const char **ns,
                           const char **name, const struct metric_dim **dims, size_t *ndims,
                           const char **unit);

/* Persistence (metric_persist.c): save writes the buckets changed since the
 * last save, inside the caller's transaction; load adds saved buckets into
 * an empty store. */
struct store;
KS_MUST_CHECK enum ks_err metric_store_save(struct metric_store *st, struct store *db,
                                            struct ks_diag *diag);
KS_MUST_CHECK enum ks_err metric_store_load(struct metric_store *st, struct store *db,
                                            struct ks_diag *diag);

#endif
