/* SPDX-License-Identifier: Apache-2.0 */
/*
 * respond: one execution of a response for one alarm transition.
 *
 * For each target: gate (under the engine lock: idempotence, cooldown, cap,
 * reservation), then, without the lock, the dry run or the real thing
 * (pre-check, call, verification), then, under the lock again, the ledger
 * outcome and the revert bookkeeping. Each target's outcome becomes a trail
 * record; the execution as a whole becomes one history report and the
 * result the caller (notify) acts on.
 */
#include "respond/respond_int.h"

/* What happened to one target. */
struct outcome {
    const char *state; /* done unchanged dry-run blocked skipped failed already-done */
    int status;        /* 0, > 0 retryable, < 0 permanent */
    char detail[300];
    char error_code[128];
    char error_message[512];
    char request_id[128];
    json_t *request_params;    /* owned */
    json_t *response_elements; /* owned */
    json_t *resources;         /* owned */
    bool verified;
    int64_t revert_at; /* 0: none */
};

struct run {
    struct respond *r;
    const struct respond_def *def;
    const char *action;
    const char *message;
    const struct respond_context *ctx;
    char trigger_id[80];
    char alarm_name[256];
    int64_t state_update_ms;
    bool dry;
    int64_t now_ms;
    bool creds_tried;
    int creds_status;
    struct respond_creds creds;
    char creds_error[256];
};

void respond_result_init(struct respond_result *res)
{
    memset(res, 0, sizeof(*res));
    ks_buf_init(&res->summary, 1024);
    ks_buf_init(&res->details, 1u << 20);
    ks_buf_init(&res->error, 1024);
}

void respond_result_release(struct respond_result *res)
{
    ks_buf_release(&res->summary);
    ks_buf_release(&res->details);
    ks_buf_release(&res->error);
}

/* Appends to a text the caller only shows: at the buffer's cap the text is
 * cut, which is acceptable. */
static void outf(struct ks_buf *b, const char *fmt, ...) KS_PRINTF(2, 3);

static void outf(struct ks_buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0 && ks_buf_add(b, tmp, strlen(tmp))) {
        /* cut at the cap */
    }
}

static void outcome_release(struct outcome *o)
{
    json_decref(o->request_params);
    json_decref(o->response_elements);
    json_decref(o->resources);
}

static void fail_from(struct outcome *o, const char *what, const struct respond_aws_reply *rep)
{
    o->state = "failed";
    o->status = rep->status ? rep->status : 1;
    snprintf(o->error_code, sizeof(o->error_code), "%s", rep->error_code);
    snprintf(o->error_message, sizeof(o->error_message), "%s", rep->error_message);
    snprintf(o->detail, sizeof(o->detail), "%s failed: %.100s: %.150s", what, rep->error_code,
             rep->error_message);
    if (rep->request_id[0])
        snprintf(o->request_id, sizeof(o->request_id), "%s", rep->request_id);
}

/* Credentials, resolved once per execution (and only for a real call). */
static bool need_creds(struct run *run, struct outcome *o)
{
    if (!run->creds_tried) {
        run->creds_tried = true;
        struct ks_diag diag;
        ks_diag_clear(&diag);
        if (respond_creds_resolve(run->def->profile, run->r->env, &run->creds, &diag)) {
            run->creds_status = -1;
            snprintf(run->creds_error, sizeof(run->creds_error), "%s", diag.msg);
        }
    }
    if (run->creds_status) {
        o->state = "failed";
        o->status = -1;
        snprintf(o->error_code, sizeof(o->error_code), "CredentialsNotFound");
        snprintf(o->error_message, sizeof(o->error_message), "%s", run->creds_error);
        snprintf(o->detail, sizeof(o->detail), "%.290s", run->creds_error);
        return false;
    }
    return true;
}

static void aws_target(const struct run *run, enum respond_service svc,
                       struct respond_aws_target *t)
{
    t->svc = svc;
    t->endpoint_prop = run->def->endpoint;
    t->region = run->def->region;
    t->creds = &run->creds;
    t->timeout_s = run->def->timeout_s;
    t->env = run->r->env;
    t->now_s = respond_now(run->r) / 1000;
}

static json_t *key_resources(const struct respond_def *def, const char *key)
{
    char arn[400], id[64];
    if (strncmp(key, "arn:", 4) == 0) {
        snprintf(arn, sizeof(arn), "%s", key);
    } else {
        respond_key_id(key, id, sizeof(id));
        snprintf(arn, sizeof(arn), "arn:aws:kms:%s:%s:key/%s", def->region, def->account, id);
    }
    return json_pack("[{s:s, s:s, s:s}]", "accountId", def->account, "type", "AWS::KMS::Key", "ARN",
                     arn);
}

