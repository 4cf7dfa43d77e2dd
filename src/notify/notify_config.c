/* SPDX-License-Identifier: Apache-2.0 */
/*
 * From a loaded template to the hub's topics, subscriptions and settings
 * (docs/notifications.md#resources): AWS::SNS::Topic (inline Subscription)
 * and AWS::SNS::Subscription as the config module typed them, plus three
 * resource types of ours, kept by the config module as JSON and validated
 * here property by property (unknown properties are errors, as everywhere):
 *
 *   Keysentry::Notifications  hub settings (URLs, retry policy, digests)
 *   Keysentry::Smtp           the mail server
 *   Keysentry::Subscription   any protocol, including slack, exec and file
 *
 * Precedence: explicit notify_options > environment (KEYSENTRY_SMTP_URL) >
 * template > built-in defaults.
 */
#include <stdarg.h>

#include "notify/notify_int.h"

static const char *const proto_names[] = {"email", "email-json", "http", "https",
                                          "slack", "exec",       "file"};

const char *notify_proto_name(enum notify_proto p)
{
    return proto_names[p];
}

static bool proto_parse(const char *s, enum notify_proto *out)
{
    for (size_t i = 0; i < KS_ARRAY_LEN(proto_names); i++)
        if (strcmp(proto_names[i], s) == 0) {
            *out = (enum notify_proto)i;
            return true;
        }
    return false;
}

void notify_warn(struct notify_hub *hub, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    hub->warnings = ks_xrealloc(hub->warnings, (hub->n_warnings + 1) * sizeof(char *));
    hub->warnings[hub->n_warnings++] = ks_xstrdup(msg);
}

/* ---- copies and releases ------------------------------------------------------- */

static char *dup0(const char *s)
{
    return s ? ks_xstrdup(s) : NULL;
}

void notify_sub_release(struct notify_sub *s)
{
    free(s->arn);
    free(s->topic_arn);
    free(s->endpoint);
    free(s->endpoint_env);
    free(s->endpoint_file);
    free(s->endpoint_key);
    free(s->ca_file);
    notify_free_argv(s->argv);
    memset(s, 0, sizeof(*s));
}

void notify_sub_copy(struct notify_sub *d, const struct notify_sub *s)
{
    *d = *s;
    d->arn = dup0(s->arn);
    d->topic_arn = dup0(s->topic_arn);
    d->endpoint = dup0(s->endpoint);
    d->endpoint_env = dup0(s->endpoint_env);
    d->endpoint_file = dup0(s->endpoint_file);
    d->endpoint_key = dup0(s->endpoint_key);
    d->ca_file = dup0(s->ca_file);
    d->argv = NULL;
    if (s->argv) {
        d->argv = ks_xcalloc(s->argc + 1, sizeof(char *));
        for (size_t i = 0; i < s->argc; i++)
            d->argv[i] = ks_xstrdup(s->argv[i]);
    }
}

void notify_topic_release(struct notify_topic *t)
{
    free(t->arn);
    free(t->name);
    free(t->display_name);
    memset(t, 0, sizeof(*t));
}

void notify_topic_copy(struct notify_topic *d, const struct notify_topic *s)
{
    d->arn = dup0(s->arn);
    d->name = dup0(s->name);
    d->display_name = dup0(s->display_name);
    d->signature_version = s->signature_version;
}

static void smtp_release(struct notify_smtp *m)
{
    free(m->url);
    free(m->from);
    free(m->from_name);
    free(m->username);
    free(m->password_env);
    free(m->password_file);
    free(m->ca_file);
    memset(m, 0, sizeof(*m));
}

void notify_settings_release(struct notify_settings *s)
{
    free(s->public_url);
    free(s->signing_cert_url);
    free(s->region_name);
    free(s->console_url);
    free(s->support_url);
    smtp_release(&s->smtp);
    memset(s, 0, sizeof(*s));
}

const struct notify_topic *notify_find_topic(const struct notify_hub *hub, const char *arn)
{
    for (size_t i = 0; i < hub->n_topics; i++)
        if (strcmp(hub->topics[i].arn, arn) == 0)
            return &hub->topics[i];
    return NULL;
}

