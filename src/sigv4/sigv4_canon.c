/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigv4 canonical request (spec §2.1) and string to sign (§2.2).
 *
 * Both signer and verifier call sigv4_canon_request, so the two sides cannot
 * drift apart. Quirks worth knowing:
 *  - the canonical URI encodes the raw path once more (non-S3), so an escape
 *    already on the wire doubles: "/a%20b" -> "/a%2520b"; raw bytes such as a
 *    space or UTF-8 (as the test suites write them) are encoded once;
 *  - path normalisation follows botocore: '.' and empty segments vanish,
 *    '..' pops, and a trailing '/' survives only when the raw path ends with
 *    '/' and something is left ("/a/." -> "/a", "//" -> "/");
 *  - query items are percent-decoded then encoded again and sorted by name,
 *    then value, in byte order; '+' is a literal plus (-> %2B), an invalid
 *    escape a literal '%' (-> %25), an empty item the pair ("", "");
 *  - header values are trimmed, runs of spaces/tabs become one space, and
 *    repeated fields join with ',' in arrival order.
 */
#include "sigv4/sigv4_int.h"

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static enum ks_err add_encoded_byte(struct ks_buf *out, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    if (is_unreserved(c))
        return ks_buf_add(out, &c, 1);
    char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
    return ks_buf_add(out, esc, 3);
}

enum ks_err sigv4_uri_encode(const char *p, size_t n, bool keep_slash, struct ks_buf *out)
{
    enum ks_err e = ks_buf_grow(out, n); /* one growth for the common case */
    size_t run = 0;
    for (size_t i = 0; !e && i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (is_unreserved(c) || (keep_slash && c == '/'))
            continue;
        if (!(e = ks_buf_add(out, p + run, i - run)))
            e = add_encoded_byte(out, c);
        run = i + 1;
    }
    return e ? e : ks_buf_add(out, p + run, n - run);
}

/* Decodes valid %XY escapes and encodes the result (query items). */
static enum ks_err add_reencoded(struct ks_buf *out, const char *p, size_t n)
{
    enum ks_err e = KS_OK;
    for (size_t i = 0; !e && i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        int hi, lo;
        if (c == '%' && i + 2 < n && (hi = ks_hexval(p[i + 1])) >= 0 &&
            (lo = ks_hexval(p[i + 2])) >= 0) {
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        e = add_encoded_byte(out, c);
    }
    return e;
}

enum ks_err sigv4_pct_decode(const char *p, size_t n, struct ks_buf *out)
{
    enum ks_err e = KS_OK;
    for (size_t i = 0; !e && i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        int hi, lo;
        if (c == '%' && i + 2 < n && (hi = ks_hexval(p[i + 1])) >= 0 &&
            (lo = ks_hexval(p[i + 2])) >= 0) {
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        e = ks_buf_add(out, &c, 1);
    }
    return e;
}

enum ks_err sigv4_canon_path(const char *path, size_t len, unsigned flags, struct ks_buf *out)
{
    if (len == 0)
        return ks_buf_add(out, "/", 1);
    if (flags & SIGV4_F_S3_PATH) {
        /* Single encoding: what is already escaped stays as sent. */
        enum ks_err e = KS_OK;
        for (size_t i = 0; !e && i < len; i++) {
            unsigned char c = (unsigned char)path[i];
            e = (c == '/' || c == '%') ? ks_buf_add(out, &c, 1) : add_encoded_byte(out, c);
        }
        return e;
    }
    if (flags & SIGV4_F_NO_NORMALIZE)
        return sigv4_uri_encode(path, len, true, out);

    /* Segments kept after removing '.', '' and resolving '..'. At most one
     * segment per '/', and the target cap bounds len. */
    size_t maxseg = 1;
    for (size_t i = 0; i < len; i++)
        maxseg += path[i] == '/';
    struct sigv4_view *seg = ks_xmalloc(maxseg * sizeof(*seg));
    size_t nseg = 0;
    for (size_t i = 0; i <= len;) {
        const char *s = path + i;
        const char *slash = memchr(s, '/', len - i);
        size_t n = slash ? (size_t)(slash - s) : len - i;
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            if (nseg)
                nseg--;
        } else if (n && !(n == 1 && s[0] == '.')) {
            seg[nseg++] = (struct sigv4_view){s, n};
        }
        i += n + 1;
    }
    enum ks_err e = KS_OK;
    for (size_t i = 0; !e && i < nseg; i++) {
        if (!(e = ks_buf_add(out, "/", 1)))
            e = sigv4_uri_encode(seg[i].p, seg[i].n, false, out);
    }
    if (!e && (nseg == 0 || path[len - 1] == '/'))
        e = ks_buf_add(out, "/", 1);
    free(seg);
    return e;
}

struct qitem {
    size_t name_off, name_len, value_off, value_len;
    const char *name, *value; /* set once the scratch buffer stops moving */
};

static int qitem_cmp(const void *a, const void *b)
{
    const struct qitem *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c || x->name_len != y->name_len)
        return c ? c : (x->name_len < y->name_len ? -1 : 1);
    n = x->value_len < y->value_len ? x->value_len : y->value_len;
    c = memcmp(x->value, y->value, n);
    if (c || x->value_len != y->value_len)
        return c ? c : (x->value_len < y->value_len ? -1 : 1);
    return 0;
}

