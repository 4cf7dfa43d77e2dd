/* SPDX-License-Identifier: Apache-2.0 */
/* respond: small shared helpers (names, UUIDs, times, URL encoding, secrets). */
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

static bool digits(const char *s, size_t n, int *v)
{
    int x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return true;
}

static int64_t days_from_civil(int y, int m, int d)
{
    /* Howard Hinnant's days_from_civil, proleptic Gregorian. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool respond_parse_time(const char *s, int64_t *ms)
{
    /* 2024-03-05T20:31:04.488+0000 (alarm messages) or 2024-03-05T20:31:04Z */
    if (!s)
        return false;
    size_t n = strlen(s);
    int y, mo, d, h, mi, se, frac = 0;
    if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return false;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
        return false;
    size_t i = 19;
    if (s[i] == '.') {
        size_t start = ++i, nd = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        nd = i - start;
        if (nd == 0)
            return false;
        int f = 0;
        if (!digits(s + start, nd > 3 ? 3 : nd, &f))
            return false;
        for (size_t k = nd; k < 3; k++)
            f *= 10;
        frac = f;
    }
    if (!(strcmp(s + i, "Z") == 0 || strcmp(s + i, "+0000") == 0 || strcmp(s + i, "+00:00") == 0))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return false;
    *ms = ((days_from_civil(y, mo, d) * 86400) + h * 3600 + mi * 60 + se) * 1000 + frac;
    return true;
}

enum ks_err respond_form_encode(const char *s, struct ks_buf *out)
{
    return sigv4_uri_encode(s, strlen(s), false, out);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool respond_url_decode(const char *s, size_t n, struct ks_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return false;
            int a = hexval(s[i + 1]), b = hexval(s[i + 2]);
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
