/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms grants: CreateGrant, ListGrants, ListRetirableGrants, RevokeGrant,
 * RetireGrant (spec/kms-api.md §6.7). Grants are honoured by
 * kms_authorize (kms_policy.c) for their grantee principal.
 *
 * Grant tokens are "AQ" and base64url (no padding) of 48 bytes: the 32-byte
 * grant id, 8 random bytes (a new token every time) and 8 bytes of
 * HMAC-SHA256 under a key derived from the root key, so RetireGrant can check
 * a token without storing it and a forged one answers
 * InvalidGrantTokenException. The prefix (AWS's tokens start so too) keeps a
 * token from starting with '-' (1 in 64 without it), which command lines such
 * as the AWS CLI's take for an option; tokens without it, as issued before,
 * are still read.
 */
#include "kms/kms_int.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>

static const char grant_ops_text[] =
    "[Decrypt, Encrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, ReEncryptFrom, "
    "ReEncryptTo, Sign, Verify, GetPublicKey, CreateGrant, RetireGrant, DescribeKey, "
    "GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext, GenerateMac, VerifyMac, "
    "DeriveSharedSecret]";

#define TOKEN_RAW   48
#define TOKEN_CHARS 64 /* base64url of TOKEN_RAW bytes, unpadded */

static void token_mac(const struct kms_service *svc, const uint8_t *idr, uint8_t out[8])
{
    uint8_t mac[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), svc->token_key, sizeof(svc->token_key), idr, 40, mac, &len);
    memcpy(out, mac, 8);
}

static bool token_make(const struct kms_service *svc, const char *grant_id, char *out)
{
    uint8_t raw[TOKEN_RAW];
    if (!kms_unhex(grant_id, 64, raw) || !kms_random(raw + 32, 8))
        return false;
    token_mac(svc, raw, raw + 40);
    out[0] = 'A';
    out[1] = 'Q';
    kms_b64url_encode(raw, sizeof(raw), out + 2);
    return true;
}

/* Grant id named by a token, or false when the token is not ours. */
static bool token_read(const struct kms_service *svc, const char *tok, size_t n, char id[65])
{
    uint8_t raw[TOKEN_RAW + 4];
    size_t len;
    if (n == TOKEN_CHARS + 2 && tok[0] == 'A' && tok[1] == 'Q') {
        tok += 2;
        n -= 2;
    }
    if (!kms_b64url_decode(tok, n, raw, sizeof(raw), &len) || len != TOKEN_RAW)
        return false;
    uint8_t mac[8];
    token_mac(svc, raw, mac);
    if (CRYPTO_memcmp(mac, raw + 40, 8) != 0)
        return false;
    kms_hex(raw, 32, id);
    return true;
}

static bool principal_ok(const char *s, size_t n)
{
    /* ^[\w+=,.@:/-]+$ */
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("_+=,.@:/-", c)))
            return false;
    }
    return true;
}

static const char *principal_arg(struct kms_req *r, const char *member, const char *path)
{
    size_t n;
    const char *s = kms_arg_str(r, member, path, false, 1, 256, &n);
    if (s && !principal_ok(s, n)) {
        kms_verr(r,
                 "Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular "
                 "expression pattern: ^[\\w+=,.@:/-]+$",
                 s, path);
        return NULL;
    }
    return s;
}

/* Which grant operations make sense for a key (spec §6.7). */
static uint32_t ops_for_key(const struct kms_key *k)
{
#define B(n) (1u << KMS_GOP_##n)
    uint32_t always = B(CreateGrant) | B(RetireGrant) | B(DescribeKey);
    if (k->spec->cls == KMS_CLASS_SYM)
        return always | B(Decrypt) | B(Encrypt) | B(GenerateDataKey) |
               B(GenerateDataKeyWithoutPlaintext) | B(ReEncryptFrom) | B(ReEncryptTo) |
               B(GenerateDataKeyPair) | B(GenerateDataKeyPairWithoutPlaintext);
    if (k->spec->cls == KMS_CLASS_HMAC)
        return always | B(GenerateMac) | B(VerifyMac);
    if (k->usage == KMS_USAGE_ENCRYPT_DECRYPT)
        return always | B(Decrypt) | B(Encrypt) | B(ReEncryptFrom) | B(ReEncryptTo) |
               B(GetPublicKey);
    return always | B(Sign) | B(Verify) | B(GetPublicKey);
#undef B
}

