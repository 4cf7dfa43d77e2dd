/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms policies and grants: who may call what on a key (spec/kms-api.md §7).
 *
 * A key policy is compiled once (PutKeyPolicy, CreateKey, load) into a flat
 * statement list, so evaluation on the Encrypt/Decrypt path is string
 * matching without allocation. Supported: Effect Allow/Deny; Principal "*"
 * or {"AWS": ARN | account id | "arn:aws:iam::<acct>:root" | list} where the
 * account root means any principal of that account (IAM policies are assumed
 * to allow); Action / NotAction with '*' and '?' wildcards, case-insensitive
 * as IAM compares actions; Resource "*" or patterns matched against the key
 * ARN; Condition StringEquals / StringLike on kms:EncryptionContext:<key>,
 * kms:CallerAccount and aws:PrincipalArn. A statement with any other
 * condition never applies (neither allows nor denies). An explicit Deny wins
 * over every Allow; with no Allow from the policy or a grant the call is
 * denied.
 */
#include "kms/kms_int.h"

#include <ctype.h>
#include <strings.h>

struct pol_cond {
    bool like;    /* StringLike (else StringEquals) */
    int key_kind; /* 1 context key, 2 caller account, 3 principal ARN */
    char *ctx_key;
    char **values;
    size_t nvalues;
};

struct pol_stmt {
    bool deny;
    bool any_principal;
    char **principals;
    size_t nprincipals;
    bool not_action;
    char **actions;
    size_t nactions;
    char **resources;
    size_t nresources;
    struct pol_cond *conds;
    size_t nconds;
    bool never; /* has a condition we do not evaluate */
};

struct kms_policy {
    struct pol_stmt *st;
    size_t n;
};

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void kms_policy_free(struct kms_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        struct pol_stmt *s = &p->st[i];
        strv_free(s->principals, s->nprincipals);
        strv_free(s->actions, s->nactions);
        strv_free(s->resources, s->nresources);
        for (size_t j = 0; j < s->nconds; j++) {
            free(s->conds[j].ctx_key);
            strv_free(s->conds[j].values, s->conds[j].nvalues);
        }
        free(s->conds);
    }
    free(p->st);
    free(p);
}

/* A string or a list of strings; false when it is anything else. */
static bool strv_from(const json_t *v, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (json_is_string(v)) {
        *out = ks_xcalloc(1, sizeof(char *));
        (*out)[0] = ks_xstrdup(json_string_value(v));
        *n = 1;
        return true;
    }
    if (!json_is_array(v) || json_array_size(v) == 0)
        return false;
    size_t cnt = json_array_size(v);
    char **o = ks_xcalloc(cnt, sizeof(char *));
    for (size_t i = 0; i < cnt; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e)) {
            strv_free(o, i);
            return false;
        }
        o[i] = ks_xstrdup(json_string_value(e));
    }
    *out = o;
    *n = cnt;
    return true;
}

static void why_set(char *why, size_t size, const char *msg)
{
    if (why && size)
        snprintf(why, size, "%s", msg);
}

static bool compile_conditions(struct pol_stmt *s, const json_t *cond)
{
    if (!json_is_object(cond))
        return false;
    const char *op;
    json_t *body;
    json_object_foreach((json_t *)(uintptr_t)cond, op, body)
    {
        bool like = strcmp(op, "StringLike") == 0;
        if (!json_is_object(body))
            return false;
        if (!like && strcmp(op, "StringEquals") != 0) {
            s->never = true;
            continue;
        }
        const char *key;
        json_t *vals;
        json_object_foreach(body, key, vals)
        {
            struct pol_cond c = {.like = like};
            static const char ctxp[] = "kms:encryptioncontext:";
            if (strncasecmp(key, ctxp, sizeof(ctxp) - 1) == 0) {
                c.key_kind = 1;
                c.ctx_key = ks_xstrdup(key + sizeof(ctxp) - 1);
            } else if (strcasecmp(key, "kms:CallerAccount") == 0) {
                c.key_kind = 2;
            } else if (strcasecmp(key, "aws:PrincipalArn") == 0) {
                c.key_kind = 3;
            } else {
                s->never = true;
                continue;
            }
            if (!strv_from(vals, &c.values, &c.nvalues)) {
                free(c.ctx_key);
                return false;
            }
            s->conds = ks_xrealloc(s->conds, (s->nconds + 1) * sizeof(*s->conds));
            s->conds[s->nconds++] = c;
        }
    }
    return true;
}

