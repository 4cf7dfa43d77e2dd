/* SPDX-License-Identifier: Apache-2.0 */
/*
 * respond: signed calls to KMS (JSON 1.1) and IAM (query protocol) over
 * libcurl.
 *
 * The request is built and signed with src/sigv4 (never libcurl's
 * CURLOPT_AWS_SIGV4, whose signed-header set and token handling vary by curl
 * version: spec/sigv4.md §8.3), then sent with exactly the headers that were
 * signed. Every failure becomes a classified reply: retryable (transport,
 * 5xx, 429, throttling) or permanent (anything the caller must fix: bad
 * credentials, missing permission, unknown key, clock skew).
 */
#include "respond/respond_int.h"

#include <curl/curl.h>
#include <strings.h>

void respond_aws_reply_init(struct respond_aws_reply *rep)
{
    rep->http_status = 0;
    ks_buf_init(&rep->body, RESPOND_MAX_HTTP_BODY);
    rep->request_id[0] = rep->error_code[0] = rep->error_message[0] = '\0';
    rep->status = 0;
}

void respond_aws_reply_release(struct respond_aws_reply *rep)
{
    ks_buf_release(&rep->body);
}

enum ks_err respond_endpoint_parse(const char *url, struct respond_endpoint *out,
                                   struct ks_diag *diag)
{
    memset(out, 0, sizeof(*out));
    const char *p;
    unsigned dflt;
    if (strncmp(url, "https://", 8) == 0) {
        p = url + 8;
        out->https = true;
        dflt = 443;
    } else if (strncmp(url, "http://", 7) == 0) {
        p = url + 7;
        dflt = 80;
    } else {
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "endpoint '%.100s' must start with http:// or https://", url);
    }
    size_t hl = strcspn(p, "/?#");
    const char *rest = p + hl;
    if (hl == 0 || hl >= 256)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "endpoint '%.100s' has no host", url);
    if (memchr(p, '@', hl))
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "endpoint '%.100s' must not hold user information", url);
    if (*rest == '?' || *rest == '#' || strpbrk(rest, "?#"))
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "endpoint '%.100s' must not have a query or fragment", url);
    /* host, [v6], optional :port */
    const char *hend = p + hl, *colon = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', hl);
        if (!rb)
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "endpoint '%.100s': bad IPv6 host",
                               url);
        if (rb + 1 < hend) {
            if (rb[1] != ':')
                return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "endpoint '%.100s': bad IPv6 host",
                                   url);
            colon = rb + 1;
        }
    } else {
        colon = memchr(p, ':', hl);
    }
    size_t name_len = colon ? (size_t)(colon - p) : hl;
    unsigned port = dflt;
    if (colon) {
        const char *q = colon + 1;
        if (q == hend || hend - q > 5)
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "endpoint '%.100s': bad port", url);
        port = 0;
        for (; q < hend; q++) {
            if (*q < '0' || *q > '9')
                return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "endpoint '%.100s': bad port",
                                   url);
            port = port * 10 + (unsigned)(*q - '0');
        }
        if (port == 0 || port > 65535)
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "endpoint '%.100s': bad port", url);
    }
    for (size_t i = 0; i < name_len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7f)
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "endpoint '%.100s': bad host", url);
    }
    if (port == dflt)
        snprintf(out->host, sizeof(out->host), "%.*s", (int)name_len, p);
    else
        snprintf(out->host, sizeof(out->host), "%.*s:%u", (int)name_len, p, port);
    if (strlen(rest) >= sizeof(out->path))
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "endpoint '%.100s': path too long", url);
    for (const char *q = rest; *q; q++)
        if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "endpoint '%.100s': bad path", url);
    snprintf(out->path, sizeof(out->path), "%s", *rest ? rest : "/");
    snprintf(out->url, sizeof(out->url), "%s://%.255s%.200s", out->https ? "https" : "http",
             out->host, out->path);
    return KS_OK;
}

void respond_endpoint_url(enum respond_service svc, const char *property, const char *region,
                          const char *const *env, char *out, size_t out_size)
{
    const char *v = property;
    if (!v || !*v)
        v = respond_getenv(env, svc == RESPOND_SVC_KMS ? "KEYSENTRY_ENDPOINT_URL_KMS"
                                                       : "KEYSENTRY_ENDPOINT_URL_IAM");
    if (!v || !*v)
        v = respond_getenv(env, svc == RESPOND_SVC_KMS ? "AWS_ENDPOINT_URL_KMS"
                                                       : "AWS_ENDPOINT_URL_IAM");
    if (!v || !*v)
        v = respond_getenv(env, "AWS_ENDPOINT_URL");
    if (v && *v) {
        snprintf(out, out_size, "%s", v);
        return;
    }
    if (svc == RESPOND_SVC_KMS)
        snprintf(out, out_size, "https://kms.%s.amazonaws.com/", region);
    else
        snprintf(out, out_size, "https://iam.amazonaws.com/");
}

