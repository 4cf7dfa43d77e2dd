/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Limits, validation texts and hostile input: every row names the AWS error
 * and, where KMS's text is known, the exact message. Huge, malformed and
 * mistyped bodies must come back as AWS errors, never as a crash.
 */
#include "test_kms.h"

struct row {
    const char *name;
    const char *op;
    const char *body;
    const char *code;
    const char *msg; /* NULL = any, "" = none */
};

#define V1 "1 validation error detected: "

static const struct row rows[] = {
    /* model constraints, AWS's texts (spec §1.6) */
    {"plaintext too long", "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"{P4097}\"}",
     "ValidationException",
     V1 "Value at 'plaintext' failed to satisfy constraint: Member must have length less than or "
        "equal to 4096"},
    {"plaintext just past the limit, unpadded", "Encrypt",
     "{\"KeyId\":\"{K}\",\"Plaintext\":\"{P4098}\"}", "ValidationException", NULL},
    {"plaintext at the limit", "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"{P4096}\"}", NULL,
     NULL},
    {"plaintext empty", "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"\"}", "ValidationException",
     V1 "Value at 'plaintext' failed to satisfy constraint: Member must have length greater than "
        "or equal to 1"},
    {"random too many", "GenerateRandom", "{\"NumberOfBytes\":1025}", "ValidationException",
     V1 "Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value "
        "less than or equal to 1024"},
    {"random zero", "GenerateRandom", "{\"NumberOfBytes\":0}", "ValidationException",
     V1 "Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value "
        "greater than or equal to 1"},
    {"random missing", "GenerateRandom", "{}", "ValidationException", "NumberOfBytes is required."},
    {"key usage enum", "CreateKey", "{\"KeyUsage\":\"RANDOM\"}", "ValidationException",
     V1 "Value 'RANDOM' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum "
        "value set: [ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC]"},
    {"key id null", "DescribeKey", "{}", "ValidationException",
     V1 "Value null at 'keyId' failed to satisfy constraint: Member must not be null"},
    {"key id null (json null)", "DescribeKey", "{\"KeyId\":null}", "ValidationException",
     V1 "Value null at 'keyId' failed to satisfy constraint: Member must not be null"},
    {"two errors", "Encrypt", "{\"Plaintext\":\"\"}", "ValidationException",
     "2 validation errors detected: Value null at 'keyId' failed to satisfy constraint: Member "
     "must not be null; Value at 'plaintext' failed to satisfy constraint: Member must have "
     "length greater than or equal to 1"},
    {"mac algorithm enum", "GenerateMac",
     "{\"KeyId\":\"{H}\",\"Message\":\"AA==\",\"MacAlgorithm\":\"HMAC_MD5\"}",
     "ValidationException",
     V1 "Value 'HMAC_MD5' at 'macAlgorithm' failed to satisfy constraint: Member must satisfy "
        "enum value set: [HMAC_SHA_384, HMAC_SHA_256, HMAC_SHA_224, HMAC_SHA_512]"},
    {"deletion window too short", "ScheduleKeyDeletion",
     "{\"KeyId\":\"{K}\",\"PendingWindowInDays\":6}", "ValidationException",
     V1 "Value '6' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value "
        "greater than or equal to 7"},
    {"deletion window too long", "ScheduleKeyDeletion",
     "{\"KeyId\":\"{K}\",\"PendingWindowInDays\":31}", "ValidationException", NULL},
    {"rotation period", "EnableKeyRotation", "{\"KeyId\":\"{K}\",\"RotationPeriodInDays\":89}",
     "ValidationException", NULL},
    {"list limit", "ListKeys", "{\"Limit\":1001}", "ValidationException", NULL},
    {"bad marker", "ListKeys", "{\"Marker\":\"!!!!\"}", "InvalidMarkerException", NULL},
    {"description too long", "CreateKey", "{\"Description\":\"{D8193}\"}", "ValidationException",
     NULL},
    {"grant tokens: too many", "Encrypt",
     "{\"KeyId\":\"{K}\",\"Plaintext\":\"AA==\",\"GrantTokens\":[\"a\",\"a\",\"a\",\"a\",\"a\","
     "\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]}",
     "ValidationException", NULL},
    {"context too large", "Encrypt",
     "{\"KeyId\":\"{K}\",\"Plaintext\":\"AA==\",\"EncryptionContext\":{\"k\":\"{D8193}\"}}",
     "ValidationException", NULL},
    {"data key: both", "GenerateDataKey",
     "{\"KeyId\":\"{K}\",\"KeySpec\":\"AES_256\",\"NumberOfBytes\":32}", "ValidationException",
     "Please specify either number of bytes or key spec."},
    {"data key: neither", "GenerateDataKey", "{\"KeyId\":\"{K}\"}", "ValidationException",
     "Please specify either number of bytes or key spec."},
    {"data key: 1025", "GenerateDataKey", "{\"KeyId\":\"{K}\",\"NumberOfBytes\":1025}",
     "ValidationException", NULL},
    {"ciphertext too long", "Decrypt", "{\"CiphertextBlob\":\"{P6145}\"}", "ValidationException",
     V1 "Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length less "
        "than or equal to 6144"},
    /* identifiers (spec §2.3) */
    {"invalid key id", "DescribeKey", "{\"KeyId\":\"abc\"}", "NotFoundException",
     "Invalid keyId 'abc'"},
    {"unknown key", "DescribeKey", "{\"KeyId\":\"11111111-2222-4333-8444-555555555555\"}",
     "NotFoundException",
     "Key 'arn:aws:kms:us-east-1:111122223333:key/11111111-2222-4333-8444-555555555555' does "
     "not exist"},
    {"unknown alias", "DescribeKey", "{\"KeyId\":\"alias/nope\"}", "NotFoundException",
     "Alias arn:aws:kms:us-east-1:111122223333:alias/nope is not found."},
    {"other region", "DescribeKey", "{\"KeyId\":\"arn:aws:kms:eu-west-1:111122223333:key/{K}\"}",
     "NotFoundException", "Invalid arn eu-west-1"},
    {"other account", "DescribeKey", "{\"KeyId\":\"arn:aws:kms:us-east-1:444455556666:key/{K}\"}",
     "NotFoundException", NULL},
    {"not a kms arn", "DescribeKey", "{\"KeyId\":\"arn:aws:s3:::bucket\"}", "NotFoundException",
     NULL},
    {"alias where only ids go", "EnableKey", "{\"KeyId\":\"alias/k\"}", "NotFoundException",
     "Invalid keyId 'alias/k'"},
    {"alias arn where only ids go", "EnableKey",
     "{\"KeyId\":\"arn:aws:kms:us-east-1:111122223333:alias/k\"}", "InvalidArnException",
     "Key Aliases are not supported for this operation."},
    {"key id too long", "DescribeKey", "{\"KeyId\":\"{D2049}\"}", "ValidationException", NULL},
    /* aliases and tags */
    {"alias prefix", "CreateAlias", "{\"AliasName\":\"nope\",\"TargetKeyId\":\"{K}\"}",
     "ValidationException",
     "Alias must start with the prefix \"alias/\". Please see "
     "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"},
    {"alias pattern", "CreateAlias", "{\"AliasName\":\"alias/a b\",\"TargetKeyId\":\"{K}\"}",
     "ValidationException",
     V1 "Value 'alias/a b' at 'aliasName' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern: ^[a-zA-Z0-9:/_-]+$"},
    {"alias reserved", "CreateAlias", "{\"AliasName\":\"alias/aws/x\",\"TargetKeyId\":\"{K}\"}",
     "NotAuthorizedException", ""},
    {"alias exists", "CreateAlias", "{\"AliasName\":\"alias/k\",\"TargetKeyId\":\"{K}\"}",
     "AlreadyExistsException",
     "An alias with the name arn:aws:kms:us-east-1:111122223333:alias/k already exists"},
    {"delete unknown alias", "DeleteAlias", "{\"AliasName\":\"alias/zz\"}", "NotFoundException",
     "Alias arn:aws:kms:us-east-1:111122223333:alias/zz is not found."},
    {"update alias across kinds", "UpdateAlias",
     "{\"AliasName\":\"alias/k\",\"TargetKeyId\":\"{H}\"}", "ValidationException", NULL},
    {"tag aws prefix", "TagResource",
     "{\"KeyId\":\"{K}\",\"Tags\":[{\"TagKey\":\"AWS:x\",\"TagValue\":\"v\"}]}", "TagException",
     "Tags beginning with aws: are reserved"},
    {"tag duplicates", "TagResource",
     "{\"KeyId\":\"{K}\",\"Tags\":[{\"TagKey\":\"a\",\"TagValue\":\"1\"},{\"TagKey\":\"a\","
     "\"TagValue\":\"2\"}]}",
     "TagException", "Duplicate tag keys"},
    {"tag key missing", "TagResource", "{\"KeyId\":\"{K}\",\"Tags\":[{\"TagValue\":\"1\"}]}",
     "ValidationException",
     V1 "Value null at 'tags.1.member.tagKey' failed to satisfy constraint: Member must not be "
        "null"},
    {"too many tags", "TagResource", "{\"KeyId\":\"{K}\",\"Tags\":{TAGS51}}", "TagException",
     "Too many tags"},
    /* key specs and usages */
    {"asymmetric without usage", "CreateKey", "{\"KeySpec\":\"RSA_2048\"}", "ValidationException",
     "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."},
    {"spec and usage mismatch", "CreateKey",
     "{\"KeySpec\":\"HMAC_256\",\"KeyUsage\":\"ENCRYPT_DECRYPT\"}", "ValidationException", NULL},
    {"out-of-scope spec", "CreateKey", "{\"KeySpec\":\"ML_DSA_44\",\"KeyUsage\":\"SIGN_VERIFY\"}",
     "UnsupportedOperationException", NULL},
    {"custom key store", "CreateKey", "{\"CustomKeyStoreId\":\"cks-1\"}",
     "UnsupportedOperationException", NULL},
    {"policy over quota", "CreateKey", "{\"Policy\":\"{D32769}\"}", "LimitExceededException", NULL},
    {"encrypt with hmac key", "Encrypt", "{\"KeyId\":\"{H}\",\"Plaintext\":\"AA==\"}",
     "InvalidKeyUsageException",
     "{H_ARN} key usage is GENERATE_VERIFY_MAC which is not valid for "
     "Encrypt."},
    {"sign with symmetric key", "Sign",
     "{\"KeyId\":\"{K}\",\"Message\":\"AA==\",\"SigningAlgorithm\":\"ECDSA_SHA_256\"}",
     "InvalidKeyUsageException",
     "{K_ARN} key usage is ENCRYPT_DECRYPT which is not valid for Sign."},
    {"mac algorithm vs spec", "GenerateMac",
     "{\"KeyId\":\"{H224}\",\"Message\":\"AA==\",\"MacAlgorithm\":\"HMAC_SHA_256\"}",
     "InvalidKeyUsageException", "Algorithm HMAC_SHA_256 is incompatible with key spec HMAC_224."},
    {"signing algorithm vs spec", "Sign",
     "{\"KeyId\":\"{E}\",\"Message\":\"AA==\",\"SigningAlgorithm\":\"ECDSA_SHA_384\"}",
     "InvalidKeyUsageException",
     "Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256."},
    {"digest length", "Sign",
     "{\"KeyId\":\"{E}\",\"Message\":\"AA==\",\"MessageType\":\"DIGEST\",\"SigningAlgorithm\":"
     "\"ECDSA_SHA_256\"}",
     "ValidationException", "Digest is invalid length for algorithm ECDSA_SHA_256."},
    {"bad signature", "Verify",
     "{\"KeyId\":\"{E}\",\"Message\":\"AA==\",\"Signature\":\"AAAA\",\"SigningAlgorithm\":"
     "\"ECDSA_SHA_256\"}",
     "KMSInvalidSignatureException", ""},
    {"bad mac", "VerifyMac",
     "{\"KeyId\":\"{H}\",\"Message\":\"AA==\",\"Mac\":\"AAAA\",\"MacAlgorithm\":\"HMAC_SHA_256\"}",
     "KMSInvalidMacException", ""},
    {"rsa plaintext limit", "Encrypt",
     "{\"KeyId\":\"{RE}\",\"Plaintext\":\"{P191}\",\"EncryptionAlgorithm\":\"RSAES_OAEP_SHA_256\"}",
     "ValidationException",
     "Algorithm RSAES_OAEP_SHA_256 and key spec RSA_2048 cannot encrypt data larger than 190 "
     "bytes."},
    {"rsa plaintext at limit", "Encrypt",
     "{\"KeyId\":\"{RE}\",\"Plaintext\":\"{P214}\",\"EncryptionAlgorithm\":\"RSAES_OAEP_SHA_1\"}",
     NULL, NULL},
    {"rsa without algorithm", "Encrypt", "{\"KeyId\":\"{RE}\",\"Plaintext\":\"AA==\"}",
     "ValidationException", NULL},
    {"rsa with symmetric algorithm", "Encrypt",
     "{\"KeyId\":\"{RE}\",\"Plaintext\":\"AA==\",\"EncryptionAlgorithm\":\"SYMMETRIC_DEFAULT\"}",
     "InvalidKeyUsageException",
     "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048."},
    {"oaep with symmetric key", "Encrypt",
     "{\"KeyId\":\"{K}\",\"Plaintext\":\"AA==\",\"EncryptionAlgorithm\":\"RSAES_OAEP_SHA_1\"}",
     "InvalidKeyUsageException",
     "Algorithm RSAES_OAEP_SHA_1 is incompatible with key spec SYMMETRIC_DEFAULT."},
    {"rsa key id and garbage", "Decrypt",
     "{\"KeyId\":\"{RE}\",\"CiphertextBlob\":\"AAAA\",\"EncryptionAlgorithm\":\"RSAES_OAEP_SHA_"
     "1\"}",
     "InvalidCiphertextException", ""},
    {"public key of symmetric key", "GetPublicKey", "{\"KeyId\":\"{K}\"}",
     "UnsupportedOperationException", NULL},
    {"data key with rsa", "GenerateDataKey", "{\"KeyId\":\"{RE}\",\"NumberOfBytes\":8}",
     "InvalidKeyUsageException", NULL},
    {"dry run", "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"AA==\",\"DryRun\":true}",
     "DryRunOperationException", "The request would have succeeded, but the DryRun option is set."},
    {"dry run decrypt ignoring ciphertext", "Decrypt",
     "{\"KeyId\":\"{K}\",\"DryRun\":true,\"DryRunModifiers\":[\"IGNORE_CIPHERTEXT\"]}",
     "DryRunOperationException", NULL},
    {"dry run checks first", "Encrypt",
     "{\"KeyId\":\"alias/nope\",\"Plaintext\":\"AA==\",\"DryRun\":true}", "NotFoundException",
     NULL},
    {"recipient", "Decrypt", "{\"CiphertextBlob\":\"AAAA\",\"Recipient\":{}}",
     "UnsupportedOperationException", NULL},
    {"unsupported operation", "ImportKeyMaterial", "{}", "UnsupportedOperationException",
     "Operation ImportKeyMaterial is not supported by this emulator."},
    /* hostile bodies */
    {"not json", "ListKeys", "{nope", "SerializationException", NULL},
    {"array body", "ListKeys", "[]", "SerializationException", NULL},
    {"string body", "ListKeys", "\"x\"", "SerializationException", NULL},
    {"key id is a number", "DescribeKey", "{\"KeyId\":5}", "SerializationException", NULL},
    {"key id is an object", "DescribeKey", "{\"KeyId\":{}}", "SerializationException", NULL},
    {"limit is a string", "ListKeys", "{\"Limit\":\"5\"}", "SerializationException",
     "STRING_VALUE can not be converted to an Integer"},
    {"limit is fractional", "ListKeys", "{\"Limit\":5.5}", "SerializationException", NULL},
    {"limit beyond int32", "ListKeys", "{\"Limit\":99999999999}", "SerializationException", NULL},
    {"bool is a string", "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"AA==\",\"DryRun\":\"yes\"}",
     "SerializationException", NULL},
    {"bad base64", "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"a$==\"}",
     "SerializationException", NULL},
    {"base64 without padding", "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"AA\"}",
     "SerializationException", NULL},
    {"base64 padding inside", "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"AA==AAAA\"}",
     "SerializationException", NULL},
    {"base64 with newline", "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"AAAA\\nAAAA\"}",
     "SerializationException", NULL},
    {"huge base64", "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"{HUGE}\"}",
     "ValidationException", NULL},
    {"huge bad base64", "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"{HUGEBAD}\"}",
     "SerializationException", NULL},
    {"context value not a string", "Encrypt",
     "{\"KeyId\":\"{K}\",\"Plaintext\":\"AA==\",\"EncryptionContext\":{\"a\":1}}",
     "SerializationException", NULL},
    {"context is a list", "Encrypt",
     "{\"KeyId\":\"{K}\",\"Plaintext\":\"AA==\",\"EncryptionContext\":[\"a\"]}",
     "SerializationException", NULL},
    {"tags not a list", "TagResource", "{\"KeyId\":\"{K}\",\"Tags\":{}}", "SerializationException",
     NULL},
    {"nul in key id", "DescribeKey", "{\"KeyId\":\"ab\\u0000cd\"}", "SerializationException", NULL},
    {"invalid utf-8", "DescribeKey", "{\"KeyId\":\"\xff\xfe\"}", "SerializationException", NULL},
    {"deep nesting", "DescribeKey", "{DEEP}", "SerializationException", NULL},
    {"unknown members ignored", "ListKeys", "{\"Foo\":{\"Bar\":[1,2]},\"Limit\":1}", NULL, NULL},
    {"empty body means {}", "ListKeys", "", NULL, NULL},
};

