/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the sink reads out of a received message: the Subject (RFC 5322
 * unfolding, RFC 2047 encoded words) and the body (RFC 2045 quoted-printable
 * and base64). Everything here runs on bytes a client chose, so every loop
 * is bounded by the input length and every malformed construct degrades to
 * "copy it as it is" instead of failing.
 */
#include "mailsink/mailsink.h"

#include <ctype.h>
#include <strings.h>

#define EW_MAX    256         /* bytes of one encoded word we try to decode */
#define FIELD_MAX (64u << 10) /* bytes of a header value decoded */

/* Output never exceeds the input for these decoders, so out needs n bytes. */
static size_t b64_decode(const char *in, size_t n, char *out)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '=')
            break; /* padding ends the data; what follows is not ours to guess */
        int v = ks_b64val(c, false);
        if (v < 0)
            continue; /* line breaks and stray bytes, as RFC 2045 §6.8 says to ignore */
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xFF);
        }
    }
    return o;
}

/* RFC 2045 §6.7; q_header selects RFC 2047's Q variant ('_' is a space, no
 * soft line breaks). */
static size_t qp_decode(const char *in, size_t n, char *out, bool q_header)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '_' && q_header) {
            out[o++] = ' ';
        } else if (c != '=') {
            out[o++] = (char)c;
        } else if (!q_header && i + 1 < n && (in[i + 1] == '\n' || in[i + 1] == '\r')) {
            i += in[i + 1] == '\r' && i + 2 < n && in[i + 2] == '\n' ? 2 : 1; /* soft break */
        } else if (i + 2 < n && ks_hexval((unsigned char)in[i + 1]) >= 0 &&
                   ks_hexval((unsigned char)in[i + 2]) >= 0) {
            out[o++] = (char)(ks_hexval((unsigned char)in[i + 1]) * 16 +
                              ks_hexval((unsigned char)in[i + 2]));
            i += 2;
        } else {
            out[o++] = '='; /* a lone '=' is kept: liberal in what we accept */
        }
    }
    return o;
}

/* Decodes the encoded word at p[0..n) ("=?cs?e?text?="); on success appends
 * to b and returns its length, else 0. */
static size_t encoded_word(const char *p, size_t n, struct ks_buf *b)
{
    /* RFC 2047 allows 75 bytes; a generous cap keeps a header full of "=?"
     * starts from costing quadratic time */
    if (n > EW_MAX)
        n = EW_MAX;
    if (n < 8 || p[0] != '=' || p[1] != '?')
        return 0;
    size_t cs_end = 2;
    while (cs_end < n && p[cs_end] != '?' && !isspace((unsigned char)p[cs_end]))
        cs_end++;
    if (cs_end + 2 >= n || p[cs_end] != '?' || p[cs_end + 2] != '?')
        return 0;
    char enc = (char)toupper((unsigned char)p[cs_end + 1]);
    if (enc != 'B' && enc != 'Q')
        return 0;
    size_t t0 = cs_end + 3, t = t0;
    while (t + 1 < n && !(p[t] == '?' && p[t + 1] == '=')) {
        if (isspace((unsigned char)p[t]))
            return 0; /* encoded words hold no white space (RFC 2047 §5) */
        t++;
    }
    if (t + 1 >= n)
        return 0;
    /* RFC 2231 adds "*language" to the charset */
    size_t cs_len = cs_end - 2;
    const char *star = memchr(p + 2, '*', cs_len);
    if (star)
        cs_len = (size_t)(star - (p + 2));
    bool latin1;
    if ((cs_len == 5 && !strncasecmp(p + 2, "utf-8", 5)) ||
        (cs_len == 8 && !strncasecmp(p + 2, "us-ascii", 8)))
        latin1 = false;
    else if ((cs_len == 10 && !strncasecmp(p + 2, "iso-8859-1", 10)) ||
             (cs_len == 6 && !strncasecmp(p + 2, "latin1", 6)))
        latin1 = true;
    else
        return 0; /* a charset we cannot convert stays visible as written */
    char *tmp = ks_xmalloc(t - t0 + 1);
    size_t len =
        enc == 'B' ? b64_decode(p + t0, t - t0, tmp) : qp_decode(p + t0, t - t0, tmp, true);
    enum ks_err e = KS_OK;
    for (size_t i = 0; i < len && !e; i++) {
        unsigned char c = (unsigned char)tmp[i];
        if (latin1 && c >= 0x80) {
            char u[2] = {(char)(0xC0 | (c >> 6)), (char)(0x80 | (c & 0x3F))};
            e = ks_buf_add(b, u, 2);
        } else {
            e = ks_buf_add(b, &tmp[i], 1);
        }
    }
    free(tmp);
    return e ? 0 : t + 2;
}

/* Length of the valid UTF-8 sequence at p (n bytes available), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    if (p[0] < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        len = 2;
        cp = p[0] & 0x1Fu;
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        len = 3;
        cp = p[0] & 0x0Fu;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        len = 4;
        cp = p[0] & 0x07u;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* A copy fit for a terminal and a C string: valid UTF-8, no C0/C1 controls
 * (a subject is printed by the CLI; ESC or CSI must not reach the screen). */
