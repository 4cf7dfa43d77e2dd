/* SPDX-License-Identifier: Apache-2.0 */
/*
 * respond: Keysentry::Response::* resources -> struct respond_def.
 *
 * The template loader hands us each resource's Properties resolved into a
 * JSON object (docs/configuration.md#keysentry-resources): unquoted YAML
 * scalars keep their type, so a number may arrive as a JSON number or, through
 * !Ref of a parameter, as a string of digits; both are accepted, as
 * CloudFormation does. One table says which property applies to which type;
 * an unknown or misplaced property is an error with a "did you mean".
 * Messages name the logical path: "Resources.X.Properties.Y: ...".
 */
#include "respond/respond_int.h"

#include "config/config.h"

#define K(k)       (1u << (k))
#define KEY_KINDS  (K(RESPOND_DISABLE_KEY) | K(RESPOND_SCHEDULE_KEY_DELETION))
#define ROLE_KINDS (K(RESPOND_REVOKE_ROLE_SESSIONS) | K(RESPOND_ATTACH_DENY_POLICY))
#define AWS_KINDS  (KEY_KINDS | ROLE_KINDS)
#define ALL_KINDS  (AWS_KINDS | K(RESPOND_EXEC))

static const struct prop {
    const char *name;
    unsigned kinds;
} props[] = {
    {"Name", ALL_KINDS},
    {"Description", ALL_KINDS},
    {"DryRun", ALL_KINDS},
    {"CooldownSeconds", ALL_KINDS},
    {"MaxActionsPerHour", ALL_KINDS},
    {"TimeoutSeconds", ALL_KINDS},
    {"AutoRevertAfterSeconds", K(RESPOND_DISABLE_KEY) | ROLE_KINDS},
    {"Verify", AWS_KINDS},
    {"Endpoint", AWS_KINDS},
    {"Profile", AWS_KINDS},
    {"Region", AWS_KINDS},
    {"MaxTargets", AWS_KINDS},
    {"KeyId", KEY_KINDS},
    {"PendingWindowInDays", K(RESPOND_SCHEDULE_KEY_DELETION)},
    {"ConfirmKeyDeletion", K(RESPOND_SCHEDULE_KEY_DELETION)},
    {"RoleName", ROLE_KINDS},
    {"RoleArn", ROLE_KINDS},
    {"PolicyName", ROLE_KINDS},
    {"PolicyArn", K(RESPOND_ATTACH_DENY_POLICY)},
    {"PolicyDocument", K(RESPOND_ATTACH_DENY_POLICY)},
    {"DenyActions", K(RESPOND_ATTACH_DENY_POLICY)},
    {"Command", K(RESPOND_EXEC)},
    {"Environment", K(RESPOND_EXEC)},
};

/* Parsing state: the resource and the diag. */
struct dp {
    const struct config_custom *c;
    struct ks_diag *diag;
    struct respond_def *d;
};

static enum ks_err fail(struct dp *p, const char *prop, enum ks_err err, const char *fmt, ...)
    KS_PRINTF(4, 5);

static enum ks_err fail(struct dp *p, const char *prop, enum ks_err err, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return ks_diag_set(p->diag, err, p->c->res.pos.offset, "Resources.%s%s%s: %s",
                       p->c->res.logical_id, prop ? ".Properties." : "", prop ? prop : "", msg);
}

/* Edit distance, for "did you mean" (names are short). */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return SIZE_MAX;
    size_t row[41];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = (a[i - 1] | 0x20) == (b[j - 1] | 0x20) ? 0 : 1;
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static enum ks_err check_names(struct dp *p, json_t *o)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        const struct prop *hit = NULL;
        for (size_t i = 0; i < KS_ARRAY_LEN(props) && !hit; i++)
            if (strcmp(props[i].name, key) == 0)
                hit = &props[i];
        if (hit && (hit->kinds & K(p->d->kind)))
            continue;
        if (hit)
            return fail(p, key, KS_E_INVALID, "not a property of %s",
                        respond_kind_type(p->d->kind));
        const char *near = NULL;
        size_t best = 3;
        for (size_t i = 0; i < KS_ARRAY_LEN(props); i++) {
            size_t dd = distance(key, props[i].name);
            if ((props[i].kinds & K(p->d->kind)) && dd < best) {
                best = dd;
                near = props[i].name;
            }
        }
        if (near)
            return fail(p, key, KS_E_INVALID, "unknown property (did you mean '%s'?)", near);
        return fail(p, key, KS_E_INVALID, "unknown property of %s", respond_kind_type(p->d->kind));
    }
    return KS_OK;
}

