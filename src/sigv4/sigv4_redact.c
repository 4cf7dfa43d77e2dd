/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigv4 redaction: Authorization values and presigned queries as they may be
 * logged. A signature is a bearer credential for the skew window (anyone
 * holding it can replay the request), so it never reaches a log; the session
 * token in a presigned URL likewise. Works on malformed input too: it looks
 * for the parameter names wherever they occur rather than parsing.
 */
#include "sigv4/sigv4_int.h"

#define REDACTED "<redacted>"

static enum ks_err add_clean(struct ks_buf *out, const char *p, size_t n)
{
    enum ks_err e = ks_buf_grow(out, n);
    for (size_t i = 0; !e && i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        char o = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
        e = ks_buf_add(out, &o, 1);
    }
    return e;
}

enum ks_err sigv4_redact_authorization(const char *value, size_t len, struct ks_buf *out)
{
    static const char key[] = "signature=";
    const size_t klen = sizeof(key) - 1;
    enum ks_err e = KS_OK;
    size_t run = 0;
    for (size_t i = 0; !e && i + klen <= len; i++) {
        bool at_start =
            i == 0 || value[i - 1] == ' ' || value[i - 1] == ',' || value[i - 1] == '\t';
        if (!at_start || !sigv4_ieq(value + i, klen, key, klen))
            continue;
        size_t j = i + klen;
        while (j < len && value[j] != ',' && value[j] != ' ' && value[j] != '\t')
            j++;
        e = add_clean(out, value + run, i + klen - run);
        if (!e)
            e = ks_buf_add(out, REDACTED, sizeof(REDACTED) - 1);
        run = j;
        i = j - 1;
    }
    return e ? e : add_clean(out, value + run, len - run);
}

enum ks_err sigv4_redact_query(const char *query, size_t len, struct ks_buf *out)
{
    static const char *const secret_params[] = {"x-amz-signature", "x-amz-security-token"};
    enum ks_err e = KS_OK;
    for (size_t i = 0; !e && i <= len && len;) {
        const char *s = query + i;
        const char *amp = memchr(s, '&', len - i);
        size_t ilen = amp ? (size_t)(amp - s) : len - i;
        const char *eq = memchr(s, '=', ilen);
        size_t nlen = eq ? (size_t)(eq - s) : ilen;
        bool hide = false;
        for (size_t k = 0; eq && k < KS_ARRAY_LEN(secret_params); k++)
            hide |= sigv4_ieq(s, nlen, secret_params[k], strlen(secret_params[k]));
        if (i)
            e = ks_buf_add(out, "&", 1);
        if (!e && hide) {
            e = add_clean(out, s, nlen + 1);
            if (!e)
                e = ks_buf_add(out, REDACTED, sizeof(REDACTED) - 1);
        } else if (!e) {
            e = add_clean(out, s, ilen);
        }
        i += ilen + 1;
    }
    return e;
}