static json_t *role_resources(const struct respond_def *def, const char *role)
{
    char arn[200];
    snprintf(arn, sizeof(arn), "arn:aws:iam::%s:role/%s", def->account, role);
    return json_pack("[{s:s, s:s, s:s}]", "accountId", def->account, "type", "AWS::IAM::Role",
                     "ARN", arn);
}

/* The JSON spec a revert runs from (respond_revert.c reads it). */
static json_t *revert_spec(const struct run *run, const char *service, const char *op,
                           json_t *params, const char *verify)
{
    const struct respond_def *d = run->def;
    json_t *s = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:i, s:s, s:s}", "service", service, "op",
                          op, "params", params, "region", d->region, "account", d->account,
                          "verify", d->verify ? verify : "", "timeoutSeconds", (int)d->timeout_s,
                          "responseType", respond_kind_type(d->kind), "eventName", "");
    char ev[96];
    snprintf(ev, sizeof(ev), "RespondRevert%s", respond_kind_op(d->kind));
    json_object_set_new(s, "eventName", json_string(ev));
    if (d->endpoint)
        json_object_set_new(s, "endpoint", json_string(d->endpoint));
    if (d->profile)
        json_object_set_new(s, "profile", json_string(d->profile));
    return s;
}

/*
 * After a successful action or an "already in state" pre-check: schedule the
 * revert (when configured and the state is ours to undo), or cancel pending
 * reverts (the newest intent, "keep it", wins).
 */
static void revert_bookkeeping(struct run *run, const char *target, const char *revert_key,
                               bool ours, json_t *spec, struct outcome *o)
{
    struct respond *r = run->r;
    int64_t now = respond_now(r);
    pthread_mutex_lock(&r->mu);
    if (run->def->auto_revert_s && ours && spec) {
        struct respond_revert_spec rs = {run->def->name,
                                         run->def->arn,
                                         run->action,
                                         run->alarm_name,
                                         run->trigger_id,
                                         target,
                                         revert_key,
                                         spec,
                                         now + respond_scaled_ms(r, run->def->auto_revert_s)};
        if (respond_revert_schedule(r, &rs, now) == KS_OK) {
            o->revert_at = rs.due_ms;
        } else {
            /* The action stands; say loudly that nothing will undo it. */
            size_t l = strlen(o->detail);
            snprintf(o->detail + l, sizeof(o->detail) - l, "; revert NOT scheduled (database)");
        }
    } else {
        size_t n = 0;
        if (respond_revert_supersede(r, revert_key, now, &n) == KS_OK && n) {
            size_t l = strlen(o->detail);
            snprintf(o->detail + l, sizeof(o->detail) - l, "; %zu pending revert%s cancelled", n,
                     n == 1 ? "" : "s");
        }
    }
    pthread_mutex_unlock(&r->mu);
    json_decref(spec);
}

static bool pending_revert(struct run *run, const char *revert_key)
{
    bool found = false;
    pthread_mutex_lock(&run->r->mu);
    if (respond_revert_pending(run->r, revert_key, &found))
        found = false;
    pthread_mutex_unlock(&run->r->mu);
    return found;
}

/* ---- the kinds ---------------------------------------------------------- */