static bool constraints_arg(struct kms_req *r, const json_t **out)
{
    const json_t *c = json_object_get(r->in, "Constraints");
    *out = NULL;
    if (!c || json_is_null(c))
        return true;
    if (!json_is_object(c)) {
        kms_fail(r, "SerializationException", "Start of structure expected for 'Constraints'");
        return false;
    }
    static const char *const maps[] = {"EncryptionContextSubset", "EncryptionContextEquals"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *m = json_object_get(c, maps[i]);
        if (!m || json_is_null(m))
            continue;
        const char *k;
        json_t *v;
        if (!json_is_object(m)) {
            kms_fail(r, "SerializationException", "Start of map expected for '%s'", maps[i]);
            return false;
        }
        json_object_foreach((json_t *)(uintptr_t)m, k, v)
        {
            if (!json_is_string(v)) {
                kms_fail(r, "SerializationException", "Map values of '%s' must be strings",
                         maps[i]);
                return false;
            }
        }
    }
    *out = c;
    return true;
}

static void w_grant(struct kms_req *r, const struct kms_key *k, const struct kms_grant *g)
{
    kms_w_open(r, NULL);
    kms_w_str(r, "KeyId", k->arn);
    kms_w_str(r, "GrantId", g->id);
    if (g->name)
        kms_w_str(r, "Name", g->name);
    kms_w_time(r, "CreationDate", g->created_ms);
    kms_w_str(r, "GranteePrincipal", g->grantee);
    if (g->retiring)
        kms_w_str(r, "RetiringPrincipal", g->retiring);
    char issuing[64];
    snprintf(issuing, sizeof(issuing), "arn:aws:iam::%s:root", r->svc->account);
    kms_w_str(r, "IssuingAccount", issuing);
    kms_w_arr(r, "Operations");
    for (int i = 0; i < KMS_GOP_COUNT; i++)
        if (g->ops & (1u << i))
            kms_w_str(r, NULL, kms_grant_op_names[i]);
    kms_w_arr_close(r);
    if (g->constraints_json)
        kms_w_raw(r, "Constraints", g->constraints_json);
    kms_w_close(r);
}

