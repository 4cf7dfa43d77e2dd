/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine: template -> filters -> store -> alarms, on the wall clock
 * (serve) or on an event-time clock (replay).
 *
 * DESIGN
 * Replay (cli_replay.c) runs on this engine too, so both give the same
 * answers for the same data. Only the clock differs: serve_engine_tick
 * evaluates at the wall clock, serve_engine_advance at replay's event-time
 * watermark, every due evaluation in time order. Live, an event whose time
 * lies in a period an alarm already evaluated (CloudTrail delivers minutes
 * late) is still counted in its own period; if that period is inside the
 * alarm's lookback range (R = N + L periods, spec/alarms.md §4.1) the alarm
 * is re-evaluated at the next tick, so a late burst can still raise the
 * alarm, as AWS does when late datapoints arrive.
 *
 * Early fire (opt-in per alarm through Keysentry::AlarmOptions) declares
 * ALARM as soon as the running value of the current period breaches, for
 * statistics that can only grow within a period (Sum of non-negative
 * samples, SampleCount, Maximum with Greater* operators; Minimum with Less*).
 * The period's regular evaluation then finds the same breach and keeps the
 * state, so the alarm never flaps because of it.
 */
#include "serve/serve_int.h"
#include "serve/serve_persist.h"

#include <math.h>
#include <stdarg.h>

void serve_log(const struct serve_engine *e, const char *level, const char *fmt, ...)
{
    if (e->opts.quiet)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "level=%s comp=serve msg=\"%s\"\n", level, msg);
}

void serve_engine_lock(struct serve_engine *e)
{
    pthread_mutex_lock(&e->mu);
}

void serve_engine_unlock(struct serve_engine *e)
{
    pthread_mutex_unlock(&e->mu);
}

/* ---- datapoints ----------------------------------------------------------- */

long serve_alarm_series(const struct metric_store *store, const struct alarm_def *def)
{
    struct metric_dim dims[ALARM_MAX_DIMENSIONS];
    size_t nd = def->n_dimensions < ALARM_MAX_DIMENSIONS ? def->n_dimensions : ALARM_MAX_DIMENSIONS;
    for (size_t i = 0; i < nd; i++) {
        dims[i].name = def->dimensions[i].name;
        dims[i].value = def->dimensions[i].value;
    }
    return metric_store_find(store, def->ns, def->metric_name, dims, nd, def->unit);
}

bool serve_alarm_query(void *ctx, const struct alarm_def *def, int64_t start_ms, int64_t end_ms,
                       struct alarm_datapoint *out)
{
    const struct metric_store *store = ctx;
    long s = serve_alarm_series(store, def);
    if (s < 0)
        return false;
    struct metric_stats st;
    if (!metric_store_stats(store, (size_t)s, start_ms, end_ms, &st))
        return false;
    out->sample_count = st.sample_count;
    switch (def->statistic) {
    case ALARM_STAT_SAMPLE_COUNT:
        out->value = st.sample_count;
        break;
    case ALARM_STAT_SUM:
        out->value = st.sum;
        break;
    case ALARM_STAT_AVERAGE:
        out->value = st.sum / st.sample_count;
        break;
    case ALARM_STAT_MINIMUM:
        out->value = st.minimum;
        break;
    case ALARM_STAT_MAXIMUM:
        out->value = st.maximum;
        break;
    case ALARM_STAT_NONE: {
        double p = strtod(def->extended_statistic + 1, NULL);
        return metric_store_percentile(store, (size_t)s, start_ms, end_ms, p, &out->value);
    }
    }
    return true;
}

static bool child_state(void *ctx, const char *name, struct alarm_child_state *out)
{
    struct serve_engine *e = ctx;
    for (size_t i = 0; i < e->nalarms; i++) {
        if (!strcmp(alarm_get_def(e->alarms[i].a)->name, name)) {
            out->state = alarm_get_state(e->alarms[i].a);
            out->timestamp_ms = alarm_state_updated_ms(e->alarms[i].a);
            return true;
        }
    }
    for (size_t i = 0; i < e->ncomps; i++) {
        if (!strcmp(alarm_composite_get_def(e->comps[i].c)->name, name)) {
            out->state = alarm_composite_state(e->comps[i].c);
            out->timestamp_ms = alarm_composite_state_updated_ms(e->comps[i].c);
            return true;
        }
    }
    return false;
}

/* R = N + L periods (spec/alarms.md §4.1): what an evaluation can look at. */
static int64_t lookback_ms(const struct alarm_def *def)
{
    int32_t extra = def->range_extra;
    if (extra <= 0) {
        extra = (300 + def->period - 1) / def->period;
        if (extra < 2)
            extra = 2;
    }
    return (int64_t)def->period * 1000 * (def->evaluation_periods + extra);
}

/* ---- state changes: the actions hook ---------------------------------------- */

/*
 * Every state change (evaluation, early fire, SetAlarmState) ends here. Its
 * actions go to the outbox before the change is visible anywhere else
 * (serve_actions.c); the optional hook and the log line follow.
 */
static void enqueue_actions(struct serve_engine *e, const char *name, const struct alarm_change *ch,
                            bool early)
{
    serve_actions_enqueue(e, name, ch, early);
    if (e->opts.on_change) {
        e->opts.on_change(e->opts.on_change_ctx, name, ch, early);
        return;
    }
    serve_log(e, "info", "alarm '%s' %s -> %s%s (%zu action%s)", name,
              alarm_state_name(ch->old_state), alarm_state_name(ch->new_state),
              early ? " (early fire)" : "", ch->n_actions, ch->n_actions == 1 ? "" : "s");
}

/* ---- recent-events ring -------------------------------------------------- */

enum { F_TIME, F_NAME, F_ID, F_ISSUER, F_ARN, F_RES, F_KEYID, F_ERROR, F_IP };
static const char *const ring_paths[] = {
    "$.eventTime",
    "$.eventName",
    "$.eventID",
    "$.userIdentity.sessionContext.sessionIssuer.arn",
    "$.userIdentity.arn",
    "$.resources[0].ARN",
    "$.requestParameters.keyId",
    "$.errorCode",
    "$.sourceIPAddress",
};

/* Every string of an entry lives in one block that starts at message: one
 * malloc and one free per event instead of eleven of each (PutLogEvents
 * ingest, docs/benchmarks.md). The block is built before the entry is put
 * in the ring, outside the engine lock on the PutLogEvents path. */
static void recent_release(struct serve_recent *r)
{
    free(r->message);
    memset(r, 0, sizeof(*r));
}

static void ring_drop_oldest(struct serve_engine *e)
{
    struct serve_recent *r = &e->ring[e->ring_head];
    e->ring_bytes -= r->len;
    recent_release(r);
    e->ring_head = (e->ring_head + 1) % SERVE_RING_MAX_EVENTS;
    e->ring_len--;
}

static char *put_str(char **at, const char *s)
{
    size_t n = strlen(s);
    char *out = *at;
    memcpy(out, s, n + 1);
    *at = out + n + 1;
    return out;
}

/* The entry's block: the message, then its log group, stream and file.
 * Touches nothing of the engine: callable without the lock. */
static void ring_block(struct serve_recent *r, const char *data, size_t len, const char *group,
                       const char *stream, const char *file)
{
    stream = stream ? stream : "";
    file = file ? file : "";
    size_t room = len + 1 + strlen(group) + 1 + strlen(stream) + 1 + strlen(file) + 1;
    char *at = ks_xmalloc(room);
    r->message = at;
    memcpy(at, data, len);
    at[len] = '\0';
    at += len + 1;
    r->len = len;
    r->log_group = put_str(&at, group);
    r->stream = put_str(&at, stream);
    r->file = put_str(&at, file);
}

/* Puts a built entry in the ring (lock held); the ring owns its block. */
static void ring_put(struct serve_engine *e, const struct serve_recent *built, int64_t time_ms,
                     int source, uint64_t offset, int64_t now_ms)
{
    while (e->ring_len && (e->ring_len == SERVE_RING_MAX_EVENTS ||
                           e->ring_bytes + built->len > SERVE_RING_MAX_BYTES))
        ring_drop_oldest(e);
    struct serve_recent *r = &e->ring[(e->ring_head + e->ring_len) % SERVE_RING_MAX_EVENTS];
    e->ring_len++;
    e->ring_bytes += built->len;
    *r = *built;
    r->time_ms = time_ms;
    r->ingest_ms = now_ms;
    r->source = source;
    r->offset = offset;
    r->seq = ++e->seq;
}

