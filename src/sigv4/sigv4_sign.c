/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigv4 signing (clients): header form and query form (presigned URLs).
 *
 * Headers the signer adds (X-Amz-Date, X-Amz-Security-Token,
 * X-Amz-Content-Sha256) are set *before* the canonical request is built, so
 * they are covered; a session token with SIGV4_F_TOKEN_UNSIGNED is added
 * afterwards instead. Existing fields of those names are replaced in place,
 * which is what the 2015 suite expects (its requests already carry
 * X-Amz-Date). The query form appends its parameters in the order aws-c-auth
 * writes them; any order verifies, since the canonical query is sorted.
 */
#include "sigv4/sigv4_int.h"

#include <openssl/crypto.h>

/* Hop-by-hop and volatile headers that proxies add, drop or rewrite (the
 * union of what botocore and the JS SDK refuse to sign, spec §3). */
static const char *const unsignable[] = {
    "authorization",
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "x-amzn-trace-id",
};

void sigv4_trace_init(struct sigv4_trace *t)
{
    ks_buf_init(&t->canonical_request, SIGV4_MAX_CANONICAL_BYTES);
    ks_buf_init(&t->string_to_sign, 4096);
    t->signature[0] = '\0';
}

void sigv4_trace_release(struct sigv4_trace *t)
{
    ks_buf_release(&t->canonical_request);
    ks_buf_release(&t->string_to_sign);
    t->signature[0] = '\0';
}

/* Scope parts and the access key id: printable, no '/', no separators that
 * would break the Authorization syntax. */
static bool scope_part_ok(const char *s, bool is_akid)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > SIGV4_MAX_SCOPE_PART)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '/' || c == ',' || c == '=' || c == ';' ||
            (!is_akid && !sigv4_is_tchar(c)))
            return false;
    }
    return true;
}

struct sign_state {
    char amz_date[17];
    char scope[8 + 2 * SIGV4_MAX_SCOPE_PART + 3]; /* date/region/service */
    char payload_hash[65];
    struct sigv4_view names[SIGV4_MAX_SIGNED_HEADERS];
    size_t nnames;
    char *name_store;   /* lower-cased names the views point into */
    struct ks_buf list; /* "a;b;c" */
};

static enum ks_err check_params(const struct sigv4_request *req, const struct sigv4_sign_params *p,
                                struct sign_state *st, struct ks_diag *diag)
{
    if (req->bad)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "cannot sign: the request was rejected earlier (%s)",
                           ks_strerror(req->bad));
    if (!p->creds || !p->creds->secret_access_key || !scope_part_ok(p->creds->access_key_id, true))
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "cannot sign: bad access key id");
    if (!scope_part_ok(p->region, false) || !scope_part_ok(p->service, false))
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "cannot sign: bad region or service");
    if (!sigv4_format_amz_date(p->time, st->amz_date))
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "cannot sign: time out of range");
    snprintf(st->scope, sizeof(st->scope), "%.8s/%s/%s", st->amz_date, p->region, p->service);
    size_t nhost = sigv4_request_header_count(req, "host");
    if (nhost != 1)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           nhost ? "cannot sign: more than one 'Host' header"
                                 : "cannot sign: the request has no 'Host' header");
    return KS_OK;
}

static void payload_hash(const struct sigv4_request *req, unsigned flags, char out[65])
{
    const struct sigv4_header *h;
    if (flags & SIGV4_F_UNSIGNED_PAYLOAD) {
        snprintf(out, 65, "%s", SIGV4_UNSIGNED_PAYLOAD);
    } else if (req->payload_hash[0]) {
        snprintf(out, 65, "%s", req->payload_hash);
    } else if (!(flags & SIGV4_F_CONTENT_SHA256) &&
               (h = sigv4_request_header(req, "x-amz-content-sha256", 0)) != NULL) {
        /* botocore and libcurl sign what the caller put there (spec §2.1);
         * with SIGV4_F_CONTENT_SHA256 the header is ours to (re)compute */
        struct sigv4_view v = sigv4_trim(h->value, h->value_len);
        snprintf(out, 65, "%.*s", (int)(v.n > 64 ? 64 : v.n), v.p);
    } else {
        sigv4_sha256_hex(req->body, req->body_len, out);
    }
}

