/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms key operations: lifecycle (CreateKey, DescribeKey, ListKeys,
 * Enable/DisableKey, Schedule/CancelKeyDeletion, UpdateKeyDescription), key
 * policies and rotation, plus KeyMetadata in both of its shapes (the API
 * body and CloudTrail's lowerCamel copy with text dates).
 * State rules follow spec/kms-api.md §3.3; messages name the key ARN as KMS
 * writes them.
 */
#include "kms/kms_int.h"

#include <strings.h>

/* ---------------------------------------------------------------------------
 * Shared helpers
 */

bool kms_persist_key(struct kms_req *r, struct kms_key *k)
{
    if (kms_store_save_key(r->svc, k) == KS_OK)
        return true;
    kms_store_reload(r->svc); /* memory must not run ahead of disk */
    kms_fail_internal(r, "cannot store the key");
    return false;
}

void kms_arg_page(struct kms_req *r, int64_t max, int64_t def, int64_t *limit, char *after,
                  size_t after_size)
{
    int64_t lim = def;
    if (!kms_arg_int(r, "Limit", "limit", false, 1, max, &lim))
        lim = def;
    *limit = lim;
    after[0] = '\0';
    size_t ml;
    const char *m = kms_arg_str(r, "Marker", "marker", false, 1, 1024, &ml);
    if (!m)
        return;
    uint8_t dec[1024];
    size_t dl = 0;
    bool ok = ml / 4 * 3 <= sizeof(dec) && kms_b64_decode(m, ml, dec, &dl) && dl > 0 &&
              dl < after_size && !memchr(dec, '\0', dl);
    if (!ok) {
        if (!r->nverr)
            kms_fail(r, "InvalidMarkerException", "The marker is not valid.");
        return;
    }
    memcpy(after, dec, dl);
    after[dl] = '\0';
}

void kms_w_page_end(struct kms_req *r, bool truncated, const char *next_key)
{
    kms_w_bool(r, "Truncated", truncated);
    if (truncated)
        kms_w_b64(r, "NextMarker", (const uint8_t *)next_key, strlen(next_key));
}

static const char *origin_name(enum kms_origin o)
{
    return o == KMS_ORIGIN_EXTERNAL ? "EXTERNAL" : "AWS_KMS";
}

static const char *rotation_type_name(enum kms_rotation_type t)
{
    return t == KMS_ROT_AUTOMATIC ? "AUTOMATIC" : "ON_DEMAND";
}

static void w_list(struct kms_req *r, const char *key, const char *const *v)
{
    kms_w_arr(r, key);
    for (; *v; v++)
        kms_w_str(r, NULL, *v);
    kms_w_arr_close(r);
}

static json_t *json_list(const char *const *v)
{
    json_t *a = json_array();
    for (; *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

void kms_write_metadata(struct kms_req *r, const struct kms_key *k)
{
    const struct kms_service *svc = r->svc;
    kms_w_open(r, "KeyMetadata");
    kms_w_str(r, "AWSAccountId", svc->account);
    kms_w_str(r, "KeyId", k->id);
    kms_w_str(r, "Arn", k->arn);
    kms_w_time(r, "CreationDate", k->created_ms);
    kms_w_bool(r, "Enabled", k->state == KMS_STATE_ENABLED);
    kms_w_str(r, "Description", k->description);
    kms_w_str(r, "KeyUsage", kms_usage_name(k->usage));
    kms_w_str(r, "KeyState", kms_state_name(k->state));
    if (k->state == KMS_STATE_PENDING_DELETION) {
        kms_w_time(r, "DeletionDate", k->deletion_ms);
        kms_w_int(r, "PendingDeletionWindowInDays", k->pending_days);
    }
    kms_w_str(r, "Origin", origin_name(k->origin));
    kms_w_str(r, "KeyManager", k->aws_managed ? "AWS" : "CUSTOMER");
    kms_w_str(r, "CustomerMasterKeySpec", k->spec->name);
    kms_w_str(r, "KeySpec", k->spec->name);
    if (k->spec->cls == KMS_CLASS_HMAC) {
        const char *mac[] = {k->spec->mac_alg, NULL};
        w_list(r, "MacAlgorithms", mac);
    } else if (k->usage == KMS_USAGE_SIGN_VERIFY) {
        w_list(r, "SigningAlgorithms", kms_key_sig_algs(k));
    } else {
        w_list(r, "EncryptionAlgorithms", kms_key_enc_algs(k));
    }
    kms_w_bool(r, "MultiRegion", k->multi_region);
    if (k->multi_region) {
        kms_w_open(r, "MultiRegionConfiguration");
        kms_w_str(r, "MultiRegionKeyType", "PRIMARY");
        kms_w_open(r, "PrimaryKey");
        kms_w_str(r, "Arn", k->arn);
        kms_w_str(r, "Region", svc->region);
        kms_w_close(r);
        kms_w_arr(r, "ReplicaKeys");
        kms_w_arr_close(r);
        kms_w_close(r);
    }
    if (k->spec->cls == KMS_CLASS_SYM && k->nmats)
        kms_w_hex(r, "CurrentKeyMaterialId", k->mats[k->nmats - 1].id, KMS_MAT_ID);
    kms_w_close(r);
}

json_t *kms_metadata_ct(const struct kms_service *svc, const struct kms_key *k)
{
    /* AWS lower-cases the first letter mechanically: "aWSAccountId" (§2.3) */
    json_t *m = json_object();
    json_object_set_new(m, "aWSAccountId", json_string(svc->account));
    json_object_set_new(m, "keyId", json_string(k->id));
    json_object_set_new(m, "arn", json_string(k->arn));
    json_object_set_new(m, "creationDate", kms_ct_date_json(k->created_ms));
    json_object_set_new(m, "enabled", json_boolean(k->state == KMS_STATE_ENABLED));
    json_object_set_new(m, "description", json_string(k->description));
    json_object_set_new(m, "keyUsage", json_string(kms_usage_name(k->usage)));
    json_object_set_new(m, "keyState", json_string(kms_state_name(k->state)));
    json_object_set_new(m, "origin", json_string(origin_name(k->origin)));
    json_object_set_new(m, "keyManager", json_string(k->aws_managed ? "AWS" : "CUSTOMER"));
    json_object_set_new(m, "customerMasterKeySpec", json_string(k->spec->name));
    json_object_set_new(m, "keySpec", json_string(k->spec->name));
    if (k->spec->cls == KMS_CLASS_HMAC) {
        const char *mac[] = {k->spec->mac_alg, NULL};
        json_object_set_new(m, "macAlgorithms", json_list(mac));
    } else if (k->usage == KMS_USAGE_SIGN_VERIFY) {
        json_object_set_new(m, "signingAlgorithms", json_list(kms_key_sig_algs(k)));
    } else {
        json_object_set_new(m, "encryptionAlgorithms", json_list(kms_key_enc_algs(k)));
    }
    json_object_set_new(m, "multiRegion", json_boolean(k->multi_region));
    if (k->multi_region)
        json_object_set_new(m, "multiRegionConfiguration",
                            json_pack("{s:s,s:{s:s,s:s},s:[]}", "multiRegionKeyType", "PRIMARY",
                                      "primaryKey", "arn", k->arn, "region", svc->region,
                                      "replicaKeys"));
    if (k->spec->cls == KMS_CLASS_SYM && k->nmats) {
        char hex[2 * KMS_MAT_ID + 1];
        kms_hex(k->mats[k->nmats - 1].id, KMS_MAT_ID, hex);
        json_object_set_new(m, "currentKeyMaterialId", json_string(hex));
    }
    return m;
}

static const char *key_id_arg(struct kms_req *r, size_t *len)
{
    return kms_arg_str(r, "KeyId", "keyId", true, 1, KMS_MAX_KEY_ID_INPUT, len);
}

/* ---------------------------------------------------------------------------
 * Tags (shared with TagResource)
 */

bool kms_arg_tags(struct kms_req *r, bool required, struct kms_tag_in **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    const json_t *v = json_object_get(r->in, "Tags");
    if (!v || json_is_null(v)) {
        if (required)
            kms_verr(r, "Value null at 'tags' failed to satisfy constraint: Member must not be "
                        "null");
        return false;
    }
    if (!json_is_array(v)) {
        kms_fail(r, "SerializationException", "Start of list expected for member 'Tags'");
        return false;
    }
    size_t cnt = json_array_size(v);
    struct kms_tag_in *t = ks_xcalloc(cnt ? cnt : 1, sizeof(*t));
    bool ok = true;
    for (size_t i = 0; i < cnt; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_object(e)) {
            kms_fail(r, "SerializationException", "Start of structure expected for a tag");
            ok = false;
            break;
        }
        const json_t *tk = json_object_get(e, "TagKey");
        const json_t *tv = json_object_get(e, "TagValue");
        if ((tk && !json_is_string(tk) && !json_is_null(tk)) ||
            (tv && !json_is_string(tv) && !json_is_null(tv))) {
            kms_fail(r, "SerializationException", "Tag members must be strings");
            ok = false;
            break;
        }
        if (!json_is_string(tk)) {
            kms_verr(r,
                     "Value null at 'tags.%zu.member.tagKey' failed to satisfy constraint: "
                     "Member must not be null",
                     i + 1);
            ok = false;
        } else {
            size_t l = json_string_length(tk);
            const char *s = json_string_value(tk);
            size_t chars = 0;
            for (size_t j = 0; j < l; j++)
                chars += ((unsigned char)s[j] & 0xc0) != 0x80;
            if (chars < 1 || chars > 128) {
                kms_verr(r,
                         "Value '%s' at 'tags.%zu.member.tagKey' failed to satisfy constraint: "
                         "Member must have length %s than or equal to %d",
                         chars > 128 ? "(long)" : s, i + 1, chars < 1 ? "greater" : "less",
                         chars < 1 ? 1 : 128);
                ok = false;
            }
            t[i].k = s;
        }
        if (!json_is_string(tv)) {
            kms_verr(r,
                     "Value null at 'tags.%zu.member.tagValue' failed to satisfy constraint: "
                     "Member must not be null",
                     i + 1);
            ok = false;
        } else {
            size_t l = json_string_length(tv);
            const char *s = json_string_value(tv);
            size_t chars = 0;
            for (size_t j = 0; j < l; j++)
                chars += ((unsigned char)s[j] & 0xc0) != 0x80;
            if (chars > 256) {
                kms_verr(r,
                         "Value at 'tags.%zu.member.tagValue' failed to satisfy constraint: "
                         "Member must have length less than or equal to 256",
                         i + 1);
                ok = false;
            }
            t[i].v = s;
        }
    }
    if (!ok) {
        free(t);
        return false;
    }
    *out = t;
    *n = cnt;
    return true;
}

bool kms_tags_check(struct kms_req *r, const struct kms_key *k, const struct kms_tag_in *t,
                    size_t n)
{
    size_t added = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncasecmp(t[i].k, "aws:", 4) == 0) {
            kms_fail(r, "TagException", "Tags beginning with aws: are reserved");
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(t[i].k, t[j].k) == 0) {
                kms_fail(r, "TagException", "Duplicate tag keys");
                return false;
            }
        }
        bool existing = false;
        for (size_t j = 0; k && j < k->ntags; j++)
            existing = existing || strcmp(k->tags[j].key, t[i].k) == 0;
        added += !existing;
    }
    if ((k ? k->ntags : 0) + added > KMS_MAX_TAGS) {
        kms_fail(r, "TagException", "Too many tags");
        return false;
    }
    return true;
}