/* The field's string value (decoded) or "", appended to e->fields. */
static size_t field_at(struct serve_engine *e, bool scanned, unsigned f)
{
    const struct event_value *v;
    size_t at = e->fields.len;
    const char *s = "";
    size_t n = 0;
    if (scanned && event_scan_values(e->scan, e->slot[f], &v) >= 1 && v->type == EVENT_V_STRING)
        n = event_value_string(v, event_scan_scratch(e->scan), &s);
    if (ks_buf_add(&e->fields, s, n) != KS_OK || ks_buf_add(&e->fields, "", 1) != KS_OK)
        return SIZE_MAX;
    return at;
}

/*
 * The CloudTrail fields are extracted when a query asks, not per event: a
 * scan of every record at ingest cost about a fifth of the PutLogEvents
 * CPU (docs/benchmarks.md), and /api/events scans at most the ring's
 * 10,000 records. The same full scan as before, so the same values.
 */
void serve_engine_recent_fields(struct serve_engine *e, const struct serve_recent *r,
                                struct serve_recent_fields *out)
{
    struct ks_diag d;
    bool scanned = r->len && r->message[0] == '{' &&
                   event_scan_run(e->scan, r->message, r->len, &d) == EVENT_SCAN_OK;
    static const unsigned fields[] = {F_NAME, F_ID, F_ISSUER, F_ARN, F_RES, F_KEYID, F_ERROR, F_IP};
    size_t at[KS_ARRAY_LEN(fields)];
    ks_buf_reset(&e->fields);
    for (size_t i = 0; i < KS_ARRAY_LEN(fields); i++)
        at[i] = field_at(e, scanned, fields[i]);
    const char *text[KS_ARRAY_LEN(fields)];
    for (size_t i = 0; i < KS_ARRAY_LEN(fields); i++)
        text[i] = at[i] == SIZE_MAX ? "" : e->fields.data + at[i];
    out->event_name = text[0];
    out->event_id = text[1];
    out->identity_arn = text[3];
    out->principal = text[2][0] ? text[2] : text[3];
    out->key = text[4][0] ? text[4] : text[5];
    out->error_code = text[6];
    out->source_ip = text[7];
}

size_t serve_engine_recent_count(const struct serve_engine *e)
{
    return e->ring_len;
}

const struct serve_recent *serve_engine_recent(const struct serve_engine *e, size_t i)
{
    return &e->ring[(e->ring_head + i) % SERVE_RING_MAX_EVENTS];
}

/* ---- sources and ingest ------------------------------------------------------ */

/* The id of a log group name (0 for "" or NULL), interning it on first use.
 * Linear, but called per source, per filter rebuild and per PutLogEvents
 * batch, never per event. */
static unsigned group_id_locked(struct serve_engine *e, const char *name)
{
    if (!name || !*name)
        return METRIC_GROUP_ANY;
    for (size_t i = 0; i < e->ngnames; i++)
        if (!strcmp(e->gnames[i], name))
            return (unsigned)i + 1;
    e->gnames = ks_xrealloc(e->gnames, (e->ngnames + 1) * sizeof(*e->gnames));
    e->gnames[e->ngnames++] = ks_xstrdup(name);
    return (unsigned)e->ngnames;
}

int serve_add_source_locked(struct serve_engine *e, const char *name, enum serve_source_kind kind,
                            const char *log_group)
{
    for (size_t i = 0; i < e->nsources; i++)
        if (!strcmp(e->source_names[i], name))
            return (int)i;
    if (e->nsources == SERVE_MAX_SOURCES)
        return -1;
    size_t i = e->nsources++;
    e->source_names[i] = ks_xstrdup(name);
    e->source_groups[i] = ks_xstrdup(log_group ? log_group : "");
    e->source_gids[i] = group_id_locked(e, log_group);
    memset(&e->sources[i], 0, sizeof(e->sources[i]));
    e->sources[i].name = e->source_names[i];
    e->sources[i].kind = kind;
    e->sources[i].log_group = e->source_groups[i];
    return (int)i;
}

int serve_engine_add_source(struct serve_engine *e, const char *name, enum serve_source_kind kind,
                            const char *log_group)
{
    serve_engine_lock(e);
    int i = serve_add_source_locked(e, name, kind, log_group);
    serve_engine_unlock(e);
    return i;
}

size_t serve_engine_source_count(const struct serve_engine *e)
{
    return e->nsources;
}

const struct serve_source_stats *serve_engine_source(const struct serve_engine *e, size_t i)
{
    return &e->sources[i];
}

void serve_engine_bad(struct serve_engine *e, int source, uint64_t n)
{
    serve_engine_lock(e);
    e->sources[source].bad += n;
    serve_engine_unlock(e);
}

/* What an event is before it is counted (screen_event). */
enum { EV_OK, EV_BAD, EV_UNTIMED };

/* Size, UTF-8 and NUL screening, and the CloudTrail eventTime when the
 * caller has no time (*time_ms == INT64_MIN), with scan (the engine's
 * under the lock, or a batch's own outside it). */
static int screen_event(struct event_scan *scan, const unsigned *slot, const char *data, size_t len,
                        int64_t *time_ms)
{
    size_t bad_at;
    if (len > KS_MAX_EVENT_BYTES || !ks_text_clean(data, len, &bad_at))
        return EV_BAD;
    if (*time_ms == INT64_MIN && len && data[0] == '{') {
        struct ks_diag d;
        const struct event_value *v;
        if (event_scan_run(scan, data, len, &d) == EVENT_SCAN_OK &&
            event_scan_values(scan, slot[F_TIME], &v) == 1 && v->type == EVENT_V_STRING &&
            !event_parse_time(v->ptr, v->len, time_ms))
            *time_ms = INT64_MIN;
    }
    return *time_ms == INT64_MIN ? EV_UNTIMED : EV_OK;
}

/* The counting half of an event (lock held): source counters and lag, the
 * filters' emit (matched is how many of its group's filters matched), late
 * events and early-fire checks, the ring. */
static void count_locked(struct serve_engine *e, int source, size_t matched, int64_t time_ms,
                         const struct serve_recent *built, uint64_t offset, int64_t now_ms)
{
    struct serve_source_stats *ss = &e->sources[source];
    ss->events++;
    int64_t lag = now_ms - time_ms;
    ss->lag_last_ms = lag;
    if (lag > ss->lag_max_ms)
        ss->lag_max_ms = lag;
    ss->lag_sum_ms += (double)lag;
    ss->lag_count++;
    e->dirty = true;
    if (matched) {
        bool late = false;
        for (size_t i = 0; i < e->nalarms; i++) {
            struct salarm *sa = &e->alarms[i];
            sa->check = sa->early;
            /* the period holding time_ms was already evaluated: re-evaluate
             * while the alarm can still see it */
            if (sa->last_eval != INT64_MIN && time_ms < sa->last_eval &&
                time_ms >= sa->last_eval - lookback_ms(alarm_get_def(sa->a))) {
                sa->reeval = true;
                late = true;
            }
        }
        if (late)
            ss->late++;
    }
    ring_put(e, built, time_ms, source, offset, now_ms);
}

/* One event put into log group gid (named group; 0 and "" for none). */
static bool ingest_locked(struct serve_engine *e, int source, unsigned gid, const char *group,
                          const char *data, size_t len, int64_t time_ms, const char *stream,
                          const char *file, uint64_t offset, int64_t now_ms)
{
    struct serve_source_stats *ss = &e->sources[source];
    switch (screen_event(e->scan, e->slot, data, len, &time_ms)) {
    case EV_BAD:
        ss->bad++;
        return false;
    case EV_UNTIMED:
        ss->untimed++;
        return false;
    default:
        break;
    }
    metric_filters_set_origin(e->mf, file ? file : e->source_names[source], offset);
    size_t matched = metric_filters_apply_group(e->mf, gid, data, len, time_ms, e->store);
    struct serve_recent built;
    ring_block(&built, data, len, group, stream, file);
    count_locked(e, source, matched, time_ms, &built, offset, now_ms);
    return true;
}

