/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decrypt's key selection (spec/kms-api.md §4.3): IncorrectKeyException when
 * the KeyId is not the ciphertext's key (including ids that resolve to
 * nothing, as the Well-Architected lab sends), InvalidCiphertextException
 * for a wrong context or a damaged blob, AccessDeniedException when the
 * ciphertext's key is gone; and rotation keeping old ciphertexts readable.
 */
#include "test_kms.h"

#include <openssl/evp.h>

static const char incorrect[] =
    "The key ID in the request does not identify a CMK that can perform this operation.";
static const char gone[] = "The ciphertext refers to a customer master key that does not exist, "
                           "does not exist in this region, or you are not allowed to access.";

struct row {
    const char *name;
    const char *body;
    const char *code;      /* NULL = success */
    const char *msg;       /* "" = no message */
    const char *resources; /* comma-separated variable names of ARNs, "" = none */
};

static const struct row rows[] = {
    {"no key id", "{\"CiphertextBlob\":\"{CT}\",\"EncryptionContext\":{\"dept\":\"eng\"}}", NULL,
     NULL, "K_ARN"},
    {"key id",
     "{\"CiphertextBlob\":\"{CT}\",\"KeyId\":\"{K}\",\"EncryptionContext\":{\"dept\":"
     "\"eng\"}}",
     NULL, NULL, "K_ARN"},
    {"key arn",
     "{\"CiphertextBlob\":\"{CT}\",\"KeyId\":\"{K_ARN}\",\"EncryptionContext\":{"
     "\"dept\":\"eng\"}}",
     NULL, NULL, "K_ARN"},
    {"alias",
     "{\"CiphertextBlob\":\"{CT}\",\"KeyId\":\"alias/k\",\"EncryptionContext\":{\"dept\":"
     "\"eng\"}}",
     NULL, NULL, "K_ARN"},
    {"alias arn",
     "{\"CiphertextBlob\":\"{CT}\",\"KeyId\":\"" T_ARN_PREFIX
     "alias/k\",\"EncryptionContext\":{\"dept\":\"eng\"}}",
     NULL, NULL, "K_ARN"},
    {"other key",
     "{\"CiphertextBlob\":\"{CT}\",\"KeyId\":\"{K2}\",\"EncryptionContext\":{"
     "\"dept\":\"eng\"}}",
     "IncorrectKeyException", incorrect, "K2_ARN"},
    {"other key by alias", "{\"CiphertextBlob\":\"{CT}\",\"KeyId\":\"alias/k2\"}",
     "IncorrectKeyException", incorrect, "K2_ARN"},
    {"lab's random key", "{\"CiphertextBlob\":\"{CT}\",\"KeyId\":\"some-random-false-key\"}",
     "IncorrectKeyException", incorrect, ""},
    {"unknown uuid",
     "{\"CiphertextBlob\":\"{CT}\",\"KeyId\":\"11111111-2222-4333-8444-"
     "555555555555\"}",
     "IncorrectKeyException", incorrect, ""},
    {"unknown alias", "{\"CiphertextBlob\":\"{CT}\",\"KeyId\":\"alias/none\"}",
     "IncorrectKeyException", incorrect, ""},
    {"other region arn",
     "{\"CiphertextBlob\":\"{CT}\",\"KeyId\":\"arn:aws:kms:eu-west-1:"
     "111122223333:key/{K}\"}",
     "IncorrectKeyException", incorrect, ""},
    {"wrong context value",
     "{\"CiphertextBlob\":\"{CT}\",\"EncryptionContext\":{\"dept\":"
     "\"fin\"}}",
     "InvalidCiphertextException", "", "K_ARN"},
    {"missing context", "{\"CiphertextBlob\":\"{CT}\"}", "InvalidCiphertextException", "", "K_ARN"},
    {"extra pair",
     "{\"CiphertextBlob\":\"{CT}\",\"EncryptionContext\":{\"dept\":\"eng\",\"x\":"
     "\"y\"}}",
     "InvalidCiphertextException", "", "K_ARN"},
    {"key case differs", "{\"CiphertextBlob\":\"{CT}\",\"EncryptionContext\":{\"Dept\":\"eng\"}}",
     "InvalidCiphertextException", "", "K_ARN"},
    {"pairs concatenated differently",
     "{\"CiphertextBlob\":\"{CTAB}\",\"EncryptionContext\":{\"a\":\"bc\"}}",
     "InvalidCiphertextException", "", "K_ARN"},
    {"empty context equals none", "{\"CiphertextBlob\":\"{CT0}\",\"EncryptionContext\":{}}", NULL,
     NULL, "K_ARN"},
    {"flipped tag", "{\"CiphertextBlob\":\"{CTFLIP}\",\"EncryptionContext\":{\"dept\":\"eng\"}}",
     "InvalidCiphertextException", "", "K_ARN"},
    {"flipped header", "{\"CiphertextBlob\":\"{CTMAT}\",\"EncryptionContext\":{\"dept\":\"eng\"}}",
     "InvalidCiphertextException", "", "K_ARN"},
    {"truncated", "{\"CiphertextBlob\":\"{CTTRUNC}\"}", "InvalidCiphertextException", "", ""},
    {"garbage", "{\"CiphertextBlob\":\"{CTGARB}\"}", "InvalidCiphertextException", "", ""},
    {"garbage with key id", "{\"CiphertextBlob\":\"{CTGARB}\",\"KeyId\":\"{K}\"}",
     "InvalidCiphertextException", "", "K_ARN"},
    {"header names another key",
     "{\"CiphertextBlob\":\"{CTHDR}\",\"EncryptionContext\":{"
     "\"dept\":\"eng\"}}",
     "InvalidCiphertextException", "", "K2_ARN"},
    {"header names another key, key id given", "{\"CiphertextBlob\":\"{CTHDR}\",\"KeyId\":\"{K}\"}",
     "IncorrectKeyException", incorrect, "K_ARN"},
    {"key gone", "{\"CiphertextBlob\":\"{CTGONE}\"}", "AccessDeniedException", gone, ""},
};

