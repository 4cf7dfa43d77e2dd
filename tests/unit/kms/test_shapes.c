/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every operation's success shape: a scripted session of rows, each giving
 * the exact set of top-level members KMS returns (absent ones omitted; ""
 * means the empty body of operations without output), plus KeyMetadata per
 * key kind and an independent OpenSSL check of signatures and public keys.
 */
#include "test_kms.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

struct step {
    const char *name;
    const char *op;
    const char *body;
    const char *members; /* "" = empty body */
    const char *capture; /* "Member=VAR" */
};

static const struct step steps[] = {
    {"describe", "DescribeKey", "{\"KeyId\":\"{K}\"}", "KeyMetadata", NULL},
    {"describe by arn", "DescribeKey", "{\"KeyId\":\"{K_ARN}\"}", "KeyMetadata", NULL},
    {"list keys", "ListKeys", "", "Keys,Truncated", NULL},
    {"list keys limit", "ListKeys", "{\"Limit\":1}", "Keys,Truncated,NextMarker", NULL},
    {"encrypt", "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"aGVsbG8=\"}",
     "CiphertextBlob,KeyId,EncryptionAlgorithm", "CiphertextBlob=CT"},
    {"decrypt", "Decrypt", "{\"CiphertextBlob\":\"{CT}\"}",
     "KeyId,Plaintext,EncryptionAlgorithm,KeyMaterialId", NULL},
    {"decrypt with key id", "Decrypt", "{\"CiphertextBlob\":\"{CT}\",\"KeyId\":\"{K}\"}",
     "KeyId,Plaintext,EncryptionAlgorithm,KeyMaterialId", NULL},
    {"reencrypt", "ReEncrypt", "{\"CiphertextBlob\":\"{CT}\",\"DestinationKeyId\":\"{K2}\"}",
     "CiphertextBlob,SourceKeyId,KeyId,SourceEncryptionAlgorithm,DestinationEncryptionAlgorithm,"
     "SourceKeyMaterialId,DestinationKeyMaterialId",
     "CiphertextBlob=CT2"},
    {"decrypt reencrypted", "Decrypt", "{\"CiphertextBlob\":\"{CT2}\"}",
     "KeyId,Plaintext,EncryptionAlgorithm,KeyMaterialId", NULL},
    {"data key", "GenerateDataKey", "{\"KeyId\":\"{K}\",\"KeySpec\":\"AES_256\"}",
     "CiphertextBlob,Plaintext,KeyId,KeyMaterialId", NULL},
    {"data key no plaintext", "GenerateDataKeyWithoutPlaintext",
     "{\"KeyId\":\"{K}\",\"NumberOfBytes\":64}", "CiphertextBlob,KeyId,KeyMaterialId", NULL},
    {"data key pair", "GenerateDataKeyPair",
     "{\"KeyId\":\"{K}\",\"KeyPairSpec\":\"ECC_NIST_P256\"}",
     "PrivateKeyCiphertextBlob,PrivateKeyPlaintext,PublicKey,KeyId,KeyPairSpec,KeyMaterialId",
     NULL},
    {"data key pair no plaintext", "GenerateDataKeyPairWithoutPlaintext",
     "{\"KeyId\":\"{K}\",\"KeyPairSpec\":\"RSA_2048\"}",
     "PrivateKeyCiphertextBlob,PublicKey,KeyId,KeyPairSpec,KeyMaterialId", NULL},
    {"random", "GenerateRandom", "{\"NumberOfBytes\":32}", "Plaintext", NULL},
    {"create alias", "CreateAlias", "{\"AliasName\":\"alias/shape\",\"TargetKeyId\":\"{K}\"}", "",
     NULL},
    {"encrypt by alias", "Encrypt", "{\"KeyId\":\"alias/shape\",\"Plaintext\":\"AA==\"}",
     "CiphertextBlob,KeyId,EncryptionAlgorithm", NULL},
    {"encrypt by alias arn", "Encrypt",
     "{\"KeyId\":\"" T_ARN_PREFIX "alias/shape\",\"Plaintext\":\"AA==\"}",
     "CiphertextBlob,KeyId,EncryptionAlgorithm", NULL},
    {"list aliases", "ListAliases", "{}", "Aliases,Truncated", NULL},
    {"list aliases of key", "ListAliases", "{\"KeyId\":\"{K}\"}", "Aliases,Truncated", NULL},
    {"update alias", "UpdateAlias", "{\"AliasName\":\"alias/shape\",\"TargetKeyId\":\"{K2}\"}", "",
     NULL},
    {"delete alias", "DeleteAlias", "{\"AliasName\":\"alias/shape\"}", "", NULL},
    {"tag", "TagResource",
     "{\"KeyId\":\"{K}\",\"Tags\":[{\"TagKey\":\"b\",\"TagValue\":\"2\"},{\"TagKey\":\"a\","
     "\"TagValue\":\"1\"}]}",
     "", NULL},
    {"list tags", "ListResourceTags", "{\"KeyId\":\"{K}\"}", "Tags,Truncated", NULL},
    {"list tags paged", "ListResourceTags", "{\"KeyId\":\"{K}\",\"Limit\":1}",
     "Tags,Truncated,NextMarker", "NextMarker=TM"},
    {"list tags next page", "ListResourceTags", "{\"KeyId\":\"{K}\",\"Marker\":\"{TM}\"}",
     "Tags,Truncated", NULL},
    {"untag", "UntagResource", "{\"KeyId\":\"{K}\",\"TagKeys\":[\"a\",\"zz\"]}", "", NULL},
    {"get policy", "GetKeyPolicy", "{\"KeyId\":\"{K}\",\"PolicyName\":\"default\"}",
     "Policy,PolicyName", NULL},
    {"put policy", "PutKeyPolicy",
     "{\"KeyId\":\"{K}\",\"Policy\":\"{\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\","
     "\\\"Principal\\\":{\\\"AWS\\\":\\\"arn:aws:iam::111122223333:root\\\"},\\\"Action\\\":"
     "\\\"kms:*\\\",\\\"Resource\\\":\\\"*\\\"}]}\"}",
     "", NULL},
    {"list policies", "ListKeyPolicies", "{\"KeyId\":\"{K}\"}", "PolicyNames,Truncated", NULL},
    {"enable rotation", "EnableKeyRotation", "{\"KeyId\":\"{K}\",\"RotationPeriodInDays\":90}", "",
     NULL},
    {"rotation status on", "GetKeyRotationStatus", "{\"KeyId\":\"{K}\"}",
     "KeyRotationEnabled,KeyId,RotationPeriodInDays,NextRotationDate", NULL},
    {"rotate on demand", "RotateKeyOnDemand", "{\"KeyId\":\"{K}\"}", "KeyId", NULL},
    {"list rotations", "ListKeyRotations", "{\"KeyId\":\"{K}\"}", "Rotations,Truncated", NULL},
    {"disable rotation", "DisableKeyRotation", "{\"KeyId\":\"{K}\"}", "", NULL},
    {"rotation status off", "GetKeyRotationStatus", "{\"KeyId\":\"{K}\"}",
     "KeyRotationEnabled,KeyId", NULL},
    {"decrypt after rotation", "Decrypt", "{\"CiphertextBlob\":\"{CT}\"}",
     "KeyId,Plaintext,EncryptionAlgorithm,KeyMaterialId", NULL},
    {"create grant", "CreateGrant",
     "{\"KeyId\":\"{K}\",\"GranteePrincipal\":\"arn:aws:iam::111122223333:user/bob\","
     "\"Operations\":[\"Decrypt\",\"Encrypt\"],\"RetiringPrincipal\":\"arn:aws:iam::"
     "111122223333:user/ret\",\"Name\":\"g1\",\"Constraints\":{\"EncryptionContextSubset\":{"
     "\"a\":\"b\"}}}",
     "GrantToken,GrantId", "GrantId=G"},
    {"list grants", "ListGrants", "{\"KeyId\":\"{K}\"}", "Grants,Truncated", NULL},
    {"list retirable", "ListRetirableGrants",
     "{\"RetiringPrincipal\":\"arn:aws:iam::111122223333:user/ret\"}", "Grants,Truncated", NULL},
    {"revoke grant", "RevokeGrant", "{\"KeyId\":\"{K}\",\"GrantId\":\"{G}\"}", "", NULL},
    {"create grant 2", "CreateGrant",
     "{\"KeyId\":\"{K}\",\"GranteePrincipal\":\"arn:aws:iam::111122223333:user/bob\","
     "\"Operations\":[\"Decrypt\"]}",
     "GrantToken,GrantId", "GrantToken=TOK"},
    {"retire grant by token", "RetireGrant", "{\"GrantToken\":\"{TOK}\"}", "", NULL},
    {"sign rsa pss", "Sign",
     "{\"KeyId\":\"{RS}\",\"Message\":\"aGVsbG8=\",\"SigningAlgorithm\":\"RSASSA_PSS_SHA_256\"}",
     "KeyId,Signature,SigningAlgorithm", "Signature=SIG"},
    {"verify rsa pss", "Verify",
     "{\"KeyId\":\"{RS}\",\"Message\":\"aGVsbG8=\",\"Signature\":\"{SIG}\","
     "\"SigningAlgorithm\":\"RSASSA_PSS_SHA_256\"}",
     "KeyId,SignatureValid,SigningAlgorithm", NULL},
    {"sign rsa pkcs1 digest", "Sign",
     "{\"KeyId\":\"{RS}\",\"Message\":\"LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=\","
     "\"MessageType\":\"DIGEST\",\"SigningAlgorithm\":\"RSASSA_PKCS1_V1_5_SHA_256\"}",
     "KeyId,Signature,SigningAlgorithm", "Signature=SIG1"},
    {"verify pkcs1 raw vs digest", "Verify",
     "{\"KeyId\":\"{RS}\",\"Message\":\"aGVsbG8=\",\"Signature\":\"{SIG1}\","
     "\"SigningAlgorithm\":\"RSASSA_PKCS1_V1_5_SHA_256\"}",
     "KeyId,SignatureValid,SigningAlgorithm", NULL},
    {"sign ecdsa", "Sign",
     "{\"KeyId\":\"{E}\",\"Message\":\"aGVsbG8=\",\"SigningAlgorithm\":\"ECDSA_SHA_256\"}",
     "KeyId,Signature,SigningAlgorithm", "Signature=ESIG"},
    {"verify ecdsa digest", "Verify",
     "{\"KeyId\":\"{E}\",\"Message\":\"LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=\","
     "\"MessageType\":\"DIGEST\",\"Signature\":\"{ESIG}\",\"SigningAlgorithm\":\"ECDSA_SHA_256\"}",
     "KeyId,SignatureValid,SigningAlgorithm", NULL},
    {"sign p384", "Sign",
     "{\"KeyId\":\"{E384}\",\"Message\":\"aGVsbG8=\",\"SigningAlgorithm\":\"ECDSA_SHA_384\"}",
     "KeyId,Signature,SigningAlgorithm", NULL},
    {"sign p521", "Sign",
     "{\"KeyId\":\"{E521}\",\"Message\":\"aGVsbG8=\",\"SigningAlgorithm\":\"ECDSA_SHA_512\"}",
     "KeyId,Signature,SigningAlgorithm", NULL},
    {"sign secp256k1", "Sign",
     "{\"KeyId\":\"{EK1}\",\"Message\":\"aGVsbG8=\",\"SigningAlgorithm\":\"ECDSA_SHA_256\"}",
     "KeyId,Signature,SigningAlgorithm", NULL},
    {"mac", "GenerateMac",
     "{\"KeyId\":\"{H}\",\"Message\":\"aGVsbG8=\",\"MacAlgorithm\":\"HMAC_SHA_256\"}",
     "Mac,MacAlgorithm,KeyId", "Mac=MAC"},
    {"verify mac", "VerifyMac",
     "{\"KeyId\":\"{H}\",\"Message\":\"aGVsbG8=\",\"Mac\":\"{MAC}\",\"MacAlgorithm\":"
     "\"HMAC_SHA_256\"}",
     "KeyId,MacValid,MacAlgorithm", NULL},
    {"public key sign", "GetPublicKey", "{\"KeyId\":\"{RS}\"}",
     "KeyId,PublicKey,CustomerMasterKeySpec,KeySpec,KeyUsage,SigningAlgorithms", NULL},
    {"public key encrypt", "GetPublicKey", "{\"KeyId\":\"{RE}\"}",
     "KeyId,PublicKey,CustomerMasterKeySpec,KeySpec,KeyUsage,EncryptionAlgorithms", NULL},
    {"rsa encrypt", "Encrypt",
     "{\"KeyId\":\"{RE}\",\"Plaintext\":\"aGVsbG8=\",\"EncryptionAlgorithm\":"
     "\"RSAES_OAEP_SHA_256\"}",
     "CiphertextBlob,KeyId,EncryptionAlgorithm", "CiphertextBlob=RCT"},
    {"rsa decrypt", "Decrypt",
     "{\"KeyId\":\"{RE}\",\"CiphertextBlob\":\"{RCT}\",\"EncryptionAlgorithm\":"
     "\"RSAES_OAEP_SHA_256\"}",
     "KeyId,Plaintext,EncryptionAlgorithm", NULL},
    {"rsa encrypt sha1", "Encrypt",
     "{\"KeyId\":\"{RE}\",\"Plaintext\":\"aGVsbG8=\",\"EncryptionAlgorithm\":\"RSAES_OAEP_SHA_1\"}",
     "CiphertextBlob,KeyId,EncryptionAlgorithm", "CiphertextBlob=RCT1"},
    {"rsa decrypt sha1", "Decrypt",
     "{\"KeyId\":\"{RE}\",\"CiphertextBlob\":\"{RCT1}\",\"EncryptionAlgorithm\":"
     "\"RSAES_OAEP_SHA_1\"}",
     "KeyId,Plaintext,EncryptionAlgorithm", NULL},
    {"update description", "UpdateKeyDescription", "{\"KeyId\":\"{K}\",\"Description\":\"d2\"}", "",
     NULL},
    {"disable", "DisableKey", "{\"KeyId\":\"{K}\"}", "", NULL},
    {"enable", "EnableKey", "{\"KeyId\":\"{K}\"}", "", NULL},
    {"schedule deletion", "ScheduleKeyDeletion", "{\"KeyId\":\"{K2}\",\"PendingWindowInDays\":7}",
     "KeyId,DeletionDate,KeyState,PendingWindowInDays", NULL},
    {"describe pending", "DescribeKey", "{\"KeyId\":\"{K2}\"}", "KeyMetadata", NULL},
    {"cancel deletion", "CancelKeyDeletion", "{\"KeyId\":\"{K2}\"}", "KeyId", NULL},
};