bool serve_ingest_locked(struct serve_engine *e, int source, const char *data, size_t len,
                         int64_t time_ms, const char *stream, const char *file, uint64_t offset,
                         int64_t now_ms)
{
    return ingest_locked(e, source, e->source_gids[source], e->source_groups[source], data, len,
                         time_ms, stream, file, offset, now_ms);
}

bool serve_engine_ingest_in(struct serve_engine *e, int source, const char *group, const char *data,
                            size_t len, int64_t time_ms, const char *stream, const char *file,
                            uint64_t offset, int64_t now_ms)
{
    if (!group || !*group)
        return serve_engine_ingest(e, source, data, len, time_ms, stream, file, offset, now_ms);
    serve_engine_lock(e);
    bool ok = ingest_locked(e, source, group_id_locked(e, group), group, data, len, time_ms, stream,
                            file, offset, now_ms);
    serve_engine_unlock(e);
    return ok;
}

/* ---- PutLogEvents: match outside the lock ------------------------------------
 *
 * A batch is screened, matched (metric_filters_match) and copied for the
 * ring by the HTTP thread that received it, without the engine lock; the
 * lock is then taken once to count the whole batch in order
 * (metric_filters_emit, counters, ring). So with the listener's thread pool
 * two batches are matched on two cores at once, and the lock is held only
 * for the cheap part.
 *
 * The filter set can be replaced (PutMetricFilter) while a batch is being
 * matched against it. A batch therefore notes the set's generation and
 * counts itself as a user under the lock; a replaced set with users is
 * retired instead of freed, and freed by its last user. If the set changed
 * before the batch is counted, the batch is matched again, under the lock,
 * against the new set: its counters were carried over at the rebuild, and
 * counting into the old one would lose them.
 */

struct batch_ev {
    int status;
    int64_t time_ms;
    size_t k;                  /* the event in the scratch's metric_match */
    struct serve_recent built; /* the ring entry's block (EV_OK) */
};

struct serve_ingest_scratch {
    struct serve_ingest_scratch *next; /* the engine's pool */
    uint64_t gen;                      /* of mm's filter set */
    struct metric_match *mm;
    struct event_scan *scan; /* eventTime for events without a time */
    struct batch_ev *ev;
    size_t cap;
};

static void scratch_free(struct serve_ingest_scratch *sc)
{
    metric_match_free(sc->mm);
    event_scan_free(sc->scan);
    free(sc->ev);
    free(sc);
}

/* Lock held. The batch no longer uses generation gen. */
static void filters_release_locked(struct serve_engine *e, uint64_t gen)
{
    if (gen == e->mf_gen) {
        e->mf_users--;
        return;
    }
    for (size_t i = 0; i < e->nretired; i++) {
        if (e->retired[i].gen != gen)
            continue;
        if (--e->retired[i].users == 0) {
            metric_filters_free(e->retired[i].mf);
            e->retired[i] = e->retired[--e->nretired];
        }
        return;
    }
}

size_t serve_engine_put_events(struct serve_engine *e, int source, const char *group,
                               const char *stream, const struct serve_event *ev, size_t n,
                               int64_t now_ms)
{
    serve_engine_lock(e);
    unsigned gid = group_id_locked(e, group);
    const struct metric_filters *mf = e->mf;
    uint64_t gen = e->mf_gen;
    e->mf_users++;
    struct serve_ingest_scratch *sc = e->scratch_pool;
    if (sc)
        e->scratch_pool = sc->next;
    serve_engine_unlock(e);

    /* ---- without the lock: mf is kept alive by mf_users (or retired) */
    if (!sc) {
        sc = ks_xcalloc(1, sizeof(*sc));
        sc->scan = event_scan_new(e->plan, EVENT_SCAN_FULL); /* the plan is immutable */
    }
    if (!sc->mm || sc->gen != gen) {
        metric_match_free(sc->mm);
        sc->mm = metric_match_new(mf);
        sc->gen = gen;
    }
    if (sc->cap < n) {
        sc->cap = n;
        sc->ev = ks_xrealloc(sc->ev, n * sizeof(*sc->ev));
    }
    metric_match_reset(sc->mm);
    for (size_t i = 0; i < n; i++) {
        struct batch_ev *b = &sc->ev[i];
        b->time_ms = ev[i].time_ms;
        b->status = screen_event(sc->scan, e->slot, ev[i].data, ev[i].len, &b->time_ms);
        if (b->status != EV_OK)
            continue;
        b->k = metric_filters_match(sc->mm, gid, ev[i].data, ev[i].len);
        ring_block(&b->built, ev[i].data, ev[i].len, group, stream, NULL);
    }

    /* ---- one lock for the whole batch, events counted in order */
    size_t counted = 0;
    serve_engine_lock(e);
    bool current = gen == e->mf_gen;
    struct serve_source_stats *ss = &e->sources[source];
    for (size_t i = 0; i < n; i++) {
        struct batch_ev *b = &sc->ev[i];
        if (b->status == EV_BAD) {
            ss->bad++;
            continue;
        }
        if (b->status == EV_UNTIMED) {
            ss->untimed++;
            continue;
        }
        metric_filters_set_origin(e->mf, e->source_names[source], 0);
        size_t matched = current ? metric_filters_emit(e->mf, sc->mm, b->k, b->time_ms, e->store)
                                 : metric_filters_apply_group(e->mf, gid, ev[i].data, ev[i].len,
                                                              b->time_ms, e->store);
        count_locked(e, source, matched, b->time_ms, &b->built, 0, now_ms);
        counted++;
    }
    filters_release_locked(e, gen);
    sc->next = e->scratch_pool;
    e->scratch_pool = sc;
    serve_engine_unlock(e);
    return counted;
}

bool serve_engine_ingest(struct serve_engine *e, int source, const char *data, size_t len,
                         int64_t time_ms, const char *stream, const char *file, uint64_t offset,
                         int64_t now_ms)
{
    serve_engine_lock(e);
    bool ok = serve_ingest_locked(e, source, data, len, time_ms, stream, file, offset, now_ms);
    serve_engine_unlock(e);
    return ok;
}

/* ---- evaluation -------------------------------------------------------------- */

static bool breaches(const struct alarm_def *def, double v)
{
    switch (def->comparison) {
    case ALARM_CMP_GT:
        return v > def->threshold;
    case ALARM_CMP_GE:
        return v >= def->threshold;
    case ALARM_CMP_LT:
        return v < def->threshold;
    case ALARM_CMP_LE:
        return v <= def->threshold;
    default:
        return false;
    }
}

/* Whether the statistic can only move towards the threshold as a period
 * fills up (issue 6, deliverable 2). */
static bool monotonic(const struct alarm_def *def)
{
    bool up = def->comparison == ALARM_CMP_GT || def->comparison == ALARM_CMP_GE;
    bool down = def->comparison == ALARM_CMP_LT || def->comparison == ALARM_CMP_LE;
    switch (def->statistic) {
    case ALARM_STAT_SUM:
    case ALARM_STAT_SAMPLE_COUNT:
    case ALARM_STAT_MAXIMUM:
        return up;
    case ALARM_STAT_MINIMUM:
        return down;
    default:
        return false;
    }
}

