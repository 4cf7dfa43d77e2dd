/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Persistence and the root key: everything survives close + reopen (keys of
 * every kind with their material, aliases, tags, grants, rotation state,
 * policies); the root key file is created 0600 and a wider mode refuses to
 * start; pending deletion really deletes when its scaled date passes.
 */
#include "test_kms.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static void snapshot(struct t_env *e, const char *op, const char *body, const char *var)
{
    t_call(e, op, body);
    t_ok(e, op);
    char *s = json_dumps(e->body, JSON_COMPACT | JSON_SORT_KEYS);
    t_set(e, var, s);
    free(s);
}

static void test_restart(void **state)
{
    (void)state;
    struct t_env e;
    t_open(&e, 1.0);
    t_new_key(&e, "K",
              "\"Description\":\"kept\",\"Tags\":[{\"TagKey\":\"team\",\"TagValue\":"
              "\"blue\"}]");
    t_new_key(&e, "H", "\"KeySpec\":\"HMAC_512\",\"KeyUsage\":\"GENERATE_VERIFY_MAC\"");
    t_new_key(&e, "R", "\"KeySpec\":\"RSA_2048\",\"KeyUsage\":\"SIGN_VERIFY\"");
    t_new_key(&e, "EC", "\"KeySpec\":\"ECC_SECG_P256K1\",\"KeyUsage\":\"SIGN_VERIFY\"");
    t_new_key(&e, "D", "");
    t_new_key(&e, "P", "");
    t_new_key(&e, "X", "\"Origin\":\"EXTERNAL\",\"MultiRegion\":true");
    t_call(&e, "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"b2xk\"}");
    t_set(&e, "CT1", t_field(&e, "CiphertextBlob"));
    t_call(&e, "RotateKeyOnDemand", "{\"KeyId\":\"{K}\"}");
    t_call(&e, "EnableKeyRotation", "{\"KeyId\":\"{K}\",\"RotationPeriodInDays\":180}");
    t_call(&e, "Encrypt",
           "{\"KeyId\":\"{K}\",\"Plaintext\":\"bmV3\",\"EncryptionContext\":{"
           "\"a\":\"b\"}}");
    t_set(&e, "CT2", t_field(&e, "CiphertextBlob"));
    t_call(&e, "CreateAlias", "{\"AliasName\":\"alias/kept\",\"TargetKeyId\":\"{K}\"}");
    t_call(&e, "CreateAlias", "{\"AliasName\":\"alias/hmac\",\"TargetKeyId\":\"{H}\"}");
    t_call(&e, "TagResource",
           "{\"KeyId\":\"{K}\",\"Tags\":[{\"TagKey\":\"env\",\"TagValue\":"
           "\"lab\"}]}");
    t_call(&e, "CreateGrant",
           "{\"KeyId\":\"{K}\",\"GranteePrincipal\":\"arn:aws:iam::111122223333:user/bob\","
           "\"Operations\":[\"Decrypt\"],\"Name\":\"kept\",\"Constraints\":{"
           "\"EncryptionContextEquals\":{\"a\":\"b\"}}}");
    t_ok(&e, "grant");
    t_set(&e, "TOK", t_field(&e, "GrantToken"));
    /* never a leading '-': command lines (the AWS CLI) take that for an option */
    assert_int_equal(strncmp(t_get(&e, "TOK"), "AQ", 2), 0);
    assert_int_equal(strlen(t_get(&e, "TOK")), 66);
    t_call(&e, "DisableKey", "{\"KeyId\":\"{D}\"}");
    t_call(&e, "ScheduleKeyDeletion", "{\"KeyId\":\"{P}\",\"PendingWindowInDays\":10}");
    t_call(
        &e, "PutKeyPolicy",
        "{\"KeyId\":\"{D}\",\"Policy\":\"{\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\","
        "\\\"Principal\\\":{\\\"AWS\\\":\\\"111122223333\\\"},\\\"Action\\\":\\\"kms:*\\\"}]}\"}");
    t_ok(&e, "policy");
    t_call(&e, "GenerateMac",
           "{\"KeyId\":\"{H}\",\"Message\":\"aGk=\",\"MacAlgorithm\":\"HMAC_SHA_512\"}");
    t_set(&e, "MAC", t_field(&e, "Mac"));
    t_call(&e, "Sign",
           "{\"KeyId\":\"{EC}\",\"Message\":\"aGk=\",\"SigningAlgorithm\":"
           "\"ECDSA_SHA_256\"}");
    t_set(&e, "SIG", t_field(&e, "Signature"));

    static const struct {
        const char *op, *body, *var;
    } views[] = {
        {"ListKeys", "{}", "V_KEYS"},
        {"DescribeKey", "{\"KeyId\":\"{K}\"}", "V_K"},
        {"DescribeKey", "{\"KeyId\":\"{D}\"}", "V_D"},
        {"DescribeKey", "{\"KeyId\":\"{P}\"}", "V_P"},
        {"DescribeKey", "{\"KeyId\":\"{X}\"}", "V_X"},
        {"ListAliases", "{}", "V_ALIASES"},
        {"ListResourceTags", "{\"KeyId\":\"{K}\"}", "V_TAGS"},
        {"ListGrants", "{\"KeyId\":\"{K}\"}", "V_GRANTS"},
        {"GetKeyRotationStatus", "{\"KeyId\":\"{K}\"}", "V_ROT"},
        {"ListKeyRotations", "{\"KeyId\":\"{K}\"}", "V_ROTS"},
        {"GetKeyPolicy", "{\"KeyId\":\"{D}\"}", "V_POL"},
        {"GetPublicKey", "{\"KeyId\":\"{R}\"}", "V_PUB"},
        {"GetPublicKey", "{\"KeyId\":\"{EC}\"}", "V_PUBEC"},
    };
    char var2[40];
    for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++)
        snapshot(&e, views[i].op, views[i].body, views[i].var);

    t_reopen(&e);
    for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++) {
        snprintf(var2, sizeof(var2), "%s_2", views[i].var);
        snapshot(&e, views[i].op, views[i].body, var2);
        if (strcmp(t_get(&e, views[i].var), t_get(&e, var2)) != 0) {
            print_error("%s differs after restart:\n  before %s\n  after  %s\n", views[i].var,
                        t_get(&e, views[i].var), t_get(&e, var2));
            fail();
        }
    }
    /* the material came back: old and new ciphertexts, MAC, signature */
    t_call(&e, "Decrypt", "{\"CiphertextBlob\":\"{CT1}\"}");
    t_ok(&e, "old ciphertext");
    assert_string_equal(t_field(&e, "Plaintext"), "b2xk");
    t_call(&e, "Decrypt", "{\"CiphertextBlob\":\"{CT2}\",\"EncryptionContext\":{\"a\":\"b\"}}");
    t_ok(&e, "new ciphertext");
    t_call(&e, "VerifyMac",
           "{\"KeyId\":\"alias/hmac\",\"Message\":\"aGk=\",\"Mac\":\"{MAC}\","
           "\"MacAlgorithm\":\"HMAC_SHA_512\"}");
    t_ok(&e, "mac");
    t_call(&e, "Verify",
           "{\"KeyId\":\"{EC}\",\"Message\":\"aGk=\",\"Signature\":\"{SIG}\","
           "\"SigningAlgorithm\":\"ECDSA_SHA_256\"}");
    t_ok(&e, "signature");
    /* the grant still authorizes, and its token still retires it */
    t_call(&e, "PutKeyPolicy",
           "{\"KeyId\":\"{K}\",\"BypassPolicyLockoutSafetyCheck\":true,\"Policy\":\"{\\\""
           "Statement\\\":[]}\"}");
    t_ok(&e, "empty policy");
    e.caller.arn = "arn:aws:iam::111122223333:user/bob";
    t_call(&e, "Decrypt", "{\"CiphertextBlob\":\"{CT2}\",\"EncryptionContext\":{\"a\":\"b\"}}");
    t_ok(&e, "grant after restart");
    e.caller.arn = T_ADMIN;
    t_call(&e, "RetireGrant", "{\"GrantToken\":\"{TOK}\"}");
    t_ok(&e, "token after restart");
    t_reopen(&e);
    e.caller.arn = "arn:aws:iam::111122223333:user/bob";
    t_call(&e, "Decrypt", "{\"CiphertextBlob\":\"{CT2}\",\"EncryptionContext\":{\"a\":\"b\"}}");
    t_err(&e, "retired grant stays retired", "AccessDeniedException", NULL);
    t_close(&e);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static void test_root_key(void **state)
{
    (void)state;
    struct t_env e;
    t_open(&e, 1.0);
    t_new_key(&e, "K", "");
    t_call(&e, "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"AA==\"}");
    t_set(&e, "CT", t_field(&e, "CiphertextBlob"));
    char path[256], db[256];
    snprintf(path, sizeof(path), "%s/root.key", e.dir);
    snprintf(db, sizeof(db), "%s/keys.db", e.dir);
    assert_int_equal(mode_of(path), 0600);
    assert_int_equal(mode_of(db) & 077, 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 32);
    kms_service_close(e.svc);
    e.svc = NULL;

    struct {
        mode_t mode;
        bool opens;
    } modes[] = {{0644, false}, {0640, false}, {0604, false},
                 {0660, false}, {0400, true},  {0600, true}};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        assert_int_equal(chmod(path, modes[i].mode), 0);
        struct ks_diag d;
        ks_diag_clear(&d);
        struct kms_service *svc = NULL;
        enum ks_err err = kms_service_open(&e.opts, &svc, &d);
        if (modes[i].opens) {
            assert_int_equal(err, KS_OK);
            kms_service_close(svc);
        } else {
            assert_int_equal(err, KS_E_INVALID);
            assert_null(svc);
            assert_non_null(strstr(d.msg, "chmod 600"));
        }
    }
    /* a root key of the wrong size, or a missing one beside keys.db */
    char saved[32];
    int fd = open(path, O_RDONLY);
    assert_int_equal(read(fd, saved, sizeof(saved)), 32);
    close(fd);
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, saved, 16), 16);
    close(fd);
    struct ks_diag d;
    ks_diag_clear(&d);
    struct kms_service *svc = NULL;
    assert_int_equal(kms_service_open(&e.opts, &svc, &d), KS_E_INVALID);
    unlink(path);
    assert_int_equal(kms_service_open(&e.opts, &svc, &d), KS_E_INVALID);
    assert_non_null(strstr(d.msg, "missing"));
    /* another root key: the stored keys cannot be unwrapped */
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    char other[32] = {1, 2, 3};
    assert_int_equal(write(fd, other, 32), 32);
    close(fd);
    assert_int_equal(kms_service_open(&e.opts, &svc, &d), KS_E_FORMAT);
    /* the right one again */
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, saved, 32), 32);
    close(fd);
    t_reopen(&e);
    t_call(&e, "Decrypt", "{\"CiphertextBlob\":\"{CT}\"}");
    t_ok(&e, "decrypt with the restored root key");
    /* no data directory given */
    struct kms_options none = {0};
    assert_int_equal(kms_service_open(&none, &svc, &d), KS_E_INVALID);
    t_close(&e);
}

