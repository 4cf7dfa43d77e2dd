/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keysentry replay: a template's metric filters and alarms over archives, in
 * event time (backtesting).
 *
 * DESIGN
 * Input files are ordered by the time in their CloudTrail file name
 * (..._20230710T1145Z_...), then by path, so event time advances across
 * regions and accounts of an S3 tree instead of restarting per folder.
 * Events feed the metric filters at their eventTime. The watermark is the
 * newest event time minus the allowed lateness; every alarm evaluation at or
 * before the watermark is final, so the sequence of state changes depends
 * only on the input, never on how fast it was read. After the last event,
 * each alarm is evaluated once more at its first evaluation time after the
 * newest event (or on to --until).
 *
 * The alarms run on the serve engine with an event-time clock (serve.h,
 * "event time"): it builds the filters, alarms and composites, evaluates,
 * and queues actions with their context; replay reads, keeps the watermark
 * and reports what the engine's hooks hand it.
 *
 * With --db FILE the metric store, the alarm states and the position in the
 * input commit together every --commit-every events (default
 * REPLAY_COMMIT_EVENTS); a rerun with the same arguments resumes after the
 * last commit (kill -9 safe).
 */
#include "cli/cli.h"
#include "cli/cli_int.h"

#include "alarm/alarm.h"
#include "config/config.h"
#include "event/event.h"
#include "metric/metric.h"
#include "notify/notify.h"
#include "respond/respond.h"
#include "serve/serve.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REPLAY_COMMIT_EVENTS      65536
#define REPLAY_DEFAULT_LATENESS_S 900 /* CloudTrail delivers within ~15 minutes */
#define REPLAY_CHART_WIDTH        60

static const char help[] =
    "usage: keysentry replay [options] -c TEMPLATE PATH...\n"
    "\n"
    "Replays archives through a template's metric filters and alarms in event\n"
    "time, and reports when each alarm would have changed state: backtest a\n"
    "monitoring stack before deploying it, or tune thresholds on real history.\n"
    "\n"
    "PATH: CloudTrail archives (S3 layout, .json.gz or .json), NDJSON files or\n"
    "directories of them. Files are read in order of the time in their\n"
    "CloudTrail file name, then of their path.\n"
    "\n"
    "options:\n"
    "  -c, --template FILE   CloudFormation template (YAML or JSON), required\n"
    "  --param K=V           set template parameter K (repeatable)\n"
    "  --stack-name N        AWS::StackName (default: template file name)\n"
    "  --account A           AWS::AccountId (default 111122223333)\n"
    "  --region R            AWS::Region (default us-east-1)\n"
    "  --from T, --until T   only events at or after / before T (ISO 8601);\n"
    "                        --until also keeps evaluating alarms up to T\n"
    "  --lateness S          seconds an event may arrive after newer ones and\n"
    "                        still count before alarms are evaluated (default 900)\n"
    "  --retention S         seconds of 1-second buckets kept behind the watermark\n"
    "                        (default: what the alarms can look back at, plus the\n"
    "                        lateness, plus an hour; 0 keeps everything)\n"
    "  --db FILE             persist metrics, alarm states and progress in SQLite;\n"
    "                        rerunning resumes where a previous run stopped\n"
    "  --commit-every N      with --db: events per transaction (default 65536)\n"
    "  --json                one JSON object per line: StateChange ... Summary\n"
    "  --notify              deliver alarm actions through the durable outbox: SNS\n"
    "                        topics' subscriptions (email, http/https, ...) and\n"
    "                        Keysentry::Response resources; waits until delivered\n"
    "  --notify-timeout S    how long to wait for deliveries at the end (default 60)\n"
    "  --dry-run             responses only log what they would do\n"
    "  --respond-trail PATH  record every response (CloudTrail-format NDJSON) in PATH\n"
    "                        (a file, or a directory for one file per day)\n"
    "  -q, --quiet           no progress and no warnings on stderr\n"
    "  -h, --help            show this help\n"
    "\n"
    "example:\n"
    "  keysentry replay -c examples/lab/monitoring.yaml examples/lab/trail-failures.ndjson\n"
    "\n"
    "Exit status: 0 on success, 1 when input could not be read or the database\n"
    "failed, 2 for usage or template errors.\n";

/* ---- input ordering ----------------------------------------------------- */

struct infile {
    char *path;
    int64_t name_time; /* from the CloudTrail file name, INT64_MIN when none */
    off_t size;
};

struct inputs {
    struct infile *v;
    size_t n, cap;
    uint64_t bytes;
};

/* "..._20230710T1145Z_..." -> ms; CloudTrail's delivery file naming. */
static int64_t name_time(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (const char *p = base; *p; p++) {
        if (p[0] != '_' || strlen(p) < 15)
            continue;
        const char *t = p + 1;
        bool ok = true;
        for (int i = 0; i < 8 && ok; i++)
            ok = t[i] >= '0' && t[i] <= '9';
        if (!ok || t[8] != 'T')
            continue;
        for (int i = 9; i < 13 && ok; i++)
            ok = t[i] >= '0' && t[i] <= '9';
        if (!ok || t[13] != 'Z')
            continue;
        char iso[24];
        snprintf(iso, sizeof(iso), "%.4s-%.2s-%.2sT%.2s:%.2s:00Z", t, t + 4, t + 6, t + 9, t + 11);
        int64_t ms;
        if (event_parse_time(iso, strlen(iso), &ms))
            return ms;
    }
    return INT64_MIN;
}

static void add_input(struct inputs *in, const char *path, off_t size)
{
    if (in->n == in->cap) {
        in->cap = in->cap ? in->cap * 2 : 64;
        in->v = ks_xrealloc(in->v, in->cap * sizeof(*in->v));
    }
    in->v[in->n++] = (struct infile){ks_xstrdup(path), name_time(path), size};
    in->bytes += (uint64_t)size;
}