static void early_check(struct serve_engine *e, struct salarm *sa, int64_t now_ms,
                        struct alarm_change *ch)
{
    sa->check = false;
    const struct alarm_def *def = alarm_get_def(sa->a);
    if (alarm_get_state(sa->a) == ALARM_STATE_ALARM || !monotonic(def))
        return;
    int64_t step = def->period < 60 ? 10000 : 60000;
    int64_t next = now_ms - now_ms % step + step; /* the evaluation that will see this period */
    int64_t p = (int64_t)def->period * 1000;
    struct alarm_datapoint dp;
    /* the running period: [next - P, now] */
    if (!serve_alarm_query(e->store, def, next - p, now_ms + 1, &dp) || !breaches(def, dp.value))
        return;
    if (def->statistic == ALARM_STAT_SUM) {
        /* Sum only grows with non-negative samples */
        struct metric_stats st;
        long s = serve_alarm_series(e->store, def);
        if (s < 0 || !metric_store_stats(e->store, (size_t)s, next - p, now_ms + 1, &st) ||
            st.minimum < 0)
            return;
    }
    int32_t m = def->datapoints_to_alarm ? def->datapoints_to_alarm : def->evaluation_periods;
    int32_t hits = 1;
    for (int32_t k = 1; k < def->evaluation_periods && hits < m; k++) {
        struct alarm_datapoint prev;
        if (serve_alarm_query(e->store, def, next - p * (k + 1), next - p * k, &prev) &&
            breaches(def, prev.value))
            hits++;
    }
    if (hits < m)
        return;
    char val[ALARM_FMT_DOUBLE_SIZE], thr[ALARM_FMT_DOUBLE_SIZE], when[ALARM_FMT_TIME_SIZE];
    alarm_fmt_double(val, dp.value);
    alarm_fmt_double(thr, def->threshold);
    alarm_fmt_time(when, now_ms);
    char reason[ALARM_REASON_MAX + 1];
    snprintf(reason, sizeof(reason),
             "Threshold Crossed (early fire): the running %s of the current period [%s] was %s "
             "the threshold (%s) before the period ended",
             alarm_statistic_name(def->statistic), val,
             def->comparison == ALARM_CMP_GT   ? "greater than"
             : def->comparison == ALARM_CMP_GE ? "greater than or equal to"
             : def->comparison == ALARM_CMP_LT ? "less than"
                                               : "less than or equal to",
             thr);
    char data[512];
    snprintf(data, sizeof(data),
             "{\"version\":\"1.0\",\"earlyFire\":true,\"queryDate\":\"%s\",\"recentDatapoints\":"
             "[%s],\"threshold\":%s}",
             when, val, thr);
    bool changed = false;
    struct ks_diag d;
    if (alarm_set_state(sa->a, ALARM_STATE_ALARM, reason, data, now_ms, &changed, ch, &d) ==
            KS_OK &&
        changed) {
        sa->transitions++;
        e->dirty = true;
        enqueue_actions(e, def->name, ch, true);
    }
}

static void eval_composites(struct serve_engine *e, int64_t now_ms, struct alarm_change *ch)
{
    for (size_t i = 0; i < e->ncomps; i++) {
        while (alarm_composite_evaluate(e->comps[i].c, now_ms, child_state, e, ch)) {
            if (ch->state_changed) {
                e->comps[i].transitions++;
                e->dirty = true;
            }
            enqueue_actions(e, alarm_composite_get_def(e->comps[i].c)->name, ch, false);
        }
    }
}

/* One evaluation of a metric alarm at `at`, on either clock: a transition
 * goes to the actions like every other state change. */
static void eval_alarm(struct serve_engine *e, struct salarm *sa, int64_t at,
                       struct alarm_change *ch)
{
    if (alarm_evaluate(sa->a, at, serve_alarm_query, e->store, ch)) {
        sa->transitions++;
        e->dirty = true;
        enqueue_actions(e, alarm_get_def(sa->a)->name, ch, false);
    }
    if (at > sa->last_eval)
        sa->last_eval = at - at % (alarm_get_def(sa->a)->period < 60 ? 10000 : 60000);
}

void serve_engine_tick(struct serve_engine *e, int64_t now_ms)
{
    serve_engine_lock(e);
    struct alarm_change ch;
    alarm_change_init(&ch);
    for (size_t i = 0; i < e->nalarms; i++) {
        struct salarm *sa = &e->alarms[i];
        if (sa->check)
            early_check(e, sa, now_ms, &ch);
        if (now_ms < sa->next_eval && !sa->reeval)
            continue;
        /* evaluate at the due time, or now for a re-evaluation: alarm_evaluate
         * truncates to the minute (10 s), so both see whole periods only */
        int64_t at = sa->reeval ? now_ms : sa->next_eval;
        if (at > now_ms)
            at = now_ms;
        eval_alarm(e, sa, at, &ch);
        sa->reeval = false;
        sa->next_eval = alarm_next_evaluation(sa->a, now_ms);
    }
    eval_composites(e, now_ms, &ch);
    alarm_change_release(&ch);
    if (now_ms >= e->next_expire) {
        metric_store_expire(e->store, now_ms - e->retention_ms);
        e->next_expire = now_ms + 60000;
    }
    serve_engine_unlock(e);
}

/* ---- alarms API ------------------------------------------------------------ */

size_t serve_engine_alarm_count(const struct serve_engine *e)
{
    return e->nalarms;
}

const struct alarm *serve_engine_alarm(const struct serve_engine *e, size_t i)
{
    return e->alarms[i].a;
}

bool serve_engine_alarm_early(const struct serve_engine *e, size_t i)
{
    return e->alarms[i].early;
}

size_t serve_engine_composite_count(const struct serve_engine *e)
{
    return e->ncomps;
}

const struct alarm_composite *serve_engine_composite(const struct serve_engine *e, size_t i)
{
    return e->comps[i].c;
}

static struct salarm *find_alarm(struct serve_engine *e, const char *name)
{
    for (size_t i = 0; i < e->nalarms; i++)
        if (!strcmp(alarm_get_def(e->alarms[i].a)->name, name))
            return &e->alarms[i];
    return NULL;
}

static struct salarm *push_alarm(struct serve_engine *e, struct alarm *a, int64_t now_ms)
{
    if (e->nalarms == e->calarms) {
        e->calarms = e->calarms ? e->calarms * 2 : 8;
        e->alarms = ks_xrealloc(e->alarms, e->calarms * sizeof(*e->alarms));
    }
    struct salarm *sa = &e->alarms[e->nalarms++];
    memset(sa, 0, sizeof(*sa));
    sa->a = a;
    sa->last_eval = INT64_MIN;
    sa->next_eval = alarm_next_evaluation(a, now_ms);
    return sa;
}

enum ks_err serve_engine_put_alarm(struct serve_engine *e, const struct alarm_def *def,
                                   int64_t now_ms, struct ks_diag *diag)
{
    enum ks_err err = alarm_def_validate(def, diag);
    if (err)
        return err;
    serve_engine_lock(e);
    struct salarm *sa = find_alarm(e, def->name);
    if (sa) {
        err = alarm_update_def(sa->a, def, now_ms, diag);
        sa->reeval = true;
    } else {
        for (size_t i = 0; i < e->ncomps; i++)
            if (!strcmp(alarm_composite_get_def(e->comps[i].c)->name, def->name))
                err = ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "a composite alarm is named '%s'",
                                  def->name);
        if (!err) {
            /* AWS evaluates a new alarm right away (spec/alarms.md §2.2) */
            sa = push_alarm(e, alarm_new(def, now_ms), now_ms);
            sa->reeval = true;
        }
    }
    if (!err) /* persist, then acknowledge */
        err = serve_persist_alarm(e, def, now_ms, diag);
    e->dirty = true;
    serve_engine_unlock(e);
    return err;
}

bool serve_engine_delete_alarm(struct serve_engine *e, const char *name)
{
    serve_engine_lock(e);
    struct salarm *sa = find_alarm(e, name);
    if (sa) {
        alarm_free(sa->a);
        size_t i = (size_t)(sa - e->alarms);
        memmove(sa, sa + 1, (e->nalarms - i - 1) * sizeof(*sa));
        e->nalarms--;
        e->dirty = true;
        struct ks_diag d;
        if (serve_persist_alarm_delete(e, name, 0, &d) != KS_OK)
            serve_log(e, "error", "%s", d.msg);
    }
    serve_engine_unlock(e);
    return sa != NULL;
}

