/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The durable outbox (docs/notifications.md#outbox): tables notify_messages
 * (one rendered message per transition), notify_outbox (one row per
 * delivery: subscription or registered action), notify_attempts (every
 * attempt's outcome), notify_subscriptions (confirmation state) and
 * notify_rate (each subscription's last send, for digests).
 *
 * Row states: pending -> delivered | dead, with pending -> pending on a
 * retry; grouped (inside a subscription's rate-limit window) -> pending (it
 * was alone) or digested (carried by a digest row); held (its http/https
 * subscription is not confirmed yet) -> pending on confirmation. "In flight"
 * is not a state in the database: a row being delivered is still pending
 * there, so a crash mid-attempt simply makes it due again after restart
 * (at least once; the MessageId lets the receiver drop the repeat).
 *
 * Everything here except notify_outbox_enqueue runs with hub->mu held, on
 * the hub's own connection. Enqueue runs on the caller's thread and
 * connection, inside the caller's transaction, and takes only cfg_mu.
 */
#include <openssl/crypto.h>

#include "notify/notify_int.h"

/* ---- small database helpers --------------------------------------------------- */

enum ks_err notify_db_fail(sqlite3 *db, struct ks_diag *diag, const char *what)
{
    return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "notification outbox: %s: %s", what,
                       sqlite3_errmsg(db));
}

enum ks_err notify_db_exec(struct notify_hub *hub, sqlite3 *db, const char *sql,
                           struct ks_diag *diag)
{
    (void)hub;
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        ks_diag_set(diag, KS_E_IO, SIZE_MAX, "notification outbox: %s: %s", sql,
                    err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        return KS_E_IO;
    }
    return KS_OK;
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return NULL;
    return q;
}

static char *col_dup(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    return t ? ks_xstrdup((const char *)t) : NULL;
}

static void bind_text(sqlite3_stmt *q, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(q, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(q, i);
}

/* Runs a statement that returns no rows; false on error. */
static bool step_done(sqlite3_stmt *q)
{
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE;
}

static enum ks_err begin(struct notify_hub *hub, struct ks_diag *diag)
{
    return notify_db_exec(hub, hub->db, "BEGIN IMMEDIATE", diag);
}

static enum ks_err commit(struct notify_hub *hub, struct ks_diag *diag)
{
    enum ks_err e = notify_db_exec(hub, hub->db, "COMMIT", diag);
    if (e)
        notify_db_exec(hub, hub->db, "ROLLBACK", NULL);
    return e;
}

static void rollback(struct notify_hub *hub)
{
    if (!sqlite3_get_autocommit(hub->db))
        notify_db_exec(hub, hub->db, "ROLLBACK", NULL);
}

static const char *const kind_names[] = {"sns", "action", "confirm", "digest", "none", "unknown"};

const char *notify_kind_name(enum notify_kind k)
{
    return kind_names[k];
}

bool notify_kind_parse(const char *s, enum notify_kind *out)
{
    for (size_t i = 0; s && i < KS_ARRAY_LEN(kind_names); i++)
        if (strcmp(kind_names[i], s) == 0) {
            *out = (enum notify_kind)i;
            return true;
        }
    return false;
}

/* The stable MessageId of one delivery of one transition (spec §5: "deduplicate
 * on the transition timestamp downstream"). */
static void delivery_id(char out[37], const char *arn, int64_t transition_ms, const char *new_state,
                        const char *target)
{
    struct ks_buf k;
    ks_buf_init(&k, 1u << 20);
    if (ks_buf_addf(&k, "%s\n%lld\n%s\n%s", arn, (long long)transition_ms, new_state, target))
        ks_buf_reset(&k);
    notify_uuid(out, k.data, k.len);
    ks_buf_release(&k);
}

/* ---- enqueue (caller's thread and connection) ---------------------------------------- */

struct target {
    char *arn;
    enum notify_kind kind;
    const char *status;
};

/* Which rows one action ARN turns into, under cfg_mu. */
static void classify(struct notify_hub *hub, const char *arn, struct target **out, size_t *n)
{
    pthread_mutex_lock(&hub->cfg_mu);
    const struct notify_topic *t = notify_find_topic(hub, arn);
    if (t) {
        size_t before = *n;
        for (size_t i = 0; i < hub->n_subs; i++) {
            struct notify_sub *s = &hub->subs[i];
            if (strcmp(s->topic_arn, arn) != 0 || s->unsubscribed)
                continue;
            *out = ks_xrealloc(*out, (*n + 1) * sizeof(**out));
            (*out)[(*n)++] = (struct target){ks_xstrdup(s->arn), NOTIFY_K_SNS,
                                             s->confirmed ? "pending" : "held"};
        }
        if (*n == before) {
            /* AWS records a successful publish to a topic nobody listens to;
             * so do we, through a row that succeeds at once */
            *out = ks_xrealloc(*out, (*n + 1) * sizeof(**out));
            (*out)[(*n)++] = (struct target){ks_xstrdup(arn), NOTIFY_K_NONE, "pending"};
        }
    } else {
        bool registered = false;
        for (size_t i = 0; i < hub->n_actions && !registered; i++)
            registered = strcmp(hub->actions[i].arn, arn) == 0;
        *out = ks_xrealloc(*out, (*n + 1) * sizeof(**out));
        (*out)[(*n)++] = (struct target){
            ks_xstrdup(arn), registered ? NOTIFY_K_ACTION : NOTIFY_K_UNKNOWN, "pending"};
    }
    pthread_mutex_unlock(&hub->cfg_mu);
}

static enum ks_err prepare_enqueue(struct notify_hub *hub, struct ks_diag *diag)
{
    if (hub->q_box_insert)
        return KS_OK;
    hub->q_msg_insert =
        prep(hub->cdb, "INSERT OR IGNORE INTO notify_messages (alarm_arn, alarm_name, alarm_type, "
                       "old_state, new_state, transition_ms, published_ms, subject, alarm_json, "
                       "email_text, sms_text, context_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
    hub->q_msg_find = prep(hub->cdb, "SELECT id FROM notify_messages WHERE alarm_arn = ? AND "
                                     "transition_ms = ? AND new_state = ?");
    hub->q_box_insert =
        prep(hub->cdb, "INSERT OR IGNORE INTO notify_outbox (message_id, message, kind, "
                       "action_arn, target, status, created_ms, next_ms) VALUES (?,?,?,?,?,?,?,?)");
    if (!hub->q_msg_insert || !hub->q_msg_find || !hub->q_box_insert)
        return notify_db_fail(hub->cdb, diag, "preparing the enqueue statements");
    return KS_OK;
}

enum ks_err notify_outbox_enqueue(struct notify_hub *hub, const struct notify_event *ev,
                                  struct notify_enqueue_result *res, struct ks_diag *diag)
{
    struct notify_enqueue_result dummy;
    if (!res)
        res = &dummy;
    memset(res, 0, sizeof(*res));
    const struct alarm_change *ch = ev->change;
    if (!ch)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "notify_hub_enqueue: no change");
    if (ch->n_actions == 0)
        return KS_OK;
    struct notify_format fmt = {hub->set.region_name, hub->set.console_url};
    struct notify_message m;
    enum ks_err e = notify_message_build(&ev->alarm, ch, ev->context, &fmt, &m, diag);
    if (e)
        return e;
    const char *aarn, *alarm_name, *alarm_type;
    if (ev->alarm.metric) {
        aarn = alarm_arn(ev->alarm.metric);
        alarm_name = alarm_get_def(ev->alarm.metric)->name;
        alarm_type = alarm_type_name(ALARM_TYPE_METRIC);
    } else {
        aarn = alarm_composite_arn(ev->alarm.composite);
        alarm_name = alarm_composite_get_def(ev->alarm.composite)->name;
        alarm_type = alarm_type_name(ALARM_TYPE_COMPOSITE);
    }
    int64_t transition = ch->transition_ms ? ch->transition_ms : ch->time_ms;
    const char *new_state = alarm_state_name(ch->new_state);
    int64_t now = notify_now_ms(hub);
    struct target *targets = NULL;
    size_t n_targets = 0;
    bool own_tx = false;
    if ((e = prepare_enqueue(hub, diag)))
        goto out;
    if (sqlite3_get_autocommit(hub->cdb)) {
        /* no caller transaction: make the rows atomic by ourselves */
        if ((e = notify_db_exec(hub, hub->cdb, "BEGIN IMMEDIATE", diag)))
            goto out;
        own_tx = true;
    }
    sqlite3_stmt *q = hub->q_msg_insert;
    bind_text(q, 1, aarn);
    bind_text(q, 2, alarm_name);
    bind_text(q, 3, alarm_type);
    bind_text(q, 4, alarm_state_name(ch->old_state));
    bind_text(q, 5, new_state);
    sqlite3_bind_int64(q, 6, transition);
    sqlite3_bind_int64(q, 7, now);
    bind_text(q, 8, m.subject);
    bind_text(q, 9, m.alarm_json);
    bind_text(q, 10, m.email_text);
    bind_text(q, 11, m.sms_text);
    bind_text(q, 12, m.context_json);
    if (!step_done(q)) {
        e = notify_db_fail(hub->cdb, diag, "writing the message");
        goto out;
    }
    q = hub->q_msg_find;
    bind_text(q, 1, aarn);
    sqlite3_bind_int64(q, 2, transition);
    bind_text(q, 3, new_state);
    int64_t msg_id = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    if (!msg_id) {
        e = notify_db_fail(hub->cdb, diag, "reading the message back");
        goto out;
    }
    for (size_t i = 0; i < ch->n_actions && !e; i++) {
        bool dup = false;
        for (size_t k = 0; k < i && !dup; k++)
            dup = strcmp(ch->actions[k], ch->actions[i]) == 0;
        if (dup)
            continue;
        for (size_t k = 0; k < n_targets; k++)
            free(targets[k].arn);
        n_targets = 0;
        classify(hub, ch->actions[i], &targets, &n_targets);
        for (size_t k = 0; k < n_targets; k++) {
            const struct target *tg = &targets[k];
            char mid[37];
            delivery_id(mid, aarn, transition, new_state, tg->arn);
            q = hub->q_box_insert;
            bind_text(q, 1, mid);
            sqlite3_bind_int64(q, 2, msg_id);
            bind_text(q, 3, notify_kind_name(tg->kind));
            bind_text(q, 4, ch->actions[i]);
            bind_text(q, 5, tg->arn);
            bind_text(q, 6, tg->status);
            sqlite3_bind_int64(q, 7, now);
            sqlite3_bind_int64(q, 8, now);
            if (!step_done(q)) {
                e = notify_db_fail(hub->cdb, diag, "writing an outbox row");
                goto out;
            }
            if (sqlite3_changes(hub->cdb) > 0) {
                res->rows++;
                if (tg->kind == NOTIFY_K_UNKNOWN)
                    res->unknown++;
            } else {
                res->duplicates++;
            }
        }
    }
    if (own_tx) {
        own_tx = false;
        if ((e = notify_db_exec(hub, hub->cdb, "COMMIT", diag)))
            notify_db_exec(hub, hub->cdb, "ROLLBACK", NULL);
    }
out:
    if (own_tx)
        notify_db_exec(hub, hub->cdb, "ROLLBACK", NULL);
    for (size_t i = 0; i < n_targets; i++)
        free(targets[i].arn);
    free(targets);
    notify_message_release(&m);
    if (!e && res->rows) {
        /* the rows become visible at the caller's commit, which we cannot
         * see: let an idle worker poll fast for a while (notify_hub_kick
         * after the commit makes it immediate) */
        atomic_store(&hub->hint_until, (long long)(notify_mono_ms() + 3000));
        pthread_cond_signal(&hub->cv);
    }
    return e;
}

/* ---- subscriptions ------------------------------------------------------------------- */

static enum ks_err queue_confirmation(struct notify_hub *hub, const struct notify_sub *s,
                                      const char *token, int64_t now, struct ks_diag *diag)
{
    char key[512], mid[37];
    int n = snprintf(key, sizeof(key), "confirm\n%s\n%s", s->arn, token);
    notify_uuid(mid, key, n > 0 ? (size_t)n : 0);
    sqlite3_stmt *q = prep(hub->db, "INSERT OR IGNORE INTO notify_outbox (message_id, kind, "
                                    "action_arn, target, status, created_ms, next_ms, payload, "
                                    "nogroup) VALUES (?, 'confirm', ?, ?, 'pending', ?, ?, ?, 1)");
    if (!q)
        return notify_db_fail(hub->db, diag, "queueing a subscription confirmation");
    bind_text(q, 1, mid);
    bind_text(q, 2, s->topic_arn);
    bind_text(q, 3, s->arn);
    sqlite3_bind_int64(q, 4, now);
    sqlite3_bind_int64(q, 5, now);
    bind_text(q, 6, token);
    bool ok = step_done(q);
    sqlite3_finalize(q);
    return ok ? KS_OK : notify_db_fail(hub->db, diag, "queueing a subscription confirmation");
}

enum ks_err notify_outbox_sync_subs(struct notify_hub *hub, struct ks_diag *diag)
{
    int64_t now = notify_now_ms(hub);
    enum ks_err e = begin(hub, diag);
    if (e)
        return e;
    sqlite3_stmt *get = prep(hub->db, "SELECT protocol, endpoint, status, token FROM "
                                      "notify_subscriptions WHERE arn = ?");
    sqlite3_stmt *put = prep(hub->db, "INSERT OR REPLACE INTO notify_subscriptions VALUES "
                                      "(?, ?, ?, ?, ?, ?, ?)");
    sqlite3_stmt *live = prep(hub->db, "SELECT count(*) FROM notify_outbox WHERE kind = "
                                       "'confirm' AND target = ? AND status = 'pending'");
    sqlite3_stmt *release = prep(hub->db, "UPDATE notify_outbox SET status = 'pending', next_ms "
                                          "= ? WHERE target = ? AND status = 'held'");
    if (!get || !put || !live || !release) {
        e = notify_db_fail(hub->db, diag, "syncing subscriptions");
        goto out;
    }
    for (size_t i = 0; i < hub->n_subs && !e; i++) {
        struct notify_sub *s = &hub->subs[i];
        bool needs =
            (s->proto == NOTIFY_P_HTTP || s->proto == NOTIFY_P_HTTPS) && hub->set.confirm_http;
        bind_text(get, 1, s->arn);
        char *proto = NULL, *endpoint = NULL, *status = NULL, *token = NULL;
        if (sqlite3_step(get) == SQLITE_ROW) {
            proto = col_dup(get, 0);
            endpoint = col_dup(get, 1);
            status = col_dup(get, 2);
            token = col_dup(get, 3);
        }
        sqlite3_reset(get);
        bool same = proto && strcmp(proto, notify_proto_name(s->proto)) == 0 && endpoint &&
                    strcmp(endpoint, s->endpoint_key) == 0;
        const char *new_status;
        bool write = true, confirm = false;
        if (!same) {
            new_status = needs ? "pending" : "confirmed";
            free(token);
            token = NULL;
            if (needs) {
                token = ks_xmalloc(65);
                notify_random_hex(token, 32);
                confirm = true;
            }
        } else if (strcmp(status, "pending") == 0 && !needs) {
            new_status = "confirmed";
        } else {
            new_status = status;
            write = false;
            if (strcmp(status, "pending") == 0 && token) {
                /* still waiting: make sure a confirmation is on its way */
                bind_text(live, 1, s->arn);
                int n = sqlite3_step(live) == SQLITE_ROW ? sqlite3_column_int(live, 0) : 0;
                sqlite3_reset(live);
                if (n == 0) {
                    char *fresh = ks_xmalloc(65);
                    notify_random_hex(fresh, 32);
                    free(token);
                    token = fresh;
                    write = confirm = true;
                }
            }
        }
        if (write) {
            bind_text(put, 1, s->arn);
            bind_text(put, 2, s->topic_arn);
            bind_text(put, 3, notify_proto_name(s->proto));
            bind_text(put, 4, s->endpoint_key);
            bind_text(put, 5, new_status);
            bind_text(put, 6, token);
            sqlite3_bind_int64(put, 7, now);
            if (!step_done(put))
                e = notify_db_fail(hub->db, diag, "syncing subscriptions");
        }
        if (!e && confirm)
            e = queue_confirmation(hub, s, token, now, diag);
        bool confirmed = strcmp(new_status, "confirmed") == 0;
        if (!e && confirmed) {
            sqlite3_bind_int64(release, 1, now);
            bind_text(release, 2, s->arn);
            if (!step_done(release))
                e = notify_db_fail(hub->db, diag, "releasing held rows");
        }
        pthread_mutex_lock(&hub->cfg_mu);
        s->confirmed = confirmed;
        s->unsubscribed = strcmp(new_status, "unsubscribed") == 0;
        pthread_mutex_unlock(&hub->cfg_mu);
        free(proto);
        free(endpoint);
        free(status);
        free(token);
    }
out:
    sqlite3_finalize(get);
    sqlite3_finalize(put);
    sqlite3_finalize(live);
    sqlite3_finalize(release);
    if (e) {
        rollback(hub);
        return e;
    }
    return commit(hub, diag);
}

enum ks_err notify_outbox_confirm(struct notify_hub *hub, const char *topic_arn, const char *token,
                                  char **sub_arn, struct ks_diag *diag)
{
    if (sub_arn)
        *sub_arn = NULL;
    int64_t now = notify_now_ms(hub);
    sqlite3_stmt *q = prep(hub->db, "SELECT arn, token FROM notify_subscriptions WHERE topic_arn "
                                    "= ? AND status = 'pending' AND token IS NOT NULL");
    if (!q)
        return notify_db_fail(hub->db, diag, "confirming a subscription");
    bind_text(q, 1, topic_arn);
    char *found = NULL;
    size_t tl = strlen(token);
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(q, 1);
        /* constant time: the token is the only secret of the flow */
        if (t && strlen(t) == tl && CRYPTO_memcmp(t, token, tl) == 0 && !found)
            found = col_dup(q, 0);
    }
    sqlite3_finalize(q);
    if (!found)
        return ks_diag_set(diag, KS_E_NOTFOUND, SIZE_MAX,
                           "no pending subscription of topic %s has that token", topic_arn);
    enum ks_err e = begin(hub, diag);
    if (e) {
        free(found);
        return e;
    }
    sqlite3_stmt *u = prep(hub->db, "UPDATE notify_subscriptions SET status = 'confirmed', "
                                    "updated_ms = ? WHERE arn = ?");
    sqlite3_stmt *r = prep(hub->db, "UPDATE notify_outbox SET status = 'pending', next_ms = ? "
                                    "WHERE target = ? AND status = 'held'");
    bool ok = u && r;
    if (ok) {
        sqlite3_bind_int64(u, 1, now);
        bind_text(u, 2, found);
        sqlite3_bind_int64(r, 1, now);
        bind_text(r, 2, found);
        ok = step_done(u) && step_done(r);
    }
    sqlite3_finalize(u);
    sqlite3_finalize(r);
    if (!ok) {
        e = notify_db_fail(hub->db, diag, "confirming a subscription");
        rollback(hub);
        free(found);
        return e;
    }
    if ((e = commit(hub, diag))) {
        free(found);
        return e;
    }
    pthread_mutex_lock(&hub->cfg_mu);
    struct notify_sub *s = notify_find_sub(hub, found);
    if (s)
        s->confirmed = true;
    pthread_mutex_unlock(&hub->cfg_mu);
    if (sub_arn)
        *sub_arn = found;
    else
        free(found);
    return KS_OK;
}

enum ks_err notify_outbox_unsubscribe(struct notify_hub *hub, const char *sub_arn,
                                      struct ks_diag *diag)
{
    int64_t now = notify_now_ms(hub);
    enum ks_err e = begin(hub, diag);
    if (e)
        return e;
    sqlite3_stmt *u = prep(hub->db, "UPDATE notify_subscriptions SET status = 'unsubscribed', "
                                    "token = NULL, updated_ms = ? WHERE arn = ?");
    sqlite3_stmt *r = prep(hub->db, "UPDATE notify_outbox SET status = 'dead', done_ms = ?, "
                                    "last_error = 'unsubscribed' WHERE target = ? AND status IN "
                                    "('pending', 'held', 'grouped')");
    bool ok = u && r;
    int changed = 0;
    if (ok) {
        sqlite3_bind_int64(u, 1, now);
        bind_text(u, 2, sub_arn);
        ok = step_done(u);
        changed = sqlite3_changes(hub->db);
        sqlite3_bind_int64(r, 1, now);
        bind_text(r, 2, sub_arn);
        ok = ok && step_done(r);
    }
    sqlite3_finalize(u);
    sqlite3_finalize(r);
    if (!ok) {
        e = notify_db_fail(hub->db, diag, "unsubscribing");
        rollback(hub);
        return e;
    }
    if ((e = commit(hub, diag)))
        return e;
    if (!changed)
        return ks_diag_set(diag, KS_E_NOTFOUND, SIZE_MAX, "no subscription %s", sub_arn);
    pthread_mutex_lock(&hub->cfg_mu);
    struct notify_sub *s = notify_find_sub(hub, sub_arn);
    if (s)
        s->unsubscribed = true;
    pthread_mutex_unlock(&hub->cfg_mu);
    return KS_OK;
}

/* ---- jobs ---------------------------------------------------------------------------- */

static void msgrow_release(struct notify_msgrow *m)
{
    free(m->outbox_message_id);
    free(m->action_arn);
    free(m->alarm_arn);
    free(m->alarm_name);
    free(m->alarm_type);
    free(m->old_state);
    free(m->new_state);
    free(m->subject);
    free(m->alarm_json);
    free(m->email_text);
    free(m->sms_text);
    free(m->context_json);
}

void notify_job_free(struct notify_job *job)
{
    if (!job)
        return;
    free(job->message_id);
    free(job->action_arn);
    free(job->target);
    free(job->payload);
    for (size_t i = 0; i < job->n_msgs; i++)
        msgrow_release(&job->msgs[i]);
    free(job->msgs);
    if (job->have_sub)
        notify_sub_release(&job->sub);
    notify_topic_release(&job->topic);
    free(job);
}

#define MSG_COLS                                                                                   \
    "m.id, m.alarm_arn, m.alarm_name, m.alarm_type, m.old_state, m.new_state, m.transition_ms, "   \
    "m.published_ms, m.subject, m.alarm_json, m.email_text, m.sms_text, m.context_json, o.id, "    \
    "o.message_id, o.action_arn"

static void read_msgrow(sqlite3_stmt *q, struct notify_msgrow *m)
{
    m->id = sqlite3_column_int64(q, 0);
    m->alarm_arn = col_dup(q, 1);
    m->alarm_name = col_dup(q, 2);
    m->alarm_type = col_dup(q, 3);
    m->old_state = col_dup(q, 4);
    m->new_state = col_dup(q, 5);
    m->transition_ms = sqlite3_column_int64(q, 6);
    m->published_ms = sqlite3_column_int64(q, 7);
    m->subject = col_dup(q, 8);
    m->alarm_json = col_dup(q, 9);
    m->email_text = col_dup(q, 10);
    m->sms_text = col_dup(q, 11);
    m->context_json = col_dup(q, 12);
    m->outbox_row = sqlite3_column_int64(q, 13);
    m->outbox_message_id = col_dup(q, 14);
    m->action_arn = col_dup(q, 15);
}

/* Loads the message rows of the outbox rows ids[0..n). */
static bool load_msgs(struct notify_hub *hub, const int64_t *ids, size_t n, struct notify_job *job)
{
    sqlite3_stmt *q = prep(hub->db, "SELECT " MSG_COLS " FROM notify_outbox o JOIN "
                                    "notify_messages m ON m.id = o.message WHERE o.id = ?");
    if (!q)
        return false;
    job->msgs = ks_xcalloc(n ? n : 1, sizeof(*job->msgs));
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(q, 1, ids[i]);
        if (sqlite3_step(q) == SQLITE_ROW)
            read_msgrow(q, &job->msgs[job->n_msgs++]);
        sqlite3_reset(q);
    }
    sqlite3_finalize(q);
    return true;
}

static void inflight_add(struct notify_hub *hub, int64_t id, const char *target)
{
    if (hub->n_inflight == hub->cap_inflight) {
        hub->cap_inflight = hub->cap_inflight ? 2 * hub->cap_inflight : 16;
        hub->inflight = ks_xrealloc(hub->inflight, hub->cap_inflight * sizeof(int64_t));
        hub->inflight_targets =
            ks_xrealloc(hub->inflight_targets, hub->cap_inflight * sizeof(char *));
    }
    hub->inflight[hub->n_inflight] = id;
    hub->inflight_targets[hub->n_inflight++] = ks_xstrdup(target);
}

static bool inflight_has(const struct notify_hub *hub, int64_t id)
{
    for (size_t i = 0; i < hub->n_inflight; i++)
        if (hub->inflight[i] == id)
            return true;
    return false;
}

/* Deliveries to one target never overlap, so a subscriber sees its messages
 * in outbox order (ALARM before OK) unless a retry intervenes. */
static bool target_busy(const struct notify_hub *hub, const char *target)
{
    for (size_t i = 0; i < hub->n_inflight; i++)
        if (strcmp(hub->inflight_targets[i], target) == 0)
            return true;
    return false;
}

static void inflight_del(struct notify_hub *hub, int64_t id)
{
    for (size_t i = 0; i < hub->n_inflight; i++)
        if (hub->inflight[i] == id) {
            free(hub->inflight_targets[i]);
            hub->n_inflight--;
            hub->inflight[i] = hub->inflight[hub->n_inflight];
            hub->inflight_targets[i] = hub->inflight_targets[hub->n_inflight];
            return;
        }
}

/* A candidate row of the claim scan. */
struct cand {
    int64_t id;
    char *message_id;
    int64_t message;
    enum notify_kind kind;
    char *action_arn;
    char *target;
    uint32_t attempts;
    int64_t created_ms;
    int64_t first_ms;
    char *payload;
    bool nogroup;
};

static void cand_release(struct cand *c)
{
    free(c->message_id);
    free(c->action_arn);
    free(c->target);
    free(c->payload);
}

static bool set_rate(struct notify_hub *hub, const char *target, int64_t now)
{
    sqlite3_stmt *q = prep(hub->db, "INSERT OR REPLACE INTO notify_rate VALUES (?, ?)");
    if (!q)
        return false;
    bind_text(q, 1, target);
    sqlite3_bind_int64(q, 2, now);
    bool ok = step_done(q);
    sqlite3_finalize(q);
    return ok;
}

static bool get_rate(struct notify_hub *hub, const char *target, int64_t *last)
{
    sqlite3_stmt *q = prep(hub->db, "SELECT last_sent_ms FROM notify_rate WHERE target = ?");
    if (!q)
        return false;
    bind_text(q, 1, target);
    bool found = sqlite3_step(q) == SQLITE_ROW;
    if (found)
        *last = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return found;
}

static bool exec_id(struct notify_hub *hub, const char *sql, int64_t a, int64_t id)
{
    sqlite3_stmt *q = prep(hub->db, sql);
    if (!q)
        return false;
    sqlite3_bind_int64(q, 1, a);
    sqlite3_bind_int64(q, 2, id);
    bool ok = step_done(q);
    sqlite3_finalize(q);
    return ok;
}

/* Parses a digest payload "[1,2,3]" into ids. */
static int64_t *parse_ids(const char *payload, size_t *n)
{
    *n = 0;
    json_t *a = payload ? json_loads(payload, 0, NULL) : NULL;
    int64_t *ids = ks_xcalloc(json_array_size(a) + 1, sizeof(int64_t));
    for (size_t i = 0; i < json_array_size(a); i++)
        if (json_is_integer(json_array_get(a, i)))
            ids[(*n)++] = json_integer_value(json_array_get(a, i));
    json_decref(a);
    return ids;
}

static struct notify_job *make_job(struct notify_hub *hub, struct cand *c, struct ks_diag *diag,
                                   enum ks_err *err)
{
    struct notify_job *job = ks_xcalloc(1, sizeof(*job));
    job->row = c->id;
    job->message_id = c->message_id;
    job->kind = c->kind;
    job->action_arn = c->action_arn;
    job->target = c->target;
    job->payload = c->payload;
    c->message_id = c->action_arn = c->target = c->payload = NULL;
    job->attempt = c->attempts + 1;
    job->created_ms = c->created_ms;
    job->first_ms = c->first_ms;
    bool ok = true;
    if (job->kind == NOTIFY_K_DIGEST) {
        size_t n;
        int64_t *ids = parse_ids(job->payload, &n);
        ok = load_msgs(hub, ids, n, job);
        free(ids);
    } else if (job->kind != NOTIFY_K_CONFIRM) {
        ok = load_msgs(hub, &job->row, 1, job);
    }
    if (!ok) {
        *err = notify_db_fail(hub->db, diag, "loading a message");
        notify_job_free(job);
        return NULL;
    }
    pthread_mutex_lock(&hub->cfg_mu);
    if (job->kind == NOTIFY_K_SNS || job->kind == NOTIFY_K_DIGEST ||
        job->kind == NOTIFY_K_CONFIRM) {
        struct notify_sub *s = notify_find_sub(hub, job->target);
        if (s) {
            notify_sub_copy(&job->sub, s);
            job->have_sub = true;
            const struct notify_topic *t = notify_find_topic(hub, s->topic_arn);
            if (t)
                notify_topic_copy(&job->topic, t);
        }
    } else if (job->kind == NOTIFY_K_ACTION) {
        for (size_t i = 0; i < hub->n_actions; i++)
            if (strcmp(hub->actions[i].arn, job->target) == 0) {
                job->fn = hub->actions[i].fn;
                job->ud = hub->actions[i].ud;
            }
    }
    pthread_mutex_unlock(&hub->cfg_mu);
    if (!job->topic.arn) {
        const char *c2 = strrchr(job->action_arn, ':');
        job->topic.arn = ks_xstrdup(job->action_arn);
        job->topic.name = ks_xstrdup(c2 ? c2 + 1 : job->action_arn);
        job->topic.signature_version = 2;
    }
    return job;
}

/* Turns due grouped rows into digests (or back into single pending rows).
 * Returns true when something changed. */
static bool flush_groups(struct notify_hub *hub, int64_t now, struct ks_diag *diag,
                         enum ks_err *err)
{
    sqlite3_stmt *q = prep(hub->db, "SELECT target, min(next_ms) FROM notify_outbox WHERE "
                                    "status = 'grouped' GROUP BY target HAVING min(next_ms) <= ?");
    if (!q) {
        *err = notify_db_fail(hub->db, diag, "flushing digests");
        return false;
    }
    sqlite3_bind_int64(q, 1, now);
    char **targets = NULL;
    size_t n = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        targets = ks_xrealloc(targets, (n + 1) * sizeof(char *));
        targets[n++] = col_dup(q, 0);
    }
    sqlite3_finalize(q);
    bool changed = false;
    for (size_t i = 0; i < n && !*err; i++) {
        sqlite3_stmt *m = prep(hub->db, "SELECT id, message_id, action_arn FROM notify_outbox "
                                        "WHERE status = 'grouped' AND target = ? ORDER BY id "
                                        "LIMIT ?");
        if (!m) {
            *err = notify_db_fail(hub->db, diag, "flushing digests");
            break;
        }
        bind_text(m, 1, targets[i]);
        sqlite3_bind_int(m, 2, NOTIFY_DIGEST_MAX_ITEMS);
        int64_t ids[NOTIFY_DIGEST_MAX_ITEMS];
        char *first_mid = NULL, *last_mid = NULL, *action = NULL;
        size_t k = 0;
        while (sqlite3_step(m) == SQLITE_ROW && k < NOTIFY_DIGEST_MAX_ITEMS) {
            ids[k] = sqlite3_column_int64(m, 0);
            if (!first_mid) {
                first_mid = col_dup(m, 1);
                action = col_dup(m, 2);
            }
            free(last_mid);
            last_mid = col_dup(m, 1);
            k++;
        }
        sqlite3_finalize(m);
        if (k == 1) {
            /* alone in its window: goes out as itself, not as a digest */
            if (!exec_id(hub,
                         "UPDATE notify_outbox SET status = 'pending', nogroup = 1, "
                         "next_ms = ? WHERE id = ?",
                         now, ids[0]))
                *err = notify_db_fail(hub->db, diag, "flushing digests");
            changed = true;
        } else if (k > 1) {
            struct ks_buf payload, key;
            ks_buf_init(&payload, 1u << 20);
            ks_buf_init(&key, 1u << 20);
            bool ok = !ks_buf_add(&payload, "[", 1);
            for (size_t j = 0; j < k && ok; j++)
                ok = !ks_buf_addf(&payload, "%s%lld", j ? "," : "", (long long)ids[j]);
            ok = ok && !ks_buf_add(&payload, "]", 1);
            ok = ok &&
                 !ks_buf_addf(&key, "digest\n%s\n%s\n%s\n%zu", targets[i], first_mid, last_mid, k);
            char mid[37];
            notify_uuid(mid, key.data, key.len);
            if (ok && !(*err = begin(hub, diag))) {
                sqlite3_stmt *ins =
                    prep(hub->db, "INSERT OR IGNORE INTO notify_outbox (message_id, kind, "
                                  "action_arn, target, status, created_ms, next_ms, payload, "
                                  "nogroup) VALUES (?, 'digest', ?, ?, 'pending', ?, ?, ?, 1)");
                sqlite3_stmt *upd = prep(hub->db, "UPDATE notify_outbox SET status = "
                                                  "'digested', digest = ? WHERE id = ?");
                ok = ins && upd;
                if (ok) {
                    bind_text(ins, 1, mid);
                    bind_text(ins, 2, action);
                    bind_text(ins, 3, targets[i]);
                    sqlite3_bind_int64(ins, 4, now);
                    sqlite3_bind_int64(ins, 5, now);
                    bind_text(ins, 6, payload.data);
                    ok = step_done(ins);
                }
                int64_t did = ok ? sqlite3_last_insert_rowid(hub->db) : 0;
                for (size_t j = 0; j < k && ok; j++) {
                    sqlite3_bind_int64(upd, 1, did);
                    sqlite3_bind_int64(upd, 2, ids[j]);
                    ok = step_done(upd);
                }
                sqlite3_finalize(ins);
                sqlite3_finalize(upd);
                if (!ok) {
                    *err = notify_db_fail(hub->db, diag, "writing a digest");
                    rollback(hub);
                } else {
                    *err = commit(hub, diag);
                }
                changed = true;
            } else if (!ok) {
                *err = ks_diag_set(diag, KS_E_TOOBIG, SIZE_MAX, "digest payload too large");
            }
            ks_buf_release(&payload);
            ks_buf_release(&key);
        }
        free(first_mid);
        free(last_mid);
        free(action);
    }
    for (size_t i = 0; i < n; i++)
        free(targets[i]);
    free(targets);
    return changed;
}

