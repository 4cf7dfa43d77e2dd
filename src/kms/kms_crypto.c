/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms crypto: everything that touches key bytes, on OpenSSL 3 EVP.
 *
 * - The symmetric ciphertext blob (docs/kms-crypto.md): AES-256-GCM, the
 *   blob header plus the canonical encryption context as AAD.
 * - Root-key wrapping of the secrets kept in keys.db (AES-256-GCM).
 * - Asymmetric keys (RSA, NIST/SECG EC): generation, PKCS#8/SPKI DER,
 *   Sign/Verify (PSS with salt = hash length, PKCS#1 v1.5, ECDSA DER), RSA
 *   OAEP; HMAC keys.
 * - Strict base64 (requests are decoded without allocating), hex, UUIDs.
 *
 * Randomness comes from RAND_bytes only. Buffers holding plaintext or keys
 * are the callers' (stack or own allocation) and are wiped by them; the
 * temporaries made here are wiped before they are freed.
 */
#include "kms/kms_int.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

/* ---------------------------------------------------------------------------
 * Base64 and hex
 */

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t kms_b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

static size_t b64_encode(const char *alpha, bool pad, const uint8_t *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
        out[o++] = alpha[(v >> 6) & 63];
        out[o++] = alpha[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
        if (pad) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
        out[o++] = alpha[(v >> 6) & 63];
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

void kms_b64_encode(const uint8_t *in, size_t n, char *out)
{
    b64_encode(b64_std, true, in, n, out);
}

void kms_b64url_encode(const uint8_t *in, size_t n, char *out)
{
    b64_encode(b64_url, false, in, n, out);
}

/* Decodes groups of 4 (the last may be 2 or 3 characters when unpadded). */
static bool b64_decode(const char *in, size_t n, bool url, uint8_t *out, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        size_t rem = n - i < 4 ? n - i : 4;
        int v[4] = {0, 0, 0, 0};
        size_t have = 0;
        for (size_t j = 0; j < rem; j++) {
            unsigned char c = (unsigned char)in[i + j];
            if (c == '=') {
                /* padding only at the very end, after at least 2 symbols */
                if (url || i + 4 != n || j < 2)
                    return false;
                for (size_t t = j; t < 4; t++)
                    if (in[i + t] != '=')
                        return false;
                break;
            }
            int d = ks_b64val(c, url);
            if (d < 0)
                return false;
            v[j] = d;
            have++;
        }
        if (have < 2)
            return false;
        if (out) {
            out[o] = (uint8_t)(v[0] << 2 | v[1] >> 4);
            if (have > 2)
                out[o + 1] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
            if (have > 3)
                out[o + 2] = (uint8_t)((v[2] & 3) << 6 | v[3]);
        }
        o += have - 1;
    }
    *outlen = o;
    return true;
}

bool kms_b64_decode(const char *in, size_t n, uint8_t *out, size_t *outlen)
{
    if (n % 4 != 0)
        return false;
    return b64_decode(in, n, false, out, outlen);
}

bool kms_b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
    if (n % 4 == 1 || n / 4 * 3 + 2 > cap)
        return false;
    return b64_decode(in, n, true, out, outlen);
}

void kms_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

bool kms_unhex(const char *in, size_t n, uint8_t *out)
{
    if (n % 2)
        return false;
    for (size_t i = 0; i < n; i += 2) {
        int hi = ks_hexval(in[i]), lo = ks_hexval(in[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

bool kms_random(void *p, size_t n)
{
    return n == 0 || (n <= INT32_MAX && RAND_bytes(p, (int)n) == 1);
}

void kms_uuid4(char out[37])
{
    uint8_t b[16];
    if (!kms_random(b, sizeof(b)))
        abort(); /* no randomness: nothing safe to do */
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    char hex[33];
    kms_hex(b, 16, hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

/* ---------------------------------------------------------------------------
 * Key specs and algorithms
 */

static const struct kms_spec specs[] = {
    {"SYMMETRIC_DEFAULT", KMS_CLASS_SYM, 256, NULL, NULL, NULL, NULL, 0},
    {"RSA_2048", KMS_CLASS_RSA, 2048, NULL, NULL, NULL, NULL, 0},
    {"RSA_3072", KMS_CLASS_RSA, 3072, NULL, NULL, NULL, NULL, 0},
    {"RSA_4096", KMS_CLASS_RSA, 4096, NULL, NULL, NULL, NULL, 0},
    {"ECC_NIST_P256", KMS_CLASS_EC, 256, "P-256", "SHA256", NULL, "ECDSA_SHA_256", 0},
    {"ECC_NIST_P384", KMS_CLASS_EC, 384, "P-384", "SHA384", NULL, "ECDSA_SHA_384", 0},
    {"ECC_NIST_P521", KMS_CLASS_EC, 521, "P-521", "SHA512", NULL, "ECDSA_SHA_512", 0},
    {"ECC_SECG_P256K1", KMS_CLASS_EC, 256, "secp256k1", "SHA256", NULL, "ECDSA_SHA_256", 0},
    {"HMAC_224", KMS_CLASS_HMAC, 224, NULL, "SHA224", "HMAC_SHA_224", NULL, 28},
    {"HMAC_256", KMS_CLASS_HMAC, 256, NULL, "SHA256", "HMAC_SHA_256", NULL, 32},
    {"HMAC_384", KMS_CLASS_HMAC, 384, NULL, "SHA384", "HMAC_SHA_384", NULL, 48},
    {"HMAC_512", KMS_CLASS_HMAC, 512, NULL, "SHA512", "HMAC_SHA_512", NULL, 64},
};

const struct kms_spec *kms_spec_find(const char *name)
{
    for (size_t i = 0; i < KS_ARRAY_LEN(specs); i++)
        if (strcmp(specs[i].name, name) == 0)
            return &specs[i];
    return NULL;
}

static const struct kms_sig_alg sig_algs[] = {
    {"RSASSA_PSS_SHA_256", KMS_CLASS_RSA, "SHA256", 32, true},
    {"RSASSA_PSS_SHA_384", KMS_CLASS_RSA, "SHA384", 48, true},
    {"RSASSA_PSS_SHA_512", KMS_CLASS_RSA, "SHA512", 64, true},
    {"RSASSA_PKCS1_V1_5_SHA_256", KMS_CLASS_RSA, "SHA256", 32, false},
    {"RSASSA_PKCS1_V1_5_SHA_384", KMS_CLASS_RSA, "SHA384", 48, false},
    {"RSASSA_PKCS1_V1_5_SHA_512", KMS_CLASS_RSA, "SHA512", 64, false},
    {"ECDSA_SHA_256", KMS_CLASS_EC, "SHA256", 32, false},
    {"ECDSA_SHA_384", KMS_CLASS_EC, "SHA384", 48, false},
    {"ECDSA_SHA_512", KMS_CLASS_EC, "SHA512", 64, false},
};

const struct kms_sig_alg *kms_sig_alg_find(const char *name)
{
    for (size_t i = 0; i < KS_ARRAY_LEN(sig_algs); i++)
        if (strcmp(sig_algs[i].name, name) == 0)
            return &sig_algs[i];
    return NULL;
}

const char *const *kms_key_sig_algs(const struct kms_key *k)
{
    static const char *const rsa[] = {"RSASSA_PKCS1_V1_5_SHA_256",
                                      "RSASSA_PKCS1_V1_5_SHA_384",
                                      "RSASSA_PKCS1_V1_5_SHA_512",
                                      "RSASSA_PSS_SHA_256",
                                      "RSASSA_PSS_SHA_384",
                                      "RSASSA_PSS_SHA_512",
                                      NULL};
    static const char *const ec256[] = {"ECDSA_SHA_256", NULL};
    static const char *const ec384[] = {"ECDSA_SHA_384", NULL};
    static const char *const ec512[] = {"ECDSA_SHA_512", NULL};
    static const char *const none[] = {NULL};
    if (k->usage != KMS_USAGE_SIGN_VERIFY)
        return none;
    if (k->spec->cls == KMS_CLASS_RSA)
        return rsa;
    if (k->spec->cls == KMS_CLASS_EC) {
        if (strcmp(k->spec->ecdsa_alg, "ECDSA_SHA_384") == 0)
            return ec384;
        if (strcmp(k->spec->ecdsa_alg, "ECDSA_SHA_512") == 0)
            return ec512;
        return ec256;
    }
    return none;
}

const char *const *kms_key_enc_algs(const struct kms_key *k)
{
    static const char *const sym[] = {"SYMMETRIC_DEFAULT", NULL};
    static const char *const rsa[] = {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", NULL};
    static const char *const none[] = {NULL};
    if (k->usage != KMS_USAGE_ENCRYPT_DECRYPT)
        return none;
    if (k->spec->cls == KMS_CLASS_SYM)
        return sym;
    if (k->spec->cls == KMS_CLASS_RSA)
        return rsa;
    return none;
}

/* ---------------------------------------------------------------------------
 * Encryption context (spec/kms-api.md §4.1)
 */

static int pair_cmp(const void *a, const void *b)
{
    const struct kms_ctx_pair *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->k, y->k, n);
    if (c)
        return c;
    return x->klen < y->klen ? -1 : x->klen > y->klen;
}

bool kms_ctx_pairs(const json_t *ctx, struct kms_ctx_pair **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!ctx || !json_object_size(ctx))
        return true;
    size_t cnt = json_object_size(ctx);
    struct kms_ctx_pair *p = ks_xcalloc(cnt, sizeof(*p));
    size_t i = 0;
    const char *k;
    json_t *v;
    /* the iterator never modifies the object: safe on a shared, read-only json_t */
    json_object_foreach((json_t *)(uintptr_t)ctx, k, v)
    {
        if (!json_is_string(v)) {
            free(p);
            return false;
        }
        p[i].k = k;
        p[i].klen = strlen(k);
        p[i].v = json_string_value(v);
        p[i].vlen = json_string_length(v);
        i++;
    }
    qsort(p, cnt, sizeof(*p), pair_cmp);
    *out = p;
    *n = cnt;
    return true;
}

bool kms_ctx_encode(const json_t *ctx, uint8_t *buf, size_t cap, uint8_t **out, size_t *len,
                    bool *too_big)
{
    *too_big = false;
    *out = buf;
    size_t cnt = ctx ? json_object_size(ctx) : 0;
    if (cnt == 0) {
        if (cap < 2) /* callers always pass a real buffer */
            abort();
        buf[0] = buf[1] = 0;
        *len = 2;
        return true;
    }
    /* Small contexts sort on the stack: the common Encrypt/Decrypt case
     * allocates nothing here. */
    struct kms_ctx_pair stack_pairs[16];
    struct kms_ctx_pair *p =
        cnt <= KS_ARRAY_LEN(stack_pairs) ? stack_pairs : ks_xcalloc(cnt, sizeof(*p));
    size_t i = 0, bytes = 0;
    const char *k;
    json_t *v;
    bool ok = true;
    json_object_foreach((json_t *)(uintptr_t)ctx, k, v)
    {
        if (!json_is_string(v)) {
            ok = false;
            break;
        }
        p[i].k = k;
        p[i].klen = strlen(k);
        p[i].v = json_string_value(v);
        p[i].vlen = json_string_length(v);
        bytes += p[i].klen + p[i].vlen;
        i++;
    }
    if (ok && (bytes > KMS_MAX_CONTEXT_BYTES || cnt > 0xffff)) {
        *too_big = true;
        ok = false;
    }
    if (ok) {
        qsort(p, cnt, sizeof(*p), pair_cmp);
        size_t need = 2 + 4 * cnt + bytes;
        uint8_t *o = need <= cap ? buf : ks_xmalloc(need);
        size_t w = 0;
        o[w++] = (uint8_t)(cnt >> 8);
        o[w++] = (uint8_t)cnt;
        for (i = 0; i < cnt; i++) {
            o[w++] = (uint8_t)(p[i].klen >> 8);
            o[w++] = (uint8_t)p[i].klen;
            memcpy(o + w, p[i].k, p[i].klen);
            w += p[i].klen;
            o[w++] = (uint8_t)(p[i].vlen >> 8);
            o[w++] = (uint8_t)p[i].vlen;
            memcpy(o + w, p[i].v, p[i].vlen);
            w += p[i].vlen;
        }
        *out = o;
        *len = w;
    }
    if (p != stack_pairs)
        free(p);
    return ok;
}

/* ---------------------------------------------------------------------------
 * AES-256-GCM
 */

static bool gcm_seal(const EVP_CIPHER *gcm, const uint8_t key[KMS_AES_KEY],
                     const uint8_t iv[KMS_GCM_IV], const uint8_t *aad1, size_t aad1_len,
                     const uint8_t *aad2, size_t aad2_len, const uint8_t *in, size_t n,
                     uint8_t *out, uint8_t tag[KMS_GCM_TAG])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l = 0;
    bool ok = c && n <= INT32_MAX && aad1_len <= INT32_MAX && aad2_len <= INT32_MAX &&
              EVP_EncryptInit_ex2(c, gcm, key, iv, NULL) == 1 &&
              (!aad1_len || EVP_EncryptUpdate(c, NULL, &l, aad1, (int)aad1_len) == 1) &&
              (!aad2_len || EVP_EncryptUpdate(c, NULL, &l, aad2, (int)aad2_len) == 1) &&
              (!n || EVP_EncryptUpdate(c, out, &l, in, (int)n) == 1) &&
              EVP_EncryptFinal_ex(c, out + n, &l) == 1 &&
              EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, KMS_GCM_TAG, tag) == 1;
    EVP_CIPHER_CTX_free(c); /* frees (and wipes) the expanded key schedule */
    return ok;
}

static bool gcm_open(const EVP_CIPHER *gcm, const uint8_t key[KMS_AES_KEY],
                     const uint8_t iv[KMS_GCM_IV], const uint8_t *aad1, size_t aad1_len,
                     const uint8_t *aad2, size_t aad2_len, const uint8_t *in, size_t n,
                     const uint8_t tag[KMS_GCM_TAG], uint8_t *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l = 0;
    uint8_t t[KMS_GCM_TAG];
    memcpy(t, tag, sizeof(t));
    bool ok = c && n <= INT32_MAX && aad1_len <= INT32_MAX && aad2_len <= INT32_MAX &&
              EVP_DecryptInit_ex2(c, gcm, key, iv, NULL) == 1 &&
              (!aad1_len || EVP_DecryptUpdate(c, NULL, &l, aad1, (int)aad1_len) == 1) &&
              (!aad2_len || EVP_DecryptUpdate(c, NULL, &l, aad2, (int)aad2_len) == 1) &&
              (!n || EVP_DecryptUpdate(c, out, &l, in, (int)n) == 1) &&
              EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, KMS_GCM_TAG, t) == 1 &&
              EVP_DecryptFinal_ex(c, out + n, &l) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok && n)
        OPENSSL_cleanse(out, n); /* never hand out unauthenticated plaintext */
    return ok;
}

/* ---------------------------------------------------------------------------
 * Ciphertext blob: 01 | L | key id (L) | material id (32) | iv (12) | ct | tag (16)
 */

static bool key_id_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-';
}

bool kms_blob_parse(const uint8_t *b, size_t n, struct kms_blob *out)
{
    if (n < 2 || b[0] != KMS_BLOB_VERSION)
        return false;
    size_t l = b[1];
    if (l == 0 || l >= KMS_ID_MAX)
        return false;
    size_t hdr = 2 + l + KMS_MAT_ID;
    if (n < hdr + KMS_GCM_IV + KMS_GCM_TAG)
        return false;
    for (size_t i = 0; i < l; i++)
        if (!key_id_char((char)b[2 + i]))
            return false;
    out->key_id = (const char *)b + 2;
    out->key_id_len = l;
    out->mat_id = b + 2 + l;
    out->header_len = hdr;
    out->iv = b + hdr;
    out->ct = b + hdr + KMS_GCM_IV;
    out->ct_len = n - hdr - KMS_GCM_IV - KMS_GCM_TAG;
    out->tag = b + n - KMS_GCM_TAG;
    return true;
}

size_t kms_blob_size(size_t key_id_len, size_t pt_len)
{
    return 2 + key_id_len + KMS_MAT_ID + KMS_GCM_IV + pt_len + KMS_GCM_TAG;
}

bool kms_blob_seal(const struct kms_service *svc, const struct kms_key *k,
                   const struct kms_material *m, const uint8_t *aad, size_t aad_len,
                   const uint8_t *pt, size_t pt_len, uint8_t *out, size_t *out_len)
{
    size_t l = strlen(k->id);
    size_t hdr = 2 + l + KMS_MAT_ID;
    out[0] = KMS_BLOB_VERSION;
    out[1] = (uint8_t)l;
    memcpy(out + 2, k->id, l);
    memcpy(out + 2 + l, m->id, KMS_MAT_ID);
    uint8_t *iv = out + hdr;
    if (!kms_random(iv, KMS_GCM_IV))
        return false;
    uint8_t *ct = iv + KMS_GCM_IV;
    if (!gcm_seal(svc->gcm, m->key, iv, out, hdr, aad, aad_len, pt, pt_len, ct, ct + pt_len))
        return false;
    *out_len = hdr + KMS_GCM_IV + pt_len + KMS_GCM_TAG;
    return true;
}

bool kms_blob_open(const struct kms_service *svc, const struct kms_blob *b,
                   const uint8_t blob_start[], const struct kms_material *m, const uint8_t *aad,
                   size_t aad_len, uint8_t *pt)
{
    return gcm_open(svc->gcm, m->key, b->iv, blob_start, b->header_len, aad, aad_len, b->ct,
                    b->ct_len, b->tag, pt);
}

const struct kms_material *kms_material_find(const struct kms_key *k, const uint8_t id[KMS_MAT_ID])
{
    /* newest first: most ciphertexts are recent */
    for (size_t i = k->nmats; i-- > 0;)
        if (memcmp(k->mats[i].id, id, KMS_MAT_ID) == 0)
            return &k->mats[i];
    return NULL;
}

/* ---------------------------------------------------------------------------
 * Root-key wrapping
 */

bool kms_wrap(const struct kms_service *svc, const uint8_t *aad, size_t aad_len, const uint8_t *in,
              size_t n, uint8_t **out, size_t *out_len)
{
    uint8_t *o = ks_xmalloc(KMS_GCM_IV + n + KMS_GCM_TAG);
    if (!kms_random(o, KMS_GCM_IV) || !gcm_seal(svc->gcm, svc->root_key, o, aad, aad_len, NULL, 0,
                                                in, n, o + KMS_GCM_IV, o + KMS_GCM_IV + n)) {
        free(o);
        return false;
    }
    *out = o;
    *out_len = KMS_GCM_IV + n + KMS_GCM_TAG;
    return true;
}

bool kms_unwrap(const struct kms_service *svc, const uint8_t *aad, size_t aad_len,
                const uint8_t *in, size_t n, uint8_t **out, size_t *out_len)
{
    if (n < KMS_GCM_IV + KMS_GCM_TAG)
        return false;
    size_t len = n - KMS_GCM_IV - KMS_GCM_TAG;
    uint8_t *o = ks_xmalloc(len ? len : 1);
    if (!gcm_open(svc->gcm, svc->root_key, in, aad, aad_len, NULL, 0, in + KMS_GCM_IV, len,
                  in + n - KMS_GCM_TAG, o)) {
        free(o);
        return false;
    }
    *out = o;
    *out_len = len;
    return true;
}

/* ---------------------------------------------------------------------------
 * Asymmetric keys
 */

EVP_PKEY *kms_pkey_generate(const struct kms_spec *spec)
{
    if (spec->cls == KMS_CLASS_RSA)
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)spec->bits);
    if (spec->cls == KMS_CLASS_EC)
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", spec->curve);
    return NULL;
}

