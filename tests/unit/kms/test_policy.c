/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Authorization (spec/kms-api.md §7): key policies (principals incl. the
 * account root, action wildcards, explicit Deny, conditions) and grants
 * (operations, constraints, revoke/retire), as an allow/deny table.
 */
#include "test_kms.h"

struct who {
    const char *arn, *account, *role;
};

static const struct who ADMIN = {T_ADMIN, T_ACCOUNT, NULL};
static const struct who ALICE = {"arn:aws:iam::111122223333:user/alice", T_ACCOUNT, NULL};
static const struct who BOB = {"arn:aws:iam::111122223333:user/bob", T_ACCOUNT, NULL};
static const struct who CAROL = {"arn:aws:iam::111122223333:user/carol", T_ACCOUNT, NULL};
static const struct who EVE = {"arn:aws:iam::444455556666:user/eve", "444455556666", NULL};
static const struct who ROLE = {"arn:aws:sts::111122223333:assumed-role/App/task-1", T_ACCOUNT,
                                "arn:aws:iam::111122223333:role/App"};

#define ADMIN_ALLOW                                                                                \
    "{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:user/admin\"},"      \
    "\"Action\":\"kms:*\",\"Resource\":\"*\"}"
#define ROOT_ALLOW                                                                                 \
    "{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:root\"},"            \
    "\"Action\":\"kms:*\",\"Resource\":\"*\"}"

static const char P_ALICE[] =
    "{\"Statement\":[" ADMIN_ALLOW ",{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::"
    "111122223333:user/alice\"},\"Action\":[\"kms:Encrypt\",\"kms:Describe*\"],\"Resource\":"
    "\"*\"}]}";
static const char P_DENY_BOB[] =
    "{\"Statement\":[" ROOT_ALLOW ",{\"Effect\":\"Deny\",\"Principal\":{\"AWS\":[\"arn:aws:iam::"
    "111122223333:user/bob\"]},\"Action\":\"kms:Decrypt\",\"Resource\":\"*\"}]}";
static const char P_ROLE[] =
    "{\"Statement\":[" ADMIN_ALLOW ",{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::"
    "111122223333:role/App\"},\"Action\":[\"kms:Decrypt\",\"kms:Encrypt\"],\"Resource\":\"*\"}]}";
static const char P_STAR[] = "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":"
                             "\"kms:DescribeKey\",\"Resource\":\"*\"}}";
static const char P_COND[] =
    "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:"
    "user/alice\"},\"Action\":\"kms:Encrypt\",\"Resource\":\"*\",\"Condition\":{\"StringEquals\":"
    "{\"kms:EncryptionContext:app\":\"lab\"}}}]}";
static const char P_LOWER[] = "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":"
                              "\"111122223333\"},\"Action\":\"KMS:encrypt\",\"Resource\":\"*\"}]}";
static const char P_RES_ANY[] =
    "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:"
    "user/alice\"},\"Action\":\"kms:Encrypt\",\"Resource\":\"arn:aws:kms:us-east-1:111122223333:"
    "key/*\"}]}";
static const char P_RES_OTHER[] =
    "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:"
    "user/alice\"},\"Action\":\"kms:Encrypt\",\"Resource\":\"arn:aws:kms:us-east-1:111122223333:"
    "key/other\"}]}";
static const char P_GDK[] =
    "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:"
    "user/alice\"},\"Action\":\"kms:GenerateDataKey*\",\"Resource\":\"*\"}]}";
static const char P_NOTACTION[] =
    "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:"
    "user/alice\"},\"NotAction\":\"kms:Decrypt\",\"Resource\":\"*\"}]}";
static const char P_UNKNOWN_COND[] =
    "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"111122223333\"},\"Action\":"
    "\"kms:*\",\"Resource\":\"*\",\"Condition\":{\"Bool\":{\"aws:SecureTransport\":\"true\"}}}]}";

static const char ENC[] = "{\"KeyId\":\"{K}\",\"Plaintext\":\"AA==\"}";
static const char DEC[] = "{\"CiphertextBlob\":\"{CT}\"}";
static const char DESC[] = "{\"KeyId\":\"{K}\"}";

