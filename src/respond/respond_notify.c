/* SPDX-License-Identifier: Apache-2.0 */
/*
 * respond: responses as notify actions.
 *
 * An alarm names a response in AlarmActions like a topic; notify writes one
 * outbox row per action in the same transaction as the state change, and a
 * worker calls respond_notify_action for it, retrying on a positive return
 * and dead-lettering on a negative one. The row's MessageId, stable per
 * (alarm, transition, action), becomes the trigger id, so a retried or
 * re-delivered row never acts twice on a target.
 */
#include "respond/respond_int.h"

#include "notify/notify.h"

/* At most this many values of each context list reach target selection. */
#define RESPOND_CONTEXT_MAX 100

void respond_context_from_notify(const struct notify_context *nc, const char *trigger_id,
                                 const char *alarm_name, int64_t state_update_ms,
                                 struct respond_context_view *out)
{
    memset(out, 0, sizeof(*out));
    out->ctx.trigger_id = trigger_id;
    out->ctx.alarm_name = alarm_name;
    out->ctx.state_update_ms = state_update_ms;
    if (!nc)
        return;
    const struct notify_context_top *lists[3] = {&nc->principals, &nc->keys, &nc->source_ips};
    size_t n[3], total = 0;
    for (int i = 0; i < 3; i++) {
        n[i] = lists[i]->v ? lists[i]->n : 0;
        if (n[i] > RESPOND_CONTEXT_MAX)
            n[i] = RESPOND_CONTEXT_MAX;
        total += n[i];
    }
    out->v = ks_xcalloc(total ? total : 1, sizeof(*out->v));
    size_t o = 0;
    const char **start[3];
    for (int i = 0; i < 3; i++) {
        start[i] = out->v + o;
        for (size_t j = 0; j < n[i]; j++)
            if (lists[i]->v[j].value && *lists[i]->v[j].value)
                out->v[o++] = lists[i]->v[j].value;
        n[i] = (size_t)(out->v + o - start[i]);
    }
    out->ctx.principals = start[0];
    out->ctx.n_principals = n[0];
    out->ctx.keys = start[1];
    out->ctx.n_keys = n[1];
    out->ctx.source_ips = start[2];
    out->ctx.n_source_ips = n[2];
}

void respond_context_view_release(struct respond_context_view *v)
{
    free(v->v);
    memset(v, 0, sizeof(*v));
}

int respond_notify_action(void *ud, const char *action_arn, const char *message_json,
                          const struct notify_context *ctx, struct ks_buf *error_out)
{
    struct respond *r = ud;
    const struct notify_delivery_info *info = notify_current_delivery();
    struct respond_context_view view;
    respond_context_from_notify(ctx, info ? info->message_id : NULL, info ? info->alarm_name : NULL,
                                info ? info->state_update_ms : 0, &view);
    struct respond_result res;
    respond_result_init(&res);
    int status = respond_execute(r, action_arn, message_json, &view.ctx, &res);
    if (status && error_out && ks_buf_add(error_out, res.error.data, res.error.len)) {
        /* error_out's cap: the reason is cut */
    }
    respond_result_release(&res);
    respond_context_view_release(&view);
    return status;
}

enum ks_err respond_register(struct respond *r, struct notify_hub *hub, struct ks_diag *diag)
{
    for (size_t i = 0; i < r->n_defs; i++) {
        const struct respond_def *d = r->defs[i];
        enum ks_err e = notify_hub_register_action(hub, d->arn, respond_notify_action, r);
        if (!e)
            e = notify_hub_register_action(hub, d->name, respond_notify_action, r);
        if (e)
            return ks_diag_set(diag, e, SIZE_MAX,
                               "respond: cannot register response '%s' with the notification "
                               "hub (%s): is a topic or another action named the same?",
                               d->name, ks_strerror(e));
    }
    return KS_OK;
}