struct notify_sub *notify_find_sub(struct notify_hub *hub, const char *arn)
{
    for (size_t i = 0; i < hub->n_subs; i++)
        if (strcmp(hub->subs[i].arn, arn) == 0)
            return &hub->subs[i];
    return NULL;
}

void notify_effective_retry(const struct notify_hub *hub, const struct notify_sub *sub,
                            struct notify_retry_policy *out)
{
    *out = hub->set.retry;
    if (!sub)
        return;
    if (sub->retry.max_attempts)
        out->max_attempts = sub->retry.max_attempts;
    if (sub->retry.min_delay_ms)
        out->min_delay_ms = sub->retry.min_delay_ms;
    if (sub->retry.max_delay_ms)
        out->max_delay_ms = sub->retry.max_delay_ms;
    if (sub->retry.max_age_ms)
        out->max_age_ms = sub->retry.max_age_ms;
    if (sub->retry.max_retry_after_ms)
        out->max_retry_after_ms = sub->retry.max_retry_after_ms;
}

int64_t notify_effective_window(const struct notify_hub *hub, const struct notify_sub *sub)
{
    if (sub && sub->digest_window_ms >= 0)
        return sub->digest_window_ms;
    return hub->set.digest_window_ms;
}

/* ---- property readers ------------------------------------------------------------ */

/* Where a property error is reported: "Resources.<id>.Properties.<prop>". */
struct where {
    const struct config_custom *res;
    struct ks_diag *diag;
    const char *prefix; /* of nested properties ("RetryPolicy."), or NULL */
};

static enum ks_err bad(const struct where *w, const char *prop, const char *fmt, ...)
    KS_PRINTF(3, 4);

static enum ks_err bad(const struct where *w, const char *prop, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return ks_diag_set(w->diag, KS_E_INVALID, w->res->res.pos.offset,
                       "Resources.%s.Properties%s%s%s: %s", w->res->res.logical_id, prop ? "." : "",
                       prop && w->prefix ? w->prefix : "", prop ? prop : "", msg);
}

static enum ks_err check_known(const struct where *w, json_t *props, const char *const *known,
                               size_t n)
{
    const char *k;
    json_t *v;
    json_object_foreach(props, k, v)
    {
        bool ok = strcmp(k, "Name") == 0;
        for (size_t i = 0; i < n && !ok; i++)
            ok = strcmp(k, known[i]) == 0;
        if (!ok)
            return bad(w, k, "unknown property (see docs/notifications.md#resources)");
    }
    return KS_OK;
}

static enum ks_err get_str(const struct where *w, const json_t *props, const char *k, char **out)
{
    json_t *v = json_object_get(props, k);
    if (!v)
        return KS_OK;
    if (!json_is_string(v) || !*json_string_value(v))
        return bad(w, k, "expected a non-empty string");
    free(*out);
    *out = ks_xstrdup(json_string_value(v));
    return KS_OK;
}

/* A number of seconds (YAML may give it as a number or a quoted string) as
 * milliseconds, within [min_s, max_s]. */
static enum ks_err get_secs(const struct where *w, const json_t *props, const char *k, double min_s,
                            double max_s, int64_t *out)
{
    json_t *v = json_object_get(props, k);
    if (!v)
        return KS_OK;
    double d;
    if (json_is_number(v)) {
        d = json_number_value(v);
    } else if (json_is_string(v)) {
        char *end;
        d = strtod(json_string_value(v), &end);
        if (end == json_string_value(v) || *end)
            return bad(w, k, "expected a number of seconds");
    } else {
        return bad(w, k, "expected a number of seconds");
    }
    if (!(d >= min_s && d <= max_s))
        return bad(w, k, "must be between %g and %g", min_s, max_s);
    *out = (int64_t)(d * 1000 + 0.5);
    return KS_OK;
}

static enum ks_err get_uint(const struct where *w, const json_t *props, const char *k, double min,
                            double max, uint32_t *out)
{
    int64_t ms = -1;
    enum ks_err e = get_secs(w, props, k, min, max, &ms);
    if (e || ms < 0)
        return e;
    if (ms % 1000)
        return bad(w, k, "expected a whole number");
    *out = (uint32_t)(ms / 1000);
    return KS_OK;
}