static int collect(struct inputs *in, const char *path, unsigned depth)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        cli_error("cannot read '%s': %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        add_input(in, path, st.st_size);
        return 0;
    }
    if (depth > 32) {
        cli_error("'%s': directories nested too deep; skipped", path);
        return -1;
    }
    DIR *d = opendir(path);
    if (!d) {
        cli_error("cannot list '%s': %s", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        struct ks_buf b;
        ks_buf_init(&b, 1u << 16);
        if (ks_buf_addf(&b, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/", e->d_name) ==
            KS_OK)
            rc |= collect(in, b.data, depth + 1);
        ks_buf_release(&b);
    }
    closedir(d);
    return rc;
}

static int infile_cmp(const void *a, const void *b)
{
    const struct infile *x = a, *y = b;
    if (x->name_time != y->name_time)
        return x->name_time < y->name_time ? -1 : 1;
    return strcmp(x->path, y->path);
}

/* ---- the run ------------------------------------------------------------ */

#define REPLAY_CHART_POINTS 4096

struct chart_point {
    int64_t start; /* period start */
    double value;
    bool have; /* false: the period had no datapoint */
};

/* The newest period of each evaluation of one metric alarm, kept as the
 * replay goes so that old buckets can expire; halved (max of pairs) whenever
 * it fills. */
struct chart {
    struct chart_point *pts;
    size_t npts;
    int64_t last_pt;
};

struct replay {
    struct config_template *tpl;
    /* The serve engine on an event-time clock evaluates the alarms and hands
     * their transitions to the outbox (serve.h, "event time"); replay reads
     * the input, keeps the watermark, and reports. mf and store are the
     * engine's; alarms never change during a run, so the counts hold. */
    struct serve_engine *eng;
    struct metric_filters *mf;
    struct metric_store *store;
    size_t nalarms, ncomps;
    struct chart *charts; /* one per metric alarm, as indexed by the engine */
    bool created;
    int64_t first_time, max_time, watermark, lateness_ms;
    int64_t retention_ms, next_expire;
    int64_t from_ms, until_ms;
    bool have_from, have_until;
    uint64_t events, untimed, late, outside;
    bool json, quiet, progress;
    struct event_stats st;
    /* resume */
    struct store *db;
    const char *resume_file;
    uint64_t resume_offset;
    bool skipping;
    uint64_t since_commit, commit_every;
    const char *cur_file; /* the file being read */
    const char *cp_file;  /* where the last consumed event came from: the checkpoint */
    uint64_t cp_offset;
    int failed;
    /* progress */
    const struct inputs *in;
    size_t file_index;
    uint64_t bytes_done;
    struct timespec started, last_progress;
    /* --notify: deliveries go through the durable outbox */
    struct notify_hub *hub;
    struct respond *responder;
    struct store *notify_db; /* the --db store, or a temporary one */
    char *tmp_db_dir;
    uint64_t enqueue_failures; /* the engine's count at the last look */
};

static void iso_time(char *buf, size_t n, int64_t ms)
{
    time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static const struct alarm *alarm_at(const struct replay *r, size_t i)
{
    return serve_engine_alarm(r->eng, i);
}

static const struct alarm_composite *composite_at(const struct replay *r, size_t i)
{
    return serve_engine_composite(r->eng, i);
}

/* ---- context: who did it ---------------------------------------------- */

#define CTX_TOP      5
#define CTX_RECENT   10
#define CTX_DISTINCT 64

struct tally {
    const char *v[CTX_DISTINCT];
    unsigned n[CTX_DISTINCT];
    size_t len;
    unsigned others; /* values beyond CTX_DISTINCT distinct ones */
};

struct ctx {
    size_t events;
    struct tally principals, keys, ips, errors, agents;
    struct metric_event_info recent[CTX_RECENT];
    size_t nrecent;
};

static void tally_add(struct tally *t, const char *v)
{
    if (!v || !*v)
        return;
    for (size_t i = 0; i < t->len; i++) {
        if (!strcmp(t->v[i], v)) {
            t->n[i]++;
            return;
        }
    }
    if (t->len == CTX_DISTINCT) {
        t->others++;
        return;
    }
    t->v[t->len] = v;
    t->n[t->len++] = 1;
}

static void ctx_event(void *ud, const struct metric_event_info *ev)
{
    struct ctx *c = ud;
    c->events++;
    tally_add(&c->principals, ev->principal);
    tally_add(&c->keys, ev->key);
    tally_add(&c->ips, ev->source_ip);
    tally_add(&c->errors, ev->error_code);
    tally_add(&c->agents, ev->user_agent);
    if (c->nrecent < CTX_RECENT)
        c->recent[c->nrecent++] = *ev; /* newest first */
}

static void tally_sort(struct tally *t)
{
    for (size_t i = 1; i < t->len; i++) /* tiny: insertion sort, count desc */
        for (size_t k = i; k > 0 && t->n[k] > t->n[k - 1]; k--) {
            const char *v = t->v[k];
            unsigned n = t->n[k];
            t->v[k] = t->v[k - 1];
            t->n[k] = t->n[k - 1];
            t->v[k - 1] = v;
            t->n[k - 1] = n;
        }
}

/* The matching events behind an alarm's evaluated window. */
static void build_context(struct replay *r, const struct alarm_def *def, int64_t eval_ms,
                          struct ctx *c)
{
    memset(c, 0, sizeof(*c));
    int64_t start, end;
    serve_alarm_window(def, eval_ms, false, &start, &end);
    long series = serve_alarm_series(r->store, def);
    if (series >= 0)
        metric_filters_recent(r->mf, series, start, end, ctx_event, c);
    tally_sort(&c->principals);
    tally_sort(&c->keys);
    tally_sort(&c->ips);
    tally_sort(&c->errors);
    tally_sort(&c->agents);
}

static void tally_text(const char *label, const struct tally *t)
{
    if (!t->len)
        return;
    printf("      %-14s", label);
    for (size_t i = 0; i < t->len && i < CTX_TOP; i++)
        printf("%s%s (%u)", i ? ", " : "", t->v[i], t->n[i]);
    if (t->len > CTX_TOP || t->others)
        printf(", ...");
    fputc('\n', stdout);
}

static void tally_json(const char *label, const struct tally *t)
{
    printf(",\"%s\":[", label);
    for (size_t i = 0; i < t->len && i < CTX_TOP; i++) {
        fputs(i ? ",{\"value\":" : "{\"value\":", stdout);
        cli_json_string(stdout, t->v[i], strlen(t->v[i]));
        printf(",\"count\":%u}", t->n[i]);
    }
    fputc(']', stdout);
}

static void context_text(const struct ctx *c)
{
    if (!c->events)
        return;
    printf("    who: %zu matching event%s in the evaluated window%s\n", c->events,
           c->events == 1 ? "" : "s",
           c->events >= METRIC_CONTEXT_RECENT ? " (the newest "
                                                "1000"
                                                " are summarised)"
                                              : "");
    tally_text("principals", &c->principals);
    tally_text("keys", &c->keys);
    tally_text("source IPs", &c->ips);
    tally_text("error codes", &c->errors);
    tally_text("user agents", &c->agents);
    for (size_t i = 0; i < c->nrecent && i < 3; i++) {
        char t[40];
        iso_time(t, sizeof(t), c->recent[i].time_ms);
        printf("      %s %s %s %s  (%s:%llu)\n", t, c->recent[i].event_name,
               c->recent[i].error_code[0] ? c->recent[i].error_code : "-", c->recent[i].event_id,
               c->recent[i].file, (unsigned long long)c->recent[i].offset);
    }
}

static void context_json(const struct ctx *c)
{
    printf(",\"context\":{\"matchingEvents\":%zu", c->events);
    tally_json("topPrincipals", &c->principals);
    tally_json("topKeys", &c->keys);
    tally_json("topSourceIPs", &c->ips);
    tally_json("topErrorCodes", &c->errors);
    tally_json("topUserAgents", &c->agents);
    fputs(",\"recentEvents\":[", stdout);
    for (size_t i = 0; i < c->nrecent; i++) {
        const struct metric_event_info *e = &c->recent[i];
        char t[40];
        iso_time(t, sizeof(t), e->time_ms);
        printf("%s{\"eventTime\":\"%s\",\"eventName\":", i ? "," : "", t);
        cli_json_string(stdout, e->event_name, strlen(e->event_name));
        fputs(",\"eventID\":", stdout);
        cli_json_string(stdout, e->event_id, strlen(e->event_id));
        fputs(",\"principal\":", stdout);
        cli_json_string(stdout, e->principal, strlen(e->principal));
        fputs(",\"key\":", stdout);
        cli_json_string(stdout, e->key, strlen(e->key));
        fputs(",\"sourceIPAddress\":", stdout);
        cli_json_string(stdout, e->source_ip, strlen(e->source_ip));
        fputs(",\"errorCode\":", stdout);
        cli_json_string(stdout, e->error_code, strlen(e->error_code));
        fputs(",\"origin\":{\"file\":", stdout);
        cli_json_string(stdout, e->file, strlen(e->file));
        printf(",\"offset\":%llu}}", (unsigned long long)e->offset);
    }
    fputs("]}", stdout);
}

static void report_change(struct replay *r, const char *name, const char *type,
                          const struct alarm_change *ch, const struct alarm_def *def)
{
    struct ctx c;
    bool with_ctx = def && ch->new_state == ALARM_STATE_ALARM;
    if (with_ctx)
        build_context(r, def, ch->time_ms, &c);
    char t[40];
    iso_time(t, sizeof(t), ch->time_ms);
    if (!r->json) {
        if (!r->quiet && r->progress)
            fputs("\r\033[K", stderr);
        printf("%s  %-28s %s -> %s\n    %s\n", t, name, alarm_state_name(ch->old_state),
               alarm_state_name(ch->new_state), ch->reason.data);
        if (with_ctx)
            context_text(&c);
        return;
    }
    fputs("{\"type\":\"StateChange\",\"alarm\":", stdout);
    cli_json_string(stdout, name, strlen(name));
    printf(",\"alarmType\":\"%s\",\"oldState\":\"%s\",\"newState\":\"%s\",\"time\":\"%s\","
           "\"reason\":",
           type, alarm_state_name(ch->old_state), alarm_state_name(ch->new_state), t);
    cli_json_string(stdout, ch->reason.data, ch->reason.len);
    if (ch->reason_data.len)
        printf(",\"reasonData\":%s", ch->reason_data.data);
    fputs(",\"actions\":[", stdout);
    for (size_t i = 0; i < ch->n_actions; i++) {
        if (i)
            fputc(',', stdout);
        cli_json_string(stdout, ch->actions[i], strlen(ch->actions[i]));
    }
    fputc(']', stdout);
    if (with_ctx)
        context_json(&c);
    fputs("}\n", stdout);
}

/* serve_actions_fn: every transition the engine makes, after its actions
 * went to the outbox. A composite releasing actions it held is no state
 * change and prints nothing. */
static void on_change(void *ud, const char *name, const struct alarm_change *ch, bool early)
{
    struct replay *r = ud;
    (void)early; /* early fire is a wall-clock feature; advance never fires early */
    struct serve_action_stats as;
    serve_engine_action_stats(r->eng, &as);
    if (as.enqueue_failures != r->enqueue_failures) {
        r->enqueue_failures = as.enqueue_failures;
        cli_error("cannot queue the actions of a state change of '%s'", name);
        r->failed = 1;
    }
    if (!ch->state_changed)
        return;
    const struct alarm_def *def = NULL;
    for (size_t i = 0; i < r->nalarms && !def; i++)
        if (!strcmp(alarm_get_def(alarm_at(r, i))->name, name))
            def = alarm_get_def(alarm_at(r, i));
    report_change(r, name, def ? "MetricAlarm" : "CompositeAlarm", ch, def);
}

/* serve_eval_fn: the chart keeps the newest period of each evaluation. */
static void record_point(void *ud, size_t alarm, int64_t eval_ms)
{
    struct replay *r = ud;
    struct chart *ra = &r->charts[alarm];
    const struct alarm_def *def = alarm_get_def(alarm_at(r, alarm));
    int64_t step = def->period < 60 ? 10000 : 60000;
    int64_t t0 = eval_ms - (eval_ms % step);
    int64_t start = t0 - (int64_t)def->period * 1000;
    if (ra->npts && start <= ra->last_pt)
        return;
    if (ra->npts == REPLAY_CHART_POINTS) {
        for (size_t i = 0; i < ra->npts / 2; i++) {
            struct chart_point a = ra->pts[2 * i], b = ra->pts[2 * i + 1];
            struct chart_point m = a;
            if (!a.have || (b.have && b.value > a.value))
                m = (struct chart_point){a.start, b.value, b.have};
            ra->pts[i] = m;
        }
        ra->npts /= 2;
    }
    if (!ra->pts)
        ra->pts = ks_xmalloc(REPLAY_CHART_POINTS * sizeof(*ra->pts));
    struct alarm_datapoint dp;
    bool have = serve_alarm_query(r->store, def, start, t0, &dp);
    ra->pts[ra->npts++] = (struct chart_point){start, have ? dp.value : 0, have};
    ra->last_pt = start;
}

static void create_alarms(struct replay *r, int64_t t0)
{
    r->created = true;
    r->first_time = t0;
    /* created just before the first event: the first evaluation after it sees
     * that event's period */
    serve_engine_schedule(r->eng, t0);
}

static void show_progress(struct replay *r, bool final)
{
    if (!r->progress || r->quiet || r->json)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double since = (double)(now.tv_sec - r->last_progress.tv_sec) +
                   (double)(now.tv_nsec - r->last_progress.tv_nsec) / 1e9;
    if (!final && since < 0.25)
        return;
    r->last_progress = now;
    double el =
        (double)(now.tv_sec - r->started.tv_sec) + (double)(now.tv_nsec - r->started.tv_nsec) / 1e9;
    double frac = r->in->bytes ? (double)r->bytes_done / (double)r->in->bytes : 1;
    double eta = frac > 0.001 ? el / frac - el : 0;
    int bar = (int)(frac * 30);
    fprintf(stderr, "\r\033[K[%.*s%*s] %zu/%zu files, %llu events, %.0f events/s, ETA %.0fs", bar,
            "##############################", 30 - bar, "", r->file_index, r->in->n,
            (unsigned long long)r->events, el > 0 ? (double)r->events / el : 0, eta);
    if (final)
        fputs("\r\033[K", stderr);
}

/* ---- persistence ------------------------------------------------------ */

static int commit(struct replay *r)
{
    if (!r->db)
        return 0;
    struct ks_diag d;
    struct store_checkpoint cp;
    memset(&cp, 0, sizeof(cp));
    snprintf(cp.file, sizeof(cp.file), "%s", r->cp_file ? r->cp_file : "");
    cp.offset = r->cp_offset;
    cp.events = r->events;
    cp.watermark_ms = r->max_time;
    if (store_begin(r->db, &d) || metric_store_save(r->store, r->db, &d) ||
        store_checkpoint_put(r->db, "replay", &cp, &d))
        goto fail;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(store_db(r->db),
                           "INSERT OR REPLACE INTO run_facts VALUES ('first_event_ms', ?)", -1, &q,
                           NULL) != SQLITE_OK) {
        store_fail(r->db, &d, "saving run facts");
        goto fail;
    }
    sqlite3_bind_int64(q, 1, r->first_time);
    int frc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (frc != SQLITE_DONE) {
        store_fail(r->db, &d, "saving run facts");
        goto fail;
    }
    if (sqlite3_prepare_v2(store_db(r->db),
                           "INSERT OR REPLACE INTO alarm_state VALUES (?, ?, ?, ?)", -1, &q,
                           NULL) != SQLITE_OK) {
        store_fail(r->db, &d, "saving alarm state");
        goto fail;
    }
    for (size_t i = 0; i < r->nalarms; i++) {
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, alarm_get_def(alarm_at(r, i))->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, alarm_state_name(alarm_get_state(alarm_at(r, i))), -1,
                          SQLITE_STATIC);
        sqlite3_bind_int64(q, 3, serve_engine_alarm_next_eval(r->eng, i));
        sqlite3_bind_int64(q, 4, (sqlite3_int64)serve_engine_alarm_transitions(r->eng, i));
        if (sqlite3_step(q) != SQLITE_DONE) {
            sqlite3_finalize(q);
            store_fail(r->db, &d, "saving alarm state");
            goto fail;
        }
    }
    for (size_t i = 0; i < r->ncomps; i++) {
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, alarm_composite_get_def(composite_at(r, i))->name, -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(q, 2, alarm_state_name(alarm_composite_state(composite_at(r, i))), -1,
                          SQLITE_STATIC);
        sqlite3_bind_int64(q, 3, alarm_composite_state_updated_ms(composite_at(r, i)));
        sqlite3_bind_int64(q, 4, (sqlite3_int64)serve_engine_composite_transitions(r->eng, i));
        if (sqlite3_step(q) != SQLITE_DONE) {
            sqlite3_finalize(q);
            store_fail(r->db, &d, "saving alarm state");
            goto fail;
        }
    }
    sqlite3_finalize(q);
    if (sqlite3_prepare_v2(store_db(r->db),
                           "INSERT OR REPLACE INTO filter_stats VALUES (?, ?, ?, ?, ?, ?, ?)", -1,
                           &q, NULL) != SQLITE_OK) {
        store_fail(r->db, &d, "saving filter counters");
        goto fail;
    }
    for (size_t i = 0; i < metric_filters_count(r->mf); i++) {
        const struct metric_filter_stats *fs = metric_filters_stats(r->mf, i);
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, metric_filters_name(r->mf, i), -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, (sqlite3_int64)fs->matched);
        sqlite3_bind_int64(q, 3, (sqlite3_int64)fs->samples);
        sqlite3_bind_int64(q, 4, (sqlite3_int64)fs->defaults);
        sqlite3_bind_int64(q, 5, (sqlite3_int64)fs->no_value);
        sqlite3_bind_int64(q, 6, (sqlite3_int64)fs->dims_dropped);
        sqlite3_bind_int(q, 7, fs->disabled);
        if (sqlite3_step(q) != SQLITE_DONE) {
            sqlite3_finalize(q);
            store_fail(r->db, &d, "saving filter counters");
            goto fail;
        }
    }
    sqlite3_finalize(q);
    if (store_commit(r->db, &d))
        goto fail;
    r->since_commit = 0;
    return 0;
