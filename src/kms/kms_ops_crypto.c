/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms cryptographic operations: Encrypt, Decrypt, ReEncrypt,
 * GenerateDataKey[WithoutPlaintext], GenerateDataKeyPair[WithoutPlaintext],
 * GenerateRandom, Sign, Verify, GenerateMac, VerifyMac, GetPublicKey.
 *
 * The hot path (Encrypt/Decrypt on a symmetric key) runs under the shared
 * lock on stack buffers: the request blob, plaintext and AAD never touch the
 * heap (contexts larger than 1 KiB excepted), and every buffer that held
 * plaintext or a data key is wiped with OPENSSL_cleanse before return.
 *
 * Decrypt's key selection follows spec/kms-api.md §4.3 exactly: the
 * ciphertext names its key; a KeyId that does not resolve to that key
 * (another key, an alias elsewhere, or nothing at all) is
 * IncorrectKeyException; a wrong encryption context or a damaged blob is
 * InvalidCiphertextException with no message.
 */
#include "kms/kms_int.h"

#include <openssl/crypto.h>

static const char *const enc_algs[] = {"SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1",
                                       "RSAES_OAEP_SHA_256", "SM2PKE", NULL};
static const char enc_algs_text[] =
    "[SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]";
enum { ALG_SYM = 0, ALG_OAEP_SHA1 = 1, ALG_OAEP_SHA256 = 2, ALG_SM2 = 3 };

static const char *const sig_algs[] = {"RSASSA_PSS_SHA_256",
                                       "RSASSA_PSS_SHA_384",
                                       "RSASSA_PSS_SHA_512",
                                       "RSASSA_PKCS1_V1_5_SHA_256",
                                       "RSASSA_PKCS1_V1_5_SHA_384",
                                       "RSASSA_PKCS1_V1_5_SHA_512",
                                       "ECDSA_SHA_256",
                                       "ECDSA_SHA_384",
                                       "ECDSA_SHA_512",
                                       "SM2DSA",
                                       "ML_DSA_SHAKE_256",
                                       NULL};
static const char sig_algs_text[] =
    "[RSASSA_PSS_SHA_256, RSASSA_PSS_SHA_384, RSASSA_PSS_SHA_512, RSASSA_PKCS1_V1_5_SHA_256, "
    "RSASSA_PKCS1_V1_5_SHA_384, RSASSA_PKCS1_V1_5_SHA_512, ECDSA_SHA_256, ECDSA_SHA_384, "
    "ECDSA_SHA_512, SM2DSA, ML_DSA_SHAKE_256]";
static const char *const msg_types[] = {"RAW", "DIGEST", "EXTERNAL_MU", NULL};
static const char msg_types_text[] = "[RAW, DIGEST, EXTERNAL_MU]";
static const char *const mac_algs[] = {"HMAC_SHA_384", "HMAC_SHA_256", "HMAC_SHA_224",
                                       "HMAC_SHA_512", NULL};
static const char mac_algs_text[] = "[HMAC_SHA_384, HMAC_SHA_256, HMAC_SHA_224, HMAC_SHA_512]";
static const char *const dk_specs[] = {"AES_256", "AES_128", NULL};
static const char dk_specs_text[] = "[AES_256, AES_128]";
static const char *const pair_specs[] = {"RSA_2048",        "RSA_3072",      "RSA_4096",
                                         "ECC_NIST_P256",   "ECC_NIST_P384", "ECC_NIST_P521",
                                         "ECC_SECG_P256K1", "SM2",           NULL};
static const char pair_specs_text[] = "[RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, "
                                      "ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, SM2]";
static const char *const dry_mods[] = {"IGNORE_CIPHERTEXT", NULL};

static const char incorrect_key_msg[] =
    "The key ID in the request does not identify a CMK that can perform this operation.";
static const char gone_key_msg[] =
    "The ciphertext refers to a customer master key that does not exist, does not exist in this "
    "region, or you are not allowed to access.";

#define AAD_STACK 1024

static bool is_rsa_encrypt(const struct kms_key *k)
{
    return k->spec->cls == KMS_CLASS_RSA && k->usage == KMS_USAGE_ENCRYPT_DECRYPT;
}

static void fail_incompatible(struct kms_req *r, const char *alg, const struct kms_key *k)
{
    kms_fail(r, "InvalidKeyUsageException", "Algorithm %s is incompatible with key spec %s.", alg,
             k->spec->name);
}

static bool ctx_nonempty(const json_t *ctx)
{
    return ctx && json_object_size(ctx) > 0;
}

/* Resolves KeyId (any form) and runs the checks every key-using crypto
 * operation shares: authorization, key state, key usage. */
