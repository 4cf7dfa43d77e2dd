/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The outbox with an injected clock and a manual hub (no threads): rows
 * written in the caller's transaction, dedupe by transition, the retry
 * schedule, dead-lettering, permanent failures, the rate limit and its
 * digest, resume after a restart, registered actions (context rebuilt from
 * the database), the SubscriptionConfirmation endpoints, and template errors.
 */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "test_notify.h"

#define T0      INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define TOPIC   "arn:aws:sns:us-east-1:111122223333:alerts"
#define EMPTY   "arn:aws:sns:us-east-1:111122223333:nobody"
#define ACTION  "arn:aws:keysentry:us-east-1:111122223333:response/test"
#define UNKNOWN "arn:aws:keysentry:us-east-1:111122223333:response/unknown"

static int64_t fake_now;

static int64_t fake_clock(void *ud)
{
    (void)ud;
    return fake_now;
}

static double fake_random(void *ud)
{
    (void)ud;
    return 0.0; /* the smallest jitter: delays are exactly nominal / 2 */
}

struct fixture {
    char dir[64];
    char file[128];
    struct store *st;
    struct config_template *tpl;
    struct notify_hub *hub;
    struct alarm *alarm;
    struct alarm_change ch;
    int64_t last_change;
};

static const char template_fmt[] =
    "Resources:\n"
    "  Settings:\n"
    "    Type: Keysentry::Notifications\n"
    "    Properties:\n"
    "      DigestWindowSeconds: %s\n"
    "      PublicUrl: https://keysentry.test/sns\n"
    "      RetryPolicy: {MaxAttempts: %d, MinDelaySeconds: 2, MaxDelaySeconds: 16,\n"
    "                    MaxAgeSeconds: %d}\n"
    "  T:\n"
    "    Type: AWS::SNS::Topic\n"
    "    Properties: {TopicName: alerts}\n"
    "  Nobody:\n"
    "    Type: AWS::SNS::Topic\n"
    "    Properties: {TopicName: nobody}\n"
    "  F:\n"
    "    Type: Keysentry::Subscription\n"
    "    Properties: {TopicArn: !Ref T, Protocol: file, Endpoint: '%s', Fsync: false}\n"
    "%s";

static const char http_sub[] =
    "  H:\n"
    "    Type: AWS::SNS::Subscription\n"
    "    Properties: {TopicArn: !Ref T, Protocol: http, Endpoint: 'http://127.0.0.1:9/sns'}\n";

static void fixture_open_hub(struct fixture *f)
{
    struct notify_options o;
    memset(&o, 0, sizeof(o));
    o.manual = true;
    o.clock = fake_clock;
    o.random = fake_random;
    o.queue_outcomes = true;
    o.data_dir = f->dir;
    struct ks_diag d;
    if (notify_hub_new(f->st, &o, &f->hub, &d) || notify_hub_configure(f->hub, f->tpl, &d))
        fail_msg("hub: %s", d.msg);
    assert_int_equal(notify_hub_start(f->hub, &d), KS_OK);
}

static struct fixture *fixture_new(const char *digest, int max_attempts, int max_age,
                                   const char *extra)
{
    struct fixture *f = ks_xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/ks-notify-outbox-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->file, sizeof(f->file), "%s/notes.ndjson", f->dir);
    char path[200];
    snprintf(path, sizeof(path), "%s/db.sqlite", f->dir);
    struct ks_diag d;
    assert_int_equal(store_open(path, &f->st, &d), KS_OK);
    char text[4096];
    snprintf(text, sizeof(text), template_fmt, digest, max_attempts, max_age, f->file, extra);
    struct config_options co = {.stack_name = "unit"};
    if (config_template_load_buffer("unit.yaml", text, strlen(text), &co, &f->tpl, &d))
        fail_msg("template: %s", d.msg);
    fake_now = T0;
    fixture_open_hub(f);
    static const char *const actions[] = {TOPIC, ACTION, EMPTY, UNKNOWN};
    struct alarm_def def;
    alarm_def_init(&def);
    def.name = "unit-alarm";
    def.ns = "Unit";
    def.metric_name = "Errors";
    def.statistic = ALARM_STAT_SUM;
    def.period = 60;
    def.evaluation_periods = 1;
    def.threshold = 1;
    def.comparison = ALARM_CMP_GE;
    def.alarm_actions = actions;
    def.n_alarm_actions = 1;
    def.ok_actions = actions;
    def.n_ok_actions = 1;
    f->alarm = alarm_new(&def, T0 - 3600000);
    assert_non_null(f->alarm);
    alarm_change_init(&f->ch);
    f->last_change = T0 - 1000;
    return f;
}