static char *repeat(const char *unit, size_t n)
{
    size_t l = strlen(unit);
    char *s = malloc(l * n + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * l, unit, l);
    s[l * n] = '\0';
    return s;
}

static void set_blob_var(struct t_env *e, const char *name, size_t bytes)
{
    /* base64 of `bytes` zero bytes */
    size_t groups = bytes / 3, rem = bytes % 3;
    char *s = repeat("AAAA", groups + (rem ? 1 : 0));
    if (rem == 1)
        memcpy(s + groups * 4 + 2, "==", 2);
    else if (rem == 2)
        s[groups * 4 + 3] = '=';
    t_set(e, name, s);
    free(s);
}

static void setup(struct t_env *e)
{
    t_new_key(e, "K", "");
    t_new_key(e, "H", "\"KeySpec\":\"HMAC_256\",\"KeyUsage\":\"GENERATE_VERIFY_MAC\"");
    t_new_key(e, "H224", "\"KeySpec\":\"HMAC_224\",\"KeyUsage\":\"GENERATE_VERIFY_MAC\"");
    t_new_key(e, "E", "\"KeySpec\":\"ECC_NIST_P256\",\"KeyUsage\":\"SIGN_VERIFY\"");
    t_new_key(e, "RE", "\"KeySpec\":\"RSA_2048\",\"KeyUsage\":\"ENCRYPT_DECRYPT\"");
    t_call(e, "CreateAlias", "{\"AliasName\":\"alias/k\",\"TargetKeyId\":\"{K}\"}");
    t_ok(e, "alias");
    set_blob_var(e, "P4096", 4096);
    set_blob_var(e, "P4097", 4097);
    set_blob_var(e, "P4098", 4098);
    set_blob_var(e, "P6145", 6145);
    set_blob_var(e, "P191", 191);
    set_blob_var(e, "P214", 214);
    char *s = repeat("x", 8193);
    t_set(e, "D8193", s);
    free(s);
    s = repeat("x", 2049);
    t_set(e, "D2049", s);
    free(s);
    s = repeat("x", 32769);
    t_set(e, "D32769", s);
    free(s);
    s = repeat("AAAA", 250000); /* ~1 MB of valid base64 */
    t_set(e, "HUGE", s);
    s[999999] = '*';
    t_set(e, "HUGEBAD", s);
    free(s);
    char tags[51 * 40 + 8] = "[";
    for (int i = 0; i < 51; i++) {
        char t[48];
        snprintf(t, sizeof(t), "%s{\"TagKey\":\"t%d\",\"TagValue\":\"v\"}", i ? "," : "", i);
        strncat(tags, t, sizeof(tags) - strlen(tags) - 1);
    }
    strncat(tags, "]", sizeof(tags) - strlen(tags) - 1);
    t_set(e, "TAGS51", tags);
    char *open = repeat("[", 5000), *close = repeat("]", 5000);
    char *deep = malloc(10100);
    snprintf(deep, 10100, "\"KeyId\":%s%s", open, close);
    t_set(e, "DEEP", deep);
    free(open);
    free(close);
    free(deep);
}