static struct kms_key *crypto_key(struct kms_req *r, const char *id, size_t n, const char *action,
                                  enum kms_grant_op gop, const json_t *ctx, enum kms_usage usage,
                                  const char *opname)
{
    struct kms_key *k = kms_resolve(r, id, n, KMS_ID_ANY);
    if (!k || !kms_authorize(r, k, action, gop, ctx) || !kms_check_state(r, k, KMS_ST_CRYPTO) ||
        !kms_check_usage(r, k, usage, opname))
        return NULL;
    return k;
}

/* Symmetric seal of pt under k's current material. */
static bool sym_seal(struct kms_req *r, const struct kms_key *k, const json_t *ctx,
                     const uint8_t *pt, size_t n, uint8_t *out, size_t *out_len)
{
    uint8_t aadbuf[AAD_STACK];
    uint8_t *aad;
    size_t al;
    bool big;
    if (!kms_ctx_encode(ctx, aadbuf, sizeof(aadbuf), &aad, &al, &big)) {
        kms_fail(r, "ValidationException", "The encryption context is not valid.");
        return false;
    }
    bool ok =
        k->nmats && kms_blob_seal(r->svc, k, &k->mats[k->nmats - 1], aad, al, pt, n, out, out_len);
    if (aad != aadbuf)
        free(aad);
    if (!ok)
        kms_fail_internal(r, "encryption");
    return ok;
}

/* The destination half of Encrypt/ReEncrypt, checks only: the algorithm
 * against k, context and size rules for RSA. *alg_out names the algorithm
 * encrypt_run will use. */
static bool encrypt_with(struct kms_req *r, const struct kms_key *k, int alg, const json_t *ctx,
                         size_t n, const char **alg_out)
{
    if (k->spec->cls == KMS_CLASS_SYM) {
        if (alg > ALG_SYM) {
            /* kms_arg_enum gives an index of enc_algs; the bound says so to
             * readers and analysers alike */
            fail_incompatible(r, enc_algs[alg <= ALG_SM2 ? alg : ALG_SYM], k);
            return false;
        }
        *alg_out = "SYMMETRIC_DEFAULT";
        return true;
    }
    /* RSA: EncryptionAlgorithm is required, no context (spec §4.5) */
    if (alg < 0) {
        kms_fail(r, "ValidationException",
                 "You must specify an EncryptionAlgorithm for asymmetric KMS keys.");
        return false;
    }
    if (alg != ALG_OAEP_SHA1 && alg != ALG_OAEP_SHA256) {
        fail_incompatible(r, enc_algs[alg], k);
        return false;
    }
    if (ctx_nonempty(ctx)) {
        kms_fail(r, "ValidationException",
                 "EncryptionContext is not supported for asymmetric KMS keys.");
        return false;
    }
    bool sha256 = alg == ALG_OAEP_SHA256;
    size_t max = kms_rsa_max_plaintext(k, sha256);
    if (n > max) {
        kms_fail(r, "ValidationException",
                 "Algorithm %s and key spec %s cannot encrypt data larger than %zu bytes.",
                 enc_algs[alg], k->spec->name, max);
        return false;
    }
    *alg_out = enc_algs[alg];
    return true;
}

/* Runs the sealing decided by encrypt_with (after the DryRun check). */
static bool encrypt_run(struct kms_req *r, const struct kms_key *k, const char *alg,
                        const json_t *ctx, const uint8_t *pt, size_t n, uint8_t *out,
                        size_t *out_len)
{
    if (k->spec->cls == KMS_CLASS_SYM)
        return sym_seal(r, k, ctx, pt, n, out, out_len);
    *out_len = KMS_MAX_CIPHERTEXT;
    if (!kms_rsa_encrypt(k->pkey, strcmp(alg, "RSAES_OAEP_SHA_256") == 0, pt, n, out, out_len)) {
        kms_fail_internal(r, "encryption");
        return false;
    }
    return true;
}