enum ks_err sigv4_canon_query(const char *query, size_t len, bool drop_signature,
                              struct ks_buf *out)
{
    if (len == 0)
        return KS_OK;
    size_t cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += query[i] == '&';
    if (cap > SIGV4_MAX_QUERY_PARAMS)
        return KS_E_LIMIT;
    struct qitem *it = ks_xmalloc(cap * sizeof(*it));
    struct ks_buf scratch;
    ks_buf_init(&scratch, 3 * len + 16); /* encoding at most triples each byte */
    size_t n = 0;
    enum ks_err e = KS_OK;
    for (size_t i = 0; !e && i <= len;) {
        const char *s = query + i;
        const char *amp = memchr(s, '&', len - i);
        size_t ilen = amp ? (size_t)(amp - s) : len - i;
        const char *eq = memchr(s, '=', ilen);
        size_t nlen = eq ? (size_t)(eq - s) : ilen;
        struct qitem *q = &it[n];
        q->name_off = scratch.len;
        e = add_reencoded(&scratch, s, nlen);
        q->name_len = scratch.len - q->name_off;
        q->value_off = scratch.len;
        if (!e && eq)
            e = add_reencoded(&scratch, eq + 1, ilen - nlen - 1);
        q->value_len = scratch.len - q->value_off;
        if (drop_signature && q->name_len == 15 &&
            memcmp(scratch.data + q->name_off, "X-Amz-Signature", 15) == 0)
            scratch.len = q->name_off; /* drop it */
        else
            n++;
        i += ilen + 1;
    }
    for (size_t i = 0; i < n; i++) {
        it[i].name = scratch.data + it[i].name_off;
        it[i].value = scratch.data + it[i].value_off;
    }
    if (!e)
        qsort(it, n, sizeof(*it), qitem_cmp);
    for (size_t i = 0; !e && i < n; i++) {
        if (i)
            e = ks_buf_add(out, "&", 1);
        if (!e)
            e = ks_buf_add(out, it[i].name, it[i].name_len);
        if (!e)
            e = ks_buf_add(out, "=", 1);
        if (!e)
            e = ks_buf_add(out, it[i].value, it[i].value_len);
    }
    ks_buf_release(&scratch);
    free(it);
    return e;
}

/* Trimmed value with inner runs of spaces/tabs folded to one space. */
static enum ks_err add_folded(struct ks_buf *out, const char *p, size_t n)
{
    struct sigv4_view v = sigv4_trim(p, n);
    enum ks_err e = ks_buf_grow(out, v.n);
    size_t run = 0;
    for (size_t i = 0; !e && i < v.n; i++) {
        if (v.p[i] != ' ' && v.p[i] != '\t')
            continue;
        size_t j = i + 1;
        while (j < v.n && (v.p[j] == ' ' || v.p[j] == '\t'))
            j++;
        if (!(e = ks_buf_add(out, v.p + run, i - run)))
            e = ks_buf_add(out, " ", 1);
        run = j;
        i = j - 1;
    }
    return e ? e : ks_buf_add(out, v.p + run, v.n - run);
}

enum ks_err sigv4_canon_request(const struct sigv4_request *req, const struct sigv4_view *names,
                                size_t nnames, const char *payload_hash, unsigned flags,
                                bool drop_signature, bool missing_ok, struct ks_buf *out)
{
    char computed[65];
    if (!payload_hash) {
        if (req->payload_hash[0]) {
            payload_hash = req->payload_hash;
        } else {
            sigv4_sha256_hex(req->body, req->body_len, computed);
            payload_hash = computed;
        }
    }
    enum ks_err e = ks_buf_addf(out, "%s\n", req->method);
    if (!e)
        e = sigv4_canon_path(req->path, req->path_len, flags, out);
    if (!e)
        e = ks_buf_add(out, "\n", 1);
    if (!e)
        e = sigv4_canon_query(req->query, req->query_len, drop_signature, out);
    if (!e)
        e = ks_buf_add(out, "\n", 1);
    for (size_t k = 0; !e && k < nnames; k++) {
        e = ks_buf_add(out, names[k].p, names[k].n);
        if (!e)
            e = ks_buf_add(out, ":", 1);
        size_t found = 0;
        for (size_t i = 0; !e && i < req->nheaders; i++) {
            const struct sigv4_header *h = &req->headers[i];
            if (!sigv4_ieq(h->name, h->name_len, names[k].p, names[k].n))
                continue;
            if (found++)
                e = ks_buf_add(out, ",", 1);
            if (!e)
                e = add_folded(out, h->value, h->value_len);
        }
        if (!e)
            e = ks_buf_add(out, "\n", 1);
        if (!e && !found && !missing_ok)
            e = KS_E_NOTFOUND;
    }
    if (!e)
        e = ks_buf_add(out, "\n", 1);
    for (size_t k = 0; !e && k < nnames; k++) {
        if (k)
            e = ks_buf_add(out, ";", 1);
        if (!e)
            e = ks_buf_add(out, names[k].p, names[k].n);
    }
    if (!e)
        e = ks_buf_addf(out, "\n%s", payload_hash);
    return e;
}

