/* SPDX-License-Identifier: Apache-2.0 */
#include "store/store.h"

struct store {
    sqlite3 *db;
    char *path;
};

/* Append-only: never edit a shipped migration, add a new one. */
static const char *const migrations[] = {
    /* 1: source checkpoints and metric buckets */
    ("CREATE TABLE checkpoints (source TEXT PRIMARY KEY, file TEXT NOT NULL, offset INTEGER "
     "NOT NULL, events INTEGER NOT NULL, watermark_ms INTEGER NOT NULL);"
     "CREATE TABLE metric_series (id INTEGER PRIMARY KEY, namespace TEXT NOT NULL, name TEXT NOT "
     "NULL, unit TEXT NOT NULL, dimensions TEXT NOT NULL, UNIQUE (namespace, name, unit, "
     "dimensions));"
     "CREATE TABLE metric_buckets (series INTEGER NOT NULL REFERENCES metric_series(id), sec "
     "INTEGER NOT NULL, count REAL NOT NULL, sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT "
     "NULL, zeros INTEGER NOT NULL, negative INTEGER NOT NULL, sketch BLOB, PRIMARY KEY (series, "
     "sec)) WITHOUT ROWID;"),
    /* 2: alarm state and run facts, so a resumed run continues where it stopped */
    ("CREATE TABLE alarm_state (name TEXT PRIMARY KEY, state TEXT NOT NULL, last_eval_ms INTEGER "
     "NOT NULL, transitions INTEGER NOT NULL);"
     "CREATE TABLE run_facts (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"),
    /* 3: metric filter counters, so a resumed run reports whole-run totals */
    ("CREATE TABLE filter_stats (name TEXT PRIMARY KEY, matched INTEGER NOT NULL, samples INTEGER "
     "NOT NULL, defaults INTEGER NOT NULL, no_value INTEGER NOT NULL, dims_dropped INTEGER NOT "
     "NULL, disabled INTEGER NOT NULL)"),
    /* 4: lifetime totals per series, kept when old buckets expire */
    ("ALTER TABLE metric_series ADD COLUMN total_count REAL NOT NULL DEFAULT 0;"
     "ALTER TABLE metric_series ADD COLUMN total_sum REAL NOT NULL DEFAULT 0;"),
    /* 5: notifications: rendered messages, the durable outbox, delivery attempts,
     * subscription confirmations and rate-limit windows (src/notify) */
    ("CREATE TABLE notify_messages (id INTEGER PRIMARY KEY, alarm_arn TEXT NOT NULL, alarm_name "
     "TEXT NOT NULL, alarm_type TEXT NOT NULL, old_state TEXT NOT NULL, new_state TEXT NOT NULL, "
     "transition_ms INTEGER NOT NULL, published_ms INTEGER NOT NULL, subject TEXT NOT NULL, "
     "alarm_json TEXT NOT NULL, email_text TEXT NOT NULL, sms_text TEXT NOT NULL, context_json "
     "TEXT, UNIQUE (alarm_arn, transition_ms, new_state));"
     "CREATE TABLE notify_outbox (id INTEGER PRIMARY KEY, message_id TEXT NOT NULL UNIQUE, "
     "message INTEGER REFERENCES notify_messages(id), kind TEXT NOT NULL, action_arn TEXT NOT "
     "NULL, target TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, "
     "created_ms INTEGER NOT NULL, next_ms INTEGER NOT NULL, first_ms INTEGER, done_ms INTEGER, "
     "last_error TEXT, payload TEXT, digest INTEGER, nogroup INTEGER NOT NULL DEFAULT 0);"
     "CREATE INDEX notify_outbox_due ON notify_outbox (status, next_ms);"
     "CREATE INDEX notify_outbox_target ON notify_outbox (target, status);"
     "CREATE TABLE notify_attempts (id INTEGER PRIMARY KEY, outbox INTEGER NOT NULL REFERENCES "
     "notify_outbox(id), attempt INTEGER NOT NULL, started_ms INTEGER NOT NULL, ended_ms INTEGER "
     "NOT NULL, outcome TEXT NOT NULL, status INTEGER, error TEXT);"
     "CREATE INDEX notify_attempts_outbox ON notify_attempts (outbox);"
     "CREATE TABLE notify_subscriptions (arn TEXT PRIMARY KEY, topic_arn TEXT NOT NULL, protocol "
     "TEXT NOT NULL, endpoint TEXT NOT NULL, status TEXT NOT NULL, token TEXT, updated_ms INTEGER "
     "NOT NULL);"
     "CREATE TABLE notify_rate (target TEXT PRIMARY KEY, last_sent_ms INTEGER NOT NULL);"),
    /* 6: responses: the action ledger (idempotence, cooldown, hourly cap) and
     * scheduled reverts, so an auto-revert survives a restart (src/respond) */
    ("CREATE TABLE respond_actions (response TEXT NOT NULL, trigger_id TEXT NOT NULL, target TEXT "
     "NOT NULL, dry_run INTEGER NOT NULL, time_ms INTEGER NOT NULL, outcome TEXT NOT NULL, "
     "PRIMARY KEY (response, trigger_id, target, dry_run));"
     "CREATE INDEX respond_actions_time ON respond_actions (response, dry_run, time_ms);"
     "CREATE TABLE respond_reverts (id INTEGER PRIMARY KEY, response TEXT NOT NULL, response_arn "
     "TEXT NOT NULL, action_arn TEXT NOT NULL, alarm_name TEXT NOT NULL, trigger_id TEXT NOT "
     "NULL, target TEXT NOT NULL, revert_key TEXT NOT NULL, spec TEXT NOT NULL, created_ms "
     "INTEGER NOT NULL, due_ms INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, state TEXT "
     "NOT NULL, last_error TEXT, done_ms INTEGER);"
     "CREATE INDEX respond_reverts_due ON respond_reverts (state, due_ms);"
     "CREATE INDEX respond_reverts_key ON respond_reverts (revert_key, state);"),
    /* 7: serve: per-file positions of tailed directories (src/serve/serve_tail.c) */
    ("CREATE TABLE serve_files (source TEXT NOT NULL, path TEXT NOT NULL, ino INTEGER NOT NULL, "
     "offset INTEGER NOT NULL, PRIMARY KEY (source, path))"),
    /* 8: serve: alarms and metric filters created or deleted through the APIs
     * (src/serve/serve_persist.c); def NULL is a deletion */
    ("CREATE TABLE serve_api_alarms (name TEXT PRIMARY KEY, def TEXT, updated_ms INTEGER NOT "
     "NULL);"
     "CREATE TABLE serve_api_filters (log_group TEXT NOT NULL, name TEXT NOT NULL, def TEXT, "
     "created_ms INTEGER NOT NULL, PRIMARY KEY (log_group, name))"),
};

