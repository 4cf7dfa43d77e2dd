/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key states (spec/kms-api.md §3.3): every operation against a key in each
 * state, with the exact error and message KMS gives, then the transitions
 * and the state each leaves behind.
 */
#include "test_kms.h"

enum { ST_ENABLED, ST_DISABLED, ST_PENDING_DELETION, ST_PENDING_IMPORT, ST_COUNT };
static const char *const state_names[] = {"Enabled", "Disabled", "PendingDeletion",
                                          "PendingImport"};

/* OK | DIS | PD | PI | NPD | UNS | - (not applicable) */
struct row {
    const char *op;
    const char *body; /* {A} = the key's ARN, {CT} = a ciphertext under it, {N} = unique */
    const char *expect[ST_COUNT];
};

static const struct row rows[] = {
    {"Encrypt", "{\"KeyId\":\"{A}\",\"Plaintext\":\"AA==\"}", {"OK", "DIS", "PD", "PI"}},
    {"Decrypt", "{\"CiphertextBlob\":\"{CT}\"}", {"OK", "DIS", "PD", "-"}},
    {"GenerateDataKey", "{\"KeyId\":\"{A}\",\"NumberOfBytes\":16}", {"OK", "DIS", "PD", "PI"}},
    {"GenerateDataKeyWithoutPlaintext",
     "{\"KeyId\":\"{A}\",\"KeySpec\":\"AES_256\"}",
     {"OK", "DIS", "PD", "PI"}},
    {"ReEncrypt",
     "{\"CiphertextBlob\":\"{CT}\",\"DestinationKeyId\":\"{OTHER}\"}",
     {"OK", "DIS", "PD", "-"}},
    {"ReEncrypt",
     "{\"CiphertextBlob\":\"{OTHERCT}\",\"DestinationKeyId\":\"{A}\"}",
     {"OK", "DIS", "PD", "PI"}},
    {"CreateGrant",
     "{\"KeyId\":\"{A}\",\"GranteePrincipal\":\"arn:aws:iam::111122223333:user/g\","
     "\"Operations\":[\"Decrypt\"]}",
     {"OK", "DIS", "PD", "PI"}},
    {"DescribeKey", "{\"KeyId\":\"{A}\"}", {"OK", "OK", "OK", "OK"}},
    {"GetKeyPolicy", "{\"KeyId\":\"{A}\"}", {"OK", "OK", "OK", "OK"}},
    {"PutKeyPolicy",
     "{\"KeyId\":\"{A}\",\"Policy\":\"{\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\","
     "\\\"Principal\\\":{\\\"AWS\\\":\\\"111122223333\\\"},\\\"Action\\\":\\\"kms:*\\\"}]}\"}",
     {"OK", "OK", "OK", "OK"}},
    {"ListResourceTags", "{\"KeyId\":\"{A}\"}", {"OK", "OK", "OK", "OK"}},
    {"ListGrants", "{\"KeyId\":\"{A}\"}", {"OK", "OK", "OK", "OK"}},
    {"ListAliases", "{\"KeyId\":\"{A}\"}", {"OK", "OK", "OK", "OK"}},
    {"EnableKey", "{\"KeyId\":\"{A}\"}", {"OK", "OK", "PD", "PI"}},
    {"DisableKey", "{\"KeyId\":\"{A}\"}", {"OK", "OK", "PD", "PI"}},
    {"ScheduleKeyDeletion", "{\"KeyId\":\"{A}\"}", {"OK", "OK", "PD", "OK"}},
    {"CancelKeyDeletion", "{\"KeyId\":\"{A}\"}", {"NPD", "NPD", "OK", "NPD"}},
    {"CreateAlias",
     "{\"AliasName\":\"alias/s{N}\",\"TargetKeyId\":\"{A}\"}",
     {"OK", "OK", "PD", "OK"}},
    {"TagResource",
     "{\"KeyId\":\"{A}\",\"Tags\":[{\"TagKey\":\"k\",\"TagValue\":\"v\"}]}",
     {"OK", "OK", "PD", "OK"}},
    {"UntagResource", "{\"KeyId\":\"{A}\",\"TagKeys\":[\"k\"]}", {"OK", "OK", "PD", "OK"}},
    {"UpdateKeyDescription", "{\"KeyId\":\"{A}\",\"Description\":\"x\"}", {"OK", "OK", "PD", "OK"}},
    {"EnableKeyRotation", "{\"KeyId\":\"{A}\"}", {"OK", "DIS", "PD", "UNS"}},
    {"DisableKeyRotation", "{\"KeyId\":\"{A}\"}", {"OK", "DIS", "PD", "UNS"}},
    {"GetKeyRotationStatus", "{\"KeyId\":\"{A}\"}", {"OK", "OK", "OK", "UNS"}},
    {"RotateKeyOnDemand", "{\"KeyId\":\"{A}\"}", {"OK", "DIS", "PD", "PI"}},
    {"ListKeyRotations", "{\"KeyId\":\"{A}\"}", {"OK", "OK", "OK", "UNS"}},
};