void kms_op_CreateGrant(struct kms_req *r)
{
    size_t n, name_len = 0;
    const char *id = kms_arg_str(r, "KeyId", "keyId", true, 1, KMS_MAX_KEY_ID_INPUT, &n);
    const char *grantee = principal_arg(r, "GranteePrincipal", "granteePrincipal");
    const char *grantee_svc =
        principal_arg(r, "GranteeServicePrincipal", "granteeServicePrincipal");
    const char *retiring = principal_arg(r, "RetiringPrincipal", "retiringPrincipal");
    const char *retiring_svc =
        principal_arg(r, "RetiringServicePrincipal", "retiringServicePrincipal");
    const json_t *ops = kms_arg_str_list(r, "Operations", "operations", true, 1, SIZE_MAX, 1, 64);
    const json_t *cons = NULL;
    constraints_arg(r, &cons);
    kms_arg_grant_tokens(r);
    const char *name = kms_arg_str(r, "Name", "name", false, 1, 256, &name_len);
    bool dry;
    kms_arg_bool(r, "DryRun", &dry);
    if (!grantee)
        grantee = grantee_svc;
    if (!retiring)
        retiring = retiring_svc;
    if (!grantee && !json_object_get(r->in, "GranteePrincipal") &&
        !json_object_get(r->in, "GranteeServicePrincipal"))
        kms_verr(r, "Value null at 'granteePrincipal' failed to satisfy constraint: Member must "
                    "not be null");
    uint32_t mask = 0;
    for (size_t i = 0; ops && i < json_array_size(ops); i++) {
        const char *op = json_string_value(json_array_get(ops, i));
        int found = -1;
        for (int j = 0; j < KMS_GOP_COUNT; j++)
            if (strcmp(kms_grant_op_names[j], op) == 0)
                found = j;
        if (found < 0) {
            kms_verr(r,
                     "Value '[%s]' at 'operations' failed to satisfy constraint: Member must "
                     "satisfy constraint: [Member must satisfy enum value set: %s]",
                     op, grant_ops_text);
            break;
        }
        mask |= 1u << found;
    }
    if (name && !(name_len && strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                           "0123456789:/_-") == name_len))
        kms_verr(r,
                 "Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular "
                 "expression pattern: ^[a-zA-Z0-9:/_-]+$",
                 name);
    if (kms_check_valid(r))
        return;
    struct kms_key *k = kms_resolve(r, id, n, KMS_ID_KEY);
    if (!k || !kms_authorize(r, k, "CreateGrant", KMS_GOP_CreateGrant, NULL) ||
        !kms_check_state(r, k, KMS_ST_CRYPTO))
        return;
    uint32_t bad = mask & ~ops_for_key(k);
    if (bad) {
        int first = 0;
        while (!(bad & (1u << first)))
            first++;
        kms_fail(r, "ValidationException",
                 "Grant operation %s is not valid for a KMS key with key spec %s and key usage "
                 "%s.",
                 kms_grant_op_names[first], k->spec->name, kms_usage_name(k->usage));
        return;
    }
    if (cons && k->spec->cls != KMS_CLASS_SYM) {
        kms_fail(r, "ValidationException",
                 "Encryption context grant constraints are valid only for symmetric encryption "
                 "KMS keys.");
        return;
    }
    char *cons_text = cons ? json_dumps(cons, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    /* the same Name with the same parameters returns the existing grant */
    struct kms_grant *g = NULL;
    for (size_t i = 0; name && i < k->ngrants && !g; i++) {
        const struct kms_grant *x = k->grants[i];
        if (x->name && strcmp(x->name, name) == 0 && strcmp(x->grantee, grantee) == 0 &&
            x->ops == mask &&
            ((!x->retiring && !retiring) ||
             (x->retiring && retiring && strcmp(x->retiring, retiring) == 0)) &&
            ((!x->constraints_json && !cons_text) ||
             (x->constraints_json && cons_text && strcmp(x->constraints_json, cons_text) == 0)))
            g = k->grants[i];
    }
    free(cons_text);
    if (!g && k->ngrants >= KMS_MAX_GRANTS) {
        kms_fail(r, "LimitExceededException",
                 "The request was rejected because a quota was exceeded: grants per KMS key.");
        return;
    }
    if (kms_dry_run(r, dry))
        return;
    if (!g) {
        g = ks_xcalloc(1, sizeof(*g));
        uint8_t rnd[32];
        if (!kms_random(rnd, sizeof(rnd)))
            abort();
        kms_hex(rnd, sizeof(rnd), g->id);
        snprintf(g->key_id, sizeof(g->key_id), "%s", k->id);
        g->name = name ? ks_xstrdup(name) : NULL;
        g->grantee = ks_xstrdup(grantee);
        g->retiring = retiring ? ks_xstrdup(retiring) : NULL;
        g->ops = mask;
        g->created_ms = r->now_ms;
        if (cons)
            kms_grant_set_constraints(g, cons);
        if (kms_store_save_grant(r->svc, g) != KS_OK) {
            kms_grant_free(g);
            kms_fail_internal(r, "cannot store the grant");
            return;
        }
        k->grants = ks_xrealloc(k->grants, (k->ngrants + 1) * sizeof(*k->grants));
        k->grants[k->ngrants++] = g;
        kms_map_put(&r->svc->grants, g->id, strlen(g->id), g);
    }
    char token[2 + TOKEN_CHARS + 1]; /* "AQ", the base64url, NUL */
    if (!token_make(r->svc, g->id, token)) {
        kms_fail_internal(r, "grant token");
        return;
    }
    kms_w_open(r, NULL);
    kms_w_str(r, "GrantToken", token);
    kms_w_str(r, "GrantId", g->id);
    kms_w_close(r);
    r->out->response_elements = json_pack("{s:s}", "grantId", g->id);
}