enum ks_err serve_engine_set_alarm_state(struct serve_engine *e, const char *name,
                                         enum alarm_state state, const char *reason,
                                         const char *reason_data, int64_t now_ms,
                                         struct ks_diag *diag)
{
    serve_engine_lock(e);
    struct alarm_change ch;
    alarm_change_init(&ch);
    bool changed = false;
    enum ks_err err = KS_OK;
    struct salarm *sa = find_alarm(e, name);
    if (sa) {
        err = alarm_set_state(sa->a, state, reason, reason_data, now_ms, &changed, &ch, diag);
        if (!err && changed) {
            sa->transitions++;
            enqueue_actions(e, name, &ch, false);
        }
    } else {
        err = ks_diag_set(diag, KS_E_NOTFOUND, SIZE_MAX, "alarm %s does not exist", name);
        for (size_t i = 0; i < e->ncomps; i++) {
            if (strcmp(alarm_composite_get_def(e->comps[i].c)->name, name))
                continue;
            err = alarm_composite_set_state(e->comps[i].c, state, reason, reason_data, now_ms,
                                            &changed, &ch, diag);
            if (!err && changed) {
                e->comps[i].transitions++;
                enqueue_actions(e, name, &ch, false);
            }
        }
    }
    if (changed) {
        e->dirty = true;
        eval_composites(e, now_ms, &ch);
    }
    alarm_change_release(&ch);
    serve_engine_unlock(e);
    return err;
}

struct store *serve_engine_db(const struct serve_engine *e)
{
    return e->db;
}

const struct metric_store *serve_engine_store(const struct serve_engine *e)
{
    return e->store;
}

const struct metric_filters *serve_engine_filters(const struct serve_engine *e)
{
    return e->mf;
}

/* ---- event time (replay) ------------------------------------------------------ */

void serve_engine_event_clock(struct serve_engine *e, serve_eval_fn *on_eval, void *ctx)
{
    e->on_eval = on_eval;
    e->on_eval_ctx = ctx;
    /* nothing is due before the driver says when its time starts: a time
     * from construction would make the first advance walk from the epoch */
    for (size_t i = 0; i < e->nalarms; i++)
        e->alarms[i].next_eval = INT64_MAX;
}

void serve_engine_schedule(struct serve_engine *e, int64_t t_ms)
{
    for (size_t i = 0; i < e->nalarms; i++)
        e->alarms[i].next_eval = alarm_next_evaluation(e->alarms[i].a, t_ms);
}

void serve_engine_advance(struct serve_engine *e, int64_t t_ms)
{
    struct alarm_change ch;
    alarm_change_init(&ch);
    for (;;) {
        int64_t next = INT64_MAX;
        for (size_t i = 0; i < e->nalarms; i++)
            if (e->alarms[i].next_eval < next)
                next = e->alarms[i].next_eval;
        if (next == INT64_MAX || next > t_ms)
            break;
        for (size_t i = 0; i < e->nalarms; i++) {
            struct salarm *sa = &e->alarms[i];
            if (sa->next_eval != next)
                continue;
            eval_alarm(e, sa, next, &ch);
            if (e->on_eval)
                e->on_eval(e->on_eval_ctx, i, next);
            sa->next_eval = alarm_next_evaluation(sa->a, next);
        }
        /* after every metric alarm due at `next`, so a composite sees all of
         * its children's transitions of that instant */
        eval_composites(e, next, &ch);
    }
    alarm_change_release(&ch);
}

int64_t serve_engine_alarm_next_eval(const struct serve_engine *e, size_t i)
{
    return e->alarms[i].next_eval;
}

uint64_t serve_engine_alarm_transitions(const struct serve_engine *e, size_t i)
{
    return e->alarms[i].transitions;
}

uint64_t serve_engine_composite_transitions(const struct serve_engine *e, size_t i)
{
    return e->comps[i].transitions;
}

bool serve_engine_restore_alarm(struct serve_engine *e, const char *name, enum alarm_state state,
                                const char *reason, int64_t at_ms, int64_t next_eval_ms,
                                uint64_t transitions)
{
    bool changed;
    struct ks_diag d;
    struct salarm *sa = find_alarm(e, name);
    if (sa) {
        if (alarm_set_state(sa->a, state, reason, NULL, at_ms, &changed, NULL, &d) != KS_OK)
            return false;
        sa->next_eval = next_eval_ms;
        sa->transitions = transitions;
        return true;
    }
    for (size_t i = 0; i < e->ncomps; i++) {
        if (strcmp(alarm_composite_get_def(e->comps[i].c)->name, name))
            continue;
        if (alarm_composite_set_state(e->comps[i].c, state, reason, NULL, at_ms, &changed, NULL,
                                      &d) != KS_OK)
            return false;
        e->comps[i].transitions = transitions;
        return true;
    }
    return false;
}

struct metric_filters *serve_engine_filters_mut(struct serve_engine *e)
{
    return e->mf;
}

struct metric_store *serve_engine_store_mut(struct serve_engine *e)
{
    return e->store;
}

/* ---- log groups, streams, filters ------------------------------------------ */

size_t serve_engine_group_count(const struct serve_engine *e)
{
    return e->ngroups;
}

const struct serve_log_group *serve_engine_group(const struct serve_engine *e, size_t i)
{
    return &e->groups[i];
}

const struct serve_log_group *serve_engine_group_find(const struct serve_engine *e,
                                                      const char *name)
{
    for (size_t i = 0; i < e->ngroups; i++)
        if (!strcmp(e->groups[i].name, name))
            return &e->groups[i];
    return NULL;
}

size_t serve_engine_stream_count(const struct serve_engine *e)
{
    return e->nstreams;
}

const struct serve_log_stream *serve_engine_stream(const struct serve_engine *e, size_t i)
{
    return &e->streams[i];
}

size_t serve_engine_filter_count(const struct serve_engine *e)
{
    return e->nfilters;
}

const struct serve_filter *serve_engine_filter(const struct serve_engine *e, size_t i)
{
    return &e->filters[i];
}

static enum ks_err add_group_locked(struct serve_engine *e, const char *name, int64_t now_ms,
                                    struct ks_diag *diag)
{
    if (serve_engine_group_find(e, name))
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "The specified log group already exists");
    if (e->ngroups == SERVE_MAX_LOG_GROUPS)
        return ks_diag_set(diag, KS_E_LIMIT, SIZE_MAX, "Resource limit exceeded.");
    e->groups = ks_xrealloc(e->groups, (e->ngroups + 1) * sizeof(*e->groups));
    e->groups[e->ngroups++] = (struct serve_log_group){ks_xstrdup(name), now_ms, false, 0};
    return KS_OK;
}

enum ks_err serve_engine_create_group(struct serve_engine *e, const char *name, int64_t now_ms,
                                      struct ks_diag *diag)
{
    serve_engine_lock(e);
    enum ks_err err = add_group_locked(e, name, now_ms, diag);
    serve_engine_unlock(e);
    return err;
}

static struct serve_log_stream *find_stream(struct serve_engine *e, const char *group,
                                            const char *name)
{
    for (size_t i = 0; i < e->nstreams; i++)
        if (!strcmp(e->streams[i].group, group) && !strcmp(e->streams[i].name, name))
            return &e->streams[i];
    return NULL;
}

enum ks_err serve_engine_create_stream(struct serve_engine *e, const char *group, const char *name,
                                       int64_t now_ms, struct ks_diag *diag)
{
    enum ks_err err = KS_OK;
    serve_engine_lock(e);
    if (!serve_engine_group_find(e, group))
        err = ks_diag_set(diag, KS_E_NOTFOUND, SIZE_MAX, "The specified log group does not exist.");
    else if (find_stream(e, group, name))
        err = ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "The specified log stream already exists");
    else if (e->nstreams == SERVE_MAX_STREAMS)
        err = ks_diag_set(diag, KS_E_LIMIT, SIZE_MAX, "Resource limit exceeded.");
    else {
        e->streams = ks_xrealloc(e->streams, (e->nstreams + 1) * sizeof(*e->streams));
        e->streams[e->nstreams++] =
            (struct serve_log_stream){ks_xstrdup(group), ks_xstrdup(name), now_ms, 0, 0, 0, 0};
    }
    serve_engine_unlock(e);
    return err;
}

bool serve_engine_stream_touch(struct serve_engine *e, const char *group, const char *name,
                               int64_t first_ms, int64_t last_ms, uint64_t bytes, int64_t now_ms)
{
    serve_engine_lock(e);
    struct serve_log_stream *s = find_stream(e, group, name);
    if (s) {
        if (!s->first_event_ms || first_ms < s->first_event_ms)
            s->first_event_ms = first_ms;
        if (last_ms > s->last_event_ms)
            s->last_event_ms = last_ms;
        s->last_ingest_ms = now_ms;
        s->stored_bytes += bytes;
    }
    serve_engine_unlock(e);
    return s != NULL;
}

