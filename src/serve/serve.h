/* SPDX-License-Identifier: Apache-2.0 */
/*
 * serve: the live pipeline behind `keysentry serve` (issue 6, docs/serve.md).
 *
 * One engine runs a template for serve and for replay (src/cli/cli_replay.c
 * drives it on an event-time clock, see "event time" at the end): the
 * template's metric filters, the metric store, the alarms and composites,
 * plus what a daemon needs on top: sources with counters and delivery lag,
 * a bounded ring of recent events for search, log groups and streams for the
 * logs API, early fire, and checkpoints in SQLite.
 *
 * Time: alarms are evaluated on the wall clock (the caller passes now_ms to
 * serve_engine_tick). Events count at their own event time; an event that
 * lands in a period an alarm has already evaluated, but still inside that
 * alarm's lookback range, makes the alarm re-evaluate at the next tick.
 *
 * Threads: the engine is shared by the main loop (sources, ticks) and the
 * HTTP threads. Every serve_engine_* function takes the engine's mutex
 * itself, except the accessors documented as "lock held", which the caller
 * brackets with serve_engine_lock/unlock (the HTTP module reads alarms that
 * way to render them without copying). Nothing here calls back into HTTP.
 *
 * Durability: serve_engine_checkpoint commits the metric buckets, the filter
 * counters, the alarm states and the tail positions in one transaction, so a
 * restart resumes each tailed file after the last committed byte and never
 * counts an event twice. Events pushed over HTTP or stdin are durable from
 * the next checkpoint on (they are not re-readable, so a crash in between
 * loses at most one checkpoint interval of them).
 */
#ifndef KS_SERVE_H
#define KS_SERVE_H

#include "alarm/alarm.h"
#include "base/ks.h"
#include "config/config.h"
#include "metric/metric.h"

/* Bounds (docs/serve.md#limits). */
#define SERVE_RING_MAX_EVENTS 10000       /* recent events kept for search */
#define SERVE_RING_MAX_BYTES  (64u << 20) /* their message bytes */
#define SERVE_MAX_SOURCES     64
#define SERVE_MAX_TAIL_FILES  100000 /* files tracked per tailed directory */
#define SERVE_MAX_LOG_GROUPS  1000
#define SERVE_MAX_STREAMS     10000 /* per engine */
#define SERVE_MAX_FILTERS     1000

enum serve_source_kind {
    SERVE_SOURCE_TAIL,  /* a directory of archives and NDJSON files */
    SERVE_SOURCE_STDIN, /* NDJSON on standard input */
    SERVE_SOURCE_HTTP,  /* pushed over HTTP (PutLogEvents, /api/push) */
    SERVE_SOURCE_KMS,   /* the in-process KMS service's trail (Keysentry::KmsService) */
};

/* Counters of one source; read with the lock held. */
struct serve_source_stats {
    const char *name; /* "tail:/path", "stdin", "http:logs", "http:push" */
    enum serve_source_kind kind;
    const char *log_group; /* events from this source belong here (may be "") */
    uint64_t events;       /* events read this run */
    uint64_t bad;          /* bad records skipped (JSON, UTF-8, size) */
    uint64_t late;         /* events that re-opened an evaluated period */
    uint64_t untimed;      /* events without a usable time */
    int64_t lag_last_ms;   /* arrival minus event time of the newest event */
    int64_t lag_max_ms;
    double lag_sum_ms;
    uint64_t lag_count;
};

/*
 * The hook where a state change's actions are handed over. Notifications
 * (src/notify) and responses (src/respond) will enqueue their jobs here;
 * until they exist the default hook logs the change and its action ARNs.
 * Called with the engine lock held: it must only enqueue, never block.
 */
typedef void serve_actions_fn(void *ctx, const char *alarm_name, const struct alarm_change *ch,
                              bool early);

struct serve_options {
    const char *db_path;         /* SQLite file; NULL = nothing persisted */
    serve_actions_fn *on_change; /* NULL = log to stderr */
    void *on_change_ctx;
    bool quiet; /* no log lines on stderr */
};

