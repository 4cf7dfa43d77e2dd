/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hub: lifecycle, worker threads, drain, outcomes, and the HTTP
 * endpoints of the SNS flow (docs/notifications.md#outbox).
 *
 * DESIGN. Rows are written by the caller (notify_hub_enqueue, in its own
 * transaction); workers find them by polling the outbox through the hub's
 * own connection. A worker holds hub->mu while it touches that connection
 * (claim, record) and releases it for the slow part (the network, a child
 * process, a handler). The caller cannot tell us when it commits, so an
 * enqueue starts a short fast-poll period for one idle worker (the
 * "poller"), and notify_hub_kick after the commit wakes everyone at once.
 * Otherwise idle workers sleep until the earliest next attempt, at most a
 * second. Outcome callbacks run on the worker, outside every lock.
 */
#include <curl/curl.h>
#include <libgen.h>

#include "notify/notify_int.h"

#define FAST_POLL_MS 5
#define IDLE_POLL_MS 1000

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
    /* once per process, before any thread uses libcurl */
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup0(const char *s)
{
    return s ? ks_xstrdup(s) : NULL;
}

static void free_opts(struct notify_options *o)
{
    free((char *)(uintptr_t)o->data_dir);
    free((char *)(uintptr_t)o->public_url);
    free((char *)(uintptr_t)o->signing_cert_url);
    free((char *)(uintptr_t)o->format.region_name);
    free((char *)(uintptr_t)o->format.console_url);
    free((char *)(uintptr_t)o->smtp_url);
    free((char *)(uintptr_t)o->smtp_from);
}

static void timed_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (ms < 1)
        ms = 1;
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(cv, mu, &ts);
}

enum ks_err notify_hub_new(struct store *st, const struct notify_options *opts,
                           struct notify_hub **out, struct ks_diag *diag)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init);
    struct notify_hub *hub = ks_xcalloc(1, sizeof(*hub));
    if (opts)
        hub->opts = *opts;
    /* the option strings are copied: the caller's may not outlive this call */
    hub->opts.data_dir = dup0(hub->opts.data_dir);
    hub->opts.public_url = dup0(hub->opts.public_url);
    hub->opts.signing_cert_url = dup0(hub->opts.signing_cert_url);
    hub->opts.format.region_name = dup0(hub->opts.format.region_name);
    hub->opts.format.console_url = dup0(hub->opts.format.console_url);
    hub->opts.smtp_url = dup0(hub->opts.smtp_url);
    hub->opts.smtp_from = dup0(hub->opts.smtp_from);
    hub->st = st;
    hub->cdb = store_db(st);
    hub->next_due_ms = INT64_MAX;
    atomic_init(&hub->hint_until, 0);
    atomic_init(&hub->kicked, false);
    pthread_mutex_init(&hub->mu, NULL);
    pthread_mutex_init(&hub->cfg_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&hub->cv, &ca);
    pthread_cond_init(&hub->done_cv, &ca);
    pthread_condattr_destroy(&ca);
    notify_settings_init(hub);
    enum ks_err e = KS_OK;
    const char *fn = sqlite3_db_filename(hub->cdb, "main");
    if (!fn || !*fn) {
        e = ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                        "notifications need a database file (the workers open their own "
                        "connection to it)");
        goto out;
    }
    hub->db_path = ks_xstrdup(fn);
    if (sqlite3_open_v2(fn, &hub->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        e = notify_db_fail(hub->db, diag, "opening a second connection");
        goto out;
    }
    /* long enough for the caller's transactions, which hold the write lock */
    sqlite3_busy_timeout(hub->db, 30000);
    if ((e = notify_db_exec(hub, hub->db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON",
                            diag)))
        goto out;
    char *dir;
    if (hub->opts.data_dir) {
        dir = ks_xstrdup(hub->opts.data_dir);
    } else {
        char *tmp = ks_xstrdup(fn);
        dir = ks_xstrdup(dirname(tmp));
        free(tmp);
    }
    e = notify_signer_load(dir, &hub->signer, diag);
    free(dir);
out:
    if (e) {
        notify_hub_free(hub);
        return e;
    }
    *out = hub;
    return KS_OK;
}

