/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Responses through notify's durable outbox: an alarm whose AlarmActions
 * names a response (by Ref and by ARN) goes to ALARM; the hub delivers the
 * action rows to respond_notify_action, which disables the keys of the
 * context at the SigV4-verifying loopback endpoint. A delivery that fails
 * retryably is retried by the hub and then succeeds; a permanent failure is
 * dead-lettered. Every wait is bounded (notify_hub_drain's timeout).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "alarm/alarm.h"
#include "config/config.h"
#include "fake_aws.h"
#include "notify/notify.h"
#include "respond/respond.h"
#include "store/store.h"

#define AKID   "AKIDRESPONDNOTIFY1"
#define SECRET "notify-test-secret"
#define KEY1   "aaaaaaaa-1111-4111-8111-000000000001"
#define KEY2   "aaaaaaaa-1111-4111-8111-000000000002"

struct outcomes {
    size_t delivered, dead, retry;
    char last_error[600];
};

static void on_outcome(void *ud, const struct notify_outcome *o)
{
    struct outcomes *oc = ud;
    if (strcmp(o->protocol, "action") != 0)
        return;
    if (o->kind == NOTIFY_OUTCOME_DELIVERED)
        oc->delivered++;
    else if (o->kind == NOTIFY_OUTCOME_DEAD)
        oc->dead++;
    else
        oc->retry++;
    if (o->error)
        snprintf(oc->last_error, sizeof(oc->last_error), "%s", o->error);
}

static void test_alarm_to_response(void **state)
{
    (void)state;
    struct fake_aws_options fo = {AKID, SECRET, NULL, NULL, NULL};
    struct fake_aws *fa = fake_aws_start(&fo);
    assert_non_null(fa);
    fake_aws_add_key(fa, KEY1, "Enabled");
    fake_aws_add_key(fa, KEY2, "Enabled");
    char dir[] = "/tmp/ks-respond-notify-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char db[200], yaml[2048];
    snprintf(db, sizeof(db), "%s/ks.db", dir);
    snprintf(yaml, sizeof(yaml),
             "Resources:\n"
             "  Disable:\n"
             "    Type: Keysentry::Response::DisableKey\n"
             "    Properties: {Name: disable, CooldownSeconds: 0}\n"
             "  Broken:\n"
             "    Type: Keysentry::Response::Exec\n"
             "    Properties: {Name: broken, Command: [/bin/false]}\n"
             "  Alarm:\n"
             "    Type: AWS::CloudWatch::Alarm\n"
             "    Properties:\n"
             "      AlarmName: kms-failures\n"
             "      MetricName: KmsFailures\n"
             "      Namespace: Security/KMS\n"
             "      Statistic: Sum\n"
             "      Period: 60\n"
             "      EvaluationPeriods: 1\n"
             "      Threshold: 1\n"
             "      ComparisonOperator: GreaterThanOrEqualToThreshold\n"
             "      AlarmActions:\n"
             "        - !Ref Disable\n"
             "        - !Sub "
             "'arn:keysentry:respond:${AWS::Region}:${AWS::AccountId}:response/${Broken}'\n");
    struct ks_diag d;
    ks_diag_clear(&d);
    struct config_template *t;
    if (config_template_load_buffer("n.yaml", yaml, strlen(yaml), NULL, &t, &d))
        fail_msg("template: %s", d.msg);
    char ak[64], sk[64], kms[128];
    snprintf(ak, sizeof(ak), "AWS_ACCESS_KEY_ID=%s", AKID);
    snprintf(sk, sizeof(sk), "AWS_SECRET_ACCESS_KEY=%s", SECRET);
    snprintf(kms, sizeof(kms), "KEYSENTRY_ENDPOINT_URL_KMS=%s", fake_aws_url(fa));
    const char *env[] = {ak, sk, kms, NULL};

    struct store *st;
    if (store_open(db, &st, &d))
        fail_msg("store: %s", d.msg);
    struct respond_options ro = {0};
    ro.db_path = db;
    ro.env = env;
    ro.quiet = true;
    struct respond *r;
    if (respond_new(t, &ro, &r, &d))
        fail_msg("respond: %s", d.msg);
    struct outcomes oc = {0};
    struct notify_options no = {0};
    no.data_dir = dir;
    no.manual = true;
    no.retry.min_delay_ms = 10;
    no.retry.max_delay_ms = 20;
    no.on_outcome = on_outcome;
    no.outcome_ud = &oc;
    struct notify_hub *hub;
    if (notify_hub_new(st, &no, &hub, &d))
        fail_msg("hub: %s", d.msg);
    if (notify_hub_configure(hub, t, &d))
        fail_msg("configure: %s", d.msg);
    if (respond_register(r, hub, &d))
        fail_msg("register: %s", d.msg);
    if (notify_hub_start(hub, &d))
        fail_msg("start: %s", d.msg);

    const struct config_alarm *ca = &t->alarms[0];
    struct alarm_def def;
    alarm_def_init(&def);
    def.name = ca->name;
    def.ns = ca->namespace;
    def.metric_name = ca->metric_name;
    assert_true(alarm_statistic_parse(ca->statistic, &def.statistic));
    def.period = 60;
    def.evaluation_periods = 1;
    def.threshold = 1;
    assert_true(alarm_comparison_parse(ca->comparison_operator, &def.comparison));
    def.actions_enabled = true;
    def.alarm_actions = (const char *const *)ca->alarm_actions.v;
    def.n_alarm_actions = ca->alarm_actions.n;
    def.region = t->region;
    def.account = t->account_id;
    if (alarm_def_validate(&def, &d))
        fail_msg("alarm: %s", d.msg);
    int64_t now = (int64_t)time(NULL) * 1000;
    struct alarm *a = alarm_new(&def, now - 60000);
    assert_non_null(a);
    struct alarm_change ch;
    alarm_change_init(&ch);
    bool changed = false;
    assert_int_equal(alarm_set_state(a, ALARM_STATE_ALARM, "test", NULL, now, &changed, &ch, &d),
                     KS_OK);
    assert_true(changed);
    assert_int_equal(ch.n_actions, 2);

    /* the context: who did it, with which keys */
    struct notify_context_count keys[] = {
        {"arn:aws:kms:us-east-1:111122223333:key/" KEY1, 3}, {KEY2, 1}, {"alias/x", 1}};
    struct notify_context_count principals[] = {{"arn:aws:iam::111122223333:role/app", 4}};
    struct notify_context ctx = {0};
    ctx.window_start_ms = now - 60000;
    ctx.window_end_ms = now;
    ctx.matching_events = 4;
    ctx.keys = (struct notify_context_top){keys, 3};
    ctx.principals = (struct notify_context_top){principals, 1};

    /* the first DisableKey is throttled: the hub retries the row */
    fake_aws_fail(fa, "DisableKey", 1, 400, "ThrottlingException");
    struct notify_event ev = {{a, NULL}, &ch, &ctx};
    struct notify_enqueue_result er;
    assert_int_equal(store_begin(st, &d), KS_OK);
    if (notify_hub_enqueue(hub, &ev, &er, &d))
        fail_msg("enqueue: %s", d.msg);
    assert_int_equal(store_commit(st, &d), KS_OK);
    assert_int_equal(er.rows, 2);
    assert_int_equal(er.unknown, 0);
    struct notify_stats left;
    if (notify_hub_drain(hub, 20000, &left, &d))
        fail_msg("drain: %s", d.msg);

    char s1[32], s2[32];
    fake_aws_key_state(fa, KEY1, s1, sizeof(s1));
    fake_aws_key_state(fa, KEY2, s2, sizeof(s2));
    assert_string_equal(s1, "Disabled");
    assert_string_equal(s2, "Disabled");
    assert_int_equal(fake_aws_calls(fa, "DisableKey"), 3); /* 1 throttled + 2 */
    assert_int_equal(oc.delivered, 1);
    assert_int_equal(oc.dead, 1); /* /bin/false: permanent */
    assert_true(oc.retry >= 1);
    assert_non_null(strstr(oc.last_error, "exited with 1"));

    notify_hub_free(hub);
    alarm_change_release(&ch);
    alarm_free(a);
    respond_free(r);
    store_close(st);
    config_template_free(t);
    fake_aws_stop(fa);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {(char *)(uintptr_t) "/bin/rm", (char *)(uintptr_t) "-rf", dir, NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alarm_to_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