struct row {
    const char *name;
    const char *policy; /* NULL = the default policy */
    const struct who *who;
    const char *op;
    const char *body;
    const char *expect; /* OK | DENY | XDENY */
};

static const struct row rows[] = {
    {"default: admin", NULL, &ADMIN, "Encrypt", ENC, "OK"},
    {"default: same-account user", NULL, &ALICE, "Encrypt", ENC, "OK"},
    {"default: assumed role", NULL, &ROLE, "Decrypt", DEC, "OK"},
    {"default: other account", NULL, &EVE, "Encrypt", ENC, "DENY"},
    {"alice: encrypt", P_ALICE, &ALICE, "Encrypt", ENC, "OK"},
    {"alice: describe via Describe*", P_ALICE, &ALICE, "DescribeKey", DESC, "OK"},
    {"alice: decrypt not granted", P_ALICE, &ALICE, "Decrypt", DEC, "DENY"},
    {"alice: bob not named", P_ALICE, &BOB, "Encrypt", ENC, "DENY"},
    {"deny bob: decrypt", P_DENY_BOB, &BOB, "Decrypt", DEC, "XDENY"},
    {"deny bob: encrypt still allowed", P_DENY_BOB, &BOB, "Encrypt", ENC, "OK"},
    {"deny bob: alice decrypts", P_DENY_BOB, &ALICE, "Decrypt", DEC, "OK"},
    {"role: session of the role", P_ROLE, &ROLE, "Decrypt", DEC, "OK"},
    {"role: other user", P_ROLE, &ALICE, "Decrypt", DEC, "DENY"},
    {"star: anyone describes", P_STAR, &EVE, "DescribeKey", DESC, "OK"},
    {"star: only describe", P_STAR, &EVE, "Encrypt", ENC, "DENY"},
    {"condition: matching context", P_COND, &ALICE, "Encrypt",
     "{\"KeyId\":\"{K}\",\"Plaintext\":\"AA==\",\"EncryptionContext\":{\"app\":\"lab\"}}", "OK"},
    {"condition: other value", P_COND, &ALICE, "Encrypt",
     "{\"KeyId\":\"{K}\",\"Plaintext\":\"AA==\",\"EncryptionContext\":{\"app\":\"x\"}}", "DENY"},
    {"condition: no context", P_COND, &ALICE, "Encrypt", ENC, "DENY"},
    {"actions are case-insensitive", P_LOWER, &BOB, "Encrypt", ENC, "OK"},
    {"resource pattern", P_RES_ANY, &ALICE, "Encrypt", ENC, "OK"},
    {"resource names another key", P_RES_OTHER, &ALICE, "Encrypt", ENC, "DENY"},
    {"GenerateDataKey*: without plaintext", P_GDK, &ALICE, "GenerateDataKeyWithoutPlaintext",
     "{\"KeyId\":\"{K}\",\"NumberOfBytes\":8}", "OK"},
    {"GenerateDataKey*: plain", P_GDK, &ALICE, "GenerateDataKey",
     "{\"KeyId\":\"{K}\",\"NumberOfBytes\":8}", "OK"},
    {"GenerateDataKey*: not encrypt", P_GDK, &ALICE, "Encrypt", ENC, "DENY"},
    {"NotAction: encrypt", P_NOTACTION, &ALICE, "Encrypt", ENC, "OK"},
    {"NotAction: decrypt", P_NOTACTION, &ALICE, "Decrypt", DEC, "DENY"},
    {"unevaluated condition never applies", P_UNKNOWN_COND, &ALICE, "Encrypt", ENC, "DENY"},
};

static void as(struct t_env *e, const struct who *w)
{
    e->caller.arn = w->arn;
    e->caller.account = w->account;
    e->caller.role_arn = w->role;
}

static void put_policy(struct t_env *e, const char *policy, bool bypass)
{
    json_t *b = json_pack("{s:s,s:s,s:b}", "KeyId", t_get(e, "K"), "Policy", policy,
                          "BypassPolicyLockoutSafetyCheck", bypass);
    char *s = json_dumps(b, JSON_COMPACT);
    t_call_raw(e, "PutKeyPolicy", s, strlen(s));
    free(s);
    json_decref(b);
}