static int grant_cmp(const void *a, const void *b)
{
    const struct kms_grant *x = *(struct kms_grant *const *)a, *y = *(struct kms_grant *const *)b;
    if (x->created_ms != y->created_ms)
        return x->created_ms < y->created_ms ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Sort key of a grant for markers: creation time, then id. */
static void grant_sort_key(const struct kms_grant *g, char *out, size_t size)
{
    snprintf(out, size, "%020lld:%s", (long long)g->created_ms, g->id);
}

static void list_grants(struct kms_req *r, struct kms_grant **v, size_t n, int64_t limit,
                        const char *after)
{
    qsort(v, n, sizeof(*v), grant_cmp);
    size_t i = 0;
    char sk[100];
    while (i < n) {
        grant_sort_key(v[i], sk, sizeof(sk));
        if (strcmp(sk, after) > 0)
            break;
        i++;
    }
    kms_w_open(r, NULL);
    kms_w_arr(r, "Grants");
    size_t shown = 0;
    for (; i < n && shown < (size_t)limit; i++, shown++)
        w_grant(r, kms_key_by_id(r->svc, v[i]->key_id, strlen(v[i]->key_id)), v[i]);
    kms_w_arr_close(r);
    if (shown)
        grant_sort_key(v[i - 1], sk, sizeof(sk));
    kms_w_page_end(r, i < n, shown ? sk : "");
    kms_w_close(r);
}

void kms_op_ListGrants(struct kms_req *r)
{
    size_t n;
    const char *id = kms_arg_str(r, "KeyId", "keyId", true, 1, KMS_MAX_KEY_ID_INPUT, &n);
    const char *gid = kms_arg_str(r, "GrantId", "grantId", false, 1, 128, NULL);
    const char *grantee = principal_arg(r, "GranteePrincipal", "granteePrincipal");
    int64_t limit;
    char after[128];
    kms_arg_page(r, 100, 50, &limit, after, sizeof(after));
    if (kms_check_valid(r))
        return;
    struct kms_key *k = kms_resolve(r, id, n, KMS_ID_KEY);
    if (!k || !kms_authorize(r, k, "ListGrants", KMS_GOP_NONE, NULL))
        return;
    if (gid && strlen(gid) != 64) {
        kms_fail(r, "InvalidGrantIdException", "%s", "");
        return;
    }
    struct kms_grant **v = ks_xcalloc(k->ngrants + 1, sizeof(*v));
    size_t cnt = 0;
    for (size_t i = 0; i < k->ngrants; i++) {
        struct kms_grant *g = k->grants[i];
        if ((gid && strcmp(g->id, gid) != 0) || (grantee && strcmp(g->grantee, grantee) != 0))
            continue;
        v[cnt++] = g;
    }
    list_grants(r, v, cnt, limit, after);
    free(v);
}

void kms_op_ListRetirableGrants(struct kms_req *r)
{
    const char *retiring = principal_arg(r, "RetiringPrincipal", "retiringPrincipal");
    if (!retiring && !json_object_get(r->in, "RetiringPrincipal"))
        kms_verr(r, "Value null at 'retiringPrincipal' failed to satisfy constraint: Member must "
                    "not be null");
    int64_t limit;
    char after[128];
    kms_arg_page(r, 100, 50, &limit, after, sizeof(after));
    if (kms_check_valid(r))
        return;
    struct kms_grant **v = ks_xcalloc(r->svc->grants.len + 1, sizeof(*v));
    size_t cnt = 0;
    for (size_t i = 0; i < r->svc->grants.cap; i++) {
        struct kms_grant *g = r->svc->grants.slots[i].val;
        if (r->svc->grants.slots[i].key && g->retiring && strcmp(g->retiring, retiring) == 0)
            v[cnt++] = g;
    }
    list_grants(r, v, cnt, limit, after);
    free(v);
}

static void grant_remove(struct kms_req *r, struct kms_key *k, struct kms_grant *g)
{
    if (kms_store_delete_grant(r->svc, g->id) != KS_OK) {
        kms_fail_internal(r, "cannot delete the grant");
        return;
    }
    kms_map_del(&r->svc->grants, g->id, strlen(g->id));
    for (size_t i = 0; i < k->ngrants; i++) {
        if (k->grants[i] == g) {
            memmove(&k->grants[i], &k->grants[i + 1], (k->ngrants - i - 1) * sizeof(*k->grants));
            k->ngrants--;
            break;
        }
    }
    kms_grant_free(g);
}

static struct kms_grant *grant_of_key(struct kms_key *k, const char *gid)
{
    for (size_t i = 0; gid && i < k->ngrants; i++)
        if (strcmp(k->grants[i]->id, gid) == 0)
            return k->grants[i];
    return NULL;
}

void kms_op_RevokeGrant(struct kms_req *r)
{
    size_t n;
    const char *id = kms_arg_str(r, "KeyId", "keyId", true, 1, KMS_MAX_KEY_ID_INPUT, &n);
    const char *gid = kms_arg_str(r, "GrantId", "grantId", true, 1, 128, NULL);
    bool dry;
    kms_arg_bool(r, "DryRun", &dry);
    if (kms_check_valid(r))
        return;
    struct kms_key *k = kms_resolve(r, id, n, KMS_ID_KEY);
    if (!k || !kms_authorize(r, k, "RevokeGrant", KMS_GOP_NONE, NULL))
        return;
    struct kms_grant *g = grant_of_key(k, gid);
    if (!g) {
        kms_fail(r, "InvalidGrantIdException", "%s", "");
        return;
    }
    if (kms_dry_run(r, dry))
        return;
    grant_remove(r, k, g);
}

void kms_op_RetireGrant(struct kms_req *r)
{
    size_t tn = 0, n = 0;
    const char *tok = kms_arg_str(r, "GrantToken", "grantToken", false, 1, 8192, &tn);
    const char *id = kms_arg_str(r, "KeyId", "keyId", false, 1, KMS_MAX_KEY_ID_INPUT, &n);
    const char *gid = kms_arg_str(r, "GrantId", "grantId", false, 1, 128, NULL);
    bool dry;
    kms_arg_bool(r, "DryRun", &dry);
    if (kms_check_valid(r))
        return;
    struct kms_key *k = NULL;
    struct kms_grant *g = NULL;
    if (tok) {
        char tid[65];
        if (!token_read(r->svc, tok, tn, tid) || !(g = kms_map_get(&r->svc->grants, tid, 64))) {
            kms_fail(r, "InvalidGrantTokenException", "%s", "");
            return;
        }
        k = kms_key_by_id(r->svc, g->key_id, strlen(g->key_id));
        if (k)
            kms_add_resource(r, k->arn);
    } else if (id && gid) {
        if (!(k = kms_resolve(r, id, n, KMS_ID_KEY)))
            return;
        if (!(g = grant_of_key(k, gid))) {
            kms_fail(r, "InvalidGrantIdException", "%s", "");
            return;
        }
    } else {
        kms_fail(r, "ValidationException", "Grant token OR (grant ID, key ID) must be specified");
        return;
    }
    r->out->additional_event_data = json_pack("{s:s}", "grantId", g->id);
    if (!k) {
        kms_fail_internal(r, "grant without key");
        return;
    }
    /* who may retire: the retiring principal, a grantee holding RetireGrant,
     * or the account that issued it (KMS "RetireGrant" permissions) */
    const struct kms_caller *c = r->caller;
    bool allowed = !c || r->svc->authz_off || (g->retiring && kms_principal_is(c, g->retiring)) ||
                   ((g->ops & (1u << KMS_GOP_RetireGrant)) && kms_principal_is(c, g->grantee)) ||
                   (c->account && strcmp(c->account, r->svc->account) == 0);
    if (!allowed) {
        kms_fail_denied(r, k, "RetireGrant", false);
        return;
    }
    if (kms_dry_run(r, dry))
        return;
    grant_remove(r, k, g);
}