static void setup_keys(struct t_env *e)
{
    t_new_key(e, "K", "");
    t_new_key(e, "K2", "\"Description\":\"second\"");
    t_new_key(e, "H", "\"KeySpec\":\"HMAC_256\",\"KeyUsage\":\"GENERATE_VERIFY_MAC\"");
    t_new_key(e, "RS", "\"KeySpec\":\"RSA_2048\",\"KeyUsage\":\"SIGN_VERIFY\"");
    t_new_key(e, "RE", "\"KeySpec\":\"RSA_2048\",\"KeyUsage\":\"ENCRYPT_DECRYPT\"");
    t_new_key(e, "E", "\"KeySpec\":\"ECC_NIST_P256\",\"KeyUsage\":\"SIGN_VERIFY\"");
    t_new_key(e, "E384", "\"KeySpec\":\"ECC_NIST_P384\",\"KeyUsage\":\"SIGN_VERIFY\"");
    t_new_key(e, "E521", "\"KeySpec\":\"ECC_NIST_P521\",\"KeyUsage\":\"SIGN_VERIFY\"");
    t_new_key(e, "EK1", "\"KeySpec\":\"ECC_SECG_P256K1\",\"KeyUsage\":\"SIGN_VERIFY\"");
}

static void test_session(void **state)
{
    (void)state;
    struct t_env e;
    t_open(&e, 1.0);
    setup_keys(&e);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        const struct step *s = &steps[i];
        t_call(&e, s->op, s->body);
        t_ok(&e, s->name);
        if (!*s->members) {
            if (e.res.body.len != 0) {
                print_error("row '%s': expected an empty body, got %s\n", s->name, e.res.body.data);
                fail();
            }
        } else {
            t_members(e.body, s->name, s->members);
        }
        assert_string_equal(e.res.event_name, s->op);
        if (s->capture) {
            char m[64];
            const char *eq = strchr(s->capture, '=');
            snprintf(m, sizeof(m), "%.*s", (int)(eq - s->capture), s->capture);
            const char *v = t_field(&e, m);
            assert_non_null(v);
            t_set(&e, eq + 1, v);
        }
    }
    t_close(&e);
}