static char *b64(const unsigned char *p, size_t n)
{
    char *o = malloc(n / 3 * 4 + 8);
    EVP_EncodeBlock((unsigned char *)o, p, (int)n);
    return o;
}

static size_t unb64(const char *s, unsigned char *out)
{
    size_t l = strlen(s);
    int n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)l);
    while (l && s[l - 1] == '=') {
        n--;
        l--;
    }
    return (size_t)n;
}

static void save_variant(struct t_env *e, const char *name, const unsigned char *p, size_t n)
{
    char *s = b64(p, n);
    t_set(e, name, s);
    free(s);
}

static void check_resources(struct t_env *e, const char *row, const char *list)
{
    const json_t *res = e->res.resources;
    if (!*list) {
        if (res && json_array_size(res)) {
            print_error("row '%s': resources must be omitted\n", row);
            fail();
        }
        return;
    }
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", list);
    size_t i = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save), i++) {
        const json_t *r = json_array_get(res, i);
        const char *arn = json_string_value(json_object_get(r, "ARN"));
        if (!arn || strcmp(arn, t_get(e, t)) != 0) {
            print_error("row '%s': resource %zu is %s, want %s\n", row, i, arn ? arn : "(none)",
                        t_get(e, t));
            fail();
        }
        assert_string_equal(json_string_value(json_object_get(r, "type")), "AWS::KMS::Key");
        assert_string_equal(json_string_value(json_object_get(r, "accountId")), T_ACCOUNT);
    }
    assert_int_equal(json_array_size(res), i);
}