static void test_limits_table(void **state)
{
    (void)state;
    struct t_env e;
    t_open(&e, 1.0);
    setup(&e);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *r = &rows[i];
        t_call(&e, r->op, r->body);
        if (!r->code) {
            t_ok(&e, r->name);
            continue;
        }
        char *msg = r->msg ? t_expand(&e, r->msg) : NULL;
        t_err(&e, r->name, r->code, msg);
        free(msg);
        assert_int_equal(e.res.http_status, 400);
    }
    /* an unknown operation */
    t_call(&e, "NoSuchOperation", "{}");
    t_err(&e, "unknown operation", "UnknownOperationException", "");
    assert_false(kms_op_known("NoSuchOperation"));
    assert_true(kms_op_known("Decrypt"));
    assert_true(kms_op_known("ReplicateKey"));
    kms_call(e.svc, NULL, NULL, 0, NULL, e.now, &e.res);
    assert_string_equal(e.res.error_code, "UnknownOperationException");
    /* a body with a NUL byte inside */
    static const char nul_body[] = "{\"Limit\":1}\0garbage";
    t_call_raw(&e, "ListKeys", nul_body, sizeof(nul_body) - 1);
    t_err(&e, "nul byte", "SerializationException", NULL);
    t_close(&e);
}

/* Every operation with garbage members of every JSON type: errors, never a
 * crash (the fuzz target's smaller cousin). */