static bool is_lower_tchar(unsigned char c)
{
    return sigv4_is_tchar(c) && !(c >= 'A' && c <= 'Z');
}

bool sigv4_split_signed_headers(const char *list, size_t len, struct sigv4_view *names, size_t max,
                                size_t *count)
{
    size_t n = 0;
    for (size_t i = 0; i <= len;) {
        const char *s = list + i;
        const char *semi = memchr(s, ';', len - i);
        size_t l = semi ? (size_t)(semi - s) : len - i;
        if (l == 0 || n == max)
            return false;
        for (size_t j = 0; j < l; j++) {
            if (!is_lower_tchar((unsigned char)s[j]))
                return false;
        }
        for (size_t j = 0; j < n; j++) {
            if (names[j].n == l && memcmp(names[j].p, s, l) == 0)
                return false;
        }
        names[n++] = (struct sigv4_view){s, l};
        i += l + 1;
    }
    *count = n;
    return true;
}

enum ks_err sigv4_canonical_request(const struct sigv4_request *req, const char *signed_headers,
                                    const char *payload_hash, unsigned flags, bool drop_signature,
                                    struct ks_buf *out)
{
    struct sigv4_view names[SIGV4_MAX_SIGNED_HEADERS];
    size_t n = 0;
    if (req->bad)
        return req->bad;
    if (!sigv4_split_signed_headers(signed_headers, strlen(signed_headers), names,
                                    SIGV4_MAX_SIGNED_HEADERS, &n))
        return KS_E_INVALID;
    struct ks_buf tmp;
    ks_buf_init(&tmp, SIGV4_MAX_CANONICAL_BYTES);
    enum ks_err e =
        sigv4_canon_request(req, names, n, payload_hash, flags, drop_signature, true, &tmp);
    if (!e)
        e = ks_buf_add(out, tmp.data, tmp.len);
    ks_buf_release(&tmp);
    return e;
}

enum ks_err sigv4_string_to_sign(const char *amz_date, const char *scope, const char *creq,
                                 size_t creq_len, struct ks_buf *out)
{
    char h[65];
    sigv4_sha256_hex(creq, creq_len, h);
    return ks_buf_addf(out, SIGV4_ALGORITHM "\n%s\n%s/aws4_request\n%s", amz_date, scope, h);
}

/* Percent-decodes p[0..n) into dst (cap bytes); SIZE_MAX when it does not fit. */
static size_t decode_into(const char *p, size_t n, char *dst, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++, o++) {
        int hi, lo;
        if (o == cap)
            return SIZE_MAX;
        dst[o] = p[i];
        if (p[i] == '%' && i + 2 < n && (hi = ks_hexval(p[i + 1])) >= 0 &&
            (lo = ks_hexval(p[i + 2])) >= 0) {
            dst[o] = (char)(hi << 4 | lo);
            i += 2;
        }
    }
    return o;
}

size_t sigv4_query_param(const char *query, size_t len, const char *name, struct ks_buf *val)
{
    size_t want = strlen(name), count = 0;
    char tmp[64];
    for (size_t i = 0; len && i <= len;) {
        const char *s = query + i;
        const char *amp = memchr(s, '&', len - i);
        size_t ilen = amp ? (size_t)(amp - s) : len - i;
        const char *eq = memchr(s, '=', ilen);
        size_t nlen = eq ? (size_t)(eq - s) : ilen;
        i += ilen + 1;
        if (decode_into(s, nlen, tmp, sizeof(tmp)) != want || memcmp(tmp, name, want) != 0)
            continue;
        /* val's cap is at least SIGV4_MAX_TARGET_BYTES (callers), which no
         * decoded value can pass, so the append cannot fail */
        if (count++ == 0 && val && eq && sigv4_pct_decode(eq + 1, ilen - nlen - 1, val))
            ks_buf_reset(val);
    }
    return count;
}