enum ks_err store_fail(struct store *st, struct ks_diag *diag, const char *what)
{
    return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "database '%s': %s: %s", st->path, what,
                       sqlite3_errmsg(st->db));
}

static enum ks_err exec(struct store *st, const char *sql, struct ks_diag *diag)
{
    char *err = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        ks_diag_set(diag, KS_E_IO, SIZE_MAX, "database '%s': %s", st->path, err ? err : "error");
        sqlite3_free(err);
        return KS_E_IO;
    }
    return KS_OK;
}

static enum ks_err migrate(struct store *st, struct ks_diag *diag)
{
    enum ks_err e = exec(st,
                         "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER "
                         "PRIMARY KEY, applied_at TEXT NOT NULL)",
                         diag);
    if (e)
        return e;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "SELECT coalesce(max(version), 0) FROM schema_migrations", -1,
                           &q, NULL) != SQLITE_OK)
        return store_fail(st, diag, "reading schema version");
    int have = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : 0;
    sqlite3_finalize(q);
    int want = (int)KS_ARRAY_LEN(migrations);
    if (have > want)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "database '%s' has schema version %d, newer than this keysentry (%d)",
                           st->path, have, want);
    for (int v = have; v < want; v++) {
        if ((e = exec(st, "BEGIN IMMEDIATE", diag)))
            return e;
        char rec[160];
        snprintf(rec, sizeof(rec),
                 "INSERT INTO schema_migrations VALUES (%d, strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ'))",
                 v + 1);
        if ((e = exec(st, migrations[v], diag)) || (e = exec(st, rec, diag))) {
            exec(st, "ROLLBACK", NULL);
            return e;
        }
        if ((e = exec(st, "COMMIT", diag)))
            return e;
    }
    return KS_OK;
}

