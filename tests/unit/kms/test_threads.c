/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms_call from many threads at once: Decrypt/Encrypt readers racing with
 * writers (key creation, tags, aliases, rotation, deletion scheduling). Run
 * under ASan/UBSan by the asan build (and TSan when built so). Also prints
 * the single-thread Decrypt rate of the library alone, for information:
 * perf is measured by bench/, not asserted here.
 */
#include "test_kms.h"

#include <pthread.h>
#include <time.h>

#define READERS 4
#define READS   3000

struct shared {
    struct kms_service *svc;
    const char *ct_body;
    const char *enc_body;
    int failures;
    pthread_mutex_t mu;
};

static void *reader(void *arg)
{
    struct shared *s = arg;
    struct kms_caller c = {.arn = T_ADMIN, .account = T_ACCOUNT};
    struct kms_response r;
    kms_response_init(&r);
    int bad = 0;
    for (int i = 0; i < READS; i++) {
        const char *op = i % 4 == 3 ? "Encrypt" : "Decrypt";
        const char *body = i % 4 == 3 ? s->enc_body : s->ct_body;
        kms_call(s->svc, op, body, strlen(body), &c, T_NOW, &r);
        if (r.http_status != 200)
            bad++;
    }
    kms_response_release(&r);
    pthread_mutex_lock(&s->mu);
    s->failures += bad;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void *writer(void *arg)
{
    struct t_env *e = arg;
    for (int i = 0; i < 20; i++) {
        t_call(e, "CreateKey", "{}");
        t_ok(e, "create");
        t_call(e, "TagResource",
               "{\"KeyId\":\"{W}\",\"Tags\":[{\"TagKey\":\"k\",\"TagValue\":\"v\"}]}");
        t_ok(e, "tag");
        t_call(e, "RotateKeyOnDemand", "{\"KeyId\":\"{W}\"}");
        t_ok(e, "rotate");
        t_call(e, "CreateAlias", "{\"AliasName\":\"alias/t\",\"TargetKeyId\":\"{W}\"}");
        t_ok(e, "alias");
        t_call(e, "DeleteAlias", "{\"AliasName\":\"alias/t\"}");
        t_ok(e, "unalias");
        t_call(e, "ScheduleKeyDeletion", "{\"KeyId\":\"{W}\"}");
        t_call(e, "CancelKeyDeletion", "{\"KeyId\":\"{W}\"}");
        t_call(e, "EnableKey", "{\"KeyId\":\"{W}\"}");
        t_ok(e, "enable");
        t_call(e, "Encrypt", "{\"KeyId\":\"alias/aws/concurrent\",\"Plaintext\":\"AA==\"}");
        t_ok(e, "managed key");
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    struct t_env e;
    t_open(&e, 1.0);
    t_new_key(&e, "K", "");
    t_new_key(&e, "W", "");
    t_call(&e, "Encrypt",
           "{\"KeyId\":\"{K}\",\"Plaintext\":\"aGVsbG8gd29ybGQ=\","
           "\"EncryptionContext\":{\"app\":\"lab\"}}");
    t_ok(&e, "encrypt");
    t_set(&e, "CT", t_field(&e, "CiphertextBlob"));
    char *ct =
        t_expand(&e, "{\"CiphertextBlob\":\"{CT}\",\"EncryptionContext\":{\"app\":\"lab\"}}");
    char *enc = t_expand(&e, "{\"KeyId\":\"alias/aws/readers\",\"Plaintext\":\"aGk=\"}");
    struct shared s = {.svc = e.svc, .ct_body = ct, .enc_body = enc};
    pthread_mutex_init(&s.mu, NULL);
    pthread_t th[READERS];
    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader, &s), 0);
    writer(&e);
    for (int i = 0; i < READERS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(s.failures, 0);
    pthread_mutex_destroy(&s.mu);
    free(ct);
    free(enc);
    t_close(&e);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_decrypt_rate(void **state)
{
    (void)state;
    struct t_env e;
    t_open(&e, 1.0);
    t_new_key(&e, "K", "");
    t_call(&e, "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"c29tZSBzZWNyZXQgdGV4dA==\"}");
    t_set(&e, "CT", t_field(&e, "CiphertextBlob"));
    char *body = t_expand(&e, "{\"CiphertextBlob\":\"{CT}\"}");
    size_t len = strlen(body);
    int n = 0;
    double t0 = now_s(), t1 = t0;
    while (n < 200000 && t1 - t0 < 0.5) {
        kms_call(e.svc, "Decrypt", body, len, &e.caller, T_NOW, &e.res);
        assert_int_equal(e.res.http_status, 200);
        n++;
        if (n % 256 == 0)
            t1 = now_s();
    }
    t1 = now_s();
    print_message("[ info     ] kms_call Decrypt, one thread: %.0f calls/s (%d in %.2f s)\n",
                  n / (t1 - t0), n, t1 - t0);
    free(body);
    t_close(&e);
}

int run_thread_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_decrypt_rate),
    };
    return cmocka_run_group_tests_name("kms_threads", tests, NULL, NULL);
}