enum ks_err notify_hub_configure(struct notify_hub *hub, const struct config_template *t,
                                 struct ks_diag *diag)
{
    pthread_mutex_lock(&hub->mu);
    pthread_mutex_lock(&hub->cfg_mu);
    for (size_t i = 0; i < hub->n_subs; i++)
        notify_sub_release(&hub->subs[i]);
    for (size_t i = 0; i < hub->n_topics; i++)
        notify_topic_release(&hub->topics[i]);
    free(hub->subs);
    free(hub->topics);
    hub->subs = NULL;
    hub->topics = NULL;
    hub->n_subs = hub->n_topics = 0;
    enum ks_err e = notify_config_load(hub, t, diag);
    pthread_mutex_unlock(&hub->cfg_mu);
    if (!e)
        e = notify_outbox_sync_subs(hub, diag);
    if (!e)
        hub->configured = true;
    pthread_mutex_unlock(&hub->mu);
    return e;
}

size_t notify_hub_warning_count(const struct notify_hub *hub)
{
    return hub->n_warnings;
}

const char *notify_hub_warning(const struct notify_hub *hub, size_t i)
{
    return i < hub->n_warnings ? hub->warnings[i] : NULL;
}

enum ks_err notify_hub_register_action(struct notify_hub *hub, const char *arn,
                                       notify_action_fn *fn, void *ud)
{
    if (!arn || !*arn || !fn)
        return KS_E_INVALID;
    pthread_mutex_lock(&hub->cfg_mu);
    bool taken = notify_find_topic(hub, arn) != NULL;
    for (size_t i = 0; i < hub->n_actions && !taken; i++)
        taken = strcmp(hub->actions[i].arn, arn) == 0;
    if (!taken) {
        hub->actions = ks_xrealloc(hub->actions, (hub->n_actions + 1) * sizeof(*hub->actions));
        hub->actions[hub->n_actions++] = (struct notify_action_reg){ks_xstrdup(arn), fn, ud};
    }
    pthread_mutex_unlock(&hub->cfg_mu);
    if (!taken)
        notify_hub_kick(hub);
    return taken ? KS_E_INVALID : KS_OK;
}

/* ---- delivering ------------------------------------------------------------------------ */

static void publish_outcomes(struct notify_hub *hub, struct notify_outcome_item *outs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (hub->opts.on_outcome)
            hub->opts.on_outcome(hub->opts.outcome_ud, &outs[i].o);
    if (!hub->opts.queue_outcomes) {
        notify_outcomes_free(outs, n);
        return;
    }
    pthread_mutex_lock(&hub->cfg_mu);
    for (size_t i = 0; i < n; i++) {
        if (hub->n_outq >= NOTIFY_OUTCOME_QUEUE_MAX) {
            hub->out_dropped++;
            for (size_t k = 0; k < outs[i].n_own; k++)
                free(outs[i].own[k]);
            continue;
        }
        if (hub->n_outq == hub->cap_outq) {
            hub->cap_outq = hub->cap_outq ? 2 * hub->cap_outq : 64;
            hub->outq = ks_xrealloc(hub->outq, hub->cap_outq * sizeof(*hub->outq));
        }
        hub->outq[hub->n_outq++] = outs[i]; /* takes the strings over */
    }
    pthread_mutex_unlock(&hub->cfg_mu);
    free(outs);
}

/* Delivers one claimed job: called and returns with hub->mu held. */
static void run_job(struct notify_hub *hub, struct notify_job *job)
{
    hub->active++;
    pthread_mutex_unlock(&hub->mu);
    int64_t started = notify_now_ms(hub);
    struct notify_attempt res;
    memset(&res, 0, sizeof(res));
    ks_buf_init(&res.error, NOTIFY_ERROR_MAX + 1);
    notify_sink_deliver(hub, job, &res);
    pthread_mutex_lock(&hub->mu);
    struct notify_outcome_item *outs = NULL;
    size_t n_outs = 0;
    struct ks_diag d;
    ks_diag_clear(&d);
    if (notify_outbox_finish(hub, job, started, &res, &outs, &n_outs, &d)) {
        /* the row stays pending: it will be tried again (at least once) */
        fprintf(stderr, "keysentry: notify: %s\n", d.msg);
    }
    pthread_mutex_unlock(&hub->mu);
    if (n_outs)
        publish_outcomes(hub, outs, n_outs);
    else
        notify_outcomes_free(outs, n_outs);
    ks_buf_release(&res.error);
    notify_job_free(job);
    pthread_mutex_lock(&hub->mu);
    /* drain returns only after the callbacks: the caller records history */
    hub->active--;
    pthread_cond_broadcast(&hub->done_cv);
}