static void test_mistyped_everything(void **state)
{
    (void)state;
    static const char *const ops[] = {"CancelKeyDeletion",
                                      "CreateAlias",
                                      "CreateGrant",
                                      "CreateKey",
                                      "Decrypt",
                                      "DeleteAlias",
                                      "DescribeKey",
                                      "DisableKey",
                                      "DisableKeyRotation",
                                      "EnableKey",
                                      "EnableKeyRotation",
                                      "Encrypt",
                                      "GenerateDataKey",
                                      "GenerateDataKeyPair",
                                      "GenerateDataKeyPairWithoutPlaintext",
                                      "GenerateDataKeyWithoutPlaintext",
                                      "GenerateMac",
                                      "GenerateRandom",
                                      "GetKeyPolicy",
                                      "GetKeyRotationStatus",
                                      "GetPublicKey",
                                      "ListAliases",
                                      "ListGrants",
                                      "ListKeyPolicies",
                                      "ListKeyRotations",
                                      "ListKeys",
                                      "ListResourceTags",
                                      "ListRetirableGrants",
                                      "PutKeyPolicy",
                                      "ReEncrypt",
                                      "RetireGrant",
                                      "RevokeGrant",
                                      "RotateKeyOnDemand",
                                      "ScheduleKeyDeletion",
                                      "Sign",
                                      "TagResource",
                                      "UntagResource",
                                      "UpdateAlias",
                                      "UpdateKeyDescription",
                                      "Verify",
                                      "VerifyMac"};
    static const char *const members[] = {"KeyId",
                                          "Plaintext",
                                          "CiphertextBlob",
                                          "EncryptionContext",
                                          "GrantTokens",
                                          "Limit",
                                          "Marker",
                                          "Tags",
                                          "TagKeys",
                                          "AliasName",
                                          "TargetKeyId",
                                          "Policy",
                                          "Operations",
                                          "Constraints",
                                          "GranteePrincipal",
                                          "NumberOfBytes",
                                          "KeySpec",
                                          "Message",
                                          "Signature",
                                          "Mac",
                                          "MacAlgorithm",
                                          "SigningAlgorithm",
                                          "MessageType",
                                          "DryRun",
                                          "GrantToken",
                                          "GrantId",
                                          "DestinationKeyId",
                                          "SourceKeyId",
                                          "PendingWindowInDays",
                                          "KeyPairSpec",
                                          "Description",
                                          "RotationPeriodInDays",
                                          "DryRunModifiers",
                                          "IncludeKeyMaterial"};
    static const char *const values[] = {"1",    "-1",   "2.5",        "true",
                                         "null", "\"\"", "\"x\"",      "[]",
                                         "[1]",  "{}",   "{\"a\":[]}", "\"alias/aws/zz\""};
    struct t_env e;
    t_open(&e, 1.0);
    t_new_key(&e, "K", "");
    for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
        for (size_t m = 0; m < sizeof(members) / sizeof(members[0]); m++) {
            for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
                t_callf(&e, ops[o], "{\"KeyId\":\"%s\",\"%s\":%s}", t_get(&e, "K"), members[m],
                        values[v]);
                assert_true(e.res.http_status == 200 || e.res.http_status == 400);
                assert_non_null(e.res.event_name);
                assert_string_equal(e.res.event_name, ops[o]);
                if (e.res.http_status == 400)
                    assert_non_null(e.res.error_code);
                /* the key may have been scheduled for deletion or disabled */
                t_call(&e, "CancelKeyDeletion", "{\"KeyId\":\"{K}\"}");
                t_call(&e, "EnableKey", "{\"KeyId\":\"{K}\"}");
            }
        }
    }
    t_close(&e);
}

int run_limit_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits_table),
        cmocka_unit_test(test_mistyped_everything),
    };
    return cmocka_run_group_tests_name("kms_limits", tests, NULL, NULL);
}