static enum ks_err get_bool(const struct where *w, const json_t *props, const char *k, bool *out)
{
    json_t *v = json_object_get(props, k);
    if (!v)
        return KS_OK;
    if (json_is_boolean(v))
        *out = json_is_true(v);
    else if (json_is_string(v) && strcmp(json_string_value(v), "true") == 0)
        *out = true;
    else if (json_is_string(v) && strcmp(json_string_value(v), "false") == 0)
        *out = false;
    else
        return bad(w, k, "expected true or false");
    return KS_OK;
}

static enum ks_err get_retry(const struct where *w, const json_t *props,
                             struct notify_retry_policy *p)
{
    json_t *v = json_object_get(props, "RetryPolicy");
    if (!v)
        return KS_OK;
    if (!json_is_object(v))
        return bad(w, "RetryPolicy", "expected an object");
    static const char *const known[] = {"MaxAttempts", "MinDelaySeconds", "MaxDelaySeconds",
                                        "MaxAgeSeconds", "MaxRetryAfterSeconds"};
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x)
    {
        bool ok = false;
        for (size_t i = 0; i < KS_ARRAY_LEN(known) && !ok; i++)
            ok = strcmp(k, known[i]) == 0;
        if (!ok)
            return bad(w, "RetryPolicy", "unknown property '%s'", k);
    }
    struct where in = *w;
    in.prefix = "RetryPolicy.";
    enum ks_err e;
    if ((e = get_uint(&in, v, "MaxAttempts", 1, 1000, &p->max_attempts)) ||
        (e = get_secs(&in, v, "MinDelaySeconds", 0.001, 86400, &p->min_delay_ms)) ||
        (e = get_secs(&in, v, "MaxDelaySeconds", 0.001, 86400, &p->max_delay_ms)) ||
        (e = get_secs(&in, v, "MaxAgeSeconds", 0.001, 14 * 86400.0, &p->max_age_ms)) ||
        (e = get_secs(&in, v, "MaxRetryAfterSeconds", 0, 86400, &p->max_retry_after_ms)))
        return e;
    return KS_OK;
}

/* SNS's DeliveryPolicy (healthyRetryPolicy) mapped onto ours. */
static void map_delivery_policy(json_t *dp, struct notify_retry_policy *p)
{
    json_t *h = json_object_get(dp, "healthyRetryPolicy");
    if (!h)
        h = json_object_get(json_object_get(dp, "http"), "defaultHealthyRetryPolicy");
    if (!json_is_object(h))
        return;
    json_t *v;
    if (json_is_integer(v = json_object_get(h, "numRetries")) && json_integer_value(v) >= 0 &&
        json_integer_value(v) < 100)
        p->max_attempts = (uint32_t)json_integer_value(v) + 1;
    if (json_is_integer(v = json_object_get(h, "minDelayTarget")) && json_integer_value(v) > 0 &&
        json_integer_value(v) <= 3600)
        p->min_delay_ms = json_integer_value(v) * 1000;
    if (json_is_integer(v = json_object_get(h, "maxDelayTarget")) && json_integer_value(v) > 0 &&
        json_integer_value(v) <= 3600)
        p->max_delay_ms = json_integer_value(v) * 1000;
}

/* ---- settings ---------------------------------------------------------------------- */

