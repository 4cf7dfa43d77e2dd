/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sinks: one attempt of one job, by protocol (docs/notifications.md
 * #protocols). HTTP (SNS http/https, Slack) and SMTP (email, email-json) go
 * through libcurl with every protocol but the expected ones disabled, no
 * redirects, bounded time and bounded response capture; exec and file live
 * in notify_exec.c; registered actions are called here.
 *
 * Classification follows SNS (spec §12.4 and the brief's stricter reading):
 * 2xx delivered; 429, 5xx, timeouts and connection errors retried (with
 * Retry-After honoured); any other status is a permanent failure. SMTP: 2xx
 * delivered, 4xx and connection trouble retried, 5xx permanent (RFC 5321's
 * own split).
 *
 * Secrets: webhook URLs from EndpointEnv/EndpointFile and the SMTP password
 * are read per attempt into their own buffers, wiped after use, and never
 * written into an error message (curl's error text names hosts, not URLs).
 */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "notify/notify_int.h"

#define RESPONSE_KEEP 512 /* bytes of an HTTP response body kept for the error text */

static _Thread_local const struct notify_delivery_info *current_delivery;

const struct notify_delivery_info *notify_current_delivery(void)
{
    return current_delivery;
}

enum notify_result notify_http_classify(long status)
{
    if (status >= 200 && status < 300)
        return NOTIFY_OK;
    if (status == 429 || (status >= 500 && status < 600))
        return NOTIFY_RETRY;
    return NOTIFY_PERMANENT;
}

static int month_index(const char *m)
{
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; i++)
        if (strncmp(m, mon[i], 3) == 0)
            return i;
    return -1;
}

bool notify_parse_retry_after(const char *v, int64_t now_ms, int64_t *delay_ms)
{
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v >= '0' && *v <= '9') {
        int64_t s = 0;
        for (; *v >= '0' && *v <= '9'; v++) {
            if (s > 100000000)
                return false;
            s = s * 10 + (*v - '0');
        }
        while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
            v++;
        if (*v)
            return false;
        *delay_ms = s * 1000;
        return true;
    }
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    char wd[4], mon[4], zone[4];
    int day, year, h, m, s;
    if (sscanf(v, "%3s, %d %3s %d %d:%d:%d %3s", wd, &day, mon, &year, &h, &m, &s, zone) != 8 ||
        strcmp(zone, "GMT") != 0 || month_index(mon) < 0 || day < 1 || day > 31 || h > 23 ||
        m > 59 || s > 60)
        return false;
    tm.tm_mday = day;
    tm.tm_mon = month_index(mon);
    tm.tm_year = year - 1900;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = s;
    int64_t at = (int64_t)timegm(&tm) * 1000;
    *delay_ms = at > now_ms ? at - now_ms : 0;
    return true;
}

int64_t notify_backoff_ms(const struct notify_retry_policy *p, uint32_t attempt, double rnd)
{
    int64_t min = p->min_delay_ms > 0 ? p->min_delay_ms : 1000;
    int64_t max = p->max_delay_ms > 0 ? p->max_delay_ms : 300000;
    if (max < min)
        max = min;
    int64_t d = min;
    for (uint32_t i = 1; i < attempt && d < max; i++)
        d = d > max / 2 ? max : d * 2;
    if (d > max)
        d = max;
    if (rnd < 0)
        rnd = 0;
    if (rnd >= 1)
        rnd = 0.999999;
    /* equal jitter: never less than half the nominal delay, so a fleet of
     * retries spreads out without any of them hammering early */
    return d / 2 + (int64_t)(rnd * (double)(d - d / 2));
}

/* ---- libcurl plumbing ----------------------------------------------------------------- */

struct http_ctx {
    struct ks_buf body;     /* first RESPONSE_KEEP bytes */
    int64_t retry_after_ms; /* < 0: none */
    int64_t now_ms;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct http_ctx *c = ud;
    size_t len = size * n;
    size_t room = RESPONSE_KEEP > c->body.len ? RESPONSE_KEEP - c->body.len : 0;
    if (room && ks_buf_add(&c->body, p, len < room ? len : room)) {
        /* capped by construction; nothing to do */
    }
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct http_ctx *c = ud;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof(name) - 1 && len < 256 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
        char v[256];
        memcpy(v, p + sizeof(name) - 1, len - (sizeof(name) - 1));
        v[len - (sizeof(name) - 1)] = '\0';
        int64_t d;
        if (notify_parse_retry_after(v, c->now_ms, &d))
            c->retry_after_ms = d;
    }
    return len;
}