fail:
    store_rollback(r->db);
    cli_error("%s", d.msg);
    r->failed = 1;
    return -1;
}

static int restore(struct replay *r, struct store_checkpoint *cp, bool *found)
{
    struct ks_diag d;
    if (store_checkpoint_get(r->db, "replay", cp, found, &d)) {
        cli_error("%s", d.msg);
        return -1;
    }
    if (!*found)
        return 0;
    if (metric_store_load(r->store, r->db, &d)) {
        cli_error("%s", d.msg);
        return -1;
    }
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(store_db(r->db),
                           "SELECT name, state, last_eval_ms, transitions FROM alarm_state", -1, &q,
                           NULL) != SQLITE_OK)
        return -1;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        enum alarm_state s;
        if (!name || !alarm_state_parse((const char *)sqlite3_column_text(q, 1), &s))
            continue;
        /* column 3 is a metric alarm's next evaluation (the state holds from
         * then) and a composite's state time */
        int64_t at = sqlite3_column_int64(q, 2);
        serve_engine_restore_alarm(r->eng, name, s, "Restored from a replay checkpoint", at, at,
                                   (uint64_t)sqlite3_column_int64(q, 3));
    }
    sqlite3_finalize(q);
    if (sqlite3_prepare_v2(store_db(r->db), "SELECT * FROM filter_stats", -1, &q, NULL) !=
        SQLITE_OK)
        return -1;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        for (size_t i = 0; i < metric_filters_count(r->mf); i++) {
            if (strcmp(metric_filters_name(r->mf, i), name))
                continue;
            struct metric_filter_stats fs = {
                .matched = (uint64_t)sqlite3_column_int64(q, 1),
                .samples = (uint64_t)sqlite3_column_int64(q, 2),
                .defaults = (uint64_t)sqlite3_column_int64(q, 3),
                .no_value = (uint64_t)sqlite3_column_int64(q, 4),
                .dims_dropped = (uint64_t)sqlite3_column_int64(q, 5),
                .disabled = sqlite3_column_int(q, 6) != 0,
            };
            metric_filters_restore_stats(r->mf, i, &fs);
        }
    }
    sqlite3_finalize(q);
    r->created = true;
    r->events = cp->events;
    r->max_time = cp->watermark_ms;
    r->first_time = cp->watermark_ms;
    if (sqlite3_prepare_v2(store_db(r->db),
                           "SELECT value FROM run_facts WHERE name = 'first_event_ms'", -1, &q,
                           NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW)
            r->first_time = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
    }
    r->watermark = r->max_time - r->lateness_ms;
    r->skipping = true;
    return 0;
}