static enum ks_err read_notifications(struct notify_hub *hub, const struct config_custom *c,
                                      struct ks_diag *diag)
{
    static const char *const known[] = {
        "PublicUrl",           "SigningCertUrl",     "RegionDisplayName", "ConsoleUrl",
        "DigestWindowSeconds", "HttpTimeoutSeconds", "HttpConfirmation",  "Workers",
        "RetryPolicy",         "SupportUrl"};
    struct where w = {c, diag, NULL};
    struct notify_settings *s = &hub->set;
    json_t *p = c->properties;
    char *confirm = NULL;
    int64_t digest = -1, http = -1;
    uint32_t workers = 0;
    enum ks_err e;
    if ((e = check_known(&w, p, known, KS_ARRAY_LEN(known))) ||
        (e = get_str(&w, p, "PublicUrl", &s->public_url)) ||
        (e = get_str(&w, p, "SigningCertUrl", &s->signing_cert_url)) ||
        (e = get_str(&w, p, "RegionDisplayName", &s->region_name)) ||
        (e = get_str(&w, p, "ConsoleUrl", &s->console_url)) ||
        (e = get_str(&w, p, "SupportUrl", &s->support_url)) ||
        (e = get_secs(&w, p, "DigestWindowSeconds", 0, 86400, &digest)) ||
        (e = get_secs(&w, p, "HttpTimeoutSeconds", 0.1, 900, &http)) ||
        (e = get_uint(&w, p, "Workers", 1, 64, &workers)) ||
        (e = get_str(&w, p, "HttpConfirmation", &confirm)) || (e = get_retry(&w, p, &s->retry)))
        goto out;
    if (digest >= 0)
        s->digest_window_ms = digest;
    if (http >= 0)
        s->http_timeout_ms = http;
    if (workers)
        s->workers = workers;
    if (confirm) {
        if (strcmp(confirm, "Required") == 0)
            s->confirm_http = true;
        else if (strcmp(confirm, "Skip") == 0)
            s->confirm_http = false;
        else
            e = bad(&w, "HttpConfirmation", "expected Required or Skip");
    }
    if (!e && s->public_url && strncmp(s->public_url, "http://", 7) &&
        strncmp(s->public_url, "https://", 8))
        e = bad(&w, "PublicUrl", "expected an http:// or https:// URL");
out:
    free(confirm);
    return e;
}

static enum ks_err read_smtp(struct notify_hub *hub, const struct config_custom *c,
                             struct ks_diag *diag)
{
    static const char *const known[] = {"Url",      "From",        "FromName",
                                        "Username", "PasswordEnv", "PasswordFile",
                                        "StartTls", "CaFile",      "TimeoutSeconds"};
    struct where w = {c, diag, NULL};
    struct notify_smtp *m = &hub->set.smtp;
    json_t *p = c->properties;
    char *tls = NULL;
    enum ks_err e;
    if (json_object_get(p, "Password"))
        return bad(&w, "Password",
                   "secrets are not written in templates: use PasswordEnv or "
                   "PasswordFile");
    if ((e = check_known(&w, p, known, KS_ARRAY_LEN(known))) ||
        (e = get_str(&w, p, "Url", &m->url)) || (e = get_str(&w, p, "From", &m->from)) ||
        (e = get_str(&w, p, "FromName", &m->from_name)) ||
        (e = get_str(&w, p, "Username", &m->username)) ||
        (e = get_str(&w, p, "PasswordEnv", &m->password_env)) ||
        (e = get_str(&w, p, "PasswordFile", &m->password_file)) ||
        (e = get_str(&w, p, "CaFile", &m->ca_file)) || (e = get_str(&w, p, "StartTls", &tls)) ||
        (e = get_secs(&w, p, "TimeoutSeconds", 0.1, 900, &m->timeout_ms)))
        goto out;
    if (tls && strcmp(tls, "Required") == 0)
        m->starttls = NOTIFY_TLS_REQUIRED;
    else if (tls && strcmp(tls, "Opportunistic") == 0)
        m->starttls = NOTIFY_TLS_OPPORTUNISTIC;
    else if (tls && strcmp(tls, "Off") == 0)
        m->starttls = NOTIFY_TLS_OFF;
    else if (tls)
        e = bad(&w, "StartTls", "expected Required, Opportunistic or Off");
    if (!e && m->url && strncmp(m->url, "smtp://", 7) && strncmp(m->url, "smtps://", 8))
        e = bad(&w, "Url", "expected an smtp:// or smtps:// URL");
    if (!e && m->from && (strpbrk(m->from, "<>\r\n ,;") || !strchr(m->from, '@')))
        e = bad(&w, "From", "expected a bare e-mail address");
out:
    free(tls);
    return e;
}