void kms_op_Encrypt(struct kms_req *r)
{
    uint8_t pt[KMS_MAX_PLAINTEXT];
    uint8_t ct[KMS_MAX_CIPHERTEXT];
    size_t n, pl = 0, cl = 0;
    const char *id = kms_arg_str(r, "KeyId", "keyId", true, 1, KMS_MAX_KEY_ID_INPUT, &n);
    kms_arg_blob(r, "Plaintext", "plaintext", true, 1, KMS_MAX_PLAINTEXT, pt, &pl);
    const json_t *ctx = kms_arg_ctx(r, "EncryptionContext", NULL);
    kms_arg_grant_tokens(r);
    int alg = kms_arg_enum(r, "EncryptionAlgorithm", "encryptionAlgorithm", false, enc_algs,
                           enc_algs_text);
    bool dry;
    kms_arg_bool(r, "DryRun", &dry);
    const char *alg_name = NULL;
    if (kms_check_valid(r))
        goto out;
    const struct kms_key *k =
        crypto_key(r, id, n, "Encrypt", KMS_GOP_Encrypt, ctx, KMS_USAGE_ENCRYPT_DECRYPT, "Encrypt");
    if (!k || !encrypt_with(r, k, alg, ctx, pl, &alg_name) || kms_dry_run(r, dry) ||
        !encrypt_run(r, k, alg_name, ctx, pt, pl, ct, &cl))
        goto out;
    kms_w_open(r, NULL);
    kms_w_b64(r, "CiphertextBlob", ct, cl);
    kms_w_str(r, "KeyId", k->arn);
    kms_w_str(r, "EncryptionAlgorithm", alg_name);
    kms_w_close(r);
out:
    OPENSSL_cleanse(pt, pl);
}

/* ---------------------------------------------------------------------------
 * Decrypt and the source half of ReEncrypt (spec §4.3)
 */

struct dec {
    /* in */
    const uint8_t *blob;
    size_t blob_len;
    const json_t *ctx;
    const char *key_id; /* NULL = not given */
    size_t key_id_len;
    int alg;
    const char *action; /* "Decrypt" / "ReEncryptFrom" */
    enum kms_grant_op gop;
    const char *opname;
    /* out */
    const struct kms_key *key;
    const struct kms_material *mat;
    size_t pt_len;
    const char *alg_name;
};

/* Checks the caller may use k for the source side. */
static bool dec_key_checks(struct kms_req *r, struct dec *d, const struct kms_key *k)
{
    return kms_authorize(r, k, d->action, d->gop, d->ctx) && kms_check_state(r, k, KMS_ST_CRYPTO) &&
           kms_check_usage(r, k, KMS_USAGE_ENCRYPT_DECRYPT, d->opname);
}

/* Decrypts into pt (KMS_MAX_CIPHERTEXT bytes); false with the error set. */
static bool decrypt_blob(struct kms_req *r, struct dec *d, uint8_t *pt)
{
    struct kms_key *named = NULL;
    if (d->key_id) {
        named = kms_resolve_quiet(r, d->key_id, d->key_id_len);
        if (r->retry_write)
            return false;
    }
    /* a named key that cannot decrypt at all, or an RSA key: its checks
     * come first (an RSA ciphertext has no header to read) */
    if (named && (named->usage != KMS_USAGE_ENCRYPT_DECRYPT || is_rsa_encrypt(named))) {
        kms_add_resource(r, named->arn);
        if (!dec_key_checks(r, d, named))
            return false;
        if (d->alg < 0) {
            kms_fail(r, "ValidationException",
                     "You must specify an EncryptionAlgorithm for asymmetric KMS keys.");
            return false;
        }
        if (d->alg != ALG_OAEP_SHA1 && d->alg != ALG_OAEP_SHA256) {
            fail_incompatible(r, enc_algs[d->alg], named);
            return false;
        }
        if (ctx_nonempty(d->ctx)) {
            kms_fail(r, "ValidationException",
                     "EncryptionContext is not supported for asymmetric KMS keys.");
            return false;
        }
        size_t out = KMS_MAX_CIPHERTEXT;
        if (!kms_rsa_decrypt(named->pkey, d->alg == ALG_OAEP_SHA256, d->blob, d->blob_len, pt,
                             &out)) {
            kms_fail(r, "InvalidCiphertextException", "%s", "");
            return false;
        }
        d->key = named;
        d->pt_len = out;
        d->alg_name = enc_algs[d->alg];
        return true;
    }
    struct kms_blob b;
    if (!kms_blob_parse(d->blob, d->blob_len, &b)) {
        if (named)
            kms_add_resource(r, named->arn);
        kms_fail(r, "InvalidCiphertextException", "%s", "");
        return false;
    }
    struct kms_key *k = kms_key_by_id(r->svc, b.key_id, b.key_id_len);
    if (d->key_id && (!named || named != k)) {
        /* another key, an alias elsewhere, or nothing at all (the lab) */
        if (named)
            kms_add_resource(r, named->arn);
        kms_fail(r, "IncorrectKeyException", "%s", incorrect_key_msg);
        return false;
    }
    if (!k) {
        kms_fail(r, "AccessDeniedException", "%s", gone_key_msg);
        return false;
    }
    kms_add_resource(r, k->arn);
    if (!dec_key_checks(r, d, k))
        return false;
    if (k->spec->cls != KMS_CLASS_SYM) {
        kms_fail(r, "InvalidCiphertextException", "%s", "");
        return false;
    }
    if (d->alg > ALG_SYM) {
        fail_incompatible(r, enc_algs[d->alg], k);
        return false;
    }
    const struct kms_material *m = kms_material_find(k, b.mat_id);
    uint8_t aadbuf[AAD_STACK];
    uint8_t *aad = aadbuf;
    size_t al = 0;
    bool big;
    bool ok = m && kms_ctx_encode(d->ctx, aadbuf, sizeof(aadbuf), &aad, &al, &big) &&
              kms_blob_open(r->svc, &b, d->blob, m, aad, al, pt);
    if (aad != aadbuf)
        free(aad);
    if (!ok) {
        kms_fail(r, "InvalidCiphertextException", "%s", "");
        return false;
    }
    d->key = k;
    d->mat = m;
    d->pt_len = b.ct_len;
    d->alg_name = "SYMMETRIC_DEFAULT";
    return true;
}