static int tag_cmp(const void *a, const void *b)
{
    return strcmp(((const struct kms_tag *)a)->key, ((const struct kms_tag *)b)->key);
}

void kms_tags_apply(struct kms_key *k, const struct kms_tag_in *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < k->ntags && strcmp(k->tags[j].key, t[i].k) != 0)
            j++;
        if (j < k->ntags) {
            free(k->tags[j].value);
            k->tags[j].value = ks_xstrdup(t[i].v);
            continue;
        }
        k->tags = ks_xrealloc(k->tags, (k->ntags + 1) * sizeof(*k->tags));
        k->tags[k->ntags].key = ks_xstrdup(t[i].k);
        k->tags[k->ntags].value = ks_xstrdup(t[i].v);
        k->ntags++;
    }
    if (k->ntags > 1)
        qsort(k->tags, k->ntags, sizeof(*k->tags), tag_cmp);
}

/* ---------------------------------------------------------------------------
 * Policies
 */

static const char lockout_msg[] =
    "The new key policy will not allow you to update the key policy in the future.";

/* Size, syntax and lockout checks shared by CreateKey and PutKeyPolicy;
 * returns the compiled policy or NULL with the error set. */
static struct kms_policy *policy_accept(struct kms_req *r, const char *text, size_t len,
                                        bool bypass, const char *key_arn)
{
    if (len > KMS_MAX_POLICY) {
        kms_fail(r, "LimitExceededException", "The key policy exceeds the quota of %d bytes.",
                 KMS_MAX_POLICY);
        return NULL;
    }
    char why[160];
    struct kms_policy *p = kms_policy_compile(text, len, why, sizeof(why));
    if (!p) {
        kms_fail(r, "MalformedPolicyDocumentException", "%s", why);
        return NULL;
    }
    /* the lockout safety check (KMS: the caller must keep kms:PutKeyPolicy) */
    if (!bypass && r->caller && !r->svc->authz_off &&
        kms_policy_eval(p, r->caller, "kms:PutKeyPolicy", key_arn, NULL) != KMS_AUTHZ_ALLOW) {
        kms_policy_free(p);
        kms_fail(r, "MalformedPolicyDocumentException", "%s", lockout_msg);
        return NULL;
    }
    return p;
}