/* A fresh key in state st; sets A and (except PendingImport) CT. */
static void key_in_state(struct t_env *e, int st)
{
    t_new_key(e, "X", st == ST_PENDING_IMPORT ? "\"Origin\":\"EXTERNAL\"" : "");
    t_set(e, "A", t_get(e, "X_ARN"));
    if (st != ST_PENDING_IMPORT) {
        t_call(e, "Encrypt", "{\"KeyId\":\"{A}\",\"Plaintext\":\"AQID\"}");
        t_ok(e, "setup encrypt");
        t_set(e, "CT", t_field(e, "CiphertextBlob"));
    }
    if (st == ST_DISABLED)
        t_call(e, "DisableKey", "{\"KeyId\":\"{A}\"}");
    if (st == ST_PENDING_DELETION)
        t_call(e, "ScheduleKeyDeletion", "{\"KeyId\":\"{A}\"}");
    t_ok(e, "setup state");
}

static void expect_cell(struct t_env *e, const char *row, const char *want)
{
    char msg[300];
    const char *arn = t_get(e, "A");
    if (strcmp(want, "OK") == 0) {
        t_ok(e, row);
    } else if (strcmp(want, "DIS") == 0) {
        snprintf(msg, sizeof(msg), "%s is disabled.", arn);
        t_err(e, row, "DisabledException", msg);
    } else if (strcmp(want, "PD") == 0) {
        snprintf(msg, sizeof(msg), "%s is pending deletion.", arn);
        t_err(e, row, "KMSInvalidStateException", msg);
    } else if (strcmp(want, "PI") == 0) {
        snprintf(msg, sizeof(msg), "%s is pending import.", arn);
        t_err(e, row, "KMSInvalidStateException", msg);
    } else if (strcmp(want, "NPD") == 0) {
        snprintf(msg, sizeof(msg), "%s is not pending deletion.", arn);
        t_err(e, row, "KMSInvalidStateException", msg);
    } else if (strcmp(want, "UNS") == 0) {
        t_err(e, row, "UnsupportedOperationException", NULL);
    } else {
        fail();
    }
}

static void test_state_table(void **state)
{
    (void)state;
    struct t_env e;
    t_open(&e, 1.0);
    t_new_key(&e, "OTHER", "");
    t_call(&e, "Encrypt", "{\"KeyId\":\"{OTHER}\",\"Plaintext\":\"AQID\"}");
    t_set(&e, "OTHERCT", t_field(&e, "CiphertextBlob"));
    unsigned n = 0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        for (int st = 0; st < ST_COUNT; st++) {
            const char *want = rows[i].expect[st];
            if (strcmp(want, "-") == 0)
                continue;
            key_in_state(&e, st);
            char num[16], name[128];
            snprintf(num, sizeof(num), "%u", n++);
            t_set(&e, "N", num);
            snprintf(name, sizeof(name), "%s in %s", rows[i].op, state_names[st]);
            t_call(&e, rows[i].op, rows[i].body);
            expect_cell(&e, name, want);
        }
    }
    t_close(&e);
}

/* start state, operation, the state it leaves (or the same on error) */
struct transition {
    int from;
    const char *op;
    const char *to;
};

static const struct transition transitions[] = {
    {ST_ENABLED, "DisableKey", "Disabled"},
    {ST_DISABLED, "EnableKey", "Enabled"},
    {ST_ENABLED, "EnableKey", "Enabled"},
    {ST_DISABLED, "DisableKey", "Disabled"},
    {ST_ENABLED, "ScheduleKeyDeletion", "PendingDeletion"},
    {ST_DISABLED, "ScheduleKeyDeletion", "PendingDeletion"},
    {ST_PENDING_IMPORT, "ScheduleKeyDeletion", "PendingDeletion"},
    /* CancelKeyDeletion always lands in Disabled, never back in Enabled */
    {ST_PENDING_DELETION, "CancelKeyDeletion", "Disabled"},
    {ST_PENDING_DELETION, "EnableKey", "PendingDeletion"},
    {ST_PENDING_IMPORT, "EnableKey", "PendingImport"},
};

