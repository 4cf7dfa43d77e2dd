/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A state change's actions, live: the outbox (src/notify) gets them with the
 * context of the events behind the change, and what the delivery workers and
 * the responses report comes back into the alarms' history and two bounded
 * rings the JSON API shows (serve.h, "actions").
 */
#include "serve/serve_int.h"

#include "notify/notify.h"
#include "respond/respond.h"

void serve_alarm_window(const struct alarm_def *def, int64_t time_ms, bool early, int64_t *start,
                        int64_t *end)
{
    int64_t step = def->period < 60 ? 10000 : 60000;
    int64_t span = (int64_t)def->period * 1000 * def->evaluation_periods;
    /* an evaluation looks at whole periods before its (truncated) time; an
     * early fire at the periods of the evaluation still to come, the last
     * one running (up to time_ms) */
    int64_t at = time_ms - time_ms % step;
    *end = early ? time_ms + 1 : at;
    *start = (early ? at + step : at) - span;
}

static void ctx_feed(void *ud, const struct metric_event_info *ev)
{
    struct notify_context_event ne = {
        .time_ms = ev->time_ms,
        .event_name = ev->event_name,
        .event_id = ev->event_id,
        .principal = ev->principal,
        .key = ev->key,
        .source_ip = ev->source_ip,
        .error_code = ev->error_code,
        .user_agent = ev->user_agent,
        .file = ev->file,
        .offset = ev->offset,
    };
    notify_context_acc_add(ud, &ne);
}

size_t serve_alarm_context(const struct metric_filters *mf, const struct metric_store *store,
                           const struct alarm_def *def, int64_t start_ms, int64_t end_ms,
                           struct notify_context_acc *acc)
{
    long series = serve_alarm_series(store, def);
    return series < 0 ? 0 : metric_filters_recent(mf, series, start_ms, end_ms, ctx_feed, acc);
}

void serve_engine_set_hub(struct serve_engine *e, struct notify_hub *hub)
{
    serve_engine_lock(e);
    e->hub = hub;
    serve_engine_unlock(e);
}

/* Lock held (called from enqueue_actions in serve_engine.c). */
void serve_actions_enqueue(struct serve_engine *e, const char *name, const struct alarm_change *ch,
                           bool early)
{
    if (!e->hub || ch->n_actions == 0)
        return;
    struct notify_alarm na = {NULL, NULL};
    const struct alarm_def *def = NULL;
    for (size_t i = 0; i < e->nalarms && !na.metric; i++)
        if (!strcmp(alarm_get_def(e->alarms[i].a)->name, name)) {
            na.metric = e->alarms[i].a;
            def = alarm_get_def(na.metric);
        }
    for (size_t i = 0; i < e->ncomps && !na.metric && !na.composite; i++)
        if (!strcmp(alarm_composite_get_def(e->comps[i].c)->name, name))
            na.composite = e->comps[i].c;
    if (!na.metric && !na.composite)
        return;
    struct notify_context_acc *acc = NULL;
    struct notify_context nctx;
    memset(&nctx, 0, sizeof(nctx));
    if (def) {
        int64_t start, end;
        serve_alarm_window(def, ch->time_ms, early, &start, &end);
        acc = notify_context_acc_new();
        serve_alarm_context(e->mf, e->store, def, start, end, acc);
        notify_context_acc_get(acc, start, end, &nctx);
    }
    struct notify_event ev = {.alarm = na, .change = ch, .context = def ? &nctx : NULL};
    struct notify_enqueue_result res;
    struct ks_diag d;
    ks_diag_clear(&d);
    if (notify_hub_enqueue(e->hub, &ev, &res, &d) != KS_OK) {
        /* the state change stands; its actions are lost and said so loudly */
        e->enqueue_failures++;
        serve_log(e, "error", "cannot queue the actions of alarm '%s': %s", name, d.msg);
    } else {
        e->enqueued += res.rows;
        notify_hub_kick(e->hub);
    }
    notify_context_acc_free(acc);
}

static char *dup0(const char *s)
{
    return ks_xstrdup(s ? s : "");
}

static void delivery_release(struct serve_delivery *d)
{
    free(d->alarm);
    free(d->new_state);
    free(d->action);
    free(d->target);
    free(d->protocol);
    free(d->message_id);
    free(d->error);
}

static void response_release(struct serve_response *r)
{
    free(r->name);
    free(r->alarm);
    free(r->summary);
    free(r->details);
    free(r->error);
}

void serve_actions_free(struct serve_engine *e)
{
    for (size_t i = 0; i < e->ndeliveries; i++)
        delivery_release(&e->deliveries[(e->deliveries_head + i) % SERVE_ACTIONS_RING]);
    for (size_t i = 0; i < e->nresponses; i++)
        response_release(&e->responses[(e->responses_head + i) % SERVE_ACTIONS_RING]);
}