/* ---------------------------------------------------------------------------
 * CreateKey
 */

static const char *const usages[] = {"ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", NULL};
static const char usages_text[] = "[ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC]";
static const char *const key_specs[] = {"RSA_2048",
                                        "RSA_3072",
                                        "RSA_4096",
                                        "ECC_NIST_P256",
                                        "ECC_NIST_P384",
                                        "ECC_NIST_P521",
                                        "ECC_SECG_P256K1",
                                        "SYMMETRIC_DEFAULT",
                                        "HMAC_224",
                                        "HMAC_256",
                                        "HMAC_384",
                                        "HMAC_512",
                                        "SM2",
                                        "ECC_NIST_EDWARDS25519",
                                        "ML_DSA_44",
                                        "ML_DSA_65",
                                        "ML_DSA_87",
                                        NULL};
static const char key_specs_text[] =
    "[RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, "
    "ECC_SECG_P256K1, SYMMETRIC_DEFAULT, HMAC_224, HMAC_256, HMAC_384, HMAC_512, SM2, "
    "ECC_NIST_EDWARDS25519, ML_DSA_44, ML_DSA_65, ML_DSA_87]";
static const char *const cmk_specs[] = {"RSA_2048",
                                        "RSA_3072",
                                        "RSA_4096",
                                        "ECC_NIST_P256",
                                        "ECC_NIST_P384",
                                        "ECC_NIST_P521",
                                        "ECC_SECG_P256K1",
                                        "SYMMETRIC_DEFAULT",
                                        "HMAC_224",
                                        "HMAC_256",
                                        "HMAC_384",
                                        "HMAC_512",
                                        "SM2",
                                        NULL};