static void rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static void fixture_free(struct fixture *f)
{
    notify_hub_free(f->hub);
    store_close(f->st);
    config_template_free(f->tpl);
    alarm_change_release(&f->ch);
    alarm_free(f->alarm);
    rmtree(f->dir);
    free(f);
}

/* A new transition (alternating states) whose actions are the given ARNs. */
static void transition(struct fixture *f, const char *const *arns, size_t n)
{
    enum alarm_state to =
        alarm_get_state(f->alarm) == ALARM_STATE_ALARM ? ALARM_STATE_OK : ALARM_STATE_ALARM;
    bool changed;
    struct ks_diag d;
    f->last_change = f->last_change + 1 > fake_now ? f->last_change + 1 : fake_now;
    assert_int_equal(
        alarm_set_state(f->alarm, to, "unit test", NULL, f->last_change, &changed, &f->ch, &d),
        KS_OK);
    assert_true(changed);
    /* the actions to run are the caller's choice here */
    for (size_t i = 0; i < f->ch.n_actions; i++)
        free(f->ch.actions[i]);
    free(f->ch.actions);
    f->ch.actions = ks_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        f->ch.actions[i] = ks_xstrdup(arns[i]);
    f->ch.n_actions = n;
}

static struct notify_enqueue_result enqueue(struct fixture *f, const struct notify_context *ctx)
{
    struct notify_event ev = {{f->alarm, NULL}, &f->ch, ctx};
    struct notify_enqueue_result r;
    struct ks_diag d;
    if (notify_hub_enqueue(f->hub, &ev, &r, &d))
        fail_msg("enqueue: %s", d.msg);
    return r;
}

static size_t run(struct fixture *f)
{
    size_t ran = 0;
    struct ks_diag d;
    if (notify_hub_run_due(f->hub, &ran, &d))
        fail_msg("run: %s", d.msg);
    return ran;
}

static struct notify_stats stats(struct fixture *f)
{
    struct notify_stats s;
    struct ks_diag d;
    assert_int_equal(notify_hub_stats(f->hub, &s, &d), KS_OK);
    return s;
}

static json_t *file_lines(struct fixture *f)
{
    json_t *a = json_array();
    FILE *fp = fopen(f->file, "r");
    char line[1 << 16];
    while (fp && fgets(line, sizeof(line), fp)) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        json_array_append_new(a, j);
    }
    if (fp)
        fclose(fp);
    return a;
}

struct outs {
    size_t n;
    enum notify_outcome_kind kind[64];
    uint32_t attempt[64];
    bool digested[64];
    char error[64][256];
    bool published_ok[64];
};

static void collect(void *ud, const struct notify_outcome *o)
{
    struct outs *x = ud;
    if (x->n >= 64)
        return;
    x->kind[x->n] = o->kind;
    x->attempt[x->n] = o->attempt;
    x->digested[x->n] = o->digest_id != NULL;
    snprintf(x->error[x->n], sizeof(x->error[0]), "%s", o->error ? o->error : "");
    json_t *p = o->published_message ? json_loads(o->published_message, 0, NULL) : NULL;
    x->published_ok[x->n] = json_is_string(json_object_get(p, "default")) &&
                            json_is_string(json_object_get(p, "email"));
    json_decref(p);
    x->n++;
}

static struct outs poll_outs(struct fixture *f)
{
    struct outs x;
    memset(&x, 0, sizeof(x));
    notify_hub_poll_outcomes(f->hub, collect, &x, NULL);
    return x;
}

/* ---- tests ------------------------------------------------------------------- */

