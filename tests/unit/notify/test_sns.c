/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SNS envelope and signature (spec/alarms.md §12): the canonical string per
 * message type, the body, the signing key's creation and reuse, and a
 * signature checked the way a receiver checks it (OpenSSL, with the public
 * key of our certificate). Also the delivery-policy helpers: backoff,
 * Retry-After, HTTP status classes.
 */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "test_notify.h"

static const struct notify_envelope note = {
    .type = "Notification",
    .message_id = "3b2f3048-7c8b-5300-b8da-61fc0db82368",
    .topic_arn = "arn:aws:sns:us-east-1:111122223333:security-alerts",
    .subject = "ALARM: \"kms-decrypt-failures\" in US East (N. Virginia)",
    .message = "{\"AlarmName\":\"kms-decrypt-failures\"}",
    .timestamp = "2024-03-05T20:31:04.544Z",
    .signature_version = 2,
    .signing_cert_url = "https://keysentry.example/notify/signing-cert.pem",
    .unsubscribe_url = "https://keysentry.example/?Action=Unsubscribe&SubscriptionArn=x",
};

static void test_canonical(void **state)
{
    (void)state;
    struct ks_buf b;
    ks_buf_init(&b, 1u << 20);
    assert_int_equal(notify_sns_canonical(&note, &b), KS_OK);
    assert_string_equal(b.data,
                        "Message\n{\"AlarmName\":\"kms-decrypt-failures\"}\n"
                        "MessageId\n3b2f3048-7c8b-5300-b8da-61fc0db82368\n"
                        "Subject\nALARM: \"kms-decrypt-failures\" in US East (N. Virginia)\n"
                        "Timestamp\n2024-03-05T20:31:04.544Z\n"
                        "TopicArn\narn:aws:sns:us-east-1:111122223333:security-alerts\n"
                        "Type\nNotification\n");
    /* no Subject: the name is left out too (§12.3) */
    struct notify_envelope e = note;
    e.subject = NULL;
    ks_buf_reset(&b);
    assert_int_equal(notify_sns_canonical(&e, &b), KS_OK);
    assert_null(strstr(b.data, "Subject"));
    assert_non_null(strstr(b.data, "MessageId\n3b2f3048-7c8b-5300-b8da-61fc0db82368\nTimestamp\n"));
    struct notify_envelope c = {
        .type = "SubscriptionConfirmation",
        .message_id = "m",
        .token = "t0k",
        .topic_arn = "arn:t",
        .message = "You have chosen to subscribe",
        .subscribe_url = "https://k/?Action=ConfirmSubscription",
        .timestamp = "2024-01-01T00:00:00.000Z",
    };
    ks_buf_reset(&b);
    assert_int_equal(notify_sns_canonical(&c, &b), KS_OK);
    assert_string_equal(b.data, "Message\nYou have chosen to subscribe\nMessageId\nm\n"
                                "SubscribeURL\nhttps://k/?Action=ConfirmSubscription\n"
                                "Timestamp\n2024-01-01T00:00:00.000Z\nToken\nt0k\nTopicArn\narn:t\n"
                                "Type\nSubscriptionConfirmation\n");
    struct notify_envelope bad = note;
    bad.type = "Bogus";
    assert_int_equal(notify_sns_canonical(&bad, &b), KS_E_INVALID);
    ks_buf_release(&b);
}

static void test_body(void **state)
{
    (void)state;
    struct ks_buf b;
    ks_buf_init(&b, 1u << 20);
    assert_int_equal(notify_sns_body(&note, "c2ln", &b), KS_OK);
    json_t *j = json_loads(b.data, 0, NULL);
    assert_non_null(j);
    static const char *const order[] = {
        "Type",      "MessageId",        "TopicArn",  "Subject",        "Message",
        "Timestamp", "SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL"};
    size_t i = 0;
    for (void *it = json_object_iter(j); it; it = json_object_iter_next(j, it), i++)
        assert_string_equal(json_object_iter_key(it), order[i]);
    assert_int_equal(i, KS_ARRAY_LEN(order));
    assert_string_equal(json_string_value(json_object_get(j, "SignatureVersion")), "2");
    assert_string_equal(json_string_value(json_object_get(j, "Message")), note.message);
    /* AWS's layout: one member per line, " : " between name and value */
    assert_true(strncmp(b.data, "{\n  \"Type\" : \"Notification\",\n  \"MessageId\" : ", 44) == 0);
    json_decref(j);
    ks_buf_release(&b);
}