struct worker {
    struct notify_hub *hub;
    int id;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct notify_hub *hub = w->hub;
    int64_t backoff_until = 0;
    pthread_mutex_lock(&hub->mu);
    while (!hub->stop) {
        struct notify_job *job = NULL;
        struct ks_diag d;
        ks_diag_clear(&d);
        if (notify_mono_ms() >= backoff_until && notify_outbox_claim(hub, &job, &d)) {
            fprintf(stderr, "keysentry: notify: %s\n", d.msg);
            backoff_until = notify_mono_ms() + IDLE_POLL_MS; /* a database hiccup: wait */
        }
        if (job) {
            pthread_cond_signal(&hub->cv); /* there may be more: wake a colleague */
            run_job(hub, job);
            continue;
        }
        int64_t wait = IDLE_POLL_MS;
        if (hub->next_due_ms != INT64_MAX) {
            int64_t until = hub->next_due_ms - notify_now_ms(hub);
            if (until < wait)
                wait = until;
        }
        if ((int64_t)atomic_load(&hub->hint_until) > notify_mono_ms() &&
            (hub->poller == 0 || hub->poller == w->id)) {
            hub->poller = w->id;
            if (wait > FAST_POLL_MS)
                wait = FAST_POLL_MS;
        } else if (hub->poller == w->id) {
            hub->poller = 0;
        }
        if (atomic_exchange(&hub->kicked, false))
            continue; /* rows were committed since the scan: look again */
        timed_wait(&hub->cv, &hub->mu, wait);
    }
    if (hub->poller == w->id)
        hub->poller = 0;
    pthread_mutex_unlock(&hub->mu);
    free(w);
    return NULL;
}

enum ks_err notify_hub_start(struct notify_hub *hub, struct ks_diag *diag)
{
    if (hub->started || hub->opts.manual)
        return KS_OK;
    unsigned n = hub->set.workers ? hub->set.workers : NOTIFY_DEFAULT_WORKERS;
    hub->threads = ks_xcalloc(n, sizeof(pthread_t));
    for (unsigned i = 0; i < n; i++) {
        struct worker *w = ks_xmalloc(sizeof(*w));
        *w = (struct worker){hub, (int)i + 1};
        int rc = pthread_create(&hub->threads[i], NULL, worker_main, w);
        if (rc) {
            free(w);
            pthread_mutex_lock(&hub->mu);
            hub->stop = true;
            pthread_cond_broadcast(&hub->cv);
            pthread_mutex_unlock(&hub->mu);
            for (size_t k = 0; k < hub->n_threads; k++)
                pthread_join(hub->threads[k], NULL);
            hub->n_threads = 0;
            hub->stop = false;
            return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot start a notification worker: %s",
                               strerror(rc));
        }
        hub->n_threads++;
    }
    hub->started = true;
    return KS_OK;
}

enum ks_err notify_hub_enqueue(struct notify_hub *hub, const struct notify_event *ev,
                               struct notify_enqueue_result *res, struct ks_diag *diag)
{
    return notify_outbox_enqueue(hub, ev, res, diag);
}

void notify_hub_kick(struct notify_hub *hub)
{
    /* no lock: a caller that kicks inside its own transaction must not wait
     * for a worker that waits for that transaction. A wake-up lost between a
     * worker's check and its wait costs one fast poll (FAST_POLL_MS). */
    atomic_store(&hub->hint_until, (long long)(notify_mono_ms() + 3000));
    atomic_store(&hub->kicked, true);
    pthread_cond_broadcast(&hub->cv);
}