static bool compile_stmt(struct pol_stmt *s, const json_t *j, char *why, size_t why_size)
{
    if (!json_is_object(j)) {
        why_set(why, why_size, "Policy contains a statement that is not a JSON object.");
        return false;
    }
    const char *eff = json_string_value(json_object_get(j, "Effect"));
    if (!eff || (strcmp(eff, "Allow") != 0 && strcmp(eff, "Deny") != 0)) {
        why_set(why, why_size, "Policy contains a statement without a valid Effect.");
        return false;
    }
    s->deny = strcmp(eff, "Deny") == 0;
    const json_t *pr = json_object_get(j, "Principal");
    if (json_is_string(pr) && strcmp(json_string_value(pr), "*") == 0) {
        s->any_principal = true;
    } else if (json_is_object(pr)) {
        const json_t *aws = json_object_get(pr, "AWS");
        if (aws && !strv_from(aws, &s->principals, &s->nprincipals)) {
            why_set(why, why_size,
                    "Policy contains a statement with one or more invalid principals.");
            return false;
        }
        for (size_t i = 0; i < s->nprincipals; i++)
            if (strcmp(s->principals[i], "*") == 0)
                s->any_principal = true;
    } else {
        why_set(why, why_size, "Policy contains a statement with no principal.");
        return false;
    }
    const json_t *act = json_object_get(j, "Action");
    const json_t *nact = json_object_get(j, "NotAction");
    if ((act && nact) || (!act && !nact) ||
        !strv_from(act ? act : nact, &s->actions, &s->nactions)) {
        why_set(why, why_size, "Policy contains a statement with no valid Action.");
        return false;
    }
    s->not_action = nact != NULL;
    const json_t *res = json_object_get(j, "Resource");
    if (res && !strv_from(res, &s->resources, &s->nresources)) {
        why_set(why, why_size, "Policy contains a statement with an invalid Resource.");
        return false;
    }
    if (json_object_get(j, "NotResource") || json_object_get(j, "NotPrincipal"))
        s->never = true; /* not evaluated: such a statement never applies */
    const json_t *cond = json_object_get(j, "Condition");
    if (cond && !compile_conditions(s, cond)) {
        why_set(why, why_size, "Policy contains a statement with an invalid Condition.");
        return false;
    }
    return true;
}

struct kms_policy *kms_policy_compile(const char *text, size_t len, char *why, size_t why_size)
{
    json_error_t err;
    json_t *doc = json_loadb(text, len, 0, &err);
    if (!json_is_object(doc)) {
        why_set(why, why_size, "The policy document is not a valid JSON object.");
        json_decref(doc);
        return NULL;
    }
    const json_t *stmts = json_object_get(doc, "Statement");
    if (!json_is_array(stmts) && !json_is_object(stmts)) {
        why_set(why, why_size, "The policy document has no Statement.");
        json_decref(doc);
        return NULL;
    }
    size_t n = json_is_array(stmts) ? json_array_size(stmts) : 1;
    struct kms_policy *p = ks_xcalloc(1, sizeof(*p));
    p->st = ks_xcalloc(n ? n : 1, sizeof(*p->st));
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_is_array(stmts) ? json_array_get(stmts, i) : stmts;
        p->n = i + 1; /* so a failed statement is freed with the rest */
        if (!compile_stmt(&p->st[i], s, why, why_size)) {
            kms_policy_free(p);
            json_decref(doc);
            return NULL;
        }
    }
    p->n = n;
    json_decref(doc);
    return p;
}