static void test_key_selection(void **state)
{
    (void)state;
    struct t_env e;
    t_open(&e, 1.0);
    t_new_key(&e, "K", "");
    t_new_key(&e, "K2", "");
    t_call(&e, "CreateAlias", "{\"AliasName\":\"alias/k\",\"TargetKeyId\":\"{K}\"}");
    t_call(&e, "CreateAlias", "{\"AliasName\":\"alias/k2\",\"TargetKeyId\":\"{K2}\"}");
    t_ok(&e, "aliases");
    t_call(&e, "Encrypt",
           "{\"KeyId\":\"{K}\",\"Plaintext\":\"c2VjcmV0\",\"EncryptionContext\":{"
           "\"dept\":\"eng\"}}");
    t_ok(&e, "encrypt");
    t_set(&e, "CT", t_field(&e, "CiphertextBlob"));
    t_call(&e, "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"c2VjcmV0\"}");
    t_set(&e, "CT0", t_field(&e, "CiphertextBlob"));
    t_call(&e, "Encrypt",
           "{\"KeyId\":\"{K}\",\"Plaintext\":\"c2VjcmV0\",\"EncryptionContext\":{"
           "\"ab\":\"c\"}}");
    t_set(&e, "CTAB", t_field(&e, "CiphertextBlob"));

    unsigned char blob[8192], v[8192];
    size_t n = unb64(t_get(&e, "CT"), blob);
    memcpy(v, blob, n);
    v[n - 1] ^= 1;
    save_variant(&e, "CTFLIP", v, n);
    memcpy(v, blob, n);
    v[2 + 36 + 5] ^= 0x40; /* inside the material id */
    save_variant(&e, "CTMAT", v, n);
    save_variant(&e, "CTTRUNC", blob, 20);
    for (size_t i = 0; i < 100; i++)
        v[i] = (unsigned char)(i * 37 + 11);
    v[0] = 0x02;
    save_variant(&e, "CTGARB", v, 100);
    memcpy(v, blob, n);
    memcpy(v + 2, t_get(&e, "K2"), 36);
    save_variant(&e, "CTHDR", v, n);
    memcpy(v, blob, n);
    memcpy(v + 2, "00000000-0000-4000-8000-000000000000", 36);
    save_variant(&e, "CTGONE", v, n);

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *r = &rows[i];
        t_call(&e, "Decrypt", r->body);
        if (r->code) {
            t_err(&e, r->name, r->code, r->msg);
        } else {
            t_ok(&e, r->name);
            assert_string_equal(t_field(&e, "Plaintext"), "c2VjcmV0");
        }
        check_resources(&e, r->name, r->resources);
        assert_true(e.res.read_only);
    }
    /* ReEncrypt takes the same rules for its source */
    t_call(&e, "ReEncrypt",
           "{\"CiphertextBlob\":\"{CT}\",\"SourceKeyId\":\"{K2}\","
           "\"DestinationKeyId\":\"{K2}\",\"SourceEncryptionContext\":{\"dept\":"
           "\"eng\"}}");
    t_err(&e, "reencrypt wrong source", "IncorrectKeyException", incorrect);
    t_call(&e, "ReEncrypt",
           "{\"CiphertextBlob\":\"{CT}\",\"DestinationKeyId\":\"{K2}\","
           "\"SourceEncryptionContext\":{\"dept\":\"eng\"},"
           "\"DestinationEncryptionContext\":{\"n\":\"1\"}}");
    t_ok(&e, "reencrypt");
    t_set(&e, "CTR", t_field(&e, "CiphertextBlob"));
    check_resources(&e, "reencrypt", "K_ARN,K2_ARN");
    t_call(&e, "Decrypt", "{\"CiphertextBlob\":\"{CTR}\",\"EncryptionContext\":{\"n\":\"1\"}}");
    t_ok(&e, "decrypt reencrypted");
    assert_string_equal(t_field(&e, "KeyId"), t_get(&e, "K2_ARN"));
    t_close(&e);
}

