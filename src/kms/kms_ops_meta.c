/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms aliases and tags: CreateAlias, UpdateAlias, DeleteAlias, ListAliases,
 * TagResource, UntagResource, ListResourceTags (spec/kms-api.md §6.2, §6.5).
 * Alias records in CloudTrail list the alias ARN and the key it names
 * (cloudtrail-kms-events.md §2.5).
 */
#include "kms/kms_int.h"

static const char alias_pattern[] = "^[a-zA-Z0-9:/_-]+$";

static bool alias_chars_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == ':' || c == '/' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* AliasName with its model checks; NULL with a validation message. */
static const char *alias_arg(struct kms_req *r, size_t *n)
{
    const char *s = kms_arg_str(r, "AliasName", "aliasName", true, 1, 256, n);
    if (s && !alias_chars_ok(s, *n)) {
        kms_verr(r,
                 "Value '%s' at 'aliasName' failed to satisfy constraint: Member must satisfy "
                 "regular expression pattern: %s",
                 s, alias_pattern);
        return NULL;
    }
    return s;
}

/* Rules past the model: prefix, and alias/aws/ belongs to AWS. */
static bool alias_name_ok(struct kms_req *r, const char *s, size_t n)
{
    if (n < 6 || memcmp(s, "alias/", 6) != 0) {
        kms_fail(r, "ValidationException",
                 "Alias must start with the prefix \"alias/\". Please see "
                 "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html");
        return false;
    }
    if (n >= 10 && memcmp(s, "alias/aws/", 10) == 0) {
        kms_fail(r, "NotAuthorizedException", "%s", "");
        return false;
    }
    return true;
}

static void alias_arn(const struct kms_service *svc, const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s%s", svc->arn_prefix, name);
}

/* Lists the alias ARN first, before the key the resolver added. */
static void alias_resource_first(struct kms_req *r, const char *name)
{
    char arn[400];
    alias_arn(r->svc, name, arn, sizeof(arn));
    if (!r->out->resources)
        r->out->resources = json_array();
    json_array_insert_new(r->out->resources, 0,
                          json_pack("{s:s,s:s,s:s}", "accountId", r->svc->account, "type",
                                    "AWS::KMS::Key", "ARN", arn));
}

void kms_op_CreateAlias(struct kms_req *r)
{
    size_t an, kn;
    const char *name = alias_arg(r, &an);
    const char *target =
        kms_arg_str(r, "TargetKeyId", "targetKeyId", true, 1, KMS_MAX_KEY_ID_INPUT, &kn);
    if (kms_check_valid(r) || !alias_name_ok(r, name, an))
        return;
    struct kms_key *k = kms_resolve(r, target, kn, KMS_ID_KEY);
    if (!k)
        return;
    alias_resource_first(r, name);
    if (!kms_authorize(r, k, "CreateAlias", KMS_GOP_NONE, NULL) ||
        !kms_check_state(r, k, KMS_ST_MGMT))
        return;
    if (kms_map_get(&r->svc->aliases, name, an)) {
        kms_fail(r, "AlreadyExistsException", "An alias with the name %s%s already exists",
                 r->svc->arn_prefix, name);
        return;
    }
    if (k->naliases >= KMS_MAX_ALIASES) {
        kms_fail(r, "LimitExceededException",
                 "The request was rejected because a quota was exceeded: aliases per KMS key.");
        return;
    }
    struct kms_alias *a = ks_xcalloc(1, sizeof(*a));
    a->name = ks_xmemdup(name, an);
    snprintf(a->key_id, sizeof(a->key_id), "%s", k->id);
    a->created_ms = a->updated_ms = r->now_ms;
    if (kms_store_save_alias(r->svc, a) != KS_OK) {
        kms_alias_free(a);
        kms_fail_internal(r, "cannot store the alias");
        return;
    }
    kms_map_put(&r->svc->aliases, a->name, an, a);
    k->naliases++;
}

/* Aliases may only move between keys of the same kind (spec §6.2). */
static int key_kind(const struct kms_key *k)
{
    if (k->spec->cls == KMS_CLASS_SYM)
        return 0;
    if (k->spec->cls == KMS_CLASS_HMAC)
        return 1;
    return 2 + (int)k->usage;
}