/* Transport failures a retry can fix, vs. requests that can never work. */
static enum notify_result curl_class(CURLcode rc)
{
    switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_BAD_FUNCTION_ARGUMENT:
        return NOTIFY_PERMANENT;
    default:
        return NOTIFY_RETRY;
    }
}

/* Printable, one line: what a server said, for the attempt history. */
static void clean_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

void notify_http_post(struct notify_hub *hub, const char *url, const char *const *headers,
                      const char *body, int64_t timeout_ms, const char *ca_file,
                      struct notify_attempt *res)
{
    CURL *c = curl_easy_init();
    if (!c) {
        notify_attempt_fail(res, NOTIFY_RETRY, "cannot create an HTTP client");
        return;
    }
    struct http_ctx ctx = {.retry_after_ms = -1, .now_ms = notify_now_ms(hub)};
    ks_buf_init(&ctx.body, RESPONSE_KEEP + 1);
    struct curl_slist *hl = NULL;
    for (const char *const *h = headers; h && *h; h++)
        hl = curl_slist_append(hl, *h);
    hl = curl_slist_append(hl, "Expect:"); /* no 100-continue round trip */
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms < 10000 ? timeout_ms : 10000));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &ctx);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &ctx);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    if (ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    res->status = status;
    if (rc != CURLE_OK) {
        clean_line(errbuf);
        notify_attempt_fail(res, curl_class(rc), "%s", *errbuf ? errbuf : curl_easy_strerror(rc));
    } else {
        enum notify_result r = notify_http_classify(status);
        if (r == NOTIFY_OK) {
            res->res = NOTIFY_OK;
        } else {
            clean_line(ctx.body.data);
            notify_attempt_fail(res, r, "HTTP %ld%s%.200s", status, ctx.body.len ? ": " : "",
                                ctx.body.data);
            if (r == NOTIFY_RETRY)
                res->retry_after_ms = ctx.retry_after_ms;
        }
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    ks_buf_release(&ctx.body);
}

/* ---- SMTP --------------------------------------------------------------------------- */

struct reader {
    const char *p;
    size_t left;
};

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    struct reader *r = ud;
    size_t len = size * n;
    if (len > r->left)
        len = r->left;
    memcpy(buf, r->p, len);
    r->p += len;
    r->left -= len;
    return len;
}

static bool is_ascii_printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

/* RFC 2047 encoded words (B), 45 input bytes each, cut on UTF-8 boundaries. */
static enum ks_err add_encoded_words(struct ks_buf *b, const char *s)
{
    size_t n = strlen(s), off = 0;
    bool first = true;
    while (off < n) {
        size_t take = n - off > 45 ? 45 : n - off;
        while (take > 0 && off + take < n && ((unsigned char)s[off + take] & 0xC0) == 0x80)
            take--;
        if (!take)
            take = 1;
        unsigned char out[80];
        int len = EVP_EncodeBlock(out, (const unsigned char *)s + off, (int)take);
        enum ks_err e = ks_buf_addf(b, "%s=?UTF-8?B?%.*s?=", first ? "" : "\r\n ", len, out);
        if (e)
            return e;
        first = false;
        off += take;
    }
    return KS_OK;
}

/* A header value: as is when plain ASCII, else encoded words; never a CR/LF
 * of its own (header injection). */
