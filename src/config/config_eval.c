/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resolution: intrinsic functions, conditions and what Ref and Fn::GetAtt
 * return for each resource type.
 *
 * cfg_eval() maps a tree to its resolved value without mutating anything:
 * nodes without intrinsics are returned as they are, so resolving costs
 * allocations only where functions are. Fn::If resolves only the branch it
 * takes, as CloudFormation does at deployment. AWS::NoValue is a marker that
 * the enclosing sequence or map drops.
 *
 * Resources' physical names are resolved lazily and memoised
 * (cfg_resource_name): a name may itself be built from other resources'
 * names (a composite alarm's rule names its children), and a cycle among
 * them is an error rather than a hang. Conditions are memoised the same way.
 *
 * Where AWS generates a physical name (STACK-LOGICALID-RANDOMSUFFIX),
 * keysentry uses STACK-LOGICALID so that runs are reproducible; values for
 * resources keysentry skips are plausible, deterministic stand-ins
 * (docs/configuration.md#references).
 */
#include "config/config_int.h"

#define EVAL_MAX_DEPTH 256 /* nested resolution, including chains of names */

/* ---- small helpers ---- */

struct cnode *cfg_new_str(struct cfg *c, const struct cnode *at, const char *s, size_t len)
{
    struct cnode *n = mem_zalloc(&c->tmp, 1, sizeof(*n));
    n->kind = CNODE_STR;
    n->line = at ? at->line : 0;
    n->col = at ? at->col : 0;
    n->offset = at ? at->offset : SIZE_MAX;
    n->text_off = SIZE_MAX;
    n->str = mem_strndup(&c->tmp, s, len);
    n->len = len;
    n->height = 1;
    n->count = 1;
    return n;
}

static struct cnode *new_container(struct cfg *c, const struct cnode *at, enum cnode_kind kind,
                                   size_t len)
{
    struct cnode *n = mem_zalloc(&c->tmp, 1, sizeof(*n));
    n->kind = kind;
    n->line = at->line;
    n->col = at->col;
    n->offset = at->offset;
    n->text_off = SIZE_MAX;
    n->len = len;
    n->kids = mem_zalloc(&c->tmp, (kind == CNODE_MAP ? 2 * len : len) + 1, sizeof(*n->kids));
    n->height = 1;
    n->count = 1;
    return n;
}

static enum ks_err budget(struct cfg *c, const struct cnode *at, size_t len)
{
    if (len > CONFIG_MAX_EVAL_BYTES || c->eval_bytes + len > CONFIG_MAX_EVAL_BYTES)
        return cfg_error(c, at, KS_E_LIMIT, "intrinsic functions build more than %u bytes",
                         (unsigned)CONFIG_MAX_EVAL_BYTES);
    c->eval_bytes += len;
    return KS_OK;
}

/* "!Sub" for a tag, "Fn::Sub" as written in JSON. */
static const char *fn_label(const struct cnode *key, char *buf, size_t size)
{
    if (!key->tagged)
        return key->str;
    const char *name = strncmp(key->str, "Fn::", 4) == 0 ? key->str + 4 : key->str;
    snprintf(buf, size, "!%s", name);
    return buf;
}

/* Runs with the logical path set to a fresh string (a condition or a
 * resource name is resolved wherever it is first needed, but errors in it
 * belong to where it is declared). */
static struct ks_buf path_swap(struct cfg *c)
{
    struct ks_buf saved = c->path;
    ks_buf_init(&c->path, saved.max);
    return saved;
}

static void path_restore(struct cfg *c, struct ks_buf *saved)
{
    ks_buf_release(&c->path);
    c->path = *saved;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    h ^= 0xff; /* separator, so ("ab","c") and ("a","bc") differ */
    h *= 0x100000001b3ull;
    return h;
}

/* A UUID-shaped string derived from the stack and two strings. */
char *cfg_uuid(struct cfg *c, const char *a, const char *b)
{
    uint64_t h1 = fnv1a(fnv1a(fnv1a(0xcbf29ce484222325ull, c->stack_name), a), b);
    uint64_t h2 = fnv1a(fnv1a(h1 ^ 0x9e3779b97f4a7c15ull, b), a);
    return mem_printf(&c->tmp, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(h1 >> 32),
                      (unsigned)(h1 >> 16) & 0xffffu, (unsigned)h1 & 0xfffu,
                      0x8000u | ((unsigned)(h2 >> 48) & 0x3fffu),
                      (unsigned long long)(h2 & 0xffffffffffffull));
}

struct cres *cfg_find_resource(struct cfg *c, const char *id)
{
    for (size_t i = 0; i < c->n_res; i++)
        if (strcmp(c->res[i].id, id) == 0)
            return &c->res[i];
    return NULL;
}

struct cparam *cfg_find_param(struct cfg *c, const char *name)
{
    for (size_t i = 0; i < c->n_params; i++)
        if (strcmp(c->params[i].name, name) == 0)
            return &c->params[i];
    return NULL;
}

/* ---- resources keysentry skips: plausible names, Refs and ARNs ---- */

struct skip_attr {
    const char *name;
    const char *fmt;
};

struct skip_type {
    const char *type;
    const char *name_prop; /* property holding the physical name, or NULL */
    bool lower;            /* AWS lower-cases generated names (S3) */
    const char *ref;       /* format of Ref (see expand()) */
    const char *arn;       /* format of GetAtt Arn */
    struct skip_attr attrs[3];
};

/* Formats: %N name, %I id (UUID), %H 17 upper-case hex digits, %P partition,
 * %R region, %A account, %U URL suffix. */
static const struct skip_type skip_types[] = {
    {"AWS::S3::Bucket",
     "BucketName",
     true,
     "%N",
     "arn:%P:s3:::%N",
     {{"DomainName", "%N.s3.%U"},
      {"RegionalDomainName", "%N.s3.%R.%U"},
      {"WebsiteURL", "http://%N.s3-website-%R.%U"}}},
    {"AWS::IAM::Role", "RoleName", false, "%N", "arn:%P:iam::%A:role/%N", {{"RoleId", "AROA%H"}}},
    {"AWS::IAM::User", "UserName", false, "%N", "arn:%P:iam::%A:user/%N", {{"UserId", "AIDA%H"}}},
    {"AWS::IAM::ManagedPolicy",
     "ManagedPolicyName",
     false,
     "arn:%P:iam::%A:policy/%N",
     "arn:%P:iam::%A:policy/%N",
     {{"PolicyArn", "arn:%P:iam::%A:policy/%N"}}},
    {"AWS::IAM::Policy", "PolicyName", false, "%N", "arn:%P:iam::%A:policy/%N", {{0}}},
    {"AWS::IAM::InstanceProfile",
     "InstanceProfileName",
     false,
     "%N",
     "arn:%P:iam::%A:instance-profile/%N",
     {{0}}},
    {"AWS::CloudTrail::Trail",
     "TrailName",
     false,
     "%N",
     "arn:%P:cloudtrail:%R:%A:trail/%N",
     {{"SnsTopicArn", "arn:%P:sns:%R:%A:%N"}}},
    {"AWS::KMS::Key", NULL, false, "%I", "arn:%P:kms:%R:%A:key/%I", {{"KeyId", "%I"}}},
    {"AWS::KMS::Alias", "AliasName", false, "%N", "arn:%P:kms:%R:%A:%N", {{0}}},
    {"AWS::Lambda::Function",
     "FunctionName",
     false,
     "%N",
     "arn:%P:lambda:%R:%A:function:%N",
     {{0}}},
    {"AWS::SQS::Queue",
     "QueueName",
     false,
     "https://sqs.%R.%U/%A/%N",
     "arn:%P:sqs:%R:%A:%N",
     {{"QueueName", "%N"}, {"QueueUrl", "https://sqs.%R.%U/%A/%N"}}},
    {"AWS::Events::Rule", "Name", false, "%N", "arn:%P:events:%R:%A:rule/%N", {{0}}},
    {"AWS::Logs::SubscriptionFilter", "FilterName", false, "%N", NULL, {{0}}},
    {"AWS::CloudWatch::Dashboard",
     "DashboardName",
     false,
     "%N",
     "arn:%P:cloudwatch::%A:dashboard/%N",
     {{0}}},
};

const struct skip_type *cfg_skip_type(const char *type)
{
    for (size_t i = 0; i < KS_ARRAY_LEN(skip_types); i++)
        if (strcmp(skip_types[i].type, type) == 0)
            return &skip_types[i];
    return NULL;
}

static const char *expand(struct cfg *c, const struct cres *r, const char *fmt)
{
    struct ks_buf b;
    ks_buf_init(&b, 4096 + strlen(r->name));
    enum ks_err err = KS_OK;
    for (const char *f = fmt; *f && !err; f++) {
        if (*f != '%' || !f[1]) {
            err = ks_buf_add(&b, f, 1);
            continue;
        }
        f++;
        const char *s = "";
        char hex[18];
        if (*f == 'N') {
            s = r->name;
        } else if (*f == 'I') {
            s = cfg_uuid(c, r->id, "id");
        } else if (*f == 'H') {
            const char *u = cfg_uuid(c, r->id, "unique-id");
            size_t k = 0;
            for (const char *q = u; *q && k < 17; q++)
                if (*q != '-')
                    hex[k++] = (char)(*q >= 'a' ? *q - 32 : *q);
            hex[k] = '\0';
            s = hex;
        } else if (*f == 'P') {
            s = c->partition;
        } else if (*f == 'R') {
            s = c->region;
        } else if (*f == 'A') {
            s = c->account;
        } else if (*f == 'U') {
            s = c->url_suffix;
        }
        err = ks_buf_add(&b, s, strlen(s));
    }
    const char *out = mem_strndup(&c->tmp, b.data, b.len);
    ks_buf_release(&b);
    return out;
}

static const char *lower_dup(struct cfg *c, const char *s)
{
    char *p = mem_strdup(&c->tmp, s);
    for (char *q = p; *q; q++)
        if (*q >= 'A' && *q <= 'Z')
            *q = (char)(*q + 32);
    return p;
}

/* "arn:PARTITION:<service>:REGION:ACCOUNT:<resource>/NAME" from the type name. */
static const char *generic_arn(struct cfg *c, const struct cres *r)
{
    const char *svc = strstr(r->type, "::");
    const char *res = svc ? strstr(svc + 2, "::") : NULL;
    if (!svc || !res)
        return mem_printf(&c->tmp, "arn:%s:%s:%s:%s:%s", c->partition, lower_dup(c, r->type),
                          c->region, c->account, r->name);
    char *s = mem_strndup(&c->tmp, svc + 2, (size_t)(res - svc - 2));
    return mem_printf(&c->tmp, "arn:%s:%s:%s:%s:%s/%s", c->partition, lower_dup(c, s), c->region,
                      c->account, lower_dup(c, res + 2), r->name);
}

/* ---- names ---- */

static const char *name_property(const struct cres *r)
{
    switch (r->kind) {
    case RES_LOG_GROUP:
        return "LogGroupName";
    case RES_METRIC_FILTER:
        return "FilterName";
    case RES_ALARM:
    case RES_COMPOSITE_ALARM:
        return "AlarmName";
    case RES_TOPIC:
        return "TopicName";
    case RES_CUSTOM:
        return "Name";
    case RES_SUBSCRIPTION:
        return NULL;
    case RES_SKIPPED:
        return r->skip ? r->skip->name_prop : NULL;
    }
    return NULL;
}

/* Resolves one property of r as a string; *out NULL when absent or NoValue. */
static enum ks_err eval_prop_string(struct cfg *c, struct cres *r, const char *prop,
                                    const char **out, const struct cnode **node)
{
    *out = NULL;
    const struct cnode *raw = cnode_get(r->props, prop);
    if (!raw)
        return KS_OK;
    size_t mark = cfg_path_push(c, "Resources.%s.Properties.%s", r->id, prop);
    const struct cnode *v;
    enum ks_err err = cfg_eval(c, raw, &v);
    if (!err && v->kind == CNODE_STR)
        *out = v->str;
    else if (!err && v->kind != CNODE_NOVALUE)
        err = cfg_error(c, v, KS_E_INVALID, "expected a string");
    if (node)
        *node = err ? NULL : v;
    cfg_path_pop(c, mark);
    return err;
}

enum ks_err cfg_resource_name(struct cfg *c, struct cres *r)
{
    if (r->name_state == 2)
        return KS_OK;
    if (r->name_state == 1)
        return cfg_error(c, r->key, KS_E_INVALID,
                         "circular reference: the name of resource '%s' depends on itself", r->id);
    r->name_state = 1;
    struct ks_buf saved = path_swap(c);
    int in_fn = c->in_function;
    c->in_function = 0;
    const char *prop = name_property(r);
    const char *name = NULL;
    enum ks_err err = KS_OK;
    if (prop && r->props && r->props->kind == CNODE_MAP)
        err = eval_prop_string(c, r, prop, &name, NULL);
    if (err)
        goto out;
    if (!name) {
        name = mem_printf(&c->tmp, "%s-%s", c->stack_name, r->id);
        if (r->kind == RES_SKIPPED && r->skip && r->skip->lower)
            name = lower_dup(c, name);
        if (r->kind == RES_TOPIC && r->props && r->props->kind == CNODE_MAP) {
            /* AWS requires FIFO topic names to end in .fifo and adds it to
             * generated ones */
            const struct cnode *fifo = cnode_get(r->props, "FifoTopic"), *v;
            bool yes = false;
            if (fifo) {
                size_t mark = cfg_path_push(c, "Resources.%s.Properties.FifoTopic", r->id);
                err = cfg_eval(c, fifo, &v);
                if (!err && v->kind != CNODE_NOVALUE && !cnode_bool(v, &yes))
                    err = cfg_error(c, v, KS_E_INVALID, "expected a boolean");
                cfg_path_pop(c, mark);
                if (err)
                    goto out;
            }
            if (yes)
                name = mem_printf(&c->tmp, "%s.fifo", name);
        }
    }
    r->name = name;
    switch (r->kind) {
    case RES_TOPIC:
        r->ref =
            mem_printf(&c->tmp, "arn:%s:sns:%s:%s:%s", c->partition, c->region, c->account, name);
        break;
    case RES_SUBSCRIPTION: {
        const char *topic = NULL;
        if (r->props && r->props->kind == CNODE_MAP)
            err = eval_prop_string(c, r, "TopicArn", &topic, NULL);
        if (err)
            goto out;
        if (!topic) {
            size_t mark = cfg_path_push(c, "Resources.%s.Properties", r->id);
            err = cfg_error(c, r->props ? r->props : r->key, KS_E_INVALID,
                            "missing required property 'TopicArn'");
            cfg_path_pop(c, mark);
            goto out;
        }
        r->ref = mem_printf(&c->tmp, "%s:%s", topic, cfg_uuid(c, r->id, "subscription"));
        break;
    }
    case RES_SKIPPED:
        r->ref = r->skip ? expand(c, r, r->skip->ref) : name;
        break;
    default:
        r->ref = name;
        break;
    }
    r->name_state = 2;
out:
    path_restore(c, &saved);
    c->in_function = in_fn;
    if (err)
        r->name_state = 0;
    return err;
}

static enum ks_err active_resource(struct cfg *c, const char *id, const struct cnode *at,
                                   const char *how, struct cres **out)
{
    struct cres *r = cfg_find_resource(c, id);
    if (c->cond_context)
        return cfg_error(c, at, KS_E_INVALID,
                         "%s '%s': conditions can refer to parameters only, not resources", how,
                         id);
    if (!r)
        return cfg_error(c, at, KS_E_INVALID,
                         "%s '%s', which is not a parameter, pseudo parameter or resource", how,
                         id);
    if (!r->active)
        return cfg_error(c, at, KS_E_INVALID,
                         "%s '%s', which is not created (its condition '%s' is false)", how, id,
                         r->condition);
    *out = r;
    return cfg_resource_name(c, r);
}

static enum ks_err ref_value(struct cfg *c, const char *name, const struct cnode *at,
                             const struct cnode **out)
{
    if (strncmp(name, "AWS::", 5) == 0) {
        const char *v = NULL;
        if (strcmp(name, "AWS::NoValue") == 0) {
            struct cnode *n = cfg_new_str(c, at, "", 0);
            n->kind = CNODE_NOVALUE;
            *out = n;
            return KS_OK;
        }
        if (strcmp(name, "AWS::NotificationARNs") == 0) {
            *out = new_container(c, at, CNODE_SEQ, 0);
            return KS_OK;
        }
        if (strcmp(name, "AWS::StackName") == 0)
            v = c->stack_name;
        else if (strcmp(name, "AWS::StackId") == 0)
            v = c->stack_id;
        else if (strcmp(name, "AWS::AccountId") == 0)
            v = c->account;
        else if (strcmp(name, "AWS::Region") == 0)
            v = c->region;
        else if (strcmp(name, "AWS::Partition") == 0)
            v = c->partition;
        else if (strcmp(name, "AWS::URLSuffix") == 0)
            v = c->url_suffix;
        if (!v)
            return cfg_error(c, at, KS_E_INVALID, "unknown pseudo parameter '%s'", name);
        *out = cfg_new_str(c, at, v, strlen(v));
        return KS_OK;
    }
    struct cparam *p = cfg_find_param(c, name);
    if (p) {
        *out = p->value;
        return KS_OK;
    }
    struct cres *r;
    enum ks_err err = active_resource(c, name, at, "Ref to", &r);
    if (err)
        return err;
    *out = cfg_new_str(c, at, r->ref, strlen(r->ref));
    return KS_OK;
}

static enum ks_err getatt_value(struct cfg *c, const char *id, const char *attr,
                                const struct cnode *at, const struct cnode **out)
{
    struct cres *r;
    enum ks_err err = active_resource(c, id, at, "Fn::GetAtt of", &r);
    if (err)
        return err;
    const char *v = NULL;
    switch (r->kind) {
    case RES_LOG_GROUP:
        if (strcmp(attr, "Arn") == 0)
            v = mem_printf(&c->tmp, "arn:%s:logs:%s:%s:log-group:%s:*", c->partition, c->region,
                           c->account, r->name);
        break;
    case RES_ALARM:
    case RES_COMPOSITE_ALARM:
        if (strcmp(attr, "Arn") == 0)
            v = mem_printf(&c->tmp, "arn:%s:cloudwatch:%s:%s:alarm:%s", c->partition, c->region,
                           c->account, r->name);
        break;
    case RES_TOPIC:
        if (strcmp(attr, "TopicArn") == 0)
            v = r->ref;
        else if (strcmp(attr, "TopicName") == 0)
            v = r->name;
        break;
    case RES_SUBSCRIPTION:
        if (strcmp(attr, "Arn") == 0)
            v = r->ref;
        break;
    case RES_METRIC_FILTER:
    case RES_CUSTOM:
        break;
    case RES_SKIPPED:
        /* Any attribute resolves: keysentry does not act on these, and a
         * template must not fail because of them. */
        if (strcmp(attr, "Arn") == 0)
            v = r->skip && r->skip->arn ? expand(c, r, r->skip->arn) : generic_arn(c, r);
        for (size_t i = 0; !v && r->skip && i < KS_ARRAY_LEN(r->skip->attrs); i++)
            if (r->skip->attrs[i].name && strcmp(r->skip->attrs[i].name, attr) == 0)
                v = expand(c, r, r->skip->attrs[i].fmt);
        if (!v)
            v = r->name;
        break;
    }
    if (!v)
        return cfg_error(c, at, KS_E_INVALID, "resource '%s' (%s) has no attribute '%s'", id,
                         r->type, attr);
    *out = cfg_new_str(c, at, v, strlen(v));
    return KS_OK;
}

/* ---- intrinsic functions ---- */

static enum ks_err need_args(struct cfg *c, const struct cnode *fn, const char *label,
                             const struct cnode *arg, size_t min, size_t max)
{
    if (arg->kind != CNODE_SEQ || arg->len < min || arg->len > max) {
        if (min == max)
            return cfg_error(c, fn, KS_E_INVALID, "%s needs a list of %zu values", label, min);
        return cfg_error(c, fn, KS_E_INVALID, "%s needs a list of %zu to %zu values", label, min,
                         max);
    }
    return KS_OK;
}

static enum ks_err eval_string(struct cfg *c, const struct cnode *n, const char *label,
                               const char *what, const struct cnode **out)
{
    enum ks_err err = cfg_eval(c, n, out);
    if (!err && (*out)->kind != CNODE_STR)
        err = cfg_error(c, n, KS_E_INVALID, "%s: %s must be a string", label, what);
    return err;
}

static enum ks_err eval_list(struct cfg *c, const struct cnode *n, const char *label,
                             const char *what, const struct cnode **out)
{
    enum ks_err err = cfg_eval(c, n, out);
    if (!err && (*out)->kind != CNODE_SEQ)
        err = cfg_error(c, n, KS_E_INVALID, "%s: %s must be a list", label, what);
    return err;
}

static size_t sub_offset(const struct cnode *tmpl, size_t i)
{
    return tmpl->text_off != SIZE_MAX ? tmpl->text_off + i : tmpl->offset;
}

static enum ks_err fn_sub(struct cfg *c, const struct cnode *fn, const char *label,
                          const struct cnode *arg, const struct cnode **out)
{
    const struct cnode *tmpl = arg, *vars = NULL;
    if (arg->kind == CNODE_SEQ) {
        if (arg->len != 2 || arg->kids[0]->kind != CNODE_STR || arg->kids[1]->kind != CNODE_MAP)
            return cfg_error(c, fn, KS_E_INVALID,
                             "%s needs a string or a list [string, {variables}]", label);
        tmpl = arg->kids[0];
        vars = arg->kids[1];
    } else if (arg->kind != CNODE_STR) {
        return cfg_error(c, fn, KS_E_INVALID, "%s needs a string or a list [string, {variables}]",
                         label);
    }
    struct ks_buf b;
    ks_buf_init(&b, CONFIG_MAX_EVAL_BYTES);
    enum ks_err err = KS_OK;
    const char *s = tmpl->str;
    size_t i = 0;
    while (!err && i < tmpl->len) {
        if (s[i] != '$' || s[i + 1] != '{') {
            size_t j = i + 1;
            while (j < tmpl->len && !(s[j] == '$' && s[j + 1] == '{'))
                j++;
            err = ks_buf_add(&b, s + i, j - i);
            i = j;
            continue;
        }
        if (s[i + 2] == '!') { /* ${!Literal} writes ${Literal} */
            err = ks_buf_add(&b, "${", 2);
            i += 3;
            continue;
        }
        const char *close = memchr(s + i + 2, '}', tmpl->len - i - 2);
        if (!close) {
            err = cfg_error_at(c, sub_offset(tmpl, i), KS_E_INVALID,
                               "%s: unterminated '${' (write '${!' for a literal '${')", label);
            break;
        }
        size_t nlen = (size_t)(close - (s + i + 2));
        char *name = mem_strndup(&c->tmp, s + i + 2, nlen);
        const struct cnode *v = NULL, *var = vars ? cnode_get(vars, name) : NULL;
        struct ks_diag inner;
        struct ks_diag *outer = c->diag;
        if (nlen == 0 || strchr(name, ' ')) {
            err = cfg_error_at(c, sub_offset(tmpl, i), KS_E_INVALID,
                               "%s: bad variable name '${%s}'", label, name);
            break;
        }
        /* A failed reference is reported at the ${...} inside the string. */
        c->diag = &inner;
        ks_diag_clear(&inner);
        if (var) {
            err = cfg_eval(c, var, &v);
        } else {
            char *dot = strchr(name, '.');
            if (dot) {
                *dot = '\0';
                err = getatt_value(c, name, dot + 1, tmpl, &v);
                *dot = '.';
            } else {
                err = ref_value(c, name, tmpl, &v);
            }
        }
        c->diag = outer;
        if (err) {
            if (var || inner.offset != tmpl->offset) {
                /* failed somewhere else (a variable's value, another
                 * resource's name): that error stands as it is */
                ks_diag_set(c->diag, err, inner.offset, "%s", inner.msg);
            } else {
                /* a reference of this string: point at its ${ */
                const char *rest = inner.msg;
                if (c->path.len && strncmp(rest, c->path.data, c->path.len) == 0 &&
                    strncmp(rest + c->path.len, ": ", 2) == 0)
                    rest += c->path.len + 2;
                char tail[sizeof(inner.msg)];
                snprintf(tail, sizeof(tail), "%s", rest);
                cfg_error_at(c, sub_offset(tmpl, i), err, "%s: ${%s}: %s", label, name, tail);
            }
            break;
        }
        if (v->kind != CNODE_STR) {
            err =
                cfg_error_at(c, sub_offset(tmpl, i), KS_E_INVALID, "%s: ${%s} is %s, not a string",
                             label, name, v->kind == CNODE_SEQ ? "a list" : "not a string value");
            break;
        }
        err = ks_buf_add(&b, v->str, v->len);
        i += nlen + 3;
    }
    if (err == KS_E_TOOBIG)
        err = cfg_error(c, fn, KS_E_LIMIT, "%s: result longer than %u bytes", label,
                        (unsigned)CONFIG_MAX_EVAL_BYTES);
    if (!err)
        err = budget(c, fn, b.len);
    if (!err)
        *out = cfg_new_str(c, fn, b.data, b.len);
    ks_buf_release(&b);
    return err;
}

static enum ks_err fn_join(struct cfg *c, const struct cnode *fn, const char *label,
                           const struct cnode *arg, const struct cnode **out)
{
    const struct cnode *sep, *list;
    enum ks_err err = need_args(c, fn, label, arg, 2, 2);
    if (!err)
        err = eval_string(c, arg->kids[0], label, "the delimiter", &sep);
    if (!err)
        err = eval_list(c, arg->kids[1], label, "the values", &list);
    if (err)
        return err;
    size_t total = 0;
    for (size_t i = 0; i < list->len; i++) {
        if (list->kids[i]->kind != CNODE_STR)
            return cfg_error(c, list->kids[i], KS_E_INVALID, "%s: value %zu is not a string", label,
                             i);
        total += list->kids[i]->len + sep->len;
        if (total > CONFIG_MAX_EVAL_BYTES)
            break;
    }
    if ((err = budget(c, fn, total)))
        return err;
    char *s = mem_alloc(&c->tmp, total + 1), *p = s;
    for (size_t i = 0; i < list->len; i++) {
        if (i) {
            memcpy(p, sep->str, sep->len);
            p += sep->len;
        }
        memcpy(p, list->kids[i]->str, list->kids[i]->len);
        p += list->kids[i]->len;
    }
    *p = '\0';
    struct cnode *n = cfg_new_str(c, fn, "", 0);
    n->str = s;
    n->len = (size_t)(p - s);
    *out = n;
    return KS_OK;
}

static enum ks_err fn_select(struct cfg *c, const struct cnode *fn, const char *label,
                             const struct cnode *arg, const struct cnode **out)
{
    const struct cnode *idx, *list;
    double d;
    enum ks_err err = need_args(c, fn, label, arg, 2, 2);
    if (!err)
        err = eval_string(c, arg->kids[0], label, "the index", &idx);
    if (err)
        return err;
    if (!cnode_number(idx, &d) || d < 0 || d > 1e15 || d != (double)(size_t)d)
        return cfg_error(c, arg->kids[0], KS_E_INVALID,
                         "%s: the index must be a non-negative integer", label);
    if ((err = eval_list(c, arg->kids[1], label, "the values", &list)))
        return err;
    if ((size_t)d >= list->len)
        return cfg_error(c, arg->kids[0], KS_E_INVALID,
                         "%s: index %zu is out of range (the list has %zu values)", label,
                         (size_t)d, list->len);
    *out = list->kids[(size_t)d];
    return KS_OK;
}

static enum ks_err fn_split(struct cfg *c, const struct cnode *fn, const char *label,
                            const struct cnode *arg, const struct cnode **out)
{
    const struct cnode *sep, *str;
    enum ks_err err = need_args(c, fn, label, arg, 2, 2);
    if (!err)
        err = eval_string(c, arg->kids[0], label, "the delimiter", &sep);
    if (!err)
        err = eval_string(c, arg->kids[1], label, "the source string", &str);
    if (err)
        return err;
    if (sep->len == 0)
        return cfg_error(c, arg->kids[0], KS_E_INVALID, "%s: the delimiter is empty", label);
    size_t n = 1;
    for (const char *p = str->str; (p = strstr(p, sep->str)); p += sep->len)
        n++;
    if ((err = budget(c, fn, str->len + n * sizeof(struct cnode))))
        return err;
    struct cnode *seq = new_container(c, fn, CNODE_SEQ, n);
    const char *p = str->str;
    for (size_t i = 0; i < n; i++) {
        const char *q = i + 1 < n ? strstr(p, sep->str) : str->str + str->len;
        seq->kids[i] = cfg_new_str(c, fn, p, (size_t)(q - p));
        p = q + sep->len;
    }
    *out = seq;
    return KS_OK;
}

static enum ks_err fn_base64(struct cfg *c, const struct cnode *fn, const char *label,
                             const struct cnode *arg, const struct cnode **out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const struct cnode *v;
    enum ks_err err = eval_string(c, arg, label, "the value", &v);
    if (err)
        return err;
    size_t n = (v->len + 2) / 3 * 4;
    if ((err = budget(c, fn, n)))
        return err;
    char *s = mem_alloc(&c->tmp, n + 1);
    const unsigned char *in = (const unsigned char *)v->str;
    size_t o = 0;
    for (size_t i = 0; i < v->len; i += 3) {
        unsigned x = (unsigned)in[i] << 16;
        if (i + 1 < v->len)
            x |= (unsigned)in[i + 1] << 8;
        if (i + 2 < v->len)
            x |= in[i + 2];
        s[o++] = tbl[(x >> 18) & 63];
        s[o++] = tbl[(x >> 12) & 63];
        s[o++] = i + 1 < v->len ? tbl[(x >> 6) & 63] : '=';
        s[o++] = i + 2 < v->len ? tbl[x & 63] : '=';
    }
    s[o] = '\0';
    struct cnode *r = cfg_new_str(c, fn, "", 0);
    r->str = s;
    r->len = o;
    *out = r;
    return KS_OK;
}

/* Three zones, a to c: AWS lists the zones with a default subnet, which
 * depends on the account; three is what most regions offer. */
static enum ks_err fn_getazs(struct cfg *c, const struct cnode *fn, const char *label,
                             const struct cnode *arg, const struct cnode **out)
{
    const struct cnode *v;
    enum ks_err err = eval_string(c, arg, label, "the region", &v);
    if (err)
        return err;
    const char *region = v->len ? v->str : c->region;
    struct cnode *seq = new_container(c, fn, CNODE_SEQ, 3);
    for (size_t i = 0; i < 3; i++) {
        char *s = mem_printf(&c->tmp, "%s%c", region, (char)('a' + i));
        seq->kids[i] = cfg_new_str(c, fn, s, strlen(s));
    }
    *out = seq;
    return KS_OK;
}

static enum ks_err fn_findinmap(struct cfg *c, const struct cnode *fn, const char *label,
                                const struct cnode *arg, const struct cnode **out)
{
    const struct cnode *k[3];
    enum ks_err err = need_args(c, fn, label, arg, 3, 3);
    for (size_t i = 0; !err && i < 3; i++)
        err = eval_string(c, arg->kids[i], label, i == 0 ? "the map name" : "a key", &k[i]);
    if (err)
        return err;
    const struct cnode *m = cnode_get(c->mappings, k[0]->str);
    if (!m)
        return cfg_error(c, arg->kids[0], KS_E_INVALID, "%s: no mapping '%s'", label, k[0]->str);
    const struct cnode *top = cnode_get(m, k[1]->str);
    if (!top)
        return cfg_error(c, arg->kids[1], KS_E_INVALID, "%s: mapping '%s' has no key '%s'", label,
                         k[0]->str, k[1]->str);
    const struct cnode *v = cnode_get(top, k[2]->str);
    if (!v)
        return cfg_error(c, arg->kids[2], KS_E_INVALID, "%s: mapping '%s.%s' has no key '%s'",
                         label, k[0]->str, k[1]->str, k[2]->str);
    *out = v;
    return KS_OK;
}

static enum ks_err fn_getatt(struct cfg *c, const struct cnode *fn, const char *label,
                             const struct cnode *arg, const struct cnode **out)
{
    if (arg->kind == CNODE_STR) { /* !GetAtt Resource.Attribute */
        const char *dot = strchr(arg->str, '.');
        if (!dot || dot == arg->str || !dot[1])
            return cfg_error(c, arg, KS_E_INVALID, "%s needs 'Resource.Attribute'", label);
        char *id = mem_strndup(&c->tmp, arg->str, (size_t)(dot - arg->str));
        return getatt_value(c, id, dot + 1, fn, out);
    }
    const struct cnode *attr;
    enum ks_err err = need_args(c, fn, label, arg, 2, 2);
    if (err)
        return err;
    if (arg->kids[0]->kind != CNODE_STR)
        return cfg_error(c, arg->kids[0], KS_E_INVALID, "%s: the resource must be a name", label);
    if ((err = eval_string(c, arg->kids[1], label, "the attribute", &attr)))
        return err;
    return getatt_value(c, arg->kids[0]->str, attr->str, fn, out);
}

static enum ks_err fn_if(struct cfg *c, const struct cnode *fn, const char *label,
                         const struct cnode *arg, const struct cnode **out)
{
    if (c->cond_context)
        return cfg_error(c, fn, KS_E_INVALID, "%s cannot be used in Conditions", label);
    enum ks_err err = need_args(c, fn, label, arg, 3, 3);
    if (err)
        return err;
    if (arg->kids[0]->kind != CNODE_STR)
        return cfg_error(c, arg->kids[0], KS_E_INVALID, "%s: the condition must be a name", label);
    bool v;
    if ((err = cfg_condition_value(c, arg->kids[0]->str, arg->kids[0], &v)))
        return err;
    return cfg_eval(c, arg->kids[v ? 1 : 2], out);
}

static bool cond_fn(const char *name)
{
    return strcmp(name, "Fn::Equals") == 0 || strcmp(name, "Fn::Not") == 0 ||
           strcmp(name, "Fn::And") == 0 || strcmp(name, "Fn::Or") == 0 ||
           strcmp(name, "Condition") == 0;
}

static bool unsupported_fn(const char *name)
{
    static const char *const names[] = {"Fn::ImportValue", "Fn::Cidr",         "Fn::Transform",
                                        "Fn::Length",      "Fn::ToJsonString", "Fn::GetParam"};
    for (size_t i = 0; i < KS_ARRAY_LEN(names); i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return strncmp(name, "Fn::ForEach", 11) == 0;
}

/* A one-pair map whose key names a function: "Ref", "Fn::..." or a tag. */
static bool is_function(const struct cnode *n)
{
    if (n->kind != CNODE_MAP || n->len != 1)
        return false;
    const char *k = n->kids[0]->str;
    return n->kids[0]->tagged || strcmp(k, "Ref") == 0 || strncmp(k, "Fn::", 4) == 0;
}

static enum ks_err eval_function(struct cfg *c, const struct cnode *fn, const struct cnode **out)
{
    const struct cnode *key = fn->kids[0], *arg = fn->kids[1];
    char buf[40];
    const char *label = fn_label(key, buf, sizeof(buf));
    const char *name = key->str;
    if (strcmp(name, "Ref") == 0) {
        if (arg->kind != CNODE_STR || arg->len == 0)
            return cfg_error(c, fn, KS_E_INVALID, "%s needs the name of a parameter or resource",
                             label);
        return ref_value(c, arg->str, arg, out);
    }
    if (strcmp(name, "Fn::Sub") == 0)
        return fn_sub(c, fn, label, arg, out);
    if (strcmp(name, "Fn::GetAtt") == 0)
        return fn_getatt(c, fn, label, arg, out);
    if (strcmp(name, "Fn::Join") == 0)
        return fn_join(c, fn, label, arg, out);
    if (strcmp(name, "Fn::Select") == 0)
        return fn_select(c, fn, label, arg, out);
    if (strcmp(name, "Fn::Split") == 0)
        return fn_split(c, fn, label, arg, out);
    if (strcmp(name, "Fn::If") == 0)
        return fn_if(c, fn, label, arg, out);
    if (strcmp(name, "Fn::FindInMap") == 0)
        return fn_findinmap(c, fn, label, arg, out);
    if (strcmp(name, "Fn::Base64") == 0)
        return fn_base64(c, fn, label, arg, out);
    if (strcmp(name, "Fn::GetAZs") == 0)
        return fn_getazs(c, fn, label, arg, out);
    if (cond_fn(name))
        return cfg_error(c, fn, KS_E_INVALID,
                         "%s can only be used in Conditions (use Fn::If with a condition here)",
                         label);
    if (unsupported_fn(name))
        return cfg_error(c, fn, KS_E_INVALID, "%s is not supported by keysentry", label);
    return cfg_error(c, key, KS_E_INVALID, "unknown intrinsic function '%s'", label);
}

enum ks_err cfg_eval(struct cfg *c, const struct cnode *n, const struct cnode **out)
{
    *out = n;
    if (n->kind != CNODE_SEQ && n->kind != CNODE_MAP)
        return KS_OK;
    if (++c->eval_depth > EVAL_MAX_DEPTH) {
        c->eval_depth--;
        return cfg_error(c, n, KS_E_LIMIT, "references nest deeper than %d levels", EVAL_MAX_DEPTH);
    }
    enum ks_err err = KS_OK;
    if (is_function(n)) {
        /* arguments are not properties: no path steps inside functions */
        c->in_function++;
        err = eval_function(c, n, out);
        c->in_function--;
        goto out;
    }
    size_t per = n->kind == CNODE_MAP ? 2 : 1;
    struct cnode *copy = NULL;
    size_t kept = 0;
    for (size_t i = 0; i < n->len; i++) {
        const struct cnode *item = n->kids[per * i + per - 1], *v;
        size_t mark = c->path.len;
        if (!c->in_function && per == 2)
            cfg_path_push(c, ".%s", n->kids[2 * i]->str);
        else if (!c->in_function)
            cfg_path_push(c, "[%zu]", i);
        err = cfg_eval(c, item, &v);
        cfg_path_pop(c, mark);
        if (err)
            goto out;
        if (v != item && !copy) {
            /* first change: copy what came before */
            copy = new_container(c, n, n->kind, n->len);
            for (size_t j = 0; j < i * per; j++)
                copy->kids[j] = n->kids[j];
            kept = i;
        }
        if (copy && v->kind != CNODE_NOVALUE) {
            if (per == 2)
                copy->kids[2 * kept] = n->kids[2 * i];
            copy->kids[per * kept + per - 1] = v;
            kept++;
        }
    }
    if (copy) {
        copy->len = kept;
        *out = copy;
    }
out:
    c->eval_depth--;
    return err;
}

/* ---- conditions ---- */

static bool values_equal(const struct cnode *a, const struct cnode *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case CNODE_STR:
        return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
    case CNODE_SEQ:
    case CNODE_MAP: {
        if (a->len != b->len)
            return false;
        size_t per = a->kind == CNODE_MAP ? 2 : 1;
        for (size_t i = 0; i < per * a->len; i++)
            if (!values_equal(a->kids[i], b->kids[i]))
                return false;
        return true;
    }
    default:
        return true;
    }
}

enum ks_err cfg_eval_condition(struct cfg *c, const struct cnode *n, bool *out)
{
    /* {"Condition": name} is a function only here: elsewhere (IAM policies)
     * a Condition key is data */
    if (n->kind != CNODE_MAP || n->len != 1 || !cond_fn(n->kids[0]->str))
        return cfg_error(c, n, KS_E_INVALID,
                         "expected a condition function (Fn::Equals, Fn::Not, Fn::And, Fn::Or "
                         "or Condition)");
    if (++c->eval_depth > EVAL_MAX_DEPTH) {
        c->eval_depth--;
        return cfg_error(c, n, KS_E_LIMIT, "conditions nest deeper than %d levels", EVAL_MAX_DEPTH);
    }
    const struct cnode *key = n->kids[0], *arg = n->kids[1];
    char buf[40];
    const char *label = fn_label(key, buf, sizeof(buf));
    const char *name = key->str;
    enum ks_err err = KS_OK;
    c->cond_context++;
    if (strcmp(name, "Condition") == 0) {
        if (arg->kind != CNODE_STR)
            err = cfg_error(c, n, KS_E_INVALID, "%s needs the name of a condition", label);
        else
            err = cfg_condition_value(c, arg->str, arg, out);
    } else if (strcmp(name, "Fn::Equals") == 0) {
        const struct cnode *a, *b;
        err = need_args(c, n, label, arg, 2, 2);
        if (!err)
            err = cfg_eval(c, arg->kids[0], &a);
        if (!err)
            err = cfg_eval(c, arg->kids[1], &b);
        if (!err)
            *out = values_equal(a, b);
    } else if (strcmp(name, "Fn::Not") == 0) {
        bool v = false;
        err = need_args(c, n, label, arg, 1, 1);
        if (!err)
            err = cfg_eval_condition(c, arg->kids[0], &v);
        *out = !v;
    } else { /* And, Or: 2 to 10 conditions, as AWS */
        bool is_and = strcmp(name, "Fn::And") == 0, acc = is_and;
        err = need_args(c, n, label, arg, 2, 10);
        for (size_t i = 0; !err && i < arg->len; i++) {
            bool v;
            err = cfg_eval_condition(c, arg->kids[i], &v);
            acc = is_and ? acc && v : acc || v;
        }
        *out = acc;
    }
    c->cond_context--;
    c->eval_depth--;
    return err;
}

enum ks_err cfg_condition_value(struct cfg *c, const char *name, const struct cnode *at, bool *out)
{
    struct ccond *k = NULL;
    for (size_t i = 0; i < c->n_conds; i++)
        if (strcmp(c->conds[i].name, name) == 0)
            k = &c->conds[i];
    if (!k)
        return cfg_error(c, at, KS_E_INVALID, "unknown condition '%s'", name);
    if (k->state == 1)
        return cfg_error(c, at, KS_E_INVALID, "circular condition: '%s' depends on itself", name);
    if (k->state == 0) {
        k->state = 1;
        struct ks_buf saved = path_swap(c);
        int in_fn = c->in_function;
        c->in_function = 0;
        size_t mark = cfg_path_push(c, "Conditions.%s", k->name);
        c->cond_context++;
        enum ks_err err = cfg_eval_condition(c, k->expr, &k->value);
        c->cond_context--;
        cfg_path_pop(c, mark);
        path_restore(c, &saved);
        c->in_function = in_fn;
        if (err) {
            k->state = 0;
            return err;
        }
        k->state = 2;
    }
    *out = k->value;
    return KS_OK;
}

/* ---- JSON ---- */

static json_t *scalar_to_json(const struct cnode *n)
{
    if (!n->plain)
        return json_stringn(n->str, n->len);
    if (strcmp(n->str, "true") == 0 || strcmp(n->str, "True") == 0 || strcmp(n->str, "TRUE") == 0)
        return json_true();
    if (strcmp(n->str, "false") == 0 || strcmp(n->str, "False") == 0 ||
        strcmp(n->str, "FALSE") == 0)
        return json_false();
    double d;
    if (cnode_number(n, &d)) {
        const char *s = n->str + (n->str[0] == '-' || n->str[0] == '+');
        bool integral = strspn(s, "0123456789") == strlen(s) && (s[0] != '0' || !s[1]);
        if (integral && d > -9.0e18 && d < 9.0e18) {
            json_int_t v = 0;
            for (const char *p = s; *p; p++)
                v = v * 10 + (*p - '0');
            return json_integer(n->str[0] == '-' ? -v : v);
        }
        if (!integral)
            return json_real(d);
    }
    return json_stringn(n->str, n->len);
}

json_t *cnode_to_json(const struct cnode *n)
{
    switch (n->kind) {
    case CNODE_STR:
        return scalar_to_json(n);
    case CNODE_SEQ: {
        json_t *a = json_array();
        for (size_t i = 0; i < n->len; i++)
            json_array_append_new(a, cnode_to_json(n->kids[i]));
        return a;
    }
    case CNODE_MAP: {
        json_t *o = json_object();
        for (size_t i = 0; i < n->len; i++)
            json_object_set_new(o, n->kids[2 * i]->str, cnode_to_json(n->kids[2 * i + 1]));
        return o;
    }
    default:
        return json_null();
    }
}