static bool ignore_ciphertext(struct kms_req *r)
{
    const json_t *mods =
        kms_arg_str_list(r, "DryRunModifiers", "dryRunModifiers", false, 0, 1, 1, 64);
    for (size_t i = 0; mods && i < json_array_size(mods); i++) {
        const char *s = json_string_value(json_array_get(mods, i));
        if (strcmp(s, dry_mods[0]) != 0) {
            kms_verr(r,
                     "Value '[%s]' at 'dryRunModifiers' failed to satisfy constraint: Member "
                     "must satisfy constraint: [Member must satisfy enum value set: "
                     "[IGNORE_CIPHERTEXT]]",
                     s);
            return false;
        }
        return true;
    }
    return false;
}

void kms_op_Decrypt(struct kms_req *r)
{
    uint8_t blob[KMS_MAX_CIPHERTEXT];
    uint8_t pt[KMS_MAX_CIPHERTEXT];
    struct dec d = {.blob = blob, .action = "Decrypt", .gop = KMS_GOP_Decrypt, .opname = "Decrypt"};
    bool dry;
    kms_arg_bool(r, "DryRun", &dry);
    bool skip_ct = ignore_ciphertext(r) && dry;
    kms_arg_blob(r, "CiphertextBlob", "ciphertextBlob", !skip_ct, 1, KMS_MAX_CIPHERTEXT, blob,
                 &d.blob_len);
    d.ctx = kms_arg_ctx(r, "EncryptionContext", NULL);
    kms_arg_grant_tokens(r);
    d.key_id = kms_arg_str(r, "KeyId", "keyId", false, 1, KMS_MAX_KEY_ID_INPUT, &d.key_id_len);
    d.alg = kms_arg_enum(r, "EncryptionAlgorithm", "encryptionAlgorithm", false, enc_algs,
                         enc_algs_text);
    if (kms_check_valid(r))
        return;
    if (json_object_get(r->in, "Recipient")) {
        kms_fail(r, "UnsupportedOperationException",
                 "Recipient is not supported by this emulator.");
        return;
    }
    if (skip_ct) {
        /* DryRun without a ciphertext: check the named key only */
        if (!d.key_id) {
            kms_fail(r, "ValidationException",
                     "KeyId is required with the IGNORE_CIPHERTEXT DryRun modifier.");
            return;
        }
        const struct kms_key *k = kms_resolve(r, d.key_id, d.key_id_len, KMS_ID_ANY);
        if (k && dec_key_checks(r, &d, k))
            kms_dry_run(r, true);
        return;
    }
    if (!decrypt_blob(r, &d, pt))
        goto out;
    if (kms_dry_run(r, dry))
        goto out;
    kms_w_open(r, NULL);
    kms_w_str(r, "KeyId", d.key->arn);
    kms_w_b64(r, "Plaintext", pt, d.pt_len);
    kms_w_str(r, "EncryptionAlgorithm", d.alg_name);
    if (d.mat)
        kms_w_hex(r, "KeyMaterialId", d.mat->id, KMS_MAT_ID);
    kms_w_close(r);
out:
    OPENSSL_cleanse(pt, d.pt_len);
}