static const char *op_action(const char *op)
{
    return op;
}

static void expect(struct t_env *e, const char *row, const char *op, const char *want,
                   const struct who *w)
{
    if (strcmp(want, "OK") == 0) {
        t_ok(e, row);
        assert_null(e->res.trail_error_code);
        return;
    }
    char msg[600];
    if (strcmp(want, "DENY") == 0)
        snprintf(msg, sizeof(msg),
                 "User: %s is not authorized to perform: kms:%s on resource: %s because no "
                 "resource-based policy allows the kms:%s action",
                 w->arn, op_action(op), t_get(e, "K_ARN"), op_action(op));
    else
        snprintf(msg, sizeof(msg),
                 "User: %s is not authorized to perform: kms:%s on resource: %s with an explicit "
                 "deny in a resource-based policy",
                 w->arn, op_action(op), t_get(e, "K_ARN"));
    t_err(e, row, "AccessDeniedException", msg);
    /* CloudTrail's short code for authorization failures */
    assert_string_equal(e->res.trail_error_code, "AccessDenied");
    assert_non_null(e->res.resources);
}

static void test_policy_table(void **state)
{
    (void)state;
    struct t_env e;
    t_open(&e, 1.0);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *r = &rows[i];
        as(&e, &ADMIN);
        t_new_key(&e, "K", "");
        t_call(&e, "Encrypt", ENC);
        t_set(&e, "CT", t_field(&e, "CiphertextBlob"));
        if (r->policy) {
            put_policy(&e, r->policy, true);
            t_ok(&e, r->name);
        }
        as(&e, r->who);
        t_call(&e, r->op, r->body);
        expect(&e, r->name, r->op, r->expect, r->who);
    }
    t_close(&e);
}

static void create_grant(struct t_env *e, const char *name, const char *body)
{
    t_call(e, "CreateGrant", body);
    t_ok(e, name);
    char v[64];
    snprintf(v, sizeof(v), "%s_TOK", name);
    t_set(e, v, t_field(e, "GrantToken"));
    t_set(e, name, t_field(e, "GrantId"));
    assert_int_equal(strlen(t_get(e, name)), 64);
}