static int view_cmp(const void *a, const void *b)
{
    const struct sigv4_view *x = a, *y = b;
    int c = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

static bool has_name(const struct sign_state *st, const char *n, size_t len)
{
    for (size_t i = 0; i < st->nnames; i++) {
        if (st->names[i].n == len && memcmp(st->names[i].p, n, len) == 0)
            return true;
    }
    return false;
}

/* The names to sign, sorted, into st->names and st->list. `forced` lists
 * names that must be signed when present in the request. */
static enum ks_err collect_names(const struct sigv4_request *req, const struct sigv4_sign_params *p,
                                 struct sign_state *st, const char *const *forced, size_t nforced,
                                 struct ks_diag *diag)
{
    bool token_unsigned = (p->flags & SIGV4_F_TOKEN_UNSIGNED) != 0;
    size_t total = 0;
    for (size_t i = 0; i < req->nheaders; i++)
        total += req->headers[i].name_len;
    st->name_store = ks_xmalloc(total + 1);
    st->nnames = 0;
    if (p->signed_headers) {
        struct sigv4_view want[SIGV4_MAX_SIGNED_HEADERS];
        size_t nwant = 0;
        if (!sigv4_split_signed_headers(p->signed_headers, strlen(p->signed_headers), want,
                                        SIGV4_MAX_SIGNED_HEADERS, &nwant))
            return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                               "cannot sign: bad signed header list '%s'", p->signed_headers);
        for (size_t i = 0; i < nwant; i++) {
            if (sigv4_ieq(want[i].p, want[i].n, "authorization", 13))
                return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                                   "cannot sign: 'authorization' cannot be signed");
            st->names[st->nnames++] = want[i];
        }
    }
    size_t off = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct sigv4_header *h = &req->headers[i];
        char *low = st->name_store + off;
        for (size_t j = 0; j < h->name_len; j++)
            low[j] = sigv4_lower(h->name[j]);
        off += h->name_len;
        bool take = !p->signed_headers;
        for (size_t k = 0; take && k < KS_ARRAY_LEN(unsignable); k++)
            take = strlen(unsignable[k]) != h->name_len ||
                   memcmp(unsignable[k], low, h->name_len) != 0;
        for (size_t k = 0; !take && k < nforced; k++)
            take = strlen(forced[k]) == h->name_len && memcmp(forced[k], low, h->name_len) == 0;
        if (token_unsigned && h->name_len == 20 && memcmp(low, "x-amz-security-token", 20) == 0)
            take = false;
        if (!take || has_name(st, low, h->name_len))
            continue;
        if (st->nnames == SIGV4_MAX_SIGNED_HEADERS)
            return ks_diag_set(diag, KS_E_LIMIT, SIZE_MAX,
                               "cannot sign: more than %d distinct headers to sign",
                               SIGV4_MAX_SIGNED_HEADERS);
        st->names[st->nnames++] = (struct sigv4_view){low, h->name_len};
    }
    qsort(st->names, st->nnames, sizeof(st->names[0]), view_cmp);
    enum ks_err e = KS_OK;
    for (size_t i = 0; !e && i < st->nnames; i++) {
        if (i)
            e = ks_buf_add(&st->list, ";", 1);
        if (!e)
            e = ks_buf_add(&st->list, st->names[i].p, st->names[i].n);
    }
    return e;
}

/* Canonical request, string to sign and signature (hex) into the trace. */
static enum ks_err compute(const struct sigv4_request *req, const struct sigv4_sign_params *p,
                           struct sign_state *st, struct sigv4_trace *t, struct ks_diag *diag)
{
    enum ks_err e = sigv4_canon_request(req, st->names, st->nnames, st->payload_hash, p->flags,
                                        false, false, &t->canonical_request);
    if (e == KS_E_NOTFOUND)
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                           "cannot sign: a header of the signed header list '%s' is not in the "
                           "request",
                           st->list.data);
    if (e)
        return ks_diag_set(diag, e, SIZE_MAX, "cannot sign: canonical request: %s", ks_strerror(e));
    e = sigv4_string_to_sign(st->amz_date, st->scope, t->canonical_request.data,
                             t->canonical_request.len, &t->string_to_sign);
    if (e)
        return ks_diag_set(diag, e, SIZE_MAX, "cannot sign: string to sign: %s", ks_strerror(e));
    unsigned char key[32], sig[32];
    char date8[9];
    memcpy(date8, st->amz_date, 8);
    date8[8] = '\0';
    sigv4_signing_key(p->cache, p->creds->secret_access_key, date8, p->region, p->service, key);
    sigv4_hmac(key, 32, t->string_to_sign.data, t->string_to_sign.len, sig);
    OPENSSL_cleanse(key, sizeof(key));
    sigv4_hex(sig, 32, t->signature);
    return KS_OK;
}