void kms_op_ReEncrypt(struct kms_req *r)
{
    uint8_t blob[KMS_MAX_CIPHERTEXT];
    uint8_t pt[KMS_MAX_CIPHERTEXT];
    uint8_t ct[KMS_MAX_CIPHERTEXT + 128];
    struct dec d = {.blob = blob,
                    .action = "ReEncryptFrom",
                    .gop = KMS_GOP_ReEncryptFrom,
                    .opname = "ReEncrypt"};
    bool dry;
    kms_arg_bool(r, "DryRun", &dry);
    (void)ignore_ciphertext(r);
    kms_arg_blob(r, "CiphertextBlob", "ciphertextBlob", true, 1, KMS_MAX_CIPHERTEXT, blob,
                 &d.blob_len);
    d.ctx = kms_arg_ctx(r, "SourceEncryptionContext", NULL);
    d.key_id =
        kms_arg_str(r, "SourceKeyId", "sourceKeyId", false, 1, KMS_MAX_KEY_ID_INPUT, &d.key_id_len);
    size_t dn;
    const char *dest =
        kms_arg_str(r, "DestinationKeyId", "destinationKeyId", true, 1, KMS_MAX_KEY_ID_INPUT, &dn);
    const json_t *dctx = kms_arg_ctx(r, "DestinationEncryptionContext", NULL);
    d.alg = kms_arg_enum(r, "SourceEncryptionAlgorithm", "sourceEncryptionAlgorithm", false,
                         enc_algs, enc_algs_text);
    int dalg = kms_arg_enum(r, "DestinationEncryptionAlgorithm", "destinationEncryptionAlgorithm",
                            false, enc_algs, enc_algs_text);
    kms_arg_grant_tokens(r);
    size_t cl = 0;
    const char *dalg_name = NULL;
    if (kms_check_valid(r))
        return;
    if (!decrypt_blob(r, &d, pt))
        goto out;
    const struct kms_key *k = crypto_key(r, dest, dn, "ReEncryptTo", KMS_GOP_ReEncryptTo, dctx,
                                         KMS_USAGE_ENCRYPT_DECRYPT, "ReEncrypt");
    if (!k || !encrypt_with(r, k, dalg, dctx, d.pt_len, &dalg_name) || kms_dry_run(r, dry) ||
        !encrypt_run(r, k, dalg_name, dctx, pt, d.pt_len, ct, &cl))
        goto out;
    kms_w_open(r, NULL);
    kms_w_b64(r, "CiphertextBlob", ct, cl);
    kms_w_str(r, "SourceKeyId", d.key->arn);
    kms_w_str(r, "KeyId", k->arn);
    kms_w_str(r, "SourceEncryptionAlgorithm", d.alg_name);
    kms_w_str(r, "DestinationEncryptionAlgorithm", dalg_name);
    if (d.mat)
        kms_w_hex(r, "SourceKeyMaterialId", d.mat->id, KMS_MAT_ID);
    if (k->spec->cls == KMS_CLASS_SYM)
        kms_w_hex(r, "DestinationKeyMaterialId", k->mats[k->nmats - 1].id, KMS_MAT_ID);
    kms_w_close(r);
out:
    OPENSSL_cleanse(pt, d.pt_len);
}

/* ---------------------------------------------------------------------------
 * Data keys
 */

static void data_key(struct kms_req *r, bool with_plaintext)
{
    uint8_t dk[KMS_MAX_DATA_KEY];
    uint8_t ct[KMS_MAX_DATA_KEY + 128];
    size_t n, dl = 0, cl = 0;
    const char *op = with_plaintext ? "GenerateDataKey" : "GenerateDataKeyWithoutPlaintext";
    const char *id = kms_arg_str(r, "KeyId", "keyId", true, 1, KMS_MAX_KEY_ID_INPUT, &n);
    const json_t *ctx = kms_arg_ctx(r, "EncryptionContext", NULL);
    int64_t nb = 0;
    bool have_nb =
        kms_arg_int(r, "NumberOfBytes", "numberOfBytes", false, 1, KMS_MAX_DATA_KEY, &nb);
    int spec = kms_arg_enum(r, "KeySpec", "keySpec", false, dk_specs, dk_specs_text);
    kms_arg_grant_tokens(r);
    bool dry;
    kms_arg_bool(r, "DryRun", &dry);
    if (kms_check_valid(r))
        return;
    if (with_plaintext && json_object_get(r->in, "Recipient")) {
        kms_fail(r, "UnsupportedOperationException",
                 "Recipient is not supported by this emulator.");
        return;
    }
    if (have_nb == (spec >= 0)) {
        kms_fail(r, "ValidationException", "Please specify either number of bytes or key spec.");
        return;
    }
    dl = have_nb ? (size_t)nb : spec == 0 ? 32 : 16;
    const struct kms_key *k = crypto_key(r, id, n, op,
                                         with_plaintext ? KMS_GOP_GenerateDataKey
                                                        : KMS_GOP_GenerateDataKeyWithoutPlaintext,
                                         ctx, KMS_USAGE_ENCRYPT_DECRYPT, op);
    if (!k)
        return;
    if (k->spec->cls != KMS_CLASS_SYM) {
        fail_incompatible(r, "SYMMETRIC_DEFAULT", k);
        return;
    }
    if (kms_dry_run(r, dry))
        return;
    if (!kms_random(dk, dl)) {
        kms_fail_internal(r, "random");
        return;
    }
    if (sym_seal(r, k, ctx, dk, dl, ct, &cl)) {
        kms_w_open(r, NULL);
        kms_w_b64(r, "CiphertextBlob", ct, cl);
        if (with_plaintext)
            kms_w_b64(r, "Plaintext", dk, dl);
        kms_w_str(r, "KeyId", k->arn);
        kms_w_hex(r, "KeyMaterialId", k->mats[k->nmats - 1].id, KMS_MAT_ID);
        kms_w_close(r);
    }
    OPENSSL_cleanse(dk, dl);
}