/* ---- per event --------------------------------------------------------- */

static int on_event(void *ud, const struct event *ev)
{
    struct replay *r = ud;
    if (r->skipping) {
        /* resuming: events up to the checkpoint were already counted */
        if (ev->offset <= r->resume_offset)
            return 0;
        r->skipping = false;
    }
    r->cp_file = r->cur_file;
    r->cp_offset = ev->offset;
    if (ev->time_ms == INT64_MIN) {
        r->untimed++;
        return 0;
    }
    if ((r->have_from && ev->time_ms < r->from_ms) ||
        (r->have_until && ev->time_ms >= r->until_ms)) {
        r->outside++;
        return 0;
    }
    r->events++;
    if (!r->created)
        create_alarms(r, ev->time_ms);
    if (ev->time_ms > r->max_time) {
        r->max_time = ev->time_ms;
        int64_t wm = r->max_time - r->lateness_ms;
        if (wm > r->watermark) {
            r->watermark = wm;
            serve_engine_advance(r->eng, wm);
            if (wm >= r->next_expire) {
                /* evaluations up to the watermark are done: older buckets
                 * than any alarm can still look at are not needed */
                metric_store_expire(r->store, wm - r->retention_ms);
                r->next_expire = wm + 60000;
            }
        }
    } else if (ev->time_ms < r->watermark) {
        r->late++; /* counted in the store, but evaluations up to the watermark are final */
    }
    metric_filters_set_origin(r->mf, ev->file, ev->offset);
    metric_filters_apply(r->mf, ev->data, ev->len, ev->time_ms, r->store);
    if (++r->since_commit >= r->commit_every && commit(r))
        return 1;
    if ((r->events & 0x3FFF) == 0)
        show_progress(r, false);
    return 0;
}