enum ks_err notify_hub_run_due(struct notify_hub *hub, size_t *ran, struct ks_diag *diag)
{
    size_t n = 0;
    enum ks_err e = KS_OK;
    pthread_mutex_lock(&hub->mu);
    for (;;) {
        struct notify_job *job = NULL;
        if ((e = notify_outbox_claim(hub, &job, diag)) || !job)
            break;
        run_job(hub, job);
        n++;
    }
    pthread_mutex_unlock(&hub->mu);
    if (ran)
        *ran = n;
    return e;
}

enum ks_err notify_hub_stats(struct notify_hub *hub, struct notify_stats *out, struct ks_diag *diag)
{
    pthread_mutex_lock(&hub->mu);
    enum ks_err e = notify_outbox_stats(hub, out, diag);
    pthread_mutex_unlock(&hub->mu);
    return e;
}

enum ks_err notify_hub_drain(struct notify_hub *hub, int64_t timeout_ms, struct notify_stats *left,
                             struct ks_diag *diag)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : notify_mono_ms() + timeout_ms;
    struct notify_stats st;
    memset(&st, 0, sizeof(st));
    pthread_mutex_lock(&hub->mu);
    hub->draining++;
    enum ks_err e = notify_outbox_flush_groups(hub, diag);
    pthread_cond_broadcast(&hub->cv);
    while (!e) {
        if ((e = notify_outbox_stats(hub, &st, diag)))
            break;
        if (st.pending + st.grouped + st.inflight == 0 && hub->active == 0)
            break;
        int64_t now = notify_mono_ms();
        if (now >= deadline) {
            e = ks_diag_set(diag, KS_E_LIMIT, SIZE_MAX,
                            "notifications not drained in time: %llu pending, %llu in flight, "
                            "%llu grouped",
                            (unsigned long long)st.pending, (unsigned long long)st.inflight,
                            (unsigned long long)st.grouped);
            break;
        }
        if (st.grouped && (e = notify_outbox_flush_groups(hub, diag)))
            break;
        int64_t wait = deadline - now < 100 ? deadline - now : 100;
        if (hub->opts.manual || !hub->started) {
            pthread_mutex_unlock(&hub->mu);
            size_t ran = 0;
            e = notify_hub_run_due(hub, &ran, diag);
            pthread_mutex_lock(&hub->mu);
            if (!e && !ran) {
                int64_t due = st.next_due_ms - notify_now_ms(hub);
                if (due < wait)
                    wait = due;
                timed_wait(&hub->done_cv, &hub->mu, wait);
            }
        } else {
            pthread_cond_broadcast(&hub->cv);
            timed_wait(&hub->done_cv, &hub->mu, wait);
        }
    }
    hub->draining--;
    pthread_mutex_unlock(&hub->mu);
    if (left)
        *left = st;
    return e;
}

size_t notify_hub_poll_outcomes(struct notify_hub *hub, notify_outcome_fn *fn, void *ud,
                                uint64_t *dropped)
{
    pthread_mutex_lock(&hub->cfg_mu);
    struct notify_outcome_item *q = hub->outq;
    size_t n = hub->n_outq;
    hub->outq = NULL;
    hub->n_outq = hub->cap_outq = 0;
    if (dropped)
        *dropped = hub->out_dropped;
    hub->out_dropped = 0;
    pthread_mutex_unlock(&hub->cfg_mu);
    for (size_t i = 0; i < n; i++)
        if (fn)
            fn(ud, &q[i].o);
    notify_outcomes_free(q, n);
    return n;
}

const char *notify_hub_signing_cert_pem(const struct notify_hub *hub)
{
    return notify_signer_cert_pem(hub->signer);
}

enum ks_err notify_hub_confirm_subscription(struct notify_hub *hub, const char *topic_arn,
                                            const char *token, char **sub_arn, struct ks_diag *diag)
{
    pthread_mutex_lock(&hub->mu);
    enum ks_err e = notify_outbox_confirm(hub, topic_arn, token, sub_arn, diag);
    pthread_mutex_unlock(&hub->mu);
    if (!e)
        notify_hub_kick(hub);
    return e;
}