static enum ks_err add_header_text(struct ks_buf *b, const char *s)
{
    if (is_ascii_printable(s))
        return ks_buf_add(b, s, strlen(s));
    char *clean = ks_xstrdup(s);
    for (char *p = clean; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    enum ks_err e = add_encoded_words(b, clean);
    free(clean);
    return e;
}

static bool needs_qp(const char *body)
{
    size_t line = 0;
    for (const char *p = body; *p; p++) {
        if ((unsigned char)*p >= 0x80)
            return true;
        line = *p == '\n' ? 0 : line + 1;
        if (line > 900)
            return true;
    }
    return false;
}

/* Quoted-printable (RFC 2045 §6.7) of LF-terminated text, CRLF line ends. */
static enum ks_err add_qp(struct ks_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        enum ks_err e;
        if (*p == '\n') {
            e = ks_buf_add(b, "\r\n", 2);
            col = 0;
        } else if (*p == '\r') {
            continue;
        } else {
            char enc[3];
            size_t len;
            bool at_eol = p[1] == '\n' || p[1] == '\0' || p[1] == '\r';
            if ((*p >= 33 && *p <= 126 && *p != '=') || ((*p == ' ' || *p == '\t') && !at_eol)) {
                enc[0] = (char)*p;
                len = 1;
            } else {
                enc[0] = '=';
                enc[1] = hex[*p >> 4];
                enc[2] = hex[*p & 15];
                len = 3;
            }
            if (col + len > 75) {
                if ((e = ks_buf_add(b, "=\r\n", 3)))
                    return e;
                col = 0;
            }
            e = ks_buf_add(b, enc, len);
            col += len;
        }
        if (e)
            return e;
    }
    return KS_OK;
}

static enum ks_err compose(struct ks_buf *m, const struct notify_hub *hub,
                           const struct notify_job *job, const char *from_name, const char *rcpt,
                           const char *subject, const char *body, int64_t now)
{
    static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t s = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    const char *from = hub->set.smtp.from;
    const char *domain = strchr(from, '@');
    enum ks_err e;
    if ((e = ks_buf_addf(m, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\nFrom: ", wd[tm.tm_wday],
                         tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                         tm.tm_sec)))
        return e;
    if (is_ascii_printable(from_name) && !strpbrk(from_name, "\"\\")) {
        e = ks_buf_addf(m, "\"%s\"", from_name);
    } else {
        e = add_encoded_words(m, from_name);
    }
    if (e || (e = ks_buf_addf(m, " <%s>\r\nTo: %s\r\nSubject: ", from, rcpt)) ||
        (e = add_header_text(m, subject)))
        return e;
    bool qp = needs_qp(body);
    if ((e = ks_buf_addf(
             m,
             "\r\nMessage-ID: <%s@%s>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; "
             "charset=UTF-8\r\nContent-Transfer-Encoding: %s\r\n"
             "X-Keysentry-Message-Id: %s\r\n\r\n",
             job->message_id, domain ? domain + 1 : "keysentry", qp ? "quoted-printable" : "7bit",
             job->message_id)))
        return e;
    return qp ? add_qp(m, body) : notify_add_crlf(m, body);
}

static char *smtp_password(const struct notify_smtp *m)
{
    if (m->password_env) {
        const char *v = getenv(m->password_env);
        return v ? ks_xstrdup(v) : NULL;
    }
    if (m->password_file)
        return notify_read_secret_file(m->password_file, 4096);
    return NULL;
}