static void act_key(struct run *run, const char *key, struct outcome *o)
{
    const struct respond_def *d = run->def;
    bool deletion = d->kind == RESPOND_SCHEDULE_KEY_DELETION;
    const char *op = deletion ? "ScheduleKeyDeletion" : "DisableKey";
    const char *want = deletion ? "PendingDeletion" : "Disabled";
    char id[64], revert_key[96];
    respond_key_id(key, id, sizeof(id));
    snprintf(revert_key, sizeof(revert_key), "key:%s", id);
    json_t *params = json_pack("{s:s}", "KeyId", key);
    o->request_params = json_pack("{s:s}", "keyId", key);
    if (deletion) {
        json_object_set_new(params, "PendingWindowInDays", json_integer(d->pending_window_days));
        json_object_set_new(o->request_params, "pendingWindowInDays",
                            json_integer(d->pending_window_days));
    }
    o->resources = key_resources(d, key);
    if (run->dry) {
        o->state = "dry-run";
        snprintf(o->detail, sizeof(o->detail), "would call %s on %s", op, key);
        json_decref(params);
        return;
    }
    if (!need_creds(run, o)) {
        json_decref(params);
        return;
    }
    struct respond_aws_target t;
    struct respond_aws_reply rep;
    respond_aws_reply_init(&rep);
    char before[64], after[64];
    aws_target(run, RESPOND_SVC_KMS, &t);
    if (respond_kms_key_state(&t, key, before, sizeof(before), &rep)) {
        fail_from(o, "DescribeKey", &rep);
        goto out;
    }
    bool blocked_state = strcmp(before, "PendingDeletion") == 0 ||
                         (!deletion && strcmp(before, "PendingImport") == 0);
    if (strcmp(before, want) == 0 || blocked_state) {
        bool ours = !deletion && strcmp(before, want) == 0 && pending_revert(run, revert_key);
        o->state = "unchanged";
        snprintf(o->detail, sizeof(o->detail), "key is already %s%s", before,
                 ours ? " (by keysentry): revert rescheduled" : "; left as it is");
        o->response_elements =
            json_pack("{s:s, s:s, s:b}", "keyId", key, "keyState", before, "changed", 0);
        json_t *spec = NULL;
        if (ours)
            spec =
                revert_spec(run, "kms", "EnableKey", json_pack("{s:s}", "KeyId", key), "Enabled");
        if (!blocked_state)
            revert_bookkeeping(run, key, revert_key, ours, spec, o);
        else
            json_decref(spec);
        goto out;
    }
    aws_target(run, RESPOND_SVC_KMS, &t);
    respond_aws_reply_release(&rep);
    respond_aws_reply_init(&rep);
    respond_aws_call(&t, op, params, &rep);
    if (rep.status) {
        fail_from(o, op, &rep);
        goto out;
    }
    snprintf(o->request_id, sizeof(o->request_id), "%s", rep.request_id);
    json_t *answer = json_loadb(rep.body.data, rep.body.len, 0, NULL);
    o->response_elements =
        json_pack("{s:s, s:s, s:s}", "keyId", key, "keyState", want, "previousKeyState", before);
    if (deletion && answer) {
        json_t *dd = json_object_get(answer, "DeletionDate");
        if (json_is_number(dd)) {
            char when[21];
            respond_iso8601((int64_t)(json_number_value(dd) * 1000.0), when);
            json_object_set_new(o->response_elements, "deletionDate", json_string(when));
        }
        json_object_set_new(o->response_elements, "pendingWindowInDays",
                            json_integer(d->pending_window_days));
    }
    json_decref(answer);
    if (d->verify) {
        aws_target(run, RESPOND_SVC_KMS, &t);
        if (respond_kms_key_state(&t, key, after, sizeof(after), &rep)) {
            fail_from(o, "verification (DescribeKey)", &rep);
            goto out;
        }
        if (strcmp(after, want) != 0) {
            o->state = "failed";
            o->status = 1; /* may be eventual consistency: try again */
            snprintf(o->error_code, sizeof(o->error_code), "VerificationFailed");
            snprintf(o->error_message, sizeof(o->error_message),
                     "%s returned success but DescribeKey says KeyState %s", op, after);
            snprintf(o->detail, sizeof(o->detail), "%.200s", o->error_message);
            goto out;
        }
        o->verified = true;
    }
    json_object_set_new(o->response_elements, "verified", json_boolean(o->verified));
    o->state = "done";
    snprintf(o->detail, sizeof(o->detail), "%s %s%s",
             deletion ? "scheduled deletion of" : "disabled", key,
             o->verified ? " (verified)" : "");
    revert_bookkeeping(run, key, revert_key, true,
                       deletion ? NULL
                                : revert_spec(run, "kms", "EnableKey",
                                              json_pack("{s:s}", "KeyId", key), "Enabled"),
                       o);
out:
    json_decref(params);
    respond_aws_reply_release(&rep);
}

/* Inline role policy: RevokeRoleSessions and AttachDenyPolicy's inline form. */
static void act_role_inline(struct run *run, const char *role, const char *document,
                            struct outcome *o)
{
    const struct respond_def *d = run->def;
    char revert_key[300];
    snprintf(revert_key, sizeof(revert_key), "role-policy:%s:%s", role, d->policy_name);
    json_t *params = json_pack("{s:s, s:s, s:s}", "RoleName", role, "PolicyName", d->policy_name,
                               "PolicyDocument", document);
    o->request_params = json_pack("{s:s, s:s, s:s}", "roleName", role, "policyName", d->policy_name,
                                  "policyDocument", document);
    o->resources = role_resources(d, role);
    if (run->dry) {
        o->state = "dry-run";
        snprintf(o->detail, sizeof(o->detail), "would put inline policy %s on role %s",
                 d->policy_name, role);
        json_decref(params);
        return;
    }
    if (!need_creds(run, o)) {
        json_decref(params);
        return;
    }
    struct respond_aws_target t;
    struct respond_aws_reply rep;
    respond_aws_reply_init(&rep);
    struct ks_buf doc;
    ks_buf_init(&doc, RESPOND_MAX_HTTP_BODY);
    bool existed = false, exists = false;
    aws_target(run, RESPOND_SVC_IAM, &t);
    if (respond_iam_get_role_policy(&t, role, d->policy_name, &existed, NULL, &rep)) {
        fail_from(o, "GetRolePolicy", &rep);
        goto out;
    }
    bool ours = !existed || pending_revert(run, revert_key);
    aws_target(run, RESPOND_SVC_IAM, &t);
    respond_aws_reply_release(&rep);
    respond_aws_reply_init(&rep);
    respond_aws_call(&t, "PutRolePolicy", params, &rep);
    if (rep.status) {
        fail_from(o, "PutRolePolicy", &rep);
        goto out;
    }
    snprintf(o->request_id, sizeof(o->request_id), "%s", rep.request_id);
    if (d->verify) {
        aws_target(run, RESPOND_SVC_IAM, &t);
        if (respond_iam_get_role_policy(&t, role, d->policy_name, &exists, &doc, &rep)) {
            fail_from(o, "verification (GetRolePolicy)", &rep);
            goto out;
        }
        if (!exists || !respond_json_same(doc.data, document)) {
            o->state = "failed";
            o->status = 1;
            snprintf(o->error_code, sizeof(o->error_code), "VerificationFailed");
            snprintf(o->error_message, sizeof(o->error_message),
                     "GetRolePolicy does not return the policy just written");
            snprintf(o->detail, sizeof(o->detail), "%.290s", o->error_message);
            goto out;
        }
        o->verified = true;
    }
    o->state = "done";
    o->response_elements =
        json_pack("{s:s, s:s, s:b, s:b}", "roleName", role, "policyName", d->policy_name,
                  "replacedExisting", existed, "verified", o->verified);
    snprintf(o->detail, sizeof(o->detail), "put inline policy %s on role %s%s%s", d->policy_name,
             role, o->verified ? " (verified)" : "",
             ours ? "" : "; it existed before: no auto-revert");
    revert_bookkeeping(
        run, role, revert_key, ours,
        revert_spec(run, "iam", "DeleteRolePolicy",
                    json_pack("{s:s, s:s}", "RoleName", role, "PolicyName", d->policy_name),
                    "absent"),
        o);
out:
    json_decref(params);
    ks_buf_release(&doc);
    respond_aws_reply_release(&rep);
}