/* ---- notifications ------------------------------------------------------ */

static int setup_notify(struct replay *r, bool dry_run, const char *respond_trail)
{
    struct ks_diag d;
    r->notify_db = r->db;
    if (!r->notify_db) {
        /* the outbox needs a database file; without --db a private one */
        char tmpl[] = "/tmp/keysentry-replay-XXXXXX";
        const char *dir = mkdtemp(tmpl);
        if (!dir) {
            cli_error("cannot create a temporary directory: %s", strerror(errno));
            return -1;
        }
        r->tmp_db_dir = ks_xstrdup(dir);
        char path[4200];
        snprintf(path, sizeof(path), "%s/notify.db", dir);
        if (store_open(path, &r->notify_db, &d)) {
            cli_error("%s", d.msg);
            return -1;
        }
    }
    struct notify_options no;
    memset(&no, 0, sizeof(no));
    no.queue_outcomes = true; /* written back into the alarms' history at the end */
    if (notify_hub_new(r->notify_db, &no, &r->hub, &d) ||
        notify_hub_configure(r->hub, r->tpl, &d)) {
        cli_error("%s", d.msg);
        return -1;
    }
    for (size_t i = 0; i < notify_hub_warning_count(r->hub) && !r->quiet; i++)
        cli_error("warning: %s", notify_hub_warning(r->hub, i));
    struct respond_options ro;
    memset(&ro, 0, sizeof(ro));
    ro.db_path = sqlite3_db_filename(store_db(r->notify_db), "main");
    ro.dry_run = dry_run;
    ro.trail_path = respond_trail;
    ro.quiet = r->quiet;
    if (respond_new(r->tpl, &ro, &r->responder, &d) || respond_register(r->responder, r->hub, &d) ||
        notify_hub_start(r->hub, &d)) {
        cli_error("%s", d.msg);
        return -1;
    }
    serve_engine_set_hub(r->eng, r->hub);
    return 0;
}

/* A delivery's outcome becomes the alarm's Action history item (as in
 * serve), and a line. Called without the engine lock: the engine takes it. */
static void on_outcome(void *ud, const struct notify_outcome *o)
{
    struct replay *r = ud;
    serve_engine_outcome(r->eng, o);
    if (r->quiet && !r->json)
        return;
    char t[40];
    iso_time(t, sizeof(t), o->time_ms);
    const char *target = o->subscription_arn ? o->subscription_arn : o->action_arn;
    if (!r->json) {
        printf("%s  action %s (%s) for %s: %s%s%s\n", t, target, o->protocol, o->alarm_name,
               o->error ? "failed" : "delivered", o->error ? ": " : "", o->error ? o->error : "");
        return;
    }
    fputs("{\"type\":\"Action\",\"alarm\":", stdout);
    cli_json_string(stdout, o->alarm_name, strlen(o->alarm_name));
    fputs(",\"action\":", stdout);
    cli_json_string(stdout, o->action_arn, strlen(o->action_arn));
    fputs(",\"target\":", stdout);
    cli_json_string(stdout, target, strlen(target));
    printf(",\"protocol\":\"%s\",\"newState\":\"%s\",\"messageId\":\"%s\",\"attempt\":%u,"
           "\"time\":\"%s\",\"status\":\"%s\"",
           o->protocol, o->new_state, o->message_id, o->attempt, t,
           o->error ? "failed" : "delivered");
    if (o->error) {
        fputs(",\"error\":", stdout);
        cli_json_string(stdout, o->error, strlen(o->error));
    }
    fputs("}\n", stdout);
}

static int drain_notify(struct replay *r, int64_t timeout_ms)
{
    struct notify_stats left;
    struct ks_diag d;
    struct serve_action_stats as;
    serve_engine_action_stats(r->eng, &as);
    enum ks_err e = notify_hub_drain(r->hub, timeout_ms, &left, &d);
    uint64_t dropped = 0;
    notify_hub_poll_outcomes(r->hub, on_outcome, r, &dropped);
    if (dropped && !r->quiet)
        cli_error("warning: %llu delivery outcomes were not kept (queue bound)",
                  (unsigned long long)dropped);
    if (!r->quiet && !r->json)
        fprintf(stderr,
                "keysentry: notifications: %llu queued, %llu delivered, %llu dead-lettered, "
                "%llu still pending%s\n",
                (unsigned long long)as.enqueued, (unsigned long long)left.delivered,
                (unsigned long long)left.dead,
                (unsigned long long)(left.pending + left.inflight + left.grouped),
                e == KS_E_LIMIT ? " (timed out; they stay in the outbox)" : "");
    if (e && e != KS_E_LIMIT) {
        cli_error("%s", d.msg);
        return -1;
    }
    return e == KS_E_LIMIT ? -1 : 0;
}

/* ---- building from the template ---------------------------------------- */