static const char cmk_specs_text[] =
    "[RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, "
    "ECC_SECG_P256K1, SYMMETRIC_DEFAULT, HMAC_224, HMAC_256, HMAC_384, HMAC_512, SM2]";
static const char *const origins[] = {"AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE",
                                      NULL};
static const char origins_text[] = "[AWS_KMS, EXTERNAL, AWS_CLOUDHSM, EXTERNAL_KEY_STORE]";

static bool usage_fits(const struct kms_spec *s, enum kms_usage u)
{
    switch (s->cls) {
    case KMS_CLASS_SYM:
        return u == KMS_USAGE_ENCRYPT_DECRYPT;
    case KMS_CLASS_RSA:
        return u == KMS_USAGE_ENCRYPT_DECRYPT || u == KMS_USAGE_SIGN_VERIFY;
    case KMS_CLASS_EC:
        return u == KMS_USAGE_SIGN_VERIFY;
    case KMS_CLASS_HMAC:
        return u == KMS_USAGE_GENERATE_VERIFY_MAC;
    }
    return false;
}

void kms_op_CreateKey(struct kms_req *r)
{
    size_t plen = 0;
    const char *policy = kms_arg_str(r, "Policy", "policy", false, 1, KMS_MAX_POLICY_MODEL, &plen);
    const char *desc =
        kms_arg_str(r, "Description", "description", false, 0, KMS_MAX_DESCRIPTION, NULL);
    int usage = kms_arg_enum(r, "KeyUsage", "keyUsage", false, usages, usages_text);
    int cmk = kms_arg_enum(r, "CustomerMasterKeySpec", "customerMasterKeySpec", false, cmk_specs,
                           cmk_specs_text);
    int ks = kms_arg_enum(r, "KeySpec", "keySpec", false, key_specs, key_specs_text);
    int origin = kms_arg_enum(r, "Origin", "origin", false, origins, origins_text);
    const char *cks = kms_arg_str(r, "CustomKeyStoreId", "customKeyStoreId", false, 1, 64, NULL);
    const char *xks = kms_arg_str(r, "XksKeyId", "xksKeyId", false, 1, 128, NULL);
    bool bypass, multi;
    kms_arg_bool(r, "BypassPolicyLockoutSafetyCheck", &bypass);
    kms_arg_bool(r, "MultiRegion", &multi);
    struct kms_tag_in *tags = NULL;
    size_t ntags = 0;
    kms_arg_tags(r, false, &tags, &ntags);
    struct kms_policy *pol = NULL;
    struct kms_key *k = NULL;
    if (kms_check_valid(r))
        goto out;

    const char *spec_name = ks >= 0 ? key_specs[ks] : cmk >= 0 ? cmk_specs[cmk] : NULL;
    if (ks >= 0 && cmk >= 0 && strcmp(key_specs[ks], cmk_specs[cmk]) != 0) {
        kms_fail(r, "ValidationException",
                 "KeySpec and CustomerMasterKeySpec must be the same when both are given. "
                 "CustomerMasterKeySpec is deprecated.");
        goto out;
    }
    if (!spec_name)
        spec_name = "SYMMETRIC_DEFAULT";
    const struct kms_spec *spec = kms_spec_find(spec_name);
    if (!spec) {
        kms_fail(r, "UnsupportedOperationException",
                 "KeySpec %s is not supported by this emulator.", spec_name);
        goto out;
    }
    if (usage < 0 && spec->cls != KMS_CLASS_SYM) {
        kms_fail(r, "ValidationException",
                 "You must specify a KeyUsage value for all KMS keys except for symmetric "
                 "encryption keys.");
        goto out;
    }
    enum kms_usage u = usage < 0 ? KMS_USAGE_ENCRYPT_DECRYPT : (enum kms_usage)usage;
    if (!usage_fits(spec, u)) {
        kms_fail(r, "ValidationException", "KeyUsage %s is not compatible with KeySpec %s.",
                 kms_usage_name(u), spec->name);
        goto out;
    }
    if (cks || xks || origin == 2 || origin == 3) {
        kms_fail(r, "UnsupportedOperationException",
                 "Custom key stores are not supported by this emulator.");
        goto out;
    }
    enum kms_origin o = origin == 1 ? KMS_ORIGIN_EXTERNAL : KMS_ORIGIN_AWS_KMS;
    if (o == KMS_ORIGIN_EXTERNAL && spec->cls != KMS_CLASS_SYM) {
        kms_fail(r, "UnsupportedOperationException",
                 "Imported key material is supported only for symmetric keys by this emulator.");
        goto out;
    }
    if (r->svc->keys.len >= KMS_MAX_KEYS) {
        kms_fail(r, "LimitExceededException",
                 "The request was rejected because a quota was exceeded: KMS keys per account "
                 "and Region.");
        goto out;
    }
    if (!kms_tags_check(r, NULL, tags, ntags))
        goto out;
    /* CloudTrail logs the effective parameters even when defaulted (§2.2) */
    kms_rp_default(r, "keySpec", json_string(spec->name));
    kms_rp_default(r, "customerMasterKeySpec", json_string(spec->name));
    kms_rp_default(r, "keyUsage", json_string(kms_usage_name(u)));
    kms_rp_default(r, "origin", json_string(origin_name(o)));
    kms_rp_default(r, "description", json_string(desc ? desc : ""));
    kms_rp_default(r, "bypassPolicyLockoutSafetyCheck", json_boolean(bypass));
    kms_rp_default(r, "multiRegion", json_boolean(multi));
    if (policy && !(pol = policy_accept(r, policy, plen, bypass, "*")))
        goto out;
    if (kms_key_new(r->svc, spec, u, o, multi, r->now_ms, &k) != KS_OK) {
        kms_fail_internal(r, "key generation");
        goto out;
    }
    if (desc) {
        free(k->description);
        k->description = ks_xstrdup(desc);
    }
    if (pol) {
        free(k->policy);
        kms_policy_free(k->pol);
        k->policy = ks_xmemdup(policy, plen);
        k->pol = pol;
        pol = NULL;
    }
    kms_tags_apply(k, tags, ntags);
    if (kms_store_save_key(r->svc, k) != KS_OK) {
        kms_fail_internal(r, "cannot store the key");
        kms_store_reload(r->svc);
        goto out;
    }
    kms_map_put(&r->svc->keys, k->id, strlen(k->id), k);
    kms_add_resource(r, k->arn);
    kms_w_open(r, NULL);
    kms_write_metadata(r, k);
    kms_w_close(r);
    r->out->response_elements = json_pack("{s:o}", "keyMetadata", kms_metadata_ct(r->svc, k));
    k = NULL;
out:
    kms_key_free(k);
    kms_policy_free(pol);
    free(tags);
}

