/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What each protocol receives for a job: the signed SNS envelope (http,
 * https, email-json, exec, file), the e-mail body with SNS's footer, the
 * Slack blocks, and the digests that stand for several grouped messages
 * (docs/notifications.md#digests).
 */
#include "notify/notify_int.h"

#define TRY(x)                                                                                     \
    do {                                                                                           \
        enum ks_err e_ = (x);                                                                      \
        if (e_)                                                                                    \
            return e_;                                                                             \
    } while (0)

#define DIGEST_RULE "======================================================================\n"

static enum ks_err jstr(struct ks_buf *b, const char *s)
{
    if (!s)
        return ks_buf_add(b, "null", 4);
    TRY(ks_buf_add(b, "\"", 1));
    TRY(ks_buf_add_json_str(b, s, strlen(s)));
    return ks_buf_add(b, "\"", 1);
}

char *notify_unsubscribe_url(struct notify_hub *hub, const char *sub_arn)
{
    struct ks_buf b;
    ks_buf_init(&b, 1u << 16);
    char *out = NULL;
    if (!ks_buf_addf(&b, "%s/?Action=Unsubscribe&SubscriptionArn=", hub->set.public_url) &&
        !notify_url_encode(&b, sub_arn))
        out = ks_xmemdup(b.data, b.len);
    ks_buf_release(&b);
    return out ? out : ks_xstrdup("");
}

char *notify_subscribe_url(struct notify_hub *hub, const char *topic_arn, const char *token)
{
    struct ks_buf b;
    ks_buf_init(&b, 1u << 16);
    char *out = NULL;
    if (!ks_buf_addf(&b, "%s/?Action=ConfirmSubscription&TopicArn=", hub->set.public_url) &&
        !notify_url_encode(&b, topic_arn) && !ks_buf_addf(&b, "&Token=") &&
        !notify_url_encode(&b, token))
        out = ks_xmemdup(b.data, b.len);
    ks_buf_release(&b);
    return out ? out : ks_xstrdup("");
}

enum ks_err notify_render_published(const struct notify_msgrow *m, struct ks_buf *out)
{
    struct notify_message msg = {
        .subject = m->subject,
        .alarm_json = m->alarm_json,
        .email_text = m->email_text,
        .sms_text = m->sms_text,
    };
    return notify_published_message(&msg, out);
}

static int64_t job_time(const struct notify_job *job)
{
    return job->kind == NOTIFY_K_DIGEST || !job->n_msgs ? job->created_ms
                                                        : job->msgs[0].published_ms;
}

enum ks_err notify_render_subject(const struct notify_job *job, struct ks_buf *out)
{
    if (job->kind != NOTIFY_K_DIGEST)
        return job->n_msgs ? ks_buf_addf(out, "%s", job->msgs[0].subject) : KS_OK;
    /* ours; kept under SNS's 100-byte limit by the topic name's cut */
    TRY(ks_buf_addf(out, "DIGEST: %zu alarm notifications from %.50s", job->n_msgs,
                    job->topic.name ? job->topic.name : "a topic"));
    return KS_OK;
}

enum ks_err notify_render_message(const struct notify_job *job, struct ks_buf *out)
{
    if (job->kind != NOTIFY_K_DIGEST)
        return job->n_msgs
                   ? ks_buf_add(out, job->msgs[0].alarm_json, strlen(job->msgs[0].alarm_json))
                   : KS_OK;
    TRY(ks_buf_addf(out,
                    "{\"keysentryDigest\":{\"version\":\"1.0\",\"count\":%zu,"
                    "\"subscriptionArn\":",
                    job->n_msgs));
    TRY(jstr(out, job->target));
    TRY(ks_buf_addf(out, ",\"messages\":["));
    for (size_t i = 0; i < job->n_msgs; i++) {
        const struct notify_msgrow *m = &job->msgs[i];
        char ts[32];
        notify_fmt_sns_time(ts, m->published_ms);
        TRY(ks_buf_addf(out, "%s{\"MessageId\":", i ? "," : ""));
        TRY(jstr(out, m->outbox_message_id));
        TRY(ks_buf_addf(out, ",\"Subject\":"));
        TRY(jstr(out, m->subject));
        TRY(ks_buf_addf(out, ",\"Timestamp\":\"%s\",\"Message\":", ts));
        /* the alarm document as an object: it is our own, valid JSON */
        TRY(ks_buf_add(out, m->alarm_json, strlen(m->alarm_json)));
        TRY(ks_buf_add(out, "}", 1));
    }
    return ks_buf_add(out, "]}}", 3);
}

enum ks_err notify_render_envelope(struct notify_hub *hub, const struct notify_job *job,
                                   bool compact, struct ks_buf *out, struct ks_diag *diag)
{
    struct ks_buf msg, subj, sig;
    ks_buf_init(&msg, 2 * NOTIFY_MESSAGE_MAX + (256u << 10) * NOTIFY_DIGEST_MAX_ITEMS);
    ks_buf_init(&subj, 1024);
    ks_buf_init(&sig, 4096);
    char ts[32];
    notify_fmt_sns_time(ts, job_time(job));
    char *sub_url = NULL, *unsub_url = NULL;
    struct notify_envelope env = {
        .message_id = job->message_id,
        .topic_arn = job->topic.arn,
        .timestamp = ts,
        .signature_version = job->topic.signature_version,
        .signing_cert_url = hub->set.signing_cert_url,
    };
    enum ks_err e;
    if (job->kind == NOTIFY_K_CONFIRM) {
        env.type = "SubscriptionConfirmation";
        env.token = job->payload;
        sub_url = notify_subscribe_url(hub, job->topic.arn, job->payload ? job->payload : "");
        env.subscribe_url = sub_url;
        e = ks_buf_addf(&msg,
                        "You have chosen to subscribe to the topic %s.\nTo confirm the "
                        "subscription, visit the SubscribeURL included in this message.",
                        job->topic.arn);
    } else {
        env.type = "Notification";
        e = notify_render_message(job, &msg);
        if (!e)
            e = notify_render_subject(job, &subj);
        env.subject = subj.len ? subj.data : NULL;
        unsub_url = notify_unsubscribe_url(hub, job->target);
        env.unsubscribe_url = unsub_url;
    }
    env.message = msg.data;
    if (e)
        ks_diag_set(diag, e, SIZE_MAX, "cannot render the message");
    if (!e)
        e = notify_signer_sign(hub->signer, &env, &sig, diag);
    if (!e && (e = notify_sns_body_ex(&env, sig.data, compact, out)))
        ks_diag_set(diag, e, SIZE_MAX, "cannot render the envelope");
    free(sub_url);
    free(unsub_url);
    ks_buf_release(&msg);
    ks_buf_release(&subj);
    ks_buf_release(&sig);
    return e;
}

static enum ks_err footer(struct notify_hub *hub, const struct notify_job *job,
                          const char *endpoint, struct ks_buf *out)
{
    TRY(ks_buf_addf(out,
                    "\n--\nIf you wish to stop receiving notifications from this topic, "
                    "please click or visit the link below to unsubscribe:\n%s/unsubscribe."
                    "html?SubscriptionArn=",
                    hub->set.public_url));
    TRY(notify_url_encode(out, job->target));
    TRY(ks_buf_addf(out, "&Endpoint="));
    TRY(notify_url_encode(out, endpoint ? endpoint : ""));
    return ks_buf_addf(out,
                       "\n\nPlease do not reply directly to this email. If you have any "
                       "questions or comments regarding this email, please contact us at %s\n",
                       hub->set.support_url);
}

enum ks_err notify_render_email_body(struct notify_hub *hub, const struct notify_job *job,
                                     struct ks_buf *out)
{
    const char *endpoint = job->have_sub ? job->sub.endpoint : NULL;
    if (job->kind != NOTIFY_K_DIGEST) {
        if (job->n_msgs)
            TRY(ks_buf_add(out, job->msgs[0].email_text, strlen(job->msgs[0].email_text)));
        return footer(hub, job, endpoint, out);
    }
    int64_t window = notify_effective_window(hub, job->have_sub ? &job->sub : NULL);
    TRY(ks_buf_addf(out,
                    "keysentry grouped %zu alarm notifications for this subscription: it sends "
                    "at most one message per %lld seconds, the first at once and the rest "
                    "together at the end of the window.\n\nSummary (oldest first):\n",
                    job->n_msgs, (long long)(window / 1000)));
    for (size_t i = 0; i < job->n_msgs; i++) {
        char ts[32];
        notify_fmt_sns_time(ts, job->msgs[i].published_ms);
        TRY(ks_buf_addf(out, "- %s  %s\n", ts, job->msgs[i].subject));
    }
    for (size_t i = 0; i < job->n_msgs; i++) {
        const struct notify_msgrow *m = &job->msgs[i];
        TRY(ks_buf_addf(
            out, "\n" DIGEST_RULE "Notification %zu of %zu: %s\nMessageId: %s\n" DIGEST_RULE "\n",
            i + 1, job->n_msgs, m->subject, m->outbox_message_id));
        TRY(ks_buf_add(out, m->email_text, strlen(m->email_text)));
    }
    return footer(hub, job, endpoint, out);
}

/* ---- Slack ------------------------------------------------------------------------- */

static enum ks_err slack_text(struct ks_buf *b, const char *s, size_t max)
{
    struct ks_buf t;
    ks_buf_init(&t, 1u << 20);
    enum ks_err e = KS_OK;
    for (const char *p = s ? s : ""; *p && !e; p++) {
        switch (*p) {
        case '&':
            e = ks_buf_add(&t, "&amp;", 5);
            break;
        case '<':
            e = ks_buf_add(&t, "&lt;", 4);
            break;
        case '>':
            e = ks_buf_add(&t, "&gt;", 4);
            break;
        default:
            e = ks_buf_add(&t, p, 1);
        }
    }
    size_t n = t.len;
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)t.data[n] & 0xC0) == 0x80)
            n--;
    }
    if (!e)
        e = ks_buf_add_json_str(b, t.data, n);
    ks_buf_release(&t);
    return e;
}