static int build(struct replay *r, const char *tpl_path)
{
    /* checked first with the CLI's messages (file:line:col, the caret under
     * a bad pattern), as validate prints them; the engine then builds the
     * same definitions */
    const struct config_template *t = r->tpl;
    struct metric_filters *mf = metric_filters_new();
    int bad = 0;
    for (size_t i = 0; i < t->n_metric_filters && !bad; i++)
        bad = cli_add_filter(mf, &t->metric_filters[i], tpl_path);
    metric_filters_free(mf);
    if (bad)
        return -1;
    for (size_t i = 0; i < t->n_alarms; i++) {
        const struct config_alarm *ca = &t->alarms[i];
        if (ca->n_metrics) {
            if (!r->quiet)
                cli_error("warning: alarm '%s' uses metric math (Metrics), which replay does "
                          "not evaluate yet; skipped",
                          ca->name);
            continue;
        }
        struct alarm_def def;
        struct alarm_dimension dims[ALARM_MAX_DIMENSIONS];
        if (cli_alarm_def(t, ca, &def, dims, tpl_path) != 0)
            return -1;
    }
    for (size_t i = 0; i < t->n_composite_alarms; i++) {
        struct alarm_composite_def def;
        if (cli_composite_def(t, &t->composite_alarms[i], &def, tpl_path) != 0)
            return -1;
    }
    /* created at time 0 as replay always did: the clock starts at the first
     * event (serve_engine_schedule); the engine's log stays quiet, replay
     * reports on its own */
    struct serve_options so = {.on_change = on_change, .on_change_ctx = r, .quiet = true};
    struct ks_diag d;
    ks_diag_clear(&d);
    if (serve_engine_new(t, &so, 0, &r->eng, &d) != KS_OK) {
        cli_error("%s: %s", tpl_path, d.msg);
        return -1;
    }
    serve_engine_lock(r->eng);
    serve_engine_event_clock(r->eng, record_point, r);
    r->mf = serve_engine_filters_mut(r->eng);
    r->store = serve_engine_store_mut(r->eng);
    r->nalarms = serve_engine_alarm_count(r->eng);
    r->ncomps = serve_engine_composite_count(r->eng);
    r->charts = ks_xcalloc(r->nalarms ? r->nalarms : 1, sizeof(*r->charts));
    serve_engine_unlock(r->eng);
    return 0;
}

/* ---- the readable summary ---------------------------------------------- */

static void chart(struct replay *r, size_t alarm)
{
    const struct chart *ra = &r->charts[alarm];
    const struct alarm_def *def = alarm_get_def(alarm_at(r, alarm));
    if (ra->npts == 0)
        return;
    int64_t start = ra->pts[0].start;
    int64_t end = ra->pts[ra->npts - 1].start + (int64_t)def->period * 1000;
    int64_t span = end - start;
    int cols = REPLAY_CHART_WIDTH;
    if ((int64_t)ra->npts < cols)
        cols = (int)ra->npts;
    double vals[REPLAY_CHART_WIDTH];
    bool have[REPLAY_CHART_WIDTH];
    for (int c = 0; c < cols; c++) {
        have[c] = false;
        vals[c] = 0;
    }
    double top = def->threshold > 0 ? def->threshold : 0;
    for (size_t i = 0; i < ra->npts; i++) {
        int c = span > 0 ? (int)((ra->pts[i].start - start) * cols / span) : 0;
        if (c >= cols)
            c = cols - 1;
        if (!ra->pts[i].have)
            continue;
        if (!have[c] || ra->pts[i].value > vals[c])
            vals[c] = ra->pts[i].value; /* a column shows its worst period */
        have[c] = true;
        if (vals[c] > top)
            top = vals[c];
    }
    static const char *const blocks[] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                         "\u2585", "\u2586", "\u2587", "\u2588"};
    char thr[40];
    alarm_fmt_double(thr, def->threshold);
    printf(
        "    %s %s per %ds, %d columns of %.0f s (the worst period each), threshold %s %s\n    |",
        def->statistic ? alarm_statistic_name(def->statistic) : def->extended_statistic,
        def->metric_name, def->period, cols, (double)span / cols / 1000.0,
        alarm_comparison_name(def->comparison), thr);
    for (int c = 0; c < cols; c++) {
        if (!have[c]) {
            fputs(" ", stdout);
            continue;
        }
        int lvl = top > 0 ? (int)floor(vals[c] / top * 7.999) : 0;
        fputs(blocks[lvl < 0 ? 0 : lvl > 7 ? 7 : lvl], stdout);
    }
    fputs("|\n    |", stdout);
    for (int c = 0; c < cols; c++) {
        bool breach = false;
        if (have[c]) {
            switch (def->comparison) {
            case ALARM_CMP_GT:
                breach = vals[c] > def->threshold;
                break;
            case ALARM_CMP_GE:
                breach = vals[c] >= def->threshold;
                break;
            case ALARM_CMP_LT:
                breach = vals[c] < def->threshold;
                break;
            case ALARM_CMP_LE:
                breach = vals[c] <= def->threshold;
                break;
            default:
                break;
            }
        }
        fputs(breach ? "^" : " ", stdout);
    }
    char a[40], b[40], tv[40];
    iso_time(a, sizeof(a), start);
    iso_time(b, sizeof(b), end);
    alarm_fmt_double(tv, top);
    printf("|  ^ = breaching\n    %s .. %s, scale 0 .. %s\n", a, b, tv);
}

