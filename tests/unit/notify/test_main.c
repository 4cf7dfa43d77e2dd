/* SPDX-License-Identifier: Apache-2.0 */
/* One ctest entry (unit_notify) running every notify test group. */
#include <errno.h>
#include <sys/stat.h>

#include "test_notify.h"

const char *golden_dir = ".";

void golden_check(const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", golden_dir, name);
    const char *upd = getenv("KS_GOLDEN_UPDATE");
    if (upd && strcmp(upd, "1") == 0) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        return;
    }
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("golden file %s is missing (KS_GOLDEN_UPDATE=1 creates it)", path);
    struct ks_buf want;
    ks_buf_init(&want, 1u << 24);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        assert_int_equal(ks_buf_add(&want, chunk, n), KS_OK);
    fclose(f);
    if (strcmp(want.data, text) != 0) {
        size_t i = 0;
        while (want.data[i] && want.data[i] == text[i])
            i++;
        size_t line = 1;
        for (size_t k = 0; k < i; k++)
            line += text[k] == '\n';
        print_error(
            "golden %s differs at byte %zu (line %zu)\n--- want: %.120s\n--- got:  %.120s\n", name,
            i, line, want.data + i, text + i);
        ks_buf_release(&want);
        fail();
    }
    ks_buf_release(&want);
}

static int64_t iso_ms(int y, int mo, int d, int h, int mi, int s, int ms)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    return (int64_t)timegm(&tm) * 1000 + ms;
}

struct alarm *spec_metric_alarm(struct alarm_change *change)
{
    static const char *const actions[] = {"arn:aws:sns:us-east-1:111122223333:security-alerts"};
    struct alarm_def def;
    alarm_def_init(&def);
    def.name = "kms-decrypt-failures";
    def.description = "KMS calls that failed";
    def.ns = "Security/KMS";
    def.metric_name = "KmsFailures";
    def.statistic = ALARM_STAT_SUM;
    def.period = 300;
    def.evaluation_periods = 1;
    def.datapoints_to_alarm = 1;
    def.threshold = 1;
    def.comparison = ALARM_CMP_GE;
    def.treat_missing = ALARM_MISSING_NOT_BREACHING;
    def.alarm_actions = actions;
    def.n_alarm_actions = 1;
    def.region = "us-east-1";
    def.account = "111122223333";
    struct alarm *a = alarm_new(&def, iso_ms(2024, 3, 5, 20, 30, 45, 526));
    assert_non_null(a);
    bool changed;
    struct ks_diag d;
    assert_int_equal(alarm_set_state(a, ALARM_STATE_OK, "setup", NULL,
                                     iso_ms(2024, 3, 5, 20, 31, 0, 0), &changed, change, &d),
                     KS_OK);
    assert_int_equal(
        alarm_set_state(a, ALARM_STATE_ALARM,
                        "Threshold Crossed: 1 out of the last 1 datapoints [4.0 (05/03/24 "
                        "20:25:00)] was greater than or equal to the threshold (1.0) (minimum 1 "
                        "datapoint for OK -> ALARM transition).",
                        NULL, T_SPEC, &changed, change, &d),
        KS_OK);
    assert_true(changed);
    return a;
}

struct alarm_composite *spec_composite_alarm(struct alarm_change *change)
{
    static const char *const actions[] = {"arn:aws:sns:us-east-1:111122223333:security-alerts"};
    struct alarm_composite_def def;
    alarm_composite_def_init(&def);
    def.name = "kms-abuse";
    def.description = "Failures and volume anomaly together";
    def.rule = "ALARM(kms-decrypt-failures) AND ALARM(kms-decrypt-volume-anomaly)";
    def.alarm_actions = actions;
    def.n_alarm_actions = 1;
    def.region = "us-east-1";
    def.account = "111122223333";
    struct alarm_composite *c = alarm_composite_new(&def, iso_ms(2024, 3, 1, 9, 0, 0, 0));
    assert_non_null(c);
    bool changed;
    struct ks_diag d;
    assert_int_equal(alarm_composite_set_state(c, ALARM_STATE_OK, "setup", NULL,
                                               iso_ms(2024, 3, 1, 9, 30, 0, 0), &changed, change,
                                               &d),
                     KS_OK);
    assert_int_equal(
        alarm_composite_set_state(
            c, ALARM_STATE_ALARM,
            "arn:aws:cloudwatch:us-east-1:111122223333:alarm:kms-decrypt-failures transitioned to "
            "ALARM at Friday 01 March, 2024 10:10:00 UTC",
            "{\"triggeringAlarms\":[{\"arn\":\"arn:aws:cloudwatch:us-east-1:111122223333:alarm:"
            "kms-decrypt-failures\",\"state\":{\"value\":\"ALARM\",\"timestamp\":\"2024-03-01T10:"
            "10:00.123+0000\"}}]}",
            iso_ms(2024, 3, 1, 10, 10, 0, 612), &changed, change, &d),
        KS_OK);
    assert_true(changed);
    return c;
}

struct notify_context_acc *spec_context(struct notify_context *ctx)
{
    struct notify_context_acc *acc = notify_context_acc_new();
    static const struct notify_context_event ev[] = {
        {T_SPEC - 30000, "Decrypt", "11111111-0000-0000-0000-000000000003",
         "arn:aws:iam::111122223333:role/ci-deployer",
         "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
         "203.0.113.7", "AccessDeniedException", "aws-cli/2.15.0", "trail/2024-03-05.json.gz",
         9120},
        {T_SPEC - 60000, "Decrypt", "11111111-0000-0000-0000-000000000002",
         "arn:aws:iam::111122223333:role/ci-deployer",
         "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
         "203.0.113.7", "AccessDeniedException", "aws-cli/2.15.0", "trail/2024-03-05.json.gz",
         4410},
        {T_SPEC - 90000, "GenerateDataKey", "11111111-0000-0000-0000-000000000001",
         "arn:aws:iam::111122223333:role/batch", NULL, "10.0.0.5", "KMSInvalidStateException",
         "Boto3/1.34.0", "trail/2024-03-05.json.gz", 100},
    };
    for (size_t i = 0; i < KS_ARRAY_LEN(ev); i++)
        notify_context_acc_add(acc, &ev[i]);
    notify_context_acc_get(acc, T_SPEC - 300000 - 4488, T_SPEC - 4488, ctx);
    return acc;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        golden_dir = argv[1];
    int failed = 0;
    failed += run_message_tests();
    failed += run_sns_tests();
    failed += run_outbox_tests();
    return failed ? 1 : 0;
}