void kms_op_GenerateDataKey(struct kms_req *r)
{
    data_key(r, true);
}

void kms_op_GenerateDataKeyWithoutPlaintext(struct kms_req *r)
{
    data_key(r, false);
}

static void data_key_pair(struct kms_req *r, bool with_plaintext)
{
    const char *op = with_plaintext ? "GenerateDataKeyPair" : "GenerateDataKeyPairWithoutPlaintext";
    size_t n;
    const char *id = kms_arg_str(r, "KeyId", "keyId", true, 1, KMS_MAX_KEY_ID_INPUT, &n);
    int ps = kms_arg_enum(r, "KeyPairSpec", "keyPairSpec", true, pair_specs, pair_specs_text);
    const json_t *ctx = kms_arg_ctx(r, "EncryptionContext", NULL);
    kms_arg_grant_tokens(r);
    bool dry;
    kms_arg_bool(r, "DryRun", &dry);
    if (kms_check_valid(r))
        return;
    if (with_plaintext && json_object_get(r->in, "Recipient")) {
        kms_fail(r, "UnsupportedOperationException",
                 "Recipient is not supported by this emulator.");
        return;
    }
    const struct kms_spec *spec = kms_spec_find(pair_specs[ps]);
    if (!spec) {
        kms_fail(r, "UnsupportedOperationException",
                 "KeyPairSpec %s is not supported by this emulator.", pair_specs[ps]);
        return;
    }
    const struct kms_key *k = crypto_key(
        r, id, n, op,
        with_plaintext ? KMS_GOP_GenerateDataKeyPair : KMS_GOP_GenerateDataKeyPairWithoutPlaintext,
        ctx, KMS_USAGE_ENCRYPT_DECRYPT, op);
    if (!k)
        return;
    if (k->spec->cls != KMS_CLASS_SYM) {
        fail_incompatible(r, "SYMMETRIC_DEFAULT", k);
        return;
    }
    if (kms_dry_run(r, dry))
        return;
    EVP_PKEY *pk = kms_pkey_generate(spec);
    uint8_t *priv = NULL, *pub = NULL, *ct = NULL;
    size_t privl = 0, publ = 0, cl = 0;
    if (!pk || !kms_pkey_private_der(pk, &priv, &privl) || !kms_pkey_public_der(pk, &pub, &publ)) {
        kms_fail_internal(r, "key pair generation");
        goto out;
    }
    ct = ks_xmalloc(kms_blob_size(strlen(k->id), privl));
    if (!sym_seal(r, k, ctx, priv, privl, ct, &cl))
        goto out;
    kms_w_open(r, NULL);
    kms_w_b64(r, "PrivateKeyCiphertextBlob", ct, cl);
    if (with_plaintext)
        kms_w_b64(r, "PrivateKeyPlaintext", priv, privl);
    kms_w_b64(r, "PublicKey", pub, publ);
    kms_w_str(r, "KeyId", k->arn);
    kms_w_str(r, "KeyPairSpec", spec->name);
    kms_w_hex(r, "KeyMaterialId", k->mats[k->nmats - 1].id, KMS_MAT_ID);
    kms_w_close(r);
out:
    EVP_PKEY_free(pk);
    if (priv) {
        OPENSSL_cleanse(priv, privl);
        free(priv);
    }
    free(pub);
    free(ct);
}

void kms_op_GenerateDataKeyPair(struct kms_req *r)
{
    data_key_pair(r, true);
}

void kms_op_GenerateDataKeyPairWithoutPlaintext(struct kms_req *r)
{
    data_key_pair(r, false);
}