enum ks_err notify_outbox_flush_groups(struct notify_hub *hub, struct ks_diag *diag)
{
    enum ks_err e = KS_OK;
    int64_t now = notify_now_ms(hub);
    if (!exec_id(hub,
                 "UPDATE notify_outbox SET next_ms = ? WHERE status = 'grouped' AND "
                 "next_ms > ?",
                 now, now))
        return notify_db_fail(hub->db, diag, "flushing digests");
    flush_groups(hub, now, diag, &e);
    return e;
}

#define SCAN_BATCH 64

enum ks_err notify_outbox_claim(struct notify_hub *hub, struct notify_job **out,
                                struct ks_diag *diag)
{
    *out = NULL;
    int64_t now = notify_now_ms(hub);
    enum ks_err e = KS_OK;
    for (int pass = 0; pass < 2 && !*out && !e; pass++) {
        /* rows of targets being delivered to are left out by the query, so
         * a long queue for one subscription cannot hide another's rows */
        struct ks_buf sql;
        ks_buf_init(&sql, 1u << 16);
        enum ks_err se = NOTIFY_LIT(&sql, "SELECT id, message_id, coalesce(message, 0), kind, "
                                          "action_arn, target, attempts, created_ms, "
                                          "coalesce(first_ms, 0), payload, nogroup FROM "
                                          "notify_outbox WHERE status = 'pending' AND "
                                          "next_ms <= ?");
        if (!se && hub->n_inflight) {
            se = NOTIFY_LIT(&sql, " AND target NOT IN (?");
            for (size_t k = 1; k < hub->n_inflight && !se; k++)
                se = NOTIFY_LIT(&sql, ",?");
            if (!se)
                se = NOTIFY_LIT(&sql, ")");
        }
        if (!se)
            se = NOTIFY_LIT(&sql, " ORDER BY next_ms, id LIMIT ?");
        sqlite3_stmt *q = se ? NULL : prep(hub->db, sql.data);
        ks_buf_release(&sql);
        if (!q)
            return notify_db_fail(hub->db, diag, "scanning the outbox");
        int bi = 1;
        sqlite3_bind_int64(q, bi++, now);
        for (size_t k = 0; k < hub->n_inflight; k++)
            bind_text(q, bi++, hub->inflight_targets[k]);
        sqlite3_bind_int(q, bi, SCAN_BATCH);
        struct cand *c = NULL;
        size_t n = 0;
        while (sqlite3_step(q) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(q, 0);
            if (inflight_has(hub, id))
                continue;
            c = ks_xrealloc(c, (n + 1) * sizeof(*c));
            struct cand *x = &c[n++];
            memset(x, 0, sizeof(*x));
            x->id = id;
            x->message_id = col_dup(q, 1);
            x->message = sqlite3_column_int64(q, 2);
            const char *k = (const char *)sqlite3_column_text(q, 3);
            if (!notify_kind_parse(k, &x->kind))
                x->kind = NOTIFY_K_UNKNOWN;
            x->action_arn = col_dup(q, 4);
            x->target = col_dup(q, 5);
            x->attempts = (uint32_t)sqlite3_column_int(q, 6);
            x->created_ms = sqlite3_column_int64(q, 7);
            x->first_ms = sqlite3_column_int64(q, 8);
            x->payload = col_dup(q, 9);
            x->nogroup = sqlite3_column_int(q, 10) != 0;
        }
        sqlite3_finalize(q);
        for (size_t i = 0; i < n && !*out && !e; i++) {
            struct cand *x = &c[i];
            if (target_busy(hub, x->target))
                continue;
            if (x->kind == NOTIFY_K_ACTION) {
                bool have = false;
                pthread_mutex_lock(&hub->cfg_mu);
                for (size_t k = 0; k < hub->n_actions && !have; k++)
                    have = strcmp(hub->actions[k].arn, x->target) == 0;
                pthread_mutex_unlock(&hub->cfg_mu);
                if (!have) {
                    /* its handler is not registered (yet): wait, uncounted */
                    if (!exec_id(hub, "UPDATE notify_outbox SET next_ms = ? WHERE id = ?",
                                 now + 1000, x->id))
                        e = notify_db_fail(hub->db, diag, "deferring an action");
                    continue;
                }
            }
            if ((x->kind == NOTIFY_K_SNS || x->kind == NOTIFY_K_DIGEST) && x->attempts == 0) {
                pthread_mutex_lock(&hub->cfg_mu);
                int64_t window = notify_effective_window(hub, notify_find_sub(hub, x->target));
                pthread_mutex_unlock(&hub->cfg_mu);
                int64_t last = 0;
                if (window > 0 && x->kind == NOTIFY_K_SNS && !x->nogroup &&
                    get_rate(hub, x->target, &last) && last <= now && now < last + window) {
                    /* inside the window of the last send: wait for the digest
                     * at the window's end (at once while draining) */
                    if (!exec_id(hub,
                                 "UPDATE notify_outbox SET status = 'grouped', next_ms = ? "
                                 "WHERE id = ?",
                                 hub->draining ? now : last + window, x->id))
                        e = notify_db_fail(hub->db, diag, "grouping a row");
                    continue;
                }
                /* every first send (alone, released alone, or a digest)
                 * opens the subscription's next window */
                if (window > 0 && !set_rate(hub, x->target, now))
                    e = notify_db_fail(hub->db, diag, "recording a send");
            }
            if (e)
                break;
            *out = make_job(hub, x, diag, &e);
            if (*out)
                inflight_add(hub, (*out)->row, (*out)->target);
        }
        for (size_t i = 0; i < n; i++)
            cand_release(&c[i]);
        free(c);
        if (!*out && !e && pass == 0 && !flush_groups(hub, now, diag, &e))
            break;
    }
    if (e)
        return e;
    sqlite3_stmt *q = prep(hub->db, "SELECT min(next_ms) FROM notify_outbox WHERE status IN "
                                    "('pending', 'grouped')");
    hub->next_due_ms = INT64_MAX;
    if (q && sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
        hub->next_due_ms = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return KS_OK;
}

/* ---- finishing an attempt ------------------------------------------------------------ */

static void outcome_add(struct notify_outcome_item *it, const char **slot, const char *s)
{
    if (!s) {
        *slot = NULL;
        return;
    }
    char *d = ks_xstrdup(s);
    it->own[it->n_own++] = d;
    *slot = d;
}

void notify_outcomes_free(struct notify_outcome_item *outs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < outs[i].n_own; k++)
            free(outs[i].own[k]);
    free(outs);
}