static char *sanitize(const char *s, size_t n)
{
    struct ks_buf b;
    ks_buf_init(&b, SIZE_MAX / 4);
    const unsigned char *p = (const unsigned char *)s;
    enum ks_err e = KS_OK;
    for (size_t i = 0; i < n && !e;) {
        size_t len = utf8_len(p + i, n - i);
        if (!len) {
            e = ks_buf_add(&b, "\xEF\xBF\xBD", 3);
            i++;
        } else if ((len == 1 && (p[i] < 0x20 || p[i] == 0x7F)) ||
                   (len == 2 && p[i] == 0xC2 && p[i + 1] < 0xA0)) {
            e = ks_buf_add(&b, " ", 1);
            i += len;
        } else {
            e = ks_buf_add(&b, p + i, len);
            i += len;
        }
    }
    char *out = ks_xmemdup(b.data, b.len);
    ks_buf_release(&b);
    return out;
}

char *mailsink_decode_header(const char *v, size_t n)
{
    /* unfolding: a field's CR and LF only ever precede folding white space */
    char *flat = ks_xmalloc(n + 1);
    size_t fl = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] != '\r' && v[i] != '\n')
            flat[fl++] = v[i];
    size_t a = 0;
    while (a < fl && (flat[a] == ' ' || flat[a] == '\t'))
        a++;
    while (fl > a && (flat[fl - 1] == ' ' || flat[fl - 1] == '\t'))
        fl--;

    struct ks_buf b;
    ks_buf_init(&b, SIZE_MAX / 4);
    bool after_word = false;
    size_t i = a;
    while (i < fl) {
        size_t used = 0;
        if (flat[i] == '=' && (used = encoded_word(flat + i, fl - i, &b))) {
            i += used;
            after_word = true;
            continue;
        }
        if (flat[i] == ' ' || flat[i] == '\t') {
            size_t j = i;
            while (j < fl && (flat[j] == ' ' || flat[j] == '\t'))
                j++;
            /* white space between two encoded words is not part of the text
             * (RFC 2047 §6.2): peek by decoding into a scratch buffer */
            if (after_word && j < fl && flat[j] == '=') {
                struct ks_buf peek;
                ks_buf_init(&peek, SIZE_MAX / 4);
                bool word = encoded_word(flat + j, fl - j, &peek) > 0;
                ks_buf_release(&peek);
                if (word) {
                    i = j;
                    continue;
                }
            }
            if (ks_buf_add(&b, flat + i, j - i))
                break;
            i = j;
            after_word = false;
            continue;
        }
        if (ks_buf_add(&b, flat + i, 1))
            break;
        i++;
        after_word = false;
    }
    free(flat);
    char *out = sanitize(b.data, b.len);
    ks_buf_release(&b);
    return out;
}

/* The header block is raw[0..*hlen); the body starts at *body. */
static void split_header(const char *raw, size_t n, size_t *hlen, size_t *body)
{
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(raw + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - raw) + 1 : n;
        size_t content = end - i - (nl ? 1 : 0);
        if (content && raw[i + content - 1] == '\r')
            content--;
        if (content == 0 && nl) {
            *hlen = i;
            *body = end;
            return;
        }
        i = end;
    }
    *hlen = n;
    *body = n;
}

/* Finds the first field called name in the header block; its value (after
 * the colon, continuation lines included) is h[*vs..*ve). */
static bool find_field(const char *h, size_t n, const char *name, size_t *vs, size_t *ve)
{
    size_t nlen = strlen(name);
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(h + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - h) + 1 : n;
        size_t k = i + nlen;
        if (k < n && !strncasecmp(h + i, name, nlen)) {
            while (k < end && (h[k] == ' ' || h[k] == '\t'))
                k++; /* RFC 822's obsolete "Subject :" */
            if (k < end && h[k] == ':') {
                size_t e = end;
                while (e < n && (h[e] == ' ' || h[e] == '\t')) {
                    const char *nl2 = memchr(h + e, '\n', n - e);
                    e = nl2 ? (size_t)(nl2 - h) + 1 : n;
                }
                *vs = k + 1;
                *ve = e;
                return true;
            }
        }
        i = end;
    }
    return false;
}

void mailsink_parse(struct mailsink_message *m)
{
    free(m->subject);
    free(m->body);
    m->subject = NULL;
    size_t hlen, body;
    split_header(m->raw, m->raw_len, &hlen, &body);
    size_t vs, ve;
    if (find_field(m->raw, hlen, "Subject", &vs, &ve))
        m->subject = mailsink_decode_header(m->raw + vs, ve - vs > FIELD_MAX ? FIELD_MAX : ve - vs);

    enum { PLAIN, QP, B64 } cte = PLAIN;
    if (find_field(m->raw, hlen, "Content-Transfer-Encoding", &vs, &ve)) {
        char *v = mailsink_decode_header(m->raw + vs, ve - vs > 256 ? 256 : ve - vs);
        size_t len = strcspn(v, " \t;(");
        if (len == 16 && !strncasecmp(v, "quoted-printable", 16))
            cte = QP;
        else if (len == 6 && !strncasecmp(v, "base64", 6))
            cte = B64;
        free(v);
    }
    const char *p = m->raw + body;
    size_t n = m->raw_len - body;
    m->body = ks_xmalloc(n + 1);
    if (cte == QP)
        m->body_len = qp_decode(p, n, m->body, false);
    else if (cte == B64)
        m->body_len = b64_decode(p, n, m->body);
    else {
        memcpy(m->body, p, n);
        m->body_len = n;
    }
    m->body[m->body_len] = '\0';
}
