/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigv4 request model: the bytes a signature covers, screened and capped as
 * they arrive so the canonicaliser never sees NUL/CR/LF or unbounded sizes.
 */
#include "sigv4/sigv4_int.h"

static char sigv4_empty[1];

bool sigv4_is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool sigv4_ieq(const char *p, size_t n, const char *lname, size_t lname_len)
{
    if (n != lname_len)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (sigv4_lower(p[i]) != lname[i])
            return false;
    }
    return true;
}

struct sigv4_view sigv4_trim(const char *p, size_t n)
{
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return (struct sigv4_view){p, n};
}

static enum ks_err mark_bad(struct sigv4_request *req, enum ks_err e)
{
    if (req->bad == KS_OK)
        req->bad = e;
    return e;
}

void sigv4_request_init(struct sigv4_request *req)
{
    memset(req, 0, sizeof(*req));
    req->method = sigv4_empty;
    req->path = sigv4_empty;
    req->query = sigv4_empty;
}

static void free_str(char *s)
{
    if (s != sigv4_empty)
        free(s);
}

void sigv4_request_release(struct sigv4_request *req)
{
    free_str(req->method);
    free_str(req->path);
    free_str(req->query);
    for (size_t i = 0; i < req->nheaders; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req->headers);
    sigv4_request_init(req);
}

enum ks_err sigv4_request_set_method(struct sigv4_request *req, const char *method, size_t len)
{
    if (len == 0 || len > 32)
        return mark_bad(req, KS_E_INVALID);
    for (size_t i = 0; i < len; i++) {
        if (!sigv4_is_tchar((unsigned char)method[i]))
            return mark_bad(req, KS_E_INVALID);
    }
    free_str(req->method);
    req->method = ks_xmemdup(method, len);
    return KS_OK;
}

/* Path and query bytes: anything but controls (raw UTF-8 and spaces pass). */
static bool target_clean(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

enum ks_err sigv4_request_set_target(struct sigv4_request *req, const char *target, size_t len)
{
    if (len > SIGV4_MAX_TARGET_BYTES)
        return mark_bad(req, KS_E_LIMIT);
    if (!target_clean(target, len))
        return mark_bad(req, KS_E_INVALID);
    const char *q = memchr(target, '?', len);
    size_t plen = q ? (size_t)(q - target) : len;
    if (plen && target[0] != '/')
        return mark_bad(req, KS_E_INVALID);
    size_t qlen = q ? len - plen - 1 : 0;
    size_t nq = 0;
    if (qlen) {
        nq = 1;
        for (size_t i = 0; i < qlen; i++) {
            if (q[1 + i] == '&' && ++nq > SIGV4_MAX_QUERY_PARAMS)
                return mark_bad(req, KS_E_LIMIT);
        }
    }
    free_str(req->path);
    free_str(req->query);
    req->path = ks_xmemdup(target, plen);
    req->path_len = plen;
    req->query = ks_xmemdup(q ? q + 1 : "", qlen);
    req->query_len = qlen;
    req->nquery = nq;
    return KS_OK;
}

static bool value_clean(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

static bool name_clean(const char *p, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!sigv4_is_tchar((unsigned char)p[i]))
            return false;
    }
    return true;
}

enum ks_err sigv4_request_add_header(struct sigv4_request *req, const char *name, size_t name_len,
                                     const char *value, size_t value_len)
{
    if (name_len > SIGV4_MAX_FIELD_BYTES || value_len > SIGV4_MAX_FIELD_BYTES)
        return mark_bad(req, KS_E_LIMIT);
    if (req->nheaders >= SIGV4_MAX_HEADERS ||
        name_len + value_len > SIGV4_MAX_HEADER_BYTES - req->header_bytes)
        return mark_bad(req, KS_E_LIMIT);
    if (!name_clean(name, name_len) || !value_clean(value, value_len))
        return mark_bad(req, KS_E_INVALID);
    if (req->nheaders == req->cap_headers) {
        size_t cap = req->cap_headers ? req->cap_headers * 2 : 16;
        req->headers = ks_xrealloc(req->headers, cap * sizeof(*req->headers));
        req->cap_headers = cap;
    }
    struct sigv4_header *h = &req->headers[req->nheaders++];
    h->name = ks_xmemdup(name, name_len);
    h->name_len = name_len;
    h->value = ks_xmemdup(value, value_len);
    h->value_len = value_len;
    req->header_bytes += name_len + value_len;
    return KS_OK;
}