static void test_plaintext_roundtrip(void **state)
{
    (void)state;
    struct t_env e;
    t_open(&e, 1.0);
    t_new_key(&e, "K", "");
    t_call(&e, "Encrypt",
           "{\"KeyId\":\"{K}\",\"Plaintext\":\"aGVsbG8sIEtNUyE=\",\"EncryptionContext\":{"
           "\"b\":\"2\",\"a\":\"1\"}}");
    t_ok(&e, "encrypt");
    t_set(&e, "CT", t_field(&e, "CiphertextBlob"));
    assert_string_equal(t_field(&e, "KeyId"), t_get(&e, "K_ARN"));
    /* context order does not matter */
    t_call(&e, "Decrypt",
           "{\"CiphertextBlob\":\"{CT}\",\"EncryptionContext\":{\"a\":\"1\",\"b\":\"2\"}}");
    t_ok(&e, "decrypt");
    assert_string_equal(t_field(&e, "Plaintext"), "aGVsbG8sIEtNUyE=");
    assert_string_equal(t_field(&e, "EncryptionAlgorithm"), "SYMMETRIC_DEFAULT");
    assert_int_equal(strlen(t_field(&e, "KeyMaterialId")), 64);
    /* data keys decrypt to their plaintext */
    t_call(&e, "GenerateDataKey", "{\"KeyId\":\"{K}\",\"KeySpec\":\"AES_128\"}");
    t_ok(&e, "data key");
    t_set(&e, "DK", t_field(&e, "Plaintext"));
    t_set(&e, "DKC", t_field(&e, "CiphertextBlob"));
    assert_int_equal(strlen(t_get(&e, "DK")), 24); /* 16 bytes */
    t_call(&e, "Decrypt", "{\"CiphertextBlob\":\"{DKC}\"}");
    t_ok(&e, "decrypt data key");
    assert_string_equal(t_field(&e, "Plaintext"), t_get(&e, "DK"));
    t_call(&e, "GenerateRandom", "{\"NumberOfBytes\":1024}");
    t_ok(&e, "random");
    assert_int_equal(strlen(t_field(&e, "Plaintext")), 1368);
    t_close(&e);
}