static void filter_copy(struct serve_filter *dst, const char *group,
                        const struct metric_filter_def *def, int64_t now_ms)
{
    memset(dst, 0, sizeof(*dst));
    dst->log_group = ks_xstrdup(group ? group : "");
    dst->created_ms = now_ms;
    dst->def = *def;
    dst->def.name = ks_xstrdup(def->name);
    dst->def.pattern = ks_xstrdup(def->pattern);
    dst->def.namespace_ = ks_xstrdup(def->namespace_);
    dst->def.metric_name = ks_xstrdup(def->metric_name);
    dst->def.value = ks_xstrdup(def->value);
    dst->def.unit = def->unit ? ks_xstrdup(def->unit) : NULL;
    for (size_t k = 0; k < def->ndims && k < METRIC_MAX_DIMENSIONS; k++) {
        dst->def.dims[k].key = ks_xstrdup(def->dims[k].key);
        dst->def.dims[k].ref = ks_xstrdup(def->dims[k].ref);
    }
}

static void filter_release(struct serve_filter *f)
{
    free(f->log_group);
    free((char *)(uintptr_t)f->def.name);
    free((char *)(uintptr_t)f->def.pattern);
    free((char *)(uintptr_t)f->def.namespace_);
    free((char *)(uintptr_t)f->def.metric_name);
    free((char *)(uintptr_t)f->def.value);
    free((char *)(uintptr_t)f->def.unit);
    for (size_t k = 0; k < f->def.ndims && k < METRIC_MAX_DIMENSIONS; k++) {
        free((char *)(uintptr_t)f->def.dims[k].key);
        free((char *)(uintptr_t)f->def.dims[k].ref);
    }
}

/* Compiles the filter list into a new set, carrying counters over by name. */
static enum ks_err rebuild_filters(struct serve_engine *e, struct ks_diag *diag)
{
    struct metric_filters *mf = metric_filters_new();
    for (size_t i = 0; i < e->nfilters; i++) {
        /* a filter sees only its own log group's events (docs/serve.md) */
        e->filters[i].def.group = group_id_locked(e, e->filters[i].log_group);
        if (metric_filters_add(mf, &e->filters[i].def, diag) < 0) {
            metric_filters_free(mf);
            return diag->err ? diag->err : KS_E_INVALID;
        }
    }
    metric_filters_finish(mf);
    if (e->mf) {
        for (size_t i = 0; i < metric_filters_count(mf); i++)
            for (size_t k = 0; k < metric_filters_count(e->mf); k++)
                if (!strcmp(metric_filters_name(mf, i), metric_filters_name(e->mf, k)))
                    metric_filters_restore_stats(mf, i, metric_filters_stats(e->mf, k));
        /* batches still matching against the old set free it when done
         * (serve_engine_put_events) */
        if (e->mf_users) {
            e->retired = ks_xrealloc(e->retired, (e->nretired + 1) * sizeof(*e->retired));
            e->retired[e->nretired++] = (struct serve_filter_gen){e->mf, e->mf_gen, e->mf_users};
        } else {
            metric_filters_free(e->mf);
        }
    }
    e->mf = mf;
    e->mf_gen++;
    e->mf_users = 0;
    return KS_OK;
}

enum ks_err serve_engine_put_filter(struct serve_engine *e, const char *log_group,
                                    const struct metric_filter_def *def, int64_t now_ms,
                                    struct ks_diag *diag)
{
    /* compile alone first, so a bad filter never disturbs the running set */
    struct metric_filters *probe = metric_filters_new();
    int rc = metric_filters_add(probe, def, diag);
    metric_filters_free(probe);
    if (rc < 0)
        return diag->err ? diag->err : KS_E_INVALID;
    enum ks_err err = KS_OK;
    serve_engine_lock(e);
    size_t i;
    for (i = 0; i < e->nfilters; i++)
        if (!strcmp(e->filters[i].log_group, log_group) &&
            !strcmp(e->filters[i].def.name, def->name))
            break;
    if (!serve_engine_group_find(e, log_group)) {
        err = ks_diag_set(diag, KS_E_NOTFOUND, SIZE_MAX, "The specified log group does not exist.");
    } else if (i == e->nfilters && e->nfilters == SERVE_MAX_FILTERS) {
        err = ks_diag_set(diag, KS_E_LIMIT, SIZE_MAX, "Resource limit exceeded.");
    } else {
        if (i == e->nfilters) {
            e->filters = ks_xrealloc(e->filters, (e->nfilters + 1) * sizeof(*e->filters));
            e->nfilters++;
        } else {
            filter_release(&e->filters[i]);
        }
        filter_copy(&e->filters[i], log_group, def, now_ms);
        err = rebuild_filters(e, diag);
        if (!err)
            err = serve_persist_filter(e, log_group, def, now_ms, diag);
    }
    serve_engine_unlock(e);
    return err;
}

bool serve_engine_delete_filter(struct serve_engine *e, const char *log_group, const char *name)
{
    bool found = false;
    serve_engine_lock(e);
    for (size_t i = 0; i < e->nfilters; i++) {
        if (strcmp(e->filters[i].log_group, log_group) || strcmp(e->filters[i].def.name, name))
            continue;
        filter_release(&e->filters[i]);
        memmove(&e->filters[i], &e->filters[i + 1], (e->nfilters - i - 1) * sizeof(*e->filters));
        e->nfilters--;
        found = true;
        struct ks_diag d;
        if (serve_persist_filter_delete(e, log_group, name, 0, &d) != KS_OK)
            serve_log(e, "error", "%s", d.msg);
        if (rebuild_filters(e, &d) != KS_OK) /* the remaining filters compiled before */
            serve_log(e, "error", "recompiling filters: %s", d.msg);
        break;
    }
    serve_engine_unlock(e);
    return found;
}

/* ---- persistence ------------------------------------------------------------ */

static enum ks_err exec1(struct store *db, const char *sql, struct ks_diag *diag)
{
    char *err = NULL;
    if (sqlite3_exec(store_db(db), sql, NULL, NULL, &err) != SQLITE_OK) {
        ks_diag_set(diag, KS_E_IO, SIZE_MAX, "database: %s", err ? err : "error");
        sqlite3_free(err);
        return KS_E_IO;
    }
    return KS_OK;
}

static enum ks_err save_states(struct serve_engine *e, struct ks_diag *diag)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(store_db(e->db),
                           "INSERT OR REPLACE INTO alarm_state VALUES (?, ?, ?, ?)", -1, &q,
                           NULL) != SQLITE_OK)
        return store_fail(e->db, diag, "saving alarm state");
    for (size_t i = 0; i < e->nalarms + e->ncomps; i++) {
        bool metric = i < e->nalarms;
        const struct alarm *a = metric ? e->alarms[i].a : NULL;
        const struct alarm_composite *c = metric ? NULL : e->comps[i - e->nalarms].c;
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, metric ? alarm_get_def(a)->name : alarm_composite_get_def(c)->name,
                          -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2,
                          alarm_state_name(metric ? alarm_get_state(a) : alarm_composite_state(c)),
                          -1, SQLITE_STATIC);
        sqlite3_bind_int64(
            q, 3, metric ? alarm_state_updated_ms(a) : alarm_composite_state_updated_ms(c));
        sqlite3_bind_int64(q, 4,
                           (sqlite3_int64)(metric ? e->alarms[i].transitions
                                                  : e->comps[i - e->nalarms].transitions));
        if (sqlite3_step(q) != SQLITE_DONE) {
            sqlite3_finalize(q);
            return store_fail(e->db, diag, "saving alarm state");
        }
    }
    sqlite3_finalize(q);
    if (sqlite3_prepare_v2(store_db(e->db),
                           "INSERT OR REPLACE INTO filter_stats VALUES (?, ?, ?, ?, ?, ?, ?)", -1,
                           &q, NULL) != SQLITE_OK)
        return store_fail(e->db, diag, "saving filter counters");
    for (size_t i = 0; i < metric_filters_count(e->mf); i++) {
        const struct metric_filter_stats *fs = metric_filters_stats(e->mf, i);
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, metric_filters_name(e->mf, i), -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, (sqlite3_int64)fs->matched);
        sqlite3_bind_int64(q, 3, (sqlite3_int64)fs->samples);
        sqlite3_bind_int64(q, 4, (sqlite3_int64)fs->defaults);
        sqlite3_bind_int64(q, 5, (sqlite3_int64)fs->no_value);
        sqlite3_bind_int64(q, 6, (sqlite3_int64)fs->dims_dropped);
        sqlite3_bind_int(q, 7, fs->disabled);
        if (sqlite3_step(q) != SQLITE_DONE) {
            sqlite3_finalize(q);
            return store_fail(e->db, diag, "saving filter counters");
        }
    }
    sqlite3_finalize(q);
    return KS_OK;
}

