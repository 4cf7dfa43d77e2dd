/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Text the alarm module writes the way AWS writes it: Java-style doubles,
 * CloudWatch's three timestamp shapes, JSON strings, ARNs; plus the small
 * checks (JSON syntax, UTF-8 cut points) that keep those texts well formed.
 */
#include <math.h>
#include <time.h>

#include "alarm/alarm_int.h"

void aw_mem(struct alarm_w *w, const char *s, size_t n)
{
    if (!w->err)
        w->err = ks_buf_add(w->b, s, n);
}

void aw_raw(struct alarm_w *w, const char *s)
{
    aw_mem(w, s, strlen(s));
}

void aw_fmt(struct alarm_w *w, const char *fmt, ...)
{
    if (w->err)
        return;
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    /* Only short, bounded pieces go through here (numbers, names <= 255). */
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        w->err = KS_E_TOOBIG;
        return;
    }
    aw_mem(w, tmp, (size_t)n);
}

void aw_jstr(struct alarm_w *w, const char *s)
{
    if (!s) {
        aw_raw(w, "null");
        return;
    }
    aw_mem(w, "\"", 1);
    if (!w->err)
        w->err = ks_buf_add_json_str(w->b, s, strlen(s));
    aw_mem(w, "\"", 1);
}

void aw_jnum(struct alarm_w *w, double v)
{
    /* JSON has no NaN or Infinity; CloudWatch never stores them, so a
     * non-finite value can only come from a caller's statistic. */
    if (!isfinite(v)) {
        aw_raw(w, "null");
        return;
    }
    char tmp[ALARM_FMT_DOUBLE_SIZE];
    aw_mem(w, tmp, alarm_fmt_double(tmp, v));
}

void aw_jtime(struct alarm_w *w, int64_t ms)
{
    char tmp[ALARM_FMT_TIME_SIZE];
    size_t n = alarm_fmt_time(tmp, ms);
    aw_mem(w, "\"", 1);
    aw_mem(w, tmp, n);
    aw_mem(w, "\"", 1);
}

void aw_jstrv(struct alarm_w *w, const char *const *v, size_t n)
{
    aw_mem(w, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            aw_mem(w, ",", 1);
        aw_jstr(w, v[i]);
    }
    aw_mem(w, "]", 1);
}

/*
 * Java's Double.toString, which CloudWatch uses for every number it prints
 * (spec §6.1): the shortest digit string that reads back as the same double,
 * at least one digit after the point, scientific form "d.dddE<n>" outside
 * [1e-3, 1e7). We find the shortest digits by trying precisions until
 * strtod round-trips, then lay the digits out ourselves, so the locale's
 * decimal point never reaches the output.
 */
size_t alarm_fmt_double(char out[ALARM_FMT_DOUBLE_SIZE], double v)
{
    if (isnan(v))
        return (size_t)snprintf(out, ALARM_FMT_DOUBLE_SIZE, "NaN");
    if (isinf(v))
        return (size_t)snprintf(out, ALARM_FMT_DOUBLE_SIZE, "%s", v < 0 ? "-Infinity" : "Infinity");
    if (v == 0)
        return (size_t)snprintf(out, ALARM_FMT_DOUBLE_SIZE, "%s", signbit(v) ? "-0.0" : "0.0");

    char sci[48];
    for (int prec = 0; prec <= 17; prec++) {
        snprintf(sci, sizeof(sci), "%.*e", prec, v);
        if (strtod(sci, NULL) == v)
            break;
    }
    char digits[24] = {0};
    size_t nd = 0;
    bool neg = false;
    const char *p = sci;
    if (*p == '-') {
        neg = true;
        p++;
    }
    for (; *p && *p != 'e' && *p != 'E'; p++)
        if (*p >= '0' && *p <= '9' && nd < sizeof(digits) - 1)
            digits[nd++] = *p;
    int exp = 0, esign = 1;
    if (*p) {
        p++;
        if (*p == '-' || *p == '+')
            esign = *p++ == '-' ? -1 : 1;
        for (; *p >= '0' && *p <= '9'; p++)
            exp = exp * 10 + (*p - '0');
    }
    exp *= esign;
    if (nd == 0)
        digits[nd++] = '0';
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    if (nd == 1 && (exp < -3 || exp >= 7)) {
        /* Scientific form always shows a fraction digit; Java then picks the
         * two-digit decimal closest to the exact value ("4.9E-324" for the
         * smallest denormal, not "5.0E-324") when that still reads back. */
        char two[48];
        snprintf(two, sizeof(two), "%.1e", v);
        const char *q = two + (two[0] == '-');
        if (strtod(two, NULL) == v && q[0] >= '0' && q[0] <= '9' && q[2] >= '0' && q[2] <= '9' &&
            q[2] != '0') {
            digits[0] = q[0];
            digits[1] = q[2];
            nd = 2;
            /* Rounding can carry into the exponent (9.96 -> 1.0e+01). */
            const char *e = strchr(q, 'e');
            if (e) {
                int x = 0, sg = e[1] == '-' ? -1 : 1;
                for (const char *c = e + 2; *c >= '0' && *c <= '9'; c++)
                    x = x * 10 + (*c - '0');
                exp = x * sg;
            }
        }
    }

    char *o = out;
    char *end = out + ALARM_FMT_DOUBLE_SIZE - 1;
#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (o < end)                                                                               \
            *o++ = (c);                                                                            \
    } while (0)
    if (neg)
        PUT('-');
    if (exp >= -3 && exp < 7) {
        if (exp < 0) {
            PUT('0');
            PUT('.');
            for (int i = -1; i > exp; i--)
                PUT('0');
            for (size_t i = 0; i < nd; i++)
                PUT(digits[i]);
        } else {
            size_t int_digits = (size_t)exp + 1;
            for (size_t i = 0; i < int_digits; i++)
                PUT(i < nd ? digits[i] : '0');
            PUT('.');
            if (nd > int_digits)
                for (size_t i = int_digits; i < nd; i++)
                    PUT(digits[i]);
            else
                PUT('0');
        }
    } else {
        PUT(digits[0]);
        PUT('.');
        if (nd > 1)
            for (size_t i = 1; i < nd; i++)
                PUT(digits[i]);
        else
            PUT('0');
        PUT('E');
        char e[16];
        int en = snprintf(e, sizeof(e), "%d", exp);
        for (int i = 0; i < en; i++)
            PUT(e[i]);
    }