bool kms_pkey_private_der(EVP_PKEY *pk, uint8_t **der, size_t *len)
{
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(pk);
    if (!p8)
        return false;
    unsigned char *buf = NULL;
    int n = i2d_PKCS8_PRIV_KEY_INFO(p8, &buf);
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (n <= 0)
        return false;
    *der = (uint8_t *)ks_xmemdup(buf, (size_t)n);
    *len = (size_t)n;
    OPENSSL_clear_free(buf, (size_t)n);
    return true;
}

bool kms_pkey_public_der(EVP_PKEY *pk, uint8_t **der, size_t *len)
{
    unsigned char *buf = NULL;
    int n = i2d_PUBKEY(pk, &buf);
    if (n <= 0)
        return false;
    *der = (uint8_t *)ks_xmemdup(buf, (size_t)n);
    *len = (size_t)n;
    OPENSSL_free(buf);
    return true;
}

EVP_PKEY *kms_pkey_from_der(const uint8_t *der, size_t len)
{
    if (len > INT32_MAX)
        return NULL;
    const unsigned char *p = der;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
    if (!p8)
        return NULL;
    EVP_PKEY *pk = EVP_PKCS82PKEY(p8);
    PKCS8_PRIV_KEY_INFO_free(p8);
    return pk;
}