static void act_role_managed(struct run *run, const char *role, struct outcome *o)
{
    const struct respond_def *d = run->def;
    char revert_key[2400];
    snprintf(revert_key, sizeof(revert_key), "role-managed:%s:%s", role, d->policy_arn);
    json_t *params = json_pack("{s:s, s:s}", "RoleName", role, "PolicyArn", d->policy_arn);
    o->request_params = json_pack("{s:s, s:s}", "roleName", role, "policyArn", d->policy_arn);
    o->resources = role_resources(d, role);
    if (run->dry) {
        o->state = "dry-run";
        snprintf(o->detail, sizeof(o->detail), "would attach %.150s to role %s", d->policy_arn,
                 role);
        json_decref(params);
        return;
    }
    if (!need_creds(run, o)) {
        json_decref(params);
        return;
    }
    struct respond_aws_target t;
    struct respond_aws_reply rep;
    respond_aws_reply_init(&rep);
    bool before = false, after = false;
    aws_target(run, RESPOND_SVC_IAM, &t);
    if (respond_iam_attached(&t, role, d->policy_arn, &before, &rep)) {
        fail_from(o, "ListAttachedRolePolicies", &rep);
        goto out;
    }
    if (before) {
        bool ours = pending_revert(run, revert_key);
        o->state = "unchanged";
        snprintf(o->detail, sizeof(o->detail), "policy already attached to role %s%s", role,
                 ours ? " (by keysentry): revert rescheduled" : "; left as it is");
        o->response_elements = json_pack("{s:s, s:s, s:b}", "roleName", role, "policyArn",
                                         d->policy_arn, "changed", 0);
        revert_bookkeeping(
            run, role, revert_key, ours,
            ours ? revert_spec(run, "iam", "DetachRolePolicy", json_incref(params), "detached")
                 : NULL,
            o);
        goto out;
    }
    aws_target(run, RESPOND_SVC_IAM, &t);
    respond_aws_reply_release(&rep);
    respond_aws_reply_init(&rep);
    respond_aws_call(&t, "AttachRolePolicy", params, &rep);
    if (rep.status) {
        fail_from(o, "AttachRolePolicy", &rep);
        goto out;
    }
    snprintf(o->request_id, sizeof(o->request_id), "%s", rep.request_id);
    if (d->verify) {
        aws_target(run, RESPOND_SVC_IAM, &t);
        if (respond_iam_attached(&t, role, d->policy_arn, &after, &rep)) {
            fail_from(o, "verification (ListAttachedRolePolicies)", &rep);
            goto out;
        }
        if (!after) {
            o->state = "failed";
            o->status = 1;
            snprintf(o->error_code, sizeof(o->error_code), "VerificationFailed");
            snprintf(o->error_message, sizeof(o->error_message),
                     "ListAttachedRolePolicies does not list the policy just attached");
            snprintf(o->detail, sizeof(o->detail), "%.290s", o->error_message);
            goto out;
        }
        o->verified = true;
    }
    o->state = "done";
    o->response_elements = json_pack("{s:s, s:s, s:b}", "roleName", role, "policyArn",
                                     d->policy_arn, "verified", o->verified);
    snprintf(o->detail, sizeof(o->detail), "attached %.150s to role %s%s", d->policy_arn, role,
             o->verified ? " (verified)" : "");
    revert_bookkeeping(run, role, revert_key, true,
                       revert_spec(run, "iam", "DetachRolePolicy", json_incref(params), "detached"),
                       o);
out:
    json_decref(params);
    respond_aws_reply_release(&rep);
}

