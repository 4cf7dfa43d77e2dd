/* SPDX-License-Identifier: Apache-2.0 */
/*
 * respond: the ledger in SQLite (store migration 6).
 *
 * respond_actions has one row per (response, trigger, target, dry run): it is
 * reserved ("pending") under the engine lock before the call, so concurrent
 * deliveries cannot both pass the hourly cap, and finished ("ok", "failed",
 * "dry-run") after it. Cooldown and cap count "ok", "pending" and "dry-run"
 * rows of the same mode (dry runs never use up the live budget and the other
 * way round); failed attempts do not count, so a retry can proceed.
 *
 * respond_reverts holds scheduled reverts with everything needed to run them
 * (service, operation, parameters, region, endpoint, profile) in a JSON
 * column, so a revert still runs after a restart, even if the template has
 * changed since. A new action on the same thing (revert_key) supersedes a
 * pending revert: the newest incident decides when the key comes back.
 *
 * The gate itself (respond_gate) is pure, for the unit tests.
 */
#include "respond/respond_int.h"

enum respond_gate_verdict respond_gate(const struct respond_def *def,
                                       const struct respond_gate_facts *f, int64_t now_ms,
                                       double time_scale)
{
    if (f->done_for_trigger)
        return RESPOND_GATE_ALREADY_DONE;
    if (time_scale <= 0)
        time_scale = 1;
    if (def->cooldown_s && f->last_other_ms != INT64_MIN) {
        int64_t cd = (int64_t)((double)def->cooldown_s * 1000.0 / time_scale);
        if (cd < 1)
            cd = 1;
        if (now_ms - f->last_other_ms < cd)
            return RESPOND_GATE_COOLDOWN;
    }
    if (f->actions_in_hour >= def->max_per_hour)
        return RESPOND_GATE_CAP;
    return RESPOND_GATE_GO;
}

const char *respond_gate_name(enum respond_gate_verdict v)
{
    switch (v) {
    case RESPOND_GATE_GO:
        return "go";
    case RESPOND_GATE_ALREADY_DONE:
        return "already-done";
    case RESPOND_GATE_COOLDOWN:
        return "cooldown";
    case RESPOND_GATE_CAP:
        return "cap";
    }
    return "?";
}

static enum ks_err prep(struct respond *r, const char *sql, sqlite3_stmt **q)
{
    if (sqlite3_prepare_v2(store_db(r->store), sql, -1, q, NULL) != SQLITE_OK) {
        respond_log(r, "error", "msg=\"database: %s\"", sqlite3_errmsg(store_db(r->store)));
        return KS_E_IO;
    }
    return KS_OK;
}

static void bind_text(sqlite3_stmt *q, int i, const char *s)
{
    sqlite3_bind_text(q, i, s ? s : "", -1, SQLITE_TRANSIENT);
}

static enum ks_err step_done(struct respond *r, sqlite3_stmt *q)
{
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        respond_log(r, "error", "msg=\"database: %s\"", sqlite3_errmsg(store_db(r->store)));
        return KS_E_IO;
    }
    return KS_OK;
}

enum ks_err respond_ledger_facts(struct respond *r, const struct respond_def *def,
                                 const char *trigger_id, const char *target, bool dry,
                                 int64_t now_ms, struct respond_gate_facts *f)
{
    f->done_for_trigger = false;
    f->last_other_ms = INT64_MIN;
    f->actions_in_hour = 0;
    sqlite3_stmt *q;
    enum ks_err e;
    if ((e = prep(r,
                  "SELECT outcome FROM respond_actions WHERE response=?1 AND trigger_id=?2 AND "
                  "target=?3 AND dry_run=?4",
                  &q)))
        return e;
    bind_text(q, 1, def->name);
    bind_text(q, 2, trigger_id);
    bind_text(q, 3, target);
    sqlite3_bind_int(q, 4, dry);
    if (sqlite3_step(q) == SQLITE_ROW) {
        const char *o = (const char *)sqlite3_column_text(q, 0);
        f->done_for_trigger = o && (strcmp(o, "ok") == 0 || strcmp(o, "dry-run") == 0);
    }
    sqlite3_finalize(q);
    if ((e = prep(r,
                  "SELECT max(time_ms) FROM respond_actions WHERE response=?1 AND dry_run=?2 AND "
                  "trigger_id<>?3 AND outcome IN ('ok','pending','dry-run')",
                  &q)))
        return e;
    bind_text(q, 1, def->name);
    sqlite3_bind_int(q, 2, dry);
    bind_text(q, 3, trigger_id);
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
        f->last_other_ms = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    if ((e = prep(r,
                  "SELECT count(*) FROM respond_actions WHERE response=?1 AND dry_run=?2 AND "
                  "time_ms>?3 AND outcome IN ('ok','pending','dry-run') AND NOT (trigger_id=?4 "
                  "AND target=?5)",
                  &q)))
        return e;
    bind_text(q, 1, def->name);
    sqlite3_bind_int(q, 2, dry);
    sqlite3_bind_int64(q, 3, now_ms - (int64_t)((double)RESPOND_HOUR_MS / r->time_scale));
    bind_text(q, 4, trigger_id);
    bind_text(q, 5, target);
    if (sqlite3_step(q) == SQLITE_ROW)
        f->actions_in_hour = (uint32_t)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return KS_OK;
}

