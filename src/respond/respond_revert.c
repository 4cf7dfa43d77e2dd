/* SPDX-License-Identifier: Apache-2.0 */
/*
 * respond: running scheduled reverts.
 *
 * respond_tick claims the due rows (state 'running', under the lock, so two
 * tickers never run one revert twice), runs them without the lock, and
 * settles each: 'done'; back to 'pending' with an exponential delay (5 s,
 * 10 s, ... at most 15 min, scaled) on a retryable failure; 'failed' on a
 * permanent one or after RESPOND_MAX_REVERT_ATTEMPTS. A row left 'running'
 * by a crash is made 'pending' again at the next start: the operations
 * (EnableKey, DeleteRolePolicy, DetachRolePolicy) are idempotent, and
 * "already gone" answers count as success.
 */
#include "respond/respond_int.h"

struct claimed {
    int64_t id;
    char *response, *response_arn, *action_arn, *alarm_name, *trigger_id, *target;
    json_t *spec;
    int attempts;
};

static char *col(sqlite3_stmt *q, int i)
{
    const unsigned char *s = sqlite3_column_text(q, i);
    return ks_xstrdup(s ? (const char *)s : "");
}

static size_t claim(struct respond *r, int64_t now, struct claimed *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&r->mu);
    sqlite3 *db = store_db(r->store);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, response, response_arn, action_arn, alarm_name, trigger_id, "
                           "target, spec, attempts FROM respond_reverts WHERE state='pending' AND "
                           "due_ms<=?1 ORDER BY due_ms, id LIMIT ?2",
                           -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, now);
        sqlite3_bind_int64(q, 2, (sqlite3_int64)max);
        while (n < max && sqlite3_step(q) == SQLITE_ROW) {
            struct claimed *c = &out[n];
            c->id = sqlite3_column_int64(q, 0);
            c->response = col(q, 1);
            c->response_arn = col(q, 2);
            c->action_arn = col(q, 3);
            c->alarm_name = col(q, 4);
            c->trigger_id = col(q, 5);
            c->target = col(q, 6);
            const unsigned char *spec = sqlite3_column_text(q, 7);
            c->spec = spec ? json_loads((const char *)spec, 0, NULL) : NULL;
            c->attempts = sqlite3_column_int(q, 8);
            n++;
        }
        sqlite3_finalize(q);
    }
    for (size_t i = 0; i < n; i++) {
        char sql[96];
        snprintf(sql, sizeof(sql), "UPDATE respond_reverts SET state='running' WHERE id=%lld",
                 (long long)out[i].id);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
            respond_log(r, "error", "msg=\"database: %s\"", sqlite3_errmsg(db));
    }
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void settle(struct respond *r, const struct claimed *c, const char *state, int64_t due,
                   const char *error)
{
    pthread_mutex_lock(&r->mu);
    sqlite3 *db = store_db(r->store);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db,
                           "UPDATE respond_reverts SET state=?2, due_ms=?3, attempts=attempts+1, "
                           "last_error=?4, done_ms=CASE WHEN ?2 IN ('done','failed') THEN ?5 ELSE "
                           "NULL END WHERE id=?1",
                           -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, c->id);
        sqlite3_bind_text(q, 2, state, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 3, due);
        if (error)
            sqlite3_bind_text(q, 4, error, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(q, 4);
        sqlite3_bind_int64(q, 5, respond_now(r));
        if (sqlite3_step(q) != SQLITE_DONE)
            respond_log(r, "error", "msg=\"database: %s\"", sqlite3_errmsg(db));
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&r->mu);
}

static const char *sget(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s && *s ? s : NULL;
}

static bool absent_code(const char *code)
{
    return strcmp(code, "NoSuchEntity") == 0;
}