void kms_op_UpdateAlias(struct kms_req *r)
{
    size_t an, kn;
    const char *name = alias_arg(r, &an);
    const char *target =
        kms_arg_str(r, "TargetKeyId", "targetKeyId", true, 1, KMS_MAX_KEY_ID_INPUT, &kn);
    if (kms_check_valid(r) || !alias_name_ok(r, name, an))
        return;
    struct kms_alias *a = kms_map_get(&r->svc->aliases, name, an);
    if (!a) {
        kms_fail(r, "NotFoundException", "Alias %s%s is not found.", r->svc->arn_prefix, name);
        return;
    }
    struct kms_key *old = kms_key_by_id(r->svc, a->key_id, strlen(a->key_id));
    struct kms_key *k = kms_resolve(r, target, kn, KMS_ID_KEY);
    if (!k)
        return;
    alias_resource_first(r, name);
    if ((old && !kms_authorize(r, old, "UpdateAlias", KMS_GOP_NONE, NULL)) ||
        !kms_authorize(r, k, "UpdateAlias", KMS_GOP_NONE, NULL) ||
        !kms_check_state(r, k, KMS_ST_MGMT))
        return;
    if (old && key_kind(old) != key_kind(k)) {
        kms_fail(r, "ValidationException",
                 "Alias %s cannot be moved to %s: the new key must have the same key type and "
                 "key usage as the current key.",
                 name, k->arn);
        return;
    }
    if (old != k && k->naliases >= KMS_MAX_ALIASES) {
        kms_fail(r, "LimitExceededException",
                 "The request was rejected because a quota was exceeded: aliases per KMS key.");
        return;
    }
    struct kms_alias next = *a;
    snprintf(next.key_id, sizeof(next.key_id), "%s", k->id);
    next.updated_ms = r->now_ms;
    if (kms_store_save_alias(r->svc, &next) != KS_OK) {
        kms_fail_internal(r, "cannot store the alias");
        return;
    }
    if (old)
        old->naliases--;
    k->naliases++;
    *a = next;
}

void kms_op_DeleteAlias(struct kms_req *r)
{
    size_t an;
    const char *name = alias_arg(r, &an);
    if (kms_check_valid(r) || !alias_name_ok(r, name, an))
        return;
    struct kms_alias *a = kms_map_get(&r->svc->aliases, name, an);
    if (!a) {
        kms_fail(r, "NotFoundException", "Alias %s%s is not found.", r->svc->arn_prefix, name);
        return;
    }
    struct kms_key *k = kms_key_by_id(r->svc, a->key_id, strlen(a->key_id));
    if (k) {
        kms_add_resource(r, k->arn);
        alias_resource_first(r, name);
        if (!kms_authorize(r, k, "DeleteAlias", KMS_GOP_NONE, NULL))
            return;
    }
    if (kms_store_delete_alias(r->svc, a->name) != KS_OK) {
        kms_fail_internal(r, "cannot delete the alias");
        return;
    }
    if (k)
        k->naliases--;
    kms_map_del(&r->svc->aliases, a->name, an);
    kms_alias_free(a);
}

static int alias_ptr_cmp(const void *a, const void *b)
{
    return strcmp((*(struct kms_alias *const *)a)->name, (*(struct kms_alias *const *)b)->name);
}

void kms_op_ListAliases(struct kms_req *r)
{
    size_t kn;
    const char *kid = kms_arg_str(r, "KeyId", "keyId", false, 1, KMS_MAX_KEY_ID_INPUT, &kn);
    int64_t limit;
    char after[300];
    kms_arg_page(r, 100, 50, &limit, after, sizeof(after));
    if (kms_check_valid(r))
        return;
    const struct kms_key *filter = NULL;
    if (kid && !(filter = kms_resolve(r, kid, kn, KMS_ID_KEY)))
        return;
    size_t n = 0;
    struct kms_alias **v = ks_xcalloc(r->svc->aliases.len + 1, sizeof(*v));
    for (size_t i = 0; i < r->svc->aliases.cap; i++) {
        struct kms_alias *a = r->svc->aliases.slots[i].val;
        if (!r->svc->aliases.slots[i].key || strcmp(a->name, after) <= 0)
            continue;
        if (filter && strcmp(a->key_id, filter->id) != 0)
            continue;
        v[n++] = a;
    }
    qsort(v, n, sizeof(*v), alias_ptr_cmp);
    size_t take = n < (size_t)limit ? n : (size_t)limit;
    kms_w_open(r, NULL);
    kms_w_arr(r, "Aliases");
    for (size_t i = 0; i < take; i++) {
        char arn[400];
        alias_arn(r->svc, v[i]->name, arn, sizeof(arn));
        kms_w_open(r, NULL);
        kms_w_str(r, "AliasName", v[i]->name);
        kms_w_str(r, "AliasArn", arn);
        kms_w_str(r, "TargetKeyId", v[i]->key_id);
        kms_w_time(r, "CreationDate", v[i]->created_ms);
        kms_w_time(r, "LastUpdatedDate", v[i]->updated_ms);
        kms_w_close(r);
    }
    kms_w_arr_close(r);
    kms_w_page_end(r, take < n, take ? v[take - 1]->name : "");
    kms_w_close(r);
    free(v);
}