struct md_row {
    const char *name;
    const char *members_in; /* CreateKey members */
    const char *members;    /* KeyMetadata members */
    const char *algs_member;
    const char *algs; /* JSON array text */
};

static const struct md_row md_rows[] = {
    {"symmetric", "",
     "AWSAccountId,KeyId,Arn,CreationDate,Enabled,Description,KeyUsage,KeyState,Origin,"
     "KeyManager,CustomerMasterKeySpec,KeySpec,EncryptionAlgorithms,MultiRegion,"
     "CurrentKeyMaterialId",
     "EncryptionAlgorithms", "[\"SYMMETRIC_DEFAULT\"]"},
    {"hmac", "\"KeySpec\":\"HMAC_384\",\"KeyUsage\":\"GENERATE_VERIFY_MAC\"",
     "AWSAccountId,KeyId,Arn,CreationDate,Enabled,Description,KeyUsage,KeyState,Origin,"
     "KeyManager,CustomerMasterKeySpec,KeySpec,MacAlgorithms,MultiRegion",
     "MacAlgorithms", "[\"HMAC_SHA_384\"]"},
    {"rsa sign", "\"CustomerMasterKeySpec\":\"RSA_3072\",\"KeyUsage\":\"SIGN_VERIFY\"",
     "AWSAccountId,KeyId,Arn,CreationDate,Enabled,Description,KeyUsage,KeyState,Origin,"
     "KeyManager,CustomerMasterKeySpec,KeySpec,SigningAlgorithms,MultiRegion",
     "SigningAlgorithms",
     "[\"RSASSA_PKCS1_V1_5_SHA_256\",\"RSASSA_PKCS1_V1_5_SHA_384\",\"RSASSA_PKCS1_V1_5_SHA_512\","
     "\"RSASSA_PSS_SHA_256\",\"RSASSA_PSS_SHA_384\",\"RSASSA_PSS_SHA_512\"]"},
    {"rsa encrypt", "\"KeySpec\":\"RSA_2048\",\"KeyUsage\":\"ENCRYPT_DECRYPT\"",
     "AWSAccountId,KeyId,Arn,CreationDate,Enabled,Description,KeyUsage,KeyState,Origin,"
     "KeyManager,CustomerMasterKeySpec,KeySpec,EncryptionAlgorithms,MultiRegion",
     "EncryptionAlgorithms", "[\"RSAES_OAEP_SHA_1\",\"RSAES_OAEP_SHA_256\"]"},
    {"ecc p384", "\"KeySpec\":\"ECC_NIST_P384\",\"KeyUsage\":\"SIGN_VERIFY\"",
     "AWSAccountId,KeyId,Arn,CreationDate,Enabled,Description,KeyUsage,KeyState,Origin,"
     "KeyManager,CustomerMasterKeySpec,KeySpec,SigningAlgorithms,MultiRegion",
     "SigningAlgorithms", "[\"ECDSA_SHA_384\"]"},
    {"multi-region", "\"MultiRegion\":true",
     "AWSAccountId,KeyId,Arn,CreationDate,Enabled,Description,KeyUsage,KeyState,Origin,"
     "KeyManager,CustomerMasterKeySpec,KeySpec,EncryptionAlgorithms,MultiRegion,"
     "MultiRegionConfiguration,CurrentKeyMaterialId",
     "EncryptionAlgorithms", "[\"SYMMETRIC_DEFAULT\"]"},
    {"external", "\"Origin\":\"EXTERNAL\"",
     "AWSAccountId,KeyId,Arn,CreationDate,Enabled,Description,KeyUsage,KeyState,Origin,"
     "KeyManager,CustomerMasterKeySpec,KeySpec,EncryptionAlgorithms,MultiRegion",
     "EncryptionAlgorithms", "[\"SYMMETRIC_DEFAULT\"]"},
};