/* Runs one revert; fills the trail event parts. Returns 0 / > 0 / < 0. */
static int run_one(struct respond *r, const struct claimed *c, struct respond_creds *creds,
                   json_t **resp, char *request_id, size_t rid_size, char *code, size_t code_size,
                   char *msg, size_t msg_size, bool *verified)
{
    json_t *spec = c->spec;
    const char *service = sget(spec, "service"), *op = sget(spec, "op");
    json_t *params = json_object_get(spec, "params");
    const char *verify = sget(spec, "verify");
    if (!service || !op || !json_is_object(params)) {
        snprintf(code, code_size, "InvalidRevert");
        snprintf(msg, msg_size, "the stored revert is damaged");
        return -1;
    }
    struct ks_diag diag;
    ks_diag_clear(&diag);
    if (respond_creds_resolve(sget(spec, "profile"), r->env, creds, &diag)) {
        snprintf(code, code_size, "CredentialsNotFound");
        snprintf(msg, msg_size, "%s", diag.msg);
        return -1;
    }
    struct respond_aws_target t = {
        .svc = strcmp(service, "iam") == 0 ? RESPOND_SVC_IAM : RESPOND_SVC_KMS,
        .endpoint_prop = sget(spec, "endpoint"),
        .region = sget(spec, "region") ? sget(spec, "region") : "us-east-1",
        .creds = creds,
        .timeout_s = (uint32_t)json_integer_value(json_object_get(spec, "timeoutSeconds")),
        .env = r->env,
        .now_s = respond_now(r) / 1000,
    };
    if (t.timeout_s == 0 || t.timeout_s > RESPOND_MAX_TIMEOUT_S)
        t.timeout_s = 10;
    struct respond_aws_reply rep;
    respond_aws_reply_init(&rep);
    respond_aws_call(&t, op, params, &rep);
    int status = rep.status;
    bool gone = status < 0 && absent_code(rep.error_code) && t.svc == RESPOND_SVC_IAM;
    if (gone)
        status = 0; /* already removed: the revert's goal holds */
    snprintf(request_id, rid_size, "%s", rep.request_id);
    if (status) {
        snprintf(code, code_size, "%s", rep.error_code);
        snprintf(msg, msg_size, "%s: %s", op, rep.error_message);
        respond_aws_reply_release(&rep);
        return status;
    }
    *resp = json_pack("{s:s, s:b}", "operation", op, "alreadyReverted", gone);
    *verified = false;
    if (verify) {
        t.now_s = respond_now(r) / 1000;
        const char *role = sget(params, "RoleName");
        int vs = 0;
        bool ok = false;
        if (strcmp(verify, "Enabled") == 0) {
            char state[64];
            vs = respond_kms_key_state(&t, sget(params, "KeyId") ? sget(params, "KeyId") : "",
                                       state, sizeof(state), &rep);
            ok = vs == 0 && strcmp(state, "Enabled") == 0;
            if (vs == 0)
                json_object_set_new(*resp, "keyState", json_string(state));
        } else if (strcmp(verify, "absent") == 0 && role) {
            bool exists = true;
            vs = respond_iam_get_role_policy(&t, role, sget(params, "PolicyName"), &exists, NULL,
                                             &rep);
            ok = vs == 0 && !exists;
        } else if (strcmp(verify, "detached") == 0 && role) {
            bool attached = true;
            vs = respond_iam_attached(&t, role, sget(params, "PolicyArn"), &attached, &rep);
            ok = vs == 0 && !attached;
        }
        if (!ok) {
            snprintf(code, code_size, "%s", vs ? rep.error_code : "VerificationFailed");
            snprintf(msg, msg_size, "verification after %s: %s", op,
                     vs ? rep.error_message : "the state did not change");
            respond_aws_reply_release(&rep);
            return vs ? vs : 1;
        }
        *verified = true;
        json_object_set_new(*resp, "verified", json_true());
    }
    respond_aws_reply_release(&rep);
    return 0;
}

static json_t *revert_resources(const json_t *spec, const char *target)
{
    const char *account = sget(spec, "account") ? sget(spec, "account") : "";
    const char *region = sget(spec, "region") ? sget(spec, "region") : "";
    char arn[400];
    if (strcmp(sget(spec, "service") ? sget(spec, "service") : "", "kms") == 0) {
        char id[64];
        respond_key_id(target, id, sizeof(id));
        if (strncmp(target, "arn:", 4) == 0)
            snprintf(arn, sizeof(arn), "%s", target);
        else
            snprintf(arn, sizeof(arn), "arn:aws:kms:%s:%s:key/%s", region, account, id);
        return json_pack("[{s:s, s:s, s:s}]", "accountId", account, "type", "AWS::KMS::Key", "ARN",
                         arn);
    }
    snprintf(arn, sizeof(arn), "arn:aws:iam::%s:role/%s", account, target);
    return json_pack("[{s:s, s:s, s:s}]", "accountId", account, "type", "AWS::IAM::Role", "ARN",
                     arn);
}

static void lower_first(const char *in, char *out, size_t size)
{
    snprintf(out, size, "%s", in);
    if (out[0] >= 'A' && out[0] <= 'Z')
        out[0] = (char)(out[0] - 'A' + 'a');
}

