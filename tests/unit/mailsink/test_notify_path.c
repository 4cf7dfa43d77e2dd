/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keysentry's own notifier delivering to the sink, as `keysentry demo` will
 * wire them: a template with an e-mail subscription, a hub in manual mode
 * whose smtp_url points at the sink, one alarm transition. The alarm's name
 * is not ASCII, so the notifier encodes the subject as RFC 2047 words and
 * the body as quoted-printable: the sink must give both back as written.
 */
#include <dirent.h>
#include <unistd.h>

#include <curl/curl.h>

#include "notify/notify.h"
#include "test_mailsink.h"

#define ALARM_NAME                                                                                 \
    "kms-d\xc3\xa9"                                                                                \
    "crypt-failures \xf0\x9f\x94\x91"

static const char tpl[] = "Resources:\n"
                          "  Settings:\n"
                          "    Type: Keysentry::Notifications\n"
                          "    Properties: {DigestWindowSeconds: 0}\n"
                          "  Mail:\n"
                          "    Type: Keysentry::Smtp\n"
                          "    Properties: {From: keysentry@lab.example, StartTls: Off}\n"
                          "  Topic:\n"
                          "    Type: AWS::SNS::Topic\n"
                          "    Properties:\n"
                          "      TopicName: security-alerts\n"
                          "      DisplayName: Lab Alerts\n"
                          "      Subscription:\n"
                          "        - {Protocol: email, Endpoint: secops@lab.example}\n";

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static void test_notify_hub_delivers_to_sink(void **state)
{
    (void)state;
    struct mailsink *sink = sink_start(NULL);
    char dir[] = "/tmp/ks-mailsink-notify-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char db[128], url[64];
    snprintf(db, sizeof(db), "%s/ks.db", dir);
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%u", (unsigned)mailsink_port(sink));

    struct ks_diag d;
    struct store *st = NULL;
    assert_int_equal(store_open(db, &st, &d), KS_OK);
    struct config_template *t = NULL;
    struct config_options co = {
        .stack_name = "lab", .account_id = "111122223333", .region = "us-east-1"};
    if (config_template_load_buffer("lab.yaml", tpl, strlen(tpl), &co, &t, &d))
        fail_msg("template: %s", d.msg);
    struct notify_options o;
    memset(&o, 0, sizeof(o));
    o.manual = true;
    o.smtp_url = url;
    o.data_dir = dir;
    struct notify_hub *hub = NULL;
    if (notify_hub_new(st, &o, &hub, &d) || notify_hub_configure(hub, t, &d))
        fail_msg("hub: %s", d.msg);
    assert_int_equal(notify_hub_start(hub, &d), KS_OK);

    static const char *const actions[] = {"arn:aws:sns:us-east-1:111122223333:security-alerts"};
    struct alarm_def def;
    alarm_def_init(&def);
    def.name = ALARM_NAME;
    def.ns = "Security/KMS";
    def.metric_name = "KmsFailures";
    def.statistic = ALARM_STAT_SUM;
    def.period = 60;
    def.evaluation_periods = 1;
    def.threshold = 1;
    def.comparison = ALARM_CMP_GE;
    def.alarm_actions = actions;
    def.n_alarm_actions = 1;
    def.region = "us-east-1";
    def.account = "111122223333";
    int64_t now = (int64_t)time(NULL) * 1000;
    struct alarm *a = alarm_new(&def, now - 60000);
    assert_non_null(a);
    struct alarm_change ch;
    alarm_change_init(&ch);
    bool changed = false;
    assert_int_equal(alarm_set_state(a, ALARM_STATE_ALARM, "Threshold Crossed: lab test", NULL, now,
                                     &changed, &ch, &d),
                     KS_OK);
    assert_true(changed);
    assert_int_equal(ch.n_actions, 1);
    struct notify_event ev = {{a, NULL}, &ch, NULL};
    struct notify_enqueue_result r;
    if (notify_hub_enqueue(hub, &ev, &r, &d))
        fail_msg("enqueue: %s", d.msg);
    assert_int_equal(r.rows, 1);
    struct notify_stats left;
    if (notify_hub_drain(hub, 20000, &left, &d))
        fail_msg("drain: %s (pending %llu, dead %llu)", d.msg, (unsigned long long)left.pending,
                 (unsigned long long)left.dead);
    assert_int_equal(left.delivered, 1);
    assert_int_equal(left.dead, 0);

    assert_int_equal(mailsink_wait(sink, 1, IO_TIMEOUT_MS), KS_OK);
    struct mailsink_message *m = mailsink_get(sink, 1);
    assert_non_null(m);
    assert_string_equal(m->from, "keysentry@lab.example");
    assert_int_equal(m->n_rcpt, 1);
    assert_string_equal(m->rcpt[0], "secops@lab.example");
    /* the notifier wrote encoded words and quoted-printable: check it did,
     * so this test keeps testing the decoders */
    assert_non_null(strstr(m->raw, "Subject: =?UTF-8?B?"));
    assert_non_null(strstr(m->raw, "Content-Transfer-Encoding: quoted-printable"));
    assert_string_equal(m->subject, "ALARM: \"" ALARM_NAME "\" in US East (N. Virginia)");
    assert_non_null(strstr(m->body, "You are receiving this email because your Amazon "
                                    "CloudWatch Alarm \"" ALARM_NAME "\""));
    assert_non_null(strstr(m->body, "Threshold Crossed: lab test"));
    assert_null(strstr(m->body, "=\r\n")); /* soft breaks are gone */
    mailsink_message_free(m);

    alarm_change_release(&ch);
    alarm_free(a);
    notify_hub_free(hub);
    store_close(st);
    config_template_free(t);
    rm_dir(dir);
    mailsink_stop(sink);
}

int run_notify_path_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notify_hub_delivers_to_sink),
    };
    return cmocka_run_group_tests_name("mailsink_notify", tests, NULL, NULL);
}
