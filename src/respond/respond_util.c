/* SPDX-License-Identifier: Apache-2.0 */
/* respond: small shared helpers (names, UUIDs, times, URL encoding, secrets). */
#include "event/event.h"
#include "respond/respond_int.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

static const char *const kind_types[] = {
#define RESPOND_KIND_TYPE(e, type, op) type,
    RESPOND_KIND_LIST(RESPOND_KIND_TYPE)
#undef RESPOND_KIND_TYPE
};

static const char *const kind_ops[] = {
#define RESPOND_KIND_OP(e, type, op) op,
    RESPOND_KIND_LIST(RESPOND_KIND_OP)
#undef RESPOND_KIND_OP
};

const char *respond_kind_type(enum respond_kind k)
{
    return (size_t)k < KS_ARRAY_LEN(kind_types) ? kind_types[k] : "?";
}

const char *respond_kind_op(enum respond_kind k)
{
    return (size_t)k < KS_ARRAY_LEN(kind_ops) ? kind_ops[k] : "?";
}

bool respond_is_response_type(const char *type)
{
    return type && strncmp(type, "Keysentry::Response::", 21) == 0;
}

void respond_uuid4(char out[37])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1) {
        /* The OpenSSL RNG does not fail once seeded; a predictable id is
         * harmless here (ids are for correlation, not security). */
        memset(b, 0, sizeof(b));
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

void respond_iso8601(int64_t ms, char out[21])
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 21, "1970-01-01T00:00:00Z");
}

bool respond_parse_time(const char *s, int64_t *ms)
{
    /* 2024-03-05T20:31:04.488+0000 (alarm messages) or 2024-03-05T20:31:04Z */
    return s && event_parse_time(s, strlen(s), ms);
}

enum ks_err respond_form_encode(const char *s, struct ks_buf *out)
{
    return sigv4_uri_encode(s, strlen(s), false, out);
}

bool respond_url_decode(const char *s, size_t n, struct ks_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return false;
            int a = ks_hexval(s[i + 1]), b = ks_hexval(s[i + 2]);
            if (a < 0 || b < 0)
                return false;
            c = (char)(a * 16 + b);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (ks_buf_add(out, &c, 1))
            return false;
    }
    return true;
}

void respond_secret_free(char *s)
{
    if (!s)
        return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}