static void test_transitions(void **state)
{
    (void)state;
    struct t_env e;
    t_open(&e, 1.0);
    for (size_t i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++) {
        const struct transition *t = &transitions[i];
        key_in_state(&e, t->from);
        t_call(&e, t->op, "{\"KeyId\":\"{A}\"}");
        t_call(&e, "DescribeKey", "{\"KeyId\":\"{A}\"}");
        t_ok(&e, t->op);
        const json_t *md = json_object_get(e.body, "KeyMetadata");
        const char *got = json_string_value(json_object_get(md, "KeyState"));
        if (strcmp(got, t->to) != 0) {
            print_error("%s from %s: state %s, want %s\n", t->op, state_names[t->from], got, t->to);
            fail();
        }
        assert_int_equal(json_is_true(json_object_get(md, "Enabled")),
                         strcmp(t->to, "Enabled") == 0);
        bool pending = strcmp(t->to, "PendingDeletion") == 0;
        assert_int_equal(json_object_get(md, "DeletionDate") != NULL, pending);
        assert_int_equal(json_object_get(md, "PendingDeletionWindowInDays") != NULL, pending);
    }
    /* a key pending deletion reports rotation off even when it was on */
    key_in_state(&e, ST_ENABLED);
    t_call(&e, "EnableKeyRotation", "{\"KeyId\":\"{A}\"}");
    t_call(&e, "ScheduleKeyDeletion", "{\"KeyId\":\"{A}\"}");
    t_call(&e, "GetKeyRotationStatus", "{\"KeyId\":\"{A}\"}");
    t_ok(&e, "rotation status pending");
    assert_false(json_is_true(json_object_get(e.body, "KeyRotationEnabled")));
    t_members(e.body, "rotation status pending", "KeyRotationEnabled,KeyId");
    /* UpdateAlias may not point at a key pending deletion */
    t_new_key(&e, "T", "");
    t_call(&e, "CreateAlias", "{\"AliasName\":\"alias/ua\",\"TargetKeyId\":\"{T}\"}");
    t_ok(&e, "alias");
    t_call(&e, "UpdateAlias", "{\"AliasName\":\"alias/ua\",\"TargetKeyId\":\"{A}\"}");
    char msg[300];
    snprintf(msg, sizeof(msg), "%s is pending deletion.", t_get(&e, "A"));
    t_err(&e, "update alias to pending", "KMSInvalidStateException", msg);
    t_close(&e);
}

/* Asymmetric and HMAC keys follow the same crypto-group rules. */
static void test_other_kinds(void **state)
{
    (void)state;
    struct t_env e;
    t_open(&e, 1.0);
    struct {
        const char *members, *op, *body;
    } rows2[] = {
        {"\"KeySpec\":\"ECC_NIST_P256\",\"KeyUsage\":\"SIGN_VERIFY\"", "Sign",
         "{\"KeyId\":\"{A}\",\"Message\":\"AA==\",\"SigningAlgorithm\":\"ECDSA_SHA_256\"}"},
        {"\"KeySpec\":\"ECC_NIST_P256\",\"KeyUsage\":\"SIGN_VERIFY\"", "GetPublicKey",
         "{\"KeyId\":\"{A}\"}"},
        {"\"KeySpec\":\"HMAC_256\",\"KeyUsage\":\"GENERATE_VERIFY_MAC\"", "GenerateMac",
         "{\"KeyId\":\"{A}\",\"Message\":\"AA==\",\"MacAlgorithm\":\"HMAC_SHA_256\"}"},
    };
    for (size_t i = 0; i < sizeof(rows2) / sizeof(rows2[0]); i++) {
        t_new_key(&e, "Y", rows2[i].members);
        t_set(&e, "A", t_get(&e, "Y_ARN"));
        t_call(&e, rows2[i].op, rows2[i].body);
        expect_cell(&e, rows2[i].op, "OK");
        t_call(&e, "DisableKey", "{\"KeyId\":\"{A}\"}");
        t_call(&e, rows2[i].op, rows2[i].body);
        expect_cell(&e, rows2[i].op, "DIS");
        t_call(&e, "ScheduleKeyDeletion", "{\"KeyId\":\"{A}\"}");
        t_call(&e, rows2[i].op, rows2[i].body);
        expect_cell(&e, rows2[i].op, "PD");
        /* rotation is for symmetric keys only */
        t_call(&e, "RotateKeyOnDemand", "{\"KeyId\":\"{A}\"}");
        t_err(&e, "rotate asymmetric", "KMSInvalidStateException", NULL);
    }
    t_new_key(&e, "Z", "\"KeySpec\":\"HMAC_224\",\"KeyUsage\":\"GENERATE_VERIFY_MAC\"");
    t_call(&e, "RotateKeyOnDemand", "{\"KeyId\":\"{Z}\"}");
    t_err(&e, "rotate hmac", "UnsupportedOperationException", "");
    t_call(&e, "EnableKeyRotation", "{\"KeyId\":\"{Z}\"}");
    t_err(&e, "enable rotation hmac", "UnsupportedOperationException", NULL);
    t_close(&e);
}

int run_state_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_table),
        cmocka_unit_test(test_transitions),
        cmocka_unit_test(test_other_kinds),
    };
    return cmocka_run_group_tests_name("kms_states", tests, NULL, NULL);
}