/* "a,b,c" of up to max bytes from a list. */
static void join(char *out, size_t size, const char *const *v, size_t n)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && v && o + 1 < size; i++) {
        if (!v[i])
            continue;
        int w = snprintf(out + o, size - o, "%s%s", o ? "," : "", v[i]);
        if (w < 0 || (size_t)w >= size - o) {
            out[o] = '\0';
            break;
        }
        o += (size_t)w;
    }
}

static void act_exec(struct run *run, struct outcome *o)
{
    const struct respond_def *d = run->def;
    o->request_params =
        json_pack("{s:s, s:i}", "command", d->argv[0], "argumentCount", (int)(d->argc - 1));
    if (run->dry) {
        o->state = "dry-run";
        snprintf(o->detail, sizeof(o->detail), "would run %.250s", d->argv[0]);
        return;
    }
    /* The environment: the template's, then what the program may want to
     * know about the trigger (never credentials). */
    char keys[2048], principals[2048], ips[1024], timeout[32];
    const struct respond_context *c = run->ctx;
    join(keys, sizeof(keys), c ? c->keys : NULL, c ? c->n_keys : 0);
    join(principals, sizeof(principals), c ? c->principals : NULL, c ? c->n_principals : 0);
    join(ips, sizeof(ips), c ? c->source_ips : NULL, c ? c->n_source_ips : 0);
    snprintf(timeout, sizeof(timeout), "%u", d->timeout_s);
    const char *extra[][2] = {
        {"KEYSENTRY_RESPONSE_NAME", d->name},
        {"KEYSENTRY_RESPONSE_ARN", d->arn},
        {"KEYSENTRY_ALARM_NAME", run->alarm_name},
        {"KEYSENTRY_TRIGGER_ID", run->trigger_id},
        {"KEYSENTRY_KEYS", keys},
        {"KEYSENTRY_PRINCIPALS", principals},
        {"KEYSENTRY_SOURCE_IPS", ips},
        {"KEYSENTRY_TIMEOUT_SECONDS", timeout},
    };
    size_t n_extra = KS_ARRAY_LEN(extra);
    char **envp = ks_xcalloc(d->n_env + n_extra + 2, sizeof(char *));
    size_t ne = 0;
    bool has_path = false;
    for (size_t i = 0; i < d->n_env; i++) {
        envp[ne++] = ks_xstrdup(d->envp[i]);
        has_path |= strncmp(d->envp[i], "PATH=", 5) == 0;
    }
    for (size_t i = 0; i < n_extra; i++) {
        size_t len = strlen(extra[i][0]) + strlen(extra[i][1]) + 2;
        envp[ne] = ks_xmalloc(len);
        snprintf(envp[ne++], len, "%s=%s", extra[i][0], extra[i][1]);
    }
    if (!has_path)
        envp[ne++] = ks_xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
    struct respond_exec_result er;
    respond_exec_result_init(&er);
    struct ks_diag diag;
    ks_diag_clear(&diag);
    const char *msg = run->message ? run->message : "";
    enum ks_err e =
        respond_exec_run(d->argv, envp, msg, strlen(msg), d->timeout_s * 1000u, &er, &diag);
    for (size_t i = 0; i < ne; i++)
        free(envp[i]);
    free(envp);
    /* A short, printable excerpt of the output for history and errors. */
    char excerpt[201];
    size_t xl = 0;
    for (size_t i = 0; i < er.output.len && xl < sizeof(excerpt) - 1; i++) {
        unsigned char ch = (unsigned char)er.output.data[i];
        excerpt[xl++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    while (xl && excerpt[xl - 1] == ' ')
        xl--;
    excerpt[xl] = '\0';
    if (e) {
        o->state = "failed";
        o->status = 1;
        snprintf(o->error_code, sizeof(o->error_code), "ExecFailed");
        snprintf(o->error_message, sizeof(o->error_message), "%s", diag.msg);
        snprintf(o->detail, sizeof(o->detail), "%.250s", diag.msg);
    } else if (er.timed_out) {
        o->state = "failed";
        o->status = 1;
        snprintf(o->error_code, sizeof(o->error_code), "ExecTimeout");
        snprintf(o->error_message, sizeof(o->error_message),
                 "%.200s did not finish within %u s and was killed", d->argv[0], d->timeout_s);
        snprintf(o->detail, sizeof(o->detail), "%.290s", o->error_message);
    } else if (er.exit_code != 0) {
        o->state = "failed";
        /* 75 is EX_TEMPFAIL (sysexits.h): the program asks for a retry. */
        o->status = er.exit_code == 75 || er.signal ? 1 : -1;
        snprintf(o->error_code, sizeof(o->error_code), "%s",
                 er.signal ? "ExecKilled" : "ExecNonZeroExit");
        if (er.signal)
            snprintf(o->error_message, sizeof(o->error_message), "%.200s ended by signal %d%s%s",
                     d->argv[0], er.signal, xl ? ": " : "", excerpt);
        else
            snprintf(o->error_message, sizeof(o->error_message), "%.200s exited with %d%s%s",
                     d->argv[0], er.exit_code, xl ? ": " : "", excerpt);
        snprintf(o->detail, sizeof(o->detail), "%.290s", o->error_message);
    } else {
        o->state = "done";
        snprintf(o->detail, sizeof(o->detail), "%.200s exited with 0", d->argv[0]);
    }
    if (!e)
        o->response_elements = json_pack("{s:i, s:b, s:i}", "exitCode", er.exit_code, "timedOut",
                                         er.timed_out, "outputBytes", (int)er.output.len);
    respond_exec_result_release(&er);
}

/* ---- the execution ---------------------------------------------------------- */

static void trail(struct run *run, const char *target, struct outcome *o)
{
    const struct respond_def *d = run->def;
    char name[96];
    snprintf(name, sizeof(name), "Respond%s", respond_kind_op(d->kind));
    json_t *extra = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s}", "responseName", d->name,
                              "responseArn", d->arn, "responseType", respond_kind_type(d->kind),
                              "alarmName", run->alarm_name, "triggerId", run->trigger_id, "target",
                              target, "dryRun", run->dry, "outcome", o->state);
    if (strcmp(o->state, "done") == 0 || strcmp(o->state, "unchanged") == 0)
        json_object_set_new(extra, "verified", json_boolean(o->verified));
    if (o->revert_at) {
        char when[21];
        respond_iso8601(o->revert_at, when);
        json_object_set_new(extra, "autoRevertAt", json_string(when));
    } else if (run->dry && d->auto_revert_s) {
        json_object_set_new(extra, "autoRevertAfterSeconds", json_integer(d->auto_revert_s));
    }
    const char *code = NULL, *message = NULL;
    if (strcmp(o->state, "failed") == 0 || strcmp(o->state, "blocked") == 0) {
        code = o->error_code[0] ? o->error_code : "Failed";
        message = o->error_message;
    }
    struct respond_trail_event ev = {
        .event_name = name,
        .time_ms = respond_now(run->r),
        .region = d->region,
        .account = d->account,
        .access_key_id = run->creds.access_key_id,
        .request_parameters = o->request_params,
        .response_elements = o->response_elements,
        .additional_event_data = extra,
        .resources = o->resources,
        .request_id = o->request_id[0] ? o->request_id : NULL,
        .error_code = code,
        .error_message = message,
    };
    struct ks_diag diag;
    ks_diag_clear(&diag);
    if (respond_trail_write(run->r->trail, &ev, &diag))
        respond_log(run->r, "error", "response=%s msg=\"trail: %s\"", d->name, diag.msg);
    json_decref(extra);
}