static void defaults(struct notify_settings *s)
{
    s->workers = NOTIFY_DEFAULT_WORKERS;
    s->retry = (struct notify_retry_policy){10, 1000, 300000, 3600000, 3600000};
    s->digest_window_ms = NOTIFY_DEFAULT_DIGEST_MS;
    s->http_timeout_ms = NOTIFY_DEFAULT_HTTP_MS;
    s->confirm_http = true;
    s->smtp.starttls = NOTIFY_TLS_OPPORTUNISTIC;
    s->smtp.timeout_ms = NOTIFY_DEFAULT_SMTP_MS;
}

static void set_str(char **dst, const char *v)
{
    if (!v)
        return;
    free(*dst);
    *dst = ks_xstrdup(v);
}

/* Environment and options over what the template said; fills the gaps. */
static void finish_settings(struct notify_hub *hub)
{
    struct notify_settings *s = &hub->set;
    const struct notify_options *o = &hub->opts;
    const char *env = getenv("KEYSENTRY_SMTP_URL");
    if (env && *env)
        set_str(&s->smtp.url, env);
    set_str(&s->smtp.url, o->smtp_url);
    set_str(&s->smtp.from, o->smtp_from);
    set_str(&s->public_url, o->public_url);
    set_str(&s->signing_cert_url, o->signing_cert_url);
    set_str(&s->region_name, o->format.region_name);
    set_str(&s->console_url, o->format.console_url);
    if (o->workers)
        s->workers = o->workers;
    if (o->retry.max_attempts)
        s->retry.max_attempts = o->retry.max_attempts;
    if (o->retry.min_delay_ms)
        s->retry.min_delay_ms = o->retry.min_delay_ms;
    if (o->retry.max_delay_ms)
        s->retry.max_delay_ms = o->retry.max_delay_ms;
    if (o->retry.max_age_ms)
        s->retry.max_age_ms = o->retry.max_age_ms;
    if (o->retry.max_retry_after_ms)
        s->retry.max_retry_after_ms = o->retry.max_retry_after_ms;
    if (o->digest_window_ms > 0)
        s->digest_window_ms = o->digest_window_ms;
    else if (o->digest_window_ms < 0)
        s->digest_window_ms = 0;
    if (o->http_timeout_ms > 0)
        s->http_timeout_ms = o->http_timeout_ms;
    if (o->http_confirmation == NOTIFY_CONFIRM_REQUIRED)
        s->confirm_http = true;
    else if (o->http_confirmation == NOTIFY_CONFIRM_SKIP)
        s->confirm_http = false;
    if (!s->public_url)
        s->public_url = ks_xstrdup(NOTIFY_DEFAULT_PUBLIC_URL);
    /* no trailing slash: URLs are built as <public_url>/... */
    size_t n = strlen(s->public_url);
    while (n > 0 && s->public_url[n - 1] == '/')
        s->public_url[--n] = '\0';
    if (!s->signing_cert_url)
        s->signing_cert_url = notify_strf("%s%s", s->public_url, NOTIFY_CERT_PATH);
    if (!s->support_url)
        s->support_url = ks_xstrdup("https://aws.amazon.com/support");
    if (!s->smtp.from)
        s->smtp.from = ks_xstrdup(NOTIFY_DEFAULT_FROM);
    if (s->retry.max_delay_ms < s->retry.min_delay_ms)
        s->retry.max_delay_ms = s->retry.min_delay_ms;
}

void notify_settings_init(struct notify_hub *hub)
{
    notify_settings_release(&hub->set);
    defaults(&hub->set);
    finish_settings(hub);
}

/* ---- subscriptions ------------------------------------------------------------------ */

static bool valid_email(const char *s)
{
    const char *at = strchr(s, '@');
    return at && at != s && at[1] && !strpbrk(s, "<>\r\n\t ,;\"()") && strlen(s) < 320;
}

static bool valid_url(const char *s, bool https_only)
{
    if (strpbrk(s, "\r\n\t "))
        return false;
    if (strncmp(s, "https://", 8) == 0)
        return s[8] != '\0';
    return !https_only && strncmp(s, "http://", 7) == 0 && s[7] != '\0';
}