/*
 * The metric store as the alarm evaluator sees it; shared by serve and
 * replay. serve_alarm_series finds the series an alarm watches (its
 * namespace, metric, dimensions and unit), -1 when it has no data yet.
 * serve_alarm_query is an alarm_query_fn whose ctx is the store: the alarm's
 * statistic over [start_ms, end_ms), false when the slot has no sample.
 */
long serve_alarm_series(const struct metric_store *store, const struct alarm_def *def);
bool serve_alarm_query(void *store, const struct alarm_def *def, int64_t start_ms, int64_t end_ms,
                       struct alarm_datapoint *out);

struct serve_engine;

/*
 * Builds the engine from a loaded template (borrowed; must outlive the
 * engine): filters, alarms, composites, log groups, Keysentry::AlarmOptions.
 * Opens the database and restores the metric store, counters and alarm states
 * when opts->db_path is set. Errors: KS_E_INVALID (template content the
 * engine cannot run; diag names the resource), KS_E_IO (database).
 */
KS_MUST_CHECK enum ks_err serve_engine_new(const struct config_template *tpl,
                                           const struct serve_options *opts, int64_t now_ms,
                                           struct serve_engine **out, struct ks_diag *diag);
void serve_engine_free(struct serve_engine *e);

void serve_engine_lock(struct serve_engine *e);
void serve_engine_unlock(struct serve_engine *e);

/* Registers a source; returns its index, or -1 past SERVE_MAX_SOURCES. */
int serve_engine_add_source(struct serve_engine *e, const char *name, enum serve_source_kind kind,
                            const char *log_group);
/* Lock held. Borrowed. */
size_t serve_engine_source_count(const struct serve_engine *e);
const struct serve_source_stats *serve_engine_source(const struct serve_engine *e, size_t i);

/*
 * One event from a source. It belongs to the source's log group: the metric
 * filters of that group see it, or every filter when the source has none
 * (""). time_ms is the event's time, or INT64_MIN to take
 * the CloudTrail eventTime from the record. stream, file and offset say where
 * it came from (stream and file may be NULL). now_ms is the arrival time
 * (lag). Returns true when the event was counted (it had a time).
 */
bool serve_engine_ingest(struct serve_engine *e, int source, const char *data, size_t len,
                         int64_t time_ms, const char *stream, const char *file, uint64_t offset,
                         int64_t now_ms);
/* As serve_engine_ingest, for an event put into log group `group` instead
 * of the source's (NULL or "": the source's). The caller checked that the
 * group exists. */
bool serve_engine_ingest_in(struct serve_engine *e, int source, const char *group, const char *data,
                            size_t len, int64_t time_ms, const char *stream, const char *file,
                            uint64_t offset, int64_t now_ms);

/* One event of a PutLogEvents batch (borrowed). */
struct serve_event {
    const char *data;
    size_t len;
    int64_t time_ms;
};

/*
 * PutLogEvents: n events put into log group `group` and stream `stream`
 * (both must exist; the caller checked). As CloudWatch Logs does, only the
 * metric filters of `group` see them, and FilterLogEvents finds them in
 * that group only. Each event is counted as serve_engine_ingest counts it;
 * returns how many were counted.
 */
size_t serve_engine_put_events(struct serve_engine *e, int source, const char *group,
                               const char *stream, const struct serve_event *ev, size_t n,
                               int64_t now_ms);
/* Counts n bad records against a source. */
void serve_engine_bad(struct serve_engine *e, int source, uint64_t n);

/* Evaluates what is due at now_ms: alarms whose evaluation time passed, alarms
 * re-opened by late events, early-fire checks, composites; expires old
 * buckets. */
void serve_engine_tick(struct serve_engine *e, int64_t now_ms);

/* Commits the store, counters, alarm states and tail positions (when a
 * database is open and something changed). */
KS_MUST_CHECK enum ks_err serve_engine_checkpoint(struct serve_engine *e, struct ks_diag *diag);