static void wipe_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void notify_smtp_send(struct notify_hub *hub, const struct notify_job *job, const char *rcpt,
                      const char *subject, const char *body, struct notify_attempt *res)
{
    const struct notify_smtp *sm = &hub->set.smtp;
    if (!sm->url) {
        /* retried, not dropped: a restart with the server configured within
         * the retry window still delivers */
        notify_attempt_fail(res, NOTIFY_RETRY,
                            "no SMTP server configured (Keysentry::Smtp Url "
                            "or KEYSENTRY_SMTP_URL)");
        return;
    }
    const char *from_name = sm->from_name             ? sm->from_name
                            : job->topic.display_name ? job->topic.display_name
                                                      : NOTIFY_DEFAULT_FROM_NAME;
    struct ks_buf msg;
    ks_buf_init(&msg, 8 * NOTIFY_MESSAGE_MAX + (1u << 20) * NOTIFY_DIGEST_MAX_ITEMS);
    if (compose(&msg, hub, job, from_name, rcpt, subject, body, notify_now_ms(hub))) {
        ks_buf_release(&msg);
        notify_attempt_fail(res, NOTIFY_PERMANENT, "message too large");
        return;
    }
    char *password = NULL;
    if (sm->username && !(password = smtp_password(sm))) {
        ks_buf_release(&msg);
        notify_attempt_fail(res, NOTIFY_RETRY, "SMTP password not available (%s %s)",
                            sm->password_env ? "environment variable" : "file",
                            sm->password_env    ? sm->password_env
                            : sm->password_file ? sm->password_file
                                                : "(none configured)");
        return;
    }
    CURL *c = curl_easy_init();
    if (!c) {
        ks_buf_release(&msg);
        wipe_free(password);
        notify_attempt_fail(res, NOTIFY_RETRY, "cannot create an SMTP client");
        return;
    }
    char from[400], to[400];
    snprintf(from, sizeof(from), "<%s>", sm->from);
    snprintf(to, sizeof(to), "<%s>", rcpt);
    struct curl_slist *rcpts = curl_slist_append(NULL, to);
    struct reader rd = {msg.data, msg.len};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, sm->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &rd);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)msg.len);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)sm->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(sm->timeout_ms < 10000 ? sm->timeout_ms : 10000));
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    /* smtps:// is implicit TLS whatever this says; for smtp:// it decides
     * about STARTTLS */
    curl_easy_setopt(c, CURLOPT_USE_SSL,
                     sm->starttls == NOTIFY_TLS_REQUIRED        ? (long)CURLUSESSL_ALL
                     : sm->starttls == NOTIFY_TLS_OPPORTUNISTIC ? (long)CURLUSESSL_TRY
                                                                : (long)CURLUSESSL_NONE);
    if (sm->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, sm->ca_file);
    if (sm->username) {
        curl_easy_setopt(c, CURLOPT_USERNAME, sm->username);
        curl_easy_setopt(c, CURLOPT_PASSWORD, password);
    }
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    res->status = code;
    if (rc == CURLE_OK) {
        res->res = NOTIFY_OK;
    } else {
        clean_line(errbuf);
        notify_attempt_fail(res, code >= 500 && code < 600 ? NOTIFY_PERMANENT : curl_class(rc),
                            "SMTP: %s", *errbuf ? errbuf : curl_easy_strerror(rc));
    }
    curl_slist_free_all(rcpts);
    curl_easy_cleanup(c);
    wipe_free(password);
    ks_buf_release(&msg);
}

/* ---- dispatch ------------------------------------------------------------------------- */

char *notify_sub_endpoint(const struct notify_sub *sub, struct notify_attempt *res)
{
    if (sub->endpoint)
        return ks_xstrdup(sub->endpoint);
    if (sub->endpoint_env) {
        const char *v = getenv(sub->endpoint_env);
        if (v && *v)
            return ks_xstrdup(v);
        notify_attempt_fail(res, NOTIFY_RETRY, "environment variable %s is not set",
                            sub->endpoint_env);
        return NULL;
    }
    if (sub->endpoint_file) {
        char *v = notify_read_secret_file(sub->endpoint_file, 8192);
        if (v && *v)
            return v;
        free(v);
        notify_attempt_fail(res, NOTIFY_RETRY, "cannot read endpoint file %s", sub->endpoint_file);
        return NULL;
    }
    notify_attempt_fail(res, NOTIFY_PERMANENT, "subscription has no endpoint");
    return NULL;
}

static bool header_safe(const char *s)
{
    return s && !strpbrk(s, "\r\n");
}