static void test_metadata(void **state)
{
    (void)state;
    struct t_env e;
    t_open(&e, 1.0);
    e.now = T_NOW + 512; /* fractional seconds show */
    for (size_t i = 0; i < sizeof(md_rows) / sizeof(md_rows[0]); i++) {
        const struct md_row *row = &md_rows[i];
        t_callf(&e, "CreateKey", "{%s}", row->members_in);
        t_ok(&e, row->name);
        t_members(e.body, row->name, "KeyMetadata");
        const json_t *md = json_object_get(e.body, "KeyMetadata");
        t_members(md, row->name, row->members);
        json_t *want = json_loads(row->algs, 0, NULL);
        assert_true(json_equal(json_object_get(md, row->algs_member), want));
        json_decref(want);
        /* types the SDKs insist on */
        assert_true(json_is_real(json_object_get(md, "CreationDate")));
        assert_true(json_real_value(json_object_get(md, "CreationDate")) == 1705312800.512);
        assert_true(json_is_boolean(json_object_get(md, "Enabled")));
        assert_true(json_is_boolean(json_object_get(md, "MultiRegion")));
        assert_string_equal(json_string_value(json_object_get(md, "AWSAccountId")), T_ACCOUNT);
        assert_string_equal(json_string_value(json_object_get(md, "KeyManager")), "CUSTOMER");
        const char *id = json_string_value(json_object_get(md, "KeyId"));
        char arn[200];
        snprintf(arn, sizeof(arn), T_ARN_PREFIX "key/%s", id);
        assert_string_equal(json_string_value(json_object_get(md, "Arn")), arn);
        if (strcmp(row->name, "multi-region") == 0)
            assert_memory_equal(id, "mrk-", 4);
        else
            assert_int_equal(strlen(id), 36);
        if (strcmp(row->name, "external") == 0) {
            assert_string_equal(json_string_value(json_object_get(md, "KeyState")),
                                "PendingImport");
            assert_false(json_is_true(json_object_get(md, "Enabled")));
        }
    }
    /* the default policy, exactly as KMS pretty-prints it */
    t_new_key(&e, "K", "");
    t_call(&e, "GetKeyPolicy", "{\"KeyId\":\"{K}\"}");
    t_ok(&e, "policy");
    assert_string_equal(t_field(&e, "Policy"),
                        "{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n"
                        "  \"Statement\" : [ {\n    \"Sid\" : \"Enable IAM User Permissions\",\n"
                        "    \"Effect\" : \"Allow\",\n    \"Principal\" : {\n      \"AWS\" : "
                        "\"arn:aws:iam::111122223333:root\"\n    },\n    \"Action\" : \"kms:*\",\n"
                        "    \"Resource\" : \"*\"\n  } ]\n}");
    /* an AWS-managed key appears behind alias/aws/<service> on first use */
    t_call(&e, "Encrypt", "{\"KeyId\":\"alias/aws/s3\",\"Plaintext\":\"AA==\"}");
    t_ok(&e, "managed key");
    t_call(&e, "DescribeKey", "{\"KeyId\":\"alias/aws/s3\"}");
    t_ok(&e, "describe managed");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e.body, "KeyMetadata"), "KeyManager")),
        "AWS");
    t_close(&e);
}