static void test_pending_deletion(void **state)
{
    (void)state;
    struct t_env e;
    t_open(&e, 86400.0); /* one day per second */
    t_new_key(&e, "K", "");
    t_new_key(&e, "K2", "");
    t_new_key(&e, "K3", "");
    t_call(&e, "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"AA==\"}");
    t_set(&e, "CT", t_field(&e, "CiphertextBlob"));
    t_call(&e, "CreateAlias", "{\"AliasName\":\"alias/doomed\",\"TargetKeyId\":\"{K}\"}");
    t_call(&e, "CreateGrant",
           "{\"KeyId\":\"{K}\",\"GranteePrincipal\":\"arn:aws:iam::111122223333:user/bob\","
           "\"Operations\":[\"Decrypt\"],\"RetiringPrincipal\":\"arn:aws:iam::111122223333:user/"
           "bob\"}");
    t_call(&e, "ScheduleKeyDeletion", "{\"KeyId\":\"{K}\",\"PendingWindowInDays\":7}");
    t_ok(&e, "schedule");
    /* the reported date is when the key really goes */
    assert_true(json_real_value(json_object_get(e.body, "DeletionDate")) ==
                (double)(T_NOW + 7000) / 1000.0);
    assert_int_equal(json_integer_value(json_object_get(e.body, "PendingWindowInDays")), 7);
    t_call(&e, "ScheduleKeyDeletion", "{\"KeyId\":\"{K2}\",\"PendingWindowInDays\":30}");
    t_call(&e, "ScheduleKeyDeletion", "{\"KeyId\":\"{K3}\",\"PendingWindowInDays\":8}");

    e.now = T_NOW + 6999;
    t_call(&e, "DescribeKey", "{\"KeyId\":\"{K}\"}");
    t_ok(&e, "still there");
    t_call(&e, "Decrypt", "{\"CiphertextBlob\":\"{CT}\"}");
    t_err(&e, "decrypt pending", "KMSInvalidStateException", NULL);
    assert_int_equal(e.nevents, 0);

    /* lazily, on the next call after the date */
    e.now = T_NOW + 7000;
    t_call(&e, "DescribeKey", "{\"KeyId\":\"{K}\"}");
    char msg[200];
    snprintf(msg, sizeof(msg), "Key '%s' does not exist", t_get(&e, "K_ARN"));
    t_err(&e, "deleted", "NotFoundException", msg);
    assert_int_equal(e.nevents, 1);
    snprintf(msg, sizeof(msg), "DeleteKey %s", t_get(&e, "K_ARN"));
    assert_string_equal(e.events[0], msg);
    t_call(&e, "DescribeKey", "{\"KeyId\":\"alias/doomed\"}");
    t_err(&e, "alias deleted with the key", "NotFoundException", NULL);
    t_call(&e, "ListRetirableGrants",
           "{\"RetiringPrincipal\":\"arn:aws:iam::111122223333:user/bob\"}");
    t_ok(&e, "grants");
    assert_int_equal(json_array_size(json_object_get(e.body, "Grants")), 0);
    t_call(&e, "Decrypt", "{\"CiphertextBlob\":\"{CT}\"}");
    t_err(&e, "ciphertext of a deleted key", "AccessDeniedException", NULL);

    /* and by the service tick */
    kms_service_tick(e.svc, T_NOW + 8000);
    assert_int_equal(e.nevents, 2);
    /* cancelled in time: survives */
    t_call(&e, "CancelKeyDeletion", "{\"KeyId\":\"{K2}\"}");
    t_ok(&e, "cancel");
    kms_service_tick(e.svc, T_NOW + 40000);
    assert_int_equal(e.nevents, 2);
    t_reopen(&e);
    t_call(&e, "ListKeys", "{}");
    t_ok(&e, "list");
    assert_int_equal(json_array_size(json_object_get(e.body, "Keys")), 1);
    t_call(&e, "DescribeKey", "{\"KeyId\":\"{K2}\"}");
    t_ok(&e, "survivor");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e.body, "KeyMetadata"), "KeyState")),
        "Disabled");
    t_close(&e);
}

int run_persist_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_root_key),
        cmocka_unit_test(test_pending_deletion),
    };
    return cmocka_run_group_tests_name("kms_persist", tests, NULL, NULL);
}