/* ---- directory tail (serve_tail.c) --------------------------------------- */

/*
 * Adds a tailed directory as a source: every regular file under it (not
 * starting with '.') is read. Files ending in .gz, and .json files holding a
 * CloudTrail {"Records":[...]} object, are archives: read once, whole, when
 * inotify reports them closed after writing or renamed into place, otherwise
 * once their size has held for 200 ms. Every other file is NDJSON, read up to
 * its last complete line and followed as it grows; a file that shrinks or
 * changes inode was rotated and is read again from the start. The directory
 * is watched with inotify (recursively) when it can be, and walked in full
 * every few seconds as a safety net; without inotify every poll walks it.
 * Positions come from the database. Returns the source index or -1.
 */
int serve_engine_add_tail(struct serve_engine *e, const char *dir, const char *log_group);
/* Reads what changed in every tailed directory (a full walk when due);
 * reads at most max_bytes per directory. */
void serve_engine_poll_tails(struct serve_engine *e, int64_t now_ms, size_t max_bytes);
/*
 * Sleeps until a tailed directory has news (inotify) or timeout_ms passes;
 * a signal ends the sleep early. Returns 1 when serve_engine_poll_tails
 * should run now, 0 otherwise. Without tails (or without inotify) it only
 * sleeps, so the caller keeps polling on its own interval as well.
 */
int serve_engine_tail_wait(struct serve_engine *e, int timeout_ms);

/* ---- alarms (for the APIs) ------------------------------------------------ */

/* Lock held. Borrowed until the lock is released. */
size_t serve_engine_alarm_count(const struct serve_engine *e);
const struct alarm *serve_engine_alarm(const struct serve_engine *e, size_t i);
bool serve_engine_alarm_early(const struct serve_engine *e, size_t i); /* early fire enabled */
size_t serve_engine_composite_count(const struct serve_engine *e);
const struct alarm_composite *serve_engine_composite(const struct serve_engine *e, size_t i);

/* PutMetricAlarm: creates or updates (def borrowed). Errors: KS_E_INVALID. */
KS_MUST_CHECK enum ks_err serve_engine_put_alarm(struct serve_engine *e,
                                                 const struct alarm_def *def, int64_t now_ms,
                                                 struct ks_diag *diag);
/* DeleteAlarms for one name; false when no such metric alarm. */
bool serve_engine_delete_alarm(struct serve_engine *e, const char *name);
/* SetAlarmState. Errors: KS_E_NOTFOUND, KS_E_INVALID. */
KS_MUST_CHECK enum ks_err serve_engine_set_alarm_state(struct serve_engine *e, const char *name,
                                                       enum alarm_state state, const char *reason,
                                                       const char *reason_data, int64_t now_ms,
                                                       struct ks_diag *diag);

/* ---- metrics (lock held) -------------------------------------------------- */

const struct metric_store *serve_engine_store(const struct serve_engine *e);
const struct metric_filters *serve_engine_filters(const struct serve_engine *e);

/* ---- log groups, streams and metric filters (logs API) ------------------- */

struct serve_log_group {
    char *name;
    int64_t created_ms;
    bool has_retention;
    double retention_days;
};

struct serve_log_stream {
    char *group;
    char *name;
    int64_t created_ms;
    int64_t first_event_ms, last_event_ms, last_ingest_ms; /* 0 when none */
    uint64_t stored_bytes;
};

/* An owned copy of a metric filter definition plus the log group it is on. */
struct serve_filter {
    char *log_group;
    int64_t created_ms;
    struct metric_filter_def def; /* every string owned */
};

/* Lock held; borrowed. */
size_t serve_engine_group_count(const struct serve_engine *e);
const struct serve_log_group *serve_engine_group(const struct serve_engine *e, size_t i);
const struct serve_log_group *serve_engine_group_find(const struct serve_engine *e,
                                                      const char *name);