static char *tmpdir(void)
{
    char tpl[] = "/tmp/ks-notify-unit-XXXXXX";
    char *d = mkdtemp(tpl);
    assert_non_null(d);
    return ks_xstrdup(d);
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

/* What a receiver does: the certificate's public key, the canonical string,
 * the base64 signature, the digest named by SignatureVersion. */
static bool receiver_verifies(const char *cert_pem, const struct notify_envelope *e,
                              const char *sig_b64)
{
    BIO *bio = BIO_new_mem_buf(cert_pem, -1);
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    assert_non_null(x);
    EVP_PKEY *pub = X509_get0_pubkey(x);
    unsigned char sig[1024];
    int n = EVP_DecodeBlock(sig, (const unsigned char *)sig_b64, (int)strlen(sig_b64));
    assert_true(n > 0);
    size_t siglen = (size_t)n;
    /* EVP_DecodeBlock keeps the padding bytes: strip them */
    size_t len = strlen(sig_b64);
    if (len >= 1 && sig_b64[len - 1] == '=')
        siglen--;
    if (len >= 2 && sig_b64[len - 2] == '=')
        siglen--;
    struct ks_buf canon;
    ks_buf_init(&canon, 1u << 20);
    assert_int_equal(notify_sns_canonical(e, &canon), KS_OK);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = EVP_DigestVerifyInit(md, NULL, e->signature_version == 1 ? EVP_sha1() : EVP_sha256(),
                                   NULL, pub) == 1 &&
              EVP_DigestVerify(md, sig, siglen, (const unsigned char *)canon.data, canon.len) == 1;
    EVP_MD_CTX_free(md);
    ks_buf_release(&canon);
    X509_free(x);
    return ok;
}

static void test_signer(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct notify_signer *s = NULL;
    struct ks_diag d;
    assert_int_equal(notify_signer_load(dir, &s, &d), KS_OK);
    char key[4200];
    snprintf(key, sizeof(key), "%s/notify-signing-key.pem", dir);
    struct stat sb;
    assert_int_equal(stat(key, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    const char *pem = notify_signer_cert_pem(s);
    assert_true(strncmp(pem, "-----BEGIN CERTIFICATE-----", 27) == 0);
    struct ks_buf sig;
    ks_buf_init(&sig, 4096);
    assert_int_equal(notify_signer_sign(s, &note, &sig, &d), KS_OK);
    assert_true(receiver_verifies(pem, &note, sig.data));
    /* any field changed: the signature no longer holds */
    struct notify_envelope t = note;
    t.message = "{\"AlarmName\":\"other\"}";
    assert_false(receiver_verifies(pem, &t, sig.data));
    t = note;
    t.subject = NULL;
    assert_false(receiver_verifies(pem, &t, sig.data));
    /* SignatureVersion 1: SHA1withRSA */
    t = note;
    t.signature_version = 1;
    assert_int_equal(notify_signer_sign(s, &t, &sig, &d), KS_OK);
    assert_true(receiver_verifies(pem, &t, sig.data));
    /* reloaded: the same identity */
    char *pem1 = ks_xstrdup(pem);
    notify_signer_free(s);
    assert_int_equal(notify_signer_load(dir, &s, &d), KS_OK);
    assert_string_equal(notify_signer_cert_pem(s), pem1);
    /* the certificate is re-made from the key when it goes missing */
    char cert[4200];
    snprintf(cert, sizeof(cert), "%s/notify-signing-cert.pem", dir);
    notify_signer_free(s);
    unlink(cert);
    assert_int_equal(notify_signer_load(dir, &s, &d), KS_OK);
    assert_string_not_equal(notify_signer_cert_pem(s), pem1);
    assert_int_equal(notify_signer_sign(s, &note, &sig, &d), KS_OK);
    assert_true(receiver_verifies(pem1, &note, sig.data)); /* same key */
    free(pem1);
    ks_buf_release(&sig);
    notify_signer_free(s);
    rmtree(dir);
    free(dir);
}

static void test_backoff(void **state)
{
    (void)state;
    struct notify_retry_policy p = {.min_delay_ms = 1000, .max_delay_ms = 8000};
    static const struct {
        uint32_t attempt;
        double rnd;
        int64_t want;
    } rows[] = {
        {1, 0.0, 500},  {1, 0.999999, 999}, {2, 0.0, 1000}, {2, 0.5, 1500},
        {3, 0.0, 2000}, {4, 0.0, 4000},     {5, 0.0, 4000}, {5, 0.5, 6000},
        {9, 0.0, 4000}, {60, 0.25, 5000},   {1, -3, 500},   {1, 7, 999},
    };
    for (size_t i = 0; i < KS_ARRAY_LEN(rows); i++) {
        int64_t got = notify_backoff_ms(&p, rows[i].attempt, rows[i].rnd);
        if (got != rows[i].want)
            fail_msg("row %zu: attempt %u rnd %g: got %lld want %lld", i, rows[i].attempt,
                     rows[i].rnd, (long long)got, (long long)rows[i].want);
    }
    struct notify_retry_policy zero = {0};
    assert_int_equal(notify_backoff_ms(&zero, 1, 0), 500); /* defaults: 1 s nominal */
}

static void test_retry_after_and_status(void **state)
{
    (void)state;
    int64_t now = INT64_C(784111777000); /* Sun, 06 Nov 1994 08:49:37 GMT */
    static const struct {
        const char *v;
        bool ok;
        int64_t want;
    } rows[] = {
        {"120", true, 120000},
        {" 0", true, 0},
        {"3\r\n", true, 3000},
        {"Sun, 06 Nov 1994 08:49:47 GMT", true, 10000},
        {"Sun, 06 Nov 1994 08:49:00 GMT", true, 0}, /* in the past: now */
        {"-1", false, 0},
        {"1.5", false, 0},
        {"soon", false, 0},
        {"Sun, 06 Nov 1994 08:49:47 PST", false, 0},
        {"99999999999999", false, 0},
    };
    for (size_t i = 0; i < KS_ARRAY_LEN(rows); i++) {
        int64_t d = -1;
        bool ok = notify_parse_retry_after(rows[i].v, now, &d);
        if (ok != rows[i].ok || (ok && d != rows[i].want))
            fail_msg("row %zu '%s': ok %d delay %lld", i, rows[i].v, ok, (long long)d);
    }
    static const struct {
        long status;
        enum notify_result want;
    } st[] = {{200, NOTIFY_OK},        {204, NOTIFY_OK},        {299, NOTIFY_OK},
              {100, NOTIFY_PERMANENT}, {301, NOTIFY_PERMANENT}, {400, NOTIFY_PERMANENT},
              {404, NOTIFY_PERMANENT}, {429, NOTIFY_RETRY},     {500, NOTIFY_RETRY},
              {503, NOTIFY_RETRY},     {599, NOTIFY_RETRY},     {0, NOTIFY_PERMANENT}};
    for (size_t i = 0; i < KS_ARRAY_LEN(st); i++)
        if (notify_http_classify(st[i].status) != st[i].want)
            fail_msg("status %ld", st[i].status);
}

int run_sns_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_body),
        cmocka_unit_test(test_signer),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_retry_after_and_status),
    };
    return cmocka_run_group_tests_name("notify_sns", tests, NULL, NULL);
}
