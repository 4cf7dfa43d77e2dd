/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CloudTrail parts of each response (spec/cloudtrail-kms-events.md):
 * eventName, readOnly, requestParameters (lowerCamel, as sent, secrets never,
 * defaults KMS adds), responseElements (null for reads, crypto and every
 * failure), resources (omitted when nothing resolved), additionalEventData
 * and the recorded errorCode, compared as golden JSON.
 */
#include "test_kms.h"

struct row {
    const char *name;
    const char *op;
    const char *body;
    const char *capture; /* "Path.To.Member=VAR[,...]" from the response body */
    const char *golden;  /* expected parts; {VAR} expands */
};

#define RES(v) "{\"accountId\":\"111122223333\",\"type\":\"AWS::KMS::Key\",\"ARN\":\"{" v "}\"}"

static const struct row rows[] = {
    {"CreateKey", "CreateKey",
     "{\"Description\":\"lab key\",\"Tags\":[{\"TagKey\":\"a\","
     "\"TagValue\":\"b\"}]}",
     "KeyMetadata.KeyId=NK,KeyMetadata.Arn=NK_ARN,KeyMetadata.CurrentKeyMaterialId=NM",
     "{\"eventName\":\"CreateKey\",\"readOnly\":false,\"requestParameters\":{\"description\":"
     "\"lab key\",\"tags\":[{\"tagKey\":\"a\",\"tagValue\":\"b\"}],\"keyUsage\":"
     "\"ENCRYPT_DECRYPT\",\"keySpec\":\"SYMMETRIC_DEFAULT\",\"customerMasterKeySpec\":"
     "\"SYMMETRIC_DEFAULT\",\"origin\":\"AWS_KMS\",\"bypassPolicyLockoutSafetyCheck\":false,"
     "\"multiRegion\":false},\"responseElements\":{\"keyMetadata\":{\"aWSAccountId\":"
     "\"111122223333\",\"keyId\":\"{NK}\",\"arn\":\"{NK_ARN}\",\"creationDate\":\"Jan 15, 2024, "
     "10:00:00 AM\",\"enabled\":true,\"description\":\"lab key\",\"keyUsage\":\"ENCRYPT_DECRYPT\","
     "\"keyState\":\"Enabled\",\"origin\":\"AWS_KMS\",\"keyManager\":\"CUSTOMER\","
     "\"customerMasterKeySpec\":\"SYMMETRIC_DEFAULT\",\"keySpec\":\"SYMMETRIC_DEFAULT\","
     "\"encryptionAlgorithms\":[\"SYMMETRIC_DEFAULT\"],\"multiRegion\":false,"
     "\"currentKeyMaterialId\":\"{NM}\"}},\"resources\":[" RES("NK_ARN") "]}"},
    {"Encrypt by alias", "Encrypt",
     "{\"KeyId\":\"alias/lab-key\",\"Plaintext\":\"aGk=\",\"EncryptionAlgorithm\":"
     "\"SYMMETRIC_DEFAULT\",\"EncryptionContext\":{\"Department\":\"Engineering\"},"
     "\"GrantTokens\":[\"t\"]}",
     "CiphertextBlob=CT",
     "{\"eventName\":\"Encrypt\",\"readOnly\":true,\"requestParameters\":{\"keyId\":"
     "\"alias/lab-key\",\"encryptionAlgorithm\":\"SYMMETRIC_DEFAULT\",\"encryptionContext\":{"
     "\"Department\":\"Engineering\"}},\"resources\":[" RES("K_ARN") "]}"},
    {"Encrypt, algorithm not sent", "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"aGk=\"}", NULL,
     "{\"eventName\":\"Encrypt\",\"readOnly\":true,\"requestParameters\":{\"keyId\":\"{K}\"},"
     "\"resources\":[" RES("K_ARN") "]}"},
    {"Decrypt", "Decrypt",
     "{\"KeyId\":\"{K}\",\"CiphertextBlob\":\"{CT}\",\"EncryptionContext\":{\"Department\":"
     "\"Engineering\"}}",
     NULL,
     "{\"eventName\":\"Decrypt\",\"readOnly\":true,\"requestParameters\":{\"keyId\":\"{K}\","
     "\"encryptionAlgorithm\":\"SYMMETRIC_DEFAULT\",\"encryptionContext\":{\"Department\":"
     "\"Engineering\"}},\"resources\":[" RES("K_ARN") "]}"},
    {"Decrypt IncorrectKeyException (the lab)", "Decrypt",
     "{\"KeyId\":\"some-random-false-key\",\"CiphertextBlob\":\"{CT}\"}", NULL,
     "{\"eventName\":\"Decrypt\",\"readOnly\":true,\"errorCode\":\"IncorrectKeyException\","
     "\"requestParameters\":{\"keyId\":\"some-random-false-key\",\"encryptionAlgorithm\":"
     "\"SYMMETRIC_DEFAULT\"}}"},
    {"Decrypt IncorrectKeyException, existing key", "Decrypt",
     "{\"KeyId\":\"{K2}\",\"CiphertextBlob\":\"{CT}\"}", NULL,
     "{\"eventName\":\"Decrypt\",\"readOnly\":true,\"errorCode\":\"IncorrectKeyException\","
     "\"requestParameters\":{\"keyId\":\"{K2}\",\"encryptionAlgorithm\":\"SYMMETRIC_DEFAULT\"},"
     "\"resources\":[" RES("K2_ARN") "]}"},
    {"Decrypt InvalidCiphertextException", "Decrypt",
     "{\"CiphertextBlob\":\"{CT}\",\"EncryptionContext\":{\"Department\":\"Finance\"}}", NULL,
     "{\"eventName\":\"Decrypt\",\"readOnly\":true,\"errorCode\":\"InvalidCiphertextException\","
     "\"requestParameters\":{\"encryptionAlgorithm\":\"SYMMETRIC_DEFAULT\",\"encryptionContext\":"
     "{\"Department\":\"Finance\"}},\"resources\":[" RES("K_ARN") "]}"},
    {"DescribeKey NotFoundException", "DescribeKey",
     "{\"KeyId\":\"11111111-2222-4333-8444-555555555555\"}", NULL,
     "{\"eventName\":\"DescribeKey\",\"readOnly\":true,\"errorCode\":\"NotFoundException\","
     "\"requestParameters\":{\"keyId\":\"11111111-2222-4333-8444-555555555555\"}}"},
    {"DisableKey", "DisableKey", "{\"KeyId\":\"{K3}\"}", NULL,
     "{\"eventName\":\"DisableKey\",\"readOnly\":false,\"requestParameters\":{\"keyId\":\"{K3}\"},"
     "\"resources\":[" RES("K3_ARN") "]}"},
    {"Encrypt DisabledException", "Encrypt", "{\"KeyId\":\"{K3}\",\"Plaintext\":\"aGk=\"}", NULL,
     "{\"eventName\":\"Encrypt\",\"readOnly\":true,\"errorCode\":\"DisabledException\","
     "\"requestParameters\":{\"keyId\":\"{K3}\"},\"resources\":[" RES("K3_ARN") "]}"},
    {"GenerateDataKey", "GenerateDataKey",
     "{\"KeyId\":\"{K_ARN}\",\"KeySpec\":\"AES_256\",\"EncryptionContext\":{\"aws:s3:arn\":"
     "\"arn:aws:s3:::lab-bucket/report.csv\"}}",
     NULL,
     "{\"eventName\":\"GenerateDataKey\",\"readOnly\":true,\"requestParameters\":{\"keyId\":"
     "\"{K_ARN}\",\"keySpec\":\"AES_256\",\"encryptionContext\":{\"aws:s3:arn\":\"arn:aws:s3:::"
     "lab-bucket/report.csv\"}},\"resources\":[" RES("K_ARN") "]}"},
    {"ScheduleKeyDeletion", "ScheduleKeyDeletion", "{\"KeyId\":\"{K2}\",\"PendingWindowInDays\":7}",
     NULL,
     "{\"eventName\":\"ScheduleKeyDeletion\",\"readOnly\":false,\"requestParameters\":{\"keyId\":"
     "\"{K2}\",\"pendingWindowInDays\":7},\"responseElements\":{\"keyId\":\"{K2_ARN}\","
     "\"keyState\":\"PendingDeletion\",\"deletionDate\":\"Jan 22, 2024, 10:00:00 AM\","
     "\"pendingWindowInDays\":7},\"resources\":[" RES("K2_ARN") "]}"},
    {"GenerateDataKey KMSInvalidStateException", "GenerateDataKey",
     "{\"KeyId\":\"{K2}\",\"KeySpec\":\"AES_256\"}", NULL,
     "{\"eventName\":\"GenerateDataKey\",\"readOnly\":true,\"errorCode\":"
     "\"KMSInvalidStateException\",\"requestParameters\":{\"keyId\":\"{K2}\",\"keySpec\":"
     "\"AES_256\"},\"resources\":[" RES("K2_ARN") "]}"},
    {"CancelKeyDeletion", "CancelKeyDeletion", "{\"KeyId\":\"{K2}\"}", NULL,
     "{\"eventName\":\"CancelKeyDeletion\",\"readOnly\":false,\"requestParameters\":{\"keyId\":"
     "\"{K2}\"},\"responseElements\":{\"keyId\":\"{K2_ARN}\"},\"resources\":[" RES("K2_ARN") "]}"},
    {"EnableKey", "EnableKey", "{\"KeyId\":\"{K2_ARN}\"}", NULL,
     "{\"eventName\":\"EnableKey\",\"readOnly\":false,\"requestParameters\":{\"keyId\":"
     "\"{K2_ARN}\"},\"resources\":[" RES("K2_ARN") "]}"},
    {"CreateGrant", "CreateGrant",
     "{\"KeyId\":\"{K}\",\"GranteePrincipal\":\"arn:aws:iam::111122223333:user/bob\","
     "\"Operations\":[\"Decrypt\"],\"Constraints\":{\"EncryptionContextSubset\":{\"Dept\":"
     "\"x\"}},\"GrantTokens\":[\"t\"]}",
     "GrantId=G",
     "{\"eventName\":\"CreateGrant\",\"readOnly\":false,\"requestParameters\":{\"keyId\":\"{K}\","
     "\"granteePrincipal\":\"arn:aws:iam::111122223333:user/bob\",\"operations\":[\"Decrypt\"],"
     "\"constraints\":{\"encryptionContextSubset\":{\"Dept\":\"x\"}}},\"responseElements\":{"
     "\"grantId\":\"{G}\"},\"resources\":[" RES("K_ARN") "]}"},
    {"RetireGrant", "RetireGrant", "{\"KeyId\":\"{K_ARN}\",\"GrantId\":\"{G}\"}", NULL,
     "{\"eventName\":\"RetireGrant\",\"readOnly\":false,\"additionalEventData\":{\"grantId\":"
     "\"{G}\"},\"resources\":[" RES("K_ARN") "]}"},
    {"GenerateRandom", "GenerateRandom", "{\"NumberOfBytes\":16}", NULL,
     "{\"eventName\":\"GenerateRandom\",\"readOnly\":true}"},
    {"ListKeys", "ListKeys", "{}", NULL, "{\"eventName\":\"ListKeys\",\"readOnly\":true}"},
    {"ListKeys with limit", "ListKeys", "{\"Limit\":10}", NULL,
     "{\"eventName\":\"ListKeys\",\"readOnly\":true,\"requestParameters\":{\"limit\":10}}"},
    {"UpdateAlias", "UpdateAlias", "{\"AliasName\":\"alias/lab-key\",\"TargetKeyId\":\"{K2}\"}",
     NULL,
     "{\"eventName\":\"UpdateAlias\",\"readOnly\":false,\"requestParameters\":{\"aliasName\":"
     "\"alias/lab-key\",\"targetKeyId\":\"{K2}\"},\"resources\":[{\"accountId\":"
     "\"111122223333\",\"type\":\"AWS::KMS::Key\",\"ARN\":\"" T_ARN_PREFIX
     "alias/lab-key\"}," RES("K2_ARN") "]}"},
    {"ReEncrypt", "ReEncrypt",
     "{\"CiphertextBlob\":\"{CT}\",\"DestinationKeyId\":\"{K2}\","
     "\"SourceEncryptionContext\":{\"Department\":\"Engineering\"}}",
     NULL,
     "{\"eventName\":\"ReEncrypt\",\"readOnly\":true,\"requestParameters\":{"
     "\"destinationKeyId\":\"{K2}\",\"sourceEncryptionAlgorithm\":\"SYMMETRIC_DEFAULT\","
     "\"destinationEncryptionAlgorithm\":\"SYMMETRIC_DEFAULT\",\"sourceEncryptionContext\":{"
     "\"Department\":\"Engineering\"}},\"resources\":[" RES("K_ARN") "," RES("K2_ARN") "]}"},
    {"TagResource", "TagResource",
     "{\"KeyId\":\"{K}\",\"Tags\":[{\"TagKey\":\"CostCenter\",\"TagValue\":\"87654\"}]}", NULL,
     "{\"eventName\":\"TagResource\",\"readOnly\":false,\"requestParameters\":{\"keyId\":\"{K}\","
     "\"tags\":[{\"tagKey\":\"CostCenter\",\"tagValue\":\"87654\"}]},\"resources\":[" RES(
         "K_ARN") "]}"},
    {"PutKeyPolicy", "PutKeyPolicy",
     "{\"KeyId\":\"{K}\",\"Policy\":\"{\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\","
     "\\\"Principal\\\":\\\"*\\\",\\\"Action\\\":\\\"kms:*\\\"}]}\",\"PolicyName\":\"default\"}",
     NULL,
     "{\"eventName\":\"PutKeyPolicy\",\"readOnly\":false,\"requestParameters\":{\"keyId\":\"{K}\","
     "\"policyName\":\"default\",\"policy\":\"{\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\","
     "\\\"Principal\\\":\\\"*\\\",\\\"Action\\\":\\\"kms:*\\\"}]}\"},\"resources\":[" RES(
         "K_ARN") "]}"},
    {"Sign", "Sign",
     "{\"KeyId\":\"{E}\",\"Message\":\"aGk=\",\"SigningAlgorithm\":\"ECDSA_SHA_256\"}", NULL,
     "{\"eventName\":\"Sign\",\"readOnly\":true,\"requestParameters\":{\"keyId\":\"{E}\","
     "\"signingAlgorithm\":\"ECDSA_SHA_256\"},\"resources\":[" RES("E_ARN") "]}"},
    {"RotateKeyOnDemand", "RotateKeyOnDemand", "{\"KeyId\":\"{K}\"}", NULL,
     "{\"eventName\":\"RotateKeyOnDemand\",\"readOnly\":false,\"requestParameters\":{\"keyId\":"
     "\"{K}\"},\"responseElements\":{\"keyId\":\"{K_ARN}\"},\"resources\":[" RES("K_ARN") "]}"},
    {"validation failure", "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"\"}", NULL,
     "{\"eventName\":\"Encrypt\",\"readOnly\":true,\"errorCode\":\"ValidationException\","
     "\"requestParameters\":{\"keyId\":\"{K}\"}}"},
    {"unsupported operation", "ImportKeyMaterial",
     "{\"KeyId\":\"{K}\",\"ImportToken\":\"AAAA\",\"ExpirationModel\":\"KEY_MATERIAL_DOES_NOT_"
     "EXPIRE\"}",
     NULL,
     "{\"eventName\":\"ImportKeyMaterial\",\"readOnly\":false,\"errorCode\":"
     "\"UnsupportedOperationException\",\"requestParameters\":{\"keyId\":\"{K}\","
     "\"expirationModel\":\"KEY_MATERIAL_DOES_NOT_EXPIRE\"}}"},
    {"malformed body", "Decrypt", "{", NULL,
     "{\"eventName\":\"Decrypt\",\"readOnly\":true,\"errorCode\":\"SerializationException\"}"},
};