#undef PUT
    *o = '\0';
    return (size_t)(o - out);
}

int64_t alarm_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

void alarm_civil(int64_t ms, struct alarm_tm *tm)
{
    int64_t secs = alarm_floor_div(ms, 1000);
    time_t t = (time_t)secs;
    struct tm g;
    memset(&g, 0, sizeof(g));
    gmtime_r(&t, &g);
    tm->year = g.tm_year + 1900;
    tm->month = g.tm_mon + 1;
    tm->day = g.tm_mday;
    tm->hour = g.tm_hour;
    tm->min = g.tm_min;
    tm->sec = g.tm_sec;
    tm->ms = (int)(ms - secs * 1000);
    tm->wday = g.tm_wday;
}

size_t alarm_fmt_time(char out[ALARM_FMT_TIME_SIZE], int64_t ms)
{
    struct alarm_tm t;
    alarm_civil(ms, &t);
    int n = snprintf(out, ALARM_FMT_TIME_SIZE, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+0000", t.year,
                     t.month, t.day, t.hour, t.min, t.sec, t.ms);
    return n < 0 ? 0 : (size_t)n;
}

void alarm_fmt_short_time(char out[ALARM_FMT_TIME_SIZE], int64_t ms)
{
    struct alarm_tm t;
    alarm_civil(ms, &t);
    snprintf(out, ALARM_FMT_TIME_SIZE, "%02d/%02d/%02d %02d:%02d:%02d", t.day, t.month,
             ((t.year % 100) + 100) % 100, t.hour, t.min, t.sec);
}

void alarm_fmt_long_time(char out[64], int64_t ms)
{
    static const char *const wdays[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday"};
    static const char *const months[] = {"January",   "February", "March",    "April",
                                         "May",       "June",     "July",     "August",
                                         "September", "October",  "November", "December"};
    struct alarm_tm t;
    alarm_civil(ms, &t);
    snprintf(out, 64, "%s %02d %s, %04d %02d:%02d:%02d UTC", wdays[t.wday], t.day,
             months[t.month - 1], t.year, t.hour, t.min, t.sec);
}

/* ---- JSON syntax check -------------------------------------------------------- */

#define JSON_MAX_DEPTH 64

struct jcur {
    const char *p;
    const char *end;
};

static void j_ws(struct jcur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool j_lit(struct jcur *c, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return false;
    c->p += n;
    return true;
}

static bool j_digits(struct jcur *c)
{
    const char *s = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        c->p++;
    return c->p > s;
}

static bool j_number(struct jcur *c)
{
    if (c->p < c->end && *c->p == '-')
        c->p++;
    if (c->p < c->end && *c->p == '0')
        c->p++;
    else if (!j_digits(c))
        return false;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (!j_digits(c))
            return false;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (!j_digits(c))
            return false;
    }
    return true;
}

static bool j_string(struct jcur *c)
{
    c->p++; /* opening quote */
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p++;
        if (ch == '"')
            return true;
        if (ch < 0x20)
            return false;
        if (ch == '\\') {
            if (c->p >= c->end)
                return false;
            char e = *c->p++;
            if (e == 'u') {
                for (int i = 0; i < 4; i++, c->p++) {
                    if (c->p >= c->end)
                        return false;
                    char h = *c->p;
                    if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') ||
                          (h >= 'A' && h <= 'F')))
                        return false;
                }
            } else if (!strchr("\"\\/bfnrt", e) || e == '\0') {
                return false;
            }
        }
    }
    return false;
}