static void summary(struct replay *r, double secs)
{
    uint64_t bad = r->st.bad_json + r->st.bad_utf8 + r->st.bad_nul + r->st.too_big +
                   r->st.too_deep + r->st.bad_gzip;
    char a[40], b[40];
    iso_time(a, sizeof(a), r->first_time);
    iso_time(b, sizeof(b), r->max_time);
    if (r->json) {
        printf("{\"type\":\"Summary\",\"files\":%llu,\"events\":%llu,\"badRecords\":%llu,"
               "\"untimed\":%llu,\"late\":%llu,\"outsideRange\":%llu,",
               (unsigned long long)r->st.files, (unsigned long long)r->events,
               (unsigned long long)bad, (unsigned long long)r->untimed, (unsigned long long)r->late,
               (unsigned long long)r->outside);
        if (r->events)
            printf("\"firstEventTime\":\"%s\",\"lastEventTime\":\"%s\",", a, b);
        fputs("\"matched\":{", stdout);
        for (size_t i = 0; i < metric_filters_count(r->mf); i++) {
            const char *n = metric_filters_name(r->mf, i);
            if (i)
                fputc(',', stdout);
            cli_json_string(stdout, n, strlen(n));
            printf(":%llu", (unsigned long long)metric_filters_stats(r->mf, i)->matched);
        }
        fputs("},\"alarms\":{", stdout);
        for (size_t i = 0; i < r->nalarms; i++) {
            const char *n = alarm_get_def(alarm_at(r, i))->name;
            if (i)
                fputc(',', stdout);
            cli_json_string(stdout, n, strlen(n));
            printf(":{\"state\":\"%s\",\"transitions\":%llu}",
                   alarm_state_name(alarm_get_state(alarm_at(r, i))),
                   (unsigned long long)serve_engine_alarm_transitions(r->eng, i));
        }
        for (size_t i = 0; i < r->ncomps; i++) {
            const char *n = alarm_composite_get_def(composite_at(r, i))->name;
            if (i || r->nalarms)
                fputc(',', stdout);
            cli_json_string(stdout, n, strlen(n));
            printf(":{\"state\":\"%s\",\"transitions\":%llu}",
                   alarm_state_name(alarm_composite_state(composite_at(r, i))),
                   (unsigned long long)serve_engine_composite_transitions(r->eng, i));
        }
        fputs("},\"metrics\":[", stdout);
        for (size_t i = 0; i < metric_store_series_count(r->store); i++) {
            const char *ns, *name, *unit;
            const struct metric_dim *dims;
            size_t nd;
            metric_store_describe(r->store, i, &ns, &name, &dims, &nd, &unit);
            struct metric_stats ms;
            memset(&ms, 0, sizeof(ms));
            metric_store_totals(r->store, i, &ms.sample_count, &ms.sum);
            fputs(i ? ",{\"namespace\":" : "{\"namespace\":", stdout);
            cli_json_string(stdout, ns, strlen(ns));
            fputs(",\"metricName\":", stdout);
            cli_json_string(stdout, name, strlen(name));
            fputs(",\"dimensions\":{", stdout);
            for (size_t k = 0; k < nd; k++) {
                if (k)
                    fputc(',', stdout);
                cli_json_string(stdout, dims[k].name, strlen(dims[k].name));
                fputc(':', stdout);
                cli_json_string(stdout, dims[k].value, strlen(dims[k].value));
            }
            char sum[ALARM_FMT_DOUBLE_SIZE];
            alarm_fmt_double(sum, ms.sum);
            printf("},\"unit\":\"%s\",\"sampleCount\":%.0f,\"sum\":%s}", unit, ms.sample_count,
                   sum);
        }
        printf("],\"durationMs\":%.0f}\n", secs * 1000);
        return;
    }
    printf("\nreplayed %llu events from %llu files in %.2f s", (unsigned long long)r->events,
           (unsigned long long)r->st.files, secs);
    if (r->events)
        printf(" (event time %s .. %s)", a, b);
    printf("\n%llu bad records skipped, %llu without an event time, %llu late, %llu outside "
           "--from/--until\n\nmetric filters:\n",
           (unsigned long long)bad, (unsigned long long)r->untimed, (unsigned long long)r->late,
           (unsigned long long)r->outside);
    for (size_t i = 0; i < metric_filters_count(r->mf); i++) {
        const struct metric_filter_stats *fs = metric_filters_stats(r->mf, i);
        printf("  %-32s %10llu matched%s\n", metric_filters_name(r->mf, i),
               (unsigned long long)fs->matched, fs->disabled ? "  (disabled: cardinality)" : "");
    }
    printf("\nalarms:\n  %-32s %-18s %s\n", "name", "final state", "transitions");
    for (size_t i = 0; i < r->nalarms; i++)
        printf("  %-32s %-18s %llu\n", alarm_get_def(alarm_at(r, i))->name,
               alarm_state_name(alarm_get_state(alarm_at(r, i))),
               (unsigned long long)serve_engine_alarm_transitions(r->eng, i));
    for (size_t i = 0; i < r->ncomps; i++)
        printf("  %-32s %-18s %llu\n", alarm_composite_get_def(composite_at(r, i))->name,
               alarm_state_name(alarm_composite_state(composite_at(r, i))),
               (unsigned long long)serve_engine_composite_transitions(r->eng, i));
    if (r->events) {
        for (size_t i = 0; i < r->nalarms; i++) {
            printf("\n  %s\n", alarm_get_def(alarm_at(r, i))->name);
            chart(r, i);
        }
    }
}

static bool parse_time_arg(const char *s, int64_t *ms)
{
    if (event_parse_time(s, strlen(s), ms))
        return true;
    char buf[40];
    if (strlen(s) == 10) { /* a date alone */
        snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
        return event_parse_time(buf, strlen(buf), ms);
    }
    return false;
}