enum ks_err sigv4_request_set_header(struct sigv4_request *req, const char *name, const char *value)
{
    size_t nlen = strlen(name), vlen = strlen(value);
    char lname[64];
    if (nlen == 0 || nlen >= sizeof(lname) || !name_clean(name, nlen))
        return mark_bad(req, KS_E_INVALID);
    for (size_t i = 0; i <= nlen; i++)
        lname[i] = sigv4_lower(name[i]);
    size_t first = SIZE_MAX, out = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        struct sigv4_header *h = &req->headers[i];
        if (sigv4_ieq(h->name, h->name_len, lname, nlen)) {
            if (first == SIZE_MAX) {
                first = out;
            } else {
                req->header_bytes -= h->name_len + h->value_len;
                free(h->name);
                free(h->value);
                continue;
            }
        }
        req->headers[out++] = *h;
    }
    req->nheaders = out;
    if (first == SIZE_MAX)
        return sigv4_request_add_header(req, name, nlen, value, vlen);
    struct sigv4_header *h = &req->headers[first];
    if (vlen > SIGV4_MAX_FIELD_BYTES ||
        vlen > SIGV4_MAX_HEADER_BYTES - (req->header_bytes - h->value_len))
        return mark_bad(req, KS_E_LIMIT);
    if (!value_clean(value, vlen))
        return mark_bad(req, KS_E_INVALID);
    req->header_bytes = req->header_bytes - h->value_len + vlen;
    free(h->value);
    h->value = ks_xmemdup(value, vlen);
    h->value_len = vlen;
    return KS_OK;
}

size_t sigv4_request_remove_header(struct sigv4_request *req, const char *name)
{
    size_t nlen = strlen(name), out = 0, removed = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        struct sigv4_header *h = &req->headers[i];
        size_t j = 0;
        while (h->name_len == nlen && j < nlen && sigv4_lower(h->name[j]) == sigv4_lower(name[j]))
            j++;
        if (h->name_len == nlen && j == nlen) {
            req->header_bytes -= h->name_len + h->value_len;
            free(h->name);
            free(h->value);
            removed++;
            continue;
        }
        req->headers[out++] = *h;
    }
    req->nheaders = out;
    return removed;
}

const struct sigv4_header *sigv4_request_header(const struct sigv4_request *req, const char *name,
                                                size_t index)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct sigv4_header *h = &req->headers[i];
        if (h->name_len == nlen) {
            size_t j = 0;
            while (j < nlen && sigv4_lower(h->name[j]) == sigv4_lower(name[j]))
                j++;
            if (j == nlen && index-- == 0)
                return h;
        }
    }
    return NULL;
}

size_t sigv4_request_header_count(const struct sigv4_request *req, const char *name)
{
    size_t n = 0;
    while (sigv4_request_header(req, name, n))
        n++;
    return n;
}

void sigv4_request_set_body(struct sigv4_request *req, const void *body, size_t len)
{
    req->body = body;
    req->body_len = body ? len : 0;
    req->payload_hash[0] = '\0';
}

enum ks_err sigv4_request_set_payload_hash(struct sigv4_request *req, const char *hash)
{
    size_t n = strlen(hash);
    if (strcmp(hash, SIGV4_UNSIGNED_PAYLOAD) != 0) {
        if (n != 64)
            return KS_E_INVALID;
        for (size_t i = 0; i < n; i++) {
            if (ks_hexval(hash[i]) < 0)
                return KS_E_INVALID;
        }
    }
    for (size_t i = 0; i <= n; i++)
        req->payload_hash[i] = n == 64 ? sigv4_lower(hash[i]) : hash[i];
    return KS_OK;
}

enum ks_err sigv4_request_render(const struct sigv4_request *req, struct ks_buf *out)
{
    enum ks_err e =
        ks_buf_addf(out, "%s %s%s%s HTTP/1.1\r\n", req->method, req->path_len ? req->path : "/",
                    req->query_len ? "?" : "", req->query);
    for (size_t i = 0; !e && i < req->nheaders; i++)
        e = ks_buf_addf(out, "%s: %s\r\n", req->headers[i].name, req->headers[i].value);
    return e ? e : ks_buf_add(out, "\r\n", 2);
}