static void test_deliver_and_dedupe(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("0", 10, 3600, "");
    const char *arns[] = {TOPIC};
    transition(f, arns, 1);
    struct notify_context ctx;
    struct notify_context_acc *acc = spec_context(&ctx);
    struct notify_enqueue_result r = enqueue(f, &ctx);
    assert_int_equal(r.rows, 1);
    assert_int_equal(stats(f).pending, 1);
    assert_int_equal(run(f), 1);
    assert_int_equal(stats(f).delivered, 1);
    json_t *lines = file_lines(f);
    assert_int_equal(json_array_size(lines), 1);
    json_t *l0 = json_array_get(lines, 0);
    assert_string_equal(json_string_value(json_object_get(l0, "Type")), "Notification");
    assert_string_equal(json_string_value(json_object_get(l0, "TopicArn")), TOPIC);
    const char *unsub = json_string_value(json_object_get(l0, "UnsubscribeURL"));
    assert_true(strncmp(unsub,
                        "https://keysentry.test/sns/?Action=Unsubscribe&SubscriptionArn="
                        "arn%3Aaws%3Asns%3Aus-east-1%3A111122223333%3Aalerts%3A",
                        97) == 0);
    json_t *doc = json_loads(json_string_value(json_object_get(l0, "Message")), 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "keysentryContext"),
                                                        "matchingEvents")),
                     3);
    json_decref(doc);
    json_decref(lines);
    struct outs o = poll_outs(f);
    assert_int_equal(o.n, 1);
    assert_int_equal(o.kind[0], NOTIFY_OUTCOME_DELIVERED);
    assert_true(o.published_ok[0]);
    /* the same transition again: nothing new */
    r = enqueue(f, &ctx);
    assert_int_equal(r.rows, 0);
    assert_int_equal(r.duplicates, 1);
    assert_int_equal(run(f), 0);
    notify_context_acc_free(acc);
    fixture_free(f);
}

static void test_caller_transaction(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("0", 10, 3600, "");
    const char *arns[] = {TOPIC};
    transition(f, arns, 1);
    struct ks_diag d;
    assert_int_equal(store_begin(f->st, &d), KS_OK);
    assert_int_equal(enqueue(f, NULL).rows, 1);
    store_rollback(f->st); /* the state change did not happen: neither do the deliveries */
    assert_int_equal(stats(f).pending, 0);
    assert_int_equal(store_begin(f->st, &d), KS_OK);
    assert_int_equal(enqueue(f, NULL).rows, 1);
    assert_int_equal(stats(f).pending, 0); /* not committed yet: invisible to the workers */
    assert_int_equal(store_commit(f->st, &d), KS_OK);
    assert_int_equal(stats(f).pending, 1);
    fixture_free(f);
}

struct action_script {
    int fail_first;
    int permanent;
    int calls;
    uint64_t matching;
    char first_recent[64];
    char message_id[40];
};

static int scripted_action(void *ud, const char *arn, const char *message_json,
                           const struct notify_context *ctx, struct ks_buf *err)
{
    struct action_script *s = ud;
    assert_string_equal(arn, ACTION);
    json_t *doc = json_loads(message_json, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(doc, "AlarmName")), "unit-alarm");
    json_decref(doc);
    s->calls++;
    s->matching = ctx->matching_events;
    snprintf(s->first_recent, sizeof(s->first_recent), "%s",
             ctx->n_recent ? ctx->recent[0].event_id : "");
    const struct notify_delivery_info *info = notify_current_delivery();
    assert_non_null(info);
    assert_int_equal(info->attempt, (uint32_t)s->calls);
    snprintf(s->message_id, sizeof(s->message_id), "%s", info->message_id);
    if (s->permanent) {
        assert_int_equal(ks_buf_addf(err, "no such key"), KS_OK);
        return -1;
    }
    if (s->calls <= s->fail_first) {
        assert_int_equal(ks_buf_addf(err, "throttled"), KS_OK);
        return 1;
    }
    return 0;
}