void kms_op_GenerateRandom(struct kms_req *r)
{
    uint8_t buf[KMS_MAX_DATA_KEY];
    int64_t nb = 0;
    bool have = kms_arg_int(r, "NumberOfBytes", "numberOfBytes", false, 1, KMS_MAX_DATA_KEY, &nb);
    const char *cks = kms_arg_str(r, "CustomKeyStoreId", "customKeyStoreId", false, 1, 64, NULL);
    if (kms_check_valid(r))
        return;
    if (cks || json_object_get(r->in, "Recipient")) {
        kms_fail(r, "UnsupportedOperationException", "%s is not supported by this emulator.",
                 cks ? "CustomKeyStoreId" : "Recipient");
        return;
    }
    if (!have) {
        kms_fail(r, "ValidationException", "NumberOfBytes is required.");
        return;
    }
    if (!kms_random(buf, (size_t)nb)) {
        kms_fail_internal(r, "random");
        return;
    }
    kms_w_open(r, NULL);
    kms_w_b64(r, "Plaintext", buf, (size_t)nb);
    kms_w_close(r);
    OPENSSL_cleanse(buf, (size_t)nb);
}

/* ---------------------------------------------------------------------------
 * Sign / Verify (spec §6.8)
 */

static void sign_verify(struct kms_req *r, bool verify)
{
    const char *op = verify ? "Verify" : "Sign";
    uint8_t msg[KMS_MAX_MESSAGE];
    uint8_t sig[KMS_MAX_SIGNATURE];
    size_t n, ml = 0, sl = 0;
    const char *id = kms_arg_str(r, "KeyId", "keyId", true, 1, KMS_MAX_KEY_ID_INPUT, &n);
    kms_arg_blob(r, "Message", "message", true, 1, KMS_MAX_MESSAGE, msg, &ml);
    int mt = kms_arg_enum(r, "MessageType", "messageType", false, msg_types, msg_types_text);
    if (verify)
        kms_arg_blob(r, "Signature", "signature", true, 1, KMS_MAX_SIGNATURE, sig, &sl);
    kms_arg_grant_tokens(r);
    int alg =
        kms_arg_enum(r, "SigningAlgorithm", "signingAlgorithm", true, sig_algs, sig_algs_text);
    bool dry;
    kms_arg_bool(r, "DryRun", &dry);
    if (kms_check_valid(r))
        goto out;
    if (mt == 2) {
        kms_fail(r, "ValidationException",
                 "MessageType EXTERNAL_MU is valid only for ML_DSA key specs.");
        goto out;
    }
    const struct kms_key *k = crypto_key(r, id, n, op, verify ? KMS_GOP_Verify : KMS_GOP_Sign, NULL,
                                         KMS_USAGE_SIGN_VERIFY, op);
    if (!k)
        goto out;
    bool offered = false;
    for (const char *const *a = kms_key_sig_algs(k); *a && !offered; a++)
        offered = strcmp(*a, sig_algs[alg]) == 0;
    const struct kms_sig_alg *sa = kms_sig_alg_find(sig_algs[alg]);
    if (!offered || !sa) {
        fail_incompatible(r, sig_algs[alg], k);
        goto out;
    }
    bool digest = mt == 1;
    if (digest && ml != sa->md_len) {
        kms_fail(r, "ValidationException", "Digest is invalid length for algorithm %s.", sa->name);
        goto out;
    }
    if (kms_dry_run(r, dry))
        goto out;
    if (verify) {
        if (!kms_verify(k->pkey, sa, msg, ml, digest, sig, sl)) {
            kms_fail(r, "KMSInvalidSignatureException", "%s", "");
            goto out;
        }
        kms_w_open(r, NULL);
        kms_w_str(r, "KeyId", k->arn);
        kms_w_bool(r, "SignatureValid", true);
        kms_w_str(r, "SigningAlgorithm", sa->name);
        kms_w_close(r);
        goto out;
    }
    sl = sizeof(sig);
    if (!kms_sign(k->pkey, sa, msg, ml, digest, sig, &sl)) {
        kms_fail_internal(r, "signing");
        goto out;
    }
    kms_w_open(r, NULL);
    kms_w_str(r, "KeyId", k->arn);
    kms_w_b64(r, "Signature", sig, sl);
    kms_w_str(r, "SigningAlgorithm", sa->name);
    kms_w_close(r);
out:
    OPENSSL_cleanse(msg, ml);
}

void kms_op_Sign(struct kms_req *r)
{
    sign_verify(r, false);
}

void kms_op_Verify(struct kms_req *r)
{
    sign_verify(r, true);
}

