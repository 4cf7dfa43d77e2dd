/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notify-test-driver: the notify module end to end, for the integration
 * tests and the latency benchmark (the CLI's `replay --notify` and the daemon
 * are wired by the lead; this drives the same API).
 *
 *   notify-test-driver --db FILE --template FILE [options]
 *
 *   --param K=V            template parameter (repeatable)
 *   --stack-name NAME      AWS::StackName
 *   --lab TRAIL            mini replay: the template's metric filters over an
 *                          NDJSON trail, its metric alarms evaluated as AWS
 *                          does; every transition with actions is enqueued
 *                          with the context block of its evaluated window
 *   --fire NAME            force transitions of alarm NAME (SetAlarmState)
 *   --count N              with --fire: N transitions, ALARM/OK alternating
 *   --serve                serve the SNS endpoints (confirm, cert) on
 *                          127.0.0.1 at an ephemeral port; public URL = it
 *   --port-file FILE       write that port there
 *   --wait-confirmed MS    before firing, wait until no http/https
 *                          subscription is pending confirmation
 *   --action ARN           register a test action that appends the message
 *                          to --action-log FILE; --action-fail N fails the
 *                          first N calls (retryable)
 *   --drain MS             drain with this timeout (default 20000); 0: none
 *   --hold MS              keep running MS ms after firing, before draining
 *   --workers N, --digest-window MS, --min-delay MS, --max-attempts N
 *   --cert-out FILE        write the signing certificate (PEM)
 *   --bench N              latency benchmark: N single transitions, each
 *                          enqueued+committed then timed until delivered;
 *                          prints p50/p90/p99/max
 *
 * Output (stdout), one JSON object per line: {"type":"enqueued",...},
 * {"type":"outcome",...}, {"type":"drain",...}; exit 0 when drained.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "alarm/alarm.h"
#include "config/config.h"
#include "event/event.h"
#include "notify/notify.h"
#include "pattern/pattern.h"
#include "store/store.h"

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static void die(const char *fmt, ...) KS_PRINTF(1, 2);

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "notify-test-driver: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t parse_num(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end)
        die("not a number: %s", s);
    return (int64_t)v;
}

/* ---- outcomes ------------------------------------------------------------------ */

static atomic_long delivered_count;

static void print_json_str(const char *s)
{
    json_t *j = s ? json_string(s) : NULL;
    char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    fputs(t ? t : "null", stdout);
    free(t);
    json_decref(j);
}

static void on_outcome(void *ud, const struct notify_outcome *o)
{
    (void)ud;
    pthread_mutex_lock(&out_mu);
    printf("{\"type\":\"outcome\",\"kind\":\"%s\",\"messageId\":",
           o->kind == NOTIFY_OUTCOME_DELIVERED ? "delivered"
           : o->kind == NOTIFY_OUTCOME_RETRY   ? "retry"
                                               : "dead");
    print_json_str(o->message_id);
    printf(",\"alarm\":");
    print_json_str(o->alarm_name);
    printf(",\"newState\":");
    print_json_str(o->new_state);
    printf(",\"action\":");
    print_json_str(o->action_arn);
    printf(",\"subscription\":");
    print_json_str(o->subscription_arn);
    printf(",\"protocol\":");
    print_json_str(o->protocol);
    printf(",\"attempt\":%u,\"stateUpdateMs\":%lld,\"error\":", o->attempt,
           (long long)o->state_update_ms);
    print_json_str(o->error);
    printf(",\"digest\":");
    print_json_str(o->digest_id);
    printf(",\"publishedBytes\":%zu}\n", o->published_message ? strlen(o->published_message) : 0);
    fflush(stdout);
    pthread_mutex_unlock(&out_mu);
    if (o->kind == NOTIFY_OUTCOME_DELIVERED)
        atomic_fetch_add(&delivered_count, 1);
}

/* ---- the test action ------------------------------------------------------------- */

struct test_action {
    const char *log;
    atomic_long fail_left;
    atomic_long calls;
};