static void gate_target(struct run *run, const char *target, struct outcome *o, bool *go)
{
    struct respond *r = run->r;
    struct respond_gate_facts f;
    *go = false;
    pthread_mutex_lock(&r->mu);
    int64_t now = respond_now(r);
    enum ks_err e = respond_ledger_facts(r, run->def, run->trigger_id, target, run->dry, now, &f);
    enum respond_gate_verdict v =
        e ? RESPOND_GATE_GO : respond_gate(run->def, &f, now, r->time_scale);
    if (!e && v == RESPOND_GATE_GO)
        e = respond_ledger_reserve(r, run->def, run->trigger_id, target, run->dry, now);
    pthread_mutex_unlock(&r->mu);
    if (e) {
        o->state = "failed";
        o->status = 1;
        snprintf(o->error_code, sizeof(o->error_code), "LedgerUnavailable");
        snprintf(o->error_message, sizeof(o->error_message), "the response ledger cannot be read");
        snprintf(o->detail, sizeof(o->detail), "%s", o->error_message);
        return;
    }
    switch (v) {
    case RESPOND_GATE_GO:
        *go = true;
        return;
    case RESPOND_GATE_ALREADY_DONE:
        o->state = "already-done";
        snprintf(o->detail, sizeof(o->detail), "handled for this trigger before");
        return;
    case RESPOND_GATE_COOLDOWN:
        o->state = "blocked";
        snprintf(o->error_code, sizeof(o->error_code), "CooldownActive");
        snprintf(o->error_message, sizeof(o->error_message),
                 "the response acted less than CooldownSeconds (%u) ago", run->def->cooldown_s);
        break;
    case RESPOND_GATE_CAP:
        o->state = "blocked";
        snprintf(o->error_code, sizeof(o->error_code), "ActionCapReached");
        snprintf(o->error_message, sizeof(o->error_message),
                 "MaxActionsPerHour (%u) reached: %u actions in the last hour",
                 run->def->max_per_hour, f.actions_in_hour);
        break;
    }
    snprintf(o->detail, sizeof(o->detail), "blocked: %.280s", o->error_message);
}