static void test_grants(void **state)
{
    (void)state;
    struct t_env e;
    t_open(&e, 1.0);
    t_new_key(&e, "K", "");
    t_call(&e, "Encrypt",
           "{\"KeyId\":\"{K}\",\"Plaintext\":\"AA==\",\"EncryptionContext\":{\"app\":\"lab\","
           "\"x\":\"1\"}}");
    t_set(&e, "CTX2", t_field(&e, "CiphertextBlob"));
    t_call(&e, "Encrypt",
           "{\"KeyId\":\"{K}\",\"Plaintext\":\"AA==\",\"EncryptionContext\":{\"app\":\"lab\"}}");
    t_set(&e, "CTX1", t_field(&e, "CiphertextBlob"));
    t_call(&e, "Encrypt", ENC);
    t_set(&e, "CT", t_field(&e, "CiphertextBlob"));
    put_policy(&e, "{\"Statement\":[" ADMIN_ALLOW "]}", false);
    t_ok(&e, "admin-only policy");

    as(&e, &BOB);
    t_call(&e, "Encrypt", ENC);
    expect(&e, "bob before grant", "Encrypt", "DENY", &BOB);
    t_call(&e, "CreateGrant",
           "{\"KeyId\":\"{K}\",\"GranteePrincipal\":\"x\",\"Operations\":"
           "[\"Decrypt\"]}");
    expect(&e, "bob cannot create grants", "CreateGrant", "DENY", &BOB);

    as(&e, &ADMIN);
    create_grant(&e, "G1",
                 "{\"KeyId\":\"{K}\",\"GranteePrincipal\":\"arn:aws:iam::111122223333:user/bob\","
                 "\"Operations\":[\"Encrypt\",\"DescribeKey\"],\"RetiringPrincipal\":\"arn:aws:"
                 "iam::111122223333:user/carol\"}");
    create_grant(&e, "G2",
                 "{\"KeyId\":\"{K}\",\"GranteePrincipal\":\"arn:aws:iam::111122223333:user/"
                 "alice\",\"Operations\":[\"Decrypt\"],\"Constraints\":{"
                 "\"EncryptionContextSubset\":{\"app\":\"lab\"}}}");
    create_grant(&e, "G3",
                 "{\"KeyId\":\"{K}\",\"GranteePrincipal\":\"arn:aws:iam::111122223333:user/"
                 "carol\",\"Operations\":[\"Decrypt\"],\"Constraints\":{"
                 "\"EncryptionContextEquals\":{\"app\":\"lab\"}}}");
    create_grant(&e, "G4",
                 "{\"KeyId\":\"{K}\",\"GranteePrincipal\":\"arn:aws:iam::111122223333:role/App\","
                 "\"Operations\":[\"Decrypt\",\"CreateGrant\"]}");

    struct {
        const char *name;
        const struct who *who;
        const char *op, *body, *expect;
    } g[] = {
        {"grant: bob encrypts", &BOB, "Encrypt", ENC, "OK"},
        {"grant: bob describes", &BOB, "DescribeKey", DESC, "OK"},
        {"grant: bob may not decrypt", &BOB, "Decrypt", DEC, "DENY"},
        {"subset: context with extra pair", &ALICE, "Decrypt",
         "{\"CiphertextBlob\":\"{CTX2}\",\"EncryptionContext\":{\"app\":\"lab\",\"x\":\"1\"}}",
         "OK"},
        {"subset: no context", &ALICE, "Decrypt", DEC, "DENY"},
        {"equals: exact context", &CAROL, "Decrypt",
         "{\"CiphertextBlob\":\"{CTX1}\",\"EncryptionContext\":{\"app\":\"lab\"}}", "OK"},
        {"equals: extra pair", &CAROL, "Decrypt",
         "{\"CiphertextBlob\":\"{CTX2}\",\"EncryptionContext\":{\"app\":\"lab\",\"x\":\"1\"}}",
         "DENY"},
        {"role grantee: session decrypts", &ROLE, "Decrypt", DEC, "OK"},
        {"role grantee: CreateGrant via grant", &ROLE, "CreateGrant",
         "{\"KeyId\":\"{K}\",\"GranteePrincipal\":\"arn:aws:iam::111122223333:user/dave\","
         "\"Operations\":[\"Decrypt\"]}",
         "OK"},
        {"other account: nothing", &EVE, "Encrypt", ENC, "DENY"},
    };
    for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
        as(&e, g[i].who);
        t_call(&e, g[i].op, g[i].body);
        expect(&e, g[i].name, g[i].op, g[i].expect, g[i].who);
    }

    /* revoke ends the grant at once */
    as(&e, &ADMIN);
    t_call(&e, "RevokeGrant", "{\"KeyId\":\"{K}\",\"GrantId\":\"{G2}\"}");
    t_ok(&e, "revoke");
    t_call(&e, "RevokeGrant", "{\"KeyId\":\"{K}\",\"GrantId\":\"{G2}\"}");
    t_err(&e, "revoke twice", "InvalidGrantIdException", "");
    as(&e, &ALICE);
    t_call(&e, "Decrypt",
           "{\"CiphertextBlob\":\"{CTX2}\",\"EncryptionContext\":{\"app\":\"lab\",\"x\":\"1\"}}");
    expect(&e, "after revoke", "Decrypt", "DENY", &ALICE);

    /* retire: not by another account; yes by the retiring principal */
    as(&e, &EVE);
    t_call(&e, "RetireGrant", "{\"GrantToken\":\"{G1_TOK}\"}");
    expect(&e, "retire by other account", "RetireGrant", "DENY", &EVE);
    as(&e, &CAROL);
    t_call(&e, "RetireGrant", "{\"GrantToken\":\"{G1_TOK}\"}");
    t_ok(&e, "retire by retiring principal");
    assert_null(e.res.request_parameters);
    assert_string_equal(json_string_value(json_object_get(e.res.additional_event_data, "grantId")),
                        t_get(&e, "G1"));
    t_call(&e, "RetireGrant", "{\"GrantToken\":\"{G1_TOK}\"}");
    t_err(&e, "retire twice", "InvalidGrantTokenException", "");
    t_call(&e, "RetireGrant", "{\"GrantToken\":\"bm90LWEtdG9rZW4\"}");
    t_err(&e, "forged token", "InvalidGrantTokenException", "");
    t_call(&e, "RetireGrant", "{\"KeyId\":\"{K_ARN}\",\"GrantId\":\"{G3}\"}");
    t_ok(&e, "retire by id");
    t_call(&e, "RetireGrant", "{\"GrantId\":\"{G3}\"}");
    t_err(&e, "retire without key", "ValidationException",
          "Grant token OR (grant ID, key ID) must be specified");
    as(&e, &BOB);
    t_call(&e, "Encrypt", ENC);
    expect(&e, "after retire", "Encrypt", "DENY", &BOB);

    /* a grant named twice with the same parameters is the same grant */
    as(&e, &ADMIN);
    const char *named = "{\"KeyId\":\"{K}\",\"GranteePrincipal\":\"arn:aws:iam::111122223333:"
                        "user/bob\",\"Operations\":[\"Encrypt\"],\"Name\":\"n1\"}";
    create_grant(&e, "N1", named);
    create_grant(&e, "N2", named);
    assert_string_equal(t_get(&e, "N1"), t_get(&e, "N2"));
    assert_string_not_equal(t_get(&e, "N1_TOK"), t_get(&e, "N2_TOK"));
    /* operations must fit the key */
    t_call(&e, "CreateGrant",
           "{\"KeyId\":\"{K}\",\"GranteePrincipal\":\"arn:aws:iam::"
           "111122223333:user/bob\",\"Operations\":[\"Sign\"]}");
    t_err(&e, "sign on a symmetric key", "ValidationException", NULL);
    t_close(&e);
}