bool kms_key_load_asym(struct kms_key *k)
{
    k->pkey = kms_pkey_from_der(k->secret, k->secret_len);
    return k->pkey && kms_pkey_public_der(k->pkey, &k->pub_der, &k->pub_len);
}

static const EVP_MD *md_by_name(const char *name)
{
    if (strcmp(name, "SHA1") == 0)
        return EVP_sha1();
    if (strcmp(name, "SHA224") == 0)
        return EVP_sha224();
    if (strcmp(name, "SHA256") == 0)
        return EVP_sha256();
    if (strcmp(name, "SHA384") == 0)
        return EVP_sha384();
    return EVP_sha512();
}

static bool set_padding(EVP_PKEY_CTX *pc, const struct kms_sig_alg *a)
{
    if (a->cls != KMS_CLASS_RSA)
        return true;
    if (!a->pss)
        return EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1;
    /* PSS: MGF1 with the same hash, salt length = hash length (spec §6.8) */
    return EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) == 1 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(pc, md_by_name(a->md)) == 1;
}

bool kms_sign(EVP_PKEY *pk, const struct kms_sig_alg *a, const uint8_t *msg, size_t n,
              bool is_digest, uint8_t *sig, size_t *sig_len)
{
    const EVP_MD *md = md_by_name(a->md);
    bool ok = false;
    if (is_digest) {
        EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(pk, NULL);
        ok = pc && EVP_PKEY_sign_init(pc) == 1 && EVP_PKEY_CTX_set_signature_md(pc, md) == 1 &&
             set_padding(pc, a) && EVP_PKEY_sign(pc, sig, sig_len, msg, n) == 1;
        EVP_PKEY_CTX_free(pc);
    } else {
        EVP_MD_CTX *mc = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pc = NULL;
        ok = mc && EVP_DigestSignInit(mc, &pc, md, NULL, pk) == 1 && set_padding(pc, a) &&
             EVP_DigestSign(mc, sig, sig_len, msg, n) == 1;
        EVP_MD_CTX_free(mc);
    }
    return ok;
}