static struct notify_sub *add_sub(struct notify_hub *hub)
{
    hub->subs = ks_xrealloc(hub->subs, (hub->n_subs + 1) * sizeof(*hub->subs));
    struct notify_sub *s = &hub->subs[hub->n_subs++];
    memset(s, 0, sizeof(*s));
    s->digest_window_ms = -1;
    s->fsync = true;
    return s;
}

static void ensure_topic(struct notify_hub *hub, const char *arn, const char *name,
                         const char *display, const char *sigver)
{
    if (notify_find_topic(hub, arn))
        return;
    hub->topics = ks_xrealloc(hub->topics, (hub->n_topics + 1) * sizeof(*hub->topics));
    struct notify_topic *t = &hub->topics[hub->n_topics++];
    t->arn = ks_xstrdup(arn);
    if (name) {
        t->name = ks_xstrdup(name);
    } else {
        const char *c = strrchr(arn, ':');
        t->name = ks_xstrdup(c ? c + 1 : arn);
    }
    t->display_name = dup0(display);
    /* SNS's default is 1 (SHA1); keysentry signs with SHA256 unless the
     * template asks for 1 */
    t->signature_version = sigver && strcmp(sigver, "1") == 0 ? 1 : 2;
}

static void endpoint_key(struct notify_sub *s)
{
    if (s->endpoint)
        s->endpoint_key = ks_xstrdup(s->endpoint);
    else if (s->endpoint_env)
        s->endpoint_key = notify_strf("env:%s", s->endpoint_env);
    else if (s->endpoint_file)
        s->endpoint_key = notify_strf("file:%s", s->endpoint_file);
    else if (s->argv) {
        /* exec: the command line identifies the subscription */
        struct ks_buf b;
        ks_buf_init(&b, 1u << 20);
        for (size_t i = 0; i < s->argc; i++)
            if (ks_buf_addf(&b, "%s%s", i ? " " : "exec:", s->argv[i]))
                break;
        s->endpoint_key = ks_xmemdup(b.data, b.len);
        ks_buf_release(&b);
    } else {
        s->endpoint_key = ks_xstrdup("");
    }
}

static enum ks_err read_aws_sub(struct notify_hub *hub, const struct config_subscription *cs,
                                struct ks_diag *diag)
{
    enum notify_proto p;
    if (!cs->protocol || !proto_parse(cs->protocol, &p) || p > NOTIFY_P_HTTPS) {
        notify_warn(hub, "subscription %s: protocol '%s' is not supported; it receives nothing",
                    cs->arn, cs->protocol ? cs->protocol : "");
        return KS_OK;
    }
    if (!cs->endpoint)
        return ks_diag_set(diag, KS_E_INVALID, cs->res.pos.offset,
                           "Resources.%s: subscription without an Endpoint", cs->res.logical_id);
    bool email = p == NOTIFY_P_EMAIL || p == NOTIFY_P_EMAIL_JSON;
    if (email ? !valid_email(cs->endpoint) : !valid_url(cs->endpoint, p == NOTIFY_P_HTTPS))
        return ks_diag_set(diag, KS_E_INVALID, cs->res.pos.offset,
                           "Resources.%s: Endpoint '%s' is not a valid %s endpoint",
                           cs->res.logical_id, cs->endpoint, cs->protocol);
    const struct config_topic *ct = cs->topic;
    ensure_topic(hub, cs->topic_arn, ct ? ct->name : NULL, ct ? ct->display_name : NULL,
                 ct ? ct->signature_version : NULL);
    if (cs->filter_policy)
        notify_warn(hub,
                    "subscription %s: FilterPolicy is not applied; it receives every "
                    "message of its topic",
                    cs->arn);
    struct notify_sub *s = add_sub(hub);
    s->arn = ks_xstrdup(cs->arn);
    s->topic_arn = ks_xstrdup(cs->topic_arn);
    s->proto = p;
    s->endpoint = ks_xstrdup(cs->endpoint);
    s->raw = cs->raw_message_delivery;
    if (cs->delivery_policy) {
        json_t *dp = json_loads(cs->delivery_policy, 0, NULL);
        map_delivery_policy(dp, &s->retry);
        json_decref(dp);
    }
    endpoint_key(s);
    return KS_OK;
}