/* ---------------------------------------------------------------------------
 * DescribeKey, ListKeys
 */

void kms_op_DescribeKey(struct kms_req *r)
{
    size_t n;
    const char *id = key_id_arg(r, &n);
    kms_arg_grant_tokens(r);
    if (kms_check_valid(r))
        return;
    struct kms_key *k = kms_resolve(r, id, n, KMS_ID_ANY);
    if (!k || !kms_authorize(r, k, "DescribeKey", KMS_GOP_DescribeKey, NULL))
        return;
    kms_w_open(r, NULL);
    kms_write_metadata(r, k);
    kms_w_close(r);
}

static int key_ptr_cmp(const void *a, const void *b)
{
    return strcmp((*(struct kms_key *const *)a)->id, (*(struct kms_key *const *)b)->id);
}

void kms_op_ListKeys(struct kms_req *r)
{
    int64_t limit;
    char after[KMS_ID_MAX + 8];
    kms_arg_page(r, 1000, 100, &limit, after, sizeof(after));
    if (kms_check_valid(r))
        return;
    size_t n = 0;
    struct kms_key **v = ks_xcalloc(r->svc->keys.len + 1, sizeof(*v));
    for (size_t i = 0; i < r->svc->keys.cap; i++) {
        struct kms_key *k = r->svc->keys.slots[i].val;
        if (r->svc->keys.slots[i].key && strcmp(k->id, after) > 0)
            v[n++] = k;
    }
    qsort(v, n, sizeof(*v), key_ptr_cmp);
    size_t take = n < (size_t)limit ? n : (size_t)limit;
    kms_w_open(r, NULL);
    kms_w_arr(r, "Keys");
    for (size_t i = 0; i < take; i++) {
        kms_w_open(r, NULL);
        kms_w_str(r, "KeyId", v[i]->id);
        kms_w_str(r, "KeyArn", v[i]->arn);
        kms_w_close(r);
    }
    kms_w_arr_close(r);
    kms_w_page_end(r, take < n, take ? v[take - 1]->id : "");
    kms_w_close(r);
    free(v);
}