const char *respond_signing_region(enum respond_service svc, const char *region)
{
    /* IAM is global; its endpoint signs in us-east-1. */
    return svc == RESPOND_SVC_IAM ? "us-east-1" : region;
}

static enum ks_err build_body(enum respond_service svc, const char *op, json_t *params,
                              struct ks_buf *body)
{
    if (svc == RESPOND_SVC_KMS) {
        char *text = json_dumps(params, JSON_COMPACT);
        if (!text)
            return KS_E_INVALID;
        enum ks_err e = ks_buf_add(body, text, strlen(text));
        free(text);
        return e;
    }
    enum ks_err e = ks_buf_addf(body, "Action=%s&Version=%s", op, RESPOND_IAM_VERSION);
    const char *k;
    json_t *v;
    json_object_foreach(params, k, v)
    {
        if (e)
            break;
        if (!json_is_string(v))
            return KS_E_INVALID;
        if ((e = ks_buf_addf(body, "&")) || (e = respond_form_encode(k, body)) ||
            (e = ks_buf_addf(body, "=")) || (e = respond_form_encode(json_string_value(v), body)))
            break;
    }
    return e;
}

enum ks_err respond_build_request(enum respond_service svc, const char *op, json_t *params,
                                  const struct respond_endpoint *ep, const char *region,
                                  const struct respond_creds *creds, int64_t time,
                                  struct sigv4_request *req, struct ks_buf *body,
                                  struct ks_diag *diag)
{
    enum ks_err e = build_body(svc, op, params, body);
    if (e)
        return ks_diag_set(diag, e, SIZE_MAX, "cannot build the %s request body", op);
    char target[160];
    snprintf(target, sizeof(target), "TrentService.%s", op);
    if ((e = sigv4_request_set_method(req, "POST", 4)) ||
        (e = sigv4_request_set_target(req, ep->path, strlen(ep->path))) ||
        (e = sigv4_request_add_header(req, "Host", 4, ep->host, strlen(ep->host))))
        return ks_diag_set(diag, e, SIZE_MAX, "cannot build the %s request", op);
    if (svc == RESPOND_SVC_KMS) {
        if ((e = sigv4_request_set_header(req, "Content-Type", "application/x-amz-json-1.1")) ||
            (e = sigv4_request_set_header(req, "X-Amz-Target", target)))
            return ks_diag_set(diag, e, SIZE_MAX, "cannot build the %s request", op);
    } else {
        if ((e = sigv4_request_set_header(req, "Content-Type",
                                          "application/x-www-form-urlencoded; charset=utf-8")))
            return ks_diag_set(diag, e, SIZE_MAX, "cannot build the %s request", op);
    }
    sigv4_request_set_body(req, body->data, body->len);
    struct sigv4_credentials c = {creds->access_key_id, creds->secret_access_key,
                                  creds->session_token};
    struct sigv4_sign_params sp = {0};
    sp.creds = &c;
    sp.region = respond_signing_region(svc, region);
    sp.service = svc == RESPOND_SVC_KMS ? "kms" : "iam";
    sp.time = time;
    return sigv4_sign(req, &sp, NULL, diag);
}

enum ks_err respond_revoke_policy(int64_t issued_before, struct ks_buf *out)
{
    char when[21];
    respond_iso8601(issued_before * 1000, when);
    /* The document the IAM console's "Revoke active sessions" writes. */
    return ks_buf_addf(out,
                       "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\","
                       "\"Action\":[\"*\"],\"Resource\":[\"*\"],\"Condition\":{\"DateLessThan\":"
                       "{\"aws:TokenIssueTime\":\"%s\"}}}]}",
                       when);
}

/* ---- XML (IAM answers) ---- */