static bool j_value(struct jcur *c, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return false;
    j_ws(c);
    if (c->p >= c->end)
        return false;
    char ch = *c->p;
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        c->p++;
        j_ws(c);
        if (c->p < c->end && *c->p == close) {
            c->p++;
            return true;
        }
        for (;;) {
            if (ch == '{') {
                j_ws(c);
                if (c->p >= c->end || *c->p != '"' || !j_string(c))
                    return false;
                j_ws(c);
                if (c->p >= c->end || *c->p++ != ':')
                    return false;
            }
            if (!j_value(c, depth + 1))
                return false;
            j_ws(c);
            if (c->p >= c->end)
                return false;
            if (*c->p == ',') {
                c->p++;
                continue;
            }
            if (*c->p == close) {
                c->p++;
                return true;
            }
            return false;
        }
    }
    if (ch == '"')
        return j_string(c);
    if (ch == 't')
        return j_lit(c, "true");
    if (ch == 'f')
        return j_lit(c, "false");
    if (ch == 'n')
        return j_lit(c, "null");
    return j_number(c);
}

bool alarm_json_valid(const char *s, size_t n)
{
    size_t bad;
    if (!ks_text_clean(s, n, &bad))
        return false;
    struct jcur c = {s, s + n};
    if (!j_value(&c, 0))
        return false;
    j_ws(&c);
    return c.p == c.end;
}

size_t alarm_utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    /* Step back over continuation bytes so no character is split. */
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* ---- ARNs ---------------------------------------------------------------------- */

const char *alarm_region_or_default(const char *region)
{
    return region && *region ? region : ALARM_DEFAULT_REGION;
}

const char *alarm_account_or_default(const char *account)
{
    return account && *account ? account : ALARM_DEFAULT_ACCOUNT;
}

char *alarm_arn_build(const char *region, const char *account, const char *name)
{
    struct ks_buf b;
    ks_buf_init(&b, ALARM_TEXT_CAP);
    struct alarm_w w = {&b, KS_OK};
    aw_raw(&w, "arn:aws:cloudwatch:");
    aw_raw(&w, alarm_region_or_default(region));
    aw_raw(&w, ":");
    aw_raw(&w, alarm_account_or_default(account));
    aw_raw(&w, ":alarm:");
    aw_raw(&w, name);
    /* Inputs are validated to a few KiB, far below the cap. */
    char *s = ks_xmemdup(b.data, b.len);
    ks_buf_release(&b);
    return s;
}

/* Splits the next ':'-separated field of [*p, end) into [*f, *flen). */
static bool arn_field(const char **p, const char *end, const char **f, size_t *flen)
{
    const char *c = memchr(*p, ':', (size_t)(end - *p));
    if (!c)
        return false;
    *f = *p;
    *flen = (size_t)(c - *p);
    *p = c + 1;
    return true;
}

static bool field_is(const char *f, size_t n, const char *want)
{
    return strlen(want) == n && memcmp(f, want, n) == 0;
}

int alarm_arn_name(const char *ref, size_t len, const char *region, const char *account,
                   const char **name, size_t *name_len)
{
    if (len < 4 || memcmp(ref, "arn:", 4) != 0)
        return 0;
    const char *p = ref + 4, *end = ref + len;
    const char *partition, *service, *reg, *acct, *kind;
    size_t np, ns, nr, na, nk;
    if (!arn_field(&p, end, &partition, &np) || !arn_field(&p, end, &service, &ns) ||
        !arn_field(&p, end, &reg, &nr) || !arn_field(&p, end, &acct, &na) ||
        !arn_field(&p, end, &kind, &nk))
        return -1;
    /* The name is the rest, colons and spaces included (spec §1). */
    if (np == 0 || !field_is(service, ns, "cloudwatch") || !field_is(kind, nk, "alarm") || p >= end)
        return -1;
    if (!field_is(reg, nr, alarm_region_or_default(region)) ||
        !field_is(acct, na, alarm_account_or_default(account)))
        return -1;
    *name = p;
    *name_len = (size_t)(end - p);
    return 1;
}
