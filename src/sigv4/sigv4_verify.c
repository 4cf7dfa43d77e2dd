/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigv4 verification (servers): spec/sigv4.md §4, steps 1-11 in the spec's
 * order, because the order decides which error a client sees (a request that
 * is both stale and badly signed must get the clock-skew error, so the JS SDK
 * can correct its clock and retry).
 *
 * Every failure sets exactly one enum sigv4_status and the AWS message text
 * for it (spec §5). Texts marked [DECISION]/[UNVERIFIED] in the spec are kept
 * verbatim; where the spec gives no text, ours follows AWS's style (a
 * sentence, the offending value quoted). Values echoed into messages are
 * sanitised (controls -> '?') and truncated, and Authorization values are
 * echoed with the signature redacted: messages end up in logs.
 *
 * The verifier drives everything from the client's SignedHeaders (spec §3):
 * it never demands x-amz-target or x-amz-security-token be signed, and
 * rebuilds the canonical request in the client's order.
 */
#include "sigv4/sigv4_int.h"

#include <openssl/crypto.h>

static const char msg_mismatch[] =
    "The request signature we calculated does not match the signature you provided. Check "
    "your AWS Secret Access Key and signing method. Consult the service documentation for "
    "details.";
static const char msg_bad_token[] = "The security token included in the request is invalid.";
static const char msg_query_required[] =
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
    "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.";

#define ECHO_MAX 256 /* bytes of a client value echoed into a message */

const char *sigv4_status_name(enum sigv4_status s)
{
    switch (s) {
#define SIGV4_STATUS_NAME(name, code)                                                              \
    case name:                                                                                     \
        return #name;
        SIGV4_STATUS_LIST(SIGV4_STATUS_NAME)
#undef SIGV4_STATUS_NAME
    }
    return "SIGV4_UNKNOWN";
}

const char *sigv4_status_aws_code(enum sigv4_status s)
{
    switch (s) {
#define SIGV4_STATUS_CODE(name, code)                                                              \
    case name:                                                                                     \
        return code;
        SIGV4_STATUS_LIST(SIGV4_STATUS_CODE)
#undef SIGV4_STATUS_CODE
    }
    return "InternalFailure";
}

int sigv4_status_http(enum sigv4_status s)
{
    /* The JSON-protocol services answer every auth failure with 400 (spec §4). */
    return s == SIGV4_OK ? 200 : 400;
}

void sigv4_result_init(struct sigv4_result *res)
{
    memset(res, 0, sizeof(*res));
    ks_buf_init(&res->message, SIGV4_MAX_CANONICAL_BYTES + 8192);
    sigv4_trace_init(&res->trace);
}

void sigv4_result_release(struct sigv4_result *res)
{
    ks_buf_release(&res->message);
    sigv4_trace_release(&res->trace);
}

static void result_reset(struct sigv4_result *res)
{
    struct ks_buf m = res->message;
    struct sigv4_trace t = res->trace;
    memset(res, 0, sizeof(*res));
    res->message = m;
    res->trace = t;
    ks_buf_reset(&res->message);
    ks_buf_reset(&res->trace.canonical_request);
    ks_buf_reset(&res->trace.string_to_sign);
    res->trace.signature[0] = '\0';
}

/* Client bytes made safe to quote: controls -> '?', at most `cap - 4` bytes
 * then "...". */
static const char *echo(char *dst, size_t cap, const char *p, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o + 4 >= cap) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char c = (unsigned char)p[i];
        dst[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    dst[o] = '\0';
    return dst;
}

static enum sigv4_status fail(struct sigv4_result *res, enum sigv4_status st, const char *fmt, ...)
    KS_PRINTF(3, 4);

