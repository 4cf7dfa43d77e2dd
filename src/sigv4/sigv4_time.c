/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigv4 time: the two timestamp forms a request may carry (X-Amz-Date's
 * basic ISO 8601 and the Date header's IMF-fixdate), converted without the
 * C library's time zone state (gmtime/timegm). Supported years: 1970..9999.
 */
#include "sigv4/sigv4_int.h"

#define SIGV4_MAX_TIME 253402300799LL /* 9999-12-31T23:59:59Z */

static const int cum_days[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return d[m - 1] + (m == 2 && is_leap(y));
}

/* Leap years in [1, y]. */
static int64_t leaps(int64_t y)
{
    return y / 4 - y / 100 + y / 400;
}

static bool civil_to_epoch(int64_t y, int mo, int d, int h, int mi, int s, int64_t *t)
{
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 ||
        mi > 59 || s > 59)
        return false;
    int64_t days = 365 * (y - 1970) + leaps(y - 1) - leaps(1969) + cum_days[mo - 1] +
                   (mo > 2 && is_leap(y)) + d - 1;
    *t = days * 86400 + h * 3600 + mi * 60 + s;
    return true;
}

/* n decimal digits at p, or -1. */
static int64_t digits(const char *p, size_t n)
{
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

bool sigv4_parse_amz_date(const char *s, size_t len, int64_t *t)
{
    if (len != 16 || s[8] != 'T' || s[15] != 'Z')
        return false;
    int64_t y = digits(s, 4), mo = digits(s + 4, 2), d = digits(s + 6, 2);
    int64_t h = digits(s + 9, 2), mi = digits(s + 11, 2), sec = digits(s + 13, 2);
    if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || sec < 0)
        return false;
    return civil_to_epoch(y, (int)mo, (int)d, (int)h, (int)mi, (int)sec, t);
}

bool sigv4_format_amz_date(int64_t t, char out[17])
{
    if (t < 0 || t > SIGV4_MAX_TIME)
        return false;
    int64_t days = t / 86400, secs = t % 86400;
    int64_t y = 1970;
    /* Every 400-year span holds 146097 days. */
    y += 400 * (days / 146097);
    days %= 146097;
    while (days >= 365 + is_leap(y)) {
        days -= 365 + is_leap(y);
        y++;
    }
    int m = 1;
    while (days >= month_days(y, m)) {
        days -= month_days(y, m);
        m++;
    }
    int n = snprintf(out, 17, "%04d%02d%02dT%02d%02d%02dZ", (int)y, m, (int)days + 1,
                     (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
    return n == 16;
}

bool sigv4_parse_http_date(const char *s, size_t len, int64_t *t)
{
    static const char wdays[] = "MonTueWedThuFriSatSun";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    /* "Sun, 06 Nov 1994 08:49:37 GMT"; botocore writes the zone as "-0000"
     * (RFC 2822, Python's formatdate), so UTC's other spellings pass too. */
    if (len < 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
        s[19] != ':' || s[22] != ':' || s[25] != ' ')
        return false;
    const char *zone = s + 26;
    size_t zlen = len - 26;
    if (!((zlen == 3 && (memcmp(zone, "GMT", 3) == 0 || memcmp(zone, "UTC", 3) == 0)) ||
          (zlen == 5 && (memcmp(zone, "+0000", 5) == 0 || memcmp(zone, "-0000", 5) == 0))))
        return false;
    bool wday_ok = false;
    for (size_t i = 0; i < 7; i++)
        wday_ok |= memcmp(s, wdays + 3 * i, 3) == 0;
    int mo = 0;
    for (int i = 0; i < 12; i++) {
        if (memcmp(s + 8, months + 3 * i, 3) == 0)
            mo = i + 1;
    }
    int64_t d = digits(s + 5, 2), y = digits(s + 12, 4);
    int64_t h = digits(s + 17, 2), mi = digits(s + 20, 2), sec = digits(s + 23, 2);
    if (!wday_ok || !mo || d < 0 || y < 0 || h < 0 || mi < 0 || sec < 0)
        return false;
    return civil_to_epoch(y, mo, (int)d, (int)h, (int)mi, (int)sec, t);
}