/* Integer in [lo, hi]; absent: *out = dflt. */
static enum ks_err get_uint(struct dp *p, json_t *o, const char *name, uint32_t lo, uint32_t hi,
                            uint32_t dflt, uint32_t *out)
{
    const json_t *v = json_object_get(o, name);
    *out = dflt;
    if (!v)
        return KS_OK;
    long long x = -1;
    bool ok = false;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
        ok = true;
    } else if (json_is_real(v)) {
        double r = json_real_value(v);
        ok = r == (double)(long long)r && r >= -1e15 && r <= 1e15;
        x = ok ? (long long)r : -1;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = strlen(s);
        ok = n > 0 && n <= 10;
        x = 0;
        for (size_t i = 0; ok && i < n; i++) {
            ok = s[i] >= '0' && s[i] <= '9';
            x = x * 10 + (s[i] - '0');
        }
    }
    if (!ok || x < (long long)lo || x > (long long)hi) {
        if (json_is_integer(v) || json_is_real(v))
            return fail(p, name, KS_E_INVALID, "must be an integer from %u to %u (got %.15g)", lo,
                        hi, json_number_value(v));
        return fail(p, name, KS_E_INVALID, "must be an integer from %u to %u", lo, hi);
    }
    *out = (uint32_t)x;
    return KS_OK;
}

static enum ks_err get_bool(struct dp *p, json_t *o, const char *name, bool dflt, bool *out)
{
    const json_t *v = json_object_get(o, name);
    *out = dflt;
    if (!v)
        return KS_OK;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return KS_OK;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
            *out = s[0] == 't';
            return KS_OK;
        }
    }
    return fail(p, name, KS_E_INVALID, "must be true or false");
}

static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* Optional string of 1..max printable bytes; *out NULL when absent. */
static enum ks_err get_str(struct dp *p, json_t *o, const char *name, size_t max, const char **out)
{
    const json_t *v = json_object_get(o, name);
    *out = NULL;
    if (!v)
        return KS_OK;
    if (!json_is_string(v))
        return fail(p, name, KS_E_INVALID, "must be a string");
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return fail(p, name, KS_E_INVALID, "must be 1 to %zu characters", max);
    if (!printable(s) || n != json_string_length(v))
        return fail(p, name, KS_E_INVALID, "must not contain control characters");
    *out = s;
    return KS_OK;
}

static bool charset(const char *s, const char *extra)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr(extra, c)))
            return false;
    }
    return true;
}

static bool is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