size_t respond_tick(struct respond *r)
{
    int64_t now = respond_now(r);
    struct claimed batch[16];
    size_t n = claim(r, now, batch, KS_ARRAY_LEN(batch));
    for (size_t i = 0; i < n; i++) {
        struct claimed *c = &batch[i];
        struct respond_creds creds;
        memset(&creds, 0, sizeof(creds));
        json_t *resp = NULL;
        char request_id[128] = "", code[128] = "", msg[600] = "";
        bool verified = false;
        int status = c->spec ? run_one(r, c, &creds, &resp, request_id, sizeof(request_id), code,
                                       sizeof(code), msg, sizeof(msg), &verified)
                             : -1;
        if (!c->spec) {
            snprintf(code, sizeof(code), "InvalidRevert");
            snprintf(msg, sizeof(msg), "the stored revert is not JSON");
        }
        const char *op = c->spec && sget(c->spec, "op") ? sget(c->spec, "op") : "?";
        const char *state;
        int64_t due = now;
        if (status == 0) {
            state = "done";
        } else if (status > 0 && c->attempts + 1 < RESPOND_MAX_REVERT_ATTEMPTS) {
            state = "pending";
            uint32_t s = 5u << (c->attempts < 8 ? c->attempts : 8);
            due = respond_now(r) + respond_scaled_ms(r, s > 900 ? 900 : s);
        } else {
            state = "failed";
        }
        settle(r, c, state, due, status ? msg : NULL);

        /* trail and history */
        json_t *req = json_object();
        json_t *params = c->spec ? json_object_get(c->spec, "params") : NULL;
        const char *k;
        json_t *v;
        if (params)
            json_object_foreach(params, k, v)
            {
                char lk[64];
                lower_first(k, lk, sizeof(lk));
                json_object_set(req, lk, v);
            }
        json_t *extra = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s}", "responseName",
                                  c->response, "responseArn", c->response_arn, "alarmName",
                                  c->alarm_name, "triggerId", c->trigger_id, "target", c->target,
                                  "operation", op, "attempt", c->attempts + 1, "outcome", state);
        json_t *res = c->spec ? revert_resources(c->spec, c->target) : NULL;
        char name[96];
        snprintf(name, sizeof(name), "%s",
                 c->spec && sget(c->spec, "eventName") ? sget(c->spec, "eventName")
                                                       : "RespondRevert");
        struct respond_trail_event ev = {
            .event_name = name,
            .time_ms = respond_now(r),
            .region = c->spec ? sget(c->spec, "region") : NULL,
            .account = c->spec ? sget(c->spec, "account") : NULL,
            .access_key_id = creds.access_key_id,
            .request_parameters = req,
            .response_elements = resp,
            .additional_event_data = extra,
            .resources = res,
            .request_id = request_id[0] ? request_id : NULL,
            .error_code = status ? code : NULL,
            .error_message = status ? msg : NULL,
        };
        struct ks_diag diag;
        ks_diag_clear(&diag);
        if (respond_trail_write(r->trail, &ev, &diag))
            respond_log(r, "error", "response=%s msg=\"trail: %s\"", c->response, diag.msg);
        respond_log(r, status ? "warn" : "info",
                    "response=%s target=\"%.200s\" revert=%s outcome=%s msg=\"%.300s\"",
                    c->response, c->target, op, state,
                    status ? msg : (verified ? "reverted (verified)" : "reverted"));
        if (r->on_record) {
            char summary[256], details[1024];
            if (status == 0)
                snprintf(summary, sizeof(summary), "revert %s of %.150s done%s", op, c->target,
                         verified ? " (verified)" : "");
            else
                snprintf(summary, sizeof(summary), "revert %s of %.150s %s: %.60s", op, c->target,
                         strcmp(state, "pending") == 0 ? "will be retried" : "failed", code);
            json_t *det = json_pack("{s:s, s:s, s:s, s:s, s:i, s:b}", "response", c->response,
                                    "target", c->target, "operation", op, "outcome", state,
                                    "attempt", c->attempts + 1, "verified", verified);
            char *text = json_dumps(det, JSON_COMPACT);
            snprintf(details, sizeof(details), "%s", text ? text : "{}");
            free(text);
            json_decref(det);
            struct respond_record rec = {
                .response_name = c->response,
                .response_arn = c->response_arn,
                .action_arn = c->action_arn,
                .alarm_name = c->alarm_name,
                .time_ms = respond_now(r),
                .state_update_ms = 0,
                .revert = true,
                .dry_run = false,
                .summary = summary,
                .details = details,
                .error = status ? msg : NULL,
            };
            r->on_record(r->record_ctx, &rec);
        }
        json_decref(req);
        json_decref(extra);
        json_decref(res);
        json_decref(resp);
        respond_creds_release(&creds);
        free(c->response);
        free(c->response_arn);
        free(c->action_arn);
        free(c->alarm_name);
        free(c->trigger_id);
        free(c->target);
        json_decref(c->spec);
    }
    return n;
}