void serve_engine_outcome(void *engine, const struct notify_outcome *o)
{
    struct serve_engine *e = engine;
    serve_engine_lock(e);
    /* attempts to retry are shown too (the dashboard's "retrying"), but only
     * final outcomes are alarm history, as CloudWatch records them */
    if (o->kind != NOTIFY_OUTCOME_RETRY) {
        for (size_t i = 0; i < e->nalarms; i++)
            if (!strcmp(alarm_get_def(e->alarms[i].a)->name, o->alarm_name))
                alarm_record_action(e->alarms[i].a, o->time_ms, o->action_arn, o->state_update_ms,
                                    o->published_message, o->error);
        for (size_t i = 0; i < e->ncomps; i++)
            if (!strcmp(alarm_composite_get_def(e->comps[i].c)->name, o->alarm_name))
                alarm_composite_record_action(e->comps[i].c, o->time_ms, o->action_arn,
                                              o->state_update_ms, o->published_message, o->error);
        if (o->error)
            e->deliveries_failed++;
        else
            e->deliveries_ok++;
    }
    if (e->ndeliveries == SERVE_ACTIONS_RING) {
        delivery_release(&e->deliveries[e->deliveries_head]);
        e->deliveries_head = (e->deliveries_head + 1) % SERVE_ACTIONS_RING;
        e->ndeliveries--;
    }
    struct serve_delivery *d =
        &e->deliveries[(e->deliveries_head + e->ndeliveries++) % SERVE_ACTIONS_RING];
    *d = (struct serve_delivery){
        .time_ms = o->time_ms,
        .state_update_ms = o->state_update_ms,
        .attempt = o->attempt,
        .final = o->kind != NOTIFY_OUTCOME_RETRY,
        .alarm = dup0(o->alarm_name),
        .new_state = dup0(o->new_state),
        .action = dup0(o->action_arn),
        .target = dup0(o->subscription_arn ? o->subscription_arn : o->action_arn),
        .protocol = dup0(o->protocol),
        .message_id = dup0(o->message_id),
        .error = o->error ? ks_xstrdup(o->error) : NULL,
    };
    if (!e->opts.quiet)
        serve_log(e, o->error ? "warn" : "info", "action %s (%s) for '%s' -> %s: %s%s%s", d->target,
                  d->protocol, d->alarm, d->new_state,
                  o->error ? (o->kind == NOTIFY_OUTCOME_RETRY ? "failed, will retry" : "failed")
                           : "delivered",
                  o->error ? ": " : "", o->error ? o->error : "");
    serve_engine_unlock(e);
}

void serve_engine_response(void *engine, const struct respond_record *rec)
{
    struct serve_engine *e = engine;
    serve_engine_lock(e);
    if (e->nresponses == SERVE_ACTIONS_RING) {
        response_release(&e->responses[e->responses_head]);
        e->responses_head = (e->responses_head + 1) % SERVE_ACTIONS_RING;
        e->nresponses--;
    }
    struct serve_response *r =
        &e->responses[(e->responses_head + e->nresponses++) % SERVE_ACTIONS_RING];
    *r = (struct serve_response){
        .time_ms = rec->time_ms,
        .state_update_ms = rec->state_update_ms,
        .revert = rec->revert,
        .dry_run = rec->dry_run,
        .name = dup0(rec->response_name),
        .alarm = dup0(rec->alarm_name),
        .summary = dup0(rec->summary),
        .details = ks_xstrdup(rec->details && *rec->details ? rec->details : "{}"),
        .error = rec->error ? ks_xstrdup(rec->error) : NULL,
    };
    if (!e->opts.quiet)
        serve_log(e, rec->error ? "warn" : "info", "response %s%s for '%s': %s%s%s", r->name,
                  r->revert ? " (revert)" : "", r->alarm, r->summary, rec->error ? ": " : "",
                  rec->error ? rec->error : "");
    serve_engine_unlock(e);
}

size_t serve_engine_delivery_count(const struct serve_engine *e)
{
    return e->ndeliveries;
}

const struct serve_delivery *serve_engine_delivery(const struct serve_engine *e, size_t i)
{
    return i < e->ndeliveries ? &e->deliveries[(e->deliveries_head + i) % SERVE_ACTIONS_RING]
                              : NULL;
}

size_t serve_engine_response_count(const struct serve_engine *e)
{
    return e->nresponses;
}

const struct serve_response *serve_engine_response_at(const struct serve_engine *e, size_t i)
{
    return i < e->nresponses ? &e->responses[(e->responses_head + i) % SERVE_ACTIONS_RING] : NULL;
}

void serve_engine_action_stats(const struct serve_engine *e, struct serve_action_stats *out)
{
    out->enqueued = e->enqueued;
    out->enqueue_failures = e->enqueue_failures;
    out->delivered = e->deliveries_ok;
    out->failed = e->deliveries_failed;
}