static bool is_mrk(const char *s)
{
    if (strncmp(s, "mrk-", 4) != 0 || strlen(s) != 36)
        return false;
    for (size_t i = 4; i < 36; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

void respond_key_id(const char *key, char *out, size_t out_size)
{
    out[0] = '\0';
    if (!key)
        return;
    const char *id = key;
    if (strncmp(key, "arn:", 4) == 0) {
        /* arn:PARTITION:kms:REGION:ACCOUNT:key/ID */
        const char *p = key;
        int colons = 0;
        const char *svc = NULL;
        while (*p && colons < 5) {
            if (*p == ':') {
                colons++;
                if (colons == 2)
                    svc = p + 1;
            }
            p++;
        }
        if (colons != 5 || !svc || strncmp(svc, "kms:", 4) != 0 || strncmp(p, "key/", 4) != 0)
            return;
        id = p + 4;
    }
    if (is_uuid(id) || is_mrk(id))
        snprintf(out, out_size, "%s", id);
}

bool respond_role_name(const char *arn, char *out, size_t out_size)
{
    if (!arn || strncmp(arn, "arn:", 4) != 0)
        return false;
    const char *p = arn;
    int colons = 0;
    const char *svc = NULL;
    while (*p && colons < 5) {
        if (*p == ':') {
            colons++;
            if (colons == 2)
                svc = p + 1;
        }
        p++;
    }
    if (colons != 5 || !svc)
        return false;
    const char *name = NULL;
    size_t len = 0;
    if (strncmp(svc, "iam:", 4) == 0 && strncmp(p, "role/", 5) == 0) {
        if (strncmp(p, "role/aws-service-role/", 22) == 0)
            return false; /* IAM refuses policies on service-linked roles */
        name = strrchr(p, '/') + 1;
        len = strlen(name);
    } else if (strncmp(svc, "sts:", 4) == 0 && strncmp(p, "assumed-role/", 13) == 0) {
        name = p + 13;
        const char *slash = strchr(name, '/');
        len = slash ? (size_t)(slash - name) : strlen(name);
    } else {
        return false;
    }
    if (len == 0 || len > 64 || len >= out_size)
        return false;
    memcpy(out, name, len);
    out[len] = '\0';
    return charset(out, "+=,.@_-");
}

static enum ks_err parse_key_id(struct dp *p, json_t *o)
{
    const char *s;
    enum ks_err e = get_str(p, o, "KeyId", 2048, &s);
    if (e || !s)
        return e;
    if (strncmp(s, "alias/", 6) == 0 || strstr(s, ":alias/"))
        return fail(p, "KeyId", KS_E_INVALID,
                    "%s takes a key ID or key ARN, not an alias (KMS refuses aliases here)",
                    respond_kind_op(p->d->kind));
    char id[64];
    respond_key_id(s, id, sizeof(id));
    if (!id[0])
        return fail(p, "KeyId", KS_E_INVALID, "'%.80s' is neither a key ID nor a key ARN", s);
    p->d->key_id = ks_xstrdup(s);
    return KS_OK;
}

static enum ks_err parse_role(struct dp *p, json_t *o)
{
    const char *name, *arn;
    enum ks_err e;
    if ((e = get_str(p, o, "RoleName", 64, &name)) || (e = get_str(p, o, "RoleArn", 2048, &arn)))
        return e;
    if (name && arn)
        return fail(p, "RoleArn", KS_E_INVALID, "give RoleName or RoleArn, not both");
    if (name) {
        if (!charset(name, "+=,.@_-"))
            return fail(p, "RoleName", KS_E_INVALID,
                        "'%.64s' is not an IAM role name (letters, digits and +=,.@_-)", name);
        p->d->role = ks_xstrdup(name);
    } else if (arn) {
        char buf[65];
        if (strstr(arn, ":assumed-role/") || !respond_role_name(arn, buf, sizeof(buf)))
            return fail(p, "RoleArn", KS_E_INVALID,
                        "'%.100s' is not the ARN of a role that can take policies", arn);
        p->d->role = ks_xstrdup(buf);
    }
    return KS_OK;
}

static enum ks_err parse_policy_name(struct dp *p, json_t *o, const char *dflt)
{
    const char *s;
    enum ks_err e = get_str(p, o, "PolicyName", 128, &s);
    if (e)
        return e;
    if (s && !charset(s, "+=,.@_-"))
        return fail(p, "PolicyName", KS_E_INVALID,
                    "'%.128s' is not an IAM policy name (letters, digits and +=,.@_-)", s);
    p->d->policy_name = ks_xstrdup(s ? s : dflt);
    return KS_OK;
}

/* Every statement of a deny policy must deny: the type promises it. */
static enum ks_err check_deny_document(struct dp *p, json_t *doc)
{
    if (!json_is_object(doc))
        return fail(p, "PolicyDocument", KS_E_INVALID, "must be a JSON object");
    const json_t *st = json_object_get(doc, "Statement");
    if (!st || !(json_is_object(st) || (json_is_array(st) && json_array_size(st) > 0)))
        return fail(p, "PolicyDocument", KS_E_INVALID, "needs a Statement");
    size_t n = json_is_array(st) ? json_array_size(st) : 1;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_is_array(st) ? json_array_get(st, i) : st;
        const json_t *eff = json_is_object(s) ? json_object_get(s, "Effect") : NULL;
        if (!json_is_string(eff) || strcmp(json_string_value(eff), "Deny") != 0)
            return fail(p, "PolicyDocument", KS_E_INVALID,
                        "statement %zu has Effect other than Deny: AttachDenyPolicy only denies",
                        i + 1);
    }
    return KS_OK;
}

static enum ks_err parse_attach(struct dp *p, json_t *o)
{
    const char *arn;
    enum ks_err e = get_str(p, o, "PolicyArn", 2048, &arn);
    if (e)
        return e;
    json_t *doc = json_object_get(o, "PolicyDocument");
    const json_t *acts = json_object_get(o, "DenyActions");
    int forms = !!arn + !!doc + !!acts;
    if (forms > 1)
        return fail(p, arn ? "PolicyArn" : "PolicyDocument", KS_E_INVALID,
                    "give one of PolicyArn, PolicyDocument and DenyActions");
    if (arn) {
        if (strncmp(arn, "arn:", 4) != 0 || !strstr(arn, ":iam::") || !strstr(arn, ":policy/"))
            return fail(p, "PolicyArn", KS_E_INVALID, "'%.100s' is not an IAM policy ARN", arn);
        if (json_object_get(o, "PolicyName"))
            return fail(p, "PolicyName", KS_E_INVALID,
                        "names an inline policy: not with PolicyArn");
        p->d->policy_arn = ks_xstrdup(arn);
        return KS_OK;
    }
    json_t *built = NULL;
    if (doc) {
        if (json_is_string(doc)) {
            json_error_t jerr;
            built = json_loads(json_string_value(doc), 0, &jerr);
            if (!built)
                return fail(p, "PolicyDocument", KS_E_INVALID, "not JSON: %s", jerr.text);
        } else {
            built = json_incref(doc);
        }
        if ((e = check_deny_document(p, built))) {
            json_decref(built);
            return e;
        }
    } else {
        json_t *list = json_array();
        if (acts) {
            if (!json_is_array(acts) || json_array_size(acts) == 0 || json_array_size(acts) > 100) {
                json_decref(list);
                return fail(p, "DenyActions", KS_E_INVALID,
                            "must be a list of 1 to 100 actions such as \"kms:Decrypt\"");
            }
            for (size_t i = 0; i < json_array_size(acts); i++) {
                const json_t *a = json_array_get(acts, i);
                const char *s = json_is_string(a) ? json_string_value(a) : NULL;
                if (!s || !*s || strlen(s) > 128 || !charset(s, ":*?-_")) {
                    json_decref(list);
                    return fail(p, "DenyActions", KS_E_INVALID,
                                "entry %zu is not an action such as \"kms:Decrypt\"", i + 1);
                }
                json_array_append_new(list, json_string(s));
            }
        } else {
            json_array_append_new(list, json_string("kms:*"));
        }
        built =
            json_pack("{s:s, s:[{s:s, s:s, s:o, s:s}]}", "Version", "2012-10-17", "Statement",
                      "Sid", "KeysentryDeny", "Effect", "Deny", "Action", list, "Resource", "*");
    }
    char *text = json_dumps(built, JSON_COMPACT);
    json_decref(built);
    if (!text)
        return fail(p, "PolicyDocument", KS_E_INVALID, "cannot be serialised");
    if (strlen(text) > RESPOND_MAX_POLICY_BYTES) {
        size_t n = strlen(text);
        free(text);
        return fail(p, "PolicyDocument", KS_E_LIMIT, "is %zu bytes: IAM allows %u", n,
                    RESPOND_MAX_POLICY_BYTES);
    }
    p->d->policy_document = text;
    return parse_policy_name(p, o, "KeysentryDeny");
}

static enum ks_err parse_exec(struct dp *p, json_t *o)
{
    const json_t *cmd = json_object_get(o, "Command");
    if (!cmd)
        return fail(p, "Command", KS_E_INVALID, "is required: the program and its arguments");
    if (!json_is_array(cmd) || json_array_size(cmd) == 0)
        return fail(p, "Command", KS_E_INVALID,
                    "must be a list: the program's absolute path, then its arguments");
    size_t n = json_array_size(cmd);
    if (n > RESPOND_MAX_ARGV)
        return fail(p, "Command", KS_E_LIMIT, "has %zu entries: at most %d", n, RESPOND_MAX_ARGV);
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(cmd, i);
        if (!json_is_string(a) || json_string_length(a) != strlen(json_string_value(a)) ||
            json_string_length(a) > RESPOND_MAX_ARG_BYTES)
            return fail(p, "Command", KS_E_INVALID, "entry %zu must be a string without NUL",
                        i + 1);
    }
    const char *prog = json_string_value(json_array_get(cmd, 0));
    if (prog[0] != '/')
        return fail(p, "Command", KS_E_INVALID,
                    "'%.100s' must be an absolute path: no PATH search, no shell", prog);
    p->d->argv = ks_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        p->d->argv[i] = ks_xstrdup(json_string_value(json_array_get(cmd, i)));
    p->d->argc = n;

    json_t *env = json_object_get(o, "Environment");
    if (!env)
        return KS_OK;
    if (!json_is_object(env))
        return fail(p, "Environment", KS_E_INVALID, "must be a mapping of names to strings");
    size_t ne = json_object_size(env);
    if (ne > RESPOND_MAX_ENV)
        return fail(p, "Environment", KS_E_LIMIT, "has %zu entries: at most %d", ne,
                    RESPOND_MAX_ENV);
    p->d->envp = ks_xcalloc(ne + 1, sizeof(char *));
    const char *k;
    json_t *v;
    json_object_foreach(env, k, v)
    {
        if (!*k || !charset(k, "_") || (k[0] >= '0' && k[0] <= '9'))
            return fail(p, "Environment", KS_E_INVALID, "'%.64s' is not a variable name", k);
        if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v)) ||
            json_string_length(v) > RESPOND_MAX_ARG_BYTES)
            return fail(p, "Environment", KS_E_INVALID, "%.64s: the value must be a string", k);
        size_t len = strlen(k) + 1 + json_string_length(v) + 1;
        char *kv = ks_xmalloc(len);
        snprintf(kv, len, "%s=%s", k, json_string_value(v));
        p->d->envp[p->d->n_env++] = kv;
    }
    return KS_OK;
}

