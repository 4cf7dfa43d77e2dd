/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scanner against jansson on real CloudTrail records.
 *
 * Every event the reader delivers from the shared CloudTrail folder (native
 * Records files, gzip or plain, NDJSON, and whatever text lies beside them)
 * is scanned for selectors typical of CloudTrail filters, with
 * EVENT_SCAN_FULL and in the fast mode, and compared with a walk of
 * jansson's tree (rules and known divergences: tests/fuzz/scan_oracle.c).
 * Two plans are checked: all selectors (wildcards included, so the fast scan
 * reads whole records) and the plain ones only (so it stops early).
 *
 *   test_scan_differential [CLOUDTRAIL_DIR]
 *
 * The directory defaults to KS_SHARED_DIR/data/cloudtrail; the corpus test
 * is skipped when it is absent. A second test runs the same checks on a few
 * records of our own, so a checkout without the shared folder still runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sys/stat.h>

#include "event/event.h"
#include "scan_oracle.h"

#ifndef KS_SHARED_DIR
#define KS_SHARED_DIR "../shared"
#endif

static const char *data_dir = KS_SHARED_DIR "/data/cloudtrail";

static const char *const SELECTORS[] = {
    "$.eventSource",
    "$.eventName",
    "$.eventVersion",
    "$.eventType",
    "$.errorCode",
    "$.errorMessage",
    "$.awsRegion",
    "$.sourceIPAddress",
    "$.userIdentity.type",
    "$.userIdentity.arn",
    "$.userIdentity.invokedBy",
    "$.userIdentity.sessionContext.sessionIssuer.arn",
    "$.userIdentity.sessionContext.attributes.mfaAuthenticated",
    "$.resources[*].ARN",
    "$.resources[0].type",
    "$.requestParameters.keyId",
    "$.requestParameters.encryptionContext.*",
    "$.requestParameters.encryptionContext.['aws:s3:arn']",
    "$.requestParameters.bucketName",
    "$.responseElements",
    "$.responseElements.keyMetadata.keyState",
    "$.readOnly",
    "$.managementEvent",
    "$.additionalEventData.*",
    "$.additionalEventData.MFAUsed",
    "$.tlsDetails.tlsVersion",
    "$.*",
    "$.userIdentity.*",
    "$.Records[*].eventName",
};

#define MAX_SHOWN 10

struct tally {
    struct scan_oracle *all, *plain;
    size_t events, json_objects, agreed, skipped, mismatches;
    size_t values_all, values_plain;
    size_t skip_reasons[8]; /* by first letter class: D1..D5, duplicates, other */
};

static struct scan_oracle *oracle_for(bool plain_only)
{
    struct scan_oracle *o = scan_oracle_new();
    for (size_t i = 0; i < sizeof(SELECTORS) / sizeof(SELECTORS[0]); i++) {
        const char *s = SELECTORS[i];
        struct event_path path;
        struct ks_diag diag;
        size_t pos = 0;
        if (event_path_parse(s, strlen(s), &pos, &path, &diag) != KS_OK || pos != strlen(s))
            fail_msg("selector %s does not parse: %s", s, diag.msg);
        if (plain_only && path.nwild) {
            event_path_release(&path);
            continue;
        }
        scan_oracle_add(o, &path);
    }
    return o;
}

static void count_skip(struct tally *t, const char *why)
{
    size_t k = 7;
    if (why[0] == 'D' && why[1] >= '1' && why[1] <= '5')
        k = (size_t)(why[1] - '1');
    else if (strncmp(why, "duplicate", 9) == 0)
        k = 5;
    t->skip_reasons[k]++;
}

static void check_one(struct tally *t, const char *data, size_t len, const char *file,
                      uint64_t record)
{
    struct scan_report ra, rp;
    scan_oracle_check(t->all, data, len, &ra);
    scan_oracle_check(t->plain, data, len, &rp);
    t->events++;
    t->json_objects += ra.json_object;
    t->values_all += ra.values;
    t->values_plain += rp.values;
    const struct scan_report *bad = ra.verdict == SCAN_MISMATCH   ? &ra
                                    : rp.verdict == SCAN_MISMATCH ? &rp
                                                                  : NULL;
    if (bad) {
        if (t->mismatches++ < MAX_SHOWN)
            print_error("%s: record %llu: %s plan: %s\n", file, (unsigned long long)record,
                        bad == &ra ? "full" : "plain", bad->why);
    } else if (ra.verdict == SCAN_SKIPPED) {
        t->skipped++;
        count_skip(t, ra.why);
    } else {
        t->agreed++;
    }
}

static int on_event(void *ctx, const struct event *ev)
{
    check_one(ctx, ev->data, ev->len, ev->file, ev->record);
    return 0;
}

static void print_tally(const char *what, const struct tally *t)
{
    print_message("%s: %zu events (%zu JSON objects): %zu agree, %zu skipped, %zu mismatches; "
                  "values compared: %zu (all selectors), %zu (plain selectors)\n",
                  what, t->events, t->json_objects, t->agreed, t->skipped, t->mismatches,
                  t->values_all, t->values_plain);
    if (t->skipped)
        print_message("%s: skipped as known divergences: D1 %zu, D2 %zu, D3 %zu, D4 %zu, D5 %zu, "
                      "duplicate keys %zu, other %zu\n",
                      what, t->skip_reasons[0], t->skip_reasons[1], t->skip_reasons[2],
                      t->skip_reasons[3], t->skip_reasons[4], t->skip_reasons[5],
                      t->skip_reasons[7]);
}