/* ---------------------------------------------------------------------------
 * State changes
 */

/* KeyId (ID or ARN) -> resolved, authorized key, or NULL with the error. */
static struct kms_key *mgmt_key(struct kms_req *r, const char *action)
{
    size_t n;
    const char *id = key_id_arg(r, &n);
    if (kms_check_valid(r))
        return NULL;
    struct kms_key *k = kms_resolve(r, id, n, KMS_ID_KEY);
    if (!k || !kms_authorize(r, k, action, KMS_GOP_NONE, NULL))
        return NULL;
    return k;
}

static void set_enabled(struct kms_req *r, const char *action, enum kms_state to)
{
    struct kms_key *k = mgmt_key(r, action);
    if (!k || !kms_check_state(r, k, KMS_ST_ENDIS))
        return;
    if (k->state == to)
        return; /* idempotent */
    k->state = to;
    (void)kms_persist_key(r, k);
}

void kms_op_EnableKey(struct kms_req *r)
{
    set_enabled(r, "EnableKey", KMS_STATE_ENABLED);
}

void kms_op_DisableKey(struct kms_req *r)
{
    set_enabled(r, "DisableKey", KMS_STATE_DISABLED);
}

void kms_op_ScheduleKeyDeletion(struct kms_req *r)
{
    size_t n;
    const char *id = key_id_arg(r, &n);
    int64_t days = 30;
    kms_arg_int(r, "PendingWindowInDays", "pendingWindowInDays", false, 7, 30, &days);
    if (kms_check_valid(r))
        return;
    struct kms_key *k = kms_resolve(r, id, n, KMS_ID_KEY);
    if (!k || !kms_authorize(r, k, "ScheduleKeyDeletion", KMS_GOP_NONE, NULL) ||
        !kms_check_state(r, k, KMS_ST_SCHEDULE))
        return;
    k->state = KMS_STATE_PENDING_DELETION;
    k->pending_days = (int)days;
    /* the window runs time_scale times faster; DeletionDate reports when the
     * key really goes */
    k->deletion_ms = r->now_ms + kms_scaled_ms(r->svc, days);
    if (!kms_persist_key(r, k))
        return;
    kms_w_open(r, NULL);
    kms_w_str(r, "KeyId", k->arn);
    kms_w_time(r, "DeletionDate", k->deletion_ms);
    kms_w_str(r, "KeyState", "PendingDeletion");
    kms_w_int(r, "PendingWindowInDays", days);
    kms_w_close(r);
    r->out->response_elements = json_pack(
        "{s:s,s:s,s:o,s:I}", "keyId", k->arn, "keyState", "PendingDeletion", "deletionDate",
        kms_ct_date_json(k->deletion_ms), "pendingWindowInDays", (json_int_t)days);
}

void kms_op_CancelKeyDeletion(struct kms_req *r)
{
    struct kms_key *k = mgmt_key(r, "CancelKeyDeletion");
    if (!k || !kms_check_state(r, k, KMS_ST_CANCEL))
        return;
    k->state = KMS_STATE_DISABLED; /* never back to Enabled (spec §3.3) */
    k->deletion_ms = 0;
    k->pending_days = 0;
    if (!kms_persist_key(r, k))
        return;
    kms_w_open(r, NULL);
    kms_w_str(r, "KeyId", k->arn);
    kms_w_close(r);
    r->out->response_elements = json_pack("{s:s}", "keyId", k->arn);
}

void kms_op_UpdateKeyDescription(struct kms_req *r)
{
    size_t n;
    const char *id = key_id_arg(r, &n);
    const char *desc =
        kms_arg_str(r, "Description", "description", true, 0, KMS_MAX_DESCRIPTION, NULL);
    if (kms_check_valid(r))
        return;
    struct kms_key *k = kms_resolve(r, id, n, KMS_ID_KEY);
    if (!k || !kms_authorize(r, k, "UpdateKeyDescription", KMS_GOP_NONE, NULL) ||
        !kms_check_state(r, k, KMS_ST_MGMT))
        return;
    free(k->description);
    k->description = ks_xstrdup(desc);
    (void)kms_persist_key(r, k);
}

/* ---------------------------------------------------------------------------
 * Key policies
 */