static bool kind_of(const char *type, enum respond_kind *k)
{
    for (int i = 0; i <= (int)RESPOND_EXEC; i++)
        if (strcmp(type, respond_kind_type((enum respond_kind)i)) == 0) {
            *k = (enum respond_kind)i;
            return true;
        }
    return false;
}

static enum ks_err parse(struct dp *p, json_t *o, const char *region, const char *account)
{
    struct respond_def *d = p->d;
    enum ks_err e;
    bool kinds_aws = (K(d->kind) & AWS_KINDS) != 0;
    if ((e = check_names(p, o)))
        return e;
    const char *desc, *name;
    if ((e = get_str(p, o, "Description", 1024, &desc)) || (e = get_str(p, o, "Name", 255, &name)))
        return e;
    if ((e = get_bool(p, o, "DryRun", false, &d->dry_run)) ||
        (e = get_uint(p, o, "CooldownSeconds", 0, 604800, 300, &d->cooldown_s)) ||
        (e = get_uint(p, o, "MaxActionsPerHour", 0, 10000, 10, &d->max_per_hour)) ||
        (e = get_uint(p, o, "TimeoutSeconds", 1, RESPOND_MAX_TIMEOUT_S, 10, &d->timeout_s)) ||
        (e = get_uint(p, o, "AutoRevertAfterSeconds", 1, RESPOND_MAX_REVERT_S, 0,
                      &d->auto_revert_s)) ||
        (e = get_bool(p, o, "Verify", true, &d->verify)) ||
        (e = get_uint(p, o, "MaxTargets", 1, RESPOND_MAX_TARGETS, 5, &d->max_targets)))
        return e;
    if (json_object_get(o, "AutoRevertAfterSeconds") && d->auto_revert_s == 0)
        return fail(p, "AutoRevertAfterSeconds", KS_E_INVALID, "must be at least 1");
    if (!kinds_aws)
        d->verify = false;
    const char *s;
    if ((e = get_str(p, o, "Region", 32, &s)))
        return e;
    if (s && !charset(s, "-"))
        return fail(p, "Region", KS_E_INVALID, "'%.32s' is not a region name", s);
    d->region = ks_xstrdup(s ? s : region);
    d->account = ks_xstrdup(account);
    if ((e = get_str(p, o, "Endpoint", 400, &s)))
        return e;
    if (s) {
        struct respond_endpoint ep;
        struct ks_diag sub;
        ks_diag_clear(&sub);
        if (respond_endpoint_parse(s, &ep, &sub))
            return fail(p, "Endpoint", KS_E_INVALID, "%s", sub.msg);
        d->endpoint = ks_xstrdup(s);
    }
    if ((e = get_str(p, o, "Profile", 128, &s)))
        return e;
    if (s) {
        if (strchr(s, ']') || strchr(s, '['))
            return fail(p, "Profile", KS_E_INVALID, "'%.64s' is not a profile name", s);
        d->profile = ks_xstrdup(s);
    }