static void tally_init(struct tally *t)
{
    memset(t, 0, sizeof(*t));
    t->all = oracle_for(false);
    t->plain = oracle_for(true);
}

static void tally_release(struct tally *t)
{
    scan_oracle_free(t->all);
    scan_oracle_free(t->plain);
}

/* Synthetic records of our own: the shapes CloudTrail uses, plus a few that
 * stress the scanner (escaped keys, pretty printing, null and empty fields). */
static const char *const OWN[] = {
    "{\"eventVersion\":\"1.08\",\"userIdentity\":{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::"
    "111122223333:user/dev\",\"sessionContext\":{\"sessionIssuer\":{},\"attributes\":"
    "{\"mfaAuthenticated\":\"false\"}}},\"eventSource\":\"kms.amazonaws.com\",\"eventName\":"
    "\"ScheduleKeyDeletion\",\"awsRegion\":\"eu-west-1\",\"requestParameters\":{\"keyId\":"
    "\"1234abcd\",\"pendingWindowInDays\":7},\"responseElements\":{\"keyId\":\"arn:aws:kms:"
    "eu-west-1:111122223333:key/1234abcd\",\"keyState\":\"PendingDeletion\"},\"readOnly\":false,"
    "\"resources\":[{\"accountId\":\"111122223333\",\"type\":\"AWS::KMS::Key\",\"ARN\":"
    "\"arn:aws:kms:eu-west-1:111122223333:key/1234abcd\"}],\"managementEvent\":true,"
    "\"tlsDetails\":{\"tlsVersion\":\"TLSv1.2\"}}",
    "{\"eventSource\":\"s3.amazonaws.com\",\"eventName\":\"PutObject\",\"errorCode\":"
    "\"AccessDenied\",\"errorMessage\":\"Access Denied\",\"userIdentity\":{\"type\":\"Root\"},"
    "\"requestParameters\":{\"bucketName\":\"ledger\",\"encryptionContext\":{\"aws:s3:arn\":"
    "\"arn:aws:s3:::ledger/a b.csv\"}},\"responseElements\":null,\"additionalEventData\":"
    "{\"bytesTransferredIn\":1.5e3,\"x-amz-id-2\":\"q\\/w==\"},\"resources\":[]}",
    "  {\n  \"event\\u004eame\" : \"ConsoleLogin\" ,\n  \"additionalEventData\" : { \"MFAUsed\" "
    ": \"No\" , \"LoginTo\" : \"https:\\/\\/console.aws.amazon.com\\/\" } ,\n  \"userIdentity\" "
    ": { \"type\" : \"Root\" , \"arn\" : \"arn:aws:iam::111122223333:root\" } ,\n  "
    "\"responseElements\" : { \"ConsoleLogin\" : \"Failure\" }\n}\n",
    "{\"Records\":[{\"eventName\":\"Decrypt\"},{\"eventName\":\"Encrypt\"}]}",
    "{}",
    "{\"eventName\":\"Decrypt\",\"resources\":[{\"ARN\":\"a\"},",
    "not JSON at all",
};

static void test_own_records(void **state)
{
    (void)state;
    struct tally t;
    tally_init(&t);
    for (size_t i = 0; i < sizeof(OWN) / sizeof(OWN[0]); i++)
        check_one(&t, OWN[i], strlen(OWN[i]), "own", i);
    print_tally("own records", &t);
    assert_int_equal(t.mismatches, 0);
    assert_true(t.values_all > 30);
    assert_true(t.values_plain > 10);
    tally_release(&t);
}

static void test_cloudtrail_corpus(void **state)
{
    (void)state;
    struct stat st;
    if (stat(data_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        print_message("skipping: %s is absent (the shared data folder is not beside the "
                      "checkout); nothing to compare\n",
                      data_dir);
        skip();
    }
    struct tally t;
    tally_init(&t);
    struct event_reader_opts opts;
    event_reader_opts_init(&opts);
    opts.errors = NULL; /* malformed files are expected; the stats count them */
    struct event_stats stats;
    memset(&stats, 0, sizeof(stats));
    int rc = event_read_path(data_dir, &opts, on_event, &t, &stats);
    print_tally(data_dir, &t);
    print_message("%s: reader: %llu files, %llu events, %llu bytes; bad: json %llu, utf8 %llu, "
                  "nul %llu, too big %llu, too deep %llu, gzip %llu, file %llu\n",
                  data_dir, (unsigned long long)stats.files, (unsigned long long)stats.events,
                  (unsigned long long)stats.bytes, (unsigned long long)stats.bad_json,
                  (unsigned long long)stats.bad_utf8, (unsigned long long)stats.bad_nul,
                  (unsigned long long)stats.too_big, (unsigned long long)stats.too_deep,
                  (unsigned long long)stats.bad_gzip, (unsigned long long)stats.bad_file);
    assert_int_equal(rc, 0);
    assert_int_equal(t.mismatches, 0);
    assert_true(t.events > 0);
    assert_true(t.json_objects > 0);
    assert_true(t.values_all > 0);
    assert_true(t.values_plain > 0);
    tally_release(&t);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_records),
        cmocka_unit_test(test_cloudtrail_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
