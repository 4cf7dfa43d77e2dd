/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the alarms' actions did, for the dashboard and scripts: the delivery
 * attempts (/api/deliveries) and the responses (/api/responses), newest
 * first, from the engine's bounded rings (serve.h, "actions"), and their
 * counters for Prometheus.
 */
#include "http/http_int.h"

void http_deliveries(struct http_req *r)
{
    struct serve_engine *e = r->srv->engine;
    r->content_type = "application/json";
    serve_engine_lock(e);
    struct serve_action_stats st;
    serve_engine_action_stats(e, &st);
    http_out(r, "{\"enqueued\":%llu,\"delivered\":%llu,\"failed\":%llu,\"deliveries\":[",
             (unsigned long long)st.enqueued, (unsigned long long)st.delivered,
             (unsigned long long)st.failed);
    size_t n = serve_engine_delivery_count(e);
    for (size_t k = 0; k < n; k++) {
        const struct serve_delivery *d = serve_engine_delivery(e, n - 1 - k);
        http_out(r, "%s{\"time\":\"", k ? "," : "");
        http_out_iso(r, d->time_ms);
        http_out(r, "\",\"stateChangeTime\":\"");
        http_out_iso(r, d->state_update_ms);
        http_out(r, "\",\"alarm\":");
        http_out_json_str(r, d->alarm);
        http_out(r, ",\"newState\":");
        http_out_json_str(r, d->new_state);
        http_out(r, ",\"action\":");
        http_out_json_str(r, d->action);
        http_out(r, ",\"target\":");
        http_out_json_str(r, d->target);
        http_out(r, ",\"protocol\":");
        http_out_json_str(r, d->protocol);
        http_out(r, ",\"messageId\":");
        http_out_json_str(r, d->message_id);
        http_out(r, ",\"attempt\":%u,\"status\":\"%s\"", d->attempt,
                 !d->error  ? "delivered"
                 : d->final ? "failed"
                            : "retrying");
        if (d->error) {
            http_out(r, ",\"error\":");
            http_out_json_str(r, d->error);
        }
        http_out(r, "}");
    }
    http_out(r, "]}\n");
    serve_engine_unlock(e);
}

void http_responses(struct http_req *r)
{
    struct serve_engine *e = r->srv->engine;
    r->content_type = "application/json";
    serve_engine_lock(e);
    http_out(r, "{\"responses\":[");
    size_t n = serve_engine_response_count(e);
    for (size_t k = 0; k < n; k++) {
        const struct serve_response *x = serve_engine_response_at(e, n - 1 - k);
        http_out(r, "%s{\"time\":\"", k ? "," : "");
        http_out_iso(r, x->time_ms);
        http_out(r, "\",\"response\":");
        http_out_json_str(r, x->name);
        http_out(r, ",\"alarm\":");
        http_out_json_str(r, x->alarm);
        http_out(r, ",\"revert\":%s,\"dryRun\":%s,\"summary\":", x->revert ? "true" : "false",
                 x->dry_run ? "true" : "false");
        http_out_json_str(r, x->summary);
        /* details is a JSON object the responder built; pass it through */
        http_out(r, ",\"details\":%s,\"status\":\"%s\"", x->details, x->error ? "failed" : "ok");
        if (x->error) {
            http_out(r, ",\"error\":");
            http_out_json_str(r, x->error);
        }
        http_out(r, "}");
    }
    http_out(r, "]}\n");
    serve_engine_unlock(e);
}

void http_actions_prometheus(struct http_req *r)
{
    struct serve_engine *e = r->srv->engine;
    struct serve_action_stats st;
    serve_engine_action_stats(e, &st); /* lock held by the caller */
    http_out(r,
             "# HELP keysentry_actions_enqueued_total Outbox rows written for state changes.\n"
             "# TYPE keysentry_actions_enqueued_total counter\n"
             "keysentry_actions_enqueued_total %llu\n"
             "# HELP keysentry_actions_enqueue_failures_total State changes whose actions could "
             "not be queued.\n"
             "# TYPE keysentry_actions_enqueue_failures_total counter\n"
             "keysentry_actions_enqueue_failures_total %llu\n"
             "# HELP keysentry_actions_delivered_total Actions delivered (final outcomes).\n"
             "# TYPE keysentry_actions_delivered_total counter\n"
             "keysentry_actions_delivered_total %llu\n"
             "# HELP keysentry_actions_failed_total Actions dead-lettered (final outcomes).\n"
             "# TYPE keysentry_actions_failed_total counter\n"
             "keysentry_actions_failed_total %llu\n",
             (unsigned long long)st.enqueued, (unsigned long long)st.enqueue_failures,
             (unsigned long long)st.delivered, (unsigned long long)st.failed);
}