static bool policy_name_ok(struct kms_req *r)
{
    size_t n;
    const char *name = kms_arg_str(r, "PolicyName", "policyName", false, 1, 128, &n);
    if (name) {
        for (size_t i = 0; i < n; i++) {
            char c = name[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_')) {
                kms_verr(r,
                         "Value '%s' at 'policyName' failed to satisfy constraint: Member must "
                         "satisfy regular expression pattern: [\\w]+",
                         name);
                return false;
            }
        }
    }
    return !name || strcmp(name, "default") == 0;
}

void kms_op_GetKeyPolicy(struct kms_req *r)
{
    size_t n;
    const char *id = key_id_arg(r, &n);
    bool is_default = policy_name_ok(r);
    if (kms_check_valid(r))
        return;
    struct kms_key *k = kms_resolve(r, id, n, KMS_ID_KEY);
    if (!k || !kms_authorize(r, k, "GetKeyPolicy", KMS_GOP_NONE, NULL))
        return;
    if (!is_default) {
        kms_fail(r, "NotFoundException", "No such policy exists");
        return;
    }
    kms_w_open(r, NULL);
    kms_w_str(r, "Policy", k->policy);
    kms_w_str(r, "PolicyName", "default");
    kms_w_close(r);
}

void kms_op_PutKeyPolicy(struct kms_req *r)
{
    size_t n, plen;
    const char *id = key_id_arg(r, &n);
    bool is_default = policy_name_ok(r);
    const char *policy = kms_arg_str(r, "Policy", "policy", true, 1, KMS_MAX_POLICY_MODEL, &plen);
    bool bypass;
    kms_arg_bool(r, "BypassPolicyLockoutSafetyCheck", &bypass);
    if (kms_check_valid(r))
        return;
    struct kms_key *k = kms_resolve(r, id, n, KMS_ID_KEY);
    if (!k || !kms_authorize(r, k, "PutKeyPolicy", KMS_GOP_NONE, NULL))
        return;
    if (!is_default) {
        kms_fail(r, "NotFoundException", "No such policy exists");
        return;
    }
    struct kms_policy *p = policy_accept(r, policy, plen, bypass, k->arn);
    if (!p)
        return;
    free(k->policy);
    kms_policy_free(k->pol);
    k->policy = ks_xmemdup(policy, plen);
    k->pol = p;
    (void)kms_persist_key(r, k);
}

void kms_op_ListKeyPolicies(struct kms_req *r)
{
    size_t n;
    const char *id = key_id_arg(r, &n);
    int64_t limit;
    char after[64];
    kms_arg_page(r, 1000, 100, &limit, after, sizeof(after));
    if (kms_check_valid(r))
        return;
    struct kms_key *k = kms_resolve(r, id, n, KMS_ID_KEY);
    if (!k || !kms_authorize(r, k, "ListKeyPolicies", KMS_GOP_NONE, NULL))
        return;
    kms_w_open(r, NULL);
    kms_w_arr(r, "PolicyNames");
    if (strcmp(after, "default") < 0)
        kms_w_str(r, NULL, "default");
    kms_w_arr_close(r);
    kms_w_bool(r, "Truncated", false);
    kms_w_close(r);
}

/* ---------------------------------------------------------------------------
 * Rotation (spec §6.4)
 */

/* Rotation is for symmetric keys with KMS-made material. */
static bool rotation_supported(struct kms_req *r, const struct kms_key *k)
{
    if (k->origin == KMS_ORIGIN_EXTERNAL) {
        kms_fail(r, "UnsupportedOperationException",
                 "%s origin is EXTERNAL which is not valid for this operation.", k->arn);
        return false;
    }
    if (k->spec->cls != KMS_CLASS_SYM) {
        kms_fail(r, "UnsupportedOperationException",
                 "%s key spec is %s which is not valid for this operation.", k->arn, k->spec->name);
        return false;
    }
    return true;
}

void kms_op_EnableKeyRotation(struct kms_req *r)
{
    size_t n;
    const char *id = key_id_arg(r, &n);
    int64_t days = 0;
    bool have_days =
        kms_arg_int(r, "RotationPeriodInDays", "rotationPeriodInDays", false, 90, 2560, &days);
    if (kms_check_valid(r))
        return;
    struct kms_key *k = kms_resolve(r, id, n, KMS_ID_KEY);
    if (!k || !kms_authorize(r, k, "EnableKeyRotation", KMS_GOP_NONE, NULL) ||
        !rotation_supported(r, k) || !kms_check_state(r, k, KMS_ST_ROTATION))
        return;
    if (!have_days)
        days = k->rotation_enabled && k->rotation_days ? k->rotation_days : 365;
    if (!k->rotation_enabled || have_days) {
        k->rotation_days = (int)days;
        k->next_rotation_ms = r->now_ms + kms_scaled_ms(r->svc, days);
    }
    k->rotation_enabled = true;
    (void)kms_persist_key(r, k);
}