    switch (d->kind) {
    case RESPOND_DISABLE_KEY:
        return parse_key_id(p, o);
    case RESPOND_SCHEDULE_KEY_DELETION: {
        bool confirm;
        if ((e = parse_key_id(p, o)) || (e = get_bool(p, o, "ConfirmKeyDeletion", false, &confirm)))
            return e;
        if (!confirm)
            return fail(p, "ConfirmKeyDeletion", KS_E_INVALID,
                        "must be true: deleting a key destroys every ciphertext made with it");
        if (!json_object_get(o, "PendingWindowInDays"))
            return fail(p, "PendingWindowInDays", KS_E_INVALID,
                        "is required (7 to 30): the days left to cancel the deletion");
        return get_uint(p, o, "PendingWindowInDays", 7, 30, 30, &d->pending_window_days);
    }
    case RESPOND_REVOKE_ROLE_SESSIONS:
        if ((e = parse_role(p, o)))
            return e;
        /* The IAM console's own name for this policy. */
        return parse_policy_name(p, o, "AWSRevokeOlderSessions");
    case RESPOND_ATTACH_DENY_POLICY:
        if ((e = parse_role(p, o)))
            return e;
        return parse_attach(p, o);
    case RESPOND_EXEC:
        return parse_exec(p, o);
    }
    return KS_OK;
}