size_t serve_engine_stream_count(const struct serve_engine *e);
const struct serve_log_stream *serve_engine_stream(const struct serve_engine *e, size_t i);
size_t serve_engine_filter_count(const struct serve_engine *e);
const struct serve_filter *serve_engine_filter(const struct serve_engine *e, size_t i);

/* Errors: KS_E_INVALID (exists: diag says so), KS_E_LIMIT. */
KS_MUST_CHECK enum ks_err serve_engine_create_group(struct serve_engine *e, const char *name,
                                                    int64_t now_ms, struct ks_diag *diag);
/* Errors: KS_E_NOTFOUND (no group), KS_E_INVALID (exists), KS_E_LIMIT. */
KS_MUST_CHECK enum ks_err serve_engine_create_stream(struct serve_engine *e, const char *group,
                                                     const char *name, int64_t now_ms,
                                                     struct ks_diag *diag);
/* Notes events put into a stream (for DescribeLogStreams); false when the
 * stream does not exist. */
bool serve_engine_stream_touch(struct serve_engine *e, const char *group, const char *name,
                               int64_t first_ms, int64_t last_ms, uint64_t bytes, int64_t now_ms);
/* PutMetricFilter: adds or replaces (by log group and filter name) and
 * recompiles the filter set. Errors: KS_E_NOTFOUND (no group), KS_E_SYNTAX /
 * KS_E_INVALID (pattern or transformation; diag as metric_filters_add),
 * KS_E_LIMIT. */
KS_MUST_CHECK enum ks_err serve_engine_put_filter(struct serve_engine *e, const char *log_group,
                                                  const struct metric_filter_def *def,
                                                  int64_t now_ms, struct ks_diag *diag);
/* DeleteMetricFilter; false when absent. */
bool serve_engine_delete_filter(struct serve_engine *e, const char *log_group, const char *name);

/* ---- recent events (lock held) -------------------------------------------- */

struct serve_recent {
    int64_t time_ms;   /* event time */
    int64_t ingest_ms; /* arrival */
    int source;
    char *message; /* the event's bytes, NUL-terminated */
    size_t len;
    char *log_group, *stream; /* "" when none */
    char *file;               /* origin file, "" for pushed events */
    uint64_t offset;          /* byte offset in file */
    uint64_t seq;             /* 1-based arrival number, unique per run */
};

/* CloudTrail fields of a recent event, "" when absent. */
struct serve_recent_fields {
    const char *event_name, *event_id;
    const char *principal;    /* sessionIssuer.arn, else userIdentity.arn */
    const char *identity_arn; /* userIdentity.arn */
    const char *key;          /* resources[0].ARN, else requestParameters.keyId */
    const char *error_code, *source_ip;
};
/* Lock held. Extracts r's fields (a scan of its record, at query time
 * rather than per event); the strings are valid until the next call. */
void serve_engine_recent_fields(struct serve_engine *e, const struct serve_recent *r,
                                struct serve_recent_fields *out);

/* Oldest first: i = 0 is the oldest kept event. */
size_t serve_engine_recent_count(const struct serve_engine *e);
const struct serve_recent *serve_engine_recent(const struct serve_engine *e, size_t i);

/* ---- actions: notifications and responses (serve_actions.c) ------------- */

struct notify_hub;
struct notify_context_acc;
struct notify_outcome;
struct respond_record;

#define SERVE_ACTIONS_RING 256 /* deliveries and responses kept for the API */

/*
 * The window of events behind a transition at time_ms: the evaluated
 * periods before it, or for an early fire the running period up to time_ms.
 * Shared with replay so the context of a state change means the same thing.
 */
void serve_alarm_window(const struct alarm_def *def, int64_t time_ms, bool early, int64_t *start,
                        int64_t *end);
/* Feeds acc with the remembered matches of def's series in [start_ms,
 * end_ms) (metric_filters_recent). Returns how many. */
size_t serve_alarm_context(const struct metric_filters *mf, const struct metric_store *store,
                           const struct alarm_def *def, int64_t start_ms, int64_t end_ms,
                           struct notify_context_acc *acc);