static void state_init(struct sign_state *st)
{
    memset(st, 0, sizeof(*st));
    ks_buf_init(&st->list, SIGV4_MAX_SIGNED_HEADERS * 256);
}

static void state_release(struct sign_state *st)
{
    free(st->name_store);
    ks_buf_release(&st->list);
}

static enum ks_err set_hdr(struct sigv4_request *req, const char *name, const char *value,
                           struct ks_diag *diag)
{
    enum ks_err e = sigv4_request_set_header(req, name, value);
    if (e)
        return ks_diag_set(diag, e, SIZE_MAX, "cannot sign: cannot set '%s': %s", name,
                           ks_strerror(e));
    return KS_OK;
}

enum ks_err sigv4_sign(struct sigv4_request *req, const struct sigv4_sign_params *p,
                       struct sigv4_trace *trace, struct ks_diag *diag)
{
    struct sign_state st;
    struct sigv4_trace local;
    struct ks_buf auth;
    state_init(&st);
    sigv4_trace_init(&local);
    ks_buf_init(&auth, 8192);
    struct sigv4_trace *t = trace ? trace : &local;
    ks_buf_reset(&t->canonical_request);
    ks_buf_reset(&t->string_to_sign);
    t->signature[0] = '\0';
    const char *token = p->creds ? p->creds->session_token : NULL;
    bool token_unsigned = (p->flags & SIGV4_F_TOKEN_UNSIGNED) != 0;
    static const char *const forced[] = {"host", "x-amz-date", "x-amz-security-token",
                                         "x-amz-content-sha256"};

    sigv4_request_remove_header(req, "authorization");
    enum ks_err e = check_params(req, p, &st, diag);
    if (!e)
        e = set_hdr(req, "X-Amz-Date", st.amz_date, diag);
    if (!e && token && !token_unsigned)
        e = set_hdr(req, "X-Amz-Security-Token", token, diag);
    if (!e) {
        payload_hash(req, p->flags, st.payload_hash);
        if (p->flags & SIGV4_F_CONTENT_SHA256)
            e = set_hdr(req, "X-Amz-Content-Sha256", st.payload_hash, diag);
    }
    if (!e)
        e = collect_names(req, p, &st, forced, KS_ARRAY_LEN(forced), diag);
    if (!e)
        e = compute(req, p, &st, t, diag);
    if (!e && token && token_unsigned)
        e = set_hdr(req, "X-Amz-Security-Token", token, diag);
    if (!e)
        e = ks_buf_addf(&auth,
                        SIGV4_ALGORITHM " Credential=%s/%s/aws4_request, "
                                        "SignedHeaders=%s, Signature=%s",
                        p->creds->access_key_id, st.scope, st.list.data, t->signature);
    if (!e)
        e = set_hdr(req, "Authorization", auth.data, diag);
    ks_buf_release(&auth);
    sigv4_trace_release(&local);
    state_release(&st);
    return e;
}

static const char *const query_auth_params[] = {
    "X-Amz-Algorithm",     "X-Amz-Credential",     "X-Amz-Date",      "X-Amz-Expires",
    "X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature",
};

/* Replaces the query. Checked here first, so that sigv4_request_set_target
 * never refuses (a refusal would mark the request bad for good). */
static enum ks_err set_query(struct sigv4_request *req, const struct ks_buf *q,
                             struct ks_diag *diag)
{
    size_t items = q->len ? 1 : 0;
    for (size_t i = 0; i < q->len; i++)
        items += q->data[i] == '&';
    if (req->path_len + 1 + q->len > SIGV4_MAX_TARGET_BYTES || items > SIGV4_MAX_QUERY_PARAMS)
        return ks_diag_set(diag, KS_E_LIMIT, SIZE_MAX,
                           "cannot presign: the signed URL would pass %u bytes or %d parameters",
                           SIGV4_MAX_TARGET_BYTES, SIGV4_MAX_QUERY_PARAMS);
    struct ks_buf target;
    ks_buf_init(&target, SIGV4_MAX_TARGET_BYTES);
    enum ks_err e = ks_buf_add(&target, req->path, req->path_len);
    if (!e)
        e = ks_buf_add(&target, "?", 1);
    if (!e)
        e = ks_buf_add(&target, q->data, q->len);
    if (!e)
        e = sigv4_request_set_target(req, target.data, target.len);
    ks_buf_release(&target);
    if (e)
        return ks_diag_set(diag, e, SIZE_MAX, "cannot presign: %s", ks_strerror(e));
    return KS_OK;
}