enum ks_err serve_engine_checkpoint(struct serve_engine *e, struct ks_diag *diag)
{
    serve_engine_lock(e);
    enum ks_err err = KS_OK;
    if (!e->db || !e->dirty)
        goto out;
    err = store_begin(e->db, diag);
    if (!err)
        err = metric_store_save(e->store, e->db, diag);
    if (!err)
        err = save_states(e, diag);
    if (!err)
        err = serve_tail_save(e, diag);
    if (!err)
        err = store_commit(e->db, diag);
    if (err)
        store_rollback(e->db);
    else
        e->dirty = false;
out:
    serve_engine_unlock(e);
    return err;
}

static enum ks_err restore(struct serve_engine *e, int64_t now_ms, struct ks_diag *diag)
{
    enum ks_err err = metric_store_load(e->store, e->db, diag);
    if (err)
        return err;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(store_db(e->db), "SELECT name, state FROM alarm_state", -1, &q, NULL) !=
        SQLITE_OK)
        return store_fail(e->db, diag, "reading alarm state");
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        enum alarm_state s;
        if (!name || !alarm_state_parse((const char *)sqlite3_column_text(q, 1), &s) ||
            s == ALARM_STATE_INSUFFICIENT_DATA)
            continue;
        struct salarm *sa = find_alarm(e, name);
        bool changed;
        struct ks_diag d;
        if (sa && alarm_set_state(sa->a, s, "Restored from the last checkpoint", NULL, now_ms,
                                  &changed, NULL, &d) != KS_OK)
            continue;
    }
    sqlite3_finalize(q);
    if (sqlite3_prepare_v2(store_db(e->db), "SELECT * FROM filter_stats", -1, &q, NULL) !=
        SQLITE_OK)
        return store_fail(e->db, diag, "reading filter counters");
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        for (size_t i = 0; name && i < metric_filters_count(e->mf); i++) {
            if (strcmp(metric_filters_name(e->mf, i), name))
                continue;
            struct metric_filter_stats fs = {
                .matched = (uint64_t)sqlite3_column_int64(q, 1),
                .samples = (uint64_t)sqlite3_column_int64(q, 2),
                .defaults = (uint64_t)sqlite3_column_int64(q, 3),
                .no_value = (uint64_t)sqlite3_column_int64(q, 4),
                .dims_dropped = (uint64_t)sqlite3_column_int64(q, 5),
                .disabled = sqlite3_column_int(q, 6) != 0,
            };
            metric_filters_restore_stats(e->mf, i, &fs);
        }
    }
    sqlite3_finalize(q);
    return KS_OK;
}

/* ---- building ------------------------------------------------------------------ */

void serve_filter_def(const struct config_metric_filter *f, struct metric_filter_def *out)
{
    const struct config_metric_transformation *x = &f->transformations[0];
    *out = (struct metric_filter_def){
        .name = f->filter_name_given ? f->filter_name : f->res.logical_id,
        .pattern = f->filter_pattern,
        .namespace_ = x->metric_namespace,
        .metric_name = x->metric_name,
        .value = x->metric_value,
        .has_default = x->has_default_value,
        .default_value = x->default_value,
        .unit = x->unit,
        .ndims = x->n_dimensions, /* metric_filters_add rejects more than it keeps */
    };
    for (size_t k = 0; k < x->n_dimensions && k < METRIC_MAX_DIMENSIONS; k++) {
        out->dims[k].key = x->dimensions[k].name;
        out->dims[k].ref = x->dimensions[k].value;
    }
}

enum ks_err serve_alarm_def(const struct config_template *t, const struct config_alarm *ca,
                            struct alarm_def *def, struct alarm_dimension *dims,
                            struct ks_diag *diag)
{
    alarm_def_init(def);
    size_t nd = ca->n_dimensions < ALARM_MAX_DIMENSIONS ? ca->n_dimensions : ALARM_MAX_DIMENSIONS;
    for (size_t k = 0; k < nd; k++) {
        dims[k].name = ca->dimensions[k].name;
        dims[k].value = ca->dimensions[k].value;
    }
    def->name = ca->name;
    def->description = ca->description;
    def->ns = ca->namespace;
    def->metric_name = ca->metric_name;
    def->dimensions = dims;
    def->n_dimensions = nd;
    def->statistic = ALARM_STAT_NONE;
    if (ca->statistic && !alarm_statistic_parse(ca->statistic, &def->statistic))
        return ks_diag_set(diag, KS_E_SYNTAX, SIZE_MAX, "unknown Statistic '%s'", ca->statistic);
    def->extended_statistic = ca->extended_statistic;
    def->period = (int32_t)ca->period;
    def->evaluation_periods = (int32_t)ca->evaluation_periods;
    def->datapoints_to_alarm = ca->has_datapoints_to_alarm ? (int32_t)ca->datapoints_to_alarm : 0;
    def->threshold = ca->threshold;
    if (!ca->comparison_operator ||
        !alarm_comparison_parse(ca->comparison_operator, &def->comparison))
        return ks_diag_set(diag, KS_E_SYNTAX, SIZE_MAX, "unknown ComparisonOperator");
    if (ca->treat_missing_data &&
        !alarm_treat_missing_parse(ca->treat_missing_data, &def->treat_missing))
        return ks_diag_set(diag, KS_E_SYNTAX, SIZE_MAX, "unknown TreatMissingData");
    if (ca->evaluate_low_sample_count_percentile &&
        !alarm_low_sample_parse(ca->evaluate_low_sample_count_percentile, &def->low_sample))
        return ks_diag_set(diag, KS_E_SYNTAX, SIZE_MAX, "unknown EvaluateLowSampleCountPercentile");
    def->unit = ca->unit;
    def->actions_enabled = ca->actions_enabled;
    def->alarm_actions = (const char *const *)ca->alarm_actions.v;
    def->n_alarm_actions = ca->alarm_actions.n;
    def->ok_actions = (const char *const *)ca->ok_actions.v;
    def->n_ok_actions = ca->ok_actions.n;
    def->insufficient_data_actions = (const char *const *)ca->insufficient_data_actions.v;
    def->n_insufficient_data_actions = ca->insufficient_data_actions.n;
    def->region = t->region;
    def->account = t->account_id;
    return alarm_def_validate(def, diag);
}

enum ks_err serve_composite_def(const struct config_template *t,
                                const struct config_composite_alarm *cc,
                                struct alarm_composite_def *def, struct ks_diag *diag)
{
    alarm_composite_def_init(def);
    def->name = cc->name;
    def->description = cc->description;
    def->rule = cc->alarm_rule;
    def->actions_enabled = cc->actions_enabled;
    def->alarm_actions = (const char *const *)cc->alarm_actions.v;
    def->n_alarm_actions = cc->alarm_actions.n;
    def->ok_actions = (const char *const *)cc->ok_actions.v;
    def->n_ok_actions = cc->ok_actions.n;
    def->insufficient_data_actions = (const char *const *)cc->insufficient_data_actions.v;
    def->n_insufficient_data_actions = cc->insufficient_data_actions.n;
    def->actions_suppressor = cc->actions_suppressor;
    def->suppressor_wait_period = (int32_t)cc->actions_suppressor_wait_period;
    def->suppressor_extension_period = (int32_t)cc->actions_suppressor_extension_period;
    def->region = t->region;
    def->account = t->account_id;
    return alarm_composite_def_validate(def, diag);
}