int kms_verify(EVP_PKEY *pk, const struct kms_sig_alg *a, const uint8_t *msg, size_t n,
               bool is_digest, const uint8_t *sig, size_t sig_len)
{
    const EVP_MD *md = md_by_name(a->md);
    int rc = 0;
    if (is_digest) {
        EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(pk, NULL);
        if (pc && EVP_PKEY_verify_init(pc) == 1 && EVP_PKEY_CTX_set_signature_md(pc, md) == 1 &&
            set_padding(pc, a))
            rc = EVP_PKEY_verify(pc, sig, sig_len, msg, n) == 1;
        EVP_PKEY_CTX_free(pc);
    } else {
        EVP_MD_CTX *mc = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pc = NULL;
        if (mc && EVP_DigestVerifyInit(mc, &pc, md, NULL, pk) == 1 && set_padding(pc, a))
            rc = EVP_DigestVerify(mc, sig, sig_len, msg, n) == 1;
        EVP_MD_CTX_free(mc);
    }
    return rc;
}

size_t kms_rsa_max_plaintext(const struct kms_key *k, bool sha256)
{
    /* OAEP: key bytes - 2 * hash bytes - 2 (spec §4.4) */
    size_t kb = (size_t)k->spec->bits / 8;
    size_t hb = sha256 ? 32 : 20;
    return kb - 2 * hb - 2;
}