static void deliver_sns_http(struct notify_hub *hub, const struct notify_job *job, const char *url,
                             struct notify_attempt *res)
{
    struct ks_buf body;
    ks_buf_init(&body, 4 * NOTIFY_MESSAGE_MAX + (512u << 10) * NOTIFY_DIGEST_MAX_ITEMS);
    struct ks_diag d;
    ks_diag_clear(&d);
    bool confirm = job->kind == NOTIFY_K_CONFIRM;
    enum ks_err e = job->sub.raw && !confirm ? notify_render_message(job, &body)
                                             : notify_render_envelope(hub, job, false, &body, &d);
    if (e) {
        notify_attempt_fail(res, NOTIFY_PERMANENT, "%s", d.msg[0] ? d.msg : ks_strerror(e));
        ks_buf_release(&body);
        return;
    }
    if (!header_safe(job->topic.arn) || !header_safe(job->target)) {
        notify_attempt_fail(res, NOTIFY_PERMANENT, "ARN not usable in an HTTP header");
        ks_buf_release(&body);
        return;
    }
    char *h[8];
    size_t n = 0;
    h[n++] = notify_strf("x-amz-sns-message-type: %s",
                         confirm ? "SubscriptionConfirmation" : "Notification");
    h[n++] = notify_strf("x-amz-sns-message-id: %s", job->message_id);
    h[n++] = notify_strf("x-amz-sns-topic-arn: %s", job->topic.arn);
    if (!confirm)
        h[n++] = notify_strf("x-amz-sns-subscription-arn: %s", job->target);
    if (job->sub.raw && !confirm)
        h[n++] = ks_xstrdup("x-amz-sns-rawdelivery: true");
    h[n++] = ks_xstrdup("Content-Type: text/plain; charset=UTF-8");
    h[n++] = ks_xstrdup("User-Agent: " NOTIFY_USER_AGENT_SNS);
    h[n] = NULL;
    int64_t timeout = job->sub.timeout_ms ? job->sub.timeout_ms : hub->set.http_timeout_ms;
    notify_http_post(hub, url, (const char *const *)h, body.data, timeout, job->sub.ca_file, res);
    for (size_t i = 0; i < n; i++)
        free(h[i]);
    ks_buf_release(&body);
}

static void deliver_action(struct notify_hub *hub, const struct notify_job *job,
                           struct notify_attempt *res)
{
    (void)hub;
    if (!job->fn) {
        notify_attempt_fail(res, NOTIFY_RETRY, "no handler is registered for %s", job->target);
        return;
    }
    const struct notify_msgrow *m = job->n_msgs ? &job->msgs[0] : NULL;
    struct notify_context_owned ctx;
    notify_context_from_json(m ? m->context_json : NULL, &ctx);
    struct notify_delivery_info info = {
        .message_id = job->message_id,
        .alarm_name = m ? m->alarm_name : NULL,
        .alarm_arn = m ? m->alarm_arn : NULL,
        .new_state = m ? m->new_state : NULL,
        .state_update_ms = m ? m->transition_ms : 0,
        .attempt = job->attempt,
    };
    struct ks_buf err;
    ks_buf_init(&err, NOTIFY_ERROR_MAX);
    current_delivery = &info;
    int rc = job->fn(job->ud, job->target, m ? m->alarm_json : "{}", &ctx.ctx, &err);
    current_delivery = NULL;
    if (rc == 0) {
        res->res = NOTIFY_OK;
    } else {
        clean_line(err.data);
        notify_attempt_fail(res, rc > 0 ? NOTIFY_RETRY : NOTIFY_PERMANENT, "%s",
                            err.len ? err.data : "the action failed");
    }
    ks_buf_release(&err);
    notify_context_owned_release(&ctx);
}