static void test_retry_schedule(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("0", 10, 3600, "");
    struct action_script s = {.fail_first = 3};
    assert_int_equal(notify_hub_register_action(f->hub, ACTION, scripted_action, &s), KS_OK);
    assert_int_equal(notify_hub_register_action(f->hub, ACTION, scripted_action, &s), KS_E_INVALID);
    assert_int_equal(notify_hub_register_action(f->hub, TOPIC, scripted_action, &s), KS_E_INVALID);
    const char *arns[] = {ACTION};
    transition(f, arns, 1);
    struct notify_context ctx;
    struct notify_context_acc *acc = spec_context(&ctx);
    assert_int_equal(enqueue(f, &ctx).rows, 1);
    notify_context_acc_free(acc); /* the hub keeps its own copy */
    /* min 2 s, max 16 s, jitter 0: retries 1 s, 2 s, 4 s after each failure */
    static const int64_t gaps[] = {1000, 2000, 4000};
    assert_int_equal(run(f), 1);
    for (size_t i = 0; i < KS_ARRAY_LEN(gaps); i++) {
        fake_now += gaps[i] - 1;
        assert_int_equal(run(f), 0); /* not yet */
        assert_int_equal(stats(f).next_due_ms, fake_now + 1);
        fake_now += 1;
        assert_int_equal(run(f), 1);
    }
    assert_int_equal(s.calls, 4);
    assert_int_equal(s.matching, 3);
    assert_string_equal(s.first_recent, "11111111-0000-0000-0000-000000000003");
    struct outs o = poll_outs(f);
    assert_int_equal(o.n, 4);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(o.kind[i], NOTIFY_OUTCOME_RETRY);
        assert_string_equal(o.error[i], "throttled");
    }
    assert_int_equal(o.kind[3], NOTIFY_OUTCOME_DELIVERED);
    assert_int_equal(o.attempt[3], 4);
    assert_int_equal(stats(f).delivered, 1);
    /* the attempt history */
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(store_db(f->st),
                                        "SELECT group_concat(outcome) FROM (SELECT outcome FROM "
                                        "notify_attempts ORDER BY id)",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "retry,retry,retry,delivered");
    sqlite3_finalize(q);
    fixture_free(f);
}

static void test_dead_letter(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("0", 3, 3600, "");
    struct action_script s = {.fail_first = 1000};
    assert_int_equal(notify_hub_register_action(f->hub, ACTION, scripted_action, &s), KS_OK);
    const char *arns[] = {ACTION};
    transition(f, arns, 1);
    enqueue(f, NULL);
    for (int i = 0; i < 5; i++) {
        run(f);
        fake_now += 60000;
    }
    assert_int_equal(s.calls, 3);
    struct notify_stats st = stats(f);
    assert_int_equal(st.dead, 1);
    assert_int_equal(st.pending, 0);
    struct outs o = poll_outs(f);
    assert_int_equal(o.n, 3);
    assert_int_equal(o.kind[2], NOTIFY_OUTCOME_DEAD);
    assert_non_null(strstr(o.error[2], "dead-lettered after 3 attempts"));
    fixture_free(f);

    /* by age: attempts stop once the first try is MaxAgeSeconds old */
    f = fixture_new("0", 100, 5, "");
    s = (struct action_script){.fail_first = 1000};
    assert_int_equal(notify_hub_register_action(f->hub, ACTION, scripted_action, &s), KS_OK);
    transition(f, arns, 1);
    enqueue(f, NULL);
    for (int i = 0; i < 10; i++) {
        run(f);
        fake_now += 2000;
    }
    assert_int_equal(stats(f).dead, 1);
    assert_true(s.calls >= 3 && s.calls <= 4);
    o = poll_outs(f);
    assert_non_null(strstr(o.error[o.n - 1], "retrying for over 5 s"));
    fixture_free(f);

    /* permanent: dead at the first attempt */
    f = fixture_new("0", 10, 3600, "");
    s = (struct action_script){.permanent = 1};
    assert_int_equal(notify_hub_register_action(f->hub, ACTION, scripted_action, &s), KS_OK);
    transition(f, arns, 1);
    enqueue(f, NULL);
    assert_int_equal(run(f), 1);
    assert_int_equal(stats(f).dead, 1);
    o = poll_outs(f);
    assert_int_equal(o.n, 1);
    assert_int_equal(o.kind[0], NOTIFY_OUTCOME_DEAD);
    assert_string_equal(o.error[0], "no such key");
    fixture_free(f);
}