static enum sigv4_status fail(struct sigv4_result *res, enum sigv4_status st, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    ks_buf_reset(&res->message);
    if (n > 0)
        (void)!ks_buf_add(&res->message, tmp,
                          (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
    res->status = st;
    return st;
}

/* Redacted, sanitised, truncated Authorization value for messages. */
static const char *echo_auth(char *dst, size_t cap, const char *p, size_t n)
{
    struct ks_buf b;
    ks_buf_init(&b, SIGV4_MAX_FIELD_BYTES * 2);
    if (sigv4_redact_authorization(p, n, &b))
        ks_buf_reset(&b);
    echo(dst, cap, b.data, b.len);
    ks_buf_release(&b);
    return dst;
}

/* Everything verification extracts from the request. */
struct vstate {
    const struct sigv4_verifier *v;
    const struct sigv4_request *req;
    struct sigv4_result *res;
    int64_t now, max_skew;
    struct sigv4_view auth; /* header form: the trimmed Authorization value */
    struct sigv4_view cred, signed_headers, signature;
    const char *date_header; /* header form: "x-amz-date" or "date" */
    /* query form: decoded parameter values */
    struct ks_buf q_alg, q_cred, q_date, q_expires, q_sh, q_sig;
};

static void vstate_init(struct vstate *s)
{
    memset(s, 0, sizeof(*s));
    struct ks_buf *b[] = {&s->q_alg, &s->q_cred, &s->q_date, &s->q_expires, &s->q_sh, &s->q_sig};
    for (size_t i = 0; i < KS_ARRAY_LEN(b); i++)
        ks_buf_init(b[i], SIGV4_MAX_TARGET_BYTES);
}

static void vstate_release(struct vstate *s)
{
    struct ks_buf *b[] = {&s->q_alg, &s->q_cred, &s->q_date, &s->q_expires, &s->q_sh, &s->q_sig};
    for (size_t i = 0; i < KS_ARRAY_LEN(b); i++)
        ks_buf_release(b[i]);
}

static struct sigv4_view trimmed_header(const struct sigv4_request *req, const char *name)
{
    const struct sigv4_header *h = sigv4_request_header(req, name, 0);
    return h ? sigv4_trim(h->value, h->value_len) : (struct sigv4_view){"", 0};
}

/* Step 2, header form. */
static enum sigv4_status parse_authorization(struct vstate *s)
{
    struct sigv4_result *res = s->res;
    const char *p = s->auth.p;
    size_t n = s->auth.n, i = 0;
    char e1[ECHO_MAX], e2[ECHO_MAX + 64];
    while (i < n && p[i] != ' ' && p[i] != '\t')
        i++;
    if (i != strlen(SIGV4_ALGORITHM) || memcmp(p, SIGV4_ALGORITHM, i) != 0)
        return fail(res, SIGV4_UNSUPPORTED_ALGORITHM,
                    "Authorization header algorithm '%s' is not supported; only '" SIGV4_ALGORITHM
                    "' is accepted.",
                    echo(e1, 64, p, i));
    struct sigv4_view *slot[3] = {&s->cred, &s->signed_headers, &s->signature};
    static const char *const keys[3] = {"Credential", "SignedHeaders", "Signature"};
    bool seen[3] = {false, false, false};
    while (i < n) {
        const char *comma = memchr(p + i, ',', n - i);
        size_t len = comma ? (size_t)(comma - (p + i)) : n - i;
        struct sigv4_view item = sigv4_trim(p + i, len);
        i += len + 1;
        if (item.n == 0)
            continue;
        const char *eq = memchr(item.p, '=', item.n);
        if (!eq)
            return fail(res, SIGV4_MALFORMED_AUTH,
                        "'%s' not a valid key=value pair (missing equal-sign) in Authorization "
                        "header: '%s'.",
                        echo(e1, 64, item.p, item.n), echo_auth(e2, sizeof(e2), p, n));
        size_t klen = (size_t)(eq - item.p);
        size_t k = 0;
        while (k < 3 && !(strlen(keys[k]) == klen && memcmp(keys[k], item.p, klen) == 0))
            k++;
        if (k == 3)
            return fail(res, SIGV4_MALFORMED_AUTH,
                        "Authorization header parameter '%s' is not recognized. Authorization=%s",
                        echo(e1, 64, item.p, klen), echo_auth(e2, sizeof(e2), p, n));
        if (seen[k])
            return fail(res, SIGV4_MALFORMED_AUTH,
                        "Authorization header parameter '%s' appears more than once. "
                        "Authorization=%s",
                        keys[k], echo_auth(e2, sizeof(e2), p, n));
        seen[k] = true;
        *slot[k] = sigv4_trim(eq + 1, item.n - klen - 1);
    }
    if (seen[0] && seen[1] && seen[2])
        return SIGV4_OK;
    char missing[256];
    size_t o = 0;
    for (size_t k = 0; k < 3; k++) {
        if (!seen[k])
            o += (size_t)snprintf(missing + o, sizeof(missing) - o,
                                  "Authorization header requires '%s' parameter. ", keys[k]);
    }
    return fail(res, SIGV4_MALFORMED_AUTH, "%sAuthorization=%s", missing,
                echo_auth(e2, sizeof(e2), p, n));
}

/* Step 2, query form. */
static enum sigv4_status parse_query_auth(struct vstate *s)
{
    const struct sigv4_request *req = s->req;
    struct {
        const char *name;
        struct ks_buf *buf;
    } params[] = {
        {"X-Amz-Algorithm", &s->q_alg},    {"X-Amz-Credential", &s->q_cred},
        {"X-Amz-Signature", &s->q_sig},    {"X-Amz-Date", &s->q_date},
        {"X-Amz-SignedHeaders", &s->q_sh}, {"X-Amz-Expires", &s->q_expires},
    };
    bool missing = false;
    for (size_t i = 0; i < KS_ARRAY_LEN(params); i++) {
        size_t c = sigv4_query_param(req->query, req->query_len, params[i].name, params[i].buf);
        if (c > 1)
            return fail(s->res, SIGV4_MALFORMED_AUTH,
                        "Query parameter '%s' appears more than once.", params[i].name);
        missing |= c == 0;
    }
    if (sigv4_query_param(req->query, req->query_len, "X-Amz-Algorithm", NULL) &&
        strcmp(s->q_alg.data, SIGV4_ALGORITHM) != 0) {
        char e1[ECHO_MAX];
        return fail(s->res, SIGV4_UNSUPPORTED_ALGORITHM,
                    "X-Amz-Algorithm '%s' is not supported; only '" SIGV4_ALGORITHM
                    "' is accepted.",
                    echo(e1, 64, s->q_alg.data, s->q_alg.len));
    }
    if (missing)
        return fail(s->res, SIGV4_MALFORMED_AUTH, "%s", msg_query_required);
    s->cred = (struct sigv4_view){s->q_cred.data, s->q_cred.len};
    s->signed_headers = (struct sigv4_view){s->q_sh.data, s->q_sh.len};
    s->signature = (struct sigv4_view){s->q_sig.data, s->q_sig.len};
    return SIGV4_OK;
}

static bool copy_part(char *dst, size_t cap, struct sigv4_view v)
{
    if (v.n == 0 || v.n >= cap)
        return false;
    for (size_t i = 0; i < v.n; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (c <= 0x20 || c == 0x7f)
            return false;
    }
    memcpy(dst, v.p, v.n);
    dst[v.n] = '\0';
    return true;
}

/* Step 3: AKID/date/region/service/aws4_request. */
static enum sigv4_status check_scope(struct vstate *s)
{
    struct sigv4_result *res = s->res;
    const struct sigv4_verifier *v = s->v;
    struct sigv4_view part[5];
    size_t np = 0;
    const char *p = s->cred.p;
    size_t n = s->cred.n;
    char e1[ECHO_MAX];
    for (size_t i = 0; i <= n && np < 6;) {
        const char *slash = memchr(p + i, '/', n - i);
        size_t len = slash ? (size_t)(slash - (p + i)) : n - i;
        if (np < 5)
            part[np] = (struct sigv4_view){p + i, len};
        np++;
        i += len + 1;
    }
    char date[SIGV4_MAX_SCOPE_PART + 1], term[SIGV4_MAX_SCOPE_PART + 1];
    if (np != 5 || !copy_part(res->access_key_id, sizeof(res->access_key_id), part[0]) ||
        !copy_part(date, sizeof(date), part[1]) ||
        !copy_part(res->region, sizeof(res->region), part[2]) ||
        !copy_part(res->service, sizeof(res->service), part[3]) ||
        !copy_part(term, sizeof(term), part[4])) {
        res->access_key_id[0] = res->region[0] = res->service[0] = '\0';
        return fail(res, SIGV4_MALFORMED_CREDENTIAL,
                    "Credential must have the form "
                    "'<access key id>/<YYYYMMDD>/<region>/<service>/aws4_request', not '%s'.",
                    echo(e1, sizeof(e1), p, n));
    }
    if (strlen(date) == 8)
        memcpy(res->date, date, 9);
    if (strcmp(term, "aws4_request") != 0)
        return fail(res, SIGV4_BAD_TERMINATOR,
                    "Credential should be scoped with a valid terminator: 'aws4_request', not "
                    "'%s'. ",
                    echo(e1, sizeof(e1), term, strlen(term)));
    if (v->service && strcmp(res->service, v->service) != 0)
        return fail(res, SIGV4_WRONG_SERVICE,
                    "Credential should be scoped to correct service: '%s'. ", v->service);
    bool region_ok = v->nregions == 0;
    for (size_t i = 0; !region_ok && i < v->nregions; i++)
        region_ok = strcmp(v->regions[i], res->region) == 0;
    if (!region_ok)
        return fail(res, SIGV4_WRONG_REGION,
                    "Credential should be scoped to a valid region, not '%s'. ",
                    echo(e1, sizeof(e1), res->region, strlen(res->region)));
    return SIGV4_OK;
}

static void skew_suffix(char *dst, size_t cap, int64_t secs)
{
    if (secs % 60 == 0)
        snprintf(dst, cap, "%lld min.", (long long)(secs / 60));
    else
        snprintf(dst, cap, "%lld sec.", (long long)secs);
}

static void fmt_time(int64_t t, char out[17])
{
    if (!sigv4_format_amz_date(t, out))
        snprintf(out, 17, "%s", t < 0 ? "19700101T000000Z" : "99991231T235959Z");
}

/* Steps 4 and 5: request time, scope date, clock skew / presign expiry. */
static enum sigv4_status check_time(struct vstate *s, struct sigv4_view scope_date)
{
    struct sigv4_result *res = s->res;
    const struct sigv4_request *req = s->req;
    char e1[ECHO_MAX], e2[ECHO_MAX];
    int64_t t = 0;
    if (res->form == SIGV4_FORM_QUERY) {
        if (!sigv4_parse_amz_date(s->q_date.data, s->q_date.len, &t))
            return fail(res, SIGV4_MALFORMED_DATE,
                        "X-Amz-Date must be in the form YYYYMMDD'T'HHMMSS'Z', not '%s'.",
                        echo(e1, sizeof(e1), s->q_date.data, s->q_date.len));
        memcpy(res->amz_date, s->q_date.data, 16);
    } else {
        size_t nx = sigv4_request_header_count(req, "x-amz-date");
        size_t nd = sigv4_request_header_count(req, "date");
        if (nx == 0 && nd == 0)
            return fail(res, SIGV4_MISSING_DATE,
                        "Authorization header requires existence of either a 'X-Amz-Date' or a "
                        "'Date' header.");
        s->date_header = nx ? "x-amz-date" : "date";
        if ((nx ? nx : nd) > 1)
            return fail(res, SIGV4_MALFORMED_DATE, "The '%s' header appears more than once.",
                        nx ? "X-Amz-Date" : "Date");
        struct sigv4_view d = trimmed_header(req, s->date_header);
        if (nx && !sigv4_parse_amz_date(d.p, d.n, &t))
            return fail(res, SIGV4_MALFORMED_DATE,
                        "X-Amz-Date must be in the form YYYYMMDD'T'HHMMSS'Z', not '%s'.",
                        echo(e1, sizeof(e1), d.p, d.n));
        if (!nx && !sigv4_parse_http_date(d.p, d.n, &t))
            return fail(res, SIGV4_MALFORMED_DATE,
                        "Date must be an IMF-fixdate such as 'Sun, 06 Nov 1994 08:49:37 GMT', "
                        "not '%s'.",
                        echo(e1, sizeof(e1), d.p, d.n));
        if (nx)
            memcpy(res->amz_date, d.p, 16);
        else
            fmt_time(t, res->amz_date);
    }
    res->time = t;
    if (scope_date.n != 8 || memcmp(scope_date.p, res->amz_date, 8) != 0)
        return fail(res, SIGV4_SCOPE_DATE_MISMATCH,
                    "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                    "date from HTTP: '%s' != '%.8s', from '%s'.",
                    echo(e1, 64, scope_date.p, scope_date.n), res->amz_date, res->amz_date);

    char now_s[17], lim_s[17], suffix[32];
    fmt_time(s->now, now_s);
    if (t > s->now + s->max_skew) {
        fmt_time(s->now + s->max_skew, lim_s);
        skew_suffix(suffix, sizeof(suffix), s->max_skew);
        return fail(res, SIGV4_NOT_YET_VALID,
                    "Signature not yet current: %s is still later than %s (%s + %s)", res->amz_date,
                    lim_s, now_s, suffix);
    }
    if (res->form == SIGV4_FORM_HEADER) {
        if (t < s->now - s->max_skew) {
            fmt_time(s->now - s->max_skew, lim_s);
            skew_suffix(suffix, sizeof(suffix), s->max_skew);
            return fail(res, SIGV4_EXPIRED,
                        "Signature expired: %s is now earlier than %s (%s - %s)", res->amz_date,
                        lim_s, now_s, suffix);
        }
        return SIGV4_OK;
    }
    /* query form: X-Amz-Expires, an integer 1..604800 */
    int64_t expires = 0;
    bool ok = s->q_expires.len > 0 && s->q_expires.len <= 6;
    for (size_t i = 0; ok && i < s->q_expires.len; i++) {
        char c = s->q_expires.data[i];
        ok = c >= '0' && c <= '9';
        expires = expires * 10 + (c - '0');
    }
    if (!ok || expires < 1 || expires > SIGV4_MAX_EXPIRES)
        return fail(res, SIGV4_BAD_EXPIRES,
                    "X-Amz-Expires must be an integer number of seconds from 1 to %d, not '%s'.",
                    SIGV4_MAX_EXPIRES, echo(e2, 64, s->q_expires.data, s->q_expires.len));
    if (s->now > t + expires) {
        fmt_time(s->now - expires, lim_s);
        skew_suffix(suffix, sizeof(suffix), expires);
        return fail(res, SIGV4_PRESIGN_EXPIRED,
                    "Signature expired: %s is now earlier than %s (%s - %s)", res->amz_date, lim_s,
                    now_s, suffix);
    }
    return SIGV4_OK;
}

/* Step 6: credentials and session token. */
static enum sigv4_status check_principal(struct vstate *s, struct sigv4_principal *pr)
{
    struct sigv4_result *res = s->res;
    const struct sigv4_request *req = s->req;
    memset(pr, 0, sizeof(*pr));
    if (!s->v->lookup || !s->v->lookup(s->v->lookup_ctx, res->access_key_id, pr) ||
        !pr->secret_access_key)
        return fail(res, SIGV4_UNKNOWN_ACCESS_KEY, "%s", msg_bad_token);
    struct ks_buf qtok;
    ks_buf_init(&qtok, SIGV4_MAX_TARGET_BYTES);
    size_t ntok;
    struct sigv4_view tok = {"", 0};
    if (res->form == SIGV4_FORM_QUERY) {
        ntok = sigv4_query_param(req->query, req->query_len, "X-Amz-Security-Token", &qtok);
        tok = (struct sigv4_view){qtok.data, qtok.len};
    } else {
        ntok = sigv4_request_header_count(req, "x-amz-security-token");
        tok = trimmed_header(req, "x-amz-security-token");
    }
    enum sigv4_status st = SIGV4_OK;
    if (pr->session_token) {
        size_t want = strlen(pr->session_token);
        if (ntok != 1 || tok.n != want || CRYPTO_memcmp(tok.p, pr->session_token, want) != 0)
            st = fail(res, SIGV4_BAD_SESSION_TOKEN, "%s", msg_bad_token);
    } else if (ntok) {
        st = fail(res, SIGV4_BAD_SESSION_TOKEN, "%s", msg_bad_token);
    }
    if (!st && pr->expiration && s->now >= pr->expiration)
        st =
            fail(res, SIGV4_TOKEN_EXPIRED, "The security token included in the request is expired");
    ks_buf_release(&qtok);
    return st;
}

/* Step 7. */
static enum sigv4_status check_signed_headers(struct vstate *s, struct sigv4_view *names,
                                              size_t *nnames)
{
    struct sigv4_result *res = s->res;
    char e1[ECHO_MAX];
    if (!sigv4_split_signed_headers(s->signed_headers.p, s->signed_headers.n, names,
                                    SIGV4_MAX_SIGNED_HEADERS, nnames))
        return fail(res, SIGV4_MALFORMED_SIGNED_HEADERS,
                    "SignedHeaders must be a ';'-separated list of at most %d distinct lower-case "
                    "header names, not '%s'.",
                    SIGV4_MAX_SIGNED_HEADERS,
                    echo(e1, sizeof(e1), s->signed_headers.p, s->signed_headers.n));
    bool host = false, date = false;
    for (size_t i = 0; i < *nnames; i++) {
        if (names[i].n == 13 && memcmp(names[i].p, "authorization", 13) == 0)
            return fail(res, SIGV4_MALFORMED_SIGNED_HEADERS,
                        "SignedHeaders must not include 'authorization'.");
        host |= names[i].n == 4 && memcmp(names[i].p, "host", 4) == 0;
        date |= s->date_header && names[i].n == strlen(s->date_header) &&
                memcmp(names[i].p, s->date_header, names[i].n) == 0;
    }
    if (!host)
        return fail(res, SIGV4_HOST_NOT_SIGNED,
                    "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
    /* [DECISION] the header that carries the request time must be signed,
     * as AWS documents; every client in spec §3 signs it. */
    if (res->form == SIGV4_FORM_HEADER && !date && !(s->v->flags & SIGV4_F_ALLOW_UNSIGNED_DATE))
        return fail(res, SIGV4_DATE_NOT_SIGNED,
                    "'%s' must be a 'SignedHeader' in the AWS Authorization.",
                    strcmp(s->date_header, "date") == 0 ? "Date" : "X-Amz-Date");
    return SIGV4_OK;
}

static bool hash_eq_nocase(struct sigv4_view a, const char *b)
{
    if (a.n != strlen(b))
        return false;
    for (size_t i = 0; i < a.n; i++) {
        if (sigv4_lower(a.p[i]) != b[i])
            return false;
    }
    return true;
}

/* Step 8: the payload hash to put in the canonical request. */
static enum sigv4_status check_payload(struct vstate *s, char hash[65])
{
    const struct sigv4_request *req = s->req;
    struct sigv4_result *res = s->res;
    bool allow_unsigned = (s->v->flags & SIGV4_F_UNSIGNED_PAYLOAD) != 0;
    bool known = true;
    if (req->payload_hash[0] && strcmp(req->payload_hash, SIGV4_UNSIGNED_PAYLOAD) != 0)
        memcpy(hash, req->payload_hash, 65);
    else if (req->payload_hash[0])
        known = false; /* the caller has no body to hash */
    else
        sigv4_sha256_hex(req->body, req->body_len, hash);
    size_t nh = sigv4_request_header_count(req, "x-amz-content-sha256");
    if (nh > 1)
        return fail(res, SIGV4_PAYLOAD_HASH_MISMATCH,
                    "The 'x-amz-content-sha256' header appears more than once.");
    if (nh == 0) {
        if (known)
            return SIGV4_OK;
        return fail(res, SIGV4_PAYLOAD_HASH_MISMATCH,
                    "The request payload cannot be verified without its body or its hash.");
    }
    struct sigv4_view hv = trimmed_header(req, "x-amz-content-sha256");
    if (hv.n == strlen(SIGV4_UNSIGNED_PAYLOAD) && memcmp(hv.p, SIGV4_UNSIGNED_PAYLOAD, hv.n) == 0) {
        if (!allow_unsigned)
            return fail(res, SIGV4_UNSIGNED_PAYLOAD_REJECTED,
                        "'x-amz-content-sha256: UNSIGNED-PAYLOAD' is not accepted by this "
                        "service; sign the payload.");
        memcpy(hash, SIGV4_UNSIGNED_PAYLOAD, sizeof(SIGV4_UNSIGNED_PAYLOAD));
        return SIGV4_OK;
    }
    if (hv.n >= 10 && memcmp(hv.p, "STREAMING-", 10) == 0)
        return fail(res, SIGV4_UNSIGNED_PAYLOAD_REJECTED,
                    "Streaming (chunked) payload signing is not supported by this service.");
    if (!known || !hash_eq_nocase(hv, hash))
        return fail(res, SIGV4_PAYLOAD_HASH_MISMATCH,
                    "The provided 'x-amz-content-sha256' header does not match what was "
                    "computed.");
    return SIGV4_OK;
}

/* Steps 9-11. */
static enum sigv4_status check_signature(struct vstate *s, const struct sigv4_principal *pr,
                                         const struct sigv4_view *names, size_t nnames,
                                         const char *hash)
{
    struct sigv4_result *res = s->res;
    const struct sigv4_request *req = s->req;
    struct sigv4_trace *t = &res->trace;
    bool query = res->form == SIGV4_FORM_QUERY;
    enum ks_err e = sigv4_canon_request(req, names, nnames, hash, s->v->flags, query, true,
                                        &t->canonical_request);
    char scope[8 + 2 * SIGV4_MAX_SCOPE_PART + 3];
    snprintf(scope, sizeof(scope), "%s/%s/%s", res->date, res->region, res->service);
    if (!e)
        e = sigv4_string_to_sign(res->amz_date, scope, t->canonical_request.data,
                                 t->canonical_request.len, &t->string_to_sign);
    if (e)
        return fail(res, SIGV4_REQUEST_TOO_LARGE,
                    "The request is too large to verify (canonical request over %u bytes).",
                    SIGV4_MAX_CANONICAL_BYTES);
    /* a signed header that is absent cannot have been signed as absent */
    bool present = true;
    for (size_t i = 0; i < nnames; i++) {
        bool found = false;
        for (size_t j = 0; !found && j < req->nheaders; j++)
            found =
                sigv4_ieq(req->headers[j].name, req->headers[j].name_len, names[i].p, names[i].n);
        present &= found;
    }
    unsigned char key[32], mac[32];
    char expect[65], given[64];
    sigv4_signing_key(s->v->cache, pr->secret_access_key, res->date, res->region, res->service,
                      key);
    sigv4_hmac(key, 32, t->string_to_sign.data, t->string_to_sign.len, mac);
    sigv4_hex(mac, 32, expect);
    bool match = s->signature.n == 64;
    for (size_t i = 0; match && i < 64; i++)
        given[i] = sigv4_lower(s->signature.p[i]);
    match = match && CRYPTO_memcmp(expect, given, 64) == 0 && present;
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(mac, sizeof(mac));
    OPENSSL_cleanse(expect, sizeof(expect));
    if (match)
        return SIGV4_OK;
    fail(res, SIGV4_SIGNATURE_MISMATCH, "%s", msg_mismatch);
    if (s->v->flags & SIGV4_F_DEBUG) {
        /* the AWS debug style; both strings are safe to show (spec §4 step 11) */
        static const char creq_intro[] =
            "\n\nThe Canonical String for this request should have been\n'";
        static const char sts_intro[] = "'\n\nThe String-to-Sign should have been\n'";
        struct ks_buf *m = &res->message;
        if (ks_buf_add(m, creq_intro, sizeof(creq_intro) - 1) ||
            ks_buf_add(m, t->canonical_request.data, t->canonical_request.len) ||
            ks_buf_add(m, sts_intro, sizeof(sts_intro) - 1) ||
            ks_buf_add(m, t->string_to_sign.data, t->string_to_sign.len) || ks_buf_add(m, "'\n", 2))
            fail(res, SIGV4_SIGNATURE_MISMATCH, "%s", msg_mismatch);
    }
    return SIGV4_SIGNATURE_MISMATCH;
}

static enum sigv4_status verify(struct vstate *s)
{
    const struct sigv4_request *req = s->req;
    struct sigv4_result *res = s->res;
    if (req->bad == KS_E_LIMIT)
        return fail(res, SIGV4_REQUEST_TOO_LARGE,
                    "The request is too large to verify (headers, target or query over the "
                    "limits).");
    if (req->bad || req->method[0] == '\0')
        return fail(res, SIGV4_MALFORMED_REQUEST,
                    "The request holds bytes or fields that HTTP does not allow.");
    if (sigv4_request_header_count(req, "host") > 1)
        return fail(res, SIGV4_MALFORMED_REQUEST, "The request has more than one Host header.");

    /* Step 1: pick the form. */
    size_t nauth = sigv4_request_header_count(req, "authorization");
    bool q = sigv4_query_param(req->query, req->query_len, "X-Amz-Algorithm", NULL) ||
             sigv4_query_param(req->query, req->query_len, "X-Amz-Signature", NULL) ||
             sigv4_query_param(req->query, req->query_len, "X-Amz-Credential", NULL);
    if (nauth && q)
        return fail(res, SIGV4_AMBIGUOUS_AUTH,
                    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter "
                    "or the Authorization header should be specified");
    if (!nauth && !q)
        return fail(res, SIGV4_MISSING_AUTH, "Missing Authentication Token");
    enum sigv4_status st;
    if (nauth) {
        res->form = SIGV4_FORM_HEADER;
        if (nauth > 1)
            return fail(res, SIGV4_MALFORMED_AUTH,
                        "The Authorization header appears more than once.");
        s->auth = trimmed_header(req, "authorization");
        st = parse_authorization(s);
    } else {
        res->form = SIGV4_FORM_QUERY;
        st = parse_query_auth(s);
    }
    if (st)
        return st;

    /* Step 3, then 4-5 (scope date kept as a view: check_scope stores only
     * an 8-character one in res->date). */
    if ((st = check_scope(s)))
        return st;
    const char *d1 = memchr(s->cred.p, '/', s->cred.n);
    const char *d2 = memchr(d1 + 1, '/', s->cred.n - (size_t)(d1 + 1 - s->cred.p));
    struct sigv4_view scope_date = {d1 + 1, (size_t)(d2 - d1 - 1)};
    if ((st = check_time(s, scope_date)))
        return st;

    struct sigv4_principal pr;
    if ((st = check_principal(s, &pr)))
        return st;
    struct sigv4_view names[SIGV4_MAX_SIGNED_HEADERS];
    size_t nnames = 0;
    if ((st = check_signed_headers(s, names, &nnames)))
        return st;
    char hash[65];
    if ((st = check_payload(s, hash)))
        return st;
    if ((st = check_signature(s, &pr, names, nnames, hash)))
        return st;
    res->identity = pr.identity;
    return SIGV4_OK;
}

enum sigv4_status sigv4_verify(const struct sigv4_verifier *v, const struct sigv4_request *req,
                               int64_t now, struct sigv4_result *res)
{
    struct vstate s;
    vstate_init(&s);
    result_reset(res);
    s.v = v;
    s.req = req;
    s.res = res;
    s.now = now;
    s.max_skew = v->max_skew > 0 ? v->max_skew : SIGV4_DEFAULT_MAX_SKEW;
    if (s.max_skew > 7 * 86400)
        s.max_skew = 7 * 86400; /* keeps now +- skew far from overflow */
    enum sigv4_status st = verify(&s);
    vstate_release(&s);
    res->status = st;
    if (st != SIGV4_OK)
        res->identity = NULL;
    return st;
}