/* '*' any run, '?' one byte; optionally ASCII case-insensitive. */
static bool glob(const char *pat, const char *s, bool nocase)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        char pc = *pat, sc = *s;
        if (nocase) {
            pc = (char)tolower((unsigned char)pc);
            sc = (char)tolower((unsigned char)sc);
        }
        if (*pat == '*') {
            star = ++pat;
            resume = s;
        } else if (*pat && (*pat == '?' || pc == sc)) {
            pat++;
            s++;
        } else if (star) {
            pat = star;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

static bool is_account_id(const char *s)
{
    size_t n = strlen(s);
    if (n != 12)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* "arn:aws:iam::<acct>:root" -> acct (borrowed into buf) */
static bool root_account(const char *p, char *buf, size_t size)
{
    static const char pre[] = "arn:aws:iam::";
    if (strncmp(p, pre, sizeof(pre) - 1) != 0)
        return false;
    const char *a = p + sizeof(pre) - 1;
    const char *colon = strchr(a, ':');
    if (!colon || strcmp(colon, ":root") != 0 || (size_t)(colon - a) >= size)
        return false;
    snprintf(buf, size, "%.*s", (int)(colon - a), a);
    return true;
}

bool kms_principal_is(const struct kms_caller *c, const char *principal)
{
    if (strcmp(principal, "*") == 0)
        return true;
    char acct[32];
    if (is_account_id(principal))
        return c->account && strcmp(c->account, principal) == 0;
    if (root_account(principal, acct, sizeof(acct)))
        return c->account && strcmp(c->account, acct) == 0;
    return (c->arn && strcmp(c->arn, principal) == 0) ||
           (c->role_arn && strcmp(c->role_arn, principal) == 0);
}

static bool cond_holds(const struct pol_cond *cd, const struct kms_caller *c, const json_t *ctx)
{
    const char *have = NULL;
    if (cd->key_kind == 1)
        have = ctx ? json_string_value(json_object_get(ctx, cd->ctx_key)) : NULL;
    else if (cd->key_kind == 2)
        have = c->account;
    else
        have = c->role_arn ? c->role_arn : c->arn;
    if (!have)
        return false;
    for (size_t i = 0; i < cd->nvalues; i++) {
        if (cd->like ? glob(cd->values[i], have, false) : strcmp(cd->values[i], have) == 0)
            return true;
    }
    return false;
}

static bool stmt_applies(const struct pol_stmt *s, const struct kms_caller *c, const char *action,
                         const char *key_arn, const json_t *ctx)
{
    if (s->never)
        return false;
    bool who = s->any_principal;
    for (size_t i = 0; !who && i < s->nprincipals; i++)
        who = kms_principal_is(c, s->principals[i]);
    if (!who)
        return false;
    bool act = false;
    for (size_t i = 0; !act && i < s->nactions; i++)
        act = glob(s->actions[i], action, true);
    if (act == s->not_action)
        return false;
    if (s->nresources) {
        bool res = false;
        for (size_t i = 0; !res && i < s->nresources; i++)
            res = glob(s->resources[i], key_arn, false);
        if (!res)
            return false;
    }
    for (size_t i = 0; i < s->nconds; i++)
        if (!cond_holds(&s->conds[i], c, ctx))
            return false;
    return true;
}

enum kms_authz kms_policy_eval(const struct kms_policy *p, const struct kms_caller *c,
                               const char *action, const char *key_arn, const json_t *ctx)
{
    if (!p)
        return KMS_AUTHZ_NONE;
    enum kms_authz r = KMS_AUTHZ_NONE;
    for (size_t i = 0; i < p->n; i++) {
        if (!stmt_applies(&p->st[i], c, action, key_arn, ctx))
            continue;
        if (p->st[i].deny)
            return KMS_AUTHZ_DENY; /* explicit deny wins */
        r = KMS_AUTHZ_ALLOW;
    }
    return r;
}

/* ---------------------------------------------------------------------------
 * Grants
 */

const char *const kms_grant_op_names[KMS_GOP_COUNT] = {
#define KMS_X(n) #n,
    KMS_GRANT_OPS(KMS_X)
#undef KMS_X
};

static bool op_takes_context(enum kms_grant_op op)
{
    switch (op) {
    case KMS_GOP_Decrypt:
    case KMS_GOP_Encrypt:
    case KMS_GOP_GenerateDataKey:
    case KMS_GOP_GenerateDataKeyWithoutPlaintext:
    case KMS_GOP_ReEncryptFrom:
    case KMS_GOP_ReEncryptTo:
    case KMS_GOP_GenerateDataKeyPair:
    case KMS_GOP_GenerateDataKeyPairWithoutPlaintext:
        return true;
    default:
        return false;
    }
}

static bool pairs_in(const struct kms_ctx_pair *p, size_t n, const json_t *ctx)
{
    for (size_t i = 0; i < n; i++) {
        const json_t *v = ctx ? json_object_get(ctx, p[i].k) : NULL;
        if (!json_is_string(v) || json_string_length(v) != p[i].vlen ||
            memcmp(json_string_value(v), p[i].v, p[i].vlen) != 0)
            return false;
    }
    return true;
}

static bool grant_constraints_hold(const struct kms_grant *g, enum kms_grant_op op,
                                   const json_t *ctx)
{
    if (!op_takes_context(op))
        return true; /* constraints govern only operations with a context */
    if (g->has_subset && !pairs_in(g->subset, g->nsubset, ctx))
        return false;
    if (g->has_equals) {
        size_t have = ctx ? json_object_size(ctx) : 0;
        if (have != g->nequals || !pairs_in(g->equals, g->nequals, ctx))
            return false;
    }
    return true;
}

bool kms_grants_allow(const struct kms_service *svc, const struct kms_key *k,
                      const struct kms_caller *c, enum kms_grant_op op, const json_t *ctx)
{
    (void)svc;
    if (op == KMS_GOP_NONE)
        return false;
    for (size_t i = 0; i < k->ngrants; i++) {
        const struct kms_grant *g = k->grants[i];
        if ((g->ops & (1u << op)) && kms_principal_is(c, g->grantee) &&
            grant_constraints_hold(g, op, ctx))
            return true;
    }
    return false;
}

/* Copies a context map into owned pairs (strings in *mem). */
static bool copy_pairs(const json_t *obj, struct kms_ctx_pair **out, size_t *n, char **mem)
{
    struct kms_ctx_pair *p;
    size_t cnt;
    if (!json_is_object(obj) || !kms_ctx_pairs(obj, &p, &cnt))
        return false;
    size_t bytes = 0;
    for (size_t i = 0; i < cnt; i++)
        bytes += p[i].klen + p[i].vlen + 2;
    char *m = ks_xmalloc(bytes + 1);
    size_t w = 0;
    for (size_t i = 0; i < cnt; i++) {
        memcpy(m + w, p[i].k, p[i].klen + 1);
        p[i].k = m + w;
        w += p[i].klen + 1;
        memcpy(m + w, p[i].v, p[i].vlen);
        m[w + p[i].vlen] = '\0';
        p[i].v = m + w;
        w += p[i].vlen + 1;
    }
    *out = p;
    *n = cnt;
    *mem = m;
    return true;
}

bool kms_grant_set_constraints(struct kms_grant *g, const json_t *constraints)
{
    if (!json_is_object(constraints))
        return false;
    const json_t *sub = json_object_get(constraints, "EncryptionContextSubset");
    const json_t *eq = json_object_get(constraints, "EncryptionContextEquals");
    char *m1 = NULL, *m2 = NULL;
    if (sub && !copy_pairs(sub, &g->subset, &g->nsubset, &m1))
        return false;
    if (eq && !copy_pairs(eq, &g->equals, &g->nequals, &m2)) {
        free(m1);
        free(g->subset);
        g->subset = NULL;
        return false;
    }
    g->has_subset = sub != NULL;
    g->has_equals = eq != NULL;
    /* one backing block: concatenate so kms_grant_free frees one pointer */
    size_t l1 = 0, l2 = 0;
    for (size_t i = 0; i < g->nsubset; i++)
        l1 += g->subset[i].klen + g->subset[i].vlen + 2;
    for (size_t i = 0; i < g->nequals; i++)
        l2 += g->equals[i].klen + g->equals[i].vlen + 2;
    g->pairs_mem = ks_xmalloc(l1 + l2 + 1);
    if (m1)
        memcpy(g->pairs_mem, m1, l1);
    if (m2)
        memcpy(g->pairs_mem + l1, m2, l2);
    for (size_t i = 0; i < g->nsubset; i++) {
        g->subset[i].k = g->pairs_mem + (g->subset[i].k - m1);
        g->subset[i].v = g->pairs_mem + (g->subset[i].v - m1);
    }
    for (size_t i = 0; i < g->nequals; i++) {
        g->equals[i].k = g->pairs_mem + l1 + (g->equals[i].k - m2);
        g->equals[i].v = g->pairs_mem + l1 + (g->equals[i].v - m2);
    }
    free(m1);
    free(m2);
    g->constraints_json = json_dumps(constraints, JSON_COMPACT | JSON_SORT_KEYS);
    return true;
}