static bool oaep_params(EVP_PKEY_CTX *pc, bool sha256)
{
    const EVP_MD *md = sha256 ? EVP_sha256() : EVP_sha1();
    return EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_oaep_md(pc, md) == 1 && EVP_PKEY_CTX_set_rsa_mgf1_md(pc, md) == 1;
}

bool kms_rsa_encrypt(EVP_PKEY *pk, bool sha256, const uint8_t *in, size_t n, uint8_t *out,
                     size_t *out_len)
{
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(pk, NULL);
    bool ok = pc && EVP_PKEY_encrypt_init(pc) == 1 && oaep_params(pc, sha256) &&
              EVP_PKEY_encrypt(pc, out, out_len, in, n) == 1;
    EVP_PKEY_CTX_free(pc);
    return ok;
}

bool kms_rsa_decrypt(EVP_PKEY *pk, bool sha256, const uint8_t *in, size_t n, uint8_t *out,
                     size_t *out_len)
{
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(pk, NULL);
    bool ok = pc && EVP_PKEY_decrypt_init(pc) == 1 && oaep_params(pc, sha256) &&
              EVP_PKEY_decrypt(pc, out, out_len, in, n) == 1;
    EVP_PKEY_CTX_free(pc);
    return ok;
}

bool kms_hmac(const struct kms_spec *spec, const uint8_t *key, size_t key_len, const uint8_t *msg,
              size_t n, uint8_t *out, size_t *out_len)
{
    return EVP_Q_mac(NULL, "HMAC", NULL, spec->md, NULL, key, key_len, msg, n, out, EVP_MAX_MD_SIZE,
                     out_len) != NULL;
}