static void finish_target(struct run *run, const char *target, struct outcome *o)
{
    const char *ledger = strcmp(o->state, "dry-run") == 0  ? "dry-run"
                         : strcmp(o->state, "failed") == 0 ? "failed"
                                                           : "ok";
    pthread_mutex_lock(&run->r->mu);
    if (respond_ledger_finish(run->r, run->def, run->trigger_id, target, run->dry, ledger))
        respond_log(run->r, "error", "response=%s msg=\"cannot record the outcome\"",
                    run->def->name);
    pthread_mutex_unlock(&run->r->mu);
}

static void read_message(struct run *run)
{
    json_t *j = run->message ? json_loads(run->message, 0, NULL) : NULL;
    const char *name = j ? json_string_value(json_object_get(j, "AlarmName")) : NULL;
    const char *when = j ? json_string_value(json_object_get(j, "StateChangeTime")) : NULL;
    if (run->ctx && run->ctx->alarm_name)
        name = run->ctx->alarm_name;
    snprintf(run->alarm_name, sizeof(run->alarm_name), "%s", name ? name : "");
    run->state_update_ms = run->ctx ? run->ctx->state_update_ms : 0;
    int64_t ms;
    if (!run->state_update_ms && respond_parse_time(when, &ms))
        run->state_update_ms = ms;
    json_decref(j);
    if (run->ctx && run->ctx->trigger_id && *run->ctx->trigger_id) {
        snprintf(run->trigger_id, sizeof(run->trigger_id), "%s", run->ctx->trigger_id);
        return;
    }
    /* The same delivery retried carries the same message: hash it. */
    size_t al = strlen(run->def->arn), ml = run->message ? strlen(run->message) : 0;
    char *buf = ks_xmalloc(al + 1 + ml + 1);
    memcpy(buf, run->def->arn, al);
    buf[al] = '\n';
    if (ml)
        memcpy(buf + al + 1, run->message, ml);
    char hex[65];
    sigv4_sha256_hex(buf, al + 1 + ml, hex);
    free(buf);
    snprintf(run->trigger_id, sizeof(run->trigger_id), "sha256:%.32s", hex);
}

static void report(struct run *run, const char *action, struct respond_result *res)
{
    const struct respond_def *d = run->def;
    if (!run->r->on_record)
        return;
    struct respond_record rec = {
        .response_name = d->name,
        .response_arn = d->arn,
        .action_arn = action,
        .alarm_name = run->alarm_name,
        .time_ms = respond_now(run->r),
        .state_update_ms = run->state_update_ms,
        .revert = false,
        .dry_run = run->dry,
        .summary = res->summary.data,
        .details = res->details.data,
        .error = res->status ? res->error.data : NULL,
    };
    run->r->on_record(run->r->record_ctx, &rec);
}

static void summarise(struct run *run, const struct respond_targets *tg, struct outcome *outs,
                      json_t *list, struct respond_result *res)
{
    const struct respond_def *d = run->def;
    size_t unchanged = 0, done = 0;
    const struct outcome *first_fail = NULL;
    const char *first_fail_target = NULL;
    bool retry = false, permanent = false;
    for (size_t i = 0; i < tg->n; i++) {
        const struct outcome *o = &outs[i];
        if (strcmp(o->state, "done") == 0)
            done++;
        else if (strcmp(o->state, "unchanged") == 0 || strcmp(o->state, "already-done") == 0)
            unchanged++;
        else if (strcmp(o->state, "dry-run") == 0)
            res->n_dry_run++;
        else if (strcmp(o->state, "skipped") == 0)
            res->n_skipped++;
        else if (strcmp(o->state, "blocked") == 0)
            res->n_blocked++;
        else if (strcmp(o->state, "failed") == 0) {
            res->n_failed++;
            retry |= o->status > 0;
            permanent |= o->status < 0;
            if (!first_fail) {
                first_fail = o;
                first_fail_target = tg->v[i].id;
            }
        }
    }
    res->n_done = done + unchanged;
    size_t acted = res->n_done + res->n_dry_run + res->n_blocked + res->n_failed;
    res->status = retry ? 1 : permanent ? -1 : 0;
    outf(&res->summary, "%s%s: ", run->dry ? "DRY RUN " : "", respond_kind_op(d->kind));
    if (acted == 0) {
        res->status = -1;
        const char *why = d->kind == RESPOND_DISABLE_KEY || d->kind == RESPOND_SCHEDULE_KEY_DELETION
                              ? "no key ID or key ARN in the triggering events"
                              : "no IAM role in the triggering events";
        outf(&res->summary, "nothing to act on (%s)", why);
        outf(&res->error, "%s", why);
    } else if (acted == 1 && tg->n == 1) {
        outf(&res->summary, "%.200s", outs[0].detail);
    } else {
        outf(&res->summary,
             "%zu done, %zu unchanged, %zu dry-run, %zu blocked, %zu skipped, %zu "
             "failed",
             done, unchanged, res->n_dry_run, res->n_blocked, res->n_skipped, res->n_failed);
    }
    if (first_fail)
        outf(&res->error, "%.200s: %.300s", first_fail_target, first_fail->detail);
    if (res->summary.len > 255) {
        /* HistorySummary limit */
        res->summary.len = 255;
        res->summary.data[255] = '\0';
    }
    json_t *det =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:o}", "response", d->name, "arn", d->arn, "type",
                  respond_kind_type(d->kind), "alarmName", run->alarm_name, "triggerId",
                  run->trigger_id, "dryRun", run->dry, "targets", json_incref(list));
    char *text = json_dumps(det, JSON_COMPACT);
    json_decref(det);
    if (text && ks_buf_add(&res->details, text, strlen(text))) {
        /* over 1 MiB of details: left empty rather than cut */
        ks_buf_reset(&res->details);
    }
    free(text);
}