static json_t *actual_parts(const struct t_env *e)
{
    const struct kms_response *r = &e->res;
    json_t *o = json_object();
    json_object_set_new(o, "eventName", json_string(r->event_name));
    json_object_set_new(o, "readOnly", json_boolean(r->read_only));
    const char *code = r->trail_error_code ? r->trail_error_code : r->error_code;
    if (code)
        json_object_set_new(o, "errorCode", json_string(code));
    if (r->request_parameters)
        json_object_set(o, "requestParameters", r->request_parameters);
    if (r->response_elements)
        json_object_set(o, "responseElements", r->response_elements);
    if (r->resources)
        json_object_set(o, "resources", r->resources);
    if (r->additional_event_data)
        json_object_set(o, "additionalEventData", r->additional_event_data);
    return o;
}

static void capture(struct t_env *e, const char *spec)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", spec);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        *eq = '\0';
        const json_t *v = e->body;
        char *save2 = NULL;
        for (char *p = strtok_r(t, ".", &save2); p; p = strtok_r(NULL, ".", &save2))
            v = json_object_get(v, p);
        assert_non_null(json_string_value(v));
        t_set(e, eq + 1, json_string_value(v));
    }
}

static void test_trail_golden(void **state)
{
    (void)state;
    struct t_env e;
    t_open(&e, 1.0);
    t_new_key(&e, "K", "");
    t_new_key(&e, "K2", "");
    t_new_key(&e, "K3", "");
    t_new_key(&e, "E", "\"KeySpec\":\"ECC_NIST_P256\",\"KeyUsage\":\"SIGN_VERIFY\"");
    t_call(&e, "CreateAlias", "{\"AliasName\":\"alias/lab-key\",\"TargetKeyId\":\"{K}\"}");
    t_ok(&e, "alias");
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *r = &rows[i];
        t_call(&e, r->op, r->body);
        if (r->capture)
            capture(&e, r->capture);
        char *g = t_expand(&e, r->golden);
        json_error_t err;
        json_t *want = json_loads(g, 0, &err);
        if (!want)
            print_error("row '%s': golden is not JSON: %s\n%s\n", r->name, err.text, g);
        assert_non_null(want);
        json_t *got = actual_parts(&e);
        if (!json_equal(want, got)) {
            char *a = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
            char *b = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
            print_error("row '%s':\n  want %s\n  got  %s\n", r->name, b, a);
            free(a);
            free(b);
            fail();
        }
        /* responseElements are null on every failure (§2.3) */
        if (e.res.error_code)
            assert_null(e.res.response_elements);
        json_decref(want);
        json_decref(got);
        free(g);
    }
    /* AccessDenied: the trail records the short code */
    e.caller.arn = "arn:aws:iam::444455556666:user/eve";
    e.caller.account = "444455556666";
    t_call(&e, "Encrypt", "{\"KeyId\":\"alias/lab-key\",\"Plaintext\":\"aGk=\"}");
    assert_string_equal(e.res.error_code, "AccessDeniedException");
    assert_string_equal(e.res.trail_error_code, "AccessDenied");
    assert_int_equal(json_array_size(e.res.resources), 1);
    t_close(&e);
}

int run_trail_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trail_golden),
    };
    return cmocka_run_group_tests_name("kms_trail", tests, NULL, NULL);
}