static enum ks_err add_param(struct ks_buf *q, const char *name, const char *value)
{
    enum ks_err e = ks_buf_addf(q, "%s%s=", q->len ? "&" : "", name);
    return e ? e : sigv4_uri_encode(value, strlen(value), false, q);
}

enum ks_err sigv4_presign(struct sigv4_request *req, const struct sigv4_sign_params *p,
                          struct sigv4_trace *trace, struct ks_diag *diag)
{
    struct sign_state st;
    struct sigv4_trace local;
    struct ks_buf q, cred;
    state_init(&st);
    sigv4_trace_init(&local);
    ks_buf_init(&q, SIGV4_MAX_TARGET_BYTES);
    ks_buf_init(&cred, 1024);
    struct sigv4_trace *t = trace ? trace : &local;
    ks_buf_reset(&t->canonical_request);
    ks_buf_reset(&t->string_to_sign);
    t->signature[0] = '\0';
    const char *token = p->creds ? p->creds->session_token : NULL;
    bool token_unsigned = (p->flags & SIGV4_F_TOKEN_UNSIGNED) != 0;
    static const char *const forced[] = {"host"};
    struct ks_buf orig; /* the query as it was, restored on failure */
    ks_buf_init(&orig, SIGV4_MAX_TARGET_BYTES);
    bool touched = false;

    enum ks_err e = check_params(req, p, &st, diag);
    if (!e && (p->expires == 0 || p->expires > SIGV4_MAX_EXPIRES))
        e = ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                        "cannot presign: expires must be 1..%d seconds, not %u", SIGV4_MAX_EXPIRES,
                        p->expires);
    for (size_t i = 0; !e && i < KS_ARRAY_LEN(query_auth_params); i++) {
        if (sigv4_query_param(req->query, req->query_len, query_auth_params[i], NULL))
            e = ks_diag_set(diag, KS_E_INVALID, SIZE_MAX,
                            "cannot presign: the query already holds '%s'", query_auth_params[i]);
    }
    if (!e) {
        payload_hash(req, p->flags, st.payload_hash);
        e = collect_names(req, p, &st, forced, KS_ARRAY_LEN(forced), diag);
    }
    if (!e)
        e = ks_buf_add(&q, req->query, req->query_len);
    if (!e)
        e = ks_buf_add(&orig, req->query, req->query_len);
    if (!e)
        e = ks_buf_addf(&cred, "%s/%s/aws4_request", p->creds->access_key_id, st.scope);
    char expires[16];
    snprintf(expires, sizeof(expires), "%u", p->expires);
    if (!e)
        e = add_param(&q, "X-Amz-Algorithm", SIGV4_ALGORITHM);
    if (!e)
        e = add_param(&q, "X-Amz-Credential", cred.data);
    if (!e)
        e = add_param(&q, "X-Amz-Date", st.amz_date);
    if (!e)
        e = add_param(&q, "X-Amz-SignedHeaders", st.list.data);
    if (!e)
        e = add_param(&q, "X-Amz-Expires", expires);
    if (!e && token && !token_unsigned)
        e = add_param(&q, "X-Amz-Security-Token", token);
    if (e == KS_E_TOOBIG)
        e = ks_diag_set(diag, KS_E_LIMIT, SIZE_MAX, "cannot presign: URL too long");
    if (!e) {
        touched = true;
        e = set_query(req, &q, diag);
    }
    if (!e)
        e = compute(req, p, &st, t, diag);
    if (!e && token && token_unsigned)
        e = add_param(&q, "X-Amz-Security-Token", token);
    if (!e)
        e = add_param(&q, "X-Amz-Signature", t->signature);
    if (e == KS_E_TOOBIG)
        e = ks_diag_set(diag, KS_E_LIMIT, SIZE_MAX, "cannot presign: URL too long");
    if (!e)
        e = set_query(req, &q, diag);
    if (e && touched)
        (void)!set_query(req, &orig, NULL); /* it fitted before, it fits again */
    ks_buf_release(&orig);
    ks_buf_release(&q);
    ks_buf_release(&cred);
    sigv4_trace_release(&local);
    state_release(&st);
    return e;
}