static const unsigned char *b64dec(const char *s, int *len)
{
    static unsigned char buf[8192];
    int n = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)strlen(s));
    size_t l = strlen(s);
    while (l && s[l - 1] == '=') {
        n--;
        l--;
    }
    *len = n;
    return buf;
}

/* Signatures checked with OpenSSL directly against the DER public key. */
static void test_independent_verify(void **state)
{
    (void)state;
    struct t_env e;
    t_open(&e, 1.0);
    struct {
        const char *spec, *alg, *md;
        bool pss;
    } rows[] = {
        {"RSA_2048", "RSASSA_PSS_SHA_256", "SHA256", true},
        {"RSA_2048", "RSASSA_PSS_SHA_512", "SHA512", true},
        {"RSA_2048", "RSASSA_PKCS1_V1_5_SHA_384", "SHA384", false},
        {"ECC_NIST_P256", "ECDSA_SHA_256", "SHA256", false},
        {"ECC_NIST_P521", "ECDSA_SHA_512", "SHA512", false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char m[128];
        snprintf(m, sizeof(m), "\"KeySpec\":\"%s\",\"KeyUsage\":\"SIGN_VERIFY\"", rows[i].spec);
        t_new_key(&e, "S", m);
        t_call(&e, "GetPublicKey", "{\"KeyId\":\"{S}\"}");
        t_ok(&e, rows[i].alg);
        int dl;
        const unsigned char *der = b64dec(t_field(&e, "PublicKey"), &dl);
        const unsigned char *p = der;
        EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, dl);
        assert_non_null(pk);
        t_callf(&e, "Sign",
                "{\"KeyId\":\"%s\",\"Message\":\"aGVsbG8=\",\"SigningAlgorithm\":\"%s\"}",
                t_get(&e, "S"), rows[i].alg);
        t_ok(&e, rows[i].alg);
        int sl;
        const unsigned char *sig = b64dec(t_field(&e, "Signature"), &sl);
        unsigned char sigc[1024];
        memcpy(sigc, sig, (size_t)sl);
        EVP_MD_CTX *mc = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pc = NULL;
        assert_int_equal(EVP_DigestVerifyInit(mc, &pc, EVP_get_digestbyname(rows[i].md), NULL, pk),
                         1);
        if (rows[i].pss) {
            EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING);
            /* KMS: salt length = hash length */
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST);
        }
        assert_int_equal(EVP_DigestVerify(mc, sigc, (size_t)sl, (const unsigned char *)"hello", 5),
                         1);
        EVP_MD_CTX_free(mc);
        EVP_PKEY_free(pk);
    }
    t_close(&e);
}

int run_shape_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session),
        cmocka_unit_test(test_plaintext_roundtrip),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_independent_verify),
    };
    return cmocka_run_group_tests_name("kms_shapes", tests, NULL, NULL);
}
