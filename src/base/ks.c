/* SPDX-License-Identifier: Apache-2.0 */
#include "base/ks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ks_strerror(enum ks_err err)
{
    switch (err) {
    case KS_OK:
        return "success";
    case KS_E_NOMEM:
        return "out of memory";
    case KS_E_IO:
        return "input/output error";
    case KS_E_SYNTAX:
        return "syntax error";
    case KS_E_LIMIT:
        return "limit exceeded";
    case KS_E_TOOBIG:
        return "too big";
    case KS_E_INVALID:
        return "invalid";
    case KS_E_NOTFOUND:
        return "not found";
    case KS_E_FORMAT:
        return "damaged format";
    }
    return "unknown error";
}

void ks_diag_clear(struct ks_diag *d)
{
    d->err = KS_OK;
    d->offset = SIZE_MAX;
    d->msg[0] = '\0';
}

enum ks_err ks_diag_set(struct ks_diag *d, enum ks_err err, size_t offset, const char *fmt, ...)
{
    if (!d)
        return err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
    va_end(ap);
    d->err = err;
    d->offset = offset;
    return err;
}

void ks_diag_render(const struct ks_diag *d, const char *prefix, const char *text, size_t len,
                    char *out, size_t out_size)
{
    if (d->offset == SIZE_MAX || !text) {
        snprintf(out, out_size, "%s: %s", prefix, d->msg);
        return;
    }
    size_t off = d->offset > len ? len : d->offset;
    size_t line = 1, line_start = 0;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            line++;
            line_start = i + 1;
        }
    }
    size_t line_end = line_start;
    while (line_end < len && text[line_end] != '\n')
        line_end++;
    size_t col = off - line_start + 1;
    /* Long lines are shown as a window around the caret. */
    size_t win_start = line_start, win_end = line_end;
    if (col > 60)
        win_start = off - 40;
    if (win_end - win_start > 100)
        win_end = win_start + 100;
    int n = snprintf(out, out_size, "%s: %s at %zu:%zu\n  %s%.*s%s\n  %*s^", prefix, d->msg, line,
                     col, win_start > line_start ? "..." : "", (int)(win_end - win_start),
                     text + win_start, win_end < line_end ? "..." : "",
                     (int)(off - win_start + (win_start > line_start ? 3 : 0)), "");
    (void)n;
}

static void ks_oom(size_t size)
{
    fprintf(stderr, "fatal: out of memory allocating %zu bytes\n", size);
    abort();
}

void *ks_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        ks_oom(size);
    return p;
}

void *ks_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        ks_oom(n * size);
    return p;
}

void *ks_xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q)
        ks_oom(size);
    return q;
}

char *ks_xstrdup(const char *s)
{
    return ks_xmemdup(s, strlen(s));
}

char *ks_xmemdup(const void *p, size_t len)
{
    char *q = ks_xmalloc(len + 1);
    if (len)
        memcpy(q, p, len);
    q[len] = '\0';
    return q;
}

static char ks_buf_empty[1];

void ks_buf_init(struct ks_buf *b, size_t max)
{
    b->data = ks_buf_empty;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void ks_buf_release(struct ks_buf *b)
{
    if (b->cap)
        free(b->data);
    ks_buf_init(b, b->max);
}

void ks_buf_reset(struct ks_buf *b)
{
    b->len = 0;
    if (b->cap) /* never write the shared empty buffer: threads share it */
        b->data[0] = '\0';
}

enum ks_err ks_buf_grow(struct ks_buf *b, size_t extra)
{
    if (extra > b->max - b->len)
        return KS_E_TOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return KS_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (b->cap) {
        b->data = ks_xrealloc(b->data, cap);
    } else {
        b->data = ks_xmalloc(cap);
        b->data[0] = '\0';
    }
    b->cap = cap;
    return KS_OK;
}

enum ks_err ks_buf_add(struct ks_buf *b, const void *p, size_t n)
{
    enum ks_err e = ks_buf_grow(b, n);
    if (e)
        return e;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return KS_OK;
}

enum ks_err ks_buf_addf(struct ks_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return KS_E_INVALID;
    if ((size_t)n < sizeof(tmp))
        return ks_buf_add(b, tmp, (size_t)n);
    enum ks_err e = ks_buf_grow(b, (size_t)n);
    if (e)
        return e;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return KS_OK;
}

enum ks_err ks_buf_add_json_str(struct ks_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        enum ks_err e = ks_buf_add(b, s + run, i - run);
        if (e)
            return e;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        if ((e = ks_buf_add(b, esc, elen)))
            return e;
        run = i + 1;
    }
    return ks_buf_add(b, s + run, n - run);
}

const char *const ks_cw_units[] = {
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
};
const size_t ks_cw_units_count = sizeof(ks_cw_units) / sizeof(ks_cw_units[0]);

bool ks_cw_unit_valid(const char *unit)
{
    for (size_t i = 0; unit && i < ks_cw_units_count; i++)
        if (!strcmp(unit, ks_cw_units[i]))
            return true;
    return false;
}