/*
 * From now on every state change with actions is written to hub's outbox
 * (on the store the hub was created over, under the engine lock) with the
 * context of its events, and the workers are kicked. hub is borrowed: stop
 * the hub's workers (notify_hub_free) before serve_engine_free. NULL detaches.
 */
void serve_engine_set_hub(struct serve_engine *e, struct notify_hub *hub);
/* notify_outcome_fn (ud = the engine): a final outcome becomes the alarm's
 * Action history item; every outcome goes to the deliveries ring. */
void serve_engine_outcome(void *engine, const struct notify_outcome *o);
/* respond_record_fn (ctx = the engine): the responses ring. */
void serve_engine_response(void *engine, const struct respond_record *rec);

/* One delivery attempt's outcome, owned by the ring. */
struct serve_delivery {
    int64_t time_ms, state_update_ms;
    uint32_t attempt;
    bool final; /* delivered or dead-lettered (else: will retry) */
    char *alarm, *new_state, *action, *target, *protocol, *message_id;
    char *error; /* NULL when delivered */
};

/* One response's run, owned by the ring. */
struct serve_response {
    int64_t time_ms, state_update_ms;
    bool revert, dry_run;
    char *name, *alarm, *summary, *details; /* details: JSON object */
    char *error;                            /* NULL on success */
};

struct serve_action_stats {
    uint64_t enqueued;         /* outbox rows written */
    uint64_t enqueue_failures; /* state changes whose actions could not be queued */
    uint64_t delivered, failed;
};

/* Lock held; oldest first; borrowed until the lock is released. */
size_t serve_engine_delivery_count(const struct serve_engine *e);
const struct serve_delivery *serve_engine_delivery(const struct serve_engine *e, size_t i);
size_t serve_engine_response_count(const struct serve_engine *e);
const struct serve_response *serve_engine_response_at(const struct serve_engine *e, size_t i);
void serve_engine_action_stats(const struct serve_engine *e, struct serve_action_stats *out);
/* The engine's database (NULL without one); lock held or before threads start. */
struct store *serve_engine_db(const struct serve_engine *e);

/* ---- PutMetricData (serve_metrics.c) ---------------------------------------- */

#define SERVE_PUT_MAX_SAMPLES 1000000u /* samples one PutMetricData call may expand to */

/* One MetricData member, already checked for shape by the caller. */
struct serve_metric_datum {
    const char *metric_name;
    const struct metric_dim *dims;
    size_t ndims;
    const char *unit; /* NULL = None */
    int64_t time_ms;
    /* Value (nvalues 1) or Values with Counts (counts NULL = 1 each) ... */
    const double *values;
    const double *counts;
    size_t nvalues;
    /* ... or a StatisticValues set */
    bool has_stats;
    double sample_count, sum, minimum, maximum;
};

/*
 * Adds the data to the metric store as samples (all borrowed). Checks every
 * datum first, so an error adds nothing: KS_E_INVALID (a time more than two
 * hours ahead or older than the engine keeps, fractional counts, an
 * impossible statistic set; diag->offset is the datum's index) or KS_E_LIMIT
 * (more than SERVE_PUT_MAX_SAMPLES samples). Alarms on a touched series
 * re-evaluate at the next tick when the data lands in a period they already
 * evaluated.
 */
KS_MUST_CHECK enum ks_err serve_engine_put_metric_data(struct serve_engine *e, const char *ns,
                                                       const struct serve_metric_datum *data,
                                                       size_t n, int64_t now_ms,
                                                       struct ks_diag *diag);

/* ---- from a template to definitions ------------------------------------------ */