static void test_lockout_and_off(void **state)
{
    (void)state;
    struct t_env e;
    t_open(&e, 1.0);
    t_new_key(&e, "K", "");
    put_policy(&e, P_STAR, false);
    t_err(&e, "lockout check", "MalformedPolicyDocumentException",
          "The new key policy will not allow you to update the key policy in the future.");
    put_policy(&e, "{\"Statement\":[{\"Effect\":\"Allow\"}]}", true);
    t_err(&e, "no principal", "MalformedPolicyDocumentException", NULL);
    put_policy(&e, "not json", true);
    t_err(&e, "not json", "MalformedPolicyDocumentException", NULL);
    put_policy(&e, "{\"Version\":\"2012-10-17\"}", true);
    t_err(&e, "no statement", "MalformedPolicyDocumentException", NULL);
    put_policy(&e, P_STAR, true);
    t_ok(&e, "bypass");
    t_call(&e, "GetKeyPolicy", DESC);
    expect(&e, "locked out", "GetKeyPolicy", "DENY", &ADMIN);
    /* CreateKey runs the same lockout check on its Policy */
    json_t *b = json_pack("{s:s}", "Policy", P_STAR);
    char *s = json_dumps(b, JSON_COMPACT);
    t_call_raw(&e, "CreateKey", s, strlen(s));
    t_err(&e, "create key lockout", "MalformedPolicyDocumentException", NULL);
    free(s);
    json_decref(b);

    /* authorization off: the locked-out key answers anyone */
    e.opts.authz_off = true;
    t_reopen(&e);
    as(&e, &EVE);
    t_call(&e, "Encrypt", ENC);
    t_ok(&e, "authz off");
    /* no caller: trusted internal use */
    e.opts.authz_off = false;
    t_reopen(&e);
    e.caller.arn = NULL;
    t_call(&e, "Encrypt", ENC);
    t_ok(&e, "no caller");
    t_close(&e);
}

int run_policy_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_table),
        cmocka_unit_test(test_grants),
        cmocka_unit_test(test_lockout_and_off),
    };
    return cmocka_run_group_tests_name("kms_policy", tests, NULL, NULL);
}