static enum ks_err read_keysentry_sub(struct notify_hub *hub, const struct config_template *t,
                                      const struct config_custom *c, struct ks_diag *diag)
{
    static const char *const known[] = {
        "TopicArn",       "Protocol",           "Endpoint",
        "EndpointEnv",    "EndpointFile",       "Command",
        "TimeoutSeconds", "RawMessageDelivery", "DigestWindowSeconds",
        "RetryPolicy",    "DeliveryPolicy",     "Fsync",
        "CaFile"};
    struct where w = {c, diag, NULL};
    json_t *p = c->properties;
    struct notify_sub tmp;
    memset(&tmp, 0, sizeof(tmp));
    tmp.digest_window_ms = -1;
    tmp.fsync = true;
    char *proto = NULL;
    enum ks_err e;
    if ((e = check_known(&w, p, known, KS_ARRAY_LEN(known))) ||
        (e = get_str(&w, p, "TopicArn", &tmp.topic_arn)) ||
        (e = get_str(&w, p, "Protocol", &proto)) ||
        (e = get_str(&w, p, "Endpoint", &tmp.endpoint)) ||
        (e = get_str(&w, p, "EndpointEnv", &tmp.endpoint_env)) ||
        (e = get_str(&w, p, "EndpointFile", &tmp.endpoint_file)) ||
        (e = get_str(&w, p, "CaFile", &tmp.ca_file)) ||
        (e = get_secs(&w, p, "TimeoutSeconds", 0.01, 3600, &tmp.timeout_ms)) ||
        (e = get_bool(&w, p, "RawMessageDelivery", &tmp.raw)) ||
        (e = get_bool(&w, p, "Fsync", &tmp.fsync)) ||
        (e = get_secs(&w, p, "DigestWindowSeconds", 0, 86400, &tmp.digest_window_ms)) ||
        (e = get_retry(&w, p, &tmp.retry)))
        goto out;
    if (!tmp.topic_arn) {
        e = bad(&w, "TopicArn", "required");
        goto out;
    }
    if (!proto) {
        e = bad(&w, "Protocol", "required");
        goto out;
    }
    if (!proto_parse(proto, &tmp.proto)) {
        e = bad(&w, "Protocol",
                "'%s' is not one of email, email-json, http, https, slack, exec, file", proto);
        goto out;
    }
    json_t *dp = json_object_get(p, "DeliveryPolicy");
    if (dp) {
        if (!json_is_object(dp)) {
            e = bad(&w, "DeliveryPolicy", "expected an object");
            goto out;
        }
        map_delivery_policy(dp, &tmp.retry);
    }
    int given = !!tmp.endpoint + !!tmp.endpoint_env + !!tmp.endpoint_file;
    json_t *cmd = json_object_get(p, "Command");
    if (tmp.proto == NOTIFY_P_EXEC) {
        if (given || !cmd) {
            e = bad(&w, "Command", "exec subscriptions take Command (a list), not an Endpoint");
            goto out;
        }
        if (!json_is_array(cmd) || json_array_size(cmd) == 0 ||
            json_array_size(cmd) > NOTIFY_MAX_ARGV) {
            e = bad(&w, "Command", "expected a list of 1 to %d strings", NOTIFY_MAX_ARGV);
            goto out;
        }
        tmp.argc = json_array_size(cmd);
        tmp.argv = ks_xcalloc(tmp.argc + 1, sizeof(char *));
        for (size_t i = 0; i < tmp.argc; i++) {
            json_t *a = json_array_get(cmd, i);
            if (!json_is_string(a)) {
                e = bad(&w, "Command", "entry %zu is not a string", i);
                goto out;
            }
            tmp.argv[i] = ks_xstrdup(json_string_value(a));
        }
        /* no PATH search: execvp would fall back to /bin/sh for a file
         * without a #! line, and "never a shell" means never */
        if (tmp.argv[0][0] != '/') {
            e = bad(&w, "Command", "the program must be an absolute path, not '%s'", tmp.argv[0]);
            goto out;
        }
    } else {
        if (cmd) {
            e = bad(&w, "Command", "only exec subscriptions take a Command");
            goto out;
        }
        if (given != 1) {
            e = bad(&w, "Endpoint", "give exactly one of Endpoint, EndpointEnv, EndpointFile");
            goto out;
        }
        bool email = tmp.proto == NOTIFY_P_EMAIL || tmp.proto == NOTIFY_P_EMAIL_JSON;
        if (tmp.endpoint) {
            bool ok = email                         ? valid_email(tmp.endpoint)
                      : tmp.proto == NOTIFY_P_FILE  ? tmp.endpoint[0] == '/'
                      : tmp.proto == NOTIFY_P_HTTPS ? valid_url(tmp.endpoint, true)
                                                    : valid_url(tmp.endpoint, false);
            if (!ok) {
                e = bad(&w, "Endpoint", "'%s' is not a valid %s endpoint%s", tmp.endpoint, proto,
                        tmp.proto == NOTIFY_P_FILE ? " (an absolute path)" : "");
                goto out;
            }
        }
    }
    const struct config_topic *ct = config_template_topic_by_arn(t, tmp.topic_arn);
    if (!ct)
        notify_warn(hub, "Resources.%s: topic %s is not in the template", c->res.logical_id,
                    tmp.topic_arn);
    ensure_topic(hub, tmp.topic_arn, ct ? ct->name : NULL, ct ? ct->display_name : NULL,
                 ct ? ct->signature_version : NULL);
    char key[600];
    int kn = snprintf(key, sizeof(key), "keysentry-subscription\n%s\n%s", t->stack_name,
                      c->res.logical_id);
    char uuid[37];
    notify_uuid(uuid, key, kn > 0 ? (size_t)kn : 0);
    tmp.arn = notify_strf("%s:%s", tmp.topic_arn, uuid);
    endpoint_key(&tmp);
    struct notify_sub *s = add_sub(hub);
    *s = tmp;
    memset(&tmp, 0, sizeof(tmp));
out:
    free(proto);
    notify_sub_release(&tmp);
    return e;
}