/* ---- HTTP endpoints ----------------------------------------------------------------------- */

/* The decoded value of key in a query string, or NULL (caller frees). */
static char *query_get(const char *query, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = query; p && *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            char *v = ks_xmalloc(len - kl);
            size_t o = 0;
            for (size_t i = kl + 1; i < len; i++) {
                if (p[i] == '%' && i + 2 < len + 1 && ks_hexval(p[i + 1]) >= 0 &&
                    ks_hexval(p[i + 2]) >= 0) {
                    v[o++] = (char)(ks_hexval(p[i + 1]) * 16 + ks_hexval(p[i + 2]));
                    i += 2;
                } else {
                    v[o++] = p[i] == '+' ? ' ' : p[i];
                }
            }
            v[o] = '\0';
            return v;
        }
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

static enum ks_err xml_text(struct ks_buf *b, const char *s)
{
    for (; *s; s++) {
        enum ks_err e;
        switch (*s) {
        case '<':
            e = ks_buf_add(b, "&lt;", 4);
            break;
        case '>':
            e = ks_buf_add(b, "&gt;", 4);
            break;
        case '&':
            e = ks_buf_add(b, "&amp;", 5);
            break;
        case '"':
            e = ks_buf_add(b, "&quot;", 6);
            break;
        default:
            e = ks_buf_add(b, s, 1);
        }
        if (e)
            return e;
    }
    return KS_OK;
}

static void reply_error(struct notify_http_reply *r, int status, const char *code, const char *msg)
{
    char rid[37];
    notify_uuid(rid, msg, strlen(msg));
    r->status = status;
    r->content_type = "text/xml";
    NOTIFY_ADDF(&r->body,
                "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">"
                "\n  <Error>\n    <Type>Sender</Type>\n    <Code>%s</Code>\n    "
                "<Message>",
                code);
    (void)xml_text(&r->body, msg);
    NOTIFY_ADDF(&r->body,
                "</Message>\n  </Error>\n  <RequestId>%s</RequestId>\n"
                "</ErrorResponse>\n",
                rid);
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && strncmp(s + n - k, suffix, k) == 0;
}