static int test_action(void *ud, const char *arn, const char *message_json,
                       const struct notify_context *ctx, struct ks_buf *err)
{
    struct test_action *ta = ud;
    atomic_fetch_add(&ta->calls, 1);
    if (atomic_fetch_sub(&ta->fail_left, 1) > 0) {
        if (ks_buf_addf(err, "test action failing on purpose")) {
        }
        return 1;
    }
    const struct notify_delivery_info *info = notify_current_delivery();
    FILE *f = fopen(ta->log, "ae");
    if (!f) {
        if (ks_buf_addf(err, "cannot open the action log")) {
        }
        return -1;
    }
    json_t *rec = json_pack("{s:s, s:s, s:s, s:I, s:I, s:i}", "arn", arn, "messageId",
                            info ? info->message_id : "", "message", message_json, "matchingEvents",
                            (json_int_t)ctx->matching_events, "recent", (json_int_t)ctx->n_recent,
                            "attempt", info ? (int)info->attempt : 0);
    char *t = json_dumps(rec, JSON_COMPACT);
    fprintf(f, "%s\n", t);
    free(t);
    json_decref(rec);
    fclose(f);
    return 0;
}

/* ---- a minimal HTTP server for the SNS endpoints --------------------------------- */

struct server {
    int fd;
    int port;
    struct notify_hub *hub; /* set once the hub exists */
    atomic_bool stop;
    pthread_t th;
};

static void serve_one(struct server *s, int c)
{
    char req[16384];
    size_t n = 0;
    struct timeval tv = {5, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (n < sizeof(req) - 1) {
        ssize_t r = read(c, req + n, sizeof(req) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    req[n] = '\0';
    char method[16] = "", target[8192] = "";
    if (sscanf(req, "%15s %8191s", method, target) != 2) {
        close(c);
        return;
    }
    struct notify_http_reply rep;
    memset(&rep, 0, sizeof(rep));
    bool ours = s->hub && notify_hub_http(s->hub, method, target, &rep);
    char head[512];
    int hl;
    if (ours) {
        hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: "
                      "close\r\n\r\n",
                      rep.status, rep.content_type, rep.body.len);
    } else {
        hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
    if (write(c, head, (size_t)hl) < 0 || (ours && write(c, rep.body.data, rep.body.len) < 0)) {
        /* the client went away; nothing to do */
    }
    if (ours)
        ks_buf_release(&rep.body);
    close(c);
}

static void *serve(void *arg)
{
    struct server *s = arg;
    while (!atomic_load(&s->stop)) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        serve_one(s, c);
    }
    return NULL;
}

static void server_start(struct server *s)
{
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s->fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s->fd, 16) != 0)
        die("cannot listen: %s", strerror(errno));
    socklen_t al = sizeof(a);
    getsockname(s->fd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->th, NULL, serve, s);
}

static void server_stop(struct server *s)
{
    atomic_store(&s->stop, true);
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(s->th, NULL);
}

/* ---- alarms from the template --------------------------------------------------- */

struct dalarm {
    struct alarm *a;
    struct alarm_dimension dims[ALARM_MAX_DIMENSIONS];
};

static struct alarm *make_alarm(const struct config_template *t, const struct config_alarm *ca,
                                int64_t created_ms, struct dalarm *da)
{
    struct alarm_def def;
    alarm_def_init(&def);
    size_t nd = ca->n_dimensions < ALARM_MAX_DIMENSIONS ? ca->n_dimensions : ALARM_MAX_DIMENSIONS;
    for (size_t k = 0; k < nd; k++)
        da->dims[k] = (struct alarm_dimension){ca->dimensions[k].name, ca->dimensions[k].value};
    def.name = ca->name;
    def.description = ca->description;
    def.ns = ca->namespace;
    def.metric_name = ca->metric_name;
    def.dimensions = da->dims;
    def.n_dimensions = nd;
    def.statistic = ALARM_STAT_NONE;
    if (ca->statistic && !alarm_statistic_parse(ca->statistic, &def.statistic))
        return NULL;
    def.extended_statistic = ca->extended_statistic;
    def.period = (int32_t)ca->period;
    def.evaluation_periods = (int32_t)ca->evaluation_periods;
    def.datapoints_to_alarm = ca->has_datapoints_to_alarm ? (int32_t)ca->datapoints_to_alarm : 0;
    def.threshold = ca->threshold;
    if (!ca->comparison_operator ||
        !alarm_comparison_parse(ca->comparison_operator, &def.comparison))
        return NULL;
    if (ca->treat_missing_data &&
        !alarm_treat_missing_parse(ca->treat_missing_data, &def.treat_missing))
        return NULL;
    def.unit = ca->unit;
    def.actions_enabled = ca->actions_enabled;
    def.alarm_actions = (const char *const *)ca->alarm_actions.v;
    def.n_alarm_actions = ca->alarm_actions.n;
    def.ok_actions = (const char *const *)ca->ok_actions.v;
    def.n_ok_actions = ca->ok_actions.n;
    def.insufficient_data_actions = (const char *const *)ca->insufficient_data_actions.v;
    def.n_insufficient_data_actions = ca->insufficient_data_actions.n;
    def.region = t->region;
    def.account = t->account_id;
    struct ks_diag d;
    if (alarm_def_validate(&def, &d))
        die("alarm: %s", d.msg);
    return alarm_new(&def, created_ms);
}