static void test_digest(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("60", 10, 3600, "");
    const char *arns[] = {TOPIC};
    transition(f, arns, 1);
    enqueue(f, NULL);
    assert_int_equal(run(f), 1); /* the first goes at once */
    fake_now += 1000;
    for (int i = 0; i < 3; i++) {
        transition(f, arns, 1);
        enqueue(f, NULL);
    }
    assert_int_equal(run(f), 0);
    assert_int_equal(stats(f).grouped, 3);
    fake_now = T0 + 59999;
    assert_int_equal(run(f), 0);
    fake_now = T0 + 60000; /* the window ends: one digest */
    assert_int_equal(run(f), 1);
    struct notify_stats st = stats(f);
    assert_int_equal(st.digested, 3);
    assert_int_equal(st.grouped, 0);
    json_t *lines = file_lines(f);
    assert_int_equal(json_array_size(lines), 2);
    json_t *l1 = json_array_get(lines, 1);
    assert_string_equal(json_string_value(json_object_get(l1, "Subject")),
                        "DIGEST: 3 alarm notifications from alerts");
    json_t *m = json_loads(json_string_value(json_object_get(l1, "Message")), 0, NULL);
    json_t *dg = json_object_get(m, "keysentryDigest");
    assert_int_equal(json_integer_value(json_object_get(dg, "count")), 3);
    json_t *msgs = json_object_get(dg, "messages");
    assert_int_equal(json_array_size(msgs), 3);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(msgs, 0), "Message"), "NewStateValue")),
                        "OK");
    json_decref(m);
    json_decref(lines);
    struct outs o = poll_outs(f);
    assert_int_equal(o.n, 4);
    assert_false(o.digested[0]);
    assert_true(o.digested[1] && o.digested[2] && o.digested[3]);
    /* the digest opened a new window: a lone alert in it waits, then goes alone */
    fake_now = T0 + 61000;
    transition(f, arns, 1);
    enqueue(f, NULL);
    assert_int_equal(run(f), 0);
    fake_now = T0 + 120000;
    assert_int_equal(run(f), 1);
    lines = file_lines(f);
    assert_int_equal(json_array_size(lines), 3);
    m = json_loads(json_string_value(json_object_get(json_array_get(lines, 2), "Message")), 0,
                   NULL);
    assert_string_equal(json_string_value(json_object_get(m, "AlarmName")), "unit-alarm");
    json_decref(m);
    json_decref(lines);
    /* drain flushes an open window at once */
    fake_now = T0 + 121000;
    transition(f, arns, 1);
    enqueue(f, NULL);
    transition(f, arns, 1);
    enqueue(f, NULL);
    struct notify_stats left;
    struct ks_diag d;
    assert_int_equal(notify_hub_drain(f->hub, 5000, &left, &d), KS_OK);
    assert_int_equal(left.pending + left.grouped, 0);
    lines = file_lines(f);
    assert_int_equal(json_array_size(lines), 4);
    json_decref(lines);
    fixture_free(f);
}

static void test_resume_after_restart(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("0", 10, 3600, "");
    struct action_script s = {0};
    assert_int_equal(notify_hub_register_action(f->hub, ACTION, scripted_action, &s), KS_OK);
    const char *arns[] = {TOPIC, ACTION};
    transition(f, arns, 2);
    struct notify_context ctx;
    struct notify_context_acc *acc = spec_context(&ctx);
    assert_int_equal(enqueue(f, &ctx).rows, 2);
    notify_context_acc_free(acc);
    /* "crash": the hub goes away with both rows pending */
    notify_hub_free(f->hub);
    fixture_open_hub(f);
    fake_now += 10;
    assert_int_equal(run(f), 1); /* the file; the action waits for its handler */
    assert_int_equal(stats(f).pending, 1);
    assert_int_equal(s.calls, 0);
    assert_int_equal(notify_hub_register_action(f->hub, ACTION, scripted_action, &s), KS_OK);
    fake_now += 1000;
    assert_int_equal(run(f), 1);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.matching, 3); /* the context, from the database */
    assert_int_equal(stats(f).delivered, 2);
    fixture_free(f);
}

static void test_unknown_and_empty_topic(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("0", 10, 3600, "");
    const char *arns[] = {UNKNOWN, EMPTY, UNKNOWN};
    transition(f, arns, 3);
    struct notify_enqueue_result r = enqueue(f, NULL);
    assert_int_equal(r.rows, 2); /* a repeated ARN runs once */
    assert_int_equal(r.unknown, 1);
    assert_int_equal(run(f), 2);
    struct notify_stats st = stats(f);
    assert_int_equal(st.dead, 1);
    assert_int_equal(st.delivered, 1);
    struct outs o = poll_outs(f);
    assert_int_equal(o.n, 2);
    bool saw_dead = false;
    for (size_t i = 0; i < o.n; i++)
        if (o.kind[i] == NOTIFY_OUTCOME_DEAD)
            saw_dead = strstr(o.error[i], UNKNOWN) != NULL;
    assert_true(saw_dead);
    /* no actions: nothing at all */
    transition(f, arns, 0);
    assert_int_equal(enqueue(f, NULL).rows, 0);
    fixture_free(f);
}