bool notify_hub_http(struct notify_hub *hub, const char *method, const char *target,
                     struct notify_http_reply *reply)
{
    const char *q = strchr(target, '?');
    size_t plen = q ? (size_t)(q - target) : strlen(target);
    const char *query = q ? q + 1 : "";
    char *action = query_get(query, "Action");
    bool cert = ends_with(target, plen, NOTIFY_CERT_PATH);
    bool unsub_page = ends_with(target, plen, "/unsubscribe.html");
    bool ours = cert || unsub_page ||
                (action && (strcmp(action, "ConfirmSubscription") == 0 ||
                            strcmp(action, "Unsubscribe") == 0));
    if (!ours) {
        free(action);
        return false;
    }
    ks_buf_init(&reply->body, 1u << 20);
    reply->content_type = "text/plain";
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        reply_error(reply, 405, "InvalidAction", "use GET");
        free(action);
        return true;
    }
    char rid[37];
    notify_uuid(rid, target, strlen(target));
    struct ks_diag d;
    ks_diag_clear(&d);
    if (cert) {
        reply->status = 200;
        reply->content_type = "application/x-pem-file";
        NOTIFY_ADDF(&reply->body, "%s", notify_hub_signing_cert_pem(hub));
    } else if (action && strcmp(action, "ConfirmSubscription") == 0) {
        char *topic = query_get(query, "TopicArn");
        char *token = query_get(query, "Token");
        char *sub = NULL;
        if (!topic || !token) {
            reply_error(reply, 400, "InvalidParameter", "TopicArn and Token are required");
        } else if (notify_hub_confirm_subscription(hub, topic, token, &sub, &d)) {
            reply_error(reply, d.err == KS_E_NOTFOUND ? 404 : 500,
                        d.err == KS_E_NOTFOUND ? "NotFound" : "InternalError",
                        d.err == KS_E_NOTFOUND ? "Invalid token" : "internal error");
        } else {
            reply->status = 200;
            reply->content_type = "text/xml";
            NOTIFY_ADDF(&reply->body,
                        "<ConfirmSubscriptionResponse xmlns=\"http://sns.amazonaws.com/doc/"
                        "2010-03-31/\">\n  <ConfirmSubscriptionResult>\n    "
                        "<SubscriptionArn>");
            (void)xml_text(&reply->body, sub);
            NOTIFY_ADDF(&reply->body,
                        "</SubscriptionArn>\n  </ConfirmSubscriptionResult>\n  "
                        "<ResponseMetadata>\n    <RequestId>%s</RequestId>\n  "
                        "</ResponseMetadata>\n</ConfirmSubscriptionResponse>\n",
                        rid);
        }
        free(topic);
        free(token);
        free(sub);
    } else {
        char *sub = query_get(query, "SubscriptionArn");
        enum ks_err e = KS_E_INVALID;
        if (sub) {
            pthread_mutex_lock(&hub->mu);
            e = notify_outbox_unsubscribe(hub, sub, &d);
            pthread_mutex_unlock(&hub->mu);
        }
        if (!sub) {
            reply_error(reply, 400, "InvalidParameter", "SubscriptionArn is required");
        } else if (e) {
            reply_error(reply, e == KS_E_NOTFOUND ? 404 : 500,
                        e == KS_E_NOTFOUND ? "NotFound" : "InternalError",
                        e == KS_E_NOTFOUND ? "Subscription does not exist" : "internal error");
        } else if (unsub_page) {
            reply->status = 200;
            reply->content_type = "text/html; charset=UTF-8";
            NOTIFY_ADDF(&reply->body, "<!DOCTYPE html>\n<title>Unsubscribed</title>\n<p>"
                                      "You have been unsubscribed from ");
            (void)xml_text(&reply->body, sub);
            NOTIFY_ADDF(&reply->body, ".</p>\n");
        } else {
            reply->status = 200;
            reply->content_type = "text/xml";
            NOTIFY_ADDF(&reply->body,
                        "<UnsubscribeResponse xmlns=\"http://sns.amazonaws.com/doc/"
                        "2010-03-31/\">\n  <ResponseMetadata>\n    <RequestId>%s"
                        "</RequestId>\n  </ResponseMetadata>\n</UnsubscribeResponse>\n",
                        rid);
        }
        free(sub);
    }
    free(action);
    return true;
}

void notify_hub_free(struct notify_hub *hub)
{
    if (!hub)
        return;
    pthread_mutex_lock(&hub->mu);
    hub->stop = true;
    pthread_cond_broadcast(&hub->cv);
    pthread_mutex_unlock(&hub->mu);
    for (size_t i = 0; i < hub->n_threads; i++)
        pthread_join(hub->threads[i], NULL);
    free(hub->threads);
    sqlite3_finalize(hub->q_msg_insert);
    sqlite3_finalize(hub->q_msg_find);
    sqlite3_finalize(hub->q_box_insert);
    if (hub->db)
        sqlite3_close(hub->db);
    free(hub->db_path);
    notify_signer_free(hub->signer);
    for (size_t i = 0; i < hub->n_subs; i++)
        notify_sub_release(&hub->subs[i]);
    free(hub->subs);
    for (size_t i = 0; i < hub->n_topics; i++)
        notify_topic_release(&hub->topics[i]);
    free(hub->topics);
    for (size_t i = 0; i < hub->n_actions; i++)
        free(hub->actions[i].arn);
    free(hub->actions);
    for (size_t i = 0; i < hub->n_warnings; i++)
        free(hub->warnings[i]);
    free(hub->warnings);
    notify_outcomes_free(hub->outq, hub->n_outq);
    for (size_t i = 0; i < hub->n_inflight; i++)
        free(hub->inflight_targets[i]);
    free(hub->inflight_targets);
    free(hub->inflight);
    notify_settings_release(&hub->set);
    free_opts(&hub->opts);
    pthread_cond_destroy(&hub->cv);
    pthread_cond_destroy(&hub->done_cv);
    pthread_mutex_destroy(&hub->mu);
    pthread_mutex_destroy(&hub->cfg_mu);
    free(hub);
}