/* ---- mini replay ------------------------------------------------------------------- */

struct mev {
    int64_t time_ms;
    char *fields[7]; /* eventName eventID principal key sourceIP errorCode userAgent */
    uint64_t offset;
    size_t filter;
};

struct lab {
    const struct config_template *t;
    const char *file;
    struct mev *ev;
    size_t n;
};

static const char *jpath(json_t *root, const char *const *path)
{
    json_t *v = root;
    for (; *path && v; path++) {
        if (**path == '#')
            v = json_array_get(v, 0);
        else
            v = json_object_get(v, *path);
    }
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int64_t parse_iso(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    return (int64_t)timegm(&tm) * 1000;
}

static void lab_read(struct lab *lab, const char *path)
{
    const struct config_template *t = lab->t;
    struct pattern_set *set = pattern_set_new();
    struct ks_diag d;
    for (size_t i = 0; i < t->n_metric_filters; i++) {
        const char *p = t->metric_filters[i].filter_pattern;
        if (pattern_set_add(set, p, strlen(p), &d) < 0)
            die("pattern: %s", d.msg);
    }
    pattern_set_finish(set);
    struct pattern_ctx *ctx = pattern_ctx_new(set);
    uint8_t *matched = calloc(t->n_metric_filters + 1, 1);
    FILE *f = fopen(path, "re");
    if (!f)
        die("cannot open %s", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t off = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        uint64_t here = off;
        off += (uint64_t)len;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (!len)
            continue;
        if (!pattern_ctx_match(ctx, line, (size_t)len, matched, NULL))
            continue;
        json_t *root = json_loads(line, 0, NULL);
        for (size_t i = 0; i < t->n_metric_filters; i++) {
            if (!matched[i])
                continue;
            static const char *const p_name[] = {"eventName", NULL};
            static const char *const p_id[] = {"eventID", NULL};
            static const char *const p_issuer[] = {"userIdentity", "sessionContext",
                                                   "sessionIssuer", "arn", NULL};
            static const char *const p_arn[] = {"userIdentity", "arn", NULL};
            static const char *const p_res[] = {"resources", "#", "ARN", NULL};
            static const char *const p_key[] = {"requestParameters", "keyId", NULL};
            static const char *const p_ip[] = {"sourceIPAddress", NULL};
            static const char *const p_err[] = {"errorCode", NULL};
            static const char *const p_ua[] = {"userAgent", NULL};
            static const char *const p_time[] = {"eventTime", NULL};
            lab->ev = realloc(lab->ev, (lab->n + 1) * sizeof(*lab->ev));
            struct mev *m = &lab->ev[lab->n++];
            memset(m, 0, sizeof(*m));
            m->time_ms = parse_iso(jpath(root, p_time));
            const char *principal =
                jpath(root, p_issuer) ? jpath(root, p_issuer) : jpath(root, p_arn);
            const char *key = jpath(root, p_res) ? jpath(root, p_res) : jpath(root, p_key);
            const char *v[7] = {jpath(root, p_name), jpath(root, p_id),  principal,        key,
                                jpath(root, p_ip),   jpath(root, p_err), jpath(root, p_ua)};
            for (int k = 0; k < 7; k++)
                m->fields[k] = v[k] ? strdup(v[k]) : NULL;
            m->offset = here;
            m->filter = i;
        }
        json_decref(root);
    }
    free(line);
    fclose(f);
    free(matched);
    pattern_ctx_free(ctx);
    pattern_set_free(set);
}

static bool lab_query(void *ud, const struct alarm_def *def, int64_t start, int64_t end,
                      struct alarm_datapoint *out)
{
    struct lab *lab = ud;
    double n = 0;
    for (size_t i = 0; i < lab->n; i++) {
        const struct config_metric_filter *mf = &lab->t->metric_filters[lab->ev[i].filter];
        const struct config_metric_transformation *tr = &mf->transformations[0];
        if (strcmp(tr->metric_namespace, def->ns) || strcmp(tr->metric_name, def->metric_name))
            continue;
        if (lab->ev[i].time_ms >= start && lab->ev[i].time_ms < end)
            n++;
    }
    if (n == 0)
        return false;
    out->sample_count = n;
    out->value =
        def->statistic == ALARM_STAT_SUM || def->statistic == ALARM_STAT_SAMPLE_COUNT ? n : 1;
    return true;
}

static void lab_context(struct lab *lab, const struct alarm_def *def, int64_t start, int64_t end,
                        struct notify_context_acc *acc)
{
    /* newest first, as the metric pipeline hands them */
    for (size_t k = lab->n; k-- > 0;) {
        const struct mev *m = &lab->ev[k];
        const struct config_metric_transformation *tr =
            &lab->t->metric_filters[m->filter].transformations[0];
        if (strcmp(tr->metric_namespace, def->ns) || strcmp(tr->metric_name, def->metric_name) ||
            m->time_ms < start || m->time_ms >= end)
            continue;
        struct notify_context_event ev = {
            .time_ms = m->time_ms,
            .event_name = m->fields[0],
            .event_id = m->fields[1],
            .principal = m->fields[2],
            .key = m->fields[3],
            .source_ip = m->fields[4],
            .error_code = m->fields[5],
            .user_agent = m->fields[6],
            .file = lab->file,
            .offset = m->offset,
        };
        notify_context_acc_add(acc, &ev);
    }
}

static void print_enqueued(const char *alarm, const struct alarm_change *ch,
                           const struct notify_enqueue_result *r, uint64_t ctx_events)
{
    pthread_mutex_lock(&out_mu);
    printf("{\"type\":\"enqueued\",\"alarm\":");
    print_json_str(alarm);
    printf(",\"old\":\"%s\",\"new\":\"%s\",\"timeMs\":%lld,\"rows\":%zu,\"duplicates\":%zu,"
           "\"unknown\":%zu,\"contextEvents\":%llu}\n",
           alarm_state_name(ch->old_state), alarm_state_name(ch->new_state), (long long)ch->time_ms,
           r->rows, r->duplicates, r->unknown, (unsigned long long)ctx_events);
    fflush(stdout);
    pthread_mutex_unlock(&out_mu);
}

static void enqueue(struct store *st, struct notify_hub *hub, const struct notify_alarm *a,
                    const struct alarm_change *ch, const struct notify_context *ctx)
{
    struct ks_diag d;
    struct notify_event ev = {*a, ch, ctx};
    struct notify_enqueue_result r;
    /* the state change and its deliveries commit together */
    if (store_begin(st, &d))
        die("begin: %s", d.msg);
    if (notify_hub_enqueue(hub, &ev, &r, &d)) {
        store_rollback(st);
        die("enqueue: %s", d.msg);
    }
    if (store_commit(st, &d))
        die("commit: %s", d.msg);
    notify_hub_kick(hub);
    const char *name =
        a->metric ? alarm_get_def(a->metric)->name : alarm_composite_get_def(a->composite)->name;
    print_enqueued(name, ch, &r, ctx ? ctx->matching_events : 0);
}

static void run_lab(struct lab *lab, struct store *st, struct notify_hub *hub)
{
    const struct config_template *t = lab->t;
    int64_t first = INT64_MAX, last = INT64_MIN;
    for (size_t i = 0; i < lab->n; i++) {
        if (lab->ev[i].time_ms < first)
            first = lab->ev[i].time_ms;
        if (lab->ev[i].time_ms > last)
            last = lab->ev[i].time_ms;
    }
    if (!lab->n)
        return;
    for (size_t i = 0; i < t->n_alarms; i++) {
        if (!t->alarms[i].metric_name)
            continue;
        struct dalarm da;
        struct alarm *a = make_alarm(t, &t->alarms[i], first - 1, &da);
        if (!a)
            continue;
        struct alarm_change ch;
        alarm_change_init(&ch);
        int64_t when = alarm_next_evaluation(a, first - 1);
        const struct alarm_def *def = alarm_get_def(a);
        int64_t end = last + (int64_t)def->period * 1000 * (def->evaluation_periods + 2);
        for (int guard = 0; when <= end && guard < 100000; guard++) {
            if (alarm_evaluate(a, when, lab_query, lab, &ch) && ch.n_actions) {
                int64_t step = def->period < 60 ? 10000 : 60000;
                int64_t wend = when - when % step;
                int64_t wstart = wend - (int64_t)def->period * 1000 * def->evaluation_periods;
                struct notify_context_acc *acc = notify_context_acc_new();
                lab_context(lab, def, wstart, wend, acc);
                struct notify_context ctx;
                notify_context_acc_get(acc, wstart, wend, &ctx);
                struct notify_alarm na = {a, NULL};
                enqueue(st, hub, &na, &ch, &ctx);
                notify_context_acc_free(acc);
            }
            when = alarm_next_evaluation(a, when);
        }
        alarm_change_release(&ch);
        alarm_free(a);
    }
}

/* ---- forced transitions -------------------------------------------------------------- */

static void fire(const struct config_template *t, struct store *st, struct notify_hub *hub,
                 const char *name, long count, bool bench, long *bench_n, int64_t *lat_us)
{
    const struct config_alarm *ca = NULL;
    for (size_t i = 0; i < t->n_alarms && !ca; i++)
        if (strcmp(t->alarms[i].name, name) == 0 || strcmp(t->alarms[i].res.logical_id, name) == 0)
            ca = &t->alarms[i];
    if (!ca)
        die("no alarm %s in the template", name);
    struct dalarm da;
    int64_t base = now_ms();
    struct alarm *a = make_alarm(t, ca, base - 60000, &da);
    if (!a)
        die("cannot create alarm %s", name);
    struct alarm_change ch;
    alarm_change_init(&ch);
    /* a small, fixed context: the same shape the lab produces */
    struct notify_context_acc *acc = notify_context_acc_new();
    for (int i = 0; i < 3; i++) {
        char id[64];
        snprintf(id, sizeof(id), "00000000-0000-0000-0000-00000000000%d", i);
        struct notify_context_event ev = {
            .time_ms = base - 1000 * (i + 1),
            .event_name = "Decrypt",
            .event_id = id,
            .principal = "arn:aws:iam::111122223333:role/App-ECSTaskRole",
            .key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            .source_ip = "10.0.12.34",
            .error_code = "AccessDeniedException",
            .user_agent = "aws-sdk-java/2.20.162",
            .file = "trail.ndjson",
            .offset = (uint64_t)(1000 * i),
        };
        notify_context_acc_add(acc, &ev);
    }
    struct notify_context ctx;
    notify_context_acc_get(acc, base - 60000, base, &ctx);
    int64_t last = base;
    for (long i = 0; i < count; i++) {
        enum alarm_state s = i % 2 == 0 ? ALARM_STATE_ALARM : ALARM_STATE_OK;
        bool changed = false;
        struct ks_diag d;
        /* distinct transition times: (alarm, time, state) names a transition */
        int64_t when = now_ms();
        if (when <= last)
            when = last + 1;
        last = when;
        if (alarm_set_state(a, s, "Forced by notify-test-driver", NULL, when, &changed, &ch, &d))
            die("set state: %s", d.msg);
        if (!changed || !ch.n_actions)
            continue;
        struct notify_alarm na = {a, NULL};
        int64_t t0 = mono_us();
        long before = atomic_load(&delivered_count);
        enqueue(st, hub, &na, &ch, &ctx);
        if (bench && *bench_n < count) {
            /* until the sink reported it (the SMTP server accepted it) */
            int64_t limit = t0 + 10 * 1000000;
            while (atomic_load(&delivered_count) == before && mono_us() < limit) {
                struct timespec ts = {0, 100000};
                nanosleep(&ts, NULL);
            }
            lat_us[(*bench_n)++] = mono_us() - t0;
        }
    }
    notify_context_acc_free(acc);
    alarm_change_release(&ch);
    alarm_free(a);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- main ---------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    const char *db = NULL, *tpl_path = NULL, *stack = NULL, *lab_trail = NULL, *fire_name = NULL;
    const char *port_file = NULL, *action_arn = NULL, *action_log = NULL, *cert_out = NULL;
    const char *params[32];
    size_t n_params = 0;
    long count = 1, action_fail = 0, bench_runs = 0;
    int64_t drain_ms = 20000, hold_ms = 0, wait_confirmed = 0;
    bool serve_http = false;
    struct notify_options o;
    memset(&o, 0, sizeof(o));
    o.on_outcome = on_outcome;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && ++i)
        if (ARG("--db"))
            db = v;
        else if (ARG("--template"))
            tpl_path = v;
        else if (ARG("--param") && n_params < 32)
            params[n_params++] = v;
        else if (ARG("--stack-name"))
            stack = v;
        else if (ARG("--lab"))
            lab_trail = v;
        else if (ARG("--fire"))
            fire_name = v;
        else if (ARG("--count"))
            count = (long)parse_num(v);
        else if (strcmp(a, "--serve") == 0)
            serve_http = true;
        else if (ARG("--port-file"))
            port_file = v;
        else if (ARG("--wait-confirmed"))
            wait_confirmed = parse_num(v);
        else if (ARG("--action"))
            action_arn = v;
        else if (ARG("--action-log"))
            action_log = v;
        else if (ARG("--action-fail"))
            action_fail = (long)parse_num(v);
        else if (ARG("--drain"))
            drain_ms = parse_num(v);
        else if (ARG("--hold"))
            hold_ms = parse_num(v);
        else if (ARG("--workers"))
            o.workers = (unsigned)parse_num(v);
        else if (ARG("--digest-window"))
            o.digest_window_ms = parse_num(v);
        else if (ARG("--min-delay"))
            o.retry.min_delay_ms = parse_num(v);
        else if (ARG("--max-delay"))
            o.retry.max_delay_ms = parse_num(v);
        else if (ARG("--max-attempts"))
            o.retry.max_attempts = (uint32_t)parse_num(v);
        else if (ARG("--cert-out"))
            cert_out = v;
        else if (ARG("--bench"))
            bench_runs = (long)parse_num(v);
        else
            die("unknown or incomplete option %s", a);
#undef ARG
    }
    if (!db || !tpl_path)
        die("%s", "usage: notify-test-driver --db FILE --template FILE [options]");
    signal(SIGPIPE, SIG_IGN);

    struct ks_diag d;
    struct config_options co = {.stack_name = stack, .params = params, .n_params = n_params};
    struct config_template *t = NULL;
    if (config_template_load(tpl_path, &co, &t, &d))
        die("template: %s", d.msg);
    struct store *st = NULL;
    if (store_open(db, &st, &d))
        die("store: %s", d.msg);

    struct server srv;
    memset(&srv, 0, sizeof(srv));
    char url[64];
    if (serve_http) {
        server_start(&srv);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv.port);
        o.public_url = url;
        if (port_file) {
            FILE *f = fopen(port_file, "we");
            if (f) {
                fprintf(f, "%d\n", srv.port);
                fclose(f);
            }
        }
    }
    struct notify_hub *hub = NULL;
    if (notify_hub_new(st, &o, &hub, &d))
        die("hub: %s", d.msg);
    srv.hub = hub;
    if (notify_hub_configure(hub, t, &d))
        die("configure: %s", d.msg);
    for (size_t i = 0; i < notify_hub_warning_count(hub); i++)
        fprintf(stderr, "warning: %s\n", notify_hub_warning(hub, i));
    if (cert_out) {
        FILE *f = fopen(cert_out, "we");
        if (f) {
            fputs(notify_hub_signing_cert_pem(hub), f);
            fclose(f);
        }
    }
    struct test_action ta = {.log = action_log};
    atomic_init(&ta.fail_left, action_fail);
    if (action_arn) {
        if (!action_log)
            die("%s", "--action needs --action-log");
        if (notify_hub_register_action(hub, action_arn, test_action, &ta))
            die("cannot register action %s", action_arn);
    }
    if (notify_hub_start(hub, &d))
        die("start: %s", d.msg);

    if (wait_confirmed > 0) {
        int64_t until = now_ms() + wait_confirmed;
        for (;;) {
            sqlite3_stmt *q = NULL;
            int pending = 1;
            if (sqlite3_prepare_v2(store_db(st),
                                   "SELECT count(*) FROM notify_subscriptions WHERE status = "
                                   "'pending'",
                                   -1, &q, NULL) == SQLITE_OK &&
                sqlite3_step(q) == SQLITE_ROW)
                pending = sqlite3_column_int(q, 0);
            sqlite3_finalize(q);
            if (!pending)
                break;
            if (now_ms() > until)
                die("%s", "subscriptions not confirmed in time");
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        pthread_mutex_lock(&out_mu);
        printf("{\"type\":\"confirmed\"}\n");
        fflush(stdout);
        pthread_mutex_unlock(&out_mu);
    }

    int64_t *lat = bench_runs > 0 ? calloc((size_t)bench_runs, sizeof(int64_t)) : NULL;
    long lat_n = 0;
    struct lab lab = {t, lab_trail, NULL, 0};
    if (lab_trail) {
        lab_read(&lab, lab_trail);
        run_lab(&lab, st, hub);
    }
    if (fire_name)
        fire(t, st, hub, fire_name, bench_runs > 0 ? bench_runs : count, bench_runs > 0, &lat_n,
             lat);
    if (hold_ms > 0) {
        struct timespec ts = {(time_t)(hold_ms / 1000), (long)(hold_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    int rc = 0;
    if (drain_ms > 0) {
        struct notify_stats left;
        enum ks_err e = notify_hub_drain(hub, drain_ms, &left, &d);
        pthread_mutex_lock(&out_mu);
        printf("{\"type\":\"drain\",\"drained\":%s,\"pending\":%llu,\"inflight\":%llu,"
               "\"grouped\":%llu,\"held\":%llu,\"delivered\":%llu,\"dead\":%llu,"
               "\"digested\":%llu}\n",
               e ? "false" : "true", (unsigned long long)left.pending,
               (unsigned long long)left.inflight, (unsigned long long)left.grouped,
               (unsigned long long)left.held, (unsigned long long)left.delivered,
               (unsigned long long)left.dead, (unsigned long long)left.digested);
        fflush(stdout);
        pthread_mutex_unlock(&out_mu);
        rc = e ? 1 : 0;
    }
    if (lat && lat_n) {
        qsort(lat, (size_t)lat_n, sizeof(int64_t), cmp_i64);
        long p50 = lat_n / 2, p90 = (lat_n * 9) / 10, p99 = (lat_n * 99) / 100;
        printf("{\"type\":\"bench\",\"runs\":%ld,\"p50_ms\":%.2f,\"p90_ms\":%.2f,\"p99_ms\":%.2f,"
               "\"max_ms\":%.2f}\n",
               lat_n, lat[p50] / 1000.0, lat[p90 < lat_n ? p90 : lat_n - 1] / 1000.0,
               lat[p99 < lat_n ? p99 : lat_n - 1] / 1000.0, lat[lat_n - 1] / 1000.0);
    }
    free(lat);
    notify_hub_free(hub);
    if (serve_http)
        server_stop(&srv);
    store_close(st);
    for (size_t i = 0; i < lab.n; i++)
        for (int k = 0; k < 7; k++)
            free(lab.ev[i].fields[k]);
    free(lab.ev);
    config_template_free(t);
    return rc;
}