int cli_replay(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"template", required_argument, NULL, 'c'},
        {"param", required_argument, NULL, 'p'},
        {"stack-name", required_argument, NULL, 'S'},
        {"account", required_argument, NULL, 'A'},
        {"region", required_argument, NULL, 'R'},
        {"from", required_argument, NULL, 'F'},
        {"until", required_argument, NULL, 'U'},
        {"lateness", required_argument, NULL, 'L'},
        {"db", required_argument, NULL, 'D'},
        {"retention", required_argument, NULL, 'T'},
        {"commit-every", required_argument, NULL, 'E'},
        {"json", no_argument, NULL, 'j'},
        {"notify", no_argument, NULL, 'n'},
        {"notify-timeout", required_argument, NULL, 'W'},
        {"dry-run", no_argument, NULL, 'Y'},
        {"respond-trail", required_argument, NULL, 'Z'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct replay r;
    memset(&r, 0, sizeof(r));
    r.lateness_ms = REPLAY_DEFAULT_LATENESS_S * 1000;
    r.commit_every = REPLAY_COMMIT_EVENTS;
    r.watermark = INT64_MIN;
    r.max_time = INT64_MIN;
    const char *tpl_path = NULL, *db_path = NULL;
    bool retention_given = false;
    bool notify = false, dry_run = false;
    const char *respond_trail = NULL;
    int64_t notify_timeout_ms = 60000;
    struct config_options copts;
    memset(&copts, 0, sizeof(copts));
    const char **params = ks_xcalloc((size_t)argc + 1, sizeof(char *));
    int c, rc = CLI_OK;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+c:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            tpl_path = optarg;
            break;
        case 'F':
        case 'U': {
            int64_t ms;
            if (!parse_time_arg(optarg, &ms)) {
                cli_error("--%s needs an ISO 8601 time such as 2023-07-10T11:45:00Z, got '%s'",
                          c == 'F' ? "from" : "until", optarg);
                free(params);
                return CLI_USAGE;
            }
            if (c == 'F') {
                r.from_ms = ms;
                r.have_from = true;
            } else {
                r.until_ms = ms;
                r.have_until = true;
            }
            break;
        }
        case 'L': {
            char *end;
            double s = strtod(optarg, &end);
            if (*end || s < 0 || s > 86400 * 7) {
                cli_error("--lateness needs seconds between 0 and 604800, got '%s'", optarg);
                free(params);
                return CLI_USAGE;
            }
            r.lateness_ms = (int64_t)(s * 1000);
            break;
        }
        case 'D':
            db_path = optarg;
            break;
        case 'E': {
            char *end;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (*end || v < 1 || v > 100000000ull) {
                cli_error("--commit-every needs a number of events (1 to 100000000), got '%s'",
                          optarg);
                free(params);
                return CLI_USAGE;
            }
            r.commit_every = v;
            break;
        }
        case 'T': {
            char *end;
            double v = strtod(optarg, &end);
            if (*end || v < 0 || v > 86400.0 * 3660) {
                cli_error("--retention needs seconds (0 = keep everything), got '%s'", optarg);
                free(params);
                return CLI_USAGE;
            }
            r.retention_ms = (int64_t)(v * 1000);
            retention_given = true;
            break;
        }
        case 'j':
            r.json = true;
            break;
        case 'n':
            notify = true;
            break;
        case 'W': {
            char *end;
            double v = strtod(optarg, &end);
            if (*end || v < 0 || v > 86400) {
                cli_error("--notify-timeout needs seconds (0 to 86400), got '%s'", optarg);
                free(params);
                return CLI_USAGE;
            }
            notify_timeout_ms = (int64_t)(v * 1000);
            break;
        }
        case 'Y':
            dry_run = true;
            break;
        case 'Z':
            respond_trail = optarg;
            break;
        case 'q':
            r.quiet = true;
            break;
        case 'h':
            fputs(help, stdout);
            free(params);
            return CLI_OK;
        default: {
            int t = cli_template_option(c, optarg, &copts, params);
            if (t > 0)
                break;
            if (t == 0)
                fputs("Run 'keysentry replay --help' for usage.\n", stderr);
            free(params);
            return CLI_USAGE;
        }
        }
    }
    copts.params = params;
    if (!tpl_path || optind >= argc) {
        cli_error(!tpl_path ? "replay needs a template: -c TEMPLATE"
                            : "replay needs at least one PATH to read");
        free(params);
        return CLI_USAGE;
    }
    struct ks_diag d;
    if (cli_load_template(tpl_path, &copts, &r.tpl) != 0) {
        free(params);
        return CLI_USAGE;
    }
    free(params);
    struct inputs in;
    memset(&in, 0, sizeof(in));
    r.in = &in;
    if (build(&r, tpl_path) != 0) {
        rc = CLI_USAGE;
        goto out;
    }
    serve_engine_lock(r.eng);
    if (!retention_given) {
        /* keep what the longest-looking alarm can still ask for after the
         * watermark passes, plus the lateness window, plus an hour */
        int64_t look = 0;
        for (size_t i = 0; i < r.nalarms; i++) {
            const struct alarm_def *ad = alarm_get_def(alarm_at(&r, i));
            int64_t l = (int64_t)ad->period * 1000 *
                        (ad->evaluation_periods + (ad->period < 300 ? 300 / ad->period + 2 : 3));
            if (l > look)
                look = l;
        }
        r.retention_ms = look + r.lateness_ms + 3600 * 1000;
    }
    serve_engine_unlock(r.eng);
    if (r.retention_ms == 0)
        r.retention_ms = INT64_MAX / 4; /* --retention 0: keep everything */
    for (int i = optind; i < argc; i++)
        if (collect(&in, argv[i], 0) != 0)
            rc = CLI_FAIL;
    qsort(in.v, in.n, sizeof(*in.v), infile_cmp);

    size_t first_file = 0;
    if (db_path) {
        if (store_open(db_path, &r.db, &d)) {
            cli_error("%s", d.msg);
            rc = CLI_FAIL;
            goto out;
        }
        struct store_checkpoint cp;
        bool found;
        serve_engine_lock(r.eng);
        int restored = restore(&r, &cp, &found);
        serve_engine_unlock(r.eng);
        if (restored != 0) {
            rc = CLI_FAIL;
            goto out;
        }
        if (found && cp.file[0]) {
            while (first_file < in.n && strcmp(in.v[first_file].path, cp.file))
                first_file++;
            if (first_file == in.n) {
                cli_error("database '%s' was written for other input (no file '%s'); use a new "
                          "database",
                          db_path, cp.file);
                rc = CLI_USAGE;
                goto out;
            }
            r.resume_offset = cp.offset;
            r.cp_file = in.v[first_file].path;
            r.cp_offset = cp.offset;
            if (!r.quiet)
                fprintf(stderr, "keysentry: resuming after %llu events (%s)\n",
                        (unsigned long long)cp.events, cp.file);
        } else {
            r.skipping = false;
        }
    }
    if (notify && setup_notify(&r, dry_run, respond_trail) != 0) {
        rc = CLI_FAIL;
        goto out;
    }
    r.progress = isatty(2);
    clock_gettime(CLOCK_MONOTONIC, &r.started);
    r.last_progress = r.started;
    struct event_reader_opts opts;
    event_reader_opts_init(&opts);
    opts.want_time = true;
    opts.errors = r.quiet ? NULL : stderr;
    /* one thread drives the engine: the lock is taken once, not per event */
    serve_engine_lock(r.eng);
    for (size_t i = first_file; i < in.n && !r.failed; i++) {
        r.file_index = i + 1;
        r.cur_file = in.v[i].path;
        if (i > first_file)
            r.skipping = false;
        if (event_read_path(in.v[i].path, &opts, on_event, &r, &r.st) < 0)
            rc = CLI_FAIL;
        r.bytes_done += (uint64_t)in.v[i].size;
        show_progress(&r, false);
    }
    show_progress(&r, true);
    if (r.failed) {
        serve_engine_unlock(r.eng);
        rc = CLI_FAIL;
        goto out;
    }
    /* end of input: evaluations up to the newest event are final now */
    if (r.created) {
        int64_t horizon = r.max_time;
        if (r.have_until && r.until_ms > horizon)
            horizon = r.until_ms;
        else
            for (size_t i = 0; i < r.nalarms; i++) {
                int64_t n = alarm_next_evaluation(alarm_at(&r, i), r.max_time);
                if (n > horizon)
                    horizon = n;
            }
        serve_engine_advance(r.eng, horizon);
    }
    if (commit(&r) != 0)
        rc = CLI_FAIL;
    serve_engine_unlock(r.eng); /* the outcomes drain_notify reports take it */
    if (r.hub && drain_notify(&r, notify_timeout_ms) != 0)
        rc = CLI_FAIL;
    if (r.st.bad_file)
        rc = CLI_FAIL;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    serve_engine_lock(r.eng);
    summary(&r, (double)(now.tv_sec - r.started.tv_sec) +
                    (double)(now.tv_nsec - r.started.tv_nsec) / 1e9);
    serve_engine_unlock(r.eng);
out:
    for (size_t i = 0; i < in.n; i++)
        free(in.v[i].path);
    free(in.v);
    for (size_t i = 0; i < r.nalarms; i++)
        free(r.charts[i].pts);
    free(r.charts);
    /* the hub's workers stop before the engine that points at the hub goes */
    notify_hub_free(r.hub);
    respond_free(r.responder);
    if (r.notify_db != r.db)
        store_close(r.notify_db);
    if (r.tmp_db_dir) {
        /* the private outbox: its database and the signing key made for it */
        cli_remove_tree(r.tmp_db_dir);
        free(r.tmp_db_dir);
    }
    serve_engine_free(r.eng);
    store_close(r.db);
    config_template_free(r.tpl);
    if (fflush(stdout) != 0)
        rc = CLI_FAIL;
    return rc;
}
