/* SPDX-License-Identifier: Apache-2.0 */
/*
 * respond: the engine's lifecycle, lookups, logging and the revert thread.
 * What an execution does is in respond_run.c, reverts in respond_revert.c.
 */
#include "respond/respond_int.h"

#include <errno.h>

#include "config/config.h"

static int64_t wall_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t respond_now(const struct respond *r)
{
    return r->clock(r->clock_ctx);
}

int64_t respond_scaled_ms(const struct respond *r, uint32_t s)
{
    if (s == 0)
        return 0;
    int64_t ms = (int64_t)((double)s * 1000.0 / r->time_scale);
    return ms < 1 ? 1 : ms;
}

void respond_log(const struct respond *r, const char *level, const char *fmt, ...)
{
    if (r->quiet)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(r->log ? r->log : stderr, "level=%s comp=respond %s\n", level, line);
}

enum ks_err respond_new(const struct config_template *t, const struct respond_options *opts,
                        struct respond **out, struct ks_diag *diag)
{
    *out = NULL;
    struct respond_options none = {0};
    if (!opts)
        opts = &none;
    if (opts->time_scale < 0 || opts->time_scale != opts->time_scale)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "respond: time scale must be positive");
    enum ks_err e = respond_validate_template(t, diag);
    if (e)
        return e;
    struct respond *r = ks_xcalloc(1, sizeof(*r));
    /* A kill switch that needs no flag: the environment can force shadow
     * mode (never switch it off). */
    const char *dry = respond_getenv(opts->env, "KEYSENTRY_RESPOND_DRY_RUN");
    r->dry_run = opts->dry_run || (dry && (strcmp(dry, "1") == 0 || strcmp(dry, "true") == 0));
    r->time_scale = opts->time_scale > 0 ? opts->time_scale : 1.0;
    r->clock = opts->clock ? opts->clock : wall_ms;
    r->clock_ctx = opts->clock_ctx;
    r->on_record = opts->on_record;
    r->record_ctx = opts->record_ctx;
    r->env = opts->env;
    r->log = opts->log;
    r->quiet = opts->quiet;
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->tmu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->tcond, &ca);
    pthread_condattr_destroy(&ca);

    for (size_t i = 0; i < t->n_customs; i++) {
        const struct config_custom *c = &t->customs[i];
        if (!respond_is_response_type(c->res.type))
            continue;
        struct respond_def *d;
        if ((e = respond_def_parse(c, t->region, t->account_id, &d, diag)))
            goto fail;
        r->defs = ks_xrealloc(r->defs, (r->n_defs + 1) * sizeof(*r->defs));
        r->defs[r->n_defs++] = d;
    }
    if ((e = store_open(opts->db_path ? opts->db_path : ":memory:", &r->store, diag)))
        goto fail;
    if (opts->trail_path && (e = respond_trail_open(opts->trail_path, &r->trail, diag)))
        goto fail;
    /* A revert that was running when the process died runs again (the
     * operations are idempotent); old ledger rows are dropped. */
    char *err = NULL;
    char sql[256];
    snprintf(sql, sizeof(sql),
             "UPDATE respond_reverts SET state='pending' WHERE state='running';"
             "DELETE FROM respond_actions WHERE time_ms < %lld;",
             (long long)(respond_now(r) - 8 * 24 * RESPOND_HOUR_MS));
    if (sqlite3_exec(store_db(r->store), sql, NULL, NULL, &err) != SQLITE_OK) {
        e = ks_diag_set(diag, KS_E_IO, SIZE_MAX, "respond: database: %s", err ? err : "error");
        sqlite3_free(err);
        goto fail;
    }
    *out = r;
    return KS_OK;
fail:
    respond_free(r);
    return e;
}

void respond_free(struct respond *r)
{
    if (!r)
        return;
    respond_stop(r);
    for (size_t i = 0; i < r->n_defs; i++)
        respond_def_free(r->defs[i]);
    free(r->defs);
    store_close(r->store);
    respond_trail_close(r->trail);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->tmu);
    pthread_cond_destroy(&r->tcond);
    free(r);
}

size_t respond_count(const struct respond *r)
{
    return r->n_defs;
}

const struct respond_def *respond_at(const struct respond *r, size_t i)
{
    return i < r->n_defs ? r->defs[i] : NULL;
}

const struct respond_def *respond_find(const struct respond *r, const char *action)
{
    if (!action)
        return NULL;
    for (size_t i = 0; i < r->n_defs; i++)
        if (strcmp(r->defs[i]->arn, action) == 0 || strcmp(r->defs[i]->name, action) == 0)
            return r->defs[i];
    for (size_t i = 0; i < r->n_defs; i++)
        if (strcmp(r->defs[i]->logical_id, action) == 0)
            return r->defs[i];
    return NULL;
}

int64_t respond_next_revert_ms(struct respond *r)
{
    int64_t next = INT64_MAX;
    pthread_mutex_lock(&r->mu);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(store_db(r->store),
                           "SELECT min(due_ms) FROM respond_reverts WHERE state='pending'", -1, &q,
                           NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
            next = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&r->mu);
    return next;
}

size_t respond_pending_reverts(struct respond *r)
{
    size_t n = 0;
    pthread_mutex_lock(&r->mu);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(store_db(r->store),
                           "SELECT count(*) FROM respond_reverts WHERE state IN "
                           "('pending','running')",
                           -1, &q, NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW)
            n = (size_t)sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void *revert_thread(void *arg)
{
    struct respond *r = arg;
    pthread_mutex_lock(&r->tmu);
    while (!r->thread_stop) {
        pthread_mutex_unlock(&r->tmu);
        (void)respond_tick(r);
        pthread_mutex_lock(&r->tmu);
        if (r->thread_stop)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += r->interval_ms / 1000;
        ts.tv_nsec += (long)(r->interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        int rc = 0;
        while (!r->thread_stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&r->tcond, &r->tmu, &ts);
    }
    pthread_mutex_unlock(&r->tmu);
    return NULL;
}

enum ks_err respond_start(struct respond *r, unsigned interval_ms, struct ks_diag *diag)
{
    pthread_mutex_lock(&r->tmu);
    if (r->thread_running) {
        pthread_mutex_unlock(&r->tmu);
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "respond: revert thread already running");
    }
    r->interval_ms = interval_ms ? interval_ms : 1000;
    r->thread_stop = false;
    int rc = pthread_create(&r->thread, NULL, revert_thread, r);
    r->thread_running = rc == 0;
    pthread_mutex_unlock(&r->tmu);
    if (rc)
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "respond: cannot start a thread: %s",
                           strerror(rc));
    return KS_OK;
}

void respond_stop(struct respond *r)
{
    pthread_mutex_lock(&r->tmu);
    if (!r->thread_running) {
        pthread_mutex_unlock(&r->tmu);
        return;
    }
    r->thread_stop = true;
    pthread_cond_broadcast(&r->tcond);
    pthread_mutex_unlock(&r->tmu);
    pthread_join(r->thread, NULL);
    pthread_mutex_lock(&r->tmu);
    r->thread_running = false;
    pthread_mutex_unlock(&r->tmu);
}