void notify_sink_deliver(struct notify_hub *hub, const struct notify_job *job,
                         struct notify_attempt *res)
{
    res->res = NOTIFY_OK;
    res->status = 0;
    res->retry_after_ms = -1;
    switch (job->kind) {
    case NOTIFY_K_NONE:
        return;
    case NOTIFY_K_UNKNOWN:
        notify_attempt_fail(res, NOTIFY_PERMANENT,
                            "no topic in the configuration and no registered action has the ARN %s",
                            job->target);
        return;
    case NOTIFY_K_ACTION:
        deliver_action(hub, job, res);
        return;
    case NOTIFY_K_CONFIRM:
    case NOTIFY_K_SNS:
    case NOTIFY_K_DIGEST:
        break;
    }
    if (!job->have_sub) {
        notify_attempt_fail(res, NOTIFY_PERMANENT, "subscription %s is no longer configured",
                            job->target);
        return;
    }
    const struct notify_sub *sub = &job->sub;
    char *endpoint = NULL;
    if (sub->proto != NOTIFY_P_EXEC && !(endpoint = notify_sub_endpoint(sub, res)))
        return;
    struct ks_buf body, subj;
    ks_buf_init(&body, 8 * NOTIFY_MESSAGE_MAX + (1u << 20) * NOTIFY_DIGEST_MAX_ITEMS);
    ks_buf_init(&subj, 1024);
    struct ks_diag d;
    ks_diag_clear(&d);
    enum ks_err e = KS_OK;
    switch (sub->proto) {
    case NOTIFY_P_EMAIL:
    case NOTIFY_P_EMAIL_JSON:
        if (!(e = notify_render_subject(job, &subj)))
            e = sub->proto == NOTIFY_P_EMAIL ? notify_render_email_body(hub, job, &body)
                                             : notify_render_envelope(hub, job, false, &body, &d);
        if (!e)
            notify_smtp_send(hub, job, endpoint, subj.data, body.data, res);
        break;
    case NOTIFY_P_HTTP:
    case NOTIFY_P_HTTPS:
        if (sub->proto == NOTIFY_P_HTTPS && strncmp(endpoint, "https://", 8) != 0)
            notify_attempt_fail(res, NOTIFY_PERMANENT, "https subscription to a non-https URL");
        else
            deliver_sns_http(hub, job, endpoint, res);
        break;
    case NOTIFY_P_SLACK:
        if (!(e = notify_render_slack(hub, job, &body))) {
            const char *h[] = {"Content-Type: application/json; charset=utf-8",
                               "User-Agent: keysentry", NULL};
            int64_t timeout = sub->timeout_ms ? sub->timeout_ms : hub->set.http_timeout_ms;
            notify_http_post(hub, endpoint, h, body.data, timeout, sub->ca_file, res);
        }
        break;
    case NOTIFY_P_EXEC:
    case NOTIFY_P_FILE:
        if (!(e = notify_render_envelope(hub, job, true, &body, &d))) {
            if (sub->proto == NOTIFY_P_FILE) {
                notify_file_append(sub, endpoint, body.data, res);
            } else {
                const struct notify_msgrow *m = job->n_msgs ? &job->msgs[0] : NULL;
                char *env[8];
                size_t n = 0;
                env[n++] = notify_strf("KEYSENTRY_MESSAGE_ID=%s", job->message_id);
                env[n++] = notify_strf("KEYSENTRY_TOPIC_ARN=%s", job->topic.arn);
                env[n++] = notify_strf("KEYSENTRY_SUBSCRIPTION_ARN=%s", job->target);
                env[n++] = notify_strf("KEYSENTRY_MESSAGE_TYPE=%s",
                                       job->kind == NOTIFY_K_DIGEST ? "Digest" : "Notification");
                if (m && job->kind != NOTIFY_K_DIGEST) {
                    env[n++] = notify_strf("KEYSENTRY_ALARM_NAME=%s", m->alarm_name);
                    env[n++] = notify_strf("KEYSENTRY_NEW_STATE=%s", m->new_state);
                }
                env[n++] = ks_xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
                env[n] = NULL;
                notify_exec_run(sub, body.data, env, res);
                for (size_t i = 0; i < n; i++)
                    free(env[i]);
            }
        }
        break;
    }
    if (e)
        notify_attempt_fail(res, NOTIFY_PERMANENT, "%s", d.msg[0] ? d.msg : ks_strerror(e));
    if (endpoint) {
        OPENSSL_cleanse(endpoint, strlen(endpoint));
        free(endpoint);
    }
    ks_buf_release(&body);
    ks_buf_release(&subj);
}