enum ks_err respond_ledger_reserve(struct respond *r, const struct respond_def *def,
                                   const char *trigger_id, const char *target, bool dry,
                                   int64_t now_ms)
{
    sqlite3_stmt *q;
    enum ks_err e = prep(r,
                         "INSERT INTO respond_actions VALUES (?1, ?2, ?3, ?4, ?5, 'pending') ON "
                         "CONFLICT (response, trigger_id, target, dry_run) DO UPDATE SET "
                         "time_ms=excluded.time_ms, outcome='pending'",
                         &q);
    if (e)
        return e;
    bind_text(q, 1, def->name);
    bind_text(q, 2, trigger_id);
    bind_text(q, 3, target);
    sqlite3_bind_int(q, 4, dry);
    sqlite3_bind_int64(q, 5, now_ms);
    return step_done(r, q);
}

enum ks_err respond_ledger_finish(struct respond *r, const struct respond_def *def,
                                  const char *trigger_id, const char *target, bool dry,
                                  const char *outcome)
{
    sqlite3_stmt *q;
    enum ks_err e = prep(r,
                         "UPDATE respond_actions SET outcome=?5 WHERE response=?1 AND "
                         "trigger_id=?2 AND target=?3 AND dry_run=?4",
                         &q);
    if (e)
        return e;
    bind_text(q, 1, def->name);
    bind_text(q, 2, trigger_id);
    bind_text(q, 3, target);
    sqlite3_bind_int(q, 4, dry);
    bind_text(q, 5, outcome);
    return step_done(r, q);
}

enum ks_err respond_revert_supersede(struct respond *r, const char *revert_key, int64_t now_ms,
                                     size_t *n)
{
    sqlite3_stmt *q;
    enum ks_err e = prep(r,
                         "UPDATE respond_reverts SET state='superseded', done_ms=?2 WHERE "
                         "revert_key=?1 AND state='pending'",
                         &q);
    if (e)
        return e;
    bind_text(q, 1, revert_key);
    sqlite3_bind_int64(q, 2, now_ms);
    e = step_done(r, q);
    if (n)
        *n = e ? 0 : (size_t)sqlite3_changes(store_db(r->store));
    return e;
}

enum ks_err respond_revert_pending(struct respond *r, const char *revert_key, bool *found)
{
    sqlite3_stmt *q;
    *found = false;
    enum ks_err e = prep(r,
                         "SELECT 1 FROM respond_reverts WHERE revert_key=?1 AND state='pending' "
                         "LIMIT 1",
                         &q);
    if (e)
        return e;
    bind_text(q, 1, revert_key);
    *found = sqlite3_step(q) == SQLITE_ROW;
    sqlite3_finalize(q);
    return KS_OK;
}

enum ks_err respond_revert_schedule(struct respond *r, const struct respond_revert_spec *s,
                                    int64_t now_ms)
{
    struct ks_diag diag;
    ks_diag_clear(&diag);
    if (store_begin(r->store, &diag)) {
        respond_log(r, "error", "msg=\"%s\"", diag.msg);
        return KS_E_IO;
    }
    enum ks_err e = respond_revert_supersede(r, s->revert_key, now_ms, NULL);
    sqlite3_stmt *q = NULL;
    char *spec = json_dumps(s->spec, JSON_COMPACT);
    if (!e && spec &&
        !(e = prep(r,
                   "INSERT INTO respond_reverts (response, response_arn, action_arn, alarm_name, "
                   "trigger_id, target, revert_key, spec, created_ms, due_ms, state) VALUES "
                   "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending')",
                   &q))) {
        bind_text(q, 1, s->response);
        bind_text(q, 2, s->response_arn);
        bind_text(q, 3, s->action_arn);
        bind_text(q, 4, s->alarm_name);
        bind_text(q, 5, s->trigger_id);
        bind_text(q, 6, s->target);
        bind_text(q, 7, s->revert_key);
        bind_text(q, 8, spec);
        sqlite3_bind_int64(q, 9, now_ms);
        sqlite3_bind_int64(q, 10, s->due_ms);
        e = step_done(r, q);
    } else if (!spec) {
        e = KS_E_INVALID;
    }
    free(spec);
    if (e) {
        store_rollback(r->store);
        return e;
    }
    if (store_commit(r->store, &diag)) {
        respond_log(r, "error", "msg=\"%s\"", diag.msg);
        store_rollback(r->store);
        return KS_E_IO;
    }
    return KS_OK;
}