enum ks_err store_open(const char *path, struct store **out, struct ks_diag *diag)
{
    struct store *st = ks_xcalloc(1, sizeof(*st));
    st->path = ks_xstrdup(path);
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        enum ks_err e = store_fail(st, diag, "cannot open");
        store_close(st);
        return e;
    }
    sqlite3_busy_timeout(st->db, 5000);
    /* WAL + synchronous=NORMAL: a committed checkpoint survives a process
     * crash (kill -9); only power loss may lose the newest transactions,
     * and those are then re-read from the sources. */
    enum ks_err e = exec(st,
                         "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                         "PRAGMA foreign_keys=ON",
                         diag);
    if (!e)
        e = migrate(st, diag);
    if (e) {
        store_close(st);
        return e;
    }
    *out = st;
    return KS_OK;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    sqlite3_close(st->db);
    free(st->path);
    free(st);
}

sqlite3 *store_db(struct store *st)
{
    return st->db;
}

enum ks_err store_begin(struct store *st, struct ks_diag *diag)
{
    return exec(st, "BEGIN IMMEDIATE", diag);
}

enum ks_err store_commit(struct store *st, struct ks_diag *diag)
{
    return exec(st, "COMMIT", diag);
}

void store_rollback(struct store *st)
{
    exec(st, "ROLLBACK", NULL);
}

enum ks_err store_checkpoint_get(struct store *st, const char *source, struct store_checkpoint *cp,
                                 bool *found, struct ks_diag *diag)
{
    memset(cp, 0, sizeof(*cp));
    *found = false;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT file, offset, events, watermark_ms FROM checkpoints WHERE "
                           "source = ?",
                           -1, &q, NULL) != SQLITE_OK)
        return store_fail(st, diag, "reading checkpoint");
    sqlite3_bind_text(q, 1, source, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const unsigned char *f = sqlite3_column_text(q, 0);
        snprintf(cp->file, sizeof(cp->file), "%s", f ? (const char *)f : "");
        cp->offset = (uint64_t)sqlite3_column_int64(q, 1);
        cp->events = (uint64_t)sqlite3_column_int64(q, 2);
        cp->watermark_ms = sqlite3_column_int64(q, 3);
        *found = true;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_fail(st, diag, "reading checkpoint");
    return KS_OK;
}

enum ks_err store_checkpoint_put(struct store *st, const char *source,
                                 const struct store_checkpoint *cp, struct ks_diag *diag)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db,
                           "INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?) ON CONFLICT(source) DO "
                           "UPDATE SET file = excluded.file, offset = excluded.offset, events = "
                           "excluded.events, watermark_ms = excluded.watermark_ms",
                           -1, &q, NULL) != SQLITE_OK)
        return store_fail(st, diag, "writing checkpoint");
    sqlite3_bind_text(q, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, cp->file, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)cp->offset);
    sqlite3_bind_int64(q, 4, (sqlite3_int64)cp->events);
    sqlite3_bind_int64(q, 5, cp->watermark_ms);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? KS_OK : store_fail(st, diag, "writing checkpoint");
}