enum ks_err respond_def_parse(const struct config_custom *c, const char *region,
                              const char *account, struct respond_def **out, struct ks_diag *diag)
{
    *out = NULL;
    struct respond_def *d = ks_xcalloc(1, sizeof(*d));
    struct dp p = {c, diag, d};
    enum ks_err e = KS_OK;
    if (!kind_of(c->res.type, &d->kind)) {
        e = ks_diag_set(diag, KS_E_INVALID, c->res.pos.offset,
                        "Resources.%s: unknown response type '%.80s' (known: DisableKey, "
                        "ScheduleKeyDeletion, RevokeRoleSessions, AttachDenyPolicy, Exec)",
                        c->res.logical_id, c->res.type);
        goto out;
    }
    d->logical_id = ks_xstrdup(c->res.logical_id);
    d->name = ks_xstrdup(c->name);
    if (strchr(d->name, ':') || !printable(d->name)) {
        e = fail(&p, "Name", KS_E_INVALID, "'%.80s' must not contain ':' or control characters",
                 d->name);
        goto out;
    }
    size_t n = strlen(RESPOND_ARN_PREFIX) + strlen(region) + strlen(account) + strlen(d->name) + 16;
    d->arn = ks_xmalloc(n);
    snprintf(d->arn, n, "%s%s:%s:response/%s", RESPOND_ARN_PREFIX, region, account, d->name);
    json_t *empty = c->properties ? NULL : json_object();
    e = parse(&p, c->properties ? c->properties : empty, region, account);
    json_decref(empty);
out:
    if (e) {
        respond_def_free(d);
        return e;
    }
    *out = d;
    return KS_OK;
}

void respond_def_free(struct respond_def *d)
{
    if (!d)
        return;
    free(d->logical_id);
    free(d->name);
    free(d->arn);
    free(d->region);
    free(d->account);
    free(d->endpoint);
    free(d->profile);
    free(d->key_id);
    free(d->role);
    free(d->policy_name);
    free(d->policy_arn);
    free(d->policy_document);
    for (size_t i = 0; d->argv && i < d->argc; i++)
        free(d->argv[i]);
    free(d->argv);
    for (size_t i = 0; d->envp && i < d->n_env; i++)
        free(d->envp[i]);
    free(d->envp);
    free(d);
}

enum ks_err respond_validate_template(const struct config_template *t, struct ks_diag *diag)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_customs; i++) {
        const struct config_custom *c = &t->customs[i];
        if (!respond_is_response_type(c->res.type))
            continue;
        if (++n > RESPOND_MAX_RESPONSES)
            return ks_diag_set(diag, KS_E_LIMIT, c->res.pos.offset,
                               "Resources.%s: more than %d responses", c->res.logical_id,
                               RESPOND_MAX_RESPONSES);
        struct respond_def *d;
        enum ks_err e = respond_def_parse(c, t->region, t->account_id, &d, diag);
        if (e)
            return e;
        respond_def_free(d);
        for (size_t j = 0; j < i; j++) {
            const struct config_custom *o = &t->customs[j];
            if (respond_is_response_type(o->res.type) && strcmp(o->name, c->name) == 0)
                return ks_diag_set(diag, KS_E_INVALID, c->res.pos.offset,
                                   "Resources.%s: response name '%.80s' is already used by %s",
                                   c->res.logical_id, c->name, o->res.logical_id);
        }
    }
    return KS_OK;
}