static void test_rotation_keeps_old(void **state)
{
    (void)state;
    struct t_env e;
    t_open(&e, 86400.0); /* one day passes in one second */
    t_new_key(&e, "K", "");
    t_call(&e, "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"b25l\"}");
    t_set(&e, "CT1", t_field(&e, "CiphertextBlob"));
    t_call(&e, "Decrypt", "{\"CiphertextBlob\":\"{CT1}\"}");
    t_set(&e, "M1", t_field(&e, "KeyMaterialId"));
    t_call(&e, "RotateKeyOnDemand", "{\"KeyId\":\"{K}\"}");
    t_ok(&e, "rotate");
    assert_string_equal(t_field(&e, "KeyId"), t_get(&e, "K_ARN"));
    assert_int_equal(e.nevents, 1);
    assert_true(strncmp(e.events[0], "RotateKey ", 10) == 0);
    t_call(&e, "Encrypt", "{\"KeyId\":\"{K}\",\"Plaintext\":\"dHdv\"}");
    t_set(&e, "CT2", t_field(&e, "CiphertextBlob"));
    t_call(&e, "Decrypt", "{\"CiphertextBlob\":\"{CT2}\"}");
    t_ok(&e, "decrypt new");
    t_set(&e, "M2", t_field(&e, "KeyMaterialId"));
    assert_string_not_equal(t_get(&e, "M1"), t_get(&e, "M2"));
    t_call(&e, "Decrypt", "{\"CiphertextBlob\":\"{CT1}\"}");
    t_ok(&e, "decrypt old");
    assert_string_equal(t_field(&e, "Plaintext"), "b25l");
    assert_string_equal(t_field(&e, "KeyMaterialId"), t_get(&e, "M1"));
    t_call(&e, "DescribeKey", "{\"KeyId\":\"{K}\"}");
    assert_string_equal(json_string_value(json_object_get(json_object_get(e.body, "KeyMetadata"),
                                                          "CurrentKeyMaterialId")),
                        t_get(&e, "M2"));

    /* automatic rotation when the (scaled) period passes, lazily on access */
    t_call(&e, "EnableKeyRotation", "{\"KeyId\":\"{K}\",\"RotationPeriodInDays\":90}");
    t_ok(&e, "enable rotation");
    t_call(&e, "GetKeyRotationStatus", "{\"KeyId\":\"{K}\"}");
    assert_true(json_real_value(json_object_get(e.body, "NextRotationDate")) ==
                (double)(T_NOW + 90000) / 1000.0);
    e.now = T_NOW + 89999;
    t_call(&e, "DescribeKey", "{\"KeyId\":\"{K}\"}");
    assert_int_equal(e.nevents, 1);
    e.now = T_NOW + 90000;
    t_call(&e, "Decrypt", "{\"CiphertextBlob\":\"{CT2}\"}");
    t_ok(&e, "decrypt after automatic rotation");
    assert_int_equal(e.nevents, 2);
    assert_true(strncmp(e.events[1], "RotateKey ", 10) == 0);
    t_call(&e, "ListKeyRotations", "{\"KeyId\":\"{K}\"}");
    t_ok(&e, "list rotations");
    const json_t *rot = json_object_get(e.body, "Rotations");
    assert_int_equal(json_array_size(rot), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rot, 0), "RotationType")),
                        "ON_DEMAND");
    assert_string_equal(json_string_value(json_object_get(json_array_get(rot, 1), "RotationType")),
                        "AUTOMATIC");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(rot, 1), "KeyMaterialState")), "CURRENT");
    t_call(&e, "ListKeyRotations",
           "{\"KeyId\":\"{K}\",\"IncludeKeyMaterial\":\"ALL_KEY_MATERIAL\",\"Limit\":2}");
    t_ok(&e, "list all material");
    assert_int_equal(json_array_size(json_object_get(e.body, "Rotations")), 2);
    assert_true(json_is_true(json_object_get(e.body, "Truncated")));
    t_set(&e, "MK", t_field(&e, "NextMarker"));
    t_call(&e, "ListKeyRotations",
           "{\"KeyId\":\"{K}\",\"IncludeKeyMaterial\":\"ALL_KEY_MATERIAL\",\"Marker\":\"{MK}\"}");
    t_ok(&e, "list all material page 2");
    assert_int_equal(json_array_size(json_object_get(e.body, "Rotations")), 1);
    /* both old ciphertexts still decrypt, and the service tick rotates too */
    t_call(&e, "Decrypt", "{\"CiphertextBlob\":\"{CT1}\"}");
    t_ok(&e, "decrypt first");
    e.now = T_NOW + 180000;
    kms_service_tick(e.svc, e.now);
    assert_int_equal(e.nevents, 3);
    /* the on-demand limit */
    for (int i = 1; i < 25; i++) {
        t_call(&e, "RotateKeyOnDemand", "{\"KeyId\":\"{K}\"}");
        t_ok(&e, "rotate again");
    }
    t_call(&e, "RotateKeyOnDemand", "{\"KeyId\":\"{K}\"}");
    char msg[300];
    snprintf(msg, sizeof(msg),
             "The on-demand rotations limit has been reached for the given keyId. No more "
             "on-demand rotations can be performed for this key: %s",
             t_get(&e, "K_ARN"));
    t_err(&e, "rotation limit", "LimitExceededException", msg);
    t_call(&e, "Decrypt", "{\"CiphertextBlob\":\"{CT1}\"}");
    t_ok(&e, "decrypt first after 27 rotations");
    t_close(&e);
}

int run_decrypt_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_selection),
        cmocka_unit_test(test_rotation_keeps_old),
    };
    return cmocka_run_group_tests_name("kms_decrypt", tests, NULL, NULL);
}