/* ---------------------------------------------------------------------------
 * Tags
 */

void kms_op_TagResource(struct kms_req *r)
{
    size_t n;
    const char *id = kms_arg_str(r, "KeyId", "keyId", true, 1, KMS_MAX_KEY_ID_INPUT, &n);
    struct kms_tag_in *tags = NULL;
    size_t ntags = 0;
    kms_arg_tags(r, true, &tags, &ntags);
    if (kms_check_valid(r))
        goto out;
    struct kms_key *k = kms_resolve(r, id, n, KMS_ID_KEY);
    if (!k || !kms_authorize(r, k, "TagResource", KMS_GOP_NONE, NULL) ||
        !kms_check_state(r, k, KMS_ST_MGMT) || !kms_tags_check(r, k, tags, ntags))
        goto out;
    kms_tags_apply(k, tags, ntags);
    (void)kms_persist_key(r, k);
out:
    free(tags);
}

void kms_op_UntagResource(struct kms_req *r)
{
    size_t n;
    const char *id = kms_arg_str(r, "KeyId", "keyId", true, 1, KMS_MAX_KEY_ID_INPUT, &n);
    const json_t *keys = kms_arg_str_list(r, "TagKeys", "tagKeys", true, 0, SIZE_MAX, 1, 128);
    if (kms_check_valid(r))
        return;
    struct kms_key *k = kms_resolve(r, id, n, KMS_ID_KEY);
    if (!k || !kms_authorize(r, k, "UntagResource", KMS_GOP_NONE, NULL) ||
        !kms_check_state(r, k, KMS_ST_MGMT))
        return;
    bool changed = false;
    for (size_t i = 0; i < json_array_size(keys); i++) {
        const char *tk = json_string_value(json_array_get(keys, i));
        for (size_t j = 0; j < k->ntags; j++) {
            if (strcmp(k->tags[j].key, tk) != 0)
                continue;
            free(k->tags[j].key);
            free(k->tags[j].value);
            memmove(&k->tags[j], &k->tags[j + 1], (k->ntags - j - 1) * sizeof(*k->tags));
            k->ntags--;
            changed = true;
            break;
        }
    }
    if (changed) /* unknown keys are ignored silently */
        (void)kms_persist_key(r, k);
}

void kms_op_ListResourceTags(struct kms_req *r)
{
    size_t n;
    const char *id = kms_arg_str(r, "KeyId", "keyId", true, 1, KMS_MAX_KEY_ID_INPUT, &n);
    int64_t limit;
    char after[600];
    kms_arg_page(r, 50, 50, &limit, after, sizeof(after));
    if (kms_check_valid(r))
        return;
    struct kms_key *k = kms_resolve(r, id, n, KMS_ID_KEY);
    if (!k || !kms_authorize(r, k, "ListResourceTags", KMS_GOP_NONE, NULL))
        return;
    size_t i = 0;
    while (i < k->ntags && strcmp(k->tags[i].key, after) <= 0)
        i++;
    kms_w_open(r, NULL);
    kms_w_arr(r, "Tags");
    size_t shown = 0;
    for (; i < k->ntags && shown < (size_t)limit; i++, shown++) {
        kms_w_open(r, NULL);
        kms_w_str(r, "TagKey", k->tags[i].key);
        kms_w_str(r, "TagValue", k->tags[i].value);
        kms_w_close(r);
    }
    kms_w_arr_close(r);
    kms_w_page_end(r, i < k->ntags, shown ? k->tags[i - 1].key : "");
    kms_w_close(r);
}