/* ---------------------------------------------------------------------------
 * HMAC (spec §6.9)
 */

static void mac_op(struct kms_req *r, bool verify)
{
    const char *op = verify ? "VerifyMac" : "GenerateMac";
    uint8_t msg[KMS_MAX_MESSAGE];
    uint8_t want[KMS_MAX_SIGNATURE];
    uint8_t mac[EVP_MAX_MD_SIZE];
    size_t n, ml = 0, wl = 0, macl = 0;
    kms_arg_blob(r, "Message", "message", true, 1, KMS_MAX_MESSAGE, msg, &ml);
    const char *id = kms_arg_str(r, "KeyId", "keyId", true, 1, KMS_MAX_KEY_ID_INPUT, &n);
    int alg = kms_arg_enum(r, "MacAlgorithm", "macAlgorithm", true, mac_algs, mac_algs_text);
    if (verify)
        kms_arg_blob(r, "Mac", "mac", true, 1, KMS_MAX_SIGNATURE, want, &wl);
    kms_arg_grant_tokens(r);
    bool dry;
    kms_arg_bool(r, "DryRun", &dry);
    if (kms_check_valid(r))
        goto out;
    const struct kms_key *k =
        crypto_key(r, id, n, op, verify ? KMS_GOP_VerifyMac : KMS_GOP_GenerateMac, NULL,
                   KMS_USAGE_GENERATE_VERIFY_MAC, op);
    if (!k)
        goto out;
    if (strcmp(k->spec->mac_alg, mac_algs[alg]) != 0) {
        fail_incompatible(r, mac_algs[alg], k);
        goto out;
    }
    if (kms_dry_run(r, dry))
        goto out;
    if (!kms_hmac(k->spec, k->secret, k->secret_len, msg, ml, mac, &macl)) {
        kms_fail_internal(r, "hmac");
        goto out;
    }
    kms_w_open(r, NULL);
    if (verify) {
        /* constant time; a length mismatch is simply invalid */
        if (wl != macl || CRYPTO_memcmp(mac, want, macl) != 0) {
            kms_fail(r, "KMSInvalidMacException", "%s", "");
            goto out;
        }
        kms_w_str(r, "KeyId", k->arn);
        kms_w_bool(r, "MacValid", true);
        kms_w_str(r, "MacAlgorithm", mac_algs[alg]);
    } else {
        kms_w_b64(r, "Mac", mac, macl);
        kms_w_str(r, "MacAlgorithm", mac_algs[alg]);
        kms_w_str(r, "KeyId", k->arn);
    }
    kms_w_close(r);
out:
    OPENSSL_cleanse(msg, ml);
    OPENSSL_cleanse(mac, sizeof(mac));
}

void kms_op_GenerateMac(struct kms_req *r)
{
    mac_op(r, false);
}

void kms_op_VerifyMac(struct kms_req *r)
{
    mac_op(r, true);
}

void kms_op_GetPublicKey(struct kms_req *r)
{
    size_t n;
    const char *id = kms_arg_str(r, "KeyId", "keyId", true, 1, KMS_MAX_KEY_ID_INPUT, &n);
    kms_arg_grant_tokens(r);
    if (kms_check_valid(r))
        return;
    const struct kms_key *k = kms_resolve(r, id, n, KMS_ID_ANY);
    if (!k || !kms_authorize(r, k, "GetPublicKey", KMS_GOP_GetPublicKey, NULL) ||
        !kms_check_state(r, k, KMS_ST_CRYPTO))
        return;
    if (!k->pub_der) {
        kms_fail(r, "UnsupportedOperationException",
                 "%s key spec is %s which is not valid for GetPublicKey.", k->arn, k->spec->name);
        return;
    }
    kms_w_open(r, NULL);
    kms_w_str(r, "KeyId", k->arn);
    kms_w_b64(r, "PublicKey", k->pub_der, k->pub_len);
    kms_w_str(r, "CustomerMasterKeySpec", k->spec->name);
    kms_w_str(r, "KeySpec", k->spec->name);
    kms_w_str(r, "KeyUsage", kms_usage_name(k->usage));
    kms_w_arr(r, k->usage == KMS_USAGE_SIGN_VERIFY ? "SigningAlgorithms" : "EncryptionAlgorithms");
    for (const char *const *a = k->usage == KMS_USAGE_SIGN_VERIFY ? kms_key_sig_algs(k)
                                                                  : kms_key_enc_algs(k);
         *a; a++)
        kms_w_str(r, NULL, *a);
    kms_w_arr_close(r);
    kms_w_close(r);
}