static const char *outcome_name(enum notify_outcome_kind k)
{
    return k == NOTIFY_OUTCOME_DELIVERED ? "delivered"
           : k == NOTIFY_OUTCOME_RETRY   ? "retry"
                                         : "dead";
}

enum ks_err notify_outbox_finish(struct notify_hub *hub, const struct notify_job *job,
                                 int64_t started_ms, const struct notify_attempt *res,
                                 struct notify_outcome_item **outs, size_t *n_outs,
                                 struct ks_diag *diag)
{
    *outs = NULL;
    *n_outs = 0;
    /* out of the in-flight set first: whatever happens below, the row is
     * claimable again (still pending when this attempt cannot be recorded) */
    inflight_del(hub, job->row);
    int64_t now = notify_now_ms(hub);
    struct notify_retry_policy pol;
    pthread_mutex_lock(&hub->cfg_mu);
    notify_effective_retry(hub, job->have_sub ? &job->sub : NULL, &pol);
    pthread_mutex_unlock(&hub->cfg_mu);
    int64_t first = job->first_ms ? job->first_ms : started_ms;
    enum notify_outcome_kind kind;
    struct ks_buf err;
    ks_buf_init(&err, NOTIFY_ERROR_MAX + 128);
    int64_t next = now;
    if (res->res == NOTIFY_OK) {
        kind = NOTIFY_OUTCOME_DELIVERED;
    } else {
        if (ks_buf_add(&err, res->error.data, res->error.len))
            ks_buf_reset(&err);
        if (res->res == NOTIFY_PERMANENT) {
            kind = NOTIFY_OUTCOME_DEAD;
        } else if (job->attempt >= pol.max_attempts) {
            kind = NOTIFY_OUTCOME_DEAD;
            NOTIFY_ADDF(&err, " (dead-lettered after %u attempts)", job->attempt);
        } else if (now - first >= pol.max_age_ms) {
            kind = NOTIFY_OUTCOME_DEAD;
            NOTIFY_ADDF(&err, " (dead-lettered: retrying for over %lld s)",
                        (long long)(pol.max_age_ms / 1000));
        } else {
            kind = NOTIFY_OUTCOME_RETRY;
            int64_t delay = notify_backoff_ms(&pol, job->attempt, notify_random(hub));
            if (res->retry_after_ms >= 0) {
                int64_t ra = res->retry_after_ms < pol.max_retry_after_ms ? res->retry_after_ms
                                                                          : pol.max_retry_after_ms;
                if (ra > delay)
                    delay = ra;
            }
            next = now + (delay > 0 ? delay : 1);
        }
    }
    enum ks_err e = begin(hub, diag);
    if (e) {
        ks_buf_release(&err);
        return e;
    }
    sqlite3_stmt *a = prep(hub->db, "INSERT INTO notify_attempts (outbox, attempt, started_ms, "
                                    "ended_ms, outcome, status, error) VALUES (?,?,?,?,?,?,?)");
    sqlite3_stmt *u = prep(hub->db, "UPDATE notify_outbox SET status = ?, attempts = ?, first_ms "
                                    "= ?, next_ms = ?, done_ms = ?, last_error = ? WHERE id = ?");
    bool ok = a && u;
    if (ok) {
        sqlite3_bind_int64(a, 1, job->row);
        sqlite3_bind_int(a, 2, (int)job->attempt);
        sqlite3_bind_int64(a, 3, started_ms);
        sqlite3_bind_int64(a, 4, now);
        bind_text(a, 5, outcome_name(kind));
        if (res->status)
            sqlite3_bind_int64(a, 6, res->status);
        else
            sqlite3_bind_null(a, 6);
        bind_text(a, 7, err.len ? err.data : NULL);
        ok = step_done(a);
        const char *st = kind == NOTIFY_OUTCOME_DELIVERED ? "delivered"
                         : kind == NOTIFY_OUTCOME_DEAD    ? "dead"
                                                          : "pending";
        bind_text(u, 1, st);
        sqlite3_bind_int(u, 2, (int)job->attempt);
        sqlite3_bind_int64(u, 3, first);
        sqlite3_bind_int64(u, 4, next);
        if (kind == NOTIFY_OUTCOME_RETRY)
            sqlite3_bind_null(u, 5);
        else
            sqlite3_bind_int64(u, 5, now);
        bind_text(u, 6, err.len ? err.data : NULL);
        sqlite3_bind_int64(u, 7, job->row);
        ok = ok && step_done(u);
    }
    if (ok && job->kind == NOTIFY_K_DIGEST && kind != NOTIFY_OUTCOME_RETRY)
        ok = exec_id(hub, "UPDATE notify_outbox SET done_ms = ? WHERE digest = ?", now, job->row);
    sqlite3_finalize(a);
    sqlite3_finalize(u);
    if (!ok) {
        e = notify_db_fail(hub->db, diag, "recording an attempt");
        rollback(hub);
        ks_buf_release(&err);
        return e;
    }
    if ((e = commit(hub, diag))) {
        ks_buf_release(&err);
        return e;
    }
    /* outcomes for the alarm history: one per alarm message carried */
    if (job->kind != NOTIFY_K_CONFIRM && job->n_msgs) {
        struct notify_outcome_item *it = ks_xcalloc(job->n_msgs, sizeof(*it));
        struct ks_buf pub;
        ks_buf_init(&pub, 4 * NOTIFY_MESSAGE_MAX);
        for (size_t i = 0; i < job->n_msgs; i++) {
            const struct notify_msgrow *m = &job->msgs[i];
            struct notify_outcome *o = &it[i].o;
            o->kind = kind;
            o->alarm_type = m->alarm_type && strcmp(m->alarm_type, "CompositeAlarm") == 0
                                ? ALARM_TYPE_COMPOSITE
                                : ALARM_TYPE_METRIC;
            o->state_update_ms = m->transition_ms;
            o->time_ms = now;
            o->attempt = job->attempt;
            outcome_add(&it[i], &o->message_id, m->outbox_message_id);
            outcome_add(&it[i], &o->alarm_name, m->alarm_name);
            outcome_add(&it[i], &o->alarm_arn, m->alarm_arn);
            outcome_add(&it[i], &o->new_state, m->new_state);
            outcome_add(&it[i], &o->action_arn, m->action_arn);
            outcome_add(&it[i], &o->subscription_arn,
                        job->kind == NOTIFY_K_SNS || job->kind == NOTIFY_K_DIGEST ? job->target
                                                                                  : NULL);
            outcome_add(&it[i], &o->protocol,
                        job->kind == NOTIFY_K_ACTION ? "action"
                        : job->have_sub              ? notify_proto_name(job->sub.proto)
                                                     : notify_kind_name(job->kind));
            ks_buf_reset(&pub);
            outcome_add(&it[i], &o->published_message,
                        notify_render_published(m, &pub) ? NULL : pub.data);
            outcome_add(&it[i], &o->error, kind == NOTIFY_OUTCOME_DELIVERED ? NULL : err.data);
            outcome_add(&it[i], &o->digest_id,
                        job->kind == NOTIFY_K_DIGEST ? job->message_id : NULL);
        }
        ks_buf_release(&pub);
        *outs = it;
        *n_outs = job->n_msgs;
    }
    ks_buf_release(&err);
    return KS_OK;
}