int respond_execute(struct respond *r, const char *action, const char *message_json,
                    const struct respond_context *ctx, struct respond_result *out)
{
    const struct respond_def *def = respond_find(r, action);
    if (!def) {
        out->status = -1;
        outf(&out->summary, "no response '%.200s'", action ? action : "");
        outf(&out->error, "no response named '%.200s' in the template", action ? action : "");
        respond_log(r, "error", "action=\"%.200s\" msg=\"no such response\"", action ? action : "");
        return out->status;
    }
    struct run run;
    memset(&run, 0, sizeof(run));
    run.r = r;
    run.def = def;
    run.action = action;
    run.message = message_json;
    run.ctx = ctx;
    run.dry = r->dry_run || def->dry_run;
    run.now_ms = respond_now(r);
    read_message(&run);

    struct respond_targets tg;
    respond_targets_init(&tg);
    respond_select_targets(def, ctx, &tg);
    struct outcome *outs = ks_xcalloc(tg.n ? tg.n : 1, sizeof(*outs));
    json_t *list = json_array();
    for (size_t i = 0; i < tg.n; i++) {
        struct outcome *o = &outs[i];
        const char *target = tg.v[i].id;
        if (tg.v[i].skip) {
            o->state = "skipped";
            snprintf(o->detail, sizeof(o->detail), "%.290s", tg.v[i].skip);
        } else {
            bool go;
            gate_target(&run, target, o, &go);
            if (go) {
                switch (def->kind) {
                case RESPOND_DISABLE_KEY:
                case RESPOND_SCHEDULE_KEY_DELETION:
                    act_key(&run, target, o);
                    break;
                case RESPOND_REVOKE_ROLE_SESSIONS: {
                    struct ks_buf doc;
                    ks_buf_init(&doc, RESPOND_MAX_POLICY_BYTES);
                    if (respond_revoke_policy(respond_now(r) / 1000, &doc) == KS_OK)
                        act_role_inline(&run, target, doc.data, o);
                    ks_buf_release(&doc);
                    break;
                }
                case RESPOND_ATTACH_DENY_POLICY:
                    if (def->policy_arn)
                        act_role_managed(&run, target, o);
                    else
                        act_role_inline(&run, target, def->policy_document, o);
                    break;
                case RESPOND_EXEC:
                    act_exec(&run, o);
                    break;
                }
                if (!o->state) {
                    o->state = "failed";
                    o->status = -1;
                    snprintf(o->detail, sizeof(o->detail), "internal error");
                }
                finish_target(&run, target, o);
            }
            if (strcmp(o->state, "already-done") != 0)
                trail(&run, target, o);
        }
        json_t *item = json_pack("{s:s, s:s, s:s}", "target", target, "outcome", o->state, "detail",
                                 o->detail);
        if (o->error_code[0])
            json_object_set_new(item, "errorCode", json_string(o->error_code));
        if (o->revert_at) {
            char when[21];
            respond_iso8601(o->revert_at, when);
            json_object_set_new(item, "revertAt", json_string(when));
        }
        json_array_append_new(list, item);
        respond_log(r, strcmp(o->state, "failed") == 0 ? "warn" : "info",
                    "response=%s target=\"%.200s\" trigger=%s outcome=%s msg=\"%.300s\"", def->name,
                    target, run.trigger_id, o->state, o->detail);
    }
    summarise(&run, &tg, outs, list, out);
    report(&run, action, out);
    for (size_t i = 0; i < tg.n; i++)
        outcome_release(&outs[i]);
    free(outs);
    json_decref(list);
    respond_targets_release(&tg);
    respond_creds_release(&run.creds);
    return out->status;
}