static const char *jget(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

static enum ks_err slack_message(struct ks_buf *out, const struct notify_msgrow *m)
{
    json_t *doc = json_loads(m->alarm_json, 0, NULL);
    enum ks_err e = KS_OK;
    char when[64];
    notify_fmt_human_time(when, m->transition_ms);
    struct ks_buf t;
    ks_buf_init(&t, 1u << 16);
    if (!(e = NOTIFY_LIT(out,
                         ",{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":\"")) &&
        !(e = ks_buf_addf(out, "*Reason:* ")))
        e = slack_text(out, jget(doc, "NewStateReason"), 2800);
    if (!e)
        e = ks_buf_addf(out, "\"}},{\"type\":\"section\",\"fields\":[");
    const struct {
        const char *label;
        const char *value;
    } fields[] = {
        {"Alarm", jget(doc, "AlarmName")},
        {"State change", NULL},
        {"Time", when},
        {"Account / Region", NULL},
    };
    for (size_t i = 0; i < KS_ARRAY_LEN(fields) && !e; i++) {
        ks_buf_reset(&t);
        if (i == 1)
            e = ks_buf_addf(&t, "%s -> %s", m->old_state, m->new_state);
        else if (i == 3)
            e = ks_buf_addf(&t, "%s / %s", jget(doc, "AWSAccountId"), jget(doc, "Region"));
        else
            e = ks_buf_addf(&t, "%s", fields[i].value);
        if (!e)
            e = ks_buf_addf(out, "%s{\"type\":\"mrkdwn\",\"text\":\"*%s:*\\n", i ? "," : "",
                            fields[i].label);
        if (!e)
            e = slack_text(out, t.data, 1900);
        if (!e)
            e = ks_buf_add(out, "\"}", 2);
    }
    if (!e)
        e = ks_buf_add(out, "]}", 2);
    if (!e && m->context_json) {
        struct notify_context_owned ctx;
        notify_context_from_json(m->context_json, &ctx);
        e = notify_context_slack(&ctx.ctx, out);
        notify_context_owned_release(&ctx);
    }
    ks_buf_release(&t);
    json_decref(doc);
    return e;
}

enum ks_err notify_render_slack(struct notify_hub *hub, const struct notify_job *job,
                                struct ks_buf *out)
{
    (void)hub;
    struct ks_buf subj;
    ks_buf_init(&subj, 1024);
    enum ks_err e = notify_render_subject(job, &subj);
    if (!e && !(e = ks_buf_addf(out, "{\"text\":\"")))
        e = slack_text(out, subj.data, 1000);
    if (!e && !(e = ks_buf_addf(out, "\",\"blocks\":[{\"type\":\"header\",\"text\":{\"type\":"
                                     "\"plain_text\",\"text\":\"")))
        e = ks_buf_add_json_str(out, subj.data, subj.len > 150 ? 150 : subj.len);
    if (!e)
        e = ks_buf_addf(out, "\"}}");
    for (size_t i = 0; i < job->n_msgs && i < 20 && !e; i++) {
        if (job->kind == NOTIFY_K_DIGEST) {
            e = ks_buf_addf(out, ",{\"type\":\"section\",\"text\":{\"type\":\"plain_text\","
                                 "\"text\":");
            if (!e)
                e = jstr(out, job->msgs[i].subject);
            if (!e)
                e = ks_buf_add(out, "}}", 2);
        }
        if (!e)
            e = slack_message(out, &job->msgs[i]);
    }
    if (!e)
        e = ks_buf_addf(out,
                        ",{\"type\":\"context\",\"elements\":[{\"type\":\"mrkdwn\","
                        "\"text\":\"keysentry MessageId %s\"}]}]}",
                        job->message_id);
    ks_buf_release(&subj);
    return e;
}