bool respond_xml_text(const char *xml, const char *tag, bool url_decode, struct ks_buf *out)
{
    char open[80], close[80];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *s = strstr(xml, open);
    if (!s)
        return false;
    s += strlen(open);
    const char *e = strstr(s, close);
    if (!e)
        return false;
    struct ks_buf tmp;
    ks_buf_init(&tmp, RESPOND_MAX_HTTP_BODY);
    bool ok = true;
    for (const char *p = s; p < e && ok;) {
        static const struct {
            const char *ent;
            char c;
        } ents[] = {
            {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
        size_t i = 0;
        if (*p == '&') {
            for (; i < KS_ARRAY_LEN(ents); i++)
                if (strncmp(p, ents[i].ent, strlen(ents[i].ent)) == 0)
                    break;
        }
        if (*p == '&' && i < KS_ARRAY_LEN(ents)) {
            ok = ks_buf_add(&tmp, &ents[i].c, 1) == KS_OK;
            p += strlen(ents[i].ent);
        } else {
            ok = ks_buf_add(&tmp, p, 1) == KS_OK;
            p++;
        }
    }
    if (ok) {
        if (url_decode)
            ok = respond_url_decode(tmp.data, tmp.len, out);
        else
            ok = ks_buf_add(out, tmp.data, tmp.len) == KS_OK;
    }
    ks_buf_release(&tmp);
    return ok;
}

/* ---- libcurl ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct respond_aws_reply *rep = ud;
    size_t n = size * nmemb;
    if (ks_buf_add(&rep->body, ptr, n))
        return 0; /* over RESPOND_MAX_HTTP_BODY: curl aborts the transfer */
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct respond_aws_reply *rep = ud;
    size_t n = size * nmemb;
    static const char *const names[] = {"x-amzn-requestid:", "x-amz-request-id:"};
    for (size_t i = 0; i < KS_ARRAY_LEN(names); i++) {
        size_t l = strlen(names[i]);
        if (n > l && strncasecmp(ptr, names[i], l) == 0) {
            const char *v = ptr + l, *e = ptr + n;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
                e--;
            size_t vl = (size_t)(e - v);
            if (vl >= sizeof(rep->request_id))
                vl = sizeof(rep->request_id) - 1;
            bool ok = true;
            for (size_t k = 0; k < vl; k++)
                ok &= (unsigned char)v[k] > 0x20 && (unsigned char)v[k] < 0x7f;
            if (ok) {
                memcpy(rep->request_id, v, vl);
                rep->request_id[vl] = '\0';
            }
        }
    }
    return n;
}

static bool retryable_code(const char *code)
{
    static const char *const codes[] = {"ThrottlingException",
                                        "Throttling",
                                        "ThrottledException",
                                        "RequestLimitExceeded",
                                        "TooManyRequestsException",
                                        "ServiceUnavailable",
                                        "ServiceUnavailableException",
                                        "InternalFailure",
                                        "InternalError",
                                        "KMSInternalException",
                                        "DependencyTimeoutException",
                                        "KeyUnavailableException",
                                        "ServiceFailure",
                                        "RequestTimeout",
                                        "RequestTimeoutException",
                                        "ConcurrentModification",
                                        "ConcurrentModificationException"};
    for (size_t i = 0; i < KS_ARRAY_LEN(codes); i++)
        if (strcmp(code, codes[i]) == 0)
            return true;
    return false;
}

static void copy_text(char *dst, size_t size, const char *s, size_t n)
{
    if (n >= size)
        n = size - 1;
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        dst[o++] = (unsigned char)s[i] < 0x20 ? ' ' : s[i];
    dst[o] = '\0';
}

/* Fills error_code / error_message from a KMS JSON or IAM XML error body. */
static void parse_error(enum respond_service svc, struct respond_aws_reply *rep)
{
    if (svc == RESPOND_SVC_KMS) {
        json_t *j = json_loadb(rep->body.data, rep->body.len, 0, NULL);
        const char *type = j ? json_string_value(json_object_get(j, "__type")) : NULL;
        const char *msg = j ? json_string_value(json_object_get(j, "message")) : NULL;
        if (j && !msg)
            msg = json_string_value(json_object_get(j, "Message"));
        if (type) {
            /* "com.amazonaws.kms#NotFoundException:..." -> NotFoundException */
            const char *hash = strrchr(type, '#');
            if (hash)
                type = hash + 1;
            size_t n = strcspn(type, ":,");
            copy_text(rep->error_code, sizeof(rep->error_code), type, n);
        }
        if (msg)
            copy_text(rep->error_message, sizeof(rep->error_message), msg, strlen(msg));
        json_decref(j);
    } else {
        struct ks_buf b;
        ks_buf_init(&b, RESPOND_MAX_HTTP_BODY);
        if (respond_xml_text(rep->body.data, "Code", false, &b))
            copy_text(rep->error_code, sizeof(rep->error_code), b.data, b.len);
        ks_buf_reset(&b);
        if (respond_xml_text(rep->body.data, "Message", false, &b))
            copy_text(rep->error_message, sizeof(rep->error_message), b.data, b.len);
        ks_buf_reset(&b);
        if (!rep->request_id[0] && respond_xml_text(rep->body.data, "RequestId", false, &b))
            copy_text(rep->request_id, sizeof(rep->request_id), b.data, b.len);
        ks_buf_release(&b);
    }
    if (!rep->error_code[0])
        snprintf(rep->error_code, sizeof(rep->error_code), "HTTP%ld", rep->http_status);
}

void respond_aws_call(const struct respond_aws_target *t, const char *op, json_t *params,
                      struct respond_aws_reply *rep)
{
    char url[512];
    struct respond_endpoint ep;
    struct ks_diag diag;
    ks_diag_clear(&diag);
    respond_endpoint_url(t->svc, t->endpoint_prop, t->region, t->env, url, sizeof(url));
    if (respond_endpoint_parse(url, &ep, &diag)) {
        snprintf(rep->error_code, sizeof(rep->error_code), "InvalidEndpoint");
        snprintf(rep->error_message, sizeof(rep->error_message), "%s", diag.msg);
        rep->status = -1;
        return;
    }
    struct sigv4_request req;
    struct ks_buf body;
    sigv4_request_init(&req);
    ks_buf_init(&body, RESPOND_MAX_POLICY_BYTES * 4 + 4096);
    struct curl_slist *hdrs = NULL;
    CURL *h = NULL;
    if (respond_build_request(t->svc, op, params, &ep, t->region, t->creds, t->now_s, &req, &body,
                              &diag)) {
        snprintf(rep->error_code, sizeof(rep->error_code), "RequestBuildFailed");
        snprintf(rep->error_message, sizeof(rep->error_message), "%s", diag.msg);
        rep->status = -1;
        goto out;
    }
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK || !(h = curl_easy_init())) {
        snprintf(rep->error_code, sizeof(rep->error_code), "TransportUnavailable");
        snprintf(rep->error_message, sizeof(rep->error_message), "libcurl cannot start");
        rep->status = 1;
        goto out;
    }
    /* Send exactly the signed header fields, and nothing curl would add
     * that could confuse a strict server. */
    struct ks_buf line;
    ks_buf_init(&line, 64u << 10);
    for (size_t i = 0; i < req.nheaders; i++) {
        ks_buf_reset(&line);
        if (ks_buf_addf(&line, "%s: %s", req.headers[i].name, req.headers[i].value) == KS_OK)
            hdrs = curl_slist_append(hdrs, line.data);
    }
    ks_buf_release(&line);
    hdrs = curl_slist_append(hdrs, "Expect:");
    hdrs = curl_slist_append(hdrs, "Accept:");
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, ep.url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body.len);
    curl_easy_setopt(h, CURLOPT_USERAGENT, RESPOND_USER_AGENT);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)t->timeout_s * 1000L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)t->timeout_s * 1000L);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, rep);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, rep);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        snprintf(rep->error_code, sizeof(rep->error_code), "TransportError");
        snprintf(rep->error_message, sizeof(rep->error_message), "%.200s: %.250s", ep.url,
                 errbuf[0] ? errbuf : curl_easy_strerror(rc));
        /* TLS verification and bad URLs do not heal by themselves. */
        bool permanent = rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT ||
                         rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
                         rc == CURLE_SSL_CERTPROBLEM;
        rep->status = permanent ? -1 : 1;
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rep->http_status);
    if (rep->http_status >= 200 && rep->http_status < 300) {
        rep->status = 0;
        if (t->svc == RESPOND_SVC_IAM && !rep->request_id[0]) {
            struct ks_buf b;
            ks_buf_init(&b, 256);
            if (respond_xml_text(rep->body.data, "RequestId", false, &b))
                copy_text(rep->request_id, sizeof(rep->request_id), b.data, b.len);
            ks_buf_release(&b);
        }
        goto out;
    }
    parse_error(t->svc, rep);
    rep->status =
        (rep->http_status >= 500 || rep->http_status == 429 || retryable_code(rep->error_code))
            ? 1
            : -1;
out:
    curl_slist_free_all(hdrs);
    if (h)
        curl_easy_cleanup(h);
    sigv4_request_release(&req);
    ks_buf_release(&body);
}