void kms_op_DisableKeyRotation(struct kms_req *r)
{
    struct kms_key *k = mgmt_key(r, "DisableKeyRotation");
    if (!k || !rotation_supported(r, k) || !kms_check_state(r, k, KMS_ST_ROTATION))
        return;
    k->rotation_enabled = false;
    (void)kms_persist_key(r, k);
}

void kms_op_GetKeyRotationStatus(struct kms_req *r)
{
    struct kms_key *k = mgmt_key(r, "GetKeyRotationStatus");
    if (!k || !rotation_supported(r, k))
        return;
    /* a key pending deletion reports false (spec §3.3) */
    bool on = k->rotation_enabled && k->state != KMS_STATE_PENDING_DELETION;
    kms_w_open(r, NULL);
    kms_w_bool(r, "KeyRotationEnabled", on);
    kms_w_str(r, "KeyId", k->arn);
    if (on) {
        kms_w_int(r, "RotationPeriodInDays", k->rotation_days);
        kms_w_time(r, "NextRotationDate", k->next_rotation_ms);
    }
    kms_w_close(r);
}

void kms_op_RotateKeyOnDemand(struct kms_req *r)
{
    struct kms_key *k = mgmt_key(r, "RotateKeyOnDemand");
    if (!k || !kms_check_state(r, k, KMS_ST_ROTATION))
        return;
    if (k->spec->cls != KMS_CLASS_SYM || k->origin != KMS_ORIGIN_AWS_KMS) {
        kms_fail(r, "UnsupportedOperationException", "%s", ""); /* AWS sends no message */
        return;
    }
    if (k->on_demand_count >= KMS_MAX_ON_DEMAND) {
        kms_fail(r, "LimitExceededException",
                 "The on-demand rotations limit has been reached for the given keyId. No more "
                 "on-demand rotations can be performed for this key: %s",
                 k->arn);
        return;
    }
    kms_key_rotate(r->svc, k, r->now_ms, KMS_ROT_ON_DEMAND);
    k->on_demand_count++;
    char arn[KMS_ARN_MAX];
    snprintf(arn, sizeof(arn), "%s", k->arn);
    if (!kms_persist_key(r, k))
        return;
    kms_event_add(r->events, "RotateKey", arn, r->now_ms);
    kms_w_open(r, NULL);
    kms_w_str(r, "KeyId", arn);
    kms_w_close(r);
    r->out->response_elements = json_pack("{s:s}", "keyId", arn);
}

void kms_op_ListKeyRotations(struct kms_req *r)
{
    static const char *const incl[] = {"ALL_KEY_MATERIAL", "ROTATIONS_ONLY", NULL};
    size_t n;
    const char *id = key_id_arg(r, &n);
    int which = kms_arg_enum(r, "IncludeKeyMaterial", "includeKeyMaterial", false, incl,
                             "[ALL_KEY_MATERIAL, ROTATIONS_ONLY]");
    int64_t limit;
    char after[32];
    kms_arg_page(r, 1000, 100, &limit, after, sizeof(after));
    if (kms_check_valid(r))
        return;
    struct kms_key *k = kms_resolve(r, id, n, KMS_ID_KEY);
    if (!k || !kms_authorize(r, k, "ListKeyRotations", KMS_GOP_NONE, NULL) ||
        !rotation_supported(r, k))
        return;
    /* the marker is the index of the next material version, as text */
    size_t start = 0;
    for (const char *p = after; *p; p++) {
        if (*p < '0' || *p > '9' || start > k->nmats) {
            kms_fail(r, "InvalidMarkerException", "The marker is not valid.");
            return;
        }
        start = start * 10 + (size_t)(*p - '0');
    }
    bool all = which == 0;
    kms_w_open(r, NULL);
    kms_w_arr(r, "Rotations");
    size_t shown = 0, i = start;
    for (; i < k->nmats && shown < (size_t)limit; i++) {
        const struct kms_material *m = &k->mats[i];
        if (!all && m->rotation == KMS_ROT_NONE)
            continue;
        kms_w_open(r, NULL);
        kms_w_str(r, "KeyId", k->id);
        kms_w_hex(r, "KeyMaterialId", m->id, KMS_MAT_ID);
        kms_w_str(r, "KeyMaterialState", i + 1 == k->nmats ? "CURRENT" : "NON_CURRENT");
        if (m->rotation != KMS_ROT_NONE) {
            kms_w_time(r, "RotationDate", m->created_ms);
            kms_w_str(r, "RotationType", rotation_type_name(m->rotation));
        }
        kms_w_close(r);
        shown++;
    }
    kms_w_arr_close(r);
    /* more only if a later version would be listed */
    bool more = false;
    for (size_t j = i; j < k->nmats && !more; j++)
        more = all || k->mats[j].rotation != KMS_ROT_NONE;
    char next[32];
    snprintf(next, sizeof(next), "%zu", i);
    kms_w_page_end(r, more, next);
    kms_w_close(r);
}