enum ks_err notify_outbox_stats(struct notify_hub *hub, struct notify_stats *out,
                                struct ks_diag *diag)
{
    memset(out, 0, sizeof(*out));
    out->next_due_ms = INT64_MAX;
    sqlite3_stmt *q = prep(hub->db, "SELECT status, count(*), min(next_ms) FROM notify_outbox "
                                    "GROUP BY status");
    if (!q)
        return notify_db_fail(hub->db, diag, "counting the outbox");
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(q, 0);
        uint64_t n = (uint64_t)sqlite3_column_int64(q, 1);
        int64_t next = sqlite3_column_int64(q, 2);
        if (!s)
            continue;
        if (strcmp(s, "pending") == 0 || strcmp(s, "grouped") == 0) {
            if (next < out->next_due_ms)
                out->next_due_ms = next;
        }
        if (strcmp(s, "pending") == 0)
            out->pending = n;
        else if (strcmp(s, "grouped") == 0)
            out->grouped = n;
        else if (strcmp(s, "held") == 0)
            out->held = n;
        else if (strcmp(s, "delivered") == 0)
            out->delivered = n;
        else if (strcmp(s, "dead") == 0)
            out->dead = n;
        else if (strcmp(s, "digested") == 0)
            out->digested = n;
    }
    sqlite3_finalize(q);
    out->inflight = hub->n_inflight;
    out->pending = out->pending >= out->inflight ? out->pending - out->inflight : 0;
    return KS_OK;
}
