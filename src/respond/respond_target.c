/* SPDX-License-Identifier: Apache-2.0 */
/*
 * respond: which keys or roles a response acts on.
 *
 * A fixed KeyId / RoleName wins. Otherwise the targets come from the
 * notification context, i.e. from the events that made the alarm fire: the
 * keys they used (key kinds) or the principals that made them (role kinds).
 * Everything is listed, acted on or not, so history and trail say why a key
 * was left alone (an alias, another region, over MaxTargets).
 */
#include "respond/respond_int.h"

void respond_targets_init(struct respond_targets *t)
{
    t->v = NULL;
    t->n = 0;
}

void respond_targets_release(struct respond_targets *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].id);
        free(t->v[i].skip);
    }
    free(t->v);
    respond_targets_init(t);
}

static void add(struct respond_targets *t, const char *id, const char *skip)
{
    t->v = ks_xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
    t->v[t->n].id = ks_xstrdup(id);
    t->v[t->n].skip = skip ? ks_xstrdup(skip) : NULL;
    t->n++;
}

static size_t acting(const struct respond_targets *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        n += t->v[i].skip == NULL;
    return n;
}

/* arn:PARTITION:kms:REGION:... -> REGION into out ("" when not an ARN). */
static void arn_region(const char *arn, char *out, size_t out_size)
{
    out[0] = '\0';
    if (strncmp(arn, "arn:", 4) != 0)
        return;
    const char *p = strchr(arn + 4, ':'); /* after partition */
    p = p ? strchr(p + 1, ':') : NULL;    /* after service */
    if (!p)
        return;
    const char *end = strchr(p + 1, ':');
    if (!end || (size_t)(end - p - 1) >= out_size)
        return;
    memcpy(out, p + 1, (size_t)(end - p - 1));
    out[end - p - 1] = '\0';
}

static void select_keys(const struct respond_def *def, const struct respond_context *ctx,
                        struct respond_targets *out)
{
    char ids[RESPOND_MAX_TARGETS][40];
    size_t n_ids = 0;
    for (size_t i = 0; ctx && i < ctx->n_keys; i++) {
        const char *k = ctx->keys[i];
        if (!k || !*k)
            continue;
        char why[160];
        char id[64];
        respond_key_id(k, id, sizeof(id));
        if (strncmp(k, "alias/", 6) == 0 || strstr(k, ":alias/")) {
            snprintf(why, sizeof(why), "an alias: %s needs a key ID or ARN",
                     respond_kind_op(def->kind));
            add(out, k, why);
            continue;
        }
        if (!id[0]) {
            add(out, k, "not a key ID or key ARN");
            continue;
        }
        char region[64];
        arn_region(k, region, sizeof(region));
        if (region[0] && strcmp(region, def->region) != 0) {
            snprintf(why, sizeof(why), "a key of region %.40s; the response acts in %.40s", region,
                     def->region);
            add(out, k, why);
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < n_ids && !dup; j++)
            dup = strcmp(ids[j], id) == 0;
        if (dup)
            continue; /* the same key as an ARN and as an ID */
        if (acting(out) >= def->max_targets || n_ids >= RESPOND_MAX_TARGETS) {
            snprintf(why, sizeof(why), "over MaxTargets (%u)", def->max_targets);
            add(out, k, why);
            continue;
        }
        snprintf(ids[n_ids++], sizeof(ids[0]), "%.39s", id);
        add(out, k, NULL);
    }
}

static void select_roles(const struct respond_def *def, const struct respond_context *ctx,
                         struct respond_targets *out)
{
    for (size_t i = 0; ctx && i < ctx->n_principals; i++) {
        const char *p = ctx->principals[i];
        if (!p || !*p)
            continue;
        char name[65], why[96];
        if (!respond_role_name(p, name, sizeof(name))) {
            add(out, p,
                strstr(p, ":role/aws-service-role/")
                    ? "a service-linked role (IAM refuses policies)"
                    : "not a role");
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < out->n && !dup; j++)
            dup = !out->v[j].skip && strcmp(out->v[j].id, name) == 0;
        if (dup)
            continue; /* several sessions of one role */
        if (acting(out) >= def->max_targets) {
            snprintf(why, sizeof(why), "over MaxTargets (%u)", def->max_targets);
            add(out, name, why);
            continue;
        }
        add(out, name, NULL);
    }
}

void respond_select_targets(const struct respond_def *def, const struct respond_context *ctx,
                            struct respond_targets *out)
{
    switch (def->kind) {
    case RESPOND_DISABLE_KEY:
    case RESPOND_SCHEDULE_KEY_DELETION:
        if (def->key_id)
            add(out, def->key_id, NULL);
        else
            select_keys(def, ctx, out);
        break;
    case RESPOND_REVOKE_ROLE_SESSIONS:
    case RESPOND_ATTACH_DENY_POLICY:
        if (def->role)
            add(out, def->role, NULL);
        else
            select_roles(def, ctx, out);
        break;
    case RESPOND_EXEC:
        add(out, "exec", NULL);
        break;
    }
}