static enum ks_err build_alarm(struct serve_engine *e, const struct config_alarm *ca,
                               int64_t now_ms, struct ks_diag *diag)
{
    if (ca->n_metrics) {
        serve_log(e, "warn",
                  "alarm '%s' uses metric math, which serve does not evaluate yet; "
                  "skipped",
                  ca->name);
        return KS_OK;
    }
    struct alarm_def def;
    struct alarm_dimension dims[ALARM_MAX_DIMENSIONS];
    struct ks_diag d;
    ks_diag_clear(&d);
    enum ks_err err = serve_alarm_def(e->tpl, ca, &def, dims, &d);
    if (err == KS_E_SYNTAX)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "Resources.%s: %s", ca->res.logical_id,
                           d.msg);
    if (err) {
        *diag = d;
        return err;
    }
    push_alarm(e, alarm_new(&def, now_ms), now_ms);
    return KS_OK;
}

static enum ks_err build_composite(struct serve_engine *e, const struct config_composite_alarm *cc,
                                   int64_t now_ms, struct ks_diag *diag)
{
    struct alarm_composite_def def;
    enum ks_err err = serve_composite_def(e->tpl, cc, &def, diag);
    if (err)
        return err;
    e->comps[e->ncomps++].c = alarm_composite_new(&def, now_ms);
    return KS_OK;
}

/* Keysentry::AlarmOptions {AlarmName: !Ref SomeAlarm, EarlyFire: true}: the
 * AWS::CloudWatch::Alarm schema has no room for keysentry's own settings
 * (config rejects unknown properties), so they live in a resource of their
 * own that names the alarm. */
static enum ks_err apply_options(struct serve_engine *e, struct ks_diag *diag)
{
    const struct config_template *t = e->tpl;
    for (size_t i = 0; i < t->n_customs; i++) {
        const struct config_custom *c = &t->customs[i];
        if (strcmp(c->res.type, "Keysentry::AlarmOptions"))
            continue;
        const char *name = json_string_value(json_object_get(c->properties, "AlarmName"));
        json_t *early = json_object_get(c->properties, "EarlyFire");
        if (!name)
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                               "Resources.%s.Properties.AlarmName: expected an alarm name",
                               c->res.logical_id);
        struct salarm *sa = find_alarm(e, name);
        if (!sa)
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                               "Resources.%s.Properties.AlarmName: no metric alarm '%s'",
                               c->res.logical_id, name);
        const char *es = json_string_value(early);
        bool on = json_is_true(early) || (es && !strcmp(es, "true"));
        if (on && !monotonic(alarm_get_def(sa->a)))
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                               "Resources.%s.Properties.EarlyFire: alarm '%s' uses a statistic "
                               "and operator that can fall within a period; early fire needs Sum, "
                               "SampleCount or Maximum with Greater*, or Minimum with Less*",
                               c->res.logical_id, name);
        sa->early = on;
    }
    return KS_OK;
}

enum ks_err serve_engine_new(const struct config_template *t, const struct serve_options *opts,
                             int64_t now_ms, struct serve_engine **out, struct ks_diag *diag)
{
    *out = NULL;
    struct serve_engine *e = ks_xcalloc(1, sizeof(*e));
    pthread_mutex_init(&e->mu, NULL);
    e->tpl = t;
    if (opts)
        e->opts = *opts;
    e->store = metric_store_new();
    e->ring = ks_xcalloc(SERVE_RING_MAX_EVENTS, sizeof(*e->ring));
    ks_buf_init(&e->fields, 8 * (KS_MAX_EVENT_BYTES + 1));
    e->plan = event_scan_plan_new();
    for (unsigned i = 0; i < KS_ARRAY_LEN(ring_paths); i++) {
        struct event_path p;
        size_t pos = 0;
        if (event_path_parse(ring_paths[i], strlen(ring_paths[i]), &pos, &p, diag) != KS_OK)
            goto fail;
        e->slot[i] = event_scan_plan_add(e->plan, &p);
        event_path_release(&p);
    }
    e->scan = event_scan_new(e->plan, EVENT_SCAN_FULL);
    enum ks_err err;
    for (size_t i = 0; i < t->n_log_groups; i++)
        if ((err = add_group_locked(e, t->log_groups[i].name, now_ms, diag)) != KS_OK)
            goto fail;
    for (size_t i = 0; i < t->n_log_groups; i++) {
        e->groups[i].has_retention = t->log_groups[i].has_retention_in_days;
        e->groups[i].retention_days = t->log_groups[i].retention_in_days;
    }
    e->filters = ks_xcalloc(t->n_metric_filters ? t->n_metric_filters : 1, sizeof(*e->filters));
    for (size_t i = 0; i < t->n_metric_filters; i++) {
        const struct config_metric_filter *f = &t->metric_filters[i];
        struct metric_filter_def def;
        serve_filter_def(f, &def);
        filter_copy(&e->filters[e->nfilters++], f->log_group_name, &def, now_ms);
    }
    if ((err = rebuild_filters(e, diag)) != KS_OK)
        goto fail;
    for (size_t i = 0; i < t->n_alarms; i++)
        if ((err = build_alarm(e, &t->alarms[i], now_ms, diag)) != KS_OK)
            goto fail;
    e->comps = ks_xcalloc(t->n_composite_alarms ? t->n_composite_alarms : 1, sizeof(*e->comps));
    for (size_t i = 0; i < t->n_composite_alarms; i++)
        if ((err = build_composite(e, &t->composite_alarms[i], now_ms, diag)) != KS_OK)
            goto fail;
    if ((err = apply_options(e, diag)) != KS_OK)
        goto fail;
    /* keep what the longest-looking alarm can ask for, plus an hour for late
     * deliveries and GetMetricStatistics */
    e->retention_ms = 3600 * 1000;
    for (size_t i = 0; i < e->nalarms; i++) {
        int64_t l = lookback_ms(alarm_get_def(e->alarms[i].a)) + 3600 * 1000;
        if (l > e->retention_ms)
            e->retention_ms = l;
    }
    e->next_expire = now_ms + 60000;
    if (e->opts.db_path) {
        if ((err = store_open(e->opts.db_path, &e->db, diag)) != KS_OK)
            goto fail;
        if ((err = exec1(e->db, "PRAGMA synchronous=NORMAL", diag)) != KS_OK)
            goto fail;
        if ((err = serve_persist_load(e, now_ms, diag)) != KS_OK)
            goto fail;
        if ((err = restore(e, now_ms, diag)) != KS_OK)
            goto fail;
    }
    *out = e;
    return KS_OK;
fail:
    if (!diag->err)
        diag->err = KS_E_INVALID;
    err = diag->err;
    serve_engine_free(e);
    return err;
}

void serve_engine_free(struct serve_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->ntails; i++)
        serve_tail_free(&e->tails[i]);
    free(e->tails);
    for (size_t i = 0; i < e->nalarms; i++)
        alarm_free(e->alarms[i].a);
    free(e->alarms);
    for (size_t i = 0; i < e->ncomps; i++)
        alarm_composite_free(e->comps[i].c);
    free(e->comps);
    for (size_t i = 0; i < e->nfilters; i++)
        filter_release(&e->filters[i]);
    free(e->filters);
    for (size_t i = 0; i < e->ngroups; i++)
        free(e->groups[i].name);
    free(e->groups);
    for (size_t i = 0; i < e->nstreams; i++) {
        free(e->streams[i].group);
        free(e->streams[i].name);
    }
    free(e->streams);
    while (e->ring_len)
        ring_drop_oldest(e);
    free(e->ring);
    for (size_t i = 0; i < e->nsources; i++) {
        free(e->source_names[i]);
        free(e->source_groups[i]);
    }
    for (size_t i = 0; i < e->ngnames; i++)
        free(e->gnames[i]);
    free(e->gnames);
    /* the HTTP threads are stopped: no batch holds a scratch or a set */
    while (e->scratch_pool) {
        struct serve_ingest_scratch *sc = e->scratch_pool;
        e->scratch_pool = sc->next;
        scratch_free(sc);
    }
    for (size_t i = 0; i < e->nretired; i++)
        metric_filters_free(e->retired[i].mf);
    free(e->retired);
    ks_buf_release(&e->fields);
    event_scan_free(e->scan);
    event_scan_plan_free(e->plan);
    metric_filters_free(e->mf);
    metric_store_free(e->store);
    serve_actions_free(e);
    store_close(e->db);
    pthread_mutex_destroy(&e->mu);
    free(e);
}