static char *query_token(struct fixture *f, char **sub)
{
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(store_db(f->st),
                                        "SELECT token, arn FROM notify_subscriptions WHERE "
                                        "protocol = 'http'",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    char *t =
        sqlite3_column_text(q, 0) ? ks_xstrdup((const char *)sqlite3_column_text(q, 0)) : NULL;
    *sub = ks_xstrdup((const char *)sqlite3_column_text(q, 1));
    sqlite3_finalize(q);
    return t;
}

static bool http(struct fixture *f, const char *target, int *status, char **body)
{
    struct notify_http_reply r;
    memset(&r, 0, sizeof(r));
    bool ours = notify_hub_http(f->hub, "GET", target, &r);
    if (ours) {
        *status = r.status;
        *body = ks_xstrdup(r.body.data);
        ks_buf_release(&r.body);
    }
    return ours;
}

static void test_confirmation(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("0", 10, 3600, http_sub);
    char *sub = NULL;
    char *token = query_token(f, &sub);
    assert_non_null(token);
    assert_int_equal(strlen(token), 64);
    const char *arns[] = {TOPIC};
    transition(f, arns, 1);
    assert_int_equal(enqueue(f, NULL).rows, 2); /* the file and the held http row */
    struct notify_stats st = stats(f);
    assert_int_equal(st.held, 1);
    int status;
    char *body;
    char target[1024];
    snprintf(target, sizeof(target),
             "/sns/?Action=ConfirmSubscription&TopicArn=arn%%3Aaws%%3Asns%%3Aus-east-1%%3A"
             "111122223333%%3Aalerts&Token=%064d",
             0);
    assert_true(http(f, target, &status, &body));
    assert_int_equal(status, 404);
    assert_non_null(strstr(body, "<Code>NotFound</Code>"));
    free(body);
    snprintf(target, sizeof(target),
             "/sns/?Action=ConfirmSubscription&TopicArn=arn%%3Aaws%%3Asns%%3Aus-east-1%%3A"
             "111122223333%%3Aalerts&Token=%s",
             token);
    assert_true(http(f, target, &status, &body));
    assert_int_equal(status, 200);
    char want[600];
    snprintf(want, sizeof(want), "<SubscriptionArn>%s</SubscriptionArn>", sub);
    assert_non_null(strstr(body, want));
    free(body);
    st = stats(f);
    assert_int_equal(st.held, 0);
    assert_int_equal(st.pending, 3); /* confirmation, file, http */
    /* the certificate and the unknown */
    assert_true(http(f, "/sns/notify/signing-cert.pem", &status, &body));
    assert_int_equal(status, 200);
    assert_string_equal(body, notify_hub_signing_cert_pem(f->hub));
    free(body);
    assert_false(http(f, "/metrics", &status, &body));
    /* unsubscribe: pending rows of it die, later transitions skip it */
    char enc[1024];
    snprintf(enc, sizeof(enc), "/sns/unsubscribe.html?SubscriptionArn=%s&Endpoint=x", sub);
    assert_true(http(f, enc, &status, &body));
    assert_int_equal(status, 200);
    free(body);
    transition(f, arns, 1);
    assert_int_equal(enqueue(f, NULL).rows, 1); /* the file only */
    free(token);
    free(sub);
    fixture_free(f);
}

static void test_template_errors(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *yaml;
        const char *want;
    } rows[] = {
        {"unknown property",
         "Resources:\n  T: {Type: AWS::SNS::Topic}\n  S:\n    Type: Keysentry::Subscription\n"
         "    Properties: {TopicArn: !Ref T, Protocol: file, Endpoint: /tmp/x, Bogus: 1}\n",
         "Resources.S.Properties.Bogus: unknown property"},
        {"relative exec",
         "Resources:\n  T: {Type: AWS::SNS::Topic}\n  S:\n    Type: Keysentry::Subscription\n"
         "    Properties: {TopicArn: !Ref T, Protocol: exec, Command: [notify-send, hi]}\n",
         "must be an absolute path"},
        {"exec with endpoint",
         "Resources:\n  T: {Type: AWS::SNS::Topic}\n  S:\n    Type: Keysentry::Subscription\n"
         "    Properties: {TopicArn: !Ref T, Protocol: exec, Endpoint: /bin/true}\n",
         "exec subscriptions take Command"},
        {"password in template",
         "Resources:\n  M:\n    Type: Keysentry::Smtp\n    Properties: {Url: 'smtp://h:25', "
         "Password: hunter2}\n",
         "secrets are not written in templates"},
        {"two smtp",
         "Resources:\n  M: {Type: Keysentry::Smtp, Properties: {Url: 'smtp://a:25'}}\n"
         "  N: {Type: Keysentry::Smtp, Properties: {Url: 'smtp://b:25'}}\n",
         "only one Keysentry::Smtp"},
        {"bad protocol",
         "Resources:\n  T: {Type: AWS::SNS::Topic}\n  S:\n    Type: Keysentry::Subscription\n"
         "    Properties: {TopicArn: !Ref T, Protocol: pigeon, Endpoint: x}\n",
         "'pigeon' is not one of"},
        {"https endpoint",
         "Resources:\n  T: {Type: AWS::SNS::Topic}\n  S:\n    Type: Keysentry::Subscription\n"
         "    Properties: {TopicArn: !Ref T, Protocol: https, Endpoint: 'http://x/'}\n",
         "is not a valid https endpoint"},
        {"retry policy",
         "Resources:\n  N:\n    Type: Keysentry::Notifications\n    Properties: {RetryPolicy: "
         "{MaxAttempts: 0}}\n",
         "Resources.N.Properties.RetryPolicy.MaxAttempts: must be between 1 and 1000"},
    };
    char dir[] = "/tmp/ks-notify-tpl-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[200];
    snprintf(path, sizeof(path), "%s/db.sqlite", dir);
    struct store *st;
    struct ks_diag d;
    assert_int_equal(store_open(path, &st, &d), KS_OK);
    struct notify_options o = {.manual = true, .data_dir = dir};
    struct notify_hub *hub;
    assert_int_equal(notify_hub_new(st, &o, &hub, &d), KS_OK);
    for (size_t i = 0; i < KS_ARRAY_LEN(rows); i++) {
        struct config_template *t = NULL;
        if (config_template_load_buffer("t.yaml", rows[i].yaml, strlen(rows[i].yaml), NULL, &t, &d))
            fail_msg("%s: template: %s", rows[i].name, d.msg);
        enum ks_err e = notify_hub_configure(hub, t, &d);
        if (e != KS_E_INVALID || !strstr(d.msg, rows[i].want))
            fail_msg("%s: got %d '%s', want '%s'", rows[i].name, e, d.msg, rows[i].want);
        config_template_free(t);
    }
    /* an SNS protocol keysentry cannot deliver: skipped with a warning */
    static const char sms[] = "Resources:\n  T: {Type: AWS::SNS::Topic}\n  S:\n    Type: "
                              "AWS::SNS::Subscription\n    Properties: {TopicArn: !Ref T, "
                              "Protocol: sms, Endpoint: '+15555550100'}\n";
    struct config_template *t = NULL;
    assert_int_equal(config_template_load_buffer("t.yaml", sms, strlen(sms), NULL, &t, &d), KS_OK);
    assert_int_equal(notify_hub_configure(hub, t, &d), KS_OK);
    assert_true(notify_hub_warning_count(hub) >= 1);
    assert_non_null(strstr(notify_hub_warning(hub, notify_hub_warning_count(hub) - 1),
                           "protocol 'sms' is not supported"));
    config_template_free(t);
    notify_hub_free(hub);
    store_close(st);
    rmtree(dir);
}

int run_outbox_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deliver_and_dedupe),
        cmocka_unit_test(test_caller_transaction),
        cmocka_unit_test(test_retry_schedule),
        cmocka_unit_test(test_dead_letter),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_resume_after_restart),
        cmocka_unit_test(test_unknown_and_empty_topic),
        cmocka_unit_test(test_confirmation),
        cmocka_unit_test(test_template_errors),
    };
    return cmocka_run_group_tests_name("notify_outbox", tests, NULL, NULL);
}