/*
 * What a template's resources stand for, as the metric and alarm modules
 * take them: serve_engine_new builds from these, and `keysentry validate`
 * checks them (cli_template.c, adding file:line:col), so validate, replay
 * and serve agree on what a template means. The definitions borrow the
 * template's strings; dims is the caller's array of ALARM_MAX_DIMENSIONS.
 * serve_alarm_def errors: KS_E_SYNTAX for a value with no API spelling
 * (diag "unknown Statistic 'X'", "unknown ComparisonOperator", ...),
 * otherwise alarm_def_validate's; serve_composite_def's are
 * alarm_composite_def_validate's. serve_filter_def cannot fail; its pattern
 * is checked by metric_filters_add.
 */
void serve_filter_def(const struct config_metric_filter *f, struct metric_filter_def *out);
KS_MUST_CHECK enum ks_err serve_alarm_def(const struct config_template *t,
                                          const struct config_alarm *ca, struct alarm_def *def,
                                          struct alarm_dimension *dims, struct ks_diag *diag);
KS_MUST_CHECK enum ks_err serve_composite_def(const struct config_template *t,
                                              const struct config_composite_alarm *cc,
                                              struct alarm_composite_def *def,
                                              struct ks_diag *diag);

/* ---- event time: replay on this engine ------------------------------------ */

/*
 * keysentry replay (src/cli/cli_replay.c) runs archives through this engine
 * on an event-time clock instead of the wall clock: the template is built by
 * serve_engine_new as for serve, transitions reach opts.on_change and the hub
 * (serve_engine_set_hub) through the same path, and only the clock differs.
 * The driver feeds the filters itself (serve_engine_filters_mut,
 * metric_filters_apply) and calls serve_engine_advance with its watermark.
 *
 * All of these are "lock held": a single-threaded driver takes the lock once
 * per batch of events instead of once per event (the replay hot path).
 */

/* Called after each metric alarm evaluation serve_engine_advance runs;
 * alarm is the index for serve_engine_alarm (replay draws its charts). */
typedef void serve_eval_fn(void *ctx, size_t alarm, int64_t eval_ms);

/* Switches to the event-time clock: every metric alarm is unscheduled until
 * serve_engine_schedule or serve_engine_restore_alarm gives it a time, and
 * serve_engine_tick must not be used. on_eval may be NULL. */
void serve_engine_event_clock(struct serve_engine *e, serve_eval_fn *on_eval, void *ctx);
/* Every metric alarm's next evaluation becomes its first after t_ms (replay:
 * the first event's time, so that evaluation sees the event's period). */
void serve_engine_schedule(struct serve_engine *e, int64_t t_ms);
/*
 * Runs every evaluation due at or before t_ms in time order: at each
 * evaluation time the metric alarms due then (in template order), then the
 * composites. serve_engine_tick evaluates an overdue alarm once and moves on
 * to its next time after now; this skips nothing, so the transitions depend
 * only on the data and on t_ms, never on how often it is called. A late
 * event (before the last t_ms) counts at the next evaluation due: evaluations
 * already run are final, as replay's watermark promises.
 */
void serve_engine_advance(struct serve_engine *e, int64_t t_ms);

/* What replay --db checkpoints beside the store (its own tables' meaning). */
int64_t serve_engine_alarm_next_eval(const struct serve_engine *e, size_t i);
uint64_t serve_engine_alarm_transitions(const struct serve_engine *e, size_t i);
uint64_t serve_engine_composite_transitions(const struct serve_engine *e, size_t i);
/*
 * Puts the metric or composite alarm `name` back in `state` as of at_ms
 * (SetAlarmState with `reason`, no actions) with its transition count; a
 * metric alarm's next evaluation becomes next_eval_ms. False when there is
 * no such alarm or the state does not apply.
 */
bool serve_engine_restore_alarm(struct serve_engine *e, const char *name, enum alarm_state state,
                                const char *reason, int64_t at_ms, int64_t next_eval_ms,
                                uint64_t transitions);
/* The engine's own filters and store, to feed and persist them. Valid until
 * serve_engine_put_filter / serve_engine_delete_filter (which serve's API
 * calls and replay does not). */
struct metric_filters *serve_engine_filters_mut(struct serve_engine *e);
struct metric_store *serve_engine_store_mut(struct serve_engine *e);

#endif