enum ks_err notify_config_load(struct notify_hub *hub, const struct config_template *t,
                               struct ks_diag *diag)
{
    notify_settings_release(&hub->set);
    defaults(&hub->set);
    enum ks_err e = KS_OK;
    const struct config_custom *seen_n = NULL, *seen_s = NULL;
    for (size_t i = 0; i < t->n_customs && !e; i++) {
        const struct config_custom *c = &t->customs[i];
        const struct config_custom **seen = NULL;
        if (strcmp(c->res.type, "Keysentry::Notifications") == 0)
            seen = &seen_n;
        else if (strcmp(c->res.type, "Keysentry::Smtp") == 0)
            seen = &seen_s;
        else
            continue;
        if (*seen)
            return ks_diag_set(diag, KS_E_INVALID, c->res.pos.offset,
                               "Resources.%s: only one %s resource is allowed (the other is %s)",
                               c->res.logical_id, c->res.type, (*seen)->res.logical_id);
        *seen = c;
        e = seen == &seen_n ? read_notifications(hub, c, diag) : read_smtp(hub, c, diag);
    }
    if (e)
        return e;
    finish_settings(hub);
    for (size_t i = 0; i < t->n_topics; i++) {
        const struct config_topic *ct = &t->topics[i];
        ensure_topic(hub, ct->arn, ct->name, ct->display_name, ct->signature_version);
    }
    for (size_t i = 0; i < t->n_subscriptions && !e; i++)
        e = read_aws_sub(hub, &t->subscriptions[i], diag);
    for (size_t i = 0; i < t->n_customs && !e; i++)
        if (strcmp(t->customs[i].res.type, "Keysentry::Subscription") == 0)
            e = read_keysentry_sub(hub, t, &t->customs[i], diag);
    for (size_t i = 0; i < hub->n_subs && !e; i++)
        for (size_t k = 0; k < i; k++)
            if (strcmp(hub->subs[i].arn, hub->subs[k].arn) == 0)
                return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                                   "two subscriptions have the ARN %s", hub->subs[i].arn);
    return e;
}
